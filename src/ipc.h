/*
 * ipc.h: framed msgpack messages between exfeedd processes.
 * A frame is a fixed 12-byte header (magic, type, body length, sequence, all
 * big-endian) and one msgpack map of at most the type's size limit.  Every
 * field is checked before the body is touched; any violation drops the peer.
 */
#ifndef EXFEEDD_IPC_H
#define EXFEEDD_IPC_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <msgpack.h>

#define IPC_MAGIC	0xEFD1
#define IPC_HDR_LEN	12

enum ipc_type {
	IPC_READY = 1,		/* worker → supervisor: {pid, role, instance,
				   bootstraps (the broker role only)} */
	IPC_HEARTBEAT,		/* worker → supervisor: {} */
	IPC_STATUS_REQ,		/* supervisor → worker: {id} */
	IPC_STATUS,		/* worker → supervisor: {id, ...role detail} */
	IPC_CONFIG,		/* supervisor → worker: the whole config */
	IPC_CONFIG_ACK,		/* worker → supervisor: {ok, error} */
	IPC_RECONCILE,		/* supervisor → worker: {} */
	IPC_SHUTDOWN,		/* supervisor → worker: {} */
	IPC_LOG_REOPEN,		/* supervisor → worker: {} */
	IPC_FATAL,		/* worker → supervisor: {reason}, then exit 78 */
	IPC_CTL_REQUEST,	/* exfeedctl → supervisor: {cmd, ...} */
	IPC_CTL_REPLY,		/* supervisor → exfeedctl: {ok, error | ...} */
	/*
	 * Data plane: senders (account, market workers) connect to the writer's
	 * socket, <runtime_dir>/writer.sock.  Event sequence numbers are per
	 * sender and survive reconnects; the writer acks the highest sequence
	 * number whose events (and all before it) are committed.
	 */
	IPC_DP_HELLO,		/* sender → writer: {role, instance, pid} */
	IPC_DP_EVENTS,		/* sender → writer: {ev: [event map, ...]} (event.h) */
	IPC_DP_ACK,		/* writer → sender: {seq} */
	/*
	 * The embedded broker's bootstrap address, which its READY carried:
	 * sent after CONFIG to a writer that starts, and to the running writer
	 * whenever a restarted broker reports a new one.
	 */
	IPC_KAFKA_BOOTSTRAP,	/* supervisor → worker: {bootstraps} */
	/*
	 * The gateway's /metrics, /health and ops feed: the supervisor asks
	 * every worker for its status (as for exfeedctl status, with the same
	 * deadline) and answers with the exposition (metrics.h), the worker
	 * states and a summary (ipcmsg.h).
	 */
	IPC_GATHER_REQ,		/* worker → supervisor: {} */
	IPC_GATHER,		/* supervisor → worker: {text, workers, summary} */
	/*
	 * The gateway's market interest (gwfeed.h): which market streams its
	 * clients read, sent to the market worker's feed connection after its
	 * HELLO and whenever it changes.
	 */
	IPC_GW_INTEREST,	/* gateway → market sender: {s: [[symbol, channels, intervals], ...]} */
	IPC_TYPE_MAX
};

#define IPC_BIT(t)	(1u << (t))
/* What each end accepts. */
#define IPC_ACCEPT_SUPERVISOR	(IPC_BIT(IPC_READY) | IPC_BIT(IPC_HEARTBEAT) | \
	IPC_BIT(IPC_STATUS) | IPC_BIT(IPC_CONFIG_ACK) | IPC_BIT(IPC_FATAL) | \
	IPC_BIT(IPC_GATHER_REQ))
#define IPC_ACCEPT_WORKER	(IPC_BIT(IPC_STATUS_REQ) | IPC_BIT(IPC_CONFIG) | \
	IPC_BIT(IPC_RECONCILE) | IPC_BIT(IPC_SHUTDOWN) | IPC_BIT(IPC_LOG_REOPEN) | \
	IPC_BIT(IPC_KAFKA_BOOTSTRAP) | IPC_BIT(IPC_GATHER))
#define IPC_ACCEPT_CTL_SERVER	(IPC_BIT(IPC_CTL_REQUEST))
#define IPC_ACCEPT_CTL_CLIENT	(IPC_BIT(IPC_CTL_REPLY))
#define IPC_ACCEPT_WRITER	(IPC_BIT(IPC_DP_HELLO) | IPC_BIT(IPC_DP_EVENTS))
#define IPC_ACCEPT_DP_SENDER	(IPC_BIT(IPC_DP_ACK))
#define IPC_ACCEPT_GW_SENDER	(IPC_BIT(IPC_GW_INTEREST))

struct ipc_hdr {
	uint16_t	 magic;
	uint16_t	 type;
	uint32_t	 len;
	uint32_t	 seq;
};

const char *ipc_type_name(unsigned);
size_t	 ipc_max_body(unsigned type);
void	 ipc_hdr_encode(unsigned char *, unsigned type, uint32_t len, uint32_t seq);
/*
 * Check the frame at the start of buf.  Returns 0 if more bytes are needed,
 * the whole frame length if one is complete and valid (its body a single
 * msgpack map, unpacked into *out), or -1 with *err set.
 */
ssize_t	 ipc_frame_parse(const unsigned char *buf, size_t len, uint32_t accept_mask,
	    uint32_t expect_seq, struct ipc_hdr *, msgpack_unpacked *out, const char **err);

struct ipc_conn;
typedef void (*ipc_msg_fn)(struct ipc_conn *, const struct ipc_hdr *,
    const msgpack_object *body, void *arg);
typedef void (*ipc_close_fn)(struct ipc_conn *, const char *why, void *arg);

struct ipc_conn *ipc_conn_new(struct ev_loop *, int fd, const char *peer,
	    uint32_t accept_mask, ipc_msg_fn, ipc_close_fn, void *arg);
int	 ipc_send(struct ipc_conn *, unsigned type, const void *body, size_t len);
int	 ipc_send_sbuf(struct ipc_conn *, unsigned type, const msgpack_sbuffer *);
int	 ipc_send_empty(struct ipc_conn *, unsigned type);
/* Drop the peer: logs `why`, closes the fd, frees the conn (deferred while dispatching). */
void	 ipc_drop(struct ipc_conn *, const char *why);
void	 ipc_close(struct ipc_conn *);
void	 ipc_drain(struct ipc_conn *);
int	 ipc_flush(struct ipc_conn *, int timeout_ms);
const char *ipc_peer(const struct ipc_conn *);
size_t	 ipc_pending(const struct ipc_conn *);
/* Back-pressure: stop (1) or resume (0) reading from the peer. */
void	 ipc_pause(struct ipc_conn *, int paused);

struct sockaddr_un;
int	 ipc_unix_addr(const char *path, struct sockaddr_un *);

/* Blocking forms for short-lived clients (exfeedctl) and last words (FATAL). */
int	 ipc_write_frame(int fd, unsigned type, uint32_t seq, const void *body, size_t len);
int	 ipc_read_frame(int fd, uint32_t accept_mask, uint32_t expect_seq, int timeout_ms,
	    unsigned char **buf, struct ipc_hdr *, msgpack_unpacked *, const char **err);

#endif
