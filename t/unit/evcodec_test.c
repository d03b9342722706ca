/* evcodec_test.c: the event's msgpack round trip for every type, malformed maps, JSON. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"

#include "evsample.h"

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
		if (t == EV_BOOK) {
			size_t n = (size_t)in.u.book.nbids + in.u.book.nasks;

			cr_assert_eq(out.u.book.nbids, 3);
			cr_assert_eq(out.u.book.nasks, 2);
			cr_assert_neq(out.u.book.levels, in.u.book.levels, "levels are a copy");
			/* every byte of every level, the bytes after each NUL included (calloc'd both) */
			cr_assert_eq(memcmp(out.u.book.levels, in.u.book.levels,
			    n * sizeof(struct ev_level)), 0, "book levels differ after the round trip");
			free(out.u.book.levels);
			out.u.book.levels = in.u.book.levels;
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
	{ EV_ORDER, "t", M_INT, NULL, EV_TYPE_MAX, "t: 18 is not a known type" },
	{ EV_ORDER, "t", M_STR, "order", 0, "t: not an integer" },
	{ EV_ORDER, "f", M_INT, NULL, 32, "f: 32 is not a known flag set" },
	{ EV_ORDER, "f", M_INT, NULL, EVF_MINI, "f: the mini flag on an event of type order" },
	{ EV_ORDER, "a", M_INT, NULL, 0, "a: 0 is not an account" },
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
	/* market data */
	{ EV_KLINE, "a", M_INT, NULL, 42, "a: 42 on a market event (must be 0)" },
	{ EV_TRADE, "u", M_INT, NULL, 7, "u: 7 on a market event (must be 0)" },
	{ EV_TRADE, "f", M_INT, NULL, EVF_PARTIAL, "f: the partial flag on an event of type trade" },
	{ EV_KLINE, "f", M_INT, NULL, EVF_AGG, "f: the agg flag on an event of type kline" },
	{ EV_BOOK, "f", M_INT, NULL, EVF_MINI, "f: the mini flag on an event of type book" },
	{ EV_KLINE, "d.i", M_STR, "2m", 0, "d.i: \"2m\" is not a kline interval" },
	{ EV_KLINE, "d.i", M_STR, "1H", 0, "d.i: \"1H\" is not a kline interval" },
	{ EV_KLINE, "d.i", M_STR, "", 0, "d.i: empty" },
	{ EV_KLINE, "d.i", M_STR, "1w", 0, NULL },
	{ EV_KLINE, "d.i", M_STR, "1day", 0, "d.i: string of 4 bytes exceeds 3" },
	{ EV_KLINE, "d.T", M_INT, NULL, 1699999980000,
	    "d.T: close time 1699999980000 is not after open time 1699999980000" },
	{ EV_KLINE, "d.o", M_STR, "", 0, "d.o: empty" },
	{ EV_KLINE, "d.n", M_INT, NULL, -1, "d.n: -1 trades" },
	{ EV_KLINE, "d.x", M_DROP, NULL, 0, "d.x: missing" },
	{ EV_MARK_PRICE, "d.p", M_STR, "", 0, "d.p: empty" },
	{ EV_MARK_PRICE, "d.ap", M_STR, "", 0, NULL },		/* mark_price_avg is optional */
	{ EV_FUNDING, "d.T", M_INT, NULL, 0, "d.T: next funding time 0 is not a time" },
	{ EV_FUNDING, "d.r", M_STR, "1e-4", 0, "d.r: \"1e-4\" is not a decimal" },
	{ EV_TICKER, "d.c", M_STR, "", 0, "d.c: empty" },
	{ EV_TICKER, "d.p", M_STR, "", 0, NULL },		/* "" with EVF_MINI */
	{ EV_TRADE, "d.p", M_STR, "0.000", 0, "d.p: a zero price is no trade" },
	{ EV_TRADE, "d.p", M_STR, "-0", 0, "d.p: a zero price is no trade" },
	{ EV_TRADE, "d.f", M_INT, NULL, 7000005,
	    "d.f: first trade id 7000005 is after the last 7000004" },
	{ EV_TRADE, "d.s", M_STR, "BTC&x=1", 0, "d.s: \"BTC&x=1\" is not a symbol" },
	{ EV_BOOK, "d.N", M_INT, NULL, 2, "d.b: 3 levels exceed the depth 2" },
	{ EV_BOOK, "d.N", M_INT, NULL, 0, "d.N: 0 is outside [1, 1000]" },
	{ EV_BOOK, "d.N", M_INT, NULL, 1001, "d.N: 1001 is outside [1, 1000]" },
	{ EV_BOOK, "d.N", M_INT, NULL, 70000, "d.N: 70000 is outside [1, 1000]" },
	{ EV_BOOK, "d.b", M_INT, NULL, 1, "d.b: not an array" },
	{ EV_BOOK, "d.a", M_STR, "x", 0, "d.a: not an array" },
	{ EV_BOOK, "d.a", M_DROP, NULL, 0, "d.a: missing" },
	{ EV_BOOK, "d.b", M_DUP, "a", 0, "d.a: key repeated" },
	{ EV_BOOK_TICKER, "d.A", M_STR, "", 0, "d.A: empty" },
	{ EV_LIQUIDATION, "d.S", M_DROP, NULL, 0, "d.S: missing" },
	{ EV_LIQUIDATION, "d.q", M_STR, "", 0, "d.q: empty" },
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

/*
 * A book's levels on the wire: each case sets one element of d.b or d.a
 * (side, index, price or qty) and expects the reason.  The sample book is
 * bids 65000.10 64999.9 64990, asks 65000.2 65001, depth 5.
 */
Test(evcodec, malformed_book_levels_are_refused_with_a_precise_reason)
{
	static const struct {
		const char	*side;
		uint32_t	 i;
		int		 qty;		/* 0 price, 1 qty */
		const char	*s;		/* NULL: make it an integer */
		const char	*err;
	} cases[] = {
		{ "b", 1, 0, "65000.1", "d.b[1]: price 65000.1 is not below 65000.10 (bids go best, "
		    "highest, first)" },
		{ "b", 2, 0, "65000", "d.b[2]: price 65000 is not below 64999.9 (bids go best, "
		    "highest, first)" },
		{ "a", 1, 0, "65000.20", "d.a[1]: price 65000.20 is not above 65000.2 (asks go best, "
		    "lowest, first)" },
		{ "a", 1, 0, "9999", "d.a[1]: price 9999 is not above 65000.2 (asks go best, "
		    "lowest, first)" },
		{ "a", 0, 0, "65000.1", "d: crossed book: best bid 65000.10 is not below best ask "
		    "65000.1" },
		{ "a", 0, 0, "64000", "d: crossed book: best bid 65000.10 is not below best ask "
		    "64000" },
		{ "a", 0, 0, "65001", "d.a[1]: price 65001 is not above 65001 (asks go best, "
		    "lowest, first)" },
		{ "b", 0, 0, "65000.3", "d: crossed book: best bid 65000.3 is not below best ask "
		    "65000.2" },
		{ "b", 0, 1, "0", "d.b[0]: qty: 0 is not positive" },
		{ "a", 1, 1, "0.000", "d.a[1]: qty: 0.000 is not positive" },
		{ "a", 1, 1, "-1", "d.a[1]: qty: -1 is not positive" },
		{ "b", 2, 0, "0", "d.b[2]: price: 0 is not positive" },
		{ "b", 2, 0, "1e3", "d.b[2]: price: \"1e3\" is not a decimal" },
		{ "b", 2, 0, ".5", "d.b[2]: price: \".5\" is not a decimal" },
		{ "a", 0, 1, "", "d.a[0]: qty: \"\" is not a decimal" },
		{ "a", 0, 1, NULL, "d.a[0]: qty: not a decimal string" },
		{ "b", 1, 0, "1234567890123456789012345678901234567890",
		    "d.b[1]: price: string of 40 bytes exceeds 39" },
		{ "b", 2, 0, "64990.00", NULL },	/* the same value written longer: still sorted */
		{ "a", 0, 0, "65000.11", NULL },	/* one tick above the best bid */
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct event in, out;
		struct packed p;
		msgpack_object *top, *lv;
		const char *err = NULL;
		int r;

		sample(&in, EV_BOOK);
		top = pack(&p, &in);
		lv = &val(val(top, "d"), cases[c].side)->via.array.ptr[cases[c].i].via.array.ptr[cases[c].qty];
		if (cases[c].s == NULL)
			set_int(lv, 5);
		else
			set_str(lv, cases[c].s, strlen(cases[c].s));
		r = ev_unpack(top, &out, &err);
		if (cases[c].err == NULL) {
			cr_assert_eq(r, 0, "case %zu: %s", c, err);
			ev_clear(&out);
		} else {
			cr_assert_eq(r, -1, "case %zu was accepted", c);
			cr_assert_str_eq(err, cases[c].err, "case %zu", c);
			cr_assert_null(out.u.book.levels, "case %zu: the output is cleared", c);
		}
		ev_clear(&in);
		packed_free(&p);
	}

	/* The shape of a side: a pair is an array of two, a side holds at most 1000. */
	{
		static msgpack_object pairs[1001], one[1], three[3];
		static msgpack_object_kv dummy;
		struct event in, out;
		struct packed p;
		msgpack_object *top, *side;
		const char *err = NULL;

		(void)dummy;
		sample(&in, EV_BOOK);
		top = pack(&p, &in);
		side = val(val(top, "d"), "a");
		side->via.array.ptr[1].via.array.size = 1;
		cr_assert_eq(ev_unpack(top, &out, &err), -1);
		cr_assert_str_eq(err, "d.a[1]: not a [price, qty] pair");
		side->via.array.ptr[1].via.array.size = 2;
		side->via.array.ptr[1].type = MSGPACK_OBJECT_MAP;
		cr_assert_eq(ev_unpack(top, &out, &err), -1);
		cr_assert_str_eq(err, "d.a[1]: not a [price, qty] pair");
		side->via.array.ptr[1].type = MSGPACK_OBJECT_ARRAY;

		/* 1001 levels: refused before anything is read; 1000 read, then over the depth. */
		set_str(&one[0], "1", 1);
		three[0] = one[0];
		three[1] = one[0];
		three[2] = one[0];
		for (int i = 0; i < 1001; i++) {
			pairs[i].type = MSGPACK_OBJECT_ARRAY;
			pairs[i].via.array.size = 2;
			pairs[i].via.array.ptr = three;
		}
		side = val(val(top, "d"), "b");
		side->via.array.ptr = pairs;
		side->via.array.size = 1001;
		cr_assert_eq(ev_unpack(top, &out, &err), -1);
		cr_assert_str_eq(err, "d.b: 1001 levels exceed 1000");
		side->via.array.size = 1000;
		cr_assert_eq(ev_unpack(top, &out, &err), -1);
		cr_assert_str_eq(err, "d.b: 1000 levels exceed the depth 5");
		set_int(val(val(top, "d"), "N"), 1000);
		cr_assert_eq(ev_unpack(top, &out, &err), -1);
		cr_assert_str_eq(err, "d.b[1]: price 1 is not below 1 (bids go best, highest, "
		    "first)");
		/* No level at all on one side, or both: a valid (thin) book. */
		side->via.array.size = 0;
		cr_assert_eq(ev_unpack(top, &out, &err), 0, "%s", err);
		cr_assert_eq(out.u.book.nbids, 0);
		cr_assert_eq(out.u.book.nasks, 2);
		cr_assert_str_eq(out.u.book.levels[0].price, "65000.2");
		cr_assert_str_eq(out.u.book.levels[1].price, "65001");
		ev_clear(&out);
		val(val(top, "d"), "a")->via.array.size = 0;
		cr_assert_eq(ev_unpack(top, &out, &err), 0, "%s", err);
		cr_assert_eq(out.u.book.nbids + out.u.book.nasks, 0);
		ev_clear(&out);
		ev_clear(&in);
		packed_free(&p);
	}
}

/* Asks before bids on the wire land after them in levels all the same. */
Test(evcodec, book_sides_in_either_order)
{
	struct event in, out;
	struct packed p;
	msgpack_object *d;
	msgpack_object_kv tmp;
	const char *err = NULL;
	uint32_t ib = 0, ia = 0;

	sample(&in, EV_BOOK);
	d = val(pack(&p, &in), "d");
	for (uint32_t i = 0; i < d->via.map.size; i++) {
		if (d->via.map.ptr[i].key.via.str.ptr[0] == 'b')
			ib = i;
		if (d->via.map.ptr[i].key.via.str.ptr[0] == 'a')
			ia = i;
	}
	tmp = d->via.map.ptr[ib];
	d->via.map.ptr[ib] = d->via.map.ptr[ia];
	d->via.map.ptr[ia] = tmp;
	cr_assert_eq(ev_unpack(&p.u.data, &out, &err), 0, "%s", err);
	cr_assert_eq(out.u.book.nbids, 3);
	cr_assert_eq(out.u.book.nasks, 2);
	cr_assert_eq(memcmp(out.u.book.levels, in.u.book.levels, 5 * sizeof(struct ev_level)), 0);
	ev_clear(&out);
	ev_clear(&in);
	packed_free(&p);
}

/* ev_validate on built events (the parsers' side): what the codec is never sent. */
Test(evcodec, market_validation)
{
	struct event ev;
	const char *err = NULL;

	sample(&ev, EV_BOOK);
	cr_assert_eq(ev_validate(&ev, &err), 0, "%s", err);
	ev.u.book.nasks = 3;	/* more levels than the array holds is a caller's bug, but ... */
	ev.u.book.nasks = 2;
	ev.u.book.depth = 2;
	cr_assert_eq(ev_validate(&ev, &err), -1);
	cr_assert_str_eq(err, "d.b: 3 levels exceed the depth 2");
	ev.u.book.depth = 3;
	strcpy(ev.u.book.levels[3].price, "64999");	/* crossed: best ask below best bid */
	strcpy(ev.u.book.levels[4].price, "65002");
	cr_assert_eq(ev_validate(&ev, &err), -1);
	cr_assert_str_eq(err, "d: crossed book: best bid 65000.10 is not below best ask 64999");
	strcpy(ev.u.book.levels[3].price, "65000.1");	/* equal is crossed too */
	cr_assert_eq(ev_validate(&ev, &err), -1);
	cr_assert_str_eq(err, "d: crossed book: best bid 65000.10 is not below best ask 65000.1");
	free(ev.u.book.levels);
	ev.u.book.levels = NULL;
	cr_assert_eq(ev_validate(&ev, &err), -1);
	cr_assert_str_eq(err, "d.b: 5 levels without an array");
	ev.u.book.nbids = ev.u.book.nasks = 0;
	cr_assert_eq(ev_validate(&ev, &err), 0, "%s", err);

	for (unsigned t = EV_KLINE; t < EV_TYPE_MAX; t++) {
		sample(&ev, t);
		cr_assert_eq(ev_validate(&ev, &err), 0, "%s: %s", ev_type_name(t), err);
		ev.account_id = 3;
		cr_assert_eq(ev_validate(&ev, &err), -1, "%s", ev_type_name(t));
		cr_assert_str_eq(err, "a: 3 on a market event (must be 0)");
		ev.account_id = 0;
		ev.user_id = -1;
		cr_assert_eq(ev_validate(&ev, &err), -1, "%s", ev_type_name(t));
		cr_assert_str_eq(err, "u: -1 on a market event (must be 0)");
		ev_clear(&ev);
	}
	sample(&ev, EV_TRADE);
	strcpy(ev.u.trade.price, "0");
	cr_assert_eq(ev_validate(&ev, &err), -1);
	cr_assert_str_eq(err, "d.p: a zero price is no trade");
	for (const char *const *i = (const char *const[]){ "1m", "3m", "5m", "15m", "30m", "1h",
	    "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M", NULL }; *i; i++)
		cr_assert(ev_interval_ok(*i), "%s", *i);
	for (const char *const *i = (const char *const[]){ "", "1", "2m", "1H", "1D", "1W", "60m",
	    "24h", "1y", "m1", NULL }; *i; i++)
		cr_assert(!ev_interval_ok(*i), "%s", *i);
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

/* Market JSON: struct names, no account, the type's flag, books as pairs, absent ints null. */
Test(evcodec, market_json)
{
	struct event ev;
	json_t *j, *b;
	char *s;

	sample(&ev, EV_BOOK);
	s = ev_to_json(&ev);
	cr_assert(strstr(s, "\"bids\":[[\"65000.10\",\"1.5\"],[\"64999.9\",\"0.001\"],"
	    "[\"64990\",\"12\"]],\"asks\":[[\"65000.2\",\"0.25\"],[\"65001\",\"3.000\"]]")
	    != NULL, "%s", s);
	free(s);
	j = json_of(&ev);
	cr_assert_str_eq(jstr(j, "type"), "book");
	cr_assert_null(json_object_get(j, "account_id"), "market data has no account");
	cr_assert_null(json_object_get(j, "user_id"));
	cr_assert_null(json_object_get(j, "lite"), "lite is the fills' flag");
	cr_assert(json_is_true(json_object_get(j, "partial")));
	cr_assert(json_is_false(json_object_get(j, "resync")));
	cr_assert_eq(jnum(j, "last_update_id"), 9007199254740993LL);
	cr_assert_eq(jnum(j, "depth"), 5);
	cr_assert_eq(jnum(j, "time"), 1700000000100LL);
	cr_assert_str_eq(jstr(j, "symbol"), "BTCUSDT_250926");
	b = json_object_get(j, "asks");
	cr_assert_eq(json_array_size(b), 2);
	json_decref(j);
	ev_clear(&ev);
	ev.u.book.nbids = ev.u.book.nasks = 0;
	s = ev_to_json(&ev);
	cr_assert(strstr(s, "\"bids\":[],\"asks\":[]") != NULL, "%s", s);
	free(s);

	sample(&ev, EV_TICKER);
	ev.flags = EVF_MINI;
	ev.u.ticker.open_time = ev.u.ticker.close_time = 0;
	ev.u.ticker.first_trade_id = ev.u.ticker.last_trade_id = ev.u.ticker.trades = -1;
	ev.u.ticker.price_change[0] = '\0';
	j = json_of(&ev);
	cr_assert(json_is_true(json_object_get(j, "mini")));
	cr_assert_null(json_object_get(j, "agg"));
	for (const char *const *k = (const char *const[]){ "open_time", "close_time",
	    "first_trade_id", "last_trade_id", "trades", "price_change", NULL }; *k; k++)
		cr_assert(json_is_null(json_object_get(j, *k)), "%s must be null", *k);
	cr_assert_str_eq(jstr(j, "last_price"), "699.5");
	json_decref(j);

	sample(&ev, EV_KLINE);
	j = json_of(&ev);
	cr_assert_str_eq(jstr(j, "interval"), "1M");
	cr_assert_eq(jnum(j, "open_time"), 1699999980000LL);
	cr_assert_eq(jnum(j, "first_trade_id"), 5000000001LL);
	cr_assert(json_is_true(json_object_get(j, "closed")));
	cr_assert(json_is_true(json_object_get(j, "resync")));
	cr_assert_str_eq(jstr(j, "taker_buy_quote_volume"), "3906000.01");
	json_decref(j);

	sample(&ev, EV_TRADE);
	j = json_of(&ev);
	cr_assert(json_is_true(json_object_get(j, "agg")));
	cr_assert(json_is_true(json_object_get(j, "buyer_maker")));
	cr_assert_str_eq(jstr(j, "price"), "0.0123400");
	json_decref(j);
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
			if (t == EV_BOOK)	/* position.amount would overlay the levels pointer */
				rnd_text(in.u.book.levels[rnd() % 5].price, EV_DEC);
			else
				rnd_text(in.u.position.amount, sizeof(in.u.position.amount));
			break;
		case 2:
			if (t == EV_BOOK)
				rnd_text(in.u.book.levels[rnd() % 5].qty, EV_DEC);
			else if (t == EV_UNKNOWN)	/* balance.wallet would overlay raw */
				rnd_text(in.u.unknown.name, sizeof(in.u.unknown.name));
			else
				rnd_text(in.u.balance.wallet, sizeof(in.u.balance.wallet));
			break;
		case 3:
			if (t == EV_CONFIG)
				in.u.config.leverage = (int)(rnd() % 200003) - 100001;
			else
				rnd_text(in.id, sizeof(in.id));
			break;
		case 4:
			in.flags = (uint8_t)(rnd() % 40);
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
