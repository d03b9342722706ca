/*
 * market_kline.c: the market worker's closed candles (market.h): per
 * configured (symbol, interval), the newest closed candle stored or sent,
 * the holes behind it, and their backfill from REST GET /fapi/v1/klines
 * within the host's weight budget, so that `klines` has no hole.
 *
 * A pair's cursor is the open time of the newest candle accounted for:
 * stored (read once at start), sent from the stream, or behind it in one
 * of the pair's holes (open-time ranges known missing).  Holes come from:
 *   - the database at start: the candles between the stored cursor and what
 *     the stream shows, or kline_history candles for a pair with none;
 *   - a stream coming up (start, reconnect, resubscribe): the candles that
 *     closed before it delivered (its "need": the exchange's time when it
 *     came up, plus KL_UP_SLACK_MS for a candle closing meanwhile);
 *   - a closed candle past the next expected open time (mk_kline_seen);
 *   - data-plane loss (mk_kline_lost): from the candle before since_ms.
 * Each hole is fetched oldest first in pages whose limits cost the least
 * weight for its size (kline_plan.c), one request in flight per pair,
 * KL_INFLIGHT for the worker, each with a timeout.  Rows are sent as
 * EV_KLINE closed, flagged EVF_RESYNC, only within the page's range of
 * candles already closed.
 *
 * Closed means closed by the exchange's clock: the worker keeps a lower
 * bound of it, the freshest E or candle time (t of an open candle, T + 1 of
 * a closed one) of any kline event (or a GET /fapi/v1/time's serverTime,
 * weight 1, when no stream delivers) plus the time elapsed since, on the
 * monotonic clock; a hole's end is never past the newest candle closed by
 * that bound.  (An exchange running faster than us, like exsim
 * --time-scale, only makes the bound lag.)
 *
 * Pacing: the backfill spends at most half the host's rest_weight_budget a
 * minute (a bucket of KL_BURST_S seconds of it), takes it with
 * budget_rest_take_deferred (after the accounts' urgent requests) and a
 * reserve for their listen keys, and stops for a 429/418's Retry-After as
 * every worker of the host does.  A 200 symbols × 15 intervals restart
 * needs some 3,000 weight: it is spread over minutes, never one minute's
 * budget at once.
 *
 * A page whose answer lacks rows at its end while its candles are recent
 * (within KL_RECENT_MS of the pair's newest closed candle: the exchange's
 * REST may not have a candle the stream just closed) is asked again later;
 * older missing candles are ones the exchange does not have (before the
 * symbol's listing, an outage: it has later ones) and are counted
 * (candles_absent).  A page that fails KL_TRIES times gives its
 * hole up with an ERROR (holes_abandoned): nothing spins.
 *
 * The database read (libpq, non-blocking on the loop, a deadline of
 * KL_DB_DEADLINE_MS, statement_timeout) is retried with a backoff until it
 * answers.  Until then the stream's first closed candle is a pair's cursor
 * and its holes are filled as usual; when the database answers, the
 * candles between the stored newest and that first one (or kline_history
 * before it) are backfilled: a dead PostgreSQL costs history, not holes.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "exchanges/binance_market.h"
#include "budget.h"
#include "clock.h"
#include "config.h"
#include "kline_plan.h"
#include "log.h"
#include "market.h"
#include "mpack.h"
#include "net.h"

#define KL_EXCHANGE		"binance-futures"
#define KL_TIMEOUT_MS		10000		/* one REST request */
#define KL_INFLIGHT		4		/* this worker's kline requests at once */
#define KL_TRIES		6		/* failed pages before a hole is given up */
#define KL_RETRY_MIN_MS		1000
#define KL_RETRY_MAX_MS		60000
#define KL_BODY_MAX		(4u << 20)	/* 1,500 rows are some 300 KB */
#define KL_SHARE_DIV		2		/* at most 1/2 of the host's weight a minute */
#define KL_BURST_S		10		/* the bucket holds this many seconds of it */
#define KL_UP_SLACK_MS		3000		/* a candle closing as a stream starts */
#define KL_RECENT_MS		120000		/* missing rows this recent: asked again */
#define KL_HOLES		64		/* holes kept per pair; more are merged */
#define KL_TICK_S		1.0
#define KL_TIME_AFTER_MS	2000		/* no E since a stream came up: ask the time */
#define KL_DB_DEADLINE_MS	15000
#define KL_DB_RETRY_MIN_MS	2000
#define KL_DB_RETRY_MAX_MS	60000
#define KL_SENT_PAGES		16		/* pages sent remembered per pair (mk_kline_lost) */
#define KL_LOST_MARGIN_MS	5000		/* ... counted as sent after since_ms from this early */

struct kl_hole {
	int64_t		 first, last;		/* open times, first <= last */
	int		 tries;			/* failed or short pages in a row */
};

struct kl_pair {
	char		 sym[EV_SYM];
	int		 iv;			/* bm_intervals index */
	int		 active;		/* configured now */
	int64_t		 cursor;		/* open time; -1: none known */
	int64_t		 first_seen;		/* the stream's first, while the DB is unread; -1 */
	int		 db_applied;		/* the stored newest has been taken into account */
	int64_t		 need_mono;		/* the stream came up then (ms); 0: no need */
	int64_t		 need_ms;		/* exchange ms to cover to; 0: not resolved yet */
	struct kl_hole	 holes[KL_HOLES];	/* by first, disjoint */
	int		 nholes;
	struct net_http	*req;
	struct kp_page	 page;
	int64_t		 retry_mono;		/* no request before (ms) */
	/* the answer being read */
	int64_t		 got_last;		/* newest row sent of the page; start - 1 before */
	int64_t		 got_rows, got_absent;
	/* the last pages sent, for a data-plane loss after them: a ring */
	struct kl_sent {
		int64_t		 wall_ms;	/* when they were sent */
		int64_t		 first, last;	/* open times */
	}		 sent[KL_SENT_PAGES];
	unsigned	 nsent;			/* ever; the ring holds the last KL_SENT_PAGES */
};

/* The database's newest stored open time of a pair. */
struct kl_stored {
	char		 sym[EV_SYM];
	int		 iv;
	int64_t		 max_open;
};

enum { DB_IDLE, DB_CONNECTING, DB_SENDING, DB_READING, DB_DONE };

static struct {
	int		 init;
	struct kl_pair	**pairs;		/* sorted by (sym, iv) */
	size_t		 npairs, cap;
	size_t		 rr;			/* round robin */
	ev_timer	 tick;
	int		 inflight;
	double		 tokens;		/* weight the backfill may spend now */
	int64_t		 tokens_mono;
	/* the exchange's clock: lower bound = clock_e + (mono - clock_mono) */
	int		 clock_ok;
	int64_t		 clock_e, clock_mono;
	int64_t		 last_e, last_mono;	/* the newest sample, as it came */
	struct net_http	*time_req;
	int64_t		 time_sent_mono;
	/* the start's read */
	int		 db;			/* DB_* */
	PGconn		*conn;
	ev_io		 db_io;
	ev_timer	 db_deadline, db_retry;
	unsigned	 db_failures;
	struct kl_stored *stored;
	size_t		 nstored;
	/* counters */
	uint64_t	 holes_found, holes_filled, holes_abandoned;
	uint64_t	 backfilled, absent, requests, requests_failed, weight;
	uint64_t	 http_429, http_418, rows_dropped, time_requests;
	char		 last_error[200];
	struct log_ratelimit rl;
} kl = { .rl = LOG_RATELIMIT_INIT(60000, 5) };

static void	kl_schedule(void);

static int64_t
mono_ms(void)
{
	return clock_mono_us() / 1000;
}

static int64_t
wall_ms(void)
{
	return clock_real_us() / 1000;
}

static void
kl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
kl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kl.last_error, sizeof(kl.last_error), fmt, ap);
	va_end(ap);
	log_warnx_rl(&kl.rl, "klines: %s", kl.last_error);
}

/* ----------------------------------------------------------- the clock */

/* The exchange's time now, at least; -1 before any sample. */
static int64_t
kl_now_lb(void)
{
	return kl.clock_ok ? kl.clock_e + (mono_ms() - kl.clock_mono) : -1;
}

/* The exchange's time was at least e_ms at mono ms (a frame's E, a serverTime). */
static void
kl_clock_sample(int64_t e_ms, int64_t mono)
{
	int64_t now = mono_ms();

	if (e_ms <= 0)
		return;
	if (!kl.clock_ok || e_ms + (now - mono) > kl.clock_e + (now - kl.clock_mono)) {
		kl.clock_e = e_ms;
		kl.clock_mono = mono;
		kl.clock_ok = 1;
	}
	if (mono >= kl.last_mono) {
		kl.last_e = e_ms;
		kl.last_mono = mono;
	}
}

/* ----------------------------------------------------------- the pairs */

static int
kl_cmp(const char *sym, int iv, const struct kl_pair *p)
{
	int c = strcmp(sym, p->sym);

	return c ? c : (iv > p->iv) - (iv < p->iv);
}

static struct kl_pair *
kl_find(const char *sym, int iv, size_t *at)
{
	size_t lo = 0, hi = kl.npairs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = kl_cmp(sym, iv, kl.pairs[mid]);

		if (c == 0) {
			if (at)
				*at = mid;
			return kl.pairs[mid];
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (at)
		*at = lo;
	return NULL;
}

static struct kl_pair *
kl_lookup(const char *sym, const char *interval)
{
	int iv = bm_interval_index(interval);

	return iv < 0 ? NULL : kl_find(sym, iv, NULL);
}

static int64_t
kl_stored_max(const char *sym, int iv)
{
	for (size_t i = 0; i < kl.nstored; i++)
		if (kl.stored[i].iv == iv && strcmp(kl.stored[i].sym, sym) == 0)
			return kl.stored[i].max_open;
	return -1;
}

static int64_t
kl_history(void)
{
	return mk.cfg ? mk.cfg->market_kline_history : 0;
}

/*
 * Add the hole [first, last] to p, merged with those it overlaps or
 * touches; with KL_HOLES already kept, into its nearest neighbour
 * (refetching candles already stored costs only weight).
 */
static void
kl_add_hole(struct kl_pair *p, int64_t first, int64_t last)
{
	int i, j, near;

	if (first > last)
		return;
	kl.holes_found++;
	for (i = 0; i < p->nholes; i++) {
		struct kl_hole *h = &p->holes[i];

		if (first <= bm_candle_next(p->iv, h->last) && last >= kp_prev(p->iv, h->first)) {
			h->first = first < h->first ? first : h->first;
			h->last = last > h->last ? last : h->last;
			h->tries = 0;
			/* it may now reach the next ones */
			while (i + 1 < p->nholes && p->holes[i + 1].first <= bm_candle_next(p->iv,
			    h->last)) {
				if (p->holes[i + 1].last > h->last)
					h->last = p->holes[i + 1].last;
				memmove(&p->holes[i + 1], &p->holes[i + 2],
				    (size_t)(p->nholes - i - 2) * sizeof(*h));
				p->nholes--;
			}
			kl_schedule();
			return;
		}
	}
	if (p->nholes == KL_HOLES) {
		for (near = 0, j = 1; j < p->nholes; j++)
			if (llabs(p->holes[j].first - first) < llabs(p->holes[near].first - first))
				near = j;
		p->holes[near].first = first < p->holes[near].first ? first : p->holes[near].first;
		p->holes[near].last = last > p->holes[near].last ? last : p->holes[near].last;
		/* it may overlap others now: add it again through the merge */
		first = p->holes[near].first;
		last = p->holes[near].last;
		memmove(&p->holes[near], &p->holes[near + 1],
		    (size_t)(p->nholes - near - 1) * sizeof(p->holes[0]));
		p->nholes--;
		kl.holes_found--;
		kl_add_hole(p, first, last);
		return;
	}
	for (i = 0; i < p->nholes && p->holes[i].first < first; i++)
		;
	memmove(&p->holes[i + 1], &p->holes[i], (size_t)(p->nholes - i) * sizeof(p->holes[0]));
	p->holes[i].first = first;
	p->holes[i].last = last;
	p->holes[i].tries = 0;
	p->nholes++;
	kl_schedule();
}

/* The history of a pair with nothing stored: kline_history candles up to last. */
static void
kl_add_history(struct kl_pair *p, int64_t last)
{
	int64_t n = kl_history();

	if (n > 0)
		kl_add_hole(p, kp_step(p->iv, last, -(n - 1), NULL), last);
}

/* The database's newest stored candle is known (or the read is done): take it in. */
static void
kl_db_apply(struct kl_pair *p)
{
	int64_t s = kl_stored_max(p->sym, p->iv);

	if (p->db_applied || kl.db != DB_DONE)
		return;
	p->db_applied = 1;
	if (p->first_seen < 0) {
		/* Nothing from the stream yet: the stored candle is the cursor (or none). */
		if (s > p->cursor)
			p->cursor = s;
		return;
	}
	if (s < 0)
		kl_add_history(p, kp_prev(p->iv, p->first_seen));
	else if (s < kp_prev(p->iv, p->first_seen))
		kl_add_hole(p, bm_candle_next(p->iv, s), kp_prev(p->iv, p->first_seen));
	p->first_seen = -1;
}

/*
 * A stream's need: once the exchange's time at its start is known, every
 * candle closed by then (plus the slack), as far as the clock says now, is
 * present or in a hole.  Needs the cursor: from the database, or from the
 * stream (then the history waits for the database).
 */
static void
kl_need(struct kl_pair *p, int64_t now_lb)
{
	int64_t upto, last;

	if (p->need_mono == 0)
		return;
	if (p->need_ms == 0) {
		/* a sample taken after it came up (the same ms may be before) */
		if (kl.last_mono <= p->need_mono || kl.last_e <= 0)
			return;
		p->need_ms = kl.last_e - (kl.last_mono - p->need_mono) + KL_UP_SLACK_MS;
	}
	if (now_lb < 0 || (p->cursor < 0 && !p->db_applied))
		return;
	upto = p->need_ms < now_lb ? p->need_ms : now_lb;
	last = kp_last_closed(p->iv, upto);
	if (p->cursor < 0) {
		kl_add_history(p, last);
		p->cursor = last;
	} else if (last > p->cursor) {
		kl_add_hole(p, bm_candle_next(p->iv, p->cursor), last);
		p->cursor = last;
	}
	if (p->need_ms <= now_lb)
		p->need_mono = p->need_ms = 0;
}

static void
kl_cancel(struct kl_pair *p)
{
	if (p->req == NULL)
		return;
	net_http_cancel(p->req);
	p->req = NULL;
	kl.inflight--;
	if (mk.budget)
		budget_rest_done(mk.budget);
}

/* ---------------------------------------------------------------- REST */

/* A symbol as a query value: RFC 3986's unreserved bytes, others %XX. */
static void
kl_q(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *c = (const unsigned char *)s; *c && o + 4 <= outlen; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_' || *c == '~')
			out[o++] = (char)*c;
		else {
			out[o++] = '%';
			out[o++] = hex[*c >> 4];
			out[o++] = hex[*c & 15];
		}
	}
	out[o] = '\0';
}

static int64_t
kl_backoff(int tries)
{
	int64_t d = KL_RETRY_MIN_MS;

	for (int i = 1; i < tries && d < KL_RETRY_MAX_MS; i++)
		d *= 2;
	if (d > KL_RETRY_MAX_MS)
		d = KL_RETRY_MAX_MS;
	/* jitter: 75%..125% */
	return d * 3 / 4 + (int64_t)((uint64_t)random() % (uint64_t)(d / 2 + 1));
}

/* The page of p's first hole failed (why): again later, or the hole is given up. */
static void
kl_page_failed(struct kl_pair *p, const char *why)
{
	struct kl_hole *h;

	if (p->nholes == 0)
		return;
	h = &p->holes[0];
	if (++h->tries >= KL_TRIES) {
		kl.holes_abandoned++;
		snprintf(kl.last_error, sizeof(kl.last_error), "%s %s: %s", p->sym,
		    bm_intervals[p->iv], why);
		log_error("klines: %s %s: the candles from %" PRId64 " to %" PRId64 " are given up "
		    "after %d attempts: %s", p->sym, bm_intervals[p->iv], h->first, h->last,
		    h->tries, why);
		memmove(&p->holes[0], &p->holes[1], (size_t)(p->nholes - 1) * sizeof(*h));
		p->nholes--;
		return;
	}
	p->retry_mono = mono_ms() + kl_backoff(h->tries);
}

/* One row of the answer: sent if it is a closed candle of the page, in order. */
static void
kl_row(struct event *ev, void *arg)
{
	struct kl_pair *p = arg;
	struct ev_kline *k = &ev->u.kline;

	if (ev->type != EV_KLINE || !k->closed || k->open_time < p->page.start_ms ||
	    k->open_time > p->page.last_ms || k->open_time <= p->got_last ||
	    bm_candle_open(p->iv, k->open_time) != k->open_time) {
		kl.rows_dropped++;
		return;
	}
	/* Candles the exchange skipped inside the page: it has none. */
	p->got_absent += kp_count(p->iv, p->got_last < p->page.start_ms ? p->page.start_ms :
	    bm_candle_next(p->iv, p->got_last), kp_prev(p->iv, k->open_time));
	ev->flags |= EVF_RESYNC;
	if (mk_emit(ev) == 0) {
		p->got_rows++;
		kl.backfilled++;
	} else
		kl.rows_dropped++;
	p->got_last = k->open_time;
}

static void
kl_answer(const struct net_http_resp *r, void *arg)
{
	struct kl_pair *p = arg;
	struct kl_hole *h;
	struct bf_drops drops;
	const char *err = NULL;
	int64_t now = wall_ms(), from;
	char why[160];

	p->req = NULL;
	kl.inflight--;
	budget_rest_done(mk.budget);
	kl_schedule();
	if (r->used_weight_1m >= 0)
		budget_rest_seen(mk.budget, r->used_weight_1m, now);
	if (r->status == 429 || r->status == 418) {
		int64_t wait_s = budget_retry_after_s(r->status, r->retry_after_s);

		if (r->status == 429)
			kl.http_429++;
		else
			kl.http_418++;
		budget_rest_block(mk.budget, now + wait_s * 1000);
		log_warnx("klines: REST %d from the exchange (%s): no request from this host for %"
		    PRId64 " s", r->status, r->status == 418 ? "IP banned" : "rate limit", wait_s);
		/* Not the page's fault: no attempt counted. */
		p->retry_mono = mono_ms() + wait_s * 1000;
		return;
	}
	if (r->status != 200) {
		kl.requests_failed++;
		if (r->status == 0)
			snprintf(why, sizeof(why), "%s", r->error ? r->error : "transport failure");
		else
			snprintf(why, sizeof(why), "HTTP %d", r->status);
		kl_error("%s %s: GET /fapi/v1/klines: %s", p->sym, bm_intervals[p->iv], why);
		kl_page_failed(p, why);
		return;
	}
	if (!p->active || p->nholes == 0 || p->holes[0].first != p->page.start_ms)
		return;		/* forgotten, or its hole merged away meanwhile: asked again */
	memset(&drops, 0, sizeof(drops));
	p->got_last = p->page.start_ms - 1;
	p->got_rows = p->got_absent = 0;
	if (bm_klines_parse(r->body, r->len, p->sym, bm_intervals[p->iv], p->page.end_ms + 1,
	    clock_real_us(), kl_row, p, &drops, &err) < 0) {
		kl.requests_failed++;
		kl_error("%s %s: unusable klines answer: %s", p->sym, bm_intervals[p->iv],
		    err ? err : "?");
		kl_page_failed(p, err ? err : "unusable answer");
		return;
	}
	if (drops.events) {
		kl.rows_dropped += drops.events;
		kl_error("%s %s: %u klines rows dropped: %s", p->sym, bm_intervals[p->iv],
		    drops.events, drops.why);
	}
	h = &p->holes[0];
	kl.absent += (uint64_t)p->got_absent;
	from = p->got_last < p->page.start_ms ? p->page.start_ms : bm_candle_next(p->iv,
	    p->got_last);
	/*
	 * Recent: within KL_RECENT_MS of the newest candle the stream or the
	 * clock showed closed, on the candles' own clock (exsim's runs faster
	 * than E with --time-scale).
	 */
	if (from <= p->page.last_ms && (p->cursor < 0 ||
	    bm_candle_next(p->iv, p->cursor) - bm_candle_next(p->iv, p->page.last_ms) <
	    KL_RECENT_MS)) {
		/* The newest rows are not there yet: what came is kept, the rest asked again. */
		h->first = from;
		snprintf(why, sizeof(why), "%" PRId64 " recent candles not in the answer",
		    kp_count(p->iv, from, p->page.last_ms));
		kl_page_failed(p, why);
		return;
	}
	if (from <= p->page.last_ms)
		kl.absent += (uint64_t)kp_count(p->iv, from, p->page.last_ms);
	if (p->got_rows > 0) {
		struct kl_sent *s = &p->sent[p->nsent++ % KL_SENT_PAGES];

		s->wall_ms = now;
		s->first = p->page.start_ms;
		s->last = p->got_last;
	}
	h->tries = 0;
	h->first = bm_candle_next(p->iv, p->page.last_ms);
	if (h->first > h->last) {
		kl.holes_filled++;
		memmove(&p->holes[0], &p->holes[1], (size_t)(p->nholes - 1) * sizeof(*h));
		p->nholes--;
	}
}

/* The pacing bucket, refilled at a share of the host's budget a minute. */
static double
kl_rate_per_ms(void)
{
	int64_t b = 0;

	for (int i = 0; mk.cfg && i < mk.cfg->nex; i++)
		if (strcmp(mk.cfg->ex[i].name, KL_EXCHANGE) == 0)
			b = mk.cfg->ex[i].rest_weight_budget;
	if (b <= 0)
		b = 2400;	/* FACTS §1: REQUEST_WEIGHT 2400/min per IP */
	return (double)b / KL_SHARE_DIV / 60000.;
}

static int64_t
kl_reserve(void)
{
	return (int64_t)(kl_rate_per_ms() * 60000. * KL_SHARE_DIV) / 50 + 1;
}

static void
kl_refill(void)
{
	int64_t now = mono_ms();
	double cap = kl_rate_per_ms() * 1000. * KL_BURST_S;

	kl.tokens += (double)(now - kl.tokens_mono) * kl_rate_per_ms();
	if (kl.tokens > cap)
		kl.tokens = cap;
	kl.tokens_mono = now;
}

/*
 * Start p's next page if the pacing and the host allow: 1 started, 0 p has
 * nothing to ask now, -1 the budget says wait *wait_ms (stop this pass).
 */
static int
kl_start(struct kl_pair *p, int64_t *wait_ms)
{
	struct kp_page pg;
	double cap = kl_rate_per_ms() * 1000. * KL_BURST_S;
	char path[256], q[3 * EV_SYM];

	if (!p->active || p->req || p->nholes == 0 || p->retry_mono > mono_ms())
		return 0;
	if (kp_plan(p->iv, p->holes[0].first, p->holes[0].last, &pg) == 0)
		return 0;
	/* A page heavier than the bucket goes when it is full. */
	if (kl.tokens < (pg.weight < cap ? pg.weight : cap)) {
		*wait_ms = (int64_t)(((pg.weight < cap ? pg.weight : cap) - kl.tokens) /
		    kl_rate_per_ms()) + 1;
		return -1;
	}
	if (budget_rest_take_deferred(mk.budget, pg.weight, kl_reserve(), wall_ms(),
	    wait_ms) == -1)
		return -1;
	kl_q(p->sym, q, sizeof(q));
	snprintf(path, sizeof(path), "/fapi/v1/klines?symbol=%s&interval=%s&startTime=%" PRId64
	    "&endTime=%" PRId64 "&limit=%d", q, bm_intervals[p->iv], pg.start_ms, pg.end_ms,
	    pg.limit);
	p->req = net_http(mk.net, mk.rest, "GET", path, NULL, KL_TIMEOUT_MS, kl_answer, p);
	if (p->req == NULL) {
		budget_rest_done(mk.budget);
		kl.requests_failed++;
		kl_page_failed(p, "the request could not be started");
		return 0;
	}
	net_http_body_max(p->req, KL_BODY_MAX);
	p->page = pg;
	kl.tokens -= pg.weight;
	kl.inflight++;
	kl.requests++;
	kl.weight += (uint64_t)pg.weight;
	return 1;
}

static void
kl_time_answer(const struct net_http_resp *r, void *arg)
{
	const char *p;

	kl.time_req = NULL;
	kl.inflight--;
	budget_rest_done(mk.budget);
	if (r->used_weight_1m >= 0)
		budget_rest_seen(mk.budget, r->used_weight_1m, wall_ms());
	if (r->status == 429 || r->status == 418) {
		int64_t wait_s = budget_retry_after_s(r->status, r->retry_after_s);

		if (r->status == 429)
			kl.http_429++;
		else
			kl.http_418++;
		budget_rest_block(mk.budget, wall_ms() + wait_s * 1000);
		return;
	}
	/* The answer is {"serverTime":N}: the exchange's time was at least N when it came. */
	if (r->status == 200 && (p = strstr(r->body, "\"serverTime\":")) != NULL)
		kl_clock_sample(strtoll(p + 13, NULL, 10), mono_ms());
	else
		kl_error("GET /fapi/v1/time: %s", r->status ? "unusable answer" :
		    (r->error ? r->error : "transport failure"));
	kl_schedule();
}

/* A stream came up and no clock sample followed: ask the exchange's time. */
static void
kl_time(void)
{
	int64_t wait_ms;

	if (kl.time_req || kl.inflight >= KL_INFLIGHT ||
	    mono_ms() - kl.time_sent_mono < KL_TIME_AFTER_MS ||
	    budget_rest_take(mk.budget, 1, kl_reserve(), wall_ms(), &wait_ms) == -1)
		return;
	kl.time_sent_mono = mono_ms();
	kl.time_req = net_http(mk.net, mk.rest, "GET", "/fapi/v1/time", NULL, KL_TIMEOUT_MS,
	    kl_time_answer, NULL);
	if (kl.time_req == NULL) {
		budget_rest_done(mk.budget);
		return;
	}
	net_http_body_max(kl.time_req, 4096);
	kl.inflight++;
	kl.time_requests++;
	kl.weight++;
}

/* One pass: resolve needs, then start what the pacing and the host allow. */
static void
kl_pass(void)
{
	int64_t now_lb = kl_now_lb(), wait_ms = 0, mono = mono_ms();
	int need_time = 0, waiting = 0;
	size_t i, n;

	if (!kl.init || mk.net == NULL || mk.rest == NULL || mk.budget == NULL)
		return;
	for (i = 0; i < kl.npairs; i++) {
		struct kl_pair *p = kl.pairs[i];

		if (!p->active)
			continue;
		kl_need(p, now_lb);
		if (p->need_mono && p->need_ms == 0 && mono - p->need_mono >= KL_TIME_AFTER_MS)
			need_time = 1;
	}
	if (need_time)
		kl_time();
	kl_refill();
	/* Bounded: each pair is looked at once. */
	for (n = 0; n < kl.npairs && kl.inflight < KL_INFLIGHT; n++) {
		struct kl_pair *p = kl.pairs[kl.rr++ % kl.npairs];
		int rc = kl_start(p, &wait_ms);

		if (rc == -1) {
			waiting = 1;
			break;
		}
	}
	if (waiting && wait_ms < KL_TICK_S * 1000) {
		/* sooner than the tick */
		ev_timer_stop(mk.loop, &kl.tick);
		ev_timer_set(&kl.tick, (double)(wait_ms > 0 ? wait_ms : 1) / 1000., KL_TICK_S);
		ev_timer_start(mk.loop, &kl.tick);
	}
}

static void
kl_tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	kl_pass();
}

/* Run a pass from the loop, soon: never inside a caller's callback. */
static void
kl_schedule(void)
{
	if (!kl.init)
		return;
	ev_timer_stop(mk.loop, &kl.tick);
	ev_timer_set(&kl.tick, 0., KL_TICK_S);
	ev_timer_start(mk.loop, &kl.tick);
}

/* ------------------------------------------------------ the start's read */

#define KL_DB_SQL	"SET statement_timeout = 10000; " \
	"SELECT symbol, interval, max(open_time) FROM klines " \
	"WHERE exchange = '" KL_EXCHANGE "' GROUP BY 1, 2"

static void	kl_db_start(void);

static void
kl_db_close(void)
{
	if (kl.conn == NULL)
		return;
	ev_io_stop(mk.loop, &kl.db_io);
	ev_timer_stop(mk.loop, &kl.db_deadline);
	PQfinish(kl.conn);
	kl.conn = NULL;
}

static void
kl_db_fail(const char *why)
{
	int64_t d = KL_DB_RETRY_MIN_MS;

	kl_db_close();
	kl.db = DB_IDLE;
	kl.db_failures++;
	for (unsigned i = 1; i < kl.db_failures && d < KL_DB_RETRY_MAX_MS; i++)
		d *= 2;
	if (d > KL_DB_RETRY_MAX_MS)
		d = KL_DB_RETRY_MAX_MS;
	snprintf(kl.last_error, sizeof(kl.last_error), "reading klines: %s", why);
	log_warnx("klines: cannot read the stored candles (%s); again in %" PRId64 " s; the "
	    "streams' holes are filled meanwhile, history waits", why, d / 1000);
	ev_timer_set(&kl.db_retry, (double)d / 1000., 0.);
	ev_timer_start(mk.loop, &kl.db_retry);
}

/* The one line of libpq's message, without its newline. */
static const char *
kl_db_msg(char *buf, size_t len)
{
	char *nl;

	snprintf(buf, len, "%s", kl.conn ? PQerrorMessage(kl.conn) : "no connection");
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	return buf;
}

static int
kl_db_rows(PGresult *res)
{
	int n = PQntuples(res);
	struct kl_stored *s = calloc((size_t)(n > 0 ? n : 1), sizeof(*s));
	size_t k = 0;

	if (s == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		int iv = bm_interval_index(PQgetvalue(res, i, 1));

		if (iv < 0 || PQgetisnull(res, i, 2) || strlen(PQgetvalue(res, i, 0)) >= EV_SYM)
			continue;
		snprintf(s[k].sym, EV_SYM, "%s", PQgetvalue(res, i, 0));
		s[k].iv = iv;
		s[k].max_open = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		k++;
	}
	free(kl.stored);
	kl.stored = s;
	kl.nstored = k;
	return 0;
}

static void
kl_db_done(void)
{
	kl_db_close();
	kl.db = DB_DONE;
	log_info("klines: %zu (symbol, interval) pairs stored", kl.nstored);
	for (size_t i = 0; i < kl.npairs; i++)
		kl_db_apply(kl.pairs[i]);
	kl_schedule();
}

/* Drive the connection and the query as far as the socket lets. */
static void
kl_db_step(void)
{
	char msg[200];
	PGresult *res;
	int ok = 0, events = 0;

	if (kl.db == DB_CONNECTING) {
		switch (PQconnectPoll(kl.conn)) {
		case PGRES_POLLING_FAILED:
			kl_db_fail(kl_db_msg(msg, sizeof(msg)));
			return;
		case PGRES_POLLING_READING:
			events = EV_READ;
			break;
		case PGRES_POLLING_WRITING:
			events = EV_WRITE;
			break;
		case PGRES_POLLING_OK:
			if (PQsetnonblocking(kl.conn, 1) != 0 ||
			    PQsendQuery(kl.conn, KL_DB_SQL) == 0) {
				kl_db_fail(kl_db_msg(msg, sizeof(msg)));
				return;
			}
			kl.db = DB_SENDING;
			break;
		default:
			events = EV_READ;
			break;
		}
	}
	if (kl.db == DB_SENDING) {
		int f = PQflush(kl.conn);

		if (f < 0) {
			kl_db_fail(kl_db_msg(msg, sizeof(msg)));
			return;
		}
		if (f == 1)
			events = EV_READ | EV_WRITE;
		else {
			kl.db = DB_READING;
			events = EV_READ;
		}
	}
	if (kl.db == DB_READING) {
		if (PQconsumeInput(kl.conn) == 0) {
			kl_db_fail(kl_db_msg(msg, sizeof(msg)));
			return;
		}
		/* Bounded: two statements, each one result, then NULL. */
		for (int guard = 0; guard < 8 && !PQisBusy(kl.conn); guard++) {
			if ((res = PQgetResult(kl.conn)) == NULL) {
				if (ok) {
					kl_db_done();
					return;
				}
				kl_db_fail("no rows answered");
				return;
			}
			if (PQresultStatus(res) == PGRES_TUPLES_OK) {
				if (kl_db_rows(res) == -1) {
					PQclear(res);
					kl_db_fail("out of memory");
					return;
				}
				ok = 1;
			} else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
				msg[strcspn(msg, "\n")] = '\0';
				PQclear(res);
				kl_db_fail(msg);
				return;
			}
			PQclear(res);
		}
		events = EV_READ;
	}
	/* libpq may change sockets while connecting (another host or address). */
	ev_io_stop(mk.loop, &kl.db_io);
	ev_io_set(&kl.db_io, PQsocket(kl.conn), events);
	ev_io_start(mk.loop, &kl.db_io);
}

static void
kl_db_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	kl_db_step();
}

static void
kl_db_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	kl_db_fail("no answer within the deadline");
}

static void
kl_db_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	kl_db_start();
}

static void
kl_db_start(void)
{
	/* Listed first, so that a conninfo naming its own application_name wins (db.c). */
	const char *const keys[] = { "application_name", "connect_timeout", "dbname", NULL };
	const char *const vals[] = { "exfeedd-market", "10", mk.cfg->db_conninfo, NULL };
	char msg[200];

	kl.conn = PQconnectStartParams(keys, vals, 1);
	if (kl.conn == NULL) {
		kl_db_fail("out of memory");
		return;
	}
	if (PQstatus(kl.conn) == CONNECTION_BAD || PQsocket(kl.conn) < 0) {
		kl_db_fail(kl_db_msg(msg, sizeof(msg)));
		return;
	}
	kl.db = DB_CONNECTING;
	ev_timer_set(&kl.db_deadline, KL_DB_DEADLINE_MS / 1000., 0.);
	ev_timer_start(mk.loop, &kl.db_deadline);
	ev_io_set(&kl.db_io, PQsocket(kl.conn), EV_WRITE);
	ev_io_start(mk.loop, &kl.db_io);
}

/* ------------------------------------------------------------ interface */

static void
kl_init(void)
{
	if (kl.init || mk.loop == NULL)
		return;
	ev_timer_init(&kl.tick, kl_tick_cb, 0., KL_TICK_S);
	ev_init(&kl.db_io, kl_db_io_cb);
	ev_timer_init(&kl.db_deadline, kl_db_deadline_cb, 0., 0.);
	ev_timer_init(&kl.db_retry, kl_db_retry_cb, 0., 0.);
	kl.tokens_mono = mono_ms();
	kl.tokens = kl_rate_per_ms() * 1000. * KL_BURST_S;
	kl.init = 1;
}

int
mk_kline_start(void)
{
	kl_init();
	if (!kl.init) {
		log_warnx("klines: started without the worker's loop");
		return -1;
	}
	if (kl.db == DB_IDLE && !ev_is_active(&kl.db_retry))
		kl_db_start();
	kl_schedule();
	return 0;
}

void
mk_kline_configure(const char *const *symbols, int nsymbols, const char *const *intervals,
    int nintervals)
{
	size_t i, at;

	kl_init();
	for (i = 0; i < kl.npairs; i++)
		kl.pairs[i]->active = 0;
	for (int s = 0; s < nsymbols; s++) {
		for (int v = 0; v < nintervals; v++) {
			int iv = bm_interval_index(intervals[v]);
			struct kl_pair *p;

			if (iv < 0 || strlen(symbols[s]) >= EV_SYM)
				continue;
			if ((p = kl_find(symbols[s], iv, &at)) != NULL) {
				p->active = 1;
				continue;
			}
			if (kl.npairs == kl.cap) {
				size_t nc = kl.cap ? kl.cap * 2 : 64;
				struct kl_pair **np = reallocarray(kl.pairs, nc, sizeof(*np));

				if (np == NULL) {
					log_warn("klines: %s %s not followed", symbols[s],
					    intervals[v]);
					continue;
				}
				kl.pairs = np;
				kl.cap = nc;
			}
			if ((p = calloc(1, sizeof(*p))) == NULL) {
				log_warn("klines: %s %s not followed", symbols[s], intervals[v]);
				continue;
			}
			snprintf(p->sym, sizeof(p->sym), "%s", symbols[s]);
			p->iv = iv;
			p->active = 1;
			p->cursor = -1;
			p->first_seen = -1;
			memmove(&kl.pairs[at + 1], &kl.pairs[at], (kl.npairs - at) * sizeof(*kl.pairs));
			kl.pairs[at] = p;
			kl.npairs++;
			kl_db_apply(p);
		}
	}
	/* Pairs that left keep their cursor and holes, asked for nothing until they return. */
	for (i = 0; i < kl.npairs; i++)
		if (!kl.pairs[i]->active) {
			kl_cancel(kl.pairs[i]);
			kl.pairs[i]->need_mono = kl.pairs[i]->need_ms = 0;
		}
	kl_schedule();
}

void
mk_kline_seen(const struct event *ev)
{
	const struct ev_kline *k;
	struct kl_pair *p;
	int64_t t;

	if (ev == NULL || ev->type != EV_KLINE)
		return;
	k = &ev->u.kline;
	/*
	 * The exchange's clock is at least E, and at least the frame's candle:
	 * open (t), or closed (T + 1).  The candle is the better bound where
	 * candles run faster than E (exsim --time-scale).
	 */
	kl_clock_sample(ev->event_time > (k->closed ? k->close_time + 1 : k->open_time) ?
	    ev->event_time : (k->closed ? k->close_time + 1 : k->open_time), mono_ms());
	if (!k->closed || (p = kl_lookup(k->symbol, k->interval)) == NULL || !p->active)
		return;
	t = k->open_time;
	if (bm_candle_open(p->iv, t) != t)
		return;		/* not a candle of this interval: the parser's to count */
	if (p->cursor < 0) {
		if (!p->db_applied) {
			p->first_seen = t;
		} else
			kl_add_history(p, kp_prev(p->iv, t));
		p->cursor = t;
		return;
	}
	if (t <= p->cursor)
		return;
	if (t > bm_candle_next(p->iv, p->cursor))
		kl_add_hole(p, bm_candle_next(p->iv, p->cursor), kp_prev(p->iv, t));
	p->cursor = t;
}

void
mk_kline_stream_up(const char *symbol, const char *interval)
{
	struct kl_pair *p = kl_lookup(symbol, interval);

	if (p == NULL || !p->active)
		return;
	p->need_mono = mono_ms();
	p->need_ms = 0;
	kl_schedule();
}

void
mk_kline_stream_down(const char *symbol, const char *interval)
{
	struct kl_pair *p = kl_lookup(symbol, interval);

	/* What closes meanwhile is found when it is up again (its need). */
	if (p != NULL)
		p->need_mono = p->need_ms = 0;
}

void
mk_kline_lost(const char *symbol, const char *interval, int64_t since_ms)
{
	struct kl_pair *p = kl_lookup(symbol, interval);
	int64_t first;

	if (p == NULL || !p->active)
		return;
	/* Backfilled pages sent since then (the ring's, newest first). */
	for (unsigned i = 0; i < p->nsent && i < KL_SENT_PAGES; i++) {
		struct kl_sent *s = &p->sent[(p->nsent - 1 - i) % KL_SENT_PAGES];

		if (s->wall_ms < since_ms - KL_LOST_MARGIN_MS)
			break;
		if (i == KL_SENT_PAGES - 1 && p->nsent > KL_SENT_PAGES)
			log_warnx("klines: %s %s: more than %d backfilled pages may be lost; the "
			    "older ones are not fetched again", p->sym, bm_intervals[p->iv],
			    KL_SENT_PAGES);
		kl_add_hole(p, s->first, s->last);
	}
	if (p->cursor < 0)
		return;
	/* The stream's: from the candle before the one holding since_ms. */
	first = kp_prev(p->iv, bm_candle_open(p->iv, since_ms));
	if (first <= p->cursor)
		kl_add_hole(p, first, p->cursor);
}

void
mk_kline_stop(void)
{
	if (!kl.init)
		return;
	for (size_t i = 0; i < kl.npairs; i++) {
		kl_cancel(kl.pairs[i]);
		free(kl.pairs[i]);
	}
	free(kl.pairs);
	kl.pairs = NULL;
	kl.npairs = kl.cap = 0;
	if (kl.time_req) {
		net_http_cancel(kl.time_req);
		kl.time_req = NULL;
		kl.inflight--;
		budget_rest_done(mk.budget);
	}
	kl_db_close();
	ev_timer_stop(mk.loop, &kl.db_retry);
	ev_timer_stop(mk.loop, &kl.tick);
	free(kl.stored);
	kl.stored = NULL;
	kl.nstored = 0;
	kl.init = 0;
}

void
mk_kline_status(msgpack_packer *pk)
{
	static const char *const dbstate[] = { "waiting", "connecting", "reading", "reading",
	    "done" };
	uint64_t holes = 0, missing = 0, active = 0, unknown = 0;
	int64_t lb = kl_now_lb();

	for (size_t i = 0; i < kl.npairs; i++) {
		struct kl_pair *p = kl.pairs[i];

		if (!p->active)
			continue;
		active++;
		if (p->cursor < 0)
			unknown++;
		holes += (uint64_t)p->nholes;
		for (int h = 0; h < p->nholes; h++)
			missing += (uint64_t)kp_count(p->iv, p->holes[h].first, p->holes[h].last);
	}
	msgpack_pack_map(pk, 19);
	mp_kv_u64(pk, "pairs", active);
	mp_kv_u64(pk, "pairs_unknown", unknown);
	mp_kv_u64(pk, "holes_open", holes);
	mp_kv_u64(pk, "candles_missing", missing);
	mp_kv_u64(pk, "holes_found", kl.holes_found);
	mp_kv_u64(pk, "holes_filled", kl.holes_filled);
	mp_kv_u64(pk, "holes_abandoned", kl.holes_abandoned);
	mp_kv_u64(pk, "candles_backfilled", kl.backfilled);
	mp_kv_u64(pk, "candles_absent", kl.absent);
	mp_kv_u64(pk, "rows_dropped", kl.rows_dropped);
	mp_kv_u64(pk, "requests", kl.requests + kl.time_requests);
	mp_kv_u64(pk, "requests_failed", kl.requests_failed);
	mp_kv_u64(pk, "weight_spent", kl.weight);
	mp_kv_u64(pk, "http_429", kl.http_429);
	mp_kv_u64(pk, "http_418", kl.http_418);
	mp_kv_i64(pk, "inflight", kl.inflight);
	mp_kv_str(pk, "db", kl.db == DB_IDLE && kl.db_failures ? "retrying" : dbstate[kl.db]);
	mp_kv_i64(pk, "exchange_time_ms", lb);
	mp_kv_str(pk, "last_error", kl.last_error);
}
