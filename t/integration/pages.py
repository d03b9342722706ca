#!/usr/bin/python3
"""Issue 13, acceptance 5: the gateway's pages in a real browser.

Headless Chromium (Debian's chromium) driven by playwright-core (npm, at
PLAYWRIGHT_VERSION, installed with `npm install --no-save` into
~/.cache/exfeedd/; the test skips, saying why, without node, npm, chromium
or the package) through t/integration/pages.cjs, against the whole stack
(PostgreSQL, exsim with four accounts of users 1001..1004, exfeedd):

- the pages and assets are served with their Content-Type, an ETag that
  answers 304, Cache-Control: no-cache and a self-only
  Content-Security-Policy, and load without a console error (a CSP
  violation is one);
- /: the connection dot turns green, the live numbers change (the `ops`
  messages arrive and the committed-events count moves); the gateway worker
  killed (SIGKILL: the supervisor restarts it), the dot turns red, then green
  again by itself, and the numbers move again;
- /orders#token=… for user 1001 in two tabs and for user 1002 in a third:
  the dot turns green and a snapshot arrives; while exsim trades, every
  order that exsim fills for the tab's user shows as FILLED within a second
  of its commit (event_log.committed_at against the moment the row showed
  FILLED in the page); no tab ever shows a row of another user's account
  (every row ever added is recorded by a MutationObserver); and the tab's
  open orders, positions and balances equal the database's, field by field,
  for the rows that had not changed in the last two seconds.

Screenshots go to $top_builddir/t/artifacts/pages/.
"""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import BUILD, SRC, Stack, skip_in_repeat_pass, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

PLAYWRIGHT_VERSION = "1.65.1"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.path.join(BUILD, "t", "artifacts", "pages")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def skip(why):
    print("1..0 # SKIP %s" % why, flush=True)
    sys.exit(77)


def playwright_dir():
    """playwright-core installed (once) in the cache directory; skip when it cannot be."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            skip("%s not found: install Debian's nodejs and npm (tools/deps)" % tool)
    if not os.access(CHROMIUM, os.X_OK):
        skip("%s not found: install Debian's chromium (tools/deps)" % CHROMIUM)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = os.path.join(cache, "exfeedd", "playwright-core-" + PLAYWRIGHT_VERSION)
    if os.path.exists(os.path.join(d, "node_modules", "playwright-core", "package.json")):
        return d
    os.makedirs(d, exist_ok=True)
    print("# npm install --no-save playwright-core@%s in %s" % (PLAYWRIGHT_VERSION, d), flush=True)
    try:
        r = subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund",
                            "--loglevel=error", "playwright-core@" + PLAYWRIGHT_VERSION],
                           cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=180)
    except subprocess.TimeoutExpired:
        skip("npm install playwright-core@%s took over 3 minutes (no registry?)" % PLAYWRIGHT_VERSION)
    if r.returncode != 0:
        skip("npm install playwright-core@%s failed: %s" % (PLAYWRIGHT_VERSION,
                                                           r.stdout.strip().splitlines()[-1:]))
    return d


class Browser:
    """pages.cjs: one JSON command a line, one JSON answer a line, each with a deadline."""

    def __init__(self, pw):
        self.p = subprocess.Popen(["node", os.path.join(SRC, "t", "integration", "pages.cjs"),
                                   pw, CHROMIUM], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, start_new_session=True)

    def __call__(self, cmd, timeout=30, **kw):
        kw["cmd"] = cmd
        self.p.stdin.write(json.dumps(kw) + "\n")
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        line = self.p.stdout.readline() if r else ""
        if not line:
            raise RuntimeError("pages.cjs gave no answer to %s in %ds" % (cmd, timeout))
        return json.loads(line)

    def wait(self, name, js, timeout_ms):
        """ms until js was true in tab name, or None."""
        r = self(cmd="wait", name=name, js=js, timeout_ms=timeout_ms, timeout=timeout_ms / 1000 + 10)
        if not r["ok"]:
            print("# %s: %s: %s" % (name, js, r.get("error")), flush=True)
        return r["ms"] if r["ok"] else None

    def eval(self, name, js):
        r = self(cmd="eval", name=name, js=js)
        if not r["ok"]:
            raise RuntimeError("eval in %s: %s" % (name, r.get("error")))
        return r["value"]

    def shot(self, name, file, full=False):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, file)
        r = self(cmd="screenshot", name=name, path=path, full=full)
        return path if r["ok"] else None

    def close(self):
        if self.p.poll() is None:
            try:
                self("quit", timeout=10)
            except Exception:
                pass
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait()


def get(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method,
                                 data=b"x" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def check_serving(base):
    want = {"/": ("index.html", "text/html; charset=utf-8"),
            "/orders": ("orders.html", "text/html; charset=utf-8"),
            "/assets/common.js": ("common.js", "text/javascript; charset=utf-8"),
            "/assets/status.js": ("status.js", "text/javascript; charset=utf-8"),
            "/assets/orders.js": ("orders.js", "text/javascript; charset=utf-8"),
            "/assets/exfeedd.css": ("exfeedd.css", "text/css; charset=utf-8"),
            "/assets/favicon.svg": ("favicon.svg", "image/svg+xml")}
    for path, (file, ctype) in want.items():
        with open(os.path.join(SRC, "www", file), "rb") as f:
            body = f.read()
        st, h, got = get(base + path)
        check(st == 200 and got == body and h.get("content-type") == ctype and
              h.get("content-length") == str(len(body)) and h.get("cache-control") == "no-cache" and
              h.get("content-security-policy") == CSP and h.get("x-content-type-options") == "nosniff"
              and h.get("etag", "").startswith('"'),
              "%s: 200, www/%s byte for byte, %s, no-cache, the self-only CSP (%s %s)" %
              (path, file, ctype, st, h.get("content-type")))
        st2, h2, got2 = get(base + path, {"If-None-Match": h.get("etag", "")})
        check(st2 == 304 and got2 == b"" and h2.get("etag") == h.get("etag"),
              "%s with If-None-Match: 304, no body (%s)" % (path, st2))
    st, h, got = get(base + "/orders", method="HEAD")
    check(st == 200 and got == b"" and h.get("content-length") == str(os.path.getsize(
          os.path.join(SRC, "www", "orders.html"))) and h.get("content-security-policy") == CSP,
          "HEAD /orders: 200, the headers of GET, no body (%s)" % st)
    st, h, _ = get(base + "/", method="POST")
    check(st == 405 and h.get("allow") == "GET, HEAD", "POST /: 405, Allow: GET, HEAD (%s %s)" %
          (st, h.get("allow")))
    for path in ("/assets/orders.html", "/assets/", "/assets/x/common.js", "/nothing"):
        st, _, _ = get(base + path)
        check(st == 404, "%s: 404 (%s)" % (path, st))


def ms_iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(ms) // 1000)) + ".%03dZ" % (int(ms) % 1000)


def D(x):
    return Decimal(str(x)) if x not in (None, "") else None


ORDER_COLS = ["symbol", "client_order_id", "side", "position_side", "order_type", "orig_type",
              "time_in_force", "status", "exec_type", "price", "avg_price", "stop_price",
              "orig_qty", "filled_qty", "reduce_only", "close_position", "update_time"]
POS_COLS = ["amount", "entry_price", "breakeven_price", "unrealized_pnl", "margin_type",
            "isolated_wallet", "margin_asset", "update_time"]
BAL_COLS = ["wallet_balance", "cross_wallet", "balance_change", "reason", "update_time"]
DECIMALS = {"price", "avg_price", "stop_price", "orig_qty", "filled_qty", "amount", "entry_price",
            "breakeven_price", "unrealized_pnl", "isolated_wallet", "wallet_balance",
            "cross_wallet", "balance_change"}


def same(col, db, page):
    if col == "update_time":    # 0 (unknown) is null in the messages
        return page is None if db == "0" else ms_iso(db) == page
    if col in DECIMALS:
        return D(db) == D(page)
    if col in ("reduce_only", "close_position"):
        return (db == "t") == page
    return db == page


def compare(st, b, tab, accts, stable_s=-1.0):
    """The tab's open orders, positions and balances against the database,
    every field both carry, for rows unchanged in the last stable_s seconds
    (all of them by default: exsim is paused).  The differences (a list of
    strings) and how many rows were compared."""
    ids = ",".join(str(a) for a in accts)
    page = b.eval(tab, """(() => { const o = window.exfeeddOrders;
        const conv = (m) => [...m.values()].map((x) => Object.assign({}, x));
        return { orders: conv(o.orders), positions: conv(o.positions), balances: conv(o.balances) }; })()""")
    now = float(st.sql("SELECT extract(epoch FROM clock_timestamp())")[0][0])
    diffs, n = [], 0

    def rows(q, cols):
        return [dict(zip(["account_id", "k1", "k2", "age"] + cols, r)) for r in st.sql(q)]

    db_orders = rows("SELECT account_id, order_id, '', %f - extract(epoch FROM updated_at), %s "
                     "FROM orders WHERE account_id IN (%s)" % (now, ", ".join(ORDER_COLS), ids),
                     ORDER_COLS)
    by = {(str(r["account_id"]), str(r["k1"])): r for r in db_orders}
    pg = {(str(o["account_id"]), str(o["order_id"])): o for o in page["orders"]}
    for k, r in by.items():
        if r["status"] in ("NEW", "PARTIALLY_FILLED") and float(r["age"]) > stable_s:
            n += 1
            o = pg.get(k)
            if o is None:
                diffs.append("order %s open in the database, not in the tab" % (k,))
                continue
            bad = [c for c in ORDER_COLS if not same(c, r[c], o.get(c))]
            if bad:
                diffs.append("order %s: %s" % (k, ", ".join("%s db %s tab %s" % (c, r[c], o.get(c))
                                                            for c in bad)))
    for k, o in pg.items():
        if o["status"] in ("NEW", "PARTIALLY_FILLED"):
            r = by.get(k)
            if r is None:
                diffs.append("order %s open in the tab, not in the database" % (k,))
            elif float(r["age"]) > stable_s and r["status"] != o["status"]:
                diffs.append("order %s open in the tab (%s), %s in the database" %
                             (k, o["status"], r["status"]))

    for table, cols, keyf, pkey, where in (
            ("positions", POS_COLS, "symbol, position_side", lambda p: (str(p["account_id"]), p["symbol"], p["position_side"]), "amount <> 0"),
            ("balances", BAL_COLS, "asset, ''", lambda p: (str(p["account_id"]), p["asset"], ""), "true")):
        dbr = rows("SELECT account_id, %s, %f - extract(epoch FROM updated_at), %s FROM %s "
                   "WHERE account_id IN (%s) AND %s" % (keyf, now, ", ".join(cols), table, ids, where),
                   cols)
        dk = {(str(r["account_id"]), r["k1"], r["k2"]): r for r in dbr}
        pk = {pkey(p): p for p in page[table]}
        for k, r in dk.items():
            if float(r["age"]) <= stable_s:
                continue
            n += 1
            p = pk.get(k)
            if p is None:
                diffs.append("%s %s in the database, not in the tab" % (table, k))
                continue
            bad = [c for c in cols if not same(c, r[c], p.get(c))]
            if bad:
                diffs.append("%s %s: %s" % (table, k, ", ".join("%s db %s tab %s" % (c, r[c], p.get(c))
                                                                for c in bad)))
        for k in pk:
            if k not in dk:
                diffs.append("%s %s in the tab, not in the database" % (table, k))
    return diffs, n


def main():
    skip_in_repeat_pass("the browser test", sanitizer=True)
    pw = playwright_dir()
    b = Browser(pw)     # Chromium starts while the stack does
    try:
        with Stack(accounts=4, rate=40, seed=13) as st:
            st.prepare()
            st.start_daemon()
            check(st.wait_streaming(4, 30), "four accounts streaming")
            base = "http://127.0.0.1:%d" % st.gw_port
            check_serving(base)
            run(st, b, base)
    finally:
        b.close()
    finish()


def run(st, b, base):
    # ---- the status page -------------------------------------------------
    r = b("open", name="status", url=base + "/")
    check(r["ok"] and r.get("status") == 200, "/ loads in Chromium (%s)" % r)
    ms = b.wait("status", "document.getElementById('dot').dataset.state === 'connected'", 10000)
    check(ms is not None, "/: the dot turns green (%s ms)" % ms)
    ms = b.wait("status", "+(document.body.dataset.updates || 0) >= 1", 5000)
    check(ms is not None, "/: an ops message arrives (%s ms)" % ms)
    first = b.eval("status", "[+(document.body.dataset.updates || 0), "
                   "document.getElementById('v-total').textContent]")
    ms = b.wait("status", "+document.body.dataset.updates >= %d && "
                "document.getElementById('v-total').textContent !== %s" % (first[0] + 2, json.dumps(first[1])),
                8000)
    now = b.eval("status", "[+document.body.dataset.updates, document.getElementById('v-total').textContent, "
                 "document.getElementById('v-rate').textContent, document.getElementById('v-wk').textContent, "
                 "document.getElementById('v-acc').textContent]")
    check(ms is not None, "/: the live numbers change: updates %s -> %s, events committed %s -> %s "
          "(events/s %s, workers %s, accounts streaming %s)" % (first[0], now[0], first[1], now[1],
                                                                now[2], now[3], now[4]))
    check(now[4] == "4", "/: 4 accounts streaming shown (%s)" % now[4])
    time.sleep(2)  # a little history in the charts
    check(b.shot("status", "status.png") is not None, "screenshot status.png")

    old = st.worker_pid("gateway")
    os.kill(old, signal.SIGKILL)
    t0 = time.time()
    ms = b.wait("status", "document.getElementById('dot').dataset.state === 'disconnected'", 5000)
    check(ms is not None, "/: gateway worker %d killed: the dot turns red (%s ms)" % (old, ms))
    b.shot("status", "status-disconnected.png")
    ms = b.wait("status", "document.getElementById('dot').dataset.state === 'connected'", 20000)
    new = st.worker_pid("gateway")
    check(ms is not None and new and new != old,
          "/: the dot turns green again by itself, %.1f s after the kill (gateway pid %d -> %s)" %
          (time.time() - t0, old, new))
    n = b.eval("status", "+document.body.dataset.updates")
    check(b.wait("status", "+document.body.dataset.updates >= %d" % (n + 2), 5000) is not None,
          "/: the numbers move again after the reconnect")
    log = b("log", name="status")["value"]
    check(not log, "/: no console error, page error or refused request (%s)" % log[:3])

    b("close", name="status")

    # ---- the orders page ---------------------------------------------------
    users = {1001: [], 1002: []}
    for u in users:
        users[u] = [int(r[0]) for r in st.sql("SELECT id FROM exchange_accounts WHERE user_id = %d" % u)]
    check(all(users.values()), "users 1001 and 1002 own accounts %s" % users)
    tabs = {"a1": 1001, "a2": 1001, "b": 1002}
    tokens = {u: st.token(u) for u in users}
    # A token that will not do: the form again, a red dot, no retrying.
    b("open", name="bad", url=base + "/orders#token=eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMDAxIn0.")
    ms = b.wait("bad", "!document.getElementById('tokenbox').classList.contains('hidden') && "
                "document.getElementById('token-error').textContent.includes('4001')", 10000)
    err = b.eval("bad", "[document.getElementById('token-error').textContent, "
                 "document.getElementById('dot').dataset.state, sessionStorage.getItem('exfeedd.token'), "
                 "window.exfeeddOrders.conn.connects]")
    time.sleep(1.5)
    later = b.eval("bad", "[window.exfeeddOrders.conn.connects, document.getElementById('dot').dataset.state]")
    check(ms is not None and err[1] == "disconnected" and err[2] is None and
          later == [err[3], "disconnected"],
          "an alg none token: closed 4001, the form says so, red, forgotten, not retried "
          "(%s; connections %s then %s)" % (err[:3], err[3], later[0]))
    b("close", name="bad")
    # Tab a2 has its token pasted, the others in the URL fragment.
    for tab, u in tabs.items():
        if tab == "a2":
            r = b("open", name=tab, url=base + "/orders")
            ms = b.wait(tab, "!document.getElementById('tokenbox').classList.contains('hidden')", 5000)
            b.eval(tab, "document.getElementById('token').value = %s, "
                   "document.querySelector('#tokenform button').click(), 1" % json.dumps(tokens[u]))
            check(r["ok"] and ms is not None, "/orders without a token asks for one; pasted in tab a2")
            continue
        r = b("open", name=tab, url=base + "/orders#token=" + tokens[u])
        check(r["ok"], "/orders#token=... for user %d in tab %s" % (u, tab))
    for tab, u in tabs.items():
        ms = b.wait(tab, "document.getElementById('dot').dataset.state === 'connected' && "
                    "+(document.body.dataset.snapshots || 0) >= 1", 10000)
        check(ms is not None, "tab %s (user %d): green and a snapshot (%s ms)" % (tab, u, ms))
        url = b.eval(tab, "location.href")
        check("token" not in url and b.eval(tab, "sessionStorage.getItem('exfeedd.token')") == tokens[u],
              "tab %s: the token is in sessionStorage, not in the address bar (%s)" % (tab, url))
    t_ready = float(st.sql("SELECT extract(epoch FROM clock_timestamp())")[0][0])
    time.sleep(6)       # exsim trades
    t_end = float(st.sql("SELECT extract(epoch FROM clock_timestamp())")[0][0])
    check(b.shot("a1", "orders-1001.png") is not None and b.shot("b", "orders-1002.png") is not None,
          "screenshots orders-1001.png, orders-1002.png in %s" % ARTIFACTS)
    # Then quiet: what was committed has reached every tab a second later, or is late.
    st.fault("pause")
    time.sleep(1.5)
    committed = st.writer_status()["events_committed"]
    time.sleep(1.0)
    check(st.writer_status()["events_committed"] == committed, "exsim paused: no more events (%d)"
          % committed)

    for tab, u in tabs.items():
        accts = users[u]
        seen = b.eval(tab, "window.__seen")
        foreign = sorted({v["account"] for v in seen.values() if int(v["account"]) not in accts})
        check(not foreign and seen, "tab %s: %d orders shown, every one of user %d's accounts %s "
              "(other accounts: %s)" % (tab, len(seen), u, accts, foreign))
        others = b.eval(tab, """(() => { const o = window.exfeeddOrders; const a = new Set();
            for (const m of [o.orders, o.positions, o.balances]) for (const x of m.values()) a.add(+x.account_id);
            return [...a]; })()""")
        check(all(a in accts for a in others), "tab %s: positions and balances of its accounts only (%s)"
              % (tab, others))
        filled = st.sql(
            "SELECT account_id, payload->>'order_id', extract(epoch FROM min(committed_at)) FROM event_log "
            "WHERE event_type = 'order' AND payload->>'status' = 'FILLED' AND account_id IN (%s) "
            "GROUP BY 1, 2 HAVING min(committed_at) BETWEEN to_timestamp(%f) AND to_timestamp(%f)"
            % (",".join(map(str, accts)), t_ready, t_end))
        arrived = b.eval(tab, "window.__arrived")
        late, missing, worst, wire, draw = [], [], 0.0, 0.0, 0.0
        for acct, oid, committed in filled:
            k = "%s:%s" % (acct, oid)
            s = seen.get(k, {}).get("statuses", {}).get("FILLED")
            if s is None:
                missing.append(k)
                continue
            lat = s / 1000.0 - float(committed)
            worst = max(worst, lat)
            if k in arrived:    # the message's arrival: commit -> browser, browser -> row
                wire = max(wire, arrived[k] / 1000.0 - float(committed))
                draw = max(draw, (s - arrived[k]) / 1000.0)
            if lat > 1.0:
                late.append("%s %.3fs" % (k, lat))
        check(filled and not missing and not late,
              "tab %s: all %d orders exsim filled for user %d in 6 s show FILLED within 1 s of their "
              "commit (worst %.0f ms: commit -> message %.0f ms, message -> row %.0f ms at most; "
              "missing %s; late %s)" % (tab, len(filled), u, worst * 1000, wire * 1000, draw * 1000,
                                        missing[:5], late[:5]))
        diffs, n = compare(st, b, tab, accts)
        check(n > 0 and not diffs, "tab %s: open orders, positions and balances equal the database's "
              "(%d rows compared): %s" % (tab, n, diffs[:5]))
        log = b("log", name=tab)["value"]
        check(not log, "tab %s: no console error, page error or refused request (%s)" % (tab, log[:3]))


if __name__ == "__main__":
    main()
