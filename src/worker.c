/*
 * worker.c: the runtime every worker role runs in.  It owns the channel to
 * the supervisor (fd 3): receives the config, answers status queries, sends
 * READY and heartbeats, and turns SHUTDOWN or SIGTERM into an orderly stop.
 * The role code (in workers/) only sees the callbacks of struct worker_role.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "clock.h"
#include "exfeedd.h"
#include "hist.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "mpack.h"

static struct {
	struct ev_loop			*loop;
	enum role			 role;
	int				 instance;
	int				 foreground;
	int				 verbose;
	const struct worker_role	*ops;
	struct config			 cfg;
	int				 have_cfg;
	uint64_t			 config_gen;
	struct ipc_conn			*chan;
	int				 ready;
	int				 stopping;
	ev_timer			 heartbeat;
	ev_signal			 sig_term;
	uint64_t			 start_ms;
	/*
	 * How long each turn of the event loop ran its callbacks (from poll's
	 * return to the next poll, µs): one long turn delays every event
	 * behind it, so its tail is the worker's own share of any latency.
	 */
	ev_check			 turn_begin;
	ev_prepare			 turn_end;
	int64_t				 turn_us;
	struct hist			 turn;
	/* The embedded broker's address, from the supervisor ("" until one came). */
	char				 kafka_bootstraps[IPCMSG_BOOTSTRAPS_LEN];
	void				(*kafka_cb)(const char *);
	/* The gateway's IPC_GATHER_REQ: whom its answer goes to. */
	worker_gather_fn		 gather_fn;
	void				*gather_arg;
} wk;

static const struct worker_role *const role_ops[ROLE_MAX] = {
	[ROLE_ACCOUNT] = &account_role,
	[ROLE_MARKET] = &market_role,
	[ROLE_WRITER] = &writer_role,
	[ROLE_GATEWAY] = &gateway_role,
	[ROLE_BROKER] = &broker_role,
};

int
worker_instance(void)
{
	return wk.instance;
}

const struct config *
worker_config(void)
{
	return &wk.cfg;
}

/* The optional "want" of the status query being answered (supervisor: accounts). */
static char status_want[32];

int
worker_status_want(const char *what)
{
	return strcmp(status_want, what) == 0;
}

void
worker_ready_bootstraps(const char *bootstraps)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (wk.ready || wk.chan == NULL)
		return;
	wk.ready = 1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, bootstraps ? 4 : 3);
	mp_kv_i64(&pk, "pid", getpid());
	mp_kv_str(&pk, "role", role_name(wk.role));
	mp_kv_i64(&pk, "instance", wk.instance);
	if (bootstraps)
		mp_kv_str(&pk, "bootstraps", bootstraps);
	ipc_send_sbuf(wk.chan, IPC_READY, &sb);
	msgpack_sbuffer_destroy(&sb);
	log_info("ready");
}

void
worker_ready(void)
{
	worker_ready_bootstraps(NULL);
}

void
worker_on_kafka_bootstrap(void (*cb)(const char *bootstraps))
{
	wk.kafka_cb = cb;
	if (cb && wk.kafka_bootstraps[0] && !wk.stopping)
		cb(wk.kafka_bootstraps);
}

static void
worker_on_bootstrap_msg(const msgpack_object *body)
{
	char addr[IPCMSG_BOOTSTRAPS_LEN];
	const char *why;

	if (ipcmsg_kafka_bootstrap(body, addr, sizeof(addr), &why) == -1) {
		ipc_drop(wk.chan, why);
		return;
	}
	/* Not a secret: operators read it in exfeedctl status too. */
	log_debug("kafka bootstrap: %s", addr);
	memcpy(wk.kafka_bootstraps, addr, sizeof(addr));
	if (wk.kafka_cb && !wk.stopping)
		wk.kafka_cb(wk.kafka_bootstraps);
}

int
worker_gather(worker_gather_fn fn, void *arg)
{
	wk.gather_fn = fn;
	wk.gather_arg = arg;
	if (wk.chan == NULL || wk.stopping)
		return -1;
	return ipc_send_empty(wk.chan, IPC_GATHER_REQ);
}

static void
worker_on_gather(const msgpack_object *body)
{
	struct ipcmsg_gather g;
	const char *why;

	if (ipcmsg_gather(body, &g, &why) == -1) {
		ipc_drop(wk.chan, why);
		return;
	}
	if (wk.gather_fn && !wk.stopping)
		wk.gather_fn(&g, wk.gather_arg);
}

void
worker_stopped(void)
{
	ev_break(wk.loop, EVBREAK_ALL);
}

/* Tell the supervisor why (it shows in exfeedctl status), then exit. */
void
worker_fatal(int status, const char *fmt, ...)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_error("%s", reason);
	if (wk.chan) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 1);
		mp_kv_str(&pk, "reason", reason);
		if (ipc_send_sbuf(wk.chan, IPC_FATAL, &sb) == 0)
			ipc_flush(wk.chan, 1000);
		msgpack_sbuffer_destroy(&sb);
	}
	exit(status);
}

static void
worker_begin_stop(const char *why)
{
	if (wk.stopping)
		return;
	wk.stopping = 1;
	log_info("stopping (%s)", why);
	ev_timer_stop(wk.loop, &wk.heartbeat);
	if (wk.have_cfg && wk.ops->stop)
		wk.ops->stop();
	else
		worker_stopped();
}

static void
worker_heartbeat_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (wk.chan)
		ipc_send_empty(wk.chan, IPC_HEARTBEAT);
}

static void
worker_config_ack(uint64_t gen, const char *error)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, error ? 3 : 2);
	mp_kv_u64(&pk, "gen", gen);
	mp_kv_bool(&pk, "ok", error == NULL);
	if (error)
		mp_kv_str(&pk, "error", error);
	ipc_send_sbuf(wk.chan, IPC_CONFIG_ACK, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* What this runtime itself takes from a config, first or reloaded. */
static void
worker_apply(const struct config *cfg)
{
	double hb = (double)cfg->heartbeat_interval_ms / 1000.;

	if (daemon_log_open(cfg, wk.foreground) == -1)
		log_warn("cannot open log %s", cfg->log);
	if (wk.verbose)
		log_set_level(LOG_LVL_DEBUG);
	daemon_core_dumps(cfg);
	ev_timer_stop(wk.loop, &wk.heartbeat);
	ev_timer_set(&wk.heartbeat, hb, hb);
	if (!wk.stopping)
		ev_timer_start(wk.loop, &wk.heartbeat);
}

static void
worker_on_config(const msgpack_object *body)
{
	struct config_errors errs;
	struct config ncfg, old;
	const char *what;
	int64_t gen;

	if (ipcmsg_config(body, &gen, &ncfg, &errs, &what) == -1) {
		char why[600];

		/* The supervisor validated it with the same code: this is a protocol fault. */
		if (errs.n)
			snprintf(why, sizeof(why), "%s: %s", what, config_errors_first(&errs));
		else
			snprintf(why, sizeof(why), "%s", what);
		config_errors_free(&errs);
		ipc_drop(wk.chan, why);
		return;
	}
	wk.config_gen = (uint64_t)gen;
	if (!wk.have_cfg) {
		wk.cfg = ncfg;
		wk.have_cfg = 1;
		worker_apply(&wk.cfg);
		worker_config_ack(wk.config_gen, NULL);
		log_debug("configuration %llu received", (unsigned long long)gen);
		wk.ops->start(wk.loop, &wk.cfg);
		return;
	}
	old = wk.cfg;
	wk.cfg = ncfg;
	worker_apply(&wk.cfg);
	if (wk.ops->reconfigure)
		wk.ops->reconfigure(&wk.cfg, &old);
	config_free(&old);
	worker_config_ack(wk.config_gen, NULL);
	log_info("configuration %llu applied", (unsigned long long)gen);
}

static void
worker_turn_begin_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	wk.turn_us = clock_mono_us();
}

static void
worker_turn_end_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	if (wk.turn_us > 0)
		hist_add(&wk.turn, clock_mono_us() - wk.turn_us);
	wk.turn_us = 0;		/* one sample a turn, whatever runs the loop again */
}

static void
worker_on_status(const msgpack_object *body)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const char *why;
	int64_t id;

	if (ipcmsg_status_req(body, &id, status_want, sizeof(status_want), &why) == -1) {
		ipc_drop(wk.chan, why);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 6);
	mp_kv_i64(&pk, "id", id);
	mp_str(&pk, "loop_busy_us");
	hist_pack(&wk.turn, &pk);
	mp_kv_bool(&pk, "ready", wk.ready);
	mp_kv_u64(&pk, "config_gen", wk.config_gen);
	mp_kv_u64(&pk, "uptime_ms", monotonic_ms() - wk.start_ms);
	mp_str(&pk, "role");
	if (wk.have_cfg && wk.ops->status)
		wk.ops->status(&pk);
	else
		msgpack_pack_map(&pk, 0);
	status_want[0] = '\0';
	ipc_send_sbuf(wk.chan, IPC_STATUS, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void
worker_msg_cb(struct ipc_conn *c, const struct ipc_hdr *h, const msgpack_object *body,
    void *arg)
{
	if (h->type != IPC_CONFIG && !wk.have_cfg) {
		ipc_drop(c, "the first message must be CONFIG");
		return;
	}
	switch (h->type) {
	case IPC_CONFIG:
		worker_on_config(body);
		break;
	case IPC_STATUS_REQ:
		worker_on_status(body);
		break;
	case IPC_RECONCILE:
		log_debug("reconcile requested");
		if (wk.ops->reconcile && !wk.stopping)
			wk.ops->reconcile();
		break;
	case IPC_SHUTDOWN:
		worker_begin_stop("supervisor asked");
		break;
	case IPC_LOG_REOPEN:
		if (log_reopen() == -1)
			log_warn("cannot reopen the log file");
		break;
	case IPC_KAFKA_BOOTSTRAP:
		worker_on_bootstrap_msg(body);
		break;
	case IPC_GATHER:
		worker_on_gather(body);
		break;
	}
}

static void
worker_close_cb(struct ipc_conn *c, const char *why, void *arg)
{
	wk.chan = NULL;
	if (strcmp(why, "end of file") == 0) {
		log_warnx("supervisor went away; exiting");
		exit(1);
	}
	/* A malformed message from our only peer: drop it, which ends us. */
	log_warnx("supervisor channel: %s; exiting", why);
	exit(EX_PROTOCOL_STATUS);
}

static void
worker_signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	worker_begin_stop("SIGTERM");
}

int
worker_main(enum role role, int instance, int foreground, int verbose)
{
	int fl;

	if ((fl = fcntl(WORKER_CHANNEL_FD, F_GETFL)) == -1) {
		fprintf(stderr, "exfeedd: -P and -I are internal: workers are started by the "
		    "supervisor with their channel on fd %d\n", WORKER_CHANNEL_FD);
		return 64;	/* EX_USAGE */
	}
	fcntl(WORKER_CHANNEL_FD, F_SETFL, fl | O_NONBLOCK);
	fcntl(WORKER_CHANNEL_FD, F_SETFD, FD_CLOEXEC);
	/* If the supervisor dies we go too, even if nobody closes the channel. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		return 1;

	wk.role = role;
	wk.instance = instance;
	wk.foreground = foreground;
	wk.verbose = verbose;
	wk.ops = role_ops[role];
	wk.start_ms = monotonic_ms();
	log_set_role(role_name(role), instance);
	if (verbose)
		log_set_level(LOG_LVL_DEBUG);
	proctitle_set("exfeedd: %s %d", role_name(role), instance);

	/* Terminal signals belong to the supervisor, which stops us in order. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	wk.loop = ev_default_loop(EVFLAG_AUTO);
	ev_signal_init(&wk.sig_term, worker_signal_cb, SIGTERM);
	ev_signal_start(wk.loop, &wk.sig_term);
	ev_timer_init(&wk.heartbeat, worker_heartbeat_cb, 1., 1.);
	hist_init(&wk.turn);
	ev_check_init(&wk.turn_begin, worker_turn_begin_cb);
	ev_set_priority(&wk.turn_begin, EV_MAXPRI);	/* the turn's first callback */
	ev_check_start(wk.loop, &wk.turn_begin);
	ev_unref(wk.loop);
	ev_prepare_init(&wk.turn_end, worker_turn_end_cb);
	ev_set_priority(&wk.turn_end, EV_MINPRI);	/* and its last */
	ev_prepare_start(wk.loop, &wk.turn_end);
	ev_unref(wk.loop);
	wk.chan = ipc_conn_new(wk.loop, WORKER_CHANNEL_FD, "supervisor", IPC_ACCEPT_WORKER,
	    worker_msg_cb, worker_close_cb, NULL);
	if (wk.chan == NULL)
		fatal(1, "cannot set up the supervisor channel");

	ev_run(wk.loop, 0);

	if (wk.chan)
		ipc_flush(wk.chan, 1000);
	log_info("stopped");
	if (wk.have_cfg)
		config_free(&wk.cfg);
	return 0;
}
