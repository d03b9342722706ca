#!/usr/bin/python3
"""Issue 13: the gateway with [gateway] tls_cert / tls_key (a self-signed
certificate made here with openssl): python3-websockets over wss:// that
verifies the chain and the address gets auth_ok and the snapshot; HTTPS
GET /ws/status answers; a plain ws:// handshake on the same port gets no
WebSocket; a tls_cert without tls_key is a configuration error naming the
line (exit 78)."""
import asyncio
import json
import os
import ssl
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, EXFEEDD  # noqa: E402
from tapcheck import check, finish  # noqa: E402

import websockets  # noqa: E402  (python3-websockets)


def make_cert(d):
    cert, key = os.path.join(d, "gw.crt"), os.path.join(d, "gw.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    os.chmod(key, 0o600)
    return cert, key


async def main(st, user, ctx):
    url = "wss://127.0.0.1:%d/ws/trading?token=%s" % (st.gw_port, st.token(user))
    async with websockets.connect(url, ssl=ctx, ping_interval=None) as ws:
        first = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
    check([m["type"] for m in first] == ["auth_ok", "snapshot"] and
          first[0]["data"]["user_id"] == user, "wss:// with a verified certificate: auth_ok, "
          "snapshot")
    try:
        async with websockets.connect("ws://127.0.0.1:%d/ws/market" % st.gw_port,
                                      open_timeout=5) as ws:
            plain = "open"
    except Exception as e:
        plain = type(e).__name__
    check(plain != "open", "plain ws:// on the TLS port: no WebSocket (%s)" % plain)


with Stack(accounts=1, rate=20, seed=41) as st:
    cert, key = make_cert(st.dir)
    st.gateway = ["tls_cert = " + cert, "tls_key = " + key]
    st.prepare()
    st.start_daemon()
    check(st.wait_streaming(1, 60), "1 account streaming")
    ctx = ssl.create_default_context(cafile=cert)
    user = 1000 + st.accounts[min(st.accounts)]["id"]
    asyncio.run(main(st, user, ctx))
    with urllib.request.urlopen("https://127.0.0.1:%d/ws/status" % st.gw_port, context=ctx,
                                timeout=5) as r:
        s = json.loads(r.read())
    check("connections" in s and "by_user" in s, "https:// GET /ws/status: %s" % s)
    g = st.gateway_status()
    check(g["tls"] is True and g["auth_ok"] >= 1, "exfeedctl status: tls, auth_ok %d" %
          g["auth_ok"])
    check(st.stop_daemon() == 0, "TERM: exit 0")
    # tls_cert alone: a configuration error at its line (exfeedd -n, exit 78).
    st.gateway = ["tls_cert = " + cert]
    st.write_config()
    out = subprocess.run([EXFEEDD, "-n", "-c", st.conf], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=60)
    line = [i + 1 for i, ln in enumerate(open(st.conf)) if ln.startswith("tls_cert")]
    check(out.returncode == 78 and ("%s:%d: [gateway] tls_cert is set but tls_key is not" %
                                    (st.conf, line[0])) in out.stdout,
          "tls_cert without tls_key: exit 78 naming the line (%s)" % out.stdout.strip()[:200])
finish()
