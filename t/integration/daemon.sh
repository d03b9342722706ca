#!/bin/sh
# Acceptance: daemon mode with a pidfile; a second instance refuses with a
# clear message; a stale pidfile is replaced; USR1 reopens the log file (the
# supervisor's and the workers'); started as root, every process runs as
# [daemon] user/group.
. "$top_srcdir/t/lib.sh"

LOG_TARGET="$T/exfeedd.log" write_config "$T/exfeedd.conf"
mkdir -p "$T/run"
echo 999999 > "$T/run/exfeedd.pid"		# stale: no process holds it
"$EXFEEDD" -c "$T/exfeedd.conf"
check "daemon mode: the starting command returns 0" [ $? -eq 0 ]
check "daemon mode: pidfile written" wait_until 2 sh -c "[ \"\$(cat '$T/run/exfeedd.pid')\" != 999999 ]"
DAEMON_PID=$(cat "$T/run/exfeedd.pid")
check "daemon mode: all workers ready" wait_until 2 all_ready 6
check "daemon mode: stale pidfile was replaced, and said so" grep -q "replacing stale pid 999999" "$T/exfeedd.log"
check "daemon mode: detached (session leader is not our shell)" [ "$(ps -o sid= -p "$DAEMON_PID" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ]
check "daemon mode: log lines from the workers in the file" grep -q "account 0: info: ready" "$T/exfeedd.log"

"$EXFEEDD" -c "$T/exfeedd.conf" > "$T/second.out" 2>&1
rc=$?
check "second instance refuses (exit 1)" [ "$rc" -eq 1 ]
check "second instance says why" grep -q "^exfeedd: already running as pid $DAEMON_PID (pidfile $T/run/exfeedd.pid); not starting\$" "$T/second.out"
check "first instance unaffected" kill -0 "$DAEMON_PID"

# logrotate's way: move the file away, USR1, the daemon writes a new one.
mv "$T/exfeedd.log" "$T/exfeedd.log.1"
kill -USR1 "$DAEMON_PID"
check "USR1: a new log file appears" wait_until 2 test -s "$T/exfeedd.log"
kill -HUP "$DAEMON_PID"
check "USR1: supervisor writes to the new file" wait_until 2 grep -q "SIGHUP: reloading" "$T/exfeedd.log"
check "USR1: workers write to the new file" wait_until 2 grep -q "writer 0: info: configuration [0-9]* applied" "$T/exfeedd.log"
check "USR1: nothing more went to the old file" sh -c "! grep -q 'SIGHUP: reloading' '$T/exfeedd.log.1'"

ctl stop > "$T/stop.out"
check "exfeedctl stop waits for the exit" grep -q "exfeedd stopped" "$T/stop.out"
check "stopped: pid gone" gone "$DAEMON_PID"
check "stopped: pidfile and socket removed" [ ! -e "$T/run/exfeedd.pid" -a ! -e "$T/run/control.sock" ]
DAEMON_PID=

if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	# As root with user = nobody: the runtime dir, pidfile and socket are
	# made as root, then every process runs as nobody.
	LOG_TARGET="$T/exfeedd.log" write_config "$T/root.conf"
	sed -i "s/^user = .*/user = nobody/; s/^group = .*/group = nogroup/" "$T/root.conf"
	chown nobody "$T/master.key"	# the workers read it after the drop
	chmod 644 "$T/root.conf"
	"$EXFEEDD" -c "$T/root.conf"
	wait_until 2 test -s "$T/run/exfeedd.pid"
	DAEMON_PID=$(cat "$T/run/exfeedd.pid")
	check "as root: workers ready" wait_until 3 all_ready 6
	users=$(ps -o user= -p "$DAEMON_PID"; ps -o user= --ppid "$DAEMON_PID")
	check "as root: all 7 processes run as nobody" [ "$(echo "$users" | grep -c '^nobody$')" -eq 7 ]
	check "as root: runtime dir owned by nobody" [ "$(stat -c %U "$T/run")" = nobody ]
	check "as root: root may still use the control socket" ctl status
	kill -HUP "$DAEMON_PID"
	check "as root: reload works after the drop" wait_until 2 grep -q "reload complete" "$T/exfeedd.log"
	kill -TERM "$DAEMON_PID"
	stopped_clean() { gone "$DAEMON_PID" && [ ! -e "$T/run/exfeedd.pid" ]; }
	check "as root: stops cleanly, pidfile removed" wait_until 5 stopped_clean
	DAEMON_PID=

	# The binary in a directory nobody may not enter (a clone in root's
	# 0700 home): the workers start all the same (executed through a
	# descriptor opened before the drop).
	mkdir -m 700 "$T/private"
	cp "$EXFEEDD" "$T/private/exfeedd"
	: > "$T/exfeedd.log"
	"$T/private/exfeedd" -c "$T/root.conf"
	wait_until 2 test -s "$T/run/exfeedd.pid"
	DAEMON_PID=$(cat "$T/run/exfeedd.pid")
	check "as root, binary in a 0700 directory: workers ready" wait_until 3 all_ready 6
	kill -TERM "$DAEMON_PID"
	check "as root, binary in a 0700 directory: stops cleanly" wait_until 5 stopped_clean
	DAEMON_PID=

	# A binary the user may not execute: each worker is reported as not
	# started, with the path and the reason, and is not restarted in a loop.
	chmod 700 "$T/private/exfeedd"
	chmod 755 "$T/private"
	: > "$T/exfeedd.log"
	"$T/private/exfeedd" -c "$T/root.conf"
	wait_until 2 test -s "$T/run/exfeedd.pid"
	DAEMON_PID=$(cat "$T/run/exfeedd.pid")
	check "as root, binary not executable by nobody: the reason is logged" wait_until 3 \
		grep -q "writer 0: cannot execute $T/private/exfeedd: Permission denied" "$T/exfeedd.log"
	sleep 1
	ctl --json status > "$T/status.json"
	check "as root, binary not executable by nobody: status says failed, and why" python3 -c "
import json, sys
w = [w for w in json.load(open('$T/status.json'))['workers'] if w['role'] == 'writer'][0]
sys.exit(not (w['state'] == 'failed' and 'cannot execute' in w.get('reason', '') and
              'Permission denied' in w.get('reason', '') and w['restarts'] == 0))"
	check "as root, binary not executable by nobody: no false 'killed by supervisor'" \
		sh -c "! grep -q 'killed by supervisor' '$T/exfeedd.log'"
	kill -TERM "$DAEMON_PID"
	check "as root, binary not executable by nobody: stops cleanly" wait_until 5 stopped_clean
	DAEMON_PID=

	# A ca_file root can read (the start's check passes) but nobody cannot:
	# the account workers report it and stay down (exit 78), no crash loop.
	if command -v openssl >/dev/null 2>&1; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=ca.test \
		    -keyout "$T/ca.key" -out "$T/ca.pem" >/dev/null 2>&1
		chmod 600 "$T/ca.pem"
		cp "$T/root.conf" "$T/ca.conf"
		printf '[exchange.binance-futures]\nrest_url = https://127.0.0.1:1\nws_url = wss://127.0.0.1:1\nca_file = %s\n' \
		    "$T/ca.pem" >> "$T/ca.conf"
		: > "$T/exfeedd.log"
		"$EXFEEDD" -c "$T/ca.conf"
		wait_until 2 test -s "$T/run/exfeedd.pid"
		DAEMON_PID=$(cat "$T/run/exfeedd.pid")
		check "as root, ca_file nobody cannot read: the reason is logged" wait_until 5 \
			grep -q "account 0: error: \[exchange.binance-futures\] ca_file: .*$T/ca.pem.*(as user nobody)" "$T/exfeedd.log"
		sleep 1
		ctl --json status > "$T/status.json"
		check "as root, ca_file nobody cannot read: account workers failed, not restarted" python3 -c "
import json, sys
ws = [w for w in json.load(open('$T/status.json'))['workers'] if w['role'] == 'account']
sys.exit(not (ws and all(w['state'] == 'failed' and 'ca_file' in w.get('reason', '') and
                         w['restarts'] == 0 for w in ws)))"
		kill -TERM "$DAEMON_PID"
		check "as root, ca_file nobody cannot read: stops cleanly" wait_until 5 stopped_clean
		DAEMON_PID=
	fi
else
	echo "# not root: privilege drop not exercised here (CI runs as root)"
fi
finish
