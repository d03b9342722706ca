/*
 * main.c: exfeedd's command line.  The same binary is the supervisor and,
 * re-executed with the internal -P ROLE -I N, every worker.
 */
#include "autoconf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "exfeedd.h"
#include "log.h"

#ifndef EXFEEDD_CONFIG_FILE
#define EXFEEDD_CONFIG_FILE "/etc/exfeedd/exfeedd.conf"
#endif

/* The usage text: on stdout with status 0 when asked for (-h, --help), else stderr, 64. */
static void __attribute__((noreturn))
usage_to(FILE *f, int status)
{
	fprintf(f, "usage: exfeedd [-fhnvV] [-c file]\n"
	    "  -c file  configuration file (default " EXFEEDD_CONFIG_FILE ")\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -h       print this help and exit\n"
	    "  -n       check the configuration and exit (0 valid, 78 invalid)\n"
	    "  -v       more verbose (debug logging); with -n print the effective configuration\n"
	    "  -V       print the version and exit\n");
	exit(status);
}

static void __attribute__((noreturn))
usage(void)
{
	usage_to(stderr, 64);
}

int
main(int argc, char *argv[])
{
	const char *config_path = EXFEEDD_CONFIG_FILE, *role_arg = NULL;
	static char abs_path[4096];
	struct config_errors errs;
	struct config cfg;
	int ch, foreground = 0, check = 0, verbose = 0, instance = -1;
	enum role role;

	log_init("exfeedd");
	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		usage_to(stdout, 0);
	while ((ch = getopt(argc, argv, "c:fhnvVP:I:")) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'h':
			usage_to(stdout, 0);
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("exfeedd %s\n", PACKAGE_VERSION);
			return 0;
		case 'P':
			role_arg = optarg;
			break;
		case 'I':
			instance = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	proctitle_init(argc, argv);

	if (role_arg != NULL) {
		if (role_parse(role_arg, &role) == -1 || instance < 0) {
			fprintf(stderr, "exfeedd: -P ROLE -I N are internal (roles: account, market, "
			    "writer, gateway, broker)\n");
			return 64;
		}
		return worker_main(role, instance, foreground, verbose);
	}

	/*
	 * Nothing the starting shell left open (exec 7</etc/shadow; exfeedd)
	 * goes on into the supervisor after it drops root.  The workers get
	 * their descriptors from the supervisor, so only this path closes.
	 */
	if (close_range(3, ~0U, 0) == -1)
		for (int fd = 3; fd < 1024; fd++)
			(void)close(fd);
	if (config_load(config_path, &cfg, &errs) == -1) {
		config_errors_print(&errs, stderr);
		config_errors_free(&errs);
		return EX_CONFIG_STATUS;
	}
	if (check) {
		if (verbose)
			config_dump(&cfg, stdout);
		else
			fprintf(stderr, "%s: configuration OK\n", config_path);
		config_free(&cfg);
		return 0;
	}
	/* The daemon chdirs to /: reloads need the absolute path. */
	if (realpath(config_path, abs_path) != NULL)
		config_path = abs_path;
	return supervisor_main(config_path, &cfg, foreground, verbose);
}
