#!/usr/bin/python3
"""Issue 11, acceptance 3, the protobuf format end to end: exsim streams to
10 accounts with [kafka] format = protobuf and the embedded broker; frames
are injected for the topics exsim's mix seldom reaches (a margin call, the
multi-assets mode, an event type exfeedd does not model).  Then every
topic is read by kcat and every value decoded by protoc --decode with the
shipped proto/exfeedd.proto, consumers not written by us: after dedupe by
the event_id header (the last message wins), each topic holds exactly the
event_log rows of its type, keyed by user id, with the headers, and each
decoded message equals its row's JSON payload field by field
(protocheck.py); user-data-unknown carries the raw frame."""
import os
import shutil
import subprocess
import sys
import time
import json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, USER_TOPICS, KCAT, wait_for, skip_in_repeat_pass  # noqa: E402
from tapcheck import check, finish  # noqa: E402
import protocheck  # noqa: E402

PROTOC = os.environ.get("PROTOC") or shutil.which("protoc")
if not PROTOC:
    print("1..0 # SKIP protoc is not installed (apt-get install protobuf-compiler)")
    sys.exit(77)
skip_in_repeat_pass("the Kafka protobuf test", sanitizer=True)
PROTO = os.path.join(os.environ.get("top_srcdir", "."), "proto", "exfeedd.proto")
MESSAGES = {"order": "exfeedd.v1.Order", "fill": "exfeedd.v1.Fill",
            "algo": "exfeedd.v1.AlgoOrder", "position": "exfeedd.v1.Position",
            "balance": "exfeedd.v1.Balance", "margin_call": "exfeedd.v1.MarginCall",
            "config": "exfeedd.v1.AccountConfig"}


def read_topic(bootstraps, topic):
    """Every message of a topic as (partition, offset, key, headers, value
    bytes), by kcat: a header line of tab-separated fields, then exactly
    the value's length of bytes (a protobuf value may hold any byte)."""
    out = subprocess.run([KCAT, "-b", bootstraps, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                          "-X", "topic.metadata.refresh.interval.ms=1000",
                          "-f", "%p\t%o\t%S\t%K\t%k\t%h\n%s"],
                         capture_output=True, timeout=60).stdout
    msgs, i = [], 0
    while i < len(out):
        nl = out.index(b"\n", i)
        part, off, size, klen, rest = out[i:nl].split(b"\t", 4)
        klen = int(klen)
        key = rest[:klen].decode() if klen > 0 else None
        hdrs = dict(h.split("=", 1) for h in rest[klen + 1:].decode().split(",") if h)
        i = nl + 1
        msgs.append((int(part), int(off), key, hdrs, out[i:i + int(size)]))
        i += int(size)
    return msgs


with Stack(accounts=10, rate=300, seed=23, kafka=["format = protobuf"]) as st:
    st.prepare()
    st.start_daemon()
    check(st.wait_streaming(10, 60), "10 accounts streaming")
    sim = st.accounts[sorted(st.accounts)[0]]["id"]
    now = int(time.time() * 1000)
    frames = [
        '{"e":"MARGIN_CALL","E":%d,"cw":"3.16812045","p":[{"s":"ETHUSDT","ps":"LONG",'
        '"pa":"1.327","mt":"CROSSED","iw":"0","mp":"187.17127","up":"-1.166074","mm":"1.614445"}]}'
        % now,
        '{"e":"ACCOUNT_CONFIG_UPDATE","E":%d,"T":%d,"ai":{"j":true}}' % (now + 1, now + 1),
        '{"e":"GRID_UPDATE","T":%d,"E":%d,"gu":{"si":176057,"st":"GRID","ss":"WORKING",'
        '"s":"BTCUSDT","r":"-0.00300716","up":"16720","uq":"-0.001","uf":"-0.00300716",'
        '"mp":"0.0","ut":%d}}' % (now + 2, now + 2, now + 2),
    ]
    for fr in frames:
        st.fault("inject", account=sim, frame=fr)
    time.sleep(8)
    st.fault("pause")
    check(wait_for(lambda: int(st.sql("SELECT count(*) FROM event_log WHERE event_type IN "
                                      "('margin_call', 'unknown')")[0][0]) >= 2, 20),
          "the injected margin call and unknown event are committed")
    check(st.kafka_settled(60), "Kafka: every committed event_log row acknowledged")
    broker = [w for w in st.status()["workers"] if w["role"] == "broker"][0]
    boot = broker["detail"]["role"]["bootstraps"]
    rows = st.sql("SELECT event_id, coalesce(user_id, 0), coalesce(account_id, 0), exchange, "
                  "event_type, payload, raw FROM event_log ORDER BY id")
    has_presence = protocheck.presence(PROTO)
    tmp = os.path.join(st.dir, "proto")
    os.makedirs(tmp)
    total = 0
    for typ, topic in USER_TOPICS.items():
        want = {r[0]: r for r in rows if r[4] == typ}
        msgs = read_topic(boot, topic)
        got = {}
        for part, off, key, hdrs, value in msgs:
            got[hdrs.get("event_id")] = (key, hdrs, value)     # the last message of an id wins
        problems = ["%s missing" % e for e in sorted(set(want) - set(got))[:3]]
        problems += ["%s not in event_log" % e for e in sorted(set(got) - set(want))[:3]]
        ids = sorted(set(want) & set(got))
        for eid in ids:
            r, (key, hdrs, value) = want[eid], got[eid]
            if key != (r[1] if r[1] != "0" else None):
                problems.append("%s: key %r, user %s" % (eid, key, r[1]))
            if (hdrs.get("account_id"), hdrs.get("exchange"), hdrs.get("type"),
                    hdrs.get("schema")) != (r[2], r[3], typ, "1"):
                problems.append("%s: headers %s" % (eid, hdrs))
        if typ == "unknown":
            problems += ["%s: the value is not the raw frame" % e for e in ids
                         if got[e][2] != want[e][6].encode()][:3]
        else:
            try:
                decoded = protocheck.decode(PROTOC, PROTO, MESSAGES[typ],
                                            [got[e][2] for e in ids], tmp)
            except (subprocess.CalledProcessError, ValueError) as e:
                decoded = []
                problems.append("protoc --decode %s: %s" % (MESSAGES[typ], getattr(e, "stderr", e)))
            for eid, msg in zip(ids, decoded):
                bad = protocheck.compare(json.loads(want[eid][5]), msg, has_presence)
                if bad:
                    problems.append("%s: %s" % (eid, "; ".join(bad[:3])))
        total += len(ids)
        check(want and not problems,
              "%s: %d rows, %d messages: every row once after dedupe, key, headers, and each "
              "value %s%s" % (topic, len(want), len(msgs),
                              "the raw frame" if typ == "unknown" else
                              "decoded by protoc equal to its payload",
                              "" if not problems else ": " + "; ".join(problems[:4])))
    check(total > 1000, "%d values compared" % total)
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
