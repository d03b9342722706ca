#!/usr/bin/python3
"""Issue 14: a trickle of events is merged into fewer transactions, sparse
events are not held back, and flush_interval = 0 turns merging off.

The real daemon (two exsim accounts, exsim paused) and tools/dpsend on the
writer's data plane at a steady rate:

1. flush_interval = 20ms, 200 events/s (a gap of 5 ms): batches wait for
   more events; at least 2 events per transaction, most batches counted as
   merged, none as sparse once the rate is known (after 100 events).
2. The same window, 10 events/s (a gap of 100 ms): waiting would merge
   nothing, so batches go at once (counted as sparse), one event each.
3. flush_interval = 0 (HUP): nothing waits, nothing is counted either way.
Every event is acked (committed) in each case.
4. The bench's ceiling (dpsend --ceiling: COPY into staging tables and the
   writer's upserts FROM them) writes what the writer writes: 600 events
   loaded that way, then the same 600 through the writer's own statements
   (dpsend --naive) change no value in any table (updated_at aside: a tie
   within one exchange millisecond is rewritten with the same values); and a
   second seed through the naive path alone does change them (the digest
   can tell).
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, BUILD, wait_for, skip_in_repeat_pass  # noqa: E402
from tapcheck import check, finish  # noqa: E402

skip_in_repeat_pass("writer_merge.py", sanitizer=True)
DPSEND = os.environ.get("DPSEND", os.path.join(BUILD, "tools", "dpsend"))


def writer(st):
    for w in st.status()["workers"]:
        if w["role"] == "writer":
            return w["detail"]["role"]
    raise RuntimeError("no writer")


def send(st, n, rate, seed):
    """n generated events at rate events/s; the counters' change and dpsend's words."""
    w0 = writer(st)
    out = subprocess.run([DPSEND, "-s", os.path.join(st.run, "writer.sock"), "-g", str(n),
                          "-k", "2", "-R", str(rate), "-b", "1", "-S", str(seed), "-t", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=90)
    w1 = writer(st)
    d = {k: w1[k] - w0[k] for k in ("events_committed", "batches", "batches_merged",
                                    "batches_sparse")}
    words = out.stdout.split()
    acked = int(words[words.index("acked") + 1]) if "acked" in words else -1
    return d, acked, out


with Stack(accounts=2, rate=50, seed=14, shards=1,
           database=["batch_size = 500", "flush_interval = 20ms"]) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(2, 30), "accounts streaming")
    check(st.wait_resynced(2, 60), "first resyncs done")
    st.fault("pause")
    time.sleep(1)

    # 1. a trickle: merged.  The writer learns the rate from the gaps between
    # events (a moving mean over about 16): after the idle seconds before, the
    # first events of a trickle go at once; 100 events first teach it.
    send(st, 100, 200, 1400)
    d, acked, out = send(st, 400, 200, 1401)
    check(acked == 400, "200 events/s: all 400 acked (%s)" % out.stdout.strip())
    per = d["events_committed"] / max(1, d["batches"])
    check(per >= 2.0, "200 events/s, 20 ms window: %.1f events per transaction (>= 2): %s" % (per, d))
    check(d["batches_merged"] >= d["batches"] // 2,
          "most batches waited for more events: %d of %d" % (d["batches_merged"], d["batches"]))
    check(d["batches_sparse"] <= 2, "none went at once as sparse: %d" % d["batches_sparse"])

    # 2. sparse events: at once
    d, acked, out = send(st, 40, 10, 1402)
    check(acked == 40, "10 events/s: all 40 acked (%s)" % out.stdout.strip())
    check(d["batches_sparse"] >= 30,
          "10 events/s, 20 ms window: batches sent at once: %d of %d" %
          (d["batches_sparse"], d["batches"]))
    check(d["events_committed"] <= d["batches"] + 4,
          "one event per transaction: %d events, %d batches" %
          (d["events_committed"], d["batches"]))

    # 3. flush_interval = 0: no waiting at all
    st.database = ["batch_size = 500", "flush_interval = 0ms"]
    st.write_config()
    os.kill(st.daemon.pid, signal.SIGHUP)
    check(wait_for(lambda: writer(st)["flush_interval_ms"] == 0, timeout=20),
          "HUP: flush_interval 0")
    d, acked, out = send(st, 200, 200, 1403)
    check(acked == 200, "flush_interval 0: all 200 acked")
    check(d["batches_merged"] == 0 and d["batches_sparse"] == 0,
          "flush_interval 0: no batch waited or was counted sparse: %s" % d)
    check(st.stop_daemon() == 0, "TERM: exit 0")

    # 4. the ceiling's staging path writes what the writer's statements write
    TABLES = ["orders", "algo_orders", "fills", "positions", "balances", "margin_calls",
              "account_config", "event_log", "exchange_accounts"]

    # Values only: a replay that ties (one exchange millisecond, two states)
    # rewrites a row with what it had, which moves only its updated_at.
    def digest():
        v = "(to_jsonb(x) - 'updated_at' - 'committed_at' - 'id')::text"
        return {t: st.sql("SELECT count(*), md5(coalesce(string_agg(%s, '|' ORDER BY %s), '')) "
                          "FROM %s x" % (v, v, t))[0] for t in TABLES}

    def run(mode, seed):
        out = subprocess.run([DPSEND, mode, st.conninfo, "-g", "600", "-k", "2", "-S", str(seed),
                              "-b", "100", "--time-base", str(T0 + seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=120)
        return out.returncode, out.stdout + out.stderr

    T0 = int(time.time() * 1000)
    rc, out = run("--ceiling", 1404)
    check(rc == 0 and "rows_per_s" in out, "dpsend --ceiling: %s" % out.strip()[:200])
    d0 = digest()
    rc, out = run("--naive", 1404)
    check(rc == 0, "dpsend --naive, the same events: %s" % out.strip()[:200])
    d1 = digest()
    changed = [t for t in TABLES if d0[t] != d1[t]]
    check(not changed, "the writer's statements found nothing to change: %s" % changed)
    check(int(d0["event_log"][0]) >= 600, "event_log holds the 600: %s" % (d0["event_log"],))
    rc, out = run("--naive", 1405)
    d2 = digest()
    check(d2["orders"] != d1["orders"] and d2["event_log"] != d1["event_log"],
          "another seed does change the digest")
finish()
