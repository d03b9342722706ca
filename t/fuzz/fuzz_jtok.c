/*
 * fuzz_jtok.c: the JSON tokenizer (jtok.c) against jansson, differential.
 *
 * For every input, jtok_parse and json_loadb(JSON_REJECT_DUPLICATES) agree
 * on accept or reject, with jtok.h's one difference in what is accepted:
 * jtok rejects every input with a NUL byte (jansson takes one right after
 * a number or a literal), and our callers never gave jansson such an input.
 * When both accept, the trees are equal: the same types, every string's
 * bytes (keys and values, decoded), integers exactly, reals bit for bit,
 * each object's keys in order and its member count, each array's length;
 * the tokens are exactly the tree's (none left over), every token's next
 * is just past its subtree, and the accessors (jtok_get on each key,
 * jtok_at on each index, jtok_str/int/real/bool and the wrong-type
 * answers) give the walked tokens.  The same input through a tokenizer
 * with a maximum of 8 tokens: the same result when the tree fits, else
 * "more than 8 tokens".
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "jtok.h"

#define SMALL_MAX	8

/*
 * Token i of j against jansson's v (path for the message); returns the
 * index just past i's subtree as the walk found it.
 */
static int
same(const struct jtok *j, int i, const json_t *v, const char *path)
{
	const struct jtok_tok *t = &j->tok[i];
	const char *s;
	size_t n;
	int64_t iv;
	double d, dv;
	bool b;
	int k, e;

	FUZZ_ASSERT((size_t)i < j->ntok, "%s: token %d past the %zu tokens", path, i, j->ntok);
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *m;
		size_t idx = 0;
		void *it;

		FUZZ_ASSERT(t->type == JT_OBJECT, "%s: jansson an object, jtok type %d", path,
		    t->type);
		FUZZ_ASSERT(jtok_size(j, i) == json_object_size(v),
		    "%s: %zu members in jansson, %zu in jtok", path, json_object_size(v),
		    jtok_size(j, i));
		FUZZ_ASSERT(jtok_at(j, i, 0) == -1, "%s: jtok_at on an object", path);
		k = jtok_first(j, i);
		FUZZ_ASSERT((k == -1) == (json_object_size(v) == 0), "%s: jtok_first", path);
		for (it = json_object_iter((json_t *)v); it != NULL;
		    it = json_object_iter_next((json_t *)v, it), idx++) {
			char sub[256];

			key = json_object_iter_key(it);
			m = json_object_iter_value(it);
			n = json_object_iter_key_len(it);
			FUZZ_ASSERT(j->tok[k].type == JT_STRING, "%s: key %zu is type %d", path, idx,
			    j->tok[k].type);
			s = jtok_str(j, k, &n);
			FUZZ_ASSERT(s != NULL && n == json_object_iter_key_len(it) &&
			    memcmp(s, key, n) == 0, "%s: key %zu differs", path, idx);
			FUZZ_ASSERT(jtok_next(j, k) == k + 1, "%s: key %zu's next", path, idx);
			FUZZ_ASSERT(jtok_getn(j, i, key, n) == k + 1,
			    "%s: jtok_getn of key %zu gives %d, not %d", path, idx,
			    jtok_getn(j, i, key, n), k + 1);
			if (strlen(key) == n)
				FUZZ_ASSERT(jtok_get(j, i, key) == k + 1, "%s: jtok_get", path);
			snprintf(sub, sizeof(sub), "%s.%.*s", path, (int)(n < 64 ? n : 64), key);
			e = same(j, k + 1, m, sub);
			FUZZ_ASSERT(jtok_next(j, k + 1) == e, "%s: next %d, the walk ended at %d",
			    sub, jtok_next(j, k + 1), e);
			k = e;
		}
		FUZZ_ASSERT(idx == jtok_size(j, i), "%s: iterated %zu members", path, idx);
		FUZZ_ASSERT(jtok_getn(j, i, "\xff", 1) == -1, "%s: a key no JSON text has", path);
		e = json_object_size(v) == 0 ? i + 1 : k;
		break;
	}
	case JSON_ARRAY: {
		size_t len = json_array_size(v);

		FUZZ_ASSERT(t->type == JT_ARRAY, "%s: jansson an array, jtok type %d", path, t->type);
		FUZZ_ASSERT(jtok_size(j, i) == len, "%s: %zu elements in jansson, %zu in jtok", path,
		    len, jtok_size(j, i));
		FUZZ_ASSERT(jtok_get(j, i, "a") == -1, "%s: jtok_get on an array", path);
		FUZZ_ASSERT(jtok_at(j, i, len) == -1, "%s: jtok_at past the end", path);
		k = jtok_first(j, i);
		FUZZ_ASSERT((k == -1) == (len == 0), "%s: jtok_first", path);
		for (size_t x = 0; x < len; x++) {
			char sub[256];

			snprintf(sub, sizeof(sub), "%.200s[%zu]", path, x);
			FUZZ_ASSERT(jtok_at(j, i, x) == k, "%s: jtok_at gives %d, not %d", sub,
			    jtok_at(j, i, x), k);
			e = same(j, k, json_array_get(v, x), sub);
			FUZZ_ASSERT(jtok_next(j, k) == e, "%s: next %d, the walk ended at %d", sub,
			    jtok_next(j, k), e);
			k = e;
		}
		e = len == 0 ? i + 1 : k;
		break;
	}
	case JSON_STRING:
		FUZZ_ASSERT(t->type == JT_STRING, "%s: jansson a string, jtok type %d", path, t->type);
		s = jtok_str(j, i, &n);
		FUZZ_ASSERT(s != NULL && n == json_string_length(v) &&
		    memcmp(s, json_string_value(v), n) == 0, "%s: string differs", path);
		FUZZ_ASSERT(jtok_str_eq(j, i, json_string_value(v), json_string_length(v)),
		    "%s: jtok_str_eq", path);
		FUZZ_ASSERT(jtok_int(j, i, &iv) == -1 && jtok_real(j, i, &d) == -1 &&
		    jtok_bool(j, i, &b) == -1, "%s: a string read as another type", path);
		e = i + 1;
		break;
	case JSON_INTEGER:
		FUZZ_ASSERT(t->type == JT_INTEGER, "%s: jansson an integer, jtok type %d", path,
		    t->type);
		FUZZ_ASSERT(jtok_int(j, i, &iv) == 0 && iv == (int64_t)json_integer_value(v),
		    "%s: integer %lld in jansson, %lld in jtok", path,
		    (long long)json_integer_value(v), (long long)iv);
		FUZZ_ASSERT(jtok_real(j, i, &d) == -1 && jtok_str(j, i, &n) == NULL,
		    "%s: an integer read as another type", path);
		e = i + 1;
		break;
	case JSON_REAL:
		FUZZ_ASSERT(t->type == JT_REAL, "%s: jansson a real, jtok type %d", path, t->type);
		dv = json_real_value(v);
		FUZZ_ASSERT(jtok_real(j, i, &d) == 0 && memcmp(&d, &dv, sizeof(d)) == 0,
		    "%s: real %.17g in jansson, %.17g in jtok", path, dv, d);
		FUZZ_ASSERT(jtok_int(j, i, &iv) == -1, "%s: a real read as an integer", path);
		e = i + 1;
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		FUZZ_ASSERT(t->type == (json_is_true(v) ? JT_TRUE : JT_FALSE),
		    "%s: jansson %s, jtok type %d", path, json_is_true(v) ? "true" : "false",
		    t->type);
		FUZZ_ASSERT(jtok_bool(j, i, &b) == 0 && b == json_is_true(v), "%s: jtok_bool", path);
		e = i + 1;
		break;
	case JSON_NULL:
		FUZZ_ASSERT(t->type == JT_NULL, "%s: jansson null, jtok type %d", path, t->type);
		FUZZ_ASSERT(jtok_bool(j, i, &b) == -1 && jtok_str(j, i, &n) == NULL,
		    "%s: null read as another type", path);
		e = i + 1;
		break;
	default:
		fuzz_fail("%s: jansson type %d", path, json_typeof(v));
	}
	FUZZ_ASSERT(jtok_next(j, i) == e, "%s: next %d, subtree ends at %d", path, jtok_next(j, i),
	    e);
	return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jtok j, small;
	static int init;
	const char *buf = (const char *)data;
	json_error_t e;
	json_t *root = NULL;
	int rc, src;

	if (!init) {
		jtok_init(&j, (size_t)1 << 20);
		jtok_init(&small, SMALL_MAX);
		init = 1;
	}
	rc = jtok_parse(&j, buf, size);
	if (memchr(buf, '\0', size) != NULL) {
		FUZZ_ASSERT(rc == -1, "jtok accepted an input with a NUL byte");
		FUZZ_ASSERT(j.errpos <= size, "error position %zu past %zu bytes", j.errpos, size);
		return 0;
	}
	root = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &e);
	if (root == NULL) {
		FUZZ_ASSERT(rc == -1, "jansson rejects (%s at %d), jtok accepts", e.text, e.position);
		FUZZ_ASSERT(j.err[0] != '\0' && j.errpos <= size, "jtok's error: '%s' at %zu",
		    j.err, j.errpos);
	} else {
		FUZZ_ASSERT(rc == 0, "jansson accepts, jtok rejects: %s at byte %zu", j.err,
		    j.errpos);
		FUZZ_ASSERT(j.ntok > 0 && same(&j, 0, root, "$") == (int)j.ntok,
		    "tokens left after the tree (%zu)", j.ntok);
	}
	src = jtok_parse(&small, buf, size);
	if (rc == 0 && j.ntok > SMALL_MAX)
		FUZZ_ASSERT(src == -1 && strcmp(small.err, "more than 8 tokens") == 0,
		    "%zu tokens under a maximum of 8: %d, '%s'", j.ntok, src, small.err);
	else if (rc == 0)
		FUZZ_ASSERT(src == 0 && same(&small, 0, root, "$") == (int)small.ntok,
		    "the tokenizer of 8 tokens differs");
	else
		FUZZ_ASSERT(src == -1, "the tokenizer of 8 tokens accepts what the other rejects");
	json_decref(root);
	return 0;
}
