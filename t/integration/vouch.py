#!/usr/bin/python3
"""A finished resync vouches for the stream only from its first request (soak seed 3535).

One account, 10 events/s, a budget of 80 weight a minute: its first
resync (about 110 weight) spends the rest of the start's minute on its
state and part of its history, and finishes at the next minute.  In between, its connection
stalls (exsim "stall": frames held, nothing delivered), and the stall is
found only after the resync is done (silence_timeout 75 s).  The resync
asked for history only for what it saw at its first request; the frames
the stall held came after.  Before 2021444 the resync dated the account's
last event at its last request, so the gap the stall opened began after
the frames it held, and those were lost for good (no later resync asked
for them: at 2021444's parent, XRPUSDT orders missing after 92 s).  Now
the gap runs from the newest event the stream delivered, and everything
heals.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, skip_in_repeat_pass, fill_checks, settle_said, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

skip_in_repeat_pass("vouch.py (minutes of user data; the key confirmations run under the sanitizers in lost_expiry and gap_handover)", sanitizer=True)


def row(st):
    rows = st.account_rows()
    return rows[0] if rows else {}


with Stack(accounts=1, rate=10, seed=47, shards=1, weight_limit=2400, budget=80,
           exsim_args=["--paused"],
           userdata=["silence_timeout = 75s", "health_check_interval = 1s"]) as st:
    st.prepare()
    st.http("POST", "/sim/step?count=40&ticks=10")
    # Start early in a minute: the budget's minutes are the clock's.
    while not 2 <= time.time() % 60 <= 25:
        time.sleep(0.5)
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(1, 30), "the account is streaming")
    st.fault("resume")
    check(wait_for(lambda: row(st).get("resync") == "running: history", 30),
          "its first resync is in its history steps, waiting for the next minute")
    t_stall = int(time.time() * 1000)
    st.fault("stall")
    check(wait_for(lambda: row(st).get("resync_done_ms", 0) > t_stall, 90),
          "the resync finished after the stall began (%.1f s after)" %
          ((row(st).get("resync_done_ms", 0) - t_stall) / 1000.0))
    kills = st.account_stats().get("silence_kills", -1)
    check(kills == 0, "before the stall was found (%d silence kills)" % kills)
    check(wait_for(lambda: st.account_stats().get("silence_kills", 0) >= 1, 120),
          "then the stall is found")
    check(wait_for(lambda: st.streaming() == 1, 30), "and the account streams again")
    time.sleep(3)
    st.fault("pause")
    check(st.wait_resynced(2, 300), "its gap resynced")
    ok, diffs, took = settle_said(st, timeout=90, show=8)
    check(ok, "database equals the truth (%d accounts differ)" % len(diffs))
    cross, odd = fill_checks(st)
    check(cross == 0 and odd == 0, "no duplicate fill (%d, %d)" % (cross, odd))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
