/*
 * binance_market_test.c: the Binance USDⓈ-M market parser
 * (binance_market.c) against the fixtures (t/fixtures/binance, via
 * $FIXTURES): every field of every event, raw and in the combined
 * envelope, array payloads, zero-priced trades, partial against diff
 * depth, subscription answers and errors, the REST bodies (klines,
 * depth, exchangeInfo); malformed frames each failing with its own
 * reason; candle times as properties over random times; stream names,
 * routes and request weights.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "event.h"
#include "exchanges/binance_market.h"

#define MAXEV	16
#define RECV	1700000000123456LL

struct got {
	int		 n;
	struct event	 ev[MAXEV];
};

static struct got got;
static struct bm_drops drops;
static struct bm_frame fr;

/* The codec takes the event back unchanged: pack → unpack → pack, and the same JSON. */
static void
round_trip(const struct event *ev)
{
	msgpack_sbuffer a, b;
	msgpack_packer pk;
	msgpack_unpacked up;
	struct event back;
	const char *err = NULL;
	char *ja, *jb;
	size_t off = 0;

	cr_assert_eq(ev_validate(ev, &err), 0, "emitted, yet invalid: %s", err);
	msgpack_sbuffer_init(&a);
	msgpack_packer_init(&pk, &a, msgpack_sbuffer_write);
	ev_pack(&pk, ev);
	msgpack_unpacked_init(&up);
	cr_assert_eq(msgpack_unpack_next(&up, a.data, a.size, &off), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(ev_unpack(&up.data, &back, &err), 0, "ev_unpack: %s", err);
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
	ev_pack(&pk, &back);
	cr_assert(a.size == b.size && memcmp(a.data, b.data, a.size) == 0, "pack → unpack → pack");
	ja = ev_to_json(ev);
	jb = ev_to_json(&back);
	cr_assert(ja != NULL && jb != NULL && strcmp(ja, jb) == 0, "JSON: %s / %s", ja, jb);
	free(ja);
	free(jb);
	ev_clear(&back);
	msgpack_sbuffer_destroy(&a);
	msgpack_sbuffer_destroy(&b);
}

/* Deep copies: an event lives only during the call. */
static void
collect(struct event *ev, void *arg)
{
	struct got *g = arg;

	round_trip(ev);

	cr_assert_lt(g->n, MAXEV, "more events than the test expects");
	g->ev[g->n] = *ev;
	if (ev->type == EV_BOOK) {
		size_t n = (size_t)ev->u.book.nbids + ev->u.book.nasks;

		g->ev[g->n].u.book.levels = calloc(n ? n : 1, sizeof(struct ev_level));
		memcpy(g->ev[g->n].u.book.levels, ev->u.book.levels, n * sizeof(struct ev_level));
	}
	g->n++;
}

static void
reset(void)
{
	for (int i = 0; i < got.n; i++)
		ev_clear(&got.ev[i]);
	memset(&got, 0, sizeof(got));
	memset(&drops, 0, sizeof(drops));
	if (fr.kind == BMF_DEPTH_DIFF)
		bm_depth_diff_free(&fr.diff);
	memset(&fr, 0, sizeof(fr));
}

static char *
fixture(const char *name, size_t *lenp)
{
	const char *dir = getenv("FIXTURES");
	char path[1024];
	char *buf;
	long len;
	FILE *fp;

	cr_assert_not_null(dir, "FIXTURES is not set: run this through make check");
	snprintf(path, sizeof(path), "%s/binance/%s", dir, name);
	fp = fopen(path, "rb");
	cr_assert_not_null(fp, "cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)len + 1);
	cr_assert_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
	buf[len] = '\0';
	fclose(fp);
	*lenp = (size_t)len;
	return buf;
}

/* Parse a frame: 0 or -1 with *err; events in got, drops in drops, the frame in fr. */
static int
parse(const char *buf, size_t len, bool hint, const char **err)
{
	int rc;

	reset();
	*err = NULL;
	rc = bm_frame_parse(buf, len, RECV, hint, collect, &got, &fr, &drops, err);
	if (rc == 0 && fr.kind == BMF_EVENTS)
		cr_assert_eq(fr.nevents, got.n, "nevents %d, emitted %d", fr.nevents, got.n);
	if (rc == -1)
		cr_assert_eq(got.n, 0, "events emitted from a rejected frame");
	return rc;
}

/* A frame that must parse whole: nothing dropped; the number of events. */
static int
ok(const char *s, bool hint)
{
	const char *err;

	cr_assert_eq(parse(s, strlen(s), hint, &err), 0, "rejected (%s): %s", err, s);
	cr_assert_eq(drops.d.events, 0, "dropped: %s", drops.d.why);
	cr_assert_eq(drops.d.fields, 0, "field defaulted: %s", drops.d.why);
	return got.n;
}

static char *
fixture_str(const char *name)
{
	size_t len;

	return fixture(name, &len);
}

/* The fixture wrapped in the combined envelope of stream. */
static char *
wrap(const char *stream, const char *data)
{
	size_t n = strlen(stream) + strlen(data) + 64;
	char *s = malloc(n);

	snprintf(s, n, "{\"stream\":\"%s\",\"data\":%s}", stream, data);
	return s;
}

static void
rejected(const char *s, bool hint, const char *want)
{
	const char *err;

	cr_assert_eq(parse(s, strlen(s), hint, &err), -1, "accepted: %s", s);
	cr_assert_not_null(err);
	cr_assert_not_null(strstr(err, want), "err \"%s\" lacks \"%s\"", err, want);
}

static void
dropped(const char *s, const char *want, unsigned ndrop, int nkept)
{
	const char *err;

	cr_assert_eq(parse(s, strlen(s), false, &err), 0, "rejected (%s): %s", err, s);
	cr_assert_eq(got.n, nkept, "emitted %d, wanted %d: %s", got.n, nkept, s);
	cr_assert_eq(drops.d.events, ndrop, "dropped %u, wanted %u (%s)", drops.d.events, ndrop,
	    drops.d.why);
	cr_assert_not_null(strstr(drops.d.why, want), "drop reason \"%s\" lacks \"%s\"",
	    drops.d.why, want);
}

/* The header every market event has. */
static void
header(const struct event *ev, enum ev_type type, unsigned flags, int64_t event_time)
{
	cr_assert_eq(ev->type, type);
	cr_assert_eq(ev->flags, flags);
	cr_assert_eq(ev->account_id, 0);
	cr_assert_eq(ev->user_id, 0);
	cr_assert_str_eq(ev->exchange, "binance-futures");
	cr_assert_eq(ev->event_time, event_time);
	cr_assert_eq(ev->recv_us, RECV);
	cr_assert_neq(ev->id[0], '\0', "no id");
	cr_assert_eq(ev->seq, 0);
}

TestSuite(market, .fini = reset);

/* ------------------------------------------------------------- fixtures */

static void
check_kline(const struct event *ev)
{
	const struct ev_kline *k = &ev->u.kline;

	header(ev, EV_KLINE, 0, 1638747660000LL);
	cr_assert_str_eq(k->symbol, "BTCUSDT");
	cr_assert_str_eq(k->interval, "1m");
	cr_assert_eq(k->open_time, 1638747660000LL);
	cr_assert_eq(k->close_time, 1638747719999LL);
	cr_assert_eq(k->first_trade_id, 100);
	cr_assert_eq(k->last_trade_id, 200);
	cr_assert_str_eq(k->open, "0.0010");
	cr_assert_str_eq(k->close, "0.0020");
	cr_assert_str_eq(k->high, "0.0025");
	cr_assert_str_eq(k->low, "0.0015");
	cr_assert_str_eq(k->volume, "1000");
	cr_assert_str_eq(k->quote_volume, "1.0000");
	cr_assert_str_eq(k->taker_buy_volume, "500");
	cr_assert_str_eq(k->taker_buy_quote_volume, "0.500");
	cr_assert_eq(k->trades, 100);
	cr_assert_eq(k->closed, false);
}

Test(market, kline_raw_and_combined)
{
	char *raw = fixture_str("kline.json"), *comb = wrap("btcusdt@kline_1m", raw);
	char id[EV_ID];

	cr_assert_eq(ok(raw, false), 1);
	cr_assert_eq(fr.kind, BMF_EVENTS);
	cr_assert_str_eq(fr.stream, "");
	check_kline(&got.ev[0]);
	memcpy(id, got.ev[0].id, sizeof(id));
	cr_assert_eq(ok(comb, false), 1);
	cr_assert_str_eq(fr.stream, "btcusdt@kline_1m");
	check_kline(&got.ev[0]);
	cr_assert_str_eq(got.ev[0].id, id, "the envelope changed the id");
	free(raw);
	free(comb);
}

static void
check_mark(const struct event *ev, const char *p)
{
	const struct ev_mark_price *m = &ev->u.mark_price;

	header(ev, EV_MARK_PRICE, 0, 1562305380000LL);
	cr_assert_str_eq(m->symbol, "BTCUSDT");
	cr_assert_str_eq(m->mark_price, p);
	cr_assert_str_eq(m->mark_price_avg, p);
	cr_assert_str_eq(m->index_price, "11784.62659091");
	cr_assert_str_eq(m->settle_price, "11784.25641265");
	cr_assert_eq(m->next_funding_time, 1562306400000LL);
}

Test(market, mark_price)
{
	char *raw = fixture_str("mark_price_update.json");
	char *arr = fixture_str("mark_price_update_all_market.json");
	char *comb = wrap("!markPrice@arr", arr);

	cr_assert_eq(ok(raw, false), 1);
	check_mark(&got.ev[0], "11794.15000000");
	cr_assert_str_eq(got.ev[0].u.mark_price.funding_rate, "0.00038167");
	/* The array payload, bare and in its envelope. */
	cr_assert_eq(ok(arr, false), 1);
	check_mark(&got.ev[0], "11185.87786614");
	cr_assert_str_eq(got.ev[0].u.mark_price.funding_rate, "0.00030000");
	cr_assert_eq(ok(comb, false), 1);
	cr_assert_str_eq(fr.stream, "!markPrice@arr");
	check_mark(&got.ev[0], "11185.87786614");
	free(raw);
	free(arr);
	free(comb);
}

Test(market, mark_price_array_one_bad_element)
{
	const char *s = "{\"stream\":\"!markPrice@arr@1s\",\"data\":["
	    "{\"e\":\"markPriceUpdate\",\"E\":1,\"s\":\"BTCUSDT\",\"p\":\"1\",\"i\":\"2\",\"P\":\"3\",\"r\":\"0.0001\",\"T\":9},"
	    "{\"e\":\"markPriceUpdate\",\"E\":1,\"s\":\"ETHUSDT\",\"p\":1,\"i\":\"2\",\"P\":\"3\"},"
	    "7,"
	    "{\"e\":\"markPriceUpdate\",\"E\":2,\"s\":\"BTCUSDT_260925\",\"p\":\"4\",\"i\":\"5\",\"P\":\"6\",\"r\":\"\",\"T\":0}]}";
	const struct ev_mark_price *m;

	dropped(s, "markPriceUpdate: [1].p: expected a string", 2, 2);
	cr_assert_str_eq(got.ev[0].u.mark_price.symbol, "BTCUSDT");
	cr_assert_str_eq(got.ev[0].u.mark_price.mark_price_avg, "", "ap absent: \"\"");
	cr_assert_eq(got.ev[0].u.mark_price.next_funding_time, 9);
	/* A delivery contract: r "" (no funding), T 0. */
	m = &got.ev[1].u.mark_price;
	header(&got.ev[1], EV_MARK_PRICE, 0, 2);
	cr_assert_str_eq(m->symbol, "BTCUSDT_260925");
	cr_assert_str_eq(m->mark_price, "4");
	cr_assert_str_eq(m->index_price, "5");
	cr_assert_str_eq(m->settle_price, "6");
	cr_assert_str_eq(m->funding_rate, "");
	cr_assert_eq(m->next_funding_time, 0);
	cr_assert_eq(drops.d.fields, 0, "\"\" for r is absent, not unusable");
}

Test(market, ticker_and_mini)
{
	char *t = fixture_str("ticker_24hr.json"), *mt = fixture_str("mini_ticker_24hr.json");
	const struct ev_ticker *k;

	cr_assert_eq(ok(t, false), 1);
	k = &got.ev[0].u.ticker;
	header(&got.ev[0], EV_TICKER, 0, 123456789);
	cr_assert_str_eq(k->symbol, "BTCUSDT");
	cr_assert_str_eq(k->price_change, "0.0015");
	cr_assert_str_eq(k->price_change_pct, "250.00");
	cr_assert_str_eq(k->weighted_avg_price, "0.0018");
	cr_assert_str_eq(k->last_price, "0.0025");
	cr_assert_str_eq(k->last_qty, "10");
	cr_assert_str_eq(k->open, "0.0010");
	cr_assert_str_eq(k->high, "0.0025");
	cr_assert_str_eq(k->low, "0.0010");
	cr_assert_str_eq(k->volume, "10000");
	cr_assert_str_eq(k->quote_volume, "18");
	cr_assert_eq(k->open_time, 0);
	cr_assert_eq(k->close_time, 86400000);
	cr_assert_eq(k->first_trade_id, 0);
	cr_assert_eq(k->last_trade_id, 18150);
	cr_assert_eq(k->trades, 18151);

	cr_assert_eq(ok(mt, false), 1);
	k = &got.ev[0].u.ticker;
	header(&got.ev[0], EV_TICKER, EVF_MINI, 123456789);
	cr_assert_str_eq(k->symbol, "BTCUSDT");
	cr_assert_str_eq(k->price_change, "");
	cr_assert_str_eq(k->price_change_pct, "");
	cr_assert_str_eq(k->weighted_avg_price, "");
	cr_assert_str_eq(k->last_price, "0.0025");
	cr_assert_str_eq(k->last_qty, "");
	cr_assert_str_eq(k->open, "0.0010");
	cr_assert_str_eq(k->high, "0.0025");
	cr_assert_str_eq(k->low, "0.0010");
	cr_assert_str_eq(k->volume, "10000");
	cr_assert_str_eq(k->quote_volume, "18");
	cr_assert_eq(k->open_time, 0);
	cr_assert_eq(k->close_time, 0);
	cr_assert_eq(k->first_trade_id, -1);
	cr_assert_eq(k->last_trade_id, -1);
	cr_assert_eq(k->trades, -1);
	free(t);
	free(mt);
}

static void
check_trade(const struct event *ev, int64_t E, int64_t T, int64_t t, const char *p,
    const char *q, bool m)
{
	const struct ev_trade *k = &ev->u.trade;

	header(ev, EV_TRADE, 0, E);
	cr_assert_str_eq(k->symbol, "BTCUSDT");
	cr_assert_eq(k->trade_id, t);
	cr_assert_eq(k->first_trade_id, t);
	cr_assert_eq(k->last_trade_id, t);
	cr_assert_str_eq(k->price, p);
	cr_assert_str_eq(k->qty, q);
	cr_assert_str_eq(k->normal_qty, "");
	cr_assert_str_eq(k->order_type, "MARKET");
	cr_assert_eq(k->buyer_maker, m);
	cr_assert_eq(k->time, T);
}

Test(market, trades)
{
	char *t = fixture_str("trade_capture.json");
	char *c = fixture_str("combined_stream_trade_capture.json");
	char *a = fixture_str("agg_trade.json");
	const struct ev_trade *k;

	cr_assert_eq(ok(t, false), 1);
	check_trade(&got.ev[0], 1785701708157LL, 1785701708156LL, 7947574407LL, "63437.30", "0.003",
	    false);
	cr_assert_eq(ok(c, false), 1);
	cr_assert_str_eq(fr.stream, "btcusdt@trade");
	check_trade(&got.ev[0], 1785671500407LL, 1785671500407LL, 7947131392LL, "63105.80", "0.030",
	    true);

	cr_assert_eq(ok(a, false), 1);
	k = &got.ev[0].u.trade;
	header(&got.ev[0], EV_TRADE, EVF_AGG, 123456789);
	cr_assert_str_eq(k->symbol, "BTCUSDT");
	cr_assert_eq(k->trade_id, 5933014);
	cr_assert_eq(k->first_trade_id, 100);
	cr_assert_eq(k->last_trade_id, 105);
	cr_assert_str_eq(k->price, "0.001");
	cr_assert_str_eq(k->qty, "100");
	cr_assert_str_eq(k->normal_qty, "100");
	cr_assert_str_eq(k->order_type, "");
	cr_assert_eq(k->buyer_maker, true);
	cr_assert_eq(k->time, 123456785);
	free(t);
	free(c);
	free(a);
}

Test(market, zero_price_trade_counted_not_an_error)
{
	const char *err;
	const char *z = "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1,\"T\":1,"
	    "\"s\":\"BTCUSDT\",\"t\":7947574408,\"p\":\"0.00\",\"q\":\"0.003\",\"X\":\"MARKET\","
	    "\"m\":false,\"st\":1}}";
	const char *za = "{\"e\":\"aggTrade\",\"E\":1,\"s\":\"BTCUSDT\",\"a\":5,\"p\":\"0\","
	    "\"q\":\"1\",\"f\":1,\"l\":1,\"T\":1,\"m\":true}";

	cr_assert_eq(parse(z, strlen(z), false, &err), 0);
	cr_assert_eq(fr.kind, BMF_EVENTS);
	cr_assert_eq(got.n, 0);
	cr_assert_eq(fr.nevents, 0);
	cr_assert_eq(drops.zero_price, 1);
	cr_assert_eq(drops.d.events, 0, "a spent trade id is not a drop");
	cr_assert_eq(parse(za, strlen(za), false, &err), 0);
	cr_assert_eq(got.n, 0);
	cr_assert_eq(drops.zero_price, 1);
	cr_assert_eq(drops.d.events, 0);
	/* A negative price is an error, not a spent id. */
	dropped("{\"e\":\"trade\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"-1\",\"q\":\"1\","
	    "\"m\":false}", "trade: p: negative", 1, 0);
	cr_assert_eq(drops.zero_price, 0);
}

static void
check_diff(void)
{
	const struct bm_depth_diff *d = &fr.diff;

	cr_assert_eq(fr.kind, BMF_DEPTH_DIFF);
	cr_assert_eq(fr.nevents, 0);
	cr_assert_eq(got.n, 0);
	cr_assert_str_eq(d->symbol, "BTCUSDT");
	cr_assert_eq(d->event_time, 123456789);
	cr_assert_eq(d->time, 123456788);
	cr_assert_eq(d->first_update_id, 157);
	cr_assert_eq(d->final_update_id, 160);
	cr_assert_eq(d->prev_final_update_id, 149);
	cr_assert_eq(d->nbids, 1);
	cr_assert_eq(d->nasks, 1);
	cr_assert_str_eq(d->levels[0].price, "0.0024");
	cr_assert_str_eq(d->levels[0].qty, "10");
	cr_assert_str_eq(d->levels[1].price, "0.0026");
	cr_assert_str_eq(d->levels[1].qty, "100");
}

Test(market, depth_diff)
{
	char *raw = fixture_str("depth_update_diff.json");
	char *c1 = wrap("btcusdt@depth", raw), *c2 = wrap("btcusdt@depth@100ms", raw);
	const char *zero = "{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":5,\"u\":6,"
	    "\"pu\":4,\"b\":[[\"1.5\",\"0\"],[\"1.4\",\"2\"]],\"a\":[]}";

	cr_assert_eq(ok(raw, false), 0);
	check_diff();
	cr_assert_eq(ok(c1, false), 0);
	cr_assert_str_eq(fr.stream, "btcusdt@depth");
	check_diff();
	/* The stream's name wins over the hint. */
	cr_assert_eq(ok(c2, true), 0);
	check_diff();
	/* A diff's quantity 0 removes a level: kept, in frame order. */
	cr_assert_eq(ok(zero, false), 0);
	cr_assert_eq(fr.kind, BMF_DEPTH_DIFF);
	cr_assert_eq(fr.diff.nbids, 2);
	cr_assert_eq(fr.diff.nasks, 0);
	cr_assert_str_eq(fr.diff.levels[0].price, "1.5");
	cr_assert_str_eq(fr.diff.levels[0].qty, "0");
	cr_assert_str_eq(fr.diff.levels[1].price, "1.4");
	free(raw);
	free(c1);
	free(c2);
}

static void
check_partial(uint16_t depth)
{
	static const char *const want[10][2] = {
		{ "7405.43", "2.562" }, { "7404.85", "5.239" }, { "7404.00", "1.428" },
		{ "7403.90", "3.906" }, { "7403.89", "0.002" },
		{ "7405.96", "3.340" }, { "7406.63", "4.525" }, { "7407.08", "2.475" },
		{ "7407.15", "4.800" }, { "7407.20", "0.175" },
	};
	const struct ev_book *b = &got.ev[0].u.book;

	cr_assert_eq(fr.kind, BMF_EVENTS);
	cr_assert_eq(got.n, 1);
	header(&got.ev[0], EV_BOOK, EVF_PARTIAL, 1571889248277LL);
	cr_assert_str_eq(b->symbol, "BTCUSDT");
	cr_assert_eq(b->last_update_id, 390497878LL);
	cr_assert_eq(b->time, 1571889248276LL);
	cr_assert_eq(b->depth, depth);
	cr_assert_eq(b->nbids, 5);
	cr_assert_eq(b->nasks, 5);
	/* Bids best (highest) first, though the frame lists them lowest first. */
	for (int i = 0; i < 10; i++) {
		cr_assert_str_eq(b->levels[i].price, want[i][0], "level %d", i);
		cr_assert_str_eq(b->levels[i].qty, want[i][1], "level %d", i);
	}
}

Test(market, depth_partial)
{
	char *raw = fixture_str("depth_update_partial.json");
	char *c5 = wrap("btcusdt@depth5@100ms", raw), *c10 = wrap("btcusdt@depth10", raw);
	char *c3 = wrap("btcusdt@depth3", raw), *cd = wrap("btcusdt@depth@500ms", raw);

	cr_assert_eq(ok(raw, true), 1);
	check_partial(5);
	cr_assert_eq(ok(c5, false), 1);
	check_partial(5);
	cr_assert_eq(ok(c10, false), 1);
	check_partial(10);
	/* More levels than the stream's N. */
	dropped(c3, "depthUpdate: b: more levels than the stream's depth", 1, 0);
	/* The same frame without the hint, or on a diff stream: a diff. */
	cr_assert_eq(ok(raw, false), 0);
	cr_assert_eq(fr.kind, BMF_DEPTH_DIFF);
	cr_assert_eq(fr.diff.nbids, 5);
	cr_assert_str_eq(fr.diff.levels[0].price, "7403.89", "a diff keeps frame order");
	cr_assert_eq(ok(cd, true), 0);
	cr_assert_eq(fr.kind, BMF_DEPTH_DIFF);
	free(raw);
	free(c5);
	free(c10);
	free(c3);
	free(cd);
}

Test(market, depth_partial_bad_books)
{
	dropped("{\"stream\":\"btcusdt@depth5\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,"
	    "\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"pu\":0,\"b\":[[\"2\",\"1\"]],\"a\":[[\"2\",\"1\"]]}}",
	    "crossed", 1, 0);
	dropped("{\"stream\":\"btcusdt@depth5\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,"
	    "\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"pu\":0,\"b\":[[\"1\",\"1\"],[\"1.0\",\"2\"]],\"a\":[]}}",
	    "depthUpdate: b: a price twice", 1, 0);
	dropped("{\"stream\":\"btcusdt@depth5\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,"
	    "\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"pu\":0,\"b\":[[\"1\",\"0\"]],\"a\":[]}}",
	    "depthUpdate: b[0]: quantity zero", 1, 0);
	dropped("{\"stream\":\"btcusdt@depth5\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,"
	    "\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"pu\":0,\"b\":[[\"1\"]],\"a\":[]}}",
	    "depthUpdate: b[0]: expected a [price, quantity] array", 1, 0);
	dropped("{\"stream\":\"btcusdt@depth5\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,"
	    "\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"pu\":0,\"b\":[[1.5,\"1\"]],\"a\":[]}}",
	    "depthUpdate: b[0]: price: not a decimal string", 1, 0);
}

Test(market, book_ticker_and_force_order)
{
	char *bt = fixture_str("book_ticker.json"), *fo = fixture_str("force_order.json");
	const struct ev_book_ticker *b;
	const struct ev_liquidation *l;

	cr_assert_eq(ok(bt, false), 1);
	b = &got.ev[0].u.book_ticker;
	header(&got.ev[0], EV_BOOK_TICKER, 0, 1568014460893LL);
	cr_assert_str_eq(b->symbol, "BNBUSDT");
	cr_assert_eq(b->update_id, 400900217);
	cr_assert_str_eq(b->bid_price, "25.35190000");
	cr_assert_str_eq(b->bid_qty, "31.21000000");
	cr_assert_str_eq(b->ask_price, "25.36520000");
	cr_assert_str_eq(b->ask_qty, "40.66000000");
	cr_assert_eq(b->time, 1568014460891LL);

	cr_assert_eq(ok(fo, false), 1);
	l = &got.ev[0].u.liquidation;
	header(&got.ev[0], EV_LIQUIDATION, 0, 1568014460893LL);
	cr_assert_str_eq(l->symbol, "BTCUSDT");
	cr_assert_str_eq(l->side, "SELL");
	cr_assert_str_eq(l->order_type, "LIMIT");
	cr_assert_str_eq(l->tif, "IOC");
	cr_assert_str_eq(l->orig_qty, "0.014");
	cr_assert_str_eq(l->price, "9910");
	cr_assert_str_eq(l->avg_price, "9910");
	cr_assert_str_eq(l->status, "FILLED");
	cr_assert_str_eq(l->last_qty, "0.014");
	cr_assert_str_eq(l->filled_qty, "0.014");
	cr_assert_eq(l->time, 1568014460893LL);
	free(bt);
	free(fo);
}

Test(market, answers_and_errors)
{
	char *sub = fixture_str("ws_subscribe_response.json");

	cr_assert_eq(ok(sub, false), 0);
	cr_assert_eq(fr.kind, BMF_ANSWER);
	cr_assert_eq(fr.answer_id, 1);
	cr_assert_eq(ok("{\"result\":[\"btcusdt@trade\",\"btcusdt@depth\"],\"id\":4294967295}", false),
	    0);
	cr_assert_eq(fr.kind, BMF_ANSWER);
	cr_assert_eq(fr.answer_id, 4294967295LL);
	cr_assert_eq(ok("{\"error\":{\"code\":2,\"msg\":\"Invalid request: unknown variable\"},"
	    "\"id\":3}", false), 0);
	cr_assert_eq(fr.kind, BMF_ERROR);
	cr_assert_eq(fr.answer_id, 3);
	cr_assert_eq(fr.error_code, 2);
	cr_assert_str_eq(fr.why, "Invalid request: unknown variable");
	cr_assert_eq(ok("{\"error\":{\"code\":0,\"msg\":\"Unknown property\"},\"id\":null}", false), 0);
	cr_assert_eq(fr.kind, BMF_ERROR);
	cr_assert_eq(fr.answer_id, -1);
	cr_assert_eq(fr.error_code, 0);
	cr_assert_eq(ok("{\"code\":-1121,\"msg\":\"Invalid symbol.\"}", false), 0);
	cr_assert_eq(fr.kind, BMF_ERROR);
	cr_assert_eq(fr.answer_id, -1);
	cr_assert_eq(fr.error_code, -1121);
	cr_assert_str_eq(fr.why, "Invalid symbol.");
	rejected("{\"result\":null}", false, "answer: id: missing");
	rejected("{\"result\":null,\"id\":\"1\"}", false, "answer: id: expected an unsigned integer");
	rejected("{\"result\":null,\"id\":-1}", false, "answer: id: expected an unsigned integer");
	rejected("{\"error\":\"bad\",\"id\":1}", false, "answer: error: expected an object");
	rejected("{\"error\":{\"msg\":\"x\"},\"id\":1}", false, "error answer: code: missing");
	rejected("{\"error\":{\"code\":1},\"id\":1}", false, "error answer: msg: missing");
	rejected("{\"code\":99999999999,\"msg\":\"x\"}", false, "error answer: code: expected an integer");
	free(sub);
}

/* ------------------------------------------------------------ malformed */

Test(market, malformed_frames)
{
	static const char nul[] = "{\"e\":\"trade\"\0,\"E\":1}";
	const char *err;
	char *big;
	size_t n;

	rejected("not json", false, "frame: not JSON");
	rejected("\"trade\"", false, "frame: not JSON ('[' or '{' expected");
	rejected("{\"E\":1,\"s\":\"BTCUSDT\"}", false, "frame: e: missing");
	rejected("{\"e\":\"TRADE\",\"E\":1}", false, "frame: e: not a market event type");
	rejected("{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":1}", false, "frame: e: not a market event type");
	rejected("{\"e\":7,\"E\":1}", false, "frame: e: expected a string");
	rejected("{\"e\":\"trade\",\"e\":\"kline\"}", false, "duplicate");
	rejected("{\"stream\":5,\"data\":{}}", false, "envelope: stream: expected a string");
	rejected("{\"stream\":\"\",\"data\":{}}", false, "envelope: stream: empty");
	rejected("{\"stream\":\"btcusdt@trade\"}", false, "envelope: data: missing");
	rejected("{\"stream\":\"btcusdt@trade\",\"data\":\"x\"}", false,
	    "envelope: data: expected an object or an array");
	rejected("{\"stream\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
	    "\"data\":{}}", false, "envelope: stream: longer than a stream name");
	cr_assert_eq(parse(nul, sizeof(nul) - 1, false, &err), -1);
	cr_assert_not_null(strstr(err, "a NUL byte at byte 12"), "%s", err);
	/* A diff that cannot be built is the frame's failure. */
	rejected("{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"b\":[],"
	    "\"a\":[]}", false, "depthUpdate: pu: missing");
	rejected("{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":3,\"u\":2,\"pu\":1,"
	    "\"b\":[],\"a\":[]}", false, "depthUpdate: u: below U");
	rejected("{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"pu\":1,"
	    "\"b\":[[\"1\",\"-1\"]],\"a\":[]}", false, "depthUpdate: b[0]: quantity negative");
	rejected("{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"pu\":1,"
	    "\"b\":[],\"a\":{}}", false, "depthUpdate: a: expected an array");
	/* Huge arrays: a diff side over its bound, an array payload over its. */
	n = 5001 * 14 + 200;
	big = malloc(n);
	strcpy(big, "{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"pu\":1,"
	    "\"a\":[],\"b\":[");
	for (int i = 0; i < 5001; i++)
		strcat(big, i ? ",[\"1\",\"1\"]" : "[\"1\",\"1\"]");
	strcat(big, "]}");
	rejected(big, false, "depthUpdate: b: more than 5000 levels");
	free(big);
	/*
	 * The bids within the bound, the asks over it: the bids are read
	 * first, into an array that must hold them (it held one level).
	 */
	n = 5001 * 12 + 200;
	big = malloc(n);
	strcpy(big, "{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"pu\":1,"
	    "\"b\":[[\"3\",\"1\"],[\"2\",\"1\"],[\"1\",\"1\"]],\"a\":[");
	for (int i = 0; i < 5001; i++)
		strcat(big, i ? ",[\"4\",\"1\"]" : "[\"4\",\"1\"]");
	strcat(big, "]}");
	rejected(big, false, "depthUpdate: a: more than 5000 levels");
	free(big);
	n = 10001 * 3 + 16;
	big = malloc(n);
	strcpy(big, "[");
	for (int i = 0; i < 10001; i++)
		strcat(big, i ? ",{}" : "{}");
	strcat(big, "]");
	rejected(big, false, "frame: an array of more than 10000 events");
	free(big);
}

Test(market, malformed_events_dropped_alone)
{
	/* Wrong types. */
	dropped("{\"e\":\"kline\",\"E\":\"1\",\"k\":{}}", "kline: E: expected an integer", 1, 0);
	dropped("{\"e\":\"kline\",\"E\":1.5,\"k\":{}}", "kline: E: expected an integer", 1, 0);
	dropped("{\"e\":\"kline\",\"E\":1,\"k\":[]}", "kline: k: expected an object", 1, 0);
	dropped("{\"e\":\"kline\",\"E\":1}", "kline: k: missing", 1, 0);
	dropped("{\"e\":\"bookTicker\",\"E\":1,\"s\":\"BNBUSDT\",\"u\":1.5,\"b\":\"1\",\"B\":\"1\","
	    "\"a\":\"2\",\"A\":\"1\",\"T\":1}", "bookTicker: u: expected an integer, got a fraction", 1,
	    0);
	dropped("{\"e\":\"aggTrade\",\"E\":1,\"s\":\"BTCUSDT\",\"a\":5,\"p\":\"1\",\"q\":\"1\","
	    "\"f\":3,\"l\":2,\"T\":1,\"m\":true}", "aggTrade: l: below f", 1, 0);
	dropped("{\"e\":\"trade\",\"E\":1,\"T\":1,\"s\":\"BTC USDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\","
	    "\"m\":false}", "trade: s: not a symbol", 1, 0);
	dropped("{\"e\":\"trade\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1e3\",\"q\":\"1\","
	    "\"m\":false}", "trade: p: not a decimal number", 1, 0);
	dropped("{\"e\":\"trade\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\","
	    "\"m\":\"false\"}", "trade: m: expected a boolean", 1, 0);
	dropped("{\"e\":\"forceOrder\",\"E\":1,\"o\":{\"s\":\"BTCUSDT\",\"S\":\"SELL\",\"o\":\"LIMIT\","
	    "\"f\":\"IOC\",\"q\":\"1\",\"p\":\"1\",\"ap\":\"1\",\"X\":\"FILLED\",\"l\":\"1\",\"z\":\"1\"}}",
	    "forceOrder: o.T: missing", 1, 0);
	/* Keys that differ only in case are different keys. */
	dropped("{\"e\":\"kline\",\"E\":1,\"k\":{\"t\":0,\"T\":59999,\"s\":\"BTCUSDT\",\"i\":\"1m\","
	    "\"o\":\"1\",\"c\":\"1\",\"h\":\"1\",\"l\":\"1\",\"v\":\"1\",\"n\":1,\"X\":true,\"q\":\"1\","
	    "\"V\":\"1\",\"Q\":\"1\"}}", "kline: k.x: missing", 1, 0);
	dropped("{\"e\":\"markPriceUpdate\",\"E\":1,\"s\":\"BTCUSDT\",\"P\":\"1\",\"i\":\"2\"}",
	    "markPriceUpdate: p: missing", 1, 0);
	dropped("{\"e\":\"trade\",\"E\":1,\"T\":1,\"S\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\","
	    "\"m\":false}", "trade: s: missing", 1, 0);
}

Test(market, kline_interval_checked)
{
	dropped("{\"e\":\"kline\",\"E\":1,\"k\":{\"t\":0,\"T\":59999,\"s\":\"BTCUSDT\",\"i\":\"2m\","
	    "\"o\":\"1\",\"c\":\"1\",\"h\":\"1\",\"l\":\"1\",\"v\":\"1\",\"n\":1,\"x\":true,\"q\":\"1\","
	    "\"V\":\"1\",\"Q\":\"1\"}}", "kline: k.i: not a kline interval", 1, 0);
	dropped("{\"e\":\"kline\",\"E\":1,\"k\":{\"t\":60000,\"T\":59999,\"s\":\"BTCUSDT\",\"i\":\"1m\","
	    "\"o\":\"1\",\"c\":\"1\",\"h\":\"1\",\"l\":\"1\",\"v\":\"1\",\"n\":1,\"x\":true,\"q\":\"1\","
	    "\"V\":\"1\",\"Q\":\"1\"}}", "kline: k.T: before t", 1, 0);
	/* f and L absent: -1. */
	cr_assert_eq(ok("{\"e\":\"kline\",\"E\":1,\"k\":{\"t\":0,\"T\":2678399999,\"s\":\"BTCUSDT\","
	    "\"i\":\"1M\",\"o\":\"1\",\"c\":\"1\",\"h\":\"1\",\"l\":\"1\",\"v\":\"0\",\"n\":0,"
	    "\"x\":true,\"q\":\"0\",\"V\":\"0\",\"Q\":\"0\"}}", false), 1);
	cr_assert_str_eq(got.ev[0].u.kline.interval, "1M");
	cr_assert_eq(got.ev[0].u.kline.first_trade_id, -1);
	cr_assert_eq(got.ev[0].u.kline.last_trade_id, -1);
	cr_assert_eq(got.ev[0].u.kline.closed, true);
}

Test(market, ids_above_2_53_exact)
{
	cr_assert_eq(ok("{\"e\":\"trade\",\"E\":1,\"T\":2,\"s\":\"BTCUSDT\",\"t\":9007199254740993,"
	    "\"p\":\"1\",\"q\":\"1\",\"m\":false}", false), 1);
	cr_assert_eq(got.ev[0].u.trade.trade_id, 9007199254740993LL);
	cr_assert_eq(got.ev[0].u.trade.last_trade_id, 9007199254740993LL);
	cr_assert_eq(ok("{\"e\":\"aggTrade\",\"E\":1,\"s\":\"BTCUSDT\",\"a\":9223372036854775807,"
	    "\"p\":\"1\",\"q\":\"1\",\"f\":9007199254740993,\"l\":9007199254740995,\"T\":1,"
	    "\"m\":true}", false), 1);
	cr_assert_eq(got.ev[0].u.trade.trade_id, INT64_MAX);
	cr_assert_eq(got.ev[0].u.trade.first_trade_id, 9007199254740993LL);
	cr_assert_eq(got.ev[0].u.trade.last_trade_id, 9007199254740995LL);
	cr_assert_eq(ok("{\"e\":\"depthUpdate\",\"E\":1,\"T\":1,\"s\":\"BTCUSDT\",\"U\":9007199254740993,"
	    "\"u\":9007199254740995,\"pu\":9007199254740991,\"b\":[],\"a\":[]}", false), 0);
	cr_assert_eq(fr.diff.first_update_id, 9007199254740993LL);
	cr_assert_eq(fr.diff.final_update_id, 9007199254740995LL);
	cr_assert_eq(fr.diff.prev_final_update_id, 9007199254740991LL);
	cr_assert_eq(ok("{\"e\":\"bookTicker\",\"E\":1,\"s\":\"BNBUSDT\",\"u\":9007199254740993,"
	    "\"b\":\"1\",\"B\":\"1\",\"a\":\"2\",\"A\":\"1\",\"T\":1}", false), 1);
	cr_assert_eq(got.ev[0].u.book_ticker.update_id, 9007199254740993LL);
	/* Past int64: not an integer jansson holds. */
	rejected("{\"e\":\"trade\",\"E\":1,\"t\":9223372036854775808}", false, "frame: not JSON");
}

/* ------------------------------------------------------------------ REST */

static const char klines_body[] =
    "[[1499040000000,\"0.01634790\",\"0.80000000\",\"0.01575800\",\"0.01577100\","
    "\"148976.11427815\",1499644799999,\"2434.19055334\",308,\"1756.87402397\",\"28.46694368\","
    "\"17928899.62484339\"],"
    "[1499644800000,\"1\",\"2\",\"0.5\",\"1.5\",\"10\",1500249599999,\"15\",3,\"4\",\"6\",\"0\"],"
    "[1500249600000,\"1.5\",\"1.5\",\"1.5\",\"1.5\",\"0\",1500854399999,\"0\",0,\"0\",\"0\"]]";

Test(market, klines_rest)
{
	struct bf_drops d = { 0 };
	const struct ev_kline *k;
	const char *err = NULL;
	int n;

	reset();
	/* now: inside the third candle */
	n = bm_klines_parse(klines_body, strlen(klines_body), "BTCUSDT", "1w", 1500300000000LL, RECV,
	    collect, &got, &d, &err);
	cr_assert_eq(n, 3, "%s", err ? err : d.why);
	cr_assert_eq(d.events, 0);
	k = &got.ev[0].u.kline;
	header(&got.ev[0], EV_KLINE, EVF_RESYNC, 1499644800000LL);
	cr_assert_str_eq(k->symbol, "BTCUSDT");
	cr_assert_str_eq(k->interval, "1w");
	cr_assert_eq(k->open_time, 1499040000000LL);
	cr_assert_eq(k->close_time, 1499644799999LL);
	cr_assert_eq(k->first_trade_id, -1);
	cr_assert_eq(k->last_trade_id, -1);
	cr_assert_str_eq(k->open, "0.01634790");
	cr_assert_str_eq(k->high, "0.80000000");
	cr_assert_str_eq(k->low, "0.01575800");
	cr_assert_str_eq(k->close, "0.01577100");
	cr_assert_str_eq(k->volume, "148976.11427815");
	cr_assert_str_eq(k->quote_volume, "2434.19055334");
	cr_assert_eq(k->trades, 308);
	cr_assert_str_eq(k->taker_buy_volume, "1756.87402397");
	cr_assert_str_eq(k->taker_buy_quote_volume, "28.46694368");
	cr_assert_eq(k->closed, true);
	k = &got.ev[1].u.kline;
	header(&got.ev[1], EV_KLINE, EVF_RESYNC, 1500249600000LL);
	cr_assert_eq(k->open_time, 1499644800000LL);
	cr_assert_str_eq(k->low, "0.5");
	cr_assert_eq(k->trades, 3);
	cr_assert_eq(k->closed, true);
	/* The open candle: as of now, 11 members (no "ignore") taken. */
	k = &got.ev[2].u.kline;
	header(&got.ev[2], EV_KLINE, EVF_RESYNC, 1500300000000LL);
	cr_assert_eq(k->open_time, 1500249600000LL);
	cr_assert_eq(k->close_time, 1500854399999LL);
	cr_assert_eq(k->closed, false);
	/* now == T: not yet closed; now == T + 1: closed. */
	reset();
	n = bm_klines_parse(klines_body, strlen(klines_body), "BTCUSDT", "1w", 1500854399999LL, RECV,
	    collect, &got, &d, &err);
	cr_assert_eq(n, 3);
	cr_assert_eq(got.ev[2].u.kline.closed, false);
	reset();
	n = bm_klines_parse(klines_body, strlen(klines_body), "BTCUSDT", "1w", 1500854400000LL, RECV,
	    collect, &got, &d, &err);
	cr_assert_eq(got.ev[2].u.kline.closed, true);
	cr_assert_eq(got.ev[2].event_time, 1500854400000LL);
}

Test(market, klines_rest_bad)
{
	static const char rows[] = "[[1,\"1\",\"1\",\"1\",\"1\",\"1\",59999,\"1\",1,\"1\",\"1\"],"
	    "[\"60000\",\"1\",\"1\",\"1\",\"1\",\"1\",119999,\"1\",1,\"1\",\"1\"],"
	    "[120000,\"1\",\"1\",\"1\",\"1\",\"1\",179999,\"1\",1,\"1\"],"
	    "[180000,\"1\",\"1\",\"1\",\"x\",\"1\",239999,\"1\",1,\"1\",\"1\"],"
	    "{},"
	    "[240000,\"1\",\"1\",\"1\",\"1\",\"1\",299999,\"1\",1.5,\"1\",\"1\"]]";
	struct bf_drops d = { 0 };
	const char *err = NULL;
	char *big;
	int n;

	reset();
	n = bm_klines_parse(rows, strlen(rows), "BTCUSDT", "1m", 1LL << 50, RECV, collect, &got, &d,
	    &err);
	cr_assert_eq(n, 1);
	cr_assert_eq(got.n, 1);
	cr_assert_eq(got.ev[0].u.kline.open_time, 1);
	cr_assert_eq(d.events, 5);
	cr_assert_str_eq(d.why, "GET /fapi/v1/klines: [1][0] open time: expected an integer");
	err = NULL;
	cr_assert_eq(bm_klines_parse("{}", 2, "BTCUSDT", "1m", 0, RECV, collect, &got, &d, &err), -1);
	cr_assert_str_eq(err, "GET /fapi/v1/klines: expected a JSON array");
	cr_assert_eq(bm_klines_parse("[]", 2, "BTCUSDT", "2m", 0, RECV, collect, &got, &d, &err), -1);
	cr_assert_str_eq(err, "GET /fapi/v1/klines: not a kline interval");
	cr_assert_eq(bm_klines_parse("[]", 2, "BTC&USDT", "1m", 0, RECV, collect, &got, &d, &err), -1);
	cr_assert_str_eq(err, "GET /fapi/v1/klines: not a symbol");
	cr_assert_eq(bm_klines_parse("[]\0", 3, "BTCUSDT", "1m", 0, RECV, collect, &got, &d, &err), -1);
	cr_assert_not_null(strstr(err, "NUL byte"));
	big = malloc(1501 * 3 + 4);
	strcpy(big, "[");
	for (int i = 0; i < 1501; i++)
		strcat(big, i ? ",[]" : "[]");
	strcat(big, "]");
	cr_assert_eq(bm_klines_parse(big, strlen(big), "BTCUSDT", "1m", 0, RECV, collect, &got, &d,
	    &err), -1);
	cr_assert_str_eq(err, "GET /fapi/v1/klines: more than 1500 rows (Binance's largest limit)");
	free(big);
}

Test(market, depth_snapshot)
{
	struct bm_depth_snapshot s;
	size_t len;
	char *body = fixture("rest_depth_snapshot.json", &len);
	const char *err = NULL;
	static const char unordered[] = "{\"lastUpdateId\":9007199254740993,\"bids\":[[\"3.9\",\"1\"],"
	    "[\"3.95\",\"2\"],[\"3.1\",\"3\"]],\"asks\":[[\"4.5\",\"1\"],[\"4.05\",\"2\"]]}";

	cr_assert_eq(bm_depth_snapshot_parse(body, len, &s, &err), 0, "%s", err);
	cr_assert_eq(s.last_update_id, 1027024);
	cr_assert_eq(s.event_time, 1589436922972LL);
	cr_assert_eq(s.time, 1589436922959LL);
	cr_assert_eq(s.nbids, 1);
	cr_assert_eq(s.nasks, 1);
	cr_assert_str_eq(s.levels[0].price, "4.00000000");
	cr_assert_str_eq(s.levels[0].qty, "431.00000000");
	cr_assert_str_eq(s.levels[1].price, "4.00000200");
	cr_assert_str_eq(s.levels[1].qty, "12.00000000");
	bm_depth_snapshot_free(&s);
	cr_assert_null(s.levels);

	/* Best first whatever the body's order; E and T optional. */
	cr_assert_eq(bm_depth_snapshot_parse(unordered, strlen(unordered), &s, &err), 0, "%s", err);
	cr_assert_eq(s.last_update_id, 9007199254740993LL);
	cr_assert_eq(s.event_time, 0);
	cr_assert_eq(s.time, 0);
	cr_assert_eq(s.nbids, 3);
	cr_assert_eq(s.nasks, 2);
	cr_assert_str_eq(s.levels[0].price, "3.95");
	cr_assert_str_eq(s.levels[0].qty, "2");
	cr_assert_str_eq(s.levels[1].price, "3.9");
	cr_assert_str_eq(s.levels[2].price, "3.1");
	cr_assert_str_eq(s.levels[3].price, "4.05");
	cr_assert_str_eq(s.levels[4].price, "4.5");
	bm_depth_snapshot_free(&s);
	free(body);
}

static void
snap_bad(const char *body, const char *want)
{
	struct bm_depth_snapshot s;
	const char *err = NULL;

	cr_assert_eq(bm_depth_snapshot_parse(body, strlen(body), &s, &err), -1, "accepted %s", body);
	cr_assert_null(s.levels);
	cr_assert_eq(s.nbids + s.nasks, 0);
	cr_assert_not_null(strstr(err, want), "err \"%s\" lacks \"%s\"", err, want);
}

Test(market, depth_snapshot_bad)
{
	char *big;

	snap_bad("[]", "GET /fapi/v1/depth: expected a JSON object");
	snap_bad("{\"bids\":[],\"asks\":[]}", "GET /fapi/v1/depth: lastUpdateId: missing");
	snap_bad("{\"lastUpdateId\":\"1\",\"bids\":[],\"asks\":[]}", "lastUpdateId: expected an integer");
	snap_bad("{\"lastUpdateId\":1,\"asks\":[]}", "GET /fapi/v1/depth: bids: missing");
	snap_bad("{\"lastUpdateId\":1,\"bids\":[[\"5\",\"1\"]],\"asks\":[[\"4\",\"1\"]]}",
	    "GET /fapi/v1/depth: crossed");
	snap_bad("{\"lastUpdateId\":1,\"bids\":[[\"5\",\"0\"]],\"asks\":[]}", "bids[0]: quantity zero");
	snap_bad("{\"lastUpdateId\":1,\"bids\":[],\"asks\":[[\"5\",\"1\"],[\"5.00\",\"1\"]]}",
	    "asks: a price twice");
	snap_bad("{\"lastUpdateId\":1,\"bids\":[[\"0\",\"1\"]],\"asks\":[]}", "bids[0]: price not positive");
	big = malloc(1001 * 12 + 64);
	strcpy(big, "{\"lastUpdateId\":1,\"asks\":[],\"bids\":[");
	for (int i = 0; i < 1001; i++)
		strcat(big, i ? ",[\"1\",\"1\"]" : "[\"1\",\"1\"]");
	strcat(big, "]}");
	snap_bad(big, "bids: more than 1000 levels");
	free(big);
	/* The bids within the bound, the asks over it (the bids' array held one level). */
	big = malloc(1001 * 12 + 128);
	strcpy(big, "{\"lastUpdateId\":1,\"bids\":[[\"3\",\"1\"],[\"2\",\"1\"],[\"1\",\"1\"]],"
	    "\"asks\":[");
	for (int i = 0; i < 1001; i++)
		strcat(big, i ? ",[\"4\",\"1\"]" : "[\"4\",\"1\"]");
	strcat(big, "]}");
	snap_bad(big, "asks: more than 1000 levels");
	free(big);
}

Test(market, exchange_info)
{
	static const char body[] = "{\"timezone\":\"UTC\",\"serverTime\":1,\"symbols\":["
	    "{\"symbol\":\"BTCUSDT\",\"contractType\":\"PERPETUAL\",\"status\":\"TRADING\"},"
	    "{\"symbol\":\"BLZUSDT\",\"contractType\":\"PERPETUAL\",\"status\":\"SETTLING\"},"
	    "{\"symbol\":\"BTCUSDT_260925\",\"contractType\":\"CURRENT_QUARTER\",\"status\":\"TRADING\"},"
	    "{\"symbol\":\"ETHUSDT\",\"status\":\"BREAK\"},"
	    "{\"symbol\":\"1000pepeusdt\",\"status\":\"TRADING\"},"
	    "{\"symbol\":\"BTCUSDT\",\"status\":\"TRADING\"},"
	    "{\"symbol\":\"BAD SYMBOL\",\"status\":\"TRADING\"},"
	    "{\"symbol\":\"XRPUSDT\"},"
	    "[\"SOLUSDT\"],"
	    "{\"symbol\":\"\xe5\xb8\x81\xe5\xae\x89USDT\",\"status\":\"TRADING\"}]}";
	struct bf_drops d = { 0 };
	const char *err = NULL;
	char **syms;
	int n;

	n = bm_exchange_info_symbols(body, strlen(body), &syms, &d, &err);
	cr_assert_eq(n, 4, "%s", err);
	cr_assert_str_eq(syms[0], "BTCUSDT");
	cr_assert_str_eq(syms[1], "BTCUSDT_260925");
	cr_assert_str_eq(syms[2], "1000PEPEUSDT");
	cr_assert_str_eq(syms[3], "\xe5\xb8\x81\xe5\xae\x89USDT");
	cr_assert_eq(d.events, 4);
	cr_assert_str_eq(d.why, "GET /fapi/v1/exchangeInfo: symbols[5].symbol: listed twice");
	bm_symbols_free(syms, n);
	cr_assert_eq(bm_exchange_info_symbols("[]", 2, &syms, &d, &err), -1);
	cr_assert_null(syms);
	cr_assert_str_eq(err, "GET /fapi/v1/exchangeInfo: expected a JSON object");
	cr_assert_eq(bm_exchange_info_symbols("{\"symbols\":{}}", 14, &syms, NULL, &err), -1);
	cr_assert_str_eq(err, "GET /fapi/v1/exchangeInfo: symbols: expected an array");
	cr_assert_eq(bm_exchange_info_symbols("{\"symbols\":[]}", 14, &syms, NULL, &err), 0);
	bm_symbols_free(syms, 0);
}

/* ------------------------------------------------------ candle times */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

Test(market, interval_index)
{
	cr_assert_eq(bm_interval_index("1m"), 0);
	cr_assert_eq(bm_interval_index("1M"), 14);
	cr_assert_eq(bm_interval_index("3d"), 12);
	cr_assert_eq(bm_interval_index("1w"), 13);
	cr_assert_eq(bm_interval_index("12h"), 10);
	cr_assert_eq(bm_interval_index("1W"), -1);
	cr_assert_eq(bm_interval_index("2m"), -1);
	cr_assert_eq(bm_interval_index("1m "), -1);
	cr_assert_eq(bm_interval_index(""), -1);
	cr_assert_eq(bm_interval_index(NULL), -1);
	for (int i = 0; i < 15; i++)
		cr_assert_eq(bm_interval_index(bm_intervals[i]), i);
	cr_assert_eq(bm_candle_open(15, 0), -1);
	cr_assert_eq(bm_candle_open(-1, 0), -1);
}

static const int64_t iv_ms[14] = { 60000LL, 180000LL, 300000LL, 900000LL, 1800000LL, 3600000LL,
	7200000LL, 14400000LL, 21600000LL, 28800000LL, 43200000LL, 86400000LL, 259200000LL,
	604800000LL };

Test(market, candle_fixed_intervals)
{
	/* 1960 to 2200, ms */
	const int64_t lo = -315619200000LL, span = 7573622400000LL - lo;

	for (int r = 0; r < 200000; r++) {
		int64_t t = lo + (int64_t)(rnd() % (uint64_t)span);
		int iv = (int)(rnd() % 14);
		int64_t o = bm_candle_open(iv, t), nx = bm_candle_next(iv, o);

		cr_assert(o <= t && t < nx, "iv %s t %" PRId64 ": open %" PRId64 " next %" PRId64,
		    bm_intervals[iv], t, o, nx);
		cr_assert_eq(nx - o, iv_ms[iv]);
		cr_assert_eq(bm_candle_open(iv, o), o);
		cr_assert_eq(bm_candle_open(iv, nx - 1), o);
		cr_assert_eq(bm_candle_open(iv, t + iv_ms[iv]), nx, "next(open) is the open of t + interval");
		if (iv == 13) {
			time_t s = (time_t)(o / 1000);
			struct tm tm;

			gmtime_r(&s, &tm);
			cr_assert_eq(tm.tm_wday, 1, "a week opens on Monday: %" PRId64, o);
			cr_assert_eq(tm.tm_hour + tm.tm_min + tm.tm_sec, 0);
		} else if (o >= 0) {
			/* the epoch grid, as exsim's t / len * len */
			cr_assert_eq(o, t >= 0 ? t / iv_ms[iv] * iv_ms[iv] : o);
		}
		cr_assert_eq(((o % iv_ms[iv]) + iv_ms[iv]) % iv_ms[iv],
		    iv == 13 ? 4 * 86400000LL : 0);
	}
	/* Known opens: 2024-01-01 was a Monday; 3d from 1970-01-01. */
	cr_assert_eq(bm_candle_open(13, 1704240000000LL), 1704067200000LL);
	cr_assert_eq(bm_candle_open(13, 1704067200000LL - 1), 1704067200000LL - 7 * 86400000LL);
	cr_assert_eq(bm_candle_open(12, 259200000LL * 2 + 5), 259200000LL * 2);
	cr_assert_eq(bm_candle_open(12, -1), -259200000LL);
	cr_assert_eq(bm_candle_open(0, -1), -60000);
	cr_assert_eq(bm_candle_open(13, 0), -3 * 86400000LL);
	/* The int64 edges clamp, never overflow. */
	cr_assert_eq(bm_candle_next(0, INT64_MAX - 10), INT64_MAX);
	cr_assert_leq(bm_candle_open(13, INT64_MIN), INT64_MIN + 7 * 86400000LL);
	cr_assert_leq(bm_candle_open(0, INT64_MIN + 5), INT64_MIN + 5);
}

static int64_t
month_open_tm(int y, int m)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1 };

	return (int64_t)timegm(&tm) * 1000;
}

Test(market, candle_months)
{
	const int64_t lo = -315619200000LL, span = 7573622400000LL - lo;

	for (int r = 0; r < 100000; r++) {
		int64_t t = lo + (int64_t)(rnd() % (uint64_t)span);
		int64_t o = bm_candle_open(14, t), nx = bm_candle_next(14, o);
		time_t s = (time_t)(t >= 0 ? t / 1000 : (t - 999) / 1000);
		struct tm tm;

		gmtime_r(&s, &tm);
		cr_assert(o <= t && t < nx);
		cr_assert_eq(o, month_open_tm(tm.tm_year + 1900, tm.tm_mon + 1), "t %" PRId64, t);
		cr_assert_eq(nx, tm.tm_mon == 11 ? month_open_tm(tm.tm_year + 1901, 1) :
		    month_open_tm(tm.tm_year + 1900, tm.tm_mon + 2));
		cr_assert_eq(bm_candle_open(14, nx), nx);
		cr_assert_eq(bm_candle_open(14, nx - 1), o);
	}
	/* February across leap years: 2024 and 2000 are, 2023, 2100 and 1900 are not. */
	cr_assert_eq(bm_candle_next(14, month_open_tm(2024, 2)) - month_open_tm(2024, 2),
	    29 * 86400000LL);
	cr_assert_eq(bm_candle_next(14, month_open_tm(2000, 2)) - month_open_tm(2000, 2),
	    29 * 86400000LL);
	cr_assert_eq(bm_candle_next(14, month_open_tm(2023, 2)) - month_open_tm(2023, 2),
	    28 * 86400000LL);
	cr_assert_eq(bm_candle_next(14, month_open_tm(2100, 2)) - month_open_tm(2100, 2),
	    28 * 86400000LL);
	cr_assert_eq(bm_candle_next(14, month_open_tm(1900, 2)) - month_open_tm(1900, 2),
	    28 * 86400000LL);
	cr_assert_eq(bm_candle_open(14, month_open_tm(2024, 3) - 1), month_open_tm(2024, 2));
	cr_assert_eq(bm_candle_next(14, month_open_tm(2023, 12)), month_open_tm(2024, 1));
	cr_assert_eq(bm_candle_open(14, -1), month_open_tm(1969, 12));
}

/* --------------------------------------------- stream names, routes, weights */

static void
name_is(enum bm_kind k, const char *sym, const char *arg, int levels, const char *want)
{
	char out[64];
	int n = bm_stream_name(k, sym, arg, levels, out, sizeof(out));

	cr_assert_eq(n, (int)strlen(want), "%s: %d", want, n);
	cr_assert_str_eq(out, want);
}

Test(market, stream_names)
{
	char out[16];

	name_is(BM_KLINE, "BTCUSDT", "1m", 0, "btcusdt@kline_1m");
	name_is(BM_KLINE, "BTCUSDT", "1M", 0, "btcusdt@kline_1M");
	name_is(BM_MARK_PRICE, "BTCUSDT", "", 0, "btcusdt@markPrice");
	name_is(BM_MARK_PRICE, "BTCUSDT", "1s", 0, "btcusdt@markPrice@1s");
	name_is(BM_MARK_PRICE, "BTCUSDT", NULL, 0, "btcusdt@markPrice");
	name_is(BM_TICKER, "ETHUSDT", "", 0, "ethusdt@ticker");
	name_is(BM_MINI_TICKER, "ETHUSDT", "", 0, "ethusdt@miniTicker");
	name_is(BM_TRADE, "1000PEPEUSDT", "", 0, "1000pepeusdt@trade");
	name_is(BM_AGG_TRADE, "BTCUSDT_260925", "", 0, "btcusdt_260925@aggTrade");
	name_is(BM_DEPTH, "BTCUSDT", "", 0, "btcusdt@depth");
	name_is(BM_DEPTH, "BTCUSDT", "100ms", 0, "btcusdt@depth@100ms");
	name_is(BM_DEPTH, "BTCUSDT", "500ms", 0, "btcusdt@depth@500ms");
	name_is(BM_PARTIAL_DEPTH, "BTCUSDT", "", 5, "btcusdt@depth5");
	name_is(BM_PARTIAL_DEPTH, "BTCUSDT", "100ms", 20, "btcusdt@depth20@100ms");
	name_is(BM_PARTIAL_DEPTH, "BTCUSDT", "500ms", 10, "btcusdt@depth10@500ms");
	name_is(BM_BOOK_TICKER, "BNBUSDT", "", 0, "bnbusdt@bookTicker");
	name_is(BM_FORCE_ORDER, "BTCUSDT", "", 0, "btcusdt@forceOrder");
	cr_assert_eq(bm_stream_name(BM_KLINE, "BTCUSDT", "2m", 0, out, sizeof(out)), -1);
	cr_assert_eq(bm_stream_name(BM_MARK_PRICE, "BTCUSDT", "3s", 0, out, sizeof(out)), -1);
	cr_assert_eq(bm_stream_name(BM_DEPTH, "BTCUSDT", "250ms", 0, out, sizeof(out)), -1);
	cr_assert_eq(bm_stream_name(BM_PARTIAL_DEPTH, "BTCUSDT", "", 15, out, sizeof(out)), -1);
	cr_assert_eq(bm_stream_name(BM_TRADE, "BTCUSDT", "1s", 0, out, sizeof(out)), -1);
	cr_assert_eq(bm_stream_name(BM_TRADE, "BTC&USDT", "", 0, out, sizeof(out)), -1);
	cr_assert_eq(bm_stream_name(BM_TRADE, "", "", 0, out, sizeof(out)), -1);
	cr_assert_eq(bm_stream_name(BM_TRADE, NULL, "", 0, out, sizeof(out)), -1);
	cr_assert_eq(bm_stream_name(BM_KIND_MAX, "BTCUSDT", "", 0, out, sizeof(out)), -1);
	/* "btcusdt@trade" is 13 bytes: fits 14, not 13. */
	cr_assert_eq(bm_stream_name(BM_TRADE, "BTCUSDT", "", 0, out, 14), 13);
	cr_assert_eq(bm_stream_name(BM_TRADE, "BTCUSDT", "", 0, out, 13), -1);
}

Test(market, routes)
{
	cr_assert_eq(bm_kind_route(BM_DEPTH), BM_ROUTE_PUBLIC);
	cr_assert_eq(bm_kind_route(BM_PARTIAL_DEPTH), BM_ROUTE_PUBLIC);
	cr_assert_eq(bm_kind_route(BM_BOOK_TICKER), BM_ROUTE_PUBLIC);
	cr_assert_eq(bm_kind_route(BM_TRADE), BM_ROUTE_PUBLIC);
	cr_assert_eq(bm_kind_route(BM_KLINE), BM_ROUTE_MARKET);
	cr_assert_eq(bm_kind_route(BM_MARK_PRICE), BM_ROUTE_MARKET);
	cr_assert_eq(bm_kind_route(BM_TICKER), BM_ROUTE_MARKET);
	cr_assert_eq(bm_kind_route(BM_MINI_TICKER), BM_ROUTE_MARKET);
	cr_assert_eq(bm_kind_route(BM_AGG_TRADE), BM_ROUTE_MARKET);
	cr_assert_eq(bm_kind_route(BM_FORCE_ORDER), BM_ROUTE_MARKET);
}

Test(market, weights)
{
	/* Binance "Kline/Candlestick Data" and "Order Book" (USDⓈ-M). */
	static const int kl[][2] = { { 0, -1 }, { 1, 1 }, { 99, 1 }, { 100, 2 }, { 499, 2 },
		{ 500, 5 }, { 1000, 5 }, { 1001, 10 }, { 1500, 10 }, { 1501, -1 }, { -5, -1 } };
	static const int dp[][2] = { { 5, 2 }, { 10, 2 }, { 20, 2 }, { 50, 2 }, { 100, 5 },
		{ 500, 10 }, { 1000, 20 }, { 0, -1 }, { 7, -1 }, { 1500, -1 }, { 200, -1 } };

	for (size_t i = 0; i < sizeof(kl) / sizeof(kl[0]); i++)
		cr_assert_eq(bm_klines_weight(kl[i][0]), kl[i][1], "klines limit %d", kl[i][0]);
	for (size_t i = 0; i < sizeof(dp) / sizeof(dp[0]); i++)
		cr_assert_eq(bm_depth_weight(dp[i][0]), dp[i][1], "depth limit %d", dp[i][0]);
}
