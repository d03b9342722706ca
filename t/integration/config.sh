#!/bin/sh
# Acceptance: the shipped config passes -n; -nv matches the golden effective
# config; every error class exits 78 with "FILE:LINE:" first.
. "$top_srcdir/t/lib.sh"

"$EXFEEDD" -n -c "$top_srcdir/etc/exfeedd.conf" 2>/dev/null
check "exfeedd -n on the shipped etc/exfeedd.conf exits 0" [ $? -eq 0 ]
"$EXFEEDD" -nv -c "$top_srcdir/etc/exfeedd.conf" > "$T/nv.out"
check "exfeedd -nv output equals the golden file" diff -u "$top_srcdir/t/integration/exfeedd.conf.nv" "$T/nv.out"

# expect_error NAME LINE PATTERN < config: exit 78, first line FILE:LINE: ...
expect_error() {
	name=$1 line=$2 pattern=$3
	cat > "$T/$name.conf"
	"$EXFEEDD" -n -c "$T/$name.conf" > "$T/$name.out" 2>&1
	rc=$?
	first=$(head -n 1 "$T/$name.out")
	if [ "$rc" -eq 78 ] && printf '%s\n' "$first" | grep -q "^$T/$name.conf:$line: $pattern"; then
		ok "$name: exit 78, $first"
	else
		not_ok "$name: exit $rc, first line: $first (wanted $T/$name.conf:$line: $pattern)"
	fi
}
base="[database]
conninfo = dbname=x"

expect_error unknown_section 3 "\[nosuch\]: unknown section" <<END
$base
[nosuch]
a = b
END
expect_error unknown_key 5 "\[daemon\] shards: unknown key" <<END
$base
[daemon]
# comment
shards = 4
END
expect_error bad_duration 5 "\[daemon\] shutdown_timeout: \"10\" is not a duration" <<END
$base

[daemon]
shutdown_timeout = 10
END
expect_error bad_duration_unit 4 "\[daemon\] ready_timeout: \"5 minutes\" is not a duration" <<END
$base
[daemon]
ready_timeout = 5 minutes
END
expect_error bad_number 4 "\[daemon\] account_shards: \"two\" is not a whole number" <<END
$base
[daemon]
account_shards = two
END
expect_error out_of_range 5 "\[daemon\] account_shards: 0 is out of range (1 to 256)" <<END
$base
[daemon]
log_level = info
account_shards = 0
END
expect_error duration_out_of_range 4 "\[userdata\] listenkey_renewal: 2h is out of range (1s to 55m)" <<END
$base
[userdata]
listenkey_renewal = 2h
END
expect_error bad_boolean 4 "\[daemon\] core_dumps: \"maybe\" is not a boolean" <<END
$base
[daemon]
core_dumps = maybe
END
expect_error bad_enum 4 "\[daemon\] log_level: \"loud\" is not one of: debug info warn error" <<END
$base
[daemon]
log_level = loud
END
expect_error missing_required_key 1 "\[database\] conninfo: required key is missing" <<END
[database]
[daemon]
account_shards = 2
END
expect_error missing_required_section 2 "\[database\] conninfo: required key is missing (and so is its section)" <<END
[daemon]
account_shards = 2
END
expect_error repeated_key 5 "\[daemon\] account_shards: key repeated (first set at line 4)" <<END
$base
[daemon]
account_shards = 2
account_shards = 3
END
expect_error repeated_section 5 "\[daemon\]: section repeated (first at line 3)" <<END
$base
[daemon]
account_shards = 2
[daemon]
log_level = info
END
expect_error bad_hostport 4 "\[gateway\] listen: port must be a number from 0 to 65535" <<END
$base
[gateway]
listen = 127.0.0.1:99999
END
expect_error relative_path 4 "\[daemon\] pidfile: must be an absolute path" <<END
$base
[daemon]
pidfile = run/x.pid
END
expect_error unknown_list_item 4 "\[market\] streams: unknown item \"kline_7m\"" <<END
$base
[market]
streams = aggTrade, kline_7m
END
expect_error unknown_exchange 4 "\[exchange.kraken\]: unknown exchange" <<END
$base

[exchange.kraken]
END
expect_error bad_url 5 "\[exchange.binance-futures\] rest_url: URL must start with" <<END
$base
[exchange.binance-futures]
ca_file =
rest_url = fapi.binance.com
END
expect_error syntax 4 "syntax error" <<END
$base
[daemon]
this line has no equals sign
END
expect_error cross_key 5 "\[daemon\] heartbeat_timeout: must be at least twice heartbeat_interval" <<END
$base
[daemon]
heartbeat_interval = 2s
heartbeat_timeout = 3s
END
# [kafka]: librdkafka checks every rdkafka.* line at -n, the writer's own
# properties are refused, topic names and broker lists are checked.
expect_error rdkafka_unknown_property 5 "\[kafka\] rdkafka.no.such.property: No such configuration property: \"no.such.property\" (librdkafka " <<END
$base
[kafka]
rdkafka.security.protocol = SSL
rdkafka.no.such.property = 1
END
expect_error rdkafka_bad_value 4 "\[kafka\] rdkafka.socket.timeout.ms: Invalid value for configuration property \"socket.timeout.ms\"" <<END
$base
[kafka]
rdkafka.socket.timeout.ms = abc
END
expect_error rdkafka_owned 4 "\[kafka\] rdkafka.linger.ms: the writer sets linger.ms itself, from \[kafka\] linger: use that key instead" <<END
$base
[kafka]
rdkafka.linger.ms = 100
END
expect_error rdkafka_acks 4 "\[kafka\] rdkafka.acks: cannot be set: .*the writer needs acks=all and idempotence for its guarantees" <<END
$base
[kafka]
rdkafka.acks = 1
END
expect_error topic_name 4 "\[kafka\] topic.fill: \"fills!\" is not a Kafka topic name" <<END
$base
[kafka]
topic.fill = fills!
END
expect_error topic_type 4 "\[kafka\] topic.trades: unknown event type \"trades\" (known: order, fill, algo, position, balance, margin_call, config, unknown, kline, mark_price, funding, ticker, trade, book, book_ticker, liquidation)" <<END
$base
[kafka]
topic.trades = trades
END
expect_error broker_list 4 "\[kafka\] brokers: \"kafka2\": expected HOST:PORT" <<END
$base
[kafka]
brokers = kafka1:9092, kafka2
END
# exfeedctl loads the same file the same way.
"$EXFEEDCTL" -c "$T/rdkafka_unknown_property.conf" db status > "$T/ctl_rdkafka.out" 2>&1
check "exfeedctl: an unknown rdkafka property is exit 78 at FILE:LINE" sh -c "[ $? -eq 78 ] && \
    grep -q '$T/rdkafka_unknown_property.conf:5: \[kafka\] rdkafka.no.such.property: ' '$T/ctl_rdkafka.out'"
# Empty brokers: valid, publishing off.  A secret never shows in -nv.
cat > "$T/kafka.conf" <<END
$base
[kafka]
brokers =
rdkafka.security.protocol = SASL_SSL
rdkafka.sasl.password = hunter2-s3cret
END
"$EXFEEDD" -nv -c "$T/kafka.conf" > "$T/kafka.out" 2>&1
check "brokers = (empty) is valid: exit 0" [ $? -eq 0 ]
check "... and -nv shows it empty" grep -qx "brokers =" "$T/kafka.out"
check "-nv shows an rdkafka property" grep -qx "rdkafka.security.protocol = SASL_SSL" "$T/kafka.out"
check "-nv hides a secret one" grep -qx "rdkafka.sasl.password = (hidden)" "$T/kafka.out"
check "... and shows its value nowhere" sh -c "! grep -q hunter2 '$T/kafka.out'"

long=$(printf 'x%.0s' $(seq 1 220))
expect_error long_line 4 "line too long" <<END
$base
[market]
symbols = $long
END

# The unreadable file itself is reported as FILE:0.
"$EXFEEDD" -n -c "$T/does-not-exist.conf" > "$T/missing.out" 2>&1
rc=$?
check "unreadable file: exit 78" [ "$rc" -eq 78 ]
check "unreadable file: FILE:0: first" grep -q "^$T/does-not-exist.conf:0: cannot read the configuration file: No such file or directory" "$T/missing.out"
mkdir "$T/adir.conf"
"$EXFEEDD" -n -c "$T/adir.conf" > "$T/dir.out" 2>&1
rc=$?
check "a directory as config: exit 78 with FILE:LINE" sh -c "[ $rc -eq 78 ] && grep -q '^$T/adir.conf:[0-9]*: ' '$T/dir.out'"

# Several errors: all are reported, in line order.
cat > "$T/many.conf" <<END
[daemon]
account_shards = 0
log_level = loud
[database]
conninfo = x
END
"$EXFEEDD" -n -c "$T/many.conf" > "$T/many.out" 2>&1
check "two errors: two lines" [ "$(wc -l < "$T/many.out")" -eq 2 ]
check "two errors: in line order" sh -c "head -n 1 '$T/many.out' | grep -q ':2: ' && tail -n 1 '$T/many.out' | grep -q ':3: '"

# Continuation lines extend lists; values print canonically.
cat > "$T/cont.conf" <<END
$base
[market]
symbols = BTCUSDT,
  ETHUSDT SOLUSDT
[daemon]
shutdown_timeout = 120s
core_dumps = off
END
"$EXFEEDD" -nv -c "$T/cont.conf" > "$T/cont.out"
check "indented continuation lines extend a list" grep -qx "symbols = BTCUSDT, ETHUSDT, SOLUSDT" "$T/cont.out"
check "durations print in their largest exact unit" grep -qx "shutdown_timeout = 2m" "$T/cont.out"
check "booleans print as yes/no" grep -qx "core_dumps = no" "$T/cont.out"
# Not a configuration file: a device is refused at once (it was read for
# ever), by exfeedd -n and by exfeedctl alike.
timeout 10 "$EXFEEDD" -n -c /dev/zero > "$T/zero.out" 2>&1
check "-c /dev/zero: exit 78, not a hang" [ $? -eq 78 ]
check "... says it is not a regular file" grep -q "^/dev/zero:0: not a regular file" "$T/zero.out"
timeout 10 "$EXFEEDCTL" -c /dev/zero db status > "$T/zero.out" 2>&1
check "exfeedctl -c /dev/zero db status: exit 78" [ $? -eq 78 ]
# A key above every section, a BOM: said, or read as meant.
printf 'account_shards = 7\n%s\n' "$base" > "$T/top.conf"
"$EXFEEDD" -n -c "$T/top.conf" > "$T/top.out" 2>&1
check "a key before any section: exit 78 with FILE:LINE" grep -q "^$T/top.conf:1: account_shards: key outside any section" "$T/top.out"
printf '\357\273\277%s\n' "$base" > "$T/bom.conf"
check "a UTF-8 BOM before the first section: read as meant" "$EXFEEDD" -n -c "$T/bom.conf"
finish
