/*
 * market.h: what the market worker's parts share.
 *
 * market.c owns the plan (symbols × stream kinds), the exchange
 * connections (routes, SUBSCRIBE/UNSUBSCRIBE, watchdogs, backoff,
 * make-before-break), parsing, the local books' glue and the data plane
 * to the writer.  market_kline.c owns closed candles: the last one stored
 * per (symbol, interval), holes, and their REST backfill within the
 * shared weight budget.  Everything runs on the worker's one loop.
 */
#ifndef EXFEEDD_MARKET_H
#define EXFEEDD_MARKET_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>
#include <msgpack.h>

struct budget_host;
struct config;
struct event;
struct net;
struct net_endpoint;

/* The worker's shared handles, set by market.c before any mk_kline_* call. */
struct mk_ctx {
	struct ev_loop		*loop;
	const struct config	*cfg;
	struct net		*net;		/* REST and WebSocket client */
	const struct net_endpoint *rest;	/* the exchange's REST base, address resolved */
	struct budget_host	*budget;	/* the per-IP REST weight / connection budget */
};
extern struct mk_ctx mk;

/*
 * Emit one market event (market.c).  A closed kline goes to the writer
 * (klines, then Kafka): exchange and recv_us filled if unset, its id made,
 * queued on the data plane; 0, or -1 when it is invalid (counted,
 * dropped).  Any other event must come checked (ev_validate, with its id,
 * exchange and recv_us) from its maker (the parser, the book publisher,
 * funding_check): it goes to Kafka on the worker's producer
 * (market_kafka.h), whose failures its status counts; 0.
 */
int	 mk_emit(struct event *);

/*
 * Closed candles (market_kline.c).
 *
 * mk_kline_start: read, with a deadline, the newest stored open time of
 * every (symbol, interval) from `klines` (the writer owns the table; this
 * is one read at start), then backfill what is missing.
 * mk_kline_configure: the (symbol, interval) pairs now configured (start
 * and every reload); pairs that left are forgotten, new ones backfilled.
 * mk_kline_seen: every EV_KLINE of a stream, before it is sent; a closed
 * candle moves the pair's cursor, a closed candle past the next expected
 * open time leaves a hole, which is backfilled.
 * mk_kline_stream_up / _down: a pair's stream is delivering again (after
 * a (re)connect, resubscribe, worker start) / stopped: candles that closed
 * while it was down are backfilled once it is up.
 * mk_kline_lost: events of this pair may have been lost on the data plane
 * (dp overflow): backfill from since_ms.
 */
int	 mk_kline_start(void);
void	 mk_kline_configure(const char *const *symbols, int nsymbols,
	    const char *const *intervals, int nintervals);
void	 mk_kline_seen(const struct event *);
void	 mk_kline_stream_up(const char *symbol, const char *interval);
void	 mk_kline_stream_down(const char *symbol, const char *interval);
void	 mk_kline_lost(const char *symbol, const char *interval, int64_t since_ms);
void	 mk_kline_stop(void);
/* Status: a map of backfill counters, holes open, REST weight spent. */
void	 mk_kline_status(msgpack_packer *);

#endif
