#!/usr/bin/python3
"""Issue 4: listen keys survive restarts.  A warm restart of the whole
daemon within the keys' validity makes ZERO POST /fapi/v1/listenKey (exsim
/sim/stats) and every account streams again; so does an account worker
killed with SIGKILL and respawned.  The stored keys are sealed in the
database, never in clear."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 8


with Stack(accounts=N, rate=20, seed=3, shards=2, weight_limit=2400, budget=2000) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(wait_for(lambda: st.streaming() == N, 30), "all %d accounts streaming" % N)
    posts = st.sim_stats()["rest"]["listenKeyPost"]
    check(posts == N, "first start: one POST per account (%d)" % posts)
    keys = {a["id"]: st.sim_state(a["id"])["listenKey"] for a in st.accounts.values()}
    stored = st.sql("SELECT count(*) FROM exchange_accounts WHERE listen_key_encrypted IS NOT NULL"
                    " AND listen_key_expires_at > now() + interval '50 minutes'")
    check(int(stored[0][0]) == N, "listen keys stored with their expiry")
    raw = st.sql("SELECT encode(listen_key_encrypted, 'escape') FROM exchange_accounts")
    check(not any(k in r[0] for r in raw for k in keys.values()), "listen keys stored sealed")

    check(st.stop_daemon() == 0, "daemon stopped")
    check(st.start_daemon(), "daemon started again")
    check(wait_for(lambda: st.streaming() == N, 30), "warm restart: all accounts streaming again")
    ev0 = sum(sum(st.sim_state(a["id"])["eventsSent"].values()) for a in st.accounts.values())
    check(wait_for(lambda: sum(sum(st.sim_state(a["id"])["eventsSent"].values())
                           for a in st.accounts.values()) > ev0 + 10, 15),
          "warm restart: exsim delivers on the reused keys")
    check(st.sim_stats()["rest"]["listenKeyPost"] == posts,
          "warm restart: zero POST /fapi/v1/listenKey")
    check({a["id"]: st.sim_state(a["id"])["listenKey"] for a in st.accounts.values()} == keys,
          "warm restart: the same keys")

    pid = st.worker_pid("account", 1)
    os.kill(pid, signal.SIGKILL)
    check(wait_for(lambda: (st.worker_pid("account", 1) or pid) != pid, 10), "account 1 respawned")
    check(wait_for(lambda: st.streaming() == N, 20), "after SIGKILL: all accounts streaming")
    check(st.sim_stats()["rest"]["listenKeyPost"] == posts, "after SIGKILL: zero POST")
    stats = st.sim_stats()["rest"]
    check(stats["http429"] == 0 and stats["http418"] == 0, "no 429, no 418")
finish()
