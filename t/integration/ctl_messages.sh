#!/bin/sh
# exfeedctl's errors say what happened and what to do: a control socket
# closed on it (the daemon at its limit of control clients) is exit 69 with
# a message, never a silent death by SIGPIPE (exit 141); a user the socket
# refuses is told who may use it; an id beyond 64 bits is out of range.
. "$top_srcdir/t/lib.sh"

# A stand-in that accepts and at once closes, as src/ctl.c does at its limit.
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()' "$T/closing.sock" > "$T/closing.out" 2>&1 &
CLOSER=$!
trap 'kill $CLOSER 2>/dev/null; cleanup' EXIT INT TERM
wait_until 3 grep -q ready "$T/closing.out"
closed_ok() {	# one run: exit 69 and the message
	"$@" > "$T/c.out" 2>&1
	rc=$?
	[ "$rc" -eq 69 ] && grep -q "exfeedd refused the connection on .*too many control clients" "$T/c.out" ||
	    { echo "# exit $rc: $(cat "$T/c.out")"; return 1; }
}
if command -v strace >/dev/null 2>&1; then
	# connect returns only after the server closed: the request's write meets EPIPE.
	check "closed before the request is written: exit 69 and why, not SIGPIPE" closed_ok \
	    strace -f -o /dev/null -e inject=connect:delay_exit=300000 "$EXFEEDCTL" -s "$T/closing.sock" status
fi
n=0
for i in 1 2 3 4 5 6 7 8 9 10; do closed_ok "$EXFEEDCTL" -s "$T/closing.sock" status && n=$((n + 1)); done
check "closed on it, 10 times: exit 69 and why, every time" [ "$n" -eq 10 ]

# A user the socket's mode refuses is told who may use it, not asked
# whether the daemon runs.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && runuser -u nobody -- test -x "$EXFEEDCTL"; then
	chmod 600 "$T/closing.sock"
	runuser -u nobody -- "$EXFEEDCTL" -s "$T/closing.sock" status > "$T/p.out" 2>&1
	rc=$?
	check "a user the control socket refuses: exit 69" [ "$rc" -eq 69 ]
	check "... says who may use it" grep -q "Permission denied: only root and the daemon's user (exfeedd) may use the control socket" "$T/p.out"
	check "... and not 'is exfeedd running?'" sh -c "! grep -q 'is exfeedd running' '$T/p.out'"
else
	echo "# not root, or nobody cannot run $EXFEEDCTL: the refused user is not tested"
fi

# The real daemon, its 16 control clients all taken.
write_config "$T/exfeedd.conf"
# An id too large for 64 bits is out of range, not "not a non-negative integer".
"$EXFEEDCTL" -c "$T/exfeedd.conf" account disable 99999999999999999999999 > "$T/id.out" 2>&1
check "account disable 99999999999999999999999: exit 64" [ $? -eq 64 ]
check "... says out of range" grep -q 'exfeedctl: account id "99999999999999999999999" is out of range' "$T/id.out"
start_daemon "$T/exfeedd.conf"
if wait_until 5 test -S "$T/run/control.sock"; then
	/usr/bin/python3 -c '
import socket, sys, time
held = []
for i in range(16):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
print("held", flush=True)
time.sleep(30)' "$T/run/control.sock" > "$T/held.out" 2>&1 &
	HOLDER=$!
	wait_until 3 grep -q held "$T/held.out"
	sleep 0.3
	n=0
	for i in 1 2 3 4 5; do closed_ok ctl status && n=$((n + 1)); done
	check "exfeedd at its limit of control clients: exit 69 and why, every time" [ "$n" -eq 5 ]
	kill "$HOLDER" 2>/dev/null
	check "... and once they are gone, status answers" wait_until 3 ctl status
else
	not_ok "exfeedd did not make its control socket"
fi
finish
