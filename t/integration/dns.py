#!/usr/bin/python3
"""The exchange's host name, resolved off the loop, retried and refreshed.

exsim is named by a host name (exsim.exfeedd.test) that the machine cannot
resolve when the daemon starts, as after a DNS hiccup at boot.  The test
runs in a private mount namespace (unshare -m, as root) with its own
/etc/hosts bind-mounted over the machine's, so that the name can be made to
resolve later by the real resolver, without touching the machine's file.

1. Unresolvable at the start: the workers are up, no account streams, the
   log says why (rate-limited), and `exfeedctl accounts` gives the reason.
2. The name becomes resolvable: every account streams within a bound,
   without a reload (the lookup is retried on its own, 1 s doubling).
3. The name moves to an address where nothing listens and the connections
   drop: the reconnects look the name up again (the log names the new
   address).
4. The name gets two addresses, ::1 (where nothing listens) first: every
   account streams again without a reload, on 127.0.0.1 (each failed
   connection tries the next address).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

NAME = "exsim.exfeedd.test"
INNER = "EXFEEDD_DNS_TEST_NS"

if os.environ.get(INNER) != "1":
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("1..0 # SKIP needs root and unshare(1) for a private /etc/hosts")
        sys.exit(77)
    if subprocess.run(["unshare", "-m", "true"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        print("1..0 # SKIP unshare -m is not permitted here")
        sys.exit(77)
    env = dict(os.environ)
    env[INNER] = "1"
    sys.exit(subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                             os.path.abspath(__file__)] + sys.argv[1:], env=env).returncode)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, wait_for, skip_in_repeat_pass  # noqa: E402

skip_in_repeat_pass("dns.py")
from tapcheck import check, finish  # noqa: E402

N = 4

# This namespace's /etc/hosts: the machine's lines, and ours after them.
with open("/etc/hosts") as f:
    BASE = f.read()
hosts_dir = tempfile.mkdtemp(prefix="exfeedd-dns.")
HOSTS = os.path.join(hosts_dir, "hosts")


def set_hosts(extra):
    # Rewritten in place: the bind mount holds this inode.
    with open(HOSTS, "w") as f:
        f.write(BASE + extra)


set_hosts("")
os.chmod(hosts_dir, 0o755)
os.chmod(HOSTS, 0o644)
subprocess.run(["mount", "--bind", HOSTS, "/etc/hosts"], check=True)


def resolves():
    return subprocess.run(["getent", "ahosts", NAME], stdout=subprocess.DEVNULL).returncode == 0


class NamedStack(Stack):
    """exsim's URLs by NAME instead of 127.0.0.1."""

    def start_exsim(self):
        super().start_exsim()
        self.rest_ip, self.ws_ip = self.rest, self.ws
        self.rest = self.rest.replace("://127.0.0.1:", "://%s:" % NAME)
        self.ws = self.ws.replace("://127.0.0.1:", "://%s:" % NAME)

    def http(self, method, path, body=None):
        # The harness talks to exsim by address, whatever the name says.
        rest, self.rest = self.rest, self.rest_ip
        try:
            return super().http(method, path, body)
        finally:
            self.rest = rest

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def details(st):
    return [w["detail"]["role"] for w in st.status()["workers"]
            if w["role"] == "account" and w.get("detail")]


try:
    check(not resolves(), "%s does not resolve at the start" % NAME)
    with NamedStack(accounts=N, rate=20, seed=11, shards=2,
                    userdata=["reconcile_interval = 1h"]) as st:
        st.prepare()
        check(st.start_daemon(), "daemon up, the name unresolvable")
        time.sleep(3)
        check(st.streaming() == 0, "nothing streams while the name does not resolve")
        log = st.log_text()
        check("cannot resolve %s" % NAME in log, "the log says the name cannot be resolved")
        check("next reload" not in log, "no waiting for a reload")
        rows = st.account_rows()
        check(len(rows) == N and all(NAME in r.get("reason", "") for r in rows),
              "exfeedctl accounts: every account says it waits for the address")
        check(NAME in st.ctl("accounts").stdout, "... in the table too")
        lines = log.count("cannot resolve %s" % NAME)
        failed = st.account_stats().get("address_lookup_failures", 0)
        check(failed > lines and lines <= 2 * 2,
              "the failures are retried on their own and logged rate-limited (%d lookups "
              "failed, %d lines)" % (failed, lines))
        check(all(d.get("exchange_address") == "waiting" and NAME in
                  d.get("exchange_address_why", "") for d in details(st)),
              "exfeedctl status: every account worker waits for the address, and why")

        # 2. The name resolves now: no reload, streaming within the backoff's bound.
        set_hosts("127.0.0.1 %s\n" % NAME)
        check(resolves(), "%s resolves now" % NAME)
        t0 = time.time()
        ok = st.wait_streaming(N, 30)
        check(ok, "every account streams %.1f s after the name resolves, no reload" %
              (time.time() - t0))
        check(all(r.get("reason", "") == "" for r in st.account_rows()),
              "no reason left on the accounts")

        check(all(d.get("exchange_address") == "ok" and d.get("ws_address") == "127.0.0.1"
                  for d in details(st)), "exfeedctl status: the address is 127.0.0.1")

        # 3. The name moves (nothing listens there); the connections drop.  A
        # worker that reconnected before it looked again is dropped again.
        n0 = len(st.log_text())
        set_hosts("127.0.0.9 %s\n" % NAME)

        def moved():
            if all(d.get("ws_address") == "127.0.0.9" for d in details(st)):
                return True
            st.fault("drop")
            return False
        check(wait_for(moved, 40, every=2), "reconnects looked the name up again: every "
              "account worker connects to the new address")
        check("is now 127.0.0.9" in st.log_text()[n0:], "the log names the new address")
        st.fault("drop")
        time.sleep(3)
        check(st.streaming() == 0, "nothing streams from where the name points now")
        # 4. Back, as the second of two addresses: ::1 first (getaddrinfo puts
        # IPv6 first, RFC 6724), where nothing listens, as on a machine whose
        # /etc/hosts names localhost ::1 too while the server listens on IPv4
        # only.  Each failed connection moves on to the name's next address.
        set_hosts("::1 %s\n127.0.0.1 %s\n" % (NAME, NAME))
        t0 = time.time()
        ok = st.wait_streaming(N, 60)
        check(ok, "::1 and 127.0.0.1, nothing on ::1: every account streams again %.1f s later, "
              "no reload" % (time.time() - t0))
        if not ok:
            print("# " + st.log_tail(30).replace("\n", "\n# "))
        check(all(d.get("ws_address") == "127.0.0.1" and d.get("rest_address") == "127.0.0.1"
                  for d in details(st)), "exfeedctl status: on the second address, 127.0.0.1")
finally:
    subprocess.run(["umount", "/etc/hosts"], stderr=subprocess.DEVNULL)
    shutil.rmtree(hosts_dir, ignore_errors=True)
finish()
