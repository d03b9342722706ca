/*
 * proctitle.c: set the title ps(1) shows ("exfeedd: account 2") by reusing
 * the argv/environ block, after moving environ out of the way.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exfeedd.h"

extern char **environ;

static char	*title_start;
static size_t	 title_len;
/*
 * Our copy of the environment lives as long as the process.  We hold it
 * here too, not only in environ: a clearenv() (glibc's exit-time freeres
 * does one, under valgrind) drops environ's pointer, and the copy must not
 * become a leak then.  "used": nothing reads it, and the compiler would
 * drop a store nobody reads.
 */
static char	**env_copy __attribute__((used));

void
proctitle_init(int argc, char **argv)
{
	char *end;
	char **newenv;
	int n;

	if (argc == 0 || argv[0] == NULL)
		return;
	end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	for (n = 0; environ[n] != NULL; n++)
		;
	for (int i = 0; i < n; i++)
		if (environ[i] == end)
			end = environ[i] + strlen(environ[i]) + 1;
	/* environ lives in the same block: copy it before we overwrite the block. */
	if ((newenv = calloc((size_t)n + 1, sizeof(char *))) == NULL)
		return;
	for (int i = 0; i < n; i++)
		if ((newenv[i] = strdup(environ[i])) == NULL) {
			/* No title then: the old environment stays as it was. */
			while (i-- > 0)
				free(newenv[i]);
			free(newenv);
			return;
		}
	environ = env_copy = newenv;
	for (int i = 1; i < argc; i++)
		argv[i] = NULL;
	title_start = argv[0];
	title_len = (size_t)(end - argv[0]);
}

void
proctitle_set(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* comm stays "exfeedd", so pidof and ps -C still find every process. */
	if (title_start == NULL || title_len < 2)
		return;
	memset(title_start, 0, title_len);
	snprintf(title_start, title_len, "%s", buf);
}
