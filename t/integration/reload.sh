#!/bin/sh
# Acceptance: HUP with a valid changed config applies it (shards 2→3→1 seen
# in status; log level live; keys that cannot change are reported); HUP with
# a broken config logs FILE:LINE and changes nothing (same pids); HUPs that
# overlap coalesce.
. "$top_srcdir/t/lib.sh"

SHARDS=2 write_config "$T/exfeedd.conf"
start_daemon "$T/exfeedd.conf"
wait_until 2 all_ready 6 || not_ok "daemon did not come up"

pids() { status_json | /usr/bin/python3 -c '
import json,sys
print(" ".join("%s/%d=%d" % (w["role"], w["instance"], w["pid"]) for w in json.load(sys.stdin)["workers"]))'; }
accounts() { status_json | /usr/bin/python3 -c '
import json,sys
print(" ".join(str(w["instance"]) for w in json.load(sys.stdin)["workers"] if w["role"]=="account" and w["state"]=="ready"))'; }
shards_are() { [ "$(accounts)" = "$1" ] && [ "$(status_json | grep -o '"shards":[0-9]*' | sort -u)" = "\"shards\":$2" ]; }

before=$(pids)
SHARDS=3 write_config "$T/exfeedd.conf"
kill -HUP "$DAEMON_PID"
check "HUP 2→3: account workers 0 1 2, all told shards=3" wait_until 3 shards_are "0 1 2" 3
after=$(pids)
check "HUP 2→3: existing workers kept their pids" sh -c "
for p in $before; do echo ' $after ' | grep -q \" \$p \" || exit 1; done"

SHARDS=1 write_config "$T/exfeedd.conf"
kill -HUP "$DAEMON_PID"
check "HUP 3→1: only account 0 left, told shards=1" wait_until 3 shards_are "0" 1
check "HUP 3→1: the two stopped workers were not restarted" sh -c "
sleep 0.5; [ \$(grep -c 'not restarting (no longer configured)' '$T/log') -eq 2 ]"

# A broken config changes nothing.
before=$(pids)
cp "$T/exfeedd.conf" "$T/good.conf"
printf '[daemon]\n' > "$T/exfeedd.conf"
sed -n '2,$p' "$T/good.conf" | sed 's/^account_shards = 1/account_shards = many/' >> "$T/exfeedd.conf"
line=$(grep -n '^account_shards' "$T/exfeedd.conf" | cut -d: -f1)
kill -HUP "$DAEMON_PID"
check "broken HUP: FILE:LINE logged" wait_until 2 grep -q "reload failed, configuration unchanged: $T/exfeedd.conf:$line: \[daemon\] account_shards: \"many\" is not a whole number" "$T/log"
sleep 0.3
check "broken HUP: same pids" [ "$(pids)" = "$before" ]
check "broken exfeedctl reload: exit 1 with FILE:LINE" sh -c "
'$EXFEEDCTL' -s '$T/run/control.sock' reload 2>&1 | grep -q '^exfeedctl: $T/exfeedd.conf:$line: ' ; [ \$? -eq 0 ] &&
! '$EXFEEDCTL' -s '$T/run/control.sock' reload 2>/dev/null"

check "exfeedctl -c with the broken file still finds the socket and reports the daemon's error" sh -c "
'$EXFEEDCTL' -c '$T/exfeedd.conf' reload 2>&1 | grep -q '^exfeedctl: $T/exfeedd.conf:$line: '"
"$EXFEEDCTL" -c "$T/nonexistent.conf" status > "$T/ctl.out" 2>&1
rc=$?
check "exfeedctl -c with an unreadable file: exit 78, FILE:0:" sh -c "[ $rc -eq 78 ] && grep -q '^$T/nonexistent.conf:0: ' '$T/ctl.out'"

# Log level changes live, in the supervisor and the workers.
LOG_LEVEL=debug SHARDS=1 write_config "$T/exfeedd.conf"
ctl reload >/dev/null
check "log level debug applied live (a worker logs at debug)" wait_until 2 sh -c "
'$EXFEEDCTL' -s '$T/run/control.sock' status >/dev/null; grep -q 'account 0: debug: ' '$T/log'"

# A key that cannot change at runtime is reported and kept.
LOG_LEVEL=debug SHARDS=1 write_config "$T/exfeedd.conf"
sed -i "s|^pidfile = .*|pidfile = $T/run/other.pid|" "$T/exfeedd.conf"
kill -HUP "$DAEMON_PID"
check "non-reloadable key reported" wait_until 2 grep -q "reload: \[daemon\] pidfile cannot change at runtime: keeping \"$T/run/exfeedd.pid\"" "$T/log"
check "pidfile unchanged" [ -f "$T/run/exfeedd.pid" -a ! -e "$T/run/other.pid" ]

# A changed conninfo is reported without its value: it may hold a password.
LOG_LEVEL=debug SHARDS=1 write_config "$T/exfeedd.conf"
sed -i "s|^conninfo = .*|conninfo = dbname=exfeedd_test password=HUNTER2-not-in-logs|" "$T/exfeedd.conf"
kill -HUP "$DAEMON_PID"
check "changed conninfo: reported" wait_until 2 grep -q "reload: \[database\] conninfo changed (its value is not logged" "$T/log"
check "changed conninfo: the password is in no log line" sh -c "sleep 0.5; ! grep -q HUNTER2 '$T/log'"
LOG_LEVEL=debug SHARDS=1 write_config "$T/exfeedd.conf"
kill -HUP "$DAEMON_PID"
wait_until 2 sh -c "[ \$(grep -c 'conninfo changed' '$T/log') -eq 2 ]"

# Overlapping HUPs coalesce: while a reload waits for a (stopped) worker's
# acknowledgement, nine more HUPs arrive; they make exactly one more reload.
mpid=$(worker_pid market 0)
kill -STOP "$mpid"
n0=$(grep -c 'SIGHUP: reloading' "$T/log")
for i in 1 2 3 4 5 6 7 8 9 10; do kill -HUP "$DAEMON_PID"; sleep 0.02; done
sleep 0.3
kill -CONT "$mpid"
check "coalesced reload ran after the burst" wait_until 3 grep -q "coalesced SIGHUP: reloading" "$T/log"
sleep 0.5
n1=$(grep -c 'SIGHUP: reloading' "$T/log")
echo "# 10 HUPs in a burst -> $((n1 - n0)) reloads"
check "10 overlapping HUPs made exactly 2 reloads" [ $((n1 - n0)) -eq 2 ]
check "supervisor alive" kill -0 "$DAEMON_PID"
finish
