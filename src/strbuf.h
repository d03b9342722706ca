/*
 * strbuf.h: a growable, always NUL-terminated string.  An allocation
 * failure sets oom and makes every later append a no-op, so a builder can
 * append freely and check once at the end; appends also return -1 once oom
 * is set, for callers that stop at the first failure.
 */
#ifndef EXFEEDD_STRBUF_H
#define EXFEEDD_STRBUF_H

#include <stddef.h>

struct strbuf {
	char	*p;
	size_t	 len, cap;
	int	 oom;
};

int	 strbuf_put(struct strbuf *, const char *, size_t);
int	 strbuf_puts(struct strbuf *, const char *);
/*
 * Room for n more bytes (and the NUL) at p + len, for a writer that fills
 * them in place (a protobuf pack): it then adds what it wrote to len and
 * puts the NUL back.  0, or -1 when out of memory (oom set).
 */
int	 strbuf_reserve(struct strbuf *, size_t n);

#endif
