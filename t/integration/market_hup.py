#!/usr/bin/python3
"""Issue 12, acceptance 4: a reload (HUP) that adds and then removes a
symbol, and one that adds a kind, are applied by SUBSCRIBE / UNSUBSCRIBE on
the live connections: exsim's /sim/conns shows the same connections (ids,
opened times) carrying the new stream set, with the SUBSCRIBE / UNSUBSCRIBE
counts going up, the other streams keep delivering, nothing reconnects
(exsim's connection total and the worker's reconnect counters unchanged).
A full connection (max_streams_per_connection) makes the added streams go
on a new one; the removed ones are gone from exsim's subscriptions.
Then connection_max_age = 5s (a reload): every connection is replaced make
before break, and across the replacements the aggTrade ids published are
exactly exsim's (none lost, none twice: the overlap's duplicates dropped)
and the local books never resync."""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, kafka_read, skip_in_repeat_pass, tcp_nodelay, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402
from wsclient import WS  # noqa: E402

BASE = ["streams = aggTrade, markPrice@1s, kline, bookTicker, depth@100ms",
        "intervals = 1m, 5m", "book_snapshot_limit = 100", "silence_timeout = 10s"]


def market(st):
    for w in st.status()["workers"]:
        if w["role"] == "market":
            return w.get("detail", {}).get("role")
    return None


def conns(st):
    """exsim's market data connections (the account's /private one left out)."""
    return {c["id"]: c for c in st.http("GET", "/sim/conns") if c["route"] in ("market", "public")}


def reload(st, symbols, extra=()):
    st.market_symbols = symbols
    st.market = BASE + list(extra)
    st.write_config()
    st.daemon.send_signal(signal.SIGHUP)


def streams_of(cs, route):
    out = set()
    for c in cs.values():
        if c["route"] == route:
            out |= set(c["streams"])
    return out


def want_streams(symbols, kinds_market, kinds_public):
    m = {"%s@%s" % (s.lower(), k) for s in symbols for k in kinds_market}
    p = {"%s@%s" % (s.lower(), k) for s in symbols for k in kinds_public}
    return m, p


MK = ["aggTrade", "markPrice@1s", "kline_1m", "kline_5m"]
PK = ["bookTicker", "depth@100ms"]


LAGGING = []


def live_and_flowing(st, names, since=None):
    """Every stream named is subscribed and delivered (since: more than then);
    LAGGING says which were not, for the message."""
    m = market(st)
    if m is None:
        return False
    ages = m["stream_ages"]
    LAGGING[:] = [n for n in sorted(names) if ages.get(n) is None or
                  ages[n]["state"] != "live" or ages[n]["messages"] == 0 or
                  (since is not None and ages[n]["messages"] <= since.get(n, 0))]
    LAGGING[:] = [(n, ages.get(n)) for n in LAGGING]
    return not LAGGING


def main():
    skip_in_repeat_pass("market_hup (reloads, replacements)")
    with Stack(accounts=1, rate=20, market_symbols=["BTCUSDT", "ETHUSDT"], market=BASE,
               exsim_args=["--symbols", "6"]) as st:
        st.prepare()
        st.start_daemon()
        m0, p0 = want_streams(["BTCUSDT", "ETHUSDT"], MK, PK)
        check(wait_for(lambda: streams_of(conns(st), "market") == m0 and
                       streams_of(conns(st), "public") == p0 and
                       live_and_flowing(st, m0 | p0), 20),
              "start: %d streams on /market, %d on /public, all delivering" % (len(m0), len(p0)))
        c0 = conns(st)
        total0 = st.sim_stats()["connections"]["total"]
        check(len(c0) == 2, "one connection per route (%d)" % len(c0))
        # No socket of ours holds a message back for Nagle's algorithm (a
        # small write behind an unacknowledged one waits for a delayed ACK,
        # up to 40 ms): the exchange's connections (libwebsockets) and the
        # Kafka producers' (librdkafka, socket.nagle.disable).
        check(st.wait_streaming(1, 60), "the account streams")
        for role in ("market", "writer", "account"):
            nd = [x for w in st.status()["workers"] if w["role"] == role and w["pid"]
                  for x in tcp_nodelay(w["pid"])]
            check(nd and all(v for _, v in nd),
                  "TCP_NODELAY on every TCP socket of the %s workers ((local, remote port), "
                  "flag): %s" % (role, nd))
        msgs0 = {n: a["messages"] for n, a in market(st)["stream_ages"].items()}

        def text_ok():
            text = st.ctl("status").stdout
            return "market: 2 symbols, 12 streams" in text and \
                sum(1 for ln in text.splitlines() if ln.split()[1:3] in (
                    ["market", "open"], ["public", "open"])) == 2 and \
                "book BTCUSDT: synced" in text and "oldest stream message:" in text
        check(wait_for(text_ok, 10),
              "exfeedctl status: the market section (connections, books, oldest stream)")

        # 1. add SOLUSDT
        reload(st, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
        m1, p1 = want_streams(["BTCUSDT", "ETHUSDT", "SOLUSDT"], MK, PK)
        check(wait_for(lambda: streams_of(conns(st), "market") == m1 and
                       streams_of(conns(st), "public") == p1, 15),
              "HUP +SOLUSDT: exsim has its %d streams subscribed" % (len(m1 - m0) + len(p1 - p0)))
        c1 = conns(st)
        check(set(c1) == set(c0) and
              all(c1[i]["openedMs"] == c0[i]["openedMs"] for i in c0),
              "HUP +SOLUSDT: the same connections (ids %s, opened times unchanged)" % sorted(c0))
        check(all(c1[i]["subscribes"] >= c0[i]["subscribes"] + 1 for i in c0),
              "HUP +SOLUSDT: by SUBSCRIBE on each (%s -> %s)" % (
                  [c0[i]["subscribes"] for i in sorted(c0)],
                  [c1[i]["subscribes"] for i in sorted(c1)]))
        check(wait_for(lambda: live_and_flowing(st, (m1 - m0) | (p1 - p0)), 15),
              "HUP +SOLUSDT: its streams deliver")
        check(wait_for(lambda: live_and_flowing(st, m0 | p0, since=msgs0), 10),
              "HUP +SOLUSDT: the other streams kept delivering")
        msgs1 = {n: a["messages"] for n, a in market(st)["stream_ages"].items()}

        # 2. remove ETHUSDT
        reload(st, ["BTCUSDT", "SOLUSDT"])
        m2, p2 = want_streams(["BTCUSDT", "SOLUSDT"], MK, PK)
        check(wait_for(lambda: streams_of(conns(st), "market") == m2 and
                       streams_of(conns(st), "public") == p2, 15),
              "HUP -ETHUSDT: exsim no longer has its streams")
        c2 = conns(st)
        check(set(c2) == set(c0) and
              all(c2[i]["openedMs"] == c0[i]["openedMs"] for i in c0) and
              all(c2[i]["unsubscribes"] >= c1[i]["unsubscribes"] + 1 for i in c0),
              "HUP -ETHUSDT: by UNSUBSCRIBE on the same connections")
        check(wait_for(lambda: live_and_flowing(st, m2 | p2, since=msgs1), 10),
              "HUP -ETHUSDT: the others kept delivering")
        m = market(st)
        check(not any(n.startswith("ethusdt@") for n in m["stream_ages"]) and
              "ETHUSDT" not in m["books"],
              "HUP -ETHUSDT: its streams and book are gone from the status")

        # 2b. a burst of reloads, each toggling SOLUSDT: every one a SUBSCRIBE or an
        #     UNSUBSCRIBE on each connection, more than the exchange's 10 messages a
        #     second; the worker's own limit queues them, exsim drops nothing.
        for i in range(14):
            reload(st, ["BTCUSDT", "SOLUSDT"] if i % 2 else ["BTCUSDT"])
            time.sleep(0.05)
        check(wait_for(lambda: streams_of(conns(st), "market") == m2 and
                       streams_of(conns(st), "public") == p2, 20),
              "a burst of 14 reloads: exsim ends with the last one's streams")
        c2b = conns(st)
        sent = sum(c2b[i]["subscribes"] + c2b[i]["unsubscribes"] -
                   c2[i]["subscribes"] - c2[i]["unsubscribes"] for i in c0 if i in c2b)
        cs = st.sim_stats()["connections"]
        check(set(c2b) == set(c0) and all(c2b[i]["openedMs"] == c0[i]["openedMs"] for i in c0)
              and cs["droppedRxLimit"] == 0,
              "the burst: %d SUBSCRIBE/UNSUBSCRIBE on the same connections, none dropped by "
              "exsim's 10 messages/s limit (%s)" % (sent, cs))
        seen = {n: a["messages"] for n, a in market(st)["stream_ages"].items()}
        check(wait_for(lambda: live_and_flowing(st, m2 | p2, since=seen), 15),
              "after the burst every stream delivers %s" % LAGGING)

        # 3. add a kind (ticker) and a symbol that does not fit: max 9 streams per
        #    connection: /market had 8 (2 symbols x 4) + 2 tickers = 10 > 9, so
        #    exactly one more /market connection; /public untouched.
        st.market = ["streams = aggTrade, markPrice@1s, kline, bookTicker, depth@100ms, ticker",
                     "intervals = 1m, 5m", "book_snapshot_limit = 100", "silence_timeout = 10s",
                     "max_streams_per_connection = 9"]
        st.write_config()
        st.daemon.send_signal(signal.SIGHUP)
        m3 = m2 | {"btcusdt@ticker", "solusdt@ticker"}
        check(wait_for(lambda: streams_of(conns(st), "market") == m3, 15),
              "HUP +ticker: exsim has both ticker streams")
        c3 = conns(st)
        old = [i for i in c0 if i in c3 and c3[i]["openedMs"] == c0[i]["openedMs"]]
        new = [i for i in c3 if i not in c0]
        check(len(old) == 2 and len(new) == 1 and c3[new[0]]["route"] == "market" and
              all(len(c["streams"]) <= 9 for c in c3.values()),
              "HUP +ticker over max_streams_per_connection: the two connections kept, one new "
              "/market one (%s)" % {i: (c["route"], len(c["streams"])) for i, c in c3.items()})
        check(wait_for(lambda: live_and_flowing(st, {"btcusdt@ticker", "solusdt@ticker"}), 15),
              "HUP +ticker: the tickers deliver")
        total = st.sim_stats()["connections"]["total"]
        m = market(st)
        check(total == total0 + 1 and m["reconnects_ok"] == 0 and m["reconnects_failed"] == 0 and
              all(c["reconnects_ok"] == 0 and c["reconnects_failed"] == 0
                  for c in m["connections"]),
              "no reconnect: exsim saw %d connections in all (%d + the new one), the worker "
              "counts no reconnect" % (total, total0))
        check(m["sub_errors"] == 0 and m["malformed"] == 0 and m["request_timeouts"] == 0,
              "no refused subscription, malformed frame or unanswered request")

        # 4. make before break: connection_max_age = 5s.
        boot = st.status()["kafka"]["bootstraps"]
        m = market(st)
        books0 = {s: b["resyncs"] for s, b in m["books"].items()}
        rep0, dup0 = m["replacements"], m["duplicates"]
        got, stop = [], threading.Event()

        def cap():
            ws = WS(st.ws + "/market/stream?streams=btcusdt@aggTrade/solusdt@aggTrade")
            while not stop.is_set():
                x = ws.recv(0.5)
                if x is not None:
                    got.append(json.loads(x)["data"])
            ws.close()
        th = threading.Thread(target=cap)
        th.start()
        time.sleep(1)
        st.market = st.market + ["connection_max_age = 5s"]
        st.write_config()
        st.daemon.send_signal(signal.SIGHUP)
        time.sleep(13)
        stop.set()
        th.join()
        time.sleep(1)
        m = market(st)
        c4 = conns(st)
        check(m["replacements"] - rep0 >= 4 and m["drains"] >= m["replacements"] - rep0 - 3 and
              m["drains_failed"] == 0 and not set(c4) & set(c3),
              "connection_max_age 5s: %d replacements, %d drained, none failed; exsim's "
              "connections all new (%s)" % (m["replacements"] - rep0, m["drains"], sorted(c4)))
        check(all(b["resyncs"] == books0.get(s) for s, b in m["books"].items()),
              "make before break: no book resynced (%s)" % {s: b["resyncs"]
                                                            for s, b in m["books"].items()})
        pub = {}
        for msg in kafka_read(boot, "websocket.trade"):
            e = json.loads(msg["payload"])
            if e["type"] == "trade" and e.get("agg") and not e.get("resync"):
                pub.setdefault(e["symbol"], []).append(e["trade_id"])
        ok = True
        why = []
        for sym in ("BTCUSDT", "SOLUSDT"):
            want = [d["a"] for d in got if d["s"] == sym and float(d["p"]) != 0]
            have = pub.get(sym, [])
            twice = len(have) - len(set(have))
            win = {a for a in have if want and want[0] <= a <= want[-1]}
            ok &= bool(want) and twice == 0 and win == set(want)
            why.append("%s: %d captured, %d published in the window, %d twice" %
                       (sym, len(want), len(win), twice))
        check(ok, "across the replacements the aggTrade ids published are exactly exsim's; "
              "overlap duplicates dropped (%d): %s" % (m["duplicates"] - dup0, "; ".join(why)))

        # 4b. stalled connections (exsim stops writing to them, pings unanswered):
        #     replaced after silence_timeout, the streams back.
        st.market = ["streams = aggTrade, markPrice@1s, kline, bookTicker, depth@100ms, ticker",
                     "intervals = 1m, 5m", "book_snapshot_limit = 100", "silence_timeout = 3s",
                     "max_streams_per_connection = 9"]
        st.write_config()
        st.daemon.send_signal(signal.SIGHUP)
        time.sleep(1)
        k0 = market(st)["silence_kills"]
        before = set(conns(st))
        st.fault("stall")
        check(wait_for(lambda: market(st)["silence_kills"] - k0 >= 3 and
                       not set(conns(st)) & before and len(conns(st)) == 3, 20),
              "stall: the 3 silent connections replaced (%d silence kills)" %
              (market(st)["silence_kills"] - k0))
        seen = {n: a["messages"] for n, a in market(st)["stream_ages"].items()}
        check(wait_for(lambda: live_and_flowing(st, m3 | p2, since=seen), 20),
              "stall: every stream delivers again %s" % LAGGING)

        # 5. symbols = all: every TRADING symbol of exchangeInfo (not the one that is not).
        info = st.http("GET", "/fapi/v1/exchangeInfo")["symbols"]
        trading = sorted(x["symbol"] for x in info if x["status"] == "TRADING")
        st.market_symbols = ["all"]
        st.market = ["streams = bookTicker", "silence_timeout = 10s"]
        st.write_config()
        st.daemon.send_signal(signal.SIGHUP)
        want = {"%s@bookTicker" % x.lower() for x in trading}
        check(len(trading) == 6 and len(info) == 7 and
              wait_for(lambda: streams_of(conns(st), "public") == want and
                       streams_of(conns(st), "market") == set(), 15),
              "symbols = all: the %d TRADING symbols' bookTicker subscribed, not the one "
              "that is not, and nothing on /market" % len(trading))
        check(wait_for(lambda: live_and_flowing(st, want), 15) and
              market(st)["info_fetches"] >= 1 and market(st)["info_errors"] == 0,
              "symbols = all: they deliver; exchangeInfo fetched on the reload")
        cs = st.sim_stats()["connections"]
        check(cs["droppedRxLimit"] == 0 and cs["droppedSlow"] == 0,
              "exsim dropped no connection for sending too much or reading too slowly (%s)" % cs)
        st.sanitizer_check()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a harness failure is a failure, with its reason
        check(False, "harness: %r" % e)
    finish()
