/*
 * jtok_test.c: the strict JSON tokenizer (src/jtok.c).  The token layout
 * of a Binance frame; each rule of what it accepts (grammar, numbers,
 * strings and escapes, UTF-8, duplicate keys, depth, the top level, NUL);
 * the accessors; the token maximum and reuse; and a table of edge inputs
 * against jansson's json_loadb(JSON_REJECT_DUPLICATES), the oracle that
 * t/fuzz/fuzz_jtok.c holds it to at random.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jtok.h"

TestSuite(jtok, .timeout = 60);

static struct jtok J;

static void
setup(void)
{
	jtok_init(&J, 1 << 20);
}

static void
teardown(void)
{
	jtok_free(&J);
}

static int
parse(const char *s)
{
	return jtok_parse(&J, s, strlen(s));
}

static void
accepted(const char *s)
{
	cr_assert_eq(parse(s), 0, "rejected %s: %s at %zu", s, J.err, J.errpos);
}

/* Rejected with an error that holds why, at byte pos (-1: any). */
static void
rejected_n(const char *s, size_t n, const char *why, long pos)
{
	cr_assert_eq(jtok_parse(&J, s, n), -1, "accepted %.*s", (int)n, s);
	cr_assert_not_null(strstr(J.err, why), "%.*s: '%s', not '%s'", (int)n, s, J.err, why);
	if (pos >= 0)
		cr_assert_eq(J.errpos, (size_t)pos, "%.*s: at %zu, not %ld", (int)n, s, J.errpos, pos);
}

static void
rejected(const char *s, const char *why, long pos)
{
	rejected_n(s, strlen(s), why, pos);
}

static const char *
str(int i, size_t *n)
{
	const char *s = jtok_str(&J, i, n);

	cr_assert_not_null(s, "token %d is not a string", i);
	return s;
}

TestSuite(jtok_t, .init = setup, .fini = teardown, .timeout = 60);

Test(jtok_t, binance_frame_layout)
{
	static const char f[] = "{\"stream\":\"btcusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\","
	    "\"E\":1,\"s\":\"BTCUSDT\",\"a\":9007199254740993,\"m\":true,\"S\":\"x\",\"b\":[[\"1\","
	    "\"2\"],[]],\"n\":null}}";
	int d, v, b;
	int64_t iv;
	size_t n;
	bool bo;

	accepted(f);
	/* {stream: "...", data: {e, E, s, a, m, S, b: [[1, 2], []], n}} */
	cr_assert_eq(J.ntok, 25);
	cr_assert_eq(jtok_type(&J, 0), JT_OBJECT);
	cr_assert_eq(jtok_size(&J, 0), 2);
	cr_assert_eq(J.tok[0].off, 0);
	cr_assert_eq(J.tok[0].len, sizeof(f) - 1);
	cr_assert_eq(jtok_next(&J, 0), 25);
	cr_assert_eq(jtok_first(&J, 0), 1);
	cr_assert_eq(jtok_type(&J, 1), JT_STRING);
	cr_assert_eq(J.tok[1].off, 2);
	cr_assert_eq(J.tok[1].len, 6);
	cr_assert(jtok_str_eq(&J, 1, "stream", 6));
	cr_assert(jtok_str_eq(&J, 2, "btcusdt@aggTrade", 16));
	cr_assert_eq(jtok_get(&J, 0, "stream"), 2);
	d = jtok_get(&J, 0, "data");
	cr_assert_eq(d, 4);
	cr_assert_eq(jtok_type(&J, d), JT_OBJECT);
	cr_assert_eq(jtok_size(&J, d), 8);
	cr_assert_eq(jtok_next(&J, d), 25);
	/* Case matters: e/E, s/S. */
	cr_assert(jtok_str_eq(&J, jtok_get(&J, d, "e"), "aggTrade", 8));
	cr_assert_eq(jtok_int(&J, jtok_get(&J, d, "E"), &iv), 0);
	cr_assert_eq(iv, 1);
	cr_assert(jtok_str_eq(&J, jtok_get(&J, d, "s"), "BTCUSDT", 7));
	cr_assert(jtok_str_eq(&J, jtok_get(&J, d, "S"), "x", 1));
	cr_assert_eq(jtok_int(&J, jtok_get(&J, d, "a"), &iv), 0);
	cr_assert_eq(iv, 9007199254740993LL);
	cr_assert_eq(jtok_bool(&J, jtok_get(&J, d, "m"), &bo), 0);
	cr_assert(bo);
	cr_assert_eq(jtok_type(&J, jtok_get(&J, d, "n")), JT_NULL);
	cr_assert_eq(jtok_get(&J, d, "M"), -1);
	cr_assert_eq(jtok_get(&J, d, "ee"), -1);
	cr_assert_eq(jtok_get(&J, d, ""), -1);
	/* b: [[ "1", "2" ], []]: element 1 found past element 0's subtree. */
	b = jtok_get(&J, d, "b");
	cr_assert_eq(jtok_size(&J, b), 2);
	v = jtok_at(&J, b, 0);
	cr_assert_eq(v, b + 1);
	cr_assert_eq(jtok_next(&J, v), b + 4);
	cr_assert_eq(jtok_at(&J, b, 1), b + 4);
	cr_assert_eq(jtok_size(&J, b + 4), 0);
	cr_assert_eq(jtok_first(&J, b + 4), -1);
	cr_assert_eq(jtok_at(&J, b, 2), -1);
	cr_assert(jtok_str_eq(&J, jtok_at(&J, v, 1), "2", 1));
	cr_assert_str_eq(str(jtok_at(&J, v, 0), &n), "1\",\"2\"],[]],\"n\":null}}");
	cr_assert_eq(n, 1);
	/* Wrong types. */
	cr_assert_eq(jtok_get(&J, b, "e"), -1);
	cr_assert_eq(jtok_at(&J, d, 0), -1);
	cr_assert_eq(jtok_int(&J, 2, &iv), -1);
	cr_assert_eq(jtok_bool(&J, 2, &bo), -1);
	cr_assert_null(jtok_str(&J, d, &n));
	cr_assert_eq(jtok_get(&J, -1, "e"), -1);
	cr_assert_eq(jtok_at(&J, -1, 0), -1);
	cr_assert_null(jtok_str(&J, -1, &n));
}

Test(jtok_t, integers_exact)
{
	int64_t v;

	accepted("[9223372036854775807,-9223372036854775808,9007199254740993,-0,0,-1,"
	    "1000000000000000000]");
	cr_assert_eq(jtok_int(&J, 1, &v), 0);
	cr_assert_eq(v, INT64_MAX);
	cr_assert_eq(jtok_int(&J, 2, &v), 0);
	cr_assert_eq(v, INT64_MIN);
	cr_assert_eq(jtok_int(&J, 3, &v), 0);
	cr_assert_eq(v, 9007199254740993LL);
	cr_assert_eq(jtok_type(&J, 4), JT_INTEGER);	/* -0: an integer, as in jansson */
	cr_assert_eq(jtok_int(&J, 4, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(jtok_int(&J, 6, &v), 0);
	cr_assert_eq(v, -1);
	cr_assert_eq(jtok_int(&J, 7, &v), 0);
	cr_assert_eq(v, 1000000000000000000LL);
	rejected("[9223372036854775808]", "too big integer", 1);
	rejected("[-9223372036854775809]", "too big negative integer", 1);
	rejected("{\"t\":99999999999999999999}", "too big integer", 5);
	rejected("[10000000000000000000]", "too big integer", 1);
}

Test(jtok_t, number_grammar)
{
	double d;

	accepted("[1.5,-0.0,1e3,1E+3,1e-3,0.1e1,123.456e-7]");
	for (int i = 1; i <= 7; i++)
		cr_assert_eq(jtok_type(&J, i), JT_REAL, "element %d", i);
	cr_assert_eq(jtok_real(&J, 1, &d), 0);
	cr_assert_eq(d, 1.5);
	cr_assert_eq(jtok_real(&J, 2, &d), 0);
	cr_assert(d == 0 && signbit(d));
	cr_assert_eq(jtok_real(&J, 3, &d), 0);
	cr_assert_eq(d, 1000);
	cr_assert_eq(jtok_real(&J, 5, &d), 0);
	cr_assert_eq(d, strtod("1e-3", NULL));
	/* Underflow is accepted (as jansson does); overflow is not. */
	accepted("[1e-400]");
	rejected("[1e400]", "real number overflow", 1);
	rejected("[-1e400]", "real number overflow", 1);
	accepted("[1.7976931348623157e308]");
	rejected("[1.7976931348623159e308]", "real number overflow", 1);
	rejected("[01]", "']' expected", 2);
	rejected("[1.]", "invalid token", 1);
	rejected("[.5]", "invalid token", 1);
	rejected("[1e]", "invalid token", 1);
	rejected("[1e+]", "invalid token", 1);
	rejected("[-]", "invalid token", 1);
	rejected("[+1]", "invalid token", 1);
	rejected("[- 1]", "invalid token", 1);
	rejected("[1", "premature end of input", 2);
	rejected("[0x10]", "']' expected", 2);
	rejected("[Infinity]", "invalid token", 1);
	rejected("[NaN]", "invalid token", 1);
}

Test(jtok_t, strings_and_escapes)
{
	const char *a, *b;
	size_t na, nb;

	accepted("[\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\",\"\\u00e9\\u20AC\\ud83d\\ude00\",\"\x7f\","
	    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"]");
	a = str(1, &na);
	cr_assert_eq(na, 17);
	cr_assert_eq(memcmp(a, "a\"b\\c/d\be\ff\ng\rh\ti", 17), 0);
	cr_assert_eq(J.tok[1].esc, 1);
	b = str(2, &nb);
	cr_assert_eq(nb, 2 + 3 + 4);
	cr_assert_eq(memcmp(b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", nb), 0);
	/* Both decoded strings stay valid together. */
	cr_assert_eq(memcmp(a, "a\"b\\c/d\be\ff\ng\rh\ti", 17), 0);
	cr_assert(jtok_str_eq(&J, 3, "\x7f", 1));
	cr_assert_eq(J.tok[3].esc, 0);
	cr_assert(jtok_str_eq(&J, 4, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13));
	accepted("[\"\"]");
	cr_assert(jtok_str_eq(&J, 1, "", 0));
	rejected("[\"\\u0000\"]", "\\u0000 is not allowed", 2);
	rejected("{\"\\u0000\":1}", "\\u0000 is not allowed", 2);
	rejected("[\"\\ud800\"]", "invalid Unicode '\\uD800'", 2);
	rejected("[\"\\ud800x\"]", "invalid Unicode '\\uD800'", 2);
	rejected("[\"\\ud800\\n\"]", "invalid Unicode '\\uD800'", 2);
	rejected("[\"\\ud800\\u0041\"]", "invalid Unicode '\\uD800\\u0041'", 2);
	rejected("[\"\\udc00\"]", "invalid Unicode '\\uDC00'", 2);
	rejected("[\"\\ud800\\ud800\"]", "invalid Unicode", 2);
	rejected("[\"\\x41\"]", "invalid escape", 2);
	rejected("[\"\\U0041\"]", "invalid escape", 2);
	rejected("[\"\\u00g1\"]", "invalid escape", 2);
	rejected("[\"\\u00\"]", "invalid escape", 2);
	rejected("[\"\\", "premature end of input", 2);
	rejected("[\"abc", "premature end of input", 5);
	rejected("[\"a\tb\"]", "control character 0x9", 3);
	rejected("[\"a\nb\"]", "unexpected newline", 3);
	rejected("[\"\x1f\"]", "control character 0x1f", 2);
	rejected("['a']", "invalid token", 1);
}

Test(jtok_t, utf8_checked)
{
	accepted("[\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\"]");
	rejected("[\"\xc0\x80\"]", "unable to decode byte 0xc0", 2);		/* overlong NUL */
	rejected("[\"\xc1\xbf\"]", "unable to decode byte 0xc1", 2);
	rejected("[\"\xe0\x9f\xbf\"]", "unable to decode byte 0xe0", 2);	/* overlong */
	rejected("[\"\xf0\x8f\xbf\xbf\"]", "unable to decode byte 0xf0", 2);	/* overlong */
	rejected("[\"\xed\xa0\x80\"]", "unable to decode byte 0xed", 2);	/* U+D800 */
	rejected("[\"\xed\xbf\xbf\"]", "unable to decode byte 0xed", 2);	/* U+DFFF */
	rejected("[\"\xf4\x90\x80\x80\"]", "unable to decode byte 0xf4", 2);	/* U+110000 */
	rejected("[\"\xf5\x80\x80\x80\"]", "unable to decode byte 0xf5", 2);
	rejected("[\"\x80\"]", "unable to decode byte 0x80", 2);		/* continuation first */
	rejected("[\"\xc3\"]", "unable to decode byte 0xc3", 2);		/* cut */
	rejected("[\"\xe2\x82\"]", "unable to decode byte 0xe2", 2);
	rejected("[\"\xc3", "unable to decode byte 0xc3", 2);			/* cut by the end */
	rejected("[\"\xff\"]", "unable to decode byte 0xff", 2);
	rejected("[\xc3\xa9]", "invalid token", 1);				/* outside a string */
	rejected("\xef\xbb\xbf[]", "'[' or '{' expected", 0);			/* a BOM */
}

Test(jtok_t, duplicate_keys)
{
	char big[4096];
	size_t n = 0;

	rejected("{\"e\":1,\"e\":2}", "duplicate object key", 7);
	rejected("{\"a\":1,\"\\u0061\":2}", "duplicate object key", 7);
	rejected("{\"\\u00e9\":1,\"\xc3\xa9\":2}", "duplicate object key", 12);
	rejected("[{\"x\":{},\"y\":[],\"x\":0}]", "duplicate object key", 16);
	accepted("{\"e\":1,\"E\":2,\"s\":3,\"S\":4,\"x\":5,\"X\":6}");
	/* The same key in sibling and nested objects is no duplicate. */
	accepted("[{\"a\":1},{\"a\":2,\"b\":{\"a\":3}}]");
	/* More members than the pairwise check: the hash table. */
	n += (size_t)snprintf(big + n, sizeof(big) - n, "{");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"k%d\":%d", i ? "," : "", i, i);
	snprintf(big + n, sizeof(big) - n, "}");
	accepted(big);
	cr_assert_eq(jtok_size(&J, 0), 100);
	cr_assert_eq(jtok_get(&J, 0, "k99"), 200);
	snprintf(big + n, sizeof(big) - n, ",\"k\\u0037\":1}");
	rejected(big, "duplicate object key", -1);
	/*
	 * Keys of one byte go to a bitmap, longer ones pairwise up to 12,
	 * then to the table: the limit exactly and one more, the duplicate
	 * last, with and without one-byte keys after the switch.
	 */
	for (int m = 12; m <= 14; m++) {
		n = (size_t)snprintf(big, sizeof(big), "{");
		for (int i = 0; i < m - 1; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k%c\":1,", 'a' + i);
		snprintf(big + n, sizeof(big) - n, "\"ka\":2}");
		rejected(big, "duplicate object key", -1);
		snprintf(big + n, sizeof(big) - n, "\"z\":1,\"y\":2,\"z\":3}");
		rejected(big, "duplicate object key", -1);
		snprintf(big + n, sizeof(big) - n, "\"z\":1,\"y\":2,\"\":3,\"\":4}");
		rejected(big, "duplicate object key", -1);
		snprintf(big + n, sizeof(big) - n, "\"z\":1,\"y\":2,\"\":3,\"kz\":4}");
		accepted(big);
	}
	rejected("{\"z\":1,\"ka\":1,\"kb\":1,\"kc\":1,\"kd\":1,\"ke\":1,\"kf\":1,\"kg\":1,"
	    "\"kh\":1,\"ki\":1,\"kj\":1,\"kk\":1,\"kl\":1,\"km\":1,\"z\":2}",
	    "duplicate object key", -1);
	rejected("{\"\xc3\xa9\":1,\"\\u00e9\":1}", "duplicate object key", 8);
	rejected("{\"\\u0041\":1,\"A\":1}", "duplicate object key", 12);
}

Test(jtok_t, grammar)
{
	accepted(" \t\r\n{ \"a\" : [ 1 , true , false , null , { } , [ ] ] } \t\r\n");
	cr_assert_eq(J.ntok, 9);
	accepted("[]");
	accepted("{}");
	rejected("", "'[' or '{' expected", 0);
	rejected("   ", "'[' or '{' expected", 3);
	rejected("1", "'[' or '{' expected", 0);
	rejected("\"a\"", "'[' or '{' expected", 0);
	rejected("true", "'[' or '{' expected", 0);
	rejected("null", "'[' or '{' expected", 0);
	rejected("[1,]", "invalid token", 3);
	rejected("[,1]", "invalid token", 1);
	rejected("{\"a\":1,}", "string or '}' expected", 7);
	rejected("{\"a\"}", "':' expected", 4);
	rejected("{\"a\":}", "invalid token", 5);
	rejected("{1:2}", "string or '}' expected", 1);
	rejected("{a:1}", "string or '}' expected", 1);
	rejected("[1 2]", "']' expected", 3);
	rejected("[1}", "']' expected", 2);
	rejected("{\"a\":1]", "'}' expected", 6);
	rejected("[]]", "end of file expected", 2);
	rejected("[] []", "end of file expected", 3);
	rejected("[\x0b]", "invalid token", 1);		/* VT is no JSON whitespace */
	rejected("[\f]", "invalid token", 1);
	rejected("[tru]", "invalid token", 1);
	rejected("[truex]", "']' expected", 5);
	rejected("[True]", "invalid token", 1);
	rejected("[nul", "invalid token", 1);
	rejected("[", "premature end of input", 1);
	rejected("{", "premature end of input", 1);
	rejected("{\"a\"", "premature end of input", 4);
	rejected("{\"a\":", "premature end of input", 5);
	rejected("[1,", "premature end of input", 3);
}

Test(jtok_t, nul_bytes)
{
	/* jansson takes the first two; jtok never a NUL byte (jtok.h). */
	rejected_n("[1\0]", 4, "a NUL byte", 2);
	rejected_n("[true\0]", 7, "a NUL byte", 5);
	rejected_n("[]\0", 3, "a NUL byte", 2);
	rejected_n("[\"a\0\"]", 6, "a NUL byte", 3);
	rejected_n("[\0]", 3, "a NUL byte", 1);
	rejected_n("{\0}", 3, "a NUL byte", 1);
	rejected_n("{\"e\":\"trade\"\0,\"E\":1}", 21, "a NUL byte", 12);
}

static char *
nested(int depth, const char *inner)
{
	size_t n = strlen(inner);
	char *s = malloc(2 * (size_t)depth + n + 1);

	cr_assert_not_null(s);
	memset(s, '[', (size_t)depth);
	memcpy(s + depth, inner, n);
	memset(s + depth + n, ']', (size_t)depth);
	s[2 * depth + n] = '\0';
	return s;
}

Test(jtok_t, depth_limit)
{
	char *s;

	/* jansson: the outermost value is at depth 1, at most 2048. */
	s = nested(2048, "");
	accepted(s);
	cr_assert_eq(J.ntok, 2048);
	cr_assert_eq(jtok_next(&J, 0), 2048);
	cr_assert_eq(jtok_next(&J, 2047), 2048);
	free(s);
	s = nested(2047, "1");
	accepted(s);
	free(s);
	s = nested(2048, "1");
	rejected(s, "maximum parsing depth reached", 2048);
	free(s);
	s = nested(2049, "");
	rejected(s, "maximum parsing depth reached", 2048);
	free(s);
	s = nested(100000, "");
	rejected(s, "maximum parsing depth reached", 2048);
	free(s);
}

Test(jtok, token_maximum_and_reuse)
{
	struct jtok j;
	int64_t v;

	jtok_init(&j, 3);
	cr_assert_eq(jtok_parse(&j, "[1,2]", 5), 0);
	cr_assert_eq(j.ntok, 3);
	cr_assert_eq(jtok_parse(&j, "[1,2,3]", 7), -1);
	cr_assert_str_eq(j.err, "more than 3 tokens");
	cr_assert_eq(j.errpos, 5);
	cr_assert_eq(jtok_parse(&j, "{\"a\":1,\"b\":2}", 13), -1);
	cr_assert_str_eq(j.err, "more than 3 tokens");
	/* Usable after a failure, the array kept. */
	cr_assert_eq(jtok_parse(&j, "{\"a\":7}", 7), 0);
	cr_assert_eq(jtok_int(&j, jtok_get(&j, 0, "a"), &v), 0);
	cr_assert_eq(v, 7);
	jtok_free(&j);
	/* Grown from parse to parse; freed and used again. */
	jtok_init(&j, 1 << 20);
	for (int round = 0; round < 2; round++) {
		char *s = malloc(20000 * 16 + 2);
		size_t n = 0;

		s[n++] = '[';
		for (int i = 0; i < 20000; i++)
			n += (size_t)sprintf(s + n, "%s\"\\u00e9%d\"", i ? "," : "", i);
		s[n++] = ']';
		cr_assert_eq(jtok_parse(&j, s, n), 0, "%s", j.err);
		cr_assert_eq(j.ntok, 20001);
		cr_assert(jtok_str_eq(&j, jtok_at(&j, 0, 19999), "\xc3\xa9" "19999", 7));
		cr_assert(jtok_str_eq(&j, 1, "\xc3\xa9" "0", 3));
		free(s);
		jtok_free(&j);
	}
	jtok_init(&j, 0);
	cr_assert_eq(j.max, 1);
	cr_assert_eq(jtok_parse(&j, "[]", 2), 0);
	cr_assert_eq(jtok_parse(&j, "[1]", 3), -1);
	jtok_free(&j);
}

Test(jtok, input_not_read_past_its_end)
{
	/* Each prefix of a frame, in a buffer of exactly its size (ASan sees a read past it). */
	static const char f[] = "{\"e\":\"kline\",\"E\":-1.5e-3,\"k\":{\"t\":12,\"x\":false,"
	    "\"n\":null,\"s\":\"\\u00e9\\ud83d\\ude00\xc3\xa9\"}}";
	struct jtok j;

	jtok_init(&j, 100);
	for (size_t n = 0; n < sizeof(f) - 1; n++) {
		char *b = malloc(n ? n : 1);

		memcpy(b, f, n);
		cr_assert_eq(jtok_parse(&j, b, n), -1, "prefix of %zu accepted", n);
		free(b);
	}
	cr_assert_eq(jtok_parse(&j, f, sizeof(f) - 1), 0, "%s", j.err);
	jtok_free(&j);
}

/* Edge inputs, each where jtok and jansson must agree (no NUL byte among them). */
static const char *const oracle[] = {
	"[]", "{}", "[[]]", "[{}]", "{\"\":0}", "{\"\":0,\"\":1}", "[\"\\u0000\"]", "{\"a\\u0000\":1}",
	"[\"\\ud83d\\ude00\"]", "[\"\\ud83d\"]", "[\"\\ude00\"]", "[\"\\ud83d\\u0041\"]",
	"[\"\\uD83D\\uDE00\"]", "[\"\\uffff\\ufffe\"]", "[-0]", "[-0.0]", "[0e0]", "[0E-0]",
	"[1e-400]", "[1e400]", "[4.9e-324]", "[2.5e-324]", "[9223372036854775807]",
	"[9223372036854775808]", "[-9223372036854775808]", "[-9223372036854775809]", "[00]",
	"[1.]", "[.1]", "[1e]", "[--1]", "[\"\x7f\"]", "[\"\x1f\"]", "[\"\xc0\xaf\"]",
	"[\"\xed\xa0\x80\"]", "[\"\xf4\x8f\xbf\xbf\"]", "[\"\xf4\x90\x80\x80\"]", "\xef\xbb\xbf{}",
	"{\"a\":1,\"\\u0061\":2}", "{\"a\":1,\"A\":2}", "[1,]", "[,]", "{,}", "{\"a\":1,}", "[1 ,2]",
	"[true,false,null]", "[truefalse]", "[ture]", "{\"a\" :1}", " [ ] ", "[]\n\r\t ", "[]x",
	"\t", "", "[\"\\/\"]", "[\"\\'\"]", "[\"\\a\"]", "[\"\\u12\"]", "[\"\\u123G\"]",
	"{\"\\ud800\\udc00\":1,\"\xf0\x90\x80\x80\":2}", "[1.7976931348623157e308]",
	"[1.7976931348623158e308]", "[1.7976931348623159e308]", "[123456789012345678901234567890.5]",
};

Test(jtok_t, same_as_jansson)
{
	for (size_t i = 0; i < sizeof(oracle) / sizeof(oracle[0]); i++) {
		const char *s = oracle[i];
		json_error_t e;
		json_t *r = json_loadb(s, strlen(s), JSON_REJECT_DUPLICATES, &e);
		int rc = parse(s);

		cr_expect_eq(rc == 0, r != NULL, "%s: jansson %s (%s), jtok %s (%s)", s,
		    r ? "accepts" : "rejects", r ? "" : e.text, rc == 0 ? "accepts" : "rejects",
		    J.err);
		json_decref(r);
	}
}
