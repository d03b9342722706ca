/*
 * account_addr.c: the exchange's addresses for the account worker.
 *
 * Connections go to a numeric address with the host name as Host header,
 * SNI and the name TLS verifies (net.h); the address comes from a lookup off
 * the loop (resolve.h) with a deadline.  A lookup that fails is tried again
 * on its own, ADDR_RETRY_MIN_MS doubling to ADDR_RETRY_MAX_MS with jitter;
 * until one succeeds the accounts wait and say why.  A name that resolved
 * is looked up again every ADDR_REFRESH_MS, and soon after a connection to
 * it failed or was lost (not more often than ADDR_RECHECK_MS): the exchange
 * moving its addresses is followed without a reload, and a lookup that
 * fails then keeps the address that worked.  A name with several addresses
 * (IPv6 and IPv4, several records) is tried address after address: each
 * failed or lost connection moves the next one to the next address, so an
 * address that does not answer (::1 where the server listens on 127.0.0.1,
 * IPv6 without a route) costs one attempt, not the account.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "account.h"
#include "mpack.h"
#include "resolve.h"

#define ADDR_TIMEOUT_MS		10000		/* one lookup's deadline */
#define ADDR_RETRY_MIN_MS	1000
#define ADDR_RETRY_MAX_MS	60000
#define ADDR_REFRESH_MS		(5 * 60 * 1000)	/* a name that resolved, looked up again */
#define ADDR_RECHECK_MS		5000		/* after a failed connection, at most this often */

struct addr_slot {
	struct net_endpoint	*ep;
	const char		*key;		/* its config key, for the log */
	struct resolve		*q;		/* the lookup under way */
	ev_timer		 timer;		/* the next lookup */
	unsigned		 fails;		/* lookups failed in a row */
	int64_t			 done_ms;	/* wall clock: the last lookup ended */
	int64_t			 next_ms;	/* wall clock: the timer's */
	char			 error[384];	/* why the last lookup failed, "" if it did not */
	char			 addrs[RESOLVE_ADDRS_MAX][64];	/* the last lookup's */
	int			 naddrs, cur;	/* ep->addr is addrs[cur] */
	struct log_ratelimit	 rl;
};

static struct addr_slot slots[2];
static char waiting[512];

static void addr_lookup(struct addr_slot *);

static void
addr_at(struct addr_slot *s, int64_t delay_ms)
{
	ev_timer_stop(aw.loop, &s->timer);
	ev_timer_set(&s->timer, (double)delay_ms / 1000., 0.);
	ev_timer_start(aw.loop, &s->timer);
	s->next_ms = now_ms() + delay_ms;
}

static void
addr_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct addr_slot *s = t->data;

	if (s->q == NULL && !aw.stopping)
		addr_lookup(s);
}

/* The space-separated list into s->addrs; cur at ep->addr if it is still one. */
static void
addr_take(struct addr_slot *s, const char *list)
{
	char copy[RESOLVE_LIST_LEN + 1], *tok, *save;

	snprintf(copy, sizeof(copy), "%s", list);
	s->naddrs = 0;
	s->cur = 0;
	for (tok = strtok_r(copy, " ", &save); tok && s->naddrs < RESOLVE_ADDRS_MAX;
	    tok = strtok_r(NULL, " ", &save)) {
		if (strcmp(tok, s->ep->addr) == 0)
			s->cur = s->naddrs;
		snprintf(s->addrs[s->naddrs++], sizeof(s->addrs[0]), "%s", tok);
	}
}

static void
addr_done_cb(const char *list, const char *err, void *arg)
{
	struct addr_slot *s = arg;
	struct net_endpoint *ep = s->ep;
	int was_ready = addr_ready();
	const char *addr;
	int64_t delay;

	s->q = NULL;
	s->done_ms = now_ms();
	aw.st.address_lookups++;
	if (list == NULL) {
		aw.st.address_lookup_failures++;
		s->fails++;
		snprintf(s->error, sizeof(s->error), "%s", err);
		delay = backoff_ms(s->fails, ADDR_RETRY_MIN_MS, ADDR_RETRY_MAX_MS);
		if (ep->addr[0])
			log_warnx_rl(&s->rl, "[exchange.%s] %s: %s; keeping %s, trying again in "
			    "%" PRId64 " ms", EXCHANGE, s->key, err, ep->addr, delay);
		else
			log_warnx_rl(&s->rl, "[exchange.%s] %s: %s; the accounts wait, trying "
			    "again in %" PRId64 " ms", EXCHANGE, s->key, err, delay);
		addr_at(s, delay);
		return;
	}
	addr_take(s, list);
	if (s->naddrs == 0) {		/* resolve.c sends at least one */
		addr_at(s, backoff_ms(++s->fails, ADDR_RETRY_MIN_MS, ADDR_RETRY_MAX_MS));
		return;
	}
	addr = s->addrs[s->cur];
	if (s->fails && ep->addr[0] == '\0')
		log_info("[exchange.%s] %s: %s is %s, after %u failed lookups", EXCHANGE, s->key,
		    ep->host, addr, s->fails);
	else if (ep->addr[0] == '\0')
		log_info("[exchange.%s] %s: %s is %s", EXCHANGE, s->key, ep->host, addr);
	else if (strcmp(ep->addr, addr) != 0) {
		aw.st.address_changes++;
		log_info("[exchange.%s] %s: %s is now %s (was %s): new connections go there",
		    EXCHANGE, s->key, ep->host, addr, ep->addr);
	}
	snprintf(ep->addr, sizeof(ep->addr), "%s", addr);
	s->fails = 0;
	s->error[0] = '\0';
	addr_at(s, backoff_ms(1, ADDR_REFRESH_MS, ADDR_REFRESH_MS));
	if (!was_ready && addr_ready()) {
		group_kick();
		rest_schedule_soon();
	}
}

static void
addr_lookup(struct addr_slot *s)
{
	ev_timer_stop(aw.loop, &s->timer);
	s->next_ms = 0;
	/* A literal address needs no lookup, but one costs nothing and keeps one path. */
	s->q = resolve_start(aw.loop, s->ep->host, ADDR_TIMEOUT_MS, addr_done_cb, s);
	if (s->q == NULL) {
		snprintf(s->error, sizeof(s->error), "cannot resolve %s: out of memory",
		    s->ep->host);
		s->fails++;
		addr_at(s, backoff_ms(s->fails, ADDR_RETRY_MIN_MS, ADDR_RETRY_MAX_MS));
	}
}

void
addr_init(void)
{
	slots[0].ep = &aw.rest;
	slots[0].key = "rest_url";
	slots[1].ep = &aw.wsep;
	slots[1].key = "ws_url";
	for (int i = 0; i < 2; i++) {
		ev_timer_init(&slots[i].timer, addr_timer_cb, 0., 0.);
		slots[i].timer.data = &slots[i];
		slots[i].rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60000, 1);
	}
}

/*
 * Start or reload: ep (parsed) replaces the slot's endpoint.  The same
 * name keeps its address while it is looked up again; another name waits
 * for its own.  A reload is also an operator's "try now".
 */
void
addr_configure(int i, const struct net_endpoint *ep)
{
	struct addr_slot *s = &slots[i];
	char addr[sizeof(ep->addr)];
	int same = strcmp(s->ep->host, ep->host) == 0;

	snprintf(addr, sizeof(addr), "%s", same ? s->ep->addr : "");
	if (!same) {
		resolve_cancel(s->q);
		s->q = NULL;
		s->fails = 0;
		s->error[0] = '\0';
		s->naddrs = 0;
	}
	*s->ep = *ep;
	snprintf(s->ep->addr, sizeof(s->ep->addr), "%s", addr);
	if (s->q == NULL)
		addr_lookup(s);
}

/* The exchange is not configured (or its URLs are wrong): nothing to look up. */
void
addr_clear(void)
{
	addr_stop();
	for (int i = 0; i < 2; i++) {
		slots[i].ep->host[0] = slots[i].ep->addr[0] = '\0';
		slots[i].fails = 0;
		slots[i].error[0] = '\0';
		slots[i].naddrs = 0;
	}
}

int
addr_ready(void)
{
	return aw.rest.addr[0] && aw.wsep.addr[0];
}

void
addr_suspect(const struct net_endpoint *ep)
{
	struct addr_slot *s = ep == &aw.rest ? &slots[0] : &slots[1];
	int64_t now = now_ms(), at = s->done_ms + ADDR_RECHECK_MS;

	/* The next connection tries the name's next address. */
	if (s->naddrs > 1 && strcmp(s->ep->addr, s->addrs[s->cur]) == 0) {
		s->cur = (s->cur + 1) % s->naddrs;
		log_debug("[exchange.%s] %s: %s did not answer; next, %s", EXCHANGE, s->key,
		    s->ep->addr, s->addrs[s->cur]);
		snprintf(s->ep->addr, sizeof(s->ep->addr), "%s", s->addrs[s->cur]);
	}
	if (s->q || aw.stopping || s->ep->addr[0] == '\0')
		return;		/* under way, or already retrying on its own */
	if (s->next_ms && s->next_ms <= at)
		return;
	addr_at(s, at > now ? at - now : 0);
}

const char *
addr_waiting(void)
{
	int64_t now = now_ms();

	for (int i = 0; i < 2; i++) {
		struct addr_slot *s = &slots[i];

		if (s->ep->addr[0])
			continue;
		if (s->q || s->error[0] == '\0')
			snprintf(waiting, sizeof(waiting), "waiting for the address of %s (looking "
			    "it up)", s->ep->host);
		else
			snprintf(waiting, sizeof(waiting), "waiting for the exchange's address: %s; "
			    "next lookup in %" PRId64 " s", s->error,
			    s->next_ms > now ? (s->next_ms - now + 999) / 1000 : 0);
		return waiting;
	}
	return NULL;
}

/* Four keys for the worker's status. */
void
addr_status(msgpack_packer *pk)
{
	const char *w = aw.endpoints_ok ? addr_waiting() : NULL;

	mp_kv_str(pk, "exchange_address", !aw.endpoints_ok ? "not configured" :
	    w ? "waiting" : "ok");
	mp_kv_str(pk, "exchange_address_why", w ? w : "");
	mp_kv_str(pk, "rest_address", aw.rest.addr);
	mp_kv_str(pk, "ws_address", aw.wsep.addr);
}

void
addr_stop(void)
{
	for (int i = 0; i < 2; i++) {
		resolve_cancel(slots[i].q);
		slots[i].q = NULL;
		ev_timer_stop(aw.loop, &slots[i].timer);
	}
}
