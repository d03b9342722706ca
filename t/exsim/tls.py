#!/usr/bin/python3
"""--tls-cert/--tls-key: exsim serves REST and WebSocket over TLS on its one
port with a throwaway self-signed certificate: it prints https:// and wss://
URLs, REST and WSS work for a client that trusts the certificate (and fail
verification for one that does not), and plain HTTP or WS on that port is
not served."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, RawWS, check, collect, exsim_path, finish, run  # noqa: E402
import websockets  # noqa: E402

if not shutil.which("openssl"):
    print("SKIP: no openssl command to make a certificate")
    sys.exit(77)


def plain_http(port):
    """What a cleartext HTTP request to the TLS port gets back."""
    got = b""
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        s.sendall(b"GET /fapi/v1/time HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except OSError:  # reset or timeout: not served either way
        pass
    finally:
        s.close()
    return got


async def wss(ex, keys):
    url = ex.ws + "/private/stream?" + "&".join("listenKey=" + k for k in keys)
    async with websockets.connect(url, ssl=ex.ssl) as ws:
        ex.step(3000)
        ev = await collect(ws, 2.5)
    sent = sum(ex.stats()["eventsSent"].values())
    check(len(ev) > 3000 and len(ev) == sent and all(set(e) == {"stream", "data"} for e in ev),
          "wss /private/stream: all %d events sent arrive (%d), in {stream,data} envelopes" %
          (sent, len(ev)))
    check({e["stream"] for e in ev} == set(keys),
          "wss /private/stream: events on every listen key")
    st = ex.state(1)
    oids = {o["i"] for o in st["orders"]}
    mine = [e["data"] for e in ev if e["stream"] == keys[0] and e["data"]["e"] == "ORDER_TRADE_UPDATE"]
    check(mine and all(o["o"]["i"] in oids for o in mine),
          "wss: account 1's ORDER_TRADE_UPDATEs are its orders in /sim/state")

    async with websockets.connect(ex.ws + "/public/ws/btcusdt@depth@100ms", ssl=ex.ssl) as ws:
        ex.step(0, ticks=5)
        ev = await collect(ws, 1.0)
    check(len(ev) == 5 and all(e["e"] == "depthUpdate" and e["pu"] == p["u"]
                               for p, e in zip(ev, ev[1:])),
          "wss /public/ws: 5 ticks give 5 chained depth diffs (%d)" % len(ev))

    async with websockets.connect(ex.ws + "/market/ws", ssl=ex.ssl) as ws:
        await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@markPrice@1s"],"id":7}')
        ack = await collect(ws, 0.5)
    check(ack == [{"result": None, "id": 7}], "wss /market/ws: SUBSCRIBE acknowledged (%s)" % ack)

    try:
        async with websockets.connect(ex.ws + "/private/ws/" + keys[0],
                                      ssl=ssl.create_default_context()) as ws:
            ok = False
    except ssl.SSLCertVerificationError:
        ok = True
    check(ok, "wss with the system trust store only: certificate verification fails")


tmp = tempfile.mkdtemp(prefix="exsim-tls-")
try:
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                        "-keyout", key, "-out", cert], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if not check(r.returncode == 0, "openssl made a self-signed certificate"):
        print(r.stderr.decode(errors="replace"))
        finish()

    with Exsim("--accounts", "3", "--paused", "--seed", "4", "--tls-cert", cert,
               "--tls-key", key) as ex:
        check(ex.rest == "https://127.0.0.1:%d" % ex.port, "REST URL is https:// (%s)" % ex.rest)
        check(ex.ws == "wss://127.0.0.1:%d" % ex.port, "WS URL is wss:// (%s)" % ex.ws)

        try:
            urllib.request.urlopen(ex.rest + "/fapi/v1/time", timeout=5,
                                   context=ssl.create_default_context())
            refused = False
        except urllib.error.URLError as e:
            refused = isinstance(e.reason, ssl.SSLCertVerificationError)
        check(refused, "https with the system trust store only: certificate verification fails")

        ex.ssl = ssl.create_default_context(cafile=cert)
        st, h, js = ex.http("GET", "/fapi/v1/time")
        check(st == 200 and isinstance(js.get("serverTime"), int),
              "GET /fapi/v1/time over TLS, verified against the certificate")
        check("x-mbx-used-weight-1m" in h, "REST headers over TLS (x-mbx-used-weight-1m)")
        accts = ex.accounts()
        st, _, js = ex.signed("GET", "/fapi/v3/balance", accts[0])
        check(st == 200 and {b["asset"] for b in js} >= {"USDT", "BNB"},
              "signed GET /fapi/v3/balance over TLS")
        st, _, js = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000})
        st2, _, js2 = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000})
        check(st == 200 and len(js["bids"]) >= 25 and (js["bids"], js["asks"]) ==
              (js2["bids"], js2["asks"]), "a %d-level /fapi/v1/depth reply over TLS, whole" %
              (len(js["bids"]) + len(js["asks"])))
        keys = [ex.listen_key(a) for a in accts]
        check(len(set(keys)) == 3, "POST /fapi/v1/listenKey over TLS for 3 accounts")

        run(wss(ex, keys))

        got = plain_http(ex.port)
        check(not got.startswith(b"HTTP/") and b"serverTime" not in got,
              "plain HTTP to the TLS port is not served (%r)" % got[:40])
        try:
            raw = RawWS(ex.port, "/private/ws/" + keys[0], timeout=3)
            status = raw.status
            raw.close()
        except (OSError, ConnectionError, ValueError, IndexError):
            status = None
        check(status != 101, "plain ws:// upgrade on the TLS port is refused (%s)" % status)
        st, _, js = ex.http("GET", "/fapi/v1/time")
        check(st == 200, "TLS still served after the cleartext attempts")

    # a certificate that cannot be loaded is a start-up error, not a silent
    # cleartext server
    p = subprocess.run([exsim_path(), "--listen", "127.0.0.1:0",
                        "--tls-cert", key, "--tls-key", cert], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=10)
    check(p.returncode != 0 and b"REST" not in p.stdout,
          "--tls-cert that is not a certificate: exsim exits %d without URLs" % p.returncode)
    p = subprocess.run([exsim_path(), "--listen", "127.0.0.1:0",
                        "--tls-cert", cert], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       timeout=10)
    check(p.returncode == 2, "--tls-cert without --tls-key is a usage error (%d)" % p.returncode)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
