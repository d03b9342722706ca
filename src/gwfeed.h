/*
 * gwfeed.h: the gateway's feed (doc/gateway.md "Where events come from"):
 * the writer sends every event after its COMMIT, the market worker every
 * market event, to <runtime_dir>/gateway.sock, as IPC_DP_HELLO then
 * IPC_DP_EVENTS frames (ipc.h; events packed by ev_pack).  Nothing is
 * acknowledged and nothing is resent: the gateway is a view, rebuilt from
 * PostgreSQL (snapshots) whenever its feed had a hole.
 *
 * A sender never blocks and never grows without bound: while the gateway
 * is away, or its unsent bytes pass max_queued, events are dropped and
 * counted, and the next frame that reaches the gateway says how many were
 * dropped before it (its "lost" field) so the gateway knows its view has a
 * hole.  A sender reconnects with backoff (100 ms to 5 s); when it dropped
 * events while away, an IPC_DP_EVENTS frame with no events and that count
 * follows its HELLO at once.
 *
 * Frame body: {lost: uint, ev: [event map, ...]}.  The receiver checks
 * every frame and every event (ev_unpack runs ev_validate): a frame it
 * cannot read drops that sender's connection (it reconnects: a hole), a bad
 * event is skipped and reported as a hole of 1; both are counted and logged
 * rate-limited, neither ever stops the gateway.
 */
#ifndef EXFEEDD_GWFEED_H
#define EXFEEDD_GWFEED_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <msgpack.h>

struct event;
struct gw_feed_sender;
struct gw_feed;

/* ---- sending end (writer, market worker) ---- */

struct gw_feed_sender *gw_feed_sender_new(struct ev_loop *, const char *socket_path,
	    const char *role, int instance, size_t max_queued_bytes);
/* Queue one event (copied); sent at the end of this loop iteration.  0, or -1 when dropped (counted). */
int	 gw_feed_send(struct gw_feed_sender *, const struct event *);
/*
 * Queue n events already packed by ev_pack, back to back in data[len] (the
 * writer packs a batch's events as it gathers them and sends them all once
 * the batch committed).  All or none: 0, or -1 when the n were dropped.
 */
int	 gw_feed_send_packed(struct gw_feed_sender *, const void *data, size_t len, size_t n);
/* n events the caller chose not to send (not kept while away): counted as dropped, reported as lost. */
void	 gw_feed_lost(struct gw_feed_sender *, size_t n);
/* 1 while connected to the gateway. */
int	 gw_feed_sender_connected(const struct gw_feed_sender *);
void	 gw_feed_sender_free(struct gw_feed_sender *);

/*
 * sent: events written whole to the gateway's socket; dropped: not sent
 * (away, too slow, or in a frame not yet written when the connection was
 * lost); frames: handed to the connection; queued_bytes: not yet written.
 */
struct gw_feed_sender_stats {
	uint64_t	 sent, dropped, frames, connects, connected;
	size_t		 queued_bytes;
};
const struct gw_feed_sender_stats *gw_feed_sender_stats(const struct gw_feed_sender *);
/* The stats as a status map of 6 keys (gw_feed_sent, _dropped, _frames, _connects, _connected, _queued_bytes). */
void	 gw_feed_sender_pack(const struct gw_feed_sender *, msgpack_packer *);

/* ---- receiving end (gateway) ---- */

/* One event, valid only during the call. */
typedef void (*gw_feed_event_fn)(const struct event *, void *arg);
/*
 * A hole: sender role/instance connected (anew, or for the first time
 * since the gateway started; lost 0) or said it dropped events (lost > 0),
 * or sent an event that did not decode (lost 1).  A hole of the writer:
 * user events may be missing from then on until the clients are
 * resnapshotted; a hole of the market worker concerns market data only.
 */
typedef void (*gw_feed_hole_fn)(const char *role, int instance, uint64_t lost, void *arg);

/* Listen on socket_path (an existing socket file is replaced).  NULL with err on failure. */
struct gw_feed *gw_feed_listen(struct ev_loop *, const char *socket_path, gw_feed_event_fn,
	    gw_feed_hole_fn, void *arg, char *err, size_t errlen);
void	 gw_feed_close(struct gw_feed *);

struct gw_feed_stats {
	uint64_t	 events, frames, invalid, holes, lost, senders;
};
const struct gw_feed_stats *gw_feed_stats(const struct gw_feed *);

#endif
