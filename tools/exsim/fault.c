/* fault.c: POST /sim/fault. Injects the failures a client must survive:
 * dropped connections, expired listen keys, revoked API keys, rate-limit
 * storms, lost pongs and pings, malformed, oversized and unknown frames,
 * stalled sockets, frames injected as given, and pausing the activity;
 * for market data, lost depth diffs (depth_gap) and market connections
 * killed abruptly (kill_market). */
#include "exsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OVERSIZED_DEFAULT_BYTES (2 * 1024 * 1024)

static bool
conn_has_account(const struct ex_conn *c, int id)
{
	int i;

	for (i = 0; i < c->nsubs; i++)
		if (c->subs[i]->acct->id == id)
			return true;
	return false;
}

/* Connections a fault applies to: those carrying the account's key, or
 * every connection when no account is named. */
static bool
targeted(const struct ex_conn *c, int account)
{
	if (c->closing || c->kill_now)
		return false;
	return account <= 0 || conn_has_account(c, account);
}

static void
send_raw(struct ex_conn *c, const char *data, size_t len, const char *stream_wrap)
{
	/* fault frames bypass the events allow-list on purpose */
	ws_enqueue(c, stream_wrap, data, len);
}

static const char *
conn_stream(const struct ex_conn *c, int account)
{
	int i;

	if (!c->combined)
		return NULL;
	for (i = 0; i < c->nsubs; i++)
		if (account <= 0 || c->subs[i]->acct->id == account)
			return c->subs[i]->key;
	return c->nstreams ? c->streams[0].name : "exsim";
}

void
fault_handle(const char *body, size_t len, struct ex_resp *rs)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *kind = root ? cJSON_GetObjectItemCaseSensitive(root, "kind") : NULL;
	const cJSON *acc = root ? cJSON_GetObjectItemCaseSensitive(root, "account") : NULL;
	const cJSON *pct = root ? cJSON_GetObjectItemCaseSensitive(root, "percent") : NULL;
	const cJSON *dur = root ? cJSON_GetObjectItemCaseSensitive(root, "duration_ms") : NULL;
	const cJSON *bytes = root ? cJSON_GetObjectItemCaseSensitive(root, "bytes") : NULL;
	const cJSON *evn = root ? cJSON_GetObjectItemCaseSensitive(root, "event") : NULL;
	const cJSON *next = root ? cJSON_GetObjectItemCaseSensitive(root, "next") : NULL;
	const cJSON *graceful = root ? cJSON_GetObjectItemCaseSensitive(root, "graceful") : NULL;
	const cJSON *frame = root ? cJSON_GetObjectItemCaseSensitive(root, "frame") : NULL;
	const cJSON *path = root ? cJSON_GetObjectItemCaseSensitive(root, "path") : NULL;
	const cJSON *count = root ? cJSON_GetObjectItemCaseSensitive(root, "count") : NULL;
	const cJSON *body_ = root ? cJSON_GetObjectItemCaseSensitive(root, "body") : NULL;
	const cJSON *sym = root ? cJSON_GetObjectItemCaseSensitive(root, "symbol") : NULL;
	const cJSON *conn = root ? cJSON_GetObjectItemCaseSensitive(root, "conn") : NULL;
	const cJSON *route = root ? cJSON_GetObjectItemCaseSensitive(root, "route") : NULL;
	int account = cJSON_IsNumber(acc) ? (int)acc->valuedouble : 0;
	struct ex_account *a = account > 0 ? acct_by_id(account) : NULL;
	struct ex_conn *c, *cn;
	const char *k;
	int affected = 0;

	if (!cJSON_IsString(kind)) {
		resp_error(rs, 400, -1, "body must be JSON with a string \"kind\"");
		goto out;
	}
	if (account > 0 && !a) {
		resp_error(rs, 404, -1, "unknown account");
		goto out;
	}
	k = kind->valuestring;
	if (!strcmp(k, "drop")) {
		double p = cJSON_IsNumber(pct) ? pct->valuedouble : 100;

		for (c = ex.conns; c; c = cn) {
			cn = c->next;
			if (!targeted(c, account))
				continue;
			if (p < 100 && (double)rng_below(&ex.fault_rng, 10000) >= p * 100)
				continue;
			ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "exsim drop",
			    !cJSON_IsTrue(graceful));
			affected++;
		}
	} else if (!strcmp(k, "expire_listen_key")) {
		if (!a) {
			resp_error(rs, 400, -1, "expire_listen_key needs \"account\"");
			goto out;
		}
		affected = a->lk_state == LK_ACTIVE;
		acct_listen_key_expire(a);
	} else if (!strcmp(k, "revoke_api_key") || !strcmp(k, "restore_api_key")) {
		if (!a) {
			resp_error(rs, 400, -1, "revoke_api_key needs \"account\"");
			goto out;
		}
		a->revoked = k[0] == 'r' && k[1] == 'e' && k[2] == 'v';
		a->rejected = 0;
		if (a->revoked && a->lk_state == LK_ACTIVE) {
			/* the key's stream dies with it, silently */
			a->lk_state = LK_CLOSED;
			a->lk_gen++;
		}
		affected = 1;
	} else if (!strcmp(k, "rate_limit_storm")) {
		int64_t d = cJSON_IsNumber(dur) ? (int64_t)dur->valuedouble : 10000;

		rl_storm(ex_now_ms() + d);
		affected = 1;
	} else if (!strcmp(k, "reset_rate_limits")) {
		rl_reset();
		affected = 1;
	} else if (!strcmp(k, "ignore_pongs") || !strcmp(k, "stop_ping") ||
	    !strcmp(k, "stall")) {
		if (!strcmp(k, "stall") && cJSON_IsNumber(next)) {
			ex.stall_next += (int)next->valuedouble;
			affected = (int)next->valuedouble;
		}
		for (c = ex.conns; c && !cJSON_IsNumber(next); c = c->next) {
			if (!targeted(c, account))
				continue;
			if (k[0] == 'i')
				c->ignore_pong = true;
			else if (k[1] == 't' && k[2] == 'o')
				c->no_ping = true;
			else
				c->stalled = true;
			affected++;
		}
	} else if (!strcmp(k, "malformed_frame") || !strcmp(k, "oversized_frame") ||
	    !strcmp(k, "unknown_event")) {
		struct jbuf jb = { 0 };
		int64_t now = ex_now_ms();
		bool wrap = k[0] != 'm';

		if (k[0] == 'm') {
			/* a frame cut in the middle of an object */
			jb_printf(&jb, "{\"e\":\"ORDER_TRADE_UPDATE\",\"T\":%lld,\"E\":%lld,\"o\":{\"s\":"
			    "\"BTCUSDT\",\"c\":\"trunc", (long long)now, (long long)now);
		} else if (k[0] == 'o') {
			size_t n = cJSON_IsNumber(bytes) ? (size_t)bytes->valuedouble :
			    OVERSIZED_DEFAULT_BYTES;

			jb_printf(&jb, "{\"e\":\"exsimOversized\",\"E\":%lld,\"pad\":\"", (long long)now);
			jb_reserve(&jb, n);
			while (jb.len + 2 < n)
				jb_raw(&jb, "xxxxxxxxxxxxxxxx", n - jb.len - 2 < 16 ? n - jb.len - 2 : 16);
			jb_raw(&jb, "\"}", 2);
		} else {
			const char *name = cJSON_IsString(evn) ? evn->valuestring : "STRATEGY_UPDATE";

			jb_open(&jb, '{');
			jb_kstr(&jb, "e", name);
			jb_kint(&jb, "T", now);
			jb_kint(&jb, "E", now);
			jb_kopen(&jb, "su", '{');
			jb_kint(&jb, "si", 176054594);
			jb_kstr(&jb, "st", "GRID");
			jb_kstr(&jb, "ss", "NEW");
			jb_kstr(&jb, "s", "BTCUSDT");
			jb_kint(&jb, "ut", now);
			jb_kint(&jb, "c", 8007);
			jb_close(&jb, '}');
			jb_close(&jb, '}');
		}
		for (c = ex.conns; c; c = c->next) {
			if (!targeted(c, account))
				continue;
			send_raw(c, jb.p, jb.len, wrap ? conn_stream(c, account) : NULL);
			affected++;
		}
		jb_free(&jb);
	} else if (!strcmp(k, "inject")) {
		/* any frame, as given, to the account's sockets (in its envelope on
		 * combined ones): what the exchange could send, however odd */
		if (!a || !cJSON_IsString(frame)) {
			resp_error(rs, 400, -1, "inject needs \"account\" and a string \"frame\"");
			goto out;
		}
		for (c = ex.conns; c; c = c->next) {
			if (!targeted(c, account))
				continue;
			send_raw(c, frame->valuestring, strlen(frame->valuestring),
			    conn_stream(c, account));
			affected++;
		}
	} else if (!strcmp(k, "bad_page")) {
		/* the next `count` signed requests to `path` (of `account`, if given)
		 * get `body` with 200: a page the client cannot use */
		if (!cJSON_IsString(path) || strlen(path->valuestring) >= sizeof(ex.bad_page_path) ||
		    !cJSON_IsNumber(count) || count->valuedouble < 0 || !cJSON_IsString(body_)) {
			resp_error(rs, 400, -1, "bad_page needs a string \"path\" (< 64 bytes), a "
			    "\"count\" >= 0 and a string \"body\"");
			goto out;
		}
		free(ex.bad_page_body);
		ex.bad_page_body = strdup(body_->valuestring);
		snprintf(ex.bad_page_path, sizeof(ex.bad_page_path), "%s", path->valuestring);
		ex.bad_page_left = ex.bad_page_body ? (int)count->valuedouble : 0;
		ex.bad_page_account = account;
		affected = 1;
	} else if (!strcmp(k, "depth_gap")) {
		/* the next diff of every subscribed speed of "symbol" (all
		 * symbols if not given) is lost, as after a server-side hiccup: the one after
		 * it carries a pu that is not the u a client saw last */
		int s = -1;

		if (sym && (!cJSON_IsString(sym) || (s = msym_index(sym->valuestring)) < 0)) {
			resp_error(rs, 400, -1121, "Invalid symbol.");
			goto out;
		}
		affected = market_depth_gap(s);
	} else if (!strcmp(k, "kill_market")) {
		/* abruptly (no close frame) end the /market and /public (and
		 * legacy) connections, or only "conn" (an id of /sim/conns), or
		 * only those of "route" ("market" or "public") */
		int64_t id = cJSON_IsNumber(conn) ? (int64_t)conn->valuedouble : 0;
		const char *rname = cJSON_IsString(route) ? route->valuestring : NULL;

		if (rname && strcmp(rname, "market") && strcmp(rname, "public")) {
			resp_error(rs, 400, -1, "route must be \"market\" or \"public\"");
			goto out;
		}
		for (c = ex.conns; c; c = cn) {
			cn = c->next;
			if (c->closing || c->kill_now || c->route == ROUTE_PRIVATE)
				continue;
			if (id && (int64_t)c->id != id)
				continue;
			if (rname && c->route != (rname[0] == 'm' ? ROUTE_MARKET : ROUTE_PUBLIC))
				continue;
			ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "exsim kill_market",
			    !cJSON_IsTrue(graceful));
			affected++;
		}
	} else if (!strcmp(k, "pause") || !strcmp(k, "resume")) {
		ex.paused = k[0] == 'p';
		affected = 1;
	} else {
		resp_error(rs, 400, -1, "unknown fault kind");
		goto out;
	}
	jb_open(&rs->body, '{');
	jb_kbool(&rs->body, "ok", true);
	jb_kstr(&rs->body, "kind", k);
	jb_kint(&rs->body, "affected", affected);
	jb_close(&rs->body, '}');
out:
	cJSON_Delete(root);
}
