/*
 * resync.c: an account's gaps and the REST resync that heals them (DESIGN
 * §3.2, §3.4).
 *
 * A gap is any moment events may have been missed: the worker took the
 * account over (start, restart, shard move), a connection that carried it
 * ended, its listen key changed, the data plane dropped its events.  Each
 * is sent to the writer as an EV_GAP event before any event of the stream
 * that resumes after it, so it is in PostgreSQL (account_gaps) no later than
 * that stream's first event; whichever worker owns the account next resyncs
 * from the earliest unhealed one.  A resync that fetched everything from a
 * gap's start sends a heal event after its own events: the writer clears
 * the gaps that opened before the resync began, in the transaction that
 * commits its last events (or a later one).
 *
 * The resync costs weight in proportion to what happened in the gap, not to
 * the symbols configured or ever traded (weights: FACTS §1.6 and Binance's
 * pages, in parentheses):
 *   state: GET /fapi/v3/positionRisk (5): positions, and the symbols with
 *     a position or open orders; GET /fapi/v2/account (5): balances, the
 *     multi-assets mode, and every symbol's leverage, margin type and
 *     position with its last update time; open orders of the symbols
 *     positionRisk and the database name (1 each, or 40 for all); each
 *     order open in the database and no longer open (1).
 *   then: open algo orders of every symbol (1 per symbol of the exchange,
 *     or 40 for all) and each algo open in the database and no longer open
 *     (1); the history of the gap, from RESYNC_MARGIN_MS before it began
 *     to RESYNC_MARGIN_MS after the stream came back (back_ms; the stream
 *     brought the rest): userTrades (5 per 7-day window and 1,000 rows)
 *     for each symbol whose position changed since the gap began (a fill
 *     always changes its position: new symbols included), allOrders (5
 *     likewise) for each of those with a fill in the gap and, where an
 *     order an algo placed appears, allAlgoOrders (5); the order an algo
 *     triggered, for its filled quantity, which REST algo rows lack (1).
 * A quiet gap costs 15 + (symbols with open orders) against exsim's five
 * symbols, 50 + that against Binance's hundreds; an active one 5 more per
 * symbol traded since the gap began and 5-10 more per symbol with a fill
 * in it.  What no endpoint can recover: an order or algo order placed and
 * ended inside a gap without a fill, in a symbol where the gap left no
 * other trace (no fill in the gap, nothing open at the snapshot, nothing
 * the database held open); the reject reason of an algo
 * order whose rejection fell in a gap (REST rows carry none: NULL); orders
 * and fills older than resync_history_max (default 7 days; Binance keeps
 * an unfilled cancelled order for 3 days and trades for 6 months).
 *
 * An error answer is never skipped silently: a request that fails is tried
 * again after a backoff (never into the host's Retry-After), and after
 * RESYNC_ITEM_TRIES failures its item is skipped with an ERROR and counted
 * (resync_items_skipped), so a page that can never be used cannot spin.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "account.h"
#include "clock.h"
#include "exfeedd.h"

#define RESYNC_MARGIN_MS	5000	/* fetch from this long before a gap's start */
#define COMMIT_POLL_MS		50	/* a resync waiting for the data plane looks again */
#define RESYNC_PAGE		1000	/* rows per history page (Binance's maximum) */
#define RESYNC_WINDOW_MS	(7LL * 24 * 3600 * 1000 - 1)	/* a query spans less than 7 days */
#define RESYNC_ITEM_TRIES	6
#define RESYNC_AGAIN_MS		(10 * 60 * 1000)	/* after a resync with items skipped */
#define OPEN_ALL_WEIGHT		40	/* openOrders / openAlgoOrders without a symbol */

PGconn	*account_db(void);

enum rstep {
	R_POSITIONS, R_ACCOUNT, R_OPEN_ORDERS, R_MISSING_ORDERS,	/* state */
	R_OPEN_ALGOS, R_MISSING_ALGOS, R_TRADES, R_ALL_ORDERS, R_ALL_ALGOS, R_ALGO_ORDERS,
	R_FINISH
};
#define R_STATE_LAST	R_MISSING_ORDERS

static const char *const rstep_names[] = {
	"positions", "account", "open orders", "missing orders", "open algo orders",
	"missing algo orders", "trades", "orders", "algo orders", "triggered orders", "finish"
};

struct symset {
	char		(*v)[EV_SYM];
	size_t		 n, cap;
};

struct idsym {
	int64_t		 id;
	char		 sym[EV_SYM];
};

struct idlist {
	int64_t		*v;
	size_t		 n, cap;
};

struct seen_order {
	int64_t		 id;
	char		 filled[EV_DEC];
};

/* An order the stream updated while the resync ran, and its newest update time. */
struct stream_order {
	int64_t		 id;
	int64_t		 update_time;
};
#define RESYNC_STREAM_ORDERS	65536	/* distinct orders remembered per resync */

struct resync {
	uint8_t		 step;
	size_t		 i;			/* index into the step's list */
	int		 tries;			/* failed attempts at the current item */
	unsigned	 skipped;		/* items given up: the gap is not healed */
	int64_t		 since_ms;		/* exchange ms: the gap's start */
	int64_t		 back_ms;		/* exchange ms: the stream carries all after it */
	int64_t		 orders_since_ms;	/* exchange ms: allOrders, allAlgoOrders from here */
	int64_t		 began_us;		/* CLOCK_REALTIME µs */
	int64_t		 sent_ms;		/* exchange ms the current request left */
	int64_t		 first_sent_ms;		/* exchange ms the first request left */
	int64_t		 until_ms;		/* the newest sent_ms: what the heal covers */
	int64_t		 win_start;		/* history: the window's start, 0 before the first */
	int64_t		 from_id;		/* history: paging by id, 0 for a window's first page */
	int		 by_id;			/* userTrades after a full page: fromId to the end */
	int64_t		 page_rows, page_max_id;
	int		 per_symbol_open, per_symbol_algos;
	/* From the database when the resync began. */
	struct idsym	*db_orders, *db_algos;
	size_t		 ndb_orders, ndb_algos;
	struct { char sym[EV_SYM], ps[EV_WORD]; int open; } *db_pos;	/* every row */
	size_t		 ndb_pos;
	struct { char sym[EV_SYM]; int lev; } *db_lev;
	size_t		 ndb_lev;
	int		 db_multi;		/* -1 unknown */
	/* Learned on the way. */
	struct event	*held_pos;		/* positionRisk rows waiting for their margin type */
	size_t		 nheld_pos;
	struct symset	 open_syms;		/* symbols to ask the open orders of */
	struct symset	 active;		/* symbols whose position moved since the gap */
	struct symset	 filled;		/* active symbols with a fill in the gap */
	struct symset	 algo_syms;		/* active symbols with orders an algo placed */
	struct symset	 ex_syms;		/* the exchange's symbols, while fewer than 40 */
	size_t		 nex_syms;
	struct idlist	 open_seen, algo_seen;
	struct seen_order *orders;		/* orders seen, for the algos' filled quantity */
	size_t		 norders, caporders;
	struct event	*algos;			/* algo rows waiting for their order's quantity */
	size_t		 nalgos, capalgos;
	struct stream_order *stream_orders;	/* the stream's orders since the resync began */
	size_t		 nstream_orders, capstream_orders;
	uint64_t	 events;
	/*
	 * A gap opened while the history steps ran: the state steps run again
	 * first (restate), then the history goes on from where it was (resume;
	 * step 0 = nothing to resume, as no history step is 0).
	 */
	int		 restate;
	struct {
		uint8_t	 step;
		size_t	 i;
		int64_t	 win_start, from_id;
		int	 by_id;
	}		 resume;
};

/* ------------------------------------------------------------ small sets */

static int
symset_has(const struct symset *s, const char *sym)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], sym) == 0)
			return 1;
	return 0;
}

static void
symset_add(struct symset *s, const char *sym)
{
	if (*sym == '\0' || strlen(sym) >= EV_SYM || symset_has(s, sym))
		return;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		char (*n)[EV_SYM] = realloc(s->v, ncap * sizeof(*n));

		if (n == NULL)
			return;
		s->v = n;
		s->cap = ncap;
	}
	snprintf(s->v[s->n++], EV_SYM, "%s", sym);
}

static void
idlist_add(struct idlist *l, int64_t id)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		int64_t *n = realloc(l->v, ncap * sizeof(*n));

		if (n == NULL)
			return;
		l->v = n;
		l->cap = ncap;
	}
	l->v[l->n++] = id;
}

static int
idlist_has(const struct idlist *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == id)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------- gaps */

static void
gap_event(struct acct *a, int heal, int64_t since, int64_t at_us, int64_t until,
    const char *reason, int64_t lost_since)
{
	struct emit_ctx ctx = { .a = a, .lost_since_ms = lost_since };
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = EV_GAP;
	ev.account_id = a->id;
	ev.user_id = a->user_id;
	snprintf(ev.exchange, sizeof(ev.exchange), "%s", EXCHANGE);
	ev.event_time = since;
	ev.recv_us = clock_real_us();
	ev.u.gap.heal = heal != 0;
	ev.u.gap.since = since;
	ev.u.gap.at_us = at_us;
	ev.u.gap.until = until;
	ev_copy_text(ev.u.gap.reason, sizeof(ev.u.gap.reason), reason, strlen(reason));
	ev_make_id(&ev);
	acct_emit(&ev, &ctx);
}

/*
 * A gap opened: recorded now, ahead of every event the stream delivers
 * after it.  Gaps that open before a pending resync starts merge into the
 * earliest; one that opens while a resync runs makes another follow it
 * (that resync's heal does not clear it: it opened after it began).  If
 * that resync is in its history steps, its state steps run again first
 * (resync_restate): balances, positions and open orders do not wait for
 * history.
 */
void
acct_gap(struct acct *a, int64_t since_ms, const char *reason)
{
	int pending = a->resync == RS_PENDING ||
	    (a->resync == RS_RUNNING && (a->flags & F_RESYNC_AGAIN));

	if (a->state == AS_QUARANTINED)
		return;
	a->commit_mark = 0;	/* a resync for it waits for what the stream brought until now */
	if (since_ms < 0)
		since_ms = 0;
	if (!pending || since_ms < a->gap_ms)
		a->gap_ms = since_ms;
	/*
	 * A resync's history stops where its stream came back; what it did not
	 * see open at its snapshots came on the stream, unless this gap began
	 * before them (it runs now, or it finished after since_ms: a stall is
	 * found only later).  An order or algo order created in that resync's
	 * gap and ended in this one is then in neither, so the next resync asks
	 * for orders created since that resync's gap (soak seed 8101: an algo
	 * created before the start, triggered in a later gap, lost).
	 */
	if (a->resync == RS_RUNNING && a->rs != NULL) {
		if (a->rs->orders_since_ms < a->orders_floor_ms)
			a->orders_floor_ms = a->rs->orders_since_ms;
	} else if (since_ms < a->snap_until_ms && a->snap_orders_ms < a->orders_floor_ms)
		a->orders_floor_ms = a->snap_orders_ms;
	if (a->resync == RS_RUNNING) {
		a->flags |= F_RESYNC_AGAIN;
		if (a->rs != NULL && a->rs->step > R_STATE_LAST)
			a->rs->restate = 1;
	} else
		a->resync = RS_PENDING;
	a->gap_opened_ms = now_ms();
	aw.st.gaps_opened++;
	log_debug("account %" PRId64 ": gap from %" PRId64 " (%s)", a->id, since_ms, reason);
	gap_event(a, 0, since_ms, clock_real_us(), 0, reason, since_ms);
	rest_schedule_soon();
}

/* Data-plane overflow: those accounts lost events from since[i] on; heal them. */
void
acct_overflow_cb(const int64_t *ids, const int64_t *since, size_t n, void *arg)
{
	for (size_t i = 0; i < n; i++) {
		struct acct *a = acct_by_id(ids[i]);

		if (a && a->state != AS_QUARANTINED) {
			acct_gap(a, since[i], "events dropped by the data plane (max_unacked)");
			aw.st.overflow_resyncs++;
		}
	}
}

/* ----------------------------------------------------------------- resync */

int
resync_phase(const struct acct *a)
{
	if (a->rs == NULL)
		return 0;
	return a->rs->step <= R_STATE_LAST || a->rs->restate ? 1 : 2;
}

const char *
resync_state_name(const struct acct *a)
{
	switch (a->resync) {
	case RS_PENDING:
		return "pending";
	case RS_RUNNING:
		return resync_phase(a) == 1 ? "running: state" : "running: history";
	case RS_DONE:
		return "done";
	default:
		return "none";
	}
}

/* Forget what resync_db_read read, to read it again. */
static void
resync_db_forget(struct resync *rs)
{
	free(rs->db_orders);
	free(rs->db_algos);
	free(rs->db_pos);
	free(rs->db_lev);
	rs->db_orders = rs->db_algos = NULL;
	rs->db_pos = NULL;
	rs->db_lev = NULL;
	rs->ndb_orders = rs->ndb_algos = rs->ndb_pos = rs->ndb_lev = 0;
}

void
resync_free(struct acct *a)
{
	struct resync *rs = a->rs;

	if (rs == NULL)
		return;
	resync_db_forget(rs);
	free(rs->held_pos);
	free(rs->open_syms.v);
	free(rs->active.v);
	free(rs->filled.v);
	free(rs->algo_syms.v);
	free(rs->ex_syms.v);
	free(rs->open_seen.v);
	free(rs->algo_seen.v);
	free(rs->orders);
	free(rs->algos);
	free(rs->stream_orders);
	free(rs);
	a->rs = NULL;
}

/* One query's rows; NULL on failure (logged). */
static PGresult *
db_rows(PGconn *db, const struct acct *a, const char *sql)
{
	char id[32];
	const char *params[1] = { id };
	PGresult *res;

	snprintf(id, sizeof(id), "%" PRId64, a->id);
	res = PQexecParams(db, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("account %" PRId64 ": resync cannot read the database: %s", a->id,
		    PQerrorMessage(db));
		aw.st.db_errors++;
		PQclear(res);
		return NULL;
	}
	return res;
}

static int
db_idsyms(PGconn *db, const struct acct *a, const char *sql, struct idsym **out, size_t *n)
{
	PGresult *res = db_rows(db, a, sql);

	if (res == NULL)
		return -1;
	*n = (size_t)PQntuples(res);
	if (*n && (*out = calloc(*n, sizeof(**out))) == NULL) {
		PQclear(res);
		return -1;
	}
	for (size_t i = 0; i < *n; i++) {
		(*out)[i].id = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
		snprintf((*out)[i].sym, EV_SYM, "%s", PQgetvalue(res, (int)i, 1));
	}
	PQclear(res);
	return 0;
}

/* What the database believes: open orders and algos, open positions, the config. */
static int
resync_db_read(struct acct *a, struct resync *rs)
{
	PGconn *db = account_db();
	PGresult *res;
	size_t n;

	if (db == NULL)
		return -1;
	/*
	 * Every row not in a final state may have moved on in the gap: each
	 * that is not open at the snapshot is asked for (R_MISSING_*).  A
	 * TRIGGERED algo is not final (FINISHED follows when the order it placed
	 * is done) and is never in openAlgoOrders; statuses: FACTS §1.3.
	 */
	if (db_idsyms(db, a, "SELECT order_id, symbol FROM orders WHERE account_id = $1 "
	    "AND status NOT IN ('FILLED', 'CANCELED', 'EXPIRED', 'EXPIRED_IN_MATCH', 'REJECTED') "
	    "ORDER BY order_id", &rs->db_orders, &rs->ndb_orders) == -1 ||
	    db_idsyms(db, a, "SELECT algo_id, symbol FROM algo_orders WHERE account_id = $1 "
	    "AND status NOT IN ('FINISHED', 'CANCELED', 'EXPIRED', 'REJECTED') ORDER BY algo_id",
	    &rs->db_algos, &rs->ndb_algos) == -1)
		return -1;
	if ((res = db_rows(db, a, "SELECT symbol, position_side, amount <> 0 FROM positions "
	    "WHERE account_id = $1")) == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	if (n && (rs->db_pos = calloc(n, sizeof(*rs->db_pos))) == NULL) {
		PQclear(res);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(rs->db_pos[i].sym, EV_SYM, "%s", PQgetvalue(res, (int)i, 0));
		snprintf(rs->db_pos[i].ps, EV_WORD, "%s", PQgetvalue(res, (int)i, 1));
		rs->db_pos[i].open = PQgetvalue(res, (int)i, 2)[0] == 't';
	}
	rs->ndb_pos = n;
	PQclear(res);
	if ((res = db_rows(db, a, "SELECT symbol, coalesce(leverage, -1), "
	    "coalesce(multi_assets::int, -1) FROM account_config WHERE account_id = $1")) == NULL)
		return -1;
	n = (size_t)PQntuples(res);
	if (n && (rs->db_lev = calloc(n, sizeof(*rs->db_lev))) == NULL) {
		PQclear(res);
		return -1;
	}
	rs->db_multi = -1;
	for (size_t i = 0; i < n; i++) {
		const char *sym = PQgetvalue(res, (int)i, 0);

		if (*sym == '\0')
			rs->db_multi = atoi(PQgetvalue(res, (int)i, 2));
		snprintf(rs->db_lev[rs->ndb_lev].sym, EV_SYM, "%s", sym);
		rs->db_lev[rs->ndb_lev++].lev = atoi(PQgetvalue(res, (int)i, 1));
	}
	PQclear(res);
	/* The open orders of the database are asked for by symbol too. */
	for (size_t i = 0; i < rs->ndb_orders; i++)
		symset_add(&rs->open_syms, rs->db_orders[i].sym);
	return 0;
}

static int
resync_begin(struct acct *a)
{
	struct resync *rs;

	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return -1;
	a->rs = rs;
	if (resync_db_read(a, rs) == -1) {
		resync_free(a);
		rest_backoff(a);
		return -1;
	}
	a->resync = RS_RUNNING;
	a->flags &= ~F_RESYNC_AGAIN;
	rs->since_ms = a->gap_ms;
	rs->orders_since_ms = a->orders_floor_ms < rs->since_ms ? a->orders_floor_ms : rs->since_ms;
	a->orders_floor_ms = INT64_MAX;
	/*
	 * Everything after the later of the last gap's opening and the stream's
	 * return came on the stream (a connection's gap opens when its
	 * replacement is ready; the data plane's when its losses are
	 * reported); a gap after this is another resync's.  The history
	 * stops there, with the margin for the clocks.
	 */
	rs->back_ms = (a->gap_opened_ms > a->since_ms ? a->gap_opened_ms : a->since_ms) +
	    aw.time_offset_ms + RESYNC_MARGIN_MS;
	rs->began_us = clock_real_us();
	aw.st.resyncs_started++;
	log_debug("account %" PRId64 ": resync from %" PRId64, a->id, rs->since_ms);
	return 0;
}

/* Everything up to the snapshot is in: the heal goes out after the resync's events. */
static void
resync_finish(struct acct *a)
{
	struct resync *rs = a->rs;

	if (rs->skipped > 0) {
		/*
		 * What was fetched went out, but the gap is not healed: its row
		 * stays in account_gaps (and so survives a restart), and the whole
		 * resync is tried again later, not at once: an item that failed
		 * six times in a row will not work in the next second either.
		 */
		aw.st.resyncs_incomplete++;
		log_error("account %" PRId64 ": resync incomplete: %u item%s skipped; the gap "
		    "from %" PRId64 " stays open and is tried again in %d minutes", a->id,
		    rs->skipped, rs->skipped == 1 ? "" : "s", rs->since_ms, RESYNC_AGAIN_MS / 60000);
		if (!(a->flags & F_RESYNC_AGAIN) || rs->since_ms < a->gap_ms)
			a->gap_ms = rs->since_ms;
		if (rs->orders_since_ms < a->orders_floor_ms)
			a->orders_floor_ms = rs->orders_since_ms;
		resync_free(a);
		a->resync = RS_PENDING;
		a->flags &= ~F_RESYNC_AGAIN;
		a->resync_not_before_ms = now_ms() + RESYNC_AGAIN_MS;
		return;
	}
	/* Healed up to where the history stopped: after it the stream carried all. */
	gap_event(a, 1, rs->since_ms, rs->began_us, rs->until_ms < rs->back_ms ? rs->until_ms :
	    rs->back_ms, "", rs->since_ms);
	aw.st.gaps_healed++;
	/*
	 * The stream ran from before the first request: a later gap need not
	 * reach back past it.  Not the last request's time: the history asked
	 * only for the symbols active at the first, and the stream may have
	 * stalled since (soak seed 3535: a gap dated from the last request
	 * lost the fills of a connection stalled in between).
	 */
	{
		int64_t vouched = rs->first_sent_ms < rs->back_ms ? rs->first_sent_ms : rs->back_ms;

		if (vouched > a->last_event_ms)
			a->last_event_ms = vouched;
	}
	a->snap_until_ms = rs->until_ms;
	a->snap_orders_ms = rs->orders_since_ms;
	log_info("account %" PRId64 ": resync done: %" PRIu64 " events", a->id, rs->events);
	resync_free(a);
	a->resync = (a->flags & F_RESYNC_AGAIN) ? RS_PENDING : RS_DONE;
	a->flags &= ~F_RESYNC_AGAIN;
	a->resync_done_ms = now_ms();
	aw.st.resyncs_done++;
}

/* To item i of step, at its first window and page, with no attempt failed yet. */
static void
rs_goto(struct resync *rs, int step, size_t i)
{
	rs->step = (uint8_t)step;
	rs->i = i;
	rs->tries = 0;
	rs->win_start = 0;
	rs->from_id = 0;
	rs->by_id = 0;
}

/* On to the next step (or the next item of this one). */
static void
rs_advance(struct resync *rs, int next_step)
{
	if (next_step)
		rs_goto(rs, rs->step + 1, 0);
	else
		rs_goto(rs, rs->step, rs->i + 1);
}

/* ------------------------------------------------------------ the events */

struct rs_emit {
	struct acct	*a;
	struct resync	*rs;
	int		 hold_positions;	/* positionRisk rows wait for their margin type */
};

static void
rs_seen_order(struct resync *rs, const struct ev_order *o)
{
	for (size_t i = 0; i < rs->norders; i++)
		if (rs->orders[i].id == o->order_id) {
			snprintf(rs->orders[i].filled, EV_DEC, "%s", o->filled_qty);
			return;
		}
	if (rs->norders == rs->caporders) {
		size_t ncap = rs->caporders ? rs->caporders * 2 : 64;
		struct seen_order *n = realloc(rs->orders, ncap * sizeof(*n));

		if (n == NULL)
			return;
		rs->orders = n;
		rs->caporders = ncap;
	}
	rs->orders[rs->norders].id = o->order_id;
	snprintf(rs->orders[rs->norders].filled, EV_DEC, "%s", o->filled_qty);
	rs->norders++;
}

void
resync_stream_order(struct acct *a, const struct ev_order *o)
{
	struct resync *rs = a->rs;

	if (rs == NULL)
		return;
	for (size_t i = 0; i < rs->nstream_orders; i++)
		if (rs->stream_orders[i].id == o->order_id) {
			if (o->update_time > rs->stream_orders[i].update_time)
				rs->stream_orders[i].update_time = o->update_time;
			return;
		}
	if (rs->nstream_orders == rs->capstream_orders) {
		size_t ncap = rs->capstream_orders ? rs->capstream_orders * 2 : 32;
		struct stream_order *n;

		if (ncap > RESYNC_STREAM_ORDERS ||
		    (n = realloc(rs->stream_orders, ncap * sizeof(*n))) == NULL)
			return;
		rs->stream_orders = n;
		rs->capstream_orders = ncap;
	}
	rs->stream_orders[rs->nstream_orders].id = o->order_id;
	rs->stream_orders[rs->nstream_orders].update_time = o->update_time;
	rs->nstream_orders++;
}

/*
 * Whether the stream already delivered this order at the REST row's update
 * time or later, while the resync ran: then the stream's row is at least as
 * new, and the REST row must not be written after it.  Two updates of one
 * order in one millisecond (soak seed 4004: NEW and an AMENDMENT) have equal
 * update times; the writer lets the later-written row win such a tie, which
 * is right for the stream (it is in exchange order) and for a REST row that
 * fills a gap, but not for a REST row read before a stream update it is
 * written after.
 */
static int
rs_stream_has(const struct resync *rs, const struct ev_order *o)
{
	for (size_t i = 0; i < rs->nstream_orders; i++)
		if (rs->stream_orders[i].id == o->order_id)
			return rs->stream_orders[i].update_time >= o->update_time;
	return 0;
}

static const char *
rs_order_filled(const struct resync *rs, int64_t id)
{
	for (size_t i = 0; i < rs->norders; i++)
		if (rs->orders[i].id == id)
			return rs->orders[i].filled;
	return NULL;
}

static void
rs_emit_now(struct acct *a, struct resync *rs, struct event *ev)
{
	struct emit_ctx ctx = { .a = a, .lost_since_ms = rs->since_ms };

	rs->events++;
	acct_emit(ev, &ctx);
}

/* Every event a resync response yields passes here first. */
static void
rs_emit(struct event *ev, void *arg)
{
	struct rs_emit *e = arg;
	struct resync *rs = e->rs;

	switch (ev->type) {
	case EV_ORDER:
		rs->page_rows++;
		if (ev->u.order.order_id > rs->page_max_id)
			rs->page_max_id = ev->u.order.order_id;
		if (rs->step == R_OPEN_ORDERS)
			idlist_add(&rs->open_seen, ev->u.order.order_id);
		rs_seen_order(rs, &ev->u.order);
		/* An order an algo placed: origType is the algo's type, type what it placed. */
		if (strcmp(ev->u.order.orig_type, ev->u.order.type) != 0)
			symset_add(&rs->algo_syms, ev->u.order.symbol);
		if (rs_stream_has(rs, &ev->u.order)) {
			aw.st.resync_rows_superseded++;
			return;
		}
		break;
	case EV_FILL:
		rs->page_rows++;
		if (ev->u.fill.trade_id > rs->page_max_id)
			rs->page_max_id = ev->u.fill.trade_id;
		symset_add(&rs->filled, ev->u.fill.symbol);
		break;
	case EV_ALGO:
		rs->page_rows++;
		if (ev->u.algo.algo_id > rs->page_max_id)
			rs->page_max_id = ev->u.algo.algo_id;
		if (rs->step == R_OPEN_ALGOS)
			idlist_add(&rs->algo_seen, ev->u.algo.algo_id);
		if (ev->u.algo.actual_order_id[0] == '\0') {
			/* Never triggered: nothing filled. */
			snprintf(ev->u.algo.filled_qty, EV_DEC, "0");
			break;
		}
		/* Triggered: its filled quantity is the order's (REST algo rows lack it). */
		if (rs->nalgos == rs->capalgos) {
			size_t ncap = rs->capalgos ? rs->capalgos * 2 : 8;
			struct event *n = realloc(rs->algos, ncap * sizeof(*n));

			if (n == NULL)
				break;
			rs->algos = n;
			rs->capalgos = ncap;
		}
		rs->algos[rs->nalgos++] = *ev;
		return;
	case EV_POSITION:
		if (e->hold_positions) {
			struct event *n = realloc(rs->held_pos, (rs->nheld_pos + 1) * sizeof(*n));

			/* positionRisk names the symbols with a position or open orders */
			symset_add(&rs->open_syms, ev->u.position.symbol);
			if (n == NULL)
				break;
			rs->held_pos = n;
			rs->held_pos[rs->nheld_pos++] = *ev;
			return;
		}
		break;
	default:
		break;
	}
	rs_emit_now(e->a, rs, ev);
}

static int
db_lev_of(const struct resync *rs, const char *sym)
{
	for (size_t i = 0; i < rs->ndb_lev; i++)
		if (strcmp(rs->db_lev[i].sym, sym) == 0)
			return rs->db_lev[i].lev;
	return -2;
}

/* The database's row of a position: -1 none, 0 flat, 1 open. */
static int
db_pos_row(const struct resync *rs, const char *sym, const char *ps)
{
	for (size_t i = 0; i < rs->ndb_pos; i++)
		if (strcmp(rs->db_pos[i].sym, sym) == 0 && strcmp(rs->db_pos[i].ps, ps) == 0)
			return rs->db_pos[i].open;
	return -1;
}

static struct event *
held_position(struct resync *rs, const char *sym, const char *ps)
{
	for (size_t i = 0; i < rs->nheld_pos; i++)
		if (strcmp(rs->held_pos[i].u.position.symbol, sym) == 0 &&
		    strcmp(rs->held_pos[i].u.position.position_side, ps) == 0)
			return &rs->held_pos[i];
	return NULL;
}

static void
config_event(struct acct *a, struct resync *rs, const char *sym, int lev, int multi)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = EV_CONFIG;
	ev.flags = EVF_RESYNC;
	ev.account_id = a->id;
	ev.user_id = a->user_id;
	snprintf(ev.exchange, sizeof(ev.exchange), "%s", EXCHANGE);
	ev.event_time = rs->sent_ms;
	ev.recv_us = clock_real_us();
	snprintf(ev.u.config.symbol, EV_SYM, "%s", sym);
	ev.u.config.leverage = lev;
	ev.u.config.multi_assets = multi;
	/* No time in the answer: the request's, so a later change on the stream wins. */
	ev.u.config.update_time = rs->sent_ms;
	ev_make_id(&ev);
	rs_emit_now(a, rs, &ev);
}

/*
 * /fapi/v2/account, after positionRisk: the positionRisk rows get their
 * margin type and go out; positions that went flat in the gap or changed
 * while flat (margin type), with the exact time; leverages and the
 * multi-assets mode where they differ from the database; the symbols
 * traded in the gap.
 */
static void
rs_account(struct acct *a, struct resync *rs, const struct bf_account *acct)
{
	int64_t floor = rs->since_ms - RESYNC_MARGIN_MS, hist = rs->sent_ms -
	    aw.cfg->resync_history_max_ms;
	struct event ev, *held;
	int k;

	if (hist > floor)
		floor = hist;
	if (acct->multi_assets >= 0 && acct->multi_assets != rs->db_multi)
		config_event(a, rs, "", -1, acct->multi_assets);
	rs->nex_syms = 0;
	for (size_t i = 0; i < acct->npos; i++) {
		const struct bf_account_position *p = &acct->pos[i];
		const char *mt = p->isolated ? "isolated" : "cross";
		int first = i == 0 || strcmp(acct->pos[i - 1].symbol, p->symbol) != 0;

		if (first) {
			rs->nex_syms++;
			if (rs->nex_syms < OPEN_ALL_WEIGHT)
				symset_add(&rs->ex_syms, p->symbol);
			if (p->leverage >= 0 && p->leverage != db_lev_of(rs, p->symbol))
				config_event(a, rs, p->symbol, p->leverage, -1);
		}
		if (p->update_time > 0 && p->update_time >= floor && rs->resume.step == 0)
			symset_add(&rs->active, p->symbol);
		if ((held = held_position(rs, p->symbol, p->position_side)) != NULL) {
			snprintf(held->u.position.margin_type, EV_WORD, "%s", mt);
			continue;
		}
		/*
		 * Flat now: the database's row is brought up to date if it shows
		 * the position open or the position changed in the gap (went flat,
		 * margin type).  Without a row, a flat position needs none: one
		 * opened and closed inside the gap leaves its fills, not a row.
		 */
		if (strspn(p->amount, "-0.") != strlen(p->amount))
			continue;	/* not flat, yet not in positionRisk: it opened since */
		if ((k = db_pos_row(rs, p->symbol, p->position_side)) == -1 ||
		    (k == 0 && !(p->update_time > 0 && p->update_time >= floor)))
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.type = EV_POSITION;
		ev.flags = EVF_RESYNC;
		ev.account_id = a->id;
		ev.user_id = a->user_id;
		snprintf(ev.exchange, sizeof(ev.exchange), "%s", EXCHANGE);
		ev.event_time = rs->sent_ms;
		ev.recv_us = clock_real_us();
		snprintf(ev.u.position.symbol, EV_SYM, "%s", p->symbol);
		snprintf(ev.u.position.position_side, EV_WORD, "%s", p->position_side);
		snprintf(ev.u.position.amount, EV_DEC, "%s", p->amount);
		snprintf(ev.u.position.entry_price, EV_DEC, "%s", p->entry_price);
		snprintf(ev.u.position.breakeven_price, EV_DEC, "0");
		snprintf(ev.u.position.unrealized_pnl, EV_DEC, "%s", p->unrealized_pnl);
		snprintf(ev.u.position.margin_type, EV_WORD, "%s", mt);
		/* A flat position holds no isolated margin; the margin asset stays as it was. */
		snprintf(ev.u.position.isolated_wallet, EV_DEC, "0");
		ev.u.position.update_time = p->update_time;
		ev_make_id(&ev);
		rs_emit_now(a, rs, &ev);
	}
	for (size_t i = 0; i < rs->nheld_pos; i++)
		rs_emit_now(a, rs, &rs->held_pos[i]);
	rs->nheld_pos = 0;
	rs->per_symbol_open = rs->open_syms.n < OPEN_ALL_WEIGHT;
	rs->per_symbol_algos = rs->nex_syms < OPEN_ALL_WEIGHT && rs->nex_syms > 0;
}

/* Held algo rows whose triggered order is known now go out with its filled quantity. */
static void
rs_release_algos(struct acct *a, struct resync *rs, int all)
{
	size_t k = 0;

	for (size_t i = 0; i < rs->nalgos; i++) {
		struct event *ev = &rs->algos[i];
		const char *filled = rs_order_filled(rs, strtoll(ev->u.algo.actual_order_id, NULL,
		    10));

		if (filled == NULL && !all) {
			rs->algos[k++] = *ev;
			continue;
		}
		/* Not found (gone from the exchange's memory): unknown, NULL. */
		snprintf(ev->u.algo.filled_qty, EV_DEC, "%s", filled ? filled : "");
		rs_emit_now(a, rs, ev);
	}
	rs->nalgos = k;
}

/* ------------------------------------------------------------ the requests */

/*
 * Resyncs leave the host's listen keys their share of every minute: what
 * the workers said their renewals need a minute (budget_rest_keys), or a
 * fiftieth of the budget if that is more; both off our count and off the
 * exchange's 95% stop.  New keys and due renewals are picked before any
 * resync (account.c), so the reserve covers those that fall due after the
 * rest of the minute is spent.  The whole minute's need is kept, even late
 * in the minute when part of it is spent: simpler, and at most one
 * minute's renewals of history weight.
 */
static int
rs_request(struct acct *a, const char *path, const char *params, int64_t weight)
{
	int64_t reserve = aw.ex >= 0 ? aw.cfg->ex[aw.ex].rest_weight_budget / 50 + 1 : 0;
	char pq[3072];

	rest_sign(a, path, params, pq, sizeof(pq));
	a->rs->sent_ms = now_ms() + aw.time_offset_ms;
	if (a->rs->first_sent_ms == 0)
		a->rs->first_sent_ms = a->rs->sent_ms;
	return rest_start(a, OP_RESYNC, "GET", pq, weight, reserve) == 0 ? 1 : -1;
}

/*
 * A text from the exchange as a query value: RFC 3986's unreserved bytes as
 * they are, any other (the bytes of a Chinese-named symbol, anything that
 * could end the value) percent-encoded.  out has 3 * EV_SYM bytes; a text
 * longer than fits (none: symbols and ids are shorter) is cut.
 */
#define RS_Q	(3 * EV_SYM)
static const char *
rs_q(const char *sym, char out[RS_Q])
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)sym; *p && o + 4 <= RS_Q; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~')
			out[o++] = (char)*p;
		else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return out;
}

static const char *
rs_symbol(const struct resync *rs, const struct symset *s)
{
	return rs->i < s->n ? s->v[rs->i] : NULL;
}

#define RS_NEXT		(-2)	/* the step advanced without a request: go on */

/*
 * The open orders (or open algo orders) step: path once for all symbols
 * (weight OPEN_ALL_WEIGHT), or once per symbol of syms (weight 1).
 * rs_request's result, or RS_NEXT once the step is over.
 */
static int
rs_open_request(struct acct *a, struct resync *rs, int per_symbol, const struct symset *syms,
    const char *path)
{
	const char *sym;
	char params[64 + RS_Q], q[RS_Q];

	if (!per_symbol) {
		if (rs->i > 0) {
			rs_advance(rs, 1);
			return RS_NEXT;
		}
		return rs_request(a, path, "", OPEN_ALL_WEIGHT);
	}
	if ((sym = rs_symbol(rs, syms)) == NULL) {
		rs_advance(rs, 1);
		return RS_NEXT;
	}
	snprintf(params, sizeof(params), "symbol=%s", rs_q(sym, q));
	return rs_request(a, path, params, 1);
}

/* A history page of one symbol, windows of less than 7 days (FACTS §1.6). */
static int
rs_history(struct acct *a, struct resync *rs, const char *sym)
{
	char params[512], q[RS_Q];
	/* (exchange ms, like the rows' times: the local clock may lag the exchange's) */
	int64_t now = now_ms() + aw.time_offset_ms,
	    floor = (rs->step == R_TRADES ? rs->since_ms : rs->orders_since_ms) - RESYNC_MARGIN_MS,
	    hist = now - aw.cfg->resync_history_max_ms, we;
	const char *path, *idname;

	if (hist > floor) {
		/* (since 0: an account with no history here yet; nothing was lost) */
		if (rs->since_ms > 0 && rs->win_start == 0 && rs->i == 0 && rs->step == R_TRADES)
			log_warnx("account %" PRId64 ": the gap began %" PRId64 " s ago; orders and "
			    "fills are fetched for the last %" PRId64 " s only (resync_history_max)",
			    a->id, (now - rs->since_ms) / 1000, aw.cfg->resync_history_max_ms / 1000);
		floor = hist;
	}
	if (floor < 0)
		floor = 0;
	if (rs->win_start == 0)
		rs->win_start = floor;
	we = rs->win_start + RESYNC_WINDOW_MS;
	if (we > now)
		we = now;
	if (we > rs->back_ms)
		we = rs->back_ms;
	if (we < rs->win_start)
		we = rs->win_start;
	sym = rs_q(sym, q);
	switch (rs->step) {
	case R_TRADES:
		path = "/fapi/v1/userTrades";
		if (rs->by_id)
			snprintf(params, sizeof(params), "symbol=%s&fromId=%" PRId64 "&limit=%d", sym,
			    rs->from_id, RESYNC_PAGE);
		else
			snprintf(params, sizeof(params), "symbol=%s&startTime=%" PRId64 "&endTime=%"
			    PRId64 "&limit=%d", sym, rs->win_start, we, RESYNC_PAGE);
		break;
	default:
		path = rs->step == R_ALL_ORDERS ? "/fapi/v1/allOrders" : "/fapi/v1/allAlgoOrders";
		idname = rs->step == R_ALL_ORDERS ? "orderId" : "algoId";
		if (rs->from_id)
			snprintf(params, sizeof(params), "symbol=%s&%s=%" PRId64 "&startTime=%" PRId64
			    "&endTime=%" PRId64 "&limit=%d", sym, idname, rs->from_id, rs->win_start,
			    we, RESYNC_PAGE);
		else
			snprintf(params, sizeof(params), "symbol=%s&startTime=%" PRId64 "&endTime=%"
			    PRId64 "&limit=%d", sym, rs->win_start, we, RESYNC_PAGE);
		break;
	}
	return rs_request(a, path, params, 5);
}

/* After a history page: the next page, the next window, or the next symbol. */
static void
rs_history_next(struct resync *rs)
{
	int64_t we = rs->win_start + RESYNC_WINDOW_MS,
	    end = rs->sent_ms < rs->back_ms ? rs->sent_ms : rs->back_ms;

	if (rs->page_rows >= RESYNC_PAGE && rs->page_max_id > 0) {
		/*
		 * A full page: the next one from the newest id.  Trades from that
		 * id itself, again: a self-trade is two rows with one trade id,
		 * and the page may have ended between them (the repeat is
		 * idempotent).  Order ids are unique: from the next one.
		 */
		if (rs->step == R_TRADES) {
			rs->from_id = rs->page_max_id;
			rs->by_id = 1;	/* fromId takes no time bounds: on to the end */
		} else
			rs->from_id = rs->page_max_id + 1;
		return;
	}
	if (rs->by_id || we >= end) {
		rs_advance(rs, 0);
		return;
	}
	rs->win_start = we + 1;
	rs->from_id = 0;
}

/*
 * Send the next request of the running resync: 1 sent, 0 none (it finished
 * or waits), -1 the budget refused (try again later).
 */
static int
resync_next(struct acct *a)
{
	struct resync *rs = a->rs;
	char params[512], q[RS_Q], q2[RS_Q];
	int rc;
	const char *sym;

	for (;;) {
		switch (rs->step) {
		case R_POSITIONS:
			return rs_request(a, "/fapi/v3/positionRisk", "", 5);
		case R_ACCOUNT:
			return rs_request(a, "/fapi/v2/account", "", 5);
		case R_OPEN_ORDERS:
			if ((rc = rs_open_request(a, rs, rs->per_symbol_open, &rs->open_syms,
			    "/fapi/v1/openOrders")) == RS_NEXT)
				continue;
			return rc;
		case R_MISSING_ORDERS:
			/* Open in the database, gone from openOrders: how did it end? */
			while (rs->i < rs->ndb_orders &&
			    idlist_has(&rs->open_seen, rs->db_orders[rs->i].id))
				rs->i++;
			if (rs->i >= rs->ndb_orders) {
				a->state_healed_ms = now_ms();
				if (rs->resume.step == 0) {
					rs_advance(rs, 1);
					continue;
				}
				/* The state again after a new gap: the history goes on. */
				rs_goto(rs, rs->resume.step, rs->resume.i);
				rs->win_start = rs->resume.win_start;
				rs->from_id = rs->resume.from_id;
				rs->by_id = rs->resume.by_id;
				rs->resume.step = 0;
				continue;
			}
			snprintf(params, sizeof(params), "symbol=%s&orderId=%" PRId64,
			    rs_q(rs->db_orders[rs->i].sym, q), rs->db_orders[rs->i].id);
			return rs_request(a, "/fapi/v1/order", params, 1);
		case R_OPEN_ALGOS:
			if ((rc = rs_open_request(a, rs, rs->per_symbol_algos, &rs->ex_syms,
			    "/fapi/v1/openAlgoOrders")) == RS_NEXT)
				continue;
			return rc;
		case R_MISSING_ALGOS:
			while (rs->i < rs->ndb_algos &&
			    idlist_has(&rs->algo_seen, rs->db_algos[rs->i].id))
				rs->i++;
			if (rs->i >= rs->ndb_algos) {
				rs_advance(rs, 1);
				continue;
			}
			snprintf(params, sizeof(params), "algoId=%" PRId64, rs->db_algos[rs->i].id);
			return rs_request(a, "/fapi/v1/algoOrder", params, 1);
		case R_TRADES:
		case R_ALL_ORDERS:
			/*
			 * The fills of every symbol whose position moved since the
			 * gap began; the orders only of those with a fill in the
			 * gap: elsewhere the gap changed no order that the state
			 * steps did not bring (README, "What a resync cannot
			 * recover").
			 */
			if ((sym = rs_symbol(rs, rs->step == R_TRADES ? &rs->active :
			    &rs->filled)) == NULL) {
				rs_advance(rs, 1);
				continue;
			}
			return rs_history(a, rs, sym);
		case R_ALL_ALGOS:
			/* Only where an order an algo placed turned up among them. */
			while ((sym = rs_symbol(rs, &rs->algo_syms)) != NULL &&
			    !symset_has(&rs->filled, sym))
				rs->i++;
			if (sym == NULL) {
				rs_release_algos(a, rs, 0);
				rs_advance(rs, 1);
				continue;
			}
			return rs_history(a, rs, sym);
		case R_ALGO_ORDERS:
			rs_release_algos(a, rs, 0);
			if (rs->nalgos == 0) {
				rs_advance(rs, 1);
				continue;
			}
			snprintf(params, sizeof(params), "symbol=%s&orderId=%s",
			    rs_q(rs->algos[0].u.algo.symbol, q),
			    rs_q(rs->algos[0].u.algo.actual_order_id, q2));
			return rs_request(a, "/fapi/v1/order", params, 1);
		case R_FINISH:
		default:
			resync_finish(a);
			return 0;
		}
	}
}

/*
 * The resync compares the exchange with the database: first every event
 * the stream brought before it must be in the database, or an older value
 * still on its way lands after the resync found nothing to correct (soak
 * seed 2016: a leverage of 10, committed after a resync had read 20 and the
 * exchange said 20).  1 when it is, 0 to look again in COMMIT_POLL_MS.
 */
static int
stream_committed(struct acct *a)
{
	if (a->commit_mark == 0)
		a->commit_mark = dp_sender_next_seq(aw.dp) + 1;
	if (!dp_sender_committed(aw.dp, a->commit_mark - 1)) {
		a->resync_not_before_ms = now_ms() + COMMIT_POLL_MS;
		return 0;
	}
	a->commit_mark = 0;
	return 1;
}

/*
 * A gap opened during the history steps: the state steps again, from a
 * fresh read of the database, then the history from where it stopped.
 * The symbols whose history is fetched stay those of the first snapshot:
 * what changed after it came on the stream until the new gap, and the
 * resync that follows this one (F_RESYNC_AGAIN) covers the new gap.
 */
static int
resync_restate(struct acct *a)
{
	struct resync *rs = a->rs;

	resync_db_forget(rs);
	if (resync_db_read(a, rs) == -1) {
		rest_backoff(a);
		return -1;
	}
	rs->resume.step = rs->step;
	rs->resume.i = rs->i;
	rs->resume.win_start = rs->win_start;
	rs->resume.from_id = rs->from_id;
	rs->resume.by_id = rs->by_id;
	rs->restate = 0;
	rs_goto(rs, R_POSITIONS, 0);
	rs->open_seen.n = 0;	/* what is open now, not at the first snapshot */
	aw.st.resync_restates++;
	log_debug("account %" PRId64 ": a gap opened during the resync's history: its state "
	    "first", a->id);
	return 0;
}

int
resync_step(struct acct *a)
{
	if (a->rs == NULL) {
		if (a->resync != RS_PENDING || a->state != AS_STREAMING)
			return 0;
		if (!stream_committed(a) || resync_begin(a) == -1)
			return 0;
	} else if (a->rs->restate && a->state == AS_STREAMING) {
		/* (Not streaming: the history goes on until the stream is back.) */
		if (!stream_committed(a) || resync_restate(a) == -1)
			return 0;
	}
	return resync_next(a);
}

/* The item failed: again after a backoff, or, past the bound, skipped loudly. */
static void
rs_item_failed(struct acct *a, struct resync *rs, const char *why)
{
	if (++rs->tries < RESYNC_ITEM_TRIES) {
		rest_backoff(a);
		return;
	}
	aw.st.resync_items_skipped++;
	rs->skipped++;
	log_error("account %" PRId64 ": resync: %s: skipped after %d attempts: %s", a->id,
	    rstep_names[rs->step], rs->tries, why);
	if (rs->step == R_ACCOUNT) {
		/* The positions wait no longer: their margin type stays as the row has it. */
		for (size_t i = 0; i < rs->nheld_pos; i++)
			rs_emit_now(a, rs, &rs->held_pos[i]);
		rs->nheld_pos = 0;
	}
	if (rs->step == R_POSITIONS || rs->step == R_ACCOUNT ||
	    (rs->step == R_OPEN_ORDERS && !rs->per_symbol_open) ||
	    (rs->step == R_OPEN_ALGOS && !rs->per_symbol_algos))
		rs_advance(rs, 1);
	else if (rs->step == R_ALGO_ORDERS) {
		/* This algo goes out with its quantity unknown. */
		snprintf(rs->algos[0].u.algo.filled_qty, EV_DEC, "%s", "");
		rs_emit_now(a, rs, &rs->algos[0]);
		memmove(rs->algos, rs->algos + 1, --rs->nalgos * sizeof(*rs->algos));
		rs->tries = 0;
	} else
		rs_advance(rs, 0);
}

static const enum bf_rest rest_kind[] = {
	[R_POSITIONS] = BF_REST_POSITION_RISK, [R_OPEN_ORDERS] = BF_REST_OPEN_ORDERS,
	[R_MISSING_ORDERS] = BF_REST_ORDER, [R_OPEN_ALGOS] = BF_REST_OPEN_ALGO_ORDERS,
	[R_MISSING_ALGOS] = BF_REST_ALGO_ORDER, [R_TRADES] = BF_REST_USER_TRADES,
	[R_ALL_ORDERS] = BF_REST_ALL_ORDERS, [R_ALL_ALGOS] = BF_REST_ALL_ALGO_ORDERS,
	[R_ALGO_ORDERS] = BF_REST_ORDER,
};

void
resync_response(struct acct *a, const struct net_http_resp *r, int code)
{
	struct resync *rs = a->rs;
	struct rs_emit e = { a, rs, rs ? rs->step == R_POSITIONS : 0 };
	struct ev_origin org = { a->id, a->user_id, clock_real_us(), EVF_RESYNC };
	struct bf_drops drops;
	struct bf_account acct;
	char why[256];
	int n;

	if (rs == NULL)
		return;
	if (rs->sent_ms > rs->until_ms)
		rs->until_ms = rs->sent_ms;
	if (r->status == 429 || r->status == 418) {
		/* The host waits (budget.c); the item is not at fault: no attempt counted. */
		rest_backoff(a);
		return;
	}
	if (r->status != 200) {
		/*
		 * An order or algo order the exchange no longer keeps (-2013,
		 * FACTS §1.6: unfilled and cancelled more than 3 days ago, or older
		 * than 90 days): nothing to learn there.
		 */
		if (code == -2013 && (rs->step == R_MISSING_ORDERS || rs->step == R_MISSING_ALGOS ||
		    rs->step == R_ALGO_ORDERS)) {
			log_info("account %" PRId64 ": resync: %s: the exchange no longer has it "
			    "(-2013)", a->id, rstep_names[rs->step]);
			if (rs->step == R_ALGO_ORDERS) {
				rs->tries = RESYNC_ITEM_TRIES;
				rs_item_failed(a, rs, "order not found");
			} else
				rs_advance(rs, 0);
			rest_schedule_soon();
			return;
		}
		if (r->status == 0)
			snprintf(why, sizeof(why), "%s", r->error ? r->error : "transport failure");
		else
			snprintf(why, sizeof(why), "HTTP %d, code %d", r->status, code);
		rs_item_failed(a, rs, why);
		return;
	}
	memset(&drops, 0, sizeof(drops));
	rs->page_rows = 0;
	rs->page_max_id = 0;
	if (rs->step == R_ACCOUNT)
		n = bf_account_v2(r->body, r->len, &org, rs->sent_ms, rs_emit, &e, &acct, &drops);
	else
		n = bf_rest_events(rest_kind[rs->step], r->body, r->len, &org, rs->sent_ms, rs_emit,
		    &e, &drops);
	if (n < 0) {
		aw.st.resyncs_failed++;
		log_warnx_rl(&aw.rl_rest, "account %" PRId64 ": resync: unusable answer: %s", a->id,
		    drops.why);
		rs_item_failed(a, rs, drops.why);
		return;
	}
	if (drops.events) {
		/* Each bad row costs only itself; it still counts as a row of the page. */
		aw.st.resync_rows_dropped += drops.events;
		rs->page_rows += drops.events;
		acct_drops(a, rstep_names[rs->step], &drops);
	}
	a->rest_fails = 0;
	rs->tries = 0;
	switch (rs->step) {
	case R_POSITIONS:
		rs_advance(rs, 1);
		break;
	case R_ACCOUNT:
		rs_account(a, rs, &acct);
		bf_account_free(&acct);
		rs_advance(rs, 1);
		break;
	case R_OPEN_ORDERS:
	case R_OPEN_ALGOS:
		if ((rs->step == R_OPEN_ORDERS ? rs->per_symbol_open : rs->per_symbol_algos))
			rs_advance(rs, 0);
		else
			rs_advance(rs, 1);
		break;
	case R_TRADES:
	case R_ALL_ORDERS:
	case R_ALL_ALGOS:
		rs_history_next(rs);
		break;
	case R_ALGO_ORDERS: {
		/*
		 * The order asked for is the first held algo's; the order itself went
		 * out (rs_emit), and the algos it completes follow.  If it was not
		 * in the answer, that algo is still first in line: the item failed.
		 */
		int64_t asked = rs->nalgos > 0 ?
		    strtoll(rs->algos[0].u.algo.actual_order_id, NULL, 10) : 0;

		rs_release_algos(a, rs, 0);
		if (asked != 0 && rs_order_filled(rs, asked) == NULL) {
			rs->tries = RESYNC_ITEM_TRIES;
			rs_item_failed(a, rs, "the answer was not that order");
		}
		break;
	}
	default:
		rs_advance(rs, 0);
		break;
	}
	rest_schedule_soon();
}
