/*
 * market_kafka.h: the market worker's own Kafka producer (market_kafka.c):
 * every market event but a closed candle goes to its websocket.* topic from
 * here; closed candles go to the writer (klines, then Kafka once committed).
 */
#ifndef EXFEEDD_MARKET_KAFKA_H
#define EXFEEDD_MARKET_KAFKA_H

#include <ev.h>
#include <msgpack.h>

#include "config.h"
#include "event.h"

/* [kafka] brokers empty: publishes nothing (market_kafka_publish returns 0). */
void	 market_kafka_start(struct ev_loop *, const struct config *);
void	 market_kafka_reconfigure(const struct config *);
/*
 * Hand one market event, checked by its maker (ev_validate), to the
 * producer.  0: queued; -1: not (no broker yet, queue full, no topic:
 * counted per type in the status and logged rate-limited).  Kafka not
 * configured: nothing, 0.
 */
int	 market_kafka_publish(const struct event *);
/* The market worker's status key "kafka". */
void	 market_kafka_status(msgpack_packer *);
/* Flush what waits (at most MKAFKA_STOP_MS) and drop the producer. */
void	 market_kafka_stop(void);

#endif
