/*
 * market_kafka.c: the market worker publishes its market data to Kafka
 * itself (market_kafka.h), on a producer of its own.
 *
 * Why here and not through the writer.  Every market event but a closed
 * candle has no row: handing it to the writer only to have it published
 * cost a second pass (the data plane's encoding, the writer's decoding and
 * validation, acks) as large as the market worker's own work (BENCHMARKS.md,
 * "Market data").  Closed candles still go to the writer: it upserts them
 * into `klines` and publishes them once committed, as before.
 *
 * What is published is what the writer published (doc/topics.md): topic
 * [kafka] topic.<type>, key = symbol, headers event_id / exchange / type /
 * schema, value the event (kafka_produce_event).  Market data is
 * replaceable (the next tick supersedes it): the producer is not
 * idempotent, and a full queue, a failed delivery or no broker address yet
 * costs the message, counted per type (market_kafka_status) and logged
 * rate-limited; nothing here ever holds the loop, except the stop's flush,
 * bounded by MKAFKA_STOP_MS.  At most KAFKA_MARKET_INFLIGHT messages wait
 * in the producer.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "exfeedd.h"
#include "kafka.h"
#include "log.h"
#include "market_int.h"
#include "market_kafka.h"
#include "mpack.h"

#define MKAFKA_STOP_MS		1000	/* the stop's flush: market data is replaceable */
#define MKAFKA_POLL_S		0.1	/* delivery reports served at least this often */

static struct {
	struct ev_loop	*loop;
	const struct config *cfg;
	int		 enabled;	/* [kafka] brokers not empty */
	rd_kafka_t	*rk;
	char		 bootstraps[512];
	int		 io_pipe[2];
	ev_io		 io;
	ev_timer	 poll;
	uint64_t	 produced[EV_TYPE_MAX], delivered[EV_TYPE_MAX], failed[EV_TYPE_MAX],
			 queue_full[EV_TYPE_MAX];
	uint64_t	 producers;
	size_t		 inflight;
	char		 error[256];
	struct strbuf	 value;		/* kafka_produce_event's, reused */
	struct log_ratelimit rl;
} mkf = { .io_pipe = { -1, -1 }, .rl = LOG_RATELIMIT_INIT(10000, 5) };

/* Each message's opaque is its type, as &tag[type]. */
static const char tag[EV_TYPE_MAX];

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	uintptr_t p = (uintptr_t)m->_private;
	unsigned t;

	(void)rk;
	(void)opaque;
	if (p < (uintptr_t)tag || p >= (uintptr_t)tag + EV_TYPE_MAX)
		return;
	t = (unsigned)(p - (uintptr_t)tag);
	if (mkf.inflight > 0)
		mkf.inflight--;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		mkf.delivered[t]++;
		return;
	}
	mkf.failed[t]++;
	snprintf(mkf.error, sizeof(mkf.error), "%s", rd_kafka_err2str(m->err));
	log_warnx_rl(&mkf.rl, "kafka: market data (%s) to %s not delivered: %s",
	    ev_type_name(t), rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	snprintf(mkf.error, sizeof(mkf.error), "%s", reason);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		/* Not idempotent: nothing is fatal to it; counted if it ever is. */
		log_error("kafka: the market producer failed: %s", reason);
		return;
	}
	log_warnx_rl(&mkf.rl, "kafka: %s", reason);
}

static void producer_new(void);

/* Serve librdkafka's queue: delivery reports, errors, log lines. */
static void
poll_producer(void)
{
	char b[64];

	if (mkf.rk == NULL)
		return;
	while (read(mkf.io_pipe[0], b, sizeof(b)) > 0)
		;
	rd_kafka_poll(mkf.rk, 0);
	if (rd_kafka_fatal_error(mkf.rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
		producer_new();
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	poll_producer();
}

static void
poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	poll_producer();
}

/* Drop the producer: what it holds is lost (counted failed by its reports). */
static void
producer_drop(void)
{
	if (mkf.rk == NULL)
		return;
	rd_kafka_purge(mkf.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
	    RD_KAFKA_PURGE_F_NON_BLOCKING);
	rd_kafka_poll(mkf.rk, 0);
	ev_io_stop(mkf.loop, &mkf.io);
	rd_kafka_destroy(mkf.rk);
	mkf.rk = NULL;
	mkf.inflight = 0;
}

static void
producer_new(void)
{
	rd_kafka_queue_t *q;
	char err[512];

	producer_drop();
	if (mkf.bootstraps[0] == '\0')
		return;
	mkf.rk = kafka_market_producer_new(mkf.cfg, mkf.bootstraps, "exfeedd-market", dr_cb,
	    error_cb, err, sizeof(err));
	if (mkf.rk == NULL)
		worker_fatal(EX_CONFIG_STATUS, "kafka: cannot create the market producer: %s", err);
	q = rd_kafka_queue_get_main(mkf.rk);
	rd_kafka_queue_io_event_enable(q, mkf.io_pipe[1], "1", 1);
	rd_kafka_queue_destroy(q);
	ev_io_start(mkf.loop, &mkf.io);
	mkf.producers++;
	log_info("kafka: publishing market data to %s", mkf.bootstraps);
}

static void
bootstrap_cb(const char *bootstraps)
{
	if (strcmp(bootstraps, mkf.bootstraps) == 0)
		return;
	snprintf(mkf.bootstraps, sizeof(mkf.bootstraps), "%s", bootstraps);
	producer_new();
}

void
market_kafka_start(struct ev_loop *loop, const struct config *cfg)
{
	mkf.loop = loop;
	mkf.cfg = cfg;
	mkf.enabled = cfg->kafka_brokers[0] != '\0';
	if (!mkf.enabled)
		return;
	if (pipe2(mkf.io_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		worker_fatal(1, "kafka: pipe: %s", strerror(errno));
	ev_io_init(&mkf.io, io_cb, mkf.io_pipe[0], EV_READ);
	ev_timer_init(&mkf.poll, poll_cb, MKAFKA_POLL_S, MKAFKA_POLL_S);
	ev_timer_start(loop, &mkf.poll);
	if (config_has_broker(cfg))
		worker_on_kafka_bootstrap(bootstrap_cb);	/* the embedded broker's */
	else
		bootstrap_cb(cfg->kafka_brokers);
}

void
market_kafka_reconfigure(const struct config *cfg)
{
	mkf.cfg = cfg;		/* topics are read at each message */
}

int
market_kafka_publish(const struct event *ev)
{
	unsigned t = ev->type;
	rd_kafka_resp_err_t e;
	char err[256];

	if (!mkf.enabled || !EV_IS_MARKET(t))
		return 0;
	if (mkf.rk == NULL) {
		mkf.failed[t]++;
		snprintf(mkf.error, sizeof(mkf.error), "no broker address yet");
		log_warnx_rl(&mkf.rl, "kafka: market data (%s %s) not published: no broker "
		    "address yet", ev_type_name(t), kafka_event_symbol(ev));
		return -1;
	}
	if (mkf.inflight >= KAFKA_MARKET_INFLIGHT) {
		mkf.queue_full[t]++;
		log_warnx_rl(&mkf.rl, "kafka: market data (%s %s) dropped: %d messages wait for "
		    "the brokers already", ev_type_name(t), kafka_event_symbol(ev),
		    KAFKA_MARKET_INFLIGHT);
		return -1;
	}
	e = kafka_produce_event(mkf.rk, mkf.cfg, NULL, ev, (void *)&tag[t], &mkf.value, err,
	    sizeof(err));
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
		mkf.produced[t]++;
		mkf.inflight++;
		return 0;
	}
	if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		mkf.queue_full[t]++;
		log_warnx_rl(&mkf.rl, "kafka: market data (%s %s) dropped: the producer's "
		    "queue is full", ev_type_name(t), kafka_event_symbol(ev));
		return -1;
	}
	mkf.failed[t]++;
	snprintf(mkf.error, sizeof(mkf.error), "%s", err);
	log_warnx_rl(&mkf.rl, "kafka: market data (%s %s, event %s) not published: %s",
	    ev_type_name(t), kafka_event_symbol(ev), ev->id, err);
	return -1;
}

/* v per market topic: types that share a topic (ticker, book_ticker) add up. */
static void
pack_topics(msgpack_packer *pk, const uint64_t *v)
{
	const char *names[EV_TYPE_MAX];
	uint64_t sums[EV_TYPE_MAX];
	size_t n = 0, j;

	for (unsigned t = EV_KLINE; t < EV_TYPE_MAX; t++) {
		const char *topic = mkf.cfg->kafka_topic[t];

		if (topic == NULL)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(names[j], topic) == 0)
				break;
		if (j == n) {
			names[n] = topic;
			sums[n++] = 0;
		}
		sums[j] += v[t];
	}
	msgpack_pack_map(pk, n);
	for (j = 0; j < n; j++)
		mp_kv_u64(pk, names[j], sums[j]);
}

void
market_kafka_status(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 8);
	mp_kv_str(pk, "bootstraps", mkf.bootstraps);
	mp_kv_u64(pk, "producers", mkf.producers);
	mp_str(pk, "published");
	pack_topics(pk, mkf.produced);
	mp_str(pk, "delivered");
	pack_topics(pk, mkf.delivered);
	mp_str(pk, "failed");
	pack_topics(pk, mkf.failed);
	mp_str(pk, "queue_full");
	pack_topics(pk, mkf.queue_full);
	mp_kv_u64(pk, "in_flight", mkf.inflight);
	mp_kv_str(pk, "last_error", mkf.error);
}

void
market_kafka_stop(void)
{
	if (!mkf.enabled)
		return;
	if (mkf.rk != NULL) {
		/* What waits goes now, within a bound: market data is replaceable. */
		if (rd_kafka_flush(mkf.rk, MKAFKA_STOP_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
			log_warnx("kafka: stopping with %zu market messages not acknowledged "
			    "(dropped)", mkf.inflight);
		producer_drop();
	}
	ev_timer_stop(mkf.loop, &mkf.poll);
	close(mkf.io_pipe[0]);
	close(mkf.io_pipe[1]);
	mkf.io_pipe[0] = mkf.io_pipe[1] = -1;
	free(mkf.value.p);
	mkf.value.p = NULL;
}
