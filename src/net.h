/*
 * net.h: asynchronous HTTP(S) requests and WebSocket client connections
 * for a worker, on libwebsockets joined to the worker's libev loop.
 *
 * One struct net (one lws context) serves every REST call and WebSocket of
 * the worker.  lws 4.1 would resolve a host name inside the loop, blocking
 * it (MEASURED.md): the caller looks names up off the loop (resolve.h) and
 * fills the endpoint's addr; connections are made to that address with the
 * Host header, SNI and the TLS host name check of the name.
 *
 * No callback is ever made from inside the call that started the request
 * or connection; after net_http_cancel() / net_ws_close() none is made at all.
 */
#ifndef EXFEEDD_NET_H
#define EXFEEDD_NET_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

struct net;
struct net_http;
struct net_ws;

/* A base URL, parsed, and the address its host was last found at. */
struct net_endpoint {
	int		 tls;			/* https / wss */
	char		 host[256];		/* as written: Host header and SNI */
	char		 addr[64];		/* numeric, filled by the caller; "" connects
						   by name (a blocking lookup in the loop) */
	int		 port;
	char		 prefix[256];		/* path of the base URL, no trailing slash */
};

int	 net_endpoint_parse(const char *url, struct net_endpoint *, char *err, size_t errlen);

/*
 * ca_file: PEM bundle for TLS peers, which replaces the system's store, or
 * NULL/"" for the system's.  Certificates are always verified, chain and
 * host name; NULL with err when ca_file cannot be loaded.
 */
struct net *net_new(struct ev_loop *, const char *ca_file, char *err, size_t errlen);
void	 net_free(struct net *);

struct net_http_resp {
	int		 status;		/* HTTP status, 0 when the transport failed */
	const char	*error;			/* transport failure, else NULL */
	const char	*body;			/* NUL-terminated */
	size_t		 len;
	int64_t		 retry_after_s;		/* Retry-After, -1 if absent */
	int64_t		 used_weight_1m;	/* X-MBX-USED-WEIGHT-1M, -1 if absent */
};
typedef void (*net_http_fn)(const struct net_http_resp *, void *arg);

/*
 * Start a request: method "GET", "POST", "PUT" or "DELETE"; path_query is
 * appended to the endpoint's prefix; apikey (may be NULL) goes in
 * X-MBX-APIKEY.  The callback runs exactly once unless cancelled.
 */
struct net_http *net_http(struct net *, const struct net_endpoint *, const char *method,
	    const char *path_query, const char *apikey, int timeout_ms, net_http_fn, void *arg);
void	 net_http_cancel(struct net_http *);
/* The longest answer (bytes) h takes, at most 8 MiB: a longer one fails it, read no further. */
void	 net_http_body_max(struct net_http *, size_t max);

struct net_ws_ops {
	void	(*open)(struct net_ws *, void *arg);
	/* One whole text message, NUL-terminated; oversized ones come with buf NULL. */
	void	(*message)(struct net_ws *, const char *buf, size_t len, void *arg);
	void	(*pong)(struct net_ws *, void *arg);
	/* Closed or failed to connect; the net_ws is gone after the call. */
	void	(*closed)(struct net_ws *, const char *why, void *arg);
};

/* max_message: larger messages are skipped (reported with buf NULL). */
struct net_ws *net_ws_open(struct net *, const struct net_endpoint *, const char *path_query,
	    size_t max_message, int connect_timeout_ms, const struct net_ws_ops *, void *arg);
int	 net_ws_send_text(struct net_ws *, const char *, size_t);
int	 net_ws_ping(struct net_ws *);
/* Close; no callback follows. */
void	 net_ws_close(struct net_ws *);

/* Counters. */
struct net_stats {
	uint64_t	 http_started, http_failed, ws_opened, ws_failed, ws_open_now;
	uint64_t	 bytes_in;
};
const struct net_stats *net_stats(const struct net *);

#endif
