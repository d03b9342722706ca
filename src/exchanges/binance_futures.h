/*
 * binance_futures.h: Binance USDⓈ-M futures user data, JSON → events.
 *
 * Frames and REST bodies are parsed with jansson: integers are exact 64-bit
 * (Binance liquidation order ids exceed 2^53: 8389766079988521101 in a real
 * frame), object keys are case-sensitive (Binance keys differ only in case:
 * e/E, s/S, x/X).  Nothing here does I/O.  Not thread-safe: the module keeps
 * one event batch, and an emit callback must not call back into it.
 *
 * One bad value costs only its own event (DESIGN §3.6): every event a frame
 * or a REST row yields is built and checked (ev_validate) on its own; one
 * that fails is dropped and counted in struct bf_drops, the others are
 * emitted.  A missing optional field takes its default, a text longer than
 * its field is cut on a character boundary.
 */
#ifndef EXFEEDD_BINANCE_FUTURES_H
#define EXFEEDD_BINANCE_FUTURES_H

#include <stdbool.h>
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
 * What a parse left out: events dropped (each alone) with the reason of the
 * first (or, if none was, of the first unusable optional field), and
 * optional fields that were present but unusable (defaulted).
 * The caller zeroes it; parses add to it.
 */
struct bf_drops {
	unsigned	 events;
	unsigned	 fields;
	char		 why[200];
};

/*
 * One private-stream frame, bare or in the combined envelope
 * {"stream":"<listenKey>","data":{...}}.
 */
struct bf_frame {
	void		*root;		/* json_t *, owned */
	const void	*data;		/* json_t * of the event object */
	const char	*stream;	/* the envelope's stream (a listen key), or NULL */
	const char	*etype;		/* data.e */
	int64_t		 event_time;	/* data.E */
	const char	*expired_key;	/* listenKeyExpired: data.listenKey, else NULL */
};

/*
 * Parse and check the envelope: 0, or -1 with *err (not JSON, not an
 * object, no "e", or a known type without an integer "E"): the frame is
 * counted as malformed.
 */
int	 bf_frame_parse(const char *buf, size_t len, struct bf_frame *, const char **err);
/*
 * Turn the frame into events: ORDER_TRADE_UPDATE → EV_ORDER (+ EV_FILL when
 * x=TRADE or CALCULATED with a fill), TRADE_LITE → EV_FILL with EVF_LITE,
 * ACCOUNT_UPDATE → one EV_BALANCE per a.B[] and one EV_POSITION per a.P[],
 * MARGIN_CALL → one EV_MARGIN_CALL per p[] (one with symbol "" if none),
 * ACCOUNT_CONFIG_UPDATE → EV_CONFIG, ALGO_UPDATE → EV_ALGO, any other type
 * (except listenKeyExpired, which the caller handles) → EV_UNKNOWN with the
 * raw frame.  Every event emitted has its id (ev_make_id) and has passed
 * ev_validate.  Returns the number of events emitted (>= 0); events that
 * could not be built or fail ev_validate are counted in *drops (which may
 * be NULL).
 */
int	 bf_frame_events(const struct bf_frame *, const char *raw, size_t rawlen,
	    const struct ev_origin *, ev_emit_fn, void *arg, struct bf_drops *drops);
void	 bf_frame_free(struct bf_frame *);

/* REST snapshot bodies (FACTS §1.6) → events flagged EVF_RESYNC. */
enum bf_rest {
	BF_REST_POSITION_RISK,		/* GET /fapi/v3/positionRisk → EV_POSITION */
	BF_REST_OPEN_ORDERS,		/* GET /fapi/v1/openOrders → EV_ORDER */
	BF_REST_ALL_ORDERS,		/* GET /fapi/v1/allOrders → EV_ORDER */
	BF_REST_ORDER,			/* GET /fapi/v1/order (one object) → EV_ORDER */
	BF_REST_OPEN_ALGO_ORDERS,	/* GET /fapi/v1/openAlgoOrders → EV_ALGO */
	BF_REST_USER_TRADES,		/* GET /fapi/v1/userTrades → EV_FILL */
	BF_REST_ALGO_ORDER,		/* GET /fapi/v1/algoOrder (one object) → EV_ALGO */
	BF_REST_ALL_ALGO_ORDERS,	/* GET /fapi/v1/allAlgoOrders → EV_ALGO */
};
/*
 * now_ms stamps event_time: pass the time the request was sent.  REST algo rows carry neither the executed quantity nor the reject reason
 * (FACTS: Query-Algo-Order): both stay "" (unknown) in the events.
 * Returns events emitted (>= 0), or -1 with drops->why when the body as a
 * whole is unusable (not JSON, not the documented shape).
 */
int	 bf_rest_events(enum bf_rest, const char *body, size_t len, const struct ev_origin *,
	    int64_t now_ms, ev_emit_fn, void *arg, struct bf_drops *drops);

/*
 * GET /fapi/v2/account (weight 5; Binance doc "Account Information V2"):
 * the account's balances, its multi-assets mode, and one row per position
 * of EVERY symbol of the exchange (one-way: BOTH; hedge: LONG and SHORT)
 * with that symbol's leverage and margin type and the position's last
 * update time (0 if never touched).  A fill always changes its position, so
 * positions updated after a gap began name the symbols traded in the gap.
 */
struct bf_account_position {
	char		 symbol[EV_SYM];
	char		 position_side[EV_WORD];
	char		 amount[EV_DEC];
	char		 entry_price[EV_DEC];
	char		 unrealized_pnl[EV_DEC];
	int		 leverage;		/* -1: not given */
	bool		 isolated;
	int64_t		 update_time;
};
struct bf_account {
	int		 multi_assets;		/* -1 not given, 0, 1 */
	struct bf_account_position *pos;
	size_t		 npos;
};
/*
 * Parse the body: balances are emitted as EV_BALANCE events (EVF_RESYNC,
 * event_time now_ms, each with its own updateTime); the leverages, margin
 * types, positions and the multi-assets mode fill *acct (malloc'd rows,
 * free with bf_account_free).  Returns events emitted, or -1 with
 * drops->why when the body is unusable.
 */
int	 bf_account_v2(const char *body, size_t len, const struct ev_origin *, int64_t now_ms,
	    ev_emit_fn, void *arg, struct bf_account *acct, struct bf_drops *drops);
void	 bf_account_free(struct bf_account *);

/*
 * A reply to a request we sent on the connection (SUBSCRIBE, GET_PROPERTY):
 * {"result":...,"id":N} or {"error":{...},"id":N}.  1 with *id and *error
 * (1 for an error reply), or 0 if the frame is not a reply (an event).
 */
int	 bf_ws_reply(const char *buf, size_t len, int64_t *id, int *error);

/* {"listenKey":"..."} → key copied to out; 0 or -1. */
int	 bf_listen_key(const char *body, size_t len, char *out, size_t outlen);
/*
 * The longest answer (bytes) a sane exchange gives to the request of
 * path_query ("/fapi/v1/userTrades?symbol=..."): history pages hold at most
 * 1,000 rows (Binance's limit, FACTS §1.6) of under 1 KiB; account and
 * position lists one row per symbol (hundreds); a listen key or one order
 * a few hundred bytes.  A longer answer is refused unread, not parsed.
 */
size_t	 bf_rest_body_max(const char *path_query);
/* An error body {"code":-1125,"msg":"..."} → 0 with code and msg, -1 if not one. */
int	 bf_rest_error(const char *body, size_t len, int *code, char *msg, size_t msglen);

#endif
