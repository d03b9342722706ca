/* main.c: exsim's entry point. Parses options, joins libwebsockets to a
 * libev loop, serves HTTP and WebSocket on one port, prints the base URLs
 * and runs the janitor timer that drives key expiry and pings. */
#include "exsim.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JANITOR_PERIOD_S 0.02

struct exsim ex;

static ev_timer janitor;
static ev_signal sigint_w, sigterm_w;

static const struct lws_protocols protocols[] = {
	/* one protocol takes both HTTP and every WebSocket upgrade, whatever
	 * Sec-WebSocket-Protocol says: exchanges route by path, not protocol */
	{ "exsim", ws_callback, sizeof(void *) * 2, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: exsim [--listen HOST:PORT] [--tls-cert F --tls-key F] [--accounts N]\n"
	    "             [--rate EVENTS_PER_S] [--seed S] [--time-scale X] [--legacy-routes]\n"
	    "             [--paused] [--weight-limit N] [--history N] [--max-queue-mb N]\n"
	    "             [--symbols N] [--book-history SECONDS] [--conn-attempts N]\n"
	    "       exsim --bench [--bench-seconds N] [--bench-conns N] [--rate R] [--accounts N]\n");
}

static void
janitor_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	int64_t now = ex_now_ms();

	acct_tick(now);
	ws_tick(now);
}

static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static int
parse_args(int argc, char **argv, bool *bench)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "accounts", required_argument, NULL, 'a' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "time-scale", required_argument, NULL, 't' },
		{ "legacy-routes", no_argument, NULL, 'L' },
		{ "paused", no_argument, NULL, 'p' },
		{ "weight-limit", required_argument, NULL, 'w' },
		{ "history", required_argument, NULL, 'H' },
		{ "max-queue-mb", required_argument, NULL, 'q' },
		{ "symbols", required_argument, NULL, 'n' },
		{ "conn-attempts", required_argument, NULL, 'A' },
		{ "book-history", required_argument, NULL, 'b' },
		{ "bench", no_argument, NULL, 'B' },
		{ "bench-seconds", required_argument, NULL, 'S' },
		{ "bench-conns", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static char host[256];
	int o;

	ex.cfg.listen_host = "127.0.0.1";
	ex.cfg.listen_port = 0;
	ex.cfg.accounts = 10;
	ex.cfg.rate = 100;
	ex.cfg.seed = 1;
	ex.cfg.time_scale = 1;
	ex.cfg.weight_limit = 2400;
	ex.cfg.history = 2000;
	ex.cfg.max_queue_bytes = 64u << 20;
	ex.cfg.symbols = EX_NSYM;
	ex.cfg.book_history_s = 60;
	ex.cfg.bench_seconds = 5;
	ex.cfg.bench_conns = 4;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'l': {
			char *colon;

			snprintf(host, sizeof(host), "%s", optarg);
			colon = strrchr(host, ':');
			if (!colon) {
				fprintf(stderr, "exsim: --listen wants HOST:PORT\n");
				return -1;
			}
			*colon = '\0';
			ex.cfg.listen_host = host;
			ex.cfg.listen_port = atoi(colon + 1);
			break;
		}
		case 'c': ex.cfg.tls_cert = optarg; break;
		case 'k': ex.cfg.tls_key = optarg; break;
		case 'a': ex.cfg.accounts = atoi(optarg); break;
		case 'r': ex.cfg.rate = atof(optarg); break;
		case 's': ex.cfg.seed = strtoull(optarg, NULL, 0); break;
		case 't': ex.cfg.time_scale = atof(optarg); break;
		case 'L': ex.cfg.legacy_routes = true; break;
		case 'p': ex.cfg.paused = true; break;
		case 'w': ex.cfg.weight_limit = atoi(optarg); break;
		case 'H': ex.cfg.history = (size_t)atol(optarg); break;
		case 'q': ex.cfg.max_queue_bytes = (size_t)atol(optarg) << 20; break;
		case 'n': ex.cfg.symbols = atoi(optarg); break;
		case 'A': ex.cfg.conn_attempts = atoi(optarg); break;
		case 'b': ex.cfg.book_history_s = atoi(optarg); break;
		case 'B': *bench = true; break;
		case 'S': ex.cfg.bench_seconds = atoi(optarg); break;
		case 'C': ex.cfg.bench_conns = atoi(optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc || ex.cfg.accounts < 0 || ex.cfg.time_scale <= 0 ||
	    ex.cfg.rate < 0 || ex.cfg.weight_limit < 1 || ex.cfg.history < 10 ||
	    ex.cfg.symbols < EX_NSYM || ex.cfg.symbols > EX_MAX_SYMBOLS ||
	    ex.cfg.conn_attempts < 0 || ex.cfg.conn_attempts > 100000 ||
	    ex.cfg.book_history_s < 0 || ex.cfg.book_history_s > 3600 ||
	    !!ex.cfg.tls_cert != !!ex.cfg.tls_key) {
		usage(stderr);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	void *loops[1];
	bool bench = false, tls;
	int i;

	if (parse_args(argc, argv, &bench) < 0)
		return 2;
	if (bench)
		return bench_run(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	/* the libev plugin logs a NOTICE per I/O change: warnings and errors only */
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

	ex.loop = ev_default_loop(0);
	ex.paused = ex.cfg.paused;
	ex.fault_rng = ex.cfg.seed ^ 0x3c6ef372fe94f82bULL;
	if (symbols_init(ex.cfg.symbols, ex.cfg.seed) < 0) {
		fprintf(stderr, "exsim: out of memory for %d symbols\n", ex.cfg.symbols);
		return 1;
	}
	ws_init();
	engine_init();
	for (i = 0; i < ex.cfg.accounts; i++)
		acct_add(NULL, NULL);
	market_init();

	memset(&info, 0, sizeof(info));
	tls = ex.cfg.tls_cert != NULL;
	loops[0] = ex.loop;
	info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_DISABLE_IPV6 |
	    (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	info.foreign_loops = loops;
	info.port = ex.cfg.listen_port;
	info.iface = ex.cfg.listen_host;
	info.protocols = protocols;
	/* combined-stream URLs with 1024 names need big header buffers */
	info.max_http_header_data = 60000;
	info.ssl_cert_filepath = ex.cfg.tls_cert;
	info.ssl_private_key_filepath = ex.cfg.tls_key;
	ex.ctx = lws_create_context(&info);
	if (!ex.ctx) {
		fprintf(stderr, "exsim: cannot create the lws context (listen %s:%d)\n",
		    ex.cfg.listen_host, ex.cfg.listen_port);
		return 1;
	}
	ex.vhost = lws_get_vhost_by_name(ex.ctx, "default");
	ex.port = ex.vhost ? lws_get_vhost_listen_port(ex.vhost) : ex.cfg.listen_port;
	printf("REST %s://%s:%d\n", tls ? "https" : "http", ex.cfg.listen_host, ex.port);
	printf("WS %s://%s:%d\n", tls ? "wss" : "ws", ex.cfg.listen_host, ex.port);
	fflush(stdout);

	engine_start();
	ev_timer_init(&janitor, janitor_cb, JANITOR_PERIOD_S, JANITOR_PERIOD_S);
	ev_timer_start(ex.loop, &janitor);
	ev_signal_init(&sigint_w, stop_cb, SIGINT);
	ev_signal_start(ex.loop, &sigint_w);
	ev_signal_init(&sigterm_w, stop_cb, SIGTERM);
	ev_signal_start(ex.loop, &sigterm_w);
	ev_run(ex.loop, 0);

	lws_context_destroy(ex.ctx);
	return 0;
}
