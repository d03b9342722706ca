# t/lib.sh: shared helpers for the integration tests (POSIX sh + a few bashisms avoided).
# Each test gets its own directory, config and ports, and cleans up after itself.

set -u
: "${EXFEEDD:?run from make check}" "${EXFEEDCTL:?}" "${top_srcdir:?}"

T=$(mktemp -d /tmp/exfeedd-test.XXXXXX)
chmod 755 "$T"
FAILS=0
PASSES=0
DAEMON_PID=

cleanup() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		sleep 1
		kill -KILL "$DAEMON_PID" 2>/dev/null
	fi
	if [ -f "$T/run/exfeedd.pid" ]; then
		p=$(cat "$T/run/exfeedd.pid" 2>/dev/null)
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	fi
	if [ "$FAILS" -ne 0 ] && [ -f "$T/log" ]; then
		echo "---- daemon log (last 60 lines) ----"
		tail -n 60 "$T/log"
	fi
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

# pg_tests: for a test on a throwaway PostgreSQL (tools/pgtmp) in $PG, which
# it starts itself: sets PGTMP and PG, stops the cluster on exit, and skips
# (exit 77) where PostgreSQL 15 is not installed.
pg_tests() {
	PGTMP="$top_srcdir/tools/pgtmp"
	PG="$T/pg"
	if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && [ -z "${PGTMP_BIN:-}" ]; then
		echo "# PostgreSQL 15 is not installed: skipping"
		exit 77
	fi
	trap '"$PGTMP" stop "$PG" >/dev/null 2>&1; cleanup' EXIT INT TERM
}

ok() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
not_ok() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }
check() {	# check "description" command...
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
finish() {
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
	exit $?
}

# A free TCP port on loopback.
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# write_key FILE: a 32-byte master key, mode 0600 (as exfeedctl keygen makes).
write_key() {
	[ -f "$1" ] || (umask 077 && head -c 32 /dev/urandom > "$1")
}

# write_config FILE [extra daemon lines...]: a config for this test directory,
# with the master key $T/master.key (exfeedd refuses to start without one).
write_config() {
	f=$1; shift
	GW_PORT=${GW_PORT:-$(free_port)}
	write_key "$T/master.key"
	{
		echo "[daemon]"
		echo "user = $(id -un)"
		echo "group = $(id -gn)"
		echo "runtime_dir = $T/run"
		echo "pidfile = $T/run/exfeedd.pid"
		echo "control_socket = $T/run/control.sock"
		echo "log = ${LOG_TARGET:-stderr}"
		echo "log_level = ${LOG_LEVEL:-info}"
		echo "account_shards = ${SHARDS:-2}"
		echo "respawn_delay_min = 100ms"
		echo "respawn_delay_max = 2s"
		echo "respawn_throttle = 1s"
		echo "respawn_stable = 10s"
		echo "ready_timeout = 5s"
		echo "heartbeat_interval = 200ms"
		echo "heartbeat_timeout = 3s"
		echo "shutdown_timeout = 2s"
		for l in "$@"; do echo "$l"; done
		echo "[database]"
		echo "conninfo = dbname=exfeedd_test"
		echo "[crypto]"
		echo "key_file = $T/master.key"
		echo "[gateway]"
		echo "listen = 127.0.0.1:$GW_PORT"
	} > "$f"
}

ctl() { "$EXFEEDCTL" -s "$T/run/control.sock" "$@"; }

# wait_until SECONDS command...: poll every 50 ms.  The bound is multiplied
# by TIME_SCALE (make check-asan sets 3): the sanitizers slow every process,
# and these bounds are what the code promises, not what ASan can keep.
wait_until() {
	limit=$(( $1 * ${TIME_SCALE:-1} )); shift
	end=$(( $(date +%s%N) / 1000000 + limit * 1000 ))
	while [ $(( $(date +%s%N) / 1000000 )) -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# start_daemon CONFIG: foreground daemon, log to $T/log.
start_daemon() {
	"$EXFEEDD" -f -c "$1" >>"$T/log" 2>&1 &
	DAEMON_PID=$!
}

# status_json: the control socket's status as JSON.
status_json() { ctl --json status; }

# jq-free field extraction with python: pids "role instance" -> pid
worker_pid() {
	status_json | /usr/bin/python3 -c '
import json,sys
d=json.load(sys.stdin)
for w in d["workers"]:
    if w["role"]==sys.argv[1] and w["instance"]==int(sys.argv[2]): print(w["pid"])' "$1" "$2"
}
worker_field() {
	status_json | /usr/bin/python3 -c '
import json,sys
d=json.load(sys.stdin)
for w in d["workers"]:
    if w["role"]==sys.argv[1] and w["instance"]==int(sys.argv[2]): print(w[sys.argv[3]])' "$1" "$2" "$3"
}
all_ready() {
	status_json | /usr/bin/python3 -c '
import json,sys
d=json.load(sys.stdin)
ws=d["workers"]
n=int(sys.argv[1])
sys.exit(0 if len(ws)==n and all(w["state"]=="ready" and w["pid"]>0 for w in ws) else 1)' "$1"
}

# gone PID: the process has exited (a zombie whose parent is not ours counts as gone).
gone() {
	[ ! -r "/proc/$1/stat" ] && return 0
	state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ]
}

# tools/check's tarball pass (make distcheck, EXFEEDD_REPEAT_PASS=1) runs
# only the tests listed in t/tarball-tests (the ones that read what the
# tarball ships); the plain and sanitizer passes ran the rest: CI's time.
if [ "${EXFEEDD_REPEAT_PASS:-}" = 1 ] &&
    ! grep -qx "$(basename "$0")" "${top_srcdir:-.}/t/tarball-tests"; then
	echo "1..0 # SKIP $(basename "$0"): ran in the plain and sanitizer passes (t/tarball-tests)"
	exit 77
fi
# "skip_in_repeat_pass NAME sanitizer": the tarball pass skips NAME even if
# listed, and the sanitizer pass (EXFEEDD_REPEAT_PASS=asan) too (SQL-only tests).
skip_in_repeat_pass() {
	if [ "${EXFEEDD_REPEAT_PASS:-}" = 1 ] ||
	    { [ "${2:-}" = sanitizer ] && [ "${EXFEEDD_REPEAT_PASS:-}" = asan ]; }; then
		echo "# $1: run by the plain pass; skipped in this one"
		exit 77
	fi
}
