/*
 * market.c: the market-data worker role: one process for the configured
 * symbols × stream kinds of Binance USDⓈ-M futures (FACTS §3).
 *
 * This file owns the plan (which streams exist: [market] symbols, or every
 * TRADING symbol of /fapi/v1/exchangeInfo, × streams × intervals), the
 * frames (bm_frame_parse; per-stream dedupe so that the overlap of a
 * replacement connection delivers nothing twice; EV_FUNDING when a symbol's
 * funding rate or next funding time changes), the local books of the depth
 * diff streams (book.h; REST snapshots paced within the host's budget, one
 * in flight per symbol; top N published every publish_interval when it
 * changed), the data plane to the writer (role "market"), the exchange's
 * addresses (looked up off the loop, resolve.h) and the status.  The
 * connections are market_conn.c's, closed candles market_kline.c's.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exfeedd.h"
#include "gw_msg.h"
#include "kafka.h"
#include "gwfeed.h"
#include "market_int.h"
#include "market_kafka.h"
#include "mpack.h"
#include "resolve.h"

#define TICK_S			0.1
#define REST_TIMEOUT_MS		10000
#define LOOKUP_TIMEOUT_MS	10000
#define LOOKUP_RETRY_MS		5000
#define BOOK_MAX_BUFFERED	10000	/* diffs held while a snapshot is on its way */
#define INFO_WEIGHT		1	/* GET /fapi/v1/exchangeInfo (Binance "Exchange Information") */
#define INFO_BODY_MAX		(8 * 1024 * 1024)
#define SNAPSHOT_BODY_MAX	(1024 * 1024)
/* Depth snapshots spend at most this share of the host's REST weight per minute. */
#define MK_GW_QUEUE		(4u * 1024 * 1024)	/* unsent bytes to the gateway, at most */
#define SNAPSHOT_SHARE_PCT	25

struct market_worker mw;
struct mk_ctx mk;

/* ------------------------------------------------------------------ helpers */

int64_t
mk_now_ms(void)
{
	return clock_real_us() / 1000;
}

uint32_t
mk_random(void)
{
	uint64_t z = (mw.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* FNV-1a of a name; the caller takes it modulo its table. */
static uint32_t
fnv1a(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static uint32_t
name_hash(const char *s, size_t len)
{
	return fnv1a(s, len) % MK_STREAM_BUCKETS;
}

struct mstream *
stream_by_name(const char *name, size_t len)
{
	struct mstream *s;

	for (s = mw.by_name[name_hash(name, len)]; s; s = s->hnext)
		if (strlen(s->name) == len && memcmp(s->name, name, len) == 0)
			return s;
	return NULL;
}

/* A planned symbol by name (every event looks its own up: a hash, not the list). */
static struct msym *
sym_find(const char *name)
{
	size_t len = strlen(name);

	for (struct msym *y = mw.sym_by_name[fnv1a(name, len) % MK_SYM_BUCKETS]; y; y = y->hnext)
		if (strcmp(y->name, name) == 0)
			return y;
	return NULL;
}

static void
sym_unhash(struct msym *y)
{
	struct msym **pp = &mw.sym_by_name[fnv1a(y->name, strlen(y->name)) % MK_SYM_BUCKETS];

	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == y) {
			*pp = y->hnext;
			return;
		}
}

/* ------------------------------------------------------------- data plane */

int
mk_emit(struct event *ev)
{
	if (ev->type == EV_KLINE && ev->u.kline.closed) {
		/* A klines row: the writer upserts it, then publishes it. */
		if (ev->exchange[0] == '\0')
			snprintf(ev->exchange, sizeof(ev->exchange), "%s", MK_EXCHANGE);
		if (ev->recv_us == 0)
			ev->recv_us = clock_real_us();
		ev->account_id = ev->user_id = 0;
		ev_make_id(ev);
		if (mw.dp == NULL || dp_sender_push(mw.dp, ev, ev->event_time) == -1) {
			mw.st.events_invalid++;
			return -1;
		}
	} else {
		market_kafka_publish(ev);	/* checked by its maker (market_int.h) */
		/*
		 * The gateway's clients too, when one reads this stream (its
		 * interest, gwfeed.h); closed candles reach it from the writer.
		 */
		enum gw_channel ch;

		if (mw.gw != NULL && (ch = gw_channel_of(ev)) != GW_CH_NONE &&
		    gw_feed_sender_wants(mw.gw, ev_market_symbol(ev), (int)ch,
		    ev->type == EV_KLINE ? bm_interval_index(ev->u.kline.interval) : -1))
			gw_feed_send(mw.gw, ev);
	}
	mw.st.events++;
	if (ev->type < EV_TYPE_MAX)
		mw.st.by_type[ev->type]++;
	return 0;
}

/*
 * Market events dropped on the data plane's overflow: the ones that matter
 * later are closed candles, which the kline half backfills from the time
 * the oldest lost event was made.
 */
static void
dp_overflow_cb(const int64_t *ids, const int64_t *since, size_t n, void *arg)
{
	int64_t from = INT64_MAX;

	(void)ids;
	(void)arg;
	for (size_t i = 0; i < n; i++)
		if (since[i] < from)
			from = since[i];
	mw.st.dp_overflows++;
	if (from == INT64_MAX)
		return;
	for (struct msym *y = mw.syms; y; y = y->next)
		for (int i = 0; i < 15; i++)
			if (y->kline[i] != NULL)
				mk_kline_lost(y->name, bm_intervals[i], from);
}

/* ------------------------------------------------------------------- plan */

/*
 * A [market] streams item ("depth5@100ms") as a kind, its speed and its
 * levels; -1 for one config.c would not have let through.
 */
static int
kind_parse(const char *item, enum bm_kind *kind, char *speed, size_t speedlen, int *levels)
{
	static const struct {
		const char	*name;
		enum bm_kind	 kind;
		int		 levels;
	} kinds[] = {
		{ "kline", BM_KLINE, 0 }, { "markPrice", BM_MARK_PRICE, 0 },
		{ "ticker", BM_TICKER, 0 }, { "miniTicker", BM_MINI_TICKER, 0 },
		{ "trade", BM_TRADE, 0 }, { "aggTrade", BM_AGG_TRADE, 0 },
		{ "depth", BM_DEPTH, 0 }, { "depth5", BM_PARTIAL_DEPTH, 5 },
		{ "depth10", BM_PARTIAL_DEPTH, 10 }, { "depth20", BM_PARTIAL_DEPTH, 20 },
		{ "bookTicker", BM_BOOK_TICKER, 0 }, { "forceOrder", BM_FORCE_ORDER, 0 },
	};
	size_t n = strcspn(item, "@");

	snprintf(speed, speedlen, "%s", item[n] == '@' ? item + n + 1 : "");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].name) == n && strncmp(kinds[i].name, item, n) == 0) {
			*kind = kinds[i].kind;
			*levels = kinds[i].levels;
			return 0;
		}
	return -1;
}

static void
book_drop(struct msym *y)
{
	if (y->book == NULL)
		return;
	if (y->book->req) {
		/* No callback follows a cancel: the request ends here for the budget. */
		net_http_cancel(y->book->req);
		budget_rest_done(mw.budget);
	}
	book_free(y->book->book);
	free(y->book);
	y->book = NULL;
}

/* The stream is wanted: made if new; 1 if it was made. */
static int
stream_want(struct msym *y, enum bm_kind kind, const char *iv_or_speed, int levels)
{
	char name[MK_STREAM_NAME];
	struct mstream *s;
	int n;
	uint32_t h;

	if ((n = bm_stream_name(kind, y->name, iv_or_speed, levels, name, sizeof(name))) < 0) {
		log_warnx("market: no stream name for %s (%s): skipped", y->name, iv_or_speed);
		return 0;
	}
	if ((s = stream_by_name(name, (size_t)n)) != NULL) {
		s->want = true;
		return 0;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warnx("market: out of memory for stream %s", name);
		return 0;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->kind = kind;
	s->route = bm_kind_route(kind);
	s->interval = kind == BM_KLINE ? bm_interval_index(iv_or_speed) : -1;
	s->sym = y;
	s->want = true;
	/* Every kind but forceOrder pushes on a cadence (FACTS §3 table). */
	s->ticks = kind != BM_FORCE_ORDER;
	h = name_hash(name, (size_t)n);
	s->hnext = mw.by_name[h];
	mw.by_name[h] = s;
	s->next = mw.streams;
	mw.streams = s;
	mw.nstreams++;
	if (kind == BM_KLINE && s->interval >= 0)
		y->kline[s->interval] = s;
	else
		y->by_kind[kind] = s;
	if (kind == BM_DEPTH && y->book == NULL) {
		if ((y->book = calloc(1, sizeof(*y->book))) == NULL ||
		    (y->book->book = book_new(y->name, BOOK_MAX_BUFFERED)) == NULL) {
			free(y->book);
			y->book = NULL;
			log_warnx("market: out of memory for the book of %s", y->name);
		}
	}
	return 1;
}

static void
stream_forget(struct mstream *s)
{
	struct mstream **pp;
	struct msym *y = s->sym;

	conns_remove_stream(s);
	if (s->kind == BM_KLINE && s->interval >= 0) {
		if (y->kline[s->interval] == s)
			y->kline[s->interval] = NULL;
	} else if (y->by_kind[s->kind] == s)
		y->by_kind[s->kind] = NULL;
	if (s->kind == BM_DEPTH)
		book_drop(y);
	for (pp = &mw.by_name[name_hash(s->name, strlen(s->name))]; *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	mw.nstreams--;
	free(s);
}

/* [market] symbols = all: every TRADING symbol of the exchange. */
static int
symbols_all(void)
{
	const struct strlist *l = &mw.cfg->market_symbols;

	return l->n == 1 && strcmp(l->v[0], "all") == 0;
}

/* The configured symbols: the list, or the exchange's TRADING ones for "all". */
static int
plan_symbols(const char *const **v)
{
	const struct strlist *l = &mw.cfg->market_symbols;

	if (symbols_all()) {
		*v = (const char *const *)mw.all_syms;
		return mw.nall;
	}
	*v = (const char *const *)l->v;
	return (int)l->n;
}

/*
 * Rebuild the plan from the config: streams that stay are untouched (their
 * connection, subscription and dedupe state carry on), those that left are
 * unsubscribed, new ones placed on connections.
 */
static void
plan_apply(const char *why)
{
	const struct config *cfg = mw.cfg;
	const char *const *syms;
	int nsyms = plan_symbols(&syms), added = 0, removed = 0;
	const char *ivs[15];
	int niv = 0;

	if (symbols_all() && mw.all_syms == NULL) {
		/* symbols = all, the list not fetched yet: the plan stays as it is until it is. */
		log_info("market (%s): waiting for the exchange's symbols (exchangeInfo)", why);
		return;
	}

	for (struct mstream *s = mw.streams; s; s = s->next)
		s->want = false;
	for (struct msym *y = mw.syms; y; y = y->next)
		y->want = false;
	for (int i = 0; i < nsyms; i++) {
		struct msym *y = sym_find(syms[i]);

		if (y == NULL) {
			uint32_t h;

			if ((y = calloc(1, sizeof(*y))) == NULL) {
				log_warnx("market: out of memory for symbol %s", syms[i]);
				continue;
			}
			snprintf(y->name, sizeof(y->name), "%s", syms[i]);
			y->next = mw.syms;
			mw.syms = y;
			h = fnv1a(y->name, strlen(y->name)) % MK_SYM_BUCKETS;
			y->hnext = mw.sym_by_name[h];
			mw.sym_by_name[h] = y;
			mw.nsyms++;
		}
		y->want = true;
		for (size_t k = 0; k < cfg->market_streams.n; k++) {
			enum bm_kind kind;
			char speed[16];
			int levels;

			if (kind_parse(cfg->market_streams.v[k], &kind, speed, sizeof(speed),
			    &levels) == -1)
				continue;
			if (kind == BM_KLINE) {
				for (size_t j = 0; j < cfg->market_intervals.n; j++)
					added += stream_want(y, kind, cfg->market_intervals.v[j], 0);
			} else
				added += stream_want(y, kind, speed, levels);
		}
	}
	/* Streams that left the plan, then symbols left with none. */
	for (struct mstream **pp = &mw.streams; *pp;) {
		struct mstream *s = *pp;

		if (s->want) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		if (s->kind == BM_KLINE && s->interval >= 0)
			mk_kline_stream_down(s->sym->name, bm_intervals[s->interval]);
		stream_forget(s);
		removed++;
	}
	for (struct msym **pp = &mw.syms; *pp;) {
		struct msym *y = *pp;
		int any = 0;

		for (int k = 0; k < BM_KIND_MAX; k++)
			any |= y->by_kind[k] != NULL;
		for (int k = 0; k < 15; k++)
			any |= y->kline[k] != NULL;
		if (y->want || any) {
			pp = &y->next;
			continue;
		}
		*pp = y->next;
		sym_unhash(y);
		book_drop(y);
		free(y);
		mw.nsyms--;
	}
	for (size_t j = 0; j < cfg->market_intervals.n && niv < 15; j++)
		ivs[niv++] = cfg->market_intervals.v[j];
	{
		int klines = 0;

		for (size_t k = 0; k < cfg->market_streams.n; k++)
			klines |= strcmp(cfg->market_streams.v[k], "kline") == 0;
		mk_kline_configure(syms, klines ? nsyms : 0, ivs, klines ? niv : 0);
	}
	log_info("market (%s): %d symbols, %zu streams (%d new, %d removed)", why, nsyms,
	    mw.nstreams, added, removed);
	conns_place();
}

/* -------------------------------------------------------- exchangeInfo (all) */

static void
info_done_cb(const struct net_http_resp *r, void *arg)
{
	char **v = NULL;
	const char *err = NULL;
	struct bf_drops drops;
	int n;

	(void)arg;
	memset(&drops, 0, sizeof(drops));
	mw.info_req = NULL;
	budget_rest_done(mw.budget);
	if (r->used_weight_1m >= 0)
		budget_rest_seen(mw.budget, r->used_weight_1m, mk_now_ms());
	if (r->status == 429 || r->status == 418) {
		mw.st.http_429 += r->status == 429;
		mw.st.http_418 += r->status == 418;
		budget_rest_block(mw.budget, mk_now_ms() +
		    budget_retry_after_s(r->status, r->retry_after_s) * 1000);
	}
	if (r->status != 200 ||
	    (n = bm_exchange_info_symbols(r->body, r->len, &v, &drops, &err)) < 0) {
		mw.st.info_errors++;
		mw.info_failures++;
		mw.info_retry_ms = mk_now_ms() + (mw.info_failures < 6 ? 1000LL << mw.info_failures :
		    60000);
		log_warnx_rl(&mw.rl_rest, "market: GET /fapi/v1/exchangeInfo: %s",
		    r->error ? r->error : r->status != 200 ? "HTTP error" : err);
		return;
	}
	mw.info_failures = 0;
	if (drops.events)
		log_warnx_rl(&mw.rl_drops, "market: exchangeInfo: %u symbol row(s) skipped: %s",
		    drops.events, drops.why);
	if (n > 1024) {
		log_warnx("market: the exchange lists %d TRADING symbols; following the first 1024", n);
		for (int i = 1024; i < n; i++)
			free(v[i]);
		n = 1024;
	}
	bm_symbols_free(mw.all_syms, mw.nall);
	mw.all_syms = v;
	mw.nall = n;
	if (v == NULL && (mw.all_syms = calloc(1, sizeof(char *))) == NULL)
		abort();	/* none TRADING: an empty list, not "not fetched" */
	mw.info_wanted = false;
	plan_apply("exchangeInfo");
}

/* symbols = all: (re)fetch the TRADING symbols when wanted and allowed. */
static void
info_step(int64_t now)
{
	int64_t wait;

	if (!mw.info_wanted || mw.info_req || mw.rest.addr[0] == '\0' || now < mw.info_retry_ms)
		return;
	if (budget_rest_take(mw.budget, INFO_WEIGHT, 0, now, &wait) == -1) {
		mw.info_retry_ms = now + wait;
		return;
	}
	mw.st.info_fetches++;
	if ((mw.info_req = net_http(mw.net, &mw.rest, "GET", "/fapi/v1/exchangeInfo", NULL,
	    REST_TIMEOUT_MS, info_done_cb, NULL)) == NULL) {
		budget_rest_done(mw.budget);
		mw.info_retry_ms = now + 1000;
		return;
	}
	net_http_body_max(mw.info_req, INFO_BODY_MAX);
}

/* ------------------------------------------------------------------ books */

static void
book_resync(struct msym *y, uint64_t *reason)
{
	struct mbook *b = y->book;

	(*reason)++;
	b->resyncs++;
	mw.st.book_resyncs++;
	b->want_snapshot = true;
	b->changed = false;
}

static void
snapshot_done_cb(const struct net_http_resp *r, void *arg)
{
	struct msym *y = arg;
	struct mbook *b = y->book;
	struct bm_depth_snapshot snap;
	const char *err = NULL;
	int64_t now = mk_now_ms();

	b->req = NULL;
	budget_rest_done(mw.budget);
	if (r->used_weight_1m >= 0)
		budget_rest_seen(mw.budget, r->used_weight_1m, now);
	if (r->status == 429 || r->status == 418) {
		mw.st.http_429 += r->status == 429;
		mw.st.http_418 += r->status == 418;
		budget_rest_block(mw.budget, now +
		    budget_retry_after_s(r->status, r->retry_after_s) * 1000);
	}
	memset(&snap, 0, sizeof(snap));
	if (r->status != 200 || bm_depth_snapshot_parse(r->body, r->len, &snap, &err) == -1) {
		b->snapshot_errors++;
		mw.st.snapshot_errors++;
		b->failures++;
		b->retry_at_ms = now + (b->failures < 6 ? 500LL << b->failures : 30000);
		log_warnx_rl(&mw.rl_rest, "market: GET /fapi/v1/depth %s: %s", y->name,
		    r->error ? r->error : r->status != 200 ? "HTTP error" : err);
		bm_depth_snapshot_free(&snap);
		return;
	}
	b->failures = 0;
	b->snapshots++;
	mw.st.snapshots++;
	switch (book_snapshot(b->book, &snap, (int)mw.cfg->market_book_snapshot_limit)) {
	case BOOK_OK:
		b->want_snapshot = !book_synced(b->book);
		b->changed = book_synced(b->book);
		break;
	case BOOK_STALE:
		break;
	case BOOK_BREAK:
		/* The snapshot does not connect to the buffered diffs: another one. */
		log_info("market: book %s: snapshot at %" PRId64 " does not connect (%s); again",
		    y->name, snap.last_update_id, book_break_reason(b->book));
		book_resync(y, &b->resyncs_snapshot);
		break;
	}
	bm_depth_snapshot_free(&snap);
}

/*
 * Start the snapshots due: one in flight per symbol, and globally paced so
 * that depth snapshots spend at most SNAPSHOT_SHARE_PCT of the host's
 * minute (200 symbols resyncing at once take minutes, not the whole
 * minute's weight in a second).  A snapshot waits for a diff buffered
 * first (FACTS §3 steps 1-3), so that it can connect.
 */
static void
books_step(int64_t now)
{
	int limit = (int)mw.cfg->market_book_snapshot_limit;
	int weight = bm_depth_weight(limit);
	int64_t wait, per_min, pace;

	if (weight < 0 || mw.rest.addr[0] == '\0' || now < mw.snap_next_ms)
		return;
	per_min = mw.ex >= 0 ? mw.cfg->ex[mw.ex].rest_weight_budget * SNAPSHOT_SHARE_PCT / 100 : 1;
	if (per_min < 1)
		per_min = 1;
	pace = (int64_t)weight * 60000 / per_min;
	for (struct msym *y = mw.syms; y; y = y->next) {
		struct mbook *b = y->book;
		struct book_stats bs;
		char path[128];

		if (b == NULL || !b->want_snapshot || b->req || now < b->retry_at_ms)
			continue;
		book_get_stats(b->book, &bs);
		if (bs.nbuffered == 0)
			continue;
		if (budget_rest_take(mw.budget, weight, 0, now, &wait) == -1) {
			mw.snap_next_ms = now + wait;
			return;
		}
		snprintf(path, sizeof(path), "/fapi/v1/depth?symbol=%s&limit=%d", y->name, limit);
		if ((b->req = net_http(mw.net, &mw.rest, "GET", path, NULL, REST_TIMEOUT_MS,
		    snapshot_done_cb, y)) == NULL) {
			budget_rest_done(mw.budget);
			b->retry_at_ms = now + 1000;
			continue;
		}
		net_http_body_max(b->req, SNAPSHOT_BODY_MAX);
		mw.snap_next_ms = now + pace;
		return;
	}
}

static void
book_feed(struct msym *y, const struct bm_depth_diff *d)
{
	struct mbook *b = y->book;
	enum book_rc rc;

	mw.st.book_diffs++;
	rc = book_diff(b->book, d);
	if (rc == BOOK_OK && book_synced(b->book))
		b->changed = true;
	else if (rc == BOOK_BREAK) {
		log_info("market: book %s: %s at u=%" PRId64 "; resync", y->name,
		    book_break_reason(b->book), d->final_update_id);
		book_resync(y, &b->resyncs_gap);
	} else if (rc == BOOK_OK && !b->want_snapshot && !b->req && !book_synced(b->book))
		b->want_snapshot = true;	/* first diffs after start or a loss */
}

/*
 * Publish the top N of each changed synced book (every publish_interval).
 * The top is not put through ev_validate: book_top's tops pass it by
 * construction (book.h; book_test's random walk checks each one); the one
 * thing a book could get wrong, crossing, is asked again here.
 */
static void
publish_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	static struct ev_level levels[2 * EV_BOOK_LEVELS_MAX];
	int depth = (int)mw.cfg->market_book_depth;

	(void)loop;
	(void)t;
	(void)revents;
	for (struct msym *y = mw.syms; y; y = y->next) {
		struct mbook *b = y->book;
		struct event ev;

		if (b == NULL || !b->changed || !book_synced(b->book))
			continue;
		b->changed = false;
		if (book_crossed(b->book)) {
			/* Never published; the book is rebuilt. */
			b->crossed++;
			mw.st.books_crossed++;
			log_warnx("market: book %s at u=%" PRId64 " not published: crossed "
			    "(best bid >= best ask); resync", y->name,
			    book_last_update_id(b->book));
			book_unsync(b->book);
			book_resync(y, &b->resyncs_gap);
			continue;
		}
		if (book_top(b->book, depth, &ev, levels) == -1) {
			/* Levels removed below the top: the snapshot no longer proves it. */
			b->unpublishable++;
			book_unsync(b->book);
			book_resync(y, &b->resyncs_unproven);
			continue;
		}
		snprintf(ev.exchange, sizeof(ev.exchange), "%s", MK_EXCHANGE);
		ev.recv_us = clock_real_us();
		ev_make_id(&ev);
		if (mk_emit(&ev) == 0) {
			b->published++;
			b->published_u = ev.u.book.last_update_id;
			mw.st.books_published++;
		}
	}
}

/* ----------------------------------------------------------------- frames */

struct frame_ctx {
	struct mconn	*c;
	struct mstream	*hint;		/* the envelope's stream, when known before parsing */
};

/* The stream an event came on, from its type, flags and symbol. */
static struct mstream *
stream_of(const struct event *ev)
{
	struct msym *y;
	const char *sym;
	int iv;

	switch (ev->type) {
	case EV_KLINE:		sym = ev->u.kline.symbol; break;
	case EV_MARK_PRICE:	sym = ev->u.mark_price.symbol; break;
	case EV_TICKER:		sym = ev->u.ticker.symbol; break;
	case EV_TRADE:		sym = ev->u.trade.symbol; break;
	case EV_BOOK:		sym = ev->u.book.symbol; break;
	case EV_BOOK_TICKER:	sym = ev->u.book_ticker.symbol; break;
	case EV_LIQUIDATION:	sym = ev->u.liquidation.symbol; break;
	default:		return NULL;
	}
	if ((y = sym_find(sym)) == NULL)
		return NULL;
	switch (ev->type) {
	case EV_KLINE:
		iv = bm_interval_index(ev->u.kline.interval);
		return iv >= 0 ? y->kline[iv] : NULL;
	case EV_MARK_PRICE:	return y->by_kind[BM_MARK_PRICE];
	case EV_TICKER:
		return y->by_kind[ev->flags & EVF_MINI ? BM_MINI_TICKER : BM_TICKER];
	case EV_TRADE:		return y->by_kind[ev->flags & EVF_AGG ? BM_AGG_TRADE : BM_TRADE];
	case EV_BOOK:		return y->by_kind[BM_PARTIAL_DEPTH];
	case EV_BOOK_TICKER:	return y->by_kind[BM_BOOK_TICKER];
	case EV_LIQUIDATION:	return y->by_kind[BM_FORCE_ORDER];
	default:		return NULL;
	}
}

/*
 * Whether the event is one this stream delivered before (the overlap of a
 * replacement connection, a resubscription): each kind's own order, per
 * stream: trade and aggregate ids, a book ticker's update id, candles by
 * (open time, event time), the rest (partial books too) by event time.  1: a duplicate, dropped.
 */
static int
dedupe(struct mstream *s, const struct event *ev)
{
	int64_t key = ev->event_time, key2 = 0;

	switch (ev->type) {
	case EV_TRADE:		key = ev->u.trade.trade_id; break;
	case EV_BOOK_TICKER:	key = ev->u.book_ticker.update_id; break;
	case EV_BOOK:
		/*
		 * A partial book comes every 100/250/500 ms whether or not it
		 * changed: the same u again with a later E is a new frame.
		 */
		break;
	case EV_KLINE:
		key2 = ev->u.kline.open_time;
		if (key2 > s->last_key2) {
			s->last_key2 = key2;
			s->last_key = key;
			return 0;
		}
		if (key2 < s->last_key2 || key <= s->last_key)
			return 1;
		s->last_key = key;
		return 0;
	default:
		break;
	}
	if (key <= s->last_key && s->last_key != 0)
		return 1;
	s->last_key = key;
	return 0;
}

/* A mark price with a funding rate or next funding time new for the symbol: EV_FUNDING. */
static void
funding_check(struct msym *y, const struct event *ev)
{
	const struct ev_mark_price *m = &ev->u.mark_price;
	const char *err;
	struct event f;

	if (m->funding_rate[0] == '\0' && m->next_funding_time == 0)
		return;
	if (y->funding_seen && strcmp(y->funding_rate, m->funding_rate) == 0 &&
	    y->next_funding_ms == m->next_funding_time)
		return;
	y->funding_seen = true;
	snprintf(y->funding_rate, sizeof(y->funding_rate), "%s", m->funding_rate);
	y->next_funding_ms = m->next_funding_time;
	memset(&f, 0, sizeof(f));
	f.type = EV_FUNDING;
	f.event_time = ev->event_time;
	f.recv_us = ev->recv_us;
	snprintf(f.u.funding.symbol, sizeof(f.u.funding.symbol), "%s", m->symbol);
	snprintf(f.u.funding.funding_rate, sizeof(f.u.funding.funding_rate), "%s", m->funding_rate);
	f.u.funding.next_funding_time = m->next_funding_time;
	snprintf(f.u.funding.mark_price, sizeof(f.u.funding.mark_price), "%s", m->mark_price);
	snprintf(f.exchange, sizeof(f.exchange), "%s", MK_EXCHANGE);
	ev_make_id(&f);
	if (ev_validate(&f, &err) == -1) {
		mw.st.events_invalid++;
		log_warnx_rl(&mw.rl_malformed, "market: funding of %s not published: %s",
		    m->symbol, err);
		return;
	}
	if (mk_emit(&f) == 0)
		mw.st.fundings++;
}

static void
frame_emit_cb(struct event *ev, void *arg)
{
	struct frame_ctx *fc = arg;
	struct mstream *s = stream_of(ev);

	if (s == NULL) {
		/* A symbol or kind no longer planned (an UNSUBSCRIBE on its way). */
		mw.st.unknown_stream++;
		return;
	}
	(void)fc;
	s->last_msg_ms = mk_now_ms();
	s->msgs++;
	if (dedupe(s, ev)) {
		s->duplicates++;
		mw.st.duplicates++;
		return;
	}
	if (ev->type == EV_MARK_PRICE)
		funding_check(s->sym, ev);
	if (ev->type == EV_KLINE)
		mk_kline_seen(ev);
	mk_emit(ev);
}

static void
frame_drops(const struct bm_drops *d)
{
	mw.st.zero_price += d->zero_price;
	mw.st.fields_dropped += d->d.fields;
	if (d->d.events || d->d.fields)
		log_warnx_rl(&mw.rl_drops, "market: %u event(s) and %u field(s) dropped: %s",
		    d->d.events, d->d.fields, d->d.why);
}

void
mk_frame(struct mconn *c, const char *buf, size_t len)
{
	struct frame_ctx fc = { c, NULL };
	struct bm_frame f;
	struct bm_drops drops;
	const char *err = NULL;
	struct mstream *s;
	int r;

	memset(&drops, 0, sizeof(drops));
	memset(&f, 0, sizeof(f));
	mw.st.messages++;
	r = bm_frame_parse(buf, len, clock_real_us(), false, frame_emit_cb, &fc, &f, &drops,
	    &err);
	if (r == -1) {
		mw.st.malformed++;
		mconn_malformed(c, err ? err : "unreadable");
		frame_drops(&drops);
		return;
	}
	frame_drops(&drops);
	switch (f.kind) {
	case BMF_EVENTS:
		break;
	case BMF_ANSWER:
	case BMF_ERROR:
		mw.st.answers++;
		mconn_answer(c, &f);
		break;
	case BMF_DEPTH_DIFF:
		s = stream_by_name(f.stream, strlen(f.stream));
		if (s == NULL || s->sym->book == NULL) {
			mw.st.unknown_stream++;
		} else {
			struct mbook *b = s->sym->book;
			int64_t u0 = book_last_update_id(b->book);

			s->last_msg_ms = mk_now_ms();
			s->msgs++;
			/*
			 * From a connection other than the stream's own (the
			 * overlap of a replacement): taken only if it is a
			 * duplicate (stale, harmless) or continues the book,
			 * never as a break that is only the two connections'
			 * different positions.
			 */
			if (s->conn != c && book_synced(b->book) && f.diff.final_update_id > u0 &&
			    f.diff.prev_final_update_id != u0) {
				s->duplicates++;
			} else
				book_feed(s->sym, &f.diff);
		}
		bm_depth_diff_free(&f.diff);
		break;
	}
}

/* The stream is delivering again (subscribed on a live connection). */
void
stream_up(struct mstream *s)
{
	s->live_ms = mk_now_ms();
	if (s->kind == BM_KLINE && s->interval >= 0)
		mk_kline_stream_up(s->sym->name, bm_intervals[s->interval]);
}

/* The stream stopped (its connection lost, or unsubscribed): a book loses its continuity. */
void
stream_down(struct mstream *s)
{
	if (s->kind == BM_KLINE && s->interval >= 0)
		mk_kline_stream_down(s->sym->name, bm_intervals[s->interval]);
	if (s->kind == BM_DEPTH && s->sym->book != NULL) {
		struct mbook *b = s->sym->book;

		if (book_synced(b->book) || b->want_snapshot) {
			book_unsync(b->book);
			book_resync(s->sym, &b->resyncs_lost);
		}
		b->want_snapshot = false;	/* again once diffs are buffered */
	}
}

/* -------------------------------------------------------------- addresses */

static void
lookup_done_cb(const char *addrs, const char *err, void *arg)
{
	int i = (int)(intptr_t)arg;
	struct net_endpoint *ep = i == 0 ? &mw.rest : &mw.wsep;
	char first[64];

	mw.lookup[i] = NULL;
	if (addrs == NULL) {
		log_warnx_rl(&mw.rl_conn, "market: cannot look up %s: %s", ep->host, err);
		mw.lookup_at_ms[i] = mk_now_ms() + LOOKUP_RETRY_MS;
		return;
	}
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(addrs, " "), addrs);
	if (strcmp(first, ep->addr) != 0)
		log_info("market: %s is at %s", ep->host, first);
	snprintf(ep->addr, sizeof(ep->addr), "%s", first);
	mw.lookup_at_ms[i] = 0;
}

/* A connection to the endpoint failed: its name is looked up again (not more than every 5 s). */
void
mk_addr_suspect(int i)
{
	int64_t now = mk_now_ms();

	if (mw.lookup[i] == NULL && mw.lookup_at_ms[i] == 0)
		mw.lookup_at_ms[i] = now + LOOKUP_RETRY_MS;
}

static void
lookups_step(int64_t now)
{
	/* No stream configured: the exchange is not needed, not even its address. */
	if (mw.cfg->market_streams.n == 0)
		return;
	for (int i = 0; i < 2; i++) {
		struct net_endpoint *ep = i == 0 ? &mw.rest : &mw.wsep;

		if (mw.lookup[i] || mw.lookup_at_ms[i] == 0 || now < mw.lookup_at_ms[i] ||
		    ep->host[0] == '\0')
			continue;
		mw.lookup_at_ms[i] = 0;
		mw.lookup[i] = resolve_start(mw.loop, ep->host, LOOKUP_TIMEOUT_MS, lookup_done_cb,
		    (void *)(intptr_t)i);
		if (mw.lookup[i] == NULL)
			mw.lookup_at_ms[i] = now + LOOKUP_RETRY_MS;
	}
}

static int
setup_endpoints(const struct config *cfg)
{
	struct net_endpoint rest, ws;
	char err[256];

	mw.ex = -1;
	for (int e = 0; e < cfg->nex; e++)
		if (strcmp(cfg->ex[e].name, MK_EXCHANGE) == 0)
			mw.ex = e;
	if (mw.ex < 0) {
		log_warnx("market: no [exchange.%s] section: no market streams", MK_EXCHANGE);
		return -1;
	}
	if (net_endpoint_parse(cfg->ex[mw.ex].rest_url, &rest, err, sizeof(err)) == -1 ||
	    net_endpoint_parse(cfg->ex[mw.ex].ws_url, &ws, err, sizeof(err)) == -1) {
		log_warnx("market: [exchange.%s]: %s", MK_EXCHANGE, err);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		struct net_endpoint *cur = i == 0 ? &mw.rest : &mw.wsep, *nw = i == 0 ? &rest : &ws;

		if (strcmp(cur->host, nw->host) == 0 && cur->port == nw->port &&
		    cur->tls == nw->tls && strcmp(cur->prefix, nw->prefix) == 0)
			continue;
		if (mw.lookup[i]) {
			resolve_cancel(mw.lookup[i]);
			mw.lookup[i] = NULL;
		}
		*cur = *nw;
		cur->addr[0] = '\0';
		mw.lookup_at_ms[i] = 1;	/* now */
	}
	return 0;
}

/* ------------------------------------------------------------------- role */

static void
tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	int64_t now = mk_now_ms();

	(void)loop;
	(void)t;
	(void)revents;
	if (mw.stopping)
		return;
	lookups_step(now);
	info_step(now);
	books_step(now);
	conns_tick();
}

static void
budget_limits_of(const struct config *cfg, struct budget_limits *l)
{
	l->weight_1m = mw.ex >= 0 ? cfg->ex[mw.ex].rest_weight_budget : 1;
	l->connects_5m = mw.ex >= 0 ? cfg->ex[mw.ex].connect_budget : 1;
	l->inflight = mw.ex >= 0 ? (int)cfg->ex[mw.ex].rest_concurrency : 1;
}

static void
market_start(struct ev_loop *loop, const struct config *cfg)
{
	struct budget_limits l;
	char err[256], path[1024];
	int how;

	mw.loop = loop;
	mw.cfg = cfg;
	mw.rng = ((uint64_t)getpid() << 32) ^ (uint64_t)mk_now_ms();
	mw.rl_malformed = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	mw.rl_conn = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	mw.rl_rest = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	mw.rl_drops = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	setup_endpoints(cfg);
	budget_limits_of(cfg, &l);
	snprintf(path, sizeof(path), "%s/budget-%s", cfg->runtime_dir, MK_EXCHANGE);
	if ((mw.budget = budget_open(path, BUDGET_SLOT_MARKET, &l, &how, err, sizeof(err))) == NULL)
		worker_fatal(1, "REST budget: %s", err);
	if (mw.ex >= 0 && *cfg->ex[mw.ex].ca_file &&
	    crypto_ca_file_check(cfg->ex[mw.ex].ca_file, err, sizeof(err)) == -1)
		worker_fatal(EX_CONFIG_STATUS, "[exchange.%s] ca_file: %s (as user %s)",
		    cfg->ex[mw.ex].name, err, cfg->user);
	if ((mw.net = net_new(loop, mw.ex >= 0 ? cfg->ex[mw.ex].ca_file : NULL, err,
	    sizeof(err))) == NULL)
		worker_fatal(1, "%s", err);
	snprintf(path, sizeof(path), "%s/writer.sock", cfg->runtime_dir);
	if ((mw.dp = dp_sender_new(loop, path, "market", worker_instance(),
	    (size_t)cfg->max_unacked, dp_overflow_cb, NULL)) == NULL)
		worker_fatal(1, "cannot set up the data plane");
	snprintf(path, sizeof(path), "%s/gateway.sock", cfg->runtime_dir);
	if ((mw.gw = gw_feed_sender_new(loop, path, "market", worker_instance(),
	    MK_GW_QUEUE)) == NULL)
		worker_fatal(1, "cannot set up the gateway feed");
	market_kafka_start(loop, cfg);
	mk.loop = loop;
	mk.cfg = cfg;
	mk.net = mw.net;
	mk.rest = &mw.rest;
	mk.budget = mw.budget;
	mconn_init();
	ev_timer_init(&mw.tick, tick_cb, TICK_S, TICK_S);
	ev_timer_start(loop, &mw.tick);
	ev_timer_init(&mw.publish, publish_cb, (double)cfg->market_publish_interval_ms / 1000.,
	    (double)cfg->market_publish_interval_ms / 1000.);
	ev_timer_start(loop, &mw.publish);
	mw.info_wanted = symbols_all();
	if (mk_kline_start() == -1)
		log_warnx("market: closed candles: the stored ones could not be read; "
		    "backfilling from kline_history");
	plan_apply("start");
	worker_ready();
}

static void
market_reconfigure(const struct config *cfg, const struct config *old)
{
	struct budget_limits l;

	(void)old;
	mw.cfg = cfg;
	mk.cfg = cfg;
	market_kafka_reconfigure(cfg);
	setup_endpoints(cfg);
	budget_limits_of(cfg, &l);
	budget_set_limits(mw.budget, &l);
	dp_sender_set_max(mw.dp, (size_t)cfg->max_unacked);
	ev_timer_stop(mw.loop, &mw.publish);
	ev_timer_set(&mw.publish, (double)cfg->market_publish_interval_ms / 1000.,
	    (double)cfg->market_publish_interval_ms / 1000.);
	ev_timer_start(mw.loop, &mw.publish);
	/* symbols = all: the list is fetched again; the plan follows when it comes. */
	mw.info_wanted = symbols_all();
	mw.info_retry_ms = 0;
	plan_apply("reload");
}

static void
pack_stream_ages(msgpack_packer *pk, int64_t now)
{
	msgpack_pack_map(pk, (uint32_t)mw.nstreams);
	for (struct mstream *s = mw.streams; s; s = s->next) {
		mp_str(pk, s->name);
		msgpack_pack_map(pk, 5);
		mp_kv_str(pk, "state", s->state == MS_LIVE ? "live" : s->state == MS_SENT ?
		    "subscribing" : s->state == MS_QUEUED ? "queued" : "idle");
		mp_kv_i64(pk, "last_message_age_ms", s->last_msg_ms ? now - s->last_msg_ms : -1);
		mp_kv_u64(pk, "messages", s->msgs);
		mp_kv_u64(pk, "duplicates", s->duplicates);
		mp_kv_u64(pk, "resubscribes", s->resubscribes);
	}
}

static void
pack_books(msgpack_packer *pk)
{
	uint32_t n = 0;

	for (struct msym *y = mw.syms; y; y = y->next)
		n += y->book != NULL;
	msgpack_pack_map(pk, n);
	for (struct msym *y = mw.syms; y; y = y->next) {
		struct mbook *b = y->book;
		struct book_stats bs;

		if (b == NULL)
			continue;
		book_get_stats(b->book, &bs);
		mp_str(pk, y->name);
		msgpack_pack_map(pk, 17);
		mp_kv_bool(pk, "synced", book_synced(b->book));
		mp_kv_i64(pk, "last_update_id", book_last_update_id(b->book));
		mp_kv_u64(pk, "resyncs", b->resyncs);
		mp_kv_u64(pk, "resyncs_gap", b->resyncs_gap);
		mp_kv_u64(pk, "resyncs_snapshot", b->resyncs_snapshot);
		mp_kv_u64(pk, "resyncs_lost", b->resyncs_lost);
		mp_kv_u64(pk, "resyncs_unproven", b->resyncs_unproven);
		mp_kv_u64(pk, "snapshots", b->snapshots);
		mp_kv_u64(pk, "snapshot_errors", b->snapshot_errors);
		mp_kv_u64(pk, "published", b->published);
		mp_kv_i64(pk, "published_update_id", b->published_u);
		mp_kv_u64(pk, "crossed", b->crossed);
		mp_kv_u64(pk, "diffs", bs.diffs);
		mp_kv_u64(pk, "stale", bs.stale);
		mp_kv_u64(pk, "breaks", bs.breaks);
		mp_kv_u64(pk, "bids", bs.nbids);
		mp_kv_u64(pk, "asks", bs.nasks);
	}
}

static void
market_status(msgpack_packer *pk)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} counters[] = {
#define C(f)	{ #f, offsetof(struct market_worker, st.f) }
		C(messages), C(malformed), C(events), C(events_invalid), C(duplicates),
		C(zero_price), C(fields_dropped), C(answers), C(sub_errors), C(fundings),
		C(resubscribes), C(reconnects_ok), C(reconnects_failed), C(silence_kills),
		C(request_timeouts), C(probes), C(replacements), C(drains), C(drains_failed),
		C(subscribes_sent), C(unsubscribes_sent), C(messages_sent), C(book_diffs),
		C(book_resyncs), C(snapshots), C(snapshot_errors), C(books_published),
		C(books_crossed), C(http_429), C(http_418), C(info_fetches), C(info_errors),
		C(unknown_stream), C(dp_overflows),
#undef C
	};
	size_t nc = sizeof(counters) / sizeof(counters[0]);
	int64_t now = mk_now_ms();
	const struct dp_sender_stats *ds = mw.dp ? dp_sender_stats(mw.dp) : NULL;

	msgpack_pack_map(pk, (uint32_t)(nc + 14));
	mp_kv_str(pk, "exchange", MK_EXCHANGE);
	mp_kv_u64(pk, "symbols", mw.nsyms);
	mp_kv_u64(pk, "streams", mw.nstreams);
	mp_kv_i64(pk, "connections_open", conns_count());
	mp_kv_str(pk, "rest_address", mw.rest.addr);
	mp_kv_str(pk, "ws_address", mw.wsep.addr);
	mp_kv_u64(pk, "dp_unacked", mw.dp ? dp_sender_unacked(mw.dp) : 0);
	mp_kv_u64(pk, "dp_acked", ds ? ds->acked : 0);
	for (size_t i = 0; i < nc; i++)
		mp_kv_u64(pk, counters[i].name,
		    *(const uint64_t *)((const char *)&mw + counters[i].off));
	mp_str(pk, "connections");
	conns_status(pk);
	mp_str(pk, "books");
	pack_books(pk);
	mp_str(pk, "stream_ages");
	pack_stream_ages(pk, now);
	mp_str(pk, "kline");
	mk_kline_status(pk);
	mp_str(pk, "kafka");
	market_kafka_status(pk);
	mp_str(pk, "gateway");
	if (mw.gw != NULL)
		gw_feed_sender_pack(mw.gw, pk);
	else
		msgpack_pack_nil(pk);
}

static void
market_stop(void)
{
	mw.stopping = 1;
	ev_timer_stop(mw.loop, &mw.tick);
	ev_timer_stop(mw.loop, &mw.publish);
	conns_free();
	mk_kline_stop();
	market_kafka_stop();
	if (mw.info_req) {
		net_http_cancel(mw.info_req);
		budget_rest_done(mw.budget);
	}
	mw.info_req = NULL;
	for (struct msym *y = mw.syms; y; y = y->next)
		book_drop(y);
	for (int i = 0; i < 2; i++)
		if (mw.lookup[i])
			resolve_cancel(mw.lookup[i]);
	if (mw.dp)
		dp_sender_flush(mw.dp);
	worker_stopped();
}

const struct worker_role market_role = {
	"market", market_start, market_reconfigure, NULL, market_status, market_stop,
};
