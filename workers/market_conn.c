/*
 * market_conn.c: the market worker's WebSocket connections (FACTS §3).
 *
 * A connection serves one route (/market or /public: a stream on the wrong
 * one is acknowledged and never delivers) in the combined form
 * /<route>/stream?streams=a/b/c, at most max_streams_per_connection
 * streams: the first ones go in the URL (while it stays short enough for
 * every HTTP server on the way), the rest in SUBSCRIBE batches once it is
 * open.  Streams added or removed later (a reload) are SUBSCRIBEd or
 * UNSUBSCRIBEd live, so the others are never reconnected; a new connection
 * is made only when every one of the route is full.
 *
 * At most MSG_RATE messages leave a connection per second (the exchange
 * drops one that sends more than 10: SUBSCRIBE, UNSUBSCRIBE, probes and
 * pings all count); what does not fit waits in the connection's queue.
 *
 * Every wait has a deadline: the connect (CONNECT_TIMEOUT_MS), each answer
 * to a request (REQ_TIMEOUT_MS), the data itself: a connection that
 * received nothing, frames or pongs, for silence_timeout is closed and
 * made again; it is pinged once a third of that passed in silence.  A
 * stream that ticks on a cadence (all but forceOrder) silent for
 * silence_timeout while its connection delivers is subscribed again.
 * Failed connects back off exponentially with jitter, and WARN from the
 * third in a row.  At connection_max_age a replacement is made first (make
 * before break); once it carries every stream the old one is drained
 * (a GET_PROPERTY answered means everything before it arrived) and closed.
 * The overlap's duplicates are dropped per stream in market.c.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exfeedd.h"
#include "market_int.h"
#include "mpack.h"

#define MAX_MESSAGE		(4 * 1024 * 1024)	/* a depth snapshot-sized frame at most */
#define CONNECT_TIMEOUT_MS	15000
#define REQ_TIMEOUT_MS		10000
#define DRAIN_TIMEOUT_MS	5000
#define URL_NAMES_MAX		1000	/* bytes of stream names in the URL */
#define SUB_BATCH		100	/* names per SUBSCRIBE / UNSUBSCRIBE */
#define MSG_RATE		8	/* messages per MSG_WINDOW_MS; the exchange's limit is 10/s */
#define MSG_WINDOW_MS		1000
#define WARN_AFTER_FAILURES	3
#define STREAM_CHECK_MS		1000

enum conn_state { MC_IDLE, MC_CONNECTING, MC_OPEN };
enum req_type { RQ_SUB, RQ_UNSUB, RQ_PROBE, RQ_DRAIN };

struct mreq {
	struct mreq	*next;
	int64_t		 id;
	uint8_t		 type;
	int64_t		 sent_ms;		/* 0: queued, not yet sent */
	int		 n;
	char		(*names)[MK_STREAM_NAME];
};

struct mout {
	struct mout	*next;
	char		*text;			/* NULL: a ping */
	size_t		 len;
	struct mreq	*req;			/* its request, stamped when sent */
};

struct mconn {
	struct mconn	*next;
	uint32_t	 id;
	enum bm_route	 route;
	uint8_t		 state;
	struct net_ws	*ws;
	struct mstream	**s;
	int		 ns, cap;
	int64_t		 retry_at_ms, attempt_ms, since_ms, last_rx_ms, last_ping_ms;
	uint32_t	 age_jitter;		/* per mille of connection_max_age taken off, < 50 */
	unsigned	 failures;
	bool		 ever_open;
	int64_t		 sent[MSG_RATE];
	unsigned	 sent_pos;
	struct mout	*out, **out_tail;
	struct mreq	*reqs;
	char		(*unsub)[MK_STREAM_NAME];	/* to UNSUBSCRIBE, batched */
	int		 nunsub, capunsub;
	struct mconn	*replacing;		/* this one is the replacement of ... */
	struct mconn	*replaced_by;		/* ... and that one's replacement */
	bool		 draining;
	bool		 dead;			/* closed, freed at the end of the tick */
	int		 nurl;			/* streams in the URL: c->s[0 .. nurl) */
	int64_t		 drain_id, drain_sent_ms;
	uint64_t	 msgs, parse_errors, reconnects_ok, reconnects_failed, sent_total;
};

static int64_t last_stream_check_ms;

static const char *
route_name(enum bm_route r)
{
	return r == BM_ROUTE_PUBLIC ? "public" : "market";
}

int
conns_count(void)
{
	int n = 0;

	for (struct mconn *c = mw.conns; c; c = c->next)
		n += c->state == MC_OPEN && !c->dead;
	return n;
}

/* ------------------------------------------------------------- outgoing */

static void
req_free(struct mreq *r)
{
	free(r->names);
	free(r);
}

static void
out_clear(struct mconn *c)
{
	while (c->out) {
		struct mout *o = c->out;

		c->out = o->next;
		free(o->text);
		free(o);
	}
	c->out_tail = &c->out;
	while (c->reqs) {
		struct mreq *r = c->reqs;

		c->reqs = r->next;
		req_free(r);
	}
}

static int
rate_room(const struct mconn *c, int64_t now)
{
	return c->sent[c->sent_pos % MSG_RATE] == 0 ||
	    now - c->sent[c->sent_pos % MSG_RATE] >= MSG_WINDOW_MS;
}

static void
rate_note(struct mconn *c, int64_t now)
{
	c->sent[c->sent_pos++ % MSG_RATE] = now;
	c->sent_total++;
	mw.st.messages_sent++;
}

static void conn_lost(struct mconn *, const char *why, int failed);

/* Send what the rate allows, in order. */
static void
out_flush(struct mconn *c)
{
	int64_t now = mk_now_ms();

	while (c->state == MC_OPEN && c->out && rate_room(c, now)) {
		struct mout *o = c->out;
		int rc;

		rc = o->text ? net_ws_send_text(c->ws, o->text, o->len) : net_ws_ping(c->ws);
		if (rc == -1) {
			conn_lost(c, "cannot send", 1);
			return;
		}
		rate_note(c, now);
		if (o->req)
			o->req->sent_ms = now;
		else if (o->text == NULL)
			c->last_ping_ms = now;
		if ((c->out = o->next) == NULL)
			c->out_tail = &c->out;
		free(o->text);
		free(o);
	}
}

static void
out_push(struct mconn *c, char *text, size_t len, struct mreq *r)
{
	struct mout *o = calloc(1, sizeof(*o));

	if (o == NULL) {
		free(text);
		if (r)
			r->sent_ms = mk_now_ms();	/* times out: the connection is made again */
		return;
	}
	o->text = text;
	o->len = len;
	o->req = r;
	*c->out_tail = o;
	c->out_tail = &o->next;
}

/* A request with names (SUBSCRIBE / UNSUBSCRIBE) or without (GET_PROPERTY). */
static struct mreq *
req_send(struct mconn *c, enum req_type type, char (*names)[MK_STREAM_NAME], int n)
{
	struct mreq *r;
	char *buf;
	size_t len = 96 + (size_t)n * (MK_STREAM_NAME + 3), off;

	if ((r = calloc(1, sizeof(*r))) == NULL || (buf = malloc(len)) == NULL) {
		free(r);
		free(names);
		return NULL;
	}
	r->id = ++mw.next_req_id;
	r->type = type;
	r->names = names;
	r->n = n;
	if (type == RQ_SUB || type == RQ_UNSUB) {
		off = (size_t)snprintf(buf, len, "{\"method\":\"%s\",\"params\":[",
		    type == RQ_SUB ? "SUBSCRIBE" : "UNSUBSCRIBE");
		for (int i = 0; i < n; i++)
			off += (size_t)snprintf(buf + off, len - off, "%s\"%s\"", i ? "," : "",
			    names[i]);
		off += (size_t)snprintf(buf + off, len - off, "],\"id\":%" PRId64 "}", r->id);
		if (type == RQ_SUB)
			mw.st.subscribes_sent++;
		else
			mw.st.unsubscribes_sent++;
	} else
		off = (size_t)snprintf(buf, len, "{\"method\":\"GET_PROPERTY\",\"params\":"
		    "[\"combined\"],\"id\":%" PRId64 "}", r->id);
	r->next = c->reqs;
	c->reqs = r;
	out_push(c, buf, off, r);
	out_flush(c);
	return r;
}

/* SUBSCRIBE, in batches, the streams of an open connection still queued. */
static void
conn_subscribe_queued(struct mconn *c)
{
	char (*names)[MK_STREAM_NAME] = NULL;
	int n = 0;

	/* A replacement carries its streams without owning them yet (ws_open_cb). */
	if (c->state != MC_OPEN || c->replacing != NULL || c->dead)
		return;
	for (int i = 0; i < c->ns; i++) {
		struct mstream *s = c->s[i];

		if (s->conn != c || s->state != MS_QUEUED || s->retry_ms > mk_now_ms())
			continue;
		if (names == NULL && (names = calloc(SUB_BATCH, sizeof(*names))) == NULL)
			return;
		snprintf(names[n++], MK_STREAM_NAME, "%s", s->name);
		s->state = MS_SENT;
		if (n == SUB_BATCH) {
			req_send(c, RQ_SUB, names, n);
			names = NULL;
			n = 0;
		}
	}
	if (n)
		req_send(c, RQ_SUB, names, n);
	else
		free(names);
}

static void
conn_unsubscribe_pending(struct mconn *c)
{
	while (c->state == MC_OPEN && c->nunsub > 0) {
		int n = c->nunsub < SUB_BATCH ? c->nunsub : SUB_BATCH;
		char (*names)[MK_STREAM_NAME] = calloc((size_t)n, sizeof(*names));

		if (names == NULL)
			return;
		memcpy(names, c->unsub + (c->nunsub - n), (size_t)n * sizeof(*names));
		c->nunsub -= n;
		req_send(c, RQ_UNSUB, names, n);
	}
}

/* ----------------------------------------------------------- connections */

static void ws_open_cb(struct net_ws *, void *);
static void ws_message_cb(struct net_ws *, const char *, size_t, void *);
static void ws_pong_cb(struct net_ws *, void *);
static void ws_closed_cb(struct net_ws *, const char *, void *);

static const struct net_ws_ops ws_ops = { ws_open_cb, ws_message_cb, ws_pong_cb, ws_closed_cb };

static struct mconn *
conn_new(enum bm_route route)
{
	struct mconn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->id = ++mw.next_conn_id;
	c->route = route;
	c->out_tail = &c->out;
	c->age_jitter = mk_random() % 50;
	c->next = mw.conns;
	mw.conns = c;
	return c;
}

/*
 * Close the connection for good; it is unlinked and freed by conns_reap at
 * the end of the tick, so that no loop over the connections meets a freed
 * one.
 */
static void
conn_unlink_free(struct mconn *c)
{
	if (c->ws)
		net_ws_close(c->ws);
	c->ws = NULL;
	if (c->replacing && c->replacing->replaced_by == c)
		c->replacing->replaced_by = NULL;
	if (c->replaced_by && c->replaced_by->replacing == c)
		c->replaced_by->replacing = NULL;
	c->replacing = c->replaced_by = NULL;
	out_clear(c);
	c->ns = 0;
	c->nunsub = 0;
	c->state = MC_IDLE;
	c->dead = true;
}

static void
conns_reap(void)
{
	for (struct mconn **pp = &mw.conns; *pp;) {
		struct mconn *c = *pp;

		if (!c->dead) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		free(c->s);
		free(c->unsub);
		free(c);
	}
}

static int
conn_add(struct mconn *c, struct mstream *s)
{
	if (c->ns == c->cap) {
		int ncap = c->cap ? c->cap * 2 : 16;
		struct mstream **ns = realloc(c->s, (size_t)ncap * sizeof(*ns));

		if (ns == NULL)
			return -1;
		c->s = ns;
		c->cap = ncap;
	}
	c->s[c->ns++] = s;
	return 0;
}

/* connection_max_age (as configured now) less the connection's jitter, so that they do not all go at once. */
static int64_t
max_age_ms(const struct mconn *c)
{
	int64_t age = mw.cfg->market_connection_max_age_ms;

	return age - age / 1000 * c->age_jitter;
}

static int64_t
backoff_ms(unsigned failures)
{
	int64_t min = mw.cfg->market_reconnect_delay_min_ms, max = mw.cfg->market_reconnect_delay_max_ms;
	int64_t d = min;

	for (unsigned i = 1; i < failures && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	return d * 80 / 100 + (int64_t)(mk_random() % (uint32_t)(d * 40 / 100 + 1));
}

static void
conn_connect(struct mconn *c, int64_t now)
{
	char *path;
	size_t len = 64 + strlen(mw.wsep.prefix) + URL_NAMES_MAX + MK_STREAM_NAME, off;
	int64_t wait, reserve;
	int n = 0;

	reserve = mw.ex >= 0 ? mw.cfg->ex[mw.ex].connect_budget / 5 : 0;
	if (budget_ws_take(mw.budget, reserve, now, &wait) == -1) {
		c->retry_at_ms = now + (wait > 0 ? wait : 1000);
		return;
	}
	if ((path = malloc(len)) == NULL) {
		c->retry_at_ms = now + 1000;
		return;
	}
	off = (size_t)snprintf(path, len, "%s/%s/stream", mw.wsep.prefix, route_name(c->route));
	for (int i = 0; i < c->ns; i++) {
		struct mstream *s = c->s[i];
		size_t nl = strlen(s->name);

		if (c->replacing == NULL && s->conn != c)
			continue;
		if (off + nl + 10 > 64 + strlen(mw.wsep.prefix) + URL_NAMES_MAX)
			break;
		c->nurl = i + 1;
		off += (size_t)snprintf(path + off, len - off, "%s%s", n++ ? "/" : "?streams=",
		    s->name);
		if (c->replacing == NULL)
			s->state = MS_SENT;
	}
	c->state = MC_CONNECTING;
	c->attempt_ms = now;
	if (n == 0)
		c->nurl = 0;
	c->ws = net_ws_open(mw.net, &mw.wsep, path, MAX_MESSAGE, CONNECT_TIMEOUT_MS, &ws_ops, c);
	free(path);
	if (c->ws == NULL) {
		c->state = MC_IDLE;
		c->failures++;
		c->retry_at_ms = now + backoff_ms(c->failures);
		for (int i = 0; i < c->ns; i++)
			if (c->s[i]->conn == c && c->s[i]->state == MS_SENT)
				c->s[i]->state = MS_QUEUED;
	}
}

/* Every stream a replacement carries is subscribed there: it takes over. */
static void
conn_switch(struct mconn *nc)
{
	struct mconn *old = nc->replacing;
	struct mreq *r;

	if (old == NULL)
		return;
	for (int i = 0; i < nc->ns; i++) {
		nc->s[i]->conn = nc;
		nc->s[i]->state = MS_LIVE;
	}
	nc->replacing = NULL;
	old->replaced_by = NULL;
	log_info("market: connection %u (/%s, %d streams) replaced %u, which is drained", nc->id,
	    route_name(nc->route), nc->ns, old->id);
	old->ns = 0;		/* it carries nothing any more */
	old->draining = true;
	old->drain_sent_ms = mk_now_ms();
	r = req_send(old, RQ_DRAIN, NULL, 0);
	old->drain_id = r ? r->id : -1;
	if (old->drain_id == -1) {
		mw.st.drains_failed++;
		conn_unlink_free(old);
	}
}

static int
conn_subs_pending(const struct mconn *c)
{
	for (const struct mreq *r = c->reqs; r; r = r->next)
		if (r->type == RQ_SUB)
			return 1;
	return 0;
}

static void
ws_open_cb(struct net_ws *ws, void *arg)
{
	struct mconn *c = arg;
	int64_t now = mk_now_ms();
	char (*names)[MK_STREAM_NAME] = NULL;
	int n = 0;

	(void)ws;
	c->state = MC_OPEN;
	c->since_ms = c->last_rx_ms = now;
	c->last_ping_ms = now;
	if (c->ever_open)
		c->reconnects_ok++, mw.st.reconnects_ok++;
	c->ever_open = true;
	c->failures = 0;
	if (c->replacing != NULL) {
		/* Those not in the URL: SUBSCRIBE; it takes over once all are answered. */
		for (int i = c->nurl; i < c->ns; i++) {
			if (names == NULL && (names = calloc(SUB_BATCH, sizeof(*names))) == NULL)
				break;
			snprintf(names[n++], MK_STREAM_NAME, "%s", c->s[i]->name);
			if (n == SUB_BATCH) {
				req_send(c, RQ_SUB, names, n);
				names = NULL;
				n = 0;
			}
		}
		if (n)
			req_send(c, RQ_SUB, names, n);
		else
			free(names);
		if (!conn_subs_pending(c))
			conn_switch(c);
		return;
	}
	log_info("market: connection %u (/%s, %d streams) open", c->id, route_name(c->route),
	    c->ns);
	for (int i = 0; i < c->ns; i++) {
		struct mstream *s = c->s[i];

		if (s->conn == c && s->state == MS_SENT) {
			s->state = MS_LIVE;
			stream_up(s);
		}
	}
	conn_subscribe_queued(c);
	conn_unsubscribe_pending(c);
}

static void
ws_message_cb(struct net_ws *ws, const char *buf, size_t len, void *arg)
{
	struct mconn *c = arg;

	(void)ws;
	c->last_rx_ms = mk_now_ms();
	c->msgs++;
	if (buf == NULL) {
		mconn_malformed(c, "oversized message");
		return;
	}
	mk_frame(c, buf, len);
}

static void
ws_pong_cb(struct net_ws *ws, void *arg)
{
	struct mconn *c = arg;

	(void)ws;
	c->last_rx_ms = mk_now_ms();
}

/*
 * The connection ended: failed (a connect that did not open, a send that
 * failed, a request unanswered) or lost.  Its streams stop (a book loses
 * continuity, a kline pair is backfilled when back) and wait for the
 * connection to be made again after the backoff.
 */
static void
conn_lost(struct mconn *c, const char *why, int failed)
{
	int64_t now = mk_now_ms();
	int was_open = c->state == MC_OPEN;

	if (c->ws) {
		net_ws_close(c->ws);
		c->ws = NULL;
	}
	if (c->draining) {
		mw.st.drains_failed++;
		conn_unlink_free(c);
		return;
	}
	if (c->replacing != NULL) {
		/* A replacement that failed: the old one carries on; tried again later. */
		log_warnx_rl(&mw.rl_conn, "market: replacement connection %u for %u: %s", c->id,
		    c->replacing->id, why);
		c->replacing->since_ms = now - max_age_ms(c->replacing) + backoff_ms(1);
		conn_unlink_free(c);
		return;
	}
	if (c->replaced_by != NULL) {
		conn_unlink_free(c->replaced_by);
		c->replaced_by = NULL;
	}
	out_clear(c);
	c->nunsub = 0;		/* a new connection is not subscribed to them */
	c->state = MC_IDLE;
	if (!was_open || failed) {
		c->failures++;
		c->reconnects_failed++;
		mw.st.reconnects_failed++;
		mk_addr_suspect(1);
	}
	if (c->failures >= WARN_AFTER_FAILURES)
		log_warnx("market: connection %u (/%s, %d streams): %s (%u failures in a row)",
		    c->id, route_name(c->route), c->ns, why, c->failures);
	else
		log_info("market: connection %u (/%s, %d streams): %s", c->id, route_name(c->route),
		    c->ns, why);
	c->retry_at_ms = now + backoff_ms(c->failures ? c->failures : 1);
	for (int i = 0; i < c->ns; i++) {
		struct mstream *s = c->s[i];

		if (s->conn != c)
			continue;
		if (s->state == MS_LIVE)
			stream_down(s);
		s->state = MS_QUEUED;
	}
}

static void
ws_closed_cb(struct net_ws *ws, const char *why, void *arg)
{
	struct mconn *c = arg;

	(void)ws;
	c->ws = NULL;
	conn_lost(c, why ? why : "closed", c->state != MC_OPEN);
}

void
mconn_malformed(struct mconn *c, const char *why)
{
	c->parse_errors++;
	log_warnx_rl(&mw.rl_malformed, "market: connection %u (/%s): malformed frame dropped: %s",
	    c->id, route_name(c->route), why);
}

/* An answer ({"result":…,"id"}) or error: matched to the request it answers. */
void
mconn_answer(struct mconn *c, const struct bm_frame *f)
{
	struct mreq **pp, *r = NULL;

	for (pp = &c->reqs; *pp; pp = &(*pp)->next)
		if ((*pp)->id == f->answer_id) {
			r = *pp;
			*pp = r->next;
			break;
		}
	if (r == NULL) {
		if (f->kind == BMF_ERROR)
			log_warnx_rl(&mw.rl_conn, "market: connection %u: error %d: %s", c->id,
			    f->error_code, f->why);
		return;
	}
	if (f->kind == BMF_ERROR) {
		mw.st.sub_errors++;
		log_warnx_rl(&mw.rl_conn, "market: connection %u: request %" PRId64 " (%d stream%s) "
		    "refused: %d %s", c->id, r->id, r->n, r->n == 1 ? "" : "s", f->error_code,
		    f->why);
	}
	switch (r->type) {
	case RQ_SUB:
		for (int i = 0; i < r->n; i++) {
			struct mstream *s = stream_by_name(r->names[i], strlen(r->names[i]));

			if (s == NULL || s->conn != c || s->state != MS_SENT)
				continue;
			if (f->kind == BMF_ERROR) {
				/* Asked again after silence_timeout. */
				s->state = MS_QUEUED;
				s->retry_ms = mk_now_ms() + mw.cfg->market_silence_timeout_ms;
				continue;
			}
			s->state = MS_LIVE;
			stream_up(s);
		}
		req_free(r);
		if (c->replacing != NULL && !conn_subs_pending(c))
			conn_switch(c);
		return;
	case RQ_DRAIN:
		req_free(r);
		if (c->draining) {
			mw.st.drains++;
			conn_unlink_free(c);
		}
		return;
	default:
		req_free(r);
		return;
	}
}

/* ------------------------------------------------------------- placement */

static struct mconn *
conn_with_room(enum bm_route route)
{
	int64_t max = mw.cfg->market_streams_per_connection;

	for (struct mconn *c = mw.conns; c; c = c->next)
		if (!c->dead && c->route == route && c->ns < max && !c->draining && c->replacing == NULL &&
		    c->replaced_by == NULL)
			return c;
	return NULL;
}

void
conns_place(void)
{
	for (struct mstream *s = mw.streams; s; s = s->next) {
		struct mconn *c;

		if (s->conn != NULL || !s->want)
			continue;
		if ((c = conn_with_room(s->route)) == NULL && (c = conn_new(s->route)) == NULL) {
			log_warnx("market: out of memory for a connection");
			return;
		}
		if (conn_add(c, s) == -1) {
			log_warnx("market: out of memory for a connection's streams");
			return;
		}
		s->conn = c;
		s->state = MS_QUEUED;
		s->live_ms = mk_now_ms();
	}
	for (struct mconn *c = mw.conns; c; c = c->next) {
		if (c->dead)
			continue;
		conn_unsubscribe_pending(c);
		conn_subscribe_queued(c);
	}
}

void
conns_remove_stream(struct mstream *s)
{
	for (struct mconn *c = mw.conns; c; c = c->next) {
		int found = 0;

		for (int i = 0; i < c->ns; i++)
			if (c->s[i] == s) {
				c->s[i] = c->s[--c->ns];
				found = 1;
				break;
			}
		if (!found)
			continue;
		if (c->state == MC_OPEN || c->state == MC_CONNECTING) {
			if (c->nunsub == c->capunsub) {
				int ncap = c->capunsub ? c->capunsub * 2 : 16;
				void *nu = realloc(c->unsub, (size_t)ncap * sizeof(*c->unsub));

				if (nu != NULL) {
					c->unsub = nu;
					c->capunsub = ncap;
				}
			}
			if (c->nunsub < c->capunsub)
				snprintf(c->unsub[c->nunsub++], MK_STREAM_NAME, "%s", s->name);
		}
	}
	s->conn = NULL;
	s->state = MS_IDLE;
}

/* ------------------------------------------------------------- watchdogs */

static void
conn_replace(struct mconn *old)
{
	struct mconn *nc;

	if ((nc = conn_new(old->route)) == NULL)
		return;
	for (int i = 0; i < old->ns; i++)
		if (conn_add(nc, old->s[i]) == -1) {
			conn_unlink_free(nc);
			return;
		}
	nc->replacing = old;
	old->replaced_by = nc;
	nc->retry_at_ms = 0;
	mw.st.replacements++;
	log_info("market: connection %u (/%s, %d streams) is %" PRId64 " s old: replacing it",
	    old->id, route_name(old->route), old->ns, (mk_now_ms() - old->since_ms) / 1000);
}

/* Streams silent for silence_timeout on a connection that delivers: subscribed again. */
static void
conn_check_streams(struct mconn *c, int64_t now)
{
	int64_t silence = mw.cfg->market_silence_timeout_ms;
	char (*names)[MK_STREAM_NAME] = NULL;
	int n = 0;

	for (int i = 0; i < c->ns; i++) {
		struct mstream *s = c->s[i];
		int64_t since;

		if (s->conn != c)
			continue;
		since = s->last_msg_ms > s->live_ms ? s->last_msg_ms : s->live_ms;
		if (now - since < silence)
			continue;
		if (s->state != MS_LIVE || !s->ticks)
			continue;
		if (names == NULL && (names = calloc(SUB_BATCH, sizeof(*names))) == NULL)
			return;
		snprintf(names[n++], MK_STREAM_NAME, "%s", s->name);
		s->state = MS_SENT;
		s->live_ms = now;
		s->resubscribes++;
		mw.st.resubscribes++;
		log_warnx_rl(&mw.rl_conn, "market: stream %s silent for %" PRId64 " s: subscribing "
		    "again", s->name, (now - since) / 1000);
		if (n == SUB_BATCH)
			break;
	}
	if (n)
		req_send(c, RQ_SUB, names, n);
	else
		free(names);
	conn_subscribe_queued(c);
}

void
conns_tick(void)
{
	int64_t now = mk_now_ms();
	int64_t silence = mw.cfg->market_silence_timeout_ms;
	int check = now - last_stream_check_ms >= STREAM_CHECK_MS;

	if (check)
		last_stream_check_ms = now;
	for (struct mconn *c = mw.conns; c; c = c->next) {
		if (c->dead)
			continue;
		if (c->ns == 0 && !c->draining && c->replacing == NULL && c->replaced_by == NULL &&
		    c->nunsub == 0) {
			/* Nothing left on it (a reload removed its streams). */
			if (c->state == MC_OPEN)
				log_info("market: connection %u (/%s) carries no stream: closed",
				    c->id, route_name(c->route));
			conn_unlink_free(c);
			continue;
		}
		switch (c->state) {
		case MC_IDLE:
			if (now >= c->retry_at_ms && mw.wsep.addr[0] != '\0' && !mw.stopping)
				conn_connect(c, now);
			continue;
		case MC_CONNECTING:
			continue;	/* net_ws_open's own deadline */
		case MC_OPEN:
			break;
		}
		{
			struct mreq *late = NULL;

			for (struct mreq *r = c->reqs; r; r = r->next)
				if (r->sent_ms != 0 && now - r->sent_ms > REQ_TIMEOUT_MS)
					late = r;
			if (late != NULL) {
				mw.st.request_timeouts++;
				if (c->draining) {
					mw.st.drains_failed++;
					conn_unlink_free(c);
				} else
					conn_lost(c, "a request went unanswered", 1);
				continue;
			}
		}
		if (now - c->last_rx_ms > silence) {
			mw.st.silence_kills++;
			conn_lost(c, "silent", 0);
			continue;
		}
		if (c->draining) {
			if (now - c->drain_sent_ms > DRAIN_TIMEOUT_MS) {
				mw.st.drains_failed++;
				conn_unlink_free(c);
			}
			continue;
		}
		if (now - c->last_rx_ms > silence / 3 && now - c->last_ping_ms > silence / 3) {
			c->last_ping_ms = now;
			out_push(c, NULL, 0, NULL);
		}
		if (c->replacing == NULL && c->replaced_by == NULL &&
		    now - c->since_ms >= max_age_ms(c))
			conn_replace(c);
		if (check && c->replacing == NULL)
			conn_check_streams(c, now);
		conn_unsubscribe_pending(c);
		out_flush(c);
	}
	conns_reap();
}

/* -------------------------------------------------------------- the rest */

void
mconn_init(void)
{
	last_stream_check_ms = mk_now_ms();
}

void
conns_status(msgpack_packer *pk)
{
	int64_t now = mk_now_ms();
	uint32_t n = 0;

	for (struct mconn *c = mw.conns; c; c = c->next)
		n += !c->dead;
	msgpack_pack_array(pk, n);
	for (struct mconn *c = mw.conns; c; c = c->next) {
		if (c->dead)
			continue;
		msgpack_pack_map(pk, 13);
		mp_kv_u64(pk, "id", c->id);
		mp_kv_str(pk, "route", route_name(c->route));
		mp_kv_str(pk, "state", c->draining ? "draining" : c->replacing ? "replacement" :
		    c->state == MC_OPEN ? "open" : c->state == MC_CONNECTING ? "connecting" :
		    "waiting");
		mp_kv_i64(pk, "streams", c->ns);
		mp_kv_i64(pk, "connected_since_ms", c->state == MC_OPEN ? c->since_ms : 0);
		mp_kv_i64(pk, "age_ms", c->state == MC_OPEN ? now - c->since_ms : -1);
		mp_kv_u64(pk, "reconnects_ok", c->reconnects_ok);
		mp_kv_u64(pk, "reconnects_failed", c->reconnects_failed);
		mp_kv_u64(pk, "failures_in_a_row", c->failures);
		mp_kv_u64(pk, "messages", c->msgs);
		mp_kv_u64(pk, "parse_errors", c->parse_errors);
		mp_kv_u64(pk, "sent", c->sent_total);
		mp_kv_i64(pk, "retry_in_ms", c->state == MC_IDLE && c->retry_at_ms > now ?
		    c->retry_at_ms - now : 0);
	}
}

void
conns_free(void)
{
	for (struct mconn *c = mw.conns; c; c = c->next)
		conn_unlink_free(c);
	conns_reap();
}
