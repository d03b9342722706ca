/*
 * evcodec.c: the normalized event as msgpack (the data plane between the
 * account/market workers and the writer) and as JSON (event_log.payload, the
 * Kafka json format).  One table per event type names every field once, with
 * its short msgpack key, its JSON name, its kind and where it lives in the
 * struct, so packing, checking and printing cannot drift apart.
 *
 * Wire form: { n: seq, t: type, f: flags, a: account_id, u: user_id,
 * x: exchange, E: event_time, r: recv_us, id: event id, d: { payload } },
 * the payload keyed like the exchange's own letters (event.h comments).
 * Every key is required, none may repeat, none is unknown: all processes run
 * the same binary, so anything else is a bug in the sender.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "strbuf.h"

#define EV_RAW_MAX	(1024 * 1024)	/* an unknown event's frame */

enum fkind {
	FK_STR,		/* char[size], valid UTF-8, no NUL */
	FK_DEC,		/* char[size], "" or a plain decimal: -?digits[.digits] */
	FK_I64,		/* int64_t */
	FK_I64N,	/* int64_t, where min means absent (null in JSON) */
	FK_BOOL,	/* bool */
	FK_INT,		/* int within [min, max] */
	FK_U16,		/* uint16_t within [min, max] */
	FK_RAW,		/* char *, malloc'd (ev_unknown.raw) */
	FK_LEVELS	/* one side of ev_book.levels: [[price, qty], ...]; off: its uint16_t count */
};

struct field {
	const char	*key;		/* msgpack */
	const char	*json;
	enum fkind	 kind;
	size_t		 off;		/* from the start of the union */
	size_t		 size;		/* FK_STR, FK_DEC: the array */
	int		 min, max;	/* FK_INT */
	int		 key_field;	/* FK_STR: the writer upserts on it, so never "" */
	int		 symbol;	/* FK_STR: a symbol (ev_symbol_ok), or "" if not key_field */
	int		 ms;		/* FK_I64, FK_I64N: a time in ms since the epoch */
};

#define S(t, f, k, j)	{ k, j, FK_STR, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 0, 0, 0 }
#define K(t, f, k, j)	{ k, j, FK_STR, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 1, 0, 0 }
#define KSYM(t, f, k, j) { k, j, FK_STR, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 1, 1, 0 }
#define SSYM(t, f, k, j) { k, j, FK_STR, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 0, 1, 0 }
#define DEC(t, f, k, j)	{ k, j, FK_DEC, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 0, 0, 0 }
#define I64(t, f, k, j)	{ k, j, FK_I64, offsetof(struct t, f), 0, 0, 0, 0, 0, 0 }
#define I64N(t, f, k, j, none) { k, j, FK_I64N, offsetof(struct t, f), 0, none, 0, 0, 0, 0 }
#define B(t, f, k, j)	{ k, j, FK_BOOL, offsetof(struct t, f), 0, 0, 0, 0, 0, 0 }
#define INT(t, f, k, j, lo, hi)	{ k, j, FK_INT, offsetof(struct t, f), 0, lo, hi, 0, 0, 0 }
#define U16(t, f, k, j, lo, hi)	{ k, j, FK_U16, offsetof(struct t, f), 0, lo, hi, 0, 0, 0 }
/* A time in ms (EV_JSON_ISO_TIMES prints it as ISO-8601); MSN: min means absent. */
#define MS(t, f, k, j)	{ k, j, FK_I64, offsetof(struct t, f), 0, 0, 0, 0, 0, 1 }
#define MSN(t, f, k, j, none) { k, j, FK_I64N, offsetof(struct t, f), 0, none, 0, 0, 0, 1 }
#define RAW(t, f, k, j)	{ k, j, FK_RAW, offsetof(struct t, f), 0, 0, 0, 0, 0, 0 }
/* A decimal that must be present (key_field on an FK_DEC: never ""). */
#define KDEC(t, f, k, j) { k, j, FK_DEC, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 1, 0, 0 }
/* A side of a book: min 0 bids (first in levels), 1 asks (after the bids). */
#define LEVELS(f, k, j, side) { k, j, FK_LEVELS, offsetof(struct ev_book, f), 0, side, side, 0, 0, 0 }

static const struct field order_fields[] = {
	I64(ev_order, order_id, "i", "order_id"),
	KSYM(ev_order, symbol, "s", "symbol"),
	S(ev_order, client_id, "c", "client_order_id"),
	S(ev_order, side, "S", "side"),
	S(ev_order, position_side, "ps", "position_side"),
	S(ev_order, type, "o", "order_type"),
	S(ev_order, orig_type, "ot", "orig_type"),
	S(ev_order, tif, "f", "time_in_force"),
	S(ev_order, exec_type, "x", "exec_type"),
	S(ev_order, status, "X", "status"),
	DEC(ev_order, price, "p", "price"),
	DEC(ev_order, avg_price, "ap", "avg_price"),
	DEC(ev_order, stop_price, "sp", "stop_price"),
	DEC(ev_order, orig_qty, "q", "orig_qty"),
	DEC(ev_order, filled_qty, "z", "filled_qty"),
	B(ev_order, reduce_only, "R", "reduce_only"),
	B(ev_order, close_position, "cp", "close_position"),
	MS(ev_order, update_time, "T", "update_time"),
};

static const struct field fill_fields[] = {
	I64(ev_fill, trade_id, "t", "trade_id"),
	I64(ev_fill, order_id, "i", "order_id"),
	KSYM(ev_fill, symbol, "s", "symbol"),
	S(ev_fill, side, "S", "side"),
	S(ev_fill, position_side, "ps", "position_side"),
	DEC(ev_fill, price, "L", "price"),
	DEC(ev_fill, qty, "l", "qty"),
	DEC(ev_fill, fee, "n", "fee"),
	S(ev_fill, fee_asset, "N", "fee_asset"),
	DEC(ev_fill, realized_pnl, "rp", "realized_pnl"),
	B(ev_fill, maker, "m", "maker"),
	MS(ev_fill, time, "T", "trade_time"),
};

static const struct field algo_fields[] = {
	I64(ev_algo, algo_id, "aid", "algo_id"),
	S(ev_algo, client_id, "caid", "client_algo_id"),
	S(ev_algo, algo_type, "at", "algo_type"),
	S(ev_algo, type, "o", "order_type"),
	KSYM(ev_algo, symbol, "s", "symbol"),
	S(ev_algo, side, "S", "side"),
	S(ev_algo, position_side, "ps", "position_side"),
	S(ev_algo, tif, "f", "time_in_force"),
	DEC(ev_algo, qty, "q", "quantity"),
	S(ev_algo, status, "X", "status"),
	S(ev_algo, actual_order_id, "ai", "actual_order_id"),
	DEC(ev_algo, avg_price, "ap", "avg_price"),
	DEC(ev_algo, filled_qty, "aq", "filled_qty"),
	DEC(ev_algo, trigger_price, "tp", "trigger_price"),
	DEC(ev_algo, price, "p", "price"),
	B(ev_algo, reduce_only, "R", "reduce_only"),
	B(ev_algo, close_position, "cp", "close_position"),
	S(ev_algo, reject_reason, "rm", "reject_reason"),
	MS(ev_algo, update_time, "T", "update_time"),
};

static const struct field position_fields[] = {
	KSYM(ev_position, symbol, "s", "symbol"),
	K(ev_position, position_side, "ps", "position_side"),
	DEC(ev_position, amount, "pa", "amount"),
	DEC(ev_position, entry_price, "ep", "entry_price"),
	DEC(ev_position, breakeven_price, "bep", "breakeven_price"),
	DEC(ev_position, unrealized_pnl, "up", "unrealized_pnl"),
	S(ev_position, margin_type, "mt", "margin_type"),
	DEC(ev_position, isolated_wallet, "iw", "isolated_wallet"),
	S(ev_position, margin_asset, "ma", "margin_asset"),
	MS(ev_position, update_time, "T", "update_time"),
};

static const struct field balance_fields[] = {
	K(ev_balance, asset, "a", "asset"),
	DEC(ev_balance, wallet, "wb", "wallet_balance"),
	DEC(ev_balance, cross_wallet, "cw", "cross_wallet"),
	DEC(ev_balance, change, "bc", "balance_change"),
	S(ev_balance, reason, "m", "reason"),
	MS(ev_balance, update_time, "T", "update_time"),
};

static const struct field margin_call_fields[] = {
	DEC(ev_margin_call, cross_wallet, "cw", "cross_wallet"),
	SSYM(ev_margin_call, symbol, "s", "symbol"),
	S(ev_margin_call, position_side, "ps", "position_side"),
	DEC(ev_margin_call, amount, "pa", "amount"),
	S(ev_margin_call, margin_type, "mt", "margin_type"),
	DEC(ev_margin_call, isolated_wallet, "iw", "isolated_wallet"),
	DEC(ev_margin_call, mark_price, "mp", "mark_price"),
	DEC(ev_margin_call, unrealized_pnl, "up", "unrealized_pnl"),
	DEC(ev_margin_call, maint_margin, "mm", "maint_margin"),
};

static const struct field config_fields[] = {
	SSYM(ev_config, symbol, "s", "symbol"),
	INT(ev_config, leverage, "l", "leverage", -1, 100000),
	INT(ev_config, multi_assets, "j", "multi_assets", -1, 1),
	MS(ev_config, update_time, "T", "update_time"),
};

static const struct field unknown_fields[] = {
	K(ev_unknown, name, "e", "name"),
	RAW(ev_unknown, raw, "raw", "raw"),
};

static const struct field gap_fields[] = {
	B(ev_gap, heal, "h", "heal"),
	MS(ev_gap, since, "s", "since"),
	I64(ev_gap, at_us, "at", "at_us"),
	MS(ev_gap, until, "u", "until"),
	S(ev_gap, reason, "r", "reason"),
};

/*
 * Market data (event.h; FACTS §3): the keys are the stream's letters.  The
 * JSON names are the struct members' names.
 */
static const struct field kline_fields[] = {
	KSYM(ev_kline, symbol, "s", "symbol"),
	K(ev_kline, interval, "i", "interval"),
	MS(ev_kline, open_time, "t", "open_time"),
	MS(ev_kline, close_time, "T", "close_time"),
	I64N(ev_kline, first_trade_id, "f", "first_trade_id", -1),
	I64N(ev_kline, last_trade_id, "L", "last_trade_id", -1),
	KDEC(ev_kline, open, "o", "open"),
	KDEC(ev_kline, high, "h", "high"),
	KDEC(ev_kline, low, "l", "low"),
	KDEC(ev_kline, close, "c", "close"),
	KDEC(ev_kline, volume, "v", "volume"),
	KDEC(ev_kline, quote_volume, "q", "quote_volume"),
	KDEC(ev_kline, taker_buy_volume, "V", "taker_buy_volume"),
	KDEC(ev_kline, taker_buy_quote_volume, "Q", "taker_buy_quote_volume"),
	I64(ev_kline, trades, "n", "trades"),
	B(ev_kline, closed, "x", "closed"),
};

static const struct field mark_price_fields[] = {
	KSYM(ev_mark_price, symbol, "s", "symbol"),
	KDEC(ev_mark_price, mark_price, "p", "mark_price"),
	DEC(ev_mark_price, mark_price_avg, "ap", "mark_price_avg"),
	DEC(ev_mark_price, index_price, "i", "index_price"),
	DEC(ev_mark_price, settle_price, "P", "settle_price"),
	DEC(ev_mark_price, funding_rate, "r", "funding_rate"),
	MSN(ev_mark_price, next_funding_time, "T", "next_funding_time", 0),
};

static const struct field funding_fields[] = {
	KSYM(ev_funding, symbol, "s", "symbol"),
	KDEC(ev_funding, funding_rate, "r", "funding_rate"),
	MS(ev_funding, next_funding_time, "T", "next_funding_time"),
	DEC(ev_funding, mark_price, "p", "mark_price"),
};

static const struct field ticker_fields[] = {
	KSYM(ev_ticker, symbol, "s", "symbol"),
	DEC(ev_ticker, price_change, "p", "price_change"),
	DEC(ev_ticker, price_change_pct, "P", "price_change_pct"),
	DEC(ev_ticker, weighted_avg_price, "w", "weighted_avg_price"),
	KDEC(ev_ticker, last_price, "c", "last_price"),
	DEC(ev_ticker, last_qty, "Q", "last_qty"),
	KDEC(ev_ticker, open, "o", "open"),
	KDEC(ev_ticker, high, "h", "high"),
	KDEC(ev_ticker, low, "l", "low"),
	KDEC(ev_ticker, volume, "v", "volume"),
	KDEC(ev_ticker, quote_volume, "q", "quote_volume"),
	MSN(ev_ticker, open_time, "O", "open_time", 0),
	MSN(ev_ticker, close_time, "C", "close_time", 0),
	I64N(ev_ticker, first_trade_id, "F", "first_trade_id", -1),
	I64N(ev_ticker, last_trade_id, "L", "last_trade_id", -1),
	I64N(ev_ticker, trades, "n", "trades", -1),
};

static const struct field trade_fields[] = {
	KSYM(ev_trade, symbol, "s", "symbol"),
	I64(ev_trade, trade_id, "t", "trade_id"),
	I64(ev_trade, first_trade_id, "f", "first_trade_id"),
	I64(ev_trade, last_trade_id, "l", "last_trade_id"),
	KDEC(ev_trade, price, "p", "price"),
	KDEC(ev_trade, qty, "q", "qty"),
	DEC(ev_trade, normal_qty, "nq", "normal_qty"),
	S(ev_trade, order_type, "X", "order_type"),
	B(ev_trade, buyer_maker, "m", "buyer_maker"),
	MS(ev_trade, time, "T", "time"),
};

static const struct field book_fields[] = {
	KSYM(ev_book, symbol, "s", "symbol"),
	I64(ev_book, last_update_id, "u", "last_update_id"),
	MS(ev_book, time, "T", "time"),
	U16(ev_book, depth, "N", "depth", 1, EV_BOOK_LEVELS_MAX),
	LEVELS(nbids, "b", "bids", 0),
	LEVELS(nasks, "a", "asks", 1),
};

static const struct field book_ticker_fields[] = {
	KSYM(ev_book_ticker, symbol, "s", "symbol"),
	I64(ev_book_ticker, update_id, "u", "update_id"),
	KDEC(ev_book_ticker, bid_price, "b", "bid_price"),
	KDEC(ev_book_ticker, bid_qty, "B", "bid_qty"),
	KDEC(ev_book_ticker, ask_price, "a", "ask_price"),
	KDEC(ev_book_ticker, ask_qty, "A", "ask_qty"),
	MS(ev_book_ticker, time, "T", "time"),
};

static const struct field liquidation_fields[] = {
	KSYM(ev_liquidation, symbol, "s", "symbol"),
	K(ev_liquidation, side, "S", "side"),
	S(ev_liquidation, order_type, "o", "order_type"),
	S(ev_liquidation, tif, "f", "tif"),
	KDEC(ev_liquidation, orig_qty, "q", "orig_qty"),
	KDEC(ev_liquidation, price, "p", "price"),
	DEC(ev_liquidation, avg_price, "ap", "avg_price"),
	S(ev_liquidation, status, "X", "status"),
	DEC(ev_liquidation, last_qty, "l", "last_qty"),
	DEC(ev_liquidation, filled_qty, "z", "filled_qty"),
	MS(ev_liquidation, time, "T", "time"),
};

#define NF(a)	(sizeof(a) / sizeof((a)[0]))

static const struct {
	const struct field	*f;
	size_t			 n;
} payload[EV_TYPE_MAX] = {
	[EV_ORDER] = { order_fields, NF(order_fields) },
	[EV_FILL] = { fill_fields, NF(fill_fields) },
	[EV_ALGO] = { algo_fields, NF(algo_fields) },
	[EV_POSITION] = { position_fields, NF(position_fields) },
	[EV_BALANCE] = { balance_fields, NF(balance_fields) },
	[EV_MARGIN_CALL] = { margin_call_fields, NF(margin_call_fields) },
	[EV_CONFIG] = { config_fields, NF(config_fields) },
	[EV_UNKNOWN] = { unknown_fields, NF(unknown_fields) },
	[EV_GAP] = { gap_fields, NF(gap_fields) },
	[EV_KLINE] = { kline_fields, NF(kline_fields) },
	[EV_MARK_PRICE] = { mark_price_fields, NF(mark_price_fields) },
	[EV_FUNDING] = { funding_fields, NF(funding_fields) },
	[EV_TICKER] = { ticker_fields, NF(ticker_fields) },
	[EV_TRADE] = { trade_fields, NF(trade_fields) },
	[EV_BOOK] = { book_fields, NF(book_fields) },
	[EV_BOOK_TICKER] = { book_ticker_fields, NF(book_ticker_fields) },
	[EV_LIQUIDATION] = { liquidation_fields, NF(liquidation_fields) },
};

#define EVF_ALL		(EVF_RESYNC | EVF_LITE | EVF_MINI | EVF_AGG | EVF_PARTIAL)

/* The flags that belong to one type only, and their JSON names. */
static const struct {
	uint8_t		 flag;
	unsigned	 type;
	const char	*name;
} type_flags[] = {
	{ EVF_LITE, EV_FILL, "lite" },
	{ EVF_MINI, EV_TICKER, "mini" },
	{ EVF_AGG, EV_TRADE, "agg" },
	{ EVF_PARTIAL, EV_BOOK, "partial" },
};

/* The common part: offsets from struct event. */
static const struct field common_fields[] = {
	{ "n", "seq", FK_I64, offsetof(struct event, seq), 0, 0, 0, 0, 0, 0 },
	{ "t", "type", FK_INT, offsetof(struct event, type), 0, 1, EV_TYPE_MAX - 1, 0, 0, 0 },
	{ "f", "flags", FK_INT, offsetof(struct event, flags), 0, 0, EVF_ALL, 0, 0, 0 },
	I64(event, account_id, "a", "account_id"),
	I64(event, user_id, "u", "user_id"),
	K(event, exchange, "x", "exchange"),
	MS(event, event_time, "E", "event_time"),
	I64(event, recv_us, "r", "recv_us"),
	K(event, id, "id", "event_id"),
};
#define C_SEQ	0
#define C_TYPE	1
#define C_FLAGS	2

/* ----------------------------------------------------------------- packing */

static void
pack_key(msgpack_packer *pk, const char *k)
{
	size_t n = strlen(k);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, k, n);
}

/* One side of a book: an array of [price, qty]. */
static void
pack_levels(msgpack_packer *pk, const struct ev_book *b, int side)
{
	size_t first = side == 0 ? 0 : b->nbids, n = side == 0 ? b->nbids : b->nasks;

	if (b->levels == NULL)
		n = 0;
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(pk, 2);
		pack_key(pk, b->levels[first + i].price);
		pack_key(pk, b->levels[first + i].qty);
	}
}

static void
pack_field(msgpack_packer *pk, const struct field *f, const void *base)
{
	const char *p = (const char *)base + f->off;
	const char *s;

	pack_key(pk, f->key);
	switch (f->kind) {
	case FK_STR:
	case FK_DEC:
		pack_key(pk, p);
		break;
	case FK_I64:
	case FK_I64N:
		msgpack_pack_int64(pk, *(const int64_t *)(const void *)p);
		break;
	case FK_BOOL:
		if (*(const bool *)(const void *)p)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	case FK_INT:
		msgpack_pack_int(pk, *(const int *)(const void *)p);
		break;
	case FK_U16:
		msgpack_pack_uint16(pk, *(const uint16_t *)(const void *)p);
		break;
	case FK_RAW:
		s = *(char *const *)(const void *)p;
		pack_key(pk, s ? s : "");
		break;
	case FK_LEVELS:
		pack_levels(pk, base, f->min);
		break;
	}
}

void
ev_pack(msgpack_packer *pk, const struct event *ev)
{
	unsigned t = ev->type < EV_TYPE_MAX ? ev->type : EV_TYPE_NONE;

	msgpack_pack_map(pk, NF(common_fields) + 1);
	/* seq, type and flags are not of the kinds their struct members are. */
	pack_key(pk, "n");
	msgpack_pack_uint64(pk, ev->seq);
	pack_key(pk, "t");
	msgpack_pack_uint8(pk, ev->type);
	pack_key(pk, "f");
	msgpack_pack_uint8(pk, ev->flags);
	for (size_t i = C_FLAGS + 1; i < NF(common_fields); i++)
		pack_field(pk, &common_fields[i], ev);
	pack_key(pk, "d");
	msgpack_pack_map(pk, payload[t].n);
	for (size_t i = 0; i < payload[t].n; i++)
		pack_field(pk, &payload[t].f[i], &ev->u);
}

/* --------------------------------------------------------------- unpacking */

static char ev_errbuf[200];

static int
fail(const char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev_errbuf, sizeof(ev_errbuf), fmt, ap);
	va_end(ap);
	*err = ev_errbuf;
	return -1;
}

/* Valid UTF-8 without NUL: PostgreSQL text takes neither invalid bytes nor NUL. */
static int
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else
			return 0;
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/*
 * A plain decimal: what exchanges send and what numeric takes without any
 * chance of overflow.  "" means absent.  No exponent, no spaces, no "+".
 */
static int
dec_ok(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (n == 0)
		return 1;
	if (s[0] == '-')
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		i++;
		digits++;
	}
	if (digits == 0)
		return 0;
	if (i == n)
		return 1;
	if (s[i++] != '.')
		return 0;
	digits = 0;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		i++;
		digits++;
	}
	return digits > 0 && i == n;
}

static int
obj_i64(const msgpack_object *o, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return -1;
		*v = (int64_t)o->via.u64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	return -1;
}

static const char *
kind_name(enum fkind k)
{
	switch (k) {
	case FK_STR:
	case FK_RAW:
		return "a string";
	case FK_DEC:
		return "a decimal string";
	case FK_I64:
	case FK_I64N:
	case FK_INT:
	case FK_U16:
		return "an integer";
	case FK_BOOL:
		return "a boolean";
	case FK_LEVELS:
		return "an array";
	}
	return "?";
}

/* Find key k among the n fields; -1 if unknown. */
static int
field_find(const struct field *f, size_t n, const msgpack_object *k)
{
	if (k->type != MSGPACK_OBJECT_STR)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strlen(f[i].key) == k->via.str.size &&
		    memcmp(f[i].key, k->via.str.ptr, k->via.str.size) == 0)
			return (int)i;
	return -1;
}

/* One [price, qty] of a book side into lv; "where" names the level. */
static int
unpack_level(const msgpack_object *o, struct ev_level *lv, const char *where, const char *key,
    uint32_t i, const char **err)
{
	const msgpack_object *e;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2)
		return fail(err, "%s%s[%u]: not a [price, qty] pair", where, key, i);
	for (int k = 0; k < 2; k++) {
		char *dst = k == 0 ? lv->price : lv->qty;

		e = &o->via.array.ptr[k];
		if (e->type != MSGPACK_OBJECT_STR)
			return fail(err, "%s%s[%u]: %s: not a decimal string", where, key, i,
			    k == 0 ? "price" : "qty");
		if (e->via.str.size >= EV_DEC)
			return fail(err, "%s%s[%u]: %s: string of %u bytes exceeds %d", where, key, i,
			    k == 0 ? "price" : "qty", e->via.str.size, EV_DEC - 1);
		if (memchr(e->via.str.ptr, '\0', e->via.str.size) != NULL)
			return fail(err, "%s%s[%u]: %s: not valid UTF-8 (or contains NUL)", where, key,
			    i, k == 0 ? "price" : "qty");
		memcpy(dst, e->via.str.ptr, e->via.str.size);
		dst[e->via.str.size] = '\0';
	}
	return 0;
}

/*
 * One side of a book (f->min: 0 bids, 1 asks) into book->levels, which
 * holds the bids first: the array is made anew with room for both sides,
 * the other side's levels (if already read) copied over.  At most
 * EV_BOOK_LEVELS_MAX levels; on failure book->levels is what it was (the
 * caller's ev_clear frees it).
 */
static int
unpack_levels(const struct field *f, const msgpack_object *o, struct ev_book *book,
    const char *where, const char **err)
{
	int side = f->min;
	uint32_t n;
	size_t other, total;
	struct ev_level *lv, *mine;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return fail(err, "%s%s: not an array", where, f->key);
	n = o->via.array.size;
	if (n > EV_BOOK_LEVELS_MAX)
		return fail(err, "%s%s: %u levels exceed %d", where, f->key, n, EV_BOOK_LEVELS_MAX);
	other = book->levels == NULL ? 0 : side == 0 ? book->nasks : book->nbids;
	total = n + other;
	if (total == 0) {
		if (side == 0)
			book->nbids = 0;
		else
			book->nasks = 0;
		return 0;
	}
	if ((lv = calloc(total, sizeof(*lv))) == NULL)
		return fail(err, "%s%s: out of memory", where, f->key);
	mine = side == 0 ? lv : lv + other;
	if (other > 0)
		memcpy(side == 0 ? lv + n : lv, book->levels, other * sizeof(*lv));
	for (uint32_t i = 0; i < n; i++)
		if (unpack_level(&o->via.array.ptr[i], &mine[i], where, f->key, i, err) == -1) {
			free(lv);
			return -1;
		}
	free(book->levels);
	book->levels = lv;
	if (side == 0) {
		book->nbids = (uint16_t)n;
		book->nasks = (uint16_t)other;
	} else {
		book->nbids = (uint16_t)other;
		book->nasks = (uint16_t)n;
	}
	return 0;
}

static int
unpack_field(const struct field *f, const msgpack_object *o, void *base, const char *where,
    const char **err)
{
	char *p = (char *)base + f->off;
	int64_t v;

	switch (f->kind) {
	case FK_STR:
	case FK_DEC:
	case FK_RAW:
		if (o->type != MSGPACK_OBJECT_STR)
			return fail(err, "%s%s: not %s", where, f->key, kind_name(f->kind));
		if (f->kind == FK_RAW ? o->via.str.size > EV_RAW_MAX : o->via.str.size >= f->size)
			return fail(err, "%s%s: string of %u bytes exceeds %zu", where, f->key,
			    o->via.str.size, f->kind == FK_RAW ? (size_t)EV_RAW_MAX : f->size - 1);
		/* A NUL inside would end the C string early: ev_validate could not see it. */
		if (memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
			return fail(err, "%s%s: not valid UTF-8 (or contains NUL)", where, f->key);
		if (f->kind == FK_RAW) {
			char *s = malloc(o->via.str.size + 1);

			if (s == NULL)
				return fail(err, "%s%s: out of memory", where, f->key);
			memcpy(s, o->via.str.ptr, o->via.str.size);
			s[o->via.str.size] = '\0';
			*(char **)(void *)p = s;
		} else {
			memcpy(p, o->via.str.ptr, o->via.str.size);
			p[o->via.str.size] = '\0';
		}
		return 0;
	case FK_I64:
	case FK_I64N:
		if (obj_i64(o, &v) == -1)
			return fail(err, "%s%s: not %s", where, f->key, kind_name(f->kind));
		*(int64_t *)(void *)p = v;
		return 0;
	case FK_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return fail(err, "%s%s: not a boolean", where, f->key);
		*(bool *)(void *)p = o->via.boolean;
		return 0;
	case FK_INT:
		if (obj_i64(o, &v) == -1)
			return fail(err, "%s%s: not an integer", where, f->key);
		if (v < INT32_MIN || v > INT32_MAX)
			return fail(err, "%s%s: %" PRId64 " is outside [%d, %d]", where, f->key,
			    v, f->min, f->max);
		*(int *)(void *)p = (int)v;
		return 0;
	case FK_U16:
		if (obj_i64(o, &v) == -1)
			return fail(err, "%s%s: not an integer", where, f->key);
		if (v < 0 || v > UINT16_MAX)
			return fail(err, "%s%s: %" PRId64 " is outside [%d, %d]", where, f->key,
			    v, f->min, f->max);
		*(uint16_t *)(void *)p = (uint16_t)v;
		return 0;
	case FK_LEVELS:
		return unpack_levels(f, o, base, where, err);
	}
	return fail(err, "%s%s: unknown field kind", where, f->key);
}

int
ev_symbol_ok(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c >= 0x80 || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* The content checks of ev_validate, for one table of fields at base. */
static int
validate_fields(const struct field *f, size_t n, const void *base, const char *where,
    const char **err)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = (const char *)base + f[i].off;
		size_t len;
		int v;

		switch (f[i].kind) {
		case FK_STR:
		case FK_DEC:
			if (memchr(p, '\0', f[i].size) == NULL)
				return fail(err, "%s%s: not NUL-terminated", where, f[i].key);
			len = strlen(p);
			if (f[i].key_field && len == 0)
				return fail(err, "%s%s: empty", where, f[i].key);
			if (!utf8_ok((const unsigned char *)p, len))
				return fail(err, "%s%s: not valid UTF-8 (or contains NUL)", where,
				    f[i].key);
			if (f[i].symbol && len > 0 && !ev_symbol_ok(p, len))
				return fail(err, "%s%s: \"%.*s\" is not a symbol", where, f[i].key,
				    (int)(len > 40 ? 40 : len), p);
			if (f[i].kind == FK_DEC && !dec_ok(p, len))
				return fail(err, "%s%s: \"%.*s\" is not a decimal", where, f[i].key,
				    (int)(len > 40 ? 40 : len), p);
			break;
		case FK_RAW:
			p = *(char *const *)(const void *)p;
			if (p == NULL)
				break;
			len = strlen(p);
			if (len > EV_RAW_MAX)
				return fail(err, "%s%s: string of %zu bytes exceeds %d", where, f[i].key,
				    len, EV_RAW_MAX);
			if (!utf8_ok((const unsigned char *)p, len))
				return fail(err, "%s%s: not valid UTF-8 (or contains NUL)", where,
				    f[i].key);
			break;
		case FK_INT:
			v = *(const int *)(const void *)p;
			if (v < f[i].min || v > f[i].max)
				return fail(err, "%s%s: %d is outside [%d, %d]", where, f[i].key, v,
				    f[i].min, f[i].max);
			break;
		case FK_U16:
			v = *(const uint16_t *)(const void *)p;
			if (v < f[i].min || v > f[i].max)
				return fail(err, "%s%s: %d is outside [%d, %d]", where, f[i].key, v,
				    f[i].min, f[i].max);
			break;
		case FK_I64:
		case FK_I64N:
		case FK_BOOL:
		case FK_LEVELS:		/* validate_book */
			break;
		}
	}
	return 0;
}

/*
 * The sign of a canonical decimal (dec_ok, not ""): -1, 0 or 1.  "-0" and
 * "0.000" are zero.
 */
static int
dec_sign(const char *s)
{
	int neg = *s == '-';

	for (s += neg; *s; s++)
		if (*s >= '1' && *s <= '9')
			return neg ? -1 : 1;
	return 0;
}

/*
 * Compare two non-negative canonical decimals (dec_ok, no sign) by value:
 * -1, 0, 1.  Leading zeros of the integer part and trailing zeros of the
 * fraction do not count ("01.50" == "1.5").
 */
static int
dec_cmp(const char *a, const char *b)
{
	const char *da, *db;
	size_t ia, ib;
	int c;

	while (*a == '0' && a[1] >= '0' && a[1] <= '9')
		a++;
	while (*b == '0' && b[1] >= '0' && b[1] <= '9')
		b++;
	ia = strcspn(a, ".");
	ib = strcspn(b, ".");
	if (ia != ib)
		return ia < ib ? -1 : 1;
	if ((c = memcmp(a, b, ia)) != 0)
		return c < 0 ? -1 : 1;
	da = a[ia] == '.' ? a + ia + 1 : a + ia;
	db = b[ib] == '.' ? b + ib + 1 : b + ib;
	while (*da || *db) {
		char ca = *da ? *da++ : '0', cb = *db ? *db++ : '0';

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return 0;
}

/* The 15 kline intervals Binance knows (FACTS §3); case matters (1m, 1M). */
static const char *const kline_intervals[] = {
	"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
	"1M",
};

int
ev_interval_ok(const char *s)
{
	for (size_t i = 0; i < NF(kline_intervals); i++)
		if (strcmp(s, kline_intervals[i]) == 0)
			return 1;
	return 0;
}

/*
 * A book: counts within the depth, every level a positive price and
 * quantity, bids strictly descending, asks strictly ascending, best bid
 * below best ask.  ev_validate has checked the other fields.
 */
static int
validate_book(const struct ev_book *b, const char **err)
{
	size_t n = (size_t)b->nbids + b->nasks;

	if (b->nbids > b->depth)
		return fail(err, "d.b: %u levels exceed the depth %u", b->nbids, b->depth);
	if (b->nasks > b->depth)
		return fail(err, "d.a: %u levels exceed the depth %u", b->nasks, b->depth);
	if (n > 0 && b->levels == NULL)
		return fail(err, "d.b: %zu levels without an array", n);
	for (size_t i = 0; i < n; i++) {
		const struct ev_level *lv = &b->levels[i];
		const char *key = i < b->nbids ? "b" : "a";
		size_t k = i < b->nbids ? i : i - b->nbids;

		for (int j = 0; j < 2; j++) {
			const char *v = j == 0 ? lv->price : lv->qty, *what = j == 0 ? "price" : "qty";
			size_t len;

			if (memchr(v, '\0', EV_DEC) == NULL)
				return fail(err, "d.%s[%zu]: %s: not NUL-terminated", key, k, what);
			len = strlen(v);
			if (len == 0 || !dec_ok(v, len))
				return fail(err, "d.%s[%zu]: %s: \"%.*s\" is not a decimal", key, k, what,
				    (int)(len > 40 ? 40 : len), v);
			if (dec_sign(v) <= 0)
				return fail(err, "d.%s[%zu]: %s: %s is not positive", key, k, what, v);
		}
		if (k > 0) {
			int c = dec_cmp(lv[-1].price, lv->price);

			if (i < b->nbids && c <= 0)
				return fail(err, "d.b[%zu]: price %s is not below %s (bids go best, "
				    "highest, first)", k, lv->price, lv[-1].price);
			if (i >= b->nbids && c >= 0)
				return fail(err, "d.a[%zu]: price %s is not above %s (asks go best, "
				    "lowest, first)", k, lv->price, lv[-1].price);
		}
	}
	if (b->nbids > 0 && b->nasks > 0 &&
	    dec_cmp(b->levels[0].price, b->levels[b->nbids].price) >= 0)
		return fail(err, "d: crossed book: best bid %s is not below best ask %s",
		    b->levels[0].price, b->levels[b->nbids].price);
	return 0;
}

/* What a market event's payload must hold beyond its fields' kinds. */
static int
validate_market(const struct event *ev, const char **err)
{
	switch (ev->type) {
	case EV_KLINE:
		if (!ev_interval_ok(ev->u.kline.interval))
			return fail(err, "d.i: \"%s\" is not a kline interval", ev->u.kline.interval);
		if (ev->u.kline.open_time >= ev->u.kline.close_time)
			return fail(err, "d.T: close time %" PRId64 " is not after open time %" PRId64,
			    ev->u.kline.close_time, ev->u.kline.open_time);
		if (ev->u.kline.trades < 0)
			return fail(err, "d.n: %" PRId64 " trades", ev->u.kline.trades);
		break;
	case EV_FUNDING:
		if (ev->u.funding.next_funding_time <= 0)
			return fail(err, "d.T: next funding time %" PRId64 " is not a time",
			    ev->u.funding.next_funding_time);
		break;
	case EV_TRADE:
		if (dec_sign(ev->u.trade.price) == 0)
			return fail(err, "d.p: a zero price is no trade");
		if (ev->u.trade.first_trade_id > ev->u.trade.last_trade_id)
			return fail(err, "d.f: first trade id %" PRId64 " is after the last %" PRId64,
			    ev->u.trade.first_trade_id, ev->u.trade.last_trade_id);
		break;
	case EV_BOOK:
		return validate_book(&ev->u.book, err);
	}
	return 0;
}

/* The flags of an event of type t: known, and those of one type only on it. */
static int
validate_flags(unsigned t, unsigned flags, const char **err)
{
	if (flags & ~(unsigned)EVF_ALL)
		return fail(err, "f: %u is not a known flag set", flags);
	for (size_t i = 0; i < NF(type_flags); i++)
		if ((flags & type_flags[i].flag) && t != type_flags[i].type)
			return fail(err, "f: the %s flag on an event of type %s", type_flags[i].name,
			    ev_type_name(t));
	return 0;
}

int
ev_validate(const struct event *ev, const char **err)
{
	unsigned t = ev->type;

	if (t == EV_TYPE_NONE || ev_type_name(t) == NULL)
		return fail(err, "t: %u is not a known type", t);
	if (validate_flags(t, ev->flags, err) == -1)
		return -1;
	/* Market data belongs to no account; everything else to one. */
	if (EV_IS_MARKET(t)) {
		if (ev->account_id != 0)
			return fail(err, "a: %" PRId64 " on a market event (must be 0)",
			    ev->account_id);
		if (ev->user_id != 0)
			return fail(err, "u: %" PRId64 " on a market event (must be 0)", ev->user_id);
	} else if (ev->account_id <= 0)
		return fail(err, "a: %" PRId64 " is not an account", ev->account_id);
	/* seq, type and flags are checked above or are the sender's own. */
	if (validate_fields(common_fields + C_FLAGS + 1, NF(common_fields) - C_FLAGS - 1, ev, "",
	    err) == -1)
		return -1;
	if (validate_fields(payload[t].f, payload[t].n, &ev->u, "d.", err) == -1)
		return -1;
	return EV_IS_MARKET(t) ? validate_market(ev, err) : 0;
}

/* Fields of a map against a table: every one present once, nothing else. */
static int
unpack_map(const msgpack_object *map, const struct field *f, size_t n, void *base,
    const char *where, const char **err)
{
	uint32_t seen = 0;

	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		int k = field_find(f, n, &kv->key);

		if (k == -1) {
			if (kv->key.type != MSGPACK_OBJECT_STR)
				return fail(err, "%.*s: key %u is not a string", (int)strlen(where) - 1,
				    where, i);
			return fail(err, "%.*s: unknown key \"%.*s\"", (int)strlen(where) - 1, where,
			    (int)(kv->key.via.str.size > 32 ? 32 : kv->key.via.str.size),
			    kv->key.via.str.ptr);
		}
		if (seen & (1u << k))
			return fail(err, "%s%s: key repeated", where, f[k].key);
		seen |= 1u << k;
		if (unpack_field(&f[k], &kv->val, base, where, err) == -1)
			return -1;
	}
	for (size_t k = 0; k < n; k++)
		if (!(seen & (1u << k)))
			return fail(err, "%s%s: missing", where, f[k].key);
	return 0;
}

/* The event's sequence number, if its map has a readable one; else 0. */
static uint64_t
unpack_seq(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return 0;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 1 &&
		    kv->key.via.str.ptr[0] == 'n')
			return kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER ? kv->val.via.u64 : 0;
	}
	return 0;
}

static int unpack_event(const msgpack_object *, struct event *, const char **);

int
ev_unpack(const msgpack_object *o, struct event *ev, const char **err)
{
	memset(ev, 0, sizeof(*ev));
	if (unpack_event(o, ev, err) == -1) {
		ev_clear(ev);
		memset(ev, 0, sizeof(*ev));
		ev->seq = unpack_seq(o);
		return -1;
	}
	if (ev_validate(ev, err) == -1) {
		uint64_t seq = ev->seq;

		ev_clear(ev);
		memset(ev, 0, sizeof(*ev));
		ev->seq = seq;
		return -1;
	}
	return 0;
}

static int
unpack_event(const msgpack_object *o, struct event *ev, const char **err)
{
	const msgpack_object *d = NULL;
	struct event tmp;
	uint32_t seen = 0;
	char where[32];
	int64_t v;
	int t = -1;

	if (o->type != MSGPACK_OBJECT_MAP)
		return fail(err, "event is not a map");
	memset(&tmp, 0, sizeof(tmp));
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		int k;

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 1 &&
		    kv->key.via.str.ptr[0] == 'd') {
			if (d != NULL)
				return fail(err, "d: key repeated");
			if (kv->val.type != MSGPACK_OBJECT_MAP)
				return fail(err, "d: not a map");
			d = &kv->val;
			continue;
		}
		if ((k = field_find(common_fields, NF(common_fields), &kv->key)) == -1) {
			if (kv->key.type != MSGPACK_OBJECT_STR)
				return fail(err, "key %u is not a string", i);
			return fail(err, "unknown key \"%.*s\"",
			    (int)(kv->key.via.str.size > 32 ? 32 : kv->key.via.str.size),
			    kv->key.via.str.ptr);
		}
		if (seen & (1u << k))
			return fail(err, "%s: key repeated", common_fields[k].key);
		seen |= 1u << k;
		switch (k) {
		case C_SEQ:
			if (kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				return fail(err, "n: not an unsigned integer");
			tmp.seq = kv->val.via.u64;
			break;
		case C_TYPE:
		case C_FLAGS:
			if (obj_i64(&kv->val, &v) == -1)
				return fail(err, "%s: not an integer", common_fields[k].key);
			if (v < common_fields[k].min || v > common_fields[k].max ||
			    (k == C_TYPE && ev_type_name((unsigned)v) == NULL))
				return fail(err, "%s: %" PRId64 " is not a known %s",
				    common_fields[k].key, v, k == C_TYPE ? "type" : "flag set");
			if (k == C_TYPE)
				t = (int)v;
			else
				tmp.flags = (uint8_t)v;
			break;
		default:
			if (unpack_field(&common_fields[k], &kv->val, &tmp, "", err) == -1)
				return -1;
		}
	}
	for (size_t k = 0; k < NF(common_fields); k++)
		if (!(seen & (1u << k)))
			return fail(err, "%s: missing", common_fields[k].key);
	if (d == NULL)
		return fail(err, "d: missing");
	if (tmp.id[0] == '\0')
		return fail(err, "id: empty");
	if (validate_flags((unsigned)t, tmp.flags, err) == -1)
		return -1;
	tmp.type = (uint8_t)t;
	snprintf(where, sizeof(where), "d.");
	if (unpack_map(d, payload[t].f, payload[t].n, &tmp.u, where, err) == -1) {
		ev_clear(&tmp);
		return -1;
	}
	*ev = tmp;
	return 0;
}

/* -------------------------------------------------------------------- JSON */


/*
 * The writers below reserve once and copy, then end with the NUL strbuf
 * keeps: ev_json_put runs for every event (event_log, Kafka, the market
 * worker's thousands a second), so no per-character call and no printf.
 */

/* n bytes of s as they are (no escaping). */
static inline void
jb_raw(struct strbuf *b, const char *s, size_t n)
{
	if (b->cap - b->len <= n && strbuf_reserve(b, n) == -1)
		return;
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* One byte, as jb_raw. */
static inline void
jb_char(struct strbuf *b, char c)
{
	if (b->cap - b->len <= 1 && strbuf_reserve(b, 1) == -1)
		return;
	if (b->oom)
		return;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

/* A JSON string: '"' and '\\' escaped, control characters as \\u00XX. */
static void
jb_str(struct strbuf *b, const char *s)
{
	const char *run = s;
	size_t n = 0;

	while (s[n] != '\0' && s[n] != '"' && s[n] != '\\' && (unsigned char)s[n] >= 0x20)
		n++;
	if (s[n] == '\0') {
		/* Nothing to escape (decimals, symbols, ids: nearly always). */
		if (b->cap - b->len <= n + 2 && strbuf_reserve(b, n + 2) == -1)
			return;
		if (b->oom)
			return;
		b->p[b->len] = '"';
		memcpy(b->p + b->len + 1, s, n);
		b->p[b->len + 1 + n] = '"';
		b->len += n + 2;
		b->p[b->len] = '\0';
		return;
	}
	jb_char(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		jb_raw(b, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jb_raw(b, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			jb_raw(b, esc, 6);
		}
	}
	jb_raw(b, run, (size_t)(s - run));
	jb_char(b, '"');
}

static void
jb_bool(struct strbuf *b, int v)
{
	if (v)
		jb_raw(b, "true", 4);
	else
		jb_raw(b, "false", 5);
}

/* ,"k": (the comma from the second member on); k is one of our own names. */
static void
jb_key(struct strbuf *b, const char *k)
{
	size_t n = strlen(k);

	if (b->cap - b->len <= n + 4 && strbuf_reserve(b, n + 4) == -1)
		return;
	if (b->oom)
		return;
	/* The first member of an object (which may be appended to other text) has no comma. */
	if (b->len > 0 && b->p[b->len - 1] != '{')
		b->p[b->len++] = ',';
	b->p[b->len++] = '"';
	memcpy(b->p + b->len, k, n);
	b->len += n;
	b->p[b->len++] = '"';
	b->p[b->len++] = ':';
	b->p[b->len] = '\0';
}

/* A decimal integer, as printf's %" PRId64 " writes it. */
static void
jb_i64(struct strbuf *b, int64_t v)
{
	char num[24], *e = num + sizeof(num), *p = e;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	jb_raw(b, p, (size_t)(e - p));
}

/* A time in ms: the integer, or with EV_JSON_ISO_TIMES its ISO-8601 string (0: null). */
static void
jb_ms(struct strbuf *b, int64_t ms, int opts)
{
	char iso[27];

	if (!(opts & EV_JSON_ISO_TIMES)) {
		jb_i64(b, ms);
		return;
	}
	if (ms == 0) {
		jb_raw(b, "null", 4);
		return;
	}
	iso[0] = '"';
	ev_iso8601(ms, iso + 1);
	iso[25] = '"';
	jb_raw(b, iso, 26);
}

/* One side of a book: [["price","qty"],...]. */
static void
jb_levels(struct strbuf *b, const struct ev_book *book, int side)
{
	size_t first = side == 0 ? 0 : book->nbids, n = side == 0 ? book->nbids : book->nasks;

	if (book->levels == NULL)
		n = 0;
	jb_char(b, '[');
	for (size_t i = 0; i < n; i++) {
		jb_raw(b, i > 0 ? ",[" : "[", i > 0 ? 2 : 1);
		jb_str(b, book->levels[first + i].price);
		jb_char(b, ',');
		jb_str(b, book->levels[first + i].qty);
		jb_char(b, ']');
	}
	jb_char(b, ']');
}

int
ev_json_put(struct strbuf *out, const struct event *ev)
{
	return ev_json_put_opt(out, ev, 0);
}

int
ev_json_put_opt(struct strbuf *out, const struct event *ev, int opts)
{
	struct strbuf b = *out;		/* appended to; given back whatever happens */
	const char *name = ev_type_name(ev->type);
	const void *base = &ev->u;

	if (name == NULL)
		return -1;
	b.oom = 0;
	jb_char(&b, '{');
	jb_key(&b, "event_id");
	jb_str(&b, ev->id);
	jb_key(&b, "type");
	jb_str(&b, name);
	if (!EV_IS_MARKET(ev->type)) {
		/* Market data belongs to no account: its topics carry neither id. */
		jb_key(&b, "account_id");
		jb_i64(&b, ev->account_id);
		jb_key(&b, "user_id");
		jb_i64(&b, ev->user_id);
	}
	jb_key(&b, "exchange");
	jb_str(&b, ev->exchange);
	jb_key(&b, "event_time");
	jb_ms(&b, ev->event_time, opts);
	if (!(opts & EV_JSON_NO_RECV)) {
		jb_key(&b, "recv_us");
		jb_i64(&b, ev->recv_us);
	}
	jb_key(&b, "resync");
	jb_bool(&b, ev->flags & EVF_RESYNC);
	/* "lite" on every user-data type (as always); a market type's own flag on it only. */
	for (size_t i = 0; i < NF(type_flags); i++)
		if (type_flags[i].type == ev->type ||
		    (type_flags[i].flag == EVF_LITE && !EV_IS_MARKET(ev->type))) {
			jb_key(&b, type_flags[i].name);
			jb_bool(&b, ev->flags & type_flags[i].flag);
		}
	for (size_t i = 0; i < payload[ev->type].n; i++) {
		const struct field *f = &payload[ev->type].f[i];
		const char *p = (const char *)base + f->off;
		int iv;

		if (f->kind == FK_RAW)
			continue;	/* event_log.raw holds it; the payload stays small */
		jb_key(&b, f->json);
		switch (f->kind) {
		case FK_STR:
			jb_str(&b, p);
			break;
		case FK_DEC:
			/* Decimals stay strings (exact); an absent one is null. */
			if (*p == '\0')
				jb_raw(&b, "null", 4);
			else
				jb_str(&b, p);
			break;
		case FK_I64:
			if (f->ms)
				jb_ms(&b, *(const int64_t *)(const void *)p, opts);
			else
				jb_i64(&b, *(const int64_t *)(const void *)p);
			break;
		case FK_I64N:
			/* The member's "absent" value (event.h) is null. */
			if (*(const int64_t *)(const void *)p == f->min)
				jb_raw(&b, "null", 4);
			else if (f->ms)
				jb_ms(&b, *(const int64_t *)(const void *)p, opts);
			else
				jb_i64(&b, *(const int64_t *)(const void *)p);
			break;
		case FK_BOOL:
			jb_bool(&b, *(const bool *)(const void *)p);
			break;
		case FK_INT:
			/* -1 means "not part of this change". */
			iv = *(const int *)(const void *)p;
			if (iv < 0)
				jb_raw(&b, "null", 4);
			else if (f->max == 1)
				jb_bool(&b, iv);
			else
				jb_i64(&b, iv);
			break;
		case FK_U16:
			jb_i64(&b, *(const uint16_t *)(const void *)p);
			break;
		case FK_LEVELS:
			jb_levels(&b, base, f->min);
			break;
		case FK_RAW:
			break;
		}
	}
	jb_char(&b, '}');
	*out = b;
	return b.oom ? -1 : 0;
}

char *
ev_to_json(const struct event *ev)
{
	struct strbuf b = { NULL, 0, 0, 0 };

	if (ev_json_put(&b, ev) == -1) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
