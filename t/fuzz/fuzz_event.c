/*
 * fuzz_event.c: the writer's side of every event a fuzz target produces
 * (fuzz.h): the codec round trip, the JSON, the Kafka values in both
 * formats, and the array literals the writer's prepared statements take.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>
#include <protobuf-c/protobuf-c.h>

#include "config.h"
#include "event.h"
#include "fuzz.h"
#include "kafka_value.h"
#include "mpack.h"
#include "writer_sql.h"

void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz property failed: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void
pack(const struct event *ev, msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	ev_pack(&pk, ev);
}

/* The JSON form parses, and its header names the event's own values. */
static void
json_check(const struct event *ev, const char *json)
{
	json_error_t e;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &e);
	const json_t *v;

	FUZZ_ASSERT(root != NULL, "ev_to_json is not JSON (%s): %s", e.text, json);
	FUZZ_ASSERT(json_is_object(root), "ev_to_json is not an object: %s", json);
	v = json_object_get(root, "event_id");
	FUZZ_ASSERT(json_is_string(v) && strcmp(json_string_value(v), ev->id) == 0,
	    "JSON event_id differs: %s", json);
	v = json_object_get(root, "type");
	FUZZ_ASSERT(json_is_string(v) && strcmp(json_string_value(v), ev_type_name(ev->type)) == 0,
	    "JSON type differs: %s", json);
	v = json_object_get(root, "exchange");
	FUZZ_ASSERT(json_is_string(v) && strcmp(json_string_value(v), ev->exchange) == 0,
	    "JSON exchange differs: %s", json);
	if (EV_IS_MARKET(ev->type)) {
		/* Market data belongs to no account: neither key. */
		FUZZ_ASSERT(json_object_get(root, "account_id") == NULL &&
		    json_object_get(root, "user_id") == NULL, "market JSON with an account: %s",
		    json);
	} else {
		v = json_object_get(root, "account_id");
		FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) == ev->account_id,
		    "JSON account_id differs: %s", json);
		v = json_object_get(root, "user_id");
		FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) == ev->user_id,
		    "JSON user_id differs: %s", json);
	}
	v = json_object_get(root, "event_time");
	FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) == ev->event_time,
	    "JSON event_time differs: %s", json);
	v = json_object_get(root, "recv_us");
	FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) == ev->recv_us,
	    "JSON recv_us differs: %s", json);
	v = json_object_get(root, "resync");
	FUZZ_ASSERT(json_is_boolean(v) && json_is_true(v) == !!(ev->flags & EVF_RESYNC),
	    "JSON resync differs: %s", json);
	json_decref(root);
}

/*
 * The event's Kafka values from its event_log row (payload json, raw): in
 * both formats kafka_value takes every valid event; json is the payload
 * as is, unknown the raw frame as is, and protobuf a message that
 * protobuf-c unpacks, packs back to the same bytes and carries the id.
 */
static void
kafka_check(const struct event *ev, const char *json)
{
	const char *type = ev_type_name(ev->type);
	const char *raw = ev->type == EV_UNKNOWN ? (ev->u.unknown.raw ? ev->u.unknown.raw : "") : NULL;
	const ProtobufCMessageDescriptor *d = kafka_value_descriptor(type);
	const ProtobufCFieldDescriptor *f;
	struct strbuf out = { NULL, 0, 0, 0 };
	ProtobufCMessage *m;
	uint8_t *again;
	char err[256];

	for (int format = CONF_KAFKA_JSON; format <= CONF_KAFKA_PROTOBUF; format++) {
		const char *want = raw != NULL ? raw : format == CONF_KAFKA_JSON ? json : NULL;

		out.len = 0;
		FUZZ_ASSERT(kafka_value(format, type, json, strlen(json), raw, raw ? strlen(raw) : 0,
		    &out, err, sizeof(err)) == 0, "kafka_value (format %d) refuses a valid %s event: "
		    "%s\n%s", format, type, err, json);
		if (want != NULL) {
			FUZZ_ASSERT(out.len == strlen(want) && memcmp(out.p, want, out.len) == 0,
			    "kafka_value (format %d): the %s value is not the %s as is", format, type,
			    raw ? "raw frame" : "payload");
			continue;
		}
		FUZZ_ASSERT(d != NULL, "%s: no protobuf message", type);
		m = protobuf_c_message_unpack(d, NULL, out.len, (const uint8_t *)out.p);
		FUZZ_ASSERT(m != NULL, "protobuf-c cannot unpack the %s value of %s", d->name, json);
		if ((again = malloc(out.len + 1)) == NULL)
			abort();
		FUZZ_ASSERT(protobuf_c_message_get_packed_size(m) == out.len &&
		    protobuf_c_message_pack(m, again) == out.len &&
		    memcmp(again, out.p, out.len) == 0, "%s: unpack → pack differs", d->name);
		f = protobuf_c_message_descriptor_get_field_by_name(d, "event_id");
		FUZZ_ASSERT(f != NULL && strcmp(*(char *const *)(const void *)
		    ((const char *)m + f->offset), ev->id) == 0, "%s: event_id differs", d->name);
		free(again);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	free(out.p);
}

void
fuzz_event_writer(const struct event *ev, struct wsql *w, int check_id)
{
	msgpack_sbuffer a, b;
	msgpack_unpacked up;
	struct event back, again;
	const char *err = NULL;
	char *ja, *jb;
	size_t off = 0, used = 0;

	FUZZ_ASSERT(ev_validate(ev, &err) == 0, "event fails ev_validate: %s", err);
	if (check_id) {
		again = *ev;
		ev_make_id(&again);
		FUZZ_ASSERT(strcmp(again.id, ev->id) == 0, "ev_make_id is not stable: %s, then %s",
		    ev->id, again.id);
	}
	pack(ev, &a);
	/* The writer's reader: mp_check_sizes (ipc_frame_parse), then msgpack-c. */
	FUZZ_ASSERT(mp_check_sizes(a.data, a.size, &used) == 0 && used == a.size,
	    "mp_check_sizes refuses a packed event");
	msgpack_unpacked_init(&up);
	FUZZ_ASSERT(msgpack_unpack_next(&up, a.data, a.size, &off) == MSGPACK_UNPACK_SUCCESS &&
	    off == a.size, "a packed event does not unpack");
	FUZZ_ASSERT(ev_unpack(&up.data, &back, &err) == 0, "the writer refuses a packed %s event: %s",
	    ev_type_name(ev->type), err);
	msgpack_unpacked_destroy(&up);
	pack(&back, &b);
	FUZZ_ASSERT(a.size == b.size && memcmp(a.data, b.data, a.size) == 0,
	    "pack → unpack → pack differs (%s event)", ev_type_name(ev->type));
	msgpack_sbuffer_destroy(&a);
	msgpack_sbuffer_destroy(&b);
	/* An absent raw travels as "". */
	if (ev->type == EV_UNKNOWN)
		FUZZ_ASSERT(strcmp(ev->u.unknown.raw ? ev->u.unknown.raw : "",
		    back.u.unknown.raw ? back.u.unknown.raw : "") == 0,
		    "unknown raw differs after the round trip");
	if (ev->type != EV_GAP) {
		ja = ev_to_json(ev);
		jb = ev_to_json(&back);
		FUZZ_ASSERT(ja != NULL && jb != NULL, "ev_to_json failed");
		FUZZ_ASSERT(strcmp(ja, jb) == 0, "JSON differs after the round trip:\n%s\n%s", ja, jb);
		json_check(ev, ja);
		kafka_check(ev, ja);
		free(ja);
		free(jb);
	}
	FUZZ_ASSERT(wsql_add(w, &back) == 0, "wsql_add refused an event");
	ev_clear(&back);
}

/*
 * One PostgreSQL array literal of one dimension, as the writer makes it:
 * {a,"b\"c",NULL}.  Returns the number of elements, or -1 if malformed;
 * with want >= 0, element want (unquoted, unescaped) into *out (malloc'd).
 */
static long
array_parse(const char *s, long want, char **out)
{
	long n = 0;

	if (*s++ != '{')
		return -1;
	if (*s == '}')
		return s[1] == '\0' ? 0 : -1;
	for (;;) {
		const char *start = s;

		if (*s == '"') {
			char *buf = NULL;
			size_t len = 0;

			if (n == want && (buf = malloc(strlen(s) + 1)) == NULL)
				abort();
			for (s++; *s != '"'; s++) {
				if (*s == '\0') {
					free(buf);
					return -1;
				}
				if (*s == '\\' && *++s == '\0') {
					free(buf);
					return -1;
				}
				if (buf)
					buf[len++] = *s;
			}
			s++;
			if (buf) {
				buf[len] = '\0';
				*out = buf;
			}
		} else {
			while (*s != ',' && *s != '}' && *s != '\0') {
				if (strchr("{\"\\ \t\r\n", *s) != NULL)
					return -1;
				s++;
			}
			if (s == start)
				return -1;
		}
		n++;
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s == '}')
			return s[1] == '\0' ? n : -1;
		return -1;
	}
}

void
fuzz_wsql_check(struct wsql *w, size_t nevents)
{
	struct wsql_batch *sb = wsql_seal(w);
	size_t logged = 0;

	FUZZ_ASSERT(sb != NULL, "wsql_seal failed");
	for (int i = 0; i < wsql_batch_count(sb); i++) {
		const char *const *vals;
		const char *name;
		long rows = -1;
		int np;

		name = wsql_batch_stmt(sb, i, &np, &vals);
		for (int c = 0; c < np; c++) {
			long n = array_parse(vals[c], -1, NULL);

			FUZZ_ASSERT(n > 0, "%s: column %d is not an array literal: %.300s", name, c,
			    vals[c]);
			FUZZ_ASSERT(rows == -1 || n == rows, "%s: column %d has %ld rows, column 0 %ld",
			    name, c, n, rows);
			rows = n;
		}
		if (strcmp(name, WSQL_LOG_STMT) == 0) {
			logged = (size_t)rows;
			for (long r = 0; r < rows; r++) {
				char *payload = NULL;
				json_error_t e;
				json_t *j;

				array_parse(vals[WSQL_LOG_PAYLOAD], r, &payload);
				FUZZ_ASSERT(payload != NULL, "event_log row %ld: payload is NULL", r);
				j = json_loads(payload, JSON_REJECT_DUPLICATES, &e);
				FUZZ_ASSERT(j != NULL, "event_log row %ld: payload is not JSON (%s): %s",
				    r, e.text, payload);
				json_decref(j);
				free(payload);
			}
		}
	}
	FUZZ_ASSERT(logged == nevents, "event_log has %zu rows for %zu events", logged, nevents);
	wsql_batch_free(sb);
	wsql_reset(w);
}
