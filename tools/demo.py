"""tools/demo.py: the live part of tools/demo (see there)."""
import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "t", "integration"))
from stack import EXFEEDCTL, Stack  # noqa: E402


def writer_detail(st):
    for w in st.status()["workers"]:
        if w["role"] == "writer":
            return (w.get("detail") or {}).get("role") or {}
    return {}


def main():
    ap = argparse.ArgumentParser(prog="tools/demo")
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--rate", type=int, default=500, help="user events/s exsim makes")
    ap.add_argument("--seconds", type=int, default=0, help="stop after N seconds (0: Ctrl-C)")
    a = ap.parse_args()
    stop = [False]
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__(0, True))
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    with Stack(accounts=a.accounts, rate=a.rate, seed=int(time.time()), log_level="info",
               fast_pg=False) as st:
        print("demo: starting PostgreSQL, exsim (%d accounts, %d events/s), exfeedd in %s" %
              (a.accounts, a.rate, st.dir), flush=True)
        st.prepare()
        st.start_daemon()
        print("demo: exsim at %s; exfeedd log %s" % (st.rest, st.log), flush=True)
        print("demo: the daemon:  %s -c %s status" % (EXFEEDCTL, st.conf), flush=True)
        base = "http://127.0.0.1:%d" % st.gw_port
        print("demo: status page: %s/" % base, flush=True)
        # exfeedctl token mints a JWT with [gateway] jwt_secret_file (1 h by default).
        user = 1000 + st.accounts[min(st.accounts)]["id"]
        try:
            print("demo: user %d's orders: %s/orders#token=%s" % (user, base, st.token(user)),
                  flush=True)
        except RuntimeError as e:
            print("demo: no orders link: %s" % e, flush=True)
        # The embedded broker listens on a random port, new at each of its starts.
        kafka = st.status().get("kafka") or {}
        if kafka.get("brokers") == "embedded" and kafka.get("bootstraps"):
            print("demo: Kafka live:  kcat -b %s -C -t user-data-order-updates  (the embedded "
                  "broker; if it restarts, its new port is in status)" % kafka["bootstraps"],
                  flush=True)
        print("demo: the data:    psql '%s' -c 'SELECT account_id, symbol, side, price, qty, "
              "trade_time FROM fills ORDER BY trade_time DESC LIMIT 10'" % st.conninfo, flush=True)
        print("%8s %10s %11s %11s %11s %9s %9s" % ("time", "streaming", "exsim ev/s", "committed",
                                                   "commit ev/s", "p50", "p99"), flush=True)
        t0 = time.time()
        # A first sample to measure the rates of the first printed second from.
        last_c = last_m = None
        try:
            last_c = writer_detail(st).get("events_committed", 0)
            last_m = sum(st.sim_stats()["eventsMade"].values())
        except Exception:  # not up yet: the first row measures from zero
            pass
        last_t = time.time()
        while not stop[0] and (not a.seconds or time.time() - t0 < a.seconds):
            time.sleep(max(0.0, 1.0 - (time.time() - last_t)))
            now = time.time()
            try:
                rows = st.account_rows()
                wd = writer_detail(st)
                made = st.sim_stats()["eventsMade"]
            except Exception as e:  # the daemon may be mid-restart: say so, go on
                print("demo: %s" % e, flush=True)
                last_t = now
                continue
            streaming = sum(1 for r in rows if r.get("state") == "streaming")
            committed = wd.get("events_committed", 0)
            m = sum(made.values())
            lat = wd.get("latency_us", {})
            dt = now - last_t
            evs = (m - last_m) / dt if last_m is not None else 0
            cps = (committed - last_c) / dt if last_c is not None else 0
            print("%7.0fs %6d/%-3d %11.0f %11d %11.0f %7.1fms %7.1fms" % (
                now - t0, streaming, a.accounts, evs, committed, cps,
                lat.get("p50", 0) / 1000.0, lat.get("p99", 0) / 1000.0), flush=True)
            last_c, last_m, last_t = committed, m, now
        print("demo: stopping (exfeedd, exsim, PostgreSQL) and removing %s" % st.dir, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
