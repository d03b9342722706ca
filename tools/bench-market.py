#!/usr/bin/python3
"""tools/bench market: the market-data path against ccxt pro, on one machine.

The same feed from exsim (--symbols N, 200 by default): for every symbol
aggTrade, markPrice@1s, kline_1m, bookTicker and depth@100ms, consumed

  1. by ccxt pro (npm ccxt at CCXT_VERSION, installed by this script with
     `npm install --no-save` into a cache directory): tools/bench-ccxt.cjs,
     ccxt's binanceusdm with its URLs rebased onto exsim, watchTradesForSymbols
     (aggTrade), watchMarkPrices (@1s), watchOHLCVForSymbols (1m),
     watchBidsAsks (bookTicker) and watchOrderBookForSymbols (@100ms, with
     ccxt's REST snapshots), counting what ccxt delivers;
  2. by exfeedd: a throwaway PostgreSQL (tools/pgtmp, fsync on), the embedded Kafka
     broker ([kafka] brokers = embedded), exsim, exfeedd with [market]
     configured for the N symbols and the five kinds; the market worker
     parses and normalizes, keeps the local books, and the writer publishes
     to the websocket.* topics.

Each consumer runs alone against a fresh exsim with the same arguments: a
warm-up (--warmup seconds once every kind delivers), then a measured
window (--seconds).  Frames are exsim's market frames sent over the window
(/sim/stats marketFramesSent: one per subscribed connection); CPU-seconds
are the utime + stime deltas of /proc/PID/stat over the same window, per
process (threads included): node for ccxt; the market worker, the writer
(and, reported apart, the embedded broker, the gateway and the supervisor)
for exfeedd; exsim in both.  Printed: frames/s, events/s reaching Kafka (the
writer's delivered counters of the websocket.* topics), CPU-seconds per
1,000 frames per process, and the ratio ccxt / exfeedd (market worker +
writer).

Options: --symbols N, --seconds S, --warmup S, --only ccxt|exfeedd
(repeatable; they run in the order given, ccxt first by default), --ccxt-version V, --ccxt-dir DIR, --keep (leave the stack's
directory), --json FILE (the results as JSON too).
"""
import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
os.environ.setdefault("top_srcdir", SRC)
os.environ.setdefault("top_builddir", os.path.join(SRC, "_build"))
sys.path.insert(0, os.path.join(SRC, "t", "integration"))
import stack as stk  # noqa: E402
sys.path.insert(0, HERE)
from benchlib import (Lines, ccxt_dir, ccxt_install, cpu_s, loadavg, log,  # noqa: E402
                      machine, node_version)

CCXT_VERSION = "4.5.84"
KINDS = ["aggTrade", "markPrice@1s", "kline", "bookTicker", "depth@100ms"]
# exsim runs the same way for both consumers: one quiet account (its engine
# then makes almost no user events), and a REST weight limit ccxt's 200
# depth snapshots of weight 20 (limit=1000) fit in at once.
EXSIM_ARGS = ["--accounts", "1", "--rate", "1", "--weight-limit", "1000000"]
# The market topics, as in etc/exfeedd.conf (they have no default).
KAFKA_TOPICS = ["topic.kline = websocket.kline", "topic.mark_price = websocket.mark_price",
                "topic.funding = websocket.funding_rate", "topic.ticker = websocket.ticker",
                "topic.trade = websocket.trade", "topic.book = websocket.depth",
                "topic.book_ticker = websocket.ticker", "topic.liquidation = websocket.liquidation"]


def ctxsw(pid):
    """Context switches (voluntary + not) of every thread of a process."""
    n = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if "ctxt_switches:" in line:
                        n += int(line.split()[1])
        except OSError:
            pass
    return n


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def exsim_supports_symbols():
    out = subprocess.run([stk.EXSIM, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    return "--symbols" in out.stdout


def symbols_args(nsym):
    if exsim_supports_symbols():
        return ["--symbols", str(nsym)]
    log("this exsim has no --symbols: its own symbols only")
    return []


def trading_symbols(rest, n):
    info = get_json(rest + "/fapi/v1/exchangeInfo")
    syms = [s["symbol"] for s in info["symbols"] if s.get("status") == "TRADING"]
    return syms[:n]


# ---- ccxt ------------------------------------------------------------------
def start_exsim(args, logf):
    port = stk.free_port()
    p = subprocess.Popen([stk.EXSIM, "--listen", "127.0.0.1:%d" % port] + EXSIM_ARGS +
                         symbols_args(args.symbols),
                         stdout=subprocess.PIPE, stderr=logf, start_new_session=True)
    rest = ws = None
    buf = b""
    deadline = time.time() + 10
    while time.time() < deadline and not (rest and ws):
        r, _, _ = select.select([p.stdout], [], [], 0.5)
        if not r:
            continue
        d = os.read(p.stdout.fileno(), 4096)
        if not d:
            break
        buf += d
        for line in buf.decode().splitlines():
            if line.startswith("REST "):
                rest = line.split()[1]
            elif line.startswith("WS "):
                ws = line.split()[1]
    if not (rest and ws):
        p.kill()
        raise RuntimeError("exsim did not print its URLs")
    return p, rest, ws


def stop(p, timeout=10):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def frames(st):
    return st.get("marketFramesSent", sum(st["marketEventsSent"].values()))


def run_ccxt(args):
    d = ccxt_dir(args.ccxt_version, args.ccxt_dir)
    ccxt_install(d, args.ccxt_version)
    logf = open(os.path.join(args.tmp, "exsim-ccxt.log"), "w")
    ex, rest, ws = start_exsim(args, logf)
    node = lines = None
    try:
        syms = trading_symbols(rest, args.symbols)
        node = subprocess.Popen(["node", os.path.join(HERE, "bench-ccxt.cjs"), "--ccxt-dir", d,
                                 "--rest", rest, "--ws", ws, "--symbols", str(len(syms))],
                                stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        lines = Lines(node)
        lines.start()

        def all_kinds():
            c = lines.last
            if node.poll() is not None:
                raise RuntimeError("bench-ccxt exited %d" % node.returncode)
            return c and c["trades"] and c["candles"] and c["markPrices"] and c["bidsAsks"] \
                and c["booksSynced"] >= len(syms)
        t0 = time.time()
        if not stk.wait_for(all_kinds, 180, every=0.5):
            raise RuntimeError("ccxt does not deliver every kind after 180 s: %s" % lines.last)
        log("ccxt: every kind delivered, %d books synced, after %.1f s; warm-up %d s" %
            (lines.last["booksSynced"], time.time() - t0, args.warmup))
        time.sleep(args.warmup)
        r = measure(args, {"node (ccxt)": node.pid}, ex.pid, rest, lines.now)
        r["symbols"] = len(syms)
        c0, c1 = r.pop("extra0"), r.pop("extra1")
        r["ccxt"] = {k: c1[k] - c0[k] for k in ("trades", "candles", "markPrices", "bidsAsks",
                                                "bookUpdates", "errors")}
        r["ccxt"]["frames_handled"] = {k: c1["frames"].get(k, 0) - c0["frames"].get(k, 0)
                                       for k in c1["frames"] if k != "reply"}
        r["ccxt"]["booksSynced"], r["ccxt"]["crossedBooks"] = c1["booksSynced"], c1["crossedBooks"]
        r["exsim_rest"] = get_json(rest + "/sim/stats")["rest"]
        return r
    finally:
        stop(node)
        stop(ex)
        logf.close()


def measure(args, pids, exsim_pid, rest, extra=None):
    """CPU of pids and exsim, and exsim's frames, over --seconds."""
    pids = dict(pids)
    pids["exsim"] = exsim_pid
    la0 = loadavg()
    s0, e0 = get_json(rest + "/sim/stats"), extra() if extra else None
    c0 = {k: cpu_s(p) for k, p in pids.items()}
    x0 = {k: ctxsw(p) for k, p in pids.items()}
    t0 = time.time()
    time.sleep(args.seconds)
    s1 = get_json(rest + "/sim/stats")
    e1 = extra() if extra else None
    c1 = {k: cpu_s(p) for k, p in pids.items()}
    x1 = {k: ctxsw(p) for k, p in pids.items()}
    t1 = time.time()
    n = frames(s1) - frames(s0)
    by = {k: s1["marketEventsSent"][k] - s0["marketEventsSent"][k]
          for k in s1["marketEventsSent"] if s1["marketEventsSent"][k] != s0["marketEventsSent"][k]}
    cpu = {k: c1[k] - c0[k] for k in pids}
    return {"seconds": t1 - t0, "frames": n, "frames_per_s": n / (t1 - t0), "frames_by_kind": by,
            "bytes": s1.get("marketBytesSent", 0) - s0.get("marketBytesSent", 0),
            "ctxsw_per_1000_frames": {k: 1000 * (x1[k] - x0[k]) / n if n else None
                                      for k in pids},
            "cpu_s": cpu, "cpu_s_per_1000_frames": {k: 1000 * v / n if n else None
                                                   for k, v in cpu.items()},
            "dropped_slow": s1["connections"]["droppedSlow"] - s0["connections"]["droppedSlow"],
            "load": "%s -> %s" % (la0, loadavg()), "extra0": e0, "extra1": e1}


# ---- exfeedd ---------------------------------------------------------------
class MarketStack(stk.Stack):
    """A Stack whose [market] symbols line is split over continuation lines
    (a config line holds at most 198 characters; 200 symbols take 2,400)."""

    def write_config(self):
        super().write_config()
        with open(self.conf) as f:
            lines = f.read().split("\n")
        for i, line in enumerate(lines):
            if line.startswith("symbols = "):
                syms = line[len("symbols = "):].split(", ")
                rows = [", ".join(syms[j:j + 8]) for j in range(0, len(syms), 8)]
                lines[i] = "symbols = " + ",\n\t".join(rows)
                break
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))


def writer_market(st, mk=None):
    """The market counters: the writer's received by event type and klines
    upserted, and the websocket.* topics' published, delivered, failed and
    queue_full: the market worker's producer (every market event but a
    closed candle) plus the writer's (closed candles, once committed)."""
    w = st.writer_status() or {}
    m = w.get("market", {})
    ks = [m.get("kafka", {}), (mk or {}).get("kafka", {})]
    out = {"received": dict(m.get("received", {})),
           "klines_upserted": m.get("klines_upserted", 0)}
    for f in ("published", "delivered", "failed", "queue_full"):
        out[f] = {}
        for k in ks:
            for t, v in k.get(f, {}).items():
                out[f][t] = out[f].get(t, 0) + v
    return out


def delta(a, b):
    if isinstance(b, dict):
        return {k: delta(a.get(k, 0), v) for k, v in b.items()}
    return b - a


def run_exfeedd(args):
    # exsim's symbols are needed before the config is written: ask a
    # first exsim with the same arguments (its symbol list is a function
    # of --symbols and the seed alone)
    logf = open(os.path.join(args.tmp, "exsim-probe.log"), "w")
    ex, rest, _ = start_exsim(args, logf)
    try:
        syms = trading_symbols(rest, args.symbols)
    finally:
        stop(ex)
        logf.close()
    st = MarketStack(market=["streams = " + ", ".join(KINDS), "intervals = 1m"],
                     kafka=KAFKA_TOPICS + args.kafka,
                     accounts=1, rate=1, shards=1, log_level="info", weight_limit=1000000,
                     budget=50000, market_symbols=syms, keep=args.keep, fast_pg=False,
                     exsim_args=symbols_args(args.symbols))  # the rest as EXSIM_ARGS
    try:
        st.prepare()
        st.start_daemon()
        log("exfeedd up in %s" % st.dir)

        def market():
            m = [x for x in st.status()["workers"] if x["role"] == "market"]
            return m[0].get("detail", {}).get("role", {}) if m else {}

        def books(m):
            v = m.get("books", {}).values()
            return {"synced": sum(1 for b in v if b.get("synced")),
                    "resyncs": sum(b.get("resyncs", 0) for b in v),
                    "snapshots": sum(b.get("snapshots", 0) for b in v),
                    "crossed": sum(b.get("crossed", 0) for b in v)}

        # Warm: every kind reached Kafka, every book is synced, and the
        # start's closed-candle backfill (kline_history per pair) is done.
        def warm():
            m = market()
            w = writer_market(st, m)
            k = m.get("kline", {})
            return sum(1 for v in w["delivered"].values() if v) >= 5 and \
                books(m)["synced"] >= len(syms) and not k.get("holes_open", 1) and \
                not k.get("inflight", 1)
        t0 = time.time()
        if not stk.wait_for(warm, 300, every=1):
            m = market()
            raise RuntimeError("exfeedd not warm after 300 s: Kafka %s, books %s, kline %s; "
                               "log: %s" % (writer_market(st, m)["delivered"], books(m),
                                            {k: v for k, v in m.get("kline", {}).items()
                                             if not isinstance(v, dict)}, st.log_tail()))
        log("exfeedd: every kind reaches Kafka, %d books synced, candles backfilled after %.1f s;"
            " warm-up %d s" % (len(syms), time.time() - t0, args.warmup))
        time.sleep(args.warmup)
        pids = {"market worker": st.worker_pid("market"), "writer": st.worker_pid("writer")}
        for role in ("broker", "gateway"):
            if st.worker_pid(role):
                pids[role + " (apart)"] = st.worker_pid(role)
        pids["supervisor (apart)"] = st.daemon.pid

        def extra():
            m = market()
            flat = {k: v for k, v in m.items() if isinstance(v, int) and not isinstance(v, bool)}
            flat.update({"book_" + k: v for k, v in books(m).items()})
            flat.update({"kline_" + k: v for k, v in m.get("kline", {}).items()
                         if isinstance(v, int) and not isinstance(v, bool)})
            return {"writer": writer_market(st, m), "market": flat}
        r = measure(args, pids, st.exsim.pid, st.rest, extra)
        r["symbols"] = len(syms)
        e0, e1 = r.pop("extra0"), r.pop("extra1")
        r["writer"] = delta(e0["writer"], e1["writer"])
        r["kafka_delivered"] = sum(r["writer"]["delivered"].values())
        r["kafka_delivered_per_s"] = r["kafka_delivered"] / r["seconds"]
        m0, m1 = e0["market"], e1["market"]
        r["market"] = {k: m1[k] - m0.get(k, 0) for k in m1 if isinstance(m1[k], int)
                       and not isinstance(m1[k], bool)}
        for k in ("connections_open", "book_synced"):
            r["market"][k] = m1.get(k)
        r["pids_same"] = all(st.worker_pid(k.split()[0]) == p for k, p in pids.items()
                             if k in ("market worker", "writer"))
        return r
    finally:
        st.stop()


# ---- report ----------------------------------------------------------------
def show(name, r):
    print("%s: %d symbols, %.0f s window, %d market frames sent by exsim (%.0f/s, %.0f B avg), "
          "load %s" % (name, r["symbols"], r["seconds"], r["frames"], r["frames_per_s"],
                       r["bytes"] / r["frames"] if r["frames"] else 0, r["load"]))
    print("  frames by kind: %s" % ", ".join("%s %d" % kv for kv in sorted(r["frames_by_kind"].items())))
    for k in r["cpu_s"]:
        v = r["cpu_s_per_1000_frames"][k]
        print("  %-22s %7.2f CPU-s  %.4f CPU-s per 1,000 frames, %4.0f context switches per "
              "1,000 frames" % (k, r["cpu_s"][k], v if v is not None else 0,
                                r["ctxsw_per_1000_frames"][k] or 0))
    if r["dropped_slow"]:
        print("  exsim dropped %d slow connections in the window" % r["dropped_slow"])


def main():
    p = argparse.ArgumentParser(prog="tools/bench market")
    p.add_argument("--symbols", type=int, default=200)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--only", action="append", choices=["ccxt", "exfeedd"], default=[])
    p.add_argument("--ccxt-version", default=CCXT_VERSION)
    p.add_argument("--ccxt-dir")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--kafka", action="append", default=[], metavar="LINE",
                   help="a [kafka] line for exfeedd (e.g. 'compression = none'); repeatable")
    p.add_argument("--json")
    args = p.parse_args()
    only = args.only or ["ccxt", "exfeedd"]
    # exsim's logs (the stack keeps its own directory)
    args.tmp = tempfile.mkdtemp(prefix="exfeedd-bench-market.")
    res = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "node": node_version() if "ccxt" in only else None}
    print("machine: %s; %s" % (res["machine"], res["date"]))
    # in the order asked: --only exfeedd --only ccxt runs exfeedd first
    for what in only:
        if what == "ccxt":
            r = res["ccxt"] = run_ccxt(args)
            show("ccxt pro %s (node %s)" % (args.ccxt_version, res["node"]), r)
            c = r["ccxt"]
            print("  ccxt delivered: %d trades, %d candle updates, %d mark prices, %d bid/ask "
                  "updates, %d order book updates; %d books synced, %d crossed; %d errors" %
                  (c["trades"], c["candles"], c["markPrices"], c["bidsAsks"], c["bookUpdates"],
                   c["booksSynced"], c["crossedBooks"], c["errors"]))
            print("  frames ccxt's handler took: %s" %
                  ", ".join("%s %d" % kv for kv in sorted(c["frames_handled"].items())))
            print("  exsim REST: %d requests, weight %d, %d x 429, %d x 418" %
                  (r["exsim_rest"]["requests"], r["exsim_rest"]["weightUsed"],
                   r["exsim_rest"]["http429"], r["exsim_rest"]["http418"]))
        if what == "exfeedd":
            r = res["exfeedd"] = run_exfeedd(args)
            show("exfeedd", r)
            w = r["writer"]
            print("  events to Kafka (websocket.* topics): %d delivered (%.0f/s): %s; published %d, "
                  "failed %d, queue full %d" %
                  (r["kafka_delivered"], r["kafka_delivered_per_s"],
                   ", ".join("%s %d" % kv for kv in sorted(w["delivered"].items()) if kv[1]),
                   sum(w["published"].values()), sum(w["failed"].values()),
                   sum(w["queue_full"].values())))
            print("  writer received: %s; klines upserted %d" %
                  (", ".join("%s %d" % kv for kv in sorted(w["received"].items()) if kv[1]),
                   w["klines_upserted"]))
            m = r["market"]
            print("  market worker: %s" % ", ".join("%s %d" % (k, m[k]) for k in sorted(m)
                                                     if m[k]))
    if "ccxt" in res and "exfeedd" in res:
        a = res["ccxt"]["cpu_s_per_1000_frames"]["node (ccxt)"]
        e = res["exfeedd"]["cpu_s_per_1000_frames"]
        b = (e["market worker"] or 0) + (e["writer"] or 0)
        ball = sum(v or 0 for k, v in e.items() if k != "exsim")
        res["ratio"] = a / b if b else None
        print("ratio: ccxt %.4f / exfeedd (market worker + writer) %.4f CPU-s per 1,000 frames "
              "= %.1fx (target >= 5x: %s); with the broker, gateway and supervisor %.4f: %.1fx" %
              (a, b, a / b if b else float("inf"), "met" if b and a / b >= 5 else "NOT met",
               ball, a / ball if ball else float("inf")))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if args.keep:
        log("exsim logs in %s" % args.tmp)
    else:
        shutil.rmtree(args.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
