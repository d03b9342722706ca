/*
 * evsample.h: for the unit tests, an event of each type with every field
 * set to something distinctive (evcodec_test.c, gw_msg_test.c).
 */
#ifndef EXFEEDD_EVSAMPLE_H
#define EXFEEDD_EVSAMPLE_H

#include <stdlib.h>
#include <string.h>

#include "event.h"

/* The market part of sample(): no account, every field distinctive. */
static void
sample_market(struct event *ev, unsigned type)
{
	static const char *const bids[][2] = { { "65000.10", "1.5" }, { "64999.9", "0.001" },
		{ "64990", "12" } };
	static const char *const asks[][2] = { { "65000.2", "0.25" }, { "65001", "3.000" } };
	struct ev_book *b = &ev->u.book;

	ev->flags = 0;
	ev->account_id = 0;
	ev->user_id = 0;
	switch (type) {
	case EV_KLINE:
		ev->flags = EVF_RESYNC;
		strcpy(ev->u.kline.symbol, "BTCUSDT");
		strcpy(ev->u.kline.interval, "1M");
		ev->u.kline.open_time = 1699999980000;
		ev->u.kline.close_time = 1700000039999;
		ev->u.kline.first_trade_id = 5000000001;
		ev->u.kline.last_trade_id = 5000000099;
		strcpy(ev->u.kline.open, "65000.10");
		strcpy(ev->u.kline.high, "65100");
		strcpy(ev->u.kline.low, "64900.5");
		strcpy(ev->u.kline.close, "65050.0");
		strcpy(ev->u.kline.volume, "123.456");
		strcpy(ev->u.kline.quote_volume, "8024691.2");
		strcpy(ev->u.kline.taker_buy_volume, "60.1");
		strcpy(ev->u.kline.taker_buy_quote_volume, "3906000.01");
		ev->u.kline.trades = 98;
		ev->u.kline.closed = true;
		break;
	case EV_MARK_PRICE:
		strcpy(ev->u.mark_price.symbol, "ETHUSDT");
		strcpy(ev->u.mark_price.mark_price, "3000.12345678");
		strcpy(ev->u.mark_price.mark_price_avg, "3000.1");
		strcpy(ev->u.mark_price.index_price, "2999.9");
		strcpy(ev->u.mark_price.settle_price, "2999.5");
		strcpy(ev->u.mark_price.funding_rate, "-0.00010000");
		ev->u.mark_price.next_funding_time = 1700006400000;
		break;
	case EV_FUNDING:
		strcpy(ev->u.funding.symbol, "ETHUSDT");
		strcpy(ev->u.funding.funding_rate, "0.00012500");
		ev->u.funding.next_funding_time = 1700006400000;
		strcpy(ev->u.funding.mark_price, "3000.5");
		break;
	case EV_TICKER:
		strcpy(ev->u.ticker.symbol, "BNBUSDT");
		strcpy(ev->u.ticker.price_change, "-1.5");
		strcpy(ev->u.ticker.price_change_pct, "-0.214");
		strcpy(ev->u.ticker.weighted_avg_price, "700.25");
		strcpy(ev->u.ticker.last_price, "699.5");
		strcpy(ev->u.ticker.last_qty, "0.03");
		strcpy(ev->u.ticker.open, "701");
		strcpy(ev->u.ticker.high, "705.1");
		strcpy(ev->u.ticker.low, "690.01");
		strcpy(ev->u.ticker.volume, "10000.5");
		strcpy(ev->u.ticker.quote_volume, "7002500.125");
		ev->u.ticker.open_time = 1699913600000;
		ev->u.ticker.close_time = 1700000000000;
		ev->u.ticker.first_trade_id = 100;
		ev->u.ticker.last_trade_id = 9007199254740993LL;
		ev->u.ticker.trades = 77777;
		break;
	case EV_TRADE:
		ev->flags = EVF_AGG;
		strcpy(ev->u.trade.symbol, "1000PEPEUSDT");
		ev->u.trade.trade_id = 1234567;
		ev->u.trade.first_trade_id = 7000000;
		ev->u.trade.last_trade_id = 7000004;
		strcpy(ev->u.trade.price, "0.0123400");
		strcpy(ev->u.trade.qty, "100000");
		strcpy(ev->u.trade.normal_qty, "99000");
		strcpy(ev->u.trade.order_type, "MARKET");
		ev->u.trade.buyer_maker = true;
		ev->u.trade.time = 1700000000077;
		break;
	case EV_BOOK:
		ev->flags = EVF_PARTIAL;
		strcpy(b->symbol, "BTCUSDT_250926");
		b->last_update_id = 9007199254740993LL;
		b->time = 1700000000100;
		b->depth = 5;
		b->nbids = 3;
		b->nasks = 2;
		b->levels = calloc(5, sizeof(*b->levels));
		for (int i = 0; i < 3; i++) {
			strcpy(b->levels[i].price, bids[i][0]);
			strcpy(b->levels[i].qty, bids[i][1]);
		}
		for (int i = 0; i < 2; i++) {
			strcpy(b->levels[3 + i].price, asks[i][0]);
			strcpy(b->levels[3 + i].qty, asks[i][1]);
		}
		break;
	case EV_BOOK_TICKER:
		strcpy(ev->u.book_ticker.symbol, "BTCUSDT");
		ev->u.book_ticker.update_id = 400900217;
		strcpy(ev->u.book_ticker.bid_price, "25.3519");
		strcpy(ev->u.book_ticker.bid_qty, "31.21");
		strcpy(ev->u.book_ticker.ask_price, "25.3652");
		strcpy(ev->u.book_ticker.ask_qty, "40.66");
		ev->u.book_ticker.time = 1568014460891;
		break;
	case EV_LIQUIDATION:
		strcpy(ev->u.liquidation.symbol, "BTCUSDT");
		strcpy(ev->u.liquidation.side, "SELL");
		strcpy(ev->u.liquidation.order_type, "LIMIT");
		strcpy(ev->u.liquidation.tif, "IOC");
		strcpy(ev->u.liquidation.orig_qty, "0.014");
		strcpy(ev->u.liquidation.price, "9910");
		strcpy(ev->u.liquidation.avg_price, "9910.0");
		strcpy(ev->u.liquidation.status, "FILLED");
		strcpy(ev->u.liquidation.last_qty, "0.014");
		strcpy(ev->u.liquidation.filled_qty, "0.014");
		ev->u.liquidation.time = 1568014460893;
		break;
	}
}

/* An event of each type with every field set to something distinctive. */
static void
sample(struct event *ev, unsigned type)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = 18446744073709551000ull;	/* above INT64_MAX: seq is unsigned */
	ev->type = (uint8_t)type;
	ev->flags = EVF_RESYNC;
	ev->account_id = 42;
	ev->user_id = 9007199254740993LL;	/* 2^53 + 1: not exact as a double */
	strcpy(ev->exchange, "binance-futures");
	ev->event_time = 1700000000123;
	ev->recv_us = 1700000000123456;
	switch (type) {
	case EV_ORDER:
		ev->u.order.order_id = 8886774;
		strcpy(ev->u.order.symbol, "BTCUSDT");
		strcpy(ev->u.order.client_id, "web_\"quoted\"\\back");
		strcpy(ev->u.order.side, "SELL");
		strcpy(ev->u.order.position_side, "BOTH");
		strcpy(ev->u.order.type, "LIMIT");
		strcpy(ev->u.order.orig_type, "LIMIT");
		strcpy(ev->u.order.tif, "GTC");
		strcpy(ev->u.order.exec_type, "TRADE");
		strcpy(ev->u.order.status, "PARTIALLY_FILLED");
		strcpy(ev->u.order.price, "65000.10");
		strcpy(ev->u.order.avg_price, "64999.9");
		strcpy(ev->u.order.stop_price, "0");
		strcpy(ev->u.order.orig_qty, "0.010");
		strcpy(ev->u.order.filled_qty, "0.004");
		ev->u.order.reduce_only = true;
		ev->u.order.update_time = 1700000000100;
		break;
	case EV_FILL:
		ev->flags = EVF_LITE;
		ev->u.fill.trade_id = 123456789;
		ev->u.fill.order_id = 8886774;
		strcpy(ev->u.fill.symbol, "ETHUSDT");
		strcpy(ev->u.fill.side, "BUY");
		strcpy(ev->u.fill.price, "3000.5");
		strcpy(ev->u.fill.qty, "1.25");
		ev->u.fill.maker = true;
		ev->u.fill.time = 1700000000099;
		break;
	case EV_ALGO:
		ev->u.algo.algo_id = 2000000001;
		strcpy(ev->u.algo.client_id, "algo-é-ü");
		strcpy(ev->u.algo.algo_type, "CONDITIONAL");
		strcpy(ev->u.algo.type, "TAKE_PROFIT");
		strcpy(ev->u.algo.symbol, "BNBUSDT");
		strcpy(ev->u.algo.side, "SELL");
		strcpy(ev->u.algo.position_side, "LONG");
		strcpy(ev->u.algo.tif, "GTE_GTC");
		strcpy(ev->u.algo.qty, "0.02");
		strcpy(ev->u.algo.status, "TRIGGERED");
		strcpy(ev->u.algo.actual_order_id, "99887766");
		strcpy(ev->u.algo.avg_price, "0");
		strcpy(ev->u.algo.filled_qty, "0");
		strcpy(ev->u.algo.trigger_price, "700.5");
		strcpy(ev->u.algo.price, "701");
		ev->u.algo.close_position = true;
		strcpy(ev->u.algo.reject_reason, "NONE");
		ev->u.algo.update_time = 1700000000555;
		break;
	case EV_POSITION:
		strcpy(ev->u.position.symbol, "BTCUSDT");
		strcpy(ev->u.position.position_side, "SHORT");
		strcpy(ev->u.position.amount, "-0.004");
		strcpy(ev->u.position.entry_price, "65000.1");
		strcpy(ev->u.position.breakeven_price, "65010.2");
		strcpy(ev->u.position.unrealized_pnl, "-1.23456789");
		strcpy(ev->u.position.margin_type, "isolated");
		strcpy(ev->u.position.isolated_wallet, "12.5");
		strcpy(ev->u.position.margin_asset, "USDT");
		ev->u.position.update_time = 1700000000100;
		break;
	case EV_BALANCE:
		strcpy(ev->u.balance.asset, "USDT");
		strcpy(ev->u.balance.wallet, "10000.12345678");
		strcpy(ev->u.balance.cross_wallet, "9990");
		strcpy(ev->u.balance.change, "-0.5");
		strcpy(ev->u.balance.reason, "ORDER");
		ev->u.balance.update_time = 1700000000100;
		break;
	case EV_MARGIN_CALL:
		strcpy(ev->u.margin_call.cross_wallet, "3.16812045");
		strcpy(ev->u.margin_call.symbol, "ETHUSDT");
		strcpy(ev->u.margin_call.position_side, "LONG");
		strcpy(ev->u.margin_call.amount, "1.327");
		strcpy(ev->u.margin_call.margin_type, "CROSSED");
		strcpy(ev->u.margin_call.isolated_wallet, "0");
		strcpy(ev->u.margin_call.mark_price, "187.17127");
		strcpy(ev->u.margin_call.unrealized_pnl, "-1.166074");
		strcpy(ev->u.margin_call.maint_margin, "1.614445");
		break;
	case EV_CONFIG:
		strcpy(ev->u.config.symbol, "BTCUSDT");
		ev->u.config.leverage = 25;
		ev->u.config.multi_assets = -1;
		ev->u.config.update_time = 1700000000100;
		break;
	case EV_UNKNOWN:
		strcpy(ev->u.unknown.name, "STRATEGY_UPDATE");
		ev->u.unknown.raw = strdup("{\"e\":\"STRATEGY_UPDATE\",\"E\":1}");
		break;
	case EV_GAP:
		ev->u.gap.heal = true;
		ev->u.gap.since = 1700000000000;
		ev->u.gap.at_us = 1700000000999999;
		ev->u.gap.until = 1700000005000;
		strcpy(ev->u.gap.reason, "connection lost");
		break;
	}
	if (EV_IS_MARKET(type))
		sample_market(ev, type);
	ev_make_id(ev);
}

#endif
