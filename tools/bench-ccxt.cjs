// tools/bench-ccxt.cjs: the comparison consumer of `tools/bench market`.
// ccxt pro's binanceusdm (npm ccxt, the version tools/bench-market.py pins
// and installs) pointed at exsim: its REST and WebSocket base URLs rebased
// onto exsim's host:port, then for the same symbols the same five streams
// the market worker takes:
//   watchTradesForSymbols(symbols, {name: "aggTrade"})   <s>@aggTrade   /market
//   watchMarkPrices(symbols, {use1sFreq: true})          <s>@markPrice@1s /market
//   watchOHLCVForSymbols([[s, "1m"], ...])               <s>@kline_1m   /market
//   watchBidsAsks(symbols)                               <s>@bookTicker /public
//   watchOrderBookForSymbols(symbols)                    <s>@depth@100ms /public
//                                                        + REST /fapi/v1/depth snapshots
// Each watch runs in its own loop, as an application would run it, and
// counts what ccxt hands back (trades, candles, mark prices, bid/ask
// updates, order book updates), so a consumer that silently gets nothing
// shows as zeros. The frames ccxt's handler took are counted too, by the
// payload's "e", as a cross-check against exsim's count of frames sent.
//
// Usage: node tools/bench-ccxt.cjs --ccxt-dir DIR --rest http://H:P --ws ws://H:P
//            [--symbols N] [--interval S]
// Prints one JSON line a second (--interval) on stdout with the counters
// since start, and one at once on SIGUSR2 (the driver's window edges);
// runs until SIGTERM or SIGINT, then prints a last line.
"use strict";

const path = require("path");
const { createRequire } = require("module");
const { runner } = require("./benchnode.cjs");

function arg(name, dflt) {
	const i = process.argv.indexOf("--" + name);
	return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const ccxtDir = arg("ccxt-dir");
const restBase = arg("rest");
const wsBase = arg("ws");
const nsym = parseInt(arg("symbols", "200"), 10);
const interval = parseFloat(arg("interval", "1"));
if (!ccxtDir || !restBase || !wsBase) {
	process.stderr.write("usage: bench-ccxt.cjs --ccxt-dir DIR --rest URL --ws URL [--symbols N]\n");
	process.exit(64);
}
const ccxt = createRequire(path.join(ccxtDir, "package.json"))("ccxt");

// Rebase every URL of urls.api on Binance's futures hosts onto exsim;
// the others (spot, options, portfolio margin) are never called here.
function rebase(v) {
	if (typeof v === "string")
		return v.replace(/^https:\/\/fapi\.binance\.com/, restBase)
		    .replace(/^wss:\/\/fstream\.binance\.com/, wsBase);
	if (v && typeof v === "object") {
		const o = {};
		for (const k of Object.keys(v))
			o[k] = rebase(v[k]);
		return o;
	}
	return v;
}

const ex = new ccxt.pro.binanceusdm({
	// exsim's weight limit is raised by the driver instead: ccxt's own
	// throttle would spread the 200 depth snapshots over minutes
	enableRateLimit: false,
	options: { watchOrderBookRate: "100" },
});
ex.urls.api = rebase(ex.urls.api);

const c = {
	frames: {}, // what ccxt's message handler took, by payload "e"
	trades: 0, candles: 0, markPrices: 0, bidsAsks: 0, bookUpdates: 0,
	booksSynced: 0, crossedBooks: 0, errors: 0,
};
const watch = runner("bench-ccxt", c);

// Count every frame the exchange class handles, by event type.
const handle = ex.handleMessage.bind(ex);
ex.handleMessage = function (client, message) {
	const e = message && (message.e || (message.result === null ? "reply" : "other"));
	c.frames[e] = (c.frames[e] || 0) + 1;
	return handle(client, message);
};



function report() {
	let synced = 0, crossed = 0;
	for (const s of Object.keys(ex.orderbooks || {})) {
		const b = ex.orderbooks[s];
		if (b && b.nonce !== undefined && b.bids.length && b.asks.length) {
			synced++;
			if (b.bids[0][0] >= b.asks[0][0])
				crossed++;
		}
	}
	c.booksSynced = synced;
	c.crossedBooks = crossed;
	process.stdout.write(JSON.stringify({ t: Date.now() / 1000, ...c }) + "\n");
}

async function main() {
	// ccxt asks for this before it opens a plain ws:// URL (exsim runs
	// without TLS here); it loads node's http Agent, nothing else
	await ex.loadHttpProxyAgent();
	const markets = await ex.loadMarkets();
	const symbols = Object.values(markets)
	    .filter((m) => m.swap && m.linear && m.active !== false)
	    .map((m) => m.symbol).slice(0, nsym);
	process.stderr.write(`bench-ccxt: ccxt ${ccxt.version}, ${symbols.length} symbols ` +
	    `(${symbols.slice(0, 3).join(" ")} ...), REST ${ex.urls.api.fapiPublic}, ` +
	    `WS ${ex.getWsUrl("future", "market")} and ${ex.getWsUrl("future", "public")}\n`);
	const timer = setInterval(report, interval * 1000);
	const stop = () => {
		watch.running = false;
		clearInterval(timer);
		report();
		ex.close().catch(() => {}).finally(() => process.exit(0));
		setTimeout(() => process.exit(0), 2000).unref();
	};
	process.on("SIGUSR2", report);
	process.on("SIGTERM", stop);
	process.on("SIGINT", stop);

	const tf = symbols.map((s) => [s, "1m"]);
	await Promise.all([
		watch.loop("aggTrade", async () => {
			c.trades += (await ex.watchTradesForSymbols(symbols, undefined, undefined,
			    { name: "aggTrade" })).length;
		}),
		watch.loop("markPrice", async () => {
			c.markPrices += Object.keys(await ex.watchMarkPrices(symbols,
			    { use1sFreq: true })).length;
		}),
		watch.loop("kline", async () => {
			const r = await ex.watchOHLCVForSymbols(tf);
			for (const s of Object.keys(r))
				for (const t of Object.keys(r[s]))
					c.candles += r[s][t].length;
		}),
		watch.loop("bookTicker", async () => {
			c.bidsAsks += Object.keys(await ex.watchBidsAsks(symbols)).length;
		}),
		watch.loop("depth", async () => {
			await ex.watchOrderBookForSymbols(symbols);
			c.bookUpdates++;
		}),
	]);
}

main().catch((e) => {
	process.stderr.write(`bench-ccxt: ${e && e.stack ? e.stack : e}\n`);
	process.exit(1);
});
