/*
 * kafka.c: the producer settings, topics and messages of event_log rows
 * (kafka.h).
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "kafka.h"
#include "kafka_value.h"
#include "log.h"
#include "mpack.h"

static struct log_ratelimit rdlog_rl = LOG_RATELIMIT_INIT(10000, 5);

int
kafka_row_get(const PGresult *r, int i, struct kafka_row *row)
{
	if (PQnfields(r) != 9 || i < 0 || i >= PQntuples(r))
		return -1;
	row->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
	row->event_id = PQgetvalue(r, i, 1);
	row->user_id = PQgetisnull(r, i, 2) ? 0 : strtoll(PQgetvalue(r, i, 2), NULL, 10);
	row->account_id = PQgetisnull(r, i, 3) ? 0 : strtoll(PQgetvalue(r, i, 3), NULL, 10);
	row->exchange = PQgetvalue(r, i, 4);
	row->event_type = PQgetvalue(r, i, 5);
	row->payload = PQgetvalue(r, i, 6);
	row->payload_len = (size_t)PQgetlength(r, i, 6);
	row->raw = PQgetisnull(r, i, 7) ? NULL : PQgetvalue(r, i, 7);
	row->raw_len = row->raw ? (size_t)PQgetlength(r, i, 7) : 0;
	row->committed_us = strtoll(PQgetvalue(r, i, 8), NULL, 10);
	return 0;
}

/* librdkafka's own log lines, on the thread that polls (log.queue). */
static void
rdlog_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	if (level <= 3)
		log_warnx_rl(&rdlog_rl, "kafka: %s: %s", fac, buf);
	else
		log_debug("kafka: %s: %s", fac, buf);
}

static int
set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errlen)
{
	char why[256];

	if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
		return 0;
	snprintf(err, errlen, "%s: %s", name, why);
	return -1;
}

/*
 * A producer.  market: the market worker's (market_kafka.c), for replaceable
 * data: not idempotent, [kafka] market_linger and market_compression (fewer,
 * larger batches, no compression by default: BENCHMARKS.md, "Market data");
 * otherwise the writer's outbox producer (idempotent, [kafka] linger and
 * compression).  [kafka] rdkafka.* lines apply to both, last.
 */
static rd_kafka_t *
producer_new(const struct config *cfg, const char *bootstraps, const char *client_id,
    int market, void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
    void (*error_cb)(rd_kafka_t *, int, const char *, void *), char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	char num[32], why[512];
	int64_t linger = market ? cfg->kafka_market_linger_ms : cfg->kafka_linger_ms;
	int codec = market ? cfg->kafka_market_compression_i : cfg->kafka_compression_i;
	if (set(conf, "bootstrap.servers", bootstraps, err, errlen) == -1 ||
	    set(conf, "client.id", client_id, err, errlen) == -1 ||
	    set(conf, "enable.idempotence", market ? "false" : "true", err, errlen) == -1 ||
	    set(conf, "acks", "all", err, errlen) == -1 ||
	    set(conf, "compression.codec", config_compression(codec), err, errlen) == -1 ||
	    set(conf, "log.queue", "true", err, errlen) == -1 ||
	    /*
	     * A produce request goes as librdkafka makes it (after linger.ms),
	     * not behind an unacknowledged one until the broker's delayed ACK.
	     */
	    set(conf, "socket.nagle.disable", "true", err, errlen) == -1)
		goto fail;
	snprintf(num, sizeof(num), "%" PRId64, linger);
	if (set(conf, "linger.ms", num, err, errlen) == -1)
		goto fail;
	snprintf(num, sizeof(num), "%" PRId64, cfg->kafka_batch_size);
	if (set(conf, "batch.size", num, err, errlen) == -1)
		goto fail;
	snprintf(num, sizeof(num), "%" PRId64, cfg->kafka_delivery_timeout_ms);
	if (set(conf, "message.timeout.ms", num, err, errlen) == -1)
		goto fail;
	/*
	 * Room for a whole window of messages (librdkafka's default is
	 * 100,000), and for the market data in flight beside it (KAFKA_MARKET_INFLIGHT).
	 */
	snprintf(num, sizeof(num), "%" PRId64, (cfg->kafka_relay_window > 100000 ?
	    cfg->kafka_relay_window : 100000) + KAFKA_MARKET_INFLIGHT);
	if (set(conf, "queue.buffering.max.messages", num, err, errlen) == -1)
		goto fail;
	for (size_t i = 0; i < cfg->kafka_nprops; i++)
		if (set(conf, cfg->kafka_props[i].name, cfg->kafka_props[i].value, err,
		    errlen) == -1)
			goto fail;
	rd_kafka_conf_set_log_cb(conf, rdlog_cb);
	if (dr != NULL)
		rd_kafka_conf_set_dr_msg_cb(conf, dr);
	if (error_cb != NULL)
		rd_kafka_conf_set_error_cb(conf, error_cb);
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s", why);
		return NULL;		/* rd_kafka_new freed conf */
	}
	/* Log lines come out of rd_kafka_poll, on our thread. */
	rd_kafka_set_log_queue(rk, NULL);
	return rk;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

rd_kafka_t *
kafka_producer_new(const struct config *cfg, const char *bootstraps, const char *client_id,
    void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
    void (*error_cb)(rd_kafka_t *, int, const char *, void *), char *err, size_t errlen)
{
	return producer_new(cfg, bootstraps, client_id, 0, dr, error_cb, err, errlen);
}

rd_kafka_t *
kafka_market_producer_new(const struct config *cfg, const char *bootstraps,
    const char *client_id, void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
    void (*error_cb)(rd_kafka_t *, int, const char *, void *), char *err, size_t errlen)
{
	return producer_new(cfg, bootstraps, client_id, 1, dr, error_cb, err, errlen);
}

int
kafka_type(const char *event_type)
{
	for (unsigned t = 1; t < EV_TYPE_MAX; t++)
		if (ev_type_name(t) != NULL && strcmp(ev_type_name(t), event_type) == 0)
			return (int)t;
	return 0;
}

rd_kafka_resp_err_t
kafka_produce_row(rd_kafka_t *rk, const struct config *cfg, const char *prefix,
    const struct kafka_row *row, void *msg_opaque, struct strbuf *value, char *err,
    size_t errlen)
{
	int type = kafka_type(row->event_type);
	const char *topic = type > 0 && type < CONF_KAFKA_TOPICS ? cfg->kafka_topic[type] : NULL;
	char name[512], key[24], acct[24];
	rd_kafka_headers_t *hdrs;
	rd_kafka_resp_err_t e;
	size_t keylen = 0;

	if (topic == NULL) {
		snprintf(err, errlen, "event %s: type \"%s\" has no topic", row->event_id,
		    row->event_type);
		return RD_KAFKA_RESP_ERR__BAD_MSG;
	}
	if (prefix != NULL && *prefix != '\0') {
		snprintf(name, sizeof(name), "%s%s", prefix, topic);
		topic = name;
	}
	value->len = 0;
	if (kafka_value(cfg->kafka_format, row->event_type, row->payload, row->payload_len,
	    row->raw, row->raw_len, value, err, errlen) == -1)
		return RD_KAFKA_RESP_ERR__BAD_MSG;
	if (row->user_id != 0)
		keylen = (size_t)snprintf(key, sizeof(key), "%" PRId64, row->user_id);
	snprintf(acct, sizeof(acct), "%" PRId64, row->account_id);
	hdrs = rd_kafka_headers_new(5);
	rd_kafka_header_add(hdrs, "event_id", -1, row->event_id, -1);
	rd_kafka_header_add(hdrs, "account_id", -1, acct, -1);
	rd_kafka_header_add(hdrs, "exchange", -1, row->exchange, -1);
	rd_kafka_header_add(hdrs, "type", -1, row->event_type, -1);
	rd_kafka_header_add(hdrs, "schema", -1, KAFKA_SCHEMA, -1);
	e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_VALUE(value->p, value->len),
	    RD_KAFKA_V_KEY(keylen ? key : NULL, keylen),
	    RD_KAFKA_V_HEADERS(hdrs),
	    RD_KAFKA_V_OPAQUE(msg_opaque),
	    RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_headers_destroy(hdrs);	/* ours until producev succeeds */
		snprintf(err, errlen, "%s", rd_kafka_err2str(e));
	}
	return e;
}

rd_kafka_resp_err_t
kafka_produce_event(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const struct config *cfg,
    const char *prefix, const struct event *ev, void *msg_opaque, struct strbuf *value, char *err,
    size_t errlen)
{
	const char *topic = EV_IS_MARKET(ev->type) ? cfg->kafka_topic[ev->type] : NULL;
	const char *type = ev_type_name(ev->type), *sym = ev_market_symbol(ev);
	rd_kafka_headers_t *hdrs;
	rd_kafka_resp_err_t e;
	char name[512], *json;
	int r;

	value->len = 0;

	if (topic == NULL) {
		snprintf(err, errlen, "event %s: type %u has no market topic", ev->id, ev->type);
		return RD_KAFKA_RESP_ERR__BAD_MSG;
	}
	if (prefix != NULL && *prefix != '\0') {
		snprintf(name, sizeof(name), "%s%s", prefix, topic);
		topic = name;
	}
	if (cfg->kafka_format == CONF_KAFKA_JSON) {
		/* The value is the JSON object itself (kafka_value): written in place. */
		if (ev_json_put(value, ev) == -1) {
			snprintf(err, errlen, "event %s (%s): no JSON form", ev->id, type);
			return RD_KAFKA_RESP_ERR__BAD_MSG;
		}
	} else {
		if ((json = ev_to_json(ev)) == NULL) {
			snprintf(err, errlen, "event %s (%s): no JSON form", ev->id, type);
			return RD_KAFKA_RESP_ERR__BAD_MSG;
		}
		r = kafka_value(cfg->kafka_format, type, json, strlen(json), NULL, 0, value, err,
		    errlen);
		free(json);
		if (r == -1)
			return RD_KAFKA_RESP_ERR__BAD_MSG;
	}
	hdrs = rd_kafka_headers_new(4);
	rd_kafka_header_add(hdrs, "event_id", -1, ev->id, -1);
	rd_kafka_header_add(hdrs, "exchange", -1, ev->exchange, -1);
	rd_kafka_header_add(hdrs, "type", -1, type, -1);
	rd_kafka_header_add(hdrs, "schema", -1, KAFKA_SCHEMA, -1);
	e = rkt != NULL ? rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_VALUE(value->p, value->len),
	    RD_KAFKA_V_KEY(sym, strlen(sym)),
	    RD_KAFKA_V_HEADERS(hdrs),
	    RD_KAFKA_V_OPAQUE(msg_opaque),
	    RD_KAFKA_V_END) :
	    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_VALUE(value->p, value->len),
	    RD_KAFKA_V_KEY(sym, strlen(sym)),
	    RD_KAFKA_V_HEADERS(hdrs),
	    RD_KAFKA_V_OPAQUE(msg_opaque),
	    RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_headers_destroy(hdrs);	/* ours until producev succeeds */
		snprintf(err, errlen, "%s", rd_kafka_err2str(e));
	}
	return e;
}

/* ------------------------------------------------------------- market data */

/* A market message's opaque: &market_tag[type], never a small integer (the relay's ring slots). */
static const char market_tag[EV_TYPE_MAX];

/*
 * The topic handle of type t's topic on rk, made on first use and kept:
 * producing by name looks the topic up under librdkafka's lock for every
 * message.  NULL (produce by name) when the topic has no handle yet and
 * librdkafka refuses one.  A topic renamed by a reload gets a new handle.
 */
static rd_kafka_topic_t *
market_topic(struct kafka_market *km, rd_kafka_t *rk, const char *name, unsigned t)
{
	if (km->rkt_rk != rk) {
		/* A new producer: the old one's handles went with kafka_market_forget. */
		memset(km->rkt, 0, sizeof(km->rkt));
		km->rkt_rk = rk;
	}
	if (name == NULL)
		return NULL;
	if (km->rkt[t] != NULL && strcmp(rd_kafka_topic_name(km->rkt[t]), name) != 0) {
		rd_kafka_topic_destroy(km->rkt[t]);
		km->rkt[t] = NULL;
	}
	if (km->rkt[t] == NULL)
		km->rkt[t] = rd_kafka_topic_new(rk, name, NULL);
	return km->rkt[t];
}

void
kafka_market_forget(struct kafka_market *km)
{
	for (unsigned t = 0; t < EV_TYPE_MAX; t++)
		if (km->rkt[t] != NULL) {
			rd_kafka_topic_destroy(km->rkt[t]);
			km->rkt[t] = NULL;
		}
	km->rkt_rk = NULL;
}

int
kafka_market_produce(struct kafka_market *km, rd_kafka_t *rk, const struct config *cfg,
    const struct event *ev)
{
	unsigned t = ev->type;
	rd_kafka_resp_err_t e;
	char err[256];

	if (!EV_IS_MARKET(t))
		return -1;
	if (rk == NULL) {
		km->failed[t]++;
		snprintf(km->error, sizeof(km->error), "no broker address yet");
		log_warnx_rl(&km->rl, "kafka: market data (%s %s) not published: no broker "
		    "address yet", ev_type_name(t), ev_market_symbol(ev));
		return -1;
	}
	if (km->inflight >= KAFKA_MARKET_INFLIGHT) {
		km->queue_full[t]++;
		log_warnx_rl(&km->rl, "kafka: market data (%s %s) dropped: %d messages wait for "
		    "the brokers already", ev_type_name(t), ev_market_symbol(ev),
		    KAFKA_MARKET_INFLIGHT);
		return -1;
	}
	e = kafka_produce_event(rk, market_topic(km, rk, cfg->kafka_topic[t], t), cfg, NULL, ev,
	    (void *)&market_tag[t], &km->value, err, sizeof(err));
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
		km->produced[t]++;
		km->inflight++;
		return 0;
	}
	if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		km->queue_full[t]++;
		log_warnx_rl(&km->rl, "kafka: market data (%s %s) dropped: the producer's "
		    "queue is full", ev_type_name(t), ev_market_symbol(ev));
		return -1;
	}
	km->failed[t]++;
	snprintf(km->error, sizeof(km->error), "%s", err);
	log_warnx_rl(&km->rl, "kafka: market data (%s %s, event %s) not published: %s",
	    ev_type_name(t), ev_market_symbol(ev), ev->id, err);
	return -1;
}

int
kafka_market_report(struct kafka_market *km, const rd_kafka_message_t *m)
{
	uintptr_t p = (uintptr_t)m->_private;
	unsigned t;

	if (p < (uintptr_t)market_tag || p >= (uintptr_t)market_tag + EV_TYPE_MAX)
		return 0;
	t = (unsigned)(p - (uintptr_t)market_tag);
	if (km->inflight > 0)
		km->inflight--;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		km->delivered[t]++;
		return 1;
	}
	km->failed[t]++;
	snprintf(km->error, sizeof(km->error), "%s", rd_kafka_err2str(m->err));
	log_warnx_rl(&km->rl, "kafka: market data (%s) to %s not delivered: %s", ev_type_name(t),
	    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
	return 1;
}

/* v per market topic: types that share a topic (ticker, book_ticker) add up. */
static void
pack_topics(msgpack_packer *pk, const struct config *cfg, const uint64_t *v)
{
	const char *names[EV_TYPE_MAX];
	uint64_t sums[EV_TYPE_MAX];
	size_t n = 0, j;

	for (unsigned t = EV_KLINE; t < EV_TYPE_MAX; t++) {
		const char *topic = cfg->kafka_topic[t];

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
kafka_market_pack(msgpack_packer *pk, const struct kafka_market *km, const struct config *cfg)
{
	mp_str(pk, "published");
	pack_topics(pk, cfg, km->produced);
	mp_str(pk, "delivered");
	pack_topics(pk, cfg, km->delivered);
	mp_str(pk, "failed");
	pack_topics(pk, cfg, km->failed);
	mp_str(pk, "queue_full");
	pack_topics(pk, cfg, km->queue_full);
	mp_kv_u64(pk, "in_flight", km->inflight);
	mp_kv_str(pk, "last_error", km->error);
}
