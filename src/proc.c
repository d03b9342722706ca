/*
 * proc.c: starting a worker (socketpair + fork + exec of our own binary, so
 * no library state crosses the fork) and the respawn delay arithmetic.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exfeedd.h"
#include "log.h"

const char *
proc_self_exe(void)
{
	static char path[PATH_MAX];
	ssize_t n;

	if (path[0])
		return path;
	if ((n = readlink("/proc/self/exe", path, sizeof(path) - 1)) <= 0)
		return NULL;
	path[n] = '\0';
	return path;
}

pid_t
proc_spawn(const struct proc_args *pa, enum role role, int instance, int *chan_fd)
{
	char inst[16], *argv[8];
	int sv[2], argc = 0;
	sigset_t all, old;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	snprintf(inst, sizeof(inst), "%d", instance);
	argv[argc++] = (char *)"exfeedd";
	argv[argc++] = (char *)"-P";
	argv[argc++] = (char *)role_name(role);
	argv[argc++] = (char *)"-I";
	argv[argc++] = inst;
	if (pa->foreground)
		argv[argc++] = (char *)"-f";
	if (pa->verbose)
		argv[argc++] = (char *)"-v";
	argv[argc] = NULL;

	/* No signal may run a supervisor handler in the child before exec. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == -1) {
		int saved = errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		close(sv[0]);
		close(sv[1]);
		errno = saved;
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		int devnull;

		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(sv[1], WORKER_CHANNEL_FD) == -1)
			_exit(71);
		if ((devnull = open("/dev/null", O_RDONLY)) != -1) {
			dup2(devnull, 0);
			if (devnull != 0)
				close(devnull);
		}
		/* Nothing but stdio and the channel crosses exec. */
		if (close_range(WORKER_CHANNEL_FD + 1, ~0U, 0) == -1)
			for (int fd = WORKER_CHANNEL_FD + 1; fd < 4096; fd++)
				close(fd);
		execv(pa->exe, argv);
		_exit(71);	/* EX_OSERR */
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	*chan_fd = sv[0];
	return pid;
}

/*
 * Exponential backoff with ±20% jitter: min, 2×min, 4×min … capped at max.
 * A worker that died before announcing READY waits at least `throttle_ms`,
 * so a crash loop costs little (Postfix's "throttle").
 */
int64_t
proc_backoff_ms(unsigned fails, int died_before_ready, int64_t min_ms, int64_t max_ms,
    int64_t throttle_ms, uint32_t rnd)
{
	int64_t d = min_ms;

	for (unsigned i = 1; i < fails && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* rnd uniform in [0, 2^32): factor in [0.8, 1.2) */
	d = d * 8 / 10 + (int64_t)(((uint64_t)d * 4 / 10 * rnd) >> 32);
	if (d > max_ms)
		d = max_ms;
	if (died_before_ready && d < throttle_ms)
		d = throttle_ms;
	return d;
}

void
proc_describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)%s", WTERMSIG(status),
		    strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "status 0x%x", status);
}
