/* ws.c: WebSocket connections on the /private, /market, /public (and
 * legacy) routes: URL parsing, subscriptions, live SUBSCRIBE and friends,
 * per-connection send queues, server pings, pong deadlines, the 24 h cut
 * and the 10 messages/s incoming limit. */
#include "exsim.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PING_INTERVAL_MS (3LL * 60 * 1000)
#define PONG_TIMEOUT_MS (10LL * 60 * 1000)
#define CONN_LIFETIME_MS (24LL * 3600 * 1000)
#define RX_MSGS_PER_S 10
#define RX_MAX_BYTES (256 * 1024)
#define REC_HDR 8
#define WRITES_PER_CALLBACK 512
#define ATTEMPT_WINDOW_MS (5LL * 60 * 1000)
#define ATTEMPT_IPS 64

/* Handshakes per IP in the last ATTEMPT_WINDOW_MS, for --conn-attempts:
 * FACTS §1.2 has no USDⓈ-M figure and assumes Spot's "300 connections per
 * attempt every 5 minutes per IP" (uncertain), so the limit is opt-in. */
static struct attempts {
	char ip[64];
	int64_t *t; /* ring of the last cfg.conn_attempts handshake times */
	int head, n;
} attempts[ATTEMPT_IPS];

/* Returns -1 when the handshake from wsi's IP is over the limit. */
static int
attempt_admit(struct lws *wsi)
{
	int64_t now = ex_now_ms(), win = ex_scaled_ms(ATTEMPT_WINDOW_MS);
	int lim = ex.cfg.conn_attempts, i, free_i = -1;
	char ip[64] = "";
	struct attempts *a = NULL;

	ex.st.conn_attempts++;
	if (lim <= 0)
		return 0;
	lws_get_peer_simple(wsi, ip, sizeof(ip));
	for (i = 0; i < ATTEMPT_IPS && !a; i++) {
		if (attempts[i].t && !strcmp(attempts[i].ip, ip))
			a = &attempts[i];
		else if (!attempts[i].t && free_i < 0)
			free_i = i;
	}
	if (!a) {
		if (free_i < 0)
			free_i = (int)(rng_below(&ex.fault_rng, ATTEMPT_IPS));
		a = &attempts[free_i];
		free(a->t);
		memset(a, 0, sizeof(*a));
		snprintf(a->ip, sizeof(a->ip), "%s", ip);
		if (!(a->t = calloc((size_t)lim, sizeof(*a->t))))
			abort();
	}
	while (a->n && now - a->t[a->head] >= win) {
		a->head = (a->head + 1) % lim;
		a->n--;
	}
	if (a->n == lim) {
		ex.st.conn_attempts_refused++;
		return -1;
	}
	a->t[(a->head + a->n++) % lim] = now;
	return 0;
}

struct sidx {
	struct ex_conn **v;
	int n, cap;
};
static struct sidx *sidx; /* EX_NSTREAM_IDS, by stream id */

/* Size the delivery index for the market's symbols; before market_init. */
void
ws_init(void)
{
	sidx = calloc((size_t)EX_NSTREAM_IDS, sizeof(*sidx));
	if (!sidx)
		abort();
}

struct ws_pss {
	struct ex_conn *conn;
	void *http;
};

static size_t
rec_size(size_t len)
{
	return (REC_HDR + LWS_PRE + len + 7) & ~(size_t)7;
}

static void
sidx_add(int sid, struct ex_conn *c)
{
	struct sidx *x = &sidx[sid];

	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 8;
		x->v = realloc(x->v, sizeof(*x->v) * (size_t)x->cap);
		if (!x->v)
			abort();
	}
	x->v[x->n++] = c;
}

static void
sidx_del(int sid, struct ex_conn *c)
{
	struct sidx *x = &sidx[sid];
	int i;

	for (i = 0; i < x->n; i++)
		if (x->v[i] == c) {
			x->v[i] = x->v[--x->n];
			return;
		}
}

bool
ws_stream_has_subs(int sid)
{
	return sidx[sid].n > 0;
}

/* Queue one text frame; with a stream name it is wrapped in the combined
 * envelope {"stream":..,"data":..}. Stalled sockets swallow everything. */
void
ws_enqueue(struct ex_conn *c, const char *stream, const char *data, size_t len)
{
	size_t plen = len, need, slen = 0;
	unsigned char *rec, *pl;
	uint32_t l32;

	if (c->stalled || c->closing || c->kill_now)
		return;
	if (stream) {
		slen = strlen(stream);
		plen += slen + 22;
	}
	need = rec_size(plen);
	if (c->q_tail - c->q_head + need > ex.cfg.max_queue_bytes) {
		/* the exchange drops consumers that cannot keep up */
		ex.st.conns_dropped_slow++;
		ws_close(c, 0, NULL, true);
		return;
	}
	if (c->q_tail + need > c->q_cap) {
		if (c->q_head) {
			memmove(c->q, c->q + c->q_head, c->q_tail - c->q_head);
			c->q_tail -= c->q_head;
			c->q_head = 0;
		}
		if (c->q_tail + need > c->q_cap) {
			size_t ncap = c->q_cap ? c->q_cap : 16384;

			while (ncap < c->q_tail + need)
				ncap *= 2;
			c->q = realloc(c->q, ncap);
			if (!c->q)
				abort();
			c->q_cap = ncap;
		}
	}
	rec = c->q + c->q_tail;
	pl = rec + REC_HDR + LWS_PRE;
	if (stream) {
		memcpy(pl, "{\"stream\":\"", 11);
		memcpy(pl + 11, stream, slen);
		memcpy(pl + 11 + slen, "\",\"data\":", 9);
		memcpy(pl + 20 + slen, data, len);
		memcpy(pl + 20 + slen + len, "}", 1);
		plen = 21 + slen + len;
	} else {
		memcpy(pl, data, len);
	}
	l32 = (uint32_t)plen;
	memcpy(rec, &l32, 4);
	memset(rec + 4, 0, 4);
	c->q_tail += rec_size(plen);
	c->q_msgs++;
	ex.st.bytes_queued += plen;
	lws_callback_on_writable(c->wsi);
}

void
ws_deliver_user(struct ex_account *a, int uev, const char *data, size_t len)
{
	struct ex_sub *s;

	for (s = a->subs; s; s = s->anext) {
		if (s->gen != a->lk_gen || !(s->mask & (1u << uev)))
			continue;
		ws_enqueue(s->conn, s->conn->combined ? s->key : NULL, data, len);
		ex.st.user_events[uev]++;
		a->events_sent[uev]++;
	}
}

void
ws_deliver_stream(int sid, const char *stream, const char *data, size_t len)
{
	struct sidx *x = &sidx[sid];
	int i;

	for (i = 0; i < x->n; i++)
		ws_enqueue(x->v[i], x->v[i]->combined ? stream : NULL, data, len);
	ex.st.market_frames += (uint64_t)x->n;
	ex.st.market_bytes += (uint64_t)x->n * len;
}

void
ws_close(struct ex_conn *c, int code, const char *reason, bool abrupt)
{
	if (abrupt) {
		/* no close frame: the TCP connection just goes away. lws alone
		 * would half-close and wait for the peer, so shut it down here */
		int fd = (int)lws_get_socket_fd(c->wsi);

		c->kill_now = true;
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	if (c->closing)
		return;
	c->closing = true;
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason ? reason : "");
	lws_callback_on_writable(c->wsi);
}

/* GET /sim/conns: every open connection. */
void
ws_conns_json(struct jbuf *jb)
{
	static const char *const rn[] = { "private", "market", "public", "legacy" };
	struct ex_conn *c;
	int i;

	jb_open(jb, '[');
	for (c = ex.conns; c; c = c->next) {
		jb_open(jb, '{');
		jb_kint(jb, "id", (int64_t)c->id);
		jb_kstr(jb, "route", rn[c->route]);
		jb_kbool(jb, "combined", c->combined);
		jb_kint(jb, "openedMs", c->opened_ms);
		jb_kbool(jb, "closing", c->closing || c->kill_now);
		jb_kint(jb, "nStreams", c->nstreams);
		jb_kopen(jb, "streams", '[');
		for (i = 0; i < c->nstreams; i++)
			jb_str(jb, c->streams[i].name);
		jb_close(jb, ']');
		jb_kint(jb, "nListenKeys", c->nsubs);
		jb_kint(jb, "msgsSent", (int64_t)c->sent_msgs);
		jb_kint(jb, "msgsQueued", (int64_t)c->q_msgs);
		jb_kint(jb, "msgsReceived", (int64_t)c->rx_msgs);
		jb_kint(jb, "subscribes", (int64_t)c->n_subscribe);
		jb_kint(jb, "unsubscribes", (int64_t)c->n_unsubscribe);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
}

void
ws_sub_unlink(struct ex_sub *s)
{
	struct ex_account *a = s->acct;

	if (s->aprev)
		s->aprev->anext = s->anext;
	else
		a->subs = s->anext;
	if (s->anext)
		s->anext->aprev = s->aprev;
	s->anext = s->aprev = NULL;
}

static int
find_sub(const struct ex_conn *c, const char *key)
{
	int i;

	for (i = 0; i < c->nsubs; i++)
		if (!strcmp(c->subs[i]->key, key))
			return i;
	return -1;
}

static void
drop_sub(struct ex_conn *c, int i)
{
	ws_sub_unlink(c->subs[i]);
	free(c->subs[i]);
	c->subs[i] = c->subs[--c->nsubs];
}

static int
add_user_sub(struct ex_conn *c, const char *key, uint32_t mask)
{
	struct ex_account *a = acct_by_listen_key(key);
	struct ex_sub *s;
	int i;

	if (!a)
		return -1;
	if ((i = find_sub(c, key)) >= 0) {
		c->subs[i]->mask = mask;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->conn = c;
	s->acct = a;
	snprintf(s->key, sizeof(s->key), "%s", key);
	s->mask = mask;
	/* a socket opened on a dead key is accepted and never delivers */
	s->gen = a->lk_state == LK_ACTIVE ? a->lk_gen : a->lk_gen - 1;
	s->anext = a->subs;
	if (a->subs)
		a->subs->aprev = s;
	a->subs = s;
	c->subs = realloc(c->subs, sizeof(*c->subs) * (size_t)(c->nsubs + 1));
	if (!c->subs)
		abort();
	c->subs[c->nsubs++] = s;
	return 0;
}

static uint32_t
parse_events(const char *v)
{
	uint32_t mask = 0;
	const char *p = v;

	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		int t = uev_from_name(p, n);

		if (t >= 0)
			mask |= 1u << t;
		if (!e)
			break;
		p = e + 1;
	}
	return mask | (1u << UEV_FAULT);
}

/* Listen keys are subscribable on /private, and on legacy routes with
 * --legacy-routes. */
static bool
keys_served(const struct ex_conn *c)
{
	return c->route == ROUTE_PRIVATE || (c->route == ROUTE_LEGACY && ex.cfg.legacy_routes);
}

/* A "<listenKey>@<EVENT>" item of SUBSCRIBE/UNSUBSCRIBE (the change
 * notice's listenKey event items): the key's allow-list on this connection
 * gains or loses that event; losing the last one drops the key. Returns -1
 * when the name is no such item on a live key, to be handled as a name. */
static int
key_event_item(struct ex_conn *c, const char *name, size_t n, bool sub)
{
	char key[EX_KEY_LEN + 1];
	uint32_t bit;
	int ev, i;

	if (!keys_served(c) || n <= EX_KEY_LEN + 1 || name[EX_KEY_LEN] != '@')
		return -1;
	ev = uev_from_name(name + EX_KEY_LEN + 1, n - EX_KEY_LEN - 1);
	if (ev < 0)
		return -1;
	bit = 1u << ev;
	memcpy(key, name, EX_KEY_LEN);
	key[EX_KEY_LEN] = '\0';
	i = find_sub(c, key);
	if (sub) {
		if (i < 0)
			return add_user_sub(c, key, bit | (1u << UEV_FAULT));
		c->subs[i]->mask |= bit;
		return 0;
	}
	if (i < 0)
		return -1;
	c->subs[i]->mask &= ~bit;
	if (!(c->subs[i]->mask & ~(1u << UEV_FAULT)))
		drop_sub(c, i);
	return 0;
}

static bool
has_stream(struct ex_conn *c, const char *name, size_t n)
{
	int i;

	for (i = 0; i < c->nstreams; i++)
		if (strlen(c->streams[i].name) == n && !memcmp(c->streams[i].name, name, n))
			return true;
	return false;
}

/* Subscribe one name. Listen keys are streams on /private (and on legacy
 * routes with --legacy-routes); market names land on the delivery index
 * only when this route serves them. */
static int
sub_name(struct ex_conn *c, const char *name, size_t n)
{
	enum ex_route r;
	int sid;
	char key[EX_KEY_LEN + 1];

	if (n == EX_KEY_LEN && keys_served(c)) {
		memcpy(key, name, n);
		key[n] = '\0';
		if (add_user_sub(c, key, UEV_ALL_MASK) == 0)
			return 0;
	}
	if (key_event_item(c, name, n, true) == 0)
		return 0;
	if (has_stream(c, name, n))
		return 0;
	if (c->nstreams >= EX_MAX_STREAMS)
		return -1;
	sid = streams_parse(name, n, &r);
	if (sid >= 0 && (c->route == ROUTE_PRIVATE || !streams_route_ok(sid, c->route)))
		sid = -1;
	c->streams = realloc(c->streams, sizeof(*c->streams) * (size_t)(c->nstreams + 1));
	if (!c->streams)
		abort();
	c->streams[c->nstreams].name = strndup(name, n);
	c->streams[c->nstreams].sid = sid;
	c->nstreams++;
	if (sid >= 0)
		sidx_add(sid, c);
	return 0;
}

static void
unsub_name(struct ex_conn *c, const char *name)
{
	int i;

	if ((i = find_sub(c, name)) >= 0) {
		drop_sub(c, i);
		return;
	}
	if (key_event_item(c, name, strlen(name), false) == 0)
		return;
	for (i = 0; i < c->nstreams; i++)
		if (!strcmp(c->streams[i].name, name)) {
			if (c->streams[i].sid >= 0)
				sidx_del(c->streams[i].sid, c);
			free(c->streams[i].name);
			c->streams[i] = c->streams[--c->nstreams];
			return;
		}
}

static int
count_names(const char *list)
{
	int n = 0;
	const char *p;

	if (!*list)
		return 0;
	for (p = list; *p; p++)
		if (*p == '/')
			n++;
	return n + 1;
}

static int
sub_list(struct ex_conn *c, const char *list)
{
	const char *p = list;

	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n && sub_name(c, p, n) < 0)
			return -1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

/* Parse the request URI into route and subscriptions. With c == NULL it
 * only validates (the handshake filter); returns -1 to refuse. */
static int
ws_parse_uri(struct lws *wsi, struct ex_conn *c)
{
	/* a combined URL with 1024 names is ~30 KB; one loop, one buffer */
	static char frag[65536];
	char uri[1024];
	const char *tail;
	enum ex_route route;
	bool combined;
	int i, nnames = 0;

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return -1;
	if (!strncmp(uri, "/private/", 9)) {
		route = ROUTE_PRIVATE;
		tail = uri + 8;
	} else if (!strncmp(uri, "/market/", 8)) {
		route = ROUTE_MARKET;
		tail = uri + 7;
	} else if (!strncmp(uri, "/public/", 8)) {
		route = ROUTE_PUBLIC;
		tail = uri + 7;
	} else {
		route = ROUTE_LEGACY;
		tail = uri;
	}
	if (!strcmp(tail, "/stream"))
		combined = true;
	else if (!strcmp(tail, "/ws") || !strncmp(tail, "/ws/", 4))
		combined = false;
	else
		return -1;
	if (!combined && tail[3] == '/')
		nnames += count_names(tail + 4);
	for (i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
	     i++)
		if (!strncmp(frag, "streams=", 8))
			nnames += count_names(frag + 8);
	if (nnames > EX_MAX_STREAMS)
		return -1;
	if (!c)
		return 0;

	c->route = route;
	c->combined = combined;
	if (!combined && tail[3] == '/')
		sub_list(c, tail + 4);
	{
		char key[EX_KEY_LEN + 1] = "";

		for (i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
		    WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
			if (!strncmp(frag, "streams=", 8)) {
				sub_list(c, frag + 8);
			} else if (!strncmp(frag, "listenKey=", 10) && route == ROUTE_PRIVATE) {
				snprintf(key, sizeof(key), "%.64s", frag + 10);
				add_user_sub(c, key, UEV_ALL_MASK);
			} else if (!strncmp(frag, "events=", 7) && route == ROUTE_PRIVATE && *key) {
				/* events= narrows the listenKey given just before it */
				add_user_sub(c, key, parse_events(frag + 7));
			}
		}
	}
	return 0;
}

static void
reply(struct ex_conn *c, const char *json)
{
	ws_enqueue(c, NULL, json, strlen(json));
}

static void
reply_error(struct ex_conn *c, int code, const char *msg, const cJSON *id)
{
	struct jbuf jb = { 0 };

	jb_open(&jb, '{');
	jb_kopen(&jb, "error", '{');
	jb_kint(&jb, "code", code);
	jb_kstr(&jb, "msg", msg);
	jb_close(&jb, '}');
	if (id && cJSON_IsNumber(id)) {
		jb_kint(&jb, "id", (int64_t)id->valuedouble);
	} else {
		jb_key(&jb, "id");
		jb_puts(&jb, "null");
	}
	jb_close(&jb, '}');
	ws_enqueue(c, NULL, jb.p, jb.len);
	jb_free(&jb);
}

/* A key with its whole allow-list lists as the key; a narrowed one as its
 * "<listenKey>@<EVENT>" items, as SUBSCRIBE takes them. */
static void
list_sub(struct jbuf *jb, const struct ex_sub *s)
{
	char item[EX_KEY_LEN + 32];
	int ev;

	if ((s->mask | (1u << UEV_FAULT)) == UEV_ALL_MASK) {
		jb_str(jb, s->key);
		return;
	}
	for (ev = 0; ev < UEV_FAULT; ev++)
		if (s->mask & (1u << ev)) {
			snprintf(item, sizeof(item), "%s@%s", s->key, name_uev(ev));
			jb_str(jb, item);
		}
}

static void
handle_message(struct ex_conn *c, const char *msg, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(msg, len);
	const cJSON *method, *params, *id, *p;
	struct jbuf jb = { 0 };
	int64_t idv;

	if (!root) {
		reply_error(c, 3, "Invalid JSON: expected value at line 1 column 1", NULL);
		return;
	}
	method = cJSON_GetObjectItemCaseSensitive(root, "method");
	params = cJSON_GetObjectItemCaseSensitive(root, "params");
	id = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (!id || !cJSON_IsNumber(id) || id->valuedouble < 0 ||
	    id->valuedouble != (double)(int64_t)id->valuedouble) {
		reply_error(c, 2, "Invalid request: request ID must be an unsigned integer", NULL);
		goto out;
	}
	idv = (int64_t)id->valuedouble;
	if (!cJSON_IsString(method)) {
		reply_error(c, 2, "Invalid request: missing field `method`", id);
		goto out;
	}
	if (!strcmp(method->valuestring, "SUBSCRIBE") ||
	    !strcmp(method->valuestring, "UNSUBSCRIBE")) {
		bool sub = method->valuestring[0] == 'S';
		int add = 0;

		if (!cJSON_IsArray(params)) {
			reply_error(c, 2, "Invalid request: missing field `params`", id);
			goto out;
		}
		cJSON_ArrayForEach(p, params) {
			if (!cJSON_IsString(p)) {
				reply_error(c, 2, "Invalid request: params must be strings", id);
				goto out;
			}
			add++;
		}
		if (sub && c->nstreams + add > EX_MAX_STREAMS) {
			reply_error(c, 2, "Invalid request: too many streams on this connection "
			    "(max 1024)", id);
			goto out;
		}
		if (sub)
			c->n_subscribe++;
		else
			c->n_unsubscribe++;
		cJSON_ArrayForEach(p, params) {
			if (sub)
				sub_name(c, p->valuestring, strlen(p->valuestring));
			else
				unsub_name(c, p->valuestring);
		}
		jb_printf(&jb, "{\"result\":null,\"id\":%lld}", (long long)idv);
	} else if (!strcmp(method->valuestring, "LIST_SUBSCRIPTIONS")) {
		int i;

		jb_open(&jb, '{');
		jb_kopen(&jb, "result", '[');
		for (i = 0; i < c->nsubs; i++)
			list_sub(&jb, c->subs[i]);
		for (i = 0; i < c->nstreams; i++)
			jb_str(&jb, c->streams[i].name);
		jb_close(&jb, ']');
		jb_kint(&jb, "id", idv);
		jb_close(&jb, '}');
	} else if (!strcmp(method->valuestring, "SET_PROPERTY") ||
	    !strcmp(method->valuestring, "GET_PROPERTY")) {
		bool set = method->valuestring[0] == 'S';
		const cJSON *name = cJSON_IsArray(params) ? cJSON_GetArrayItem(params, 0) : NULL;
		const cJSON *val = set && name ? cJSON_GetArrayItem(params, 1) : NULL;

		if (!cJSON_IsString(name) || strcmp(name->valuestring, "combined")) {
			reply_error(c, 0, "Unknown property", id);
			goto out;
		}
		if (set) {
			if (!cJSON_IsBool(val)) {
				reply_error(c, 1, "Invalid value type: expected Boolean", id);
				goto out;
			}
			c->combined = cJSON_IsTrue(val);
			jb_printf(&jb, "{\"result\":null,\"id\":%lld}", (long long)idv);
		} else {
			jb_printf(&jb, "{\"result\":%s,\"id\":%lld}", c->combined ? "true" : "false",
			    (long long)idv);
		}
	} else {
		char m[256];

		snprintf(m, sizeof(m), "Invalid request: unknown variant `%.40s`, expected one of "
		    "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
		    "`GET_PROPERTY`", method->valuestring);
		reply_error(c, 2, m, id);
		goto out;
	}
	reply(c, jb.p);
out:
	jb_free(&jb);
	cJSON_Delete(root);
}

/* Every incoming message (pongs included) counts toward 10/s; past it the
 * exchange drops the connection. */
static bool
rx_limited(struct ex_conn *c)
{
	int64_t now = ex_now_ms();

	ex.st.ws_msgs_in++;
	c->rx_msgs++;
	if (now - c->rx_win_ms >= 1000) {
		c->rx_win_ms = now;
		c->rx_win_count = 0;
	}
	if (++c->rx_win_count > RX_MSGS_PER_S) {
		ex.st.conns_rx_limited++;
		ws_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "Too many requests", false);
		return true;
	}
	return false;
}

static void
conn_free(struct ex_conn *c)
{
	int i;

	for (i = 0; i < c->nsubs; i++) {
		ws_sub_unlink(c->subs[i]);
		free(c->subs[i]);
	}
	for (i = 0; i < c->nstreams; i++) {
		if (c->streams[i].sid >= 0)
			sidx_del(c->streams[i].sid, c);
		free(c->streams[i].name);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		ex.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->subs);
	free(c->streams);
	free(c->q);
	free(c->rx);
	free(c);
}

static int
ws_writeable(struct ex_conn *c)
{
	int n = 0;

	if (c->kill_now)
		return -1;
	if (c->closing) {
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	if (c->stalled)
		return 0;
	if (c->ping_due) {
		unsigned char pb[LWS_PRE + 16];

		c->ping_due = false;
		memcpy(pb + LWS_PRE, "exsim", 5);
		if (lws_write(c->wsi, pb + LWS_PRE, 5, LWS_WRITE_PING) < 0)
			return -1;
		if (lws_send_pipe_choked(c->wsi)) {
			lws_callback_on_writable(c->wsi);
			return 0;
		}
	}
	while (c->q_head < c->q_tail && n < WRITES_PER_CALLBACK) {
		unsigned char *rec = c->q + c->q_head;
		uint32_t len;

		memcpy(&len, rec, 4);
		if (lws_write(c->wsi, rec + REC_HDR + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
			return -1;
		c->q_head += rec_size(len);
		c->q_msgs--;
		c->sent_msgs++;
		n++;
		if (lws_send_pipe_choked(c->wsi))
			break;
	}
	if (c->q_head == c->q_tail)
		c->q_head = c->q_tail = 0;
	else
		lws_callback_on_writable(c->wsi);
	return 0;
}

int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct ws_pss *pss = user;
	struct ex_conn *c = pss ? pss->conn : NULL;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (attempt_admit(wsi) < 0)
			return -1;
		if (ws_parse_uri(wsi, NULL) < 0) {
			ex.st.conns_rejected++;
			return -1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		c = calloc(1, sizeof(*c));
		if (!c)
			return -1;
		c->wsi = wsi;
		c->id = ++ex.next_conn_id;
		c->opened_ms = c->rx_win_ms = ex_now_ms();
		c->next_ping_ms = c->opened_ms + ex_scaled_ms(PING_INTERVAL_MS);
		c->next = ex.conns;
		if (ex.conns)
			ex.conns->prev = c;
		ex.conns = c;
		pss->conn = c;
		if (ex.stall_next > 0) {
			/* accepted, and then nothing: not even pings */
			ex.stall_next--;
			c->stalled = true;
		}
		ex.st.conns_open++;
		ex.st.conns_total++;
		if (ws_parse_uri(wsi, c) < 0) {
			ws_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "bad route", false);
			return 0;
		}
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (!c || c->closing || c->kill_now)
			return 0;
		if (c->rx_len + len > RX_MAX_BYTES) {
			ws_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large", false);
			return 0;
		}
		if (c->rx_len + len + 1 > c->rx_cap) {
			c->rx_cap = c->rx_len + len + 1024;
			c->rx = realloc(c->rx, c->rx_cap);
			if (!c->rx)
				abort();
		}
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
			return 0;
		c->rx[c->rx_len] = '\0';
		if (!rx_limited(c))
			handle_message(c, c->rx, c->rx_len);
		c->rx_len = 0;
		return 0;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (!c || rx_limited(c))
			return 0;
		/* only a pong answering our ping counts; ignore_pong is the
		 * fault that makes the exchange lose them */
		if (!c->ignore_pong)
			c->pong_wait_ms = 0;
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!c)
			return 0;
		return ws_writeable(c);
	case LWS_CALLBACK_CLOSED:
		if (c) {
			pss->conn = NULL;
			ex.st.conns_open--;
			ex.st.conns_closed++;
			conn_free(c);
		}
		return 0;
	default:
		return http_callback(wsi, reason, user ? &pss->http : NULL, in, len);
	}
}

/* The janitor: pings, pong deadlines and the 24 h cut, all on the
 * exchange's (scaled) clock. */
void
ws_tick(int64_t now_ms)
{
	struct ex_conn *c, *next;
	int64_t ping_ms = ex_scaled_ms(PING_INTERVAL_MS);
	int64_t pong_ms = ex_scaled_ms(PONG_TIMEOUT_MS);
	int64_t life_ms = ex_scaled_ms(CONN_LIFETIME_MS);

	for (c = ex.conns; c; c = next) {
		next = c->next;
		if (c->closing || c->kill_now)
			continue;
		if (now_ms - c->opened_ms >= life_ms) {
			ex.st.conns_cut_24h++;
			ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "connection lifetime reached", false);
			continue;
		}
		if (c->pong_wait_ms && now_ms - c->pong_wait_ms >= pong_ms) {
			ex.st.conns_pong_timeout++;
			ws_close(c, 0, NULL, true);
			continue;
		}
		if (c->stalled || c->no_ping)
			continue;
		if (now_ms >= c->next_ping_ms) {
			/* an unanswered ping keeps its deadline: pong_wait_ms only
			 * starts when no earlier ping is outstanding */
			c->next_ping_ms = now_ms + ping_ms;
			if (!c->pong_wait_ms)
				c->pong_wait_ms = now_ms;
			c->ping_due = true;
			lws_callback_on_writable(c->wsi);
		}
	}
}
