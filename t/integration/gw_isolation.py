#!/usr/bin/python3
"""Issue 13, acceptance 2: isolation.  1,000 WebSocket clients (python3-
websockets, one asyncio process) across 200 users on /ws/trading while
exsim drives 100 accounts with faults.  The 100 accounts belong to 51 users
(one user owns 20 of them, 30 users two each, 20 users one each); 149 more
users own one active account of an exchange no worker serves, so they pass
the user check and must receive nothing.  Five clients per user.

Faults: every exchange connection dropped every 5 s, account worker 0
kill -9'd, the writer kill -9'd (a hole in the gateway's feed: every client
is snapshotted again on its connection), the gateway kill -9'd (every client
reconnects and gets a fresh snapshot), two clients of the busy user stop
reading for 10 s with a small receive buffer (closed 4008, they reconnect).

Checked against event_log (compared by event_id, every field):
- no client ever gets a foreign event: every live message's and every
  snapshot element's user_id is the client's, its account one of the user's;
- every live message is an event_log row of its account, its data equal to
  the row's payload field by field (ms times as ISO-8601, no recv_us);
- complete: for every client's last snapshot, every event_log row of the
  user's accounts committed after the client had that snapshot arrived on
  the stream after it (none missing between its snapshot and the end),
  also for the clients that were closed with 4008 or reconnected;
- the users without events got no event; the faults happened (a resnapshot
  on the same connection, reconnects after the gateway's kill, 4008s)."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import resource
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, wait_for, skip_in_repeat_pass  # noqa: E402
from tapcheck import check, finish  # noqa: E402

skip_in_repeat_pass("gw_isolation.py", sanitizer=True)
try:
    import websockets
except ImportError:
    print("1..0 # SKIP python3-websockets is not installed")
    sys.exit(77)

CHANNELS = ["orders", "fills", "positions", "balances", "risk_alerts", "account_config",
            "algo_orders"]
LIVE_TYPES = {"order_update": "order", "fill": "fill", "position_update": "position",
              "balance_update": "balance", "risk_alert": "margin_call",
              "account_config": "config", "algo_update": "algo"}
ACCOUNTS = 100
USERS = 200
PER_USER = 5
FAULT_SECONDS = 27
BUSY = 2001


def user_of_sim(i):
    """exsim account i (1..100) -> user id."""
    if i <= 20:
        return BUSY
    if i <= 80:
        return 2002 + (i - 21) // 2
    return 2032 + (i - 81)


IDLE_USERS = list(range(2052, 2052 + USERS - 51))


def iso(ms):
    if ms is None or ms == 0:
        return None
    s, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % frac


# Kafka JSON names of times in ms (evcodec.c: MS fields)
MS_FIELDS = {"event_time", "update_time", "trade_time"}


def expected_data(payload):
    d = dict(payload)
    d.pop("recv_us", None)
    for k in MS_FIELDS:
        if k in d and isinstance(d[k], int):
            d[k] = iso(d[k])
    return d


# Another copy of one fact (the same event_id: a REST resync's, a replay after
# a reconnect) is committed too and reaches the clients; event_log keeps the
# first.  Copies agree on what the event id is made of (event.c ev_make_id)
# and on the common fields; the rest (a REST row's reason "RESYNC", its
# unrealized PnL or cross wallet at another mark price, a field it lacks) may
# differ.  Decimals compare by value.
COMMON = {"event_id", "type", "account_id", "user_id", "exchange"}
ID_FIELDS = {
    "order": {"order_id", "status", "update_time", "filled_qty", "price", "orig_qty"},
    "fill": {"symbol", "trade_id", "order_id"},
    "algo": {"algo_id", "status", "update_time"},
    "position": {"symbol", "position_side", "update_time", "amount"},
    "balance": {"asset", "update_time", "wallet_balance"},
    "margin_call": {"event_time", "symbol", "position_side"},
    "config": {"symbol", "update_time"},
}


def same_value(a, b):
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        try:
            return Decimal(a) == Decimal(b)
        except InvalidOperation:
            return False
    return False


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt_hs256(secret, sub, ttl=3600):
    """A token as exfeedctl token makes it (src/jwt.c): HS256, sub as a string."""
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps({"sub": str(sub), "iat": now, "exp": now + ttl},
                             separators=(",", ":")).encode())
    sig = hmac.new(secret, ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, b64url(sig))


class IsoStack(Stack):
    def add_accounts(self, sim_accounts):
        """As Stack's, with this test's users, four exfeedctl at a time."""
        def add(a):
            out = self.ctl("account", "add", "--user", str(user_of_sim(a["id"])), "--exchange",
                           "binance-futures", "--api-key-file", "-", "--api-secret-file", "-",
                           "--label", "sim%d" % a["id"],
                           stdin="%s\n%s\n" % (a["apiKey"], a["secretKey"]))
            return int([w for w in out.stdout.split() if w.isdigit()][-1]), a
        with ThreadPoolExecutor(4) as pool:
            for dbid, a in pool.map(add, sim_accounts):
                self.accounts[dbid] = a


class Client:
    def __init__(self, idx, user, token, slow):
        self.idx, self.user, self.token, self.slow = idx, user, token, slow
        self.sessions = []      # {"start", "end", "code", "segs": [{"t", "snap", "live"}]}
        self.errors = []        # protocol surprises
        self.pause_at = None    # stop reading at this time, for 10 s
        self.was_slow = slow


STOP = False


async def run_client(c, port):
    global STOP
    url = "ws://127.0.0.1:%d/ws/trading?token=%s" % (port, c.token)
    backoff = 0.2
    while not STOP:
        sess = {"start": time.time(), "end": None, "code": None, "segs": []}
        c.sessions.append(sess)
        kw = dict(max_size=1 << 26, ping_interval=None, close_timeout=2, compression=None,
                  open_timeout=10)
        try:
            if c.slow:
                # A small receive buffer and queue: a reader that stops is felt at once.
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.setblocking(False)
                await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", port))
                kw.update(sock=s, max_queue=2, read_limit=4096)
            async with websockets.connect(url, **kw) as ws:
                await ws.send(json.dumps({"type": "subscribe", "data": {"channels": CHANNELS}}))
                backoff = 0.2
                async for raw in ws:
                    t = time.time()
                    m = json.loads(raw)
                    typ = m.get("type")
                    if typ == "snapshot":
                        sess["segs"].append({"t": t, "snap": m["data"], "live": []})
                    elif typ in LIVE_TYPES:
                        if not sess["segs"]:
                            c.errors.append("live %s before any snapshot" % typ)
                        else:
                            sess["segs"][-1]["live"].append(m)
                    elif typ == "error":
                        c.errors.append("error %s" % m.get("data"))
                    if c.pause_at is not None and t >= c.pause_at:
                        c.pause_at = None
                        await asyncio.sleep(10)
                        c.slow = False          # it reconnects as a normal reader
                    if STOP:
                        break
            sess["code"] = ws.close_code
        except websockets.ConnectionClosed as e:
            sess["code"] = e.code
        except (OSError, asyncio.TimeoutError, websockets.InvalidStatusCode,
                websockets.InvalidHandshake) as e:
            sess["code"] = "connect: %s" % type(e).__name__
        sess["end"] = time.time()
        if STOP:
            break
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 2.0)


def sql_rows(st, q):
    return st.sql(q)


async def main(st, clients):
    global STOP
    tasks = []
    for c in clients:
        tasks.append(asyncio.create_task(run_client(c, st.gw_port)))
        if len(tasks) % 50 == 0:
            await asyncio.sleep(0.05)

    def live_all():
        return all(c.sessions and c.sessions[-1]["segs"] for c in clients)

    t0 = time.time()
    while not live_all() and time.time() - t0 < 40:
        await asyncio.sleep(0.2)
    check(live_all(), "all %d clients have their snapshot (%.1f s)" % (len(clients),
                                                                      time.time() - t0))
    st.fault("resume")
    faults = {}
    t0 = time.time()
    done = set()
    loop = asyncio.get_running_loop()

    def at(t, name):
        if time.time() - t0 >= t and name not in done:
            done.add(name)
            print("# %5.1fs fault: %s" % (time.time() - t0, name), flush=True)
            return True
        return False

    while time.time() - t0 < FAULT_SECONDS:
        el = time.time() - t0
        if int(el) % 5 == 4 and at(int(el), "drop all exchange connections at %ds" % int(el)):
            await loop.run_in_executor(None, lambda: st.fault("drop"))
        if at(2, "kill -9 account worker 0"):
            pid = await loop.run_in_executor(None, lambda: st.worker_pid("account", 0))
            os.kill(pid, signal.SIGKILL)
        if at(4, "kill -9 the writer"):
            faults["writer"] = await loop.run_in_executor(None, lambda: st.worker_pid("writer", 0))
            os.kill(faults["writer"], signal.SIGKILL)
        if at(14, "kill -9 the gateway"):
            faults["gateway"] = await loop.run_in_executor(
                None, lambda: st.worker_pid("gateway", 0))
            faults["gateway_t"] = time.time()
            os.kill(faults["gateway"], signal.SIGKILL)
        if at(16, "two clients of the busy user stop reading for 10 s"):
            for c in clients:
                if c.slow:
                    c.pause_at = time.time()
        await asyncio.sleep(0.05)
    await loop.run_in_executor(None, lambda: st.fault("pause"))

    def settled():
        w = st.writer_status()
        return w is not None and w["pending"] == 0

    ok = await loop.run_in_executor(None, lambda: wait_for(settled, 30))
    check(ok, "the writer committed everything")
    # Delivery: until every client is live again and nothing new arrives for 1 s.
    t1, last = time.time(), None
    while time.time() - t1 < 30:
        n = sum(len(s["live"]) for c in clients for sess in c.sessions for s in sess["segs"])
        if live_all() and n == last:
            break
        last = n
        await asyncio.sleep(1)
    print("# delivered (%.1f s after the writer settled)" % (time.time() - t1), flush=True)
    STOP = True
    await asyncio.sleep(0.5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return faults


T0 = time.time()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))

with IsoStack(accounts=ACCOUNTS, rate=600, seed=13, exsim_args=["--time-scale", "60"],
              userdata=["listenkey_renewal = 15s", "silence_timeout = 4s"],
              log_level="info",
              gateway=["max_connections_per_user = 10", "client_queue_max = 64K"]) as st:
    st.prepare()
    print("# prepared (%.1f s)" % (time.time() - T0), flush=True)
    # The idle users: an active account each, of an exchange no worker serves.
    st.sql("INSERT INTO exchange_accounts (user_id, exchange, api_key_encrypted, "
           "api_secret_encrypted) SELECT u, 'okx', '\\x00', '\\x00' FROM generate_series(%d, %d) u"
           % (IDLE_USERS[0], IDLE_USERS[-1]))
    st.fault("pause")
    st.start_daemon()
    print("# daemon started (%.1f s)" % (time.time() - T0), flush=True)
    check(st.wait_streaming(ACCOUNTS, 60), "all %d accounts streaming" % ACCOUNTS)
    users = sorted(set(user_of_sim(i) for i in range(1, ACCOUNTS + 1))) + IDLE_USERS
    check(len(users) == USERS, "%d users" % len(users))
    secret = st.jwt_secret()
    tokens = {u: jwt_hs256(secret, u) for u in users}
    clients = []
    for u in users:
        for k in range(PER_USER):
            clients.append(Client(len(clients), u, tokens[u], slow=(u == BUSY and k < 2)))
    faults = asyncio.run(main(st, clients))
    print("# clients closed (%.1f s)" % (time.time() - T0), flush=True)

    # ---- the truth
    acct_user = {int(r[0]): int(r[1]) for r in st.sql(
        "SELECT id, user_id FROM exchange_accounts WHERE is_active")}
    user_accts = {}
    for a, u in acct_user.items():
        user_accts.setdefault(u, set()).add(a)
    rows = st.sql("SELECT event_id, account_id, extract(epoch FROM committed_at)::float8, payload "
                  "FROM event_log WHERE event_type IN ('order', 'fill', 'algo', 'position', "
                  "'balance', 'margin_call', 'config')")
    log = {}
    by_user = {}
    for eid, acct, t, payload in rows:
        p = json.loads(payload)
        log[eid] = (int(acct), float(t), p)
        by_user.setdefault(acct_user.get(int(acct)), []).append((float(t), eid))
    print("# event_log: %d rows with a channel (%.1f s)" % (len(log), time.time() - T0), flush=True)

    foreign = []
    unknown = []
    differ = []
    missing = {}
    live_n = snap_n = exact = copies = 0
    complete_clients = 0
    closes = {}
    resnaps = 0
    reconnected = set()
    for c in clients:
        mine = user_accts.get(c.user, set())
        for i, sess in enumerate(c.sessions):
            if sess["code"] is not None and i < len(c.sessions) - 1:
                closes[sess["code"]] = closes.get(sess["code"], 0) + 1
            if i > 0 and sess["segs"]:
                reconnected.add(c.idx)
            if len(sess["segs"]) > 1:
                resnaps += len(sess["segs"]) - 1
            for seg in sess["segs"]:
                for arr in seg["snap"].values():
                    for e in arr:
                        snap_n += 1
                        if e.get("user_id") != c.user or e.get("account_id") not in mine:
                            foreign.append((c.idx, c.user, "snapshot", e.get("event_id")))
                for m in seg["live"]:
                    live_n += 1
                    d = m["data"]
                    if d.get("user_id") != c.user or d.get("account_id") not in mine:
                        foreign.append((c.idx, c.user, m["type"], d.get("event_id")))
                        continue
                    row = log.get(d.get("event_id"))
                    if row is None:
                        unknown.append((c.idx, d.get("event_id")))
                        continue
                    exp = expected_data(row[2])
                    diff = {k: (exp.get(k), d.get(k)) for k in set(exp) | set(d)
                            if not same_value(exp.get(k), d.get(k))}
                    if exp == d:
                        exact += 1
                    elif not (set(diff) & (COMMON | ID_FIELDS[row[2]["type"]])):
                        copies += 1
                    else:
                        differ.append((c.idx, d.get("event_id"), diff))
                    if LIVE_TYPES[m["type"]] != row[2]["type"] or \
                            m["timestamp"] != d.get("event_time"):
                        differ.append((c.idx, d.get("event_id"), m["type"], m["timestamp"]))
        # completeness of the last snapshot of the last session
        last = c.sessions[-1] if c.sessions else None
        if last is None or not last["segs"]:
            missing[c.idx] = ["no snapshot in the last session"]
            continue
        seg = last["segs"][-1]
        got = {m["data"]["event_id"] for m in seg["live"]}
        need = [eid for t, eid in by_user.get(c.user, []) if t > seg["t"]]
        miss = [eid for eid in need if eid not in got]
        if miss:
            missing[c.idx] = miss
        else:
            complete_clients += 1

    print("# %d live messages, %d snapshot elements; closes (code: n): %s; resnapshots on a "
          "connection: %d; clients reconnected: %d" % (live_n, snap_n, closes, resnaps,
                                                        len(reconnected)), flush=True)
    check(live_n > 10000, "clients received %d live events" % live_n)
    check(not foreign, "no foreign event in any client's stream or snapshot (%d)%s" % (
        len(foreign), (": %s" % foreign[:5]) if foreign else ""))
    check(not unknown, "every live event is an event_log row (%d are not)%s" % (
        len(unknown), (": %s" % unknown[:5]) if unknown else ""))
    check(not differ and exact > copies,
          "every live event's data equals its event_log payload, field by field (%d exactly; "
          "%d other copies of the fact, equal in the id's fields; %d differ)%s" % (
              exact, copies, len(differ), (": %s" % differ[:3]) if differ else ""))
    check(not missing, "complete: every client's stream has every row committed after its "
          "last snapshot (%d of %d clients complete)%s" % (
              complete_clients, len(clients),
              ("; missing e.g. %s" % list(missing.items())[:3]) if missing else ""))
    idle = [c for c in clients if c.user in IDLE_USERS]
    check(all(not seg["live"] for c in idle for s in c.sessions for seg in s["segs"]),
          "the %d clients of users without events got none" % len(idle))
    check(resnaps >= len(clients) * 0.9, "the writer's kill snapshotted the clients again on "
          "their connections (%d)" % resnaps)
    check(len(reconnected) >= len(clients) * 0.99,
          "the gateway's kill: %d clients reconnected with a fresh snapshot" % len(reconnected))
    slow = [c for c in clients if c.was_slow]
    check(slow and all(any(s["code"] == 4008 for s in c.sessions) for c in slow),
          "the clients that stopped reading were closed with 4008 (%s)" %
          [[s["code"] for s in c.sessions] for c in slow])
    errs = [e for c in clients for e in c.errors]
    check(not errs, "no protocol surprise (%d)%s" % (len(errs), (": %s" % errs[:5]) if errs else ""))
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
