/*
 * db.h: the PostgreSQL helpers shared by exfeedctl and the workers that
 * open the database: connecting, the schema migrations and their version
 * check, and the exchange_accounts rows with their sealed credentials.
 *
 * These calls block (PQexec): they are for start-up, reconciliation and the
 * operator's command line, not for the writer's hot path.  Every function
 * returns 0 on success and -1 on failure with the reason in err (or, where a
 * function takes no err, in PQerrorMessage(conn)); reasons never contain a
 * credential.
 */
#ifndef EXFEEDD_DB_H
#define EXFEEDD_DB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "crypto.h"

/* sql/NNN_name.sql, embedded at build time (tools/sql2c), in version order. */
struct db_migration {
	int		 version;
	const char	*name;		/* "001_initial" */
	const char	*sql;
};
extern const struct db_migration db_migrations[];
extern const size_t db_nmigrations;

/* The schema version this build needs: the newest embedded migration. */
int	 db_schema_latest(void);

/*
 * Connect (application_name = the log ident unless conninfo sets one).
 * NULL with err "cannot connect to PostgreSQL: <libpq's reason>".
 */
PGconn	*db_connect(const char *conninfo, char *err, size_t errlen);

/* The applied version: the highest in schema_migrations, 0 without the table. */
int	 db_schema_version(PGconn *, int *version, char *err, size_t errlen);
/*
 * 0 when every embedded migration is applied; -1 otherwise, with err
 * "database schema is at version N, this exfeedd needs M: run
 * `exfeedctl db migrate`" (or the query's failure).  A newer schema passes:
 * migrations only add.
 */
int	 db_schema_check(PGconn *, char *err, size_t errlen);
/*
 * Pending migrations: fills pending[] (indexes into db_migrations) and *n.
 * pending must hold db_nmigrations entries.
 */
int	 db_schema_pending(PGconn *, size_t *pending, size_t *n, char *err, size_t errlen);
/*
 * Apply every pending migration, each in its own transaction together with
 * its schema_migrations row, under an advisory lock so that two migrators
 * take turns.  done(m, arg) is called after each commit.  *applied counts them.
 */
int	 db_migrate(PGconn *, void (*done)(const struct db_migration *, void *), void *arg,
	    size_t *applied, char *err, size_t errlen);

/* ------------------------------------------------------------- account worker */

/* One active account of a shard, credentials opened. */
struct db_account {
	int64_t		 id;
	int64_t		 user_id;
	char		 exchange[32];		/* binance-futures, binance-spot, bybit, okx */
	char		 trading_mode[32];
	char		*api_key;		/* NUL-terminated; NULL when undecryptable */
	char		*api_secret;
	char		*listen_key;		/* NULL: none stored, expired, or not openable */
	int64_t		 listen_key_expires_ms;	/* epoch ms; 0 with listen_key NULL */
	int64_t		 last_event_time;	/* newest exchange E committed: the resync cursor */
	int64_t		 gap_since;		/* earliest unhealed gap (account_gaps), -1 if none */
	/*
	 * The API key or secret does not open with the key given (another master
	 * key, or a ciphertext copied from another row or column).  The worker
	 * quarantines such an account with DB_REASON_UNDECRYPTABLE.  A listen key
	 * that does not open is only dropped (listen_key NULL): it is disposable,
	 * and one written under the old master key during a rotate-key is expected.
	 */
	int		 undecryptable;
	const char	*undecryptable_field;	/* "api_key" or "api_secret" */
};
#define DB_REASON_UNDECRYPTABLE	"credentials do not decrypt with the current key"

/*
 * The active accounts with id mod nshards = shard, in id order.  *out is
 * malloc'd (NULL with *n 0 when there are none); free it with db_account_free.
 */
int	 db_accounts_load(PGconn *, int64_t shard, int64_t nshards,
	    const unsigned char key[CRYPTO_KEY_LEN], struct db_account **out, size_t *n,
	    char *err, size_t errlen);
/* Wipe every secret, then free the array. */
void	 db_account_free(struct db_account *, size_t n);
/*
 * Seal and store a listen key with its expiry (epoch ms); listen_key NULL
 * clears both.  1 when no account has that id (removed meanwhile); -1 with
 * the reason in PQerrorMessage.
 */
int	 db_account_set_listen_key(PGconn *, const unsigned char key[CRYPTO_KEY_LEN], int64_t id,
	    const char *listen_key, int64_t expires_ms);
/* is_active = false with the reason; 1 when no account has that id, -1 as above. */
int	 db_account_quarantine(PGconn *, int64_t id, const char *reason);

/* ------------------------------------------------------------------ exfeedctl */

/* A row of `exfeedctl account list`: never a credential. */
struct db_account_info {
	int64_t		 id;
	int64_t		 user_id;
	char		 exchange[32];
	char		*label;			/* NULL when unset */
	int		 is_active;
	char		*deactivated_reason;	/* NULL when unset */
	char		 listen_key_expires[32];	/* "2026-01-02T03:04:05Z", "" when none */
	char		 created[32];
};
int	 db_accounts_list(PGconn *, struct db_account_info **out, size_t *n, char *err,
	    size_t errlen);
void	 db_account_info_free(struct db_account_info *, size_t n);

int	 db_exchange_valid(const char *exchange);
/* Allocate the id, seal the credentials under it, insert: *id is the new account. */
int	 db_account_add(PGconn *, const unsigned char key[CRYPTO_KEY_LEN], int64_t user_id,
	    const char *exchange, const char *label, const char *api_key, const char *api_secret,
	    int64_t *id, char *err, size_t errlen);
/* The next three return 1 when no account has that id. */
int	 db_account_set_active(PGconn *, int64_t id, int active, const char *reason, char *err,
	    size_t errlen);
int	 db_account_remove(PGconn *, int64_t id, char *err, size_t errlen);
/*
 * Open every credential of one account and drop the plaintexts.  *bad is
 * NULL when all open, else the first field that does not ("api_key",
 * "api_secret", "listen_key"); *nfields counts those present.
 */
int	 db_account_check(PGconn *, const unsigned char key[CRYPTO_KEY_LEN], int64_t id,
	    const char **bad, int *nfields, char *err, size_t errlen);
/*
 * Re-seal every credential of every account from oldkey to newkey in one
 * transaction (rows locked FOR UPDATE).  If any value does not open with
 * oldkey, nothing changes: -1 with err naming the account and the field.
 */
int	 db_rotate_key(PGconn *, const unsigned char oldkey[CRYPTO_KEY_LEN],
	    const unsigned char newkey[CRYPTO_KEY_LEN], size_t *nvalues, size_t *naccounts,
	    char *err, size_t errlen);

/* ------------------------------------------------------- event_log status */

/*
 * Counts stop here, so that a status costs a bounded read (some 20 ms a
 * count) whatever the table holds: a partition with more rows shows the
 * planner's estimate (pg_class.reltuples, from the last ANALYZE) and says
 * so, or, never analyzed, that it holds more than this.
 */
#define DB_ELOG_COUNT_MAX	100000

/* One partition of event_log (`exfeedctl db status`). */
struct db_elog_part {
	char		 name[64];
	char		 day[16];		/* "2026-11-28"; "" for the default and other names */
	int		 is_default;
	int64_t		 rows;
	int		 rows_estimated;	/* more than DB_ELOG_COUNT_MAX: reltuples */
	int		 rows_capped;		/* ... not analyzed yet: rows is the cap */
	int64_t		 bytes;			/* pg_total_relation_size: heap, indexes, TOAST */
	int64_t		 unpublished;		/* id > published_through, up to DB_ELOG_COUNT_MAX */
	int		 unpublished_capped;
};

struct db_elog_status {
	struct db_elog_part *parts;		/* day partitions by name (so by day), the default last */
	size_t		 nparts;
	int64_t		 published_through;	/* event_log_relay: every id up to it is on Kafka */
	char		 relay_updated[32];	/* "2026-12-01T10:00:00Z" */
	int64_t		 relay_updated_age_ms;
	int64_t		 backlog_rows;		/* id > published_through, up to DB_ELOG_COUNT_MAX */
	int		 backlog_capped;
	int64_t		 oldest_id;		/* the first of them; 0 when there is none */
	char		 oldest_committed[32];
	int64_t		 oldest_age_ms;
};
/*
 * The partitions of event_log with their rows and sizes, the relay's
 * watermark and the backlog after it, read in one read-only snapshot while
 * holding event_log's ACCESS SHARE lock (no partition is dropped under the
 * counts; the writer's maintenance waits, or gives up and tries again).
 * Needs schema version 4.  Free with db_event_log_status_free.
 */
int	 db_event_log_status(PGconn *, struct db_elog_status *, char *err, size_t errlen);
void	 db_event_log_status_free(struct db_elog_status *);

#endif
