#!/usr/bin/python3
"""Issue 13: the gateway's feed (src/gwfeed.c) in the real daemon.  exsim
streams 10 accounts; the writer forwards every committed event that has a
client channel to <runtime_dir>/gateway.sock.

1. Steady: every such event the writer committed reached the gateway or was
   told lost: the writer's per-type committed counts of the channel types
   (order, fill, algo, position, balance, margin_call, config) = its
   gw_feed_sent + gw_feed_dropped (events committed before its first
   connection, the gateway starting beside it), gw_feed_sent = the gateway's
   feed_events, gw_feed_dropped = its feed_lost; no invalid frame.
2. The gateway is kill -9'd while exsim is paused; exsim resumes at once:
   until the supervisor's new gateway is up and the writer has reconnected,
   the writer drops and counts (gw_feed_dropped > 0, never blocks: its
   commits go on, its status answers); the new gateway's feed_lost equals
   exactly what the writer dropped, and from then on feed_events counts
   every committed event again (sent = committed - dropped).
(The order and field equality of the events are gwfeed_test's, on the same
code; the end-to-end comparison with event_log is gw_isolation.py's.)"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, wait_for  # noqa: E402
from tapcheck import check, finish  # noqa: E402

CHANNEL_TYPES = ("order", "fill", "algo", "position", "balance", "margin_call", "config")


def role(st, name):
    for w in st.status()["workers"]:
        if w["role"] == name and w.get("state") == "ready" and w.get("detail", {}).get("role"):
            return w["detail"]["role"], w["pid"]
    return None, None


def committed(w):
    return sum(w["committed"].get(t, 0) for t in CHANNEL_TYPES)


def settled(st):
    """exsim paused, the writer holds nothing, and the gateway has what it sent."""
    w, _ = role(st, "writer")
    g, _ = role(st, "gateway")
    return (w is not None and g is not None and w["pending"] == 0 and
            w["gateway"]["gw_feed_queued_bytes"] == 0 and
            g["feed_events"] == w["gateway"]["gw_feed_sent"] - settled.base)


settled.base = 0

with Stack(accounts=10, rate=400, seed=13) as st:
    st.prepare()
    st.start_daemon()
    check(st.wait_streaming(10, 60), "10 accounts streaming")
    time.sleep(4)
    st.fault("pause")
    check(wait_for(lambda: settled(st), 30), "settled")
    w, _ = role(st, "writer")
    g, gpid = role(st, "gateway")
    wg = w["gateway"]
    print("# writer:", wg, "committed (channel types):", committed(w), flush=True)
    print("# gateway:", {k: v for k, v in g.items() if k.startswith("feed_")}, flush=True)
    # What the writer committed before its first connection (the gateway starts
    # beside it) is dropped and told as lost: every event is accounted for.
    check(committed(w) > 500 and committed(w) == wg["gw_feed_sent"] + wg["gw_feed_dropped"] and
          wg["gw_feed_sent"] == g["feed_events"] and g["feed_lost"] == wg["gw_feed_dropped"],
          "every committed event with a channel reached the gateway or was told lost: "
          "committed %d = sent %d + dropped %d; received %d, lost %d" % (
              committed(w), wg["gw_feed_sent"], wg["gw_feed_dropped"], g["feed_events"],
              g["feed_lost"]))
    check(g["feed_invalid"] == 0, "no invalid frame or event")
    check(wg["gw_feed_connected"] == 1 and g["feed_senders"] == 2,
          "the writer and the market worker are connected to the gateway (%d senders)" %
          g["feed_senders"])
    c0, s0, d0 = committed(w), wg["gw_feed_sent"], wg["gw_feed_dropped"]

    # 2. kill -9 the gateway, resume at once
    os.kill(gpid, signal.SIGKILL)
    st.fault("resume")
    time.sleep(0.2)
    w, _ = role(st, "writer")
    check(w is not None, "the writer answers while the gateway is away")
    time.sleep(4)
    st.fault("pause")
    settled.base = s0
    check(wait_for(lambda: role(st, "gateway")[1] not in (None, gpid) and settled(st), 30),
          "a new gateway; settled again")
    w, _ = role(st, "writer")
    g, _ = role(st, "gateway")
    wg = w["gateway"]
    print("# writer:", wg, "committed (channel types):", committed(w), flush=True)
    print("# gateway:", {k: v for k, v in g.items() if k.startswith("feed_")}, flush=True)
    dropped = wg["gw_feed_dropped"] - d0
    check(dropped > 0, "the writer dropped and counted %d events while the gateway was away" %
          dropped)
    check(wg["gw_feed_connects"] >= 2 and wg["gw_feed_connected"] == 1,
          "the writer reconnected (%d connects)" % wg["gw_feed_connects"])
    check(g["feed_lost"] == dropped,
          "the new gateway was told exactly what was lost (%d)" % g["feed_lost"])
    check(committed(w) - c0 == dropped + (wg["gw_feed_sent"] - s0) and
          g["feed_events"] == wg["gw_feed_sent"] - s0 and committed(w) - c0 > dropped,
          "after the reconnect every committed event reached the gateway: committed %d = "
          "dropped %d + sent %d; received %d" % (committed(w) - c0, dropped,
                                                 wg["gw_feed_sent"] - s0, g["feed_events"]))
    check(g["feed_holes"] >= 3, "holes: the writer's and market's HELLO, the lost frame (%d)" %
          g["feed_holes"])
    check(st.stop_daemon() == 0, "TERM: exit 0")
finish()
