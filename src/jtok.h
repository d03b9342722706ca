/*
 * jtok.h: a strict JSON tokenizer for exchange payloads: one pass over a
 * buffer into a flat array of tokens, nothing allocated per value
 * (jtok.c).
 *
 * It accepts exactly the texts jansson's json_loadb(buf, len,
 * JSON_REJECT_DUPLICATES, &e) accepts, and reads the same values from
 * them (t/fuzz/fuzz_jtok.c checks both on every input): RFC 8259's
 * grammar with an object or an array at the top (jansson without
 * JSON_DECODE_ANY), only whitespace after it, valid UTF-8 (no overlong
 * form, no surrogate, nothing past U+10FFFF), no control character in a
 * string, \u escapes with surrogates in pairs and never \u0000, integers
 * that fit an int64 exactly, reals that do not overflow a double, no key
 * twice in an object (compared as decoded bytes: "a" and "\u0061" are the
 * same key), values nested at most JTOK_DEPTH_MAX deep.  Where it differs
 * on purpose:
 *  - a NUL byte anywhere is an error (jansson accepts one right after a
 *    number or a literal, "[1\0]": its lexer's look-ahead of a NUL is lost
 *    when put back);
 *  - more than the caller's maximum of tokens is an error (jansson stops
 *    only when malloc does), and so is an input of 4 GiB or more;
 *  - error texts follow jansson's but their byte positions are where the
 *    fault is, not where jansson's lexer stood.
 *
 * The tokens, in document order: a container, then its children's
 * subtrees; an object's children are key, value, key, value...  Each
 * token has the index just past its subtree (next), so a sibling is one
 * step away.  Strings point into the input (between the quotes); one with
 * escapes is also decoded, at parse time, into a scratch buffer the
 * tokenizer owns.  Every pointer handed out (jtok_str) is valid until the
 * next jtok_parse or jtok_free.  Not thread-safe: one struct jtok per
 * thread of use.
 */
#ifndef EXFEEDD_JTOK_H
#define EXFEEDD_JTOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* jansson's JSON_PARSER_MAX_DEPTH: the outermost value is at depth 1. */
#define JTOK_DEPTH_MAX	2048

enum jtok_type {
	JT_OBJECT = 1,
	JT_ARRAY,
	JT_STRING,
	JT_INTEGER,
	JT_REAL,
	JT_TRUE,
	JT_FALSE,
	JT_NULL
};

struct jtok_tok {
	uint32_t	 off;	/* first byte in the input; a string's after its '"' */
	uint32_t	 len;	/* bytes in the input; a string's between its quotes */
	uint32_t	 size;	/* object: members; array: elements; string: decoded length */
	uint32_t	 next;	/* index just past this token's subtree */
	uint32_t	 dec;	/* in the scratch: a string's decoded bytes, a real's double */
	uint8_t		 type;	/* enum jtok_type */
	uint8_t		 esc;	/* string: has escapes */
};

struct jtok {
	struct jtok_tok	*tok;		/* tok[0] is the root after a parse */
	size_t		 ntok, cap, max;
	const char	*buf;		/* the input of the last parse */
	size_t		 len;
	char		*scratch;	/* decoded strings, reals' values (and their text for strtod) */
	size_t		 slen, scap;
	uint32_t	*seen;		/* open addressing table for a big object's keys */
	size_t		 seencap;
	char		 err[96];	/* why the last parse failed */
	size_t		 errpos;	/* at which byte */
	uint32_t	 stack[JTOK_DEPTH_MAX];	/* the open containers */
};

/*
 * An empty tokenizer that takes at most max_tokens tokens a parse
 * (every value and every key is one; at least 1, at most INT32_MAX).
 * Nothing allocated yet.
 */
void	 jtok_init(struct jtok *, size_t max_tokens);
/* Release what the tokenizer holds; it may be parsed with again. */
void	 jtok_free(struct jtok *);
/*
 * Tokenize exactly buf[0..len).  0 with the tokens in j->tok[0..ntok),
 * or -1 with j->err and j->errpos (not JSON as above, too many tokens, or
 * out of memory).  The input must stay unchanged while the tokens are read.
 */
int	 jtok_parse(struct jtok *, const char *buf, size_t len);

/* The type of token i (a valid index). */
static inline enum jtok_type
jtok_type(const struct jtok *j, int i)
{
	return (enum jtok_type)j->tok[i].type;
}

/* Members of an object, elements of an array, 0 for anything else. */
static inline size_t
jtok_size(const struct jtok *j, int i)
{
	uint8_t t = j->tok[i].type;

	return t == JT_OBJECT || t == JT_ARRAY ? j->tok[i].size : 0;
}

/*
 * Walking a container: jtok_first gives its first child (an array's
 * element 0, an object's first key), -1 if it has none; the next element
 * of an array is jtok_next(j, e); an object's key k has its value at
 * k + 1 and the next key at jtok_next(j, k + 1).  A container of n
 * children has exactly n of them: count, never run past the last.
 */
static inline int
jtok_first(const struct jtok *j, int i)
{
	return jtok_size(j, i) > 0 ? i + 1 : -1;
}

static inline int
jtok_next(const struct jtok *j, int i)
{
	return (int)j->tok[i].next;
}

/*
 * The value of key in object obj (bytes compared exactly, case matters),
 * or -1 if obj is not an object or has no such key.  jtok_getn takes the
 * key's length (a key may hold any byte but NUL).
 */
int	 jtok_get(const struct jtok *, int obj, const char *key);
int	 jtok_getn(const struct jtok *, int obj, const char *key, size_t klen);
/* Element i of array arr (O(i)), or -1 if arr is not an array or is shorter. */
int	 jtok_at(const struct jtok *, int arr, size_t i);

/*
 * A string's bytes (decoded: valid UTF-8 without NUL, not NUL-terminated)
 * and their count, or NULL if token i is not a string.
 */
const char *jtok_str(const struct jtok *, int i, size_t *len);
/* Whether string token i is exactly s (bytes), false for a non-string. */
bool	 jtok_str_eq(const struct jtok *, int i, const char *s, size_t slen);
/* An integer's exact value: 0, or -1 if token i is not an integer. */
int	 jtok_int(const struct jtok *, int i, int64_t *);
/*
 * A real's value as jansson reads it (strtod of its text): 0, or -1 if
 * token i is not a real (an integer is not one, as in jansson).
 */
int	 jtok_real(const struct jtok *, int i, double *);
/* A boolean: 0, or -1 if token i is neither true nor false. */
int	 jtok_bool(const struct jtok *, int i, bool *);

#endif
