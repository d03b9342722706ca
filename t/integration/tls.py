#!/usr/bin/python3
"""Issue 10 item 9, TLS to the exchange: certificate and host-name
verification are always on.  A throwaway CA and certificates made with the
openssl command; exsim serves REST and WebSocket over TLS (--tls-cert).

1. A certificate for localhost signed by the CA named in ca_file: the whole
   user-data path runs over https/wss (every account streams and resyncs,
   the database equals exsim's truth field by field), no secret in the log.
2. A certificate of the same CA for another host name (wrong.example): no
   connection (exsim serves not one request), no event lands, and the log
   says "cannot connect to localhost:PORT: TLS certificate verification
   failed: hostname mismatch (depth 0)" (OpenSSL's words), rate-limited.
3. A self-signed certificate for localhost, not in ca_file, and in the
   "system" store (SSL_CERT_FILE): refused too, so ca_file replaces the
   system store rather than adding to it.
4. No ca_file, the CA in the "system" store (SSL_CERT_FILE): connects, so
   the system store is what an unset ca_file means.
5. A ca_file that does not exist, or is not PEM: a configuration error at
   load naming FILE:LINE (exfeedd -n)."""
import os
import re
import shutil
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import (  # noqa: E402
    EXFEEDD, Stack, secrets_in_log, settle_said, wait_for, skip_in_repeat_pass)

skip_in_repeat_pass("tls.py")
from tapcheck import check, finish  # noqa: E402

if not shutil.which("openssl"):
    print("1..0 # SKIP no openssl command to make certificates")
    sys.exit(77)

N = 4


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (args[0], r.stderr.decode(errors="replace")))


def make_certs(d):
    """A CA, and three server certificates: localhost and 127.0.0.1 by the CA,
    wrong.example only by the CA, and localhost self-signed."""
    p = {k: os.path.join(d, k) for k in ("ca.pem", "ca.key", "good.pem", "good.key", "wrong.pem",
                                         "wrong.key", "self.pem", "self.key")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-subj", "/CN=exfeedd test CA", "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", p["ca.key"], "-out", p["ca.pem"])
    for name, san in (("good", "DNS:localhost,IP:127.0.0.1"), ("wrong", "DNS:wrong.example")):
        csr = os.path.join(d, name + ".csr")
        ext = os.path.join(d, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" % san)
        openssl("req", "-new", *ec, "-subj", "/CN=" + san.split(",")[0][4:],
                "-keyout", p[name + ".key"], "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
                "-set_serial", "2" if name == "good" else "3", "-days", "1", "-extfile", ext,
                "-out", p[name + ".pem"])
    openssl("req", "-x509", *ec, "-subj", "/CN=localhost", "-days", "1",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", p["self.key"], "-out", p["self.pem"])
    return p


class TLSStack(Stack):
    """The stack with exsim on TLS, its URLs by host name (localhost), so
    that the daemon checks a DNS name as it would at an exchange."""

    def use_cert(self, cert, key):
        self.exsim_args = ["--tls-cert", cert, "--tls-key", key]

    def start_exsim(self):
        super().start_exsim()
        self.rest = self.rest.replace("://127.0.0.1:", "://localhost:")
        self.ws = self.ws.replace("://127.0.0.1:", "://localhost:")
        self.port = int(self.rest.rsplit(":", 1)[1])

    def restart_exsim(self, cert, key, trust, ca_file):
        """A new exsim (another port) with another certificate; the config
        follows it; trust is the CA file this harness checks exsim with."""
        if self.exsim and self.exsim.poll() is None:
            self.exsim.terminate()
            self.exsim.wait(5)
        self.use_cert(cert, key)
        # The harness talks to exsim by its chain only: exsim may be wrong by name on purpose.
        self.ssl_ctx = ssl.create_default_context(cafile=trust)
        self.ssl_ctx.check_hostname = False
        self.start_exsim()
        self.exchange = ["ca_file = %s" % ca_file] if ca_file else []
        self.write_config()

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def events():
    return int(st.sql("SELECT count(*) FROM event_log")[0][0])


def refused(st, what, reason, env=None, seconds=10):
    """Start the daemon against an exsim it must refuse; stop it again."""
    st.userdata = ["reconnect_delay_min = 50ms", "reconnect_delay_max = 100ms"]
    st.write_config()
    before, log0 = events(), len(st.log_text())
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        check(st.start_daemon(), "%s: daemon up" % what)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    line = "cannot connect to localhost:%d: TLS certificate verification failed: %s" % (
        st.port, reason)
    t0 = time.time()
    seen = wait_for(lambda: line in st.log_text()[log0:], 15)
    print("# %s: the line seen after %.1f s" % (what, time.time() - t0))
    time.sleep(max(0, seconds - (time.time() - t0)))
    log = st.log_text()[log0:]
    mine = [x for x in log.splitlines() if "TLS certificate verification failed" in x]
    for kind in ("REST call failed", ") failed: "):
        for x in [x for x in mine if kind in x][:1]:
            print("#   " + x)
    check(seen and all(line in x for x in mine),
          "%s: the log says \"%s\" (%d lines)" % (what, line, len(mine)))
    # Attempts every 50-100 ms; each kind of line (REST, WebSocket, lws's
    # own) at most 10 per 10 s per account worker, from its first.
    worst = 0
    for kind in ("REST call failed", ") failed: ", "libwebsockets: "):
        for pid in set(re.findall(r"exfeedd\[(\d+)\]", log)):
            ts = [time.mktime(time.strptime(x[:19], "%Y-%m-%dT%H:%M:%S")) + float(x[19:23])
                  for x in log.splitlines() if "exfeedd[%s]" % pid in x and kind in x]
            worst = max([worst] + [sum(1 for u in ts if t <= u < t + 10) for t in ts[:1]])
    check(0 < worst <= 10, "%s: rate-limited (at most %d lines of a kind in 10 s of a "
          "worker; %d in all in %d s)" % (what, worst, len(mine), seconds))
    stats = st.sim_stats()
    check(stats["rest"]["requests"] == 0 and stats["connections"]["total"] == 0,
          "%s: exsim served no request and no WebSocket (%d, %d)" % (
              what, stats["rest"]["requests"], stats["connections"]["total"]))
    check(events() == before, "%s: no event landed" % what)
    check(st.streaming() == 0, "%s: no account streams" % what)
    check(st.stop_daemon() == 0, "%s: TERM: exit 0" % what)
    return log


with TLSStack(accounts=N, rate=40, seed=11, shards=2, keep=bool(os.environ.get("TLS_KEEP"))) as st:
    certs = make_certs(st.dir)
    check(True, "openssl made a CA and three server certificates")

    # 1. The whole user-data path over TLS, verified against ca_file.
    st.use_cert(certs["good.pem"], certs["good.key"])
    st.ssl_ctx = ssl.create_default_context(cafile=certs["ca.pem"])
    st.exchange = ["ca_file = %s" % certs["ca.pem"]]
    st.prepare()
    check(st.rest.startswith("https://localhost:") and st.ws.startswith("wss://localhost:"),
          "exsim on TLS, the daemon given %s and %s" % (st.rest, st.ws))
    st.fault("pause")
    check(st.start_daemon(), "daemon up")
    check(st.wait_streaming(N, 30), "all %d accounts streaming over wss" % N)
    check(st.wait_resynced(N, 30), "every account resynced over https")
    st.fault("resume")
    check(wait_for(lambda: events() > 100, 30), "events reach the database (%d)" % events())
    time.sleep(3)
    st.fault("pause")
    ok, diffs, took = settle_said(st, timeout=60)
    check(ok, "the database equals exsim's truth for all %d accounts (%d differ)" % (N, len(diffs)))
    stats = st.sim_stats()
    check(stats["rest"]["requests"] > 0 and stats["connections"]["total"] > 0,
          "exsim served REST (%d) and WebSocket (%d) over TLS only" % (
              stats["rest"]["requests"], stats["connections"]["total"]))
    log = st.log_text()
    # Only where exsim listens: localhost may also be ::1 (a fresh Debian's
    # /etc/hosts), which is tried, fails and is passed over (dns.py).
    check("TLS certificate verification failed" not in log and
          not re.search(r"cannot connect to localhost:\d+: [^\n]*\(address 127\.0\.0\.1\)", log),
          "no connection to exsim (127.0.0.1) failed")
    leaked, lines = secrets_in_log(st)
    check(lines > 50 and not leaked, "debug log (%d lines): no API key, secret or listen key %s" %
          (lines, leaked[:3]))
    check(st.stop_daemon() == 0, "TERM: exit 0")

    # 2. The same CA, a certificate for another host name.
    st.restart_exsim(certs["wrong.pem"], certs["wrong.key"], certs["ca.pem"], certs["ca.pem"])
    log = refused(st, "certificate for wrong.example", "hostname mismatch")
    check(not re.search(r"listenKey=[A-Za-z0-9]", log) and "/ws/" not in log,
          "no URL with a listen key in those lines")

    # 3. Self-signed, not in ca_file; trusting the system store as well would let it in.
    st.restart_exsim(certs["self.pem"], certs["self.key"], certs["self.pem"], certs["ca.pem"])
    refused(st, "self-signed certificate", "self-signed certificate",
            env={"SSL_CERT_FILE": certs["self.pem"]})

    # 4. No ca_file: the system store (here SSL_CERT_FILE, which OpenSSL's default paths read).
    st.userdata = []
    st.restart_exsim(certs["good.pem"], certs["good.key"], certs["ca.pem"], None)
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = certs["ca.pem"]
    try:
        check(st.start_daemon(), "no ca_file: daemon up")
    finally:
        if saved is None:
            os.environ.pop("SSL_CERT_FILE")
        else:
            os.environ["SSL_CERT_FILE"] = saved
    check(wait_for(lambda: st.sim_stats()["connections"]["total"] > 0 and
                   st.sim_stats()["rest"]["requests"] > 0, 30),
          "no ca_file, the CA in the system store: REST and WebSocket connect")
    check(st.stop_daemon() == 0, "no ca_file: TERM: exit 0")

    # 5. A ca_file the TLS clients could not load is a configuration error at load.
    junk = os.path.join(st.dir, "junk.pem")
    with open(junk, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    for path, why in ((os.path.join(st.dir, "absent.pem"), "cannot read"),
                      (certs["good.key"], "holds no PEM certificate"),
                      (junk, "is not a file of PEM certificates"),
                      (st.dir, "not a regular file")):
        st.exchange = ["ca_file = %s" % path]
        st.write_config()
        with open(st.conf) as f:
            lineno = [i + 1 for i, x in enumerate(f) if x.startswith("ca_file")][0]
        r = subprocess.run([EXFEEDD, "-n", "-c", st.conf], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        want = "%s:%d: [exchange.binance-futures] ca_file: " % (st.conf, lineno)
        check(r.returncode != 0 and want in r.stderr and why in r.stderr,
              "ca_file %s: exfeedd -n exits %d with \"FILE:%d: ... %s\"" % (
                  os.path.basename(path), r.returncode, lineno, why))
        if want not in r.stderr:
            print("#   " + r.stderr.strip().replace("\n", "\n#   "))
finish()
