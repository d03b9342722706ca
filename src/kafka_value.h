/*
 * kafka_value.h: the value of an event's Kafka message, made from its JSON
 * form (a user-data event's event_log row, a market event's ev_to_json) in
 * the [kafka] format (doc/topics.md): json sends the
 * payload as it is, protobuf the event's message of proto/exfeedd.proto.
 */
#ifndef EXFEEDD_KAFKA_VALUE_H
#define EXFEEDD_KAFKA_VALUE_H

#include <stddef.h>

#include "strbuf.h"

struct ProtobufCMessageDescriptor;

/*
 * One event_log row's value, appended to out (set out->len = 0 first to
 * reuse a buffer; a protobuf value is binary, so take out->len, not
 * strlen).
 *
 * format: CONF_KAFKA_JSON or CONF_KAFKA_PROTOBUF (config.h).  event_type:
 * event_log.event_type ("order", "fill", "algo", "position", "balance",
 * "margin_call", "config", "unknown", and the market types "kline",
 * "mark_price", "funding", "ticker", "trade", "book", "book_ticker",
 * "liquidation").  payload[0..payload_len): its
 * payload, the JSON of ev_to_json().  raw[0..raw_len): its raw frame, used
 * (and needed) only for "unknown"; raw may be NULL for the other types.
 *
 *   "unknown", either format: the raw frame's bytes as they are, so a
 *     consumer of user-data-unknown gets exactly what the exchange sent.
 *   json: the payload's bytes as they are (not parsed: the writer checked
 *     them and PostgreSQL kept them as text).
 *   protobuf: the payload parsed (jansson: integers exact to 64 bits,
 *     duplicate keys refused) into the type's message (kafka_value_message)
 *     and packed.  Every key fills the field of the same name, through the
 *     message's descriptor; "type" is the one key that is not a field: it
 *     must equal event_type (the message's type says it).  A string field
 *     takes a string, or null for "" (an absent decimal); an int64 field
 *     an integer; an int32 field an integer within its range; a bool field
 *     true or false; a field with presence (a one-field oneof) also null,
 *     for absent; a repeated field of Level messages (a book side) an
 *     array of [price, qty] string pairs.  A key the payload lacks leaves its field at its default
 *     (rows written before the field existed).
 *
 * Returns 0, or -1 with a message in err[errlen] and out->len as it was:
 * an unknown event_type, a NULL payload, "unknown" without raw, a payload
 * that is not one JSON object, a key with no field in the message, a
 * value of the wrong JSON type or range for its field, "type" not equal
 * to event_type (each names the key), or out of memory.  A key is never
 * dropped silently: a field added to the JSON form and not to the .proto
 * fails here, not at the consumer.
 *
 * Runs once per published event; allocates nothing but jansson's parse
 * tree (protobuf), a book side's Level messages (freed before it returns)
 * and out's growth.
 */
int	 kafka_value(int format, const char *event_type, const char *payload, size_t payload_len,
	    const char *raw, size_t raw_len, struct strbuf *out, char *err, size_t errlen);

/*
 * The full name of event_type's protobuf message ("exfeedd.v1.Order"), and
 * its descriptor; NULL for "unknown" (raw in both formats) and for a name
 * that is no event type of a user-data topic.
 */
const char	*kafka_value_message(const char *event_type);
const struct ProtobufCMessageDescriptor *kafka_value_descriptor(const char *event_type);

#endif
