/*
 * bench-parse.c: throughput of the Binance futures adapter (frame → events),
 * the account worker's per-frame cost.  Run by `tools/bench parse`.
 *
 *   bench-parse [-m] -d FIXTURES_DIR [-s seconds] [-n frames] [FILE.jsonl ...]
 *
 * The corpus is every user-data fixture in FIXTURES_DIR/binance plus a set
 * of exsim-shaped frames (the combined envelope, the user-data event mix
 * exsim emits, ids and prices varied per frame); lines of any .jsonl file
 * given (e.g. a capture of exsim's /private/stream) join it.  Each round
 * parses every frame (bf_frame_parse + bf_frame_events, ids included); the
 * best of three rounds is printed as frames/s and events/s, next to a bare
 * jansson parse-and-free of the same corpus: the floor under this design.
 * A frame the adapter rejects, or an event it drops, is counted and
 * reported; a capture should have none, and any makes the exit status 1.
 *
 * With -m the same for the market parser (binance_market.c,
 * bm_frame_parse): the market fixtures and market frames in the combined
 * envelope, in a busy symbol's mix (trades and aggTrades, bookTicker,
 * depth diffs of 20 levels, klines, mark prices, partial depth of 20).
 * It reads JSON with jtok (jtok.h), so its floor is jtok's tokenizing
 * alone, printed next to jansson's parse-and-free of the same frames.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "event.h"
#include "exchanges/binance_futures.h"
#include "exchanges/binance_market.h"
#include "jtok.h"

struct frame {
	char	*buf;
	size_t	 len;
};

static struct frame *frames;
static size_t nframes, capframes;
static uint64_t sink;
static int market;		/* -m: the market parser */

static void
add(char *buf, size_t len)
{
	if (nframes == capframes) {
		capframes = capframes ? capframes * 2 : 256;
		if ((frames = realloc(frames, capframes * sizeof(*frames))) == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	frames[nframes].buf = buf;
	frames[nframes].len = len;
	nframes++;
}

static void
add_file(const char *dir, const char *name)
{
	char path[4096];
	FILE *fp;
	char *buf;
	long len;

	snprintf(path, sizeof(path), "%s/binance/%s", dir, name);
	if ((fp = fopen(path, "rb")) == NULL) {
		perror(path);
		exit(1);
	}
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	if ((buf = malloc((size_t)len + 1)) == NULL || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		perror(path);
		exit(1);
	}
	buf[len] = '\0';
	fclose(fp);
	add(buf, (size_t)len);
}

static void
add_jsonl(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		add(strndup(line, (size_t)n), (size_t)n);
	}
	free(line);
	fclose(fp);
}

#define KEY "ATNlBN9Wjkosp4lj2kMu4R7qV8L4Fq8jK7QXaaifFwrPXfwxhWdqyUpeJvjrVCeY"

/* exsim-shaped frames in the proportions exsim emits them (about 44% order
 * updates, 26% account updates, 24% TRADE_LITE, 5% algo, 1% config/margin). */
static void
add_exsim_like(int count)
{
	char buf[2048];
	int n;

	for (int i = 0; i < count; i++) {
		long long t = 1795222168000LL + i, oid = 100000000000LL + i, tid = 8947131000LL + i;
		double px = 3000.0 + (i % 997) * 0.37;
		int k = i % 100;

		if (k < 44)
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"" KEY "\",\"data\":{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":%lld,\"E\":%lld,\"o\":{\"s\":\"ETHUSDT\",\"c\":\"Vi5VmHxnDPPfrrL6w7k%03d\",\"S\":\"BUY\",\"o\":\"LIMIT\",\"f\":\"GTC\",\"q\":\"0.300\",\"p\":\"%.2f\",\"ap\":\"%.4f\",\"sp\":\"0\",\"x\":\"%s\",\"X\":\"%s\",\"i\":%lld,\"l\":\"%s\",\"z\":\"%s\",\"L\":\"%.2f\",\"n\":\"0.18517380\",\"N\":\"USDT\",\"T\":%lld,\"t\":%lld,\"b\":\"0\",\"a\":\"0\",\"m\":true,\"R\":false,\"wt\":\"CONTRACT_PRICE\",\"ot\":\"LIMIT\",\"ps\":\"LONG\",\"cp\":false,\"rp\":\"0\",\"pP\":false,\"si\":0,\"ss\":0,\"V\":\"NONE\",\"pm\":\"NONE\",\"gtd\":0}}}",
			    t, t, i % 1000, px, k & 1 ? px : 0.0, k & 1 ? "TRADE" : "NEW",
			    k & 1 ? "FILLED" : "NEW", oid, k & 1 ? "0.300" : "0",
			    k & 1 ? "0.300" : "0", k & 1 ? px : 0.0, t, k & 1 ? tid : 0LL);
		else if (k < 70)
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"" KEY "\",\"data\":{\"e\":\"ACCOUNT_UPDATE\",\"T\":%lld,\"E\":%lld,\"a\":{\"B\":[{\"a\":\"USDT\",\"wb\":\"%.8f\",\"cw\":\"%.8f\",\"bc\":\"0\"}],\"P\":[{\"s\":\"ETHUSDT\",\"pa\":\"0.707\",\"ep\":\"%.5f\",\"bep\":\"3091.39372542\",\"cr\":\"-1.85027700\",\"up\":\"-3.06514194\",\"mt\":\"cross\",\"iw\":\"0.00000000\",\"ps\":\"LONG\",\"ma\":\"USDT\"}],\"m\":\"ORDER\"}}}",
			    t, t, 11304.81107761 + i, 11304.81107761 + i, px);
		else if (k < 94)
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"" KEY "\",\"data\":{\"e\":\"TRADE_LITE\",\"E\":%lld,\"T\":%lld,\"s\":\"ETHUSDT\",\"q\":\"0.300\",\"p\":\"%.2f\",\"m\":true,\"c\":\"Vi5VmHxnDPPfrrL6w7k2Da\",\"S\":\"BUY\",\"L\":\"%.2f\",\"l\":\"0.300\",\"t\":%lld,\"i\":%lld}}",
			    t, t, px, px, tid, oid);
		else if (k < 99)
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"" KEY "\",\"data\":{\"e\":\"ALGO_UPDATE\",\"T\":%lld,\"E\":%lld,\"o\":{\"caid\":\"nblqnsjWAZUlKqkVPseQlb\",\"aid\":%d,\"at\":\"CONDITIONAL\",\"o\":\"STOP_MARKET\",\"s\":\"SOLUSDT\",\"S\":\"BUY\",\"ps\":\"LONG\",\"f\":\"GTC\",\"q\":\"7\",\"X\":\"NEW\",\"ai\":\"\",\"ap\":\"0.00000\",\"aq\":\"0.00000\",\"act\":\"0\",\"tp\":\"%.4f\",\"p\":\"0\",\"V\":\"EXPIRE_MAKER\",\"wt\":\"CONTRACT_PRICE\",\"pm\":\"NONE\",\"cp\":false,\"pP\":false,\"R\":false,\"tt\":0,\"gtd\":0,\"rm\":\"\"}}}",
			    t, t, 2148729 + i, px / 20);
		else
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"" KEY "\",\"data\":{\"e\":\"ACCOUNT_CONFIG_UPDATE\",\"E\":%lld,\"T\":%lld,\"ac\":{\"s\":\"BTCUSDT\",\"l\":%d}}}",
			    t, t, 1 + i % 125);
		add(strndup(buf, (size_t)n), (size_t)n);
	}
}

/* Market frames of one busy symbol, ids and prices varied per frame. */
static void
add_market_like(int count)
{
	char buf[4096], lv[1024], asks[1024];
	int n;

	for (int i = 0; i < count; i++) {
		long long t = 1795222168000LL + i, id = 8947131000LL + i;
		double px = 63000.0 + (i % 997) * 0.1;
		int k = i % 100;

		if (k < 30)
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"btcusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":%lld,\"s\":\"BTCUSDT\",\"a\":%lld,\"p\":\"%.1f\",\"q\":\"0.%03d\",\"nq\":\"0.%03d\",\"f\":%lld,\"l\":%lld,\"T\":%lld,\"m\":%s}}",
			    t, id / 3, px, 1 + i % 999, 1 + i % 999, id, id + 2, t - 1, k & 1 ? "true" : "false");
		else if (k < 55)
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":%lld,\"T\":%lld,\"s\":\"BTCUSDT\",\"t\":%lld,\"p\":\"%.1f\",\"q\":\"0.%03d\",\"X\":\"MARKET\",\"m\":%s,\"st\":1}}",
			    t, t - 1, id, px, 1 + i % 999, k & 1 ? "true" : "false");
		else if (k < 75)
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"e\":\"bookTicker\",\"u\":%lld,\"s\":\"BTCUSDT\",\"b\":\"%.1f\",\"B\":\"1.234\",\"a\":\"%.1f\",\"A\":\"0.567\",\"T\":%lld,\"E\":%lld}}",
			    id, px, px + 0.1, t - 1, t);
		else if (k < 90 || k >= 98) {
			/* 10 bids and 10 asks; a diff, or (k >= 98) a partial depth20 frame */
			for (int side = 0, o = 0; side < 2; side++, o = 0)
				for (int j = 0; j < 10; j++)
					o += snprintf(side ? asks + o : lv + o, sizeof(lv) - (size_t)o,
					    "%s[\"%.1f\",\"%d.%03d\"]", j ? "," : "",
					    side ? px + (j + 1) * 0.1 : px - j * 0.1, j % 4, (i + j) % 1000 + 1);
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"btcusdt@depth%s\",\"data\":{\"e\":\"depthUpdate\",\"E\":%lld,\"T\":%lld,\"s\":\"BTCUSDT\",\"U\":%lld,\"u\":%lld,\"pu\":%lld,\"b\":[%s],\"a\":[%s]}}",
			    k >= 98 ? "20@100ms" : "@100ms", t, t - 1, id, id + 20, id - 1, lv, asks);
		} else if (k < 95)
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"btcusdt@kline_1m\",\"data\":{\"e\":\"kline\",\"E\":%lld,\"s\":\"BTCUSDT\",\"k\":{\"t\":%lld,\"T\":%lld,\"s\":\"BTCUSDT\",\"i\":\"1m\",\"f\":%lld,\"L\":%lld,\"o\":\"%.1f\",\"c\":\"%.1f\",\"h\":\"%.1f\",\"l\":\"%.1f\",\"v\":\"12.345\",\"n\":%d,\"x\":false,\"q\":\"778899.12\",\"V\":\"6.1\",\"Q\":\"384000.5\",\"B\":\"0\"}}}",
			    t, t / 60000 * 60000, t / 60000 * 60000 + 59999, id - 500, id, px, px + 1,
			    px + 2, px - 1, 500 + i % 100);
		else
			n = snprintf(buf, sizeof(buf), "{\"stream\":\"btcusdt@markPrice@1s\",\"data\":{\"e\":\"markPriceUpdate\",\"E\":%lld,\"s\":\"BTCUSDT\",\"p\":\"%.8f\",\"ap\":\"%.8f\",\"P\":\"%.8f\",\"i\":\"%.8f\",\"r\":\"0.00010000\",\"T\":1795248000000}}",
			    t, px, px, px - 3, px - 1);
		add(strndup(buf, (size_t)n), (size_t)n);
	}
}

static void
count_event(struct event *ev, void *arg)
{
	uint64_t *nev = arg;

	(*nev)++;
	sink += (unsigned char)ev->id[2];
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One pass over the corpus; counts events and rejected frames. */
static void
pass(uint64_t *nev, uint64_t *bad, int report)
{
	static const struct ev_origin org = { .account_id = 1, .user_id = 1 };
	struct bf_drops drops;
	struct bf_frame f;
	const char *err;
	int rc;

	for (size_t i = 0; i < nframes; i++) {
		memset(&drops, 0, sizeof(drops));
		rc = bf_frame_parse(frames[i].buf, frames[i].len, &f, &err);
		if (rc == 0) {
			bf_frame_events(&f, frames[i].buf, frames[i].len, &org, count_event,
			    nev, &drops);
			bf_frame_free(&f);
			if (drops.events) {
				rc = -1;
				err = drops.why;
			}
		}
		if (rc == -1) {
			if (report && *bad < 5)
				fprintf(stderr, "bench-parse: frame %zu rejected: %s\n", i, err);
			(*bad)++;
		}
	}
}

/* One pass over a market corpus: a depth diff counts as one event. */
static void
pass_market(uint64_t *nev, uint64_t *bad, int report)
{
	struct bm_drops drops;
	struct bm_frame f;
	const char *err;
	int rc;

	for (size_t i = 0; i < nframes; i++) {
		memset(&drops, 0, sizeof(drops));
		rc = bm_frame_parse(frames[i].buf, frames[i].len, 1, false, count_event, nev, &f,
		    &drops, &err);
		if (rc == 0 && f.kind == BMF_DEPTH_DIFF) {
			(*nev)++;
			sink += f.diff.nbids;
			bm_depth_diff_free(&f.diff);
		}
		if (rc == 0 && drops.d.events) {
			rc = -1;
			err = drops.d.why;
		}
		if (rc == -1) {
			if (report && *bad < 5)
				fprintf(stderr, "bench-parse: frame %zu rejected: %s\n", i, err);
			(*bad)++;
		}
	}
}

/* The floor: jansson alone, parse and free, no lookups. */
static void
pass_jansson(uint64_t *nev, uint64_t *bad, int report)
{
	for (size_t i = 0; i < nframes; i++) {
		json_t *root = json_loadb(frames[i].buf, frames[i].len, 0, NULL);

		if (root == NULL)
			(*bad)++;
		else
			(*nev)++;
		json_decref(root);
	}
}

/* The market parser's floor: jtok alone, no lookups. */
static void
pass_jtok(uint64_t *nev, uint64_t *bad, int report)
{
	static struct jtok j;

	(void)report;
	if (j.max == 0)
		jtok_init(&j, (size_t)1 << 20);
	for (size_t i = 0; i < nframes; i++) {
		if (jtok_parse(&j, frames[i].buf, frames[i].len) == -1)
			(*bad)++;
		else
			(*nev)++;
	}
}

/* Best of three rounds of at least `seconds` each: frames/s, and events/s in *evs. */
static double
measure(void (*fn)(uint64_t *, uint64_t *, int), double seconds, double *evs)
{
	double best = 0;

	for (int round = 0; round < 3; round++) {
		double t0 = now_s(), dt;
		uint64_t done = 0, ev = 0, bad = 0;

		do {
			fn(&ev, &bad, 0);
			done += nframes;
		} while ((dt = now_s() - t0) < seconds);
		if (done / dt > best) {
			best = done / dt;
			*evs = ev / dt;
		}
	}
	return best;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-parse [-m] -d FIXTURES_DIR [-s seconds] [-n frames] [FILE.jsonl ...]\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	static const char *const fixtures[] = {
		"order_trade_update_new.json", "order_trade_update_new_capture.json",
		"order_trade_update_partially_filled_capture.json",
		"order_trade_update_filled_capture.json", "order_trade_update_canceled_capture.json",
		"order_trade_update_expired_capture.json", "trade_lite.json", "account_update.json",
		"account_update_capture.json", "account_update_deposit_combined_stream_capture.json",
		"margin_call.json", "account_config_update_leverage.json",
		"account_config_update_multi_assets.json", "algo_update.json",
		"listen_key_expired.json",
	};
	static const char *const mfixtures[] = {
		"kline.json", "mark_price_update.json", "mark_price_update_all_market.json",
		"ticker_24hr.json", "mini_ticker_24hr.json", "trade_capture.json",
		"combined_stream_trade_capture.json", "agg_trade.json", "depth_update_diff.json",
		"book_ticker.json", "force_order.json", "ws_subscribe_response.json",
	};
	double seconds = 1.0, best, best_ev = 0, base, base_ev = 0, tok = 0, tok_ev = 0;
	const char *dir = NULL;
	int nsynth = 20000, ch;
	uint64_t nev = 0, bad = 0, bytes = 0;

	while ((ch = getopt(argc, argv, "d:s:n:m")) != -1) {
		switch (ch) {
		case 'm':
			market = 1;
			break;
		case 'd':
			dir = optarg;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'n':
			nsynth = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (dir == NULL || seconds <= 0 || nsynth < 0)
		usage();
	if (market) {
		for (size_t i = 0; i < sizeof(mfixtures) / sizeof(mfixtures[0]); i++)
			add_file(dir, mfixtures[i]);
		add_market_like(nsynth);
	} else {
		for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
			add_file(dir, fixtures[i]);
		add_exsim_like(nsynth);
	}
	for (int i = optind; i < argc; i++)
		add_jsonl(argv[i]);
	for (size_t i = 0; i < nframes; i++)
		bytes += frames[i].len;

	(market ? pass_market : pass)(&nev, &bad, 1);
	printf("corpus: %zu frames, %.0f B average, %" PRIu64 " events per pass, %" PRIu64
	    " rejected\n", nframes, (double)bytes / nframes, nev, bad);
	best = measure(market ? pass_market : pass, seconds, &best_ev);
	base = measure(pass_jansson, seconds, &base_ev);
	if (market)
		tok = measure(pass_jtok, seconds, &tok_ev);
	printf("parse: %.0f frames/s (%.0f ns/frame), %.0f events/s (best of 3 rounds of %.1f s)\n",
	    best, 1e9 / best, best_ev, seconds);
	printf("jansson parse+free alone: %.0f frames/s (%.0f ns/frame); the adapter runs at %.0f%% "
	    "of that\n", base, 1e9 / base, 100 * best / base);
	if (market)
		printf("jtok tokenizing alone: %.0f frames/s (%.0f ns/frame); the adapter runs at "
		    "%.0f%% of that\n", tok, 1e9 / tok, 100 * best / tok);
	return bad > 0 ? 1 : 0;
}
