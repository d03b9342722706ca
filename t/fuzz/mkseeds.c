/*
 * mkseeds.c: seed inputs for the fuzz targets whose inputs are binary:
 * fuzz_evcodec (one packed event each, from the Binance fixtures and of
 * every type) and fuzz_ipc (a receiver byte and the frames its peer sends).
 * `make fuzz-seeds` writes them into t/fuzz/corpus/ of the source tree;
 * run it again when the wire form changes.
 *
 *   mkseeds FIXTURES_DIR CONFIG_FILE CORPUS_DIR
 */
#include "autoconf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "config.h"
#include "event.h"
#include "exchanges/binance_futures.h"
#include "ipc.h"
#include "mpack.h"

static const char *corpus;
static struct event evs[256];
static int nev;

/* One event of each market data type (the shapes of the market fixtures). */
static void
market_seeds(void)
{
	struct event *e;

	for (unsigned t = EV_KLINE; t < EV_TYPE_MAX; t++) {
		e = &evs[nev++];
		memset(e, 0, sizeof(*e));
		e->type = (uint8_t)t;
		e->event_time = 1700000000000;
		e->recv_us = 1700000000000123;
		snprintf(e->exchange, sizeof(e->exchange), "binance-futures");
		/* symbol is the first member of every market struct */
		snprintf(e->u.kline.symbol, sizeof(e->u.kline.symbol), "BTCUSDT");
		switch (t) {
		case EV_KLINE:
			snprintf(e->u.kline.interval, sizeof(e->u.kline.interval), "15m");
			e->u.kline.open_time = 1700000000000;
			e->u.kline.close_time = 1700000899999;
			e->u.kline.first_trade_id = -1;
			e->u.kline.last_trade_id = 200;
			snprintf(e->u.kline.open, EV_DEC, "0.0010");
			snprintf(e->u.kline.high, EV_DEC, "0.0025");
			snprintf(e->u.kline.low, EV_DEC, "0.0015");
			snprintf(e->u.kline.close, EV_DEC, "0.0020");
			snprintf(e->u.kline.volume, EV_DEC, "1000");
			snprintf(e->u.kline.quote_volume, EV_DEC, "1.0000");
			snprintf(e->u.kline.taker_buy_volume, EV_DEC, "500");
			snprintf(e->u.kline.taker_buy_quote_volume, EV_DEC, "0.500");
			e->u.kline.trades = 100;
			e->u.kline.closed = true;
			break;
		case EV_MARK_PRICE:
			snprintf(e->u.mark_price.mark_price, EV_DEC, "11794.15000000");
			snprintf(e->u.mark_price.index_price, EV_DEC, "11784.62659091");
			snprintf(e->u.mark_price.funding_rate, EV_DEC, "0.00038167");
			e->u.mark_price.next_funding_time = 1700006400000;
			break;
		case EV_FUNDING:
			snprintf(e->u.funding.funding_rate, EV_DEC, "-0.00038167");
			e->u.funding.next_funding_time = 1700006400000;
			break;
		case EV_TICKER:
			e->flags = EVF_MINI;
			snprintf(e->u.ticker.last_price, EV_DEC, "0.0025");
			snprintf(e->u.ticker.open, EV_DEC, "0.0010");
			snprintf(e->u.ticker.high, EV_DEC, "0.0025");
			snprintf(e->u.ticker.low, EV_DEC, "0.0010");
			snprintf(e->u.ticker.volume, EV_DEC, "10000");
			snprintf(e->u.ticker.quote_volume, EV_DEC, "18");
			e->u.ticker.first_trade_id = e->u.ticker.last_trade_id = -1;
			e->u.ticker.trades = -1;
			break;
		case EV_TRADE:
			e->flags = EVF_AGG;
			e->u.trade.trade_id = 5933014;
			e->u.trade.first_trade_id = 100;
			e->u.trade.last_trade_id = 105;
			snprintf(e->u.trade.price, EV_DEC, "63437.30");
			snprintf(e->u.trade.qty, EV_DEC, "0.003");
			snprintf(e->u.trade.normal_qty, EV_DEC, "0.002");
			e->u.trade.buyer_maker = true;
			e->u.trade.time = 1700000000000;
			break;
		case EV_BOOK:
			e->flags = EVF_PARTIAL;
			e->u.book.last_update_id = 390497878;
			e->u.book.depth = 5;
			e->u.book.nbids = 2;
			e->u.book.nasks = 3;
			if ((e->u.book.levels = calloc(5, sizeof(struct ev_level))) == NULL)
				abort();
			snprintf(e->u.book.levels[0].price, EV_DEC, "7405.43");
			snprintf(e->u.book.levels[0].qty, EV_DEC, "2.562");
			snprintf(e->u.book.levels[1].price, EV_DEC, "7403.89");
			snprintf(e->u.book.levels[1].qty, EV_DEC, "0.002");
			snprintf(e->u.book.levels[2].price, EV_DEC, "7405.96");
			snprintf(e->u.book.levels[2].qty, EV_DEC, "3.340");
			snprintf(e->u.book.levels[3].price, EV_DEC, "7406.63");
			snprintf(e->u.book.levels[3].qty, EV_DEC, "4.525");
			snprintf(e->u.book.levels[4].price, EV_DEC, "7407.20");
			snprintf(e->u.book.levels[4].qty, EV_DEC, "0.175");
			break;
		case EV_BOOK_TICKER:
			e->u.book_ticker.update_id = 400900217;
			snprintf(e->u.book_ticker.bid_price, EV_DEC, "25.35190000");
			snprintf(e->u.book_ticker.bid_qty, EV_DEC, "31.21000000");
			snprintf(e->u.book_ticker.ask_price, EV_DEC, "25.36520000");
			snprintf(e->u.book_ticker.ask_qty, EV_DEC, "40.66000000");
			e->u.book_ticker.time = 1568014460891;
			break;
		case EV_LIQUIDATION:
			snprintf(e->u.liquidation.side, EV_WORD, "SELL");
			snprintf(e->u.liquidation.order_type, EV_WORD, "LIMIT");
			snprintf(e->u.liquidation.tif, EV_WORD, "IOC");
			snprintf(e->u.liquidation.orig_qty, EV_DEC, "0.014");
			snprintf(e->u.liquidation.price, EV_DEC, "9910");
			snprintf(e->u.liquidation.avg_price, EV_DEC, "9910");
			snprintf(e->u.liquidation.status, EV_WORD, "FILLED");
			snprintf(e->u.liquidation.last_qty, EV_DEC, "0.014");
			snprintf(e->u.liquidation.filled_qty, EV_DEC, "0.014");
			e->u.liquidation.time = 1568014460893;
			break;
		}
		ev_make_id(e);
	}
}

static void
put(const char *target, const char *name, const void *p, size_t len)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);
	if ((fp = fopen(path, "wb")) == NULL || fwrite(p, 1, len, fp) != len || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
}

static void
keep_cb(struct event *ev, void *arg)
{
	if (nev == (int)(sizeof(evs) / sizeof(evs[0])))
		return;
	evs[nev] = *ev;
	if (ev->type == EV_UNKNOWN)
		evs[nev].u.unknown.raw = strdup(ev->u.unknown.raw);
	nev++;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0)
		return NULL;
	rewind(fp);
	if ((buf = malloc((size_t)n + 1)) == NULL || fread(buf, 1, (size_t)n, fp) != (size_t)n)
		exit(1);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/* One frame into sb: header (type, seq) and a body packed by the caller into body. */
static void
frame(msgpack_sbuffer *sb, unsigned type, uint32_t seq, const msgpack_sbuffer *body)
{
	unsigned char hdr[IPC_HDR_LEN];

	ipc_hdr_encode(hdr, type, (uint32_t)body->size, seq);
	msgpack_sbuffer_write(sb, (const char *)hdr, sizeof(hdr));
	msgpack_sbuffer_write(sb, body->data, body->size);
}

#define BODY(pk, sb) msgpack_sbuffer_clear(&sb); msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write)

static void
ipc_seed(const char *name, unsigned receiver, const msgpack_sbuffer *frames)
{
	char *buf = malloc(frames->size + 1);

	buf[0] = (char)receiver;
	memcpy(buf + 1, frames->data, frames->size);
	put("fuzz_ipc", name, buf, frames->size + 1);
	free(buf);
}

int
main(int argc, char **argv)
{
	const struct ev_origin org = { 42, 7, 1700000000000000LL, 0 };
	msgpack_sbuffer sb, body, out;
	msgpack_packer pk;
	struct config cfg;
	struct config_errors errs;
	DIR *d;
	struct dirent *de;
	char name[64];

	if (argc != 4) {
		fprintf(stderr, "usage: mkseeds FIXTURES_DIR CONFIG_FILE CORPUS_DIR\n");
		return 2;
	}
	corpus = argv[3];
	if ((d = opendir(argv[1])) == NULL) {
		perror(argv[1]);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096], *buf;
		struct bf_frame f;
		const char *err;
		size_t len;

		if (de->d_name[0] == '.' || strncmp(de->d_name, "rest_", 5) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
		if ((buf = slurp(path, &len)) == NULL)
			continue;
		if (bf_frame_parse(buf, len, &f, &err) == 0) {
			bf_frame_events(&f, buf, len, &org, keep_cb, NULL, NULL);
			bf_frame_free(&f);
		}
		free(buf);
	}
	closedir(d);
	/* A gap opened and healed: the writer's own events. */
	for (int heal = 0; heal < 2; heal++) {
		struct event *g = &evs[nev++];

		memset(g, 0, sizeof(*g));
		g->type = EV_GAP;
		g->account_id = 42;
		g->event_time = 1700000000000;
		snprintf(g->exchange, sizeof(g->exchange), "binance-futures");
		g->u.gap.heal = heal;
		g->u.gap.since = 1700000000000;
		g->u.gap.at_us = 1700000000000000LL;
		g->u.gap.until = heal ? 1700000001000 : 0;
		snprintf(g->u.gap.reason, sizeof(g->u.gap.reason), heal ? "" : "connection lost");
		ev_make_id(g);
	}
	market_seeds();
	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_init(&body);
	msgpack_sbuffer_init(&out);
	for (int i = 0; i < nev; i++) {
		evs[i].seq = (uint64_t)i + 1;
		BODY(pk, sb);
		ev_pack(&pk, &evs[i]);
		snprintf(name, sizeof(name), "event-%02d-%s", i, ev_type_name(evs[i].type));
		put("fuzz_evcodec", name, sb.data, sb.size);
	}

	/* 0: the supervisor hears a worker. */
	msgpack_sbuffer_clear(&out);
	BODY(pk, body);
	msgpack_pack_map(&pk, 3);
	mp_kv_i64(&pk, "pid", 1234);
	mp_kv_str(&pk, "role", "account");
	mp_kv_i64(&pk, "instance", 0);
	frame(&out, IPC_READY, 1, &body);
	BODY(pk, body);
	msgpack_pack_map(&pk, 0);
	frame(&out, IPC_HEARTBEAT, 2, &body);
	BODY(pk, body);
	msgpack_pack_map(&pk, 3);
	mp_kv_i64(&pk, "id", 5);
	mp_kv_bool(&pk, "ready", 1);
	mp_str(&pk, "role");
	msgpack_pack_map(&pk, 1);
	mp_kv_i64(&pk, "accounts", 50);
	frame(&out, IPC_STATUS, 3, &body);
	BODY(pk, body);
	msgpack_pack_map(&pk, 3);
	mp_kv_i64(&pk, "gen", 1);
	mp_kv_bool(&pk, "ok", 0);
	mp_kv_str(&pk, "error", "cannot open log");
	frame(&out, IPC_CONFIG_ACK, 4, &body);
	BODY(pk, body);
	msgpack_pack_map(&pk, 1);
	mp_kv_str(&pk, "reason", "master key does not decrypt");
	frame(&out, IPC_FATAL, 5, &body);
	ipc_seed("supervisor", 0, &out);

	/* 1: a worker hears the supervisor: CONFIG first. */
	if (config_load(argv[2], &cfg, &errs) == -1) {
		config_errors_print(&errs, stderr);
		return 1;
	}
	msgpack_sbuffer_clear(&out);
	BODY(pk, body);
	msgpack_pack_map(&pk, 2);
	mp_kv_i64(&pk, "gen", 1);
	mp_str(&pk, "config");
	config_pack(&cfg, &pk);
	frame(&out, IPC_CONFIG, 1, &body);
	config_free(&cfg);
	BODY(pk, body);
	msgpack_pack_map(&pk, 2);
	mp_kv_i64(&pk, "id", 9);
	mp_kv_str(&pk, "want", "accounts");
	frame(&out, IPC_STATUS_REQ, 2, &body);
	BODY(pk, body);
	msgpack_pack_map(&pk, 0);
	frame(&out, IPC_RECONCILE, 3, &body);
	frame(&out, IPC_LOG_REOPEN, 4, &body);
	frame(&out, IPC_SHUTDOWN, 5, &body);
	ipc_seed("worker", 1, &out);

	/* 2, 3: the control socket, both ends. */
	msgpack_sbuffer_clear(&out);
	BODY(pk, body);
	msgpack_pack_map(&pk, 1);
	mp_kv_str(&pk, "cmd", "status");
	frame(&out, IPC_CTL_REQUEST, 1, &body);
	ipc_seed("ctl-request", 2, &out);
	msgpack_sbuffer_clear(&out);
	BODY(pk, body);
	msgpack_pack_map(&pk, 4);
	mp_kv_bool(&pk, "ok", 1);
	mp_kv_i64(&pk, "pid", 99);
	mp_kv_str(&pk, "state", "running \"ok\"\n");
	mp_str(&pk, "workers");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 3);
	mp_kv_str(&pk, "role", "writer");
	mp_kv_i64(&pk, "instance", 0);
	mp_kv_i64(&pk, "uptime_ms", -1);
	frame(&out, IPC_CTL_REPLY, 1, &body);
	ipc_seed("ctl-reply", 3, &out);

	/* 4: the writer hears a sender: HELLO, then events in frames of a few. */
	msgpack_sbuffer_clear(&out);
	BODY(pk, body);
	msgpack_pack_map(&pk, 3);
	mp_kv_str(&pk, "role", "account");
	mp_kv_i64(&pk, "instance", 1);
	mp_kv_i64(&pk, "pid", 4321);
	frame(&out, IPC_DP_HELLO, 1, &body);
	for (int i = 0, seq = 2; i < nev; i += 4, seq++) {
		int n = nev - i < 4 ? nev - i : 4;

		BODY(pk, body);
		msgpack_pack_map(&pk, 1);
		mp_str(&pk, "ev");
		msgpack_pack_array(&pk, (size_t)n);
		for (int k = 0; k < n; k++)
			ev_pack(&pk, &evs[i + k]);
		frame(&out, IPC_DP_EVENTS, (uint32_t)seq, &body);
		if (seq % 4 == 0) {
			snprintf(name, sizeof(name), "writer-%02d", seq);
			ipc_seed(name, 4, &out);
			msgpack_sbuffer_clear(&out);
			BODY(pk, body);
			msgpack_pack_map(&pk, 3);
			mp_kv_str(&pk, "role", "market");
			mp_kv_i64(&pk, "instance", 0);
			mp_kv_i64(&pk, "pid", 4322);
			frame(&out, IPC_DP_HELLO, 1, &body);
			seq = 1;
		}
	}
	ipc_seed("writer-last", 4, &out);

	/* 5: a sender hears the writer. */
	msgpack_sbuffer_clear(&out);
	BODY(pk, body);
	msgpack_pack_map(&pk, 1);
	mp_kv_i64(&pk, "seq", 17);
	frame(&out, IPC_DP_ACK, 1, &body);
	ipc_seed("dp-ack", 5, &out);

	for (int i = 0; i < nev; i++)
		ev_clear(&evs[i]);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_destroy(&body);
	msgpack_sbuffer_destroy(&out);
	printf("mkseeds: %d events\n", nev);
	return 0;
}
