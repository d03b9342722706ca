/*
 * budget_share.c: TRANSITIONAL.  REST weight and connection-attempt budgets
 * of one account worker (budget_share.h), until account.c moves to the
 * host-wide budget of budget.c.  Pure arithmetic on times passed in.
 */
#include "autoconf.h"

#include <string.h>

#include "budget_share.h"

#define MINUTE_MS	60000
/* Stop when the exchange's count for our IP comes this close to the host budget. */
#define SEEN_MARGIN_PCT	95

static int64_t
share_of(int64_t host, int64_t shares)
{
	int64_t s = shares > 0 ? host / shares : host;

	return s > 0 ? s : 1;
}

void
budget_set(struct budget *b, int64_t host_weight, int64_t host_connects, int64_t shares)
{
	b->weight_host = host_weight;
	b->weight_share = share_of(host_weight, shares);
	b->connect_share = share_of(host_connects, shares);
}

void
budget_init(struct budget *b, int64_t host_weight, int64_t host_connects, int64_t shares)
{
	memset(b, 0, sizeof(*b));
	budget_set(b, host_weight, host_connects, shares);
}

static void
budget_roll(struct budget *b, int64_t now_ms)
{
	int64_t win = now_ms - now_ms % MINUTE_MS;

	if (win != b->window_ms) {
		b->window_ms = win;
		b->used = 0;
		b->seen = 0;
	}
}

int64_t
budget_minute_used(const struct budget *b, int64_t now_ms)
{
	return now_ms - now_ms % MINUTE_MS == b->window_ms ? b->used : 0;
}

int
budget_weight_take(struct budget *b, int64_t weight, int64_t reserve, int64_t now_ms,
    int64_t *wait_ms)
{
	int64_t next_window;

	budget_roll(b, now_ms);
	next_window = b->window_ms + MINUTE_MS - now_ms;
	if (b->blocked_until_ms > now_ms) {
		*wait_ms = b->blocked_until_ms - now_ms;
		b->weight_refused++;
		return -1;
	}
	if (b->used + weight > b->weight_share - reserve ||
	    (b->seen + weight) * 100 > b->weight_host * SEEN_MARGIN_PCT) {
		/* A request heavier than the whole share would wait forever: let it
		 * go alone at the start of a minute. */
		if (!(b->used == 0 && b->seen == 0 && weight > b->weight_share - reserve)) {
			*wait_ms = next_window + 1;
			b->weight_refused++;
			return -1;
		}
	}
	b->used += weight;
	b->seen += weight;	/* until the response tells us the real figure */
	b->weight_spent += (uint64_t)weight;
	*wait_ms = 0;
	return 0;
}

void
budget_weight_seen(struct budget *b, int64_t used_1m, int64_t now_ms)
{
	budget_roll(b, now_ms);
	if (used_1m > b->seen)
		b->seen = used_1m;
}

void
budget_block(struct budget *b, int64_t until_ms)
{
	if (until_ms > b->blocked_until_ms) {
		b->blocked_until_ms = until_ms;
		b->blocks++;
	}
}

int64_t
budget_connects_in_window(const struct budget *b, int64_t now_ms)
{
	int64_t sec = now_ms / 1000, n = 0;

	for (int i = 0; i < BUDGET_CONNECT_WINDOW_S; i++)
		if (b->connect_stamp[i] > sec - BUDGET_CONNECT_WINDOW_S)
			n += b->connect_sec[i];
	return n;
}

int
budget_connect_take(struct budget *b, int64_t now_ms, int64_t *wait_ms)
{
	int64_t sec = now_ms / 1000;
	int slot = (int)(sec % BUDGET_CONNECT_WINDOW_S);

	if (budget_connects_in_window(b, now_ms) >= b->connect_share) {
		int64_t oldest = sec;

		/* Wait until the oldest second still in the window falls out of it. */
		for (int i = 0; i < BUDGET_CONNECT_WINDOW_S; i++)
			if (b->connect_sec[i] && b->connect_stamp[i] > sec - BUDGET_CONNECT_WINDOW_S &&
			    b->connect_stamp[i] < oldest)
				oldest = b->connect_stamp[i];
		*wait_ms = (oldest + BUDGET_CONNECT_WINDOW_S) * 1000 - now_ms;
		if (*wait_ms < 1)
			*wait_ms = 1;
		b->connects_refused++;
		return -1;
	}
	if (b->connect_stamp[slot] != sec) {
		b->connect_stamp[slot] = sec;
		b->connect_sec[slot] = 0;
	}
	b->connect_sec[slot]++;
	b->connects++;
	*wait_ms = 0;
	return 0;
}
