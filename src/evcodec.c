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
	FK_BOOL,	/* bool */
	FK_INT,		/* int within [min, max] */
	FK_RAW		/* char *, malloc'd (ev_unknown.raw) */
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
};

#define S(t, f, k, j)	{ k, j, FK_STR, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 0, 0 }
#define K(t, f, k, j)	{ k, j, FK_STR, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 1, 0 }
#define KSYM(t, f, k, j) { k, j, FK_STR, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 1, 1 }
#define SSYM(t, f, k, j) { k, j, FK_STR, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 0, 1 }
#define DEC(t, f, k, j)	{ k, j, FK_DEC, offsetof(struct t, f), sizeof(((struct t *)0)->f), 0, 0, 0, 0 }
#define I64(t, f, k, j)	{ k, j, FK_I64, offsetof(struct t, f), 0, 0, 0, 0, 0 }
#define B(t, f, k, j)	{ k, j, FK_BOOL, offsetof(struct t, f), 0, 0, 0, 0, 0 }
#define INT(t, f, k, j, lo, hi)	{ k, j, FK_INT, offsetof(struct t, f), 0, lo, hi, 0, 0 }
#define RAW(t, f, k, j)	{ k, j, FK_RAW, offsetof(struct t, f), 0, 0, 0, 0, 0 }

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
	I64(ev_order, update_time, "T", "update_time"),
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
	I64(ev_fill, time, "T", "trade_time"),
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
	I64(ev_algo, update_time, "T", "update_time"),
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
	I64(ev_position, update_time, "T", "update_time"),
};

static const struct field balance_fields[] = {
	K(ev_balance, asset, "a", "asset"),
	DEC(ev_balance, wallet, "wb", "wallet_balance"),
	DEC(ev_balance, cross_wallet, "cw", "cross_wallet"),
	DEC(ev_balance, change, "bc", "balance_change"),
	S(ev_balance, reason, "m", "reason"),
	I64(ev_balance, update_time, "T", "update_time"),
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
	I64(ev_config, update_time, "T", "update_time"),
};

static const struct field unknown_fields[] = {
	K(ev_unknown, name, "e", "name"),
	RAW(ev_unknown, raw, "raw", "raw"),
};

static const struct field gap_fields[] = {
	B(ev_gap, heal, "h", "heal"),
	I64(ev_gap, since, "s", "since"),
	I64(ev_gap, at_us, "at", "at_us"),
	I64(ev_gap, until, "u", "until"),
	S(ev_gap, reason, "r", "reason"),
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
};

/* The common part: offsets from struct event. */
static const struct field common_fields[] = {
	{ "n", "seq", FK_I64, offsetof(struct event, seq), 0, 0, 0, 0, 0 },
	{ "t", "type", FK_INT, offsetof(struct event, type), 0, 1, EV_TYPE_MAX - 1, 0, 0 },
	{ "f", "flags", FK_INT, offsetof(struct event, flags), 0, 0, EVF_RESYNC | EVF_LITE, 0, 0 },
	I64(event, account_id, "a", "account_id"),
	I64(event, user_id, "u", "user_id"),
	K(event, exchange, "x", "exchange"),
	I64(event, event_time, "E", "event_time"),
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
	case FK_RAW:
		s = *(char *const *)(const void *)p;
		pack_key(pk, s ? s : "");
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
	case FK_INT:
		return "an integer";
	case FK_BOOL:
		return "a boolean";
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
		case FK_I64:
		case FK_BOOL:
			break;
		}
	}
	return 0;
}

int
ev_validate(const struct event *ev, const char **err)
{
	unsigned t = ev->type;

	if (t == EV_TYPE_NONE || ev_type_name(t) == NULL)
		return fail(err, "t: %u is not a known type", t);
	if (ev->flags & ~(EVF_RESYNC | EVF_LITE))
		return fail(err, "f: %u is not a known flag set", ev->flags);
	if ((ev->flags & EVF_LITE) && t != EV_FILL)
		return fail(err, "f: the lite flag on an event of type %s", ev_type_name(t));
	/* seq, type and flags are checked above or are the sender's own. */
	if (validate_fields(common_fields + C_FLAGS + 1, NF(common_fields) - C_FLAGS - 1, ev, "",
	    err) == -1)
		return -1;
	return validate_fields(payload[t].f, payload[t].n, &ev->u, "d.", err);
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
	if ((tmp.flags & EVF_LITE) && t != EV_FILL)
		return fail(err, "f: the lite flag on an event of type %s",
		    ev_type_name((unsigned)t));
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


static void
jb_str(struct strbuf *b, const char *s)
{
	const char *run = s;

	strbuf_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		strbuf_put(b, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			strbuf_put(b, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			strbuf_put(b, esc, 6);
		}
	}
	strbuf_put(b, run, (size_t)(s - run));
	strbuf_put(b, "\"", 1);
}

static void
jb_key(struct strbuf *b, const char *k)
{
	if (b->len > 1)
		strbuf_put(b, ",", 1);
	jb_str(b, k);
	strbuf_put(b, ":", 1);
}

static void
jb_i64(struct strbuf *b, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRId64, v);
	strbuf_puts(b, num);
}

char *
ev_to_json(const struct event *ev)
{
	struct strbuf b = { NULL, 0, 0, 0 };
	const char *name = ev_type_name(ev->type);
	const void *base = &ev->u;

	if (name == NULL)
		return NULL;
	strbuf_put(&b, "{", 1);
	jb_key(&b, "event_id");
	jb_str(&b, ev->id);
	jb_key(&b, "type");
	jb_str(&b, name);
	jb_key(&b, "account_id");
	jb_i64(&b, ev->account_id);
	jb_key(&b, "user_id");
	jb_i64(&b, ev->user_id);
	jb_key(&b, "exchange");
	jb_str(&b, ev->exchange);
	jb_key(&b, "event_time");
	jb_i64(&b, ev->event_time);
	jb_key(&b, "recv_us");
	jb_i64(&b, ev->recv_us);
	jb_key(&b, "resync");
	strbuf_puts(&b, ev->flags & EVF_RESYNC ? "true" : "false");
	jb_key(&b, "lite");
	strbuf_puts(&b, ev->flags & EVF_LITE ? "true" : "false");
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
				strbuf_puts(&b, "null");
			else
				jb_str(&b, p);
			break;
		case FK_I64:
			jb_i64(&b, *(const int64_t *)(const void *)p);
			break;
		case FK_BOOL:
			strbuf_puts(&b, *(const bool *)(const void *)p ? "true" : "false");
			break;
		case FK_INT:
			/* -1 means "not part of this change". */
			iv = *(const int *)(const void *)p;
			if (iv < 0)
				strbuf_puts(&b, "null");
			else if (f->max == 1)
				strbuf_puts(&b, iv ? "true" : "false");
			else
				jb_i64(&b, iv);
			break;
		case FK_RAW:
			break;
		}
	}
	strbuf_put(&b, "}", 1);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
