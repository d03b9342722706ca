/*
 * gwfeed_test.c: the gateway feed over a real Unix socket on one libev
 * loop: events arrive in order with every field equal; a gateway that goes
 * away makes the sender drop and count, reconnect, and say `lost` first; a
 * gateway that does not read never blocks the sender nor grows its queue
 * past the bound; malformed frames and events are counted, cost only
 * themselves and never stop the receiver.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "event.h"
#include "gwfeed.h"
#include "ipc.h"
#include "log.h"
#include "mpack.h"

#include "evsample.h"

#define MAXEV	4096

static struct {
	char		*json[MAXEV];	/* received, as ev_to_json */
	uint64_t	 seq[MAXEV];
	size_t		 n;
	uint64_t	 holes, lost;
	char		 hole_role[16];
	uint64_t	 first_hole_lost[8];
	size_t		 nholes_seen;
} rx;

static void
on_event(const struct event *ev, void *arg)
{
	cr_assert_lt(rx.n, MAXEV);
	rx.seq[rx.n] = ev->seq;
	rx.json[rx.n++] = ev_to_json(ev);
}

static void
on_hole(const char *role, int instance, uint64_t lost, void *arg)
{
	snprintf(rx.hole_role, sizeof(rx.hole_role), "%s", role);
	if (rx.nholes_seen < 8)
		rx.first_hole_lost[rx.nholes_seen] = lost;
	rx.nholes_seen++;
	rx.holes++;
	rx.lost += lost;
}

static void
rx_reset(void)
{
	for (size_t i = 0; i < rx.n; i++)
		free(rx.json[i]);
	memset(&rx, 0, sizeof(rx));
}

/* Run the loop until cond() or the deadline (seconds); 1 if cond() held. */
static int
run_until(struct ev_loop *loop, int (*cond)(void *), void *arg, double secs)
{
	ev_now_update(loop);
	double end = ev_now(loop) + secs;

	while (!cond(arg)) {
		if (ev_now(loop) > end)
			return 0;
		ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
		usleep(1000);
		ev_now_update(loop);
	}
	return 1;
}

static size_t want;
static int got_n(void *a) { return rx.n >= want; }
static const struct gw_feed_sender_stats *sst;
static int connected(void *a) { return sst->connected != 0; }
static int disconnected(void *a) { return sst->connected == 0; }
static int holes_ge(void *a) { return rx.holes >= *(uint64_t *)a; }
static int sent_n(void *a) { return sst->sent >= want; }

static char sock_path[108];

static void
setup(void)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/gwfeed_test.%d.sock", (int)getpid());
	unlink(sock_path);
	rx_reset();
	log_init("gwfeed_test");
}

/* Event i of a mixed stream: every type with a JSON form, fields varied by i. */
static void
make_event(struct event *ev, size_t i)
{
	static const unsigned types[] = { EV_ORDER, EV_FILL, EV_ALGO, EV_POSITION, EV_BALANCE,
		EV_MARGIN_CALL, EV_CONFIG, EV_UNKNOWN, EV_GAP, EV_KLINE, EV_MARK_PRICE, EV_FUNDING,
		EV_TICKER, EV_TRADE, EV_BOOK, EV_BOOK_TICKER, EV_LIQUIDATION };
	unsigned t = types[i % (sizeof(types) / sizeof(types[0]))];

	sample(ev, t);
	ev->seq = i + 1;
	ev->event_time += (int64_t)i;
	ev->recv_us += (int64_t)i * 7;
	if (!EV_IS_MARKET(t)) {
		ev->account_id = 100 + (int64_t)(i % 13);
		ev->user_id = 1000 + (int64_t)(i % 5);
	}
	ev_make_id(ev);
}

TestSuite(gwfeed, .init = setup);

Test(gwfeed, in_order_every_field)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char err[200];
	struct gw_feed *f = gw_feed_listen(loop, sock_path, on_event, on_hole, NULL, err,
	    sizeof(err));
	struct gw_feed_sender *gs;
	char *sent[1000];
	const size_t N = 1000;
	uint64_t one = 1;

	cr_assert_not_null(f, "%s", err);
	gs = gw_feed_sender_new(loop, sock_path, "writer", 0, 4 << 20);
	sst = gw_feed_sender_stats(gs);
	cr_assert(connected(NULL), "a sender connects at once when the gateway is there");
	cr_assert(run_until(loop, holes_ge, &one, 2), "HELLO is a hole");
	cr_assert_str_eq(rx.hole_role, "writer");
	cr_assert_eq(rx.first_hole_lost[0], 0);
	/* in several loop iterations, so several frames */
	for (size_t i = 0; i < N; i++) {
		struct event ev;

		make_event(&ev, i);
		sent[i] = ev_to_json(&ev);
		cr_assert_eq(gw_feed_send(gs, &ev), 0);
		ev_clear(&ev);
		if (i % 97 == 0)
			ev_run(loop, EVRUN_NOWAIT);
	}
	want = N;
	cr_assert(run_until(loop, got_n, NULL, 5), "received %zu of %zu", rx.n, N);
	for (size_t i = 0; i < N; i++) {
		cr_assert_str_eq(rx.json[i], sent[i], "event %zu", i);
		cr_assert_eq(rx.seq[i], i + 1);
		free(sent[i]);
	}
	want = N;
	cr_assert(run_until(loop, sent_n, NULL, 2), "sent %llu", (unsigned long long)sst->sent);
	cr_assert_eq(sst->sent, N);
	cr_assert_eq(sst->dropped, 0);
	cr_assert_gt(sst->frames, 1);
	cr_assert_eq(gw_feed_stats(f)->events, N);
	cr_assert_eq(gw_feed_stats(f)->frames, sst->frames);
	cr_assert_eq(gw_feed_stats(f)->senders, 1);
	cr_assert_eq(gw_feed_stats(f)->invalid, 0);
	cr_assert_eq(rx.holes, 1);
	gw_feed_sender_free(gs);
	gw_feed_close(f);
	ev_loop_destroy(loop);
}

Test(gwfeed, packed_runs)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char err[200];
	struct gw_feed *f = gw_feed_listen(loop, sock_path, on_event, on_hole, NULL, err,
	    sizeof(err));
	struct gw_feed_sender *gs = gw_feed_sender_new(loop, sock_path, "writer", 0, 1 << 20);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *sent[40];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (size_t i = 0; i < 40; i++) {
		struct event ev;

		make_event(&ev, i);
		sent[i] = ev_to_json(&ev);
		ev_pack(&pk, &ev);
		ev_clear(&ev);
		if (i % 10 == 9) {
			cr_assert_eq(gw_feed_send_packed(gs, sb.data, sb.size, 10), 0);
			msgpack_sbuffer_clear(&sb);
		}
	}
	want = 40;
	cr_assert(run_until(loop, got_n, NULL, 5));
	for (size_t i = 0; i < 40; i++) {
		cr_assert_str_eq(rx.json[i], sent[i], "event %zu", i);
		free(sent[i]);
	}
	msgpack_sbuffer_destroy(&sb);
	gw_feed_sender_free(gs);
	gw_feed_close(f);
	ev_loop_destroy(loop);
}

Test(gwfeed, gateway_killed_drop_count_reconnect_lost)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char err[200];
	struct gw_feed *f = gw_feed_listen(loop, sock_path, on_event, on_hole, NULL, err,
	    sizeof(err));
	struct gw_feed_sender *gs = gw_feed_sender_new(loop, sock_path, "writer", 0, 1 << 20);
	struct event ev;
	uint64_t h;
	char *after[3];

	sst = gw_feed_sender_stats(gs);
	make_event(&ev, 0);
	cr_assert_eq(gw_feed_send(gs, &ev), 0);
	ev_clear(&ev);
	want = 1;
	cr_assert(run_until(loop, got_n, NULL, 2));
	/* the gateway goes away */
	gw_feed_close(f);
	cr_assert(run_until(loop, disconnected, NULL, 2), "the sender sees the gateway gone");
	for (size_t i = 1; i <= 25; i++) {
		make_event(&ev, i);
		cr_assert_eq(gw_feed_send(gs, &ev), -1, "dropped while away, never queued");
		ev_clear(&ev);
	}
	cr_assert_eq(sst->dropped, 25);
	cr_assert_eq(sst->queued_bytes, 0);
	/* it comes back; the sender reconnects by itself (backoff 100 ms, 200 ms, ...) */
	rx_reset();
	f = gw_feed_listen(loop, sock_path, on_event, on_hole, NULL, err, sizeof(err));
	cr_assert_not_null(f, "%s", err);
	h = 2;
	cr_assert(run_until(loop, holes_ge, &h, 3), "HELLO then the lost frame: %llu holes",
	    (unsigned long long)rx.holes);
	cr_assert_eq(rx.first_hole_lost[0], 0, "HELLO");
	cr_assert_eq(rx.first_hole_lost[1], 25, "the first EVENTS frame says lost 25");
	cr_assert_eq(rx.n, 0, "that frame has no events");
	cr_assert_eq(gw_feed_stats(f)->lost, 25);
	cr_assert_eq(sst->connects, 2);
	/* and it flows again, with lost 0 */
	for (size_t i = 0; i < 3; i++) {
		make_event(&ev, 100 + i);
		after[i] = ev_to_json(&ev);
		cr_assert_eq(gw_feed_send(gs, &ev), 0);
		ev_clear(&ev);
	}
	want = 3;
	cr_assert(run_until(loop, got_n, NULL, 2));
	for (size_t i = 0; i < 3; i++) {
		cr_assert_str_eq(rx.json[i], after[i]);
		free(after[i]);
	}
	cr_assert_eq(rx.holes, 2, "no further hole");
	gw_feed_sender_free(gs);
	gw_feed_close(f);
	ev_loop_destroy(loop);
}

/* A gateway that accepts and never reads: the sender stays bounded and never blocks. */
Test(gwfeed, stalled_gateway_bounded)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct sockaddr_un sun;
	struct gw_feed_sender *gs;
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0), cfd;
	const size_t max = 256 * 1024;
	struct event ev;
	size_t ok = 0, dropped = 0;

	ipc_unix_addr(sock_path, &sun);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	gs = gw_feed_sender_new(loop, sock_path, "market", 3, max);
	sst = gw_feed_sender_stats(gs);
	cr_assert((cfd = accept(lfd, NULL, NULL)) >= 0);
	make_event(&ev, 14);		/* a book: the largest */
	cr_assert_eq(ev.type, EV_BOOK);
	for (size_t i = 0; i < 200000; i++) {
		if (gw_feed_send(gs, &ev) == 0)
			ok++;
		else
			dropped++;
		if (i % 100 == 0)
			ev_run(loop, EVRUN_NOWAIT);
		cr_assert_leq(sst->queued_bytes, max, "queued %zu > %zu", sst->queued_bytes, max);
	}
	ev_clear(&ev);
	cr_assert_gt(dropped, 0);
	cr_assert_eq(sst->dropped, dropped);
	cr_assert_eq(sst->connected, 1, "a slow gateway is not a lost one");
	cr_assert_gt(ok, 0);
	/* it goes away with frames still in the sender's buffer: every event is accounted for */
	close(cfd);
	cr_assert(run_until(loop, disconnected, NULL, 2));
	cr_assert_eq(sst->sent + sst->dropped, 200000, "sent %llu + dropped %llu",
	    (unsigned long long)sst->sent, (unsigned long long)sst->dropped);
	cr_assert_gt(sst->dropped, dropped, "the unwritten frames' events are dropped too");
	cr_assert_eq(sst->queued_bytes, 0);
	gw_feed_sender_free(gs);
	close(lfd);
	unlink(sock_path);
	ev_loop_destroy(loop);
}

static int
raw_connect(void)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ipc_unix_addr(sock_path, &sun);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void
raw_hello(int fd)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	mp_kv_str(&pk, "role", "writer");
	mp_kv_i64(&pk, "instance", 0);
	mp_kv_i64(&pk, "pid", 1);
	cr_assert_eq(ipc_write_frame(fd, IPC_DP_HELLO, 1, sb.data, sb.size), 0);
	msgpack_sbuffer_destroy(&sb);
}

static int peer_gone_fd;
static int peer_gone(void *a)
{
	char c;

	return recv(peer_gone_fd, &c, 1, MSG_DONTWAIT) == 0;
}

Test(gwfeed, malformed_costs_only_itself)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char err[200];
	struct gw_feed *f = gw_feed_listen(loop, sock_path, on_event, on_hole, NULL, err,
	    sizeof(err));
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct event ev;
	int fd;
	char *good[2];

	/* a frame of good, bad (a type no sender sends), good */
	fd = raw_connect();
	raw_hello(fd);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	mp_kv_u64(&pk, "lost", 0);
	mp_str(&pk, "ev");
	msgpack_pack_array(&pk, 3);
	make_event(&ev, 0);
	good[0] = ev_to_json(&ev);
	ev_pack(&pk, &ev);
	ev_clear(&ev);
	msgpack_pack_map(&pk, 2);		/* not an event */
	mp_kv_i64(&pk, "n", 2);
	mp_kv_i64(&pk, "t", 99);
	make_event(&ev, 1);
	good[1] = ev_to_json(&ev);
	ev_pack(&pk, &ev);
	ev_clear(&ev);
	cr_assert_eq(ipc_write_frame(fd, IPC_DP_EVENTS, 2, sb.data, sb.size), 0);
	want = 2;
	cr_assert(run_until(loop, got_n, NULL, 2));
	cr_assert_str_eq(rx.json[0], good[0]);
	cr_assert_str_eq(rx.json[1], good[1]);
	cr_assert_eq(gw_feed_stats(f)->invalid, 1);
	cr_assert_eq(rx.holes, 2, "HELLO and the bad event");
	cr_assert_eq(rx.first_hole_lost[1], 1);
	/* an EVENTS without its lost count: that sender is dropped, counted */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 1);
	mp_str(&pk, "ev");
	msgpack_pack_array(&pk, 0);
	cr_assert_eq(ipc_write_frame(fd, IPC_DP_EVENTS, 3, sb.data, sb.size), 0);
	peer_gone_fd = fd;
	cr_assert(run_until(loop, peer_gone, NULL, 2), "the bad sender is dropped");
	cr_assert_eq(gw_feed_stats(f)->invalid, 2);
	cr_assert_eq(gw_feed_stats(f)->senders, 0);
	close(fd);
	/* garbage bytes (no IPC header) */
	fd = raw_connect();
	cr_assert_eq(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	peer_gone_fd = fd;
	cr_assert(run_until(loop, peer_gone, NULL, 2));
	cr_assert_eq(gw_feed_stats(f)->invalid, 3);
	close(fd);
	/* EVENTS before HELLO */
	fd = raw_connect();
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	mp_kv_u64(&pk, "lost", 0);
	mp_str(&pk, "ev");
	msgpack_pack_array(&pk, 0);
	cr_assert_eq(ipc_write_frame(fd, IPC_DP_EVENTS, 1, sb.data, sb.size), 0);
	peer_gone_fd = fd;
	cr_assert(run_until(loop, peer_gone, NULL, 2));
	cr_assert_eq(gw_feed_stats(f)->invalid, 4);
	close(fd);
	/* and a good sender is served as ever */
	{
		struct gw_feed_sender *gs = gw_feed_sender_new(loop, sock_path, "writer", 0, 1 << 20);

		make_event(&ev, 5);
		cr_assert_eq(gw_feed_send(gs, &ev), 0);
		free(good[0]);
		good[0] = ev_to_json(&ev);
		ev_clear(&ev);
		want = 3;
		cr_assert(run_until(loop, got_n, NULL, 2));
		cr_assert_str_eq(rx.json[2], good[0]);
		gw_feed_sender_free(gs);
	}
	free(good[0]);
	free(good[1]);
	msgpack_sbuffer_destroy(&sb);
	gw_feed_close(f);
	ev_loop_destroy(loop);
}

/*
 * The market interest (gwfeed.h), as a property: for random sets of
 * (symbol, channel, interval) the gateway says, a market sender wants
 * exactly the streams of the set (checked for every symbol, channel and
 * interval of a larger universe); nothing before the first interest, an
 * empty interest wants nothing, a writer sender is never told, and a
 * sender whose gateway went forgets the interest until the next says.
 */
static const struct gw_feed_sender_stats *ist;
static uint64_t interests_want;
static int interests_ge(void *a) { return ist->interests >= interests_want; }

Test(gwfeed, market_interest_property)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char err[200], syms[12][16];
	struct gw_feed *f = gw_feed_listen(loop, sock_path, on_event, on_hole, NULL, err,
	    sizeof(err));
	struct gw_feed_sender *mk, *wr;
	struct gw_interest v[40];
	uint32_t truth_ch[12], truth_iv[12];
	uint64_t r = 0x9e3779b97f4a7c15ULL, one = 2;

	cr_assert_not_null(f, "%s", err);
	for (int i = 0; i < 12; i++)
		snprintf(syms[i], sizeof(syms[i]), "S%dUSDT", i * 7);
	mk = gw_feed_sender_new(loop, sock_path, "market", 0, 1 << 20);
	wr = gw_feed_sender_new(loop, sock_path, "writer", 0, 1 << 20);
	ist = gw_feed_sender_stats(mk);
	cr_assert(run_until(loop, holes_ge, &one, 2), "both said HELLO");
	cr_assert_eq(gw_feed_sender_wants(mk, syms[0], 7, -1), 0, "nothing before an interest");
	for (int round = 0; round < 200; round++) {
		size_t n = 0;

		memset(truth_ch, 0, sizeof(truth_ch));
		memset(truth_iv, 0, sizeof(truth_iv));
		/* round 0 and every 17th: the empty interest */
		if (round % 17 != 0)
			for (n = 0; n < 1 + (r >> 60); n++) {
				int s, ch, iv;

				r = r * 6364136223846793005ULL + 1442695040888963407ULL;
				s = (int)((r >> 33) % 9);	/* syms 9..11 never asked for */
				ch = 7 + (int)((r >> 40) % 5);	/* the market channels 7..11 */
				iv = (int)((r >> 50) % 15);
				memset(&v[n], 0, sizeof(v[n]));
				snprintf(v[n].symbol, sizeof(v[n].symbol), "%s", syms[s]);
				v[n].channels = 1u << ch;
				if (ch == 10)		/* GW_CH_KLINE: one interval */
					v[n].intervals = 1u << iv;
				truth_ch[s] |= v[n].channels;
				truth_iv[s] |= v[n].intervals;
			}
		interests_want = ist->interests + 1;
		cr_assert_eq(gw_feed_set_interest(f, v, n), 0);
		cr_assert(run_until(loop, interests_ge, NULL, 2), "round %d: interest arrived", round);
		for (int s = 0; s < 12; s++)
			for (int ch = 0; ch < 12; ch++)
				for (int iv = -1; iv < 15; iv++) {
					int exp = (truth_ch[s] & (1u << ch)) != 0 &&
					    (iv < 0 || (truth_iv[s] & (1u << iv)) != 0);

					cr_assert_eq(gw_feed_sender_wants(mk, syms[s], ch, iv), exp,
					    "round %d: %s channel %d interval %d: wants %d, truth %d",
					    round, syms[s], ch, iv, !exp, exp);
				}
		cr_assert_eq(gw_feed_sender_wants(wr, syms[0], 7, -1), 0, "the writer is never told");
	}
	cr_assert_eq(gw_feed_sender_stats(wr)->interests, 0);
	/* The gateway goes: the sender forgets; a new gateway says the empty interest first. */
	v[0] = (struct gw_interest){ .channels = 1u << 7 };
	snprintf(v[0].symbol, sizeof(v[0].symbol), "%s", syms[0]);
	interests_want = ist->interests + 1;
	cr_assert_eq(gw_feed_set_interest(f, v, 1), 0);
	cr_assert(run_until(loop, interests_ge, NULL, 2));
	cr_assert_eq(gw_feed_sender_wants(mk, syms[0], 7, -1), 1);
	gw_feed_close(f);
	sst = ist;
	cr_assert(run_until(loop, disconnected, NULL, 2));
	cr_assert_eq(gw_feed_sender_wants(mk, syms[0], 7, -1), 0, "forgotten with the gateway");
	f = gw_feed_listen(loop, sock_path, on_event, on_hole, NULL, err, sizeof(err));
	cr_assert_not_null(f, "%s", err);
	interests_want = ist->interests + 1;
	cr_assert(run_until(loop, interests_ge, NULL, 8), "the new gateway's interest on HELLO");
	cr_assert_eq(gw_feed_sender_wants(mk, syms[0], 7, -1), 0, "the new gateway's is empty");
	gw_feed_sender_free(mk);
	gw_feed_sender_free(wr);
	gw_feed_close(f);
	ev_loop_destroy(loop);
}
