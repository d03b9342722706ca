#!/usr/bin/python3
"""Ground truth: replaying every event exsim sent for an account, from the
/sim/state taken before activity began, reproduces /sim/state afterwards;
and the REST snapshot endpoints agree with /sim/state."""
import asyncio
import os
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, check, collect, finish, run  # noqa: E402
import websockets  # noqa: E402

POS_FIELDS = ("pa", "ep", "bep", "cr", "mt", "iw", "ma")
BIG_BASE = 8389765600000000000  # ETHUSDT's first order id: past 2^53, as on the exchange
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")


def replay(base, events):
    orders, algos, fills, lite = {}, {}, set(), set()
    pos = {(p["s"], p["ps"]): {k: p[k] for k in POS_FIELDS} for p in base["positions"]}
    bal = {b["a"]: (b["wb"], b["cw"]) for b in base["balances"]}
    lev = dict(base["leverage"])
    multi = base["multiAssets"]
    for e in events:
        t = e["e"]
        if t == "ORDER_TRADE_UPDATE":
            o = e["o"]
            orders[o["i"]] = o
            if o["x"] in ("TRADE", "CALCULATED"):
                fills.add((o["t"], o["i"], o["l"], o["L"], o["n"], o["N"], o["m"], o["rp"]))
        elif t == "TRADE_LITE":
            lite.add((e["t"], e["i"], e["l"], e["L"]))
        elif t == "ALGO_UPDATE":
            algos[e["o"]["aid"]] = e["o"]
        elif t == "ACCOUNT_UPDATE":
            for b in e["a"]["B"]:
                bal[b["a"]] = (b["wb"], b["cw"])
            for p in e["a"]["P"]:
                pos[(p["s"], p["ps"])] = {k: p[k] for k in POS_FIELDS}
        elif t == "ACCOUNT_CONFIG_UPDATE":
            if "ac" in e:
                lev[e["ac"]["s"]] = e["ac"]["l"]
            else:
                multi = e["ai"]["j"]
    return orders, algos, fills, lite, pos, bal, lev, multi


def liq_check(st, risk):
    """Every liquidation price in /fapi/v3/positionRisk, recomputed from the
    truth: the mark at which the margin behind the position (its isolated
    wallet, or the cross wallet plus the other cross positions' PnL less
    their maintenance margin) equals the maintenance margin. Returns
    (mismatches, kinds of non-zero prices seen, zero prices seen)."""
    D = Decimal
    cw = D(next(b["cw"] for b in st["balances"] if b["a"] == "USDT"))
    spos = {(p["s"], p["ps"]): p for p in st["positions"] if D(p["pa"])}
    rows = {(r["symbol"], r["positionSide"]): r for r in risk if D(r["positionAmt"])}
    bad, kinds, zeros = [], set(), 0
    for (sym, ps), r in rows.items():
        p = spos[(sym, ps)]
        iso = p["mt"] == "isolated"
        mmr = D(r["maintMargin"]) / abs(D(r["notional"]))
        if iso:
            wb, legs = D(p["iw"]), [p]
        else:
            wb = cw + sum(D(o["unRealizedProfit"]) - D(o["maintMargin"])
                          for (s2, ps2), o in rows.items()
                          if s2 != sym and spos[(s2, ps2)]["mt"] == "cross")
            legs = [q for (s2, _), q in spos.items() if s2 == sym and q["mt"] == "cross"]
        num = wb - sum(D(q["pa"]) * D(q["ep"]) for q in legs)
        den = sum(abs(D(q["pa"])) * mmr - D(q["pa"]) for q in legs)
        want = max(num / den, D(0)) if den else D(0)
        got = D(r["liquidationPrice"])
        # margin left at the mark must be positive on the right side of LP
        mark = D(r["markPrice"])
        left = wb + sum(D(q["pa"]) * (mark - D(q["ep"])) - abs(D(q["pa"])) * mark * mmr for q in legs)
        if abs(got - want) > D("1e-6") * (1 + want) or (got > 0 and left <= 0):
            bad.append((sym, ps, str(got), str(want), str(left)))
        if got > 0:
            kinds.add(("isolated" if iso else "cross") + (" hedge" if ps != "BOTH" else "") +
                      (" long" if D(p["pa"]) > 0 else " short"))
        else:
            zeros += 1
    return bad, kinds, zeros


async def listen(ex, keys, accts):
    url = ex.ws + "/private/stream?" + "&".join("listenKey=" + k for k in keys)
    async with websockets.connect(url) as ws:
        ex.step(1500)
        ev = await collect(ws, 1.0)
        # and some time-driven activity too
        ex.fault("resume")
        ev += await collect(ws, 1.0)
        ex.fault("pause")
        ev += await collect(ws, 1.0)
    return ev


with Exsim("--accounts", "5", "--paused", "--seed", "5", "--rate", "1500",
           "--history", "100000") as ex:
    accts = ex.accounts()
    keys = [ex.listen_key(a) for a in accts]
    base = {a["id"]: ex.state(a["id"]) for a in accts}
    ev = run(listen(ex, keys, accts))
    check(len(ev) > 3000, "%d events received over one connection" % len(ev))
    liq_kinds = set()
    nliq = nself = 0
    p_reasons = set()
    for a, k in zip(accts, keys):
        aid = a["id"]
        mine = [e["data"] for e in ev if e["stream"] == k]
        st = ex.state(aid)
        orders, algos, fills, lite, pos, bal, lev, multi = replay(base[aid], mine)
        sorders = {o["i"]: o for o in st["orders"]}
        # the truth adds what no event's o names: an order's creation time,
        # an algo order's T and creation time
        check(orders == {i: {k: v for k, v in o.items() if k != "time"} for i, o in sorders.items()},
              "account %d: %d orders replayed == /sim/state orders (%d)" %
              (aid, len(orders), len(sorders)))
        check(algos == {g["aid"]: {k: v for k, v in g.items() if k not in ("T", "createTime")}
                        for g in st["algoOrders"]},
              "account %d: %d algo orders replayed == /sim/state" % (aid, len(algos)))
        first_t, first_x = {}, {}
        algo_t, algo_first = {}, {}
        for e in mine:
            if e["e"] == "ORDER_TRADE_UPDATE":
                first_t.setdefault(e["o"]["i"], e["o"]["T"])
                first_x.setdefault(e["o"]["i"], e["o"]["x"])
            elif e["e"] == "ALGO_UPDATE":
                algo_t[e["o"]["aid"]] = e["T"]
                algo_first.setdefault(e["o"]["aid"], (e["T"], e["o"]["X"]))
        check(all(o["time"] == first_t[i] if first_x[i] == "NEW" else o["time"] <= first_t[i]
                  for i, o in sorders.items()) and
              all(first_x[i] in ("NEW", "CALCULATED") for i in sorders),
              "account %d: an order's time in the truth == T of its NEW event (<= T of a "
              "liquidation's first)" % aid)
        check(all(g["T"] == algo_t[g["aid"]] and (g["createTime"], "NEW") == algo_first[g["aid"]]
                  for g in st["algoOrders"]),
              "account %d: an algo order's T and createTime in the truth == T of its last and of "
              "its NEW ALGO_UPDATE" % aid)
        sfills = {(f["t"], f["i"], f["l"], f["L"], f["n"], f["N"], f["m"], f["rp"])
                  for f in st["fills"]}
        check(fills == sfills and len(fills) == len(st["fills"]),
              "account %d: %d fills replayed == /sim/state fills" % (aid, len(fills)))
        check(lite == {x[:4] for x in sfills}, "account %d: TRADE_LITE for every fill" % aid)
        spos = {(p["s"], p["ps"]): {k: p[k] for k in POS_FIELDS} for p in st["positions"]}
        check(pos == spos, "account %d: positions replayed == /sim/state (%d)" % (aid, len(spos)))
        check(bal == {b["a"]: (b["wb"], b["cw"]) for b in st["balances"]},
              "account %d: balances replayed == /sim/state %s" % (aid, bal))
        check(lev == st["leverage"] and multi == st["multiAssets"],
              "account %d: leverage and multi-assets replayed == /sim/state" % aid)
        zs_ok = True
        per = {}
        for e in mine:
            if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] in ("TRADE", "CALCULATED"):
                per[e["o"]["i"]] = per.get(e["o"]["i"], Decimal(0)) + Decimal(e["o"]["l"])
                zs_ok &= per[e["o"]["i"]] == Decimal(e["o"]["z"])
        check(zs_ok, "account %d: cumulative z equals the sum of fills l" % aid)

        # REST snapshots agree with the truth
        acct = next(x for x in accts if x["id"] == aid)
        rb = {b["asset"]: (b["balance"], b["crossWalletBalance"])
              for b in ex.signed("GET", "/fapi/v3/balance", acct)[2]}
        check(rb == bal, "account %d: /fapi/v3/balance == /sim/state" % aid)
        rp = {(p["symbol"], p["positionSide"]): (p["positionAmt"], p["entryPrice"])
              for p in ex.signed("GET", "/fapi/v3/positionRisk", acct)[2] if Decimal(p["positionAmt"])}
        check(rp == {k: (v["pa"], v["ep"]) for k, v in spos.items() if Decimal(v["pa"])},
              "account %d: /fapi/v3/positionRisk == /sim/state positions" % aid)
        risk = ex.signed("GET", "/fapi/v3/positionRisk", acct)[2]
        bad, kinds, zeros = liq_check(st, risk)
        check(not bad, "account %d: liquidationPrice recomputed from the truth for %d positions "
              "(%d zero; %s)%s" % (aid, len([r for r in risk if Decimal(r["positionAmt"])]), zeros,
                                  sorted(kinds), " mismatches %s" % bad if bad else ""))
        liq_kinds |= kinds
        ro = {o["orderId"] for o in ex.signed("GET", "/fapi/v1/openOrders", acct)[2]}
        check(ro == {i for i, o in sorders.items() if o["X"] in ("NEW", "PARTIALLY_FILLED")},
              "account %d: /fapi/v1/openOrders == open orders in /sim/state (%d)" % (aid, len(ro)))
        ra = {g["algoId"] for g in ex.signed("GET", "/fapi/v1/openAlgoOrders", acct)[2]}
        check(ra == {g["aid"] for g in st["algoOrders"] if g["X"] in ("NEW", "TRIGGERING")},
              "account %d: /fapi/v1/openAlgoOrders == /sim/state" % aid)
        allo, trades = {}, set()
        for sym in ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"):
            for o in ex.signed("GET", "/fapi/v1/allOrders", acct, {"symbol": sym, "limit": 1000})[2]:
                allo[o["orderId"]] = (o["status"], o["executedQty"], o["time"], o["updateTime"])
            for t in ex.signed("GET", "/fapi/v1/userTrades", acct, {"symbol": sym, "limit": 1000})[2]:
                trades.add((t["id"], t["orderId"], t["qty"], t["price"]))
        check(allo == {i: (o["X"], o["z"], o["time"], o["T"]) for i, o in sorders.items()},
              "account %d: /fapi/v1/allOrders == /sim/state orders (status, executed, time, "
              "updateTime)" % aid)
        check(trades == {(f["t"], f["i"], f["l"], f["L"]) for f in st["fills"]},
              "account %d: /fapi/v1/userTrades == /sim/state fills" % aid)
        some = next(iter(sorders.values()))
        st_, _, one = ex.signed("GET", "/fapi/v1/order", acct, {"symbol": some["s"], "orderId": some["i"]})
        check(st_ == 200 and one["status"] == some["X"] and one["clientOrderId"] == some["c"],
              "account %d: /fapi/v1/order == /sim/state" % aid)
        st_, _, one = ex.signed("GET", "/fapi/v1/order", acct, {"symbol": some["s"],
                                                               "origClientOrderId": some["c"]})
        check(st_ == 200 and one["orderId"] == some["i"], "account %d: order by origClientOrderId" % aid)
        # order ids count per symbol; ETHUSDT's are past 2^53 (liquidations too)
        liq = [o for o in sorders.values() if o["c"].startswith("autoclose-")]
        check(all((o["i"] >= BIG_BASE) == (o["s"] == "ETHUSDT") for o in sorders.values()),
              "account %d: ETHUSDT order ids are >= %d, the others below" % (aid, BIG_BASE))
        for o in [o for o in liq if o["s"] == "ETHUSDT"][-1:]:
            st_, _, one = ex.signed("GET", "/fapi/v1/order", acct, {"symbol": o["s"], "orderId": o["i"]})
            check(st_ == 200 and one["orderId"] == o["i"] and one["status"] == o["X"],
                  "account %d: /fapi/v1/order finds liquidation order %d" % (aid, o["i"]))
            rows = ex.signed("GET", "/fapi/v1/allOrders", acct, {"symbol": o["s"], "orderId": 1,
                                                                 "limit": 1000})[2]
            ids = [r["orderId"] for r in rows]
            check(o["i"] in ids and ids == sorted(ids),
                  "account %d: allOrders from an orderId ascends by id" % aid)
        nliq += len(liq)

        # one trade, one time: TRADE_LITE T, the ORDER_TRADE_UPDATE o.T and
        # userTrades time of a fill agree, and with the truth's fill time
        # (a self-trade is two fills of one trade id: a fill's key is
        # (symbol, trade id, order id))
        lite_t = {(e["s"], e["t"], e["i"]): e["T"] for e in mine if e["e"] == "TRADE_LITE"}
        otu_t = {(e["o"]["s"], e["o"]["t"], e["o"]["i"]): e["o"]["T"] for e in mine
                 if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] in ("TRADE", "CALCULATED")}
        truth_t = {(f["s"], f["t"], f["i"]): f["T"] for f in st["fills"]}
        rest_t, rest_rows = {}, []
        for sym in ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"):
            for t in ex.signed("GET", "/fapi/v1/userTrades", acct, {"symbol": sym, "limit": 1000})[2]:
                rest_t[(sym, t["id"], t["orderId"])] = t["time"]
                rest_rows.append(t)
        check(lite_t == otu_t == truth_t == rest_t and truth_t,
              "account %d: %d fills: TRADE_LITE T == o.T == userTrades time == truth" %
              (aid, len(truth_t)))
        # self-trades: both executions of one trade id, one per order,
        # opposite sides, one maker (maker fee) and one taker
        by_trade = {}
        for f in st["fills"]:
            by_trade.setdefault((f["s"], f["t"]), []).append(f)
        pairs = [v for v in by_trade.values() if len(v) > 1]
        rows_by = {}
        for t in rest_rows:
            rows_by.setdefault((t["symbol"], t["id"]), []).append(t)
        ok = all(len(v) == 2 and v[0]["i"] != v[1]["i"] and {v[0]["S"], v[1]["S"]} == {"BUY", "SELL"}
                 and {v[0]["m"], v[1]["m"]} == {True, False} and v[0]["T"] == v[1]["T"] and
                 {r["orderId"] for r in rows_by.get((v[0]["s"], v[0]["t"]), [])} ==
                 {v[0]["i"], v[1]["i"]} for v in pairs)
        check(ok, "account %d: %d self-trades, each two executions (taker and maker, one per "
              "order) in the truth and in userTrades" % (aid, len(pairs)))
        nself += len(pairs)
        # every balance change moves that asset's updateTime to the event's T
        bal_t = {}
        for e in mine:
            if e["e"] == "ACCOUNT_UPDATE":
                for b in e["a"]["B"]:
                    bal_t[b["a"]] = e["T"]
        rbt = {b["asset"]: b["updateTime"] for b in ex.signed("GET", "/fapi/v3/balance", acct)[2]}
        check(all(rbt[k] == v for k, v in bal_t.items()) and "USDT" in bal_t,
              "account %d: /fapi/v3/balance updateTime == T of the asset's last ACCOUNT_UPDATE %s %s"
              % (aid, bal_t, rbt))
        # /fapi/v2/account: every symbol's position in the account's mode,
        # each as in the truth, its updateTime the T of the last
        # ACCOUNT_UPDATE that listed it (0 if none did)
        v2 = ex.signed("GET", "/fapi/v2/account", acct)[2]
        check({b["asset"]: (b["walletBalance"], b["crossWalletBalance"]) for b in v2["assets"]} == bal
              and {b["asset"]: b["updateTime"] for b in v2["assets"]} ==
              {b["a"]: b["updateTime"] for b in st["balances"]},
              "account %d: /fapi/v2/account assets == /sim/state balances" % aid)
        sides = ("LONG", "SHORT") if st["hedge"] else ("BOTH",)
        rows = {(p["symbol"], p["positionSide"]): p for p in v2["positions"]}
        check(set(rows) == {(s_, ps) for s_ in SYMBOLS for ps in sides} and
              len(v2["positions"]) == len(SYMBOLS) * len(sides),
              "account %d: /fapi/v2/account lists every symbol, %s" % (aid, "/".join(sides)))
        mtype = {c["symbol"]: c["marginType"] == "ISOLATED"
                 for c in ex.signed("GET", "/fapi/v1/symbolConfig", acct)[2]}
        spos_all = {(p["s"], p["ps"]): p for p in st["positions"]}
        pos_t = {}
        for e in mine:
            if e["e"] == "ACCOUNT_UPDATE":
                for p in e["a"]["P"]:
                    pos_t[(p["s"], p["ps"])] = e["T"]
                    p_reasons.add(e["a"]["m"] + (" flat" if not Decimal(p["pa"]) else ""))
        bad = []
        for k, r in rows.items():
            p = spos_all.get(k)
            want = (Decimal(p["pa"]) if p else 0, Decimal(p["ep"]) if p else 0,
                    p["mt"] == "isolated" if p else mtype[k[0]], str(st["leverage"][k[0]]),
                    p["updateTime"] if p else 0, pos_t.get(k, 0))
            got = (Decimal(r["positionAmt"]), Decimal(r["entryPrice"]), r["isolated"], r["leverage"],
                   r["updateTime"], r["updateTime"])
            if want != got:
                bad.append((k, want, got))
        check(not bad, "account %d: /fapi/v2/account positions (amount, entry, isolated, leverage, "
              "updateTime) == /sim/state and updateTime == T of the last ACCOUNT_UPDATE listing "
              "them (%d touched)%s" % (aid, len(pos_t), " %s" % bad[:3] if bad else ""))
        listed = {(p["s"], p["ps"], e["T"]) for e in mine if e["e"] == "ACCOUNT_UPDATE"
                  for p in e["a"]["P"]}
        check(all((f["s"], f["ps"], f["T"]) in listed and rows[(f["s"], f["ps"])]["updateTime"] >= f["T"]
                  for f in st["fills"]),
              "account %d: every fill moved its position's updateTime to the fill's T" % aid)
        # account config and algo orders
        sc = ex.signed("GET", "/fapi/v1/symbolConfig", acct)[2]
        check({c["symbol"]: c["leverage"] for c in sc} == st["leverage"] and
              all(c["marginType"] in ("CROSSED", "ISOLATED") for c in sc),
              "account %d: /fapi/v1/symbolConfig leverage == /sim/state" % aid)
        sc1 = ex.signed("GET", "/fapi/v1/symbolConfig", acct, {"symbol": "ETHUSDT"})[2]
        check([c["symbol"] for c in sc1] == ["ETHUSDT"], "account %d: symbolConfig of one symbol" % aid)
        ma = ex.signed("GET", "/fapi/v1/multiAssetsMargin", acct)[2]
        check(ma == {"multiAssetsMargin": st["multiAssets"]},
              "account %d: /fapi/v1/multiAssetsMargin == /sim/state" % aid)
        if st["algoOrders"]:
            g = st["algoOrders"][0]
            st_, _, one = ex.signed("GET", "/fapi/v1/algoOrder", acct, {"algoId": g["aid"]})
            check(st_ == 200 and one["algoStatus"] == g["X"] and one["clientAlgoId"] == g["caid"],
                  "account %d: /fapi/v1/algoOrder == /sim/state (%s)" % (aid, g["X"]))
            st_, _, one = ex.signed("GET", "/fapi/v1/algoOrder", acct, {"clientAlgoId": g["caid"]})
            check(st_ == 200 and one["algoId"] == g["aid"], "account %d: algo order by clientAlgoId" % aid)
            alla = {}
            for sym in ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"):
                for r in ex.signed("GET", "/fapi/v1/allAlgoOrders", acct, {"symbol": sym})[2]:
                    alla[r["algoId"]] = (r["algoStatus"], r["createTime"], r["updateTime"])
            check(alla == {x["aid"]: (x["X"], x["createTime"], x["T"]) for x in st["algoOrders"]},
                  "account %d: /fapi/v1/allAlgoOrders == /sim/state algo orders (status, "
                  "createTime, updateTime)" % aid)
        st_, _, err = ex.signed("GET", "/fapi/v1/algoOrder", acct, {"algoId": 1})
        check(st_ == 400 and err["code"] == -2013, "account %d: unknown algo order: -2013" % aid)
    check(nliq > 0, "%d liquidation orders in all" % nliq)
    check(nself > 0, "%d self-trades in all" % nself)
    check({"ORDER", "ORDER flat", "MARGIN_TYPE_CHANGE flat", "MARGIN_TRANSFER", "FUNDING_FEE"} <=
          p_reasons, "positions' updateTime checked across ACCOUNT_UPDATE reasons %s" %
          sorted(p_reasons))
    check({k.split(" ")[0] for k in liq_kinds} == {"cross", "isolated"} and
          any("hedge" in k for k in liq_kinds) and any("short" in k for k in liq_kinds),
          "non-zero liquidation prices for cross, isolated, hedge and short positions (%s)" %
          sorted(liq_kinds))

finish()
