#!/usr/bin/python3
"""The same seed and the same client behaviour give the same event
sequence (times aside); another seed gives another sequence."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, check, collect, finish, run  # noqa: E402
import websockets  # noqa: E402

TIME_KEYS = {"E", "T", "tt", "gtd"}


def strip(v):
    """Drop wall-clock fields; liquidation client ids embed the time too."""
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in TIME_KEYS and
                not (k == "c" and isinstance(x, str) and x.startswith("autoclose-"))}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


async def session(ex, keys):
    url = ex.ws + "/private/stream?" + "&".join("listenKey=" + k for k in keys)
    async with websockets.connect(url) as ws:
        ex.step(1200)
        ev = await collect(ws, 1.0)
        ex.fault("resume")
        ev += await collect(ws, 0.7)
        ex.fault("pause")
        ev += await collect(ws, 0.7)
    return ev


def one_run(seed):
    with Exsim("--accounts", "4", "--paused", "--seed", str(seed), "--rate", "1000") as ex:
        accts = ex.accounts()
        keys = [ex.listen_key(a) for a in accts]
        ev = run(session(ex, keys))
        return [a["apiKey"] for a in accts], keys, [strip(e) for e in ev]


ka, la, a = one_run(42)
kb, lb, b = one_run(42)
kc, lc, c = one_run(43)
check(ka == kb and la == lb, "same seed: same API keys and listen keys")
n = min(len(a), len(b))
check(n > 2000, "runs produced %d and %d events" % (len(a), len(b)))
first = next((i for i in range(n) if a[i] != b[i]), None)
check(first is None, "same seed: identical event sequences over the common %d events%s" %
      (n, "" if first is None else " (first difference at %d: %s vs %s)" % (first, a[first], b[first])))
check(a[:1200] != c[:1200] and ka != kc, "another seed: another sequence and other keys")
finish()
