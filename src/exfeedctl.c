/*
 * exfeedctl.c: the operator's command line.  status, reload and stop talk
 * to a running exfeedd's control socket with the same framed msgpack as the
 * daemon's own processes; db, account, keygen and rotate-key work on the
 * database and the key file directly, so they need no running daemon.
 * Tables for people, JSON (--json) for programs; never a credential.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "db.h"
#include "preflight.h"
#include "ipc.h"
#include "log.h"
#include "mpack.h"

#ifndef EXFEEDD_CONFIG_FILE
#define EXFEEDD_CONFIG_FILE "/etc/exfeedd/exfeedd.conf"
#endif

#define EX_USAGE_STATUS		64
#define EX_DATAERR_STATUS	65
#define EX_UNAVAILABLE_STATUS	69

/* Credentials files hold one line: an API key or secret is far shorter. */
#define CRED_FILE_MAX		4096

/* The usage text: on stdout with status 0 when asked for (-h), else on stderr with 64. */
static void __attribute__((noreturn))
usage_to(FILE *f, int status)
{
	fprintf(f, "usage: exfeedctl [-c file] [-s socket] [--json] command\n"
	    "commands:\n"
	    "  status   the supervisor and every worker: pid, state, restarts, uptime, last exit\n"
	    "  accounts [--json]  every streamed account: state, since, reconnects, last event,\n"
	    "           listen key expiry, resync\n"
	    "  reload   re-read the configuration and reconcile (as kill -HUP)\n"
	    "  stop     stop the daemon in order and wait until it has exited (as kill -TERM)\n"
	    "  preflight  before a first start, as root: every reason the start would fail\n"
	    "           (user, group, key file, database as the user, log, exchange hosts)\n"
	    "  db migrate | db status\n"
	    "  keygen FILE\n"
	    "  account add --user ID --exchange NAME --api-key-file FILE --api-secret-file FILE\n"
	    "              [--label TEXT]   (FILE \"-\": standard input, the key's line first;\n"
	    "              never a credential on the command line)\n"
	    "  account list [--json]\n"
	    "  account enable ID | disable ID [--reason TEXT] | remove ID | check [ID]\n"
	    "  rotate-key --new-key-file FILE\n");
	exit(status);
}

static void __attribute__((noreturn))
usage(void)
{
	usage_to(stderr, EX_USAGE_STATUS);
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

/*
 * Where a Kafka client connects (kcat -b ADDR): the embedded broker's
 * address, which changes with every start of the broker role, or the
 * configured list.  Nothing from a daemon that does not say.
 */
static void
print_kafka(const msgpack_object *r)
{
	const msgpack_object *k = mp_get(r, "kafka"), *workers = mp_get(r, "workers");
	char brokers[1024], boot[1024], bstate[32] = "";

	if (k == NULL || mp_get_str(k, "brokers", brokers, sizeof(brokers)) == -1 ||
	    mp_get_str(k, "bootstraps", boot, sizeof(boot)) == -1)
		return;
	if (strcmp(brokers, "embedded") != 0) {
		if (brokers[0])
			printf("kafka: brokers %s\n", brokers);
		else
			printf("kafka: off ([kafka] brokers is empty)\n");
		return;
	}
	for (uint32_t i = 0; workers && workers->type == MSGPACK_OBJECT_ARRAY &&
	    i < workers->via.array.size; i++) {
		char role[32];

		if (mp_get_str(&workers->via.array.ptr[i], "role", role, sizeof(role)) == 0 &&
		    strcmp(role, "broker") == 0)
			mp_get_str(&workers->via.array.ptr[i], "state", bstate, sizeof(bstate));
	}
	if (boot[0] == '\0')
		printf("kafka: embedded broker, no address yet (broker %s)\n",
		    bstate[0] ? bstate : "?");
	else if (strcmp(bstate, "ready") != 0)
		printf("kafka: embedded broker %s (broker %s: its next start listens on a new "
		    "port)\n", boot, bstate[0] ? bstate : "?");
	else
		printf("kafka: embedded broker %s\n", boot);
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
	printf("exfeedd pid %" PRId64 ", %s, up %s, config %s\n", pid, state, up, cfgfile);
	print_kafka(r);
	putchar('\n');
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

/* exfeedctl accounts: one row per account of every account worker. */
static void
print_accounts(const msgpack_object *r)
{
	const msgpack_object *rows = mp_get(r, "accounts");
	struct timespec ts;
	int64_t now, missing = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	printf("%8s %8s %-16s %-12s %9s %10s %10s %10s  %s\n", "ID", "USER", "EXCHANGE", "STATE",
	    "SINCE", "RECONNECTS", "LAST EVENT", "KEY EXPIRY", "RESYNC");
	for (uint32_t i = 0; rows && rows->type == MSGPACK_OBJECT_ARRAY && i < rows->via.array.size;
	    i++) {
		const msgpack_object *a = &rows->via.array.ptr[i];
		char ex[32], st[32], rs[16], reason[256], since[32], age[32], exp[32];
		int64_t id = 0, user = 0, since_ms = 0, rec = 0, age_ms = -1, exp_ms = 0;

		mp_get_i64(a, "id", &id);
		mp_get_i64(a, "user", &user);
		mp_get_i64(a, "since_ms", &since_ms);
		mp_get_i64(a, "reconnects", &rec);
		mp_get_i64(a, "last_event_age_ms", &age_ms);
		mp_get_i64(a, "listen_key_expires_ms", &exp_ms);
		if (mp_get_str(a, "exchange", ex, sizeof(ex)) == -1)
			snprintf(ex, sizeof(ex), "?");
		if (mp_get_str(a, "state", st, sizeof(st)) == -1)
			snprintf(st, sizeof(st), "?");
		if (mp_get_str(a, "resync", rs, sizeof(rs)) == -1)
			snprintf(rs, sizeof(rs), "?");
		if (mp_get_str(a, "reason", reason, sizeof(reason)) == -1)
			reason[0] = '\0';
		fmt_duration(now - since_ms > 0 ? now - since_ms : 0, since, sizeof(since));
		if (age_ms >= 0)
			fmt_duration(age_ms, age, sizeof(age));
		else
			snprintf(age, sizeof(age), "-");
		if (exp_ms > now)
			fmt_duration(exp_ms - now, exp, sizeof(exp));
		else
			snprintf(exp, sizeof(exp), "-");
		printf("%8" PRId64 " %8" PRId64 " %-16s %-12s %9s %10" PRId64 " %10s %10s  %s%s%s\n",
		    id, user, ex, st, since, rec, age, exp, rs, reason[0] ? "  " : "", reason);
	}
	if (mp_get_i64(r, "missing", &missing) == 0 && missing > 0)
		printf("(%" PRId64 " account worker%s did not answer in time)\n", missing,
		    missing == 1 ? "" : "s");
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

/* ------------------------------------------- database, accounts and the key */

/* The state of one local command: the configuration and what it opened. */
static struct {
	struct config	 cfg;
	int		 cfg_loaded;
	PGconn		*conn;
	int		 json;
	unsigned char	 key[CRYPTO_KEY_LEN];
} lc;

static void
lc_cleanup(void)
{
	crypto_wipe(lc.key, sizeof(lc.key));
	if (lc.conn)
		PQfinish(lc.conn);
	if (lc.cfg_loaded)
		config_free(&lc.cfg);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
lc_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("exfeedctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	lc_cleanup();
	exit(status);
}

/* The whole configuration, validated as the daemon would: errors are FILE:LINE. */
static void
lc_config(const char *path)
{
	struct config_errors errs;

	if (config_load(path, &lc.cfg, &errs) == -1) {
		config_errors_print(&errs, stderr);
		config_errors_free(&errs);
		exit(EX_CONFIG_STATUS);
	}
	lc.cfg_loaded = 1;
}

/* The master key of [crypto] key_file, or exit 78 naming the line that set it. */
static void
lc_key(void)
{
	char err[1024];

	if (crypto_key_load(lc.cfg.crypto_key_file, lc.key, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s:%d: [crypto] key_file: %s\n", lc.cfg.file,
		    config_line_of(&lc.cfg, "crypto", "key_file"), err);
		lc_cleanup();
		exit(EX_CONFIG_STATUS);
	}
}

/* Connect; with need_schema, refuse a database that lacks a migration. */
static void
lc_connect(int need_schema)
{
	char err[1024];

	if ((lc.conn = db_connect(lc.cfg.db_conninfo, err, sizeof(err))) == NULL) {
		struct passwd *me = getpwuid(geteuid());

		/*
		 * Debian's default peer authentication: the database role is the
		 * operating-system user, and the daemon's is [daemon] user.
		 */
		if (strstr(err, "Peer authentication failed") != NULL && me != NULL &&
		    strcmp(me->pw_name, lc.cfg.user) != 0)
			lc_fail(EX_UNAVAILABLE_STATUS, "%s\n(peer authentication: the database "
			    "knows the operating-system user; run this as the daemon's user: "
			    "runuser -u %s -- exfeedctl ...)", err, lc.cfg.user);
		lc_fail(EX_UNAVAILABLE_STATUS, "%s", err);
	}
	if (need_schema && db_schema_check(lc.conn, err, sizeof(err)) == -1)
		lc_fail(EX_UNAVAILABLE_STATUS, "%s", err);
}

static int64_t
lc_id(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s != '\0' && *s != '-' && *end == '\0' && errno == ERANGE) {
		fprintf(stderr, "exfeedctl: %s \"%s\" is out of range (at most %lld)\n", what, s,
		    LLONG_MAX);
		usage();
	}
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0) {
		fprintf(stderr, "exfeedctl: %s \"%s\" is not a non-negative integer\n", what, s);
		usage();
	}
	return (int64_t)v;
}

/*
 * Credentials: the API key and secret of `account add`, never from the
 * command line (the process list and shell history show it to others).
 * From a file (refused if others may read or write it, or its group may
 * write it) or, for FILE "-", from standard input: one line each, the key
 * first when both come from there; typed at a terminal without echo.
 * Every buffer that held one is wiped before it is freed.
 */
static struct {
	char	*buf;		/* all of standard input when it is not a terminal */
	size_t	 len, off;
	int	 read;
} lc_stdin;

static void
lc_stdin_free(void)
{
	if (lc_stdin.buf) {
		crypto_wipe(lc_stdin.buf, CRED_FILE_MAX * 2 + 1);
		free(lc_stdin.buf);
	}
	lc_stdin.buf = NULL;
}

/* Reads fd to its end into buf (max bytes); -1 with errno, or -2 when there is more. */
static ssize_t
lc_read_all(int fd, char *buf, size_t max)
{
	size_t len = 0;
	ssize_t n;
	char extra;

	while (len < max) {
		n = read(fd, buf + len, max - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
	}
	while ((n = read(fd, &extra, 1)) == -1 && errno == EINTR)
		;
	return n > 0 ? -2 : (ssize_t)len;
}

/* A credential as read (NUL-terminated, len bytes): one line, not empty, no NUL. */
static void
lc_credential_check(char *buf, size_t len, size_t bufsize, const char *what, const char *src)
{
	char why[128];

	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (memchr(buf, '\0', len) != NULL)
		snprintf(why, sizeof(why), "contains a NUL byte");
	else if (len == 0)
		snprintf(why, sizeof(why), "is empty");
	else if (strpbrk(buf, "\r\n") != NULL)
		snprintf(why, sizeof(why), "holds more than one line; it must hold only the %s", what);
	else
		return;
	crypto_wipe(buf, bufsize);
	free(buf);
	lc_stdin_free();
	lc_fail(EX_DATAERR_STATUS, "%s: %s %s", what, src, why);
}

/* One line typed at the terminal on fd 0, echo off; the prompt on stderr. */
static char *
lc_prompt(const char *what)
{
	struct termios old, quiet;
	char *buf;
	size_t len = 0;
	ssize_t n;
	char c;
	int restore;

	if ((buf = calloc(1, CRED_FILE_MAX + 1)) == NULL)
		lc_fail(1, "out of memory");
	fprintf(stderr, "%s (not echoed): ", what);
	fflush(stderr);
	restore = tcgetattr(0, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(0, TCSAFLUSH, &quiet);
	}
	while (len < CRED_FILE_MAX && ((n = read(0, &c, 1)) == 1 || (n == -1 && errno == EINTR))) {
		if (n != 1)
			continue;
		if (c == '\n')
			break;
		buf[len++] = c;
	}
	c = 0;
	if (restore)
		tcsetattr(0, TCSAFLUSH, &old);
	buf[len] = '\0';
	lc_credential_check(buf, len, CRED_FILE_MAX + 1, what, "what was typed");
	return buf;
}

/* The next line of standard input (read whole the first time). */
static char *
lc_stdin_line(const char *what)
{
	char *buf, *nl;
	size_t len;
	ssize_t n;

	if (!lc_stdin.read) {
		lc_stdin.read = 1;
		if ((lc_stdin.buf = calloc(1, CRED_FILE_MAX * 2 + 1)) == NULL)
			lc_fail(1, "out of memory");
		if ((n = lc_read_all(0, lc_stdin.buf, CRED_FILE_MAX * 2)) == -1) {
			lc_stdin_free();
			lc_fail(EX_DATAERR_STATUS, "%s: cannot read standard input: %s", what,
			    strerror(errno));
		}
		if (n == -2) {
			lc_stdin_free();
			lc_fail(EX_DATAERR_STATUS, "%s: standard input holds more than %d bytes: it "
			    "holds one line per credential", what, CRED_FILE_MAX * 2);
		}
		lc_stdin.len = (size_t)n;
	}
	if (lc_stdin.buf == NULL || lc_stdin.off >= lc_stdin.len) {
		lc_stdin_free();
		lc_fail(EX_DATAERR_STATUS, "%s: standard input has no line left for it (with both "
		    "files \"-\", the key is the first line and the secret the second)", what);
	}
	nl = memchr(lc_stdin.buf + lc_stdin.off, '\n', lc_stdin.len - lc_stdin.off);
	len = nl ? (size_t)(nl - (lc_stdin.buf + lc_stdin.off)) + 1 : lc_stdin.len - lc_stdin.off;
	if (len > CRED_FILE_MAX) {
		lc_stdin_free();
		lc_fail(EX_DATAERR_STATUS, "%s: its line on standard input is longer than %d bytes",
		    what, CRED_FILE_MAX);
	}
	if ((buf = calloc(1, CRED_FILE_MAX + 1)) == NULL)
		lc_fail(1, "out of memory");
	memcpy(buf, lc_stdin.buf + lc_stdin.off, len);
	lc_stdin.off += len;
	lc_credential_check(buf, len, CRED_FILE_MAX + 1, what, "its line on standard input");
	return buf;
}

/* After the credentials: standard input held no more than was asked of it. */
static void
lc_stdin_done(void)
{
	int extra = lc_stdin.buf != NULL && lc_stdin.off < lc_stdin.len;

	lc_stdin_free();
	if (extra)
		lc_fail(EX_DATAERR_STATUS, "standard input holds more lines than the credentials "
		    "read from it (\"-\")");
}

/*
 * One credential from path ("-": standard input), or exit 65 saying why.
 * Returns a malloc'd string the caller frees with crypto_free_secret.
 */
static char *
lc_read_credential(const char *path, const char *what, const char *opt)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	if (strcmp(path, "-") == 0)
		return isatty(0) ? lc_prompt(what) : lc_stdin_line(what);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		lc_fail(EX_DATAERR_STATUS, "%s: cannot open %s: %s", what, path, strerror(errno));
	/* The descriptor we read, not the name: no window between the check and the read. */
	if (fstat(fd, &st) == -1)
		lc_fail(EX_DATAERR_STATUS, "%s: cannot stat %s: %s", what, path, strerror(errno));
	if (st.st_mode & (S_IRWXO | S_IWGRP)) {
		close(fd);
		lc_fail(EX_DATAERR_STATUS, "%s: %s is %s by others (mode %04o); chmod 600 it (or "
		    "640 for a group that runs exfeedctl), or give it on standard input: %s -",
		    what, path, st.st_mode & S_IRWXO ? "accessible" : "writable",
		    (unsigned)(st.st_mode & 07777), opt);
	}
	if ((buf = calloc(1, CRED_FILE_MAX + 1)) == NULL)
		lc_fail(1, "out of memory");
	n = lc_read_all(fd, buf, CRED_FILE_MAX);
	close(fd);
	if (n < 0) {
		crypto_wipe(buf, CRED_FILE_MAX + 1);
		free(buf);
		if (n == -2)
			lc_fail(EX_DATAERR_STATUS, "%s: %s is larger than %d bytes: it holds one line, "
			    "the %s", what, path, CRED_FILE_MAX, what);
		lc_fail(EX_DATAERR_STATUS, "%s: cannot read %s: %s", what, path, strerror(errno));
	}
	lc_credential_check(buf, (size_t)n, CRED_FILE_MAX + 1, what, path);
	return buf;
}

static void
lc_reload_hint(FILE *fp)
{
	char d[32];

	config_format_duration(lc.cfg.reconcile_interval_ms, d, sizeof(d));
	fprintf(fp, "run `exfeedctl reload` to apply now (otherwise within [userdata] "
	    "reconcile_interval, %s)\n", d);
}

static void
json_str(const char *s)
{
	if (s == NULL) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* A --label or --reason: one line of printable text, stored and shown as given. */
#define LC_TEXT_MAX	200

/*
 * The length of the UTF-8 sequence at p (1 to 4), or 0 when it is not one:
 * an invalid or overlong sequence, a surrogate, or a C1 control
 * (U+0080-U+009F, which terminals act on as they do on ESC).
 */
static size_t
lc_utf8_len(const unsigned char *p)
{
	uint32_t cp;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

/* Refuses (exit 64) a --label or --reason that is not one line of printable text. */
static void
lc_text_check(const char *opt, const char *s)
{
	size_t len = strlen(s), n;

	if (len > LC_TEXT_MAX) {
		fprintf(stderr, "exfeedctl: %s: %zu bytes, at most %d\n", opt, len, LC_TEXT_MAX);
		usage();
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p += n) {
		if (*p < 0x20 || *p == 0x7f || (n = lc_utf8_len(p)) == 0) {
			fprintf(stderr, "exfeedctl: %s: holds a control character or a byte that is not "
			    "UTF-8 text (0x%02x at byte %zu): it is one line of printable text\n", opt,
			    *p, (size_t)(p - (const unsigned char *)s) + 1);
			usage();
		}
	}
}

/*
 * s for a table, into buf: control bytes, bytes that are not UTF-8 and "\\"
 * escaped (\n, \t, \xNN, \\), so that a stored value (older rows took
 * anything) can neither fake a row nor act on the terminal.
 */
static const char *
lc_text_shown(const char *s, char *buf, size_t len)
{
	size_t o = 0, n;

	for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < len; p += n) {
		n = *p < 0x20 || *p == 0x7f ? 0 : lc_utf8_len(p);
		if (*p == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\\\");
		else if (*p == '\n')
			o += (size_t)snprintf(buf + o, len - o, "\\n");
		else if (*p == '\t')
			o += (size_t)snprintf(buf + o, len - o, "\\t");
		else if (n == 0)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
		else if (o + n < len) {
			memcpy(buf + o, p, n);
			o += n;
		}
		if (n == 0 || *p == '\\')
			n = 1;
	}
	buf[o] = '\0';
	return buf;
}

static int
cmd_keygen(int argc, char *argv[])
{
	char err[1024];

	if (argc != 2)
		usage();
	if (crypto_key_generate(argv[1], err, sizeof(err)) == -1) {
		fprintf(stderr, "exfeedctl: keygen: %s\n", err);
		return 1;
	}
	printf("wrote a new master key to %s (32 random bytes, mode 0600)\n", argv[1]);
	return 0;
}

static void
db_migrate_done(const struct db_migration *m, void *arg)
{
	printf("applied %s\n", m->name);
	fflush(stdout);
}

static int
cmd_db(int argc, char *argv[])
{
	size_t pending[db_nmigrations > 0 ? db_nmigrations : 1], n;
	char err[1024];
	int version;

	if (argc != 2 || (strcmp(argv[1], "migrate") != 0 && strcmp(argv[1], "status") != 0))
		usage();
	lc_connect(0);
	if (strcmp(argv[1], "migrate") == 0) {
		if (db_migrate(lc.conn, db_migrate_done, NULL, &n, err, sizeof(err)) == -1)
			lc_fail(1, "db migrate: %s", err);
		if (db_schema_version(lc.conn, &version, err, sizeof(err)) == -1)
			lc_fail(1, "%s", err);
		if (n == 0)
			printf("schema is at version %d, nothing to do\n", version);
		else
			printf("schema is at version %d\n", version);
		return 0;
	}
	if (db_schema_version(lc.conn, &version, err, sizeof(err)) == -1 ||
	    db_schema_pending(lc.conn, pending, &n, err, sizeof(err)) == -1)
		lc_fail(1, "%s", err);
	if (lc.json) {
		printf("{\"version\":%d,\"latest\":%d,\"pending\":[", version, db_schema_latest());
		for (size_t i = 0; i < n; i++) {
			if (i)
				putchar(',');
			json_str(db_migrations[pending[i]].name);
		}
		printf("]}\n");
		return n ? 1 : 0;
	}
	printf("schema version %d, this exfeedctl knows up to %d\n", version, db_schema_latest());
	if (n == 0) {
		printf("up to date\n");
		return 0;
	}
	printf("pending:");
	for (size_t i = 0; i < n; i++)
		printf(" %s", db_migrations[pending[i]].name);
	printf("\nrun: exfeedctl db migrate\n");
	return 1;
}

/* A secret on the command line: refused, without repeating it. */
static void __attribute__((noreturn))
lc_refuse_secret_arg(const char *opt, const char *fileopt)
{
	fprintf(stderr, "exfeedctl: %s: a credential is never taken on the command line (other "
	    "users see it in the process list, and it stays in the shell's history); put it in "
	    "a file of mode 0600 and give %s FILE, or give %s - and write it on standard input\n",
	    opt, fileopt, fileopt);
	lc_cleanup();
	exit(EX_USAGE_STATUS);
}

/*
 * What getopt_long refused ('?', or ':' for a missing value), told in our
 * words, never getopt's: they repeat the whole argument, and what follows
 * "=" may be a secret typed by mistake.  prog names the command
 * ("exfeedctl account list").  The argument in error is argv[optind - 1]
 * for a long option, but not for a short one inside a cluster ("-kVALUE"
 * leaves optind on it): a short one is named by optopt alone.
 */
static void __attribute__((noreturn))
ctl_bad_option(const char *prog, int ch, char *argv[], const struct option *opts)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	int n, is_long = 0;

	if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
		n = (int)strcspn(arg + 2, "=");
		if (optopt == 0)
			is_long = 1;
		for (const struct option *o = opts; !is_long && o && o->name; o++)
			if (o->val == optopt && strncmp(o->name, arg + 2, (size_t)n) == 0)
				is_long = 1;
	}
	if (is_long) {
		n = (int)strcspn(arg, "=");
		/* A bare --api-secret at the end: a credential all the same. */
		if (ch == ':' && (optopt == 'K' || optopt == 'S'))
			lc_refuse_secret_arg(optopt == 'K' ? "--api-key" : "--api-secret",
			    optopt == 'K' ? "--api-key-file" : "--api-secret-file");
		if (ch == ':')
			fprintf(stderr, "%s: option %.*s needs a value\n", prog, n, arg);
		else if (optopt != 0)
			fprintf(stderr, "%s: option %.*s takes no value\n", prog, n, arg);
		else
			fprintf(stderr, "%s: unknown or ambiguous option %.*s\n", prog, n, arg);
	} else if (ch == ':')
		fprintf(stderr, "%s: option -%c needs a value\n", prog, optopt);
	else if (optopt > 0x20 && optopt < 0x7f)
		fprintf(stderr, "%s: unknown option -%c\n", prog, optopt);
	else
		fprintf(stderr, "%s: unknown option\n", prog);
	lc_cleanup();
	usage();
}

/* getopt_long, silent: every refusal is ctl_bad_option's (exit 64). */
static int
ctl_getopt(const char *prog, int argc, char *argv[], const char *optstring,
    const struct option *opts)
{
	int ch;

	opterr = 0;
	ch = getopt_long(argc, argv, optstring, opts, NULL);
	if (ch == '?' || ch == ':')
		ctl_bad_option(prog, ch, argv, opts);
	return ch;
}

static int
account_add(int argc, char *argv[])
{
	/*
	 * --api-key and --api-secret are here only to be refused: without them
	 * getopt would take --api-secret=VALUE for an abbreviated
	 * --api-secret-file and print the value in its complaint.
	 */
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "exchange", required_argument, NULL, 'e' },
		{ "api-key-file", required_argument, NULL, 'k' },
		{ "api-secret-file", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, 'l' },
		{ "api-key", required_argument, NULL, 'K' },
		{ "api-secret", required_argument, NULL, 'S' },
		{ "secret", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	const char *exchange = NULL, *keyfile = NULL, *secretfile = NULL, *label = NULL;
	char *api_key, *api_secret, err[1024];
	int64_t user = -1, id;
	int ch, rc;

	optind = 0;
	while ((ch = ctl_getopt("exfeedctl account add", argc, argv, ":", opts)) != -1) {
		switch (ch) {
		case 'K':
		case 'S':
			lc_refuse_secret_arg(ch == 'K' ? "--api-key" : "--api-secret",
			    ch == 'K' ? "--api-key-file" : "--api-secret-file");
			break;
		case 'u':
			user = lc_id(optarg, "--user");
			break;
		case 'e':
			exchange = optarg;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 's':
			secretfile = optarg;
			break;
		case 'l':
			label = optarg;
			break;
		}
	}
	if (optind != argc || user < 0 || exchange == NULL || keyfile == NULL || secretfile == NULL) {
		fprintf(stderr, "exfeedctl: account add needs --user, --exchange, --api-key-file "
		    "and --api-secret-file\n");
		usage();
	}
	if (!db_exchange_valid(exchange)) {
		fprintf(stderr, "exfeedctl: --exchange \"%s\": not one of binance-futures, "
		    "binance-spot, bybit, okx\n", exchange);
		usage();
	}
	if (label != NULL)
		lc_text_check("--label", label);
	api_key = lc_read_credential(keyfile, "API key", "--api-key-file");
	api_secret = lc_read_credential(secretfile, "API secret", "--api-secret-file");
	lc_stdin_done();
	lc_key();
	lc_connect(1);
	rc = db_account_add(lc.conn, lc.key, user, exchange, label, api_key, api_secret, &id, err,
	    sizeof(err));
	/* Only sealed values went to libpq: nothing of the plaintext is left after this. */
	crypto_free_secret(api_key);
	crypto_free_secret(api_secret);
	if (rc == -1)
		lc_fail(1, "account add: %s", err);
	/* The id alone on stdout, for scripts: id=$(exfeedctl account add ...) */
	printf("%" PRId64 "\n", id);
	fprintf(stderr, "added account %" PRId64 " (user %" PRId64 ", %s)\n", id, user, exchange);
	lc_reload_hint(stderr);
	return 0;
}

static int
account_list(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct db_account_info *v;
	char err[1024];
	size_t n;
	int ch;

	optind = 0;
	while ((ch = ctl_getopt("exfeedctl account list", argc, argv, ":", opts)) != -1)
		lc.json = 1;
	if (optind != argc)
		usage();
	lc_connect(1);
	if (db_accounts_list(lc.conn, &v, &n, err, sizeof(err)) == -1)
		lc_fail(1, "account list: %s", err);
	if (lc.json) {
		putchar('[');
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"id\":%" PRId64 ",\"user_id\":%" PRId64 ",\"exchange\":",
			    i ? "," : "", v[i].id, v[i].user_id);
			json_str(v[i].exchange);
			fputs(",\"label\":", stdout);
			json_str(v[i].label);
			printf(",\"is_active\":%s,\"deactivated_reason\":",
			    v[i].is_active ? "true" : "false");
			json_str(v[i].deactivated_reason);
			fputs(",\"listen_key_expires_at\":", stdout);
			json_str(v[i].listen_key_expires[0] ? v[i].listen_key_expires : NULL);
			fputs(",\"created_at\":", stdout);
			json_str(v[i].created);
			putchar('}');
		}
		printf("]\n");
	} else {
		char label[4 * LC_TEXT_MAX + 8], reason[4 * LC_TEXT_MAX + 8];

		printf("%6s %10s %-16s %-16s %-6s %-20s %-20s %s\n", "ID", "USER", "EXCHANGE", "LABEL",
		    "ACTIVE", "LISTEN KEY EXPIRES", "CREATED", "DEACTIVATED REASON");
		for (size_t i = 0; i < n; i++)
			printf("%6" PRId64 " %10" PRId64 " %-16s %-16s %-6s %-20s %-20s %s\n", v[i].id,
			    v[i].user_id, v[i].exchange,
			    v[i].label ? lc_text_shown(v[i].label, label, sizeof(label)) : "-",
			    v[i].is_active ? "yes" : "no",
			    v[i].listen_key_expires[0] ? v[i].listen_key_expires : "-", v[i].created,
			    v[i].deactivated_reason ? lc_text_shown(v[i].deactivated_reason, reason,
			    sizeof(reason)) : "-");
	}
	db_account_info_free(v, n);
	return 0;
}

static int
account_change(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	const char *what = argv[0], *reason = "disabled by operator";
	char err[1024], prog[64];
	int64_t id;
	int ch, rc;

	snprintf(prog, sizeof(prog), "exfeedctl account %s", what);
	optind = 0;
	while ((ch = ctl_getopt(prog, argc, argv, ":", opts)) != -1) {
		if (strcmp(what, "disable") != 0) {
			fprintf(stderr, "%s: --reason is for account disable only\n", prog);
			usage();
		}
		reason = optarg;
	}
	if (optind != argc - 1)
		usage();
	lc_text_check("--reason", reason);
	id = lc_id(argv[optind], "account id");
	lc_connect(1);
	if (strcmp(what, "remove") == 0)
		rc = db_account_remove(lc.conn, id, err, sizeof(err));
	else
		rc = db_account_set_active(lc.conn, id, strcmp(what, "enable") == 0, reason, err,
		    sizeof(err));
	if (rc == 1)
		lc_fail(EX_DATAERR_STATUS, "account %s: %s", what, err);
	if (rc == -1)
		lc_fail(1, "account %s: %s", what, err);
	if (strcmp(what, "remove") == 0)
		printf("removed account %" PRId64 " and its orders, fills, positions and balances\n",
		    id);
	else if (strcmp(what, "enable") == 0)
		printf("enabled account %" PRId64 "\n", id);
	else
		printf("disabled account %" PRId64 " (%s)\n", id, reason);
	lc_reload_hint(stdout);
	return 0;
}

/* 0 when every credential of the account opens with the key; 65 otherwise. */
static int
account_check_one(int64_t id)
{
	const char *bad;
	char err[1024];
	int nfields, rc;

	rc = db_account_check(lc.conn, lc.key, id, &bad, &nfields, err, sizeof(err));
	if (rc == 1)
		lc_fail(EX_DATAERR_STATUS, "account check: %s", err);
	if (rc == -1)
		lc_fail(1, "account check: %s", err);
	if (bad != NULL) {
		printf("account %" PRId64 ": %s does not decrypt with %s\n", id, bad,
		    lc.cfg.crypto_key_file);
		return EX_DATAERR_STATUS;
	}
	printf("account %" PRId64 ": ok (%d value%s decrypt with %s)\n", id, nfields,
	    nfields == 1 ? "" : "s", lc.cfg.crypto_key_file);
	return 0;
}

static int
account_check(int argc, char *argv[])
{
	struct db_account_info *v;
	char err[1024];
	size_t n;
	int rc = 0;

	if (argc > 2)
		usage();
	lc_key();
	lc_connect(1);
	if (argc == 2)
		return account_check_one(lc_id(argv[1], "account id"));
	if (db_accounts_list(lc.conn, &v, &n, err, sizeof(err)) == -1)
		lc_fail(1, "account check: %s", err);
	for (size_t i = 0; i < n; i++)
		if (account_check_one(v[i].id) != 0)
			rc = EX_DATAERR_STATUS;
	db_account_info_free(v, n);
	return rc;
}

static int
cmd_account(int argc, char *argv[])
{
	if (argc < 2)
		usage();
	argc--;
	argv++;
	if (strcmp(argv[0], "add") == 0)
		return account_add(argc, argv);
	if (strcmp(argv[0], "list") == 0)
		return account_list(argc, argv);
	if (strcmp(argv[0], "enable") == 0 || strcmp(argv[0], "disable") == 0 ||
	    strcmp(argv[0], "remove") == 0)
		return account_change(argc, argv);
	if (strcmp(argv[0], "check") == 0)
		return account_check(argc, argv);
	fprintf(stderr, "exfeedctl: unknown account command \"%s\"\n", argv[0]);
	usage();
}

static int
cmd_rotate_key(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "new-key-file", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned char newkey[CRYPTO_KEY_LEN];
	const char *path = NULL;
	char err[1024];
	size_t nvalues, naccounts;
	int ch;

	optind = 0;
	while ((ch = ctl_getopt("exfeedctl rotate-key", argc, argv, ":", opts)) != -1)
		path = optarg;
	if (optind != argc || path == NULL)
		usage();
	lc_key();
	if (crypto_key_load(path, newkey, err, sizeof(err)) == -1)
		lc_fail(EX_CONFIG_STATUS, "--new-key-file: %s", err);
	if (memcmp(newkey, lc.key, sizeof(newkey)) == 0) {
		crypto_wipe(newkey, sizeof(newkey));
		lc_fail(EX_CONFIG_STATUS, "--new-key-file: %s holds the same key as %s", path,
		    lc.cfg.crypto_key_file);
	}
	lc_connect(1);
	if (db_rotate_key(lc.conn, lc.key, newkey, &nvalues, &naccounts, err, sizeof(err)) == -1) {
		crypto_wipe(newkey, sizeof(newkey));
		lc_fail(strstr(err, "does not decrypt") ? EX_DATAERR_STATUS : 1, "rotate-key: %s",
		    err);
	}
	crypto_wipe(newkey, sizeof(newkey));
	printf("re-encrypted %zu value%s of %zu account%s with the key in %s\n", nvalues,
	    nvalues == 1 ? "" : "s", naccounts, naccounts == 1 ? "" : "s", path);
	printf("now point [crypto] key_file at %s (or move it over %s) and run `exfeedctl reload`\n",
	    path, lc.cfg.crypto_key_file);
	return 0;
}

/* The commands that work on the database and the key file, not on the daemon. */
static int
local_main(const char *config_path, int json, int argc, char *argv[])
{
	int rc;

	lc.json = json;
	if (strcmp(argv[0], "keygen") == 0)
		return cmd_keygen(argc, argv);
	lc_config(config_path);
	if (strcmp(argv[0], "preflight") == 0) {
		if (argc != 1)
			usage();
		rc = preflight(&lc.cfg, stdout) == 0 ? 0 : 1;
	} else if (strcmp(argv[0], "db") == 0)
		rc = cmd_db(argc, argv);
	else if (strcmp(argv[0], "account") == 0)
		rc = cmd_account(argc, argv);
	else
		rc = cmd_rotate_key(argc, argv);
	fflush(stdout);
	lc_cleanup();
	return rc;
}

/* ------------------------------------------------------------ control socket */

/*
 * The daemon accepted and closed the connection before answering: what
 * src/ctl.c does at its limit of control clients, or to a peer that is
 * neither root nor its user; or it was stopping.
 */
static void
ctl_closed_on_us(const char *sock)
{
	fprintf(stderr, "exfeedctl: exfeedd refused the connection on %s: it closed it without "
	    "answering (too many control clients at once: it serves 16, so retry shortly; or "
	    "it is stopping; or this user is neither root nor the daemon's)\n", sock);
}

static int
ctl_main(const char *config_path, const char *sock, const char *cmd, int json)
{
	const char *err = NULL;
	static char sockbuf[4096];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked unp;
	struct ipc_hdr h;
	unsigned char *buf;
	int fd, ok = 0, rc;

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
		char user[256];
		int saved = errno;

		if (errno != EACCES && errno != EPERM) {
			fprintf(stderr, "exfeedctl: cannot connect to %s: %s (is exfeedd running?)\n",
			    sock, strerror(errno));
			return EX_UNAVAILABLE_STATUS;
		}
		/* Running, most likely: the socket is 0600, the daemon's user's or root's. */
		if (config_peek(config_path, "daemon", "user", user, sizeof(user)) == -1)
			snprintf(user, sizeof(user), "%s", config_default("daemon", "user"));
		fprintf(stderr, "exfeedctl: cannot connect to %s: %s: only root and the daemon's user "
		    "(%s) may use the control socket; run exfeedctl as one of them (sudo exfeedctl "
		    "..., or runuser -u %s -- exfeedctl ...)\n", sock, strerror(saved), user, user);
		return EX_UNAVAILABLE_STATUS;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_kv_str(&pk, "cmd", cmd);
	if (ipc_write_frame(fd, IPC_CTL_REQUEST, 1, sb.data, sb.size) == -1) {
		int closed = errno == EPIPE || errno == ECONNRESET;

		if (closed)
			ctl_closed_on_us(sock);
		else
			fprintf(stderr, "exfeedctl: cannot send to %s: %s\n", sock, strerror(errno));
		msgpack_sbuffer_destroy(&sb);
		close(fd);
		return EX_UNAVAILABLE_STATUS;
	}
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked_init(&unp);
	if (ipc_read_frame(fd, IPC_ACCEPT_CTL_CLIENT, 1, 10000, &buf, &h, &unp, &err) == -1) {
		if (err != NULL && (strcmp(err, "connection closed") == 0 ||
		    strcmp(err, strerror(ECONNRESET)) == 0))
			ctl_closed_on_us(sock);
		else
			fprintf(stderr, "exfeedctl: no valid reply from %s: %s\n", sock,
			    err ? err : "?");
		msgpack_unpacked_destroy(&unp);
		close(fd);
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
	else if (strcmp(cmd, "accounts") == 0)
		print_accounts(&unp.data);
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

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config_path = EXFEEDD_CONFIG_FILE, *sock = NULL, *cmd;
	int ch, json = 0;

	log_init("exfeedctl");
	/* A control socket closed on us is an error to report (exit 69), not death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	/* "+": stop at the command, whose own options follow it. */
	while ((ch = ctl_getopt("exfeedctl", argc, argv, "+:c:s:jh", longopts)) != -1) {
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
		case 'h':
			usage_to(stdout, 0);
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	cmd = argv[optind];
	if (strcmp(cmd, "db") == 0 || strcmp(cmd, "account") == 0 || strcmp(cmd, "keygen") == 0 ||
	    strcmp(cmd, "rotate-key") == 0 || strcmp(cmd, "preflight") == 0)
		return local_main(config_path, json, argc - optind, argv + optind);
	if (strcmp(cmd, "accounts") == 0 && optind == argc - 2 &&
	    strcmp(argv[argc - 1], "--json") == 0) {
		json = 1;
		argc--;
	}
	if (optind != argc - 1)
		usage();
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "reload") != 0 && strcmp(cmd, "stop") != 0 &&
	    strcmp(cmd, "accounts") != 0) {
		fprintf(stderr, "exfeedctl: unknown command \"%s\"\n", cmd);
		usage();
	}
	return ctl_main(config_path, sock, cmd, json);
}
