#!/usr/bin/python3
"""exsim faults and clocks: drops (all, one account, a percentage), listen
key expiry (fault and natural, with the events allow-list), revoked keys
silencing the stream, server pings and the pong deadline, ignore_pongs,
stop_ping, malformed/oversized/unknown frames, stalls, pause/resume with
truth moving while nobody listens, and the 24 h cut (all on --time-scale)."""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, RawWS, check, collect, finish, run  # noqa: E402
import websockets  # noqa: E402

SCALE = 1200  # listen key 3 s, ping every 150 ms, pong deadline 500 ms, 24 h = 72 s


async def closed_within(ws, seconds):
    try:
        end = time.time() + seconds
        while time.time() < end:
            await asyncio.wait_for(ws.recv(), max(0.01, end - time.time()))
    except websockets.ConnectionClosed as e:
        return e.code if e.code else -1
    except asyncio.TimeoutError:
        return None
    return None


async def drops(ex, keys):
    c1 = await websockets.connect(ex.ws + "/private/ws/" + keys[0])
    c2 = await websockets.connect(ex.ws + "/private/ws/" + keys[1])
    ex.fault("drop", account=1)
    r1, r2 = await closed_within(c1, 1.0), await closed_within(c2, 0.5)
    check(r1 is not None and r2 is None, "drop account=1 closes only account 1's socket")
    ex.fault("drop")
    check(await closed_within(c2, 1.0) is not None, "drop with no account closes every socket")
    # idle sockets: a full client queue would stall their close handshake
    socks = [await websockets.connect(ex.ws + "/market/ws") for i in range(20)]
    st, _, js = ex.fault("drop", percent=50)
    res = [await closed_within(s, 0.3) for s in socks]
    n = sum(r is not None for r in res)
    check(0 < n < 20, "drop percent=50 closed %d of 20 sockets" % n)
    for s in socks:
        await s.close()


async def expiry(ex, accts, keys):
    keys[2] = ex.listen_key(accts[2])  # keys live 3 s at this scale
    all_ev = await websockets.connect(ex.ws + "/private/ws/" + keys[2])
    narrow = await websockets.connect(ex.ws + "/private/ws?listenKey=%s&events=ORDER_TRADE_UPDATE"
                                      % keys[2])
    await collect(all_ev, 0.3)
    ex.fault("expire_listen_key", account=3)
    ev = await collect(all_ev, 1.0)
    names = [e.get("e") for e in ev]
    check("listenKeyExpired" in names and ev[names.index("listenKeyExpired")]["listenKey"] == keys[2],
          "expire_listen_key sends listenKeyExpired with the key")
    check(names and names[-1] == "listenKeyExpired" and names.count("listenKeyExpired") == 1,
          "nothing follows listenKeyExpired on that key")
    ev2 = await collect(narrow, 0.3)
    check(all(e["e"] == "ORDER_TRADE_UPDATE" for e in ev2),
          "events=ORDER_TRADE_UPDATE does not receive listenKeyExpired")
    st, _, js = ex.http("PUT", "/fapi/v1/listenKey", api_key=accts[2]["apiKey"])
    check(st == 400 and js["code"] == -1125, "PUT on the expired key -> -1125")
    newk = ex.listen_key(accts[2])
    check(newk != keys[2], "POST after expiry makes a new key")
    await all_ev.close()
    await narrow.close()

    # natural expiry after 60 min / SCALE, unless kept alive
    k4 = ex.listen_key(accts[3])
    k5 = ex.listen_key(accts[4])
    w4 = await websockets.connect(ex.ws + "/private/ws/" + k4)
    w5 = await websockets.connect(ex.ws + "/private/ws/" + k5)
    t0 = time.time()
    got4, got5 = [], []
    while time.time() - t0 < 4.5:
        ex.http("PUT", "/fapi/v1/listenKey", api_key=accts[4]["apiKey"])
        got4 += await collect(w4, 0.5)
        got5 += await collect(w5, 0.01)
    e4 = [e for e in got4 if e.get("e") == "listenKeyExpired"]
    check(e4 and e4[0]["listenKey"] == k4, "an idle key expires by itself after 60 min (scaled)")
    check(not any(e.get("e") == "listenKeyExpired" for e in got5) and got5,
          "a key kept alive with PUT does not expire")
    await w4.close()
    await w5.close()


async def revoke(ex, accts):
    k = ex.listen_key(accts[5])
    ws = await websockets.connect(ex.ws + "/private/ws/" + k)
    check(await collect(ws, 0.5), "account 6 streams before the revoke")
    ex.fault("revoke_api_key", account=6)
    await collect(ws, 0.2)
    check(await collect(ws, 0.8) == [], "a revoked API key's stream goes silent")
    await ws.close()


def pings(ex):
    r = RawWS(ex.port, "/market/ws/btcusdt@aggTrade")
    seen_ping, t0 = False, time.time()
    try:
        while time.time() - t0 < 2.0:
            op, pl = r.frame(1.0)
            if op == 9:
                seen_ping = True
                r.send(10, pl)  # answer: the deadline never passes
    except (TimeoutError, ConnectionError):
        pass
    check(seen_ping, "the server sends ping frames (every 3 min, scaled)")
    alive = True
    try:
        r.send(10, b"")
    except OSError:
        alive = False
    check(alive, "a client that answers pings stays connected past the pong deadline")
    r.close()
    r = RawWS(ex.port, "/market/ws/btcusdt@aggTrade")
    t0, dropped = time.time(), None
    while time.time() - t0 < 3.0 and dropped is None:
        try:
            r.frame(0.5)  # never answer
        except ConnectionError:
            dropped = time.time() - t0
        except TimeoutError:
            pass
    check(dropped is not None and dropped < 2.0,
          "no pong within 10 min (scaled) -> disconnected (after %s s)" % dropped)
    r.close()
    # stop_ping: no ping frames at all
    r = RawWS(ex.port, "/market/ws/btcusdt@aggTrade")
    ex.fault("stop_ping")
    pings_after = 0
    t0 = time.time()
    try:
        while time.time() - t0 < 1.0:
            op, pl = r.frame(0.5)
            if op == 9:
                r.send(10, pl)
                if time.time() - t0 > 0.2:
                    pings_after += 1
    except (TimeoutError, ConnectionError):
        pass
    check(pings_after == 0, "stop_ping: no pings afterwards")
    r.close()
    # stall: accepted, then nothing, not even pings
    ex.fault("stall", next=1)
    r = RawWS(ex.port, "/market/ws/btcusdt@aggTrade")
    frames = 0
    try:
        while True:
            r.frame(1.0)
            frames += 1
    except (TimeoutError, ConnectionError):
        pass
    check(r.status == 101 and frames == 0, "stall: upgrade accepted, then no frame at all")
    r.close()


async def pong_faults(ex, key):
    ws = await websockets.connect(ex.ws + "/private/ws/" + key)
    await collect(ws, 0.8)
    check(ws.open, "websockets client answering pings stays connected")
    ex.fault("ignore_pongs")
    code = await closed_within(ws, 2.0)
    check(code is not None, "ignore_pongs: the exchange loses the pongs and disconnects (%s)" % code)


async def frames(ex, key):
    ws = await websockets.connect(ex.ws + "/private/stream?listenKey=" + key, max_size=None)
    await collect(ws, 0.2)
    ex.fault("malformed_frame", account=7)
    ex.fault("oversized_frame", account=7, bytes=3000000)
    ex.fault("unknown_event", account=7)
    bad, big, unknown = 0, 0, None
    t0 = time.time()
    while time.time() - t0 < 2.0 and not (bad and big and unknown):
        try:
            m = await asyncio.wait_for(ws.recv(), 1.0)
        except asyncio.TimeoutError:
            break
        if len(m) >= 3000000:
            big = len(m)
        try:
            j = json.loads(m)
        except ValueError:
            bad += 1
            continue
        if j.get("data", {}).get("e") == "STRATEGY_UPDATE":
            unknown = j
    check(bad == 1, "malformed_frame: one frame that is not JSON")
    check(big >= 3000000, "oversized_frame: a %d-byte frame" % big)
    check(unknown and unknown["stream"] == key, "unknown_event: an unknown e in the envelope")
    await ws.close()


async def pause_and_gap(ex, accts):
    k = ex.listen_key(accts[7])
    ws = await websockets.connect(ex.ws + "/private/ws/" + k)
    check(await collect(ws, 0.5), "events flow before pause")
    ex.fault("pause")
    await collect(ws, 0.2)
    quiet = await collect(ws, 0.8)
    check(quiet == [], "pause: no activity")
    ex.fault("resume")
    check(await collect(ws, 0.5), "resume: activity again")
    await ws.close()
    await asyncio.sleep(0.1)
    s0 = ex.state(8)
    await asyncio.sleep(1.0)
    s1 = ex.state(8)
    made = sum(s1["eventsMade"].values()) - sum(s0["eventsMade"].values())
    sent = sum(s1["eventsSent"].values()) - sum(s0["eventsSent"].values())
    check(made > 0 and sent == 0 and (s1["orders"] != s0["orders"] or s1["balances"] != s0["balances"]),
          "with no socket, events still change the truth (made %d, sent %d)" % (made, sent))


with Exsim("--accounts", "8", "--rate", "400", "--seed", "9", "--time-scale", str(SCALE)) as ex:
    accts = ex.accounts()
    keys = [ex.listen_key(a) for a in accts]
    run(drops(ex, keys))
    run(expiry(ex, accts, keys))
    run(revoke(ex, accts))
    pings(ex)
    run(pong_faults(ex, ex.listen_key(accts[0])))
    run(frames(ex, ex.listen_key(accts[6])))
    run(pause_and_gap(ex, accts))
    s = ex.stats()
    check(s["connections"]["droppedPongTimeout"] >= 2 and s["eventsSent"]["listenKeyExpired"] >= 2,
          "/sim/stats counts pong timeouts and listenKeyExpired")

# the 24 h cut, at 24 h / 20000 = 4.3 s
with Exsim("--accounts", "1", "--time-scale", "20000") as ex:
    async def cut():
        ws = await websockets.connect(ex.ws + "/market/ws/btcusdt@aggTrade")
        t0 = time.time()
        ex.fault("stop_ping")  # pings every 9 ms would trip the 10 msgs/s limit
        code = await closed_within(ws, 8.0)
        return code, time.time() - t0
    code, dt = run(cut())
    check(code == 1001 and 3.5 < dt < 6.5, "24 h cut (scaled): closed with 1001 after %.1f s" % dt)
    check(ex.stats()["connections"]["cut24h"] == 1, "/sim/stats counts the 24 h cut")

finish()
