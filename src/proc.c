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

int
proc_self_exe_fd(void)
{
	int fd = open("/proc/self/exe", O_PATH | O_CLOEXEC), hi;

	/* Above stdio: a daemon started with fd 0 closed later puts /dev/null there. */
	if (fd != -1 && fd <= 2) {
		hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		fd = hi;
	}
	return fd;
}

#define EXEC_FD		(WORKER_CHANNEL_FD + 1)	/* the binary, in the child */
#define EXEC_ERR_FD	(WORKER_CHANNEL_FD + 2)	/* the exec's errno, to the parent */

pid_t
proc_spawn(const struct proc_args *pa, enum role role, int instance, int *chan_fd,
    char *err, size_t errlen)
{
	char inst[16], *argv[8];
	int sv[2], ep[2], argc = 0, child[2] = { 0, 0 };	/* { stage, errno } */
	sigset_t all, old;
	pid_t pid;
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	if (pipe2(ep, O_CLOEXEC) == -1) {
		int saved = errno;

		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		errno = saved;
		return -1;
	}
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
		snprintf(err, errlen, "fork: %s", strerror(saved));
		close(sv[0]);
		close(sv[1]);
		close(ep[0]);
		close(ep[1]);
		errno = saved;
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		int devnull, chan, exe, errfd = -1;

		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/*
		 * Each source first above the three places (one may sit in
		 * another's place: the binary's descriptor is often 3), then into
		 * its place; dup2 clears close-on-exec, set again where it must
		 * not cross the exec.
		 */
		if ((errfd = fcntl(ep[1], F_DUPFD, EXEC_ERR_FD + 1)) == -1 ||
		    (chan = fcntl(sv[1], F_DUPFD, EXEC_ERR_FD + 1)) == -1 ||
		    (exe = fcntl(pa->exe_fd, F_DUPFD, EXEC_ERR_FD + 1)) == -1 ||
		    dup2(chan, WORKER_CHANNEL_FD) == -1 || dup2(exe, EXEC_FD) == -1 ||
		    dup2(errfd, EXEC_ERR_FD) == -1 || fcntl(EXEC_FD, F_SETFD, FD_CLOEXEC) == -1 ||
		    fcntl(EXEC_ERR_FD, F_SETFD, FD_CLOEXEC) == -1) {
			/* Stage 0: the child's set-up, which may work next time. */
			child[1] = errno;
			(void)!write(errfd != -1 ? errfd : ep[1], child, sizeof(child));
			_exit(71);
		}
		if ((devnull = open("/dev/null", O_RDONLY)) != -1) {
			dup2(devnull, 0);
			if (devnull != 0)
				close(devnull);
		}
		/* Nothing but stdio and the channel crosses exec. */
		if (close_range(EXEC_ERR_FD + 1, ~0U, 0) == -1)
			for (int fd = EXEC_ERR_FD + 1; fd < 4096; fd++)
				close(fd);
		fexecve(EXEC_FD, argv, environ);
		/* Stage 1: the exec itself, which fails the same way every time. */
		child[0] = 1;
		child[1] = errno;
		(void)!write(EXEC_ERR_FD, child, sizeof(child));
		_exit(71);	/* EX_OSERR */
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	close(ep[1]);
	/*
	 * The pipe closes at the exec (close-on-exec) or carries its errno: a
	 * wait as long as one exec of our own binary.
	 */
	do
		n = read(ep[0], child, sizeof(child));
	while (n == -1 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(child)) {
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		close(sv[0]);
		if (child[0] == 0) {
			snprintf(err, errlen, "cannot prepare the worker's descriptors: %s",
			    strerror(child[1]));
			errno = child[1];
			return -1;
		}
		snprintf(err, errlen, "cannot execute %s: %s", pa->exe, strerror(child[1]));
		errno = child[1];
		return -2;
	}
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

unsigned
proc_early_note(struct proc_early *e, int died_before_ready, const char *status,
    const char *reason)
{
	char this[sizeof(e->last)];

	if (!died_before_ready) {
		e->n = 0;
		e->last[0] = '\0';
		return 0;
	}
	snprintf(this, sizeof(this), "%s: %s", status, reason);
	e->n = e->n > 0 && strcmp(this, e->last) == 0 ? e->n + 1 : 1;
	memcpy(e->last, this, sizeof(e->last));
	return e->n;
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
