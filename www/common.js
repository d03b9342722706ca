/*
 * common.js: what the gateway's pages share: a WebSocket that reconnects
 * by itself (exponential backoff with jitter, capped), the connection dot,
 * JSON with 64-bit ids kept exact, small canvas charts, and DOM helpers.
 * No library: the pages load nothing from anywhere but the gateway.
 */
"use strict";

const EX = (() => {
	/*
	 * JSON.parse, except that an integer beyond 2^53 (a 64-bit id) becomes
	 * its exact decimal text instead of a rounded double (the reviver's
	 * source text, where the browser gives it).
	 */
	function parseJSON(text) {
		return JSON.parse(text, (key, value, ctx) => {
			if (typeof value === "number" && !Number.isSafeInteger(value) &&
			    ctx && typeof ctx.source === "string" && /^-?\d+$/.test(ctx.source))
				return ctx.source;
			return value;
		});
	}

	/* document.createElement with attributes and children (strings become text). */
	function el(tag, attrs, ...children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === undefined || v === null || v === false)
				continue;
			if (k === "class")
				e.className = v;
			else if (k === "text")
				e.textContent = v;
			else
				e.setAttribute(k, v === true ? "" : String(v));
		}
		for (const c of children.flat())
			if (c !== undefined && c !== null)
				e.append(c instanceof Node ? c : String(c));
		return e;
	}

	function $(id) {
		return document.getElementById(id);
	}

	function setText(id, text) {
		const e = typeof id === "string" ? $(id) : id;
		const s = String(text);
		if (e && e.textContent !== s)
			e.textContent = s;
	}

	/* "2024-02-29T15:22:18.459Z" or ms → "15:22:18.459" (local time). */
	function clock(t) {
		if (t === undefined || t === null || t === "")
			return "";
		const d = new Date(t);
		if (isNaN(d))
			return String(t);
		const p = (n, w) => String(n).padStart(w || 2, "0");
		return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." +
		    p(d.getMilliseconds(), 3);
	}

	function duration(ms) {
		if (typeof ms !== "number" || !isFinite(ms) || ms < 0)
			return "";
		let s = Math.floor(ms / 1000);
		const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
		    m = Math.floor(s % 3600 / 60);
		s %= 60;
		if (d)
			return d + "d " + h + "h";
		if (h)
			return h + "h " + m + "m";
		if (m)
			return m + "m " + s + "s";
		return s + "s";
	}

	function fmt(n, digits) {
		if (typeof n !== "number" || !isFinite(n))
			return "–";
		return n.toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 1 : digits,
		    minimumFractionDigits: 0 });
	}

	/*
	 * Compare two plain decimal strings ("-?digits[.digits]", as the
	 * gateway sends them, never through a double): -1, 0 or 1.
	 */
	function decCmp(a, b) {
		const norm = (s) => {
			s = String(s === null || s === undefined || s === "" ? "0" : s);
			let neg = s[0] === "-";
			if (neg || s[0] === "+")
				s = s.slice(1);
			let [i, f = ""] = s.split(".");
			i = i.replace(/^0+/, "");
			f = f.replace(/0+$/, "");
			if (!i && !f)
				neg = false;
			return { neg, i, f };
		};
		const x = norm(a), y = norm(b);
		if (x.neg !== y.neg)
			return x.neg ? -1 : 1;
		let c;
		if (x.i.length !== y.i.length)
			c = x.i.length < y.i.length ? -1 : 1;
		else if (x.i !== y.i)
			c = x.i < y.i ? -1 : 1;
		else {
			const w = Math.max(x.f.length, y.f.length);
			const xf = x.f.padEnd(w, "0"), yf = y.f.padEnd(w, "0");
			c = xf === yf ? 0 : xf < yf ? -1 : 1;
		}
		return x.neg ? -c : c;
	}

	/* A decimal string for display: trailing zeros of the fraction dropped. */
	function dec(s) {
		if (s === null || s === undefined || s === "")
			return "";
		s = String(s);
		if (s.indexOf(".") >= 0)
			s = s.replace(/0+$/, "").replace(/\.$/, "");
		return s;
	}

	/*
	 * A WebSocket to path on this origin that reconnects by itself.
	 *   opts.onopen(conn)      after each connect
	 *   opts.onmessage(msg)    each message, parsed
	 *   opts.onclose(ev)       return false to stop reconnecting (e.g. a bad token)
	 *   opts.dot, opts.label   the indicator elements
	 *   opts.silenceMs         no message for this long: the connection is dead
	 * Backoff: min(capMs, baseMs * 2^attempt), times a random 0.5..1 (so
	 * many tabs do not come back at once); the attempt count is reset once a
	 * connection has carried a message.
	 */
	class Conn {
		constructor(path, opts) {
			this.path = path;
			this.opts = Object.assign({ baseMs: 500, capMs: 15000, silenceMs: 0 }, opts);
			this.attempt = 0;
			this.ws = null;
			this.timer = null;
			this.watchdog = null;
			this.stopped = false;
			this.retryAt = 0;
			this.lastMessage = 0;
			this.messages = 0;
			this.connects = 0;
			this.state = "";
			this.tick = setInterval(() => this.render(), 1000);
			window.addEventListener("online", () => this.retryNow());
			document.addEventListener("visibilitychange", () => {
				if (document.visibilityState === "visible")
					this.retryNow();
			});
		}

		url() {
			const proto = location.protocol === "https:" ? "wss:" : "ws:";
			return proto + "//" + location.host + this.path;
		}

		start() {
			this.stopped = false;
			this.connect();
		}

		/* Close for good (a token that cannot work; the user forgot it). */
		stop(why) {
			this.stopped = true;
			clearTimeout(this.timer);
			clearInterval(this.watchdog);
			if (this.ws) {
				const ws = this.ws;
				this.ws = null;
				ws.onclose = ws.onerror = ws.onmessage = ws.onopen = null;
				try { ws.close(1000); } catch (e) { /* closed already */ }
			}
			this.setState("disconnected", why || "closed");
		}

		retryNow() {
			if (!this.stopped && !this.ws && this.timer) {
				clearTimeout(this.timer);
				this.timer = null;
				this.connect();
			}
		}

		connect() {
			this.timer = null;
			this.setState("connecting", this.connects ? "reconnecting…" : "connecting…");
			let ws;
			try {
				ws = new WebSocket(this.url());
			} catch (e) {
				this.closed({ code: 1006, reason: String(e) });
				return;
			}
			this.ws = ws;
			this.gotMessage = false;
			ws.onopen = () => {
				this.connects++;
				this.lastMessage = Date.now();
				this.setState("connected", "connected");
				if (this.opts.silenceMs) {
					clearInterval(this.watchdog);
					this.watchdog = setInterval(() => {
						if (this.ws === ws && Date.now() - this.lastMessage > this.opts.silenceMs)
							ws.close(4000, "silent");
					}, 500);
				}
				if (this.opts.onopen)
					this.opts.onopen(this);
			};
			ws.onmessage = (ev) => {
				if (this.ws !== ws)
					return;
				this.lastMessage = Date.now();
				this.messages++;
				if (!this.gotMessage) {
					this.gotMessage = true;
					this.attempt = 0;
				}
				let msg;
				try {
					msg = parseJSON(ev.data);
				} catch (e) {
					console.warn("not JSON:", ev.data);
					return;
				}
				if (this.opts.onmessage)
					this.opts.onmessage(msg, this);
			};
			ws.onerror = () => { /* onclose follows with the code */ };
			ws.onclose = (ev) => {
				if (this.ws === ws)
					this.closed(ev);
			};
		}

		closed(ev) {
			this.ws = null;
			clearInterval(this.watchdog);
			if (this.opts.onclose && this.opts.onclose(ev, this) === false) {
				this.stopped = true;
				this.setState("disconnected", this.stopReason || ("closed (" + ev.code + ")"));
				return;
			}
			if (this.stopped)
				return;
			const ceil = Math.min(this.opts.capMs, this.opts.baseMs * Math.pow(2, this.attempt));
			const delay = Math.round(ceil * (0.5 + Math.random() * 0.5));
			this.attempt = Math.min(this.attempt + 1, 30);
			this.retryAt = Date.now() + delay;
			this.lastCode = ev.code;
			this.setState("disconnected", "disconnected");
			this.timer = setTimeout(() => this.connect(), delay);
		}

		send(obj) {
			if (this.ws && this.ws.readyState === WebSocket.OPEN) {
				this.ws.send(JSON.stringify(obj));
				return true;
			}
			return false;
		}

		setState(state, text) {
			this.state = state;
			this.stateText = text;
			this.render();
		}

		render() {
			const dot = this.opts.dot, label = this.opts.label;
			if (dot) {
				dot.className = "dot " + this.state;
				dot.dataset.state = this.state;
				dot.title = this.stateText || this.state;
			}
			if (!label)
				return;
			let text = this.stateText || this.state;
			if (this.state === "disconnected" && this.timer) {
				const s = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
				text += (this.lastCode ? " (" + this.lastCode + ")" : "") + ", retry in " + s + "s";
			}
			if (label.textContent !== text)
				label.textContent = text;
		}
	}

	/* A fixed-length series of numbers (null: no sample). */
	class Series {
		constructor(n) {
			this.n = n;
			this.v = [];
		}
		push(x) {
			this.v.push(typeof x === "number" && isFinite(x) ? x : null);
			if (this.v.length > this.n)
				this.v.shift();
		}
		last() {
			return this.v.length ? this.v[this.v.length - 1] : null;
		}
	}

	/*
	 * Draw series on a canvas: lines (the first one filled below), a zero
	 * baseline, the maximum on the left; colors from the CSS variables.
	 */
	function chart(canvas, series, opts) {
		opts = opts || {};
		const dpr = window.devicePixelRatio || 1;
		const w = canvas.clientWidth, h = canvas.clientHeight;
		if (!w || !h)
			return;
		if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
			canvas.width = Math.round(w * dpr);
			canvas.height = Math.round(h * dpr);
		}
		const g = canvas.getContext("2d");
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.clearRect(0, 0, w, h);
		const css = getComputedStyle(document.documentElement);
		const colors = (opts.colors || ["--green", "--violet", "--blue"]).map(
		    (c) => css.getPropertyValue(c).trim() || "#888");
		const line = css.getPropertyValue("--line").trim(), muted = css.getPropertyValue("--muted").trim();
		let max = opts.min || 0;
		for (const s of series)
			for (const x of s.v)
				if (x !== null && x > max)
					max = x;
		max = max > 0 ? max * 1.15 : 1;
		/* the window grows from 30 samples to the series' length, anchored right */
		const len = series.reduce((m, s) => Math.max(m, s.v.length), 0);
		const top = 14, bottom = h - 2, n = Math.min(series[0] ? series[0].n : 1, Math.max(30, len));
		const X = (i, len) => w - (len - 1 - i) * (w / Math.max(1, n - 1));
		const Y = (x) => bottom - (x / max) * (bottom - top);
		g.strokeStyle = line;
		g.lineWidth = 1;
		g.beginPath();
		g.moveTo(0, bottom + 0.5);
		g.lineTo(w, bottom + 0.5);
		g.stroke();
		series.forEach((s, k) => {
			const v = s.v;
			g.strokeStyle = colors[k % colors.length];
			g.lineWidth = 1.6;
			g.beginPath();
			let started = false, first = -1, lastI = -1;
			for (let i = 0; i < v.length; i++) {
				if (v[i] === null) {
					started = false;
					continue;
				}
				if (first < 0)
					first = i;
				lastI = i;
				if (started)
					g.lineTo(X(i, v.length), Y(v[i]));
				else
					g.moveTo(X(i, v.length), Y(v[i]));
				started = true;
			}
			g.stroke();
			if (k === 0 && first >= 0 && opts.fill !== false) {
				g.lineTo(X(lastI, v.length), bottom);
				g.lineTo(X(first, v.length), bottom);
				g.closePath();
				g.globalAlpha = 0.12;
				g.fillStyle = colors[0];
				g.fill();
				g.globalAlpha = 1;
			}
		});
		g.fillStyle = muted;
		g.font = "11px system-ui, sans-serif";
		g.fillText(fmt(max / 1.15, 1) + (opts.unit ? " " + opts.unit : ""), 2, 10);
	}

	return { parseJSON, el, $, setText, clock, duration, fmt, decCmp, dec, Conn, Series, chart };
})();
