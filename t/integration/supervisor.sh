#!/bin/sh
# Acceptance: exfeedd -f starts one process per role, all READY within 2 s,
# exfeedctl status lists them with pids; TERM stops everything in order,
# within the timeouts, exit 0, pidfile and socket removed.
. "$top_srcdir/t/lib.sh"

write_config "$T/exfeedd.conf"
start_daemon "$T/exfeedd.conf"
t0=$(date +%s%N)
check "all 6 workers ready within 2 s" wait_until 2 all_ready 6
t1=$(date +%s%N)
echo "# ready after $(( (t1 - t0) / 1000000 )) ms"

ps -eo pid,ppid,args > "$T/ps"
for title in "account 0" "account 1" "market 0" "writer 0" "gateway 0" "broker 0"; do
	pid=$(worker_pid ${title% *} ${title#* })
	check "ps shows 'exfeedd: $title' as pid $pid, child of $DAEMON_PID" \
	    grep -Eq "^ *$pid +$DAEMON_PID +exfeedd: $title\$" "$T/ps"
done
check "ps shows the supervisor title" grep -Eq "^ *$DAEMON_PID +[0-9]+ +exfeedd: supervisor\$" "$T/ps"
check "pidfile holds the supervisor pid" [ "$(cat "$T/run/exfeedd.pid")" = "$DAEMON_PID" ]
check "control socket is mode 0600" [ "$(stat -c %a "$T/run/control.sock")" = 600 ]

ctl status > "$T/status.txt"
check "status table has a header" grep -q "^ROLE  *INST  *PID  *STATE  *RESTARTS  *UPTIME  *LAST EXIT" "$T/status.txt"
check "status table lists 6 ready workers" [ "$(grep -c ' ready ' "$T/status.txt")" -eq 6 ]
has_detail() { [ "$(status_json | grep -o '"detail":{"id"' | wc -l)" -eq 6 ]; }
check "every worker answers the status query (detail present)" has_detail
# No PostgreSQL here (conninfo names none that runs): every worker is ready,
# the database is not, and /health says so (t/integration/metrics.py: 200 with one).
check "gateway answers /health: 503, PostgreSQL unreachable" /usr/bin/python3 -c "
import json,urllib.request,urllib.error,sys
try:
    urllib.request.urlopen('http://127.0.0.1:$GW_PORT/health', timeout=5)
    sys.exit(1)
except urllib.error.HTTPError as e:
    h=json.loads(e.read())
    sys.exit(0 if e.code==503 and h['database']=='unreachable' and 'PostgreSQL' in h['reason'] and len(h['workers'])==6 else 1)"
check "the embedded broker is a real Kafka endpoint" /usr/bin/python3 -c "
import json,socket,subprocess,sys
d=json.loads(subprocess.check_output(['$EXFEEDCTL','-s','$T/run/control.sock','--json','status']))
b=[w for w in d['workers'] if w['role']=='broker'][0]['detail']['role']['bootstraps']
h,p=b.split(',')[0].rsplit(':',1)
# ApiVersions request (key 18, v0): the broker must answer with the same correlation id
req=bytes.fromhex('0012000000000007') + b'\x00\x04test'
s=socket.create_connection((h,int(p)),timeout=2); s.sendall(len(req).to_bytes(4,'big')+req)
resp=s.recv(4096); sys.exit(0 if len(resp)>8 and resp[4:8]==bytes.fromhex('00000007') else 1)"

pids=$(ps -o pid= --ppid "$DAEMON_PID")
kill -TERM "$DAEMON_PID"
t0=$(date +%s%N)
wait "$DAEMON_PID"
rc=$?
t1=$(date +%s%N)
echo "# stopped after $(( (t1 - t0) / 1000000 )) ms"
DAEMON_PID=
check "TERM: supervisor exits 0" [ "$rc" -eq 0 ]
alive=0
for p in $pids; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
check "TERM: no worker left" [ "$alive" -eq 0 ]
check "TERM: within the stage timeouts (4 x 2 s)" [ $(( (t1 - t0) / 1000000 )) -lt 8000 ]
check "TERM: pidfile removed" [ ! -e "$T/run/exfeedd.pid" ]
check "TERM: control socket removed" [ ! -e "$T/run/control.sock" ]
check "TERM: stages in order gateway, market and account, writer, broker" sh -c "
grep -o 'shutdown: stopping [a-z ]*' '$T/log' | tr '\n' '|' | grep -qx 'shutdown: stopping gateway |shutdown: stopping market and account |shutdown: stopping writer |shutdown: stopping broker |'"

# A worker that ignores the shutdown request is killed when its stage times out.
write_config "$T/exfeedd.conf"
start_daemon "$T/exfeedd.conf"
wait_until 2 all_ready 6
wpid=$(worker_pid writer 0)
kill -STOP "$wpid"
t0=$(date +%s%N)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
rc=$?
t1=$(date +%s%N)
DAEMON_PID=
check "TERM with a hung writer: exit 0" [ "$rc" -eq 0 ]
check "TERM with a hung writer: SIGKILL after shutdown_timeout" grep -q "writer 0 (pid $wpid) did not stop within 2000 ms; sending SIGKILL" "$T/log"
check "TERM with a hung writer: done within 2 s + slack" [ $(( (t1 - t0) / 1000000 )) -lt 4000 ]
check "TERM with a hung writer: writer gone" sh -c "! kill -0 $wpid 2>/dev/null"
finish
