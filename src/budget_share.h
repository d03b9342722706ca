/*
 * budget_share.h: TRANSITIONAL.  The per-worker share of the host's budgets
 * that workers/account.c spends today; budget.h's host-wide budget replaces
 * it, and this file and budget_share.c go when account.c is wired to it.
 *
 * REST request weight per minute and WebSocket connection attempts per five
 * minutes (DESIGN §8: budgets are per host).
 *
 * The host's budget ([exchange.NAME] rest_weight_budget, connect_budget) is
 * shared by the host's account workers; each worker takes an equal share
 * (budget / account_shards), so the workers never need to talk to each
 * other and their sum can never exceed the host's figure.  The exchange's
 * own count of the IP's weight (X-MBX-USED-WEIGHT-1M) is honoured on top:
 * when it nears the host budget, nobody spends until the next minute.
 */
#ifndef EXFEEDD_BUDGET_SHARE_H
#define EXFEEDD_BUDGET_SHARE_H

#include <stdint.h>

#define BUDGET_CONNECT_WINDOW_S	300

struct budget {
	/* REST weight: fixed windows aligned on the wall-clock minute, as the exchange counts. */
	int64_t		 weight_share;		/* this worker's weight per minute */
	int64_t		 weight_host;		/* the whole host's weight per minute */
	int64_t		 window_ms;		/* start of the current minute */
	int64_t		 used;			/* our spend in the current minute */
	int64_t		 seen;			/* the exchange's figure for the IP, this minute */
	int64_t		 blocked_until_ms;	/* Retry-After or a ban */
	/* Connection attempts: a sliding window of one-second buckets. */
	int64_t		 connect_share;		/* attempts per five minutes, this worker */
	int64_t		 connect_sec[BUDGET_CONNECT_WINDOW_S];
	int64_t		 connect_stamp[BUDGET_CONNECT_WINDOW_S];
	/* Counters for status. */
	uint64_t	 weight_spent;
	uint64_t	 weight_refused;
	uint64_t	 connects;
	uint64_t	 connects_refused;
	uint64_t	 blocks;
};

/* host_weight and host_connects are the host's figures; shares divides them. */
void	 budget_init(struct budget *, int64_t host_weight, int64_t host_connects, int64_t shares);
/* Reload: new figures, spend so far kept. */
void	 budget_set(struct budget *, int64_t host_weight, int64_t host_connects, int64_t shares);

/*
 * Spend `weight` now if this minute's share (less `reserve`, which only
 * the callers that pass reserve 0 may use) and the exchange's own count
 * allow it: 0 spent, -1 not now (*wait_ms says when to ask again).
 */
int	 budget_weight_take(struct budget *, int64_t weight, int64_t reserve, int64_t now_ms,
	    int64_t *wait_ms);
/* A response's X-MBX-USED-WEIGHT-1M. */
void	 budget_weight_seen(struct budget *, int64_t used_1m, int64_t now_ms);
/* 429 / 418: no request before until_ms. */
void	 budget_block(struct budget *, int64_t until_ms);
int64_t	 budget_minute_used(const struct budget *, int64_t now_ms);

/* One connection attempt, if the five-minute window allows: 0 or -1 with *wait_ms. */
int	 budget_connect_take(struct budget *, int64_t now_ms, int64_t *wait_ms);
int64_t	 budget_connects_in_window(const struct budget *, int64_t now_ms);

#endif
