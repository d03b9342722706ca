/* event_test.c: event type names, the deterministic ids of every type, and ev_clear. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

static struct event
mk(enum ev_type type)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.account_id = 12;
	ev.event_time = 1700000000001LL;
	return ev;
}

Test(event, type_names)
{
	cr_assert_str_eq(ev_type_name(EV_ORDER), "order");
	cr_assert_str_eq(ev_type_name(EV_FILL), "fill");
	cr_assert_str_eq(ev_type_name(EV_ALGO), "algo");
	cr_assert_str_eq(ev_type_name(EV_POSITION), "position");
	cr_assert_str_eq(ev_type_name(EV_BALANCE), "balance");
	cr_assert_str_eq(ev_type_name(EV_MARGIN_CALL), "margin_call");
	cr_assert_str_eq(ev_type_name(EV_CONFIG), "config");
	cr_assert_str_eq(ev_type_name(EV_UNKNOWN), "unknown");
	cr_assert_str_eq(ev_type_name(EV_GAP), "gap");
	cr_assert_null(ev_type_name(EV_TYPE_NONE));
	cr_assert_null(ev_type_name(EV_TYPE_MAX));
	cr_assert_null(ev_type_name(200));
}

Test(event, ids_of_every_type)
{
	struct event ev;

	ev = mk(EV_ORDER);
	ev.u.order.order_id = 6437837518LL;
	strcpy(ev.u.order.status, "PARTIALLY_FILLED");
	ev.u.order.update_time = 1688758982041LL;
	strcpy(ev.u.order.filled_qty, "392");
	strcpy(ev.u.order.price, "0.10000");
	strcpy(ev.u.order.orig_qty, "1000.0");
	ev_make_id(&ev);
	cr_assert_str_eq(ev.id, "o:12:6437837518:PARTIALLY_FILLED:1688758982041:392:0.1:1000");

	ev = mk(EV_FILL);
	strcpy(ev.u.fill.symbol, "BTCUSDT");
	ev.u.fill.trade_id = 109100866;
	ev.u.fill.order_id = 8389766079988521101LL;	/* a self-trade's two sides differ here */
	ev.u.fill.time = 5;		/* not part of the id */
	ev_make_id(&ev);
	cr_assert_str_eq(ev.id, "f:12:BTCUSDT:109100866:8389766079988521101");

	ev = mk(EV_ALGO);
	ev.u.algo.algo_id = 2148719;
	strcpy(ev.u.algo.status, "CANCELED");
	ev.u.algo.update_time = 1750515742297LL;
	ev_make_id(&ev);
	cr_assert_str_eq(ev.id, "a:12:2148719:CANCELED:1750515742297");

	ev = mk(EV_POSITION);
	strcpy(ev.u.position.symbol, "BTCUSDT");
	strcpy(ev.u.position.position_side, "SHORT");
	ev.u.position.update_time = 1564745798938LL;
	strcpy(ev.u.position.amount, "-10");
	ev_make_id(&ev);
	cr_assert_str_eq(ev.id, "p:12:BTCUSDT:SHORT:1564745798938:-10");

	ev = mk(EV_BALANCE);
	strcpy(ev.u.balance.asset, "USDT");
	ev.u.balance.update_time = 1564745798938LL;
	strcpy(ev.u.balance.wallet, "122624.12345678");
	ev_make_id(&ev);
	cr_assert_str_eq(ev.id, "b:12:USDT:1564745798938:122624.12345678");

	ev = mk(EV_MARGIN_CALL);
	strcpy(ev.u.margin_call.symbol, "ETHUSDT");
	strcpy(ev.u.margin_call.position_side, "LONG");
	ev_make_id(&ev);
	cr_assert_str_eq(ev.id, "m:12:1700000000001:ETHUSDT:LONG");
	ev = mk(EV_MARGIN_CALL);
	ev_make_id(&ev);
	cr_assert_str_eq(ev.id, "m:12:1700000000001::");

	ev = mk(EV_CONFIG);
	strcpy(ev.u.config.symbol, "BTCUSDT");
	ev.u.config.update_time = 1611646737476LL;
	ev_make_id(&ev);
	cr_assert_str_eq(ev.id, "c:12:BTCUSDT:1611646737476");
	ev.u.config.symbol[0] = '\0';
	ev_make_id(&ev);
	cr_assert_str_eq(ev.id, "c:12::1611646737476");

	ev = mk(EV_UNKNOWN);
	strcpy(ev.u.unknown.name, "GRID_UPDATE");
	ev.u.unknown.raw = strdup("abc");
	ev_make_id(&ev);
	/* sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad */
	cr_assert_str_eq(ev.id, "u:12:1700000000001:GRID_UPDATE:ba7816bf8f01cfea");
	ev_clear(&ev);
	cr_assert_null(ev.u.unknown.raw);
	ev_clear(&ev);	/* twice is harmless */
}

Test(event, decimals_in_ids_are_canonical)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "0.010", "0.01" }, { "0.01", "0.01" }, { "7259", "7259" }, { "100", "100" },
		{ "10.0", "10" }, { "0.000", "0" }, { "0", "0" }, { "-0.0", "0" }, { "-0", "0" },
		{ "-10.500", "-10.5" }, { "1500.0", "1500" }, { "0.00000001", "0.00000001" },
	};
	char want[EV_ID];
	struct event ev;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ev = mk(EV_POSITION);
		strcpy(ev.u.position.symbol, "X");
		strcpy(ev.u.position.position_side, "BOTH");
		ev.u.position.update_time = 1;
		strcpy(ev.u.position.amount, cases[i].in);
		ev_make_id(&ev);
		snprintf(want, sizeof(want), "p:12:X:BOTH:1:%s", cases[i].out);
		cr_assert_str_eq(ev.id, want, "amount %s", cases[i].in);
		cr_assert_str_eq(ev.u.position.amount, cases[i].in, "the field itself is untouched");
	}
}

Test(event, over_long_ids_become_digests)
{
	struct event a = mk(EV_ORDER), b;

	a.u.order.order_id = 9007199254740991LL;
	memset(a.u.order.status, 'S', sizeof(a.u.order.status) - 1);
	a.u.order.update_time = 9007199254740991LL;
	memset(a.u.order.filled_qty, '9', sizeof(a.u.order.filled_qty) - 1);
	a.account_id = 9007199254740991LL;
	b = a;
	b.u.order.filled_qty[sizeof(b.u.order.filled_qty) - 2] = '8';
	ev_make_id(&a);
	ev_make_id(&b);
	cr_assert_lt(strlen(a.id), sizeof(a.id));
	cr_assert_eq(strncmp(a.id, "o:9007199254740991:#", 20), 0, "%s", a.id);
	cr_assert_eq(strlen(a.id), 20 + 64);
	cr_assert_str_neq(a.id, b.id, "ids that differ only past the cut stay distinct");
	ev_make_id(&b);
	cr_assert_str_neq(a.id, b.id);
}

Test(event, decimals_take_one_form)
{
	static const struct {
		const char	*in, *out;
	} ok[] = {
		{ "5", "5" }, { "5.", "5" }, { ".5", "0.5" }, { "-.5", "-0.5" }, { "-5.", "-5" },
		{ "0.010", "0.010" }, { "-0", "-0" }, { "123456.78900", "123456.78900" },
	};
	static const char *const bad[] = { "", ".", "-", "-.", "1e5", "1.2.3", "+1", " 1", "1 ",
		"0x10", "NaN", "1,5", "--1" };
	char buf[EV_DEC];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(ev_decimal(buf, sizeof(buf), ok[i].in, strlen(ok[i].in)), 0, "%s", ok[i].in);
		cr_assert_str_eq(buf, ok[i].out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(ev_decimal(buf, sizeof(buf), bad[i], strlen(bad[i])), -1, "\"%s\"", bad[i]);
	/* ".5" needs one byte more than it has: "0.5" and the NUL */
	cr_assert_eq(ev_decimal(buf, 4, ".5", 2), 0);
	cr_assert_eq(ev_decimal(buf, 3, ".5", 2), -1);
}

Test(event, text_is_cut_on_a_character)
{
	char buf[6];

	cr_assert_eq(ev_copy_text(buf, sizeof(buf), "abc", 3), 0);
	cr_assert_str_eq(buf, "abc");
	cr_assert_eq(ev_copy_text(buf, sizeof(buf), "abcd\xc3\xa9", 6), 1);
	cr_assert_str_eq(buf, "abcd", "the two-byte character does not fit: left out whole");
	cr_assert_eq(ev_copy_text(buf, sizeof(buf), "ab\xe2\x82\xac\xe2\x82\xac", 8), 1);
	cr_assert_str_eq(buf, "ab\xe2\x82\xac");
}

static struct event
mkm(enum ev_type type, const char *symbol)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	strcpy(ev.exchange, "binance-futures");
	ev.event_time = 1700000000001LL;
	/* symbol is the first member of every market struct */
	strcpy(ev.u.kline.symbol, symbol);
	return ev;
}

Test(event, market_type_names)
{
	static const char *const names[] = { "kline", "mark_price", "funding", "ticker", "trade",
		"book", "book_ticker", "liquidation" };

	for (unsigned t = EV_KLINE; t < EV_TYPE_MAX; t++) {
		cr_assert(EV_IS_MARKET(t));
		cr_assert_str_eq(ev_type_name(t), names[t - EV_KLINE]);
	}
	cr_assert(!EV_IS_MARKET(EV_GAP));
	cr_assert(!EV_IS_MARKET(EV_TYPE_MAX));
}

/* The same exchange fact, however it came, has one id; another fact another id. */
Test(event, market_ids)
{
	struct event a, b;

	/* a closed candle: the stream's x=true frame and the REST row */
	a = mkm(EV_KLINE, "BTCUSDT");
	strcpy(a.u.kline.interval, "1m");
	a.u.kline.open_time = 1700000040000;
	a.u.kline.close_time = 1700000099999;
	a.u.kline.closed = true;
	strcpy(a.u.kline.close, "65000.10");
	b = a;
	b.flags = EVF_RESYNC;
	b.event_time = 1700000123456;	/* REST: when the request was sent */
	b.recv_us = 99;
	strcpy(b.u.kline.close, "65000.1");
	b.u.kline.first_trade_id = b.u.kline.last_trade_id = -1;
	ev_make_id(&a);
	ev_make_id(&b);
	cr_assert_str_eq(a.id, "kline:binance-futures:BTCUSDT:1m:1700000040000");
	cr_assert_str_eq(b.id, a.id, "the REST row of a closed candle is the stream's fact");
	/* the updates of an open candle: one fact each */
	a.u.kline.closed = false;
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "kline:binance-futures:BTCUSDT:1m:1700000040000:open:1700000000001");
	b = a;
	b.event_time++;
	ev_make_id(&b);
	cr_assert_str_neq(a.id, b.id);
	/* interval and symbol tell candles apart; 1m is not 1M */
	b = a;
	strcpy(b.u.kline.interval, "1M");
	ev_make_id(&b);
	cr_assert_str_eq(b.id, "kline:binance-futures:BTCUSDT:1M:1700000040000:open:1700000000001");

	a = mkm(EV_TRADE, "ETHUSDT");
	a.u.trade.trade_id = 4417394381;
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "trade:binance-futures:ETHUSDT:4417394381");
	a.flags = EVF_AGG;
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "aggtrade:binance-futures:ETHUSDT:4417394381",
	    "an aggregate id is not a trade id");

	a = mkm(EV_MARK_PRICE, "BTCUSDT");
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "markprice:binance-futures:BTCUSDT:1700000000001");

	a = mkm(EV_FUNDING, "BTCUSDT");
	a.u.funding.next_funding_time = 1700006400000;
	strcpy(a.u.funding.funding_rate, "0.00010000");
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "funding:binance-futures:BTCUSDT:1700006400000:0.0001");
	b = a;
	b.event_time += 3000;	/* the same change seen again in a later frame */
	strcpy(b.u.funding.mark_price, "1");
	ev_make_id(&b);
	cr_assert_str_eq(b.id, a.id);
	strcpy(b.u.funding.funding_rate, "0.00012");
	ev_make_id(&b);
	cr_assert_str_neq(b.id, a.id);

	a = mkm(EV_TICKER, "BNBUSDT");
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "ticker:binance-futures:BNBUSDT:1700000000001");
	a.flags = EVF_MINI;
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "miniticker:binance-futures:BNBUSDT:1700000000001");

	a = mkm(EV_BOOK_TICKER, "BNBUSDT");
	a.u.book_ticker.update_id = 400900217;
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "bookticker:binance-futures:BNBUSDT:400900217");

	a = mkm(EV_BOOK, "BTCUSDT");
	a.u.book.depth = 20;
	a.u.book.last_update_id = 8000000123;
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "book:binance-futures:BTCUSDT:20:8000000123");
	a.flags = EVF_PARTIAL;
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "depth:binance-futures:BTCUSDT:20:8000000123");

	a = mkm(EV_LIQUIDATION, "BTCUSDT");
	a.u.liquidation.time = 1568014460893;
	strcpy(a.u.liquidation.side, "SELL");
	strcpy(a.u.liquidation.orig_qty, "0.0140");
	ev_make_id(&a);
	cr_assert_str_eq(a.id, "liquidation:binance-futures:BTCUSDT:1568014460893:SELL:0.014");
}

Test(event, market_ids_fit_and_stay_distinct)
{
	struct event a = mkm(EV_KLINE, "SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS"), b;

	memset(a.exchange, 'x', sizeof(a.exchange) - 1);
	strcpy(a.u.kline.interval, "12h");
	a.u.kline.open_time = INT64_MIN;
	a.event_time = INT64_MIN;
	b = a;
	b.event_time++;
	ev_make_id(&a);
	ev_make_id(&b);
	cr_assert_lt(strlen(a.id), sizeof(a.id));
	cr_assert_eq(strncmp(a.id, "k:0:#", 5), 0, "%s", a.id);
	cr_assert_str_neq(a.id, b.id);
	/* the longest closed candle id still fits whole */
	a.u.kline.closed = true;
	a.u.kline.open_time = INT64_MAX;
	ev_make_id(&a);
	cr_assert_eq(strncmp(a.id, "kline:", 6), 0, "%s", a.id);
}

Test(event, market_fact_times)
{
	struct event ev = mkm(EV_KLINE, "BTCUSDT");

	ev.u.kline.open_time = 1700000040000;
	cr_assert_eq(ev_fact_time(&ev), 1700000040000);
	ev = mkm(EV_TRADE, "BTCUSDT");
	ev.u.trade.time = 1700000000077;
	cr_assert_eq(ev_fact_time(&ev), 1700000000077);
	ev = mkm(EV_BOOK, "BTCUSDT");
	cr_assert_eq(ev_fact_time(&ev), 1700000000001, "a bare snapshot: the event time");
	ev.u.book.time = 5;
	cr_assert_eq(ev_fact_time(&ev), 5);
	ev = mkm(EV_BOOK_TICKER, "BTCUSDT");
	ev.u.book_ticker.time = 6;
	cr_assert_eq(ev_fact_time(&ev), 6);
	ev = mkm(EV_LIQUIDATION, "BTCUSDT");
	ev.u.liquidation.time = 7;
	cr_assert_eq(ev_fact_time(&ev), 7);
	for (unsigned t = EV_MARK_PRICE; t <= EV_TICKER; t++) {
		ev = mkm(t, "BTCUSDT");
		cr_assert_eq(ev_fact_time(&ev), 1700000000001, "%s", ev_type_name(t));
	}
}

Test(event, ev_clear_frees_book_levels)
{
	struct event ev = mkm(EV_BOOK, "BTCUSDT");

	ev.u.book.levels = calloc(3, sizeof(struct ev_level));
	ev.u.book.nbids = 2;
	ev.u.book.nasks = 1;
	ev_clear(&ev);
	cr_assert_null(ev.u.book.levels);
	cr_assert_eq(ev.u.book.nbids + ev.u.book.nasks, 0);
	ev_clear(&ev);	/* twice is harmless */
}
