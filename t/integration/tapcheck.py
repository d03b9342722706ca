"""tapcheck: ok / not ok lines and an exit status, for the python tests.

Imported by every test that reports with it, it also applies t/tarball-tests:
in tools/check's tarball pass (EXFEEDD_REPEAT_PASS=1) a test not listed
there is skipped."""
import os
import sys
import time


def tarball_pass_filter(path):
    """Exit 77 (skip) when this is the tarball pass and path's test is not in t/tarball-tests."""
    if os.environ.get("EXFEEDD_REPEAT_PASS") != "1":
        return
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.environ.get("top_srcdir", os.path.join(here, "..", ".."))
    with open(os.path.join(src, "t", "tarball-tests")) as f:
        keep = {ln.strip() for ln in f if ln.strip() and not ln.startswith("#")}
    name = os.path.basename(path)
    if name not in keep:
        print("1..0 # SKIP %s: ran in the plain and sanitizer passes (t/tarball-tests)" % name)
        sys.exit(77)


tarball_pass_filter(sys.argv[0])

T0 = time.time()
FAILS = []
PASSES = [0]


def check(cond, what):
    stamp = "%6.1fs" % (time.time() - T0)
    if cond:
        PASSES[0] += 1
        print("ok - %s (%s)" % (what, stamp), flush=True)
    else:
        FAILS.append(what)
        print("not ok - %s (%s)" % (what, stamp), flush=True)
    return cond


def finish():
    print("%d passed, %d failed" % (PASSES[0], len(FAILS)))
    sys.exit(1 if FAILS else 0)
