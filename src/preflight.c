/*
 * preflight.c: `exfeedctl preflight`, every reason a start would fail, each
 * with its fix, checked the way the daemon will meet it: the [daemon] user
 * and group, the master key (its mode, and its owner when the daemon drops
 * to that user), the database as that user (reachable, migrated), the log
 * target (a syslog that nobody reads is silence; a file's directory must
 * take a new file from that user after rotation), the runtime directory,
 * the gateway's JWT secret, and every exchange URL's host name.
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
#include <openssl/crypto.h>

#include "config.h"
#include "crypto.h"
#include "db.h"
#include "exfeedd.h"
#include "jwt.h"
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

/*
 * What the database said to a connection made as the daemon will make it:
 * whether it answered, whether the schema is complete, and how many accounts
 * it holds (-1: not known), which decides the fix for a missing key file.
 */
struct pf_dbstate {
	int		 ok;		/* connected, schema complete */
	int		 schema;	/* connected, a migration is missing */
	long		 naccounts;	/* rows of exchange_accounts, -1 when unknown */
	char		 why[1024];
};

/* How many accounts the database holds, or -1 (no table, or no answer). */
static long
pf_db_accounts(PGconn *c)
{
	PGresult *res = PQexec(c, "SELECT CASE WHEN to_regclass('exchange_accounts') IS NULL "
	    "THEN -1 ELSE (SELECT count(*) FROM exchange_accounts) END");
	long n = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n;
}

static void
pf_db_probe(const struct config *cfg, struct pf_dbstate *st)
{
	PGconn *c;

	st->ok = st->schema = 0;
	st->naccounts = -1;
	st->why[0] = '\0';
	if ((c = db_connect(cfg->db_conninfo, st->why, sizeof(st->why))) == NULL)
		return;
	st->naccounts = pf_db_accounts(c);
	if (db_schema_check(c, st->why, sizeof(st->why)) == -1)
		st->schema = 1;
	else
		st->ok = 1;
	PQfinish(c);
}

/*
 * Connect and check the schema as the daemon will: as its user when it
 * drops to one (peer authentication maps the operating-system user), in a
 * child that takes that identity.
 */
static void
pf_db_try(const struct config *cfg, uid_t uid, gid_t gid, int as_user, struct pf_dbstate *st)
{
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	if (!as_user) {
		pf_db_probe(cfg, st);
		return;
	}
	st->ok = st->schema = 0;
	st->naccounts = -1;
	if (pipe(fds) == -1 || (pid = fork()) == -1) {
		snprintf(st->why, sizeof(st->why), "cannot fork to connect as %s: %s", cfg->user,
		    strerror(errno));
		return;
	}
	if (pid == 0) {
		struct pf_dbstate cst;

		close(fds[0]);
		memset(&cst, 0, sizeof(cst));
		cst.naccounts = -1;
		if (setgroups(0, NULL) == -1 || setgid(gid) == -1 || setuid(uid) == -1)
			snprintf(cst.why, sizeof(cst.why), "cannot become %s: %s", cfg->user,
			    strerror(errno));
		else
			pf_db_probe(cfg, &cst);
		(void)!write(fds[1], &cst, sizeof(cst));
		_exit(0);
	}
	close(fds[1]);
	do
		n = read(fds[0], st, sizeof(*st));
	while (n == -1 && errno == EINTR);
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(*st)) {
		memset(st, 0, sizeof(*st));
		st->naccounts = -1;
		snprintf(st->why, sizeof(st->why), "the check as %s gave no answer", cfg->user);
		return;
	}
	st->why[sizeof(st->why) - 1] = '\0';
}

static void
pf_key(struct pf *pf, const struct config *cfg, uid_t uid, int drops,
    const struct pf_dbstate *db)
{
	char what[512], why[1024], fix[2048], chown_it[1024] = "";
	struct stat st;
	int rc;

	snprintf(what, sizeof(what), "[crypto] key_file %s", cfg->crypto_key_file);
	rc = crypto_key_check(cfg->crypto_key_file, drops ? uid : (uid_t)-1, cfg->user, why,
	    sizeof(why));
	if (rc == 0) {
		pf_ok(pf, what);
		return;
	}
	if (drops)
		snprintf(chown_it, sizeof(chown_it), " && chown %s %s", cfg->user,
		    cfg->crypto_key_file);
	if (rc == -2)
		snprintf(fix, sizeof(fix), "chown %s %s", cfg->user, cfg->crypto_key_file);
	else if (stat(cfg->crypto_key_file, &st) == -1 && errno == ENOENT) {
		/*
		 * A new key opens none of the credentials sealed under the
		 * old one: keygen is for a fresh install only.
		 */
		if (db->naccounts > 0)
			snprintf(fix, sizeof(fix), "the database holds %ld account%s whose "
			    "credentials only the lost key opens: restore %s from your backup "
			    "(mode 600%s%s); do not run exfeedctl keygen, a new key decrypts none "
			    "of them", db->naccounts, db->naccounts == 1 ? "" : "s",
			    cfg->crypto_key_file, drops ? ", owner " : "", drops ? cfg->user : "");
		else
			snprintf(fix, sizeof(fix), "exfeedctl keygen %s%s%s", cfg->crypto_key_file,
			    chown_it, db->naccounts == 0 ? "" : " (on a fresh install only: if "
			    "accounts are stored, restore the key from your backup instead; a new "
			    "key decrypts none of them)");
	} else if (stat(cfg->crypto_key_file, &st) == 0 && !S_ISREG(st.st_mode))
		snprintf(fix, sizeof(fix), "point [crypto] key_file at the key file (made by "
		    "exfeedctl keygen)");
	else if (stat(cfg->crypto_key_file, &st) == 0 && (st.st_mode & 077) != 0)
		snprintf(fix, sizeof(fix), "chmod 600 %s", cfg->crypto_key_file);
	else if (stat(cfg->crypto_key_file, &st) == 0 && st.st_size != CRYPTO_KEY_LEN)
		snprintf(fix, sizeof(fix), "%s holds %lld bytes, a key is %d: it is not the key "
		    "(truncated or a wrong file); restore the key from your backup%s",
		    cfg->crypto_key_file, (long long)st.st_size, CRYPTO_KEY_LEN,
		    db->naccounts > 0 ? "" : ", or on a fresh install (no accounts stored) move it "
		    "aside and run exfeedctl keygen");
	else
		snprintf(fix, sizeof(fix), "make %s readable by root%s%s", cfg->crypto_key_file,
		    drops ? " and owned by " : "", drops ? cfg->user : "");
	pf_fail(pf, what, why, fix);
}

/* PQconninfoParse's value of keyword, or NULL when not given. */
static const char *
pf_conninfo_get(PQconninfoOption *opts, const char *keyword)
{
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val != NULL && *o->val != '\0' ? o->val : NULL;
	return NULL;
}

/*
 * The role and database a connection of [database] conninfo asks for, as
 * libpq picks them: the conninfo's, else PGUSER/PGDATABASE, else the
 * operating-system user (the daemon's, when it drops to it) and a database
 * named after the role.
 */
static void
pf_db_names(const struct config *cfg, int drops, char *role, size_t rlen, char *dbname,
    size_t dlen)
{
	PQconninfoOption *opts = PQconninfoParse(cfg->db_conninfo, NULL);
	const char *u = opts ? pf_conninfo_get(opts, "user") : NULL;
	const char *d = opts ? pf_conninfo_get(opts, "dbname") : NULL;
	struct passwd *me;

	if (u == NULL && (u = getenv("PGUSER")) != NULL && *u == '\0')
		u = NULL;
	if (u == NULL && drops)
		u = cfg->user;
	if (u == NULL)
		u = (me = getpwuid(geteuid())) != NULL ? me->pw_name : cfg->user;
	snprintf(role, rlen, "%s", u);
	if (d == NULL && (d = getenv("PGDATABASE")) != NULL && *d == '\0')
		d = NULL;
	snprintf(dbname, dlen, "%s", d != NULL ? d : role);
	if (opts != NULL)
		PQconninfoFree(opts);
}

#define PF_README_INSTALL	"README, \"Install and first start, step by step\", step 2"

/* The fix for a connection the database refused or nobody answered: by what it said. */
static void
pf_db_fix(const struct config *cfg, int drops, const char *why, char *fix, size_t len)
{
	char role[256], dbname[256], migrate[512];

	pf_db_names(cfg, drops, role, sizeof(role), dbname, sizeof(dbname));
	if (drops)
		snprintf(migrate, sizeof(migrate), "then runuser -u %s -- exfeedctl db migrate",
		    cfg->user);
	else
		snprintf(migrate, sizeof(migrate), "then exfeedctl db migrate");
	if (strstr(why, "No such file or directory") != NULL ||
	    strstr(why, "Connection refused") != NULL ||
	    strstr(why, "the database system is starting up") != NULL ||
	    strstr(why, "the database system is shutting down") != NULL)
		snprintf(fix, len, "PostgreSQL is not running, or not where [database] conninfo "
		    "points (host, port): start it (Debian: pg_ctlcluster 15 main start, or "
		    "systemctl start postgresql; pg_lsclusters lists the clusters and their ports)");
	else if (strstr(why, "timeout expired") != NULL ||
	    strstr(why, "could not translate host name") != NULL ||
	    strstr(why, "No route to host") != NULL ||
	    strstr(why, "Network is unreachable") != NULL)
		snprintf(fix, len, "the PostgreSQL server of [database] conninfo cannot be reached: "
		    "check its host and port, that the server runs and listens there "
		    "(listen_addresses) and that no firewall is in the way");
	else if (strstr(why, "role \"") != NULL && strstr(why, "does not exist") != NULL)
		snprintf(fix, len, "create the role (as postgres: runuser -u postgres -- createuser "
		    "%s), and the database if it is missing too (runuser -u postgres -- createdb -O "
		    "%s %s); %s; %s", role, role, dbname, migrate, PF_README_INSTALL);
	else if (strstr(why, "database \"") != NULL && strstr(why, "does not exist") != NULL)
		snprintf(fix, len, "create the database, owned by the role (runuser -u postgres -- "
		    "createdb -O %s %s); %s; %s", role, dbname, migrate, PF_README_INSTALL);
	else if (strstr(why, "Peer authentication failed") != NULL)
		snprintf(fix, len, "peer authentication: the database role must be the "
		    "operating-system user the daemon runs as (%s); drop user=%s from [database] "
		    "conninfo or make it user=%s (and createuser %s), or map the two in "
		    "pg_ident.conf", drops ? cfg->user : "this user", role, drops ? cfg->user : role,
		    drops ? cfg->user : role);
	else if (strstr(why, "password authentication failed") != NULL ||
	    strstr(why, "no password supplied") != NULL)
		snprintf(fix, len, "give the role %s's password (password= in [database] conninfo, "
		    "or a ~/.pgpass of the daemon's user), or let it in by peer authentication "
		    "(pg_hba.conf)", role);
	else if (strstr(why, "no pg_hba.conf entry") != NULL)
		snprintf(fix, len, "add a pg_hba.conf line that lets role %s into database %s from "
		    "where the daemon connects, then reload PostgreSQL (pg_ctlcluster 15 main "
		    "reload)", role, dbname);
	else
		snprintf(fix, len, "check [database] conninfo (role %s, database %s); %s", role,
		    dbname, PF_README_INSTALL);
}

static void
pf_db(struct pf *pf, const struct config *cfg, int drops, int ids_known,
    const struct pf_dbstate *st)
{
	char what[256], fix[2048];

	snprintf(what, sizeof(what), "[database] conninfo, as %s",
	    drops ? cfg->user : "this user");
	if (drops && !ids_known) {
		pf_fail(pf, what, "not checked: the user or group does not exist", NULL);
		return;
	}
	if (st->ok) {
		pf_ok(pf, what);
		return;
	}
	if (st->schema)
		snprintf(fix, sizeof(fix), "exfeedctl db migrate (as a user the database lets "
		    "create tables, e.g. runuser -u %s -- exfeedctl db migrate)", cfg->user);
	else
		pf_db_fix(cfg, drops, st->why, fix, sizeof(fix));
	pf_fail(pf, what, st->why, fix);
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

/*
 * Whether uid:gid (the daemon's user after its drop; this process when
 * as_user is 0) may access path with mode: 0, or the errno.  In a child
 * that takes the identity, as the DB check does: the kernel's answer, ACLs
 * and all.
 */
static int
pf_access_as(uid_t uid, gid_t gid, int as_user, const char *path, int mode)
{
	int status;
	pid_t pid;

	if (!as_user)
		return access(path, mode) == 0 ? 0 : errno;
	if ((pid = fork()) == -1)
		return errno;
	if (pid == 0) {
		if (setgroups(1, &gid) == -1 || setgid(gid) == -1 || setuid(uid) == -1)
			_exit(255);
		_exit(access(path, mode) == 0 ? 0 : errno & 0xff);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255)
		return EPERM;
	return WEXITSTATUS(status);
}

#define PF_LOG_SUGGESTED	"/var/log/exfeedd/exfeedd.log"
#define PF_LOG_SUGGESTED_DIR	"/var/log/exfeedd"

static void
pf_log(struct pf *pf, const struct config *cfg, uid_t uid, gid_t gid, int drops, int ids_known)
{
	char what[512], why[8400], fix[9000], dir[4096];
	int e;

	snprintf(what, sizeof(what), "[daemon] log = %s", cfg->log);
	if (strcmp(cfg->log, "stderr") == 0) {
		pf_ok(pf, what);
		return;
	}
	if (strcmp(cfg->log, "syslog") == 0) {
		if (!log_syslog_listening()) {
			snprintf(why, sizeof(why), "nothing listens on %s: the daemon will log to "
			    "%s/%s instead", LOG_SYSLOG_SOCKET, cfg->runtime_dir, DAEMON_FALLBACK_LOG);
			snprintf(fix, sizeof(fix), "apt-get install rsyslog, or log to a file in a "
			    "directory of the daemon's own (log = " PF_LOG_SUGGESTED ", with install -d "
			    "-o %s -g adm -m 2750 " PF_LOG_SUGGESTED_DIR ", and /etc/logrotate.d/exfeedd), "
			    "or run it under systemd (exfeedd -f: the journal)", cfg->user);
			pf_warn(pf, what, why, fix);
			return;
		}
		pf_ok(pf, what);
		return;
	}
	parent_dir(cfg->log, dir, sizeof(dir));
	if (access(dir, W_OK | X_OK) == -1) {
		snprintf(why, sizeof(why), "cannot write in %s: %s", dir, strerror(errno));
		if (errno == ENOENT)
			snprintf(fix, sizeof(fix), "install -d%s%s -g adm -m 2750 %s", drops ? " -o " :
			    "", drops ? cfg->user : "", dir);
		else
			snprintf(fix, sizeof(fix), "choose a file in a directory you can write "
			    "(log = " PF_LOG_SUGGESTED ")");
		pf_fail(pf, what, why, fix);
		return;
	}
	/*
	 * The supervisor opens the file as root and gives it to the user, but
	 * after logrotate moves it away the processes reopen it (SIGUSR1) as
	 * the user: who must be able to create a file in its directory.
	 */
	if (drops && ids_known &&
	    (e = pf_access_as(uid, gid, 1, dir, W_OK | X_OK)) != 0) {
		snprintf(why, sizeof(why), "%s cannot create files in %s (%s): after log rotation "
		    "(SIGUSR1) every process, running as %s, fails to reopen the log file",
		    cfg->user, dir, strerror(e), cfg->user);
		snprintf(fix, sizeof(fix), "give the log a directory of its own that %s owns: "
		    "install -d -o %s -g adm -m 2750 " PF_LOG_SUGGESTED_DIR " and log = "
		    PF_LOG_SUGGESTED " (or chown %s %s, if only exfeedd writes there)", cfg->user,
		    cfg->user, cfg->user, dir);
		pf_warn(pf, what, why, fix);
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

/*
 * [gateway] jwt_secret_file, as the gateway meets it at its start, where a
 * bad one stops the start: jwt_secret_load's checks (a regular file, mode
 * 600 or stricter, 32 to 4096 bytes) and, when the daemon drops to
 * [daemon] user, that user owning it (the gateway reads it as that user).
 * Not set: a note, since the gateway then refuses every /ws/trading token.
 */
static void
pf_jwt(struct pf *pf, const struct config *cfg, uid_t uid, int drops)
{
	const char *path = cfg->gateway_jwt_secret_file;
	char what[4200], why[1024], fix[8800], own[4200] = "";
	unsigned char *key;
	size_t keylen;
	struct stat st;

	if (path == NULL || *path == '\0') {
		fprintf(pf->out, "note  [gateway] jwt_secret_file is not set: /ws/trading refuses "
		    "every token (the market endpoints and the pages work)\n");
		return;
	}
	snprintf(what, sizeof(what), "[gateway] jwt_secret_file %s", path);
	if (drops && uid != (uid_t)-1)
		snprintf(own, sizeof(own), " && chown %s %s", cfg->user, path);
	if (jwt_secret_load(path, &key, &keylen, why, sizeof(why)) == -1) {
		/* Its mode alone is wrong: a file there, of the right kind. */
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) != 0)
			snprintf(fix, sizeof(fix), "chmod 600 %s%s", path, own);
		else
			snprintf(fix, sizeof(fix), "put the secret your platform signs its tokens "
			    "with in %s (32 to 4096 bytes; a new one: head -c 48 /dev/urandom | base64 > %s), "
			    "then chmod 600 %s%s", path, path, path, own);
		pf_fail(pf, what, why, fix);
		return;
	}
	OPENSSL_cleanse(key, keylen);
	free(key);
	if (drops && uid != (uid_t)-1 && stat(path, &st) == 0 && st.st_uid != uid) {
		snprintf(why, sizeof(why), "owned by uid %ld, not by %s: the gateway reads it as %s "
		    "and refuses it", (long)st.st_uid, cfg->user, cfg->user);
		snprintf(fix, sizeof(fix), "chown %s %s", cfg->user, path);
		pf_fail(pf, what, why, fix);
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

/*
 * As root, what the privilege drop means: none with user = root, and a
 * configuration file that user cannot read, which the start reads (as
 * root) but every reload reads again in the supervisor, after the drop.
 */
static void
pf_drop(struct pf *pf, const struct config *cfg, uid_t uid, gid_t gid)
{
	char what[4200], why[4400], fix[4400];
	int e;

	if (uid == 0) {
		snprintf(what, sizeof(what), "[daemon] user %s", cfg->user);
		pf_warn(pf, what, "every process, the workers with the exchange connections and the "
		    "decrypted API secrets included, would run as root: nothing is dropped",
		    "useradd --system --user-group --home-dir /nonexistent --shell "
		    "/usr/sbin/nologin exfeedd, then user = exfeedd and group = exfeedd");
		return;
	}
	if ((e = pf_access_as(uid, gid, 1, cfg->file, R_OK)) != 0) {
		snprintf(what, sizeof(what), "configuration %s", cfg->file);
		snprintf(why, sizeof(why), "%s cannot read it (%s): the start reads it as root, but "
		    "a reload (SIGHUP, exfeedctl reload) reads it again as %s and fails", cfg->user,
		    strerror(e), cfg->user);
		snprintf(fix, sizeof(fix), "chgrp %s %s && chmod 640 %s", cfg->group, cfg->file,
		    cfg->file);
		pf_warn(pf, what, why, fix);
	}
}

int
preflight(const struct config *cfg, FILE *out)
{
	struct pf pf = { out, 0, 0 };
	int drops = geteuid() == 0;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	struct pf_dbstate db = { 0, 0, -1, "" };
	char what[4096];
	int ids_known;

	snprintf(what, sizeof(what), "configuration %s", cfg->file);
	pf_ok(&pf, what);
	if (drops)
		pf_ids(&pf, cfg, &uid, &gid);
	else
		fprintf(out, "note  not root: exfeedd started by this user runs as this user "
		    "([daemon] user and group apply when it starts as root)\n");
	ids_known = !drops || (uid != (uid_t)-1 && gid != (gid_t)-1);
	if (drops && ids_known)
		pf_drop(&pf, cfg, uid, gid);
	/* The database first: the fix for a missing key depends on what it holds. */
	if (ids_known)
		pf_db_try(cfg, uid, gid, drops, &db);
	pf_key(&pf, cfg, uid, drops, &db);
	pf_db(&pf, cfg, drops, ids_known, &db);
	pf_log(&pf, cfg, uid, gid, drops, ids_known);
	pf_runtime(&pf, cfg, uid, drops);
	pf_jwt(&pf, cfg, uid, drops);
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
