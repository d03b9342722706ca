#!/bin/sh
# Acceptance (issue 10, item 10): the generated systemd unit runs exfeedd as
# its user with the usual sandboxing (ProtectSystem=strict, NoNewPrivileges,
# PrivateTmp, ProtectHome, an empty CapabilityBoundingSet, RestrictAddress-
# Families, a system call filter ...), `systemd-analyze verify` accepts it
# and `systemd-analyze security` rates its exposure at most 2.0 (1.4 when
# written; the unit before this was 6.2).  Without systemd-analyze the
# directives are still checked, then the test is skipped (77).
. "$top_srcdir/t/lib.sh"

UNIT="$top_builddir/etc/systemd/exfeedd.service"
check "the unit is generated" test -s "$UNIT"
check "the unit names configure's sbindir" grep -q "^ExecStart=$SBINDIR/exfeedd -f\$" "$UNIT"
# has KEY=VALUE: the line exactly, as systemd reads it
has() { grep -qx -- "$1" "$UNIT" || { echo "# missing: $1" >&2; return 1; }; }
for d in \
	"User=exfeedd" "Group=exfeedd" \
	"RuntimeDirectory=exfeedd" "RuntimeDirectoryMode=0750" "RuntimeDirectoryPreserve=yes" "UMask=0027" \
	"CapabilityBoundingSet=" "AmbientCapabilities=" "NoNewPrivileges=yes" "RestrictSUIDSGID=yes" \
	"ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "PrivateDevices=yes" \
	"ProtectKernelTunables=yes" "ProtectKernelModules=yes" "ProtectKernelLogs=yes" \
	"ProtectControlGroups=yes" "ProtectClock=yes" "ProtectHostname=yes" "ProtectProc=invisible" \
	"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" "RestrictNamespaces=yes" \
	"RestrictRealtime=yes" "LockPersonality=yes" "MemoryDenyWriteExecute=yes" \
	"SystemCallArchitectures=native" "SystemCallFilter=@system-service" \
	"SystemCallFilter=~@privileged" "SystemCallErrorNumber=EPERM" \
	"KillMode=process" "RestartPreventExitStatus=78"; do
	check "unit: $d" has "$d"
done
check "unit: no ReadWritePaths= (only the runtime directory is written)" sh -c "! grep -q '^ReadWritePaths=' '$UNIT'"
check "unit: runtime directory is [daemon] runtime_dir's default" \
	sh -c "'$EXFEEDD' -nv -c '$top_srcdir/etc/exfeedd.conf' | grep -qx 'runtime_dir = /run/exfeedd'"
check "unit: User= is [daemon] user's default" \
	sh -c "'$EXFEEDD' -nv -c '$top_srcdir/etc/exfeedd.conf' | grep -qx 'user = exfeedd'"

if ! command -v systemd-analyze > /dev/null 2>&1; then
	echo "# systemd-analyze is not installed (Debian: systemd): verify and security not run"
	[ "$FAILS" -eq 0 ] || finish
	echo "$PASSES passed, $FAILS failed; skipped: systemd-analyze"
	exit 77
fi
# verify wants the binary where ExecStart= says: point it at the build's.
mkdir "$T/unit"
sed "s|^\(Exec[A-Za-z]*=\)$SBINDIR/exfeedd|\1$EXFEEDD|" "$UNIT" > "$T/unit/exfeedd.service"
systemd-analyze verify --man=no "$T/unit/exfeedd.service" > "$T/verify.out" 2>&1
check "systemd-analyze verify: exit 0" [ $? -eq 0 ]
check "systemd-analyze verify: says nothing" sh -c "[ ! -s '$T/verify.out' ] || { cat '$T/verify.out'; false; }"
systemd-analyze security --offline=yes "$T/unit/exfeedd.service" > "$T/security.out" 2>&1
tail -n 1 "$T/security.out" | sed 's/^/# /'
check "systemd-analyze security: exposure at most 2.0" \
	sh -c "systemd-analyze security --offline=yes --threshold=20 '$T/unit/exfeedd.service' > /dev/null 2>&1"
finish
