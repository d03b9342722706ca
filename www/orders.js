/*
 * orders.js: the live orders page /orders.  With a JWT (the URL fragment
 * #token=…, taken once and removed from the address bar, or pasted; kept in
 * this tab's sessionStorage) it connects to /ws/trading, authenticates with
 * an `auth` message, and shows the user's orders, positions and balances:
 * the snapshot after auth_ok replaces everything this tab knew, then
 * order_update, fill, position_update and balance_update messages update it
 * in place (doc/gateway.md).  Each tab has its own connection and token, so
 * several tabs, of one user or of several, work side by side.
 */
"use strict";

(() => {
	const { $, el, setText, clock, fmt, decCmp, dec, Conn } = EX;
	const KEY = "exfeedd.token";
	const CHANNELS = ["orders", "fills", "positions", "balances", "risk_alerts"];
	const MAX_CLOSED = 300;		/* finished orders kept (the open ones all are) */
	const MAX_ROWS = 400;		/* order rows drawn */
	const MAX_FILLS = 100;		/* fills drawn */
	const OPEN = new Set(["NEW", "PARTIALLY_FILLED"]);
	const RANK = { NEW: 1, PARTIALLY_FILLED: 2, FILLED: 3, CANCELED: 3, EXPIRED: 3, EXPIRED_IN_MATCH: 3 };

	const orders = new Map();	/* "account:order_id" → order data */
	const positions = new Map();	/* "account:symbol:position_side" → position data */
	const balances = new Map();	/* "account:asset" → balance data */
	let fills = [];			/* newest first, at most MAX_FILLS, one per event_id */
	let fillCount = 0;
	const fillIds = new Set();	/* event_ids of fills counted (bounded) */
	const changed = new Set();	/* keys to flash at the next render */
	const msgTimes = [];		/* arrival times of the last 5 s of messages */
	let token = null, user = null, accounts = [], messages = 0, renderTimer = null, pinger = null;

	/* ---- token ------------------------------------------------------- */
	function takeToken() {
		const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
		if (m) {
			try {
				token = decodeURIComponent(m[1]);
			} catch (e) {
				token = m[1];	/* not %-encoded: as it is */
			}
			try {
				sessionStorage.setItem(KEY, token);
			} catch (e) { /* storage off: the token lives in this page only */ }
			/* out of the address bar and the history */
			history.replaceState(null, "", location.pathname + location.search);
			return token;
		}
		try {
			token = sessionStorage.getItem(KEY);
		} catch (e) {
			token = null;
		}
		return token;
	}

	function showForm(why) {
		$("tokenbox").classList.remove("hidden");
		$("forget").classList.add("hidden");
		setText("token-error", why || "");
	}

	/* ---- order precedence: as the orders table (writer_sql.c) --------- */
	function newer(a, b) {
		/* (update_time, filled_qty, status rank) forward; equal: a changed price/qty replaces */
		const ta = String(a.update_time || ""), tb = String(b.update_time || "");
		if (ta !== tb)
			return ta > tb;
		const f = decCmp(a.filled_qty, b.filled_qty);
		if (f)
			return f > 0;
		const r = (RANK[a.status] || 0) - (RANK[b.status] || 0);
		if (r)
			return r > 0;
		return decCmp(a.price, b.price) !== 0 || decCmp(a.orig_qty, b.orig_qty) !== 0 ||
		    decCmp(a.stop_price, b.stop_price) !== 0;
	}

	function orderKey(o) {
		return o.account_id + ":" + o.order_id;
	}

	function putOrder(o, live) {
		const k = orderKey(o), old = orders.get(k);
		if (old && !newer(o, old))
			return;
		orders.set(k, o);
		if (live)
			changed.add("o" + k);
	}

	/* Keep every open order and the MAX_CLOSED latest finished ones. */
	function trimOrders() {
		const closed = [];
		for (const [k, o] of orders)
			if (!OPEN.has(o.status))
				closed.push([String(o.update_time), k]);
		if (closed.length <= MAX_CLOSED)
			return;
		closed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
		for (let i = 0; i < closed.length - MAX_CLOSED; i++)
			orders.delete(closed[i][1]);
	}

	function putPosition(p, live) {
		const k = p.account_id + ":" + p.symbol + ":" + p.position_side, old = positions.get(k);
		if (old && String(p.update_time || "") < String(old.update_time || ""))
			return;
		/* the writer keeps a known margin type and asset over an update's "" */
		if (old && !p.margin_type)
			p.margin_type = old.margin_type;
		if (old && !p.margin_asset)
			p.margin_asset = old.margin_asset;
		if (decCmp(p.amount, "0") === 0)
			positions.delete(k);	/* closed: the snapshot lists non-zero positions only */
		else
			positions.set(k, p);
		if (live)
			changed.add("p" + k);
	}

	function putBalance(b, live) {
		const k = b.account_id + ":" + b.asset, old = balances.get(k);
		if (old && String(b.update_time || "") < String(old.update_time || ""))
			return;
		balances.set(k, b);
		if (live)
			changed.add("b" + k);
	}

	function putFill(f) {
		const i = fills.findIndex((x) => x.event_id === f.event_id);
		if (i >= 0) {
			fills[i] = f;	/* the complete fill after its TRADE_LITE one */
		} else {
			fills.unshift(f);
			if (fills.length > MAX_FILLS)
				fills.length = MAX_FILLS;
		}
		if (!fillIds.has(f.event_id)) {
			fillIds.add(f.event_id);
			fillCount++;
			if (fillIds.size > 10000)
				fillIds.delete(fillIds.values().next().value);
		}
		changed.add("f" + f.event_id);
	}

	/* ---- messages ----------------------------------------------------- */
	function onMessage(m, conn) {
		const now = Date.now();
		messages++;
		msgTimes.push(now);
		const d = m.data || {};
		switch (m.type) {
		case "auth_ok":
			user = d.user_id;
			accounts = Array.isArray(d.accounts) ? d.accounts : [];
			setText("who", "user " + user + " · accounts " + accounts.join(", "));
			break;
		case "snapshot":
			/* everything this tab knew is replaced: closed orders stay (history) */
			for (const [k, o] of orders)
				if (OPEN.has(o.status))
					orders.delete(k);
			positions.clear();
			balances.clear();
			for (const o of d.orders || [])
				putOrder(o, false);
			for (const p of d.positions || [])
				putPosition(p, false);
			for (const b of d.balances || [])
				putBalance(b, false);
			document.body.dataset.snapshots = String((+document.body.dataset.snapshots || 0) + 1);
			break;
		case "order_update":
			putOrder(d, true);
			break;
		case "fill":
			putFill(d);
			break;
		case "position_update":
			putPosition(d, true);
			break;
		case "balance_update":
			putBalance(d, true);
			break;
		case "risk_alert":
			setText("alerts", "margin call " + clock(m.timestamp) + ": account " + d.account_id + " " +
			    (d.symbol || "") + " " + dec(d.amount) + " maint. margin " + dec(d.maint_margin));
			break;
		case "error":
			console.warn("gateway error", d.code, d.message);
			break;
		default:
			break;
		}
		schedule();
	}

	/* ---- rendering: batched, rows reused and updated in place -------- */
	function schedule() {
		if (!renderTimer)
			renderTimer = setTimeout(render, 30);
	}

	function sideCell(side) {
		return el("td", { class: side === "BUY" ? "buy" : side === "SELL" ? "sell" : "" }, side || "");
	}

	function statusBadge(s) {
		const c = s === "FILLED" ? "good" : s === "PARTIALLY_FILLED" ? "info" : s === "NEW" ? "warn" : "bad";
		return el("span", { class: "badge " + c }, s);
	}

	/*
	 * Put rows into tbody in the order of items ([key, data]), reusing the
	 * row of a key: a row is built again (build(data) → [attrs, cells]) only
	 * when its data is another object than the one it was built from, so a
	 * render costs the rows that changed, not the table.
	 */
	function syncRows(tbody, cache, items, build, prefix) {
		const keep = new Set();
		let i = 0;
		for (const [key, data] of items) {
			keep.add(key);
			let r = cache.get(key);
			if (!r || r.data !== data) {
				const [attrs, cells] = build(data);
				const tr = el("tr", attrs, cells);
				if (r)
					r.tr.replaceWith(tr);
				r = { tr, data };
				cache.set(key, r);
			}
			if (changed.has(prefix + key))
				r.tr.classList.add("flash");	/* a new row: the animation runs once */
			if (tbody.children[i] !== r.tr)
				tbody.insertBefore(r.tr, tbody.children[i] || null);
			i++;
		}
		for (const [key, r] of cache)
			if (!keep.has(key)) {
				r.tr.remove();
				cache.delete(key);
			}
		return items.length;
	}

	const orderRows = new Map(), posRows = new Map(), balRows = new Map(), fillRows = new Map();

	function orderRow(o) {
		return [{ "data-account": o.account_id, "data-order-id": o.order_id, "data-status": o.status,
		    "data-filled": o.filled_qty, "data-symbol": o.symbol },
		    [el("td", { class: "num" }, clock(o.update_time)), el("td", { class: "num" }, String(o.account_id)),
		     el("td", { class: "num" }, String(o.order_id)), el("td", {}, o.symbol), sideCell(o.side),
		     el("td", {}, o.order_type), el("td", { class: "num" }, dec(o.price)),
		     el("td", { class: "num" }, dec(o.orig_qty)), el("td", { class: "num" }, dec(o.filled_qty)),
		     el("td", { class: "num" }, dec(o.avg_price)), el("td", {}, statusBadge(o.status))]];
	}

	function positionRow(p) {
		return [{ "data-account": p.account_id, "data-symbol": p.symbol, "data-amount": p.amount },
		    [el("td", { class: "num" }, String(p.account_id)), el("td", {}, p.symbol), el("td", {}, p.position_side),
		     el("td", { class: "num " + (decCmp(p.amount, "0") < 0 ? "neg" : "pos") }, dec(p.amount)),
		     el("td", { class: "num" }, dec(p.entry_price)),
		     el("td", { class: "num " + (decCmp(p.unrealized_pnl, "0") < 0 ? "neg" : "pos") }, dec(p.unrealized_pnl)),
		     el("td", {}, p.margin_type || "")]];
	}

	function balanceRow(b) {
		return [{ "data-account": b.account_id, "data-asset": b.asset, "data-wallet": b.wallet_balance },
		    [el("td", { class: "num" }, String(b.account_id)), el("td", {}, b.asset),
		     el("td", { class: "num" }, dec(b.wallet_balance)), el("td", { class: "num" }, dec(b.cross_wallet)),
		     el("td", { class: "num" }, dec(b.balance_change)), el("td", {}, b.reason || "")]];
	}

	function fillRow(f) {
		return [{ "data-account": f.account_id, "data-order-id": f.order_id },
		    [el("td", { class: "num" }, clock(f.trade_time)), el("td", { class: "num" }, String(f.account_id)),
		     el("td", { class: "num" }, String(f.trade_id)), el("td", { class: "num" }, String(f.order_id)),
		     el("td", {}, f.symbol), sideCell(f.side), el("td", { class: "num" }, dec(f.price)),
		     el("td", { class: "num" }, dec(f.qty)),
		     el("td", { class: "num" }, f.lite ? "…" : dec(f.fee) + " " + (f.fee_asset || "")),
		     el("td", { class: "num" }, f.lite ? "…" : dec(f.realized_pnl)), el("td", {}, f.maker ? "maker" : "taker")]];
	}

	const byKey = (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

	function render() {
		renderTimer = null;
		trimOrders();
		const list = [...orders.entries()].sort(([, a], [, b]) => {
			const oa = OPEN.has(a.status) ? 0 : 1, ob = OPEN.has(b.status) ? 0 : 1;
			if (oa !== ob)
				return oa - ob;
			const ta = String(a.update_time), tb = String(b.update_time);
			return tb < ta ? -1 : tb > ta ? 1 : 0;
		}).slice(0, MAX_ROWS);
		$("orders-empty").classList.toggle("hidden", syncRows($("orders"), orderRows, list, orderRow, "o") > 0);
		$("positions-empty").classList.toggle("hidden",
		    syncRows($("positions"), posRows, [...positions.entries()].sort(byKey), positionRow, "p") > 0);
		$("balances-empty").classList.toggle("hidden",
		    syncRows($("balances"), balRows, [...balances.entries()].sort(byKey), balanceRow, "b") > 0);
		$("fills-empty").classList.toggle("hidden",
		    syncRows($("fills"), fillRows, fills.map((f) => [f.event_id, f]), fillRow, "f") > 0);
		changed.clear();
		stats();
	}

	function stats() {
		const by = {};
		let open = 0;
		for (const o of orders.values()) {
			by[o.status] = (by[o.status] || 0) + 1;
			if (OPEN.has(o.status))
				open++;
		}
		setText("s-open", String(open));
		setText("s-known", orders.size + " known");
		setText("s-fills", String(fillCount));
		setText("s-msgs", messages.toLocaleString() + " messages");
		setText("s-pos", String(positions.size));
		setText("s-bal", balances.size + " balances");
		const order = ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"];
		const names = Object.keys(by).sort((a, b) => {
			const ia = order.indexOf(a), ib = order.indexOf(b);
			return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : 1);
		});
		$("s-status").replaceChildren(...(names.length ? names.map((s) =>
		    el("span", { "data-status": s }, statusBadge(s), " ", el("b", { class: "num" }, String(by[s])))) :
		    [el("span", { class: "empty" }, "none yet")]));
	}

	/* messages/s over the last 5 seconds, once a second */
	setInterval(() => {
		const now = Date.now();
		while (msgTimes.length && now - msgTimes[0] > 5000)
			msgTimes.shift();
		setText("s-rate", fmt(msgTimes.length / 5, 1));
	}, 1000);

	/* ---- connection ---------------------------------------------------- */
	const conn = new Conn("/ws/trading", {
		dot: $("dot"),
		label: $("conn-label"),
		silenceMs: 40000,	/* our ping every 15 s is answered by a pong */
		onopen(c) {
			/*
			 * The subscription right behind the token, not after auth_ok: the
			 * gateway holds a client's live events while it reads the snapshot
			 * only for the channels already subscribed, so a subscribe sent
			 * later would miss what was committed in between.
			 */
			c.send({ type: "auth", data: { token } });
			c.send({ type: "subscribe", id: "channels", data: { channels: CHANNELS } });
			clearInterval(pinger);
			pinger = setInterval(() => c.send({ type: "ping" }), 15000);
		},
		onmessage: onMessage,
		onclose(ev, c) {
			clearInterval(pinger);
			/* 4001 and 4002: this token will not work on any retry */
			if (ev.code === 4001 || ev.code === 4002) {
				c.stopReason = (ev.code === 4001 ? "token rejected" : "user has no active account") +
				    (ev.reason ? ": " + ev.reason : "");
				try {
					sessionStorage.removeItem(KEY);
				} catch (e) { /* nothing kept */ }
				showForm(c.stopReason + " (" + ev.code + ")");
				return false;
			}
			return true;
		},
	});

	function go() {
		$("tokenbox").classList.add("hidden");
		$("live").classList.remove("hidden");
		$("forget").classList.remove("hidden");
		conn.start();
	}

	$("tokenform").addEventListener("submit", (ev) => {
		ev.preventDefault();
		const t = $("token").value.trim();
		if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(t)) {
			setText("token-error", "that is not a JWT (three base64url parts)");
			return;
		}
		token = t;
		$("token").value = "";
		try {
			sessionStorage.setItem(KEY, t);
		} catch (e) { /* this page only */ }
		go();
	});
	$("forget").addEventListener("click", () => {
		try {
			sessionStorage.removeItem(KEY);
		} catch (e) { /* nothing kept */ }
		token = null;
		conn.stop("no token");
		$("live").classList.add("hidden");
		showForm("");
	});
	window.addEventListener("hashchange", () => {
		if (takeToken()) {
			conn.stop("new token");
			go();
		}
	});

	if (takeToken())
		go();
	else
		showForm("");
	window.exfeeddOrders = { conn, orders, positions, balances };
})();
