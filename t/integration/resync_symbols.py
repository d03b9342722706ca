#!/usr/bin/python3
"""Issue 9, items 3, 8 and 9: a resync finds what happened in a gap in
symbols the account never traded before, at a cost that does not grow with
the symbols configured or ever traded.

`[market] symbols` names one symbol.  exsim starts paused, so the accounts
have no history; their connections are stalled (nothing delivered, nothing
detected: silence_timeout is long), exsim runs activity in all five of its
symbols, then the connections drop and the resync heals the gap: orders,
fills, algo orders (with the filled quantity REST rows lack), positions
that went flat (margin type and update time exact), balances, leverage.
A second gap, the same way.  The database equals the truth on every field
both times; the only orders allowed missing are the documented ones (born
and ended unfilled inside the gap).  Also: the first resync of an empty
database asks for history within the documented 7-day windows (exsim
refuses anything else).  RS_SEEDS (default "3 11") and RS_ACCOUNTS (20) size it.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, wait_for, fill_checks  # noqa: E402
from tapcheck import check, finish  # noqa: E402

SEEDS = [int(s) for s in os.environ.get("RS_SEEDS", "3 11").split()]
N = int(os.environ.get("RS_ACCOUNTS", os.environ.get("CONVERGE_ACCOUNTS", "20")))
N = min(N, 20)
STEPS = 60 * N


def account_stats(st):
    return [w["detail"]["role"] for w in st.status()["workers"] if w["role"] == "account"][0]


def gap(st, n):
    """Stall every connection, run n steps of activity, drop the connections."""
    st.fault("stall")
    st.http("POST", "/sim/step?count=%d&ticks=10" % n)
    st.fault("drop")


for seed in SEEDS:
    with Stack(accounts=N, rate=0, seed=seed, shards=1, exsim_args=["--paused"],
               market_symbols=["BTCUSDT"],
               userdata=["silence_timeout = 60s", "health_check_interval = 30s"]) as st:
        st.prepare()
        check(st.start_daemon(), "seed %d: daemon up" % seed)
        check(st.wait_streaming(N, 30), "seed %d: %d accounts streaming" % (seed, N))
        check(wait_for(lambda: account_stats(st)["resyncs_done"] >= N, 60),
              "seed %d: the first resync of an empty database done" % seed)
        for k in (1, 2):
            s0 = account_stats(st)
            gap(st, STEPS)
            time.sleep(1)
            ok, diffs, took = settle_said(st, timeout=120, what="seed %d, gap %d: " % (seed, k))
            check(ok, "seed %d, gap %d: new symbols healed, database equals the truth "
                  "(%d of %d accounts differ)" % (seed, k, len(diffs), N))
            s1 = account_stats(st)
            done = s1["resyncs_done"] - s0["resyncs_done"]
            print("# seed %d, gap %d: %d resyncs, %.1f weight and %.1f requests each" %
                  (seed, k, done, (s1["resync_weight"] - s0["resync_weight"]) / max(done, 1),
                   (s1["resync_requests"] - s0["resync_requests"]) / max(done, 1)))
        syms = st.sql("SELECT count(DISTINCT symbol) FROM fills")[0][0]
        check(int(syms) > 1, "seed %d: fills in %s symbols, only one configured" % (seed, syms))
        cross, odd = fill_checks(st)
        check(cross == 0 and odd == 0, "seed %d: fills: no duplicate execution" % seed)
        s = account_stats(st)
        check(s["resync_items_skipped"] == 0 and s["resync_rows_dropped"] == 0,
              "seed %d: no resync item skipped, no row dropped" % seed)
        rest = st.sim_stats()["rest"]
        check(rest["http429"] == 0 and rest["http418"] == 0, "seed %d: no 429, no 418" % seed)
        # exsim refuses a history window of 7 days or more: none was asked
        check(s["rest_errors"] == 0, "seed %d: no REST error answer (%d)" % (seed, s["rest_errors"]))
        check(st.stop_daemon() == 0, "seed %d: TERM: exit 0" % seed)
finish()
