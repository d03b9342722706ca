/*
 * ipc.c: frame encoding/checking and a non-blocking framed connection on libev.
 * The checks are in one function (ipc_frame_parse) so the unit tests and every
 * peer - workers, supervisor, control socket - validate exactly the same way.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc.h"
#include "mpack.h"
#include "log.h"

#define IPC_WBUF_MAX	(8u * 1024 * 1024)	/* a peer that stops reading is dropped */

static const struct {
	const char	*name;
	size_t		 max_body;
} types[IPC_TYPE_MAX] = {
	[IPC_READY] = { "READY", 4096 },
	[IPC_HEARTBEAT] = { "HEARTBEAT", 4096 },
	[IPC_STATUS_REQ] = { "STATUS_REQ", 4096 },
	[IPC_STATUS] = { "STATUS", 4 * 1024 * 1024 },	/* with per-account rows */
	[IPC_CONFIG] = { "CONFIG", 1024 * 1024 },
	[IPC_CONFIG_ACK] = { "CONFIG_ACK", 4096 },
	[IPC_RECONCILE] = { "RECONCILE", 4096 },
	[IPC_SHUTDOWN] = { "SHUTDOWN", 4096 },
	[IPC_LOG_REOPEN] = { "LOG_REOPEN", 4096 },
	[IPC_FATAL] = { "FATAL", 4096 },
	[IPC_CTL_REQUEST] = { "CTL_REQUEST", 64 * 1024 },
	[IPC_CTL_REPLY] = { "CTL_REPLY", 4 * 1024 * 1024 },
	[IPC_DP_HELLO] = { "DP_HELLO", 256 },
	[IPC_DP_EVENTS] = { "DP_EVENTS", 8 * 1024 * 1024 },
	[IPC_DP_ACK] = { "DP_ACK", 64 },
	[IPC_KAFKA_BOOTSTRAP] = { "KAFKA_BOOTSTRAP", 512 },
	[IPC_GATHER_REQ] = { "GATHER_REQ", 64 },
	[IPC_GATHER] = { "GATHER", 4 * 1024 * 1024 },	/* the exposition, as CTL_REPLY */
	[IPC_GW_INTEREST] = { "GW_INTEREST", 4 * 1024 * 1024 },	/* up to GW_INTEREST_MAX symbols */
};

struct ipc_conn {
	struct ev_loop	*loop;
	int		 fd;
	ev_io		 rio;
	ev_io		 wio;
	uint32_t	 accept;
	uint32_t	 rx_seq;
	uint32_t	 tx_seq;
	unsigned char	*rbuf;
	size_t		 rlen, rcap;
	unsigned char	*wbuf;
	size_t		 woff, wlen, wcap;
	ipc_msg_fn	 on_msg;
	ipc_close_fn	 on_close;
	void		*arg;
	int		 dispatching;
	int		 dead;
	int		 drained;	/* the last read found nothing more */
	char		 peer[64];
};

const char *
ipc_type_name(unsigned t)
{
	return t > 0 && t < IPC_TYPE_MAX ? types[t].name : "unknown";
}

size_t
ipc_max_body(unsigned t)
{
	return t > 0 && t < IPC_TYPE_MAX ? types[t].max_body : 0;
}

void
ipc_hdr_encode(unsigned char *p, unsigned type, uint32_t len, uint32_t seq)
{
	uint16_t m = htons(IPC_MAGIC), t = htons((uint16_t)type);
	uint32_t l = htonl(len), s = htonl(seq);

	memcpy(p, &m, 2);
	memcpy(p + 2, &t, 2);
	memcpy(p + 4, &l, 4);
	memcpy(p + 8, &s, 4);
}

ssize_t
ipc_frame_parse(const unsigned char *buf, size_t len, uint32_t accept_mask,
    uint32_t expect_seq, struct ipc_hdr *h, msgpack_unpacked *out, const char **err)
{
	static char errbuf[128];
	uint16_t m, t;
	uint32_t l, s;
	size_t off = 0;

	if (len < IPC_HDR_LEN)
		return 0;
	memcpy(&m, buf, 2);
	memcpy(&t, buf + 2, 2);
	memcpy(&l, buf + 4, 4);
	memcpy(&s, buf + 8, 4);
	h->magic = ntohs(m);
	h->type = ntohs(t);
	h->len = ntohl(l);
	h->seq = ntohl(s);
	if (h->magic != IPC_MAGIC) {
		snprintf(errbuf, sizeof(errbuf), "bad magic 0x%04x", h->magic);
		*err = errbuf;
		return -1;
	}
	if (h->type == 0 || h->type >= IPC_TYPE_MAX || !(accept_mask & IPC_BIT(h->type))) {
		snprintf(errbuf, sizeof(errbuf), "unexpected message type %u (%s)",
		    h->type, ipc_type_name(h->type));
		*err = errbuf;
		return -1;
	}
	if (h->len > types[h->type].max_body) {
		snprintf(errbuf, sizeof(errbuf), "%s body of %u bytes exceeds the limit of %zu",
		    types[h->type].name, h->len, types[h->type].max_body);
		*err = errbuf;
		return -1;
	}
	if (h->seq != expect_seq) {
		snprintf(errbuf, sizeof(errbuf), "sequence %u, expected %u", h->seq, expect_seq);
		*err = errbuf;
		return -1;
	}
	if (len - IPC_HDR_LEN < h->len)
		return 0;
	if (mp_check_sizes((const char *)buf + IPC_HDR_LEN, h->len, NULL) == -1) {
		snprintf(errbuf, sizeof(errbuf), "%s body is not one complete msgpack object in its %u bytes (or announces "
		    "more than they hold)",
		    types[h->type].name, h->len);
		*err = errbuf;
		return -1;
	}
	if (msgpack_unpack_next(out, (const char *)buf + IPC_HDR_LEN, h->len, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != h->len) {
		snprintf(errbuf, sizeof(errbuf), "%s body is not one complete msgpack object",
		    types[h->type].name);
		*err = errbuf;
		return -1;
	}
	if (out->data.type != MSGPACK_OBJECT_MAP) {
		snprintf(errbuf, sizeof(errbuf), "%s body is not a map", types[h->type].name);
		*err = errbuf;
		return -1;
	}
	return (ssize_t)(IPC_HDR_LEN + h->len);
}

static void
conn_free(struct ipc_conn *c)
{
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

void
ipc_close(struct ipc_conn *c)
{
	if (c == NULL || c->dead)
		return;
	c->dead = 1;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	close(c->fd);
	c->fd = -1;
	if (!c->dispatching)
		conn_free(c);
}

void
ipc_drop(struct ipc_conn *c, const char *why)
{
	ipc_close_fn cb = c->on_close;
	void *arg = c->arg;

	if (c->dead)
		return;
	c->dispatching++;		/* keep c alive through the callback */
	ipc_close(c);
	if (cb)
		cb(c, why, arg);
	if (--c->dispatching == 0)
		conn_free(c);
}

static void
ipc_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_conn *c = w->data;
	const char *err = NULL;
	msgpack_unpacked unp;
	struct ipc_hdr h;
	ssize_t n;
	size_t off = 0;

	if (c->rcap - c->rlen < 16384) {
		size_t ncap = c->rcap ? c->rcap * 2 : 65536;
		unsigned char *nb;

		if (ncap > IPC_HDR_LEN + types[IPC_DP_EVENTS].max_body + 65536) {
			ipc_drop(c, "receive buffer overflow");
			return;
		}
		if ((nb = realloc(c->rbuf, ncap)) == NULL) {
			ipc_drop(c, "out of memory");
			return;
		}
		c->rbuf = nb;
		c->rcap = ncap;
	}
	n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	c->drained = n == -1 && errno == EAGAIN;
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		ipc_drop(c, strerror(errno));
		return;
	}
	if (n == 0) {
		ipc_drop(c, c->rlen ? "end of file inside a frame (truncated)" : "end of file");
		return;
	}
	c->rlen += (size_t)n;

	msgpack_unpacked_init(&unp);
	c->dispatching++;
	while (!c->dead) {
		ssize_t flen = ipc_frame_parse(c->rbuf + off, c->rlen - off, c->accept,
		    c->rx_seq + 1, &h, &unp, &err);

		if (flen == 0)
			break;
		if (flen < 0) {
			char why[200];

			snprintf(why, sizeof(why), "malformed frame: %s", err);
			ipc_drop(c, why);
			break;
		}
		c->rx_seq++;
		off += (size_t)flen;
		c->on_msg(c, &h, &unp.data, c->arg);
	}
	msgpack_unpacked_destroy(&unp);
	if (--c->dispatching == 0 && c->dead) {
		conn_free(c);
		return;
	}
	if (c->dead)
		return;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	/* A frame larger than its type allows was refused in the header check. */
}

/* Read and dispatch whatever the peer already wrote (its last words). */
void
ipc_drain(struct ipc_conn *c)
{
	c->dispatching++;
	for (int i = 0; i < 256 && !c->dead && !c->drained; i++)
		ipc_read_cb(c->loop, &c->rio, EV_READ);
	if (--c->dispatching == 0 && c->dead)
		conn_free(c);
}

static void
ipc_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_conn *c = w->data;
	ssize_t n;

	while (c->woff < c->wlen) {
		n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			ipc_drop(c, strerror(errno));
			return;
		}
		c->woff += (size_t)n;
	}
	c->woff = c->wlen = 0;
	ev_io_stop(loop, &c->wio);
}

struct ipc_conn *
ipc_conn_new(struct ev_loop *loop, int fd, const char *peer, uint32_t accept_mask,
    ipc_msg_fn on_msg, ipc_close_fn on_close, void *arg)
{
	struct ipc_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->fd = fd;
	c->accept = accept_mask;
	c->on_msg = on_msg;
	c->on_close = on_close;
	c->arg = arg;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	ev_io_init(&c->rio, ipc_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, ipc_write_cb, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_io_start(loop, &c->rio);
	return c;
}

const char *
ipc_peer(const struct ipc_conn *c)
{
	return c->peer;
}

size_t
ipc_pending(const struct ipc_conn *c)
{
	return c->wlen - c->woff;
}

void
ipc_pause(struct ipc_conn *c, int paused)
{
	if (c->dead)
		return;
	if (paused)
		ev_io_stop(c->loop, &c->rio);
	else
		ev_io_start(c->loop, &c->rio);
}

int
ipc_send(struct ipc_conn *c, unsigned type, const void *body, size_t len)
{
	size_t need;

	if (c->dead)
		return -1;
	if (len > ipc_max_body(type)) {
		log_warnx("ipc %s: refusing to send %s of %zu bytes (limit %zu)", c->peer,
		    ipc_type_name(type), len, ipc_max_body(type));
		return -1;
	}
	need = c->wlen + IPC_HDR_LEN + len;
	if (need > IPC_WBUF_MAX) {
		ipc_drop(c, "peer does not read: send buffer full");
		return -1;
	}
	if (need > c->wcap) {
		size_t ncap = c->wcap ? c->wcap : 4096;
		unsigned char *nb;

		while (ncap < need)
			ncap *= 2;
		if ((nb = realloc(c->wbuf, ncap)) == NULL) {
			ipc_drop(c, "out of memory");
			return -1;
		}
		c->wbuf = nb;
		c->wcap = ncap;
	}
	ipc_hdr_encode(c->wbuf + c->wlen, type, (uint32_t)len, ++c->tx_seq);
	if (len)
		memcpy(c->wbuf + c->wlen + IPC_HDR_LEN, body, len);
	c->wlen += IPC_HDR_LEN + len;
	if (!ev_is_active(&c->wio)) {
		int dead;

		/* Try at once: most control messages fit the socket buffer. */
		c->dispatching++;
		ipc_write_cb(c->loop, &c->wio, EV_WRITE);
		if (!c->dead && c->wlen)
			ev_io_start(c->loop, &c->wio);
		dead = c->dead;
		if (--c->dispatching == 0 && dead)
			conn_free(c);
		return dead ? -1 : 0;
	}
	return 0;
}

/* Last words before exit: push out everything queued, waiting up to timeout_ms. */
int
ipc_flush(struct ipc_conn *c, int timeout_ms)
{
	uint64_t deadline = monotonic_ms() + (uint64_t)timeout_ms;

	while (!c->dead && c->woff < c->wlen && monotonic_ms() < deadline) {
		struct pollfd p = { c->fd, POLLOUT, 0 };

		if (poll(&p, 1, 50) > 0)
			ipc_write_cb(c->loop, &c->wio, EV_WRITE);
	}
	return !c->dead && c->woff >= c->wlen ? 0 : -1;
}

int
ipc_send_sbuf(struct ipc_conn *c, unsigned type, const msgpack_sbuffer *sb)
{
	return ipc_send(c, type, sb->data, sb->size);
}

int
ipc_send_empty(struct ipc_conn *c, unsigned type)
{
	static const unsigned char empty_map = 0x80;

	return ipc_send(c, type, &empty_map, 1);
}

int
ipc_unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

int
ipc_write_frame(int fd, unsigned type, uint32_t seq, const void *body, size_t len)
{
	unsigned char hdr[IPC_HDR_LEN];
	const unsigned char *parts[2] = { hdr, body };
	size_t lens[2] = { IPC_HDR_LEN, len };

	ipc_hdr_encode(hdr, type, (uint32_t)len, seq);
	for (int i = 0; i < 2; i++) {
		size_t off = 0;

		while (off < lens[i]) {
			ssize_t n = write(fd, parts[i] + off, lens[i] - off);

			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN) {
				struct pollfd p = { fd, POLLOUT, 0 };
				poll(&p, 1, 1000);
				continue;
			}
			if (n <= 0)
				return -1;
			off += (size_t)n;
		}
	}
	return 0;
}

int
ipc_read_frame(int fd, uint32_t accept_mask, uint32_t expect_seq, int timeout_ms,
    unsigned char **bufp, struct ipc_hdr *h, msgpack_unpacked *unp, const char **err)
{
	size_t len = 0, cap = 65536;
	unsigned char *buf = malloc(cap);
	uint64_t deadline = monotonic_ms() + (uint64_t)timeout_ms;

	*bufp = NULL;
	if (buf == NULL)
		return -1;
	for (;;) {
		ssize_t r = ipc_frame_parse(buf, len, accept_mask, expect_seq, h, unp, err);
		struct pollfd p = { fd, POLLIN, 0 };
		uint64_t now;
		ssize_t n;

		if (r > 0) {
			*bufp = buf;	/* unp points into it */
			return 0;
		}
		if (r < 0)
			break;
		if (len >= IPC_HDR_LEN && IPC_HDR_LEN + (size_t)h->len > cap) {
			unsigned char *nb = realloc(buf, IPC_HDR_LEN + (size_t)h->len);

			if (nb == NULL)
				break;
			buf = nb;
			cap = IPC_HDR_LEN + (size_t)h->len;
		}
		if ((now = monotonic_ms()) >= deadline) {
			*err = "timed out";
			break;
		}
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n == 0 ? "connection closed" : strerror(errno);
			break;
		}
		len += (size_t)n;
	}
	free(buf);
	return -1;
}
