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
finish()
