#!/bin/sh
# Acceptance (issue 10, item 10): whatever the umask it is started with, the
# daemon's runtime directory is 0750 user:group, every socket it creates is
# 0600 and the pidfile 0644; started as root it runs as [daemon] user/group
# in every process with no way back (real, effective, saved and filesystem
# ids, no group 0, no_new_privs), and with core_dumps = no no process of it
# is dumpable (the files in its /proc/PID belong to root, so no ptrace,
# /proc/PID/mem or environ for its own user).
. "$top_srcdir/t/lib.sh"

if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	USER_=nobody
	GROUP_=$(id -gn nobody)
else
	USER_=$(id -un)
	GROUP_=$(id -gn)
	echo "# not root: checking modes only; the privilege drop needs root (CI runs as root)"
fi

LOG_TARGET="$T/exfeedd.log" write_config "$T/exfeedd.conf"
sed -i "s/^user = .*/user = $USER_/; s/^group = .*/group = $GROUP_/" "$T/exfeedd.conf"
chown "$USER_" "$T/master.key"
chmod 644 "$T/exfeedd.conf"

# every process of the daemon: the supervisor and its children
procs() { echo "$DAEMON_PID"; ps -o pid= --ppid "$DAEMON_PID" | tr -d ' '; }
stopped_clean() { gone "$DAEMON_PID" && [ ! -e "$T/run/exfeedd.pid" ]; }
# mode_is PATH MODE [OWNER GROUP]
mode_is() {
	got=$(stat -c '%a %U %G' "$1") || return 1
	want="$2${3:+ $3}${4:+ $4}"
	case "$got" in
	"$want"*) return 0 ;;
	esac
	echo "$1: $got, want $want" >&2
	return 1
}

for um in 000 077; do
	rm -rf "$T/run" "$T/exfeedd.log"	# a log file that exists keeps its mode
	(umask $um && exec "$EXFEEDD" -c "$T/exfeedd.conf")
	wait_until 2 test -s "$T/run/exfeedd.pid"
	DAEMON_PID=$(cat "$T/run/exfeedd.pid")
	check "umask $um: workers ready" wait_until 5 all_ready 6
	check "umask $um: runtime dir 0750 $USER_:$GROUP_" mode_is "$T/run" 750 "$USER_" "$GROUP_"
	check "umask $um: pidfile 0644" mode_is "$T/run/exfeedd.pid" 644
	check "umask $um: control socket 0600 $USER_" mode_is "$T/run/control.sock" 600 "$USER_"
	check "umask $um: writer socket 0600 $USER_" mode_is "$T/run/writer.sock" 600 "$USER_"
	# Anything else in the runtime dir (budget files, a fallback log): not world-accessible.
	check "umask $um: nothing else in the runtime dir is accessible by others" \
		sh -c "[ -z \"\$(find '$T/run' ! -name exfeedd.pid -perm /o=rwx)\" ]"
	check "umask $um: the log file is not world-readable" sh -c "[ -z \"\$(find '$T/exfeedd.log' -perm /o=rwx)\" ]"

	if [ "$(id -u)" -eq 0 ] && [ "$USER_" = nobody ]; then
		uid=$(id -u nobody)
		gid=$(getent group "$GROUP_" | cut -d: -f3)
		n=0
		for p in $(procs); do
			n=$((n + 1))
			# Uid: real effective saved filesystem; Gid: the same; Groups: supplementary
			check "umask $um: pid $p: Uid is $uid in all four fields" \
				awk -v u="$uid" '/^Uid:/ { exit !($2 == u && $3 == u && $4 == u && $5 == u) }' "/proc/$p/status"
			check "umask $um: pid $p: Gid is $gid in all four fields" \
				awk -v g="$gid" '/^Gid:/ { exit !($2 == g && $3 == g && $4 == g && $5 == g) }' "/proc/$p/status"
			check "umask $um: pid $p: no supplementary group 0" \
				awk '/^Groups:/ { for (i = 2; i <= NF; i++) if ($i == 0) exit 1 }' "/proc/$p/status"
			check "umask $um: pid $p: NoNewPrivs" grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$p/status"
			check "umask $um: pid $p: CapEff and CapPrm empty" \
				awk '/^Cap(Eff|Prm):/ && $2 != "0000000000000000" { bad = 1 } END { exit bad }' "/proc/$p/status"
			# Non-dumpable: the kernel hands the files in /proc/PID to root.
			check "umask $um: pid $p: not dumpable (/proc/$p/environ is root's)" \
				[ "$(stat -c %u "/proc/$p/environ")" -eq 0 ]
		done
		check "umask $um: 7 processes checked" [ "$n" -eq 7 ]
		# The daemon's own user cannot read a worker's memory.
		acc=$(worker_pid account 0)
		check "umask $um: $USER_ cannot read an account worker's /proc/PID/environ" \
			sh -c "! runuser -u '$USER_' -- cat /proc/$acc/environ >/dev/null 2>&1"
	fi
	check "umask $um: status works after all that" ctl status
	kill -TERM "$DAEMON_PID"
	check "umask $um: stops cleanly" wait_until 5 stopped_clean
	DAEMON_PID=
done

# With core_dumps = yes the processes are dumpable again (and so the check above means something).
if [ "$(id -u)" -eq 0 ] && [ "$USER_" = nobody ]; then
	sed -i "s/^\[daemon\]\$/[daemon]\ncore_dumps = yes/" "$T/exfeedd.conf"
	"$EXFEEDD" -c "$T/exfeedd.conf"
	wait_until 2 test -s "$T/run/exfeedd.pid"
	DAEMON_PID=$(cat "$T/run/exfeedd.pid")
	check "core_dumps = yes: workers ready" wait_until 5 all_ready 6
	acc=$(worker_pid account 0)
	check "core_dumps = yes: an account worker's /proc/PID/environ is its user's" \
		[ "$(stat -c %U "/proc/$acc/environ")" = "$USER_" ]
	kill -TERM "$DAEMON_PID"
	check "core_dumps = yes: stops cleanly" wait_until 5 stopped_clean
	DAEMON_PID=
	sed -i "/^core_dumps = yes\$/d" "$T/exfeedd.conf"

	# What the user can plant for the next root start.  The log file's
	# directory is the user's (as /run/exfeedd is for the fallback log):
	# a symlink there to a file of root's must not hand that file over.
	mkdir -p "$T/logs" && chown "$USER_" "$T/logs"
	echo "root's secret" > "$T/roots-file" && chmod 600 "$T/roots-file"
	runuser -u "$USER_" -- ln -s "$T/roots-file" "$T/logs/exfeedd.log"
	sed "s|^log = .*|log = $T/logs/exfeedd.log|" "$T/exfeedd.conf" > "$T/link.conf"
	"$EXFEEDD" -c "$T/link.conf" > "$T/link.out" 2>&1
	check "log file a symlink: the start refuses (exit 1)" [ $? -eq 1 ]
	check "... and says why" grep -q "cannot open log file $T/logs/exfeedd.log: it is a symbolic link (not followed)" "$T/link.out"
	check "... root's file is still root's, mode 0600, untouched" mode_is "$T/roots-file" "600 root"
	check "... and holds what it held" grep -qx "root's secret" "$T/roots-file"

	# A hard link to root's file there (made as root: with Debian's
	# fs.protected_hardlinks the user cannot) is not written or handed over.
	rm -f "$T/logs/exfeedd.log"
	if ln "$T/roots-file" "$T/logs/exfeedd.log" 2>/dev/null; then
		"$EXFEEDD" -c "$T/link.conf" > "$T/link.out" 2>&1
		check "log file a hard link: the start refuses (exit 1)" [ $? -eq 1 ]
		check "... and says why" grep -q "cannot open log file $T/logs/exfeedd.log: it has other names (hard links): not written" "$T/link.out"
		check "... root's file is still root's and unwritten" sh -c \
			"[ \"\$(stat -c '%a %U' '$T/roots-file')\" = '600 root' ] && [ \"\$(cat '$T/roots-file')\" = \"root's secret\" ]"
	fi

	# A descriptor the starting shell left open does not go on in the daemon.
	sh -c "exec 7<'$T/roots-file'; exec '$EXFEEDD' -c '$T/exfeedd.conf'"
	wait_until 2 test -s "$T/run/exfeedd.pid"
	DAEMON_PID=$(cat "$T/run/exfeedd.pid")
	check "inherited fd 7: workers ready" wait_until 5 all_ready 6
	check "inherited fd 7: no process of the daemon holds root's file" \
		sh -c "! ls -l /proc/$DAEMON_PID/fd \$(ps -o pid= --ppid $DAEMON_PID | sed 's|^ *|/proc/|; s|\$|/fd|') 2>/dev/null | grep -q roots-file"
	kill -TERM "$DAEMON_PID"
	check "inherited fd 7: stops cleanly" wait_until 5 stopped_clean
	DAEMON_PID=
fi

# Idle control clients cannot lock the operator out: 16 connections that
# never send a request are dropped after 10 s, and exfeedctl works again.
"$EXFEEDD" -c "$T/exfeedd.conf"
wait_until 2 test -s "$T/run/exfeedd.pid"
DAEMON_PID=$(cat "$T/run/exfeedd.pid")
check "idle clients: workers ready" wait_until 5 all_ready 6
python3 - "$T/run/control.sock" > "$T/idle.out" 2>&1 <<'PY' &
import socket, sys, time
socks = []
for _ in range(16):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
print("held 16", flush=True)
time.sleep(14)
closed = 0
for s in socks:
    s.settimeout(0.1)
    try:
        closed += s.recv(1) == b""
    except TimeoutError:
        pass                    # still open
    except OSError:
        closed += 1
print("closed by the daemon:", closed, flush=True)
PY
HOLDER=$!
wait_until 3 grep -q "held 16" "$T/idle.out"
check "idle clients: with 16 held, exfeedctl is refused" sh -c "! ctl status >/dev/null 2>&1"
check "idle clients: within 12 s exfeedctl works again" wait_until 12 ctl status
wait "$HOLDER"
check "idle clients: the daemon closed all 16" grep -q "closed by the daemon: 16" "$T/idle.out"
check "idle clients: logged why" grep -q "connected 10 s without a request; dropped" "$T/exfeedd.log"
kill -TERM "$DAEMON_PID"
check "idle clients: stops cleanly" wait_until 5 stopped_clean
DAEMON_PID=
finish
