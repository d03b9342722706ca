/*
 * jarena.c: the bump allocator for one frame's jansson tree (jarena.h).
 *
 * The block is JARENA_SIZE bytes, 16-byte aligned pieces; a frame's tree
 * that does not fit (a REST body of a thousand levels) takes the rest from
 * malloc.  free() tells the two apart by address.  Windows may nest (a
 * callback parsing inside a parse): the block is reset only when the
 * outermost one begins.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "jarena.h"

#define JARENA_SIZE	(256 * 1024)
#define JARENA_ALIGN	16

static struct {
	char	*p;
	size_t	 used;
	int	 depth;		/* windows open */
} ja;

static void *
ja_malloc(size_t n)
{
	size_t need = (n + JARENA_ALIGN - 1) & ~(size_t)(JARENA_ALIGN - 1);
	void *r;

	if (ja.depth == 0 || need > JARENA_SIZE - ja.used)
		return malloc(n);
	r = ja.p + ja.used;
	ja.used += need;
	return r;
}

static void
ja_free(void *q)
{
	uintptr_t a = (uintptr_t)q, lo = (uintptr_t)ja.p;

	if (q != NULL && a >= lo && a < lo + JARENA_SIZE)
		return;		/* the block: taken back as a whole at the next window */
	free(q);
}

int
jarena_install(void)
{
#if defined(__SANITIZE_ADDRESS__)
	/* Under AddressSanitizer every tree comes from malloc, so that a use of a
	 * freed node is caught, not hidden by the block's reuse. */
	return 0;
#endif
	if (ja.p != NULL)
		return 0;
	if ((ja.p = aligned_alloc(JARENA_ALIGN, JARENA_SIZE)) == NULL)
		return -1;
	json_set_alloc_funcs(ja_malloc, ja_free);
	return 0;
}

void
jarena_begin(void)
{
	if (ja.p == NULL)
		return;
	if (ja.depth++ == 0)
		ja.used = 0;
}

void
jarena_end(void)
{
	if (ja.p != NULL && ja.depth > 0)
		ja.depth--;
}
