/*
 * account.c: the account worker role.  Instance i of N owns the exchange
 * accounts that account_owns() says are its (DESIGN §2, §8); for each it
 * keeps a listen key alive, carries its user-data stream on a shared
 * /private/stream connection, heals every gap with a REST resync, and sends
 * the normalized events to the writer over the data plane.
 *
 * Per account, a state machine: LISTEN_KEY (obtaining a key) → STREAM
 * (its connection is being opened) → STREAMING, with BACKOFF while its
 * connection waits to reconnect and QUARANTINED when the exchange rejected
 * the API key (-2015) or the credentials do not decrypt.
 *
 * Accounts are packed into groups of up to accounts_per_connection; a group
 * has one established connection (cur) and, while its membership or a key
 * changes or the connection grows old, a replacement (repl) that takes over
 * only once it is subscribed, so no event falls between the two.  Frames
 * seen on both during the overlap are dropped by a recent-frame hash set.
 *
 * Order of work in the loop: lws I/O callbacks (frames, REST responses);
 * one tick timer (TICK_S) that runs group maintenance, health checks, the
 * listen key schedule and the resync queue within the REST budget; the
 * reconcile timer; data-plane acks.
 *
 * libpq is used blocking on this loop, for rare short statements only:
 * loading the shard's accounts (start, HUP, reconcile_interval), storing a
 * listen key after POST/PUT, quarantining, and the two reads of a resync.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "budget.h"
#include "crypto.h"
#include "db.h"
#include "dpsender.h"
#include "exfeedd.h"
#include "log.h"
#include "mpack.h"
#include "net.h"
#include "event.h"
#include "exchanges/binance_futures.h"
#include "clock.h"

#define EXCHANGE		"binance-futures"
#define TICK_S			0.25
#define LISTEN_KEY_VALIDITY_MS	(60LL * 60 * 1000)	/* FACTS §1.1 */
#define LISTEN_KEY_MAX		72
#define URL_KEYS_MAX		16	/* more make a request line lws 4.1 / servers refuse */
#define MAX_MESSAGE		(1024 * 1024)
#define CONNECT_TIMEOUT_MS	15000
#define REST_TIMEOUT_MS		15000
#define REST_CONCURRENCY	8
#define REST_RETRY_MIN_MS	1000
#define REST_RETRY_MAX_MS	60000
#define RESYNC_MARGIN_MS	5000	/* fetch orders and fills from this long before the cursor */
#define RESYNC_PAGE		1000
#define RECV_WINDOW_MS		5000
#define DEDUPE_SLOTS		256
#define DEDUPE_HOLD_MS		10000	/* keep deduping this long after a switch */
#define ALERT_MAX		4
#define HASH_BUCKETS		4096
#define SYM_MAX			4096
#define DB_RETRY_MS		2000	/* after a failed connect, leave the database alone this long */
#define LOAD_RETRY_MS		5000	/* until the first load succeeds */
#define KEY_CHECK_SPREAD_MS	30000	/* reused keys are confirmed within this */

enum acct_state { AS_LISTEN_KEY, AS_STREAM, AS_STREAMING, AS_BACKOFF, AS_QUARANTINED, AS_MAX };
static const char *const acct_state_names[AS_MAX] = {
	"listen_key", "stream", "streaming", "backoff", "quarantined"
};
enum resync_state { RS_NONE, RS_PENDING, RS_RUNNING, RS_DONE };
static const char *const resync_names[] = { "none", "pending", "running", "done" };

/* REST operations; one at a time per account. */
enum op { OP_NONE, OP_LK_POST, OP_LK_PUT, OP_TIME, OP_RESYNC };

/*
 * A resync's requests, in order.  Positions come before the open orders:
 * positionRisk lists every symbol with a position or an open order, which
 * completes the symbol set the per-symbol requests walk.
 */
enum rstep { ST_BALANCE, ST_POSITIONS, ST_SYMBOL_CONFIG, ST_MULTI_ASSETS, ST_OPEN_ORDERS,
	ST_OPEN_ALGOS, ST_MISSING_ORDERS, ST_MISSING_ALGOS, ST_ALL_ORDERS, ST_ALL_ALGOS, ST_TRADES,
	ST_FINISH };

/* openOrders / openAlgoOrders cost 1 per symbol and 40 for all symbols. */
#define OPEN_ALL_WEIGHT		40

#define F_NEED_POST	0x01	/* no usable listen key */
#define F_QUAR_PENDING	0x02	/* quarantined here, not yet in the database */
#define F_IN_KEYHASH	0x04
#define F_CHECK_KEY	0x08	/* a stored key reused: PUT it soon to confirm */
#define F_STORE_KEY	0x10	/* the key or its expiry still has to reach the database */
#define F_RESYNC_AGAIN	0x20	/* a new gap opened while a resync was running */

struct resync;
struct group;

struct acct {
	struct acct	*next;
	struct acct	*id_next, *key_next;	/* hash chains */
	int64_t		 id, user_id;
	char		*api_key, *api_secret;
	char		 listen_key[LISTEN_KEY_MAX];
	int64_t		 lk_expires_ms;		/* wall clock */
	int64_t		 lk_renew_ms;		/* wall clock: next PUT */
	uint32_t	 key_gen;
	uint8_t		 state, resync, op, flags, rest_fails;
	int		 mark;
	uint32_t	 reconnects;
	int64_t		 since_ms;		/* wall clock of the last state change */
	int64_t		 last_event_ms;		/* newest exchange E: the resync cursor */
	int64_t		 gap_ms;		/* the pending resync fetches from here */
	int64_t		 last_rx_ms;		/* wall clock of its last stream event */
	int64_t		 activity_ms;		/* orders resyncs: most recently active first */
	int64_t		 resync_done_ms;
	int64_t		 retry_at_ms;		/* wall clock: REST backoff */
	const char	*quarantine_reason;
	struct group	*group;
	struct net_http	*req;
	struct resync	*rs;
	uint16_t	*syms;
	uint16_t	 nsyms, symcap;
	uint64_t	 events;
};

struct member {
	struct acct	*a;
	uint32_t	 key_gen;
};

enum conn_state { CS_CONNECTING, CS_SUBSCRIBING, CS_READY };

struct wsconn {
	struct group	*g;
	struct net_ws	*ws;
	uint32_t	 id;
	uint8_t		 state;
	struct member	*m;
	int		 nm;
	int64_t		 opened_ms, ready_ms, last_rx_ms, last_ping_ms;
	int64_t		 sub_id;
	uint64_t	 msgs, malformed;
};

struct group {
	struct group	*next;
	uint32_t	 id;
	struct acct	**a;
	int		 n, cap;
	int		 dirty;
	struct wsconn	*cur, *repl;
	unsigned	 failures;
	int64_t		 retry_at_ms;
	int64_t		 dedupe_until_ms;
	uint64_t	 recent[DEDUPE_SLOTS];
	unsigned	 recent_pos;
};

struct id_list {
	int64_t		*v;
	size_t		 n, cap;
};

struct resync {
	uint8_t		 step;
	int		 i;			/* index into the step's list */
	int		 per_symbol;		/* open orders and algos asked symbol by symbol */
	int64_t		 started_ms;
	int64_t		 since_ms;		/* the gap began here (exchange time) */
	int64_t		 sent_ms;		/* exchange time the current request left */
	int64_t		 from_id;		/* pagination, 0 for the first page */
	int64_t		 page_rows, page_max_id;
	struct id_list	 open_seen;		/* order ids in openOrders */
	struct id_list	 algo_seen;		/* algo ids in openAlgoOrders */
	struct id_list	 db_algos;		/* algo ids open in the database */
	struct rs_pos {
		char	 sym[EV_SYM];
		char	 ps[EV_WORD];
	}		*pos_seen, *db_pos;
	size_t		 npos, cappos, ndbpos;
	struct rs_order {
		int64_t	 id;
		char	 sym[EV_SYM];
	}		*db_orders;
	size_t		 ndborders;
	uint16_t	*syms;
	size_t		 nsyms;
	uint64_t	 events;
};

static struct {
	struct ev_loop		*loop;
	const struct config	*cfg;
	int64_t			 shards;
	int			 ex;		/* index in cfg->ex, -1 when not configured */
	struct net		*net;
	struct net_endpoint	 rest, wsep;
	int			 endpoints_ok;
	struct budget		 budget;
	struct dp_sender	*dp;
	PGconn			*db;
	unsigned char		 key[CRYPTO_KEY_LEN];
	int			 have_key;
	int			 loaded;
	int64_t			 db_retry_ms, load_retry_ms;
	int			 stopping;
	struct acct		*accts;
	struct acct		*by_id[HASH_BUCKETS], *by_key[HASH_BUCKETS];
	size_t			 naccts;
	struct group		*groups;
	uint32_t		 next_group_id, next_conn_id;
	int			 rest_inflight;
	int64_t			 time_offset_ms;
	int			 time_sync_needed;
	ev_timer		 tick, reconcile_timer, stop_timer;
	uint64_t		 rng;
	char			 syms[SYM_MAX][EV_SYM];
	uint16_t		 nsyms;
	int			 alerts_running;
	struct log_ratelimit	 rl_malformed, rl_rest;
	struct {
		uint64_t	 reconciles, reconnects, messages, malformed, unknown, unrouted,
				 duplicates, renewals_ok, renewals_failed, keys_created,
				 resyncs_started, resyncs_done, resyncs_failed, quarantines,
				 margin_calls, alerts, alerts_dropped, events, rest_requests,
				 rest_errors, http_429, http_418, silence_kills, max_age_rebuilds,
				 db_errors, overflow_resyncs;
		uint64_t	 by_type[EV_TYPE_MAX];
	} st;
} aw;

/* The one place that answers "is this account mine?" */
int account_owns(int64_t account_id);

int
account_owns(int64_t account_id)
{
	return account_id % aw.shards == worker_instance();
}

static void group_kick(void);
static void acct_set_state(struct acct *, int);
static void acct_quarantine(struct acct *, const char *reason);
static void conn_close(struct wsconn *, const char *why, int failed);
static void resync_next(struct acct *);

/* ------------------------------------------------------------------ utils */

static uint32_t
aw_random(void)
{
	uint64_t z = (aw.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static uint64_t
hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *s++) * 0x100000001b3ULL;
	return h;
}

/* Exponential backoff with ±20% jitter. */
static int64_t
backoff_ms(unsigned failures, int64_t min_ms, int64_t max_ms)
{
	int64_t d = min_ms;

	for (unsigned i = 1; i < failures && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	return d * 80 / 100 + (int64_t)(aw_random() % (uint32_t)(d * 40 / 100 + 1));
}

/*
 * A URL fit for a log line: the value of every listenKey= and signature=
 * parameter, and a listen key in the path, replaced by "…".
 */
static void
redact_url(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	while (*in && o + 4 < outlen) {
		if (strncmp(in, "listenKey=", 10) == 0 || strncmp(in, "signature=", 10) == 0) {
			size_t n = 10;

			memcpy(out + o, in, n);
			o += n;
			in += n;
			if (o + 4 < outlen) {
				memcpy(out + o, "\xe2\x80\xa6", 3);
				o += 3;
			}
			while (*in && *in != '&')
				in++;
			continue;
		}
		out[o++] = *in++;
	}
	out[o] = '\0';
}

static int
sym_intern(const char *s)
{
	for (int i = 0; i < aw.nsyms; i++)
		if (strcmp(aw.syms[i], s) == 0)
			return i;
	if (aw.nsyms >= SYM_MAX || !*s || strlen(s) >= EV_SYM)
		return -1;
	snprintf(aw.syms[aw.nsyms], EV_SYM, "%s", s);
	return aw.nsyms++;
}

static void
acct_add_sym(struct acct *a, const char *s)
{
	int k = sym_intern(s);

	if (k < 0)
		return;
	for (int i = 0; i < a->nsyms; i++)
		if (a->syms[i] == k)
			return;
	if (a->nsyms == a->symcap) {
		uint16_t ncap = a->symcap ? a->symcap * 2 : 4, *n;

		if ((n = realloc(a->syms, ncap * sizeof(*n))) == NULL)
			return;
		a->syms = n;
		a->symcap = ncap;
	}
	a->syms[a->nsyms++] = (uint16_t)k;
}

/* ---------------------------------------------------------- account table */

static unsigned
id_bucket(int64_t id)
{
	return (unsigned)((uint64_t)id * 0x9e3779b97f4a7c15ULL >> 52) % HASH_BUCKETS;
}

static unsigned
key_bucket(const char *k)
{
	return (unsigned)(hash_bytes(k, strlen(k)) % HASH_BUCKETS);
}

static struct acct *
acct_by_id(int64_t id)
{
	for (struct acct *a = aw.by_id[id_bucket(id)]; a; a = a->id_next)
		if (a->id == id)
			return a;
	return NULL;
}

static struct acct *
acct_by_key(const char *k, size_t len)
{
	char key[LISTEN_KEY_MAX];

	if (len >= sizeof(key))
		return NULL;
	memcpy(key, k, len);
	key[len] = '\0';
	for (struct acct *a = aw.by_key[key_bucket(key)]; a; a = a->key_next)
		if (strcmp(a->listen_key, key) == 0)
			return a;
	return NULL;
}

static void
keyhash_remove(struct acct *a)
{
	struct acct **pp;

	if (!(a->flags & F_IN_KEYHASH))
		return;
	for (pp = &aw.by_key[key_bucket(a->listen_key)]; *pp; pp = &(*pp)->key_next)
		if (*pp == a) {
			*pp = a->key_next;
			break;
		}
	a->flags &= ~F_IN_KEYHASH;
}

static void
keyhash_add(struct acct *a)
{
	unsigned b = key_bucket(a->listen_key);

	keyhash_remove(a);
	a->key_next = aw.by_key[b];
	aw.by_key[b] = a;
	a->flags |= F_IN_KEYHASH;
}

/* Wipe the key material this account holds. */
static void
acct_wipe(struct acct *a)
{
	keyhash_remove(a);
	crypto_free_secret(a->api_key);
	crypto_free_secret(a->api_secret);
	a->api_key = a->api_secret = NULL;
	crypto_wipe(a->listen_key, sizeof(a->listen_key));
}

/* ------------------------------------------------------------------ groups */

static void
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
	/* Connections keep member snapshots: forget this account there. */
	for (int c = 0; c < 2; c++) {
		struct wsconn *w = c ? g->repl : g->cur;

		for (int i = 0; w && i < w->nm; i++)
			if (w->m[i].a == a)
				w->m[i].a = NULL;
	}
	a->group = NULL;
	group_kick();
}

/* Put the account into a group with room, or a new one. */
static void
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

/* ------------------------------------------------------------- events out */

struct emit_ctx {
	struct acct	*a;
	struct resync	*rs;
	int		 stream;	/* from the live stream (moves the cursor) */
};

static void
alert_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	if (WIFEXITED(w->rstatus) && WEXITSTATUS(w->rstatus) != 0)
		log_warnx("alert_command (pid %d) exited with status %d", w->rpid,
		    WEXITSTATUS(w->rstatus));
	else if (WIFSIGNALED(w->rstatus))
		log_warnx("alert_command (pid %d) killed by signal %d", w->rpid,
		    WTERMSIG(w->rstatus));
	ev_child_stop(loop, w);
	free(w);
	aw.alerts_running--;
}

/* Run [userdata] alert_command with the event as JSON on stdin; never blocks. */
static void
alert_run(const struct event *ev)
{
	const char *cmd = aw.cfg->alert_command;
	ev_child *cw;
	char *json;
	int p[2];
	pid_t pid;

	if (cmd == NULL || *cmd == '\0')
		return;
	if (aw.alerts_running >= ALERT_MAX) {
		aw.st.alerts_dropped++;
		log_warnx("margin call of account %" PRId64 ": %d alert commands still running; "
		    "not starting another", ev->account_id, aw.alerts_running);
		return;
	}
	if ((json = ev_to_json(ev)) == NULL)
		return;
	if ((cw = calloc(1, sizeof(*cw))) == NULL || pipe2(p, O_CLOEXEC) == -1) {
		free(cw);
		free(json);
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("alert_command: fork");
		close(p[0]);
		close(p[1]);
		free(cw);
		free(json);
		return;
	}
	if (pid == 0) {
		dup2(p[0], 0);
		signal(SIGPIPE, SIG_DFL);
		execl(cmd, cmd, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	/* The JSON is small: it fits the pipe buffer, so this write does not block. */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	if (write(p[1], json, strlen(json)) == -1)
		log_warn("alert_command: writing the event");
	close(p[1]);
	free(json);
	ev_child_init(cw, alert_child_cb, pid, 0);
	ev_child_start(aw.loop, cw);
	aw.alerts_running++;
	aw.st.alerts++;
}

static int
id_list_add(struct id_list *l, int64_t id)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		int64_t *n = realloc(l->v, ncap * sizeof(*n));

		if (n == NULL)
			return -1;
		l->v = n;
		l->cap = ncap;
	}
	l->v[l->n++] = id;
	return 0;
}

static int
id_list_has(const struct id_list *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == id)
			return 1;
	return 0;
}

static void
resync_note_event(struct resync *rs, const struct event *ev)
{
	if (ev->type == EV_ALGO) {
		if (rs->step == ST_OPEN_ALGOS)
			id_list_add(&rs->algo_seen, ev->u.algo.algo_id);
		rs->page_rows++;
		if (ev->u.algo.algo_id > rs->page_max_id)
			rs->page_max_id = ev->u.algo.algo_id;
	}
	if (ev->type == EV_ORDER) {
		if (rs->step == ST_OPEN_ORDERS)
			id_list_add(&rs->open_seen, ev->u.order.order_id);
		rs->page_rows++;
		if (ev->u.order.order_id > rs->page_max_id)
			rs->page_max_id = ev->u.order.order_id;
	} else if (ev->type == EV_FILL) {
		rs->page_rows++;
		if (ev->u.fill.trade_id > rs->page_max_id)
			rs->page_max_id = ev->u.fill.trade_id;
	} else if (ev->type == EV_POSITION && rs->step == ST_POSITIONS) {
		if (rs->npos == rs->cappos) {
			size_t ncap = rs->cappos ? rs->cappos * 2 : 16;
			struct rs_pos *n = realloc(rs->pos_seen, ncap * sizeof(*n));

			if (n == NULL)
				return;
			rs->pos_seen = n;
			rs->cappos = ncap;
		}
		snprintf(rs->pos_seen[rs->npos].sym, EV_SYM, "%s", ev->u.position.symbol);
		snprintf(rs->pos_seen[rs->npos].ps, EV_WORD, "%s", ev->u.position.position_side);
		rs->npos++;
	}
}

static const char *
event_symbol(const struct event *ev)
{
	switch (ev->type) {
	case EV_ORDER:
		return ev->u.order.symbol;
	case EV_FILL:
		return ev->u.fill.symbol;
	case EV_ALGO:
		return ev->u.algo.symbol;
	case EV_POSITION:
		return ev->u.position.symbol;
	default:
		return NULL;
	}
}

static void
acct_emit(struct event *ev, void *arg)
{
	struct emit_ctx *ctx = arg;
	struct acct *a = ctx->a;
	const char *sym;

	if (ev->id[0] == '\0')
		ev_make_id(ev);
	if ((sym = event_symbol(ev)) != NULL && *sym)
		acct_add_sym(a, sym);
	if (ctx->rs)
		resync_note_event(ctx->rs, ev);
	if (ev->type < EV_TYPE_MAX)
		aw.st.by_type[ev->type]++;
	if (ev->type == EV_UNKNOWN)
		aw.st.unknown++;
	if (ev->type == EV_MARGIN_CALL) {
		const struct ev_margin_call *m = &ev->u.margin_call;

		aw.st.margin_calls++;
		log_error("MARGIN CALL: account %" PRId64 " (user %" PRId64 ") symbol %s %s: "
		    "amount %s, mark price %s, unrealized PnL %s, maintenance margin %s, "
		    "cross wallet %s", a->id, a->user_id, m->symbol[0] ? m->symbol : "-",
		    m->position_side, m->amount, m->mark_price, m->unrealized_pnl,
		    m->maint_margin, m->cross_wallet);
		alert_run(ev);
	}
	if (ctx->stream && ev->event_time > a->last_event_ms)
		a->last_event_ms = ev->event_time;
	a->events++;
	aw.st.events++;
	if (dp_sender_push(aw.dp, ev) == -1)
		log_warnx("account %" PRId64 ": cannot queue a %s event", a->id,
		    ev_type_name(ev->type));
}

/*
 * A gap opened now: a resync must fetch orders and fills from the newest
 * event seen before it.  The cursor is taken here, not when the resync
 * starts: by then the new connection has moved last_event_ms past the gap.
 * Gaps that open before a pending resync starts merge into the earliest.
 */
static void
acct_gap(struct acct *a)
{
	int pending = a->resync == RS_PENDING ||
	    (a->resync == RS_RUNNING && (a->flags & F_RESYNC_AGAIN));

	if (!pending || a->last_event_ms < a->gap_ms)
		a->gap_ms = a->last_event_ms;
	if (a->resync == RS_RUNNING)
		a->flags |= F_RESYNC_AGAIN;
	else
		a->resync = RS_PENDING;
}

/* Data-plane overflow: those accounts lost events; heal them. */
static void
acct_overflow_cb(const int64_t *ids, size_t n, void *arg)
{
	for (size_t i = 0; i < n; i++) {
		struct acct *a = acct_by_id(ids[i]);

		if (a && a->state != AS_QUARANTINED) {
			acct_gap(a);
			aw.st.overflow_resyncs++;
		}
	}
}

/* ---------------------------------------------------------------- states */

static void
acct_set_state(struct acct *a, int st)
{
	if (a->state == st)
		return;
	log_debug("account %" PRId64 ": %s -> %s", a->id, acct_state_names[a->state],
	    acct_state_names[st]);
	a->state = (uint8_t)st;
	a->since_ms = (clock_real_us() / 1000);
}

/* ----------------------------------------------------------------- database */

static int
db_ready(void)
{
	char err[512];

	if (aw.db && PQstatus(aw.db) == CONNECTION_OK)
		return 0;
	if ((clock_real_us() / 1000) < aw.db_retry_ms)
		return -1;
	aw.db_retry_ms = (clock_real_us() / 1000) + DB_RETRY_MS;
	if (aw.db) {
		PQreset(aw.db);
		if (PQstatus(aw.db) == CONNECTION_OK)
			return 0;
		PQfinish(aw.db);
		aw.db = NULL;
	}
	if ((aw.db = db_connect(aw.cfg->db_conninfo, err, sizeof(err))) == NULL) {
		log_warnx("database: %s", err);
		aw.st.db_errors++;
		return -1;
	}
	if (db_schema_check(aw.db, err, sizeof(err)) == -1) {
		if (strstr(err, "exfeedctl db migrate"))
			worker_fatal(EX_CONFIG_STATUS, "%s", err);
		log_warnx("database: %s", err);
		PQfinish(aw.db);
		aw.db = NULL;
		aw.st.db_errors++;
		return -1;
	}
	return 0;
}

/* Store the account's key and expiry; on failure keep the flag and retry later. */
static void
acct_store_key(struct acct *a)
{
	a->flags |= F_STORE_KEY;
	if (!aw.have_key || db_ready() == -1)
		return;
	if (db_account_set_listen_key(aw.db, aw.key, a->id, a->listen_key[0] ? a->listen_key : NULL,
	    a->listen_key[0] ? a->lk_expires_ms : 0) == -1) {
		log_warnx("account %" PRId64 ": cannot store the listen key: %s", a->id,
		    PQerrorMessage(aw.db));
		aw.st.db_errors++;
		return;
	}
	a->flags &= ~F_STORE_KEY;
}

static void
acct_store_quarantine(struct acct *a)
{
	if (db_ready() == -1)
		return;
	if (db_account_quarantine(aw.db, a->id, a->quarantine_reason) == -1) {
		log_warnx("account %" PRId64 ": cannot record the quarantine: %s", a->id,
		    PQerrorMessage(aw.db));
		aw.st.db_errors++;
		return;
	}
	a->flags &= ~F_QUAR_PENDING;
}

/* ---------------------------------------------------------- REST plumbing */

static void
rest_cancel(struct acct *a)
{
	if (a->req) {
		net_http_cancel(a->req);
		a->req = NULL;
		aw.rest_inflight--;
	}
	a->op = OP_NONE;
}

/* Signed query: params, recvWindow, timestamp, then the signature, last. */
static void
rest_sign(const struct acct *a, const char *path, const char *params, char *out, size_t outlen)
{
	char q[2048], sig[65];
	int n;

	n = snprintf(q, sizeof(q), "%s%srecvWindow=%d&timestamp=%" PRId64, params,
	    *params ? "&" : "", RECV_WINDOW_MS, (clock_real_us() / 1000) + aw.time_offset_ms);
	crypto_hmac_sha256_hex(a->api_secret, strlen(a->api_secret), q, (size_t)n, sig);
	snprintf(out, outlen, "%s?%s&signature=%s", path, q, sig);
	crypto_wipe(sig, sizeof(sig));
}

static void rest_done_cb(const struct net_http_resp *, void *);

/*
 * Start one REST call for the account if the budget allows: reserve keeps
 * weight back for listen keys (resync passes it, listen keys pass 0).
 */
static int
rest_start(struct acct *a, enum op op, const char *method, const char *path_query,
    int64_t weight, int64_t reserve)
{
	int64_t wait_ms;

	if (aw.rest_inflight >= REST_CONCURRENCY)
		return -1;
	if (budget_weight_take(&aw.budget, weight, reserve, (clock_real_us() / 1000), &wait_ms) == -1)
		return -1;
	a->op = (uint8_t)op;
	a->req = net_http(aw.net, &aw.rest, method, path_query, a->api_key, REST_TIMEOUT_MS,
	    rest_done_cb, a);
	if (a->req == NULL) {
		a->op = OP_NONE;
		return -1;
	}
	aw.rest_inflight++;
	aw.st.rest_requests++;
	return 0;
}

static void
acct_rest_backoff(struct acct *a)
{
	if (a->rest_fails < 30)
		a->rest_fails++;
	a->retry_at_ms = (clock_real_us() / 1000) + backoff_ms(a->rest_fails, REST_RETRY_MIN_MS, REST_RETRY_MAX_MS);
}

/* ------------------------------------------------------------ listen keys */

static void
acct_key_changed(struct acct *a, const char *key)
{
	int same = strcmp(a->listen_key, key) == 0;

	keyhash_remove(a);
	snprintf(a->listen_key, sizeof(a->listen_key), "%s", key);
	keyhash_add(a);
	a->lk_expires_ms = (clock_real_us() / 1000) + LISTEN_KEY_VALIDITY_MS;
	a->lk_renew_ms = a->lk_expires_ms - LISTEN_KEY_VALIDITY_MS + aw.cfg->listenkey_renewal_ms;
	a->flags &= ~(F_NEED_POST | F_CHECK_KEY);
	acct_store_key(a);
	/* A new key (or the old one revived after expiry) needs a fresh subscription. */
	a->key_gen++;
	if (!same)
		log_info("account %" PRId64 ": new listen key", a->id);
	group_add_acct(a);
	acct_set_state(a, AS_STREAM);
}

static void
lk_response(struct acct *a, enum op op, const struct net_http_resp *r, int code)
{
	char key[LISTEN_KEY_MAX];

	if (r->status == 200 && bf_listen_key(r->body, r->len, key, sizeof(key)) == 0) {
		a->rest_fails = 0;
		if (op == OP_LK_POST) {
			aw.st.keys_created++;
			acct_key_changed(a, key);
		} else if (strcmp(key, a->listen_key) != 0) {
			/* The keepalive answered with another key: take it. */
			aw.st.renewals_ok++;
			acct_key_changed(a, key);
		} else {
			aw.st.renewals_ok++;
			a->flags &= ~F_CHECK_KEY;
			a->lk_expires_ms = (clock_real_us() / 1000) + LISTEN_KEY_VALIDITY_MS;
			a->lk_renew_ms = (clock_real_us() / 1000) + aw.cfg->listenkey_renewal_ms;
			acct_store_key(a);
		}
		crypto_wipe(key, sizeof(key));
		return;
	}
	if (op == OP_LK_PUT)
		aw.st.renewals_failed++;
	if (op == OP_LK_PUT && code == -1125) {
		log_info("account %" PRId64 ": listen key no longer exists; creating a new one",
		    a->id);
		a->flags |= F_NEED_POST;
		a->flags &= ~F_CHECK_KEY;
		acct_set_state(a, AS_LISTEN_KEY);
		return;
	}
	acct_rest_backoff(a);
}

/* ------------------------------------------------------------------ resync */

static void
resync_free(struct acct *a)
{
	struct resync *rs = a->rs;

	if (rs == NULL)
		return;
	free(rs->open_seen.v);
	free(rs->algo_seen.v);
	free(rs->db_algos.v);
	free(rs->pos_seen);
	free(rs->db_pos);
	free(rs->db_orders);
	free(rs->syms);
	free(rs);
	a->rs = NULL;
}

/* What the database believes: non-zero positions, open orders, traded symbols. */
static int
resync_db_read(struct acct *a, struct resync *rs)
{
	char id[32];
	const char *params[1] = { id };
	PGresult *res;
	int n;

	if (db_ready() == -1)
		return -1;
	snprintf(id, sizeof(id), "%" PRId64, a->id);
	res = PQexecParams(aw.db, "SELECT symbol, position_side FROM positions "
	    "WHERE account_id = $1 AND amount <> 0", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto fail;
	n = PQntuples(res);
	if (n && (rs->db_pos = calloc((size_t)n, sizeof(*rs->db_pos))) == NULL)
		goto fail;
	for (int i = 0; i < n; i++) {
		snprintf(rs->db_pos[i].sym, EV_SYM, "%s", PQgetvalue(res, i, 0));
		snprintf(rs->db_pos[i].ps, EV_WORD, "%s", PQgetvalue(res, i, 1));
		acct_add_sym(a, rs->db_pos[i].sym);
	}
	rs->ndbpos = (size_t)n;
	PQclear(res);
	res = PQexecParams(aw.db, "SELECT order_id, symbol FROM orders WHERE account_id = $1 "
	    "AND status IN ('NEW', 'PARTIALLY_FILLED') ORDER BY order_id", 1, NULL, params, NULL,
	    NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto fail;
	n = PQntuples(res);
	if (n && (rs->db_orders = calloc((size_t)n, sizeof(*rs->db_orders))) == NULL)
		goto fail;
	for (int i = 0; i < n; i++) {
		rs->db_orders[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		snprintf(rs->db_orders[i].sym, EV_SYM, "%s", PQgetvalue(res, i, 1));
		acct_add_sym(a, rs->db_orders[i].sym);
	}
	rs->ndborders = (size_t)n;
	PQclear(res);
	res = PQexecParams(aw.db, "SELECT algo_id, symbol FROM algo_orders WHERE account_id = $1 "
	    "AND status IN ('NEW', 'TRIGGERING') ORDER BY algo_id", 1, NULL, params, NULL, NULL,
	    0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++) {
		if (id_list_add(&rs->db_algos, strtoll(PQgetvalue(res, i, 0), NULL, 10)) == -1)
			goto fail;
		acct_add_sym(a, PQgetvalue(res, i, 1));
	}
	PQclear(res);
	res = PQexecParams(aw.db, "SELECT DISTINCT symbol FROM orders WHERE account_id = $1 "
	    "UNION SELECT DISTINCT symbol FROM fills WHERE account_id = $1", 1, NULL, params,
	    NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++)
		acct_add_sym(a, PQgetvalue(res, i, 0));
	PQclear(res);
	return 0;
fail:
	log_warnx("account %" PRId64 ": resync cannot read the database: %s", a->id,
	    PQerrorMessage(aw.db));
	aw.st.db_errors++;
	PQclear(res);
	return -1;
}

static void
resync_begin(struct acct *a)
{
	struct resync *rs;

	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return;
	rs->started_ms = (clock_real_us() / 1000) + aw.time_offset_ms;
	if (resync_db_read(a, rs) == -1) {
		a->rs = rs;
		resync_free(a);
		acct_rest_backoff(a);
		return;
	}
	a->rs = rs;
	a->resync = RS_RUNNING;
	rs->since_ms = a->gap_ms;
	aw.st.resyncs_started++;
	log_debug("account %" PRId64 ": resync started (from %" PRId64 ")", a->id, rs->since_ms);
	resync_next(a);
}

static void
resync_finish(struct acct *a)
{
	struct resync *rs = a->rs;

	/* Everything up to the snapshot is in: move the cursor there. */
	if (rs->started_ms > a->last_event_ms)
		a->last_event_ms = rs->started_ms;
	log_info("account %" PRId64 ": resync done: %" PRIu64 " events", a->id, rs->events);
	resync_free(a);
	a->resync = (a->flags & F_RESYNC_AGAIN) ? RS_PENDING : RS_DONE;
	a->flags &= ~F_RESYNC_AGAIN;
	a->resync_done_ms = (clock_real_us() / 1000);
	aw.st.resyncs_done++;
}

static int
resync_pos_seen(const struct resync *rs, const struct rs_pos *p)
{
	for (size_t i = 0; i < rs->npos; i++)
		if (strcmp(rs->pos_seen[i].sym, p->sym) == 0 && strcmp(rs->pos_seen[i].ps, p->ps) == 0)
			return 1;
	return 0;
}

/* Positions the database holds open that the snapshot does not show are flat now. */
static void
resync_flat_positions(struct acct *a, struct resync *rs)
{
	for (size_t i = 0; i < rs->ndbpos; i++) {
		struct emit_ctx ctx = { a, NULL, 0 };
		struct event ev;

		if (resync_pos_seen(rs, &rs->db_pos[i]))
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.type = EV_POSITION;
		ev.flags = EVF_RESYNC;
		ev.account_id = a->id;
		ev.user_id = a->user_id;
		snprintf(ev.exchange, sizeof(ev.exchange), "%s", EXCHANGE);
		ev.event_time = rs->started_ms;
		ev.recv_us = (clock_real_us() / 1000) * 1000;
		snprintf(ev.u.position.symbol, EV_SYM, "%s", rs->db_pos[i].sym);
		snprintf(ev.u.position.position_side, EV_WORD, "%s", rs->db_pos[i].ps);
		snprintf(ev.u.position.amount, EV_DEC, "0");
		snprintf(ev.u.position.entry_price, EV_DEC, "0");
		snprintf(ev.u.position.breakeven_price, EV_DEC, "0");
		snprintf(ev.u.position.unrealized_pnl, EV_DEC, "0");
		snprintf(ev.u.position.isolated_wallet, EV_DEC, "0");
		snprintf(ev.u.position.margin_type, EV_WORD, "cross");
		snprintf(ev.u.position.margin_asset, EV_SYM, "USDT");
		ev.u.position.update_time = rs->started_ms;
		ev_make_id(&ev);
		acct_emit(&ev, &ctx);
		rs->events++;
	}
}

static void
resync_symbols(struct acct *a, struct resync *rs)
{
	const struct strlist *ms = &aw.cfg->market_symbols;

	for (size_t i = 0; i < ms->n; i++)
		acct_add_sym(a, ms->v[i]);
	free(rs->syms);
	rs->nsyms = 0;
	if ((rs->syms = calloc(a->nsyms ? a->nsyms : 1, sizeof(*rs->syms))) == NULL)
		return;
	memcpy(rs->syms, a->syms, a->nsyms * sizeof(*rs->syms));
	rs->nsyms = a->nsyms;
}

/*
 * On to the next step.  After the positions the symbol set is complete
 * enough to choose between asking for the open orders and algo orders of
 * each symbol (weight 1 each, twice) or of all symbols at once (40 each).
 */
static void
resync_step_done(struct acct *a, struct resync *rs)
{
	rs->step++;
	rs->i = 0;
	rs->from_id = 0;
	if (rs->step == ST_SYMBOL_CONFIG) {
		resync_symbols(a, rs);
		rs->per_symbol = rs->nsyms < OPEN_ALL_WEIGHT;
	}
}

/* Issue the next request of the account's resync, if the budget allows now. */
static void
resync_next(struct acct *a)
{
	struct resync *rs = a->rs;
	int64_t reserve = aw.budget.weight_share / 10 + 1, since;
	const char *path;
	char params[512], pq[3072];

	if (rs == NULL || a->req)
		return;
	/* The config snapshots carry no time: they are as of the request. */
	rs->sent_ms = (clock_real_us() / 1000) + aw.time_offset_ms;
	for (;;) {
		switch (rs->step) {
		case ST_BALANCE:
			rest_sign(a, "/fapi/v3/balance", "", pq, sizeof(pq));
			rest_start(a, OP_RESYNC, "GET", pq, 5, reserve);
			return;
		case ST_POSITIONS:
			rest_sign(a, "/fapi/v3/positionRisk", "", pq, sizeof(pq));
			rest_start(a, OP_RESYNC, "GET", pq, 5, reserve);
			return;
		case ST_SYMBOL_CONFIG:
			rest_sign(a, "/fapi/v1/symbolConfig", "", pq, sizeof(pq));
			rest_start(a, OP_RESYNC, "GET", pq, 5, reserve);
			return;
		case ST_MULTI_ASSETS:
			rest_sign(a, "/fapi/v1/multiAssetsMargin", "", pq, sizeof(pq));
			rest_start(a, OP_RESYNC, "GET", pq, 30, reserve);
			return;
		case ST_OPEN_ORDERS:
		case ST_OPEN_ALGOS:
			path = rs->step == ST_OPEN_ORDERS ? "/fapi/v1/openOrders" :
			    "/fapi/v1/openAlgoOrders";
			if (!rs->per_symbol) {
				rest_sign(a, path, "", pq, sizeof(pq));
				rest_start(a, OP_RESYNC, "GET", pq, OPEN_ALL_WEIGHT, reserve);
				return;
			}
			if ((size_t)rs->i >= rs->nsyms) {
				rs->step++;
				rs->i = 0;
				continue;
			}
			snprintf(params, sizeof(params), "symbol=%s", aw.syms[rs->syms[rs->i]]);
			rest_sign(a, path, params, pq, sizeof(pq));
			rest_start(a, OP_RESYNC, "GET", pq, 1, reserve);
			return;
		case ST_MISSING_ORDERS:
			while ((size_t)rs->i < rs->ndborders &&
			    id_list_has(&rs->open_seen, rs->db_orders[rs->i].id))
				rs->i++;
			if ((size_t)rs->i >= rs->ndborders) {
				rs->step++;
				rs->i = 0;
				continue;
			}
			snprintf(params, sizeof(params), "symbol=%s&orderId=%" PRId64,
			    rs->db_orders[rs->i].sym, rs->db_orders[rs->i].id);
			rest_sign(a, "/fapi/v1/order", params, pq, sizeof(pq));
			rest_start(a, OP_RESYNC, "GET", pq, 1, reserve);
			return;
		case ST_MISSING_ALGOS:
			/* Open in the database, gone from openAlgoOrders: how did it end? */
			while ((size_t)rs->i < rs->db_algos.n &&
			    id_list_has(&rs->algo_seen, rs->db_algos.v[rs->i]))
				rs->i++;
			if ((size_t)rs->i >= rs->db_algos.n) {
				rs->step = ST_ALL_ORDERS;
				rs->i = 0;
				rs->from_id = 0;
				resync_symbols(a, rs);
				continue;
			}
			snprintf(params, sizeof(params), "algoId=%" PRId64, rs->db_algos.v[rs->i]);
			rest_sign(a, "/fapi/v1/algoOrder", params, pq, sizeof(pq));
			rest_start(a, OP_RESYNC, "GET", pq, 1, reserve);
			return;
		case ST_ALL_ORDERS:
		case ST_ALL_ALGOS:
		case ST_TRADES:
			if ((size_t)rs->i >= rs->nsyms) {
				rs->step++;
				rs->i = 0;
				rs->from_id = 0;
				continue;
			}
			since = rs->since_ms - RESYNC_MARGIN_MS;
			if (since < 0)
				since = 0;
			if (rs->step == ST_ALL_ORDERS) {
				if (rs->from_id)
					snprintf(params, sizeof(params), "symbol=%s&orderId=%" PRId64
					    "&limit=%d", aw.syms[rs->syms[rs->i]], rs->from_id,
					    RESYNC_PAGE);
				else
					snprintf(params, sizeof(params), "symbol=%s&startTime=%" PRId64
					    "&limit=%d", aw.syms[rs->syms[rs->i]], since, RESYNC_PAGE);
				rest_sign(a, "/fapi/v1/allOrders", params, pq, sizeof(pq));
			} else if (rs->step == ST_ALL_ALGOS) {
				/* algo orders born and finished inside the gap */
				if (rs->from_id)
					snprintf(params, sizeof(params), "symbol=%s&algoId=%" PRId64
					    "&limit=%d", aw.syms[rs->syms[rs->i]], rs->from_id,
					    RESYNC_PAGE);
				else
					snprintf(params, sizeof(params), "symbol=%s&startTime=%" PRId64
					    "&limit=%d", aw.syms[rs->syms[rs->i]], since, RESYNC_PAGE);
				rest_sign(a, "/fapi/v1/allAlgoOrders", params, pq, sizeof(pq));
			} else {
				if (rs->from_id)
					snprintf(params, sizeof(params), "symbol=%s&fromId=%" PRId64
					    "&limit=%d", aw.syms[rs->syms[rs->i]], rs->from_id,
					    RESYNC_PAGE);
				else
					snprintf(params, sizeof(params), "symbol=%s&startTime=%" PRId64
					    "&limit=%d", aw.syms[rs->syms[rs->i]], since, RESYNC_PAGE);
				rest_sign(a, "/fapi/v1/userTrades", params, pq, sizeof(pq));
			}
			rest_start(a, OP_RESYNC, "GET", pq, 5, reserve);
			return;
		case ST_FINISH:
		default:
			resync_finish(a);
			return;
		}
	}
}

static void
resync_response(struct acct *a, const struct net_http_resp *r, int code)
{
	static const enum bf_rest kinds[] = {
		[ST_BALANCE] = BF_REST_BALANCE, [ST_POSITIONS] = BF_REST_POSITION_RISK,
		[ST_SYMBOL_CONFIG] = BF_REST_SYMBOL_CONFIG, [ST_MULTI_ASSETS] = BF_REST_MULTI_ASSETS,
		[ST_OPEN_ORDERS] = BF_REST_OPEN_ORDERS, [ST_OPEN_ALGOS] = BF_REST_OPEN_ALGO_ORDERS,
		[ST_MISSING_ORDERS] = BF_REST_ORDER, [ST_MISSING_ALGOS] = BF_REST_ALGO_ORDER,
		[ST_ALL_ORDERS] = BF_REST_ALL_ORDERS, [ST_ALL_ALGOS] = BF_REST_ALL_ALGO_ORDERS,
		[ST_TRADES] = BF_REST_USER_TRADES,
	};
	struct resync *rs = a->rs;
	struct emit_ctx ctx = { a, rs, 0 };
	struct ev_origin org = { a->id, a->user_id, (clock_real_us() / 1000) * 1000, EVF_RESYNC };
	const char *err = NULL;
	int n;

	if (rs == NULL)
		return;
	if (r->status != 200) {
		/*
		 * The exchange refused this one request (an order gone from its memory,
		 * -2013, FACTS §1.6; a symbol it does not list): nothing to learn
		 * there, go on with the next.
		 */
		if (rs->step == ST_MISSING_ORDERS || rs->step == ST_MISSING_ALGOS ||
		    rs->step == ST_ALL_ORDERS || rs->step == ST_ALL_ALGOS ||
		    rs->step == ST_TRADES || (rs->per_symbol && (rs->step == ST_OPEN_ORDERS ||
		    rs->step == ST_OPEN_ALGOS))) {
			rs->i++;
			rs->from_id = 0;
		} else
			resync_step_done(a, rs);
		return;
	}
	a->rest_fails = 0;
	rs->page_rows = 0;
	rs->page_max_id = 0;
	n = bf_rest_events(kinds[rs->step], r->body, r->len, &org, rs->sent_ms, acct_emit, &ctx,
	    &err);
	if (n < 0) {
		log_warnx_rl(&aw.rl_rest, "account %" PRId64 ": resync: unexpected response: %s",
		    a->id, err ? err : "?");
		aw.st.resyncs_failed++;
		/* Again from the same place, or from a newer gap's if earlier. */
		if (!(a->flags & F_RESYNC_AGAIN) || rs->since_ms < a->gap_ms)
			a->gap_ms = rs->since_ms;
		a->flags &= ~F_RESYNC_AGAIN;
		resync_free(a);
		a->resync = RS_PENDING;
		acct_rest_backoff(a);
		return;
	}
	rs->events += (uint64_t)n;
	switch (rs->step) {
	case ST_POSITIONS:
		resync_flat_positions(a, rs);
		resync_step_done(a, rs);
		break;
	case ST_OPEN_ORDERS:
	case ST_OPEN_ALGOS:
		if (rs->per_symbol)
			rs->i++;
		else
			resync_step_done(a, rs);
		break;
	case ST_MISSING_ORDERS:
	case ST_MISSING_ALGOS:
		rs->i++;
		break;
	case ST_ALL_ORDERS:
	case ST_ALL_ALGOS:
	case ST_TRADES:
		if (rs->page_rows >= RESYNC_PAGE && rs->page_max_id > 0)
			rs->from_id = rs->page_max_id + 1;
		else {
			rs->i++;
			rs->from_id = 0;
		}
		break;
	default:
		resync_step_done(a, rs);
		break;
	}
}

/* ------------------------------------------------------- REST responses */

static void
rest_done_cb(const struct net_http_resp *r, void *arg)
{
	struct acct *a = arg;
	enum op op = a->op;
	char msg[256];
	int code = 0;

	a->req = NULL;
	a->op = OP_NONE;
	aw.rest_inflight--;
	if (r->used_weight_1m >= 0)
		budget_weight_seen(&aw.budget, r->used_weight_1m, (clock_real_us() / 1000));
	if (r->status == 0) {
		aw.st.rest_errors++;
		log_warnx_rl(&aw.rl_rest, "account %" PRId64 ": REST call failed: %s", a->id,
		    r->error ? r->error : "?");
		if (op == OP_RESYNC && a->rs == NULL)
			return;
		acct_rest_backoff(a);
		return;
	}
	if (r->status != 200)
		bf_rest_error(r->body, r->len, &code, msg, sizeof(msg));
	if (r->status == 429 || r->status == 418) {
		int64_t wait_s = r->retry_after_s > 0 ? r->retry_after_s : 60;

		if (r->status == 429)
			aw.st.http_429++;
		else
			aw.st.http_418++;
		budget_block(&aw.budget, (clock_real_us() / 1000) + wait_s * 1000);
		log_warnx("REST %d from the exchange (%s): no request for %" PRId64 " s",
		    r->status, r->status == 418 ? "IP banned" : "rate limit", wait_s);
		acct_rest_backoff(a);
		return;
	}
	if (code == -2015 || (r->status == 401 && code == -2014)) {
		acct_quarantine(a, code == -2015 ? "exchange rejected the API key (-2015)" :
		    "exchange rejected the API key format (-2014)");
		return;
	}
	if (code == -1021 && !aw.time_sync_needed) {
		log_warnx("account %" PRId64 ": timestamp outside recvWindow; syncing the clock "
		    "with the exchange", a->id);
		aw.time_sync_needed = 1;
		acct_rest_backoff(a);
		return;
	}
	if (r->status != 200 && r->status >= 500) {
		aw.st.rest_errors++;
		acct_rest_backoff(a);
		return;
	}
	if (r->status != 200 && code != -1125 && code != -2013) {
		aw.st.rest_errors++;
		log_warnx_rl(&aw.rl_rest, "account %" PRId64 ": REST %d, code %d: %s", a->id,
		    r->status, code, msg);
	}
	switch (op) {
	case OP_LK_POST:
	case OP_LK_PUT:
		lk_response(a, op, r, code);
		break;
	case OP_TIME:
		break;
	case OP_RESYNC:
		resync_response(a, r, code);
		if (a->rs && a->retry_at_ms <= (clock_real_us() / 1000))
			resync_next(a);
		break;
	default:
		break;
	}
	crypto_wipe(msg, sizeof(msg));
}

/* /fapi/v1/time once, after a -1021: keep the offset for signed requests. */
static struct net_http *time_req;
static int64_t time_sent_ms;

static void
time_done_cb(const struct net_http_resp *r, void *arg)
{
	const char *p;

	time_req = NULL;
	aw.rest_inflight--;
	if (r->status == 200 && (p = strstr(r->body, "\"serverTime\":")) != NULL) {
		int64_t server = strtoll(p + 13, NULL, 10), now = (clock_real_us() / 1000);

		aw.time_offset_ms = server - (time_sent_ms + now) / 2;
		aw.time_sync_needed = 0;
		log_info("clock offset to the exchange: %" PRId64 " ms", aw.time_offset_ms);
	}
}

static void
time_sync(void)
{
	int64_t wait_ms;

	if (time_req || aw.rest_inflight >= REST_CONCURRENCY ||
	    budget_weight_take(&aw.budget, 1, 0, (clock_real_us() / 1000), &wait_ms) == -1)
		return;
	time_sent_ms = (clock_real_us() / 1000);
	if ((time_req = net_http(aw.net, &aw.rest, "GET", "/fapi/v1/time", NULL,
	    REST_TIMEOUT_MS, time_done_cb, NULL)) != NULL)
		aw.rest_inflight++;
}

/* -------------------------------------------------------------- quarantine */

static void
acct_quarantine(struct acct *a, const char *reason)
{
	rest_cancel(a);
	resync_free(a);
	group_remove_acct(a);
	acct_set_state(a, AS_QUARANTINED);
	a->resync = RS_NONE;
	a->quarantine_reason = reason;
	a->flags |= F_QUAR_PENDING;
	aw.st.quarantines++;
	log_error("account %" PRId64 " (user %" PRId64 ") quarantined: %s; not retried until it "
	    "is enabled again", a->id, a->user_id, reason);
	acct_wipe(a);
	acct_store_quarantine(a);
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

/* The replacement (or first) connection is subscribed: it takes over. */
static void
conn_ready(struct wsconn *w)
{
	struct group *g = w->g;
	struct wsconn *old = g->cur;
	int64_t now = (clock_real_us() / 1000);
	char d[1200];

	w->state = CS_READY;
	w->ready_ms = w->last_rx_ms = now;
	g->failures = 0;
	for (int i = 0; i < w->nm; i++) {
		struct acct *a = w->m[i].a;

		if (a == NULL || a->group != g)
			continue;
		/* Whoever this connection did not carry before may have missed events. */
		if (!conn_carries(old, a))
			acct_gap(a);
		if (w->m[i].key_gen == a->key_gen && !(a->flags & F_NEED_POST))
			acct_set_state(a, AS_STREAMING);
	}
	g->repl = NULL;
	g->cur = w;
	if (old) {
		g->dedupe_until_ms = now + DEDUPE_HOLD_MS;
		conn_free(old);
	}
	conn_describe(w, d, sizeof(d));
	log_info("%s streaming%s", d, old ? " (replaced the previous one without a gap)" : "");
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
	if (net_ws_send_text(w->ws, buf, off) == -1)
		conn_close(w, "cannot send SUBSCRIBE", 1);
	crypto_wipe(buf, len);
	free(buf);
}

static void
ws_open_cb(struct net_ws *ws, void *arg)
{
	struct wsconn *w = arg;

	w->last_rx_ms = (clock_real_us() / 1000);
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

static void
ws_message_cb(struct net_ws *ws, const char *buf, size_t len, void *arg)
{
	struct wsconn *w = arg;
	struct group *g = w->g;
	struct bf_frame f;
	struct acct *a;
	const char *err = NULL;
	int64_t now = (clock_real_us() / 1000);

	w->last_rx_ms = now;
	w->msgs++;
	aw.st.messages++;
	if (buf == NULL) {
		conn_malformed(w, "larger than the message limit");
		return;
	}
	if (strncmp(buf, "{\"result\"", 9) == 0 || strncmp(buf, "{\"error\"", 8) == 0 ||
	    strncmp(buf, "{\"id\"", 5) == 0) {
		/* A reply to our SUBSCRIBE. */
		if (w->state == CS_SUBSCRIBING && strncmp(buf, "{\"result\"", 9) == 0)
			conn_ready(w);
		else if (strncmp(buf, "{\"error\"", 8) == 0) {
			char d[1200];

			conn_describe(w, d, sizeof(d));
			log_warnx("%s: the exchange refused the subscription: %.200s", d, buf);
			if (w->state != CS_READY)
				conn_close(w, "subscription refused", 1);
		}
		return;
	}
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
		}
		bf_frame_free(&f);
		return;
	}
	{
		struct emit_ctx ctx = { a, NULL, 1 };
		struct ev_origin org = { a->id, a->user_id, now * 1000, 0 };

		if (bf_frame_events(&f, buf, len, &org, acct_emit, &ctx, &err) == -1)
			conn_malformed(w, err ? err : "?");
		else {
			a->last_rx_ms = now;
			a->activity_ms = now;
		}
	}
	bf_frame_free(&f);
}

static void
ws_pong_cb(struct net_ws *ws, void *arg)
{
	struct wsconn *w = arg;

	w->last_rx_ms = (clock_real_us() / 1000);
}

/* The connection is gone: failed = it ended on its own (counts as a reconnect). */
static void
conn_lost(struct wsconn *w, const char *why)
{
	struct group *g = w->g;
	char d[1200];

	conn_describe(w, d, sizeof(d));
	w->ws = NULL;
	if (w == g->cur) {
		log_warnx("%s lost: %s; reconnecting", d, why);
		g->cur = NULL;
		aw.st.reconnects++;
		for (int i = 0; i < g->n; i++) {
			struct acct *a = g->a[i];

			a->reconnects++;
			if (a->state == AS_STREAMING || a->state == AS_STREAM)
				acct_set_state(a, AS_BACKOFF);
		}
		/* A replacement under way takes over when it is up; else reconnect. */
		if (g->repl == NULL)
			g->dirty = 1;
	} else {
		log_warnx("%s failed: %s", d, why);
		g->repl = NULL;
		g->dirty = 1;
		if (g->cur == NULL)
			for (int i = 0; i < g->n; i++)
				if (g->a[i]->state == AS_STREAM)
					acct_set_state(g->a[i], AS_BACKOFF);
	}
	g->failures++;
	g->retry_at_ms = (clock_real_us() / 1000) + backoff_ms(g->failures, aw.cfg->reconnect_delay_min_ms,
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
	conn_free(w);
}

/* Open a connection carrying the group's accounts that have keys. */
static void
conn_open(struct group *g)
{
	struct wsconn *w;
	char *path, d[1200];
	size_t plen;
	int64_t wait_ms;
	int inurl = 0;

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
	if (budget_connect_take(&aw.budget, (clock_real_us() / 1000), &wait_ms) == -1) {
		free(w->m);
		free(w);
		g->retry_at_ms = (clock_real_us() / 1000) + wait_ms;
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
	w->opened_ms = (clock_real_us() / 1000);
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
	free(g->a);
	free(g);
}

/* Bring every group's connections in line with its membership. */
static void
groups_maintain(void)
{
	int64_t now = (clock_real_us() / 1000);
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
		/* Health: a silent connection is dead; otherwise ping it now and then. */
		for (int c = 0; c < 2; c++) {
			struct wsconn *w = c ? g->repl : g->cur;

			if (w == NULL || w->state == CS_CONNECTING)
				continue;
			if (now - w->last_rx_ms > aw.cfg->silence_timeout_ms) {
				aw.st.silence_kills++;
				conn_close(w, "silent for longer than silence_timeout", 1);
				break;
			}
			if (now - w->last_ping_ms >= aw.cfg->health_check_interval_ms) {
				w->last_ping_ms = now;
				net_ws_ping(w->ws);
			}
		}
		if (g->cur && g->cur->state == CS_READY && !g->repl &&
		    now - g->cur->opened_ms >= aw.cfg->connection_max_age_ms) {
			aw.st.max_age_rebuilds++;
			g->dirty = 1;
		}
		if (!g->dirty || keyed == 0)
			continue;
		if (g->retry_at_ms > now)
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

static ev_timer kick_timer;

static void
kick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	groups_maintain();
}

/* Changes made in one burst (a reconcile, many keys) coalesce into one rebuild. */
static void
group_kick(void)
{
	if (aw.loop && !ev_is_active(&kick_timer)) {
		ev_timer_set(&kick_timer, 0.05, 0.);
		ev_timer_start(aw.loop, &kick_timer);
	}
}

/* ------------------------------------------------------- account lifecycle */

static void
acct_free(struct acct *a)
{
	struct acct **pp;

	rest_cancel(a);
	resync_free(a);
	group_remove_acct(a);
	acct_wipe(a);
	for (pp = &aw.by_id[id_bucket(a->id)]; *pp; pp = &(*pp)->id_next)
		if (*pp == a) {
			*pp = a->id_next;
			break;
		}
	for (pp = &aw.accts; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	free(a->syms);
	free(a);
	aw.naccts--;
}

static struct acct *
acct_new(const struct db_account *d)
{
	struct acct *a;
	int64_t now = (clock_real_us() / 1000);
	unsigned b;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->id = d->id;
	a->user_id = d->user_id;
	a->since_ms = now;
	a->last_event_ms = a->gap_ms = d->last_event_time;
	a->activity_ms = d->last_event_time;
	a->state = AS_LISTEN_KEY;
	a->resync = RS_PENDING;		/* a (re)start may have missed anything */
	if (d->api_key && d->api_secret &&
	    ((a->api_key = strdup(d->api_key)) == NULL ||
	    (a->api_secret = strdup(d->api_secret)) == NULL)) {
		crypto_free_secret(a->api_key);
		free(a);
		return NULL;
	}
	b = id_bucket(a->id);
	a->id_next = aw.by_id[b];
	aw.by_id[b] = a;
	a->next = aw.accts;
	aw.accts = a;
	aw.naccts++;
	if (d->undecryptable) {
		acct_quarantine(a, DB_REASON_UNDECRYPTABLE);
		return a;
	}
	if (d->listen_key && d->listen_key_expires_ms > now + 60000 &&
	    strlen(d->listen_key) < sizeof(a->listen_key)) {
		/* Reuse the stored key (no POST); a keepalive soon confirms it lives. */
		snprintf(a->listen_key, sizeof(a->listen_key), "%s", d->listen_key);
		keyhash_add(a);
		a->lk_expires_ms = d->listen_key_expires_ms;
		a->lk_renew_ms = now + (int64_t)(aw_random() % KEY_CHECK_SPREAD_MS);
		if (a->lk_renew_ms > a->lk_expires_ms - LISTEN_KEY_VALIDITY_MS +
		    aw.cfg->listenkey_renewal_ms)
			a->lk_renew_ms = a->lk_expires_ms - LISTEN_KEY_VALIDITY_MS +
			    aw.cfg->listenkey_renewal_ms;
		a->flags |= F_CHECK_KEY;
		group_add_acct(a);
	} else
		a->flags |= F_NEED_POST;
	return a;
}

/* Credentials changed in the database (re-added keys): take the new ones. */
static void
acct_update(struct acct *a, const struct db_account *d)
{
	a->user_id = d->user_id;
	if (a->state == AS_QUARANTINED)
		return;
	if (d->undecryptable) {
		acct_quarantine(a, DB_REASON_UNDECRYPTABLE);
		return;
	}
	if (d->api_key && a->api_key && strcmp(d->api_key, a->api_key) == 0 &&
	    d->api_secret && a->api_secret && strcmp(d->api_secret, a->api_secret) == 0)
		return;
	log_info("account %" PRId64 ": credentials changed; new listen key", a->id);
	rest_cancel(a);
	crypto_free_secret(a->api_key);
	crypto_free_secret(a->api_secret);
	a->api_key = d->api_key ? strdup(d->api_key) : NULL;
	a->api_secret = d->api_secret ? strdup(d->api_secret) : NULL;
	a->flags |= F_NEED_POST;
	acct_set_state(a, AS_LISTEN_KEY);
}

/*
 * Load the shard's accounts and make the table match: new and re-enabled
 * accounts start, removed and disabled ones stop; the rest are untouched.
 */
static int
accounts_reconcile(const char *why)
{
	struct db_account *rows = NULL;
	size_t n = 0, added = 0, removed = 0, mine = 0, bad = 0;
	struct acct *a, *next;
	char err[512];

	if (!aw.have_key) {
		char kerr[512];

		if (crypto_key_load(aw.cfg->crypto_key_file, aw.key, kerr, sizeof(kerr)) == -1) {
			log_error("[crypto] key_file: %s: no account can be served", kerr);
			return -1;
		}
		aw.have_key = 1;
	}
	if (db_ready() == -1)
		return -1;
	/* The database narrows to the shard; account_owns() has the last word. */
	if (db_accounts_load(aw.db, worker_instance(), aw.shards, aw.key, &rows, &n, err,
	    sizeof(err)) == -1) {
		log_warnx("cannot load accounts (%s): %s", why, err);
		aw.st.db_errors++;
		return -1;
	}
	aw.st.reconciles++;
	for (size_t i = 0; i < n; i++)
		if (account_owns(rows[i].id) && strcmp(rows[i].exchange, EXCHANGE) == 0) {
			mine++;
			bad += rows[i].undecryptable != 0;
		}
	if (mine > 0 && bad == mine) {
		/*
		 * Not one row decrypts: the key is wrong (rotated, or another
		 * installation's), not the rows.  Quarantining them all would
		 * disable every account; leave them idle until a reload brings
		 * the right key.
		 */
		log_error("[crypto] key_file %s: none of the %zu accounts of this shard decrypts "
		    "with it (a wrong or rotated master key?); they stay idle until the key file "
		    "is fixed and exfeedd reloaded", aw.cfg->crypto_key_file, mine);
		db_account_free(rows, n);
		aw.loaded = 1;
		return 0;
	}
	for (a = aw.accts; a; a = a->next)
		a->mark = 0;
	for (size_t i = 0; i < n; i++) {
		const struct db_account *d = &rows[i];

		if (!account_owns(d->id))
			continue;
		if (strcmp(d->exchange, EXCHANGE) != 0) {
			log_warnx_rl(&aw.rl_rest, "account %" PRId64 ": exchange %s is not served "
			    "by this account worker", d->id, d->exchange);
			continue;
		}
		if ((a = acct_by_id(d->id)) != NULL && a->state == AS_QUARANTINED &&
		    !(a->flags & F_QUAR_PENDING)) {
			/* Enabled again since it was quarantined: start afresh. */
			acct_free(a);
			a = NULL;
		}
		if (a != NULL) {
			a->mark = 1;
			acct_update(a, d);
			continue;
		}
		if ((a = acct_new(d)) != NULL) {
			a->mark = 1;
			added++;
		}
	}
	db_account_free(rows, n);
	for (a = aw.accts; a; a = next) {
		next = a->next;
		if (a->mark)
			continue;
		/* A quarantine the database has not heard of yet stays. */
		if (a->state == AS_QUARANTINED && (a->flags & F_QUAR_PENDING))
			continue;
		log_info("account %" PRId64 ": %s", a->id, a->state == AS_QUARANTINED ?
		    "quarantine recorded; forgotten until enabled again" :
		    "removed or disabled in the database; stopped");
		removed += a->state != AS_QUARANTINED;
		acct_free(a);
	}
	if (added || removed || !aw.loaded)
		log_info("accounts (%s): %zu served, %zu new, %zu stopped", why, aw.naccts, added,
		    removed);
	aw.loaded = 1;
	group_kick();
	return 0;
}

/* ------------------------------------------------------------------- tick */

static struct acct *
resync_pick(void)
{
	struct acct *best = NULL;
	int64_t now = (clock_real_us() / 1000);

	for (struct acct *a = aw.accts; a; a = a->next)
		if (a->resync == RS_PENDING && a->state == AS_STREAMING && a->req == NULL &&
		    a->rs == NULL && a->retry_at_ms <= now &&
		    (best == NULL || a->activity_ms > best->activity_ms))
			best = a;
	return best;
}

static void
tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	int64_t now = (clock_real_us() / 1000), wait_ms;
	struct acct *a;

	if (aw.stopping)
		return;
	if (!aw.loaded && now >= aw.load_retry_ms) {
		aw.load_retry_ms = now + LOAD_RETRY_MS;
		accounts_reconcile("retry");
	}
	groups_maintain();
	if (aw.time_sync_needed)
		time_sync();
	/* Listen keys first: they keep streams alive. */
	for (a = aw.accts; a; a = a->next) {
		if (a->state == AS_QUARANTINED) {
			if (a->flags & F_QUAR_PENDING)
				acct_store_quarantine(a);
			continue;
		}
		if (a->flags & F_STORE_KEY)
			acct_store_key(a);
		if (a->req || a->retry_at_ms > now || a->api_key == NULL)
			continue;
		if (a->flags & F_NEED_POST) {
			if (a->state != AS_LISTEN_KEY)
				acct_set_state(a, AS_LISTEN_KEY);
			rest_start(a, OP_LK_POST, "POST", "/fapi/v1/listenKey", 1, 0);
		} else if (a->listen_key[0] && now >= a->lk_renew_ms)
			rest_start(a, OP_LK_PUT, "PUT", "/fapi/v1/listenKey", 1, 0);
	}
	/* Resyncs under way continue; then new ones, most recently active first. */
	for (a = aw.accts; a; a = a->next)
		if (a->rs && a->req == NULL && a->retry_at_ms <= now)
			resync_next(a);
	while (aw.rest_inflight < REST_CONCURRENCY &&
	    budget_weight_take(&aw.budget, 0, aw.budget.weight_share / 10 + 1, now, &wait_ms) == 0 &&
	    (a = resync_pick()) != NULL) {
		resync_begin(a);
		if (a->rs == NULL)
			break;
	}
}

static void
reconcile_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (!aw.stopping)
		accounts_reconcile("reconcile_interval");
}

/* ------------------------------------------------------------- role hooks */

static int
setup_endpoints(const struct config *cfg)
{
	char err[256];
	int e;

	aw.ex = -1;
	for (e = 0; e < cfg->nex; e++)
		if (strcmp(cfg->ex[e].name, EXCHANGE) == 0)
			aw.ex = e;
	if (aw.ex < 0) {
		log_warnx("no [exchange.%s] section: its accounts are not streamed", EXCHANGE);
		return -1;
	}
	if (net_endpoint_parse(cfg->ex[aw.ex].rest_url, &aw.rest, err, sizeof(err)) == -1 ||
	    net_endpoint_parse(cfg->ex[aw.ex].ws_url, &aw.wsep, err, sizeof(err)) == -1) {
		log_warnx("[exchange.%s]: %s", EXCHANGE, err);
		return -1;
	}
	/* Blocking, once per start or reload: lws would resolve inside the loop. */
	if (net_endpoint_resolve(&aw.rest, err, sizeof(err)) == -1 ||
	    net_endpoint_resolve(&aw.wsep, err, sizeof(err)) == -1) {
		log_warnx("[exchange.%s]: %s (will retry at the next reload)", EXCHANGE, err);
		return -1;
	}
	return 0;
}

static void
account_start(struct ev_loop *loop, const struct config *cfg)
{
	char err[256], sock[1024];

	aw.loop = loop;
	aw.cfg = cfg;
	aw.shards = cfg->account_shards;
	aw.rng = ((uint64_t)getpid() << 32) ^ (uint64_t)(clock_real_us() / 1000);
	aw.rl_malformed = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	aw.rl_rest = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	log_info("shard %d of %lld", worker_instance(), (long long)aw.shards);
	aw.endpoints_ok = setup_endpoints(cfg) == 0;
	budget_init(&aw.budget, aw.ex >= 0 ? cfg->ex[aw.ex].rest_weight_budget : 1,
	    aw.ex >= 0 ? cfg->ex[aw.ex].connect_budget : 1, aw.shards);
	if ((aw.net = net_new(loop, aw.ex >= 0 ? cfg->ex[aw.ex].ca_file : NULL, err,
	    sizeof(err))) == NULL)
		worker_fatal(1, "%s", err);
	snprintf(sock, sizeof(sock), "%s/writer.sock", cfg->runtime_dir);
	if ((aw.dp = dp_sender_new(loop, sock, "account", worker_instance(),
	    (size_t)cfg->max_unacked, acct_overflow_cb, NULL)) == NULL)
		worker_fatal(1, "cannot set up the data plane");
	ev_timer_init(&kick_timer, kick_cb, 0., 0.);
	ev_timer_init(&aw.tick, tick_cb, TICK_S, TICK_S);
	ev_timer_start(loop, &aw.tick);
	ev_timer_init(&aw.reconcile_timer, reconcile_cb, (double)cfg->reconcile_interval_ms / 1000.,
	    (double)cfg->reconcile_interval_ms / 1000.);
	ev_timer_start(loop, &aw.reconcile_timer);
	/* Ready once the shard's accounts are loaded, or the database said why not. */
	accounts_reconcile("start");
	worker_ready();
}

static void
account_reconfigure(const struct config *cfg, const struct config *old)
{
	char kerr[512];

	aw.cfg = cfg;
	if (cfg->account_shards != aw.shards)
		log_info("shard %d of %lld (was of %lld)", worker_instance(),
		    (long long)cfg->account_shards, (long long)aw.shards);
	aw.shards = cfg->account_shards;
	aw.endpoints_ok = setup_endpoints(cfg) == 0;
	if (aw.ex >= 0)
		budget_set(&aw.budget, cfg->ex[aw.ex].rest_weight_budget,
		    cfg->ex[aw.ex].connect_budget, aw.shards);
	dp_sender_set_max(aw.dp, (size_t)cfg->max_unacked);
	if (crypto_key_load(cfg->crypto_key_file, aw.key, kerr, sizeof(kerr)) == -1)
		log_error("[crypto] key_file: %s; keeping the key loaded before", kerr);
	else
		aw.have_key = 1;
	if (strcmp(cfg->db_conninfo, old->db_conninfo) != 0 && aw.db) {
		PQfinish(aw.db);
		aw.db = NULL;
	}
	ev_timer_stop(aw.loop, &aw.reconcile_timer);
	ev_timer_set(&aw.reconcile_timer, (double)cfg->reconcile_interval_ms / 1000.,
	    (double)cfg->reconcile_interval_ms / 1000.);
	ev_timer_start(aw.loop, &aw.reconcile_timer);
	/* The reconcile that follows (IPC_RECONCILE) reloads the accounts. */
}

static void
account_reconcile(void)
{
	accounts_reconcile("HUP");
}

static void
pack_counter(msgpack_packer *pk, const char *k, uint64_t v)
{
	mp_kv_u64(pk, k, v);
}

static void
account_status(msgpack_packer *pk)
{
	uint64_t by_state[AS_MAX] = { 0 };
	int64_t now = (clock_real_us() / 1000);
	int want = worker_status_want("accounts"), nconn = 0;
	const struct dp_sender_stats *ds = aw.dp ? dp_sender_stats(aw.dp) : NULL;

	for (struct acct *a = aw.accts; a; a = a->next)
		by_state[a->state]++;
	for (struct group *g = aw.groups; g; g = g->next)
		nconn += (g->cur != NULL) + (g->repl != NULL);
	msgpack_pack_map(pk, 40 + (want ? 1 : 0));
	mp_kv_i64(pk, "shard", worker_instance());
	mp_kv_i64(pk, "shards", aw.shards);
	mp_kv_str(pk, "exchange", EXCHANGE);
	pack_counter(pk, "accounts", aw.naccts);
	mp_str(pk, "accounts_by_state");
	msgpack_pack_map(pk, AS_MAX);
	for (int s = 0; s < AS_MAX; s++)
		mp_kv_u64(pk, acct_state_names[s], by_state[s]);
	pack_counter(pk, "connections", (uint64_t)nconn);
	pack_counter(pk, "connections_open", aw.net ? net_stats(aw.net)->ws_open_now : 0);
	pack_counter(pk, "reconciles", aw.st.reconciles);
	pack_counter(pk, "reconnects", aw.st.reconnects);
	pack_counter(pk, "messages", aw.st.messages);
	pack_counter(pk, "malformed", aw.st.malformed);
	pack_counter(pk, "unknown", aw.st.unknown);
	pack_counter(pk, "unrouted", aw.st.unrouted);
	pack_counter(pk, "duplicates", aw.st.duplicates);
	pack_counter(pk, "events", aw.st.events);
	mp_str(pk, "events_by_type");
	msgpack_pack_map(pk, EV_TYPE_MAX - 1);
	for (int t = 1; t < EV_TYPE_MAX; t++)
		mp_kv_u64(pk, ev_type_name((unsigned)t), aw.st.by_type[t]);
	pack_counter(pk, "renewals_ok", aw.st.renewals_ok);
	pack_counter(pk, "renewals_failed", aw.st.renewals_failed);
	pack_counter(pk, "listen_keys_created", aw.st.keys_created);
	pack_counter(pk, "resyncs_started", aw.st.resyncs_started);
	pack_counter(pk, "resyncs_done", aw.st.resyncs_done);
	pack_counter(pk, "resyncs_failed", aw.st.resyncs_failed);
	pack_counter(pk, "overflow_resyncs", aw.st.overflow_resyncs);
	pack_counter(pk, "quarantines", aw.st.quarantines);
	pack_counter(pk, "margin_calls", aw.st.margin_calls);
	pack_counter(pk, "alerts", aw.st.alerts);
	pack_counter(pk, "alerts_dropped", aw.st.alerts_dropped);
	pack_counter(pk, "silence_kills", aw.st.silence_kills);
	pack_counter(pk, "max_age_rebuilds", aw.st.max_age_rebuilds);
	pack_counter(pk, "rest_requests", aw.st.rest_requests);
	pack_counter(pk, "rest_errors", aw.st.rest_errors);
	pack_counter(pk, "http_429", aw.st.http_429);
	pack_counter(pk, "http_418", aw.st.http_418);
	pack_counter(pk, "rest_weight_spent", aw.budget.weight_spent);
	mp_kv_i64(pk, "rest_weight_minute", budget_minute_used(&aw.budget, now));
	mp_kv_i64(pk, "rest_weight_share", aw.budget.weight_share);
	pack_counter(pk, "connect_attempts", aw.budget.connects);
	pack_counter(pk, "db_errors", aw.st.db_errors);
	pack_counter(pk, "dp_unacked", aw.dp ? dp_sender_unacked(aw.dp) : 0);
	pack_counter(pk, "dp_overflow_drops", ds ? ds->dropped : 0);
	if (!want)
		return;
	mp_str(pk, "rows");
	msgpack_pack_array(pk, (uint32_t)aw.naccts);
	for (struct acct *a = aw.accts; a; a = a->next) {
		msgpack_pack_map(pk, 10);
		mp_kv_i64(pk, "id", a->id);
		mp_kv_i64(pk, "user", a->user_id);
		mp_kv_str(pk, "exchange", EXCHANGE);
		mp_kv_str(pk, "state", acct_state_names[a->state]);
		mp_kv_i64(pk, "since_ms", a->since_ms);
		mp_kv_u64(pk, "reconnects", a->reconnects);
		mp_kv_i64(pk, "last_event_age_ms", a->last_rx_ms ? now - a->last_rx_ms : -1);
		mp_kv_i64(pk, "listen_key_expires_ms", a->listen_key[0] ? a->lk_expires_ms : 0);
		mp_kv_str(pk, "resync", resync_names[a->resync]);
		mp_kv_str(pk, "reason", a->quarantine_reason ? a->quarantine_reason : "");
	}
}

static void
stop_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	/* Wait (briefly) for the writer to ack what we sent; then go. */
	if (aw.dp && dp_sender_unacked(aw.dp) && dp_sender_connected(aw.dp) &&
	    monotonic_ms() < (uint64_t)(uintptr_t)t->data) {
		ev_timer_set(t, 0.05, 0.);
		ev_timer_start(loop, t);
		return;
	}
	if (aw.dp && dp_sender_unacked(aw.dp))
		log_warnx("stopping with %zu events not acknowledged by the writer (they are "
		    "healed by the resync after the restart)", dp_sender_unacked(aw.dp));
	dp_sender_free(aw.dp);
	aw.dp = NULL;
	net_free(aw.net);
	aw.net = NULL;
	if (aw.db)
		PQfinish(aw.db);
	aw.db = NULL;
	crypto_wipe(aw.key, sizeof(aw.key));
	worker_stopped();
}

static void
account_stop(void)
{
	struct acct *a, *next;
	int64_t limit;

	aw.stopping = 1;
	if (aw.loop == NULL) {
		worker_stopped();
		return;
	}
	ev_timer_stop(aw.loop, &aw.tick);
	ev_timer_stop(aw.loop, &aw.reconcile_timer);
	ev_timer_stop(aw.loop, &kick_timer);
	/* Keys are not deleted: another owner may share them (DESIGN §8). */
	for (a = aw.accts; a; a = next) {
		next = a->next;
		acct_free(a);
	}
	while (aw.groups)
		group_free(aw.groups);
	if (time_req) {
		net_http_cancel(time_req);
		time_req = NULL;
	}
	if (aw.dp)
		dp_sender_flush(aw.dp);
	limit = aw.cfg->shutdown_timeout_ms / 2;
	ev_timer_init(&aw.stop_timer, stop_timer_cb, 0., 0.);
	aw.stop_timer.data = (void *)(uintptr_t)(monotonic_ms() + (uint64_t)limit);
	ev_timer_start(aw.loop, &aw.stop_timer);
}

const struct worker_role account_role = {
	"account", account_start, account_reconfigure, account_reconcile, account_status,
	account_stop,
};
