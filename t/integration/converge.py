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
from stack import Stack, settle, secrets_in_log, fill_checks  # noqa: E402
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
    ok, diffs, took = settle(st, timeout=120)
    print("# settled in %.1f s" % took)
    for dbid, d in list(diffs.items())[:5]:
        for line in d:
            print("#   account %d: %s" % (dbid, line))
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
finish()
