// tools/bench-ccxt-user.cjs: the comparison consumer of `tools/bench peer`.
// ccxt pro's binanceusdm (npm ccxt, the version tools/bench-peer.py pins
// and installs), one instance per account with the account's API key and
// secret (exsim's /sim/accounts), its REST and WebSocket base URLs rebased
// onto exsim's host:port; per account, in loops as an application runs
// them:
//   watchOrders()      ORDER_TRADE_UPDATE     orders handed back
//   watchMyTrades()    ORDER_TRADE_UPDATE (x=TRADE)   trades handed back
//   watchBalance()     ACCOUNT_UPDATE         balance structures handed back
//   watchPositions()   ACCOUNT_UPDATE         positions handed back
// over ccxt's own user-data connection: POST /fapi/v1/listenKey, then
// <ws>/private/ws?listenKey=KEY.  What ccxt hands back is counted, so a
// consumer that silently gets nothing shows as zeros; the frames ccxt's
// handler took are counted too, by the payload's "e", against exsim's
// count of user events sent.
//
// The markets are loaded once and set on every instance (setMarkets), as
// an application with many accounts does.  watchPositions runs without its
// REST snapshot (fetchPositionsSnapshot: false): the snapshot first asks
// /fapi/v1/leverageBracket, which exsim does not serve, and a snapshot is
// start-up work that the measured window does not see anyway.
//
// Usage: node tools/bench-ccxt-user.cjs --ccxt-dir DIR --rest http://H:P --ws ws://H:P
//            --accounts FILE [--interval S] [--start-batch N]
// FILE: exsim's /sim/accounts (a JSON array of {id, apiKey, secretKey}).
// Prints one JSON line a second (--interval) on stdout with the counters
// since start, and one at once on SIGUSR2 (the driver's window edges);
// runs until SIGTERM or SIGINT, then prints a last line.  The keys are
// never printed.
"use strict";

const fs = require("fs");
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
const acctFile = arg("accounts");
const interval = parseFloat(arg("interval", "1"));
const startBatch = parseInt(arg("start-batch", "50"), 10);
if (!ccxtDir || !restBase || !wsBase || !acctFile) {
	process.stderr.write("usage: bench-ccxt-user.cjs --ccxt-dir DIR --rest URL --ws URL " +
	    "--accounts FILE\n");
	process.exit(64);
}
const ccxt = createRequire(path.join(ccxtDir, "package.json"))("ccxt");
const accounts = JSON.parse(fs.readFileSync(acctFile, "utf8"));

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

function make(key, secret) {
	const ex = new ccxt.pro.binanceusdm({
		apiKey: key,
		secret: secret,
		// exsim's weight limit is raised by the driver instead: ccxt's
		// throttle would spread 1,000 listen-key POSTs over minutes
		enableRateLimit: false,
		options: { watchPositions: { fetchPositionsSnapshot: false } },
	});
	ex.urls.api = rebase(ex.urls.api);
	return ex;
}

const c = {
	frames: {}, // what ccxt's message handlers took, by payload "e"
	orders: 0, myTrades: 0, balances: 0, positions: 0,
	accounts: accounts.length, started: 0, connected: 0, errors: 0,
};
const watch = runner("bench-ccxt-user", c);
const exs = [];



function report() {
	let n = 0;
	for (const ex of exs)
		for (const cl of Object.values(ex.clients || {}))
			if (cl.isConnected && cl.url.indexOf("listenKey=") >= 0)
				n++;
	c.connected = n;
	process.stdout.write(JSON.stringify({ t: Date.now() / 1000, ...c }) + "\n");
}

function run(ex) {
	// Count every frame this instance handles, by event type.
	const handle = ex.handleMessage.bind(ex);
	ex.handleMessage = function (client, message) {
		const e = message && (message.e || "other");
		c.frames[e] = (c.frames[e] || 0) + 1;
		return handle(client, message);
	};
	return [
		// not `c.x += (await ...)`: that reads c.x before the await and
		// loses what the other accounts' loops added meanwhile
		watch.loop("watchOrders", async () => {
			const r = await ex.watchOrders();
			c.orders += r.length;
		}),
		watch.loop("watchMyTrades", async () => {
			const r = await ex.watchMyTrades();
			c.myTrades += r.length;
		}),
		watch.loop("watchBalance", async () => {
			await ex.watchBalance();
			c.balances++;
		}),
		watch.loop("watchPositions", async () => {
			const r = await ex.watchPositions();
			c.positions += r.length;
		}),
	];
}

async function main() {
	// ccxt asks for this before it opens a plain ws:// URL (exsim runs
	// without TLS here); it loads node's http Agent, nothing else
	const first = make(undefined, undefined);
	await first.loadHttpProxyAgent();
	await first.loadMarkets();
	process.stderr.write(`bench-ccxt-user: ccxt ${ccxt.version}, ${accounts.length} accounts, ` +
	    `${first.symbols.length} symbols, REST ${first.urls.api.fapiPrivate}, ` +
	    `WS ${first.getPrivateWsUrl("future", "KEY")}\n`);
	const timer = setInterval(report, interval * 1000);
	const stop = () => {
		watch.running = false;
		clearInterval(timer);
		report();
		Promise.allSettled(exs.map((ex) => ex.close())).finally(() => process.exit(0));
		setTimeout(() => process.exit(0), 3000).unref();
	};
	process.on("SIGUSR2", report);
	process.on("SIGTERM", stop);
	process.on("SIGINT", stop);

	const loops = [];
	// Started a batch at a time: each batch's listen keys are asked for
	// and its connections opened before the next batch starts.
	for (let i = 0; i < accounts.length && watch.running; i += startBatch) {
		const batch = [];
		for (const a of accounts.slice(i, i + startBatch)) {
			const ex = make(a.apiKey, a.secretKey);
			await ex.loadHttpProxyAgent();
			ex.setMarkets(first.markets, first.currencies);
			exs.push(ex);
			c.started++;
			loops.push(...run(ex));
			batch.push(ex);
		}
		const t0 = Date.now();
		while (watch.running && Date.now() - t0 < 30000 && !batch.every((ex) =>
		    Object.values(ex.clients || {}).some((cl) => cl.isConnected)))
			await new Promise((r) => setTimeout(r, 50));
	}
	await Promise.all(loops);
}

main().catch((e) => {
	process.stderr.write(`bench-ccxt-user: ${e && e.stack ? e.stack : e}\n`);
	process.exit(1);
});
