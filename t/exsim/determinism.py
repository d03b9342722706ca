#!/usr/bin/python3
"""The same seed and the same client behaviour give the same event
sequence (times aside), on the private streams and on the /market and
/public streams alike, whoever else is connected; another seed gives
another sequence."""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, check, collect, finish, run  # noqa: E402
import websockets  # noqa: E402

# wall-clock fields: event and transaction times, GTD, ticker window bounds
TIME_KEYS = {"E", "T", "tt", "gtd", "O", "C"}

MARKET = ["btcusdt@aggTrade", "ethusdt@aggTrade", "solusdt@markPrice@1s", "btcusdt@markPrice",
          "!markPrice@arr@1s", "btcusdt@ticker", "ethusdt@miniTicker", "!ticker@arr",
          "btcusdt@kline_1d", "!forceOrder@arr", "ethusdt@forceOrder"]
PUBLIC = ["btcusdt@trade", "bnbusdt@trade", "btcusdt@depth@100ms", "ethusdt@depth",
          "btcusdt@depth@500ms", "btcusdt@depth5", "xrpusdt@depth20@100ms", "btcusdt@bookTicker",
          "!bookTicker"]
# a bystander's streams in the third run: more load, other subscriptions
EXTRA = ["ethusdt@depth@100ms", "solusdt@depth@100ms", "xrpusdt@bookTicker", "ethusdt@trade",
         "btcusdt@depth10@500ms", "bnbusdt@depth@100ms"]


def strip(v):
    """Drop wall-clock fields; liquidation client ids embed the time too."""
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in TIME_KEYS and
                not (k == "c" and isinstance(x, str) and x.startswith("autoclose-"))}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


async def gather(socks, seconds):
    got = await asyncio.gather(*(collect(ws, seconds) for ws in socks))
    return list(got)


async def session(ex, keys, bystander):
    urls = [ex.ws + "/private/stream?" + "&".join("listenKey=" + k for k in keys),
            ex.ws + "/market/stream?streams=" + "/".join(MARKET),
            ex.ws + "/public/stream?streams=" + "/".join(PUBLIC)]
    if bystander:
        urls.append(ex.ws + "/public/stream?streams=" + "/".join(EXTRA))
    socks = [await websockets.connect(u, max_queue=None) for u in urls]
    ev = [[], [], []]
    try:
        # paused: the client drives activity steps and market ticks
        for i in range(6):
            ex.step(200, ticks=25)
            for k, got in enumerate(await gather(socks, 0.4)):
                if k < 3:
                    ev[k] += got
        snap = ex.http("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000})[2]
        # then the simulated clock runs on its own for a while
        ex.fault("resume")
        for k, got in enumerate(await gather(socks, 0.8)):
            if k < 3:
                ev[k] += got
        ex.fault("pause")
        for k, got in enumerate(await gather(socks, 0.6)):
            if k < 3:
                ev[k] += got
    finally:
        for ws in socks:
            await ws.close()
    return ev, snap


def one_run(seed, bystander=False):
    with Exsim("--accounts", "4", "--paused", "--seed", str(seed), "--rate", "1000") as ex:
        accts = ex.accounts()
        keys = [ex.listen_key(a) for a in accts]
        ev, snap = run(session(ex, keys, bystander))
        return {"keys": [a["apiKey"] for a in accts], "lkeys": keys,
                "user": [strip(e) for e in ev[0]], "market": [strip(e) for e in ev[1]],
                "public": [strip(e) for e in ev[2]], "snap": strip(snap)}


def same(a, b, what, least):
    n = min(len(a), len(b))
    first = next((i for i in range(n) if a[i] != b[i]), None)
    check(n >= least, "%s: runs produced %d and %d events (want >= %d)" % (what, len(a), len(b), least))
    check(first is None, "%s: identical sequences over the common %d events%s" %
          (what, n, "" if first is None else " (first difference at %d: %s vs %s)" %
           (first, a[first], b[first])))


# seed 41 liquidates on ETHUSDT in the paused phase, so ethusdt@forceOrder
# has something to deliver there
a = one_run(41)
b = one_run(41)
c = one_run(41, bystander=True)
d = one_run(42)
check(a["keys"] == b["keys"] and a["lkeys"] == b["lkeys"], "same seed: same API keys and listen keys")
same(a["user"], b["user"], "same seed, private", 2000)
same(a["market"], b["market"], "same seed, /market", 300)
same(a["public"], b["public"], "same seed, /public", 1000)
check(a["snap"] == b["snap"] and len(a["snap"]["bids"]) >= 25,
      "same seed: the same /fapi/v1/depth book after the same steps (lastUpdateId %s, %s)" %
      (a["snap"]["lastUpdateId"], b["snap"]["lastUpdateId"]))
for name, streams in (("market", MARKET), ("public", PUBLIC)):
    seen = {e["stream"] for e in a[name]}
    check(set(streams) <= seen, "/%s: every stream delivered in the paused phase (missing %s)" %
          (name, sorted(set(streams) - seen)))
# ticks count: the paused phase ran 150 ticks, the resumed one some more
ticks = [e["data"] for e in a["market"] if e["stream"] == "!markPrice@arr@1s"]
check(len(ticks) >= 15, "!markPrice@arr@1s once per 10 ticks: %d events" % len(ticks))
same(a["user"], c["user"], "another client connected, private", 2000)
same(a["market"], c["market"], "another client connected, /market", 300)
same(a["public"], c["public"], "another client connected, /public", 1000)
check(a["user"][:1200] != d["user"][:1200] and a["keys"] != d["keys"],
      "another seed: another private sequence and other keys")
check(a["market"][:300] != d["market"][:300] and a["public"][:300] != d["public"][:300] and
      a["snap"] != d["snap"], "another seed: other market and public sequences and another book")
finish()
