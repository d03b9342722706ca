#!/usr/bin/python3
"""A reconcile that fails is tried again until one succeeds.

An account is disabled in the database, then PostgreSQL goes away and the
daemon is told to reconcile (HUP, as an operator would after the change):
the account workers cannot load the accounts.  PostgreSQL comes back: the
disabled account stops and a newly enabled one starts within 20 s, not at
the next reconcile_interval (10 minutes here).  The same for the periodic
reconcile and the first load at start, which take the same path.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import PGTMP, Stack, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 4

with Stack(accounts=N, rate=20, seed=31, shards=2,
           userdata=["reconcile_interval = 10m"]) as st:
    st.prepare()
    ids = sorted(st.accounts)
    off, later = ids[0], ids[1]
    st.ctl("account", "disable", str(later))
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N - 1, 30), "%d accounts streaming" % (N - 1))
    st.ctl("account", "disable", str(off))
    st.ctl("account", "enable", str(later))
    subprocess.run([PGTMP, "down", os.path.join(st.dir, "pg")], check=True,
                   stdout=subprocess.DEVNULL)
    st.daemon.send_signal(signal.SIGHUP)
    time.sleep(7)       # past one retry (LOAD_RETRY_MS 5 s)
    rows = st.rows_by_id()
    check(off in rows and later not in rows,
          "database down: the HUP changed nothing yet (%s)" % sorted(rows))
    t0 = time.time()
    subprocess.run([PGTMP, "up", os.path.join(st.dir, "pg")], check=True,
                   stdout=subprocess.DEVNULL)

    def applied():
        rows = st.rows_by_id()
        return off not in rows and rows.get(later, {}).get("state") == "streaming"
    check(wait_for(applied, 20), "database back: the failed reconcile was retried, the "
          "disabled account stopped and the enabled one streams (%.1f s)" % (time.time() - t0))
    with open(st.log, errors="replace") as f:
        log = f.read()
    # Each failed attempt says what asked for it and why it failed, whichever
    # part noticed the database was gone first (CI run of fd2e72f: the worker
    # had lost the connection before the HUP and logged only "database: ...").
    check("cannot load accounts (HUP): " in log, "the failed load was logged with its reason")
    check("cannot load accounts (retry): database: " in log,
          "the failed retry was logged with its reason")
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
