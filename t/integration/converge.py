#!/usr/bin/python3
"""Issue 4, acceptance 1, 5 and 6 (steady): 100 accounts, 2,000 events/s
for 30 s against exsim; after settling the database equals /sim/state for
every account (orders, algo orders, fills, positions, balances, config),
with zero duplicate fills, zero 429/418 from exsim, and no API key, secret
or listen key in the debug log."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, secrets_in_log, fill_checks  # noqa: E402
from tapcheck import check, finish  # noqa: E402

ACCOUNTS = int(os.environ.get("CONVERGE_ACCOUNTS", "100"))
RATE = int(os.environ.get("CONVERGE_RATE", "2000"))
SECONDS = int(os.environ.get("CONVERGE_SECONDS", "30"))

with Stack(accounts=ACCOUNTS, rate=RATE, seed=4) as st:
    st.prepare()
    st.fault("pause")
    st.start_daemon()
    check(st.wait_streaming(ACCOUNTS, 60), "all %d accounts streaming" % ACCOUNTS)
    made0 = sum(sum(st.sim_state(a["id"])["eventsMade"].values()) for a in st.accounts.values())
    st.fault("resume")
    t0 = time.time()
    time.sleep(SECONDS)
    st.fault("pause")
    ran = time.time() - t0
    made = sum(sum(st.sim_state(a["id"])["eventsMade"].values()) for a in st.accounts.values())
    print("# exsim made %d user events in %.1f s (%.0f/s)" % (made - made0, ran,
                                                              (made - made0) / ran))
    check(made - made0 >= RATE * SECONDS * 0.8, "exsim produced the offered load")
    ok, diffs, took = settle_said(st, timeout=120, show=5)
    check(ok, "database equals exsim truth for all %d accounts (%d differ)" % (ACCOUNTS, len(diffs)))
    n = int(st.sql("SELECT count(*) FROM fills")[0][0])
    cross, odd = fill_checks(st)
    check(n > 0 and cross == 0 and odd == 0, "%d fills: no trade id twice for one order, "
          "none on more than a self-trade's two sides (%d, %d)" % (n, cross, odd))
    rest = st.sim_stats()["rest"]
    print("# exsim rest stats:", rest)
    check(rest["http429"] == 0 and rest["http418"] == 0,
          "REST weight stayed within budget: zero 429, zero 418")
    leaked, lines = secrets_in_log(st)
    check(lines > 100 and not leaked, "debug log (%d lines) holds no key, secret or listen key%s" %
          (lines, " (found %s)" % leaked if leaked else ""))
    check(st.stop_daemon() == 0, "TERM: exit 0")
    # The checks above can fail: the same database, broken on purpose.
    aid, sym, tid, oid = st.sql("SELECT account_id, symbol, trade_id, order_id FROM fills "
                                "ORDER BY account_id, trade_id LIMIT 1")[0]
    st.sql("INSERT INTO fills SELECT account_id, 'NOTUSDT', trade_id, order_id, side, "
           "position_side, price, qty, fee, fee_asset, maker, realized_pnl, trade_time "
           "FROM fills WHERE account_id = %s AND symbol = '%s' AND trade_id = %s AND "
           "order_id = %s" % (aid, sym, tid, oid))
    cross, odd = fill_checks(st)
    check(cross == 1, "a trade id repeated for one order (in another symbol) is caught (%d)" % cross)
    st.sql("DELETE FROM fills WHERE symbol = 'NOTUSDT'")
    st.sql("UPDATE fills SET side = CASE side WHEN 'BUY' THEN 'SELL' ELSE 'BUY' END "
           "WHERE (account_id, symbol, trade_id) IN (SELECT account_id, symbol, trade_id "
           "FROM fills GROUP BY 1, 2, 3 HAVING count(*) = 2 LIMIT 1) AND side = 'BUY'")
    cross, odd = fill_checks(st)
    selftrades = int(st.sql("SELECT count(*) FROM (SELECT 1 FROM fills GROUP BY account_id, "
                            "symbol, trade_id HAVING count(*) = 2) d")[0][0])
    check(selftrades == 0 or odd == 1, "a self-trade with both sides alike is caught (%d of %d "
          "self-trades)" % (odd, selftrades))
    st.sql("DELETE FROM fills WHERE account_id = %s AND symbol = '%s' AND trade_id = %s AND "
           "order_id = %s" % (aid, sym, tid, oid))
    diffs = st.compare_all()
    said = " ".join(diffs.get(int(aid), []))
    check("its fills sum to" in said and "missing" in said,
          "a lost fill is caught, in the fills and in its order's sum: %s" % said[:200])
finish()
