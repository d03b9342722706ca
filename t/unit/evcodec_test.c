/* evcodec_test.c: the event's msgpack round trip for every type, malformed maps, JSON. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"

/* An event of each type with every field set to something distinctive. */
static void
sample(struct event *ev, unsigned type)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = 18446744073709551000ull;	/* above INT64_MAX: seq is unsigned */
	ev->type = (uint8_t)type;
	ev->flags = EVF_RESYNC;
	ev->account_id = 42;
	ev->user_id = 9007199254740993LL;	/* 2^53 + 1: not exact as a double */
	strcpy(ev->exchange, "binance-futures");
	ev->event_time = 1700000000123;
	ev->recv_us = 1700000000123456;
	switch (type) {
	case EV_ORDER:
		ev->u.order.order_id = 8886774;
		strcpy(ev->u.order.symbol, "BTCUSDT");
		strcpy(ev->u.order.client_id, "web_\"quoted\"\\back");
		strcpy(ev->u.order.side, "SELL");
		strcpy(ev->u.order.position_side, "BOTH");
		strcpy(ev->u.order.type, "LIMIT");
		strcpy(ev->u.order.orig_type, "LIMIT");
		strcpy(ev->u.order.tif, "GTC");
		strcpy(ev->u.order.exec_type, "TRADE");
		strcpy(ev->u.order.status, "PARTIALLY_FILLED");
		strcpy(ev->u.order.price, "65000.10");
		strcpy(ev->u.order.avg_price, "64999.9");
		strcpy(ev->u.order.stop_price, "0");
		strcpy(ev->u.order.orig_qty, "0.010");
		strcpy(ev->u.order.filled_qty, "0.004");
		ev->u.order.reduce_only = true;
		ev->u.order.update_time = 1700000000100;
		break;
	case EV_FILL:
		ev->flags = EVF_LITE;
		ev->u.fill.trade_id = 123456789;
		ev->u.fill.order_id = 8886774;
		strcpy(ev->u.fill.symbol, "ETHUSDT");
		strcpy(ev->u.fill.side, "BUY");
		strcpy(ev->u.fill.price, "3000.5");
		strcpy(ev->u.fill.qty, "1.25");
		ev->u.fill.maker = true;
		ev->u.fill.time = 1700000000099;
		break;
	case EV_ALGO:
		ev->u.algo.algo_id = 2000000001;
		strcpy(ev->u.algo.client_id, "algo-é-ü");
		strcpy(ev->u.algo.algo_type, "CONDITIONAL");
		strcpy(ev->u.algo.type, "TAKE_PROFIT");
		strcpy(ev->u.algo.symbol, "BNBUSDT");
		strcpy(ev->u.algo.side, "SELL");
		strcpy(ev->u.algo.position_side, "LONG");
		strcpy(ev->u.algo.tif, "GTE_GTC");
		strcpy(ev->u.algo.qty, "0.02");
		strcpy(ev->u.algo.status, "TRIGGERED");
		strcpy(ev->u.algo.actual_order_id, "99887766");
		strcpy(ev->u.algo.avg_price, "0");
		strcpy(ev->u.algo.filled_qty, "0");
		strcpy(ev->u.algo.trigger_price, "700.5");
		strcpy(ev->u.algo.price, "701");
		ev->u.algo.close_position = true;
		strcpy(ev->u.algo.reject_reason, "NONE");
		ev->u.algo.update_time = 1700000000555;
		break;
	case EV_POSITION:
		strcpy(ev->u.position.symbol, "BTCUSDT");
		strcpy(ev->u.position.position_side, "SHORT");
		strcpy(ev->u.position.amount, "-0.004");
		strcpy(ev->u.position.entry_price, "65000.1");
		strcpy(ev->u.position.breakeven_price, "65010.2");
		strcpy(ev->u.position.unrealized_pnl, "-1.23456789");
		strcpy(ev->u.position.margin_type, "isolated");
		strcpy(ev->u.position.isolated_wallet, "12.5");
		strcpy(ev->u.position.margin_asset, "USDT");
		ev->u.position.update_time = 1700000000100;
		break;
	case EV_BALANCE:
		strcpy(ev->u.balance.asset, "USDT");
		strcpy(ev->u.balance.wallet, "10000.12345678");
		strcpy(ev->u.balance.cross_wallet, "9990");
		strcpy(ev->u.balance.change, "-0.5");
		strcpy(ev->u.balance.reason, "ORDER");
		ev->u.balance.update_time = 1700000000100;
		break;
	case EV_MARGIN_CALL:
		strcpy(ev->u.margin_call.cross_wallet, "3.16812045");
		strcpy(ev->u.margin_call.symbol, "ETHUSDT");
		strcpy(ev->u.margin_call.position_side, "LONG");
		strcpy(ev->u.margin_call.amount, "1.327");
		strcpy(ev->u.margin_call.margin_type, "CROSSED");
		strcpy(ev->u.margin_call.isolated_wallet, "0");
		strcpy(ev->u.margin_call.mark_price, "187.17127");
		strcpy(ev->u.margin_call.unrealized_pnl, "-1.166074");
		strcpy(ev->u.margin_call.maint_margin, "1.614445");
		break;
	case EV_CONFIG:
		strcpy(ev->u.config.symbol, "BTCUSDT");
		ev->u.config.leverage = 25;
		ev->u.config.multi_assets = -1;
		ev->u.config.update_time = 1700000000100;
		break;
	case EV_UNKNOWN:
		strcpy(ev->u.unknown.name, "STRATEGY_UPDATE");
		ev->u.unknown.raw = strdup("{\"e\":\"STRATEGY_UPDATE\",\"E\":1}");
		break;
	case EV_GAP:
		ev->u.gap.heal = true;
		ev->u.gap.since = 1700000000000;
		ev->u.gap.at_us = 1700000000999999;
		ev->u.gap.until = 1700000005000;
		strcpy(ev->u.gap.reason, "connection lost");
		break;
	}
	ev_make_id(ev);
}

struct packed {
	msgpack_sbuffer		 sb;
	msgpack_unpacked	 u;
};

static msgpack_object *
pack(struct packed *p, const struct event *ev)
{
	msgpack_packer pk;
	size_t off = 0;

	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
	ev_pack(&pk, ev);
	msgpack_unpacked_init(&p->u);
	cr_assert_eq(msgpack_unpack_next(&p->u, p->sb.data, p->sb.size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(off, p->sb.size, "one event is exactly one msgpack object");
	return &p->u.data;
}

static void
packed_free(struct packed *p)
{
	msgpack_unpacked_destroy(&p->u);
	msgpack_sbuffer_destroy(&p->sb);
}

static msgpack_object *
val(msgpack_object *map, const char *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->via.str.size == strlen(key) && memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &map->via.map.ptr[i].val;
	}
	cr_assert_fail("no key %s", key);
	return NULL;
}

static msgpack_object_kv *
kv(msgpack_object *map, const char *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->via.str.size == strlen(key) && memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &map->via.map.ptr[i];
	}
	cr_assert_fail("no key %s", key);
	return NULL;
}

static void
set_str(msgpack_object *o, const char *s, size_t n)
{
	o->type = MSGPACK_OBJECT_STR;
	o->via.str.ptr = s;
	o->via.str.size = (uint32_t)n;
}

static void
set_int(msgpack_object *o, int64_t v)
{
	if (v >= 0) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = (uint64_t)v;
	} else {
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = v;
	}
}

Test(evcodec, every_type_round_trips_exactly)
{
	for (unsigned t = EV_ORDER; t < EV_TYPE_MAX; t++) {
		struct event in, out;
		struct packed p;
		const char *err = NULL;

		sample(&in, t);
		cr_assert_eq(ev_unpack(pack(&p, &in), &out, &err), 0, "type %s: %s",
		    ev_type_name(t), err);
		if (t == EV_UNKNOWN) {
			cr_assert_str_eq(out.u.unknown.raw, in.u.unknown.raw);
			cr_assert_neq(out.u.unknown.raw, in.u.unknown.raw, "raw is a copy");
			free(out.u.unknown.raw);
			out.u.unknown.raw = in.u.unknown.raw;
		}
		cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0, "type %s differs after the round trip",
		    ev_type_name(t));
		cr_assert_eq(out.seq, 18446744073709551000ull);
		ev_clear(&in);
		packed_free(&p);
	}
}

Test(evcodec, strings_at_the_size_limit_pass_and_one_more_byte_fails)
{
	char sym[EV_SYM + 1];
	struct event in, out;
	struct packed p;
	const char *err = NULL;
	msgpack_object *o;

	sample(&in, EV_ORDER);
	memset(sym, 'A', EV_SYM - 1);
	sym[EV_SYM - 1] = '\0';
	strcpy(in.u.order.symbol, sym);
	cr_assert_eq(ev_unpack(pack(&p, &in), &out, &err), 0, "%s", err);
	cr_assert_str_eq(out.u.order.symbol, sym);
	packed_free(&p);

	o = pack(&p, &in);
	memset(sym, 'A', EV_SYM);
	set_str(val(val(o, "d"), "s"), sym, EV_SYM);
	cr_assert_eq(ev_unpack(o, &out, &err), -1);
	cr_assert_str_eq(err, "d.s: string of 32 bytes exceeds 31");
	packed_free(&p);
}

/* Each case: type, path ("key" or "d.key"), what to do, expected error. */
enum mut { M_STR, M_INT, M_BOOL, M_NIL, M_DROP, M_RENAME, M_DUP };
static const struct malformed {
	unsigned	 type;
	const char	*path;
	enum mut	 m;
	const char	*s;
	int64_t		 i;
	const char	*err;
} cases[] = {
	{ EV_ORDER, "t", M_INT, NULL, 0, "t: 0 is not a known type" },
	{ EV_ORDER, "t", M_INT, NULL, EV_TYPE_MAX, "t: 10 is not a known type" },
	{ EV_ORDER, "t", M_STR, "order", 0, "t: not an integer" },
	{ EV_ORDER, "f", M_INT, NULL, 4, "f: 4 is not a known flag set" },
	{ EV_ORDER, "f", M_INT, NULL, EVF_LITE, "f: the lite flag on an event of type order" },
	{ EV_ORDER, "n", M_INT, NULL, -1, "n: not an unsigned integer" },
	{ EV_ORDER, "a", M_STR, "42", 0, "a: not an integer" },
	{ EV_ORDER, "id", M_STR, "", 0, "id: empty" },
	{ EV_ORDER, "id", M_DROP, NULL, 0, "id: missing" },
	{ EV_ORDER, "d", M_DROP, NULL, 0, "d: missing" },
	{ EV_ORDER, "d", M_INT, NULL, 1, "d: not a map" },
	{ EV_ORDER, "x", M_RENAME, "zz", 0, "unknown key \"zz\"" },
	{ EV_ORDER, "x", M_DUP, "a", 0, "a: key repeated" },
	{ EV_ORDER, "d.p", M_STR, "1e5", 0, "d.p: \"1e5\" is not a decimal" },
	{ EV_ORDER, "d.p", M_STR, "1.", 0, "d.p: \"1.\" is not a decimal" },
	{ EV_ORDER, "d.p", M_STR, ".5", 0, "d.p: \".5\" is not a decimal" },
	{ EV_ORDER, "d.p", M_STR, "--1", 0, "d.p: \"--1\" is not a decimal" },
	{ EV_ORDER, "d.p", M_STR, "NaN", 0, "d.p: \"NaN\" is not a decimal" },
	{ EV_ORDER, "d.z", M_STR, " 1", 0, "d.z: \" 1\" is not a decimal" },
	{ EV_ORDER, "d.p", M_INT, NULL, 5, "d.p: not a decimal string" },
	{ EV_ORDER, "d.T", M_STR, "1700000000100", 0, "d.T: not an integer" },
	{ EV_ORDER, "d.R", M_INT, NULL, 1, "d.R: not a boolean" },
	{ EV_ORDER, "d.s", M_STR, "BTC\xff", 0, "d.s: not valid UTF-8 (or contains NUL)" },
	{ EV_ORDER, "d.s", M_STR, "\xc0\xaf", 0, "d.s: not valid UTF-8 (or contains NUL)" },
	{ EV_ORDER, "d.s", M_NIL, NULL, 0, "d.s: not a string" },
	{ EV_ORDER, "d.X", M_DROP, NULL, 0, "d.X: missing" },
	{ EV_ORDER, "d.X", M_RENAME, "Q", 0, "d: unknown key \"Q\"" },
	{ EV_ORDER, "d.X", M_DUP, "x", 0, "d.x: key repeated" },
	{ EV_FILL, "d.t", M_INT, NULL, -1, NULL },		/* a negative id is still an integer */
	{ EV_FILL, "d.m", M_STR, "true", 0, "d.m: not a boolean" },
	{ EV_CONFIG, "d.l", M_INT, NULL, 100001, "d.l: 100001 is outside [-1, 100000]" },
	{ EV_CONFIG, "d.j", M_INT, NULL, 2, "d.j: 2 is outside [-1, 1]" },
	{ EV_CONFIG, "d.j", M_INT, NULL, -2, "d.j: -2 is outside [-1, 1]" },
	{ EV_UNKNOWN, "d.raw", M_INT, NULL, 7, "d.raw: not a string" },
	{ EV_UNKNOWN, "d.e", M_DROP, NULL, 0, "d.e: missing" },
	{ EV_BALANCE, "d.wb", M_STR, "12,5", 0, "d.wb: \"12,5\" is not a decimal" },
	{ EV_MARGIN_CALL, "d.pa", M_BOOL, NULL, 0, "d.pa: not a decimal string" },
};

Test(evcodec, malformed_maps_are_refused_with_a_precise_reason)
{
	static const char nul_str[] = { 'B', 0, 'C' };

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct malformed *m = &cases[c];
		struct event in, out;
		struct packed p;
		msgpack_object *top, *map, *o;
		msgpack_object_kv *k;
		const char *key = m->path, *err = NULL;
		int r;

		sample(&in, m->type);
		top = map = pack(&p, &in);
		if (strncmp(key, "d.", 2) == 0) {
			map = val(top, "d");
			key += 2;
		}
		k = kv(map, key);
		o = &k->val;
		switch (m->m) {
		case M_STR:
			set_str(o, m->s, strlen(m->s));
			break;
		case M_INT:
			set_int(o, m->i);
			break;
		case M_BOOL:
			o->type = MSGPACK_OBJECT_BOOLEAN;
			o->via.boolean = true;
			break;
		case M_NIL:
			o->type = MSGPACK_OBJECT_NIL;
			break;
		case M_DROP:
			*k = map->via.map.ptr[map->via.map.size - 1];
			map->via.map.size--;
			break;
		case M_RENAME:
			set_str(&k->key, m->s, strlen(m->s));
			break;
		case M_DUP:
			set_str(&k->key, m->s, strlen(m->s));
			break;
		}
		r = ev_unpack(top, &out, &err);
		if (m->err == NULL) {
			cr_assert_eq(r, 0, "case %zu (%s): %s", c, m->path, err);
			ev_clear(&out);
		} else {
			cr_assert_eq(r, -1, "case %zu (%s) was accepted", c, m->path);
			cr_assert_str_eq(err, m->err, "case %zu", c);
		}
		ev_clear(&in);
		packed_free(&p);
	}

	/* A NUL inside a string, and a map that is not one. */
	{
		struct event in, out;
		struct packed p;
		msgpack_object *top, nil = { .type = MSGPACK_OBJECT_NIL };
		const char *err = NULL;

		sample(&in, EV_POSITION);
		top = pack(&p, &in);
		set_str(val(val(top, "d"), "s"), nul_str, sizeof(nul_str));
		cr_assert_eq(ev_unpack(top, &out, &err), -1);
		cr_assert_str_eq(err, "d.s: not valid UTF-8 (or contains NUL)");
		cr_assert_eq(ev_unpack(&nil, &out, &err), -1);
		cr_assert_str_eq(err, "event is not a map");
		packed_free(&p);
	}
}

Test(evcodec, a_failed_unpack_of_an_unknown_event_leaks_nothing_and_clears_the_output)
{
	struct event in, out;
	struct packed p;
	msgpack_object *top;
	const char *err = NULL;

	sample(&in, EV_UNKNOWN);
	top = pack(&p, &in);
	/* Without e, raw is taken first and the failure comes after: raw must be freed. */
	{
		msgpack_object *d = val(top, "d");

		*kv(d, "e") = d->via.map.ptr[d->via.map.size - 1];
		d->via.map.size--;
	}
	memset(&out, 0x55, sizeof(out));
	cr_assert_eq(ev_unpack(top, &out, &err), -1);
	cr_assert_str_eq(err, "d.e: missing");
	cr_assert_eq(out.type, EV_TYPE_NONE, "the output is cleared on failure");
	ev_clear(&out);
	ev_clear(&in);
	packed_free(&p);
}

static json_t *
json_of(const struct event *ev)
{
	char *s = ev_to_json(ev);
	json_t *j;

	cr_assert_not_null(s);
	j = json_loads(s, 0, NULL);
	cr_assert_not_null(j, "not JSON: %s", s);
	free(s);
	return j;
}

static const char *
jstr(const json_t *j, const char *k)
{
	const json_t *v = json_object_get(j, k);

	cr_assert(json_is_string(v), "%s is not a string", k);
	return json_string_value(v);
}

/* Integers exact: ids beyond 2^53 must survive the JSON form too. */
static long long
jnum(const json_t *j, const char *k)
{
	const json_t *v = json_object_get(j, k);

	cr_assert(json_is_integer(v), "%s is not an integer", k);
	return json_integer_value(v);
}

Test(evcodec, json_keeps_decimals_as_strings_and_ids_as_integers)
{
	struct event ev;
	json_t *j;
	char *s;

	sample(&ev, EV_ORDER);
	j = json_of(&ev);
	cr_assert_str_eq(jstr(j, "event_id"), ev.id);
	cr_assert_str_eq(jstr(j, "type"), "order");
	cr_assert_str_eq(jstr(j, "price"), "65000.10", "decimals are not rounded through a double");
	cr_assert_str_eq(jstr(j, "orig_qty"), "0.010");
	cr_assert_str_eq(jstr(j, "client_order_id"), "web_\"quoted\"\\back");
	cr_assert_eq(jnum(j, "order_id"), 8886774);
	cr_assert_eq(jnum(j, "update_time"), 1700000000100LL);
	cr_assert(json_is_true(json_object_get(j, "resync")));
	cr_assert(json_is_false(json_object_get(j, "lite")));
	cr_assert(json_is_true(json_object_get(j, "reduce_only")));
	json_decref(j);
	/* Integers are printed exactly, beyond what a double holds. */
	s = ev_to_json(&ev);
	cr_assert(strstr(s, "\"user_id\":9007199254740993") != NULL, "%s", s);
	free(s);

	sample(&ev, EV_FILL);
	j = json_of(&ev);
	cr_assert(json_is_true(json_object_get(j, "lite")));
	cr_assert(json_is_null(json_object_get(j, "fee")),
	    "an absent decimal is null");
	cr_assert_str_eq(jstr(j, "position_side"), "");
	cr_assert_eq(jnum(j, "trade_id"), 123456789);
	json_decref(j);

	sample(&ev, EV_CONFIG);
	j = json_of(&ev);
	cr_assert_eq(jnum(j, "leverage"), 25);
	cr_assert(json_is_null(json_object_get(j, "multi_assets")),
	    "a setting not part of the change is null");
	json_decref(j);
	ev.u.config.leverage = -1;
	ev.u.config.multi_assets = 1;
	j = json_of(&ev);
	cr_assert(json_is_null(json_object_get(j, "leverage")));
	cr_assert(json_is_true(json_object_get(j, "multi_assets")));
	json_decref(j);

	sample(&ev, EV_UNKNOWN);
	j = json_of(&ev);
	cr_assert_str_eq(jstr(j, "name"), "STRATEGY_UPDATE");
	cr_assert_null(json_object_get(j, "raw"), "raw goes to its own column");
	json_decref(j);
	ev_clear(&ev);

	/* Control characters are escaped. */
	sample(&ev, EV_ALGO);
	strcpy(ev.u.algo.reject_reason, "line\nbreak\x01");
	j = json_of(&ev);
	cr_assert_str_eq(jstr(j, "reject_reason"), "line\nbreak\x01");
	cr_assert_str_eq(jstr(j, "client_algo_id"), "algo-é-ü");
	json_decref(j);

	memset(&ev, 0, sizeof(ev));
	cr_assert_null(ev_to_json(&ev), "no JSON for EV_TYPE_NONE");
}

/* A receiver can skip exactly the one bad event: its seq survives the failure. */
Test(evcodec, a_failed_unpack_keeps_the_sequence_number)
{
	struct event in, out;
	struct packed p;
	msgpack_object *o;
	const char *err;

	sample(&in, EV_ORDER);
	o = pack(&p, &in);
	set_str(val(val(o, "d"), "p"), "5,0", 3);
	cr_assert_eq(ev_unpack(o, &out, &err), -1);
	cr_assert_eq(out.seq, in.seq, "seq %llu", (unsigned long long)out.seq);
	cr_assert_eq(out.type, EV_TYPE_NONE);
	packed_free(&p);
	ev_clear(&in);
}

Test(evcodec, keys_the_writer_upserts_on_are_never_empty)
{
	static const struct {
		unsigned	 type;
		size_t		 off;
		const char	*err;
	} keys[] = {
		{ EV_ORDER, offsetof(struct event, u.order.symbol), "d.s: empty" },
		{ EV_FILL, offsetof(struct event, u.fill.symbol), "d.s: empty" },
		{ EV_ALGO, offsetof(struct event, u.algo.symbol), "d.s: empty" },
		{ EV_POSITION, offsetof(struct event, u.position.symbol), "d.s: empty" },
		{ EV_POSITION, offsetof(struct event, u.position.position_side), "d.ps: empty" },
		{ EV_BALANCE, offsetof(struct event, u.balance.asset), "d.a: empty" },
		{ EV_ORDER, offsetof(struct event, exchange), "x: empty" },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct event ev;
		const char *err;

		sample(&ev, keys[i].type);
		cr_assert_eq(ev_validate(&ev, &err), 0, "%s", err);
		((char *)&ev)[keys[i].off] = '\0';
		cr_assert_eq(ev_validate(&ev, &err), -1, "case %zu accepted", i);
		cr_assert_str_eq(err, keys[i].err);
		ev_clear(&ev);
	}
}

/*
 * One validation (DESIGN §3.6): for random events, whatever ev_validate
 * accepts the codec carries through unchanged, and whatever it refuses the
 * codec refuses too.  Text fields get random bytes (bad UTF-8, NUL cut),
 * decimals random characters from a small alphabet, integers random bounds.
 */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void
rnd_text(char *dst, size_t size)
{
	static const char *const pieces[] = { "A", "z", "0", ".", "-", "\xc3\xa9", "\xc3", "\xa9",
		"\xff", "\xe2\x82\xac", "\xed\xa0\x80", "\xf0\x9f\x98\x80", " ", "\"", "\\", "1" };
	size_t n = rnd() % 6, len = 0;

	memset(dst, 0, size);	/* the codec carries what is before the NUL only */
	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];

		if (len + strlen(p) + 1 > size)
			break;
		memcpy(dst + len, p, strlen(p));
		len += strlen(p);
	}
	dst[len] = '\0';
}

Test(evcodec, validation_and_codec_agree_on_random_events)
{
	unsigned accepted = 0, refused = 0;

	for (int iter = 0; iter < 20000; iter++) {
		unsigned t = EV_ORDER + (unsigned)(rnd() % (EV_TYPE_MAX - EV_ORDER));
		struct event in, out;
		struct packed p;
		const char *verr = NULL, *cerr = NULL;
		int v, c;

		sample(&in, t);
		switch (rnd() % 6) {
		case 0:
			rnd_text(in.u.order.symbol, sizeof(in.u.order.symbol));	/* order/fill/... text */
			break;
		case 1:
			rnd_text(in.u.position.amount, sizeof(in.u.position.amount));
			break;
		case 2:
			rnd_text(in.u.balance.wallet, sizeof(in.u.balance.wallet));
			break;
		case 3:
			if (t == EV_CONFIG)
				in.u.config.leverage = (int)(rnd() % 200003) - 100001;
			else
				rnd_text(in.id, sizeof(in.id));
			break;
		case 4:
			in.flags = (uint8_t)(rnd() % 5);
			break;
		default:
			rnd_text(in.exchange, sizeof(in.exchange));
			break;
		}
		v = ev_validate(&in, &verr);
		c = ev_unpack(pack(&p, &in), &out, &cerr);
		cr_assert_eq(v, c, "iteration %d, type %s: validate %d (%s), codec %d (%s)", iter,
		    ev_type_name(t), v, verr ? verr : "-", c, cerr ? cerr : "-");
		if (c == 0) {
			struct packed q;

			/* what the codec carries, compared as it carries it (padding aside) */
			pack(&q, &out);
			cr_assert_eq(q.sb.size, p.sb.size, "iteration %d: changed", iter);
			cr_assert_eq(memcmp(q.sb.data, p.sb.data, p.sb.size), 0, "iteration %d: changed",
			    iter);
			packed_free(&q);
			ev_clear(&out);
			accepted++;
		} else
			refused++;
		ev_clear(&in);
		packed_free(&p);
	}
	cr_assert_gt(accepted, 1000);
	cr_assert_gt(refused, 1000, "the generator must produce bad events too");
}
