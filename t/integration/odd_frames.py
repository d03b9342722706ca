#!/usr/bin/python3
"""Issue 9, items 5, 6 and 12, end to end: odd frames from the exchange cost
no more than themselves.

Frames are injected into one account's live stream (exsim fault "inject"):
- orders 101, 102 (price "5."), 103: all three land, 102 with price 5;
- ids beyond 2^53 (an ETHUSDT liquidation, NEW then its TRADE) land exact;
- a MARGIN_CALL on an isolated position, without cw: stored with
  cross_wallet NULL, and the alert command runs;
- an ACCOUNT_UPDATE with one bad position row: the other rows land;
- a client order id longer than Binance allows and an unknown event whose
  name is cut inside a character: stored, cut on a character boundary;
- invalid UTF-8 and truncated JSON: counted as malformed, nothing else lost;
- then a burst of randomly mutated real frames (a fuzz over the live path):
  the worker stays up, the writer never drops it, and every event it sends
  is one the writer takes (the shared validation stops bad ones first).
"""
import json
import os
import random
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

SEED = int(os.environ.get("FUZZ_SEED", "9"))


def otu(oid, price, x="NEW", status="NEW", t=0, cid="c", sym="BTCUSDT", extra=""):
    return ('{"e":"ORDER_TRADE_UPDATE","T":%d,"E":%d,"o":{"s":"%s","c":"%s","S":"BUY",'
            '"o":"LIMIT","f":"GTC","q":"1","p":"%s","ap":"0","sp":"0","x":"%s","X":"%s","i":%d,'
            '"l":"0","z":"0","L":"0","T":%d,"t":0,"m":false,"R":false,"ot":"LIMIT","ps":"BOTH",'
            '"cp":false%s}}' % (t, t, sym, cid, price, x, status, oid, t, extra))


def writer_stats(st):
    return [w["detail"]["role"] for w in st.status()["workers"] if w["role"] == "writer"][0]


def account_stats(st):
    return [w["detail"]["role"] for w in st.status()["workers"] if w["role"] == "account"][0]


with Stack(accounts=2, rate=0, seed=SEED, shards=1, exsim_args=["--paused"]) as st:
    alert_out = os.path.join(st.dir, "alerts")
    alert = os.path.join(st.dir, "alert.sh")
    with open(alert, "w") as f:
        f.write("#!/bin/sh\ncat >> %s\necho >> %s\n" % (alert_out, alert_out))
    os.chmod(alert, 0o755)
    st.userdata.append("alert_command = %s" % alert)
    st.prepare()
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(2, 30), "both accounts streaming")
    dbid = sorted(st.accounts)[0]
    sim = st.accounts[dbid]["id"]
    now = int(time.time() * 1000)

    def inject(frame):
        r = st.fault("inject", account=sim, frame=frame)
        return r and r.get("affected", 0) > 0

    q = lambda s: st.sql(s % dbid)  # noqa: E731
    # one bad value: 101, 102 with "5.", 103
    for oid, price in ((101, "5"), (102, "5."), (103, "5")):
        inject(otu(oid, price, t=now + oid))
    check(wait_for(lambda: q("SELECT count(*) FROM orders WHERE account_id = %d AND order_id "
                             "IN (101, 102, 103)")[0][0] == "3", 10),
          "orders 101, 102 (price \"5.\") and 103 all landed")
    check(q("SELECT price FROM orders WHERE account_id = %d AND order_id = 102")[0][0] == "5",
          "102's price is 5")
    # ids beyond 2^53
    big = 8389766079988521101
    inject(otu(big, "1850.00", t=now + 200, sym="ETHUSDT", cid="autoclose-1"))
    trade = otu(big, "1850.00", x="CALCULATED", status="FILLED", t=now + 201, sym="ETHUSDT",
                cid="autoclose-1").replace('"l":"0","z":"0","L":"0"', '"l":"1","z":"1","L":"1850"')
    trade = trade.replace('"t":0', '"t":3660897741').replace('"cp":false', '"cp":false,"n":"0.9",'
                                                                             '"N":"USDT","rp":"-1"')
    inject(trade)
    check(wait_for(lambda: q("SELECT status FROM orders WHERE account_id = %d AND order_id = "
                             "8389766079988521101") == [["FILLED"]], 10),
          "order 8389766079988521101: NEW then FILLED, the id exact")
    check(q("SELECT order_id, trade_id FROM fills WHERE account_id = %d AND trade_id = 3660897741")
          == [[str(big), "3660897741"]], "its fill, with the exact order id")
    # an isolated margin call has no cw
    inject('{"e":"MARGIN_CALL","E":%d,"p":[{"s":"ETHUSDT","ps":"LONG","pa":"1.327","mt":"ISOLATED",'
           '"iw":"12.5","mp":"187.17","up":"-1.16","mm":"1.61"}]}' % (now + 300))
    check(wait_for(lambda: q("SELECT coalesce(cross_wallet::text, 'null'), margin_type FROM "
                             "margin_calls WHERE account_id = %d") == [["null", "ISOLATED"]], 10),
          "a MARGIN_CALL without cw (isolated): stored, cross_wallet NULL")
    check(wait_for(lambda: os.path.exists(alert_out) and "ISOLATED" in open(alert_out).read(), 10),
          "and the alert command ran with it")
    # an ACCOUNT_UPDATE with one bad row
    inject('{"e":"ACCOUNT_UPDATE","E":%d,"T":%d,"a":{"m":"ORDER","B":[{"a":"USDT","wb":"77","cw":"77",'
           '"bc":"0"}],"P":[{"s":"SOLUSDT","pa":"2","ep":"100","up":"0","mt":"cross","iw":"0",'
           '"ps":"BOTH"},{"s":"XRPUSDT","pa":2,"ep":"1","up":"0","mt":"cross","iw":"0","ps":"BOTH"}]}}'
           % (now + 400, now + 400))
    check(wait_for(lambda: q("SELECT wallet_balance FROM balances WHERE account_id = %d AND "
                             "asset = 'USDT'") == [["77"]] and
                   q("SELECT amount FROM positions WHERE account_id = %d AND symbol = 'SOLUSDT'")
                   == [["2"]], 10),
          "an ACCOUNT_UPDATE with one bad position row: the balance and the good row landed")
    check(q("SELECT count(*) FROM positions WHERE account_id = %d AND symbol = 'XRPUSDT' AND "
            "update_time = " + str(now + 400))[0][0] == "0", "the bad row did not")
    # long text, and a name cut inside a character
    inject(otu(104, "5", t=now + 500, cid="c" * 60))
    inject('{"e":"%s\u00e9X","E":%d}' % ("N" * 46, now + 501))
    check(wait_for(lambda: q("SELECT length(client_order_id) FROM orders WHERE account_id = %d "
                             "AND order_id = 104") == [["47"]], 10),
          "a 60-character client order id: the order landed, the id cut to 47")
    check(wait_for(lambda: q("SELECT event_type FROM event_log WHERE account_id = %d AND "
                             "event_type = 'unknown' AND payload->>'name' LIKE 'NNNN%%'")
                   == [["unknown"]], 10),
          "an unknown event whose name is cut inside a character: stored")
    m0 = account_stats(st)["malformed"]
    # raw bytes: JSON escapes would make valid UTF-8 of them on the way to exsim
    raw = (b'{"kind":"inject","account":%d,"frame":"{\\"e\\":\\"ORDER_TRADE_UPDATE\\",'
           b'\\"E\\":1,\\"o\\":{\\"c\\":\\"\xc3\x28\\"}}"}' % sim)
    urllib.request.urlopen(urllib.request.Request(st.rest + "/sim/fault", data=raw,
                                                  method="POST"), timeout=10).read()
    inject('{"e":"ORDER_TRADE_UPDATE","E":1,"T":1,"o":{')
    check(wait_for(lambda: account_stats(st)["malformed"] >= m0 + 2, 10),
          "invalid UTF-8 and truncated JSON: counted as malformed")

    # a fuzz over the live path: mutated real frames
    rng = random.Random(SEED)
    base = [otu(200 + i, "%d.%d" % (rng.randint(0, 99), rng.randint(0, 99)), t=now + 600 + i)
            for i in range(20)]
    with open(os.path.join(os.environ.get("top_srcdir", "."), "t", "fixtures", "binance",
                           "account_update.json")) as f:
        base.append(json.dumps(json.load(f)))
    junk = ['"', '5.', '.5', '-', '1e9', 'null', '[]', '{}', '\u00e9', '99999999999999999999',
            'true', '""', ' ']
    sent = 0
    for i in range(400):
        fr = rng.choice(base)
        for _ in range(rng.randint(1, 3)):
            p = rng.randrange(len(fr))
            fr = fr[:p] + rng.choice(junk) + fr[p + rng.randint(0, 3):]
        sent += inject(fr)
    time.sleep(3)
    w, a = writer_stats(st), account_stats(st)
    print("# fuzz: %d frames injected; account: %d malformed, %d events dropped, %d fields "
          "defaulted, %d invalid; writer: %d rejected, %d peers dropped" %
          (sent, a["malformed"], a["events_dropped"], a["fields_defaulted"], a["invalid_events"],
           w["rejected"], w["peers_dropped"]))
    check(sent == 400, "400 mutated frames injected")
    check(w["rejected"] == 0 and w["peers_dropped"] == 0,
          "the writer took every event sent: none rejected, no sender dropped")
    check(all(x["state"] == "ready" and x["restarts"] == 0 for x in st.status()["workers"]),
          "no worker crashed or restarted")
    check(wait_for(lambda: account_stats(st)["dp_unacked"] == 0, 10), "everything acked")
    check(st.streaming() == 2, "both accounts still streaming")
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
