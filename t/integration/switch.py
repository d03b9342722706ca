#!/usr/bin/python3
"""A connection replaced without a gap loses no frame.

Found by the soak (seed 1002): when a replacement connection took over, the
one it replaced was closed at once, and the frames the exchange had already
written to it (an ORDER_TRADE_UPDATE and the fill after a TRADE_LITE) were
lost, with no gap recorded for them, so no resync ever brought them back.

The whole kind: 20 accounts in groups of 10 at 1,500 events/s, every
connection replaced every 2 s (connection_max_age), for 20 s.  Each switch
must be gapless for real: no resync after the first ones, every replaced
connection drained (read until the exchange answered a request sent on it
after the switch), and the database equal to the truth.  Then both
connections are stalled just before a switch, so neither can be drained:
their accounts' gaps must start at the switch (helper review: they started
at the newest event the new connection had brought, after the lost frames).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 20


with Stack(accounts=N, rate=1500, seed=7, shards=1,
           userdata=["connection_max_age = 2s", "accounts_per_connection = 10"]) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "%d accounts streaming" % N)
    check(st.wait_resynced(N, 60), "the first resyncs done")
    s0 = st.account_stats()
    time.sleep(20)
    st.fault("pause")
    time.sleep(1)
    s1 = st.account_stats()
    rebuilt = s1["max_age_rebuilds"] - s0["max_age_rebuilds"]
    drains = s1["drains"] - s0["drains"]
    check(rebuilt >= 10, "connections replaced for their age: %d" % rebuilt)
    check(drains >= rebuilt - 2 and s1["drains_failed"] == s0["drains_failed"],
          "every replaced connection drained (%d drained, %d not)" %
          (drains, s1["drains_failed"] - s0["drains_failed"]))
    check(s1["resyncs_started"] == s0["resyncs_started"],
          "no gap: no resync after the first ones (%d)" %
          (s1["resyncs_started"] - s0["resyncs_started"]))
    ok, diffs, took = settle_said(st, timeout=30)
    check(ok, "no frame lost at a switch: the database equals the truth (%d differ)" %
          len(diffs))

    check(st.stop_daemon() == 0, "TERM: exit 0")

# A replaced connection that cannot be drained (stalled: exsim holds its
# frames) gives its accounts a gap from their last event at the switch, not
# from the newest one the new connection had brought by the time the drain
# gave up (5 s later, past the resync's 5 s margin).  silence_timeout is
# longer than connection_max_age, so the stall ends in a switch, not a loss.
with Stack(accounts=N, rate=1500, seed=8, shards=1,
           userdata=["connection_max_age = 8s", "accounts_per_connection = 10",
                     "silence_timeout = 30s", "health_check_interval = 20s"]) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "%d accounts streaming" % N)
    check(st.wait_resynced(N, 60), "the first resyncs done")
    s0 = st.account_stats()
    for a in (1, 11):
        st.fault("stall", account=st.accounts[a]["id"])
    check(wait_for(lambda: st.account_stats()["drains_failed"] >= s0["drains_failed"] + 2, 30),
          "both stalled connections replaced and not drained (%d)" %
          (st.account_stats()["drains_failed"] - s0["drains_failed"]))
    time.sleep(2)
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=60)
    check(ok, "frames held by an undrained connection are resynced: the database equals "
          "the truth (%d differ)" % len(diffs))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
