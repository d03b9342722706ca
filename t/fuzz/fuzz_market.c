/*
 * fuzz_market.c: the Binance USDⓈ-M market parser (binance_market.c).
 * The first byte chooses: 0 a stream frame, 1 a stream frame with the
 * partial-depth hint, 2 a /fapi/v1/klines body, 3 a /fapi/v1/depth body,
 * 4 a /fapi/v1/exchangeInfo body, 5 the pure helpers (candle times of the
 * 8 bytes that follow, a stream name of the rest).
 *
 * Every event emitted must pass ev_validate, keep its id under
 * ev_make_id, and survive the codec: ev_pack → ev_unpack → ev_pack gives
 * the same bytes and ev_to_json the same JSON, which parses and names the
 * event's id, type and times.  A depth diff or snapshot holds exactly its
 * levels, each a canonical positive price; a snapshot's sides are strictly
 * best first and not crossed; return values match what was emitted.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "event.h"
#include "exchanges/binance_market.h"
#include "fuzz.h"

#define SEL_FRAME	0
#define SEL_FRAME_HINT	1
#define SEL_KLINES	2
#define SEL_DEPTH	3
#define SEL_INFO	4
#define SEL_HELPERS	5
#define SEL_N		6

#define RECV_US		1700000000000000LL
#define NOW_MS		1800000000000LL

static void
pack(const struct event *ev, msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	ev_pack(&pk, ev);
}

static void
json_check(const struct event *ev, const char *json)
{
	json_error_t e;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &e);
	const json_t *v;

	FUZZ_ASSERT(root != NULL && json_is_object(root), "ev_to_json is not a JSON object: %s",
	    json);
	v = json_object_get(root, "event_id");
	FUZZ_ASSERT(json_is_string(v) && strcmp(json_string_value(v), ev->id) == 0,
	    "JSON event_id differs: %s", json);
	v = json_object_get(root, "type");
	FUZZ_ASSERT(json_is_string(v) && strcmp(json_string_value(v), ev_type_name(ev->type)) == 0,
	    "JSON type differs: %s", json);
	v = json_object_get(root, "event_time");
	FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) == ev->event_time,
	    "JSON event_time differs: %s", json);
	v = json_object_get(root, "recv_us");
	FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) == ev->recv_us,
	    "JSON recv_us differs: %s", json);
	json_decref(root);
}

struct sink {
	size_t		 n;
	int		 rest;	/* events of a REST body: EVF_RESYNC */
};

static void
emit_cb(struct event *ev, void *arg)
{
	struct sink *s = arg;
	msgpack_sbuffer a, b;
	msgpack_unpacked up;
	struct event back, again;
	const char *err = NULL;
	size_t off = 0;
	char *ja, *jb;

	FUZZ_ASSERT(EV_IS_MARKET(ev->type), "a %s event from the market parser",
	    ev_type_name(ev->type));
	FUZZ_ASSERT(ev->account_id == 0 && ev->user_id == 0 && ev->recv_us == RECV_US,
	    "market event header");
	FUZZ_ASSERT(!!(ev->flags & EVF_RESYNC) == s->rest, "EVF_RESYNC on a %s event",
	    s->rest ? "stream" : "REST");
	FUZZ_ASSERT(ev_validate(ev, &err) == 0, "emitted event fails ev_validate: %s", err);
	if (ev->type == EV_TRADE)
		FUZZ_ASSERT(strpbrk(ev->u.trade.price, "123456789") != NULL, "a zero-priced trade");
	again = *ev;
	ev_make_id(&again);
	FUZZ_ASSERT(strcmp(again.id, ev->id) == 0, "ev_make_id is not stable: %s, then %s", ev->id,
	    again.id);
	pack(ev, &a);
	msgpack_unpacked_init(&up);
	FUZZ_ASSERT(msgpack_unpack_next(&up, a.data, a.size, &off) == MSGPACK_UNPACK_SUCCESS &&
	    off == a.size, "a packed event does not unpack");
	FUZZ_ASSERT(ev_unpack(&up.data, &back, &err) == 0, "ev_unpack refuses a packed %s event: %s",
	    ev_type_name(ev->type), err);
	msgpack_unpacked_destroy(&up);
	pack(&back, &b);
	FUZZ_ASSERT(a.size == b.size && memcmp(a.data, b.data, a.size) == 0,
	    "pack → unpack → pack differs (%s event)", ev_type_name(ev->type));
	msgpack_sbuffer_destroy(&a);
	msgpack_sbuffer_destroy(&b);
	ja = ev_to_json(ev);
	jb = ev_to_json(&back);
	FUZZ_ASSERT(ja != NULL && jb != NULL, "ev_to_json failed");
	FUZZ_ASSERT(strcmp(ja, jb) == 0, "JSON differs after the round trip:\n%s\n%s", ja, jb);
	json_check(ev, ja);
	free(ja);
	free(jb);
	ev_clear(&back);
	s->n++;
}

/* Canonical, positive: what a price level must hold. */
static void
level_check(const struct ev_level *l, int zero_qty_ok, size_t i)
{
	char canon[EV_DEC];

	FUZZ_ASSERT(ev_decimal(canon, sizeof(canon), l->price, strlen(l->price)) == 0 &&
	    strcmp(canon, l->price) == 0 && l->price[0] != '-' &&
	    strpbrk(l->price, "123456789") != NULL, "level %zu: price \"%s\"", i, l->price);
	FUZZ_ASSERT(ev_decimal(canon, sizeof(canon), l->qty, strlen(l->qty)) == 0 &&
	    strcmp(canon, l->qty) == 0 && l->qty[0] != '-' &&
	    (zero_qty_ok || strpbrk(l->qty, "123456789") != NULL), "level %zu: qty \"%s\"", i,
	    l->qty);
}

static void
frame(const char *buf, size_t len, bool hint)
{
	struct sink s = { 0, 0 };
	struct bm_drops drops = { { 0, 0, "" }, 0 };
	struct bm_frame f;
	const char *err = NULL;

	if (bm_frame_parse(buf, len, RECV_US, hint, emit_cb, &s, &f, &drops, &err) == -1) {
		FUZZ_ASSERT(err != NULL && s.n == 0, "bm_frame_parse: -1 without a reason, or events");
		FUZZ_ASSERT(f.diff.levels == NULL, "a rejected frame holds levels");
		return;
	}
	FUZZ_ASSERT(memchr(f.stream, '\0', sizeof(f.stream)) != NULL, "stream unterminated");
	FUZZ_ASSERT(memchr(f.why, '\0', sizeof(f.why)) != NULL, "why unterminated");
	FUZZ_ASSERT(memchr(drops.d.why, '\0', sizeof(drops.d.why)) != NULL, "drops.why unterminated");
	switch (f.kind) {
	case BMF_EVENTS:
		FUZZ_ASSERT(f.nevents >= 0 && (size_t)f.nevents == s.n, "nevents %d, emitted %zu",
		    f.nevents, s.n);
		break;
	case BMF_DEPTH_DIFF:
		FUZZ_ASSERT(s.n == 0, "a diff frame emitted events");
		FUZZ_ASSERT(ev_symbol_ok(f.diff.symbol, strlen(f.diff.symbol)), "diff symbol");
		FUZZ_ASSERT(f.diff.first_update_id <= f.diff.final_update_id, "diff U > u");
		FUZZ_ASSERT(f.diff.levels != NULL, "diff without levels");
		for (size_t i = 0; i < f.diff.nbids + f.diff.nasks; i++)
			level_check(&f.diff.levels[i], 1, i);
		bm_depth_diff_free(&f.diff);
		break;
	case BMF_ANSWER:
		FUZZ_ASSERT(f.answer_id >= 0 && s.n == 0, "answer id %" PRId64, f.answer_id);
		break;
	case BMF_ERROR:
		FUZZ_ASSERT(f.answer_id >= -1 && s.n == 0, "error id %" PRId64, f.answer_id);
		break;
	default:
		FUZZ_ASSERT(0, "frame kind %d", (int)f.kind);
	}
}

static void
depth(const char *buf, size_t len)
{
	struct bm_depth_snapshot snap;
	const char *err = NULL;
	char a[EV_DEC];

	if (bm_depth_snapshot_parse(buf, len, &snap, &err) == -1) {
		FUZZ_ASSERT(err != NULL && snap.levels == NULL, "depth: -1 without a reason");
		return;
	}
	FUZZ_ASSERT(snap.nbids <= EV_BOOK_LEVELS_MAX && snap.nasks <= EV_BOOK_LEVELS_MAX,
	    "snapshot over its bound");
	for (size_t i = 0; i < snap.nbids + snap.nasks; i++)
		level_check(&snap.levels[i], 0, i);
	/* No price twice (same text); not crossed (strtod is monotonic: never a false alarm). */
	for (size_t i = 1; i < snap.nbids + snap.nasks; i++) {
		if (i == snap.nbids)
			continue;
		FUZZ_ASSERT(strcmp(snap.levels[i - 1].price, snap.levels[i].price) != 0,
		    "a price twice");
	}
	if (snap.nbids > 0 && snap.nasks > 0) {
		snprintf(a, sizeof(a), "%s", snap.levels[snap.nbids].price);
		FUZZ_ASSERT(strtod(snap.levels[0].price, NULL) <= strtod(a, NULL),
		    "crossed snapshot: %s / %s", snap.levels[0].price, a);
	}
	bm_depth_snapshot_free(&snap);
}

static void
helpers(const uint8_t *p, size_t len)
{
	int64_t t = 0;
	char out[64], *arg;

	if (len < 8)
		return;
	memcpy(&t, p, 8);
	for (int iv = 0; iv < 15; iv++) {
		int64_t o = bm_candle_open(iv, t), nx = bm_candle_next(iv, o);

		FUZZ_ASSERT(o <= t, "%s: open %" PRId64 " after t %" PRId64, bm_intervals[iv], o, t);
		/* Away from the int64 edges (clamped there): t before the next open. */
		if (t > INT64_MIN / 2 && t < INT64_MAX / 2) {
			FUZZ_ASSERT(t < nx, "%s: t %" PRId64 " not before next %" PRId64,
			    bm_intervals[iv], t, nx);
			FUZZ_ASSERT(bm_candle_open(iv, o) == o && bm_candle_open(iv, nx - 1) == o,
			    "%s: open of open", bm_intervals[iv]);
		}
	}
	if ((arg = strndup((const char *)p + 8, len - 8)) == NULL)
		abort();
	for (int k = 0; k < BM_KIND_MAX; k++) {
		char *sym = arg, *a = strchr(arg, ' ');
		int n;

		if (a != NULL)
			*a++ = '\0';
		n = bm_stream_name((enum bm_kind)k, sym, a, (int)(t & 31), out, sizeof(out));
		FUZZ_ASSERT(n == -1 || ((size_t)n == strlen(out) && strchr(out, '@') != NULL),
		    "stream name %d \"%s\"", n, out);
		if (a != NULL)
			a[-1] = ' ';
	}
	free(arg);
	FUZZ_ASSERT(bm_klines_weight((int)t) >= -1 && bm_depth_weight((int)t) >= -1, "weights");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	struct bf_drops d = { 0, 0, "" };
	const char *err = NULL;
	struct sink s = { 0, 1 };
	char **syms;
	int n;

	if (size < 1)
		return 0;
	switch (data[0] % SEL_N) {
	case SEL_FRAME:
	case SEL_FRAME_HINT:
		frame(body, len, data[0] % SEL_N == SEL_FRAME_HINT);
		break;
	case SEL_KLINES:
		n = bm_klines_parse(body, len, "BTCUSDT", bm_intervals[data[0] / SEL_N % 15], NOW_MS,
		    RECV_US, emit_cb, &s, &d, &err);
		FUZZ_ASSERT(n == -1 ? err != NULL && s.n == 0 : (size_t)n == s.n,
		    "bm_klines_parse returned %d, emitted %zu", n, s.n);
		FUZZ_ASSERT(memchr(d.why, '\0', sizeof(d.why)) != NULL, "drops.why unterminated");
		break;
	case SEL_DEPTH:
		depth(body, len);
		break;
	case SEL_INFO:
		n = bm_exchange_info_symbols(body, len, &syms, &d, &err);
		FUZZ_ASSERT(n == -1 ? syms == NULL && err != NULL : n >= 0, "exchangeInfo %d", n);
		for (int i = 0; i < n; i++) {
			FUZZ_ASSERT(ev_symbol_ok(syms[i], strlen(syms[i])) && strlen(syms[i]) < EV_SYM,
			    "exchangeInfo symbol \"%s\"", syms[i]);
			for (int j = 0; j < i; j++)
				FUZZ_ASSERT(strcmp(syms[i], syms[j]) != 0, "%s twice", syms[i]);
		}
		if (n >= 0)
			bm_symbols_free(syms, n);
		break;
	case SEL_HELPERS:
		helpers(data + 1, len);
		break;
	}
	return 0;
}
