/* names.c: the simulated symbols and assets, and the Binance spellings of
 * every enum exsim prints (sides, order types, statuses, event names). */
#include "exsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Precisions follow the real contracts so printed decimals look like the
 * captures ("63105.80", "0.030"). The first EX_NSYM are the real five; the
 * accounts trade those only. */
static const struct ex_symbol real_symbols[EX_NSYM] = {
	{ "BTCUSDT", "btcusdt", 2, 3, 10000000LL, 100000LL, 6300000000000LL, 1000000LL },
	{ "ETHUSDT", "ethusdt", 2, 3, 1000000LL, 100000LL, 310000000000LL, 10000000LL },
	{ "BNBUSDT", "bnbusdt", 3, 2, 100000LL, 1000000LL, 60000000000LL, 50000000LL },
	{ "SOLUSDT", "solusdt", 4, 0, 10000LL, 100000000LL, 15000000000LL, 300000000LL },
	{ "XRPUSDT", "xrpusdt", 4, 1, 10000LL, 10000000LL, 50000000LL, 50000000000LL },
};

/* The symbol exchangeInfo lists as not trading (a contract being
 * delisted): it has no book and no streams. */
const struct ex_symbol ex_settling_symbol = { "SIMDLSTUSDT", "simdlstusdt", 4, 0, 10000LL,
	100000000LL, 10000000LL, 10000000000LL };

struct ex_symbol *ex_symbols;
int ex_nsym;

/* Open-addressed name index over both spellings, sized at init. */
static int *sym_hash;
static size_t sym_hash_cap;

static uint64_t
name_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static void
hash_put(const char *s, int v)
{
	size_t i = (size_t)name_hash(s, strlen(s)) & (sym_hash_cap - 1);

	while (sym_hash[i] >= 0)
		i = (i + 1) & (sym_hash_cap - 1);
	sym_hash[i] = v;
}

/* Returns the symbol index whose name (upper, or lower when lower is set)
 * is s[0..n), or -1. */
static int
hash_get(const char *s, size_t n, bool lower)
{
	size_t i = (size_t)name_hash(s, n) & (sym_hash_cap - 1);

	for (; sym_hash[i] >= 0; i = (i + 1) & (sym_hash_cap - 1)) {
		int k = sym_hash[i] >> 1;
		const char *nm = (sym_hash[i] & 1) ? ex_symbols[k].lname : ex_symbols[k].name;

		if ((bool)(sym_hash[i] & 1) == lower && strlen(nm) == n && !memcmp(nm, s, n))
			return k;
	}
	return -1;
}

/* Build the n symbols of the market (n >= EX_NSYM): the real five, then
 * generated "SIM001USDT"... with a price between 0.01 and 50,000, a tick of
 * one unit in the last printed decimal, and a step so a typical order is
 * worth about 1,000 USDT; all drawn from the seed alone. Returns -1 when
 * memory runs out. */
int
symbols_init(int n, uint64_t seed)
{
	uint64_t r = seed ^ 0xbb67ae8584caa73bULL;
	int i;

	ex_symbols = calloc((size_t)n, sizeof(*ex_symbols));
	for (sym_hash_cap = 16; sym_hash_cap < (size_t)n * 4; sym_hash_cap *= 2)
		;
	sym_hash = malloc(sizeof(*sym_hash) * sym_hash_cap);
	if (!ex_symbols || !sym_hash)
		return -1;
	memset(sym_hash, 0xff, sizeof(*sym_hash) * sym_hash_cap);
	ex_nsym = n;
	for (i = 0; i < n; i++) {
		struct ex_symbol *s = &ex_symbols[i];

		if (i < EX_NSYM) {
			*s = real_symbols[i];
		} else {
			/* magnitude 10^-2 .. 10^4 USDT, mantissa 1.000 .. 9.999 */
			int mag = (int)rng_below(&r, 7) - 2, k;
			fx_t px = (fx_t)(1000 + rng_below(&r, 9000)) * FX_ONE / 1000, notional;

			for (k = 0; k < mag; k++)
				px *= 10;
			for (k = 0; k > mag; k--)
				px /= 10;
			/* 5 significant digits: price_dec follows the magnitude */
			s->price_dec = mag >= 4 ? 1 : 4 - mag;
			if (s->price_dec > 7)
				s->price_dec = 7;
			s->tick = FX_ONE;
			for (k = 0; k < s->price_dec; k++)
				s->tick /= 10;
			s->start_price = fx_round(px, s->tick);
			s->qty_dec = mag >= 3 ? 3 : mag >= 1 ? 2 : mag >= 0 ? 1 : 0;
			s->step = FX_ONE;
			for (k = 0; k < s->qty_dec; k++)
				s->step /= 10;
			notional = (fx_t)(200 + rng_below(&r, 1800)) * FX_ONE;
			s->typical_qty = fx_round(fx_div(notional, s->start_price), s->step);
			if (s->typical_qty < s->step)
				s->typical_qty = s->step;
			snprintf(s->name, sizeof(s->name), "SIM%03dUSDT", i - EX_NSYM + 1);
			for (k = 0; s->name[k]; k++)
				s->lname[k] = (char)(s->name[k] >= 'A' && s->name[k] <= 'Z' ?
				    s->name[k] + 32 : s->name[k]);
			s->lname[k] = '\0';
		}
		hash_put(s->name, i << 1);
		hash_put(s->lname, i << 1 | 1);
	}
	return 0;
}

const char *const ex_assets[EX_NASSET] = { "USDT", "BNB" };

const char *
name_side(int s)
{
	return s == SIDE_BUY ? "BUY" : "SELL";
}

const char *
name_ps(int ps)
{
	static const char *const n[] = { "BOTH", "LONG", "SHORT" };

	return n[ps];
}

const char *
name_otype(int t)
{
	static const char *const n[] = { "LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
		"TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET", "LIQUIDATION" };

	return n[t];
}

const char *
name_tif(int t)
{
	static const char *const n[] = { "GTC", "IOC", "FOK", "GTX", "GTD" };

	return n[t];
}

const char *
name_ostatus(int s)
{
	static const char *const n[] = { "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED",
		"EXPIRED", "EXPIRED_IN_MATCH" };

	return n[s];
}

const char *
name_exec(int x)
{
	static const char *const n[] = { "NEW", "TRADE", "CANCELED", "EXPIRED", "AMENDMENT",
		"CALCULATED" };

	return n[x];
}

const char *
name_stp(int v)
{
	static const char *const n[] = { "NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH" };

	return n[v];
}

const char *
name_algo_status(int s)
{
	static const char *const n[] = { "NEW", "CANCELED", "TRIGGERING", "TRIGGERED",
		"FINISHED", "REJECTED", "EXPIRED" };

	return n[s];
}

static const char *const uev_names[UEV_N] = { "ORDER_TRADE_UPDATE", "TRADE_LITE",
	"ACCOUNT_UPDATE", "MARGIN_CALL", "ACCOUNT_CONFIG_UPDATE", "ALGO_UPDATE",
	"listenKeyExpired", "FAULT" };

const char *
name_uev(int e)
{
	return uev_names[e];
}

int
uev_from_name(const char *s, size_t n)
{
	int i;

	/* FAULT is internal: fault frames bypass the allow-list on purpose */
	for (i = 0; i < UEV_FAULT; i++)
		if (strlen(uev_names[i]) == n && !memcmp(uev_names[i], s, n))
			return i;
	return -1;
}

/* The index of a symbol the accounts trade (the first EX_NSYM), or -1. */
int
sym_index(const char *name)
{
	int i = msym_index(name);

	return i < EX_NSYM ? i : -1;
}

/* The index of any market symbol, or -1. */
int
msym_index(const char *name)
{
	return hash_get(name, strlen(name), false);
}

/* The index of a market symbol by its lowercase stream spelling, or -1. */
int
sym_index_lower(const char *lname, size_t n)
{
	return hash_get(lname, n, true);
}
