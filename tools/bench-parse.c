/*
 * bench-parse.c: throughput of the Binance futures adapter (frame → events),
 * the account worker's per-frame cost.  Run by `tools/bench parse`.
 *
 *   bench-parse -d FIXTURES_DIR [-s seconds] [-n frames] [FILE.jsonl ...]
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

struct frame {
	char	*buf;
	size_t	 len;
};

static struct frame *frames;
static size_t nframes, capframes;
static uint64_t sink;

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
	fprintf(stderr, "usage: bench-parse -d FIXTURES_DIR [-s seconds] [-n frames] [FILE.jsonl ...]\n");
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
	double seconds = 1.0, best, best_ev = 0, base, base_ev = 0;
	const char *dir = NULL;
	int nsynth = 20000, ch;
	uint64_t nev = 0, bad = 0, bytes = 0;

	while ((ch = getopt(argc, argv, "d:s:n:")) != -1) {
		switch (ch) {
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
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		add_file(dir, fixtures[i]);
	add_exsim_like(nsynth);
	for (int i = optind; i < argc; i++)
		add_jsonl(argv[i]);
	for (size_t i = 0; i < nframes; i++)
		bytes += frames[i].len;

	pass(&nev, &bad, 1);
	printf("corpus: %zu frames, %.0f B average, %" PRIu64 " events per pass, %" PRIu64
	    " rejected\n", nframes, (double)bytes / nframes, nev, bad);
	best = measure(pass, seconds, &best_ev);
	base = measure(pass_jansson, seconds, &base_ev);
	printf("parse: %.0f frames/s, %.0f events/s (best of 3 rounds of %.1f s)\n",
	    best, best_ev, seconds);
	printf("jansson parse+free alone: %.0f frames/s; the adapter runs at %.0f%% of that\n",
	    base, 100 * best / base);
	return bad > 0 ? 1 : 0;
}
