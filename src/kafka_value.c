/*
 * kafka_value.c: an event's Kafka value (kafka_value.h).  The
 * protobuf form is filled generically, key by key, through the message's
 * protobuf-c descriptor: no per-type code, so the .proto and the JSON form
 * (evcodec.c) are tied by name alone, and any drift between them is an
 * error here rather than a field lost on the way to a consumer.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "config.h"
#include "exfeedd.pb-c.h"
#include "kafka_value.h"

/* event_log.event_type → its message; "unknown" goes raw. */
static const struct {
	const char				*type;
	const ProtobufCMessageDescriptor	*desc;
} kv_types[] = {
	{ "order", &exfeedd__v1__order__descriptor },
	{ "fill", &exfeedd__v1__fill__descriptor },
	{ "algo", &exfeedd__v1__algo_order__descriptor },
	{ "position", &exfeedd__v1__position__descriptor },
	{ "balance", &exfeedd__v1__balance__descriptor },
	{ "margin_call", &exfeedd__v1__margin_call__descriptor },
	{ "config", &exfeedd__v1__account_config__descriptor },
	{ "unknown", NULL },
	{ "kline", &exfeedd__v1__kline__descriptor },
	{ "mark_price", &exfeedd__v1__mark_price__descriptor },
	{ "funding", &exfeedd__v1__funding__descriptor },
	{ "ticker", &exfeedd__v1__ticker__descriptor },
	{ "trade", &exfeedd__v1__trade__descriptor },
	{ "book", &exfeedd__v1__book__descriptor },
	{ "book_ticker", &exfeedd__v1__book_ticker__descriptor },
	{ "liquidation", &exfeedd__v1__liquidation__descriptor },
};
#define KV_NTYPES	(sizeof(kv_types) / sizeof(kv_types[0]))

/* Room for any of the messages, on the caller's stack. */
union kv_msg {
	ProtobufCMessage		base;
	Exfeedd__V1__Order		order;
	Exfeedd__V1__Fill		fill;
	Exfeedd__V1__AlgoOrder		algo;
	Exfeedd__V1__Position		position;
	Exfeedd__V1__Balance		balance;
	Exfeedd__V1__MarginCall		margin_call;
	Exfeedd__V1__AccountConfig	config;
	Exfeedd__V1__Kline		kline;
	Exfeedd__V1__MarkPrice		mark_price;
	Exfeedd__V1__Funding		funding;
	Exfeedd__V1__Ticker		ticker;
	Exfeedd__V1__Trade		trade;
	Exfeedd__V1__Book		book;
	Exfeedd__V1__BookTicker		book_ticker;
	Exfeedd__V1__Liquidation	liquidation;
};

/*
 * What kv_set allocated for repeated fields (a book's two sides): freed
 * once the message is packed.
 */
#define KV_ALLOCS	4
struct kv_allocs {
	void	*p[KV_ALLOCS];
	int	 n;
};

static void
kv_allocs_free(struct kv_allocs *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->p[i]);
	a->n = 0;
}

static int
kv_type(const char *type)
{
	if (type == NULL)
		return -1;
	for (size_t i = 0; i < KV_NTYPES; i++)
		if (strcmp(kv_types[i].type, type) == 0)
			return (int)i;
	return -1;
}

const ProtobufCMessageDescriptor *
kafka_value_descriptor(const char *event_type)
{
	int t = kv_type(event_type);

	return t == -1 ? NULL : kv_types[t].desc;
}

const char *
kafka_value_message(const char *event_type)
{
	const ProtobufCMessageDescriptor *d = kafka_value_descriptor(event_type);

	return d == NULL ? NULL : d->name;
}

static int
kv_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/*
 * One key's value into its field of m.  Strings point into the parse tree
 * (packed before it is freed): nothing is copied.
 */
/*
 * A repeated message field whose message has only string fields (Level),
 * from a JSON array of arrays of strings, positionally (a book side:
 * [["price","qty"],...]).  The messages and the pointer array are one
 * allocation, kept in allocs.
 */
static int
kv_set_repeated(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *type,
    const char *key, const json_t *v, struct kv_allocs *allocs, char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *sub = f->descriptor;
	size_t n, size;
	char *mem;
	ProtobufCMessage **ptrs;

	if (f->type != PROTOBUF_C_TYPE_MESSAGE)
		return kv_fail(err, errlen, "%s payload: key \"%s\": repeated fields other than "
		    "of messages are not supported", type, key);
	for (unsigned k = 0; k < sub->n_fields; k++)
		if (sub->fields[k].type != PROTOBUF_C_TYPE_STRING ||
		    sub->fields[k].label == PROTOBUF_C_LABEL_REPEATED)
			return kv_fail(err, errlen, "%s payload: key \"%s\": %s has fields other "
			    "than strings", type, key, sub->name);
	if (!json_is_array(v))
		return kv_fail(err, errlen, "%s payload: key \"%s\": %s, expected an array",
		    type, key, json_kind(v));
	if ((n = json_array_size(v)) == 0)
		return 0;
	if (allocs->n == KV_ALLOCS)
		return kv_fail(err, errlen, "%s payload: key \"%s\": too many repeated fields",
		    type, key);
	size = n * (sizeof(*ptrs) + sub->sizeof_message);
	if ((mem = malloc(size)) == NULL)
		return kv_fail(err, errlen, "%s: out of memory", type);
	allocs->p[allocs->n++] = mem;
	ptrs = (ProtobufCMessage **)(void *)mem;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		ProtobufCMessage *sm = (ProtobufCMessage *)(void *)(mem + n * sizeof(*ptrs) +
		    i * sub->sizeof_message);

		if (!json_is_array(e) || json_array_size(e) != sub->n_fields)
			return kv_fail(err, errlen, "%s payload: key \"%s\"[%zu]: %s, expected an "
			    "array of %u strings", type, key, i, json_kind(e), sub->n_fields);
		sub->message_init(sm);
		for (unsigned k = 0; k < sub->n_fields; k++) {
			const json_t *s = json_array_get(e, k);

			if (!json_is_string(s))
				return kv_fail(err, errlen, "%s payload: key \"%s\"[%zu][%u]: %s, "
				    "expected a string", type, key, i, k, json_kind(s));
			*(const char **)(void *)((char *)sm + sub->fields[k].offset) =
			    json_string_value(s);
		}
		ptrs[i] = sm;
	}
	*(size_t *)(void *)((char *)m + f->quantifier_offset) = n;
	*(ProtobufCMessage ***)(void *)((char *)m + f->offset) = ptrs;
	return 0;
}

static int
kv_set(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *type,
    const char *key, const json_t *v, struct kv_allocs *allocs, char *err, size_t errlen)
{
	char *p = (char *)m + f->offset;
	int presence = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
	    f->label == PROTOBUF_C_LABEL_OPTIONAL;
	json_int_t i;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return kv_set_repeated(m, f, type, key, v, allocs, err, errlen);
	if (json_is_null(v)) {
		/* "" for a string (an absent decimal); absent where presence exists. */
		if (f->type == PROTOBUF_C_TYPE_STRING || presence)
			return 0;
		return kv_fail(err, errlen, "%s payload: key \"%s\": null, and field %s of %s "
		    "has no presence", type, key, f->name, m->descriptor->name);
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(v))
			return kv_fail(err, errlen, "%s payload: key \"%s\": %s, expected a string "
			    "or null", type, key, json_kind(v));
		*(const char **)(void *)p = json_string_value(v);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (!json_is_integer(v))
			return kv_fail(err, errlen, "%s payload: key \"%s\": %s, expected an integer",
			    type, key, json_kind(v));
		*(int64_t *)(void *)p = (int64_t)json_integer_value(v);
		break;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (!json_is_integer(v))
			return kv_fail(err, errlen, "%s payload: key \"%s\": %s, expected an integer",
			    type, key, json_kind(v));
		i = json_integer_value(v);
		if (i < INT32_MIN || i > INT32_MAX)
			return kv_fail(err, errlen, "%s payload: key \"%s\": %lld does not fit "
			    "an int32", type, key, (long long)i);
		*(int32_t *)(void *)p = (int32_t)i;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return kv_fail(err, errlen, "%s payload: key \"%s\": %s, expected a boolean",
			    type, key, json_kind(v));
		*(protobuf_c_boolean *)(void *)p = json_is_true(v);
		break;
	default:
		return kv_fail(err, errlen, "%s payload: key \"%s\": field %s of %s is of a type "
		    "kafka_value does not fill", type, key, f->name, m->descriptor->name);
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)(void *)((char *)m + f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0)
		*(protobuf_c_boolean *)(void *)((char *)m + f->quantifier_offset) = 1;
	return 0;
}

static int
kv_protobuf(const ProtobufCMessageDescriptor *d, const char *type, const char *payload,
    size_t payload_len, struct strbuf *out, char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *f;
	union kv_msg m;
	struct kv_allocs allocs = { { NULL }, 0 };
	json_error_t jerr;
	const char *key;
	json_t *root, *v;
	size_t size;
	int rc = -1;

	if (d->sizeof_message > sizeof(m))
		return kv_fail(err, errlen, "%s: %s does not fit kafka_value's message buffer",
		    type, d->name);
	if ((root = json_loadb(payload, payload_len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return kv_fail(err, errlen, "%s payload: not JSON: %s (at byte %d)", type,
		    jerr.text, jerr.position);
	if (!json_is_object(root)) {
		kv_fail(err, errlen, "%s payload: %s, expected an object", type, json_kind(root));
		goto done;
	}
	d->message_init(&m.base);
	json_object_foreach(root, key, v) {
		if (strcmp(key, "type") == 0) {
			if (!json_is_string(v) || strcmp(json_string_value(v), type) != 0) {
				kv_fail(err, errlen, "%s payload: key \"type\": %s%s%s, expected \"%s\"",
				    type, json_is_string(v) ? "\"" : "",
				    json_is_string(v) ? json_string_value(v) : json_kind(v),
				    json_is_string(v) ? "\"" : "", type);
				goto done;
			}
			continue;
		}
		if ((f = protobuf_c_message_descriptor_get_field_by_name(d, key)) == NULL) {
			kv_fail(err, errlen, "%s payload: key \"%s\" has no field in %s (update "
			    "proto/exfeedd.proto)", type, key, d->name);
			goto done;
		}
		if (kv_set(&m.base, f, type, key, v, &allocs, err, errlen) == -1)
			goto done;
	}
	size = protobuf_c_message_get_packed_size(&m.base);
	if (strbuf_reserve(out, size) == -1) {
		kv_fail(err, errlen, "%s: out of memory", type);
		goto done;
	}
	if (protobuf_c_message_pack(&m.base, (uint8_t *)out->p + out->len) != size) {
		kv_fail(err, errlen, "%s: %s packed to a size other than its own", type, d->name);
		goto done;
	}
	out->len += size;
	out->p[out->len] = '\0';
	rc = 0;
done:
	kv_allocs_free(&allocs);
	json_decref(root);
	return rc;
}

int
kafka_value(int format, const char *event_type, const char *payload, size_t payload_len,
    const char *raw, size_t raw_len, struct strbuf *out, char *err, size_t errlen)
{
	int t = kv_type(event_type);

	if (t == -1)
		return kv_fail(err, errlen, "event type \"%s\" has no Kafka topic",
		    event_type ? event_type : "(null)");
	if (kv_types[t].desc == NULL) {
		if (raw == NULL)
			return kv_fail(err, errlen, "%s: no raw frame to send", event_type);
		if (strbuf_put(out, raw, raw_len) == -1)
			return kv_fail(err, errlen, "%s: out of memory", event_type);
		return 0;
	}
	if (payload == NULL)
		return kv_fail(err, errlen, "%s: no payload", event_type);
	switch (format) {
	case CONF_KAFKA_JSON:
		if (strbuf_put(out, payload, payload_len) == -1)
			return kv_fail(err, errlen, "%s: out of memory", event_type);
		return 0;
	case CONF_KAFKA_PROTOBUF:
		return kv_protobuf(kv_types[t].desc, event_type, payload, payload_len, out, err,
		    errlen);
	}
	return kv_fail(err, errlen, "unknown Kafka value format %d", format);
}
