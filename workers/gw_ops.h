/*
 * gw_ops.h: the gateway's operator endpoints (doc/gateway.md): /metrics
 * (the Prometheus exposition of every worker, gathered by the supervisor),
 * /health, and the one-a-second `ops` message of /ws/ops behind the status
 * page.  The gateway asks the supervisor over its control channel
 * (IPC_GATHER_REQ / IPC_GATHER, ipc.h), at most once a second however many
 * requests come, with a deadline.
 *
 * HTTP: the server's HTTP callback hands over GET /metrics and /health
 * (gw_ops_http), and then that connection's writeable and closed events
 * (gw_ops_http_writeable, gw_ops_http_closed): a request waits for the
 * next gather unless the last one is at most a second old, and is answered
 * 503 when the supervisor does not answer within OPS_DEADLINE_MS.
 */
#ifndef EXFEEDD_GW_OPS_H
#define EXFEEDD_GW_OPS_H

#include <stddef.h>

#include <ev.h>
#include <msgpack.h>

struct lws;
struct gw_db;

/* db: the gateway's PostgreSQL connection, for /health (gw_db_reachable). */
void	 gw_ops_start(struct ev_loop *, struct gw_db *);
/* The gateway is stopping: /health says 503, pending requests are dropped. */
void	 gw_ops_stop(void);
/*
 * Serve an HTTP GET of path when it is /metrics or /health: 1 when handled
 * (the response will be written from gw_ops_http_writeable: lws keeps the
 * connection), 0 when the path is not ours.
 */
int	 gw_ops_http(struct lws *, const char *path);
/*
 * LWS_CALLBACK_HTTP_WRITEABLE: 0 when wsi is not one of ours; else 1 (keep
 * the connection: return 0 from the callback) or -1 (return -1: the
 * transaction is over and lws should close it).
 */
int	 gw_ops_http_writeable(struct lws *);
/* LWS_CALLBACK_CLOSED_HTTP: forget the connection's pending response. */
void	 gw_ops_http_closed(struct lws *);
/* The latest `ops` message (doc/gateway.md), "" before the first gather. */
const char *gw_ops_message(size_t *len);
/* Called with each new `ops` message (once a second while anyone watches). */
void	 gw_ops_on_message(void (*fn)(const char *json, size_t len, void *arg), void *arg);
/* How many /ws/ops clients there are: a gather a second runs while n > 0. */
void	 gw_ops_watchers(size_t n);
/* The "ops" map of the gateway's status: requests, gathers, timeouts, watchers. */
void	 gw_ops_status(msgpack_packer *);

#endif
