/*
 * preflight.c: `exfeedctl preflight`, every reason a start would fail, each
 * with its fix, checked the way the daemon will meet it: the [daemon] user
 * and group, the master key (its mode, and its owner when the daemon drops
 * to that user), the database as that user (reachable, migrated), the log
 * target (a syslog that nobody reads is silence), the runtime directory,
 * and every exchange URL's host name.
 */
#include "autoconf.h"

#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "crypto.h"
#include "db.h"
#include "exfeedd.h"
#include "log.h"
#include "preflight.h"


struct pf {
	FILE		*out;
	int		 failed;
	int		 warned;
};

static void
pf_ok(struct pf *pf, const char *what)
{
	fprintf(pf->out, "ok    %s\n", what);
}

/* One finding: "FAIL" stops a start; "warn" works, not as the operator may expect. */
static void
pf_report(struct pf *pf, const char *level, const char *what, const char *why,
    const char *fix)
{
	if (strcmp(level, "FAIL") == 0)
		pf->failed++;
	else
		pf->warned++;
	fprintf(pf->out, "%-4s  %s: %s\n", level, what, why);
	if (fix != NULL && *fix != '\0')
		fprintf(pf->out, "      fix: %s\n", fix);
}
#define pf_fail(pf, what, why, fix)	pf_report(pf, "FAIL", what, why, fix)
#define pf_warn(pf, what, why, fix)	pf_report(pf, "warn", what, why, fix)


/* The user and group the daemon drops to; *uid and *gid are -1 when unknown. */
static void
pf_ids(struct pf *pf, const struct config *cfg, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(cfg->user);
	struct group *gr = getgrnam(cfg->group);
	char what[256], fix[512];

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	snprintf(what, sizeof(what), "[daemon] user %s", cfg->user);
	if (pw == NULL) {
		snprintf(fix, sizeof(fix), "useradd --system --user-group --home-dir /nonexistent "
		    "--shell /usr/sbin/nologin %s", cfg->user);
		pf_fail(pf, what, "no such user", fix);
	} else {
		*uid = pw->pw_uid;
		pf_ok(pf, what);
	}
	snprintf(what, sizeof(what), "[daemon] group %s", cfg->group);
	if (gr == NULL) {
		snprintf(fix, sizeof(fix), "groupadd --system %s (useradd --user-group makes it with "
		    "the user)", cfg->group);
		pf_fail(pf, what, "no such group", fix);
	} else {
		*gid = gr->gr_gid;
		pf_ok(pf, what);
	}
}

static void
pf_key(struct pf *pf, const struct config *cfg, uid_t uid, int drops)
{
	char what[512], why[1024], fix[1024];
	struct stat st;
	int rc;

	snprintf(what, sizeof(what), "[crypto] key_file %s", cfg->crypto_key_file);
	rc = crypto_key_check(cfg->crypto_key_file, drops ? uid : (uid_t)-1, cfg->user, why,
	    sizeof(why));
	if (rc == 0) {
		pf_ok(pf, what);
		return;
	}
	if (rc == -2)
		snprintf(fix, sizeof(fix), "chown %s %s", cfg->user, cfg->crypto_key_file);
	else if (stat(cfg->crypto_key_file, &st) == -1 && errno == ENOENT)
		snprintf(fix, sizeof(fix), "exfeedctl keygen %s%s%s%s%s", cfg->crypto_key_file,
		    drops ? " && chown " : "", drops ? cfg->user : "", drops ? " " : "",
		    drops ? cfg->crypto_key_file : "");
	else
		snprintf(fix, sizeof(fix), "chmod 600 %s", cfg->crypto_key_file);
	pf_fail(pf, what, why, fix);
}

/*
 * Connect and check the schema as the daemon will: as its user when it
 * drops to one (peer authentication maps the operating-system user), in a
 * child that takes that identity.  0 with *why empty when all is well.
 */
static int
pf_db_try(const struct config *cfg, uid_t uid, gid_t gid, int as_user, char *why, size_t len,
    int *schema)
{
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	*schema = 0;
	why[0] = '\0';
	if (!as_user) {
		PGconn *c = db_connect(cfg->db_conninfo, why, len);

		if (c == NULL)
			return -1;
		if (db_schema_check(c, why, len) == -1)
			*schema = 1;
		PQfinish(c);
		return *schema ? -1 : 0;
	}
	if (pipe(fds) == -1 || (pid = fork()) == -1) {
		snprintf(why, len, "cannot fork to connect as %s: %s", cfg->user, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char msg[1024] = "";
		PGconn *c;

		close(fds[0]);
		msg[0] = '0';
		if (setgroups(0, NULL) == -1 || setgid(gid) == -1 || setuid(uid) == -1)
			snprintf(msg + 1, sizeof(msg) - 1, "cannot become %s: %s", cfg->user,
			    strerror(errno));
		else if ((c = db_connect(cfg->db_conninfo, msg + 1, sizeof(msg) - 1)) == NULL)
			;
		else {
			if (db_schema_check(c, msg + 1, sizeof(msg) - 1) == -1)
				msg[0] = '1';
			PQfinish(c);
		}
		(void)!write(fds[1], msg, strlen(msg + 1) + 1);
		_exit(0);
	}
	close(fds[1]);
	do
		n = read(fds[0], why, len - 1);
	while (n == -1 && errno == EINTR);
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (n <= 0) {
		snprintf(why, len, "the check as %s gave no answer", cfg->user);
		return -1;
	}
	why[n] = '\0';
	*schema = why[0] == '1';
	memmove(why, why + 1, (size_t)n);
	return why[0] == '\0' ? 0 : -1;
}

static void
pf_db(struct pf *pf, const struct config *cfg, uid_t uid, gid_t gid, int drops)
{
	char what[256], why[1024], fix[1024];
	int schema;

	snprintf(what, sizeof(what), "[database] conninfo, as %s",
	    drops ? cfg->user : "this user");
	if (drops && (uid == (uid_t)-1 || gid == (gid_t)-1)) {
		pf_fail(pf, what, "not checked: the user or group does not exist", NULL);
		return;
	}
	if (pf_db_try(cfg, uid, gid, drops, why, sizeof(why), &schema) == 0) {
		pf_ok(pf, what);
		return;
	}
	if (schema)
		snprintf(fix, sizeof(fix), "exfeedctl db migrate (as a user the database lets "
		    "create tables, e.g. runuser -u %s -- exfeedctl db migrate)", cfg->user);
	else
		snprintf(fix, sizeof(fix), "create the role and the database (as postgres: "
		    "createuser %s && createdb -O %s exfeedd) and let the role connect (with "
		    "Debian's peer authentication the role's name is the user's); README, "
		    "\"Database and accounts\"", cfg->user, cfg->user);
	pf_fail(pf, what, why, fix);
}

/* The directory path is in ("/" for "/x", "." for "x"), into dir. */
static void
parent_dir(const char *path, char *dir, size_t len)
{
	char *slash;

	snprintf(dir, len, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, len, ".");
	else
		*(slash == dir ? slash + 1 : slash) = '\0';
}

static void
pf_log(struct pf *pf, const struct config *cfg)
{
	char what[512], why[8400], dir[4096];

	snprintf(what, sizeof(what), "[daemon] log = %s", cfg->log);
	if (strcmp(cfg->log, "stderr") == 0) {
		pf_ok(pf, what);
		return;
	}
	if (strcmp(cfg->log, "syslog") == 0) {
		if (!log_syslog_listening()) {
			snprintf(why, sizeof(why), "nothing listens on %s: the daemon will log to "
			    "%s/%s instead", LOG_SYSLOG_SOCKET, cfg->runtime_dir, DAEMON_FALLBACK_LOG);
			pf_warn(pf, what, why, "apt-get install rsyslog, or set log to a file "
			    "(log = /var/log/exfeedd.log), or run it under systemd (exfeedd -f: "
			    "the journal)");
			return;
		}
		pf_ok(pf, what);
		return;
	}
	parent_dir(cfg->log, dir, sizeof(dir));
	if (access(dir, W_OK | X_OK) == -1) {
		snprintf(why, sizeof(why), "cannot write in %s: %s", dir, strerror(errno));
		pf_fail(pf, what, why, "create the directory, or choose another file");
		return;
	}
	pf_ok(pf, what);
}

static void
pf_runtime(struct pf *pf, const struct config *cfg, uid_t uid, int drops)
{
	char what[4200], why[8400], dir[4096];

	snprintf(what, sizeof(what), "[daemon] runtime_dir %s", cfg->runtime_dir);
	if (drops && uid != (uid_t)-1 &&
	    daemon_runtime_dir_check(cfg->runtime_dir, uid, why, sizeof(why)) == -1) {
		pf_fail(pf, what, why, "set runtime_dir to a directory of exfeedd's own, e.g. "
		    RUNSTATEDIR "/exfeedd (the start makes it)");
		return;
	}
	parent_dir(cfg->runtime_dir, dir, sizeof(dir));
	if (access(cfg->runtime_dir, F_OK) == -1 && access(dir, W_OK | X_OK) == -1) {
		snprintf(why, sizeof(why), "it does not exist and %s is not writable: %s", dir,
		    strerror(errno));
		pf_fail(pf, what, why, "start exfeedd as root (it makes the directory), or "
		    "choose a directory it can make");
		return;
	}
	pf_ok(pf, what);
}

/* The host of scheme://host[:port]/..., or -1. */
static int
url_host(const char *url, char *host, size_t len)
{
	const char *p = strstr(url, "://"), *end;

	if (p == NULL)
		return -1;
	p += 3;
	if (*p == '[') {
		if ((end = strchr(++p, ']')) == NULL)
			return -1;
	} else
		end = p + strcspn(p, ":/?#");
	if (end == p || (size_t)(end - p) >= len)
		return -1;
	memcpy(host, p, (size_t)(end - p));
	host[end - p] = '\0';
	return 0;
}

static void
pf_exchanges(struct pf *pf, const struct config *cfg)
{
	for (int i = 0; i < cfg->nex; i++) {
		const char *urls[2] = { cfg->ex[i].rest_url, cfg->ex[i].ws_url };
		const char *keys[2] = { "rest_url", "ws_url" };

		for (int k = 0; k < 2; k++) {
			struct addrinfo hints, *res = NULL;
			char what[1024], why[512], host[256];
			int rc;

			snprintf(what, sizeof(what), "[exchange.%s] %s %s", cfg->ex[i].name, keys[k],
			    urls[k]);
			if (url_host(urls[k], host, sizeof(host)) == -1) {
				pf_fail(pf, what, "no host in the URL", "scheme://host[:port]/path");
				continue;
			}
			memset(&hints, 0, sizeof(hints));
			hints.ai_socktype = SOCK_STREAM;
			if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
				snprintf(why, sizeof(why), "cannot resolve %s: %s", host,
				    gai_strerror(rc));
				pf_fail(pf, what, why, "check the name and the resolver "
				    "(/etc/resolv.conf)");
				continue;
			}
			freeaddrinfo(res);
			pf_ok(pf, what);
		}
	}
}

int
preflight(const struct config *cfg, FILE *out)
{
	struct pf pf = { out, 0, 0 };
	int drops = geteuid() == 0;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char what[4096];

	snprintf(what, sizeof(what), "configuration %s", cfg->file);
	pf_ok(&pf, what);
	if (drops)
		pf_ids(&pf, cfg, &uid, &gid);
	else
		fprintf(out, "note  not root: exfeedd started by this user runs as this user "
		    "([daemon] user and group apply when it starts as root)\n");
	pf_key(&pf, cfg, uid, drops);
	pf_db(&pf, cfg, uid, gid, drops);
	pf_log(&pf, cfg);
	pf_runtime(&pf, cfg, uid, drops);
	pf_exchanges(&pf, cfg);
	if (pf.failed)
		fprintf(out, "preflight: the start would fail; fix the FAIL lines above\n");
	else if (pf.warned)
		fprintf(out, "preflight: nothing stands in the way of a start; see the warn "
		    "line%s above\n", pf.warned > 1 ? "s" : "");
	else
		fprintf(out, "preflight: nothing stands in the way of a start\n");
	return pf.failed ? -1 : 0;
}
