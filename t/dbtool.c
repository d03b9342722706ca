/*
 * dbtool.c: drives the db.c calls the account workers make (load a shard,
 * store a listen key, quarantine, the schema check) so t/integration/db.sh
 * can test them on a real PostgreSQL.  A test tool: it prints the opened
 * (fake) credentials so that the test can compare them; never installed.
 *
 *   dbtool CONNINFO KEYFILE load SHARD NSHARDS
 *   dbtool CONNINFO KEYFILE setlk ID LISTENKEY|- EXPIRES_MS
 *   dbtool CONNINFO - quarantine ID REASON
 *   dbtool CONNINFO - schema
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"

static int
usage(void)
{
	fprintf(stderr, "usage: dbtool CONNINFO KEYFILE|- load SHARD NSHARDS | setlk ID KEY|- MS | "
	    "quarantine ID REASON | schema\n");
	return 64;
}

int
main(int argc, char *argv[])
{
	unsigned char key[CRYPTO_KEY_LEN];
	struct db_account *v;
	char err[1024];
	PGconn *conn;
	size_t n;
	int rc = 0;

	if (argc < 4)
		return usage();
	if (strcmp(argv[2], "-") != 0 && crypto_key_load(argv[2], key, err, sizeof(err)) == -1) {
		fprintf(stderr, "dbtool: %s\n", err);
		return 78;
	}
	if ((conn = db_connect(argv[1], err, sizeof(err))) == NULL) {
		fprintf(stderr, "dbtool: %s\n", err);
		return 69;
	}
	if (strcmp(argv[3], "load") == 0 && argc == 6) {
		if (db_accounts_load(conn, strtoll(argv[4], NULL, 10), strtoll(argv[5], NULL, 10), key,
		    &v, &n, err, sizeof(err)) == -1) {
			fprintf(stderr, "dbtool: %s\n", err);
			rc = 1;
		} else {
			for (size_t i = 0; i < n; i++)
				printf("id=%" PRId64 " user=%" PRId64 " exchange=%s mode=%s "
				    "undecryptable=%s key=%s secret=%s listen=%s expires=%s last=%" PRId64
				    "\n", v[i].id, v[i].user_id, v[i].exchange, v[i].trading_mode,
				    v[i].undecryptable ? v[i].undecryptable_field : "no",
				    v[i].api_key ? v[i].api_key : "-",
				    v[i].api_secret ? v[i].api_secret : "-",
				    v[i].listen_key ? v[i].listen_key : "-",
				    v[i].listen_key_expires_ms > 0 ? "set" : "-", v[i].last_event_time);
			printf("%zu accounts\n", n);
			db_account_free(v, n);
		}
	} else if (strcmp(argv[3], "setlk") == 0 && argc == 7) {
		rc = db_account_set_listen_key(conn, key, strtoll(argv[4], NULL, 10),
		    strcmp(argv[5], "-") == 0 ? NULL : argv[5], strtoll(argv[6], NULL, 10));
		if (rc == -1)
			fprintf(stderr, "dbtool: %s", PQerrorMessage(conn));
		printf("rc=%d\n", rc);
	} else if (strcmp(argv[3], "quarantine") == 0 && argc == 6) {
		rc = db_account_quarantine(conn, strtoll(argv[4], NULL, 10), argv[5]);
		if (rc == -1)
			fprintf(stderr, "dbtool: %s", PQerrorMessage(conn));
		printf("rc=%d\n", rc);
	} else if (strcmp(argv[3], "schema") == 0 && argc == 4) {
		if (db_schema_check(conn, err, sizeof(err)) == -1) {
			printf("%s\n", err);
			rc = 1;
		} else
			printf("schema ok\n");
	} else
		rc = usage();
	crypto_wipe(key, sizeof(key));
	PQfinish(conn);
	return rc;
}
