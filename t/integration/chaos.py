"""chaos: randomized fault runs of the whole stack, for tools/soak and
t/integration/soak.py.

draw(seed) turns a seed into a run: the sizes (accounts, exsim's event
rate, account shards, run length, exsim's --time-scale and the [userdata]
timers that go with it, REST weight limit) and a schedule of timed events
over every fault exsim offers (POST /sim/fault) and over our own processes
(kill -9 of any worker or of the supervisor, HUP with a new account_shards,
PostgreSQL down and up, a whole-daemon restart).  The same seed and options
always draw the same run; describe() prints it.

play(run) runs it on a fresh Stack: prepare, pause exsim, start the daemon,
wait until every account streams, resume, play the schedule, pause, then
settle() and the checks (stack.py's comparison of the database with
/sim/state; no HTTP 418 nor ban, 429 only if a storm was played; the daemon
up, every worker ready; TERM exits 0; no key, secret or listen key in the
debug log).  It returns a Result; summary() is its one-line summary.
"""
import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, PGTMP, settle, secrets_in_log, wait_for  # noqa: E402

# Every kind of event a schedule may hold; the deck deals them evenly.
EXSIM_KINDS = [
    "stall",             # one account's connection stops writing (frames, pings)
    "stall_next",        # the next N new connections are accepted stalled
    "drop_all",          # every connection closed (graceful or abrupt)
    "drop_some",         # a percentage of the connections
    "drop_one",          # the connection(s) of one account
    "expire_listen_key",  # some accounts' listen keys expire
    "revoke_api_key",    # an account's key is revoked (maybe restored later)
    "rate_limit_storm",  # every REST request gets 429 for a while
    "reset_rate_limits",  # exsim forgets the weight windows (and bans)
    "ignore_pongs",      # exsim ignores one connection's pongs, then cuts it
    "stop_ping",         # exsim stops pinging one connection
    "malformed_frame",   # a frame cut in the middle of an object
    "oversized_frame",   # a frame of 0.1..4 MB
    "unknown_event",     # an event type the adapter does not know
    "pause",             # exsim's activity paused for a few seconds
]
OWN_KINDS = [
    "kill_account",      # kill -9 of account worker i
    "kill_writer", "kill_market", "kill_gateway", "kill_broker",
    "kill_supervisor",   # kill -9 of the supervisor, then start the daemon again
    "hup_shards",        # a new [daemon] account_shards, then SIGHUP
    "pg_restart",        # PostgreSQL down for a few seconds
    "daemon_restart",    # TERM, wait, start
]
KINDS = EXSIM_KINDS + OWN_KINDS
# Not dealt but drawn with the event they follow: resume after pause,
# restore_api_key after some revoke_api_key, a drop_one after stall_next.

# How long settle() may take: REST resyncs of every account after storms,
# bans and restarts, within the weight budget.
SETTLE_BASE_S = 60
SETTLE_PER_ACCOUNT_S = 2.0
CONNECT_BUDGET = 225     # the default connect_budget (attempts per 5 minutes)


def say(*a):
    print(*a, flush=True)


class Run:
    """A drawn run: parameters and a schedule [(t, kind, args)]."""

    def __init__(self, seed, quick, shrink):
        self.seed, self.quick, self.shrink = seed, quick, shrink
        self.events = []

    def replay(self, settle_timeout=None):
        a = "tools/soak --seed %d" % self.seed
        if self.quick:
            a += " --quick"
        if self.shrink != 1.0:
            a += " --shrink %g" % self.shrink
        if settle_timeout is not None:
            a += " --settle-timeout %d" % settle_timeout
        return a


def draw(seed, quick=False, shrink=1.0):
    """The run of a seed.  Every random choice comes from one
    random.Random(seed), in a fixed order: same seed, same options, same
    run."""
    rng = random.Random(seed)
    r = Run(seed, quick, shrink)
    if quick:
        r.accounts, r.rate, r.length = rng.randint(5, 20), rng.randint(50, 400), rng.randint(20, 30)
    else:
        r.accounts, r.rate, r.length = rng.randint(5, 100), rng.randint(50, 2000), rng.randint(20, 90)
    if shrink != 1.0:
        r.accounts = max(3, int(round(r.accounts * shrink)))
        r.rate = max(20, int(round(r.rate * shrink)))
        r.length = max(10, int(round(r.length * shrink)))
    r.shards = rng.randint(1, 3)
    r.time_scale = rng.choice([1, 60, 600])
    # Listen keys live 60 min / scale: renew well within that.
    r.renewal = rng.choice({1: ["20s", "5m", "30m"], 60: ["5s", "10s", "20s"],
                            600: ["1s", "2s"]}[r.time_scale])
    r.health = rng.choice([0.5, 1, 2])
    r.silence = max(rng.choice([3, 5, 8]), 2 * r.health + 1)
    r.per_conn = rng.choice([None, None, 2, 5, 20])
    # Sometimes the daemon replaces its connections itself before exsim's
    # 24 h cut (24 h / scale: 144 s at 600): the overlap must deduplicate.
    r.max_age = rng.choice([None, None, rng.randint(10, 40)])
    r.weight_limit = rng.choice([2400, 6000, 60000])
    # exsim's weight window is not scaled: keeping every key alive must
    # leave most of the budget to the resyncs, or nothing can converge.
    keepalive = r.accounts * 60 / _seconds(r.renewal)
    while keepalive * 4 > r.weight_limit * 3 // 4 and r.weight_limit < 60000:
        r.weight_limit = {2400: 6000, 6000: 60000}[r.weight_limit]
    r.budget = r.weight_limit * 3 // 4

    # The schedule: one event every 2..4 s on average, kinds dealt from
    # a shuffled deck so that a run holds many different ones.
    n = max(4, int(r.length / rng.uniform(2.0, 4.0)))
    times = sorted(round(rng.uniform(1.0, r.length - 2.0), 1) for _ in range(n))
    deck = []
    shards = r.shards
    revoked = set()
    ev = []
    end = r.length - 0.5
    for t in times:
        if not deck:
            deck = list(KINDS)
            rng.shuffle(deck)
        kind = deck.pop()
        acct = rng.randint(1, r.accounts)
        graceful = rng.random() < 0.5
        a = {}
        if kind == "stall":
            a = {"account": acct}
        elif kind == "stall_next":
            a = {"next": rng.randint(1, 3)}
            # make sure some connection is made soon after
            ev.append((min(end, t + 0.5), "drop_one", {"account": acct, "graceful": False}, True))
        elif kind == "drop_all":
            a = {"graceful": graceful}
        elif kind == "drop_some":
            a = {"percent": rng.choice([10, 25, 50, 75]), "graceful": graceful}
        elif kind == "drop_one":
            a = {"account": acct, "graceful": graceful}
        elif kind == "expire_listen_key":
            a = {"accounts": sorted(rng.sample(range(1, r.accounts + 1),
                                               rng.randint(1, min(5, r.accounts))))}
        elif kind == "revoke_api_key":
            free = [i for i in range(1, r.accounts + 1) if i not in revoked]
            if len(revoked) >= max(1, r.accounts // 5) or len(free) < 2:
                kind, a = "drop_one", {"account": acct, "graceful": graceful}
            else:
                acct = rng.choice(free)
                revoked.add(acct)
                a = {"account": acct}
                if rng.random() < 0.5:
                    ev.append((min(end, round(t + rng.uniform(4, 15), 1)), "restore_api_key",
                               {"account": acct}, True))
        elif kind == "rate_limit_storm":
            a = {"duration_ms": rng.choice([2000, 5000, 10000, 15000])}
        elif kind in ("ignore_pongs", "stop_ping"):
            a = {"account": acct}
        elif kind in ("malformed_frame", "unknown_event"):
            a = {"account": acct} if rng.random() < 0.7 else {}
            if kind == "unknown_event":
                a["event"] = rng.choice(["STRATEGY_UPDATE", "GRID_UPDATE", "exsimNoSuchEvent"])
        elif kind == "oversized_frame":
            a = {"account": acct, "bytes": rng.choice([100000, 1 << 20, 2 << 20, 4 << 20])}
        elif kind == "pause":
            d = round(rng.uniform(1, 5), 1)
            ev.append((min(end, round(t + d, 1)), "resume", {}, True))
            a = {"seconds": d}
        elif kind == "kill_account":
            a = {"instance": rng.randrange(shards)}
        elif kind == "hup_shards":
            shards = rng.choice([s for s in (1, 2, 3) if s != shards])
            a = {"shards": shards}
        elif kind == "pg_restart":
            a = {"down_s": round(rng.uniform(1, 6), 1)}
        ev.append((t, kind, a, False))
    # stable: a follow-up at the same time as a dealt event comes after it
    r.events = [(t, k, a) for t, k, a, _ in sorted(ev, key=lambda e: (e[0], e[3]))]
    r.final_shards = shards
    return r


def settle_timeout(r):
    # Besides the base: a full resync of every account (about 150 weight
    # each) at the run's budget, and, when the connections renewed for
    # their age (connection_max_age) can use up the host's attempts, one
    # five-minute connect window for the accounts that need one.
    groups = -(-r.accounts // (r.per_conn or 200))
    t = SETTLE_BASE_S + SETTLE_PER_ACCOUNT_S * r.accounts * (2 if r.weight_limit < 6000 else 1)
    t += r.accounts * 150 * 60 / r.budget
    if r.max_age and groups * 300 / r.max_age > CONNECT_BUDGET / 2:
        t += 300
    return int(t)


def fmt_args(a):
    return " ".join("%s=%s" % (k, v) for k, v in a.items())


def describe(r):
    """The lines that print a run: parameters, then the schedule."""
    cut = 24 * 3600 / r.time_scale
    lines = [
        "accounts %d, exsim rate %d events/s, account_shards %d, run %d s, exsim --time-scale %d"
        % (r.accounts, r.rate, r.shards, r.length, r.time_scale),
        "[userdata] listenkey_renewal %s (keys live %s), health_check_interval %gs, "
        "silence_timeout %gs, accounts_per_connection %s, connection_max_age %s"
        % (r.renewal, _dur(3600 / r.time_scale), r.health, r.silence, r.per_conn or "default",
           "%ds" % r.max_age if r.max_age else "default"),
        "exsim --weight-limit %d, rest_weight_budget %d; exsim's 24 h cut at %s of a "
        "connection's life" % (r.weight_limit, r.budget, _dur(cut)),
        "schedule (%d events):" % len(r.events),
    ]
    for t, k, a in r.events:
        lines.append("  %5.1fs  %s %s" % (t, k, fmt_args(a)))
    return lines


def _seconds(d):
    """Seconds of a duration such as "500ms", "20s", "5m"."""
    for suffix, mult in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if d.endswith(suffix):
            return float(d[:-len(suffix)]) * mult
    return float(d)


def _dur(s):
    if s >= 3600:
        return "%gh" % (s / 3600)
    if s >= 60:
        return "%gmin" % (s / 60)
    return "%gs" % s


class Result:
    def __init__(self, run):
        self.run = run
        self.checks = []        # (ok, what)
        self.notes = []
        self.settled_s = None
        self.counts = {}
        self.stats = {}
        self.dir = None
        self.wall = 0.0

    def check(self, ok, what):
        self.checks.append((bool(ok), what))
        return ok

    @property
    def ok(self):
        return bool(self.checks) and all(ok for ok, _ in self.checks)

    def summary(self):
        r = self.run
        kinds = collections.Counter(k for _, k, _ in r.events)
        rest = self.stats.get("rest", {})
        c = self.counts
        return ("seed %d: %d accounts, %d ev/s, %d->%d shards, %ds x%d | %d faults: %s | "
                "settled %s | compared %s accounts: %s orders, %s algo, %s fills, %s positions, "
                "%s balances | 429 %s, 418 %s, bans %s | %.0fs | %s"
                % (r.seed, r.accounts, r.rate, r.shards, r.final_shards, r.length, r.time_scale,
                   len(r.events), ", ".join("%s %d" % kv for kv in sorted(kinds.items())),
                   "%.1fs" % self.settled_s if self.settled_s is not None else "-",
                   c.get("accounts", "-"), c.get("orders", "-"), c.get("algo", "-"),
                   c.get("fills", "-"), c.get("positions", "-"), c.get("balances", "-"),
                   rest.get("http429", "-"), rest.get("http418", "-"), rest.get("bans", "-"),
                   self.wall, "PASS" if self.ok else "FAIL"))


class Player:
    """Plays one run on one Stack."""

    def __init__(self, run, out=say, settle_timeout_s=None):
        self.r, self.printer = run, out
        self.transcript = []
        self.res = Result(run)
        self.settle_timeout = settle_timeout_s or settle_timeout(run)
        self.revoked = set()    # exsim ids revoked and not restored
        self.restored = set()
        self.storms = 0
        self.daemon_gone = None  # why the daemon is down for good
        self.t0 = None
        self.pg_thread = self.pg_error = None

    # ---- helpers ------------------------------------------------------------
    def out(self, line):
        self.transcript.append(line)
        self.printer(line)

    def log(self, msg):
        t = time.time() - self.t0 if self.t0 else 0.0
        self.out("  %5.1fs  %s" % (t, msg))

    def by_sim(self, sim_id):
        for dbid, a in self.st.accounts.items():
            if a["id"] == sim_id:
                return dbid
        return None

    def children(self, pid):
        """The pids whose parent is pid (read from /proc)."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces and parentheses
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
        return out

    def alive(self, pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def daemon_up(self):
        return self.st.daemon is not None and self.st.daemon.poll() is None

    def workers(self):
        out = self.st.ctl("--json", "status", check=False)
        if out.returncode != 0:
            return None
        try:
            return json.loads(out.stdout)["workers"]
        except (ValueError, KeyError):
            return None

    def start_daemon(self, why):
        """Start the daemon; wait up to 60 s for every worker to be ready."""
        try:
            self.st.start_daemon()
            return True
        except RuntimeError as e:
            if not self.daemon_up():
                self.daemon_gone = "%s: exfeedd did not start: %s" % (why, str(e)[:2000])
                self.log(self.daemon_gone)
                return False
        ok = wait_for(lambda: all(w["state"] == "ready" for w in (self.workers() or [{"state": 0}])),
                      45, 0.5)
        self.res.check(ok, "%s: every worker ready within 60 s" % why)
        return True

    # ---- events -------------------------------------------------------------
    def pg_restart(self, down_s):
        try:
            self.st.restart_pg(down_s=down_s)
            self.log("PostgreSQL up again")
        except Exception as e:  # noqa: BLE001
            self.pg_error = "PostgreSQL restart failed: %s" % e
            self.log(self.pg_error)

    def join_pg(self):
        if self.pg_thread:
            self.pg_thread.join()
            self.pg_thread = None
        if self.pg_error:
            self.res.check(False, self.pg_error)
            self.pg_error = None

    def kill_worker(self, role, inst=0):
        ws = self.workers() or []
        pid = next((w.get("pid") for w in ws if w["role"] == role and w["instance"] == inst), None)
        if not pid:
            self.log("kill -9 %s %d: not running now (%s)" % (role, inst, "no status" if not ws else
                     [(w["role"], w["instance"], w["state"]) for w in ws if w["role"] == role]))
            return
        os.kill(pid, signal.SIGKILL)
        self.log("kill -9 %s %d (pid %d)" % (role, inst, pid))

    def kill_supervisor(self):
        pid = self.st.daemon.pid
        kids = self.children(pid)
        os.kill(pid, signal.SIGKILL)
        self.st.daemon.wait()
        self.log("kill -9 supervisor (pid %d); its %d workers should follow" % (pid, len(kids)))
        # The workers get SIGTERM from the kernel (PR_SET_PDEATHSIG); they
        # must be gone before the new daemon takes the gateway port.
        gone = wait_for(lambda: not any(self.alive(k) for k in kids), 15, 0.1)
        left = [k for k in kids if self.alive(k)]
        self.res.check(gone, "kill -9 supervisor at %.1fs: its workers exit within 15 s%s" %
                       (time.time() - self.t0, "" if gone else " (left: %s)" % left))
        for k in left:
            os.kill(k, signal.SIGKILL)
        self.start_daemon("restart after kill -9 of the supervisor")
        self.log("daemon started again (pid %d)" % self.st.daemon.pid)

    def daemon_restart(self):
        rc = self.st.stop_daemon()
        self.res.check(rc == 0, "restart at %.1fs: TERM exits 0 (%s)" % (time.time() - self.t0, rc))
        self.log("daemon stopped (exit %s)" % rc)
        self.start_daemon("whole-daemon restart")
        self.log("daemon started again (pid %d)" % self.st.daemon.pid)

    def restore(self, sim_id):
        dbid = self.by_sim(sim_id)
        try:
            row = self.st.sql("SELECT is_active, coalesce(deactivated_reason, '') FROM"
                              " exchange_accounts WHERE id = %d" % dbid)
        except RuntimeError as e:
            self.log("restore account %d: cannot read the database (%s); stays revoked" %
                     (sim_id, str(e)[:200]))
            return
        if not row or row[0][0] != "f":
            # The daemon has not noticed the revocation (it notices on its
            # next REST request for the account): restoring the key now
            # would leave a stream the daemon believes alive on a listen
            # key exsim closed, and no quarantine to lift.  Keep it revoked.
            self.log("restore account %d: not quarantined yet (db %s): stays revoked, "
                     "excluded" % (sim_id, row))
            return
        self.st.fault("restore_api_key", account=sim_id)
        out = self.st.ctl("account", "enable", str(dbid), check=False)
        rl = self.st.ctl("reload", check=False)
        self.revoked.discard(sim_id)
        self.restored.add(sim_id)
        self.log("restore_api_key account %d (db %d, was quarantined: %s); account enable: "
                 "exit %d; reload: exit %d" % (sim_id, dbid, row[0][1], out.returncode,
                                               rl.returncode))

    def play_event(self, kind, a):
        st = self.st
        if kind in ("stall", "ignore_pongs", "stop_ping"):
            res = st.fault(kind, account=a["account"])
        elif kind == "stall_next":
            res = st.fault("stall", next=a["next"])
        elif kind in ("drop_all", "drop_some", "drop_one"):
            kw = {"graceful": a["graceful"]}
            if "percent" in a:
                kw["percent"] = a["percent"]
            if "account" in a:
                kw["account"] = a["account"]
            res = st.fault("drop", **kw)
        elif kind == "expire_listen_key":
            res = [st.fault(kind, account=i).get("affected") for i in a["accounts"]]
        elif kind == "revoke_api_key":
            res = st.fault(kind, account=a["account"])
            self.revoked.add(a["account"])
        elif kind == "restore_api_key":
            return self.restore(a["account"])
        elif kind == "rate_limit_storm":
            res = st.fault(kind, duration_ms=a["duration_ms"])
            self.storms += 1
        elif kind in ("reset_rate_limits", "resume"):
            res = st.fault(kind)
        elif kind in ("malformed_frame", "unknown_event", "oversized_frame"):
            res = st.fault(kind, **a)
        elif kind == "pause":
            res = st.fault("pause")
        elif kind == "kill_account":
            return self.kill_worker("account", a["instance"])
        elif kind.startswith("kill_") and kind != "kill_supervisor":
            return self.kill_worker(kind[5:])
        elif kind == "kill_supervisor":
            return self.kill_supervisor()
        elif kind == "hup_shards":
            st.shards = a["shards"]
            st.write_config()
            st.daemon.send_signal(signal.SIGHUP)
            res = "config rewritten, SIGHUP sent"
        elif kind == "pg_restart":
            # in the background, so the schedule goes on while it is down
            self.join_pg()
            self.pg_thread = threading.Thread(target=self.pg_restart, args=(a["down_s"],),
                                              daemon=True)
            self.pg_thread.start()
            res = "PostgreSQL going down for %.1f s" % a["down_s"]
        elif kind == "daemon_restart":
            return self.daemon_restart()
        else:
            raise ValueError(kind)
        if isinstance(res, dict):
            res = "affected %s" % res.get("affected") if res.get("ok") else res
        self.log("%s %s: %s" % (kind, fmt_args(a), res))

    # ---- the run ------------------------------------------------------------
    def userdata(self):
        r = self.r
        u = ["listenkey_renewal = %s" % r.renewal,
             "health_check_interval = %gms" % (r.health * 1000),
             "silence_timeout = %gs" % r.silence]
        if r.per_conn:
            u.append("accounts_per_connection = %d" % r.per_conn)
        if r.max_age:
            u.append("connection_max_age = %ds" % r.max_age)
        return u

    def play(self, keep=False):
        r, res = self.r, self.res
        t_start = time.time()
        self.st = st = Stack(accounts=r.accounts, rate=r.rate, seed=r.seed, shards=r.shards,
                             exsim_args=["--time-scale", str(r.time_scale)],
                             weight_limit=r.weight_limit, budget=r.budget,
                             userdata=self.userdata())
        res.dir = st.dir
        try:
            self._play()
        except Exception as e:  # noqa: BLE001 - a harness error fails the run, loudly
            import traceback
            self.out("harness error: %s" % traceback.format_exc().rstrip())
            res.check(False, "harness error: %s: %s" % (type(e).__name__, e))
        finally:
            if self.pg_thread:
                self.pg_thread.join()
            res.wall = time.time() - t_start
            if keep and not res.ok:
                self.keep()
            else:
                st.stop()
        return res

    def _play(self):
        r, res, st = self.r, self.res, self.st
        st.prepare()
        st.fault("pause")
        if not self.start_daemon("first start"):
            res.check(False, self.daemon_gone)
            return
        res.check(st.wait_streaming(r.accounts, 60 + r.accounts),
                  "all %d accounts streaming before the faults (%d)" % (r.accounts, st.streaming()))
        st.fault("resume")
        self.t0 = time.time()
        self.out("played:")
        for t, kind, a in r.events:
            delay = self.t0 + t - time.time()
            if delay > 0:
                time.sleep(delay)
            if not self.daemon_up():
                self.daemon_gone = self.daemon_gone or "exfeedd exited (%s) before %.1fs" % (
                    st.daemon.returncode, t)
                break
            try:
                self.play_event(kind, a)
            except Exception as e:  # noqa: BLE001
                self.log("%s %s failed: %s: %s" % (kind, fmt_args(a), type(e).__name__, e))
                res.check(False, "event %s at %.1fs played (%s)" % (kind, t, e))
        if not self.daemon_gone:
            delay = self.t0 + r.length - time.time()
            if delay > 0:
                time.sleep(delay)
        st.fault("pause")
        self.log("exsim paused: the run is over")
        self.join_pg()
        if not self.daemon_gone and not self.daemon_up():
            self.daemon_gone = "exfeedd exited (%s) during the run" % st.daemon.returncode
        if self.daemon_gone:
            res.check(False, "the daemon is up at the end: %s" % self.daemon_gone)
            self.out("log tail:\n" + st.log_tail(30))
            return
        self.finish()

    def finish(self):
        r, res, st = self.r, self.res, self.st
        excluded = {self.by_sim(i) for i in self.revoked}
        compared = {d: a for d, a in st.accounts.items() if d not in excluded}
        if excluded:
            self.out("  revoked and not restored, excluded from the comparison: db ids %s" %
                     sorted(excluded))
        # settle() and compare_all() are stack.py's; they compare
        # st.accounts, so it holds the compared accounts meanwhile.
        all_accounts, st.accounts = st.accounts, compared
        try:
            ok, diffs, took = settle(st, timeout=self.settle_timeout)
        finally:
            st.accounts = all_accounts
        res.settled_s = took if ok else None
        self.out("  %s in %.1f s (timeout %d s)" % ("settled" if ok else "NOT settled", took,
                                                     self.settle_timeout))
        if diffs:
            rows = {}
            try:
                rows = st.rows_by_id()
            except Exception:  # noqa: BLE001
                pass
            for dbid in sorted(diffs)[:5]:
                row = rows.get(dbid)
                self.out("    account %d (exsim %d; daemon: %s):" % (
                    dbid, st.accounts[dbid]["id"], "served by no account worker" if row is None
                    else "%s, resync %s, reconnects %s%s" % (
                        row.get("state"), row.get("resync"), row.get("reconnects"),
                        ", " + row["reason"] if row.get("reason") else "")))
                for line in diffs[dbid]:
                    self.out("      " + line)
        res.check(ok, "database equals exsim's truth for all %d compared accounts (%d differ)"
                  % (len(compared), len(diffs)))
        res.diffs = diffs
        self.count(compared)
        stats = res.stats = st.sim_stats()
        rest, conns = stats["rest"], stats["connections"]
        self.out("  exsim rest: %s" % {k: v for k, v in rest.items() if k != "ips"})
        self.out("  exsim connections: %s" % conns)
        res.check(rest["http418"] == 0 and rest["bans"] == 0,
                  "no IP ban: %d HTTP 418, %d bans" % (rest["http418"], rest["bans"]))
        res.check(rest["http429"] == 0 or self.storms,
                  "429 only from storms: %d 429 with %d storms" % (rest["http429"], self.storms))
        ws = self.workers()
        ready = ws is not None and all(w["state"] == "ready" for w in ws)
        acc = sorted(w["instance"] for w in (ws or []) if w["role"] == "account")
        res.check(self.daemon_up() and ready and acc == list(range(st.shards)),
                  "daemon up, every worker ready, account workers %s for account_shards %d (%s)" %
                  (acc, st.shards, None if ws is None else
                   [(w["role"], w["instance"], w["state"]) for w in ws if w["state"] != "ready"]))
        leaked, lines = secrets_in_log(st)
        res.check(not leaked, "debug log (%d lines) holds no key, secret or listen key%s" %
                  (lines, " (found %s)" % leaked[:5] if leaked else ""))
        if not res.ok:
            self.error_lines()
        rc = st.stop_daemon()
        res.check(rc == 0, "TERM at the end: exit 0 (%s)" % rc)

    def count(self, compared):
        c = collections.Counter(accounts=len(compared))
        self.truth = {}
        for dbid, a in compared.items():
            s = self.truth[dbid] = self.st.sim_state(a["id"])
            c["orders"] += len(s["orders"])
            c["algo"] += len(s["algoOrders"])
            c["fills"] += len(s["fills"])
            c["positions"] += sum(1 for p in s["positions"] if float(p["pa"]) != 0)
            c["balances"] += len(s["balances"])
        self.res.counts = c

    def error_lines(self, n=8):
        """The last distinct ERROR and WARNING lines of the log, for a failure."""
        seen, out = set(), []
        try:
            with open(self.st.log, errors="replace") as f:
                for line in f:
                    m = re.search(r": (warn|error): (.*)", line)
                    if m and not m.group(2).startswith("MARGIN CALL"):
                        # one line per message, whatever its numbers
                        key = re.sub(r"[0-9]+", "N", m.group(2))[:80]
                        if key not in seen:
                            seen.add(key)
                            out.append(line.rstrip())
        except OSError:
            return
        if out:
            self.out("  last distinct warnings/errors in exfeedd.log:")
            for line in out[-n:]:
                self.out("    " + line[:300])

    def keep(self):
        """Leave the run's directory for a post-mortem: the log, the config,
        exsim's truth and stats, and the database (PostgreSQL stopped, its
        data kept)."""
        st = self.st
        try:
            if st.exsim and st.exsim.poll() is None:
                truth = {d: st.sim_state(a["id"]) for d, a in st.accounts.items()}
                with open(os.path.join(st.dir, "truth.json"), "w") as f:
                    json.dump(truth, f, indent=1)
                with open(os.path.join(st.dir, "stats.json"), "w") as f:
                    json.dump(st.sim_stats(), f, indent=1)
            with open(os.path.join(st.dir, "run.txt"), "w") as f:
                f.write("seed %d\nreplay: %s\n" % (self.r.seed, self.r.replay()))
                f.write("\n".join(describe(self.r) + self.transcript) + "\n")
                f.write("accounts (db id -> exsim id): %s\n" %
                        {d: a["id"] for d, a in st.accounts.items()})
                for ok, what in self.res.checks:
                    f.write("%s - %s\n" % ("ok" if ok else "not ok", what))
                for dbid, d in sorted(getattr(self.res, "diffs", {}).items()):
                    f.write("account %d (exsim %d):\n" % (dbid, st.accounts[dbid]["id"]))
                    f.writelines("  %s\n" % line for line in d)
        except Exception as e:  # noqa: BLE001
            self.out("  (could not save the truth: %s)" % e)
        st.stop_daemon()
        if st.pg:
            subprocess.run([PGTMP, "down", os.path.join(st.dir, "pg")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            st.pg = False
        st.keep = True
        st.stop()
        self.out("  kept %s (exfeedd.log, exsim.log, exfeedd.conf, truth.json, stats.json, "
                 "run.txt; the database: tools/pgtmp up %s/pg, then tools/pgtmp psql %s/pg)"
                 % (st.dir, st.dir, st.dir))


def play(run, out=say, keep=False, settle_timeout_s=None):
    return Player(run, out, settle_timeout_s).play(keep)
