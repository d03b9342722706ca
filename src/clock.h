/* clock.h: the two clocks, in microseconds. */
#ifndef EXFEEDD_CLOCK_H
#define EXFEEDD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall clock (CLOCK_REALTIME): exchange timestamps, event receive times. */
static inline int64_t
clock_real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Monotonic clock: durations and deadlines. */
static inline int64_t
clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
