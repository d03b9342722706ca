#!/bin/sh
# Acceptance: the man pages are mandoc -Tlint clean, and the code's key table,
# the sample config and exfeedd.conf(5) name exactly the same keys.
. "$top_srcdir/t/lib.sh"

for page in exfeedd.8 exfeedd.conf.5 exfeedctl.8; do
	if [ -z "${MANDOC:-}" ]; then
		not_ok "mandoc is not installed (tools/check installs it)"
		continue
	fi
	"$MANDOC" -Tlint -W warning "$top_srcdir/man/$page" > "$T/lint" 2>&1
	check "mandoc -Tlint -W warning man/$page is clean" sh -c "[ ! -s '$T/lint' ] || { cat '$T/lint'; false; }"
done

# section.key lists, sorted
"$EXFEEDD" -nv -c "$top_srcdir/etc/exfeedd.conf" |
    awk '/^\[/ { s = substr($0, 2, length($0) - 2) } / =( |$)/ { print s "." $1 }' | sort > "$T/code"
awk '/^\[/ { s = substr($0, 2, length($0) - 2) } /^[a-z_]+ *=/ { sub(/ *=.*/, ""); print s "." $0 }' \
    "$top_srcdir/etc/exfeedd.conf" | sort > "$T/sample"
sed -n -e 's/^\.Ss \[\(.*\)\]$/S \1/p' -e 's/^\.It Cm \([a-z_]*\).*/K \1/p' \
    "$top_srcdir/man/exfeedd.conf.5" | awk '$1 == "S" { s = $2 } $1 == "K" && s != "" { print s "." $2 }' |
    sed 's/^exchange\.NAME\./exchange.binance-futures./' | sort > "$T/man"

check "key table has keys ($(wc -l < "$T/code"))" [ "$(wc -l < "$T/code")" -gt 20 ]
check "key table == sample config" diff -u "$T/code" "$T/sample"
check "key table == exfeedd.conf(5)" diff -u "$T/code" "$T/man"
check "init script is valid sh" sh -n "$top_srcdir/etc/init.d/exfeedd"
check "systemd unit reloads with HUP" grep -q '^ExecReload=.*kill -HUP \$MAINPID' "$top_srcdir/etc/systemd/exfeedd.service"
finish
