#!/usr/bin/python3
"""Issue 4: pings.  With exsim's clock 60 times faster (a server ping every
3 s, the pong deadline 10 s), the account workers answer every ping: no
connection is dropped for a missing pong.  When exsim loses one account's
pongs (fault ignore_pongs), it drops that connection; the worker
reconnects, resyncs, and the account streams again."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import EXFEEDD, Stack  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 4


def start_daemon(st):
    st.daemon = subprocess.Popen([EXFEEDD, "-f", "-c", st.conf], stdout=subprocess.DEVNULL,
                                 stderr=open(st.log, "a"))
    end = time.time() + 15
    while time.time() < end:
        out = st.ctl("--json", "status", check=False)
        if out.returncode == 0:
            ws = json.loads(out.stdout)["workers"]
            if ws and all(w["state"] == "ready" for w in ws):
                return True
        time.sleep(0.1)
    return False


def rows(st):
    return {r["id"]: r for r in st.account_rows()}


def wait(cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


with Stack(accounts=N, rate=10, seed=5, shards=1, weight_limit=2400, budget=2000,
           exsim_args=["--time-scale", "60"],
           userdata=["listenkey_renewal = 5s"]) as st:
    st.prepare()
    check(start_daemon(st), "daemon up")
    check(wait(lambda: sum(r["state"] == "streaming" for r in rows(st).values()) == N, 20),
          "all accounts streaming")
    time.sleep(14)
    c = st.sim_stats()["connections"]
    check(c["droppedPongTimeout"] == 0 and c["total"] == 1,
          "14 s of server pings every 3 s: answered, no drop (%s)" % c)
    victim = sorted(st.accounts)[0]
    rec0 = rows(st)[victim]["reconnects"]
    st.fault("ignore_pongs", account=st.accounts[victim]["id"])
    check(wait(lambda: st.sim_stats()["connections"]["droppedPongTimeout"] >= 1, 20),
          "pongs lost: exsim drops the connection")
    check(wait(lambda: rows(st)[victim]["reconnects"] > rec0 and
               all(r["state"] == "streaming" for r in rows(st).values()), 15),
          "the worker reconnected; every account streams")
    check(wait(lambda: rows(st)[victim]["resync"] == "done", 15), "and resynced")
finish()
