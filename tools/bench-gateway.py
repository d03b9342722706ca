#!/usr/bin/python3
"""tools/bench gateway: the gateway's fan-out under many clients.

A throwaway PostgreSQL (tools/pgtmp, fsync on), exsim with --users accounts
(one a user, quiet: they only make the users exist and be active), exfeedd;
then --clients WebSocket clients (node's ws, tools/bench-gateway.cjs, in
--procs processes) over the users, client i of user 1001 + i mod users,
each authenticated with its own JWT (minted here with the configured
secret) and subscribed to every user channel.

1. Idle: once every client has its snapshot, the gateway's CPU-seconds a
   second over the next --settle seconds (longer than the clients' 30 s
   heartbeat_interval, so every client's ping and pong is in it), then its
   memory: (PSS with the clients - PSS before them) / clients.
2. Load: tools/dpsend offers --rate events/s (order lifecycles: orders,
   fills, positions, balances) of those users' accounts to the writer for
   --seconds; the writer commits them and forwards them to the gateway,
   which sends each to its user's clients.  Every client measures, for each
   message of its user, arrival - committed_at (the writer's COMMIT, in the
   message; the same machine's clock): commit -> client delivery.  Counted
   too: messages of another user (must be 0), messages without
   committed_at, closes by code, and the gateway's CPU-seconds per 1,000
   messages delivered.

Options: --users N (2000), --clients N (10000), --rate R (5000), --seconds S
(30), --warmup S (5: load before the window), --settle S (35), --procs N
(2), --keep, --json FILE.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
os.environ.setdefault("top_srcdir", SRC)
os.environ.setdefault("top_builddir", os.path.join(SRC, "_build"))
sys.path.insert(0, os.path.join(SRC, "t", "integration"))
import stack as stk  # noqa: E402
sys.path.insert(0, HERE)
from benchlib import (TreeCPU, cpu_s, cpu_share, cpu_times, postmaster_pid, quantiles,
                      run_queue)  # noqa: E402

WS_VERSION = "8.18.0"
DPSEND = os.path.join(os.environ["top_builddir"], "tools", "dpsend")


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint(user, key, ttl=7200):
    now = int(time.time())
    h = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64u(json.dumps({"sub": str(user), "iat": now, "exp": now + ttl}).encode())
    s = b64u(hmac.new(key, (h + "." + p).encode(), hashlib.sha256).digest())
    return h + "." + p + "." + s


def ws_dir():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = os.path.join(cache, "exfeedd", "ws-" + WS_VERSION)
    if not os.path.exists(os.path.join(d, "node_modules", "ws", "package.json")):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "package.json"), "w") as f:
            json.dump({"name": "exfeedd-bench-ws", "private": True}, f)
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund",
                        "--loglevel=error", "ws@" + WS_VERSION], cwd=d, check=True, timeout=300)
    return d


def pss_kb(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        return sum(int(l.split()[1]) for l in f if l.startswith("Pss:"))


def q(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else None


class Clients:
    """One node process of clients: its stdout lines, JSON each."""

    def __init__(self, url, clients, wsd, tmp, n):
        self.file = os.path.join(tmp, "clients%d.json" % n)
        with open(self.file, "w") as f:
            json.dump(clients, f)
        env = dict(os.environ, WS_DIR=wsd)
        self.p = subprocess.Popen(["node", os.path.join(HERE, "bench-gateway.cjs"), url,
                                   self.file], stdout=subprocess.PIPE, text=True, env=env)

    def line(self, timeout):
        import select
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise RuntimeError("a client process said nothing in %d s" % timeout)
        ln = self.p.stdout.readline()
        if not ln:
            raise RuntimeError("a client process exited: %s" % self.p.poll())
        return json.loads(ln)

    def window(self):
        self.p.send_signal(signal.SIGUSR1)
        return self.line(120)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    # The idle window: longer than the clients' heartbeat_interval (30 s
    # below), so that it holds every client's ping and pong.
    ap.add_argument("--settle", type=int, default=35)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--heartbeat", type=int, default=30)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    wsd = ws_dir()
    res = {"users": a.users, "clients": a.clients, "rate": a.rate, "seconds": a.seconds,
           "machine": "%s, %d CPUs, %s" % (platform.machine(), os.cpu_count(),
                                           platform.release()),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    st = stk.Stack(accounts=a.users, rate=1, shards=2, log_level="info", fast_pg=False,
                   budget=50000, weight_limit=1000000, keep=a.keep,
                   userdata=["accounts_per_connection = 200", "silence_timeout = 60s"],
                   gateway=["max_connections = %d" % (a.clients + 100),
                            "max_connections_per_user = %d" % (a.clients // a.users + 5),
                            "heartbeat_interval = %ds" % a.heartbeat])
    procs = []
    tmp = tempfile.mkdtemp(prefix="bench-gateway.")
    try:
        st.prepare()
        st.start_daemon()
        rows = st.sql("SELECT id, user_id FROM exchange_accounts WHERE is_active ORDER BY id")
        acct_user = {int(r[0]): int(r[1]) for r in rows}
        if len(acct_user) != a.users or any(u != i + 1000 for i, u in acct_user.items()):
            raise RuntimeError("accounts are not 1..N of users 1001..1000+N: %s" % rows[:5])
        gw = st.worker_pid("gateway")
        time.sleep(2)
        pss0 = pss_kb(gw)
        key = st.jwt_secret()
        clients = [{"user": 1001 + i % a.users, "token": mint(1001 + i % a.users, key)}
                   for i in range(a.clients)]
        url = "ws://127.0.0.1:%d" % st.gw_port
        t0 = time.time()
        per = (len(clients) + a.procs - 1) // a.procs
        procs = [Clients(url, clients[i * per:(i + 1) * per], wsd, tmp, i) for i in range(a.procs)]
        opened = [c.line(600) for c in procs]
        res["open"] = opened
        res["open_s"] = round(time.time() - t0, 1)
        log("clients open in %.1f s: %s" % (res["open_s"], opened))
        i0, it0 = cpu_s(gw), time.time()
        time.sleep(a.settle)
        i1, it1 = cpu_s(gw), time.time()
        res["idle_gateway_cpu_per_s"] = round((i1 - i0) / (it1 - it0), 4)
        log("idle: the gateway used %.4f CPU-s a second with the clients open" %
            res["idle_gateway_cpu_per_s"])
        if st.worker_pid("gateway") != gw:
            raise RuntimeError("the gateway restarted")
        pss1 = pss_kb(gw)
        n_open = sum(o["snapshots"] for o in opened)
        res["pss_kb"] = [pss0, pss1]
        res["bytes_per_idle_client"] = round((pss1 - pss0) * 1024 / max(1, n_open))
        log("gateway PSS %d kB -> %d kB with %d clients: %d bytes a client" %
            (pss0, pss1, n_open, res["bytes_per_idle_client"]))
        for c in procs:
            c.window()
        n = int(a.rate * (a.seconds + a.warmup + 5))
        dp = subprocess.Popen([DPSEND, "-s", os.path.join(st.run, "writer.sock"), "-g", str(n),
                               "-k", str(a.users), "--user-offset", "1000", "-R", str(a.rate),
                               "-b", "10", "-S", "29", "-t", str(a.seconds * 4 + 60)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(a.warmup)
        for c in procs:
            c.window()
        # Who uses the two CPUs: every process of the run, and the machine's idle share.
        others = {"clients (node)": [c.p.pid for c in procs], "dpsend": [dp.pid],
                  "exsim": [st.exsim.pid]}
        pg = TreeCPU(postmaster_pid(st))
        pg.sample(start=True)
        o0 = {k: sum(cpu_s(p) for p in v) for k, v in others.items()}
        m0 = cpu_times()
        wpid = st.worker_pid("writer")
        c0, w0, t1 = cpu_s(gw), cpu_s(wpid), time.time()
        s0 = st.status()
        g0 = st.gateway_status(s0)
        rq0 = {"gateway": run_queue(gw), "writer": run_queue(wpid)}
        time.sleep(a.seconds)
        wins = [c.window() for c in procs]
        c1, w1, t2 = cpu_s(gw), cpu_s(wpid), time.time()
        s1 = st.status()
        g1 = st.gateway_status(s1)
        rq1 = {"gateway": run_queue(gw), "writer": run_queue(wpid)}
        # Waits for a CPU: each time the process was woken (a socket
        # readable), how long it stood in the run queue before it ran.
        rq = {k: {"wait_s": round(rq1[k][0] - rq0[k][0], 3), "runs": rq1[k][1] - rq0[k][1]}
              for k in rq0}
        res["run_queue"] = rq
        share = cpu_share(m0, cpu_times())
        pg.sample()
        used = {"gateway": c1 - c0, "writer": w1 - w0, "postgresql": pg.total()}
        used.update({k: sum(cpu_s(p) for p in v) - o0[k] for k, v in others.items()})
        # The gateway's own clocks over the window (status histograms, hist.h):
        # COMMIT -> the event arrived, COMMIT -> its message written to a client.
        gw_clock = {}
        for k in ("feed_us", "delivery_us", "queue_us"):
            n_k, q_k = quantiles(g1[k]["bounds"], g0[k]["counts"], g1[k]["counts"])
            gw_clock[k] = {"samples": n_k, "p50_us": q_k[0], "p99_us": q_k[1],
                           "p999_us": q_k[2]}
        # Each worker's turns of its event loop over the window (worker.c):
        # the longest delay a turn put on every event behind it.
        turns = {}
        for x0, x1 in zip(s0["workers"], s1["workers"]):
            h0, h1 = ((x.get("detail") or {}).get("loop_busy_us") for x in (x0, x1))
            if x0["role"] != x1["role"] or not h0 or not h1:
                continue
            n_k, q_k = quantiles(h1["bounds"], h0["counts"], h1["counts"])
            turns["%s %d" % (x1["role"], x1["instance"])] = {
                "turns": n_k, "p99_us": q_k[1], "p999_us": q_k[2],
                "over_10ms": sum(c1 - c0 for b, c0, c1 in zip(h1["bounds"] + [None],
                                                             h0["counts"], h1["counts"])
                                 if b is None or b > 10000)}
        res["loop_busy"] = turns
        out, err = dp.communicate(timeout=a.seconds * 4 + 120)
        lat = []
        for c in procs:
            lat += [int(x) for x in open(c.file + ".lat").read().split()] \
                if os.path.exists(c.file + ".lat") else []
        lat.sort()
        msgs = sum(w["messages"] for w in wins)
        res.update({
            "window_s": round(t2 - t1, 1),
            "messages": msgs, "messages_per_s": round(msgs / (t2 - t1)),
            "foreign": sum(w["foreign"] for w in wins),
            "nolatency": sum(w["nolatency"] for w in wins),
            "closes": [w["closes"] for w in wins],
            "p50_us": q(lat, 0.5), "p99_us": q(lat, 0.99), "p999_us": q(lat, 0.999),
            "max_us": lat[-1] if lat else None, "samples": len(lat),
            "gateway_cpu_s": round(c1 - c0, 2), "writer_cpu_s": round(w1 - w0, 2),
            "gateway_cpu_s_per_1000_messages": round((c1 - c0) / max(1, msgs) * 1000, 4),
            "dpsend": out.strip().splitlines()[-1:] if out else err.strip().splitlines()[-1:],
            "gateway_status": {k: g1.get(k) for k in g1 if isinstance(g1.get(k), int)},
            "cpu_s": {k: round(v, 2) for k, v in used.items()},
            "gateway_clock": gw_clock,
            "machine_idle_pct": round(share["idle"], 1), "steal_pct": round(share["steal"], 1),
        })
        res["events_committed_per_s"] = None
        print("gateway: %d clients over %d users, %s" % (a.clients, a.users, res["machine"]))
        print("  open: %d clients with their snapshot in %.1f s; idle: %d bytes of gateway "
              "memory (PSS) a client, %.4f CPU-s a second" %
              (n_open, res["open_s"], res["bytes_per_idle_client"], res["idle_gateway_cpu_per_s"]))
        print("  load: dpsend offering %g events/s; %d messages delivered in %.0f s (%d/s), "
              "%d of another user, %d without committed_at" %
              (a.rate, msgs, t2 - t1, res["messages_per_s"], res["foreign"], res["nolatency"]))
        print("  commit -> client delivery: p50 %s us, p99 %s us, p99.9 %s us, max %s us "
              "(%d samples)" % (res["p50_us"], res["p99_us"], res["p999_us"], res["max_us"],
                                len(lat)))
        print("  the gateway's own clock (bucket bounds, 26%%): commit -> arrived p50 %d, p99 %d us; "
              "commit -> written to the client p50 %d, p99 %d, p99.9 %d us (%d samples)" %
              (gw_clock["feed_us"]["p50_us"], gw_clock["feed_us"]["p99_us"],
               gw_clock["delivery_us"]["p50_us"], gw_clock["delivery_us"]["p99_us"],
               gw_clock["delivery_us"]["p999_us"], gw_clock["delivery_us"]["samples"]))
        print("  of which in the gateway (arrived -> written): p50 %d, p99 %d, p99.9 %d us" %
              (gw_clock["queue_us"]["p50_us"], gw_clock["queue_us"]["p99_us"],
               gw_clock["queue_us"]["p999_us"]))
        print("  event-loop turns (callbacks between two polls): %s" % "; ".join(
            "%s %d turns, p99 %d us, p99.9 %d us, %d over 10 ms" %
            (k, v["turns"], v["p99_us"], v["p999_us"], v["over_10ms"])
            for k, v in sorted(turns.items()) if k.split()[0] in ("gateway", "writer")))
        print("  waits for a CPU (schedstat): %s" % "; ".join(
            "%s %.3f s over %d runs (%.0f us a run)" %
            (k, v["wait_s"], v["runs"], v["wait_s"] * 1e6 / max(1, v["runs"]))
            for k, v in sorted(rq.items())))
        print("  CPU: gateway %.2f s (%.4f s per 1,000 messages), writer %.2f s" %
              (c1 - c0, res["gateway_cpu_s_per_1000_messages"], w1 - w0))
        print("  the 2 CPUs over the window: %.0f%% idle, %.1f%% stolen; CPU-s: %s" %
              (share["idle"], share["steal"], ", ".join(
                  "%s %.2f" % kv for kv in sorted(used.items(), key=lambda kv: -kv[1]))))
        print("  closes by code: %s" % res["closes"])
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1)
    finally:
        for c in procs:
            c.stop()
        st.stop()


if __name__ == "__main__":
    main()
