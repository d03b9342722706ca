/*
 * db.c: connecting to PostgreSQL, applying and checking the embedded schema
 * migrations, and the exchange_accounts rows whose credentials are sealed
 * with crypto.c.  Plaintext credentials live only in malloc'd strings that
 * are wiped before they are freed.
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "crypto.h"
#include "db.h"

/* pg_advisory_lock key of `exfeedctl db migrate`: "exfeedd1" in ASCII. */
#define DB_MIGRATE_LOCK		"7311705462339281969"

static const char *const db_exchanges[] = { "binance-futures", "binance-spot", "bybit", "okx" };

/* libpq's messages end in a newline and may span lines: keep the first. */
static void
db_reason(char *err, size_t errlen, const char *what, const char *msg)
{
	size_t n;

	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	if (strncmp(msg, "ERROR:  ", 8) == 0)
		msg += 8;
	n = strcspn(msg, "\n");
	snprintf(err, errlen, "%s: %.*s", what, (int)n, msg);
}

static void
db_result_reason(char *err, size_t errlen, const char *what, PGconn *conn, const PGresult *res)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	db_reason(err, errlen, what, m ? m : PQerrorMessage(conn));
}

/* PQexecParams with text parameters; NULL values are SQL NULLs. */
static PGresult *
db_exec(PGconn *conn, const char *sql, int n, const char *const *values, const int *lengths,
    const int *formats)
{
	return PQexecParams(conn, sql, n, NULL, values, lengths, formats, 0);
}

static int
db_command(PGconn *conn, const char *sql, const char *what, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		db_result_reason(err, errlen, what, conn, res);
	PQclear(res);
	return ok ? 0 : -1;
}

/* A query that returns exactly one row; NULL with err set otherwise. */
static PGresult *
db_one_row(PGconn *conn, const char *sql, const char *what, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_result_reason(err, errlen, what, conn, res);
		PQclear(res);
		return NULL;
	}
	return res;
}

static void
db_rollback(PGconn *conn)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

static int64_t
db_i64(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void
db_copy(char *dst, size_t len, const PGresult *res, int row, int col)
{
	snprintf(dst, len, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* Notices (CREATE ... IF NOT EXISTS and the like) are not for operators. */
static void
db_notice_cb(void *arg, const char *message)
{
}

int
db_exchange_valid(const char *exchange)
{
	for (size_t i = 0; i < sizeof(db_exchanges) / sizeof(db_exchanges[0]); i++)
		if (strcmp(exchange, db_exchanges[i]) == 0)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- connecting */

PGconn *
db_connect(const char *conninfo, char *err, size_t errlen)
{
	/* Listed first, so that a conninfo naming its own application_name wins. */
	const char *const keys[] = { "application_name", "connect_timeout", "dbname", NULL };
	const char *const vals[] = { program_invocation_short_name, "10", conninfo, NULL };
	PGconn *conn;

	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL) {
		snprintf(err, errlen, "cannot connect to PostgreSQL: out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		db_reason(err, errlen, "cannot connect to PostgreSQL", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, db_notice_cb, NULL);
	return conn;
}

/* ---------------------------------------------------------------- migrations */

int
db_schema_latest(void)
{
	return db_nmigrations ? db_migrations[db_nmigrations - 1].version : 0;
}

static int
db_has_migrations_table(PGconn *conn, int *has, char *err, size_t errlen)
{
	PGresult *res = db_one_row(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL",
	    "cannot read the schema version", err, errlen);

	if (res == NULL)
		return -1;
	*has = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}

int
db_schema_version(PGconn *conn, int *version, char *err, size_t errlen)
{
	PGresult *res;
	int has;

	*version = 0;
	if (db_has_migrations_table(conn, &has, err, errlen) == -1)
		return -1;
	if (!has)
		return 0;
	if ((res = db_one_row(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations",
	    "cannot read the schema version", err, errlen)) == NULL)
		return -1;
	*version = (int)db_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

int
db_schema_pending(PGconn *conn, size_t *pending, size_t *n, char *err, size_t errlen)
{
	PGresult *res = NULL;
	int has;

	*n = 0;
	if (db_has_migrations_table(conn, &has, err, errlen) == -1)
		return -1;
	if (has) {
		res = PQexec(conn, "SELECT version FROM schema_migrations");
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			db_result_reason(err, errlen, "cannot read schema_migrations", conn, res);
			PQclear(res);
			return -1;
		}
	}
	for (size_t i = 0; i < db_nmigrations; i++) {
		int applied = 0;

		for (int r = 0; res != NULL && r < PQntuples(res) && !applied; r++)
			applied = db_i64(res, r, 0) == db_migrations[i].version;
		if (!applied)
			pending[(*n)++] = i;
	}
	PQclear(res);
	return 0;
}

int
db_schema_check(PGconn *conn, char *err, size_t errlen)
{
	size_t pending[db_nmigrations > 0 ? db_nmigrations : 1], n;
	int version;

	if (db_schema_version(conn, &version, err, errlen) == -1 ||
	    db_schema_pending(conn, pending, &n, err, errlen) == -1)
		return -1;
	if (n == 0)
		return 0;
	if (version >= db_schema_latest())
		snprintf(err, errlen, "database schema lacks migration %s, which this exfeedd needs: "
		    "run `exfeedctl db migrate`", db_migrations[pending[0]].name);
	else
		snprintf(err, errlen, "database schema is at version %d, this exfeedd needs %d: "
		    "run `exfeedctl db migrate`", version, db_schema_latest());
	return -1;
}

/* The line of a migration that an error position (1-based, in characters) points at. */
static int
db_sql_line(const char *sql, const char *pos)
{
	long want = pos ? strtol(pos, NULL, 10) : 0, chars = 0;
	int line = 1;

	if (want <= 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
		if ((*p & 0xc0) != 0x80 && ++chars >= want)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

static int
db_apply(PGconn *conn, const struct db_migration *m, char *err, size_t errlen)
{
	char version[16], what[128];
	const char *params[2];
	PGresult *res;
	int line;

	snprintf(what, sizeof(what), "migration %s", m->name);
	if (db_command(conn, "BEGIN", what, err, errlen) == -1)
		return -1;
	res = PQexec(conn, m->sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		line = db_sql_line(m->sql, PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION));
		if (line > 0)
			snprintf(what, sizeof(what), "migration sql/%s.sql:%d", m->name, line);
		db_result_reason(err, errlen, what, conn, res);
		PQclear(res);
		db_rollback(conn);
		return -1;
	}
	PQclear(res);
	snprintf(version, sizeof(version), "%d", m->version);
	params[0] = version;
	params[1] = m->name;
	res = db_exec(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
	    params, NULL, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_result_reason(err, errlen, what, conn, res);
		PQclear(res);
		db_rollback(conn);
		return -1;
	}
	PQclear(res);
	return db_command(conn, "COMMIT", what, err, errlen);
}

int
db_migrate(PGconn *conn, void (*done)(const struct db_migration *, void *), void *arg,
    size_t *applied, char *err, size_t errlen)
{
	size_t pending[db_nmigrations > 0 ? db_nmigrations : 1], n;
	int rc = -1;

	*applied = 0;
	/* A session lock: a second migrator waits here, then finds nothing to do. */
	if (db_command(conn, "SELECT pg_advisory_lock(" DB_MIGRATE_LOCK ")",
	    "cannot take the migration lock", err, errlen) == -1)
		return -1;
	if (db_command(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version int PRIMARY KEY, name text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())",
	    "cannot create schema_migrations", err, errlen) == -1)
		goto out;
	if (db_schema_pending(conn, pending, &n, err, errlen) == -1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (db_apply(conn, &db_migrations[pending[i]], err, errlen) == -1)
			goto out;
		(*applied)++;
		if (done)
			done(&db_migrations[pending[i]], arg);
	}
	rc = 0;
out:
	PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" DB_MIGRATE_LOCK ")"));
	return rc;
}

/* ---------------------------------------------------------------- credentials */

/* Open a bytea column (hex text) sealed for (id, field); NULL if it does not. */
static char *
db_open_col(const PGresult *res, int row, int col, const unsigned char key[CRYPTO_KEY_LEN],
    int64_t id, const char *field)
{
	unsigned char *ct;
	size_t ctlen, ptlen;
	char *pt;

	if (PQgetisnull(res, row, col))
		return NULL;
	ct = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &ctlen);
	if (ct == NULL)
		return NULL;
	if (crypto_open(key, id, field, ct, ctlen, &pt, &ptlen) == -1)
		pt = NULL;
	else if (strlen(pt) != ptlen) {
		/* A NUL inside: not a credential, and crypto_free_secret would wipe only its head. */
		crypto_wipe(pt, ptlen);
		free(pt);
		pt = NULL;
	}
	PQfreemem(ct);
	return pt;
}

int
db_accounts_load(PGconn *conn, int64_t shard, int64_t nshards,
    const unsigned char key[CRYPTO_KEY_LEN], struct db_account **out, size_t *n,
    char *err, size_t errlen)
{
	char sshard[24], snshards[24];
	const char *params[2] = { sshard, snshards };
	struct db_account *v;
	PGresult *res;
	int rows;

	*out = NULL;
	*n = 0;
	if (nshards < 1 || shard < 0 || shard >= nshards) {
		snprintf(err, errlen, "shard %" PRId64 " of %" PRId64 " does not exist", shard, nshards);
		return -1;
	}
	snprintf(sshard, sizeof(sshard), "%" PRId64, shard);
	snprintf(snshards, sizeof(snshards), "%" PRId64, nshards);
	res = db_exec(conn,
	    "SELECT id, user_id, exchange, trading_mode, api_key_encrypted, api_secret_encrypted, "
	    "    CASE WHEN listen_key_expires_at > now() THEN listen_key_encrypted END, "
	    "    CASE WHEN listen_key_expires_at > now() "
	    "        THEN (extract(epoch FROM listen_key_expires_at) * 1000)::bigint END, "
	    "    last_event_time, "
	    "    (SELECT min(since) FROM account_gaps g WHERE g.account_id = a.id "
	    "        AND g.healed_at IS NULL) "
	    "FROM exchange_accounts a WHERE is_active AND id % $2::bigint = $1::bigint ORDER BY id",
	    2, params, NULL, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_result_reason(err, errlen, "cannot load accounts", conn, res);
		PQclear(res);
		return -1;
	}
	if ((rows = PQntuples(res)) == 0) {
		PQclear(res);
		return 0;
	}
	if ((v = calloc((size_t)rows, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "cannot load accounts: %s", strerror(errno));
		PQclear(res);
		return -1;
	}
	for (int r = 0; r < rows; r++) {
		struct db_account *a = &v[r];

		a->id = db_i64(res, r, 0);
		a->user_id = db_i64(res, r, 1);
		db_copy(a->exchange, sizeof(a->exchange), res, r, 2);
		db_copy(a->trading_mode, sizeof(a->trading_mode), res, r, 3);
		a->api_key = db_open_col(res, r, 4, key, a->id, "api_key");
		a->api_secret = db_open_col(res, r, 5, key, a->id, "api_secret");
		if (a->api_key == NULL || a->api_secret == NULL) {
			a->undecryptable = 1;
			a->undecryptable_field = a->api_key == NULL ? "api_key" : "api_secret";
			crypto_free_secret(a->api_key);
			crypto_free_secret(a->api_secret);
			a->api_key = a->api_secret = NULL;
		}
		if (!a->undecryptable && (a->listen_key = db_open_col(res, r, 6, key, a->id,
		    "listen_key")) != NULL)
			a->listen_key_expires_ms = db_i64(res, r, 7);
		a->last_event_time = db_i64(res, r, 8);
		a->gap_since = PQgetisnull(res, r, 9) ? -1 : db_i64(res, r, 9);
	}
	PQclear(res);
	*out = v;
	*n = (size_t)rows;
	return 0;
}

void
db_account_free(struct db_account *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		crypto_free_secret(v[i].api_key);
		crypto_free_secret(v[i].api_secret);
		crypto_free_secret(v[i].listen_key);
	}
	crypto_wipe(v, n * sizeof(*v));
	free(v);
}

/* 1 when the UPDATE or DELETE touched no row. */
static int
db_affected_none(const PGresult *res)
{
	return strcmp(PQcmdTuples((PGresult *)res), "0") == 0;
}

int
db_account_set_listen_key(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN], int64_t id,
    const char *listen_key, int64_t expires_ms)
{
	char sid[24], sexp[24];
	const char *params[3] = { sid, NULL, sexp };
	int lengths[3] = { 0, 0, 0 }, formats[3] = { 0, 1, 0 };
	unsigned char *ct = NULL;
	size_t ctlen = 0;
	PGresult *res;
	int rc;

	snprintf(sid, sizeof(sid), "%" PRId64, id);
	snprintf(sexp, sizeof(sexp), "%" PRId64, expires_ms);
	if (listen_key == NULL)
		res = db_exec(conn, "UPDATE exchange_accounts SET listen_key_encrypted = NULL, "
		    "listen_key_expires_at = NULL, updated_at = now() WHERE id = $1::bigint",
		    1, params, NULL, NULL);
	else {
		if (crypto_seal(key, id, "listen_key", listen_key, strlen(listen_key), &ct,
		    &ctlen) == -1)
			return -1;
		params[1] = (const char *)ct;
		lengths[1] = (int)ctlen;
		res = db_exec(conn, "UPDATE exchange_accounts SET listen_key_encrypted = $2::bytea, "
		    "listen_key_expires_at = to_timestamp($3::bigint / 1000.0), updated_at = now() "
		    "WHERE id = $1::bigint", 3, params, lengths, formats);
		free(ct);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = -1;
	else
		rc = db_affected_none(res);
	PQclear(res);
	return rc;
}

int
db_account_quarantine(PGconn *conn, int64_t id, const char *reason)
{
	char sid[24];
	const char *params[2] = { sid, reason };
	PGresult *res;
	int rc;

	snprintf(sid, sizeof(sid), "%" PRId64, id);
	res = db_exec(conn, "UPDATE exchange_accounts SET is_active = false, "
	    "deactivated_reason = $2, updated_at = now() WHERE id = $1::bigint", 2, params, NULL, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = -1;
	else
		rc = db_affected_none(res);
	PQclear(res);
	return rc;
}

/* ----------------------------------------------------------------- exfeedctl */

static char *
db_dup_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

int
db_accounts_list(PGconn *conn, struct db_account_info **out, size_t *n, char *err, size_t errlen)
{
	struct db_account_info *v;
	PGresult *res;
	int rows;

	*out = NULL;
	*n = 0;
	res = PQexec(conn,
	    "SELECT id, user_id, exchange, label, is_active, deactivated_reason, "
	    "    to_char(listen_key_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	    "    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
	    "FROM exchange_accounts ORDER BY id");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_result_reason(err, errlen, "cannot list accounts", conn, res);
		PQclear(res);
		return -1;
	}
	rows = PQntuples(res);
	if (rows > 0 && (v = calloc((size_t)rows, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "cannot list accounts: %s", strerror(errno));
		PQclear(res);
		return -1;
	}
	for (int r = 0; r < rows; r++) {
		v[r].id = db_i64(res, r, 0);
		v[r].user_id = db_i64(res, r, 1);
		db_copy(v[r].exchange, sizeof(v[r].exchange), res, r, 2);
		v[r].label = db_dup_or_null(res, r, 3);
		v[r].is_active = strcmp(PQgetvalue(res, r, 4), "t") == 0;
		v[r].deactivated_reason = db_dup_or_null(res, r, 5);
		db_copy(v[r].listen_key_expires, sizeof(v[r].listen_key_expires), res, r, 6);
		db_copy(v[r].created, sizeof(v[r].created), res, r, 7);
	}
	PQclear(res);
	if (rows > 0)
		*out = v;
	*n = (size_t)rows;
	return 0;
}

void
db_account_info_free(struct db_account_info *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].label);
		free(v[i].deactivated_reason);
	}
	free(v);
}

int
db_account_add(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN], int64_t user_id,
    const char *exchange, const char *label, const char *api_key, const char *api_secret,
    int64_t *id, char *err, size_t errlen)
{
	char sid[24], suser[24];
	const char *params[6];
	int lengths[6] = { 0 }, formats[6] = { 0, 0, 0, 0, 1, 1 };
	unsigned char *ck = NULL, *cs = NULL;
	size_t cklen, cslen;
	PGresult *res;
	int rc = -1;

	if (!db_exchange_valid(exchange)) {
		snprintf(err, errlen, "unknown exchange \"%s\" (binance-futures, binance-spot, "
		    "bybit, okx)", exchange);
		return -1;
	}
	/* The id comes first: it is part of what each credential is sealed to. */
	if ((res = db_one_row(conn,
	    "SELECT nextval(pg_get_serial_sequence('exchange_accounts', 'id'))",
	    "cannot allocate an account id", err, errlen)) == NULL)
		return -1;
	*id = db_i64(res, 0, 0);
	PQclear(res);
	if (crypto_seal(key, *id, "api_key", api_key, strlen(api_key), &ck, &cklen) == -1 ||
	    crypto_seal(key, *id, "api_secret", api_secret, strlen(api_secret), &cs, &cslen) == -1) {
		snprintf(err, errlen, "cannot encrypt the credentials");
		goto out;
	}
	snprintf(sid, sizeof(sid), "%" PRId64, *id);
	snprintf(suser, sizeof(suser), "%" PRId64, user_id);
	params[0] = sid;
	params[1] = suser;
	params[2] = exchange;
	params[3] = label;
	params[4] = (const char *)ck;
	params[5] = (const char *)cs;
	lengths[4] = (int)cklen;
	lengths[5] = (int)cslen;
	res = db_exec(conn, "INSERT INTO exchange_accounts (id, user_id, exchange, label, "
	    "api_key_encrypted, api_secret_encrypted) VALUES ($1::bigint, $2::bigint, $3, $4, "
	    "$5::bytea, $6::bytea)", 6, params, lengths, formats);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		db_result_reason(err, errlen, "cannot add the account", conn, res);
	else
		rc = 0;
	PQclear(res);
out:
	free(ck);
	free(cs);
	return rc;
}

static int
db_update_one(PGconn *conn, const char *sql, int64_t id, const char *arg, const char *what,
    char *err, size_t errlen)
{
	char sid[24];
	const char *params[2] = { sid, arg };
	PGresult *res;
	int rc;

	snprintf(sid, sizeof(sid), "%" PRId64, id);
	res = db_exec(conn, sql, arg ? 2 : 1, params, NULL, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_result_reason(err, errlen, what, conn, res);
		rc = -1;
	} else if ((rc = db_affected_none(res)) == 1)
		snprintf(err, errlen, "no account %" PRId64, id);
	PQclear(res);
	return rc;
}

int
db_account_set_active(PGconn *conn, int64_t id, int active, const char *reason, char *err,
    size_t errlen)
{
	if (active)
		return db_update_one(conn, "UPDATE exchange_accounts SET is_active = true, "
		    "deactivated_reason = NULL, updated_at = now() WHERE id = $1::bigint", id, NULL,
		    "cannot enable the account", err, errlen);
	return db_update_one(conn, "UPDATE exchange_accounts SET is_active = false, "
	    "deactivated_reason = $2, updated_at = now() WHERE id = $1::bigint", id, reason,
	    "cannot disable the account", err, errlen);
}

/*
 * The account and its rows, in one transaction.  The state tables have no
 * foreign key (001_initial.sql): locking them against writes first (in the
 * order the writer's statements take them, so neither waits on the other
 * in a cycle) lets a batch in flight commit before, and makes a later one
 * see the account gone, so no row of it is left behind.
 */
int
db_account_remove(PGconn *conn, int64_t id, char *err, size_t errlen)
{
	int rc;

	if (db_command(conn, "BEGIN", "cannot remove the account", err, errlen) == -1)
		return -1;
	if (db_command(conn, "LOCK TABLE orders, algo_orders, fills, positions, balances, "
	    "margin_calls, account_config, account_gaps IN SHARE ROW EXCLUSIVE MODE",
	    "cannot remove the account", err, errlen) == -1) {
		db_rollback(conn);
		return -1;
	}
	rc = db_update_one(conn, "WITH o AS (DELETE FROM orders WHERE account_id = $1::bigint), "
	    "g AS (DELETE FROM algo_orders WHERE account_id = $1::bigint), "
	    "f AS (DELETE FROM fills WHERE account_id = $1::bigint), "
	    "p AS (DELETE FROM positions WHERE account_id = $1::bigint), "
	    "b AS (DELETE FROM balances WHERE account_id = $1::bigint), "
	    "m AS (DELETE FROM margin_calls WHERE account_id = $1::bigint), "
	    "c AS (DELETE FROM account_config WHERE account_id = $1::bigint), "
	    "x AS (DELETE FROM account_gaps WHERE account_id = $1::bigint) "
	    "DELETE FROM exchange_accounts WHERE id = $1::bigint", id, NULL,
	    "cannot remove the account", err, errlen);
	if (rc != 0) {
		db_rollback(conn);
		return rc;
	}
	if (db_command(conn, "COMMIT", "cannot remove the account", err, errlen) == -1)
		return -1;
	return 0;
}

static const char *const db_fields[] = { "api_key", "api_secret", "listen_key" };

int
db_account_check(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN], int64_t id,
    const char **bad, int *nfields, char *err, size_t errlen)
{
	char sid[24];
	const char *params[1] = { sid };
	PGresult *res;

	*bad = NULL;
	*nfields = 0;
	snprintf(sid, sizeof(sid), "%" PRId64, id);
	res = db_exec(conn, "SELECT api_key_encrypted, api_secret_encrypted, listen_key_encrypted "
	    "FROM exchange_accounts WHERE id = $1::bigint", 1, params, NULL, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_result_reason(err, errlen, "cannot read the account", conn, res);
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) != 1) {
		snprintf(err, errlen, "no account %" PRId64, id);
		PQclear(res);
		return 1;
	}
	for (int c = 0; c < 3; c++) {
		char *pt;

		if (PQgetisnull(res, 0, c))
			continue;
		(*nfields)++;
		if ((pt = db_open_col(res, 0, c, key, id, db_fields[c])) == NULL) {
			if (*bad == NULL)
				*bad = db_fields[c];
		} else
			crypto_free_secret(pt);
	}
	PQclear(res);
	return 0;
}

/* Re-seal one column value; *ct NULL for an SQL NULL. */
static int
db_reseal(const PGresult *res, int row, int col, const unsigned char oldkey[CRYPTO_KEY_LEN],
    const unsigned char newkey[CRYPTO_KEY_LEN], int64_t id, unsigned char **ct, size_t *ctlen)
{
	char *pt;
	int rc;

	*ct = NULL;
	*ctlen = 0;
	if (PQgetisnull(res, row, col))
		return 0;
	if ((pt = db_open_col(res, row, col, oldkey, id, db_fields[col - 1])) == NULL)
		return -1;
	rc = crypto_seal(newkey, id, db_fields[col - 1], pt, strlen(pt), ct, ctlen);
	crypto_free_secret(pt);
	return rc;
}

int
db_rotate_key(PGconn *conn, const unsigned char oldkey[CRYPTO_KEY_LEN],
    const unsigned char newkey[CRYPTO_KEY_LEN], size_t *nvalues, size_t *naccounts,
    char *err, size_t errlen)
{
	PGresult *res, *upd;
	int rows;

	*nvalues = *naccounts = 0;
	if (db_command(conn, "BEGIN", "cannot begin the rotation", err, errlen) == -1)
		return -1;
	res = PQexec(conn, "SELECT id, api_key_encrypted, api_secret_encrypted, "
	    "listen_key_encrypted FROM exchange_accounts ORDER BY id FOR UPDATE");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_result_reason(err, errlen, "cannot read the accounts", conn, res);
		goto fail;
	}
	rows = PQntuples(res);
	for (int r = 0; r < rows; r++) {
		int64_t id = db_i64(res, r, 0);
		unsigned char *ct[3];
		size_t ctlen[3];
		char sid[24];
		const char *params[4];
		int lengths[4] = { 0 }, formats[4] = { 0, 1, 1, 1 }, failed = -1;

		for (int c = 0; c < 3; c++) {
			if (failed == -1 && db_reseal(res, r, c + 1, oldkey, newkey, id, &ct[c],
			    &ctlen[c]) == -1)
				failed = c;
			else if (failed != -1)
				ct[c] = NULL;
		}
		if (failed != -1) {
			snprintf(err, errlen, "account %" PRId64 ": %s does not decrypt with the "
			    "current key; nothing was changed", id, db_fields[failed]);
			for (int c = 0; c < 3; c++)
				free(ct[c]);
			goto fail;
		}
		snprintf(sid, sizeof(sid), "%" PRId64, id);
		params[0] = sid;
		for (int c = 0; c < 3; c++) {
			params[c + 1] = (const char *)ct[c];
			lengths[c + 1] = (int)ctlen[c];
			if (ct[c] != NULL)
				(*nvalues)++;
		}
		upd = db_exec(conn, "UPDATE exchange_accounts SET api_key_encrypted = $2::bytea, "
		    "api_secret_encrypted = $3::bytea, listen_key_encrypted = $4::bytea, "
		    "updated_at = now() WHERE id = $1::bigint", 4, params, lengths, formats);
		for (int c = 0; c < 3; c++)
			free(ct[c]);
		if (PQresultStatus(upd) != PGRES_COMMAND_OK) {
			db_result_reason(err, errlen, "cannot store the re-encrypted values", conn, upd);
			PQclear(upd);
			goto fail;
		}
		PQclear(upd);
		(*naccounts)++;
	}
	PQclear(res);
	if (db_command(conn, "COMMIT", "cannot commit the rotation", err, errlen) == -1) {
		*nvalues = *naccounts = 0;
		return -1;
	}
	return 0;
fail:
	PQclear(res);
	db_rollback(conn);
	*nvalues = *naccounts = 0;
	return -1;
}

/* ------------------------------------------------------- event_log status */

#define DB_UTC_TEXT(col)	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define DB_AGE_MS(col)		"(extract(epoch FROM clock_timestamp() - " col ") * 1000)::bigint"
#define DB_STR_(x)		#x
#define DB_STR(x)		DB_STR_(x)
#define DB_CAP			DB_STR(DB_ELOG_COUNT_MAX)	/* for the SQL text */

/* One partition's rows (exact up to the cap) and unpublished rows. */
static int
db_elog_count(PGconn *conn, struct db_elog_part *p, int64_t reltuples, const char *through,
    char *err, size_t errlen)
{
	char sql[512], what[128];
	const char *params[1] = { through };
	char *ident;
	PGresult *res;

	if ((ident = PQescapeIdentifier(conn, p->name, strlen(p->name))) == NULL) {
		db_reason(err, errlen, "event_log", PQerrorMessage(conn));
		return -1;
	}
	/* ONLY: a partition is a leaf, but say that nothing below is counted twice. */
	snprintf(sql, sizeof(sql),
	    "SELECT (SELECT count(*) FROM (SELECT 1 FROM ONLY %s LIMIT " DB_CAP ") s), "
	    "(SELECT count(*) FROM (SELECT 1 FROM ONLY %s WHERE id > $1::bigint LIMIT " DB_CAP
	    ") s)", ident, ident);
	PQfreemem(ident);
	snprintf(what, sizeof(what), "cannot count the rows of %s", p->name);
	res = db_exec(conn, sql, 1, params, NULL, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_result_reason(err, errlen, what, conn, res);
		PQclear(res);
		return -1;
	}
	p->rows = db_i64(res, 0, 0);
	if (p->rows >= DB_ELOG_COUNT_MAX) {
		if (reltuples > p->rows) {
			p->rows = reltuples;
			p->rows_estimated = 1;
		} else
			p->rows_capped = 1;
	}
	p->unpublished = db_i64(res, 0, 1);
	p->unpublished_capped = p->unpublished >= DB_ELOG_COUNT_MAX;
	PQclear(res);
	return 0;
}

int
db_event_log_status(PGconn *conn, struct db_elog_status *st, char *err, size_t errlen)
{
	const char *params[1];
	char through[32];
	PGresult *res = NULL;
	int n;

	memset(st, 0, sizeof(*st));
	/*
	 * One snapshot.  The lock keeps every partition listed until the end;
	 * it is the weakest there is, but a DROP or CREATE of a partition waits
	 * for it, and a status waits behind one in progress: not for long.
	 */
	if (db_command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    "event_log: cannot begin", err, errlen) == -1)
		return -1;
	if (db_command(conn, "SET LOCAL lock_timeout = '10s'", "event_log", err, errlen) == -1 ||
	    db_command(conn, "LOCK TABLE event_log IN ACCESS SHARE MODE",
	    "event_log: cannot lock the table", err, errlen) == -1)
		goto fail;
	if ((res = db_one_row(conn, "SELECT published_through, " DB_UTC_TEXT("updated_at") ", "
	    DB_AGE_MS("updated_at") " FROM event_log_relay",
	    "cannot read event_log_relay", err, errlen)) == NULL)
		goto fail;
	st->published_through = db_i64(res, 0, 0);
	db_copy(st->relay_updated, sizeof(st->relay_updated), res, 0, 1);
	st->relay_updated_age_ms = db_i64(res, 0, 2);
	PQclear(res);
	snprintf(through, sizeof(through), "%" PRId64, st->published_through);
	params[0] = through;

	res = PQexec(conn,
	    "SELECT c.relname, CASE WHEN c.relname ~ '^event_log_p[0-9]{8}$' THEN "
	    "    to_char(to_date(substr(c.relname, 12), 'YYYYMMDD'), 'YYYY-MM-DD') END, "
	    "    pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', "
	    "    pg_total_relation_size(c.oid), c.reltuples::bigint "
	    "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
	    "WHERE i.inhparent = 'event_log'::regclass ORDER BY 3, 1");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_result_reason(err, errlen, "cannot list the partitions of event_log", conn, res);
		goto fail;
	}
	n = PQntuples(res);
	if (n > 0 && (st->parts = calloc((size_t)n, sizeof(*st->parts))) == NULL) {
		snprintf(err, errlen, "event_log: %s", strerror(errno));
		goto fail;
	}
	for (int r = 0; r < n; r++) {
		struct db_elog_part *p = &st->parts[r];

		db_copy(p->name, sizeof(p->name), res, r, 0);
		db_copy(p->day, sizeof(p->day), res, r, 1);
		p->is_default = strcmp(PQgetvalue(res, r, 2), "t") == 0;
		p->bytes = db_i64(res, r, 3);
		st->nparts++;
		if (db_elog_count(conn, p, db_i64(res, r, 4), through, err, errlen) == -1)
			goto fail;
	}
	PQclear(res);

	/* The relay's queue, by the id index: what the writer's own gauge counts. */
	res = db_exec(conn, "SELECT (SELECT count(*) FROM (SELECT 1 FROM event_log "
	    "WHERE id > $1::bigint LIMIT " DB_CAP ") s), o.id, " DB_UTC_TEXT("o.committed_at") ", "
	    DB_AGE_MS("o.committed_at") " "
	    "FROM (SELECT 1) one LEFT JOIN (SELECT id, committed_at FROM event_log "
	    "WHERE id > $1::bigint ORDER BY id LIMIT 1) o ON true", 1, params, NULL, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_result_reason(err, errlen, "cannot count the event_log backlog", conn, res);
		goto fail;
	}
	st->backlog_rows = db_i64(res, 0, 0);
	st->backlog_capped = st->backlog_rows >= DB_ELOG_COUNT_MAX;
	st->oldest_id = db_i64(res, 0, 1);
	db_copy(st->oldest_committed, sizeof(st->oldest_committed), res, 0, 2);
	st->oldest_age_ms = db_i64(res, 0, 3);
	PQclear(res);
	if (db_command(conn, "COMMIT", "event_log: cannot commit", err, errlen) == -1) {
		db_event_log_status_free(st);
		return -1;
	}
	return 0;
fail:
	PQclear(res);
	db_rollback(conn);
	db_event_log_status_free(st);
	return -1;
}

void
db_event_log_status_free(struct db_elog_status *st)
{
	free(st->parts);
	st->parts = NULL;
	st->nparts = 0;
}
