#!/usr/bin/python3
"""Issue 4: pings.  With exsim's clock 60 times faster (a server ping every
3 s, the pong deadline 10 s), the account workers answer every ping: no
connection is dropped for a missing pong.  When exsim loses one account's
pongs (fault ignore_pongs), it drops that connection; the worker
reconnects, resyncs, and the account streams again."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 4


with Stack(accounts=N, rate=10, seed=5, shards=1, weight_limit=2400, budget=2000,
           exsim_args=["--time-scale", "60"],
           userdata=["listenkey_renewal = 5s"]) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(wait_for(lambda: sum(r["state"] == "streaming" for r in st.rows_by_id().values()) == N, 20),
          "all accounts streaming")
    # (Counted from here: under load the keys come in over a while, and a
    # connection that gains members is replaced once at the start.)
    c0 = st.sim_stats()["connections"]
    time.sleep(14)
    c = st.sim_stats()["connections"]
    check(c["droppedPongTimeout"] == 0 and c["total"] == c0["total"] and c["open"] == 1,
          "14 s of server pings every 3 s: answered, no drop (%s, then %s)" % (c0, c))
    victim = sorted(st.accounts)[0]
    rec0 = st.rows_by_id()[victim]["reconnects"]
    st.fault("ignore_pongs", account=st.accounts[victim]["id"])
    check(wait_for(lambda: st.sim_stats()["connections"]["droppedPongTimeout"] >= 1, 20),
          "pongs lost: exsim drops the connection")
    check(wait_for(lambda: st.rows_by_id()[victim]["reconnects"] > rec0 and
               all(r["state"] == "streaming" for r in st.rows_by_id().values()), 15),
          "the worker reconnected; every account streams")
    check(wait_for(lambda: st.rows_by_id()[victim]["resync"] == "done", 15), "and resynced")
finish()
