/*
 * hist.h: a latency histogram, 100 µs to 10 s in ten buckets per decade
 * (each bound 10^(1/10) times the last), plus one under and one over.
 * A bucket holds the samples up to and including its upper bound (the
 * Prometheus `le`).  Adding is a binary search over 51 bounds; quantiles
 * are a bucket's upper bound, so they are exact to within one bucket (26%).
 */
#ifndef EXFEEDD_HIST_H
#define EXFEEDD_HIST_H

#include <stdint.h>

#include <msgpack.h>

#define HIST_PER_DECADE	10
#define HIST_NB		(5 * HIST_PER_DECADE + 2)

struct hist {
	int64_t		 bound[HIST_NB - 1];	/* upper bounds, µs */
	uint64_t	 count[HIST_NB];
	uint64_t	 n;
	uint64_t	 sum;			/* of the samples, µs (negative ones as 0) */
};

void	 hist_init(struct hist *);
/* One sample, µs (negative: the first bucket). */
void	 hist_add(struct hist *, int64_t us);
/* The upper bound (µs) of the bucket holding quantile q (per mille); 0 when empty. */
int64_t	 hist_quantile(const struct hist *, unsigned q);
/*
 * A status map of 7 keys: count, sum_us, p50, p99, p999 (µs), and the
 * histogram itself as bounds and counts (HIST_NB: the last is over the
 * last bound), so that a bench can take quantiles of a window and
 * /metrics can render it as a Prometheus histogram.
 */
void	 hist_pack(const struct hist *, msgpack_packer *);

#endif
