#!/usr/bin/python3
"""exsim WebSocket routes: /private (ws, ws?listenKey&events, multi-key
stream with envelope and allow-lists, SUBSCRIBE with listenKey event
items), /market and /public streams, wrong
routes acknowledged but silent, live SUBSCRIBE & co, the 1024-stream cap,
the 10 msgs/s limit, legacy routes with and without --legacy-routes, and
depth diffs (U/u/pu) chaining onto /fapi/v1/depth snapshots."""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, RawWS, check, collect, finish, run  # noqa: E402
import websockets  # noqa: E402

KLINES = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
          "1w", "1M"]


async def private_routes(ex, keys):
    k1, k2, k3 = keys
    async with websockets.connect(ex.ws + "/private/ws/" + k1) as ws:
        ev = await collect(ws, 2.0)
    check(ev and all("e" in e and "stream" not in e for e in ev),
          "/private/ws/<key>: %d raw events, no envelope" % len(ev))
    st = ex.state(1)
    oids = {o["i"] for o in st["orders"]}
    mine = [e for e in ev if e["e"] == "ORDER_TRADE_UPDATE"]
    check(mine and all(e["o"]["i"] in oids for e in mine),
          "every ORDER_TRADE_UPDATE on account 1's key is account 1's order")

    url = ex.ws + "/private/ws?listenKey=%s&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE" % k1
    async with websockets.connect(url) as ws:
        ev = await collect(ws, 2.0)
    types = {e["e"] for e in ev}
    check(ev and types <= {"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"},
          "/private/ws?listenKey&events= delivers only the allowed events (%s)" % sorted(types))

    url = (ex.ws + "/private/stream?listenKey=%s&events=ORDER_TRADE_UPDATE&listenKey=%s"
           "&events=ACCOUNT_UPDATE&listenKey=%s" % (k1, k2, k3))
    async with websockets.connect(url) as ws:
        ev = await collect(ws, 2.5)
    check(ev and all(set(e) == {"stream", "data"} for e in ev),
          "/private/stream wraps every event in {stream,data}")
    by = {}
    for e in ev:
        by.setdefault(e["stream"], set()).add(e["data"]["e"])
    check(by.get(k1) == {"ORDER_TRADE_UPDATE"}, "stream=k1 carries only ORDER_TRADE_UPDATE (%s)" %
          by.get(k1))
    check(by.get(k2) == {"ACCOUNT_UPDATE"}, "stream=k2 carries only ACCOUNT_UPDATE (%s)" % by.get(k2))
    check(k3 in by and len(by[k3]) >= 2, "k3 with no events= gets every type (%s)" % by.get(k3))
    check(set(by) == {k1, k2, k3}, "three listen keys on one connection")

    # a dead key is accepted and silent
    async with websockets.connect(ex.ws + "/private/ws/" + "Z" * 64) as ws:
        ev = await collect(ws, 1.0)
    check(ev == [], "/private/ws/<unknown key> connects and delivers nothing")


async def key_items(ex, keys):
    """SUBSCRIBE/UNSUBSCRIBE with "<listenKey>@<EVENT>" items on /private."""
    k1, k2, k3 = keys
    oids = lambda: {o["i"] for o in ex.state(1)["orders"]}  # noqa: E731

    async def call(ws, method, params, id_, seconds):
        await ws.send(json.dumps({"method": method, "params": params, "id": id_}))
        ev = await collect(ws, seconds)
        acks = [e for e in ev if "id" in e]
        return acks, [e for e in ev if "id" not in e]

    async with websockets.connect(ex.ws + "/private/ws") as ws:
        acks, ev = await call(ws, "SUBSCRIBE", [k1 + "@ORDER_TRADE_UPDATE", k1 + "@ACCOUNT_UPDATE"],
                              1, 2.0)
        types = {e["e"] for e in ev}
        check(acks == [{"result": None, "id": 1}] and types == {"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"},
              "/private/ws SUBSCRIBE k1@ORDER_TRADE_UPDATE, k1@ACCOUNT_UPDATE: acknowledged, "
              "exactly those events (%s)" % sorted(types))
        mine = oids()
        check(all(e["o"]["i"] in mine for e in ev if e["e"] == "ORDER_TRADE_UPDATE"),
              "the subscribed key's events are its account's")
        acks, ev = await call(ws, "LIST_SUBSCRIPTIONS", None, 2, 0.3)
        check(acks and acks[0].get("result") == [k1 + "@ORDER_TRADE_UPDATE", k1 + "@ACCOUNT_UPDATE"],
              "LIST_SUBSCRIPTIONS shows the listenKey event items (%s)" % (acks and acks[0]))
        acks, ev = await call(ws, "UNSUBSCRIBE", [k1 + "@ACCOUNT_UPDATE"], 3, 0.3)
        ev = await collect(ws, 1.5)
        types = {e["e"] for e in ev}
        check(acks == [{"result": None, "id": 3}] and types == {"ORDER_TRADE_UPDATE"},
              "UNSUBSCRIBE k1@ACCOUNT_UPDATE: only ORDER_TRADE_UPDATE is left (%s)" % sorted(types))
        acks, ev = await call(ws, "UNSUBSCRIBE", [k1 + "@ORDER_TRADE_UPDATE"], 4, 0.3)
        ev = await collect(ws, 1.0)
        acks2, _ = await call(ws, "LIST_SUBSCRIPTIONS", None, 5, 0.3)
        check(acks == [{"result": None, "id": 4}] and ev == [] and acks2 and acks2[0]["result"] == [],
              "UNSUBSCRIBE of the last event item drops the key: silence, nothing listed")
        acks, ev = await call(ws, "SUBSCRIBE", [k1 + "@ACCOUNT_UPDATE", k1], 6, 1.5)
        check(acks == [{"result": None, "id": 6}] and
              {e["e"] for e in ev} >= {"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "TRADE_LITE"},
              "SUBSCRIBE of the bare key after an item: every event type (%s)" %
              sorted({e["e"] for e in ev}))

    async with websockets.connect(ex.ws + "/private/stream") as ws:
        acks, ev = await call(ws, "SUBSCRIBE", [k2 + "@TRADE_LITE", k3 + "@ACCOUNT_UPDATE",
                                                k3 + "@ORDER_TRADE_UPDATE"], 1, 2.5)
        by = {}
        for e in ev:
            by.setdefault(e["stream"], set()).add(e["data"]["e"])
        check(acks == [{"result": None, "id": 1}] and by.get(k2) == {"TRADE_LITE"} and
              by.get(k3) == {"ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE"} and set(by) == {k2, k3},
              "/private/stream SUBSCRIBE items of two keys: each key's allow-list, wrapped as "
              "its stream (%s)" % by)
        acks, ev = await call(ws, "UNSUBSCRIBE", [k3 + "@ORDER_TRADE_UPDATE", k2 + "@TRADE_LITE"],
                              2, 0.3)
        ev = await collect(ws, 1.5)
        by = {}
        for e in ev:
            by.setdefault(e["stream"], set()).add(e["data"]["e"])
        check(acks == [{"result": None, "id": 2}] and by == {k3: {"ACCOUNT_UPDATE"}},
              "UNSUBSCRIBE items: k2 gone, k3 keeps ACCOUNT_UPDATE (%s)" % by)

    async with websockets.connect(ex.ws + "/private/ws") as ws:
        acks, ev = await call(ws, "SUBSCRIBE", ["Z" * 64 + "@ORDER_TRADE_UPDATE",
                                                k1 + "@NO_SUCH_EVENT"], 1, 1.5)
        check(acks == [{"result": None, "id": 1}] and ev == [],
              "an unknown key's item and an unknown event item: acknowledged, silent")
    async with websockets.connect(ex.ws + "/market/ws") as ws:
        acks, ev = await call(ws, "SUBSCRIBE", [k1 + "@ORDER_TRADE_UPDATE"], 1, 1.5)
        check(acks == [{"result": None, "id": 1}] and ev == [],
              "listenKey event items on /market: acknowledged, silent")


async def market_routes(ex):
    names = ["btcusdt@aggTrade", "btcusdt@markPrice@1s", "btcusdt@markPrice", "btcusdt@ticker",
             "btcusdt@miniTicker", "!markPrice@arr@1s", "!miniTicker@arr"] + \
        ["btcusdt@kline_" + i for i in KLINES]
    async with websockets.connect(ex.ws + "/market/stream?streams=" + "/".join(names)) as ws:
        ev = await collect(ws, 3.5)
    seen = {e["stream"] for e in ev}
    check(set(names) <= seen, "/market/stream delivers every requested stream (missing %s)" %
          sorted(set(names) - seen))
    want = {"btcusdt@aggTrade": "aggTrade", "btcusdt@markPrice@1s": "markPriceUpdate",
            "btcusdt@ticker": "24hrTicker", "btcusdt@miniTicker": "24hrMiniTicker",
            "btcusdt@kline_1h": "kline"}
    check(all(e["data"]["e"] == want[e["stream"]] for e in ev if e["stream"] in want),
          "market payload types match their streams")
    check(all(isinstance(e["data"], list) for e in ev if e["stream"].startswith("!")),
          "all-market streams carry arrays")
    kl = [e["data"]["k"]["i"] for e in ev if e["stream"].startswith("btcusdt@kline_")]
    check(set(kl) == set(KLINES), "klines in all 15 intervals")

    pub = ["btcusdt@depth@100ms", "btcusdt@depth", "btcusdt@depth@500ms", "btcusdt@depth5",
           "btcusdt@depth10@100ms", "btcusdt@depth20@500ms", "btcusdt@bookTicker",
           "btcusdt@trade", "!bookTicker"]
    async with websockets.connect(ex.ws + "/public/stream?streams=" + "/".join(pub)) as ws:
        ev = await collect(ws, 2.5)
    seen = {e["stream"] for e in ev}
    check(set(pub) <= seen, "/public/stream delivers depth, partial depth, bookTicker, trade "
          "(missing %s)" % sorted(set(pub) - seen))
    d5 = [e["data"] for e in ev if e["stream"] == "btcusdt@depth5"]
    check(d5 and all(len(d["b"]) == 5 and len(d["a"]) == 5 for d in d5), "depth5 carries 5 levels")

    # raw form: payloads without envelope
    async with websockets.connect(ex.ws + "/market/ws/btcusdt@aggTrade/ethusdt@aggTrade") as ws:
        ev = await collect(ws, 2.0)
    check(ev and all(e.get("e") == "aggTrade" and "stream" not in e for e in ev) and
          {e["s"] for e in ev} == {"BTCUSDT", "ETHUSDT"}, "/market/ws/a/b delivers raw payloads")

    # wrong route: acknowledged, never delivered
    async with websockets.connect(ex.ws + "/market/stream?streams=btcusdt@bookTicker/"
                                  "btcusdt@depth@100ms/btcusdt@trade") as ws:
        ev = await collect(ws, 1.5)
    check(ev == [], "public streams on /market never deliver")
    async with websockets.connect(ex.ws + "/public/ws") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade",
                                  "btcusdt@kline_1m"], "id": 1}))
        ev = await collect(ws, 1.5)
        check(ev == [{"result": None, "id": 1}],
              "SUBSCRIBE to /market streams on /public: acknowledged, then silence (%s)" % ev[:3])
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 2}))
        ev = await collect(ws, 1.5)
        check(ev and ev[0] == {"result": None, "id": 2} and
              all(e.get("e") == "trade" for e in ev[1:]) and len(ev) > 1,
              "live SUBSCRIBE on the right route delivers")
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        ev = [e for e in await collect(ws, 0.5) if "id" in e]
        check(ev and ev[0]["id"] == 3 and ev[0]["result"] ==
              ["btcusdt@aggTrade", "btcusdt@kline_1m", "btcusdt@trade"], "LIST_SUBSCRIPTIONS")
        await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 4}))
        await ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 5}))
        ev = await collect(ws, 1.0)
        ids = [e for e in ev if "id" in e]
        check(ids == [{"result": None, "id": 4}, {"result": True, "id": 5}],
              "SET_PROPERTY/GET_PROPERTY combined")
        check(any(e.get("stream") == "btcusdt@trade" for e in ev), "combined=true wraps payloads")
        await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 6}))
        await asyncio.sleep(0.3)
        ev = await collect(ws, 1.0)
        # trades sent before the server read the request may precede the ack
        ack = next((i for i, e in enumerate(ev) if "id" in e), None)
        check(ack is not None and ev[ack] == {"result": None, "id": 6} and
              all("stream" in e for e in ev[:ack]) and not any("stream" in e for e in ev[ack + 1:]),
              "UNSUBSCRIBE stops delivery (%s)" % ev[:3])
        await ws.send("{not json")
        e = json.loads(await asyncio.wait_for(ws.recv(), 2))
        check(e.get("error", {}).get("code") == 3, "invalid JSON -> error code 3 (%s)" % e)
        await ws.send(json.dumps({"method": "SUBSCRIB", "params": [], "id": 7}))
        e = json.loads(await asyncio.wait_for(ws.recv(), 2))
        check(e.get("error", {}).get("code") == 2 and e.get("id") == 7,
              "unknown method -> error code 2 (%s)" % e)
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": [], "id": -1}))
        e = json.loads(await asyncio.wait_for(ws.recv(), 2))
        check(e.get("error", {}).get("code") == 2, "negative id -> error code 2")

    # 1024 streams per connection
    many = ["btcusdt@kline_1m"] + ["foo%d@aggTrade" % i for i in range(1023)]
    async with websockets.connect(ex.ws + "/market/ws") as ws:
        # btcusdt@kline_1m is live: its events may arrive before a reply
        async def reply(id_):
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 3))
                if m.get("id") == id_ and ("result" in m or "error" in m):
                    return m
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": many, "id": 1}))
        r1 = await reply(1)
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@aggTrade"], "id": 2}))
        r2 = await reply(2)
    check(r1 == {"result": None, "id": 1}, "1024 streams on one connection are accepted")
    check("error" in r2, "stream 1025 is refused (%s)" % r2)
    try:
        async with websockets.connect(ex.ws + "/market/stream?streams=" +
                                      "/".join("x%d@aggTrade" % i for i in range(1025))):
            refused = False
    except (websockets.InvalidStatusCode, websockets.InvalidHandshake, OSError):
        refused = True
    check(refused, "a URL with 1025 streams is refused at the handshake")
    try:
        async with websockets.connect(ex.ws + "/nowhere/ws/btcusdt@aggTrade"):
            refused = False
    except (websockets.InvalidStatusCode, websockets.InvalidHandshake, OSError):
        refused = True
    check(refused, "an unknown route is refused at the handshake")

    # 10 incoming messages per second
    async with websockets.connect(ex.ws + "/market/ws") as ws:
        for i in range(8):
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        got = [json.loads(await asyncio.wait_for(ws.recv(), 2)) for i in range(8)]
        check([g["id"] for g in got] == list(range(8)), "8 messages in a second are answered")
        await asyncio.sleep(1.1)
        closed = None
        try:
            for i in range(15):
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            for i in range(30):
                await asyncio.wait_for(ws.recv(), 2)
        except websockets.ConnectionClosed as e:
            # the close frame can be lost to a TCP reset when the client
            # keeps writing after the server stopped reading
            closed = e.code
        except asyncio.TimeoutError:
            pass
    check(closed in (1008, 1006), "more than 10 messages/s -> disconnected (close %s)" % closed)


async def depth_chain(ex):
    """Local book from snapshot + diffs equals a later snapshot (FACTS §3)."""
    async with websockets.connect(ex.ws + "/public/stream?streams=btcusdt@depth@100ms") as ws:
        await asyncio.sleep(0.35)
        snap = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000})[2]
        ev = [e["data"] for e in await collect(ws, 1.0)]
        snap2 = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000})[2]
        ev += [e["data"] for e in await collect(ws, 0.5)]
    L = snap["lastUpdateId"]
    book = {"b": {p: q for p, q in snap["bids"]}, "a": {p: q for p, q in snap["asks"]}}
    prev, first, chain_ok, compared = None, True, True, False
    for e in ev:
        if e["u"] < L:
            continue
        if first:
            chain_ok &= e["U"] <= L <= e["u"]
            first = False
        else:
            chain_ok &= e["pu"] == prev
        prev = e["u"]
        for side in ("b", "a"):
            for p, q in e[side]:
                if float(q) == 0:
                    book[side].pop(p, None)
                else:
                    book[side][p] = q
        if e["u"] == snap2["lastUpdateId"]:
            compared = (book["b"] == {p: q for p, q in snap2["bids"]} and
                        book["a"] == {p: q for p, q in snap2["asks"]})
            break
    check(not first and chain_ok, "depth diffs chain: first U<=lastUpdateId<=u, then pu == prev u")
    check(compared, "snapshot + diffs reproduce the next /fapi/v1/depth snapshot exactly")


async def legacy(ex, keys, served):
    k1 = keys[0]
    async with websockets.connect(ex.ws + "/ws/" + k1) as ws:
        ev = await collect(ws, 1.5)
    user = [e for e in ev if e.get("e") == "ORDER_TRADE_UPDATE" or e.get("e") == "ACCOUNT_UPDATE"]
    async with websockets.connect(ex.ws + "/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker/" +
                                  k1) as ws:
        ev2 = await collect(ws, 1.5)
    streams = {e["stream"] for e in ev2}
    if served:
        check(user, "--legacy-routes: /ws/<listenKey> delivers user data")
        check({"btcusdt@aggTrade", "btcusdt@bookTicker", k1} <= streams,
              "--legacy-routes: /stream?streams= serves market, public and the listen key (%s)" %
              sorted(streams))
    else:
        check(ev == [], "without --legacy-routes: /ws/<listenKey> delivers nothing")
        check(streams == {"btcusdt@bookTicker"},
              "without --legacy-routes: unrouted /stream is /public only (%s)" % sorted(streams))


for legacy_flag in (False, True):
    args = ["--accounts", "3", "--rate", "400", "--seed", "3"] + (["--legacy-routes"] if legacy_flag else [])
    with Exsim(*args) as ex:
        accts = ex.accounts()
        keys = [ex.listen_key(a) for a in accts]
        if not legacy_flag:
            run(private_routes(ex, keys))
            run(key_items(ex, keys))
            run(market_routes(ex))
            run(depth_chain(ex))
        run(legacy(ex, keys, legacy_flag))

finish()
