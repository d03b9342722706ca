#!/usr/bin/python3
"""Issue 11, acceptance 4: `exfeedctl replay` republishes exactly the
requested window of event_log.  A short stack (10 accounts, exsim at 300
events/s for 10 s, the embedded broker), exsim paused, then a window in the
middle of the run by exchange_time replayed under topic prefixes, without a
filter and with --account, --user, --type and two at once.  Each replay's
topics, read by kcat, hold exactly the event ids of

    SELECT ... FROM event_log WHERE exchange_time >= F AND exchange_time < T
    [AND ...] ORDER BY id

each once, in commit order within each partition, with the keys, headers
and values of the daemon's own messages of the same event ids.  One row of
the window is a resync row of an order opened 30 days before (its fact time,
and so its partition, a month before E): a replay that pruned partitions
by the window's days would miss it.  Also: an empty window replays 0 and
exits 0; --from after --to exits 64 and says so; a broker that is down
(tools/kmock) makes replay exit 1 within its deadline, saying how many
failed; an rdkafka.* secret is never printed."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, BUILD, KCAT, wait_for, USER_TOPICS, skip_in_repeat_pass  # noqa: E402
from tapcheck import check, finish  # noqa: E402

skip_in_repeat_pass("replay.py")

KMOCK = os.environ.get("KMOCK", os.path.join(BUILD, "tools", "kmock"))
SECRET = "replay-test-secret-d41d8cd98f00"
DELIVERY_TIMEOUT_S = 3
MARGIN_S = 5            # exfeedctl.c REPLAY_MARGIN_MS
DAY_MS = 86400000


def kafka_read(bootstraps, topic):
    """stack.kafka_read, without its wait for a fetch to fill (fetch.wait.max.ms):
    a test reads some thirty topics."""
    out = subprocess.run([KCAT, "-b", bootstraps, "-C", "-t", topic, "-o", "beginning", "-e",
                          "-q", "-J", "-X", "fetch.wait.max.ms=10"],
                         capture_output=True, text=True, timeout=30)
    msgs = []
    for line in out.stdout.splitlines():
        m = json.loads(line)
        h = m.get("headers") or []
        m["headers"] = dict(zip(h[0::2], h[1::2]))
        msgs.append(m)
    return msgs


def topics(bootstraps):
    """The topic names the cluster knows (kcat -L)."""
    out = subprocess.run([KCAT, "-b", bootstraps, "-L", "-J"], capture_output=True, text=True,
                         timeout=20)
    return {t["topic"] for t in json.loads(out.stdout)["topics"]}


def replay(st, *args, json_out=True):
    t0 = time.time()
    out = st.ctl(*((["--json"] if json_out else []) + ["replay"] + [str(a) for a in args]),
                 check=False)
    out.seconds = time.time() - t0
    return out


outputs = []    # every replay's stdout and stderr: no secret in any
kmock = subprocess.Popen([KMOCK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
kaddr = kmock.stdout.readline().strip()


def broker(cmd):
    kmock.stdin.write(cmd + "\n")
    kmock.stdin.flush()
    return kmock.stdout.readline().strip()


try:
    with Stack(accounts=10, rate=300, seed=12,
               kafka=["delivery_timeout = %ds" % DELIVERY_TIMEOUT_S, "relay_window = 100",
                      "rdkafka.sasl.password = " + SECRET]) as st:
        st.prepare()
        st.start_daemon()
        check(st.wait_streaming(10, 60), "10 accounts streaming")
        time.sleep(10)
        st.fault("pause")
        # Nothing more comes: wait until the writer has committed and published all.
        last = [None]

        def quiet():
            n = st.sql("SELECT count(*) FROM event_log")[0][0]
            same, last[0] = n == last[0], n
            return same
        wait_for(quiet, 20, every=1.0)
        check(st.kafka_settled(60), "the daemon published every event_log row")
        boot = st.status()["kafka"]["bootstraps"]
        lo, hi, total = map(int, st.sql("SELECT min(exchange_time), max(exchange_time), "
                                        "count(*) FROM event_log")[0])
        F, T = lo + (hi - lo) * 3 // 10, lo + (hi - lo) * 7 // 10
        print("# event_log: %d rows, exchange_time %d..%d; window [%d, %d)" % (total, lo, hi, F, T),
              flush=True)

        # A resync row of an order opened 30 days before the window: its
        # partition is that day's, its E inside the window.
        old = st.sql("SELECT day - 30 FROM event_log WHERE event_type = 'order' AND "
                     "exchange_time >= %d AND exchange_time < %d ORDER BY id LIMIT 1" % (F, T))[0][0]
        st.sql("SELECT exfeedd_event_log_create('%s', '%s')" % (old, old))
        st.sql("INSERT INTO event_log (event_id, day, account_id, user_id, exchange, event_type, "
               "exchange_time, received_at, resync, payload) SELECT event_id || ':old', '%s', "
               "account_id, user_id, exchange, event_type, exchange_time, received_at, true, "
               "payload FROM event_log WHERE event_type = 'order' AND exchange_time >= %d AND "
               "exchange_time < %d ORDER BY id LIMIT 1" % (old, F, T))
        old_id = st.sql("SELECT event_id FROM event_log WHERE event_id LIKE '%%:old'")[0][0]

        # The daemon's own messages, by event id (the last of an id wins).
        orig = {}
        for typ, topic in USER_TOPICS.items():
            for m in kafka_read(boot, topic):
                orig[m["headers"].get("event_id")] = m
        acct, user = map(int, st.sql(
            "SELECT account_id, user_id FROM event_log WHERE exchange_time >= %d AND "
            "exchange_time < %d GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 2" % (F, T))[0])
        user2 = int(st.sql("SELECT user_id FROM event_log WHERE exchange_time >= %d AND "
                           "exchange_time < %d AND user_id <> %d GROUP BY 1 ORDER BY count(*) "
                           "DESC LIMIT 1" % (F, T, user))[0][0])

        def expected(where):
            rows = st.sql("SELECT id, event_id, event_type, coalesce(user_id, 0), account_id, "
                          "exchange, payload, raw FROM event_log WHERE exchange_time >= %d AND "
                          "exchange_time < %d%s ORDER BY id" % (F, T, where))
            return rows

        def compare(name, prefix, rows):
            """Problems between a replay's topics and the rows it should hold, and the
            event ids they hold."""
            problems, seen = [], set()
            ids = {r[1]: int(r[0]) for r in rows}
            by_type = {}
            for r in rows:
                by_type.setdefault(r[2], []).append(r)
            known = topics(boot)
            extra = {t for t in known if t.startswith(prefix)} - \
                {prefix + USER_TOPICS[t] for t in by_type}
            if extra:
                problems.append("topics that should not be there: %s" % sorted(extra))
            got_total = 0
            for typ, want in by_type.items():
                msgs = kafka_read(boot, prefix + USER_TOPICS[typ])
                got_total += len(msgs)
                got = [m["headers"].get("event_id") for m in msgs]
                seen.update(got)
                if sorted(got) != sorted(r[1] for r in want):
                    problems.append("%s: %d messages, %d rows; missing %s, extra %s" % (
                        typ, len(got), len(want), sorted(set(r[1] for r in want) - set(got))[:3],
                        sorted(set(got) - set(r[1] for r in want))[:3]))
                # Commit order within each partition (one user's events are in one).
                parts = {}
                for m in sorted(msgs, key=lambda m: (m["partition"], m["offset"])):
                    parts.setdefault(m["partition"], []).append(ids.get(m["headers"].get("event_id"), -1))
                for p, seq in parts.items():
                    if seq != sorted(seq):
                        problems.append("%s: partition %d out of commit order" % (typ, p))
                row = {r[1]: r for r in want}
                for m in msgs:
                    eid = m["headers"].get("event_id")
                    o = orig.get(eid)
                    if eid == old_id:
                        r = row[eid]    # inserted here: the daemon never published it
                        o = {"key": r[3], "payload": r[6] if typ != "unknown" else r[7],
                             "headers": {"event_id": eid, "account_id": r[4], "exchange": r[5],
                                         "type": typ, "schema": "1"}}
                    if o is None:
                        problems.append("%s: %s has no message of the daemon's" % (typ, eid))
                    elif (m.get("key"), m["headers"]) != (o.get("key"), o["headers"]) or \
                            m.get("payload") != o.get("payload"):
                        problems.append("%s: %s differs: %s / %s" % (typ, eid, m, o))
                    if len(problems) > 10:
                        break
            if got_total != len(rows):
                problems.append("%d messages for %d rows" % (got_total, len(rows)))
            return problems, seen

        cases = [("all", [], ""),
                 ("account", ["--account", acct], " AND account_id = %d" % acct),
                 ("user", ["--user", user2], " AND user_id = %d" % user2),
                 ("fill", ["--type", "fill"], " AND event_type = 'fill'"),
                 ("userorder", ["--user", user, "--type", "order"],
                  " AND user_id = %d AND event_type = 'order'" % user)]
        for name, args, where in cases:
            prefix = "replay-%s." % name
            rows = expected(where)
            out = replay(st, "--from", F, "--to", T, "--topic-prefix", prefix, *args)
            outputs.append(out)
            try:
                res = json.loads(out.stdout)
            except ValueError:
                res = {}
            check(out.returncode == 0 and res.get("ok") is True and
                  res.get("rows") == res.get("delivered") == len(rows) and res.get("failed") == 0,
                  "replay %s: exit 0, %d rows delivered, as many as event_log has (%d) [%.1f s]%s" %
                  (" ".join(map(str, args)) or "(no filter)", res.get("delivered", -1), len(rows),
                   out.seconds, "" if out.returncode == 0 else ": " + out.stderr.strip()))
            problems, seen = compare(name, prefix, rows)
            check(not problems and len(rows) > 0,
                  "replay %s: its topics hold exactly the window's %d event ids, each once, in "
                  "commit order, with the daemon's keys, headers and values%s" %
                  (name, len(rows), "" if not problems else ": " + "; ".join(problems[:5])))
            if name == "all":
                check(any(r[1] == old_id for r in rows) and old_id in seen,
                      "the row of the window whose partition is 30 days before it was replayed")

        out = replay(st, "--from", F, "--to", T, "--user", user, "--type", "order",
                     "--topic-prefix", "replay-text.", json_out=False)
        outputs.append(out)
        n = len(expected(" AND user_id = %d AND event_type = 'order'" % user))
        check(out.returncode == 0 and "replay-text.user-data-order-updates" in out.stdout and
              ("%d rows replayed" % n) in out.stdout and out.stderr == "",
              "text summary: the topic and '%d rows replayed' on stdout, nothing on stderr "
              "(not a terminal: no progress line)" % n)
        print("".join("# " + line + "\n" for line in out.stdout.splitlines()), end="", flush=True)

        out = replay(st, "--from", hi + 10 * DAY_MS, "--to", hi + 10 * DAY_MS + 3600000)
        outputs.append(out)
        res = json.loads(out.stdout) if out.returncode == 0 else {}
        check(out.returncode == 0 and res.get("rows") == 0 and res.get("ok") is True,
              "an empty window: exit 0, 0 rows")
        out = replay(st, "--from", "2026-12-01T11:00:00Z", "--to", "2026-12-01T10:00:00+00:00")
        outputs.append(out)
        check(out.returncode == 64 and "is not before --to" in out.stderr and out.stdout == "",
              "--from after --to: exit 64, '%s'" % out.stderr.splitlines()[0] if out.stderr else "")

        check(broker("down") == "ok", "kmock down")
        out = replay(st, "--from", F, "--to", T, "--type", "fill", "--brokers", kaddr,
                     "--topic-prefix", "down.", json_out=False)
        outputs.append(out)
        nfill = len(expected(" AND event_type = 'fill'"))
        limit = DELIVERY_TIMEOUT_S + MARGIN_S + 2
        check(out.returncode == 1 and out.seconds < limit and
              "failed" in out.stderr and "exfeedctl: replay: incomplete: 0 of" in out.stderr,
              "the broker down: exit 1 in %.1f s (deadline %d s + %d s), saying how many failed: "
              "%s" % (out.seconds, DELIVERY_TIMEOUT_S, MARGIN_S, out.stderr.strip()[-300:]))
        check(broker("up") == "ok", "kmock up")
        out = replay(st, "--from", F, "--to", T, "--type", "fill", "--brokers", kaddr,
                     "--topic-prefix", "up.")
        outputs.append(out)
        res = json.loads(out.stdout) if out.stdout else {}
        check(out.returncode == 0 and res.get("delivered") == nfill,
              "the broker back: exit 0, %d fills delivered to %s" % (nfill, kaddr))

        check(not any(SECRET in o.stdout or SECRET in o.stderr for o in outputs),
              "no replay printed the rdkafka.sasl.password secret")
finally:
    kmock.stdin.close()
    kmock.wait(10)
finish()
