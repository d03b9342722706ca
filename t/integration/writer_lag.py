#!/usr/bin/python3
"""A resync waits until the database holds what the stream already brought.

Soak seed 2016: the writer was behind (PostgreSQL had restarted), a resync
read the account's rows from the database, found the exchange's leverage
equal to them and corrected nothing; the stream's older value, still on its
way, was committed after and stayed.  The same kind: a position opened just
before a gap and closed in it, an order placed before and filled in it,
each compared against a database that did not have them yet.

The whole kind: 30 accounts at 1,500 events/s; ten times the writer is
stopped (SIGSTOP) for 6 s with every connection dropped in the middle, so
every resync begins while the stream's events wait for the database.  Once
it all settles the database must equal the truth.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, skip_in_repeat_pass  # noqa: E402

skip_in_repeat_pass("writer_lag.py")
from tapcheck import check, finish  # noqa: E402

N = 30
CYCLES = 10


with Stack(accounts=N, rate=1500, seed=12, shards=1) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "%d accounts streaming" % N)
    check(st.wait_resynced(N, 60), "the first resyncs done")
    s0 = st.account_stats()
    for i in range(CYCLES):
        pid = st.worker_pid("writer")
        os.kill(pid, signal.SIGSTOP)
        time.sleep(3)
        res = st.fault("drop", graceful=False)
        check(res.get("affected", 0) > 0, "cycle %d: writer stopped, every connection dropped" % i)
        time.sleep(3)
        os.kill(pid, signal.SIGCONT)
        time.sleep(2)
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=90)
    check(ok, "the database equals the truth (%d differ)" % len(diffs))
    # Gaps that open while a resync waits merge into it: one round at least.
    s1 = st.account_stats()
    check(s1["resyncs_done"] - s0["resyncs_done"] >= N,
          "resyncs done after the drops: %d" % (s1["resyncs_done"] - s0["resyncs_done"]))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
