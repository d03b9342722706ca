#!/usr/bin/python3
"""tools/bench userdata: the user-data path, measured on the whole stack.

Starts what t/integration/stack.py starts (a throwaway PostgreSQL cluster
with fsync and synchronous_commit ON, exsim, keygen, migrate, the accounts,
exfeedd) and measures:

  1. committed events/s at max offered load: exsim --accounts 1000 at a rate
     above what the path can take, through account workers, the writer and
     PostgreSQL; events/s is the writer's events_committed over the window.
     Also the writer alone at max load (tools/dpsend blasting the data plane
     of the same daemon, exsim paused), and, in the same script, the naive
     writer (dpsend --naive: the same rows per event, one transaction per
     event, no batching) and the database's ceiling for the same rows
     (dpsend --ceiling: COPY into staging tables and the writer's upserts
     from them, 500 and 5,000 events a transaction) against the same
     database;
  2. event->commit latency at 5,000 events/s offered: exsim over 1000
     accounts at the --exsim-rate that offers about that, once every
     account's first REST resync is done (it comes in per-minute bursts of
     the weight budget, twice the steady rate); p50/p99/p999 of the writer's
     histogram (from the account worker's receipt of the frame to the
     COMMIT's result) over the window and once a second, with CPU idle and
     steal, checkpoints and WAL written; then dpsend -R 5000 into the same
     daemon, the same histogram and event->ack at the sender.  The cluster's
     WAL is written once first (warm_wal), as on a server that has run a while;
  2b. Kafka's cost: the writer alone with publishing off and on (embedded
     broker) in one run, and the commit→ack latency of the relay;
  2c. cpu: CPU-seconds per 1,000 user events of exfeedd's processes and of
     PostgreSQL's, apart and together, with exsim --accounts 1000 at
     --rate 1000 and 10000 (--cpu-rates, --cpu-accounts): measure_cpu, the
     same code that tools/bench peer runs against ccxt pro;
  3. RSS (VmRSS of the supervisor and every worker, from /proc) with 0, 1000
     and 10000 accounts streaming, at a low rate, per account and per process;
  4. resync: the REST weight and requests a resync costs per account, for
     the first resync of an empty database, for a quiet gap (connections
     stalled and dropped, nothing happened meanwhile) and for an active one
     (activity in every symbol of exsim while stalled), with [market]
     symbols set to one symbol: the cost must follow what happened, not the
     symbols configured;
  5. heal: 1,000 accounts at the default budget (rest_weight_budget 1800)
     against exsim's real limit (2,400 per minute), with activity running:
     the time until every account's balances, positions and open orders are
     healed, and until everything is (no unhealed gap), first from an
     empty database at start, then after a full drop (every connection
     stalled for --heal-outage seconds, then dropped).  With
     --heal-quiet-start, exsim starts paused (no history yet, so the first
     start heals in minutes, not the hour 7 days of history take at this
     budget) and runs --heal-warmup seconds before the outage: the drop is
     then measured alone.

Options: --quick (short windows, RSS at 0 and 1000 only, heal over 200
accounts), --seconds N, --latency-seconds N, --rss LIST (account counts),
--skip PHASE (throughput, kafka, latency, cpu, rss, resync, heal; repeatable),
--only PHASE (repeatable), --heal-accounts N, --heal-rate N (exsim
events/s), --heal-outage S, --heal-quiet-start, --heal-warmup S,
--heal-timeout S, --resync-accounts N, --cpu-rates LIST (exsim --rate
values), --cpu-accounts N, --kafka LINE (a line for [kafka] of every
stack started, repeatable: 'brokers =' turns Kafka off, 'linger = 50ms';
the kafka phase sets its own brokers).
"""
import argparse
import concurrent.futures
import json
import os
import platform
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
os.environ.setdefault("top_srcdir", SRC)
# A PostgreSQL sized like a server rather than initdb's 128 MB default: with
# 128 MB the backends write dirty buffers out themselves and stall batches.
# min_wal_size keeps the WAL segments that warm_wal() writes for recycling
# (see there); max_wal_size keeps checkpoints on their timer, not on volume.
os.environ.setdefault("PGTMP_CONF", "shared_buffers = 1GB\nwal_buffers = 64MB\n"
                      "min_wal_size = 2GB\nmax_wal_size = 4GB")
os.environ.setdefault("top_builddir", os.path.join(SRC, "_build"))
sys.path.insert(0, os.path.join(SRC, "t", "integration"))
import stack as stk  # noqa: E402
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import cpu_share, cpu_times, postmaster_pid, quantiles  # noqa: E402

DPSEND = os.path.join(os.environ["top_builddir"], "tools", "dpsend")
# The defaults, said: a batch is whatever is queued when the database is free
# (group commit forms while one is in flight); only a batch that began with the
# database idle waits up to flush_interval for more (a trickle), unless events
# come further apart than that.  (Before 8dcf7e3 every batch waited
# flush_interval, and 0ms halved p50 at 5,000 events/s against 2ms.)
DB_CONF = ["batch_size = 500", "flush_interval = 2ms"]


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


class BenchStack(stk.Stack):
    """A Stack that adds its accounts a few at a time (10000 one by one is slow)."""
    add_accounts = benchlib.add_accounts


KAFKA_LINES = []     # --kafka: lines added to [kafka] of every stack a phase starts


def start(accounts, rate, shards, per_conn=200, paused=False, resynced=False, kafka=()):
    kafka = list(KAFKA_LINES) + list(kafka)
    st = BenchStack(accounts=accounts, rate=rate, shards=shards, log_level="info",
                    database=DB_CONF, fast_pg=False, budget=50000, weight_limit=1000000,
                    kafka=kafka,
                    exsim_args=["--paused"] if paused else [],
                    userdata=["accounts_per_connection = %d" % per_conn,
                              "silence_timeout = 60s", "health_check_interval = 5s"])
    t0 = time.time()
    try:
        st.prepare()
        fs = st.sql("SHOW fsync")[0][0], st.sql("SHOW synchronous_commit")[0][0]
        if fs != ("on", "on"):
            raise RuntimeError("PostgreSQL must run with fsync and synchronous_commit on: %s" %
                               (fs,))
        st.sql("ANALYZE")
        warm_wal(st)
        st.start_daemon()
        if accounts and not st.wait_streaming(accounts, timeout=120 + accounts // 50):
            n = sum(1 for r in st.account_rows() if r.get("state") == "streaming")
            raise RuntimeError("only %d of %d accounts streaming; log: %s" %
                               (n, accounts, st.log_tail()))
        # Every account's first resync (its REST snapshot: balances, positions,
        # open orders, orders and fills) comes in bursts, as the weight budget
        # of each minute allows; a window must not begin until they are done.
        if resynced and not stk.wait_for(
                lambda: all(r.get("resync") == "done" for r in st.account_rows()),
                timeout=600, every=2):
            n = sum(1 for r in st.account_rows() if r.get("resync") == "done")
            raise RuntimeError("only %d of %d accounts resynced" % (n, accounts))
    except BaseException:
        st.stop()
        raise
    log("%d accounts streaming, %d shards, %.0f s to set up" % (accounts, shards, time.time() - t0))
    return st


def warm_wal(st, mb=1500):
    """Leave the cluster with recycled WAL segments, as a server that has run a while.

    A fresh cluster has none: each new 16 MB segment is created and zero-filled
    in the commit path of whichever backend crosses into it, every ~3 s at the
    ~5 MB/s of WAL that 5,000 events/s make, and each one stalled the writer's
    batches for 40-60 ms (measured: with wal_init_zero = off the periodic
    stalls went away).  Writing mb MB of WAL and checkpointing leaves that much
    in recycled segments (min_wal_size keeps them), which lasts every phase.
    """
    t0 = time.time()
    rows = mb * 1024 * 1024 // 450
    st.sql("CREATE TABLE bench_warm_wal AS SELECT g, repeat('x', 400) AS x "
           "FROM generate_series(1, %d) g" % rows)
    st.sql("DROP TABLE bench_warm_wal")
    st.sql("CHECKPOINT")
    n = len(os.listdir(os.path.join(st.dir, "pg", "data", "pg_wal")))
    log("WAL warmed in %.1f s: %d files in pg_wal" % (time.time() - t0, n))


def writer(st):
    for w in st.status()["workers"]:
        if w["role"] == "writer":
            return w["detail"]["role"]
    raise RuntimeError("no writer")


def drain(st, timeout=300):
    """Pause exsim and wait until the account workers' backlog is committed."""
    st.fault("pause")
    last, t0 = -1, time.time()
    while time.time() - t0 < timeout:
        w = writer(st)
        if w["events_committed"] == last and w["pending"] == 0:
            return
        last = w["events_committed"]
        time.sleep(2)
    log("backlog not drained after %d s" % timeout)


def max_ids(st):
    return max(st.accounts)


def dpsend(args):
    out = subprocess.run([DPSEND] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError("dpsend %s: %s %s" % (" ".join(args), out.stdout, out.stderr))
    words = out.stdout.split()
    return {words[i]: float(words[i + 1]) for i in range(len(words) - 1)
            if not words[i].replace(".", "").isdigit() and words[i + 1].replace(".", "").isdigit()}


def phase_throughput(a, res):
    # exsim paused until every account streams and its first resync is done:
    # at the max offered load from the start, 1,000 accounts did not all
    # connect within start()'s deadline (778 at 01:31 UTC, 2026-12-02).
    st = start(1000, a.max_rate, shards=2, paused=True, resynced=True)
    try:
        st.fault("resume")
        time.sleep(a.warmup)
        w0, t0 = writer(st)["events_committed"], time.time()
        time.sleep(a.seconds)
        w1, t1 = writer(st)["events_committed"], time.time()
        wd = writer(st)
        res["path_eps"] = (w1 - w0) / (t1 - t0)
        res["path_pending"] = wd["pending"]
        res["path_batch"] = wd["rows_per_batch"]
        stats = st.sim_stats()
        log("path: %.0f events/s committed; writer pending %d; exsim stats %s" %
            (res["path_eps"], wd["pending"], json.dumps(stats)[:300]))
        # The writer alone: exsim paused, dpsend blasting the data plane.
        drain(st)
        n = int(a.blast_events)
        r = dpsend(["-s", os.path.join(st.run, "writer.sock"), "-g", str(n), "-k",
                    str(max_ids(st)), "-w", "20000", "-b", "256", "-S", "11", "-t", "300"])
        res["blast_eps"] = r["events_per_s"]
        log("writer alone: %s" % r)
        st.stop_daemon()
        st.exsim.terminate()
        # The naive writer on the same database, the daemon stopped.
        r = dpsend(["--naive", st.conninfo, "-g", str(int(a.naive_events)), "-k",
                    str(max_ids(st)), "-S", "12"])
        res["naive_eps"] = r["events_per_s"]
        log("naive: %s" % r)
        # The database's ceiling for the same rows, on the same cluster: COPY
        # into staging tables and the writer's upserts from them, the COPY
        # text made before the clock starts (dpsend --ceiling).
        res["ceiling"] = []
        for b in (500, 5000):
            r = dpsend(["--ceiling", st.conninfo, "-g", str(int(a.ceiling_events)), "-k",
                        str(max_ids(st)), "-S", str(13 + b), "-b", str(b)])
            res["ceiling"].append((b, r["events_per_s"], r["rows_per_s"]))
            log("ceiling, batch %d: %s" % (b, r))
    finally:
        st.stop()


def pg_counters(st):
    """Checkpoints so far and WAL bytes written, for what a window had to share the disk with."""
    r = st.sql("SELECT (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter), "
               "(SELECT wal_bytes FROM pg_stat_wal)")[0]
    return int(r[0]), int(float(r[1]))


def writer_backend_pid(st):
    """The pid of the writer's PostgreSQL backend (its application_name)."""
    return int(st.sql("SELECT pid FROM pg_stat_activity "
                      "WHERE application_name = 'exfeedd writer'")[0][0])


def set_flush(st, ms):
    """[database] DB_CONF with flush_interval = ms, by a rewritten file and
    HUP; 5 s to settle."""
    st.database = [x for x in DB_CONF if not x.startswith("flush_interval")] + \
        ["flush_interval = %dms" % ms]
    st.write_config()
    os.kill(st.daemon.pid, signal.SIGHUP)
    time.sleep(5)


def sample(st, seconds, until=None):
    """The writer's latency histogram over a window, and once a second within it.

    One sample a second tells a steady tail from a few bad seconds, and those
    from the offered load (exsim's activity is random: a busy second can
    carry twice the mean) or from the hypervisor (steal).  With until, the
    window ends when until() is true instead (a sender that has finished).
    """
    # The writer's and its backend's waits for a CPU (runnable, not running)
    # beside their CPU: on 2 cores shared with exsim, the account workers,
    # the broker and PostgreSQL, whether a tail goes with such waits (at
    # 5,000 events/s on 2026-12-02 it did not follow them: BENCHMARKS.md).
    pids = {"writer": st.worker_pid("writer", 0), "backend": writer_backend_pid(st)}

    def waits():
        out = {}
        for k, p in pids.items():
            try:
                out[k] = benchlib.run_queue(p) + (benchlib.cpu_s(p),)
            except OSError:     # it ended (a reconnect): no figure for this window
                out[k] = (float("nan"),) * 3
        return out
    r0 = waits()
    w0, c0, g0, t0 = writer(st), cpu_times(), pg_counters(st), time.time()
    secs, prev, pc, i = [], w0, c0, 0
    while (until is None and i < seconds) or (until is not None and not until()):
        i += 1
        time.sleep(max(0.0, t0 + i - time.time()))
        cur, cc = writer(st), cpu_times()
        d = [b - a for a, b in zip(prev["latency_us"]["counts"], cur["latency_us"]["counts"])]
        n1, q1 = quantiles(cur["latency_us"]["bounds"], [0] * len(d), d)
        secs.append((n1, q1[1], cpu_share(pc, cc), d))
        prev, pc = cur, cc
    w1, g1, t1 = prev, pg_counters(st), time.time()
    r1 = waits()
    bounds = w1["latency_us"]["bounds"]
    n, q = quantiles(bounds, w0["latency_us"]["counts"], w1["latency_us"]["counts"])
    committed = w1["events_committed"] - w0["events_committed"]
    # The database's share: one sample per transaction, sent → COMMIT answered.
    cq = quantiles(bounds, w0["commit_us"]["counts"], w1["commit_us"]["counts"])[1] \
        if "commit_us" in w1 else [None, None, None]
    out = {"eps": committed / (t1 - t0), "q": q, "n": n, "commit_q": cq,
           "batch": committed / max(1, w1["batches"] - w0["batches"]),
           "cpu": cpu_share(c0, pc), "secs": secs, "checkpoints": g1[0] - g0[0],
           "wal_mb": (g1[1] - g0[1]) / 1e6, "seconds": t1 - t0,
           # per process: (s waiting for a CPU, times run, CPU-s) over the window
           "waits": {k: tuple(b - a for a, b in zip(r0[k], r1[k])) for k in r0}}
    # The seconds whose committed events were within 15% of the window's
    # mean: their histograms summed, for the latency at the rate asked for.
    mean = out["eps"]
    steady = [d for k, _, _, d in secs if abs(k - mean) <= 0.15 * mean]
    tot = [sum(col) for col in zip(*steady)] if steady else [0] * len(bounds)
    out["steady"] = (len(steady), quantiles(bounds, [0] * len(tot), tot)[1],
                     sum(tot) / max(1, len(steady)))
    log("%.0f events/s: %d events, p50/p99/p999 %s us (of it the transaction %s us), "
        "%.1f events/batch, cpu %s, %d checkpoints, %.0f MB WAL; steady seconds %s; "
        "waits for a CPU (s, runs, CPU-s) %s" %
        (out["eps"], n, q, cq, out["batch"], out["cpu"], out["checkpoints"], out["wal_mb"],
         out["steady"], out["waits"]))
    log("per second (events, p99 us, idle %, steal %): " + " ".join(
        "%d/%d/%.0f/%.1f" % (k, p99, c["idle"], c["steal"]) for k, p99, c, _ in secs))
    return out


def user_events(stats):
    """exsim's user events sent so far: one per frame delivered on a user
    data stream (ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, ...), all types."""
    return sum(stats["eventsSent"].values())


def cpu_window(seconds, trees, counters):
    """CPU-seconds of each process tree of trees ({name: TreeCPU}) over a
    window of seconds, sampled once a second, and the counters ({name: fn})
    at both edges.  Returns (seconds, {name: CPU-s}, {name: (before, after)})."""
    c0 = {k: f() for k, f in counters.items()}
    t0 = time.time()
    for tr in trees.values():
        tr.sample(start=True)
    i = 0
    while time.time() - t0 < seconds:
        i += 1
        time.sleep(max(0.0, t0 + i - time.time()))
        for tr in trees.values():
            tr.sample()
    t1 = time.time()
    c1 = {k: f() for k, f in counters.items()}
    return t1 - t0, {k: tr.total() for k, tr in trees.items()}, \
        {k: (c0[k], c1[k]) for k in counters}


def measure_cpu(a, rate, accounts, flushes=(None,)):
    """CPU-seconds per 1,000 user events of exfeedd and of PostgreSQL.

    The stack as the latency phase runs it (start(): fsync and
    synchronous_commit on, the WAL warmed, [database] DB_CONF, Kafka's
    embedded broker, 2 account shards, every first resync done), exsim
    --accounts accounts --rate rate; after a.warmup seconds, a window of
    a.seconds: utime + stime of every process of the daemon (the supervisor
    and every worker below it: account workers, writer, market worker,
    gateway, the embedded broker) and of every process of the cluster (the
    postmaster and everything below it: backends, walwriter, checkpointer,
    ...), once a second so that a process that ends within the window keeps
    its share; VmRSS and Pss summed over each tree at the window's end.
    Events: exsim's user events sent over the window (the unit both
    consumers of tools/bench peer see); the account workers' frames received
    and the writer's events committed over the same window cross-check it.

    One window per entry of flushes, on the same stack: None keeps DB_CONF,
    a number is a [database] flush_interval (ms) set by HUP (set_flush).
    Returns the list of results, one per window (each with its "flush",
    events per transaction and event->commit quantiles).
    """
    # exsim paused until every account streams and its first resync is
    # done (as tools/bench peer holds it until ccxt's connections are
    # open): at 10,000 events/s the live flow fills the data plane and the
    # first resyncs, queued behind it, did not finish in 10 minutes
    st = start(accounts, rate, shards=2, resynced=True, paused=True)
    try:
        st.fault("resume")
        time.sleep(a.warmup)
        out = []
        for fl in flushes:
            if fl is not None:
                set_flush(st, fl)
            out.append(cpu_window_result(a, st, rate, accounts, fl))
        return out
    finally:
        st.stop()


def cpu_window_result(a, st, rate, accounts, flush):
    """One window of measure_cpu on a running stack."""
    trees = {"exfeedd": benchlib.TreeCPU(st.daemon.pid),
             "postgresql": benchlib.TreeCPU(postmaster_pid(st)),
             "exsim": benchlib.TreeCPU(st.exsim.pid)}

    def daemon():
        acc, w = {"messages": 0, "events": 0}, None
        for x in st.status()["workers"]:
            d = x.get("detail", {}).get("role", {})
            if x["role"] == "account":
                for k in acc:
                    acc[k] += d.get(k, 0)
            elif x["role"] == "writer":
                w = d
        return acc["messages"], acc["events"], w["events_committed"], w["pending"], w
    la0 = benchlib.loadavg()
    secs, cpu, ctr = cpu_window(a.seconds, trees,
                                {"exsim": lambda: user_events(st.sim_stats()),
                                 "daemon": daemon})
    mem = {k: trees[k].mem() for k in ("exfeedd", "postgresql")}
    procs = {k: len(trees[k].last) for k in trees}
    (e0, e1), (d0, d1) = ctr["exsim"], ctr["daemon"]
    w0, w1 = d0[4], d1[4]
    _, q = quantiles(w1["latency_us"]["bounds"], w0["latency_us"]["counts"],
                     w1["latency_us"]["counts"])
    r = {"rate": rate, "accounts": accounts, "seconds": secs, "events": e1 - e0,
         "events_per_s": (e1 - e0) / secs, "frames_received": d1[0] - d0[0],
         "events_split": d1[1] - d0[1], "committed": d1[2] - d0[2], "pending": d1[3],
         "batches": w1["batches"] - w0["batches"], "flush": flush,
         "commit_p50_ms": q[0] / 1000, "commit_p99_ms": q[1] / 1000,
         "cpu": cpu, "mem": mem, "procs": procs,
         "gone": {k: trees[k].gone for k in trees},
         "by_name": {k: trees[k].by_name() for k in ("exfeedd", "postgresql")},
         "load": "%s -> %s" % (la0, benchlib.loadavg())}
    log("exfeedd at exsim --rate %d, %d accounts%s: %d user events sent in %.0f s (%.0f/s), "
        "%d frames received, %d events committed in %d transactions (writer pending %d); "
        "CPU-s %s; MB (VmRSS, Pss) %s; processes %s; load %s" %
        (rate, accounts, "" if flush is None else ", flush_interval %d ms" % flush,
         r["events"], secs, r["events_per_s"], r["frames_received"], r["committed"],
         r["batches"], r["pending"], {k: round(v, 2) for k, v in cpu.items()},
         {k: (round(v[0]), round(v[1])) for k, v in mem.items()}, procs, r["load"]))
    return r


def flush_table(exf, ccxt):
    """tools/bench peer --flush: one line per flush_interval window of
    measure_cpu, beside ccxt's figure of the same run at that rate."""
    for rate in sorted({r["rate"] for r in exf}):
        c = ([r for r in ccxt if r["rate"] == rate] or [None])[0]
        cp = 1000.0 * c["cpu"]["node"] / c["events"] if c and c["events"] else None
        print()
        print("exsim --rate %d, %d accounts: [database] flush_interval against CPU-s per "
              "1,000 exsim events%s" % (rate, exf[0]["accounts"], "" if cp is None else
                                         " (ccxt pro in this run: **%.3f**)" % cp))
        print()
        print("| flush_interval | events / transaction | event->commit p50 / p99 | writer | "
              "account workers | exfeedd processes | PostgreSQL | together | / ccxt pro |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in [x for x in exf if x["rate"] == rate]:
            per = 1000.0 / r["events"] if r["events"] else float("nan")
            name = dict(r["by_name"]["exfeedd"])
            wr = sum(v for k, v in name.items() if "writer" in k)
            ac = sum(v for k, v in name.items() if "account" in k)
            t = (r["cpu"]["exfeedd"] + r["cpu"]["postgresql"]) * per
            print("| %d ms | %.1f | %.1f / %.1f ms | %.3f | %.3f | %.3f | %.3f | **%.3f** | %s |" %
                  (r["flush"], r["committed"] / max(1, r["batches"]), r["commit_p50_ms"],
                   r["commit_p99_ms"], wr * per, ac * per, r["cpu"]["exfeedd"] * per,
                   r["cpu"]["postgresql"] * per, t, "%.2f" % (t / cp) if cp else "-"))


def phase_cpu(a, res):
    """measure_cpu at each of a.cpu_rates."""
    res["cpu"] = [measure_cpu(a, rate, a.cpu_accounts)[0] for rate in a.cpu_rates]


def phase_latency(a, res):
    # exsim's --rate counts the frames it sends; one ACCOUNT_UPDATE frame is
    # an event per balance and per position, so about 1.5 events per frame:
    # --exsim-rate is what offers about --latency-rate; the table prints the
    # rate committed.
    st = start(1000, a.exsim_rate, shards=2, resynced=True)
    try:
        time.sleep(a.warmup)
        res["lat_path"] = sample(st, a.latency_seconds)
        drain(st)
        # dpsend at a steady rate into the same daemon; the writer's
        # histogram sees its events too (their receipt time is the send time).
        n = int(a.latency_rate * a.latency_seconds)
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(dpsend, ["-s", os.path.join(st.run, "writer.sock"), "-g", str(n),
                                     "-k", str(max_ids(st)), "-R", str(a.latency_rate), "-b",
                                     "10", "-S", "13", "-t", str(a.latency_seconds * 3 + 30)])
            res["lat_dp"] = sample(st, 0, until=fut.done)
            r = fut.result()
        res["lat_dpsend"] = [r["p50_us"], r["p99_us"], r["p999_us"]]
        log("dpsend at %g events/s: %s" % (a.latency_rate, r))
    finally:
        st.stop()


def kafka_settle(st, timeout=300):
    """Until every committed event_log row is acknowledged by the broker."""
    def done():
        k = writer(st)["kafka"]
        top = int(st.sql("SELECT coalesce(max(id), 0) FROM event_log")[0][0])
        return k["acked_through"] >= top and k["in_flight"] == 0
    if not stk.wait_for(done, timeout, every=0.5):
        log("Kafka backlog not published after %d s: %s" % (timeout, writer(st)["kafka"]))


def phase_kafka(a, res):
    """The writer alone (dpsend blasting its data plane) with Kafka off
    ([kafka] brokers empty) and on (the embedded broker), in one run and on
    one database, in the order off, on, on, off so that the database's
    growth weighs on both alike; then commit→ack latency at a steady rate.
    CPU-seconds per 1,000 events of the writer process (utime + stime from
    /proc) too: the machine is shared with dpsend and PostgreSQL."""
    st = start(100, 100, shards=1, paused=True, kafka=["brokers ="])
    runs = []
    try:
        for i, mode in enumerate(("off", "on", "on", "off")):
            st.stop_daemon()
            st.kafka = ["brokers =" if mode == "off" else "brokers = embedded"]
            st.write_config()
            st.start_daemon()
            wpid = st.worker_pid("writer", 0)
            c0 = benchlib.cpu_s(wpid)
            r = dpsend(["-s", os.path.join(st.run, "writer.sock"), "-g", str(int(a.kafka_events)),
                        "-k", str(max_ids(st)), "-w", "20000", "-b", "256", "-S", str(21 + i),
                        "-t", "300"])
            cpu = benchlib.cpu_s(wpid) - c0
            if mode == "on":
                kafka_settle(st)
                cpu = benchlib.cpu_s(wpid) - c0
            runs.append((mode, r["events_per_s"], cpu * 1000.0 / a.kafka_events))
            log("kafka %s: %.0f events/s committed, writer %.3f CPU-s per 1000 events" %
                (mode, r["events_per_s"], runs[-1][2]))
        res["kafka_runs"] = runs
        # Delivery latency: commit → broker ack, dpsend at a steady rate, Kafka on.
        st.stop_daemon()
        st.kafka = ["brokers = embedded"]
        st.write_config()
        st.start_daemon()
        kafka_settle(st)
        k0 = writer(st)["kafka"]["latency_us"]
        n = int(a.latency_rate * a.kafka_seconds)
        dpsend(["-s", os.path.join(st.run, "writer.sock"), "-g", str(n), "-k", str(max_ids(st)),
                "-R", str(a.latency_rate), "-b", "10", "-S", "31",
                "-t", str(a.kafka_seconds * 3 + 30)])
        kafka_settle(st)
        k1 = writer(st)["kafka"]["latency_us"]
        cnt, q = quantiles(k1["bounds"], k0["counts"], k1["counts"])
        res["kafka_lat"] = (cnt, q)
        log("commit→ack over %d messages: p50 %s p99 %s p999 %s" %
            (cnt, fmt_us(q[0]), fmt_us(q[1]), fmt_us(q[2])))
    finally:
        st.stop()


def rss_of(st):
    """{pid: (name, kB)} for the supervisor and all its descendants."""
    names = {st.daemon.pid: "supervisor"}
    for w in st.status()["workers"]:
        names[w["pid"]] = "%s %d" % (w["role"], w["instance"])
    out = {}
    for pid in benchlib.descendants(st.daemon.pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                kb = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]
        except (OSError, IndexError):
            continue
        out[pid] = (names.get(pid, "pid %d" % pid), kb)
    return out


def phase_rss(a, res):
    res["rss"] = []
    for n in a.rss:
        shards = 2  # one account worker per core of this 2-core machine
        st = start(n, rate=max(10, n // 50), shards=shards, per_conn=200)
        try:
            time.sleep(a.rss_settle)
            procs = rss_of(st)
            total = sum(kb for _, kb in procs.values())
            res["rss"].append((n, shards, total, sorted(procs.values())))
            log("RSS at %d accounts: %d kB; %s" % (n, total, sorted(procs.values())))
        finally:
            st.stop()


def account_stats(st):
    """The account workers' counters, summed over the workers."""
    tot = {}
    for w in st.status()["workers"]:
        if w["role"] == "account" and w.get("detail"):
            for k, v in w["detail"]["role"].items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    tot[k] = tot.get(k, 0) + v
    return tot


def resync_cost(st, n, before, what, timeout=600):
    """Wait for n more resyncs than `before`; their weight and requests per resync."""
    if not stk.wait_for(lambda: account_stats(st).get("resyncs_done", 0) -
                        before.get("resyncs_done", 0) >= n, timeout, every=1):
        raise RuntimeError("%s: only %d of %d resyncs done" % (
            what, account_stats(st)["resyncs_done"] - before["resyncs_done"], n))
    after = account_stats(st)
    done = after["resyncs_done"] - before["resyncs_done"]
    out = {"n": done,
           "weight": (after["resync_weight"] - before["resync_weight"]) / done,
           "requests": (after["resync_requests"] - before["resync_requests"]) / done,
           "skipped": after["resync_items_skipped"] - before["resync_items_skipped"]}
    log("%s: %d resyncs, %.1f weight and %.1f requests each" %
        (what, done, out["weight"], out["requests"]))
    return out


def phase_resync(a, res):
    """REST cost per account of the first resync, a quiet gap and an active gap."""
    n = a.resync_accounts
    st = BenchStack(accounts=n, rate=0, seed=3, shards=2, log_level="info",
                    fast_pg=True, budget=50000, weight_limit=1000000,
                    exsim_args=["--paused"], market_symbols=["BTCUSDT"],
                    userdata=["silence_timeout = 120s", "health_check_interval = 60s"])
    try:
        st.prepare()
        st.start_daemon()
        if not st.wait_streaming(n, 120):
            raise RuntimeError("accounts not streaming: " + st.log_tail())
        zero = {k: 0 for k in ("resyncs_done", "resync_weight", "resync_requests",
                               "resync_items_skipped")}
        res["rs_first"] = resync_cost(st, n, zero, "first resync, empty database")
        s0 = account_stats(st)
        st.fault("stall")
        time.sleep(1)
        st.fault("drop")
        res["rs_quiet"] = resync_cost(st, n, s0, "quiet gap")
        s0 = account_stats(st)
        t_gap = int(time.time() * 1000)
        st.fault("stall")
        st.http("POST", "/sim/step?count=%d&ticks=10" % (60 * n))
        st.fault("drop")
        res["rs_active"] = resync_cost(st, n, s0, "active gap")
        r = st.sql("SELECT count(*), count(DISTINCT (account_id, symbol)) FROM fills "
                   "WHERE trade_time >= %d" % t_gap)[0]
        res["rs_active"]["fills"] = int(r[0]) / n
        res["rs_active"]["symbols"] = int(r[1]) / n
        ok, diffs, took = stk.settle(st, timeout=60)
        res["rs_active"]["converged"] = (n - len(diffs), n)
        log("active gap: %.1f fills and %.1f symbols traded per account; %d of %d accounts "
            "equal the truth" % (res["rs_active"]["fills"], res["rs_active"]["symbols"],
                                 n - len(diffs), n))
    finally:
        st.stop()


def heal_wait(st, n, t0_ms, timeout):
    """Seconds from t0_ms until every account's state, then everything, healed."""
    state_s = all_s = None
    deadline = time.time() + timeout
    last_log = 0
    while time.time() < deadline:
        rows = st.account_rows()
        states = [r.get("state_healed_ms", 0) for r in rows]
        dones = [r.get("resync_done_ms", 0) for r in rows]
        n_state = sum(1 for x in states if x >= t0_ms)
        n_done = sum(1 for r, x in zip(rows, dones) if x >= t0_ms and r.get("resync") == "done")
        if state_s is None and len(rows) >= n and n_state >= n:
            state_s = (max(states) - t0_ms) / 1000.0
            log("every account's state healed after %.0f s" % state_s)
        if len(rows) >= n and n_done >= n:
            gaps = int(st.sql("SELECT count(*) FROM account_gaps WHERE healed_at IS NULL")[0][0])
            if gaps == 0:
                all_s = (max(dones) - t0_ms) / 1000.0
                log("every account healed after %.0f s (no unhealed account_gaps row)" % all_s)
                return state_s, all_s
        if time.time() - last_log >= 60:
            last_log = time.time()
            stats = account_stats(st)
            log("%.0f s: state healed %d/%d, done %d/%d; %d weight spent" % (
                time.time() - t0_ms / 1000.0, n_state, n, n_done, n,
                stats.get("resync_weight", 0)))
        time.sleep(2)
    return state_s, all_s


def phase_heal(a, res):
    """1,000 accounts at the default budget against exsim's real limit."""
    n = a.heal_accounts
    st = BenchStack(accounts=n, rate=a.heal_rate, seed=5, shards=2, log_level="info",
                    fast_pg=True, budget=1800, weight_limit=2400,
                    exsim_args=["--paused"] if a.heal_quiet_start else [])
    res["heal"] = {"n": n, "rate": a.heal_rate, "outage": a.heal_outage,
                   "quiet": a.heal_quiet_start}
    try:
        st.prepare()
        t0 = int(time.time() * 1000)
        st.start_daemon()
        s0 = account_stats(st)
        state_s, all_s = heal_wait(st, n, t0, a.heal_timeout)
        s1 = account_stats(st)
        res["heal"]["first"] = (state_s, all_s, (s1["resync_weight"] - s0.get(
            "resync_weight", 0)) / n)
        if a.heal_quiet_start:
            st.fault("resume")
            log("exsim resumed: %d s of activity before the outage" % a.heal_warmup)
            time.sleep(a.heal_warmup)
        # The full drop: every connection stalled (events lost), then cut.
        st.fault("stall")
        time.sleep(a.heal_outage)
        s0 = account_stats(st)
        t0 = int(time.time() * 1000)
        st.fault("drop")
        state_s, all_s = heal_wait(st, n, t0, a.heal_timeout)
        s1 = account_stats(st)
        res["heal"]["drop"] = (state_s, all_s, (s1["resync_weight"] - s0["resync_weight"]) / n)
        rest = st.sim_stats()["rest"]
        res["heal"]["429"], res["heal"]["418"] = rest["http429"], rest["http418"]
        log("exsim: %d × 429, %d × 418" % (rest["http429"], rest["http418"]))
    finally:
        st.stop()


def fmt_s(v):
    return "not within the timeout" if v is None else "%.1f min" % (v / 60.0)


def fmt_us(v):
    return "%.1f ms" % (v / 1000.0)


def cpu_table(exf, ccxt=None):
    """The CPU table of measure_cpu's runs (exf) and, with ccxt, of tools/bench
    peer's ccxt runs at the same rates: one table per rate level."""
    rates = [r["rate"] for r in exf] + [r["rate"] for r in ccxt or [] if r["rate"] not in
                                        [x["rate"] for x in exf]]
    for rate in rates:
        e = ([r for r in exf if r["rate"] == rate] or [None])[0]
        c = ([r for r in ccxt or [] if r["rate"] == rate] or [None])[0]
        print()
        print("exsim --rate %d (user events/s asked), %d accounts; achieved: %s" %
              (rate, (e or c)["accounts"], "; ".join(
                  "%s %.0f/s over %.0f s (load %s)" % (n, r["events_per_s"], r["seconds"],
                                                      r["load"])
                  for n, r in (("exfeedd run", e), ("ccxt run", c)) if r)))
        for n, r in (("exfeedd run", e), ("ccxt run", c)):
            if r and r["events_per_s"] < 0.9 * rate:
                print("**exsim delivered %.0f user events/s in the %s, not the %d asked**" %
                      (r["events_per_s"], n, rate))
        print()
        print("| consumer | CPU-s per 1,000 events | RSS MB (VmRSS summed) | PSS MB | events in "
              "window (exsim sent) | consumed in window |")
        print("|---|---|---|---|---|---|")

        def per(cpu, r):
            return 1000.0 * cpu / r["events"] if r["events"] else float("nan")
        if e:
            ce, cp = e["cpu"]["exfeedd"], e["cpu"]["postgresql"]
            (re_, pe), (rp, pp) = e["mem"]["exfeedd"], e["mem"]["postgresql"]
            eat = "%d frames (account workers), %d events committed (writer)" % (
                e["frames_received"], e["committed"])
            print("| exfeedd processes (%d: supervisor, workers, embedded broker) | %.3f | %.0f "
                  "| %.0f | %d | %s |" % (e["procs"]["exfeedd"], per(ce, e), re_, pe,
                                          e["events"], eat))
            print("| PostgreSQL (%d processes: postmaster, backends, walwriter, checkpointer, "
                  "...) | %.3f | %.0f | %.0f | %d | |" % (e["procs"]["postgresql"], per(cp, e),
                                                          rp, pp, e["events"]))
            print("| exfeedd + PostgreSQL | **%.3f** | %.0f | %.0f | %d | |" %
                  (per(ce + cp, e), re_ + rp, pe + pp, e["events"]))
        if c:
            (rn, pn) = c["mem"]["node"]
            print("| ccxt pro %s (node %s, %d binanceusdm instances, in memory only) | **%.3f** "
                  "| %.0f | %.0f | %d | %d frames (ccxt's handlers); handed back: %d orders, "
                  "%d trades, %d balances, %d positions |" %
                  (c["ccxt_version"], c["node"], c["accounts"], per(c["cpu"]["node"], c), rn,
                   pn, c["events"], c["frames"], c["orders"], c["myTrades"], c["balances"],
                   c["positions"]))
        if e:
            for k, what in (("exfeedd", "exfeedd's"), ("postgresql", "PostgreSQL's")):
                print()
                print("%s CPU-s per 1,000 events by process: %s" % (what, ", ".join(
                    "%s %.3f" % (n, per(v, e)) for n, v in e["by_name"][k] if v > 0)))
            if any(e["gone"].values()):
                print("(processes that ended within the window, up to a second of their CPU "
                      "not counted: %s)" % e["gone"])
        if c and c["frames"] < 0.98 * c["events"]:
            print()
            print("**ccxt fell behind**: its handlers took %d of the %d user events exsim sent "
                  "in the window (exsim's send queues %.0f MB at the end; %d connections "
                  "dropped as slow); per 1,000 events ccxt took: %.3f CPU-s" %
                  (c["frames"], c["events"], c["queued_mb"], c["dropped_slow"],
                   1000.0 * c["cpu"]["node"] / c["frames"] if c["frames"] else float("nan")))
        if e and e["frames_received"] < 0.98 * e["events"]:
            print()
            print("**exfeedd fell behind**: its account workers took %d of the %d user events "
                  "exsim sent in the window" % (e["frames_received"], e["events"]))
        if e and e["committed"] < 0.98 * e["events_split"]:
            print()
            print("**exfeedd's writer fell behind**: it committed %d of the %d events the "
                  "account workers made of those frames in the window (%d pending at its end)"
                  % (e["committed"], e["events_split"], e["pending"]))
        ex = "; ".join("%s %.3f" % (n, per(r["cpu"]["exsim"], r))
                       for n, r in (("exfeedd run", e), ("ccxt run", c)) if r)
        print()
        print("exsim itself (the load, not counted above), CPU-s per 1,000 events: %s" % ex)
        if e and c:
            t, p = per(e["cpu"]["exfeedd"] + e["cpu"]["postgresql"], e), per(c["cpu"]["node"], c)
            print("ratio exfeedd + PostgreSQL / ccxt pro: **%.2f** (%s)" %
                  (t / p, "exfeedd's whole path is cheaper per event" if t < p else
                   "exfeedd's whole path costs more per event"))


def report(a, res, cmd):
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    print("## tools/bench userdata")
    print()
    print("command: `%s`  " % cmd)
    print("date: %s  " % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    if any(k in res for k in ("path_eps", "lat_path", "rss", "kafka_runs", "cpu")):
        print("machine: %s, %d CPUs, %d MB RAM; PostgreSQL 15 (tools/pgtmp), fsync = on, "
              "synchronous_commit = on; [database] %s" % (platform.machine(), os.cpu_count(),
                                                           mem, ", ".join(DB_CONF)))
    else:
        print("machine: %s, %d CPUs, %d MB RAM; PostgreSQL 15 (tools/pgtmp) with fsync off: "
              "these phases measure REST weight and time, not the database" %
              (platform.machine(), os.cpu_count(), mem))
    print()
    print("| measure | value |")
    print("|---|---|")
    if "path_eps" in res:
        print("| committed events/s, max offered load, 1000 accounts, %d s (exsim --rate %d "
              "→ account workers → writer → PostgreSQL) | %.0f |" %
              (a.seconds, a.max_rate, res["path_eps"]))
        print("| committed events/s, writer alone (dpsend blasting the data plane, %d events) "
              "| %.0f |" % (a.blast_events, res["blast_eps"]))
        print("| naive writer events/s (dpsend --naive: same rows, one transaction per event, "
              "%d events) | %.0f |" % (a.naive_events, res["naive_eps"]))
        print("| ratio, real path / naive | %.1f× |" % (res["path_eps"] / res["naive_eps"]))
        print("| ratio, writer alone / naive | %.1f× |" % (res["blast_eps"] / res["naive_eps"]))
        for b, eps, rps in res["ceiling"]:
            print("| staging-COPY ceiling, the same rows (dpsend --ceiling: COPY into temporary "
                  "staging tables + the writer's upserts FROM them, %d events a transaction, "
                  "%d events): events/s (rows/s) | %.0f (%.0f) |" % (b, a.ceiling_events, eps, rps))
            print("| ratio, writer alone / ceiling at %d | %.0f%% |" %
                  (b, 100.0 * res["blast_eps"] / eps))
    if "lat_path" in res:
        for key, what in (("lat_path", "exsim, 1000 accounts, --rate %d: receipt by the account "
                           "worker → COMMIT result" % a.exsim_rate),
                          ("lat_dp", "dpsend -R %d, frames of 10: send → COMMIT result" %
                           a.latency_rate)):
            w = res[key]
            q, secs = w["q"], w["secs"]
            ns, qs, eps = w["steady"]
            print("| event→commit p50 / p99 / p999, %s; %d s, %.0f events/s committed, %.1f "
                  "events/batch (writer histogram) | %s / %s / %s |" %
                  (what, len(secs), w["eps"], w["batch"], fmt_us(q[0]), fmt_us(q[1]),
                   fmt_us(q[2])))
            print("| … seconds whose p99 was over 10 ms; events in the busiest second; CPU "
                  "idle / steal; checkpoints; WAL written | %d of %d; %d; %.0f%% / %.1f%%; %d; "
                  "%.0f MB |" % (sum(1 for s_ in secs if s_[1] > 10000), len(secs),
                                 max(s_[0] for s_ in secs), w["cpu"]["idle"], w["cpu"]["steal"],
                                 w["checkpoints"], w["wal_mb"]))
            cq = w.get("commit_q", [None] * 3)
            if cq[0] is not None:
                print("| … of it in the database: batch sent → COMMIT answered, p50 / p99 / "
                      "p999 over the transactions (writer's commit histogram) | %s / %s / %s |"
                      % (fmt_us(cq[0]), fmt_us(cq[1]), fmt_us(cq[2])))
            print("| … p50 / p99 / p999 over the %d seconds within 15%% of the mean rate "
                  "(%.0f events/s) | %s / %s / %s |" %
                  (ns, eps, fmt_us(qs[0]), fmt_us(qs[1]), fmt_us(qs[2])))
            wt = w.get("waits")
            if wt:
                print("| … over the %.0f s: the writer / its backend waited for a CPU "
                      "(runnable, not running; schedstat run_delay) against their CPU, "
                      "per run | %.2f s / %.2f s against %.2f / %.2f CPU-s; %.0f / %.0f µs "
                      "a wait |" % (w["seconds"], wt["writer"][0], wt["backend"][0],
                                    wt["writer"][2], wt["backend"][2],
                                    1e6 * wt["writer"][0] / max(1, wt["writer"][1]),
                                    1e6 * wt["backend"][0] / max(1, wt["backend"][1])))
        q = res["lat_dpsend"]
        print("| event→ack p50 / p99 / p999 at %d events/s, dpsend's own count (at the "
              "sender: adds the ack's way back) | %s / %s / %s |" %
              (a.latency_rate, fmt_us(q[0]), fmt_us(q[1]), fmt_us(q[2])))
    if "kafka_runs" in res:
        runs = res["kafka_runs"]
        off = [r for r in runs if r[0] == "off"]
        on = [r for r in runs if r[0] == "on"]
        eoff, eon = sum(r[1] for r in off) / len(off), sum(r[1] for r in on) / len(on)
        coff, con = sum(r[2] for r in off) / len(off), sum(r[2] for r in on) / len(on)
        print("| committed events/s, writer alone (dpsend, %d events a run), Kafka off / on "
              "(embedded broker, json); runs in order %s | %.0f / %.0f (cost %.1f%%) |" %
              (a.kafka_events, ", ".join("%s %.0f" % (m, e) for m, e, _ in runs), eoff, eon,
               100.0 * (eoff - eon) / eoff))
        print("| writer CPU-seconds per 1,000 events, Kafka off / on (on: until every message "
              "is acknowledged) | %.3f / %.3f |" % (coff, con))
        cnt, q = res["kafka_lat"]
        print("| commit→ack p50 / p99 / p999 (committed_at → delivery report), dpsend -R %d, "
              "%d s, %d messages | %s / %s / %s |" % (a.latency_rate, a.kafka_seconds, cnt,
                                                      fmt_us(q[0]), fmt_us(q[1]), fmt_us(q[2])))
    for key, what in (("rs_first", "first resync, empty database"),
                      ("rs_quiet", "quiet gap (nothing happened)"),
                      ("rs_active", "active gap")):
        if key in res:
            r = res[key]
            extra = ""
            if key == "rs_active":
                extra = " (%.1f fills in %.1f symbols per account; %d of %d accounts equal the " \
                    "truth after)" % (r["fills"], r["symbols"], r["converged"][0],
                                      r["converged"][1])
            print("| resync weight / requests per account, %s, %d accounts, [market] symbols = "
                  "BTCUSDT, exsim's 5 symbols%s | %.1f / %.1f |" %
                  (what, r["n"], extra, r["weight"], r["requests"]))
    if "heal" in res:
        h = res["heal"]
        for key, what in (("first", "from an empty database at start" +
                           (" (exsim paused: no history)" if h.get("quiet") else "")),
                          ("drop", "after a full drop (%d s stalled, then every connection cut)"
                           % h["outage"])):
            if key in h:
                st_s, all_s, w = h[key]
                print("| heal %d accounts %s, rest_weight_budget 1800, exsim limit 2400/min, "
                      "exsim --rate %d: state (balances, positions, open orders) / everything; "
                      "weight per account | %s / %s; %.1f |" %
                      (h["n"], what, h["rate"], fmt_s(st_s), fmt_s(all_s), w))
        print("| … HTTP 429 / 418 from exsim over the heal runs | %d / %d |" %
              (h["429"], h["418"]))
    if "cpu" in res:
        print("| CPU-seconds per 1,000 user events (exsim's user events sent), exfeedd's "
              "processes / PostgreSQL's / together, %d accounts: see the tables below | |" %
              a.cpu_accounts)
    base = None
    for n, shards, total, procs in res.get("rss", []):
        if n == 0:
            base = total
            print("| RSS, 0 accounts (base; %d processes) | %d kB |" % (len(procs), total))
            continue
        extra = " (%.1f KB above the base)" % ((total - base) / n) if base is not None else ""
        print("| RSS / account, %d accounts, %d shards | %.1f KB%s |" %
              (n, shards, total / n, extra))
    if "cpu" in res:
        cpu_table(res["cpu"])
    for n, shards, total, procs in res.get("rss", []):
        print()
        print("RSS by process, %d accounts: %s; total %d kB" % (
            n, ", ".join("%s %d kB" % p for p in procs), total))


def main():
    # Stopped like ^C, so that every stack started is stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    p = argparse.ArgumentParser(prog="tools/bench userdata")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--latency-seconds", type=int, default=60)
    p.add_argument("--latency-rate", type=int, default=5000)
    p.add_argument("--max-rate", type=int, default=40000)
    p.add_argument("--exsim-rate", type=int, default=3250)
    p.add_argument("--rss", default="0,1000,10000")
    p.add_argument("--skip", action="append", default=[])
    p.add_argument("--only", action="append", default=[])
    p.add_argument("--resync-accounts", type=int, default=100)
    p.add_argument("--heal-accounts", type=int, default=1000)
    p.add_argument("--heal-rate", type=int, default=200)
    p.add_argument("--heal-outage", type=int, default=60)
    p.add_argument("--heal-timeout", type=int, default=3600)
    p.add_argument("--heal-quiet-start", action="store_true")
    p.add_argument("--heal-warmup", type=int, default=60)
    p.add_argument("--cpu-rates", default="1000,10000")
    p.add_argument("--cpu-accounts", type=int, default=1000)
    p.add_argument("--kafka", action="append", default=[],
                   help="a line for [kafka] of every stack started (e.g. 'brokers =' for "
                   "Kafka off, 'linger = 50ms'); repeatable")
    a = p.parse_args()
    KAFKA_LINES.extend(a.kafka)
    a.warmup, a.rss_settle = 10, 10
    a.blast_events, a.naive_events, a.ceiling_events = 300000, 10000, 100000
    a.kafka_events, a.kafka_seconds = 300000, 30
    if a.quick:
        a.kafka_events, a.kafka_seconds = 60000, 10
        a.seconds = a.latency_seconds = 10
        a.warmup, a.rss_settle = 3, 3
        a.blast_events, a.naive_events, a.ceiling_events = 60000, 2000, 20000
        if "--rss" not in sys.argv:
            a.rss = "0,1000"
        if "--heal-accounts" not in sys.argv:
            a.heal_accounts = 200
        if "--resync-accounts" not in sys.argv:
            a.resync_accounts = 20
    a.rss = [int(x) for x in a.rss.split(",") if x != ""]
    a.cpu_rates = [int(x) for x in a.cpu_rates.split(",") if x != ""]
    res = {}

    def want(phase):
        return phase not in a.skip and (not a.only or phase in a.only)
    for phase, fn in (("throughput", phase_throughput), ("kafka", phase_kafka),
                      ("latency", phase_latency), ("cpu", phase_cpu),
                      ("rss", phase_rss), ("resync", phase_resync), ("heal", phase_heal)):
        if want(phase):
            fn(a, res)
    report(a, res, "tools/bench userdata " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
