/*
 * kvsample.c: Kafka values made by the real code, for a consumer not
 * written by us to read (t/integration/proto_decode.sh, with protoc) and
 * for the examples in doc/topics.md (tools/topics-examples).
 *
 *   kvsample FIXTURES_DIR OUTDIR
 *
 * The Binance futures user-data fixtures (FIXTURES_DIR/binance) and a few
 * REST bodies go through the adapter as the account worker runs it, a
 * frame of a type exfeedd does not model (GRID_UPDATE, the documentation's
 * shape) with them, and some events made here for the edges (INT64_MAX and
 * 2^53+1 ids, text in several scripts, absent decimals, leverage 0 and
 * multi-assets false, which only presence tells from absent), and one
 * event of each market data type, made here from the values of the market
 * fixtures (kline.json, mark_price_update.json, ...; the depth frame's
 * bids best first, as a book holds them), source "market".  For the
 * N-th event (from 001) it writes OUTDIR/N.payload (ev_to_json: the
 * event_log payload), N.json and N.pb (kafka_value, json and protobuf) and,
 * for an unknown event, N.raw (its event_log raw), and prints
 *   N TYPE MESSAGE SOURCE
 * (MESSAGE "-" for unknown).  Exit 1 if anything fails.
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "exchanges/binance_futures.h"
#include "kafka_value.h"
#include "strbuf.h"

static const char *outdir;
static const char *source;
static int nev, failed;

static void
put_file(const char *name, const char *ext, const char *p, size_t len)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.%s", outdir, name, ext);
	if ((fp = fopen(path, "wb")) == NULL || fwrite(p, 1, len, fp) != len || fclose(fp) != 0) {
		fprintf(stderr, "kvsample: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void
emit(struct event *ev, void *arg)
{
	const char *type = ev_type_name(ev->type), *msg = kafka_value_message(type);
	const char *raw = ev->type == EV_UNKNOWN ? ev->u.unknown.raw : NULL;
	struct strbuf out = { NULL, 0, 0, 0 };
	const char *verr;
	char name[16], err[256];
	char *json;

	(void)arg;
	snprintf(name, sizeof(name), "%03d", ++nev);
	if (ev_validate(ev, &verr) == -1 || (json = ev_to_json(ev)) == NULL) {
		fprintf(stderr, "kvsample: %s %s: not a valid event\n", source, type);
		failed = 1;
		return;
	}
	put_file(name, "payload", json, strlen(json));
	if (raw != NULL)
		put_file(name, "raw", raw, strlen(raw));
	for (int format = CONF_KAFKA_JSON; format <= CONF_KAFKA_PROTOBUF; format++) {
		out.len = 0;
		if (kafka_value(format, type, json, strlen(json), raw, raw ? strlen(raw) : 0, &out,
		    err, sizeof(err)) == -1) {
			fprintf(stderr, "kvsample: %s %s: %s\n", source, type, err);
			failed = 1;
			continue;
		}
		put_file(name, format == CONF_KAFKA_JSON ? "json" : "pb", out.p ? out.p : "", out.len);
	}
	printf("%s %s %s %s\n", name, type, msg ? msg : "-", source);
	free(out.p);
	free(json);
}

static char *
slurp(const char *dir, const char *file, size_t *len)
{
	char path[4096];
	FILE *fp;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/binance/%s", dir, file);
	if ((fp = fopen(path, "rb")) == NULL || fseek(fp, 0, SEEK_END) == -1 || (n = ftell(fp)) < 0) {
		fprintf(stderr, "kvsample: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	rewind(fp);
	if ((buf = malloc((size_t)n + 1)) == NULL || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		fprintf(stderr, "kvsample: %s: cannot read\n", path);
		exit(1);
	}
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static const struct ev_origin origin = {
	.account_id = 17, .user_id = 1001, .recv_us = 1721895408300123
};

static void
frame(const char *name, const char *buf, size_t len)
{
	struct bf_drops drops;
	struct bf_frame f;
	const char *err;

	source = name;
	memset(&drops, 0, sizeof(drops));
	if (bf_frame_parse(buf, len, &f, &err) == -1) {
		fprintf(stderr, "kvsample: %s: %s\n", name, err);
		failed = 1;
		return;
	}
	bf_frame_events(&f, buf, len, &origin, emit, NULL, &drops);
	bf_frame_free(&f);
	if (drops.events) {
		fprintf(stderr, "kvsample: %s: %s\n", name, drops.why);
		failed = 1;
	}
}

static void
rest(const char *name, enum bf_rest kind, const char *buf, size_t len)
{
	static const struct ev_origin rest_origin = {
		.account_id = 17, .user_id = 1001, .recv_us = 1721895409000456,
		.flags = EVF_RESYNC
	};
	struct bf_drops drops;

	source = name;
	memset(&drops, 0, sizeof(drops));
	if (bf_rest_events(kind, buf, len, &rest_origin, 1721895408900, emit, NULL, &drops) == -1 ||
	    drops.events) {
		fprintf(stderr, "kvsample: %s: %s\n", name, drops.why);
		failed = 1;
	}
}

/* The edges no fixture has. */
static void
edges(void)
{
	struct event ev;

	source = "edge";
	memset(&ev, 0, sizeof(ev));
	ev.type = EV_ORDER;
	ev.account_id = INT64_MAX;
	ev.user_id = 9007199254740993LL;	/* 2^53 + 1 */
	strcpy(ev.exchange, "binance-futures");
	ev.event_time = 1721895408092;
	ev.recv_us = 1721895408300123;
	ev.u.order.order_id = INT64_MAX;
	strcpy(ev.u.order.symbol, "币安人生USDT");
	strcpy(ev.u.order.client_id, "ordre-été-注文-🚀 \"q\" \\");
	strcpy(ev.u.order.side, "BUY");
	strcpy(ev.u.order.position_side, "BOTH");
	strcpy(ev.u.order.type, "MARKET");
	strcpy(ev.u.order.orig_type, "MARKET");
	strcpy(ev.u.order.tif, "GTC");
	strcpy(ev.u.order.exec_type, "NEW");
	strcpy(ev.u.order.status, "NEW");
	strcpy(ev.u.order.orig_qty, "0.000000000000000000000000000001");
	strcpy(ev.u.order.filled_qty, "0");	/* price, avg_price, stop_price absent */
	ev.u.order.update_time = 1721895408092;
	ev_make_id(&ev);
	emit(&ev, NULL);

	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = EV_FILL;
	ev.flags = EVF_LITE;
	ev.u.fill.trade_id = 9007199254740993LL;
	ev.u.fill.order_id = INT64_MAX;
	strcpy(ev.u.fill.symbol, "币安人生USDT");
	strcpy(ev.u.fill.side, "BUY");
	strcpy(ev.u.fill.price, "-1.5");
	strcpy(ev.u.fill.qty, "12345678901234567890.123456789");
	ev.u.fill.time = 1721895408092;
	ev_make_id(&ev);
	emit(&ev, NULL);

	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = EV_CONFIG;
	ev.flags = EVF_RESYNC;
	ev.u.config.leverage = 0;
	ev.u.config.multi_assets = 0;
	strcpy(ev.u.config.symbol, "BTCUSDT");
	ev.u.config.update_time = 1721895408092;
	ev_make_id(&ev);
	emit(&ev, NULL);
}

/* Market data: the values of the fixtures named, as the market parser makes them. */
static void
market(void)
{
	static const char *const bids[][2] = { { "7405.43", "2.562" }, { "7404.85", "5.239" },
		{ "7404.00", "1.428" }, { "7403.90", "3.906" }, { "7403.89", "0.002" } };
	static const char *const asks[][2] = { { "7405.96", "3.340" }, { "7406.63", "4.525" },
		{ "7407.08", "2.475" }, { "7407.15", "4.800" }, { "7407.20", "0.175" } };
	struct event ev;

	source = "market";
	memset(&ev, 0, sizeof(ev));
	strcpy(ev.exchange, "binance-futures");
	ev.recv_us = 1721895408300123;

	ev.type = EV_KLINE;	/* kline.json, closed (as its x=true frame) */
	ev.event_time = 1638747660000;
	strcpy(ev.u.kline.symbol, "BTCUSDT");
	strcpy(ev.u.kline.interval, "1m");
	ev.u.kline.open_time = 1638747660000;
	ev.u.kline.close_time = 1638747719999;
	ev.u.kline.first_trade_id = 100;
	ev.u.kline.last_trade_id = 200;
	strcpy(ev.u.kline.open, "0.0010");
	strcpy(ev.u.kline.high, "0.0025");
	strcpy(ev.u.kline.low, "0.0015");
	strcpy(ev.u.kline.close, "0.0020");
	strcpy(ev.u.kline.volume, "1000");
	strcpy(ev.u.kline.quote_volume, "1.0000");
	strcpy(ev.u.kline.taker_buy_volume, "500");
	strcpy(ev.u.kline.taker_buy_quote_volume, "0.500");
	ev.u.kline.trades = 100;
	ev.u.kline.closed = true;
	ev_make_id(&ev);
	emit(&ev, NULL);

	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = EV_MARK_PRICE;	/* mark_price_update.json */
	ev.event_time = 1562305380000;
	strcpy(ev.u.mark_price.symbol, "BTCUSDT");
	strcpy(ev.u.mark_price.mark_price, "11794.15000000");
	strcpy(ev.u.mark_price.mark_price_avg, "11794.15000000");
	strcpy(ev.u.mark_price.index_price, "11784.62659091");
	strcpy(ev.u.mark_price.settle_price, "11784.25641265");
	strcpy(ev.u.mark_price.funding_rate, "0.00038167");
	ev.u.mark_price.next_funding_time = 1562306400000;
	ev_make_id(&ev);
	emit(&ev, NULL);

	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = EV_FUNDING;		/* the same frame: the rate as first seen */
	strcpy(ev.u.funding.symbol, "BTCUSDT");
	strcpy(ev.u.funding.funding_rate, "0.00038167");
	ev.u.funding.next_funding_time = 1562306400000;
	strcpy(ev.u.funding.mark_price, "11794.15000000");
	ev_make_id(&ev);
	emit(&ev, NULL);

	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = EV_TICKER;		/* ticker_24hr.json */
	ev.event_time = 123456789;
	strcpy(ev.u.ticker.symbol, "BTCUSDT");
	strcpy(ev.u.ticker.price_change, "0.0015");
	strcpy(ev.u.ticker.price_change_pct, "250.00");
	strcpy(ev.u.ticker.weighted_avg_price, "0.0018");
	strcpy(ev.u.ticker.last_price, "0.0025");
	strcpy(ev.u.ticker.last_qty, "10");
	strcpy(ev.u.ticker.open, "0.0010");
	strcpy(ev.u.ticker.high, "0.0025");
	strcpy(ev.u.ticker.low, "0.0010");
	strcpy(ev.u.ticker.volume, "10000");
	strcpy(ev.u.ticker.quote_volume, "18");
	ev.u.ticker.open_time = 1;	/* the fixture's O 0 would read as absent */
	ev.u.ticker.close_time = 86400000;
	ev.u.ticker.first_trade_id = 0;
	ev.u.ticker.last_trade_id = 18150;
	ev.u.ticker.trades = 18151;
	ev_make_id(&ev);
	emit(&ev, NULL);

	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = EV_TRADE;		/* trade_capture.json */
	ev.event_time = 1785701708157;
	strcpy(ev.u.trade.symbol, "BTCUSDT");
	ev.u.trade.trade_id = ev.u.trade.first_trade_id = ev.u.trade.last_trade_id = 7947574407;
	strcpy(ev.u.trade.price, "63437.30");
	strcpy(ev.u.trade.qty, "0.003");
	strcpy(ev.u.trade.order_type, "MARKET");
	ev.u.trade.time = 1785701708156;
	ev_make_id(&ev);
	emit(&ev, NULL);

	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = EV_BOOK;		/* depth_update_partial.json, <symbol>@depth5 */
	ev.flags = EVF_PARTIAL;
	ev.event_time = 1571889248277;
	strcpy(ev.u.book.symbol, "BTCUSDT");
	ev.u.book.last_update_id = 390497878;
	ev.u.book.time = 1571889248276;
	ev.u.book.depth = 5;
	ev.u.book.nbids = ev.u.book.nasks = 5;
	if ((ev.u.book.levels = calloc(10, sizeof(struct ev_level))) == NULL) {
		fprintf(stderr, "kvsample: out of memory\n");
		exit(1);
	}
	for (int i = 0; i < 5; i++) {
		strcpy(ev.u.book.levels[i].price, bids[i][0]);
		strcpy(ev.u.book.levels[i].qty, bids[i][1]);
		strcpy(ev.u.book.levels[5 + i].price, asks[i][0]);
		strcpy(ev.u.book.levels[5 + i].qty, asks[i][1]);
	}
	ev_make_id(&ev);
	emit(&ev, NULL);
	ev_clear(&ev);

	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = EV_BOOK_TICKER;	/* book_ticker.json */
	ev.flags = 0;
	ev.event_time = 1568014460893;
	strcpy(ev.u.book_ticker.symbol, "BNBUSDT");
	ev.u.book_ticker.update_id = 400900217;
	strcpy(ev.u.book_ticker.bid_price, "25.35190000");
	strcpy(ev.u.book_ticker.bid_qty, "31.21000000");
	strcpy(ev.u.book_ticker.ask_price, "25.36520000");
	strcpy(ev.u.book_ticker.ask_qty, "40.66000000");
	ev.u.book_ticker.time = 1568014460891;
	ev_make_id(&ev);
	emit(&ev, NULL);

	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = EV_LIQUIDATION;	/* force_order.json */
	ev.event_time = 1568014460893;
	strcpy(ev.u.liquidation.symbol, "BTCUSDT");
	strcpy(ev.u.liquidation.side, "SELL");
	strcpy(ev.u.liquidation.order_type, "LIMIT");
	strcpy(ev.u.liquidation.tif, "IOC");
	strcpy(ev.u.liquidation.orig_qty, "0.014");
	strcpy(ev.u.liquidation.price, "9910");
	strcpy(ev.u.liquidation.avg_price, "9910");
	strcpy(ev.u.liquidation.status, "FILLED");
	strcpy(ev.u.liquidation.last_qty, "0.014");
	strcpy(ev.u.liquidation.filled_qty, "0.014");
	ev.u.liquidation.time = 1568014460893;
	ev_make_id(&ev);
	emit(&ev, NULL);
}

int
main(int argc, char **argv)
{
	static const char *const stream[] = {
		"order_trade_update_new.json", "order_trade_update_new_capture.json",
		"order_trade_update_partially_filled_capture.json",
		"order_trade_update_filled_capture.json", "order_trade_update_canceled_capture.json",
		"order_trade_update_expired_capture.json", "trade_lite.json", "account_update.json",
		"account_update_capture.json", "account_update_deposit_combined_stream_capture.json",
		"margin_call.json", "account_config_update_leverage.json",
		"account_config_update_multi_assets.json", "algo_update.json",
	};
	static const struct {
		const char	*file;
		enum bf_rest	 kind;
	} bodies[] = {
		{ "rest_query_order.json", BF_REST_ORDER },
		{ "rest_open_orders.json", BF_REST_OPEN_ORDERS },
		{ "rest_position_risk_v3_hedge.json", BF_REST_POSITION_RISK },
	};
	/* Binance's documented GRID_UPDATE: a type exfeedd keeps raw. */
	static const char grid[] = "{\"e\":\"GRID_UPDATE\",\"T\":1669262908216,"
	    "\"E\":1669262908218,\"gu\":{\"si\":176057,\"st\":\"GRID\",\"ss\":\"WORKING\","
	    "\"s\":\"BTCUSDT\",\"r\":\"-0.00300716\",\"up\":\"16720\",\"uq\":\"-0.001\","
	    "\"uf\":\"-0.00300716\",\"mp\":\"0.0\",\"ut\":1669262908197}}";
	const char *dir;
	size_t len;
	char *buf;

	if (argc != 3) {
		fprintf(stderr, "usage: kvsample FIXTURES_DIR OUTDIR\n");
		return 64;
	}
	dir = argv[1];
	outdir = argv[2];
	for (size_t i = 0; i < sizeof(stream) / sizeof(stream[0]); i++) {
		buf = slurp(dir, stream[i], &len);
		frame(stream[i], buf, len);
		free(buf);
	}
	frame("GRID_UPDATE", grid, sizeof(grid) - 1);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		buf = slurp(dir, bodies[i].file, &len);
		rest(bodies[i].file, bodies[i].kind, buf, len);
		free(buf);
	}
	edges();
	market();
	if (fflush(stdout) != 0)
		failed = 1;
	return failed;
}
