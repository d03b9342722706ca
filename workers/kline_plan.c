/*
 * kline_plan.c: closed-candle hole arithmetic and the paging of
 * GET /fapi/v1/klines (kline_plan.h).  No I/O, no clock.
 *
 * The paging: every weight class of bm_klines_weight ([1,100) 1,
 * [100,500) 2, [500,1000] 5, (1000,1500] 10 on Binance) is used at its
 * largest limit, or at the hole's remainder; the least total weight of n
 * candles is found by dynamic programming up to KP_DP_MAX candles, and a
 * larger hole first takes pages of the cheapest rate (weight per candle:
 * 499 candles for 2) until what is left is in the table.  The unit test
 * checks this against a search over every limit.
 */
#include "autoconf.h"

#include <stdint.h>

#include "exchanges/binance_market.h"
#include "kline_plan.h"

#define KP_DP_MAX	(4 * KP_LIMIT_MAX)
#define KP_CLASSES	16

static struct {
	int		 ready;
	int		 nclass;
	int		 limit[KP_CLASSES];	/* the largest limit of each weight */
	int		 weight[KP_CLASSES];
	int		 best;			/* the class of the least weight per candle */
	int64_t		 w[KP_DP_MAX + 1];	/* least weight of n candles */
	int		 pages[KP_DP_MAX + 1];	/* ... in this many requests */
	int		 first[KP_DP_MAX + 1];	/* ... the first of limit first[n] */
	int		 month;			/* bm_interval_index("1M") */
} kp;

static void
kp_init(void)
{
	int l, c, w;

	if (kp.ready)
		return;
	kp.month = bm_interval_index("1M");
	/* Weight classes: consecutive limits of one weight, their largest. */
	for (l = 1; l <= KP_LIMIT_MAX; l++) {
		w = bm_klines_weight(l);
		if (kp.nclass > 0 && kp.weight[kp.nclass - 1] == w)
			kp.limit[kp.nclass - 1] = l;
		else if (kp.nclass < KP_CLASSES) {
			kp.weight[kp.nclass] = w;
			kp.limit[kp.nclass] = l;
			kp.nclass++;
		}
	}
	kp.best = 0;
	for (c = 1; c < kp.nclass; c++)
		/* w_c / l_c < w_best / l_best, exactly; a tie keeps the larger page */
		if ((int64_t)kp.weight[c] * kp.limit[kp.best] <
		    (int64_t)kp.weight[kp.best] * kp.limit[c] ||
		    ((int64_t)kp.weight[c] * kp.limit[kp.best] ==
		    (int64_t)kp.weight[kp.best] * kp.limit[c] && kp.limit[c] > kp.limit[kp.best]))
			kp.best = c;
	kp.w[0] = 0;
	kp.pages[0] = 0;
	kp.first[0] = 0;
	for (int64_t n = 1; n <= KP_DP_MAX; n++) {
		kp.w[n] = INT64_MAX;
		for (c = 0; c < kp.nclass; c++) {
			int take = kp.limit[c] < n ? kp.limit[c] : (int)n;
			int64_t tw = kp.weight[c] + kp.w[n - take];
			int tp = 1 + kp.pages[n - take];

			if (tw < kp.w[n] || (tw == kp.w[n] && (tp < kp.pages[n] ||
			    (tp == kp.pages[n] && take > kp.first[n])))) {
				kp.w[n] = tw;
				kp.pages[n] = tp;
				kp.first[n] = take;
			}
		}
	}
	kp.ready = 1;
}

/* Beyond the table: pages of the cheapest rate until the rest is in it. */
static int64_t
kp_big_pages(int64_t n)
{
	int64_t l = kp.limit[kp.best];

	return n > KP_DP_MAX ? (n - KP_DP_MAX + l - 1) / l : 0;
}

int64_t
kp_min_weight(int64_t n)
{
	int64_t k;

	kp_init();
	if (n <= 0)
		return 0;
	k = kp_big_pages(n);
	return k * kp.weight[kp.best] + kp.w[n - k * kp.limit[kp.best]];
}

int
kp_first_limit(int64_t n)
{
	kp_init();
	if (n <= 0)
		return 0;
	return kp_big_pages(n) > 0 ? kp.limit[kp.best] : kp.first[n];
}

/* The first candle at or after 1970-01-01 (weeks: the first Monday). */
static int64_t
kp_lowest(int iv)
{
	int64_t o = bm_candle_open(iv, 0);

	return o < 0 ? bm_candle_next(iv, o) : o;
}

int64_t
kp_prev(int iv, int64_t open_ms)
{
	return bm_candle_open(iv, open_ms - 1);
}

int64_t
kp_last_closed(int iv, int64_t now_ms)
{
	return kp_prev(iv, bm_candle_open(iv, now_ms));
}

int64_t
kp_count(int iv, int64_t first, int64_t last)
{
	int64_t n = 0, x, guard;

	kp_init();
	if (first > last)
		return 0;
	if (iv != kp.month)
		return (last - first) / (bm_candle_next(iv, first) - first) + 1;
	/* Months: at most one per 28 days. */
	guard = (last - first) / (28LL * 86400000) + 2;
	for (x = first; x <= last && n <= guard; x = bm_candle_next(iv, x))
		n++;
	return n;
}

int64_t
kp_step(int iv, int64_t open_ms, int64_t n, int *clamped)
{
	int64_t lo = kp_lowest(iv), x = open_ms, len;

	kp_init();
	if (clamped)
		*clamped = 0;
	if (iv != kp.month) {
		len = bm_candle_next(iv, open_ms) - open_ms;
		if (n < 0 && (open_ms - lo) / len < -n) {
			if (clamped)
				*clamped = 1;
			return lo;
		}
		return open_ms + n * len;
	}
	for (; n > 0; n--)
		x = bm_candle_next(iv, x);
	for (; n < 0; n++) {
		if (x <= lo) {
			if (clamped)
				*clamped = 1;
			return lo;
		}
		x = kp_prev(iv, x);
	}
	return x;
}

int
kp_plan(int iv, int64_t first, int64_t last, struct kp_page *p)
{
	int64_t n = kp_count(iv, first, last);

	if (n <= 0)
		return 0;
	p->limit = kp_first_limit(n);
	p->weight = bm_klines_weight(p->limit);
	p->start_ms = first;
	p->last_ms = kp_step(iv, first, p->limit - 1, NULL);
	p->end_ms = bm_candle_next(iv, p->last_ms) - 1;
	return 1;
}
