#!/usr/bin/python3
"""exsim history endpoints (allOrders, allAlgoOrders, userTrades, order,
algoOrder): the time windows of the Binance docs (-1023, -1127, -1128, the
7 days from startTime or up to endTime, the last 7 days by default, ids
from orderId/algoId/fromId), and retention: an order or algo order
cancelled or expired unfilled is gone 3 days after creation, any 90 days
after, a trade 6 months after (on --time-scale, as the other durations)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, check, finish  # noqa: E402

DAY = 24 * 3600 * 1000
WEEK = 7 * DAY
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
# endpoint, its from-id parameter, the row's id and time keys
LISTS = (("/fapi/v1/allOrders", "orderId", "orderId", "time"),
         ("/fapi/v1/allAlgoOrders", "algoId", "algoId", "createTime"),
         ("/fapi/v1/userTrades", "fromId", "id", "time"))


def err(resp, code, msg):
    st, _, js = resp
    return st == 400 and js == {"code": code, "msg": msg}


def everything(ex, acct, path, from_param, sym):
    """Every row the endpoint still has, through the id form, which has no
    default window."""
    st, _, js = ex.signed("GET", path, acct, {"symbol": sym, from_param: 0, "limit": 1000})
    assert st == 200, (path, st, js)
    return js


# --- windows ------------------------------------------------------------------------
# steps in small batches spread the rows (the same ones on every run) over
# a second or so
with Exsim("--accounts", "2", "--paused", "--seed", "4") as ex:
    for i in range(40):
        ex.step(40)
        time.sleep(0.02)
    accts = ex.accounts()
    now = int(time.time() * 1000)
    for path, fp, idk, tk in LISTS:
        name = path.rsplit("/", 1)[1]
        a, sym = max(((a, s) for a in accts for s in SYMBOLS),
                     key=lambda x: len(everything(ex, x[0], path, fp, x[1])))
        rows = everything(ex, a, path, fp, sym)
        check(len(rows) >= 6 and len({r[tk] for r in rows}) >= 4,
              "%s: account %d %s: %d rows at %d times to work on" %
              (name, a["id"], sym, len(rows), len({r[tk] for r in rows})))
        times = sorted(r[tk] for r in rows)
        ids = lambda js: sorted(r[idk] for r in js)  # noqa: E731

        def q(**p):
            p["symbol"] = sym
            p.setdefault("limit", 1000)
            return ex.signed("GET", path, a, p)

        check(err(q(startTime=now, endTime=now - 1), -1023, "Start time is greater than end time."),
              "%s: startTime > endTime -> -1023" % name)
        check(err(q(startTime=now - WEEK, endTime=now), -1127,
                  "More than 168 hours between startTime and endTime."),
              "%s: a window of exactly 7 days -> -1127" % name)
        check(err(q(startTime=now - 30 * DAY, endTime=now), -1127,
                  "More than 168 hours between startTime and endTime."),
              "%s: a 30-day window -> -1127" % name)
        st, _, js = q(startTime=now - WEEK + 1, endTime=now)
        check(st == 200 and ids(js) == ids(rows), "%s: a window just under 7 days is served" % name)
        st, _, js = q()
        check(st == 200 and ids(js) == ids(rows) and [r[tk] for r in js] == times,
              "%s: no time, no id: the last 7 days, oldest first (%d rows)" % (name, len(js)))
        # a window inside the rows: both bounds inclusive
        lo, hi = times[len(times) // 4], times[3 * len(times) // 4]
        st, _, js = q(startTime=lo, endTime=hi)
        check(st == 200 and ids(js) == sorted(r[idk] for r in rows if lo <= r[tk] <= hi),
              "%s: [startTime, endTime] both inclusive (%d of %d rows)" % (name, len(js), len(rows)))
        # startTime alone: the 7 days from it
        st, _, js = q(startTime=lo)
        check(st == 200 and ids(js) == sorted(r[idk] for r in rows if r[tk] >= lo),
              "%s: startTime alone: rows from it" % name)
        st, _, js = q(startTime=times[0] - WEEK)
        check(st == 200 and js == [], "%s: startTime alone, 7 days before the first row: "
              "[startTime, startTime + 7 days) holds none" % name)
        st, _, js = q(startTime=times[-1] - WEEK)
        check(st == 200 and ids(js) == sorted(r[idk] for r in rows if r[tk] < times[-1]),
              "%s: startTime alone stops short of startTime + 7 days" % name)
        st, _, js = q(startTime=times[-1] - WEEK + 1)
        check(st == 200 and ids(js) == ids(rows),
              "%s: startTime alone reaches startTime + 7 days - 1 ms" % name)
        # endTime alone: the 7 days up to it
        st, _, js = q(endTime=hi)
        check(st == 200 and ids(js) == sorted(r[idk] for r in rows if r[tk] <= hi),
              "%s: endTime alone: rows up to it" % name)
        st, _, js = q(endTime=times[-1] + WEEK)
        check(st == 200 and js == [], "%s: endTime alone, 7 days after the last row: "
              "(endTime - 7 days, endTime] holds none" % name)
        st, _, js = q(endTime=times[0] + WEEK)
        check(st == 200 and ids(js) == sorted(r[idk] for r in rows if r[tk] > times[0]),
              "%s: endTime alone stops short of endTime - 7 days" % name)
        st, _, js = q(endTime=times[0] + WEEK - 1)
        check(st == 200 and ids(js) == ids(rows),
              "%s: endTime alone reaches back to endTime - 7 days + 1 ms" % name)
        # from an id
        mid = sorted(r[idk] for r in rows)[len(rows) // 2]
        st, _, js = q(**{fp: mid})
        check(st == 200 and [r[idk] for r in js] == sorted(r[idk] for r in rows if r[idk] >= mid),
              "%s: %s=X: the rows with id >= X, ascending" % (name, fp))
        st, _, js = q(**{fp: mid, "limit": 3})
        check(st == 200 and [r[idk] for r in js] == sorted(r[idk] for r in rows if r[idk] >= mid)[:3],
              "%s: %s=X&limit=3: the first three of them" % (name, fp))
        if fp == "fromId":
            for extra in ({"startTime": lo}, {"endTime": hi}, {"startTime": lo, "endTime": hi}):
                check(err(q(fromId=mid, **extra), -1128, "Combination of optional parameters invalid."),
                      "%s: fromId with %s -> -1128" % (name, "/".join(sorted(extra))))
        else:
            st, _, js = q(**{fp: mid, "endTime": hi})
            check(st == 200 and ids(js) == sorted(r[idk] for r in rows if r[idk] >= mid and r[tk] <= hi),
                  "%s: %s with endTime: both bounds apply" % (name, fp))
            st, _, js = q(**{fp: mid, "startTime": now + DAY})
            check(st == 200 and js == [], "%s: %s with a startTime after every row: none" % (name, fp))

# --- retention: 3 days of the exchange = 1.5 s ----------------------------------------
SCALE = 3 * DAY / 1500.0
with Exsim("--accounts", "3", "--paused", "--seed", "6", "--time-scale", str(SCALE)) as ex:
    ex.step(1500)
    accts = ex.accounts()
    before = {}
    for a in accts:
        for path, fp, idk, tk in LISTS:
            for sym in SYMBOLS:
                before[(a["id"], path, sym)] = everything(ex, a, path, fp, sym)
    time.sleep(2.0)
    gone = kept = 0
    for a in accts:
        st = ex.state(a["id"])
        orders = {o["i"]: o for o in st["orders"]}
        algos = {g["aid"]: g for g in st["algoOrders"]}
        dead_o = {i for i, o in orders.items()
                  if o["X"] in ("CANCELED", "EXPIRED", "EXPIRED_IN_MATCH") and float(o["z"]) == 0}
        dead_a = {i for i, g in algos.items() if g["X"] in ("CANCELED", "EXPIRED") and
                  float(g["aq"]) == 0}
        for sym in SYMBOLS:
            was = {r["orderId"] for r in before[(a["id"], "/fapi/v1/allOrders", sym)]}
            now_ = {r["orderId"] for r in everything(ex, a, "/fapi/v1/allOrders", "orderId", sym)}
            check(now_ == was - dead_o and was & dead_o,
                  "account %d %s: after 3 days allOrders drops the %d cancelled/expired unfilled "
                  "orders, keeps %d" % (a["id"], sym, len(was & dead_o), len(now_)))
            was = {r["algoId"] for r in before[(a["id"], "/fapi/v1/allAlgoOrders", sym)]}
            now_ = {r["algoId"] for r in everything(ex, a, "/fapi/v1/allAlgoOrders", "algoId", sym)}
            check(now_ == was - dead_a, "account %d %s: after 3 days allAlgoOrders drops the %d "
                  "cancelled/expired unfilled algo orders, keeps %d" %
                  (a["id"], sym, len(was & dead_a), len(now_)))
            was = before[(a["id"], "/fapi/v1/userTrades", sym)]
            check(everything(ex, a, "/fapi/v1/userTrades", "fromId", sym) == was,
                  "account %d %s: after 3 days every trade is still there" % (a["id"], sym))
        bad = []
        for i, o in orders.items():
            r = ex.signed("GET", "/fapi/v1/order", a, {"symbol": o["s"], "orderId": i})
            if (i in dead_o) != err(r, -2013, "Order does not exist."):
                bad.append(i)
            gone += i in dead_o
            kept += i not in dead_o
        for i, g in algos.items():
            r = ex.signed("GET", "/fapi/v1/algoOrder", a, {"algoId": i})
            if (i in dead_a) != err(r, -2013, "Order does not exist."):
                bad.append(i)
        check(not bad, "account %d: /fapi/v1/order and /fapi/v1/algoOrder answer -2013 for exactly "
              "the cancelled/expired unfilled ones%s" % (a["id"], " (not: %s)" % bad[:5] if bad else ""))
    check(gone > 0 and kept > 0, "%d orders gone, %d kept" % (gone, kept))

# --- retention: 90 days = 1.5 s, 6 months = 3 s ----------------------------------------
SCALE = 90 * DAY / 1500.0
with Exsim("--accounts", "2", "--paused", "--seed", "6", "--time-scale", str(SCALE)) as ex:
    t0 = time.time()
    ex.step(600)
    a = ex.accounts()[0]
    st = ex.state(1)
    o, g = st["orders"][-1], st["algoOrders"][-1]
    time.sleep(max(0, t0 + 1.8 - time.time()))
    check(all(everything(ex, a, p, fp, s) == [] for p, fp, _, _ in LISTS[:2] for s in SYMBOLS),
          "after 90 days allOrders and allAlgoOrders are empty")
    check(err(ex.signed("GET", "/fapi/v1/order", a, {"symbol": o["s"], "orderId": o["i"]}), -2013,
              "Order does not exist.") and
          err(ex.signed("GET", "/fapi/v1/algoOrder", a, {"algoId": g["aid"]}), -2013,
              "Order does not exist."),
          "after 90 days the newest order and algo order answer -2013")
    n = sum(len(everything(ex, a, "/fapi/v1/userTrades", "fromId", s)) for s in SYMBOLS)
    check(n == len(st["fills"]) and n > 0, "after 90 days the %d trades are still there" % n)
    time.sleep(max(0, t0 + 3.3 - time.time()))
    n = sum(len(everything(ex, a, "/fapi/v1/userTrades", "fromId", s)) for s in SYMBOLS)
    check(n == 0, "after 6 months userTrades is empty")

finish()
