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
 * Stamp the frame being built with a wall-clock time (µs): the writer's
 * COMMIT of the events it is about to send.  A frame carries the earliest
 * stamp of its events ("t"); the gateway shows it as committed_at.
 */
void	 gw_feed_sender_stamp(struct gw_feed_sender *, int64_t t_us);

/*
 * sent: events written whole to the gateway's socket; dropped: not sent
 * (away, too slow, or in a frame not yet written when the connection was
 * lost); frames: handed to the connection; queued_bytes: not yet written.
 */
struct gw_feed_sender_stats {
	uint64_t	 sent, dropped, frames, connects, connected;
	uint64_t	 interests;	/* market interests received */
	size_t		 queued_bytes;
};
const struct gw_feed_sender_stats *gw_feed_sender_stats(const struct gw_feed_sender *);
/*
 * The stats as a status map of 8 keys (gw_feed_sent, _interests,
 * _interest_symbols, _dropped, _frames, _connects, _connected, _queued_bytes).
 */
void	 gw_feed_sender_pack(const struct gw_feed_sender *, msgpack_packer *);

/*
 * The market interest: which market streams any client of the gateway
 * reads, per symbol a mask of channels (bit 1 << enum gw_channel, gw_msg.h)
 * and, for klines, of intervals (bit 1 << bm_interval_index).  The gateway
 * sets it (gw_feed_set_interest) whenever a subscription appears or goes;
 * the feed sends it to every market sender at once and to a new one after
 * its HELLO.  The market worker forwards a market event only when
 * gw_feed_sender_wants says so: nothing before the first interest or while
 * the gateway is away, nothing of a stream no client reads, so market data
 * costs neither process anything until someone subscribes.
 */
#define GW_INTEREST_MAX		100000	/* symbols in one interest, at most */
struct gw_interest {
	char		 symbol[32];
	uint32_t	 channels;
	uint32_t	 intervals;
};
/* 1 when a client reads channel (and, for a kline, interval index; else -1) of symbol, else 0. */
int	 gw_feed_sender_wants(const struct gw_feed_sender *, const char *symbol, int channel,
	    int interval);

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
/* The stamp ("t", µs) of the frame whose events are being delivered; 0 when it has none. */
int64_t	 gw_feed_frame_us(const struct gw_feed *);
/* Replace the market interest (n entries, copied) and send it to the market senders.  0 or -1 (memory). */
int	 gw_feed_set_interest(struct gw_feed *, const struct gw_interest *, size_t n);

struct gw_feed_stats {
	uint64_t	 events, frames, invalid, holes, lost, senders;
	uint64_t	 interests;	/* market interests set */
};
const struct gw_feed_stats *gw_feed_stats(const struct gw_feed *);

#endif
