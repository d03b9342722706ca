#!/usr/bin/python3
"""A row left behind by a lost update is healed by the next resync, whatever
its state: every order and algo order the database holds in a state that is
not final is asked for, not only those it holds as NEW.

Found by the soak (seed 1003): a kill lost an algo order's FINISHED update
after its TRIGGERED one had landed; the algo was placed before the gap, so
allAlgoOrders from the gap's start did not list it, and the resync asked
only for algos the database held as NEW or TRIGGERING: it stayed TRIGGERED.

The whole kind: once the database equals the truth, rows that ended are
set back to a state before their end, each with an older update time (as a
lost last update leaves them): orders FILLED or CANCELED back to NEW or
PARTIALLY_FILLED, algo orders FINISHED back to TRIGGERED, CANCELED back to
NEW.  A gap (every connection dropped) must bring them all back.  Several
algo orders of one account wait for the orders they placed (older than the
gap, so not in its history): each answer must be matched to the algo that
asked for it (the first fix took the next algo's order for the answer).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 10


def resyncs_done(st):
    return sum(w["detail"]["role"]["resyncs_done"] for w in st.status()["workers"]
               if w["role"] == "account")


with Stack(accounts=N, rate=150, seed=1003, shards=2) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "%d accounts streaming" % N)
    time.sleep(12)
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=90, what="before: ")
    check(ok, "the database equals the truth before (%d differ)" % len(diffs))

    changes = {
        "orders FILLED -> NEW": "UPDATE orders SET status = 'NEW', filled_qty = 0, "
        "update_time = update_time - 1 WHERE (account_id, order_id) IN (SELECT account_id, "
        "order_id FROM orders WHERE status = 'FILLED' ORDER BY order_id LIMIT 10) RETURNING 1",
        "orders CANCELED -> PARTIALLY_FILLED": "UPDATE orders SET status = 'PARTIALLY_FILLED', "
        "update_time = update_time - 1 WHERE (account_id, order_id) IN (SELECT account_id, "
        "order_id FROM orders WHERE status = 'CANCELED' ORDER BY order_id LIMIT 10) RETURNING 1",
        "algo orders FINISHED -> TRIGGERED": "UPDATE algo_orders SET status = 'TRIGGERED', "
        "filled_qty = 0, update_time = update_time - 1 WHERE (account_id, algo_id) IN (SELECT "
        "account_id, algo_id FROM algo_orders WHERE status = 'FINISHED' ORDER BY algo_id "
        "LIMIT 40) RETURNING 1",
        "algo orders CANCELED -> NEW": "UPDATE algo_orders SET status = 'NEW', update_time = "
        "update_time - 1 WHERE (account_id, algo_id) IN (SELECT account_id, algo_id FROM "
        "algo_orders WHERE status = 'CANCELED' ORDER BY algo_id LIMIT 10) RETURNING 1",
    }
    for what, q in changes.items():
        n = len(st.sql(q))
        check(n > 0, "set back: %d %s" % (n, what))
    diffs = st.compare_all()
    check(len(diffs) > 0, "the comparison sees them (%d accounts differ)" % len(diffs))
    r0 = resyncs_done(st)
    st.fault("drop")
    check(wait_for(lambda: resyncs_done(st) >= r0 + N, 60), "every account resynced")
    ok, diffs, took = settle_said(st, timeout=60, what="after: ")
    check(ok, "every row set back is healed: the database equals the truth (%d differ)" %
          len(diffs))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
