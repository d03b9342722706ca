// tools/benchnode.cjs: what the benches' node consumers (tools/bench-ccxt.cjs,
// tools/bench-ccxt-user.cjs) share: watch loops as an application runs them.
//
// runner(prefix, counters) returns {running, err, loop}:
//   err(what, e)    counts counters.errors and writes "prefix: what: message"
//                   to stderr, at most one line every 5 s;
//   loop(what, fn)  awaits fn() again and again while running is true; an
//                   error is err()'d and the loop waits 1 s before the next;
//   running         set it false to end every loop (after its current await).
"use strict";

function runner(prefix, counters) {
	let lastErr = 0;
	const r = { running: true };

	r.err = (what, e) => {
		counters.errors++;
		const now = Date.now();
		if (now - lastErr > 5000) {
			lastErr = now;
			process.stderr.write(`${prefix}: ${what}: ${e && e.message ? e.message : e}\n`);
		}
	};
	r.loop = async (what, fn) => {
		while (r.running) {
			try {
				await fn();
			} catch (e) {
				if (!r.running)
					return;
				r.err(what, e);
				await new Promise((res) => setTimeout(res, 1000));
			}
		}
	};
	return r;
}

module.exports = { runner };
