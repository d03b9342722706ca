#!/usr/bin/python3
"""Issue 12, acceptance 3: closed candles without holes across every kind of
gap.  exsim at --time-scale 30 (a 1m candle closes every 2 s, a 15m one every
30 s), 2 symbols x 4 intervals of kline streams, kline_history 5, the real
daemon, writer and PostgreSQL.

After the start, and after each of
  1. the market connections killed (exsim fault kill_market),
  2. the market worker stopped for 2 exchange-minutes then kill -9'd (its pid
     from `exfeedctl status --json`; the supervisor starts another, which
     reads the stored candles),
  3. the whole daemon stopped for 3 exchange-minutes and started again,
`klines` holds every closed candle of every configured pair from its first
stored one to the newest exsim has closed (all but the newest, which may be
on its way), each row equal to exsim's (/sim/klines) in every column, and no
row exsim does not have; the streams are live again within the reconnect
backoff; the kline half says holes were found and filled, none given up.
At the end exsim counted 0 x 429 and 0 x 418.
"""
import os
import signal
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, wait_for, skip_in_repeat_pass  # noqa: E402
from tapcheck import check, finish  # noqa: E402

skip_in_repeat_pass("market_gaps (about 80 s of exsim time-scale)")

SCALE = 30
SYMS = ["BTCUSDT", "ETHUSDT"]
IVS = ["1m", "3m", "5m", "15m"]
EX_MIN_S = 60.0 / SCALE          # wall seconds of an exchange minute
RECONNECT_MAX_S = 2.0
COLS = ["open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume",
        "trades", "taker_buy_volume", "taker_buy_quote_volume"]


def exsim_closed(st, sym, iv):
    """exsim's closed candles of (sym, iv): /sim/klines less its last row, the open one."""
    rows = st.http("GET", "/sim/klines?symbol=%s&interval=%s" % (sym, iv))
    return [[int(r[0]), int(r[6]), Decimal(r[1]), Decimal(r[2]), Decimal(r[3]), Decimal(r[4]),
             Decimal(r[5]), Decimal(r[7]), int(r[8]), Decimal(r[9]), Decimal(r[10])]
            for r in rows[:-1]]


def db_rows(st, sym, iv):
    rows = st.sql("SELECT %s FROM klines WHERE exchange = 'binance-futures' AND symbol = '%s' "
                  "AND interval = '%s' ORDER BY open_time" % (", ".join(COLS), sym, iv))
    return [[int(r[0]), int(r[1])] + [Decimal(x) for x in r[2:8]] + [int(r[8]), Decimal(r[9]),
                                                                     Decimal(r[10])]
            for r in rows]


def holes(st):
    """What is wrong now, per pair: [] when klines is whole.  exsim is read
    before and after the table, so that a candle closing meanwhile is neither
    missing (before) nor unknown (after)."""
    bad = []
    for sym in SYMS:
        for iv in IVS:
            before = exsim_closed(st, sym, iv)
            db = db_rows(st, sym, iv)
            after = exsim_closed(st, sym, iv)
            if not db:
                if len(before) >= 2:
                    bad.append("%s %s: nothing stored, exsim closed %d" % (sym, iv, len(before)))
                continue
            by_t = {r[0]: r for r in after}
            for r in db:
                if r[0] not in by_t:
                    bad.append("%s %s %d: stored, exsim has no such closed candle (exsim's "
                               "closed: %d from %s to %s; stored %d, newest %d)" % (
                                   sym, iv, r[0], len(after), after and after[0][0],
                                   after and after[-1][0], len(db), db[-1][0]))
                elif r != by_t[r[0]]:
                    bad.append("%s %s %d: stored %s, exsim %s" % (sym, iv, r[0], r, by_t[r[0]]))
            have = {r[0] for r in db}
            # from the first stored to exsim's newest closed but one (on its way)
            want = [r[0] for r in before[:-1] if r[0] >= db[0][0]]
            miss = [t for t in want if t not in have]
            if miss:
                bad.append("%s %s: %d closed candles missing, first %d (stored %d from %d)" % (
                    sym, iv, len(miss), miss[0], len(db), db[0][0]))
    return bad


def whole(st, what, timeout=20):
    last = [[]]
    t = time.time()

    def ok():
        last[0] = holes(st)
        return not last[0]
    good = wait_for(ok, timeout, every=0.5)
    check(good, "%s: klines has every closed candle of %d pairs, equal to exsim's (%.1f s)%s" % (
        what, len(SYMS) * len(IVS), time.time() - t,
        "" if good else ": " + "; ".join(last[0][:4])))
    return good


def market(st):
    for w in st.status()["workers"]:
        if w["role"] == "market":
            return (w.get("detail") or {}).get("role")
    return None


def streams_live(st):
    m = market(st)
    if not m:
        return False
    ages = m.get("stream_ages", {})
    kl = [v for k, v in ages.items() if "@kline_" in k]
    return len(kl) == len(SYMS) * len(IVS) and all(v["state"] == "live" for v in kl)


def back_within_backoff(st, what, since):
    ok = wait_for(lambda: streams_live(st), RECONNECT_MAX_S + 8, every=0.1)
    check(ok, "%s: the %d kline streams are live after %.1f s (backoff at most %.0f s)" % (
        what, len(SYMS) * len(IVS), time.time() - since, RECONNECT_MAX_S))


def kline_status(st):
    m = market(st)
    return m.get("kline", {}) if m else {}


try:
    with Stack(accounts=1, rate=5, seed=12, shards=1, market_symbols=SYMS,
               weight_limit=2400, budget=1800,
               exsim_args=["--time-scale", str(SCALE)],
               database=["flush_interval = 5ms"],
               market=["streams = kline", "intervals = %s" % ", ".join(IVS),
                       "kline_history = 5", "reconnect_delay_min = 100ms",
                       "reconnect_delay_max = %.0fs" % RECONNECT_MAX_S]) as st:
        st.prepare()
        st.start_daemon()
        t0 = time.time()
        back_within_backoff(st, "start", t0)
        # a few 1m candles stored, then the first check
        wait_for(lambda: len(db_rows(st, "BTCUSDT", "1m")) >= 4, 20)
        whole(st, "start")

        # 1. the market connections killed
        t1 = time.time()
        st.fault("kill_market")
        back_within_backoff(st, "kill_market", t1)
        time.sleep(2 * EX_MIN_S)
        whole(st, "kill_market")

        # 2. the market worker stopped 2 exchange-minutes, then killed
        pid = st.worker_pid("market")
        check(pid is not None, "the market worker's pid from exfeedctl status --json (%s)" % pid)
        before = kline_status(st)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(2 * EX_MIN_S + 0.5)
        os.kill(pid, signal.SIGKILL)
        t2 = time.time()
        check(wait_for(lambda: st.worker_pid("market") not in (None, 0, pid), 15),
              "a new market worker (pid %s, was %d)" % (st.worker_pid("market"), pid))
        back_within_backoff(st, "market worker kill -9", t2)
        whole(st, "market worker kill -9")
        ks = kline_status(st)
        check(ks.get("holes_found", 0) > 0 and ks.get("candles_backfilled", 0) > 0,
              "the new worker found holes and backfilled them (%s found, %s candles; the "
              "first worker had backfilled %s)" % (ks.get("holes_found"),
                                                    ks.get("candles_backfilled"),
                                                    before.get("candles_backfilled")))

        # 3. the daemon down for 3 exchange-minutes
        st.stop_daemon()
        down = time.time()
        time.sleep(3 * EX_MIN_S)
        t3 = time.time()
        st.start_daemon()
        check(True, "daemon down %.1f s (%.1f exchange minutes)" % (
            t3 - down, (t3 - down) / EX_MIN_S))
        back_within_backoff(st, "daemon restart", t3)
        whole(st, "daemon restart")
        ks = kline_status(st)
        check(ks.get("holes_found", 0) > 0 and ks.get("candles_backfilled", 0) > 0 and
              ks.get("holes_abandoned") == 0 and ks.get("http_429") == 0 and
              ks.get("http_418") == 0,
              "after the restart: holes found %s, candles backfilled %s, given up %s, "
              "requests %s, weight %s, db %s, last error %r" % (
                  ks.get("holes_found"), ks.get("candles_backfilled"),
                  ks.get("holes_abandoned"), ks.get("requests"), ks.get("weight_spent"),
                  ks.get("db"), ks.get("last_error")))
        rest = st.sim_stats()["rest"]
        check(rest["http429"] == 0 and rest["http418"] == 0 and rest["bans"] == 0,
              "exsim: %d x 429, %d x 418, %d bans (REST weight %d in %d requests)" % (
                  rest["http429"], rest["http418"], rest["bans"], rest["weightUsed"],
                  rest["requests"]))
        check(time.time() - t0 < 90, "%.0f s of wall time" % (time.time() - t0))
except Exception as e:  # the harness failing is a failure, with what it said
    check(False, "harness: %r" % e)
finish()
