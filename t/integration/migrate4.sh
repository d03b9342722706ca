#!/bin/sh
# Migration 004 (event_log partitioned by day) over a database at schema
# version 3 holding event_log rows of every event type and of several days,
# on a server whose TimeZone is not UTC (Asia/Tokyo).  The rows are the
# writer's own: the real writer commits the events to a scratch database
# (schema 4, where it computes each row's day itself, ev_fact_day), and the
# test copies them, in the version-3 shape, into a database migrated to 3
# only.  After `exfeedctl db migrate`: every row is in the partition of the
# day the writer computed (a fill's trade time, an order's update time or,
# when not positive, the event time, near UTC midnight on both sides), ids
# kept, the sequence after them, user_id and exchange from the payload, the
# watermark at 0; a day beyond the day after tomorrow waits in the default
# partition, as the writer's own rows would.  Then the writer is sent the
# same events again: every one is refused as a duplicate by the primary key
# (event_id, day), none lands twice; a new one takes the next id.
. "$top_srcdir/t/lib.sh"
skip_in_repeat_pass migrate4.sh sanitizer

pg_tests
DPSEND=$top_builddir/tools/dpsend
[ -x "$DPSEND" ] || { echo "# tools/dpsend not built: skipping"; exit 77; }

require() {
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; finish; fi
}

CI=$(PGTMP_FAST=1 PGTMP_CONF="timezone = 'Asia/Tokyo'" "$PGTMP" start "$PG" 2>"$T/pgtmp.err")
require "pgtmp start" [ -n "$CI" ]
psql() { "$PGTMP" psql "$PG" -At -v ON_ERROR_STOP=1 "$@"; }
q() { psql -c "$1"; }
qs() { psql -d scratch -c "$1"; }
check "the server's TimeZone is Asia/Tokyo" [ "$(q 'SHOW timezone')" = Asia/Tokyo ]
q "CREATE DATABASE scratch" >/dev/null
CI_SCRATCH=$(echo "$CI" | sed 's/dbname=exfeedd/dbname=scratch/')

SHARDS=1 write_config "$T/scratch.conf"
sed -i "s|^conninfo = .*|conninfo = $CI_SCRATCH\\
reconnect_delay_max = 300ms|" "$T/scratch.conf"
cat >> "$T/scratch.conf" <<EOF
[kafka]
brokers =
[exchange.binance-futures]
rest_url = http://127.0.0.1:9
ws_url = ws://127.0.0.1:9
EOF
sed "s|dbname=scratch|dbname=exfeedd|" "$T/scratch.conf" > "$T/exfeedd.conf"
require "scratch database: exfeedctl db migrate" "$EXFEEDCTL" -c "$T/scratch.conf" db migrate

# ------------------------------------------------ the events, the writer's rows
# Midnight UTC of today, in ms, and the days before it.
DAY=86400000
T0=$(( $(date -u +%s) / 86400 * DAY ))
d() { echo $(( T0 - $1 * DAY + ${2:-0} )); }	# d DAYS_BACK [MS]: a time
O='"s":"BTCUSDT","c":"c1","S":"BUY","ps":"BOTH","o":"LIMIT","ot":"LIMIT","f":"GTC","sp":"0","q":"0.010"'
A='"caid":"a1","at":"CONDITIONAL","o":"STOP_MARKET","s":"BTCUSDT","S":"SELL","ps":"BOTH","f":"GTC","q":"0.010","ai":"","ap":"0","aq":"0","tp":"90","p":"0","rm":""'
cat > "$T/events" <<EOF
{"t":1,"a":1,"u":7,"E":$(d 5 36000000),"d":{"i":101,$O,"x":"NEW","X":"NEW","p":"100","ap":"0","z":"0","T":$(d 5 36000000)}}
{"t":1,"a":1,"u":7,"E":$(d 4 -1),"d":{"i":102,$O,"x":"NEW","X":"NEW","p":"100","ap":"0","z":"0","T":0}}
{"t":1,"a":1,"u":7,"E":$(d 3 -1000),"d":{"i":103,$O,"x":"NEW","X":"NEW","p":"100","ap":"0","z":"0","T":$(d 3)}}
{"t":2,"a":1,"u":7,"E":$(d 5 1),"d":{"t":501,"i":101,"s":"BTCUSDT","S":"BUY","L":"100","l":"0.004","m":false,"T":$(d 5 -1)}}
{"t":2,"a":2,"u":8,"E":$(d 2 1800000),"f":2,"d":{"t":502,"i":201,"s":"ETHUSDT","S":"SELL","L":"3000","l":"0.1","m":true,"T":$(d 2 -1800000)}}
{"t":3,"a":1,"u":7,"E":$(d 3 -1),"d":{"aid":7001,$A,"X":"NEW","T":$(d 3 1)}}
{"t":4,"a":2,"u":8,"E":$(d 1 -1800000),"d":{"s":"ETHUSDT","ps":"BOTH","pa":"0.1","ep":"3000","bep":"3000","up":"0","mt":"cross","iw":"0","ma":"USDT","T":$(d 1 1800000)}}
{"t":5,"a":2,"u":8,"E":$(d 1 -1),"d":{"a":"USDT","wb":"1000","cw":"1000","bc":"-1","m":"ORDER","T":$(d 2 -1)}}
{"t":6,"a":1,"u":7,"E":$(d 4 -1),"d":{"cw":"3.16","s":"BTCUSDT","ps":"BOTH","pa":"0.004","mt":"CROSSED","iw":"0","mp":"99","up":"-0.006","mm":"0.5"}}
{"t":7,"a":1,"u":7,"E":$(d 5 -1),"d":{"s":"BTCUSDT","l":20,"T":$(d 6 1)}}
{"t":8,"a":2,"u":8,"E":$(d 2 43200000),"d":{"e":"STRATEGY_UPDATE","raw":"{\\"e\\":\\"STRATEGY_UPDATE\\"}"}}
{"t":1,"a":1,"u":7,"E":$(d 0),"d":{"i":104,$O,"x":"NEW","X":"NEW","p":"100","ap":"0","z":"0","T":$(d -30)}}
{"t":1,"a":2,"u":8,"E":1000000000,"d":{"i":105,$O,"x":"NEW","X":"NEW","p":"100","ap":"0","z":"0","T":0}}
{"t":1,"a":2,"u":8,"E":$(d 2 3600000),"d":{"i":107,$O,"x":"NEW","X":"NEW","p":"100","ap":"0","z":"0","T":-5}}
EOF
NEV=$(wc -l < "$T/events")
SOCK=$T/run/writer.sock
log_from=0
start() {
	log_from=$(cat "$T/log" 2>/dev/null | wc -l)
	start_daemon "$1"
	wait_until 10 test -S "$SOCK"
}
stop() {
	kill -TERM "$DAEMON_PID"
	wait_until 10 gone "$DAEMON_PID"
	DAEMON_PID=
}
send() {	# send FILE N: every event acked
	"$DPSEND" -s "$SOCK" -t 20 -f "$1" > "$T/dpsend.out" 2>&1
	grep -q "^sent $2 acked $2 " "$T/dpsend.out"
}
require "the writer of the scratch database listens" start "$T/scratch.conf"
require "the writer commits the $NEV events" send "$T/events" "$NEV"
stop
check "scratch: $NEV rows, every type" \
    [ "$(qs "SELECT count(*), count(DISTINCT event_type) FROM event_log")" = "$NEV|8" ]

# The writer's days, as the test reads the rules (event.h): checks the events
# above say what they mean to.
day() { date -u -d "@$(( $1 / 1000 ))" +%F; }
check "scratch: the fill's day is its trade time's (the day before its event time)" \
    [ "$(qs "SELECT day FROM event_log WHERE event_type = 'fill' AND payload->>'trade_id' = '501'")" = "$(day $(d 5 -1))" ]
check "scratch: the order with update_time 0 takes its event time's day" \
    [ "$(qs "SELECT day FROM event_log WHERE payload->>'order_id' = '102'")" = "$(day $(d 4 -1))" ]
check "scratch: an order's day is its update time's (the day after its event time)" \
    [ "$(qs "SELECT day FROM event_log WHERE payload->>'order_id' = '103'")" = "$(day $(d 3))" ]
check "scratch: an order with a negative update_time takes its event time's day" \
    [ "$(qs "SELECT day FROM event_log WHERE payload->>'order_id' = '107'")" = "$(day $(d 2 3600000))" ]

# ------------------------------------------------ a database at version 3
q "CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL,
   applied_at timestamptz NOT NULL DEFAULT now())" >/dev/null
for m in 001_initial 002_gaps_self_trades 003_live_rows; do
	v=$(echo "$m" | sed 's/^0*\([0-9]*\)_.*/\1/')
	psql -1 -f "$top_srcdir/sql/$m.sql" -c "INSERT INTO schema_migrations (version, name) VALUES ($v, '$m')" >/dev/null 2>"$T/v3.err"
	require "version 3: $m applied with psql" [ $? -eq 0 ]
done
V3COLS="id, event_id, account_id, event_type, exchange_time, received_at, committed_at, resync, payload, raw"
# Ids of their own (not 1..N: the migration must keep them, not renumber).
qs "COPY (SELECT id * 7 + 100, event_id, account_id, event_type, exchange_time, received_at,
    committed_at, resync, payload, raw FROM event_log ORDER BY id) TO STDOUT" > "$T/rows.copy"
psql -c "COPY event_log ($V3COLS) FROM STDIN" < "$T/rows.copy" >/dev/null
q "SELECT setval('event_log_id_seq', (SELECT max(id) FROM event_log))" >/dev/null
MAXID=$(q "SELECT max(id) FROM event_log")
check "version 3: $NEV rows in event_log, not partitioned, with published_at" \
    [ "$(q "SELECT count(*), (SELECT relkind FROM pg_class WHERE relname = 'event_log'), count(*) FILTER (WHERE published_at IS NULL) FROM event_log")" = "$NEV|r|$NEV" ]
"$EXFEEDCTL" -c "$T/exfeedd.conf" db status > "$T/st3.out" 2>&1
check "db status at version 3: exit 1, 004 pending, no event_log section" \
    sh -c "[ $? -eq 1 ] && grep -qx 'pending: 004_event_log_partitions 005_klines' '$T/st3.out' && ! grep -q '^event_log' '$T/st3.out'"
check "db status --json at version 3: event_log null" \
    sh -c "'$EXFEEDCTL' -c '$T/exfeedd.conf' --json db status | grep -q '\"event_log\":null}\$'"

# ------------------------------------------------ migrate
"$EXFEEDCTL" -c "$T/exfeedd.conf" db migrate > "$T/mig.out" 2>&1
require "db migrate: 004 applied" grep -qx "applied 004_event_log_partitions" "$T/mig.out"
check "event_log is partitioned by range of day" \
    [ "$(q "SELECT partstrat::text || ':' || (SELECT attname FROM pg_attribute WHERE attrelid = 'event_log'::regclass AND attnum = partattrs[0]) FROM pg_partitioned_table WHERE partrelid = 'event_log'::regclass")" = "r:day" ]
check "every row kept" [ "$(q "SELECT count(*) FROM event_log")" = "$NEV" ]

# The writer's rows beside the migrated ones, by event id.
qs "COPY (SELECT event_id, id * 7 + 100, day, coalesce(user_id::text, '-'), exchange,
    CASE WHEN day > (now() AT TIME ZONE 'UTC')::date + 2 THEN 'event_log_default'
    ELSE 'event_log_p' || to_char(day, 'YYYYMMDD') END
    FROM event_log ORDER BY event_id) TO STDOUT" > "$T/want"
q "COPY (SELECT event_id, id, day, coalesce(user_id::text, '-'), exchange, tableoid::regclass
    FROM event_log ORDER BY event_id) TO STDOUT" > "$T/got"
check "every row: its id kept, in the partition of the day the writer gave it, user_id and exchange from the payload" \
    cmp -s "$T/want" "$T/got"
if ! cmp -s "$T/want" "$T/got"; then diff "$T/want" "$T/got" | sed 's/^/# /'; fi
check "the order of a day 30 days ahead waits in the default partition (no partition made for it)" \
    [ "$(q "SELECT tableoid::regclass FROM event_log WHERE payload->>'order_id' = '104'")" = event_log_default ]
check "the order of 1970 has its partition (retention drops it once published)" \
    [ "$(q "SELECT tableoid::regclass FROM event_log WHERE payload->>'order_id' = '105'")" = event_log_p19700112 ]
check "user_id and exchange filled on every row" \
    [ "$(q "SELECT count(*) FROM event_log WHERE user_id IS NULL OR exchange = ''")" = 0 ]
check "the watermark is 0: the relay publishes every migrated row" \
    [ "$(q "SELECT published_through FROM event_log_relay")" = 0 ]
check "the sequence continues after the highest id" [ "$(q "SELECT nextval('event_log_id_seq')")" -gt "$MAXID" ]
check "the sequence belongs to event_log.id" \
    [ "$(q "SELECT pg_get_serial_sequence('event_log', 'id')")" = public.event_log_id_seq ]
check "event_log_v3 is gone" [ "$(q "SELECT to_regclass('event_log_v3') IS NULL")" = t ]

# ------------------------------------------------ the writer on the migrated rows
# Publishing is off here: the writer's upkeep drops the partition of 1970
# (past the retention) at once, so that order is not sent again: it would
# land anew, in the default partition, as any event older than the
# retention does.
require "the writer of the migrated database listens" start "$T/exfeedd.conf"
dropped() { tail -n +$((log_from + 1)) "$T/log" | grep -q "event_log: dropped event_log_p19700112 (1 rows)"; }
check "the writer's upkeep drops the partition of 1970 (publishing off: nothing waits)" wait_until 10 dropped
grep -v '"i":105,' "$T/events" > "$T/again"
grep -v "^o:2:105:" "$T/got" > "$T/before"
check "the same events again: acked" send "$T/again" $((NEV - 1))
q "COPY (SELECT event_id, id, day, coalesce(user_id::text, '-'), exchange, tableoid::regclass
    FROM event_log ORDER BY event_id) TO STDOUT" > "$T/after"
check "none landed twice: the primary key (event_id, day) refused every copy" cmp -s "$T/before" "$T/after"
if ! cmp -s "$T/before" "$T/after"; then diff "$T/before" "$T/after" | sed 's/^/# /'; fi
echo "{\"t\":1,\"a\":1,\"u\":7,\"E\":$(d 0 1000),\"d\":{\"i\":106,$O,\"x\":\"NEW\",\"X\":\"NEW\",\"p\":\"100\",\"ap\":\"0\",\"z\":\"0\",\"T\":$(d 0 1000)}}" > "$T/new"
check "a new event: acked" send "$T/new" 1
check "... it takes an id after the migrated ones, in today's partition" \
    [ "$(q "SELECT id > $MAXID, tableoid::regclass FROM event_log WHERE payload->>'order_id' = '106'")" = "t|event_log_p$(date -u +%Y%m%d)" ]
stop
finish
