/*
 * account.c: the account worker role.  Instance i of N owns the exchange
 * accounts that account_owns() says are its (DESIGN §2, §8); for each it
 * keeps a listen key alive, carries its user-data stream on a shared
 * /private/stream connection (account_conn.c), heals every gap with a REST
 * resync (resync.c), and sends the normalized events to the writer over the
 * data plane.  This file owns the accounts, their listen keys, the REST
 * requests within the host's budget, and the role's hooks.
 *
 * Per account, a state machine: LISTEN_KEY (obtaining a key) → STREAM
 * (its connection is being opened) → STREAMING, with BACKOFF while its
 * connection waits to reconnect and QUARANTINED when the exchange rejected
 * the API key (-2015) or the credentials do not decrypt.
 *
 * REST requests are scheduled in one place, rest_schedule(), in this order
 * (DESIGN §3.2): new listen keys, due renewals (earliest first), the state
 * steps of resyncs (balances, positions, open orders), new resyncs (most
 * recently active account first), the rest of resyncs.  It runs on every
 * tick and as soon as a request ends, so the host's budget and in-flight
 * limit (budget.c, shared by the host's account workers) are used fully.
 *
 * Order of work in the loop: lws I/O callbacks (frames, REST responses);
 * one tick timer (TICK_S) that runs group maintenance, health checks, the
 * listen key store retries and the scheduler; the reconcile timer;
 * data-plane acks.
 *
 * libpq is used blocking on this loop, for rare short statements only:
 * loading the shard's accounts (start, HUP, reconcile_interval), storing a
 * listen key after POST/PUT, quarantining, and the reads of a resync begin.
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

#include "account.h"
#include "clock.h"
#include "crypto.h"
#include "db.h"
#include "exfeedd.h"
#include "mpack.h"

#define TICK_S			0.25
#define REST_TIMEOUT_MS		15000
/*
 * REST requests of this worker in flight at once.  The host's own limit
 * ([exchange] rest_concurrency, budget.c) is what keeps the requests already
 * on their way when a 429 arrives few; one per worker shares that limit
 * fairly among the host's workers, whose scheduler orders its own.
 */
#define REST_WORKER_INFLIGHT	1
#define REST_RETRY_MIN_MS	1000
#define REST_RETRY_MAX_MS	60000
#define ALERT_MAX		4
#define ALERT_TIMEOUT_S		30.	/* an alert command running longer is killed */
#define DB_RETRY_MS		2000	/* after a failed connect, leave the database alone this long */
#define URGENT_HOLD_MS		3000	/* budget_rest_urgent: said again before it lapses */
#define LOAD_RETRY_MS		5000	/* after a failed load, until one succeeds */
#define KEY_CHECK_SPREAD_MS	30000	/* reused keys are confirmed within this */

static const char *const acct_state_names[AS_MAX] = {
	"listen_key", "stream", "streaming", "backoff", "quarantined"
};

struct account_worker aw;

/* The one place that answers "is this account mine?" (DESIGN §8). */
int account_owns(int64_t account_id);

int
account_owns(int64_t account_id)
{
	return account_id % aw.shards == worker_instance();
}

static void acct_quarantine(struct acct *, const char *reason);

/* ------------------------------------------------------------------ utils */

int64_t
now_ms(void)
{
	return clock_real_us() / 1000;
}

uint32_t
aw_random(void)
{
	uint64_t z = (aw.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

uint64_t
hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *s++) * 0x100000001b3ULL;
	return h;
}

/* Exponential backoff with ±20% jitter. */
int64_t
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
 * parameter replaced by "…".
 */
void
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

struct acct *
acct_by_id(int64_t id)
{
	for (struct acct *a = aw.by_id[id_bucket(id)]; a; a = a->id_next)
		if (a->id == id)
			return a;
	return NULL;
}

struct acct *
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

void
acct_set_state(struct acct *a, int st)
{
	if (a->state == st)
		return;
	log_debug("account %" PRId64 ": %s -> %s", a->id, acct_state_names[a->state],
	    acct_state_names[st]);
	a->state = (uint8_t)st;
	a->since_ms = now_ms();
}

/* ------------------------------------------------------------- events out */

static void
alert_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	pid_t pid = (pid_t)(intptr_t)t->data;

	/* Every wait on something outside the process has a deadline. */
	log_warnx("alert_command (pid %d) still running after %.0f s: killing it", (int)pid,
	    ALERT_TIMEOUT_S);
	kill(pid, SIGKILL);
	aw.st.alerts_killed++;
}

struct alert {
	ev_child	 child;
	ev_timer	 timer;
};

static void
alert_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct alert *al = (struct alert *)w;

	if (WIFEXITED(w->rstatus) && WEXITSTATUS(w->rstatus) != 0)
		log_warnx("alert_command (pid %d) exited with status %d", w->rpid,
		    WEXITSTATUS(w->rstatus));
	else if (WIFSIGNALED(w->rstatus))
		log_warnx("alert_command (pid %d) killed by signal %d", w->rpid,
		    WTERMSIG(w->rstatus));
	ev_child_stop(loop, w);
	ev_timer_stop(loop, &al->timer);
	free(al);
	aw.alerts_running--;
}

/* Run [userdata] alert_command with the event as JSON on stdin; never blocks. */
static void
alert_run(const struct event *ev)
{
	const char *cmd = aw.cfg->alert_command;
	struct alert *al;
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
	if ((al = calloc(1, sizeof(*al))) == NULL || pipe2(p, O_CLOEXEC) == -1) {
		free(al);
		free(json);
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("alert_command: fork");
		close(p[0]);
		close(p[1]);
		free(al);
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
	ev_child_init(&al->child, alert_child_cb, pid, 0);
	ev_child_start(aw.loop, &al->child);
	ev_timer_init(&al->timer, alert_timeout_cb, ALERT_TIMEOUT_S, 0.);
	al->timer.data = (void *)(intptr_t)pid;
	ev_timer_start(aw.loop, &al->timer);
	aw.alerts_running++;
	aw.st.alerts++;
}

void
acct_emit(struct event *ev, void *arg)
{
	struct emit_ctx *ctx = arg;
	struct acct *a = ctx->a;
	int64_t lost;

	if (ev->id[0] == '\0')
		ev_make_id(ev);
	if (ctx->note)
		ctx->note(ev, ctx->note_arg);
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
		    m->maint_margin, m->cross_wallet[0] ? m->cross_wallet : "-");
		alert_run(ev);
	}
	/*
	 * A stream event lost on the data plane is a gap from just before it;
	 * a resync's, from where that resync began (its heal must not stand).
	 */
	lost = ctx->stream ? ev->event_time - 1 : ctx->lost_since_ms;
	/*
	 * The cursor a gap starts from moves only while the stream is whole: a
	 * frame that still comes for a key that expired (or before the new
	 * subscription) does not vouch for what was lost meanwhile (soak seed
	 * 8321: an event injected after the expiry dated the gap after it).
	 */
	if (ctx->stream && a->state == AS_STREAMING && !(a->flags & F_NEED_POST) &&
	    ev->event_time > a->last_event_ms)
		a->last_event_ms = ev->event_time;
	if (ctx->stream && ev->type == EV_ORDER)
		resync_stream_order(a, &ev->u.order);
	a->events++;
	aw.st.events++;
	if ((ctx->valid ? dp_sender_push_valid(aw.dp, ev, lost) :
	    dp_sender_push(aw.dp, ev, lost)) == -1) {
		aw.st.invalid_events++;
		log_warnx_rl(&aw.rl_drops, "account %" PRId64 ": %s event %s not sent (invalid or "
		    "out of memory)", a->id, ev_type_name(ev->type), ev->id);
	}
}

void
acct_drops(const struct acct *a, const char *where, const struct bf_drops *d)
{
	if (d->events == 0 && d->fields == 0)
		return;
	aw.st.events_dropped += d->events;
	aw.st.fields_defaulted += d->fields;
	log_warnx_rl(&aw.rl_drops, "account %" PRId64 ": %s: %u event%s dropped, %u field%s "
	    "defaulted: %s", a->id, where, d->events, d->events == 1 ? "" : "s", d->fields,
	    d->fields == 1 ? "" : "s", d->why);
}

/* ----------------------------------------------------------------- database */

/*
 * The worker's connection, opened or reset when lost (at most every
 * DB_RETRY_MS).  Returns 0 when it is usable, -1 when not; then aw.db_error
 * says why (the last attempt's reason while waiting to try again).
 */
static int
db_ready(void)
{
	char err[512];

	if (aw.db && PQstatus(aw.db) == CONNECTION_OK)
		return 0;
	if (now_ms() < aw.db_retry_ms) {
		if (aw.db_error[0] == '\0')
			snprintf(aw.db_error, sizeof(aw.db_error), "connection lost");
		return -1;
	}
	aw.db_retry_ms = now_ms() + DB_RETRY_MS;
	if (aw.db) {
		PQreset(aw.db);
		if (PQstatus(aw.db) == CONNECTION_OK)
			return 0;
		PQfinish(aw.db);
		aw.db = NULL;
	}
	if ((aw.db = db_connect(aw.cfg->db_conninfo, err, sizeof(err))) == NULL) {
		log_warnx("database: %s", err);
		snprintf(aw.db_error, sizeof(aw.db_error), "%s", err);
		aw.st.db_errors++;
		return -1;
	}
	if (db_schema_check(aw.db, err, sizeof(err)) == -1) {
		if (strstr(err, "exfeedctl db migrate"))
			worker_fatal(EX_CONFIG_STATUS, "%s", err);
		log_warnx("database: %s", err);
		snprintf(aw.db_error, sizeof(aw.db_error), "%s", err);
		PQfinish(aw.db);
		aw.db = NULL;
		aw.st.db_errors++;
		return -1;
	}
	aw.db_error[0] = '\0';
	return 0;
}

/* The worker's database connection, or NULL (then try again later). */
PGconn *account_db(void);

PGconn *
account_db(void)
{
	return db_ready() == 0 ? aw.db : NULL;
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
		budget_rest_done(aw.budget);
	}
	a->op = OP_NONE;
}

/* Signed query: params, recvWindow, timestamp, then the signature, last (FACTS §1.5). */
void
rest_sign(const struct acct *a, const char *path, const char *params, char *out, size_t outlen)
{
	char q[2048], sig[65];
	int n;

	n = snprintf(q, sizeof(q), "%s%srecvWindow=%d&timestamp=%" PRId64, params,
	    *params ? "&" : "", RECV_WINDOW_MS, now_ms() + aw.time_offset_ms);
	crypto_hmac_sha256_hex(a->api_secret, strlen(a->api_secret), q, (size_t)n, sig);
	snprintf(out, outlen, "%s?%s&signature=%s", path, q, sig);
	crypto_wipe(sig, sizeof(sig));
}

static void rest_done_cb(const struct net_http_resp *, void *);

/* The host is busy or blocked, or others go first: ask again then, not at the next tick. */
static void
schedule_in(int64_t wait_ms)
{
	if (wait_ms < TICK_S * 1000 && !ev_is_active(&aw.schedule_timer)) {
		ev_timer_set(&aw.schedule_timer, (double)wait_ms / 1000., 0.);
		ev_timer_start(aw.loop, &aw.schedule_timer);
	}
}

/*
 * Start one REST call for the account if the host's budget allows it now:
 * reserve keeps weight back for listen keys (resyncs pass it, listen keys 0).
 */
int
rest_start(struct acct *a, enum op op, const char *method, const char *path_query,
    int64_t weight, int64_t reserve)
{
	int64_t wait_ms;

	/* A resync's history waits while any worker of the host has urgent work. */
	int deferred = op == OP_RESYNC && resync_phase(a) == 2;

	if (aw.budget == NULL || aw.rest_inflight >= REST_WORKER_INFLIGHT)
		return -1;
	if ((deferred ? budget_rest_take_deferred : budget_rest_take)(aw.budget, weight, reserve,
	    now_ms(), &wait_ms) == -1) {
		schedule_in(wait_ms);
		return -1;
	}
	a->op = (uint8_t)op;
	a->req = net_http(aw.net, &aw.rest, method, path_query, a->api_key, REST_TIMEOUT_MS,
	    rest_done_cb, a);
	if (a->req == NULL) {
		a->op = OP_NONE;
		budget_rest_done(aw.budget);
		return -1;
	}
	net_http_body_max(a->req, bf_rest_body_max(path_query));
	aw.rest_inflight++;
	aw.st.rest_requests++;
	if (op == OP_RESYNC) {
		aw.st.resync_requests++;
		aw.st.resync_weight += (uint64_t)weight;
	}
	return 0;
}

/* The account's next REST request waits: never into the host's Retry-After window. */
void
rest_backoff(struct acct *a)
{
	int64_t now = now_ms(), blocked = budget_rest_blocked_until(aw.budget, now);

	if (a->rest_fails < 30)
		a->rest_fails++;
	a->retry_at_ms = now + backoff_ms(a->rest_fails, REST_RETRY_MIN_MS, REST_RETRY_MAX_MS);
	if (blocked > a->retry_at_ms)
		a->retry_at_ms = blocked;
}

/* ------------------------------------------------------------ listen keys */

void
acct_key_doubt(struct acct *a)
{
	int64_t now = now_ms();

	if (!a->listen_key[0] || (a->flags & F_NEED_POST) ||
	    a->lk_confirmed_ms >= a->frames_lost_ms)
		return;
	a->flags |= F_CHECK_KEY;
	if (a->lk_renew_ms > now)
		a->lk_renew_ms = now;
	aw.st.keys_doubted++;
	rest_schedule_soon();
}

static void
acct_key_changed(struct acct *a, const char *key)
{
	int same = strcmp(a->listen_key, key) == 0;

	keyhash_remove(a);
	snprintf(a->listen_key, sizeof(a->listen_key), "%s", key);
	keyhash_add(a);
	a->lk_confirmed_ms = now_ms();
	a->lk_expires_ms = a->lk_confirmed_ms + LISTEN_KEY_VALIDITY_MS;
	a->lk_renew_ms = a->lk_confirmed_ms + aw.cfg->listenkey_renewal_ms;
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
			a->lk_confirmed_ms = now_ms();
			a->lk_expires_ms = now_ms() + LISTEN_KEY_VALIDITY_MS;
			a->lk_renew_ms = now_ms() + aw.cfg->listenkey_renewal_ms;
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
	rest_backoff(a);
}

/* ------------------------------------------------------- REST responses */

static void
rest_done_cb(const struct net_http_resp *r, void *arg)
{
	struct acct *a = arg;
	enum op op = a->op;
	int64_t now = now_ms();
	char msg[256];
	int code = 0;

	a->req = NULL;
	a->op = OP_NONE;
	aw.rest_inflight--;
	budget_rest_done(aw.budget);
	rest_schedule_soon();
	if (r->used_weight_1m >= 0)
		budget_rest_seen(aw.budget, r->used_weight_1m, now);
	if (r->status == 0) {
		aw.st.rest_errors++;
		addr_suspect(&aw.rest);
		log_warnx_rl(&aw.rl_rest, "account %" PRId64 ": REST call failed: %s", a->id,
		    r->error ? r->error : "?");
		if (op == OP_RESYNC)
			resync_response(a, r, 0);
		else
			rest_backoff(a);
		return;
	}
	if (r->status != 200)
		bf_rest_error(r->body, r->len, &code, msg, sizeof(msg));
	if (r->status == 429 || r->status == 418) {
		int64_t wait_s = budget_retry_after_s(r->status, r->retry_after_s);

		if (r->status == 429)
			aw.st.http_429++;
		else
			aw.st.http_418++;
		/* Every account worker of the host stops until then (DESIGN §3.5). */
		budget_rest_block(aw.budget, now + wait_s * 1000);
		log_warnx("REST %d from the exchange (%s): no request from this host for %" PRId64
		    " s", r->status, r->status == 418 ? "IP banned" : "rate limit", wait_s);
		if (op == OP_RESYNC)
			resync_response(a, r, code);
		else
			rest_backoff(a);
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
	}
	if (r->status != 200 && code != -1125 && code != -2013) {
		aw.st.rest_errors++;
		log_warnx_rl(&aw.rl_rest, "account %" PRId64 ": REST %d, code %d: %s", a->id,
		    r->status, code, msg);
	}
	switch (op) {
	case OP_LK_POST:
	case OP_LK_PUT:
		if (r->status >= 500 || code == -1021)
			rest_backoff(a);
		else
			lk_response(a, op, r, code);
		break;
	case OP_RESYNC:
		resync_response(a, r, code);
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
	budget_rest_done(aw.budget);
	if (r->status == 200 && (p = strstr(r->body, "\"serverTime\":")) != NULL) {
		int64_t server = strtoll(p + 13, NULL, 10), now = now_ms();

		aw.time_offset_ms = server - (time_sent_ms + now) / 2;
		aw.time_sync_needed = 0;
		log_info("clock offset to the exchange: %" PRId64 " ms", aw.time_offset_ms);
	}
}

static int
time_sync(void)
{
	int64_t wait_ms;

	if (time_req || aw.rest_inflight >= REST_WORKER_INFLIGHT ||
	    budget_rest_take(aw.budget, 1, 0, now_ms(), &wait_ms) == -1)
		return -1;
	time_sent_ms = now_ms();
	if ((time_req = net_http(aw.net, &aw.rest, "GET", "/fapi/v1/time", NULL,
	    REST_TIMEOUT_MS, time_done_cb, NULL)) == NULL) {
		budget_rest_done(aw.budget);
		return -1;
	}
	net_http_body_max(time_req, bf_rest_body_max("/fapi/v1/time"));
	aw.rest_inflight++;
	return 0;
}

/* ---------------------------------------------------------- the scheduler */

static int
rest_ready(const struct acct *a, int64_t now)
{
	return a->req == NULL && a->retry_at_ms <= now && a->api_key != NULL &&
	    a->state != AS_QUARANTINED;
}

/* The next account whose request comes first, and what it is. */
enum pick { PICK_NONE, PICK_POST, PICK_PUT, PICK_RESYNC };
#define CLASS_URGENT_LAST	3	/* classes 0-3 (below) go before any history */

static enum pick
rest_pick(struct acct **out, int *out_cls, int64_t now)
{
	struct acct *best = NULL, *a;
	int cls, best_cls = 99, busy = 99;

	/*
	 * Classes, lower first: 0 a new listen key, 1 a due renewal (earliest
	 * first), 2 a resync in its state steps, 3 a resync to begin (most
	 * recently active first), 4 the rest of a resync.
	 */
	for (a = aw.accts; a; a = a->next) {
		/* Urgent work in flight still holds the host's history back. */
		if (a->req != NULL && (a->op == OP_LK_POST || a->op == OP_LK_PUT ||
		    (a->op == OP_RESYNC && a->rs != NULL && resync_phase(a) == 1)))
			busy = 1;
		if (!rest_ready(a, now))
			continue;
		if (a->flags & F_NEED_POST)
			cls = 0;
		else if (a->listen_key[0] && now >= a->lk_renew_ms)
			cls = 1;
		else if (a->rs != NULL && now >= a->resync_not_before_ms)
			cls = resync_phase(a) == 1 ? 2 : 4;
		else if (a->resync == RS_PENDING && a->state == AS_STREAMING &&
		    now >= a->resync_not_before_ms)
			cls = 3;
		else
			continue;
		if (cls < best_cls || (cls == best_cls &&
		    ((cls == 1 && a->lk_renew_ms < best->lk_renew_ms) ||
		    (cls == 3 && a->activity_ms > best->activity_ms)))) {
			best = a;
			best_cls = cls;
		}
	}
	*out = best;
	*out_cls = best_cls < busy ? best_cls : busy;
	switch (best_cls) {
	case 0:
		return PICK_POST;
	case 1:
		return PICK_PUT;
	case 99:
		return PICK_NONE;
	default:
		return PICK_RESYNC;
	}
}

/*
 * Tell the host's other account workers whether this one has urgent
 * requests ready (listen keys, resyncs' state steps): while it has, their
 * resyncs' history waits (budget_rest_take_deferred).  Said again every
 * URGENT_HOLD_MS / 2 while true, so a worker that dies holds nobody long.
 */
static void
urgent_publish(int urgent, int64_t now)
{
	if (aw.budget == NULL)
		return;
	if (urgent && aw.urgent_until_ms - now < URGENT_HOLD_MS / 2) {
		aw.urgent_until_ms = now + URGENT_HOLD_MS;
		budget_rest_urgent(aw.budget, aw.urgent_until_ms);
	} else if (!urgent && aw.urgent_until_ms != 0) {
		aw.urgent_until_ms = 0;
		budget_rest_urgent(aw.budget, 0);
	}
}

static void
rest_schedule(void)
{
	int64_t now = now_ms(), wait_ms;
	struct acct *a;
	enum pick pick;
	int rc, cls;

	if (aw.stopping || !aw.endpoints_ok || !addr_ready() || aw.budget == NULL)
		return;
	if (aw.time_sync_needed)
		time_sync();
	rest_pick(&a, &cls, now);
	urgent_publish(cls <= CLASS_URGENT_LAST, now);
	/* Bounded: every pass either starts a request or stops. */
	for (size_t guard = 0; guard <= aw.naccts * 4 + 8; guard++) {
		if (aw.rest_inflight >= REST_WORKER_INFLIGHT)
			return;
		if (budget_rest_room(aw.budget, 1, 0, now, &wait_ms) == -1) {
			schedule_in(wait_ms);
			return;
		}
		pick = rest_pick(&a, &cls, now);
		urgent_publish(cls <= CLASS_URGENT_LAST, now);
		switch (pick) {
		case PICK_NONE:
			return;
		case PICK_POST:
			if (a->state != AS_LISTEN_KEY)
				acct_set_state(a, AS_LISTEN_KEY);
			if (rest_start(a, OP_LK_POST, "POST", "/fapi/v1/listenKey", 1, 0) == -1)
				return;
			break;
		case PICK_PUT:
			if (rest_start(a, OP_LK_PUT, "PUT", "/fapi/v1/listenKey", 1, 0) == -1)
				return;
			break;
		case PICK_RESYNC:
			if ((rc = resync_step(a)) == -1)
				return;
			/* Nothing to send now (it finished, or waits): it is no longer picked. */
			break;
		}
	}
}

static void
schedule_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	rest_schedule();
}

/* Run the scheduler from the loop, soon: never from inside a callback's caller. */
void
rest_schedule_soon(void)
{
	if (aw.loop && !ev_is_active(&aw.schedule_timer)) {
		ev_timer_set(&aw.schedule_timer, 0., 0.);
		ev_timer_start(aw.loop, &aw.schedule_timer);
	}
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
	free(a);
	aw.naccts--;
}

static struct acct *
acct_new(const struct db_account *d)
{
	struct acct *a;
	int64_t now = now_ms();
	unsigned b;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->id = d->id;
	a->user_id = d->user_id;
	a->since_ms = now;
	a->last_event_ms = d->last_event_time;
	a->activity_ms = d->last_event_time;
	a->orders_floor_ms = INT64_MAX;
	a->state = AS_LISTEN_KEY;
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
	/*
	 * Taking an account over is a gap: from its cursor, or from the start
	 * of an unhealed gap a previous owner left (DESIGN §3.4), whichever is
	 * earlier.  It is recorded before any event of the new stream.
	 */
	acct_gap(a, d->gap_since >= 0 && d->gap_since < d->last_event_time ? d->gap_since :
	    d->last_event_time, d->gap_since >= 0 ? "unhealed gap taken over" : "worker start");
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
accounts_load(const char *why)
{
	struct db_account *rows = NULL;
	size_t n = 0, added = 0, removed = 0, moved = 0, mine = 0, bad = 0;
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
	if (db_ready() == -1) {
		log_warnx("cannot load accounts (%s): database: %s", why, aw.db_error);
		return -1;
	}
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
		if (a->state == AS_QUARANTINED)
			log_info("account %" PRId64 ": quarantine recorded; forgotten until enabled "
			    "again", a->id);
		else if (!account_owns(a->id)) {
			/* account_shards changed: its new owner takes its gaps over. */
			log_info("account %" PRId64 ": now served by account worker %" PRId64
			    " (account_shards = %" PRId64 "); stopped here", a->id, a->id % aw.shards,
			    aw.shards);
			moved++;
		} else {
			log_info("account %" PRId64 ": removed or disabled in the database; stopped",
			    a->id);
			removed++;
		}
		acct_free(a);
	}
	if (added || removed || moved || !aw.loaded)
		log_info("accounts (%s): %zu served, %zu new, %zu stopped, %zu moved to another "
		    "worker", why, aw.naccts, added, removed, moved);
	aw.loaded = 1;
	group_kick();
	rest_schedule_soon();
	return 0;
}

/*
 * accounts_load() for a reason (start, HUP, reconcile_interval); one that
 * failed (the database or the key file unreachable) is tried again every
 * LOAD_RETRY_MS until one succeeds, so that an account added or disabled
 * while PostgreSQL was down is not left waiting for reconcile_interval.
 */
static int
accounts_reconcile(const char *why)
{
	if (accounts_load(why) == -1) {
		if (!aw.reconcile_pending)
			aw.load_retry_ms = now_ms() + LOAD_RETRY_MS;
		aw.reconcile_pending = 1;
		return -1;
	}
	aw.reconcile_pending = 0;
	return 0;
}

/* ------------------------------------------------------------------- tick */

/*
 * Tell the host what this worker's listen keys cost a minute (a PUT of
 * weight 1 per key every listenkey_renewal, rounded up), so that every
 * worker's resyncs leave that much of each minute to renewals (soak seed
 * 1005: 66 keys renewed every 20 s need 198 a minute; a fixed fiftieth of
 * 1800 left 37, and the rest expired at the minute's end).
 */
static void
keys_publish(uint64_t keys)
{
	int64_t per = aw.cfg->listenkey_renewal_ms > 0 ? aw.cfg->listenkey_renewal_ms : 1;
	int64_t w = keys == 0 ? 0 : ((int64_t)keys * 60000 + per - 1) / per;

	/* Said every tick: a budget file opened anew starts without it. */
	if (aw.budget != NULL)
		budget_rest_keys(aw.budget, w);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	int64_t now = now_ms();
	uint64_t keys = 0;
	struct acct *a;

	if (aw.stopping)
		return;
	if ((!aw.loaded || aw.reconcile_pending) && now >= aw.load_retry_ms) {
		aw.load_retry_ms = now + LOAD_RETRY_MS;
		accounts_reconcile("retry");
	}
	groups_maintain();
	for (a = aw.accts; a; a = a->next) {
		if (a->state == AS_QUARANTINED) {
			if (a->flags & F_QUAR_PENDING)
				acct_store_quarantine(a);
			continue;
		}
		keys++;
		if (a->flags & F_STORE_KEY)
			acct_store_key(a);
	}
	keys_publish(keys);
	rest_schedule();
}

static void
reconcile_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (!aw.stopping)
		accounts_reconcile("reconcile_interval");
}

/* ------------------------------------------------------------- role hooks */

/*
 * The exchange's URLs, parsed; their host names are looked up off the loop
 * and again later (account_addr.c): 0 when the accounts can wait for that.
 */
static int
setup_endpoints(const struct config *cfg)
{
	struct net_endpoint rest, ws;
	char err[256];
	int e;

	aw.ex = -1;
	for (e = 0; e < cfg->nex; e++)
		if (strcmp(cfg->ex[e].name, EXCHANGE) == 0)
			aw.ex = e;
	if (aw.ex < 0) {
		log_warnx("no [exchange.%s] section: its accounts are not streamed", EXCHANGE);
		addr_clear();
		return -1;
	}
	if (net_endpoint_parse(cfg->ex[aw.ex].rest_url, &rest, err, sizeof(err)) == -1 ||
	    net_endpoint_parse(cfg->ex[aw.ex].ws_url, &ws, err, sizeof(err)) == -1) {
		log_warnx("[exchange.%s]: %s", EXCHANGE, err);
		addr_clear();
		return -1;
	}
	addr_configure(0, &rest);
	addr_configure(1, &ws);
	return 0;
}

static void
budget_limits_of(const struct config *cfg, struct budget_limits *l)
{
	l->weight_1m = aw.ex >= 0 ? cfg->ex[aw.ex].rest_weight_budget : 1;
	l->connects_5m = aw.ex >= 0 ? cfg->ex[aw.ex].connect_budget : 1;
	l->inflight = aw.ex >= 0 ? (int)cfg->ex[aw.ex].rest_concurrency : 1;
}

/* The host's budget file for this exchange, shared by the host's account workers. */
static void
budget_setup(const struct config *cfg)
{
	struct budget_limits l;
	char path[1024], err[256];
	int how;

	budget_limits_of(cfg, &l);
	snprintf(path, sizeof(path), "%s/budget-%s", cfg->runtime_dir, EXCHANGE);
	if ((aw.budget = budget_open(path, worker_instance(), &l, &how, err, sizeof(err))) == NULL)
		worker_fatal(1, "REST budget: %s", err);
	if (how == BUDGET_OPEN_RESET)
		log_info("REST budget %s: re-initialised (another version, or a broken lock)",
		    path);
	if (budget_rest_blocked_until(aw.budget, now_ms()) > 0)
		log_warnx("REST budget: the host is blocked for %" PRId64 " s more (a 429 or 418 "
		    "before this worker started); waiting",
		    (budget_rest_blocked_until(aw.budget, now_ms()) - now_ms()) / 1000);
}

static void
account_start(struct ev_loop *loop, const struct config *cfg)
{
	char err[256], sock[1024];

	aw.loop = loop;
	aw.cfg = cfg;
	aw.shards = cfg->account_shards;
	aw.rng = ((uint64_t)getpid() << 32) ^ (uint64_t)now_ms();
	aw.rl_malformed = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	aw.rl_rest = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	aw.rl_drops = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	aw.rl_connect = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 10);
	log_info("shard %d of %lld", worker_instance(), (long long)aw.shards);
	addr_init();
	aw.endpoints_ok = setup_endpoints(cfg) == 0;
	budget_setup(cfg);
	/*
	 * The supervisor checked ca_file as it started; the workers run as
	 * [daemon] user, which may not read it: that is the configuration's
	 * fault (exit 78, not a crash loop).
	 */
	if (aw.ex >= 0 && *cfg->ex[aw.ex].ca_file &&
	    crypto_ca_file_check(cfg->ex[aw.ex].ca_file, err, sizeof(err)) == -1)
		worker_fatal(EX_CONFIG_STATUS, "[exchange.%s] ca_file: %s (as user %s)",
		    cfg->ex[aw.ex].name, err, cfg->user);
	if ((aw.net = net_new(loop, aw.ex >= 0 ? cfg->ex[aw.ex].ca_file : NULL, err,
	    sizeof(err))) == NULL)
		worker_fatal(1, "%s", err);
	snprintf(sock, sizeof(sock), "%s/writer.sock", cfg->runtime_dir);
	if ((aw.dp = dp_sender_new(loop, sock, "account", worker_instance(),
	    (size_t)cfg->max_unacked, acct_overflow_cb, NULL)) == NULL)
		worker_fatal(1, "cannot set up the data plane");
	conn_init();
	ev_timer_init(&aw.schedule_timer, schedule_cb, 0., 0.);
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
	struct budget_limits l;
	char kerr[512];

	aw.cfg = cfg;
	if (cfg->account_shards != aw.shards)
		log_info("shard %d of %lld (was of %lld)", worker_instance(),
		    (long long)cfg->account_shards, (long long)aw.shards);
	aw.shards = cfg->account_shards;
	aw.endpoints_ok = setup_endpoints(cfg) == 0;
	budget_limits_of(cfg, &l);
	if (aw.budget)
		budget_set_limits(aw.budget, &l);
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
account_status(msgpack_packer *pk)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} counters[] = {
#define C(f)	{ #f, offsetof(struct account_worker, st.f) }
		C(reconciles), C(reconnects), C(messages), C(malformed), C(unknown), C(unrouted),
		C(duplicates), C(events), C(events_dropped), C(fields_defaulted),
		C(invalid_events), C(renewals_ok), C(renewals_failed), C(keys_doubted),
		{ "listen_keys_created", offsetof(struct account_worker, st.keys_created) },
		C(resyncs_started), C(resyncs_done), C(resyncs_failed), C(resync_requests),
		C(resync_weight), C(resync_rows_dropped), C(resync_rows_superseded), C(resync_restates),
		C(resync_items_skipped), C(resyncs_incomplete),
		C(gaps_opened), C(gaps_healed), C(overflow_resyncs), C(quarantines),
		C(margin_calls), C(alerts), C(alerts_dropped), C(alerts_killed), C(silence_kills),
		C(subscribe_timeouts), C(probes), C(drains), C(drains_failed), C(max_age_rebuilds),
		C(max_age_deferred), C(rest_requests),
		C(rest_errors), C(http_429), C(http_418), C(db_errors),
		C(address_lookups), C(address_lookup_failures), C(address_changes),
#undef C
	};
	uint64_t by_state[AS_MAX] = { 0 }, resync_pending = 0, resync_running = 0;
	int64_t now = now_ms();
	int want = worker_status_want("accounts");
	const struct dp_sender_stats *ds = aw.dp ? dp_sender_stats(aw.dp) : NULL;
	struct budget_stats bs;
	size_t nc = sizeof(counters) / sizeof(counters[0]);
	const char *wait;

	memset(&bs, 0, sizeof(bs));
	if (aw.budget)
		budget_stats(aw.budget, now, &bs);
	for (struct acct *a = aw.accts; a; a = a->next) {
		by_state[a->state]++;
		resync_pending += a->resync == RS_PENDING;
		resync_running += a->resync == RS_RUNNING;
	}
	msgpack_pack_map(pk, (uint32_t)(nc + 27 + (want ? 1 : 0)));
	mp_kv_i64(pk, "shard", worker_instance());
	mp_kv_i64(pk, "shards", aw.shards);
	mp_kv_str(pk, "exchange", EXCHANGE);
	mp_kv_u64(pk, "accounts", aw.naccts);
	mp_str(pk, "accounts_by_state");
	msgpack_pack_map(pk, AS_MAX);
	for (int s = 0; s < AS_MAX; s++)
		mp_kv_u64(pk, acct_state_names[s], by_state[s]);
	mp_kv_u64(pk, "resyncs_pending", resync_pending);
	mp_kv_u64(pk, "resyncs_running", resync_running);
	mp_kv_u64(pk, "connections", (uint64_t)groups_count_connections());
	mp_kv_u64(pk, "connections_open", aw.net ? net_stats(aw.net)->ws_open_now : 0);
	for (size_t i = 0; i < nc; i++)
		mp_kv_u64(pk, counters[i].name,
		    *(const uint64_t *)(const void *)((const char *)&aw + counters[i].off));
	mp_str(pk, "events_by_type");
	msgpack_pack_map(pk, EV_TYPE_MAX - 1);
	for (int t = 1; t < EV_TYPE_MAX; t++)
		mp_kv_u64(pk, ev_type_name((unsigned)t), aw.st.by_type[t]);
	mp_kv_i64(pk, "rest_inflight", aw.rest_inflight);
	mp_kv_i64(pk, "host_rest_inflight", bs.inflight);
	mp_kv_i64(pk, "host_rest_weight_minute", bs.minute_used);
	mp_kv_i64(pk, "host_rest_weight_seen", bs.minute_seen);
	mp_kv_i64(pk, "host_rest_blocked_ms", bs.blocked_until_ms > now ?
	    bs.blocked_until_ms - now : 0);
	mp_kv_u64(pk, "host_rest_weight_spent", bs.weight_spent);
	mp_kv_u64(pk, "host_rest_refused", bs.rest_refused);
	mp_kv_u64(pk, "host_rest_blocks", bs.blocks);
	mp_kv_i64(pk, "host_connects_5m", bs.connects_5m);
	mp_kv_u64(pk, "rest_weight_spent", bs.own_weight_spent);
	mp_kv_u64(pk, "dp_unacked", aw.dp ? dp_sender_unacked(aw.dp) : 0);
	mp_kv_u64(pk, "dp_overflow_drops", ds ? ds->dropped : 0);
	mp_kv_u64(pk, "dp_invalid", ds ? ds->invalid : 0);
	addr_status(pk);
	if (!want)
		return;
	wait = aw.endpoints_ok ? addr_waiting() : NULL;
	mp_str(pk, "rows");
	msgpack_pack_array(pk, (uint32_t)aw.naccts);
	for (struct acct *a = aw.accts; a; a = a->next) {
		msgpack_pack_map(pk, 12);
		mp_kv_i64(pk, "id", a->id);
		mp_kv_i64(pk, "user", a->user_id);
		mp_kv_str(pk, "exchange", EXCHANGE);
		mp_kv_str(pk, "state", acct_state_names[a->state]);
		mp_kv_i64(pk, "since_ms", a->since_ms);
		mp_kv_u64(pk, "reconnects", a->reconnects);
		mp_kv_i64(pk, "last_event_age_ms", a->last_rx_ms ? now - a->last_rx_ms : -1);
		mp_kv_i64(pk, "listen_key_expires_ms", a->listen_key[0] ? a->lk_expires_ms : 0);
		mp_kv_str(pk, "resync", resync_state_name(a));
		mp_kv_i64(pk, "state_healed_ms", a->state_healed_ms);
		mp_kv_i64(pk, "resync_done_ms", a->resync_done_ms);
		mp_kv_str(pk, "reason", a->quarantine_reason ? a->quarantine_reason :
		    a->state != AS_QUARANTINED && a->state != AS_STREAMING && wait ? wait : "");
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
	budget_close(aw.budget);
	aw.budget = NULL;
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
	ev_timer_stop(aw.loop, &aw.schedule_timer);
	addr_stop();
	/* Keys are not deleted: another owner may share them (DESIGN §8). */
	for (a = aw.accts; a; a = next) {
		next = a->next;
		acct_free(a);
	}
	groups_free();
	if (time_req) {
		net_http_cancel(time_req);
		time_req = NULL;
		budget_rest_done(aw.budget);
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
