#!/usr/bin/python3
"""exsim's /sim/stats marketFramesSent and marketBytesSent (what tools/bench
market divides CPU by): one frame per subscribed connection, where
marketEventsSent counts each event once; bytes are the event payloads'
(without a combined stream's envelope).  exsim runs paused and its market
ticks are stepped, so every frame made is received before the counters are
read."""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exsimtest import Exsim, check, finish, run  # noqa: E402
import websockets  # noqa: E402

TICKS = 30


async def raw_frames(ws, seconds):
    """Every text frame arriving within seconds, as received."""
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(ws.recv(), seconds))
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            return out


async def frames_sent(ex):
    # a: two streams on the raw form; b: one of them again, combined
    a = await websockets.connect(ex.ws + "/public/ws/btcusdt@bookTicker/ethusdt@depth@100ms")
    b = await websockets.connect(ex.ws + "/public/stream?streams=btcusdt@bookTicker")
    await asyncio.sleep(0.2)
    s0 = ex.stats()
    ex.step(0, TICKS)
    fa, fb = await raw_frames(a, 1.0), await raw_frames(b, 1.0)
    s1 = ex.stats()
    await a.close()
    await b.close()
    ev = {k: s1["marketEventsSent"][k] - s0["marketEventsSent"][k]
          for k in s1["marketEventsSent"]}
    n = s1["marketFramesSent"] - s0["marketFramesSent"]
    bt = sum(1 for f in fa if '"e":"bookTicker"' in f)
    dp = sum(1 for f in fa if '"e":"depthUpdate"' in f)
    check(bt > 0 and dp > 0 and len(fb) == bt,
          "%d ticks: a got %d bookTicker + %d depthUpdate, b %d bookTicker" %
          (TICKS, bt, dp, len(fb)))
    check(ev["bookTicker"] == bt and ev["depthUpdate"] == dp and
          sum(ev.values()) == bt + dp,
          "marketEventsSent counts each event once: %s" %
          {k: v for k, v in ev.items() if v})
    check(n == len(fa) + len(fb), "marketFramesSent %d == frames received %d + %d" %
          (n, len(fa), len(fb)))
    env = len('{"stream":"btcusdt@bookTicker","data":') + 1
    want = sum(len(f) for f in fa) + sum(len(f) - env for f in fb)
    got = s1["marketBytesSent"] - s0["marketBytesSent"]
    check(got == want, "marketBytesSent %d == the payloads' bytes %d" % (got, want))


def main():
    with Exsim("--paused") as ex:
        run(frames_sent(ex))
    finish()


main()
