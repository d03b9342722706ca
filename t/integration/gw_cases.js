// gw_cases.js: the gateway protocol cases of gw_protocol.py run with node's
// `ws` client (npm), not ours.  Reads {"base": "ws://...", "cases": [...]} on
// standard input, runs the cases one after the other, and prints one JSON
// line per case: {"name", "status" (HTTP status of a refused handshake),
// "messages" (parsed, in order, each with "at": seconds since open),
// "close": [code, reason]}.  A case: {name, path, origin, hold (connections
// of the same path opened first, each sent a ping and waited for until its
// first message, and kept open during it), send: [[delay_s,
// text], ...], wait (seconds to collect), count (stop after this many
// messages)}.  Required as NODE_PATH/ws.
'use strict';
const WebSocket = require('ws');

function once(c, base) {
    return new Promise((resolve) => {
        const r = { name: c.name, status: null, messages: [], close: null };
        const opts = { handshakeTimeout: 5000, maxPayload: 1 << 26 };
        if (c.origin) opts.origin = c.origin;
        const ws = new WebSocket(base + c.path, opts);
        let t0 = Date.now(), timer = null, finished = false;
        const finish = () => {
            if (finished) return;
            finished = true;
            if (timer) clearTimeout(timer);
            try { ws.terminate(); } catch (e) { /* already gone */ }
            resolve(r);
        };
        ws.on('unexpected-response', (req, res) => {
            r.status = res.statusCode;
            finish();
        });
        ws.on('error', (e) => {
            if (r.status === null && r.close === null) r.error = String(e.message || e);
            finish();
        });
        ws.on('open', () => {
            t0 = Date.now();
            timer = setTimeout(finish, (c.wait || 3) * 1000);
            for (const [delay, text] of (c.send || []))
                setTimeout(() => { if (ws.readyState === WebSocket.OPEN) ws.send(text); },
                    delay * 1000);
        });
        ws.on('message', (data) => {
            let m;
            try { m = JSON.parse(data.toString()); } catch (e) { m = { raw: data.toString() }; }
            m.at = (Date.now() - t0) / 1000;
            r.messages.push(m);
            if (c.count && r.messages.length >= c.count) finish();
        });
        ws.on('close', (code, reason) => {
            r.close = [code, reason.toString()];
            finish();
        });
    });
}

async function hold(c, base) {
    const held = [];
    for (let i = 0; i < (c.hold || 0); i++) {
        const ws = new WebSocket(base + c.path);
        ws.on('open', () => ws.send('{"type":"ping"}'));
        await new Promise((resolve) => {
            ws.on('message', () => resolve());
            ws.on('close', () => resolve());
            ws.on('error', () => resolve());
            setTimeout(resolve, 5000);
        });
        held.push(ws);
    }
    return held;
}

async function main() {
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    const { base, cases } = JSON.parse(input);
    for (const c of cases) {
        const held = await hold(c, base);
        const r = await once(c, base);
        for (const ws of held) ws.terminate();
        process.stdout.write(JSON.stringify(r) + '\n');
        // The held connections' close reaches the gateway before the next case.
        await new Promise((resolve) => setTimeout(resolve, 300));
    }
}

main().catch((e) => { console.error(e); process.exit(1); });
