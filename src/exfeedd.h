/*
 * exfeedd.h: roles and the prototypes of the process plumbing, grouped by the
 * file that defines them (OpenBSD style: one header, one section per file).
 */
#ifndef EXFEEDD_H
#define EXFEEDD_H

#include <stdint.h>
#include <sys/types.h>

#include <ev.h>
#include <msgpack.h>

#include "config.h"

#define WORKER_CHANNEL_FD	3	/* the control socketpair, in every worker */
#define EX_PROTOCOL_STATUS	76	/* sysexits EX_PROTOCOL: our peer broke the protocol */

enum role { ROLE_ACCOUNT, ROLE_MARKET, ROLE_WRITER, ROLE_GATEWAY, ROLE_BROKER, ROLE_MAX };

/* role.c */
const char *role_name(enum role);
int	 role_parse(const char *, enum role *);
/* Shutdown order: gateway (0), market and account (1), writer (2), broker (3). */
int	 role_stage(enum role);
int	 role_count(enum role, const struct config *);

/* proc.c: fork+exec of workers and the respawn arithmetic */
struct proc_args {
	const char	*exe;		/* the daemon binary's path (for messages) */
	int		 exe_fd;	/* the binary, opened O_PATH before the privilege
					   drop: workers are executed through it, so
					   the path need not be reachable as the user */
	int		 foreground;
	int		 verbose;
};
/*
 * Fork and execute a worker of role/instance through pa->exe_fd; *chan_fd
 * is the supervisor's end of its channel.  Returns the pid; -1 when no
 * process could be made (fork, pipes: err says why, errno set); -2 when the
 * binary could not be executed (err: "cannot execute PATH: <errno text>"):
 * a failed exec is reported here, not as a worker that died.
 */
pid_t	 proc_spawn(const struct proc_args *, enum role, int instance, int *chan_fd,
	    char *err, size_t errlen);
int64_t	 proc_backoff_ms(unsigned consecutive_failures, int died_before_ready,
	    int64_t min_ms, int64_t max_ms, int64_t throttle_ms, uint32_t rnd);
void	 proc_describe_status(int status, char *, size_t);
/*
 * A worker's deaths before READY, for telling a configuration error from a
 * crash loop: proc_early_note() adds one exit (its status text, as
 * proc_describe_status writes it, and its reason, "" if none) and returns
 * how many deaths in a row were before READY and alike; an exit after
 * READY returns 0 and starts the count again.
 */
struct proc_early {
	unsigned	 n;
	char		 last[384];
};
unsigned proc_early_note(struct proc_early *, int died_before_ready, const char *status,
	    const char *reason);
const char *proc_self_exe(void);
/* The running binary opened O_PATH|O_CLOEXEC, or -1 with errno set. */
int	 proc_self_exe_fd(void);

/* proctitle.c */
void	 proctitle_init(int argc, char **argv);
void	 proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* daemon.c: detaching, pidfile, runtime dir, privileges */
int	 daemon_pidfile_acquire(const char *path, int *fd, pid_t *holder);
int	 daemon_pidfile_write(int fd);
void	 daemon_pidfile_remove(const char *path, int fd);
int	 daemon_detach(int keep_stderr, int *done_fd);
void	 daemon_detach_done(int done_fd);
int	 daemon_runtime_dir(const char *dir, uid_t, gid_t, char *why, size_t whylen);
/* Without changing anything: -1 with why if daemon_runtime_dir would refuse dir. */
int	 daemon_runtime_dir_check(const char *dir, uid_t, char *why, size_t whylen);
int	 daemon_lookup_ids(const struct config *, uid_t *, gid_t *, char *err, size_t errlen);
int	 daemon_drop_privileges(uid_t, gid_t, const char *user);
int	 daemon_no_new_privs(void);
/* Set explicitly, whatever the umask: the directory is the daemon's alone. */
#define DAEMON_RUNTIME_DIR_MODE	0750
#define DAEMON_PIDFILE_MODE	0644
/* The supervisor's umask, inherited by every worker: nothing world-readable. */
#define DAEMON_UMASK		0027
/*
 * Open the configured log target: in the foreground, or with log = stderr,
 * standard error; log = syslog, syslog, unless no syslog daemon listens on
 * LOG_SYSLOG_SOCKET: then the file DAEMON_FALLBACK_LOG in the runtime
 * directory (returns 1; the caller says so where someone sees it); else
 * the file.  0 or 1, or -1 with errno when the file cannot be opened.
 */
#define DAEMON_FALLBACK_LOG	"exfeedd.log"
int	 daemon_log_open(const struct config *, int foreground);
void	 daemon_core_dumps(const struct config *);

/* supervisor.c */
int	 supervisor_main(const char *config_path, struct config *, int foreground, int verbose);

/* ctl.c: the supervisor's control socket */
struct ctl_server;
typedef void (*ctl_request_fn)(struct ctl_server *, void *client, const char *cmd,
    const msgpack_object *req, void *arg);
struct ctl_server *ctl_listen(struct ev_loop *, const char *path, uid_t owner, gid_t group,
	    ctl_request_fn, void *arg);
int	 ctl_reply(struct ctl_server *, void *client, const msgpack_sbuffer *);
int	 ctl_reply_error(struct ctl_server *, void *client, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 ctl_close(struct ctl_server *);
int	 ctl_client_alive(struct ctl_server *, void *client);

/* worker.c: the runtime every worker role runs in */
struct worker_role {
	const char	*name;
	/* First config received: set up, then call worker_ready() (now or later). */
	void		(*start)(struct ev_loop *, const struct config *);
	/* A reloaded config has been swapped in; `old` is still valid during the call. */
	void		(*reconfigure)(const struct config *cfg, const struct config *old);
	/* Supervisor asks to reconcile (HUP). */
	void		(*reconcile)(void);
	/* Pack role detail as one msgpack map. */
	void		(*status)(msgpack_packer *);
	/* Begin an orderly stop; call worker_stopped() when done. */
	void		(*stop)(void);
};
int	 worker_main(enum role, int instance, int foreground, int verbose);
void	 worker_ready(void);
/* worker_ready() for the broker role: READY carries its bootstrap address. */
void	 worker_ready_bootstraps(const char *bootstraps);
/*
 * [kafka] brokers = embedded: the broker role's bootstrap address
 * ("127.0.0.1:PORT").  cb runs on the loop for every address the supervisor
 * sends (a restarted broker's new one too), at once if one came before it
 * was registered, and not once the worker is stopping.  The writer's.
 */
void	 worker_on_kafka_bootstrap(void (*cb)(const char *bootstraps));
/*
 * The gateway's /metrics, /health and ops feed: ask the supervisor for
 * every worker's metrics (IPC_GATHER_REQ).  fn runs on the loop with its
 * answer (checked: ipcmsg_gather; valid during the call), not once the
 * worker is stopping.  The supervisor answers one request at a time and
 * within its status deadline (1 s) plus the rendering; the caller keeps its
 * own deadline.  0, or -1 when the channel is gone.
 */
struct ipcmsg_gather;
typedef void (*worker_gather_fn)(const struct ipcmsg_gather *, void *arg);
int	 worker_gather(worker_gather_fn, void *arg);
void	 worker_stopped(void);
void	 worker_fatal(int status, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
int	 worker_instance(void);
const struct config *worker_config(void);
/* Inside worker_role.status: did the query ask for this extra detail ("accounts")? */
int	 worker_status_want(const char *what);

extern const struct worker_role account_role, market_role, writer_role, gateway_role,
	    broker_role;

#endif
