/*
 * gwfeed.c: the gateway's feed (gwfeed.h): a sender that never blocks and
 * never grows past its bound, and the gateway's receiving socket.
 *
 * The sender keeps one frame body being built: a fixed-width prefix
 * {lost: uint64, ev: array32} then the packed events as they come; at the
 * end of the loop iteration (or when it reaches GWF_FRAME_BYTES) the
 * prefix is filled in and the body handed to ipc_send.  Its connection,
 * HELLO and backoff are the data plane's (dpsender.h).
 *
 * A frame handed to ipc_send counts as sent once ipc.c has written all of
 * it to the socket (the frames in between are kept as (end offset, events)
 * and reaped against ipc_pending); when the connection is lost, the events
 * of frames not yet written whole are dropped and counted like any other,
 * so the next connection's `lost` says so.  (What the kernel took and a
 * dying gateway never read is not known here: the reconnect is a hole
 * anyway.)
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dpsender.h"
#include "event.h"
#include "gwfeed.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "mpack.h"

#define GWF_FRAME_BYTES		(1024 * 1024)	/* a frame is sent once it is this large */
#define GWF_QUEUE_MAX		(4u * 1024 * 1024)	/* max_queued_bytes at most (ipc.c drops at 8) */
#define GWF_PEERS_MAX		256
#define GWF_REAP_S		0.05	/* frames handed to ipc.c are checked this often */
/* map of 3, "lost", uint64, "t", int64, "ev", array32 */
#define GWF_PREFIX_LEN		(1 + 5 + 9 + 2 + 9 + 3 + 5)
static const char gwf_zero[GWF_PREFIX_LEN];

/* ------------------------------------------------------------ the sender */

/* A frame handed to ipc.c, not known to be written yet. */
struct gwf_frame {
	uint64_t	 end;		/* bytes handed on this connection after it */
	uint32_t	 n;		/* its events */
};

struct gw_feed_sender {
	struct ev_loop			*loop;
	char				*path;
	char				 role[16];
	int				 instance;
	size_t				 max_queued;
	struct ipc_conn			*conn;
	msgpack_sbuffer			 q;		/* the frame body being built */
	size_t				 qn;		/* events in it */
	uint64_t			 lost;		/* dropped since the last frame sent */
	int64_t				 t_us;		/* the frame's stamp (gw_feed_sender_stamp), 0: none */
	struct gwf_frame		*fr;		/* ring of frames in ipc.c's buffer */
	size_t				 fr_head, fr_n, fr_cap;
	uint64_t			 handed;	/* bytes handed to ipc.c on this connection */
	ev_timer			 reap_timer;
	ev_timer			 flush_timer;
	ev_timer			 connect_timer;
	double				 backoff_s;
	int				 warned;
	struct log_ratelimit		 drop_rl;
	struct gw_feed_sender_stats	 st;
	/* the market interest: an open-addressing table by symbol, a power of two */
	struct gw_interest		*want;
	size_t				 want_cap, want_n;
	int				 want_known;	/* an interest came on this connection */
};

static void gwf_connect(struct gw_feed_sender *);

/* FNV-1a of a NUL-terminated symbol. */
static uint32_t
gwf_sym_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int
gw_feed_sender_wants(const struct gw_feed_sender *gs, const char *symbol, int channel,
    int interval)
{
	const struct gw_interest *w;
	size_t i;

	if (gs == NULL || gs->want_n == 0 || channel < 0 || channel > 31)
		return 0;
	for (i = gwf_sym_hash(symbol) & (gs->want_cap - 1);; i = (i + 1) & (gs->want_cap - 1)) {
		w = &gs->want[i];
		if (w->symbol[0] == '\0')
			return 0;
		if (strcmp(w->symbol, symbol) == 0)
			break;
	}
	if (!(w->channels & (1u << channel)))
		return 0;
	return interval < 0 || interval > 31 || (w->intervals & (1u << interval)) != 0;
}

/* Forget the interest (the connection is gone: the next gateway says its own). */
static void
gwf_want_clear(struct gw_feed_sender *gs)
{
	free(gs->want);
	gs->want = NULL;
	gs->want_cap = gs->want_n = 0;
	gs->want_known = 0;
}

/* IPC_GW_INTEREST: {s: [[symbol, channels, intervals], ...]}.  0, or -1 with *why. */
static int
gwf_want_set(struct gw_feed_sender *gs, const msgpack_object *body, const char **why)
{
	const msgpack_object *arr = mp_get(body, "s");
	struct gw_interest *t;
	size_t cap = 16, n;

	if (arr == NULL || arr->type != MSGPACK_OBJECT_ARRAY) {
		*why = "interest without s";
		return -1;
	}
	if ((n = arr->via.array.size) > GW_INTEREST_MAX) {
		*why = "interest of too many symbols";
		return -1;
	}
	while (cap < 2 * n)
		cap *= 2;
	if ((t = calloc(cap, sizeof(*t))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		const msgpack_object *e = &arr->via.array.ptr[k], *v;
		struct gw_interest *w;
		size_t i;

		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 3 ||
		    (v = e->via.array.ptr)[0].type != MSGPACK_OBJECT_STR ||
		    v[0].via.str.size == 0 || v[0].via.str.size >= sizeof(t->symbol) ||
		    memchr(v[0].via.str.ptr, '\0', v[0].via.str.size) != NULL ||
		    v[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || v[1].via.u64 > UINT32_MAX ||
		    v[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER || v[2].via.u64 > UINT32_MAX) {
			free(t);
			*why = "an interest entry is not [symbol, channels, intervals]";
			return -1;
		}
		{
			char sym[sizeof(t->symbol)];

			memcpy(sym, v[0].via.str.ptr, v[0].via.str.size);
			sym[v[0].via.str.size] = '\0';
			for (i = gwf_sym_hash(sym) & (cap - 1); t[i].symbol[0] != '\0' &&
			    strcmp(t[i].symbol, sym) != 0; i = (i + 1) & (cap - 1))
				;
			w = &t[i];
			memcpy(w->symbol, sym, sizeof(sym));
		}
		w->channels |= (uint32_t)v[1].via.u64;
		w->intervals |= (uint32_t)v[2].via.u64;
	}
	free(gs->want);
	gs->want = t;
	gs->want_cap = cap;
	gs->want_n = n;
	gs->want_known = 1;
	gs->st.interests++;
	return 0;
}

static void
put_be(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static void
gwf_prefix(unsigned char *p, uint64_t lost, int64_t t_us, uint32_t n)
{
	p[0] = 0x83;			/* map of 3 */
	p[1] = 0xa4;			/* fixstr 4 */
	memcpy(p + 2, "lost", 4);
	p[6] = 0xcf;			/* uint64 */
	put_be(p + 7, lost, 8);
	p[15] = 0xa1;			/* fixstr 1 */
	p[16] = 't';
	p[17] = 0xd3;			/* int64 */
	put_be(p + 18, (uint64_t)t_us, 8);
	p[26] = 0xa2;			/* fixstr 2 */
	memcpy(p + 27, "ev", 2);
	p[29] = 0xdd;			/* array32 */
	put_be(p + 30, n, 4);
}

void
gw_feed_sender_stamp(struct gw_feed_sender *gs, int64_t t_us)
{
	if (gs->t_us == 0 || t_us < gs->t_us)
		gs->t_us = t_us;
}

/*
 * Count n events as dropped: the next frame says so.  Drops while the
 * gateway is away are not logged one by one (the lost connection was).
 */
static void
gwf_drop(struct gw_feed_sender *gs, size_t n, const char *why)
{
	gs->st.dropped += n;
	gs->lost += n;
	if (why != NULL)
		log_warnx_rl(&gs->drop_rl, "gateway feed: %zu events dropped (%s; %" PRIu64
		    " so far)", n, why, gs->st.dropped);
}

void
gw_feed_lost(struct gw_feed_sender *gs, size_t n)
{
	gwf_drop(gs, n, NULL);
}

int
gw_feed_sender_connected(const struct gw_feed_sender *gs)
{
	return gs->conn != NULL;
}

static void
gwf_clear(struct gw_feed_sender *gs)
{
	msgpack_sbuffer_clear(&gs->q);
	gs->qn = 0;
	gs->st.queued_bytes = gs->conn ? ipc_pending(gs->conn) : 0;
}

/* Frames ipc.c has written whole are sent; c is the connection (also while it is being dropped). */
static void
gwf_reap(struct gw_feed_sender *gs, struct ipc_conn *c)
{
	uint64_t written = gs->handed - (c != NULL ? ipc_pending(c) : 0);

	while (gs->fr_n > 0 && gs->fr[gs->fr_head].end <= written) {
		gs->st.sent += gs->fr[gs->fr_head].n;
		gs->fr_head = (gs->fr_head + 1) % gs->fr_cap;
		gs->fr_n--;
	}
	if (gs->fr_n == 0)
		ev_timer_stop(gs->loop, &gs->reap_timer);
}

static void
gwf_reap_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct gw_feed_sender *gs = t->data;

	gwf_reap(gs, gs->conn);
	gs->st.queued_bytes = gs->conn ? ipc_pending(gs->conn) + (gs->qn ? gs->q.size : 0) : 0;
}

/* Note a frame of n events and len bytes about to be handed to ipc.c.  0, or -1 (memory). */
static int
gwf_frame_push(struct gw_feed_sender *gs, size_t len, size_t n)
{
	if (gs->fr_n == gs->fr_cap) {
		size_t ncap = gs->fr_cap ? gs->fr_cap * 2 : 64;
		struct gwf_frame *nf = malloc(ncap * sizeof(*nf));

		if (nf == NULL)
			return -1;
		for (size_t i = 0; i < gs->fr_n; i++)
			nf[i] = gs->fr[(gs->fr_head + i) % gs->fr_cap];
		free(gs->fr);
		gs->fr = nf;
		gs->fr_head = 0;
		gs->fr_cap = ncap;
	}
	gs->handed += IPC_HDR_LEN + len;
	gs->fr[(gs->fr_head + gs->fr_n) % gs->fr_cap] = (struct gwf_frame){ gs->handed, (uint32_t)n };
	gs->fr_n++;
	if (!ev_is_active(&gs->reap_timer)) {
		ev_timer_set(&gs->reap_timer, GWF_REAP_S, GWF_REAP_S);
		ev_timer_start(gs->loop, &gs->reap_timer);
	}
	return 0;
}

/* Send the frame being built (also an empty one that only reports losses). */
static void
gwf_flush(struct gw_feed_sender *gs, int even_empty)
{
	size_t n = gs->qn;
	uint64_t lost = gs->lost;

	ev_timer_stop(gs->loop, &gs->flush_timer);
	if (gs->conn == NULL || (n == 0 && !(even_empty && lost > 0)))
		return;
	if (n == 0) {
		msgpack_sbuffer_clear(&gs->q);
		msgpack_sbuffer_write(&gs->q, gwf_zero, GWF_PREFIX_LEN);
	}
	gwf_prefix((unsigned char *)gs->q.data, lost, gs->t_us, (uint32_t)n);
	gs->t_us = 0;
	gs->qn = 0;		/* the close callback, should ipc_send drop us, leaves q alone */
	if (gwf_frame_push(gs, gs->q.size, n) == -1) {
		gwf_clear(gs);
		gwf_drop(gs, n, "out of memory");
		return;
	}
	if (ipc_send(gs->conn, IPC_DP_EVENTS, gs->q.data, gs->q.size) == -1) {
		if (gs->conn != NULL) {
			/* Refused, not dropped: the frame was not handed after all. */
			gs->fr_n--;
			gs->handed -= IPC_HDR_LEN + gs->q.size;
			gwf_drop(gs, n, "the frame was refused");
		}
		/* else the close callback counted its events as dropped */
		gwf_clear(gs);
		return;
	}
	gs->lost -= lost;
	gs->st.frames++;
	gwf_reap(gs, gs->conn);
	gwf_clear(gs);
}

static void
gwf_flush_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	gwf_flush(t->data, 0);
}

/* Room for len more bytes (and a prefix when the frame is new)?  Else drop. */
static int
gwf_room(struct gw_feed_sender *gs, size_t len, size_t n)
{
	if (gs->conn == NULL) {
		gwf_drop(gs, n, NULL);
		return -1;
	}
	if (ipc_pending(gs->conn) + gs->q.size + len > gs->max_queued) {
		gwf_drop(gs, n, "the gateway does not keep up");
		return -1;
	}
	if (gs->qn == 0) {
		msgpack_sbuffer_clear(&gs->q);
		msgpack_sbuffer_write(&gs->q, gwf_zero, GWF_PREFIX_LEN);
	}
	return 0;
}

static void
gwf_queued(struct gw_feed_sender *gs, size_t n)
{
	gs->qn += n;
	gs->st.queued_bytes = ipc_pending(gs->conn) + gs->q.size;
	if (gs->q.size >= GWF_FRAME_BYTES)
		gwf_flush(gs, 0);
	else if (!ev_is_active(&gs->flush_timer)) {
		/* Everything queued in this loop iteration goes in one frame. */
		ev_timer_set(&gs->flush_timer, 0., 0.);
		ev_timer_start(gs->loop, &gs->flush_timer);
	}
}

int
gw_feed_send(struct gw_feed_sender *gs, const struct event *ev)
{
	msgpack_packer pk;
	size_t before;

	if (gwf_room(gs, 0, 1) == -1)
		return -1;
	before = gs->q.size;
	msgpack_packer_init(&pk, &gs->q, msgpack_sbuffer_write);
	ev_pack(&pk, ev);
	/* Its size is known once packed: past the bound it goes again. */
	if (ipc_pending(gs->conn) + gs->q.size > gs->max_queued) {
		gs->q.size = before;
		gwf_drop(gs, 1, "the gateway does not keep up");
		return -1;
	}
	gwf_queued(gs, 1);
	return 0;
}

int
gw_feed_send_packed(struct gw_feed_sender *gs, const void *data, size_t len, size_t n)
{
	if (n == 0)
		return 0;
	if (gwf_room(gs, len, n) == -1)
		return -1;
	msgpack_sbuffer_write(&gs->q, data, len);
	gwf_queued(gs, n);
	return 0;
}

static void
gwf_msg_cb(struct ipc_conn *c, const struct ipc_hdr *h, const msgpack_object *body, void *arg)
{
	struct gw_feed_sender *gs = arg;
	const char *why = "unexpected frame from the gateway";

	/* The gateway sends only its market interest (the accept mask lets nothing else through). */
	if (h->type == IPC_GW_INTEREST && gwf_want_set(gs, body, &why) == 0)
		return;
	log_warnx_rl(&gs->drop_rl, "gateway feed: %s; connection dropped", why);
	ipc_drop(c, why);
}

static void
gwf_retry(struct gw_feed_sender *gs)
{
	gs->backoff_s = dp_backoff_next(gs->backoff_s);
	ev_timer_set(&gs->connect_timer, gs->backoff_s, 0.);
	ev_timer_start(gs->loop, &gs->connect_timer);
}

static void
gwf_close_cb(struct ipc_conn *c, const char *why, void *arg)
{
	struct gw_feed_sender *gs = arg;

	/* What ipc.c had not written whole is lost with the connection. */
	gwf_reap(gs, c);
	while (gs->fr_n > 0) {
		gwf_drop(gs, gs->fr[gs->fr_head].n, NULL);
		gs->fr_head = (gs->fr_head + 1) % gs->fr_cap;
		gs->fr_n--;
	}
	ev_timer_stop(gs->loop, &gs->reap_timer);
	gs->handed = 0;
	gs->conn = NULL;
	gs->st.connected = 0;
	gwf_want_clear(gs);
	ev_timer_stop(gs->loop, &gs->flush_timer);
	if (gs->qn > 0) {
		size_t n = gs->qn;

		gwf_clear(gs);
		gwf_drop(gs, n, NULL);
	}
	gs->st.queued_bytes = 0;
	/* The gateway restarts, or stops first at shutdown: not an error of ours. */
	log_info("gateway feed: connection lost (%s); events are dropped and counted until "
	    "it is back", why);
	gs->backoff_s = 0;
	gwf_retry(gs);
}

static void
gwf_connect(struct gw_feed_sender *gs)
{
	int fd;

	if ((fd = dp_dial(gs->path)) == -1) {
		if (!gs->warned) {
			log_info("gateway feed: cannot connect to %s: %s (retrying)", gs->path,
			    strerror(errno));
			gs->warned = 1;
		}
		gwf_retry(gs);
		return;
	}
	if ((gs->conn = ipc_conn_new(gs->loop, fd, "gateway", IPC_ACCEPT_GW_SENDER, gwf_msg_cb,
	    gwf_close_cb, gs)) == NULL) {
		close(fd);
		gwf_retry(gs);
		return;
	}
	if (dp_hello(gs->conn, gs->role, gs->instance) == -1 || gs->conn == NULL)
		return;		/* dropped at once; the close callback retries */
	if (gs->warned || gs->st.connects)
		log_info("gateway feed: connected to %s (%" PRIu64 " events dropped meanwhile)",
		    gs->path, gs->lost);
	gs->warned = 0;
	gs->st.connects++;
	gs->st.connected = 1;
	gwf_flush(gs, 1);	/* the losses, at once */
}

static void
gwf_connect_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	gwf_connect(t->data);
}

struct gw_feed_sender *
gw_feed_sender_new(struct ev_loop *loop, const char *socket_path, const char *role,
    int instance, size_t max_queued_bytes)
{
	struct gw_feed_sender *gs;

	if ((gs = calloc(1, sizeof(*gs))) == NULL || (gs->path = strdup(socket_path)) == NULL) {
		free(gs);
		return NULL;
	}
	gs->loop = loop;
	snprintf(gs->role, sizeof(gs->role), "%s", role);
	gs->instance = instance;
	gs->max_queued = max_queued_bytes;
	if (gs->max_queued > GWF_QUEUE_MAX)
		gs->max_queued = GWF_QUEUE_MAX;
	if (gs->max_queued < 65536)
		gs->max_queued = 65536;
	gs->drop_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 3);
	msgpack_sbuffer_init(&gs->q);
	ev_timer_init(&gs->flush_timer, gwf_flush_cb, 0., 0.);
	ev_timer_init(&gs->connect_timer, gwf_connect_cb, 0., 0.);
	ev_timer_init(&gs->reap_timer, gwf_reap_cb, GWF_REAP_S, GWF_REAP_S);
	gs->flush_timer.data = gs->connect_timer.data = gs->reap_timer.data = gs;
	gwf_connect(gs);
	return gs;
}

const struct gw_feed_sender_stats *
gw_feed_sender_stats(const struct gw_feed_sender *gs)
{
	return &gs->st;
}

void
gw_feed_sender_pack(const struct gw_feed_sender *gs, msgpack_packer *pk)
{
	msgpack_pack_map(pk, 8);
	mp_kv_u64(pk, "gw_feed_sent", gs->st.sent);
	mp_kv_u64(pk, "gw_feed_interests", gs->st.interests);
	mp_kv_u64(pk, "gw_feed_interest_symbols", gs->want_n);
	mp_kv_u64(pk, "gw_feed_dropped", gs->st.dropped);
	mp_kv_u64(pk, "gw_feed_frames", gs->st.frames);
	mp_kv_u64(pk, "gw_feed_connects", gs->st.connects);
	mp_kv_u64(pk, "gw_feed_connected", gs->st.connected);
	mp_kv_u64(pk, "gw_feed_queued_bytes", gs->st.queued_bytes);
}

void
gw_feed_sender_free(struct gw_feed_sender *gs)
{
	if (gs == NULL)
		return;
	ev_timer_stop(gs->loop, &gs->connect_timer);
	gwf_flush(gs, 0);
	ev_timer_stop(gs->loop, &gs->flush_timer);
	ev_timer_stop(gs->loop, &gs->reap_timer);
	if (gs->conn) {
		ipc_flush(gs->conn, 200);
		ipc_close(gs->conn);
	}
	free(gs->fr);
	gwf_want_clear(gs);
	msgpack_sbuffer_destroy(&gs->q);
	free(gs->path);
	free(gs);
}

/* ---------------------------------------------------------- the receiver */

struct gwf_peer {
	struct gw_feed		*f;
	struct ipc_conn		*c;
	char			 role[16];
	int			 instance;
	int			 hello;
	struct gwf_peer		*next;
};

struct gw_feed {
	struct ev_loop		*loop;
	char			*path;
	int			 fd;
	ev_io			 accept_io;
	gw_feed_event_fn	 event_cb;
	gw_feed_hole_fn		 hole_cb;
	void			*arg;
	struct gwf_peer		*peers;
	int			 npeers;
	struct log_ratelimit	 bad_rl;
	struct gw_feed_stats	 st;
	msgpack_sbuffer		 interest;	/* the IPC_GW_INTEREST body, sent to market senders */
	int64_t			 frame_us;	/* the stamp of the frame being delivered, 0: none */
};

int64_t
gw_feed_frame_us(const struct gw_feed *f)
{
	return f->frame_us;
}

const struct gw_feed_stats *
gw_feed_stats(const struct gw_feed *f)
{
	return &f->st;
}

static void
gwf_bad_frame(struct gwf_peer *p, const char *why)
{
	p->f->st.invalid++;
	log_warnx_rl(&p->f->bad_rl, "gateway feed: %s %d: bad frame, connection dropped: %s",
	    p->hello ? p->role : "sender", p->instance, why);
	ipc_drop(p->c, why);
}

/* The market interest to one market sender (nothing wanted until the gateway's first). */
static void
gwf_send_interest(struct gwf_peer *p)
{
	static const unsigned char none[] = { 0x81, 0xa1, 's', 0x90 };	/* {s: []} */
	const msgpack_sbuffer *b = &p->f->interest;

	if (b->size > 0)
		(void)ipc_send(p->c, IPC_GW_INTEREST, b->data, b->size);
	else
		(void)ipc_send(p->c, IPC_GW_INTEREST, none, sizeof(none));
}

int
gw_feed_set_interest(struct gw_feed *f, const struct gw_interest *w, size_t n)
{
	msgpack_packer pk;
	struct gwf_peer *p, *next;

	if (n > GW_INTEREST_MAX)
		n = GW_INTEREST_MAX;
	msgpack_sbuffer_clear(&f->interest);
	msgpack_packer_init(&pk, &f->interest, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_str(&pk, "s");
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(&pk, 3);
		mp_str(&pk, w[i].symbol);
		msgpack_pack_uint32(&pk, w[i].channels);
		msgpack_pack_uint32(&pk, w[i].intervals);
	}
	if (f->interest.data == NULL)
		return -1;
	f->st.interests++;
	for (p = f->peers; p != NULL; p = next) {
		next = p->next;		/* a failed send drops p */
		if (p->hello && strcmp(p->role, "market") == 0)
			gwf_send_interest(p);
	}
	return 0;
}

static void
gwf_hello(struct gwf_peer *p, const msgpack_object *body)
{
	struct ipcmsg_dp_hello m;
	const char *why;

	if (p->hello) {
		gwf_bad_frame(p, "a second HELLO");
		return;
	}
	if (ipcmsg_dp_hello(body, &m, &why) == -1) {
		gwf_bad_frame(p, why);
		return;
	}
	snprintf(p->role, sizeof(p->role), "%s", m.role);
	p->instance = m.instance > INT32_MAX ? INT32_MAX : (int)m.instance;
	p->hello = 1;
	p->f->st.senders++;
	p->f->st.holes++;
	log_info("gateway feed: %s %d (pid %" PRId64 ") connected", p->role, p->instance, m.pid);
	if (strcmp(p->role, "market") == 0)
		gwf_send_interest(p);
	p->f->hole_cb(p->role, p->instance, 0, p->f->arg);
}

static void
gwf_events(struct gwf_peer *p, const msgpack_object *body)
{
	struct gw_feed *f = p->f;
	const msgpack_object *arr, *lo;
	const char *why;
	struct event ev;

	if (!p->hello) {
		gwf_bad_frame(p, "EVENTS before HELLO");
		return;
	}
	if (ipcmsg_dp_events(body, &arr, &why) == -1) {
		gwf_bad_frame(p, why);
		return;
	}
	if ((lo = mp_get(body, "lost")) == NULL || lo->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		gwf_bad_frame(p, "EVENTS without a lost count");
		return;
	}
	f->st.frames++;
	f->frame_us = 0;
	if ((lo = mp_get(body, "t")) != NULL && (lo->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    lo->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) && lo->via.i64 > 0)
		f->frame_us = lo->via.i64;
	lo = mp_get(body, "lost");
	if (lo->via.u64 > 0) {
		f->st.holes++;
		f->st.lost += lo->via.u64;
		f->hole_cb(p->role, p->instance, lo->via.u64, f->arg);
	}
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		if (ev_unpack(&arr->via.array.ptr[i], &ev, &why) == -1) {
			/* One bad event costs only itself, and says the view has a hole. */
			f->st.invalid++;
			f->st.holes++;
			f->st.lost++;
			log_warnx_rl(&f->bad_rl, "gateway feed: %s %d: event %u of a frame skipped: %s",
			    p->role, p->instance, i, why);
			f->hole_cb(p->role, p->instance, 1, f->arg);
			continue;
		}
		f->st.events++;
		f->event_cb(&ev, f->arg);
		ev_clear(&ev);
	}
}

static void
gwf_peer_msg_cb(struct ipc_conn *c, const struct ipc_hdr *h, const msgpack_object *body,
    void *arg)
{
	struct gwf_peer *p = arg;

	if (h->type == IPC_DP_HELLO)
		gwf_hello(p, body);
	else if (h->type == IPC_DP_EVENTS)
		gwf_events(p, body);
	else
		gwf_bad_frame(p, "unexpected frame type");
}

static void
gwf_peer_close_cb(struct ipc_conn *c, const char *why, void *arg)
{
	struct gwf_peer *p = arg, **pp;
	struct gw_feed *f = p->f;

	/* ipc.c drops a peer whose framing is broken: a bad frame too. */
	if (strncmp(why, "malformed frame", 15) == 0 || strcmp(why, "receive buffer overflow") == 0) {
		f->st.invalid++;
		log_warnx_rl(&f->bad_rl, "gateway feed: %s %d: connection dropped: %s",
		    p->hello ? p->role : "sender", p->instance, why);
	} else if (p->hello)
		log_info("gateway feed: %s %d disconnected (%s)", p->role, p->instance, why);
	for (pp = &f->peers; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	f->npeers--;
	if (p->hello)
		f->st.senders--;
	free(p);
}

static void
gwf_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct gw_feed *f = w->data;
	struct gwf_peer *p;
	int fd;

	for (int i = 0; i < 64; i++) {
		if ((fd = accept4(f->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("gateway feed: accept");
			return;
		}
		if (f->npeers >= GWF_PEERS_MAX || (p = calloc(1, sizeof(*p))) == NULL) {
			log_warnx_rl(&f->bad_rl, "gateway feed: %d senders connected already; "
			    "refusing another", f->npeers);
			close(fd);
			continue;
		}
		p->f = f;
		p->instance = -1;
		if ((p->c = ipc_conn_new(loop, fd, "gateway feed sender", IPC_ACCEPT_WRITER,
		    gwf_peer_msg_cb, gwf_peer_close_cb, p)) == NULL) {
			close(fd);
			free(p);
			continue;
		}
		p->next = f->peers;
		f->peers = p;
		f->npeers++;
	}
}

struct gw_feed *
gw_feed_listen(struct ev_loop *loop, const char *socket_path, gw_feed_event_fn event_cb,
    gw_feed_hole_fn hole_cb, void *arg, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct gw_feed *f;
	mode_t um;
	int fd;

	if (ipc_unix_addr(socket_path, &sun) == -1) {
		snprintf(err, errlen, "%s: path too long for a Unix socket", socket_path);
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL || (f->path = strdup(socket_path)) == NULL) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/* A stale socket of a previous gateway (there is one gateway). */
	if (unlink(socket_path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s: %s", socket_path, strerror(errno));
		goto fail_fd;
	}
	um = umask(077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(um);
		snprintf(err, errlen, "bind %s: %s", socket_path, strerror(errno));
		goto fail_fd;
	}
	umask(um);
	if (chmod(socket_path, 0600) == -1 || listen(fd, 64) == -1) {
		snprintf(err, errlen, "%s: %s", socket_path, strerror(errno));
		unlink(socket_path);
		goto fail_fd;
	}
	f->loop = loop;
	f->fd = fd;
	f->event_cb = event_cb;
	f->hole_cb = hole_cb;
	f->arg = arg;
	f->bad_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	msgpack_sbuffer_init(&f->interest);
	ev_io_init(&f->accept_io, gwf_accept_cb, fd, EV_READ);
	f->accept_io.data = f;
	ev_io_start(loop, &f->accept_io);
	return f;
fail_fd:
	close(fd);
fail:
	free(f->path);
	free(f);
	return NULL;
}

void
gw_feed_close(struct gw_feed *f)
{
	if (f == NULL)
		return;
	ev_io_stop(f->loop, &f->accept_io);
	close(f->fd);
	unlink(f->path);
	while (f->peers)
		ipc_drop(f->peers->c, "gateway feed closed");
	msgpack_sbuffer_destroy(&f->interest);
	free(f->path);
	free(f);
}
