/*
 * binance_futures.h: Binance USDⓈ-M futures user data, JSON → events.
 *
 * Frames are parsed with cJSON, case-sensitive lookups only (Binance keys
 * differ only in case: e/E, s/S, x/X).  Nothing here does I/O.
 * Not thread-safe: *err points to a static message valid until the next
 * call, and an emit callback must not call back into this module.
 */
#ifndef EXFEEDD_BINANCE_FUTURES_H
#define EXFEEDD_BINANCE_FUTURES_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* Who the events are for; copied into every event. */
struct ev_origin {
	int64_t		 account_id;
	int64_t		 user_id;
	int64_t		 recv_us;	/* when the frame arrived, CLOCK_REALTIME µs */
	unsigned	 flags;		/* EVF_RESYNC for REST rows */
};

/* Called once per event; the event is only valid during the call. */
typedef void (*ev_emit_fn)(struct event *, void *arg);

/*
 * One private-stream frame, bare or in the combined envelope
 * {"stream":"<listenKey>","data":{...}}.
 */
struct bf_frame {
	void		*root;		/* cJSON *, owned */
	const void	*data;		/* cJSON * of the event object */
	const char	*stream;	/* the envelope's stream (a listen key), or NULL */
	const char	*etype;		/* data.e */
	int64_t		 event_time;	/* data.E */
	const char	*expired_key;	/* listenKeyExpired: data.listenKey, else NULL */
};

/* Parse and check the envelope: 0, or -1 with *err (frame counted as malformed). */
int	 bf_frame_parse(const char *buf, size_t len, struct bf_frame *, const char **err);
/*
 * Turn the frame into events: ORDER_TRADE_UPDATE → EV_ORDER (+ EV_FILL when
 * x=TRADE or CALCULATED with a fill), TRADE_LITE → EV_FILL with EVF_LITE,
 * ACCOUNT_UPDATE → one EV_BALANCE per a.B[] and one EV_POSITION per a.P[],
 * MARGIN_CALL → one EV_MARGIN_CALL per p[] (one with symbol "" if none),
 * ACCOUNT_CONFIG_UPDATE → EV_CONFIG, ALGO_UPDATE → EV_ALGO, any other type
 * (except listenKeyExpired, which the caller handles) → EV_UNKNOWN with the
 * raw frame.  Returns the number of events emitted, or -1 with *err if a
 * known type lacks a field or has the wrong JSON type (nothing emitted).
 */
int	 bf_frame_events(const struct bf_frame *, const char *raw, size_t rawlen,
	    const struct ev_origin *, ev_emit_fn, void *arg, const char **err);
void	 bf_frame_free(struct bf_frame *);

/* REST snapshot bodies (FACTS §1.6) → events flagged EVF_RESYNC. */
enum bf_rest {
	BF_REST_BALANCE,		/* GET /fapi/v3/balance → EV_BALANCE */
	BF_REST_POSITION_RISK,		/* GET /fapi/v3/positionRisk → EV_POSITION */
	BF_REST_OPEN_ORDERS,		/* GET /fapi/v1/openOrders → EV_ORDER */
	BF_REST_ALL_ORDERS,		/* GET /fapi/v1/allOrders → EV_ORDER */
	BF_REST_ORDER,			/* GET /fapi/v1/order (one object) → EV_ORDER */
	BF_REST_OPEN_ALGO_ORDERS,	/* GET /fapi/v1/openAlgoOrders → EV_ALGO */
	BF_REST_USER_TRADES,		/* GET /fapi/v1/userTrades → EV_FILL */
	BF_REST_SYMBOL_CONFIG,		/* GET /fapi/v1/symbolConfig → EV_CONFIG per symbol */
	BF_REST_MULTI_ASSETS,		/* GET /fapi/v1/multiAssetsMargin → EV_CONFIG, symbol "" */
	BF_REST_ALGO_ORDER,		/* GET /fapi/v1/algoOrder (one object) → EV_ALGO */
	BF_REST_ALL_ALGO_ORDERS,	/* GET /fapi/v1/allAlgoOrders → EV_ALGO */
};
/*
 * now_ms stamps event_time, and is the update_time of the EV_CONFIG events
 * (the config endpoints carry no time): pass the time the request was sent,
 * so that a change the stream reports after the snapshot was taken wins.
 * Returns events emitted or -1 with *err.
 */
int	 bf_rest_events(enum bf_rest, const char *body, size_t len, const struct ev_origin *,
	    int64_t now_ms, ev_emit_fn, void *arg, const char **err);

/* {"listenKey":"..."} → key copied to out; 0 or -1. */
int	 bf_listen_key(const char *body, size_t len, char *out, size_t outlen);
/* An error body {"code":-1125,"msg":"..."} → 0 with code and msg, -1 if not one. */
int	 bf_rest_error(const char *body, size_t len, int *code, char *msg, size_t msglen);

#endif
