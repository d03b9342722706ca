#!/bin/sh
# make install and uninstall (DESTDIR): what lands where, and an operator's
# edited configuration is never replaced or removed — the new sample goes
# beside it as exfeedd.conf.dist.
. "$top_srcdir/t/lib.sh"

: "${top_builddir:?run from make check}"
inst() { make -s -C "$top_builddir" "$1" DESTDIR="$T/inst" > "$T/$1.out" 2>&1; }
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
sysconfdir=$(sed -n 's/^sysconfdir = //p' "$top_builddir/Makefile" | sed "s|\${prefix}|$prefix|")
sbindir=$(sed -n 's/^sbindir = //p' "$top_builddir/Makefile" | sed "s|\${exec_prefix}|$prefix|")
conf="$T/inst$sysconfdir/exfeedd/exfeedd.conf"

check "make install" inst install
check "the sample configuration is installed as exfeedd.conf" cmp -s "$top_srcdir/etc/exfeedd.conf" "$conf"
check "... and no .dist beside it" [ ! -e "$conf.dist" ]
check "exfeedd in sbindir, exfeedctl in bindir" [ -x "$T/inst$sbindir/exfeedd" -a -x "$T/inst$prefix/bin/exfeedctl" ]
check "the init script names the installed binary and file" \
	grep -q "$sbindir/exfeedd" "$T/inst$sysconfdir/init.d/exfeedd"
check "the systemd unit names the installed binary" \
	grep -q "^ExecStart=$sbindir/exfeedd" "$T/inst$prefix/lib/systemd/system/exfeedd.service"
check "the logrotate snippet is in sysconfdir/logrotate.d" \
	cmp -s "$top_srcdir/etc/logrotate.d/exfeedd" "$T/inst$sysconfdir/logrotate.d/exfeedd"
check "... it rotates the daemon's own log directory and signals USR1" \
	sh -c "grep -q '^/var/log/exfeedd/\*.log {' '$T/inst$sysconfdir/logrotate.d/exfeedd' &&
	    grep -q 'kill -USR1' '$T/inst$sysconfdir/logrotate.d/exfeedd'"
if command -v logrotate >/dev/null 2>&1; then
	check "... logrotate -d reads it without error" \
	    sh -c "logrotate -d '$T/inst$sysconfdir/logrotate.d/exfeedd' 2>&1 | grep -qi '^error' && exit 1 || exit 0"
fi
datadir=$(sed -n 's/^datadir = //p' "$top_builddir/Makefile" | sed -e "s|\${datarootdir}|$prefix/share|" -e "s|\${prefix}|$prefix|")
check "the Kafka protobuf schema is installed as datadir/exfeedd/exfeedd.proto" \
	cmp -s "$top_srcdir/proto/exfeedd.proto" "$T/inst$datadir/exfeedd/exfeedd.proto"
check "the test simulator is not installed" sh -c "! find '$T/inst' -name 'exsim*' | grep -q ."

echo "rest_url = https://example.invalid  # the operator's edit" >> "$conf"
cp "$conf" "$T/edited"
check "make install again" inst install
check "again: the operator's file is kept as it was" cmp -s "$T/edited" "$conf"
check "again: the new sample is beside it as exfeedd.conf.dist" cmp -s "$top_srcdir/etc/exfeedd.conf" "$conf.dist"
check "again: make install says so" grep -q "kept $conf" "$T/install.out"

check "make uninstall" inst uninstall
check "uninstall keeps the edited file" cmp -s "$T/edited" "$conf"
check "uninstall leaves no other file" [ "$(find "$T/inst" -type f | wc -l)" -eq 1 ]
cp "$top_srcdir/etc/exfeedd.conf" "$conf"
check "make uninstall, the file still the sample" inst uninstall
check "... removes it: nothing left" [ "$(find "$T/inst" -type f | wc -l)" -eq 0 ]
finish
