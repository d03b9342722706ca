#!/usr/bin/python3
"""Issue 12: the writer's side of market data.  The real daemon with two
exsim accounts streaming user data (their events interleave with ours), and
tools/dpsend speaking the data plane as a "market" sender, as the market
worker does.

1. A mix of every market type (kline open and closed, mark price, funding,
   ticker and mini ticker, trade and aggTrade, a local book and a partial
   depth book, book ticker, liquidation), with every closed candle twice:
   from the stream, then as the REST backfill's copy (resync flag, no trade
   ids).  Checked: every seq acked; `klines` holds exactly the closed
   candles, every column equal to what was sent, the open ones absent;
   `event_log` has no row of them; each topic (websocket.*) holds each event
   once (the closed candles twice: published after each commit), key =
   symbol, headers event_id/exchange/type/schema and no account_id, the
   value equal to the event field by field; the writer's status counts them
   per type and per topic; the user events committed meanwhile are on their
   topics exactly as event_log holds them (stack.kafka_compare).
2. A copy of a candle that counted fewer trades does not replace the row; one
   that counted more does.
3. PostgreSQL stopped: market events without a row are acked and published
   within seconds; closed klines wait un-acked (and what follows them of
   the same sender); the writer is kill -9'd meanwhile, the sender resends
   what is un-acked to the new one; PostgreSQL back, the candles are in
   `klines`, every seq acked.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, BUILD, kafka_read, kafka_compare, wait_for, PGTMP, skip_in_repeat_pass  # noqa: E402
from tapcheck import check, finish  # noqa: E402

# market_hup.py sends market events through the writer under the sanitizers.
skip_in_repeat_pass("writer_market.py", sanitizer=True)
DPSEND = os.environ.get("DPSEND", os.path.join(BUILD, "tools", "dpsend"))
EX = "binance-futures"
SYMS = ["WMKTAUSDT", "WMKTBUSDT"]
TYPES = {10: "kline", 11: "mark_price", 12: "funding", 13: "ticker", 14: "trade", 15: "book",
         16: "book_ticker", 17: "liquidation"}      # event.h: EV_KLINE .. EV_LIQUIDATION
TOPIC = {"kline": "websocket.kline", "mark_price": "websocket.mark_price",
         "funding": "websocket.funding_rate", "ticker": "websocket.ticker",
         "trade": "websocket.trade", "book": "websocket.depth",
         "book_ticker": "websocket.ticker", "liquidation": "websocket.liquidation"}
F_RESYNC, F_MINI, F_AGG, F_PARTIAL = 0x01, 0x04, 0x08, 0x10
FLAG_JSON = {13: ("mini", F_MINI), 14: ("agg", F_AGG), 15: ("partial", F_PARTIAL)}
# Wire key -> JSON name, per type (evcodec.c's tables).
NAMES = {
    10: dict(s="symbol", i="interval", t="open_time", T="close_time", f="first_trade_id",
            L="last_trade_id", o="open", h="high", l="low", c="close", v="volume",
            q="quote_volume", V="taker_buy_volume", Q="taker_buy_quote_volume", n="trades",
            x="closed"),
    11: dict(s="symbol", p="mark_price", ap="mark_price_avg", i="index_price",
             P="settle_price", r="funding_rate", T="next_funding_time"),
    12: dict(s="symbol", r="funding_rate", T="next_funding_time", p="mark_price"),
    13: dict(s="symbol", p="price_change", P="price_change_pct", w="weighted_avg_price",
             c="last_price", Q="last_qty", o="open", h="high", l="low", v="volume",
             q="quote_volume", O="open_time", C="close_time", F="first_trade_id",
             L="last_trade_id", n="trades"),
    14: dict(s="symbol", t="trade_id", f="first_trade_id", l="last_trade_id", p="price",
             q="qty", nq="normal_qty", X="order_type", m="buyer_maker", T="time"),
    15: dict(s="symbol", u="last_update_id", T="time", N="depth", b="bids", a="asks"),
    16: dict(s="symbol", u="update_id", b="bid_price", B="bid_qty", a="ask_price",
             A="ask_qty", T="time"),
    17: dict(s="symbol", S="side", o="order_type", f="tif", q="orig_qty", p="price",
             ap="avg_price", X="status", l="last_qty", z="filled_qty", T="time"),
}
# Integers whose "absent" value (event.h) is null in JSON, by type and wire key.
ABSENT = {(10, "f"): -1, (10, "L"): -1, (11, "T"): 0, (13, "O"): 0, (13, "C"): 0,
          (13, "F"): -1, (13, "L"): -1, (13, "n"): -1}
DECIMALS = {"o", "h", "l", "c", "v", "q", "V", "Q", "p", "ap", "i", "P", "r", "w", "nq", "b",
            "B", "a", "A", "z"}
MIN = 60000
T0 = 1764547200000      # 2025-12-01T00:00:00Z


def ev(t, d, E, flags=0, r=None):
    return {"t": t, "f": flags, "a": 0, "u": 0, "x": EX, "E": E,
            "r": r if r is not None else 1764547200000000 + E, "d": d}


def kline(sym, interval, k, closed=True, rest=False, trades=None, vol="12.5"):
    """Candle k of sym at interval (1m or 1M: case matters)."""
    span = MIN if interval == "1m" else 30 * 86400000
    ot = T0 + k * span
    n = trades if trades is not None else 40 + k
    d = {"s": sym, "i": interval, "t": ot, "T": ot + span - 1,
         "f": -1 if rest else 1000 + k * 100, "L": -1 if rest else 1000 + k * 100 + n - 1,
         "o": "65000.1", "h": "65100.25", "l": "64900", "c": "650%02d.5" % k,
         "v": vol, "q": "812345.678", "V": "6.25", "Q": "406172.8", "n": n,
         "x": closed}
    return ev(10, d, ot + span + (500 if rest else 0), F_RESYNC if rest else 0)


def market_mix():
    evs = []
    for j, s in enumerate(SYMS):
        b = T0 + 10000 * (j + 1)
        evs.append(ev(11, {"s": s, "p": "65001.5", "ap": "65001.4", "i": "65000.9",
                           "P": "65002", "r": "0.0001", "T": T0 + 28800000}, b + 1))
        evs.append(ev(11, {"s": s, "p": "3000.5", "ap": "", "i": "3000.1", "P": "3000.2",
                           "r": "", "T": 0}, b + 2))
        evs.append(ev(12, {"s": s, "r": "-0.00012", "T": T0 + 28800000, "p": "65001.5"},
                      b + 3))
        evs.append(ev(13, {"s": s, "p": "-10.5", "P": "-0.016", "w": "64990.2",
                           "c": "65000.1", "Q": "0.004", "o": "65010.6", "h": "65100",
                           "l": "64800", "v": "12345.678", "q": "802469135.5",
                           "O": b - 86400000, "C": b, "F": 1, "L": 98765, "n": 98765},
                      b + 4))
        evs.append(ev(13, {"s": s, "p": "", "P": "", "w": "", "c": "65000.2", "Q": "",
                           "o": "65010.6", "h": "65100", "l": "64800", "v": "12345.679",
                           "q": "802469200", "O": 0, "C": 0, "F": -1, "L": -1, "n": -1},
                      b + 5, F_MINI))
        evs.append(ev(14, {"s": s, "t": 5001 + j, "f": 5001 + j, "l": 5001 + j,
                           "p": "65000.1", "q": "0.010", "nq": "", "X": "MARKET", "m": True,
                           "T": b + 6}, b + 6))
        evs.append(ev(14, {"s": s, "t": 7001 + j, "f": 9001, "l": 9004, "p": "65000.2",
                           "q": "1.5", "nq": "1.25", "X": "", "m": False, "T": b + 7},
                      b + 7, F_AGG))
        evs.append(ev(15, {"s": s, "u": 123456789 + j, "T": b + 8, "N": 5,
                           "b": [["65000.1", "1.5"], ["65000", "0.25"]],
                           "a": [["65000.2", "0.7"], ["65000.3", "2"], ["65001", "0.001"]]},
                      b + 8))
        evs.append(ev(15, {"s": s, "u": 123456790 + j, "T": b + 9, "N": 5,
                           "b": [["65000.1", "1.4"]], "a": [["65000.2", "0.6"]]},
                      b + 9, F_PARTIAL))
        evs.append(ev(16, {"s": s, "u": 400 + j, "b": "65000.1", "B": "1.5", "a": "65000.2",
                           "A": "0.7", "T": b + 10}, b + 10))
        evs.append(ev(17, {"s": s, "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "0.014",
                           "p": "64000.5", "ap": "64010.25", "X": "FILLED", "l": "0.014",
                           "z": "0.014", "T": b + 11}, b + 11))
    return evs


def expected_json(e):
    """The JSON value of an event (ev_to_json: no account or user id, no
    "lite"; a type's own flag), but for event_id (taken from the header and
    checked against it)."""
    t, names = e["t"], NAMES[e["t"]]
    v = {"type": TYPES[t], "exchange": EX, "event_time": e["E"], "recv_us": e["r"],
         "resync": bool(e["f"] & F_RESYNC)}
    if t in FLAG_JSON:
        v[FLAG_JSON[t][0]] = bool(e["f"] & FLAG_JSON[t][1])
    for k, x in e["d"].items():
        if k in DECIMALS and isinstance(x, str) and x == "":
            x = None
        if ABSENT.get((t, k), "-") == x:
            x = None
        v[names[k]] = x
    return v


def dpsend_file(st, name, evs, *args, timeout=30):
    path = os.path.join(st.dir, name)
    with open(path, "w") as f:
        for e in evs:
            f.write(json.dumps(e) + "\n")
    return path, [DPSEND, "-s", os.path.join(st.run, "writer.sock"), "-r", "market", "-i", "0",
                  "-t", str(timeout), "-f", path] + list(args)


def send(st, name, evs, timeout=30):
    _, cmd = dpsend_file(st, name, evs, timeout=timeout)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10)
    return out.stdout.strip() + out.stderr.strip()


def market_msgs(boot, syms, topics=None):
    """Every message of the market topics whose key is one of syms, by topic."""
    got = {}
    for topic in topics or sorted(set(TOPIC.values())):
        got[topic] = [m for m in kafka_read(boot, topic) if m.get("key") in syms]
    return got


KLINE_COLS = ["exchange", "symbol", "interval", "open_time", "close_time", "open", "high", "low",
              "close", "volume", "quote_volume", "trades", "taker_buy_volume",
              "taker_buy_quote_volume"]


def kline_row(e):
    d = e["d"]
    return [EX, d["s"], d["i"], str(d["t"]), str(d["T"]), d["o"], d["h"], d["l"], d["c"], d["v"],
            d["q"], str(d["n"]), d["V"], d["Q"]]


def db_klines(st, syms):
    return st.sql("SELECT %s FROM klines WHERE symbol IN (%s) ORDER BY symbol, interval, "
                  "open_time" % (", ".join(KLINE_COLS), ", ".join("'%s'" % s for s in syms)))


def sort_rows(rows):
    return sorted(rows, key=lambda r: (r[1], r[2], int(r[3])))


t_start = time.time()
try:
    with Stack(accounts=2, rate=40, seed=12, shards=1, database=["batch_size = 50",
               "flush_interval = 5ms", "reconnect_delay_max = 300ms"]) as st:
        st.prepare()
        st.start_daemon()
        check(st.wait_streaming(2, 60), "2 accounts streaming (user events interleave)")
        boot = st.status()["kafka"]["bootstraps"]
        w0 = st.writer_status()
        log0 = int(st.sql("SELECT count(*) FROM event_log")[0][0])

        # ---------------------------------------------------- 1. the mix
        closed = [kline(s, i, k) for s in SYMS for i in ("1m", "1M") for k in range(3)]
        rest = [kline(s, i, k, rest=True) for s in SYMS for i in ("1m", "1M") for k in range(3)]
        opened = [kline(s, "1m", 3, closed=False, trades=7) for s in SYMS] + \
            [kline(s, "1M", 3, closed=False, trades=9) for s in SYMS]
        mix = market_mix()
        # Interleaved as a market worker sends them: stream, then the backfill's copies.
        first = []
        for i, e in enumerate(mix):
            first.append(e)
            if i < len(closed):
                first.append(closed[i])
            if i < len(opened):
                first.append(opened[i])
        sent = first + rest
        out = send(st, "mix.jsonl", sent)
        check(out.startswith("sent %d acked %d " % (len(sent), len(sent))),
              "dpsend as a market sender: every seq acked (%s)" % out.split(" elapsed")[0])

        rows = db_klines(st, SYMS)
        want = sort_rows([kline_row(e) for e in closed])
        check(rows == want, "klines: the %d closed candles, every column as sent "
              "(REST copies equal; open candles absent): %d rows" % (len(want), len(rows)))
        if rows != want:
            for r in rows[:3]:
                print("#   got ", r)
            for r in want[:3]:
                print("#   want", r)
        n = st.sql("SELECT count(*) FROM event_log WHERE event_type IN (%s) OR payload::text "
                   "LIKE '%%WMKT%%'" % ", ".join("'%s'" % x for x in TYPES.values()))[0][0]
        check(n == "0", "event_log: no row of a market event (%s)" % n)

        # Kafka: each event on its topic, keyed by symbol, value = the event.
        expect = {}
        for e in first + rest:
            expect.setdefault(TOPIC[TYPES[e["t"]]], []).append(e)

        def all_there():
            got = market_msgs(boot, SYMS)
            return all(len(got[t]) >= len(expect.get(t, [])) for t in got), got
        holder = {}

        def poll():
            ok, holder["got"] = all_there()
            return ok
        wait_for(poll, 20, every=1.0)
        got = holder["got"]
        problems, ids = [], {}
        for topic in sorted(got):
            want_t, msgs = expect.get(topic, []), got[topic]
            if len(msgs) != len(want_t):
                problems.append("%s: %d messages, %d sent" % (topic, len(msgs), len(want_t)))
                continue
            # Within a symbol the order is the send order (one key, one partition),
            # but closed candles go out after their commit: compare as multisets.
            exp = sorted((json.dumps(expected_json(e), sort_keys=True), e["d"]["s"])
                         for e in want_t)
            gv = []
            for m in msgs:
                h = m["headers"]
                v = json.loads(m["payload"])
                if set(h) != {"event_id", "exchange", "type", "schema"}:
                    problems.append("%s: headers %s" % (topic, sorted(h)))
                if (h.get("exchange"), h.get("type"), h.get("schema")) != (EX, v.get("type"), "1"):
                    problems.append("%s: headers %s for a %s" % (topic, h, v.get("type")))
                if v.pop("event_id", None) != h.get("event_id") or not h.get("event_id"):
                    problems.append("%s: event_id header %s differs from the value's" %
                                    (topic, h.get("event_id")))
                if m.get("key") != v.get("symbol"):
                    problems.append("%s: key %r, symbol %r" % (topic, m.get("key"), v.get("symbol")))
                ids.setdefault(json.dumps(v, sort_keys=True), set()).add(h.get("event_id"))
                gv.append((json.dumps(v, sort_keys=True), m.get("key")))
            gv.sort()
            if gv != exp:
                bad = [g for g, x in zip(gv, exp) if g != x][:2]
                problems.append("%s: values differ, e.g. %s vs %s" %
                                (topic, bad, [x for g, x in zip(gv, exp) if g != x][:2]))
        check(not problems, "Kafka: %d market messages on %d topics, key = symbol, headers, "
              "values equal the events field by field%s" %
              (sum(len(v) for v in got.values()), len(got), "".join("\n# " + p for p in problems[:8])))
        check(all(len(s) == 1 for s in ids.values()), "one event id per event")

        w = st.writer_status()
        m = w["market"]
        recv = {TYPES[t]: 0 for t in TYPES}
        for e in sent:
            recv[TYPES[e["t"]]] += 1
        delta = {k: m["received"][k] - w0["market"]["received"][k] for k in recv}
        check(delta == recv, "status: market.received per type %s" % delta)
        check(m["klines_upserted"] - w0["market"]["klines_upserted"] == len(closed) + len(rest),
              "status: klines_upserted %d (stream and REST copies)" % m["klines_upserted"])
        pub = {t: m["kafka"]["published"][t] - w0["market"]["kafka"]["published"].get(t, 0)
               for t in m["kafka"]["published"]}
        want_pub = {t: len(v) for t, v in expect.items()}
        check({t: n for t, n in pub.items() if n} == want_pub,
              "status: published per topic %s" % pub)
        check(wait_for(lambda: st.writer_status()["market"]["kafka"]["in_flight"] == 0, 10) and
              sum(st.writer_status()["market"]["kafka"]["failed"].values()) == 0,
              "status: delivered, none failed: %s" % st.writer_status()["market"]["kafka"]["delivered"])
        check("websocket.kline" not in w["kafka"]["produced"],
              "the outbox's counters are the user-data topics only")

        # ---------------------------------------- 2. the guard: more trades win
        fewer = [kline(SYMS[0], "1m", 0, trades=39, vol="12.4")]
        more = [kline(SYMS[0], "1m", 1, trades=42, vol="12.75")]
        out = send(st, "guard.jsonl", fewer + more)
        check(out.startswith("sent 2 acked 2 "), "guard copies acked")
        r = {row[3]: row for row in db_klines(st, SYMS[:1]) if row[2] == "1m"}
        check(r[str(T0)][11] == "40" and r[str(T0)][9] == "12.5",
              "a copy that counted fewer trades does not replace the candle: %s" % r[str(T0)][9:12])
        check(r[str(T0 + MIN)][11] == "42" and r[str(T0 + MIN)][9] == "12.75",
              "a copy that counted more replaces it: %s" % r[str(T0 + MIN)][9:12])

        # ------------------------------------ user data went on as before
        st.fault("pause")
        time.sleep(1)
        check(st.kafka_settled(30), "user events: every event_log row acknowledged")
        probs, counts, dups = kafka_compare(st, boot)
        log1 = int(st.sql("SELECT count(*) FROM event_log")[0][0])
        check(not probs and log1 > log0, "user events interleaved: %d committed meanwhile, on their "
              "topics as event_log holds them%s" % (log1 - log0, "".join("\n# " + p for p in probs[:5])))
        st.fault("resume")

        # ------------------------------------------ 3. PostgreSQL stopped
        SYM3 = ["WMKTCUSDT"]
        pg = os.path.join(st.dir, "pg")
        subprocess.run([PGTMP, "down", pg], check=True, stdout=subprocess.DEVNULL)
        t_down = time.time()
        flow = [ev(16, {"s": SYM3[0], "u": 9000 + i, "b": "1.5", "B": "2", "a": "1.6", "A": "3",
                        "T": T0 + i}, T0 + i) for i in range(200)] + \
            [kline(SYM3[0], "1m", 9, closed=False, trades=3)]
        t1 = time.time()
        out = send(st, "flow.jsonl", flow, timeout=10)
        took = time.time() - t1
        check(out.startswith("sent %d acked %d " % (len(flow), len(flow))) and took < 5,
              "PostgreSQL down: %d market events without a row acked in %.1f s" % (len(flow), took))
        c3 = [kline(SYM3[0], "1m", k) for k in range(4)]
        tail = [ev(14, {"s": SYM3[0], "t": 100 + i, "f": 100 + i, "l": 100 + i, "p": "1.5",
                        "q": "2", "nq": "", "X": "MARKET", "m": False, "T": T0 + i}, T0 + i)
                for i in range(20)]
        later = c3[:2] + tail[:10] + c3[2:] + tail[10:]
        _, cmd = dpsend_file(st, "later.jsonl", later, "-v", timeout=60)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        threading.Thread(target=lambda: [lines.append(x.strip()) for x in proc.stdout],
                         daemon=True).start()
        time.sleep(2)
        acked = max([int(x.split()[1]) for x in lines if x.startswith("acked ")] or [0])
        check(acked == 0, "PostgreSQL down: the closed candle (seq 1) and what follows wait "
              "un-acked (acked %d of %d)" % (acked, len(later)))
        while time.time() - t_down < 4:
            time.sleep(0.2)
        pubs = market_msgs(boot, SYM3, ["websocket.ticker", "websocket.trade", "websocket.kline"])
        check(len(pubs["websocket.ticker"]) == 200 and
              len(pubs["websocket.trade"]) == 20 and len(pubs["websocket.kline"]) == 1,
              "PostgreSQL down: published meanwhile: %d book tickers, %d trades, %d klines "
              "(the open one)" % (len(pubs["websocket.ticker"]), len(pubs["websocket.trade"]),
                                  len(pubs["websocket.kline"])))
        old = st.worker_pid("writer", 0)
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: st.worker_pid("writer", 0) not in (None, old), 15)
        time.sleep(1)
        subprocess.run([PGTMP, "up", pg], check=True, stdout=subprocess.DEVNULL)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
        final = [x for x in lines if x.startswith("sent ")]
        check(final and final[0].startswith("sent %d acked %d " % (len(later), len(later))) and
              any(x.startswith("disconnected") for x in lines),
              "the sender resent the un-acked to the new writer; all %d acked once PostgreSQL "
              "returned (%s)" % (len(later), final[0].split(" elapsed")[0] if final else lines[-3:]))
        rows = db_klines(st, SYM3)
        check(rows == sort_rows([kline_row(e) for e in c3]),
              "klines: the 4 candles sent while PostgreSQL was down (%d rows)" % len(rows))
        st.sanitizer_check()
except Exception as e:  # noqa: BLE001
    check(False, "harness: %s" % e)
print("# %.1f s" % (time.time() - t_start))
finish()
