#!/usr/bin/python3
"""Issue 12, acceptance 2: local order books.  Two symbols' depth@100ms
diffs for about a minute while exsim injects sequence gaps (depth_gap, each
one diff lost, so the next one's pu does not chain) and disconnects
(kill_market).  Checked on what the worker published (Kafka
websocket.depth, read back with kcat): every published top 20 equals
exsim's own book at the same update id (/sim/book), both sides, every price
and quantity; never a crossed or unordered book; per symbol the update ids
only go up.  Every injected gap caused exactly one resync (the worker's
books.<symbol>.resyncs_gap equals exsim's depthGaps count) and each
disconnect one (resyncs_lost), and no snapshot failed to connect."""
import json
import os
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, kafka_read, skip_in_repeat_pass, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

SYMS = ["BTCUSDT", "ETHUSDT"]
DEPTH = 20


def market(st):
    for w in st.status()["workers"]:
        if w["role"] == "market":
            return w.get("detail", {}).get("role")
    return None


def synced(st):
    m = market(st)
    return m is not None and all(m["books"].get(s, {}).get("synced") and
                                 m["books"][s]["published"] > 0 for s in SYMS)


def well_formed(ev):
    b = [Decimal(p) for p, _ in ev["bids"]]
    a = [Decimal(p) for p, _ in ev["asks"]]
    qs = [Decimal(q) for _, q in ev["bids"] + ev["asks"]]
    return (all(x > y for x, y in zip(b, b[1:])) and all(x < y for x, y in zip(a, a[1:])) and
            (not b or not a or b[0] < a[0]) and all(q > 0 for q in qs))


def main():
    # book.c runs under the sanitizers in book_test's random walk.
    skip_in_repeat_pass("market_book (a minute of diffs)", sanitizer=True)
    with Stack(accounts=1, rate=20, market_symbols=SYMS, exsim_args=["--book-history", "180"],
               market=["streams = depth@100ms", "book_depth = %d" % DEPTH,
                       "book_snapshot_limit = 1000", "publish_interval = 100ms",
                       "silence_timeout = 5s", "reconnect_delay_min = 200ms",
                       "reconnect_delay_max = 1s"]) as st:
        st.prepare()
        st.start_daemon()
        boot = st.status()["kafka"]["bootstraps"]
        check(wait_for(lambda: synced(st), 20), "both books synced and published")
        t0 = time.time()
        gaps = kills = 0
        # A fault every ~4-5 s for about a minute: gaps on one or both symbols, two
        # disconnects; each injected while the books are synced, so that each
        # is one break of a live book.
        plan = ["gap:BTCUSDT", "gap:ETHUSDT", "gap:BTCUSDT", "kill", "gap:BTCUSDT",
                "gap:ETHUSDT", "gap:both", "kill", "gap:ETHUSDT", "gap:BTCUSDT",
                "gap:BTCUSDT", "gap:ETHUSDT"]
        for step in plan:
            time.sleep(4)
            if not wait_for(lambda: synced(st), 15):
                check(False, "books synced again before %s" % step)
                break
            if step == "kill":
                r = st.fault("kill_market")
                kills += 1
            else:
                sym = step.split(":")[1]
                r = st.fault("depth_gap", **({} if sym == "both" else {"symbol": sym}))
                gaps += 1
            if not r or r.get("affected", 0) < 1:
                check(False, "fault %s accepted (%s)" % (step, r))
        check(wait_for(lambda: synced(st), 20), "books synced at the end")
        time.sleep(1)
        elapsed = time.time() - t0
        m = market(st)
        sim = st.sim_stats()
        dg = sim.get("depthGaps", {})
        for s in SYMS:
            b = m["books"][s]
            want = dg.get(s, {}).get("depth@100ms", 0)
            check(want > 0 and b["resyncs_gap"] == want,
                  "%s: every injected gap caused exactly one resync (exsim %d gaps, worker %d "
                  "gap resyncs)" % (s, want, b["resyncs_gap"]))
            check(b["resyncs_lost"] == kills and b["resyncs_snapshot"] == 0 and
                  b["resyncs_unproven"] == 0 and
                  b["resyncs"] == want + kills,
                  "%s: %d disconnects, %d resyncs for them; no snapshot that did not connect, "
                  "none unproven; %d resyncs in all" % (s, kills, b["resyncs_lost"], b["resyncs"]))
            check(b["crossed"] == 0, "%s: no crossed top found by the worker" % s)
        check(m["books_crossed"] == 0 and m["malformed"] == 0,
              "worker: no crossed book, no malformed frame")

        # What was published, from Kafka.
        time.sleep(1)
        msgs = kafka_read(boot, "websocket.depth")
        evs = [json.loads(x["payload"]) for x in msgs]
        evs = [e for e in evs if e.get("type") == "book" and not e.get("partial")]
        by = {s: [e for e in evs if e["symbol"] == s] for s in SYMS}
        for s in SYMS:
            es = by[s]
            check(len(es) >= 100, "%s: %d books published in %.0f s" % (s, len(es), elapsed))
            us = [e["last_update_id"] for e in es]
            check(all(x < y for x, y in zip(us, us[1:])), "%s: update ids only go up" % s)
            bad = [e["last_update_id"] for e in es if not well_formed(e)]
            check(not bad, "%s: every published book ordered, uncrossed, quantities > 0 "
                  "(bad at %s)" % (s, bad[:5]))
            check(all(e["depth"] == DEPTH and len(e["bids"]) == DEPTH and
                      len(e["asks"]) == DEPTH for e in es),
                  "%s: %d levels a side, depth %d" % (s, DEPTH, DEPTH))
            # Checkpoints: every 5th published book (exsim keeps 120 s of history).
            pts = es[::5]
            cmp_ok = cmp_n = 0
            first_bad = None
            for e in pts:
                r = st.http("GET", "/sim/book?symbol=%s&u=%d&limit=%d" %
                            (s, e["last_update_id"], DEPTH))
                if not isinstance(r, dict) or "bids" not in r:
                    continue    # outside exsim's kept range
                cmp_n += 1
                if r["u"] == e["last_update_id"] and r["bids"] == e["bids"] and \
                        r["asks"] == e["asks"]:
                    cmp_ok += 1
                elif first_bad is None:
                    first_bad = (e["last_update_id"], e["bids"][:2], e["asks"][:2],
                                 r.get("bids", [])[:2], r.get("asks", [])[:2])
            check(cmp_n >= 40 and cmp_ok == cmp_n,
                  "%s: the published top %d equals exsim's book at the same update id at "
                  "%d of %d checkpoints%s" % (s, DEPTH, cmp_ok, cmp_n,
                                              "" if first_bad is None else
                                              " (first difference: %s)" % (first_bad,)))
        check(sim["rest"]["http429"] == 0 and sim["rest"]["http418"] == 0,
              "REST within budget: no 429/418 (snapshots spent %d weight)" %
              sim["rest"]["weightUsed"])
        st.sanitizer_check()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        check(False, "harness: %r" % e)
    finish()
