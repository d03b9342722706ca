#!/usr/bin/python3
"""tools/bench-acctcpu.py: the account workers' CPU per event (issue 14).

Starts what t/integration/stack.py starts (tools/pgtmp PostgreSQL, exsim,
keygen, migrate, the accounts, exfeedd with --shards account workers), waits
until every account streams and its first REST resync is done (exsim
starts paused, so they find no history; then it resumes), then over --windows windows of
--seconds each reads utime + stime of every account worker (/proc/PID/stat)
and the workers' `events` counter (events sent to the writer) and prints
CPU-seconds per 1,000 events, with exsim's own (the same code whatever
exfeedd's build: an index of the shared machine's speed in the window).  With --perf SECONDS it then runs
`perf record -g` on the account workers for that long and prints the top of
`perf report --no-children`.

exsim's --rate counts frames; an ACCOUNT_UPDATE frame is an event per
balance and per position, so --rate 3250 offers about 5,000 events/s.

Usage: tools/bench-acctcpu.py [--accounts 1000] [--rate 3250] [--shards 2]
    [--seed 1] [--seconds 30] [--windows 2] [--perf 20] [--perf-out FILE]
Environment: top_builddir (default SRC/_build), the binaries measured.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
os.environ.setdefault("top_srcdir", SRC)
os.environ.setdefault("top_builddir", os.path.join(SRC, "_build"))
sys.path.insert(0, os.path.join(SRC, "t", "integration"))
import stack as stk  # noqa: E402
import benchlib  # noqa: E402


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


class FastStack(stk.Stack):
    """A Stack that adds its accounts four at a time (1,000 one by one is slow)."""
    add_accounts = benchlib.add_accounts


def acct_workers(st):
    """{pid: events} of the account workers."""
    return {w["pid"]: w["detail"]["role"]["events"] for w in st.status()["workers"]
            if w["role"] == "account" and w.get("detail")}


def window(st, seconds):
    """Events, the account workers' CPU-s, exsim's CPU-s and the seconds of one window."""
    e0 = acct_workers(st)
    c0 = {p: benchlib.cpu_s(p) for p in e0}
    x0 = benchlib.cpu_s(st.exsim.pid)
    t0 = time.time()
    time.sleep(seconds)
    e1 = acct_workers(st)
    c1 = {p: benchlib.cpu_s(p) for p in e0}
    x1 = benchlib.cpu_s(st.exsim.pid)
    t1 = time.time()
    if set(e0) != set(e1):
        raise RuntimeError("an account worker restarted during the window")
    ev = sum(e1[p] - e0[p] for p in e0)
    cpu = sum(c1[p] - c0[p] for p in e0)
    return ev, cpu, x1 - x0, t1 - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--rate", type=int, default=3250)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--windows", type=int, default=2)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--perf", type=int, default=0)
    p.add_argument("--perf-out", default="")
    a = p.parse_args()
    st = FastStack(accounts=a.accounts, rate=a.rate, seed=a.seed, shards=a.shards,
                   log_level="info", budget=50000, weight_limit=1000000,
                   exsim_args=["--paused"],
                   database=["batch_size = 500", "flush_interval = 0ms"],
                   userdata=["accounts_per_connection = 200", "silence_timeout = 60s",
                             "health_check_interval = 5s"])
    try:
        st.prepare()
        st.start_daemon()
        if not st.wait_streaming(a.accounts, timeout=120 + a.accounts // 50):
            raise RuntimeError("accounts not streaming: " + st.log_tail())
        # exsim starts paused, so the first resyncs find no history and end
        # quickly; their REST bursts are not the stream's cost.
        if not stk.wait_for(lambda: all(r.get("resync") == "done" for r in st.account_rows()),
                            timeout=300, every=2):
            raise RuntimeError("first resyncs not done")
        st.fault("resume")
        time.sleep(a.warmup)
        tot_ev = tot_cpu = tot_x = 0
        for i in range(a.windows):
            ev, cpu, xcpu, secs = window(st, a.seconds)
            tot_ev += ev
            tot_cpu += cpu
            tot_x += xcpu
            log("window %d: %d events in %.1f s (%.0f events/s), %.2f CPU-s, "
                "%.4f CPU-s per 1,000 events; exsim %.4f" % (
                    i + 1, ev, secs, ev / secs, cpu, 1000.0 * cpu / max(1, ev),
                    1000.0 * xcpu / max(1, ev)))
        # exsim runs the same code whatever exfeedd's build: its CPU per
        # event is an index of the (shared) machine's speed in the window.
        print("account workers: %d events, %.2f CPU-s, %.4f CPU-s per 1,000 events; "
              "exsim %.4f, workers / exsim %.2f (exsim --accounts %d --rate %d --seed %d, "
              "%d shards; load %.1f)" %
              (tot_ev, tot_cpu, 1000.0 * tot_cpu / max(1, tot_ev),
               1000.0 * tot_x / max(1, tot_ev), tot_cpu / max(1e-9, tot_x), a.accounts,
               a.rate, a.seed, a.shards, os.getloadavg()[0]))
        if a.perf:
            out = a.perf_out or os.path.join(st.dir, "perf.data")
            pids = ",".join(str(x) for x in acct_workers(st))
            subprocess.run(["perf", "record", "-q", "-g", "-o", out, "-p", pids, "--",
                            "sleep", str(a.perf)], check=True, stdout=subprocess.DEVNULL)
            rep = subprocess.run(["perf", "report", "-i", out, "--no-children", "--stdio",
                                  "-g", "none", "--percent-limit", "0.7"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            print("\n".join(l for l in rep.stdout.splitlines()
                            if l.strip() and not l.startswith("#")))
            log("perf data: %s" % out)
    finally:
        st.stop()


if __name__ == "__main__":
    main()
