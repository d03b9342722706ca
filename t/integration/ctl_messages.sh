#!/bin/sh
# exfeedctl's errors say what happened and what to do: a control socket
# closed on it (the daemon at its limit of control clients) is exit 69 with
# a message, never a silent death by SIGPIPE (exit 141).
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

# The real daemon, its 16 control clients all taken.
write_config "$T/exfeedd.conf"
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
