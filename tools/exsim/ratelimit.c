/* ratelimit.c: per-IP REST request weight in 1-minute windows, the
 * X-MBX-USED-WEIGHT-1M header, 429 with Retry-After past the limit, and
 * 418 bans that grow (2 min doubling up to 3 days) when 429s are ignored:
 * three requests inside one Retry-After window ban the IP. */
#include "exsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_MS 60000LL
#define BAN_FIRST_MS (2LL * 60 * 1000)
#define BAN_MAX_MS (3LL * 24 * 3600 * 1000)
#define IGNORED_429_BEFORE_BAN 3

struct ip_state {
	char ip[64];
	int64_t window_start_ms, retry_until_ms, ban_until_ms;
	int used, ignored, bans;
	struct ip_state *next;
};

static struct ip_state *ips;
static int64_t storm_until_ms;

static struct ip_state *
ip_get(const char *ip)
{
	struct ip_state *s;

	for (s = ips; s; s = s->next)
		if (!strcmp(s->ip, ip))
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->next = ips;
	ips = s;
	return s;
}

static void
retry_after(struct ex_resp *rs, int64_t ms)
{
	char v[24];

	snprintf(v, sizeof(v), "%lld", (long long)((ms + 999) / 1000 > 0 ? (ms + 999) / 1000 : 1));
	resp_header(rs, "Retry-After:", v);
}

/* 418 with the ban's end, counted; for requests during a ban and the ban itself. */
static int
reply_banned(struct ex_resp *rs, const struct ip_state *s, int64_t now)
{
	char v[160];

	ex.st.n418++;
	snprintf(v, sizeof(v), "Way too many requests; IP banned until %lld. Please use the "
	    "websocket for live updates to avoid bans.", (long long)s->ban_until_ms);
	resp_error(rs, 418, -1003, v);
	retry_after(rs, s->ban_until_ms - now);
	return -1;
}

/* Charges the request's weight; returns -1 when the request is refused
 * (the reply is then filled in). */
int
rl_charge(const char *ip, int weight, struct ex_resp *rs)
{
	struct ip_state *s = ip_get(ip);
	int64_t now = ex_now_ms();
	int64_t win = now - now % WINDOW_MS;
	char v[160];

	ex.st.rest_requests++;
	if (s->ban_until_ms > now)
		return reply_banned(rs, s, now);
	/* a client that waited out its last Retry-After did back off: what it
	 * ignored before that is forgiven (bans punish failing to back off,
	 * not a few requests already on their way when a 429 went out) */
	if (s->retry_until_ms && s->retry_until_ms <= now) {
		s->retry_until_ms = 0;
		s->ignored = 0;
	}
	if (s->window_start_ms != win) {
		s->window_start_ms = win;
		s->used = 0;
	}
	s->used += weight;
	ex.st.rest_weight += (uint64_t)weight;
	snprintf(v, sizeof(v), "%d", s->used);
	resp_header(rs, "X-MBX-USED-WEIGHT-1M:", v);
	if (s->used <= ex.cfg.weight_limit && storm_until_ms <= now)
		return 0;

	/* a request that arrives while told to wait ignores the 429 */
	if (s->retry_until_ms > now && ++s->ignored >= IGNORED_429_BEFORE_BAN) {
		int64_t dur = BAN_FIRST_MS;
		int i;

		for (i = 0; i < s->bans && dur < BAN_MAX_MS; i++)
			dur *= 2;
		if (dur > BAN_MAX_MS)
			dur = BAN_MAX_MS;
		s->bans++;
		s->ignored = 0;
		s->ban_until_ms = now + ex_scaled_ms(dur);
		ex.st.bans++;
		return reply_banned(rs, s, now);
	}
	ex.st.n429++;
	snprintf(v, sizeof(v), "Too many requests; current limit of IP(%s) is %d requests per "
	    "minute. Please use the websocket for live updates to avoid polling the API.", ip,
	    ex.cfg.weight_limit);
	resp_error(rs, 429, -1003, v);
	s->retry_until_ms = storm_until_ms > now ? storm_until_ms : win + WINDOW_MS;
	retry_after(rs, s->retry_until_ms - now);
	return -1;
}

void
rl_storm(int64_t until_ms)
{
	storm_until_ms = until_ms;
}

/* Clears windows and bans (control API), so one test's storm does not
 * leak into the next check. */
void
rl_reset(void)
{
	struct ip_state *s, *n;

	for (s = ips; s; s = n) {
		n = s->next;
		free(s);
	}
	ips = NULL;
	storm_until_ms = 0;
}

void
rl_json(struct jbuf *jb)
{
	struct ip_state *s;
	int64_t now = ex_now_ms();

	jb_kopen(jb, "ips", '[');
	for (s = ips; s; s = s->next) {
		jb_open(jb, '{');
		jb_kstr(jb, "ip", s->ip);
		jb_kint(jb, "usedWeight1m", s->window_start_ms == now - now % WINDOW_MS ? s->used : 0);
		jb_kint(jb, "bans", s->bans);
		jb_kint(jb, "bannedUntil", s->ban_until_ms > now ? s->ban_until_ms : 0);
		jb_close(jb, '}');
	}
	jb_close(jb, ']');
	jb_kint(jb, "stormUntil", storm_until_ms > now ? storm_until_ms : 0);
}
