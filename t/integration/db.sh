#!/bin/sh
# Acceptance: the schema migrations and their version check, the master key
# file, and the sealed credentials of exchange_accounts, on a throwaway
# PostgreSQL (tools/pgtmp): exfeedctl db/keygen/account/rotate-key, the
# account workers' db.c calls (through t/dbtool), and the daemon's refusal of
# a key file that others can read.
. "$top_srcdir/t/lib.sh"

pg_tests
DBTOOL="$top_builddir/t/dbtool"

CI=$(PGTMP_FAST=1 "$PGTMP" start "$PG" 2>"$T/pgtmp.err")
check "pgtmp start prints one conninfo line" [ "$(echo "$CI" | wc -l)" -eq 1 ]
case $CI in
"host=$PG/sock port=5432 dbname=exfeedd user=exfeedd") ok "pgtmp conninfo names the socket directory" ;;
*) not_ok "pgtmp conninfo: $CI"; cat "$T/pgtmp.err"; finish ;;
esac
psql() { "$PGTMP" psql "$PG" -At "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
q() { psql -c "$1"; }
CI_OTHER=$(echo "$CI" | sed 's/dbname=exfeedd/dbname=other/')
CI_RACE=$(echo "$CI" | sed 's/dbname=exfeedd/dbname=race/')
q "CREATE DATABASE other" >/dev/null
q "CREATE DATABASE race" >/dev/null

# ------------------------------------------------------------------ keygen
"$EXFEEDCTL" keygen "$T/k1" > "$T/keygen.out" 2>&1
check "keygen: exit 0" [ $? -eq 0 ]
check "keygen: 32 bytes" [ "$(stat -c %s "$T/k1")" -eq 32 ]
check "keygen: mode 0600" [ "$(stat -c %a "$T/k1")" = 600 ]
cp "$T/k1" "$T/k1.copy"
"$EXFEEDCTL" keygen "$T/k1" > "$T/keygen2.out" 2>&1
rc=$?
check "keygen refuses to overwrite: exit 1" [ $rc -eq 1 ]
check "keygen refuses to overwrite: says so" grep -q "k1 already exists; not overwriting a key" "$T/keygen2.out"
check "keygen refuses to overwrite: the key is unchanged" cmp -s "$T/k1" "$T/k1.copy"

conf() {	# conf FILE KEYFILE [CONNINFO]
	{
		echo "# exfeedctl's view: the database and the key"
		echo "[database]"
		echo "conninfo = ${3:-$CI}"
		echo "[userdata]"
		echo "reconcile_interval = 2m"
		echo "[crypto]"
		echo "key_file = $2"
	} > "$1"
}
conf "$T/c1.conf" "$T/k1"
conf "$T/other.conf" "$T/k1" "$CI_OTHER"
conf "$T/race.conf" "$T/k1" "$CI_RACE"
ctl1() { "$EXFEEDCTL" -c "$T/c1.conf" "$@"; }

# -------------------------------------------------------------- migrations
# The migrations this tree ships: sql/NNN_name.sql, numbered from 1.
MIGS=$(cd "$top_srcdir/sql" && ls [0-9][0-9][0-9]_*.sql | sed 's/\.sql$//')
LATEST=$(echo "$MIGS" | wc -l)
ROWS=$(echo "$MIGS" | sed 's/^0*\([0-9]*\)_/\1|&/')
ctl1 db status > "$T/st0.out" 2>&1
check "db status on an empty database: exit 1" [ $? -eq 1 ]
check "db status on an empty database: version 0, names the command" \
    grep -q "^run: exfeedctl db migrate" "$T/st0.out"
check "db status lists the pending migration" grep -q "^pending: 001_initial" "$T/st0.out"
"$DBTOOL" "$CI" - schema > "$T/sc0.out"
check "db_schema_check without schema_migrations: refuses, version 0" \
    grep -qx 'database schema is at version 0, this exfeedd needs '"$LATEST"': run `exfeedctl db migrate`' "$T/sc0.out"

ctl1 db migrate > "$T/mig1.out" 2>&1
check "db migrate: exit 0" [ $? -eq 0 ]
check "db migrate: says what it applied" [ "$(sed -n 's/^applied //p' "$T/mig1.out")" = "$MIGS" ]
check "db migrate: schema_migrations holds every version, 1 to $LATEST" \
    [ "$(q 'SELECT version, name FROM schema_migrations ORDER BY version')" = "$ROWS" ]
check "db migrate: every table exists" [ "$(q "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('exchange_accounts', 'orders', 'algo_orders', 'fills', 'positions', 'balances', 'margin_calls', 'account_config', 'event_log')")" -eq 9 ]
check "db migrate: the partial index on listen_key_expires_at" \
    [ "$(q "SELECT count(*) FROM pg_indexes WHERE indexname = 'exchange_accounts_listen_key_expiry' AND indexdef LIKE '%WHERE%'")" -eq 1 ]
ctl1 db migrate > "$T/mig2.out" 2>&1
check "db migrate again: exit 0" [ $? -eq 0 ]
check "db migrate again: nothing to do" grep -qx "schema is at version $LATEST, nothing to do" "$T/mig2.out"
ctl1 db status > "$T/st1.out" 2>&1
check "db status when current: exit 0" [ $? -eq 0 ]
check "db status when current: up to date" grep -qx "up to date" "$T/st1.out"
check "db status --json" /usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["version"] == d["latest"] == int(sys.argv[2]) and d["pending"] == [], d
assert d["event_log"]["partitions"][-1]["name"] == "event_log_default", d' "$(ctl1 --json db status)" "$LATEST"
check "db_schema_check when current: passes" [ "$("$DBTOOL" "$CI" - schema)" = "schema ok" ]

# A database whose schema_migrations says 0.
psql -d other -c "CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); INSERT INTO schema_migrations VALUES (0, 'none')" >/dev/null
"$EXFEEDCTL" -c "$T/other.conf" db status > "$T/st2.out" 2>&1
check "db status at version 0: exit 1" [ $? -eq 1 ]
check "db status at version 0: says so and names the command" \
    sh -c "grep -q '^schema version 0, this exfeedctl knows up to $LATEST' '$T/st2.out' && grep -qx 'run: exfeedctl db migrate' '$T/st2.out'"
"$DBTOOL" "$CI_OTHER" - schema > "$T/sc2.out"
check "db_schema_check at version 0: refuses, naming the command" \
    grep -qx 'database schema is at version 0, this exfeedd needs '"$LATEST"': run `exfeedctl db migrate`' "$T/sc2.out"
"$EXFEEDCTL" -c "$T/other.conf" account list > "$T/unmig.out" 2>&1
check "account commands refuse an old schema: exit 69" [ $? -eq 69 ]
check "account commands refuse an old schema: name the command" grep -q 'run `exfeedctl db migrate`' "$T/unmig.out"

# Two migrators at once: the advisory lock makes them take turns.
"$EXFEEDCTL" -c "$T/race.conf" db migrate > "$T/race1.out" 2>&1 &
p1=$!
"$EXFEEDCTL" -c "$T/race.conf" db migrate > "$T/race2.out" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
check "two migrators at once: both exit 0" [ $r1 -eq 0 -a $r2 -eq 0 ]
check "two migrators at once: the migration is applied once" \
    [ "$(cat "$T/race1.out" "$T/race2.out" | grep -c '^applied 001_initial$')" -eq 1 ]

# ---------------------------------------------------------------- accounts
for i in 1 2 3 4; do
	printf 'APIKEY-%s-vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A\n' $i > "$T/key$i"
	printf 'APISECRET-%s-NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j' $i > "$T/secret$i"
done
chmod 600 "$T"/key? "$T"/secret?	# others may not read a credentials file (exfeedctl refuses)
ids=
for i in 1 2 3 4; do
	id=$(ctl1 account add --user $((100 + i)) --exchange binance-futures \
	    --api-key-file "$T/key$i" --api-secret-file "$T/secret$i" --label "acct $i" 2>"$T/add$i.err")
	check "account add $i: exit 0, the id alone on stdout" [ $? -eq 0 -a -n "$id" ]
	ids="$ids $id"
done
set -- $ids
A1=$1 A2=$2 A3=$3 A4=$4
check "account add: tells the operator to reload" grep -q 'run `exfeedctl reload` to apply now (otherwise within \[userdata\] reconcile_interval, 2m)' "$T/add1.err"
check "account add: ids are distinct rows" [ "$(q 'SELECT count(DISTINCT id) FROM exchange_accounts')" -eq 4 ]
check "account add: user, exchange, label stored" [ "$(q "SELECT user_id, exchange, label FROM exchange_accounts WHERE id = $A2")" = "102|binance-futures|acct 2" ]
check "account add: no plaintext in the table" [ "$(q "SELECT count(*) FROM exchange_accounts WHERE position(convert_to('APIKEY-', 'UTF8') IN api_key_encrypted) > 0 OR position(convert_to('APISECRET-', 'UTF8') IN api_secret_encrypted) > 0")" -eq 0 ]
check "account add: sealed values are version 1, nonce, ciphertext, tag" \
    [ "$(q "SELECT length(api_key_encrypted) = 29 + $(head -n1 "$T/key1" | tr -d '\n' | wc -c) AND get_byte(api_key_encrypted, 0) = 1 FROM exchange_accounts WHERE id = $A1")" = t ]

: > "$T/empty"
printf 'one\ntwo\n' > "$T/twolines"
chmod 600 "$T/empty" "$T/twolines"
add_bad() {	# add_bad DESC STATUS PATTERN ARGS...
	desc=$1 want=$2 pat=$3; shift 3
	ctl1 account add "$@" > "$T/bad.out" 2>&1
	got=$?
	if [ $got -eq "$want" ] && grep -q -- "$pat" "$T/bad.out"; then
		ok "account add refuses $desc (exit $want)"
	else
		not_ok "account add refuses $desc (exit $got, wanted $want)"; cat "$T/bad.out"
	fi
}
add_bad "an empty key file" 65 "API key: $T/empty is empty" --user 1 --exchange okx --api-key-file "$T/empty" --api-secret-file "$T/secret1"
add_bad "a secret file of two lines" 65 "API secret: $T/twolines holds more than one line" --user 1 --exchange okx --api-key-file "$T/key1" --api-secret-file "$T/twolines"
add_bad "a missing file" 65 "cannot open $T/none" --user 1 --exchange okx --api-key-file "$T/none" --api-secret-file "$T/secret1"
add_bad "an unknown exchange" 64 'not one of binance-futures, binance-spot, bybit, okx' --user 1 --exchange kraken --api-key-file "$T/key1" --api-secret-file "$T/secret1"
add_bad "a missing --user" 64 'needs --user' --exchange okx --api-key-file "$T/key1" --api-secret-file "$T/secret1"
check "refused adds added nothing" [ "$(q 'SELECT count(*) FROM exchange_accounts')" -eq 4 ]

ctl1 account list > "$T/list.out" 2>&1
check "account list: exit 0" [ $? -eq 0 ]
check "account list: a header and four rows" [ "$(wc -l < "$T/list.out")" -eq 5 ]
check "account list: the row of an account" grep -Eq "^ +$A3 +103 binance-futures +acct 3 +yes +- " "$T/list.out"
ctl1 account list --json > "$T/list.json" 2>&1
check "account list --json: valid, four accounts" /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 4 and d[0]["user_id"] == 101 and d[0]["is_active"] is True and d[0]["label"] == "acct 1"
assert set(d[0]) == {"id", "user_id", "exchange", "label", "is_active", "deactivated_reason", "listen_key_expires_at", "created_at"}' "$T/list.json"
no_secrets() {
	! grep -q -e APIKEY -e APISECRET -e vmPUZE6 -e NhqPtmd "$@"
}
check "account list prints no key and no secret" no_secrets "$T/list.out" "$T/list.json" "$T"/add*.err

"$DBTOOL" "$CI" "$T/k1" load 0 1 > "$T/load.out" 2>&1
check "db_accounts_load: four active accounts" grep -qx "4 accounts" "$T/load.out"
check "db_accounts_load: opens key and secret" grep -q "^id=$A1 user=101 exchange=binance-futures mode=futures undecryptable=no key=APIKEY-1-vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A secret=APISECRET-1-NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j listen=- expires=- last=0$" "$T/load.out"
"$DBTOOL" "$CI" "$T/k1" load 1 2 > "$T/load12.out" 2>&1
check "db_accounts_load: shard 1 of 2 holds the odd ids" /usr/bin/python3 -c '
import re, sys
ids = [int(m) for m in re.findall(r"^id=(\d+)", open(sys.argv[1]).read(), re.M)]
want = [int(x) for x in sys.argv[2:] if int(x) % 2 == 1]
assert ids == want, (ids, want)' "$T/load12.out" $A1 $A2 $A3 $A4

ctl1 account disable "$A2" --reason "operator test" > "$T/dis.out" 2>&1
check "account disable: exit 0" [ $? -eq 0 ]
check "account disable: row inactive with the reason" [ "$(q "SELECT is_active, deactivated_reason FROM exchange_accounts WHERE id = $A2")" = "f|operator test" ]
check "account disable: tells the operator to reload" grep -q 'exfeedctl reload' "$T/dis.out"
check "account list shows the disabled account" sh -c "'$EXFEEDCTL' -c '$T/c1.conf' account list | grep -Eq '^ +$A2 .* no +.*operator test\$'"
check "db_accounts_load skips the disabled account" sh -c "'$DBTOOL' '$CI' '$T/k1' load 0 1 | grep -qx '3 accounts'"
ctl1 account disable "$A4" > /dev/null 2>&1
check "account disable without --reason: the default reason" [ "$(q "SELECT deactivated_reason FROM exchange_accounts WHERE id = $A4")" = "disabled by operator" ]
ctl1 account enable "$A2" > /dev/null 2>&1
check "account enable: active again, reason cleared" [ "$(q "SELECT is_active, deactivated_reason IS NULL FROM exchange_accounts WHERE id = $A2")" = "t|t" ]
ctl1 account enable "$A4" > /dev/null 2>&1
q "INSERT INTO balances VALUES ($A3, 'USDT', 1, 1, 0, 'DEPOSIT', 1)" > /dev/null
ctl1 account remove "$A3" > "$T/rm.out" 2>&1
check "account remove: exit 0" [ $? -eq 0 ]
check "account remove: the row and its balances are gone" [ "$(q "SELECT (SELECT count(*) FROM exchange_accounts WHERE id = $A3) + (SELECT count(*) FROM balances WHERE account_id = $A3)")" -eq 0 ]
ctl1 account remove "$A3" > "$T/rm2.out" 2>&1
check "account remove of an unknown id: exit 65" [ $? -eq 65 ]
check "account remove of an unknown id: says so" grep -q "no account $A3" "$T/rm2.out"
ctl1 account enable 999999 > /dev/null 2>&1
check "account enable of an unknown id: exit 65" [ $? -eq 65 ]
ctl1 account disable abc > /dev/null 2>&1
check "account disable of a non-number: exit 64" [ $? -eq 64 ]

# ------------------------------------------------------------- listen keys
now_ms=$(( $(date +%s) * 1000 ))
check "set_listen_key stores a sealed key" [ "$("$DBTOOL" "$CI" "$T/k1" setlk "$A1" LK-one-pGs3xSVzYJ $((now_ms + 3600000)))" = "rc=0" ]
check "the listen key is not stored in the clear" [ "$(q "SELECT position(convert_to('LK-one', 'UTF8') IN listen_key_encrypted) FROM exchange_accounts WHERE id = $A1")" -eq 0 ]
check "db_accounts_load opens the listen key" sh -c "'$DBTOOL' '$CI' '$T/k1' load 0 1 | grep -q '^id=$A1 .* listen=LK-one-pGs3xSVzYJ expires=set'"
check "account list shows the listen key expiry, not the key" sh -c "'$EXFEEDCTL' -c '$T/c1.conf' account list > '$T/list2.out' && grep -Eq '^ +$A1 .* yes +20[0-9-]+T[0-9:]+Z' '$T/list2.out' && ! grep -q LK-one '$T/list2.out'"
ctl1 account check "$A1" > "$T/chk1.out" 2>&1
check "account check: three values open" [ $? -eq 0 ] 
check "account check: says ok" grep -q "^account $A1: ok (3 values decrypt with $T/k1)" "$T/chk1.out"
"$DBTOOL" "$CI" "$T/k1" setlk "$A4" LK-four $((now_ms - 1000)) > /dev/null
check "db_accounts_load drops an expired listen key" sh -c "'$DBTOOL' '$CI' '$T/k1' load 0 1 | grep -q '^id=$A4 .* listen=- expires=-'"
check "set_listen_key NULL clears it" sh -c "[ \"\$('$DBTOOL' '$CI' '$T/k1' setlk '$A4' - 0)\" = rc=0 ] && [ \"\$(\"$PGTMP\" psql '$PG' -At -c 'SELECT listen_key_encrypted IS NULL AND listen_key_expires_at IS NULL FROM exchange_accounts WHERE id = $A4')\" = t ]"
check "set_listen_key of an unknown account: 1" [ "$("$DBTOOL" "$CI" "$T/k1" setlk 999999 LK 1)" = "rc=1" ]

# ------------------------------------------------- ciphertexts bound to their place
q "UPDATE exchange_accounts SET api_key_encrypted = (SELECT api_key_encrypted FROM exchange_accounts WHERE id = $A1) WHERE id = $A2" > /dev/null
ctl1 account check "$A2" > "$T/chk2.out" 2>&1
check "api_key copied from another row: account check exit 65" [ $? -eq 65 ]
check "api_key copied from another row: names the field" grep -qx "account $A2: api_key does not decrypt with $T/k1" "$T/chk2.out"
check "the row it came from still opens" quiet ctl1 account check "$A1"
q "UPDATE exchange_accounts SET api_secret_encrypted = api_key_encrypted WHERE id = $A4" > /dev/null
ctl1 account check "$A4" > "$T/chk4.out" 2>&1
check "api_key copied into api_secret: names api_secret" grep -qx "account $A4: api_secret does not decrypt with $T/k1" "$T/chk4.out"
ctl1 account check > "$T/chkall.out" 2>&1
check "account check of all accounts: exit 65, one line each" [ $? -eq 65 -a "$(wc -l < "$T/chkall.out")" -eq 3 ]
"$DBTOOL" "$CI" "$T/k1" load 0 1 > "$T/load3.out"
check "db_accounts_load flags the undecryptable accounts, with no credential" \
    sh -c "grep -q '^id=$A2 .* undecryptable=api_key key=- secret=- listen=-' '$T/load3.out' && grep -q '^id=$A4 .* undecryptable=api_secret key=- secret=-' '$T/load3.out'"
check "db_account_quarantine: rc 0" [ "$("$DBTOOL" "$CI" - quarantine "$A2" "credentials do not decrypt with the current key")" = "rc=0" ]
check "db_account_quarantine: inactive with the reason" [ "$(q "SELECT is_active, deactivated_reason FROM exchange_accounts WHERE id = $A2")" = "f|credentials do not decrypt with the current key" ]
check "db_account_quarantine of an unknown account: 1" [ "$("$DBTOOL" "$CI" - quarantine 999999 x)" = "rc=1" ]

# -------------------------------------------------------------- rotate-key
"$EXFEEDCTL" keygen "$T/k2" > /dev/null
conf "$T/c2.conf" "$T/k2"
before=$(q "SELECT md5(string_agg(api_key_encrypted::text || api_secret_encrypted::text, ',' ORDER BY id)) FROM exchange_accounts")
ctl1 rotate-key --new-key-file "$T/k2" > "$T/rot0.out" 2>&1
check "rotate-key with an undecryptable value: exit 65" [ $? -eq 65 ]
check "rotate-key with an undecryptable value: names account and field" \
    grep -q "rotate-key: account $A2: api_key does not decrypt with the current key; nothing was changed" "$T/rot0.out"
check "rotate-key with an undecryptable value: nothing changed" \
    [ "$(q "SELECT md5(string_agg(api_key_encrypted::text || api_secret_encrypted::text, ',' ORDER BY id)) FROM exchange_accounts")" = "$before" ]
ctl1 account remove "$A2" > /dev/null 2>&1
ctl1 account remove "$A4" > /dev/null 2>&1
ctl1 rotate-key --new-key-file "$T/k1" > "$T/rot1.out" 2>&1
check "rotate-key to the same key: exit 78" [ $? -eq 78 ]
cp "$T/k2" "$T/k2open" && chmod 644 "$T/k2open"
ctl1 rotate-key --new-key-file "$T/k2open" > "$T/rot2.out" 2>&1
check "rotate-key to a key others can read: exit 78" [ $? -eq 78 ]
check "rotate-key to a key others can read: says why" grep -q "k2open is readable by group or others (mode 0644); chmod 600 it" "$T/rot2.out"
ctl1 rotate-key --new-key-file "$T/k2" > "$T/rot.out" 2>&1
check "rotate-key: exit 0" [ $? -eq 0 ]
check "rotate-key: counts the values (key, secret, listen key)" grep -qx "re-encrypted 3 values of 1 account with the key in $T/k2" "$T/rot.out"
check "rotate-key: tells the operator what to do next" grep -q "now point \[crypto\] key_file at $T/k2" "$T/rot.out"
check "after rotate-key: the new key opens everything" quiet "$EXFEEDCTL" -c "$T/c2.conf" account check "$A1"
ctl1 account check "$A1" > /dev/null 2>&1
check "after rotate-key: the old key opens nothing" [ $? -eq 65 ]
check "after rotate-key: the workers' load opens with the new key" \
    sh -c "'$DBTOOL' '$CI' '$T/k2' load 0 1 | grep -q '^id=$A1 .* undecryptable=no key=APIKEY-1-.* listen=LK-one-pGs3xSVzYJ'"

# ---------------------------------------------------- key file permissions
chmod 640 "$T/k2"
line=$(grep -n '^key_file' "$T/c2.conf" | cut -d: -f1)
"$EXFEEDCTL" -c "$T/c2.conf" account check "$A1" > "$T/perm.out" 2>&1
check "exfeedctl refuses a group-readable key: exit 78" [ $? -eq 78 ]
check "exfeedctl refuses a group-readable key: FILE:LINE and the fix" \
    grep -qx "$T/c2.conf:$line: \[crypto\] key_file: $T/k2 is readable by group or others (mode 0640); chmod 600 it" "$T/perm.out"
chmod 600 "$T/k2"

# The daemon: the same refusal at start, before it detaches; -n is unaffected.
write_config "$T/d.conf"
sed -i "s|^key_file = .*|key_file = $T/k2|" "$T/d.conf"
dline=$(grep -n '^key_file' "$T/d.conf" | cut -d: -f1)
chmod 644 "$T/k2"
timeout 20 "$EXFEEDD" -f -c "$T/d.conf" > "$T/d.out" 2>&1
check "exfeedd refuses a key others can read: exit 78" [ $? -eq 78 ]
check "exfeedd refuses a key others can read: FILE:LINE and the fix" \
    grep -qx "$T/d.conf:$dline: \[crypto\] key_file: $T/k2 is readable by group or others (mode 0644); chmod 600 it" "$T/d.out"
check "exfeedd refused before creating its runtime files" [ ! -e "$T/run/exfeedd.pid" ]
"$EXFEEDD" -n -c "$T/d.conf" 2>/dev/null
check "exfeedd -n checks the file only, not the key" [ $? -eq 0 ]
sed -i "s|^key_file = .*|key_file = $T/absent.key|" "$T/d.conf"
timeout 20 "$EXFEEDD" -f -c "$T/d.conf" > "$T/d2.out" 2>&1
check "exfeedd refuses a missing key file: exit 78" [ $? -eq 78 ]
check "exfeedd refuses a missing key file: says so" grep -q "$T/d.conf:$dline: \[crypto\] key_file: cannot open $T/absent.key: No such file or directory" "$T/d2.out"
head -c 16 /dev/urandom > "$T/short.key" && chmod 600 "$T/short.key"
sed -i "s|^key_file = .*|key_file = $T/short.key|" "$T/d.conf"
timeout 20 "$EXFEEDD" -f -c "$T/d.conf" > "$T/d3.out" 2>&1
check "exfeedd refuses a key of the wrong size: exit 78" [ $? -eq 78 ]
check "exfeedd refuses a key of the wrong size: says so" grep -q "short.key holds 16 bytes; a key file is exactly 32" "$T/d3.out"

# ...and on reload, keeping the running configuration.  The daemon gets the
# test database, with its one account disabled: this is about the key file.
"$EXFEEDCTL" -c "$T/c2.conf" account disable "$A1" > /dev/null
chmod 600 "$T/k2"
sed -i "s|^key_file = .*|key_file = $T/k2|; s|^conninfo = .*|conninfo = $CI|" "$T/d.conf"
start_daemon "$T/d.conf"
check "exfeedd starts with a private key file" wait_until 5 ctl status
chmod 640 "$T/k2"
ctl reload > "$T/reload.out" 2>&1
check "reload with a group-readable key: refused" [ $? -ne 0 ]
check "reload with a group-readable key: says why" grep -q "\[crypto\] key_file: $T/k2 is readable by group or others (mode 0640); chmod 600 it" "$T/reload.out"
check "reload with a group-readable key: logged" grep -q "reload failed, configuration unchanged: .*key_file: $T/k2 is readable" "$T/log"
check "reload with a group-readable key: the daemon runs on" quiet ctl status
chmod 600 "$T/k2"
check "reload with the key fixed: accepted" quiet ctl reload
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	write_config "$T/root.conf"
	sed -i "s/^user = .*/user = nobody/; s/^group = .*/group = nogroup/; s|^key_file = .*|key_file = $T/k2|; s|$T/run|$T/run2|g" "$T/root.conf"
	rline=$(grep -n '^key_file' "$T/root.conf" | cut -d: -f1)
	timeout 20 "$EXFEEDD" -f -c "$T/root.conf" > "$T/root.out" 2>&1
	check "as root: a key the workers' user cannot read is refused (78)" [ $? -eq 78 ]
	check "as root: names the owner and the fix" grep -qx "$T/root.conf:$rline: \[crypto\] key_file: $T/k2 is owned by uid 0, but the workers run as nobody and cannot read it; chown nobody it" "$T/root.out"
fi
kill -TERM "$DAEMON_PID"
check "exfeedd stops" wait_until 5 gone "$DAEMON_PID"
DAEMON_PID=

if [ "$(id -u)" -eq 0 ]; then
	# Debian's default, peer authentication: root's exfeedctl is refused by
	# the database and told to run as the daemon's user.
	cp "$PG/data/pg_hba.conf" "$T/hba.saved"
	echo "local all all peer" > "$PG/data/pg_hba.conf"
	psql -c "SELECT pg_reload_conf()" > /dev/null
	conf "$T/peer.conf" "$T/k1"
	"$EXFEEDCTL" -c "$T/peer.conf" db status > "$T/peer.out" 2>&1
	rc=$?
	check "peer authentication, as root: exit 69" [ $rc -eq 69 ]
	check "... says to run it as the daemon's user" \
		grep -q "run this as the daemon's user: runuser -u exfeedd -- exfeedctl" "$T/peer.out"
	cp "$T/hba.saved" "$PG/data/pg_hba.conf"
fi

"$PGTMP" stop "$PG"
check "pgtmp stop removes the cluster" [ ! -e "$PG" ]
check "pgtmp stop leaves no server behind" sh -c "! pgrep -f '[p]ostgres -D $PG/data' >/dev/null"
finish
