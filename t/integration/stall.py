#!/usr/bin/python3
"""Issue 9, item 1: every wait on the exchange has a deadline.

A stalled connection (exsim fault "stall": the socket stays up, nothing is
delivered, pings are still answered) is detected within silence_timeout and
replaced, and its accounts lose nothing: the database equals the truth.
A replacement connection whose SUBSCRIBE is never answered (exsim stalls the
next connection) is given up after the SUBSCRIBE deadline and tried again.
An idle connection (no events: exsim paused) is not taken for a stalled
one: the probe sent on it is answered.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

# 20 accounts on one connection: 16 listen keys in the URL, 4 by SUBSCRIBE.
N = 20


def account_stats(st):
    return [w["detail"]["role"] for w in st.status()["workers"] if w["role"] == "account"][0]


with Stack(accounts=N, rate=200, seed=2718, shards=1,
           userdata=["silence_timeout = 5s", "health_check_interval = 1s"]) as st:
    st.prepare()
    st.fault("pause")
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "all %d accounts streaming" % N)

    # Idle: no event for 8 s, longer than silence_timeout; the probes keep it alive.
    # (Once the connection set is settled: under load the listen keys come in
    # over a while, and a group's membership changes go through replacements.)
    def settled_conns():
        a = st.sim_stats()["connections"]
        time.sleep(1)
        b = st.sim_stats()["connections"]
        return a["total"] == b["total"] and b["open"] == 1
    wait_for(settled_conns, 20)
    c0 = st.sim_stats()["connections"]["total"]
    time.sleep(8)
    s = account_stats(st)
    check(s["silence_kills"] == 0 and s["probes"] >= 3,
          "an idle connection is probed, not killed (%d probes, %d silence kills)" %
          (s["probes"], s["silence_kills"]))
    c1 = st.sim_stats()["connections"]["total"]
    if not check(c1 == c0, "no connection replaced while idle (%d, then %d connections made)" %
                 (c0, c1)):
        print("".join("# " + l for l in st.log_tail(60).splitlines(True)
                      if "connection" in l or "account 0" in l))

    # A stall while events flow.
    st.fault("resume")
    time.sleep(2)
    t0 = time.time()
    st.fault("stall", account=st.accounts[sorted(st.accounts)[0]]["id"])
    check(wait_for(lambda: account_stats(st)["silence_kills"] >= 1, 20),
          "the stalled connection is found dead (%.1f s after the stall)" % (time.time() - t0))
    check(wait_for(lambda: st.streaming() == N, 20), "and replaced: all accounts streaming again")
    with open(st.log) as f:
        log = f.read()
    check("no event and no answer to a probe for longer than silence_timeout" in log or
          "no event for longer than silence_timeout" in log, "the log says why")

    # A replacement whose SUBSCRIBE is never answered.
    st.fault("stall", next=1)
    st.fault("drop")
    check(wait_for(lambda: account_stats(st)["subscribe_timeouts"] >= 1, 30),
          "the stalled replacement's SUBSCRIBE timed out")
    check(wait_for(lambda: st.streaming() == N, 30), "then a new connection: all streaming")
    time.sleep(5)
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=90, show=5)
    check(ok, "database equals the truth for all %d accounts (%d differ)" % (N, len(diffs)))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
