/*
 * bench-rdkafka (`tools/bench rdkafka`): what librdkafka costs the market
 * worker per message, apart from everything else, and how the way messages
 * are handed to it changes that (BENCHMARKS.md, "Market data").
 *
 *   bench-rdkafka [-r RATE] [-s SECONDS] [-n ROUNDS] [-l LINGER_MS] [-w WINDOW_MS]
 *
 * A child process runs librdkafka's mock cluster (its CPU is not counted);
 * this process produces RATE messages a second (default 5,300, the market
 * bench's rate) shaped like the market worker's: six websocket.* topics,
 * the key one of 200 symbols, the four headers (event_id, exchange, type,
 * schema), a value of 1,000 bytes for a book (3 in 8) and 250 otherwise;
 * no compression, not idempotent, acks all.  The loop wakes every 2 ms, as
 * an event loop fed by frames does.  Each round runs three modes for
 * SECONDS each (default 10, after 2 s of warm-up):
 *   loop    the loop alone, nothing produced (the floor to subtract);
 *   each    every message produced as it comes, librdkafka's linger.ms =
 *           LINGER_MS (default 50: the market worker's way, [kafka]
 *           market_linger);
 *   window  messages held for WINDOW_MS (default 50) and produced at once,
 *           linger.ms 1: an alternative measured and not kept (fewer
 *           wakeups of librdkafka's thread, no less CPU; BENCHMARKS.md).
 * Printed per mode: CPU-seconds (every thread of this process: getrusage
 * RUSAGE_SELF) per 1,000 messages, µs per message above the loop's, and
 * the producer thread's context switches; then the medians over ROUNDS
 * (default 3).  Every message must be delivered (counted by delivery
 * report); a mode that loses one says so and exits 1.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define NTOPIC	6
#define NSYM	200
#define NROUND_MAX 20

static const char *const topics[NTOPIC] = { "websocket.depth", "websocket.ticker",
	"websocket.kline", "websocket.trade", "websocket.mark_price", "websocket.funding_rate" };

static long delivered, failed;

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err)
		failed++;
	else
		delivered++;
}

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Context switches of this process's threads named rdk:broker* so far. */
static long
broker_switches(void)
{
	char path[300], comm[64], line[128];
	struct dirent *d;
	long n = 0;
	DIR *dir;
	FILE *f;

	if ((dir = opendir("/proc/self/task")) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "rdk:broker", 10) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			long v;

			if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
				n += v;
		}
		fclose(f);
	}
	closedir(dir);
	return n;
}

/* The mock cluster in a child: its bootstraps are written to fd, it dies with us. */
static pid_t
mock_start(char *boot, size_t len)
{
	int p[2];
	pid_t pid;
	ssize_t n;

	if (pipe(p) == -1 || (pid = fork()) == -1) {
		perror("bench-rdkafka: mock");
		exit(1);
	}
	if (pid == 0) {
		rd_kafka_conf_t *conf = rd_kafka_conf_new();
		rd_kafka_mock_cluster_t *mc;
		rd_kafka_t *rk;
		char err[256];
		const char *b;

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		close(p[0]);
		rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
		if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL ||
		    (mc = rd_kafka_mock_cluster_new(rk, 1)) == NULL)
			_exit(1);
		b = rd_kafka_mock_cluster_bootstraps(mc);
		if (write(p[1], b, strlen(b)) < 0)
			_exit(1);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	n = read(p[0], boot, len - 1);
	close(p[0]);
	if (n <= 0) {
		fprintf(stderr, "bench-rdkafka: the mock cluster did not start\n");
		exit(1);
	}
	boot[n] = '\0';
	return pid;
}

struct result {
	double	 cpu_per_k;	/* CPU-s per 1,000 messages */
	double	 switches_per_k;
	long	 n;
};

enum mode { M_LOOP, M_EACH, M_WINDOW };
static const char *const mode_name[] = { "loop", "each", "window" };

static rd_kafka_t *
producer(const char *boot, int linger_ms)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[256], v[32];
	rd_kafka_t *rk;

	snprintf(v, sizeof(v), "%d", linger_ms);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", boot, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "linger.ms", v, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "false", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "acks", "all", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "compression.codec", "none", err, sizeof(err))) {
		fprintf(stderr, "bench-rdkafka: %s\n", err);
		exit(1);
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench-rdkafka: %s\n", err);
		exit(1);
	}
	return rk;
}

static void
produce_one(rd_kafka_t *rk, rd_kafka_topic_t **rkt, long i, const char *val)
{
	static const char *const types[NTOPIC] = { "book", "book_ticker", "kline", "trade",
		"mark_price", "funding" };
	int t = (int)(i % 8 < 3 ? 0 : 1 + i % (NTOPIC - 1));
	char key[16], id[64];
	rd_kafka_headers_t *h = rd_kafka_headers_new(4);
	rd_kafka_resp_err_t e;

	snprintf(key, sizeof(key), "SYM%03ldUSDT", i % NSYM);
	snprintf(id, sizeof(id), "binance-futures:%s:%s:%ld", types[t], key, i);
	rd_kafka_header_add(h, "event_id", -1, id, -1);
	rd_kafka_header_add(h, "exchange", -1, "binance-futures", -1);
	rd_kafka_header_add(h, "type", -1, types[t], -1);
	rd_kafka_header_add(h, "schema", -1, "1", -1);
	e = rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt[t]), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_VALUE((void *)val, t == 0 ? 1000 : 250), RD_KAFKA_V_KEY(key, strlen(key)),
	    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_headers_destroy(h);
		fprintf(stderr, "bench-rdkafka: produce: %s\n", rd_kafka_err2str(e));
		exit(1);
	}
}

static struct result
run(const char *boot, enum mode m, int rate, int secs, int linger_ms, int window_ms)
{
	rd_kafka_t *rk = producer(boot, m == M_WINDOW ? 1 : linger_ms);
	rd_kafka_topic_t *rkt[NTOPIC];
	static char val[1000];
	double t0 = now_s(), period = 1.0 / rate, c0 = 0, last = 0, tm = 0;
	long sent = 0, n = 0, sw0 = 0, held = 0;
	struct result r;
	int measuring = 0;

	memset(val, 'x', sizeof(val));
	for (int t = 0; t < NTOPIC; t++)
		rkt[t] = rd_kafka_topic_new(rk, topics[t], NULL);
	delivered = failed = 0;
	for (;;) {
		double t = now_s() - t0;
		long due = (long)(t / period);

		if (!measuring && t >= 2.0) {
			rd_kafka_poll(rk, 0);
			measuring = 1;
			c0 = cpu_s();
			sw0 = broker_switches();
			tm = now_s();
			n = 0;
		}
		if (measuring && now_s() - tm >= secs)
			break;
		if (m == M_WINDOW) {
			held += due - sent;	/* made now, produced when the window closes */
			sent = due;
			if (held > 0 && now_s() - last >= window_ms / 1000.0) {
				for (long i = due - held; i < due; i++)
					produce_one(rk, rkt, i, val);
				if (measuring)
					n += held;
				held = 0;
				last = now_s();
			}
		} else {
			for (; sent < due; sent++) {
				if (m == M_EACH)
					produce_one(rk, rkt, sent, val);
				if (measuring)
					n++;
			}
		}
		rd_kafka_poll(rk, 0);
		usleep(2000);
	}
	r.cpu_per_k = (cpu_s() - c0) / (double)n * 1000;
	r.switches_per_k = (double)(broker_switches() - sw0) / (double)n * 1000;
	r.n = n;
	if (m == M_WINDOW)
		for (long i = sent - held; i < sent; i++)
			produce_one(rk, rkt, i, val);
	rd_kafka_flush(rk, 10000);
	if (m != M_LOOP && (failed > 0 || rd_kafka_outq_len(rk) > 0)) {
		fprintf(stderr, "bench-rdkafka: %s: %ld failed, %d not delivered\n", mode_name[m],
		    failed, rd_kafka_outq_len(rk));
		exit(1);
	}
	for (int t = 0; t < NTOPIC; t++)
		rd_kafka_topic_destroy(rkt[t]);
	rd_kafka_destroy(rk);
	return r;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	int rate = 5300, secs = 10, rounds = 3, linger_ms = 50, window_ms = 50, c;
	double v[3][NROUND_MAX], med[3];
	char boot[256];
	pid_t mock;

	while ((c = getopt(argc, argv, "r:s:n:l:w:")) != -1) {
		switch (c) {
		case 'r': rate = atoi(optarg); break;
		case 's': secs = atoi(optarg); break;
		case 'n': rounds = atoi(optarg); break;
		case 'l': linger_ms = atoi(optarg); break;
		case 'w': window_ms = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench-rdkafka [-r RATE] [-s SECONDS] [-n ROUNDS] "
			    "[-l LINGER_MS] [-w WINDOW_MS]\n");
			return 64;
		}
	}
	if (rate < 1 || secs < 1 || rounds < 1 || rounds > NROUND_MAX || linger_ms < 0 ||
	    window_ms < 1) {
		fprintf(stderr, "bench-rdkafka: rate, seconds, window >= 1; rounds 1..%d; "
		    "linger >= 0\n", NROUND_MAX);
		return 64;
	}
	mock = mock_start(boot, sizeof(boot));
	printf("librdkafka %s, mock cluster at %s; %d messages/s, %d s a mode, each: linger "
	    "%d ms, window: %d ms + linger 1 ms\n", rd_kafka_version_str(), boot, rate, secs,
	    linger_ms, window_ms);
	for (int i = 0; i < rounds; i++)
		for (int m = 0; m < 3; m++) {
			struct result r = run(boot, (enum mode)m, rate, secs, linger_ms, window_ms);

			v[m][i] = r.cpu_per_k;
			printf("round %d %-6s %7ld messages  %.4f CPU-s per 1,000  %5.2f us/message "
			    "above the loop  %6.1f broker-thread switches per 1,000\n", i + 1,
			    mode_name[m], r.n, r.cpu_per_k,
			    m == M_LOOP ? 0.0 : (r.cpu_per_k - v[M_LOOP][i]) * 1000, r.switches_per_k);
			fflush(stdout);
		}
	for (int m = 0; m < 3; m++) {
		qsort(v[m], (size_t)rounds, sizeof(double), cmp_d);
		med[m] = v[m][rounds / 2];
	}
	printf("median: loop %.4f, each %.4f, window %.4f CPU-s per 1,000; librdkafka's own: "
	    "each %.2f us, window %.2f us a message (window / each %.2f)\n", med[M_LOOP],
	    med[M_EACH], med[M_WINDOW], (med[M_EACH] - med[M_LOOP]) * 1000,
	    (med[M_WINDOW] - med[M_LOOP]) * 1000,
	    (med[M_WINDOW] - med[M_LOOP]) / (med[M_EACH] - med[M_LOOP]));
	kill(mock, SIGTERM);
	waitpid(mock, NULL, 0);
	return 0;
}
