/*
 * kline_plan.h: the arithmetic of closed-candle holes and of the REST pages
 * that fill them (market_kline.c), apart from any I/O so that it is tested
 * alone (t/unit/market_kline_test.c).
 *
 * Times are the exchange's milliseconds (UTC).  A candle is named by its
 * open time; iv is an index into bm_intervals (binance_market.h), whose
 * bm_candle_open / bm_candle_next give Binance's candle boundaries
 * (calendar months, weeks from Monday 00:00 UTC).  A candle is closed when
 * its close time (the next open time - 1) is before the exchange's now.
 *
 * GET /fapi/v1/klines returns at most KP_LIMIT_MAX rows; its weight is by
 * limit (bm_klines_weight).  A hole of n candles is paged so that the sum
 * of the pages' weights is the least any paging of n candles costs, and
 * among those the one with the fewest requests.
 */
#ifndef EXFEEDD_KLINE_PLAN_H
#define EXFEEDD_KLINE_PLAN_H

#include <stdint.h>

/* Binance "Kline/Candlestick Data": limit default 500, max 1500. */
#define KP_LIMIT_MAX	1500

/* The open time of the candle before the one opening at open_ms. */
int64_t	 kp_prev(int iv, int64_t open_ms);
/*
 * The open time of the newest candle closed at now_ms (close time <
 * now_ms): the one before the candle holding now_ms.
 */
int64_t	 kp_last_closed(int iv, int64_t now_ms);
/* Candles whose open time is in [first, last] (both open times); 0 when first > last. */
int64_t	 kp_count(int iv, int64_t first, int64_t last);
/*
 * The open time n candles after (n > 0) or before (n < 0) open_ms; never
 * before the interval's first candle after 1970-01-01 (the clamp: *clamped
 * set to 1 if not NULL).
 */
int64_t	 kp_step(int iv, int64_t open_ms, int64_t n, int *clamped);

/* One request: startTime, endTime (the last candle's close time), limit, its weight. */
struct kp_page {
	int64_t		 start_ms;		/* open time of the first candle asked for */
	int64_t		 last_ms;		/* open time of the last */
	int64_t		 end_ms;		/* its close time: the request's endTime */
	int		 limit;			/* candles asked for (= rows expected) */
	int		 weight;		/* bm_klines_weight(limit) */
};

/*
 * The first request of the hole [first, last] (open times, first <= last):
 * 1 with *p filled, or 0 when the hole is empty (first > last).
 */
int	 kp_plan(int iv, int64_t first, int64_t last, struct kp_page *p);
/* The least total weight of n candles, and the first page's limit in such a paging. */
int64_t	 kp_min_weight(int64_t n);
int	 kp_first_limit(int64_t n);

#endif
