/*
 * gw_db.c: the gateway's PostgreSQL reads (gw_db.h), non-blocking on the
 * worker's libev loop: one connection, requests answered one at a time in
 * the order queued, each with a deadline; a lost connection is remade with
 * backoff (GWDB_BACKOFF_FIRST_MS doubling up to [database]
 * reconnect_delay_max), and while it is known down requests fail at once so
 * the client is told to retry rather than left waiting.
 *
 * A request of a user whose same request is queued and not yet sent is
 * answered with that one's answer: the read happens after both asked, so
 * each client's live events held since it asked cover what the read
 * misses (never one already sent: its read may predate events the new
 * client is not holding).  Five tabs of one user cost one snapshot.
 *
 * A snapshot is one simple-protocol query string of four SELECTs (one round
 * trip); each row becomes the event that set it (the same fields, and with
 * ev_make_id the same event_id as that event: every input of the id is a
 * column of the row), printed by gw_message_data, so a snapshot element
 * has the shape of the live message's data.  The element's event_time is
 * the row's update_time (the tables keep no event time); resync and lite
 * are false.  The user id is an integer we print: nothing a client sends
 * reaches the SQL text.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "clock.h"
#include "config.h"
#include "event.h"
#include "gw_db.h"
#include "gw_msg.h"
#include "log.h"
#include "strbuf.h"

#define GWDB_QUEUE_MAX		10000
#define GWDB_DEADLINE_S		5.0	/* a request's answer, from when it was sent */
/*
 * A request's wait in the queue, at most: after a gateway restart every
 * client comes back at once (10,000 of 2,000 users: 4,000 reads of about a
 * millisecond each, one at a time), so the queue may take seconds to drain
 * while PostgreSQL answers each read within GWDB_DEADLINE_S.
 */
#define GWDB_QUEUE_WAIT_S	30.0
#define GWDB_CONNECT_TIMEOUT_S	5.0
#define GWDB_BACKOFF_FIRST_MS	100
#define GWDB_PING_S		5.0	/* an idle connection is checked this often (for /health) */

enum gwdb_state { GWDB_DOWN, GWDB_CONNECTING, GWDB_READY };
enum gwdb_kind { REQ_USER, REQ_SNAPSHOT, REQ_PING };

struct gwdb_req {
	enum gwdb_kind		 kind;
	int64_t			 user_id;
	gw_user_fn		 user_cb;
	gw_snapshot_fn		 snap_cb;
	void			*arg;
	double			 deadline;	/* ev_now() */
	int			 cancelled;
	struct gwdb_req		*next;
	/*
	 * Requests of the same kind and user queued while this one waited:
	 * answered with its answer (a read made after each of them asked).
	 */
	struct gwdb_req		*followers;
};

struct gw_db {
	struct ev_loop		*loop;
	char			*conninfo;
	int64_t			 backoff_max_ms;
	PGconn			*conn;
	enum gwdb_state		 state;
	ev_io			 io;
	int			 io_events;
	ev_timer		 retry;
	ev_timer		 deadline;	/* the earliest deadline of the queue */
	ev_timer		 ping;
	struct gwdb_req		*head, **tail;
	size_t			 nq;
	struct gwdb_req		*inflight;	/* sent, answer not complete */
	int			 failed;	/* the inflight request got an error result */
	int			 nselect;	/* snapshot: SELECT results so far */
	int64_t			*ids;		/* user: the account ids so far */
	size_t			 nids, idscap;
	struct strbuf		 snap;		/* snapshot: the message being built */
	int			 reachable;
	unsigned		 failures;
	int			 down_logged;
	char			 error[256];
	struct log_ratelimit	 rl;
};

static void	gwdb_connect(struct gw_db *);
static void	gwdb_kick(struct gw_db *);

/* libpq's messages end in a newline and may span lines: one line. */
static void
set_error(struct gw_db *d, const char *msg)
{
	size_t n = 0;

	for (const char *p = msg ? msg : ""; *p && n + 1 < sizeof(d->error); p++) {
		char c = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;

		if (c != ' ' || (n > 0 && d->error[n - 1] != ' '))
			d->error[n++] = c;
	}
	while (n > 0 && d->error[n - 1] == ' ')
		n--;
	d->error[n] = '\0';
	if (n == 0)
		snprintf(d->error, sizeof(d->error), "unknown error");
}

int
gw_db_reachable(const struct gw_db *d)
{
	return d->reachable;
}

const char *
gw_db_error(const struct gw_db *d)
{
	return d->reachable ? "" : d->error;
}

/* ---------------------------------------------------------------- answers */

/*
 * Run the callbacks of r and its followers (unless cancelled) with an
 * answer (rc -1: a failure), and free them.  A callback may queue or
 * cancel requests: r and its followers are out of the queue already.
 */
static void
req_answer(struct gwdb_req *r, int rc, const int64_t *ids, size_t n, const char *json,
    size_t len)
{
	while (r != NULL) {
		struct gwdb_req *next = r->followers;

		if (!r->cancelled) {
			if (r->kind == REQ_USER)
				r->user_cb(rc, ids, n, r->arg);
			else if (r->kind == REQ_SNAPSHOT)
				r->snap_cb(rc == 1 ? 0 : -1, json, len, r->arg);
		}
		free(r);
		r = next;
	}
}

static void
req_fail(struct gwdb_req *r)
{
	req_answer(r, -1, NULL, 0, NULL, 0);
}

static struct gwdb_req *
queue_pop(struct gw_db *d)
{
	struct gwdb_req *r = d->head;

	if (r == NULL)
		return NULL;
	d->head = r->next;
	if (d->head == NULL)
		d->tail = &d->head;
	for (struct gwdb_req *f = r; f != NULL; f = f->followers)
		d->nq--;
	return r;
}

/* Fail every queued request (the connection is known down). */
static void
queue_fail_all(struct gw_db *d)
{
	struct gwdb_req *r;

	while ((r = queue_pop(d)) != NULL)
		req_fail(r);
}

static void
io_watch(struct gw_db *d, int events)
{
	int fd = d->conn ? PQsocket(d->conn) : -1;

	if (ev_is_active(&d->io) && d->io.fd == fd && d->io_events == events)
		return;
	ev_io_stop(d->loop, &d->io);
	if (fd < 0)
		return;
	ev_io_set(&d->io, fd, events);
	d->io_events = events;
	ev_io_start(d->loop, &d->io);
}

static void
gwdb_close(struct gw_db *d)
{
	ev_io_stop(d->loop, &d->io);
	if (d->conn)
		PQfinish(d->conn);
	d->conn = NULL;
	d->state = GWDB_DOWN;
	d->reachable = 0;
	if (d->inflight) {
		struct gwdb_req *r = d->inflight;

		d->inflight = NULL;
		req_fail(r);
	}
}

/* Connection lost or not made: fail what waits, retry with backoff. */
static void
gwdb_fail(struct gw_db *d, const char *why)
{
	int64_t ms = GWDB_BACKOFF_FIRST_MS;

	set_error(d, why);
	gwdb_close(d);
	if (!d->down_logged) {
		log_warnx("gateway: database unavailable: %s; retrying", d->error);
		d->down_logged = 1;
	} else
		log_debug("gateway: database still unavailable: %s", d->error);
	for (unsigned i = 0; i < d->failures && ms < d->backoff_max_ms; i++)
		ms *= 2;
	if (ms > d->backoff_max_ms)
		ms = d->backoff_max_ms;
	d->failures++;
	ev_timer_stop(d->loop, &d->retry);
	ev_timer_set(&d->retry, (double)ms / 1000., 0.);
	ev_timer_start(d->loop, &d->retry);
	queue_fail_all(d);
}

/* ---------------------------------------------------------------- rows */

/* Column i of row as text into dst[size]: 0, or -1 if it does not fit (or is NULL). */
static int
col(const PGresult *res, int row, int i, char *dst, size_t size)
{
	int len = PQgetlength(res, row, i);

	if (PQgetisnull(res, row, i) || (size_t)len >= size)
		return -1;
	memcpy(dst, PQgetvalue(res, row, i), (size_t)len);
	dst[len] = '\0';
	return 0;
}

/* The same for a column that may be NULL ("" then: unknown, as in the event). */
static int
col_null(const PGresult *res, int row, int i, char *dst, size_t size)
{
	if (PQgetisnull(res, row, i)) {
		dst[0] = '\0';
		return 0;
	}
	return col(res, row, i, dst, size);
}

static int
col_i64(const PGresult *res, int row, int i, int64_t *v)
{
	char buf[24], *end;

	if (col(res, row, i, buf, sizeof(buf)) == -1)
		return -1;
	*v = strtoll(buf, &end, 10);
	return *end == '\0' && end != buf ? 0 : -1;
}

static int
col_bool(const PGresult *res, int row, int i, bool *v)
{
	char buf[4];

	if (col(res, row, i, buf, sizeof(buf)) == -1 || (buf[0] != 't' && buf[0] != 'f'))
		return -1;
	*v = buf[0] == 't';
	return 0;
}

#define C(i, f)		(col(res, row, (i), (f), sizeof(f)) == -1)
#define CI(i, f)	(col_i64(res, row, (i), &(f)) == -1)
#define CB(i, f)	(col_bool(res, row, (i), &(f)) == -1)
#define CN(i, f)	(col_null(res, row, (i), (f), sizeof(f)) == -1)

/*
 * The four SELECTs; every one starts with account_id, user_id, exchange
 * (SNAP_COMMON columns), then the row's own columns in the order the
 * row_* functions read them.  '@' stands for the user id (snap_stmt).
 */
#define SNAP_COMMON	3
static const char *const snap_sql[] = {
	"SELECT o.account_id, a.user_id, a.exchange, o.order_id, o.symbol, o.client_order_id, "
	"o.side, o.position_side, o.order_type, o.orig_type, o.time_in_force, o.exec_type, "
	"o.status, o.price, o.avg_price, o.stop_price, o.orig_qty, o.filled_qty, o.reduce_only, "
	"o.close_position, o.update_time FROM orders o JOIN exchange_accounts a "
	"ON a.id = o.account_id WHERE a.user_id = @ AND a.is_active "
	"AND o.status IN ('NEW', 'PARTIALLY_FILLED') ORDER BY o.account_id, o.order_id;",
	"SELECT g.account_id, a.user_id, a.exchange, g.algo_id, g.client_algo_id, g.algo_type, "
	"g.order_type, g.symbol, g.side, g.position_side, g.time_in_force, g.quantity, g.status, "
	"g.actual_order_id, g.avg_price, g.filled_qty, g.trigger_price, g.price, g.reduce_only, "
	"g.close_position, g.reject_reason, g.update_time FROM algo_orders g "
	"JOIN exchange_accounts a ON a.id = g.account_id WHERE a.user_id = @ "
	"AND a.is_active AND g.status IN ('NEW', 'TRIGGERING') ORDER BY g.account_id, g.algo_id;",
	"SELECT p.account_id, a.user_id, a.exchange, p.symbol, p.position_side, p.amount, "
	"p.entry_price, p.breakeven_price, p.unrealized_pnl, p.margin_type, p.isolated_wallet, "
	"p.margin_asset, p.update_time FROM positions p JOIN exchange_accounts a "
	"ON a.id = p.account_id WHERE a.user_id = @ AND a.is_active "
	"AND p.amount <> 0 ORDER BY p.account_id, p.symbol, p.position_side;",
	"SELECT b.account_id, a.user_id, a.exchange, b.asset, b.wallet_balance, b.cross_wallet, "
	"b.balance_change, b.reason, b.update_time FROM balances b JOIN exchange_accounts a "
	"ON a.id = b.account_id WHERE a.user_id = @ AND a.is_active "
	"ORDER BY b.account_id, b.asset;",
};
static const char *const snap_names[] = { "orders", "algo_orders", "positions", "balances" };
static const unsigned snap_types[] = { EV_ORDER, EV_ALGO, EV_POSITION, EV_BALANCE };

/* Statement s with its '@' replaced by the user id, into out[size]: the length written. */
static size_t
snap_stmt(char *out, size_t size, const char *s, int64_t user_id)
{
	const char *at = strchr(s, '@');
	int n;

	n = snprintf(out, size, "%.*s%" PRId64 "%s", (int)(at - s), s, user_id, at + 1);
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static int
row_order(const PGresult *res, int row, struct ev_order *o)
{
	if (CI(3, o->order_id) || C(4, o->symbol) || C(5, o->client_id) || C(6, o->side) ||
	    C(7, o->position_side) || C(8, o->type) || C(9, o->orig_type) || C(10, o->tif) ||
	    C(11, o->exec_type) || C(12, o->status) || C(13, o->price) || C(14, o->avg_price) ||
	    C(15, o->stop_price) || C(16, o->orig_qty) || C(17, o->filled_qty) ||
	    CB(18, o->reduce_only) || CB(19, o->close_position) || CI(20, o->update_time))
		return -1;
	return 0;
}

static int
row_algo(const PGresult *res, int row, struct ev_algo *g)
{
	if (CI(3, g->algo_id) || C(4, g->client_id) || C(5, g->algo_type) || C(6, g->type) ||
	    C(7, g->symbol) || C(8, g->side) || C(9, g->position_side) || C(10, g->tif) ||
	    C(11, g->qty) || C(12, g->status) || C(13, g->actual_order_id) ||
	    C(14, g->avg_price) || CN(15, g->filled_qty) || C(16, g->trigger_price) ||
	    C(17, g->price) || CB(18, g->reduce_only) || CB(19, g->close_position) ||
	    CN(20, g->reject_reason) || CI(21, g->update_time))
		return -1;
	return 0;
}

static int
row_position(const PGresult *res, int row, struct ev_position *p)
{
	if (C(3, p->symbol) || C(4, p->position_side) || C(5, p->amount) ||
	    C(6, p->entry_price) || C(7, p->breakeven_price) || C(8, p->unrealized_pnl) ||
	    C(9, p->margin_type) || C(10, p->isolated_wallet) || C(11, p->margin_asset) ||
	    CI(12, p->update_time))
		return -1;
	return 0;
}

static int
row_balance(const PGresult *res, int row, struct ev_balance *b)
{
	if (C(3, b->asset) || C(4, b->wallet) || C(5, b->cross_wallet) || C(6, b->change) ||
	    C(7, b->reason) || CI(8, b->update_time))
		return -1;
	return 0;
}

/* One row as the event that set it. */
static int
row_event(const PGresult *res, int row, unsigned type, struct event *ev)
{
	int rc;

	memset(ev, 0, sizeof(*ev));
	ev->type = (uint8_t)type;
	if (CI(0, ev->account_id) || CI(1, ev->user_id) || C(2, ev->exchange))
		return -1;
	switch (type) {
	case EV_ORDER:
		rc = row_order(res, row, &ev->u.order);
		ev->event_time = ev->u.order.update_time;
		break;
	case EV_ALGO:
		rc = row_algo(res, row, &ev->u.algo);
		ev->event_time = ev->u.algo.update_time;
		break;
	case EV_POSITION:
		rc = row_position(res, row, &ev->u.position);
		ev->event_time = ev->u.position.update_time;
		break;
	default:
		rc = row_balance(res, row, &ev->u.balance);
		ev->event_time = ev->u.balance.update_time;
		break;
	}
	if (rc == 0)
		ev_make_id(ev);
	return rc;
}

#undef C
#undef CI
#undef CB
#undef CN

/* One SELECT's rows appended to the snapshot as "name":[...]. */
static void
snap_add(struct gw_db *d, const PGresult *res, int which)
{
	struct event ev;
	int n = PQntuples(res), put = 0;

	if (PQnfields(res) < SNAP_COMMON) {
		d->failed = 1;
		return;
	}
	if (which > 0)
		strbuf_put(&d->snap, ",", 1);
	strbuf_puts(&d->snap, "\"");
	strbuf_puts(&d->snap, snap_names[which]);
	strbuf_puts(&d->snap, "\":[");
	for (int row = 0; row < n; row++) {
		if (row_event(res, row, snap_types[which], &ev) == -1) {
			log_warnx_rl(&d->rl, "gateway: snapshot: a %s row of account %s does not fit "
			    "an event; left out", snap_names[which], PQgetvalue(res, row, 0));
			continue;
		}
		if (put++ > 0)
			strbuf_put(&d->snap, ",", 1);
		if (gw_message_data(&d->snap, &ev) == -1)
			d->failed = 1;
	}
	strbuf_put(&d->snap, "]", 1);
}

static void
user_add(struct gw_db *d, const PGresult *res)
{
	int n = PQntuples(res);

	for (int row = 0; row < n; row++) {
		int64_t id;

		if (col_i64(res, row, 0, &id) == -1) {
			d->failed = 1;
			return;
		}
		if (d->nids == d->idscap) {
			size_t ncap = d->idscap ? d->idscap * 2 : 16;
			int64_t *ni = realloc(d->ids, ncap * sizeof(*ni));

			if (ni == NULL) {
				d->failed = 1;
				return;
			}
			d->ids = ni;
			d->idscap = ncap;
		}
		d->ids[d->nids++] = id;
	}
}

/* The inflight request's answer is complete. */
static void
req_done(struct gw_db *d)
{
	struct gwdb_req *r = d->inflight;

	d->inflight = NULL;
	if (d->failed) {
		req_fail(r);
		return;
	}
	d->reachable = 1;
	d->error[0] = '\0';
	/*
	 * The answer's buffers are taken out of d first: a callback may queue
	 * a request, which is sent at once (d->inflight is NULL) and starts
	 * its answer in d's buffers while the followers of this one still
	 * read theirs (a snapshot whose text was overwritten under them:
	 * tools/bench gateway's clients got {"type":"snapshot",...,"data":{ and
	 * a NUL).
	 */
	if (r->kind == REQ_USER) {
		int64_t *ids = d->ids;
		size_t n = d->nids;

		d->ids = NULL;
		d->nids = d->idscap = 0;
		req_answer(r, n > 0 ? 1 : 0, ids, n, NULL, 0);
		free(ids);
	} else if (r->kind == REQ_SNAPSHOT) {
		struct strbuf snap;

		strbuf_puts(&d->snap, "}}");
		snap = d->snap;
		memset(&d->snap, 0, sizeof(d->snap));
		req_answer(r, snap.oom ? -1 : 1, NULL, 0, snap.p, snap.len);
		free(snap.p);
	} else
		req_answer(r, 1, NULL, 0, NULL, 0);
}

static void
results(struct gw_db *d)
{
	PGresult *res;

	while (d->inflight && !PQisBusy(d->conn)) {
		if ((res = PQgetResult(d->conn)) == NULL) {
			req_done(d);
			gwdb_kick(d);
			return;
		}
		switch (PQresultStatus(res)) {
		case PGRES_TUPLES_OK:
			if (d->inflight->kind == REQ_USER)
				user_add(d, res);
			else if (d->inflight->kind == REQ_SNAPSHOT && d->nselect < 4)
				snap_add(d, res, d->nselect++);
			break;
		case PGRES_COMMAND_OK:
			break;
		default:
			d->failed = 1;
			set_error(d, PQresultErrorMessage(res));
			log_warnx_rl(&d->rl, "gateway: database: %s", d->error);
			break;
		}
		PQclear(res);
	}
}

/* ---------------------------------------------------------------- sending */

static void
flush_out(struct gw_db *d)
{
	switch (PQflush(d->conn)) {
	case 0:
		io_watch(d, EV_READ);
		break;
	case 1:
		io_watch(d, EV_READ | EV_WRITE);
		break;
	default:
		gwdb_fail(d, PQerrorMessage(d->conn));
		break;
	}
}

static void
send_req(struct gw_db *d, struct gwdb_req *r)
{
	char uid[24], sql[4096];
	const char *vals[1] = { uid };
	size_t off = 0;
	int ok;

	d->failed = 0;
	d->nselect = 0;
	d->nids = 0;
	switch (r->kind) {
	case REQ_USER:
		snprintf(uid, sizeof(uid), "%" PRId64, r->user_id);
		ok = PQsendQueryParams(d->conn, "SELECT id FROM exchange_accounts "
		    "WHERE user_id = $1 AND is_active ORDER BY id", 1, NULL, vals, NULL, NULL, 0);
		break;
	case REQ_SNAPSHOT: {
		char iso[25];

		for (size_t i = 0; i < sizeof(snap_sql) / sizeof(snap_sql[0]); i++)
			off += snap_stmt(sql + off, sizeof(sql) - off, snap_sql[i], r->user_id);
		d->snap.len = 0;
		d->snap.oom = 0;
		if (d->snap.p)
			d->snap.p[0] = '\0';
		gw_iso8601(clock_real_us() / 1000, iso);
		strbuf_puts(&d->snap, "{\"type\":\"snapshot\",\"timestamp\":\"");
		strbuf_puts(&d->snap, iso);
		strbuf_puts(&d->snap, "\",\"data\":{");
		ok = PQsendQuery(d->conn, sql);
		break;
	}
	default:
		ok = PQsendQuery(d->conn, "SELECT 1");
		break;
	}
	d->inflight = r;
	r->deadline = ev_now(d->loop) + GWDB_DEADLINE_S;
	if (!ok) {
		gwdb_fail(d, PQerrorMessage(d->conn));
		return;
	}
	flush_out(d);
}

/* The earliest deadline of what waits (queued or inflight), to arm the timer. */
static void
deadline_arm(struct gw_db *d)
{
	double t = 0;

	if (d->inflight)
		t = d->inflight->deadline;
	for (struct gwdb_req *r = d->head; r; r = r->next)
		if (t == 0 || r->deadline < t)
			t = r->deadline;
	ev_timer_stop(d->loop, &d->deadline);
	if (t > 0) {
		double in = t - ev_now(d->loop);

		ev_timer_set(&d->deadline, in > 0 ? in : 0., 0.);
		ev_timer_start(d->loop, &d->deadline);
	}
}

static int
all_cancelled(const struct gwdb_req *r)
{
	for (; r != NULL; r = r->followers)
		if (!r->cancelled)
			return 0;
	return 1;
}

static void
gwdb_kick(struct gw_db *d)
{
	struct gwdb_req *r;

	if (d->state == GWDB_READY && d->inflight == NULL) {
		while ((r = queue_pop(d)) != NULL && all_cancelled(r))
			req_answer(r, -1, NULL, 0, NULL, 0);	/* runs no callback */
		if (r != NULL)
			send_req(d, r);
	}
	deadline_arm(d);
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct gw_db *d = t->data;
	double now = ev_now(loop);
	struct gwdb_req **pp = &d->head, *r;

	if (d->inflight && d->inflight->deadline <= now) {
		/* An answer past its deadline: the connection is not to be trusted. */
		gwdb_fail(d, "a query did not answer within its deadline");
		return;
	}
	while ((r = *pp) != NULL) {
		if (r->deadline <= now) {
			*pp = r->next;
			if (d->tail == &r->next)
				d->tail = pp;
			for (struct gwdb_req *f = r; f != NULL; f = f->followers)
				d->nq--;
			req_fail(r);
		} else
			pp = &r->next;
	}
	deadline_arm(d);
}

static int
queue_req(struct gw_db *d, struct gwdb_req *r)
{
	/* Known down (between attempts): the client is told to retry at once. */
	if (d->state == GWDB_DOWN && d->failures > 0) {
		req_fail(r);
		return 0;
	}
	if (d->nq >= GWDB_QUEUE_MAX) {
		free(r);
		return -1;
	}
	if (r->kind != REQ_PING)
		for (struct gwdb_req *q = d->head; q != NULL; q = q->next)
			if (q->kind == r->kind && q->user_id == r->user_id) {
				/* Queued, not sent: its answer is this one's too. */
				r->followers = q->followers;
				q->followers = r;
				d->nq++;
				return 0;
			}
	r->deadline = ev_now(d->loop) + GWDB_QUEUE_WAIT_S;
	*d->tail = r;
	d->tail = &r->next;
	d->nq++;
	gwdb_kick(d);
	return 0;
}

int
gw_db_user(struct gw_db *d, int64_t user_id, gw_user_fn cb, void *arg)
{
	struct gwdb_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -1;
	r->kind = REQ_USER;
	r->user_id = user_id;
	r->user_cb = cb;
	r->arg = arg;
	return queue_req(d, r);
}

int
gw_db_snapshot(struct gw_db *d, int64_t user_id, gw_snapshot_fn cb, void *arg)
{
	struct gwdb_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -1;
	r->kind = REQ_SNAPSHOT;
	r->user_id = user_id;
	r->snap_cb = cb;
	r->arg = arg;
	return queue_req(d, r);
}

void
gw_db_cancel(struct gw_db *d, void *arg)
{
	/*
	 * Marked, not removed: a cancelled request still answers its
	 * followers; one without followers is skipped when its turn comes.
	 */
	for (struct gwdb_req *f = d->inflight; f != NULL; f = f->followers)
		if (f->arg == arg && f->kind != REQ_PING)
			f->cancelled = 1;
	for (struct gwdb_req *r = d->head; r != NULL; r = r->next)
		for (struct gwdb_req *f = r; f != NULL; f = f->followers)
			if (f->arg == arg && f->kind != REQ_PING)
				f->cancelled = 1;
}

/* An idle connection is asked SELECT 1 now and then: /health follows the database. */
static void
ping_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct gw_db *d = t->data;
	struct gwdb_req *r;

	if (d->state != GWDB_READY || d->inflight || d->head)
		return;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return;
	r->kind = REQ_PING;
	queue_req(d, r);
}

/* ------------------------------------------------------------- connection */

static void
connected(struct gw_db *d)
{
	if (PQsetnonblocking(d->conn, 1) == -1) {
		gwdb_fail(d, PQerrorMessage(d->conn));
		return;
	}
	ev_timer_stop(d->loop, &d->retry);
	d->state = GWDB_READY;
	d->reachable = 1;
	d->failures = 0;
	d->error[0] = '\0';
	if (d->down_logged)
		log_info("gateway: database connected again");
	d->down_logged = 0;
	io_watch(d, EV_READ);
	gwdb_kick(d);
}

static void
connect_poll(struct gw_db *d)
{
	switch (PQconnectPoll(d->conn)) {
	case PGRES_POLLING_READING:
		io_watch(d, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		io_watch(d, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		connected(d);
		break;
	default:
		gwdb_fail(d, PQerrorMessage(d->conn));
		break;
	}
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct gw_db *d = w->data;
	PGnotify *n;

	if (d->state == GWDB_CONNECTING) {
		connect_poll(d);
		return;
	}
	if (d->state != GWDB_READY)
		return;
	if (revents & EV_WRITE) {
		flush_out(d);
		if (d->state != GWDB_READY)
			return;
	}
	if (revents & EV_READ) {
		if (!PQconsumeInput(d->conn)) {
			gwdb_fail(d, PQerrorMessage(d->conn));
			return;
		}
		while ((n = PQnotifies(d->conn)) != NULL)
			PQfreemem(n);
		if (d->inflight)
			results(d);
		else if (PQstatus(d->conn) != CONNECTION_OK)
			gwdb_fail(d, PQerrorMessage(d->conn));
	}
}

static void
retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct gw_db *d = t->data;

	if (d->state == GWDB_CONNECTING)
		gwdb_fail(d, "timed out connecting");
	else if (d->state == GWDB_DOWN)
		gwdb_connect(d);
}

static void
gwdb_connect(struct gw_db *d)
{
	const char *const keys[] = { "application_name", "dbname", NULL };
	const char *vals[] = { "exfeedd gateway", d->conninfo, NULL };

	gwdb_close(d);
	/* conninfo (as dbname, expanded) overrides the application name if it sets one. */
	if ((d->conn = PQconnectStartParams(keys, vals, 1)) == NULL) {
		gwdb_fail(d, "out of memory");
		return;
	}
	if (PQstatus(d->conn) == CONNECTION_BAD) {
		gwdb_fail(d, PQerrorMessage(d->conn));
		return;
	}
	d->state = GWDB_CONNECTING;
	/* The retry timer doubles as the connect deadline. */
	ev_timer_stop(d->loop, &d->retry);
	ev_timer_set(&d->retry, GWDB_CONNECT_TIMEOUT_S, 0.);
	ev_timer_start(d->loop, &d->retry);
	/* As if PQconnectPoll had asked for writing (libpq's documented start). */
	io_watch(d, EV_WRITE);
}

struct gw_db *
gw_db_new(struct ev_loop *loop, const struct config *cfg)
{
	struct gw_db *d;

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->conninfo = strdup(cfg->db_conninfo)) == NULL) {
		free(d);
		return NULL;
	}
	d->loop = loop;
	d->backoff_max_ms = cfg->db_reconnect_delay_max_ms;
	d->tail = &d->head;
	d->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	snprintf(d->error, sizeof(d->error), "not connected yet");
	ev_init(&d->io, io_cb);
	ev_init(&d->retry, retry_cb);
	ev_init(&d->deadline, deadline_cb);
	ev_timer_init(&d->ping, ping_cb, GWDB_PING_S, GWDB_PING_S);
	d->io.data = d->retry.data = d->deadline.data = d->ping.data = d;
	ev_timer_start(loop, &d->ping);
	gwdb_connect(d);
	return d;
}

void
gw_db_config(struct gw_db *d, const struct config *cfg)
{
	char *ci;

	d->backoff_max_ms = cfg->db_reconnect_delay_max_ms;
	if (strcmp(cfg->db_conninfo, d->conninfo) == 0 || (ci = strdup(cfg->db_conninfo)) == NULL)
		return;
	free(d->conninfo);
	d->conninfo = ci;
	log_info("gateway: [database] conninfo changed; reconnecting");
	d->failures = 0;
	d->down_logged = 0;
	gwdb_connect(d);
}

void
gw_db_free(struct gw_db *d)
{
	if (d == NULL)
		return;
	ev_timer_stop(d->loop, &d->retry);
	ev_timer_stop(d->loop, &d->deadline);
	ev_timer_stop(d->loop, &d->ping);
	/* Callbacks of what waits do not run: the caller is going away. */
	for (struct gwdb_req *r = d->head; r; r = r->next)
		for (struct gwdb_req *f = r; f != NULL; f = f->followers)
			f->cancelled = 1;
	for (struct gwdb_req *f = d->inflight; f != NULL; f = f->followers)
		f->cancelled = 1;
	gwdb_close(d);
	queue_fail_all(d);
	free(d->ids);
	free(d->snap.p);
	free(d->conninfo);
	free(d);
}
