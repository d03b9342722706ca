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
#include <poll.h>
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

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "event.h"
#include "jwt.h"
#include "kafka.h"
#include "preflight.h"
#include "ipc.h"
#include "log.h"
#include "mpack.h"
#include "writer_sql.h"

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
	    "  metrics  every worker's metrics, Prometheus text format (as GET /metrics)\n"
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
	    "  rotate-key --new-key-file FILE\n"
	    "  token --user ID [--ttl DURATION]\n"
	    "           a JWT for /ws/trading signed with [gateway] jwt_secret_file (ttl: 1h)\n"
	    "  replay --from TIME --to TIME [--account ID] [--user ID] [--type TYPE]\n"
	    "         [--topic-prefix PREFIX] [--brokers LIST] [--format json|protobuf]\n"
	    "           publish a window of event_log again (exchange_time in [from, to);\n"
	    "           TIME: RFC 3339 or epoch ms), in commit order\n");
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

static int64_t
mp_i64_or(const msgpack_object *m, const char *key, int64_t def)
{
	int64_t v;

	return mp_get_i64(m, key, &v) == 0 ? v : def;
}

/* The sum of a map's integer values (per-topic counters), 0 if absent. */
static int64_t
mp_sum(const msgpack_object *m, const char *key)
{
	const msgpack_object *v = m ? mp_get(m, key) : NULL;
	int64_t n = 0;

	for (uint32_t i = 0; v && v->type == MSGPACK_OBJECT_MAP && i < v->via.map.size; i++)
		if (v->via.map.ptr[i].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			n += (int64_t)v->via.map.ptr[i].val.via.u64;
	return n;
}

/*
 * The market worker's detail: its connections (route, streams, connected
 * since, reconnects, messages, parse errors), what its producer published,
 * its books' resyncs, its streams silent longest.
 */
static void
print_market(const msgpack_object *d)
{
	const msgpack_object *cs = mp_get(d, "connections"), *books = mp_get(d, "books"),
	    *ages = mp_get(d, "stream_ages"), *k = mp_get(d, "kafka");
	char up[32], state[32], route[16];

	printf("\nmarket: %" PRId64 " symbols, %" PRId64 " streams, %" PRId64 " messages, %"
	    PRId64 " malformed, %" PRId64 " events, %" PRId64 " duplicates dropped\n",
	    mp_i64_or(d, "symbols", 0), mp_i64_or(d, "streams", 0), mp_i64_or(d, "messages", 0),
	    mp_i64_or(d, "malformed", 0), mp_i64_or(d, "events", 0),
	    mp_i64_or(d, "duplicates", 0));
	if (k != NULL && k->type == MSGPACK_OBJECT_MAP)
		printf("market kafka: %" PRId64 " published, %" PRId64 " delivered, %" PRId64
		    " failed, %" PRId64 " queue full, %" PRId64 " in flight\n",
		    mp_sum(k, "published"), mp_sum(k, "delivered"), mp_sum(k, "failed"),
		    mp_sum(k, "queue_full"), mp_i64_or(k, "in_flight", 0));
	printf("%6s %-7s %-11s %7s %9s %10s %6s %10s %6s\n", "CONN", "ROUTE", "STATE", "STREAMS",
	    "SINCE", "RECONNECTS", "FAILED", "MESSAGES", "ERRORS");
	for (uint32_t i = 0; cs && cs->type == MSGPACK_OBJECT_ARRAY && i < cs->via.array.size;
	    i++) {
		const msgpack_object *c = &cs->via.array.ptr[i];
		int64_t age = mp_i64_or(c, "age_ms", -1);

		if (mp_get_str(c, "state", state, sizeof(state)) == -1)
			snprintf(state, sizeof(state), "?");
		if (mp_get_str(c, "route", route, sizeof(route)) == -1)
			snprintf(route, sizeof(route), "?");
		if (age >= 0)
			fmt_duration(age, up, sizeof(up));
		else
			snprintf(up, sizeof(up), "-");
		printf("%6" PRId64 " %-7s %-11s %7" PRId64 " %9s %10" PRId64 " %6" PRId64 " %10"
		    PRId64 " %6" PRId64 "\n", mp_i64_or(c, "id", 0), route, state,
		    mp_i64_or(c, "streams", 0), up, mp_i64_or(c, "reconnects_ok", 0),
		    mp_i64_or(c, "reconnects_failed", 0), mp_i64_or(c, "messages", 0),
		    mp_i64_or(c, "parse_errors", 0));
	}
	for (uint32_t i = 0; books && books->type == MSGPACK_OBJECT_MAP &&
	    i < books->via.map.size; i++) {
		const msgpack_object_kv *kv = &books->via.map.ptr[i];
		int synced = 0;

		if (kv->key.type != MSGPACK_OBJECT_STR)
			continue;
		mp_get_bool(&kv->val, "synced", &synced);
		printf("book %.*s: %s at %" PRId64 ", %" PRId64 " resyncs (%" PRId64 " gaps, %" PRId64
		    " lost connections), %" PRId64 " published\n", (int)kv->key.via.str.size,
		    kv->key.via.str.ptr, synced ? "synced" : "syncing",
		    mp_i64_or(&kv->val, "last_update_id", 0), mp_i64_or(&kv->val, "resyncs", 0),
		    mp_i64_or(&kv->val, "resyncs_gap", 0), mp_i64_or(&kv->val, "resyncs_lost", 0),
		    mp_i64_or(&kv->val, "published", 0));
	}
	/* The stream silent longest: the first thing to look at when data stops. */
	if (ages && ages->type == MSGPACK_OBJECT_MAP) {
		int64_t worst = -1;
		const msgpack_object_kv *wk = NULL;

		for (uint32_t i = 0; i < ages->via.map.size; i++) {
			int64_t a = mp_i64_or(&ages->via.map.ptr[i].val, "last_message_age_ms", -1);

			if (a > worst && ages->via.map.ptr[i].key.type == MSGPACK_OBJECT_STR) {
				worst = a;
				wk = &ages->via.map.ptr[i];
			}
		}
		if (wk != NULL) {
			fmt_duration(worst, up, sizeof(up));
			printf("oldest stream message: %.*s, %s ago\n", (int)wk->key.via.str.size,
			    wk->key.via.str.ptr, up);
		}
	}
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
	for (uint32_t i = 0; i < workers->via.array.size; i++) {
		const msgpack_object *w = &workers->via.array.ptr[i], *d = mp_get(w, "detail");
		char role[32];

		if (mp_get_str(w, "role", role, sizeof(role)) == 0 && strcmp(role, "market") == 0 &&
		    d != NULL && (d = mp_get(d, "role")) != NULL && d->type == MSGPACK_OBJECT_MAP)
			print_market(d);
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

/*
 * db status, event_log: the day partitions, the relay's watermark and the
 * backlog (db.c reads them), against [database] event_log_retention as the
 * writer applies it (workers/relay.c): partitions of days before keep_from
 * go, unless publishing is on and they hold a row not yet on Kafka.
 */
static void
db_status_keep_from(char *buf, size_t len)
{
	int64_t keep = (lc.cfg.event_log_retention_ms + 86399999) / 86400000;
	time_t t = (time_t)((time(NULL) / 86400 - keep) * 86400);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
}

/* pg_size_pretty's way: whole units, the next one from ten thousand up. */
static void
db_status_size(int64_t b, char *buf, size_t len)
{
	static const char *const unit[] = { "bytes", "kB", "MB", "GB", "TB" };
	int u = 0;

	while (b >= 10240 && u < 4) {
		b = (b + 512) / 1024;
		u++;
	}
	snprintf(buf, len, "%" PRId64 " %s", b, unit[u]);
}

static void
db_status_elog_text(const struct db_elog_status *st)
{
	char ret[32], keep_from[16], rows[32], size[32], unpub[32], age[32];
	int publishing = lc.cfg.kafka_brokers[0] != '\0', estimated = 0;

	config_format_duration(lc.cfg.event_log_retention_ms, ret, sizeof(ret));
	db_status_keep_from(keep_from, sizeof(keep_from));
	printf("\nevent_log: retention %s: days before %s go%s\n", ret, keep_from,
	    publishing ? " once on Kafka" : " (publishing off)");
	printf("%-20s %-10s %10s %9s %11s\n", "PARTITION", "DAY", "ROWS", "SIZE", "UNPUBLISHED");
	for (size_t i = 0; i < st->nparts; i++) {
		const struct db_elog_part *p = &st->parts[i];
		int past = p->day[0] && strcmp(p->day, keep_from) < 0;

		snprintf(rows, sizeof(rows), "%s%" PRId64 "%s", p->rows_estimated ? "~" : "", p->rows,
		    p->rows_capped ? "+" : "");
		estimated |= p->rows_estimated;
		db_status_size(p->bytes, size, sizeof(size));
		snprintf(unpub, sizeof(unpub), "%" PRId64 "%s", p->unpublished,
		    p->unpublished_capped ? "+" : "");
		printf("%-20s %-10s %10s %9s %11s%s\n", p->name, p->day[0] ? p->day : "-", rows,
		    size, publishing ? unpub : "-", !past ? "" : publishing && p->unpublished > 0 ?
		    "  past retention: kept" : "  past retention: to drop");
	}
	if (estimated)
		printf("(~N: more than %d rows, the planner's estimate)\n", DB_ELOG_COUNT_MAX);
	if (!publishing) {
		printf("relay: off ([kafka] brokers is empty), watermark id %" PRId64 "\n",
		    st->published_through);
		return;
	}
	fmt_duration(st->relay_updated_age_ms > 0 ? st->relay_updated_age_ms : 0, age, sizeof(age));
	printf("relay: published through id %" PRId64 ", updated %s (%s ago)\n",
	    st->published_through, st->relay_updated, age);
	if (st->oldest_id == 0) {
		printf("backlog: none\n");
		return;
	}
	fmt_duration(st->oldest_age_ms > 0 ? st->oldest_age_ms : 0, age, sizeof(age));
	printf("backlog: %" PRId64 "%s row%s, oldest id %" PRId64 " committed %s (%s ago)\n",
	    st->backlog_rows, st->backlog_capped ? "+" : "", st->backlog_rows == 1 ? "" : "s",
	    st->oldest_id, st->oldest_committed, age);
}

static void
db_status_elog_json(const struct db_elog_status *st)
{
	char ret[32], keep_from[16];
	int publishing = lc.cfg.kafka_brokers[0] != '\0';

	config_format_duration(lc.cfg.event_log_retention_ms, ret, sizeof(ret));
	db_status_keep_from(keep_from, sizeof(keep_from));
	printf("{\"retention\":");
	json_str(ret);
	printf(",\"retention_days\":%" PRId64 ",\"keep_from\":\"%s\",\"publishing\":%s,"
	    "\"partitions\":[", (lc.cfg.event_log_retention_ms + 86399999) / 86400000, keep_from,
	    publishing ? "true" : "false");
	for (size_t i = 0; i < st->nparts; i++) {
		const struct db_elog_part *p = &st->parts[i];

		printf("%s{\"name\":", i ? "," : "");
		json_str(p->name);
		printf(",\"day\":");
		json_str(p->day[0] ? p->day : NULL);
		printf(",\"default\":%s,\"rows\":%" PRId64 ",\"rows_estimated\":%s,"
		    "\"rows_capped\":%s,\"bytes\":%" PRId64 ",\"unpublished\":%" PRId64
		    ",\"unpublished_capped\":%s,\"past_retention\":%s}",
		    p->is_default ? "true" : "false", p->rows, p->rows_estimated ? "true" : "false",
		    p->rows_capped ? "true" : "false", p->bytes, p->unpublished,
		    p->unpublished_capped ? "true" : "false",
		    p->day[0] && strcmp(p->day, keep_from) < 0 ? "true" : "false");
	}
	printf("],\"relay\":{\"published_through\":%" PRId64 ",\"updated_at\":",
	    st->published_through);
	json_str(st->relay_updated);
	printf(",\"updated_age_ms\":%" PRId64 "},\"backlog\":{\"rows\":%" PRId64
	    ",\"rows_capped\":%s,\"oldest_id\":", st->relay_updated_age_ms, st->backlog_rows,
	    st->backlog_capped ? "true" : "false");
	if (st->oldest_id == 0)
		printf("null,\"oldest_committed_at\":null,\"oldest_age_ms\":null}}");
	else {
		printf("%" PRId64 ",\"oldest_committed_at\":", st->oldest_id);
		json_str(st->oldest_committed);
		printf(",\"oldest_age_ms\":%" PRId64 "}}", st->oldest_age_ms);
	}
}

static int
cmd_db(int argc, char *argv[])
{
	size_t pending[db_nmigrations > 0 ? db_nmigrations : 1], n;
	struct db_elog_status st;
	char err[1024];
	int version, elog;

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
	/* event_log is partitioned, with its relay watermark, from version 4 on. */
	elog = version >= 4;
	if (elog && db_event_log_status(lc.conn, &st, err, sizeof(err)) == -1)
		lc_fail(1, "db status: %s", err);
	if (lc.json) {
		printf("{\"version\":%d,\"latest\":%d,\"pending\":[", version, db_schema_latest());
		for (size_t i = 0; i < n; i++) {
			if (i)
				putchar(',');
			json_str(db_migrations[pending[i]].name);
		}
		printf("],\"event_log\":");
		if (elog)
			db_status_elog_json(&st);
		else
			printf("null");
		printf("}\n");
	} else {
		printf("schema version %d, this exfeedctl knows up to %d\n", version,
		    db_schema_latest());
		if (n == 0)
			printf("up to date\n");
		else {
			printf("pending:");
			for (size_t i = 0; i < n; i++)
				printf(" %s", db_migrations[pending[i]].name);
			printf("\nrun: exfeedctl db migrate\n");
		}
		if (elog)
			db_status_elog_text(&st);
	}
	if (elog)
		db_event_log_status_free(&st);
	return n ? 1 : 0;
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

/*
 * token --user ID [--ttl DURATION]: a JWT of the user for the gateway's
 * /ws/trading (and the /orders page), signed with [gateway]
 * jwt_secret_file, valid from now for the ttl (1h; 1s to 365d), on stdout.
 */
static int
cmd_token(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "ttl", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = lc.cfg.gateway_jwt_secret_file;
	unsigned char *key;
	size_t keylen;
	int64_t user = 0, ttl_ms = 3600 * 1000, now;
	char err[1024], *tok;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			user = lc_id(optarg, "--user");
			break;
		case 't':
			if (config_parse_duration_ms(optarg, &ttl_ms) == -1 || ttl_ms < 1000 ||
			    ttl_ms > 365LL * 24 * 3600 * 1000) {
				fprintf(stderr, "exfeedctl: --ttl \"%s\" is not a duration from 1s to "
				    "365d (a number with a unit: s, m, h, d)\n", optarg);
				usage();
			}
			break;
		default:
			usage();
		}
	}
	if (optind != argc || user < 1) {
		fprintf(stderr, "exfeedctl: token needs --user ID (a platform user id >= 1)\n");
		usage();
	}
	if (path == NULL || path[0] == '\0') {
		fprintf(stderr, "%s: [gateway] jwt_secret_file is not set: the gateway takes no "
		    "tokens\n", lc.cfg.file);
		return EX_CONFIG_STATUS;
	}
	if (jwt_secret_load(path, &key, &keylen, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s:%d: [gateway] jwt_secret_file: %s\n", lc.cfg.file,
		    config_line_of(&lc.cfg, "gateway", "jwt_secret_file"), err);
		return EX_CONFIG_STATUS;
	}
	now = (int64_t)time(NULL);
	tok = jwt_sign_hs256(user, now, now + ttl_ms / 1000, key, keylen);
	crypto_wipe(key, keylen);
	free(key);
	if (tok == NULL) {
		fprintf(stderr, "exfeedctl: out of memory\n");
		return 1;
	}
	printf("%s\n", tok);
	crypto_wipe(tok, strlen(tok));
	free(tok);
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
	else if (strcmp(argv[0], "token") == 0)
		rc = cmd_token(argc, argv);
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
	else if (strcmp(cmd, "metrics") == 0) {
		const msgpack_object *t = mp_get(&unp.data, "text");

		/* The exposition as is: what promtool and a scraper read. */
		if (t && t->type == MSGPACK_OBJECT_STR)
			fwrite(t->via.str.ptr, 1, t->via.str.size, stdout);
	}
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

/* ------------------------------------------------------------------ replay */

/*
 * exfeedctl replay: a window of event_log, by the exchange's event time E
 * (exchange_time), published again in commit order (ascending id) with the
 * relay's messages (kafka.c: the same topics, keys, headers and values),
 * under a topic prefix if asked.  Rows are read a page at a time by keyset
 * on id, each page its own statement (no long transaction holds back the
 * writer's partition upkeep); at most [kafka] relay_window messages wait
 * for their delivery reports.  Every wait has a deadline: a page read
 * REPLAY_QUERY_MS, room in the window and the last reports the producer's
 * delivery timeout + REPLAY_MARGIN_MS.  A delivery that fails for a reason
 * that is not the message's own (the brokers are down, a topic is missing)
 * stops the reading: the rest would fail the same way.
 *
 * Partition pruning.  event_log is partitioned by the UTC day of each row's
 * fact time.  That is E itself only for margin calls and unknown events;
 * an order's, algo order's, position's, balance's or config's fact time is
 * its update time and a fill's its trade time, which a resync brings with
 * an E of the resync (an order opened weeks ago, a balance untouched
 * since): no lower bound on the day holds for them.  A fact time never
 * follows E by more than the clocks differ (on the stream both come from
 * the exchange, T before E; a REST row's E is our clock after the answer,
 * and a signed request is refused when our clock trails the exchange's by
 * more than its recvWindow, 60 s at most), so the day is bounded from
 * above always, with a day of margin, and from below only for --type
 * margin_call or unknown.
 */
#define REPLAY_PAGE_ROWS	5000
#define REPLAY_QUERY_MS		(5 * 60 * 1000)	/* one page read, at most */
#define REPLAY_MARGIN_MS	5000		/* past the delivery timeout, for the last reports */
#define REPLAY_PROGRESS_MS	500
#define REPLAY_DAY_MS		86400000LL

static const char *const replay_type_names[] = { "order", "fill", "algo", "position",
	"balance", "margin_call", "config", "unknown", NULL };

static struct {
	rd_kafka_t	*rk;
	const char	*prefix;
	int64_t		 timeout_ms;	/* the producer's message.timeout.ms */
	uint64_t	 window;	/* messages in flight, at most */
	struct strbuf	 value;
	/* By enum ev_type (0: a type with no topic). */
	uint64_t	 rows[CONF_KAFKA_TOPICS], produced[CONF_KAFKA_TOPICS],
			 delivered[CONF_KAFKA_TOPICS], failed[CONF_KAFKA_TOPICS];
	uint64_t	 read, in_flight, unacked;
	int64_t		 last_id;	/* of the last row handed to the producer */
	int		 stop;		/* read no more: deliveries fail, or the producer did */
	int		 deadline_passed;
	int		 closed;	/* the end: reports no longer counted */
	char		 dr_error[256], kafka_error[512], row_error[512], db_error[1024];
	int		 progress;	/* stderr is a terminal */
	int64_t		 start_us, progress_at_us;
} rp;

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (Hinnant's days_from_civil). */
static int64_t
replay_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
replay_digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/*
 * TIME: epoch milliseconds, or RFC 3339 (2026-12-01T10:00:00Z, "t" or a
 * space for "T", fractional seconds, "Z" or an offset +HH:MM).  A fraction
 * finer than a millisecond rounds up: exchange_time is whole milliseconds,
 * and E >= t (or E < t) holds exactly when E >= ceil(t).  -1 if not a time.
 */
static int
replay_time(const char *s, int64_t *ms)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int Y, M, D, h, mi, sec, oh = 0, om = 0, sign = 0, frac = 0, up = 0, leap;
	const char *p;
	size_t n = strspn(s, "0123456789");

	if (n > 0 && s[n] == '\0') {
		if (n > 15)
			return -1;
		*ms = strtoll(s, NULL, 10);
		return 0;
	}
	if (strlen(s) < 20 || replay_digits(s, 4, &Y) || s[4] != '-' ||
	    replay_digits(s + 5, 2, &M) || s[7] != '-' || replay_digits(s + 8, 2, &D) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || replay_digits(s + 11, 2, &h) ||
	    s[13] != ':' || replay_digits(s + 14, 2, &mi) || s[16] != ':' ||
	    replay_digits(s + 17, 2, &sec))
		return -1;
	p = s + 19;
	if (*p == '.') {
		int nd = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, nd++) {
			if (nd < 3)
				frac = frac * 10 + (*p - '0');
			else if (*p != '0')
				up = 1;
		}
		if (nd == 0)
			return -1;
		for (; nd < 3; nd++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (replay_digits(p + 1, 2, &oh) || p[3] != ':' || replay_digits(p + 4, 2, &om))
			return -1;
		p += 6;
	} else
		return -1;
	leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (*p != '\0' || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && leap) ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -1;
	/* A leap second (:60) is the first millisecond of the next minute, as timegm has it. */
	*ms = replay_days(Y, M, D) * REPLAY_DAY_MS + ((int64_t)h * 3600 + mi * 60 + sec) * 1000 +
	    frac + up - (int64_t)sign * (oh * 60 + om) * 60000;
	return 0;
}

/* ms as RFC 3339 UTC with milliseconds. */
static const char *
replay_fmt_time(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (int)(ms - (int64_t)s * 1000));
	return buf;
}

/* The UTC day of ms, as a number of days since 1970-01-01 (floor). */
static int64_t
replay_day(int64_t ms)
{
	return ms >= 0 ? ms / REPLAY_DAY_MS : -((-ms + REPLAY_DAY_MS - 1) / REPLAY_DAY_MS);
}

/* A message from librdkafka, with the value of every rdkafka.* secret as "(hidden)". */
static void
replay_scrub(char *msg, size_t len)
{
	for (size_t i = 0; i < lc.cfg.kafka_nprops; i++) {
		const char *v = lc.cfg.kafka_props[i].value;
		size_t vl = v ? strlen(v) : 0;
		char *q = msg;

		if (vl == 0 || !config_kafka_prop_secret(lc.cfg.kafka_props[i].name))
			continue;
		/* Past each replacement: a value may occur in "(hidden)" itself. */
		while ((q = strstr(q, v)) != NULL) {
			char rest[1024];

			snprintf(rest, sizeof(rest), "%s", q + vl);
			snprintf(q, len - (size_t)(q - msg), "(hidden)%s", rest);
			q += strlen(q) < 8 ? strlen(q) : 8;
		}
	}
}

static int
replay_permanent(rd_kafka_resp_err_t e)
{
	/* The message's own fault: the others may go. */
	return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_MSG ||
	    e == RD_KAFKA_RESP_ERR_INVALID_RECORD || e == RD_KAFKA_RESP_ERR__INVALID_ARG ||
	    e == RD_KAFKA_RESP_ERR__BAD_MSG;
}

static void
replay_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	size_t t = (size_t)(uintptr_t)m->_private;

	if (rp.closed)
		return;
	if (t >= CONF_KAFKA_TOPICS)
		t = 0;
	if (rp.in_flight > 0)
		rp.in_flight--;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		rp.delivered[t]++;
		return;
	}
	rp.failed[t]++;
	if (rp.dr_error[0] == '\0')
		snprintf(rp.dr_error, sizeof(rp.dr_error), "%s", rd_kafka_err2str(m->err));
	if (!replay_permanent(m->err))
		rp.stop = 1;
}

static void
replay_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	snprintf(rp.kafka_error, sizeof(rp.kafka_error), "%s", reason);
	replay_scrub(rp.kafka_error, sizeof(rp.kafka_error));
}

static uint64_t
replay_sum(const uint64_t *v)
{
	uint64_t n = 0;

	for (int t = 0; t < CONF_KAFKA_TOPICS; t++)
		n += v[t];
	return n;
}

/* The progress line, on a terminal only, at most every REPLAY_PROGRESS_MS; last ends it. */
static void
replay_progress(int last)
{
	int64_t now = clock_mono_us();
	double s;

	if (!rp.progress || (!last && now < rp.progress_at_us))
		return;
	rp.progress_at_us = now + REPLAY_PROGRESS_MS * 1000;
	s = (double)(now - rp.start_us) / 1e6;
	fprintf(stderr, "\rreplay: %" PRIu64 " read, %" PRIu64 " produced, %" PRIu64
	    " delivered, %" PRIu64 " failed, %.0f rows/s\033[K%s", rp.read,
	    replay_sum(rp.produced), replay_sum(rp.delivered), replay_sum(rp.failed),
	    s > 0 ? (double)replay_sum(rp.delivered) / s : 0., last ? "\n" : "");
	fflush(stderr);
}

/* Serve the producer: delivery reports, errors, librdkafka's log lines. */
static void
replay_poll(int timeout_ms)
{
	char why[256];

	rd_kafka_poll(rp.rk, timeout_ms);
	if (!rp.stop && rd_kafka_fatal_error(rp.rk, why, sizeof(why)) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		replay_scrub(why, sizeof(why));
		snprintf(rp.kafka_error, sizeof(rp.kafka_error), "the producer failed for good: %s",
		    why);
		rp.stop = 1;
	}
	replay_progress(0);
}

/*
 * One page of rows, read while the producer is served; NULL with
 * rp.db_error set on failure (or after REPLAY_QUERY_MS).
 */
static PGresult *
replay_read(const char *sql, int n, const char *const *v)
{
	int64_t deadline = clock_mono_us() + (int64_t)REPLAY_QUERY_MS * 1000;
	PGresult *r, *first = NULL;

	if (!PQsendQueryParams(lc.conn, sql, n, NULL, v, NULL, NULL, 0))
		goto fail;
	while (PQisBusy(lc.conn)) {
		struct pollfd pfd = { .fd = PQsocket(lc.conn), .events = POLLIN };

		if (clock_mono_us() > deadline) {
			char e[256];
			PGcancel *c = PQgetCancel(lc.conn);

			if (c != NULL) {
				PQcancel(c, e, sizeof(e));
				PQfreeCancel(c);
			}
			snprintf(rp.db_error, sizeof(rp.db_error), "reading a page of event_log "
			    "took longer than %d s; cancelled", REPLAY_QUERY_MS / 1000);
			return NULL;
		}
		if (poll(&pfd, 1, 100) == -1 && errno != EINTR) {
			snprintf(rp.db_error, sizeof(rp.db_error), "poll: %s", strerror(errno));
			return NULL;
		}
		if (!PQconsumeInput(lc.conn))
			goto fail;
		replay_poll(0);
	}
	while ((r = PQgetResult(lc.conn)) != NULL) {
		if (first == NULL)
			first = r;
		else
			PQclear(r);
	}
	if (first != NULL && PQresultStatus(first) == PGRES_TUPLES_OK)
		return first;
	if (first != NULL) {
		snprintf(rp.db_error, sizeof(rp.db_error), "reading event_log: %s",
		    PQresultErrorMessage(first));
		PQclear(first);
		rp.db_error[strcspn(rp.db_error, "\n")] = '\0';
		return NULL;
	}
fail:
	snprintf(rp.db_error, sizeof(rp.db_error), "reading event_log: %s",
	    PQerrorMessage(lc.conn));
	rp.db_error[strcspn(rp.db_error, "\n")] = '\0';
	return NULL;
}

/* Hand one row to the producer, waiting for room first.  -1: stopped, the row not taken. */
static int
replay_row(const struct kafka_row *row)
{
	int64_t deadline = clock_mono_us() + (rp.timeout_ms + REPLAY_MARGIN_MS) * 1000;
	rd_kafka_resp_err_t e;
	char err[256];
	int t = kafka_type(row->event_type);

	if (t <= 0 || t >= CONF_KAFKA_TOPICS)
		t = 0;
	for (;;) {
		while (rp.in_flight >= rp.window && !rp.stop) {
			if (clock_mono_us() > deadline) {
				rp.stop = rp.deadline_passed = 1;
				break;
			}
			replay_poll(100);
		}
		if (rp.stop)
			return -1;
		e = kafka_produce_row(rp.rk, &lc.cfg, rp.prefix, row, (void *)(uintptr_t)t,
		    &rp.value, err, sizeof(err));
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		/* librdkafka's own queue is full: serve it and try again. */
		if (clock_mono_us() > deadline) {
			rp.stop = rp.deadline_passed = 1;
			return -1;
		}
		replay_poll(100);
	}
	rp.rows[t]++;
	rp.last_id = row->id;
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
		rp.produced[t]++;
		rp.in_flight++;
		return 0;
	}
	rp.failed[t]++;
	if (rp.row_error[0] == '\0') {
		snprintf(rp.row_error, sizeof(rp.row_error), "event_log id %" PRId64 ": %s",
		    row->id, err);
		replay_scrub(rp.row_error, sizeof(rp.row_error));
	}
	if (!replay_permanent(e))
		rp.stop = 1;
	return 0;
}

/*
 * [kafka] brokers = embedded: the address the running daemon's broker
 * worker listens on, from its status reply (kafka.bootstraps); it changes
 * with every start of that worker.  Exit 69 when there is none to use.
 */
static void
replay_embedded(const char *sock, char *out, size_t len)
{
	const msgpack_object *k, *workers;
	const char *err = NULL;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked unp;
	struct ipc_hdr h;
	unsigned char *buf = NULL;
	char brokers[1024] = "", bstate[32] = "";
	int fd;

	if ((fd = ctl_connect(sock)) == -1)
		lc_fail(EX_UNAVAILABLE_STATUS, "replay: [kafka] brokers is embedded, and the "
		    "embedded broker's address comes from the running daemon: cannot connect to "
		    "%s: %s (is exfeedd running? or pass --brokers HOST:PORT)", sock,
		    strerror(errno));
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_kv_str(&pk, "cmd", "status");
	msgpack_unpacked_init(&unp);
	if (ipc_write_frame(fd, IPC_CTL_REQUEST, 1, sb.data, sb.size) == -1 ||
	    ipc_read_frame(fd, IPC_ACCEPT_CTL_CLIENT, 1, 10000, &buf, &h, &unp, &err) == -1) {
		const char *why = err ? err : strerror(errno);

		lc_fail(EX_UNAVAILABLE_STATUS, "replay: no status reply from exfeedd on %s: %s "
		    "(the embedded broker's address comes from it; or pass --brokers HOST:PORT)",
		    sock, why);
	}
	msgpack_sbuffer_destroy(&sb);
	close(fd);
	k = mp_get(&unp.data, "kafka");
	if (k == NULL || mp_get_str(k, "brokers", brokers, sizeof(brokers)) == -1 ||
	    mp_get_str(k, "bootstraps", out, len) == -1)
		out[0] = '\0';
	workers = mp_get(&unp.data, "workers");
	for (uint32_t i = 0; workers && workers->type == MSGPACK_OBJECT_ARRAY &&
	    i < workers->via.array.size; i++) {
		char role[32];

		if (mp_get_str(&workers->via.array.ptr[i], "role", role, sizeof(role)) == 0 &&
		    strcmp(role, "broker") == 0)
			mp_get_str(&workers->via.array.ptr[i], "state", bstate, sizeof(bstate));
	}
	msgpack_unpacked_destroy(&unp);
	free(buf);
	if (strcmp(brokers, "embedded") != 0)
		lc_fail(EX_UNAVAILABLE_STATUS, "replay: the running exfeedd (on %s) has no embedded "
		    "broker: its [kafka] brokers is \"%s\" (another configuration file?); pass "
		    "--brokers", sock, brokers);
	if (out[0] == '\0' || strcmp(bstate, "ready") != 0)
		lc_fail(EX_UNAVAILABLE_STATUS, "replay: the embedded broker is not ready (broker "
		    "worker %s%s%s): its next start listens on a new port; try again when "
		    "`exfeedctl status` shows it ready", bstate[0] ? bstate : "absent",
		    out[0] ? ", last address " : "", out);
}

static void
replay_json_counts(const char *name, const uint64_t *v)
{
	printf(",\"%s\":%" PRIu64, name, replay_sum(v));
}

/* The summary: a table on stdout, or one JSON object with --json. */
static void
replay_summary(const char *brokers, int64_t from, int64_t to, const char *filters,
    double seconds, int complete)
{
	char f[64], t2[64], topic[512];
	int first = 1;

	replay_fmt_time(from, f, sizeof(f));
	replay_fmt_time(to, t2, sizeof(t2));
	if (lc.json) {
		printf("{\"ok\":%s,\"from\":", complete ? "true" : "false");
		json_str(f);
		printf(",\"to\":");
		json_str(t2);
		printf(",\"from_ms\":%" PRId64 ",\"to_ms\":%" PRId64 ",\"filters\":", from, to);
		json_str(filters);
		printf(",\"topic_prefix\":");
		json_str(rp.prefix ? rp.prefix : "");
		printf(",\"brokers\":");
		json_str(brokers);
		printf(",\"format\":\"%s\"", lc.cfg.kafka_format == CONF_KAFKA_PROTOBUF ?
		    "protobuf" : "json");
		replay_json_counts("rows", rp.rows);
		replay_json_counts("produced", rp.produced);
		replay_json_counts("delivered", rp.delivered);
		replay_json_counts("failed", rp.failed);
		printf(",\"unacknowledged\":%" PRIu64 ",\"stopped_after_id\":", rp.unacked);
		if (rp.stop || rp.db_error[0])
			printf("%" PRId64, rp.last_id);
		else
			printf("null");
		printf(",\"seconds\":%.3f,\"topics\":[", seconds);
		for (int t = 0; t < CONF_KAFKA_TOPICS; t++) {
			if (rp.rows[t] == 0)
				continue;
			snprintf(topic, sizeof(topic), "%s%s", rp.prefix ? rp.prefix : "",
			    t > 0 && lc.cfg.kafka_topic[t] ? lc.cfg.kafka_topic[t] : "");
			printf("%s{\"type\":", first ? "" : ",");
			json_str(t > 0 ? ev_type_name((unsigned)t) : "?");
			printf(",\"topic\":");
			json_str(t > 0 ? topic : NULL);
			printf(",\"rows\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"failed\":%" PRIu64
			    "}", rp.rows[t], rp.delivered[t], rp.failed[t]);
			first = 0;
		}
		printf("],\"error\":");
		json_str(rp.db_error[0] ? rp.db_error : rp.row_error[0] ? rp.row_error :
		    rp.dr_error[0] ? rp.dr_error : rp.kafka_error[0] && !complete ?
		    rp.kafka_error : NULL);
		printf("}\n");
		return;
	}
	printf("event_log, exchange_time %s to %s%s%s, to %s:\n", f, t2, filters[0] ? ", " : "",
	    filters, brokers);
	printf("%-12s %-36s %10s %10s %8s\n", "TYPE", "TOPIC", "ROWS", "DELIVERED", "FAILED");
	for (int t = 0; t < CONF_KAFKA_TOPICS; t++) {
		if (rp.rows[t] == 0)
			continue;
		snprintf(topic, sizeof(topic), "%s%s", rp.prefix ? rp.prefix : "",
		    t > 0 && lc.cfg.kafka_topic[t] ? lc.cfg.kafka_topic[t] : "-");
		printf("%-12s %-36s %10" PRIu64 " %10" PRIu64 " %8" PRIu64 "\n",
		    t > 0 ? ev_type_name((unsigned)t) : "?", topic, rp.rows[t], rp.delivered[t],
		    rp.failed[t]);
	}
	printf("%-12s %-36s %10" PRIu64 " %10" PRIu64 " %8" PRIu64 "\n", "total", "",
	    replay_sum(rp.rows), replay_sum(rp.delivered), replay_sum(rp.failed));
	printf("%" PRIu64 " row%s replayed in %.1f s", replay_sum(rp.delivered),
	    replay_sum(rp.delivered) == 1 ? "" : "s", seconds);
	if (seconds > 0 && replay_sum(rp.delivered) > 0)
		printf(" (%.0f rows/s)", (double)replay_sum(rp.delivered) / seconds);
	printf("\n");
	if (rp.unacked)
		printf("not acknowledged within the deadline (delivery timeout %.1f s + %.1f s): "
		    "%" PRIu64 "\n", (double)rp.timeout_ms / 1000, REPLAY_MARGIN_MS / 1000.,
		    rp.unacked);
	if (rp.row_error[0])
		printf("first row that could not be sent: %s\n", rp.row_error);
	if (rp.dr_error[0])
		printf("first failed delivery: %s\n", rp.dr_error);
	if (rp.kafka_error[0] && !complete)
		printf("last producer error: %s\n", rp.kafka_error);
	if (rp.db_error[0])
		printf("database: %s\n", rp.db_error);
	if (rp.stop || rp.db_error[0])
		printf("stopped: the rows of the window after event_log id %" PRId64 " were not "
		    "sent\n", rp.last_id);
}

static void __attribute__((noreturn))
replay_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("exfeedctl replay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	lc_cleanup();
	usage();
}

static int64_t
replay_id(const char *s, const char *opt)
{
	int64_t v;

	if (s[0] == '\0' || s[strspn(s, "0123456789")] != '\0')
		replay_usage("%s \"%s\": an id is a positive integer", opt, s);
	v = lc_id(s, opt);
	if (v == 0)
		replay_usage("%s 0: an id is a positive integer", opt);
	return v;
}

/* exfeedctl replay: the options, the brokers, then the rows page by page. */
static int
replay_main(const char *config_path, const char *sock, int json, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "account", required_argument, NULL, 'a' },
		{ "user", required_argument, NULL, 'u' },
		{ "type", required_argument, NULL, 'T' },
		{ "topic-prefix", required_argument, NULL, 'p' },
		{ "brokers", required_argument, NULL, 'b' },
		{ "format", required_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *from_s = NULL, *to_s = NULL, *type = NULL, *brokers = NULL, *format = NULL;
	const char *v[8];
	char sql[1024], filters[256] = "", bootstraps[1024], err[1024], num[8][32], value[64];
	char fbuf[64], tbuf[64];
	int64_t from = 0, to = 0, account = 0, user = 0, t0, deadline;
	size_t fl = 0, sl;
	int ch, n = 0, complete;
	double seconds;

	optind = 0;
	while ((ch = ctl_getopt("exfeedctl replay", argc, argv, ":", opts)) != -1) {
		switch (ch) {
		case 'f':
			from_s = optarg;
			break;
		case 't':
			to_s = optarg;
			break;
		case 'a':
			account = replay_id(optarg, "--account");
			break;
		case 'u':
			user = replay_id(optarg, "--user");
			break;
		case 'T':
			type = optarg;
			break;
		case 'p':
			rp.prefix = optarg;
			break;
		case 'b':
			brokers = optarg;
			break;
		case 'F':
			format = optarg;
			break;
		case 'j':
			json = 1;
			break;
		}
	}
	if (optind != argc)
		replay_usage("unexpected argument \"%s\"", argv[optind]);
	if (from_s == NULL || to_s == NULL)
		replay_usage("needs --from TIME and --to TIME");
	if (replay_time(from_s, &from) == -1)
		replay_usage("--from \"%s\" is not a time: RFC 3339 with a zone "
		    "(2026-12-01T10:00:00Z, 2026-12-01T11:00:00.250+01:00) or epoch milliseconds",
		    from_s);
	if (replay_time(to_s, &to) == -1)
		replay_usage("--to \"%s\" is not a time: RFC 3339 with a zone "
		    "(2026-12-01T10:00:00Z, 2026-12-01T11:00:00.250+01:00) or epoch milliseconds",
		    to_s);
	if (from >= to)
		replay_usage("--from %s is not before --to %s: the window [from, to) is empty",
		    replay_fmt_time(from, fbuf, sizeof(fbuf)), replay_fmt_time(to, tbuf, sizeof(tbuf)));
	if (type != NULL) {
		size_t i;

		for (i = 0; replay_type_names[i] && strcmp(replay_type_names[i], type) != 0; i++)
			;
		if (replay_type_names[i] == NULL)
			replay_usage("--type \"%s\": not one of order, fill, algo, position, balance, "
			    "margin_call, config, unknown", type);
	}
	if (rp.prefix != NULL) {
		/* Kafka topic names: [a-zA-Z0-9._-], at most 249 bytes; ours are up to 26. */
		if (rp.prefix[strspn(rp.prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-")] != '\0' || strlen(rp.prefix) > 200)
			replay_usage("--topic-prefix \"%s\": a topic name holds only letters, digits, "
			    "'.', '_' and '-', and the prefix at most 200 of them", rp.prefix);
	}
	if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "protobuf") != 0)
		replay_usage("--format \"%s\": json or protobuf", format);
	if (brokers != NULL && brokers[0] == '\0')
		replay_usage("--brokers is empty: give HOST:PORT[,HOST:PORT...] or embedded");

	lc.json = json;
	lc_config(config_path);
	if (format != NULL)
		lc.cfg.kafka_format = strcmp(format, "json") == 0 ? CONF_KAFKA_JSON :
		    CONF_KAFKA_PROTOBUF;
	if (brokers == NULL)
		brokers = lc.cfg.kafka_brokers;
	if (brokers[0] == '\0') {
		fprintf(stderr, "%s:%d: publishing is off ([kafka] brokers is empty); set it or pass "
		    "--brokers\n", lc.cfg.file, config_line_of(&lc.cfg, "kafka", "brokers"));
		lc_cleanup();
		return EX_CONFIG_STATUS;
	}
	if (strcmp(brokers, "embedded") == 0)
		replay_embedded(sock ? sock : lc.cfg.control_socket, bootstraps, sizeof(bootstraps));
	else
		snprintf(bootstraps, sizeof(bootstraps), "%s", brokers);
	lc_connect(1);

	rp.rk = kafka_producer_new(&lc.cfg, bootstraps, "exfeedctl-replay", replay_dr_cb,
	    replay_error_cb, err, sizeof(err));
	if (rp.rk == NULL) {
		replay_scrub(err, sizeof(err));
		lc_fail(1, "replay: cannot create the Kafka producer: %s", err);
	}
	/* The timeout in force: an rdkafka.* line may not set it, but read what librdkafka has. */
	sl = sizeof(value);
	rp.timeout_ms = lc.cfg.kafka_delivery_timeout_ms;
	if (rd_kafka_conf_get(rd_kafka_conf(rp.rk), "message.timeout.ms", value, &sl) ==
	    RD_KAFKA_CONF_OK && atoll(value) > 0)
		rp.timeout_ms = atoll(value);
	rp.window = (uint64_t)lc.cfg.kafka_relay_window;
	rp.progress = isatty(2);

	/* $1 the keyset cursor, then the window and the filters. */
	fl = (size_t)snprintf(sql, sizeof(sql), "SELECT " WSQL_LOG_RETURNING " FROM event_log l "
	    "WHERE l.id > $1 AND l.exchange_time >= $2 AND l.exchange_time < $3 "
	    "AND l.day <= date '1970-01-01' + $4::integer");
	snprintf(num[1], sizeof(num[1]), "%" PRId64, from);
	snprintf(num[2], sizeof(num[2]), "%" PRId64, to);
	snprintf(num[3], sizeof(num[3]), "%" PRId64, replay_day(to - 1) + 1);
	v[1] = num[1];
	v[2] = num[2];
	v[3] = num[3];
	n = 4;
	if (type != NULL && (strcmp(type, "margin_call") == 0 || strcmp(type, "unknown") == 0)) {
		/* Their fact time is E: the day is bounded from below too. */
		snprintf(num[n], sizeof(num[n]), "%" PRId64, replay_day(from) - 1);
		v[n] = num[n];
		n++;
		fl += (size_t)snprintf(sql + fl, sizeof(sql) - fl,
		    " AND l.day >= date '1970-01-01' + $%d::integer", n);
	}
	if (account) {
		snprintf(num[n], sizeof(num[n]), "%" PRId64, account);
		v[n] = num[n];
		n++;
		fl += (size_t)snprintf(sql + fl, sizeof(sql) - fl, " AND l.account_id = $%d", n);
	}
	if (user) {
		snprintf(num[n], sizeof(num[n]), "%" PRId64, user);
		v[n] = num[n];
		n++;
		fl += (size_t)snprintf(sql + fl, sizeof(sql) - fl, " AND l.user_id = $%d", n);
	}
	if (type) {
		v[n++] = type;
		fl += (size_t)snprintf(sql + fl, sizeof(sql) - fl, " AND l.event_type = $%d", n);
	}
	snprintf(sql + fl, sizeof(sql) - fl, " ORDER BY l.id LIMIT %d", REPLAY_PAGE_ROWS);
	{
		size_t o = 0;

		if (account)
			o += (size_t)snprintf(filters + o, sizeof(filters) - o, "account %" PRId64,
			    account);
		if (user)
			o += (size_t)snprintf(filters + o, sizeof(filters) - o, "%suser %" PRId64,
			    o ? ", " : "", user);
		if (type)
			snprintf(filters + o, sizeof(filters) - o, "%stype %s", o ? ", " : "", type);
	}

	t0 = rp.start_us = clock_mono_us();
	for (;;) {
		PGresult *r;
		struct kafka_row row;
		int i, rows;

		snprintf(num[0], sizeof(num[0]), "%" PRId64, rp.last_id);
		v[0] = num[0];
		if ((r = replay_read(sql, n, v)) == NULL)
			break;
		rows = PQntuples(r);
		rp.read += (uint64_t)rows;
		for (i = 0; i < rows; i++) {
			if (kafka_row_get(r, i, &row) == -1) {
				snprintf(rp.db_error, sizeof(rp.db_error), "reading event_log: a row "
				    "of an unexpected shape");
				break;
			}
			if (replay_row(&row) == -1)
				break;
		}
		PQclear(r);
		if (i < rows || rows < REPLAY_PAGE_ROWS)
			break;
	}

	/* The last reports, within the delivery timeout and a margin. */
	deadline = clock_mono_us() + (rp.timeout_ms + REPLAY_MARGIN_MS) * 1000;
	while (rp.in_flight > 0 && clock_mono_us() < deadline) {
		rd_kafka_flush(rp.rk, 100);
		replay_poll(0);
	}
	rp.unacked = rp.in_flight;
	if (rp.unacked)
		rp.deadline_passed = 1;
	rp.closed = 1;
	rd_kafka_purge(rp.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
	    RD_KAFKA_PURGE_F_NON_BLOCKING);
	rd_kafka_poll(rp.rk, 0);
	rd_kafka_destroy(rp.rk);
	rp.rk = NULL;
	seconds = (double)(clock_mono_us() - t0) / 1e6;
	replay_progress(1);

	complete = !rp.stop && !rp.deadline_passed && rp.db_error[0] == '\0' &&
	    replay_sum(rp.failed) == 0 && rp.unacked == 0;
	replay_summary(bootstraps, from, to, filters, seconds, complete);
	fflush(stdout);
	if (!complete) {
		fprintf(stderr, "exfeedctl: replay: incomplete: %" PRIu64 " of %" PRIu64 " row%s "
		    "sent delivered, %" PRIu64 " failed%s%s%s, %" PRIu64 " not acknowledged within "
		    "the deadline (%.1f s)", replay_sum(rp.delivered), replay_sum(rp.rows),
		    replay_sum(rp.rows) == 1 ? "" : "s", replay_sum(rp.failed),
		    rp.dr_error[0] || rp.row_error[0] ? " (" : "",
		    rp.dr_error[0] ? rp.dr_error : rp.row_error,
		    rp.dr_error[0] || rp.row_error[0] ? ")" : "", rp.unacked,
		    (double)(rp.timeout_ms + REPLAY_MARGIN_MS) / 1000);
		if (rp.stop || rp.db_error[0])
			fprintf(stderr, "; stopped after event_log id %" PRId64 ", the rest of the "
			    "window not sent%s%s", rp.last_id, rp.db_error[0] ? ": " : "",
			    rp.db_error[0] ? rp.db_error : rp.kafka_error[0] && !rp.dr_error[0] ?
			    rp.kafka_error : "");
		fputc('\n', stderr);
	}
	free(rp.value.p);
	lc_cleanup();
	return complete ? 0 : 1;
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
	if (strcmp(cmd, "replay") == 0)
		return replay_main(config_path, sock, json, argc - optind, argv + optind);
	if (strcmp(cmd, "db") == 0 || strcmp(cmd, "account") == 0 || strcmp(cmd, "keygen") == 0 ||
	    strcmp(cmd, "rotate-key") == 0 || strcmp(cmd, "preflight") == 0 ||
	    strcmp(cmd, "token") == 0)
		return local_main(config_path, json, argc - optind, argv + optind);
	if (strcmp(cmd, "accounts") == 0 && optind == argc - 2 &&
	    strcmp(argv[argc - 1], "--json") == 0) {
		json = 1;
		argc--;
	}
	if (optind != argc - 1)
		usage();
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "reload") != 0 && strcmp(cmd, "stop") != 0 &&
	    strcmp(cmd, "accounts") != 0 && strcmp(cmd, "metrics") != 0) {
		fprintf(stderr, "exfeedctl: unknown command \"%s\"\n", cmd);
		usage();
	}
	return ctl_main(config_path, sock, cmd, json);
}
