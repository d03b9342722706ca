/* engine.c: the activity model. One PRNG seeded from --seed drives every
 * choice (account, order type, fills, self-trades, transfers, funding,
 * leverage, algo orders, margin calls, liquidations), so the same seed
 * gives the same sequence; each step updates the truth first and then
 * emits its events. */
#include "exsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAKER_FEE_RATE 20000LL /* 0.02% in 1e-8 units */
#define TAKER_FEE_RATE 50000LL /* 0.05% */
#define BNB_DISCOUNT_PCT 90
#define EX_MAX_BACKLOG_MS 100 /* one market tick's worth */

static uint64_t rng;
static fx_t *price; /* every market symbol's; the activity moves the first EX_NSYM */
static int64_t next_oid[EX_NSYM]; /* per symbol: see EX_BIG_OID_BASE */
static int64_t next_aid = 2148719;
static int64_t next_tid[EX_NSYM];
static int events_this_step;
static ev_timer gen_timer;
static double budget;
static int64_t sim_ms; /* simulated milliseconds run while not paused */
static ev_tstamp sim_base; /* loop time at which sim_ms 0 ran */

static const int leverage_choices[] = { 5, 10, 20, 50, 75, 100, 125 };

int64_t
engine_price(int sym)
{
	return price[sym];
}

static int64_t
now(void)
{
	return ex_now_ms();
}

static fx_t
qty_rand(int sym)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	fx_t q = fx_round(s->typical_qty * (fx_t)(1 + rng_below(&rng, 12)) / 4, s->step);

	return q < s->step ? s->step : q;
}

/* Prices walk by up to ±0.1% per touch with a weak pull back to the start
 * price, so long runs stay in a sane range. */
static void
price_walk(int sym)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	fx_t p = price[sym];
	fx_t step = p / 10000 * ((fx_t)rng_below(&rng, 21) - 10);
	fx_t pull = (s->start_price - p) / 500;

	p = fx_round(p + step + pull, s->tick);
	if (p < s->tick * 10)
		p = s->tick * 10;
	price[sym] = p;
}

/* The generated symbols' prices (index >= EX_NSYM) walk the same way,
 * driven by the market's own PRNG r. */
void
engine_drift(int sym, uint64_t *r)
{
	uint64_t keep = rng;

	if (sym < EX_NSYM)
		return;
	rng = *r;
	price_walk(sym);
	*r = rng;
	rng = keep;
}

static void
rand_cid(char *out, const char *prefix)
{
	size_t n = strlen(prefix);

	memcpy(out, prefix, n);
	hex_key(&rng, out + n, 22, true);
}

static void
recompute_cross(struct ex_account *a)
{
	fx_t iw = 0;
	int s, ps;

	for (s = 0; s < EX_NSYM; s++)
		for (ps = 0; ps < 3; ps++)
			iw += a->pos[s][ps].iw;
	a->bal[0].cw = a->bal[0].wb - iw;
	a->bal[1].cw = a->bal[1].wb;
}

/* Drop id from an unordered list of open ids. */
static void
id_remove(int64_t *ids, int *n, int64_t id)
{
	int i;

	for (i = 0; i < *n; i++)
		if (ids[i] == id) {
			ids[i] = ids[--*n];
			return;
		}
}

static void
open_remove(struct ex_account *a, int64_t id)
{
	id_remove(a->open_ids, &a->nopen, id);
}

static void
open_algo_remove(struct ex_account *a, int64_t aid)
{
	id_remove(a->open_aids, &a->nopen_algos, aid);
}

static bool
order_done(const void *v)
{
	const struct ex_order *o = v;

	return o->status != OS_NEW && o->status != OS_PARTIALLY_FILLED;
}

static bool
algo_done(const void *v)
{
	const struct ex_algo *g = v;

	return g->status != AS_NEW && g->status != AS_TRIGGERING;
}

static bool
fill_done(const void *v)
{
	return true;
}

/* Append a zeroed entry to a history vector (orders, algo orders, fills)
 * of *n entries of size bytes and return the vector, grown as needed. It
 * keeps at most cfg.history finished entries: once the vector doubles,
 * the oldest finished ones go (order kept), so the hot path never scans
 * the whole history. */
static void *
hist_push(void *v, size_t *n, size_t *cap, size_t size, size_t first,
    bool (*done)(const void *))
{
	char *b = v;
	size_t i, j, drop;

	if (*n >= ex.cfg.history * 2) {
		drop = *n - ex.cfg.history;
		for (i = j = 0; i < *n; i++) {
			if (drop && done(b + i * size)) {
				drop--;
				continue;
			}
			if (i != j)
				memcpy(b + j * size, b + i * size, size);
			j++;
		}
		*n = j;
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : first;
		b = realloc(b, *cap * size);
		if (!b)
			abort();
	}
	memset(b + *n * size, 0, size);
	(*n)++;
	return b;
}

static struct ex_order *
order_new(struct ex_account *a, int64_t id, int sym, int side, int type, int tif, fx_t qty,
    fx_t px, int ps)
{
	struct ex_order *o;
	int64_t t = now();

	a->orders = hist_push(a->orders, &a->norders, &a->orders_cap, sizeof(*a->orders), 64,
	    order_done);
	o = &a->orders[a->norders - 1];
	o->id = id;
	rand_cid(o->cid, "");
	o->sym = (uint8_t)sym;
	o->side = (uint8_t)side;
	o->type = o->orig_type = (uint8_t)type;
	o->tif = (uint8_t)tif;
	o->qty = qty;
	o->price = type == OT_MARKET ? 0 : px;
	o->ps = (uint8_t)ps;
	o->status = OS_NEW;
	o->exec = EX_NEW;
	o->time_ms = o->update_ms = t;
	if (tif == TIF_GTD)
		o->gtd_ms = (t / 1000 + 3600) * 1000;
	o->fee_asset = a->bnb_fees ? 1 : 0;
	if (type == OT_LIMIT) {
		if (side == SIDE_BUY)
			o->bid_notional = fx_mul(qty, px);
		else
			o->ask_notional = fx_mul(qty, px);
	}
	if (a->nopen < EX_MAX_OPEN_ORDERS)
		a->open_ids[a->nopen++] = o->id;
	return o;
}

static void
emit_order_at(struct ex_account *a, struct ex_order *o, int64_t t)
{
	o->update_ms = t;
	uev_order(a, o, t);
	events_this_step++;
}

static void
emit_order(struct ex_account *a, struct ex_order *o)
{
	emit_order_at(a, o, now());
}

/* A new order's NEW event: its T is the order's creation time, which the
 * REST rows and the truth give as "time". */
static void
emit_order_new(struct ex_account *a, struct ex_order *o)
{
	emit_order_at(a, o, o->time_ms);
}

static void
order_finish(struct ex_account *a, struct ex_order *o, int status, int exec)
{
	o->status = (uint8_t)status;
	o->exec = (uint8_t)exec;
	o->last_qty = o->last_price = o->last_fee = o->last_rp = 0;
	o->last_trade_id = 0;
	o->maker_last = false;
	o->bid_notional = o->ask_notional = 0;
	open_remove(a, o->id);
	emit_order(a, o);
}

/* Every balance and position an ACCOUNT_UPDATE carries changed at its T:
 * the REST snapshots report the same time as their updateTime. */
static void
emit_account_at(struct ex_account *a, const char *reason, const fx_t *bc, const bool *assets,
    const int (*pos)[2], int npos, int64_t t)
{
	int i;

	for (i = 0; i < EX_NASSET; i++)
		if (assets[i])
			a->bal[i].update_ms = t;
	for (i = 0; i < npos; i++)
		a->pos[pos[i][0]][pos[i][1]].update_ms = t;
	uev_account(a, reason, bc, assets, pos, npos, t);
	events_this_step++;
}

static void
emit_account(struct ex_account *a, const char *reason, const fx_t *bc, const bool *assets,
    const int (*pos)[2], int npos)
{
	emit_account_at(a, reason, bc, assets, pos, npos, now());
}

/* A closing fill realises PnL against the entry; an opening one averages
 * the entry. Isolated margin moves between the cross wallet and iw. */
static fx_t
position_apply(struct ex_account *a, int sym, int ps, int side, fx_t q, fx_t px)
{
	struct ex_position *p = &a->pos[sym][ps];
	fx_t d = side == SIDE_BUY ? q : -q;
	fx_t rp = 0, absamt = fx_abs(p->amt);
	int lev = a->leverage[sym];

	/* update_ms becomes the T of the ACCOUNT_UPDATE that follows */
	p->touched = true;
	if (p->amt == 0 || (p->amt > 0) == (d > 0)) {
		p->entry = fx_div(fx_mul(absamt, p->entry) + fx_mul(q, px), absamt + q);
		p->entry = fx_round(p->entry, 1000); /* 5 decimals, as Binance prints ep */
		p->amt += d;
		if (p->isolated)
			p->iw += fx_mul(q, px) / lev;
		return 0;
	}
	{
		fx_t cq = q < absamt ? q : absamt;

		rp = fx_mul(cq, px - p->entry);
		if (p->amt < 0)
			rp = -rp;
		if (p->isolated) {
			fx_t release = fx_div(fx_mul(p->iw, cq), absamt);

			p->iw -= release;
		}
		p->amt += d;
		if (p->amt == 0) {
			p->entry = 0;
			if (p->isolated)
				p->iw = 0;
		} else if ((p->amt > 0) != (p->amt - d > 0)) {
			/* flipped through zero (one-way mode): the rest opens at px */
			p->entry = px;
			if (p->isolated)
				p->iw = fx_mul(fx_abs(p->amt), px) / lev;
		}
	}
	p->realized += rp;
	return rp;
}

/*
 * One execution of q at px on order o, trade tid at time t: the truth
 * first (position, wallets, order, fill history), then TRADE_LITE,
 * ACCOUNT_UPDATE and ORDER_TRADE_UPDATE, all with T = t, which the REST
 * snapshots then report too. The public trade is the caller's: a
 * self-trade is two executions of one trade.
 */
static void
execute(struct ex_account *a, struct ex_order *o, fx_t q, fx_t px, bool maker, int exec,
    int64_t tid, int64_t t)
{
	const struct ex_symbol *s = &ex_symbols[o->sym];
	struct ex_fill *f;
	fx_t notional = fx_mul(q, px);
	fx_t fee = fx_mul(notional, maker ? MAKER_FEE_RATE : TAKER_FEE_RATE);
	fx_t rp, bc[EX_NASSET] = { 0, 0 };
	bool assets[EX_NASSET] = { true, false };
	int pos[1][2];
	int fa = 0;

	if (a->bnb_fees) {
		fx_t bnb = fx_div(fee * BNB_DISCOUNT_PCT / 100, price[2]);

		if (bnb > 0 && a->bal[1].wb >= bnb) {
			fee = bnb;
			fa = 1;
		}
	}
	rp = position_apply(a, o->sym, o->ps, o->side, q, px);
	a->bal[0].wb += rp;
	a->bal[fa].wb -= fee;
	recompute_cross(a);
	assets[fa] = true;

	o->cum_quote += notional;
	o->cum_qty += q;
	o->avg = fx_round(fx_div(o->cum_quote, o->cum_qty), s->tick / 100 ? s->tick / 100 : 1);
	o->last_qty = q;
	o->last_price = px;
	o->last_fee = fee;
	o->last_rp = rp;
	o->fee_asset = (uint8_t)fa;
	o->maker_last = maker;
	o->last_trade_id = tid;
	o->exec = (uint8_t)exec;
	o->status = o->cum_qty >= o->qty ? OS_FILLED : OS_PARTIALLY_FILLED;
	if (o->type == OT_LIMIT) {
		fx_t rest = fx_mul(o->qty - o->cum_qty, o->price);

		if (o->side == SIDE_BUY)
			o->bid_notional = o->status == OS_FILLED ? 0 : rest;
		else
			o->ask_notional = o->status == OS_FILLED ? 0 : rest;
	}
	if (o->status == OS_FILLED)
		open_remove(a, o->id);

	a->fills = hist_push(a->fills, &a->nfills, &a->fills_cap, sizeof(*a->fills), 64, fill_done);
	f = &a->fills[a->nfills - 1];
	f->tid = o->last_trade_id;
	f->oid = o->id;
	f->time_ms = t;
	f->sym = o->sym;
	f->side = o->side;
	f->ps = o->ps;
	f->fee_asset = (uint8_t)fa;
	f->maker = maker;
	f->qty = q;
	f->price = px;
	f->fee = fee;
	f->rp = rp;

	/* TRADE_LITE is the low-latency copy, so it goes out first, with the
	 * ORDER_TRADE_UPDATE's T and userTrades' time */
	o->update_ms = t;
	uev_trade_lite(a, o, t);
	events_this_step++;
	pos[0][0] = o->sym;
	pos[0][1] = o->ps;
	emit_account_at(a, "ORDER", bc, assets, (const int (*)[2])pos, 1, t);
	emit_order_at(a, o, t);
}

/* A fill against another account: one execution, one public trade. */
static void
fill(struct ex_account *a, struct ex_order *o, fx_t q, fx_t px, bool maker, int exec)
{
	int64_t t = now();

	execute(a, o, q, px, maker, exec, next_tid[o->sym]++, t);
	market_public_trade(o->sym, px, q, maker ? o->side == SIDE_BUY : o->side == SIDE_SELL,
	    t);
}

/* A self-trade (STP mode NONE on both orders): the taker meets the
 * account's own resting order at its price. One trade id, two executions,
 * each with its own side, fee rate, PnL and events; at the exchange such a
 * fill is keyed by (symbol, trade id, order id). */
static void
self_trade(struct ex_account *a, struct ex_order *taker, struct ex_order *maker, fx_t q)
{
	int64_t tid = next_tid[taker->sym]++, t = now();
	fx_t px = maker->price;

	execute(a, taker, q, px, false, EX_TRADE, tid, t);
	execute(a, maker, q, px, true, EX_TRADE, tid, t);
	market_public_trade(taker->sym, px, q, maker->side == SIDE_BUY, t);
}

/* Which position side an order works on, and whether it closes: one-way
 * orders always use BOTH; hedge orders open or reduce LONG/SHORT. */
static int
pick_side_ps(struct ex_account *a, int sym, int *side, fx_t *qty)
{
	int ps;

	if (!a->hedge) {
		*side = (int)rng_below(&rng, 2);
		return PS_BOTH;
	}
	ps = rng_below(&rng, 2) ? PS_LONG : PS_SHORT;
	if (a->pos[sym][ps].amt != 0 && rng_below(&rng, 2)) {
		fx_t have = fx_abs(a->pos[sym][ps].amt);

		*side = ps == PS_LONG ? SIDE_SELL : SIDE_BUY;
		if (*qty > have)
			*qty = have;
	} else {
		*side = ps == PS_LONG ? SIDE_BUY : SIDE_SELL;
	}
	return ps;
}

/* In hedge mode a closing order cannot fill past the position; cap it. */
static fx_t
pos_cap(struct ex_account *a, int sym, int ps, int side, fx_t want)
{
	struct ex_position *p = &a->pos[sym][ps];
	bool closing = (ps == PS_LONG && side == SIDE_SELL) || (ps == PS_SHORT && side == SIDE_BUY);

	if (!closing)
		return want;
	return want < fx_abs(p->amt) ? want : fx_abs(p->amt);
}

static fx_t
fill_cap(struct ex_account *a, struct ex_order *o, fx_t want)
{
	return pos_cap(a, o->sym, o->ps, o->side, want);
}

/*
 * A resting order of the account's on the other side of sym that a new
 * order (side, ps, qty) could trade with, and in *fq how much: the smaller
 * remainder, capped by both positions. Caps taken before either execution
 * hold after the first: in hedge mode the two orders either work on
 * different sides or one opens what the other may close.
 */
static int64_t
self_match(struct ex_account *a, int sym, int side, int ps, fx_t qty, fx_t *fq)
{
	int i;

	for (i = 0; i < a->nopen; i++) {
		struct ex_order *m = acct_order(a, a->open_ids[i]);
		fx_t q;

		if (!m || m->sym != sym || m->side == side || m->type != OT_LIMIT)
			continue;
		q = m->qty - m->cum_qty < qty ? m->qty - m->cum_qty : qty;
		q = pos_cap(a, sym, ps, side, q);
		q = pos_cap(a, sym, m->ps, m->side, q);
		if (q > 0) {
			*fq = q;
			return m->id;
		}
	}
	return 0;
}

static fx_t
split_qty(int sym, fx_t remaining)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	fx_t q;

	if (remaining <= s->step)
		return remaining;
	q = fx_round(remaining * (fx_t)(1 + rng_below(&rng, 9)) / 10, s->step);
	if (q < s->step)
		q = s->step;
	return q >= remaining ? remaining : q;
}

static void
act_market_order(struct ex_account *a)
{
	int sym = (int)rng_below(&rng, EX_NSYM);
	fx_t q = qty_rand(sym);
	int side, ps, chunks, i;
	struct ex_order *o;

	price_walk(sym);
	ps = pick_side_ps(a, sym, &side, &q);
	o = order_new(a, next_oid[sym]++, sym, side, OT_MARKET, TIF_GTC, q, 0, ps);
	emit_order_new(a, o);
	chunks = 1 + (int)rng_below(&rng, 3);
	for (i = 0; i < chunks && o->cum_qty < o->qty; i++) {
		fx_t rem = o->qty - o->cum_qty;
		fx_t fq = i == chunks - 1 ? rem : split_qty(sym, rem);
		fx_t px = price[sym] + (side == SIDE_BUY ? 1 : -1) * ex_symbols[sym].tick *
		    (fx_t)rng_below(&rng, 3);

		fq = fill_cap(a, o, fq);
		if (fq <= 0)
			break;
		fill(a, o, fq, px, false, EX_TRADE);
	}
	if (o->status != OS_FILLED)
		order_finish(a, o, OS_EXPIRED, EX_EXPIRED);
}

static void
act_limit_order(struct ex_account *a)
{
	static const int tifs[] = { TIF_GTC, TIF_GTC, TIF_GTC, TIF_GTD, TIF_GTX, TIF_IOC, TIF_FOK };
	int sym = (int)rng_below(&rng, EX_NSYM);
	const struct ex_symbol *s = &ex_symbols[sym];
	fx_t q = qty_rand(sym), px;
	int side, ps, tif = tifs[rng_below(&rng, sizeof(tifs) / sizeof(tifs[0]))];
	bool stp = rng_below(&rng, 20) == 0;
	bool self = !stp && rng_below(&rng, 10) == 0;
	struct ex_order *o;
	fx_t off, fq = 0;
	int64_t mid = 0;

	price_walk(sym);
	ps = pick_side_ps(a, sym, &side, &q);
	/* a taker that may trade (not post-only, not all-or-nothing) meets
	 * the account's own resting order: with STP mode NONE it fills */
	if (self && (tif == TIF_GTC || tif == TIF_GTD || tif == TIF_IOC))
		mid = self_match(a, sym, side, ps, q, &fq);
	if (mid) {
		struct ex_order *m;

		o = order_new(a, next_oid[sym]++, sym, side, OT_LIMIT, tif, q,
		    acct_order(a, mid)->price, ps);
		emit_order_new(a, o);
		/* order_new may move the vector: look the maker up after it */
		m = acct_order(a, mid);
		self_trade(a, o, m, fq);
		/* a rest that would stay crossed with the maker (a position cap
		 * stopped both short) goes as an IOC's would */
		if (o->status != OS_FILLED && (tif == TIF_IOC || m->status != OS_FILLED))
			order_finish(a, o, OS_EXPIRED, EX_EXPIRED);
		return;
	}
	off = s->tick * (fx_t)(1 + rng_below(&rng, 40));
	/* IOC/FOK and the STP case cross the book; resting orders sit behind it */
	if (tif == TIF_IOC || tif == TIF_FOK || stp)
		px = side == SIDE_BUY ? price[sym] + off : price[sym] - off;
	else
		px = side == SIDE_BUY ? price[sym] - off : price[sym] + off;
	if (px <= 0)
		px = s->tick;
	o = order_new(a, next_oid[sym]++, sym, side, OT_LIMIT, tif, q, px, ps);
	if (stp)
		o->stp = STP_EXPIRE_TAKER;
	emit_order_new(a, o);
	if (stp) {
		/* it would have matched this account's own resting order */
		order_finish(a, o, OS_EXPIRED_IN_MATCH, EX_EXPIRED);
		return;
	}
	switch (tif) {
	case TIF_GTX:
		/* post-only that would take: rejected by expiry, 1 in 3 */
		if (rng_below(&rng, 3) == 0)
			order_finish(a, o, OS_EXPIRED, EX_EXPIRED);
		break;
	case TIF_IOC:
		if (rng_below(&rng, 3)) {
			fq = fill_cap(a, o, split_qty(sym, q));
			if (fq > 0)
				fill(a, o, fq, px, false, EX_TRADE);
		}
		if (o->status != OS_FILLED)
			order_finish(a, o, OS_EXPIRED, EX_EXPIRED);
		break;
	case TIF_FOK:
		if (rng_below(&rng, 2) && fill_cap(a, o, q) == q)
			fill(a, o, q, px, false, EX_TRADE);
		else
			order_finish(a, o, OS_EXPIRED, EX_EXPIRED);
		break;
	default:
		break;
	}
}

static void
act_advance_order(struct ex_account *a)
{
	struct ex_order *o = acct_order(a, a->open_ids[rng_below(&rng, (uint64_t)a->nopen)]);
	const struct ex_symbol *s;
	uint64_t r = rng_below(&rng, 100);

	if (!o) { /* cannot happen: open ids are never pruned */
		a->nopen = 0;
		return;
	}
	s = &ex_symbols[o->sym];
	price_walk(o->sym);
	if (o->tif == TIF_GTD && r < 15) {
		order_finish(a, o, OS_EXPIRED, EX_EXPIRED);
	} else if (r < 50) {
		fx_t fq = fill_cap(a, o, split_qty(o->sym, o->qty - o->cum_qty));

		if (fq <= 0)
			order_finish(a, o, OS_EXPIRED, EX_EXPIRED);
		else
			fill(a, o, fq, o->price, true, EX_TRADE);
	} else if (r < 72) {
		fx_t fq = fill_cap(a, o, o->qty - o->cum_qty);

		if (fq <= 0)
			order_finish(a, o, OS_EXPIRED, EX_EXPIRED);
		else
			fill(a, o, fq, o->price, true, EX_TRADE);
	} else if (r < 88) {
		order_finish(a, o, OS_CANCELED, EX_CANCELED);
	} else {
		/* amend the price by a few ticks; quantity and fills are kept */
		fx_t np = o->price + s->tick * ((fx_t)rng_below(&rng, 11) - 5);

		if (np <= 0)
			np = s->tick;
		o->price = np;
		if (o->side == SIDE_BUY)
			o->bid_notional = fx_mul(o->qty - o->cum_qty, np);
		else
			o->ask_notional = fx_mul(o->qty - o->cum_qty, np);
		o->exec = EX_AMENDMENT;
		o->last_qty = o->last_price = o->last_fee = o->last_rp = 0;
		o->last_trade_id = 0;
		emit_order(a, o);
	}
}

static struct ex_algo *
algo_new(struct ex_account *a)
{
	struct ex_algo *g;

	a->algos = hist_push(a->algos, &a->nalgos, &a->algos_cap, sizeof(*a->algos), 32,
	    algo_done);
	g = &a->algos[a->nalgos - 1];
	g->aid = next_aid++;
	return g;
}

static void
emit_algo(struct ex_account *a, struct ex_algo *g)
{
	g->update_ms = now();
	uev_algo(a, g, g->update_ms);
	events_this_step++;
}

/* A new algo order's NEW event: its T is the creation time. */
static void
emit_algo_new(struct ex_account *a, struct ex_algo *g)
{
	g->update_ms = g->create_ms;
	uev_algo(a, g, g->update_ms);
	events_this_step++;
}

static void
act_algo_place(struct ex_account *a)
{
	static const int types[] = { OT_STOP_MARKET, OT_TAKE_PROFIT_MARKET, OT_STOP,
		OT_TAKE_PROFIT, OT_TRAILING_STOP_MARKET };
	int sym = (int)rng_below(&rng, EX_NSYM);
	const struct ex_symbol *s = &ex_symbols[sym];
	fx_t q = qty_rand(sym);
	int side, ps = pick_side_ps(a, sym, &side, &q);
	struct ex_algo *g = algo_new(a);
	fx_t off = price[sym] / 200;

	g->sym = (uint8_t)sym;
	g->side = (uint8_t)side;
	g->ps = (uint8_t)ps;
	g->type = (uint8_t)types[rng_below(&rng, 5)];
	g->tif = TIF_GTC;
	g->qty = q;
	g->trigger = fx_round(side == SIDE_BUY ? price[sym] + off : price[sym] - off, s->tick);
	if (g->type == OT_STOP || g->type == OT_TAKE_PROFIT)
		g->price = g->trigger;
	g->status = AS_NEW;
	g->create_ms = now();
	rand_cid(g->caid, "");
	if (a->nopen_algos < EX_MAX_OPEN_ALGOS)
		a->open_aids[a->nopen_algos++] = g->aid;
	emit_algo_new(a, g);
}

static void
algo_end(struct ex_account *a, struct ex_algo *g, int status, const char *rm)
{
	g->status = (uint8_t)status;
	if (rm)
		snprintf(g->rm, sizeof(g->rm), "%s", rm);
	open_algo_remove(a, g->aid);
	emit_algo(a, g);
}

static void
act_algo_advance(struct ex_account *a)
{
	int64_t aid = a->open_aids[rng_below(&rng, (uint64_t)a->nopen_algos)];
	struct ex_algo *g = acct_algo(a, aid);
	uint64_t r = rng_below(&rng, 100);
	struct ex_order *o;
	bool limit;

	if (!g) {
		a->nopen_algos = 0;
		return;
	}
	price_walk(g->sym);
	if (r < 20) {
		algo_end(a, g, AS_CANCELED, NULL);
		return;
	}
	if (r < 30) {
		algo_end(a, g, AS_EXPIRED, NULL);
		return;
	}
	g->status = AS_TRIGGERING;
	g->trigger_ms = now();
	emit_algo(a, g);
	if (r < 40) {
		algo_end(a, g, AS_REJECTED, "Reduce Only reject");
		return;
	}
	limit = g->type == OT_STOP || g->type == OT_TAKE_PROFIT;
	/* the algo service places a regular order; hold no pointer into the
	 * algo vector across order_new, which only grows the order vector */
	o = order_new(a, next_oid[g->sym]++, g->sym, g->side, limit ? OT_LIMIT : OT_MARKET,
	    limit ? TIF_IOC : TIF_GTC, g->qty, limit ? g->price : 0, g->ps);
	o->orig_type = g->type;
	o->stop = g->trigger;
	g->actual_oid = o->id;
	g->status = AS_TRIGGERED;
	emit_algo(a, g);
	emit_order_new(a, o);
	{
		fx_t fq = fill_cap(a, o, o->qty);
		fx_t px = limit ? o->price : price[o->sym];

		if (fq > 0)
			fill(a, o, fq, px, false, EX_TRADE);
		if (o->status != OS_FILLED)
			order_finish(a, o, OS_EXPIRED, EX_EXPIRED);
	}
	g->avg = o->avg;
	g->filled = o->cum_qty;
	algo_end(a, g, AS_FINISHED, NULL);
}

static void
act_funding(struct ex_account *a)
{
	int pos[EX_NSYM * 3][2], npos = 0, s, ps;
	fx_t bc[EX_NASSET] = { 0, 0 }, total = 0;
	bool assets[EX_NASSET] = { true, false };

	for (s = 0; s < EX_NSYM; s++) {
		/* funding rate from -0.01% to +0.03%, mostly longs pay */
		fx_t rate = ((fx_t)rng_below(&rng, 41) - 10) * 1000;

		for (ps = 0; ps < 3; ps++) {
			struct ex_position *p = &a->pos[s][ps];
			fx_t f;

			if (!p->amt)
				continue;
			f = -fx_mul(fx_mul(p->amt, price[s]), rate);
			total += f;
			if (p->isolated) {
				p->iw += f;
				pos[npos][0] = s;
				pos[npos][1] = ps;
				npos++;
			}
		}
	}
	if (!total && !npos)
		return;
	a->bal[0].wb += total;
	recompute_cross(a);
	bc[0] = total;
	emit_account(a, "FUNDING_FEE", bc, assets, (const int (*)[2])pos, npos);
}

static void
act_transfer(struct ex_account *a)
{
	fx_t bc[EX_NASSET] = { 0, 0 };
	bool assets[EX_NASSET] = { true, false };
	uint64_t r = rng_below(&rng, 10);
	int pos[1][2], s, ps;

	if (r < 4 || a->bal[0].cw < 2000 * FX_ONE) {
		bc[0] = (fx_t)(100 + rng_below(&rng, 1900)) * FX_ONE;
		a->bal[0].wb += bc[0];
		recompute_cross(a);
		emit_account(a, "DEPOSIT", bc, assets, NULL, 0);
		return;
	}
	if (r < 7) {
		bc[0] = -(fx_t)(10 + rng_below(&rng, 290)) * FX_ONE;
		a->bal[0].wb += bc[0];
		recompute_cross(a);
		emit_account(a, "WITHDRAW", bc, assets, NULL, 0);
		return;
	}
	if (r < 8) {
		/* spot -> futures BNB for fee paying */
		assets[0] = false;
		assets[1] = true;
		bc[1] = FX_ONE / 2;
		a->bal[1].wb += bc[1];
		recompute_cross(a);
		emit_account(a, "ASSET_TRANSFER", bc, assets, NULL, 0);
		return;
	}
	/* add margin to an isolated position, if there is one */
	for (s = 0; s < EX_NSYM; s++)
		for (ps = 0; ps < 3; ps++)
			if (a->pos[s][ps].isolated && a->pos[s][ps].amt) {
				fx_t m = (fx_t)(5 + rng_below(&rng, 50)) * FX_ONE;

				a->pos[s][ps].iw += m;
				a->pos[s][ps].touched = true;
				recompute_cross(a);
				pos[0][0] = s;
				pos[0][1] = ps;
				emit_account(a, "MARGIN_TRANSFER", bc, assets, (const int (*)[2])pos,
				    1);
				return;
			}
	bc[0] = (fx_t)(50 + rng_below(&rng, 500)) * FX_ONE;
	a->bal[0].wb += bc[0];
	recompute_cross(a);
	emit_account(a, "ADMIN_DEPOSIT", bc, assets, NULL, 0);
}

static void
act_config(struct ex_account *a)
{
	int sym = (int)rng_below(&rng, EX_NSYM), s, ps, i;

	if (rng_below(&rng, 8) == 0) {
		a->multi_assets = !a->multi_assets;
		uev_config_multi_assets(a, now());
		events_this_step++;
		return;
	}
	if (rng_below(&rng, 6) == 0) {
		/* margin type can only change with no position and no open order */
		fx_t bc[EX_NASSET] = { 0, 0 };
		bool assets[EX_NASSET] = { true, false };
		int pos[2][2], npos = 0;

		for (ps = 0; ps < 3; ps++)
			if (a->pos[sym][ps].amt)
				goto leverage;
		for (i = 0; i < a->nopen; i++) {
			struct ex_order *o = acct_order(a, a->open_ids[i]);

			if (o && o->sym == sym)
				goto leverage;
		}
		for (ps = 0; ps < 3; ps++) {
			a->pos[sym][ps].isolated = !a->pos[sym][ps].isolated;
			a->pos[sym][ps].iw = 0;
		}
		for (ps = a->hedge ? PS_LONG : PS_BOTH; ps <= (a->hedge ? PS_SHORT : PS_BOTH); ps++) {
			a->pos[sym][ps].touched = true;
			pos[npos][0] = sym;
			pos[npos][1] = ps;
			npos++;
		}
		emit_account(a, "MARGIN_TYPE_CHANGE", bc, assets, (const int (*)[2])pos, npos);
		return;
	}
leverage:
	(void)s;
	a->leverage[sym] = leverage_choices[rng_below(&rng, 7)];
	uev_config_leverage(a, sym, now());
	events_this_step++;
}

static void
liquidate(struct ex_account *a, int s, int ps)
{
	struct ex_position *p = &a->pos[s][ps];
	int side = p->amt > 0 ? SIDE_SELL : SIDE_BUY;
	struct ex_order *o;
	char cid[40];

	o = order_new(a, next_oid[s]++, s, side, OT_LIMIT, TIF_IOC, fx_abs(p->amt), price[s], ps);
	snprintf(cid, sizeof(cid), "autoclose-%lld", (long long)now());
	snprintf(o->cid, sizeof(o->cid), "%s", cid);
	o->orig_type = OT_LIMIT;
	o->reduce = true;
	fill(a, o, o->qty, price[s], false, EX_CALCULATED);
	market_force_order(s, side, price[s], o->qty, now());
}

/* Margin gets thin when the unrealised loss eats most of the position's
 * initial margin: past half we send MARGIN_CALL once, past 80% we
 * liquidate. */
static void
act_margin_check(struct ex_account *a)
{
	int pos[EX_NSYM * 3][2], npos = 0, s, ps;

	for (s = 0; s < EX_NSYM; s++) {
		price_walk(s);
		for (ps = 0; ps < 3; ps++) {
			struct ex_position *p = &a->pos[s][ps];
			fx_t up, im;

			if (!p->amt)
				continue;
			up = acct_unrealized(a, s, ps);
			im = p->isolated ? p->iw : fx_mul(fx_abs(p->amt), price[s]) / a->leverage[s];
			if (up < 0 && -up * 10 > im * 8) {
				liquidate(a, s, ps);
				continue;
			}
			if (up < 0 && -up * 2 > im && !p->margin_called) {
				p->margin_called = true;
				pos[npos][0] = s;
				pos[npos][1] = ps;
				npos++;
			} else if (up >= 0 || -up * 10 < im * 3) {
				p->margin_called = false;
			}
		}
	}
	if (npos) {
		uev_margin_call(a, (const int (*)[2])pos, npos, now());
		events_this_step++;
	}
}

/* One step picks an account and an action. Actions that find nothing to
 * do fall through to placing an order so every step emits something. */
int
engine_step(void)
{
	struct ex_account *a;
	uint64_t r;

	if (!ex.naccts)
		return 0;
	events_this_step = 0;
	a = ex.accts[rng_below(&rng, (uint64_t)ex.naccts)];
	r = rng_below(&rng, 100);
	ex.st.actions++;
	if (r < 30 && a->nopen > 0)
		act_advance_order(a);
	else if (r < 45 && a->nopen < EX_MAX_OPEN_ORDERS)
		act_limit_order(a);
	else if (r < 58)
		act_market_order(a);
	else if (r < 64 && a->nopen_algos < EX_MAX_OPEN_ALGOS)
		act_algo_place(a);
	else if (r < 71 && a->nopen_algos > 0)
		act_algo_advance(a);
	else if (r < 74)
		act_funding(a);
	else if (r < 78)
		act_transfer(a);
	else if (r < 81)
		act_config(a);
	else if (r < 92)
		act_margin_check(a);
	if (!events_this_step)
		act_market_order(a);
	return events_this_step;
}

/* One simulated millisecond: a market tick every EX_TICK_MS, then the
 * activity steps the rate allows. Both hang off the simulated clock alone,
 * so the interleaving of activity and market is the same on every run. */
static void
sim_ms_run(void)
{
	if (sim_ms % EX_TICK_MS == 0)
		market_tick();
	sim_ms++;
	if (ex.cfg.rate <= 0)
		return;
	budget += ex.cfg.rate / 1000;
	while (budget >= 1) {
		int n = engine_step();

		if (!n) { /* no account yet */
			budget = 0;
			break;
		}
		budget -= n;
	}
}

/* The clock follows the loop's time every millisecond. At most
 * EX_MAX_BACKLOG_MS of backlog run per wakeup, so sockets get written
 * between bursts while a loaded machine's late wakeups (a 2-core box with a
 * load of 9 wakes the timer every 10-20 ms) do not slow the simulated
 * clock; a loop that cannot keep up beyond that lets it fall behind. */
static void
engine_gen_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_tstamp t = ev_now(loop);
	int64_t target;

	if (ex.paused) {
		sim_base = t - (double)sim_ms / 1000;
		return;
	}
	target = (int64_t)((t - sim_base) * 1000);
	if (target - sim_ms > EX_MAX_BACKLOG_MS) {
		sim_base += (double)(target - sim_ms - EX_MAX_BACKLOG_MS) / 1000;
		target = sim_ms + EX_MAX_BACKLOG_MS;
	}
	while (sim_ms < target)
		sim_ms_run();
}

void
engine_init(void)
{
	int i;

	rng = ex.cfg.seed ^ 0x2545f4914f6cdd1dULL;
	price = calloc((size_t)ex_nsym, sizeof(*price));
	if (!price)
		abort();
	for (i = 0; i < ex_nsym; i++)
		price[i] = ex_symbols[i].start_price;
	for (i = 0; i < EX_NSYM; i++) {
		next_tid[i] = 7947131392LL + (int64_t)i * 1000000000LL;
		next_oid[i] = strcmp(ex_symbols[i].name, "ETHUSDT") == 0 ? EX_BIG_OID_BASE :
		    100000000000LL + (int64_t)i * 10000000000LL;
	}
}

void
engine_start(void)
{
	sim_base = ev_now(ex.loop);
	ev_timer_init(&gen_timer, engine_gen_cb, 0.001, 0.001);
	ev_timer_start(ex.loop, &gen_timer);
}
