/*
 * gw_msg.c: the gateway's client messages (gw_msg.h, doc/gateway.md
 * "Messages"): the channel of each event type, and the message JSON made
 * once per event from the Kafka JSON of the event (evcodec.c), so the two
 * cannot drift apart: the same fields, times as ISO-8601, no recv_us.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "event.h"
#include "gw_msg.h"
#include "strbuf.h"

static const struct {
	const char	*name;		/* the channel, as clients subscribe to it */
	const char	*type;		/* the server message's type */
} channels[GW_CH_MAX] = {
	[GW_CH_ORDERS] = { "orders", "order_update" },
	[GW_CH_FILLS] = { "fills", "fill" },
	[GW_CH_POSITIONS] = { "positions", "position_update" },
	[GW_CH_BALANCES] = { "balances", "balance_update" },
	[GW_CH_RISK_ALERTS] = { "risk_alerts", "risk_alert" },
	[GW_CH_ACCOUNT_CONFIG] = { "account_config", "account_config" },
	[GW_CH_ALGO_ORDERS] = { "algo_orders", "algo_update" },
	[GW_CH_TICKER] = { "ticker", "ticker" },
	[GW_CH_TRADES] = { "trades", "trade" },
	[GW_CH_ORDERBOOK] = { "orderbook", "orderbook" },
	[GW_CH_KLINE] = { "kline", "kline" },
	[GW_CH_MARK_PRICE] = { "mark_price", "mark_price" },
};

enum gw_channel
gw_channel_of(const struct event *ev)
{
	switch (ev->type) {
	case EV_ORDER:		return GW_CH_ORDERS;
	case EV_FILL:		return GW_CH_FILLS;
	case EV_POSITION:	return GW_CH_POSITIONS;
	case EV_BALANCE:	return GW_CH_BALANCES;
	case EV_MARGIN_CALL:	return GW_CH_RISK_ALERTS;
	case EV_CONFIG:		return GW_CH_ACCOUNT_CONFIG;
	case EV_ALGO:		return GW_CH_ALGO_ORDERS;
	case EV_TICKER:
	case EV_BOOK_TICKER:	return GW_CH_TICKER;
	case EV_TRADE:		return GW_CH_TRADES;
	case EV_BOOK:
		/* A partial depth frame is the book's input, not the book. */
		return ev->flags & EVF_PARTIAL ? GW_CH_NONE : GW_CH_ORDERBOOK;
	case EV_KLINE:		return GW_CH_KLINE;
	case EV_MARK_PRICE:	return GW_CH_MARK_PRICE;
	default:		return GW_CH_NONE;	/* gaps, unknown, funding, liquidations */
	}
}

const char *
gw_channel_name(enum gw_channel c)
{
	return c >= 0 && c < GW_CH_MAX ? channels[c].name : NULL;
}

enum gw_channel
gw_channel_by_name(const char *s, size_t len)
{
	for (int c = 0; c < GW_CH_MAX; c++)
		if (strlen(channels[c].name) == len && memcmp(channels[c].name, s, len) == 0)
			return (enum gw_channel)c;
	return GW_CH_NONE;
}

const char *
gw_channel_type(enum gw_channel c)
{
	return c >= 0 && c < GW_CH_MAX ? channels[c].type : NULL;
}

void
gw_iso8601(int64_t ms, char out[25])
{
	ev_iso8601(ms, out);
}

int
gw_message_data(struct strbuf *out, const struct event *ev)
{
	return ev_json_put_opt(out, ev, EV_JSON_ISO_TIMES | EV_JSON_NO_RECV);
}

int
gw_message(struct strbuf *out, const struct event *ev)
{
	return gw_message_at(out, ev, 0);
}

int
gw_message_at(struct strbuf *out, const struct event *ev, int64_t committed_us)
{
	enum gw_channel c = gw_channel_of(ev);
	char iso[25], frac[8];

	if (c == GW_CH_NONE)
		return -1;
	ev_iso8601(ev->event_time, iso);
	/* Names and types are plain ASCII words: no escaping needed. */
	strbuf_puts(out, "{\"type\":\"");
	strbuf_puts(out, channels[c].type);
	strbuf_puts(out, "\",\"channel\":\"");
	strbuf_puts(out, channels[c].name);
	strbuf_puts(out, "\",\"timestamp\":\"");
	strbuf_puts(out, iso);
	if (committed_us > 0) {
		/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ": the ms form and three more digits. */
		ev_iso8601(committed_us / 1000, iso);
		snprintf(frac, sizeof(frac), "%03dZ", (int)(committed_us % 1000));
		strbuf_puts(out, "\",\"committed_at\":\"");
		strbuf_put(out, iso, 23);
		strbuf_puts(out, frac);
	}
	strbuf_puts(out, "\",\"data\":");
	if (gw_message_data(out, ev) == -1)
		return -1;
	strbuf_put(out, "}", 1);
	return out->oom ? -1 : 0;
}

/*
 * The stream is the event type and the flag that makes it another stream
 * (a mini ticker is not a ticker, an aggregate trade not a trade), so a
 * book ticker never replaces a 24 h ticker on the shared "ticker" channel.
 */
void
gw_conflation_key(const struct event *ev, char *key, size_t keylen)
{
	const char *type = ev_type_name(ev->type), *variant = "";

	if (keylen == 0)
		return;
	if ((ev->type == EV_TICKER && ev->flags & EVF_MINI) ||
	    (ev->type == EV_TRADE && ev->flags & EVF_AGG))
		variant = ev->type == EV_TICKER ? "_mini" : "_agg";
	if (ev->type == EV_KLINE)
		snprintf(key, keylen, "%s:%s:%s", type, ev->u.kline.symbol, ev->u.kline.interval);
	else if (ev->type == EV_BOOK)
		snprintf(key, keylen, "%s:%s:%u", type, ev->u.book.symbol, ev->u.book.depth);
	else
		snprintf(key, keylen, "%s%s:%s", type ? type : "?", variant, ev_market_symbol(ev));
}
