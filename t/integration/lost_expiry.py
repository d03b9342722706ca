#!/usr/bin/python3
"""A listen key that expires while its connection is stalled (soak seed 7905).

The stall holds every frame, the listenKeyExpired event among them; the
stall is found and the account reconnects with the key it has, which is
dead: Binance delivers nothing on it (FACTS §1.3), and nothing on the
connection looks wrong.  Every account whose frames may have been lost
confirms its key with a keepalive (keys_doubted): the dead one answers
-1125, a new key is made, and the database equals the truth.  Before, the
account stayed subscribed to the dead key until its next renewal (30 min
here) and lost every event meanwhile.

Second (soak seed 8321): the key expires and the expiry is seen, but a
429 storm holds the new key back; a frame that still comes on the dead
key meanwhile (exsim injects one) must not move the cursor the gap starts
from, or the events lost between the expiry and that frame stay lost.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 4


def started(seed, part):
    """A stack of N accounts, streaming: (stack, the victim's exsim id, counters)."""
    st = Stack(accounts=N, rate=60, seed=seed, shards=1,
               userdata=["silence_timeout = 4s", "health_check_interval = 1s",
                         "listenkey_renewal = 30m"])
    try:
        st.prepare()
        check(st.start_daemon(), "%sdaemon up" % part)
        check(st.wait_streaming(N, 30), "%sall %d accounts streaming" % (part, N))
    except BaseException:
        st.stop()
        raise
    return st, st.accounts[sorted(st.accounts)[0]]["id"], st.account_stats()


st, victim, s0 = started(7905, "")
with st:
    st.fault("stall", account=victim)
    time.sleep(0.5)
    st.fault("expire_listen_key", account=victim)
    check(wait_for(lambda: st.account_stats()["silence_kills"] > s0["silence_kills"], 20),
          "the stalled connection is found dead")
    check(wait_for(lambda: st.account_stats()["listen_keys_created"] >
                   s0["listen_keys_created"], 20),
          "the dead key was found out and replaced")
    time.sleep(3)
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=60, show=5)
    check(ok, "database equals the truth for all %d accounts (%d differ)" % (N, len(diffs)))
    s1 = st.account_stats()
    check(s1["keys_doubted"] - s0["keys_doubted"] >= 1 and s1["http_418"] == 0,
          "keys confirmed after the stall: %d" % (s1["keys_doubted"] - s0["keys_doubted"]))
    check(st.stop_daemon() == 0, "TERM: exit 0")

st, victim, s0 = started(8321, "2: ")
with st:
    st.fault("rate_limit_storm", duration_ms=12000)
    st.fault("expire_listen_key", account=victim)
    time.sleep(7)       # the victim's events of these seconds are lost (beyond the 5 s margin)
    st.fault("unknown_event", account=victim, event="GRID_UPDATE")
    check(wait_for(lambda: st.account_stats()["listen_keys_created"] >
                   s0["listen_keys_created"], 30), "2: a new key after the storm")
    time.sleep(3)
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=60, show=5)
    check(ok, "2: database equals the truth for all %d accounts (%d differ)" % (N, len(diffs)))
    check(st.stop_daemon() == 0, "2: TERM: exit 0")
finish()
