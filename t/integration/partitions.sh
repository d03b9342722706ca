#!/bin/sh
# sql/004's functions on their own, on a throwaway PostgreSQL (tools/pgtmp):
# exfeedd_event_log_create and exfeedd_event_log_retain give the same days
# and the same cut whatever the session's TimeZone (UTC+14 to UTC-11); a
# reader's lock makes them fail within a second instead of waiting (the
# writer runs them between its batches); a day far ahead waits in the
# default partition and moves into its partition when that is made;
# exfeedd_fact_day follows ev_fact_day (event.c) at its edges.
. "$top_srcdir/t/lib.sh"
skip_in_repeat_pass partitions.sh sanitizer

pg_tests
CI=$(PGTMP_FAST=1 "$PGTMP" start "$PG" 2>"$T/pgtmp.err")
[ -n "$CI" ] || { not_ok "pgtmp start"; cat "$T/pgtmp.err"; finish; }
printf '[database]\nconninfo = %s\n' "$CI" > "$T/c.conf"
"$EXFEEDCTL" -c "$T/c.conf" db migrate >/dev/null 2>&1 || { not_ok "db migrate"; finish; }
# q [TZ] SQL: in a session whose TimeZone is TZ (default UTC).
q() {
	if [ $# -eq 2 ]; then qz=$1; shift; else qz=UTC; fi
	PGTZ=$qz "$PGTMP" psql "$PG" -At -v ON_ERROR_STOP=1 -c "$1" 2>&1
}
same() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "# got:  $2"; echo "# want: $3"; fi
}
D0=$(date -u +%F)
part() { echo "event_log_p$(date -u -d "$D0 $1 days" +%Y%m%d)"; }
parts() { q "SELECT coalesce(string_agg(c.relname, ' ' ORDER BY c.relname), '') FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'event_log'::regclass
    AND NOT c.relname = 'event_log_default'"; }
clear() {
	for p in $(parts); do q "DROP TABLE $p" >/dev/null; done
	q "TRUNCATE event_log" >/dev/null
}
# ins ID DAY COMMITTED: a bare row of that day, committed then (SQL).
ins() {
	q "INSERT INTO event_log (id, event_id, day, exchange, event_type, exchange_time,
	   received_at, committed_at, payload) VALUES ($1, 'e$1', $2, 'binance-futures',
	   'unknown', 0, $3, $3, '{}')" >/dev/null
}

# ------------------------------------------------------------ time zones
for z in UTC Asia/Tokyo Pacific/Kiritimati America/Los_Angeles Pacific/Pago_Pago; do
	clear
	same "$z: create makes the UTC days asked for, by name" \
	    "$(q "$z" "SELECT string_agg(partition, ' ') FROM exfeedd_event_log_create(date '$D0' - 2, date '$D0' + 1)")" \
	    "$(part -2) $(part -1) $(part 0) $(part 1)"
	same "$z: each partition holds exactly its UTC day" \
	    "$(q "$z" "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = '$(part 0)'")" \
	    "FOR VALUES FROM ('$D0') TO ('$(date -u -d "$D0 1 day" +%F)')"
	# The cut of the default partition: keep_from 00:00 UTC.
	K="(date '$D0' - 1)::timestamp AT TIME ZONE 'UTC'"
	ins 1 "date '$D0' - 30" "$K - interval '1 hour'"
	ins 2 "date '$D0' - 30" "$K + interval '1 hour'"
	same "$z: the session's zone is $z" "$(q "$z" "SHOW timezone")" "$z"
	q "$z" "SELECT * FROM exfeedd_event_log_retain(date '$D0' - 1, 10)" > "$T/retain.out"
	same "$z: retain drops the partition before keep_from, deletes the row committed before its midnight UTC" \
	    "$(sort "$T/retain.out" | tr '\n' ' ')" "deleted|event_log_default|1 dropped|$(part -2)|0 "
	same "$z: the row committed after that midnight stays" \
	    "$(q "SELECT string_agg(id::text, ' ') FROM event_log_default")" 2
done

# ------------------------------------------------------------ a reader's lock
clear
q "SELECT count(*) FROM exfeedd_event_log_create(date '$D0' - 3, date '$D0')" >/dev/null
"$PGTMP" psql "$PG" -At -c "BEGIN; LOCK TABLE event_log IN ACCESS SHARE MODE; SELECT pg_sleep(30); COMMIT" >/dev/null 2>&1 &
LOCKER=$!
locked() { [ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = 'event_log'::regclass AND l.granted AND a.query LIKE '%pg_sleep(30)%'")" = 1 ]; }
wait_until 10 locked
t0=$(date +%s%N)
out=$(q "SELECT * FROM exfeedd_event_log_retain(date '$D0' - 1, NULL)")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "retain with a reader holding event_log: fails on the lock timeout ($ms ms)" \
    sh -c "echo '$out' | grep -q 'canceling statement due to lock timeout' && [ $ms -lt 3000 ]"
same "... and drops nothing" "$(parts)" "$(part -3) $(part -2) $(part -1) $(part 0)"
t0=$(date +%s%N)
out=$(q "SELECT * FROM exfeedd_event_log_create(date '$D0' + 1, date '$D0' + 1)")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "create with a reader holding event_log: fails on the lock timeout ($ms ms)" \
    sh -c "echo '$out' | grep -q 'canceling statement due to lock timeout' && [ $ms -lt 3000 ]"
kill "$LOCKER" 2>/dev/null
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$LOCKER" 2>/dev/null
same "the lock gone, retain drops what is past" \
    "$(q "SELECT string_agg(partition, ' ') FROM exfeedd_event_log_retain(date '$D0' - 1, NULL)")" \
    "$(part -3) $(part -2)"

# ------------------------------------------------------------ days far ahead
clear
ins 1 "date '$D0' + 400" "now()"
ins 2 "date '$D0' + 400" "now()"
ins 3 "date '$D0' + 401" "now()"
same "rows of a day far ahead wait in the default partition" \
    "$(q "SELECT string_agg(id::text, ' ' ORDER BY id) FROM event_log_default")" "1 2 3"
same "making that day's partition moves its rows in (and says how many)" \
    "$(q "SELECT * FROM exfeedd_event_log_create(date '$D0' + 400, date '$D0' + 400)")" \
    "created|$(part 400)|2"
same "... with their ids; the next day's row stays in the default partition" \
    "$(q "SELECT string_agg(id || ':' || tableoid::regclass, ' ' ORDER BY id) FROM event_log")" \
    "1:$(part 400) 2:$(part 400) 3:event_log_default"
check "... and the primary key still refuses a second copy" \
    sh -c "'$PGTMP' psql '$PG' -c \"INSERT INTO event_log (event_id, day, exchange, event_type, exchange_time, received_at, payload) VALUES ('e1', date '$D0' + 400, 'x', 'unknown', 0, now(), '{}')\" 2>&1 | grep -q 'duplicate key value violates unique constraint'"
check "create refuses a day whose name would not read back" \
    sh -c "'$PGTMP' psql '$PG' -c \"SELECT exfeedd_event_log_create(date '1969-12-31', date '1970-01-01')\" 2>&1 | grep -q 'event_log day partitions are for 1970-01-01 to 9999-12-31'"
check "create refuses a day past 9999" \
    sh -c "'$PGTMP' psql '$PG' -c \"SELECT exfeedd_event_log_create(date '9999-12-31', date '10000-01-01')\" 2>&1 | grep -q 'event_log day partitions are for'"

# ------------------------------------------------------------ exfeedd_fact_day
# ev_fact_day: the fact time (update_time; a fill's trade_time; none for a
# margin call or an unknown event) when above 0, else the event time; the
# floor of the ms over a day.
f() { q "SELECT exfeedd_fact_day('$1', '$2', $3)"; }
same "an order's update time" "$(f order '{"update_time": 86400000}' 5)" 1970-01-02
same "an order's update time 0: its event time" "$(f order '{"update_time": 0}' 86399999)" 1970-01-01
same "an update time below 0: the event time, as in C" "$(f order '{"update_time": -5}' 172800000)" 1970-01-03
same "an event time below 0: the day before 1970 (floor, not truncation)" "$(f order '{"update_time": 0}' -1)" 1969-12-31
same "... -86400000 ms is still 1969-12-31" "$(f order '{"update_time": 0}' -86400000)" 1969-12-31
same "... -86400001 ms is 1969-12-30" "$(f order '{"update_time": 0}' -86400001)" 1969-12-30
same "a fill's trade time" "$(f fill '{"trade_time": 1764633599999, "update_time": 1}' 1764633600000)" 2025-12-01
same "a margin call's event time, not its payload" "$(f margin_call '{"event_time": 1}' 1764633600000)" 2025-12-02
same "an unknown event's event time" "$(f unknown '{}' 1764633600000)" 2025-12-02
same "no update_time in the payload: the event time" "$(f position '{}' 1764633600000)" 2025-12-02
same "a time no date holds: infinity, not an error" "$(f order '{"update_time": 9223372036854775807}' 0)" infinity
same "... below: -infinity" "$(f order '{"update_time": 0}' -9223372036854775808)" -infinity

"$PGTMP" stop "$PG"
finish
