/* strbuf.c: see strbuf.h. */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

int
strbuf_reserve(struct strbuf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (n > SIZE_MAX / 2 - b->len) {
		b->oom = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 512;
		char *np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->oom = 1;
			return -1;
		}
		b->p = np;
		b->cap = ncap;
	}
	return 0;
}

int
strbuf_put(struct strbuf *b, const char *s, size_t n)
{
	if (strbuf_reserve(b, n) == -1)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
strbuf_puts(struct strbuf *b, const char *s)
{
	return strbuf_put(b, s, strlen(s));
}
