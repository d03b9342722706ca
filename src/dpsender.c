/*
 * dpsender.c: the data-plane sender (dpsender.h).  Events are packed once
 * when pushed and kept, packed, in a ring indexed by sequence number until
 * the writer acks them; a batch frame is the un-sent run of that ring.
 *
 * Sequence numbers of events dropped on overflow are never sent, so the
 * writer sees a gap there; acks are cumulative and only ever move forward.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dpsender.h"
#include "event.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "mpack.h"

#define DP_BATCH_EVENTS		1000
#define DP_BATCH_BYTES		(1024 * 1024)
#define DP_PENDING_MAX		(4u * 1024 * 1024)	/* bytes in the ipc buffer before we wait */
#define DP_RETRY_S		0.005
#define DP_BACKOFF_MIN_S	0.1
#define DP_BACKOFF_MAX_S	5.0
/*
 * Overflow losses are reported at most this often: the report makes the
 * worker queue gap events, which, while the writer still does not read,
 * overflow too; each report keeps every account's earliest loss.
 */
#define DP_LOST_REPORT_S	1.0

struct dp_item {
	int64_t		 account_id;
	int64_t		 lost_since_ms;
	uint32_t	 len;
	unsigned char	*data;
};

struct dp_sender {
	struct ev_loop		*loop;
	char			*path;
	char			 role[16];
	int			 instance;
	size_t			 max_unacked;
	dp_overflow_fn		 overflow_cb;
	void			*arg;
	struct ipc_conn		*conn;
	struct dp_item		*ring;
	size_t			 cap;		/* power of two */
	uint64_t		 head_seq;	/* oldest kept */
	uint64_t		 next_seq;	/* next to assign */
	uint64_t		 send_seq;	/* next to send on this connection */
	ev_timer		 flush_timer;
	ev_timer		 connect_timer;
	double			 backoff_s;
	int			 warned;
	int64_t			*lost;		/* accounts that lost events, to report */
	int64_t			*lost_since;	/* and from when */
	size_t			 nlost, lostcap;
	ev_timer		 lost_timer;
	msgpack_sbuffer		 sb;
	struct log_ratelimit	 invalid_rl;
	struct dp_sender_stats	 st;
};

static void dp_connect(struct dp_sender *);

const struct dp_sender_stats *
dp_sender_stats(const struct dp_sender *ds)
{
	return &ds->st;
}

size_t
dp_sender_unacked(const struct dp_sender *ds)
{
	return (size_t)(ds->next_seq - ds->head_seq);
}

uint64_t
dp_sender_next_seq(const struct dp_sender *ds)
{
	return ds->next_seq;
}

int
dp_sender_committed(const struct dp_sender *ds, uint64_t mark)
{
	return ds->head_seq >= mark;
}

int
dp_sender_connected(const struct dp_sender *ds)
{
	return ds->conn != NULL;
}

static struct dp_item *
dp_at(struct dp_sender *ds, uint64_t seq)
{
	return &ds->ring[seq & (ds->cap - 1)];
}

static void
dp_release_head(struct dp_sender *ds)
{
	struct dp_item *it = dp_at(ds, ds->head_seq);

	free(it->data);
	it->data = NULL;
	ds->head_seq++;
	if (ds->send_seq < ds->head_seq)
		ds->send_seq = ds->head_seq;
}

static void
dp_send_some(struct dp_sender *ds)
{
	while (ds->conn && ds->send_seq < ds->next_seq && ipc_pending(ds->conn) < DP_PENDING_MAX) {
		msgpack_packer pk;
		uint64_t s, end = ds->send_seq;
		size_t bytes = 0;

		while (end < ds->next_seq && end - ds->send_seq < DP_BATCH_EVENTS &&
		    bytes < DP_BATCH_BYTES)
			bytes += dp_at(ds, end++)->len;
		msgpack_sbuffer_clear(&ds->sb);
		msgpack_packer_init(&pk, &ds->sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 1);
		mp_str(&pk, "ev");
		msgpack_pack_array(&pk, (uint32_t)(end - ds->send_seq));
		for (s = ds->send_seq; s < end; s++) {
			struct dp_item *it = dp_at(ds, s);

			msgpack_sbuffer_write(&ds->sb, (const char *)it->data, it->len);
		}
		if (ipc_send_sbuf(ds->conn, IPC_DP_EVENTS, &ds->sb) == -1)
			return;		/* dropped: the close callback resets send_seq */
		ds->st.sent_frames++;
		ds->send_seq = end;
	}
	if (ds->conn && ds->send_seq < ds->next_seq && !ev_is_active(&ds->flush_timer)) {
		/* The writer is slow to read: try again shortly. */
		ev_timer_set(&ds->flush_timer, DP_RETRY_S, 0.);
		ev_timer_start(ds->loop, &ds->flush_timer);
	}
}

static void
dp_flush_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	dp_send_some(t->data);
}

void
dp_sender_flush(struct dp_sender *ds)
{
	ev_timer_stop(ds->loop, &ds->flush_timer);
	dp_send_some(ds);
}

static void
dp_lost_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct dp_sender *ds = t->data;
	size_t n = 0;

	/* dp_note_lost keeps one entry per account, with its earliest time. */
	n = ds->nlost;
	ds->nlost = 0;
	if (n && ds->overflow_cb)
		ds->overflow_cb(ds->lost, ds->lost_since, n, ds->arg);
}

static void
dp_note_lost(struct dp_sender *ds, int64_t account_id, int64_t since_ms)
{
	for (size_t i = 0; i < ds->nlost; i++)
		if (ds->lost[i] == account_id) {
			if (since_ms < ds->lost_since[i])
				ds->lost_since[i] = since_ms;
			return;
		}
	if (ds->nlost == ds->lostcap) {
		size_t ncap = ds->lostcap ? ds->lostcap * 2 : 64;
		int64_t *nl = realloc(ds->lost, ncap * sizeof(*nl));
		int64_t *ns;

		if (nl == NULL)
			return;
		ds->lost = nl;
		if ((ns = realloc(ds->lost_since, ncap * sizeof(*ns))) == NULL)
			return;
		ds->lost_since = ns;
		ds->lostcap = ncap;
	}
	ds->lost_since[ds->nlost] = since_ms;
	ds->lost[ds->nlost++] = account_id;
	if (!ev_is_active(&ds->lost_timer)) {
		ev_timer_set(&ds->lost_timer, DP_LOST_REPORT_S, 0.);
		ev_timer_start(ds->loop, &ds->lost_timer);
	}
}

static int
dp_grow(struct dp_sender *ds)
{
	size_t ncap = ds->cap ? ds->cap * 2 : 1024;
	struct dp_item *nr;

	if ((nr = calloc(ncap, sizeof(*nr))) == NULL)
		return -1;
	for (uint64_t s = ds->head_seq; s < ds->next_seq; s++)
		nr[s & (ncap - 1)] = *dp_at(ds, s);
	free(ds->ring);
	ds->ring = nr;
	ds->cap = ncap;
	return 0;
}

int
dp_sender_push(struct dp_sender *ds, struct event *ev, int64_t lost_since_ms)
{
	const char *err;

	/* One bad event costs only itself: never sent, so never a reason to drop us. */
	if (ev_validate(ev, &err) == -1) {
		ds->st.invalid++;
		log_warnx_rl(&ds->invalid_rl, "data plane: %s event %s not sent: %s",
		    ev_type_name(ev->type) ? ev_type_name(ev->type) : "?", ev->id, err);
		return -1;
	}
	return dp_sender_push_valid(ds, ev, lost_since_ms);
}

int
dp_sender_push_valid(struct dp_sender *ds, struct event *ev, int64_t lost_since_ms)
{
	msgpack_packer pk;
	struct dp_item *it;

	while (dp_sender_unacked(ds) >= ds->max_unacked) {
		struct dp_item *old = dp_at(ds, ds->head_seq);

		ds->st.dropped++;
		dp_note_lost(ds, old->account_id, old->lost_since_ms);
		dp_release_head(ds);
		if (!ds->st.overflows++ || ds->st.overflows % 1000 == 0)
			log_warnx("data plane: %zu events not yet acknowledged by the writer; "
			    "dropping the oldest (%llu so far), their accounts will be resynced",
			    ds->max_unacked, (unsigned long long)ds->st.dropped);
	}
	if (dp_sender_unacked(ds) + 1 > ds->cap && dp_grow(ds) == -1)
		return -1;
	ev->seq = ds->next_seq;
	msgpack_sbuffer_clear(&ds->sb);
	msgpack_packer_init(&pk, &ds->sb, msgpack_sbuffer_write);
	ev_pack(&pk, ev);
	it = dp_at(ds, ds->next_seq);
	if ((it->data = malloc(ds->sb.size)) == NULL)
		return -1;
	memcpy(it->data, ds->sb.data, ds->sb.size);
	it->len = (uint32_t)ds->sb.size;
	it->account_id = ev->account_id;
	it->lost_since_ms = lost_since_ms;
	ds->next_seq++;
	ds->st.pushed++;
	if (ds->conn && !ev_is_active(&ds->flush_timer)) {
		/* Everything pushed in this loop iteration goes in one frame. */
		ev_timer_set(&ds->flush_timer, 0., 0.);
		ev_timer_start(ds->loop, &ds->flush_timer);
	}
	return 0;
}

static void
dp_msg_cb(struct ipc_conn *c, const struct ipc_hdr *h, const msgpack_object *body, void *arg)
{
	struct dp_sender *ds = arg;
	const char *why;
	int64_t seq;

	if (ipcmsg_dp_ack(body, &seq, &why) == -1) {
		ipc_drop(c, why);
		return;
	}
	if ((uint64_t)seq >= ds->next_seq) {
		ipc_drop(c, "DP_ACK for an event never sent");
		return;
	}
	if ((uint64_t)seq > ds->st.last_ack)
		ds->st.last_ack = (uint64_t)seq;
	while (ds->head_seq <= (uint64_t)seq) {
		dp_release_head(ds);
		ds->st.acked++;
	}
}

static void
dp_close_cb(struct ipc_conn *c, const char *why, void *arg)
{
	struct dp_sender *ds = arg;

	ds->conn = NULL;
	ev_timer_stop(ds->loop, &ds->flush_timer);
	log_warnx("data plane: writer connection lost (%s); %zu events to resend", why,
	    dp_sender_unacked(ds));
	ds->send_seq = ds->head_seq;
	ds->backoff_s = DP_BACKOFF_MIN_S;
	ev_timer_set(&ds->connect_timer, ds->backoff_s, 0.);
	ev_timer_start(ds->loop, &ds->connect_timer);
}

int
dp_dial(const char *path)
{
	struct sockaddr_un sun;
	int fd, saved;

	if (ipc_unix_addr(path, &sun) == -1 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
dp_hello(struct ipc_conn *c, const char *role, int instance)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	mp_kv_str(&pk, "role", role);
	mp_kv_i64(&pk, "instance", instance);
	mp_kv_i64(&pk, "pid", getpid());
	rc = ipc_send_sbuf(c, IPC_DP_HELLO, &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

double
dp_backoff_next(double cur_s)
{
	double d = cur_s > 0 ? cur_s * 2 : DP_BACKOFF_MIN_S;

	return d > DP_BACKOFF_MAX_S ? DP_BACKOFF_MAX_S : d;
}

static void
dp_connect(struct dp_sender *ds)
{
	int fd;

	if ((fd = dp_dial(ds->path)) == -1)
		goto retry;
	if ((ds->conn = ipc_conn_new(ds->loop, fd, "writer", IPC_ACCEPT_DP_SENDER, dp_msg_cb,
	    dp_close_cb, ds)) == NULL) {
		close(fd);
		goto retry;
	}
	dp_hello(ds->conn, ds->role, ds->instance);
	if (ds->conn == NULL)
		return;		/* dropped at once; the close callback retries */
	if (ds->warned || ds->st.reconnects)
		log_info("data plane: connected to the writer; resending %zu events",
		    dp_sender_unacked(ds));
	ds->warned = 0;
	ds->st.reconnects++;
	ds->st.resent += dp_sender_unacked(ds);
	ds->send_seq = ds->head_seq;
	dp_send_some(ds);
	return;
retry:
	if (!ds->warned) {
		log_warn("data plane: cannot connect to the writer at %s (retrying)", ds->path);
		ds->warned = 1;
	}
	ds->backoff_s = dp_backoff_next(ds->backoff_s);
	ev_timer_set(&ds->connect_timer, ds->backoff_s, 0.);
	ev_timer_start(ds->loop, &ds->connect_timer);
}

static void
dp_connect_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	dp_connect(t->data);
}

struct dp_sender *
dp_sender_new(struct ev_loop *loop, const char *socket_path, const char *role, int instance,
    size_t max_unacked, dp_overflow_fn overflow_cb, void *arg)
{
	struct dp_sender *ds;

	if ((ds = calloc(1, sizeof(*ds))) == NULL || (ds->path = strdup(socket_path)) == NULL) {
		free(ds);
		return NULL;
	}
	ds->loop = loop;
	snprintf(ds->role, sizeof(ds->role), "%s", role);
	ds->instance = instance;
	ds->max_unacked = max_unacked ? max_unacked : 1;
	ds->overflow_cb = overflow_cb;
	ds->arg = arg;
	ds->head_seq = ds->next_seq = ds->send_seq = 1;
	ds->invalid_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	msgpack_sbuffer_init(&ds->sb);
	ev_timer_init(&ds->flush_timer, dp_flush_cb, 0., 0.);
	ev_timer_init(&ds->connect_timer, dp_connect_cb, 0., 0.);
	ev_timer_init(&ds->lost_timer, dp_lost_cb, 0., 0.);
	ds->flush_timer.data = ds->connect_timer.data = ds->lost_timer.data = ds;
	dp_connect(ds);
	return ds;
}

void
dp_sender_set_max(struct dp_sender *ds, size_t max_unacked)
{
	ds->max_unacked = max_unacked ? max_unacked : 1;
}

void
dp_sender_free(struct dp_sender *ds)
{
	if (ds == NULL)
		return;
	ev_timer_stop(ds->loop, &ds->flush_timer);
	ev_timer_stop(ds->loop, &ds->connect_timer);
	ev_timer_stop(ds->loop, &ds->lost_timer);
	if (ds->conn) {
		ipc_flush(ds->conn, 200);
		ipc_close(ds->conn);
	}
	while (ds->head_seq < ds->next_seq)
		dp_release_head(ds);
	free(ds->ring);
	free(ds->lost);
	free(ds->lost_since);
	free(ds->path);
	msgpack_sbuffer_destroy(&ds->sb);
	free(ds);
}
