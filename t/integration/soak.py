#!/usr/bin/python3
"""The fault soak, small: two fixed seeds of tools/soak --quick (random
faults of every kind exsim offers, kill -9 of workers and of the
supervisor, HUP with a new account_shards, PostgreSQL and daemon restarts),
each checked like tools/soak checks it: after settling the database equals
/sim/state for every compared account, with no duplicate fill, no HTTP 418
nor ban, 429s only from storms, the daemon up with every worker ready, TERM
exits 0, and no secret in the debug log.  Under the sanitizers and
distcheck (tools/check sets CONVERGE_ACCOUNTS) the runs shrink in the same
proportion as the convergence tests.  A failure prints its replay command
(tools/soak --seed S --quick ...)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaos  # noqa: E402
from tapcheck import check, finish  # noqa: E402

SEEDS = [79, 180]
# The convergence tests' full size is 100 accounts; tools/check shrinks them
# (CONVERGE_ACCOUNTS=34) for the ASan and distcheck runs: shrink alike.
SHRINK = min(1.0, int(os.environ.get("CONVERGE_ACCOUNTS", "100")) / 100.0)
SETTLE_TIMEOUT = 40 if SHRINK == 1.0 else 30


def comment(line):
    print("# " + line, flush=True)


for seed in SEEDS:
    run = chaos.draw(seed, quick=True, shrink=SHRINK)
    comment("seed %d" % seed)
    comment("replay: " + run.replay(SETTLE_TIMEOUT))
    for line in chaos.describe(run):
        comment(line)
    res = chaos.play(run, out=comment, settle_timeout_s=SETTLE_TIMEOUT)
    for ok, what in res.checks:
        check(ok, "seed %d: %s" % (seed, what))
    comment(res.summary())
finish()
