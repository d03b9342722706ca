/*
 * account_conn.c: the account worker's /private/stream connections (FACTS
 * §1.2).  Accounts are packed into groups of up to accounts_per_connection;
 * a group has one established connection (cur) and, while its membership
 * or a key changes or the connection grows old, a replacement (repl) that
 * takes over only once it is subscribed.  The one it replaces is then
 * drained, not dropped: frames the exchange wrote to it before it took our
 * SUBSCRIBE on the new one may still be on their way, so a GET_PROPERTY is
 * sent on the old one and it is read until that is answered (the exchange
 * answers in order, after every frame it wrote before); only then is it
 * closed.  One that closes or stays silent first leaves its accounts a gap.
 * Frames seen on both during the overlap are dropped by a recent-frame hash
 * set.  An account that a connection starts carrying which the one before
 * did not has a gap (resync.c).
 *
 * Every wait on the exchange has a deadline: the connect (CONNECT_TIMEOUT_MS),
 * the answer to a SUBSCRIBE (SUBSCRIBE_TIMEOUT_MS), and the data path itself:
 * a connection on which no frame arrived for health_check_interval is sent a
 * GET_PROPERTY probe, which the exchange answers over the same path as the
 * events, and one on which no frame at all (event or answer) arrived for
 * silence_timeout is dead.  Answers to our WebSocket pings prove only that
 * the socket lives, not that events still flow (a stalled stream answers
 * pings): they do not count.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "exfeedd.h"

#define URL_KEYS_MAX		16	/* more make a request line lws 4.1 / servers refuse */
#define MAX_MESSAGE		(1024 * 1024)
#define CONNECT_TIMEOUT_MS	15000
#define SUBSCRIBE_TIMEOUT_MS	10000	/* or silence_timeout, if shorter */
#define DEDUPE_SLOTS		256
#define DEDUPE_HOLD_MS		10000	/* keep deduping this long after a switch */
#define DRAIN_TIMEOUT_MS	5000	/* or silence_timeout, if shorter */

struct member {
	struct acct	*a;
	uint32_t	 key_gen;
	int64_t		 drain_from_ms;	/* drained: its last event when replaced */
};

enum conn_state { CS_CONNECTING, CS_SUBSCRIBING, CS_READY };

struct wsconn {
	struct group	*g;
	struct net_ws	*ws;
	uint32_t	 id;
	uint8_t		 state;
	struct member	*m;
	int		 nm;
	int64_t		 opened_ms, ready_ms, last_data_ms, last_pong_ms, last_ping_ms;
	int64_t		 sub_id, sub_sent_ms;
	int64_t		 probe_id, probe_sent_ms;
	int64_t		 drain_id, drain_sent_ms;	/* replaced: read until answered */
	uint64_t	 msgs, malformed;
};

struct group {
	struct group	*next;
	uint32_t	 id;
	struct acct	**a;
	int		 n, cap;
	int		 dirty;
	struct wsconn	*cur, *repl, *drain;
	unsigned	 failures;
	int64_t		 retry_at_ms;
	int64_t		 renew_at_ms;	/* a renewal for age refused: not before */
	int64_t		 dedupe_until_ms;
	uint64_t	 recent[DEDUPE_SLOTS];
	unsigned	 recent_pos;
	char		 lost_why[96];	/* why the last connection ended: the gap's reason */
};

static ev_timer kick_timer;

static void conn_close(struct wsconn *, const char *why, int failed);

/* ------------------------------------------------------------------ groups */

void
group_remove_acct(struct acct *a)
{
	struct group *g = a->group;

	if (g == NULL)
		return;
	for (int i = 0; i < g->n; i++)
		if (g->a[i] == a) {
			g->a[i] = g->a[--g->n];
			g->dirty = 1;
			break;
		}
	/*
	 * Leaving (stopped, moved to another worker, the worker stopping)
	 * while the connection it was replaced from is still being drained:
	 * the frames that one holds are never read, so the gap from the
	 * switch is recorded now, for whoever serves it next (soak seed 8732:
	 * a daemon restart during a drain of a stalled connection lost the
	 * events of the stall; the new owner started from the new one's).
	 */
	for (int i = 0; g->drain && i < g->drain->nm; i++)
		if (g->drain->m[i].a == a) {
			acct_gap(a, g->drain->m[i].drain_from_ms,
			    "left while its replaced connection was being drained");
			break;
		}
	/* Connections keep member snapshots: forget this account there. */
	for (int c = 0; c < 3; c++) {
		struct wsconn *w = c == 0 ? g->cur : c == 1 ? g->repl : g->drain;

		for (int i = 0; w && i < w->nm; i++)
			if (w->m[i].a == a)
				w->m[i].a = NULL;
	}
	a->group = NULL;
	group_kick();
}

/* Put the account into a group with room, or a new one. */
void
group_add_acct(struct acct *a)
{
	struct group *g;
	int per = (int)aw.cfg->accounts_per_connection;

	if (a->group) {
		a->group->dirty = 1;
		group_kick();
		return;
	}
	for (g = aw.groups; g; g = g->next)
		if (g->n < per)
			break;
	if (g == NULL) {
		if ((g = calloc(1, sizeof(*g))) == NULL) {
			log_warnx("out of memory for a connection group");
			return;
		}
		g->id = ++aw.next_group_id;
		g->next = aw.groups;
		aw.groups = g;
	}
	if (g->n == g->cap) {
		int ncap = g->cap ? g->cap * 2 : 8;
		struct acct **na = realloc(g->a, (size_t)ncap * sizeof(*na));

		if (na == NULL) {
			log_warnx("out of memory for a connection group");
			return;
		}
		g->a = na;
		g->cap = ncap;
	}
	g->a[g->n++] = a;
	g->dirty = 1;
	a->group = g;
	acct_set_state(a, AS_STREAM);
	group_kick();
}

int
groups_count_connections(void)
{
	int n = 0;

	for (struct group *g = aw.groups; g; g = g->next)
		n += (g->cur != NULL) + (g->repl != NULL) + (g->drain != NULL);
	return n;
}

/* ------------------------------------------------------------ connections */

static void
conn_describe(const struct wsconn *w, char *buf, size_t len)
{
	char url[1024], red[1024];

	snprintf(url, sizeof(url), "%s://%.255s:%d%.255s/private/stream?listenKey=",
	    aw.wsep.tls ? "wss" : "ws", aw.wsep.host, aw.wsep.port, aw.wsep.prefix);
	redact_url(url, red, sizeof(red));
	snprintf(buf, len, "connection %u (group %u, %d account%s, %s)", w->id, w->g->id, w->nm,
	    w->nm == 1 ? "" : "s", red);
}

static void
conn_free(struct wsconn *w)
{
	if (w->ws)
		net_ws_close(w->ws);
	free(w->m);
	free(w);
}

static int
conn_carries(const struct wsconn *w, const struct acct *a)
{
	for (int i = 0; w && i < w->nm; i++)
		if (w->m[i].a == a && w->m[i].key_gen == a->key_gen)
			return 1;
	return 0;
}

/*
 * The replaced connection cannot be drained (it closed, or its answer is
 * late): frames it held may be lost, so its accounts still in the group get
 * a gap from their last event.
 */
static void
drain_give_up(struct group *g, const char *why)
{
	struct wsconn *w = g->drain;
	char d[1200], reason[160];

	if (w == NULL)
		return;
	conn_describe(w, d, sizeof(d));
	log_warnx("%s: replaced, but %s; its accounts are resynced", d, why);
	snprintf(reason, sizeof(reason), "replaced connection not drained: %s", why);
	for (int i = 0; i < w->nm; i++) {
		struct acct *a = w->m[i].a;

		/* From the switch: the new connection has moved last_event_ms on since. */
		if (a != NULL && a->group == g) {
			acct_gap(a, w->m[i].drain_from_ms, reason);
			a->frames_lost_ms = now_ms();
			acct_key_doubt(a);
		}
	}
	aw.st.drains_failed++;
	g->drain = NULL;
	conn_free(w);
}

/* Read the replaced connection until the exchange answers a request sent now. */
static void
drain_start(struct group *g, struct wsconn *old)
{
	char req[96];
	int n;

	drain_give_up(g, "another replacement came first");
	for (int i = 0; i < old->nm; i++)
		if (old->m[i].a != NULL)
			old->m[i].drain_from_ms = old->m[i].a->last_event_ms;
	g->drain = old;
	old->drain_id = ++aw.next_conn_id;
	old->drain_sent_ms = now_ms();
	old->probe_id = 0;
	n = snprintf(req, sizeof(req), "{\"method\":\"GET_PROPERTY\",\"params\":"
	    "[\"combined\"],\"id\":%" PRId64 "}", old->drain_id);
	if (old->ws == NULL || net_ws_send_text(old->ws, req, (size_t)n) == -1)
		drain_give_up(g, "the request to drain it could not be sent");
}

/* The replacement (or first) connection is subscribed: it takes over. */
static void
conn_ready(struct wsconn *w)
{
	struct group *g = w->g;
	struct wsconn *old = g->cur;
	int64_t now = now_ms();
	char d[1200];

	w->state = CS_READY;
	w->ready_ms = w->last_data_ms = now;
	g->failures = 0;
	for (int i = 0; i < w->nm; i++) {
		struct acct *a = w->m[i].a;

		if (a == NULL || a->group != g)
			continue;
		/*
		 * Whoever this connection did not carry before may have missed
		 * events: the gap is recorded now, before the first event this
		 * connection delivers is processed.
		 */
		if (!conn_carries(old, a)) {
			acct_gap(a, a->last_event_ms, g->lost_why[0] ? g->lost_why :
			    "joined a new connection");
			acct_key_doubt(a);
		}
		if (w->m[i].key_gen == a->key_gen && !(a->flags & F_NEED_POST))
			acct_set_state(a, AS_STREAMING);
	}
	g->lost_why[0] = '\0';
	g->repl = NULL;
	g->cur = w;
	if (old) {
		g->dedupe_until_ms = now + DEDUPE_HOLD_MS;
		drain_start(g, old);
	}
	conn_describe(w, d, sizeof(d));
	log_info("%s streaming%s", d, old ? " (replaced the previous one, which is drained)" : "");
	rest_schedule_soon();
}

static void
conn_subscribe(struct wsconn *w)
{
	char *buf;
	size_t len, off = 0;
	int n = 0;

	if (w->nm <= URL_KEYS_MAX) {
		conn_ready(w);
		return;
	}
	len = 64 + (size_t)(w->nm - URL_KEYS_MAX) * (LISTEN_KEY_MAX + 4);
	if ((buf = malloc(len)) == NULL) {
		conn_close(w, "out of memory", 1);
		return;
	}
	w->sub_id = ++aw.next_conn_id;
	off += (size_t)snprintf(buf, len, "{\"method\":\"SUBSCRIBE\",\"params\":[");
	for (int i = URL_KEYS_MAX; i < w->nm; i++) {
		if (w->m[i].a == NULL || !w->m[i].a->listen_key[0])
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s\"%s\"", n++ ? "," : "",
		    w->m[i].a->listen_key);
	}
	off += (size_t)snprintf(buf + off, len - off, "],\"id\":%" PRId64 "}", w->sub_id);
	w->state = CS_SUBSCRIBING;
	w->sub_sent_ms = now_ms();
	if (net_ws_send_text(w->ws, buf, off) == -1)
		conn_close(w, "cannot send SUBSCRIBE", 1);
	crypto_wipe(buf, len);
	free(buf);
}

static void
ws_open_cb(struct net_ws *ws, void *arg)
{
	struct wsconn *w = arg;

	w->last_data_ms = now_ms();
	conn_subscribe(w);
}

static int
dedupe_seen(struct group *g, const char *buf, size_t len)
{
	uint64_t h = hash_bytes(buf, len);

	for (int i = 0; i < DEDUPE_SLOTS; i++)
		if (g->recent[i] == h)
			return 1;
	g->recent[g->recent_pos++ % DEDUPE_SLOTS] = h;
	return 0;
}

static void
conn_malformed(struct wsconn *w, const char *why)
{
	char d[1200];

	w->malformed++;
	aw.st.malformed++;
	conn_describe(w, d, sizeof(d));
	log_warnx_rl(&aw.rl_malformed, "%s: malformed frame dropped: %s", d, why);
}

/* An answer to one of our requests (SUBSCRIBE or a probe): 1 if it was one. */
static int
conn_reply(struct wsconn *w, const char *buf, size_t len)
{
	int64_t id;
	int error;
	char d[1200], red[201];

	if (!bf_ws_reply(buf, len, &id, &error))
		return 0;
	if (w->drain_id != 0 && id == w->drain_id && w->g->drain == w) {
		/* Everything it was sent before is in: it can go. */
		aw.st.drains++;
		w->g->drain = NULL;
		conn_free(w);
		return 1;
	}
	if (id == w->probe_id) {
		/* Any answer, an error included, shows the data path delivers. */
		w->probe_id = 0;
		return 1;
	}
	if (id == w->sub_id && w->state == CS_SUBSCRIBING) {
		if (!error) {
			conn_ready(w);
			return 1;
		}
		conn_describe(w, d, sizeof(d));
		/* The exchange may echo a parameter, here a listen key: redacted. */
		log_redact_tokens(buf, len, red, sizeof(red));
		log_warnx("%s: the exchange refused the subscription: %s", d, red);
		conn_close(w, "subscription refused", 1);
		return 1;
	}
	if (error) {
		conn_describe(w, d, sizeof(d));
		log_redact_tokens(buf, len, red, sizeof(red));
		log_warnx_rl(&aw.rl_malformed, "%s: the exchange answered request %" PRId64
		    " with an error: %s", d, id, red);
	}
	return 1;
}

static void
ws_message_cb(struct net_ws *ws, const char *buf, size_t len, void *arg)
{
	struct wsconn *w = arg;
	struct group *g = w->g;
	struct bf_frame f;
	struct bf_drops drops;
	struct acct *a;
	const char *err = NULL;
	int64_t now = now_ms();

	w->last_data_ms = now;
	w->msgs++;
	aw.st.messages++;
	if (buf == NULL) {
		conn_malformed(w, "larger than the message limit");
		return;
	}
	if (conn_reply(w, buf, len))
		return;	/* w may be gone */
	/* While two connections overlap the same frames arrive twice. */
	if ((g->dedupe_until_ms > now || (g->cur && g->repl && g->repl->state != CS_CONNECTING)) &&
	    dedupe_seen(g, buf, len)) {
		aw.st.duplicates++;
		return;
	}
	if (bf_frame_parse(buf, len, &f, &err) == -1) {
		conn_malformed(w, err ? err : "?");
		return;
	}
	if (f.stream == NULL || (a = acct_by_key(f.stream, strlen(f.stream))) == NULL ||
	    a->group != g) {
		aw.st.unrouted++;
		bf_frame_free(&f);
		return;
	}
	if (f.expired_key) {
		if (strcmp(f.expired_key, a->listen_key) == 0 && !(a->flags & F_NEED_POST)) {
			log_info("account %" PRId64 ": listen key expired; creating a new one", a->id);
			a->flags |= F_NEED_POST;
			acct_set_state(a, AS_LISTEN_KEY);
			rest_schedule_soon();
		}
		bf_frame_free(&f);
		return;
	}
	{
		/* bf_frame_events emits only events that passed ev_validate. */
		struct emit_ctx ctx = { .a = a, .stream = 1, .valid = 1 };
		struct ev_origin org = { a->id, a->user_id, now * 1000, 0 };

		memset(&drops, 0, sizeof(drops));
		bf_frame_events(&f, buf, len, &org, acct_emit, &ctx, &drops);
		acct_drops(a, f.etype, &drops);
		a->last_rx_ms = now;
		a->activity_ms = now;
	}
	bf_frame_free(&f);
}

static void
ws_pong_cb(struct net_ws *ws, void *arg)
{
	struct wsconn *w = arg;

	/* The socket lives; whether events still flow, the probe tells. */
	w->last_pong_ms = now_ms();
}

/* The connection is gone on its own: it counts as a reconnect. */
static void
conn_lost(struct wsconn *w, const char *why)
{
	struct group *g = w->g;
	char d[1200];

	if (w == g->drain) {
		snprintf(d, sizeof(d), "it closed first (%s)", why);
		w->ws = NULL;
		drain_give_up(g, d);
		return;
	}
	conn_describe(w, d, sizeof(d));
	w->ws = NULL;
	/* The exchange may have moved: the next connections may go elsewhere. */
	addr_suspect(&aw.wsep);
	if (w == g->cur) {
		log_warnx("%s lost: %s; reconnecting", d, why);
		snprintf(g->lost_why, sizeof(g->lost_why), "connection lost: %s", why);
		g->cur = NULL;
		aw.st.reconnects++;
		for (int i = 0; i < g->n; i++) {
			struct acct *a = g->a[i];

			a->reconnects++;
			a->frames_lost_ms = now_ms();
			if (a->state == AS_STREAMING || a->state == AS_STREAM)
				acct_set_state(a, AS_BACKOFF);
		}
		/* A replacement under way takes over when it is up; else reconnect. */
		if (g->repl == NULL)
			g->dirty = 1;
	} else {
		/* Never opened: a peer that refuses every attempt (TLS) must not flood the log. */
		log_warnx_rl(&aw.rl_connect, "%s failed: %s", d, why);
		g->repl = NULL;
		g->dirty = 1;
		if (g->cur == NULL)
			for (int i = 0; i < g->n; i++)
				if (g->a[i]->state == AS_STREAM)
					acct_set_state(g->a[i], AS_BACKOFF);
	}
	g->failures++;
	g->retry_at_ms = now_ms() + backoff_ms(g->failures, aw.cfg->reconnect_delay_min_ms,
	    aw.cfg->reconnect_delay_max_ms);
	conn_free(w);
	group_kick();
}

static void
ws_closed_cb(struct net_ws *ws, const char *why, void *arg)
{
	conn_lost(arg, why);
}

static const struct net_ws_ops conn_ops = {
	ws_open_cb, ws_message_cb, ws_pong_cb, ws_closed_cb
};

/* Close on purpose: failed also schedules the reconnect backoff. */
static void
conn_close(struct wsconn *w, const char *why, int failed)
{
	struct group *g = w->g;

	if (failed) {
		net_ws_close(w->ws);
		conn_lost(w, why);
		return;
	}
	if (g->cur == w)
		g->cur = NULL;
	if (g->repl == w)
		g->repl = NULL;
	if (g->drain == w)
		g->drain = NULL;
	conn_free(w);
}

/*
 * Does some account of the group need a new connection to stream (no ready
 * connection, or a key or member the current one does not carry)?  If not,
 * the group is only being renewed (connection_max_age) and waits while the
 * host's connection attempts are scarce.
 */
static int
group_needs_conn(const struct group *g)
{
	const struct wsconn *w = g->cur;

	if (w == NULL || w->state != CS_READY)
		return 1;
	for (int i = 0; i < g->n; i++) {
		const struct acct *a = g->a[i];

		if (a->listen_key[0] && !(a->flags & F_NEED_POST) && !conn_carries(w, a))
			return 1;
	}
	return 0;
}

/*
 * Open a connection carrying the group's accounts that have keys.  A renewal
 * leaves half the host's connect_budget to connections accounts need.
 */
static void
conn_open(struct group *g)
{
	struct wsconn *w;
	char *path, d[1200];
	size_t plen;
	int64_t wait_ms;
	int inurl = 0, needed;

	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->m = calloc((size_t)(g->n ? g->n : 1), sizeof(*w->m))) == NULL) {
		free(w);
		return;
	}
	for (int i = 0; i < g->n; i++) {
		struct acct *a = g->a[i];

		if (!a->listen_key[0] || (a->flags & F_NEED_POST))
			continue;
		w->m[w->nm].a = a;
		w->m[w->nm].key_gen = a->key_gen;
		w->nm++;
	}
	if (w->nm == 0) {
		free(w->m);
		free(w);
		return;
	}
	needed = group_needs_conn(g);
	if (budget_ws_take(aw.budget, needed || aw.ex < 0 ? 0 :
	    aw.cfg->ex[aw.ex].connect_budget / 2, now_ms(), &wait_ms) == -1) {
		free(w->m);
		free(w);
		/* A renewal's wait does not hold back a connection the group comes to need. */
		if (needed) {
			g->retry_at_ms = now_ms() + wait_ms;
		} else {
			aw.st.max_age_deferred++;
			g->renew_at_ms = now_ms() + wait_ms;
		}
		return;
	}
	plen = 32 + (size_t)URL_KEYS_MAX * (LISTEN_KEY_MAX + 12);
	if ((path = malloc(plen)) == NULL) {
		free(w->m);
		free(w);
		return;
	}
	snprintf(path, plen, "/private/stream");
	for (int i = 0; i < w->nm && inurl < URL_KEYS_MAX; i++, inurl++) {
		size_t o = strlen(path);

		snprintf(path + o, plen - o, "%slistenKey=%s", inurl ? "&" : "?",
		    w->m[i].a->listen_key);
	}
	w->g = g;
	w->id = ++aw.next_conn_id;
	w->opened_ms = now_ms();
	w->state = CS_CONNECTING;
	g->dirty = 0;
	g->repl = w;
	w->ws = net_ws_open(aw.net, &aw.wsep, path, MAX_MESSAGE, CONNECT_TIMEOUT_MS, &conn_ops, w);
	crypto_wipe(path, plen);
	free(path);
	conn_describe(w, d, sizeof(d));
	if (w->ws == NULL) {
		log_warnx("%s: cannot start", d);
		g->repl = NULL;
		free(w->m);
		free(w);
		return;
	}
	log_debug("%s: connecting", d);
}

static void
group_free(struct group *g)
{
	struct group **pp;

	for (pp = &aw.groups; *pp != g; pp = &(*pp)->next)
		;
	*pp = g->next;
	if (g->cur)
		conn_free(g->cur);
	if (g->repl)
		conn_free(g->repl);
	if (g->drain)
		conn_free(g->drain);
	free(g->a);
	free(g);
}

void
groups_free(void)
{
	ev_timer_stop(aw.loop, &kick_timer);
	while (aw.groups)
		group_free(aw.groups);
}

/*
 * The health of one connection: 0 fine, -1 it was closed.  Deadlines: the
 * answer to its SUBSCRIBE, and silence_timeout without any frame; a
 * connection quiet for health_check_interval is probed so that an idle but
 * healthy one is never taken for a stalled one.
 */
static int
conn_health(struct wsconn *w, int64_t now)
{
	char probe[96];
	int n;

	if (w->state == CS_CONNECTING)
		return 0;	/* net.c holds the connect deadline */
	if (w->state == CS_SUBSCRIBING && now - w->sub_sent_ms > (SUBSCRIBE_TIMEOUT_MS <
	    aw.cfg->silence_timeout_ms ? SUBSCRIBE_TIMEOUT_MS : aw.cfg->silence_timeout_ms)) {
		aw.st.subscribe_timeouts++;
		conn_close(w, "no answer to SUBSCRIBE in time", 1);
		return -1;
	}
	if (now - w->last_data_ms > aw.cfg->silence_timeout_ms) {
		aw.st.silence_kills++;
		conn_close(w, w->probe_id ? "no event and no answer to a probe for longer than "
		    "silence_timeout" : "no event for longer than silence_timeout", 1);
		return -1;
	}
	if (now - w->last_ping_ms >= aw.cfg->health_check_interval_ms) {
		w->last_ping_ms = now;
		net_ws_ping(w->ws);
		if (now - w->last_data_ms >= aw.cfg->health_check_interval_ms &&
		    w->probe_id == 0 && w->state == CS_READY) {
			w->probe_id = ++aw.next_conn_id;
			w->probe_sent_ms = now;
			n = snprintf(probe, sizeof(probe), "{\"method\":\"GET_PROPERTY\",\"params\":"
			    "[\"combined\"],\"id\":%" PRId64 "}", w->probe_id);
			aw.st.probes++;
			if (net_ws_send_text(w->ws, probe, (size_t)n) == -1) {
				conn_close(w, "cannot send a probe", 1);
				return -1;
			}
		}
	}
	return 0;
}

/* Bring every group's connections in line with its membership. */
void
groups_maintain(void)
{
	int64_t now = now_ms();
	struct group *g, *next;

	if (!aw.endpoints_ok || aw.stopping)
		return;
	for (g = aw.groups; g; g = next) {
		int keyed = 0;

		next = g->next;
		for (int i = 0; i < g->n; i++)
			keyed += g->a[i]->listen_key[0] && !(g->a[i]->flags & F_NEED_POST);
		if (g->n == 0) {
			group_free(g);
			continue;
		}
		if (g->cur && conn_health(g->cur, now) == -1)
			continue;	/* conn_lost kicks the group */
		if (g->repl && conn_health(g->repl, now) == -1)
			continue;
		if (g->drain && now - g->drain->drain_sent_ms > (DRAIN_TIMEOUT_MS <
		    aw.cfg->silence_timeout_ms ? DRAIN_TIMEOUT_MS : aw.cfg->silence_timeout_ms))
			drain_give_up(g, "it did not answer in time");
		if (g->cur && g->cur->state == CS_READY && !g->repl &&
		    now - g->cur->opened_ms >= aw.cfg->connection_max_age_ms) {
			if (!g->dirty)
				aw.st.max_age_rebuilds++;
			g->dirty = 1;
		}
		if (!g->dirty || keyed == 0)
			continue;
		if (g->retry_at_ms > now || (g->renew_at_ms > now && !group_needs_conn(g)))
			continue;
		/* No address yet: the connections up stay checked; new ones wait. */
		if (!addr_ready())
			continue;
		if (g->repl) {
			/* Membership changed while the replacement was connecting: start over. */
			if (now - g->repl->opened_ms < 1000)
				continue;
			conn_close(g->repl, "superseded", 0);
		}
		conn_open(g);
	}
}

static void
kick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	groups_maintain();
}

/* Changes made in one burst (a reconcile, many keys) coalesce into one rebuild. */
void
group_kick(void)
{
	if (aw.loop && !ev_is_active(&kick_timer)) {
		ev_timer_set(&kick_timer, 0.05, 0.);
		ev_timer_start(aw.loop, &kick_timer);
	}
}

void
conn_init(void)
{
	ev_timer_init(&kick_timer, kick_cb, 0., 0.);
}
