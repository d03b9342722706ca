/*
 * jtok.c: the strict JSON tokenizer (jtok.h): one pass, an explicit stack
 * of open containers instead of recursion, tokens into an array reused
 * from parse to parse.
 *
 * What it accepts is jansson 2.14's load.c, rule for rule (the lexer's
 * whitespace, number, string and literal scanning, its UTF-8 check of
 * every byte read, parse_value's depth count, parse_object's duplicate
 * check on decoded keys, and json_loadb's '[' or '{' at the top and end of
 * input after the value), with the differences jtok.h lists;
 * t/fuzz/fuzz_jtok.c holds the two to it.
 */
#include "autoconf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jtok.h"

/* Objects with more members than this check their keys for one twice by hash, not pairwise. */
#define JTOK_PAIRWISE_MAX	12

/*
 * Bytes inside a string: 0 plain, 1 the closing quote, 2 a backslash, 3 a
 * control character (jansson: 0x00-0x1f; DEL is plain), 4 the lead of a
 * multi-byte UTF-8 sequence or a byte no valid text has there.
 */
static const unsigned char str_class[256] = {
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

void
jtok_init(struct jtok *j, size_t max_tokens)
{
	memset(j, 0, offsetof(struct jtok, stack));
	j->max = max_tokens > 0 ? max_tokens : 1;
	if (j->max > INT32_MAX)
		j->max = INT32_MAX;	/* token indexes are ints */
}

void
jtok_free(struct jtok *j)
{
	free(j->tok);
	free(j->scratch);
	free(j->seen);
	j->tok = NULL;
	j->scratch = NULL;
	j->seen = NULL;
	j->ntok = j->cap = j->slen = j->scap = j->seencap = 0;
	j->buf = NULL;
	j->len = 0;
}

static int __attribute__((format(printf, 3, 4)))
fail(struct jtok *j, const unsigned char *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->err, sizeof(j->err), fmt, ap);
	va_end(ap);
	j->errpos = (size_t)((const char *)at - j->buf);
	return -1;
}

/* Room for n more bytes in the scratch; 0 or -1. */
static int
scratch_room(struct jtok *j, size_t n)
{
	size_t want = j->slen + n, cap;
	char *p;

	if (want <= j->scap)
		return 0;
	for (cap = j->scap ? j->scap : 256; cap < want; cap *= 2)
		;
	if ((p = realloc(j->scratch, cap)) == NULL)
		return -1;
	j->scratch = p;
	j->scap = cap;
	return 0;
}

/* A new token at the end; NULL when the maximum is reached or memory is out. */
static struct jtok_tok *
grow(struct jtok *j)
{
	struct jtok_tok *t;
	size_t cap;

	if (j->ntok >= j->max)
		return NULL;
	cap = j->cap ? j->cap * 2 : 64;
	if (cap > j->max)
		cap = j->max;
	if ((t = reallocarray(j->tok, cap, sizeof(*t))) == NULL)
		return NULL;
	j->tok = t;
	j->cap = cap;
	return &j->tok[j->ntok++];
}

static inline struct jtok_tok *
newtok(struct jtok *j)
{
	if (j->ntok < j->cap)
		return &j->tok[j->ntok++];
	return grow(j);
}

static int
toofew(struct jtok *j, const unsigned char *at)
{
	if (j->ntok >= j->max)
		return fail(j, at, "more than %zu tokens", j->max);
	return fail(j, at, "out of memory");
}

/*
 * The length of the valid UTF-8 sequence of 2 to 4 bytes at p (jansson's
 * utf8_check_first and utf8_check_full: no overlong form, no surrogate,
 * nothing above U+10FFFF), or 0.
 */
static size_t
utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && p[1] < 0xa0) ||	/* overlong */
	    (c == 0xed && p[1] >= 0xa0) ||	/* U+D800-U+DFFF */
	    (c == 0xf0 && p[1] < 0x90) ||	/* overlong */
	    (c == 0xf4 && p[1] >= 0x90))	/* above U+10FFFF */
		return 0;
	return n;
}

static int
hexval(unsigned c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return (int)(c - 'a' + 10);
	return -1;
}

/* The four hex digits at p (checked by the scan). */
static unsigned
hex4(const unsigned char *p)
{
	return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 |
	    hexval(p[3]));
}

/*
 * Decode the string s..e (between its quotes, escapes already checked for
 * form) into the scratch for token t, as jansson's lex_scan_string does:
 * a high surrogate must be followed at once by a \u low one, a low one
 * alone fails, \u0000 fails (JSON_ALLOW_NUL is not given; in a key jansson
 * never takes it).  0 or -1.
 */
static int
decode(struct jtok *j, const unsigned char *s, const unsigned char *e, struct jtok_tok *t)
{
	unsigned char *o;
	size_t start;

	/* Decoded is never longer: \uXXXX (6) gives at most 3 bytes, a pair (12) 4. */
	if (scratch_room(j, (size_t)(e - s)) == -1)
		return fail(j, s, "out of memory");
	start = j->slen;
	o = (unsigned char *)j->scratch + start;
	while (s < e) {
		const unsigned char *esc = s;
		unsigned v, v2;

		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		s++;
		switch (*s++) {
		case '"':	*o++ = '"'; continue;
		case '\\':	*o++ = '\\'; continue;
		case '/':	*o++ = '/'; continue;
		case 'b':	*o++ = '\b'; continue;
		case 'f':	*o++ = '\f'; continue;
		case 'n':	*o++ = '\n'; continue;
		case 'r':	*o++ = '\r'; continue;
		case 't':	*o++ = '\t'; continue;
		default:	break;	/* 'u' */
		}
		v = hex4(s);
		s += 4;
		if (v >= 0xd800 && v <= 0xdbff) {
			if (e - s < 6 || s[0] != '\\' || s[1] != 'u')
				return fail(j, esc, "invalid Unicode '\\u%04X'", v);
			v2 = hex4(s + 2);
			if (v2 < 0xdc00 || v2 > 0xdfff)
				return fail(j, esc, "invalid Unicode '\\u%04X\\u%04X'", v, v2);
			s += 6;
			v = ((v - 0xd800) << 10) + (v2 - 0xdc00) + 0x10000;
		} else if (v >= 0xdc00 && v <= 0xdfff)
			return fail(j, esc, "invalid Unicode '\\u%04X'", v);
		if (v == 0)
			return fail(j, esc, "\\u0000 is not allowed");
		if (v < 0x80)
			*o++ = (unsigned char)v;
		else if (v < 0x800) {
			*o++ = (unsigned char)(0xc0 | v >> 6);
			*o++ = (unsigned char)(0x80 | (v & 0x3f));
		} else if (v < 0x10000) {
			*o++ = (unsigned char)(0xe0 | v >> 12);
			*o++ = (unsigned char)(0x80 | (v >> 6 & 0x3f));
			*o++ = (unsigned char)(0x80 | (v & 0x3f));
		} else {
			*o++ = (unsigned char)(0xf0 | v >> 18);
			*o++ = (unsigned char)(0x80 | (v >> 12 & 0x3f));
			*o++ = (unsigned char)(0x80 | (v >> 6 & 0x3f));
			*o++ = (unsigned char)(0x80 | (v & 0x3f));
		}
	}
	t->esc = 1;
	t->dec = (uint32_t)start;
	t->size = (uint32_t)((char *)o - (j->scratch + start));
	j->slen += t->size;
	return 0;
}

/*
 * The string whose opening quote is at *pp, into token t; *pp is left
 * past its closing quote.  0 or -1.
 */
static int
scan_string(struct jtok *j, const unsigned char **pp, const unsigned char *end,
    struct jtok_tok *t)
{
	const unsigned char *p = *pp + 1, *s = p;
	bool esc = false;
	size_t n;

	t->type = JT_STRING;
	t->off = (uint32_t)((const char *)s - j->buf);
	t->esc = 0;
	for (;;) {
		while (p < end && str_class[*p] == 0)
			p++;
		if (p == end)
			return fail(j, p, "premature end of input");
		switch (str_class[*p]) {
		case 1:
			t->len = (uint32_t)(p - s);
			t->size = t->len;
			*pp = p + 1;
			return esc ? decode(j, s, p, t) : 0;
		case 2:
			esc = true;
			if (end - p < 2)
				return fail(j, p, "premature end of input");
			switch (p[1]) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				p += 2;
				break;
			case 'u':
				if (end - p < 6 || hexval(p[2]) < 0 || hexval(p[3]) < 0 ||
				    hexval(p[4]) < 0 || hexval(p[5]) < 0)
					return fail(j, p, "invalid escape");
				p += 6;
				break;
			default:
				return fail(j, p, "invalid escape");
			}
			break;
		case 3:
			if (*p == 0)
				return fail(j, p, "a NUL byte");
			return fail(j, p, *p == '\n' ? "unexpected newline" :
			    "control character 0x%x", *p);
		default:
			if ((n = utf8_seq(p, end)) == 0)
				return fail(j, p, "unable to decode byte 0x%x", *p);
			p += n;
			break;
		}
	}
}

static inline bool
isdig(unsigned c)
{
	return c - '0' < 10;
}

/*
 * The number at *pp into token t (RFC 8259's grammar, as jansson's
 * lex_scan_number); *pp is left past it.  An integer must fit an int64
 * (jansson: strtoll, ERANGE); a real is read with strtod now, as jansson
 * does, and fails if it overflows to ±HUGE_VAL.  0 or -1.
 */
static int
scan_number(struct jtok *j, const unsigned char **pp, const unsigned char *end,
    struct jtok_tok *t)
{
	const unsigned char *p = *pp, *start = p, *dig;
	bool neg = false, real = false;
	size_t n;

	if (*p == '-') {
		neg = true;
		p++;
	}
	dig = p;
	if (p < end && *p == '0')
		p++;
	else if (p < end && isdig(*p))
		while (p < end && isdig(*p))
			p++;
	else
		return fail(j, start, "invalid token");
	n = (size_t)(p - dig);
	if (p < end && *p == '.') {
		p++;
		if (p == end || !isdig(*p))
			return fail(j, start, "invalid token");
		while (p < end && isdig(*p))
			p++;
		real = true;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !isdig(*p))
			return fail(j, start, "invalid token");
		while (p < end && isdig(*p))
			p++;
		real = true;
	}
	t->off = (uint32_t)((const char *)start - j->buf);
	t->len = (uint32_t)(p - start);
	t->size = 0;
	t->esc = 0;
	*pp = p;
	if (!real) {
		/* No leading zeros: 19 digits may overflow, 20 or more do. */
		if (n > 19 || (n == 19 && memcmp(dig, neg ? "9223372036854775808" :
		    "9223372036854775807", 19) > 0))
			return fail(j, start, neg ? "too big negative integer" : "too big integer");
		t->type = JT_INTEGER;
		return 0;
	} else {
		size_t at, len = (size_t)(p - start);
		double v;

		/* The double, 8-aligned, then the text for strtod after it (not kept). */
		if (scratch_room(j, 7 + sizeof(double) + len + 1) == -1)
			return fail(j, start, "out of memory");
		at = (j->slen + 7) & ~(size_t)7;
		memcpy(j->scratch + at + sizeof(double), start, len);
		j->scratch[at + sizeof(double) + len] = '\0';
		errno = 0;
		v = strtod(j->scratch + at + sizeof(double), NULL);
		if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)
			return fail(j, start, "real number overflow");
		memcpy(j->scratch + at, &v, sizeof(v));
		j->slen = at + sizeof(double);
		t->dec = (uint32_t)at;
		t->type = JT_REAL;
		return 0;
	}
}

/* The bytes of a key (decoded if it has escapes). */
static inline const char *
key_bytes(const struct jtok *j, const struct jtok_tok *t, size_t *n)
{
	*n = t->size;
	return t->esc ? j->scratch + t->dec : j->buf + t->off;
}

static uint32_t
key_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* Whether two keys' bytes are the same (most keys are a byte or two: no call for those). */
static inline bool
key_same(const char *a, size_t na, const char *b, size_t nb)
{
	return na == nb && (na == 0 || (a[0] == b[0] && (na == 1 ||
	    memcmp(a + 1, b + 1, na - 1) == 0)));
}

/*
 * Whether object o (closed, members counted) has a key twice.  Keys of one
 * byte (most of Binance's) are marked in a bitmap; the others, when a
 * few, are compared pairwise; an object with more of them goes through an
 * open addressing table.  0, or -1 with the error at the second one.
 */
static int
dup_keys(struct jtok *j, uint32_t o)
{
	const struct jtok_tok *tk = j->tok;
	uint32_t n = tk[o].size, keys[JTOK_PAIRWISE_MAX], nkeys = 0, k, mask, cap;
	uint64_t one[4] = { 0, 0, 0, 0 };
	const char *a, *b;
	size_t na, nb;

	k = o + 1;
	for (uint32_t i = 0; i < n; i++, k = tk[k + 1].next) {
		a = key_bytes(j, &tk[k], &na);
		if (na == 1) {
			unsigned char c = (unsigned char)a[0];

			if (one[c >> 6] >> (c & 63) & 1)
				goto twice;
			one[c >> 6] |= (uint64_t)1 << (c & 63);
			continue;
		}
		if (nkeys == JTOK_PAIRWISE_MAX)
			goto table;
		for (uint32_t m = 0; m < nkeys; m++) {
			b = key_bytes(j, &tk[keys[m]], &nb);
			if (key_same(a, na, b, nb))
				goto twice;
		}
		keys[nkeys++] = k;
	}
	return 0;

table:
	/* Every key of more or less than a byte, from the first again. */
	for (cap = 32; cap < 2 * (size_t)n; cap *= 2)
		;
	if (j->seencap < cap) {
		uint32_t *s = reallocarray(j->seen, cap, sizeof(*s));

		if (s == NULL)
			return fail(j, (const unsigned char *)j->buf + tk[o].off, "out of memory");
		j->seen = s;
		j->seencap = cap;
	}
	memset(j->seen, 0, cap * sizeof(*j->seen));
	memset(one, 0, sizeof(one));
	mask = cap - 1;
	k = o + 1;
	for (uint32_t i = 0; i < n; i++, k = tk[k + 1].next) {
		uint32_t h;

		a = key_bytes(j, &tk[k], &na);
		if (na == 1) {
			unsigned char c = (unsigned char)a[0];

			if (one[c >> 6] >> (c & 63) & 1)
				goto twice;
			one[c >> 6] |= (uint64_t)1 << (c & 63);
			continue;
		}
		for (h = key_hash(a, na) & mask; j->seen[h] != 0; h = (h + 1) & mask) {
			b = key_bytes(j, &tk[j->seen[h]], &nb);
			if (key_same(a, na, b, nb))
				goto twice;
		}
		j->seen[h] = k;		/* a key is never token 0 */
	}
	return 0;
twice:
	return fail(j, (const unsigned char *)j->buf + tk[k].off - 1, "duplicate object key");
}

static inline const unsigned char *
skip_ws(const unsigned char *p, const unsigned char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

int
jtok_parse(struct jtok *j, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;
	struct jtok_tok *t;
	uint32_t sp = 0, top;

	j->buf = buf;
	j->len = len;
	j->ntok = 0;
	j->slen = 0;
	j->err[0] = '\0';
	j->errpos = 0;
	if (len >= UINT32_MAX)
		return fail(j, p, "input of 4 GiB or more");
	p = skip_ws(p, end);
	if (p == end || (*p != '[' && *p != '{'))
		return fail(j, p, "'[' or '{' expected");

value:
	/* p is at the first byte of a value (not whitespace), maybe at end. */
	if (sp >= JTOK_DEPTH_MAX)
		return fail(j, p, "maximum parsing depth reached");
	if ((t = newtok(j)) == NULL)
		return toofew(j, p);
	t->next = (uint32_t)j->ntok;
	if (sp > 0 && j->tok[j->stack[sp - 1]].type == JT_ARRAY)
		j->tok[j->stack[sp - 1]].size++;
	if (p == end)
		return fail(j, p, "premature end of input");
	switch (*p) {
	case '{':
	case '[':
		t->type = *p == '{' ? JT_OBJECT : JT_ARRAY;
		t->off = (uint32_t)((const char *)p - buf);
		t->size = 0;
		t->esc = 0;
		j->stack[sp++] = (uint32_t)(j->ntok - 1);
		p = skip_ws(p + 1, end);
		if (p < end && *p == (t->type == JT_OBJECT ? '}' : ']'))
			goto close;
		if (t->type == JT_OBJECT)
			goto key;
		goto value;
	case '"':
		if (scan_string(j, &p, end, t) == -1)
			return -1;
		break;
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		if (scan_number(j, &p, end, t) == -1)
			return -1;
		break;
	case 't':
		if (end - p < 4 || memcmp(p, "true", 4) != 0)
			return fail(j, p, "invalid token");
		t->type = JT_TRUE;
		goto literal;
	case 'f':
		if (end - p < 5 || memcmp(p, "false", 5) != 0)
			return fail(j, p, "invalid token");
		t->type = JT_FALSE;
		goto literal;
	case 'n':
		if (end - p < 4 || memcmp(p, "null", 4) != 0)
			return fail(j, p, "invalid token");
		t->type = JT_NULL;
	literal:
		t->off = (uint32_t)((const char *)p - buf);
		t->len = t->type == JT_FALSE ? 5 : 4;
		t->size = 0;
		t->esc = 0;
		p += t->len;
		break;
	case '\0':
		return fail(j, p, "a NUL byte");
	default:
		return fail(j, p, "invalid token");
	}

after:
	/* A value ended: what its container takes next. */
	if (sp == 0) {
		p = skip_ws(p, end);
		if (p != end)
			return fail(j, p, *p == '\0' ? "a NUL byte" : "end of file expected");
		return 0;
	}
	p = skip_ws(p, end);
	top = j->stack[sp - 1];
	if (p == end)
		return fail(j, p, "premature end of input");
	if (*p == ',') {
		p = skip_ws(p + 1, end);
		if (j->tok[top].type == JT_ARRAY)
			goto value;
		goto key;
	}
	if (*p != (j->tok[top].type == JT_ARRAY ? ']' : '}'))
		return fail(j, p, *p == '\0' ? "a NUL byte" : j->tok[top].type == JT_ARRAY ?
		    "']' expected" : "'}' expected");

close:
	/* p is at the closing bracket of the innermost open container. */
	top = j->stack[--sp];
	t = &j->tok[top];
	t->len = (uint32_t)((const char *)p + 1 - buf) - t->off;
	t->next = (uint32_t)j->ntok;
	if (t->type == JT_OBJECT && t->size > 1 && dup_keys(j, top) == -1)
		return -1;
	p++;
	goto after;

key:
	/* p is where an object's key must start. */
	if (p == end || *p != '"')
		return fail(j, p, p == end ? "premature end of input" : *p == '\0' ? "a NUL byte" :
		    "string or '}' expected");
	if ((t = newtok(j)) == NULL)
		return toofew(j, p);
	t->next = (uint32_t)j->ntok;
	j->tok[j->stack[sp - 1]].size++;
	if (scan_string(j, &p, end, t) == -1)
		return -1;
	p = skip_ws(p, end);
	if (p == end || *p != ':')
		return fail(j, p, p == end ? "premature end of input" : "':' expected");
	p = skip_ws(p + 1, end);
	goto value;
}

int
jtok_getn(const struct jtok *j, int obj, const char *key, size_t klen)
{
	const struct jtok_tok *tk = j->tok;
	uint32_t n, k;

	if (obj < 0 || tk[obj].type != JT_OBJECT)
		return -1;
	n = tk[obj].size;
	k = (uint32_t)obj + 1;
	for (uint32_t i = 0; i < n; i++, k = tk[k + 1].next) {
		const char *b;
		size_t nb;

		if (tk[k].size != klen)
			continue;
		b = key_bytes(j, &tk[k], &nb);
		if (key_same(b, nb, key, klen))
			return (int)k + 1;
	}
	return -1;
}

int
jtok_get(const struct jtok *j, int obj, const char *key)
{
	return jtok_getn(j, obj, key, strlen(key));
}

int
jtok_at(const struct jtok *j, int arr, size_t i)
{
	const struct jtok_tok *tk = j->tok;
	uint32_t e;

	if (arr < 0 || tk[arr].type != JT_ARRAY || i >= tk[arr].size)
		return -1;
	e = (uint32_t)arr + 1;
	while (i-- > 0)
		e = tk[e].next;
	return (int)e;
}

const char *
jtok_str(const struct jtok *j, int i, size_t *len)
{
	if (i < 0 || j->tok[i].type != JT_STRING)
		return NULL;
	return key_bytes(j, &j->tok[i], len);
}

bool
jtok_str_eq(const struct jtok *j, int i, const char *s, size_t slen)
{
	const char *b;
	size_t n;

	if ((b = jtok_str(j, i, &n)) == NULL)
		return false;
	return n == slen && memcmp(b, s, n) == 0;
}

int
jtok_int(const struct jtok *j, int i, int64_t *out)
{
	const unsigned char *p, *e;
	uint64_t v = 0;
	bool neg;

	if (i < 0 || j->tok[i].type != JT_INTEGER)
		return -1;
	p = (const unsigned char *)j->buf + j->tok[i].off;
	e = p + j->tok[i].len;
	if ((neg = *p == '-'))
		p++;
	/* In range: the parse checked it (at most 2^63 for a negative one). */
	while (p < e)
		v = v * 10 + (uint64_t)(*p++ - '0');
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int
jtok_real(const struct jtok *j, int i, double *out)
{
	if (i < 0 || j->tok[i].type != JT_REAL)
		return -1;
	memcpy(out, j->scratch + j->tok[i].dec, sizeof(*out));
	return 0;
}

int
jtok_bool(const struct jtok *j, int i, bool *out)
{
	if (i < 0 || (j->tok[i].type != JT_TRUE && j->tok[i].type != JT_FALSE))
		return -1;
	*out = j->tok[i].type == JT_TRUE;
	return 0;
}
