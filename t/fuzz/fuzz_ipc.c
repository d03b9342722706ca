/*
 * fuzz_ipc.c: the IPC frame decoder as every receiver runs it - a real
 * ipc_conn reading a socket (ipc.c), frames checked by ipc_frame_parse -
 * and each receiver's handling of the bodies (ipcmsg.c).  The first byte
 * chooses the receiver: 0 the supervisor, 1 a worker, 2 the control
 * server, 3 exfeedctl, 4 the writer, 5 a data-plane sender; the rest is
 * what its peer wrote.  A bootstrap address (READY, KAFKA_BOOTSTRAP) that
 * passes must be printable host:port text.  The writer's events must pass the writer's codec
 * and SQL (fuzz_event_writer); exfeedctl's reply must print as JSON.
 */
#define _GNU_SOURCE
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <msgpack.h>

#include "config.h"
#include "event.h"
#include "fuzz.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "mpack.h"
#include "writer_sql.h"

enum receiver { R_SUPERVISOR, R_WORKER, R_CTL_SERVER, R_CTL_CLIENT, R_WRITER, R_DP_SENDER, R_N };

static const uint32_t masks[R_N] = {
	IPC_ACCEPT_SUPERVISOR, IPC_ACCEPT_WORKER, IPC_ACCEPT_CTL_SERVER, IPC_ACCEPT_CTL_CLIENT,
	IPC_ACCEPT_WRITER, IPC_ACCEPT_DP_SENDER,
};

struct peer {
	enum receiver	 r;
	int		 dead;
	int		 have_cfg;	/* worker: CONFIG came first */
	int		 hello;		/* writer: HELLO came first */
	unsigned	 msgs;
	struct wsql	*w;
	size_t		 events;
};

static void
close_cb(struct ipc_conn *c, const char *why, void *arg)
{
	struct peer *p = arg;

	FUZZ_ASSERT(why != NULL && why[0] != '\0', "dropped without a reason");
	p->dead = 1;
}

/* exfeedctl --json prints the reply with mp_to_json: it must be JSON. */
static void
reply_json(const msgpack_object *body)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	json_error_t e;
	json_t *j;

	if (fp == NULL)
		abort();
	mp_to_json(body, fp);
	if (fclose(fp) != 0)
		abort();
	/* Integers beyond int64 (a u64) and \u0000 in a key are JSON, but more than jansson holds. */
	j = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
	FUZZ_ASSERT(j != NULL || strstr(e.text, "NUL byte in object key") != NULL,
	    "mp_to_json printed no JSON (%s at %d): %.400s", e.text, e.position, buf);
	json_decref(j);
	free(buf);
}

static void
writer_events(struct ipc_conn *c, struct peer *p, const msgpack_object *body)
{
	const msgpack_object *arr;
	const char *why;
	struct event ev;

	if (!p->hello) {
		ipc_drop(c, "EVENTS before HELLO");
		return;
	}
	if (ipcmsg_dp_events(body, &arr, &why) == -1) {
		ipc_drop(c, why);
		return;
	}
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		if (ev_unpack(&arr->via.array.ptr[i], &ev, &why) == -1) {
			FUZZ_ASSERT(ev.type == 0 && why != NULL, "ev_unpack: -1 without a reason");
			continue;
		}
		fuzz_event_writer(&ev, p->w, 0);
		if (ev.type != EV_GAP && !EV_IS_MARKET(ev.type))	/* what reaches event_log */
			p->events++;
		ev_clear(&ev);
	}
}

/* What ipcmsg lets through as a bootstrap list: not empty, and no byte a log line would mind. */
static void
bootstraps_check(const char *what, const char *b, int may_be_empty)
{
	size_t n = strlen(b);

	FUZZ_ASSERT(n < IPCMSG_BOOTSTRAPS_LEN && (n > 0 || may_be_empty), "%s: length %zu", what, n);
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT(b[i] > ' ' && b[i] < 0x7f && b[i] != '/', "%s: byte 0x%02x", what,
		    (unsigned char)b[i]);
	FUZZ_ASSERT(n == 0 || strchr(b, ':') != NULL, "%s: no port in \"%s\"", what, b);
}

static void
msg_cb(struct ipc_conn *c, const struct ipc_hdr *h, const msgpack_object *body, void *arg)
{
	struct peer *p = arg;
	const char *why = NULL;
	char buf[256];
	int64_t v;

	FUZZ_ASSERT(h->type > 0 && h->type < IPC_TYPE_MAX && (masks[p->r] & IPC_BIT(h->type)),
	    "message type %u reached a receiver that does not take it", h->type);
	FUZZ_ASSERT(h->seq == ++p->msgs, "message %u delivered with sequence %u", p->msgs, h->seq);
	FUZZ_ASSERT(body->type == MSGPACK_OBJECT_MAP, "body is not a map");
	switch (p->r) {
	case R_SUPERVISOR:
		switch (h->type) {
		case IPC_READY: {
			struct ipcmsg_ready m;

			if (ipcmsg_ready(body, &m, &why) == -1)
				ipc_drop(c, why);
			else {
				FUZZ_ASSERT(m.pid > 0 && m.instance >= 0, "READY");
				bootstraps_check("READY", m.bootstraps, 1);
			}
			break;
		}
		case IPC_STATUS:
			if (ipcmsg_status(body, &v, &why) == -1)
				ipc_drop(c, why);
			else {
				/* The supervisor keeps the body for status replies. */
				msgpack_sbuffer sb;
				msgpack_packer pk;

				msgpack_sbuffer_init(&sb);
				msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
				msgpack_pack_object(&pk, *body);
				msgpack_sbuffer_destroy(&sb);
			}
			break;
		case IPC_CONFIG_ACK: {
			struct ipcmsg_config_ack m;

			if (ipcmsg_config_ack(body, &m, &why) == -1)
				ipc_drop(c, why);
			break;
		}
		case IPC_FATAL:
			ipcmsg_fatal(body, buf, sizeof(buf));
			FUZZ_ASSERT(strlen(buf) < sizeof(buf), "FATAL reason");
			break;
		}
		break;
	case R_WORKER:
		if (h->type != IPC_CONFIG && !p->have_cfg) {
			ipc_drop(c, "the first message must be CONFIG");
			break;
		}
		if (h->type == IPC_CONFIG) {
			struct config cfg;
			struct config_errors errs;

			if (ipcmsg_config(body, &v, &cfg, &errs, &why) == -1) {
				config_errors_free(&errs);
				ipc_drop(c, why);
				break;
			}
			config_errors_free(&errs);
			FUZZ_ASSERT(v > 0, "CONFIG generation %lld", (long long)v);
			config_free(&cfg);
			p->have_cfg = 1;
		} else if (h->type == IPC_STATUS_REQ) {
			char want[32];

			if (ipcmsg_status_req(body, &v, want, sizeof(want), &why) == -1)
				ipc_drop(c, why);
		} else if (h->type == IPC_GATHER) {
			struct ipcmsg_gather g;
			struct ipcmsg_gather_worker gw;

			if (ipcmsg_gather(body, &g, &why) == -1)
				ipc_drop(c, why);
			else
				for (size_t i = 0; i < g.workers->via.array.size; i++) {
					ipcmsg_gather_worker(&g, i, &gw);
					FUZZ_ASSERT(gw.role[0] && gw.state[0] && gw.instance >= 0 &&
					    gw.pid >= 0 && gw.restarts >= 0, "GATHER worker %zu", i);
				}
		} else if (h->type == IPC_KAFKA_BOOTSTRAP) {
			char addr[IPCMSG_BOOTSTRAPS_LEN];

			if (ipcmsg_kafka_bootstrap(body, addr, sizeof(addr), &why) == -1)
				ipc_drop(c, why);
			else
				bootstraps_check("KAFKA_BOOTSTRAP", addr, 0);
		}
		break;
	case R_CTL_SERVER:
		if (ipcmsg_ctl_request(body, buf, 64, &why) == -1)
			ipc_drop(c, why);
		break;
	case R_CTL_CLIENT:
		reply_json(body);
		break;
	case R_WRITER:
		if (h->type == IPC_DP_HELLO) {
			struct ipcmsg_dp_hello m;

			if (p->hello)
				ipc_drop(c, "HELLO twice");
			else if (ipcmsg_dp_hello(body, &m, &why) == -1)
				ipc_drop(c, why);
			else
				p->hello = 1;
		} else
			writer_events(c, p, body);
		break;
	case R_DP_SENDER:
		if (ipcmsg_dp_ack(body, &v, &why) == -1)
			ipc_drop(c, why);
		break;
	case R_N:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wsql *w;
	struct ev_loop *loop = EV_DEFAULT;
	struct peer p = { 0 };
	struct ipc_conn *c;
	size_t off = 1;
	int sv[2];

	if (size < 1)
		return 0;
	if (w == NULL && (w = wsql_new()) == NULL)
		abort();
	p.r = (enum receiver)(data[0] % R_N);
	p.w = w;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if ((c = ipc_conn_new(loop, sv[0], "fuzz peer", masks[p.r], msg_cb, close_cb, &p)) == NULL)
		abort();
	/* Write what the peer wrote, reading as the receiver would whenever the socket is full. */
	while (!p.dead) {
		ssize_t n = 0;

		if (off < size && (n = send(sv[1], data + off, size - off, MSG_NOSIGNAL)) == -1 &&
		    errno != EAGAIN)
			abort();
		if (n > 0)
			off += (size_t)n;
		if (off == size)
			shutdown(sv[1], SHUT_WR);
		ipc_drain(c);
		if (off == size)
			break;
	}
	/* The end of the stream: what is left is a truncated frame, or nothing. */
	if (!p.dead)
		ipc_drain(c);
	FUZZ_ASSERT(p.dead, "the receiver did not see the end of the stream");
	close(sv[1]);
	fuzz_wsql_check(w, p.events);
	return 0;
}
