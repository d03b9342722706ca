/*
 * gw_server.h: inside the gateway worker, between gateway.c (the role: the
 * listening sockets, the lws context, plain HTTP) and gw_ws.c (the
 * WebSocket clients of doc/gateway.md: /ws/trading, /ws/market, /ws/ops,
 * their auth, subscriptions, queues and the fan-out of the feed's events).
 */
#ifndef EXFEEDD_GW_SERVER_H
#define EXFEEDD_GW_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <libwebsockets.h>
#include <msgpack.h>

struct config;
struct event;
struct gw_db;
struct strbuf;

/* lws's per-session data of the one protocol (HTTP and WebSocket alike). */
struct gw_pss {
	struct gw_client	*c;	/* NULL until the WebSocket is established */
};

/*
 * Set up with the first config: the JWT secret ([gateway] jwt_secret_file;
 * a file that fails its checks is fatal, exit 78 naming its line), limits,
 * the heartbeat timer.  db answers the user checks and snapshots.
 */
void	 gw_ws_start(struct ev_loop *, const struct config *, struct gw_db *);
/* A reloaded config: new limits; the secret read again (a bad file keeps the old one, logged). */
void	 gw_ws_config(const struct config *);
/*
 * The WebSocket reasons of the protocol's callback (the upgrade's checks
 * included): 1 and *rc set when handled, 0 when the reason is not ours.
 */
int	 gw_ws_callback(struct lws *, enum lws_callback_reasons, void *user, void *in,
	    size_t len, int *rc);
/* The feed's callbacks (gwfeed.h gw_feed_event_fn, gw_feed_hole_fn). */
void	 gw_ws_event(const struct event *, void *arg);
void	 gw_ws_hole(const char *role, int instance, uint64_t lost, void *arg);
/* The feed to tell the market interest (gwfeed.h gw_feed_set_interest) whenever subscriptions change. */
struct gw_feed;
void	 gw_ws_feed(struct gw_feed *);
/* GET /ws/status: {"connections":N,"by_user":{"ID":n,...},"subscriptions":N}. 0 or -1 (out of memory). */
int	 gw_ws_status_json(struct strbuf *);
/* The counters for the status map: how many key/value pairs gw_ws_status_pack packs. */
size_t	 gw_ws_status_count(void);
void	 gw_ws_status_pack(msgpack_packer *);
/* Stop: every client is closed (1001 going away) by the context's destruction; free what is ours. */
void	 gw_ws_stop(void);

#endif
