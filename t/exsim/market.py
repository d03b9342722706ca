#!/usr/bin/python3
"""exsim as the market data truth: --symbols (generated symbols), exchangeInfo
with a non-trading symbol, GET /fapi/v1/klines (rows, selection, weights,
errors) equal to the streamed closed klines and to /sim/klines, /sim/book at a
diff's u equal to a snapshot-plus-diffs reconstruction, the depth_gap fault
making exactly one pu break, zero-priced trade frames never counted in
candles, /sim/conns with SUBSCRIBE counts, kill_market, and the opt-in
per-IP connection-attempt limit."""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, check, collect, finish, run  # noqa: E402
import websockets  # noqa: E402

NSYM = 12
SCALE = 60  # a "1m" candle closes every wall second


def exchange_info(ex):
    st, _, js = ex.http("GET", "/fapi/v1/exchangeInfo")
    syms = js["symbols"]
    trading = [s["symbol"] for s in syms if s["status"] == "TRADING"]
    other = [s for s in syms if s["status"] != "TRADING"]
    check(st == 200 and len(trading) == NSYM and len(set(trading)) == NSYM,
          "exchangeInfo: %d distinct TRADING symbols (want %d)" % (len(trading), NSYM))
    check(trading[:5] == ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"] and
          trading[5:] == ["SIM%03dUSDT" % i for i in range(1, NSYM - 4)],
          "the real five first, then SIM001USDT.. (%s)" % trading[5:7])
    check(len(other) == 1 and other[0]["status"] in ("SETTLING", "PENDING_TRADING") and
          other[0]["symbol"] not in trading,
          "one symbol not trading: %s" % [(s["symbol"], s["status"]) for s in other])
    for s in syms[5:NSYM]:
        pf = s["filters"][0]
        lot = s["filters"][1]
        ok = (float(pf["tickSize"]) > 0 and float(lot["stepSize"]) > 0 and
              len(pf["tickSize"].split(".")[-1]) == s["pricePrecision"])
        if not check(ok, "%s tick %s step %s precision %d plausible" % (
                s["symbol"], pf["tickSize"], lot["stepSize"], s["pricePrecision"])):
            break
    st, _, js = ex.http("GET", "/fapi/v1/depth", {"symbol": "SIM003USDT", "limit": 5})
    check(st == 200 and len(js["bids"]) == 5 and float(js["bids"][0][0]) < float(js["asks"][0][0]),
          "depth of a generated symbol: 5 levels, not crossed")
    st, _, js = ex.http("GET", "/fapi/v1/depth", {"symbol": other[0]["symbol"], "limit": 5})
    check(st == 400 and js["code"] == -1121, "depth of the non-trading symbol: -1121")


def weight_used(ex, params):
    st, h, js = ex.http("GET", "/fapi/v1/klines", params)
    return st, int(h.get("x-mbx-used-weight-1m", "-1")), js


def klines_rest(ex):
    prev = weight_used(ex, {"symbol": "BTCUSDT", "interval": "1m", "limit": 1})[1]
    for lim, w in ((1, 1), (99, 1), (100, 2), (499, 2), (500, 5), (1000, 5), (1001, 10),
                   (1500, 10), (None, 5)):
        p = {"symbol": "BTCUSDT", "interval": "1m"}
        if lim:
            p["limit"] = lim
        st, used, _ = weight_used(ex, p)
        check(st == 200 and used - prev == w, "klines limit=%s weighs %d (got %d)" % (
            lim, w, used - prev))
        prev = used
    for p, code in (({"symbol": "BTCUSDX", "interval": "1m"}, -1121),
                    ({"symbol": "BTCUSDT", "interval": "2m"}, -1120),
                    ({"symbol": "BTCUSDT"}, -1102),
                    ({"interval": "1m"}, -1102),
                    ({"symbol": "BTCUSDT", "interval": "1m", "limit": 1501}, -1130),
                    ({"symbol": "BTCUSDT", "interval": "1m", "startTime": 2, "endTime": 1},
                     -1023)):
        st, _, js = ex.http("GET", "/fapi/v1/klines", p)
        check(st == 400 and js and js.get("code") == code, "klines %s -> %d (%s)" % (p, code, js))


def row_of_kline(k):
    return [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"],
            k["Q"], "0"]


async def market_side(ex):
    kl_streams = ["btcusdt@kline_1m", "sim003usdt@kline_1m", "btcusdt@kline_3m"]
    trade_streams = ["%s@trade" % s for s in ("btcusdt", "ethusdt", "sim003usdt")]
    agg_streams = ["%s@aggTrade" % s for s in ("btcusdt", "ethusdt", "sim003usdt")]
    mws = await websockets.connect(ex.ws + "/market/stream?streams=" + "/".join(kl_streams +
                                                                                agg_streams),
                                   max_size=None)
    pws = await websockets.connect(ex.ws + "/public/stream?streams=" + "/".join(
        ["btcusdt@depth@100ms", "sim002usdt@depth@100ms"] + trade_streams), max_size=None)
    await asyncio.sleep(0.5)
    snaps = {}
    for s in ("BTCUSDT", "SIM002USDT"):
        st, _, snaps[s] = ex.http("GET", "/fapi/v1/depth", {"symbol": s, "limit": 1000})
    m1, p1 = await asyncio.gather(collect(mws, 6.0), collect(pws, 3.0))
    # one gap on BTCUSDT's diffs, then more frames
    st, _, js = ex.fault("depth_gap", symbol="BTCUSDT")
    check(st == 200 and js["affected"] == 1, "depth_gap for BTCUSDT accepted (%s)" % js)
    m2, p2 = await asyncio.gather(collect(mws, 3.0), collect(pws, 3.0))
    await mws.close()
    await pws.close()
    return m1 + m2, p1 + p2, snaps


def check_klines(ex, frames):
    closed = [f["data"]["k"] for f in frames if f["stream"].find("@kline_") > 0 and
              f["data"]["k"]["x"]]
    check(len(closed) >= 12, "%d closed klines streamed in 9 s at --time-scale %d" % (
        len(closed), SCALE))
    bad = 0
    for k in closed:
        p = {"symbol": k["s"], "interval": k["i"], "startTime": k["t"], "endTime": k["t"]}
        st, _, rows = ex.http("GET", "/fapi/v1/klines", p)
        st2, _, srows = ex.http("GET", "/sim/klines", p)
        if not (st == 200 and rows == [row_of_kline(k)] and st2 == 200 and srows == rows):
            bad += 1
            print("  stream", row_of_kline(k), "\n  rest  ", rows, "\n  sim   ", srows)
    check(closed and bad == 0, "every streamed closed kline equals its /fapi/v1/klines and "
          "/sim/klines row (%d compared)" % len(closed))
    # holes: the kept 1m candles are consecutive, the last one is the open one
    st, _, rows = ex.http("GET", "/sim/klines", {"symbol": "BTCUSDT", "interval": "1m"})
    gaps = [a for a, b in zip(rows, rows[1:]) if b[0] != a[6] + 1]
    check(len(rows) >= 6 and not gaps and all(r[6] - r[0] == 59999 for r in rows),
          "/sim/klines BTCUSDT 1m: %d consecutive candles, no hole" % len(rows))
    last_closed = max(k["t"] for k in closed if k["s"] == "BTCUSDT" and k["i"] == "1m")
    check(rows[-1][0] > last_closed, "the open candle is the last row")
    st, _, two = ex.http("GET", "/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1m",
                                                    "limit": 2})
    check(two[0][0] >= rows[-2][0] and len(two) == 2, "no startTime: the latest `limit` candles")
    st, _, fr = ex.http("GET", "/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1m",
                                                   "startTime": rows[1][0] - 1, "limit": 2})
    check([r[0] for r in fr] == [rows[1][0], rows[2][0]],
          "startTime selects by open time, first `limit` from it")
    st, _, to = ex.http("GET", "/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1m",
                                                   "endTime": rows[3][0], "limit": 2})
    check([r[0] for r in to] == [rows[2][0], rows[3][0]],
          "endTime alone: the last `limit` up to it")
    return closed


def check_trades(ex, frames, closed):
    trades = [f["data"] for f in frames if f["stream"].endswith("@trade")]
    aggs = [f["data"] for f in frames if f["stream"].endswith("@aggTrade")]
    zero = [t for t in trades if float(t["p"]) == 0]
    st = ex.stats()
    check(st["zeroPriceTrades"] > 0, "exsim made %d zero-priced trade frames" %
          st["zeroPriceTrades"])
    agg_ids = {(a["s"], a["f"]) for a in aggs}
    check(all((z["s"], z["t"]) not in agg_ids for z in zero),
          "%d zero-priced frames seen on <s>@trade, none in aggTrade" % len(zero))
    real = {}
    for t in trades:
        if float(t["p"]) != 0:
            real.setdefault(t["s"], set()).add(t["t"])
    first = {s: min(v) for s, v in real.items()}
    bad = n = 0
    for k in closed:
        if k["n"] == 0 or k["s"] not in first or k["f"] <= first[k["s"]]:
            continue  # only candles whose whole trade range we saw
        n += 1
        cnt = sum(1 for i in range(k["f"], k["L"] + 1) if i in real[k["s"]])
        if cnt != k["n"]:
            bad += 1
    check(n > 0 and bad == 0, "kline n equals the non-zero trades in [f, L] (%d candles)" % n)


def book_apply(book, levels):
    for px, q in levels:
        if float(q) == 0:
            book.pop(px, None)
        else:
            book[px] = q


def top(book, bid, n):
    return [[p, book[p]] for p in sorted(book, key=float, reverse=bid)[:n]]


def check_books(ex, frames, snaps):
    gaps_seen = {}
    for sym in ("BTCUSDT", "SIM002USDT"):
        diffs = [f["data"] for f in frames if f["stream"] == sym.lower() + "@depth@100ms"]
        snap = snaps[sym]
        L = snap["lastUpdateId"]
        bids = {p: q for p, q in snap["bids"]}
        asks = {p: q for p, q in snap["asks"]}
        prev_u = None
        breaks = 0
        compared = bad = 0
        for d in diffs:
            if prev_u is None:
                if d["u"] < L:
                    continue
                if not (d["U"] <= L <= d["u"]):
                    check(False, "%s: first diff brackets the snapshot id" % sym)
                    break
            elif d["pu"] != prev_u:
                breaks += 1
                break  # a client would resync here
            book_apply(bids, d["b"])
            book_apply(asks, d["a"])
            prev_u = d["u"]
            if compared < 12:
                st, _, js = ex.http("GET", "/sim/book", {"symbol": sym, "u": d["u"],
                                                          "limit": 20})
                compared += 1
                if not (st == 200 and js["u"] == d["u"] and js["bids"] == top(bids, True, 20)
                        and js["asks"] == top(asks, False, 20)):
                    bad += 1
                    print("  u", d["u"], st, js, top(bids, True, 3))
        check(compared >= 10 and bad == 0,
              "%s: /sim/book at %d diffs' u equals snapshot + diffs (top 20)" % (sym, compared))
        # pu breaks over the whole capture
        allb = sum(1 for a, b in zip(diffs, diffs[1:]) if b["pu"] != a["u"])
        gaps_seen[sym] = allb
    check(gaps_seen["BTCUSDT"] == 1 and gaps_seen["SIM002USDT"] == 0,
          "depth_gap: exactly one pu break on BTCUSDT, none elsewhere (%s)" % gaps_seen)
    st = ex.stats()
    check(st["depthGaps"].get("BTCUSDT", {}).get("depth@100ms") == 1 and
          "SIM002USDT" not in st["depthGaps"],
          "/sim/stats depthGaps counts it (%s)" % st["depthGaps"])
    st, _, js = ex.http("GET", "/sim/book", {"symbol": "BTCUSDT", "u": 5, "limit": 5})
    check(st == 404 and js["code"] == -1, "/sim/book before the kept range: 404 (%s)" % js)
    for _ in range(10):  # a tick may fall between the two requests
        st, _, js = ex.http("GET", "/sim/book", {"symbol": "ETHUSDT", "limit": 5})
        st2, _, snap = ex.http("GET", "/fapi/v1/depth", {"symbol": "ETHUSDT", "limit": 5})
        if snap["lastUpdateId"] == js["u"]:
            break
    check(st == 200 and js["oldestUpdateId"] == js["u"] and js["bids"] == snap["bids"] and
          js["asks"] == snap["asks"],
          "/sim/book without u: the current book (as /fapi/v1/depth)")
    st, _, js = ex.http("GET", "/sim/book", {"symbol": "ETHUSDT", "u": js["u"] - 1})
    check(st == 404, "/sim/book in the past of a symbol no diff stream ever had: 404 (%s)" % js)


async def conns(ex):
    a = await websockets.connect(ex.ws + "/market/stream?streams=btcusdt@aggTrade/"
                                 "ethusdt@kline_1m")
    b = await websockets.connect(ex.ws + "/public/ws/btcusdt@bookTicker")
    await a.send(json.dumps({"method": "SUBSCRIBE", "params": ["sim001usdt@aggTrade"],
                             "id": 1}))
    await asyncio.sleep(0.5)
    st, _, cs = ex.http("GET", "/sim/conns")
    byr = {c["route"]: c for c in cs}
    ca, cb = byr.get("market"), byr.get("public")
    check(st == 200 and ca and cb and ca["nStreams"] == 3 and ca["subscribes"] == 1 and
          ca["unsubscribes"] == 0 and ca["msgsReceived"] == 1 and
          sorted(ca["streams"]) == ["btcusdt@aggTrade", "ethusdt@kline_1m",
                                    "sim001usdt@aggTrade"] and ca["combined"] and
          cb["streams"] == ["btcusdt@bookTicker"] and not cb["combined"] and
          ca["msgsSent"] > 0 and cb["msgsSent"] > 0,
          "/sim/conns lists both connections with streams and counts (%s)" % cs)
    await a.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@kline_1m"],
                             "id": 2}))
    await asyncio.sleep(0.3)
    cs2 = {c["id"]: c for c in ex.http("GET", "/sim/conns")[2]}
    check(cs2[ca["id"]]["openedMs"] == ca["openedMs"] and cs2[ca["id"]]["nStreams"] == 2 and
          cs2[ca["id"]]["unsubscribes"] == 1, "UNSUBSCRIBE: same id and openedMs, 2 streams")
    st, _, js = ex.fault("kill_market", conn=ca["id"])
    check(st == 200 and js["affected"] == 1, "kill_market of one connection by id")
    await asyncio.sleep(0.5)
    cs3 = {c["id"]: c for c in ex.http("GET", "/sim/conns")[2]}
    check(ca["id"] not in cs3 and cs3.get(cb["id"], {}).get("openedMs") == cb["openedMs"],
          "the killed one is gone, the other unchanged")
    closed = False
    try:
        await asyncio.wait_for(a.recv(), 2)
        while True:
            await asyncio.wait_for(a.recv(), 2)
    except websockets.ConnectionClosed:
        closed = True
    except asyncio.TimeoutError:
        pass
    check(closed, "the killed client sees its connection end")
    st, _, js = ex.fault("kill_market")
    check(st == 200 and js["affected"] == 1, "kill_market without conn ends every market one")
    await asyncio.sleep(0.3)
    check(ex.http("GET", "/sim/conns")[2] == [], "no connection left")
    await b.close()


async def attempts(ex):
    url = ex.ws + "/market/ws/btcusdt@aggTrade"
    for i in range(3):
        ws = await websockets.connect(url)
        await ws.close()
    refused = False
    try:
        ws = await websockets.connect(url)
        await ws.close()
    except Exception:
        refused = True
    st = ex.stats()["connections"]
    check(refused and st["attempts"] == 4 and st["attemptsRefused"] == 1,
          "--conn-attempts 3: the 4th handshake in the window is refused (%s)" % st)
    await asyncio.sleep(1.2)  # 5 min / 300
    ws = await websockets.connect(url)
    await ws.close()
    check(ex.stats()["connections"]["attemptsRefused"] == 1, "admitted again after the window")


async def book_window(ex):
    async with websockets.connect(ex.ws + "/public/ws/btcusdt@depth") as ws:
        await asyncio.sleep(0.5)
        u0 = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5})[2]["lastUpdateId"]
        st0 = ex.http("GET", "/sim/book", {"symbol": "BTCUSDT", "u": u0})[0]
        await asyncio.sleep(2.0)
        u1 = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5})[2]["lastUpdateId"]
        st1, _, js1 = ex.http("GET", "/sim/book", {"symbol": "BTCUSDT", "u": u1})
        st2 = ex.http("GET", "/sim/book", {"symbol": "BTCUSDT", "u": u0})[0]
    check(st0 == 200 and st1 == 200 and st2 == 404 and js1["oldestUpdateId"] > u0,
          "--book-history 1: a 2 s old update id has left the kept range (%d %d %d)" % (
              st0, st1, st2))


def main():
    t0 = time.time()
    with Exsim("--symbols", str(NSYM), "--time-scale", str(SCALE), "--rate", "50") as ex:
        exchange_info(ex)
        klines_rest(ex)
        m, p, snaps = run(market_side(ex))
        closed = check_klines(ex, m)
        check_trades(ex, m + p, closed)
        check_books(ex, p, snaps)
        run(conns(ex))
    with Exsim("--symbols", "400") as ex:
        st, _, js = ex.http("GET", "/fapi/v1/exchangeInfo")
        check(st == 200 and len(js["symbols"]) == 401 and js["symbols"][399]["symbol"] ==
              "SIM395USDT", "--symbols 400: 400 TRADING + 1 (last SIM395USDT)")
    with Exsim("--conn-attempts", "3", "--time-scale", "300", "--book-history", "1") as ex:
        run(attempts(ex))
        run(book_window(ex))
    check(time.time() - t0 < 40, "ran in %.1f s" % (time.time() - t0))
    finish()


main()
