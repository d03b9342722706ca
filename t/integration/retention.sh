#!/bin/sh
# Issue 11, acceptance 5: event_log retention by the real writer on a real
# PostgreSQL (tools/pgtmp) whose TimeZone is not UTC (Asia/Tokyo: the day
# partitions and the retention are UTC days, whatever the server's zone).
# With [database] event_log_retention = 1d and Kafka on but its broker
# (tools/kmock) down, so that the relay's watermark stays where the test put
# it: a partition three days back, published, is dropped; one two days back
# with rows after the watermark is kept and a WARN names it with their
# count; the partitions from today to today + 2 are made (moving in a row of
# today + 2 that waited in the default partition); old rows of the default
# partition go once published, and not before; `exfeedctl db status` shows
# the kept partition and the backlog.  Broker up: the relay publishes, and
# the next upkeep (at the writer's connect) drops that partition.  A reader
# holding a lock on event_log delays the writer's upkeep, never its commits.
# Publishing off ([kafka] brokers empty): old partitions go whatever the
# watermark says.
. "$top_srcdir/t/lib.sh"
skip_in_repeat_pass retention.sh

pg_tests
KMOCK=$top_builddir/tools/kmock
DPSEND=$top_builddir/tools/dpsend
if [ ! -x "$KMOCK" ] || [ ! -x "$DPSEND" ]; then
	echo "# tools/kmock or tools/dpsend not built: skipping"
	exit 77
fi

# same DESC GOT WANT: a check that shows both sides when they differ.
same() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "# got:  $2"; echo "# want: $3"; fi
}
# A step the rest depends on: stop at its failure.
require() {
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; finish; fi
}

CI=$(PGTMP_FAST=1 PGTMP_CONF="timezone = 'Asia/Tokyo'" "$PGTMP" start "$PG" 2>"$T/pgtmp.err")
require "pgtmp start" [ -n "$CI" ]
q() { "$PGTMP" psql "$PG" -At -c "$1"; }
same "the server's TimeZone is Asia/Tokyo" "$(q 'SHOW timezone')" Asia/Tokyo

# The broker: kmock reads its commands from a FIFO this shell keeps open.
mkfifo "$T/kmock.in"
"$KMOCK" < "$T/kmock.in" > "$T/kmock.out" 2>"$T/kmock.err" &
KMOCK_PID=$!
exec 3> "$T/kmock.in"
trap 'exec 3>&-; kill "$KMOCK_PID" 2>/dev/null; "$PGTMP" stop "$PG" >/dev/null 2>&1; cleanup' EXIT INT TERM
require "kmock prints its address" wait_until 10 test -s "$T/kmock.out"
ADDR=$(head -n 1 "$T/kmock.out")
broker() {	# broker down|up: wait for kmock's answer
	n=$(grep -c '^ok$' "$T/kmock.out")
	echo "$1" >&3
	wait_until 5 sh -c "[ \$(grep -c '^ok\$' '$T/kmock.out') -gt $n ]"
}
require "the broker is down" broker down

# The UTC days around today.  D0 is read again before each check that
# depends on it: a run across UTC midnight is told apart, not failed.
day() { date -u -d "$1 days" +%F; }
part() { echo "event_log_p$(date -u -d "$1 days" +%Y%m%d)"; }
D0=$(day 0)

SHARDS=1 write_config "$T/exfeedd.conf"
sed -i "s|^conninfo = .*|conninfo = $CI\\
event_log_retention = 1d\\
reconnect_delay_max = 300ms|" "$T/exfeedd.conf"
cat >> "$T/exfeedd.conf" <<EOF
[kafka]
brokers = $ADDR
delivery_timeout = 5s
[exchange.binance-futures]
rest_url = http://127.0.0.1:9
ws_url = ws://127.0.0.1:9
EOF
CTL="$EXFEEDCTL -c $T/exfeedd.conf"
require "exfeedctl db migrate" $CTL db migrate

# ------------------------------------------------------------------ rows
# ins ID DAY_OFFSET HOUR [COMMITTED]: an order of account 1 (user 7) whose
# fact time is HOUR o'clock UTC on day D0 + DAY_OFFSET: the day column,
# exchange_time and the payload's event_time and update_time agree;
# committed (and received) a second after it, or at COMMITTED (SQL).
ins() {
	q "INSERT INTO event_log (id, event_id, day, account_id, user_id, exchange, event_type,
	       exchange_time, received_at, committed_at, payload)
	   SELECT $1, 'order:1:' || $1 || ':NEW:' || ms, d, 1, 7, 'binance-futures', 'order', ms,
	       t, ${4:-t + interval '1 second'},
	       json_build_object('event_id', 'order:1:' || $1 || ':NEW:' || ms, 'type', 'order',
	           'account_id', 1, 'user_id', 7, 'exchange', 'binance-futures', 'event_time', ms,
	           'recv_us', ms * 1000, 'resync', false, 'lite', false, 'order_id', $1,
	           'symbol', 'BTCUSDT', 'status', 'NEW', 'update_time', ms)
	   FROM (SELECT d, t, (extract(epoch FROM t) * 1000)::bigint AS ms
	         FROM (SELECT d, (d + interval '$3 hours') AT TIME ZONE 'UTC' AS t
	               FROM (SELECT date '$D0' + $2 AS d) a) b) c" >/dev/null
}
in_part() { [ "$(q "SELECT tableoid::regclass FROM event_log WHERE id = $1")" = "$2" ]; }
exists() { [ "$(q "SELECT to_regclass('$1') IS NOT NULL")" = t ]; }
# Midnight UTC starting the first day kept (retention 1d: yesterday).
KEEP="(date '$D0' - 1)::timestamp AT TIME ZONE 'UTC'"

q "SELECT * FROM exfeedd_event_log_create(date '$D0' - 3, date '$D0')" > "$T/create.out"
check "exfeedd_event_log_create: four partitions, three days back to today" \
    [ "$(cut -d'|' -f1,2 "$T/create.out" | tr '\n' ' ')" = "created|$(part -3) created|$(part -2) created|$(part -1) created|$(part 0) " ]
# Published (ids 1-7, the watermark 7):
ins 1 -30 5 "t"				# default partition, committed 30 days ago: goes
ins 2 -30 5 "$KEEP - interval '4 hours'"	# ... 4 h before the cut: goes
ins 3 -30 5 "$KEEP + interval '2 hours'"	# ... 2 h after it: stays
ins 4 -3 1; ins 5 -3 12; ins 6 -3 23	# three days back
ins 7 -2 0				# two days back
# Not on Kafka (after the watermark):
ins 8 -2 10; ins 9 -2 23		# two days back: the partition stays
ins 10 -30 5 "t"			# default partition, 30 days old: stays
ins 11 2 6 "now()"			# today + 2, which has no partition yet
ins 12 -1 8				# yesterday
q "SELECT setval('event_log_id_seq', 12); UPDATE event_log_relay SET published_through = 7" >/dev/null
where=$(q "SELECT string_agg(id || ':' || tableoid::regclass, ' ' ORDER BY id) FROM event_log")
same "the rows are where their days put them" "$where" \
    "1:event_log_default 2:event_log_default 3:event_log_default 4:$(part -3) 5:$(part -3) 6:$(part -3) 7:$(part -2) 8:$(part -2) 9:$(part -2) 10:event_log_default 11:event_log_default 12:$(part -1)"

# ------------------------------------------------ the writer's upkeep, broker down
log_from=0
newlog() { tail -n +$((log_from + 1)) "$T/log"; }
start() {
	log_from=$(cat "$T/log" 2>/dev/null | wc -l)
	start_daemon "$T/exfeedd.conf"
}
stop() {
	kill -TERM "$DAEMON_PID"
	wait_until 10 gone "$DAEMON_PID"
	DAEMON_PID=
}
said() { newlog | grep -q -- "$1"; }
not() { ! "$@"; }

start
require "the writer's upkeep ran: a partition was dropped" wait_until 15 said "event_log: dropped $(part -3) (3 rows)"
check "the partition three days back, all published, is gone" not exists "$(part -3)"
check "the partition two days back is kept" exists "$(part -2)"
check "a WARN names it and its unpublished rows" \
    said "warn: event_log: partition $(part -2) is past \[database\] event_log_retention but kept: 2 of its rows are not on Kafka yet"
check "yesterday's partition (within the retention) is not named in the log" not said "$(part -1)"
check "yesterday's partition stays" exists "$(part -1)"
for d in 0 1 2; do
	check "the partition of today + $d exists" exists "$(part $d)"
done
check "the row of today + 2 moved from the default partition into its own" in_part 11 "$(part 2)"
check "the log says the partition was made" said "event_log: created partition $(part 2)"
check "no partition was refused for rows in the default partition" not said "cannot create partition"
same "default partition: the old published rows went, the unpublished and the recent stayed" \
    "$(q "SELECT string_agg(id::text, ' ' ORDER BY id) FROM event_log_default")" "3 10"
check "the log counts the two deleted" said "event_log: deleted event_log_default (2 rows)"
sleep 2
same "the broker being down, the watermark stays at 7" \
    "$(q 'SELECT published_through FROM event_log_relay')" 7
tried() { newlog | grep -Eiq "kafka: .*(failed|refused|disconnected|timed out|down)"; }
check "... and the relay did try: it says the broker is unreachable or a delivery failed" \
    wait_until 15 tried

$CTL db status > "$T/status.out" 2>&1
check "db status: exit 0" [ $? -eq 0 ]
cat "$T/status.out" | sed 's/^/# /'
check "db status: the retention and the first day kept" \
    grep -qx "event_log: retention 1d: days before $(day -1) go once on Kafka" "$T/status.out"
check "db status: the kept partition, its rows, unpublished and why it stays" \
    grep -Eq "^$(part -2) +$(day -2) +3 +[0-9]+ kB +2  past retention: kept$" "$T/status.out"
check "db status: yesterday's partition" grep -Eq "^$(part -1) +$(day -1) +1 +[0-9]+ kB +1$" "$T/status.out"
check "db status: the default partition, last" \
    sh -c "tail -n 3 '$T/status.out' | grep -Eq '^event_log_default +- +2 +[0-9]+ kB +1\$'"
check "db status: no line for the dropped partition" not grep -q "$(part -3)" "$T/status.out"
check "db status: the watermark" grep -q "^relay: published through id 7, updated 20..-..-..T..:..:..Z (.* ago)$" "$T/status.out"
check "db status: the backlog, five rows from id 8, two days old" \
    grep -q "^backlog: 5 rows, oldest id 8 committed $(day -2)T10:00:01Z ([12]d..h ago)$" "$T/status.out"
$CTL --json db status > "$T/status.json" 2>&1
check "db status --json: the same facts" /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["event_log"]
p = {x["name"]: x for x in d["partitions"]}
kept = p[sys.argv[2]]
assert d["retention"] == "1d" and d["retention_days"] == 1 and d["keep_from"] == sys.argv[3], d
assert d["publishing"] is True
assert kept["rows"] == 3 and kept["unpublished"] == 2 and kept["past_retention"] is True, kept
assert kept["bytes"] > 0 and kept["rows_estimated"] is False and kept["day"] == sys.argv[4]
assert d["partitions"][-1]["name"] == "event_log_default" and d["partitions"][-1]["default"] is True
assert d["partitions"][-1]["day"] is None and d["partitions"][-1]["rows"] == 2
assert d["relay"]["published_through"] == 7
b = d["backlog"]
assert b["rows"] == 5 and b["oldest_id"] == 8 and b["oldest_age_ms"] > 86400000, b
' "$T/status.json" "$(part -2)" "$(day -1)" "$(day -2)"

# ------------------------------------------------ broker up: published, then dropped
require "the broker is up" broker up
published() { [ "$(q 'SELECT published_through FROM event_log_relay')" -ge 12 ]; }
require "the relay publishes every row: the watermark passes id 12" wait_until 60 published
stop
start
require "after a restart, the upkeep drops the partition two days back" \
    wait_until 15 said "event_log: dropped $(part -2) (3 rows)"
check "it is gone" not exists "$(part -2)"
check "no WARN this time" not said "is past \[database\] event_log_retention but kept"
same "default partition: the old row, now published, went; the recent one stays" \
    "$(q "SELECT string_agg(id::text, ' ' ORDER BY id) FROM event_log_default")" "3"
$CTL db status > "$T/status2.out" 2>&1
check "db status: no backlog" grep -qx "backlog: none" "$T/status2.out"

# ------------------------------------------------ a reader holding a lock
# A long read of event_log (a replay, a report) holds ACCESS SHARE; the
# upkeep's DROP needs ACCESS EXCLUSIVE.  The writer must not wait behind
# the reader with its commits: its upkeep gives up and tries again later.
stop
q "SELECT * FROM exfeedd_event_log_create(date '$D0' - 5, date '$D0' - 5)" >/dev/null
"$PGTMP" psql "$PG" -At -c "BEGIN; LOCK TABLE event_log IN ACCESS SHARE MODE; SELECT pg_sleep(20); COMMIT" >/dev/null 2>&1 &
LOCKER=$!
wait_until 5 sh -c "[ \"\$('$PGTMP' psql '$PG' -At -c \"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()\")\" = 1 ]"
start
SOCK=$T/run/writer.sock
require "the writer listens" wait_until 10 test -S "$SOCK"
now_ms=$(( $(date +%s) * 1000 ))
echo "{\"t\":8,\"a\":1,\"u\":7,\"E\":$now_ms,\"d\":{\"e\":\"LOCK_TEST\",\"raw\":\"{}\"}}" > "$T/ev"
check "with a reader holding event_log, an event is still committed and acked within 5 s" \
    sh -c "'$DPSEND' -s '$SOCK' -t 5 -f '$T/ev' | grep -q '^sent 1 acked 1 '"
check "the upkeep gave up on the lock and says so" \
    wait_until 5 said "maintenance job failed: .*lock timeout"
check "the partition it could not drop is still there (the next upkeep takes it)" exists "$(part -5)"
kill "$LOCKER" 2>/dev/null; wait "$LOCKER" 2>/dev/null
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()" >/dev/null

# ------------------------------------------------ publishing off
stop
q "SELECT * FROM exfeedd_event_log_create(date '$D0' - 3, date '$D0' - 2)" >/dev/null
pt=$(q 'SELECT published_through FROM event_log_relay')
ins 101 -3 4; ins 102 -2 4
ins 103 -30 5 "t"
q "SELECT setval('event_log_id_seq', 103)" >/dev/null
check "the new rows are after the watermark" [ "$pt" -lt 101 ]
sed -i "s|^brokers = .*|brokers =|" "$T/exfeedd.conf"
start
require "publishing off: the upkeep drops the partition three days back" \
    wait_until 15 said "event_log: dropped $(part -3) (1 rows)"
check "... and the one two days back, though its row is not published" \
    wait_until 5 said "event_log: dropped $(part -2) (1 rows)"
check "... and the one five days back" said "event_log: dropped $(part -5) (0 rows)"
check "no partition kept, no WARN" not said "but kept"
same "default partition: the old row went, published or not" \
    "$(q "SELECT string_agg(id::text, ' ' ORDER BY id) FROM event_log_default")" "3"
$CTL db status > "$T/status3.out" 2>&1
check "db status, publishing off: says so" \
    sh -c "grep -qx 'event_log: retention 1d: days before $(day -1) go (publishing off)' '$T/status3.out' && grep -q '^relay: off (\[kafka\] brokers is empty), watermark id [0-9]*\$' '$T/status3.out' && ! grep -q '^backlog' '$T/status3.out'"
stop
same "the partitions left are yesterday's to today + 2" \
    "$(q "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'event_log'::regclass")" "event_log_default $(part -1) $(part 0) $(part 1) $(part 2)"
check "the day did not change during the test (UTC midnight)" [ "$(day 0)" = "$D0" ]
finish
