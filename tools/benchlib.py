"""tools/benchlib.py: what the Python benches (tools/bench market, peer,
userdata) share: ccxt pro installed into a cache directory, a node child's
JSON counter lines, and the machine, load and per-process CPU and memory
read from /proc.
"""
import concurrent.futures
import json
import os
import platform
import signal
import subprocess
import sys
import threading

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


# ---- ccxt ------------------------------------------------------------------
def ccxt_dir(version, d=None):
    """Where ccxt at version is installed: d if given, else the user's cache."""
    if d:
        return os.path.abspath(d)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "exfeedd", "ccxt-" + version)


def ccxt_install(d, version):
    """npm install --no-save ccxt@version into d unless it is there already."""
    pj = os.path.join(d, "node_modules", "ccxt", "package.json")
    try:
        with open(pj) as f:
            if json.load(f)["version"] == version:
                return
    except (OSError, ValueError, KeyError):
        pass
    for tool in ("node", "npm"):
        if subprocess.run(["sh", "-c", "command -v " + tool], stdout=subprocess.DEVNULL).returncode:
            raise RuntimeError("%s not found: install Debian's nodejs and npm (tools/deps bench)"
                               % tool)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "package.json"), "w") as f:
        json.dump({"name": "exfeedd-bench-ccxt", "private": True}, f)
    log("npm install --no-save ccxt@%s in %s" % (version, d))
    subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error",
                    "ccxt@" + version], cwd=d, check=True, timeout=600)


def node_version():
    return subprocess.run(["node", "--version"], stdout=subprocess.PIPE, text=True,
                          stderr=subprocess.DEVNULL).stdout.strip()


class Lines(threading.Thread):
    """The last JSON line a child printed on stdout."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc, self.last, self.n = proc, None, 0
        self.cv = threading.Condition()

    def run(self):
        for line in self.proc.stdout:
            try:
                v = json.loads(line)
            except ValueError:
                continue
            with self.cv:
                self.last, self.n = v, self.n + 1
                self.cv.notify_all()

    def now(self, timeout=5):
        """Counters as of now: SIGUSR2 makes the child print them at once
        (within timeout seconds: a saturated event loop answers late)."""
        with self.cv:
            n = self.n
            self.proc.send_signal(signal.SIGUSR2)
            if not self.cv.wait_for(lambda: self.n > n, timeout):
                raise RuntimeError("the node child does not answer SIGUSR2 in %g s" % timeout)
            return dict(self.last)


# ---- the machine and /proc -------------------------------------------------
def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d CPUs (%s), kernel %s" % (platform.node(), os.cpu_count(), model,
                                            platform.release())


def add_accounts(st, sim_accounts):
    """Stack.add_accounts four at a time (1,000 one by one is slow): each
    exsim account added with `exfeedctl account add`, its keys on stdin."""
    def one(a):
        out = st.ctl("account", "add", "--user", str(1000 + a["id"]), "--exchange",
                     "binance-futures", "--api-key-file", "-", "--api-secret-file", "-",
                     "--label", "sim%d" % a["id"], stdin="%s\n%s\n" % (a["apiKey"], a["secretKey"]))
        return int([w for w in out.stdout.split() if w.isdigit()][-1]), a

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        for dbid, a in ex.map(one, sim_accounts):
            st.accounts[dbid] = a


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_s(pid):
    """utime + stime of a process, all its threads, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def run_queue(pid):
    """(seconds spent runnable but waiting for a CPU, times run) of a
    process, all its threads: /proc/PID/task/*/schedstat's second and third
    fields (the scheduler's run_delay and pcount)."""
    wait = runs = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                v = f.read().split()
        except OSError:
            continue
        wait, runs = wait + int(v[1]), runs + int(v[2])
    return wait / 1e9, runs


def mem_kb(pid):
    """(VmRSS, Pss) of a process in kB; Pss shares each shared page among
    the processes mapping it, so it sums across a process tree (VmRSS
    counts PostgreSQL's shared buffers once per backend that touched them)."""
    rss = pss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
    except OSError:
        pss = rss
    return rss, pss


def proc_name(pid):
    """A process's command line as it shows it, digits dropped, at most 48
    characters (a worker's title, "postgres: exfeedd exfeedd [local] idle")."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            s = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    if "[local]" in s:  # a backend's title ends in what it does now
        s = s[:s.index("[local]") + 7]
    s = "".join(ch for ch in s if not ch.isdigit())
    return s.strip()[:48]


def descendants(root):
    """root and every process below it (pids), from /proc's parent links."""
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(p))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


class TreeCPU:
    """CPU-seconds of a process tree over a window, processes that start or
    end within it included: sample() once a second keeps each process's last
    value, so one that exits keeps what it used until the last sample before
    its exit (at most a second of it is lost: counted in `gone`)."""

    def __init__(self, root):
        self.root, self.first, self.last, self.gone, self.names = root, {}, {}, 0, {}

    def sample(self, start=False):
        pids = descendants(self.root)
        seen = set()
        for pid in pids:
            try:
                v = cpu_s(pid)
            except (OSError, ValueError):
                continue
            seen.add(pid)
            if pid not in self.names:
                self.names[pid] = proc_name(pid)
            if start:
                self.first[pid] = v
            elif pid not in self.first:
                self.first[pid] = 0.0   # born in the window
            self.last[pid] = v
        if not start:
            self.gone = sum(1 for p in self.last if p not in seen)
        return seen

    def total(self):
        return sum(self.last[p] - self.first.get(p, 0.0) for p in self.last)

    def by_name(self):
        """CPU-seconds over the window by process name (its command line
        as the process shows it, e.g. PostgreSQL's "postgres: walwriter",
        exfeedd's worker titles, digits dropped), most first."""
        out = {}
        for p in self.last:
            n = self.names.get(p) or "pid %d" % p
            out[n] = out.get(n, 0.0) + self.last[p] - self.first.get(p, 0.0)
        return sorted(out.items(), key=lambda kv: -kv[1])

    def mem(self):
        """(VmRSS, Pss) summed over the tree's live processes, MB."""
        rss = pss = 0
        for pid in descendants(self.root):
            try:
                r, p = mem_kb(pid)
            except OSError:
                continue
            rss, pss = rss + r, pss + p
        return rss / 1024.0, pss / 1024.0


def cpu_times():
    """The aggregate CPU line of /proc/stat: user nice system idle iowait irq softirq steal."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def cpu_share(c0, c1):
    """Between two cpu_times(): percent of all CPUs' time idle (idle +
    iowait) and stolen by the hypervisor."""
    d = [b - a for a, b in zip(c0, c1)]
    tot = float(sum(d)) or 1.0
    return {"idle": 100 * (d[3] + d[4]) / tot, "steal": 100 * d[7] / tot}


def postmaster_pid(st):
    """The PID of a stack's PostgreSQL postmaster (postmaster.pid's first line)."""
    with open(os.path.join(st.dir, "pg", "data", "postmaster.pid")) as f:
        return int(f.readline())


def quantiles(bounds, c0, c1, qs=(0.5, 0.99, 0.999)):
    """Quantiles of the samples a status histogram (hist.h: bounds, counts)
    took between two reads c0 and c1 of its counts: (samples, [the upper
    bound, µs, of the bucket holding each quantile in qs])."""
    d = [b - a for a, b in zip(c0, c1)]
    n = sum(d)
    out = []
    for q in qs:
        want, seen = max(1, int(n * q + 0.999999)), 0
        for i, k in enumerate(d):
            seen += k
            if seen >= want:
                out.append(bounds[min(i, len(bounds) - 1)])
                break
        else:
            out.append(0)
    return n, out
