/*
 * budget.h: the budgets of one exchange host's IP, shared by every account
 * worker on this machine: REST weight per minute, the Retry-After block,
 * REST requests in flight, WebSocket connection attempts per five minutes
 * (DESIGN §8: the exchange counts per IP, so budgets are per host), and
 * which workers have urgent requests waiting, before which the others'
 * deferrable ones wait.
 *
 * The state is a small file (<runtime_dir>/budget-<exchange>) that each
 * worker maps by path, guarded by a process-shared robust mutex: a 429 seen
 * by one worker stops them all, and a worker or the daemon restarted within
 * the same boot inherits a running Retry-After or ban.  A worker killed
 * while holding the lock does not wedge the others.  Times are wall-clock
 * milliseconds passed in, so the arithmetic is tested without a clock.
 */
#ifndef EXFEEDD_BUDGET_H
#define EXFEEDD_BUDGET_H

#include <stddef.h>
#include <stdint.h>

/*
 * In-flight slots: one per account worker instance (account_shards <= 256),
 * and the market worker's.
 */
#define BUDGET_SLOTS		257
#define BUDGET_SLOT_MARKET	256
/* What budget_rest_take asks to wait when only the in-flight limit refused. */
#define BUDGET_INFLIGHT_WAIT_MS	50
/* The longest budget_rest_take_deferred asks to wait behind urgent requests. */
#define BUDGET_DEFER_WAIT_MS	200

struct budget_host;

/* One worker's view of the host's limits, from its config; all >= 1. */
struct budget_limits {
	int64_t		 weight_1m;	/* REST weight per minute: rest_weight_budget */
	int64_t		 connects_5m;	/* WebSocket connects per 5 minutes: connect_budget */
	int		 inflight;	/* REST requests in flight at once on the host */
};
/*
 * When a 429 comes back, at most inflight - 1 other requests are already on
 * their way and ignore it; exchanges ban the IP after a few such (exsim
 * after 3), so 2 or 3.
 */

/* What budget_open found at the path, for the caller to log. */
#define BUDGET_OPEN_KEPT	0	/* a live state: its minute, block and counters carry on */
#define BUDGET_OPEN_CREATED	1	/* no file: a fresh state */
#define BUDGET_OPEN_RESET	2	/* another size, version or boot, or a broken lock:
					 * re-initialised, keeping its block if it had one */

struct budget_stats {
	/* The host, now. */
	int64_t		 minute_used;		/* REST weight taken this minute */
	int64_t		 minute_seen;		/* the exchange's count this minute, or ours */
	int64_t		 blocked_until_ms;	/* 0 when not blocked */
	int64_t		 connects_5m;		/* connection attempts, last five minutes */
	int		 inflight;		/* REST requests in flight */
	/* The host, since the file was made. */
	uint64_t	 weight_spent;
	uint64_t	 rest_refused;		/* budget_rest_take calls refused */
	uint64_t	 blocks;		/* blocks set or lengthened */
	uint64_t	 connects;
	uint64_t	 connects_refused;
	uint64_t	 lock_recoveries;	/* a process died holding the lock */
	/* This worker, since budget_open. */
	uint64_t	 own_weight_spent;
	uint64_t	 own_requests;
	uint64_t	 own_reopens;		/* the file's lock was unusable: opened anew */
};

/*
 * Map the host's budget file at path, creating it (0600) if missing or
 * re-initialising it if unusable (*how, if not NULL: BUDGET_OPEN_*).  slot
 * is the worker's instance, 0..BUDGET_SLOTS-1: its in-flight count restarts
 * at 0, owned by this process (a handle is not for use across fork).  NULL
 * on error, with the reason in err.
 */
struct budget_host *budget_open(const char *path, int slot, const struct budget_limits *,
	    int *how, char *err, size_t errlen);
/* Unmap; this worker's requests stop counting as in flight. */
void	 budget_close(struct budget_host *);
/* Reload: this worker's new limits; the host's spend so far is kept.  0, or -1 if a limit < 1. */
int	 budget_set_limits(struct budget_host *, const struct budget_limits *);

/*
 * One REST request of `weight` at now_ms, if the host is not blocked, its
 * weight this minute stays within the limit less `reserve` (room that only
 * callers passing 0 may use, e.g. listen keys; when reserve > 0 it is at
 * least what the host's workers said their listen keys need a minute,
 * budget_rest_keys, capped at three quarters of the limit), the exchange's count of the
 * IP (or ours, if higher) stays within 95% of the limit, and fewer than the
 * in-flight limit are in flight on the host.
 * A request heavier than any minute allows goes alone at a minute's start.
 * 0: weight counted and the request in flight until budget_rest_done.
 * -1: not now, *wait_ms says when to ask again (BUDGET_INFLIGHT_WAIT_MS if
 * only the in-flight limit refused; 1000 if another process has opened our
 * slot since, or the file could not be locked nor opened anew).
 */
int	 budget_rest_take(struct budget_host *, int64_t weight, int64_t reserve, int64_t now_ms,
	    int64_t *wait_ms);
/*
 * budget_rest_take for a request that can wait (a resync's history): also
 * refused while another worker of the host has urgent requests waiting
 * (budget_rest_urgent), so that the host spends its minute on those first:
 * listen keys and every account's state before any account's history.
 */
int	 budget_rest_take_deferred(struct budget_host *, int64_t weight, int64_t reserve,
	    int64_t now_ms, int64_t *wait_ms);
/*
 * This worker has urgent requests ready, waiting for the host's budget,
 * until until_ms (it says so again while they wait; a few seconds ahead, so
 * that a worker that dies does not hold the others back for long); 0: none.
 */
void	 budget_rest_urgent(struct budget_host *, int64_t until_ms);
/*
 * This worker's listen keys cost weight_1m a minute (keys times the renewals
 * a key has in a minute, rounded up); 0 when it has none.  Reserved from
 * every caller passing a reserve, so renewals due after a minute's history
 * is spent still find room; a dead worker's figure stops counting.
 */
void	 budget_rest_keys(struct budget_host *, int64_t weight_1m);
/* Would budget_rest_take succeed?  Takes nothing, counts no refusal: 0, or -1 with *wait_ms. */
int	 budget_rest_room(struct budget_host *, int64_t weight, int64_t reserve, int64_t now_ms,
	    int64_t *wait_ms);
/* A request budget_rest_take let go has ended: answered, failed, timed out or cancelled. */
void	 budget_rest_done(struct budget_host *);
/* A response's X-MBX-USED-WEIGHT-1M: the exchange's count of the IP's weight this minute. */
void	 budget_rest_seen(struct budget_host *, int64_t used_1m, int64_t now_ms);
/* A 429 or 418 (Retry-After): no REST request from the host before until_ms. */
void	 budget_rest_block(struct budget_host *, int64_t until_ms);
/* When the host's block ends (ms), if it is still running at now_ms; else 0. */
int64_t	 budget_rest_blocked_until(struct budget_host *, int64_t now_ms);
/*
 * How long (s) a 429 or 418 blocks the host, from its Retry-After header
 * (retry_after_s, -1 when absent or unreadable): 60 without one; at most
 * 300 for a 429 (a rate limit is by the minute) and 3 days for a 418
 * (Binance's bans scale from 2 min to 3 days, FACTS §1.4), so a header out
 * of all reason cannot block REST until a restart nor overflow a time.
 */
int64_t	 budget_retry_after_s(int status, int64_t retry_after_s);

/*
 * One WebSocket connection attempt, if the host's last five minutes leave
 * more than `reserve` attempts (room that only callers passing 0 may use:
 * a connection some account needs, before one that is merely old): 0, or
 * -1 with *wait_ms.
 */
int	 budget_ws_take(struct budget_host *, int64_t reserve, int64_t now_ms, int64_t *wait_ms);

/* The host's figures at now_ms and this worker's counters. */
void	 budget_stats(struct budget_host *, int64_t now_ms, struct budget_stats *);

/* Unit test only: take the file's lock and return holding it. */
void	 budget_test_hold_lock(struct budget_host *);

#endif
