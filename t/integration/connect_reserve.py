#!/usr/bin/python3
"""Connections renewed for their age leave the connect budget to needed ones.

Soak seed 1005: with short connection_max_age and many small groups, the
renewals used up the host's connection attempts for five minutes; accounts
with new listen keys then waited minutes for a connection.  Renewals now
use at most half of connect_budget, and a renewal refused for that does
not hold back its group once the group needs a connection (helper review:
the refused renewal's wait, up to five minutes, did).

20 accounts in 10 groups, connect_budget 24, connection_max_age 3 s: the
renewals soon stop at half the window.  Then four accounts' listen keys
expire: they must stream again within seconds, on connections the reserve
kept for them.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 20


with Stack(accounts=N, rate=50, seed=9, shards=1,
           userdata=["connection_max_age = 3s", "accounts_per_connection = 2"],
           exchange=["connect_budget = 24"]) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "%d accounts streaming" % N)
    check(wait_for(lambda: st.account_stats()["max_age_deferred"] > 0, 30),
          "renewals for age stopped at half the budget (%d refused, %d attempts in 5 min)" %
          (st.account_stats()["max_age_deferred"], st.account_stats()["host_connects_5m"]))
    time.sleep(4)   # every group has tried a renewal and waits
    s = st.account_stats()
    check(s["host_connects_5m"] <= 24 // 2 + 2,
          "renewals kept to half the window: %d attempts" % s["host_connects_5m"])
    for a in (1, 4, 7, 10):
        st.fault("expire_listen_key", account=st.accounts[a]["id"])
    t0 = time.time()
    check(wait_for(lambda: st.sim_stats()["rest"]["listenKeyPost"] >= N + 4, 15),
          "four new listen keys")
    check(st.wait_streaming(N, 20), "every account streams again after %.1f s" %
          (time.time() - t0))
    check(st.account_stats()["host_connects_5m"] <= 24, "within connect_budget (%d)" %
          st.account_stats()["host_connects_5m"])
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
