/*
 * gateway.c: the gateway role: the libwebsockets server the platform's
 * clients and load balancers talk to, joined to this worker's libev loop.
 * It answers GET /health with the worker's state; the client WebSocket
 * channels (/ws/trading, /ws/market) arrive with the event fan-out work.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "exfeedd.h"
#include "gw_pages.h"
#include "log.h"
#include "mpack.h"

static struct {
	struct lws_context	*ctx;
	struct lws_vhost	*vhost;
	struct ev_loop		*loop;
	ev_io			 accept_io;
	uint64_t		 health_requests;
	int			 stopping;
} gw;

static int
gateway_http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len)
{
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start,
	    *end = buf + sizeof(buf) - 1;
	char body[128];
	int n, status;

	if (reason != LWS_CALLBACK_HTTP)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	if (gw_pages_http(wsi, (const char *)in))
		return 0;
	if (strcmp((const char *)in, "/health") == 0) {
		gw.health_requests++;
		status = gw.stopping ? HTTP_STATUS_SERVICE_UNAVAILABLE : HTTP_STATUS_OK;
		n = snprintf(body, sizeof(body), "{\"status\":\"%s\"}\n",
		    gw.stopping ? "stopping" : "ok");
	} else {
		status = HTTP_STATUS_NOT_FOUND;
		n = snprintf(body, sizeof(body), "{\"error\":\"not found\"}\n");
	}
	if (lws_add_http_common_headers(wsi, (unsigned)status, "application/json",
	    (lws_filepos_t)n, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	memcpy(start, body, (size_t)n);
	if (lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP_FINAL) != n)
		return 1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static const struct lws_protocols gateway_protocols[] = {
	{ "http", gateway_http_cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/*
 * We open the listening socket ourselves and hand accepted connections to
 * lws: the address is bound exactly as configured (lws's own iface handling
 * widens 127.0.0.1 to every address when IPv6 is on), and when it cannot be
 * bound we know errno - an address we cannot use is a configuration problem
 * (exit 78) that the operator must see.
 */
static int
gateway_listen_socket(const struct hostport *hp, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	    .ai_socktype = SOCK_STREAM }, *res;
	char port[8];
	int fd, rc, one = 1;

	snprintf(port, sizeof(port), "%u", hp->port);
	if ((rc = getaddrinfo(hp->host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s", gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (res->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 || listen(fd, 511) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd != -1)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void
gateway_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (lws_adopt_socket_vhost(gw.vhost, fd) == NULL) {
			log_warnx("cannot hand a new connection to the WebSocket server");
			close(fd);
		}
	}
}

static void
gateway_start(struct ev_loop *loop, const struct config *cfg)
{
	struct lws_context_creation_info info;
	const struct hostport *hp = &cfg->gateway_listen;
	void *foreign_loops[1] = { loop };
	char err[256];
	int fd;

	gw.loop = loop;
	if ((fd = gateway_listen_socket(hp, err, sizeof(err))) == -1)
		worker_fatal(EX_CONFIG_STATUS, "%s:%d: [gateway] listen: cannot listen on %s:%u: %s",
		    cfg->file, config_line_of(cfg, "gateway", "listen"), hp->host, hp->port, err);
	/* The libev plugin logs a NOTICE per I/O change: warnings and errors only. */
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = foreign_loops;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = gateway_protocols;
	info.vhost_name = "exfeedd-gateway";
	if ((gw.ctx = lws_create_context(&info)) == NULL ||
	    (gw.vhost = lws_get_vhost_by_name(gw.ctx, info.vhost_name)) == NULL)
		worker_fatal(1, "cannot create the WebSocket server");
	ev_io_init(&gw.accept_io, gateway_accept_cb, fd, EV_READ);
	ev_io_start(loop, &gw.accept_io);
	log_info("listening on %s:%u", hp->host, hp->port);
	worker_ready();
}

static void
gateway_status(msgpack_packer *pk)
{
	const struct hostport *hp = &worker_config()->gateway_listen;
	char listen[300];

	snprintf(listen, sizeof(listen), "%s:%u", hp->host, hp->port);
	msgpack_pack_map(pk, 2);
	mp_kv_str(pk, "listen", listen);
	mp_kv_u64(pk, "health_requests", gw.health_requests);
}

/* First stage of the daemon's shutdown: stop accepting, then close what is open. */
static void
gateway_stop(void)
{
	gw.stopping = 1;
	if (ev_is_active(&gw.accept_io)) {
		ev_io_stop(gw.loop, &gw.accept_io);
		close(gw.accept_io.fd);
	}
	if (gw.ctx)
		lws_context_destroy(gw.ctx);
	gw.ctx = NULL;
	worker_stopped();
}

const struct worker_role gateway_role = {
	"gateway", gateway_start, NULL, NULL, gateway_status, gateway_stop,
};
