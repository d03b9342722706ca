/*
 * binance_test.c: the Binance USDⓈ-M futures adapter against the fixtures
 * (t/fixtures/binance, via $FIXTURES) and against frames and REST rows taken
 * verbatim from exsim: every user-data event type with exact fields and ids,
 * the combined envelope, listenKeyExpired, unknown types kept raw, malformed
 * frames rejected, one bad event dropped alone (its siblings kept), exact
 * 64-bit ids, case-sensitive keys, and REST resync rows that name the same
 * facts as the stream.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "event.h"
#include "exchanges/binance_futures.h"

#define MAXEV	16

/* What the emit callback saw: deep copies, since events live only during the call. */
struct got {
	int		 n;
	struct event	 ev[MAXEV];
};

static struct got got;
static struct bf_drops drops;	/* of the last frame() or rest() */

static const struct ev_origin org = {
	.account_id = 7, .user_id = 42, .recv_us = 1700000000123456LL, .flags = 0
};

static void
collect(struct event *ev, void *arg)
{
	struct got *g = arg;

	cr_assert_lt(g->n, MAXEV, "more events than the test expects");
	g->ev[g->n] = *ev;
	if (ev->type == EV_UNKNOWN && ev->u.unknown.raw != NULL)
		g->ev[g->n].u.unknown.raw = strdup(ev->u.unknown.raw);
	g->n++;
}

static void
got_reset(void)
{
	for (int i = 0; i < got.n; i++)
		ev_clear(&got.ev[i]);
	memset(&got, 0, sizeof(got));
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

/*
 * Parse one frame and collect its events: the count, or -1 with *err when
 * the frame itself is rejected.  Dropped events are in `drops`.
 */
static int
frame(const char *buf, size_t len, const char **err)
{
	struct bf_frame f;
	int rc;

	got_reset();
	memset(&drops, 0, sizeof(drops));
	*err = NULL;
	if (bf_frame_parse(buf, len, &f, err) == -1)
		return -1;
	rc = bf_frame_events(&f, buf, len, &org, collect, &got, &drops);
	bf_frame_free(&f);
	cr_assert_eq(rc, got.n, "return value and emitted events disagree");
	return rc;
}

static int
frame_str(const char *s)
{
	const char *err = NULL;
	int rc = frame(s, strlen(s), &err);

	cr_assert_neq(rc, -1, "unexpected error: %s", err ? err : "(none)");
	cr_assert_eq(drops.events, 0, "unexpected drop: %s", drops.why);
	return rc;
}

static int
frame_fixture(const char *name)
{
	size_t len;
	char *buf = fixture(name, &len);
	const char *err = NULL;
	int rc = frame(buf, len, &err);

	cr_assert_neq(rc, -1, "%s: %s", name, err ? err : "(none)");
	cr_assert_eq(drops.events, 0, "%s: unexpected drop: %s", name, drops.why);
	free(buf);
	return rc;
}

/* The frame itself must be rejected with err containing want: nothing emitted. */
static void
malformed(const char *s, const char *want)
{
	const char *err = NULL;
	int rc = frame(s, strlen(s), &err);

	cr_assert_eq(rc, -1, "accepted: %s", s);
	cr_assert_eq(got.n, 0, "emitted %d events from a malformed frame", got.n);
	cr_assert_not_null(err);
	cr_assert_not_null(strstr(err, want), "err \"%s\" lacks \"%s\"", err, want);
}

/*
 * The frame parses, but `ndrop` of its events are dropped, the first for a
 * reason containing want, and exactly `nkept` are emitted.
 */
static void
dropped(const char *s, const char *want, int ndrop, int nkept)
{
	const char *err = NULL;
	int rc = frame(s, strlen(s), &err);

	cr_assert_neq(rc, -1, "the frame itself was rejected (%s): %s", err ? err : "?", s);
	cr_assert_eq(rc, nkept, "emitted %d events, wanted %d: %s", rc, nkept, s);
	cr_assert_eq(drops.events, (unsigned)ndrop, "dropped %u events, wanted %d (%s)",
	    drops.events, ndrop, drops.why);
	cr_assert_not_null(strstr(drops.why, want), "drop reason \"%s\" lacks \"%s\"",
	    drops.why, want);
}

/* Events of a REST body: the count, or -1 with *err (the body is unusable). */
static int
rest(enum bf_rest kind, const char *body, size_t len, const char **err)
{
	int rc;

	got_reset();
	memset(&drops, 0, sizeof(drops));
	rc = bf_rest_events(kind, body, len, &org, 1800000000000LL, collect, &got, &drops);
	*err = drops.why;
	cr_assert_eq(rc == -1 ? 0 : rc, got.n);
	return rc;
}

static int
rest_str(enum bf_rest kind, const char *body)
{
	const char *err = NULL;
	int rc = rest(kind, body, strlen(body), &err);

	cr_assert_neq(rc, -1, "unexpected error: %s", err ? err : "(none)");
	cr_assert_eq(drops.events, 0, "unexpected drop: %s", drops.why);
	return rc;
}

static int
rest_fixture(enum bf_rest kind, const char *name)
{
	size_t len;
	char *buf = fixture(name, &len);
	const char *err = NULL;
	int rc = rest(kind, buf, len, &err);

	cr_assert_neq(rc, -1, "%s: %s", name, err ? err : "(none)");
	free(buf);
	return rc;
}

static void
header_ok(const struct event *ev, enum ev_type type, int64_t event_time, unsigned flags)
{
	cr_assert_eq(ev->type, type);
	cr_assert_eq(ev->flags, flags);
	cr_assert_eq(ev->account_id, 7);
	cr_assert_eq(ev->user_id, 42);
	cr_assert_eq(ev->recv_us, 1700000000123456LL);
	cr_assert_eq(ev->event_time, event_time);
	cr_assert_str_eq(ev->exchange, "binance-futures");
	cr_assert_eq(ev->seq, 0);
}

static void
sha16(const char *s, char out[17])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;

	cr_assert_eq(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ------------------------------------------------ ORDER_TRADE_UPDATE */

Test(stream, order_new_doc_example)
{
	const struct ev_order *o;

	cr_assert_eq(frame_fixture("order_trade_update_new.json"), 1);
	header_ok(&got.ev[0], EV_ORDER, 1568879465651LL, 0);
	o = &got.ev[0].u.order;
	cr_assert_eq(o->order_id, 8886774);
	cr_assert_str_eq(o->symbol, "BTCUSDT");
	cr_assert_str_eq(o->client_id, "TEST");
	cr_assert_str_eq(o->side, "SELL");
	cr_assert_str_eq(o->position_side, "LONG");
	cr_assert_str_eq(o->type, "TRAILING_STOP_MARKET");
	cr_assert_str_eq(o->orig_type, "TRAILING_STOP_MARKET");
	cr_assert_str_eq(o->tif, "GTC");
	cr_assert_str_eq(o->exec_type, "NEW");
	cr_assert_str_eq(o->status, "NEW");
	cr_assert_str_eq(o->price, "0");
	cr_assert_str_eq(o->avg_price, "0");
	cr_assert_str_eq(o->stop_price, "7103.04");
	cr_assert_str_eq(o->orig_qty, "0.001");
	cr_assert_str_eq(o->filled_qty, "0");
	cr_assert(!o->reduce_only);
	cr_assert(!o->close_position);
	cr_assert_eq(o->update_time, 1568879465650LL);
	cr_assert_str_eq(got.ev[0].id, "o:7:8886774:NEW:1568879465650:0:0:0.001");
}

Test(stream, order_filled_capture_gives_order_and_fill)
{
	const struct ev_order *o;
	const struct ev_fill *fl;

	cr_assert_eq(frame_fixture("order_trade_update_filled_capture.json"), 2);
	header_ok(&got.ev[0], EV_ORDER, 1688758982045LL, 0);
	header_ok(&got.ev[1], EV_FILL, 1688758982045LL, 0);
	o = &got.ev[0].u.order;
	cr_assert_eq(o->order_id, 6437837518LL, "an order id above 2^32 survives");
	cr_assert_str_eq(o->symbol, "XEMUSDT");
	cr_assert_str_eq(o->client_id, "R01LRkpXT7C4");
	cr_assert_str_eq(o->exec_type, "TRADE");
	cr_assert_str_eq(o->status, "FILLED");
	cr_assert_str_eq(o->avg_price, "0.0275");
	cr_assert_str_eq(o->filled_qty, "7259");
	cr_assert_str_eq(o->position_side, "BOTH");
	cr_assert_str_eq(got.ev[0].id, "o:7:6437837518:FILLED:1688758982041:7259:0.0275:7259");
	fl = &got.ev[1].u.fill;
	cr_assert_eq(fl->trade_id, 86171692);
	cr_assert_eq(fl->order_id, 6437837518LL);
	cr_assert_str_eq(fl->symbol, "XEMUSDT");
	cr_assert_str_eq(fl->side, "SELL");
	cr_assert_str_eq(fl->position_side, "BOTH");
	cr_assert_str_eq(fl->price, "0.0275");
	cr_assert_str_eq(fl->qty, "7259");
	cr_assert_str_eq(fl->fee, "0.03992450");
	cr_assert_str_eq(fl->fee_asset, "USDT");
	cr_assert_str_eq(fl->realized_pnl, "-0.36230000");
	cr_assert(fl->maker);
	cr_assert_eq(fl->time, 1688758982041LL);
	cr_assert_str_eq(got.ev[1].id, "f:7:XEMUSDT:86171692:6437837518");
}

Test(stream, order_partially_filled_capture)
{
	cr_assert_eq(frame_fixture("order_trade_update_partially_filled_capture.json"), 2);
	cr_assert_str_eq(got.ev[0].u.order.status, "PARTIALLY_FILLED");
	cr_assert_str_eq(got.ev[0].u.order.filled_qty, "392");
	cr_assert_str_eq(got.ev[0].u.order.type, "MARKET");
	cr_assert_str_eq(got.ev[0].id, "o:7:3026735151:PARTIALLY_FILLED:1709220138458:392:0:445");
	cr_assert_str_eq(got.ev[1].u.fill.qty, "11");
	cr_assert_str_eq(got.ev[1].u.fill.price, "0.8983000");
	cr_assert_str_eq(got.ev[1].u.fill.fee, "0.00494065");
	cr_assert(!got.ev[1].u.fill.maker);
	cr_assert_str_eq(got.ev[1].id, "f:7:SEIUSDT:148318954:3026735151");
}

Test(stream, order_new_canceled_expired_captures)
{
	cr_assert_eq(frame_fixture("order_trade_update_new_capture.json"), 1);
	cr_assert_str_eq(got.ev[0].id, "o:7:238950797096:NEW:1704459987707:0:20000:0.01");
	cr_assert_str_eq(got.ev[0].u.order.client_id, "web_w4Sot5R1ym9ChzWfGdAm");
	cr_assert_eq(frame_fixture("order_trade_update_canceled_capture.json"), 1);
	cr_assert_str_eq(got.ev[0].u.order.exec_type, "CANCELED");
	cr_assert_str_eq(got.ev[0].id, "o:7:238950797096:CANCELED:1704460185744:0:20000:0.01");
	cr_assert_eq(frame_fixture("order_trade_update_expired_capture.json"), 1);
	cr_assert_str_eq(got.ev[0].u.order.tif, "IOC");
	cr_assert_str_eq(got.ev[0].u.order.price, "7.883300");
	cr_assert_str_eq(got.ev[0].id, "o:7:374805065:EXPIRED:1704705592498:0:7.8833:1.26");
}

/* Frames taken verbatim from exsim (tools/exsim), one per kind it emits. */
static const char exsim_trade[] = "{\"stream\":\"ATNlBN9Wjkosp4lj2kMu4R7qV8L4Fq8jK7QXaaifFwrPXfwxhWdqyUpeJvjrVCeY\",\"data\":{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":1795222168518,\"E\":1795222168518,\"o\":{\"s\":\"ETHUSDT\",\"c\":\"Vi5VmHxnDPPfrrL6w7k2Da\",\"S\":\"BUY\",\"o\":\"LIMIT\",\"f\":\"GTC\",\"q\":\"0.300\",\"p\":\"3086.23\",\"ap\":\"3086.2300\",\"sp\":\"0\",\"x\":\"TRADE\",\"X\":\"FILLED\",\"i\":100000000082,\"l\":\"0.300\",\"z\":\"0.300\",\"L\":\"3086.23\",\"n\":\"0.18517380\",\"N\":\"USDT\",\"T\":1795222168518,\"t\":8947131421,\"b\":\"0\",\"a\":\"0\",\"m\":true,\"R\":false,\"wt\":\"CONTRACT_PRICE\",\"ot\":\"LIMIT\",\"ps\":\"LONG\",\"cp\":false,\"rp\":\"0\",\"pP\":false,\"si\":0,\"ss\":0,\"V\":\"NONE\",\"pm\":\"NONE\",\"gtd\":0}}}";
static const char exsim_lite[] = "{\"stream\":\"ATNlBN9Wjkosp4lj2kMu4R7qV8L4Fq8jK7QXaaifFwrPXfwxhWdqyUpeJvjrVCeY\",\"data\":{\"e\":\"TRADE_LITE\",\"E\":1795222168518,\"T\":1795222168396,\"s\":\"ETHUSDT\",\"q\":\"0.300\",\"p\":\"3086.23\",\"m\":true,\"c\":\"Vi5VmHxnDPPfrrL6w7k2Da\",\"S\":\"BUY\",\"L\":\"3086.23\",\"l\":\"0.300\",\"t\":8947131421,\"i\":100000000082}}";
static const char exsim_amendment[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":1795222168711,\"E\":1795222168711,\"o\":{\"s\":\"BTCUSDT\",\"c\":\"3qQUUElCOWHgQwLqoVSbUl\",\"S\":\"BUY\",\"o\":\"LIMIT\",\"f\":\"GTX\",\"q\":\"0.030\",\"p\":\"62706.00\",\"ap\":\"62705.9000\",\"sp\":\"0\",\"x\":\"AMENDMENT\",\"X\":\"PARTIALLY_FILLED\",\"i\":100000000096,\"l\":\"0\",\"z\":\"0.003\",\"L\":\"0\",\"n\":\"0\",\"N\":\"USDT\",\"T\":1795222168711,\"t\":0,\"b\":\"1693.06200\",\"a\":\"0\",\"m\":false,\"R\":false,\"wt\":\"CONTRACT_PRICE\",\"ot\":\"LIMIT\",\"ps\":\"BOTH\",\"cp\":false,\"rp\":\"0\",\"pP\":false,\"si\":0,\"ss\":0,\"V\":\"NONE\",\"pm\":\"NONE\",\"gtd\":0}}";
static const char exsim_liquidation[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":1795222169047,\"E\":1795222169047,\"o\":{\"s\":\"XRPUSDT\",\"c\":\"autoclose-1795222169047\",\"S\":\"SELL\",\"o\":\"LIMIT\",\"f\":\"IOC\",\"q\":\"750.0\",\"p\":\"0.4947\",\"ap\":\"0.494700\",\"sp\":\"0\",\"x\":\"CALCULATED\",\"X\":\"FILLED\",\"i\":100000000128,\"l\":\"750.0\",\"z\":\"750.0\",\"L\":\"0.4947\",\"n\":\"0.18551250\",\"N\":\"USDT\",\"T\":1795222169047,\"t\":11947131432,\"b\":\"0\",\"a\":\"0\",\"m\":false,\"R\":true,\"wt\":\"CONTRACT_PRICE\",\"ot\":\"LIMIT\",\"ps\":\"BOTH\",\"cp\":false,\"rp\":\"-4.83750000\",\"pP\":false,\"si\":0,\"ss\":0,\"V\":\"NONE\",\"pm\":\"NONE\",\"gtd\":0}}";
static const char exsim_gtd[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":1795222168525,\"E\":1795222168525,\"o\":{\"s\":\"SOLUSDT\",\"c\":\"aswyp1QFzPwGF14sgjzPIi\",\"S\":\"BUY\",\"o\":\"LIMIT\",\"f\":\"GTD\",\"q\":\"6\",\"p\":\"150.1271\",\"ap\":\"0\",\"sp\":\"0\",\"x\":\"NEW\",\"X\":\"NEW\",\"i\":100000000092,\"l\":\"0\",\"z\":\"0\",\"L\":\"0\",\"n\":\"0\",\"N\":\"USDT\",\"T\":1795222168525,\"t\":0,\"b\":\"900.76260\",\"a\":\"0\",\"m\":false,\"R\":false,\"wt\":\"CONTRACT_PRICE\",\"ot\":\"LIMIT\",\"ps\":\"SHORT\",\"cp\":false,\"rp\":\"0\",\"pP\":false,\"si\":0,\"ss\":0,\"V\":\"NONE\",\"pm\":\"NONE\",\"gtd\":1795225768000}}";

Test(stream, exsim_order_kinds)
{
	cr_assert_eq(frame_str(exsim_amendment), 1, "an AMENDMENT is no fill");
	cr_assert_str_eq(got.ev[0].u.order.exec_type, "AMENDMENT");
	cr_assert_str_eq(got.ev[0].u.order.tif, "GTX");
	cr_assert_str_eq(got.ev[0].id, "o:7:100000000096:PARTIALLY_FILLED:1795222168711:0.003:62706:0.03");
	cr_assert_eq(frame_str(exsim_gtd), 1);
	cr_assert_str_eq(got.ev[0].u.order.tif, "GTD");
	cr_assert_str_eq(got.ev[0].u.order.position_side, "SHORT");

	cr_assert_eq(frame_str(exsim_liquidation), 2, "a CALCULATED with l > 0 is a fill");
	cr_assert_str_eq(got.ev[0].u.order.client_id, "autoclose-1795222169047");
	cr_assert(got.ev[0].u.order.reduce_only);
	cr_assert_eq(got.ev[1].type, EV_FILL);
	cr_assert_eq(got.ev[1].u.fill.trade_id, 11947131432LL);
	cr_assert_str_eq(got.ev[1].u.fill.qty, "750.0");
	cr_assert_str_eq(got.ev[1].u.fill.realized_pnl, "-4.83750000");
	cr_assert_str_eq(got.ev[1].id, "f:7:XRPUSDT:11947131432:100000000128");
}

/*
 * Soak seed 4004: an order and its amendment in one millisecond share
 * status, update time and filled quantity.  They are two facts: two ids.
 * The same state again (a replay) is one.
 */
Test(stream, an_amendment_in_the_same_millisecond_is_a_new_event)
{
	char first[EV_ID];
	char amended[sizeof(exsim_gtd)], requantified[sizeof(exsim_gtd)];
	char *p;

	snprintf(amended, sizeof(amended), "%s", exsim_gtd);
	cr_assert_not_null(p = strstr(amended, "\"p\":\"150.1271\""));
	memcpy(p, "\"p\":\"150.1275\"", strlen("\"p\":\"150.1275\""));
	cr_assert_not_null(p = strstr(amended, "\"x\":\"NEW\""));
	memcpy(p, "\"x\":\"AMD\"", strlen("\"x\":\"AMD\""));	/* same length; exec type is not in the id */
	snprintf(requantified, sizeof(requantified), "%s", exsim_gtd);
	cr_assert_not_null(p = strstr(requantified, "\"q\":\"6\""));
	p[5] = '7';

	cr_assert_eq(frame_str(exsim_gtd), 1);
	snprintf(first, sizeof(first), "%s", got.ev[0].id);
	cr_assert_str_eq(first, "o:7:100000000092:NEW:1795222168525:0:150.1271:6");
	cr_assert_eq(frame_str(exsim_gtd), 1);
	cr_assert_str_eq(got.ev[0].id, first, "the same state again is the same event");
	cr_assert_eq(frame_str(amended), 1);
	cr_assert_eq(got.ev[0].u.order.update_time, 1795222168525);
	cr_assert_str_eq(got.ev[0].id, "o:7:100000000092:NEW:1795222168525:0:150.1275:6");
	cr_assert_eq(frame_str(requantified), 1);
	cr_assert_str_eq(got.ev[0].id, "o:7:100000000092:NEW:1795222168525:0:150.1271:7");
}

Test(stream, calculated_without_quantity_is_no_fill)
{
	static const char s[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":2,\"T\":2,\"o\":{\"s\":\"XRPUSDT\",\"c\":\"autoclose-1\",\"S\":\"SELL\",\"o\":\"LIMIT\",\"f\":\"IOC\",\"q\":\"750.0\",\"p\":\"0.4947\",\"ap\":\"0\",\"sp\":\"0\",\"x\":\"CALCULATED\",\"X\":\"NEW\",\"i\":5,\"l\":\"0.000\",\"z\":\"0\",\"L\":\"0\",\"T\":2,\"t\":0,\"m\":false,\"R\":true,\"ps\":\"BOTH\"}}";

	cr_assert_eq(frame_str(s), 1);
	cr_assert_eq(got.ev[0].type, EV_ORDER);
	/* n, N, rp, ot and cp are optional: defaults */
	cr_assert_str_eq(got.ev[0].u.order.orig_type, "LIMIT", "ot defaults to o");
	cr_assert(!got.ev[0].u.order.close_position);
}

Test(stream, optional_fill_fields_default)
{
	static const char s[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":2,\"T\":2,\"o\":{\"s\":\"BTCUSDT\",\"c\":\"c\",\"S\":\"BUY\",\"o\":\"LIMIT\",\"f\":\"GTC\",\"q\":\"1\",\"p\":\"1\",\"ap\":\"1\",\"sp\":\"0\",\"x\":\"TRADE\",\"X\":\"FILLED\",\"i\":5,\"l\":\"1\",\"z\":\"1\",\"L\":\"1\",\"T\":2,\"t\":9,\"m\":false,\"R\":false,\"ps\":\"BOTH\"}}";

	cr_assert_eq(frame_str(s), 2);
	cr_assert_str_eq(got.ev[1].u.fill.fee, "0", "n is not pushed without a commission");
	cr_assert_str_eq(got.ev[1].u.fill.fee_asset, "");
	cr_assert_str_eq(got.ev[1].u.fill.realized_pnl, "0");
}

/* ------------------------------------------------------- TRADE_LITE */

Test(stream, trade_lite)
{
	const struct ev_fill *fl;

	cr_assert_eq(frame_fixture("trade_lite.json"), 1);
	header_ok(&got.ev[0], EV_FILL, 1721895408092LL, EVF_LITE);
	fl = &got.ev[0].u.fill;
	cr_assert_eq(fl->trade_id, 109100866);
	cr_assert_eq(fl->order_id, 8886774);
	cr_assert_str_eq(fl->symbol, "BTCUSDT");
	cr_assert_str_eq(fl->side, "BUY");
	cr_assert_str_eq(fl->price, "64089.20");
	cr_assert_str_eq(fl->qty, "0.040");
	cr_assert(!fl->maker);
	cr_assert_eq(fl->time, 1721895408214LL);
	cr_assert_str_eq(fl->position_side, "");
	cr_assert_str_eq(fl->fee, "");
	cr_assert_str_eq(fl->fee_asset, "");
	cr_assert_str_eq(fl->realized_pnl, "");
	cr_assert_str_eq(got.ev[0].id, "f:7:BTCUSDT:109100866:8886774");
}

Test(stream, trade_lite_and_order_update_of_one_fill_share_the_id)
{
	char lite_id[EV_ID];
	/* The ORDER_TRADE_UPDATE of the trade_lite.json fill. */
	static const char otu[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":1721895408093,\"T\":1721895408214,\"o\":{\"s\":\"BTCUSDT\",\"c\":\"z8hcUoOsqEdKMeKPSABslD\",\"S\":\"BUY\",\"o\":\"LIMIT\",\"f\":\"GTC\",\"q\":\"0.001\",\"p\":\"0\",\"ap\":\"64089.20\",\"sp\":\"0\",\"x\":\"TRADE\",\"X\":\"PARTIALLY_FILLED\",\"i\":8886774,\"l\":\"0.040\",\"z\":\"0.040\",\"L\":\"64089.20\",\"n\":\"0.1\",\"N\":\"USDT\",\"T\":1721895408214,\"t\":109100866,\"m\":false,\"R\":false,\"ot\":\"LIMIT\",\"ps\":\"BOTH\",\"cp\":false,\"rp\":\"0\"}}";

	cr_assert_eq(frame_fixture("trade_lite.json"), 1);
	strcpy(lite_id, got.ev[0].id);
	cr_assert_eq(frame_str(otu), 2);
	cr_assert_eq(got.ev[1].type, EV_FILL);
	cr_assert_eq(got.ev[1].flags & EVF_LITE, 0);
	cr_assert_str_eq(got.ev[1].id, lite_id);

	/* and exsim's pair */
	cr_assert_eq(frame_str(exsim_lite), 1);
	strcpy(lite_id, got.ev[0].id);
	cr_assert_eq(got.ev[0].flags, EVF_LITE);
	cr_assert_eq(frame_str(exsim_trade), 2);
	cr_assert_str_eq(got.ev[1].id, lite_id);
	cr_assert_str_eq(lite_id, "f:7:ETHUSDT:8947131421:100000000082");
}

/* --------------------------------------------------- ACCOUNT_UPDATE */

Test(stream, account_update_doc_example)
{
	const struct ev_balance *b;
	const struct ev_position *p;

	cr_assert_eq(frame_fixture("account_update.json"), 5);
	for (int i = 0; i < 2; i++)
		header_ok(&got.ev[i], EV_BALANCE, 1564745798939LL, 0);
	for (int i = 2; i < 5; i++)
		header_ok(&got.ev[i], EV_POSITION, 1564745798939LL, 0);
	b = &got.ev[0].u.balance;
	cr_assert_str_eq(b->asset, "USDT");
	cr_assert_str_eq(b->wallet, "122624.12345678");
	cr_assert_str_eq(b->cross_wallet, "100.12345678");
	cr_assert_str_eq(b->change, "50.12345678");
	cr_assert_str_eq(b->reason, "ORDER");
	cr_assert_eq(b->update_time, 1564745798938LL);
	cr_assert_str_eq(got.ev[0].id, "b:7:USDT:1564745798938:122624.12345678");
	b = &got.ev[1].u.balance;
	cr_assert_str_eq(b->asset, "BUSD");
	cr_assert_str_eq(b->change, "-49.12345678");
	cr_assert_str_eq(got.ev[1].id, "b:7:BUSD:1564745798938:1");

	p = &got.ev[2].u.position;
	cr_assert_str_eq(p->symbol, "BTCUSDT");
	cr_assert_str_eq(p->position_side, "BOTH");
	cr_assert_str_eq(p->amount, "0");
	cr_assert_str_eq(p->entry_price, "0.00000");
	cr_assert_str_eq(p->breakeven_price, "0");
	cr_assert_str_eq(p->unrealized_pnl, "0");
	cr_assert_str_eq(p->margin_type, "isolated");
	cr_assert_str_eq(p->isolated_wallet, "0.00000000");
	cr_assert_str_eq(p->margin_asset, "", "the doc example has no ma");
	cr_assert_eq(p->update_time, 1564745798938LL);
	p = &got.ev[4].u.position;
	cr_assert_str_eq(p->position_side, "SHORT");
	cr_assert_str_eq(p->amount, "-10");
	cr_assert_str_eq(p->entry_price, "6563.86000");
	cr_assert_str_eq(p->breakeven_price, "6563.6");
	cr_assert_str_eq(p->unrealized_pnl, "-1423.15600");
	cr_assert_str_eq(p->isolated_wallet, "6570.42511771");
	cr_assert_str_eq(got.ev[4].id, "p:7:BTCUSDT:SHORT:1564745798938:-10");
}

Test(stream, account_update_capture)
{
	const struct ev_position *p;

	cr_assert_eq(frame_fixture("account_update_capture.json"), 2);
	cr_assert_eq(got.ev[0].type, EV_BALANCE);
	cr_assert_str_eq(got.ev[0].u.balance.wallet, "316.19421294");
	cr_assert_str_eq(got.ev[0].u.balance.change, "0");
	cr_assert_eq(got.ev[1].type, EV_POSITION);
	p = &got.ev[1].u.position;
	cr_assert_str_eq(p->symbol, "TRXUSDT");
	cr_assert_str_eq(p->amount, "-150");
	cr_assert_str_eq(p->margin_asset, "USDT", "real frames carry ma");
	cr_assert_str_eq(p->breakeven_price, "0", "this capture predates bep");
	cr_assert_eq(got.ev[1].event_time, 1622812021758LL);
	cr_assert_eq(p->update_time, 1622812021756LL);
	cr_assert_str_eq(got.ev[1].id, "p:7:TRXUSDT:BOTH:1622812021756:-150");
}

Test(stream, combined_envelope)
{
	size_t len;
	char *buf = fixture("account_update_deposit_combined_stream_capture.json", &len);
	struct bf_frame f;
	const char *err = NULL;

	cr_assert_eq(bf_frame_parse(buf, len, &f, &err), 0, "%s", err);
	cr_assert_str_eq(f.stream, "znwAi62B0krfvfENOI2zqq5VSOAMU21QGFDAYHxUckgQ3LezOV4Of7RnBbUnDSpo");
	cr_assert_str_eq(f.etype, "ACCOUNT_UPDATE");
	cr_assert_eq(f.event_time, 1643187247442LL);
	cr_assert_null(f.expired_key);
	bf_frame_free(&f);
	cr_assert_eq(frame_fixture("account_update_deposit_combined_stream_capture.json"), 1,
	    "P is empty: one balance, no position");
	header_ok(&got.ev[0], EV_BALANCE, 1643187247442LL, 0);
	cr_assert_str_eq(got.ev[0].u.balance.asset, "BUSD");
	cr_assert_str_eq(got.ev[0].u.balance.change, "787");
	cr_assert_str_eq(got.ev[0].u.balance.reason, "DEPOSIT");
	cr_assert_str_eq(got.ev[0].id, "b:7:BUSD:1643187247436:1575.59145825");
	free(buf);
}

Test(stream, exsim_account_update_funding_fee)
{
	static const char s[] = "{\"stream\":\"YdIKp0aEwA6LpXsMIxk8EdVV9dRrJZL9u673PJq0W4EDw8fDj1Q8kZYmNWHNxrWy\",\"data\":{\"e\":\"ACCOUNT_UPDATE\",\"T\":1795222168516,\"E\":1795222168516,\"a\":{\"B\":[{\"a\":\"USDT\",\"wb\":\"11304.81107761\",\"cw\":\"11304.81107761\",\"bc\":\"-0.68037425\"}],\"P\":[{\"s\":\"ETHUSDT\",\"pa\":\"0.707\",\"ep\":\"3088.30542\",\"bep\":\"3091.39372542\",\"cr\":\"-1.85027700\",\"up\":\"-3.06514194\",\"mt\":\"cross\",\"iw\":\"0.00000000\",\"ps\":\"LONG\",\"ma\":\"USDT\"}],\"m\":\"FUNDING_FEE\"}}}";

	cr_assert_eq(frame_str(s), 2);
	cr_assert_str_eq(got.ev[0].u.balance.reason, "FUNDING_FEE");
	cr_assert_str_eq(got.ev[0].u.balance.change, "-0.68037425");
	cr_assert_str_eq(got.ev[1].u.position.margin_type, "cross");
	cr_assert_str_eq(got.ev[1].u.position.breakeven_price, "3091.39372542");
}

/* ------------------------------------------------------ MARGIN_CALL */

Test(stream, margin_call)
{
	const struct ev_margin_call *m;

	cr_assert_eq(frame_fixture("margin_call.json"), 1);
	header_ok(&got.ev[0], EV_MARGIN_CALL, 1587727187525LL, 0);
	m = &got.ev[0].u.margin_call;
	cr_assert_str_eq(m->cross_wallet, "3.16812045");
	cr_assert_str_eq(m->symbol, "ETHUSDT");
	cr_assert_str_eq(m->position_side, "LONG");
	cr_assert_str_eq(m->amount, "1.327");
	cr_assert_str_eq(m->margin_type, "CROSSED", "kept as received");
	cr_assert_str_eq(m->isolated_wallet, "0");
	cr_assert_str_eq(m->mark_price, "187.17127");
	cr_assert_str_eq(m->unrealized_pnl, "-1.166074");
	cr_assert_str_eq(m->maint_margin, "1.614445");
	cr_assert_str_eq(got.ev[0].id, "m:7:1587727187525:ETHUSDT:LONG");
}

Test(stream, margin_call_positions)
{
	static const char two[] = "{\"e\":\"MARGIN_CALL\",\"E\":5,\"cw\":\"3\",\"p\":[{\"s\":\"A\",\"ps\":\"LONG\",\"pa\":\"1\",\"mt\":\"CROSSED\",\"iw\":\"0\",\"mp\":\"1\",\"up\":\"-1\",\"mm\":\"1\"},{\"s\":\"B\",\"ps\":\"SHORT\",\"pa\":\"-2\",\"mt\":\"ISOLATED\",\"iw\":\"4\",\"mp\":\"2\",\"up\":\"-2\",\"mm\":\"2\"}]}";

	cr_assert_eq(frame_str("{\"e\":\"MARGIN_CALL\",\"E\":5,\"cw\":\"3.1\",\"p\":[]}"), 1);
	cr_assert_str_eq(got.ev[0].u.margin_call.symbol, "");
	cr_assert_str_eq(got.ev[0].u.margin_call.cross_wallet, "3.1");
	cr_assert_str_eq(got.ev[0].id, "m:7:5::");
	cr_assert_eq(frame_str(two), 2);
	cr_assert_str_eq(got.ev[0].u.margin_call.cross_wallet, "3", "cw copied into each");
	cr_assert_str_eq(got.ev[1].u.margin_call.cross_wallet, "3");
	cr_assert_str_eq(got.ev[1].u.margin_call.margin_type, "ISOLATED");
	cr_assert_str_eq(got.ev[1].id, "m:7:5:B:SHORT");
}

/* -------------------------------------------- ACCOUNT_CONFIG_UPDATE */

Test(stream, account_config_leverage)
{
	cr_assert_eq(frame_fixture("account_config_update_leverage.json"), 1);
	header_ok(&got.ev[0], EV_CONFIG, 1611646737479LL, 0);
	cr_assert_str_eq(got.ev[0].u.config.symbol, "BTCUSDT");
	cr_assert_eq(got.ev[0].u.config.leverage, 25);
	cr_assert_eq(got.ev[0].u.config.multi_assets, -1);
	cr_assert_eq(got.ev[0].u.config.update_time, 1611646737476LL);
	cr_assert_str_eq(got.ev[0].id, "c:7:BTCUSDT:1611646737476");
}

Test(stream, account_config_multi_assets)
{
	cr_assert_eq(frame_fixture("account_config_update_multi_assets.json"), 1);
	header_ok(&got.ev[0], EV_CONFIG, 1611646737479LL, 0);
	cr_assert_str_eq(got.ev[0].u.config.symbol, "");
	cr_assert_eq(got.ev[0].u.config.leverage, -1);
	cr_assert_eq(got.ev[0].u.config.multi_assets, 1);
	cr_assert_str_eq(got.ev[0].id, "c:7::1611646737476");
	cr_assert_eq(frame_str("{\"e\":\"ACCOUNT_CONFIG_UPDATE\",\"E\":3,\"T\":2,\"ai\":{\"j\":false}}"), 1);
	cr_assert_eq(got.ev[0].u.config.multi_assets, 0);
}

/* ------------------------------------------------------ ALGO_UPDATE */

Test(stream, algo_update)
{
	const struct ev_algo *a;

	cr_assert_eq(frame_fixture("algo_update.json"), 1);
	header_ok(&got.ev[0], EV_ALGO, 1750515742303LL, 0);
	a = &got.ev[0].u.algo;
	cr_assert_eq(a->algo_id, 2148719);
	cr_assert_str_eq(a->client_id, "Q5xaq5EGKgXXa0fD7fs0Ip");
	cr_assert_str_eq(a->algo_type, "CONDITIONAL");
	cr_assert_str_eq(a->type, "TAKE_PROFIT");
	cr_assert_str_eq(a->symbol, "BNBUSDT");
	cr_assert_str_eq(a->side, "SELL");
	cr_assert_str_eq(a->position_side, "BOTH");
	cr_assert_str_eq(a->tif, "GTC");
	cr_assert_str_eq(a->qty, "0.01");
	cr_assert_str_eq(a->status, "CANCELED");
	cr_assert_str_eq(a->actual_order_id, "");
	cr_assert_str_eq(a->avg_price, "0.00000");
	cr_assert_str_eq(a->filled_qty, "0.00000");
	cr_assert_str_eq(a->trigger_price, "750");
	cr_assert_str_eq(a->price, "750");
	cr_assert(!a->reduce_only);
	cr_assert(!a->close_position);
	cr_assert_str_eq(a->reject_reason, "Reduce Only reject");
	cr_assert_eq(a->update_time, 1750515742297LL);
	cr_assert_str_eq(got.ev[0].id, "a:7:2148719:CANCELED:1750515742297");
}

Test(stream, exsim_algo_triggered_and_config)
{
	static const char algo[] = "{\"stream\":\"DbjUdJTVkB7lq8xvbScD45jnwjNQEhxBfUEz4KAlat8cXgbsB5C2nX3O3dXsuYLm\",\"data\":{\"e\":\"ALGO_UPDATE\",\"T\":1795222168909,\"E\":1795222168909,\"o\":{\"caid\":\"stlwVYMOJ4BK9zW3XCsvpv\",\"aid\":2148730,\"at\":\"CONDITIONAL\",\"o\":\"STOP_MARKET\",\"s\":\"SOLUSDT\",\"S\":\"SELL\",\"ps\":\"BOTH\",\"f\":\"GTC\",\"q\":\"1\",\"X\":\"TRIGGERED\",\"ai\":\"100000000121\",\"ap\":\"0.00000\",\"aq\":\"0.00000\",\"act\":\"0\",\"tp\":\"149.4091\",\"p\":\"0\",\"V\":\"EXPIRE_MAKER\",\"wt\":\"CONTRACT_PRICE\",\"pm\":\"NONE\",\"cp\":false,\"pP\":false,\"R\":false,\"tt\":1795222168909,\"gtd\":0,\"rm\":\"\"}}}";
	static const char config[] = "{\"stream\":\"ATNlBN9Wjkosp4lj2kMu4R7qV8L4Fq8jK7QXaaifFwrPXfwxhWdqyUpeJvjrVCeY\",\"data\":{\"e\":\"ACCOUNT_CONFIG_UPDATE\",\"E\":1795222168925,\"T\":1795222168925,\"ac\":{\"s\":\"BTCUSDT\",\"l\":20}}}";

	cr_assert_eq(frame_str(algo), 1);
	cr_assert_str_eq(got.ev[0].u.algo.status, "TRIGGERED");
	cr_assert_str_eq(got.ev[0].u.algo.actual_order_id, "100000000121");
	cr_assert_str_eq(got.ev[0].u.algo.trigger_price, "149.4091");
	cr_assert_str_eq(got.ev[0].u.algo.reject_reason, "");
	cr_assert_str_eq(got.ev[0].id, "a:7:2148730:TRIGGERED:1795222168909");
	cr_assert_eq(frame_str(config), 1);
	cr_assert_eq(got.ev[0].u.config.leverage, 20);
}

Test(stream, algo_reject_reason_is_cut_on_a_character)
{
	char s[512], rm[100];
	size_t n;

	/* 62 ASCII bytes then "é" (2 bytes) then more: the cut keeps "é" out whole */
	memset(rm, 'r', 62);
	strcpy(rm + 62, "\xc3\xa9xyz");
	snprintf(s, sizeof(s), "{\"e\":\"ALGO_UPDATE\",\"E\":1,\"T\":1,\"o\":{\"caid\":\"c\",\"aid\":1,\"at\":\"CONDITIONAL\",\"o\":\"STOP\",\"s\":\"X\",\"S\":\"BUY\",\"ps\":\"BOTH\",\"f\":\"GTC\",\"q\":\"1\",\"X\":\"REJECTED\",\"ai\":12345,\"rm\":\"%s\"}}", rm);
	cr_assert_eq(frame_str(s), 1);
	n = strlen(got.ev[0].u.algo.reject_reason);
	cr_assert_eq(n, 62);
	cr_assert_str_eq(got.ev[0].u.algo.actual_order_id, "12345", "ai may be an integer");
	cr_assert_str_eq(got.ev[0].u.algo.avg_price, "0");
}

/* ------------------------------------------ listenKeyExpired, unknown */

Test(stream, listen_key_expired)
{
	static const char old[] = "{\"e\":\"listenKeyExpired\",\"E\":1576653824250}";
	size_t len;
	char *buf = fixture("listen_key_expired.json", &len);
	struct bf_frame f;
	const char *err = NULL;

	cr_assert_eq(bf_frame_parse(buf, len, &f, &err), 0, "%s", err);
	cr_assert_str_eq(f.etype, "listenKeyExpired");
	cr_assert_str_eq(f.expired_key,
	    "WsCMN0a4KHUPTQuX6IUnqEZfB1inxmv1qR4kbf1LuEjur5VdbzqvyxqG9TSjVVxv");
	cr_assert_eq(f.event_time, 1736996475556LL);
	got_reset();
	cr_assert_eq(bf_frame_events(&f, buf, len, &org, collect, &got, NULL), 0);
	cr_assert_eq(got.n, 0);
	bf_frame_free(&f);
	free(buf);

	/* Read leniently: an expiry missed silences the account. */
	cr_assert_eq(bf_frame_parse(old, strlen(old), &f, &err), 0, "older frames carry no listenKey");
	cr_assert_str_eq(f.expired_key, "", "then it is the connection's own key");
	cr_assert_eq(f.event_time, 1576653824250LL);
	bf_frame_free(&f);
	buf = strdup("{\"stream\":\"K1\",\"data\":{\"e\":\"listenKeyExpired\",\"E\":\"1736996475556\"}}");
	cr_assert_eq(bf_frame_parse(buf, strlen(buf), &f, &err), 0, "E as a string: %s", err);
	cr_assert_str_eq(f.expired_key, "K1", "the envelope names the key");
	cr_assert_eq(f.event_time, 1736996475556LL);
	bf_frame_free(&f);
	free(buf);
	malformed("{\"e\":\"listenKeyExpired\",\"E\":\"17x\",\"listenKey\":\"k\"}",
	    "listenKeyExpired: E: expected an integer");
	malformed("{\"e\":\"listenKeyExpired\",\"listenKey\":\"k\"}", "listenKeyExpired: E: missing");
	malformed("{\"e\":\"listenKeyExpired\",\"E\":1,\"listenKey\":5}",
	    "listenKeyExpired: listenKey: expected a string");
}

/*
 * jansson parses into a bump arena (binance_futures.c) that starts over
 * only when every block from it is freed: a frame kept while others are
 * parsed, and a frame too big for the arena, keep their values.
 */
static char *
balances_frame(const char *key, int rows)
{
	size_t cap = 200 + (size_t)rows * 64, n;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	n = (size_t)snprintf(buf, cap, "{\"stream\":\"%s\",\"data\":{\"e\":\"ACCOUNT_UPDATE\","
	    "\"E\":1700000000000,\"T\":1700000000001,\"a\":{\"m\":\"ORDER\",\"B\":[", key);
	for (int i = 0; i < rows; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s{\"a\":\"A%d\",\"wb\":\"%d.5\","
		    "\"cw\":\"1\",\"bc\":\"0\"}", i ? "," : "", i, i);
	snprintf(buf + n, cap - n, "],\"P\":[]}}}");
	return buf;
}

static void
check_balances(const char *buf, struct bf_frame *f, const char *key, int rows)
{
	char want[32];

	cr_assert_str_eq(f->stream, key);
	cr_assert_str_eq(f->etype, "ACCOUNT_UPDATE");
	got_reset();
	cr_assert_eq(bf_frame_events(f, buf, strlen(buf), &org, collect, &got, NULL), rows);
	for (int i = 0; i < rows; i++) {
		snprintf(want, sizeof(want), "A%d", i);
		cr_assert_str_eq(got.ev[i].u.balance.asset, want);
		snprintf(want, sizeof(want), "%d.5", i);
		cr_assert_str_eq(got.ev[i].u.balance.wallet, want);
	}
}

Test(stream, frames_kept_while_others_parse)
{
	char *a = balances_frame("KA", 3), *b = balances_frame("KB", 5);
	char *big = balances_frame("KBIG", 4000), *c = balances_frame("KC", 2);
	struct bf_frame fa, fb, fbig, fc;
	const char *err = NULL;
	const json_t *bal;

	cr_assert_eq(bf_frame_parse(a, strlen(a), &fa, &err), 0, "%s", err);
	cr_assert_eq(bf_frame_parse(b, strlen(b), &fb, &err), 0, "%s", err);
	check_balances(a, &fa, "KA", 3);
	/* Bigger than the arena: the rest of its blocks come from malloc. */
	cr_assert_eq(bf_frame_parse(big, strlen(big), &fbig, &err), 0, "%s", err);
	bf_frame_free(&fa);
	cr_assert_eq(bf_frame_parse(c, strlen(c), &fc, &err), 0, "%s", err);
	check_balances(b, &fb, "KB", 5);
	check_balances(c, &fc, "KC", 2);
	cr_assert_str_eq(fbig.stream, "KBIG");
	bal = json_object_get(json_object_get((json_t *)fbig.data, "a"), "B");
	cr_assert_eq(json_array_size(bal), 4000);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(bal, 3999), "a")),
	    "A3999");
	bf_frame_free(&fb);
	bf_frame_free(&fbig);
	bf_frame_free(&fc);
	/* Everything freed: the arena starts over, and parses as before. */
	cr_assert_eq(bf_frame_parse(a, strlen(a), &fa, &err), 0, "%s", err);
	check_balances(a, &fa, "KA", 3);
	bf_frame_free(&fa);
	got_reset();
	free(a);
	free(b);
	free(big);
	free(c);
}

/* A kept frame's tree as balances_frame(key, rows) made it: every balance's asset and wallet. */
static void
check_tree(const struct bf_frame *f, const char *key, int rows, unsigned seed, int step)
{
	const json_t *bal = json_object_get(json_object_get((json_t *)f->data, "a"), "B");
	char want[32];

	cr_assert_str_eq(f->stream, key, "seed %u step %d", seed, step);
	cr_assert_eq(json_array_size(bal), (size_t)rows, "seed %u step %d: %s", seed, step, key);
	for (int i = 0; i < rows; i++) {
		const json_t *b = json_array_get(bal, (size_t)i);

		snprintf(want, sizeof(want), "A%d", i);
		cr_assert_str_eq(json_string_value(json_object_get(b, "a")), want,
		    "seed %u step %d: %s row %d", seed, step, key, i);
		snprintf(want, sizeof(want), "%d.5", i);
		cr_assert_str_eq(json_string_value(json_object_get(b, "wb")), want,
		    "seed %u step %d: %s row %d", seed, step, key, i);
	}
}

/*
 * The same rule under a random schedule: frames of random sizes (now and
 * then larger than the arena) parsed and kept, others freed in random
 * order, and after every step each kept frame still reads as it was made.
 * A block handed out twice, or an arena started over while a tree lives,
 * shows as a kept frame whose balances changed.  Seeded: a failure names
 * the seed and the step.
 */
Test(stream, frames_kept_and_freed_at_random)
{
	enum { KEEP = 6, STEPS = 1500 };
	struct { char *buf; char key[16]; int rows; struct bf_frame f; } k[KEEP];
	unsigned seed = 20261202, x = seed;
	const char *err = NULL;
	int n = 0, made = 0;

	for (int step = 0; step < STEPS; step++) {
		x = x * 1103515245u + 12345u;
		if (n > 0 && (x >> 24) % 16 == 0) {
			/* All go: the arena starts over, and fills from the start again. */
			while (n > 0) {
				n--;
				bf_frame_free(&k[n].f);
				free(k[n].buf);
			}
		} else if (n == KEEP || (n > 0 && (x >> 16) % 2 == 0)) {
			int i = (int)((x >> 8) % (unsigned)n);

			bf_frame_free(&k[i].f);
			free(k[i].buf);
			k[i] = k[--n];
		} else {
			int rows = (x >> 20) % 16 == 0 ? 200 + (int)((x >> 4) % 3000) :
			    1 + (int)((x >> 4) % 40);

			snprintf(k[n].key, sizeof(k[n].key), "K%d", made++);
			k[n].rows = rows;
			k[n].buf = balances_frame(k[n].key, rows);
			cr_assert_eq(bf_frame_parse(k[n].buf, strlen(k[n].buf), &k[n].f, &err), 0,
			    "seed %u step %d: %s", seed, step, err);
			n++;
		}
		for (int i = 0; i < n; i++)
			check_tree(&k[i].f, k[i].key, k[i].rows, seed, step);
	}
	while (n > 0) {
		n--;
		bf_frame_free(&k[n].f);
		free(k[n].buf);
	}
	/* Everything freed: the arena starts over and a frame reads through the parser whole. */
	k[0].buf = balances_frame("KLAST", 5);
	cr_assert_eq(bf_frame_parse(k[0].buf, strlen(k[0].buf), &k[0].f, &err), 0, "%s", err);
	check_balances(k[0].buf, &k[0].f, "KLAST", 5);
	bf_frame_free(&k[0].f);
	free(k[0].buf);
	got_reset();
}

Test(stream, unknown_type_is_kept_raw)
{
	static const char bare[] = "{\"e\":\"STRATEGY_UPDATE\",\"T\":1,\"E\":1669632133000,\"su\":{\"si\":176054594,\"ss\":\"NEW\"}}";
	static const char env[] = "{\"stream\":\"SECRETLISTENKEY\", \"data\" : {\"e\":\"STRATEGY_UPDATE\",\"T\":1,\"E\":1669632133000,\"su\":{\"si\":176054594,\"ss\":\"NEW\"}} }";
	char want[EV_ID], h[17], id[EV_ID];

	cr_assert_eq(frame_str(bare), 1);
	header_ok(&got.ev[0], EV_UNKNOWN, 1669632133000LL, 0);
	cr_assert_str_eq(got.ev[0].u.unknown.name, "STRATEGY_UPDATE");
	cr_assert_str_eq(got.ev[0].u.unknown.raw, bare);
	sha16(bare, h);
	snprintf(want, sizeof(want), "u:7:1669632133000:STRATEGY_UPDATE:%s", h);
	cr_assert_str_eq(got.ev[0].id, want);
	strcpy(id, got.ev[0].id);

	/* In the envelope only the data object is kept: no listen key in event_log. */
	cr_assert_eq(frame_str(env), 1);
	cr_assert_str_eq(got.ev[0].u.unknown.raw, bare);
	cr_assert_null(strstr(got.ev[0].u.unknown.raw, "SECRETLISTENKEY"));
	cr_assert_str_eq(got.ev[0].id, id, "bare and enveloped: one fact, one id");

	/* A market event on the private stream is just as unknown, E or not. */
	cr_assert_eq(frame_fixture("agg_trade.json"), 1);
	cr_assert_str_eq(got.ev[0].u.unknown.name, "aggTrade");
	cr_assert_eq(frame_str("{\"e\":\"GRID_UPDATE\"}"), 1);
	cr_assert_eq(got.ev[0].event_time, 0);
	cr_assert_eq(strncmp(got.ev[0].id, "u:7:0:GRID_UPDATE:", 18), 0);
}

/* -------------------------------------------------------- malformed */

/* A valid ORDER_TRADE_UPDATE with one field replaced: %s is the o.z member. */
#define OTU_WITH(member) "{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":1,\"T\":1,\"o\":{\"s\":\"BTCUSDT\",\"c\":\"c\",\"S\":\"BUY\",\"o\":\"LIMIT\",\"f\":\"GTC\",\"q\":\"1\",\"p\":\"1\",\"ap\":\"1\",\"sp\":\"0\",\"x\":\"TRADE\",\"X\":\"FILLED\"," member ",\"l\":\"1\",\"L\":\"1\",\"n\":\"0\",\"N\":\"USDT\",\"T\":1,\"t\":9,\"m\":false,\"R\":false,\"ot\":\"LIMIT\",\"ps\":\"BOTH\",\"cp\":false,\"rp\":\"0\"}}"

Test(stream, malformed_frames_are_rejected)
{
	cr_assert_eq(frame_str(OTU_WITH("\"i\":5,\"z\":\"1\"")), 2, "the template itself is valid");

	malformed("this is not json", "not JSON");
	malformed("{\"e\":\"TRADE_LITE\"", "not JSON");
	malformed("{\"e\":\"GRID_UPDATE\",\"E\":1} trailing", "not JSON");
	malformed("[1,2,3]", "not a JSON object");
	malformed("\"ORDER_TRADE_UPDATE\"", "not JSON");
	malformed("{\"E\":1,\"o\":{}}", "frame: e: missing");
	malformed("{\"e\":5,\"E\":1}", "frame: e: expected a non-empty string");
	malformed("{\"stream\":\"k\",\"data\":[1]}", "envelope: data: expected an object");
	malformed("{\"stream\":7,\"data\":{\"e\":\"X\"}}", "envelope: stream: expected a string");
	malformed("{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":1}", "ORDER_TRADE_UPDATE: E: missing");
	malformed("{\"e\":\"GRID_UPDATE\",\"E\":1e300}", "GRID_UPDATE: E: expected an integer");
	/* beyond int64: jansson refuses the number, so the frame */
	malformed("{\"e\":\"ACCOUNT_UPDATE\",\"E\":99999999999999999999,\"T\":1,\"a\":{}}", "not JSON");
	/* invalid UTF-8 and NUL are not JSON text: nothing of it can reach PostgreSQL */
	malformed("{\"e\":\"GRID_UPDATE\",\"E\":1,\"x\":\"\xc3\x28\"}", "not JSON");
	malformed("{\"e\":\"GRID_UPDATE\",\"E\":1,\"x\":\"a\\u0000b\"}", "not JSON");
	/* control bytes are neither whitespace nor string text */
	malformed("{\"e\":\"GRID_UPDATE\",\"E\":1,\"x\":\"a\x01b\"}", "not JSON");
	malformed("{\"e\":\"GRID_UPDATE\",\x0b\"E\":1}", "not JSON");
	malformed("\x01{\"e\":\"GRID_UPDATE\",\"E\":1}", "not JSON");
	/* an integer field given a fraction just below 2^53 is not an integer */
	malformed("{\"e\":\"GRID_UPDATE\",\"E\":9007199254740991.4}",
	    "GRID_UPDATE: E: expected an integer");
	/* a key twice, once escaped: one object, two candidates for "data" */
	malformed("{\"stream\":\"k\",\"d\\u0061ta\":{\"e\":\"A\",\"E\":1},"
	    "\"data\":{\"e\":\"B\",\"E\":2}}", "not JSON");
	malformed("{\"e\":\"GRID_UPDATE\",\"E\":1,\"E\":2}", "not JSON");
}

/*
 * A NUL byte between tokens: jansson skipped it ("[0<NUL>]" read as [0])
 * while the unknown event's raw text, a C string, ended at it: event_log
 * kept "{...,\"p\":[0", not JSON (fuzz_binance).  No JSON text has one.
 */
Test(stream, a_nul_byte_is_not_json)
{
	static const char s[] = "{\"e\":\"MARGIN_LACL\",\"E\":5,\"p\":[0\0]}";
	const char *err = NULL;

	cr_assert_eq(frame(s, sizeof(s) - 1, &err), -1);
	cr_assert(err != NULL && strstr(err, "NUL byte") != NULL, "%s", err ? err : "(none)");
	cr_assert_eq(rest(BF_REST_USER_TRADES, "[\0]", 3, &err), -1);
}

/* An escaped key alone is the key: the raw text kept is that object's. */
Test(stream, an_escaped_envelope_key_keeps_its_own_object)
{
	const char *s = "{\"stream\":\"k\",\"d\\u0061ta\":{\"e\":\"GRID_UPDATE\",\"E\":7,"
	    "\"x\":{\"data\":1}}}";

	cr_assert_eq(frame_str(s), 1);
	cr_assert_eq(got.ev[0].event_time, 7);
	cr_assert(strstr(got.ev[0].u.unknown.raw, "\"x\":{\"data\":1}") != NULL, "%s",
	    got.ev[0].u.unknown.raw);
	cr_assert(strstr(got.ev[0].u.unknown.raw, "\"stream\"") == NULL, "%s", got.ev[0].u.unknown.raw);
}

/* Each event of a frame is built and checked alone (DESIGN §3.6). */
Test(stream, a_bad_value_drops_its_event_only)
{
	/* o.z belongs to the order, not to the fill: the fill of the frame survives */
	dropped(OTU_WITH("\"i\":5,\"z\":0"), "ORDER_TRADE_UPDATE: o.z: expected a string", 1, 1);
	cr_assert_eq(got.ev[0].type, EV_FILL);
	cr_assert_eq(got.ev[0].u.fill.trade_id, 9);
	dropped(OTU_WITH("\"i\":5,\"z\":\"1e3\""), "o.z: not a decimal number", 1, 1);
	dropped(OTU_WITH("\"i\":5,\"z\":\"\""), "o.z: not a decimal number", 1, 1);
	dropped(OTU_WITH("\"i\":5,\"z\":\"1.0000000000000000000000000000000000000001\""),
	    "o.z: not a decimal number (or too long)", 1, 1);
	/* o.i is both the order's and the fill's: both go */
	dropped(OTU_WITH("\"i\":\"5\",\"z\":\"1\""), "ORDER_TRADE_UPDATE: o.i: expected an integer", 2, 0);
	dropped(OTU_WITH("\"i\":1.5,\"z\":\"1\""), "o.i: expected an integer, got a fraction", 2, 0);
	/* m is the fill's: the order survives */
	dropped("{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":1,\"T\":1,\"o\":{\"s\":\"BTCUSDT\",\"c\":\"c\",\"S\":\"BUY\",\"o\":\"LIMIT\",\"f\":\"GTC\",\"q\":\"1\",\"p\":\"1\",\"ap\":\"1\",\"sp\":\"0\",\"x\":\"TRADE\",\"X\":\"FILLED\",\"i\":5,\"z\":\"1\",\"l\":\"1\",\"L\":\"1\",\"T\":1,\"t\":9,\"m\":\"false\",\"R\":false,\"ps\":\"BOTH\"}}",
	    "o.m: expected a boolean", 1, 1);
	cr_assert_eq(got.ev[0].type, EV_ORDER);
	/* a key given twice: not taken at all (which one would count?) */
	malformed(OTU_WITH("\"i\":5,\"z\":\"1\",\"m\":\"false\""), "duplicate object key");
	dropped("{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":1,\"T\":1}", "ORDER_TRADE_UPDATE: o: missing", 1, 0);
	dropped("{\"e\":\"TRADE_LITE\",\"E\":1,\"T\":1,\"s\":\"X\",\"S\":\"BUY\",\"L\":\"1\",\"l\":\"1\",\"m\":true,\"i\":1}",
	    "TRADE_LITE: t: missing", 1, 0);
	dropped("{\"e\":\"MARGIN_CALL\",\"E\":1,\"cw\":\"1\",\"p\":{}}", "MARGIN_CALL: p: expected an array", 1, 0);
	dropped("{\"e\":\"ACCOUNT_CONFIG_UPDATE\",\"E\":1,\"T\":1}", "ACCOUNT_CONFIG_UPDATE: ac: missing", 1, 0);
	dropped("{\"e\":\"ACCOUNT_CONFIG_UPDATE\",\"E\":1,\"T\":1,\"ac\":{\"s\":\"X\",\"l\":\"20\"}}",
	    "ACCOUNT_CONFIG_UPDATE: ac.l: expected a leverage", 1, 0);
	/* above the codec's bound: dropped at the parser, never sent to the writer */
	dropped("{\"e\":\"ACCOUNT_CONFIG_UPDATE\",\"E\":1,\"T\":1,\"ac\":{\"s\":\"X\",\"l\":100001}}",
	    "ac.l: expected a leverage", 1, 0);
	dropped("{\"e\":\"ALGO_UPDATE\",\"E\":1,\"T\":1,\"o\":{\"caid\":\"c\",\"aid\":1,\"at\":\"C\",\"o\":\"STOP\",\"s\":\"X\",\"S\":\"BUY\",\"ps\":\"BOTH\",\"f\":\"GTC\",\"q\":\"1\",\"X\":\"NEW\",\"ai\":true}}",
	    "ALGO_UPDATE: o.ai: expected a string or an integer", 0, 1);
	cr_assert_eq(drops.fields, 1, "an unusable optional field takes its default, counted");
	cr_assert_str_eq(got.ev[0].u.algo.actual_order_id, "");
	/* a symbol (a key) too long for its field drops the event; nothing is cut */
	dropped("{\"e\":\"TRADE_LITE\",\"E\":1,\"T\":1,\"s\":\"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\",\"S\":\"BUY\",\"L\":\"1\",\"l\":\"1\",\"m\":true,\"t\":1,\"i\":1}",
	    "TRADE_LITE: s: string too long", 1, 0);
	/* and the parser is still good for the next frame */
	cr_assert_eq(frame_fixture("account_update_capture.json"), 2);
}

Test(stream, a_bad_row_drops_only_itself)
{
	/* The balance and the first position are fine; the second position is not. */
	static const char s[] = "{\"e\":\"ACCOUNT_UPDATE\",\"E\":1,\"T\":1,\"a\":{\"m\":\"ORDER\",\"B\":[{\"a\":\"USDT\",\"wb\":\"1\",\"cw\":\"1\",\"bc\":\"0\"}],\"P\":[{\"s\":\"A\",\"pa\":\"1\",\"ep\":\"1\",\"up\":\"0\",\"mt\":\"cross\",\"iw\":\"0\",\"ps\":\"BOTH\"},{\"s\":\"B\",\"pa\":1,\"ep\":\"1\",\"up\":\"0\",\"mt\":\"cross\",\"iw\":\"0\",\"ps\":\"BOTH\"}]}}";

	dropped(s, "ACCOUNT_UPDATE: a.P[1].pa: expected a string", 1, 2);
	cr_assert_eq(got.ev[0].type, EV_BALANCE);
	cr_assert_eq(got.ev[1].type, EV_POSITION);
	cr_assert_str_eq(got.ev[1].u.position.symbol, "A");
	dropped("{\"e\":\"ACCOUNT_UPDATE\",\"E\":1,\"T\":1,\"a\":{\"m\":\"ORDER\",\"B\":[{\"a\":\"USDT\",\"wb\":\"1\",\"cw\":\"1\"},7]}}",
	    "ACCOUNT_UPDATE: a.B[1]: expected an object", 1, 1);
	/* a.m is a reason: without it the rows are still the account's state */
	cr_assert_eq(frame_str("{\"e\":\"ACCOUNT_UPDATE\",\"E\":1,\"T\":1,\"a\":{\"B\":[{\"a\":\"USDT\",\"wb\":\"1\",\"cw\":\"1\"}]}}"), 1);
	cr_assert_str_eq(got.ev[0].u.balance.reason, "");
	cr_assert_eq(frame_fixture("account_update_capture.json"), 2);
}

/* Values the writer's decoder used to refuse are now read as the one form both take. */
Test(stream, decimals_take_the_canonical_form)
{
	cr_assert_eq(frame_str(OTU_WITH("\"i\":5,\"z\":\"5.\"")), 2);
	cr_assert_str_eq(got.ev[0].u.order.filled_qty, "5");
	cr_assert_eq(frame_str(OTU_WITH("\"i\":5,\"z\":\".5\"")), 2);
	cr_assert_str_eq(got.ev[0].u.order.filled_qty, "0.5");
	cr_assert_eq(frame_str(OTU_WITH("\"i\":5,\"z\":\"-.5\"")), 2);
	cr_assert_str_eq(got.ev[0].u.order.filled_qty, "-0.5");
	cr_assert_eq(frame_str(OTU_WITH("\"i\":5,\"z\":\"0.0100\"")), 2);
	cr_assert_str_eq(got.ev[0].u.order.filled_qty, "0.0100", "trailing zeros are kept");
	for (int i = 0; i < got.n; i++) {
		const char *err;

		cr_assert_eq(ev_validate(&got.ev[i], &err), 0, "%s", err);
	}
}

/*
 * Order ids beyond 2^53 (ETHUSDT orders and liquidations carry them: public
 * reports show 8389765612825190229 and 8389766079988521101) are exact.
 */
Test(stream, ids_beyond_2_53_are_exact)
{
	static const char liq_new[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":1700000000001,\"E\":1700000000002,\"o\":{\"s\":\"ETHUSDT\",\"c\":\"autoclose-1700000000001\",\"S\":\"SELL\",\"o\":\"LIMIT\",\"f\":\"IOC\",\"q\":\"1.000\",\"p\":\"1850.00\",\"ap\":\"0\",\"sp\":\"0\",\"x\":\"NEW\",\"X\":\"NEW\",\"i\":8389766079988521101,\"l\":\"0\",\"z\":\"0\",\"L\":\"0\",\"T\":1700000000001,\"t\":0,\"b\":\"0\",\"a\":\"0\",\"m\":false,\"R\":true,\"wt\":\"CONTRACT_PRICE\",\"ot\":\"LIMIT\",\"ps\":\"BOTH\",\"cp\":false,\"rp\":\"0\",\"pP\":false,\"si\":0,\"ss\":0,\"V\":\"NONE\",\"pm\":\"NONE\",\"gtd\":0}}";
	static const char liq_trade[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":1700000000003,\"E\":1700000000004,\"o\":{\"s\":\"ETHUSDT\",\"c\":\"autoclose-1700000000001\",\"S\":\"SELL\",\"o\":\"LIMIT\",\"f\":\"IOC\",\"q\":\"1.000\",\"p\":\"1850.00\",\"ap\":\"1850.00\",\"sp\":\"0\",\"x\":\"CALCULATED\",\"X\":\"FILLED\",\"i\":8389766079988521101,\"l\":\"1.000\",\"z\":\"1.000\",\"L\":\"1850.00\",\"n\":\"0.92500000\",\"N\":\"USDT\",\"T\":1700000000003,\"t\":3660897741,\"b\":\"0\",\"a\":\"0\",\"m\":false,\"R\":true,\"wt\":\"CONTRACT_PRICE\",\"ot\":\"LIMIT\",\"ps\":\"BOTH\",\"cp\":false,\"rp\":\"-12.30000000\",\"pP\":false,\"si\":0,\"ss\":0,\"V\":\"NONE\",\"pm\":\"NONE\",\"gtd\":0}}";
	static const char page[] = "[{\"avgPrice\":\"1850.00\",\"clientOrderId\":\"abc\",\"cumQuote\":\"1850\",\"executedQty\":\"1.000\",\"orderId\":8389765612825190229,\"origQty\":\"1.000\",\"origType\":\"LIMIT\",\"price\":\"1850.00\",\"reduceOnly\":false,\"side\":\"SELL\",\"positionSide\":\"BOTH\",\"status\":\"FILLED\",\"stopPrice\":\"0\",\"closePosition\":false,\"symbol\":\"ETHUSDT\",\"time\":1,\"timeInForce\":\"GTC\",\"type\":\"LIMIT\",\"updateTime\":2},"
	    "{\"avgPrice\":\"0\",\"clientOrderId\":\"def\",\"cumQuote\":\"0\",\"executedQty\":\"0\",\"orderId\":9223372036854775807,\"origQty\":\"1.000\",\"origType\":\"LIMIT\",\"price\":\"1851.00\",\"reduceOnly\":false,\"side\":\"SELL\",\"positionSide\":\"BOTH\",\"status\":\"NEW\",\"stopPrice\":\"0\",\"closePosition\":false,\"symbol\":\"ETHUSDT\",\"time\":1,\"timeInForce\":\"GTC\",\"type\":\"LIMIT\",\"updateTime\":2}]";

	cr_assert_eq(frame_str(liq_new), 1);
	cr_assert_eq(got.ev[0].u.order.order_id, 8389766079988521101LL);
	cr_assert_str_eq(got.ev[0].id, "o:7:8389766079988521101:NEW:1700000000001:0:1850:1");
	cr_assert_eq(frame_str(liq_trade), 2);
	cr_assert_eq(got.ev[0].u.order.order_id, 8389766079988521101LL);
	cr_assert_eq(got.ev[1].u.fill.order_id, 8389766079988521101LL);
	cr_assert_str_eq(got.ev[1].id, "f:7:ETHUSDT:3660897741:8389766079988521101");
	cr_assert_eq(rest_str(BF_REST_ALL_ORDERS, page), 2, "a page with such ids is used whole");
	cr_assert_eq(got.ev[0].u.order.order_id, 8389765612825190229LL);
	cr_assert_eq(got.ev[1].u.order.order_id, INT64_MAX);
}

/* A self-trade: one trade id, two executions (FACTS: STP mode NONE). */
Test(stream, two_executions_of_one_trade_id_are_two_fills)
{
	cr_assert_eq(frame_str(OTU_WITH("\"i\":5,\"z\":\"1\"")), 2);
	char id5[EV_ID];

	strcpy(id5, got.ev[1].id);
	cr_assert_eq(frame_str(OTU_WITH("\"i\":6,\"z\":\"1\"")), 2);
	cr_assert_eq(got.ev[1].u.fill.trade_id, 9);
	cr_assert_str_neq(got.ev[1].id, id5, "the order id tells the two apart");
}

/* Binance sends cw for cross margin calls only (FACTS §1.3): an isolated one is kept. */
Test(stream, margin_call_without_cw)
{
	static const char iso[] = "{\"e\":\"MARGIN_CALL\",\"E\":1587727187525,\"p\":[{\"s\":\"ETHUSDT\",\"ps\":\"LONG\",\"pa\":\"1.327\",\"mt\":\"ISOLATED\",\"iw\":\"12.5\",\"mp\":\"187.17127\",\"up\":\"-1.166074\",\"mm\":\"1.614445\"}]}";

	cr_assert_eq(frame_str(iso), 1);
	cr_assert_eq(got.ev[0].type, EV_MARGIN_CALL);
	cr_assert_str_eq(got.ev[0].u.margin_call.cross_wallet, "");
	cr_assert_str_eq(got.ev[0].u.margin_call.margin_type, "ISOLATED");
	cr_assert_str_eq(got.ev[0].u.margin_call.isolated_wallet, "12.5");
}

/* Free text longer than its field is cut on a character boundary, never dropped. */
Test(stream, long_text_is_cut_not_dropped)
{
	char s[512], name[80];

	/* an unknown event name of 46 bytes then "é": the name field holds 47 */
	memset(name, 'N', 46);
	strcpy(name + 46, "\xc3\xa9rest");
	snprintf(s, sizeof(s), "{\"e\":\"%s\",\"E\":5}", name);
	cr_assert_eq(frame_str(s), 1);
	cr_assert_eq(strlen(got.ev[0].u.unknown.name), 46, "the cut keeps \"é\" out whole");
	{
		const char *err;

		cr_assert_eq(ev_validate(&got.ev[0], &err), 0, "%s", err);
	}
	/* a client order id longer than Binance allows today is cut, the order kept */
	cr_assert_eq(frame_str("{\"e\":\"TRADE_LITE\",\"E\":1,\"T\":1,\"s\":\"X\",\"S\":\"BUY\",\"L\":\"1\",\"l\":\"1\",\"m\":true,\"t\":1,\"i\":1,\"c\":\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"}"), 1);
	{
		char t[1024] = OTU_WITH("\"i\":5,\"z\":\"1\""), *c = strstr(t, "\"c\":\"c\"");
		char rest[1024];

		snprintf(rest, sizeof(rest), "%s", c + 7);
		snprintf(c, sizeof(t) - (size_t)(c - t), "\"c\":\"%s\"%s",
		    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccc", rest);
		cr_assert_eq(frame_str(t), 2);
	}
	cr_assert_eq(strlen(got.ev[0].u.order.client_id), EV_CID - 1);
}

/* ------------------------------------------------- case sensitivity */

Test(stream, keys_differing_only_in_case_are_not_confused)
{
	const struct ev_order *o;
	/* Upper-case twins first: a case-insensitive lookup would find them. */
	static const char upper_first[] = "{\"E\":1568879465651,\"e\":\"ORDER_TRADE_UPDATE\",\"T\":1,\"o\":{\"S\":\"SELL\",\"s\":\"BTCUSDT\",\"c\":\"C\",\"o\":\"LIMIT\",\"f\":\"GTC\",\"q\":\"1\",\"p\":\"1\",\"ap\":\"1\",\"sp\":\"0\",\"X\":\"FILLED\",\"x\":\"TRADE\",\"i\":5,\"l\":\"1\",\"z\":\"1\",\"L\":\"2\",\"T\":1568879465650,\"t\":77,\"m\":true,\"R\":false,\"ps\":\"BOTH\"}}";
	/* s missing, S present: must not be taken for s */
	static const char no_s[] = "{\"e\":\"TRADE_LITE\",\"E\":1,\"T\":2,\"S\":\"BUY\",\"L\":\"1\",\"l\":\"1\",\"m\":true,\"t\":3,\"i\":4}";
	/* t missing, T present */
	static const char no_t[] = "{\"e\":\"TRADE_LITE\",\"E\":1,\"T\":2,\"s\":\"X\",\"S\":\"BUY\",\"L\":\"1\",\"l\":\"1\",\"m\":true,\"i\":4}";
	/* x missing, X present */
	static const char no_x[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":1,\"T\":1,\"o\":{\"s\":\"BTCUSDT\",\"c\":\"C\",\"S\":\"BUY\",\"o\":\"LIMIT\",\"f\":\"GTC\",\"q\":\"1\",\"p\":\"1\",\"ap\":\"1\",\"sp\":\"0\",\"X\":\"FILLED\",\"i\":5,\"l\":\"1\",\"z\":\"1\",\"L\":\"1\",\"T\":1,\"t\":7,\"m\":true,\"R\":false,\"ps\":\"BOTH\"}}";

	/* the fixture: e/E, s/S, x/X, t/T all differ */
	cr_assert_eq(frame_fixture("order_trade_update_filled_capture.json"), 2);
	o = &got.ev[0].u.order;
	cr_assert_eq(got.ev[0].event_time, 1688758982045LL);
	cr_assert_str_eq(o->symbol, "XEMUSDT");
	cr_assert_str_eq(o->side, "SELL");
	cr_assert_str_eq(o->exec_type, "TRADE");
	cr_assert_str_eq(o->status, "FILLED");
	cr_assert_eq(o->update_time, 1688758982041LL);
	cr_assert_eq(got.ev[1].u.fill.trade_id, 86171692);
	cr_assert_str_eq(got.ev[1].u.fill.qty, "7259");
	cr_assert_str_eq(got.ev[1].u.fill.price, "0.0275");

	cr_assert_eq(frame_str(upper_first), 2);
	o = &got.ev[0].u.order;
	cr_assert_eq(got.ev[0].event_time, 1568879465651LL);
	cr_assert_str_eq(o->symbol, "BTCUSDT");
	cr_assert_str_eq(o->side, "SELL");
	cr_assert_str_eq(o->exec_type, "TRADE");
	cr_assert_str_eq(o->status, "FILLED");
	cr_assert_eq(o->update_time, 1568879465650LL);
	cr_assert_eq(got.ev[1].u.fill.trade_id, 77);
	cr_assert_str_eq(got.ev[1].u.fill.price, "2");
	cr_assert_str_eq(got.ev[1].u.fill.qty, "1");

	dropped(no_s, "TRADE_LITE: s: missing", 1, 0);
	dropped(no_t, "TRADE_LITE: t: missing", 1, 0);
	dropped(no_x, "ORDER_TRADE_UPDATE: o.x: missing", 1, 0);
	malformed("{\"E\":1}", "e: missing");
	malformed("{\"e\":\"TRADE_LITE\",\"e2\":1}", "TRADE_LITE: E: missing");
}

/* ------------------------------------------------------------- REST */

Test(rest, position_risk)
{
	const struct ev_position *p;

	cr_assert_eq(rest_fixture(BF_REST_POSITION_RISK, "rest_position_risk_v3_hedge.json"), 2);
	header_ok(&got.ev[0], EV_POSITION, 1800000000000LL, EVF_RESYNC);
	p = &got.ev[0].u.position;
	cr_assert_str_eq(p->symbol, "ADAUSDT");
	cr_assert_str_eq(p->position_side, "LONG");
	cr_assert_str_eq(p->amount, "30");
	cr_assert_str_eq(p->entry_price, "0.385");
	cr_assert_str_eq(p->breakeven_price, "0.385077");
	cr_assert_str_eq(p->unrealized_pnl, "0.76427700");
	cr_assert_str_eq(p->margin_type, "", "v3 has no marginType: the resync takes /fapi/v2/account's");
	cr_assert_str_eq(p->isolated_wallet, "0");
	cr_assert_str_eq(p->margin_asset, "USDT");
	cr_assert_eq(p->update_time, 1720736417660LL);
	cr_assert_str_eq(got.ev[0].id, "p:7:ADAUSDT:LONG:1720736417660:30");
	cr_assert_str_eq(got.ev[1].u.position.amount, "-1.000");
	cr_assert_str_eq(got.ev[1].id, "p:7:COMPUSDT:SHORT:1708943511656:-1");

	cr_assert_eq(rest_fixture(BF_REST_POSITION_RISK, "rest_position_risk_v3_one_way.json"), 1);
	cr_assert_str_eq(got.ev[0].u.position.position_side, "BOTH");

	/* no guessing from the isolated wallet: a flat isolated position has none */
	cr_assert_eq(rest_str(BF_REST_POSITION_RISK, "[{\"symbol\":\"X\",\"positionSide\":\"BOTH\",\"positionAmt\":\"0\",\"entryPrice\":\"0\",\"unRealizedProfit\":\"0\",\"isolatedWallet\":\"0\",\"updateTime\":1}]"), 1);
	cr_assert_str_eq(got.ev[0].u.position.margin_type, "");
}

/* GET /fapi/v2/account: balances as events; modes, leverages and positions as rows. */
static struct bf_account acct;

static int
account_v2(const char *body, const char **err)
{
	int rc;

	got_reset();
	memset(&drops, 0, sizeof(drops));
	bf_account_free(&acct);
	rc = bf_account_v2(body, strlen(body), &org, 1800000000000LL, collect, &got, &acct, &drops);
	*err = drops.why;
	cr_assert_eq(rc == -1 ? 0 : rc, got.n);
	return rc;
}

Test(rest, account_v2)
{
	/* the shape of the Binance doc's example (Account Information V2), two symbols */
	static const char body[] = "{\"feeTier\":0,\"feeBurn\":true,\"canTrade\":true,\"canDeposit\":true,\"canWithdraw\":true,\"updateTime\":0,\"multiAssetsMargin\":true,\"tradeGroupId\":-1,\"totalInitialMargin\":\"0.00000000\",\"totalWalletBalance\":\"23.72469206\","
	    "\"assets\":[{\"asset\":\"USDT\",\"walletBalance\":\"23.72469206\",\"unrealizedProfit\":\"0.00000000\",\"marginBalance\":\"23.72469206\",\"maintMargin\":\"0.00000000\",\"initialMargin\":\"0.00000000\",\"positionInitialMargin\":\"0.00000000\",\"openOrderInitialMargin\":\"0.00000000\",\"crossWalletBalance\":\"23.72469206\",\"crossUnPnl\":\"0.00000000\",\"availableBalance\":\"126.72469206\",\"maxWithdrawAmount\":\"23.72469206\",\"marginAvailable\":true,\"updateTime\":1625474304765},"
	    "{\"asset\":\"BUSD\",\"walletBalance\":\"103.12345678\",\"crossWalletBalance\":\"103.12345678\",\"updateTime\":1625474304766}],"
	    "\"positions\":[{\"symbol\":\"BTCUSDT\",\"initialMargin\":\"0\",\"maintMargin\":\"0\",\"unrealizedProfit\":\"0.00000000\",\"positionInitialMargin\":\"0\",\"openOrderInitialMargin\":\"0\",\"leverage\":\"100\",\"isolated\":true,\"entryPrice\":\"0.00000\",\"maxNotional\":\"250000\",\"bidNotional\":\"0\",\"askNotional\":\"0\",\"positionSide\":\"BOTH\",\"positionAmt\":\"0\",\"updateTime\":0},"
	    "{\"symbol\":\"ETHUSDT\",\"unrealizedProfit\":\"-1.5\",\"leverage\":\"20\",\"isolated\":false,\"entryPrice\":\"1850.5\",\"positionSide\":\"BOTH\",\"positionAmt\":\"-2.000\",\"updateTime\":1625474304767}]}";
	const char *err;

	cr_assert_eq(account_v2(body, &err), 2, "%s", err);
	header_ok(&got.ev[0], EV_BALANCE, 1800000000000LL, EVF_RESYNC);
	cr_assert_str_eq(got.ev[0].u.balance.asset, "USDT");
	cr_assert_str_eq(got.ev[0].u.balance.wallet, "23.72469206");
	cr_assert_str_eq(got.ev[0].u.balance.cross_wallet, "23.72469206");
	cr_assert_str_eq(got.ev[0].u.balance.change, "0");
	cr_assert_str_eq(got.ev[0].u.balance.reason, "RESYNC");
	cr_assert_eq(got.ev[0].u.balance.update_time, 1625474304765LL);
	cr_assert_str_eq(got.ev[0].id, "b:7:USDT:1625474304765:23.72469206",
	    "the id of the stream's event of this state: no new event_log row");
	cr_assert_eq(got.ev[1].u.balance.update_time, 1625474304766LL);
	cr_assert_eq(acct.multi_assets, 1);
	cr_assert_eq(acct.npos, 2);
	cr_assert_str_eq(acct.pos[0].symbol, "BTCUSDT");
	cr_assert_str_eq(acct.pos[0].position_side, "BOTH");
	cr_assert_eq(acct.pos[0].leverage, 100, "a string of digits");
	cr_assert(acct.pos[0].isolated);
	cr_assert_eq(acct.pos[0].update_time, 0);
	cr_assert_str_eq(acct.pos[1].amount, "-2.000");
	cr_assert_str_eq(acct.pos[1].entry_price, "1850.5");
	cr_assert_str_eq(acct.pos[1].unrealized_pnl, "-1.5");
	cr_assert_eq(acct.pos[1].leverage, 20);
	cr_assert(!acct.pos[1].isolated);
	cr_assert_eq(acct.pos[1].update_time, 1625474304767LL);

	/* one bad position row drops itself; the rest stands */
	cr_assert_eq(account_v2("{\"multiAssetsMargin\":false,\"assets\":[],\"positions\":[{\"symbol\":\"A\",\"positionSide\":\"BOTH\",\"positionAmt\":1,\"entryPrice\":\"1\",\"isolated\":false,\"updateTime\":1},{\"symbol\":\"B\",\"positionSide\":\"BOTH\",\"positionAmt\":\"1\",\"entryPrice\":\"1\",\"isolated\":false,\"leverage\":7,\"updateTime\":1}]}", &err), 0);
	cr_assert_eq(drops.events, 1);
	cr_assert_not_null(strstr(err, "positions[0].positionAmt: expected a string"), "%s", err);
	cr_assert_eq(acct.npos, 1);
	cr_assert_str_eq(acct.pos[0].symbol, "B");
	cr_assert_eq(acct.pos[0].leverage, 7, "an integer leverage is taken too");
	cr_assert_eq(acct.multi_assets, 0);
	/*
	 * An empty position side is no position (fuzz_binance: the row was
	 * taken, and resync built a position event from it that the writer
	 * refuses): the row drops itself.
	 */
	cr_assert_eq(account_v2("{\"positions\":[{\"symbol\":\"B\",\"positionSide\":\"\",\"positionAmt\":\"0\","
	    "\"entryPrice\":\"0\",\"isolated\":false,\"updateTime\":1}]}", &err), 0);
	cr_assert_eq(acct.npos, 0);
	cr_assert_not_null(strstr(err, "positions[0].positionSide: empty"), "%s", err);
	cr_assert_eq(account_v2("[]", &err), -1);
	cr_assert_not_null(strstr(err, "GET /fapi/v2/account: expected a JSON object"), "%s", err);
	bf_account_free(&acct);
}

Test(rest, algo_order)
{
	static const char body[] = "{\"algoId\":2148776,\"clientAlgoId\":\"YATfcEjrFVcKo2S1hDtLv7\",\"algoType\":\"CONDITIONAL\",\"orderType\":\"STOP_MARKET\",\"symbol\":\"XRPUSDT\",\"side\":\"BUY\",\"positionSide\":\"BOTH\",\"timeInForce\":\"GTC\",\"quantity\":\"1125.0\",\"algoStatus\":\"CANCELED\",\"actualOrderId\":\"\",\"actualPrice\":\"0\",\"triggerPrice\":\"0.4860\",\"price\":\"0\",\"closePosition\":false,\"reduceOnly\":true,\"createTime\":1795222174850,\"updateTime\":1795222179000,\"triggerTime\":0,\"goodTillDate\":0}";
	const char *err = NULL;

	cr_assert_eq(rest_str(BF_REST_ALGO_ORDER, body), 1);
	header_ok(&got.ev[0], EV_ALGO, 1800000000000LL, EVF_RESYNC);
	cr_assert_eq(got.ev[0].u.algo.algo_id, 2148776);
	cr_assert_str_eq(got.ev[0].u.algo.status, "CANCELED");
	cr_assert_eq(got.ev[0].u.algo.update_time, 1795222179000LL);
	cr_assert_str_eq(got.ev[0].id, "a:7:2148776:CANCELED:1795222179000");
	/* REST algo rows carry no executed quantity and no reject reason: unknown, not 0 */
	cr_assert_str_eq(got.ev[0].u.algo.filled_qty, "");
	cr_assert_str_eq(got.ev[0].u.algo.reject_reason, "");
	cr_assert_eq(rest(BF_REST_ALL_ALGO_ORDERS, body, strlen(body), &err), -1);
	cr_assert_not_null(strstr(err, "GET /fapi/v1/allAlgoOrders: expected a JSON array"), "%s", err);
	cr_assert_eq(rest_str(BF_REST_ALL_ALGO_ORDERS, "[]"), 0);
	cr_assert_eq(rest(BF_REST_ALGO_ORDER, "[]", 2, &err), -1);
	cr_assert_not_null(strstr(err, "GET /fapi/v1/algoOrder: expected a JSON object"), "%s", err);
}

Test(rest, open_orders_query_order_all_orders)
{
	const struct ev_order *o;

	cr_assert_eq(rest_fixture(BF_REST_OPEN_ORDERS, "rest_open_orders.json"), 1);
	header_ok(&got.ev[0], EV_ORDER, 1800000000000LL, EVF_RESYNC);
	o = &got.ev[0].u.order;
	cr_assert_eq(o->order_id, 1917641);
	cr_assert_str_eq(o->symbol, "BTCUSDT");
	cr_assert_str_eq(o->client_id, "abc");
	cr_assert_str_eq(o->side, "BUY");
	cr_assert_str_eq(o->position_side, "SHORT");
	cr_assert_str_eq(o->type, "TRAILING_STOP_MARKET");
	cr_assert_str_eq(o->orig_type, "TRAILING_STOP_MARKET");
	cr_assert_str_eq(o->tif, "GTC");
	cr_assert_str_eq(o->exec_type, "RESYNC");
	cr_assert_str_eq(o->status, "NEW");
	cr_assert_str_eq(o->price, "0");
	cr_assert_str_eq(o->avg_price, "0.00000");
	cr_assert_str_eq(o->stop_price, "9300");
	cr_assert_str_eq(o->orig_qty, "0.40");
	cr_assert_str_eq(o->filled_qty, "0");
	cr_assert(!o->reduce_only);
	cr_assert(!o->close_position);
	cr_assert_eq(o->update_time, 1579276756075LL);
	cr_assert_str_eq(got.ev[0].id, "o:7:1917641:NEW:1579276756075:0:0:0.4");

	cr_assert_eq(rest_fixture(BF_REST_ORDER, "rest_query_order.json"), 1);
	cr_assert_str_eq(got.ev[0].id, "o:7:1917641:NEW:1579276756075:0:0:0.4");
	cr_assert_eq(got.ev[0].flags, EVF_RESYNC);
	cr_assert_eq(rest_fixture(BF_REST_ALL_ORDERS, "rest_open_orders.json"), 1);
	cr_assert_eq(rest_str(BF_REST_ALL_ORDERS, "[]"), 0);
}

Test(rest, order_row_and_stream_order_of_one_state_share_the_id)
{
	char id[EV_ID];
	/* rest_open_orders.json's order as the stream would have reported it */
	static const char otu[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":1579276756076,\"T\":1579276756075,\"o\":{\"s\":\"BTCUSDT\",\"c\":\"abc\",\"S\":\"BUY\",\"o\":\"TRAILING_STOP_MARKET\",\"f\":\"GTC\",\"q\":\"0.40\",\"p\":\"0\",\"ap\":\"0\",\"sp\":\"9300\",\"x\":\"NEW\",\"X\":\"NEW\",\"i\":1917641,\"l\":\"0\",\"z\":\"0\",\"L\":\"0\",\"n\":\"0\",\"N\":\"USDT\",\"T\":1579276756075,\"t\":0,\"m\":false,\"R\":false,\"ot\":\"TRAILING_STOP_MARKET\",\"ps\":\"SHORT\",\"cp\":false,\"rp\":\"0\"}}";
	/* exsim: an order's last stream update and its allOrders row */
	static const char ex_otu[] = "{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":1795222168858,\"E\":1795222168858,\"o\":{\"s\":\"BTCUSDT\",\"c\":\"CKnZiMiAOKNm49ThWTAcBW\",\"S\":\"SELL\",\"o\":\"MARKET\",\"f\":\"GTC\",\"q\":\"0.005\",\"p\":\"0\",\"ap\":\"62820.3000\",\"sp\":\"0\",\"x\":\"TRADE\",\"X\":\"PARTIALLY_FILLED\",\"i\":100000000117,\"l\":\"0.001\",\"z\":\"0.001\",\"L\":\"62820.30\",\"n\":\"0.03141015\",\"N\":\"USDT\",\"T\":1795222168858,\"t\":7947131433,\"b\":\"0\",\"a\":\"0\",\"m\":false,\"R\":false,\"wt\":\"CONTRACT_PRICE\",\"ot\":\"MARKET\",\"ps\":\"BOTH\",\"cp\":false,\"rp\":\"0.02775272\",\"pP\":false,\"si\":0,\"ss\":0,\"V\":\"NONE\",\"pm\":\"NONE\",\"gtd\":0}}";
	static const char ex_row[] = "[{\"avgPrice\":\"62820.3000\",\"clientOrderId\":\"CKnZiMiAOKNm49ThWTAcBW\",\"cumQuote\":\"62.82030000\",\"executedQty\":\"0.0010\",\"orderId\":100000000117,\"origQty\":\"0.005\",\"origType\":\"MARKET\",\"price\":\"0\",\"reduceOnly\":false,\"side\":\"SELL\",\"positionSide\":\"BOTH\",\"status\":\"PARTIALLY_FILLED\",\"stopPrice\":\"0\",\"closePosition\":false,\"symbol\":\"BTCUSDT\",\"time\":1795222168858,\"timeInForce\":\"GTC\",\"type\":\"MARKET\",\"updateTime\":1795222168858,\"workingType\":\"CONTRACT_PRICE\",\"priceProtect\":false,\"priceMatch\":\"NONE\",\"selfTradePreventionMode\":\"NONE\",\"goodTillDate\":0}]";
	/* and its fill from userTrades */
	static const char ex_trade[] = "[{\"buyer\":false,\"commission\":\"0.03141015\",\"commissionAsset\":\"USDT\",\"id\":7947131433,\"maker\":false,\"orderId\":100000000117,\"price\":\"62820.30\",\"qty\":\"0.001\",\"quoteQty\":\"62.82030000\",\"realizedPnl\":\"0.02775272\",\"side\":\"SELL\",\"positionSide\":\"BOTH\",\"symbol\":\"BTCUSDT\",\"time\":1795222168858}]";
	struct ev_fill stream_fill;

	cr_assert_eq(frame_str(otu), 1);
	strcpy(id, got.ev[0].id);
	cr_assert_eq(rest_fixture(BF_REST_OPEN_ORDERS, "rest_open_orders.json"), 1);
	cr_assert_str_eq(got.ev[0].id, id);

	cr_assert_eq(frame_str(ex_otu), 2);
	strcpy(id, got.ev[0].id);
	stream_fill = got.ev[1].u.fill;
	cr_assert_eq(rest_str(BF_REST_ALL_ORDERS, ex_row), 1);
	cr_assert_str_eq(got.ev[0].id, id, "0.0010 and 0.001 are one quantity");
	cr_assert_str_eq(got.ev[0].u.order.filled_qty, "0.0010", "the value itself is verbatim");

	cr_assert_eq(rest_str(BF_REST_USER_TRADES, ex_trade), 1);
	header_ok(&got.ev[0], EV_FILL, 1800000000000LL, EVF_RESYNC);
	cr_assert_str_eq(got.ev[0].id, "f:7:BTCUSDT:7947131433:100000000117");
	cr_assert_eq(got.ev[0].u.fill.trade_id, stream_fill.trade_id);
	cr_assert_eq(got.ev[0].u.fill.order_id, stream_fill.order_id);
	cr_assert_str_eq(got.ev[0].u.fill.side, stream_fill.side);
	cr_assert_str_eq(got.ev[0].u.fill.position_side, stream_fill.position_side);
	cr_assert_str_eq(got.ev[0].u.fill.price, stream_fill.price);
	cr_assert_str_eq(got.ev[0].u.fill.qty, stream_fill.qty);
	cr_assert_str_eq(got.ev[0].u.fill.fee, stream_fill.fee);
	cr_assert_str_eq(got.ev[0].u.fill.fee_asset, stream_fill.fee_asset);
	cr_assert_str_eq(got.ev[0].u.fill.realized_pnl, stream_fill.realized_pnl);
	cr_assert_eq(got.ev[0].u.fill.maker, stream_fill.maker);
	cr_assert_eq(got.ev[0].u.fill.time, stream_fill.time);
}

Test(rest, open_algo_orders_from_exsim)
{
	static const char body[] = "[{\"algoId\":2148776,\"clientAlgoId\":\"YATfcEjrFVcKo2S1hDtLv7\",\"algoType\":\"CONDITIONAL\",\"orderType\":\"STOP_MARKET\",\"symbol\":\"XRPUSDT\",\"side\":\"BUY\",\"positionSide\":\"BOTH\",\"timeInForce\":\"GTC\",\"quantity\":\"1125.0\",\"algoStatus\":\"NEW\",\"actualOrderId\":\"\",\"actualPrice\":\"0\",\"triggerPrice\":\"0.4860\",\"price\":\"0\",\"workingType\":\"CONTRACT_PRICE\",\"priceMatch\":\"NONE\",\"selfTradePreventionMode\":\"EXPIRE_MAKER\",\"closePosition\":false,\"priceProtect\":false,\"reduceOnly\":true,\"createTime\":1795222174850,\"updateTime\":1795222174850,\"triggerTime\":0,\"goodTillDate\":0},"
	    "{\"algoId\":2148786,\"clientAlgoId\":\"vlxQplromBRRMwCHlXzGP0\",\"algoType\":\"CONDITIONAL\",\"orderType\":\"TRAILING_STOP_MARKET\",\"symbol\":\"BNBUSDT\",\"side\":\"SELL\",\"algoStatus\":\"NEW\",\"updateTime\":1795222175761,\"icebergQuantity\":null}]";
	const struct ev_algo *a;

	cr_assert_eq(rest_str(BF_REST_OPEN_ALGO_ORDERS, body), 2);
	header_ok(&got.ev[0], EV_ALGO, 1800000000000LL, EVF_RESYNC);
	a = &got.ev[0].u.algo;
	cr_assert_eq(a->algo_id, 2148776);
	cr_assert_str_eq(a->client_id, "YATfcEjrFVcKo2S1hDtLv7");
	cr_assert_str_eq(a->algo_type, "CONDITIONAL");
	cr_assert_str_eq(a->type, "STOP_MARKET");
	cr_assert_str_eq(a->symbol, "XRPUSDT");
	cr_assert_str_eq(a->side, "BUY");
	cr_assert_str_eq(a->position_side, "BOTH");
	cr_assert_str_eq(a->tif, "GTC");
	cr_assert_str_eq(a->qty, "1125.0");
	cr_assert_str_eq(a->status, "NEW");
	cr_assert_str_eq(a->actual_order_id, "");
	cr_assert_str_eq(a->avg_price, "0");
	cr_assert_str_eq(a->filled_qty, "", "REST rows carry none");
	cr_assert_str_eq(a->trigger_price, "0.4860");
	cr_assert_str_eq(a->price, "0");
	cr_assert(a->reduce_only);
	cr_assert(!a->close_position);
	cr_assert_str_eq(a->reject_reason, "");
	cr_assert_eq(a->update_time, 1795222174850LL);
	cr_assert_str_eq(got.ev[0].id, "a:7:2148776:NEW:1795222174850");
	/* the sparse row takes the defaults */
	cr_assert_str_eq(got.ev[1].u.algo.position_side, "BOTH");
	cr_assert_str_eq(got.ev[1].u.algo.qty, "0");
}

Test(rest, malformed_bodies_and_rows)
{
	size_t len;
	char *buf = fixture("error_invalid_symbol.json", &len);
	const char *err = NULL;

	cr_assert_eq(rest(BF_REST_OPEN_ORDERS, buf, len, &err), -1);
	cr_assert_not_null(strstr(err, "GET /fapi/v1/openOrders: expected a JSON array"), "%s", err);
	free(buf);
	cr_assert_eq(rest(BF_REST_ORDER, "[]", 2, &err), -1);
	cr_assert_not_null(strstr(err, "GET /fapi/v1/order: expected a JSON object"), "%s", err);
	cr_assert_eq(rest(BF_REST_POSITION_RISK, "nope", 4, &err), -1);
	cr_assert_not_null(strstr(err, "not JSON"), "%s", err);
	/* the first row is good, the second is not: the good one is used */
	static const char two[] = "[{\"id\":1,\"orderId\":1,\"symbol\":\"X\",\"side\":\"BUY\",\"positionSide\":\"BOTH\",\"price\":\"1\",\"qty\":\"1\",\"commission\":\"0\",\"commissionAsset\":\"USDT\",\"maker\":false,\"realizedPnl\":\"0\",\"time\":1},"
	    "{\"id\":2,\"orderId\":1,\"symbol\":\"X\",\"side\":\"BUY\",\"positionSide\":\"BOTH\",\"price\":1.5,\"qty\":\"1\",\"commission\":\"0\",\"commissionAsset\":\"USDT\",\"maker\":false,\"realizedPnl\":\"0\",\"time\":1}]";
	cr_assert_eq(rest(BF_REST_USER_TRADES, two, strlen(two), &err), 1);
	cr_assert_eq(got.ev[0].u.fill.trade_id, 1);
	cr_assert_eq(drops.events, 1);
	cr_assert_not_null(strstr(err, "GET /fapi/v1/userTrades: [1].price: expected a string"), "%s", err);
	cr_assert_eq(rest(BF_REST_USER_TRADES, "[7]", 3, &err), 0);
	cr_assert_not_null(strstr(err, "GET /fapi/v1/userTrades: [0]: expected an object"), "%s", err);
}

/*
 * A symbol is a symbol: one that would change the query string it is put
 * into ("BTC&limit=1") or is not text at all costs its row, not the page.
 */
Test(rest, a_row_with_a_symbol_that_is_no_symbol_is_dropped)
{
	static const char rows[] = "[{\"id\":1,\"orderId\":1,\"symbol\":\"BTC&limit=1\",\"side\":\"BUY\",\"positionSide\":\"BOTH\",\"price\":\"1\",\"qty\":\"1\",\"commission\":\"0\",\"commissionAsset\":\"USDT\",\"maker\":false,\"realizedPnl\":\"0\",\"time\":1},"
	    "{\"id\":2,\"orderId\":1,\"symbol\":\"\u5e01\u5b89\u4eba\u751fUSDT\",\"side\":\"BUY\",\"positionSide\":\"BOTH\",\"price\":\"1\",\"qty\":\"1\",\"commission\":\"0\",\"commissionAsset\":\"USDT\",\"maker\":false,\"realizedPnl\":\"0\",\"time\":1},"
	    "{\"id\":3,\"orderId\":1,\"symbol\":\"BTCUSDT_250926\",\"side\":\"BUY\",\"positionSide\":\"BOTH\",\"price\":\"1\",\"qty\":\"1\",\"commission\":\"0\",\"commissionAsset\":\"USDT\",\"maker\":false,\"realizedPnl\":\"0\",\"time\":1}]";
	static const char body[] = "{\"assets\":[],\"positions\":[{\"symbol\":\"X Y\",\"positionSide\":\"BOTH\",\"positionAmt\":\"0\",\"entryPrice\":\"0\",\"unrealizedProfit\":\"0\",\"isolated\":false,\"updateTime\":0}]}";
	struct bf_account a;
	const char *err = NULL;

	cr_assert_eq(rest(BF_REST_USER_TRADES, rows, strlen(rows), &err), 2);
	cr_assert_eq(drops.events, 1);
	cr_assert_not_null(strstr(err, "is not a symbol"), "%s", err);
	cr_assert_str_eq(got.ev[0].u.fill.symbol, "\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9fUSDT");
	cr_assert_str_eq(got.ev[1].u.fill.symbol, "BTCUSDT_250926");
	cr_assert(ev_symbol_ok("1000PEPEUSDT", 12));
	cr_assert(!ev_symbol_ok("BTC%26", 6));
	cr_assert(!ev_symbol_ok("", 0));
	memset(&drops, 0, sizeof(drops));
	cr_assert_eq(bf_account_v2(body, strlen(body), &org, 1, collect, &got, &a, &drops), 0);
	cr_assert_eq(a.npos, 0);
	cr_assert_eq(drops.events, 1);
	bf_account_free(&a);
}

/* ------------------------------------------- listen key, error bodies */

Test(rest, listen_key)
{
	char key[128], tiny[8];
	size_t len;
	char *buf;

	buf = fixture("rest_listen_key_create_response.json", &len);
	cr_assert_eq(bf_listen_key(buf, len, key, sizeof(key)), 0);
	cr_assert_str_eq(key, "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1");
	cr_assert_eq(bf_listen_key(buf, len, tiny, sizeof(tiny)), -1, "a key that does not fit");
	free(buf);
	buf = fixture("rest_listen_key_keepalive_response.json", &len);
	cr_assert_eq(bf_listen_key(buf, len, key, sizeof(key)), 0);
	cr_assert_str_eq(key, "3HBntNTepshgEdjIwSUIBgB9keLyOCg5qv3n6bYAtktG8ejcaW5HXz9Vx1JgIieg");
	free(buf);
	buf = fixture("rest_listen_key_close_response.json", &len);
	cr_assert_eq(bf_listen_key(buf, len, key, sizeof(key)), -1);
	free(buf);
	buf = fixture("error_listen_key_not_exist.json", &len);
	cr_assert_eq(bf_listen_key(buf, len, key, sizeof(key)), -1);
	free(buf);
	cr_assert_eq(bf_listen_key("{\"listenKey\":5}", 15, key, sizeof(key)), -1);
	cr_assert_eq(bf_listen_key("{\"listenkey\":\"k\"}", 17, key, sizeof(key)), -1, "case matters");
	cr_assert_eq(bf_listen_key("<html>", 6, key, sizeof(key)), -1);
}

Test(rest, error_bodies)
{
	static const struct {
		const char	*file;
		int		 code;
		const char	*msg;
	} cases[] = {
		{ "error_listen_key_not_exist.json", -1125, "This listenKey does not exist." },
		{ "error_invalid_api_key_ip_permissions.json", -2015,
		    "Invalid API-key, IP, or permissions for action." },
		{ "error_invalid_signature.json", -1022, "Signature for this request is not valid." },
		{ "error_invalid_symbol.json", -1121, "Invalid symbol." },
		{ "error_timestamp_outside_recv_window.json", -1021,
		    "Timestamp for this request is outside of the recvWindow." },
		{ "error_418_ip_banned.json", -1003, "Way too many requests; IP banned until 1499865549590." },
		{ "error_429_too_many_requests.json", -1003,
		    "Too many requests; current limit of IP(1.2.3.4) is 2400 requests per minute." },
	};
	char msg[256], small[8];
	size_t len;
	char *buf;
	int code;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf = fixture(cases[i].file, &len);
		code = 0;
		cr_assert_eq(bf_rest_error(buf, len, &code, msg, sizeof(msg)), 0, "%s", cases[i].file);
		cr_assert_eq(code, cases[i].code, "%s", cases[i].file);
		cr_assert_str_eq(msg, cases[i].msg);
		free(buf);
	}
	buf = fixture("error_invalid_symbol.json", &len);
	cr_assert_eq(bf_rest_error(buf, len, &code, small, sizeof(small)), 0);
	cr_assert_str_eq(small, "Invalid", "msg is cut to the buffer");
	free(buf);
	buf = fixture("rest_balance_v3.json", &len);
	cr_assert_eq(bf_rest_error(buf, len, &code, msg, sizeof(msg)), -1, "a balance list is no error");
	free(buf);
	buf = fixture("rest_listen_key_create_response.json", &len);
	cr_assert_eq(bf_rest_error(buf, len, &code, msg, sizeof(msg)), -1);
	free(buf);
	cr_assert_eq(bf_rest_error("{\"code\":\"-1\",\"msg\":\"x\"}", 23, &code, msg, sizeof(msg)), -1);
	cr_assert_eq(bf_rest_error("{\"code\":-1.5,\"msg\":\"x\"}", 23, &code, msg, sizeof(msg)), -1);
}

/* Each endpoint's answer is bounded by what it can hold, far under 8 MiB. */
Test(rest, answers_are_bounded_by_what_the_endpoint_holds)
{
	cr_assert_eq(bf_rest_body_max("/fapi/v1/listenKey"), 4096);
	cr_assert_eq(bf_rest_body_max("/fapi/v1/order?symbol=X&orderId=1"), 64 * 1024);
	cr_assert_eq(bf_rest_body_max("/fapi/v1/openOrders?symbol=X"), 4 * 1024 * 1024);
	cr_assert_eq(bf_rest_body_max("/fapi/v1/userTrades?symbol=X&limit=1000"), 1024 * 1024);
	cr_assert_eq(bf_rest_body_max("/fapi/v1/allOrders?symbol=X"), 2 * 1024 * 1024);
	/* the one history page exsim's fixtures hold fits with room to spare */
	{
		size_t len;
		char *buf = fixture("rest_open_orders.json", &len);

		cr_assert_lt(len * 1000, bf_rest_body_max("/fapi/v1/allOrders?symbol=X"));
		free(buf);
	}
}

/*
 * Replies to our requests; the frame is len bytes, not a C string: the
 * 8 bytes "{\"result" were compared over 9 (fuzz_binance; check-asan sees it
 * in a buffer of exactly 8).
 */
Test(stream, ws_replies)
{
	static const char ok[] = "{\"result\":null,\"id\":7}";
	static const char bad[] = "{\"error\":{\"code\":2,\"msg\":\"x\"},\"id\":8}";
	char *eight = malloc(8);
	int64_t id = 0;
	int error = -1;

	cr_assert_eq(bf_ws_reply(ok, sizeof(ok) - 1, &id, &error), 1);
	cr_assert_eq(id, 7);
	cr_assert_eq(error, 0);
	cr_assert_eq(bf_ws_reply(bad, sizeof(bad) - 1, &id, &error), 1);
	cr_assert_eq(id, 8);
	cr_assert_eq(error, 1);
	cr_assert_eq(bf_ws_reply(exsim_lite, strlen(exsim_lite), &id, &error), 0, "an event");
	memcpy(eight, "{\"result", 8);
	cr_assert_eq(bf_ws_reply(eight, 8, &id, &error), 0);
	free(eight);
}
