/*
 * ctl.c: the supervisor's control socket.  A Unix stream socket, mode 0600,
 * that admits only root and the daemon's own uid (SO_PEERCRED), and speaks
 * the same framed msgpack as the workers: CTL_REQUEST in, CTL_REPLY out.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "exfeedd.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "mpack.h"

#define CTL_MAX_CLIENTS	16
/*
 * A client that holds a slot without a request in progress for this long
 * is dropped: CTL_MAX_CLIENTS idle connections cannot lock the operator out.
 */
#define CTL_IDLE_S	10.

struct ctl_client {
	struct ctl_server	*srv;
	struct ipc_conn		*conn;
	pid_t			 pid;
	uid_t			 uid;
	int			 used;
	ev_timer		 idle;		/* runs while no request is in progress */
};

struct ctl_server {
	struct ev_loop		*loop;
	int			 fd;
	ev_io			 accept_io;
	char			 path[108];
	ctl_request_fn		 on_request;
	void			*arg;
	struct ctl_client	 clients[CTL_MAX_CLIENTS];
	struct log_ratelimit	 rl;		/* refusals */
	struct log_ratelimit	 rl_drop;	/* clients dropped: not hidden by refusals */
};

static void
ctl_client_close_cb(struct ipc_conn *c, const char *why, void *arg)
{
	struct ctl_client *cl = arg;

	if (strcmp(why, "end of file") != 0)
		log_warnx_rl(&cl->srv->rl_drop, "control client pid %ld: %s; dropped", (long)cl->pid,
		    why);
	ev_timer_stop(cl->srv->loop, &cl->idle);
	cl->conn = NULL;
	cl->used = 0;
}

static void
ctl_client_msg_cb(struct ipc_conn *c, const struct ipc_hdr *h, const msgpack_object *body,
    void *arg)
{
	struct ctl_client *cl = arg;
	const char *why;
	char cmd[64];

	if (ipcmsg_ctl_request(body, cmd, sizeof(cmd), &why) == -1) {
		ipc_drop(c, why);
		return;
	}
	log_debug("control client pid %ld: %s", (long)cl->pid, cmd);
	ev_timer_stop(cl->srv->loop, &cl->idle);	/* until the reply */
	cl->srv->on_request(cl->srv, cl, cmd, body, cl->srv->arg);
}

static void
ctl_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl_client *cl = w->data;

	if (cl->used && cl->conn != NULL)
		ipc_drop(cl->conn, "connected 10 s without a request");
}

static void
ctl_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_server *srv = w->data;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char peer[64];
	int fd, slot;

	if ((fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control socket: accept");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1) {
		log_warn("control socket: SO_PEERCRED");
		close(fd);
		return;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		log_warnx_rl(&srv->rl, "control socket: refused pid %ld uid %ld (only root and uid %ld)",
		    (long)cred.pid, (long)cred.uid, (long)geteuid());
		close(fd);
		return;
	}
	for (slot = 0; slot < CTL_MAX_CLIENTS && srv->clients[slot].used; slot++)
		;
	if (slot == CTL_MAX_CLIENTS) {
		log_warnx_rl(&srv->rl, "control socket: %d clients connected; refused pid %ld",
		    CTL_MAX_CLIENTS, (long)cred.pid);
		close(fd);
		return;
	}
	snprintf(peer, sizeof(peer), "control client pid %ld", (long)cred.pid);
	srv->clients[slot] = (struct ctl_client){ .srv = srv, .pid = cred.pid, .uid = cred.uid,
	    .used = 1 };
	ev_timer_init(&srv->clients[slot].idle, ctl_idle_cb, CTL_IDLE_S, CTL_IDLE_S);
	srv->clients[slot].idle.data = &srv->clients[slot];
	srv->clients[slot].conn = ipc_conn_new(loop, fd, peer, IPC_ACCEPT_CTL_SERVER,
	    ctl_client_msg_cb, ctl_client_close_cb, &srv->clients[slot]);
	if (srv->clients[slot].conn == NULL) {
		close(fd);
		srv->clients[slot].used = 0;
		return;
	}
	ev_timer_again(loop, &srv->clients[slot].idle);
}

struct ctl_server *
ctl_listen(struct ev_loop *loop, const char *path, uid_t owner, gid_t group,
    ctl_request_fn fn, void *arg)
{
	struct ctl_server *srv;
	struct sockaddr_un sun;
	mode_t omask;

	if (ipc_unix_addr(path, &sun) == -1)
		return NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	srv->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 20);
	srv->rl_drop = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 20);
	if ((srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	/* We hold the pidfile lock, so a socket left here is a dead instance's. */
	unlink(path);
	omask = umask(0177);
	if (bind(srv->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(omask);
		goto fail;
	}
	umask(omask);
	/*
	 * 0600 from the umask at bind; the owner by lchown, never through a
	 * link the user could have put in the socket's place since.
	 */
	if ((geteuid() == 0 && lchown(path, owner, group) == -1) ||
	    listen(srv->fd, 16) == -1)
		goto fail;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	srv->loop = loop;
	srv->on_request = fn;
	srv->arg = arg;
	ev_io_init(&srv->accept_io, ctl_accept_cb, srv->fd, EV_READ);
	srv->accept_io.data = srv;
	ev_io_start(loop, &srv->accept_io);
	return srv;
fail:
	{
		int saved = errno;

		if (srv->fd >= 0)
			close(srv->fd);
		free(srv);
		errno = saved;
	}
	return NULL;
}

int
ctl_client_alive(struct ctl_server *srv, void *client)
{
	struct ctl_client *cl = client;

	return cl->used && cl->conn != NULL;
}

int
ctl_reply(struct ctl_server *srv, void *client, const msgpack_sbuffer *sb)
{
	struct ctl_client *cl = client;

	if (!ctl_client_alive(srv, client))
		return -1;
	ev_timer_again(srv->loop, &cl->idle);	/* answered: idle again */
	return ipc_send_sbuf(cl->conn, IPC_CTL_REPLY, sb);
}

int
ctl_reply_error(struct ctl_server *srv, void *client, const char *fmt, ...)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char msg[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	mp_kv_bool(&pk, "ok", 0);
	mp_kv_str(&pk, "error", msg);
	rc = ctl_reply(srv, client, &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

void
ctl_close(struct ctl_server *srv)
{
	if (srv == NULL)
		return;
	ev_io_stop(srv->loop, &srv->accept_io);
	close(srv->fd);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (srv->clients[i].used && srv->clients[i].conn) {
			ev_timer_stop(srv->loop, &srv->clients[i].idle);
			ipc_close(srv->clients[i].conn);	/* no callback: srv is going */
		}
	if (unlink(srv->path) == -1 && errno != ENOENT)
		log_warn("cannot remove control socket %s", srv->path);
	free(srv);
}
