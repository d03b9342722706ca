#!/bin/sh
# bench.sh: runs `exsim --bench`, which starts an exsim pinned to one core,
# subscribes every account over /private/stream with a C lws client on
# another core, and prints the user events/s the clients really received.
# Usage: tools/exsim/bench.sh [EXSIM_BINARY] [extra exsim --bench options]
# Defaults: 100 accounts, 4 connections, a target rate of 80000 events/s
# (above the 50,000/s goal), 5 s measured after 1 s of warm-up.
set -e
here=$(dirname "$0")
bin=${1:-${EXSIM:-$here/exsim}}
[ $# -gt 0 ] && shift
exec "$bin" --bench --accounts 100 --bench-conns 4 --rate 80000 --bench-seconds 5 "$@"
