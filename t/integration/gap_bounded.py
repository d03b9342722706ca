#!/usr/bin/python3
"""A resync's history covers the gap, not what the stream brought after it.

exsim starts paused.  Every connection is stalled (nothing delivered,
nothing detected: silence_timeout is long), a little activity runs (the
gap), exsim refuses all REST for a while (a 429 storm: no resync can run),
the connections drop and come back, and, with the stream back, much more
activity runs in every symbol.  Then the storm ends and the resyncs run.

Checks, against exsim's journal of the signed requests it served:
- the database equals the truth on every field both sides carry;
- no history request (userTrades, allOrders, allAlgoOrders) asks past the
  stream's return: endTime before the activity that followed it;
- allOrders and allAlgoOrders are asked only for symbols with a fill in
  the gap, and at least one (account, symbol) that traded only after the
  stream came back was spared them;
- each gap is healed up to no later than that activity (healed_until).
A build that asks history up to the moment of each request, for every
symbol whose position moved since the gap began, fails the last three.
GB_SEEDS (default "5") and N (default 10) size it.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import GAP_MARGIN_MS, Stack, settle_said, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

SEEDS = [int(s) for s in os.environ.get("GB_SEEDS", "5").split()]
N = int(os.environ.get("N", "10"))
HISTORY = ("/fapi/v1/userTrades", "/fapi/v1/allOrders", "/fapi/v1/allAlgoOrders")


def now_ms():
    return int(time.time() * 1000)


for seed in SEEDS:
    with Stack(accounts=N, rate=0, seed=seed, shards=1, exsim_args=["--paused"],
               userdata=["silence_timeout = 60s", "health_check_interval = 30s"]) as st:
        st.prepare()
        check(st.start_daemon(), "seed %d: daemon up" % seed)
        check(st.wait_streaming(N, 30), "seed %d: %d accounts streaming" % (seed, N))
        check(wait_for(lambda: st.account_stats()["resyncs_done"] >= N, 60),
              "seed %d: the first resync of an empty database done" % seed)
        s0 = st.account_stats()
        t_gap = now_ms()
        st.fault("stall")
        st.http("POST", "/sim/step?count=%d&ticks=10" % (8 * N))
        st.fault("rate_limit_storm", duration_ms=25000)
        st.fault("drop")
        # A connection's gap opens when its replacement is ready: the stream is back.
        back = wait_for(lambda: st.account_stats()["gaps_opened"] - s0["gaps_opened"] >= N, 20)
        time.sleep(GAP_MARGIN_MS / 1000 + 1)
        t_after = now_ms()
        early = st.account_stats()["resyncs_done"] - s0["resyncs_done"]
        check(back and early == 0, "seed %d: the stream back for every account, no resync "
              "done yet (%d)" % (seed, early))
        st.http("POST", "/sim/step?count=%d&ticks=10" % (40 * N))
        time.sleep(1)
        ok, diffs, took = settle_said(st, timeout=150, what="seed %d: " % seed)
        check(ok, "seed %d: database equals the truth (%d of %d accounts differ)" %
              (seed, len(diffs), N))
        check(wait_for(lambda: st.account_stats()["resyncs_done"] - s0["resyncs_done"] >= N,
                       60), "seed %d: every account resynced" % seed)
        s1 = st.account_stats()
        done = s1["resyncs_done"] - s0["resyncs_done"]
        print("# seed %d: %d resyncs, %.1f weight and %.1f requests each" %
              (seed, done, (s1["resync_weight"] - s0["resync_weight"]) / max(done, 1),
               (s1["resync_requests"] - s0["resync_requests"]) / max(done, 1)))

        late_end, extra, spared, gap_syms_total = [], [], 0, 0
        for dbid, a in sorted(st.accounts.items()):
            truth = st.sim_state(a["id"])
            gap_syms = {f["s"] for f in truth["fills"]
                        if t_gap - GAP_MARGIN_MS <= f["T"] < t_after}
            after_syms = {f["s"] for f in truth["fills"] if f["T"] >= t_after}
            gap_syms_total += len(gap_syms)
            asked = {}
            for r in st.http("GET", "/sim/requests?account=%d" % a["id"]):
                if r["t"] < t_after or r["path"] not in HISTORY:
                    continue
                asked.setdefault(r["path"], set()).add(r["symbol"])
                if r["endTime"] >= t_after:
                    late_end.append((dbid, r["path"], r["symbol"], r["endTime"] - t_after))
            for path in HISTORY[1:]:
                for sym in asked.get(path, set()) - gap_syms:
                    extra.append((dbid, path, sym))
            spared += len((after_syms - gap_syms) - asked.get(HISTORY[1], set()))
        print("# seed %d: %d (account, symbol) with a fill in the gap" % (seed, gap_syms_total))
        check(not late_end, "seed %d: no history asked past the stream's return (%d asked "
              "later, first %s)" % (seed, len(late_end), late_end[:3]))
        check(not extra, "seed %d: orders asked only where the gap had a fill (%d not, "
              "first %s)" % (seed, len(extra), extra[:3]))
        check(spared > 0, "seed %d: %d (account, symbol) traded only after the stream came "
              "back, and were not asked their orders" % (seed, spared))
        late_heal = st.sql("SELECT count(*) FROM account_gaps WHERE healed_until >= %d AND "
                           "since >= %d" % (t_after, t_gap - 60000))[0][0]
        healed = st.sql("SELECT count(*) FROM account_gaps WHERE healed_at IS NOT NULL AND "
                        "since >= %d" % (t_gap - 60000))[0][0]
        check(int(healed) >= N and int(late_heal) == 0,
              "seed %d: the gaps healed up to the stream's return (%s healed, %s past it)" %
              (seed, healed, late_heal))
        check(st.stop_daemon() == 0, "seed %d: TERM: exit 0" % seed)
finish()
