/*
 * dpsender.h: the sending end of the data plane (ipc.h IPC_DP_*): a worker
 * that produces events connects to <runtime_dir>/writer.sock, says HELLO,
 * and sends its events in IPC_DP_EVENTS batches, each event numbered by a
 * per-process sequence.  Every event is kept until the writer acks its
 * sequence number; when the writer goes away the sender reconnects (with
 * backoff) and resends all un-acked events in order (DESIGN §3).
 *
 * The un-acked buffer is bounded: past `max_unacked` events the oldest are
 * dropped, and the overflow callback is told which accounts lost events so
 * they can be resynced.
 */
#ifndef EXFEEDD_DPSENDER_H
#define EXFEEDD_DPSENDER_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

struct event;
struct dp_sender;

/*
 * Accounts (ids, deduplicated) whose events were dropped on overflow, each
 * with the earliest lost_since_ms of its dropped events: the exchange time
 * from which it must be resynced.
 */
typedef void (*dp_overflow_fn)(const int64_t *account_ids, const int64_t *since_ms, size_t n,
	    void *arg);

struct dp_sender *dp_sender_new(struct ev_loop *, const char *socket_path, const char *role,
	    int instance, size_t max_unacked, dp_overflow_fn, void *arg);
void	 dp_sender_set_max(struct dp_sender *, size_t max_unacked);
/*
 * Queue one event (ev->seq is assigned here).  lost_since_ms: if the event
 * is dropped on overflow, its account lost what happened from this exchange
 * time on.  An event that fails ev_validate is counted and dropped alone,
 * never sent (DESIGN §3.6).  0, or -1 if it was invalid or out of memory.
 */
int	 dp_sender_push(struct dp_sender *, struct event *, int64_t lost_since_ms);
/*
 * dp_sender_push for an event the caller has just seen pass ev_validate
 * and has not changed since (a parser's batch checks every event it
 * emits): the check is not made twice.  0, or -1 out of memory.
 */
int	 dp_sender_push_valid(struct dp_sender *, struct event *, int64_t lost_since_ms);
/* Send what is queued now rather than at the end of this loop iteration. */
void	 dp_sender_flush(struct dp_sender *);
size_t	 dp_sender_unacked(const struct dp_sender *);
/* The sequence number the next push gets: a mark for dp_sender_committed. */
uint64_t dp_sender_next_seq(const struct dp_sender *);
/* Has every event pushed before the mark been acked (committed) or dropped?  1 or 0. */
int	 dp_sender_committed(const struct dp_sender *, uint64_t mark);
int	 dp_sender_connected(const struct dp_sender *);
void	 dp_sender_free(struct dp_sender *);

struct dp_sender_stats {
	uint64_t	 pushed, acked, sent_frames, resent, dropped, overflows, reconnects, invalid;
	uint64_t	 last_ack;
};
const struct dp_sender_stats *dp_sender_stats(const struct dp_sender *);

/*
 * Pieces the gateway feed's sender (gwfeed.c) shares.  dp_dial: a
 * non-blocking connection to the Unix socket at path, the fd or -1 (errno).
 * dp_hello: the HELLO {role, instance, pid} on a new connection, 0 or -1
 * (the connection was dropped).  dp_backoff_next: the reconnect delay after
 * cur_s (0 for the first): 100 ms, doubling, at most 5 s.
 */
struct ipc_conn;
int	 dp_dial(const char *path);
int	 dp_hello(struct ipc_conn *, const char *role, int instance);
double	 dp_backoff_next(double cur_s);

#endif
