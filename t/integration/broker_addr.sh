#!/bin/sh
# Acceptance (issue 11, [kafka] brokers = embedded): exfeedctl status shows
# the broker role's bootstrap address and kcat lists the cluster's metadata
# from it; the writer and the market worker (each has a producer) were sent
# it.  After kill -9 of the broker, status shows the restarted broker's new
# address, kcat works on that one, and the running writer and market worker
# were sent it; a restarted writer gets it after its configuration.
# No database: the broker, the writer's channel and the status need none.
. "$top_srcdir/t/lib.sh"

if ! command -v kcat >/dev/null 2>&1; then
	echo "# kcat is not installed (tools/deps installs it): skipping"
	exit 77
fi

LOG_LEVEL=debug
SHARDS=1
write_config "$T/exfeedd.conf"
printf '[kafka]\nbrokers = embedded\n' >> "$T/exfeedd.conf"
start_daemon "$T/exfeedd.conf"
check "all 5 workers ready" wait_until 3 all_ready 5

# The address on the status line while the broker is ready (no note after it).
status_addr() {
	ctl status 2>/dev/null | sed -n 's/^kafka: embedded broker \([^ ]*:[0-9]*\)$/\1/p'
}
json_addr() {
	status_json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["kafka"]["bootstraps"])'
}
broker_own_addr() {	# what the broker itself reports in its status detail
	status_json | /usr/bin/python3 -c '
import json,sys
d=json.load(sys.stdin)
print([w for w in d["workers"] if w["role"]=="broker"][0]["detail"]["role"]["bootstraps"])'
}
# kcat_lists ADDR: kcat gets the cluster's metadata from ADDR, which names itself.
kcat_lists() {
	timeout 10 kcat -b "$1" -L -m 5 > "$T/kcat.out" 2>&1 &&
	    grep -q "^ *broker [0-9]* at $1\$" "$T/kcat.out"
}
# sent PID ADDR: worker process PID (the writer or the market worker) logged
# the address it was sent.
sent() { grep -q "exfeedd\[$1\]: [a-z]* 0: debug: kafka bootstrap: $2\$" "$T/log"; }

A1=$(status_addr)
echo "# status: kafka: embedded broker $A1"
check "status shows the embedded broker's address (127.0.0.1:PORT)" \
    sh -c "echo '$A1' | grep -Eq '^127\.0\.0\.1:[0-9]+\$'"
check "--json status has it at .kafka.bootstraps" [ "$(json_addr)" = "$A1" ]
check "... with .kafka.brokers = embedded" sh -c "'$EXFEEDCTL' -s '$T/run/control.sock' --json status | grep -q '\"kafka\":{\"brokers\":\"embedded\",'"
check "it is the address the broker reports itself" [ "$(broker_own_addr)" = "$A1" ]
check "kcat -b $A1 -L lists the cluster" kcat_lists "$A1"
W1=$(worker_pid writer 0)
check "the writer (pid $W1) was sent it" wait_until 2 sent "$W1" "$A1"
M1=$(worker_pid market 0)
check "the market worker (pid $M1) was sent it" wait_until 2 sent "$M1" "$A1"

B1=$(worker_pid broker 0)
kill -KILL "$B1"
new_addr() { a=$(status_addr); [ -n "$a" ] && [ "$a" != "$A1" ]; }
check "kill -9 broker (pid $B1): status shows a new address" wait_until 5 new_addr
A2=$(status_addr)
echo "# status after the broker's restart: kafka: embedded broker $A2"
check "a new broker process" [ "$(worker_pid broker 0)" != "$B1" ]
check "--json status has the new address" [ "$(json_addr)" = "$A2" ]
check "kcat -b $A2 -L lists the restarted broker's cluster" kcat_lists "$A2"
check "the running writer (same pid $W1) was sent the new address" wait_until 2 sent "$W1" "$A2"
check "the writer is the same process" [ "$(worker_pid writer 0)" = "$W1" ]
check "the running market worker (same pid $M1) was sent the new address" \
    wait_until 2 sent "$M1" "$A2"
check "the supervisor logged the change" \
    grep -q "embedded Kafka broker at $A2 (a new address; telling the writer and market workers)" "$T/log"

# A writer that starts gets the address after its configuration.
kill -KILL "$W1"
new_writer() { p=$(worker_pid writer 0); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$W1" ] &&
    [ "$(worker_field writer 0 state)" = ready ]; }
check "kill -9 writer (pid $W1): a new writer is ready" wait_until 3 new_writer
W2=$(worker_pid writer 0)
check "the restarted writer (pid $W2) was sent $A2" wait_until 2 sent "$W2" "$A2"
check "... after its configuration" sh -c "grep 'exfeedd\[$W2\]: ' '$T/log' |
    grep -E 'configuration [0-9]+ received|kafka bootstrap: ' | head -n 1 | grep -q 'configuration'"
check "no writer was sent any other address" [ "$(grep -c 'writer 0: debug: kafka bootstrap: ' "$T/log")" -eq 3 ]
check "supervisor alive" kill -0 "$DAEMON_PID"
finish
