"""tapcheck: ok / not ok lines and an exit status, for the python tests."""
import sys
import time

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
