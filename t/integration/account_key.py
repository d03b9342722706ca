#!/usr/bin/python3
"""The account worker and a wrong master key: when not one of its accounts
decrypts, the key is wrong (rotated, another installation's), not the rows,
so nothing is quarantined: an ERROR names the key file and the accounts stay
idle; a reload with the right key file starts them all."""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, EXFEEDCTL, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 3


def log_has(st, text):
    with open(st.log, errors="replace") as f:
        return text in f.read()


with Stack(accounts=N, rate=50, seed=9, shards=1) as st:
    st.prepare()
    good = st.key + ".good"
    shutil.copy(st.key, good)
    os.unlink(st.key)
    subprocess.run([EXFEEDCTL, "keygen", st.key], check=True, stdout=subprocess.DEVNULL)
    st.start_daemon()
    msg = "key_file %s: none of the %d accounts of this shard decrypts" % (st.key, N)
    check(wait_for(lambda: log_has(st, msg), 15), "an ERROR names the key file")
    time.sleep(1.5)
    rows = st.sql("SELECT is_active, coalesce(deactivated_reason, '') FROM exchange_accounts")
    check(len(rows) == N and all(r[0] == "t" and r[1] == "" for r in rows),
          "no account quarantined in the database (%s)" % rows)
    streaming = sum(1 for r in st.account_rows() if r.get("state") == "streaming")
    check(streaming == 0, "no account streams with the wrong key (%d)" % streaming)
    posts = st.sim_stats()["rest"]["listenKeyPost"]
    check(posts == 0, "no request reached the exchange (%d listen key POSTs)" % posts)
    shutil.copy(good, st.key)
    st.daemon.send_signal(signal.SIGHUP)
    check(st.wait_streaming(N, 30), "after a reload with the right key all %d accounts stream" % N)
    rows = st.sql("SELECT count(*) FROM exchange_accounts WHERE is_active")
    check(rows[0][0] == str(N), "all %d accounts still active" % N)
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
