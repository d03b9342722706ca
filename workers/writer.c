/*
 * writer.c: the DB-writer role, the single owner of durability (DESIGN §2-3).
 * Senders (account and market workers) connect to <runtime_dir>/writer.sock
 * and stream numbered events; the writer lands them in PostgreSQL in group
 * commits over one non-blocking libpq connection on the libev loop, and acks
 * each sender's highest sequence number only once its events are committed.
 *
 * Order of work: events from a frame go into the open batch (writer_sql.c
 * gathers their rows); the open batch is sealed when it holds batch_size
 * events, or when the database is free: at once if the batch formed while
 * a commit was in flight, else once its oldest event has waited
 * flush_interval, unless events are too sparse for waiting to merge any
 * (batch_due).  Sealed batches are sent one at a time, in order, each as
 * the prepared statements of its tables (writer_sql.c) back to back and a
 * pipeline sync: one round trip, one implicit transaction, and the server
 * neither parses nor plans a batch (planning cost more than running the
 * upserts of a small batch).  While the database is away, batches wait
 * (bounded; past the bound the writer stops reading from senders, who keep
 * their un-acked events) and are sent whole on the next connection: the
 * upserts are idempotent.
 *
 * Market data (EV_IS_MARKET) never enters event_log.  A closed kline joins
 * the open batch as a klines row (writer_sql.c), is acked with it and is
 * published to Kafka once it committed; every other market event (an open
 * kline too) is published at once on the relay's producer (relay_market)
 * and acked without waiting for PostgreSQL.  Acks are cumulative, so a
 * market event that follows a sender's un-committed event (a closed kline,
 * or anything a batch holds for it) is acked by that event's batch, not
 * before it: what the sender forgets is always committed or replaceable.
 * The market worker sends closed klines only (it publishes the rest on its
 * own producer, workers/market_kafka.c); any sender may send the others.
 *
 * The gateway's feed (gwfeed.h): every event that has a client channel
 * (gw_msg.h) is packed into its batch as it is gathered and sent to
 * <runtime_dir>/gateway.sock once the batch committed, in commit order;
 * market events without a row go at once, as they go to Kafka.  While the
 * gateway is away, or past WR_GW_HELD_MAX bytes held in uncommitted
 * batches, events are not kept but counted as lost (the gateway then
 * resnapshots its clients from PostgreSQL).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"
#include "event.h"
#include "exfeedd.h"
#include "gw_msg.h"
#include "gwfeed.h"
#include "hist.h"
#include "relay.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "mpack.h"
#include "writer_sql.h"
#include "clock.h"

#define WR_PEERS_MAX		1024
#define WR_QUEUE_MIN		10000		/* events waiting, at least ... */
#define WR_QUEUE_CAP		200000		/* ... and at most */
#define WR_CONNECT_TIMEOUT_S	10.
#define WR_BACKOFF_FIRST_MS	50
#define WR_STABLE_MS		1000		/* a connection this old resets the backoff */
#define WR_ROLE_LEN		16
#define WR_GW_QUEUE		(4u * 1024 * 1024)	/* unsent bytes to the gateway, at most */
#define WR_GW_HELD_MAX		(32u * 1024 * 1024)	/* packed for the gateway, not yet committed */

/* One sending process, known by (role, instance, pid); survives its reconnects. */
struct sender {
	struct sender	*next;
	char		 role[WR_ROLE_LEN];
	int64_t		 instance;
	int64_t		 pid;
	uint64_t	 queued;	/* highest seq taken into a batch */
	uint64_t	 acked;		/* highest seq committed (and acked) */
	struct peer	*peer;		/* its connection now, or NULL */
	struct batch	*batch;		/* the newest batch that acks it, until it commits */
};

struct peer {
	struct peer	*next;
	struct ipc_conn	*c;
	struct sender	*s;		/* NULL until HELLO */
};

struct batch_ack {
	struct sender	*s;
	uint64_t	 seq;
};

struct batch {
	struct batch	*next;
	struct wsql_batch *stmts;	/* set when sealed */
	size_t		 n;
	int64_t		*recv_us;	/* per event, for the latency histogram */
	size_t		 recv_cap;
	struct batch_ack *acks;
	size_t		 nacks, acks_cap;
	uint64_t	 per_type[EV_TYPE_MAX];
	struct event	*klines;	/* closed klines, published once committed */
	size_t		 nklines, klines_cap;
	int64_t		 first_us;	/* monotonic, when its first event came */
	unsigned	 failures;	/* SQL errors so far */
	int		 waited;	/* it waited for more events (batch_due) */
	int		 began_idle;	/* its first event came with the database idle */
	msgpack_sbuffer	 gw;		/* its events for the gateway, ev_pack'ed back to back */
	size_t		 ngw;
};

enum db_state { DB_DOWN, DB_CONNECTING, DB_READY };
enum inflight { IF_NONE, IF_BATCH, IF_RELAY };

static struct {
	struct ev_loop	*loop;
	struct wsql	*rows;		/* of the open batch */
	struct batch	*open;
	struct batch	*sealed, **sealed_tail;
	size_t		 pending;	/* events in the open and sealed batches */
	size_t		 queue_max;
	int		 paused;
	int		 stopping;

	int		 listen_fd;
	char		 sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ev_io		 accept_io;
	struct peer	*peers;
	size_t		 npeers, nsenders_live;
	struct sender	*senders;

	/* PostgreSQL */
	PGconn		*conn;
	enum db_state	 state;
	ev_io		 db_io;
	int		 db_io_events;
	ev_timer	 db_retry;	/* reconnect, or resend after an SQL error */
	ev_timer	 db_timeout;	/* connect timeout */
	ev_timer	 flush;
	ev_timer	 stop_deadline;
	int		 inflight;	/* enum inflight: a batch (the head of sealed) or a relay job */
	int		 last_relay;	/* the last thing sent was a relay job */
	int		 stmt;		/* the batch statement whose results come next */
	int		 hold;		/* wait for db_retry before sending again */
	int		 reconnect_wanted;	/* conninfo changed: once idle */
	unsigned	 fail_count;
	uint64_t	 connected_ms;
	uint64_t	 sent_us;
	int		 down_logged;
	char		 last_error[256];
	char		 batch_error[256];

	/* metrics */
	uint64_t	 committed[EV_TYPE_MAX];
	uint64_t	 events_committed, batches, reconnects, sql_errors, peers_dropped;
	uint64_t	 resent;	/* events received again, not re-applied */
	uint64_t	 rejected;	/* events that failed validation, skipped alone */
	uint64_t	 mkt_received[EV_TYPE_MAX];	/* market events taken, by type */
	uint64_t	 mkt_acked_now;	/* market events acked without a batch */
	uint64_t	 klines_committed;	/* closed klines upserted (committed) */
	size_t		 last_batch;
	uint64_t	 last_batch_us;
	struct hist	 lat;		/* sender's receipt → COMMIT, µs */
	struct hist	 commit_lat;	/* a batch sent → its COMMIT answered, µs */
	uint64_t	 merged;	/* batches sealed after waiting flush_interval for more */
	uint64_t	 sparse;	/* batches sealed at once: events too sparse to wait for */

	/* The arrival of events (loop time, µs), for whether waiting merges any. */
	int64_t		 last_event_us;
	int64_t		 gap_us;	/* moving mean of the gaps between events */

	struct gw_feed_sender *gw;	/* the gateway's feed */
	size_t		 gw_held;	/* bytes packed in uncommitted batches */
} wr = { .listen_fd = -1 };

static struct log_ratelimit peer_rl = LOG_RATELIMIT_INIT(10000, 5);
static struct log_ratelimit sql_rl = LOG_RATELIMIT_INIT(10000, 3);
static struct log_ratelimit pause_rl = LOG_RATELIMIT_INIT(60000, 3);
static struct log_ratelimit reject_rl = LOG_RATELIMIT_INIT(10000, 5);

static void	writer_kick(void);
static void	db_connect_start(void);
static void	db_lost(const char *why);

/* ------------------------------------------------------------------ helpers */

/* libpq messages end in a newline and may span lines: one line for the log. */
static void
pq_reason(char *dst, size_t len, const char *msg)
{
	size_t n = 0;

	for (const char *p = msg ? msg : ""; *p && n + 1 < len; p++) {
		char c = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;

		if (c != ' ' || (n > 0 && dst[n - 1] != ' '))
			dst[n++] = c;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
	if (n == 0)
		snprintf(dst, len, "unknown error");
}

/* -------------------------------------------------------------- the queue */

static struct batch *
batch_new(void)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (b == NULL)
		fatal(1, "writer: out of memory");
	return b;
}

static void
batch_free(struct batch *b)
{
	wsql_batch_free(b->stmts);
	free(b->recv_us);
	free(b->acks);
	free(b->klines);
	wr.gw_held -= b->gw.size;
	msgpack_sbuffer_destroy(&b->gw);
	free(b);
}

/*
 * An event of the batch for the gateway, if it has a client channel: kept
 * packed until the batch commits, or counted as lost at once when the
 * gateway is away or too much is held already.
 */
static void
batch_note_gw(struct batch *b, const struct event *ev)
{
	msgpack_packer pk;
	size_t before = b->gw.size;

	if (wr.gw == NULL || gw_channel_of(ev) == GW_CH_NONE)
		return;
	if (!gw_feed_sender_connected(wr.gw) || wr.gw_held >= WR_GW_HELD_MAX) {
		gw_feed_lost(wr.gw, 1);
		return;
	}
	msgpack_packer_init(&pk, &b->gw, msgpack_sbuffer_write);
	ev_pack(&pk, ev);
	wr.gw_held += b->gw.size - before;
	b->ngw++;
}

/* The batch acks s up to seq when it commits (senders' events come in order). */
static void
batch_note_ack(struct batch *b, struct sender *s, uint64_t seq)
{
	size_t i;

	for (i = 0; i < b->nacks; i++)
		if (b->acks[i].s == s)
			break;
	if (i == b->nacks) {
		if (b->nacks == b->acks_cap) {
			size_t ncap = b->acks_cap ? b->acks_cap * 2 : 8;
			struct batch_ack *na = realloc(b->acks, ncap * sizeof(*na));

			if (na == NULL)
				fatal(1, "writer: out of memory");
			b->acks = na;
			b->acks_cap = ncap;
		}
		b->acks[b->nacks++].s = s;
	}
	b->acks[i].seq = seq;
	s->batch = b;
}

/* A closed kline of the batch, to publish when it commits. */
static void
batch_note_kline(struct batch *b, const struct event *ev)
{
	if (b->nklines == b->klines_cap) {
		size_t ncap = b->klines_cap ? b->klines_cap * 2 : 16;
		struct event *nk = realloc(b->klines, ncap * sizeof(*nk));

		if (nk == NULL)
			fatal(1, "writer: out of memory");
		b->klines = nk;
		b->klines_cap = ncap;
	}
	b->klines[b->nklines++] = *ev;		/* a kline owns no memory */
}

static void
batch_note(struct batch *b, struct sender *s, const struct event *ev)
{
	int64_t now;

	if (b->n == b->recv_cap) {
		size_t ncap = b->recv_cap ? b->recv_cap * 2 : 256;
		int64_t *nr = realloc(b->recv_us, ncap * sizeof(*nr));

		if (nr == NULL)
			fatal(1, "writer: out of memory");
		b->recv_us = nr;
		b->recv_cap = ncap;
	}
	now = (int64_t)(ev_now(wr.loop) * 1e6);
	if (b->n == 0) {
		b->first_us = now;
		b->began_idle = wr.inflight == IF_NONE && wr.sealed == NULL;
	}
	/*
	 * The mean gap between events, over about the last 16 (batch_due).  A
	 * gap counts as at most twice flush_interval: enough for a sparse
	 * stream's mean to pass flush_interval, while one idle pause does not
	 * make the trickle after it look sparse.
	 */
	if (wr.last_event_us > 0) {
		int64_t gap = now - wr.last_event_us;
		int64_t cap = 2 * worker_config()->db_flush_interval_ms * 1000;

		if (gap > cap)
			gap = cap;
		wr.gap_us += (gap - wr.gap_us) / 16;
	}
	wr.last_event_us = now;
	b->recv_us[b->n++] = ev->recv_us;
	b->per_type[ev->type]++;
	batch_note_ack(b, s, ev->seq);
}

/* Seal the open batch: one with events, or one that only acks rejected events. */
static void
batch_seal(void)
{
	struct batch *b = wr.open;

	if (b->n == 0 && b->nacks == 0)
		return;
	if (b->waited)
		wr.merged++;
	if ((b->stmts = wsql_seal(wr.rows)) == NULL)
		fatal(1, "writer: out of memory building a batch of %zu events", b->n);
	wsql_reset(wr.rows);
	*wr.sealed_tail = b;
	wr.sealed_tail = &b->next;
	wr.open = batch_new();
}

static size_t
queue_max(void)
{
	size_t n = (size_t)worker_config()->db_batch_size * 4 *
	    (wr.nsenders_live > 0 ? wr.nsenders_live : 1);

	if (n < WR_QUEUE_MIN)
		n = WR_QUEUE_MIN;
	if (n > WR_QUEUE_CAP)
		n = WR_QUEUE_CAP;
	return n;
}

/* Back-pressure: stop reading from every sender while the queue is full. */
static void
writer_pause(int on)
{
	if (on == wr.paused)
		return;
	wr.paused = on;
	for (struct peer *p = wr.peers; p; p = p->next)
		ipc_pause(p->c, on);
	/* Under a burst this flips often: the first few say it, then a count. */
	if (on)
		log_warnx_rl(&pause_rl, "%zu events wait for the database (limit %zu): not "
		    "reading from senders until they are committed", wr.pending, wr.queue_max);
	else
		log_debug("%zu events wait for the database: reading from senders again",
		    wr.pending);
}

static void
writer_check_queue(void)
{
	wr.queue_max = queue_max();
	if (!wr.paused && wr.pending >= wr.queue_max)
		writer_pause(1);
	else if (wr.paused && wr.pending <= wr.queue_max / 2)
		writer_pause(0);
}

/* ------------------------------------------------------------- the senders */

static struct sender *
sender_get(const char *role, int64_t instance, int64_t pid)
{
	struct sender *s;

	for (s = wr.senders; s; s = s->next)
		if (s->instance == instance && s->pid == pid && strcmp(s->role, role) == 0)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal(1, "writer: out of memory");
	snprintf(s->role, sizeof(s->role), "%s", role);
	s->instance = instance;
	s->pid = pid;
	s->next = wr.senders;
	wr.senders = s;
	return s;
}

/*
 * A sender that is gone and has nothing in flight is forgotten.  Should the
 * same process come back, its resent events are applied again: harmless.
 */
static void
sender_gc(void)
{
	struct sender **sp = &wr.senders;

	while (*sp) {
		struct sender *s = *sp;

		if (s->peer == NULL && s->acked >= s->queued) {
			*sp = s->next;
			free(s);
		} else
			sp = &s->next;
	}
}

static void
peer_ack(struct peer *p, uint64_t seq)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_kv_u64(&pk, "seq", seq);
	ipc_send_sbuf(p->c, IPC_DP_ACK, &sb);	/* may drop p */
	msgpack_sbuffer_destroy(&sb);
}

static void
peer_close_cb(struct ipc_conn *c, const char *why, void *arg)
{
	struct peer *p = arg, **pp;
	char who[64];

	if (p->s)
		snprintf(who, sizeof(who), "%s %" PRId64 " (pid %" PRId64 ")", p->s->role,
		    p->s->instance, p->s->pid);
	else
		snprintf(who, sizeof(who), "a sender before HELLO");
	if (wr.stopping)
		log_debug("data plane: closing %s", who);
	else if (strcmp(why, "end of file") == 0)
		log_info("data plane: %s disconnected", who);
	else {
		wr.peers_dropped++;
		log_warnx_rl(&peer_rl, "data plane: dropping %s: %s", who, why);
	}
	if (p->s) {
		if (p->s->peer == p)
			p->s->peer = NULL;
		wr.nsenders_live--;
	}
	for (pp = &wr.peers; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	wr.npeers--;
	free(p);
	sender_gc();
}

static void
peer_hello(struct peer *p, const msgpack_object *body)
{
	struct ipcmsg_dp_hello m;
	struct peer *old;
	struct sender *s;
	const char *what;

	if (p->s != NULL) {
		ipc_drop(p->c, "HELLO twice");
		return;
	}
	if (ipcmsg_dp_hello(body, &m, &what) == -1) {
		ipc_drop(p->c, what);
		return;
	}
	s = sender_get(m.role, m.instance, m.pid);
	old = s->peer;
	s->peer = p;
	p->s = s;
	wr.nsenders_live++;
	/* Taken over first, so that dropping the old one cannot forget s. */
	if (old != NULL)
		ipc_drop(old->c, "replaced by a new connection from the same sender");
	log_info("data plane: %s %" PRId64 " (pid %" PRId64 ") connected%s", m.role, m.instance,
	    m.pid, s->acked ? ", resuming" : "");
	/* It resends everything un-acked: tell it at once what is already safe. */
	if (s->acked > 0)
		peer_ack(p, s->acked);
	writer_check_queue();
}

static void
peer_events(struct peer *p, const msgpack_object *body)
{
	const msgpack_object *arr;
	struct sender *s = p->s;
	int reack = 0, ack_now = 0;
	struct event ev;
	const char *err;
	char why[300];

	if (s == NULL) {
		ipc_drop(p->c, "EVENTS before HELLO");
		return;
	}
	if (ipcmsg_dp_events(body, &arr, &err) == -1) {
		ipc_drop(p->c, err);
		return;
	}
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		if (ev_unpack(&arr->via.array.ptr[i], &ev, &err) == -1) {
			/*
			 * One bad event costs only itself (DESIGN §3.6): skip it, and
			 * ack past it with the batch it would have joined.  Only an
			 * event without a usable sequence number breaks the protocol.
			 */
			if (ev.seq == 0) {
				snprintf(why, sizeof(why), "event %u of the frame: %s", i, err);
				goto bad;
			}
			if (ev.seq > s->queued) {
				wr.rejected++;
				log_warnx_rl(&reject_rl, "data plane: %s %" PRId64 " (pid %" PRId64 "): "
				    "event seq %" PRIu64 " rejected and skipped: %s", s->role,
				    s->instance, s->pid, ev.seq, err);
				batch_note_ack(wr.open, s, ev.seq);
				s->queued = ev.seq;
			} else
				wr.resent++;
			continue;
		}
		if (ev.seq == 0) {
			ev_clear(&ev);
			snprintf(why, sizeof(why), "event %u of the frame: seq 0", i);
			goto bad;
		}
		if (ev.seq <= s->queued) {
			/* Resent after a reconnect: already in a batch, or committed. */
			wr.resent++;
			if (ev.seq <= s->acked)
				reack = 1;
			ev_clear(&ev);
			continue;
		}
		if (EV_IS_MARKET(ev.type))
			wr.mkt_received[ev.type]++;
		if (!wsql_stored(&ev)) {
			/*
			 * Market data without a row: out now, acked now, unless
			 * the sender has events a batch holds still; then that
			 * batch acks this one too when it commits.
			 */
			relay_market(&ev);
			if (wr.gw != NULL && gw_channel_of(&ev) != GW_CH_NONE)
				gw_feed_send(wr.gw, &ev);
			s->queued = ev.seq;
			if (s->batch != NULL)
				batch_note_ack(s->batch, s, ev.seq);
			else {
				s->acked = ev.seq;
				ack_now = 1;
				wr.mkt_acked_now++;
			}
			ev_clear(&ev);
			continue;
		}
		if (wsql_add(wr.rows, &ev) == -1)
			fatal(1, "writer: out of memory adding an event");
		batch_note_gw(wr.open, &ev);
		if (ev.type == EV_KLINE)
			batch_note_kline(wr.open, &ev);
		batch_note(wr.open, s, &ev);
		s->queued = ev.seq;
		wr.pending++;
		ev_clear(&ev);
		if (wr.open->n >= (size_t)worker_config()->db_batch_size)
			batch_seal();
	}
	if (reack || ack_now)
		peer_ack(p, s->acked);	/* may drop p: nothing after this uses it */
	writer_check_queue();
	writer_kick();
	return;
bad:
	/* The events before the bad one stay queued: they are good, and numbered. */
	ipc_drop(p->c, why);
	writer_check_queue();
	writer_kick();
}

static void
peer_msg_cb(struct ipc_conn *c, const struct ipc_hdr *h, const msgpack_object *body, void *arg)
{
	struct peer *p = arg;

	if (wr.stopping)
		return;
	if (h->type == IPC_DP_HELLO)
		peer_hello(p, body);
	else if (h->type == IPC_DP_EVENTS)
		peer_events(p, body);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p;
	int fd;

	while ((fd = accept4(wr.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		if (wr.npeers >= WR_PEERS_MAX) {
			log_warnx_rl(&peer_rl, "data plane: %d senders connected already; "
			    "refusing another", WR_PEERS_MAX);
			close(fd);
			continue;
		}
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			close(fd);
			continue;
		}
		p->c = ipc_conn_new(loop, fd, "data-plane sender", IPC_ACCEPT_WRITER,
		    peer_msg_cb, peer_close_cb, p);
		if (p->c == NULL) {
			close(fd);
			free(p);
			continue;
		}
		p->next = wr.peers;
		wr.peers = p;
		wr.npeers++;
		if (wr.paused)
			ipc_pause(p->c, 1);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("data plane: accept");
}

static int
writer_listen(const char *runtime_dir, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t um;
	int fd;

	if ((size_t)snprintf(wr.sock_path, sizeof(wr.sock_path), "%s/writer.sock",
	    runtime_dir) >= sizeof(wr.sock_path) || ipc_unix_addr(wr.sock_path, &sun) == -1) {
		snprintf(err, errlen, "%s/writer.sock: path too long for a Unix socket",
		    runtime_dir);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* A stale socket of a previous writer (we are the only writer). */
	if (unlink(wr.sock_path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s: %s", wr.sock_path, strerror(errno));
		close(fd);
		return -1;
	}
	um = umask(077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(um);
		snprintf(err, errlen, "bind %s: %s", wr.sock_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(um);
	if (chmod(wr.sock_path, 0600) == -1 || listen(fd, 128) == -1) {
		snprintf(err, errlen, "%s: %s", wr.sock_path, strerror(errno));
		close(fd);
		unlink(wr.sock_path);
		return -1;
	}
	wr.listen_fd = fd;
	ev_io_init(&wr.accept_io, accept_cb, fd, EV_READ);
	ev_io_start(wr.loop, &wr.accept_io);
	return 0;
}

static void
writer_unlisten(void)
{
	if (wr.listen_fd == -1)
		return;
	ev_io_stop(wr.loop, &wr.accept_io);
	close(wr.listen_fd);
	wr.listen_fd = -1;
	unlink(wr.sock_path);
}

/* ------------------------------------------------------------- PostgreSQL */

static void
db_watch(int events)
{
	int fd = PQsocket(wr.conn);

	if (ev_is_active(&wr.db_io) && wr.db_io.fd == fd && wr.db_io_events == events)
		return;
	ev_io_stop(wr.loop, &wr.db_io);
	if (fd < 0)
		return;
	ev_io_set(&wr.db_io, fd, events);
	wr.db_io_events = events;
	ev_io_start(wr.loop, &wr.db_io);
}

static void
db_close(void)
{
	ev_io_stop(wr.loop, &wr.db_io);
	ev_timer_stop(wr.loop, &wr.db_timeout);
	if (wr.conn)
		PQfinish(wr.conn);
	wr.conn = NULL;
	wr.state = DB_DOWN;
	wr.inflight = IF_NONE;	/* the batch stays at the head of the queue */
	wr.hold = 0;
	relay_db_lost();
}

static int64_t
backoff_ms(unsigned failures)
{
	int64_t max = worker_config()->db_reconnect_delay_max_ms, d = WR_BACKOFF_FIRST_MS;

	if (failures == 0)
		return 0;
	for (unsigned i = 1; i < failures && d < max; i++)
		d *= 2;
	return d < max ? d : max;
}

static void
db_schedule_reconnect(void)
{
	int64_t d;

	if (wr.stopping)
		return;
	d = backoff_ms(wr.fail_count);
	wr.fail_count++;
	ev_timer_stop(wr.loop, &wr.db_retry);
	ev_timer_set(&wr.db_retry, (double)d / 1000., 0.);
	ev_timer_start(wr.loop, &wr.db_retry);
	log_debug("database: next attempt in %" PRId64 " ms", d);
}

/* Could not connect: say so once per outage, retry with backoff. */
static void
db_fail(const char *why)
{
	pq_reason(wr.last_error, sizeof(wr.last_error), why);
	db_close();
	if (!wr.down_logged) {
		log_warnx("database unavailable: %s; retrying, up to every %" PRId64 " ms",
		    wr.last_error, worker_config()->db_reconnect_delay_max_ms);
		wr.down_logged = 1;
	} else
		log_debug("database still unavailable: %s", wr.last_error);
	db_schedule_reconnect();
}

/* A working connection broke. */
static void
db_lost(const char *why)
{
	int was_inflight = wr.inflight;

	pq_reason(wr.last_error, sizeof(wr.last_error), why);
	if (monotonic_ms() - wr.connected_ms >= WR_STABLE_MS)
		wr.fail_count = 0;
	db_close();
	wr.reconnects++;
	log_warnx("database connection lost%s: %s; reconnecting", was_inflight ?
	    " with a batch in flight (it will be sent again whole)" : "", wr.last_error);
	wr.down_logged = 1;
	db_schedule_reconnect();
}

static void
db_notice_cb(void *arg, const char *msg)
{
	char line[256];

	pq_reason(line, sizeof(line), msg);
	log_debug("database: %s", line);
}

/*
 * Blocking, once per connection: the statements of every table, planned
 * once (generic plans: a batch's row count does not change the best plan
 * much, and planning them each time cost more than running them).
 */
static int
db_prepare(char *err, size_t errlen)
{
	PGresult *r;
	const char *name;
	char *sql;
	int n, ok;

	r = PQexec(wr.conn, "SET plan_cache_mode = force_generic_plan");
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		snprintf(err, errlen, "%s", PQerrorMessage(wr.conn));
		return -1;
	}
	for (int i = 0; i < wsql_nprepared(); i++) {
		if ((sql = wsql_prepared(i, &name, &n)) == NULL)
			fatal(1, "writer: out of memory");
		r = PQprepare(wr.conn, name, sql, n, NULL);
		free(sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			snprintf(err, errlen, "preparing %s: %s", name, PQerrorMessage(wr.conn));
			return -1;
		}
	}
	return 0;
}

static void
db_connected(void)
{
	char err[512];

	ev_timer_stop(wr.loop, &wr.db_timeout);
	PQsetNoticeProcessor(wr.conn, db_notice_cb, NULL);
	/* Blocking, once per connection: a round trip or two before any batch. */
	if (db_schema_check(wr.conn, err, sizeof(err)) == -1) {
		if (PQstatus(wr.conn) == CONNECTION_OK && strstr(err, "exfeedctl db migrate"))
			worker_fatal(EX_CONFIG_STATUS, "%s", err);
		db_fail(err);
		return;
	}
	if (db_prepare(err, sizeof(err)) == -1) {
		db_fail(err);
		return;
	}
	if (PQsetnonblocking(wr.conn, 1) == -1 || !PQenterPipelineMode(wr.conn)) {
		db_fail(PQerrorMessage(wr.conn));
		return;
	}
	wr.state = DB_READY;
	wr.connected_ms = monotonic_ms();
	wr.last_error[0] = '\0';
	if (wr.down_logged)
		log_info("database connected again; %zu events wait to be committed", wr.pending);
	else
		log_info("database connected");
	wr.down_logged = 0;
	relay_db_ready();
	db_watch(EV_READ);
	writer_kick();
}

static void
db_connect_poll(void)
{
	switch (PQconnectPoll(wr.conn)) {
	case PGRES_POLLING_READING:
		db_watch(EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		db_watch(EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		db_connected();
		break;
	default:
		db_fail(PQerrorMessage(wr.conn));
		break;
	}
}

static void
db_connect_start(void)
{
	const char *const keys[] = { "application_name", "dbname", NULL };
	const char *const vals[] = { "exfeedd writer", worker_config()->db_conninfo, NULL };

	db_close();
	wr.reconnect_wanted = 0;
	/* conninfo (as dbname, expanded) overrides the application name if it sets one. */
	wr.conn = PQconnectStartParams(keys, vals, 1);
	if (wr.conn == NULL) {
		db_fail("out of memory");
		return;
	}
	if (PQstatus(wr.conn) == CONNECTION_BAD) {
		db_fail(PQerrorMessage(wr.conn));
		return;
	}
	wr.state = DB_CONNECTING;
	ev_timer_stop(wr.loop, &wr.db_timeout);
	ev_timer_set(&wr.db_timeout, WR_CONNECT_TIMEOUT_S, 0.);
	ev_timer_start(wr.loop, &wr.db_timeout);
	/* As if PQconnectPoll had asked for writing (libpq's documented start). */
	db_watch(EV_WRITE);
}

static void
db_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (wr.state == DB_CONNECTING)
		db_fail("timed out connecting");
}

static void
db_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (wr.state == DB_DOWN)
		db_connect_start();
	else {
		wr.hold = 0;
		writer_kick();
	}
}

/* Send what libpq holds; watch for writability until it is all out. */
static void
db_flush(void)
{
	switch (PQflush(wr.conn)) {
	case 0:
		db_watch(EV_READ);
		break;
	case 1:
		db_watch(EV_READ | EV_WRITE);
		break;
	default:
		db_lost(PQerrorMessage(wr.conn));
		break;
	}
}

/*
 * A batch is the prepared statements of its tables, back to back, then a
 * pipeline sync: one implicit transaction, one round trip, no parsing or
 * planning on the server.
 */
static void
db_send(struct batch *b)
{
	const char *const *vals;
	const char *name;
	int n;

	wr.batch_error[0] = '\0';
	for (int i = 0; i < wsql_batch_count(b->stmts); i++) {
		name = wsql_batch_stmt(b->stmts, i, &n, &vals);
		if (!PQsendQueryPrepared(wr.conn, name, n, vals, NULL, NULL, 0)) {
			db_lost(PQerrorMessage(wr.conn));
			return;
		}
	}
	if (!PQpipelineSync(wr.conn)) {
		db_lost(PQerrorMessage(wr.conn));
		return;
	}
	wr.inflight = IF_BATCH;
	wr.last_relay = 0;
	wr.stmt = 0;
	wr.sent_us = (uint64_t)clock_mono_us();
	log_debug("batch of %zu events sent (%zu bytes of parameters)", b->n,
	    wsql_batch_bytes(b->stmts));
	db_flush();
}

static void
batch_committed(void)
{
	struct batch *b = wr.sealed;
	int64_t now_us = clock_real_us();
	uint64_t took_us = (uint64_t)clock_mono_us() - wr.sent_us;

	wr.sealed = b->next;
	if (wr.sealed == NULL)
		wr.sealed_tail = &wr.sealed;
	wr.inflight = IF_NONE;
	wr.fail_count = 0;
	relay_batch_end(1);
	hist_add(&wr.commit_lat, (int64_t)took_us);
	for (size_t i = 0; i < b->n; i++)
		hist_add(&wr.lat, now_us - b->recv_us[i]);
	for (int t = 0; t < EV_TYPE_MAX; t++)
		wr.committed[t] += b->per_type[t];
	wr.events_committed += b->n;
	wr.batches++;
	wr.last_batch = b->n;
	wr.last_batch_us = took_us;
	wr.pending -= b->n;
	log_debug("batch of %zu events committed in %.1f ms", b->n, (double)took_us / 1000.);
	for (size_t i = 0; i < b->nacks; i++) {
		struct sender *s = b->acks[i].s;

		if (b->acks[i].seq > s->acked)
			s->acked = b->acks[i].seq;
		if (s->batch == b)
			s->batch = NULL;
		if (s->peer)
			peer_ack(s->peer, s->acked);
	}
	/* Committed: the gateway may show them now (stamped with the COMMIT's end). */
	if (b->ngw > 0)
		gw_feed_sender_stamp(wr.gw, clock_real_us());
	if (b->ngw > 0 && gw_feed_send_packed(wr.gw, b->gw.data, b->gw.size, b->ngw) == 0)
		log_debug("%zu committed events to the gateway", b->ngw);
	/* Committed: now the candles may go out (a replay of them is harmless). */
	for (size_t i = 0; i < b->nklines; i++)
		relay_market(&b->klines[i]);
	wr.klines_committed += b->nklines;
	batch_free(b);
	sender_gc();
	writer_check_queue();
}

static void
batch_failed(void)
{
	struct batch *b = wr.sealed;
	int64_t d;

	wr.inflight = IF_NONE;
	wr.sql_errors++;
	relay_batch_end(0);
	b->failures++;
	pq_reason(wr.last_error, sizeof(wr.last_error), wr.batch_error);
	/*
	 * Nothing is acked that is not committed: the batch is tried again,
	 * whole, after a pause.  Senders keep the events meanwhile.
	 */
	d = backoff_ms(b->failures + 1);
	log_warnx_rl(&sql_rl, "batch of %zu events failed (attempt %u): %s; retrying in "
	    "%" PRId64 " ms", b->n, b->failures, wr.last_error, d);
	wr.hold = 1;
	ev_timer_stop(wr.loop, &wr.db_retry);
	ev_timer_set(&wr.db_retry, (double)d / 1000., 0.);
	ev_timer_start(wr.loop, &wr.db_retry);
}

/*
 * Each statement's result, then NULL; the batch ends with the sync's.  A
 * failed statement aborts the rest (PGRES_PIPELINE_ABORTED) and the sync
 * rolls the implicit transaction back.
 */
static void
db_results(void)
{
	const char *const *vals;
	const char *name;
	PGresult *r;
	int n;

	while (wr.inflight && !PQisBusy(wr.conn)) {
		if ((r = PQgetResult(wr.conn)) == NULL) {
			if (PQstatus(wr.conn) != CONNECTION_OK) {
				db_lost(wr.batch_error[0] ? wr.batch_error : PQerrorMessage(wr.conn));
				return;
			}
			wr.stmt++;
			continue;	/* the end of one statement's results */
		}
		switch (PQresultStatus(r)) {
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			if (wr.inflight == IF_RELAY)
				relay_result(r);
			else if (wr.stmt < wsql_batch_count(wr.sealed->stmts) &&
			    (name = wsql_batch_stmt(wr.sealed->stmts, wr.stmt, &n, &vals)) != NULL &&
			    strcmp(name, WSQL_LOG_STMT) == 0) {
				relay_batch_rows(r);	/* the relay's now */
				continue;
			}
			break;
		case PGRES_PIPELINE_ABORTED:
			break;
		case PGRES_PIPELINE_SYNC:
			PQclear(r);
			if (wr.inflight == IF_RELAY) {
				wr.inflight = IF_NONE;
				relay_sync(wr.batch_error[0] ? wr.batch_error : NULL);
				wr.batch_error[0] = '\0';
			} else if (wr.batch_error[0])
				batch_failed();
			else
				batch_committed();
			writer_kick();
			return;
		default:
			if (wr.batch_error[0] == '\0')
				snprintf(wr.batch_error, sizeof(wr.batch_error), "%s",
				    PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) :
				    PQresStatus(PQresultStatus(r)));
			break;
		}
		PQclear(r);
	}
}

/* A relay job goes out (relay.h): one at a time, between batches. */
static void
relay_go(void)
{
	switch (relay_send(wr.conn)) {
	case 0:
		return;
	case -1:
		db_lost(PQerrorMessage(wr.conn));
		return;
	}
	wr.inflight = IF_RELAY;
	wr.last_relay = 1;
	wr.batch_error[0] = '\0';
	db_flush();
}

static void
db_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	PGnotify *n;

	if (wr.state == DB_CONNECTING) {
		db_connect_poll();
		return;
	}
	if (wr.state != DB_READY)
		return;
	if (revents & EV_WRITE) {
		switch (PQflush(wr.conn)) {
		case 0:
			db_watch(EV_READ);
			break;
		case 1:
			break;
		default:
			db_lost(PQerrorMessage(wr.conn));
			return;
		}
	}
	if (revents & EV_READ) {
		if (!PQconsumeInput(wr.conn)) {
			db_lost(PQerrorMessage(wr.conn));
			return;
		}
		while ((n = PQnotifies(wr.conn)) != NULL)
			PQfreemem(n);
		if (wr.inflight)
			db_results();
		else if (PQstatus(wr.conn) != CONNECTION_OK)
			db_lost(PQerrorMessage(wr.conn));
	}
}

/* ----------------------------------------------------------- group commit */

static void
writer_done_if_stopping(void)
{
	if (!wr.stopping || wr.inflight)
		return;
	if (wr.pending == 0 || wr.state != DB_READY) {
		if (!relay_stopped())
			return;		/* deliveries, then the watermark */
		if (wr.pending)
			log_warnx("stopping with %zu events not committed (their senders resend or "
			    "resync them)", wr.pending);
		ev_timer_stop(wr.loop, &wr.stop_deadline);
		relay_end();
		worker_stopped();
	}
}

/*
 * With the database free, is the open batch to go now?  A batch that began
 * while a commit was in flight goes at once: it grew while the database was
 * busy (group commit), and under load nothing ever waits.  One that began
 * with the database idle waits until its oldest event has waited
 * flush_interval, so that a steady trickle costs one transaction per few
 * events rather than one each (most of the database's CPU per event at a
 * trickle, BENCHMARKS.md) -- unless events are sparse, their mean gap
 * longer than flush_interval: then waiting would merge nothing and only
 * cost latency, and it goes at once.  Else *wait_us is how much longer it
 * waits.
 */
static int
batch_due(struct batch *b, int64_t *wait_us)
{
	int64_t interval = worker_config()->db_flush_interval_ms * 1000, age;

	*wait_us = 0;
	if (b->n == 0 || wr.stopping || interval <= 0 || !b->began_idle)
		return 1;
	age = (int64_t)(ev_now(wr.loop) * 1e6) - b->first_us;
	if (age >= interval)
		return 1;
	if (wr.gap_us >= interval) {
		wr.sparse++;
		return 1;
	}
	*wait_us = interval - age;
	b->waited = 1;
	return 0;
}

static void
writer_kick(void)
{
	int64_t wait_us;

	ev_timer_stop(wr.loop, &wr.flush);
	if (wr.state != DB_READY || wr.inflight || wr.hold) {
		writer_done_if_stopping();
		return;
	}
	if (wr.sealed == NULL && (wr.open->n > 0 || wr.open->nacks > 0)) {
		if (batch_due(wr.open, &wait_us))
			batch_seal();
		else {
			ev_timer_set(&wr.flush, (double)wait_us / 1e6, 0.);
			ev_timer_start(wr.loop, &wr.flush);
		}
	}
	if (wr.reconnect_wanted) {
		log_info("database: connecting with the new conninfo");
		db_connect_start();
		return;
	}
	/* A batch that only acks rejected events has nothing to commit. */
	while (wr.sealed != NULL && wsql_batch_count(wr.sealed->stmts) == 0) {
		wr.sent_us = (uint64_t)clock_mono_us();
		batch_committed();
	}
	/* Batches and relay jobs take turns; none but the relay's until it holds the lock. */
	if (relay_want() && (wr.sealed == NULL || !wr.last_relay || !relay_session_ready()))
		relay_go();
	else if (wr.sealed != NULL && relay_session_ready())
		db_send(wr.sealed);
	writer_done_if_stopping();
}

static void
flush_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	writer_kick();
}

/* ------------------------------------------------------------------- role */

static void
writer_start(struct ev_loop *loop, const struct config *cfg)
{
	char err[256];

	wr.loop = loop;
	wr.sealed_tail = &wr.sealed;
	wr.open = batch_new();
	if ((wr.rows = wsql_new()) == NULL)
		fatal(1, "writer: out of memory");
	hist_init(&wr.lat);
	hist_init(&wr.commit_lat);
	relay_set_kick(writer_kick);
	relay_start(loop, cfg);
	ev_init(&wr.db_io, db_io_cb);
	ev_init(&wr.db_retry, db_retry_cb);
	ev_init(&wr.db_timeout, db_timeout_cb);
	ev_init(&wr.flush, flush_cb);
	wr.queue_max = queue_max();
	if (writer_listen(cfg->runtime_dir, err, sizeof(err)) == -1)
		worker_fatal(1, "data plane: %s", err);
	snprintf(err, sizeof(err), "%s/gateway.sock", cfg->runtime_dir);
	if ((wr.gw = gw_feed_sender_new(loop, err, "writer", worker_instance(),
	    WR_GW_QUEUE)) == NULL)
		fatal(1, "writer: out of memory");
	/*
	 * Ready once senders can connect: while PostgreSQL is away the writer
	 * still takes events (bounded) and commits them when it is back.
	 */
	worker_ready();
	db_connect_start();
}

static void
writer_reconfigure(const struct config *cfg, const struct config *old)
{
	if (strcmp(cfg->db_conninfo, old->db_conninfo) != 0) {
		log_info("[database] conninfo changed");
		wr.fail_count = 0;
		if (wr.state == DB_READY && wr.inflight)
			wr.reconnect_wanted = 1;	/* after this batch */
		else
			db_connect_start();
	}
	writer_check_queue();
	writer_kick();
}

static void
writer_status(msgpack_packer *pk)
{
	static const char *const state[] = { "down", "connecting", "connected" };
	size_t nsend = 0;

	for (struct peer *p = wr.peers; p; p = p->next)
		if (p->s)
			nsend++;
	msgpack_pack_map(pk, 25);
	mp_kv_str(pk, "db", state[wr.state]);
	mp_kv_str(pk, "db_error", wr.last_error);
	relay_status(pk);
	mp_kv_u64(pk, "senders", nsend);
	mp_kv_u64(pk, "events_committed", wr.events_committed);
	mp_kv_u64(pk, "batches", wr.batches);
	mp_kv_u64(pk, "batches_merged", wr.merged);
	mp_kv_u64(pk, "batches_sparse", wr.sparse);
	mp_kv_u64(pk, "last_batch_size", wr.last_batch);
	mp_kv_u64(pk, "last_batch_us", wr.last_batch_us);
	mp_kv_u64(pk, "rows_per_batch", wr.batches ? wr.events_committed / wr.batches : 0);
	mp_kv_u64(pk, "pending", wr.pending);
	mp_kv_u64(pk, "queue_max", wr.queue_max);
	mp_kv_bool(pk, "paused", wr.paused);
	mp_kv_u64(pk, "db_reconnects", wr.reconnects);
	mp_kv_u64(pk, "sql_errors", wr.sql_errors);
	mp_kv_u64(pk, "peers_dropped", wr.peers_dropped);
	mp_kv_u64(pk, "resent", wr.resent);
	mp_kv_u64(pk, "rejected", wr.rejected);
	mp_str(pk, "committed");
	msgpack_pack_map(pk, EV_KLINE - 1);
	for (int t = 1; t < EV_KLINE; t++)
		mp_kv_u64(pk, ev_type_name((unsigned)t), wr.committed[t]);
	mp_str(pk, "market");
	msgpack_pack_map(pk, 4);
	mp_str(pk, "received");
	msgpack_pack_map(pk, EV_TYPE_MAX - EV_KLINE);
	for (int t = EV_KLINE; t < EV_TYPE_MAX; t++)
		mp_kv_u64(pk, ev_type_name((unsigned)t), wr.mkt_received[t]);
	mp_kv_u64(pk, "klines_upserted", wr.klines_committed);
	mp_kv_u64(pk, "acked_at_once", wr.mkt_acked_now);
	mp_str(pk, "kafka");
	relay_market_status(pk);
	mp_str(pk, "latency_us");
	hist_pack(&wr.lat, pk);
	mp_str(pk, "commit_us");
	hist_pack(&wr.commit_lat, pk);
	mp_kv_u64(pk, "flush_interval_ms", (uint64_t)worker_config()->db_flush_interval_ms);
	mp_str(pk, "gateway");
	if (wr.gw != NULL)
		gw_feed_sender_pack(wr.gw, pk);
	else
		msgpack_pack_nil(pk);
}

static void
stop_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	log_warnx("stopping with %zu events not committed (the database did not take them "
	    "in time)", wr.pending);
	relay_end();
	worker_stopped();
}

static void
writer_stop(void)
{
	int64_t budget = worker_config()->shutdown_timeout_ms * 3 / 4;

	wr.stopping = 1;
	relay_stop();
	writer_unlisten();
	/* Senders stop before us (role_stage): take no more, commit what we hold. */
	while (wr.peers)
		ipc_drop(wr.peers->c, "writer stopping");
	ev_timer_init(&wr.stop_deadline, stop_deadline_cb, (double)budget / 1000., 0.);
	ev_timer_start(wr.loop, &wr.stop_deadline);
	writer_kick();
}

const struct worker_role writer_role = {
	"writer", writer_start, writer_reconfigure, NULL, writer_status, writer_stop,
};
