/*
 * exfeedctl.c: the operator's command line for a running exfeedd.  It talks
 * to the control socket with the same framed msgpack as the daemon's own
 * processes, and prints tables for people or JSON (--json) for programs.
 */
#include "autoconf.h"

#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "mpack.h"

#ifndef EXFEEDD_CONFIG_FILE
#define EXFEEDD_CONFIG_FILE "/etc/exfeedd/exfeedd.conf"
#endif

#define EX_USAGE_STATUS		64
#define EX_UNAVAILABLE_STATUS	69

static void
usage(void)
{
	fprintf(stderr, "usage: exfeedctl [-c file] [-s socket] [--json] command\n"
	    "commands:\n"
	    "  status   the supervisor and every worker: pid, state, restarts, uptime, last exit\n"
	    "  reload   re-read the configuration and reconcile (as kill -HUP)\n"
	    "  stop     stop the daemon in order and wait until it has exited (as kill -TERM)\n");
	exit(EX_USAGE_STATUS);
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (ipc_unix_addr(path, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void
fmt_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, len, "%" PRId64 ".%01" PRId64 "s", s, (ms % 1000) / 100);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
	else
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
}

static void
print_status(const msgpack_object *r)
{
	const msgpack_object *workers = mp_get(r, "workers");
	char state[32], cfgfile[4096], up[32];
	int64_t pid = 0, uptime = 0;

	mp_get_i64(r, "pid", &pid);
	mp_get_i64(r, "uptime_ms", &uptime);
	if (mp_get_str(r, "state", state, sizeof(state)) == -1)
		snprintf(state, sizeof(state), "?");
	if (mp_get_str(r, "config", cfgfile, sizeof(cfgfile)) == -1)
		cfgfile[0] = '\0';
	fmt_duration(uptime, up, sizeof(up));
	printf("exfeedd pid %" PRId64 ", %s, up %s, config %s\n\n", pid, state, up, cfgfile);
	printf("%-8s %4s %8s %-9s %8s %9s  %s\n", "ROLE", "INST", "PID", "STATE", "RESTARTS",
	    "UPTIME", "LAST EXIT");
	if (workers == NULL || workers->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (uint32_t i = 0; i < workers->via.array.size; i++) {
		const msgpack_object *w = &workers->via.array.ptr[i];
		char role[32], wstate[32], last[128], reason[512];
		int64_t inst = 0, wpid = 0, restarts = 0, wup = 0, next = 0;

		mp_get_str(w, "role", role, sizeof(role));
		mp_get_i64(w, "instance", &inst);
		mp_get_i64(w, "pid", &wpid);
		mp_get_str(w, "state", wstate, sizeof(wstate));
		mp_get_i64(w, "restarts", &restarts);
		mp_get_i64(w, "uptime_ms", &wup);
		mp_get_i64(w, "next_restart_ms", &next);
		if (mp_get_str(w, "last_exit", last, sizeof(last)) == -1)
			snprintf(last, sizeof(last), "-");
		if (mp_get_str(w, "reason", reason, sizeof(reason)) == -1)
			reason[0] = '\0';
		if (wpid > 0)
			fmt_duration(wup, up, sizeof(up));
		else
			snprintf(up, sizeof(up), "-");
		printf("%-8s %4" PRId64 " %8s %-9s %8" PRId64 " %9s  %s\n", role, inst,
		    wpid > 0 ? (snprintf(cfgfile, sizeof(cfgfile), "%" PRId64, wpid), cfgfile) : "-",
		    wstate, restarts, up, last);
		if (strcmp(wstate, "backoff") == 0)
			printf("%-8s %4s %8s   restarting in %" PRId64 " ms\n", "", "", "", next);
		if (reason[0])
			printf("%-8s %4s %8s   why: %s\n", "", "", "", reason);
	}
}

/* Alive and not a zombie (a foreground daemon's parent may not have reaped it yet). */
static int
process_alive(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *fp;
	int alive = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), fp) != NULL && (p = strrchr(buf, ')')) != NULL)
		alive = p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	fclose(fp);
	return alive;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config_path = EXFEEDD_CONFIG_FILE, *sock = NULL, *cmd, *err = NULL;
	static char sockbuf[4096];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked unp;
	struct ipc_hdr h;
	unsigned char *buf;
	int ch, json = 0, fd, ok = 0, rc;

	log_init("exfeedctl");
	while ((ch = getopt_long(argc, argv, "c:s:jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	cmd = argv[optind];
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "reload") != 0 && strcmp(cmd, "stop") != 0) {
		fprintf(stderr, "exfeedctl: unknown command \"%s\"\n", cmd);
		usage();
	}
	if (sock == NULL) {
		/* Only this one key: the file may be broken, and reload is how it gets fixed. */
		if (access(config_path, R_OK) == -1) {
			fprintf(stderr, "%s:0: cannot read the configuration file: %s (or give -s SOCKET)\n",
			    config_path, strerror(errno));
			return EX_CONFIG_STATUS;
		}
		if (config_peek(config_path, "daemon", "control_socket", sockbuf, sizeof(sockbuf)) == -1)
			snprintf(sockbuf, sizeof(sockbuf), "%s", config_default("daemon", "control_socket"));
		sock = sockbuf;
	}
	if ((fd = ctl_connect(sock)) == -1) {
		fprintf(stderr, "exfeedctl: cannot connect to %s: %s (is exfeedd running?)\n", sock,
		    strerror(errno));
		return EX_UNAVAILABLE_STATUS;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_kv_str(&pk, "cmd", cmd);
	if (ipc_write_frame(fd, IPC_CTL_REQUEST, 1, sb.data, sb.size) == -1) {
		fprintf(stderr, "exfeedctl: cannot send to %s: %s\n", sock, strerror(errno));
		return EX_UNAVAILABLE_STATUS;
	}
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked_init(&unp);
	if (ipc_read_frame(fd, IPC_ACCEPT_CTL_CLIENT, 1, 10000, &buf, &h, &unp, &err) == -1) {
		fprintf(stderr, "exfeedctl: no valid reply from %s: %s\n", sock, err ? err : "?");
		return EX_UNAVAILABLE_STATUS;
	}
	mp_get_bool(&unp.data, "ok", &ok);
	if (json) {
		mp_to_json(&unp.data, stdout);
		putchar('\n');
	} else if (!ok) {
		char msg[2048];

		if (mp_get_str(&unp.data, "error", msg, sizeof(msg)) == -1)
			snprintf(msg, sizeof(msg), "request failed");
		fprintf(stderr, "exfeedctl: %s\n", msg);
	} else if (strcmp(cmd, "status") == 0)
		print_status(&unp.data);
	rc = ok ? 0 : 1;
	if (ok && strcmp(cmd, "stop") == 0) {
		/* The supervisor closes this connection as its very last act. */
		char c;
		ssize_t n;

		int64_t pid = 0;

		while ((n = read(fd, &c, 1)) > 0 || (n == -1 && errno == EINTR))
			;
		/* ...and exits just after: wait for that too (at most 30 s). */
		if (mp_get_i64(&unp.data, "pid", &pid) == 0 && pid > 0)
			for (int i = 0; i < 3000 && process_alive((pid_t)pid); i++)
				usleep(10000);
		if (!json)
			printf("exfeedd stopped\n");
	} else if (ok && strcmp(cmd, "reload") == 0 && !json)
		printf("exfeedd reloaded its configuration\n");
	msgpack_unpacked_destroy(&unp);
	free(buf);
	close(fd);
	return rc;
}
