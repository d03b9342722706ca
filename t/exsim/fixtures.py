#!/usr/bin/python3
"""Every event and REST body exsim emits has exactly the key set and JSON
value types of the matching Binance fixture in t/fixtures/binance.

Where two fixtures of one event disagree, the rule is stated inline:
- ORDER_TRADE_UPDATE x=TRADE X=FILLED: the only capture is from 2023-07,
  before V/pm/gtd existed; exsim follows the 2024 captures, so a FILLED
  event must equal the PARTIALLY_FILLED capture's shape and hold every key
  of the 2023 one.
- ACCOUNT_UPDATE.a.P[]: the doc example has bep but no ma, the capture has
  ma but no bep; real frames carry both (FACTS §1.3), so P[] must be the
  union.
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import (Exsim, check, collect, finish, load_fixture, run, shape,  # noqa: E402
                       shape_diff)
import websockets  # noqa: E402


def same_shape(obj, fixture, what):
    d = shape_diff(shape(obj), shape(load_fixture(fixture) if isinstance(fixture, str) else fixture))
    check(not d, "%s matches %s%s" % (what, fixture if isinstance(fixture, str) else "fixture",
                                      "" if not d else ": " + "; ".join(d[:6])))


def otu_fixture(o):
    return {"NEW": "order_trade_update_new_capture.json",
            "CANCELED": "order_trade_update_canceled_capture.json",
            "EXPIRED": "order_trade_update_expired_capture.json",
            "AMENDMENT": "order_trade_update_new_capture.json",
            "CALCULATED": "order_trade_update_partially_filled_capture.json",
            "TRADE": "order_trade_update_partially_filled_capture.json"}[o["x"]]


async def user_events(ex, keys):
    url = ex.ws + "/private/stream?" + "&".join("listenKey=" + k for k in keys)
    async with websockets.connect(url) as ws:
        ex.step(4000)
        ev = await collect(ws, 2.0)
        ex.fault("expire_listen_key", account=1)
        ev += await collect(ws, 1.0)
    return ev


async def market_events(ex):
    names = ["btcusdt@trade", "btcusdt@aggTrade", "btcusdt@kline_1m", "btcusdt@markPrice@1s",
             "!markPrice@arr@1s", "btcusdt@ticker", "btcusdt@miniTicker", "btcusdt@depth@100ms",
             "btcusdt@depth5@100ms", "btcusdt@bookTicker", "!forceOrder@arr"]
    out = {}
    for route, sel in (("market", names[1:7] + names[10:]), ("public", [names[0]] + names[7:10])):
        async with websockets.connect(ex.ws + "/%s/stream?streams=%s" % (route, "/".join(sel))) as ws:
            # liquidations come from the activity model; step it and the
            # (paused) market clock while listening
            for i in range(6):
                ex.step(1500, ticks=12)
                for e in await collect(ws, 0.6):
                    out.setdefault(e["stream"], e)
    return out


with Exsim("--accounts", "6", "--paused", "--seed", "11", "--time-scale", "1") as ex:
    accts = ex.accounts()
    keys = [ex.listen_key(a) for a in accts]
    ev = [e for e in run(user_events(ex, keys))]
    check(all(set(e) == set(load_fixture("account_update_deposit_combined_stream_capture.json"))
              for e in ev), "private combined envelope keys {stream,data} as in the legacy capture")
    data = [e["data"] for e in ev]
    seen = {}
    for d in data:
        t = d["e"]
        if t == "ORDER_TRADE_UPDATE":
            t += ":" + d["o"]["x"] + ":" + d["o"]["X"]
        elif t == "ACCOUNT_CONFIG_UPDATE":
            t += ":" + ("ac" if "ac" in d else "ai")
        elif t == "ALGO_UPDATE":
            t += ":" + d["o"]["X"]
        elif t == "ACCOUNT_UPDATE":
            t += ":" + d["a"]["m"]
        seen.setdefault(t, d)
    print("event kinds seen:", sorted(seen))
    need = ["ORDER_TRADE_UPDATE:NEW:NEW", "ORDER_TRADE_UPDATE:TRADE:PARTIALLY_FILLED",
            "ORDER_TRADE_UPDATE:TRADE:FILLED", "ORDER_TRADE_UPDATE:CANCELED:CANCELED",
            "ORDER_TRADE_UPDATE:EXPIRED:EXPIRED", "ORDER_TRADE_UPDATE:EXPIRED:EXPIRED_IN_MATCH",
            "ORDER_TRADE_UPDATE:AMENDMENT:NEW", "ORDER_TRADE_UPDATE:CALCULATED:FILLED",
            "TRADE_LITE", "ACCOUNT_UPDATE:ORDER", "ACCOUNT_UPDATE:FUNDING_FEE",
            "ACCOUNT_UPDATE:DEPOSIT", "ACCOUNT_UPDATE:WITHDRAW", "MARGIN_CALL",
            "ACCOUNT_CONFIG_UPDATE:ac", "ACCOUNT_CONFIG_UPDATE:ai", "ALGO_UPDATE:NEW",
            "ALGO_UPDATE:TRIGGERING", "ALGO_UPDATE:TRIGGERED", "ALGO_UPDATE:FINISHED",
            "ALGO_UPDATE:CANCELED", "ALGO_UPDATE:EXPIRED", "ALGO_UPDATE:REJECTED",
            "listenKeyExpired"]
    check(not [n for n in need if n not in seen], "every lifecycle step and event type occurs "
          "(missing %s)" % [n for n in need if n not in seen])

    filled_2023 = load_fixture("order_trade_update_filled_capture.json")
    for kind, d in sorted(seen.items()):
        e = d["e"]
        if e == "ORDER_TRADE_UPDATE":
            same_shape(d, otu_fixture(d["o"]), kind)
            if d["o"]["X"] == "FILLED":
                missing = set(filled_2023["o"]) - set(d["o"])
                extra = set(d["o"]) - set(filled_2023["o"])
                check(not missing and extra == {"V", "pm", "gtd"},
                      "%s holds the 2023 FILLED capture's keys plus V/pm/gtd" % kind)
        elif e == "TRADE_LITE":
            same_shape(d, "trade_lite.json", kind)
        elif e == "ACCOUNT_UPDATE":
            doc = load_fixture("account_update.json")
            cap = load_fixture("account_update_capture.json")
            want = dict(doc)
            want["a"] = dict(doc["a"])
            want["a"]["P"] = [dict(doc["a"]["P"][0], **cap["a"]["P"][0])]
            same_shape(d, want, kind + " (P[] = doc keys + capture's ma)")
        elif e == "MARGIN_CALL":
            # cw comes with cross margin calls only (FACTS §1.3)
            want = dict(load_fixture("margin_call.json"))
            if not any(p["mt"] == "CROSSED" for p in d["p"]):
                del want["cw"]
            same_shape(d, want, kind + (" (isolated: no cw)" if "cw" not in want else ""))
        elif e == "ACCOUNT_CONFIG_UPDATE":
            same_shape(d, "account_config_update_leverage.json" if "ac" in d else
                       "account_config_update_multi_assets.json", kind)
        elif e == "ALGO_UPDATE":
            same_shape(d, "algo_update.json", kind)
        elif e == "listenKeyExpired":
            same_shape(d, "listen_key_expired.json", kind)
        else:
            check(False, "unexpected event type %s" % e)
    # every single event, not just one per kind
    bad = [d for d in data if d["e"] == "ORDER_TRADE_UPDATE" and
           shape_diff(shape(d), shape(load_fixture(otu_fixture(d["o"]))))]
    check(not bad, "all %d ORDER_TRADE_UPDATE events have their fixture's shape" %
          sum(1 for d in data if d["e"] == "ORDER_TRADE_UPDATE"))

    mk = run(market_events(ex))
    table = {"btcusdt@trade": "trade_capture.json", "btcusdt@aggTrade": "agg_trade.json",
             "btcusdt@kline_1m": "kline.json", "btcusdt@markPrice@1s": "mark_price_update.json",
             "!markPrice@arr@1s": "mark_price_update_all_market.json",
             "btcusdt@ticker": "ticker_24hr.json", "btcusdt@miniTicker": "mini_ticker_24hr.json",
             "btcusdt@depth@100ms": "depth_update_diff.json",
             "btcusdt@depth5@100ms": "depth_update_partial.json",
             "btcusdt@bookTicker": "book_ticker.json", "!forceOrder@arr": "force_order.json"}
    for stream, fx in sorted(table.items()):
        if check(stream in mk, "market stream %s delivered" % stream):
            same_shape(mk[stream]["data"], fx, stream)
    if "btcusdt@trade" in mk:
        same_shape(mk["btcusdt@trade"], "combined_stream_trade_capture.json", "combined trade frame")

    # REST bodies
    one_way = next(a for a in accts if not a["hedge"])
    hedge = next(a for a in accts if a["hedge"])
    st, _, js = ex.signed("GET", "/fapi/v3/balance", one_way)
    same_shape(js, "rest_balance_v3.json", "GET /fapi/v3/balance")
    for a, fx in ((one_way, "rest_position_risk_v3_one_way.json"),
                  (hedge, "rest_position_risk_v3_hedge.json")):
        st, _, js = ex.signed("GET", "/fapi/v3/positionRisk", a)
        if check(js, "positionRisk of account %d has rows" % a["id"]):
            same_shape(js, fx, "GET /fapi/v3/positionRisk (%s)" % ("hedge" if a["hedge"] else "one-way"))
            check({r["positionSide"] for r in js} == ({"LONG", "SHORT"} if a["hedge"] else {"BOTH"}),
                  "position sides follow the account's position mode")
    oo = [dict(o) for o in load_fixture("rest_open_orders.json")]
    for o in oo:  # activatePrice/priceRate exist only on TRAILING_STOP_MARKET orders
        o.pop("activatePrice")
        o.pop("priceRate")
    rows = []
    for a in accts:
        rows += ex.signed("GET", "/fapi/v1/openOrders", a)[2]
    if check(rows, "some open orders exist"):
        same_shape(rows, oo, "GET /fapi/v1/openOrders (minus the trailing-only keys)")
        st, _, one = ex.signed("GET", "/fapi/v1/order", next(a for a in accts if a["id"] == 1)
                               if False else accts[0], {"symbol": rows[0]["symbol"],
                                                        "orderId": rows[0]["orderId"]})
        if st != 200:  # rows[0] may belong to another account
            owner = next(a for a in accts
                         if any(r["orderId"] == rows[0]["orderId"]
                                for r in ex.signed("GET", "/fapi/v1/openOrders", a)[2]))
            st, _, one = ex.signed("GET", "/fapi/v1/order", owner, {"symbol": rows[0]["symbol"],
                                                                   "orderId": rows[0]["orderId"]})
        same_shape(one, oo[0], "GET /fapi/v1/order")
        qo = load_fixture("rest_query_order.json")
        check(set(qo) - {"activatePrice", "priceRate"} <= set(one),
              "GET /fapi/v1/order holds every key of the Query-Order doc example")
    # GET /fapi/v2/account has no fixture: its keys, in order, and their
    # JSON types as the Account-Information-V2 doc page (B0) gives them
    total = ["totalInitialMargin", "totalMaintMargin", "totalWalletBalance",
             "totalUnrealizedProfit", "totalMarginBalance", "totalPositionInitialMargin",
             "totalOpenOrderInitialMargin", "totalCrossWalletBalance", "totalCrossUnPnl",
             "availableBalance", "maxWithdrawAmount"]
    v2_top = [("feeTier", "int"), ("feeBurn", "bool"), ("canTrade", "bool"), ("canDeposit", "bool"),
              ("canWithdraw", "bool"), ("updateTime", "int"), ("multiAssetsMargin", "bool"),
              ("tradeGroupId", "int")] + [(k, "str") for k in total] + \
        [("assets", "list"), ("positions", "list")]
    v2_asset = [(k, "str") for k in ("asset", "walletBalance", "unrealizedProfit", "marginBalance",
                                     "maintMargin", "initialMargin", "positionInitialMargin",
                                     "openOrderInitialMargin", "crossWalletBalance", "crossUnPnl",
                                     "availableBalance", "maxWithdrawAmount")] + \
        [("marginAvailable", "bool"), ("updateTime", "int")]
    v2_pos = [(k, "str") for k in ("symbol", "initialMargin", "maintMargin", "unrealizedProfit",
                                   "positionInitialMargin", "openOrderInitialMargin", "leverage")] + \
        [("isolated", "bool")] + [(k, "str") for k in ("entryPrice", "maxNotional", "bidNotional",
                                                      "askNotional", "positionSide", "positionAmt")] + \
        [("updateTime", "int")]

    def typed(obj):
        return [(k, "list" if isinstance(v, list) else shape(v)) for k, v in obj.items()]
    for a in (one_way, hedge):
        st, _, js = ex.signed("GET", "/fapi/v2/account", a)
        check(st == 200 and typed(js) == v2_top, "GET /fapi/v2/account (%s): top-level keys in the "
              "doc's order and types" % ("hedge" if a["hedge"] else "one-way"))
        check(all(typed(x) == v2_asset for x in js["assets"]) and len(js["assets"]) == 2,
              "GET /fapi/v2/account: assets[] keys in the doc's order and types")
        check(all(typed(x) == v2_pos for x in js["positions"]) and len(js["positions"]) ==
              5 * (2 if a["hedge"] else 1), "GET /fapi/v2/account: positions[] keys in the doc's "
              "order and types, one row per symbol and side")
    # algo orders over REST have no fixture either: the keys, in order, and
    # types of the Current-All-Algo-Open-Orders, Query-Algo-Order and
    # Query-All-Algo-Orders doc pages (B0), which agree: no executed
    # quantity, no reject reason, TP/SL members as decimals
    algo_keys = [(k, "int" if k in ("algoId", "createTime", "updateTime", "triggerTime",
                                    "goodTillDate") else
                  "bool" if k in ("closePosition", "priceProtect", "reduceOnly") else
                  "null" if k == "icebergQuantity" else "str")
                 for k in ("algoId", "clientAlgoId", "algoType", "orderType", "symbol", "side",
                           "positionSide", "timeInForce", "quantity", "algoStatus", "actualOrderId",
                           "actualPrice", "triggerPrice", "price", "icebergQuantity",
                           "tpTriggerPrice", "tpPrice", "slTriggerPrice", "slPrice", "tpOrderType",
                           "selfTradePreventionMode", "workingType", "priceMatch", "closePosition",
                           "priceProtect", "reduceOnly", "createTime", "updateTime", "triggerTime",
                           "goodTillDate")]
    open_algos, all_algos, one_algo = [], [], []
    for a in accts:
        open_algos += ex.signed("GET", "/fapi/v1/openAlgoOrders", a)[2]
        for sym in ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"):
            all_algos += ex.signed("GET", "/fapi/v1/allAlgoOrders", a, {"symbol": sym})[2]
        g = ex.state(a["id"])["algoOrders"]
        if g:
            one_algo.append(ex.signed("GET", "/fapi/v1/algoOrder", a, {"algoId": g[-1]["aid"]})[2])
    for name, rows in (("openAlgoOrders", open_algos), ("allAlgoOrders", all_algos),
                       ("algoOrder", one_algo)):
        check(rows and all(typed(r) == algo_keys for r in rows),
              "GET /fapi/v1/%s: %d rows with the doc's keys in its order and types" % (name, len(rows)))
    check({r["algoStatus"] for r in all_algos} >= {"NEW", "CANCELED", "FINISHED", "REJECTED"} and
          all(r["tpTriggerPrice"] == r["slPrice"] and set(r["tpPrice"]) <= set("0.") and
              r["tpOrderType"] == "" and r["icebergQuantity"] is None for r in all_algos),
          "algo rows in every state; TP/SL members zero decimals, tpOrderType empty, no iceberg")
    st, _, js = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5})
    same_shape(js, "rest_depth_snapshot.json", "GET /fapi/v1/depth")
    a = accts[2]
    same_shape(ex.http("POST", "/fapi/v1/listenKey", api_key=a["apiKey"])[2],
               "rest_listen_key_create_response.json", "POST /fapi/v1/listenKey")
    same_shape(ex.http("PUT", "/fapi/v1/listenKey", api_key=a["apiKey"])[2],
               "rest_listen_key_keepalive_response.json", "PUT /fapi/v1/listenKey")
    same_shape(ex.http("DELETE", "/fapi/v1/listenKey", api_key=a["apiKey"])[2],
               "rest_listen_key_close_response.json", "DELETE /fapi/v1/listenKey")
    for fx, resp in (("error_listen_key_not_exist.json",
                      ex.http("PUT", "/fapi/v1/listenKey", api_key=a["apiKey"])),
                     ("error_invalid_symbol.json", ex.http("GET", "/fapi/v1/depth", {"symbol": "X"})),
                     ("error_invalid_signature.json",
                      ex.signed("GET", "/fapi/v3/balance", a, tamper=True)),
                     ("error_timestamp_outside_recv_window.json",
                      ex.signed("GET", "/fapi/v3/balance", a, ts_offset_ms=-60000)),
                     ("error_invalid_api_key_ip_permissions.json",
                      ex.http("POST", "/fapi/v1/listenKey", api_key="nope"))):
        check(resp[2] == load_fixture(fx), "error body equals %s" % fx)

    async def ack():
        async with websockets.connect(ex.ws + "/market/ws") as ws:
            await ws.send(json.dumps(load_fixture("ws_subscribe_request.json")))
            return json.loads(await asyncio.wait_for(ws.recv(), 3))
    check(run(ack()) == load_fixture("ws_subscribe_response.json"),
          "SUBSCRIBE of ws_subscribe_request.json answers ws_subscribe_response.json")

finish()
