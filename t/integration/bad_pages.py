#!/usr/bin/python3
"""Issue 9, item 5 (the REST half): a page that cannot be used never spins a
resync, and never heals a gap it did not cover.

exsim answers the next six signed userTrades requests with a truncated page
(fault "bad_page"), as a page with an id the parser cannot hold did before.
The resync tries the item six times with a backoff, then skips it with an
ERROR and a counter; it ends incomplete: the gap stays in account_gaps and
the account's resync stays pending (tried again after 10 minutes, not at
once).  No more bad pages are asked for after that.  When the account worker
is killed, its successor reads the gap from the database and heals it: the
database ends equal to the truth.  The other accounts are healed meanwhile.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, wait_for, fill_checks  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 3
TRIES = 6


def stats(st):
    return [w["detail"]["role"] for w in st.status()["workers"] if w["role"] == "account"][0]


with Stack(accounts=N, rate=60, seed=41, shards=1) as st:
    st.prepare()
    time.sleep(2)   # some trades in every account before the first resync
    victim = sorted(st.accounts.values(), key=lambda a: a["id"])[0]["id"]
    st.fault("bad_page", path="/fapi/v1/userTrades", count=TRIES, account=victim,
             body='[{"symbol":"BTCUSDT","id":1,"orderId":')
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "%d accounts streaming" % N)
    check(wait_for(lambda: stats(st)["resyncs_incomplete"] >= 1, 90),
          "the item was skipped and the resync ended incomplete")
    s = stats(st)
    bad = st.sim_stats()["rest"]["badPages"]
    check(s["resync_items_skipped"] == 1 and bad == TRIES,
          "one item skipped after %d attempts (%d skipped, %d bad pages served)" %
          (TRIES, s["resync_items_skipped"], bad))
    with open(st.log, errors="replace") as f:
        log = f.read()
    check("resync: trades: skipped after 6 attempts" in log and "resync incomplete" in log,
          "both said at ERROR level in the log")
    rows = st.rows_by_id()
    pending = [i for i, r in rows.items() if r["resync"] == "pending"]
    gaps = {int(r[0]) for r in st.sql("SELECT DISTINCT account_id FROM account_gaps "
                                      "WHERE healed_at IS NULL")}
    check(len(pending) == 1 and set(pending) == gaps,
          "the incomplete account's gap stays open in account_gaps (pending %s, gaps %s)" %
          (pending, sorted(gaps)))
    check(wait_for(lambda: all(r["resync"] == "done" for i, r in st.rows_by_id().items()
                               if i not in pending), 60), "the other accounts healed")
    time.sleep(8)
    s2 = stats(st)
    check(s2["resync_items_skipped"] == 1 and s2["resyncs_incomplete"] == 1 and
          st.sim_stats()["rest"]["badPages"] == TRIES,
          "no spin: 8 s later nothing more skipped, no resync tried again")
    check(st.rows_by_id()[pending[0]]["resync"] == "pending", "the incomplete resync waits")
    # A new owner takes the durable gap over and heals it.
    os.kill(st.worker_pid("account", 0), signal.SIGKILL)
    time.sleep(1)
    check(wait_for(lambda: st.worker_pid("account", 0) is not None and
                   st.streaming() >= N, 30), "the account worker restarted")
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=90, show=3)
    check(ok, "the successor healed the gap: database equals the truth (%.1f s)" % took)
    check(wait_for(lambda: st.sql("SELECT count(*) FROM account_gaps WHERE healed_at IS NULL")
                   [0][0] == "0", 30), "no gap left unhealed in account_gaps")
    cross, odd = fill_checks(st)
    check(cross == 0 and odd == 0, "fills: no duplicate execution, sums match")
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
