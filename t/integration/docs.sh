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
# Keys may hold dots ([kafka] topic.order); a man page entry ending in a dot
# is a family of keys with no fixed names ([kafka] rdkafka.PROPERTY).
awk '/^\[/ { s = substr($0, 2, length($0) - 2) } /^[a-z_.]+ *=/ { sub(/ *=.*/, ""); print s "." $0 }' \
    "$top_srcdir/etc/exfeedd.conf" | sort > "$T/sample"
sed -n -e 's/^\.Ss \[\(.*\)\]$/S \1/p' -e 's/^\.It Cm \([a-z_.]*\).*/K \1/p' \
    "$top_srcdir/man/exfeedd.conf.5" | awk '$1 == "S" { s = $2 } $1 == "K" && s != "" && $2 !~ /\.$/ { print s "." $2 }' |
    sed 's/^exchange\.NAME\./exchange.binance-futures./' | sort > "$T/man"

check "key table has keys ($(wc -l < "$T/code"))" [ "$(wc -l < "$T/code")" -gt 20 ]
check "key table == sample config" diff -u "$T/code" "$T/sample"
check "key table == exfeedd.conf(5)" diff -u "$T/code" "$T/man"
# Help asked for is an answer, not an error; a wrong option is an error.
for prog in "$EXFEEDD" "$EXFEEDCTL"; do
	name=$(basename "$prog")
	"$prog" --help > "$T/help.out" 2> "$T/help.err"
	check "$name --help: exit 0, the usage on stdout" \
		sh -c "[ $? -eq 0 ] && grep -q '^usage: $name' '$T/help.out' && [ ! -s '$T/help.err' ]"
	"$prog" -h > /dev/null 2>&1
	check "$name -h: exit 0" [ $? -eq 0 ]
	"$prog" --no-such-option > "$T/help.out" 2> "$T/help.err"
	check "$name --no-such-option: exit 64, the usage on stderr" \
		sh -c "[ $? -eq 64 ] && grep -q '^usage: $name' '$T/help.err' && [ ! -s '$T/help.out' ]"
done
check "init script is valid sh" sh -n "$top_builddir/etc/init.d/exfeedd"
check "init script names configure's paths" grep -q "^DAEMON=$SBINDIR/exfeedd\$" "$top_builddir/etc/init.d/exfeedd"
check "systemd unit reloads with HUP" grep -q '^ExecReload=.*kill -HUP \$MAINPID' "$top_builddir/etc/systemd/exfeedd.service"
finish
