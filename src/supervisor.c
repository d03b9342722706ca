/*
 * supervisor.c: the exfeedd master process.  It owns the configuration, the
 * pidfile and the control socket, fork+execs one process per worker slot,
 * respawns them with brakes, reloads on HUP and stops them in order on TERM.
 * It links no PostgreSQL, Kafka or WebSocket code path: it must never crash.
 *
 * Order of work in the loop: signals (HUP, TERM/INT, USR1) and child exits
 * arrive as libev watchers; worker and control messages as io watchers; one
 * janitor timer enforces ready and heartbeat deadlines.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "exfeedd.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "metrics.h"
#include "mpack.h"
#include "strbuf.h"

#define STATUS_TIMEOUT_S	1.0	/* how long a status query waits for workers */
#define RELOAD_ACK_TIMEOUT_S	5.0
#define JANITOR_INTERVAL_S	0.1
#define SAME_EARLY_DEATHS	5	/* alike deaths before READY: a configuration error */

enum wstate { W_STARTING, W_READY, W_STOPPING, W_BACKOFF, W_FAILED };
static const char *const wstate_names[] = { "starting", "ready", "stopping", "backoff", "failed" };

struct worker {
	struct worker	*next;
	enum role	 role;
	int		 instance;
	int		 wanted;		/* part of the configured set */
	pid_t		 pid;
	enum wstate	 state;
	unsigned	 restarts;
	unsigned	 fails;			/* consecutive, reset once stable */
	struct proc_early early;		/* deaths before READY, alike, in a row */
	uint64_t	 started_ms;
	uint64_t	 ready_ms;
	uint64_t	 last_msg_ms;
	uint64_t	 stop_ms;
	int		 killed;		/* the janitor sent SIGKILL */
	int64_t		 next_delay_ms;
	char		 name[32];		/* "account 2" */
	char		 last_exit[96];
	char		 reason[256];		/* from FATAL, or why we killed it */
	struct ipc_conn	*chan;
	ev_timer	 restart_timer;
	unsigned	 config_gen;		/* last config generation acknowledged */
	unsigned	 sent_gen;		/* last config generation sent */
	unsigned	 status_id;		/* last status reply's id */
	msgpack_sbuffer	 detail;		/* last status reply, re-packed */
	/*
	 * Last status reply with per-account rows (exfeedctl accounts): kept
	 * apart, so that a gather's reply in between (the gateway asks every
	 * second) does not replace the rows a slower shard's query waits for.
	 */
	msgpack_sbuffer	 rows;
	int		 gathering;		/* its IPC_GATHER_REQ is being answered */
};

/*
 * A round of status requests to the workers, answered when every ready
 * worker replied or STATUS_TIMEOUT_S passed: exfeedctl status, accounts
 * (per-account rows) and metrics, and a worker's IPC_GATHER_REQ.
 */
enum qkind { Q_STATUS, Q_ACCOUNTS, Q_METRICS, Q_GATHER };

struct status_query {
	struct status_query	*next;
	void			*client;	/* the exfeedctl client, or NULL (Q_GATHER) */
	unsigned		 id;
	enum qkind		 kind;
	enum role		 from_role;	/* Q_GATHER: who asked */
	int			 from_instance;
	pid_t			 from_pid;
	ev_timer		 timer;
};

static struct {
	struct ev_loop		*loop;
	const char		*config_path;
	struct config		 cfg;
	struct proc_args	 pa;
	int			 verbose;
	struct worker		*workers;
	struct ctl_server	*ctl;
	int			 pidfd;
	uid_t			 uid;
	gid_t			 gid;
	ev_signal		 sig_hup, sig_term, sig_int, sig_usr1;
	ev_child		 child;
	ev_timer		 janitor;
	msgpack_sbuffer		 config_msg;
	unsigned		 config_gen;
	int			 reloading;
	int			 reload_pending;
	unsigned		 reload_coalesced;
	ev_timer		 reload_timer;
	int			 stopping;
	int			 stage;
	ev_timer		 stage_timer;
	struct status_query	*queries;
	unsigned		 status_seq;
	uint64_t		 start_ms;
	uint64_t		 rng;
	/*
	 * The embedded broker's address from its last READY, for the writer.
	 * Kept when the broker dies: its next READY brings the new one, and
	 * meanwhile the writer's producer retries an address that refuses.
	 */
	char			 kafka_bootstraps[IPCMSG_BOOTSTRAPS_LEN];
} sup;

static void sup_spawn(struct worker *);
static void sup_stage_advance(void);
static void sup_queries_check(void);
static void sup_status_begin(void *client, enum qkind, struct worker *from);

static uint32_t
sup_random(void)
{
	/* splitmix64: jitter only, no secrecy needed */
	uint64_t z = (sup.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void
sup_pack_config(void)
{
	msgpack_packer pk;

	msgpack_sbuffer_destroy(&sup.config_msg);
	msgpack_sbuffer_init(&sup.config_msg);
	msgpack_packer_init(&pk, &sup.config_msg, msgpack_sbuffer_write);
	sup.config_gen++;
	msgpack_pack_map(&pk, 2);
	mp_kv_u64(&pk, "gen", sup.config_gen);
	mp_str(&pk, "config");
	config_pack(&sup.cfg, &pk);
}

/* ------------------------------------------------------------- worker slots */

/*
 * IPC_KAFKA_BOOTSTRAP to a writer or a market worker (each has a producer);
 * a failed send drops its channel (the close callback).
 */
static void
sup_send_bootstrap(struct worker *w)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if ((w->role != ROLE_WRITER && w->role != ROLE_MARKET) || w->chan == NULL ||
	    sup.kafka_bootstraps[0] == '\0')
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_kv_str(&pk, "bootstraps", sup.kafka_bootstraps);
	ipc_send_sbuf(w->chan, IPC_KAFKA_BOOTSTRAP, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* A broker became ready at addr: a new address goes to the running producers. */
static void
sup_kafka_bootstraps(const char *addr)
{
	if (strcmp(sup.kafka_bootstraps, addr) == 0)
		return;
	log_info("embedded Kafka broker at %s%s", addr,
	    sup.kafka_bootstraps[0] ? " (a new address; telling the writer and market workers)" : "");
	snprintf(sup.kafka_bootstraps, sizeof(sup.kafka_bootstraps), "%s", addr);
	for (struct worker *w = sup.workers; w; w = w->next)
		if (w->state != W_STOPPING)
			sup_send_bootstrap(w);
}

static struct worker *
sup_worker_find(enum role r, int instance)
{
	for (struct worker *w = sup.workers; w; w = w->next)
		if (w->role == r && w->instance == instance)
			return w;
	return NULL;
}

static struct worker *
sup_worker_by_pid(pid_t pid)
{
	for (struct worker *w = sup.workers; w; w = w->next)
		if (w->pid == pid)
			return w;
	return NULL;
}

static void
sup_restart_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;

	if (!sup.stopping && w->wanted && w->state == W_BACKOFF)
		sup_spawn(w);
}

static struct worker *
sup_worker_add(enum role r, int instance)
{
	struct worker *w, **pp;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal(1, "calloc");
	w->role = r;
	w->instance = instance;
	w->wanted = 1;
	w->state = W_BACKOFF;
	snprintf(w->name, sizeof(w->name), "%s %d", role_name(r), instance);
	snprintf(w->last_exit, sizeof(w->last_exit), "-");
	msgpack_sbuffer_init(&w->detail);
	msgpack_sbuffer_init(&w->rows);
	ev_timer_init(&w->restart_timer, sup_restart_cb, 0., 0.);
	w->restart_timer.data = w;
	/* Keep the list sorted by role, then instance: status reads in that order. */
	for (pp = &sup.workers; *pp && ((*pp)->role < r ||
	    ((*pp)->role == r && (*pp)->instance < instance)); pp = &(*pp)->next)
		;
	w->next = *pp;
	*pp = w;
	return w;
}

static void
sup_worker_remove(struct worker *w)
{
	struct worker **pp;

	for (pp = &sup.workers; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	ev_timer_stop(sup.loop, &w->restart_timer);
	if (w->chan)
		ipc_close(w->chan);
	msgpack_sbuffer_destroy(&w->detail);
	msgpack_sbuffer_destroy(&w->rows);
	free(w);
	sup_queries_check();
}

static void
sup_worker_msg_cb(struct ipc_conn *c, const struct ipc_hdr *h, const msgpack_object *body,
    void *arg)
{
	struct worker *w = arg;
	struct ipcmsg_ready ready;
	struct ipcmsg_config_ack ack;
	const char *why;
	int64_t v;

	w->last_msg_ms = monotonic_ms();
	switch (h->type) {
	case IPC_READY:
		if (ipcmsg_ready(body, &ready, &why) == -1) {
			ipc_drop(c, why);
			return;
		}
		if (ready.pid != w->pid || strcmp(ready.role, role_name(w->role)) != 0 ||
		    ready.instance != w->instance) {
			ipc_drop(c, "READY does not match the process we started");
			return;
		}
		/* Only the broker has an address to report, and it always has one. */
		if ((w->role == ROLE_BROKER) != (ready.bootstraps[0] != '\0')) {
			ipc_drop(c, w->role == ROLE_BROKER ? "the broker's READY has no bootstraps" :
			    "READY with bootstraps from a role other than the broker");
			return;
		}
		if (w->state == W_STARTING) {
			w->state = W_READY;
			w->ready_ms = w->last_msg_ms;
			log_info("%s (pid %ld) ready after %llu ms", w->name, (long)w->pid,
			    (unsigned long long)(w->ready_ms - w->started_ms));
			if (w->role == ROLE_BROKER)
				sup_kafka_bootstraps(ready.bootstraps);
		}
		break;
	case IPC_HEARTBEAT:
		break;
	case IPC_STATUS: {
		const msgpack_object *r;
		msgpack_packer pk;

		if (ipcmsg_status(body, &v, &why) == -1) {
			ipc_drop(c, why);
			return;
		}
		w->status_id = (unsigned)v;
		msgpack_sbuffer_clear(&w->detail);
		msgpack_packer_init(&pk, &w->detail, msgpack_sbuffer_write);
		msgpack_pack_object(&pk, *body);
		if ((r = mp_get(body, "role")) != NULL && r->type == MSGPACK_OBJECT_MAP &&
		    (r = mp_get(r, "rows")) != NULL && r->type == MSGPACK_OBJECT_ARRAY) {
			msgpack_sbuffer_clear(&w->rows);
			msgpack_packer_init(&pk, &w->rows, msgpack_sbuffer_write);
			msgpack_pack_object(&pk, *body);
		}
		sup_queries_check();
		break;
	}
	case IPC_CONFIG_ACK:
		if (ipcmsg_config_ack(body, &ack, &why) == -1) {
			ipc_drop(c, why);
			return;
		}
		if (!ack.ok)
			log_error("%s (pid %ld) rejected the configuration: %s", w->name,
			    (long)w->pid, ack.error);
		w->config_gen = (unsigned)ack.gen;
		sup_queries_check();
		break;
	case IPC_FATAL:
		ipcmsg_fatal(body, w->reason, sizeof(w->reason));
		break;
	case IPC_GATHER_REQ:
		/* One at a time per worker: more while one runs are dropped. */
		if (!w->gathering && !sup.stopping) {
			w->gathering = 1;
			sup_status_begin(NULL, Q_GATHER, w);
		}
		break;
	}
}

static void
sup_worker_close_cb(struct ipc_conn *c, const char *why, void *arg)
{
	struct worker *w = arg;

	w->chan = NULL;
	if (strcmp(why, "end of file") == 0)
		return;			/* it is exiting; SIGCHLD follows */
	log_warnx("%s (pid %ld): channel dropped: %s; killing it", w->name, (long)w->pid, why);
	snprintf(w->reason, sizeof(w->reason), "killed by supervisor: %s", why);
	if (w->pid > 0)
		kill(w->pid, SIGKILL);
}

static void
sup_spawn(struct worker *w)
{
	char err[sizeof(w->reason)];
	int fd;
	pid_t pid;

	pid = proc_spawn(&sup.pa, w->role, w->instance, &fd, err, sizeof(err));
	if (pid == -2) {
		/* The same exec fails the same way next time: the installation is wrong. */
		snprintf(w->reason, sizeof(w->reason), "%s", err);
		snprintf(w->last_exit, sizeof(w->last_exit), "not started");
		w->state = W_FAILED;
		log_error("%s: %s (as uid %ld); not retrying until exfeedd is reloaded", w->name,
		    err, (long)geteuid());
		return;
	}
	if (pid == -1) {
		w->fails++;
		w->next_delay_ms = proc_backoff_ms(w->fails, 1, sup.cfg.respawn_delay_min_ms,
		    sup.cfg.respawn_delay_max_ms, sup.cfg.respawn_throttle_ms, sup_random());
		snprintf(w->reason, sizeof(w->reason), "%s", err);
		log_warnx("%s: cannot start: %s; retry in %lld ms", w->name, err,
		    (long long)w->next_delay_ms);
		w->state = W_BACKOFF;
		ev_timer_set(&w->restart_timer, (double)w->next_delay_ms / 1000., 0.);
		ev_timer_start(sup.loop, &w->restart_timer);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	w->pid = pid;
	w->state = W_STARTING;
	w->started_ms = w->last_msg_ms = monotonic_ms();
	w->ready_ms = 0;
	w->killed = 0;
	w->gathering = 0;
	w->reason[0] = '\0';
	w->config_gen = 0;
	msgpack_sbuffer_clear(&w->detail);
	msgpack_sbuffer_clear(&w->rows);
	w->chan = ipc_conn_new(sup.loop, fd, w->name, IPC_ACCEPT_SUPERVISOR,
	    sup_worker_msg_cb, sup_worker_close_cb, w);
	if (w->chan == NULL)
		fatal(1, "ipc_conn_new");
	log_info("%s started, pid %ld", w->name, (long)pid);
	/*
	 * The first message a worker gets is its configuration; a writer's
	 * next is the embedded broker's address, if one is known.
	 */
	w->sent_gen = sup.config_gen;
	ipc_send_sbuf(w->chan, IPC_CONFIG, &sup.config_msg);
	sup_send_bootstrap(w);
}

static void
sup_stop_worker(struct worker *w, const char *why)
{
	if (w->pid <= 0 || w->state == W_STOPPING)
		return;
	w->state = W_STOPPING;
	w->stop_ms = monotonic_ms();
	log_info("%s (pid %ld): stopping (%s)", w->name, (long)w->pid, why);
	if (w->chan == NULL || ipc_send_empty(w->chan, IPC_SHUTDOWN) == -1)
		kill(w->pid, SIGTERM);
}

/* Make the running set match the config: start missing slots, stop extra ones. */
static void
sup_apply_worker_set(void)
{
	struct worker *w, *next;

	for (w = sup.workers; w; w = w->next)
		w->wanted = w->instance < role_count(w->role, &sup.cfg);
	for (int r = 0; r < ROLE_MAX; r++)
		for (int i = 0; i < role_count((enum role)r, &sup.cfg); i++)
			if (sup_worker_find((enum role)r, i) == NULL)
				sup_spawn(sup_worker_add((enum role)r, i));
	for (w = sup.workers; w; w = next) {
		next = w->next;
		if (w->wanted)
			continue;
		if (w->pid > 0)
			sup_stop_worker(w, "no longer in the configuration");
		else
			sup_worker_remove(w);
	}
}

/* -------------------------------------------------------------- child exits */

static void
sup_child_cb(struct ev_loop *loop, ev_child *cw, int revents)
{
	struct worker *w = sup_worker_by_pid(cw->rpid);
	int status = cw->rstatus, died_before_ready;
	uint64_t now = monotonic_ms();
	char how[96];

	if (w == NULL)
		return;
	if (w->chan) {
		ipc_drain(w->chan);	/* read its last words (FATAL) before judging */
		if (w->chan)
			ipc_close(w->chan);
		w->chan = NULL;
	}
	proc_describe_status(status, how, sizeof(how));
	snprintf(w->last_exit, sizeof(w->last_exit), "%s", how);
	w->pid = 0;

	if (sup.stopping) {
		log_info("%s (pid %ld) stopped: %s", w->name, (long)cw->rpid, how);
		sup_worker_remove(w);
		sup_stage_advance();
		return;
	}
	if (!w->wanted) {
		log_info("%s (pid %ld) stopped: %s; not restarting (no longer configured)",
		    w->name, (long)cw->rpid, how);
		sup_worker_remove(w);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_CONFIG_STATUS) {
		w->state = W_FAILED;
		log_error("%s (pid %ld) %s (configuration error: %s); not restarting until "
		    "the configuration is fixed and reloaded", w->name, (long)cw->rpid, how,
		    w->reason[0] ? w->reason : "no reason given");
		return;
	}
	died_before_ready = w->state == W_STARTING;
	/*
	 * Deaths it caused itself count, ours do not: a worker killed for not
	 * being ready in time may be waiting on something slow, not broken.
	 */
	if (proc_early_note(&w->early, died_before_ready && !w->killed, how, w->reason) >=
	    SAME_EARLY_DEATHS) {
		/* Not a crash loop: it cannot start as configured (exit 78's meaning). */
		w->state = W_FAILED;
		log_error("%s (pid %ld) %s before it was ready, %u times alike (%s); a "
		    "configuration or installation error: not restarting until exfeedd is "
		    "reloaded", w->name, (long)cw->rpid, how, w->early.n,
		    w->reason[0] ? w->reason : "no reason given");
		w->early.n = 0;
		return;
	}
	if (w->ready_ms && now - w->ready_ms >= (uint64_t)sup.cfg.respawn_stable_ms)
		w->fails = 0;
	w->fails++;
	w->restarts++;
	w->next_delay_ms = proc_backoff_ms(w->fails, died_before_ready,
	    sup.cfg.respawn_delay_min_ms, sup.cfg.respawn_delay_max_ms,
	    sup.cfg.respawn_throttle_ms, sup_random());
	w->state = W_BACKOFF;
	log_warnx("%s (pid %ld) %s after %llu ms%s%s%s; restart #%u in %lld ms%s", w->name,
	    (long)cw->rpid, how, (unsigned long long)(now - w->started_ms),
	    w->reason[0] ? " (" : "", w->reason, w->reason[0] ? ")" : "",
	    w->restarts, (long long)w->next_delay_ms,
	    died_before_ready ? ", throttled: it died before it was ready" : "");
	ev_timer_set(&w->restart_timer, (double)w->next_delay_ms / 1000., 0.);
	ev_timer_start(sup.loop, &w->restart_timer);
}

/* One timer enforces every deadline: ready, heartbeat, and stop (outside shutdown). */
static void
sup_janitor_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	uint64_t now = monotonic_ms();

	for (struct worker *w = sup.workers; w; w = w->next) {
		const char *why = NULL;
		char buf[128];

		if (w->pid <= 0)
			continue;
		if (w->state == W_STARTING && now - w->started_ms > (uint64_t)sup.cfg.ready_timeout_ms) {
			snprintf(buf, sizeof(buf), "not ready within %lld ms",
			    (long long)sup.cfg.ready_timeout_ms);
			why = buf;
		} else if (w->state == W_READY &&
		    now - w->last_msg_ms > (uint64_t)sup.cfg.heartbeat_timeout_ms) {
			snprintf(buf, sizeof(buf), "no heartbeat for %llu ms",
			    (unsigned long long)(now - w->last_msg_ms));
			why = buf;
		} else if (w->state == W_STOPPING && !sup.stopping &&
		    now - w->stop_ms > (uint64_t)sup.cfg.shutdown_timeout_ms) {
			snprintf(buf, sizeof(buf), "did not stop within %lld ms",
			    (long long)sup.cfg.shutdown_timeout_ms);
			why = buf;
		}
		if (why && !w->killed) {
			w->killed = 1;
			log_warnx("%s (pid %ld): %s; killing it", w->name, (long)w->pid, why);
			snprintf(w->reason, sizeof(w->reason), "killed by supervisor: %s", why);
			kill(w->pid, SIGKILL);
		}
	}
}

/* ----------------------------------------------------------------- shutdown */

static void
sup_stage_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	for (struct worker *w = sup.workers; w; w = w->next)
		if (w->pid > 0 && role_stage(w->role) == sup.stage) {
			log_warnx("%s (pid %ld) did not stop within %lld ms; sending SIGKILL",
			    w->name, (long)w->pid, (long long)sup.cfg.shutdown_timeout_ms);
			kill(w->pid, SIGKILL);
		}
}

/* Stop the next stage that still has processes; when none has, leave the loop. */
static void
sup_stage_advance(void)
{
	static const char *const stage_names[] = { "gateway", "market and account",
		"writer", "broker" };

	for (; sup.stage < 4; sup.stage++) {
		int n = 0;

		for (struct worker *w = sup.workers; w; w = w->next) {
			if (w->pid <= 0 || role_stage(w->role) != sup.stage)
				continue;
			n++;
			if (w->state != W_STOPPING)
				sup_stop_worker(w, "daemon shutdown");
		}
		if (n) {
			if (!ev_is_active(&sup.stage_timer)) {
				log_info("shutdown: stopping %s (%d process%s)", stage_names[sup.stage],
				    n, n == 1 ? "" : "es");
				ev_timer_set(&sup.stage_timer, (double)sup.cfg.shutdown_timeout_ms / 1000., 0.);
				ev_timer_start(sup.loop, &sup.stage_timer);
			}
			return;
		}
		ev_timer_stop(sup.loop, &sup.stage_timer);
	}
	ev_break(sup.loop, EVBREAK_ALL);
}

static void
sup_shutdown(const char *why)
{
	struct worker *w, *next;

	if (sup.stopping) {
		log_info("%s: shutdown already in progress", why);
		return;
	}
	sup.stopping = 1;
	log_info("shutting down (%s)", why);
	for (w = sup.workers; w; w = next) {
		next = w->next;
		ev_timer_stop(sup.loop, &w->restart_timer);
		if (w->pid <= 0)
			sup_worker_remove(w);
	}
	ev_timer_stop(sup.loop, &sup.janitor);
	sup.stage = 0;
	sup_stage_advance();
}

/* ------------------------------------------------------------------- reload */

/*
 * The master key file, checked here because the supervisor is the one
 * process that can refuse to start: the account workers read it later, as
 * uid, after the privilege drop.  The key itself is wiped at once.
 */
static int
sup_key_check(const struct config *cfg, uid_t uid, char *err, size_t errlen)
{
	char why[1024];

	if (crypto_key_check(cfg->crypto_key_file, geteuid() == 0 && uid != 0 ? uid : (uid_t)-1,
	    cfg->user, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s:%d: [crypto] key_file: %s", cfg->file,
		    config_line_of(cfg, "crypto", "key_file"), why);
		return -1;
	}
	return 0;
}

/* A key whose value may hold a secret ([database] conninfo's password=): never logged. */
static int
sup_key_secret(const char *section, const char *key)
{
	return strcmp(key, "conninfo") == 0 || strstr(key, "secret") != NULL ||
	    strstr(key, "password") != NULL || strstr(key, "token") != NULL;
}

static void
sup_diff_cb(const char *section, const char *key, int reloadable, const char *oldval,
    const char *newval, void *arg)
{
	if (sup_key_secret(section, key))
		log_info("reload: [%s] %s changed%s (its value is not logged: it may hold a "
		    "secret)", section, key, reloadable ? "" : ", but cannot change at runtime: "
		    "restart the daemon to apply it");
	else if (reloadable)
		log_info("reload: [%s] %s: \"%s\" -> \"%s\"", section, key, oldval, newval);
	else
		log_warnx("reload: [%s] %s cannot change at runtime: keeping \"%s\" "
		    "(the file says \"%s\"; restart the daemon to apply it)", section, key,
		    oldval, newval);
}

static void sup_reload(const char *why, char *err, size_t errlen);

static void
sup_reload_done(void)
{
	int acked = 0, total = 0;

	for (struct worker *w = sup.workers; w; w = w->next)
		if (w->pid > 0 && w->state != W_STOPPING) {
			total++;
			acked += w->config_gen == sup.config_gen;
		}
	ev_timer_stop(sup.loop, &sup.reload_timer);
	sup.reloading = 0;
	log_info("reload complete: %d of %d workers applied configuration %u", acked, total,
	    sup.config_gen);
	if (sup.reload_pending) {
		sup.reload_pending = 0;
		log_info("reload: %u more signal%s arrived meanwhile; reloading once more",
		    sup.reload_coalesced, sup.reload_coalesced == 1 ? "" : "s");
		sup.reload_coalesced = 0;
		sup_reload("coalesced SIGHUP", NULL, 0);
	}
}

static void
sup_reload_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	sup_reload_done();
}

/*
 * Build the new config whole; if it is invalid keep the running one and say
 * why (FILE:LINE).  Otherwise swap, keep the keys that cannot change, apply
 * log settings here and send every worker the config and a reconcile.
 */
static void
sup_reload(const char *why, char *err, size_t errlen)
{
	struct config_errors errs;
	struct config ncfg;
	char kerr[1536];
	int changed;

	if (err)
		err[0] = '\0';
	if (sup.stopping)
		return;
	if (sup.reloading) {
		sup.reload_pending = 1;
		sup.reload_coalesced++;
		log_info("%s: a reload is in progress; this one will follow it", why);
		return;
	}
	log_info("%s: reloading %s", why, sup.config_path);
	if (config_load(sup.config_path, &ncfg, &errs) == -1) {
		for (size_t i = 0; i < errs.n; i++)
			log_error("reload failed, configuration unchanged: %s", errs.v[i].msg);
		if (err)
			snprintf(err, errlen, "%s", config_errors_first(&errs));
		config_errors_free(&errs);
		return;
	}
	if (sup_key_check(&ncfg, sup.uid, kerr, sizeof(kerr)) == -1) {
		log_error("reload failed, configuration unchanged: %s", kerr);
		if (err)
			snprintf(err, errlen, "%.900s", kerr);
		config_free(&ncfg);
		return;
	}
	changed = config_diff(&sup.cfg, &ncfg, sup_diff_cb, NULL);
	config_keep_static(&ncfg, &sup.cfg);
	config_free(&sup.cfg);
	sup.cfg = ncfg;
	if (sup.verbose)
		sup.cfg.log_level = CONF_LOG_DEBUG;
	if (daemon_log_open(&sup.cfg, sup.pa.foreground) == -1)
		log_warn("reload: cannot open log %s; keeping the previous one", sup.cfg.log);
	daemon_core_dumps(&sup.cfg);
	sup_pack_config();
	log_info("reload: %d setting%s changed", changed, changed == 1 ? "" : "s");

	/* A worker that failed on configuration gets another chance. */
	for (struct worker *w = sup.workers; w; w = w->next)
		if (w->state == W_FAILED) {
			log_info("%s: retrying after reload (it failed with: %s)", w->name, w->reason);
			w->fails = 0;
			sup_spawn(w);
		}
	sup_apply_worker_set();

	sup.reloading = 1;
	for (struct worker *w = sup.workers; w; w = w->next) {
		if (w->chan == NULL || w->state == W_STOPPING || w->sent_gen == sup.config_gen)
			continue;	/* new workers got this config at spawn */
		w->sent_gen = sup.config_gen;
		ipc_send_sbuf(w->chan, IPC_CONFIG, &sup.config_msg);
		if (w->chan)
			ipc_send_empty(w->chan, IPC_RECONCILE);
	}
	ev_timer_set(&sup.reload_timer, RELOAD_ACK_TIMEOUT_S, 0.);
	ev_timer_start(sup.loop, &sup.reload_timer);
	sup_queries_check();
}

/* ------------------------------------------------------ control and status */

static void
sup_pack_worker(msgpack_packer *pk, const struct worker *w, uint64_t now)
{
	msgpack_unpacked unp;
	size_t off = 0;

	msgpack_pack_map(pk, 10);
	mp_kv_str(pk, "role", role_name(w->role));
	mp_kv_i64(pk, "instance", w->instance);
	mp_kv_i64(pk, "pid", w->pid);
	mp_kv_str(pk, "state", wstate_names[w->state]);
	mp_kv_u64(pk, "restarts", w->restarts);
	mp_kv_i64(pk, "uptime_ms", w->pid > 0 ? (int64_t)(now - w->started_ms) : 0);
	mp_kv_str(pk, "last_exit", w->last_exit);
	mp_kv_str(pk, "reason", w->reason);
	mp_kv_i64(pk, "next_restart_ms", w->state == W_BACKOFF ?
	    (int64_t)(ev_timer_remaining(sup.loop, (ev_timer *)&w->restart_timer) * 1000) : 0);
	mp_str(pk, "detail");
	msgpack_unpacked_init(&unp);
	if (w->pid > 0 && w->detail.size &&
	    msgpack_unpack_next(&unp, w->detail.data, w->detail.size, &off) == MSGPACK_UNPACK_SUCCESS)
		msgpack_pack_object(pk, unp.data);
	else
		msgpack_pack_nil(pk);
	msgpack_unpacked_destroy(&unp);
}

static void
sup_status_reply(struct status_query *q)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t now = monotonic_ms();
	int n = 0;

	for (struct worker *w = sup.workers; w; w = w->next)
		n++;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 8);
	mp_kv_bool(&pk, "ok", 1);
	mp_kv_i64(&pk, "pid", getpid());
	mp_kv_str(&pk, "version", PACKAGE_VERSION);
	mp_kv_str(&pk, "config", sup.config_path);
	mp_kv_str(&pk, "state", sup.stopping ? "stopping" : sup.reloading ? "reloading" : "running");
	mp_kv_i64(&pk, "uptime_ms", (int64_t)(now - sup.start_ms));
	/* Where a Kafka client connects: the embedded broker's last address, or the list. */
	mp_str(&pk, "kafka");
	msgpack_pack_map(&pk, 2);
	mp_kv_str(&pk, "brokers", sup.cfg.kafka_brokers);
	mp_kv_str(&pk, "bootstraps", config_has_broker(&sup.cfg) ? sup.kafka_bootstraps :
	    sup.cfg.kafka_brokers);
	mp_str(&pk, "workers");
	msgpack_pack_array(&pk, (uint32_t)n);
	for (struct worker *w = sup.workers; w; w = w->next)
		sup_pack_worker(&pk, w, now);
	ctl_reply(sup.ctl, q->client, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * exfeedctl accounts: the rows every account worker put in its status
 * detail (role.rows) for this query (kept in w->rows), concatenated; workers that did not
 * answer in time are named in "missing".
 */
static void
sup_accounts_reply(struct status_query *q)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked *unp;
	const msgpack_object **rows;
	uint32_t total = 0;
	int n = 0, missing = 0, i = 0;

	for (struct worker *w = sup.workers; w; w = w->next)
		n += w->role == ROLE_ACCOUNT;
	unp = calloc((size_t)n + 1, sizeof(*unp));
	rows = calloc((size_t)n + 1, sizeof(*rows));
	if (unp == NULL || rows == NULL) {
		free(unp);
		free(rows);
		ctl_reply_error(sup.ctl, q->client, "out of memory");
		return;
	}
	for (struct worker *w = sup.workers; w; w = w->next) {
		const msgpack_object *r;
		size_t off = 0;
		int64_t id;

		if (w->role != ROLE_ACCOUNT)
			continue;
		msgpack_unpacked_init(&unp[i]);
		if (w->pid > 0 && w->rows.size && msgpack_unpack_next(&unp[i], w->rows.data,
		    w->rows.size, &off) == MSGPACK_UNPACK_SUCCESS &&
		    mp_get_i64(&unp[i].data, "id", &id) == 0 && id >= (int64_t)q->id &&
		    (r = mp_get(&unp[i].data, "role")) != NULL &&
		    (r = mp_get(r, "rows")) != NULL && r->type == MSGPACK_OBJECT_ARRAY) {
			rows[i] = r;
			total += r->via.array.size;
		} else
			missing++;
		i++;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	mp_kv_bool(&pk, "ok", 1);
	mp_kv_i64(&pk, "missing", missing);
	mp_str(&pk, "accounts");
	msgpack_pack_array(&pk, total);
	for (int k = 0; k < i; k++)
		for (uint32_t j = 0; rows[k] && j < rows[k]->via.array.size; j++)
			msgpack_pack_object(&pk, rows[k]->via.array.ptr[j]);
	for (int k = 0; k < i; k++)
		msgpack_unpacked_destroy(&unp[k]);
	free(unp);
	free(rows);
	if (sb.size > ipc_max_body(IPC_CTL_REPLY))
		ctl_reply_error(sup.ctl, q->client, "%u accounts do not fit one reply", total);
	else
		ctl_reply(sup.ctl, q->client, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * The exposition (metrics.h) of every worker's last status map, the
 * processes from /proc (the supervisor's too) and the daemon itself,
 * appended to text; with summary, metrics_summary_pack's map and the
 * worker states for IPC_GATHER.  0, or -1 out of memory.
 */
static int
sup_metrics(struct strbuf *text, msgpack_packer *gather)
{
	struct metrics *m;
	struct metric_label l[1] = { { "version", PACKAGE_VERSION } };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked unp;
	uint64_t now = monotonic_ms();
	size_t off = 0;
	uint32_t n = 0;
	int rc = -1;

	if ((m = metrics_new()) == NULL)
		return -1;
	for (struct worker *w = sup.workers; w; w = w->next)
		n++;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, n);
	for (struct worker *w = sup.workers; w; w = w->next)
		sup_pack_worker(&pk, w, now);
	msgpack_unpacked_init(&unp);
	if (msgpack_unpack_next(&unp, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS) {
		metrics_add(m, "exfeedd_build_info", METRIC_GAUGE, "The daemon's version (always 1)",
		    l, 1, 1);
		metrics_add(m, "exfeedd_supervisor_uptime_seconds", METRIC_GAUGE,
		    "Time since the supervisor started", NULL, 0, (double)(now - sup.start_ms) / 1000.);
		metrics_workers(m, &unp.data);
		metrics_process(m, "supervisor", 0, getpid());
		for (struct worker *w = sup.workers; w; w = w->next)
			if (w->pid > 0)
				metrics_process(m, role_name(w->role), w->instance, w->pid);
		rc = metrics_render(m, text);
		if (rc == 0 && gather) {
			msgpack_pack_map(gather, 3);
			mp_str(gather, "text");
			msgpack_pack_str(gather, text->len);
			msgpack_pack_str_body(gather, text->p ? text->p : "", text->len);
			mp_str(gather, "workers");
			msgpack_pack_array(gather, n);
			for (struct worker *w = sup.workers; w; w = w->next) {
				msgpack_pack_map(gather, 5);
				mp_kv_str(gather, "role", role_name(w->role));
				mp_kv_i64(gather, "instance", w->instance);
				mp_kv_i64(gather, "pid", w->pid);
				mp_kv_str(gather, "state", wstate_names[w->state]);
				mp_kv_u64(gather, "restarts", w->restarts);
			}
			mp_str(gather, "summary");
			metrics_summary_pack(gather, &unp.data);
		}
	}
	if (metrics_refused(m))
		log_debug("metrics: %zu samples refused (names or types)", metrics_refused(m));
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
	metrics_free(m);
	return rc;
}

/* exfeedctl metrics: {ok, text}. */
static void
sup_metrics_reply(struct status_query *q)
{
	struct strbuf text = { 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (sup_metrics(&text, NULL) == -1) {
		ctl_reply_error(sup.ctl, q->client, "out of memory");
		free(text.p);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	mp_kv_bool(&pk, "ok", 1);
	mp_str(&pk, "text");
	msgpack_pack_str(&pk, text.len);
	msgpack_pack_str_body(&pk, text.p ? text.p : "", text.len);
	if (sb.size > ipc_max_body(IPC_CTL_REPLY))
		ctl_reply_error(sup.ctl, q->client, "the exposition (%zu bytes) does not fit one "
		    "reply", text.len);
	else
		ctl_reply(sup.ctl, q->client, &sb);
	msgpack_sbuffer_destroy(&sb);
	free(text.p);
}

/* IPC_GATHER to the worker that asked, if it is still the same process. */
static void
sup_gather_reply(struct status_query *q)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(60000, 1);
	struct worker *w = sup_worker_find(q->from_role, q->from_instance);
	struct strbuf text = { 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (w == NULL || w->pid != q->from_pid)
		return;
	w->gathering = 0;
	if (w->chan == NULL || w->state == W_STOPPING)
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	/* Asked again every second while someone watches: said once in a while. */
	if (sup_metrics(&text, &pk) == -1)
		log_warnx_rl(&rl, "%s: cannot gather the metrics: out of memory", w->name);
	else if (sb.size > ipc_max_body(IPC_GATHER))
		log_warnx_rl(&rl, "%s: the metrics (%zu bytes) do not fit one message", w->name,
		    sb.size);
	else
		ipc_send_sbuf(w->chan, IPC_GATHER, &sb);
	msgpack_sbuffer_destroy(&sb);
	free(text.p);
}

static void
sup_query_finish(struct status_query *q)
{
	struct status_query **pp;

	for (pp = &sup.queries; *pp != q; pp = &(*pp)->next)
		;
	*pp = q->next;
	ev_timer_stop(sup.loop, &q->timer);
	if (q->kind == Q_GATHER)
		sup_gather_reply(q);
	else if (ctl_client_alive(sup.ctl, q->client)) {
		if (q->kind == Q_ACCOUNTS)
			sup_accounts_reply(q);
		else if (q->kind == Q_METRICS)
			sup_metrics_reply(q);
		else
			sup_status_reply(q);
	}
	free(q);
}

/* A query is answered once every live, ready worker has replied to it. */
static void
sup_queries_check(void)
{
	struct status_query *q, *next;

	for (q = sup.queries; q; q = next) {
		int waiting = 0;

		next = q->next;
		for (struct worker *w = sup.workers; w; w = w->next)
			if (w->pid > 0 && w->chan && w->state == W_READY && w->status_id < q->id &&
			    (q->kind != Q_ACCOUNTS || w->role == ROLE_ACCOUNT))
				waiting++;
		if (!waiting)
			sup_query_finish(q);
	}
	if (sup.reloading) {
		int waiting = 0;

		for (struct worker *w = sup.workers; w; w = w->next)
			if (w->pid > 0 && w->chan && w->state != W_STOPPING &&
			    w->config_gen != sup.config_gen && w->state == W_READY)
				waiting++;
		if (!waiting)
			sup_reload_done();
	}
}

static void
sup_query_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	sup_query_finish(t->data);
}

static void
sup_status_begin(void *client, enum qkind kind, struct worker *from)
{
	struct status_query *q;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int accounts = kind == Q_ACCOUNTS;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		if (client)
			ctl_reply_error(sup.ctl, client, "out of memory");
		if (from)
			from->gathering = 0;
		return;
	}
	q->client = client;
	q->id = ++sup.status_seq;
	q->kind = kind;
	if (from) {
		q->from_role = from->role;
		q->from_instance = from->instance;
		q->from_pid = from->pid;
	}
	ev_timer_init(&q->timer, sup_query_timer_cb, STATUS_TIMEOUT_S, 0.);
	q->timer.data = q;
	ev_timer_start(sup.loop, &q->timer);
	q->next = sup.queries;
	sup.queries = q;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, accounts ? 2 : 1);
	mp_kv_u64(&pk, "id", q->id);
	if (accounts)
		mp_kv_str(&pk, "want", "accounts");
	for (struct worker *w = sup.workers; w; w = w->next)
		if (w->chan && w->state == W_READY && (!accounts || w->role == ROLE_ACCOUNT))
			ipc_send_sbuf(w->chan, IPC_STATUS_REQ, &sb);
	msgpack_sbuffer_destroy(&sb);
	sup_queries_check();
}

static void
sup_ctl_request(struct ctl_server *srv, void *client, const char *cmd,
    const msgpack_object *req, void *arg)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[1024];

	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "accounts") == 0 ||
	    strcmp(cmd, "metrics") == 0) {
		sup_status_begin(client, cmd[0] == 'a' ? Q_ACCOUNTS : cmd[0] == 'm' ? Q_METRICS :
		    Q_STATUS, NULL);
		return;
	}
	if (strcmp(cmd, "reload") == 0) {
		sup_reload("exfeedctl reload", err, sizeof(err));
		if (err[0]) {
			ctl_reply_error(srv, client, "%s", err);
			return;
		}
	} else if (strcmp(cmd, "stop") == 0) {
		/* reply first: the shutdown below may take a while */
	} else {
		ctl_reply_error(srv, client, "unknown command \"%s\" (known: status, accounts, metrics, reload, stop)", cmd);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	mp_kv_bool(&pk, "ok", 1);
	mp_kv_i64(&pk, "pid", getpid());
	ctl_reply(srv, client, &sb);
	msgpack_sbuffer_destroy(&sb);
	if (strcmp(cmd, "stop") == 0)
		sup_shutdown("exfeedctl stop");
}

/* ------------------------------------------------------------------ signals */

static void
sup_signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	switch (s->signum) {
	case SIGHUP:
		sup_reload("SIGHUP", NULL, 0);
		break;
	case SIGTERM:
	case SIGINT:
		sup_shutdown(s->signum == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGUSR1:
		if (log_reopen() == -1)
			log_warn("SIGUSR1: cannot reopen %s; still writing to the old file", sup.cfg.log);
		else
			log_info("SIGUSR1: log reopened");
		for (struct worker *w = sup.workers; w; w = w->next)
			if (w->chan)
				ipc_send_empty(w->chan, IPC_LOG_REOPEN);
		break;
	}
}

/* ------------------------------------------------------------------- start */

int
supervisor_main(const char *config_path, struct config *cfg, int foreground, int verbose)
{
	char err[512], kerr[1536], why[8400];
	pid_t holder;
	int keep_stderr, done_fd = -1, rc;

	memset(&sup.config_msg, 0, sizeof(sup.config_msg));
	sup.config_path = config_path;
	sup.cfg = *cfg;
	sup.verbose = verbose;
	sup.pidfd = -1;
	sup.pa.foreground = foreground;
	sup.pa.verbose = verbose;
	if (verbose)
		sup.cfg.log_level = CONF_LOG_DEBUG;
	/*
	 * Not the starting shell's umask: the modes of what we create are set
	 * explicitly too, this covers what a library or a later change makes.
	 */
	umask(DAEMON_UMASK);
	if ((sup.pa.exe = proc_self_exe()) == NULL || (sup.pa.exe_fd = proc_self_exe_fd()) == -1)
		fatal(1, "cannot find my own executable");
	sup.uid = geteuid();
	sup.gid = getegid();
	if (geteuid() == 0 && daemon_lookup_ids(&sup.cfg, &sup.uid, &sup.gid, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return EX_CONFIG_STATUS;
	}
	/* Before anything is created or detached: a bad key file is a configuration error. */
	if (sup_key_check(&sup.cfg, sup.uid, kerr, sizeof(kerr)) == -1) {
		fprintf(stderr, "%s\n", kerr);
		return EX_CONFIG_STATUS;
	}
	if (daemon_runtime_dir(sup.cfg.runtime_dir, sup.uid, sup.gid, why, sizeof(why)) == -1) {
		int line = config_line_of(&sup.cfg, "daemon", "runtime_dir");

		if (line > 0)
			fprintf(stderr, "%s:%d: [daemon] runtime_dir: %s\n", sup.cfg.file, line, why);
		else
			fprintf(stderr, "%s: [daemon] runtime_dir (the default): %s\n",
			    sup.cfg.file, why);
		return errno == EPERM ? EX_CONFIG_STATUS : 1;
	}
	if ((rc = daemon_log_open(&sup.cfg, foreground)) == -1) {
		int saved = errno;
		char fallback[4200];

		snprintf(fallback, sizeof(fallback), "%s/%s (log = syslog, nobody listening)",
		    sup.cfg.runtime_dir, DAEMON_FALLBACK_LOG);
		fprintf(stderr, "exfeedd: cannot open log file %s: %s\n",
		    strcmp(sup.cfg.log, "syslog") == 0 ? fallback : sup.cfg.log,
		    saved == ELOOP ? "it is a symbolic link (not followed)" :
		    saved == EMLINK ? "it has other names (hard links): not written" :
		    strerror(saved));
		return 1;
	}
	if (rc == 1) {
		fprintf(stderr, "exfeedd: log = syslog, but no syslog daemon listens on %s: logging "
		    "to %s/%s instead (exfeedctl preflight)\n", LOG_SYSLOG_SOCKET,
		    sup.cfg.runtime_dir, DAEMON_FALLBACK_LOG);
		log_warnx("log = syslog, but no syslog daemon listens on %s: logging here",
		    LOG_SYSLOG_SOCKET);
	}
	if (daemon_pidfile_acquire(sup.cfg.pidfile, &sup.pidfd, &holder) == -1) {
		if (holder > 0)
			fprintf(stderr, "exfeedd: already running as pid %ld (pidfile %s); not starting\n",
			    (long)holder, sup.cfg.pidfile);
		else if (holder == -1)
			fprintf(stderr, "exfeedd: another instance holds %s; not starting\n",
			    sup.cfg.pidfile);
		else
			fprintf(stderr, "exfeedd: cannot open pidfile %s: %s\n", sup.cfg.pidfile,
			    strerror(errno));
		return 1;
	}

	/*
	 * The workers reopen the file on USR1 as the user: hand it over, but
	 * only a plain file with one name (opened without following a link),
	 * so a hard link planted where the log goes cannot get another file.
	 */
	if (!foreground && log_fd() > 2 && geteuid() == 0) {
		struct stat st;

		if (fstat(log_fd(), &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
			log_warnx("log file %s is not a plain file with one name: not handing it "
			    "to %s (USR1 reopening may fail)", sup.cfg.log, sup.cfg.user);
		else if ((st.st_uid != sup.uid || st.st_gid != sup.gid) &&
		    fchown(log_fd(), sup.uid, sup.gid) == -1)
			log_warn("cannot hand log file %s to %s", sup.cfg.log, sup.cfg.user);
	}
	keep_stderr = strcmp(sup.cfg.log, "stderr") == 0;
	if (!foreground && daemon_detach(keep_stderr, &done_fd) == -1)
		fatal(1, "cannot detach");
	if (daemon_pidfile_write(sup.pidfd) == -1)
		fatal(1, "cannot write pidfile %s", sup.cfg.pidfile);
	daemon_detach_done(done_fd);
	if (fchown(sup.pidfd, sup.uid, sup.gid) == -1 && geteuid() == 0)
		log_warn("cannot chown pidfile");

	sup.loop = ev_default_loop(EVFLAG_AUTO);
	signal(SIGPIPE, SIG_IGN);
	if ((sup.ctl = ctl_listen(sup.loop, sup.cfg.control_socket, sup.uid, sup.gid,
	    sup_ctl_request, NULL)) == NULL)
		fatal(1, "cannot listen on control socket %s", sup.cfg.control_socket);
	if (geteuid() == 0 && sup.uid != 0) {
		if (daemon_drop_privileges(sup.uid, sup.gid, sup.cfg.user) == -1)
			fatal(1, "cannot drop privileges to %s:%s for good", sup.cfg.user,
			    sup.cfg.group);
		log_info("running as %s:%s", sup.cfg.user, sup.cfg.group);
	}
	if (daemon_no_new_privs() == -1)
		fatal(1, "prctl(PR_SET_NO_NEW_PRIVS)");
	daemon_core_dumps(&sup.cfg);
	proctitle_set("exfeedd: supervisor");
	sup.rng = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	sup.start_ms = monotonic_ms();

	ev_signal_init(&sup.sig_hup, sup_signal_cb, SIGHUP);
	ev_signal_init(&sup.sig_term, sup_signal_cb, SIGTERM);
	ev_signal_init(&sup.sig_int, sup_signal_cb, SIGINT);
	ev_signal_init(&sup.sig_usr1, sup_signal_cb, SIGUSR1);
	ev_signal_start(sup.loop, &sup.sig_hup);
	ev_signal_start(sup.loop, &sup.sig_term);
	ev_signal_start(sup.loop, &sup.sig_int);
	ev_signal_start(sup.loop, &sup.sig_usr1);
	ev_child_init(&sup.child, sup_child_cb, 0, 0);
	ev_child_start(sup.loop, &sup.child);
	ev_timer_init(&sup.janitor, sup_janitor_cb, JANITOR_INTERVAL_S, JANITOR_INTERVAL_S);
	ev_timer_start(sup.loop, &sup.janitor);
	ev_timer_init(&sup.reload_timer, sup_reload_timer_cb, 0., 0.);
	ev_timer_init(&sup.stage_timer, sup_stage_timer_cb, 0., 0.);

	log_info("exfeedd %s starting: pid %ld, config %s, %lld account shard%s%s",
	    PACKAGE_VERSION, (long)getpid(), config_path, (long long)sup.cfg.account_shards,
	    sup.cfg.account_shards == 1 ? "" : "s",
	    config_has_broker(&sup.cfg) ? ", embedded Kafka broker (in-memory: evaluation only)" : "");
	sup_pack_config();
	sup_apply_worker_set();

	ev_run(sup.loop, 0);

	/* The pidfile goes first: exfeedctl stop returns when the socket closes. */
	daemon_pidfile_remove(sup.cfg.pidfile, sup.pidfd);
	log_info("stopped");
	ctl_close(sup.ctl);
	msgpack_sbuffer_destroy(&sup.config_msg);
	config_free(&sup.cfg);
	*cfg = (struct config){ 0 };
	return 0;
}
