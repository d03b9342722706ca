/*
 * gw_db.h: the gateway's PostgreSQL reads, non-blocking on its libev loop
 * (one connection, requests queued and answered in order, each with a
 * deadline; the connection is remade with backoff when lost).
 */
#ifndef EXFEEDD_GW_DB_H
#define EXFEEDD_GW_DB_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

struct config;
struct gw_db;

/*
 * A user's active accounts: rc 1 (n >= 1 active accounts, their ids),
 * 0 (the user has none: unknown or every account inactive: close 4002),
 * -1 (database unreachable or past the deadline: the client is told to
 * retry, code 1013).
 */
typedef void (*gw_user_fn)(int rc, const int64_t *account_ids, size_t n, void *arg);
/*
 * The snapshot message (doc/gateway.md "Snapshots"), rc 0 with json (len
 * bytes, valid during the call), or rc -1 (database error or deadline).
 */
typedef void (*gw_snapshot_fn)(int rc, const char *json, size_t len, void *arg);

struct gw_db	*gw_db_new(struct ev_loop *, const struct config *);
/* Apply a new config (after HUP): a changed [database] remakes the connection. */
void		 gw_db_config(struct gw_db *, const struct config *);
/* Queue a request; its callback runs exactly once (unless cancelled).  0, or -1 when the queue is full. */
int		 gw_db_user(struct gw_db *, int64_t user_id, gw_user_fn, void *arg);
int		 gw_db_snapshot(struct gw_db *, int64_t user_id, gw_snapshot_fn, void *arg);
/* The client with this arg is gone: its queued requests' callbacks never run. */
void		 gw_db_cancel(struct gw_db *, void *arg);
/* 1 when the connection is up and answered within its deadline last time, else 0 (for /health). */
int		 gw_db_reachable(const struct gw_db *);
/* Why not reachable ("connection refused", ...), "" when reachable. */
const char	*gw_db_error(const struct gw_db *);
void		 gw_db_free(struct gw_db *);

#endif
