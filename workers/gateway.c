/*
 * gateway.c: the gateway role: the libwebsockets server the platform's
 * clients and load balancers talk to (doc/gateway.md), joined to this
 * worker's libev loop.  Here: the listening sockets, the lws context (TLS
 * when configured), plain HTTP (/health, /metrics, /ws/status), and the
 * wiring of the pieces: the feed from the writer and the market worker
 * (gwfeed.c), PostgreSQL (gw_db.c), the operators' endpoints (gw_ops.c) and
 * the WebSocket clients (gw_ws.c).
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "exfeedd.h"
#include "gw_db.h"
#include "gw_ops.h"
#include "gw_pages.h"
#include "gw_server.h"
#include "gwfeed.h"
#include "log.h"
#include "mpack.h"
#include "strbuf.h"

#define GW_LISTEN_MAX	16	/* [gateway] listen items, at most (config.c) */

static struct {
	struct lws_context	*ctx;
	struct lws_vhost	*vhost;
	struct ev_loop		*loop;
	ev_io			 accept_io[GW_LISTEN_MAX];
	int			 nlisten;
	struct gw_db		*db;
	struct gw_feed		*feed;
	uint64_t		 health_requests, status_requests, http_requests;
	int			 stopping;
} gw;

/* A whole response of len bytes of body: 0 to keep the connection, -1 to close it. */
static int
http_respond(struct lws *wsi, unsigned status, const char *type, const char *body, size_t len)
{
	unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
	    *end = hdr + sizeof(hdr) - 1;
	unsigned char *buf;
	int n;

	if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
	    (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if ((buf = malloc(LWS_PRE + len + 1)) == NULL)
		return -1;
	memcpy(buf + LWS_PRE, body, len);
	n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
	free(buf);
	if (n != (int)len)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
gateway_http(struct lws *wsi, const char *path)
{
	struct strbuf b = { NULL, 0, 0, 0 };
	char body[128];
	int n, rc;

	gw.http_requests++;
	if (gw_ops_http(wsi, path))
		return 0;
	if (gw_pages_http(wsi, path))
		return 0;
	if (strcmp(path, "/health") == 0) {
		/* gw_ops_http answers it once the operators' endpoints are there. */
		gw.health_requests++;
		n = snprintf(body, sizeof(body), "{\"status\":\"%s\"}\n",
		    gw.stopping ? "stopping" : "ok");
		return http_respond(wsi, gw.stopping ? HTTP_STATUS_SERVICE_UNAVAILABLE :
		    HTTP_STATUS_OK, "application/json", body, (size_t)n);
	}
	if (strcmp(path, "/ws/status") == 0) {
		gw.status_requests++;
		if (gw_ws_status_json(&b) == -1) {
			free(b.p);
			return -1;
		}
		rc = http_respond(wsi, HTTP_STATUS_OK, "application/json", b.p, b.len);
		free(b.p);
		return rc;
	}
	n = snprintf(body, sizeof(body), "{\"error\":\"not found\"}\n");
	return http_respond(wsi, HTTP_STATUS_NOT_FOUND, "application/json", body, (size_t)n);
}

static int
gateway_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	int rc;

	if (gw_ws_callback(wsi, reason, user, in, len, &rc))
		return rc;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return gateway_http(wsi, (const char *)in);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		/* A /metrics answer waiting for the supervisor's gather (gw_ops.c). */
		if ((rc = gw_ops_http_writeable(wsi)) != 0)
			return rc < 0 ? -1 : 0;
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
		gw_ops_http_closed(wsi);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols gateway_protocols[] = {
	{ "exfeedd", gateway_cb, sizeof(struct gw_pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Raise RLIMIT_NOFILE's soft limit to want (at most the hard limit); warn when it stays below. */
static void
gateway_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur < want)
			log_warnx("open files limited to %lu (RLIMIT_NOFILE): fewer clients than "
			    "[gateway] max_connections can connect", (unsigned long)rl.rlim_cur);
	}
}

/*
 * We open the listening sockets ourselves and hand accepted connections to
 * lws: an address is bound exactly as configured (lws's own iface handling
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
	int one = 1;

	for (int i = 0; i < 64; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		/*
		 * Each message goes as it is written.  libwebsockets sets this on
		 * the sockets it accepts itself, not on the ones it adopts; with
		 * Nagle's algorithm a message written while the one before is
		 * unacknowledged waits for that ACK, which a client that answered
		 * a ping lately delays by up to 40 ms (Linux's delayed ACK):
		 * tools/bench gateway's client p50 was 32 ms for 0.8 ms here.
		 */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (lws_adopt_socket_vhost(gw.vhost, fd) == NULL) {
			log_warnx("cannot hand a new connection to the WebSocket server");
			close(fd);
		}
	}
}

/*
 * lws's own idle check off (no ping, no hangup): the sweep in gw_ws.c pings
 * and cuts silent clients itself.  With lws 4.1's default (ping at 300 s),
 * every pong re-inserts the connection's validity timer into lws's sorted
 * timer list, a walk over every connection: at 10,000 clients most of the
 * gateway's CPU (perf: lws_dll2_add_sorted).
 */
static const lws_retry_bo_t gateway_idle_policy = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
};

static void
gateway_start(struct ev_loop *loop, const struct config *cfg)
{
	struct lws_context_creation_info info;
	void *foreign_loops[1] = { loop };
	char err[256], path[1024];
	int fds[GW_LISTEN_MAX];

	gw.loop = loop;
	for (size_t i = 0; i < cfg->gateway_listen.n && i < GW_LISTEN_MAX; i++) {
		struct hostport hp;
		const char *why;

		if (config_parse_hostport(cfg->gateway_listen.v[i], &hp, &why) == -1 ||
		    (fds[i] = gateway_listen_socket(&hp, err, sizeof(err))) == -1)
			worker_fatal(EX_CONFIG_STATUS, "%s:%d: [gateway] listen: cannot listen on "
			    "%s: %s", cfg->file, config_line_of(cfg, "gateway", "listen"),
			    cfg->gateway_listen.v[i], err);
		gw.nlisten++;
	}
	/* The libev plugin logs a NOTICE per I/O change: warnings and errors only. */
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = foreign_loops;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = gateway_protocols;
	info.vhost_name = "exfeedd-gateway";
	info.retry_and_idle_policy = &gateway_idle_policy;
	/*
	 * Enough descriptors for max_connections and ours: the soft limit is
	 * raised (up to the hard one) and lws sizes its tables from it.  Not
	 * info.fd_limit_per_thread: with it set, Debian's lws 4.1 finds a
	 * connection from its fd by walking every slot (perf at 10,000
	 * clients: 40% of the gateway in wsi_from_fd).
	 */
	gateway_nofile((rlim_t)cfg->gateway_max_connections + 256);
	if (cfg->gateway_tls_cert[0] != '\0') {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->gateway_tls_cert;
		info.ssl_private_key_filepath = cfg->gateway_tls_key;
	}
	if ((gw.ctx = lws_create_context(&info)) == NULL ||
	    (gw.vhost = lws_get_vhost_by_name(gw.ctx, info.vhost_name)) == NULL) {
		if (cfg->gateway_tls_cert[0] != '\0')
			worker_fatal(EX_CONFIG_STATUS, "%s:%d: [gateway] tls_cert, tls_key: cannot "
			    "start the TLS server with %s and %s (unreadable, not PEM, or not a "
			    "pair)", cfg->file, config_line_of(cfg, "gateway", "tls_cert"),
			    cfg->gateway_tls_cert, cfg->gateway_tls_key);
		worker_fatal(1, "cannot create the WebSocket server");
	}
	if ((gw.db = gw_db_new(loop, cfg)) == NULL)
		worker_fatal(1, "cannot set up the gateway's database connection");
	gw_ws_start(loop, cfg, gw.db);
	gw_ops_start(loop, gw.db);
	snprintf(path, sizeof(path), "%s/gateway.sock", cfg->runtime_dir);
	if ((gw.feed = gw_feed_listen(loop, path, gw_ws_event, gw_ws_hole, NULL, err,
	    sizeof(err))) == NULL)
		worker_fatal(1, "cannot listen for the feed on %s: %s", path, err);
	gw_ws_feed(gw.feed);
	for (int i = 0; i < gw.nlisten; i++) {
		ev_io_init(&gw.accept_io[i], gateway_accept_cb, fds[i], EV_READ);
		ev_io_start(loop, &gw.accept_io[i]);
		log_info("listening on %s%s", cfg->gateway_listen.v[i],
		    cfg->gateway_tls_cert[0] ? " (TLS)" : "");
	}
	worker_ready();
}

static void
gateway_reconfigure(const struct config *cfg, const struct config *old)
{
	(void)old;
	gw_ws_config(cfg);
	if (gw.db != NULL)
		gw_db_config(gw.db, cfg);
}

static void
gateway_status(msgpack_packer *pk)
{
	const struct config *cfg = worker_config();
	const struct gw_feed_stats *fs = gw.feed ? gw_feed_stats(gw.feed) : NULL;
	struct strbuf b = { NULL, 0, 0, 0 };

	for (size_t i = 0; i < cfg->gateway_listen.n; i++) {
		if (i)
			strbuf_puts(&b, ", ");
		strbuf_puts(&b, cfg->gateway_listen.v[i]);
	}
	msgpack_pack_map(pk, 12 + gw_ws_status_count());
	mp_kv_str(pk, "listen", b.p && !b.oom ? b.p : "");
	free(b.p);
	mp_kv_bool(pk, "tls", cfg->gateway_tls_cert[0] != '\0');
	mp_kv_u64(pk, "http_requests", gw.http_requests);
	mp_kv_u64(pk, "health_requests", gw.health_requests);
	mp_kv_u64(pk, "status_requests", gw.status_requests);
	gw_ws_status_pack(pk);
	mp_kv_u64(pk, "feed_events", fs ? fs->events : 0);
	mp_kv_u64(pk, "feed_frames", fs ? fs->frames : 0);
	mp_kv_u64(pk, "feed_invalid", fs ? fs->invalid : 0);
	mp_kv_u64(pk, "feed_holes", fs ? fs->holes : 0);
	mp_kv_u64(pk, "feed_lost", fs ? fs->lost : 0);
	mp_kv_u64(pk, "feed_senders", fs ? fs->senders : 0);
	mp_str(pk, "ops");
	gw_ops_status(pk);
}

/* First stage of the daemon's shutdown: stop accepting, then close what is open. */
static void
gateway_stop(void)
{
	gw.stopping = 1;
	gw_ops_stop();
	for (int i = 0; i < gw.nlisten; i++)
		if (ev_is_active(&gw.accept_io[i])) {
			ev_io_stop(gw.loop, &gw.accept_io[i]);
			close(gw.accept_io[i].fd);
		}
	if (gw.feed != NULL)
		gw_feed_close(gw.feed);
	gw.feed = NULL;
	if (gw.ctx)
		lws_context_destroy(gw.ctx);
	gw.ctx = NULL;
	gw_ws_stop();
	if (gw.db != NULL)
		gw_db_free(gw.db);
	gw.db = NULL;
	worker_stopped();
}

const struct worker_role gateway_role = {
	"gateway", gateway_start, gateway_reconfigure, NULL, gateway_status, gateway_stop,
};
