/*
 * gw_msg_test.c: the gateway's client messages: every field of the Kafka
 * JSON of every event type appears in the message's data with the same
 * value (ms times as ISO-8601, recv_us left out), the channel/type table is
 * complete, ISO-8601 times, conflation keys.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "event.h"
#include "gw_msg.h"
#include "strbuf.h"

#include "evsample.h"

/* The ms-time members of the Kafka JSON (doc/topics.md), by type. */
static int
is_ms_time(unsigned type, const char *k)
{
	if (strcmp(k, "event_time") == 0 || strcmp(k, "update_time") == 0 ||
	    strcmp(k, "trade_time") == 0 || strcmp(k, "open_time") == 0 ||
	    strcmp(k, "close_time") == 0 || strcmp(k, "next_funding_time") == 0)
		return 1;
	if (strcmp(k, "time") == 0)
		return type == EV_TRADE || type == EV_BOOK || type == EV_BOOK_TICKER ||
		    type == EV_LIQUIDATION;
	return 0;
}

/* The same ISO-8601 string computed independently with gmtime_r. */
static void
iso_ref(int64_t ms, char *out, size_t len)
{
	time_t s = (time_t)(ms >= 0 ? ms / 1000 : -((-(ms + 1)) / 1000) - 1);
	int frac = (int)(ms - (int64_t)s * 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	if (snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac) >= (int)len)
		cr_assert_fail("iso_ref: %zu bytes", len);
}

static json_t *
parse(const char *s)
{
	json_error_t err;
	json_t *j = json_loads(s, 0, &err);

	cr_assert_not_null(j, "not JSON (%s): %s", err.text, s);
	return j;
}

/* data equals the Kafka JSON k, field by field. */
static void
check_data(unsigned type, const json_t *k, const json_t *data)
{
	const char *key;
	json_t *v;
	size_t expect = json_object_size(k);

	cr_assert(json_is_object(data));
	json_object_foreach((json_t *)k, key, v) {
		json_t *d = json_object_get(data, key);

		if (strcmp(key, "recv_us") == 0) {
			cr_assert_null(d, "%s: recv_us is in data", ev_type_name(type));
			expect--;
			continue;
		}
		cr_assert_not_null(d, "%s: %s missing from data", ev_type_name(type), key);
		if (is_ms_time(type, key) && !json_is_null(v)) {
			char ref[40];

			cr_assert(json_is_integer(v), "%s: %s not an integer in Kafka JSON",
			    ev_type_name(type), key);
			if (json_integer_value(v) == 0) {
				cr_assert(json_is_null(d), "%s: %s 0 is not null", ev_type_name(type), key);
				continue;
			}
			iso_ref(json_integer_value(v), ref, sizeof(ref));
			cr_assert(json_is_string(d), "%s: %s not a string", ev_type_name(type), key);
			cr_assert_str_eq(json_string_value(d), ref, "%s: %s", ev_type_name(type), key);
		} else
			cr_assert(json_equal(v, d), "%s: %s differs", ev_type_name(type), key);
	}
	cr_assert_eq(json_object_size(data), expect, "%s: data has %zu fields, expected %zu",
	    ev_type_name(type), json_object_size(data), expect);
}

static const struct {
	unsigned	 type;
	uint8_t		 flags;		/* set on the sample; 0xff: keep the sample's */
	enum gw_channel	 ch;
	const char	*name, *msgtype;
} table[] = {
	{ EV_ORDER, 0xff, GW_CH_ORDERS, "orders", "order_update" },
	{ EV_FILL, 0xff, GW_CH_FILLS, "fills", "fill" },
	{ EV_POSITION, 0xff, GW_CH_POSITIONS, "positions", "position_update" },
	{ EV_BALANCE, 0xff, GW_CH_BALANCES, "balances", "balance_update" },
	{ EV_MARGIN_CALL, 0xff, GW_CH_RISK_ALERTS, "risk_alerts", "risk_alert" },
	{ EV_CONFIG, 0xff, GW_CH_ACCOUNT_CONFIG, "account_config", "account_config" },
	{ EV_ALGO, 0xff, GW_CH_ALGO_ORDERS, "algo_orders", "algo_update" },
	{ EV_TICKER, 0xff, GW_CH_TICKER, "ticker", "ticker" },
	{ EV_TICKER, EVF_MINI, GW_CH_TICKER, "ticker", "ticker" },
	{ EV_BOOK_TICKER, 0xff, GW_CH_TICKER, "ticker", "ticker" },
	{ EV_TRADE, 0xff, GW_CH_TRADES, "trades", "trade" },
	{ EV_TRADE, 0, GW_CH_TRADES, "trades", "trade" },
	{ EV_BOOK, 0, GW_CH_ORDERBOOK, "orderbook", "orderbook" },
	{ EV_KLINE, 0xff, GW_CH_KLINE, "kline", "kline" },
	{ EV_MARK_PRICE, 0xff, GW_CH_MARK_PRICE, "mark_price", "mark_price" },
	/* no channel */
	{ EV_BOOK, EVF_PARTIAL, GW_CH_NONE, NULL, NULL },
	{ EV_GAP, 0xff, GW_CH_NONE, NULL, NULL },
	{ EV_UNKNOWN, 0xff, GW_CH_NONE, NULL, NULL },
	{ EV_FUNDING, 0xff, GW_CH_NONE, NULL, NULL },
	{ EV_LIQUIDATION, 0xff, GW_CH_NONE, NULL, NULL },
};

Test(gw_msg, every_type_every_field)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct strbuf kb = { NULL, 0, 0, 0 }, mb = { NULL, 0, 0, 0 };
		struct event ev;
		json_t *k, *m;
		char iso[25], ref[40];

		sample(&ev, table[i].type);
		if (table[i].flags != 0xff) {
			ev.flags = table[i].flags | (ev.flags & EVF_RESYNC);
			if (ev.type == EV_TICKER && ev.flags & EVF_MINI) {
				/* a mini ticker's absent fields (event.h) */
				ev.u.ticker.price_change[0] = ev.u.ticker.price_change_pct[0] = '\0';
				ev.u.ticker.weighted_avg_price[0] = ev.u.ticker.last_qty[0] = '\0';
				ev.u.ticker.open_time = ev.u.ticker.close_time = 0;
				ev.u.ticker.first_trade_id = ev.u.ticker.last_trade_id = -1;
				ev.u.ticker.trades = -1;
			}
			ev_make_id(&ev);
		}
		cr_assert_eq(gw_channel_of(&ev), table[i].ch, "%s flags %#x: channel %d",
		    ev_type_name(ev.type), ev.flags, gw_channel_of(&ev));
		if (table[i].ch == GW_CH_NONE) {
			cr_assert_eq(gw_message(&mb, &ev), -1, "%s has no message", ev_type_name(ev.type));
			free(mb.p);
			ev_clear(&ev);
			continue;
		}
		cr_assert_eq(ev_json_put(&kb, &ev), 0);
		/* appended to text already there: the message stands alone after it */
		strbuf_puts(&mb, "prefix");
		cr_assert_eq(gw_message(&mb, &ev), 0);
		k = parse(kb.p);
		m = parse(mb.p + 6);
		cr_assert_eq(json_object_size(m), 4, "%s: message members", ev_type_name(ev.type));
		cr_assert_str_eq(json_string_value(json_object_get(m, "type")), table[i].msgtype);
		cr_assert_str_eq(json_string_value(json_object_get(m, "channel")), table[i].name);
		iso_ref(ev.event_time, ref, sizeof(ref));
		cr_assert_str_eq(json_string_value(json_object_get(m, "timestamp")), ref);
		check_data(ev.type, k, json_object_get(m, "data"));
		/* gw_message_data alone: the same object */
		{
			struct strbuf db = { NULL, 0, 0, 0 };
			json_t *d;

			cr_assert_eq(gw_message_data(&db, &ev), 0);
			d = parse(db.p);
			cr_assert(json_equal(d, json_object_get(m, "data")));
			json_decref(d);
			free(db.p);
		}
		gw_iso8601(ev.event_time, iso);
		cr_assert_str_eq(iso, ref);
		json_decref(k);
		json_decref(m);
		free(kb.p);
		free(mb.p);
		ev_clear(&ev);
	}
}

Test(gw_msg, channel_table_complete)
{
	int seen[GW_CH_MAX] = { 0 };

	for (int c = 0; c < GW_CH_MAX; c++) {
		const char *n = gw_channel_name((enum gw_channel)c);

		cr_assert_not_null(n, "channel %d has no name", c);
		cr_assert_not_null(gw_channel_type((enum gw_channel)c), "channel %d has no type", c);
		cr_assert_eq(gw_channel_by_name(n, strlen(n)), c, "%s by name", n);
		cr_assert_eq(GW_CH_IS_USER(c), c <= GW_CH_ALGO_ORDERS);
		cr_assert_eq(GW_CH_IS_MARKET(c), c >= GW_CH_TICKER);
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].ch != GW_CH_NONE)
			seen[table[i].ch] = 1;
	for (int c = 0; c < GW_CH_MAX; c++)
		cr_assert(seen[c], "no event type goes on %s", gw_channel_name((enum gw_channel)c));
	/* every event type is in the table, with a channel or without */
	for (unsigned t = EV_ORDER; t < EV_TYPE_MAX; t++) {
		int found = 0;

		for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
			found |= table[i].type == t;
		cr_assert(found, "event type %s is not in the table", ev_type_name(t));
	}
	cr_assert_eq(gw_channel_by_name("order", 5), GW_CH_NONE);
	cr_assert_eq(gw_channel_by_name("ordersx", 7), GW_CH_NONE);
	cr_assert_eq(gw_channel_by_name("orders", 6), GW_CH_ORDERS);
	cr_assert_null(gw_channel_name(GW_CH_NONE));
	cr_assert_null(gw_channel_type(GW_CH_MAX));
}

Test(gw_msg, iso8601)
{
	static const int64_t t[] = { 1, 999, 1000, 1709220138459, 951782400000, 4102444800000,
		-1, -1000, -86400001, 253402300799999 };
	char iso[25], ref[40];

	gw_iso8601(1709220138459, iso);
	cr_assert_str_eq(iso, "2024-02-29T15:22:18.459Z");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		gw_iso8601(t[i], iso);
		iso_ref(t[i], ref, sizeof(ref));
		cr_assert_str_eq(iso, ref, "%lld", (long long)t[i]);
	}
	gw_iso8601(INT64_MAX, iso);
	cr_assert_str_eq(iso, "9999-12-31T23:59:59.999Z");
	gw_iso8601(INT64_MIN, iso);
	cr_assert_str_eq(iso, "0000-01-01T00:00:00.000Z");
	/* every ms of a few days around a leap day */
	for (int64_t ms = 951696000000; ms < 951696000000 + 3 * 86400000LL; ms += 999983) {
		gw_iso8601(ms, iso);
		iso_ref(ms, ref, sizeof(ref));
		cr_assert_str_eq(iso, ref);
	}
}

Test(gw_msg, conflation_key)
{
	struct event a, b;
	char ka[64], kb[64];

	sample(&a, EV_TICKER);
	sample(&b, EV_BOOK_TICKER);
	strcpy(b.u.book_ticker.symbol, a.u.ticker.symbol);
	gw_conflation_key(&a, ka, sizeof(ka));
	gw_conflation_key(&b, kb, sizeof(kb));
	cr_assert_str_neq(ka, kb, "a book ticker must not replace a ticker");
	cr_assert_str_eq(ka, "ticker:BNBUSDT");
	a.flags |= EVF_MINI;
	gw_conflation_key(&a, kb, sizeof(kb));
	cr_assert_str_eq(kb, "ticker_mini:BNBUSDT");
	sample(&a, EV_KLINE);
	gw_conflation_key(&a, ka, sizeof(ka));
	cr_assert_str_eq(ka, "kline:BTCUSDT:1M");
	strcpy(a.u.kline.interval, "1m");
	gw_conflation_key(&a, kb, sizeof(kb));
	cr_assert_str_eq(kb, "kline:BTCUSDT:1m", "1m and 1M are different streams");
	sample(&a, EV_MARK_PRICE);
	sample(&b, EV_MARK_PRICE);
	b.event_time++;
	gw_conflation_key(&a, ka, sizeof(ka));
	gw_conflation_key(&b, kb, sizeof(kb));
	cr_assert_str_eq(ka, kb, "a later mark price replaces an earlier one");
	gw_conflation_key(&a, ka, 4);
	cr_assert_eq(strlen(ka), 3);
	sample(&a, EV_BOOK);
	gw_conflation_key(&a, ka, sizeof(ka));
	cr_assert_str_eq(ka, "book:BTCUSDT_250926:5");
	ev_clear(&a);
}
