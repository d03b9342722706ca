/* rest.c: the Binance REST surface exsim serves: listenKey create,
 * keepalive and close (API key only), the signed USER_DATA snapshot
 * endpoints (v3 balance, v3 account, v2 account with every symbol's
 * position, v3 positionRisk, open and single orders and algo orders,
 * allOrders, allAlgoOrders, userTrades, symbolConfig, multiAssetsMargin),
 * and public time/depth/klines/exchangeInfo, each with its weight. */
#include "exsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum auth { AUTH_NONE, AUTH_KEY, AUTH_SIGNED };

struct route {
	int method;
	const char *path;
	enum auth auth;
	int (*weight)(const struct ex_req *rq);
	void (*fn)(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a);
};

static int
w1(const struct ex_req *rq)
{
	(void)rq;
	return 1;
}

static int
w5(const struct ex_req *rq)
{
	(void)rq;
	return 5;
}

static int
w30(const struct ex_req *rq)
{
	(void)rq;
	return 30;
}

static int
w_open(const struct ex_req *rq)
{
	return req_param(rq, "symbol") ? 1 : 40;
}

static int
depth_limit(const struct ex_req *rq)
{
	const char *l = req_param(rq, "limit");

	return l ? atoi(l) : 500;
}

static int
w_depth(const struct ex_req *rq)
{
	int l = depth_limit(rq);

	if (l <= 50)
		return 2;
	if (l <= 100)
		return 5;
	if (l <= 500)
		return 10;
	return 20;
}

/* GET /fapi/v1/klines weight by limit (default 500): [1,100) 1,
 * [100,500) 2, [500,1000] 5, above 1000 10 (B0 Kline-Candlestick-Data). */
static int
w_klines(const struct ex_req *rq)
{
	const char *s = req_param(rq, "limit");
	long l = s ? atol(s) : 500;

	return l < 100 ? 1 : l < 500 ? 2 : l <= 1000 ? 5 : 10;
}

static int sym_filter_any(const struct ex_req *rq, struct ex_resp *rs, bool required,
    bool market);

/* Optional symbol filter over the accounts' symbols: returns -2 on an
 * unknown symbol (reply set), -1 for no filter, else the index. */
static int
sym_filter(const struct ex_req *rq, struct ex_resp *rs, bool required)
{
	return sym_filter_any(rq, rs, required, false);
}

/* The same over every market symbol when market is set. */
static int
sym_filter_any(const struct ex_req *rq, struct ex_resp *rs, bool required, bool market)
{
	const char *s = req_param(rq, "symbol");
	int i;

	if (!s || !*s) {
		if (required) {
			resp_error(rs, 400, -1102, "Mandatory parameter 'symbol' was not sent, was "
			    "empty/null, or malformed.");
			return -2;
		}
		return -1;
	}
	i = market ? msym_index(s) : sym_index(s);
	if (i < 0) {
		resp_error(rs, 400, -1121, "Invalid symbol.");
		return -2;
	}
	return i;
}

static void
order_rest_json(struct jbuf *jb, const struct ex_order *o)
{
	const struct ex_symbol *s = &ex_symbols[o->sym];

	jb_open(jb, '{');
	jb_kfx(jb, "avgPrice", o->avg, s->price_dec + 2);
	jb_kstr(jb, "clientOrderId", o->cid);
	jb_kfx0(jb, "cumQuote", o->cum_quote, 8);
	jb_kfx0(jb, "executedQty", o->cum_qty, s->qty_dec);
	jb_kint(jb, "orderId", o->id);
	jb_kfx(jb, "origQty", o->qty, s->qty_dec);
	jb_kstr(jb, "origType", name_otype(o->orig_type));
	jb_kfx0(jb, "price", o->price, s->price_dec);
	jb_kbool(jb, "reduceOnly", o->reduce);
	jb_kstr(jb, "side", name_side(o->side));
	jb_kstr(jb, "positionSide", name_ps(o->ps));
	jb_kstr(jb, "status", name_ostatus(o->status));
	jb_kfx0(jb, "stopPrice", o->stop, s->price_dec);
	jb_kbool(jb, "closePosition", o->close_pos);
	jb_kstr(jb, "symbol", s->name);
	jb_kint(jb, "time", o->time_ms);
	jb_kstr(jb, "timeInForce", name_tif(o->tif));
	jb_kstr(jb, "type", name_otype(o->type));
	jb_kint(jb, "updateTime", o->update_ms);
	jb_kstr(jb, "workingType", "CONTRACT_PRICE");
	jb_kbool(jb, "priceProtect", false);
	jb_kstr(jb, "priceMatch", "NONE");
	jb_kstr(jb, "selfTradePreventionMode", name_stp(o->stp));
	jb_kint(jb, "goodTillDate", o->gtd_ms);
	jb_close(jb, '}');
}

/* An algo order as openAlgoOrders, algoOrder and allAlgoOrders give it:
 * the documented keys in the documented order. Unlike ALGO_UPDATE it
 * carries no executed quantity and no reject reason; the TP/SL members
 * of a conditional order are zero, printed with the symbol's decimals. */
static void
algo_rest_json(struct jbuf *jb, const struct ex_algo *g)
{
	const struct ex_symbol *s = &ex_symbols[g->sym];

	jb_open(jb, '{');
	jb_kint(jb, "algoId", g->aid);
	jb_kstr(jb, "clientAlgoId", g->caid);
	uev_json_algo_core(jb, g, &algo_keys_rest);
	jb_kfx(jb, "actualPrice", g->avg, 5);
	jb_kfx(jb, "triggerPrice", g->trigger, s->price_dec);
	jb_kfx(jb, "price", g->price, s->price_dec);
	jb_key(jb, "icebergQuantity");
	jb_puts(jb, "null");
	jb_kfx(jb, "tpTriggerPrice", 0, s->price_dec);
	jb_kfx(jb, "tpPrice", 0, s->price_dec);
	jb_kfx(jb, "slTriggerPrice", 0, s->price_dec);
	jb_kfx(jb, "slPrice", 0, s->price_dec);
	jb_kstr(jb, "tpOrderType", "");
	jb_kstr(jb, "selfTradePreventionMode", "EXPIRE_MAKER");
	jb_kstr(jb, "workingType", "CONTRACT_PRICE");
	jb_kstr(jb, "priceMatch", "NONE");
	jb_kbool(jb, "closePosition", g->close_pos);
	jb_kbool(jb, "priceProtect", false);
	jb_kbool(jb, "reduceOnly", g->reduce);
	jb_kint(jb, "createTime", g->create_ms);
	jb_kint(jb, "updateTime", g->update_ms);
	jb_kint(jb, "triggerTime", g->trigger_ms);
	jb_kint(jb, "goodTillDate", 0);
	jb_close(jb, '}');
}

/* Margin held by the open orders of sym (of position side ps, or of any
 * when ps < 0), how many there are, and, when bid/ask are given, their
 * notionals by side. */
static fx_t
open_orders_of(const struct ex_account *a, int sym, int ps, int *nopen, fx_t *bid, fx_t *ask)
{
	fx_t m = 0;
	int i;

	*nopen = 0;
	for (i = 0; i < a->nopen; i++) {
		const struct ex_order *o = acct_order((struct ex_account *)a, a->open_ids[i]);

		if (o && o->sym == sym && (ps < 0 || o->ps == ps)) {
			m += (o->bid_notional + o->ask_notional) / a->leverage[sym];
			if (bid)
				*bid += o->bid_notional;
			if (ask)
				*ask += o->ask_notional;
			(*nopen)++;
		}
	}
	return m;
}

static fx_t
open_order_margin(const struct ex_account *a, int sym, int *nopen)
{
	return open_orders_of(a, sym, -1, nopen, NULL, NULL);
}

/* The notional cap of the leverage bracket a leverage falls in, as
 * symbolConfig and account v2 print it. */
static int64_t
max_notional(int leverage)
{
	return leverage >= 100 ? 50000 : leverage >= 50 ? 250000 : leverage >= 20 ? 1000000 :
	    10000000;
}

struct margins {
	fx_t cross_up, pos_im, order_im, maint, up;
};

static void
account_margins(const struct ex_account *a, struct margins *m)
{
	int s, ps, n;

	memset(m, 0, sizeof(*m));
	for (s = 0; s < EX_NSYM; s++) {
		m->order_im += open_order_margin(a, s, &n);
		for (ps = 0; ps < 3; ps++) {
			const struct ex_position *p = &a->pos[s][ps];
			fx_t up, notional;

			if (!p->amt)
				continue;
			up = acct_unrealized(a, s, ps);
			notional = fx_mul(fx_abs(p->amt), engine_price(s));
			m->up += up;
			if (!p->isolated)
				m->cross_up += up;
			m->pos_im += notional / a->leverage[s];
			m->maint += fx_mul(notional, EX_MAINT_RATE);
		}
	}
}

static fx_t
available(const struct ex_account *a, const struct margins *m)
{
	fx_t v = a->bal[0].cw + m->cross_up - m->pos_im - m->order_im;

	return v > 0 ? v : 0;
}

static void
alias(const struct ex_account *a, char out[5])
{
	memcpy(out, a->api_key + 10, 4);
	out[4] = '\0';
}

static void
r_time(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	jb_printf(&rs->body, "{\"serverTime\":%lld}", (long long)ex_now_ms());
}

static void
r_exchange_info(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	struct jbuf *jb = &rs->body;
	int i;

	jb_open(jb, '{');
	jb_kstr(jb, "timezone", "UTC");
	jb_kint(jb, "serverTime", ex_now_ms());
	jb_kstr(jb, "futuresType", "U_MARGINED");
	jb_kopen(jb, "rateLimits", '[');
	jb_printf(jb, "{\"rateLimitType\":\"REQUEST_WEIGHT\",\"interval\":\"MINUTE\","
	    "\"intervalNum\":1,\"limit\":%d},", ex.cfg.weight_limit);
	jb_puts(jb, "{\"rateLimitType\":\"ORDERS\",\"interval\":\"MINUTE\",\"intervalNum\":1,"
	    "\"limit\":1200},{\"rateLimitType\":\"ORDERS\",\"interval\":\"SECOND\","
	    "\"intervalNum\":10,\"limit\":300}");
	jb_close(jb, ']');
	jb_kopen(jb, "exchangeFilters", '[');
	jb_close(jb, ']');
	jb_kopen(jb, "assets", '[');
	for (i = 0; i < EX_NASSET; i++) {
		jb_open(jb, '{');
		jb_kstr(jb, "asset", ex_assets[i]);
		jb_kbool(jb, "marginAvailable", true);
		jb_kstr(jb, "autoAssetExchange", i ? "0" : "-10000");
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	jb_kopen(jb, "symbols", '[');
	for (i = 0; i <= ex_nsym; i++) {
		/* every market symbol TRADING, then one being delisted */
		const struct ex_symbol *s = i < ex_nsym ? &ex_symbols[i] : &ex_settling_symbol;
		char base[16];

		snprintf(base, sizeof(base), "%.*s", (int)strlen(s->name) - 4, s->name);
		jb_open(jb, '{');
		jb_kstr(jb, "symbol", s->name);
		jb_kstr(jb, "pair", s->name);
		jb_kstr(jb, "contractType", "PERPETUAL");
		jb_kint(jb, "deliveryDate", 4133404800000LL);
		jb_kint(jb, "onboardDate", 1569398400000LL);
		jb_kstr(jb, "status", i < ex_nsym ? "TRADING" : "SETTLING");
		jb_kstr(jb, "maintMarginPercent", "2.5000");
		jb_kstr(jb, "requiredMarginPercent", "5.0000");
		jb_kstr(jb, "baseAsset", base);
		jb_kstr(jb, "quoteAsset", "USDT");
		jb_kstr(jb, "marginAsset", "USDT");
		jb_kint(jb, "pricePrecision", s->price_dec);
		jb_kint(jb, "quantityPrecision", s->qty_dec);
		jb_kint(jb, "baseAssetPrecision", 8);
		jb_kint(jb, "quotePrecision", 8);
		jb_kstr(jb, "underlyingType", "COIN");
		jb_kopen(jb, "underlyingSubType", '[');
		jb_close(jb, ']');
		jb_kstr(jb, "triggerProtect", "0.0500");
		jb_kstr(jb, "liquidationFee", "0.012500");
		jb_kstr(jb, "marketTakeBound", "0.05");
		jb_kint(jb, "maxMoveOrderLimit", 10000);
		jb_kopen(jb, "filters", '[');
		jb_open(jb, '{');
		jb_kstr(jb, "filterType", "PRICE_FILTER");
		jb_kfx(jb, "minPrice", s->tick, s->price_dec);
		jb_kfx(jb, "maxPrice", s->start_price * 100, s->price_dec);
		jb_kfx(jb, "tickSize", s->tick, s->price_dec);
		jb_close(jb, '}');
		jb_open(jb, '{');
		jb_kstr(jb, "filterType", "LOT_SIZE");
		jb_kfx(jb, "minQty", s->step, s->qty_dec);
		jb_kfx(jb, "maxQty", s->typical_qty * 100000, s->qty_dec);
		jb_kfx(jb, "stepSize", s->step, s->qty_dec);
		jb_close(jb, '}');
		jb_open(jb, '{');
		jb_kstr(jb, "filterType", "MARKET_LOT_SIZE");
		jb_kfx(jb, "minQty", s->step, s->qty_dec);
		jb_kfx(jb, "maxQty", s->typical_qty * 10000, s->qty_dec);
		jb_kfx(jb, "stepSize", s->step, s->qty_dec);
		jb_close(jb, '}');
		jb_puts(jb, ",{\"filterType\":\"MAX_NUM_ORDERS\",\"limit\":200},"
		    "{\"filterType\":\"MAX_NUM_ALGO_ORDERS\",\"limit\":10},"
		    "{\"filterType\":\"MIN_NOTIONAL\",\"notional\":\"5\"},"
		    "{\"filterType\":\"PERCENT_PRICE\",\"multiplierUp\":\"1.0500\","
		    "\"multiplierDown\":\"0.9500\",\"multiplierDecimal\":\"4\"}");
		jb_close(jb, ']');
		jb_kopen(jb, "orderTypes", '[');
		jb_puts(jb, "\"LIMIT\",\"MARKET\",\"STOP\",\"STOP_MARKET\",\"TAKE_PROFIT\","
		    "\"TAKE_PROFIT_MARKET\",\"TRAILING_STOP_MARKET\"");
		jb_close(jb, ']');
		jb_kopen(jb, "timeInForce", '[');
		jb_puts(jb, "\"GTC\",\"IOC\",\"FOK\",\"GTX\",\"GTD\"");
		jb_close(jb, ']');
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	jb_close(jb, '}');
}

static void
r_depth(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	int sym = sym_filter_any(rq, rs, true, true), l = depth_limit(rq);

	if (sym == -2)
		return;
	if (l != 5 && l != 10 && l != 20 && l != 50 && l != 100 && l != 500 && l != 1000) {
		resp_error(rs, 400, -1130, "Data sent for parameter 'limit' is not valid.");
		return;
	}
	market_json_depth(&rs->body, sym, l);
}

/* Parse an optional int64 parameter; -1 when absent. Returns -1 (reply
 * set) when malformed. */
static int
int_param(const struct ex_req *rq, struct ex_resp *rs, const char *name, int64_t *v)
{
	const char *s = req_param(rq, name);
	char *end, msg[128];

	*v = -1;
	if (!s)
		return 0;
	*v = strtoll(s, &end, 10);
	if (!*s || *end || *v < 0) {
		snprintf(msg, sizeof(msg), "Illegal characters found in parameter '%s'; legal range "
		    "is '^[0-9]{1,20}$'.", name);
		resp_error(rs, 400, -1100, msg);
		return -1;
	}
	return 0;
}

/* GET /fapi/v1/klines (and /sim/klines, with max_limit the whole kept
 * history): symbol, interval, optional startTime/endTime (open times, ms)
 * and limit (default 500, max 1500). Errors as the exchange words them:
 * -1102 missing parameter, -1121 invalid symbol, -1120 invalid interval,
 * -1130 bad limit, -1023 start after end. */
void
rest_klines(struct ex_req *rq, struct ex_resp *rs, int def_limit, int max_limit)
{
	int sym = sym_filter_any(rq, rs, true, true), iv;
	const char *ivs = req_param(rq, "interval");
	int64_t start, end, limit;

	if (sym == -2)
		return;
	if (!ivs || !*ivs) {
		resp_error(rs, 400, -1102, "Mandatory parameter 'interval' was not sent, was "
		    "empty/null, or malformed.");
		return;
	}
	if ((iv = market_interval(ivs)) < 0) {
		resp_error(rs, 400, -1120, "Invalid interval.");
		return;
	}
	if (int_param(rq, rs, "startTime", &start) < 0 || int_param(rq, rs, "endTime", &end) < 0 ||
	    int_param(rq, rs, "limit", &limit) < 0)
		return;
	if (limit < 0)
		limit = def_limit;
	if (limit < 1 || limit > max_limit) {
		resp_error(rs, 400, -1130, "Data sent for parameter 'limit' is not valid.");
		return;
	}
	if (start >= 0 && end >= 0 && start > end) {
		resp_error(rs, 400, -1023, "Start time is greater than end time.");
		return;
	}
	market_json_klines(&rs->body, sym, iv, start, end, (int)limit);
}

static void
r_klines(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	rest_klines(rq, rs, 500, 1500);
}

static void
r_listen_key(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	const char *key = req_param(rq, "listenKey");

	if (rq->method == LWSHUMETH_POST) {
		jb_open(&rs->body, '{');
		jb_kstr(&rs->body, "listenKey", acct_listen_key_create(a));
		jb_close(&rs->body, '}');
	} else if (rq->method == LWSHUMETH_PUT) {
		if (acct_listen_key_keepalive(a, key) < 0) {
			resp_error(rs, 400, -1125, "This listenKey does not exist.");
			return;
		}
		jb_open(&rs->body, '{');
		jb_kstr(&rs->body, "listenKey", a->listen_key);
		jb_close(&rs->body, '}');
	} else {
		if (acct_listen_key_close(a, key) < 0) {
			resp_error(rs, 400, -1125, "This listenKey does not exist.");
			return;
		}
		jb_puts(&rs->body, "{}");
	}
}

static void
r_balance(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	struct jbuf *jb = &rs->body;
	struct margins m;
	char al[5];
	int i;

	account_margins(a, &m);
	alias(a, al);
	jb_open(jb, '[');
	for (i = 0; i < EX_NASSET; i++) {
		fx_t cup = i ? 0 : m.cross_up, av = i ? a->bal[i].cw : available(a, &m);

		jb_open(jb, '{');
		jb_kstr(jb, "accountAlias", al);
		jb_kstr(jb, "asset", ex_assets[i]);
		jb_kfx(jb, "balance", a->bal[i].wb, 8);
		jb_kfx(jb, "crossWalletBalance", a->bal[i].cw, 8);
		jb_kfx(jb, "crossUnPnl", cup, 8);
		jb_kfx(jb, "availableBalance", av, 8);
		jb_kfx(jb, "maxWithdrawAmount", av, 8);
		jb_kbool(jb, "marginAvailable", true);
		jb_kint(jb, "updateTime", a->bal[i].update_ms);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
}

/* The totals and assets[] that account v2 and v3 share; v2's assets also
 * say whether each can serve as margin. */
static void
account_totals_assets(struct jbuf *jb, const struct ex_account *a, const struct margins *m,
    bool margin_available)
{
	fx_t av = available(a, m);
	int i;

	jb_kfx(jb, "totalInitialMargin", m->pos_im + m->order_im, 8);
	jb_kfx(jb, "totalMaintMargin", m->maint, 8);
	jb_kfx(jb, "totalWalletBalance", a->bal[0].wb, 8);
	jb_kfx(jb, "totalUnrealizedProfit", m->up, 8);
	jb_kfx(jb, "totalMarginBalance", a->bal[0].wb + m->up, 8);
	jb_kfx(jb, "totalPositionInitialMargin", m->pos_im, 8);
	jb_kfx(jb, "totalOpenOrderInitialMargin", m->order_im, 8);
	jb_kfx(jb, "totalCrossWalletBalance", a->bal[0].cw, 8);
	jb_kfx(jb, "totalCrossUnPnl", m->cross_up, 8);
	jb_kfx(jb, "availableBalance", av, 8);
	jb_kfx(jb, "maxWithdrawAmount", av, 8);
	jb_kopen(jb, "assets", '[');
	for (i = 0; i < EX_NASSET; i++) {
		fx_t up = i ? 0 : m->up, cup = i ? 0 : m->cross_up;
		fx_t a_av = i ? a->bal[i].cw : av;

		jb_open(jb, '{');
		jb_kstr(jb, "asset", ex_assets[i]);
		jb_kfx(jb, "walletBalance", a->bal[i].wb, 8);
		jb_kfx(jb, "unrealizedProfit", up, 8);
		jb_kfx(jb, "marginBalance", a->bal[i].wb + up, 8);
		jb_kfx(jb, "maintMargin", i ? 0 : m->maint, 8);
		jb_kfx(jb, "initialMargin", i ? 0 : m->pos_im + m->order_im, 8);
		jb_kfx(jb, "positionInitialMargin", i ? 0 : m->pos_im, 8);
		jb_kfx(jb, "openOrderInitialMargin", i ? 0 : m->order_im, 8);
		jb_kfx(jb, "crossWalletBalance", a->bal[i].cw, 8);
		jb_kfx(jb, "crossUnPnl", cup, 8);
		jb_kfx(jb, "availableBalance", a_av, 8);
		jb_kfx(jb, "maxWithdrawAmount", a_av, 8);
		if (margin_available)
			jb_kbool(jb, "marginAvailable", true);
		jb_kint(jb, "updateTime", a->bal[i].update_ms);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
}

/* GET /fapi/v3/account: positions only where there is one. */
static void
r_account(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	struct jbuf *jb = &rs->body;
	struct margins m;
	int s, ps;

	account_margins(a, &m);
	jb_open(jb, '{');
	account_totals_assets(jb, a, &m, false);
	jb_kopen(jb, "positions", '[');
	for (s = 0; s < EX_NSYM; s++)
		for (ps = 0; ps < 3; ps++) {
			const struct ex_position *p = &a->pos[s][ps];
			const struct ex_symbol *sy = &ex_symbols[s];
			fx_t notional, up;

			if (!p->amt)
				continue;
			up = acct_unrealized(a, s, ps);
			notional = fx_mul(p->amt, engine_price(s));
			jb_open(jb, '{');
			jb_kstr(jb, "symbol", sy->name);
			jb_kstr(jb, "positionSide", name_ps(ps));
			jb_kfx(jb, "positionAmt", p->amt, sy->qty_dec);
			jb_kfx(jb, "unrealizedProfit", up, 8);
			jb_kfx(jb, "isolatedMargin", p->isolated ? p->iw + up : 0, 8);
			jb_kfx(jb, "notional", notional, 8);
			jb_kfx(jb, "isolatedWallet", p->iw, 8);
			jb_kfx(jb, "initialMargin", fx_abs(notional) / a->leverage[s], 8);
			jb_kfx(jb, "maintMargin", fx_mul(fx_abs(notional), EX_MAINT_RATE), 8);
			jb_kint(jb, "updateTime", p->update_ms);
			jb_close(jb, '}');
		}
	jb_close(jb, ']');
	jb_close(jb, '}');
}

/*
 * GET /fapi/v2/account: the v3 totals and assets behind the account's
 * flags, and a row for every symbol of the exchange (BOTH in one-way mode,
 * LONG and SHORT in hedge mode), flat or not. A row's updateTime is the T
 * of the last ACCOUNT_UPDATE that listed the position (any fill, margin
 * type change, isolated margin transfer, funding on isolated), 0 if none.
 */
static void
r_account_v2(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	struct jbuf *jb = &rs->body;
	struct margins m;
	int s, ps, n;

	account_margins(a, &m);
	jb_open(jb, '{');
	jb_kint(jb, "feeTier", 0);
	jb_kbool(jb, "feeBurn", a->bnb_fees);
	jb_kbool(jb, "canTrade", true);
	jb_kbool(jb, "canDeposit", true);
	jb_kbool(jb, "canWithdraw", true);
	jb_kint(jb, "updateTime", 0); /* "reserved property" */
	jb_kbool(jb, "multiAssetsMargin", a->multi_assets);
	jb_kint(jb, "tradeGroupId", -1);
	account_totals_assets(jb, a, &m, true);
	jb_kopen(jb, "positions", '[');
	for (s = 0; s < EX_NSYM; s++) {
		const struct ex_symbol *sy = &ex_symbols[s];
		int edec = sy->price_dec + 3 > 8 ? 8 : sy->price_dec + 3;

		for (ps = a->hedge ? PS_LONG : PS_BOTH; ps <= (a->hedge ? PS_SHORT : PS_BOTH); ps++) {
			const struct ex_position *p = &a->pos[s][ps];
			fx_t bid = 0, ask = 0, oim = open_orders_of(a, s, ps, &n, &bid, &ask);
			fx_t notional = fx_mul(fx_abs(p->amt), engine_price(s));
			fx_t im = notional / a->leverage[s];

			jb_open(jb, '{');
			jb_kstr(jb, "symbol", sy->name);
			jb_kfx0(jb, "initialMargin", im + oim, 8);
			jb_kfx0(jb, "maintMargin", fx_mul(notional, EX_MAINT_RATE), 8);
			jb_kfx(jb, "unrealizedProfit", acct_unrealized(a, s, ps), 8);
			jb_kfx0(jb, "positionInitialMargin", im, 8);
			jb_kfx0(jb, "openOrderInitialMargin", oim, 8);
			jb_printf(jb, ",\"leverage\":\"%d\"", a->leverage[s]);
			jb_kbool(jb, "isolated", p->isolated);
			jb_kfx(jb, "entryPrice", p->entry, edec);
			jb_printf(jb, ",\"maxNotional\":\"%lld\"",
			    (long long)max_notional(a->leverage[s]));
			jb_kfx0(jb, "bidNotional", bid, 8);
			jb_kfx0(jb, "askNotional", ask, 8);
			jb_kstr(jb, "positionSide", name_ps(ps));
			jb_kfx0(jb, "positionAmt", p->amt, sy->qty_dec);
			jb_kint(jb, "updateTime", p->update_ms);
			jb_close(jb, '}');
		}
	}
	jb_close(jb, ']');
	jb_close(jb, '}');
}

static void
r_position_risk(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	struct jbuf *jb = &rs->body;
	int only = sym_filter(rq, rs, false), s, ps;

	if (only == -2)
		return;
	jb_open(jb, '[');
	for (s = 0; s < EX_NSYM; s++) {
		const struct ex_symbol *sy = &ex_symbols[s];
		int nopen;
		fx_t oim = open_order_margin(a, s, &nopen);
		bool any = nopen > 0;

		if (only >= 0 && s != only)
			continue;
		for (ps = 0; ps < 3; ps++)
			any |= a->pos[s][ps].amt != 0;
		/* only symbols with a position or open orders are listed (MX) */
		if (!any)
			continue;
		for (ps = a->hedge ? PS_LONG : PS_BOTH; ps <= (a->hedge ? PS_SHORT : PS_BOTH); ps++) {
			const struct ex_position *p = &a->pos[s][ps];
			fx_t mark = engine_price(s), up = acct_unrealized(a, s, ps);
			fx_t notional = fx_mul(p->amt, mark), im = fx_abs(notional) / a->leverage[s];
			fx_t bep = p->amt > 0 ? p->entry + fx_mul(p->entry, 100000) :
			    p->amt < 0 ? p->entry - fx_mul(p->entry, 100000) : 0;

			jb_open(jb, '{');
			jb_kstr(jb, "symbol", sy->name);
			jb_kstr(jb, "positionSide", name_ps(ps));
			jb_kfx(jb, "positionAmt", p->amt, sy->qty_dec);
			jb_kfx(jb, "entryPrice", p->entry, sy->price_dec + 3 > 8 ? 8 : sy->price_dec + 3);
			jb_kfx(jb, "breakEvenPrice", bep, 8);
			jb_kfx(jb, "markPrice", mark, 8);
			jb_kfx(jb, "unRealizedProfit", up, 8);
			jb_kfx0(jb, "liquidationPrice", acct_liq_price(a, s, ps), 8);
			jb_kfx(jb, "isolatedMargin", p->isolated ? p->iw + up : 0, 8);
			jb_kfx(jb, "notional", notional, 8);
			jb_kstr(jb, "marginAsset", "USDT");
			jb_kfx(jb, "isolatedWallet", p->iw, 8);
			jb_kfx(jb, "initialMargin", im + oim, 8);
			jb_kfx(jb, "maintMargin", fx_mul(fx_abs(notional), EX_MAINT_RATE), 8);
			jb_kfx(jb, "positionInitialMargin", im, 8);
			jb_kfx(jb, "openOrderInitialMargin", oim, 8);
			jb_kint(jb, "adl", p->amt ? 2 : 0);
			jb_kfx0(jb, "bidNotional", 0, 8);
			jb_kfx0(jb, "askNotional", 0, 8);
			jb_kint(jb, "updateTime", p->update_ms);
			jb_close(jb, '}');
		}
	}
	jb_close(jb, ']');
}

static void
r_open_orders(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	int only = sym_filter(rq, rs, false);
	size_t i;

	if (only == -2)
		return;
	jb_open(&rs->body, '[');
	/* walk the id-ordered vector so the answer is in orderId order */
	for (i = 0; i < a->norders; i++) {
		const struct ex_order *o = &a->orders[i];

		if (o->status != OS_NEW && o->status != OS_PARTIALLY_FILLED)
			continue;
		if (only >= 0 && o->sym != only)
			continue;
		order_rest_json(&rs->body, o);
	}
	jb_close(&rs->body, ']');
}

static void
r_open_algo_orders(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	int only = sym_filter(rq, rs, false);
	size_t i;

	if (only == -2)
		return;
	jb_open(&rs->body, '[');
	for (i = 0; i < a->nalgos; i++) {
		const struct ex_algo *g = &a->algos[i];

		if (g->status != AS_NEW && g->status != AS_TRIGGERING)
			continue;
		if (only >= 0 && g->sym != only)
			continue;
		algo_rest_json(&rs->body, g);
	}
	jb_close(&rs->body, ']');
}

#define DAY_MS (24LL * 3600 * 1000)
#define WINDOW_MS (7 * DAY_MS) /* the longest startTime..endTime span, exclusive */

/*
 * What the history endpoints still find (All-Orders, Query-Order,
 * Query-All-Algo-Orders, Query-Algo-Order, Account-Trade-List): an order
 * cancelled or expired with nothing filled is gone 3 days after its
 * creation, any order 90 days after, a trade 6 months (taken as 180 days)
 * after. EXPIRED_IN_MATCH counts as expired. The spans shrink by
 * --time-scale like the exchange's other durations, so tests can watch
 * rows go; the query windows below are the client's own times and do not.
 */
static bool
order_kept(const struct ex_order *o, int64_t now)
{
	int64_t age = now - o->time_ms;
	bool dead = (o->status == OS_CANCELED || o->status == OS_EXPIRED ||
	    o->status == OS_EXPIRED_IN_MATCH) && o->cum_qty == 0;

	if (age > ex_scaled_ms(90 * DAY_MS))
		return false;
	return !dead || age <= ex_scaled_ms(3 * DAY_MS);
}

static bool
algo_kept(const struct ex_algo *g, int64_t now)
{
	int64_t age = now - g->create_ms;
	bool dead = (g->status == AS_CANCELED || g->status == AS_EXPIRED) && g->filled == 0;

	if (age > ex_scaled_ms(90 * DAY_MS))
		return false;
	return !dead || age <= ex_scaled_ms(3 * DAY_MS);
}

static bool
fill_kept(const struct ex_fill *f, int64_t now)
{
	return now - f->time_ms <= ex_scaled_ms(180 * DAY_MS);
}

static void
r_order(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	int sym = sym_filter(rq, rs, true);
	const char *oid = req_param(rq, "orderId"), *cid = req_param(rq, "origClientOrderId");
	const struct ex_order *o = NULL;
	size_t i;

	if (sym == -2)
		return;
	if (!oid && !cid) {
		resp_error(rs, 400, -1102, "Param 'orderId' or 'origClientOrderId' must be sent, "
		    "but both were empty/null!");
		return;
	}
	if (oid) {
		o = acct_order(a, strtoll(oid, NULL, 10));
	} else {
		for (i = a->norders; i-- > 0;)
			if (!strcmp(a->orders[i].cid, cid)) {
				o = &a->orders[i];
				break;
			}
	}
	if (!o || o->sym != sym || !order_kept(o, ex_now_ms())) {
		resp_error(rs, 400, -2013, "Order does not exist.");
		return;
	}
	order_rest_json(&rs->body, o);
}

static int
limit_param(const struct ex_req *rq)
{
	const char *l = req_param(rq, "limit");
	int n = l ? atoi(l) : 500;

	return n < 1 ? 1 : n > 1000 ? 1000 : n;
}

/*
 * The history lists (allOrders, allAlgoOrders, userTrades). From an id
 * (orderId, algoId, fromId) the rows with an id at least that, ascending;
 * else the most recent `limit`, oldest first. Time bounds: both given, a
 * span under 7 days; startTime alone, the 7 days from it; endTime alone,
 * the 7 days up to it; neither, the last 7 days, unless an id is given.
 * userTrades refuses an id together with a time. A row function says
 * whether row i is kept and in the symbol (and, for trades, the order)
 * asked for, and gives its id and time.
 */
struct hist_query {
	int	 sym;
	int64_t	 ordid;
	int64_t	 now;
};
typedef int (*hist_row_fn)(const struct ex_account *, size_t i, const struct hist_query *,
    int64_t *id, int64_t *time_ms);
typedef void (*hist_emit_fn)(struct jbuf *, const struct ex_account *, size_t i);

static void
hist_list(struct ex_req *rq, struct ex_resp *rs, const struct ex_account *a,
    const char *from_param, bool trades, size_t nrows, hist_row_fn row, hist_emit_fn emit)
{
	int lim = limit_param(rq), n = 0;
	const char *from = req_param(rq, from_param), *oid = req_param(rq, "orderId");
	const char *st = req_param(rq, "startTime"), *et = req_param(rq, "endTime");
	int64_t fromid = from ? strtoll(from, NULL, 10) : 0;
	int64_t t0 = st ? strtoll(st, NULL, 10) : 0, t1 = et ? strtoll(et, NULL, 10) : 0;
	int64_t id, t;
	struct hist_query q;
	size_t i, first = 0;

	q.sym = sym_filter(rq, rs, true);
	q.ordid = oid ? strtoll(oid, NULL, 10) : 0;
	q.now = ex_now_ms();
	if (q.sym == -2)
		return;
	if (trades && from && (st || et)) {
		resp_error(rs, 400, -1128, "Combination of optional parameters invalid.");
		return;
	}
	if (st && et && t0 > t1) {
		resp_error(rs, 400, -1023, "Start time is greater than end time.");
		return;
	}
	/* unsigned: any pair strtoll gives, however far apart, compares */
	if (st && et && (uint64_t)t1 - (uint64_t)t0 >= (uint64_t)WINDOW_MS) {
		resp_error(rs, 400, -1127, "More than 168 hours between startTime and endTime.");
		return;
	}
	if (st && !et) {
		t1 = t0 > INT64_MAX - WINDOW_MS ? INT64_MAX : t0 + WINDOW_MS - 1;
	} else if (et && !st) {
		t0 = t1 < INT64_MIN + WINDOW_MS ? INT64_MIN : t1 - WINDOW_MS + 1;
	} else if (!st && !et && !from) {
		t1 = q.now;
		t0 = q.now - WINDOW_MS + 1;
	} else if (!st && !et) {
		t0 = INT64_MIN;
		t1 = INT64_MAX;
	}
	if (!from) {
		for (i = nrows; i-- > 0 && n < lim;)
			if (row(a, i, &q, &id, &t) && t >= t0 && t <= t1) {
				first = i;
				n++;
			}
		n = 0;
	}
	jb_open(&rs->body, '[');
	for (i = first; i < nrows && n < lim; i++) {
		/* a symbol's ids grow with time: from an id the rows ascend by id */
		if (!row(a, i, &q, &id, &t) || id < fromid || t < t0 || t > t1)
			continue;
		emit(&rs->body, a, i);
		n++;
	}
	jb_close(&rs->body, ']');
}

/* allOrders: orderId is where the list starts. */
static int
order_row(const struct ex_account *a, size_t i, const struct hist_query *q, int64_t *id,
    int64_t *time_ms)
{
	*id = a->orders[i].id;
	*time_ms = a->orders[i].time_ms;
	return a->orders[i].sym == q->sym && order_kept(&a->orders[i], q->now);
}

static void
order_emit(struct jbuf *jb, const struct ex_account *a, size_t i)
{
	order_rest_json(jb, &a->orders[i]);
}

static void
r_all_orders(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	hist_list(rq, rs, a, "orderId", false, a->norders, order_row, order_emit);
}

/* userTrades: fromId is where the list starts, orderId a filter. */
static int
fill_row(const struct ex_account *a, size_t i, const struct hist_query *q, int64_t *id,
    int64_t *time_ms)
{
	const struct ex_fill *f = &a->fills[i];

	*id = f->tid;
	*time_ms = f->time_ms;
	return f->sym == q->sym && (!q->ordid || f->oid == q->ordid) && fill_kept(f, q->now);
}

static void
fill_emit(struct jbuf *jb, const struct ex_account *a, size_t i)
{
	const struct ex_fill *f = &a->fills[i];
	const struct ex_symbol *s = &ex_symbols[f->sym];

	jb_open(jb, '{');
	jb_kbool(jb, "buyer", f->side == SIDE_BUY);
	jb_kfx(jb, "commission", f->fee, 8);
	jb_kstr(jb, "commissionAsset", ex_assets[f->fee_asset]);
	jb_kint(jb, "id", f->tid);
	jb_kbool(jb, "maker", f->maker);
	jb_kint(jb, "orderId", f->oid);
	jb_kfx(jb, "price", f->price, s->price_dec);
	jb_kfx(jb, "qty", f->qty, s->qty_dec);
	jb_kfx(jb, "quoteQty", fx_mul(f->qty, f->price), 8);
	jb_kfx(jb, "realizedPnl", f->rp, 8);
	jb_kstr(jb, "side", name_side(f->side));
	jb_kstr(jb, "positionSide", name_ps(f->ps));
	jb_kstr(jb, "symbol", s->name);
	jb_kint(jb, "time", f->time_ms);
	jb_close(jb, '}');
}

static void
r_user_trades(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	hist_list(rq, rs, a, "fromId", true, a->nfills, fill_row, fill_emit);
}

/* GET /fapi/v1/symbolConfig: margin type and leverage of every symbol,
 * or of one. */
static void
r_symbol_config(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	struct jbuf *jb = &rs->body;
	int only = sym_filter(rq, rs, false), s;

	if (only == -2)
		return;
	jb_open(jb, '[');
	for (s = 0; s < EX_NSYM; s++) {
		int64_t cap = max_notional(a->leverage[s]);

		if (only >= 0 && s != only)
			continue;
		jb_open(jb, '{');
		jb_kstr(jb, "symbol", ex_symbols[s].name);
		jb_kstr(jb, "marginType", a->pos[s][a->hedge ? PS_LONG : PS_BOTH].isolated ?
		    "ISOLATED" : "CROSSED");
		jb_kbool(jb, "isAutoAddMargin", false);
		jb_kint(jb, "leverage", a->leverage[s]);
		jb_printf(jb, ",\"maxNotionalValue\":\"%lld\"", (long long)cap);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
}

/* GET /fapi/v1/multiAssetsMargin */
static void
r_multi_assets(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	jb_printf(&rs->body, "{\"multiAssetsMargin\":%s}", a->multi_assets ? "true" : "false");
}

/* GET /fapi/v1/algoOrder: one algo order by algoId or clientAlgoId,
 * finished ones included while the history keeps them. */
static void
r_algo_order(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	const char *aid = req_param(rq, "algoId"), *caid = req_param(rq, "clientAlgoId");
	const struct ex_algo *g = NULL;
	size_t i;

	if (!aid && !caid) {
		resp_error(rs, 400, -1102, "Param 'algoId' or 'clientAlgoId' must be sent, "
		    "but both were empty/null!");
		return;
	}
	if (aid) {
		g = acct_algo(a, strtoll(aid, NULL, 10));
	} else {
		for (i = a->nalgos; i-- > 0;)
			if (!strcmp(a->algos[i].caid, caid)) {
				g = &a->algos[i];
				break;
			}
	}
	if (!g || !algo_kept(g, ex_now_ms())) {
		resp_error(rs, 400, -2013, "Order does not exist.");
		return;
	}
	algo_rest_json(&rs->body, g);
}

/* GET /fapi/v1/allAlgoOrders: a symbol's algo orders, finished ones
 * included; algoId is where the list starts, the time bounds apply to
 * creation. */
static int
algo_row(const struct ex_account *a, size_t i, const struct hist_query *q, int64_t *id,
    int64_t *time_ms)
{
	*id = a->algos[i].aid;
	*time_ms = a->algos[i].create_ms;
	return a->algos[i].sym == q->sym && algo_kept(&a->algos[i], q->now);
}

static void
algo_emit(struct jbuf *jb, const struct ex_account *a, size_t i)
{
	algo_rest_json(jb, &a->algos[i]);
}

static void
r_all_algo_orders(struct ex_req *rq, struct ex_resp *rs, struct ex_account *a)
{
	hist_list(rq, rs, a, "algoId", false, a->nalgos, algo_row, algo_emit);
}

static const struct route routes[] = {
	{ LWSHUMETH_GET, "/fapi/v1/time", AUTH_NONE, w1, r_time },
	{ LWSHUMETH_GET, "/fapi/v1/exchangeInfo", AUTH_NONE, w1, r_exchange_info },
	{ LWSHUMETH_GET, "/fapi/v1/depth", AUTH_NONE, w_depth, r_depth },
	{ LWSHUMETH_GET, "/fapi/v1/klines", AUTH_NONE, w_klines, r_klines },
	{ LWSHUMETH_POST, "/fapi/v1/listenKey", AUTH_KEY, w1, r_listen_key },
	{ LWSHUMETH_PUT, "/fapi/v1/listenKey", AUTH_KEY, w1, r_listen_key },
	{ LWSHUMETH_DELETE, "/fapi/v1/listenKey", AUTH_KEY, w1, r_listen_key },
	{ LWSHUMETH_GET, "/fapi/v3/balance", AUTH_SIGNED, w5, r_balance },
	{ LWSHUMETH_GET, "/fapi/v2/account", AUTH_SIGNED, w5, r_account_v2 },
	{ LWSHUMETH_GET, "/fapi/v3/account", AUTH_SIGNED, w5, r_account },
	{ LWSHUMETH_GET, "/fapi/v3/positionRisk", AUTH_SIGNED, w5, r_position_risk },
	{ LWSHUMETH_GET, "/fapi/v1/openOrders", AUTH_SIGNED, w_open, r_open_orders },
	{ LWSHUMETH_GET, "/fapi/v1/openAlgoOrders", AUTH_SIGNED, w_open, r_open_algo_orders },
	{ LWSHUMETH_GET, "/fapi/v1/order", AUTH_SIGNED, w1, r_order },
	{ LWSHUMETH_GET, "/fapi/v1/allOrders", AUTH_SIGNED, w5, r_all_orders },
	{ LWSHUMETH_GET, "/fapi/v1/userTrades", AUTH_SIGNED, w5, r_user_trades },
	{ LWSHUMETH_GET, "/fapi/v1/symbolConfig", AUTH_SIGNED, w5, r_symbol_config },
	{ LWSHUMETH_GET, "/fapi/v1/multiAssetsMargin", AUTH_SIGNED, w30, r_multi_assets },
	{ LWSHUMETH_GET, "/fapi/v1/algoOrder", AUTH_SIGNED, w1, r_algo_order },
	{ LWSHUMETH_GET, "/fapi/v1/allAlgoOrders", AUTH_SIGNED, w5, r_all_algo_orders },
};

static struct ex_account *
auth_key(struct ex_req *rq, struct ex_resp *rs)
{
	struct ex_account *a;

	if (!rq->has_api_key || !*rq->api_key) {
		resp_error(rs, 401, -2014, "API-key format invalid.");
		return NULL;
	}
	a = acct_by_api_key(rq->api_key);
	if (a && a->revoked)
		a->rejected++;
	if (!a || a->revoked) {
		resp_error(rs, 401, -2015, "Invalid API-key, IP, or permissions for action.");
		return NULL;
	}
	return a;
}

/* The signed payload is the query string plus the body with the
 * signature parameter taken out. */
static void
strip_signature(struct jbuf *out, const char *s)
{
	const char *p = s;

	while (p && *p) {
		const char *e = strchr(p, '&');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (!(n >= 10 && !memcmp(p, "signature=", 10))) {
			if (out->len && out->p[out->len - 1] != '&')
				jb_raw(out, "&", 1);
			jb_raw(out, p, n);
		}
		p = e ? e + 1 : NULL;
	}
}

static struct ex_account *
auth_signed(struct ex_req *rq, struct ex_resp *rs)
{
	struct ex_account *a = auth_key(rq, rs);
	const char *ts = req_param(rq, "timestamp"), *rw = req_param(rq, "recvWindow");
	const char *sig = req_param(rq, "signature");
	int64_t now = ex_now_ms(), t, w = rw ? strtoll(rw, NULL, 10) : 5000;
	struct jbuf total = { 0 };
	size_t qlen;
	int bad;

	if (!a)
		return NULL;
	if (!ts || !*ts) {
		resp_error(rs, 400, -1102, "Mandatory parameter 'timestamp' was not sent, was "
		    "empty/null, or malformed.");
		return NULL;
	}
	if (w <= 0 || w > 60000) {
		resp_error(rs, 400, -1131, "recvWindow must be less than 60000");
		return NULL;
	}
	t = strtoll(ts, NULL, 10);
	if (t >= now + 1000) {
		resp_error(rs, 400, -1021, "Timestamp for this request was 1000ms ahead of the "
		    "server's time.");
		return NULL;
	}
	if (now - t > w) {
		resp_error(rs, 400, -1021, "Timestamp for this request is outside of the "
		    "recvWindow.");
		return NULL;
	}
	if (!sig || !*sig) {
		resp_error(rs, 400, -1102, "Mandatory parameter 'signature' was not sent, was "
		    "empty/null, or malformed.");
		return NULL;
	}
	strip_signature(&total, rq->query);
	qlen = total.len;
	if (rq->body && rq->body_len) {
		struct jbuf b = { 0 };

		strip_signature(&b, rq->body);
		jb_raw(&total, b.p ? b.p : "", b.len);
		jb_free(&b);
	}
	(void)qlen;
	bad = sign_check(a, total.p ? total.p : "", sig);
	jb_free(&total);
	if (bad) {
		resp_error(rs, 400, -1022, "Signature for this request is not valid.");
		return NULL;
	}
	return a;
}

void
rest_handle(struct ex_req *rq, struct ex_resp *rs)
{
	const struct route *r = NULL;
	bool path_known = false;
	struct ex_account *a = NULL;
	size_t i;
	char msg[200];

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(routes[i].path, rq->path)) {
			path_known = true;
			if (routes[i].method == rq->method) {
				r = &routes[i];
				break;
			}
		}
	if (!r) {
		snprintf(msg, sizeof(msg), "Path %.100s, Method %s is invalid", rq->path,
		    rq->method == LWSHUMETH_POST ? "POST" : rq->method == LWSHUMETH_PUT ? "PUT" :
		    rq->method == LWSHUMETH_DELETE ? "DELETE" : "GET");
		resp_error(rs, path_known ? 405 : 404, -1000, msg);
		return;
	}
	if (r->fn == r_listen_key) {
		/* every attempt counts, refused ones included */
		if (rq->method == LWSHUMETH_POST)
			ex.st.lk_post++;
		else if (rq->method == LWSHUMETH_PUT)
			ex.st.lk_put++;
		else
			ex.st.lk_delete++;
	}
	if (rl_charge(rq->ip, r->weight(rq), rs) < 0)
		return;
	if (r->auth == AUTH_KEY)
		a = auth_key(rq, rs);
	else if (r->auth == AUTH_SIGNED)
		a = auth_signed(rq, rs);
	if (r->auth != AUTH_NONE && !a)
		return;
	if (r->auth == AUTH_SIGNED)
		sim_journal(rq, a);
	if (ex.bad_page_left > 0 && r->auth == AUTH_SIGNED && !strcmp(ex.bad_page_path, rq->path) &&
	    (ex.bad_page_account == 0 || ex.bad_page_account == a->id)) {
		ex.bad_page_left--;
		ex.st.bad_pages++;
		jb_puts(&rs->body, ex.bad_page_body);
		return;
	}
	r->fn(rq, rs, a);
}
