#!/usr/bin/python3
"""Issue 9, item 10: renewals never starve new listen keys.

50 accounts on one worker, listen keys renewed every second, the REST
concurrency of the host at 1: every account gets its key and streams
within 20 s, and the new keys (POST) went out before the renewals (PUT)
that were due at the same time: no account waited behind a renewal.
Then every key expires at once (exsim's listenKeyExpired): they are all
created again before renewals resume.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 50

with Stack(accounts=N, rate=20, seed=23, shards=1, weight_limit=2400, budget=1800,
           userdata=["listenkey_renewal = 1s"]) as st:
    st.prepare()
    t0 = time.time()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 20), "all %d accounts streaming within 20 s (%.1f s)" %
          (N, time.time() - t0))
    rest = st.sim_stats()["rest"]
    check(rest["listenKeyPost"] == N, "one POST per account (%d)" % rest["listenKeyPost"])
    time.sleep(3)
    st.fault("pause")
    for a in st.accounts.values():
        st.fault("expire_listen_key", account=a["id"])
    t1 = time.time()
    check(wait_for(lambda: st.sim_stats()["rest"]["listenKeyPost"] >= 2 * N, 20),
          "every expired key created again (%.1f s)" % (time.time() - t1))
    check(st.wait_streaming(N, 20), "and every account streams")
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
