#!/usr/bin/python3
"""Issue 9, item 4: a rate-limit storm never ends in an IP ban.

Three account workers share the host's REST budget (budget.c).  While they
resync after a full drop, exsim answers 429 to everything for a while (a
storm, twice), and one account worker is killed (-9) inside the Retry-After
window.  exsim bans an IP (418) once three requests ignore a 429: none may.
The restarted worker inherits the host's wait; requests already on their
way are not retried into it.  Afterwards the database equals the truth.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = int(os.environ.get("CONVERGE_ACCOUNTS", "60"))


def workers(st):
    return [w for w in st.status()["workers"] if w["role"] == "account"]


with Stack(accounts=N, rate=300, seed=17, shards=3, weight_limit=2400, budget=1800) as st:
    st.prepare()
    st.fault("pause")
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 60), "all %d accounts streaming" % N)
    st.fault("resume")
    for round_ in (1, 2):
        time.sleep(2)
        st.fault("drop")
        time.sleep(0.5)
        st.fault("rate_limit_storm", duration_ms=8000)
        check(wait_for(lambda: st.sim_stats()["rest"]["http429"] > 0, 10),
              "storm %d: the first 429 came" % round_)
        victim = st.worker_pid("account", 1)
        os.kill(victim, signal.SIGKILL)
        check(wait_for(lambda: st.worker_pid("account", 1) not in (None, victim), 15),
              "storm %d: account worker 1 killed -9 in the Retry-After window, restarted" %
              round_)
        blocked = [w["detail"]["role"]["host_rest_blocked_ms"] for w in workers(st)
                   if w["instance"] == 1]
        check(blocked and blocked[0] > 0,
              "storm %d: the restarted worker knows the host is blocked (%s ms left)" %
              (round_, blocked[0] if blocked else None))
        time.sleep(8)
    st.fault("pause")
    rest = st.sim_stats()["rest"]
    print("# exsim rest stats:", rest)
    check(rest["http418"] == 0 and rest["bans"] == 0,
          "no IP ban: %d 429s, %d 418s" % (rest["http429"], rest["http418"]))
    check(rest["http429"] <= 6,
          "at most one request met each 429 window per in-flight slot (%d 429s)" % rest["http429"])
    ok, diffs, took = settle(st, timeout=240)
    print("# settled in %.1f s" % took)
    for dbid, d in list(diffs.items())[:5]:
        for line in d:
            print("#   account %d: %s" % (dbid, line))
    check(ok, "database equals the truth for all %d accounts (%d differ)" % (N, len(diffs)))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
