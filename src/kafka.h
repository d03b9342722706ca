/*
 * kafka.h: what the writer's outbox relay (workers/relay.c), the market
 * worker's publisher (workers/market_kafka.c) and `exfeedctl replay` share
 * to put events on Kafka: the producers' settings, the topic of an event
 * type, the message (key, headers, value), market data's counters.
 *
 * A message is one event_log row.  Key: the user id as decimal text (one
 * user's events stay in order on one partition); none for rows without a
 * user.  Headers: event_id, account_id, exchange, type, schema (KAFKA_SCHEMA,
 * bumped on an incompatible change of a value).  Value: [kafka] format json
 * (the row's payload as stored) or protobuf (proto/exfeedd.proto); the
 * topic user-data-unknown carries the exchange's frame as sent.  doc/topics.md
 * documents every topic.
 */
#ifndef EXFEEDD_KAFKA_H
#define EXFEEDD_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include <msgpack.h>

#include "config.h"
#include "event.h"
#include "log.h"
#include "strbuf.h"

#define KAFKA_SCHEMA	"1"
/*
 * Market messages in the producer at most (produced, not yet reported):
 * past it the writer drops market data (counted) rather than take the
 * outbox's room in librdkafka's queue.
 */
#define KAFKA_MARKET_INFLIGHT	100000

/*
 * A row as the relay reads it: WSQL_LOG_RETURNING's columns, in order
 * (writer_sql.h).  Pointers into the PGresult.
 */
struct kafka_row {
	int64_t		 id;
	const char	*event_id;
	int64_t		 user_id;		/* 0: none */
	int64_t		 account_id;		/* 0: none */
	const char	*exchange;
	const char	*event_type;
	const char	*payload;
	size_t		 payload_len;
	const char	*raw;			/* NULL: none */
	size_t		 raw_len;
	int64_t		 committed_us;		/* committed_at, µs since the epoch */
};

/* Row i of a result with WSQL_LOG_RETURNING's columns.  -1: not that shape. */
int	 kafka_row_get(const PGresult *, int i, struct kafka_row *);

/*
 * A producer for cfg's [kafka] section and these bootstrap servers:
 * idempotent, acks=all, linger, batch size, compression and delivery
 * timeout from the config, then every rdkafka.* line.  dr is the delivery
 * report callback and error_cb librdkafka's error callback (NULL: none);
 * client_id names the process to the brokers.  librdkafka's log lines go
 * to our log from rd_kafka_poll.  NULL with err set on failure.
 */
rd_kafka_t *kafka_producer_new(const struct config *, const char *bootstraps,
	    const char *client_id, void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
	    void (*error_cb)(rd_kafka_t *, int, const char *, void *), char *err, size_t errlen);

/* enum ev_type of an event_log event_type; 0 if none. */
/* The market worker's: not idempotent, [kafka] market_linger and market_compression. */
rd_kafka_t *kafka_market_producer_new(const struct config *, const char *bootstraps,
	    const char *client_id, void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
	    void (*error_cb)(rd_kafka_t *, int, const char *, void *), char *err, size_t errlen);

int	 kafka_type(const char *event_type);

/*
 * Produce one row: topic prefix (NULL or "": none) + the topic of its type,
 * key, headers and value as above; msg_opaque comes back in the delivery
 * report.  value is scratch space kept by the caller between calls.
 * Returns RD_KAFKA_RESP_ERR_NO_ERROR, librdkafka's error (the queue full:
 * RD_KAFKA_RESP_ERR__QUEUE_FULL), or RD_KAFKA_RESP_ERR__BAD_MSG when the row
 * cannot be encoded (err says why: a row that will never go).
 */
rd_kafka_resp_err_t kafka_produce_row(rd_kafka_t *, const struct config *, const char *prefix,
	    const struct kafka_row *, void *msg_opaque, struct strbuf *value, char *err,
	    size_t errlen);

/*
 * Market data (event.h: EV_IS_MARKET) does not go through event_log: the
 * writer produces each event as it handles it.  Topic: prefix + the topic
 * of its type; key: its symbol (one symbol's events stay in order on one
 * partition); headers event_id, exchange, type, schema (no account_id: no
 * account has them); value: ev_to_json's object in the [kafka] format
 * (kafka_value).  rkt: the topic's handle on rk, or NULL to produce by
 * name (prefix + topic).  Returns as kafka_produce_row; RD_KAFKA_RESP_ERR__BAD_MSG
 * with err set for an event that cannot be encoded.
 */
rd_kafka_resp_err_t kafka_produce_event(rd_kafka_t *, rd_kafka_topic_t *, const struct config *,
	    const char *prefix, const struct event *, void *msg_opaque, struct strbuf *value,
	    char *err, size_t errlen);

/*
 * Market data on one producer, fire and forget (the market worker's, and
 * the writer's for closed klines and any sender's market events): counters
 * per event type, the in-flight bound (KAFKA_MARKET_INFLIGHT), the last
 * error, the rate limit of its log lines, kafka_produce_event's scratch.
 * Zero it, then set rl to LOG_RATELIMIT_INIT(10000, 5); free value.p at the end.
 */
struct kafka_market {
	uint64_t	 produced[EV_TYPE_MAX], delivered[EV_TYPE_MAX], failed[EV_TYPE_MAX],
			 queue_full[EV_TYPE_MAX];
	size_t		 inflight;
	char		 error[256];
	struct log_ratelimit rl;
	struct strbuf	 value;
	rd_kafka_t	*rkt_rk;		/* the producer the handles below belong to */
	rd_kafka_topic_t *rkt[EV_TYPE_MAX];	/* per type, made on first use */
};
/*
 * Produce a market event on rk (NULL: no broker address yet, counted as
 * failed); past KAFKA_MARKET_INFLIGHT, or with librdkafka's queue full, it
 * is dropped and counted in queue_full; every failure is logged
 * rate-limited.  0 when produced, else -1.  Market data is replaceable:
 * nothing is retried.
 */
int	 kafka_market_produce(struct kafka_market *, rd_kafka_t *, const struct config *,
	    const struct event *);
/* Destroy the topic handles: call it before rd_kafka_destroy of the producer it used. */
void	 kafka_market_forget(struct kafka_market *);
/*
 * A delivery report: 1 when m is a message of kafka_market_produce (its
 * opaque tells), counted (a failure logged); 0 for any other message.
 */
int	 kafka_market_report(struct kafka_market *, const rd_kafka_message_t *);
/*
 * The status: KAFKA_MARKET_STATUS_KEYS key/value pairs of a map the caller
 * opened (published, delivered, failed, queue_full: per topic, types that
 * share a topic added up; in_flight; last_error).
 */
#define KAFKA_MARKET_STATUS_KEYS	6
void	 kafka_market_pack(msgpack_packer *, const struct kafka_market *, const struct config *);

#endif
