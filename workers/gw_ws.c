/*
 * gw_ws.c: the gateway's WebSocket clients (doc/gateway.md): /ws/trading
 * (one user's own events after a JWT), /ws/market (public market data),
 * /ws/ops (the status page's one-a-second `ops` message).
 *
 * Every client has one queue of messages to send, written only when lws
 * says the socket is writable.  A message of the feed is made once
 * (gw_message) and shared, refcounted, by every queue it is put on.
 * Messages of the client's own user (and answers) are never dropped: past
 * [gateway] client_queue_max bytes unsent the client is closed with 4008.
 * Market messages conflate: a later one with the same gw_conflation_key
 * replaces an unsent one in place.
 *
 * A trading client: ESTABLISHED -> (token) -> USER_CHECK (gw_db_user) ->
 * SNAPSHOT (auth_ok sent, gw_db_snapshot asked; its user's live events
 * held) -> LIVE (snapshot sent, then what was held).  A hole in the
 * writer's feed sends every trading client back to SNAPSHOT.
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "clock.h"
#include "config.h"
#include "event.h"
#include "exchanges/binance_market.h"
#include "exfeedd.h"
#include "gw_db.h"
#include "gwfeed.h"
#include "gw_msg.h"
#include "gw_ops.h"
#include "gw_server.h"
#include "hist.h"
#include "jwt.h"
#include "log.h"
#include "mpack.h"
#include "strbuf.h"

#define GW_ABUSE_MAX		10	/* 4004 errors within GW_ABUSE_WINDOW_MS: closed */
#define GW_ABUSE_WINDOW_MS	10000
#define GW_SUBS_MAX		1024	/* subscriptions of one client */
#define GW_WRITES_PER_CALL	64	/* messages per writable callback, then yield */
#define GW_TOKEN_MAX		4096	/* bytes of ?token= */
#define GW_CKEY			96	/* a conflation key */
#define GW_SNDBUF		(128 * 1024)	/* a client socket's kernel send buffer */
#define GW_LINGER_MS		100	/* a closing client's quiet before the close frame */
#define GW_LINGER_MAX_MS	2000
#define GW_PING_LEN		8	/* bytes of a ping's payload, random per ping */

enum gw_ep { EP_TRADING, EP_MARKET, EP_OPS };
static const char *const ep_path[] = { "/ws/trading", "/ws/market", "/ws/ops" };

enum gw_state {
	ST_AUTH,		/* trading: waiting for a token */
	ST_USER_CHECK,		/* gw_db_user asked */
	ST_SNAPSHOT,		/* gw_db_snapshot asked; user events held */
	ST_LIVE,
	ST_CLOSING		/* close_code set: nothing more is queued */
};

/* One message, shared by the queues it is on; data has LWS_PRE bytes before it. */
struct gw_buf {
	unsigned		 refs;
	int64_t			 committed_us;	/* a user event's COMMIT (the feed's stamp), else 0 */
	int64_t			 arrived_us;	/* and its arrival here (wall clock), else 0 */
	size_t			 len;
	unsigned char		 data[];
};

enum gw_kind { K_RELIABLE, K_MARKET, K_SNAPSHOT };

struct gw_qent {
	TAILQ_ENTRY(gw_qent)	 q;
	TAILQ_ENTRY(gw_qent)	 mq;		/* K_MARKET: the client's unsent market messages */
	struct gw_buf		*b;
	enum gw_kind		 kind;
	int			 ch;		/* held: the user channel, filtered when released */
	char			 ckey[];	/* K_MARKET */
};
TAILQ_HEAD(gw_queue, gw_qent);

struct gw_topic;
struct gw_sub {
	struct gw_client	*c;
	struct gw_topic		*t;
	LIST_ENTRY(gw_sub)	 tl;		/* the topic's subscribers */
	LIST_ENTRY(gw_sub)	 cl;		/* the client's subscriptions */
};

/* A market subscription key: "<channel>|<symbol>|<interval>", or "*|<symbol>|" (subscribe_symbol). */
struct gw_topic {
	struct gw_topic		*next;		/* hash chain */
	LIST_HEAD(, gw_sub)	 subs;
	size_t			 n;
	char			 key[];
};

struct gw_user {
	struct gw_user		*next;		/* hash chain */
	int64_t			 id;
	LIST_HEAD(, gw_client)	 clients;
	size_t			 n;
};

struct gw_client {
	struct lws		*wsi;
	enum gw_ep		 ep;
	enum gw_state		 state;
	LIST_ENTRY(gw_client)	 all;
	LIST_ENTRY(gw_client)	 ul;		/* the user's clients */
	struct gw_user		*user;
	int64_t			 user_id;
	uint32_t		 channels;	/* bit per trading channel subscribed */
	LIST_HEAD(, gw_sub)	 subs;
	size_t			 nsubs;
	struct gw_queue		 queue;		/* to send, in order */
	TAILQ_HEAD(, gw_qent)	 mqueue;	/* the K_MARKET entries of queue */
	struct gw_queue		 held;		/* live user events during ST_SNAPSHOT */
	size_t			 reliable_bytes;	/* of K_RELIABLE in queue and held */
	int			 resnap;	/* a hole came while a snapshot was being read */
	char			*token;		/* ?token=, until ESTABLISHED handles it */
	/* inbound */
	struct strbuf		 rx;
	int			 rx_in_msg;	/* a message's first fragment came */
	int			 rx_over;
	double			 tokens;
	int64_t			 tokens_us;
	int			 abuse;
	int64_t			 abuse_since_ms;
	/*
	 * liveness: a client is alive while it answers our pings, each with a
	 * payload of its own that only a client reading the stream can echo;
	 * a ping is outstanding while ping_sent_ms > pong_ms (the next one
	 * goes a heartbeat after the answer, never in the answer's ms)
	 */
	int64_t			 connected_ms, last_rx_ms, ping_sent_ms, pong_ms;
	int			 ping_due;
	unsigned char		 ping_payload[GW_PING_LEN];
	/* closing */
	int64_t			 closing_ms;
	int			 close_code;
	char			 close_reason[64];
};

/* A hash of keys to chained entries, doubled when fuller than 1 per bucket. */
struct gw_hash {
	void			**b;
	size_t			 nb, n;
};

static struct {
	struct ev_loop		*loop;
	struct gw_db		*db;
	ev_timer		 sweep;
	LIST_HEAD(, gw_client)	 clients;
	size_t			 nclients, nep[3];
	struct gw_hash		 users;		/* struct gw_user by id */
	struct gw_hash		 topics;	/* struct gw_topic by key */
	struct gw_feed		*feed;		/* told the market interest (gwfeed.h) */
	ev_timer		 interest;	/* the topics changed: tell the feed */
	size_t			 nsubs;		/* every subscription: channels and market keys */
	unsigned char		*key;		/* the JWT secret; NULL: every token refused */
	size_t			 keylen;
	/* limits ([gateway]) */
	int64_t			 leeway_s, auth_timeout_ms, heartbeat_ms, max_conn, max_per_user;
	int64_t			 queue_max, msg_max, rate, burst;
	struct strbuf		 sb;		/* reused: messages being made */
	struct {
		uint64_t	 accepted, refused_origin, refused_full, refused_path;
		uint64_t	 auth_ok, closed[9];	/* 4001..4008 by code - 4000, [0]: 1013 */
		uint64_t	 dropped_dead, pings, messages_in, errors_sent;
		uint64_t	 events, events_user, events_market, events_unrouted, msg_errors;
		uint64_t	 sent_messages, sent_bytes, conflated, held;
		uint64_t	 snapshots, snapshot_errors, resnapshots, holes;
		uint64_t	 ops_messages;
	} st;
	struct hist		 feed_lat;	/* a user event's COMMIT to its arrival here */
	struct hist		 queue_lat;	/* its arrival to its message written to a client */
	int64_t			 arrived_us;	/* the user event being fanned out: its arrival */
	struct hist		 delivery;	/* its COMMIT to its message written to a client */
} ws;

/* The channels whose state a snapshot carries (doc/gateway.md "Snapshots"). */
#define SNAPSHOT_CHANNELS	((1u << GW_CH_ORDERS) | (1u << GW_CH_POSITIONS) | \
	(1u << GW_CH_BALANCES) | (1u << GW_CH_ALGO_ORDERS))

static struct log_ratelimit rl_event = LOG_RATELIMIT_INIT(10000, 5);
static struct log_ratelimit rl_client = LOG_RATELIMIT_INIT(10000, 10);

static void	client_close(struct gw_client *, int code, const char *reason);
static void	send_snapshot_request(struct gw_client *);

static int64_t
now_ms(void)
{
	return clock_mono_us() / 1000;
}

/* ------------------------------------------------------------ hashes */

static uint64_t
hash_of(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *s++) * 0x100000001b3ULL;
	return h;
}

static void
hash_grow(struct gw_hash *h, uint64_t (*hf)(const void *), void **(*nextp)(void *))
{
	size_t nb = h->nb ? h->nb * 2 : 64;
	void **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < h->nb; i++) {
		void *e = h->b[i], *next;

		for (; e != NULL; e = next) {
			next = *nextp(e);
			*nextp(e) = b[hf(e) & (nb - 1)];
			b[hf(e) & (nb - 1)] = e;
		}
	}
	free(h->b);
	h->b = b;
	h->nb = nb;
}

static uint64_t
user_hash_e(const void *e)
{
	const struct gw_user *u = e;

	return hash_of(&u->id, sizeof(u->id));
}

static void **
user_next(void *e)
{
	return (void **)&((struct gw_user *)e)->next;
}

static uint64_t
topic_hash_e(const void *e)
{
	const struct gw_topic *t = e;

	return hash_of(t->key, strlen(t->key));
}

static void **
topic_next(void *e)
{
	return (void **)&((struct gw_topic *)e)->next;
}

static struct gw_user *
user_find(int64_t id)
{
	struct gw_user *u;

	if (ws.users.nb == 0)
		return NULL;
	for (u = ws.users.b[hash_of(&id, sizeof(id)) & (ws.users.nb - 1)]; u; u = u->next)
		if (u->id == id)
			return u;
	return NULL;
}

static struct gw_user *
user_get(int64_t id)
{
	struct gw_user *u;
	size_t i;

	if ((u = user_find(id)) != NULL)
		return u;
	if (ws.users.n >= ws.users.nb)
		hash_grow(&ws.users, user_hash_e, user_next);
	if (ws.users.nb == 0 || (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->id = id;
	LIST_INIT(&u->clients);
	i = hash_of(&id, sizeof(id)) & (ws.users.nb - 1);
	u->next = ws.users.b[i];
	ws.users.b[i] = u;
	ws.users.n++;
	return u;
}

static void
user_drop(struct gw_user *u)
{
	struct gw_user **pp = (struct gw_user **)&ws.users.b[hash_of(&u->id, sizeof(u->id)) &
	    (ws.users.nb - 1)];

	for (; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			ws.users.n--;
			free(u);
			return;
		}
}

static struct gw_topic *
topic_find(const char *key)
{
	struct gw_topic *t;

	if (ws.topics.nb == 0)
		return NULL;
	for (t = ws.topics.b[hash_of(key, strlen(key)) & (ws.topics.nb - 1)]; t; t = t->next)
		if (strcmp(t->key, key) == 0)
			return t;
	return NULL;
}

/*
 * The market interest: the topics changed (one appeared or went), so at
 * the end of this loop iteration the feed is told which market streams the
 * clients read (gwfeed.h): the market worker then forwards only those.
 */
static void
interest_mark(void)
{
	if (ws.loop != NULL && !ev_is_active(&ws.interest)) {
		ev_timer_set(&ws.interest, 0., 0.);
		ev_timer_start(ws.loop, &ws.interest);
	}
}

/* One entry per topic ("<channel>|<symbol>|<interval>", "*|<symbol>|"): the feed ORs a symbol's. */
static void
interest_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gw_interest *v;
	size_t n = 0;

	(void)loop;
	(void)w;
	(void)revents;
	if (ws.feed == NULL)
		return;
	if ((v = calloc(ws.topics.n ? ws.topics.n : 1, sizeof(*v))) == NULL) {
		interest_mark();	/* again next iteration */
		return;
	}
	for (size_t i = 0; i < ws.topics.nb; i++)
		for (struct gw_topic *t = ws.topics.b[i]; t != NULL && n < ws.topics.n; t = t->next) {
			const char *sym = strchr(t->key, '|'), *iv;
			size_t len;
			int ch, ivi;

			if (sym == NULL || (iv = strchr(++sym, '|')) == NULL ||
			    (len = (size_t)(iv - sym)) == 0 || len >= sizeof(v[n].symbol))
				continue;
			memcpy(v[n].symbol, sym, len);
			v[n].symbol[len] = '\0';
			if (t->key[0] == '*') {
				for (ch = GW_CH_TICKER; ch < GW_CH_MAX; ch++)
					v[n].channels |= 1u << ch;
				v[n].intervals = (1u << 15) - 1;
			} else {
				ch = atoi(t->key);
				if (!GW_CH_IS_MARKET(ch))
					continue;
				v[n].channels = 1u << ch;
				if ((ivi = bm_interval_index(iv + 1)) >= 0)
					v[n].intervals = 1u << ivi;
			}
			n++;
		}
	if (gw_feed_set_interest(ws.feed, v, n) == -1)
		interest_mark();
	free(v);
}

void
gw_ws_feed(struct gw_feed *f)
{
	ws.feed = f;
	interest_mark();	/* the first (maybe empty) interest */
}

static struct gw_topic *
topic_get(const char *key)
{
	struct gw_topic *t;
	size_t i, kl = strlen(key);

	if ((t = topic_find(key)) != NULL)
		return t;
	if (ws.topics.n >= ws.topics.nb)
		hash_grow(&ws.topics, topic_hash_e, topic_next);
	if (ws.topics.nb == 0 || (t = calloc(1, sizeof(*t) + kl + 1)) == NULL)
		return NULL;
	memcpy(t->key, key, kl + 1);
	LIST_INIT(&t->subs);
	interest_mark();
	i = hash_of(key, kl) & (ws.topics.nb - 1);
	t->next = ws.topics.b[i];
	ws.topics.b[i] = t;
	ws.topics.n++;
	return t;
}

static void
topic_drop(struct gw_topic *t)
{
	struct gw_topic **pp = (struct gw_topic **)&ws.topics.b[hash_of(t->key, strlen(t->key)) &
	    (ws.topics.nb - 1)];

	for (; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			ws.topics.n--;
			free(t);
			interest_mark();
			return;
		}
}

/* ------------------------------------------------------------ queues */

static struct gw_buf *
buf_new(const char *p, size_t len)
{
	struct gw_buf *b = malloc(sizeof(*b) + LWS_PRE + len);

	if (b == NULL)
		return NULL;
	b->refs = 1;
	b->committed_us = 0;
	b->arrived_us = 0;
	b->len = len;
	memcpy(b->data + LWS_PRE, p, len);
	return b;
}

static void
buf_unref(struct gw_buf *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

static void
qent_free(struct gw_qent *e)
{
	buf_unref(e->b);
	free(e);
}

static void
queue_clear(struct gw_client *c)
{
	struct gw_qent *e;

	while ((e = TAILQ_FIRST(&c->queue)) != NULL) {
		TAILQ_REMOVE(&c->queue, e, q);
		if (e->kind == K_MARKET)
			TAILQ_REMOVE(&c->mqueue, e, mq);
		qent_free(e);
	}
	while ((e = TAILQ_FIRST(&c->held)) != NULL) {
		TAILQ_REMOVE(&c->held, e, q);
		qent_free(e);
	}
	c->reliable_bytes = 0;
}

static int enqueue_ch(struct gw_client *, struct gw_buf *, enum gw_kind, const char *, int, int);

/*
 * Put b (a reference taken) on c's queue, or on its held queue.  A reliable
 * message that takes the client past client_queue_max closes it with 4008
 * instead.  0, or -1 when the client is closing (nothing queued).
 */
static int
enqueue(struct gw_client *c, struct gw_buf *b, enum gw_kind kind, const char *ckey, int hold)
{
	return enqueue_ch(c, b, kind, ckey, hold, GW_CH_NONE);
}

/* enqueue, with the user channel of a held message (GW_CH_NONE: kept whatever is subscribed). */
static int
enqueue_ch(struct gw_client *c, struct gw_buf *b, enum gw_kind kind, const char *ckey, int hold,
    int ch)
{
	size_t kl = ckey ? strlen(ckey) + 1 : 0;
	struct gw_qent *e;

	if (c->state == ST_CLOSING)
		return -1;
	if (kind == K_MARKET) {
		/* Conflation: the latest message of a key replaces an unsent one where it stands. */
		TAILQ_FOREACH(e, &c->mqueue, mq)
			if (strcmp(e->ckey, ckey) == 0) {
				buf_unref(e->b);
				b->refs++;
				e->b = b;
				ws.st.conflated++;
				return 0;
			}
	}
	if (kind == K_RELIABLE && c->reliable_bytes + b->len > (size_t)ws.queue_max) {
		client_close(c, 4008, "too slow");
		return -1;
	}
	if ((e = malloc(sizeof(*e) + kl)) == NULL) {
		client_close(c, 1011, "out of memory");
		return -1;
	}
	e->b = b;
	b->refs++;
	e->kind = kind;
	e->ch = ch;
	if (kl)
		memcpy(e->ckey, ckey, kl);
	if (kind == K_RELIABLE)
		c->reliable_bytes += b->len;
	if (hold) {
		TAILQ_INSERT_TAIL(&c->held, e, q);
		ws.st.held++;
		return 0;
	}
	TAILQ_INSERT_TAIL(&c->queue, e, q);
	if (kind == K_MARKET)
		TAILQ_INSERT_TAIL(&c->mqueue, e, mq);
	lws_callback_on_writable(c->wsi);
	return 0;
}

/* Queue a message made here (an answer, an error, the snapshot). */
static int
enqueue_text(struct gw_client *c, const char *p, size_t len, enum gw_kind kind)
{
	struct gw_buf *b;
	int rc;

	if ((b = buf_new(p, len)) == NULL) {
		client_close(c, 1011, "out of memory");
		return -1;
	}
	rc = enqueue(c, b, kind, NULL, 0);
	buf_unref(b);
	return rc;
}

static int
enqueue_json(struct gw_client *c, json_t *j)
{
	char *s;
	int rc;

	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		client_close(c, 1011, "out of memory");
		return -1;
	}
	json_decref(j);
	rc = enqueue_text(c, s, strlen(s), K_RELIABLE);
	free(s);
	return rc;
}

/* ------------------------------------------------------------ closing */

static void
subs_clear(struct gw_client *c)
{
	struct gw_sub *s;

	while ((s = LIST_FIRST(&c->subs)) != NULL) {
		LIST_REMOVE(s, cl);
		LIST_REMOVE(s, tl);
		if (--s->t->n == 0)
			topic_drop(s->t);
		free(s);
		ws.nsubs--;
	}
	c->nsubs = 0;
	for (int ch = 0; ch < GW_CH_MAX; ch++)
		if (c->channels & (1u << ch))
			ws.nsubs--;
	c->channels = 0;
}

/*
 * Close c with code: nothing more is queued.  Too slow (4008) or out of
 * memory (1011): what was queued is dropped (a client that comes back gets
 * a fresh snapshot) and the close frame goes when the socket is writable;
 * else what was queued (answers, the errors that led here) goes first.  A
 * client that never reads again is cut after max(heartbeat_interval, 5 s).
 */
static void
client_close(struct gw_client *c, int code, const char *reason)
{
	if (c->state == ST_CLOSING)
		return;
	c->state = ST_CLOSING;
	c->closing_ms = now_ms();
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	if (code >= 4001 && code <= 4008)
		ws.st.closed[code - 4000]++;
	else if (code == 1013)
		ws.st.closed[0]++;
	gw_db_cancel(ws.db, c);
	if (code == 4008 || code == 1011)
		queue_clear(c);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND,
	    (int)(ws.heartbeat_ms / 1000 > 5 ? ws.heartbeat_ms / 1000 : 5));
	lws_callback_on_writable(c->wsi);
}

static void
client_free(struct gw_client *c)
{
	gw_db_cancel(ws.db, c);
	subs_clear(c);
	queue_clear(c);
	if (c->user != NULL) {
		LIST_REMOVE(c, ul);
		if (--c->user->n == 0)
			user_drop(c->user);
	}
	LIST_REMOVE(c, all);
	ws.nclients--;
	ws.nep[c->ep]--;
	if (c->ep == EP_OPS)
		gw_ops_watchers(ws.nep[EP_OPS]);	/* no more gathers once nobody watches */
	free(c->rx.p);
	if (c->token) {
		OPENSSL_cleanse(c->token, strlen(c->token));
		free(c->token);
	}
	free(c);
}

/* ------------------------------------------------------------ answers */

/* {"type": type, "id": id (when the request had one), "data": data} */
static json_t *
answer(const char *type, const json_t *id, json_t *data)
{
	json_t *j = json_object();

	json_object_set_new(j, "type", json_string(type));
	if (id != NULL)
		json_object_set(j, "id", (json_t *)id);
	if (data != NULL)
		json_object_set_new(j, "data", data);
	return j;
}

/* An error 4004 frame; a client that earns GW_ABUSE_MAX of them within the window is closed. */
static void
client_error(struct gw_client *c, const json_t *id, const char *fmt, ...)
{
	char msg[160];
	va_list ap;
	int64_t now = now_ms();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (now - c->abuse_since_ms > GW_ABUSE_WINDOW_MS) {
		c->abuse_since_ms = now;
		c->abuse = 0;
	}
	if (++c->abuse >= GW_ABUSE_MAX) {
		log_warnx_rl(&rl_client, "client of %s (user %" PRId64 ") closed after %d invalid "
		    "messages in %d s; the last: %s", ep_path[c->ep], c->user_id, c->abuse,
		    GW_ABUSE_WINDOW_MS / 1000, msg);
		client_close(c, 4004, "too many invalid messages");
		return;
	}
	ws.st.errors_sent++;
	enqueue_json(c, answer("error", id, json_pack("{s:i,s:s}", "code", 4004, "message",
	    msg)));
}

static void
send_pong(struct gw_client *c, const json_t *id)
{
	char ts[25];
	json_t *j = answer("pong", id, NULL);

	gw_iso8601(clock_real_us() / 1000, ts);
	json_object_set_new(j, "timestamp", json_string(ts));
	enqueue_json(c, j);
}

/* ------------------------------------------------------------ auth */

static void
user_cb(int rc, const int64_t *accounts, size_t n, void *arg)
{
	struct gw_client *c = arg;
	json_t *ids;

	if (c->state != ST_USER_CHECK)
		return;
	if (rc == 0) {
		client_close(c, 4002, "user unknown or inactive");
		return;
	}
	if (rc == -1) {
		client_close(c, 1013, "database unavailable; try again later");
		return;
	}
	ids = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ids, json_integer(accounts[i]));
	ws.st.auth_ok++;
	if (enqueue_json(c, answer("auth_ok", NULL, json_pack("{s:I,s:o}", "user_id",
	    (json_int_t)c->user_id, "accounts", ids))) == -1)
		return;
	send_snapshot_request(c);
}

static void
snapshot_cb(int rc, const char *json, size_t len, void *arg)
{
	struct gw_client *c = arg;
	struct gw_qent *e;

	if (c->state != ST_SNAPSHOT)
		return;
	if (rc != 0) {
		ws.st.snapshot_errors++;
		client_close(c, 1013, "database unavailable; try again later");
		return;
	}
	ws.st.snapshots++;
	if (enqueue_text(c, json, len, K_SNAPSHOT) == -1)
		return;
	/*
	 * What came while the snapshot was read, after it, in order (already
	 * counted): of every channel, since one subscribed meanwhile must not
	 * miss what came between the snapshot's read and its subscribe; those
	 * of channels still not subscribed go now.
	 */
	while ((e = TAILQ_FIRST(&c->held)) != NULL) {
		TAILQ_REMOVE(&c->held, e, q);
		if (e->ch >= 0 && !(c->channels & (1u << e->ch))) {
			if (e->kind == K_RELIABLE)
				c->reliable_bytes -= e->b->len;
			qent_free(e);
			continue;
		}
		TAILQ_INSERT_TAIL(&c->queue, e, q);
	}
	c->state = ST_LIVE;
	lws_callback_on_writable(c->wsi);
	if (c->resnap) {
		c->resnap = 0;
		send_snapshot_request(c);
	}
}

static void
send_snapshot_request(struct gw_client *c)
{
	c->state = ST_SNAPSHOT;
	if (gw_db_snapshot(ws.db, c->user_id, snapshot_cb, c) == -1)
		client_close(c, 1013, "server busy; try again later");
}

/* A token, from ?token= or the auth message: verified, counted against the user's limit, checked in PostgreSQL. */
static void
client_auth(struct gw_client *c, const char *tok, size_t len)
{
	struct jwt_claims claims;
	struct gw_user *u;
	const char *why;

	if (ws.key == NULL) {
		client_close(c, 4001, "no tokens taken here");
		return;
	}
	if (jwt_verify_hs256(tok, len, ws.key, ws.keylen, (int64_t)time(NULL), ws.leeway_s,
	    &claims, &why) == -1) {
		log_info("/ws/trading: token refused: %s", why);
		client_close(c, 4001, why);
		return;
	}
	if ((u = user_get(claims.sub)) == NULL) {
		client_close(c, 1011, "out of memory");
		return;
	}
	if ((int64_t)u->n >= ws.max_per_user) {
		log_info("/ws/trading: user %" PRId64 " already has %zu connections", claims.sub,
		    u->n);
		client_close(c, 4003, "too many connections for this user");
		return;
	}
	c->user = u;
	c->user_id = claims.sub;
	LIST_INSERT_HEAD(&u->clients, c, ul);
	u->n++;
	c->state = ST_USER_CHECK;
	if (gw_db_user(ws.db, claims.sub, user_cb, c) == -1)
		client_close(c, 1013, "server busy; try again later");
}

/* ------------------------------------------------------------ subscriptions */

/* The topic key of a market subscription. */
static void
topic_key(char *key, size_t len, enum gw_channel ch, const char *symbol, const char *interval)
{
	if (ch == GW_CH_NONE)
		snprintf(key, len, "*|%s|", symbol);
	else
		snprintf(key, len, "%d|%s|%s", (int)ch, symbol, interval ? interval : "");
}

static struct gw_sub *
sub_find(struct gw_client *c, const char *key)
{
	struct gw_sub *s;

	LIST_FOREACH(s, &c->subs, cl)
		if (strcmp(s->t->key, key) == 0)
			return s;
	return NULL;
}

static int
sub_add(struct gw_client *c, const char *key)
{
	struct gw_topic *t;
	struct gw_sub *s;

	if (sub_find(c, key) != NULL)
		return 0;
	if (c->nsubs >= GW_SUBS_MAX)
		return -1;
	if ((t = topic_get(key)) == NULL || (s = calloc(1, sizeof(*s))) == NULL) {
		if (t != NULL && t->n == 0)
			topic_drop(t);
		return -1;
	}
	s->c = c;
	s->t = t;
	LIST_INSERT_HEAD(&t->subs, s, tl);
	LIST_INSERT_HEAD(&c->subs, s, cl);
	t->n++;
	c->nsubs++;
	ws.nsubs++;
	return 0;
}

static void
sub_del(struct gw_client *c, const char *key)
{
	struct gw_sub *s = sub_find(c, key);

	if (s == NULL)
		return;
	LIST_REMOVE(s, cl);
	LIST_REMOVE(s, tl);
	if (--s->t->n == 0)
		topic_drop(s->t);
	free(s);
	c->nsubs--;
	ws.nsubs--;
}

/* The strings of data[field], each checked by ok; NULL with an error sent when not so. */
static const json_t *
string_list(struct gw_client *c, const json_t *id, const json_t *data, const char *field)
{
	const json_t *arr = json_object_get(data, field), *v;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		client_error(c, id, "data.%s must be a non-empty array of strings", field);
		return NULL;
	}
	if (json_array_size(arr) > GW_SUBS_MAX) {
		client_error(c, id, "data.%s: at most %d", field, GW_SUBS_MAX);
		return NULL;
	}
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			client_error(c, id, "data.%s must be a non-empty array of strings", field);
			return NULL;
		}
	}
	return arr;
}

static int
symbol_valid(const json_t *v)
{
	size_t n = json_string_length(v);

	return n > 0 && n < EV_SYM && ev_symbol_ok(json_string_value(v), n);
}

/* subscribe / unsubscribe of trading channels. */
static void
msg_channels(struct gw_client *c, const json_t *id, const json_t *data, int on)
{
	const json_t *arr, *v;
	enum gw_channel ch;
	uint32_t bits = 0, added;
	size_t i;

	if ((arr = string_list(c, id, data, "channels")) == NULL)
		return;
	json_array_foreach(arr, i, v) {
		ch = gw_channel_by_name(json_string_value(v), json_string_length(v));
		if (!GW_CH_IS_USER(ch)) {
			client_error(c, id, "unknown channel \"%.40s\"", json_string_value(v));
			return;
		}
		bits |= 1u << ch;
	}
	for (int b = 0; b < GW_CH_MAX; b++) {
		if (!(bits & (1u << b)))
			continue;
		if (on && !(c->channels & (1u << b)))
			ws.nsubs++;
		else if (!on && (c->channels & (1u << b)))
			ws.nsubs--;
	}
	added = on ? bits & ~c->channels : 0;
	c->channels = on ? c->channels | bits : c->channels & ~bits;
	if (enqueue_json(c, answer(on ? "subscribed" : "unsubscribed", id, json_pack("{s:O}",
	    "channels", arr))) == -1)
		return;
	/*
	 * A channel whose state the snapshot carries, added once the snapshot
	 * was sent: what changed between its read and now never reached this
	 * client, so a fresh snapshot (live events held meanwhile) follows.
	 */
	if ((added & SNAPSHOT_CHANNELS) && c->state == ST_LIVE) {
		ws.st.resnapshots++;
		send_snapshot_request(c);
	}
}

/* subscribe_symbol / subscribe_ticker ... and their unsubscribe twins. */
static void
msg_symbols(struct gw_client *c, const json_t *id, const json_t *data, enum gw_channel ch,
    int on)
{
	const char *interval = NULL;
	const json_t *arr, *v;
	char key[EV_SYM + 32];
	json_t *d;
	size_t i;

	if ((arr = string_list(c, id, data, "symbols")) == NULL)
		return;
	json_array_foreach(arr, i, v) {
		if (!symbol_valid(v)) {
			client_error(c, id, "\"%.40s\" is not a symbol", json_string_value(v));
			return;
		}
	}
	if (ch == GW_CH_KLINE) {
		v = json_object_get(data, "interval");
		interval = v == NULL ? "1m" : json_string_value(v);
		if (interval == NULL || !ev_interval_ok(interval)) {
			client_error(c, id, "data.interval must be a kline interval (1m ... 1M)");
			return;
		}
	}
	if (on && c->nsubs + json_array_size(arr) > GW_SUBS_MAX) {
		client_error(c, id, "at most %d subscriptions per connection", GW_SUBS_MAX);
		return;
	}
	json_array_foreach(arr, i, v) {
		topic_key(key, sizeof(key), ch, json_string_value(v), interval);
		if (on && sub_add(c, key) == -1) {
			client_close(c, 1011, "out of memory");
			return;
		} else if (!on)
			sub_del(c, key);
	}
	d = json_pack("{s:O}", "symbols", arr);
	if (ch != GW_CH_NONE)
		json_object_set_new(d, "channel", json_string(gw_channel_name(ch)));
	if (interval != NULL)
		json_object_set_new(d, "interval", json_string(interval));
	enqueue_json(c, answer(on ? "subscribed" : "unsubscribed", id, d));
}

static const struct {
	const char	*type;
	enum gw_channel	 ch;
} market_types[] = {
	{ "ticker", GW_CH_TICKER }, { "trades", GW_CH_TRADES }, { "orderbook", GW_CH_ORDERBOOK },
	{ "kline", GW_CH_KLINE }, { "mark_price", GW_CH_MARK_PRICE },
};

/* One whole message from the client. */
static void
client_message(struct gw_client *c, const char *p, size_t len)
{
	const json_t *type, *id, *data;
	const char *t;
	json_error_t jerr;
	json_t *j;
	int on;

	ws.st.messages_in++;
	if ((j = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL || !json_is_object(j)) {
		if (c->state == ST_AUTH)
			client_close(c, 4001, "auth required");
		else
			client_error(c, NULL, "invalid JSON%s%s", j ? ": not an object" :
			    ": ", j ? "" : jerr.text);
		json_decref(j);
		return;
	}
	type = json_object_get(j, "type");
	id = json_object_get(j, "id");
	data = json_object_get(j, "data");
	if (id != NULL && !json_is_string(id) && !json_is_integer(id))
		id = NULL;
	if (!json_is_string(type)) {
		if (c->state == ST_AUTH)
			client_close(c, 4001, "auth required");
		else
			client_error(c, id, "no type");
		json_decref(j);
		return;
	}
	t = json_string_value(type);
	if (c->state == ST_AUTH) {
		const json_t *tok = json_object_get(data, "token");

		if (strcmp(t, "auth") != 0 || !json_is_string(tok))
			client_close(c, 4001, "auth required");
		else
			client_auth(c, json_string_value(tok), json_string_length(tok));
		json_decref(j);
		return;
	}
	if (strcmp(t, "ping") == 0) {
		send_pong(c, id);
		json_decref(j);
		return;
	}
	if (c->ep == EP_OPS) {
		client_error(c, id, "/ws/ops takes ping only");
		json_decref(j);
		return;
	}
	if (data != NULL && !json_is_object(data)) {
		client_error(c, id, "data must be an object");
		json_decref(j);
		return;
	}
	on = strncmp(t, "unsubscribe", 11) != 0;
	if (c->ep == EP_TRADING) {
		if (strcmp(t, "subscribe") == 0 || strcmp(t, "unsubscribe") == 0)
			msg_channels(c, id, data, on);
		else if (strcmp(t, "subscribe_symbol") == 0 || strcmp(t, "unsubscribe_symbol") == 0)
			msg_symbols(c, id, data, GW_CH_NONE, on);
		else if (strcmp(t, "auth") == 0)
			client_error(c, id, "already authenticated");
		else
			client_error(c, id, "unknown type \"%.40s\"", t);
		json_decref(j);
		return;
	}
	for (size_t i = 0; i < sizeof(market_types) / sizeof(market_types[0]); i++) {
		/* After "subscribe_" / "unsubscribe_". */
		const char *rest = strncmp(t, "subscribe_", 10) == 0 ? t + 10 :
		    strncmp(t, "unsubscribe_", 12) == 0 ? t + 12 : NULL;

		if (rest != NULL && strcmp(rest, market_types[i].type) == 0) {
			msg_symbols(c, id, data, market_types[i].ch, on);
			json_decref(j);
			return;
		}
	}
	client_error(c, id, "unknown type \"%.40s\"", t);
	json_decref(j);
}

/* Inbound rate: a token bucket of message_burst, refilled at message_rate a second. */
static int
rate_ok(struct gw_client *c)
{
	int64_t now = clock_mono_us();

	c->tokens += (double)(now - c->tokens_us) * (double)ws.rate / 1e6;
	c->tokens_us = now;
	if (c->tokens > (double)ws.burst)
		c->tokens = (double)ws.burst;
	if (c->tokens < 1.0)
		return 0;
	c->tokens -= 1.0;
	return 1;
}

static void
client_receive(struct gw_client *c, const char *in, size_t len)
{
	/* A frame may come in several parts, a message in several frames. */
	int final = lws_is_final_fragment(c->wsi) && lws_remaining_packet_payload(c->wsi) == 0;

	c->last_rx_ms = now_ms();
	if (c->state == ST_CLOSING)
		return;
	if (!c->rx_in_msg) {
		c->rx_in_msg = 1;
		c->rx.len = 0;
		c->rx_over = 0;
	}
	if (!c->rx_over && c->rx.len + len > (size_t)ws.msg_max) {
		c->rx_over = 1;
		c->rx.len = 0;
	}
	if (!c->rx_over && strbuf_put(&c->rx, in, len) == -1) {
		client_close(c, 1011, "out of memory");
		return;
	}
	if (!final)
		return;
	if (!rate_ok(c)) {
		if (c->state == ST_AUTH)
			client_close(c, 4001, "auth required");
		else
			client_error(c, NULL, "over the message rate (%" PRId64 " a second)", ws.rate);
	} else if (c->rx_over) {
		if (c->state == ST_AUTH)
			client_close(c, 4001, "auth required");
		else
			client_error(c, NULL, "message too large (at most %" PRId64 " bytes)",
			    ws.msg_max);
	} else if (lws_frame_is_binary(c->wsi)) {
		if (c->state == ST_AUTH)
			client_close(c, 4001, "auth required");
		else
			client_error(c, NULL, "text frames only");
	} else
		client_message(c, c->rx.p ? c->rx.p : "", c->rx.len);
	c->rx.len = 0;
	c->rx_over = 0;
	c->rx_in_msg = 0;
	/* An idle client keeps no receive buffer. */
	if (c->rx.cap > 4096) {
		free(c->rx.p);
		memset(&c->rx, 0, sizeof(c->rx));
	}
}

/* ------------------------------------------------------------ writing */

static int
client_writable(struct gw_client *c)
{
	struct gw_qent *e;
	int64_t now_us;
	int n;

	if (c->close_code && TAILQ_EMPTY(&c->queue)) {
		/*
		 * A client still sending (a pipelined burst, a flood) would
		 * meet a closed socket: its kernel answers with a reset, and
		 * the client's own kernel then drops what it had not read yet -
		 * our answers and the close frame.  So the close waits until
		 * the client has been quiet for GW_LINGER_MS (or GW_LINGER_MAX_MS
		 * passed), reading and discarding meanwhile.
		 */
		int64_t now = now_ms();

		if (now - c->last_rx_ms < GW_LINGER_MS && now - c->closing_ms < GW_LINGER_MAX_MS)
			return 0;	/* the heartbeat's sweep asks again */
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	if (c->ping_due) {
		/* The payload the pong must echo (lws sends no zero-length ping anyway). */
		unsigned char ping[LWS_PRE + GW_PING_LEN];

		memcpy(ping + LWS_PRE, c->ping_payload, GW_PING_LEN);
		c->ping_due = 0;
		ws.st.pings++;
		if (lws_write(c->wsi, ping + LWS_PRE, GW_PING_LEN, LWS_WRITE_PING) < GW_PING_LEN)
			return -1;
		if (lws_send_pipe_choked(c->wsi)) {
			lws_callback_on_writable(c->wsi);
			return 0;
		}
	}
	/* One clock read for this call's writes: they go out microseconds apart. */
	now_us = TAILQ_EMPTY(&c->queue) ? 0 : clock_real_us();
	for (n = 0; n < GW_WRITES_PER_CALL && (e = TAILQ_FIRST(&c->queue)) != NULL; n++) {
		TAILQ_REMOVE(&c->queue, e, q);
		if (e->kind == K_MARKET)
			TAILQ_REMOVE(&c->mqueue, e, mq);
		else if (e->kind == K_RELIABLE)
			c->reliable_bytes -= e->b->len;
		if (lws_write(c->wsi, e->b->data + LWS_PRE, e->b->len, LWS_WRITE_TEXT) <
		    (int)e->b->len) {
			qent_free(e);
			return -1;
		}
		ws.st.sent_messages++;
		ws.st.sent_bytes += e->b->len;
		if (e->b->committed_us > 0)
			hist_add(&ws.delivery, now_us - e->b->committed_us);
		if (e->b->arrived_us > 0)
			hist_add(&ws.queue_lat, now_us - e->b->arrived_us);
		qent_free(e);
		if (lws_send_pipe_choked(c->wsi))
			break;
	}
	if (!TAILQ_EMPTY(&c->queue) || c->close_code)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* ------------------------------------------------------------ fan-out */

/* The message of ev, made once; NULL (counted, logged rate-limited) when it has none. */
static struct gw_buf *
event_message(const struct event *ev)
{
	struct gw_buf *b;

	ws.sb.len = 0;
	ws.sb.oom = 0;
	if (gw_message_at(&ws.sb, ev, ws.feed ? gw_feed_frame_us(ws.feed) : 0) == -1 ||
	    ws.sb.oom) {
		ws.st.msg_errors++;
		log_warnx_rl(&rl_event, "no client message for %s event %s", ev_type_name(ev->type),
		    ev->id);
		return NULL;
	}
	if ((b = buf_new(ws.sb.p, ws.sb.len)) == NULL)
		ws.st.msg_errors++;
	else if (!EV_IS_MARKET(ev->type) && ws.feed != NULL) {
		b->committed_us = gw_feed_frame_us(ws.feed);
		b->arrived_us = ws.arrived_us;
	}
	return b;
}

static void
fanout_user(const struct event *ev, enum gw_channel ch)
{
	struct gw_user *u = user_find(ev->user_id);
	struct gw_client *c, *next;
	struct gw_buf *b = NULL;

	if (u == NULL)
		return;
	for (c = LIST_FIRST(&u->clients); c != NULL; c = next) {
		next = LIST_NEXT(c, ul);
		/*
		 * Before ST_SNAPSHOT the snapshot still to be read has it; during
		 * it every channel's is held (a subscribe may come before it ends).
		 */
		if (c->state == ST_SNAPSHOT ? 0 :
		    !(c->channels & (1u << ch)) || c->state != ST_LIVE)
			continue;
		if (b == NULL && (b = event_message(ev)) == NULL)
			return;
		enqueue_ch(c, b, K_RELIABLE, NULL, c->state == ST_SNAPSHOT, (int)ch);
	}
	buf_unref(b);
}

static void
fanout_market(const struct event *ev, enum gw_channel ch)
{
	const char *sym = ev_market_symbol(ev);
	struct gw_topic *t[2];
	struct gw_sub *s, *next;
	struct gw_buf *b = NULL;
	char key[EV_SYM + 32], ckey[GW_CKEY];

	if (*sym == '\0')
		return;
	topic_key(key, sizeof(key), ch, sym, ev->type == EV_KLINE ? ev->u.kline.interval : NULL);
	t[0] = topic_find(key);
	topic_key(key, sizeof(key), GW_CH_NONE, sym, NULL);
	t[1] = topic_find(key);
	if (t[0] == NULL && t[1] == NULL)
		return;
	if ((b = event_message(ev)) == NULL)
		return;
	gw_conflation_key(ev, ckey, sizeof(ckey));
	for (int i = 0; i < 2; i++) {
		if (t[i] == NULL)
			continue;
		for (s = LIST_FIRST(&t[i]->subs); s != NULL; s = next) {
			next = LIST_NEXT(s, tl);
			/* A trading client's market data too starts after its snapshot. */
			if (s->c->state != ST_LIVE)
				continue;
			enqueue(s->c, b, K_MARKET, ckey, 0);
		}
	}
	buf_unref(b);
}

void
gw_ws_event(const struct event *ev, void *arg)
{
	enum gw_channel ch = gw_channel_of(ev);

	(void)arg;
	ws.st.events++;
	if (GW_CH_IS_USER(ch)) {
		int64_t t = ws.feed != NULL ? gw_feed_frame_us(ws.feed) : 0;

		ws.st.events_user++;
		ws.arrived_us = clock_real_us();
		if (t > 0)
			hist_add(&ws.feed_lat, ws.arrived_us - t);
		fanout_user(ev, ch);
	} else if (GW_CH_IS_MARKET(ch)) {
		ws.st.events_market++;
		fanout_market(ev, ch);
	} else
		ws.st.events_unrouted++;
}

/*
 * A hole in the feed: the writer's means user events may be missing, so
 * every trading client past its user check is sent a fresh snapshot (live
 * events held meanwhile, as at connect).  The market worker's concerns
 * market data, which a later message of each stream replaces anyway.
 */
void
gw_ws_hole(const char *role, int instance, uint64_t lost, void *arg)
{
	struct gw_client *c, *next;
	size_t n = 0;

	(void)arg;
	ws.st.holes++;
	if (strcmp(role, "writer") != 0)
		return;
	for (c = LIST_FIRST(&ws.clients); c != NULL; c = next) {
		next = LIST_NEXT(c, all);
		if (c->ep != EP_TRADING)
			continue;
		if (c->state == ST_SNAPSHOT)
			c->resnap = 1;
		else if (c->state == ST_LIVE) {
			send_snapshot_request(c);
			n++;
		} else
			continue;
		ws.st.resnapshots++;
	}
	if (n > 0 || lost > 0)
		log_info("feed hole from %s %d (%" PRIu64 " events lost): %zu trading clients "
		    "snapshotted again", role, instance, lost, n);
}

/* The ops message (gw_ops_on_message): to every /ws/ops client, the latest replacing an unsent one. */
static void
ops_message(const char *json, size_t len, void *arg)
{
	struct gw_client *c;
	struct gw_buf *b;

	(void)arg;
	if (ws.nep[EP_OPS] == 0 || len == 0 || (b = buf_new(json, len)) == NULL)
		return;
	ws.st.ops_messages++;
	LIST_FOREACH(c, &ws.clients, all)
		if (c->ep == EP_OPS && c->state == ST_LIVE)
			enqueue(c, b, K_MARKET, "ops", 0);
	buf_unref(b);
}

/* ------------------------------------------------------------ the heartbeat */

/* GW_PING_LEN bytes no client can predict without reading our ping. */
static void
ping_payload_new(unsigned char *p)
{
	static uint64_t n;
	uint64_t v;

	if (RAND_bytes(p, GW_PING_LEN) == 1)
		return;
	v = (uint64_t)now_ms() * 0x9e3779b97f4a7c15ULL ^ ++n * 0xbf58476d1ce4e5b9ULL;
	memcpy(p, &v, GW_PING_LEN);
}

/* A random delay in [0, heartbeat_interval / 2), ms. */
static int64_t
ping_jitter_ms(void)
{
	uint32_t r;

	if (ws.heartbeat_ms < 2 || RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return 0;
	return (int64_t)(r % (uint32_t)(ws.heartbeat_ms / 2));
}

static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gw_client *c, *next;
	int64_t now = now_ms();

	(void)loop;
	(void)w;
	(void)revents;
	for (c = LIST_FIRST(&ws.clients); c != NULL; c = next) {
		next = LIST_NEXT(c, all);
		if (c->state == ST_CLOSING) {
			/* A close lingering for the client's quiet (client_writable). */
			if (c->close_code)
				lws_callback_on_writable(c->wsi);
			continue;
		}
		if (c->state == ST_AUTH && now - c->connected_ms >= ws.auth_timeout_ms) {
			client_close(c, 4001, "auth required");
			continue;
		}
		if (c->ping_sent_ms > c->pong_ms && now - c->ping_sent_ms >= ws.heartbeat_ms) {
			/*
			 * Our ping unanswered for a heartbeat: gone, or not reading
			 * (what it sends meanwhile proves nothing); no close frame
			 * would get through.
			 */
			ws.st.dropped_dead++;
			c->state = ST_CLOSING;
			queue_clear(c);
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
			continue;
		}
		if (c->ping_sent_ms <= c->pong_ms && now - c->pong_ms >= ws.heartbeat_ms) {
			ping_payload_new(c->ping_payload);
			c->ping_sent_ms = now;
			c->ping_due = 1;
			lws_callback_on_writable(c->wsi);
		}
	}
}

static void
sweep_arm(void)
{
	int64_t ms = (ws.heartbeat_ms < ws.auth_timeout_ms ? ws.heartbeat_ms :
	    ws.auth_timeout_ms) / 4;

	if (ms < 25)
		ms = 25;
	if (ms > 250)
		ms = 250;	/* also the granularity of a close's linger */
	ev_timer_stop(ws.loop, &ws.sweep);
	ev_timer_set(&ws.sweep, (double)ms / 1000, (double)ms / 1000);
	ev_timer_start(ws.loop, &ws.sweep);
}

/* ------------------------------------------------------------ connections */

static int
origin_allowed(struct lws *wsi)
{
	const struct strlist *l = &worker_config()->gateway_allowed_origins;
	char origin[256];
	int n;

	if (l->n == 0)
		return 1;
	n = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
	/* No Origin: not a browser (a browser always sends one on a WebSocket). */
	if (n <= 0 && lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) == 0)
		return 1;
	for (size_t i = 0; n > 0 && i < l->n; i++)
		if (strcasecmp(origin, l->v[i]) == 0)
			return 1;
	return 0;
}

static int
path_ep(struct lws *wsi)
{
	char uri[128];

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (strcmp(uri, ep_path[i]) == 0)
			return i;
	return -1;
}

/*
 * Refuse an upgrade with an HTTP status.  Written out here: at this point
 * lws has not yet taken the request's HTTP version, and its own status
 * line would say HTTP/1.0, which WebSocket clients refuse to read.
 */
static int
refuse(struct lws *wsi, int status, const char *text, const char *body)
{
	char buf[LWS_PRE + 512];
	int n;

	n = snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "Cache-Control: no-store\r\n\r\n%s\n", status, text, strlen(body) + 1, body);
	if (lws_write(wsi, (unsigned char *)buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS) != n)
		return -1;
	return 1;
}

/* The upgrade: a known path, an allowed Origin, room.  0 to go on, 1 refused (HTTP answer sent), -1 hang up. */
static int
confirm_upgrade(struct lws *wsi)
{
	if (path_ep(wsi) == -1) {
		ws.st.refused_path++;
		return refuse(wsi, 404, "Not Found", "no such WebSocket (/ws/trading, /ws/market, "
		    "/ws/ops)");
	}
	if (!origin_allowed(wsi)) {
		ws.st.refused_origin++;
		return refuse(wsi, 403, "Forbidden", "origin not allowed");
	}
	if ((int64_t)ws.nclients >= ws.max_conn) {
		ws.st.refused_full++;
		return refuse(wsi, 503, "Service Unavailable", "too many connections");
	}
	return 0;
}

static int
client_new(struct lws *wsi, struct gw_pss *pss)
{
	struct gw_client *c;
	char tok[GW_TOKEN_MAX + 8];
	const char *v;
	int ep = path_ep(wsi), fd, sndbuf = GW_SNDBUF;

	if (ep == -1 || (c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->wsi = wsi;
	c->ep = (enum gw_ep)ep;
	TAILQ_INIT(&c->queue);
	TAILQ_INIT(&c->mqueue);
	TAILQ_INIT(&c->held);
	LIST_INIT(&c->subs);
	c->connected_ms = c->last_rx_ms = now_ms();
	/*
	 * The first ping goes between half a heartbeat and one after the
	 * connect, at random: clients that came together (a restart, a
	 * deploy, a bench) would otherwise be pinged, and answer, together,
	 * every heartbeat, in one long turn of the loop that holds up the
	 * events behind it.  Each later ping follows its client's last pong.
	 */
	c->pong_ms = c->connected_ms - ping_jitter_ms();
	c->tokens = (double)ws.burst;
	c->tokens_us = clock_mono_us();
	c->state = c->ep == EP_TRADING ? ST_AUTH : ST_LIVE;
	if (c->ep == EP_TRADING && (v = lws_get_urlarg_by_name(wsi, "token=", tok,
	    sizeof(tok))) != NULL && (c->token = strdup(v)) == NULL) {
		free(c);
		return -1;
	}
	OPENSSL_cleanse(tok, sizeof(tok));
	/* A client that stops reading shows in our queue soon, not after megabytes of kernel buffer. */
	if ((fd = lws_get_socket_fd(wsi)) >= 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	LIST_INSERT_HEAD(&ws.clients, c, all);
	ws.nclients++;
	ws.nep[c->ep]++;
	if (c->ep == EP_OPS)
		gw_ops_watchers(ws.nep[EP_OPS]);	/* a gather a second while anyone watches */
	ws.st.accepted++;
	pss->c = c;
	if (c->token != NULL) {
		char *t = c->token;

		c->token = NULL;
		client_auth(c, t, strlen(t));
		OPENSSL_cleanse(t, strlen(t));
		free(t);
	} else if (c->ep == EP_OPS) {
		size_t len;
		const char *m = gw_ops_message(&len);

		if (len > 0)
			ops_message(m, len, NULL);
	}
	return 0;
}

int
gw_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len, int *rc)
{
	struct gw_pss *pss = user;
	struct gw_client *c = pss ? pss->c : NULL;

	*rc = 0;
	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		*rc = confirm_upgrade(wsi);
		return 1;
	case LWS_CALLBACK_ESTABLISHED:
		if (pss == NULL || client_new(wsi, pss) == -1)
			*rc = -1;
		return 1;
	case LWS_CALLBACK_RECEIVE:
		if (c != NULL)
			client_receive(c, in, len);
		return 1;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (c != NULL) {
			c->last_rx_ms = now_ms();
			/*
			 * Only the answer to our outstanding ping proves the client
			 * reads (not a replay of an answered one).
			 */
			if (c->ping_sent_ms > c->pong_ms && len == GW_PING_LEN &&
			    memcmp(in, c->ping_payload, GW_PING_LEN) == 0)
				c->pong_ms = c->last_rx_ms;
		}
		return 1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c != NULL)
			*rc = client_writable(c);
		return 1;
	case LWS_CALLBACK_CLOSED:
		if (c != NULL) {
			client_free(c);
			pss->c = NULL;
		}
		return 1;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ setup, status */

static void
secret_load(const struct config *cfg, int fatal_on_error)
{
	const char *path = cfg->gateway_jwt_secret_file;
	unsigned char *key = NULL;
	size_t keylen = 0;
	char err[512];

	if (path != NULL && path[0] != '\0' &&
	    jwt_secret_load(path, &key, &keylen, err, sizeof(err)) == -1) {
		if (fatal_on_error)
			worker_fatal(EX_CONFIG_STATUS, "%s:%d: [gateway] jwt_secret_file: %s",
			    cfg->file, config_line_of(cfg, "gateway", "jwt_secret_file"), err);
		log_warnx("%s:%d: [gateway] jwt_secret_file: %s; the secret read before stays in "
		    "use", cfg->file, config_line_of(cfg, "gateway", "jwt_secret_file"), err);
		return;
	}
	if (ws.key != NULL) {
		OPENSSL_cleanse(ws.key, ws.keylen);
		free(ws.key);
	}
	ws.key = key;
	ws.keylen = keylen;
	if (key == NULL)
		log_info("[gateway] jwt_secret_file is not set: /ws/trading refuses every token");
}

void
gw_ws_config(const struct config *cfg)
{
	ws.leeway_s = cfg->gateway_jwt_leeway_ms / 1000;
	ws.auth_timeout_ms = cfg->gateway_auth_timeout_ms;
	ws.heartbeat_ms = cfg->gateway_heartbeat_ms;
	ws.max_conn = cfg->gateway_max_connections;
	ws.max_per_user = cfg->gateway_max_per_user;
	ws.queue_max = cfg->gateway_client_queue_max;
	ws.msg_max = cfg->gateway_max_message_size;
	ws.rate = cfg->gateway_message_rate;
	ws.burst = cfg->gateway_message_burst;
	if (ws.loop != NULL) {
		secret_load(cfg, 0);
		sweep_arm();
	}
}

void
gw_ws_start(struct ev_loop *loop, const struct config *cfg, struct gw_db *db)
{
	LIST_INIT(&ws.clients);
	ws.db = db;
	gw_ws_config(cfg);
	secret_load(cfg, 1);
	ws.loop = loop;
	hist_init(&ws.feed_lat);
	hist_init(&ws.queue_lat);
	hist_init(&ws.delivery);
	ev_init(&ws.interest, interest_cb);
	ev_init(&ws.sweep, sweep_cb);
	sweep_arm();
	gw_ops_on_message(ops_message, NULL);
}

int
gw_ws_status_json(struct strbuf *out)
{
	char num[64];
	int first = 1;

	snprintf(num, sizeof(num), "{\"connections\":%zu,\"by_user\":{", ws.nclients);
	strbuf_puts(out, num);
	for (size_t i = 0; i < ws.users.nb; i++)
		for (struct gw_user *u = ws.users.b[i]; u; u = u->next) {
			snprintf(num, sizeof(num), "%s\"%" PRId64 "\":%zu", first ? "" : ",", u->id,
			    u->n);
			strbuf_puts(out, num);
			first = 0;
		}
	snprintf(num, sizeof(num), "},\"subscriptions\":%zu}\n", ws.nsubs);
	strbuf_puts(out, num);
	return out->oom ? -1 : 0;
}

size_t
gw_ws_status_count(void)
{
	return 39;
}

void
gw_ws_status_pack(msgpack_packer *pk)
{
	mp_kv_u64(pk, "connections", ws.nclients);
	mp_kv_u64(pk, "connections_trading", ws.nep[EP_TRADING]);
	mp_kv_u64(pk, "connections_market", ws.nep[EP_MARKET]);
	mp_kv_u64(pk, "connections_ops", ws.nep[EP_OPS]);
	mp_kv_u64(pk, "users", ws.users.n);
	mp_kv_u64(pk, "subscriptions", ws.nsubs);
	mp_kv_u64(pk, "accepted", ws.st.accepted);
	mp_kv_u64(pk, "refused_origin", ws.st.refused_origin);
	mp_kv_u64(pk, "refused_full", ws.st.refused_full);
	mp_kv_u64(pk, "refused_path", ws.st.refused_path);
	mp_kv_u64(pk, "auth_ok", ws.st.auth_ok);
	mp_kv_u64(pk, "closed_4001_auth", ws.st.closed[1]);
	mp_kv_u64(pk, "closed_4002_user", ws.st.closed[2]);
	mp_kv_u64(pk, "closed_4003_connections", ws.st.closed[3]);
	mp_kv_u64(pk, "closed_4004_invalid", ws.st.closed[4]);
	mp_kv_u64(pk, "closed_4008_slow", ws.st.closed[8]);
	mp_kv_u64(pk, "closed_1013_retry", ws.st.closed[0]);
	mp_kv_u64(pk, "dropped_dead", ws.st.dropped_dead);
	mp_kv_u64(pk, "pings", ws.st.pings);
	mp_kv_u64(pk, "messages_in", ws.st.messages_in);
	mp_kv_u64(pk, "errors_sent", ws.st.errors_sent);
	mp_kv_u64(pk, "events", ws.st.events);
	mp_kv_u64(pk, "events_user", ws.st.events_user);
	mp_kv_u64(pk, "events_market", ws.st.events_market);
	mp_kv_u64(pk, "events_unrouted", ws.st.events_unrouted);
	mp_kv_u64(pk, "message_errors", ws.st.msg_errors);
	mp_kv_u64(pk, "sent_messages", ws.st.sent_messages);
	mp_kv_u64(pk, "sent_bytes", ws.st.sent_bytes);
	mp_kv_u64(pk, "conflated", ws.st.conflated);
	mp_kv_u64(pk, "held", ws.st.held);
	mp_kv_u64(pk, "snapshots", ws.st.snapshots);
	mp_kv_u64(pk, "snapshot_errors", ws.st.snapshot_errors);
	mp_kv_u64(pk, "resnapshots", ws.st.resnapshots);
	mp_kv_u64(pk, "ops_messages", ws.st.ops_messages);
	mp_kv_u64(pk, "topics", ws.topics.n);
	mp_kv_bool(pk, "jwt_secret", ws.key != NULL);
	mp_str(pk, "feed_us");
	hist_pack(&ws.feed_lat, pk);
	mp_str(pk, "delivery_us");
	hist_pack(&ws.delivery, pk);
	mp_str(pk, "queue_us");
	hist_pack(&ws.queue_lat, pk);
}

void
gw_ws_stop(void)
{
	if (ws.loop != NULL)
		ev_timer_stop(ws.loop, &ws.sweep);
	if (ws.key != NULL) {
		OPENSSL_cleanse(ws.key, ws.keylen);
		free(ws.key);
		ws.key = NULL;
	}
	free(ws.sb.p);
	memset(&ws.sb, 0, sizeof(ws.sb));
}
