/*
 * binance_market.c: Binance USDⓈ-M futures public market data, JSON →
 * normalized events (FACTS §3), the REST bodies the market worker fetches
 * (/fapi/v1/klines, /fapi/v1/depth, /fapi/v1/exchangeInfo), and the pure
 * helpers it needs: kline intervals and candle times, stream names and
 * routes, request weights.  No I/O and no state between calls (but the
 * tokenizer's arrays, reused).
 *
 * Read with jtok (jtok.h), our tokenizer, which accepts exactly what
 * jansson's json_loadb does (t/fuzz/fuzz_jtok.c proves it on every input)
 * without building a tree: integers exact int64, keys case-sensitive ("p"
 * is the mark price, "P" the settle price), invalid UTF-8 and NUL in
 * strings rejected, no key twice; strings are read in place from the
 * frame (decoded apart only when they hold escapes).  Decimals are copied
 * through ev_decimal(), never rounded.  Each event is built alone from a table of
 * the fields it reads, given its id and checked with ev_validate(); one
 * that fails is dropped and counted, its siblings (the other elements of
 * !markPrice@arr, the other rows of a klines page) are not.
 *
 * Required are the fields the documentation shows in every example.
 * Optional (absent, null or "": the default): markPriceUpdate ap ("",
 * since 2026-03-16 only), r ("", empty for delivery contracts), T (0);
 * aggTrade nq ("", since 2025-12-31 only); trade X (""); kline f and L
 * (-1).  A trade whose price is zero is a "spent" trade id (FACTS §3, MX):
 * dropped and counted apart (bm_drops.zero_price), not as an error.
 */
#include "autoconf.h"

#include <ctype.h>
#include <inttypes.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "exchanges/binance_market.h"
#include "jtok.h"

#define BM_EXCHANGE	"binance-futures"
/* Elements of an array payload (!markPrice@arr: one per symbol, hundreds). */
#define BM_ARRAY_MAX	10000
/* Levels per side of one depth diff (a busy 100 ms diff has a few hundred). */
#define BM_DIFF_LEVELS_MAX	5000
/* Rows of one /fapi/v1/klines page: Binance's largest limit (1500). */
#define BM_KLINES_MAX	1500
/* Symbols of /fapi/v1/exchangeInfo (Binance lists under a thousand). */
#define BM_SYMBOLS_MAX	10000
/*
 * Values and keys of one text (jtok's maximum): above every bound here
 * (10000 events of a few dozen each; exchangeInfo's 10000 symbols of about
 * a hundred), far below what a frame (4 MiB) or a body (8 MiB) could hold
 * in the worst case: 48 MiB of tokens at most.
 */
#define BM_TOKENS_MAX	(2u << 20)
/* A tokenizer whose arrays grew past this many tokens gives them back after its parse. */
#define BM_TOKENS_KEEP	16384

#define MS_DAY		86400000LL

const char *const bm_intervals[15] = {
	"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"
};
/* Length of each fixed interval (ms); 0 for the calendar month. */
static const int64_t bm_interval_ms[15] = {
	60000LL, 180000LL, 300000LL, 900000LL, 1800000LL, 3600000LL, 7200000LL, 14400000LL,
	21600000LL, 28800000LL, 43200000LL, MS_DAY, 3 * MS_DAY, 7 * MS_DAY, 0
};
#define IV_WEEK		13
#define IV_MONTH	14

static char bm_errbuf[256];	/* what *err points to */

/* ---------------------------------------------------------- pure helpers */

/* bm_interval_index of the len bytes at s (not NUL-terminated). */
static int
interval_index(const char *s, size_t len)
{
	for (int i = 0; i < 15; i++)
		if (strlen(bm_intervals[i]) == len && memcmp(s, bm_intervals[i], len) == 0)
			return i;
	return -1;
}

int
bm_interval_index(const char *s)
{
	if (s == NULL)
		return -1;
	return interval_index(s, strlen(s));
}

/* a / b rounded down (b > 0), for times before 1970 too. */
static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Days since 1970-01-01 → proleptic Gregorian year and month (1-12): H. Hinnant's civil_from_days. */
static void
civil_from_days(int64_t z, int64_t *y, int *m)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The first day (days since 1970-01-01) of month m (1-12) of year y. */
static int64_t
days_from_civil(int64_t y, int m)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* a * b + c, saturated at the int64 bounds. */
static int64_t
sat_madd(int64_t a, int64_t b, int64_t c)
{
	int64_t r;

	if (__builtin_mul_overflow(a, b, &r) || __builtin_add_overflow(r, c, &r))
		return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
	return r;
}

/*
 * Fixed intervals are a grid from the epoch, as Binance's are (3d too:
 * 1970-01-01, 01-04, ...; tools/exsim/market.c makes the same), except the
 * week, which starts on Monday (1970-01-05 was one, 4 days in).  Months are
 * calendar months, UTC.  Times whose candle would open or close outside the
 * int64 range are clamped to it.
 */
int64_t
bm_candle_open(int iv, int64_t t_ms)
{
	int64_t y, days;
	int m;

	if (iv < 0 || iv >= 15)
		return -1;
	if (iv == IV_MONTH) {
		civil_from_days(floor_div(t_ms, MS_DAY), &y, &m);
		days = days_from_civil(y, m);
		return sat_madd(days, MS_DAY, 0);
	}
	if (iv == IV_WEEK) {
		int64_t mon = 4 * MS_DAY;

		if (t_ms < INT64_MIN + mon)
			return INT64_MIN;
		return sat_madd(floor_div(t_ms - mon, bm_interval_ms[iv]), bm_interval_ms[iv], mon);
	}
	return sat_madd(floor_div(t_ms, bm_interval_ms[iv]), bm_interval_ms[iv], 0);
}

int64_t
bm_candle_next(int iv, int64_t open_ms)
{
	int64_t y, r;
	int m;

	if (iv < 0 || iv >= 15)
		return -1;
	if (iv == IV_MONTH) {
		civil_from_days(floor_div(open_ms, MS_DAY), &y, &m);
		if (m == 12) {
			y++;
			m = 1;
		} else
			m++;
		return sat_madd(days_from_civil(y, m), MS_DAY, 0);
	}
	if (__builtin_add_overflow(open_ms, bm_interval_ms[iv], &r))
		return INT64_MAX;
	return r;
}

enum bm_route
bm_kind_route(enum bm_kind k)
{
	switch (k) {
	case BM_DEPTH:
	case BM_PARTIAL_DEPTH:
	case BM_BOOK_TICKER:
	case BM_TRADE:
		return BM_ROUTE_PUBLIC;
	default:
		return BM_ROUTE_MARKET;
	}
}

int
bm_stream_name(enum bm_kind kind, const char *symbol, const char *arg, int levels, char *out,
    size_t outlen)
{
	static const char *const suffix[BM_KIND_MAX] = {
		[BM_KLINE] = "kline_", [BM_MARK_PRICE] = "markPrice", [BM_TICKER] = "ticker",
		[BM_MINI_TICKER] = "miniTicker", [BM_TRADE] = "trade", [BM_AGG_TRADE] = "aggTrade",
		[BM_DEPTH] = "depth", [BM_PARTIAL_DEPTH] = "depth", [BM_BOOK_TICKER] = "bookTicker",
		[BM_FORCE_ORDER] = "forceOrder",
	};
	char sym[EV_SYM], tail[32];
	size_t len;
	int n;

	if ((unsigned)kind >= BM_KIND_MAX || symbol == NULL || out == NULL ||
	    (len = strlen(symbol)) >= sizeof(sym) || !ev_symbol_ok(symbol, len))
		return -1;
	if (arg == NULL)
		arg = "";
	for (size_t i = 0; i <= len; i++)
		sym[i] = (char)tolower((unsigned char)symbol[i]);
	tail[0] = '\0';
	switch (kind) {
	case BM_KLINE:
		if (bm_interval_index(arg) == -1)
			return -1;
		snprintf(tail, sizeof(tail), "%s", arg);
		break;
	case BM_MARK_PRICE:
		if (*arg != '\0' && strcmp(arg, "1s") != 0)
			return -1;
		if (*arg != '\0')
			snprintf(tail, sizeof(tail), "@%s", arg);
		break;
	case BM_PARTIAL_DEPTH:
		if (levels != 5 && levels != 10 && levels != 20)
			return -1;
		/* FALLTHROUGH */
	case BM_DEPTH:
		if (*arg != '\0' && strcmp(arg, "100ms") != 0 && strcmp(arg, "500ms") != 0)
			return -1;
		snprintf(tail, sizeof(tail), "%.0d%s%s", kind == BM_PARTIAL_DEPTH ? levels : 0,
		    *arg != '\0' ? "@" : "", arg);
		break;
	default:
		if (*arg != '\0')
			return -1;
		break;
	}
	n = snprintf(out, outlen, "%s@%s%s", sym, suffix[kind], tail);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return n;
}

int
bm_klines_weight(int limit)
{
	/* Binance "Kline/Candlestick Data": limit 1 to 1500 (default 500). */
	if (limit < 1 || limit > BM_KLINES_MAX)
		return -1;
	if (limit < 100)
		return 1;
	if (limit < 500)
		return 2;
	if (limit <= 1000)
		return 5;
	return 10;
}

int
bm_depth_weight(int limit)
{
	/* Binance "Order Book": valid limits 5, 10, 20, 50, 100, 500, 1000. */
	switch (limit) {
	case 5:
	case 10:
	case 20:
	case 50:
		return 2;
	case 100:
		return 5;
	case 500:
		return 10;
	case 1000:
		return 20;
	default:
		return -1;
	}
}

/* ------------------------------------------------------------ JSON reading */

/* Where a field is, for drop reasons: "kline: k.o: not a decimal number". */
struct jctx {
	const struct jtok *jt;		/* the text's tokens */
	const char	*what;		/* event type, or "GET /fapi/..." */
	char		 path[48];	/* "k.", "[3].", "b[2]." */
	char		 why[200];	/* why the event being built fails */
};

static int
jfail(struct jctx *c, const char *key, const char *why)
{
	size_t n = strlen(c->path);

	if (*key == '\0' && n > 0 && c->path[n - 1] == '.')
		n--;
	if (n == 0 && *key == '\0')
		snprintf(c->why, sizeof(c->why), "%s: %s", c->what, why);
	else
		snprintf(c->why, sizeof(c->why), "%s: %.*s%s: %s", c->what, (int)n, c->path, key,
		    why);
	return -1;
}

/* Count one dropped event, keeping the first reason. */
static void
drop(struct bf_drops *d, const char *why)
{
	if (d == NULL)
		return;
	if (d->events++ == 0)
		snprintf(d->why, sizeof(d->why), "%s", why);
}

/* A member (token index), JSON null taken as absent: -1. */
static int
jget(const struct jtok *jt, int obj, const char *key)
{
	int v = jtok_get(jt, obj, key);

	return v == -1 || jtok_type(jt, v) == JT_NULL ? -1 : v;
}

static bool
jis(const struct jtok *jt, int v, enum jtok_type t)
{
	return v >= 0 && jtok_type(jt, v) == t;
}

/*
 * The tokenizer of the outermost parse in progress, kept from frame to
 * frame; a parse inside one (from an emit callback) gets its own.  One
 * that grew past BM_TOKENS_KEEP (an exchangeInfo body) gives its arrays
 * back at jt_give.
 */
static struct jtok bm_jt;
static int bm_jt_busy;

static struct jtok *
jt_take(struct jtok *local)
{
	if (bm_jt_busy++ == 0) {
		if (bm_jt.max == 0)
			jtok_init(&bm_jt, BM_TOKENS_MAX);
		return &bm_jt;
	}
	jtok_init(local, BM_TOKENS_MAX);
	return local;
}

static void
jt_give(struct jtok *jt)
{
	bm_jt_busy--;
	if (jt != &bm_jt || jt->cap > BM_TOKENS_KEEP)
		jtok_free(jt);
}

/*
 * Exactly buf[0..len): one JSON object or array (jtok: what jansson's
 * json_loadb takes).  No key twice in an object (which one counts would be
 * the parser's choice), no NUL byte.  0 with the tokens in jt, or -1 with
 * *why.
 */
static int
jparse(struct jtok *jt, const char *buf, size_t len, const char **why)
{
	static char jsonerr[200];
	const char *nul;

	if (buf == NULL) {
		*why = "no body";
		return -1;
	}
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		snprintf(jsonerr, sizeof(jsonerr), "not JSON (a NUL byte at byte %td)", nul - buf);
		*why = jsonerr;
		return -1;
	}
	if (jtok_parse(jt, buf, len) == -1) {
		snprintf(jsonerr, sizeof(jsonerr), "not JSON (%s at byte %zu)", jt->err, jt->errpos);
		*why = jsonerr;
		return -1;
	}
	return 0;
}

enum jkind {
	J_SYM,		/* a symbol: must fit whole and be one (ev_symbol_ok) */
	J_WORD,		/* enum word: cut on a character boundary */
	J_IV,		/* a kline interval (bm_intervals) */
	J_DEC,		/* decimal string, canonical form; optional: "" when absent or "" */
	J_I64,		/* integer */
	J_BOOL		/* boolean */
};

#define REQ	1
#define OPT	0

struct jfield {
	const char	*key;
	enum jkind	 kind;
	int		 req;
	size_t		 off;
	size_t		 size;
	int64_t		 dflt;		/* J_I64 when absent */
};

#define JF(type, key, kind, req, member, dflt) \
	{ key, kind, req, offsetof(type, member), sizeof(((type *)0)->member), dflt }
#define NFIELDS(a)	(sizeof(a) / sizeof((a)[0]))

static int
jvalue(struct jctx *c, int v, const struct jfield *f, char *dst)
{
	const struct jtok *jt = c->jt;
	const char *s;
	size_t len;

	switch (f->kind) {
	case J_SYM:
	case J_WORD:
	case J_IV:
	case J_DEC:
		if ((s = jtok_str(jt, v, &len)) == NULL)
			return jfail(c, f->key, "expected a string");
		if (f->kind == J_DEC) {
			if (ev_decimal(dst, f->size, s, len) == -1)
				return jfail(c, f->key, "not a decimal number (or too long)");
		} else if (f->kind == J_SYM) {
			if (len == 0)
				return jfail(c, f->key, "empty");
			if (len >= f->size)
				return jfail(c, f->key, "string too long");
			if (!ev_symbol_ok(s, len))
				return jfail(c, f->key, "not a symbol");
			memcpy(dst, s, len);
			dst[len] = '\0';
		} else if (f->kind == J_IV) {
			if (interval_index(s, len) == -1)
				return jfail(c, f->key, "not a kline interval");
			memcpy(dst, s, len);
			dst[len] = '\0';
		} else
			ev_copy_text(dst, f->size, s, len);
		return 0;
	case J_I64:
		if (jtok_int(jt, v, (int64_t *)(void *)dst) == -1)
			return jfail(c, f->key, jis(jt, v, JT_REAL) ?
			    "expected an integer, got a fraction" : "expected an integer");
		return 0;
	case J_BOOL:
		if (jtok_bool(jt, v, (bool *)(void *)dst) == -1)
			return jfail(c, f->key, "expected a boolean");
		return 0;
	}
	return jfail(c, f->key, "bad field kind");
}

static void
jdefault(const struct jfield *f, char *dst)
{
	if (f->kind == J_I64)
		*(int64_t *)(void *)dst = f->dflt;
	else if (f->kind == J_BOOL)
		*(bool *)(void *)dst = false;
	else
		dst[0] = '\0';
}

/*
 * The fields of one event.  A required field missing or unusable fails the
 * event; an optional one absent (or a decimal given as "") takes its
 * default, one present but unusable takes it too and is counted.
 */
static int
jfields(struct jctx *c, struct bf_drops *drops, int obj, const struct jfield *f, size_t n,
    void *base)
{
	for (size_t i = 0; i < n; i++) {
		char *dst = (char *)base + f[i].off;
		int v = jget(c->jt, obj, f[i].key);

		if (v != -1 && !f[i].req && f[i].kind == J_DEC && jtok_str_eq(c->jt, v, "", 0))
			v = -1;
		if (v == -1) {
			if (f[i].req)
				return jfail(c, f[i].key, "missing");
			jdefault(&f[i], dst);
			continue;
		}
		if (jvalue(c, v, &f[i], dst) == -1) {
			if (f[i].req)
				return -1;
			jdefault(&f[i], dst);
			if (drops != NULL && drops->fields++ == 0 && drops->events == 0)
				snprintf(drops->why, sizeof(drops->why), "%s", c->why);
		}
	}
	return 0;
}

/* ------------------------------------------------------------ field tables */

/* kline k{} → ev_kline (top-level E is the event time) */
static const struct jfield f_kline[] = {
	JF(struct ev_kline, "t", J_I64, REQ, open_time, 0),
	JF(struct ev_kline, "T", J_I64, REQ, close_time, 0),
	JF(struct ev_kline, "s", J_SYM, REQ, symbol, 0),
	JF(struct ev_kline, "i", J_IV, REQ, interval, 0),
	JF(struct ev_kline, "f", J_I64, OPT, first_trade_id, -1),
	JF(struct ev_kline, "L", J_I64, OPT, last_trade_id, -1),
	JF(struct ev_kline, "o", J_DEC, REQ, open, 0),
	JF(struct ev_kline, "c", J_DEC, REQ, close, 0),
	JF(struct ev_kline, "h", J_DEC, REQ, high, 0),
	JF(struct ev_kline, "l", J_DEC, REQ, low, 0),
	JF(struct ev_kline, "v", J_DEC, REQ, volume, 0),
	JF(struct ev_kline, "n", J_I64, REQ, trades, 0),
	JF(struct ev_kline, "x", J_BOOL, REQ, closed, 0),
	JF(struct ev_kline, "q", J_DEC, REQ, quote_volume, 0),
	JF(struct ev_kline, "V", J_DEC, REQ, taker_buy_volume, 0),
	JF(struct ev_kline, "Q", J_DEC, REQ, taker_buy_quote_volume, 0),
};

/* markPriceUpdate → ev_mark_price */
static const struct jfield f_mark[] = {
	JF(struct ev_mark_price, "s", J_SYM, REQ, symbol, 0),
	JF(struct ev_mark_price, "p", J_DEC, REQ, mark_price, 0),
	JF(struct ev_mark_price, "ap", J_DEC, OPT, mark_price_avg, 0),
	JF(struct ev_mark_price, "i", J_DEC, REQ, index_price, 0),
	JF(struct ev_mark_price, "P", J_DEC, REQ, settle_price, 0),
	JF(struct ev_mark_price, "r", J_DEC, OPT, funding_rate, 0),
	JF(struct ev_mark_price, "T", J_I64, OPT, next_funding_time, 0),
};

/* 24hrTicker → ev_ticker */
static const struct jfield f_ticker[] = {
	JF(struct ev_ticker, "s", J_SYM, REQ, symbol, 0),
	JF(struct ev_ticker, "p", J_DEC, REQ, price_change, 0),
	JF(struct ev_ticker, "P", J_DEC, REQ, price_change_pct, 0),
	JF(struct ev_ticker, "w", J_DEC, REQ, weighted_avg_price, 0),
	JF(struct ev_ticker, "c", J_DEC, REQ, last_price, 0),
	JF(struct ev_ticker, "Q", J_DEC, REQ, last_qty, 0),
	JF(struct ev_ticker, "o", J_DEC, REQ, open, 0),
	JF(struct ev_ticker, "h", J_DEC, REQ, high, 0),
	JF(struct ev_ticker, "l", J_DEC, REQ, low, 0),
	JF(struct ev_ticker, "v", J_DEC, REQ, volume, 0),
	JF(struct ev_ticker, "q", J_DEC, REQ, quote_volume, 0),
	JF(struct ev_ticker, "O", J_I64, REQ, open_time, 0),
	JF(struct ev_ticker, "C", J_I64, REQ, close_time, 0),
	JF(struct ev_ticker, "F", J_I64, REQ, first_trade_id, 0),
	JF(struct ev_ticker, "L", J_I64, REQ, last_trade_id, 0),
	JF(struct ev_ticker, "n", J_I64, REQ, trades, 0),
};

/* 24hrMiniTicker → ev_ticker with EVF_MINI */
static const struct jfield f_mini[] = {
	JF(struct ev_ticker, "s", J_SYM, REQ, symbol, 0),
	JF(struct ev_ticker, "c", J_DEC, REQ, last_price, 0),
	JF(struct ev_ticker, "o", J_DEC, REQ, open, 0),
	JF(struct ev_ticker, "h", J_DEC, REQ, high, 0),
	JF(struct ev_ticker, "l", J_DEC, REQ, low, 0),
	JF(struct ev_ticker, "v", J_DEC, REQ, volume, 0),
	JF(struct ev_ticker, "q", J_DEC, REQ, quote_volume, 0),
};

/* trade → ev_trade (st: meaning unknown, FACTS §3, not kept) */
static const struct jfield f_trade[] = {
	JF(struct ev_trade, "s", J_SYM, REQ, symbol, 0),
	JF(struct ev_trade, "t", J_I64, REQ, trade_id, 0),
	JF(struct ev_trade, "p", J_DEC, REQ, price, 0),
	JF(struct ev_trade, "q", J_DEC, REQ, qty, 0),
	JF(struct ev_trade, "X", J_WORD, OPT, order_type, 0),
	JF(struct ev_trade, "m", J_BOOL, REQ, buyer_maker, 0),
	JF(struct ev_trade, "T", J_I64, REQ, time, 0),
};

/* aggTrade → ev_trade with EVF_AGG */
static const struct jfield f_agg[] = {
	JF(struct ev_trade, "s", J_SYM, REQ, symbol, 0),
	JF(struct ev_trade, "a", J_I64, REQ, trade_id, 0),
	JF(struct ev_trade, "p", J_DEC, REQ, price, 0),
	JF(struct ev_trade, "q", J_DEC, REQ, qty, 0),
	JF(struct ev_trade, "nq", J_DEC, OPT, normal_qty, 0),
	JF(struct ev_trade, "f", J_I64, REQ, first_trade_id, 0),
	JF(struct ev_trade, "l", J_I64, REQ, last_trade_id, 0),
	JF(struct ev_trade, "T", J_I64, REQ, time, 0),
	JF(struct ev_trade, "m", J_BOOL, REQ, buyer_maker, 0),
};

/* bookTicker → ev_book_ticker */
static const struct jfield f_bookticker[] = {
	JF(struct ev_book_ticker, "s", J_SYM, REQ, symbol, 0),
	JF(struct ev_book_ticker, "u", J_I64, REQ, update_id, 0),
	JF(struct ev_book_ticker, "b", J_DEC, REQ, bid_price, 0),
	JF(struct ev_book_ticker, "B", J_DEC, REQ, bid_qty, 0),
	JF(struct ev_book_ticker, "a", J_DEC, REQ, ask_price, 0),
	JF(struct ev_book_ticker, "A", J_DEC, REQ, ask_qty, 0),
	JF(struct ev_book_ticker, "T", J_I64, REQ, time, 0),
};

/* forceOrder o{} → ev_liquidation */
static const struct jfield f_liq[] = {
	JF(struct ev_liquidation, "s", J_SYM, REQ, symbol, 0),
	JF(struct ev_liquidation, "S", J_WORD, REQ, side, 0),
	JF(struct ev_liquidation, "o", J_WORD, REQ, order_type, 0),
	JF(struct ev_liquidation, "f", J_WORD, REQ, tif, 0),
	JF(struct ev_liquidation, "q", J_DEC, REQ, orig_qty, 0),
	JF(struct ev_liquidation, "p", J_DEC, REQ, price, 0),
	JF(struct ev_liquidation, "ap", J_DEC, REQ, avg_price, 0),
	JF(struct ev_liquidation, "X", J_WORD, REQ, status, 0),
	JF(struct ev_liquidation, "l", J_DEC, REQ, last_qty, 0),
	JF(struct ev_liquidation, "z", J_DEC, REQ, filled_qty, 0),
	JF(struct ev_liquidation, "T", J_I64, REQ, time, 0),
};

/* depthUpdate → struct bm_depth_diff (levels read apart) */
static const struct jfield f_diff[] = {
	JF(struct bm_depth_diff, "s", J_SYM, REQ, symbol, 0),
	JF(struct bm_depth_diff, "E", J_I64, REQ, event_time, 0),
	JF(struct bm_depth_diff, "T", J_I64, REQ, time, 0),
	JF(struct bm_depth_diff, "U", J_I64, REQ, first_update_id, 0),
	JF(struct bm_depth_diff, "u", J_I64, REQ, final_update_id, 0),
	JF(struct bm_depth_diff, "pu", J_I64, REQ, prev_final_update_id, 0),
};

/* depthUpdate on a partial stream → ev_book (levels read apart; U and pu not kept) */
static const struct jfield f_partial[] = {
	JF(struct ev_book, "s", J_SYM, REQ, symbol, 0),
	JF(struct ev_book, "u", J_I64, REQ, last_update_id, 0),
	JF(struct ev_book, "T", J_I64, REQ, time, 0),
};

/* ------------------------------------------------------------ price levels */

/*
 * Compare two canonical non-negative decimals (ev_decimal's form: no sign,
 * digits, maybe a point and digits) by value.
 */
static int
dec_cmp(const char *a, const char *b)
{
	size_t ia, ib;

	while (*a == '0' && a[1] >= '0' && a[1] <= '9')
		a++;
	while (*b == '0' && b[1] >= '0' && b[1] <= '9')
		b++;
	ia = strcspn(a, ".");
	ib = strcspn(b, ".");
	if (ia != ib)
		return ia < ib ? -1 : 1;
	for (size_t i = 0; i < ia; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	a += ia;
	b += ib;
	if (*a == '.')
		a++;
	if (*b == '.')
		b++;
	while (*a != '\0' || *b != '\0') {
		char da = *a != '\0' ? *a++ : '0', db = *b != '\0' ? *b++ : '0';

		if (da != db)
			return da < db ? -1 : 1;
	}
	return 0;
}

static int
dec_is_zero(const char *s)
{
	return strpbrk(s, "123456789") == NULL;
}

/* Level i of side key fails: "b[3]: price not positive". */
static int
side_fail(struct jctx *c, const char *key, size_t i, const char *why)
{
	char at[32];

	snprintf(at, sizeof(at), "%s[%zu]", key, i);
	return jfail(c, at, why);
}

/*
 * One side of a book, "b"/"a" or "bids"/"asks": an array of at most max
 * [price, quantity] pairs of decimal strings (more members are allowed and
 * ignored).  Prices must be positive; quantities not negative, and positive
 * when zero_ok is false.  Appended to *levels at *n.  0, or -1 with c->why.
 */
static int
read_side(struct jctx *c, int obj, const char *key, size_t max, bool zero_ok,
    struct ev_level *levels, size_t *n)
{
	const struct jtok *jt = c->jt;
	int arr = jget(jt, obj, key), row;
	size_t i, size;

	if (arr == -1)
		return jfail(c, key, "missing");
	if (!jis(jt, arr, JT_ARRAY))
		return jfail(c, key, "expected an array");
	if ((size = jtok_size(jt, arr)) > max) {
		char why[64];

		snprintf(why, sizeof(why), "more than %zu levels", max);
		return jfail(c, key, why);
	}
	for (i = 0, row = jtok_first(jt, arr); i < size; i++, row = jtok_next(jt, row)) {
		struct ev_level *l = &levels[(*n)++];
		const char *ps, *qs;
		size_t pn, qn;

		if (!jis(jt, row, JT_ARRAY) || jtok_size(jt, row) < 2)
			return side_fail(c, key, i, "expected a [price, quantity] array");
		/* [price, quantity, ...]: a string price is one token, the quantity the next. */
		if ((ps = jtok_str(jt, row + 1, &pn)) == NULL ||
		    ev_decimal(l->price, sizeof(l->price), ps, pn) == -1)
			return side_fail(c, key, i, "price: not a decimal string");
		if ((qs = jtok_str(jt, row + 2, &qn)) == NULL ||
		    ev_decimal(l->qty, sizeof(l->qty), qs, qn) == -1)
			return side_fail(c, key, i, "quantity: not a decimal string");
		if (l->price[0] == '-' || dec_is_zero(l->price))
			return side_fail(c, key, i, "price not positive");
		if (l->qty[0] == '-')
			return side_fail(c, key, i, "quantity negative");
		if (!zero_ok && dec_is_zero(l->qty))
			return side_fail(c, key, i, "quantity zero");
	}
	return 0;
}

static int
level_desc(const void *a, const void *b)
{
	return dec_cmp(((const struct ev_level *)b)->price, ((const struct ev_level *)a)->price);
}

static int
level_asc(const void *a, const void *b)
{
	return dec_cmp(((const struct ev_level *)a)->price, ((const struct ev_level *)b)->price);
}

/*
 * Both sides of a book as a book holds them: bids best (highest) first,
 * asks best (lowest) first, whatever order they came in (Binance's partial
 * depth example lists its bids lowest first).  A price twice on one side,
 * or a best bid not below the best ask, fails: 0, or -1 with c->why.
 */
static int
book_order(struct jctx *c, struct ev_level *lv, size_t nbids, size_t nasks, const char *bkey,
    const char *akey)
{
	qsort(lv, nbids, sizeof(*lv), level_desc);
	qsort(lv + nbids, nasks, sizeof(*lv), level_asc);
	for (size_t i = 1; i < nbids; i++)
		if (dec_cmp(lv[i - 1].price, lv[i].price) == 0)
			return jfail(c, bkey, "a price twice");
	for (size_t i = nbids + 1; i < nbids + nasks; i++)
		if (dec_cmp(lv[i - 1].price, lv[i].price) == 0)
			return jfail(c, akey, "a price twice");
	if (nbids > 0 && nasks > 0 && dec_cmp(lv[0].price, lv[nbids].price) >= 0)
		return jfail(c, "", "crossed (best bid not below best ask)");
	return 0;
}

/*
 * The levels array of the last depth diff freed (bm_depth_diff_free),
 * kept for the next diff: a diff comes every 100 ms a book, hundreds a
 * second, and an array of a few dozen levels is above glibc's small
 * sizes, whose malloc consolidated its free lists for each one (5% of the
 * market worker).  A diff's array has room for at least BM_SPARE_LEVELS.
 */
#define BM_SPARE_LEVELS	64
#define BM_SPARE_KEEP	1024	/* levels: a larger array is freed */
static struct ev_level *bm_spare;

/* Room for n levels, zeroed (spare: a depth diff's, from bm_spare when it fits); NULL when out of memory. */
static struct ev_level *
levels_alloc(size_t n, bool spare)
{
	struct ev_level *lv;

	if (n == 0)
		n = 1;
	if (!spare)
		return calloc(n, sizeof(*lv));
	if (bm_spare != NULL && malloc_usable_size(bm_spare) >= n * sizeof(*lv)) {
		lv = bm_spare;
		bm_spare = NULL;
		memset(lv, 0, n * sizeof(*lv));
		return lv;
	}
	return calloc(n > BM_SPARE_LEVELS ? n : BM_SPARE_LEVELS, sizeof(*lv));
}

/* Give back what levels_alloc(…, spare) gave. */
static void
levels_spare(struct ev_level *lv)
{
	if (lv == NULL)
		return;
	if (malloc_usable_size(lv) > BM_SPARE_KEEP * sizeof(*lv))
		free(lv);	/* a diff of thousands of levels: not kept */
	else if (bm_spare == NULL)
		bm_spare = lv;
	else if (malloc_usable_size(lv) > malloc_usable_size(bm_spare)) {
		free(bm_spare);
		bm_spare = lv;
	} else
		free(lv);
}

/*
 * Both sides into one malloc'd array, nbids then nasks (a depth diff's
 * from the spare: levels_alloc).  0, or -1 with c->why.
 */
static int
read_book(struct jctx *c, int obj, const char *bkey, const char *akey, size_t max,
    bool zero_ok, bool spare, struct ev_level **levels, size_t *nbids, size_t *nasks)
{
	int b = jget(c->jt, obj, bkey), a = jget(c->jt, obj, akey);
	size_t nb = jis(c->jt, b, JT_ARRAY) ? jtok_size(c->jt, b) : 0;
	size_t na = jis(c->jt, a, JT_ARRAY) ? jtok_size(c->jt, a) : 0;
	struct ev_level *lv;
	size_t n = 0;

	*levels = NULL;
	*nbids = *nasks = 0;
	/*
	 * A side over max fails in read_side before it writes a level: room
	 * for the other only (the bids are read before the asks' bound fails).
	 */
	if (nb > max)
		nb = 0;
	if (na > max)
		na = 0;
	if ((lv = levels_alloc(nb + na, spare)) == NULL)
		return jfail(c, "", "out of memory");
	if (read_side(c, obj, bkey, max, zero_ok, lv, &n) == -1 ||
	    (*nbids = n, read_side(c, obj, akey, max, zero_ok, lv, &n) == -1)) {
		if (spare)
			levels_spare(lv);
		else
			free(lv);
		*nbids = 0;
		return -1;
	}
	*nasks = n - *nbids;
	*levels = lv;
	return 0;
}

/* ------------------------------------------------------------ stream frames */

struct mctx {
	struct jctx	 j;
	struct bm_drops	*drops;
	int64_t		 recv_us;
	ev_emit_fn	 emit;
	void		*arg;
	int		 nevents;
	int		 partial;	/* depthUpdate is partial: N levels, 0 a diff, -1 unknown (hint) */
	bool		 hint;
};

static struct bf_drops *
dd(struct mctx *m)
{
	return m->drops != NULL ? &m->drops->d : NULL;
}

static void
ev_init(struct event *ev, enum ev_type type, unsigned flags, int64_t recv_us)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = (uint8_t)type;
	ev->flags = (uint8_t)flags;
	ev->recv_us = recv_us;
	_Static_assert(sizeof(BM_EXCHANGE) <= sizeof(ev->exchange), "exchange name too long");
	memcpy(ev->exchange, BM_EXCHANGE, sizeof(BM_EXCHANGE));
}

/* Give the event its id, check it and emit it, or drop it; then release it.  1 if emitted. */
static int
finish(struct event *ev, struct bf_drops *drops, ev_emit_fn emit, void *arg)
{
	const char *err;
	int emitted = 0;

	ev_make_id(ev);
	if (ev_validate(ev, &err) == -1) {
		char why[200];

		snprintf(why, sizeof(why), "%s event: %s", ev_type_name(ev->type), err);
		drop(drops, why);
	} else {
		emit(ev, arg);
		emitted = 1;
	}
	ev_clear(ev);
	return emitted;
}

static int
top_time(struct jctx *c, int obj, int64_t *out)
{
	int v = jget(c->jt, obj, "E");

	if (v == -1)
		return jfail(c, "E", "missing");
	if (jtok_int(c->jt, v, out) == -1)
		return jfail(c, "E", "expected an integer");
	return 0;
}

/* Build one event of a field table from obj (or its member sub); 0 or -1 with c->why. */
static int
simple(struct mctx *m, int obj, const char *sub, const struct jfield *f, size_t n,
    struct event *ev)
{
	int o = obj;

	if (top_time(&m->j, obj, &ev->event_time) == -1)
		return -1;
	if (sub != NULL) {
		if ((o = jget(m->j.jt, obj, sub)) == -1)
			return jfail(&m->j, sub, "missing");
		if (!jis(m->j.jt, o, JT_OBJECT))
			return jfail(&m->j, sub, "expected an object");
		snprintf(m->j.path, sizeof(m->j.path), "%s.", sub);
	}
	return jfields(&m->j, dd(m), o, f, n, &ev->u);
}

static int
mk_kline(struct mctx *m, int obj, struct event *ev)
{
	ev_init(ev, EV_KLINE, 0, m->recv_us);
	if (simple(m, obj, "k", f_kline, NFIELDS(f_kline), ev) == -1)
		return -1;
	if (ev->u.kline.close_time < ev->u.kline.open_time)
		return jfail(&m->j, "T", "before t");
	return 0;
}

static int
mk_mark(struct mctx *m, int obj, struct event *ev)
{
	ev_init(ev, EV_MARK_PRICE, 0, m->recv_us);
	return simple(m, obj, NULL, f_mark, NFIELDS(f_mark), ev);
}

static int
mk_ticker(struct mctx *m, int obj, struct event *ev)
{
	ev_init(ev, EV_TICKER, 0, m->recv_us);
	return simple(m, obj, NULL, f_ticker, NFIELDS(f_ticker), ev);
}

static int
mk_mini(struct mctx *m, int obj, struct event *ev)
{
	ev_init(ev, EV_TICKER, EVF_MINI, m->recv_us);
	if (simple(m, obj, NULL, f_mini, NFIELDS(f_mini), ev) == -1)
		return -1;
	ev->u.ticker.first_trade_id = ev->u.ticker.last_trade_id = ev->u.ticker.trades = -1;
	return 0;
}

/* 1 if the trade is a zero-priced "spent" id (counted, not emitted) */
static int
zero_price(struct mctx *m, struct event *ev)
{
	if (ev->u.trade.price[0] == '-')
		return jfail(&m->j, "p", "negative");
	if (!dec_is_zero(ev->u.trade.price))
		return 0;
	if (m->drops != NULL)
		m->drops->zero_price++;
	return 1;
}

static int
mk_trade(struct mctx *m, int obj, struct event *ev)
{
	ev_init(ev, EV_TRADE, 0, m->recv_us);
	if (simple(m, obj, NULL, f_trade, NFIELDS(f_trade), ev) == -1)
		return -1;
	ev->u.trade.first_trade_id = ev->u.trade.last_trade_id = ev->u.trade.trade_id;
	return zero_price(m, ev);
}

static int
mk_agg(struct mctx *m, int obj, struct event *ev)
{
	ev_init(ev, EV_TRADE, EVF_AGG, m->recv_us);
	if (simple(m, obj, NULL, f_agg, NFIELDS(f_agg), ev) == -1)
		return -1;
	if (ev->u.trade.last_trade_id < ev->u.trade.first_trade_id)
		return jfail(&m->j, "l", "below f");
	return zero_price(m, ev);
}

static int
mk_bookticker(struct mctx *m, int obj, struct event *ev)
{
	ev_init(ev, EV_BOOK_TICKER, 0, m->recv_us);
	return simple(m, obj, NULL, f_bookticker, NFIELDS(f_bookticker), ev);
}

static int
mk_liq(struct mctx *m, int obj, struct event *ev)
{
	ev_init(ev, EV_LIQUIDATION, 0, m->recv_us);
	return simple(m, obj, "o", f_liq, NFIELDS(f_liq), ev);
}

/*
 * A partial depth frame: the top N of both sides, whole.  N is the
 * stream's; for a raw frame (partial_hint) the smallest of Binance's 5, 10
 * and 20 that holds both sides.
 */
static int
mk_partial(struct mctx *m, int obj, struct event *ev)
{
	struct ev_book *bk = &ev->u.book;
	size_t nb, na, depth;

	ev_init(ev, EV_BOOK, EVF_PARTIAL, m->recv_us);
	if (simple(m, obj, NULL, f_partial, NFIELDS(f_partial), ev) == -1)
		return -1;
	if (read_book(&m->j, obj, "b", "a", EV_BOOK_LEVELS_MAX, false, false, &bk->levels, &nb,
	    &na) == -1)
		return -1;
	bk->nbids = (uint16_t)nb;
	bk->nasks = (uint16_t)na;
	if (m->partial > 0)
		depth = (size_t)m->partial;
	else {
		depth = nb > na ? nb : na;
		depth = depth <= 5 ? 5 : depth <= 10 ? 10 : depth <= 20 ? 20 : depth;
	}
	bk->depth = (uint16_t)depth;
	if (nb > depth || na > depth)
		return jfail(&m->j, nb > depth ? "b" : "a", "more levels than the stream's depth");
	return book_order(&m->j, bk->levels, nb, na, "b", "a");
}

static const struct {
	const char	*e;
	int		(*fn)(struct mctx *, int, struct event *);
} bm_types[] = {
	{ "kline", mk_kline },
	{ "markPriceUpdate", mk_mark },
	{ "24hrTicker", mk_ticker },
	{ "24hrMiniTicker", mk_mini },
	{ "trade", mk_trade },
	{ "aggTrade", mk_agg },
	{ "bookTicker", mk_bookticker },
	{ "forceOrder", mk_liq },
	{ "depthUpdate", mk_partial },
};
#define BM_DEPTH_UPDATE	(NFIELDS(bm_types) - 1)

/* The index of a known "e" in bm_types, or -1. */
static int
known_type(const struct jtok *jt, int e)
{
	const char *s;
	size_t n;

	if ((s = jtok_str(jt, e, &n)) == NULL)
		return -1;
	for (size_t i = 0; i < NFIELDS(bm_types); i++)
		if (strncmp(s, bm_types[i].e, n) == 0 && bm_types[i].e[n] == '\0')
			return (int)i;
	return -1;
}

/* One event object (alone, or an element of an array payload); emitted or dropped. */
static void
one_event(struct mctx *m, int obj, int k)
{
	struct event ev;
	int rc;

	m->j.what = bm_types[k].e;
	rc = bm_types[k].fn(m, obj, &ev);
	if (rc == -1) {
		drop(dd(m), m->j.why);
		ev_clear(&ev);
	} else if (rc == 1)
		ev_clear(&ev);	/* a zero-priced trade, counted */
	else
		m->nevents += finish(&ev, dd(m), m->emit, m->arg);
}

static int
perr(const char **err, const char *what, const char *key, const char *why)
{
	snprintf(bm_errbuf, sizeof(bm_errbuf), "%s: %s%s%s", what, key, *key ? ": " : "", why);
	if (err != NULL)
		*err = bm_errbuf;
	return -1;
}

/*
 * Whether a stream name is a partial depth stream: N for <s>@depth<N>[@…]
 * (1 to EV_BOOK_LEVELS_MAX), 0 for anything else.
 */
static int
stream_partial(const char *stream)
{
	const char *p = strchr(stream, '@');
	long n = 0;

	if (p == NULL || strncmp(p + 1, "depth", 5) != 0)
		return 0;
	for (p += 6; *p >= '0' && *p <= '9' && n <= EV_BOOK_LEVELS_MAX; p++)
		n = n * 10 + (*p - '0');
	if (*p != '\0' && *p != '@')
		return 0;
	return n >= 1 && n <= EV_BOOK_LEVELS_MAX ? (int)n : 0;
}

/* A diff frame into f->diff; 0, or -1 with *err. */
static int
depth_diff(struct mctx *m, int obj, struct bm_frame *f, const char **err)
{
	struct bm_depth_diff *d = &f->diff;

	m->j.what = "depthUpdate";
	if (jfields(&m->j, dd(m), obj, f_diff, NFIELDS(f_diff), d) == -1 ||
	    read_book(&m->j, obj, "b", "a", BM_DIFF_LEVELS_MAX, true, true, &d->levels, &d->nbids,
	    &d->nasks) == -1) {
		bm_depth_diff_free(d);
		snprintf(bm_errbuf, sizeof(bm_errbuf), "%s", m->j.why);
		if (err != NULL)
			*err = bm_errbuf;
		return -1;
	}
	if (d->final_update_id < d->first_update_id) {
		bm_depth_diff_free(d);
		return perr(err, "depthUpdate", "u", "below U");
	}
	f->kind = BMF_DEPTH_DIFF;
	return 0;
}

void
bm_depth_diff_free(struct bm_depth_diff *d)
{
	levels_spare(d->levels);
	memset(d, 0, sizeof(*d));
}

/* {"result":…,"id":N}, {"error":{"code","msg"},"id":N|null}, {"code","msg"}. */
static int
answer(const struct jtok *jt, int root, struct bm_frame *f, const char **err)
{
	int id = jget(jt, root, "id"), e = jget(jt, root, "error"), code, msg;
	const char *s;
	int64_t v;
	size_t n;

	f->answer_id = -1;
	if (id != -1) {
		if (jtok_int(jt, id, &v) == -1 || v < 0)
			return perr(err, "answer", "id", "expected an unsigned integer");
		f->answer_id = v;
	}
	if (jtok_get(jt, root, "result") != -1 && e == -1) {
		if (id == -1)
			return perr(err, "answer", "id", "missing");
		f->kind = BMF_ANSWER;
		return 0;
	}
	if (e == -1)
		e = root;	/* {"code":…,"msg":…} */
	else if (!jis(jt, e, JT_OBJECT))
		return perr(err, "answer", "error", "expected an object");
	code = jget(jt, e, "code");
	msg = jget(jt, e, "msg");
	if (code == -1 || jtok_int(jt, code, &v) == -1 || v < -2147483647LL || v > 2147483647LL)
		return perr(err, "error answer", "code", code == -1 ? "missing" :
		    "expected an integer");
	if (msg == -1 || (s = jtok_str(jt, msg, &n)) == NULL)
		return perr(err, "error answer", "msg", msg == -1 ? "missing" : "expected a string");
	f->kind = BMF_ERROR;
	f->error_code = (int)v;
	ev_copy_text(f->why, sizeof(f->why), s, n);
	return 0;
}

/* The frame whose tokens are in jt (parsed), as bm_frame_parse. */
static int
frame_events(const struct jtok *jt, struct mctx *m, struct bm_frame *f, const char **err)
{
	int data = 0, v, elt, k;
	const char *s;
	size_t i, n;

	if (jis(jt, 0, JT_OBJECT) && (v = jtok_get(jt, 0, "stream")) != -1) {
		/* The combined envelope {"stream":"<name>","data":<object or array>}. */
		if ((s = jtok_str(jt, v, &n)) == NULL)
			return perr(err, "envelope", "stream", "expected a string");
		if (n == 0 || n >= sizeof(f->stream))
			return perr(err, "envelope", "stream", n == 0 ? "empty" :
			    "longer than a stream name");
		memcpy(f->stream, s, n);
		f->stream[n] = '\0';
		if ((data = jtok_get(jt, 0, "data")) == -1)
			return perr(err, "envelope", "data", "missing");
		if (!jis(jt, data, JT_OBJECT) && !jis(jt, data, JT_ARRAY))
			return perr(err, "envelope", "data", "expected an object or an array");
	} else if (jis(jt, 0, JT_OBJECT) && jtok_get(jt, 0, "e") == -1 &&
	    (jtok_get(jt, 0, "result") != -1 || jtok_get(jt, 0, "error") != -1 ||
	    jtok_get(jt, 0, "code") != -1 || jtok_get(jt, 0, "id") != -1))
		return answer(jt, 0, f, err);
	else if (!jis(jt, 0, JT_OBJECT) && !jis(jt, 0, JT_ARRAY))
		return perr(err, "frame", "", "not a JSON object or array");
	m->partial = f->stream[0] != '\0' ? stream_partial(f->stream) : m->hint ? -1 : 0;
	f->kind = BMF_EVENTS;
	if (jis(jt, data, JT_ARRAY)) {
		/* !markPrice@arr and the like: each element its own event. */
		if ((n = jtok_size(jt, data)) > BM_ARRAY_MAX)
			return perr(err, "frame", "", "an array of more than 10000 events");
		for (i = 0, elt = jtok_first(jt, data); i < n; i++, elt = jtok_next(jt, elt)) {
			snprintf(m->j.path, sizeof(m->j.path), "[%zu].", i);
			m->j.what = "frame";
			if (!jis(jt, elt, JT_OBJECT)) {
				jfail(&m->j, "", "expected an object");
				drop(dd(m), m->j.why);
				continue;
			}
			if ((k = known_type(jt, jget(jt, elt, "e"))) == -1) {
				jfail(&m->j, "e", jget(jt, elt, "e") == -1 ? "missing" :
				    "not a market event type");
				drop(dd(m), m->j.why);
				continue;
			}
			if ((size_t)k == BM_DEPTH_UPDATE) {
				jfail(&m->j, "e", "depthUpdate in an array");
				drop(dd(m), m->j.why);
				continue;
			}
			one_event(m, elt, k);
		}
		f->nevents = m->nevents;
		return 0;
	}
	if ((v = jtok_get(jt, data, "e")) == -1)
		return perr(err, "frame", "e", "missing");
	if ((k = known_type(jt, v)) == -1)
		return perr(err, "frame", "e", jis(jt, v, JT_STRING) ? "not a market event type" :
		    "expected a string");
	if ((size_t)k == BM_DEPTH_UPDATE && m->partial == 0)
		return depth_diff(m, data, f, err);
	one_event(m, data, k);
	f->nevents = m->nevents;
	return 0;
}

int
bm_frame_parse(const char *buf, size_t len, int64_t recv_us, bool partial_hint, ev_emit_fn emit,
    void *arg, struct bm_frame *f, struct bm_drops *drops, const char **err)
{
	struct mctx m = { .drops = drops, .recv_us = recv_us, .emit = emit, .arg = arg,
	    .hint = partial_hint };
	struct jtok local, *jt;
	const char *why;
	int rc;

	memset(f, 0, sizeof(*f));
	f->answer_id = -1;
	jt = jt_take(&local);
	m.j.jt = jt;
	if (jparse(jt, buf, len, &why) == -1)
		rc = perr(err, "frame", "", why);
	else
		rc = frame_events(jt, &m, f, err);
	jt_give(jt);
	if (rc == -1) {
		char stream[sizeof(f->stream)];

		memcpy(stream, f->stream, sizeof(stream));
		memset(f, 0, sizeof(*f));
		memcpy(f->stream, stream, sizeof(stream));
		f->answer_id = -1;
	}
	return rc;
}

/* ------------------------------------------------------------------- REST */

static int
body_err(const char **err, const char *what, const char *why)
{
	return perr(err, what, "", why);
}

/* One /fapi/v1/klines row → ev (not yet checked); 0, or -1 with c->why. */
static int
kline_row(struct jctx *c, int row, struct event *ev)
{
	static const struct {
		const char	*name;
		size_t		 off;
		size_t		 size;
	} dec[] = {
		{ "[1] open", offsetof(struct ev_kline, open), EV_DEC },
		{ "[2] high", offsetof(struct ev_kline, high), EV_DEC },
		{ "[3] low", offsetof(struct ev_kline, low), EV_DEC },
		{ "[4] close", offsetof(struct ev_kline, close), EV_DEC },
		{ "[5] volume", offsetof(struct ev_kline, volume), EV_DEC },
		{ "[7] quote volume", offsetof(struct ev_kline, quote_volume), EV_DEC },
		{ "[9] taker buy volume", offsetof(struct ev_kline, taker_buy_volume), EV_DEC },
		{ "[10] taker buy quote volume", offsetof(struct ev_kline, taker_buy_quote_volume),
		    EV_DEC },
	};
	static const size_t decidx[] = { 1, 2, 3, 4, 5, 7, 9, 10 };
	static const struct {
		const char	*name;
		size_t		 idx;
		size_t		 off;
	} i64[] = {
		{ "[0] open time", 0, offsetof(struct ev_kline, open_time) },
		{ "[6] close time", 6, offsetof(struct ev_kline, close_time) },
		{ "[8] trades", 8, offsetof(struct ev_kline, trades) },
	};
	const struct jtok *jt = c->jt;
	char *base = (char *)&ev->u.kline;
	int el[11], e;
	size_t k;

	if (!jis(jt, row, JT_ARRAY))
		return jfail(c, "", "expected an array");
	if (jtok_size(jt, row) < 11)
		return jfail(c, "", "fewer than 11 members");
	for (k = 0, e = jtok_first(jt, row); k < 11; k++, e = jtok_next(jt, e))
		el[k] = e;
	for (size_t i = 0; i < NFIELDS(i64); i++)
		if (jtok_int(jt, el[i64[i].idx], (int64_t *)(void *)(base + i64[i].off)) == -1)
			return jfail(c, i64[i].name, "expected an integer");
	for (size_t i = 0; i < NFIELDS(dec); i++) {
		const char *v;
		size_t n;

		if ((v = jtok_str(jt, el[decidx[i]], &n)) == NULL ||
		    ev_decimal(base + dec[i].off, dec[i].size, v, n) == -1)
			return jfail(c, dec[i].name, "not a decimal string");
	}
	if (ev->u.kline.close_time < ev->u.kline.open_time)
		return jfail(c, "[6] close time", "before the open time");
	return 0;
}

int
bm_klines_parse(const char *body, size_t len, const char *symbol, const char *interval,
    int64_t now_ms, int64_t recv_us, ev_emit_fn emit, void *arg, struct bf_drops *drops,
    const char **err)
{
	struct jctx c = { .what = "GET /fapi/v1/klines" };
	struct jtok local, *jt;
	const char *why;
	size_t i, rows;
	int n = 0, row;

	if (symbol == NULL || strlen(symbol) >= EV_SYM || !ev_symbol_ok(symbol, strlen(symbol)))
		return body_err(err, c.what, "not a symbol");
	if (bm_interval_index(interval) == -1)
		return body_err(err, c.what, "not a kline interval");
	jt = jt_take(&local);
	c.jt = jt;
	if (jparse(jt, body, len, &why) == -1) {
		jt_give(jt);
		return body_err(err, c.what, why);
	}
	if (!jis(jt, 0, JT_ARRAY)) {
		jt_give(jt);
		return body_err(err, c.what, "expected a JSON array");
	}
	if ((rows = jtok_size(jt, 0)) > BM_KLINES_MAX) {
		jt_give(jt);
		return body_err(err, c.what, "more than 1500 rows (Binance's largest limit)");
	}
	for (i = 0, row = jtok_first(jt, 0); i < rows; i++, row = jtok_next(jt, row)) {
		struct event ev;

		ev_init(&ev, EV_KLINE, EVF_RESYNC, recv_us);
		snprintf(c.path, sizeof(c.path), "[%zu]", i);
		snprintf(ev.u.kline.symbol, sizeof(ev.u.kline.symbol), "%s", symbol);
		snprintf(ev.u.kline.interval, sizeof(ev.u.kline.interval), "%s", interval);
		if (kline_row(&c, row, &ev) == -1) {
			drop(drops, c.why);
			continue;
		}
		ev.u.kline.first_trade_id = ev.u.kline.last_trade_id = -1;
		ev.u.kline.closed = ev.u.kline.close_time < now_ms;
		/* A closed candle's last moment is T; an open one is as of now. */
		ev.event_time = ev.u.kline.closed ? ev.u.kline.close_time + 1 : now_ms;
		n += finish(&ev, drops, emit, arg);
	}
	jt_give(jt);
	return n;
}

int
bm_depth_snapshot_parse(const char *body, size_t len, struct bm_depth_snapshot *s,
    const char **err)
{
	static const struct jfield f_snap[] = {
		JF(struct bm_depth_snapshot, "lastUpdateId", J_I64, REQ, last_update_id, 0),
		JF(struct bm_depth_snapshot, "E", J_I64, OPT, event_time, 0),
		JF(struct bm_depth_snapshot, "T", J_I64, OPT, time, 0),
	};
	struct jctx c = { .what = "GET /fapi/v1/depth" };
	struct jtok local, *jt;
	const char *why;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	jt = jt_take(&local);
	c.jt = jt;
	if (jparse(jt, body, len, &why) == -1) {
		jt_give(jt);
		return body_err(err, c.what, why);
	}
	if (!jis(jt, 0, JT_OBJECT))
		body_err(err, c.what, "expected a JSON object");
	else if (jfields(&c, NULL, 0, f_snap, NFIELDS(f_snap), s) == -1 ||
	    read_book(&c, 0, "bids", "asks", EV_BOOK_LEVELS_MAX, false, false, &s->levels, &s->nbids,
	    &s->nasks) == -1 ||
	    book_order(&c, s->levels, s->nbids, s->nasks, "bids", "asks") == -1) {
		bm_depth_snapshot_free(s);
		snprintf(bm_errbuf, sizeof(bm_errbuf), "%s", c.why);
		if (err != NULL)
			*err = bm_errbuf;
	} else
		rc = 0;
	jt_give(jt);
	return rc;
}

void
bm_depth_snapshot_free(struct bm_depth_snapshot *s)
{
	free(s->levels);
	memset(s, 0, sizeof(*s));
}

int
bm_exchange_info_symbols(const char *body, size_t len, char ***symbols, struct bf_drops *drops,
    const char **err)
{
	const char *what = "GET /fapi/v1/exchangeInfo", *why;
	struct jtok local, *jt;
	int arr, row, sym, st, n = 0;
	size_t i, rows;
	char **out;

	*symbols = NULL;
	jt = jt_take(&local);
	if (jparse(jt, body, len, &why) == -1) {
		jt_give(jt);
		return body_err(err, what, why);
	}
	if (!jis(jt, 0, JT_OBJECT) || (arr = jget(jt, 0, "symbols")) == -1 ||
	    !jis(jt, arr, JT_ARRAY)) {
		body_err(err, what, jis(jt, 0, JT_OBJECT) ? "symbols: expected an array" :
		    "expected a JSON object");
		jt_give(jt);
		return -1;
	}
	if ((rows = jtok_size(jt, arr)) > BM_SYMBOLS_MAX) {
		jt_give(jt);
		return body_err(err, what, "more than 10000 symbols");
	}
	if ((out = calloc(rows + 1, sizeof(*out))) == NULL) {
		jt_give(jt);
		return body_err(err, what, "out of memory");
	}
	for (i = 0, row = jtok_first(jt, arr); i < rows; i++, row = jtok_next(jt, row)) {
		struct jctx c = { .jt = jt, .what = what };
		const char *s;
		size_t slen;
		int dup = 0;

		snprintf(c.path, sizeof(c.path), "symbols[%zu].", i);
		sym = jget(jt, row, "symbol");
		st = jget(jt, row, "status");
		if (!jis(jt, row, JT_OBJECT)) {
			jfail(&c, "", "expected an object");
			drop(drops, c.why);
			continue;
		}
		if (!jis(jt, st, JT_STRING)) {
			jfail(&c, "status", st == -1 ? "missing" : "expected a string");
			drop(drops, c.why);
			continue;
		}
		if (!jtok_str_eq(jt, st, "TRADING", 7))
			continue;
		if ((s = jtok_str(jt, sym, &slen)) == NULL || slen == 0 || slen >= EV_SYM ||
		    !ev_symbol_ok(s, slen)) {
			jfail(&c, "symbol", sym == -1 ? "missing" : "not a symbol");
			drop(drops, c.why);
			continue;
		}
		if ((out[n] = strndup(s, slen)) == NULL) {
			bm_symbols_free(out, n);
			jt_give(jt);
			return body_err(err, what, "out of memory");
		}
		for (char *p = out[n]; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		for (int j = 0; j < n && !dup; j++)
			dup = strcmp(out[j], out[n]) == 0;
		if (dup) {
			free(out[n]);
			out[n] = NULL;
			jfail(&c, "symbol", "listed twice");
			drop(drops, c.why);
			continue;
		}
		n++;
	}
	jt_give(jt);
	*symbols = out;
	return n;
}

void
bm_symbols_free(char **symbols, int n)
{
	if (symbols == NULL)
		return;
	for (int i = 0; i < n; i++)
		free(symbols[i]);
	free(symbols);
}
