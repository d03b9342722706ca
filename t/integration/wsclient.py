"""wsclient: a minimal WebSocket client (RFC 6455) for the tests: text
frames in and out over plain TCP, pings answered.  The market tests use it
to read exsim's own frames next to what exfeedd made of them; no third-party
module is needed."""
import base64
import os
import socket
import struct
import time
import urllib.parse


class WS:
    def __init__(self, url, timeout=10):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "ws":
            raise ValueError("wsclient speaks ws:// only: %s" % url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        path = u.path + ("?" + u.query if u.query else "")
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (path, u.hostname, u.port or 80, key))
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise ConnectionError("closed during the handshake")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError("handshake refused: %r" % head[:200])

    def _send(self, op, data):
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x80 | op])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def send(self, text):
        self._send(1, text.encode())

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout=10):
        """The next text message (str), or None at the deadline."""
        deadline = time.time() + timeout
        msg = b""
        try:
            while True:
                b0, b1 = self._need(2, deadline)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack(">H", self._need(2, deadline))[0]
                elif n == 127:
                    n = struct.unpack(">Q", self._need(8, deadline))[0]
                data = self._need(n, deadline)
                op = b0 & 0x0F
                if op == 9:
                    self._send(10, data)
                    continue
                if op == 8:
                    raise ConnectionError("closed by the server")
                if op in (0, 1, 2):
                    msg += data
                    if b0 & 0x80:
                        return msg.decode()
        except socket.timeout:
            return None

    def close(self):
        try:
            self._send(8, b"")
        except OSError:
            pass
        self.sock.close()
