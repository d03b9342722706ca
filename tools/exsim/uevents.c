/* uevents.c: serialises user data events with the exact key sets and JSON
 * types of the Binance fixtures (decimals as strings, ids and times as
 * integers) and hands each serialised event to the account's sockets. */
#include "exsim.h"

#include <stdio.h>
#include <string.h>

static struct jbuf *
begin(void)
{
	jb_reset(&ex.scratch);
	return &ex.scratch;
}

/* Serialising costs more than the truth update; skip it when no live
 * socket would take the event. */
static bool
wanted(struct ex_account *a, int uev)
{
	const struct ex_sub *s;

	ex.st.user_events_made[uev]++;
	a->events_made[uev]++;
	if (a->lk_state != LK_ACTIVE)
		return false;
	for (s = a->subs; s; s = s->anext)
		if (s->gen == a->lk_gen && (s->mask & (1u << uev)))
			return true;
	return false;
}

/* Open an event object {"e":NAME, ...}, or NULL when no live socket would take it. */
static struct jbuf *
event_begin(struct ex_account *a, int uev, const char *name)
{
	struct jbuf *jb;

	if (!wanted(a, uev))
		return NULL;
	jb = begin();
	jb_open(jb, '{');
	jb_kstr(jb, "e", name);
	return jb;
}

static void
event_send(struct ex_account *a, int uev, struct jbuf *jb)
{
	jb_close(jb, '}');
	ws_deliver_user(a, uev, jb->p, jb->len);
}

static int
entry_dec(int sym)
{
	int d = ex_symbols[sym].price_dec + 3;

	return d > 8 ? 8 : d;
}

void
uev_json_order(struct jbuf *jb, const struct ex_order *o)
{
	const struct ex_symbol *s = &ex_symbols[o->sym];
	bool filled = o->last_trade_id != 0;

	jb_kstr(jb, "s", s->name);
	jb_kstr(jb, "c", o->cid);
	jb_kstr(jb, "S", name_side(o->side));
	jb_kstr(jb, "o", name_otype(o->type));
	jb_kstr(jb, "f", name_tif(o->tif));
	jb_kfx(jb, "q", o->qty, s->qty_dec);
	jb_kfx0(jb, "p", o->price, s->price_dec);
	jb_kfx0(jb, "ap", o->avg, s->price_dec + 2);
	jb_kfx0(jb, "sp", o->stop, s->price_dec);
	jb_kstr(jb, "x", name_exec(o->exec));
	jb_kstr(jb, "X", name_ostatus(o->status));
	jb_kint(jb, "i", o->id);
	jb_kfx0(jb, "l", filled ? o->last_qty : 0, s->qty_dec);
	jb_kfx0(jb, "z", o->cum_qty, s->qty_dec);
	jb_kfx0(jb, "L", filled ? o->last_price : 0, s->price_dec);
	jb_kfx0(jb, "n", filled ? o->last_fee : 0, 8);
	jb_kstr(jb, "N", ex_assets[o->fee_asset]);
	jb_kint(jb, "T", o->update_ms);
	jb_kint(jb, "t", filled ? o->last_trade_id : 0);
	jb_kfx0(jb, "b", o->bid_notional, 5);
	jb_kfx0(jb, "a", o->ask_notional, 5);
	jb_kbool(jb, "m", filled && o->maker_last);
	jb_kbool(jb, "R", o->reduce);
	jb_kstr(jb, "wt", "CONTRACT_PRICE");
	jb_kstr(jb, "ot", name_otype(o->orig_type));
	jb_kstr(jb, "ps", name_ps(o->ps));
	jb_kbool(jb, "cp", o->close_pos);
	jb_kfx0(jb, "rp", filled ? o->last_rp : 0, 8);
	jb_kbool(jb, "pP", false);
	jb_kint(jb, "si", 0);
	jb_kint(jb, "ss", 0);
	jb_kstr(jb, "V", name_stp(o->stp));
	jb_kstr(jb, "pm", "NONE");
	jb_kint(jb, "gtd", o->gtd_ms);
}

void
uev_order(struct ex_account *a, const struct ex_order *o, int64_t now_ms)
{
	struct jbuf *jb;

	if ((jb = event_begin(a, UEV_ORDER_TRADE_UPDATE, "ORDER_TRADE_UPDATE")) == NULL)
		return;
	jb_kint(jb, "T", o->update_ms);
	jb_kint(jb, "E", now_ms);
	jb_kopen(jb, "o", '{');
	uev_json_order(jb, o);
	jb_close(jb, '}');
	event_send(a, UEV_ORDER_TRADE_UPDATE, jb);
}

void
uev_trade_lite(struct ex_account *a, const struct ex_order *o, int64_t now_ms)
{
	const struct ex_symbol *s = &ex_symbols[o->sym];
	struct jbuf *jb;

	if ((jb = event_begin(a, UEV_TRADE_LITE, "TRADE_LITE")) == NULL)
		return;
	jb_kint(jb, "E", now_ms);
	jb_kint(jb, "T", o->update_ms);
	jb_kstr(jb, "s", s->name);
	jb_kfx(jb, "q", o->qty, s->qty_dec);
	jb_kfx0(jb, "p", o->price, s->price_dec);
	jb_kbool(jb, "m", o->maker_last);
	jb_kstr(jb, "c", o->cid);
	jb_kstr(jb, "S", name_side(o->side));
	jb_kfx(jb, "L", o->last_price, s->price_dec);
	jb_kfx(jb, "l", o->last_qty, s->qty_dec);
	jb_kint(jb, "t", o->last_trade_id);
	jb_kint(jb, "i", o->id);
	event_send(a, UEV_TRADE_LITE, jb);
}

void
uev_json_position(struct jbuf *jb, const struct ex_account *a, int sym, int ps)
{
	const struct ex_symbol *s = &ex_symbols[sym];
	const struct ex_position *p = &a->pos[sym][ps];
	/* break-even covers an opening and a closing taker fee */
	fx_t bep = p->amt > 0 ? p->entry + fx_mul(p->entry, 100000) :
	    p->amt < 0 ? p->entry - fx_mul(p->entry, 100000) : 0;

	jb_kstr(jb, "s", s->name);
	jb_kfx(jb, "pa", p->amt, s->qty_dec);
	jb_kfx(jb, "ep", p->entry, entry_dec(sym));
	jb_kfx(jb, "bep", bep, 8);
	jb_kfx(jb, "cr", p->realized, 8);
	jb_kfx(jb, "up", acct_unrealized(a, sym, ps), 8);
	jb_kstr(jb, "mt", p->isolated ? "isolated" : "cross");
	jb_kfx(jb, "iw", p->iw, 8);
	jb_kstr(jb, "ps", name_ps(ps));
	jb_kstr(jb, "ma", "USDT");
}

void
uev_account(struct ex_account *a, const char *reason, const fx_t *bc, const bool *assets,
    const int (*pos)[2], int npos, int64_t now_ms)
{
	struct jbuf *jb;
	int i;

	if ((jb = event_begin(a, UEV_ACCOUNT_UPDATE, "ACCOUNT_UPDATE")) == NULL)
		return;
	jb_kint(jb, "T", now_ms);
	jb_kint(jb, "E", now_ms);
	jb_kopen(jb, "a", '{');
	jb_kopen(jb, "B", '[');
	for (i = 0; i < EX_NASSET; i++) {
		if (!assets[i])
			continue;
		jb_open(jb, '{');
		jb_kstr(jb, "a", ex_assets[i]);
		jb_kfx(jb, "wb", a->bal[i].wb, 8);
		jb_kfx(jb, "cw", a->bal[i].cw, 8);
		jb_kfx0(jb, "bc", bc[i], 8);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	jb_kopen(jb, "P", '[');
	for (i = 0; i < npos; i++) {
		jb_open(jb, '{');
		uev_json_position(jb, a, pos[i][0], pos[i][1]);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	jb_kstr(jb, "m", reason);
	jb_close(jb, '}');
	event_send(a, UEV_ACCOUNT_UPDATE, jb);
}

void
uev_margin_call(struct ex_account *a, const int (*pos)[2], int npos, int64_t now_ms)
{
	struct jbuf *jb;
	int i;

	if ((jb = event_begin(a, UEV_MARGIN_CALL, "MARGIN_CALL")) == NULL)
		return;
	jb_kint(jb, "E", now_ms);
	/* cw is sent for cross margin calls only (FACTS §1.3) */
	for (i = 0; i < npos; i++)
		if (!a->pos[pos[i][0]][pos[i][1]].isolated) {
			jb_kfx(jb, "cw", a->bal[0].cw, 8);
			break;
		}
	jb_kopen(jb, "p", '[');
	for (i = 0; i < npos; i++) {
		int sym = pos[i][0], ps = pos[i][1];
		const struct ex_position *p = &a->pos[sym][ps];
		const struct ex_symbol *s = &ex_symbols[sym];
		fx_t mp = engine_price(sym);

		jb_open(jb, '{');
		jb_kstr(jb, "s", s->name);
		jb_kstr(jb, "ps", name_ps(ps));
		jb_kfx(jb, "pa", p->amt, s->qty_dec);
		jb_kstr(jb, "mt", p->isolated ? "ISOLATED" : "CROSSED");
		jb_kfx(jb, "iw", p->iw, 8);
		jb_kfx(jb, "mp", mp, 8);
		jb_kfx(jb, "up", acct_unrealized(a, sym, ps), 8);
		jb_kfx(jb, "mm", fx_mul(fx_mul(fx_abs(p->amt), mp), EX_MAINT_RATE), 8);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	event_send(a, UEV_MARGIN_CALL, jb);
}

void
uev_config_leverage(struct ex_account *a, int sym, int64_t now_ms)
{
	struct jbuf *jb;

	if ((jb = event_begin(a, UEV_ACCOUNT_CONFIG_UPDATE, "ACCOUNT_CONFIG_UPDATE")) == NULL)
		return;
	jb_kint(jb, "E", now_ms);
	jb_kint(jb, "T", now_ms);
	jb_kopen(jb, "ac", '{');
	jb_kstr(jb, "s", ex_symbols[sym].name);
	jb_kint(jb, "l", a->leverage[sym]);
	jb_close(jb, '}');
	event_send(a, UEV_ACCOUNT_CONFIG_UPDATE, jb);
}

void
uev_config_multi_assets(struct ex_account *a, int64_t now_ms)
{
	struct jbuf *jb;

	if ((jb = event_begin(a, UEV_ACCOUNT_CONFIG_UPDATE, "ACCOUNT_CONFIG_UPDATE")) == NULL)
		return;
	jb_kint(jb, "E", now_ms);
	jb_kint(jb, "T", now_ms);
	jb_kopen(jb, "ai", '{');
	jb_kbool(jb, "j", a->multi_assets);
	jb_close(jb, '}');
	event_send(a, UEV_ACCOUNT_CONFIG_UPDATE, jb);
}

/* The run of members an algo order has both in ALGO_UPDATE and in the REST
 * answers, in the same order under each one's key names. */
const struct algo_keys algo_keys_event = { "at", "o", "s", "S", "ps", "f", "q", "X", "ai" };
const struct algo_keys algo_keys_rest = { "algoType", "orderType", "symbol", "side",
	"positionSide", "timeInForce", "quantity", "algoStatus", "actualOrderId" };

void
uev_json_algo_core(struct jbuf *jb, const struct ex_algo *g, const struct algo_keys *k)
{
	const struct ex_symbol *s = &ex_symbols[g->sym];
	char ai[24] = "";

	if (g->actual_oid)
		snprintf(ai, sizeof(ai), "%lld", (long long)g->actual_oid);
	jb_kstr(jb, k->algo_type, "CONDITIONAL");
	jb_kstr(jb, k->order_type, name_otype(g->type));
	jb_kstr(jb, k->symbol, s->name);
	jb_kstr(jb, k->side, name_side(g->side));
	jb_kstr(jb, k->pos_side, name_ps(g->ps));
	jb_kstr(jb, k->tif, name_tif(g->tif));
	jb_kfx(jb, k->qty, g->qty, s->qty_dec);
	jb_kstr(jb, k->status, name_algo_status(g->status));
	jb_kstr(jb, k->actual_oid, ai);
}

void
uev_json_algo(struct jbuf *jb, const struct ex_algo *g)
{
	const struct ex_symbol *s = &ex_symbols[g->sym];

	jb_kstr(jb, "caid", g->caid);
	jb_kint(jb, "aid", g->aid);
	uev_json_algo_core(jb, g, &algo_keys_event);
	jb_kfx(jb, "ap", g->avg, 5);
	jb_kfx(jb, "aq", g->filled, 5);
	jb_kstr(jb, "act", "0");
	jb_kfx0(jb, "tp", g->trigger, s->price_dec);
	jb_kfx0(jb, "p", g->price, s->price_dec);
	jb_kstr(jb, "V", "EXPIRE_MAKER");
	jb_kstr(jb, "wt", "CONTRACT_PRICE");
	jb_kstr(jb, "pm", "NONE");
	jb_kbool(jb, "cp", g->close_pos);
	jb_kbool(jb, "pP", false);
	jb_kbool(jb, "R", g->reduce);
	jb_kint(jb, "tt", g->trigger_ms);
	jb_kint(jb, "gtd", 0);
	jb_kstr(jb, "rm", g->rm);
}

void
uev_algo(struct ex_account *a, const struct ex_algo *g, int64_t now_ms)
{
	struct jbuf *jb;

	if ((jb = event_begin(a, UEV_ALGO_UPDATE, "ALGO_UPDATE")) == NULL)
		return;
	jb_kint(jb, "T", g->update_ms);
	jb_kint(jb, "E", now_ms);
	jb_kopen(jb, "o", '{');
	uev_json_algo(jb, g);
	jb_close(jb, '}');
	event_send(a, UEV_ALGO_UPDATE, jb);
}

void
uev_listen_key_expired(struct ex_sub *s, int64_t now_ms)
{
	struct jbuf *jb;

	ex.st.user_events_made[UEV_LISTEN_KEY_EXPIRED]++;
	s->acct->events_made[UEV_LISTEN_KEY_EXPIRED]++;
	if (!(s->mask & (1u << UEV_LISTEN_KEY_EXPIRED)))
		return;
	jb = begin();
	jb_open(jb, '{');
	jb_kstr(jb, "e", "listenKeyExpired");
	jb_kint(jb, "E", now_ms);
	jb_kstr(jb, "listenKey", s->key);
	jb_close(jb, '}');
	ws_enqueue(s->conn, s->conn->combined ? s->key : NULL, jb->p, jb->len);
	ex.st.user_events[UEV_LISTEN_KEY_EXPIRED]++;
	s->acct->events_sent[UEV_LISTEN_KEY_EXPIRED]++;
}
