/*
 * status.js: the status page /.  Listens on /ws/ops, where the gateway
 * sends one `ops` message a second (doc/gateway.md "The ops message"), and
 * shows the workers, the accounts by state, events/s and event → commit
 * latency as live charts of the last two minutes.
 */
"use strict";

(() => {
	const { $, el, setText, fmt, duration, clock, Conn, Series, chart } = EX;
	const N = 120;
	const rate = new Series(N), p50 = new Series(N), p99 = new Series(N);
	let prev = null;	/* the previous message's events_committed and time, for a rate it lacks */
	let updates = 0, seenEvents = 0, prevT = null;

	function stateClass(s) {
		s = String(s || "").toLowerCase();
		if (s === "ready" || s === "streaming" || s === "running")
			return "good";
		if (/start|connect|backoff|resync|pending|reload|wait/.test(s))
			return "warn";
		if (/fail|dead|error|disabled|invalid|stopp|revoked|exited/.test(s))
			return "bad";
		return "info";
	}

	function num(x) {
		return typeof x === "number" && isFinite(x) ? x : null;
	}

	/* {state: count} from either an object or [{state, count}]. */
	function accountStates(a) {
		const out = {};
		if (Array.isArray(a)) {
			for (const r of a)
				if (r && typeof r.state === "string")
					out[r.state] = (out[r.state] || 0) + (num(r.count) || 0);
		} else if (a && typeof a === "object") {
			for (const [k, v] of Object.entries(a))
				if (num(v) !== null)
					out[k] = v;
		}
		return out;
	}

	function renderAccounts(states) {
		const bar = $("acc-bar"), list = $("acc-states");
		const total = Object.values(states).reduce((s, x) => s + x, 0);
		const names = Object.keys(states).sort((a, b) => {
			const o = (s) => ({ good: 0, warn: 1, info: 2, bad: 3 })[stateClass(s)];
			return o(a) - o(b) || states[b] - states[a] || (a < b ? -1 : 1);
		});
		const color = (s) => ({ good: "c0", warn: "c1", bad: "c2", info: "c3" })[stateClass(s)];
		bar.replaceChildren(...names.filter((s) => states[s] > 0).map((s) => {
			const span = el("span", { class: color(s), title: s + ": " + states[s] });
			span.style.width = (100 * states[s] / Math.max(1, total)) + "%";
			return span;
		}));
		const shown = names.filter((s) => states[s] > 0);
		list.replaceChildren(...(shown.length ? shown.map((s) =>
		    el("span", { "data-state": s }, el("i", { class: color(s) }), s + " ",
		    el("b", { class: "num" }, String(states[s])))) :
		    [el("span", { class: "empty" }, "no accounts")]));
		return { total, streaming: states.streaming || 0 };
	}

	function renderWorkers(workers) {
		const body = $("workers");
		if (!Array.isArray(workers) || !workers.length) {
			body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "empty" }, "no workers")));
			return { ready: 0, total: 0, restarts: 0 };
		}
		let ready = 0, restarts = 0;
		body.replaceChildren(...workers.map((w) => {
			if (w.state === "ready")
				ready++;
			restarts += num(w.restarts) || 0;
			return el("tr", { "data-role": w.role, "data-instance": w.instance },
			    el("td", {}, String(w.role || "")),
			    el("td", { class: "num" }, String(w.instance ?? "")),
			    el("td", { class: "num" }, w.pid > 0 ? String(w.pid) : "–"),
			    el("td", {}, el("span", { class: "badge " + stateClass(w.state) }, String(w.state || "?"))),
			    el("td", { class: "num" }, String(w.restarts ?? 0)),
			    el("td", { class: "num" }, duration(w.uptime_ms) || "–"));
		}));
		return { ready, total: workers.length, restarts };
	}

	function onOps(m) {
		const d = m.data || {};
		const t = Date.parse(m.timestamp) || Date.now();
		updates++;
		let r = num(d.events_per_s);
		const committed = num(d.events_committed);
		if (r === null && committed !== null && prev && t > prev.t)
			r = Math.max(0, (committed - prev.committed) * 1000 / (t - prev.t));
		if (committed !== null)
			prev = { committed, t };
		let lat = d.commit_latency_ms;
		if (!lat && d.latency_us)
			lat = { p50: num(d.latency_us.p50) / 1000, p99: num(d.latency_us.p99) / 1000 };
		lat = lat || {};
		rate.push(r);
		p50.push(num(lat.p50));
		p99.push(num(lat.p99));

		setText("v-rate", fmt(r, r !== null && r < 10 ? 1 : 0));
		setText("v-lat", num(lat.p50) !== null ? fmt(lat.p50, 2) + " ms" : "–");
		setText("v-lat99", "p99 " + (num(lat.p99) !== null ? fmt(lat.p99, 2) + " ms" : "–"));
		/* without the writer's counter: the events of the rates seen since this page opened */
		if (committed === null && r !== null && prevT !== null && t > prevT)
			seenEvents += r * (t - prevT) / 1000;
		prevT = t;
		setText("v-total", committed !== null ? committed.toLocaleString() :
		    Math.round(seenEvents).toLocaleString());
		setText("v-total-sub", committed !== null ? "since the writer started" : "since this page opened");
		const acc = renderAccounts(accountStates(d.accounts));
		setText("v-acc", String(acc.streaming));
		setText("v-acc-sub", "of " + acc.total);
		const wk = renderWorkers(d.workers);
		setText("v-wk", wk.ready + " / " + wk.total);
		setText("v-wk-sub", "restarts " + wk.restarts);
		const gw = d.gateway || {};
		setText("v-gw", num(gw.connections) !== null ? String(gw.connections) : "–");
		setText("v-gw-sub", "users " + (num(gw.users) !== null ? gw.users : "–"));
		setText("meta", [d.version ? "exfeedd " + d.version : "", d.uptime_ms ? "up " + duration(d.uptime_ms) : "",
		    "updated " + clock(t)].filter(Boolean).join(" · "));
		document.body.dataset.updates = String(updates);
		draw();
	}

	function draw() {
		chart($("c-rate"), [rate], { unit: "/s" });
		chart($("c-lat"), [p50, p99], { unit: "ms" });
	}

	const conn = new Conn("/ws/ops", {
		dot: $("dot"),
		label: $("conn-label"),
		silenceMs: 5000,	/* one message a second: five missed means a dead connection */
		onmessage(m) {
			if (m && m.type === "ops")
				onOps(m);
		},
		onclose() {
			prev = prevT = null;
			/* a gap in the charts while away */
			rate.push(null);
			p50.push(null);
			p99.push(null);
			draw();
			return true;
		},
	});
	window.addEventListener("resize", draw);
	conn.start();
	window.exfeeddStatus = { conn };
})();
