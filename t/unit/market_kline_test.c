/*
 * market_kline_test.c: the closed-candle hole arithmetic and the paging of
 * GET /fapi/v1/klines (workers/kline_plan.c): for random cursors and
 * times across years and every interval, the pages planned cover exactly
 * the candles missing and closed (each candle walked one by one with
 * bm_candle_next), never an open one, at the least weight any paging of
 * that many candles has (a search over every limit 1..1500 with
 * bm_klines_weight).  Months and weeks are checked against the C
 * library's calendar.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exchanges/binance_market.h"
#include "../../workers/kline_plan.h"

#define MS_DAY		86400000LL
#define T2017		1483228800000LL		/* 2017-01-01T00:00:00Z */
#define T2035		2051222400000LL		/* 2035-01-01T00:00:00Z */
#define BRUTE_MAX	20000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int64_t
rnd_in(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* The least weight of n candles, by a search over every limit. */
static int64_t brute[BRUTE_MAX + 1];

static void
brute_init(void)
{
	if (brute[1] != 0)
		return;
	for (int64_t n = 1; n <= BRUTE_MAX; n++) {
		brute[n] = INT64_MAX;
		for (int l = 1; l <= KP_LIMIT_MAX && l <= n; l++) {
			int64_t w = bm_klines_weight(l) + brute[n - l];

			if (w < brute[n])
				brute[n] = w;
		}
	}
}

Test(kline_plan, weight_table)
{
	/* Binance "Kline/Candlestick Data": [1,100) 1, [100,500) 2, [500,1000] 5, > 1000 10 */
	cr_assert_eq(kp_min_weight(1), 1);
	cr_assert_eq(kp_min_weight(99), 1);
	cr_assert_eq(kp_first_limit(99), 99);
	cr_assert_eq(kp_min_weight(100), 2);
	cr_assert_eq(kp_first_limit(100), 100);	/* one request of 2, not 99 + 1 */
	cr_assert_eq(kp_min_weight(499), 2);
	cr_assert_eq(kp_min_weight(500), 3);	/* 499 + 1, not 500 at 5 */
	cr_assert_eq(kp_min_weight(998), 4);
	cr_assert_eq(kp_min_weight(1500), 7);	/* 499 + 499 + 499 + 3 */
	cr_assert_eq(kp_min_weight(0), 0);
	cr_assert_eq(kp_first_limit(0), 0);
}

/* Every n up to BRUTE_MAX: the pages kp_first_limit takes weigh the least possible. */
Test(kline_plan, paging_is_least_weight)
{
	brute_init();
	for (int64_t n = 1; n <= BRUTE_MAX; n++) {
		int64_t left = n, w = 0;
		int pages = 0;

		cr_assert_eq(kp_min_weight(n), brute[n], "n %lld: %lld, least %lld", (long long)n,
		    (long long)kp_min_weight(n), (long long)brute[n]);
		while (left > 0) {
			int l = kp_first_limit(left);

			cr_assert(l >= 1 && l <= KP_LIMIT_MAX && l <= left, "n %lld: limit %d",
			    (long long)n, l);
			w += bm_klines_weight(l);
			left -= l;
			cr_assert(++pages <= n);
		}
		cr_assert_eq(w, brute[n], "n %lld: pages weigh %lld, least %lld", (long long)n,
		    (long long)w, (long long)brute[n]);
	}
	/* Larger holes: the same rate as the table's end, page after page. */
	for (int64_t n = BRUTE_MAX + 1; n < 5000000; n = n * 3 / 2 + 7) {
		int64_t k = (n - BRUTE_MAX + 498) / 499;

		cr_assert_eq(kp_min_weight(n), 2 * k + brute[n - 499 * k], "n %lld",
		    (long long)n);
	}
}

/* Closed: close time (next open - 1) before now. */
Test(kline_plan, last_closed_edges)
{
	for (int iv = 0; iv < 15; iv++) {
		for (int i = 0; i < 200; i++) {
			int64_t o = bm_candle_open(iv, rnd_in(T2017, T2035)), nx = bm_candle_next(iv, o);

			/* now = close time: not closed yet; one ms later it is */
			cr_assert_eq(kp_last_closed(iv, nx - 1), kp_prev(iv, o), "%s", bm_intervals[iv]);
			cr_assert_eq(kp_last_closed(iv, nx), o, "%s", bm_intervals[iv]);
			cr_assert_eq(bm_candle_next(iv, kp_prev(iv, o)), o);
			cr_assert_eq(kp_step(iv, o, 1, NULL), nx);
			cr_assert_eq(kp_step(iv, o, -1, NULL), kp_prev(iv, o));
			cr_assert_eq(kp_step(iv, kp_step(iv, o, -37, NULL), 37, NULL), o);
		}
	}
}

/*
 * The property: for a cursor (the newest candle stored) and a now, the
 * pages cover the candles after the cursor closed by now, each once, in
 * order, nothing else, at the least weight.
 */
static void
check_hole(int iv, int64_t cursor, int64_t now, int walk)
{
	int64_t first = bm_candle_next(iv, cursor), last = kp_last_closed(iv, now);
	int64_t expect = first, n = kp_count(iv, first, last), w = 0, covered = 0;
	struct kp_page p;

	if (walk) {
		/* Count them one by one: the candles after the cursor closed by now. */
		int64_t c = 0;

		for (int64_t x = first; bm_candle_next(iv, x) - 1 < now; x = bm_candle_next(iv, x))
			c++;
		cr_assert_eq(c, n, "%s cursor %lld now %lld: %lld candles, counted %lld",
		    bm_intervals[iv], (long long)cursor, (long long)now, (long long)c,
		    (long long)n);
	}
	while (kp_plan(iv, expect, last, &p)) {
		cr_assert_eq(p.start_ms, expect);
		cr_assert_eq(bm_candle_open(iv, p.start_ms), p.start_ms);
		cr_assert_eq(kp_count(iv, p.start_ms, p.last_ms), p.limit);
		cr_assert_eq(p.end_ms, bm_candle_next(iv, p.last_ms) - 1);
		cr_assert(p.end_ms < now, "%s: page ends at %lld, open at %lld", bm_intervals[iv],
		    (long long)p.end_ms, (long long)now);
		cr_assert(p.last_ms <= last);
		cr_assert_eq(p.weight, bm_klines_weight(p.limit));
		w += p.weight;
		covered += p.limit;
		expect = bm_candle_next(iv, p.last_ms);
	}
	cr_assert_eq(covered, n);
	/* Nothing closed is left: the next candle is still open at now. */
	cr_assert(bm_candle_next(iv, expect) - 1 >= now, "%s: %lld left out", bm_intervals[iv],
	    (long long)expect);
	if (n > 0 && n <= BRUTE_MAX)
		cr_assert_eq(w, brute[n], "%s: %lld candles weigh %lld, least %lld",
		    bm_intervals[iv], (long long)n, (long long)w, (long long)brute[n]);
	else if (n > 0)
		cr_assert_eq(w, kp_min_weight(n));
}

Test(kline_plan, pages_cover_exactly_the_closed_missing)
{
	brute_init();
	for (int iv = 0; iv < 15; iv++) {
		int64_t len = bm_candle_next(iv, 0) - bm_candle_open(iv, 0);

		for (int i = 0; i < 300; i++) {
			int64_t cursor = bm_candle_open(iv, rnd_in(T2017, T2035 - 400 * MS_DAY));
			/* from the cursor's own candle to years later, at most some 30,000 candles */
			int64_t span = rnd_in(0, (i % 3 == 0 ? 3 : 30000) * len), now;

			if (span > 3 * 366 * MS_DAY)
				span = rnd_in(0, 3 * 366 * MS_DAY);
			now = cursor + span;
			check_hole(iv, cursor, now, 1);
			/* right at the boundaries of the candle holding now */
			check_hole(iv, cursor, bm_candle_open(iv, now), 1);
			check_hole(iv, cursor, bm_candle_next(iv, bm_candle_open(iv, now)) - 1, 1);
		}
		/* years of it at once (1m: millions of candles), counted, not walked */
		for (int i = 0; i < 5; i++) {
			int64_t cursor = bm_candle_open(iv, rnd_in(T2017, T2017 + 365 * MS_DAY));

			check_hole(iv, cursor, rnd_in(cursor, T2035), iv >= 6);
		}
	}
}

/* Months are calendar months, weeks start Monday 00:00 UTC: against the C library. */
Test(kline_plan, months_and_weeks)
{
	int mon = bm_interval_index("1M"), week = bm_interval_index("1w");

	cr_assert_eq(mon, 14);
	cr_assert_eq(bm_interval_index("1m"), 0);
	for (int i = 0; i < 2000; i++) {
		int64_t t = rnd_in(T2017, T2035), o = bm_candle_open(mon, t);
		time_t s = (time_t)(t / 1000);
		struct tm tm;

		gmtime_r(&s, &tm);
		tm.tm_mday = 1;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		cr_assert_eq(o, (int64_t)timegm(&tm) * 1000);
		tm.tm_mon++;
		cr_assert_eq(bm_candle_next(mon, o), (int64_t)timegm(&tm) * 1000);
		o = bm_candle_open(week, t);
		s = (time_t)(o / 1000);
		gmtime_r(&s, &tm);
		cr_assert_eq(tm.tm_wday, 1);
		cr_assert(o <= t && t - o < 7 * MS_DAY);
	}
	/* 2024: 12 months, 2020-02 has 29 days */
	cr_assert_eq(kp_count(mon, 1704067200000LL, 1733011200000LL), 12);
	cr_assert_eq(bm_candle_next(mon, 1580515200000LL) - 1580515200000LL, 29 * MS_DAY);
}

/* Steps back stop at the interval's first candle from 1970 (history of a pair). */
Test(kline_plan, history_clamp)
{
	int clamped = 0;

	for (int iv = 0; iv < 15; iv++) {
		int64_t lo = bm_candle_open(iv, 0) < 0 ? bm_candle_next(iv, bm_candle_open(iv, 0)) :
		    bm_candle_open(iv, 0);
		int64_t o = bm_candle_open(iv, T2017);

		cr_assert_eq(kp_step(iv, o, -100000000, &clamped), lo, "%s", bm_intervals[iv]);
		cr_assert_eq(clamped, 1);
		cr_assert_eq(kp_step(iv, o, -3, &clamped), kp_prev(iv, kp_prev(iv, kp_prev(iv, o))));
		cr_assert_eq(clamped, 0);
	}
	/* 1w: the first Monday, 1970-01-05 */
	cr_assert_eq(kp_step(bm_interval_index("1w"), T2017, -100000, NULL), 4 * MS_DAY);
}
