#!/usr/bin/python3
"""Listen keys outlive a minute-filling resync backlog (soak seed 1005).

40 accounts start from an empty database, so each needs a full resync,
under a budget of 300 weight a minute: the resyncs' history fills every
minute for minutes.  Keys live one minute (exsim --time-scale 60) and are
renewed every 20 s: 120 renewals a minute.  Resyncs left a fixed fiftieth
(7) of the minute, and the exchange's count stopped resyncs and renewals
at the same 95%: the renewals not made expired at the minute's end.  Now
the worker tells the host what its keys need and resyncs leave that much:
no key expires, no renewal fails, one POST per account, while the resyncs
still spend the rest of each minute.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, skip_in_repeat_pass, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

skip_in_repeat_pass("key_reserve.py (minutes of user data; the account worker's REST and listen-key paths run under the sanitizers in restate, listen_keys, lost_expiry)", sanitizer=True)

N = 40
RUN_S = 150


with Stack(accounts=N, rate=40, seed=31, shards=1, weight_limit=2400, budget=300,
           exsim_args=["--time-scale", "60", "--history", "400"],
           userdata=["listenkey_renewal = 20s"]) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "all %d accounts streaming" % N)
    t0 = time.time()
    busy = 0
    while time.time() - t0 < RUN_S:
        time.sleep(10)
        s = st.account_stats()
        busy += s.get("resyncs_running", 0) + s.get("resyncs_pending", 0) > 0
    s = st.account_stats()
    sim = st.sim_stats()
    check(busy >= 10, "resyncs waited on the budget for %d of %d samples (%d weight)" %
          (busy, RUN_S // 10, s.get("resync_weight", 0)))
    expired = sim["eventsSent"]["listenKeyExpired"]
    check(expired == 0, "no listen key expired (%d listenKeyExpired sent)" % expired)
    check(s.get("renewals_failed", -1) == 0 and s.get("renewals_ok", 0) >= N * (RUN_S // 20 - 1),
          "every renewal made in time: %d ok, %d failed" %
          (s.get("renewals_ok", 0), s.get("renewals_failed", -1)))
    check(sim["rest"]["listenKeyPost"] == N, "one POST per account (%d)" %
          sim["rest"]["listenKeyPost"])
    check(sim["rest"]["http429"] == 0 and sim["rest"]["http418"] == 0, "no 429, no 418")
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
