#!/bin/sh
# The DB writer against a real PostgreSQL (tools/pgtmp) and the real daemon,
# fed by tools/dpsend over the data plane: every event type lands; replays
# change nothing; late events never move a row backwards; TRADE_LITE and
# ORDER_TRADE_UPDATE of one fill make one complete row; acks only after
# commit; PostgreSQL down and up again loses nothing; a malformed sender is
# dropped alone; kill -9 of the writer mid-stream ends with every event
# exactly once; an old schema stops the writer with a message naming the fix.
. "$top_srcdir/t/lib.sh"

DPSEND=$top_builddir/tools/dpsend
PGTMP=$top_srcdir/tools/pgtmp
PG=$T/pg
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
	echo "# SKIP: no PostgreSQL 15 server binaries"
	exit 77
fi
trap '"$PGTMP" stop "$PG" >/dev/null 2>&1; cleanup' EXIT INT TERM
CI=$(PGTMP_FAST=1 "$PGTMP" start "$PG") || { echo "not ok - pgtmp start"; exit 1; }

q() { "$PGTMP" psql "$PG" -At -c "$1"; }
# A step the rest depends on: stop at its failure.
require() {
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; finish; fi
}
SOCK=$T/run/writer.sock

SHARDS=1 write_config "$T/exfeedd.conf"
sed -i "s|^conninfo = .*|conninfo = $CI\\
batch_size = 50\\
flush_interval = 5ms\\
reconnect_delay_max = 300ms|" "$T/exfeedd.conf"
# No exchange is reachable here: let the other workers fail fast.
cat >> "$T/exfeedd.conf" <<EOF
[exchange.binance-futures]
rest_url = http://127.0.0.1:9
ws_url = ws://127.0.0.1:9
EOF
require "exfeedctl db migrate" "$EXFEEDCTL" -c "$T/exfeedd.conf" db migrate
q "INSERT INTO exchange_accounts (id, user_id, exchange, api_key_encrypted, api_secret_encrypted)
   VALUES (1, 7, 'binance-futures', '\\x00', '\\x00'), (2, 8, 'binance-futures', '\\x00', '\\x00')" >/dev/null

start_daemon "$T/exfeedd.conf"
writer_ready() { [ "$(worker_field writer 0 state)" = ready ] && [ -S "$SOCK" ]; }
require "the writer is ready and listens on writer.sock" wait_until 10 writer_ready
check "writer.sock is mode 0600" [ "$(stat -c %a "$SOCK")" = 600 ]
db_connected() { writer_detail db | grep -qx connected; }
writer_detail() {
	status_json | /usr/bin/python3 -c '
import json,sys
d=json.load(sys.stdin)
r=[w for w in d["workers"] if w["role"]=="writer"][0]["detail"]["role"]
v=r
for k in sys.argv[1].split("."): v=v[k]
print(str(v).lower() if isinstance(v,bool) else v)' "$1"
}
require "the writer connects to PostgreSQL" wait_until 10 db_connected

# ------------------------------------------------------------ every type
O='"s":"BTCUSDT","c":"c101","S":"BUY","ps":"BOTH","o":"LIMIT","ot":"LIMIT","f":"GTC","sp":"0","q":"0.010"'
cat > "$T/ev1" <<EOF
{"t":1,"a":1,"E":1000,"d":{"i":101,$O,"x":"NEW","X":"NEW","p":"100.5","ap":"0","z":"0","T":1000}}
{"t":1,"a":1,"E":2000,"d":{"i":101,$O,"x":"TRADE","X":"PARTIALLY_FILLED","p":"100.5","ap":"100.5","z":"0.004","T":2000}}
{"t":2,"a":1,"E":2000,"f":2,"d":{"t":501,"i":101,"s":"BTCUSDT","S":"BUY","L":"100.5","l":"0.004","m":false,"T":2000}}
{"t":3,"a":1,"E":1000,"d":{"aid":7001,"caid":"a1","at":"CONDITIONAL","o":"STOP_MARKET","s":"BTCUSDT","S":"SELL","ps":"BOTH","f":"GTC","q":"0.010","X":"NEW","ai":"","ap":"0","aq":"0","tp":"90","p":"0","rm":"","T":1000}}
{"t":4,"a":1,"E":2000,"d":{"s":"BTCUSDT","ps":"BOTH","pa":"0.004","ep":"100.5","bep":"100.6","up":"0","mt":"cross","iw":"0","ma":"USDT","T":2000}}
{"t":5,"a":1,"E":2000,"d":{"a":"USDT","wb":"1000.5","cw":"1000.5","bc":"-0.01","m":"ORDER","T":2000}}
{"t":6,"a":1,"E":3000,"d":{"cw":"3.16","s":"BTCUSDT","ps":"BOTH","pa":"0.004","mt":"CROSSED","iw":"0","mp":"99","up":"-0.006","mm":"0.5"}}
{"t":7,"a":1,"E":1500,"d":{"s":"BTCUSDT","l":20,"T":1500}}
{"t":7,"a":1,"E":1600,"d":{"s":"","j":1,"T":1600}}
{"t":8,"a":2,"E":1700,"d":{"e":"STRATEGY_UPDATE","raw":"{\\"e\\":\\"STRATEGY_UPDATE\\",\\"E\\":1700}"}}
EOF
check "dpsend: 10 events of every type acked" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev1' | grep -q '^sent 10 acked 10 '"
check "orders: one row, PARTIALLY_FILLED 0.004 at T 2000" \
    [ "$(q "SELECT status, filled_qty, update_time FROM orders WHERE account_id = 1 AND order_id = 101")" = "PARTIALLY_FILLED|0.004|2000" ]
check "fills: the TRADE_LITE row, fee and position side still NULL" \
    [ "$(q "SELECT qty, coalesce(position_side, 'null'), coalesce(fee::text, 'null') FROM fills WHERE trade_id = 501")" = "0.004|null|null" ]
check "algo_orders: NEW" [ "$(q "SELECT status, trigger_price FROM algo_orders WHERE algo_id = 7001")" = "NEW|90" ]
check "positions: 0.004" [ "$(q "SELECT amount, margin_type FROM positions WHERE account_id = 1")" = "0.004|cross" ]
check "balances: 1000.5" [ "$(q "SELECT wallet_balance, reason FROM balances WHERE account_id = 1")" = "1000.5|ORDER" ]
check "margin_calls: one" [ "$(q "SELECT symbol, mark_price FROM margin_calls WHERE account_id = 1")" = "BTCUSDT|99" ]
check "account_config: leverage of BTCUSDT, multi-assets under ''" \
    [ "$(q "SELECT symbol || ':' || coalesce(leverage::text, '-') || ':' || coalesce(multi_assets::text, '-') FROM account_config ORDER BY symbol" | tr '\n' ' ')" = ":-:true BTCUSDT:20:- " ]
check "event_log: 10 rows, the unknown one with its raw frame" \
    [ "$(q "SELECT count(*), count(raw) FROM event_log")" = "10|1" ]
check "event_log payload: decimals as strings, ids as numbers" \
    [ "$(q "SELECT payload->>'filled_qty', json_typeof(payload->'filled_qty'), json_typeof(payload->'order_id') FROM event_log WHERE event_id = 'o:1:101:PARTIALLY_FILLED:2000:0.004:100.5:0.01'")" = "0.004|string|number" ]
check "event_log received_at comes from the sender's receive time" \
    [ "$(q "SELECT count(*) FROM event_log WHERE received_at > now() - interval '1 minute' AND received_at <= committed_at")" = 10 ]
check "resync cursor: newest stream E of account 1" [ "$(q "SELECT last_event_time FROM exchange_accounts WHERE id = 1")" = 3000 ]

snapshot() {
	q "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
	    SELECT (o.*)::text AS x FROM (SELECT account_id, order_id, status, filled_qty, price, update_time, updated_at FROM orders) o
	    UNION ALL SELECT (f.*)::text FROM fills f
	    UNION ALL SELECT (p.*)::text FROM positions p
	    UNION ALL SELECT (b.*)::text FROM balances b
	    UNION ALL SELECT (g.*)::text FROM algo_orders g
	    UNION ALL SELECT (c.*)::text FROM account_config c
	    UNION ALL SELECT (m.*)::text FROM margin_calls m
	    UNION ALL SELECT (l.id, l.event_id, l.payload)::text FROM event_log l) s"
}
before=$(snapshot)
check "replay: all 10 acked again" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev1' | grep -q '^sent 10 acked 10 '"
check "replay: no row changed, none added (updated_at included)" [ "$(snapshot)" = "$before" ]

# ------------------------------------------------------ late and newer events
cat > "$T/ev2" <<EOF
{"t":1,"a":1,"E":1500,"d":{"i":101,$O,"x":"TRADE","X":"PARTIALLY_FILLED","p":"100.5","ap":"100.5","z":"0.002","T":1500}}
{"t":1,"a":1,"E":1000,"d":{"i":101,$O,"x":"NEW","X":"NEW","p":"100.5","ap":"0","z":"0","T":1000},"f":1}
{"t":4,"a":1,"E":1000,"d":{"s":"BTCUSDT","ps":"BOTH","pa":"9","ep":"1","bep":"1","up":"0","mt":"cross","iw":"0","ma":"USDT","T":1000}}
{"t":5,"a":1,"E":1000,"d":{"a":"USDT","wb":"1","cw":"1","bc":"0","m":"RESYNC","T":1000},"f":1}
{"t":3,"a":1,"E":900,"d":{"aid":7001,"caid":"a1","at":"CONDITIONAL","o":"STOP_MARKET","s":"BTCUSDT","S":"SELL","ps":"BOTH","f":"GTC","q":"0.010","X":"CANCELED","ai":"","ap":"0","aq":"0","tp":"90","p":"0","rm":"","T":900}}
{"t":7,"a":1,"E":1400,"d":{"s":"BTCUSDT","l":5,"T":1400}}
EOF
before=$(snapshot)
check "late events: acked" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev2' | grep -q '^sent 6 acked 6 '"
check "late events: order, position, balance, algo, config rows did not move backwards" sh -c "
[ \"\$('$PGTMP' psql '$PG' -At -c \"SELECT status, filled_qty, update_time FROM orders WHERE order_id = 101\")\" = 'PARTIALLY_FILLED|0.004|2000' ] &&
[ \"\$('$PGTMP' psql '$PG' -At -c \"SELECT amount FROM positions WHERE account_id = 1\")\" = '0.004' ] &&
[ \"\$('$PGTMP' psql '$PG' -At -c \"SELECT wallet_balance FROM balances WHERE account_id = 1\")\" = '1000.5' ] &&
[ \"\$('$PGTMP' psql '$PG' -At -c \"SELECT status FROM algo_orders WHERE algo_id = 7001\")\" = 'NEW' ] &&
[ \"\$('$PGTMP' psql '$PG' -At -c \"SELECT leverage FROM account_config WHERE symbol = 'BTCUSDT'\")\" = '20' ]"
check "late events: logged, except the resync copy of a known fact (same id)" [ "$(q "SELECT count(*) FROM event_log")" = 15 ]
check "late and resync events: the cursor did not move back" [ "$(q "SELECT last_event_time FROM exchange_accounts WHERE id = 1")" = 3000 ]

echo '{"t":1,"a":1,"E":3000,"d":{"i":101,'"$O"',"x":"AMENDMENT","X":"PARTIALLY_FILLED","p":"101.5","ap":"100.5","z":"0.004","T":3000}}' > "$T/ev3a"
check "an amendment (same status and quantity, later T): acked" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev3a' | grep -q '^sent 1 acked 1 '"
check "an amendment is applied on its later update time" \
    [ "$(q "SELECT status, filled_qty, price, update_time, exec_type FROM orders WHERE order_id = 101")" = "PARTIALLY_FILLED|0.004|101.5|3000|AMENDMENT" ]
cat > "$T/ev3" <<EOF
{"t":1,"a":1,"E":4000,"d":{"i":101,$O,"x":"TRADE","X":"FILLED","p":"101.5","ap":"101","z":"0.010","T":4000}}
{"t":1,"a":1,"E":3500,"d":{"i":101,$O,"x":"TRADE","X":"PARTIALLY_FILLED","p":"101.5","ap":"101","z":"0.008","T":3500}}
{"t":4,"a":1,"E":4000,"d":{"s":"BTCUSDT","ps":"BOTH","pa":"0.010","ep":"101","bep":"101","up":"0","mt":"cross","iw":"0","ma":"USDT","T":4000}}
{"t":4,"a":1,"E":4000,"d":{"s":"BTCUSDT","ps":"BOTH","pa":"0.011","ep":"101","bep":"101","up":"0","mt":"cross","iw":"0","ma":"USDT","T":4000}}
{"t":7,"a":1,"E":4000,"d":{"s":"BTCUSDT","l":50,"T":4000}}
EOF
check "newer events in one batch: acked" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev3' | grep -q '^sent 5 acked 5 '"
check "newer: FILLED 0.010 at T 4000, the late partial in the same batch lost" \
    [ "$(q "SELECT status, filled_qty, price, update_time, exec_type FROM orders WHERE order_id = 101")" = "FILLED|0.010|101.5|4000|TRADE" ]
check "newer: of two position states at one T the later wins" [ "$(q "SELECT amount FROM positions WHERE account_id = 1")" = "0.011" ]
check "newer: leverage 50, multi-assets row untouched" \
    [ "$(q "SELECT symbol || ':' || coalesce(leverage::text, '-') || ':' || coalesce(multi_assets::text, '-') FROM account_config ORDER BY symbol" | tr '\n' ' ')" = ":-:true BTCUSDT:50:- " ]

# ------------------------- an amendment in the millisecond of the update before it
# Soak seed 4004: NEW and AMENDMENT of one order at one T, status and filled
# quantity, in separate batches and in one.  The later-written state wins,
# both are in event_log, and the same state again changes nothing.
P='"s":"BTCUSDT","S":"BUY","ps":"BOTH","o":"LIMIT","ot":"LIMIT","f":"GTC","sp":"0","X":"NEW","ap":"0","z":"0","T":6000'
echo '{"t":1,"a":1,"E":6000,"d":{"i":102,"c":"c102",'"$P"',"x":"NEW","p":"150.4198","q":"3"}}' > "$T/ev6a"
echo '{"t":1,"a":1,"E":6000,"d":{"i":102,"c":"c102",'"$P"',"x":"AMENDMENT","p":"150.4202","q":"3"}}' > "$T/ev6b"
echo '{"t":1,"a":1,"E":6000,"d":{"i":102,"c":"c102",'"$P"',"x":"AMENDMENT","p":"150.4202","q":"4"}}' > "$T/ev6c"
cat "$T/ev6a" "$T/ev6b" > "$T/ev6ab"
check "same-ms amendment: NEW, then the amendment in a batch of its own, acked" sh -c "
'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev6a' | grep -q '^sent 1 acked 1 ' &&
'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev6b' | grep -q '^sent 1 acked 1 '"
check "same-ms amendment: the amended price stands" \
    [ "$(q "SELECT price, orig_qty, exec_type, update_time FROM orders WHERE order_id = 102")" = "150.4202|3|AMENDMENT|6000" ]
check "same-ms amendment: both states in event_log" \
    [ "$(q "SELECT string_agg(event_id, ' ' ORDER BY id) FROM event_log WHERE payload->>'order_id' = '102'")" = "o:1:102:NEW:6000:0:150.4198:3 o:1:102:NEW:6000:0:150.4202:3" ]
before=$(q "SELECT updated_at FROM orders WHERE order_id = 102")
check "same-ms amendment: the amendment again changes nothing" sh -c "
'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev6b' | grep -q '^sent 1 acked 1 ' &&
[ \"\$('$PGTMP' psql '$PG' -At -c \"SELECT updated_at FROM orders WHERE order_id = 102\")\" = '$before' ]"
check "same-ms amendment of the quantity, then NEW and amendment in one batch, acked" sh -c "
'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev6c' | grep -q '^sent 1 acked 1 ' &&
'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev6ab' | grep -q '^sent 2 acked 2 '"
check "same-ms amendments: the last written wins, in one batch too" \
    [ "$(q "SELECT price, orig_qty FROM orders WHERE order_id = 102")" = "150.4202|3" ]

# ---------------------------------------------------- TRADE_LITE and OTU of a fill
F='"s":"BTCUSDT","S":"BUY","L":"100.5","m":true'
cat > "$T/ev4" <<EOF
{"t":2,"a":1,"E":2000,"d":{"t":501,"i":101,$F,"l":"0.004","ps":"BOTH","n":"0.0201","N":"USDT","rp":"0","T":2000}}
{"t":2,"a":1,"E":5000,"d":{"t":502,"i":101,$F,"l":"0.006","ps":"BOTH","n":"0.0301","N":"USDT","rp":"1.5","T":5000}}
EOF
cat > "$T/ev5" <<EOF
{"t":2,"a":1,"E":5000,"f":2,"d":{"t":502,"i":101,$F,"l":"0.006","T":5000}}
{"t":2,"a":2,"E":5000,"f":2,"d":{"t":503,"i":201,$F,"l":"1","T":5000}}
{"t":2,"a":2,"E":5000,"d":{"t":503,"i":201,$F,"l":"1","ps":"LONG","n":"0.05","N":"BNB","rp":"-2","T":5000}}
EOF
check "fills: OTU after TRADE_LITE acked" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev4' | grep -q '^sent 2 acked 2 '"
check "fills: TRADE_LITE after OTU, and both in one batch, acked" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev5' | grep -q '^sent 3 acked 3 '"
check "fills: three complete rows, one per trade id" \
    [ "$(q "SELECT string_agg(trade_id || ':' || position_side || ':' || fee || ':' || fee_asset || ':' || realized_pnl, ' ' ORDER BY trade_id) FROM fills")" = "501:BOTH:0.0201:USDT:0 502:BOTH:0.0301:USDT:1.5 503:LONG:0.05:BNB:-2" ]
check "event_log: each fill once, with the complete payload" \
    [ "$(q "SELECT string_agg(event_id || ':' || (payload->>'lite') || ':' || coalesce(payload->>'fee', '-'), ' ' ORDER BY event_id) FROM event_log WHERE event_type = 'fill'")" = "f:1:BTCUSDT:501:101:false:0.0201 f:1:BTCUSDT:502:101:false:0.0301 f:2:BTCUSDT:503:201:false:0.05" ]

# ------------------------------------------- PostgreSQL away: no ack, nothing lost
n0=$(q "SELECT count(*) FROM event_log")
"$PGTMP" down "$PG"
"$DPSEND" -s "$SOCK" -t 60 -v -g 3000 -k 2 -S 1 -r gen -i 1 > "$T/ds1" 2>&1 &
ds1=$!
db_down() { writer_detail db | grep -qx down; }
check "PostgreSQL down: the writer sees it" wait_until 10 db_down
pending_all() { [ "$(writer_detail pending)" -ge 3000 ] || [ "$(writer_detail paused)" = true ]; }
check "PostgreSQL down: the writer holds the events (pending or paused)" wait_until 10 pending_all
check "PostgreSQL down: no ack while nothing can commit" sh -c "! grep -q '^acked' '$T/ds1'"
db_error_set() { [ -n "$(writer_detail db_error)" ]; }
check "PostgreSQL down: status names the error" db_error_set
"$PGTMP" up "$PG" >/dev/null
wait $ds1
rc=$?
check "PostgreSQL up again: dpsend got every ack" sh -c "[ $rc -eq 0 ] && grep -q '^sent 3000 acked 3000 ' '$T/ds1'"
check "PostgreSQL up again: exactly 3000 more event_log rows" [ "$(q "SELECT count(*) FROM event_log")" -eq $((n0 + 3000)) ]
check "the outage was logged once (not per retry), and the recovery" sh -c "
[ \$(grep -c 'writer 0: warn: database' '$T/log') -eq 1 ] && grep -q 'writer 0: info: database connected again' '$T/log'"

# ----------------------------------------- a malformed sender is dropped alone
n0=$(q "SELECT count(*) FROM event_log")
"$DPSEND" -s "$SOCK" -t 60 -R 1000 -g 1500 -k 2 -S 2 -r good > "$T/ds2" 2>&1 &
ds2=$!
sleep 0.3
check "a sender with a malformed event is dropped" sh -c "'$DPSEND' -s '$SOCK' -t 5 --bad | grep -qx dropped"
check "the log names why" grep -q "data plane: dropping dpsend 0 (pid [0-9]*): event 0 of the frame: t: 99 is not a known type" "$T/log"
wait $ds2
rc=$?
check "the other sender was not disturbed (all acked, no reconnect)" sh -c "[ $rc -eq 0 ] && grep -q '^sent 1500 acked 1500 reconnects 0 ' '$T/ds2'"
check "its events all committed" [ "$(q "SELECT count(*) FROM event_log")" -eq $((n0 + 1500)) ]

# ------------------------------------------------ kill -9 the writer mid-stream
n0=$(q "SELECT count(*) FROM event_log")
f0=$(q "SELECT count(*) FROM fills")
"$DPSEND" -s "$SOCK" -t 90 -R 4000 -g 12000 -k 2 -S 3 -r kill > "$T/ds3" 2>&1 &
ds3=$!
sleep 1
wpid=$(worker_pid writer 0)
kill -KILL "$wpid"
wait $ds3
rc=$?
check "kill -9 of the writer: dpsend reconnected and got every ack" sh -c "
[ $rc -eq 0 ] && grep -Eq '^sent 12000 acked 12000 reconnects [1-9]' '$T/ds3'"
check "kill -9 of the writer: every event exactly once in event_log" [ "$(q "SELECT count(*) FROM event_log")" -eq $((n0 + 12000)) ]
check "kill -9 of the writer: each trade id once per account and order" \
    [ "$(q "SELECT count(*) FROM (SELECT account_id, trade_id, order_id FROM fills GROUP BY 1, 2, 3 HAVING count(*) > 1) d")" = 0 ]
check "kill -9 of the writer: fills match fill events" \
    [ "$(q "SELECT (SELECT count(*) FROM fills) = (SELECT count(*) FROM event_log WHERE event_type = 'fill')")" = t ]

# ------------------------ an SQL error: the whole batch rolls back, is retried
# The fills statement fails; the orders before it and the event_log rows
# after it in the same pipeline must not commit, and nothing is acked.
n0=$(q "SELECT count(*) FROM event_log")
q "ALTER TABLE fills ADD CONSTRAINT bench_no_fills CHECK (false) NOT VALID" >/dev/null
"$DPSEND" -s "$SOCK" -t 60 -v -g 40 -k 2 -S 4 -r sqlerr > "$T/ds4" 2>&1 &
ds4=$!
sql_failing() { [ "$(writer_detail sql_errors)" -ge 2 ]; }
check "an SQL error: the batch fails and is retried" wait_until 15 sql_failing
check "an SQL error: nothing of the batch committed (event_log unchanged)" \
    [ "$(q "SELECT count(*) FROM event_log")" -eq "$n0" ]
check "an SQL error: no ack" sh -c "! grep -q '^acked' '$T/ds4'"
db_error_names() { writer_detail db_error | grep -q bench_no_fills; }
check "an SQL error: status names it" db_error_names
check "an SQL error: logged with the constraint's name" grep -q 'batch of [0-9]* events failed (attempt [0-9]*): .*bench_no_fills' "$T/log"
q "ALTER TABLE fills DROP CONSTRAINT bench_no_fills" >/dev/null
wait $ds4
rc=$?
check "the error gone: the retried batch commits and every event is acked" sh -c "
[ $rc -eq 0 ] && grep -q '^sent 40 acked 40 ' '$T/ds4'"
check "the error gone: the 40 events once each" [ "$(q "SELECT count(*) FROM event_log")" -eq $((n0 + 40)) ]

# ------------------------------------------------- an account removed
# No foreign keys (001_initial.sql): the writer's existence filter keeps the
# rows of an account that is not (or no longer) there out of the state
# tables; the events are still acked (the sender must not resend them).
cat > "$T/ev_gone" <<EOF
{"t":1,"a":99,"E":9000,"d":{"i":901,$O,"x":"NEW","X":"NEW","p":"1","ap":"0","z":"0","T":9000}}
{"t":5,"a":99,"E":9000,"d":{"a":"USDT","wb":"5","cw":"5","bc":"0","m":"ORDER","T":9000}}
{"t":4,"a":99,"E":9000,"d":{"s":"BTCUSDT","ps":"BOTH","pa":"1","ep":"1","bep":"1","up":"0","mt":"cross","iw":"0","ma":"USDT","T":9000}}
EOF
check "events of an account that does not exist: acked" \
    sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev_gone' | grep -q '^sent 3 acked 3 '"
check "events of an account that does not exist: no row in the state tables" \
    [ "$(q "SELECT (SELECT count(*) FROM orders WHERE account_id = 99) + (SELECT count(*) FROM balances WHERE account_id = 99) + (SELECT count(*) FROM positions WHERE account_id = 99)")" -eq 0 ]

# ------------------------------ one bad event costs only itself (DESIGN §3.6)
# Values past the sender's validation (dpsend's "!"): each is refused alone,
# acked past, and nothing behind it waits; the sender is never dropped.
n0=$(q "SELECT count(*) FROM event_log")
r0=$(writer_detail rejected)
cat > "$T/ev_bad" <<EOF
{"t":1,"a":1,"E":9100,"d":{"i":9101,$O,"x":"NEW","X":"NEW","p":"5","ap":"0","z":"0","T":9100}}
{"t":1,"a":1,"E":9101,"d":{"i":9102,$O,"x":"NEW","X":"NEW","p":"5","ap":"0","z":"0","T":9101},"!":{"price":"5."}}
{"t":1,"a":1,"E":9102,"d":{"i":9103,$O,"x":"NEW","X":"NEW","p":"5","ap":"0","z":"0","T":9102},"!":{"client_id":"bad\u00c3\u0028"}}
{"t":7,"a":1,"E":9103,"d":{"s":"ETHUSDT","l":20,"T":9103},"!":{"leverage":100001}}
{"t":8,"a":2,"E":9104,"d":{"e":"X","raw":"{}"},"!":{"name":"CUT\u00e2\u0082"}}
{"t":1,"a":1,"E":9105,"d":{"i":9104,$O,"x":"NEW","X":"NEW","p":"5","ap":"0","z":"0","T":9105}}
EOF
check "bad events: every event acked, no reconnect" \
    sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev_bad' | grep -q '^sent 6 acked 6 reconnects 0 '"
check "bad events: the good orders before and after them landed, the bad not" \
    [ "$(q "SELECT string_agg(order_id::text, ',' ORDER BY order_id) FROM orders WHERE order_id BETWEEN 9101 AND 9104")" = "9101,9104" ]
check "bad events: exactly 2 event_log rows" [ "$(q "SELECT count(*) FROM event_log")" -eq $((n0 + 2)) ]
check "bad events: the writer counts 4 rejected" [ "$(writer_detail rejected)" -eq $((r0 + 4)) ]
check "bad events: each one logged with its reason" sh -c "
grep -q 'event seq 2 rejected and skipped: d.p: \"5.\" is not a decimal' '$T/log' &&
grep -q 'event seq 3 rejected and skipped: d.c: not valid UTF-8' '$T/log' &&
grep -q 'event seq 4 rejected and skipped: d.l: 100001 is outside' '$T/log' &&
grep -q 'event seq 5 rejected and skipped: d.e: not valid UTF-8' '$T/log'"
check "bad events: no sender was dropped for them" sh -c "! grep -q 'dropping dpsend.*rejected' '$T/log'"

# ------------------------------------ values the exchange does not always send
cat > "$T/ev_opt" <<EOF
{"t":6,"a":1,"E":9200,"d":{"cw":"","s":"ETHUSDT","ps":"BOTH","pa":"1","mt":"ISOLATED","iw":"12.5","mp":"99","up":"-1","mm":"0.5"}}
{"t":3,"a":1,"E":9201,"f":1,"d":{"aid":7101,"caid":"r1","at":"CONDITIONAL","o":"STOP_MARKET","s":"BTCUSDT","S":"SELL","ps":"BOTH","f":"GTC","q":"1","X":"REJECTED","ai":"","ap":"0","aq":"","tp":"90","p":"0","rm":"","T":9201}}
{"t":3,"a":1,"E":9202,"d":{"aid":7102,"caid":"r2","at":"CONDITIONAL","o":"STOP_MARKET","s":"BTCUSDT","S":"SELL","ps":"BOTH","f":"GTC","q":"1","X":"REJECTED","ai":"","ap":"0","aq":"0","tp":"90","p":"0","rm":"Reduce Only reject","T":9202}}
{"t":3,"a":1,"E":9203,"f":1,"d":{"aid":7102,"caid":"r2","at":"CONDITIONAL","o":"STOP_MARKET","s":"BTCUSDT","S":"SELL","ps":"BOTH","f":"GTC","q":"1","X":"REJECTED","ai":"","ap":"0","aq":"","tp":"90","p":"0","rm":"","T":9203}}
{"t":2,"a":1,"E":9204,"d":{"t":777,"i":9301,"s":"BTCUSDT","S":"BUY","ps":"BOTH","L":"5","l":"1","n":"0.1","N":"USDT","rp":"0","m":false,"T":9204}}
{"t":2,"a":1,"E":9204,"d":{"t":777,"i":9302,"s":"BTCUSDT","S":"SELL","ps":"BOTH","L":"5","l":"1","n":"0.2","N":"USDT","rp":"0","m":true,"T":9204}}
EOF
check "optional values: acked" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev_opt' | grep -q '^sent 6 acked 6 '"
check "a margin call without cw (isolated): stored, cross_wallet NULL" \
    [ "$(q "SELECT coalesce(cross_wallet::text, 'null'), margin_type FROM margin_calls WHERE event_time = 9200")" = "null|ISOLATED" ]
check "an algo row from REST: filled quantity and reject reason unknown (NULL), not 0 and ''" \
    [ "$(q "SELECT coalesce(filled_qty::text, 'null'), coalesce(reject_reason, 'null') FROM algo_orders WHERE algo_id = 7101")" = "null|null" ]
check "a later REST row never blanks what the stream gave" \
    [ "$(q "SELECT update_time, filled_qty, reject_reason FROM algo_orders WHERE algo_id = 7102")" = "9203|0|Reduce Only reject" ]
check "a self-trade: two executions of one trade id are two fills" \
    [ "$(q "SELECT string_agg(order_id || ':' || side || ':' || fee, ',' ORDER BY order_id) FROM fills WHERE trade_id = 777")" = "9301:BUY:0.1,9302:SELL:0.2" ]

# -------------------------------------------------- gaps (DESIGN §3.4)
# An open gap is a row; a heal clears the gaps of its account opened before
# its resync began and starting no earlier than it fetched from.
cat > "$T/ev_gap1" <<EOF
{"t":9,"a":1,"E":100,"d":{"h":false,"s":100,"at":1000000,"u":0,"r":"connection lost"}}
{"t":9,"a":1,"E":200,"d":{"h":false,"s":200,"at":2000000,"u":0,"r":"start"}}
{"t":9,"a":2,"E":150,"d":{"h":false,"s":150,"at":1500000,"u":0,"r":"start"}}
EOF
check "gap events: acked" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev_gap1' | grep -q '^sent 3 acked 3 '"
check "gap events: three open gaps" [ "$(q "SELECT count(*) FROM account_gaps WHERE healed_at IS NULL")" = 3 ]
check "gap events: none in event_log (not an exchange fact)" \
    [ "$(q "SELECT count(*) FROM event_log WHERE event_type = 'gap'")" = 0 ]
cat > "$T/ev_gap2" <<EOF
{"t":9,"a":1,"E":100,"d":{"h":true,"s":150,"at":3000000,"u":5000,"r":""}}
{"t":9,"a":1,"E":100,"d":{"h":false,"s":4000,"at":3500000,"u":0,"r":"connection lost"}}
{"t":9,"a":2,"E":150,"d":{"h":true,"s":150,"at":1400000,"u":5000,"r":""}}
EOF
check "heal events: acked" sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev_gap2' | grep -q '^sent 3 acked 3 '"
check "a heal from 150 clears the gap from 200, not the one from 100 (it fetched too late)" \
    [ "$(q "SELECT string_agg(since || ':' || (healed_at IS NOT NULL), ',' ORDER BY since) FROM account_gaps WHERE account_id = 1")" = "100:false,200:true,4000:false" ]
check "a heal that began before the gap opened leaves it" \
    [ "$(q "SELECT healed_at IS NULL FROM account_gaps WHERE account_id = 2")" = t ]
check "the healed gap records what healed it" \
    [ "$(q "SELECT healed_until, heal_began_at = timestamptz 'epoch' + interval '3 seconds' FROM account_gaps WHERE account_id = 1 AND since = 200")" = "5000|t" ]

# ------------------------------------------------ fact times no date can hold
# event_log's day is the UTC day of an event's fact time (sql/004): a time
# out of every date's range (a corrupt T, E) must cost that event only: its
# row goes to the default partition at +-infinity, and the events of the same
# frame are committed with it.
cat > "$T/ev_far" <<EOF
{"t":7,"a":1,"E":9000000000000000000,"d":{"s":"FARUSDT","l":5,"T":9000000000000000000}}
{"t":7,"a":1,"E":-9000000000000000000,"d":{"s":"NEGUSDT","l":6,"T":-8000000000000000000}}
{"t":7,"a":1,"E":9000000000000000000,"d":{"s":"NOWUSDT","l":7,"T":1700000000000}}
EOF
check "fact times out of every date's range: the frame acked" \
    sh -c "'$DPSEND' -s '$SOCK' -t 20 -f '$T/ev_far' | grep -q '^sent 3 acked 3 '"
check "... each row in event_log, at +-infinity or its day" \
    [ "$(q "SELECT string_agg(payload->>'symbol' || ':' || day || ':' || tableoid::regclass, ' ' ORDER BY payload->>'symbol') FROM event_log WHERE payload->>'symbol' IN ('FARUSDT', 'NEGUSDT', 'NOWUSDT')")" = "FARUSDT:infinity:event_log_default NEGUSDT:-infinity:event_log_default NOWUSDT:2023-11-14:event_log_default" ]
check "... and the days agree with exfeedd_fact_day (migration 004)" \
    [ "$(q "SELECT count(*) FROM event_log WHERE payload->>'symbol' IN ('FARUSDT', 'NEGUSDT', 'NOWUSDT') AND day = exfeedd_fact_day(event_type, payload, exchange_time)")" = 3 ]

# ----------------------------------------------------------- status detail
status_ok() {
	[ "$(writer_detail db)" = connected ] && [ "$(writer_detail events_committed)" -gt 0 ] &&
	[ "$(writer_detail batches)" -gt 0 ] && [ "$(writer_detail latency_us.p99)" -gt 0 ] &&
	[ "$(writer_detail committed.fill)" -gt 0 ] && [ "$(writer_detail pending)" -eq 0 ]
}
check "exfeedctl status: writer detail (connected, counts, latency, nothing pending)" status_ok

# --------------------------------------------------------- an older schema
# The latest version: the number of migrations this tree ships (sql/NNN_name.sql).
LATEST=$(cd "$top_srcdir/sql" && ls [0-9][0-9][0-9]_*.sql | wc -l)
q "DELETE FROM schema_migrations" >/dev/null
kill -KILL "$(worker_pid writer 0)"
check "an older schema: the writer stops with a message naming exfeedctl db migrate" \
    wait_until 10 grep -q "writer 0: error: database schema is at version 0, this exfeedd needs $LATEST: run \`exfeedctl db migrate\`" "$T/log"
finish
