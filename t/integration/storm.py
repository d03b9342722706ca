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
from stack import Stack, settle_said, wait_for, skip_in_repeat_pass  # noqa: E402

skip_in_repeat_pass("storm.py")
from tapcheck import check, finish  # noqa: E402

N = int(os.environ.get("CONVERGE_ACCOUNTS", "60"))


def workers(st):
    return [w for w in st.status()["workers"] if w["role"] == "account"]


def resyncs_done(st):
    return all(r["resync"] == "done" for r in st.account_rows())


def blocked_ms(st, inst):
    for w in workers(st):
        if w["instance"] == inst and w.get("detail"):
            return w["detail"]["role"]["host_rest_blocked_ms"]
    return None


with Stack(accounts=N, rate=300, seed=17, shards=3) as st:
    st.prepare()
    st.fault("pause")
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 60), "all %d accounts streaming" % N)
    check(wait_for(lambda: resyncs_done(st), 60), "the first resyncs done")
    st.fault("resume")
    n429 = 0
    for round_ in (1, 2):
        time.sleep(2)
        # every account resyncs after the drop: requests are on their way when the storm begins
        st.fault("drop")
        wait_for(lambda: any(r["resync"].startswith("running") for r in st.account_rows()), 10,
                 every=0.02)
        st.fault("rate_limit_storm", duration_ms=8000)
        check(wait_for(lambda: st.sim_stats()["rest"]["http429"] > n429, 10, every=0.05),
              "storm %d: the first 429 came" % round_)
        victim = st.worker_pid("account", 1)
        os.kill(victim, signal.SIGKILL)
        check(wait_for(lambda: st.worker_pid("account", 1) not in (None, victim), 15),
              "storm %d: account worker 1 killed -9 in the Retry-After window, restarted" %
              round_)
        check(wait_for(lambda: (blocked_ms(st, 1) or 0) > 0, 5, every=0.05),
              "storm %d: the restarted worker knows the host is blocked (%s ms left)" %
              (round_, blocked_ms(st, 1)))
        time.sleep(8)
        n429 = st.sim_stats()["rest"]["http429"]
    st.fault("pause")
    rest = st.sim_stats()["rest"]
    print("# exsim rest stats:", rest)
    check(rest["http418"] == 0 and rest["bans"] == 0,
          "no IP ban: %d 429s, %d 418s" % (rest["http429"], rest["http418"]))
    check(rest["http429"] <= 2 * 2,
          "per storm, only the requests already on their way met a 429 (%d 429s, at most "
          "rest_concurrency = 2 per storm)" % rest["http429"])
    ok, diffs, took = settle_said(st, timeout=240, show=5)
    check(ok, "database equals the truth for all %d accounts (%d differ)" % (N, len(diffs)))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
