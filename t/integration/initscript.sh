#!/bin/sh
# The LSB init script drives the real daemon: start, status, reload, restart,
# stop, with LSB exit codes.  Paths are pointed at the build and this test.
. "$top_srcdir/t/lib.sh"

LOG_TARGET="$T/exfeedd.log" write_config "$T/exfeedd.conf"
sed -e "s|^DAEMON=.*|DAEMON=$EXFEEDD|" -e "s|^CONF=.*|CONF=$T/exfeedd.conf|" \
    -e "s|^PIDFILE=.*|PIDFILE=$T/run/exfeedd.pid|" -e "s|/etc/default/exfeedd|$T/default|g" \
    "$top_builddir/etc/init.d/exfeedd" > "$T/initd"
I="sh $T/initd"

$I status > /dev/null; rc=$?
check "status before start: 3 (not running)" [ "$rc" -eq 3 ]
$I start > "$T/out" 2>&1; rc=$?
check "start: 0" [ "$rc" -eq 0 ]
DAEMON_PID=$(cat "$T/run/exfeedd.pid")
check "start: workers ready" wait_until 3 all_ready 6
$I start > /dev/null 2>&1; rc=$?
check "start again: 0, nothing new" [ "$rc" -eq 0 -a "$(cat "$T/run/exfeedd.pid")" = "$DAEMON_PID" ]
$I status > "$T/out"; rc=$?
check "status: 0 and the pid" sh -c "[ $rc -eq 0 ] && grep -q 'running (pid $DAEMON_PID)' '$T/out'"
$I reload > /dev/null; rc=$?
check "reload: 0, the daemon reloads" sh -c "[ $rc -eq 0 ]" && check "reload: logged" wait_until 2 grep -q "SIGHUP: reloading" "$T/exfeedd.log"
echo "bogus = 1" >> "$T/exfeedd.conf"
$I reload > /dev/null 2>&1; rc=$?
check "reload with a broken config: 6 (not configured), daemon untouched" [ "$rc" -eq 6 -a "$(grep -c 'SIGHUP: reloading' "$T/exfeedd.log")" -eq 1 ]
sed -i '$d' "$T/exfeedd.conf"
$I restart > /dev/null 2>&1; rc=$?
new=$(cat "$T/run/exfeedd.pid" 2>/dev/null)
check "restart: 0, a new supervisor" [ "$rc" -eq 0 -a -n "$new" -a "$new" != "$DAEMON_PID" ]
DAEMON_PID=$new
wait_until 3 all_ready 6
$I stop > /dev/null; rc=$?
check "stop: 0" [ "$rc" -eq 0 ]
check "stop: pidfile gone" [ ! -e "$T/run/exfeedd.pid" ]
check "stop: process gone" gone "$DAEMON_PID"
$I stop > /dev/null; rc=$?
check "stop when not running: 0" [ "$rc" -eq 0 ]
DAEMON_PID=
finish
