/*
 * gw_msg.h: the gateway's client messages (doc/gateway.md "Messages"):
 * which channel an event goes on, and its JSON message, made once per event
 * and sent as is to every client that gets it.
 */
#ifndef EXFEEDD_GW_MSG_H
#define EXFEEDD_GW_MSG_H

#include <stddef.h>
#include <stdint.h>

struct event;
struct strbuf;

enum gw_channel {
	GW_CH_NONE = -1,
	/* /ws/trading: a user's own events */
	GW_CH_ORDERS = 0,
	GW_CH_FILLS,
	GW_CH_POSITIONS,
	GW_CH_BALANCES,
	GW_CH_RISK_ALERTS,
	GW_CH_ACCOUNT_CONFIG,
	GW_CH_ALGO_ORDERS,
	/* market data: /ws/market, and /ws/trading's subscribe_symbol */
	GW_CH_TICKER,		/* ticker and book_ticker events */
	GW_CH_TRADES,
	GW_CH_ORDERBOOK,	/* published top-N books only (not partial depth frames) */
	GW_CH_KLINE,
	GW_CH_MARK_PRICE,
	GW_CH_MAX
};
#define GW_CH_IS_USER(c)	((c) >= GW_CH_ORDERS && (c) <= GW_CH_ALGO_ORDERS)
#define GW_CH_IS_MARKET(c)	((c) >= GW_CH_TICKER && (c) < GW_CH_MAX)

/* The channel of ev, or GW_CH_NONE (gaps, unknown events, funding, liquidations, partial books). */
enum gw_channel gw_channel_of(const struct event *);
/* "orders", ..., "ticker", "trades", "orderbook", "kline", "mark_price". */
const char	*gw_channel_name(enum gw_channel);
/* By name (len bytes), GW_CH_NONE when unknown. */
enum gw_channel	 gw_channel_by_name(const char *, size_t len);
/* The server message type of a channel: "order_update", ..., "ticker", "trade", "orderbook", "kline", "mark_price". */
const char	*gw_channel_type(enum gw_channel);

/*
 * Append ev's client message to out:
 * {"type":..., "channel":..., "timestamp":"<ISO-8601 event time>", "data":{...}}
 * with data = the Kafka JSON fields (ev_json_put) with ms times as ISO-8601
 * strings and without recv_us.  0, or -1 (no channel, out of memory).
 */
int		 gw_message(struct strbuf *out, const struct event *);
/*
 * The same with "committed_at" after "timestamp" when committed_us > 0:
 * the writer's COMMIT of the event (gwfeed.h gw_feed_frame_us), ISO-8601
 * UTC with microseconds, "2026-12-01T21:08:07.185123Z".
 */
int		 gw_message_at(struct strbuf *out, const struct event *, int64_t committed_us);

/* Just the data object (the snapshot's array elements use it).  0 or -1. */
int		 gw_message_data(struct strbuf *out, const struct event *);

/* ms since the epoch → "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes + NUL into out[25]). */
void		 gw_iso8601(int64_t ms, char out[25]);

/*
 * The conflation key of a market message (a later message with the same
 * key replaces an unsent earlier one): channel, symbol and, for klines,
 * the interval, written into key (NUL-terminated, at most keylen).
 */
void		 gw_conflation_key(const struct event *, char *key, size_t keylen);

#endif
