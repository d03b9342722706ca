/*
 * gw_ops.h: the gateway's operator endpoints (doc/gateway.md): /metrics
 * (the Prometheus exposition of every worker, gathered by the supervisor),
 * /health, and the one-a-second `ops` message of /ws/ops behind the status
 * page.  The gateway asks the supervisor over its control channel
 * (IPC_GATHER_REQ / IPC_GATHER, ipc.h), at most once a second however many
 * requests come, with a deadline.
 */
#ifndef EXFEEDD_GW_OPS_H
#define EXFEEDD_GW_OPS_H

#include <stddef.h>

#include <ev.h>
#include <msgpack.h>

struct lws;
struct strbuf;
struct gw_db;

void	 gw_ops_start(struct ev_loop *, struct gw_db *);
/*
 * Serve an HTTP GET of path when it is /metrics or /health: 1 when handled
 * (the response is written, or will be when the gather answers: lws keeps
 * the connection), 0 when the path is not ours.
 */
int	 gw_ops_http(struct lws *, const char *path);
/* The latest `ops` message (doc/gateway.md), "" before the first gather. */
const char *gw_ops_message(size_t *len);
/* Called with each new `ops` message (once a second while anyone watches). */
void	 gw_ops_on_message(void (*fn)(const char *json, size_t len, void *arg), void *arg);
void	 gw_ops_status(msgpack_packer *);

#endif
