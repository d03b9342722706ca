/* ipc_test.c: frame checks, and a framed connection on a real socketpair under libev. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"
#include "mpack.h"

static size_t
build(unsigned char *buf, unsigned type, const void *body, size_t len, uint32_t seq)
{
	ipc_hdr_encode(buf, type, (uint32_t)len, seq);
	memcpy(buf + IPC_HDR_LEN, body, len);
	return IPC_HDR_LEN + len;
}

static ssize_t
parse(const unsigned char *buf, size_t len, uint32_t mask, uint32_t seq, const char **err)
{
	msgpack_unpacked unp;
	struct ipc_hdr h;
	ssize_t r;

	msgpack_unpacked_init(&unp);
	*err = NULL;
	r = ipc_frame_parse(buf, len, mask, seq, &h, &unp, err);
	msgpack_unpacked_destroy(&unp);
	return r;
}

static const unsigned char status_body[] = { 0x81, 0xa3, 'c', 'm', 'd', 0xa6, 's', 't', 'a', 't', 'u', 's' };

Test(ipc, a_good_frame_and_its_prefixes)
{
	unsigned char buf[64];
	const char *err;
	size_t n = build(buf, IPC_CTL_REQUEST, status_body, sizeof(status_body), 1);

	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), (ssize_t)n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(parse(buf, i, IPC_ACCEPT_CTL_SERVER, 1, &err), 0, "prefix %zu", i);
}

Test(ipc, every_malformation_is_refused_with_a_reason)
{
	unsigned char buf[64];
	const char *err;
	size_t n;

	n = build(buf, IPC_CTL_REQUEST, status_body, sizeof(status_body), 1);
	buf[0] = 0x12;
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), -1);
	cr_assert(strstr(err, "bad magic"));

	n = build(buf, 200, status_body, sizeof(status_body), 1);
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), -1);
	cr_assert(strstr(err, "unexpected message type 200"));

	n = build(buf, IPC_READY, status_body, sizeof(status_body), 1);
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), -1, "READY is not for the control socket");

	ipc_hdr_encode(buf, IPC_CTL_REQUEST, 64 * 1024 + 1, 1);
	cr_assert_eq(parse(buf, IPC_HDR_LEN, IPC_ACCEPT_CTL_SERVER, 1, &err), -1,
	    "length is refused from the header alone, before any body arrives");
	cr_assert(strstr(err, "exceeds the limit"));

	n = build(buf, IPC_CTL_REQUEST, status_body, sizeof(status_body), 2);
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), -1);
	cr_assert(strstr(err, "sequence 2, expected 1"));

	n = build(buf, IPC_CTL_REQUEST, status_body, 6, 1);	/* map header + half a key */
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), -1);
	cr_assert(strstr(err, "not one complete msgpack object"));

	unsigned char trailing[sizeof(status_body) + 1];
	memcpy(trailing, status_body, sizeof(status_body));
	trailing[sizeof(status_body)] = 0xc0;
	n = build(buf, IPC_CTL_REQUEST, trailing, sizeof(trailing), 1);
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), -1, "trailing bytes");

	n = build(buf, IPC_CTL_REQUEST, (const unsigned char[]){ 0x93, 1, 2, 3 }, 4, 1);
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), -1);
	cr_assert(strstr(err, "not a map"));

	n = build(buf, IPC_CTL_REQUEST, (const unsigned char[]){ 0xc1 }, 1, 1);	/* never used */
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), -1);
}

/* A conn on a socketpair: messages arrive whole even when written byte by byte. */
static struct ev_loop *loop;
static int got_msgs, got_close;
static char close_why[200];
static unsigned last_type;

static void
msg_cb(struct ipc_conn *c, const struct ipc_hdr *h, const msgpack_object *body, void *arg)
{
	char cmd[32];

	got_msgs++;
	last_type = h->type;
	cr_assert_eq(mp_get_str(body, "cmd", cmd, sizeof(cmd)), 0);
	cr_assert_str_eq(cmd, "status");
	if (got_msgs == 3)
		ev_break(loop, EVBREAK_ALL);
}

static void
close_cb(struct ipc_conn *c, const char *why, void *arg)
{
	got_close++;
	snprintf(close_why, sizeof(close_why), "%s", why);
	ev_break(loop, EVBREAK_ALL);
}

static void
timeout_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	ev_break(l, EVBREAK_ALL);
}

static struct ipc_conn *
setup(int sv[2])
{
	ev_timer *t = malloc(sizeof(*t));

	loop = ev_loop_new(EVFLAG_AUTO);
	got_msgs = got_close = 0;
	close_why[0] = '\0';
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	ev_timer_init(t, timeout_cb, 2., 0.);
	ev_timer_start(loop, t);
	return ipc_conn_new(loop, sv[0], "test peer", IPC_ACCEPT_CTL_SERVER, msg_cb, close_cb, NULL);
}

Test(ipc, conn_reassembles_frames_split_anywhere)
{
	unsigned char buf[256];
	size_t n = 0;
	int sv[2];
	struct ipc_conn *c = setup(sv);

	for (uint32_t seq = 1; seq <= 3; seq++)
		n += build(buf + n, IPC_CTL_REQUEST, status_body, sizeof(status_body), seq);
	/* first byte alone, then the rest in one go */
	cr_assert_eq(write(sv[1], buf, 1), 1);
	ev_run(loop, EVRUN_NOWAIT);
	cr_assert_eq(write(sv[1], buf + 1, n - 1), (ssize_t)(n - 1));
	ev_run(loop, 0);
	cr_assert_eq(got_msgs, 3);
	cr_assert_eq(got_close, 0);
	ipc_close(c);
	close(sv[1]);
}

Test(ipc, conn_drops_a_peer_that_sends_garbage)
{
	unsigned char buf[64];
	int sv[2];
	size_t n;

	setup(sv);
	n = build(buf, IPC_CTL_REQUEST, status_body, sizeof(status_body), 1);
	buf[2] = 0x7f;	/* type 0x7fxx */
	cr_assert_eq(write(sv[1], buf, n), (ssize_t)n);
	ev_run(loop, 0);
	cr_assert_eq(got_close, 1);
	cr_assert(strstr(close_why, "malformed frame: unexpected message type"), "%s", close_why);
	/* the conn closed its end: the peer sees EOF */
	char c;
	cr_assert_eq(read(sv[1], &c, 1), 0);
	close(sv[1]);
}

Test(ipc, conn_reports_a_frame_cut_short_by_eof)
{
	unsigned char buf[64];
	int sv[2];
	size_t n;

	setup(sv);
	n = build(buf, IPC_CTL_REQUEST, status_body, sizeof(status_body), 1);
	cr_assert_eq(write(sv[1], buf, n - 3), (ssize_t)(n - 3));
	close(sv[1]);
	ev_run(loop, 0);
	cr_assert_eq(got_close, 1);
	cr_assert(strstr(close_why, "truncated"), "%s", close_why);
}

Test(ipc, send_and_blocking_read_agree)
{
	int sv[2];
	struct ipc_conn *c;
	unsigned char *rbuf;
	struct ipc_hdr h;
	msgpack_unpacked unp;
	const char *err;

	c = setup(sv);
	cr_assert_eq(ipc_send(c, IPC_CTL_REPLY, status_body, sizeof(status_body)), 0);
	cr_assert_eq(ipc_send(c, IPC_CTL_REPLY, status_body, sizeof(status_body)), 0);
	msgpack_unpacked_init(&unp);
	cr_assert_eq(ipc_read_frame(sv[1], IPC_ACCEPT_CTL_CLIENT, 1, 1000, &rbuf, &h, &unp, &err), 0);
	cr_assert_eq(h.type, IPC_CTL_REPLY);
	cr_assert_eq(h.seq, 1);
	free(rbuf);
	cr_assert_eq(ipc_send(c, IPC_CTL_REPLY, status_body, ipc_max_body(IPC_CTL_REPLY) + 1), -1,
	    "oversized sends are refused");
	msgpack_unpacked_destroy(&unp);
	ipc_close(c);
	close(sv[1]);
}

/*
 * A header that announces more elements or bytes than the body holds is
 * refused before msgpack-c reserves memory for it (an array32 of 2^32-1
 * elements in 5 bytes would cost it ~100 GiB); whole objects pass.
 */
Test(ipc, announced_sizes_beyond_the_body_are_refused_unread)
{
	static const unsigned char big_array[] = { 0x81, 0xa1, 'k', 0xdd, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char big_map[] = { 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0 };
	static const unsigned char big_str[] = { 0x81, 0xa1, 'k', 0xdb, 0x7f, 0xff, 0xff, 0xff, 'x' };
	static const unsigned char big_ext[] = { 0x81, 0xa1, 'k', 0xc9, 0x00, 0x10, 0x00, 0x00, 1 };
	static const unsigned char nested[] = { 0x81, 0xa1, 'k', 0x92, 0x91, 0xc0, 0xcb, 0, 0, 0, 0,
	    0, 0, 0, 0 };
	unsigned char buf[64];
	const char *err;
	size_t n, used;

	n = build(buf, IPC_CTL_REQUEST, big_array, sizeof(big_array), 1);
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), -1);
	cr_assert(strstr(err, "not one complete msgpack object in its 8 bytes"), "%s", err);
	cr_assert_eq(mp_check_sizes(big_map, sizeof(big_map), NULL), -1);
	cr_assert_eq(mp_check_sizes(big_str, sizeof(big_str), NULL), -1);
	cr_assert_eq(mp_check_sizes(big_ext, sizeof(big_ext), NULL), -1);
	cr_assert_eq(mp_check_sizes("\xc1", 1, NULL), -1);
	/* whole objects, and every prefix of one is incomplete */
	cr_assert_eq(mp_check_sizes(status_body, sizeof(status_body), &used), 0);
	cr_assert_eq(used, sizeof(status_body));
	cr_assert_eq(mp_check_sizes(nested, sizeof(nested), &used), 0);
	cr_assert_eq(used, sizeof(nested));
	for (size_t i = 0; i < sizeof(nested); i++)
		cr_assert_eq(mp_check_sizes(nested, i, NULL), -1, "prefix %zu", i);
	n = build(buf, IPC_CTL_REQUEST, nested, sizeof(nested), 1);
	cr_assert_eq(parse(buf, n, IPC_ACCEPT_CTL_SERVER, 1, &err), (ssize_t)n, "%s", err);
}

/* Every object the packer makes passes, whatever its shape (a property over many). */
Test(ipc, what_the_packer_makes_passes_the_size_check)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t used;

	for (unsigned seed = 1; seed < 300; seed++) {
		unsigned r = seed * 2654435761u;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 3);
		mp_str(&pk, "a");
		msgpack_pack_array(&pk, r % 40);
		for (unsigned i = 0; i < r % 40; i++)
			msgpack_pack_uint64(&pk, (uint64_t)r << (i % 33));
		mp_str(&pk, "s");
		{
			char s[70000];

			memset(s, 'x', sizeof(s));
			msgpack_pack_str(&pk, r % 70000);
			msgpack_pack_str_body(&pk, s, r % 70000);
		}
		mp_str(&pk, "d");
		msgpack_pack_double(&pk, (double)r / 7);
		cr_assert_eq(mp_check_sizes(sb.data, sb.size, &used), 0, "seed %u", seed);
		cr_assert_eq(used, sb.size, "seed %u", seed);
		msgpack_sbuffer_destroy(&sb);
	}
}

/*
 * exfeedctl --json prints replies with mp_to_json: JSON whatever they hold
 * (fuzz_ipc: a string cut inside a UTF-8 character printed as is was not).
 */
Test(ipc, mp_to_json_prints_json_whatever_the_object_holds)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked unp;
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	mp_str(&pk, "cut");
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "ab\xc3\"\n", 5);	/* a lead byte without its continuation */
	msgpack_pack_int(&pk, 7);			/* a key that is not a string */
	msgpack_pack_double(&pk, 0.0 / 0.0);
	msgpack_pack_array(&pk, 1);			/* a key that is an array of a string */
	mp_str(&pk, "k");
	msgpack_pack_double(&pk, 1.0 / 0.0);
	mp_str(&pk, "ok");
	mp_str(&pk, "é \xf0\x9f\x98\x80");
	msgpack_unpacked_init(&unp);
	cr_assert_eq(msgpack_unpack_next(&unp, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	fp = open_memstream(&out, &len);
	mp_to_json(&unp.data, fp);
	fclose(fp);
	cr_assert_str_eq(out, "{\"cut\":\"ab\\ufffd\\\"\\n\",\"7\":null,\"[\\\"k\\\"]\":null,"
	    "\"ok\":\"é \xf0\x9f\x98\x80\"}");
	free(out);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
}
