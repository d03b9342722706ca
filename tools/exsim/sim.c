/* sim.c: the ground truth and control API under /sim/: per-account state,
 * counters, runtime accounts, deterministic stepping, and fault dispatch.
 * None of it exists on the real exchange; tests use it to judge clients. */
#include "exsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
lk_state_name(enum ex_lk_state s)
{
	static const char *const n[] = { "NONE", "ACTIVE", "EXPIRED", "CLOSED" };

	return n[s];
}

static void
counts_json(struct jbuf *jb, const char *key, const uint64_t *v)
{
	int i;

	jb_kopen(jb, key, '{');
	for (i = 0; i < UEV_N; i++)
		jb_kint(jb, name_uev(i), (int64_t)v[i]);
	jb_close(jb, '}');
}

static void
state_json(struct jbuf *jb, struct ex_account *a)
{
	size_t i;
	int s, ps;

	jb_open(jb, '{');
	jb_kint(jb, "account", a->id);
	jb_kstr(jb, "apiKey", a->api_key);
	jb_kbool(jb, "revoked", a->revoked);
	jb_kbool(jb, "hedge", a->hedge);
	jb_kbool(jb, "multiAssets", a->multi_assets);
	jb_kbool(jb, "bnbFees", a->bnb_fees);
	jb_kstr(jb, "listenKey", a->listen_key);
	jb_kstr(jb, "listenKeyState", lk_state_name(a->lk_state));
	jb_kint(jb, "listenKeyExpiresAt", a->lk_expire_ms);
	jb_kint(jb, "serverTime", ex_now_ms());
	jb_kopen(jb, "leverage", '{');
	for (s = 0; s < EX_NSYM; s++)
		jb_kint(jb, ex_symbols[s].name, a->leverage[s]);
	jb_close(jb, '}');
	jb_kopen(jb, "balances", '[');
	for (s = 0; s < EX_NASSET; s++) {
		jb_open(jb, '{');
		jb_kstr(jb, "a", ex_assets[s]);
		jb_kfx(jb, "wb", a->bal[s].wb, 8);
		jb_kfx(jb, "cw", a->bal[s].cw, 8);
		jb_kint(jb, "updateTime", a->bal[s].update_ms);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	/* every position the exchange ever touched, flat ones included, so a
	 * replay of ACCOUNT_UPDATE.P can be compared one to one */
	jb_kopen(jb, "positions", '[');
	for (s = 0; s < EX_NSYM; s++)
		for (ps = 0; ps < 3; ps++) {
			if (!a->pos[s][ps].touched && !a->pos[s][ps].amt)
				continue;
			jb_open(jb, '{');
			uev_json_position(jb, a, s, ps);
			jb_kint(jb, "updateTime", a->pos[s][ps].update_ms);
			jb_close(jb, '}');
		}
	jb_close(jb, ']');
	jb_kopen(jb, "orders", '[');
	for (i = 0; i < a->norders; i++) {
		jb_open(jb, '{');
		uev_json_order(jb, &a->orders[i]);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	jb_kopen(jb, "algoOrders", '[');
	for (i = 0; i < a->nalgos; i++) {
		jb_open(jb, '{');
		uev_json_algo(jb, &a->algos[i]);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	jb_kopen(jb, "fills", '[');
	for (i = 0; i < a->nfills; i++) {
		const struct ex_fill *f = &a->fills[i];
		const struct ex_symbol *sy = &ex_symbols[f->sym];

		jb_open(jb, '{');
		jb_kint(jb, "t", f->tid);
		jb_kint(jb, "i", f->oid);
		jb_kstr(jb, "s", sy->name);
		jb_kstr(jb, "S", name_side(f->side));
		jb_kstr(jb, "ps", name_ps(f->ps));
		jb_kfx(jb, "l", f->qty, sy->qty_dec);
		jb_kfx(jb, "L", f->price, sy->price_dec);
		jb_kfx0(jb, "n", f->fee, 8);
		jb_kstr(jb, "N", ex_assets[f->fee_asset]);
		jb_kbool(jb, "m", f->maker);
		jb_kfx0(jb, "rp", f->rp, 8);
		jb_kint(jb, "T", f->time_ms);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	counts_json(jb, "eventsMade", a->events_made);
	counts_json(jb, "eventsSent", a->events_sent);
	jb_close(jb, '}');
}

static void
stats_json(struct jbuf *jb)
{
	static const struct {
		const char *name;
		int idx;
	} mnames[] = { { "aggTrade", MST_AGGTRADE }, { "markPriceUpdate", MST_MARKPRICE },
		{ "24hrTicker", MST_TICKER }, { "24hrMiniTicker", MST_MINITICKER },
		{ "forceOrder", MST_FORCEORDER }, { "kline", MST_KLINE0 }, { "trade", MST_TRADE },
		{ "bookTicker", MST_BOOKTICKER }, { "depthUpdate", MST_DEPTH },
		{ "depthUpdatePartial", MST_DEPTH5 } };
	size_t i;

	jb_open(jb, '{');
	counts_json(jb, "eventsSent", ex.st.user_events);
	counts_json(jb, "eventsMade", ex.st.user_events_made);
	jb_kopen(jb, "marketEventsSent", '{');
	for (i = 0; i < sizeof(mnames) / sizeof(mnames[0]); i++)
		jb_kint(jb, mnames[i].name, (int64_t)ex.st.market_events[mnames[i].idx]);
	jb_close(jb, '}');
	jb_kopen(jb, "connections", '{');
	jb_kint(jb, "open", (int64_t)ex.st.conns_open);
	jb_kint(jb, "total", (int64_t)ex.st.conns_total);
	jb_kint(jb, "closed", (int64_t)ex.st.conns_closed);
	jb_kint(jb, "rejected", (int64_t)ex.st.conns_rejected);
	jb_kint(jb, "droppedSlow", (int64_t)ex.st.conns_dropped_slow);
	jb_kint(jb, "droppedRxLimit", (int64_t)ex.st.conns_rx_limited);
	jb_kint(jb, "droppedPongTimeout", (int64_t)ex.st.conns_pong_timeout);
	jb_kint(jb, "cut24h", (int64_t)ex.st.conns_cut_24h);
	jb_close(jb, '}');
	jb_kopen(jb, "rest", '{');
	jb_kint(jb, "requests", (int64_t)ex.st.rest_requests);
	jb_kint(jb, "weightUsed", (int64_t)ex.st.rest_weight);
	jb_kint(jb, "listenKeyPost", (int64_t)ex.st.lk_post);
	jb_kint(jb, "listenKeyPut", (int64_t)ex.st.lk_put);
	jb_kint(jb, "listenKeyDelete", (int64_t)ex.st.lk_delete);
	jb_kint(jb, "http429", (int64_t)ex.st.n429);
	jb_kint(jb, "http418", (int64_t)ex.st.n418);
	jb_kint(jb, "bans", (int64_t)ex.st.bans);
	rl_json(jb);
	jb_close(jb, '}');
	jb_kint(jb, "accounts", ex.naccts);
	jb_kint(jb, "actions", (int64_t)ex.st.actions);
	jb_kint(jb, "wsMessagesIn", (int64_t)ex.st.ws_msgs_in);
	jb_kint(jb, "bytesQueued", (int64_t)ex.st.bytes_queued);
	jb_kbool(jb, "paused", ex.paused);
	jb_close(jb, '}');
}

static void
account_json(struct jbuf *jb, const struct ex_account *a)
{
	jb_open(jb, '{');
	jb_kint(jb, "id", a->id);
	jb_kstr(jb, "apiKey", a->api_key);
	jb_kstr(jb, "secretKey", a->secret);
	jb_kbool(jb, "hedge", a->hedge);
	jb_kbool(jb, "revoked", a->revoked);
	jb_close(jb, '}');
}

/* POST /sim/accounts: {"count":N} adds N generated accounts, or
 * {"apiKey":..,"secretKey":..} adds one with the given keys. */
static void
accounts_post(struct ex_req *rq, struct ex_resp *rs)
{
	cJSON *root = rq->body ? cJSON_ParseWithLength(rq->body, rq->body_len) : NULL;
	const cJSON *cnt = root ? cJSON_GetObjectItemCaseSensitive(root, "count") : NULL;
	const cJSON *k = root ? cJSON_GetObjectItemCaseSensitive(root, "apiKey") : NULL;
	const cJSON *sk = root ? cJSON_GetObjectItemCaseSensitive(root, "secretKey") : NULL;
	int n = cJSON_IsNumber(cnt) ? (int)cnt->valuedouble : 1, i;

	if (rq->body_len && !root) {
		resp_error(rs, 400, -1, "body must be JSON");
		return;
	}
	if (n < 1 || n > 100000 || (k && !cJSON_IsString(k)) || (sk && !cJSON_IsString(sk))) {
		resp_error(rs, 400, -1, "count must be 1..100000; apiKey/secretKey strings");
		cJSON_Delete(root);
		return;
	}
	if (cJSON_IsString(k) && acct_by_api_key(k->valuestring)) {
		resp_error(rs, 400, -1, "apiKey already exists");
		cJSON_Delete(root);
		return;
	}
	jb_open(&rs->body, '[');
	for (i = 0; i < n; i++) {
		struct ex_account *a = acct_add(i == 0 && cJSON_IsString(k) ? k->valuestring : NULL,
		    i == 0 && cJSON_IsString(sk) ? sk->valuestring : NULL);

		account_json(&rs->body, a);
	}
	jb_close(&rs->body, ']');
	cJSON_Delete(root);
}

void
sim_handle(struct ex_req *rq, struct ex_resp *rs)
{
	const char *p = rq->path;

	if (!strcmp(p, "/sim/state") && rq->method == LWSHUMETH_GET) {
		const char *id = req_param(rq, "account");
		struct ex_account *a = id ? acct_by_id(atoi(id)) : NULL;

		if (!a) {
			resp_error(rs, 404, -1, "unknown account");
			return;
		}
		state_json(&rs->body, a);
	} else if (!strcmp(p, "/sim/stats") && rq->method == LWSHUMETH_GET) {
		stats_json(&rs->body);
	} else if (!strcmp(p, "/sim/accounts") && rq->method == LWSHUMETH_GET) {
		int i;

		jb_open(&rs->body, '[');
		for (i = 0; i < ex.naccts; i++)
			account_json(&rs->body, ex.accts[i]);
		jb_close(&rs->body, ']');
	} else if (!strcmp(p, "/sim/accounts") && rq->method == LWSHUMETH_POST) {
		accounts_post(rq, rs);
	} else if (!strcmp(p, "/sim/fault") && rq->method == LWSHUMETH_POST) {
		fault_handle(rq->body ? rq->body : "", rq->body_len, rs);
	} else if (!strcmp(p, "/sim/step") && rq->method == LWSHUMETH_POST) {
		/* run N activity steps now, whatever the rate or pause state */
		const char *c = req_param(rq, "count");
		int n = c ? atoi(c) : 1, i, ev = 0;

		if (n < 0 || n > 1000000) {
			resp_error(rs, 400, -1, "count must be 0..1000000");
			return;
		}
		for (i = 0; i < n; i++)
			ev += engine_step();
		jb_printf(&rs->body, "{\"steps\":%d,\"events\":%d}", n, ev);
	} else {
		resp_error(rs, 404, -1, "unknown /sim/ endpoint");
	}
}
