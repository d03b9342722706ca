/*
 * resolve.c: host names looked up in short-lived threads, answered on a
 * socket the loop watches (resolve.h).
 *
 * A lookup's thread owns its copy of the name and the writing end of a
 * socket pair; the loop owns the reading end.  Nothing else is shared but
 * the count of live threads.  Giving up (deadline or cancel) closes the
 * reading end, so the thread's late answer fails to send and the thread
 * frees what it owns and ends: no thread is ever waited for or killed.
 * The count bounds how many a resolver that never answers can leave behind.
 */
#include "autoconf.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resolve.h"

struct resolve {
	struct ev_loop	*loop;
	ev_io		 io;
	ev_timer	 timer;		/* the deadline, or the deferred failure */
	int		 fd;
	int		 timeout_ms;
	resolve_fn	 cb;
	void		*arg;
	char		 host[256];
	char		 err[384];	/* a failure found before the lookup began */
};

struct resolve_job {
	int		 fd;
	char		 host[256];
};

static atomic_int resolve_threads;

/*
 * "+address address ..." or "-why": one datagram of a SOCK_SEQPACKET pair,
 * whole or not at all.
 */
static void *
resolve_thread(void *p)
{
	struct resolve_job *j = p;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char msg[RESOLVE_LIST_LEN + 2], addr[64], *dup;
	size_t len = 1, alen;
	int rc, n = 0;

	if ((rc = getaddrinfo(j->host, NULL, &hints, &res)) != 0)
		snprintf(msg, sizeof(msg), "-cannot resolve %s: %s", j->host, gai_strerror(rc));
	else {
		msg[0] = '+';
		msg[1] = '\0';
		for (ai = res; ai != NULL && n < RESOLVE_ADDRS_MAX; ai = ai->ai_next) {
			if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0,
			    NI_NUMERICHOST) != 0)
				continue;
			/* Each address once (getaddrinfo repeats them per protocol). */
			dup = strstr(msg + 1, addr);
			alen = strlen(addr);
			if (dup != NULL && (dup[alen] == ' ' || dup[alen] == '\0') &&
			    (dup == msg + 1 || dup[-1] == ' '))
				continue;
			if (len + alen + 1 >= sizeof(msg))
				break;
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s",
			    n ? " " : "", addr);
			n++;
		}
		freeaddrinfo(res);
		if (n == 0)
			snprintf(msg, sizeof(msg), "-cannot resolve %s: no address that can be "
			    "formatted", j->host);
	}
	/* EPIPE when the loop gave up on us: nobody is left to tell. */
	(void)!send(j->fd, msg, strlen(msg), MSG_NOSIGNAL);
	close(j->fd);
	free(j);
	atomic_fetch_sub(&resolve_threads, 1);
	return NULL;
}

static void
resolve_free(struct resolve *r)
{
	ev_io_stop(r->loop, &r->io);
	ev_timer_stop(r->loop, &r->timer);
	if (r->fd != -1)
		close(r->fd);
	free(r);
}

static void
resolve_finish(struct resolve *r, const char *addr, const char *err)
{
	resolve_fn cb = r->cb;
	void *arg = r->arg;
	char a[RESOLVE_LIST_LEN + 1], e[384];

	/* Copies: r is gone before the callback, which may start the next lookup. */
	snprintf(a, sizeof(a), "%s", addr ? addr : "");
	snprintf(e, sizeof(e), "%s", err ? err : "");
	resolve_free(r);
	cb(addr ? a : NULL, addr ? NULL : e, arg);
}

static void
resolve_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct resolve *r = w->data;
	char buf[RESOLVE_LIST_LEN + 2];
	ssize_t n;

	n = recv(r->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 1) {
		resolve_finish(r, NULL, "the lookup ended without an answer");
		return;
	}
	buf[n] = '\0';
	if (buf[0] == '+')
		resolve_finish(r, buf + 1, NULL);
	else
		resolve_finish(r, NULL, buf + 1);
}

static void
resolve_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct resolve *r = t->data;
	char why[384];

	if (r->err[0]) {
		resolve_finish(r, NULL, r->err);
		return;
	}
	snprintf(why, sizeof(why), "cannot resolve %s: no answer from the resolver in %d ms",
	    r->host, r->timeout_ms);
	resolve_finish(r, NULL, why);
}

/* The thread, with every signal blocked: signals are the loop's to handle. */
static int
resolve_spawn(struct resolve_job *j)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int rc;

	if (atomic_fetch_add(&resolve_threads, 1) >= RESOLVE_THREADS_MAX) {
		atomic_fetch_sub(&resolve_threads, 1);
		return EAGAIN;
	}
	if ((rc = pthread_attr_init(&attr)) != 0) {
		atomic_fetch_sub(&resolve_threads, 1);
		return rc;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&tid, &attr, resolve_thread, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		atomic_fetch_sub(&resolve_threads, 1);
	return rc;
}

struct resolve *
resolve_start(struct ev_loop *loop, const char *host, int timeout_ms, resolve_fn cb, void *arg)
{
	struct resolve *r;
	struct resolve_job *j = NULL;
	int sv[2] = { -1, -1 }, rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->loop = loop;
	r->fd = -1;
	r->timeout_ms = timeout_ms;
	r->cb = cb;
	r->arg = arg;
	snprintf(r->host, sizeof(r->host), "%s", host);
	ev_timer_init(&r->timer, resolve_timer_cb, (double)timeout_ms / 1000., 0.);
	r->timer.data = r;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(r->err, sizeof(r->err), "cannot resolve %s: socketpair: %s", host,
		    strerror(errno));
		goto deferred;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		snprintf(r->err, sizeof(r->err), "cannot resolve %s: out of memory", host);
		goto deferred;
	}
	j->fd = sv[1];
	snprintf(j->host, sizeof(j->host), "%s", host);
	if ((rc = resolve_spawn(j)) != 0) {
		if (rc == EAGAIN)
			snprintf(r->err, sizeof(r->err), "cannot resolve %s: %d earlier lookups "
			    "still running (the resolver does not answer)", host,
			    RESOLVE_THREADS_MAX);
		else
			snprintf(r->err, sizeof(r->err), "cannot resolve %s: cannot start a "
			    "thread: %s", host, strerror(rc));
		goto deferred;
	}
	r->fd = sv[0];
	ev_io_init(&r->io, resolve_io_cb, r->fd, EV_READ);
	r->io.data = r;
	ev_io_start(loop, &r->io);
	ev_timer_start(loop, &r->timer);
	return r;

deferred:
	free(j);
	if (sv[0] != -1) {
		close(sv[0]);
		close(sv[1]);
	}
	ev_timer_set(&r->timer, 0., 0.);
	ev_timer_start(loop, &r->timer);
	return r;
}

void
resolve_cancel(struct resolve *r)
{
	if (r)
		resolve_free(r);
}
