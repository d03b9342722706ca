#!/usr/bin/python3
"""exsim REST: listenKey lifecycle, signed endpoints (-1021/-1022/-2014/-2015),
the FACTS §1.5 signing vector, weights and X-MBX-USED-WEIGHT-1M, 429 with
Retry-After, 418 bans that grow, the storm fault, and the /sim/ API."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, check, finish, load_fixture, sign  # noqa: E402

# FACTS §1.5 test vector: our signer must agree with Binance's
VEC = ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
       "&recvWindow=5000&timestamp=1591702613943")
check(sign("2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9", VEC) ==
      "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9",
      "HMAC-SHA256 signing vector of FACTS §1.5")


def err_is(resp, status, fixture_or_code, what):
    st, _, js = resp
    code = fixture_or_code if isinstance(fixture_or_code, int) else \
        load_fixture(fixture_or_code)["code"]
    ok = st == status and isinstance(js, dict) and js.get("code") == code and \
        isinstance(js.get("msg"), str) and set(js) == {"code", "msg"}
    if ok and not isinstance(fixture_or_code, int):
        ok = js["msg"] == load_fixture(fixture_or_code)["msg"] or fixture_or_code.startswith("error_4")
    check(ok, "%s -> HTTP %d code %d (got %s %s)" % (what, status, code, st, js))


with Exsim("--accounts", "4", "--rate", "200", "--seed", "7") as ex:
    accts = ex.accounts()
    check(len(accts) == 4 and all(len(a["apiKey"]) == 64 for a in accts),
          "GET /sim/accounts lists 4 accounts with 64-char API keys")
    a1, a2 = accts[0], accts[1]

    st, h, js = ex.http("GET", "/fapi/v1/time")
    check(st == 200 and isinstance(js["serverTime"], int) and
          abs(js["serverTime"] - time.time() * 1000) < 5000, "GET /fapi/v1/time")
    check("x-mbx-used-weight-1m" in h, "X-MBX-USED-WEIGHT-1M header present")

    st, _, js = ex.http("GET", "/fapi/v1/exchangeInfo")
    syms = [s["symbol"] for s in js["symbols"] if s["status"] == "TRADING"]
    check(st == 200 and "BTCUSDT" in syms and len(syms) == 5 and len(js["symbols"]) == 6,
          "exchangeInfo lists the simulated symbols, and one not trading")
    check(any(r["rateLimitType"] == "REQUEST_WEIGHT" and r["limit"] == 2400 for r in js["rateLimits"]),
          "exchangeInfo REQUEST_WEIGHT 2400/min")

    # --- listenKey lifecycle -------------------------------------------------
    st, _, js = ex.http("POST", "/fapi/v1/listenKey", api_key=a1["apiKey"])
    check(st == 200 and set(js) == {"listenKey"} and len(js["listenKey"]) == 64, "POST listenKey")
    k1 = js["listenKey"]
    st, _, js = ex.http("POST", "/fapi/v1/listenKey", api_key=a1["apiKey"])
    check(js == {"listenKey": k1}, "POST on an account with an active key returns the same key")
    st, _, js = ex.http("PUT", "/fapi/v1/listenKey", api_key=a1["apiKey"])
    check(st == 200 and js == {"listenKey": k1}, "PUT listenKey returns the key")
    st, _, js = ex.http("DELETE", "/fapi/v1/listenKey", api_key=a1["apiKey"])
    check(st == 200 and js == {}, "DELETE listenKey returns {}")
    err_is(ex.http("PUT", "/fapi/v1/listenKey", api_key=a1["apiKey"]), 400,
           "error_listen_key_not_exist.json", "PUT after DELETE")
    st, _, js = ex.http("POST", "/fapi/v1/listenKey", api_key=a1["apiKey"])
    check(st == 200 and js["listenKey"] != k1, "POST after DELETE makes a new key")
    err_is(ex.http("POST", "/fapi/v1/listenKey"), 401, -2014, "POST listenKey without API key")
    err_is(ex.http("POST", "/fapi/v1/listenKey", api_key="x" * 64), 401,
           "error_invalid_api_key_ip_permissions.json", "POST listenKey with unknown API key")

    # --- signed endpoints -----------------------------------------------------
    for path, w in (("/fapi/v3/balance", 5), ("/fapi/v3/account", 5), ("/fapi/v2/account", 5),
                    ("/fapi/v3/positionRisk", 5),
                    ("/fapi/v1/openOrders", 40), ("/fapi/v1/openAlgoOrders", 40)):
        before = ex.http("GET", "/fapi/v1/time")[1]["x-mbx-used-weight-1m"]
        st, h, js = ex.signed("GET", path, a1)
        used = int(h.get("x-mbx-used-weight-1m", "-1"))
        check(st == 200 and isinstance(js, (list, dict)), "signed GET %s answers 200" % path)
        check(used == int(before) + w, "%s weighs %d (used %s -> %d)" % (path, w, before, used))
    for path in ("/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders"):
        before = int(ex.http("GET", "/fapi/v1/time")[1]["x-mbx-used-weight-1m"])
        st, h, js = ex.signed("GET", path, a1, {"symbol": "BTCUSDT"})
        check(st == 200 and int(h["x-mbx-used-weight-1m"]) == before + 1,
              "%s with symbol weighs 1" % path)
    for path in ("/fapi/v1/allOrders", "/fapi/v1/userTrades"):
        before = int(ex.http("GET", "/fapi/v1/time")[1]["x-mbx-used-weight-1m"])
        st, h, js = ex.signed("GET", path, a1, {"symbol": "BTCUSDT"})
        check(st == 200 and isinstance(js, list) and int(h["x-mbx-used-weight-1m"]) == before + 5,
              "%s weighs 5" % path)
    err_is(ex.signed("GET", "/fapi/v1/allOrders", a1), 400, -1102, "allOrders without symbol")
    err_is(ex.signed("GET", "/fapi/v1/openOrders", a1, {"symbol": "FOOUSDT"}), 400,
           "error_invalid_symbol.json", "openOrders with an unknown symbol")
    err_is(ex.signed("GET", "/fapi/v1/order", a1, {"symbol": "BTCUSDT", "orderId": "1"}), 400, -2013,
           "order that does not exist")
    err_is(ex.signed("GET", "/fapi/v3/balance", a1, tamper=True), 400, "error_invalid_signature.json",
           "tampered signature")
    err_is(ex.signed("GET", "/fapi/v3/balance", a1, secret="0" * 64), 400,
           "error_invalid_signature.json", "signature with the wrong secret")
    err_is(ex.signed("GET", "/fapi/v3/balance", a1, ts_offset_ms=-10000), 400,
           "error_timestamp_outside_recv_window.json", "timestamp 10 s old (recvWindow 5000)")
    st, _, js = ex.signed("GET", "/fapi/v3/balance", a1, ts_offset_ms=-10000, recv_window=20000)
    check(st == 200, "the same timestamp passes with recvWindow=20000")
    err_is(ex.signed("GET", "/fapi/v3/balance", a1, ts_offset_ms=3000), 400, -1021,
           "timestamp 3 s ahead of the server")
    err_is(ex.http("GET", "/fapi/v3/balance", "timestamp=%d" % int(time.time() * 1000),
                   api_key=a1["apiKey"]), 400, -1102, "signed endpoint without signature")
    err_is(ex.http("GET", "/fapi/v3/balance", "timestamp=1&signature=" + "0" * 64), 401, -2014,
           "signed endpoint without API key")

    # signature over query + body (FACTS §1.5): POST with params in the body
    q = "timestamp=%d" % int(time.time() * 1000)
    st, _, js = ex.http("POST", "/fapi/v1/listenKey", api_key=a2["apiKey"], body="")
    check(st == 200, "POST listenKey with an empty body")

    # revoke: -2015 from then on, on every endpoint
    ex.fault("revoke_api_key", account=2)
    err_is(ex.http("POST", "/fapi/v1/listenKey", api_key=a2["apiKey"]), 401,
           "error_invalid_api_key_ip_permissions.json", "listenKey after revoke")
    err_is(ex.signed("GET", "/fapi/v3/balance", a2), 401, -2015, "signed endpoint after revoke")

    # depth snapshot and its weights
    for limit, w in ((5, 2), (100, 5), (500, 10), (1000, 20)):
        before = int(ex.http("GET", "/fapi/v1/time")[1]["x-mbx-used-weight-1m"])
        st, h, js = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": limit})
        check(st == 200 and int(h["x-mbx-used-weight-1m"]) == before + w and
              len(js["bids"]) <= limit and isinstance(js["lastUpdateId"], int),
              "depth limit=%d weighs %d" % (limit, w))
    err_is(ex.http("GET", "/fapi/v1/depth", {"symbol": "NOPE"}), 400, "error_invalid_symbol.json",
           "depth with an unknown symbol")
    st, _, js = ex.http("GET", "/fapi/v1/nothing")
    check(st == 404, "unknown REST path -> 404")

    # /sim/accounts at runtime
    st, _, js = ex.http("POST", "/sim/accounts", body='{"apiKey":"k' + "1" * 63 +
                        '","secretKey":"s3cr3t"}')
    check(st == 200 and js[0]["apiKey"] == "k" + "1" * 63 and js[0]["id"] == 5,
          "POST /sim/accounts with given keys")
    new = js[0]
    st, _, js = ex.http("POST", "/sim/accounts", body='{"count":3}')
    check(st == 200 and len(js) == 3 and len(ex.accounts()) == 8, "POST /sim/accounts count=3")
    st, _, js = ex.signed("GET", "/fapi/v3/balance", new)
    check(st == 200 and js[0]["asset"] == "USDT", "a runtime account signs with its own secret")

    stats = ex.stats()
    r = stats["rest"]
    check(r["listenKeyPost"] == 7 and r["listenKeyPut"] == 2 and r["listenKeyDelete"] == 1,
          "/sim/stats counts listenKey POST/PUT/DELETE (%s/%s/%s)" %
          (r["listenKeyPost"], r["listenKeyPut"], r["listenKeyDelete"]))
    check(r["weightUsed"] > 150 and r["http429"] == 0, "/sim/stats counts weight, no 429 yet")

    # --- storm fault: every request 429 for a while ---------------------------
    ex.fault("rate_limit_storm", duration_ms=1500)
    st, h, js = ex.http("GET", "/fapi/v1/time")
    check(st == 429 and js["code"] == -1003 and int(h.get("retry-after", "0")) >= 1,
          "rate_limit_storm -> 429 -1003 with Retry-After")
    time.sleep(1.7)
    ex.fault("reset_rate_limits")
    check(ex.http("GET", "/fapi/v1/time")[0] == 200, "after the storm requests pass again")

# --- /fapi/v2/account before and after activity --------------------------------------
with Exsim("--accounts", "5", "--paused", "--seed", "3") as ex:
    accts = ex.accounts()
    a5 = accts[4]  # every fifth account starts with ETHUSDT isolated
    js = ex.signed("GET", "/fapi/v2/account", a5)[2]
    check([p["symbol"] for p in js["positions"]] == ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT",
                                                     "XRPUSDT"] and
          all(p["positionSide"] == "BOTH" and p["updateTime"] == 0 and p["positionAmt"] == "0" and
              p["leverage"] == "20" for p in js["positions"]),
          "/fapi/v2/account lists every symbol, flat, untouched (updateTime 0), leverage 20")
    check([p["isolated"] for p in js["positions"]] == [False, True, False, False, False],
          "/fapi/v2/account: isolated follows the symbol's margin type")
    h = next(a for a in accts if a["hedge"])
    js = ex.signed("GET", "/fapi/v2/account", h)[2]
    check([p["positionSide"] for p in js["positions"]] == ["LONG", "SHORT"] * 5,
          "/fapi/v2/account in hedge mode: LONG and SHORT of every symbol")
    ex.step(60)  # few enough that some positions stay untouched
    for a in accts:
        st = ex.state(a["id"])
        js = ex.signed("GET", "/fapi/v2/account", a)[2]
        rows = {(p["symbol"], p["positionSide"]): p for p in js["positions"]}
        touched = {(p["s"], p["ps"]): p["updateTime"] for p in st["positions"]}
        check(all(r["updateTime"] == touched.get(k, 0) for k, r in rows.items()) and
              all(k in rows for k in touched),
              "account %d: v2 position updateTime == truth (%d touched, the rest 0)" %
              (a["id"], len(touched)))

# --- weight limit, 429, 418 and growing bans --------------------------------------
with Exsim("--accounts", "1", "--weight-limit", "60", "--time-scale", "500") as ex:
    a = ex.accounts()[0]
    codes = []
    for i in range(12):
        st, h, js = ex.signed("GET", "/fapi/v1/openOrders", a, {"symbol": "BTCUSDT"})
        codes.append(st)
    st, h, js = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000})
    # the minute window may roll between requests; look for the 429 itself
    tries = 0
    while st != 429 and tries < 5:
        st, h, js = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000})
        tries += 1
    check(st == 429 and js["code"] == -1003 and "requests per minute" in js["msg"],
          "past the weight limit -> 429 -1003 (%s)" % js)
    fx = load_fixture("error_429_too_many_requests.json")
    check(set(js) == set(fx) and js["code"] == fx["code"], "429 body has the fixture's shape")
    check(int(h.get("retry-after", "0")) >= 1 and int(h["x-mbx-used-weight-1m"]) > 60,
          "429 carries Retry-After and the used weight (%s, %s)" %
          (h.get("retry-after"), h.get("x-mbx-used-weight-1m")))
    bans = []
    for i in range(600):
        t0 = int(time.time() * 1000)
        st, h, js = ex.http("GET", "/fapi/v1/time")
        if st == 418:
            m = re.search(r"banned until (\d+)", js["msg"])
            check(js["code"] == -1003 and m and int(h.get("retry-after", "0")) >= 1,
                  "418 -1003 'IP banned until' with Retry-After") if not bans else None
            bans.append(int(m.group(1)) - t0)
            # keep ignoring: wait out this ban, then hammer again
            time.sleep(max(0, (int(m.group(1)) - int(time.time() * 1000)) / 1000.0) + 0.02)
            if len(bans) == 3:
                break
    check(len(bans) == 3 and bans[0] < bans[1] < bans[2],
          "bans grow when 429s keep being ignored (ms: %s)" % bans)
    fx = load_fixture("error_418_ip_banned.json")
    stats = ex.stats()["rest"]
    check(stats["http429"] >= 3 and stats["http418"] >= 3 and stats["bans"] == 3,
          "/sim/stats counts 429s, 418s and bans (%d/%d/%d)" %
          (stats["http429"], stats["http418"], stats["bans"]))

finish()
