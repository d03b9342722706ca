/* account.c: the exchange's accounts, their API keys and listen keys
 * (create, keepalive, close, expiry), and lookups into an account's truth. */
#include "exsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LISTEN_KEY_VALIDITY_MS (60LL * 60 * 1000)

struct ex_account *
acct_add(const char *api_key, const char *secret)
{
	struct ex_account *a = calloc(1, sizeof(*a));
	uint64_t krng;
	int i;

	if (!a)
		abort();
	ex.accts = realloc(ex.accts, sizeof(*ex.accts) * (size_t)(ex.naccts + 1));
	if (!ex.accts)
		abort();
	a->id = ex.naccts + 1;
	/* keys come from their own stream per account so that the activity
	 * sequence does not depend on how often clients ask for keys */
	krng = ex.cfg.seed * 0x9e3779b97f4a7c15ULL + (uint64_t)a->id * 7919;
	if (api_key && *api_key)
		snprintf(a->api_key, sizeof(a->api_key), "%s", api_key);
	else
		hex_key(&krng, a->api_key, EX_KEY_LEN, true);
	if (secret && *secret)
		snprintf(a->secret, sizeof(a->secret), "%s", secret);
	else
		hex_key(&krng, a->secret, EX_KEY_LEN, false);
	a->key_rng = krng ^ 0x5bd1e995ULL;
	/* a fixed mix of account shapes: every third account trades in hedge
	 * mode, every fourth pays fees in BNB */
	a->hedge = (a->id % 3) == 0;
	a->bnb_fees = (a->id % 4) == 0;
	for (i = 0; i < EX_NSYM; i++) {
		a->leverage[i] = 20;
		a->pos[i][PS_BOTH].isolated = a->pos[i][PS_LONG].isolated =
		    a->pos[i][PS_SHORT].isolated = (a->id % 5) == 0 && i == 1;
	}
	a->bal[0].wb = a->bal[0].cw = 10000 * FX_ONE;
	if (a->bnb_fees)
		a->bal[1].wb = a->bal[1].cw = 5 * FX_ONE;
	ex.accts[ex.naccts++] = a;
	return a;
}

struct ex_account *
acct_by_id(int id)
{
	if (id < 1 || id > ex.naccts)
		return NULL;
	return ex.accts[id - 1];
}

struct ex_account *
acct_by_api_key(const char *key)
{
	int i;

	for (i = 0; i < ex.naccts; i++)
		if (!strcmp(ex.accts[i]->api_key, key))
			return ex.accts[i];
	return NULL;
}

/* Matches any key the account ever had that is still active; expired and
 * closed keys resolve to their account too, so a socket on a dead key is
 * accepted and simply never delivers (as on the real exchange). */
struct ex_account *
acct_by_listen_key(const char *key)
{
	int i;

	if (strlen(key) != EX_KEY_LEN)
		return NULL;
	for (i = 0; i < ex.naccts; i++)
		if (!strcmp(ex.accts[i]->listen_key, key))
			return ex.accts[i];
	return NULL;
}

/* POST on an account with an active key returns that key and extends it
 * (FACTS §1.1): there is one key per account. */
const char *
acct_listen_key_create(struct ex_account *a)
{
	int64_t now = ex_now_ms();

	if (a->lk_state != LK_ACTIVE || now >= a->lk_expire_ms) {
		hex_key(&a->key_rng, a->listen_key, EX_KEY_LEN, true);
		a->lk_state = LK_ACTIVE;
		a->lk_gen++;
	}
	a->lk_expire_ms = now + ex_scaled_ms(LISTEN_KEY_VALIDITY_MS);
	return a->listen_key;
}

int
acct_listen_key_keepalive(struct ex_account *a, const char *key)
{
	int64_t now = ex_now_ms();

	if (a->lk_state != LK_ACTIVE || now >= a->lk_expire_ms)
		return -1;
	if (key && *key && strcmp(key, a->listen_key))
		return -1;
	a->lk_expire_ms = now + ex_scaled_ms(LISTEN_KEY_VALIDITY_MS);
	return 0;
}

int
acct_listen_key_close(struct ex_account *a, const char *key)
{
	if (a->lk_state != LK_ACTIVE)
		return -1;
	if (key && *key && strcmp(key, a->listen_key))
		return -1;
	a->lk_state = LK_CLOSED;
	a->lk_gen++;
	return 0;
}

/* The key in use expired: every socket on it gets listenKeyExpired (when
 * its allow-list names it) and nothing more for that key. */
void
acct_listen_key_expire(struct ex_account *a)
{
	struct ex_sub *s;
	int64_t now = ex_now_ms();
	uint32_t gen = a->lk_gen;

	if (a->lk_state != LK_ACTIVE)
		return;
	a->lk_state = LK_EXPIRED;
	a->lk_gen++;
	for (s = a->subs; s; s = s->anext)
		if (s->gen == gen && !s->expired_sent) {
			s->expired_sent = true;
			uev_listen_key_expired(s, now);
		}
}

void
acct_tick(int64_t now_ms)
{
	int i;

	for (i = 0; i < ex.naccts; i++) {
		struct ex_account *a = ex.accts[i];

		if (a->lk_state == LK_ACTIVE && now_ms >= a->lk_expire_ms)
			acct_listen_key_expire(a);
	}
}

/* Binary search of a history vector ascending by the int64 id at off. */
static void *
hist_find(void *v, size_t n, size_t size, size_t off, int64_t id)
{
	char *b = v;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int64_t at;

		memcpy(&at, b + mid * size + off, sizeof(at));
		if (at == id)
			return b + mid * size;
		if (at < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The order vector is in creation order, and ids count per symbol, so it is
 * not sorted by id across symbols: look from the newest, where the orders
 * asked for (open ones, recent ones) are.
 */
struct ex_order *
acct_order(struct ex_account *a, int64_t id)
{
	for (size_t m = a->norders; m-- > 0;)
		if (a->orders[m].id == id)
			return &a->orders[m];
	return NULL;
}

struct ex_algo *
acct_algo(struct ex_account *a, int64_t aid)
{
	return hist_find(a->algos, a->nalgos, sizeof(*a->algos),
	    offsetof(struct ex_algo, aid), aid);
}

fx_t
acct_unrealized(const struct ex_account *a, int sym, int ps)
{
	const struct ex_position *p = &a->pos[sym][ps];

	if (!p->amt)
		return 0;
	return fx_mul(engine_price(sym) - p->entry, p->amt);
}

fx_t
acct_maint(const struct ex_account *a, int sym, int ps)
{
	return fx_mul(fx_mul(fx_abs(a->pos[sym][ps].amt), engine_price(sym)), EX_MAINT_RATE);
}

/* The mark price at which the margin behind a position falls to its
 * maintenance margin (Binance's formula with a flat rate, no brackets):
 *   LP = (WB - TMM1 + UPNL1 - sum(side*Q*EP)) / (sum(Q*MMR) - sum(side*Q))
 * Isolated: WB is the position's isolated wallet and it stands alone.
 * Cross: WB is the cross wallet, TMM1 and UPNL1 are the maintenance margin
 * and unrealised PnL of the other cross positions, and in hedge mode both
 * sides of the symbol share one price. 0 when no positive price exists. */
fx_t
acct_liq_price(const struct ex_account *a, int sym, int ps)
{
	const struct ex_position *p = &a->pos[sym][ps];
	fx_t num, den, lp;
	int s, k;

	if (!p->amt)
		return 0;
	if (p->isolated) {
		num = p->iw;
		den = 0;
	} else {
		num = a->bal[0].cw;
		den = 0;
		for (s = 0; s < EX_NSYM; s++)
			for (k = 0; k < 3; k++)
				if (s != sym && a->pos[s][k].amt && !a->pos[s][k].isolated)
					num += acct_unrealized(a, s, k) - acct_maint(a, s, k);
	}
	for (k = 0; k < 3; k++) {
		const struct ex_position *q = &a->pos[sym][k];

		if (!q->amt || (p->isolated ? k != ps : q->isolated))
			continue;
		/* amt is side * Q */
		num -= fx_mul(q->amt, q->entry);
		den += fx_mul(fx_abs(q->amt), EX_MAINT_RATE) - q->amt;
	}
	if (den == 0)
		return 0;
	lp = fx_div(num, den);
	return lp > 0 ? lp : 0;
}
