/*
 * book.h: a local order book of one Binance USDⓈ-M symbol, kept from a REST
 * depth snapshot and the <s>@depth diff stream (FACTS §3 "Keeping a local
 * order book").  Pure: no I/O, no clock, no logging; the market worker
 * feeds it, asks for its top N and schedules the snapshots it needs.
 *
 * States.  UNSYNCED: no usable snapshot; diffs are buffered.  WAITING: a
 * snapshot at lastUpdateId L is loaded and no diff has connected to it yet
 * (the book is exact at L).  SYNCED: diffs are applied, each one's pu equal
 * to the u of the one before.  book_synced() is true in WAITING and SYNCED.
 *
 * Rules, one diff at a time (U = first, u = final, pu = previous final id):
 *   WAITING at L:  u < L           → BOOK_STALE (the snapshot covers it);
 *                  U <= L <= u     → applied, SYNCED (the first processed
 *                                    event, FACTS §3 step 5);
 *                  U > L           → BOOK_BREAK (updates between L and U
 *                                    were never seen).
 *   SYNCED at u0:  pu == u0        → applied;
 *                  u <= u0         → BOOK_STALE (a duplicate or an older
 *                                    diff: everything in it is covered);
 *                  otherwise       → BOOK_BREAK (a gap: step 6).
 *   UNSYNCED:      buffered (BOOK_OK); when max_buffered are already held,
 *                  they are dropped, this one starts the buffer again, and
 *                  the answer is BOOK_BREAK.
 * A snapshot in UNSYNCED loads the book (WAITING at L) and then runs every
 * buffered diff, in arrival order, through the rules above, exactly as if
 * the snapshot had come first: those with u < L are dropped (step 4), the
 * first one with u >= L must have U <= L (step 5), the rest must chain by
 * pu (step 6).  When none remain the book stays WAITING: a snapshot newer
 * than every buffered diff is not a break.  When one breaks (the snapshot
 * is older than the first diff it needs, or the buffer has a gap after L),
 * the answer is BOOK_BREAK, the book is UNSYNCED again and the buffer keeps
 * that diff and those after it, so that a newer snapshot can still connect.
 *
 * A BOOK_BREAK always leaves the book UNSYNCED and empty and means "this
 * book needs a new snapshot": the caller counts one resync and schedules it.
 * The diff that revealed a gap is kept as the first buffered one.  Also a
 * break: a diff or snapshot with a malformed level (a price that is not a
 * positive decimal, a quantity that is not a non-negative one, U > u), and
 * a diff after which the book would be crossed (best bid >= best ask: the
 * exchange never sends that in a consistent stream, so the stream or our
 * book is wrong).  Quantities are absolute, 0 removes a level, removing a
 * level the book does not hold is normal (steps 7-9).
 *
 * What the book can prove.  A snapshot of limit L that returned L levels on
 * a side knows that side only down to its worst level (its "range"); one
 * that returned fewer knows the whole side.  Levels a diff sets outside the
 * range are not kept (what lies between them and the range is unknown).
 * book_top fails once fewer than n levels remain inside a bounded range.
 * Each side keeps at most max_levels (BOOK_LEVELS_MAX unless set): beyond
 * that the worst level is dropped and the range shrinks to the worst one
 * kept.
 *
 * Prices are compared exactly as decimals ("100.10" == "100.1"), never as
 * doubles; the strings are kept as they came (the latest diff's) for output.
 * Each side is a sorted array with the best level last, so an update near
 * the top moves few levels: O(log n + distance from the top).
 */
#ifndef EXFEEDD_BOOK_H
#define EXFEEDD_BOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "exchanges/binance_market.h"

#define BOOK_LEVELS_MAX	5000	/* per side, by default */

struct book;

enum book_rc {
	BOOK_OK,
	BOOK_STALE,
	BOOK_BREAK,
};

struct book_stats {
	uint64_t	 diffs;		/* book_diff calls */
	uint64_t	 applied;	/* diffs applied (live or from the buffer) */
	uint64_t	 stale;		/* diffs dropped as covered (live or from the buffer) */
	uint64_t	 breaks;	/* BOOK_BREAK answers */
	uint64_t	 snapshots;	/* book_snapshot calls */
	uint64_t	 malformed;	/* diffs/snapshots refused for a malformed level or ids */
	uint64_t	 crossed;	/* diffs that would have crossed the book (breaks) */
	uint64_t	 outside;	/* levels set outside the proven range, not kept */
	uint64_t	 trimmed;	/* levels dropped at max_levels */
	size_t		 nbids, nasks;	/* levels held now */
	size_t		 nbuffered;	/* diffs buffered now */
};

/*
 * A new, UNSYNCED book for symbol (copied into the events book_top makes),
 * buffering at most max_buffered diffs (>= 1) while unsynced.  NULL if out
 * of memory.
 */
struct book	*book_new(const char *symbol, size_t max_buffered);
void		 book_free(struct book *);
/* Set the per-side level bound (>= 1; tests use small ones), before the first snapshot. */
void		 book_max_levels(struct book *, size_t);

/* Feed one diff (copied when buffered).  See the rules above. */
enum book_rc	 book_diff(struct book *, const struct bm_depth_diff *);
/*
 * Apply a REST snapshot taken with limit snapshot_limit (the request's, to
 * tell a full side from a whole one; <= 0 means unknown: both sides are
 * taken as cut at their worst level).  UNSYNCED: as above, BOOK_OK or
 * BOOK_BREAK.  WAITING or SYNCED: a snapshot newer than the book's last
 * update id replaces the book (WAITING at its L, BOOK_OK); an older or
 * equal one is ignored (BOOK_STALE): the book has no buffer to bring it
 * forward (call book_unsync first to resync a live book).  A malformed
 * snapshot (a bad level, a side out of order, crossed) is BOOK_BREAK.
 */
enum book_rc	 book_snapshot(struct book *, const struct bm_depth_snapshot *,
		    int snapshot_limit);
/*
 * Drop the book and start buffering (UNSYNCED): what the caller does before
 * requesting a snapshot when book_top says the book can no longer prove its
 * top N.  Not counted as a break.
 */
void		 book_unsync(struct book *);

bool		 book_synced(const struct book *);
/*
 * Whether the best bid is at or above the best ask.  Never true after a
 * diff or snapshot was applied (one that would cross is a break); the
 * publisher asks again before each top it sends.
 */
bool		 book_crossed(const struct book *);
/* The u of the last diff applied, the snapshot's L when WAITING, 0 when UNSYNCED. */
int64_t		 book_last_update_id(const struct book *);
/* Why the last BOOK_BREAK happened (a static string), "" if none yet. */
const char	*book_break_reason(const struct book *);
void		 book_get_stats(const struct book *, struct book_stats *);

/*
 * The top n (1 .. EV_BOOK_LEVELS_MAX) levels of each side into *ev, which
 * is overwritten: type EV_BOOK, exchange "binance-futures", event_time = E
 * of the last diff applied (or the snapshot's), u.book: symbol,
 * last_update_id, time (T of that diff, or the snapshot's), depth = n,
 * nbids/nasks (fewer than n only on a side the snapshot held whole), levels
 * best first, bids then asks.  The levels go into `into` when it is not NULL
 * (room for 2n; the event then does not own them: do not ev_clear it), else
 * into a malloc'd array (ev_clear or free it).  account_id, user_id, recv_us
 * and the id are left for the caller.  0, or -1 when not synced, when n is
 * out of range, when a side cannot prove its top n (fewer than n levels
 * inside its range), or when out of memory.
 *
 * What comes out passes ev_validate by construction (book_test's random
 * walk checks every top it takes): each level was a canonical positive
 * decimal when it entered, each side is kept strictly ordered, and no diff
 * or snapshot that would cross the book is applied.
 */
int		 book_top(const struct book *, int n, struct event *ev, struct ev_level *into);

#endif
