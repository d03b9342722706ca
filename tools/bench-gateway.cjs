// tools/bench-gateway.cjs: the clients of `tools/bench gateway` (node's ws,
// a client not written by us), driven by tools/bench-gateway.py.
//
//   node tools/bench-gateway.cjs URL CLIENTS.json
//
// CLIENTS.json: [{"user": 1001, "token": "..."}, ...].  Each client opens
// URL/ws/trading?token=..., subscribes to every user channel, and counts
// what it gets: the snapshot, then live messages.  For every live user
// message the delivery latency is its arrival (this process's clock, µs)
// minus its `committed_at` (the writer's COMMIT, the same machine's clock);
// a message of another user is counted as foreign.
//
// Each window's latencies (µs, sorted, one a line) go to CLIENTS.json.lat.
// Lines on stdout, JSON each: {"phase": "open", "open": N, "snapshots": N,
// "failed": N} once every client has its snapshot (or failed), then on
// SIGUSR1 the counters of the window since the last SIGUSR1 ({"phase":
// "window", ...} with the latency histogram's p50/p99/p999 in µs), and on
// SIGTERM a last window, then exit.
"use strict";
const fs = require("fs");
const WebSocket = require(require.resolve("ws", { paths: [process.env.WS_DIR || "."] }));

const [url, file] = process.argv.slice(2);
const clients = JSON.parse(fs.readFileSync(file, "utf8"));
const CHANNELS = ["orders", "fills", "positions", "balances", "risk_alerts", "account_config",
	"algo_orders"];
const USER_TYPES = new Set(["order_update", "fill", "position_update", "balance_update",
	"risk_alert", "account_config", "algo_update"]);

let open = 0, snapshots = 0, failed = 0, closed = 0, reported = false;
const closes = {};
let win = newWindow();

function newWindow() {
	return { messages: 0, user: 0, foreign: 0, nolatency: 0, lat: [], bytes: 0 };
}

// The wall clock in µs.  performance.now() is monotonic and fine-grained
// but performance.timeOrigin is taken once, so the sum drifts from the
// wall clock while NTP slews it (0.7 ms seen here at one reading, and
// growing with the process's age); Date.now() follows the wall
// clock but in whole ms.  So the offset between the two is taken again
// every second, at the instant Date.now() ticks over (a spin of at most
// a millisecond), and µs are the monotonic clock plus that offset.
let wallOffsetMs = 0;

function syncWall() {
	const d0 = Date.now();
	let d, m;
	do {
		m = performance.now();
		d = Date.now();
	} while (d === d0);
	wallOffsetMs = d - m;
}
syncWall();
setInterval(syncWall, 1000).unref();

function nowUs() {
	return Math.round((performance.now() + wallOffsetMs) * 1000);
}

function isoUs(s) {
	// "2026-12-01T21:08:07.185123Z" -> µs since the epoch (the fraction's digits as given)
	const dot = s.indexOf("."), z = s.indexOf("Z");
	const ms = Date.parse(s.slice(0, dot) + "Z");
	let frac = s.slice(dot + 1, z);
	frac = (frac + "000000").slice(0, 6);
	return ms * 1000 + Number(frac);
}

function q(sorted, p) {
	if (sorted.length === 0)
		return null;
	return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function report(phase) {
	const lat = win.lat.sort((a, b) => a - b);
	// Every sample, for the driver to merge the processes' (FILE.lat, one a line).
	fs.writeFileSync(file + ".lat", lat.join("\n"));
	const out = { phase, open: open - closed, closed, closes, messages: win.messages, user: win.user,
		foreign: win.foreign, nolatency: win.nolatency, bytes: win.bytes,
		p50_us: q(lat, 0.5), p99_us: q(lat, 0.99), p999_us: q(lat, 0.999),
		max_us: lat.length ? lat[lat.length - 1] : null, samples: lat.length };
	process.stdout.write(JSON.stringify(out) + "\n");
	win = newWindow();
}

function maybeOpenReport() {
	if (!reported && snapshots + failed === clients.length) {
		reported = true;
		process.stdout.write(JSON.stringify({ phase: "open", open, snapshots, failed }) + "\n");
	}
}

function connect(c) {
	const ws = new WebSocket(url + "/ws/trading?token=" + c.token, { perMessageDeflate: false });
	let snap = false;
	ws.on("open", () => {
		open++;
		ws.send(JSON.stringify({ type: "subscribe", data: { channels: CHANNELS } }));
	});
	ws.on("message", (data) => {
		const t = nowUs();
		const m = JSON.parse(data);
		if (m.type === "snapshot") {
			if (!snap) {
				snap = true;
				snapshots++;
				maybeOpenReport();
			}
			return;
		}
		if (!USER_TYPES.has(m.type))
			return;
		win.messages++;
		win.bytes += data.length;
		if (m.data.user_id !== c.user) {
			win.foreign++;
			return;
		}
		win.user++;
		if (typeof m.committed_at === "string")
			win.lat.push(t - isoUs(m.committed_at));
		else
			win.nolatency++;
	});
	ws.on("error", () => {});
	ws.on("close", (code) => {
		closes[code] = (closes[code] || 0) + 1;
		closed++;
		if (!snap) {
			failed++;
			maybeOpenReport();
		}
	});
}

// Open at most 500 at a time: the listen queue and the snapshots' reads.
let next = 0;
function openSome() {
	const until = Math.min(clients.length, next + 500);
	for (; next < until; next++)
		connect(clients[next]);
	if (next < clients.length)
		setTimeout(openSome, 100);
}
openSome();
process.on("SIGUSR1", () => report("window"));
process.on("SIGTERM", () => {
	report("window");
	process.exit(0);
});
