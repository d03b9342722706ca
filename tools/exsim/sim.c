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

/* An order as its last ORDER_TRADE_UPDATE.o had it, plus its creation
 * time, which no event names (the NEW event's T is the same time). */
static void
order_item(struct jbuf *jb, const void *v)
{
	const struct ex_order *o = v;

	uev_json_order(jb, o);
	jb_kint(jb, "time", o->time_ms);
}

/* An algo order as its last ALGO_UPDATE.o had it, plus that event's T
 * (the REST updateTime) and the creation time. */
static void
algo_item(struct jbuf *jb, const void *v)
{
	const struct ex_algo *g = v;

	uev_json_algo(jb, g);
	jb_kint(jb, "T", g->update_ms);
	jb_kint(jb, "createTime", g->create_ms);
}

static void
fill_item(struct jbuf *jb, const void *v)
{
	const struct ex_fill *f = v;
	const struct ex_symbol *sy = &ex_symbols[f->sym];

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
}

/* An array of n objects of size bytes each at v, under key; one() writes
 * the members of each. */
static void
array_json(struct jbuf *jb, const char *key, const void *v, size_t n, size_t size,
    void (*one)(struct jbuf *, const void *))
{
	size_t i;

	jb_kopen(jb, key, '[');
	for (i = 0; i < n; i++) {
		jb_open(jb, '{');
		one(jb, (const char *)v + i * size);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
}

static void
state_json(struct jbuf *jb, struct ex_account *a)
{
	int s, ps;

	jb_open(jb, '{');
	jb_kint(jb, "account", a->id);
	jb_kstr(jb, "apiKey", a->api_key);
	jb_kbool(jb, "revoked", a->revoked);
	jb_kint(jb, "rejected", (int64_t)a->rejected);
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
	array_json(jb, "orders", a->orders, a->norders, sizeof(*a->orders), order_item);
	array_json(jb, "algoOrders", a->algos, a->nalgos, sizeof(*a->algos), algo_item);
	array_json(jb, "fills", a->fills, a->nfills, sizeof(*a->fills), fill_item);
	counts_json(jb, "eventsMade", a->events_made);
	counts_json(jb, "eventsSent", a->events_sent);
	jb_close(jb, '}');
}

struct counter {
	const char *name;
	const uint64_t *v;
};

static const struct counter conn_counters[] = { { "open", &ex.st.conns_open },
	{ "total", &ex.st.conns_total }, { "closed", &ex.st.conns_closed },
	{ "rejected", &ex.st.conns_rejected }, { "droppedSlow", &ex.st.conns_dropped_slow },
	{ "droppedRxLimit", &ex.st.conns_rx_limited },
	{ "droppedPongTimeout", &ex.st.conns_pong_timeout }, { "cut24h", &ex.st.conns_cut_24h },
	{ "attempts", &ex.st.conn_attempts }, { "attemptsRefused", &ex.st.conn_attempts_refused } };
static const struct counter rest_counters[] = { { "requests", &ex.st.rest_requests },
	{ "weightUsed", &ex.st.rest_weight }, { "listenKeyPost", &ex.st.lk_post },
	{ "listenKeyPut", &ex.st.lk_put }, { "listenKeyDelete", &ex.st.lk_delete },
	{ "http429", &ex.st.n429 }, { "http418", &ex.st.n418 }, { "bans", &ex.st.bans },
	{ "badPages", &ex.st.bad_pages } };

static void
counters_json(struct jbuf *jb, const struct counter *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		jb_kint(jb, c[i].name, (int64_t)*c[i].v);
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
	jb_kint(jb, "marketFramesSent", (int64_t)ex.st.market_frames);
	jb_kint(jb, "marketBytesSent", (int64_t)ex.st.market_bytes);
	jb_kopen(jb, "connections", '{');
	counters_json(jb, conn_counters, sizeof(conn_counters) / sizeof(conn_counters[0]));
	jb_close(jb, '}');
	jb_kopen(jb, "rest", '{');
	counters_json(jb, rest_counters, sizeof(rest_counters) / sizeof(rest_counters[0]));
	rl_json(jb);
	jb_close(jb, '}');
	jb_kint(jb, "accounts", ex.naccts);
	jb_kint(jb, "actions", (int64_t)ex.st.actions);
	jb_kint(jb, "wsMessagesIn", (int64_t)ex.st.ws_msgs_in);
	jb_kint(jb, "bytesQueued", (int64_t)ex.st.bytes_queued);
	jb_kbool(jb, "paused", ex.paused);
	jb_kint(jb, "symbols", ex_nsym);
	jb_kint(jb, "zeroPriceTrades", (int64_t)ex.st.zero_trades);
	market_gaps_json(jb);
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

/* Record a signed request that passed the rate limit and the signature. */
void
sim_journal(const struct ex_req *rq, const struct ex_account *a)
{
	struct ex_journal_entry *e;
	const char *v;

	if (ex.journal == NULL && (ex.journal = calloc(EX_JOURNAL, sizeof(*ex.journal))) == NULL)
		return;
	e = &ex.journal[ex.njournal++ % EX_JOURNAL];
	e->t = ex_now_ms();
	e->account = a->id;
	snprintf(e->path, sizeof(e->path), "%.39s", rq->path);
	v = req_param(rq, "symbol");
	snprintf(e->symbol, sizeof(e->symbol), "%s", v ? v : "");
	v = req_param(rq, "startTime");
	e->start_time = v ? strtoll(v, NULL, 10) : -1;
	v = req_param(rq, "endTime");
	e->end_time = v ? strtoll(v, NULL, 10) : -1;
}

/* GET /sim/requests[?account=N]: the journal, oldest first. */
static void
journal_json(struct jbuf *jb, int account)
{
	uint64_t i = ex.njournal > EX_JOURNAL ? ex.njournal - EX_JOURNAL : 0;

	jb_open(jb, '[');
	for (; ex.journal && i < ex.njournal; i++) {
		const struct ex_journal_entry *e = &ex.journal[i % EX_JOURNAL];

		if (account > 0 && e->account != account)
			continue;
		jb_open(jb, '{');
		jb_kint(jb, "t", e->t);
		jb_kint(jb, "account", e->account);
		jb_kstr(jb, "path", e->path);
		jb_kstr(jb, "symbol", e->symbol);
		jb_kint(jb, "startTime", e->start_time);
		jb_kint(jb, "endTime", e->end_time);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
}

/* GET /sim/book?symbol=S&u=ID[&limit=N]: the book's top N (default 20,
 * max 1000) per side right after update id u (default: now). */
static void
book_get(struct ex_req *rq, struct ex_resp *rs)
{
	const char *s = req_param(rq, "symbol"), *u = req_param(rq, "u");
	const char *l = req_param(rq, "limit"), *why = NULL;
	int sym = s ? msym_index(s) : -1, limit = l ? atoi(l) : 20;
	struct jbuf jb = { 0 };

	if (sym < 0) {
		resp_error(rs, 400, -1121, "Invalid symbol.");
		return;
	}
	if (limit < 1 || limit > 1000) {
		resp_error(rs, 400, -1130, "limit must be 1..1000");
		return;
	}
	if (market_json_book_at(&jb, sym, u ? strtoll(u, NULL, 10) : -1, limit,
	    &why) < 0) {
		resp_error(rs, 404, -1, why);
		jb_free(&jb);
		return;
	}
	jb_raw(&rs->body, jb.p, jb.len);
	jb_free(&jb);
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
	} else if (!strcmp(p, "/sim/requests") && rq->method == LWSHUMETH_GET) {
		const char *id = req_param(rq, "account");

		journal_json(&rs->body, id ? atoi(id) : 0);
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
	} else if (!strcmp(p, "/sim/conns") && rq->method == LWSHUMETH_GET) {
		ws_conns_json(&rs->body);
	} else if (!strcmp(p, "/sim/klines") && rq->method == LWSHUMETH_GET) {
		/* /fapi/v1/klines without weight; the whole kept history by default */
		rest_klines(rq, rs, 1501, 1501);
	} else if (!strcmp(p, "/sim/book") && rq->method == LWSHUMETH_GET) {
		book_get(rq, rs);
	} else if (!strcmp(p, "/sim/step") && rq->method == LWSHUMETH_POST) {
		/* run N activity steps, then M market ticks, now, whatever the
		 * rate or pause state: with --paused this is the whole clock */
		const char *c = req_param(rq, "count"), *tk = req_param(rq, "ticks");
		int n = c ? atoi(c) : tk ? 0 : 1, m = tk ? atoi(tk) : 0, i, ev = 0;

		if (n < 0 || n > 1000000 || m < 0 || m > 100000) {
			resp_error(rs, 400, -1, "count must be 0..1000000, ticks 0..100000");
			return;
		}
		for (i = 0; i < n; i++)
			ev += engine_step();
		for (i = 0; i < m; i++)
			market_tick();
		jb_printf(&rs->body, "{\"steps\":%d,\"events\":%d,\"ticks\":%d}", n, ev, m);
	} else {
		resp_error(rs, 404, -1, "unknown /sim/ endpoint");
	}
}
