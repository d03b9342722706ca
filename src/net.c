/*
 * net.c: HTTP(S) requests and WebSocket clients of a worker, on one
 * libwebsockets context joined to the worker's libev loop (net.h).
 *
 * Every lws connection carries its owner (a struct net_http or net_ws) as
 * opaque user data; cancelling detaches it, so lws callbacks that arrive
 * afterwards find nothing and do nothing.  Notifications lws would make
 * from inside the call that starts a connection are deferred to a zero
 * timer, so callers never see a callback before the start call returns.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <libwebsockets.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "log.h"
#include "net.h"
#include "strbuf.h"

#define NET_HTTP_BODY_MAX	(8u * 1024 * 1024)
#define NET_RX_KEEP		65536	/* receive buffer kept between messages */

enum { K_HTTP = 1, K_WS };

struct net {
	struct ev_loop		*loop;
	struct lws_context	*ctx;
	struct lws_vhost	*vhost;
	struct net_stats	 st;
};

struct net_http {
	int			 kind;
	struct net		*net;
	struct lws		*wsi;
	net_http_fn		 cb;
	void			*arg;
	ev_timer		 timer;		/* deadline, or the deferred failure */
	struct strbuf		 body;
	int			 status;
	int64_t			 retry_after_s;
	int64_t			 used_weight;
	int			 is_write;	/* POST, PUT, DELETE */
	int			 connecting;
	const char		*fail;
	size_t			 body_max;	/* bytes; a longer answer fails the request */
	char			 apikey[128];
	char			 peer[272];	/* host:port, for the reasons */
	char			 addr[64];	/* the address dialled, if not the host */
	char			 tls_err[128];	/* why the peer's certificate was refused */
	char			 why[512];	/* the failure, when composed here */
};

struct net_ws_msg {
	struct net_ws_msg	*next;
	size_t			 len;
	unsigned char		 buf[];		/* LWS_PRE + len */
};

struct net_ws {
	int			 kind;
	struct net		*net;
	struct lws		*wsi;
	const struct net_ws_ops	*ops;
	void			*arg;
	ev_timer		 timer;		/* connect deadline, or the deferred failure */
	int			 established;
	int			 connecting;
	int			 ping_due;
	int			 skipping;	/* inside an oversized message */
	const char		*fail;
	struct strbuf		 rx;
	size_t			 max_message;
	struct net_ws_msg	*q, **qtail;
	char			 peer[272];
	char			 addr[64];	/* the address dialled, if not the host */
	char			 tls_err[128];
	char			 why[512];
};

const struct net_stats *
net_stats(const struct net *n)
{
	return &n->st;
}

/*
 * Why a connection to peer failed, for the log: the certificate's fault
 * when OpenSSL refused it (lws's own reason for that is only "SSL
 * handshake" failure), else lws's reason.  Names the peer by host:port and
 * never by URL (a WebSocket's path carries listen keys).
 */
static void
net_why(char *buf, size_t len, const char *peer, const char *addr, const char *tls_err,
    const char *lws_reason)
{
	char at[80] = "";

	if (addr[0])
		snprintf(at, sizeof(at), " (address %s)", addr);
	if (tls_err[0])
		snprintf(buf, len, "cannot connect to %s: TLS certificate verification failed: %s%s",
		    peer, tls_err, at);
	else
		snprintf(buf, len, "cannot connect to %s: %.200s%s", peer,
		    lws_reason && *lws_reason ? lws_reason : "connection failed", at);
}

/* host:port into peer, and the address dialled into addr unless it is the host. */
static void
net_peer(char *peer, size_t len, char *addr, size_t alen, const struct net_endpoint *ep)
{
	if (strchr(ep->host, ':'))
		snprintf(peer, len, "[%s]:%d", ep->host, ep->port);
	else
		snprintf(peer, len, "%s:%d", ep->host, ep->port);
	snprintf(addr, alen, "%s", ep->addr[0] && strcmp(ep->addr, ep->host) != 0 ? ep->addr : "");
}

/* ------------------------------------------------------------- endpoints */

/*
 * The host goes into the Host header, SNI and getaddrinfo, the prefix into
 * every request line: a name or [IPv6 address], digits for the port, and
 * no control byte or space in the path, else a URL could add a header.
 */
static int
host_ok(const char *h, size_t n, int bracketed)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];

		if (bracketed ? !(isxdigit(c) || c == ':' || c == '.') :
		    !(isalnum(c) || c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int
net_endpoint_parse(const char *url, struct net_endpoint *ep, char *err, size_t errlen)
{
	const char *p, *hostend, *pathp;
	size_t hlen;
	int bracketed = 0;

	memset(ep, 0, sizeof(*ep));
	if (strncmp(url, "https://", 8) == 0 || strncmp(url, "wss://", 6) == 0) {
		ep->tls = 1;
		ep->port = 443;
	} else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "ws://", 5) == 0)
		ep->port = 80;
	else {
		snprintf(err, errlen, "not an http(s) or ws(s) URL");
		return -1;
	}
	p = strstr(url, "://") + 3;
	pathp = strchr(p, '/');
	if (pathp == NULL)
		pathp = p + strlen(p);
	if (*p == '[') {		/* [v6]:port */
		if ((hostend = memchr(p, ']', (size_t)(pathp - p))) == NULL) {
			snprintf(err, errlen, "unterminated [address]");
			return -1;
		}
		hlen = (size_t)(hostend - p - 1);
		p++;
		hostend++;
		bracketed = 1;
		if (*hostend != ':' && hostend != pathp) {
			snprintf(err, errlen, "text after the [address]");
			return -1;
		}
	} else {
		hostend = memchr(p, ':', (size_t)(pathp - p));
		if (hostend == NULL)
			hostend = pathp;
		hlen = (size_t)(hostend - p);
	}
	if (hlen == 0 || hlen >= sizeof(ep->host) || !host_ok(p, hlen, bracketed)) {
		snprintf(err, errlen, "bad host name");
		return -1;
	}
	memcpy(ep->host, p, hlen);
	ep->host[hlen] = '\0';
	if (*hostend == ':') {
		long port = 0;
		const char *d;

		for (d = hostend + 1; d < pathp && isdigit((unsigned char)*d) && port <= 65535; d++)
			port = port * 10 + (*d - '0');
		if (d != pathp || d == hostend + 1 || port < 1 || port > 65535) {
			snprintf(err, errlen, "bad port");
			return -1;
		}
		ep->port = (int)port;
	}
	for (const char *c = pathp; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
			snprintf(err, errlen, "space or control character in the path");
			return -1;
		}
	if (strlen(pathp) >= sizeof(ep->prefix)) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	snprintf(ep->prefix, sizeof(ep->prefix), "%s", pathp);
	hlen = strlen(ep->prefix);
	while (hlen > 0 && ep->prefix[hlen - 1] == '/')
		ep->prefix[--hlen] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ http */

static void
http_free(struct net_http *h)
{
	ev_timer_stop(h->net->loop, &h->timer);
	if (h->wsi) {
		lws_set_opaque_user_data(h->wsi, NULL);
		lws_set_timeout(h->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
	lws_explicit_bzero(h->apikey, sizeof(h->apikey));
	/* A listen key's POST and PUT answer with the key: no copy left in the heap. */
	if (h->body.p)
		lws_explicit_bzero(h->body.p, h->body.cap);
	free(h->body.p);
	free(h);
}

static void
http_finish(struct net_http *h, const char *fail)
{
	struct net_http_resp r;

	memset(&r, 0, sizeof(r));
	r.status = fail ? 0 : h->status;
	r.error = fail;
	r.body = h->body.p ? h->body.p : "";
	r.len = h->body.len;
	r.retry_after_s = h->retry_after_s;
	r.used_weight_1m = h->used_weight;
	if (fail)
		h->net->st.http_failed++;
	h->cb(&r, h->arg);
	http_free(h);
}

static void
http_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct net_http *h = t->data;

	http_finish(h, h->fail ? h->fail : "timed out");
}

static int
http_append(struct net_http *h, const void *in, size_t len)
{
	if (h->body.len + len + 1 > h->body_max)
		return -1;
	return strbuf_put(&h->body, in, len);
}

static int64_t
hdr_int(struct lws *wsi, enum lws_token_indexes tok, const char *custom)
{
	char buf[64];
	int n;

	if (custom)
		n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), custom, (int)strlen(custom));
	else
		n = lws_hdr_copy(wsi, buf, sizeof(buf), tok);
	if (n <= 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

static int
http_cb(struct net_http *h, struct lws *wsi, enum lws_callback_reasons reason, void *in,
    size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = *p + len;

		if (h->apikey[0] && lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"x-mbx-apikey:", (const unsigned char *)h->apikey,
		    (int)strlen(h->apikey), p, end))
			return -1;
		if (h->is_write && lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"content-length:", (const unsigned char *)"0", 1, p, end))
			return -1;
		break;
	}
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		h->status = (int)lws_http_client_http_response(wsi);
		h->retry_after_s = hdr_int(wsi, WSI_TOKEN_HTTP_RETRY_AFTER, NULL);
		h->used_weight = hdr_int(wsi, 0, "x-mbx-used-weight-1m:");
		break;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
		char buf[LWS_PRE + 4096], *px = buf + LWS_PRE;
		int lenx = sizeof(buf) - LWS_PRE;

		if (lws_http_client_read(wsi, &px, &lenx) < 0)
			return -1;
		break;
	}
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		if (http_append(h, in, len) == -1) {
			h->wsi = NULL;
			lws_set_opaque_user_data(wsi, NULL);
			http_finish(h, "response too large");
			return -1;
		}
		break;
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		h->wsi = NULL;
		lws_set_opaque_user_data(wsi, NULL);
		http_finish(h, NULL);
		return -1;	/* one request per connection: close it */
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
	case LWS_CALLBACK_WSI_DESTROY:
		h->wsi = NULL;
		lws_set_opaque_user_data(wsi, NULL);
		if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR || h->tls_err[0])
			net_why(h->why, sizeof(h->why), h->peer, h->addr, h->tls_err,
			    reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR ? in : NULL);
		else
			snprintf(h->why, sizeof(h->why), "connection closed before the response ended");
		if (h->connecting) {
			/* Inside net_http(): report from the loop instead. */
			h->fail = h->why;
			break;
		}
		http_finish(h, h->why);
		break;
	default:
		break;
	}
	return 0;
}

/*
 * After lws_client_connect_via_info: a connection that failed at once (no
 * wsi, or a failure recorded by a callback during the call) fails through
 * its timer, at once, so that the caller hears of it from the loop and never
 * from inside its own call.  Otherwise the timer is the connect deadline.
 */
static void
connect_started(struct net *n, struct lws *wsi, struct lws **slot, const char **fail,
    ev_timer *timer)
{
	if (wsi == NULL || *fail) {
		if (*slot)
			lws_set_opaque_user_data(*slot, NULL);
		*slot = NULL;
		if (*fail == NULL)
			*fail = "cannot start the connection";
		ev_timer_set(timer, 0., 0.);
	}
	ev_timer_start(n->loop, timer);
}

struct net_http *
net_http(struct net *n, const struct net_endpoint *ep, const char *method,
    const char *path_query, const char *apikey, int timeout_ms, net_http_fn cb, void *arg)
{
	struct lws_client_connect_info ci;
	struct net_http *h;
	char path[8192];
	struct lws *wsi;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->kind = K_HTTP;
	h->net = n;
	h->cb = cb;
	h->arg = arg;
	h->retry_after_s = h->used_weight = -1;
	h->body_max = NET_HTTP_BODY_MAX;
	h->is_write = strcmp(method, "GET") != 0;
	if (apikey)
		snprintf(h->apikey, sizeof(h->apikey), "%s", apikey);
	net_peer(h->peer, sizeof(h->peer), h->addr, sizeof(h->addr), ep);
	ev_timer_init(&h->timer, http_timer_cb, (double)timeout_ms / 1000., 0.);
	h->timer.data = h;
	snprintf(path, sizeof(path), "%s%s", ep->prefix, path_query);

	memset(&ci, 0, sizeof(ci));
	ci.context = n->ctx;
	ci.vhost = n->vhost;
	ci.address = ep->addr[0] ? ep->addr : ep->host;
	ci.port = ep->port;
	ci.ssl_connection = ep->tls ? LCCSCF_USE_SSL : 0;
	ci.path = path;
	ci.host = ep->host;
	ci.origin = ep->host;
	ci.method = method;
	ci.alpn = "http/1.1";
	ci.local_protocol_name = "exfeedd-net";
	ci.opaque_user_data = h;
	ci.pwsi = &h->wsi;
	n->st.http_started++;
	h->connecting = 1;
	wsi = lws_client_connect_via_info(&ci);
	h->connecting = 0;
	connect_started(n, wsi, &h->wsi, &h->fail, &h->timer);
	return h;
}

void
net_http_body_max(struct net_http *h, size_t max)
{
	if (max < NET_HTTP_BODY_MAX)
		h->body_max = max;
}

void
net_http_cancel(struct net_http *h)
{
	if (h)
		http_free(h);
}

/* -------------------------------------------------------------- websocket */

static void
ws_free(struct net_ws *w)
{
	struct net_ws_msg *m, *next;

	ev_timer_stop(w->net->loop, &w->timer);
	if (w->wsi) {
		lws_set_opaque_user_data(w->wsi, NULL);
		lws_set_timeout(w->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
	if (w->established && w->net->st.ws_open_now)
		w->net->st.ws_open_now--;
	for (m = w->q; m; m = next) {
		next = m->next;
		lws_explicit_bzero(m->buf + LWS_PRE, m->len);
		free(m);
	}
	free(w->rx.p);
	free(w);
}

static void
ws_notify_closed(struct net_ws *w, const char *why)
{
	const struct net_ws_ops *ops = w->ops;
	void *arg = w->arg;

	if (!w->established)
		w->net->st.ws_failed++;
	w->ops = NULL;
	if (ops && ops->closed)
		ops->closed(w, why, arg);
	ws_free(w);
}

static void
ws_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct net_ws *w = t->data;

	ws_notify_closed(w, w->fail ? w->fail : "connect timed out");
}

static int
ws_writeable(struct net_ws *w, struct lws *wsi)
{
	struct net_ws_msg *m;

	if (w->ping_due) {
		unsigned char pb[LWS_PRE + 8];

		w->ping_due = 0;
		if (lws_write(wsi, pb + LWS_PRE, 0, LWS_WRITE_PING) < 0)
			return -1;
	} else if ((m = w->q) != NULL) {
		if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
			return -1;
		if ((w->q = m->next) == NULL)
			w->qtail = &w->q;
		/* A SUBSCRIBE carries listen keys. */
		lws_explicit_bzero(m->buf + LWS_PRE, m->len);
		free(m);
	}
	if (w->ping_due || w->q)
		lws_callback_on_writable(wsi);
	return 0;
}

static int
ws_receive(struct net_ws *w, struct lws *wsi, const void *in, size_t len)
{
	int final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

	w->net->st.bytes_in += len;
	if (!w->skipping && w->rx.len + len + 1 > w->max_message)
		w->skipping = 1;
	if (!w->skipping && strbuf_put(&w->rx, in, len) == -1)
		return -1;
	if (!final)
		return 0;
	if (w->skipping) {
		w->skipping = 0;
		w->rx.len = 0;
		if (w->ops && w->ops->message)
			w->ops->message(w, NULL, 0, w->arg);
		return 0;
	}
	len = w->rx.len;		/* strbuf keeps it NUL-terminated */
	w->rx.len = 0;
	if (w->ops && w->ops->message)
		w->ops->message(w, w->rx.p, len, w->arg);
	/* The callback may have closed and freed w: touch nothing after it. */
	return 0;
}

static int
ws_cb(struct net_ws *w, struct lws *wsi, enum lws_callback_reasons reason, void *in,
    size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		w->established = 1;
		ev_timer_stop(w->net->loop, &w->timer);
		w->net->st.ws_opened++;
		w->net->st.ws_open_now++;
		if (w->q || w->ping_due)
			lws_callback_on_writable(wsi);
		if (w->ops && w->ops->open)
			w->ops->open(w, w->arg);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return ws_receive(w, wsi, in, len);
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		if (w->ops && w->ops->pong)
			w->ops->pong(w, w->arg);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return ws_writeable(w, wsi);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
	case LWS_CALLBACK_WSI_DESTROY:
		w->wsi = NULL;
		lws_set_opaque_user_data(wsi, NULL);
		if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR || w->tls_err[0])
			net_why(w->why, sizeof(w->why), w->peer, w->addr, w->tls_err,
			    reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR ? in : NULL);
		else
			snprintf(w->why, sizeof(w->why), "connection closed");
		if (w->connecting) {
			w->fail = w->why;
			break;
		}
		ws_notify_closed(w, w->why);
		break;
	default:
		break;
	}
	return 0;
}

struct net_ws *
net_ws_open(struct net *n, const struct net_endpoint *ep, const char *path_query,
    size_t max_message, int connect_timeout_ms, const struct net_ws_ops *ops, void *arg)
{
	struct lws_client_connect_info ci;
	struct net_ws *w;
	char *path;
	size_t plen = strlen(ep->prefix) + strlen(path_query) + 1;
	struct lws *wsi;

	if ((w = calloc(1, sizeof(*w))) == NULL || (path = malloc(plen)) == NULL) {
		free(w);
		return NULL;
	}
	w->kind = K_WS;
	w->net = n;
	w->ops = ops;
	w->arg = arg;
	w->max_message = max_message;
	w->qtail = &w->q;
	net_peer(w->peer, sizeof(w->peer), w->addr, sizeof(w->addr), ep);
	ev_timer_init(&w->timer, ws_timer_cb, (double)connect_timeout_ms / 1000., 0.);
	w->timer.data = w;
	snprintf(path, plen, "%s%s", ep->prefix, path_query);

	memset(&ci, 0, sizeof(ci));
	ci.context = n->ctx;
	ci.vhost = n->vhost;
	ci.address = ep->addr[0] ? ep->addr : ep->host;
	ci.port = ep->port;
	ci.ssl_connection = ep->tls ? LCCSCF_USE_SSL : 0;
	ci.path = path;
	ci.host = ep->host;
	ci.origin = ep->host;
	ci.alpn = "http/1.1";
	ci.local_protocol_name = "exfeedd-net";
	ci.opaque_user_data = w;
	ci.pwsi = &w->wsi;
	w->connecting = 1;
	wsi = lws_client_connect_via_info(&ci);
	w->connecting = 0;
	lws_explicit_bzero(path, plen);		/* it holds listen keys */
	free(path);
	connect_started(n, wsi, &w->wsi, &w->fail, &w->timer);
	return w;
}

int
net_ws_send_text(struct net_ws *w, const char *s, size_t len)
{
	struct net_ws_msg *m;

	if (w->wsi == NULL || (m = malloc(sizeof(*m) + LWS_PRE + len)) == NULL)
		return -1;
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, s, len);
	*w->qtail = m;
	w->qtail = &m->next;
	if (w->established)
		lws_callback_on_writable(w->wsi);
	return 0;
}

int
net_ws_ping(struct net_ws *w)
{
	if (w->wsi == NULL || !w->established)
		return -1;
	w->ping_due = 1;
	lws_callback_on_writable(w->wsi);
	return 0;
}

void
net_ws_close(struct net_ws *w)
{
	if (w == NULL)
		return;
	w->ops = NULL;
	ws_free(w);
}

/* ---------------------------------------------------------------- context */

/*
 * OpenSSL's verdict on one certificate of the peer's chain (lws calls this
 * from its verify callback: user is the X509_STORE_CTX, len preverify_ok).
 * Only noted, for the reason in the log: returning 0 leaves the verdict as
 * it is, and a refused chain or host name fails the handshake.  Nothing
 * here can accept a certificate OpenSSL refused.
 */
static int
net_cert_verdict(int *kind, void *x509_ctx, size_t preverify_ok)
{
	char *slot;
	int err;

	if (kind == NULL || preverify_ok || x509_ctx == NULL)
		return 0;
	slot = *kind == K_HTTP ? ((struct net_http *)kind)->tls_err :
	    ((struct net_ws *)kind)->tls_err;
	if (slot[0] == '\0' && (err = X509_STORE_CTX_get_error(x509_ctx)) != X509_V_OK)
		snprintf(slot, sizeof(((struct net_http *)0)->tls_err), "%s (depth %d)",
		    X509_verify_cert_error_string(err), X509_STORE_CTX_get_error_depth(x509_ctx));
	return 0;
}

static int
net_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	int *kind = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	if (reason == LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION)
		return net_cert_verdict(kind, user, len);
	if (kind == NULL)
		return reason == LWS_CALLBACK_CLIENT_WRITEABLE ? 0 :
		    lws_callback_http_dummy(wsi, reason, user, in, len);
	if (*kind == K_HTTP)
		return http_cb((struct net_http *)kind, wsi, reason, in, len);
	return ws_cb((struct net_ws *)kind, wsi, reason, in, len);
}

static const struct lws_protocols net_protocols[] = {
	{ "exfeedd-net", net_lws_cb, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
net_lws_log(int level, const char *line)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 10);
	size_t len = strlen(line);

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	log_warnx_rl(&rl, "libwebsockets: %.*s", (int)len, line);
}

struct net *
net_new(struct ev_loop *loop, const char *ca_file, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	void *foreign_loops[1] = { loop };
	struct net *n;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n->loop = loop;
	/*
	 * The libev plugin logs a NOTICE per I/O change: warnings and errors
	 * only, into our log, rate-limited (lws adds a line of its own to each
	 * refused certificate, for instance).
	 */
	lws_set_log_level(LLL_ERR | LLL_WARN, net_lws_log);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = foreign_loops;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = net_protocols;
	info.vhost_name = "exfeedd-client";
	/* Request lines carry up to a few KB of query (listen keys, signatures). */
	info.max_http_header_data = 16384;
	info.pt_serv_buf_size = 32768;
	/*
	 * Peers' certificates are always verified, chain and host name (lws
	 * with OpenSSL: SSL_VERIFY_PEER and X509_VERIFY_PARAM_set1_host on
	 * every client connection unless an LCCSCF_ALLOW_* or
	 * LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK flag asks otherwise, and none
	 * is ever set here).  A ca_file replaces the system's store: lws would
	 * only log a file it cannot load, so it is checked here first.
	 */
	if (ca_file && *ca_file) {
		if (crypto_ca_file_check(ca_file, err, errlen) == -1) {
			free(n);
			return NULL;
		}
		info.client_ssl_ca_filepath = ca_file;
		info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	}
	if ((n->ctx = lws_create_context(&info)) == NULL) {
		snprintf(err, errlen, "cannot create the libwebsockets context");
		free(n);
		return NULL;
	}
	n->vhost = lws_get_vhost_by_name(n->ctx, info.vhost_name);
	return n;
}

void
net_free(struct net *n)
{
	if (n == NULL)
		return;
	lws_context_destroy(n->ctx);
	free(n);
}
