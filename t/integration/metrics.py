#!/usr/bin/python3
"""Issue 13, acceptance 4: /metrics, exfeedctl metrics and /health.

A stack with exsim accounts trading on two shards and the market worker
streaming two symbols (trades, mark prices, tickers, a local book, 1m
candles).

1. `promtool check metrics` (Debian's prometheus) passes on GET /metrics
   and on `exfeedctl metrics`; /metrics says version 0.0.4.
2. Every metric doc/metrics.md lists is there (but those it says come only
   with the WebSocket server), and every metric there is in the document
   (or is a generic `untyped` one); the labels say role, instance and, for
   the exchange workers, exchange; Kafka counters per topic; processes of
   every worker and the supervisor.
3. Values agree with exfeedctl status read just before and just after
   (events committed, events received by type, frames, per-topic
   deliveries); counters move as events flow; the commit latency
   histogram's buckets are cumulative, +Inf = _count, and its _count
   moves with the writer's events.
4. At most about one gather a second however many requests: 30
   concurrent requests cost at most 2 gathers.  With the writer stopped
   (SIGSTOP: the supervisor's status round waits its 1 s deadline) a
   request is still answered; with the supervisor stopped, /metrics and
   /health answer 503 at the gateway's 2.5 s deadline.
5. /ws/ops (python3-websockets): a message a second, its workers those of
   exfeedctl status, its accounts the shards' accounts by state summed,
   events_per_s and commit_latency_ms while exsim trades; no gathers once
   nobody watches.
6. /health: 200 and the workers of exfeedctl status; PostgreSQL stopped:
   503, "database": "unreachable", a reason naming PostgreSQL; started
   again: 200.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, EXFEEDCTL, PGTMP, SRC, skip_in_repeat_pass, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

# About 45 s: the plain and sanitizer passes run it, the tarball's pass need not.
skip_in_repeat_pass("metrics.py (the rendering runs in metrics_test)", sanitizer=True)

PROMTOOL = shutil.which("promtool")
if not PROMTOOL:
    print("1..0 # SKIP promtool is not installed (Debian package prometheus; tools/deps installs it)")
    sys.exit(77)

SYMS = ["BTCUSDT", "ETHUSDT"]
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{family: type}, [(name, {labels}, value)] of an exposition."""
    types, samples = {}, []
    for ln in text.splitlines():
        if ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ", 3)
            types[name] = typ
        elif ln and not ln.startswith("#"):
            m = LINE.match(ln)
            if not m:
                samples.append((None, {"line": ln}, None))
                continue
            labels = dict(LABEL.findall(m.group(3) or ""))
            samples.append((m.group(1), labels, float(m.group(4))))
    return types, samples


def total(samples, name, **want):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in want.items()))


def documented():
    """The metric names of doc/metrics.md's tables; those only the WebSocket server reports."""
    names, optional = set(), set()
    with open(os.path.join(SRC, "doc", "metrics.md")) as f:
        for ln in f:
            m = re.match(r"^\| `(exfeedd_[a-z0-9_]+)` \|", ln)
            if m:
                names.add(m.group(1))
                if "when the WebSocket server reports it" in ln:
                    optional.add(m.group(1))
    return names, optional


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def ops_messages(st, n, timeout):
    """The first n ops messages of /ws/ops after the one a client gets at once."""
    import asyncio
    import websockets

    async def run():
        out = []
        async with websockets.connect("ws://127.0.0.1:%d/ws/ops" % st.gw_port) as ws:
            first = True
            end = time.time() + timeout
            while len(out) < n and time.time() < end:
                try:
                    m = json.loads(await asyncio.wait_for(ws.recv(), end - time.time()))
                except asyncio.TimeoutError:
                    break
                if first:       # the latest at once: may be older than this connection
                    first = False
                    continue
                out.append(m)
        return out
    return asyncio.run(run())


def get(st, path, timeout=10):
    t0 = time.time()
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (st.gw_port, path),
                                    timeout=timeout) as r:
            return r.status, r.headers, r.read().decode(), time.time() - t0
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(), time.time() - t0


def promtool(text):
    out = subprocess.run([PROMTOOL, "check", "metrics"], input=text, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    return out.returncode, out.stdout.strip()


def workers_of(status):
    return sorted((w["role"], w["instance"], w["state"], w["pid"], w["restarts"])
                  for w in status["workers"])


def role_map(status, role, inst=0):
    for w in status["workers"]:
        if w["role"] == role and w["instance"] == inst:
            return (w.get("detail") or {}).get("role") or {}
    return {}


market = ["streams = markPrice@1s, ticker, trade, depth@100ms, kline", "intervals = 1m"]
with Stack(accounts=6, rate=100, seed=13, shards=2, market_symbols=SYMS, market=market) as st:
    st.prepare()
    st.start_daemon()
    check(st.wait_streaming(6, 30), "6 accounts streaming")
    check(wait_for(lambda: role_map(st.status(), "writer").get("events_committed", 0) > 50 and
                   role_map(st.status(), "market").get("books_published", 0) > 0, 30),
          "events committed and order books published")

    # 1. promtool on both.
    code, hdr, text, took = get(st, "/metrics")
    check(code == 200 and "version=0.0.4" in hdr.get("Content-Type", ""),
          "GET /metrics: 200, %s (%.3f s)" % (hdr.get("Content-Type"), took))
    rc, out = promtool(text)
    check(rc == 0, "promtool check metrics passes on GET /metrics (%d bytes)%s" %
          (len(text), "" if rc == 0 else ": " + out[:2000]))
    ctl = st.ctl("metrics")
    rc, out = promtool(ctl.stdout)
    check(rc == 0 and len(ctl.stdout) > 1000, "promtool check metrics passes on exfeedctl metrics "
          "(%d bytes)%s" % (len(ctl.stdout), "" if rc == 0 else ": " + out[:2000]))
    ctypes, csamples = parse(ctl.stdout)

    # 2. The document and the exposition name the same metrics.
    types, samples = parse(text)
    check(all(n is not None for n, _, _ in samples), "every sample line parses: %s" %
          [l for n, l, _ in samples if n is None][:3])
    names, optional = documented()
    families = set(types)
    missing = sorted(n for n in names - optional if n not in families)
    check(not missing and len(names) > 150, "every metric of doc/metrics.md (%d) is in /metrics; "
          "missing: %s" % (len(names), missing))
    undocumented = sorted(n for n in families if n not in names and types[n] != "untyped")
    check(not undocumented, "every typed metric of /metrics is in doc/metrics.md: %s" % undocumented)
    check(set(ctypes) == families, "exfeedctl metrics has the same families as /metrics: %s" %
          sorted(set(ctypes) ^ families)[:10])
    bad = [(n, l) for n, l, v in samples if n and ("role" not in l or "instance" not in l) and
           n not in ("exfeedd_build_info", "exfeedd_supervisor_uptime_seconds")]
    check(not bad, "every worker sample has role and instance: %s" % bad[:3])
    bad = [(n, l) for n, l, v in samples if n and l.get("role") in ("account", "market") and
           not n.startswith(("exfeedd_worker_", "exfeedd_process_")) and
           l.get("exchange") != "binance-futures"]
    check(not bad, "account and market samples say exchange=\"binance-futures\": %s" % bad[:3])
    roles = {(l["role"], l["instance"]) for n, l, v in samples if n == "exfeedd_process_cpu_seconds_total"}
    want = {("supervisor", "0"), ("account", "0"), ("account", "1"), ("market", "0"),
            ("writer", "0"), ("gateway", "0"), ("broker", "0")}
    check(roles == want, "CPU seconds of every process: %s" % sorted(roles))
    rss = [v for n, l, v in samples if n == "exfeedd_process_resident_memory_bytes"]
    check(len(rss) == 7 and all(1e6 < v < 4e9 for v in rss), "resident memory of 7 processes, "
          "1 MB to 4 GB: %s" % rss)
    starts = [v for n, l, v in samples if n == "exfeedd_process_start_time_seconds"]
    check(len(starts) == 7 and all(time.time() - 300 < v <= time.time() for v in starts),
          "start times within the last 5 minutes")
    topics = {l["topic"] for n, l, v in samples if n == "exfeedd_kafka_delivered_total"}
    check({"user-data-order-updates", "user-data-fills", "websocket.trade", "websocket.depth"} <=
          topics, "Kafka deliveries per topic: %s" % sorted(topics))

    # 3. Values between two exfeedctl status reads; counters move.
    time.sleep(1.1)     # the last answer too old to serve: the next GET gathers anew
    before = st.status()
    code, hdr, text1, _ = get(st, "/metrics?x=1")   # the query string is not part of the path
    after = st.status()
    check(code == 200, "GET /metrics?x=1: 200")
    _, s1 = parse(text1)

    def between(what, metric, key, wrole, **labels):
        lo = key(role_map(before, wrole))
        hi = key(role_map(after, wrole))
        v = total(s1, metric, **labels)
        check(lo <= v <= hi, "%s: exfeedctl status %d <= %s %d <= %d" % (what, lo, metric, v, hi))

    between("writer events committed", "exfeedd_writer_events_committed_total",
            lambda r: r.get("events_committed", 0), "writer", role="writer")
    for t in ("order", "fill", "balance"):
        between("writer committed %s" % t, "exfeedd_events_committed_total",
                lambda r, t=t: r.get("committed", {}).get(t, 0), "writer", type=t)
        lo = sum(role_map(before, "account", i).get("events_by_type", {}).get(t, 0) for i in (0, 1))
        hi = sum(role_map(after, "account", i).get("events_by_type", {}).get(t, 0) for i in (0, 1))
        v = total(s1, "exfeedd_events_received_total", type=t, role="account")
        check(lo <= v <= hi, "%s events received: %d <= %d <= %d" % (t, lo, v, hi))
    between("market frames", "exfeedd_market_frames_total", lambda r: r.get("messages", 0), "market")
    between("market books published", "exfeedd_market_books_published_total",
            lambda r: r.get("books_published", 0), "market")
    between("market trade deliveries", "exfeedd_kafka_delivered_total",
            lambda r: r.get("kafka", {}).get("delivered", {}).get("websocket.trade", 0), "market",
            role="market", topic="websocket.trade")
    between("relay fill deliveries", "exfeedd_kafka_delivered_total",
            lambda r: r.get("kafka", {}).get("delivered", {}).get("user-data-fills", 0), "writer",
            role="writer", topic="user-data-fills")
    lat = role_map(after, "writer")["latency_us"]
    buckets = [(l["le"], v) for n, l, v in s1 if n == "exfeedd_event_commit_latency_seconds_bucket"]
    count = total(s1, "exfeedd_event_commit_latency_seconds_count")
    check(len(buckets) == len(lat["bounds"]) + 1 and buckets[-1][0] == "+Inf" and
          buckets[-1][1] == count and all(buckets[i][1] <= buckets[i + 1][1]
                                          for i in range(len(buckets) - 1)),
          "commit latency: %d cumulative buckets, +Inf = _count = %d" % (len(buckets), count))
    check([float(le) for le, _ in buckets[:-1]] == [b / 1e6 for b in lat["bounds"]],
          "commit latency le = the writer's bounds in seconds (%s ... %s)" %
          (buckets[0][0], buckets[-2][0]))
    sm = total(s1, "exfeedd_event_commit_latency_seconds_sum")
    check(0 < sm <= count * 10 and role_map(before, "writer")["latency_us"]["count"] <= count <=
          lat["count"], "commit latency _count between the status reads, _sum %.3f s" % sm)
    # One commit sample per transaction; a batch's time in the database is
    # part of each of its events' latency, so its sum is at most theirs.
    ccount = total(s1, "exfeedd_writer_commit_seconds_count")
    csum = total(s1, "exfeedd_writer_commit_seconds_sum")
    check(role_map(before, "writer")["batches"] <= ccount <= role_map(after, "writer")["batches"]
          and 0 < csum <= sm + 0.001 * count,
          "commit time: _count %d between the status reads' batches, _sum %.3f s <= the "
          "events' latency sum %.3f s" % (ccount, csum, sm))
    time.sleep(3)
    _, _, text2, _ = get(st, "/metrics")
    _, s2 = parse(text2)
    for metric, labels in (("exfeedd_writer_events_committed_total", {}),
                           ("exfeedd_events_received_total", {"role": "account"}),
                           ("exfeedd_market_frames_total", {}),
                           ("exfeedd_event_commit_latency_seconds_count", {}),
                           ("exfeedd_kafka_delivered_total", {"role": "writer"}),
                           ("exfeedd_process_cpu_seconds_total", {"role": "market"})):
        a, b = total(s1, metric, **labels), total(s2, metric, **labels)
        check(b > a, "%s%s moved: %s -> %s" % (metric, labels or "", a, b))
    check(total(s2, "exfeedd_worker_up") == 6 and total(s2, "exfeedd_worker_restarts_total") == 0,
          "6 workers up, no restarts")

    # 4. At most about one gather a second.
    g0 = role_map(st.status(), "gateway").get("ops", {}).get("gathers", 0)
    time.sleep(1.2)     # the last answer too old: the burst waits for a new gather
    res = []
    ths = [threading.Thread(target=lambda: res.append(get(st, "/metrics")[0])) for _ in range(30)]
    t0 = time.time()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    took = time.time() - t0
    g1 = role_map(st.status(), "gateway").get("ops", {}).get("gathers", 0)
    check(res.count(200) == 30, "30 concurrent GET /metrics: all 200 in %.2f s" % took)
    check(1 <= g1 - g0 <= 2, "they cost %d gathers (1 or 2)" % (g1 - g0))
    wpid = st.worker_pid("writer")
    os.kill(wpid, signal.SIGSTOP)
    try:
        time.sleep(1.2)     # past the last gather's freshness
        code, _, text3, took = get(st, "/metrics")
        check(code == 200 and took < 2.5, "writer stopped: /metrics answered %d in %.2f s" % (code, took))
        check(promtool(text3)[0] == 0, "and promtool passes on it")
    finally:
        os.kill(wpid, signal.SIGCONT)
    # The supervisor itself stopped: nobody answers the gather; 503 at the deadline.
    os.kill(st.daemon.pid, signal.SIGSTOP)
    try:
        time.sleep(1.2)
        code, _, body, took = get(st, "/metrics")
        code2, _, body2, took2 = get(st, "/health")
    finally:
        os.kill(st.daemon.pid, signal.SIGCONT)
    check(code == 503 and "did not answer" in body and 2.0 < took < 3.5,
          "supervisor stopped: /metrics 503 after %.2f s: %s" % (took, body.strip()))
    h = json.loads(body2) if body2.startswith("{") else {}
    check(code2 == 503 and h.get("status") == "unavailable" and "did not answer" in h.get("reason", "")
          and took2 < 3.5, "and /health 503 after %.2f s: %s" % (took2, body2.strip()[:200]))
    check(wait_for(lambda: get(st, "/metrics")[0] == 200, 10), "supervisor continued: /metrics 200")
    t = role_map(st.status(), "gateway").get("ops", {}).get("gather_timeouts", 0)
    check(t >= 1, "the gateway counted %d gather timeouts" % t)

    # exfeedctl accounts while a gather runs: shard 1 slow (stopped), shard 0
    # answers the accounts query, then the gather's status request; the rows
    # of its first answer must still be there when shard 1 answers.
    time.sleep(1.2)
    apid = st.worker_pid("account", 1)
    os.kill(apid, signal.SIGSTOP)
    try:
        acc = subprocess.Popen([EXFEEDCTL, "-c", st.conf, "--json",
                                "accounts"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.35)    # its request is in: the gather's comes after it
        threading.Thread(target=lambda: get(st, "/metrics"), daemon=True).start()
        time.sleep(0.3)     # shard 0 answered both; shard 1 within the query's 1 s
    finally:
        os.kill(apid, signal.SIGCONT)
    out = json.loads(acc.communicate(timeout=15)[0] or "{}")
    check(out.get("missing") == 0 and len(out.get("accounts", [])) == 6,
          "exfeedctl accounts during a gather: 6 rows, %s missing" % out.get("missing"))

    # 5. The ops feed: one message a second while someone watches.
    msgs = ops_messages(st, 3, 6)
    st_now = st.status()
    check(len(msgs) == 3, "/ws/ops (python3-websockets): %d ops messages" % len(msgs))
    ok_shape = all(m.get("type") == "ops" and ISO.match(m.get("timestamp", "")) and
                   set(m.get("data", {})) == {"workers", "accounts", "events_per_s",
                                              "commit_latency_ms", "gateway"} for m in msgs)
    check(ok_shape, "each {type: ops, timestamp: ISO-8601, data: {workers, accounts, events_per_s, "
          "commit_latency_ms, gateway}}: %s" % json.dumps(msgs[-1])[:400] if msgs else "")
    if len(msgs) == 3:
        stamps = [m["timestamp"] for m in msgs]
        d = msgs[-1]["data"]
        check(sorted((w["role"], w["instance"], w["state"], w["pid"], w["restarts"])
                     for w in d["workers"]) == workers_of(st_now), "ops workers = exfeedctl status's")
        acc = {}
        for i in (0, 1):
            for k, v in role_map(st_now, "account", i).get("accounts_by_state", {}).items():
                acc[k] = acc.get(k, 0) + v
        check(d["accounts"] == acc and acc.get("streaming") == 6,
              "ops accounts = the shards' accounts by state summed: %s" % d["accounts"])
        check(stamps == sorted(set(stamps)), "timestamps increase: %s" % stamps)
        rates = [m["data"]["events_per_s"] for m in msgs[1:]]
        check(all(r is not None and 20 < r < 2000 for r in rates),
              "events_per_s while exsim trades: %s" % rates)
        lat = [m["data"]["commit_latency_ms"] for m in msgs[1:]]
        check(all(x and 0 < x["p50"] <= x["p99"] <= 10000 for x in lat),
              "commit_latency_ms p50 <= p99: %s" % lat)
        gwm = d["gateway"]
        check(gwm.get("connections_ops") == 1 and gwm.get("ops", {}).get("watchers") == 1,
              "gateway: 1 ops client, 1 watcher")
    g0 = role_map(st.status(), "gateway").get("ops", {}).get("gathers", 0)
    time.sleep(2.5)
    g1 = role_map(st.status(), "gateway").get("ops", {}).get("gathers", 0)
    check(g1 == g0, "nobody watching, nothing asked: no gather in 2.5 s (%d -> %d)" % (g0, g1))

    # 6. /health follows PostgreSQL.
    code, _, body, _ = get(st, "/health")
    h = json.loads(body)
    st_now = st.status()
    check(code == 200 and h.get("status") == "ok" and h.get("database") == "reachable",
          "/health: 200 ok, database reachable")
    check(sorted((w["role"], w["instance"], w["state"], w["pid"], w["restarts"])
                 for w in h.get("workers", [])) == workers_of(st_now),
          "/health's workers = exfeedctl status's")
    subprocess.run([PGTMP, "down", os.path.join(st.dir, "pg")], check=True, stdout=subprocess.DEVNULL)
    t0 = time.time()
    seen = {}

    def down():
        c, _, b, _ = get(st, "/health")
        seen["c"], seen["b"] = c, b
        return c == 503
    check(wait_for(down, 20, 0.5), "PostgreSQL stopped: /health 503 after %.1f s" % (time.time() - t0))
    h = json.loads(seen.get("b") or "{}")
    check(h.get("status") == "unavailable" and h.get("database") == "unreachable" and
          "PostgreSQL" in h.get("reason", ""), "503 says why: %s" % seen.get("b", "")[:300])
    subprocess.run([PGTMP, "up", os.path.join(st.dir, "pg")], check=True, stdout=subprocess.DEVNULL)
    t0 = time.time()
    check(wait_for(lambda: get(st, "/health")[0] == 200, 30, 0.5),
          "PostgreSQL back: /health 200 after %.1f s" % (time.time() - t0))
    code, _, body, _ = get(st, "/health")
    h = json.loads(body)
    check(h.get("status") == "ok" and h.get("database") == "reachable" and "reason" not in h,
          "and says ok, reachable")
    check(get(st, "/nothing")[0] == 404, "GET /nothing: 404")
finish()
