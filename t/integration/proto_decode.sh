#!/bin/sh
# A consumer not written by us reads the Kafka values (issue 11, acceptance
# 3): protoc --decode (Debian protobuf-compiler) with the shipped
# proto/exfeedd.proto decodes the protobuf value of every event t/kvsample
# makes from the Binance fixtures (stream frames, REST bodies) and the edges
# (INT64_MAX and 2^53+1 ids, text in several scripts, absent decimals,
# leverage 0 and multi-assets false), and every decoded field equals the
# event's JSON payload, nothing more and nothing missing (protocheck.py).
# The json values are the payloads byte for byte; an unknown event's value
# is its raw frame in both formats.  And doc/topics.md's examples are what
# the code makes.
. "$top_srcdir/t/lib.sh"

PROTOC=${PROTOC:-$(command -v protoc || true)}
if [ -z "$PROTOC" ]; then
	echo "# protoc is not installed (apt-get install protobuf-compiler): skipping"
	exit 77
fi
proto="$top_srcdir/proto/exfeedd.proto"

if "$top_builddir/t/kvsample" "$FIXTURES" "$T" > "$T/manifest" 2> "$T/kvsample.err"; then
	ok "kvsample made the values of every fixture event (exit 0)"
else
	not_ok "kvsample made the values of every fixture event (exit 0)"
	sed 's/^/#   /' "$T/kvsample.err"
fi
for type in order fill algo position balance margin_call config unknown; do
	check "the sample has events of type $type" grep -q "^[0-9]* $type " "$T/manifest"
done
check "... and REST (resync) rows, and the edges" \
    sh -c "grep -q ' rest_' '$T/manifest' && grep -q ' edge\$' '$T/manifest'"

while read -r n type msg src; do
	what="$n $type ($src)"
	if [ "$msg" = - ]; then
		check "$what: json value is the raw frame, byte for byte" cmp -s "$T/$n.raw" "$T/$n.json"
		check "$what: protobuf value is the raw frame, byte for byte" cmp -s "$T/$n.raw" "$T/$n.pb"
		continue
	fi
	check "$what: json value is the payload, byte for byte" cmp -s "$T/$n.payload" "$T/$n.json"
	if [ ! -f "$T/$n.pb" ]; then
		not_ok "$what: kafka_value made no protobuf value (kvsample's error above)"
		continue
	fi
	if "$PROTOC" --proto_path="$top_srcdir/proto" --decode="$msg" "$proto" \
	    < "$T/$n.pb" > "$T/$n.txt" 2> "$T/$n.err"; then
		ok "$what: protoc --decode $msg reads the value"
	else
		not_ok "$what: protoc --decode $msg reads the value: $(cat "$T/$n.err")"
		continue
	fi
	if /usr/bin/python3 "$top_srcdir/t/integration/protocheck.py" "$proto" "$T/$n.payload" "$T/$n.txt" \
	    > "$T/$n.cmp" 2>&1; then
		ok "$what: every decoded field equals the JSON payload's"
	else
		not_ok "$what: every decoded field equals the JSON payload's"
		sed 's/^/#   /' "$T/$n.cmp"
		echo "#   payload: $(cat "$T/$n.payload")"
	fi
done < "$T/manifest"

# The edges, spelled out as a consumer sees them.
edge_order=$(awk '$2 == "order" && $4 == "edge" { print $1 }' "$T/manifest")
edge_config=$(awk '$2 == "config" && $4 == "edge" { print $1 }' "$T/manifest")
check "INT64_MAX order id and 2^53+1 user id, exact" \
    sh -c "grep -qx 'order_id: 9223372036854775807' '$T/$edge_order.txt' &&
	grep -qx 'user_id: 9007199254740993' '$T/$edge_order.txt'"
check "absent decimals are absent (price, avg_price, stop_price)" \
    sh -c "! grep -q '^\(price\|avg_price\|stop_price\):' '$T/$edge_order.txt'"
check "leverage 0 and multi_assets false are present (presence)" \
    sh -c "grep -qx 'leverage: 0' '$T/$edge_config.txt' && grep -qx 'multi_assets: false' '$T/$edge_config.txt'"
check "a leverage change has no multi_assets (null: not part of it)" \
    sh -c "n=\$(awk '\$4 == \"account_config_update_leverage.json\" { print \$1 }' '$T/manifest') &&
	grep -q '^leverage: ' '$T/'\$n.txt && ! grep -q '^multi_assets' '$T/'\$n.txt"

# doc/topics.md shows what the code makes now: its examples and field tables.
if KVSAMPLE="$top_builddir/t/kvsample" FIXTURES="$FIXTURES" PROTO="$proto" PROTOC="$PROTOC" \
    /usr/bin/python3 "$top_srcdir/tools/topics-examples" --check "$top_srcdir/doc/topics.md" \
    > "$T/doc.out" 2>&1; then
	ok "doc/topics.md: every example and field table is what the code and the .proto make"
else
	not_ok "doc/topics.md: every example and field table is what the code and the .proto make"
	sed 's/^/#   /' "$T/doc.out"
fi
finish
