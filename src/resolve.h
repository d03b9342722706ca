/*
 * resolve.h: one host name looked up off a worker's event loop, with a
 * deadline.
 *
 * getaddrinfo blocks for as long as the resolver takes (seconds per
 * nameserver and attempt, more with a slow NSS module), and Debian's lws 4.1
 * has no asynchronous DNS (LWS_WITH_SYS_ASYNC_DNS unset): it would block the
 * loop in every connect (MEASURED.md).  Each lookup runs in a short-lived
 * thread of its own; the loop waits for its answer on a socket and gives up
 * at the deadline.  The callback runs exactly once unless cancelled, never
 * from inside resolve_start().
 */
#ifndef EXFEEDD_RESOLVE_H
#define EXFEEDD_RESOLVE_H

#include <ev.h>

/* At most this many lookup threads at once, those given up on included. */
#define RESOLVE_THREADS_MAX	4

struct resolve;

/* At most this many distinct addresses of a name are handed back. */
#define RESOLVE_ADDRS_MAX	8
/* The longest list: RESOLVE_ADDRS_MAX numeric addresses and their spaces. */
#define RESOLVE_LIST_LEN	(RESOLVE_ADDRS_MAX * 64)

/*
 * addrs: the addresses found, numeric, in getaddrinfo's order (RFC 6724),
 * separated by single spaces; or NULL and err says why.
 */
typedef void (*resolve_fn)(const char *addrs, const char *err, void *arg);

struct resolve *resolve_start(struct ev_loop *, const char *host, int timeout_ms, resolve_fn,
	    void *arg);
/* No callback follows; the lookup's thread, if still running, ends on its own. */
void	 resolve_cancel(struct resolve *);

#endif
