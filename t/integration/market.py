#!/usr/bin/python3
"""Issue 12, acceptance 1: the market worker against exsim, 2 symbols x all
15 kline intervals + every other stream kind (markPrice@1s, ticker,
miniTicker, trade, aggTrade, depth@100ms as a local book, depth10@100ms,
bookTicker, forceOrder), exsim at --time-scale 120 so that candles of 1m to
1h close during the test.

1. Routes: exsim's /sim/conns shows every stream subscribed, each on the
   route that serves it (/public: depth, partial depth, bookTicker, trade;
   /market: the rest).
2. Fields: a WebSocket client of the test's own reads exsim's frames of the
   same streams meanwhile; for every stream, over the window both saw, the
   events published on Kafka (websocket.*, read back with kcat) are exactly
   exsim's frames (none missing, none extra, none twice), normalized: every
   field compared (trade ids, prices, quantities, flags, times).  Funding
   events are exactly the changes of (funding rate, next funding time) in
   the mark price frames.  Zero-priced trade frames are never published.
3. Closed klines: every row of `klines` equals exsim's candle
   (/sim/klines), every column; every interval has closed candles from the
   stream; no hole between the first and the last stored of each pair.
4. Who publishes: every message carries the headers event_id, exchange,
   type and schema, equal to its value's; the market worker's own producer
   published every market event but the closed candles, the writer those
   (after their commit): what Kafka holds lies between each one's status
   counters (delivered before the read, published after it), none failed;
   the writer received closed candles only.  Each symbol's events of a
   type reach Kafka in the order they were made, each produced as it was
   made (Kafka's CreateTime against the event's recv_us).
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, kafka_read, skip_in_repeat_pass, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402
from wsclient import WS  # noqa: E402

SYMS = ["BTCUSDT", "ETHUSDT"]
IVS = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
       "1M"]
SCALE = 120
CAPTURE_S = 35
KINDS_M = ["markPrice@1s", "ticker", "miniTicker", "aggTrade", "forceOrder"] + \
    ["kline_" + i for i in IVS]
KINDS_P = ["trade", "depth@100ms", "depth10@100ms", "bookTicker"]
TOPICS = ["websocket.kline", "websocket.mark_price", "websocket.funding_rate",
          "websocket.ticker", "websocket.trade", "websocket.depth", "websocket.liquidation"]


def market(st):
    for w in st.status()["workers"]:
        if w["role"] == "market":
            return w.get("detail", {}).get("role")
    return None


def capture(url, out, stop):
    ws = WS(url)
    while not stop.is_set():
        m = ws.recv(0.5)
        if m is not None:
            out.append(json.loads(m))
    ws.close()


def N(v):
    """A frame's absent decimal is the event's null."""
    return v


# ---- exsim frame -> the event the worker must have published --------------
def ev_of(stream, d):
    """(type, key, expected fields) of one frame's event, or None (not published)."""
    e = d.get("e")
    if e == "kline":
        k = d["k"]
        return "kline", (k["s"], k["i"], d["E"], k["t"]), {
            "symbol": k["s"], "interval": k["i"], "open_time": k["t"], "close_time": k["T"],
            "first_trade_id": k["f"] if k["f"] != -1 else None,
            "last_trade_id": k["L"] if k["L"] != -1 else None, "open": k["o"], "high": k["h"],
            "low": k["l"], "close": k["c"], "volume": k["v"], "quote_volume": k["q"],
            "taker_buy_volume": k["V"], "taker_buy_quote_volume": k["Q"], "trades": k["n"],
            "closed": k["x"], "event_time": d["E"]}
    if e == "markPriceUpdate":
        return "mark_price", (d["s"], d["E"]), {
            "symbol": d["s"], "mark_price": d["p"], "mark_price_avg": d.get("ap"),
            "index_price": d["i"], "settle_price": d["P"], "funding_rate": d["r"],
            "next_funding_time": d["T"], "event_time": d["E"]}
    if e == "24hrTicker":
        return "ticker", (d["s"], "full", d["E"]), {
            "symbol": d["s"], "price_change": d["p"], "price_change_pct": d["P"],
            "weighted_avg_price": d["w"], "last_price": d["c"], "last_qty": d["Q"],
            "open": d["o"], "high": d["h"], "low": d["l"], "volume": d["v"],
            "quote_volume": d["q"], "open_time": d["O"], "close_time": d["C"],
            "first_trade_id": d["F"], "last_trade_id": d["L"], "trades": d["n"], "mini": False,
            "event_time": d["E"]}
    if e == "24hrMiniTicker":
        return "ticker", (d["s"], "mini", d["E"]), {
            "symbol": d["s"], "price_change": None, "price_change_pct": None,
            "weighted_avg_price": None, "last_price": d["c"], "last_qty": None,
            "open": d["o"], "high": d["h"], "low": d["l"], "volume": d["v"],
            "quote_volume": d["q"], "open_time": None, "close_time": None,
            "first_trade_id": None, "last_trade_id": None, "trades": None, "mini": True,
            "event_time": d["E"]}
    if e == "trade":
        if float(d["p"]) == 0:
            return None
        return "trade", (d["s"], "trade", d["t"]), {
            "symbol": d["s"], "trade_id": d["t"], "first_trade_id": d["t"],
            "last_trade_id": d["t"], "price": d["p"], "qty": d["q"], "normal_qty": None,
            "order_type": d.get("X", ""), "buyer_maker": d["m"], "time": d["T"], "agg": False,
            "event_time": d["E"]}
    if e == "aggTrade":
        if float(d["p"]) == 0:
            return None
        return "trade", (d["s"], "agg", d["a"]), {
            "symbol": d["s"], "trade_id": d["a"], "first_trade_id": d["f"],
            "last_trade_id": d["l"], "price": d["p"], "qty": d["q"], "normal_qty": d.get("nq"),
            "order_type": "", "buyer_maker": d["m"], "time": d["T"], "agg": True,
            "event_time": d["E"]}
    if e == "depthUpdate" and "@depth10" in stream:
        return "book", (d["s"], "partial", d["E"], d["u"]), {
            "symbol": d["s"], "last_update_id": d["u"], "time": d["T"], "depth": 10,
            "bids": d["b"], "asks": d["a"], "partial": True, "event_time": d["E"]}
    if e == "bookTicker":
        return "book_ticker", (d["s"], d["u"]), {
            "symbol": d["s"], "update_id": d["u"], "bid_price": d["b"], "bid_qty": d["B"],
            "ask_price": d["a"], "ask_qty": d["A"], "time": d["T"], "event_time": d["E"]}
    if e == "forceOrder":
        o = d["o"]
        return "liquidation", (o["s"], d["E"]), {
            "symbol": o["s"], "side": o["S"], "order_type": o["o"], "tif": o["f"],
            "orig_qty": o["q"], "price": o["p"], "avg_price": o["ap"], "status": o["X"],
            "last_qty": o["l"], "filled_qty": o["z"], "time": o["T"], "event_time": d["E"]}
    return None


def key_of(ev):
    t = ev["type"]
    if t == "kline":
        return (ev["symbol"], ev["interval"], ev["event_time"], ev["open_time"])
    if t == "mark_price":
        return (ev["symbol"], ev["event_time"])
    if t == "ticker":
        return (ev["symbol"], "mini" if ev.get("mini") else "full", ev["event_time"])
    if t == "trade":
        return (ev["symbol"], "agg" if ev.get("agg") else "trade", ev["trade_id"])
    if t == "book":
        return (ev["symbol"], "partial", ev["event_time"], ev["last_update_id"])
    if t == "book_ticker":
        return (ev["symbol"], ev["update_id"])
    if t == "liquidation":
        return (ev["symbol"], ev["event_time"])
    return None


def stream_of_key(t, k):
    """Events are compared per stream: the part of the key naming it."""
    if t == "kline":
        return (t, k[0], k[1])
    if t in ("ticker", "trade", "book"):
        return (t, k[0], k[1])
    return (t, k[0])


def order_of(t, k):
    """Where an event sits in its stream (event time, or its id)."""
    if t in ("kline", "book"):
        return k[2]
    return k[-1]


def main():
    # Under the sanitizers market_hup.py runs the worker's connections and the
    # writer's market path, the parser and codec are fuzzed: CI's 45 minutes.
    skip_in_repeat_pass("market (35 s of every stream kind)", sanitizer=True)
    streams = ["kline", "markPrice@1s", "ticker", "miniTicker", "trade", "aggTrade",
               "depth@100ms", "depth10@100ms", "bookTicker", "forceOrder"]
    with Stack(accounts=10, rate=200, market_symbols=SYMS,
               exsim_args=["--time-scale", str(SCALE)],
               market=["streams = " + ", ".join(streams), "intervals = " + ", ".join(IVS),
                       "book_snapshot_limit = 100", "kline_history = 50",
                       "silence_timeout = 10s"]) as st:
        st.prepare()
        st.start_daemon()
        boot = st.status()["kafka"]["bootstraps"]
        names_m = {"%s@%s" % (s.lower(), k) for s in SYMS for k in KINDS_M}
        names_p = {"%s@%s" % (s.lower(), k) for s in SYMS for k in KINDS_P}

        def routed():
            cs = [c for c in st.http("GET", "/sim/conns") if c["route"] in ("market", "public")]
            got_m = set().union(*[set(c["streams"]) for c in cs if c["route"] == "market"])
            got_p = set().union(*[set(c["streams"]) for c in cs if c["route"] == "public"])
            return got_m == names_m and got_p == names_p
        check(wait_for(routed, 20), "every stream subscribed on its route: %d on /market, %d on "
              "/public, nothing else" % (len(names_m), len(names_p)))

        # The test's own view of exsim's frames, the same streams, meanwhile.
        frames_m, frames_p, stop = [], [], threading.Event()
        ths = [threading.Thread(target=capture, args=(
            st.ws + "/%s/stream?streams=%s" % (r, "/".join(sorted(n))), out, stop))
            for r, n, out in (("market", names_m, frames_m), ("public", names_p, frames_p))]
        for t in ths:
            t.start()
        time.sleep(CAPTURE_S)
        stop.set()
        for t in ths:
            t.join()
        time.sleep(2)
        m = market(st)
        check(m["malformed"] == 0 and m["events_invalid"] == 0 and m["sub_errors"] == 0,
              "worker: no malformed frame, invalid event or refused subscription (%d messages, "
              "%d events)" % (m["messages"], m["events"]))

        # What the worker published.  Its producer's counters (every event but
        # a closed candle) and the writer's (closed candles, after their
        # commit) bracket what Kafka holds: delivered before the read <= read
        # <= published after it.
        pub = {}
        dup = 0
        m0, w0 = market(st)["kafka"], st.writer_status()["market"]
        on_kafka = {"market": {}, "writer": {}}
        bad_headers = []
        seq = {}        # (topic, partition, key, type) -> [(offset, recv_us, CreateTime ms)]
        for topic in TOPICS:
            for msg in kafka_read(boot, topic):
                ev = json.loads(msg["payload"])
                who = "writer" if ev["type"] == "kline" and ev["closed"] else "market"
                on_kafka[who][topic] = on_kafka[who].get(topic, 0) + 1
                if who == "market":
                    seq.setdefault((topic, msg["partition"], msg.get("key"), ev["type"]),
                                   []).append((msg["offset"], ev["recv_us"], msg["ts"]))
                h = msg["headers"]
                if set(h) != {"event_id", "exchange", "type", "schema"} or \
                        (h["event_id"], h["exchange"], h["type"], h["schema"]) != \
                        (ev["event_id"], ev["exchange"], ev["type"], "1"):
                    bad_headers.append((topic, h, ev["event_id"]))
                if ev["type"] == "book" and not ev.get("partial"):
                    continue    # the local book: market_book.py
                if ev.get("resync"):
                    continue    # REST backfill (closed candles): compared in klines below
                if ev["type"] == "funding":
                    pub.setdefault("funding", []).append(ev)
                    continue
                k = key_of(ev)
                if k in pub.get(ev["type"], {}):
                    dup += 1
                pub.setdefault(ev["type"], {})[k] = ev
                if msg.get("key") != ev["symbol"]:
                    check(False, "Kafka key %r is the symbol of %s" % (msg.get("key"), k))
        check(dup == 0, "no event published twice")
        # Each symbol's events of a type in the order they were made, each
        # handed to the producer as it was made (Kafka's CreateTime is the
        # produce call's time; [kafka] market_linger, 50 ms here, is
        # librdkafka's wait after it; 1 s of slack for a loaded machine).
        back, late, n_seq = [], [], 0
        for k, v in seq.items():
            v.sort()
            n_seq += len(v)
            for a, b in zip(v, v[1:]):
                if b[1] < a[1]:
                    back.append((k, a, b))
            late += [(k, x) for x in v if not -5 <= x[2] - x[1] // 1000 <= 1000]
        check(n_seq > 1000 and not back and not late,
              "the market worker's %d messages: in the order they were made per symbol and "
              "type (%d out of order), each produced as it was made (%d late; the largest "
              "wait %d ms)%s" % (
                  n_seq, len(back), len(late),
                  max((x[2] - x[1] // 1000 for v in seq.values() for x in v), default=0),
                  "".join("\n# %s" % (b,) for b in (back + late)[:3])))
        check(not bad_headers, "every message's headers: event_id, exchange, type, schema, equal "
              "to its value's (%d bad%s)" % (len(bad_headers), "".join(
                  "\n# %s" % (b,) for b in bad_headers[:3])))
        m1, w1 = market(st)["kafka"], st.writer_status()["market"]
        probs = []
        for who, a, b in (("market", m0, m1), ("writer", w0["kafka"], w1["kafka"])):
            for topic in TOPICS:
                n = on_kafka[who].get(topic, 0)
                if not a["delivered"].get(topic, 0) <= n <= b["published"].get(topic, 0):
                    probs.append("%s %s: %d on Kafka, delivered %d before, published %d after" %
                                 (who, topic, n, a["delivered"].get(topic, 0),
                                  b["published"].get(topic, 0)))
            if sum(b["failed"].values()) or sum(b["queue_full"].values()):
                probs.append("%s: failed %s, queue full %s" % (who, b["failed"], b["queue_full"]))
        check(not probs and on_kafka["market"] and on_kafka["writer"],
              "the market worker's producer published every market event but closed candles "
              "(%s), the writer the closed ones (%s), as their status counts them, none failed%s" %
              (sum(on_kafka["market"].values()), sum(on_kafka["writer"].values()),
               "".join("\n# " + p for p in probs)))
        recv = {t: n for t, n in w1["received"].items() if n}
        check(set(recv) == {"kline"} and w1["klines_upserted"] >= recv["kline"],
              "the writer received closed candles only from the market worker (%s), and upserted "
              "them (%d)" % (recv, w1["klines_upserted"]))

        # exsim's frames, as events.
        want = {}
        zero = 0
        for f in frames_m + frames_p:
            x = ev_of(f["stream"], f["data"])
            if x is None:
                zero += f["data"].get("e") in ("trade", "aggTrade")
                continue
            want.setdefault(x[0], {})[x[1]] = x[2]
        # Per stream, over the window both saw: exactly the same events.
        types = ["kline", "mark_price", "ticker", "trade", "book", "book_ticker", "liquidation"]
        for t in types:
            w, p = want.get(t, {}), pub.get(t, {})
            by_s = {}
            for k in w:
                by_s.setdefault(stream_of_key(t, k), [set(), set()])[0].add(k)
            for k in p:
                by_s.setdefault(stream_of_key(t, k), [set(), set()])[1].add(k)
            compared = missing = extra = bad = 0
            first_bad = None
            for s, (wk, pk) in by_s.items():
                if not wk or not pk:
                    continue
                lo = max(min(order_of(t, k) for k in wk), min(order_of(t, k) for k in pk))
                hi = min(max(order_of(t, k) for k in wk), max(order_of(t, k) for k in pk))
                ww = {k for k in wk if lo <= order_of(t, k) <= hi}
                pp = {k for k in pk if lo <= order_of(t, k) <= hi}
                missing += len(ww - pp)
                extra += len(pp - ww)
                for k in ww & pp:
                    compared += 1
                    e = pub[t][k]
                    diff = {f: (v, e.get(f)) for f, v in w[k].items() if e.get(f) != v}
                    if diff:
                        bad += 1
                        first_bad = first_bad or (k, diff)
            streams_seen = sum(1 for wk, pk in by_s.values() if wk and pk)
            # Streams both sides must have seen: 2 symbols x 15 intervals of klines,
            # full and mini tickers, trade and aggTrade; liquidations come when
            # exsim's accounts are liquidated, maybe not in the window.
            need = {"liquidation": 0, "kline": 30, "ticker": 4, "trade": 4}.get(t, 2)
            check(streams_seen >= need and missing == 0 and extra == 0 and bad == 0 and
                  (compared > 0 or need == 0),
                  "%s: %d events on %d streams equal exsim's frames field by field (missing %d, "
                  "extra %d, different %d%s)" % (t, compared, streams_seen, missing, extra, bad,
                                                 "" if not first_bad else ": %s" % (first_bad,)))
        check(all(any(k[1] == iv for k in want.get("kline", {})) and
                  any(k[1] == iv for k in pub.get("kline", {})) for iv in IVS),
              "kline events of all 15 intervals")

        # Funding: exactly the changes of (r, T) in the mark price frames.
        mp = sorted(want.get("mark_price", {}).values(), key=lambda e: (e["symbol"],
                                                                         e["event_time"]))
        fund = {(e["symbol"], e["event_time"]): e for e in pub.get("funding", [])}
        ok = n = 0
        prev = {}
        for e in mp:
            s = e["symbol"]
            cur = (e["funding_rate"], e["next_funding_time"])
            if s in prev and prev[s] != cur:
                n += 1
                f = fund.get((s, e["event_time"]))
                ok += f is not None and (f["funding_rate"], f["next_funding_time"],
                                         f["mark_price"]) == (cur[0], cur[1], e["mark_price"])
            elif s in prev and (s, e["event_time"]) in fund:
                n += 1  # a funding event without a change: counted as a failure
            prev[s] = cur
        firsts = {}
        for e in pub.get("funding", []):
            firsts.setdefault(e["symbol"], e)
        check(ok == n and set(firsts) == set(SYMS),
              "funding: %d changes of rate or next funding time in exsim's frames, each one "
              "EV_FUNDING with its rate, time and mark price (%d ok); first seen published for "
              "each symbol" % (n, ok))
        check(m["zero_price"] >= zero and all(float(e["price"]) != 0
                                              for e in pub.get("trade", {}).values()),
              "zero-priced trade frames dropped (%d in the capture, %d counted by the worker)" %
              (zero, m["zero_price"]))

        # Closed klines in PostgreSQL equal exsim's candles.
        rows = st.sql("SELECT symbol, interval, open_time, open, high, low, close, volume, "
                      "close_time, quote_volume, trades, taker_buy_volume, "
                      "taker_buy_quote_volume FROM klines ORDER BY 1, 2, 3")
        sim = {}
        for s in SYMS:
            for iv in IVS:
                for r in st.http("GET", "/sim/klines?symbol=%s&interval=%s&limit=1500" % (s, iv)):
                    sim[(s, iv, r[0])] = [str(x) for x in r[:11]]
        bad = []
        per = {}
        for r in rows:
            s, iv, t = r[0], r[1], int(r[2])
            per.setdefault((s, iv), []).append(t)
            if sim.get((s, iv, t)) != [str(t)] + r[3:]:
                bad.append((s, iv, t, r[3:], sim.get((s, iv, t))))
        check(rows and not bad, "klines: %d rows, each equal to exsim's candle, every column%s"
              % (len(rows), "" if not bad else " (%d differ, first %s)" % (len(bad), bad[0],)))
        closed_stream = {(k[0], k[1]) for k, e in pub.get("kline", {}).items() if e["closed"]}
        short = [iv for iv in IVS[:6] if not all((s, iv) in closed_stream for s in SYMS)]
        check(not short, "closed candles streamed for 1m .. 1h of both symbols (missing: %s)"
              % short)
        holes = []
        for (s, iv), ts in per.items():
            for a, b in zip(ts, ts[1:]):
                if sim.get((s, iv, a)) and int(sim[(s, iv, a)][6]) + 1 != b:
                    holes.append((s, iv, a, b))
        check(not holes, "klines: no hole between the first and the last stored candle of "
              "each of %d pairs%s" % (len(per), "" if not holes else " (%s)" % holes[:3]))
        st.sanitizer_check()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        check(False, "harness: %r" % e)
    finish()
