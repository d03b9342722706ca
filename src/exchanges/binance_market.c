/*
 * binance_market.c: Binance USDⓈ-M futures public market data, JSON →
 * normalized events (FACTS §3), the REST bodies the market worker fetches
 * (/fapi/v1/klines, /fapi/v1/depth, /fapi/v1/exchangeInfo), and the pure
 * helpers it needs: kline intervals and candle times, stream names and
 * routes, request weights.  No I/O and no state between calls.
 *
 * As in binance_futures.c, jansson reads integers as exact int64 and keys
 * case-sensitively ("p" is the mark price, "P" the settle price), and
 * rejects invalid UTF-8 and NUL in strings.  Decimals are copied through
 * ev_decimal(), never rounded.  Each event is built alone from a table of
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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "exchanges/binance_market.h"

#define BM_EXCHANGE	"binance-futures"
/* Elements of an array payload (!markPrice@arr: one per symbol, hundreds). */
#define BM_ARRAY_MAX	10000
/* Levels per side of one depth diff (a busy 100 ms diff has a few hundred). */
#define BM_DIFF_LEVELS_MAX	5000
/* Rows of one /fapi/v1/klines page: Binance's largest limit (1500). */
#define BM_KLINES_MAX	1500
/* Symbols of /fapi/v1/exchangeInfo (Binance lists under a thousand). */
#define BM_SYMBOLS_MAX	10000

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

int
bm_interval_index(const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < 15; i++)
		if (strcmp(s, bm_intervals[i]) == 0)
			return i;
	return -1;
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

/* A member, JSON null taken as absent. */
static json_t *
jget(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v == NULL || json_is_null(v) ? NULL : v;
}

/*
 * Exactly buf[0..len): one JSON value.  No key twice in an object (which
 * one counts would be the parser's choice), no NUL byte (jansson would skip
 * one between tokens).
 */
static json_t *
jparse(const char *buf, size_t len, const char **why)
{
	static char jsonerr[200];
	json_error_t e;
	json_t *root;
	const char *nul;

	if (buf == NULL) {
		*why = "no body";
		return NULL;
	}
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		snprintf(jsonerr, sizeof(jsonerr), "not JSON (a NUL byte at byte %td)", nul - buf);
		*why = jsonerr;
		return NULL;
	}
	if ((root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e)) == NULL) {
		snprintf(jsonerr, sizeof(jsonerr), "not JSON (%s at byte %d)", e.text, e.position);
		*why = jsonerr;
	}
	return root;
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
jvalue(struct jctx *c, const json_t *v, const struct jfield *f, char *dst)
{
	const char *s;
	size_t len;

	switch (f->kind) {
	case J_SYM:
	case J_WORD:
	case J_IV:
	case J_DEC:
		if (!json_is_string(v))
			return jfail(c, f->key, "expected a string");
		s = json_string_value(v);
		len = json_string_length(v);
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
			memcpy(dst, s, len + 1);
		} else if (f->kind == J_IV) {
			if (bm_interval_index(s) == -1)
				return jfail(c, f->key, "not a kline interval");
			memcpy(dst, s, len + 1);
		} else
			ev_copy_text(dst, f->size, s, len);
		return 0;
	case J_I64:
		if (!json_is_integer(v))
			return jfail(c, f->key, json_is_real(v) ? "expected an integer, got a fraction" :
			    "expected an integer");
		*(int64_t *)(void *)dst = (int64_t)json_integer_value(v);
		return 0;
	case J_BOOL:
		if (!json_is_boolean(v))
			return jfail(c, f->key, "expected a boolean");
		*(bool *)(void *)dst = json_is_true(v);
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
jfields(struct jctx *c, struct bf_drops *drops, const json_t *obj, const struct jfield *f,
    size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		char *dst = (char *)base + f[i].off;
		const json_t *v = jget(obj, f[i].key);

		if (v != NULL && !f[i].req && f[i].kind == J_DEC && json_is_string(v) &&
		    json_string_length(v) == 0)
			v = NULL;
		if (v == NULL) {
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

/*
 * One side of a book, "b"/"a" or "bids"/"asks": an array of at most max
 * [price, quantity] pairs of decimal strings (more members are allowed and
 * ignored).  Prices must be positive; quantities not negative, and positive
 * when zero_ok is false.  Appended to *levels at *n.  0, or -1 with c->why.
 */
static int
read_side(struct jctx *c, const json_t *obj, const char *key, size_t max, bool zero_ok,
    struct ev_level *levels, size_t *n)
{
	const json_t *arr = jget(obj, key), *row;
	size_t i;

	if (arr == NULL)
		return jfail(c, key, "missing");
	if (!json_is_array(arr))
		return jfail(c, key, "expected an array");
	if (json_array_size(arr) > max) {
		char why[64];

		snprintf(why, sizeof(why), "more than %zu levels", max);
		return jfail(c, key, why);
	}
	json_array_foreach(arr, i, row) {
		struct ev_level *l = &levels[(*n)++];
		const json_t *p = json_array_get(row, 0), *q = json_array_get(row, 1);
		char at[32];

		snprintf(at, sizeof(at), "%s[%zu]", key, i);
		if (!json_is_array(row) || json_array_size(row) < 2)
			return jfail(c, at, "expected a [price, quantity] array");
		if (!json_is_string(p) || ev_decimal(l->price, sizeof(l->price), json_string_value(p),
		    json_string_length(p)) == -1)
			return jfail(c, at, "price: not a decimal string");
		if (!json_is_string(q) || ev_decimal(l->qty, sizeof(l->qty), json_string_value(q),
		    json_string_length(q)) == -1)
			return jfail(c, at, "quantity: not a decimal string");
		if (l->price[0] == '-' || dec_is_zero(l->price))
			return jfail(c, at, "price not positive");
		if (l->qty[0] == '-')
			return jfail(c, at, "quantity negative");
		if (!zero_ok && dec_is_zero(l->qty))
			return jfail(c, at, "quantity zero");
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

/* Both sides into one malloc'd array, nbids then nasks.  0, or -1 with c->why. */
static int
read_book(struct jctx *c, const json_t *obj, const char *bkey, const char *akey, size_t max,
    bool zero_ok, struct ev_level **levels, size_t *nbids, size_t *nasks)
{
	const json_t *b = jget(obj, bkey), *a = jget(obj, akey);
	size_t nb = json_is_array(b) ? json_array_size(b) : 0;
	size_t na = json_is_array(a) ? json_array_size(a) : 0;
	struct ev_level *lv;
	size_t n = 0;

	*levels = NULL;
	*nbids = *nasks = 0;
	if (nb > max || na > max)
		nb = na = 0;	/* read_side says so */
	if ((lv = calloc(nb + na > 0 ? nb + na : 1, sizeof(*lv))) == NULL)
		return jfail(c, "", "out of memory");
	if (read_side(c, obj, bkey, max, zero_ok, lv, &n) == -1 ||
	    (*nbids = n, read_side(c, obj, akey, max, zero_ok, lv, &n) == -1)) {
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
top_time(struct jctx *c, const json_t *obj, int64_t *out)
{
	const json_t *v = jget(obj, "E");

	if (v == NULL)
		return jfail(c, "E", "missing");
	if (!json_is_integer(v))
		return jfail(c, "E", "expected an integer");
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* Build one event of a field table from obj (or its member sub); 0 or -1 with c->why. */
static int
simple(struct mctx *m, const json_t *obj, const char *sub, const struct jfield *f, size_t n,
    struct event *ev)
{
	const json_t *o = obj;

	if (top_time(&m->j, obj, &ev->event_time) == -1)
		return -1;
	if (sub != NULL) {
		if ((o = jget(obj, sub)) == NULL)
			return jfail(&m->j, sub, "missing");
		if (!json_is_object(o))
			return jfail(&m->j, sub, "expected an object");
		snprintf(m->j.path, sizeof(m->j.path), "%s.", sub);
	}
	return jfields(&m->j, dd(m), o, f, n, &ev->u);
}

static int
mk_kline(struct mctx *m, const json_t *obj, struct event *ev)
{
	ev_init(ev, EV_KLINE, 0, m->recv_us);
	if (simple(m, obj, "k", f_kline, NFIELDS(f_kline), ev) == -1)
		return -1;
	if (ev->u.kline.close_time < ev->u.kline.open_time)
		return jfail(&m->j, "T", "before t");
	return 0;
}

static int
mk_mark(struct mctx *m, const json_t *obj, struct event *ev)
{
	ev_init(ev, EV_MARK_PRICE, 0, m->recv_us);
	return simple(m, obj, NULL, f_mark, NFIELDS(f_mark), ev);
}

static int
mk_ticker(struct mctx *m, const json_t *obj, struct event *ev)
{
	ev_init(ev, EV_TICKER, 0, m->recv_us);
	return simple(m, obj, NULL, f_ticker, NFIELDS(f_ticker), ev);
}

static int
mk_mini(struct mctx *m, const json_t *obj, struct event *ev)
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
mk_trade(struct mctx *m, const json_t *obj, struct event *ev)
{
	ev_init(ev, EV_TRADE, 0, m->recv_us);
	if (simple(m, obj, NULL, f_trade, NFIELDS(f_trade), ev) == -1)
		return -1;
	ev->u.trade.first_trade_id = ev->u.trade.last_trade_id = ev->u.trade.trade_id;
	return zero_price(m, ev);
}

static int
mk_agg(struct mctx *m, const json_t *obj, struct event *ev)
{
	ev_init(ev, EV_TRADE, EVF_AGG, m->recv_us);
	if (simple(m, obj, NULL, f_agg, NFIELDS(f_agg), ev) == -1)
		return -1;
	if (ev->u.trade.last_trade_id < ev->u.trade.first_trade_id)
		return jfail(&m->j, "l", "below f");
	return zero_price(m, ev);
}

static int
mk_bookticker(struct mctx *m, const json_t *obj, struct event *ev)
{
	ev_init(ev, EV_BOOK_TICKER, 0, m->recv_us);
	return simple(m, obj, NULL, f_bookticker, NFIELDS(f_bookticker), ev);
}

static int
mk_liq(struct mctx *m, const json_t *obj, struct event *ev)
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
mk_partial(struct mctx *m, const json_t *obj, struct event *ev)
{
	struct ev_book *bk = &ev->u.book;
	size_t nb, na, depth;

	ev_init(ev, EV_BOOK, EVF_PARTIAL, m->recv_us);
	if (simple(m, obj, NULL, f_partial, NFIELDS(f_partial), ev) == -1)
		return -1;
	if (read_book(&m->j, obj, "b", "a", EV_BOOK_LEVELS_MAX, false, &bk->levels, &nb, &na) == -1)
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
	int		(*fn)(struct mctx *, const json_t *, struct event *);
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
known_type(const json_t *e)
{
	if (!json_is_string(e))
		return -1;
	for (size_t i = 0; i < NFIELDS(bm_types); i++)
		if (strcmp(json_string_value(e), bm_types[i].e) == 0)
			return (int)i;
	return -1;
}

/* One event object (alone, or an element of an array payload); emitted or dropped. */
static void
one_event(struct mctx *m, const json_t *obj, int k)
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
depth_diff(struct mctx *m, const json_t *obj, struct bm_frame *f, const char **err)
{
	struct bm_depth_diff *d = &f->diff;

	m->j.what = "depthUpdate";
	if (jfields(&m->j, dd(m), obj, f_diff, NFIELDS(f_diff), d) == -1 ||
	    read_book(&m->j, obj, "b", "a", BM_DIFF_LEVELS_MAX, true, &d->levels, &d->nbids,
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
	free(d->levels);
	memset(d, 0, sizeof(*d));
}

/* {"result":…,"id":N}, {"error":{"code","msg"},"id":N|null}, {"code","msg"}. */
static int
answer(const json_t *root, struct bm_frame *f, const char **err)
{
	const json_t *id = jget(root, "id"), *e = jget(root, "error"), *code, *msg;

	f->answer_id = -1;
	if (id != NULL) {
		if (!json_is_integer(id) || json_integer_value(id) < 0)
			return perr(err, "answer", "id", "expected an unsigned integer");
		f->answer_id = (int64_t)json_integer_value(id);
	}
	if (json_object_get(root, "result") != NULL && e == NULL) {
		if (id == NULL)
			return perr(err, "answer", "id", "missing");
		f->kind = BMF_ANSWER;
		return 0;
	}
	if (e == NULL)
		e = root;	/* {"code":…,"msg":…} */
	else if (!json_is_object(e))
		return perr(err, "answer", "error", "expected an object");
	code = jget(e, "code");
	msg = jget(e, "msg");
	if (code == NULL || !json_is_integer(code) || json_integer_value(code) < -2147483647LL ||
	    json_integer_value(code) > 2147483647LL)
		return perr(err, "error answer", "code", code == NULL ? "missing" :
		    "expected an integer");
	if (msg == NULL || !json_is_string(msg))
		return perr(err, "error answer", "msg", msg == NULL ? "missing" : "expected a string");
	f->kind = BMF_ERROR;
	f->error_code = (int)json_integer_value(code);
	ev_copy_text(f->why, sizeof(f->why), json_string_value(msg), json_string_length(msg));
	return 0;
}

int
bm_frame_parse(const char *buf, size_t len, int64_t recv_us, bool partial_hint, ev_emit_fn emit,
    void *arg, struct bm_frame *f, struct bm_drops *drops, const char **err)
{
	struct mctx m = { .drops = drops, .recv_us = recv_us, .emit = emit, .arg = arg,
	    .hint = partial_hint };
	const json_t *data, *v, *elt;
	const char *why;
	json_t *root;
	size_t i;
	int k, rc = -1;

	memset(f, 0, sizeof(*f));
	f->answer_id = -1;
	if ((root = jparse(buf, len, &why)) == NULL)
		return perr(err, "frame", "", why);
	data = root;
	if (json_is_object(root) && (v = json_object_get(root, "stream")) != NULL) {
		/* The combined envelope {"stream":"<name>","data":<object or array>}. */
		if (!json_is_string(v)) {
			perr(err, "envelope", "stream", "expected a string");
			goto out;
		}
		if (json_string_length(v) == 0 || json_string_length(v) >= sizeof(f->stream)) {
			perr(err, "envelope", "stream", json_string_length(v) == 0 ? "empty" :
			    "longer than a stream name");
			goto out;
		}
		memcpy(f->stream, json_string_value(v), json_string_length(v) + 1);
		if ((data = json_object_get(root, "data")) == NULL) {
			perr(err, "envelope", "data", "missing");
			goto out;
		}
		if (!json_is_object(data) && !json_is_array(data)) {
			perr(err, "envelope", "data", "expected an object or an array");
			goto out;
		}
	} else if (json_is_object(root) && json_object_get(root, "e") == NULL &&
	    (json_object_get(root, "result") != NULL || json_object_get(root, "error") != NULL ||
	    json_object_get(root, "code") != NULL || json_object_get(root, "id") != NULL)) {
		rc = answer(root, f, err);
		goto out;
	} else if (!json_is_object(root) && !json_is_array(root)) {
		perr(err, "frame", "", "not a JSON object or array");
		goto out;
	}
	m.partial = f->stream[0] != '\0' ? stream_partial(f->stream) : partial_hint ? -1 : 0;
	f->kind = BMF_EVENTS;
	if (json_is_array(data)) {
		/* !markPrice@arr and the like: each element its own event. */
		if (json_array_size(data) > BM_ARRAY_MAX) {
			perr(err, "frame", "", "an array of more than 10000 events");
			goto out;
		}
		json_array_foreach(data, i, elt) {
			snprintf(m.j.path, sizeof(m.j.path), "[%zu].", i);
			m.j.what = "frame";
			if (!json_is_object(elt)) {
				jfail(&m.j, "", "expected an object");
				drop(dd(&m), m.j.why);
				continue;
			}
			if ((k = known_type(jget(elt, "e"))) == -1) {
				jfail(&m.j, "e", jget(elt, "e") == NULL ? "missing" :
				    "not a market event type");
				drop(dd(&m), m.j.why);
				continue;
			}
			if ((size_t)k == BM_DEPTH_UPDATE) {
				jfail(&m.j, "e", "depthUpdate in an array");
				drop(dd(&m), m.j.why);
				continue;
			}
			one_event(&m, elt, k);
		}
		f->nevents = m.nevents;
		rc = 0;
		goto out;
	}
	if ((v = json_object_get(data, "e")) == NULL) {
		perr(err, "frame", "e", "missing");
		goto out;
	}
	if ((k = known_type(v)) == -1) {
		perr(err, "frame", "e", json_is_string(v) ? "not a market event type" :
		    "expected a string");
		goto out;
	}
	if ((size_t)k == BM_DEPTH_UPDATE && m.partial == 0) {
		rc = depth_diff(&m, data, f, err);
		goto out;
	}
	one_event(&m, data, k);
	f->nevents = m.nevents;
	rc = 0;
out:
	json_decref(root);
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
kline_row(struct jctx *c, const json_t *row, struct event *ev)
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
	char *base = (char *)&ev->u.kline;

	if (!json_is_array(row))
		return jfail(c, "", "expected an array");
	if (json_array_size(row) < 11)
		return jfail(c, "", "fewer than 11 members");
	for (size_t i = 0; i < NFIELDS(i64); i++) {
		const json_t *v = json_array_get(row, i64[i].idx);

		if (!json_is_integer(v))
			return jfail(c, i64[i].name, "expected an integer");
		*(int64_t *)(void *)(base + i64[i].off) = (int64_t)json_integer_value(v);
	}
	for (size_t i = 0; i < NFIELDS(dec); i++) {
		const json_t *v = json_array_get(row, decidx[i]);

		if (!json_is_string(v) || ev_decimal(base + dec[i].off, dec[i].size,
		    json_string_value(v), json_string_length(v)) == -1)
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
	const json_t *row;
	const char *why;
	json_t *root;
	size_t i;
	int n = 0;

	if (symbol == NULL || strlen(symbol) >= EV_SYM || !ev_symbol_ok(symbol, strlen(symbol)))
		return body_err(err, c.what, "not a symbol");
	if (bm_interval_index(interval) == -1)
		return body_err(err, c.what, "not a kline interval");
	if ((root = jparse(body, len, &why)) == NULL)
		return body_err(err, c.what, why);
	if (!json_is_array(root)) {
		json_decref(root);
		return body_err(err, c.what, "expected a JSON array");
	}
	if (json_array_size(root) > BM_KLINES_MAX) {
		json_decref(root);
		return body_err(err, c.what, "more than 1500 rows (Binance's largest limit)");
	}
	json_array_foreach(root, i, row) {
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
	json_decref(root);
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
	const char *why;
	json_t *root;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if ((root = jparse(body, len, &why)) == NULL)
		return body_err(err, c.what, why);
	if (!json_is_object(root))
		body_err(err, c.what, "expected a JSON object");
	else if (jfields(&c, NULL, root, f_snap, NFIELDS(f_snap), s) == -1 ||
	    read_book(&c, root, "bids", "asks", EV_BOOK_LEVELS_MAX, false, &s->levels, &s->nbids,
	    &s->nasks) == -1 ||
	    book_order(&c, s->levels, s->nbids, s->nasks, "bids", "asks") == -1) {
		bm_depth_snapshot_free(s);
		snprintf(bm_errbuf, sizeof(bm_errbuf), "%s", c.why);
		if (err != NULL)
			*err = bm_errbuf;
	} else
		rc = 0;
	json_decref(root);
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
	const json_t *arr, *row, *sym, *st;
	json_t *root;
	char **out;
	size_t i;
	int n = 0;

	*symbols = NULL;
	if ((root = jparse(body, len, &why)) == NULL)
		return body_err(err, what, why);
	if (!json_is_object(root) || (arr = jget(root, "symbols")) == NULL || !json_is_array(arr)) {
		body_err(err, what, json_is_object(root) ? "symbols: expected an array" :
		    "expected a JSON object");
		json_decref(root);
		return -1;
	}
	if (json_array_size(arr) > BM_SYMBOLS_MAX) {
		json_decref(root);
		return body_err(err, what, "more than 10000 symbols");
	}
	if ((out = calloc(json_array_size(arr) + 1, sizeof(*out))) == NULL) {
		json_decref(root);
		return body_err(err, what, "out of memory");
	}
	json_array_foreach(arr, i, row) {
		struct jctx c = { .what = what };
		const char *s;
		size_t slen;
		int dup = 0;

		snprintf(c.path, sizeof(c.path), "symbols[%zu].", i);
		sym = jget(row, "symbol");
		st = jget(row, "status");
		if (!json_is_object(row)) {
			jfail(&c, "", "expected an object");
			drop(drops, c.why);
			continue;
		}
		if (!json_is_string(st)) {
			jfail(&c, "status", st == NULL ? "missing" : "expected a string");
			drop(drops, c.why);
			continue;
		}
		if (strcmp(json_string_value(st), "TRADING") != 0)
			continue;
		if (!json_is_string(sym) || (slen = json_string_length(sym)) == 0 ||
		    slen >= EV_SYM || !ev_symbol_ok(json_string_value(sym), slen)) {
			jfail(&c, "symbol", sym == NULL ? "missing" : "not a symbol");
			drop(drops, c.why);
			continue;
		}
		s = json_string_value(sym);
		if ((out[n] = strdup(s)) == NULL) {
			bm_symbols_free(out, n);
			json_decref(root);
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
	json_decref(root);
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
