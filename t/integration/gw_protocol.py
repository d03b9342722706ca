#!/usr/bin/python3
"""Issue 13, acceptance 1: the gateway's client protocol (doc/gateway.md)
with two WebSocket clients not written by us: python3-websockets (Debian)
and node's `ws` (npm, installed into ~/.cache/exfeedd with npm install
--no-save; skipped with a message when npm cannot fetch it).  Both run the
same cases against the real stack (exsim -> account workers -> writer ->
the gateway's feed) and are held to the same checks:

auth by ?token= and by a first auth message (auth_ok with the user's
active accounts from exchange_accounts, then the snapshot before anything
else); 4001 for a bad signature, alg none, alg HS512, an expired token, no
token within auth_timeout, a first message other than auth, a bad token in
the auth message; 4002 for a user without accounts; 4003 past
max_connections_per_user; subscribe / unsubscribe (only the user's own
events, on the channels asked, none of a channel after its unsubscribed);
ping -> pong with the id echoed; invalid JSON, an oversized message and
unknown types or channels answered with error 4004 while the connection
lives on; a flood answered with errors and closed with 4004; /ws/market's
subscriptions; Origin refused with 403 unless allowed; an unknown path 404;
past max_connections 503.
Then, with the python client only: /ws/status against the connections
open, TCP_NODELAY on the gateway's socket of each, a client that stops answering pings dropped by the heartbeat, the
first pings of clients that connect together spread over half a heartbeat, a
fresh snapshot after a hole in the writer's feed, and the JWT secret read
again on reload."""
import asyncio
import base64
import calendar
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, tcp_nodelay, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

import websockets  # noqa: E402  (python3-websockets)

WS_VERSION = "8.18.0"
USER_CHANNELS = {"order_update": "orders", "fill": "fills", "position_update": "positions",
                 "balance_update": "balances", "risk_alert": "risk_alerts",
                 "account_config": "account_config", "algo_update": "algo_orders"}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint(header, payload, key, digest=hashlib.sha256):
    """A JWS compact token made here (not by exfeedctl), for the bad ones."""
    h = b64u(json.dumps(header).encode())
    p = b64u(json.dumps(payload).encode())
    return "%s.%s.%s" % (h, p, b64u(hmac.new(key, ("%s.%s" % (h, p)).encode(), digest).digest()))


# ---- the python runner: the same case format as gw_cases.js ---------------

async def py_once(base, c):
    r = {"name": c["name"], "status": None, "messages": [], "close": None}
    kw = {"open_timeout": 5, "max_size": 1 << 26, "ping_interval": None}
    if c.get("origin"):
        kw["origin"] = c["origin"]
    held = []
    for _ in range(c.get("hold", 0)):
        h = await websockets.connect(base + c["path"], **kw)
        await h.send(json.dumps({"type": "ping"}))
        try:
            await asyncio.wait_for(h.recv(), 5)
        except Exception:
            pass
        held.append(h)
    try:
        ws = await websockets.connect(base + c["path"], **kw)
    except websockets.exceptions.InvalidStatusCode as e:
        r["status"] = e.status_code
        for h in held:
            await h.close()
        await asyncio.sleep(0.3)
        return r
    t0 = time.time()

    async def sender():
        for delay, text in c.get("send", []):
            await asyncio.sleep(max(0.0, t0 + delay - time.time()))
            try:
                await ws.send(text)
            except websockets.ConnectionClosed:
                return
    st = asyncio.ensure_future(sender())
    deadline = t0 + c.get("wait", 3)
    try:
        while time.time() < deadline:
            try:
                d = await asyncio.wait_for(ws.recv(), deadline - time.time())
            except asyncio.TimeoutError:
                break
            try:
                m = json.loads(d)
            except ValueError:
                m = {"raw": d}
            m["at"] = time.time() - t0
            r["messages"].append(m)
            if c.get("count") and len(r["messages"]) >= c["count"]:
                break
    except websockets.ConnectionClosed as e:
        r["close"] = [e.code, e.reason]
    st.cancel()
    if r["close"] is None and ws.closed:
        r["close"] = [ws.close_code, ws.close_reason]
    await ws.close()
    for h in held:
        await h.close()
    await asyncio.sleep(0.3)
    return r


def run_python(base, cases):
    async def all_cases():
        return [await py_once(base, c) for c in cases]
    return {r["name"]: r for r in asyncio.run(all_cases())}


def ws_module():
    """node's ws in the cache (npm install --no-save), or None with why."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = os.path.join(cache, "exfeedd", "ws-" + WS_VERSION)
    pj = os.path.join(d, "node_modules", "ws", "package.json")
    try:
        with open(pj) as f:
            if json.load(f)["version"] == WS_VERSION:
                return d, None
    except (OSError, ValueError, KeyError):
        pass
    for tool in ("node", "npm"):
        if subprocess.run(["sh", "-c", "command -v " + tool], stdout=subprocess.DEVNULL).returncode:
            return None, "%s is not installed (Debian's nodejs and npm)" % tool
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "package.json"), "w") as f:
        json.dump({"name": "exfeedd-test-ws", "private": True}, f)
    try:
        out = subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund",
                              "--loglevel=error", "ws@" + WS_VERSION], cwd=d, timeout=120,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired:
        return None, "npm install ws@%s timed out (no registry?)" % WS_VERSION
    if out.returncode != 0:
        return None, "npm install ws@%s failed (no registry?): %s" % (
            WS_VERSION, out.stdout.strip().splitlines()[-1:] or "")
    return d, None


def run_node(base, cases, moddir):
    env = dict(os.environ, NODE_PATH=os.path.join(moddir, "node_modules"))
    out = subprocess.run(["node", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "gw_cases.js")],
                         input=json.dumps({"base": base, "cases": cases}), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180)
    if out.returncode != 0:
        raise RuntimeError("node gw_cases.js: " + out.stderr[-2000:])
    return {r["name"]: r for r in (json.loads(ln) for ln in out.stdout.splitlines() if ln)}


# ---- the cases and their checks ------------------------------------------------

def cases_for(st, user, key):
    now = int(time.time())
    good = st.token(user)
    other_key = b"not the gateway's secret, but just as long as it"
    claims = {"sub": str(user), "iat": now, "exp": now + 600}
    ping = json.dumps({"type": "ping", "id": "p1"})
    sub = json.dumps({"type": "subscribe", "id": 1,
                      "data": {"channels": ["orders", "fills", "positions", "balances"]}})
    unsub = json.dumps({"type": "unsubscribe", "id": 2, "data": {"channels": ["fills"]}})
    return [
        {"name": "token_url", "path": "/ws/trading?token=" + good, "count": 2},
        {"name": "auth_msg", "path": "/ws/trading", "count": 2,
         "send": [[0, json.dumps({"type": "auth", "data": {"token": good}})]]},
        {"name": "bad_signature", "path": "/ws/trading?token=" + mint(
            {"alg": "HS256", "typ": "JWT"}, claims, other_key)},
        {"name": "alg_none", "path": "/ws/trading?token=" + b64u(json.dumps(
            {"alg": "none", "typ": "JWT"}).encode()) + "." + b64u(json.dumps(claims).encode()) + "."},
        {"name": "alg_hs512", "path": "/ws/trading?token=" + mint(
            {"alg": "HS512", "typ": "JWT"}, claims, key, hashlib.sha512)},
        {"name": "expired", "path": "/ws/trading?token=" + mint(
            {"alg": "HS256", "typ": "JWT"}, dict(claims, exp=now - 3600), key)},
        {"name": "missing", "path": "/ws/trading", "wait": 4},
        {"name": "not_auth_first", "path": "/ws/trading", "send": [[0, ping]]},
        {"name": "auth_msg_bad", "path": "/ws/trading",
         "send": [[0, json.dumps({"type": "auth", "data": {"token": "x.y.z"}})]]},
        {"name": "unknown_user", "path": "/ws/trading?token=" + st.token(999999)},
        {"name": "too_many", "path": "/ws/trading?token=" + good, "hold": 2},
        {"name": "sub_unsub", "path": "/ws/trading?token=" + good, "wait": 5,
         "send": [[0, sub], [2.5, unsub]]},
        {"name": "ping", "path": "/ws/trading?token=" + good, "count": 3, "send": [[0, ping]]},
        {"name": "invalid_json", "path": "/ws/market", "count": 3,
         "send": [[0, "{nope"], [0.1, json.dumps({"type": "dance"})], [0.2, ping]]},
        {"name": "oversized", "path": "/ws/market", "count": 2,
         "send": [[0, json.dumps({"type": "ping", "pad": "x" * 2000})], [0.1, ping]]},
        {"name": "flood", "path": "/ws/market", "wait": 5,
         "send": [[0, ping]] * 60},
        {"name": "market", "path": "/ws/market", "count": 4, "send": [
            [0, json.dumps({"type": "subscribe_ticker", "id": "a",
                            "data": {"symbols": ["BTCUSDT", "ETHUSDT"]}})],
            [0.1, json.dumps({"type": "subscribe_kline", "id": "b",
                              "data": {"symbols": ["BTCUSDT"], "interval": "7m"}})],
            [0.2, json.dumps({"type": "subscribe", "id": "c", "data": {"channels": ["orders"]}})],
            [0.3, json.dumps({"type": "unsubscribe_ticker", "id": "d",
                              "data": {"symbols": ["ETHUSDT"]}})]]},
        {"name": "origin_bad", "path": "/ws/market", "origin": "http://evil.example"},
        {"name": "origin_good", "path": "/ws/market", "origin": "http://good.example",
         "count": 1, "send": [[0, ping]]},
        {"name": "bad_path", "path": "/ws/nope"},
        {"name": "full", "path": "/ws/market", "hold": 4},
    ]


def closed(r, code, why=None):
    return r["close"] is not None and r["close"][0] == code and (
        why is None or why in (r["close"][1] or ""))


def types(r):
    return [m.get("type") for m in r["messages"]]


def check_all(client, res, user, accounts):
    def c(name, cond, what):
        check(cond, "%s: %s: %s" % (client, name, what) + ("" if cond else " -- got %s" %
                                                            json.dumps(res.get(name))[:600]))
    r = res["token_url"]
    c("token_url", types(r)[:2] == ["auth_ok", "snapshot"] and
      r["messages"][0]["data"] == {"user_id": user, "accounts": accounts} and
      set(r["messages"][1]["data"]) == {"orders", "algo_orders", "positions", "balances"},
      "?token=: auth_ok {user_id %d, accounts %s}, then the snapshot" % (user, accounts))
    r = res["auth_msg"]
    c("auth_msg", types(r)[:2] == ["auth_ok", "snapshot"] and
      r["messages"][0]["data"] == {"user_id": user, "accounts": accounts},
      "auth message: auth_ok, then the snapshot")
    for name, why in (("bad_signature", "bad signature"), ("alg_none", "alg is not HS256"),
                      ("alg_hs512", "alg is not HS256"), ("expired", "expired"),
                      ("not_auth_first", "auth required"), ("auth_msg_bad", "malformed token")):
        c(name, closed(res[name], 4001, why) and res[name]["messages"] == [],
          "closed 4001 (%s), nothing sent before" % why)
    r = res["missing"]
    c("missing", closed(r, 4001, "auth required"), "no token: closed 4001 after auth_timeout")
    r = res["unknown_user"]
    c("unknown_user", closed(r, 4002) and r["messages"] == [], "user 999999: closed 4002")
    r = res["too_many"]
    c("too_many", closed(r, 4003) and r["messages"] == [],
      "a third connection of the user (max_connections_per_user 2): closed 4003")
    # subscribe / unsubscribe: only the user's own accounts, each on its channel.
    r = res["sub_unsub"]
    msgs = r["messages"]
    t = types(r)
    ok_sub = "subscribed" in t and msgs[t.index("subscribed")].get("id") == 1 and \
        msgs[t.index("subscribed")]["data"] == {"channels": ["orders", "fills", "positions",
                                                             "balances"]}
    c("sub_unsub", ok_sub, "subscribed, id 1 echoed, the channels listed")
    live = [m for m in msgs if m.get("type") in USER_CHANNELS]
    c("sub_unsub", len(live) >= 10, "%d live user events in 5 s" % len(live))
    foreign = [m for m in live if m["data"].get("user_id") != user or
               m["data"].get("account_id") not in accounts or
               m.get("channel") != USER_CHANNELS[m["type"]] or
               m["channel"] not in ("orders", "fills", "positions", "balances")]
    c("sub_unsub", not foreign, "every event is the user's, on a channel it asked for (%d not)" %
      len(foreign))
    iso = [m for m in live if not (isinstance(m.get("timestamp"), str) and
                                   len(m["timestamp"]) == 24 and m["timestamp"].endswith("Z"))]
    c("sub_unsub", not iso, "every event has an ISO-8601 timestamp with ms")
    if "unsubscribed" in t:
        k = t.index("unsubscribed")
        fills_before = sum(1 for m in msgs[:k] if m.get("type") == "fill")
        fills_after = sum(1 for m in msgs[k:] if m.get("type") == "fill")
        others_after = sum(1 for m in msgs[k:] if m.get("type") in USER_CHANNELS)
        c("sub_unsub", msgs[k].get("id") == 2 and msgs[k]["data"] == {"channels": ["fills"]} and
          fills_before > 0 and fills_after == 0 and others_after > 0,
          "unsubscribe fills: %d fills before, %d after, %d other events after" % (
              fills_before, fills_after, others_after))
    else:
        c("sub_unsub", False, "unsubscribed answered")
    r = res["ping"]
    pong = [m for m in r["messages"] if m.get("type") == "pong"]
    c("ping", len(pong) == 1 and pong[0].get("id") == "p1" and
      abs(calendar.timegm(time.strptime(pong[0]["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) -
          time.time()) < 30,
      "pong with id p1 and the time")
    r = res["invalid_json"]
    c("invalid_json", types(r) == ["error", "error", "pong"] and
      r["messages"][0]["data"]["code"] == 4004 and "invalid JSON" in r["messages"][0]["data"][
          "message"] and r["messages"][1]["data"]["code"] == 4004 and
      "unknown type" in r["messages"][1]["data"]["message"] and r["close"] is None,
      "invalid JSON and an unknown type: error 4004 each, the connection lives on (pong)")
    r = res["oversized"]
    c("oversized", types(r) == ["error", "pong"] and r["messages"][0]["data"]["code"] == 4004 and
      "too large" in r["messages"][0]["data"]["message"],
      "2 KB message (max_message_size 1K): error 4004, then pong")
    r = res["flood"]
    tt = types(r)
    c("flood", closed(r, 4004, "too many invalid messages") and 5 <= tt.count("pong") <= 12 and
      tt.count("error") == 9 and all("message rate" in m["data"]["message"]
                                     for m in r["messages"] if m.get("type") == "error"),
      "60 pings at once (rate 5/s, burst 10): %d pongs, %d errors, closed 4004" % (
          tt.count("pong"), tt.count("error")))
    r = res["market"]
    m = r["messages"]
    c("market", types(r) == ["subscribed", "error", "error", "unsubscribed"] and
      m[0]["id"] == "a" and m[0]["data"] == {"symbols": ["BTCUSDT", "ETHUSDT"],
                                            "channel": "ticker"} and
      m[1]["id"] == "b" and "interval" in m[1]["data"]["message"] and
      m[2]["id"] == "c" and "unknown type" in m[2]["data"]["message"] and
      m[3]["id"] == "d" and m[3]["data"] == {"symbols": ["ETHUSDT"], "channel": "ticker"},
      "/ws/market: subscribe_ticker, kline 7m refused, trading's subscribe refused, "
      "unsubscribe_ticker")
    c("origin_bad", res["origin_bad"]["status"] == 403, "Origin http://evil.example: HTTP 403")
    c("origin_good", types(res["origin_good"]) == ["pong"], "Origin http://good.example: let in")
    c("bad_path", res["bad_path"]["status"] == 404, "/ws/nope: HTTP 404")
    c("full", res["full"]["status"] == 503, "a 5th connection (max_connections 4): HTTP 503")


async def status_and_heartbeat(st, user):
    base = "ws://127.0.0.1:%d" % st.gw_port
    tok = st.token(user)
    a = await websockets.connect(base + "/ws/trading?token=" + tok, ping_interval=None)
    b = await websockets.connect(base + "/ws/trading?token=" + tok, ping_interval=None)
    m = await websockets.connect(base + "/ws/market", ping_interval=None)
    for w in (a, b):
        await asyncio.wait_for(w.recv(), 5)
    # Channels that carry (next to) nothing here: a must go on reading (and so answering pings).
    await a.send(json.dumps({"type": "subscribe", "data": {"channels": ["risk_alerts",
                                                                       "account_config"]}}))
    await m.send(json.dumps({"type": "subscribe_trades", "data": {"symbols": ["BTCUSDT",
                                                                            "ETHUSDT"]}}))
    await asyncio.sleep(0.5)
    with urllib.request.urlopen("http://127.0.0.1:%d/ws/status" % st.gw_port, timeout=5) as r:
        s = json.loads(r.read())
    check(s == {"connections": 3, "by_user": {str(user): 2}, "subscriptions": 4},
          "/ws/status: 3 connections, 2 of user %d, 4 subscriptions: %s" % (user, s))
    # Every client's socket sends each message as it is written (no Nagle:
    # a message written behind an unacknowledged one would otherwise wait
    # for a delayed ACK, up to 40 ms).
    nd = [v for (lport, _), v in tcp_nodelay(st.worker_pid("gateway")) if lport == st.gw_port]
    check(len(nd) == 3 and all(nd),
          "TCP_NODELAY on the gateway's socket of each of the 3 clients: %s" % nd)
    # b stops reading: no pong to the server's pings (heartbeat_interval 1s): dropped.
    dead0 = st.gateway_status()["dropped_dead"]
    b.transport.pause_reading()
    t0 = time.time()
    # In a thread: the loop goes on reading a and m (and answering their pings) meanwhile.
    gone = await asyncio.to_thread(wait_for, lambda: st.gateway_status()["dropped_dead"] >
                                   dead0, 8, 0.1)
    check(gone and 0.5 < time.time() - t0 < 4.5,
          "a client that stops answering pings is dropped after 2 heartbeats (%.1f s)" %
          (time.time() - t0))
    # a and m answered every ping (the library does as it reads): still open.
    await a.send(json.dumps({"type": "ping"}))
    ok = False
    try:
        while True:
            if json.loads(await asyncio.wait_for(a.recv(), 3)).get("type") == "pong":
                ok = True
                break
    except Exception:
        pass
    check(ok, "a client that answers pings is kept")
    # Sending proves nothing: one that stops reading while it sends messages,
    # and one that sends pongs of its own (not the echo of our ping's
    # payload), are dropped as b was.
    for what, send in (("messages", lambda w: w.send(json.dumps({"type": "ping"}))),
                       ("unprompted pongs", lambda w: w.pong(b"exfeedd"))):
        w = await websockets.connect(base + "/ws/market", ping_interval=None)
        dead0 = st.gateway_status()["dropped_dead"]
        w.transport.pause_reading()
        stop = asyncio.Event()

        async def keep_sending(w=w, send=send, stop=stop):
            try:
                while not stop.is_set():
                    await send(w)
                    await asyncio.sleep(0.2)
            except Exception:
                pass
        task = asyncio.create_task(keep_sending())
        t0 = time.time()
        gone = await asyncio.to_thread(wait_for, lambda: st.gateway_status()["dropped_dead"] >
                                       dead0, 8, 0.1)
        stop.set()
        await task
        check(gone and 0.5 < time.time() - t0 < 4.5,
              "a client that sends %s but never reads is dropped after 2 heartbeats "
              "(%.1f s)" % (what, time.time() - t0))
        w.transport.resume_reading()
        try:
            await asyncio.wait_for(w.close(), 3)
        except Exception:
            pass
    for w in (a, b, m):
        w.transport.resume_reading()
        await w.close()


async def first_ping_after(port):
    """Connect to /ws/market over a bare socket (to see the server's ping
    frames, which a client library answers unseen) and return the seconds
    from the upgrade to the first ping."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write(("GET /ws/market HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    t0 = time.monotonic()
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise RuntimeError("no upgrade: %r" % head[:80])
    try:
        while True:
            b0, b1 = await asyncio.wait_for(r.readexactly(2), 5)
            n = b1 & 0x7f
            if n == 126:
                n = int.from_bytes(await r.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await r.readexactly(8), "big")
            await r.readexactly(n)
            if b0 & 0x0f == 0x9:
                return time.monotonic() - t0
    finally:
        w.close()


async def first_pings(st):
    """Clients that connect together are not pinged together: each one's
    first ping comes at a random time between half a heartbeat_interval
    (1 s here) and one after its connect (then at the sweep's next 250 ms
    tick), never all at one heartbeat."""
    check(wait_for(lambda: st.gateway_status()["connections"] == 0, 5),
          "the earlier clients are gone (max_connections is 4)")
    after = []
    for _ in range(5):
        after += await asyncio.gather(*(first_ping_after(st.gw_port) for _ in range(4)))
    after.sort()
    check(0.45 <= after[0] and after[-1] <= 1.5 and after[0] < 0.9,
          "the first pings of 20 clients (4 at a time) come 0.5-1.25 s after their connect, "
          "spread, not all at 1 s: %s" % " ".join("%.2f" % x for x in after))


async def late_subscribe(st, user):
    """A channel whose state the snapshot carries, subscribed after the
    snapshot was sent, gets a fresh snapshot before its live events (what
    changed between the first snapshot's read and the subscribe would be
    lost otherwise); one the snapshot does not carry (fills) gets none."""
    base = "ws://127.0.0.1:%d" % st.gw_port
    ws = await websockets.connect(base + "/ws/trading?token=" + st.token(user))
    first = [json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] for _ in range(2)]
    await asyncio.sleep(1.0)            # exsim's orders change meanwhile
    await ws.send(json.dumps({"type": "subscribe", "data": {"channels": ["fills"]}}))
    await ws.send(json.dumps({"type": "ping"}))
    got = []
    while "pong" not in got:
        got.append(json.loads(await asyncio.wait_for(ws.recv(), 5))["type"])
    check(first == ["auth_ok", "snapshot"] and "snapshot" not in got,
          "fills subscribed after the snapshot: no second snapshot (%s)" % got)
    g0 = st.gateway_status()
    await ws.send(json.dumps({"type": "subscribe", "data": {"channels": ["orders",
                                                                       "positions"]}}))
    got, t0, upd, lat = [], time.time(), None, []
    try:
        while time.time() - t0 < 10 and "snapshot" not in got:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
        while time.time() - t0 < 10 and "order_update" not in got:
            upd = json.loads(await asyncio.wait_for(ws.recv(), 10))
            got.append(upd["type"])
            if upd.get("committed_at"):
                lat.append(upd["committed_at"])
    except (asyncio.TimeoutError, websockets.ConnectionClosed):
        pass
    # The gateway's own clocks: each live user message it wrote is one
    # sample of COMMIT -> written (delivery_us), each user event it got one
    # of COMMIT -> arrived (feed_us); both before the client had it.  And
    # each written one a sample of arrived -> written (queue_us), a part of
    # its COMMIT -> written.
    g1 = st.gateway_status()
    keys = ("feed_us", "delivery_us", "queue_us")
    dn = {k: g1[k]["count"] - g0[k]["count"] for k in keys}
    ds = {k: g1[k]["sum_us"] - g0[k]["sum_us"] for k in keys}
    check(lat and dn["delivery_us"] >= len(lat) and dn["feed_us"] >= 1 and
          0 <= ds["delivery_us"] <= dn["delivery_us"] * 10**7 and
          dn["queue_us"] == dn["delivery_us"] and 0 <= ds["queue_us"] <= ds["delivery_us"],
          "the gateway timed its deliveries: %d COMMIT -> written samples for the %d live user "
          "messages this client got (mean %.1f ms), %d arrived -> written (mean %.1f ms), "
          "%d COMMIT -> arrived" %
          (dn["delivery_us"], len(lat), ds["delivery_us"] / max(1, dn["delivery_us"]) / 1000,
           dn["queue_us"], ds["queue_us"] / max(1, dn["queue_us"]) / 1000, dn["feed_us"]))
    # committed_at: the writer's COMMIT, µs, after the exchange's event time, before now.
    ca = upd.get("committed_at", "") if upd else ""
    ok = re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ca) is not None
    if ok:
        c_us = calendar.timegm(time.strptime(ca[:19], "%Y-%m-%dT%H:%M:%S")) * 10**6 + \
            int(ca[20:26])
        e_ms = calendar.timegm(time.strptime(upd["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) * \
            1000 + int(upd["timestamp"][20:23])
        ok = e_ms * 1000 - 50000 <= c_us <= time.time() * 10**6 + 1000
    check(ok, "a live user message carries committed_at (µs), after its event time and "
          "before its arrival: %s" % (upd and {k: upd.get(k) for k in ("timestamp",
                                                                        "committed_at")}))
    s_at = got.index("snapshot") if "snapshot" in got else None
    o_at = got.index("order_update") if "order_update" in got else None
    check(s_at is not None and o_at is not None and s_at < o_at,
          "orders and positions subscribed after the snapshot: a fresh snapshot, then the "
          "live order updates (%s)" % got[:8])
    await ws.close()


async def hole_and_reload(st, user):
    """A hole in the writer's feed (the writer killed and respawned: its new
    connection) sends a live trading client a fresh snapshot; a new JWT
    secret is read on reload: the old token is refused, a new one taken."""
    base = "ws://127.0.0.1:%d" % st.gw_port
    old_tok = st.token(user)
    ws = await websockets.connect(base + "/ws/trading?token=" + old_tok)
    first = [json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] for _ in range(2)]
    await ws.send(json.dumps({"type": "subscribe", "data": {"channels": ["orders"]}}))
    # orders, added after the snapshot: its own fresh snapshot first (late_subscribe).
    while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "snapshot":
        pass
    g0 = st.gateway_status()
    pid = st.worker_pid("writer")
    os.kill(pid, 9)
    t0 = time.time()
    got = []
    try:
        while time.time() - t0 < 20 and "snapshot" not in got:
            m = json.loads(await asyncio.wait_for(ws.recv(), 20))
            got.append(m["type"])
    except (asyncio.TimeoutError, websockets.ConnectionClosed):
        pass
    g1 = st.gateway_status()
    check(first == ["auth_ok", "snapshot"] and "snapshot" in got and
          g1["resnapshots"] > g0["resnapshots"],
          "the writer killed (pid %d): its new feed connection is a hole, the live client got "
          "a fresh snapshot after %.1f s (resnapshots %d -> %d)" % (
              pid, time.time() - t0, g0["resnapshots"], g1["resnapshots"]))
    await ws.close()
    # A new secret, then reload.
    with open(st.jwt_key, "wb") as f:
        f.write(base64.b64encode(os.urandom(48)) + b"\n")
    st.ctl("reload")
    await asyncio.sleep(1)
    try:
        async with websockets.connect(base + "/ws/trading?token=" + old_tok) as w:
            await asyncio.wait_for(w.recv(), 5)
        code = None
    except websockets.ConnectionClosed as e:
        code = (e.code, e.reason)
    check(code == (4001, "bad signature"), "after reload with a new secret the old token is "
          "refused: %s" % (code,))
    async with websockets.connect(base + "/ws/trading?token=" + st.token(user)) as w:
        t = json.loads(await asyncio.wait_for(w.recv(), 5))["type"]
    check(t == "auth_ok", "a token of the new secret is taken")


with Stack(accounts=2, rate=60, seed=21, gateway=[
        "auth_timeout = 1s", "heartbeat_interval = 1s", "max_connections_per_user = 2",
        "max_connections = 4",
        "max_message_size = 1K", "message_rate = 5", "message_burst = 10",
        "allowed_origins = http://good.example"]) as st:
    st.prepare()
    st.start_daemon()
    check(st.wait_streaming(2, 60), "2 accounts streaming")
    user = 1000 + st.accounts[min(st.accounts)]["id"]
    accounts = [int(r[0]) for r in st.sql(
        "SELECT id FROM exchange_accounts WHERE user_id = %d AND is_active ORDER BY id" % user)]
    check(accounts != [], "user %d has accounts %s" % (user, accounts))
    base = "ws://127.0.0.1:%d" % st.gw_port
    cases = cases_for(st, user, st.jwt_secret())
    check_all("python3-websockets", run_python(base, cases), user, accounts)
    moddir, why = ws_module()
    if moddir is None:
        print("# SKIP node ws: %s" % why, flush=True)
    else:
        check_all("node ws " + WS_VERSION, run_node(base, cases, moddir), user, accounts)
    asyncio.run(status_and_heartbeat(st, user))
    asyncio.run(first_pings(st))
    asyncio.run(late_subscribe(st, user))
    asyncio.run(hole_and_reload(st, user))
    g = st.gateway_status()
    print("# gateway:", {k: v for k, v in g.items() if isinstance(v, int) and v}, flush=True)
    check(g["connections"] == 0 or wait_for(lambda: st.gateway_status()["connections"] == 0, 5),
          "every connection closed is gone from the gateway")
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
