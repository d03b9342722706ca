/*
 * gw_db_test.c: the gateway's PostgreSQL reads against a real PostgreSQL
 * (tools/pgtmp), on a libev loop: a user's active accounts; the snapshot,
 * whose elements equal the live messages' data of the events that set the
 * rows (stored by the writer's own SQL, writer_sql.c), open orders and algo
 * orders only, non-zero positions, the user's active accounts only; a
 * cancelled request's callback never runs; PostgreSQL stopped: requests
 * fail, not reachable; back: reachable again with no call from us; a query
 * past its deadline fails and the connection is remade.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "event.h"
#include "gw_db.h"
#include "gw_msg.h"
#include "log.h"
#include "strbuf.h"
#include "writer_sql.h"

#include "evsample.h"

static char pgdir[256], pgtmp[512], conninfo[512];

/* pgtmp VERB pgdir [>/dev/null], its stdout's first line into out. */
static void
sh(const char *verb, char *out, size_t outlen)
{
	char cmd[1200];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "PGTMP_FAST=1 %s %s %s%s", pgtmp, verb, pgdir,
	    out ? "" : " >/dev/null");
	cr_assert_not_null(p = popen(cmd, "r"));
	if (out) {
		cr_assert_not_null(fgets(out, (int)outlen, p), "%s: no output", cmd);
		out[strcspn(out, "\n")] = '\0';
	}
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
}

static PGconn *
conn(void)
{
	PGconn *c = PQconnectdb(conninfo);

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

static void
exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
	    "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* ---- the events stored, and what the snapshot must say of them */

#define NEV	14
static struct event evs[NEV];
static int in_snap7[NEV];	/* in user 7's snapshot */

static void
ev_for(int i, unsigned type, int64_t acct, int64_t user)
{
	sample(&evs[i], type);
	evs[i].account_id = acct;
	evs[i].user_id = user;
	evs[i].event_time += i;
	evs[i].flags = 0;	/* a resync's algo row keeps no reject reason (NULL) */
}

static void
make_events(void)
{
	int i = 0;

	/* orders: open, filled, open; an inactive account's; another user's */
	ev_for(i, EV_ORDER, 1, 7);
	strcpy(evs[i].u.order.status, "NEW");
	evs[i].u.order.order_id = 11;
	in_snap7[i++] = 1;
	ev_for(i, EV_ORDER, 1, 7);
	strcpy(evs[i].u.order.status, "FILLED");
	evs[i].u.order.order_id = 12;
	i++;
	ev_for(i, EV_ORDER, 2, 7);
	evs[i].u.order.order_id = 21;		/* PARTIALLY_FILLED */
	strcpy(evs[i].u.order.price, "0.000123");
	in_snap7[i++] = 1;
	ev_for(i, EV_ORDER, 3, 7);
	strcpy(evs[i].u.order.status, "NEW");
	evs[i].u.order.order_id = 31;
	i++;
	ev_for(i, EV_ORDER, 4, 8);
	strcpy(evs[i].u.order.status, "NEW");
	evs[i].u.order.order_id = 41;
	i++;
	/* algo orders: open, finished */
	ev_for(i, EV_ALGO, 1, 7);
	strcpy(evs[i].u.algo.status, "NEW");
	in_snap7[i++] = 1;
	ev_for(i, EV_ALGO, 2, 7);
	strcpy(evs[i].u.algo.status, "FINISHED");
	i++;
	/* positions: open, closed (0), another user's */
	ev_for(i, EV_POSITION, 1, 7);
	in_snap7[i++] = 1;
	ev_for(i, EV_POSITION, 2, 7);
	strcpy(evs[i].u.position.amount, "0");
	i++;
	ev_for(i, EV_POSITION, 4, 8);
	i++;
	/* balances: two of user 7's accounts, the inactive one's, another user's */
	ev_for(i, EV_BALANCE, 1, 7);
	in_snap7[i++] = 1;
	ev_for(i, EV_BALANCE, 2, 7);
	strcpy(evs[i].u.balance.asset, "BNB");
	in_snap7[i++] = 1;
	ev_for(i, EV_BALANCE, 3, 7);
	i++;
	ev_for(i, EV_BALANCE, 4, 8);
	i++;
	cr_assert_eq(i, NEV);
	for (i = 0; i < NEV; i++)
		ev_make_id(&evs[i]);
}

/* The live message's data of event i as the snapshot must show it. */
static json_t *
expected(int i)
{
	struct event e = evs[i];
	struct strbuf b = { NULL, 0, 0, 0 };
	json_t *j;

	/* The tables keep no event time and no flags: the row's time, false. */
	switch (e.type) {
	case EV_ORDER:		e.event_time = e.u.order.update_time; break;
	case EV_ALGO:		e.event_time = e.u.algo.update_time; break;
	case EV_POSITION:	e.event_time = e.u.position.update_time; break;
	default:		e.event_time = e.u.balance.update_time; break;
	}
	e.flags = 0;
	cr_assert_eq(gw_message_data(&b, &e), 0);
	j = json_loads(b.p, 0, NULL);
	free(b.p);
	cr_assert_not_null(j);
	/* the same event id as the live event: computed from the row's columns */
	cr_assert_str_eq(json_string_value(json_object_get(j, "event_id")), evs[i].id);
	return j;
}

/* ---- the loop and the callbacks */

static struct ev_loop *loop;
static struct {
	int		 calls, rc;
	int64_t		 ids[8];
	size_t		 n;
	char		*json;
} ans;

static void
user_cb(int rc, const int64_t *ids, size_t n, void *arg)
{
	ans.calls++;
	ans.rc = rc;
	ans.n = n;
	for (size_t i = 0; i < n && i < 8; i++)
		ans.ids[i] = ids[i];
}

static void
snap_cb(int rc, const char *json, size_t len, void *arg)
{
	ans.calls++;
	ans.rc = rc;
	free(ans.json);
	ans.json = rc == 0 ? strndup(json, len) : NULL;
	cr_assert(rc != 0 || strlen(ans.json) == len);
}

static void
never_cb(int rc, const char *json, size_t len, void *arg)
{
	cr_assert_fail("a cancelled request's callback ran");
}

/*
 * Re-entrancy: a callback that queues another request (the gateway's does:
 * auth_ok then a snapshot, a snapshot then a resnapshot), which is sent at
 * once, while the answer it got still goes to the followers of the same
 * read.  Every answer must be the whole, same text.
 */
static struct gw_db *reent_db;
static char *reent_json[4];
static int reent_n;

static void
reent_snap_cb(int rc, const char *json, size_t len, void *arg)
{
	cr_assert_eq(rc, 0);
	cr_assert_eq(strlen(json), len, "a NUL inside the answer: its buffer was reused");
	cr_assert_lt(reent_n, 4);
	reent_json[reent_n++] = strndup(json, len);
	ans.calls++;
	gw_db_snapshot(reent_db, 8, snap_cb, NULL);
}

static int
wait_calls(int n, double secs)
{
	ev_now_update(loop);
	double end = ev_now(loop) + secs;

	while (ans.calls < n) {
		if (ev_now(loop) > end)
			return 0;
		ev_run(loop, EVRUN_NOWAIT);
		usleep(2000);
		ev_now_update(loop);
	}
	return 1;
}

static int
wait_reachable(struct gw_db *d, int want, double secs)
{
	ev_now_update(loop);
	double end = ev_now(loop) + secs;

	while (gw_db_reachable(d) != want) {
		if (ev_now(loop) > end)
			return 0;
		ev_run(loop, EVRUN_NOWAIT);
		usleep(2000);
		ev_now_update(loop);
	}
	return 1;
}

static void
setup(void)
{
	const char *top = getenv("top_srcdir");

	log_init("gw_db_test");
	if (access("/usr/lib/postgresql/15/bin/initdb", X_OK) != 0)
		cr_skip_test("no PostgreSQL 15 server binaries");
	snprintf(pgtmp, sizeof(pgtmp), "%s/tools/pgtmp", top ? top : "..");
	snprintf(pgdir, sizeof(pgdir), "/tmp/gw_db_test.%d", (int)getpid());
	sh("start", conninfo, sizeof(conninfo));
}

static void
teardown(void)
{
	char cmd[1200];

	if (pgdir[0]) {
		snprintf(cmd, sizeof(cmd), "%s stop %s >/dev/null 2>&1", pgtmp, pgdir);
		if (system(cmd) != 0)
			fprintf(stderr, "pgtmp stop failed\n");
	}
}

TestSuite(gw_db, .init = setup, .fini = teardown, .timeout = 120);

Test(gw_db, user_snapshot_cancel_outage_deadline)
{
	struct config cfg;
	struct gw_db *d;
	struct wsql *w = wsql_new();
	PGconn *c;
	char *script, err[256];
	json_t *m, *data;
	size_t applied;
	static const char *const arrays[] = { "orders", "algo_orders", "positions", "balances" };
	static const unsigned types[] = { EV_ORDER, EV_ALGO, EV_POSITION, EV_BALANCE };

	/* the schema, the accounts, the events through the writer's SQL */
	c = conn();
	cr_assert_eq(db_migrate(c, NULL, NULL, &applied, err, sizeof(err)), 0, "%s", err);
	exec(c, "INSERT INTO exchange_accounts (id, user_id, exchange, is_active, "
	    "api_key_encrypted, api_secret_encrypted) VALUES "
	    "(1, 7, 'binance-futures', true, '\\x00', '\\x00'), "
	    "(2, 7, 'binance-futures', true, '\\x00', '\\x00'), "
	    "(3, 7, 'binance-futures', false, '\\x00', '\\x00'), "
	    "(4, 8, 'binance-futures', true, '\\x00', '\\x00'), "
	    "(5, 9, 'binance-futures', false, '\\x00', '\\x00')");
	make_events();
	for (int i = 0; i < NEV; i++)
		cr_assert_eq(wsql_add(w, &evs[i]), 0);
	cr_assert_not_null(script = wsql_script(w, NULL));
	exec(c, script);
	free(script);
	wsql_free(w);

	memset(&cfg, 0, sizeof(cfg));
	cfg.db_conninfo = conninfo;
	cfg.db_reconnect_delay_max_ms = 300;
	loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(d = gw_db_new(loop, &cfg));

	/* users */
	cr_assert_eq(gw_db_user(d, 7, user_cb, NULL), 0);
	cr_assert(wait_calls(1, 10));
	cr_assert_eq(ans.rc, 1);
	cr_assert_eq(ans.n, 2, "user 7 has 2 active accounts (%zu)", ans.n);
	cr_assert(ans.ids[0] == 1 && ans.ids[1] == 2);
	cr_assert(gw_db_reachable(d));
	cr_assert_str_eq(gw_db_error(d), "");
	gw_db_user(d, 8, user_cb, NULL);
	gw_db_user(d, 9, user_cb, NULL);	/* only an inactive account */
	gw_db_user(d, 10, user_cb, NULL);	/* unknown */
	cr_assert(wait_calls(2, 5));
	cr_assert(ans.rc == 1 && ans.n == 1 && ans.ids[0] == 4);
	cr_assert(wait_calls(3, 5));
	cr_assert_eq(ans.rc, 0, "only inactive accounts: 0");
	cr_assert(wait_calls(4, 5));
	cr_assert_eq(ans.rc, 0, "unknown user: 0");

	/* the snapshot */
	cr_assert_eq(gw_db_snapshot(d, 7, snap_cb, NULL), 0);
	cr_assert(wait_calls(5, 10));
	cr_assert_eq(ans.rc, 0);
	cr_assert_not_null(m = json_loads(ans.json, 0, NULL), "not JSON: %s", ans.json);
	cr_assert_str_eq(json_string_value(json_object_get(m, "type")), "snapshot");
	cr_assert(json_is_string(json_object_get(m, "timestamp")));
	cr_assert_eq(strlen(json_string_value(json_object_get(m, "timestamp"))), 24);
	data = json_object_get(m, "data");
	cr_assert_eq(json_object_size(data), 4);
	for (int a = 0; a < 4; a++) {
		json_t *arr = json_object_get(data, arrays[a]);
		size_t k = 0;

		cr_assert(json_is_array(arr), "%s", arrays[a]);
		for (int i = 0; i < NEV; i++) {
			json_t *e;

			if (evs[i].type != types[a] || !in_snap7[i])
				continue;
			cr_assert_lt(k, json_array_size(arr), "%s: too few elements", arrays[a]);
			e = expected(i);
			if (!json_equal(e, json_array_get(arr, k))) {
				char *x = json_dumps(e, JSON_SORT_KEYS), *y = json_dumps(
				    json_array_get(arr, k), JSON_SORT_KEYS);

				cr_assert_fail("%s[%zu]:\nexpected %s\n     got %s", arrays[a], k, x, y);
			}
			json_decref(e);
			k++;
		}
		cr_assert_eq(json_array_size(arr), k, "%s: %zu elements, expected %zu", arrays[a],
		    json_array_size(arr), k);
	}
	json_decref(m);
	/* a user with nothing: four empty arrays */
	gw_db_snapshot(d, 10, snap_cb, NULL);
	cr_assert(wait_calls(6, 10));
	cr_assert_eq(ans.rc, 0);
	cr_assert(strstr(ans.json, "\"data\":{\"orders\":[],\"algo_orders\":[],\"positions\":[],"
	    "\"balances\":[]}}") != NULL, "%s", ans.json);

	/* cancelled: its callback never runs, the next one does */
	{
		int token;

		gw_db_snapshot(d, 7, never_cb, &token);
		gw_db_snapshot(d, 7, never_cb, &token);
		gw_db_cancel(d, &token);
		gw_db_user(d, 7, user_cb, NULL);
		cr_assert(wait_calls(7, 10));
		cr_assert_eq(ans.rc, 1);
	}

	/* one user's requests queued together: each answered once, a cancelled one never */
	{
		int a1, a2, a3, a4;
		char *first;

		gw_db_snapshot(d, 7, snap_cb, &a1);		/* sent at once */
		gw_db_snapshot(d, 7, snap_cb, &a2);		/* queued */
		gw_db_snapshot(d, 7, never_cb, &a3);		/* follows a2 */
		gw_db_snapshot(d, 7, snap_cb, &a4);		/* follows a2 */
		gw_db_cancel(d, &a3);
		cr_assert(wait_calls(8, 10));
		cr_assert_eq(ans.rc, 0);
		first = strdup(ans.json);
		cr_assert(wait_calls(10, 10));
		cr_assert_eq(ans.rc, 0);
		cr_assert(strstr(first, "\"orders\":[{") != NULL);
		cr_assert_str_eq(strstr(ans.json, "\"data\""), strstr(first, "\"data\""),
		    "the same snapshot");
		free(first);
		/* a leader cancelled: its followers are answered all the same */
		gw_db_user(d, 8, user_cb, NULL);		/* sent at once */
		gw_db_user(d, 7, user_cb, &a1);			/* queued */
		gw_db_user(d, 7, user_cb, NULL);		/* follows */
		gw_db_cancel(d, &a1);
		cr_assert(wait_calls(12, 10));
		cr_assert(ans.rc == 1 && ans.n == 2);
		ans.calls -= 5;		/* the counts below are those of before */
	}

	/* callbacks that queue requests while their read's followers are answered */
	{
		int before = ans.calls, x;

		reent_db = d;
		reent_n = 0;
		gw_db_user(d, 9, user_cb, &x);			/* sent at once */
		for (int i = 0; i < 3; i++)
			gw_db_snapshot(d, 7, reent_snap_cb, NULL);	/* one read, 3 answers */
		/* 1 + 3 answers, and the 3 requests the callbacks queued (one read each or shared) */
		cr_assert(wait_calls(before + 1 + 3 + 3, 20));
		cr_assert_eq(reent_n, 3);
		cr_assert(strstr(reent_json[0], "\"orders\":[{") != NULL);
		for (int i = 0; i < 3; i++) {
			json_t *j = json_loads(reent_json[i], 0, NULL);

			cr_assert_not_null(j, "answer %d is JSON: %.80s", i, reent_json[i]);
			json_decref(j);
			cr_assert_str_eq(reent_json[i], reent_json[0], "answer %d the same", i);
		}
		for (int i = 0; i < 3; i++)
			free(reent_json[i]);
		ans.calls = before;
	}

	/* PostgreSQL stopped: not reachable, requests fail; back: reachable by itself */
	sh("down", NULL, 0);
	cr_assert(wait_reachable(d, 0, 10), "not reachable once PostgreSQL stopped");
	cr_assert(gw_db_error(d)[0] != '\0');
	gw_db_user(d, 7, user_cb, NULL);
	cr_assert(wait_calls(8, 8), "a request while it is down is answered");
	cr_assert_eq(ans.rc, -1);
	sh("up", conninfo, sizeof(conninfo));
	cr_assert(wait_reachable(d, 1, 15), "reachable again once PostgreSQL is back");
	gw_db_user(d, 7, user_cb, NULL);
	cr_assert(wait_calls(9, 8));
	cr_assert_eq(ans.rc, 1);

	/* a query that does not answer within its deadline (a lock held elsewhere) */
	PQfinish(c);
	c = conn();
	exec(c, "BEGIN");
	exec(c, "LOCK TABLE exchange_accounts IN ACCESS EXCLUSIVE MODE");
	gw_db_user(d, 7, user_cb, NULL);
	cr_assert(wait_calls(10, 9), "answered at the deadline");
	cr_assert_eq(ans.rc, -1);
	cr_assert_eq(gw_db_reachable(d), 0, "past its deadline: not reachable");
	exec(c, "ROLLBACK");
	cr_assert(wait_reachable(d, 1, 10), "reconnected after the deadline");
	gw_db_user(d, 7, user_cb, NULL);
	cr_assert(wait_calls(11, 8));
	cr_assert_eq(ans.rc, 1);

	PQfinish(c);
	gw_db_free(d);
	ev_loop_destroy(loop);
	free(ans.json);
	for (int i = 0; i < NEV; i++)
		ev_clear(&evs[i]);
}
