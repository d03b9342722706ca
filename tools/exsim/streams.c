/* streams.c: market stream names, their ids, and which route serves them
 * (FACTS §3: /market for aggTrade, markPrice, kline, tickers, forceOrder;
 * /public for depth, bookTicker and trade). */
#include "exsim.h"

#include <stdio.h>
#include <string.h>

static const char *const kline_iv[15] = { "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h",
	"6h", "8h", "12h", "1d", "3d", "1w", "1M" };

static const char *const mst_suffix[MST_PER_SYMBOL] = {
	[MST_AGGTRADE] = "aggTrade", [MST_MARKPRICE] = "markPrice",
	[MST_MARKPRICE_1S] = "markPrice@1s", [MST_TICKER] = "ticker",
	[MST_MINITICKER] = "miniTicker", [MST_FORCEORDER] = "forceOrder",
	[MST_TRADE] = "trade", [MST_BOOKTICKER] = "bookTicker", [MST_DEPTH] = "depth",
	[MST_DEPTH_100] = "depth@100ms", [MST_DEPTH_500] = "depth@500ms", [MST_DEPTH5] = "depth5",
	[MST_DEPTH5_100] = "depth5@100ms", [MST_DEPTH5_500] = "depth5@500ms",
	[MST_DEPTH10] = "depth10", [MST_DEPTH10_100] = "depth10@100ms",
	[MST_DEPTH10_500] = "depth10@500ms", [MST_DEPTH20] = "depth20",
	[MST_DEPTH20_100] = "depth20@100ms", [MST_DEPTH20_500] = "depth20@500ms",
};

static const char *const mg_names[MG_N] = { "!markPrice@arr", "!markPrice@arr@1s",
	"!miniTicker@arr", "!ticker@arr", "!forceOrder@arr", "!bookTicker" };

static enum ex_route
mst_route(int t)
{
	if (t == MST_TRADE || t == MST_BOOKTICKER || t >= MST_DEPTH)
		return ROUTE_PUBLIC;
	return ROUTE_MARKET;
}

/* Returns the stream id, or -1 for a name this exchange does not serve.
 * *route receives the route the stream belongs to. */
int
streams_parse(const char *name, size_t n, enum ex_route *route)
{
	const char *at = memchr(name, '@', n);
	int sym, t, i;
	size_t rest;

	for (i = 0; i < MG_N; i++)
		if (strlen(mg_names[i]) == n && !memcmp(mg_names[i], name, n)) {
			*route = i == MG_BOOKTICKER_ALL ? ROUTE_PUBLIC : ROUTE_MARKET;
			return ex_nsym * MST_PER_SYMBOL + i;
		}
	if (!at)
		return -1;
	sym = sym_index_lower(name, (size_t)(at - name));
	if (sym < 0)
		return -1;
	at++;
	rest = n - (size_t)(at - name);
	if (rest > 6 && !memcmp(at, "kline_", 6)) {
		for (i = 0; i < 15; i++)
			if (strlen(kline_iv[i]) == rest - 6 && !memcmp(at + 6, kline_iv[i], rest - 6)) {
				*route = ROUTE_MARKET;
				return sym * MST_PER_SYMBOL + MST_KLINE0 + i;
			}
		return -1;
	}
	for (t = 0; t < MST_PER_SYMBOL; t++)
		if (mst_suffix[t] && strlen(mst_suffix[t]) == rest && !memcmp(at, mst_suffix[t], rest)) {
			*route = mst_route(t);
			return sym * MST_PER_SYMBOL + t;
		}
	return -1;
}

int
streams_name(int sid, char *out, size_t outlen)
{
	int sym, t;

	if (sid >= ex_nsym * MST_PER_SYMBOL)
		return snprintf(out, outlen, "%s", mg_names[sid - ex_nsym * MST_PER_SYMBOL]);
	sym = sid / MST_PER_SYMBOL;
	t = sid % MST_PER_SYMBOL;
	if (t >= MST_KLINE0 && t <= MST_KLINE_LAST)
		return snprintf(out, outlen, "%s@kline_%s", ex_symbols[sym].lname,
		    kline_iv[t - MST_KLINE0]);
	return snprintf(out, outlen, "%s@%s", ex_symbols[sym].lname, mst_suffix[t]);
}

/* An unrouted (legacy) socket is served as /public only unless
 * --legacy-routes brings back the pre-2026 behaviour (FACTS §1.2). */
bool
streams_route_ok(int sid, enum ex_route conn_route)
{
	enum ex_route r;
	char name[64];

	streams_name(sid, name, sizeof(name));
	if (streams_parse(name, strlen(name), &r) < 0)
		return false;
	if (conn_route == ROUTE_LEGACY)
		return ex.cfg.legacy_routes || r == ROUTE_PUBLIC;
	return r == conn_route;
}
