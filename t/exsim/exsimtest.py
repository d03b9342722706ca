"""exsimtest: shared helpers for the exsim test scripts.

Starts an exsim on 127.0.0.1 port 0, parses the printed URLs, and offers a
plain HTTP client (urllib), Binance request signing, the /sim/ control API,
WebSocket helpers on python3-websockets and a raw socket WebSocket client
for the cases a library hides (not answering pings, seeing ping frames).
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import websockets  # noqa: F401
except ImportError:  # the pyenv python3 has no websockets; Debian's does
    print("SKIP: python3-websockets is not installed for", sys.executable)
    sys.exit(77)

FAILS = []
CHECKS = [0]


T0 = time.time()


def check(cond, what):
    CHECKS[0] += 1
    stamp = "%6.2fs" % (time.time() - T0)
    if cond:
        print("ok   ", stamp, what)
    else:
        print("FAIL ", stamp, what)
        FAILS.append(what)
    return cond


def finish():
    print("%d checks, %d failed" % (CHECKS[0], len(FAILS)))
    for f in FAILS:
        print("  failed:", f)
    sys.exit(1 if FAILS else 0)


def exsim_path():
    p = os.environ.get("EXSIM")
    if not p:
        top = os.environ.get("top_builddir", ".")
        p = os.path.join(top, "tools", "exsim", "exsim")
    return os.path.abspath(p)


def fixtures_dir():
    d = os.environ.get("FIXTURES")
    if not d:
        d = os.path.join(os.environ.get("top_srcdir", "."), "t", "fixtures")
    return os.path.join(os.path.abspath(d), "binance")


def load_fixture(name):
    with open(os.path.join(fixtures_dir(), name)) as f:
        return json.load(f)


class Exsim:
    def __init__(self, *args):
        self.proc = subprocess.Popen([exsim_path(), "--listen", "127.0.0.1:0"] + list(args),
                                     stdout=subprocess.PIPE, stderr=sys.stderr)
        self.rest = self.ws = None
        self.ssl = None  # an ssl.SSLContext for https:// and wss:// (--tls-cert)
        deadline = time.time() + 10
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.time() < deadline and (self.rest is None or self.ws is None):
            r, _, _ = select.select([fd], [], [], 0.5)
            if not r:
                continue
            d = os.read(fd, 4096)
            if not d:
                break
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.decode()
                if line.startswith("REST "):
                    self.rest = line.split()[1]
                elif line.startswith("WS "):
                    self.ws = line.split()[1]
        if not self.rest or not self.ws:
            self.stop()
            raise RuntimeError("exsim did not print its URLs")
        self.port = int(self.rest.rsplit(":", 1)[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    # ---- HTTP -------------------------------------------------------------
    def http(self, method, path, params=None, api_key=None, body=None, timeout=10):
        url = self.rest + path
        if params:
            url += "?" + (params if isinstance(params, str) else urllib.parse.urlencode(params))
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else body
        elif method in ("POST", "PUT", "DELETE"):
            data = b""
        req = urllib.request.Request(url, data=data, method=method)
        if api_key is not None:
            req.add_header("X-MBX-APIKEY", api_key)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl) as r:
                status, headers, raw = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, headers, raw = e.code, dict(e.headers), e.read()
        try:
            js = json.loads(raw) if raw else None
        except ValueError:
            js = None
        return status, {k.lower(): v for k, v in headers.items()}, js

    def signed(self, method, path, acct, params=None, ts_offset_ms=0, secret=None,
               recv_window=None, tamper=False):
        p = list((params or {}).items())
        if recv_window is not None:
            p.append(("recvWindow", str(recv_window)))
        p.append(("timestamp", str(int(time.time() * 1000) + ts_offset_ms)))
        q = urllib.parse.urlencode(p)
        sig = sign(secret or acct["secretKey"], q)
        if tamper:
            sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        return self.http(method, path, q + "&signature=" + sig, api_key=acct["apiKey"])

    # ---- control API ------------------------------------------------------
    def accounts(self):
        return self.http("GET", "/sim/accounts")[2]

    def state(self, account):
        return self.http("GET", "/sim/state", {"account": account})[2]

    def stats(self):
        return self.http("GET", "/sim/stats")[2]

    def fault(self, kind, **kw):
        kw["kind"] = kind
        return self.http("POST", "/sim/fault", body=json.dumps(kw))

    def step(self, count, ticks=0):
        """Run count activity steps, then ticks market ticks (100 ms each)."""
        return self.http("POST", "/sim/step", {"count": count, "ticks": ticks})[2]

    def listen_key(self, acct):
        st, _, js = self.http("POST", "/fapi/v1/listenKey", api_key=acct["apiKey"])
        assert st == 200, (st, js)
        return js["listenKey"]


def sign(secret, payload):
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


# ---- WebSocket helpers (python3-websockets) ---------------------------------
async def recv_json(ws, timeout):
    m = await asyncio.wait_for(ws.recv(), timeout)
    return json.loads(m)


async def collect(ws, seconds, limit=100000):
    """Everything that arrives on ws within `seconds` (parsed JSON)."""
    out = []
    end = time.time() + seconds
    while len(out) < limit:
        left = end - time.time()
        if left <= 0:
            break
        try:
            m = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            break
        except websockets.ConnectionClosed:
            break
        out.append(json.loads(m))
    return out


def run(coro):
    return asyncio.run(coro)


# ---- raw WebSocket client -----------------------------------------------------
class RawWS:
    """A minimal client that does not answer pings unless told to, and
    reports every frame with its opcode."""

    def __init__(self, port, path, timeout=5):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise ConnectionError("closed during handshake")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split()[1])

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError()
            self.s.settimeout(left)
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("closed")
            self.buf += d

    def frame(self, timeout):
        """(opcode, payload) of the next frame; raises TimeoutError or
        ConnectionError."""
        deadline = time.time() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(off + n, deadline)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, payload

    def send(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def shape(v):
    """The JSON type tree of a value: key sets and value types, recursively."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if v is None:
        return "null"
    return "str"


def shape_diff(got, want, path="$"):
    """Differences between two shapes (empty list when equal)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return ["%s: want object, got %s" % (path, got)]
        out = []
        for k in sorted(set(want) - set(got)):
            out.append("%s.%s missing" % (path, k))
        for k in sorted(set(got) - set(want)):
            out.append("%s.%s unexpected" % (path, k))
        for k in sorted(set(want) & set(got)):
            out += shape_diff(got[k], want[k], path + "." + k)
        return out
    if isinstance(want, list):
        if not isinstance(got, list):
            return ["%s: want array, got %s" % (path, got)]
        if not want or not got:
            return []
        return shape_diff(got[0], want[0], path + "[0]")
    if got != want:
        return ["%s: want %s, got %s" % (path, want, got)]
    return []
