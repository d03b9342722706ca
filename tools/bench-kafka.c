/*
 * bench-kafka.c: the cost of a Kafka value (kafka_value), per event and
 * format, the writer's per-event cost of publishing.  Run by
 * `tools/bench kafka`.
 *
 *   bench-kafka -d FIXTURES_DIR [-s seconds]
 *
 * The corpus is the event_log payload (ev_to_json) of every event the
 * Binance futures adapter makes from the user-data fixtures in
 * FIXTURES_DIR/binance.  For each event type, and for all of them, it
 * prints µs per event of the json value (a copy), the protobuf value
 * (jansson parse, fill through the descriptors, pack) and, as the floor
 * under the protobuf path, a bare jansson parse-and-free of the same
 * payloads: the best of three rounds of `seconds` each.  Times are the
 * process's CPU time (CLOCK_PROCESS_CPUTIME_ID), not wall time: on a
 * machine shared with other builds, waiting for a core is not the cost.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "event.h"
#include "exchanges/binance_futures.h"
#include "kafka_value.h"
#include "strbuf.h"

struct payload {
	const char	*type;
	char		*json;
	size_t		 len;
};

static struct payload *corpus;
static size_t ncorpus, capcorpus;
static struct strbuf out;
static uint64_t sink;

static void
collect(struct event *ev, void *arg)
{
	(void)arg;
	if (ev->type == EV_UNKNOWN)
		return;
	if (ncorpus == capcorpus) {
		capcorpus = capcorpus ? capcorpus * 2 : 64;
		if ((corpus = realloc(corpus, capcorpus * sizeof(*corpus))) == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	corpus[ncorpus].type = ev_type_name(ev->type);
	if ((corpus[ncorpus].json = ev_to_json(ev)) == NULL) {
		perror("ev_to_json");
		exit(1);
	}
	corpus[ncorpus].len = strlen(corpus[ncorpus].json);
	ncorpus++;
}

static void
add_file(const char *dir, const char *name)
{
	static const struct ev_origin org = {
		.account_id = 17, .user_id = 1001, .recv_us = 1721895408300123
	};
	struct bf_frame f;
	const char *err;
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
	if (bf_frame_parse(buf, (size_t)len, &f, &err) == -1) {
		fprintf(stderr, "bench-kafka: %s: %s\n", path, err);
		exit(1);
	}
	bf_frame_events(&f, buf, (size_t)len, &org, collect, NULL, NULL);
	bf_frame_free(&f);
	free(buf);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One pass over the payloads of type (NULL: all) in format (-1: jansson alone); events done. */
static uint64_t
pass(const char *type, int format)
{
	char err[256];
	uint64_t n = 0;

	for (size_t i = 0; i < ncorpus; i++) {
		if (type != NULL && strcmp(corpus[i].type, type) != 0)
			continue;
		if (format == -1) {
			json_t *root = json_loadb(corpus[i].json, corpus[i].len, 0, NULL);

			if (root == NULL)
				exit(1);
			json_decref(root);
		} else {
			out.len = 0;
			if (kafka_value(format, corpus[i].type, corpus[i].json, corpus[i].len, NULL, 0,
			    &out, err, sizeof(err)) == -1) {
				fprintf(stderr, "bench-kafka: %s: %s\n", corpus[i].type, err);
				exit(1);
			}
			sink += out.len;
		}
		n++;
	}
	return n;
}

/* Best of three rounds: µs per event. */
static double
measure(const char *type, int format, double seconds)
{
	double best = -1;

	for (int round = 0; round < 3; round++) {
		double t0 = now_s(), dt;
		uint64_t n = 0;

		/* Many passes between clock reads: a CPU clock read costs about a µs. */
		do
			for (int k = 0; k < 200; k++)
				n += pass(type, format);
		while ((dt = now_s() - t0) < seconds);
		if (n > 0 && (best < 0 || dt * 1e6 / n < best))
			best = dt * 1e6 / n;
	}
	return best;
}

/* Average sizes of the two values of type's payloads (NULL: all). */
static void
sizes(const char *type, double *json, double *pb)
{
	char err[256];
	size_t n = 0, sj = 0, sp = 0;

	for (size_t i = 0; i < ncorpus; i++) {
		if (type != NULL && strcmp(corpus[i].type, type) != 0)
			continue;
		out.len = 0;
		if (kafka_value(CONF_KAFKA_PROTOBUF, corpus[i].type, corpus[i].json, corpus[i].len,
		    NULL, 0, &out, err, sizeof(err)) == -1)
			exit(1);
		sj += corpus[i].len;
		sp += out.len;
		n++;
	}
	*json = n ? (double)sj / n : 0;
	*pb = n ? (double)sp / n : 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-kafka -d FIXTURES_DIR [-s seconds]\n");
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
	};
	static const char *const types[] = {
		"order", "fill", "algo", "position", "balance", "margin_call", "config", NULL
	};
	double seconds = 0.3;
	const char *dir = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "d:s:")) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (dir == NULL || seconds <= 0)
		usage();
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		add_file(dir, fixtures[i]);
	printf("corpus: %zu events from %zu fixtures; µs of CPU per event, best of 3 rounds of "
	    "%.1f s\n", ncorpus,
	    sizeof(fixtures) / sizeof(fixtures[0]), seconds);
	printf("%-12s %5s %8s %8s %10s %10s %10s\n", "type", "n", "json B", "pb B",
	    "json us", "pb us", "parse us");
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		size_t n = 0;
		double sj, sp;

		for (size_t i = 0; i < ncorpus; i++)
			n += types[t] == NULL || strcmp(corpus[i].type, types[t]) == 0;
		if (n == 0)
			continue;
		sizes(types[t], &sj, &sp);
		printf("%-12s %5zu %8.0f %8.0f %10.3f %10.3f %10.3f\n", types[t] ? types[t] : "all", n,
		    sj, sp, measure(types[t], CONF_KAFKA_JSON, seconds),
		    measure(types[t], CONF_KAFKA_PROTOBUF, seconds), measure(types[t], -1, seconds));
	}
	free(out.p);
	return sink == 0;
}
