/*
 * account.h: the parts of the account worker role and what they share.
 * account.c owns the accounts, their listen keys, the REST scheduling within
 * the host's budget, and the role's hooks; account_conn.c owns the
 * multiplexed /private/stream connections; resync.c owns the gaps and the
 * REST resync that heals them; account_addr.c owns the exchange's addresses.  One process, one loop: no locking.
 */
#ifndef EXFEEDD_ACCOUNT_H
#define EXFEEDD_ACCOUNT_H

#include <stdint.h>

#include <ev.h>
#include <libpq-fe.h>

#include "budget.h"
#include "crypto.h"
#include "dpsender.h"
#include "event.h"
#include "exchanges/binance_futures.h"
#include "log.h"
#include "net.h"

#define EXCHANGE		"binance-futures"
#define LISTEN_KEY_VALIDITY_MS	(60LL * 60 * 1000)	/* FACTS §1.1 */
#define LISTEN_KEY_MAX		72
#define RECV_WINDOW_MS		5000
#define HASH_BUCKETS		4096

enum acct_state { AS_LISTEN_KEY, AS_STREAM, AS_STREAMING, AS_BACKOFF, AS_QUARANTINED, AS_MAX };
enum resync_state { RS_NONE, RS_PENDING, RS_RUNNING, RS_DONE };

/* REST operations; one at a time per account. */
enum op { OP_NONE, OP_LK_POST, OP_LK_PUT, OP_RESYNC };

#define F_NEED_POST	0x01	/* no usable listen key */
#define F_QUAR_PENDING	0x02	/* quarantined here, not yet in the database */
#define F_IN_KEYHASH	0x04
#define F_CHECK_KEY	0x08	/* a stored key reused: PUT it soon to confirm */
#define F_STORE_KEY	0x10	/* the key or its expiry still has to reach the database */
#define F_RESYNC_AGAIN	0x20	/* a new gap opened while a resync was running */

struct resync;
struct group;

struct acct {
	struct acct	*next;
	struct acct	*id_next, *key_next;	/* hash chains */
	int64_t		 id, user_id;
	char		*api_key, *api_secret;
	char		 listen_key[LISTEN_KEY_MAX];
	int64_t		 lk_expires_ms;		/* wall clock */
	int64_t		 lk_renew_ms;		/* wall clock: next PUT */
	int64_t		 lk_confirmed_ms;	/* wall clock: the last POST or PUT that took */
	int64_t		 frames_lost_ms;	/* wall clock: a connection carrying it was lost */
	uint32_t	 key_gen;
	uint8_t		 state, resync, op, flags, rest_fails;
	int		 mark;
	uint32_t	 reconnects;
	int64_t		 since_ms;		/* wall clock of the last state change */
	int64_t		 last_event_ms;		/* newest exchange E seen: where a gap begins */
	int64_t		 gap_ms;		/* the pending resync fetches from here */
	int64_t		 gap_opened_ms;		/* wall clock: acct_gap() last called */
	int64_t		 orders_floor_ms;	/* exchange ms: the next resync's orders and algo
						   orders from here (INT64_MAX: its gap's start) */
	int64_t		 snap_until_ms;		/* exchange ms: the last finished resync's newest
						   request (its snapshots came before) */
	int64_t		 snap_orders_ms;	/* ... and where its orders began */
	int64_t		 last_rx_ms;		/* wall clock of its last stream event */
	int64_t		 activity_ms;		/* orders resyncs: most recently active first */
	int64_t		 resync_done_ms;	/* wall clock */
	int64_t		 state_healed_ms;	/* wall clock: the last resync's state steps ended */
	int64_t		 resync_not_before_ms;	/* wall clock: after an incomplete resync */
	uint64_t	 commit_mark;		/* a resync to begin waits for the data plane
						 * to commit what was pushed before it (0: not yet) */
	int64_t		 retry_at_ms;		/* wall clock: REST backoff */
	const char	*quarantine_reason;
	struct group	*group;
	struct net_http	*req;
	struct resync	*rs;
	uint64_t	 events;
};

/* The worker's state; the parts are one role in one process. */
struct account_worker {
	struct ev_loop		*loop;
	const struct config	*cfg;
	int64_t			 shards;
	int			 ex;		/* index in cfg->ex, -1 when not configured */
	struct net		*net;
	struct net_endpoint	 rest, wsep;	/* addr: "" until a lookup found one */
	int			 endpoints_ok;	/* configured, URLs good; addresses: addr_ready() */
	struct budget_host	*budget;
	struct dp_sender	*dp;
	PGconn			*db;
	unsigned char		 key[CRYPTO_KEY_LEN];
	int			 have_key;
	int			 loaded, reconcile_pending;
	int64_t			 db_retry_ms, load_retry_ms;
	char			 db_error[512];	/* why db_ready() last failed */
	int64_t			 urgent_until_ms;	/* as last told to the host's budget */
	int			 stopping;
	struct acct		*accts;
	struct acct		*by_id[HASH_BUCKETS], *by_key[HASH_BUCKETS];
	size_t			 naccts;
	struct group		*groups;
	uint32_t		 next_group_id, next_conn_id;
	int			 rest_inflight;	/* ours; the host's count is the budget's */
	int64_t			 time_offset_ms;
	int			 time_sync_needed;
	ev_timer		 tick, reconcile_timer, stop_timer, schedule_timer;
	uint64_t		 rng;
	int			 alerts_running;
	struct log_ratelimit	 rl_malformed, rl_rest, rl_drops, rl_connect;
	struct {
		uint64_t	 reconciles, reconnects, messages, malformed, unknown, unrouted,
				 duplicates, renewals_ok, renewals_failed, keys_created, keys_doubted,
				 resyncs_started, resyncs_done, resyncs_failed, quarantines,
				 margin_calls, alerts, alerts_dropped, alerts_killed, events,
				 rest_requests, rest_errors, http_429, http_418, silence_kills,
				 subscribe_timeouts, probes, drains, drains_failed,
				 max_age_rebuilds, max_age_deferred, db_errors,
				 overflow_resyncs, gaps_opened, gaps_healed, events_dropped,
				 fields_defaulted, resync_rows_dropped, resync_rows_superseded,
				 resync_restates, resync_items_skipped,
				 resync_weight, resync_requests, resyncs_incomplete,
				 invalid_events, address_lookups, address_lookup_failures,
				 address_changes;
		uint64_t	 by_type[EV_TYPE_MAX];
	} st;
};

extern struct account_worker aw;

/* account.c */
int64_t	 now_ms(void);
uint32_t aw_random(void);
uint64_t hash_bytes(const void *, size_t);
int64_t	 backoff_ms(unsigned failures, int64_t min_ms, int64_t max_ms);
void	 redact_url(const char *in, char *out, size_t outlen);
struct acct *acct_by_id(int64_t id);
struct acct *acct_by_key(const char *k, size_t len);
void	 acct_set_state(struct acct *, int);
/*
 * Queue one event for the writer.  lost_since_ms: if the data plane has to
 * drop it (overflow), the account is resynced from this exchange time.
 */
struct emit_ctx {
	struct acct	*a;
	int		 stream;	/* from the live stream: moves the gap cursor */
	int		 valid;		/* passed ev_validate (bf_frame_events): not checked again */
	int64_t		 lost_since_ms;	/* resync events: their gap's start */
	void		(*note)(const struct event *, void *);	/* the resync's observer */
	void		*note_arg;
};
void	 acct_emit(struct event *, void *ctx);
/* Count and log (rate-limited) what a parse left out. */
void	 acct_drops(const struct acct *, const char *where, const struct bf_drops *);
void	 rest_sign(const struct acct *, const char *path, const char *params, char *out,
	    size_t outlen);
/* Start one REST call of a; 0 started, -1 not now (budget, concurrency). */
int	 rest_start(struct acct *, enum op, const char *method, const char *path_query,
	    int64_t weight, int64_t reserve);
void	 rest_backoff(struct acct *);
/*
 * a joined a new connection after frames of its stream may have been lost
 * (a->frames_lost_ms): a listenKeyExpired among them would leave it
 * subscribed to a dead key, which delivers nothing (FACTS §1.3).  The key
 * is confirmed with a keepalive soon, unless a POST or PUT confirmed it
 * after the loss.
 */
void	 acct_key_doubt(struct acct *);
void	 rest_schedule_soon(void);

/* account_conn.c */
void	 conn_init(void);
void	 group_add_acct(struct acct *);
void	 group_remove_acct(struct acct *);
void	 group_kick(void);
void	 groups_maintain(void);
void	 groups_free(void);
int	 groups_count_connections(void);

/* account_addr.c */
struct msgpack_packer;
void	 addr_init(void);
/* Start or reload: endpoint i (0 REST, 1 WebSocket), parsed, to be looked up. */
void	 addr_configure(int i, const struct net_endpoint *);
void	 addr_clear(void);
/* Both endpoints have an address: connections can be made. */
int	 addr_ready(void);
/* A connection to ep failed or was lost: its name is looked up again soon. */
void	 addr_suspect(const struct net_endpoint *ep);
/* Why the accounts wait for an address, or NULL when they do not. */
const char *addr_waiting(void);
void	 addr_status(struct msgpack_packer *);
void	 addr_stop(void);

/* resync.c */
/* A gap opened for a, from exchange time since_ms: recorded, and healed by a resync. */
void	 acct_gap(struct acct *, int64_t since_ms, const char *reason);
void	 acct_overflow_cb(const int64_t *ids, const int64_t *since, size_t n, void *arg);
/* The account's resync phase now: 0 none running, 1 state steps, 2 the rest. */
int	 resync_phase(const struct acct *);
/*
 * Send the next request of the account's resync (beginning it if it is
 * pending): 1 sent, 0 nothing to send now, -1 the budget said not now.
 */
int	 resync_step(struct acct *);
void	 resync_response(struct acct *, const struct net_http_resp *, int code);
void	 resync_free(struct acct *);
/*
 * The stream delivered this order update while a's resync runs (no-op when
 * none runs): a REST row of that order with an update time no newer is not
 * written after it.
 */
void	 resync_stream_order(struct acct *, const struct ev_order *);
const char *resync_state_name(const struct acct *);

#endif
