#!/usr/bin/python3
"""Issue 11, acceptance 2: the writer kill -9'd twice and the Kafka broker
held down for 10 s (tools/kmock: rd_kafka_mock_broker_set_down) while exsim
streams: PostgreSQL keeps committing while the broker is away (commit rate
in that window above half the rate before), and after it is back every
event_log row is on its topic, nothing else, after dedupe by event id.
Deliveries time out during the outage (delivery_timeout = 3s) and the
window is small (relay_window = 500), so the relay's rewind and its
catch-up reads from event_log both run."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, BUILD, settle_said, kafka_compare, skip_in_repeat_pass  # noqa: E402
from tapcheck import check, finish  # noqa: E402

skip_in_repeat_pass("the Kafka outage test")
KMOCK = os.environ.get("KMOCK", os.path.join(BUILD, "tools", "kmock"))
kmock = subprocess.Popen([KMOCK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
addr = kmock.stdout.readline().strip()


def broker(cmd):
    kmock.stdin.write(cmd + "\n")
    kmock.stdin.flush()
    return kmock.stdout.readline().strip()


try:
    with Stack(accounts=20, rate=400, seed=11,
               kafka=["brokers = %s" % addr, "delivery_timeout = 3s", "relay_window = 500",
                      "backlog_warn_age = 2s"]) as st:
        st.prepare()
        st.start_daemon()
        check(st.wait_streaming(20, 60), "20 accounts streaming")
        t0 = time.time()
        samples, done, kills = [], set(), []

        def at(t, name):
            if time.time() - t0 >= t and name not in done:
                done.add(name)
                print("# %5.1fs %s" % (time.time() - t0, name), flush=True)
                return True
            return False

        while time.time() - t0 < 30:
            samples.append((time.time() - t0, int(st.sql("SELECT count(*) FROM event_log")[0][0])))
            if at(4, "kill -9 the writer"):
                kills.append(st.worker_pid("writer", 0))
                os.kill(kills[-1], signal.SIGKILL)
            if at(9, "the broker goes down"):
                check(broker("down") == "ok", "broker down")
            if at(19, "the broker is back"):
                check(broker("up") == "ok", "broker up")
            if at(23, "kill -9 the writer again"):
                kills.append(st.worker_pid("writer", 0))
                os.kill(kills[-1], signal.SIGKILL)
            time.sleep(0.25)

        def rate(a, b):
            s = [(t, n) for t, n in samples if a <= t <= b]
            return (s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0])
        before, during = rate(0.5, 3.9), rate(10.5, 18.5)
        check(before > 50 and during > 0.5 * before,
              "PostgreSQL kept committing with the broker down: %.0f rows/s, %.0f before" %
              (during, before))
        st.fault("pause")
        ok, diffs, took = settle_said(st, timeout=120)
        check(ok, "database equals exsim truth (%d accounts differ)" % len(diffs))
        check(st.kafka_settled(90), "every event_log row acknowledged after the outage")
        k = st.writer_status()["kafka"]
        print("# relay:", {x: k[x] for x in ("publishing", "rewinds", "reads", "rows_read",
                                              "producers", "acked_through", "last_error")},
              flush=True)
        with open(st.log) as f:
            log = f.read()
        check("not published, the oldest committed" in log,
              "a WARN said the backlog grew old while the broker was down")
        check("publishing again from event_log id" in log and "Message timed out" in log,
              "deliveries timed out during the outage and the relay read again from "
              "its watermark")
        problems, counts, dups = kafka_compare(st, addr)
        print("# kafka topics (event_log rows, distinct ids, messages):", counts,
              "duplicates:", dups, flush=True)
        check(not problems and sum(c[0] for c in counts.values()) > 1000,
              "no loss after dedupe: each topic equals event_log, in commit order per "
              "account%s" % ("" if not problems else ": " + "; ".join(problems[:8])))
        check(st.stop_daemon() == 0, "TERM: exit 0")
finally:
    kmock.stdin.close()
    kmock.wait(10)
finish()
