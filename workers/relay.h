/*
 * relay.h: the writer's outbox relay (relay.c) and event_log upkeep, as the
 * writer (writer.c) drives them over its one PostgreSQL connection.
 *
 * The writer sends one thing at a time on that connection: a batch, or a
 * relay job (relay_want/relay_send).  Every result of a relay job goes to
 * relay_result, then relay_sync ends it.  A batch's event_log statement
 * returns the rows it landed (writer_sql.h: WSQL_LOG_RETURNING): they go to
 * relay_batch_rows, and relay_batch_end says whether the batch committed.
 */
#ifndef EXFEEDD_RELAY_H
#define EXFEEDD_RELAY_H

#include <ev.h>
#include <libpq-fe.h>
#include <msgpack.h>

#include "config.h"

void	 relay_start(struct ev_loop *, const struct config *);
/* A new connection is ready, or the one in use is gone. */
void	 relay_db_ready(void);
void	 relay_db_lost(void);
/*
 * Batches may be sent: the session holds the writer's advisory lock (one
 * writer session at a time, so that event_log ids follow commit order).
 */
int	 relay_session_ready(void);
/* A job waits (now_ms: monotonic).  relay_send: 0, or -1 (the connection failed). */
int	 relay_want(void);
int	 relay_send(PGconn *);
/* Each result of the job in flight; relay_sync at its end (error: NULL if none). */
void	 relay_result(const PGresult *);
void	 relay_sync(const char *error);
/* The event_log statement's result of the batch in flight: the relay owns it now. */
void	 relay_batch_rows(PGresult *);
void	 relay_batch_end(int committed);
/* Called when the relay wants the writer to look at relay_want again. */
void	 relay_set_kick(void (*kick)(void));
/* One key of the writer's status map: "kafka". */
void	 relay_status(msgpack_packer *);
/*
 * Publish one market event (EV_IS_MARKET) now, on the relay's producer, to
 * its websocket.* topic (kafka_produce_event); never waits.  Nothing with
 * [kafka] brokers empty.  A full queue, no producer yet, an event that
 * cannot be encoded or, later, a failed delivery costs the message: counted
 * per topic (relay_market_status) and logged rate-limited.
 */
struct event;
void	 relay_market(const struct event *);
/* The value of the writer's status key "market_kafka": per market topic counters. */
void	 relay_market_status(msgpack_packer *);
/* Stop: deliver what is in flight (bounded), then record how far it got. */
void	 relay_stop(void);
int	 relay_stopped(void);
void	 relay_end(void);

#endif
