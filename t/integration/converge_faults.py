#!/usr/bin/python3
"""Issue 4, acceptance 2, 3, 5 and 6 (under faults): while exsim runs 100
accounts at 2,000 events/s, drop every connection every 5 s, expire listen
keys, kill -9 an account worker and the writer, restart PostgreSQL once,
let one account's connection go deaf to pongs and stall another, and revoke
one account's API key.  After settling: the database equals /sim/state for
every account still active, zero duplicate fills; the revoked account is
quarantined after exactly one rejected request; zero 429/418; no secret in
the debug log.  Issue 11, acceptance 1: every event_log row on its Kafka topic
(the embedded broker), keyed by its user, nothing else after dedupe by event
id, in commit order within each account."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, settle_said, secrets_in_log, fill_checks, kafka_compare  # noqa: E402
from tapcheck import check, finish  # noqa: E402

ACCOUNTS = int(os.environ.get("CONVERGE_ACCOUNTS", "100"))
RATE = int(os.environ.get("CONVERGE_RATE", "2000"))
SECONDS = int(os.environ.get("CONVERGE_SECONDS", "30"))

# exsim's clocks 60x faster: listen keys live 60 s, pings every 3 s, the
# pong deadline is 10 s.  Keys are kept alive every 15 s.
with Stack(accounts=ACCOUNTS, rate=RATE, seed=5, exsim_args=["--time-scale", "60"],
           userdata=["listenkey_renewal = 15s", "silence_timeout = 4s"]) as st:
    st.prepare()
    st.fault("pause")
    st.start_daemon()
    check(st.wait_streaming(ACCOUNTS, 60), "all %d accounts streaming" % ACCOUNTS)
    by_sim = {a["id"]: dbid for dbid, a in st.accounts.items()}
    revoked = by_sim[3]
    st.fault("resume")
    t0 = time.time()
    done = set()
    kills = {}

    def at(t, name):
        if time.time() - t0 >= t and name not in done:
            done.add(name)
            print("# %5.1fs fault: %s" % (time.time() - t0, name), flush=True)
            return True
        return False

    while time.time() - t0 < SECONDS:
        el = time.time() - t0
        if int(el) % 5 == 4 and at(int(el), "drop all connections at %ds" % int(el)):
            st.fault("drop")
        if at(2, "ignore pongs on account 7's connection"):
            st.fault("ignore_pongs", account=7)
        if at(3, "expire the listen keys of accounts 1, 2, 4, 5"):
            for a in (1, 2, 4, 5):
                st.fault("expire_listen_key", account=a)
        if at(6, "revoke account 3's API key"):
            st.fault("revoke_api_key", account=3)
        if at(8, "kill -9 account worker 0"):
            kills["account"] = st.worker_pid("account", 0)
            os.kill(kills["account"], signal.SIGKILL)
        if at(12, "kill -9 the writer"):
            kills["writer"] = st.worker_pid("writer", 0)
            os.kill(kills["writer"], signal.SIGKILL)
        if at(16, "restart PostgreSQL (down 3 s)"):
            st.restart_pg(down_s=3)
        if at(21, "stall account 9's connection"):
            st.fault("stall", account=9)
        time.sleep(0.05)
    st.fault("pause")
    check(st.worker_pid("account", 0) not in (None, kills.get("account")) and
          st.worker_pid("writer", 0) not in (None, kills.get("writer")),
          "killed workers were replaced")
    active = {dbid: a for dbid, a in st.accounts.items() if dbid != revoked}
    all_accounts, st.accounts = st.accounts, active
    ok, diffs, took = settle_said(st, timeout=150)
    st.accounts = all_accounts
    check(ok, "database equals exsim truth for all %d active accounts (%d differ)" %
          (len(active), len(diffs)))
    n = int(st.sql("SELECT count(*) FROM fills")[0][0])
    cross, odd = fill_checks(st)
    check(n > 0 and cross == 0 and odd == 0, "%d fills: no trade id twice for one order, "
          "none on more than a self-trade's two sides (%d, %d)" % (n, cross, odd))
    row = st.sql("SELECT is_active, deactivated_reason FROM exchange_accounts WHERE id = %d" % revoked)[0]
    check(row[0] == "f" and "2015" in row[1], "revoked account quarantined in the database (%s)" % row[1])
    rej = st.sim_state(3).get("rejected", None)
    check(rej == 1, "the revoked key was used exactly once after revocation (exsim saw %s)" % rej)
    streaming = sum(1 for r in st.account_rows() if r.get("state") == "streaming")
    check(streaming == ACCOUNTS - 1, "the other %d accounts stream (%d)" % (ACCOUNTS - 1, streaming))
    rest = st.sim_stats()["rest"]
    print("# exsim rest stats:", rest)
    check(rest["http429"] == 0 and rest["http418"] == 0,
          "REST weight stayed within budget: zero 429, zero 418")
    check(st.kafka_settled(60), "Kafka: every committed event_log row acknowledged (%s)" %
          {k: v for k, v in (st.writer_status() or {}).get("kafka", {}).items()
           if k in ("publishing", "acked_through", "in_flight", "rewinds", "last_error")})
    broker = [w for w in st.status()["workers"] if w["role"] == "broker"][0]
    problems, counts, dups = kafka_compare(st, broker["detail"]["role"]["bootstraps"])
    print("# kafka topics (event_log rows, distinct ids, messages):", counts,
          "duplicates:", dups, flush=True)
    check(not problems and sum(c[0] for c in counts.values()) > 1000,
          "Kafka: each topic equals event_log after dedupe by event id, keys, headers, "
          "values, commit order per account%s" % ("" if not problems else ": " + "; ".join(problems[:8])))
    leaked, lines = secrets_in_log(st)
    check(lines > 100 and not leaked, "debug log (%d lines) holds no key, secret or listen key%s" %
          (lines, " (found %s)" % leaked if leaked else ""))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
