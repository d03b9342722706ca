/* market.c: the market side. Per symbol an order book around the traded
 * price whose diffs (U/u/pu) chain exactly onto /fapi/v1/depth snapshots,
 * the public tape (trade, aggTrade), klines in all 15 intervals, mark
 * price with funding, tickers, bookTicker and liquidation orders; and the
 * truth tests compare with: kept closed candles (/fapi/v1/klines,
 * /sim/klines), the book as it was at a recent update id (/sim/book), and
 * the depth gaps injected by the depth_gap fault. */
#include "exsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BOOK_MAX 400
#define BOOK_MIN 25
#define FUNDING_PERIOD_MS (8LL * 3600 * 1000)
#define NSPEED 3 /* @100ms, default 250ms, @500ms */
#define KHIST 1500 /* closed candles kept per symbol and interval (the REST limit's max) */
/* FACTS §3: MX saw zero-priced trade frames for "spent" trade ids, 14 of
 * 1,186 in one minute; exsim sends one before a real trade at that rate */
#define ZERO_TRADES_PER 1186
#define ZERO_TRADES 14

struct lvl {
	fx_t px, qty;
};

struct dirty {
	struct {
		fx_t px;
		uint8_t bid;
	} *v;
	int n, cap;
};

struct kline {
	int64_t t, T, f, L, n;
	fx_t o, h, l, c, v, q, V, Q;
};

/* A ring of the newest closed candles of one symbol and interval; grows
 * to KHIST as candles close. */
struct khist {
	struct kline *v;
	int head, n, cap; /* v[head] is the oldest of n */
};

/* The book's undo log: per update id the level it changed, with its
 * quantity before the change; px < 0 marks a bid level at -px.
 * tick_uid[] remembers the update id at each of the last nticks ticks
 * (--book-history seconds) so the log can be trimmed to that window: at
 * ~170 changes/s a symbol keeps ~16 B x 170 x 60 = 160 KB for 60 s. */
struct bchange {
	fx_t px, oldq;
};
struct bhist {
	struct bchange *v;
	size_t head, n, cap; /* v[head] is update id last_uid - n + 1 */
	int64_t *tick_uid;
	int tick_pos, nticks;
};

struct mkt {
	struct lvl bid[BOOK_MAX], ask[BOOK_MAX];
	int nbid, nask;
	int64_t uid, last_u[NSPEED];
	struct dirty dirty[NSPEED];
	int64_t trade_id, agg_id;
	fx_t last_px, last_qty, mark_avg;
	fx_t top_b, top_bq, top_a, top_aq;
	struct kline k[15];
	fx_t t_open, t_high, t_low, t_vol, t_quote;
	int64_t t_first_id, t_count;
	fx_t fo_qty, fo_px;
	int fo_side;
	bool fo_pending;
	struct khist kh[15];
	struct bhist *bh; /* from the first diff-depth subscription on */
	uint8_t gap_pending; /* bit per speed: drop that speed's next diff */
	uint64_t gaps[NSPEED]; /* diffs dropped by depth_gap, per speed */
};

static struct mkt *mk; /* ex_nsym */
static uint64_t mrng, zrng;
static int64_t kline_base_ms; /* wall ms at start: the kline clock's origin */
static int64_t tick_no; /* market ticks run so far */

static const int64_t kline_ms[15] = { 60000LL, 180000LL, 300000LL, 900000LL, 1800000LL,
	3600000LL, 7200000LL, 14400000LL, 21600000LL, 28800000LL, 43200000LL, 86400000LL,
	259200000LL, 604800000LL, 0 };
static const char *const kline_iv[15] = { "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h",
	"6h", "8h", "12h", "1d", "3d", "1w", "1M" };

fx_t
market_mark(int sym)
{
	return engine_price(sym);
}

/* The index (0..14) of a Binance kline interval name, or -1. */
int
market_interval(const char *name)
{
	int i;

	for (i = 0; i < 15; i++)
		if (!strcmp(kline_iv[i], name))
			return i;
	return -1;
}

/* The candles' clock, ms: the exchange clock at scale 1; with --time-scale
 * X it runs X times as fast from exsim's start, so a "1m" candle (still
 * 60,000 ms from t to T + 1) closes every 60/X wall seconds. */
int64_t
market_kline_ms(int64_t now_ms)
{
	return kline_base_ms + (int64_t)((double)(now_ms - kline_base_ms) * ex.cfg.time_scale);
}

static void
kline_bounds(int i, int64_t t, int64_t *open, int64_t *close)
{
	if (i == 14) {
		/* calendar months */
		time_t s = (time_t)(t / 1000);
		struct tm tm;

		gmtime_r(&s, &tm);
		tm.tm_mday = 1;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		*open = (int64_t)timegm(&tm) * 1000;
		tm.tm_mon++;
		*close = (int64_t)timegm(&tm) * 1000 - 1;
		return;
	}
	if (i == 13) {
		/* weeks start on Monday; 1970-01-05 was one */
		int64_t mon = 4LL * 86400000LL;

		*open = (t - mon) / kline_ms[i] * kline_ms[i] + mon;
	} else {
		*open = t / kline_ms[i] * kline_ms[i];
	}
	*close = *open + kline_ms[i] - 1;
}

static void
dirty_add(struct dirty *d, fx_t px, bool bid)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->v = realloc(d->v, sizeof(*d->v) * (size_t)d->cap);
		if (!d->v)
			abort();
	}
	d->v[d->n].px = px;
	d->v[d->n].bid = bid;
	d->n++;
}

static fx_t
level_qty(const struct mkt *m, fx_t px, bool bid)
{
	const struct lvl *v = bid ? m->bid : m->ask;
	int n = bid ? m->nbid : m->nask, i;

	for (i = 0; i < n; i++)
		if (v[i].px == px)
			return v[i].qty;
	return 0;
}

/* Set one level (qty 0 removes it); every change is one update id. */
static void
bhist_add(struct bhist *h, fx_t px, fx_t oldq, bool bid)
{
	size_t i;

	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 1024, k;
		struct bchange *nv = malloc(sizeof(*nv) * ncap);

		if (!nv)
			abort();
		for (k = 0; k < h->n; k++)
			nv[k] = h->v[(h->head + k) % h->cap];
		free(h->v);
		h->v = nv;
		h->cap = ncap;
		h->head = 0;
	}
	i = (h->head + h->n) % h->cap;
	h->v[i].px = bid ? -px : px;
	h->v[i].oldq = oldq;
	h->n++;
}

/* Set px to qty (0 removes it) in one side's sorted level array of *n;
 * returns whether the array changed. Inserts past BOOK_MAX are refused. */
static bool
lv_set(struct lvl *v, int *n, fx_t px, fx_t qty, bool bid)
{
	int i;

	for (i = 0; i < *n; i++) {
		if (v[i].px == px)
			break;
		if (bid ? v[i].px < px : v[i].px > px) {
			if (!qty || *n == BOOK_MAX)
				return false;
			memmove(&v[i + 1], &v[i], sizeof(*v) * (size_t)(*n - i));
			(*n)++;
			v[i].px = px;
			v[i].qty = qty;
			return true;
		}
	}
	if (i == *n) {
		if (!qty || *n == BOOK_MAX)
			return false;
		v[(*n)++] = (struct lvl){ px, qty };
		return true;
	}
	if (v[i].qty == qty)
		return false;
	if (!qty) {
		memmove(&v[i], &v[i + 1], sizeof(*v) * (size_t)(*n - i - 1));
		(*n)--;
	} else {
		v[i].qty = qty;
	}
	return true;
}

static void
set_level(struct mkt *m, fx_t px, fx_t qty, bool bid)
{
	struct lvl *v = bid ? m->bid : m->ask;
	int *n = bid ? &m->nbid : &m->nask, k;
	fx_t oldq = m->bh ? level_qty(m, px, bid) : 0;

	if (!lv_set(v, n, px, qty, bid))
		return;
	m->uid++;
	if (m->bh)
		bhist_add(m->bh, px, oldq, bid);
	for (k = 0; k < NSPEED; k++)
		dirty_add(&m->dirty[k], px, bid);
}

static fx_t
rand_qty(int sym)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	fx_t q = fx_round(s->typical_qty * (fx_t)(1 + rng_below(&mrng, 200)) / 10, s->step);

	return q < s->step ? s->step : q;
}

/* Move the book toward the traded price: levels on the wrong side of it
 * go, a few random levels near the top change, and thin sides refill. */
static void
book_evolve(int sym)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	struct mkt *m = &mk[sym];
	fx_t anchor = engine_price(sym) + s->tick * ((fx_t)rng_below(&mrng, 5) - 2);
	int i, k = 1 + (int)rng_below(&mrng, 4);

	while (m->nbid && m->bid[0].px >= anchor)
		set_level(m, m->bid[0].px, 0, true);
	while (m->nask && m->ask[0].px <= anchor)
		set_level(m, m->ask[0].px, 0, false);
	for (i = 0; i < k; i++) {
		bool bid = rng_below(&mrng, 2);
		fx_t off = s->tick * (fx_t)(1 + rng_below(&mrng, 30));
		fx_t px = bid ? anchor - off : anchor + off;
		fx_t q = rng_below(&mrng, 5) == 0 ? 0 : rand_qty(sym);

		if (px > 0)
			set_level(m, px, q, bid);
	}
	/* keep the spread a few ticks wide */
	if (!m->nbid || m->bid[0].px < anchor - 5 * s->tick)
		set_level(m, anchor - s->tick * (fx_t)(1 + rng_below(&mrng, 3)), rand_qty(sym), true);
	if (!m->nask || m->ask[0].px > anchor + 5 * s->tick)
		set_level(m, anchor + s->tick * (fx_t)(1 + rng_below(&mrng, 3)), rand_qty(sym), false);
	for (i = 1; m->nbid < BOOK_MIN && i < 200; i++)
		if (anchor - s->tick * i > 0 && !level_qty(m, anchor - s->tick * i, true))
			set_level(m, anchor - s->tick * i, rand_qty(sym), true);
	for (i = 1; m->nask < BOOK_MIN && i < 200; i++)
		if (!level_qty(m, anchor + s->tick * i, false))
			set_level(m, anchor + s->tick * i, rand_qty(sym), false);
	while (m->nbid > BOOK_MAX - 50)
		set_level(m, m->bid[m->nbid - 1].px, 0, true);
	while (m->nask > BOOK_MAX - 50)
		set_level(m, m->ask[m->nask - 1].px, 0, false);
}

static struct jbuf *
begin(void)
{
	jb_reset(&ex.scratch);
	return &ex.scratch;
}

static void
deliver(int sid, int kind)
{
	char name[64];

	streams_name(sid, name, sizeof(name));
	ws_deliver_stream(sid, name, ex.scratch.p, ex.scratch.len);
	ex.st.market_events[kind]++;
}

static int
sid_of(int sym, int t)
{
	return sym * MST_PER_SYMBOL + t;
}

static int
gsid(int g)
{
	return ex_nsym * MST_PER_SYMBOL + g;
}

static void khist_push(struct khist *h, const struct kline *k);
static void json_levels(struct jbuf *jb, const struct lvl *v, int n, int sym);
static void kline_roll(int sym, int64_t now);

/* Count one trade into every interval's current candle, rolling first the
 * candles whose period ended on the kline clock. */
static void
kline_update(int sym, fx_t px, fx_t q, bool buyer_maker, int64_t tid, int64_t now)
{
	struct mkt *m = &mk[sym];
	fx_t quote = fx_mul(px, q);
	int i;

	kline_roll(sym, now);
	for (i = 0; i < 15; i++) {
		struct kline *k = &m->k[i];

		if (!k->n) {
			k->o = k->h = k->l = px;
			k->f = tid;
		}
		k->c = px;
		if (px > k->h)
			k->h = px;
		if (px < k->l)
			k->l = px;
		k->v += q;
		k->q += quote;
		if (!buyer_maker) {
			k->V += q;
			k->Q += quote;
		}
		k->L = tid;
		k->n++;
	}
}

static void
emit_kline(int sym, int i, const struct kline *k, bool closed, int64_t now)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	struct jbuf *jb = begin();

	jb_open(jb, '{');
	jb_kstr(jb, "e", "kline");
	jb_kint(jb, "E", now);
	jb_kstr(jb, "s", s->name);
	jb_kopen(jb, "k", '{');
	jb_kint(jb, "t", k->t);
	jb_kint(jb, "T", k->T);
	jb_kstr(jb, "s", s->name);
	jb_kstr(jb, "i", kline_iv[i]);
	jb_kint(jb, "f", k->n ? k->f : -1);
	jb_kint(jb, "L", k->n ? k->L : -1);
	jb_kfx(jb, "o", k->o, s->price_dec);
	jb_kfx(jb, "c", k->c, s->price_dec);
	jb_kfx(jb, "h", k->h, s->price_dec);
	jb_kfx(jb, "l", k->l, s->price_dec);
	jb_kfx(jb, "v", k->v, s->qty_dec);
	jb_kint(jb, "n", k->n);
	jb_kbool(jb, "x", closed);
	jb_kfx(jb, "q", k->q, 4);
	jb_kfx(jb, "V", k->V, s->qty_dec);
	jb_kfx(jb, "Q", k->Q, 4);
	jb_kstr(jb, "B", "0");
	jb_close(jb, '}');
	jb_close(jb, '}');
	deliver(sid_of(sym, MST_KLINE0 + i), MST_KLINE0);
}

static void
khist_push(struct khist *h, const struct kline *k)
{
	if (h->n == h->cap && h->cap < KHIST) {
		int ncap = h->cap ? h->cap * 4 : 16, j;
		struct kline *nv;

		if (ncap > KHIST)
			ncap = KHIST;
		nv = malloc(sizeof(*nv) * (size_t)ncap);
		if (!nv)
			abort();
		for (j = 0; j < h->n; j++)
			nv[j] = h->v[(h->head + j) % h->cap];
		free(h->v);
		h->v = nv;
		h->cap = ncap;
		h->head = 0;
	}
	if (h->n == h->cap) {
		h->v[h->head] = *k;
		h->head = (h->head + 1) % h->cap;
	} else {
		h->v[(h->head + h->n) % h->cap] = *k;
		h->n++;
	}
}

/* Close the candles whose period ended on the kline clock: each closed
 * one is streamed (x=true) and kept; periods no tick saw (a stopped clock,
 * a large --time-scale) are kept as the exchange has them, empty candles
 * at the last close. Then the current period's candle opens. */
static void
kline_roll(int sym, int64_t now)
{
	struct mkt *m = &mk[sym];
	int64_t kt = market_kline_ms(now);
	int i;

	for (i = 0; i < 15; i++) {
		struct kline *k = &m->k[i];

		if (k->T && kt > k->T) {
			struct kline e;
			int64_t t0, nt, nT;
			int guard;

			if (ws_stream_has_subs(sid_of(sym, MST_KLINE0 + i)))
				emit_kline(sym, i, k, true, now);
			khist_push(&m->kh[i], k);
			kline_bounds(i, kt, &nt, &nT);
			t0 = k->T + 1;
			if (i != 14 && (nt - t0) / kline_ms[i] > KHIST)
				t0 = nt - KHIST * kline_ms[i];
			for (guard = 0; t0 < nt && guard <= KHIST; guard++) {
				memset(&e, 0, sizeof(e));
				kline_bounds(i, t0, &e.t, &e.T);
				e.o = e.h = e.l = e.c = k->c;
				khist_push(&m->kh[i], &e);
				t0 = e.T + 1;
			}
			memset(k, 0, sizeof(*k));
		}
		if (!k->T) {
			kline_bounds(i, kt, &k->t, &k->T);
			k->o = k->h = k->l = k->c = m->last_px;
		}
	}
}

static void
kline_publish(int sym, int64_t now)
{
	int i;

	for (i = 0; i < 15; i++)
		if (ws_stream_has_subs(sid_of(sym, MST_KLINE0 + i)))
			emit_kline(sym, i, &mk[sym].k[i], false, now);
}

static void
trade_json(int sym, int64_t tid, fx_t price, fx_t qty, bool buyer_maker, int64_t now_ms)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	struct jbuf *jb = begin();

	jb_open(jb, '{');
	jb_kstr(jb, "e", "trade");
	jb_kint(jb, "E", now_ms);
	jb_kint(jb, "T", now_ms);
	jb_kstr(jb, "s", s->name);
	jb_kint(jb, "t", tid);
	jb_kfx(jb, "p", price, s->price_dec);
	jb_kfx(jb, "q", qty, s->qty_dec);
	jb_kstr(jb, "X", "MARKET");
	jb_kbool(jb, "m", buyer_maker);
	jb_kint(jb, "st", 1);
	jb_close(jb, '}');
	deliver(sid_of(sym, MST_TRADE), MST_TRADE);
}

void
market_public_trade(int sym, fx_t price, fx_t qty, bool buyer_maker, int64_t now_ms)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	struct mkt *m = &mk[sym];
	int64_t tid;
	struct jbuf *jb;

	/* a "spent" trade id now and then: a zero-priced <s>@trade frame that
	 * no candle, ticker or aggTrade counts (own PRNG: the tape of the
	 * other streams does not depend on it) */
	if (rng_below(&zrng, ZERO_TRADES_PER) < ZERO_TRADES) {
		tid = m->trade_id++;
		ex.st.zero_trades++;
		if (ws_stream_has_subs(sid_of(sym, MST_TRADE)))
			trade_json(sym, tid, 0, qty, buyer_maker, now_ms);
	}
	tid = m->trade_id++;

	m->last_px = price;
	m->last_qty = qty;
	if (!m->t_count) {
		m->t_first_id = tid;
		m->t_high = m->t_low = price;
	}
	if (price > m->t_high)
		m->t_high = price;
	if (price < m->t_low)
		m->t_low = price;
	m->t_vol += qty;
	m->t_quote += fx_mul(price, qty);
	m->t_count++;
	kline_update(sym, price, qty, buyer_maker, tid, now_ms);
	if (ws_stream_has_subs(sid_of(sym, MST_TRADE)))
		trade_json(sym, tid, price, qty, buyer_maker, now_ms);
	/* one trade per aggregate: exsim never has two takers at one price
	 * within the same matching instant */
	if (ws_stream_has_subs(sid_of(sym, MST_AGGTRADE))) {
		jb = begin();
		jb_open(jb, '{');
		jb_kstr(jb, "e", "aggTrade");
		jb_kint(jb, "E", now_ms);
		jb_kstr(jb, "s", s->name);
		jb_kint(jb, "a", m->agg_id);
		jb_kfx(jb, "p", price, s->price_dec);
		jb_kfx(jb, "q", qty, s->qty_dec);
		jb_kfx(jb, "nq", qty, s->qty_dec);
		jb_kint(jb, "f", tid);
		jb_kint(jb, "l", tid);
		jb_kint(jb, "T", now_ms);
		jb_kbool(jb, "m", buyer_maker);
		jb_close(jb, '}');
		deliver(sid_of(sym, MST_AGGTRADE), MST_AGGTRADE);
	}
	m->agg_id++;
}

/* Only the largest liquidation per symbol per second is published. */
void
market_force_order(int sym, int side, fx_t price, fx_t qty, int64_t now_ms)
{
	struct mkt *m = &mk[sym];

	(void)now_ms;
	if (m->fo_pending && fx_mul(qty, price) <= fx_mul(m->fo_qty, m->fo_px))
		return;
	m->fo_pending = true;
	m->fo_qty = qty;
	m->fo_px = price;
	m->fo_side = side;
}

static void
json_levels(struct jbuf *jb, const struct lvl *v, int n, int sym)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	int i;

	for (i = 0; i < n; i++) {
		jb_open(jb, '[');
		jb_fx(jb, v[i].px, s->price_dec);
		jb_fx(jb, v[i].qty, s->qty_dec);
		jb_close(jb, ']');
	}
}

void
market_json_depth(struct jbuf *jb, int sym, int limit)
{
	struct mkt *m = &mk[sym];
	int64_t now = ex_now_ms();

	jb_open(jb, '{');
	jb_kint(jb, "lastUpdateId", m->uid);
	jb_kint(jb, "E", now);
	jb_kint(jb, "T", now);
	jb_kopen(jb, "bids", '[');
	json_levels(jb, m->bid, m->nbid < limit ? m->nbid : limit, sym);
	jb_close(jb, ']');
	jb_kopen(jb, "asks", '[');
	json_levels(jb, m->ask, m->nask < limit ? m->nask : limit, sym);
	jb_close(jb, ']');
	jb_close(jb, '}');
}

static int
cmp_dirty(const void *x, const void *y)
{
	const struct { fx_t px; uint8_t bid; } *a = x, *b = y;

	if (a->bid != b->bid)
		return a->bid > b->bid ? -1 : 1;
	if (a->px != b->px)
		return (a->px < b->px) == (a->bid != 0) ? 1 : -1;
	return 0;
}

static void
depth_header(struct jbuf *jb, int sym, int64_t U, int64_t u, int64_t pu, int64_t now)
{
	jb_open(jb, '{');
	jb_kstr(jb, "e", "depthUpdate");
	jb_kint(jb, "E", now);
	jb_kint(jb, "T", now);
	jb_kstr(jb, "s", ex_symbols[sym].name);
	jb_kint(jb, "U", U);
	jb_kint(jb, "u", u);
	jb_kint(jb, "pu", pu);
}

/* Publish one speed's diff (the levels changed since its last event, with
 * absolute quantities) and its partial-depth siblings. */
static void
depth_publish(int sym, int speed, int64_t now)
{
	static const int diff_t[NSPEED] = { MST_DEPTH_100, MST_DEPTH, MST_DEPTH_500 };
	static const int part_t[NSPEED][3] = { { MST_DEPTH5_100, MST_DEPTH10_100, MST_DEPTH20_100 },
		{ MST_DEPTH5, MST_DEPTH10, MST_DEPTH20 },
		{ MST_DEPTH5_500, MST_DEPTH10_500, MST_DEPTH20_500 } };
	static const int part_n[3] = { 5, 10, 20 };
	const struct ex_symbol *s = &ex_symbols[sym];
	struct mkt *m = &mk[sym];
	struct dirty *d = &m->dirty[speed];
	int64_t pu = m->last_u[speed];
	int i, j;

	if ((m->gap_pending & (1u << speed)) && !ws_stream_has_subs(sid_of(sym, diff_t[speed]))) {
		/* a speed nobody receives loses nothing */
		m->gap_pending &= (uint8_t)~(1u << speed);
	}
	if (m->uid != pu && (m->gap_pending & (1u << speed)) &&
	    ws_stream_has_subs(sid_of(sym, diff_t[speed]))) {
		/* depth_gap: this diff is lost, so the next one's pu is not
		 * the u a client saw last (partial depth is not affected) */
		m->gap_pending &= (uint8_t)~(1u << speed);
		m->gaps[speed]++;
	} else if (m->uid != pu && ws_stream_has_subs(sid_of(sym, diff_t[speed]))) {
		struct jbuf *jb = begin();

		qsort(d->v, (size_t)d->n, sizeof(*d->v), cmp_dirty);
		depth_header(jb, sym, pu + 1, m->uid, pu, now);
		for (j = 1; j >= 0; j--) {
			jb_kopen(jb, j ? "b" : "a", '[');
			for (i = 0; i < d->n; i++) {
				if (d->v[i].bid != j || (i && d->v[i].bid == d->v[i - 1].bid &&
				    d->v[i].px == d->v[i - 1].px))
					continue;
				jb_open(jb, '[');
				jb_fx(jb, d->v[i].px, s->price_dec);
				jb_fx(jb, level_qty(m, d->v[i].px, j), s->qty_dec);
				jb_close(jb, ']');
			}
			jb_close(jb, ']');
		}
		jb_close(jb, '}');
		deliver(sid_of(sym, diff_t[speed]), MST_DEPTH);
	}
	for (i = 0; i < 3; i++) {
		struct jbuf *jb;
		int sid = sid_of(sym, part_t[speed][i]);

		if (!ws_stream_has_subs(sid))
			continue;
		jb = begin();
		depth_header(jb, sym, pu + 1 <= m->uid ? pu + 1 : m->uid, m->uid, pu, now);
		jb_kopen(jb, "b", '[');
		json_levels(jb, m->bid, m->nbid < part_n[i] ? m->nbid : part_n[i], sym);
		jb_close(jb, ']');
		jb_kopen(jb, "a", '[');
		json_levels(jb, m->ask, m->nask < part_n[i] ? m->nask : part_n[i], sym);
		jb_close(jb, ']');
		jb_close(jb, '}');
		deliver(sid, MST_DEPTH5);
	}
	d->n = 0;
	m->last_u[speed] = m->uid;
}

static void
book_ticker_json(struct jbuf *jb, int sym, int64_t now)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	struct mkt *m = &mk[sym];

	jb_open(jb, '{');
	jb_kstr(jb, "e", "bookTicker");
	jb_kint(jb, "u", m->uid);
	jb_kint(jb, "E", now);
	jb_kint(jb, "T", now);
	jb_kstr(jb, "s", s->name);
	jb_kfx(jb, "b", m->top_b, s->price_dec);
	jb_kfx(jb, "B", m->top_bq, s->qty_dec);
	jb_kfx(jb, "a", m->top_a, s->price_dec);
	jb_kfx(jb, "A", m->top_aq, s->qty_dec);
	jb_close(jb, '}');
}

static void
book_ticker(int sym, int64_t now)
{
	struct mkt *m = &mk[sym];
	fx_t b = m->nbid ? m->bid[0].px : 0, bq = m->nbid ? m->bid[0].qty : 0;
	fx_t a = m->nask ? m->ask[0].px : 0, aq = m->nask ? m->ask[0].qty : 0;

	if (b == m->top_b && bq == m->top_bq && a == m->top_a && aq == m->top_aq)
		return;
	m->top_b = b;
	m->top_bq = bq;
	m->top_a = a;
	m->top_aq = aq;
	if (ws_stream_has_subs(sid_of(sym, MST_BOOKTICKER))) {
		book_ticker_json(begin(), sym, now);
		deliver(sid_of(sym, MST_BOOKTICKER), MST_BOOKTICKER);
	}
	if (ws_stream_has_subs(gsid(MG_BOOKTICKER_ALL))) {
		book_ticker_json(begin(), sym, now);
		deliver(gsid(MG_BOOKTICKER_ALL), MST_BOOKTICKER);
	}
}

static void
mark_json(struct jbuf *jb, int sym, int64_t now)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	struct mkt *m = &mk[sym];
	fx_t p = engine_price(sym), idx = p - p / 5000;
	/* premium-driven funding rate, clamped like the exchange's ±0.375% */
	fx_t r = fx_div(p - idx, idx) / 8 + 10000;

	if (r > 375000)
		r = 375000;
	jb_open(jb, '{');
	jb_kstr(jb, "e", "markPriceUpdate");
	jb_kint(jb, "E", now);
	jb_kstr(jb, "s", s->name);
	jb_kfx(jb, "p", p, 8);
	jb_kfx(jb, "ap", m->mark_avg, 8);
	jb_kfx(jb, "i", idx, 8);
	jb_kfx(jb, "P", idx, 8);
	jb_kfx(jb, "r", r, 8);
	jb_kint(jb, "T", (now / FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS);
	jb_close(jb, '}');
}

static void
mark_publish(bool every_1s, bool every_3s, int64_t now)
{
	int sym, g;

	for (sym = 0; sym < ex_nsym; sym++) {
		struct mkt *m = &mk[sym];

		m->mark_avg = m->mark_avg ? m->mark_avg + (engine_price(sym) - m->mark_avg) / 10 :
		    engine_price(sym);
		if (every_1s && ws_stream_has_subs(sid_of(sym, MST_MARKPRICE_1S))) {
			mark_json(begin(), sym, now);
			deliver(sid_of(sym, MST_MARKPRICE_1S), MST_MARKPRICE);
		}
		if (every_3s && ws_stream_has_subs(sid_of(sym, MST_MARKPRICE))) {
			mark_json(begin(), sym, now);
			deliver(sid_of(sym, MST_MARKPRICE), MST_MARKPRICE);
		}
	}
	for (g = MG_MARKPRICE_ARR; g <= MG_MARKPRICE_ARR_1S; g++) {
		struct jbuf *jb;

		if (g == MG_MARKPRICE_ARR ? !every_3s : !every_1s)
			continue;
		if (!ws_stream_has_subs(gsid(g)))
			continue;
		jb = begin();
		jb_open(jb, '[');
		for (sym = 0; sym < ex_nsym; sym++)
			mark_json(jb, sym, now);
		jb_close(jb, ']');
		deliver(gsid(g), MST_MARKPRICE);
	}
}

static void
ticker_json(struct jbuf *jb, int sym, bool mini, int64_t now)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	struct mkt *m = &mk[sym];
	fx_t c = m->last_px, o = m->t_open;

	jb_open(jb, '{');
	jb_kstr(jb, "e", mini ? "24hrMiniTicker" : "24hrTicker");
	jb_kint(jb, "E", now);
	jb_kstr(jb, "s", s->name);
	if (!mini) {
		jb_kfx(jb, "p", c - o, s->price_dec);
		jb_kfx(jb, "P", fx_div((c - o) * 100, o), 3);
		jb_kfx(jb, "w", m->t_vol ? fx_div(m->t_quote, m->t_vol) : c, s->price_dec);
	}
	jb_kfx(jb, "c", c, s->price_dec);
	if (!mini)
		jb_kfx(jb, "Q", m->last_qty, s->qty_dec);
	jb_kfx(jb, "o", o, s->price_dec);
	jb_kfx(jb, "h", m->t_count ? m->t_high : c, s->price_dec);
	jb_kfx(jb, "l", m->t_count ? m->t_low : c, s->price_dec);
	jb_kfx(jb, "v", m->t_vol, s->qty_dec);
	jb_kfx(jb, "q", m->t_quote, 2);
	if (!mini) {
		jb_kint(jb, "O", now - 86400000LL);
		jb_kint(jb, "C", now);
		jb_kint(jb, "F", m->t_count ? m->t_first_id : 0);
		jb_kint(jb, "L", m->t_count ? m->trade_id - 1 : 0);
		jb_kint(jb, "n", m->t_count);
	}
	jb_close(jb, '}');
}

static void
ticker_publish(int64_t now)
{
	int sym, g;

	for (sym = 0; sym < ex_nsym; sym++) {
		if (ws_stream_has_subs(sid_of(sym, MST_TICKER))) {
			ticker_json(begin(), sym, false, now);
			deliver(sid_of(sym, MST_TICKER), MST_TICKER);
		}
		if (ws_stream_has_subs(sid_of(sym, MST_MINITICKER))) {
			ticker_json(begin(), sym, true, now);
			deliver(sid_of(sym, MST_MINITICKER), MST_MINITICKER);
		}
	}
	for (g = MG_MINITICKER_ARR; g <= MG_TICKER_ARR; g++) {
		struct jbuf *jb;

		if (!ws_stream_has_subs(gsid(g)))
			continue;
		jb = begin();
		jb_open(jb, '[');
		for (sym = 0; sym < ex_nsym; sym++)
			ticker_json(jb, sym, g == MG_MINITICKER_ARR, now);
		jb_close(jb, ']');
		deliver(gsid(g), g == MG_TICKER_ARR ? MST_TICKER : MST_MINITICKER);
	}
}

static void
force_publish(int64_t now)
{
	int sym;

	for (sym = 0; sym < ex_nsym; sym++) {
		const struct ex_symbol *s = &ex_symbols[sym];
		struct mkt *m = &mk[sym];
		struct jbuf *jb;
		int pass;

		if (!m->fo_pending)
			continue;
		m->fo_pending = false;
		for (pass = 0; pass < 2; pass++) {
			int sid = pass ? gsid(MG_FORCEORDER_ARR) : sid_of(sym, MST_FORCEORDER);

			if (!ws_stream_has_subs(sid))
				continue;
			jb = begin();
			jb_open(jb, '{');
			jb_kstr(jb, "e", "forceOrder");
			jb_kint(jb, "E", now);
			jb_kopen(jb, "o", '{');
			jb_kstr(jb, "s", s->name);
			jb_kstr(jb, "S", name_side(m->fo_side));
			jb_kstr(jb, "o", "LIMIT");
			jb_kstr(jb, "f", "IOC");
			jb_kfx(jb, "q", m->fo_qty, s->qty_dec);
			jb_kfx(jb, "p", m->fo_px, s->price_dec);
			jb_kfx(jb, "ap", m->fo_px, s->price_dec);
			jb_kstr(jb, "X", "FILLED");
			jb_kfx(jb, "l", m->fo_qty, s->qty_dec);
			jb_kfx(jb, "z", m->fo_qty, s->qty_dec);
			jb_kint(jb, "T", now);
			jb_close(jb, '}');
			jb_close(jb, '}');
			deliver(sid, MST_FORCEORDER);
		}
	}
}

/* Once per tick: remember the update id, and forget the changes older
 * than --book-history (those before the id of nticks ticks ago). */
static void
bhist_tick(struct mkt *m)
{
	struct bhist *h = m->bh;
	int64_t oldest;

	h->tick_pos = (h->tick_pos + 1) % h->nticks;
	oldest = h->tick_uid[h->tick_pos]; /* the slot about to be overwritten */
	h->tick_uid[h->tick_pos] = m->uid;
	if (!oldest)
		return;
	while (h->n && m->uid - (int64_t)h->n + 1 <= oldest) {
		h->head = (h->head + 1) % h->cap;
		h->n--;
	}
}

/* /sim/book: the book's top limit levels per side as they were right
 * after update id u, rebuilt by undoing the kept changes newer than u.
 * Returns 0, or -1 when u is outside the kept range (message in *why). */
int
market_json_book_at(struct jbuf *jb, int sym, int64_t u, int limit, const char **why)
{
	struct mkt *m = &mk[sym];
	struct bhist *h = m->bh;
	static struct lvl bid[BOOK_MAX], ask[BOOK_MAX];
	int nbid = m->nbid, nask = m->nask;
	int64_t lo = h ? m->uid - (int64_t)h->n : m->uid, x;

	if (u < 0)
		u = m->uid;
	if (u > m->uid) {
		*why = "update id not reached yet";
		return -1;
	}
	if (u < lo) {
		*why = h ? "update id older than the kept book history (--book-history)" :
		    "no book history: no diff depth stream of this symbol was subscribed, "
		    "or --book-history 0";
		return -1;
	}
	memcpy(bid, m->bid, sizeof(*bid) * (size_t)nbid);
	memcpy(ask, m->ask, sizeof(*ask) * (size_t)nask);
	for (x = m->uid; x > u; x--) {
		const struct bchange *c = &h->v[(h->head + (size_t)(x - lo - 1)) % h->cap];

		if (c->px < 0)
			lv_set(bid, &nbid, -c->px, c->oldq, true);
		else
			lv_set(ask, &nask, c->px, c->oldq, false);
	}
	jb_open(jb, '{');
	jb_kstr(jb, "symbol", ex_symbols[sym].name);
	jb_kint(jb, "u", u);
	jb_kint(jb, "lastUpdateId", m->uid);
	jb_kint(jb, "oldestUpdateId", lo);
	jb_kopen(jb, "bids", '[');
	json_levels(jb, bid, nbid < limit ? nbid : limit, sym);
	jb_close(jb, ']');
	jb_kopen(jb, "asks", '[');
	json_levels(jb, ask, nask < limit ? nask : limit, sym);
	jb_close(jb, ']');
	jb_close(jb, '}');
	return 0;
}

/* Arm the depth_gap fault: the next diff of every speed of sym (-1: every
 * symbol) is dropped. Returns the symbols armed. */
int
market_depth_gap(int sym)
{
	int s, n = 0;

	for (s = sym < 0 ? 0 : sym; s < (sym < 0 ? ex_nsym : sym + 1); s++, n++)
		mk[s].gap_pending = (1u << NSPEED) - 1;
	return n;
}

/* "depthGaps" of /sim/stats: per symbol with any, the diffs dropped per
 * stream name suffix. */
void
market_gaps_json(struct jbuf *jb)
{
	static const char *const sp[NSPEED] = { "depth@100ms", "depth", "depth@500ms" };
	int s, k;

	jb_kopen(jb, "depthGaps", '{');
	for (s = 0; s < ex_nsym; s++) {
		if (!mk[s].gaps[0] && !mk[s].gaps[1] && !mk[s].gaps[2])
			continue;
		jb_kopen(jb, ex_symbols[s].name, '{');
		for (k = 0; k < NSPEED; k++)
			jb_kint(jb, sp[k], (int64_t)mk[s].gaps[k]);
		jb_close(jb, '}');
	}
	jb_close(jb, '}');
}

static void
kline_row(struct jbuf *jb, int sym, const struct kline *k)
{
	const struct ex_symbol *s = &ex_symbols[sym];

	jb_open(jb, '[');
	jb_int(jb, k->t);
	jb_fx(jb, k->o, s->price_dec);
	jb_fx(jb, k->h, s->price_dec);
	jb_fx(jb, k->l, s->price_dec);
	jb_fx(jb, k->c, s->price_dec);
	jb_fx(jb, k->v, s->qty_dec);
	jb_int(jb, k->T);
	jb_fx(jb, k->q, 4);
	jb_int(jb, k->n);
	jb_fx(jb, k->V, s->qty_dec);
	jb_fx(jb, k->Q, 4);
	jb_str(jb, "0");
	jb_close(jb, ']');
}

/* GET /fapi/v1/klines rows [t,"o","h","l","c","v",T,"q",n,"V","Q","0"] of
 * sym's interval iv, oldest first, from the kept closed candles and the
 * open one: open time in [start, end] (-1: unbounded); with a start, the
 * first limit from it, else the last limit up to end. */
void
market_json_klines(struct jbuf *jb, int sym, int iv, int64_t start, int64_t end, int limit)
{
	struct mkt *m = &mk[sym];
	const struct khist *h = &m->kh[iv];
	int total, first, last, i, n;

	kline_roll(sym, ex_now_ms());
	total = h->n + 1; /* index h->n is the open candle */
#define KAT(j) ((j) < h->n ? &h->v[(h->head + (j)) % h->cap] : &m->k[iv])
	for (first = 0; first < total && start >= 0 && KAT(first)->t < start; first++)
		;
	for (last = total - 1; last >= first && end >= 0 && KAT(last)->t > end; last--)
		;
	n = last - first + 1;
	if (n > limit) {
		if (start >= 0)
			last = first + limit - 1;
		else
			first = last - limit + 1;
	}
	jb_open(jb, '[');
	for (i = first; i <= last; i++)
		kline_row(jb, sym, KAT(i));
#undef KAT
	jb_close(jb, ']');
}

/* Whether a period boundary passes at tick k, so periodic streams depend
 * on the tick index alone: @250ms alternates 200 and 300 ms, 250 on average. */
static bool
tick_due(int64_t k, int64_t period_ms)
{
	return k == 0 || k * EX_TICK_MS / period_ms != (k - 1) * EX_TICK_MS / period_ms;
}

/* One market tick. Its content is a function of the seed, the tick index
 * and the activity steps run before it; wall time only stamps E/T and
 * closes klines, as on the exchange. Unsubscribed streams still evolve, so
 * clients connecting or not never shift the sequence. */
void
market_tick(void)
{
	int64_t now = ex_now_ms(), k = tick_no++;
	bool t250 = tick_due(k, 250), t500 = tick_due(k, 500), t1s = tick_due(k, 1000);
	bool t2s = tick_due(k, 2000), t3s = tick_due(k, 3000);
	int sym;

	for (sym = 0; sym < ex_nsym; sym++) {
		struct mkt *m = &mk[sym];

		kline_roll(sym, now);
		if (sym >= EX_NSYM && rng_below(&mrng, 2))
			engine_drift(sym, &mrng);
		if (!m->bh && ex.cfg.book_history_s > 0 &&
		    (ws_stream_has_subs(sid_of(sym, MST_DEPTH)) ||
		    ws_stream_has_subs(sid_of(sym, MST_DEPTH_100)) ||
		    ws_stream_has_subs(sid_of(sym, MST_DEPTH_500)))) {
			m->bh = calloc(1, sizeof(*m->bh));
			if (!m->bh)
				abort();
			m->bh->nticks = ex.cfg.book_history_s * 1000 / EX_TICK_MS + 1;
			m->bh->tick_uid = calloc((size_t)m->bh->nticks, sizeof(int64_t));
			if (!m->bh->tick_uid)
				abort();
			m->bh->tick_uid[0] = m->uid;
		}
		if (m->bh)
			bhist_tick(m);
		book_evolve(sym);
		/* anonymous takers hit the top of the book now and then */
		if (rng_below(&mrng, 3) == 0 && m->nbid && m->nask) {
			bool sell = rng_below(&mrng, 2);
			fx_t px = sell ? m->bid[0].px : m->ask[0].px;
			fx_t lq = sell ? m->bid[0].qty : m->ask[0].qty;
			fx_t q = rand_qty(sym) / 4;

			q = fx_round(q, ex_symbols[sym].step);
			if (q <= 0)
				q = ex_symbols[sym].step;
			if (q > lq)
				q = lq;
			set_level(m, px, lq - q, sell);
			market_public_trade(sym, px, q, sell, now);
		}
		book_ticker(sym, now);
		depth_publish(sym, 0, now);
		if (t250)
			depth_publish(sym, 1, now);
		if (t500)
			depth_publish(sym, 2, now);
		if (t250)
			kline_publish(sym, now);
	}
	if (t1s || t3s)
		mark_publish(t1s, t3s, now);
	if (t1s)
		force_publish(now);
	if (t2s)
		ticker_publish(now);
}

void
market_init(void)
{
	int sym, k;

	mrng = ex.cfg.seed ^ 0x6a09e667f3bcc909ULL;
	zrng = ex.cfg.seed ^ 0x510e527fade682d1ULL;
	kline_base_ms = ex_now_ms();
	mk = calloc((size_t)ex_nsym, sizeof(*mk));
	if (!mk)
		abort();
	for (sym = 0; sym < ex_nsym; sym++) {
		struct mkt *m = &mk[sym];

		m->uid = 1000000 + (int64_t)sym * 1000;
		m->trade_id = 5000000000LL + (int64_t)sym * 100000000LL;
		m->agg_id = 900000000LL + (int64_t)sym * 10000000LL;
		m->last_px = m->t_open = engine_price(sym);
		book_evolve(sym);
		for (k = 0; k < NSPEED; k++) {
			m->last_u[k] = m->uid;
			m->dirty[k].n = 0;
		}
	}
}
