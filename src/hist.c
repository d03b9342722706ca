/*
 * hist.c: latency histograms (hist.h).
 */
#include "autoconf.h"

#include <string.h>

#include "hist.h"
#include "mpack.h"

void
hist_init(struct hist *h)
{
	double b = 100.;

	memset(h, 0, sizeof(*h));
	/* 10^(1/10) per step, without libm. */
	for (int i = 0; i < HIST_NB - 1; i++) {
		h->bound[i] = (int64_t)(b + .5);
		b *= 1.2589254117941673;
	}
}

void
hist_add(struct hist *h, int64_t us)
{
	int lo = 0, hi = HIST_NB - 1;

	/* The first bucket whose upper bound is not below us; the last is overflow. */
	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (us <= h->bound[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	h->count[lo]++;
	h->n++;
	h->sum += us > 0 ? (uint64_t)us : 0;
}

int64_t
hist_quantile(const struct hist *h, unsigned q)
{
	uint64_t want, seen = 0;

	if (h->n == 0)
		return 0;
	want = (h->n * q + 999) / 1000;
	for (int i = 0; i < HIST_NB; i++) {
		seen += h->count[i];
		if (seen >= want && seen > 0)
			return i < HIST_NB - 1 ? h->bound[i] : h->bound[HIST_NB - 2];
	}
	return h->bound[HIST_NB - 2];
}

void
hist_pack(const struct hist *h, msgpack_packer *pk)
{
	msgpack_pack_map(pk, 7);
	mp_kv_u64(pk, "count", h->n);
	mp_kv_u64(pk, "sum_us", h->sum);
	mp_kv_i64(pk, "p50", hist_quantile(h, 500));
	mp_kv_i64(pk, "p99", hist_quantile(h, 990));
	mp_kv_i64(pk, "p999", hist_quantile(h, 999));
	mp_str(pk, "bounds");
	msgpack_pack_array(pk, HIST_NB - 1);
	for (int i = 0; i < HIST_NB - 1; i++)
		msgpack_pack_int64(pk, h->bound[i]);
	mp_str(pk, "counts");
	msgpack_pack_array(pk, HIST_NB);
	for (int i = 0; i < HIST_NB; i++)
		msgpack_pack_uint64(pk, h->count[i]);
}
