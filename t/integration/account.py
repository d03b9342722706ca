#!/usr/bin/python3
"""Issue 4, the account worker's behaviours against exsim with the real
writer and PostgreSQL: every account streaming in `exfeedctl accounts`,
events in the database; a malformed frame is counted and the connection
stays; dropped connections reconnect and resync; an expired listen key is
replaced; a revoked API key (-2015) is quarantined after exactly one failed
attempt while the others keep streaming; HUP after adding and disabling
accounts connects and drops exactly those (same pids, others untouched);
REST weight within budget (no 429/418); no secret in the debug log."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, secrets_in_log, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

N = 6


def role_detail(st):
    return [w["detail"]["role"] for w in st.status()["workers"]
            if w["role"] == "account" and w["detail"]]


def total(st, key):
    return sum(d[key] for d in role_detail(st))


def account_pids(st):
    return sorted(w["pid"] for w in st.status()["workers"] if w["role"] == "account")


with Stack(accounts=N, rate=40, seed=7, shards=2, weight_limit=2400, budget=2000,
           userdata=["listenkey_renewal = 3s", "reconcile_interval = 1h"]) as st:
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "all %d accounts streaming" % N)
    r = st.rows_by_id()
    check(sorted(r) == sorted(st.accounts) and
          all(x["exchange"] == "binance-futures" and x["user"] == 1000 + st.accounts[x["id"]]["id"]
              for x in r.values()), "exfeedctl accounts: one row per account, user and exchange")
    table = st.ctl("accounts").stdout
    check(table.splitlines()[0].split()[:4] == ["ID", "USER", "EXCHANGE", "STATE"] and
          table.count("streaming") == N, "exfeedctl accounts prints a table")
    check(wait_for(lambda: all(x["resync"] == "done" for x in st.rows_by_id().values()), 30),
          "every account resynced after the start")
    check(wait_for(lambda: int(st.sql("SELECT count(*) FROM event_log")[0][0]) > 50, 20),
          "events reach the database")
    check(wait_for(lambda: total(st, "renewals_ok") >= N, 15), "listen keys kept alive (PUT)")

    # A malformed frame is counted and dropped; the connection stays.
    conns = st.sim_stats()["connections"]["total"]
    st.fault("malformed_frame")
    check(wait_for(lambda: total(st, "malformed") >= 1, 5), "malformed frame counted")
    time.sleep(0.5)
    check(st.sim_stats()["connections"]["total"] == conns, "malformed frame: no reconnect")

    # Every connection dropped: reconnect, then resync.
    rec0 = {i: x["reconnects"] for i, x in st.rows_by_id().items()}
    res0 = total(st, "resyncs_done")
    st.fault("drop")
    check(wait_for(lambda: all(x["reconnects"] > rec0[i] and x["state"] == "streaming"
                           for i, x in st.rows_by_id().items()), 20),
          "drop: every account reconnected and streaming")
    check(wait_for(lambda: total(st, "resyncs_done") >= res0 + N, 30),
          "drop: every account resynced again")

    # An expired listen key: a new one (one POST), streaming again.
    victim = sorted(st.accounts)[0]
    sim_id = st.accounts[victim]["id"]
    posts0 = st.sim_stats()["rest"]["listenKeyPost"]
    key0 = st.sim_state(sim_id)["listenKey"]
    st.fault("expire_listen_key", account=sim_id)
    check(wait_for(lambda: st.sim_stats()["rest"]["listenKeyPost"] == posts0 + 1 and
               st.sim_state(sim_id)["listenKey"] != key0, 10), "expired key: exactly one POST")
    check(wait_for(lambda: st.rows_by_id()[victim]["state"] == "streaming", 15),
          "expired key: the account streams again")
    ev0 = st.sim_state(sim_id)["eventsSent"]
    check(wait_for(lambda: sum(st.sim_state(sim_id)["eventsSent"].values()) > sum(ev0.values()), 15),
          "expired key: exsim delivers on the new key")

    # A revoked API key: one failed attempt, quarantined, the others go on.
    bad = sorted(st.accounts)[1]
    bad_sim = st.accounts[bad]["id"]
    others = [i for i in st.accounts if i != bad]
    st.fault("revoke_api_key", account=bad_sim)
    check(wait_for(lambda: st.rows_by_id().get(bad, {}).get("state") == "quarantined", 15),
          "revoked key: account quarantined")
    dbrow = st.sql("SELECT is_active, deactivated_reason FROM exchange_accounts WHERE id = %d" % bad)
    check(dbrow and dbrow[0][0] == "f" and "-2015" in dbrow[0][1],
          "revoked key: is_active = false with the reason in the database")
    time.sleep(4)	# more than a renewal period: nothing more may be tried
    with open(st.log, errors="replace") as f:
        log = f.read()
    check(log.count("account %d (user" % bad) == 1 and
          "account %d (user %d) quarantined: exchange rejected the API key (-2015)" %
          (bad, 1000 + bad_sim) in log, "revoked key: one ERROR line, after one failed attempt")
    check(total(st, "quarantines") == 1 and
          all(st.rows_by_id()[i]["state"] == "streaming" for i in others),
          "revoked key: the others keep streaming")

    # HUP after adding one account and disabling another.
    pids0 = account_pids(st)
    new_sim = st.http("POST", "/sim/accounts", {"count": 1})
    before = set(st.accounts)
    st.add_accounts(new_sim)
    new = (set(st.accounts) - before).pop()
    gone = others[0]
    st.ctl("account", "disable", str(gone))
    keep = [i for i in others if i != gone]
    rec1 = {i: x["reconnects"] for i, x in st.rows_by_id().items()}
    conns1 = st.sim_stats()["connections"]["total"]
    os.kill(st.daemon.pid, 1)
    check(wait_for(lambda: st.rows_by_id().get(new, {}).get("state") == "streaming" and gone not in st.rows_by_id(),
               15), "HUP: the new account streams, the disabled one is dropped")
    r = st.rows_by_id()
    check(all(r[i]["reconnects"] == rec1[i] and r[i]["state"] == "streaming" for i in keep),
          "HUP: the other accounts were not reconnected")
    check(account_pids(st) == pids0, "HUP: account workers kept their pids")
    # A replacement per touched group at most (the group of the new and of the gone account).
    check(st.sim_stats()["connections"]["total"] - conns1 <= 2, "HUP: at most two new connections")

    stats = st.sim_stats()["rest"]
    check(stats["http429"] == 0 and stats["http418"] == 0,
          "REST weight within budget: no 429, no 418 (%d requests)" % stats["requests"])
    check(all(w["restarts"] == 0 for w in st.status()["workers"]), "no worker restarted")
    found, nlines = secrets_in_log(st)
    check(not found and nlines > 100, "debug log (%d lines): no API key, secret or listen key %s"
          % (nlines, found[:3]))
finish()
