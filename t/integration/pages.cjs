// pages.cjs: headless Chromium for t/integration/pages.py, driven by
// playwright-core (npm; the browser is Debian's chromium).  One command a
// line on standard input, one JSON answer a line on standard output, so the
// Python side decides when to kill the gateway and what to compare:
//   {"cmd":"open","name":N,"url":U}          a new tab
//   {"cmd":"wait","name":N,"js":E,"timeout_ms":T}  until expression E is truthy
//   {"cmd":"eval","name":N,"js":E}           E's value
//   {"cmd":"screenshot","name":N,"path":P}
//   {"cmd":"log","name":N}                   console errors, page errors, refused requests
//   {"cmd":"close","name":N}
//   {"cmd":"quit"}
// Usage: node pages.cjs PLAYWRIGHT_CORE_DIR CHROMIUM
"use strict";
const path = require("path");
const readline = require("readline");

const [pwDir, chromiumPath] = process.argv.slice(2);
const { chromium } = require(path.join(pwDir, "node_modules", "playwright-core"));

// Every order row a page ever shows, with when it first showed each status
// (Date.now(), the machine's clock as the test's): a row shown for a moment
// counts too.
function observer() {
	window.__seen = {};
	const note = (tr) => {
		if (!tr.dataset || !tr.dataset.orderId || !tr.closest("#orders"))
			return;
		const k = tr.dataset.account + ":" + tr.dataset.orderId;
		const s = (window.__seen[k] = window.__seen[k] || { account: tr.dataset.account, statuses: {} });
		if (!(tr.dataset.status in s.statuses))
			s.statuses[tr.dataset.status] = Date.now();
	};
	const start = () => {
		const root = document.getElementById("orders");
		if (!root)
			return;
		new MutationObserver((muts) => {
			for (const m of muts) {
				if (m.type === "attributes")
					note(m.target);
				for (const n of m.addedNodes || [])
					if (n.nodeType === 1)
						note(n);
			}
		}).observe(root, { childList: true, attributes: true, attributeFilter: ["data-status"], subtree: true });
	};
	document.addEventListener("DOMContentLoaded", start);
	// When each order's FILLED message arrived (before the page drew it),
	// and the last snapshot as sent.
	window.__arrived = {};
	const Native = window.WebSocket;
	window.WebSocket = class extends Native {
		constructor(...a) {
			super(...a);
			this.addEventListener("message", (ev) => {
				if (typeof ev.data !== "string")
					return;
				if (ev.data.startsWith('{"type":"snapshot"'))
					window.__snapshot = ev.data;
				if (ev.data.indexOf('"FILLED"') < 0 || ev.data.indexOf('"order_update"') < 0)
					return;
				const m = /"account_id":(\d+).*?"order_id":(\d+)/.exec(ev.data);
				if (m && !((m[1] + ":" + m[2]) in window.__arrived))
					window.__arrived[m[1] + ":" + m[2]] = Date.now();
			});
		}
	};
}

(async () => {
	const browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
	    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
	const context = await browser.newContext({ viewport: { width: 1280, height: 860 },
	    reducedMotion: process.env.PAGES_MOTION ? "no-preference" : "reduce" });
	await context.addInitScript(observer);
	const pages = {}, logs = {};
	const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

	const rl = readline.createInterface({ input: process.stdin });
	for await (const line of rl) {
		let c;
		try {
			c = JSON.parse(line);
		} catch (e) {
			out({ ok: false, error: "bad command: " + line });
			continue;
		}
		try {
			const page = pages[c.name];
			switch (c.cmd) {
			case "open": {
				const p = await context.newPage();
				const log = (logs[c.name] = []);
				p.on("console", (m) => {
					if (m.type() === "error" || m.type() === "warning")
						log.push(m.type() + ": " + m.text());
				});
				p.on("pageerror", (e) => log.push("pageerror: " + e.message));
				p.on("requestfailed", (r) => {
					// a WebSocket torn down by the killed gateway is expected
					if (!r.url().startsWith("ws"))
						log.push("requestfailed: " + r.url() + " " + (r.failure() || {}).errorText);
				});
				pages[c.name] = p;
				const r = await p.goto(c.url, { waitUntil: "load", timeout: 10000 });
				out({ ok: true, status: r ? r.status() : 0 });
				break;
			}
			case "wait": {
				// Polled from here: the pages' CSP refuses the eval waitForFunction does in the page.
				const t0 = Date.now(), limit = t0 + (c.timeout_ms || 10000);
				let v = false, err = null;
				while (!v && Date.now() < limit) {
					try {
						v = await page.evaluate(c.js);
					} catch (e) {
						err = e;
					}
					if (!v)
						await new Promise((r) => setTimeout(r, 50));
				}
				out(v ? { ok: true, ms: Date.now() - t0 } :
				    { ok: false, error: "not true in " + (c.timeout_ms || 10000) + " ms" +
				      (err ? ": " + String(err.message || err).split("\n")[0] : "") });
				break;
			}
			case "eval":
				out({ ok: true, value: await page.evaluate(c.js) });
				break;
			case "screenshot":
				// a tab in the background may draw no frame to take
				await page.bringToFront();
				await page.screenshot({ path: c.path, fullPage: !!c.full, timeout: 15000 });
				out({ ok: true });
				break;
			case "close":
				await page.close();
				delete pages[c.name];
				out({ ok: true });
				break;
			case "log":
				out({ ok: true, value: logs[c.name] || [] });
				break;
			case "quit":
				await browser.close();
				out({ ok: true });
				process.exit(0);
				break;
			default:
				out({ ok: false, error: "unknown command " + c.cmd });
			}
		} catch (e) {
			out({ ok: false, error: String(e && e.message || e).split("\n")[0] });
		}
	}
	await browser.close();
})().catch((e) => {
	process.stderr.write("pages.cjs: " + (e && e.stack || e) + "\n");
	process.exit(2);
});
