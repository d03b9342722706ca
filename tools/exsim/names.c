/* names.c: the simulated symbols and assets, and the Binance spellings of
 * every enum exsim prints (sides, order types, statuses, event names). */
#include "exsim.h"

#include <string.h>
#include <strings.h>

/* Precisions follow the real contracts so printed decimals look like the
 * captures ("63105.80", "0.030"). */
const struct ex_symbol ex_symbols[EX_NSYM] = {
	{ "BTCUSDT", "btcusdt", 2, 3, 10000000LL, 100000LL, 6300000000000LL, 1000000LL },
	{ "ETHUSDT", "ethusdt", 2, 3, 1000000LL, 100000LL, 310000000000LL, 10000000LL },
	{ "BNBUSDT", "bnbusdt", 3, 2, 100000LL, 1000000LL, 60000000000LL, 50000000LL },
	{ "SOLUSDT", "solusdt", 4, 0, 10000LL, 100000000LL, 15000000000LL, 300000000LL },
	{ "XRPUSDT", "xrpusdt", 4, 1, 10000LL, 10000000LL, 50000000LL, 50000000000LL },
};

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

int
sym_index(const char *name)
{
	int i;

	for (i = 0; i < EX_NSYM; i++)
		if (!strcmp(ex_symbols[i].name, name))
			return i;
	return -1;
}

int
sym_index_lower(const char *lname, size_t n)
{
	int i;

	for (i = 0; i < EX_NSYM; i++)
		if (strlen(ex_symbols[i].lname) == n && !memcmp(ex_symbols[i].lname, lname, n))
			return i;
	return -1;
}
