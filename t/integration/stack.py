"""stack: the whole exfeedd stack for integration tests, the demo and the bench.

A throwaway PostgreSQL cluster (tools/pgtmp), an exsim, a master key, the
schema (exfeedctl db migrate), the exsim accounts added with exfeedctl, and
exfeedd in the foreground with a config written for this directory.  Also
the comparison of the database with exsim's ground truth (/sim/state), which
is what the convergence tests assert.
"""
import csv
import io
import json
import os
import sys
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from decimal import Decimal

SRC = os.path.abspath(os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.path.abspath(os.environ.get("top_builddir", "."))


def binary(env, *rel):
    p = os.environ.get(env)
    return os.path.abspath(p) if p else os.path.join(BUILD, *rel)


EXFEEDD = binary("EXFEEDD", "exfeedd")
EXFEEDCTL = binary("EXFEEDCTL", "exfeedctl")
EXSIM = binary("EXSIM", "tools", "exsim", "exsim")
PGTMP = os.path.join(SRC, "tools", "pgtmp")
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def say(*a):
    print(*a, flush=True)


class Stack:
    """Start the pieces one by one; stop() undoes whatever was started."""

    def __init__(self, accounts=10, rate=200, seed=1, shards=2, exsim_args=(),
                 weight_limit=60000, budget=45000, log_level="debug", userdata=(),
                 database=(), keep=False, fast_pg=True, market_symbols=None, exchange=(),
                 kafka=(), market=None, gateway=()):
        self.dir = tempfile.mkdtemp(prefix="exfeedd-stack.")
        os.chmod(self.dir, 0o755)
        self.n_accounts, self.rate, self.seed, self.shards = accounts, rate, seed, shards
        self.exsim_args, self.weight_limit, self.budget = list(exsim_args), weight_limit, budget
        self.log_level, self.userdata, self.database = log_level, list(userdata), list(database)
        self.keep, self.fast_pg = keep, fast_pg
        self.market_symbols = list(market_symbols or SYMBOLS)
        self.exchange = list(exchange)
        self.kafka = list(kafka)
        self.gateway = list(gateway)    # [gateway] lines after listen and jwt_secret_file
        # [market] lines after symbols; None: no streams (the tests about
        # user data run without the market worker's connections and REST).
        self.market = ["streams ="] if market is None else list(market)
        self.pg = self.exsim = self.daemon = None
        self.ssl_ctx = None     # how this harness trusts an exsim serving TLS
        self.conninfo = None
        self.accounts = {}      # db id -> exsim account dict
        self.log = os.path.join(self.dir, "exfeedd.log")
        self.conf = os.path.join(self.dir, "exfeedd.conf")
        self.key = os.path.join(self.dir, "master.key")
        self.jwt_key = os.path.join(self.dir, "jwt.key")
        self.run = os.path.join(self.dir, "run")
        self.gw_port = free_port()

    # ---- PostgreSQL -------------------------------------------------------
    def start_pg(self):
        env = dict(os.environ)
        if self.fast_pg:
            env["PGTMP_FAST"] = "1"
        out = subprocess.run([PGTMP, "start", os.path.join(self.dir, "pg")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if out.returncode != 0:
            raise RuntimeError("tools/pgtmp start failed: " + out.stderr)
        self.conninfo = out.stdout.strip().splitlines()[-1]
        self.pg = True

    def restart_pg(self, down_s=0.0):
        subprocess.run([PGTMP, "down", os.path.join(self.dir, "pg")], check=True,
                       stdout=subprocess.DEVNULL)
        time.sleep(down_s)
        subprocess.run([PGTMP, "up", os.path.join(self.dir, "pg")], check=True,
                       stdout=subprocess.DEVNULL)

    def sql(self, query):
        """Rows of a query as lists of strings (psql --csv)."""
        out = subprocess.run(["psql", "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", self.conninfo,
                              "-c", query], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        if out.returncode != 0:
            raise RuntimeError("psql: " + out.stderr.strip())
        rows = list(csv.reader(io.StringIO(out.stdout)))
        return rows[1:] if rows else []

    # ---- exsim ------------------------------------------------------------
    def start_exsim(self):
        port = free_port()
        args = [EXSIM, "--listen", "127.0.0.1:%d" % port, "--accounts", str(self.n_accounts),
                "--rate", str(self.rate), "--seed", str(self.seed),
                "--weight-limit", str(self.weight_limit)] + self.exsim_args
        self.exsim_log = open(os.path.join(self.dir, "exsim.log"), "w")
        # Its own session: a Ctrl-C meant for the caller (tools/demo) is the caller's to pass on.
        self.exsim = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.exsim_log,
                                      start_new_session=True)
        rest = ws = None
        deadline = time.time() + 10
        buf = b""
        while time.time() < deadline and not (rest and ws):
            r, _, _ = select.select([self.exsim.stdout], [], [], 0.5)
            if not r:
                continue
            d = os.read(self.exsim.stdout.fileno(), 4096)
            if not d:
                break
            buf += d
            for line in buf.decode().splitlines():
                if line.startswith("REST "):
                    rest = line.split()[1]
                elif line.startswith("WS "):
                    ws = line.split()[1]
        if not (rest and ws):
            raise RuntimeError("exsim did not print its URLs")
        self.rest, self.ws = rest, ws

    def http(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else (b"" if method != "GET" else None)
        req = urllib.request.Request(self.rest + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.ssl_ctx) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return json.loads(e.read() or b"null")

    def sim_state(self, acct):
        return self.http("GET", "/sim/state?account=%d" % acct)

    def sim_stats(self):
        return self.http("GET", "/sim/stats")

    def fault(self, kind, **kw):
        kw["kind"] = kind
        return self.http("POST", "/sim/fault", kw)

    # ---- exfeedd ----------------------------------------------------------
    def ctl(self, *args, check=True, stdin=None):
        out = subprocess.run([EXFEEDCTL, "-c", self.conf] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, input=stdin)
        if check and out.returncode != 0:
            raise RuntimeError("exfeedctl %s: exit %d: %s" % (" ".join(args), out.returncode,
                                                              out.stderr.strip()))
        return out

    def write_config(self):
        lines = [
            "[daemon]",
            "user = %s" % os.environ.get("USER_OVERRIDE", _user()),
            "group = %s" % _group(),
            "runtime_dir = %s" % self.run,
            "pidfile = %s/exfeedd.pid" % self.run,
            "control_socket = %s/control.sock" % self.run,
            "log = %s" % self.log,
            "log_level = %s" % self.log_level,
            "account_shards = %d" % self.shards,
            "respawn_delay_min = 100ms",
            "respawn_delay_max = 2s",
            "respawn_throttle = 1s",
            "ready_timeout = 10s",
            "heartbeat_interval = 500ms",
            "heartbeat_timeout = 10s",
            "shutdown_timeout = 5s",
            "[database]",
            "conninfo = %s" % self.conninfo,
        ] + self.database + [
            "[crypto]",
            "key_file = %s" % self.key,
            "[kafka]",
        ] + _overridden(["brokers = embedded"], self.kafka) + self.kafka + [
            "[userdata]",
        ] + _overridden([
            "reconnect_delay_min = 100ms",
            "reconnect_delay_max = 2s",
            "health_check_interval = 1s",
            "silence_timeout = 10s",
        ], self.userdata) + self.userdata + [
            "[market]",
            "symbols = %s" % ", ".join(self.market_symbols),
        ] + self.market + [
            "[gateway]",
            "listen = 127.0.0.1:%d" % self.gw_port,
            "jwt_secret_file = %s" % self.jwt_key,
        ] + self.gateway + [
            "[exchange.binance-futures]",
            "rest_url = %s" % self.rest,
            "ws_url = %s" % self.ws,
            "rest_weight_budget = %d" % self.budget,
        ] + self.exchange
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def prepare(self):
        """PostgreSQL, exsim, key, schema, config and accounts; no daemon yet."""
        self.start_pg()
        self.start_exsim()
        if not os.path.exists(self.key):
            subprocess.run([EXFEEDCTL, "keygen", self.key], check=True, stdout=subprocess.DEVNULL)
        if not os.path.exists(self.jwt_key):
            # The gateway's HS256 secret: 48 random bytes, base64 (printable, as operators make it).
            fd = os.open(self.jwt_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, __import__("base64").b64encode(os.urandom(48)) + b"\n")
            os.close(fd)
        os.makedirs(self.run, exist_ok=True)
        self.write_config()
        self.ctl("db", "migrate")
        self.add_accounts(self.http("GET", "/sim/accounts"))

    def add_accounts(self, sim_accounts):
        for a in sim_accounts:
            # The credentials on standard input, the key's line first: never in argv.
            out = self.ctl("account", "add", "--user", str(1000 + a["id"]), "--exchange",
                           "binance-futures", "--api-key-file", "-", "--api-secret-file", "-",
                           "--label", "sim%d" % a["id"],
                           stdin="%s\n%s\n" % (a["apiKey"], a["secretKey"]))
            dbid = int(out.stdout.split()[-1]) if out.stdout.split()[-1].isdigit() else \
                int([w for w in out.stdout.split() if w.isdigit()][0])
            self.accounts[dbid] = a

    def start_daemon(self):
        # -f logs to stderr: that is the log file the checks read.
        with open(self.log, "a") as logf:
            self.daemon = subprocess.Popen([EXFEEDD, "-f", "-c", self.conf],
                                           stdout=subprocess.DEVNULL, stderr=logf,
                                           start_new_session=True)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.daemon.poll() is not None:
                raise RuntimeError("exfeedd exited %d; log: %s" % (self.daemon.returncode,
                                                                   self.log_tail()))
            out = self.ctl("--json", "status", check=False)
            if out.returncode == 0:
                st = json.loads(out.stdout)
                if st["workers"] and all(w["state"] == "ready" for w in st["workers"]):
                    return True
            time.sleep(0.1)
        raise RuntimeError("exfeedd workers not ready; log: " + self.log_tail())

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                return self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                return -9
        return self.daemon.returncode if self.daemon else None

    def status(self):
        return json.loads(self.ctl("--json", "status").stdout)

    def token(self, user, ttl="1h"):
        """A JWT of user for the gateway's /ws/trading (exfeedctl token)."""
        return self.ctl("token", "--user", str(user), "--ttl", ttl).stdout.strip()

    def jwt_secret(self):
        with open(self.jwt_key, "rb") as f:
            return f.read().rstrip(b"\n")

    def gateway_status(self, status=None):
        """The gateway's role status, from status (a status() already read) or a new one."""
        for w in (status or self.status())["workers"]:
            if w["role"] == "gateway" and w.get("detail", {}).get("role"):
                return w["detail"]["role"]
        return None

    def writer_status(self):
        for w in self.status()["workers"]:
            if w["role"] == "writer" and w.get("detail", {}).get("role"):
                return w["detail"]["role"]
        return None

    def kafka_settled(self, timeout=60):
        """Every committed event_log row acknowledged by the brokers."""
        def done():
            w = self.writer_status()
            top = int(self.sql("SELECT coalesce(max(id), 0) FROM event_log")[0][0])
            return w is not None and w["kafka"]["acked_through"] >= top and \
                w["kafka"]["in_flight"] == 0
        return wait_for(done, timeout)

    def account_stats(self):
        """The account workers' integer counters (exfeedctl status), summed."""
        tot = {}
        for w in self.status()["workers"]:
            if w["role"] == "account":
                for k, v in w.get("detail", {}).get("role", {}).items():
                    if isinstance(v, int):
                        tot[k] = tot.get(k, 0) + v
        return tot

    def wait_resynced(self, n, timeout=60):
        """Until n resyncs are done and none is pending or running."""
        def done():
            s = self.account_stats()
            return (s.get("resyncs_done", 0) >= n and s.get("resyncs_pending", 1) == 0 and
                    s.get("resyncs_running", 1) == 0)
        return wait_for(done, timeout)

    def worker_pid(self, role, inst=0):
        for w in self.status()["workers"]:
            if w["role"] == role and w["instance"] == inst:
                return w["pid"]
        return None

    def account_rows(self):
        out = self.ctl("--json", "accounts", check=False)
        if out.returncode != 0:
            return []
        return json.loads(out.stdout).get("accounts", [])

    def rows_by_id(self):
        return {r["id"]: r for r in self.account_rows()}

    def streaming(self):
        return sum(1 for r in self.account_rows() if r.get("state") == "streaming")

    def wait_streaming(self, n, timeout=60):
        return wait_for(lambda: self.streaming() >= n, timeout)

    def log_tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        self.stop_daemon()
        self.sanitizer_check()
        if self.exsim and self.exsim.poll() is None:
            self.exsim.terminate()
            try:
                self.exsim.wait(5)
            except subprocess.TimeoutExpired:
                self.exsim.kill()
        if self.pg:
            subprocess.run([PGTMP, "stop", os.path.join(self.dir, "pg")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def sanitizer_check(self):
        """Under ASan/UBSan (make check-asan) a worker's report goes to the
        log (its stderr) and the worker exits; the supervisor restarts it
        and a test could pass anyway.  Any report fails the test."""
        try:
            with open(self.log, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return
        marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
        hits = [i for i, ln in enumerate(lines) if any(m in ln for m in marks)]
        if hits:
            from tapcheck import check
            check(False, "sanitizer report in the daemon log:\n# " +
                  "\n# ".join(lines[hits[0]:hits[0] + 14]))

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    # ---- truth vs database ------------------------------------------------
    def compare(self, dbid):
        """Differences between the database and /sim/state for one account."""
        return diff_account(self.sim_state(self.accounts[dbid]["id"]), self.db_accounts([dbid])[dbid])

    # Every column the exchange's truth also carries, per table; the account is "%s".
    DB_QUERIES = {
        "orders": "SELECT order_id, symbol, client_order_id, side, position_side, order_type,"
                  " orig_type, time_in_force, status, price, avg_price, stop_price, orig_qty,"
                  " filled_qty, reduce_only, close_position, update_time"
                  " FROM orders WHERE account_id %s",
        "algo": "SELECT algo_id, client_algo_id, algo_type, order_type, symbol, side,"
                " position_side, time_in_force, quantity, status, actual_order_id, avg_price,"
                " filled_qty, trigger_price, price, reduce_only, close_position, reject_reason,"
                " update_time FROM algo_orders WHERE account_id %s",
        "fills": "SELECT trade_id, order_id, symbol, side, position_side, price, qty, fee,"
                 " fee_asset, maker, realized_pnl, trade_time FROM fills WHERE account_id %s",
        "positions": "SELECT symbol, position_side, amount, entry_price, breakeven_price,"
                     " margin_type, isolated_wallet, margin_asset, update_time"
                     " FROM positions WHERE account_id %s",
        "balances": "SELECT asset, wallet_balance, cross_wallet, update_time FROM balances"
                    " WHERE account_id %s",
        "config": "SELECT symbol, leverage, multi_assets FROM account_config"
                  " WHERE account_id %s",
        # The windows in which the stream may have missed events: the documented
        # limits (an order born and ended unfilled in a gap, ...) apply only there.
        "gaps": "SELECT since, coalesce(healed_until, 9223372036854775807) FROM account_gaps"
                " WHERE account_id %s",
        # The database's own consistency: the filled quantity of each order
        # against the sum of its fills (a duplicated or lost fill shows here).
        "order_fill_sums": "SELECT o.order_id, o.filled_qty, coalesce(sum(f.qty), 0)"
                           " FROM orders o LEFT JOIN fills f ON f.account_id = o.account_id"
                           " AND f.order_id = o.order_id WHERE o.account_id %s"
                           " GROUP BY o.order_id, o.filled_qty",
    }

    def db_accounts(self, dbids):
        """The rows diff_account reads, of many accounts, with one query per table."""
        ids = ",".join(str(int(i)) for i in dbids)
        out = {i: {k: [] for k in self.DB_QUERIES} for i in dbids}
        for k, q in self.DB_QUERIES.items():
            q = q.replace("SELECT ", "SELECT %s, " % ("o.account_id" if k == "order_fill_sums"
                                                      else "account_id"), 1)
            q = q % ("IN (%s)" % ids)
            q = q.replace("GROUP BY o.order_id", "GROUP BY o.account_id, o.order_id")
            for r in self.sql(q):
                out[int(r[0])][k].append(r[1:])
        return out

    def compare_all(self):
        """{db id: differences} of every account that differs from /sim/state."""
        dbs = self.db_accounts(sorted(self.accounts))
        diffs = {}
        for dbid in sorted(self.accounts):
            d = diff_account(self.sim_state(self.accounts[dbid]["id"]), dbs[dbid])
            if d:
                diffs[dbid] = d
        return diffs


def _overridden(defaults, overrides):
    """The default "key = value" lines whose key overrides does not set
    (the config refuses a key set twice in a section)."""
    keys = {o.split("=", 1)[0].strip() for o in overrides}
    return [d for d in defaults if d.split("=", 1)[0].strip() not in keys]


def skip_in_repeat_pass(what, sanitizer=False):
    """tools/check's last pass (make distcheck, EXFEEDD_REPEAT_PASS=1) skips the
    slowest tests: the plain and sanitizer passes ran them on the same code,
    and the tarball's pass is about the tarball (CI's 45 minutes).  With
    sanitizer, the sanitizer pass (EXFEEDD_REPEAT_PASS=asan) skips it too: for
    tests whose C code other tests run under the sanitizers already."""
    v = os.environ.get("EXFEEDD_REPEAT_PASS")
    if v == "1" or (sanitizer and v == "asan"):
        print("1..0 # SKIP %s: ran in the plain pass" % what)
        sys.exit(77)


def tcp_nodelay(pid):
    """TCP_NODELAY of each established TCP socket of process pid: a list of
    ((local port, remote port), 0 or 1), read from copies of the process's
    own file descriptors (pidfd_getfd, Linux 5.6; the tests run as root)."""
    import ctypes
    ports = {}
    for path in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        with open(path) as f:
            for line in f.readlines()[1:]:
                v = line.split()
                if v[3] == "01":	# ESTABLISHED
                    ports[v[9]] = (int(v[1].split(":")[1], 16), int(v[2].split(":")[1], 16))
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    out = []
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if not link.startswith("socket:[") or link[8:-1] not in ports:
                continue
            copy = libc.syscall(438, pidfd, int(fd), 0)	# SYS_pidfd_getfd on x86_64
            if copy < 0:
                if ctypes.get_errno() == 9:	# EBADF: closed since it was listed
                    continue
                raise OSError(ctypes.get_errno(), "pidfd_getfd")
            s = socket.socket(fileno=copy)
            try:
                # Not the socket listed any more (its number reused meanwhile): passed over.
                if os.fstat(copy).st_ino == int(link[8:-1]):
                    out.append((ports[link[8:-1]], s.getsockopt(socket.IPPROTO_TCP,
                                                                 socket.TCP_NODELAY)))
            finally:
                s.close()
    finally:
        os.close(pidfd)
    return out


def wait_for(cond, timeout, every=0.2):
    """Poll cond until it is true (True) or timeout seconds pass (False)."""
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(every)
    return False


def _user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def _group():
    import grp
    return grp.getgrgid(os.getgid()).gr_name


def D(x):
    return Decimal(x) if x not in (None, "") else None


def B(x):
    return x in (True, "t", "true")


GAP_MARGIN_MS = 5000    # the resync fetches from this long before a gap began


def in_gap(db, t0, t1):
    """Does [t0, t1] (exchange ms) lie within one gap window of the account?"""
    for since, until in db["gaps"]:
        if int(since) - GAP_MARGIN_MS <= t0 and t1 <= int(until):
            return True
    return False


def in_gaps(db, born, ended):
    """Were both the birth and the end of an order inside gap windows (one,
    or two: born in one gap and ended in a later one, with the stream
    between them, where nothing about it happened)?  A resync's history
    stops where its stream came back (healed_until), so an order or algo
    order that placed nothing and filled nothing is seen by no resync when
    it ends in a later gap that began before the first resync's snapshot."""
    return in_gap(db, born, born) and in_gap(db, ended, ended)


def diff_account(truth, db, limit=8):
    """A list of human-readable differences (empty when they agree).

    Every field both sides carry is compared, update times included.  The
    documented limits (README, "What a resync cannot recover") are allowed
    only where they can happen, inside a recorded gap: an order or algo
    order born and ended there without a fill may be missing, and an algo
    order whose last change fell in a gap may have its reject reason unknown
    (NULL).  Positions and orders of a previous gap that the database still
    holds must match like any other.
    """
    out = []

    def add(msg):
        if len(out) < limit:
            out.append(msg)

    # orders
    dbo = {int(r[0]): r for r in db["orders"]}
    for o in truth["orders"]:
        r = dbo.pop(o["i"], None)
        if r is None:
            born = o.get("time", o["T"])
            if (o["X"] in ("CANCELED", "EXPIRED", "EXPIRED_IN_MATCH") and D(o["z"]) == 0 and
                    in_gaps(db, born, o["T"])):
                continue    # the documented limit: no endpoint shows it
            add("order %d (%s %s) missing" % (o["i"], o["s"], o["X"]))
            continue
        want = (o["s"], o["c"], o["S"], o["ps"], o["o"], o["ot"], o["f"], o["X"], D(o["p"]),
                D(o["ap"]), D(o["sp"]), D(o["q"]), D(o["z"]), o["R"], o["cp"], o["T"])
        got = (r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], D(r[9]), D(r[10]), D(r[11]),
               D(r[12]), D(r[13]), B(r[14]), B(r[15]), int(r[16]))
        if want != got:
            add("order %d: truth %s db %s" % (o["i"], want, got))
    for oid in dbo:
        add("order %d in db, not at the exchange" % oid)
    # the database's own books: each order's filled quantity is the sum of its fills
    for oid, filled, summed in db["order_fill_sums"]:
        if D(filled) != D(summed):
            add("order %s: filled %s, its fills sum to %s" % (oid, filled, summed))
    # algo orders
    dba = {int(r[0]): r for r in db["algo"]}
    for a in truth["algoOrders"]:
        r = dba.pop(a["aid"], None)
        t = a.get("T", 0)
        if r is None:
            if (a["X"] in ("CANCELED", "EXPIRED", "REJECTED") and D(a["aq"]) == 0 and
                    in_gaps(db, a.get("createTime", t), t)):
                continue
            add("algo order %d (%s) missing" % (a["aid"], a["X"]))
            continue
        # The reject reason of a rejection that fell in a gap: REST has none.
        rm = a["rm"] if r[17] != "" or not in_gap(db, t, t) else ""
        want = (a["caid"], a["at"], a["o"], a["s"], a["S"], a["ps"], a["f"], D(a["q"]), a["X"],
                a["ai"], D(a["ap"]), D(a["aq"]), D(a["tp"]), D(a["p"]), a["R"], a["cp"], rm,
                t or int(r[18]))
        got = (r[1], r[2], r[3], r[4], r[5], r[6], r[7], D(r[8]), r[9], r[10], D(r[11]),
               D(r[12]), D(r[13]), D(r[14]), B(r[15]), B(r[16]), r[17], int(r[18]))
        if want != got:
            add("algo order %d: truth %s db %s" % (a["aid"], want, got))
    for aid in dba:
        add("algo order %d in db, not at the exchange" % aid)
    # fills: one row per execution (a self-trade is two with one trade id)
    dbf = {(r[2], int(r[0]), int(r[1])): r for r in db["fills"]}
    for f in truth["fills"]:
        r = dbf.pop((f["s"], f["t"], f["i"]), None)
        if r is None:
            add("fill %s/%d of order %d missing" % (f["s"], f["t"], f["i"]))
            continue
        want = (f["S"], f["ps"], D(f["L"]), D(f["l"]), D(f["n"]), f["N"], f["m"], D(f["rp"]),
                f["T"])
        got = (r[3], r[4], D(r[5]), D(r[6]), D(r[7]), r[8], B(r[9]), D(r[10]), int(r[11]))
        if want != got:
            add("fill %s/%d of order %d: truth %s db %s" % (f["s"], f["t"], f["i"], want, got))
    for k in dbf:
        add("fill %s/%d of order %d in db, not at the exchange" % k)
    # positions: a missing row and a zero row are the same flat position
    dbp = {(r[0], r[1]): r for r in db["positions"]}
    seen = set()
    for p in truth["positions"]:
        k = (p["s"], p["ps"])
        seen.add(k)
        r = dbp.get(k)
        if r is None:
            if D(p["pa"]) != 0:
                add("position %s/%s (%s) missing" % (k + (p["pa"],)))
            continue
        want = (D(p["pa"]), D(p["ep"]), D(p["bep"]), p["mt"].lower(), D(p["iw"]), p["ma"],
                p["updateTime"])
        got = (D(r[2]), D(r[3]), D(r[4]), r[5].lower(), D(r[6]), r[7], int(r[8]))
        if want != got:
            add("position %s/%s: truth %s db %s" % (k + (want, got)))
    for k, r in dbp.items():
        if k not in seen and D(r[2]) != 0:
            add("position %s/%s open in db (%s), flat at the exchange" % (k + (r[2],)))
    # balances
    dbb = {r[0]: r for r in db["balances"]}
    for b in truth["balances"]:
        r = dbb.get(b["a"])
        if r is None:
            add("balance %s missing" % b["a"])
            continue
        want = (D(b["wb"]), D(b["cw"]), b["updateTime"])
        got = (D(r[1]), D(r[2]), int(r[3]))
        if want != got:
            add("balance %s: truth %s db %s" % (b["a"], want, got))
    # config: leverage per symbol, multi-assets under ''
    dbc = {r[0]: r for r in db["config"]}
    for sym, lev in truth["leverage"].items():
        r = dbc.get(sym)
        if r is None or r[1] == "" or int(r[1]) != lev:
            add("leverage %s: truth %d db %s" % (sym, lev, r[1] if r else None))
    r = dbc.get("")
    if r is None or r[2] == "" or B(r[2]) != truth["multiAssets"]:
        add("multi-assets: truth %s db %s" % (truth["multiAssets"], r[2] if r else None))
    return out


def fill_checks(stack):
    """Checks on the fills table that its key cannot make pass on its own:
    (count of trade ids seen more than once per account and order across
    symbols, count of trade ids on more than two executions or on two of one
    side: a self-trade is exactly one BUY and one SELL)."""
    cross = stack.sql("SELECT count(*) FROM (SELECT account_id, trade_id, order_id FROM fills"
                      " GROUP BY 1, 2, 3 HAVING count(*) > 1) d")[0][0]
    odd = stack.sql("SELECT count(*) FROM (SELECT account_id, symbol, trade_id FROM fills"
                    " GROUP BY 1, 2, 3 HAVING count(*) > 2 OR (count(*) = 2 AND"
                    " count(DISTINCT side) < 2)) d")[0][0]
    return int(cross), int(odd)


def settle(stack, timeout=120, every=2.0):
    """Poll until every account's rows equal the truth; (ok, diffs, seconds)."""
    t0 = time.time()
    diffs = {}
    while True:
        diffs = stack.compare_all()
        if not diffs or time.time() - t0 > timeout:
            return not diffs, diffs, time.time() - t0
        time.sleep(every)


def settle_said(stack, timeout=120, show=5, what=""):
    """settle(), then say how long it took and the first differences, as TAP comments."""
    ok, diffs, took = settle(stack, timeout=timeout)
    print("# %ssettled in %.1f s" % (what, took) if ok else
          "# %snot settled after %.1f s" % (what, took))
    for dbid, d in list(diffs.items())[:show]:
        for line in d:
            print("#   account %d: %s" % (dbid, line))
    return ok, diffs, took


def secrets_in_log(stack, extra=()):
    """Every API key, secret and listen key exsim knows that the log contains."""
    needles = []
    for a in stack.http("GET", "/sim/accounts"):
        needles += [a["apiKey"], a["secretKey"]]
        st = stack.sim_state(a["id"])
        if st.get("listenKey"):
            needles.append(st["listenKey"])
    needles += list(extra)
    with open(stack.log, errors="replace") as f:
        text = f.read()
    found = [n[:6] + "..." for n in needles if n and n in text]
    # Listen keys replaced during the run are no longer in /sim/state: any
    # 40+ character alphanumeric token (keys, secrets and listen keys are
    # 64) counts as a leak too.
    import re
    found += ["token " + m[:6] + "..." for m in re.findall(r"[A-Za-z0-9]{40,}", text)]
    return found, len(text.splitlines())


KCAT = shutil.which("kcat") or "/usr/bin/kcat"


def kafka_read(bootstraps, topic, timeout=30):
    """Every message of a topic, from the beginning, as kcat -J prints them:
    dicts with partition, offset, key, payload and headers (a dict).  Read by
    kcat, a consumer not written by us."""
    out = subprocess.run([KCAT, "-b", bootstraps, "-C", "-t", topic, "-o", "beginning", "-e",
                          "-q", "-J", "-X", "topic.metadata.refresh.interval.ms=1000"],
                         capture_output=True, text=True, timeout=timeout)
    msgs = []
    for line in out.stdout.splitlines():
        m = json.loads(line)
        h = m.get("headers") or []
        m["headers"] = dict(zip(h[0::2], h[1::2]))
        msgs.append(m)
    return msgs


USER_TOPICS = {"order": "user-data-order-updates", "fill": "user-data-fills",
               "algo": "user-data-algo-updates", "position": "user-data-position-updates",
               "balance": "user-data-balance-updates", "margin_call": "user-data-margin-calls",
               "config": "user-data-account-config", "unknown": "user-data-unknown"}


def kafka_compare(stack, bootstraps):
    """Every event_log row on its topic, nothing else, after dedupe by event
    id (the last message of an id wins), keyed by its user id, with its
    headers and its payload; within an account, those last messages in
    commit order (event_log.id).  The last, not the first: a fill first
    logged from TRADE_LITE takes a new id when its complete form replaces
    it and goes out again, and rows sent again after a failure or a restart
    go in id order after everything sent before.  Returns (problems,
    per-topic counts, duplicates)."""
    rows = stack.sql("SELECT id, event_id, coalesce(user_id, 0), coalesce(account_id, 0), "
                     "exchange, event_type, payload, raw FROM event_log ORDER BY id")
    by_type = {}
    for r in rows:
        by_type.setdefault(r[5], {})[r[1]] = r
    problems, counts, dups = [], {}, 0
    for typ, topic in USER_TOPICS.items():
        want = by_type.get(typ, {})
        msgs = kafka_read(bootstraps, topic) if want else []
        got, last = {}, {}
        for m in msgs:
            eid = m["headers"].get("event_id")
            if eid in got:
                dups += 1
            got[eid] = m
            last[(m["partition"], eid)] = max(m["offset"], last.get((m["partition"], eid), -1))
        counts[topic] = (len(want), len(got), len(msgs))
        for eid in sorted(set(want) - set(got))[:5]:
            problems.append("%s: %s missing" % (topic, eid))
        for eid in sorted(set(got) - set(want))[:5]:
            problems.append("%s: %s is not in event_log" % (topic, eid))
        for eid in sorted(set(want) & set(got)):
            r, m = want[eid], got[eid]
            h = m["headers"]
            exp_key = str(r[2]) if r[2] != "0" else None
            if m.get("key") != exp_key:
                problems.append("%s: %s key %r, user %s" % (topic, eid, m.get("key"), r[2]))
            if (h.get("account_id"), h.get("exchange"), h.get("type"), h.get("schema")) != \
                    (r[3], r[4], typ, "1"):
                problems.append("%s: %s headers %s" % (topic, eid, h))
            value = m.get("payload")
            if typ == "unknown":
                if value != r[7]:
                    problems.append("%s: %s value is not the raw frame" % (topic, eid))
            elif json.loads(value) != json.loads(r[6]):
                problems.append("%s: %s value %s differs from payload %s" % (topic, eid, value, r[6]))
            if len(problems) > 20:
                break
        # Commit order within each account: last arrivals, by offset, follow ids.
        ids = {eid: int(r[0]) for eid, r in want.items()}
        per_acct = {}
        for (part, eid), off in last.items():
            if eid in ids:
                per_acct.setdefault(want[eid][3], []).append((part, off, ids[eid]))
        for acct, seq in per_acct.items():
            seq.sort()
            parts = {p for p, _, _ in seq}
            if len(parts) != 1:
                problems.append("%s: account %s spread over partitions %s" % (topic, acct, parts))
            order = [i for _, _, i in seq]
            if order != sorted(order):
                problems.append("%s: account %s out of commit order" % (topic, acct))
    return problems, counts, dups
