/*
 * market_int.h: the parts of the market worker that market.c (the plan,
 * frames, books, status, the role) and market_conn.c (the exchange
 * connections) share.  The closed-candle half's contract is market.h.
 * One process, one loop: no locking.
 */
#ifndef EXFEEDD_MARKET_INT_H
#define EXFEEDD_MARKET_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "book.h"
#include "budget.h"
#include "dpsender.h"
#include "event.h"
#include "exchanges/binance_market.h"
#include "log.h"
#include "market.h"
#include "net.h"

#define MK_EXCHANGE		"binance-futures"
#define MK_STREAM_NAME		64
#define MK_STREAM_BUCKETS	8192
#define MK_SYM_BUCKETS		1024	/* Binance lists some 500 USDⓈ-M symbols */

struct mconn;
struct msym;

/* A stream's subscription state on the connection that carries it. */
enum mstream_state {
	MS_IDLE,		/* on no connection yet */
	MS_QUEUED,		/* on a connection, its SUBSCRIBE not sent yet (or in the URL) */
	MS_SENT,		/* SUBSCRIBE sent, or in the URL of a connection not yet open */
	MS_LIVE,		/* acknowledged, or open in the URL */
};

struct mstream {
	struct mstream	*hnext;			/* name hash chain */
	struct mstream	*next;			/* all streams */
	char		 name[MK_STREAM_NAME];	/* "btcusdt@kline_1m" */
	enum bm_kind	 kind;
	enum bm_route	 route;
	int		 interval;		/* BM_KLINE: index in bm_intervals, else -1 */
	struct msym	*sym;
	struct mconn	*conn;			/* the connection that carries it */
	uint8_t		 state;			/* enum mstream_state */
	bool		 want;			/* in the plan (plan rebuilds clear and set it) */
	bool		 ticks;			/* delivers on a cadence: watched for silence */
	int64_t		 live_ms;		/* wall clock: subscribed (or resubscribed) */
	int64_t		 retry_ms;		/* wall clock: a refused SUBSCRIBE, not again before */
	int64_t		 last_msg_ms;		/* wall clock of its last frame, 0 none */
	int64_t		 last_key;		/* dedupe: newest id / update id / event time */
	int64_t		 last_key2;		/* kline: the open time of last_key's candle */
	uint64_t	 msgs, duplicates, resubscribes;
};

/* Per symbol: its streams by kind, its funding state, its local book. */
struct mbook {
	struct book	*book;
	struct net_http	*req;			/* the snapshot in flight */
	bool		 want_snapshot;
	bool		 changed;		/* since the last publish */
	int64_t		 retry_at_ms;		/* wall clock: not before */
	unsigned	 failures;
	int64_t		 published_u;		/* last_update_id last published */
	uint64_t	 resyncs, resyncs_gap, resyncs_snapshot, resyncs_lost,
			 resyncs_unproven, snapshots, snapshot_errors, published,
			 unpublishable, crossed;
};

struct msym {
	struct msym	*next;
	struct msym	*hnext;			/* in mw.sym_by_name[] */
	char		 name[EV_SYM];		/* upper case, as configured */
	struct mstream	*by_kind[BM_KIND_MAX];	/* BM_KLINE: see kline[] */
	struct mstream	*kline[15];
	char		 funding_rate[EV_DEC];	/* last seen, "" none */
	int64_t		 next_funding_ms;
	bool		 funding_seen;
	struct mbook	*book;			/* depth diff streams only */
	bool		 want;
};

/* The worker's state (market.c). */
struct market_worker {
	struct ev_loop		*loop;
	const struct config	*cfg;
	int			 ex;		/* index in cfg->ex, -1 none */
	struct net		*net;
	struct net_endpoint	 rest, wsep;	/* addr "" until looked up */
	struct resolve		*lookup[2];
	int64_t			 lookup_at_ms[2];
	struct budget_host	*budget;
	struct dp_sender	*dp;
	struct gw_feed_sender	*gw;		/* the gateway's feed: what mk_emit publishes */
	int			 stopping;
	uint64_t		 rng;
	struct msym		*syms;
	struct msym		*sym_by_name[MK_SYM_BUCKETS];	/* each event finds its symbol here */
	struct mstream		*streams;
	struct mstream		*by_name[MK_STREAM_BUCKETS];
	size_t			 nstreams, nsyms;
	struct mconn		*conns;
	uint32_t		 next_conn_id;
	int64_t			 next_req_id;
	/* symbols = all: the exchange's TRADING symbols, fetched */
	char			**all_syms;
	int			 nall;
	struct net_http		*info_req;
	bool			 info_wanted;
	int64_t			 info_retry_ms;
	unsigned		 info_failures;
	int64_t			 snap_next_ms;	/* global pacing of depth snapshots */
	ev_timer		 tick, publish;
	struct log_ratelimit	 rl_malformed, rl_conn, rl_rest, rl_drops;
	struct {
		uint64_t	 messages, malformed, events, events_invalid, duplicates,
				 zero_price, fields_dropped, answers, sub_errors, fundings,
				 resubscribes, reconnects_ok, reconnects_failed, silence_kills,
				 request_timeouts, probes, replacements, drains, drains_failed,
				 subscribes_sent, unsubscribes_sent, messages_sent,
				 book_diffs, book_resyncs, snapshots, snapshot_errors,
				 books_published, books_crossed, http_429, http_418,
				 info_fetches, info_errors, unknown_stream, dp_overflows;
		uint64_t	 by_type[EV_TYPE_MAX];
	} st;
};

extern struct market_worker mw;

/* market.c */
int64_t	 mk_now_ms(void);
uint32_t mk_random(void);
struct mstream *stream_by_name(const char *name, size_t len);
/* One frame of a connection: parsed, deduplicated, emitted. */
void	 mk_frame(struct mconn *, const char *buf, size_t len);
/* A stream is delivering (subscribed, connection open) / stopped. */
void	 stream_up(struct mstream *);
void	 stream_down(struct mstream *);

/* market_conn.c */
void	 mconn_init(void);
/* Put every wanted stream without a connection on one (SUBSCRIBE or a new connection). */
void	 conns_place(void);
/* A stream left the plan: UNSUBSCRIBE it wherever it is carried. */
void	 conns_remove_stream(struct mstream *);
/* Timers: connects due, watchdogs, the outgoing queues, replacements. */
void	 conns_tick(void);
void	 conns_status(msgpack_packer *);
int	 conns_count(void);
void	 conns_free(void);
/* An answer or error frame: matched to the request it answers. */
void	 mconn_answer(struct mconn *, const struct bm_frame *);
/* A frame that could not be read: counted on the connection, logged rate-limited. */
void	 mconn_malformed(struct mconn *, const char *why);
/* The WebSocket endpoint's address changed or a lookup is due. */
void	 mk_addr_suspect(int which);

#endif
