/*
 * mpack.c: msgpack map helpers and the JSON printer used by exfeedctl --json.
 * Lookups compare keys exactly (case-sensitive) and check types before use.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpack.h"

void
mp_str(msgpack_packer *pk, const char *s)
{
	size_t len = strlen(s);

	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

void
mp_kv_str(msgpack_packer *pk, const char *key, const char *val)
{
	mp_str(pk, key);
	mp_str(pk, val);
}

void
mp_kv_i64(msgpack_packer *pk, const char *key, int64_t val)
{
	mp_str(pk, key);
	msgpack_pack_int64(pk, val);
}

void
mp_kv_u64(msgpack_packer *pk, const char *key, uint64_t val)
{
	mp_str(pk, key);
	msgpack_pack_uint64(pk, val);
}

void
mp_kv_bool(msgpack_packer *pk, const char *key, int val)
{
	mp_str(pk, key);
	if (val)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

const msgpack_object *
mp_get(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    memcmp(k->via.str.ptr, key, klen) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

int
mp_get_str(const msgpack_object *map, const char *key, char *buf, size_t len)
{
	const msgpack_object *o = mp_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= len)
		return -1;
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 0;
}

int
mp_get_i64(const msgpack_object *map, const char *key, int64_t *out)
{
	const msgpack_object *o = mp_get(map, key);

	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
		*out = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*out = o->via.i64;
	else
		return -1;
	return 0;
}

int
mp_get_bool(const msgpack_object *map, const char *key, int *out)
{
	const msgpack_object *o = mp_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
		return -1;
	*out = o->via.boolean;
	return 0;
}

/* The length of the valid UTF-8 character at s[0..n), or 0 if it is not one. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * A JSON string whatever the bytes: a byte that does not start a valid
 * UTF-8 character is written as U+FFFD, so the output stays JSON when a
 * text was cut inside a character or is binary.
 */
static void
json_str(const char *s, size_t n, FILE *fp)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', fp);
	for (size_t i = 0; i < n; ) {
		unsigned char c = p[i];
		size_t len = utf8_len(p + i, n - i);

		if (len == 0) {
			fputs("\\ufffd", fp);
			i++;
			continue;
		}
		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", fp);
		else if (c == '\t')
			fputs("\\t", fp);
		else if (c < 0x20)
			fprintf(fp, "\\u%04x", c);
		else
			fwrite(p + i, 1, len, fp);
		i += len;
	}
	fputc('"', fp);
}

void
mp_to_json(const msgpack_object *o, FILE *fp)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		fputs("null", fp);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		fputs(o->via.boolean ? "true" : "false", fp);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		fprintf(fp, "%" PRIu64, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		fprintf(fp, "%" PRId64, o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* JSON has no NaN or infinity. */
		if (isfinite(o->via.f64))
			fprintf(fp, "%.17g", o->via.f64);
		else
			fputs("null", fp);
		break;
	case MSGPACK_OBJECT_STR:
		json_str(o->via.str.ptr, o->via.str.size, fp);
		break;
	case MSGPACK_OBJECT_BIN:
		json_str(o->via.bin.ptr, o->via.bin.size, fp);
		break;
	case MSGPACK_OBJECT_ARRAY:
		fputc('[', fp);
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				fputc(',', fp);
			mp_to_json(&o->via.array.ptr[i], fp);
		}
		fputc(']', fp);
		break;
	case MSGPACK_OBJECT_MAP:
		fputc('{', fp);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			if (i)
				fputc(',', fp);
			if (k->type == MSGPACK_OBJECT_STR)
				json_str(k->via.str.ptr, k->via.str.size, fp);
			else {
				/* A key that is not a string: its JSON text, as a string. */
				char *buf = NULL;
				size_t len = 0;
				FILE *kf = open_memstream(&buf, &len);

				if (kf != NULL) {
					mp_to_json(k, kf);
					fclose(kf);
				}
				json_str(buf ? buf : "", buf ? len : 0, fp);
				free(buf);
			}
			fputc(':', fp);
			mp_to_json(&o->via.map.ptr[i].val, fp);
		}
		fputc('}', fp);
		break;
	default:
		fputs("null", fp);
		break;
	}
}

int
mp_check_sizes(const void *buf, size_t len, size_t *used)
{
	const unsigned char *p = buf;
	size_t off = 0, items = 1;

	while (items > 0) {
		size_t hdr, body = 0, n = 0, need;
		unsigned c;

		if (off >= len)
			return -1;
		c = p[off];
		items--;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
			hdr = 1;
		} else if (c >= 0x80 && c <= 0x8f) {
			hdr = 1;
			n = 2 * (size_t)(c & 0x0f);
		} else if (c >= 0x90 && c <= 0x9f) {
			hdr = 1;
			n = c & 0x0f;
		} else if (c >= 0xa0 && c <= 0xbf) {
			hdr = 1;
			body = c & 0x1f;
		} else {
			/* The rest have a fixed header; read its length field, if any. */
			static const unsigned char lenbytes[32] = {
				/* c0 */ 0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 0, 0, 0, 0, 0, 0,
				/* d0 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4,
			};
			static const unsigned char fixed[32] = {
				/* c0 */ 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 4, 8, 1, 2, 4, 8,
				/* d0 */ 1, 2, 4, 8, 2, 3, 5, 9, 17, 0, 0, 0, 0, 0, 0, 0,
			};
			size_t lb = lenbytes[c - 0xc0], v = 0;

			if (c == 0xc1)
				return -1;	/* never used */
			if (off + 1 + lb > len)
				return -1;
			for (size_t i = 0; i < lb; i++)
				v = v << 8 | p[off + 1 + i];
			hdr = 1 + lb;
			body = fixed[c - 0xc0];
			if (c >= 0xdc && c <= 0xdd)
				n = v;				/* array16/32 */
			else if (c >= 0xde)
				n = 2 * v;			/* map16/32 */
			else if (lb > 0)
				body += v;			/* bin, str, ext: their bytes */
		}
		if (off + hdr > len)
			return -1;
		off += hdr;
		/* Every element takes at least a byte: no count beyond what is left. */
		need = body;
		if (need > len - off || n > len - off - need)
			return -1;
		off += body;
		items += n;
	}
	if (used)
		*used = off;
	return 0;
}
