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
	uint64_t	 producers;
	struct kafka_market km;	/* counters, in-flight bound, last error */
} mkf = { .io_pipe = { -1, -1 }, .km = { .rl = LOG_RATELIMIT_INIT(10000, 5) } };

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	kafka_market_report(&mkf.km, m);
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	snprintf(mkf.km.error, sizeof(mkf.km.error), "%s", reason);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		/* Not idempotent: nothing is fatal to it; counted if it ever is. */
		log_error("kafka: the market producer failed: %s", reason);
		return;
	}
	log_warnx_rl(&mkf.km.rl, "kafka: %s", reason);
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
	kafka_market_forget(&mkf.km);
	rd_kafka_destroy(mkf.rk);
	mkf.rk = NULL;
	mkf.km.inflight = 0;
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
	if (!mkf.enabled || !EV_IS_MARKET(ev->type))
		return 0;
	return kafka_market_produce(&mkf.km, mkf.rk, mkf.cfg, ev);
}

void
market_kafka_status(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2 + KAFKA_MARKET_STATUS_KEYS);
	mp_kv_str(pk, "bootstraps", mkf.bootstraps);
	mp_kv_u64(pk, "producers", mkf.producers);
	kafka_market_pack(pk, &mkf.km, mkf.cfg);
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
			    "(dropped)", mkf.km.inflight);
		producer_drop();
	}
	ev_timer_stop(mkf.loop, &mkf.poll);
	close(mkf.io_pipe[0]);
	close(mkf.io_pipe[1]);
	mkf.io_pipe[0] = mkf.io_pipe[1] = -1;
	free(mkf.km.value.p);
	mkf.km.value.p = NULL;
}
