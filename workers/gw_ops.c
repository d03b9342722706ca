/*
 * gw_ops.c: /metrics, /health and the `ops` feed of the gateway (gw_ops.h).
 *
 * Every answer comes from a gather: the supervisor's IPC_GATHER, which
 * holds the exposition text (metrics.h), each worker's role, instance,
 * state, pid and restarts, and a summary for the ops message.  One gather
 * is in flight at a time; one whose answer is at most OPS_FRESH_MS old
 * serves a request at once, else the request waits for the next one,
 * started then.  So the supervisor is asked at most about once a second
 * however many requests come, and a request waits at most OPS_DEADLINE_MS.
 * While /ws/ops has clients a timer gathers once a second, which keeps
 * the answers fresh for HTTP too.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "exfeedd.h"
#include "gw_db.h"
#include "gw_ops.h"
#include "ipcmsg.h"
#include "log.h"
#include "mpack.h"
#include "strbuf.h"

#define OPS_FRESH_MS	1000	/* a gather this recent answers a request at once */
#define OPS_DEADLINE_MS	2500	/* the supervisor's 1 s status deadline, rendering, margin */
#define OPS_TICK_S	1.0	/* the ops message, while /ws/ops has clients */
#define OPS_CHUNK	16384	/* bytes of a body per writeable callback */
#define OPS_MAX_PENDING	256	/* HTTP requests waiting at once; more get 503 at once */
#define OPS_JSON_DEPTH	16	/* of a status map turned JSON */
#define OPS_HIST_MAX	64	/* buckets of the commit latency histogram */

enum which { W_METRICS, W_HEALTH };

struct resp {
	struct resp	*next;
	struct lws	*wsi;
	enum which	 which;
	int		 ready;		/* body set: write when writeable */
	int		 headers_sent;
	unsigned	 status;
	const char	*ctype;
	char		*body;
	size_t		 len, off;
};

static struct {
	struct ev_loop	*loop;
	struct gw_db	*db;
	struct resp	*resps;
	size_t		 npending;
	int		 inflight;
	int		 stopping;
	ev_timer	 deadline, tick;
	/* The last gather. */
	int		 have;
	uint64_t	 got_ms;
	char		*text;
	size_t		 textlen;
	json_t		*workers;		/* [{role, instance, state, pid, restarts}] */
	char		 not_ready[160];	/* "" when every worker is ready */
	/* The one before it, for rates over the second between them. */
	int		 prev_have;
	uint64_t	 prev_ms;
	int64_t		 prev_committed;
	uint64_t	 prev_counts[OPS_HIST_MAX + 1];
	size_t		 prev_nb;
	char		*ops_msg;
	size_t		 ops_len;
	void		(*fn)(const char *, size_t, void *);
	void		*fn_arg;
	size_t		 watchers;
	uint64_t	 metrics_requests, health_requests, gathers, gather_timeouts, refused;
} ops;

static void ops_gather(void);

/* ---------------------------------------------------------------- answers */

/* Set r's answer: status, content type, body (copied). */
static void
resp_set(struct resp *r, unsigned status, const char *ctype, const char *body, size_t len)
{
	free(r->body);
	r->body = malloc(len ? len : 1);
	if (r->body == NULL) {
		/* The connection is closed unanswered when it becomes writeable. */
		len = 0;
		status = HTTP_STATUS_INTERNAL_SERVER_ERROR;
	} else
		memcpy(r->body, body, len);
	r->status = status;
	r->ctype = ctype;
	r->len = len;
	r->off = 0;
	r->ready = 1;
	lws_callback_on_writable(r->wsi);
}

static void
resp_json(struct resp *r, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s == NULL)
		resp_set(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14);
	else
		resp_set(r, status, "application/json", s, strlen(s));
	free(s);
	json_decref(j);
}

/*
 * /health from the last gather (or why there is none): 200 when every
 * worker is ready and PostgreSQL is reachable, else 503 with the reason.
 */
static void
answer_health(struct resp *r, const char *no_gather)
{
	const char *why = NULL;
	char buf[512];
	int db_ok = ops.db != NULL && gw_db_reachable(ops.db);
	json_t *j;

	if (ops.stopping)
		why = "the gateway is stopping";
	else if (no_gather)
		why = no_gather;
	else if (ops.not_ready[0])
		why = ops.not_ready;
	else if (!db_ok) {
		snprintf(buf, sizeof(buf), "PostgreSQL is not reachable%s%s",
		    ops.db && gw_db_error(ops.db)[0] ? ": " : "", ops.db ? gw_db_error(ops.db) : "");
		why = buf;
	}
	j = json_object();
	json_object_set_new(j, "status", json_string(why ? "unavailable" : "ok"));
	if (why)
		json_object_set_new(j, "reason", json_string(why));
	if (ops.have && !no_gather)
		json_object_set(j, "workers", ops.workers);
	json_object_set_new(j, "database", json_string(db_ok ? "reachable" : "unreachable"));
	resp_json(r, why ? HTTP_STATUS_SERVICE_UNAVAILABLE : HTTP_STATUS_OK, j);
}

static void
answer_metrics(struct resp *r, const char *no_gather)
{
	char buf[256];
	int n;

	if (ops.stopping || no_gather) {
		n = snprintf(buf, sizeof(buf), "%s\n", ops.stopping ? "the gateway is stopping" :
		    no_gather);
		resp_set(r, HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", buf,
		    (size_t)n);
		return;
	}
	resp_set(r, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", ops.text,
	    ops.textlen);
}

static void
answer(struct resp *r, const char *no_gather)
{
	if (r->which == W_HEALTH)
		answer_health(r, no_gather);
	else
		answer_metrics(r, no_gather);
}

/* Every request still waiting for a gather: answered now. */
static void
answer_pending(const char *no_gather)
{
	for (struct resp *r = ops.resps; r; r = r->next)
		if (!r->ready)
			answer(r, no_gather);
}

static void
resp_free(struct resp *r)
{
	struct resp **pp;

	for (pp = &ops.resps; *pp && *pp != r; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = r->next;
	ops.npending--;
	free(r->body);
	free(r);
}

static struct resp *
resp_find(struct lws *wsi)
{
	for (struct resp *r = ops.resps; r; r = r->next)
		if (r->wsi == wsi)
			return r;
	return NULL;
}

int
gw_ops_http(struct lws *wsi, const char *path)
{
	struct resp *r;
	enum which which;

	if (strcmp(path, "/metrics") == 0) {
		which = W_METRICS;
		ops.metrics_requests++;
	} else if (strcmp(path, "/health") == 0) {
		which = W_HEALTH;
		ops.health_requests++;
	} else
		return 0;
	if ((r = resp_find(wsi)) != NULL)	/* a pipelined request before the last answer */
		resp_free(r);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		lws_return_http_status(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, NULL);
		return 1;
	}
	r->wsi = wsi;
	r->which = which;
	r->next = ops.resps;
	ops.resps = r;
	ops.npending++;
	if (ops.npending > OPS_MAX_PENDING) {
		ops.refused++;
		answer(r, "too many requests waiting for the supervisor");
	} else if (ops.stopping)
		answer(r, NULL);
	else if (ops.have && monotonic_ms() - ops.got_ms <= OPS_FRESH_MS)
		answer(r, NULL);
	else
		ops_gather();
	return 1;
}

int
gw_ops_http_writeable(struct lws *wsi)
{
	unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start,
	    *end = hdr + sizeof(hdr) - 1;
	unsigned char *buf;
	struct resp *r = resp_find(wsi);
	size_t n;
	int final;

	if (r == NULL)
		return 0;
	if (!r->ready)
		return 1;
	if (r->body == NULL) {
		resp_free(r);
		return -1;
	}
	if (!r->headers_sent) {
		if (lws_add_http_common_headers(wsi, r->status, r->ctype, (lws_filepos_t)r->len,
		    &p, end) ||
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
		    (const unsigned char *)"no-store", 8, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end)) {
			resp_free(r);
			return -1;
		}
		r->headers_sent = 1;
		if (r->len) {
			lws_callback_on_writable(wsi);
			return 1;
		}
	}
	n = r->len - r->off < OPS_CHUNK ? r->len - r->off : OPS_CHUNK;
	final = r->off + n == r->len;
	if ((buf = malloc(LWS_PRE + n + 1)) == NULL) {
		resp_free(r);
		return -1;
	}
	memcpy(buf + LWS_PRE, r->body + r->off, n);
	if (lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
	    (int)n) {
		free(buf);
		resp_free(r);
		return -1;
	}
	free(buf);
	r->off += n;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 1;
	}
	resp_free(r);
	return lws_http_transaction_completed(wsi) ? -1 : 1;
}

void
gw_ops_http_closed(struct lws *wsi)
{
	struct resp *r = resp_find(wsi);

	if (r)
		resp_free(r);
}

/* ------------------------------------------------------------- ops message */

/* A msgpack object as JSON (jansson), maps with string keys, depth bounded. */
static json_t *
mp_json(const msgpack_object *o, int depth)
{
	json_t *j;

	if (depth > OPS_JSON_DEPTH)
		return json_null();
	switch (o->type) {
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return o->via.u64 <= INT64_MAX ? json_integer((json_int_t)o->via.u64) :
		    json_real((double)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer(o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return json_real(o->via.f64);
	case MSGPACK_OBJECT_STR:
		/* Not UTF-8 (it should be): null rather than a refused message. */
		j = json_stringn(o->via.str.ptr, o->via.str.size);
		return j ? j : json_null();
	case MSGPACK_OBJECT_ARRAY:
		j = json_array();
		for (uint32_t i = 0; j && i < o->via.array.size; i++)
			json_array_append_new(j, mp_json(&o->via.array.ptr[i], depth + 1));
		return j;
	case MSGPACK_OBJECT_MAP:
		j = json_object();
		for (uint32_t i = 0; j && i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];
			char key[128];

			if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size >= sizeof(key))
				continue;
			memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
			key[kv->key.via.str.size] = '\0';
			json_object_set_new(j, key, mp_json(&kv->val, depth + 1));
		}
		return j;
	default:
		return json_null();
	}
}

/* The upper bound (ms) of the bucket holding quantile q (per mille) of counts. */
static double
quantile_ms(const int64_t *bounds, const uint64_t *counts, size_t nb, uint64_t total,
    unsigned q)
{
	uint64_t want = (total * q + 999) / 1000, seen = 0;

	for (size_t i = 0; i <= nb; i++) {
		seen += counts[i];
		if (seen >= want && seen > 0)
			return (double)bounds[i < nb ? i : nb - 1] / 1000.;
	}
	return (double)bounds[nb - 1] / 1000.;
}

/*
 * commit_latency_ms over the window since the previous gather: the bucket
 * counts' differences (a restarted writer's counts start again: then its
 * whole histogram).  null when no event was committed in the window.
 */
static json_t *
ops_latency(const msgpack_object *lat)
{
	const msgpack_object *b = lat ? mp_get(lat, "bounds") : NULL;
	const msgpack_object *c = lat ? mp_get(lat, "counts") : NULL;
	int64_t bounds[OPS_HIST_MAX];
	uint64_t counts[OPS_HIST_MAX + 1], win[OPS_HIST_MAX + 1], total = 0;
	size_t nb;
	int restarted = 0;
	json_t *j;

	if (b == NULL || c == NULL || b->type != MSGPACK_OBJECT_ARRAY ||
	    c->type != MSGPACK_OBJECT_ARRAY || (nb = b->via.array.size) == 0 ||
	    nb > OPS_HIST_MAX || c->via.array.size != nb + 1)
		return json_null();
	for (size_t i = 0; i <= nb; i++) {
		const msgpack_object *x = &c->via.array.ptr[i];

		if (i < nb) {
			if (b->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				return json_null();
			bounds[i] = (int64_t)b->via.array.ptr[i].via.u64;
		}
		if (x->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return json_null();
		counts[i] = x->via.u64;
		if (ops.prev_nb == nb && counts[i] < ops.prev_counts[i])
			restarted = 1;
	}
	for (size_t i = 0; i <= nb; i++) {
		win[i] = ops.prev_nb == nb && !restarted ? counts[i] - ops.prev_counts[i] : counts[i];
		total += win[i];
	}
	memcpy(ops.prev_counts, counts, (nb + 1) * sizeof(counts[0]));
	ops.prev_nb = nb;
	if (total == 0)
		return json_null();
	j = json_object();
	json_object_set_new(j, "p50", json_real(quantile_ms(bounds, win, nb, total, 500)));
	json_object_set_new(j, "p99", json_real(quantile_ms(bounds, win, nb, total, 990)));
	return j;
}

static void
iso_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (int)(ts.tv_nsec / 1000000));
}

/*
 * {"type":"ops","timestamp":ISO,"data":{"workers":[...],"accounts":{state:
 * n},"events_per_s":x,"commit_latency_ms":{"p50":..,"p99":..},"gateway":
 * {...}}} (doc/gateway.md); events_per_s and commit_latency_ms are over the
 * time since the previous gather, null on the first.
 */
static void
ops_build(const msgpack_object *summary, uint64_t now)
{
	const msgpack_object *o;
	json_t *msg, *data, *lat, *rate = json_null();
	char ts[64], *s;
	int64_t committed = -1;

	data = json_object();
	json_object_set(data, "workers", ops.workers);
	o = mp_get(summary, "accounts");
	json_object_set_new(data, "accounts", o && o->type == MSGPACK_OBJECT_MAP ?
	    mp_json(o, 0) : json_object());
	if (mp_get_i64(summary, "committed", &committed) == 0 && committed >= 0) {
		if (ops.prev_have && now > ops.prev_ms && committed >= ops.prev_committed) {
			json_decref(rate);
			rate = json_real((double)(committed - ops.prev_committed) * 1000. /
			    (double)(now - ops.prev_ms));
		}
		ops.prev_committed = committed;
	}
	json_object_set_new(data, "events_per_s", rate);
	o = mp_get(summary, "latency_us");
	/* Always taken, so that the next window starts from these counts. */
	lat = ops_latency(o && o->type == MSGPACK_OBJECT_MAP ? o : NULL);
	if (!ops.prev_have) {
		json_decref(lat);
		lat = json_null();
	}
	json_object_set_new(data, "commit_latency_ms", lat);
	o = mp_get(summary, "gateway");
	json_object_set_new(data, "gateway", o && o->type == MSGPACK_OBJECT_MAP ?
	    mp_json(o, 0) : json_object());
	ops.prev_have = committed >= 0;
	ops.prev_ms = now;
	iso_now(ts, sizeof(ts));
	msg = json_object();
	json_object_set_new(msg, "type", json_string("ops"));
	json_object_set_new(msg, "timestamp", json_string(ts));
	json_object_set_new(msg, "data", data);
	if ((s = json_dumps(msg, JSON_COMPACT)) != NULL) {
		free(ops.ops_msg);
		ops.ops_msg = s;
		ops.ops_len = strlen(s);
	}
	json_decref(msg);
}

/* ----------------------------------------------------------------- gather */

static void
ops_gathered(const struct ipcmsg_gather *g, void *arg)
{
	struct ipcmsg_gather_worker w;
	uint64_t now = monotonic_ms();
	char *text;

	ops.inflight = 0;
	ev_timer_stop(ops.loop, &ops.deadline);
	if ((text = malloc(g->textlen + 1)) == NULL) {
		log_warnx("metrics: out of memory");
		answer_pending("out of memory");
		return;
	}
	memcpy(text, g->text, g->textlen);
	text[g->textlen] = '\0';
	free(ops.text);
	ops.text = text;
	ops.textlen = g->textlen;
	json_decref(ops.workers);
	ops.workers = json_array();
	ops.not_ready[0] = '\0';
	for (size_t i = 0; i < g->workers->via.array.size; i++) {
		json_t *j = json_object();

		ipcmsg_gather_worker(g, i, &w);
		json_object_set_new(j, "role", json_string(w.role));
		json_object_set_new(j, "instance", json_integer(w.instance));
		json_object_set_new(j, "state", json_string(w.state));
		json_object_set_new(j, "pid", json_integer(w.pid));
		json_object_set_new(j, "restarts", json_integer(w.restarts));
		json_array_append_new(ops.workers, j);
		if (strcmp(w.state, "ready") != 0 && ops.not_ready[0] == '\0')
			snprintf(ops.not_ready, sizeof(ops.not_ready), "%s %lld is %s", w.role,
			    (long long)w.instance, w.state);
	}
	if (g->workers->via.array.size == 0)
		snprintf(ops.not_ready, sizeof(ops.not_ready), "no workers");
	ops.have = 1;
	ops.got_ms = now;
	ops_build(g->summary, now);
	answer_pending(NULL);
	if (ops.fn && ops.ops_msg)
		ops.fn(ops.ops_msg, ops.ops_len, ops.fn_arg);
}

static void
ops_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(60000, 3);
	char why[128];

	ops.inflight = 0;
	ops.gather_timeouts++;
	snprintf(why, sizeof(why), "the supervisor did not answer within %d ms",
	    OPS_DEADLINE_MS);
	log_warnx_rl(&rl, "metrics: %s", why);
	answer_pending(why);
}

static void
ops_gather(void)
{
	if (ops.inflight || ops.stopping)
		return;
	ops.gathers++;
	if (worker_gather(ops_gathered, NULL) == -1) {
		answer_pending("no channel to the supervisor");
		return;
	}
	ops.inflight = 1;
	ev_timer_set(&ops.deadline, (double)OPS_DEADLINE_MS / 1000., 0.);
	ev_timer_start(ops.loop, &ops.deadline);
}

static void
ops_tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (ops.watchers > 0 && (!ops.have || monotonic_ms() - ops.got_ms >= OPS_FRESH_MS - 50))
		ops_gather();
}

/* ----------------------------------------------------------------- public */

void
gw_ops_start(struct ev_loop *loop, struct gw_db *db)
{
	ops.loop = loop;
	ops.db = db;
	ops.stopping = 0;
	ev_timer_init(&ops.deadline, ops_deadline_cb, 0., 0.);
	ev_timer_init(&ops.tick, ops_tick_cb, OPS_TICK_S, OPS_TICK_S);
	ev_timer_start(loop, &ops.tick);
}

void
gw_ops_stop(void)
{
	ops.stopping = 1;
	if (ops.loop) {
		ev_timer_stop(ops.loop, &ops.deadline);
		ev_timer_stop(ops.loop, &ops.tick);
	}
	/* The server's connections close with its context: nothing more is written. */
	while (ops.resps)
		resp_free(ops.resps);
	json_decref(ops.workers);
	ops.workers = NULL;
	free(ops.text);
	ops.text = NULL;
	ops.have = 0;
}

const char *
gw_ops_message(size_t *len)
{
	*len = ops.ops_msg ? ops.ops_len : 0;
	return ops.ops_msg ? ops.ops_msg : "";
}

void
gw_ops_on_message(void (*fn)(const char *, size_t, void *), void *arg)
{
	ops.fn = fn;
	ops.fn_arg = arg;
}

void
gw_ops_watchers(size_t n)
{
	int first = ops.watchers == 0 && n > 0;

	ops.watchers = n;
	/* A new page wants its first numbers now, not in a second. */
	if (first && (!ops.have || monotonic_ms() - ops.got_ms > OPS_FRESH_MS))
		ops_gather();
}

void
gw_ops_status(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 6);
	mp_kv_u64(pk, "metrics_requests", ops.metrics_requests);
	mp_kv_u64(pk, "health_requests", ops.health_requests);
	mp_kv_u64(pk, "gathers", ops.gathers);
	mp_kv_u64(pk, "gather_timeouts", ops.gather_timeouts);
	mp_kv_u64(pk, "refused", ops.refused);
	mp_kv_u64(pk, "watchers", ops.watchers);
}
