#!/bin/sh
# Acceptance (issue 10, item 10): exfeedctl never takes a credential on its
# command line.  `account add --api-key VALUE` and the like are refused
# (exit 64) without repeating the value; a credentials file that others may
# read is refused (65); "-" reads standard input (both: the key's line, then
# the secret's), and what is stored decrypts to exactly what was given.
. "$top_srcdir/t/lib.sh"

pg_tests
DBTOOL="$top_builddir/t/dbtool"
CI=$(PGTMP_FAST=1 "$PGTMP" start "$PG" 2>"$T/pgtmp.err") || { cat "$T/pgtmp.err"; exit 1; }
q() { "$PGTMP" psql "$PG" -At -c "$1"; }

write_config "$T/exfeedd.conf"
sed -i "s|^conninfo = .*|conninfo = $CI|" "$T/exfeedd.conf"
ctl1() { "$EXFEEDCTL" -c "$T/exfeedd.conf" "$@"; }
ctl1 db migrate > /dev/null 2>&1 || { not_ok "db migrate"; finish; }

KEY=APIKEY-vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A
SECRET=APISECRET-NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j
ADD="account add --user 7 --exchange binance-futures"
count() { q 'SELECT count(*) FROM exchange_accounts'; }

# ------------------------------------------------- never on the command line
# refused ARGS...: exit 64, says why, and the secret is not in what it printed
refused() {
	what=$1; shift
	ctl1 $ADD "$@" > "$T/r.out" 2>&1
	rc=$?
	check "$what: exit 64" [ "$rc" -eq 64 ]
	check "$what: the output does not repeat the secret" sh -c "! grep -q -e '$SECRET' -e '$KEY' '$T/r.out'"
}
(umask 077 && echo "$KEY" > "$T/key")
refused "--api-secret VALUE" --api-key-file "$T/key" --api-secret "$SECRET"
check "--api-secret VALUE: says it is never taken on the command line" \
	grep -q "^exfeedctl: --api-secret: a credential is never taken on the command line" "$T/r.out"
check "--api-secret VALUE: names the ways that work" grep -q -- "--api-secret-file FILE, or give --api-secret-file -" "$T/r.out"
refused "--api-secret=VALUE (would be an abbreviated --api-secret-file)" --api-key-file "$T/key" "--api-secret=$SECRET"
refused "--api-key VALUE" --api-key "$KEY" --api-secret-file "$T/key"
refused "--secret=VALUE" --api-key-file "$T/key" "--secret=$SECRET"
refused "--api-sec=VALUE (ambiguous)" --api-key-file "$T/key" "--api-sec=$SECRET"
refused "an unknown option with a value" --api-key-file "$T/key" "--password=$SECRET"
check "refused: nothing was added" [ "$(count)" -eq 0 ]
refused "a bare --api-secret at the end" --api-key-file "$T/key" --api-secret
check "a bare --api-secret: the credential refusal" \
	grep -q "^exfeedctl: --api-secret: a credential is never taken on the command line" "$T/r.out"

# Every command's options: our message, with the command's name and the
# option's, never its value nor anything after "=" (getopt's own would).
# unrepeated WHAT MESSAGE ARGS...: exit 64, MESSAGE said, no secret shown.
unrepeated() {
	what=$1; msg=$2; shift 2
	ctl1 "$@" > "$T/u.out" 2>&1
	rc=$?
	check "$what: exit 64" [ "$rc" -eq 64 ]
	check "$what: says \"$msg\"" grep -q -F -x -- "$msg" "$T/u.out"
	check "$what: the secret is not repeated" sh -c "! grep -q -e '$SECRET' -e '=' '$T/u.out'"
}
unrepeated "--api-secret=V before the command" "exfeedctl: unknown or ambiguous option --api-secret" \
    "--api-secret=$SECRET" account list
unrepeated "account list --api-secret=V" "exfeedctl account list: unknown or ambiguous option --api-secret" \
    account list "--api-secret=$SECRET"
unrepeated "account disable 1 --api-secret=V" \
    "exfeedctl account disable: unknown or ambiguous option --api-secret" account disable 1 "--api-secret=$SECRET"
unrepeated "rotate-key --api-secret=V" "exfeedctl rotate-key: unknown or ambiguous option --api-secret" \
    rotate-key "--api-secret=$SECRET"
unrepeated "account list --json=V" "exfeedctl account list: option --json takes no value" \
    account list "--json=$SECRET"
unrepeated "account add --user 7 -kV: the option, not the previous argument" \
    "exfeedctl account add: unknown option -k" account add --user 7 "-k$SECRET"
unrepeated "-kV before the command" "exfeedctl: unknown option -k" "-k$SECRET" status
unrepeated "account add --label at the end" "exfeedctl account add: option --label needs a value" \
    account add --user 7 --label

# ------------------------------------------------------- files and their mode
(umask 022 && echo "$SECRET" > "$T/secret.644")
ctl1 $ADD --api-key-file "$T/key" --api-secret-file "$T/secret.644" > "$T/m.out" 2>&1
check "a secret file others can read: exit 65" [ $? -eq 65 ]
check "a secret file others can read: says so, with the fix" \
	grep -q "API secret: $T/secret.644 is accessible by others (mode 0644); chmod 600 it" "$T/m.out"
(umask 077 && echo "$SECRET" > "$T/secret")
chmod 620 "$T/secret"
ctl1 $ADD --api-key-file "$T/key" --api-secret-file "$T/secret" > "$T/m.out" 2>&1
check "a secret file its group can write: exit 65" [ $? -eq 65 ]
chmod 640 "$T/secret"
id1=$(ctl1 $ADD --api-key-file "$T/key" --api-secret-file "$T/secret" 2> "$T/m.err")
check "a file of mode 0640 (a group that runs exfeedctl): added" [ $? -eq 0 -a -n "$id1" ]

# ------------------------------------------------------------ standard input
id2=$(printf '%s\n%s\n' "$KEY-2" "$SECRET-2" | ctl1 $ADD --api-key-file - --api-secret-file - 2> "$T/s.err")
check "both on standard input (key's line, then secret's): added" [ $? -eq 0 -a -n "$id2" ]
id3=$(printf '%s\r\n' "$SECRET-3" | ctl1 $ADD --api-key-file "$T/key" --api-secret-file - 2> "$T/s.err")
check "the secret alone on standard input (CRLF): added" [ $? -eq 0 -a -n "$id3" ]
printf '%s\n' "$KEY" | ctl1 $ADD --api-key-file - --api-secret-file - > "$T/s.out" 2>&1
check "both from standard input but one line: exit 65" [ $? -eq 65 ]
check "both from standard input but one line: says the key's line comes first" \
	grep -q "API secret: standard input has no line left for it (with both files \"-\", the key is the first line" "$T/s.out"
printf '%s\n%s\n%s\n' "$KEY" "$SECRET" extra | ctl1 $ADD --api-key-file - --api-secret-file - > "$T/s.out" 2>&1
check "three lines on standard input for two credentials: exit 65" [ $? -eq 65 ]
printf '\n' | ctl1 $ADD --api-key-file "$T/key" --api-secret-file - > "$T/s.out" 2>&1
check "an empty line on standard input: exit 65, said" sh -c "[ $? -eq 65 ] && grep -q 'API secret: its line on standard input is empty' '$T/s.out'"
check "three accounts were added in all" [ "$(count)" -eq 3 ]

# What was stored opens to exactly what was given.
"$DBTOOL" "$CI" "$T/master.key" load 0 1 > "$T/load.out" 2>&1
check "file: stored key and secret are the file's line" grep -q "^id=$id1 .* key=$KEY secret=$SECRET " "$T/load.out"
check "stdin: stored key and secret are the two lines" grep -q "^id=$id2 .* key=$KEY-2 secret=$SECRET-2 " "$T/load.out"
check "stdin, CRLF: the CR is not part of the secret" grep -q "^id=$id3 .* key=$KEY secret=$SECRET-3 " "$T/load.out"

# Typed at a terminal: prompted, not echoed (script(1) gives it a terminal).
if command -v script > /dev/null 2>&1; then
	{ sleep 1; printf '%s\n' "$SECRET-4"; sleep 1; } | script -qec \
	    "'$EXFEEDCTL' -c '$T/exfeedd.conf' $ADD --api-key-file '$T/key' --api-secret-file -" \
	    /dev/null > "$T/tty.out" 2>&1
	check "at a terminal: a prompt" grep -q "API secret (not echoed): " "$T/tty.out"
	check "at a terminal: the secret is not echoed" sh -c "! grep -q -- '$SECRET-4' '$T/tty.out'"
	check "at a terminal: added" [ "$(count)" -eq 4 ]
	check "at a terminal: stored as typed" sh -c "'$DBTOOL' '$CI' '$T/master.key' load 0 1 | grep -q 'secret=$SECRET-4 '"
else
	echo "# script(1) is not installed: the terminal prompt is not tested"
fi

# --label and --reason: one line of printable text, at most 200 bytes; and
# whatever older rows hold is printed escaped, never raw.
esc=$(printf '\033')
n0=$(count)
for bad in "$(printf 'x\n     99          7 binance-futures  fake')" "$(printf 'red%s[31m' "$esc")" "$(printf 'del\177')"; do
	ctl1 $ADD --api-key-file "$T/key" --api-secret-file "$T/secret" --label "$bad" > "$T/l.out" 2>&1
	check "--label with a control byte: exit 64" [ $? -eq 64 ]
	check "... says why" grep -q "exfeedctl: --label: holds a control character" "$T/l.out"
done
ctl1 $ADD --api-key-file "$T/key" --api-secret-file "$T/secret" --label "$(printf '%0201d' 0)" > "$T/l.out" 2>&1
check "--label of 201 bytes: exit 64, said" sh -c "[ $? -eq 64 ] && grep -q 'exfeedctl: --label: 201 bytes, at most 200' '$T/l.out'"
check "... nothing was added" [ "$(count)" -eq "$n0" ]
ctl1 account disable "$id1" --reason "$(printf 'why%s]0;title\007' "$esc")" > "$T/l.out" 2>&1
check "--reason with ESC and BEL: exit 64, said" sh -c "[ $? -eq 64 ] && grep -q 'exfeedctl: --reason: holds a control character' '$T/l.out'"
ctl1 account disable "$id1" --reason "$(printf '%0201d' 0)" > "$T/l.out" 2>&1
check "--reason of 201 bytes: exit 64" [ $? -eq 64 ]
id5=$(ctl1 $ADD --api-key-file "$T/key" --api-secret-file "$T/secret" --label "Zürich desk" 2>/dev/null)
check "a UTF-8 label: added" [ -n "$id5" ]
q "UPDATE exchange_accounts SET label = E'old\\n  999 fake row\\033[2J', deactivated_reason = E'r\\tx\\\\' WHERE id = $id1" > /dev/null
ctl1 account list > "$T/list.out" 2>&1
check "account list: an old row's control bytes are not printed raw" sh -c "! grep -q '$esc' '$T/list.out'"
check "... one line per account (a newline cannot fake a row)" [ "$(wc -l < "$T/list.out")" -eq $(( $(count) + 1 )) ]
check "... shown escaped" grep -qF 'old\n  999 fake row\x1b[2J' "$T/list.out"
check "... the reason too" grep -qF 'r\tx\\' "$T/list.out"
check "... UTF-8 shown as it is" grep -q "Zürich desk" "$T/list.out"
ctl1 account list --json > "$T/list.json" 2>&1
check "account list --json: valid JSON, the label as stored" /usr/bin/python3 -c "
import json,sys
rows = json.load(open(sys.argv[1]))
sys.exit(0 if any(r['label'] == 'old\n  999 fake row\x1b[2J' for r in rows) else 1)" "$T/list.json"

check "the usage names standard input" sh -c "'$EXFEEDCTL' --help | grep -q 'FILE \"-\": standard input'"
finish
