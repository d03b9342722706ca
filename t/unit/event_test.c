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
