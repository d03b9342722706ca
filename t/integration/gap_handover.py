#!/usr/bin/python3
"""Issue 9, items 2 and 11: an unhealed gap is durable and any owner heals it.

1. Seed 5, 40 accounts, one shard, 800 events/s: a rate-limit storm from
   2 s keeps resyncs from running (12 s here, 40 s in the issue's report:
   only the wait differs); every connection drops at 5 s; the account
   worker is killed (-9) at 9 s and 13 s, inside the storm.  The gaps opened before
   each kill are in account_gaps, the restarted worker heals them, and the
   database ends equal to the truth.
2. A HUP that changes account_shards moves accounts to another worker in
   the middle of unhealed gaps: the new owners heal them, and the log says
   the accounts moved (not "removed or disabled").
3. Data-plane overflow: the writer is stopped (SIGSTOP) while events flow,
   the account worker drops its oldest events past max_unacked, and the gap
   runs from the oldest event dropped, not the newest.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, wait_for, fill_checks  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = int(os.environ.get("CONVERGE_ACCOUNTS", "40"))
RATE = 800 if N >= 40 else 300


def open_gaps(st):
    return int(st.sql("SELECT count(*) FROM account_gaps WHERE healed_at IS NULL")[0][0])


with Stack(accounts=N, rate=RATE, seed=5, shards=1, userdata=["max_unacked = 2000"]) as st:
    st.prepare()
    st.fault("pause")
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 60), "all %d accounts streaming" % N)
    check(wait_for(lambda: open_gaps(st) == 0, 120), "the start's gaps healed")
    st.fault("resume")
    t0 = time.time()
    kills = []
    plan = [(2, "storm"), (5, "drop"), (9, "kill"), (13, "kill")]
    while plan:
        at, what = plan[0]
        if time.time() - t0 < at:
            time.sleep(0.05)
            continue
        plan.pop(0)
        print("# %4.1fs %s" % (time.time() - t0, what), flush=True)
        if what == "storm":
            st.fault("rate_limit_storm", duration_ms=12000)
        elif what == "drop":
            st.fault("drop")
        else:
            if what == "kill" and len(kills) == 0:
                check(open_gaps(st) > 0, "before the first kill: %d unhealed gaps recorded" %
                      open_gaps(st))
            pid = st.worker_pid("account", 0)
            os.kill(pid, signal.SIGKILL)
            kills.append(pid)
            wait_for(lambda: st.worker_pid("account", 0) not in (None, pid), 10)
    time.sleep(1)
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=240)
    check(ok, "kills in the middle of gaps: database equals the truth (%d differ)" % len(diffs))
    check(wait_for(lambda: open_gaps(st) == 0, 60), "every gap healed in the end")
    cross, odd = fill_checks(st)
    check(cross == 0 and odd == 0, "fills: no trade id twice for one order (%d, %d)" % (cross, odd))
    rest = st.sim_stats()["rest"]
    check(rest["http418"] == 0, "no IP ban (418: %d, 429: %d)" % (rest["http418"], rest["http429"]))

    # ------------------------------------------------ a shard move mid-gap
    st.fault("resume")
    time.sleep(2)
    st.fault("rate_limit_storm", duration_ms=8000)
    st.fault("drop")
    time.sleep(2)
    st.shards = 2
    st.write_config()
    st.daemon.send_signal(signal.SIGHUP)
    check(wait_for(lambda: st.worker_pid("account", 1) is not None, 20), "HUP: account worker 1 up")
    time.sleep(1)
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=180)
    check(ok, "a shard move mid-gap: database equals the truth (%d differ)" % len(diffs))
    with open(st.log) as f:
        log = f.read()
    moved = [l for l in log.splitlines() if "now served by account worker 1" in l]
    wrong = [l for l in log.splitlines() if "removed or disabled in the database" in l]
    check(len(moved) == N // 2 and not wrong,
          "the log says %d accounts moved, none 'removed or disabled' (%d)" % (len(moved), len(wrong)))

    # ------------------------------------------------ data-plane overflow
    writer = st.worker_pid("writer", 0)
    st.fault("resume")
    def drops():
        return sum(w["detail"]["role"].get("dp_overflow_drops", 0)
                   for w in st.status()["workers"] if w["role"] == "account")
    # The smallest buffer, so that it overflows at whatever rate the machine
    # gives exsim (under the sanitizers too) well within the supervisor's
    # heartbeat_timeout (15 s), which would replace a writer stopped longer.
    st.userdata = [u for u in st.userdata if not u.startswith("max_unacked")] + \
        ["max_unacked = 100"]
    st.write_config()
    st.daemon.send_signal(signal.SIGHUP)
    time.sleep(2)
    os.kill(writer, signal.SIGSTOP)
    wait_for(lambda: drops() > 0, 8, every=0.5)
    time.sleep(1)
    os.kill(writer, signal.SIGCONT)
    st.fault("pause")
    check(drops() > 0, "the writer stopped: the account workers dropped %d events (max_unacked)" %
          drops())
    ok, diffs, took = settle_said(st, timeout=180)
    check(ok, "after the overflow: database equals the truth (%d differ)" % len(diffs))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
