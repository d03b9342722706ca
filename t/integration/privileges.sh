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
fi
finish
