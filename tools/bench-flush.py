#!/usr/bin/python3
"""tools/bench flush RATE FLUSHES SECONDS REPS: [database] flush_interval A/B on
the real path, in one run.

exsim (1,000 accounts, --rate RATE) -> account workers -> writer ->
PostgreSQL (fsync on), every account resynced first; then windows of
SECONDS, the flush_interval values FLUSHES (ms, comma-separated) in turn,
REPS rounds, each set by HUP: per window the events committed, events per
transaction, batches that waited (merged) or went at once (sparse), CPU-s
per 1,000 committed events of the writer, its PostgreSQL backend and the
account workers, and the writer's event->commit p50/p99/p999.
Environment: ACCTS (accounts, 1000), KX ("[kafka] lines;...").
"""
import os, sys, time
B = os.path.abspath(os.environ.get("top_builddir", "_build")); os.environ["top_builddir"] = B
src = os.path.dirname(os.path.dirname(os.path.abspath(__file__))); os.chdir(src)
import importlib.util
spec = importlib.util.spec_from_file_location("bu", os.path.join(src, "tools/bench-userdata.py"))
bu = importlib.util.module_from_spec(spec); spec.loader.exec_module(bu)
if len(sys.argv) != 5:
    sys.exit("usage: tools/bench flush RATE FLUSHES SECONDS REPS   (e.g. 1000 0,2 40 2)")
rate = int(sys.argv[1]); flushes = [int(x) for x in sys.argv[2].split(",")]; secs = int(sys.argv[3]); reps = int(sys.argv[4])
kx = [x for x in os.environ.get("KX", "").split(";") if x]
st = bu.start(int(os.environ.get("ACCTS", "1000")), rate, shards=2, resynced=True, kafka=kx)
def cpu(pids):
    t = 0.0
    for p in pids:
        try: t += bu.benchlib.cpu_s(p)
        except OSError: pass
    return t
try:
    wpid = [w["pid"] for w in st.status()["workers"] if w["role"] == "writer"][0]
    apids = [w["pid"] for w in st.status()["workers"] if w["role"] == "account"]
    bpid = bu.writer_backend_pid(st)
    for rep in range(reps):
        for fl in flushes:
            bu.set_flush(st, fl)
            w0 = bu.writer(st); c0, p0, a0 = cpu([wpid]), cpu([bpid]), cpu(apids)
            time.sleep(secs)
            w1 = bu.writer(st); c1, p1, a1 = cpu([wpid]), cpu([bpid]), cpu(apids)
            ev = w1["events_committed"] - w0["events_committed"]; nb = w1["batches"] - w0["batches"]
            n, q = bu.quantiles(w1["latency_us"]["bounds"], w0["latency_us"]["counts"], w1["latency_us"]["counts"])
            print("flush %d: %6d ev %5.2f ev/batch merged %d sparse %d | CPU-s/1000 ev: writer %.4f backend %.4f accounts %.4f | p50 %.1f p99 %.1f p999 %.1f ms" % (
                fl, ev, ev / max(1, nb), w1["batches_merged"] - w0["batches_merged"], w1["batches_sparse"] - w0["batches_sparse"],
                (c1 - c0) * 1000 / ev, (p1 - p0) * 1000 / ev, (a1 - a0) * 1000 / ev, q[0] / 1000, q[1] / 1000, q[2] / 1000), flush=True)
finally:
    st.stop()
