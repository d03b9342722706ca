/*
 * ipcmsg.h: the body of each message between exfeedd processes (ipc.h),
 * checked and read into a fixed struct in one place.  The receivers - the
 * supervisor, a worker, the control server, the writer and a data-plane
 * sender - act only on what these return, and t/fuzz/fuzz_ipc feeds them
 * whatever a peer could send.  Each returns 0, or -1 with *why (a static
 * message for the receiver's ipc_drop).
 */
#ifndef EXFEEDD_IPCMSG_H
#define EXFEEDD_IPCMSG_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "config.h"

#define IPCMSG_ROLE_LEN	16
/*
 * A Kafka bootstrap list: host:port[,host:port...], at most 255 bytes,
 * hosts of letters, digits, '.', '-', '_' or a bracketed IPv6 address,
 * ports 1-65535.  librdkafka's mock cluster gives "127.0.0.1:PORT".
 */
#define IPCMSG_BOOTSTRAPS_LEN	256

/*
 * IPC_READY (worker → supervisor): {pid > 0, role, instance >= 0,
 * bootstraps (optional: the embedded broker's address; "" if absent)}.
 */
struct ipcmsg_ready {
	int64_t		 pid;
	char		 role[IPCMSG_ROLE_LEN];
	int64_t		 instance;
	char		 bootstraps[IPCMSG_BOOTSTRAPS_LEN];
};
int	 ipcmsg_ready(const msgpack_object *, struct ipcmsg_ready *, const char **why);
/* IPC_STATUS_REQ: {id >= 0, want (optional: "" unless given)}. */
int	 ipcmsg_status_req(const msgpack_object *, int64_t *id, char *want, size_t wantlen,
	    const char **why);
/* IPC_STATUS: {id >= 0, ...the role's detail}. */
int	 ipcmsg_status(const msgpack_object *, int64_t *id, const char **why);
/* IPC_CONFIG_ACK: {gen, ok, error (when not ok; "" if absent)}. */
struct ipcmsg_config_ack {
	int64_t		 gen;
	int		 ok;
	char		 error[256];
};
int	 ipcmsg_config_ack(const msgpack_object *, struct ipcmsg_config_ack *, const char **why);
/* IPC_FATAL: {reason}; a missing one reads "(no reason given)".  Always 0. */
int	 ipcmsg_fatal(const msgpack_object *, char *reason, size_t len);
/*
 * IPC_CONFIG (supervisor → worker): {gen > 0, config: config_pack's map}
 * into *cfg (config_free it).  On -1, errs holds the config's own errors
 * if it had any (config_errors_free it either way).
 */
int	 ipcmsg_config(const msgpack_object *, int64_t *gen, struct config *,
	    struct config_errors *, const char **why);
/* IPC_KAFKA_BOOTSTRAP (supervisor → worker): {bootstraps}, not empty, into buf. */
int	 ipcmsg_kafka_bootstrap(const msgpack_object *, char *buf, size_t len, const char **why);
/* IPC_CTL_REQUEST: {cmd, ...}. */
int	 ipcmsg_ctl_request(const msgpack_object *, char *cmd, size_t len, const char **why);
/* IPC_DP_HELLO (sender → writer): {role (not empty), instance >= 0, pid > 0}. */
struct ipcmsg_dp_hello {
	char		 role[IPCMSG_ROLE_LEN];
	int64_t		 instance;
	int64_t		 pid;
};
int	 ipcmsg_dp_hello(const msgpack_object *, struct ipcmsg_dp_hello *, const char **why);
/* IPC_DP_EVENTS: {ev: [event map, ...]}: the array (each read by ev_unpack). */
int	 ipcmsg_dp_events(const msgpack_object *, const msgpack_object **arr, const char **why);
/* IPC_DP_ACK (writer → sender): {seq >= 0}. */
int	 ipcmsg_dp_ack(const msgpack_object *, int64_t *seq, const char **why);

/*
 * IPC_GATHER (supervisor → worker): {text: the Prometheus exposition,
 * workers: [{role, instance >= 0, pid >= 0, state, restarts >= 0}, ...],
 * summary: a map (metrics_summary_pack)}; every worker entry is checked
 * here, ipcmsg_gather_worker then reads the i-th.
 */
struct ipcmsg_gather {
	const char		*text;		/* not NUL-terminated */
	size_t			 textlen;
	const msgpack_object	*workers;	/* an array */
	const msgpack_object	*summary;	/* a map */
};
struct ipcmsg_gather_worker {
	char		 role[IPCMSG_ROLE_LEN];
	char		 state[IPCMSG_ROLE_LEN];
	int64_t		 instance;
	int64_t		 pid;
	int64_t		 restarts;
};
int	 ipcmsg_gather(const msgpack_object *, struct ipcmsg_gather *, const char **why);
void	 ipcmsg_gather_worker(const struct ipcmsg_gather *, size_t i,
	    struct ipcmsg_gather_worker *);

#endif
