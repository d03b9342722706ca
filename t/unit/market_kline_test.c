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

/* ====================================================================
 * market_kline.c on a real loop: its REST calls (net.c) go to a small
 * exchange in a thread serving GET /fapi/v1/klines from a candle
 * generator (every candle from LISTING on, closed when its close time is
 * before the exchange's now, which runs with the monotonic clock plus the
 * jumps a test makes) and GET /fapi/v1/time; the host budget is a real
 * budget file; the database is unreachable (the read is retried, history
 * waits, the streams' holes are filled).
 * ==================================================================== */
#include <arpa/inet.h>
#include <ev.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "budget.h"
#include "clock.h"
#include "config.h"
#include "net.h"
#include "mpack.h"
#include "../../workers/market.h"

struct mk_ctx mk;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t t_base, mono0, jump_ms;

static int64_t
srv_now(void)
{
	int64_t j;

	pthread_mutex_lock(&mu);
	j = jump_ms;
	pthread_mutex_unlock(&mu);
	return t_base + (clock_mono_us() / 1000 - mono0) + j;
}

static void
jump(int64_t ms)
{
	pthread_mutex_lock(&mu);
	jump_ms += ms;
	pthread_mutex_unlock(&mu);
}

/* The generator: one candle of (symbol, interval, open time), as strings. */
struct gen {
	char		 o[16], h[16], l[16], c[16], v[16], q[24], V[16], Q[24];
	int64_t		 n;
};

static void
gen_candle(const char *sym, int iv, int64_t open, struct gen *g)
{
	uint64_t x = (uint64_t)open * 0x9e3779b97f4a7c15ULL ^ (uint64_t)iv * 0xbf58476d1ce4e5b9ULL;

	for (const char *s = sym; *s; s++)
		x = (x ^ (uint64_t)*s) * 0x100000001b3ULL;
	snprintf(g->o, sizeof(g->o), "1%03u.%u", (unsigned)(x % 1000), 1 + (unsigned)(x >> 10) % 9);
	snprintf(g->h, sizeof(g->h), "2%03u.%u", (unsigned)(x >> 14) % 1000, 1 + (unsigned)(x >> 24) % 9);
	snprintf(g->l, sizeof(g->l), "9%02u.%u", (unsigned)(x >> 28) % 100, 1 + (unsigned)(x >> 35) % 9);
	snprintf(g->c, sizeof(g->c), "1%03u.%u", (unsigned)(x >> 38) % 1000, 1 + (unsigned)(x >> 48) % 9);
	snprintf(g->v, sizeof(g->v), "%u.%03u", (unsigned)(x >> 20) % 5000, (unsigned)(x >> 7) % 1000);
	snprintf(g->q, sizeof(g->q), "%u.%u", (unsigned)(x >> 30) % 900000, 1 + (unsigned)(x >> 3) % 9);
	snprintf(g->V, sizeof(g->V), "%u.%03u", (unsigned)(x >> 21) % 2500, (unsigned)(x >> 9) % 1000);
	snprintf(g->Q, sizeof(g->Q), "%u.%u", (unsigned)(x >> 31) % 400000, 1 + (unsigned)(x >> 5) % 9);
	g->n = (int64_t)((x >> 40) % 10000);
}

/* What the exchange saw. */
struct sreq {
	int64_t		 mono_ms;
	char		 sym[32];
	int		 iv;
	int64_t		 start, end;
	int		 limit, weight, status;
};
static struct sreq sreqs[4096];
static int nsreq, srv_429_next, srv_fd = -1, srv_stop, ntime;
static int64_t block_until_mono, served_in_block, listing;
static pthread_t srv_thread;

static const char *
qparam(const char *path, const char *name, char *out, size_t len)
{
	char key[32];
	const char *p, *e;

	snprintf(key, sizeof(key), "%s=", name);
	if ((p = strstr(path, key)) == NULL)
		return NULL;
	p += strlen(key);
	e = p + strcspn(p, "& ");
	snprintf(out, len, "%.*s", (int)(e - p), p);
	return out;
}

static void
serve_one(int fd)
{
	char buf[8192], path[4096], v[64], sym[32] = "", hdr[512];
	size_t n = 0, cap = 1 << 20;
	char *body = malloc(cap);
	int status = 200, weight = 1, limit = 0, iv = -1;
	int64_t start = 0, end = 0, now = srv_now();
	size_t blen = 0;
	ssize_t r;

	while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0) {
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	buf[n] = '\0';
	if (sscanf(buf, "GET %4095s", path) != 1)
		snprintf(path, sizeof(path), "?");
	if (strncmp(path, "/fapi/v1/time", 13) == 0) {
		blen = (size_t)snprintf(body, cap, "{\"serverTime\":%" PRId64 "}", now);
		pthread_mutex_lock(&mu);
		ntime++;
		pthread_mutex_unlock(&mu);
	}
	else if (strncmp(path, "/fapi/v1/klines", 15) == 0) {
		qparam(path, "symbol", sym, sizeof(sym));
		iv = bm_interval_index(qparam(path, "interval", v, sizeof(v)) ? v : "");
		start = qparam(path, "startTime", v, sizeof(v)) ? strtoll(v, NULL, 10) : 0;
		end = qparam(path, "endTime", v, sizeof(v)) ? strtoll(v, NULL, 10) : INT64_MAX;
		limit = qparam(path, "limit", v, sizeof(v)) ? atoi(v) : 500;
		weight = bm_klines_weight(limit);
		pthread_mutex_lock(&mu);
		if (clock_mono_us() / 1000 < block_until_mono)
			served_in_block++;
		if (srv_429_next) {
			srv_429_next = 0;
			status = 429;
			block_until_mono = clock_mono_us() / 1000 + 1000;
		}
		pthread_mutex_unlock(&mu);
		if (status == 200) {
			int k = 0;
			int64_t t = bm_candle_open(iv, start < listing ? listing : start);

			if (t < start)
				t = bm_candle_next(iv, t);
			body[blen++] = '[';
			/* up to now: the open candle too, as the exchange does */
			for (; k < limit && t <= end && t <= now; t = bm_candle_next(iv, t), k++) {
				struct gen g;

				gen_candle(sym, iv, t, &g);
				blen += (size_t)snprintf(body + blen, cap - blen, "%s[%" PRId64 ",\"%s\","
				    "\"%s\",\"%s\",\"%s\",\"%s\",%" PRId64 ",\"%s\",%" PRId64 ",\"%s\","
				    "\"%s\",\"0\"]", k ? "," : "", t, g.o, g.h, g.l, g.c, g.v,
				    bm_candle_next(iv, t) - 1, g.q, g.n, g.V, g.Q);
			}
			body[blen++] = ']';
		} else
			blen = (size_t)snprintf(body, cap, "{\"code\":-1003,\"msg\":\"Too many requests\"}");
		pthread_mutex_lock(&mu);
		if (nsreq < (int)(sizeof(sreqs) / sizeof(sreqs[0]))) {
			struct sreq *q = &sreqs[nsreq++];

			q->mono_ms = clock_mono_us() / 1000;
			snprintf(q->sym, sizeof(q->sym), "%s", sym);
			q->iv = iv;
			q->start = start;
			q->end = end;
			q->limit = limit;
			q->weight = weight;
			q->status = status;
		}
		pthread_mutex_unlock(&mu);
	} else {
		status = 404;
		blen = (size_t)snprintf(body, cap, "{}");
	}
	n = (size_t)snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status,
	    status == 200 ? "OK" : "Error", blen, status == 429 ? "Retry-After: 1\r\n" : "");
	/* (a client that went away: nothing to do) */
	if (write(fd, hdr, n) == (ssize_t)n)
		(void)!write(fd, body, blen);
	free(body);
	close(fd);
}

static void *
srv_main(void *arg)
{
	while (!srv_stop) {
		struct pollfd pfd = { srv_fd, POLLIN, 0 };
		int fd;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((fd = accept(srv_fd, NULL, NULL)) >= 0)
			serve_one(fd);
	}
	return NULL;
}

/* What market_kline.c sent. */
struct sent {
	struct event	 ev;
	int64_t		 srv_now;
};
static struct sent *sents;
static int nsent, capsent;

int
mk_emit(struct event *ev)
{
	if (nsent == capsent) {
		capsent = capsent ? capsent * 2 : 256;
		sents = realloc(sents, (size_t)capsent * sizeof(*sents));
	}
	sents[nsent].ev = *ev;
	sents[nsent].srv_now = srv_now();
	nsent++;
	return 0;
}

static struct config tcfg;
static struct net_endpoint tep;
static char bpath[128];

static void
wake_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
}

static void
loop_setup(int64_t weight_budget)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct budget_limits lim = { weight_budget, 300, 3 };
	socklen_t al = sizeof(a);
	char err[256], url[64];
	static ev_timer wake;

	t_base = clock_real_us() / 1000;
	mono0 = clock_mono_us() / 1000;
	listing = t_base - 30LL * 86400000;
	cr_assert((srv_fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	cr_assert(bind(srv_fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(listen(srv_fd, 64) == 0);
	getsockname(srv_fd, (struct sockaddr *)&a, &al);
	cr_assert(pthread_create(&srv_thread, NULL, srv_main, NULL) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	cr_assert(net_endpoint_parse(url, &tep, err, sizeof(err)) == 0, "%s", err);
	snprintf(tep.addr, sizeof(tep.addr), "127.0.0.1");
	snprintf(bpath, sizeof(bpath), "/tmp/kline_test_budget.%d", (int)getpid());
	unlink(bpath);
	tcfg.db_conninfo = "host=127.0.0.1 port=1 connect_timeout=2";
	tcfg.market_kline_history = 0;
	tcfg.nex = 1;
	tcfg.ex[0].name = "binance-futures";
	tcfg.ex[0].rest_weight_budget = weight_budget;
	mk.loop = ev_default_loop(0);
	mk.cfg = &tcfg;
	mk.rest = &tep;
	cr_assert((mk.net = net_new(mk.loop, NULL, err, sizeof(err))) != NULL, "%s", err);
	cr_assert((mk.budget = budget_open(bpath, 0, &lim, NULL, err, sizeof(err))) != NULL,
	    "%s", err);
	ev_timer_init(&wake, wake_cb, 0.05, 0.05);
	ev_timer_start(mk.loop, &wake);
}

static void
loop_teardown(void)
{
	mk_kline_stop();
	srv_stop = 1;
	pthread_join(srv_thread, NULL);
	close(srv_fd);
	budget_close(mk.budget);
	unlink(bpath);
}

/* Run the loop for ms, or until done() (if not NULL) says so. */
static int
run_for(int64_t ms, int (*done)(void))
{
	int64_t until = clock_mono_us() / 1000 + ms;

	while (clock_mono_us() / 1000 < until) {
		if (done && done())
			return 1;
		ev_run(mk.loop, EVRUN_ONCE);
	}
	return done ? done() : 1;
}

/* A stream's kline event: closed, or an update of the open candle (E only matters). */
static void
feed(const char *sym, const char *interval, int64_t open, int closed)
{
	struct event ev;
	int iv = bm_interval_index(interval);

	memset(&ev, 0, sizeof(ev));
	ev.type = EV_KLINE;
	ev.event_time = srv_now();
	ev.recv_us = clock_real_us();
	snprintf(ev.u.kline.symbol, sizeof(ev.u.kline.symbol), "%s", sym);
	snprintf(ev.u.kline.interval, sizeof(ev.u.kline.interval), "%s", interval);
	ev.u.kline.open_time = open;
	ev.u.kline.close_time = bm_candle_next(iv, open) - 1;
	ev.u.kline.closed = closed;
	mk_kline_seen(&ev);
}

/* The exchange's clock 20 s into a minute: no candle closes within a stream's slack. */
static void
now_mid_minute(void)
{
	jump((80000 - srv_now() % 60000) % 60000);
}

/* A suite timeout: per-test ones, run in parallel, left 48 bytes of libcriterion
 * unfreed under LeakSanitizer (the sanitizer pass failed). */
TestSuite(market_kline, .timeout = 60);

static const char *const tsyms[] = { "BTCUSDT", "ETHUSDT" };
static const char *const tivs[] = { "1m", "5m", "1h" };

/* Stream-fed open times per pair, and what the loop must have sent. */
static int64_t fed_first[2][3];

/* The candles sent for (sym, iv): sorted open times, each checked against the generator. */
static int
sent_opens(const char *sym, int iv, int64_t *out, int max)
{
	int k = 0;

	for (int i = 0; i < nsent; i++) {
		const struct event *ev = &sents[i].ev;
		const struct ev_kline *kk = &ev->u.kline;
		struct gen g;

		if (strcmp(kk->symbol, sym) != 0 || bm_interval_index(kk->interval) != iv)
			continue;
		gen_candle(sym, iv, kk->open_time, &g);
		cr_assert(kk->closed && (ev->flags & EVF_RESYNC));
		cr_assert_eq(kk->close_time, bm_candle_next(iv, kk->open_time) - 1);
		cr_assert(kk->close_time < sents[i].srv_now, "%s %s %" PRId64 ": sent while open",
		    sym, bm_intervals[iv], kk->open_time);
		cr_assert_eq(ev->event_time, kk->close_time + 1);
		cr_assert_str_eq(kk->open, g.o);
		cr_assert_str_eq(kk->high, g.h);
		cr_assert_str_eq(kk->low, g.l);
		cr_assert_str_eq(kk->close, g.c);
		cr_assert_str_eq(kk->volume, g.v);
		cr_assert_str_eq(kk->quote_volume, g.q);
		cr_assert_str_eq(kk->taker_buy_volume, g.V);
		cr_assert_str_eq(kk->taker_buy_quote_volume, g.Q);
		cr_assert_eq(kk->trades, g.n);
		if (k < max)
			out[k] = kk->open_time;
		k++;
	}
	return k;
}

static int64_t want_last[2][3];
static int64_t fed_extra[2][3];		/* a stream candle fed after the first (-1 none) */

/* Every pair's candles from its first fed one to want_last: fed or sent, once. */
static int
all_filled(void)
{
	for (int s = 0; s < 2; s++)
		for (int v = 0; v < 3; v++) {
			int iv = bm_interval_index(tivs[v]);
			int64_t opens[4096], n = sent_opens(tsyms[s], iv, opens, 4096);
			int64_t need = kp_count(iv, bm_candle_next(iv, fed_first[s][v]),
			    want_last[s][v]) - (fed_extra[s][v] >= 0);

			if (n < need)
				return 0;
		}
	return 1;
}

static void
check_exact(void)
{
	for (int s = 0; s < 2; s++)
		for (int v = 0; v < 3; v++) {
			int iv = bm_interval_index(tivs[v]);
			int64_t opens[4096], x = bm_candle_next(iv, fed_first[s][v]);
			int n = sent_opens(tsyms[s], iv, opens, 4096), k = 0;

			/* in order, each once, nothing but the missing closed ones */
			for (; x <= want_last[s][v]; x = bm_candle_next(iv, x)) {
				if (x == fed_extra[s][v])
					continue;
				cr_assert(k < n && opens[k] == x, "%s %s: candle %" PRId64 " missing "
				    "(sent %d)", tsyms[s], tivs[v], x, n);
				k++;
			}
			cr_assert_eq(k, n, "%s %s: %d sent, %d missing ones", tsyms[s], tivs[v], n, k);
		}
}

Test(market_kline, holes_reconnects_and_retry_after)
{
	const char *ivs[3] = { "1m", "5m", "1h" };
	int64_t now, up;
	int int429;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	loop_setup(2400);
	now_mid_minute();
	mk_kline_configure(tsyms, 2, ivs, 3);
	cr_assert_eq(mk_kline_start(), 0);
	/* Each stream comes up and (a moment later) shows its newest closed candle. */
	for (int s = 0; s < 2; s++)
		for (int v = 0; v < 3; v++)
			mk_kline_stream_up(tsyms[s], tivs[v]);
	run_for(20, NULL);
	now = srv_now();
	for (int s = 0; s < 2; s++)
		for (int v = 0; v < 3; v++) {
			int iv = bm_interval_index(tivs[v]);

			fed_first[s][v] = want_last[s][v] = kp_last_closed(iv, now);
			fed_extra[s][v] = -1;
			feed(tsyms[s], tivs[v], fed_first[s][v], 1);
		}
	/* a pass takes the streams' start time from those frames */
	run_for(1200, NULL);
	cr_assert_eq(nsent, 0, "nothing is missing yet, %d sent", nsent);

	/*
	 * 1. The 1m streams skip 9 candles: the next closed one is 10 later
	 * (10 minutes on: the one after it is still open).
	 */
	jump(10 * 60000);
	for (int s = 0; s < 2; s++) {
		fed_extra[s][0] = kp_step(0, fed_first[s][0], 10, NULL);
		want_last[s][0] = fed_extra[s][0];
		feed(tsyms[s], "1m", fed_extra[s][0], 1);
	}
	cr_assert(run_for(10000, all_filled), "the 1m holes were not filled: %d sent", nsent);
	run_for(500, NULL);
	check_exact();

	/* 2. The streams go down for 40 exchange minutes, a 429 waits on the first request. */
	for (int s = 0; s < 2; s++)
		for (int v = 0; v < 3; v++)
			mk_kline_stream_down(tsyms[s], tivs[v]);
	now = srv_now();
	/* land 20 s into a minute: no candle closes within the slack of the streams' start */
	jump(40 * 60000 + (80000 - now % 60000) % 60000);
	pthread_mutex_lock(&mu);
	srv_429_next = 1;
	pthread_mutex_unlock(&mu);
	up = srv_now();
	for (int s = 0; s < 2; s++)
		for (int v = 0; v < 3; v++) {
			mk_kline_stream_up(tsyms[s], tivs[v]);
			want_last[s][v] = kp_last_closed(bm_interval_index(tivs[v]), up);
		}
	/* an open candle's update, a moment later: the clock after the streams came up */
	run_for(20, NULL);
	feed("BTCUSDT", "1m", bm_candle_open(0, srv_now()), 0);
	cr_assert(run_for(20000, all_filled), "the reconnect's candles were not filled: %d sent",
	    nsent);
	run_for(4000, NULL);	/* the streams' slack passes: nothing more is asked */
	check_exact();
	pthread_mutex_lock(&mu);
	/*
	 * Inside the Retry-After, only requests already on their way when the
	 * 429 came: at most the host's in-flight limit (3) less the one refused.
	 */
	cr_assert(served_in_block <= 2, "%" PRId64 " requests inside the Retry-After",
	    served_in_block);
	int429 = 0;
	for (int i = 0; i < nsreq; i++)
		int429 += sreqs[i].status == 429;
	cr_assert_eq(int429, 1);
	/* each request: one page of one pair, the least weight for its candles */
	for (int i = 0; i < nsreq; i++)
		cr_assert_eq(sreqs[i].weight, bm_klines_weight(sreqs[i].limit));
	pthread_mutex_unlock(&mu);

	/* 3. Events lost on the data plane from 3 exchange minutes ago: sent again. */
	{
		int before = nsent, again;
		int64_t since = srv_now() - 3 * 60000;
		int64_t first = kp_prev(0, bm_candle_open(0, since));

		mk_kline_lost("ETHUSDT", "1m", since);
		run_for(5000, NULL);
		again = nsent - before;
		cr_assert_eq(again, kp_count(0, first, want_last[1][0]), "%d sent again", again);
		for (int i = before; i < nsent; i++)
			cr_assert(sents[i].ev.u.kline.open_time >= first &&
			    sents[i].ev.u.kline.open_time <= want_last[1][0]);
	}

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	mk_kline_status(&pk);
	{
		msgpack_unpacked u;
		const msgpack_object *o;

		msgpack_unpacked_init(&u);
		cr_assert(msgpack_unpack_next(&u, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS);
		cr_assert((o = mp_get(&u.data, "http_429")) && o->via.u64 == 1);
		cr_assert((o = mp_get(&u.data, "holes_open")) && o->via.u64 == 0);
		cr_assert((o = mp_get(&u.data, "candles_backfilled")) && o->via.u64 == (uint64_t)nsent);
		cr_assert((o = mp_get(&u.data, "pairs")) && o->via.u64 == 6);
		msgpack_unpacked_destroy(&u);
	}
	msgpack_sbuffer_destroy(&sb);
	loop_teardown();
}

/*
 * Pacing: 80 pairs each missing 9 candles (weight 1 each) with a budget
 * of 600 a minute: the backfill spends at most half of it, 5 a second
 * after a bucket of 50, so it takes some 6 s, never the minute at once.
 */
static int
eighty_done(void)
{
	return nsent >= 80 * 9;
}

Test(market_kline, paced_within_the_budget)
{
	char names[80][16];
	const char *syms[80], *iv1[1] = { "1m" };
	int64_t t0, c0, first_mono, last_mono, in_first_s = 0, total = 0;

	loop_setup(600);
	for (int i = 0; i < 80; i++) {
		snprintf(names[i], sizeof(names[i]), "S%02dUSDT", i);
		syms[i] = names[i];
	}
	mk_kline_configure(syms, 80, iv1, 1);
	cr_assert_eq(mk_kline_start(), 0);
	c0 = kp_last_closed(0, srv_now());
	for (int i = 0; i < 80; i++)
		feed(syms[i], "1m", c0, 1);
	jump(11 * 60000);
	for (int i = 0; i < 80; i++)
		feed(syms[i], "1m", kp_step(0, c0, 10, NULL), 1);
	t0 = clock_mono_us() / 1000;
	cr_assert(run_for(30000, eighty_done), "%d sent", nsent);
	pthread_mutex_lock(&mu);
	first_mono = sreqs[0].mono_ms;
	last_mono = sreqs[nsreq - 1].mono_ms;
	for (int i = 0; i < nsreq; i++) {
		total += sreqs[i].weight;
		if (sreqs[i].mono_ms - first_mono < 1000)
			in_first_s += sreqs[i].weight;
	}
	pthread_mutex_unlock(&mu);
	cr_assert_eq(total, 80, "weight %" PRId64, total);
	cr_assert(in_first_s <= 56, "%" PRId64 " weight in the first second", in_first_s);
	cr_assert(last_mono - first_mono >= 5000, "all in %" PRId64 " ms", last_mono - first_mono);
	(void)t0;
	loop_teardown();
}

/*
 * Candles the exchange does not have (before its listing): the rows it
 * has are sent, the others counted absent, the hole closed, not asked again.
 */
static int
five_done(void)
{
	return nsent >= 5;
}

Test(market_kline, absent_candles_not_asked_again)
{
	const char *sym[1] = { "NEWUSDT" }, *iv1[1] = { "1m" };
	int64_t c0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	const msgpack_object *o;

	loop_setup(2400);
	mk_kline_configure(sym, 1, iv1, 1);
	cr_assert_eq(mk_kline_start(), 0);
	c0 = kp_last_closed(0, srv_now());
	listing = kp_step(0, c0, 5, NULL);
	feed("NEWUSDT", "1m", c0, 1);
	jump(11 * 60000);
	feed("NEWUSDT", "1m", kp_step(0, c0, 10, NULL), 1);
	cr_assert(run_for(5000, five_done), "%d sent", nsent);
	run_for(3000, NULL);
	cr_assert_eq(nsent, 5);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(sents[i].ev.u.kline.open_time, kp_step(0, c0, 5 + i, NULL));
	pthread_mutex_lock(&mu);
	cr_assert_eq(nsreq, 1, "%d requests", nsreq);
	pthread_mutex_unlock(&mu);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	mk_kline_status(&pk);
	msgpack_unpacked_init(&u);
	cr_assert(msgpack_unpack_next(&u, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS);
	cr_assert((o = mp_get(&u.data, "candles_absent")) && o->via.u64 == 4);
	cr_assert((o = mp_get(&u.data, "holes_open")) && o->via.u64 == 0);
	cr_assert((o = mp_get(&u.data, "holes_abandoned")) && o->via.u64 == 0);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	loop_teardown();
}

/*
 * A stream back up and quiet (no frame since): the exchange's time is
 * asked (GET /fapi/v1/time), and the candles closed while it was down are
 * fetched up to it.
 */
static int
ten_done(void)
{
	return nsent >= 10;
}

Test(market_kline, quiet_stream_asks_the_time)
{
	const char *sym[1] = { "BTCUSDT" }, *iv1[1] = { "1m" };
	int64_t c0, up;

	loop_setup(2400);
	mk_kline_configure(sym, 1, iv1, 1);
	cr_assert_eq(mk_kline_start(), 0);
	now_mid_minute();
	c0 = kp_last_closed(0, srv_now());
	feed("BTCUSDT", "1m", c0, 1);
	mk_kline_stream_down("BTCUSDT", "1m");
	jump(10 * 60000);
	up = srv_now();
	mk_kline_stream_up("BTCUSDT", "1m");
	cr_assert(run_for(10000, ten_done), "%d sent", nsent);
	run_for(4500, NULL);
	/* c0 + 1 .. the newest closed when it came up: 10 candles, nothing more */
	cr_assert_eq(kp_last_closed(0, up), kp_step(0, c0, 10, NULL));
	cr_assert_eq(nsent, 10, "%d sent", nsent);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(sents[i].ev.u.kline.open_time, kp_step(0, c0, 1 + i, NULL));
	pthread_mutex_lock(&mu);
	cr_assert(ntime >= 1, "the time was not asked");
	pthread_mutex_unlock(&mu);
	loop_teardown();
}
