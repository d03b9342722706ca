#!/usr/bin/python3
"""tools/bench peer: the user-data path against ccxt pro, on one machine.

The same exsim work (exsim --accounts N --rate R --seed 1 --weight-limit
1000000, as t/integration/stack.py starts it), consumed two ways, each
against a fresh exsim with those arguments, at each rate of --rates:

  1. exfeedd: tools/bench userdata's measure_cpu (the same code as its
     --only cpu phase): the whole stack as its latency phase runs it
     (PostgreSQL with fsync and synchronous_commit on, the WAL warmed,
     Kafka's embedded broker, 2 account shards), exsim paused until every
     account streams and its first resync is done, then resumed; after
     --warmup seconds a window of --seconds:
     utime + stime of every process of the daemon (supervisor, workers,
     embedded broker) and of every process of the PostgreSQL cluster
     (postmaster, backends, walwriter, checkpointer, ...), VmRSS and Pss
     summed over each;
  2. ccxt pro (npm ccxt at CCXT_VERSION, installed with `npm install
     --no-save` into a cache directory, tools/benchlib.py):
     tools/bench-ccxt-user.cjs, one binanceusdm instance per account with
     its API key and secret, URLs rebased onto exsim, watchOrders,
     watchMyTrades, watchBalance and watchPositions per account in loops;
     exsim paused until every account's user-data connection is open, then
     resumed; --warmup seconds,
     then the window: utime + stime of the node process (its threads
     included), its VmRSS and Pss, and what ccxt handed back.

Events: exsim's user events sent over the window (one per frame on a user
data stream; /sim/stats eventsSent), the unit both consumers see; the
frames exfeedd's account workers received and ccxt's handlers took, and
the events exfeedd's writer committed (a frame is one event per order,
balance and position it carries) are printed beside it.  exsim's achieved
rate is printed for each run; a run below 90% of the rate asked says so.
A ccxt run whose handlers took under half the frames sent, or that handed
back nothing, fails.

--flush LIST ([database] flush_interval values in ms, e.g. 0,2,20,100,500):
exfeedd is measured in one window per value on the same stack (each set by
HUP, 5 s to settle), and a second table gives, per value, the events per
transaction, the writer's event->commit p50/p99, the CPU of the writer,
the account workers, all of exfeedd, PostgreSQL, both, and the ratio to
ccxt's figure of the same run: the trade-off between batching and CPU as
one command.  The first table shows the first value's window.

Options: --accounts N (1000), --rates LIST (1000,10000), --seconds S (60),
--warmup S (20), --only exfeedd|ccxt (repeatable), --ccxt-version V,
--ccxt-dir DIR, --flush LIST, --kafka LINE (a line for exfeedd's [kafka],
repeatable: 'linger = 20ms'; 'brokers =' is Kafka off), --json FILE.
"""
import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
_spec = importlib.util.spec_from_file_location("bench_userdata",
                                               os.path.join(HERE, "bench-userdata.py"))
bu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bu)
stk = bu.stk
import benchlib  # noqa: E402
from benchlib import log  # noqa: E402

CCXT_VERSION = "4.5.84"


def run_ccxt(a, rate):
    """ccxt pro on a fresh exsim (the stack's arguments), one window."""
    d = benchlib.ccxt_dir(a.ccxt_version, a.ccxt_dir)
    benchlib.ccxt_install(d, a.ccxt_version)
    # exsim alone, started as the stack starts it (same seed, weight limit),
    # paused until every account's connection is open: the start-up's
    # listen-key POSTs and connections are not held up behind a backlog
    # (at 10,000 events/s they were: node, busy, timed out its own POSTs)
    st = stk.Stack(accounts=a.accounts, rate=rate, weight_limit=1000000,
                   exsim_args=["--paused"])
    node = None
    try:
        st.start_exsim()
        accts = os.path.join(st.dir, "accounts.json")
        fd = os.open(accts, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(st.http("GET", "/sim/accounts"), f)
        node = subprocess.Popen(["node", os.path.join(HERE, "bench-ccxt-user.cjs"),
                                 "--ccxt-dir", d, "--rest", st.rest, "--ws", st.ws,
                                 "--accounts", accts],
                                stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        lines = benchlib.Lines(node)
        lines.start()

        def connected():
            if node.poll() is not None:
                raise RuntimeError("bench-ccxt-user exited %d" % node.returncode)
            return lines.last and lines.last["connected"] >= a.accounts
        t0 = time.time()
        if not stk.wait_for(connected, 120 + a.accounts // 2, every=0.5):
            raise RuntimeError("ccxt: only %s of %d user-data connections open" %
                               (lines.last and lines.last["connected"], a.accounts))
        st.fault("resume")
        log("ccxt: %d user-data connections open after %.1f s; exsim resumed; warm-up %d s" %
            (a.accounts, time.time() - t0, a.warmup))
        time.sleep(a.warmup)
        trees = {"node": benchlib.TreeCPU(node.pid), "exsim": benchlib.TreeCPU(st.exsim.pid)}
        la0 = benchlib.loadavg()
        secs, cpu, ctr = bu.cpu_window(a.seconds, trees,
                                       {"exsim": lambda: bu.user_events(st.sim_stats()),
                                        # at 10,000 events/s node's loop answers
                                        # SIGUSR2 seconds late
                                        "ccxt": lambda: lines.now(60)})
        (e0, e1), (c0, c1) = ctr["exsim"], ctr["ccxt"]
        r = {"rate": rate, "accounts": a.accounts, "seconds": secs, "events": e1 - e0,
             "events_per_s": (e1 - e0) / secs, "cpu": cpu, "mem": {"node": trees["node"].mem()},
             "frames": sum(c1["frames"].values()) - sum(c0["frames"].values()),
             "ccxt_version": a.ccxt_version, "node": benchlib.node_version(),
             "load": "%s -> %s" % (la0, benchlib.loadavg())}
        for k in ("orders", "myTrades", "balances", "positions", "errors"):
            r[k] = c1[k] - c0[k]
        s1 = st.sim_stats()
        r["rest"], r["queued_mb"] = s1["rest"], s1["bytesQueued"] / 1e6
        r["dropped_slow"] = s1["connections"]["droppedSlow"]
        log("ccxt at exsim --rate %d, %d accounts: %d user events sent in %.0f s (%.0f/s), "
            "%d frames taken; handed back %d orders, %d trades, %d balances, %d positions; "
            "%d errors; CPU-s %s; MB (VmRSS, Pss) %s; exsim REST %d requests, weight %d, "
            "%d x 429; load %s" %
            (rate, a.accounts, r["events"], secs, r["events_per_s"], r["frames"], r["orders"],
             r["myTrades"], r["balances"], r["positions"], r["errors"],
             {k: round(v, 2) for k, v in cpu.items()}, r["mem"], r["rest"]["requests"],
             r["rest"]["weightUsed"], r["rest"]["http429"], r["load"]))
        handed = r["orders"] + r["myTrades"] + r["balances"] + r["positions"]
        if r["events"] and (r["frames"] < 0.01 * r["events"] or handed < 0.01 * r["events"]):
            raise RuntimeError("ccxt consumed almost nothing: %d frames taken and %d items "
                               "handed back for %d user events sent" %
                               (r["frames"], handed, r["events"]))
        return r
    finally:
        if node and node.poll() is None:
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(10)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
        st.stop()


def main():
    # Stopped like ^C, so that every stack started is stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    p = argparse.ArgumentParser(prog="tools/bench peer")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--rates", default="1000,10000")
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--only", action="append", choices=["exfeedd", "ccxt"], default=[])
    p.add_argument("--ccxt-version", default=CCXT_VERSION)
    p.add_argument("--ccxt-dir")
    p.add_argument("--flush", help="[database] flush_interval values (ms, comma-separated): "
                   "exfeedd measured in one window per value on one stack")
    p.add_argument("--kafka", action="append", default=[],
                   help="a line for exfeedd's [kafka] (e.g. 'linger = 20ms', 'brokers =' for "
                   "Kafka off); repeatable")
    p.add_argument("--json")
    a = p.parse_args()
    bu.KAFKA_LINES.extend(a.kafka)
    a.rates = [int(x) for x in a.rates.split(",") if x != ""]
    try:
        a.flush = [int(x) for x in a.flush.split(",") if x != ""] if a.flush else None
    except ValueError:
        p.error("--flush: a comma-separated list of milliseconds, e.g. 0,2,20")
    if a.flush and not all(0 <= x <= 10000 for x in a.flush):
        # a reload the daemon refuses keeps the old value: the window would
        # be measured under a flush_interval other than the one printed
        p.error("--flush: each value 0 to 10000 (ms), as [database] flush_interval takes")
    only = a.only or ["exfeedd", "ccxt"]
    cmd = "tools/bench peer " + " ".join(sys.argv[1:])
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    exf, ccxt, failed, curve = [], [], [], []
    for rate in a.rates:
        for what in only:
            # one level's failure is reported with the others' results
            try:
                if what == "exfeedd":
                    # the first table shows the first window; the curve all
                    wins = bu.measure_cpu(a, rate, a.accounts, a.flush or (None,))
                    exf.append(wins[0])
                    if a.flush:
                        curve += wins
                else:
                    ccxt.append(run_ccxt(a, rate))
            except RuntimeError as e:
                log("%s at exsim --rate %d failed: %s" % (what, rate, e))
                failed.append("%s at exsim --rate %d: %s" % (what, rate, str(e)[:300]))
    print("## tools/bench peer")
    print()
    print("command: `%s`  " % cmd)
    print("date: %s  " % date)
    print("machine: %s; load average (1, 5, 15 min) at each window's edges below  " %
          benchlib.machine())
    print("exfeedd: PostgreSQL 15 (tools/pgtmp) with fsync = on, synchronous_commit = on, "
          "shared_buffers 1GB; [database] %s; [kafka] brokers = embedded (json; the "
          "embedded broker is one of exfeedd's processes)%s; 2 account shards, 200 accounts "
          "per connection  " % (", ".join(bu.DB_CONF),
                                "".join(", " + x for x in bu.KAFKA_LINES)))
    print("events: exsim's user events sent in the window (one per user-data frame), the same "
          "unit for both; %d s window after %d s of warm-up" % (a.seconds, a.warmup))
    if a.flush:
        print("(the table below: the window at flush_interval = %d ms; the next, every "
              "window)" % a.flush[0])
    bu.cpu_table(exf, ccxt)
    if curve:
        bu.flush_table(curve, ccxt)
    for f in failed:
        print()
        print("**FAILED**: " + f)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"command": cmd, "date": date, "exfeedd": exf, "ccxt": ccxt, "curve": curve,
                       "failed": failed}, f, indent=1)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
