/*
 * jarena.h: a bump allocator for jansson parse trees that live for one
 * frame (jarena.c).  Installed (jarena_install) in a process that parses
 * many small frames, it turns jansson's many small malloc/free calls per
 * parse into pointer bumps: between jarena_begin and jarena_end, what
 * jansson allocates comes from one reused block (malloc once it is full),
 * and freeing arena memory is a no-op.  Whatever jansson allocated in the
 * window must be released (json_decref) before jarena_end: the next
 * window reuses the block.  Without jarena_install, begin and end do
 * nothing and jansson uses malloc as always.  Not thread-safe: one thread
 * uses jansson in a process that installs it.
 */
#ifndef EXFEEDD_JARENA_H
#define EXFEEDD_JARENA_H

/* Make jansson allocate through the arena.  0, or -1 (out of memory). */
int	 jarena_install(void);
void	 jarena_begin(void);
void	 jarena_end(void);

#endif
