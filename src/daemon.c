/*
 * daemon.c: becoming a daemon - the pidfile (an flock()ed file, so a stale
 * one is told from a live one without trusting pids), detaching, the runtime
 * directory, and dropping root for [daemon] user/group.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exfeedd.h"
#include "log.h"

/*
 * Returns 0 with the lock held, or -1: with *holder > 0 if a live process
 * holds it, else errno describes the failure.
 */
int
daemon_pidfile_acquire(const char *path, int *fdp, pid_t *holder)
{
	char buf[32];
	ssize_t n;
	int fd;

	*holder = 0;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, DAEMON_PIDFILE_MODE)) == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int saved = errno;

		if (saved == EWOULDBLOCK && (n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			*holder = (pid_t)atol(buf);
		}
		if (*holder <= 0)
			*holder = -1;		/* locked, pid unknown yet */
		close(fd);
		errno = saved;
		return -1;
	}
	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		log_info("pidfile %s: replacing stale pid %ld (no process holds it)", path, atol(buf));
	}
	/* Whatever the umask we were started with (or the mode a stale file had). */
	if (fchmod(fd, DAEMON_PIDFILE_MODE) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	*fdp = fd;
	return 0;
}

int
daemon_pidfile_write(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n)
		return -1;
	return 0;
}

void
daemon_pidfile_remove(const char *path, int fd)
{
	if (fd < 0)
		return;
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("cannot remove pidfile %s", path);
	close(fd);
}

/*
 * Classic double fork; the caller keeps its pidfile lock (flock is per open
 * file).  The command that started us returns only once the daemon has
 * called daemon_detach_done() (its pidfile is written), with exit 0, or 1
 * if the daemon died first: init scripts may read the pidfile at once.
 */
int
daemon_detach(int keep_stderr, int *done_fd)
{
	pid_t pid;
	int fd, p[2];
	char c;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0) {
		ssize_t n;

		close(p[1]);
		c = 0;
		do
			n = read(p[0], &c, 1);
		while (n == -1 && errno == EINTR);
		_exit(n == 1 && c == 'R' ? 0 : 1);
	}
	close(p[0]);
	if (setsid() == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	*done_fd = p[1];
	if (chdir("/") == -1)
		return -1;
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		return -1;
	dup2(fd, 0);
	dup2(fd, 1);
	if (!keep_stderr)
		dup2(fd, 2);
	if (fd > 2)
		close(fd);
	return 0;
}

void
daemon_detach_done(int done_fd)
{
	if (done_fd < 0)
		return;
	if (write(done_fd, "R", 1) != 1) {
		/* the starting command is gone: nobody to tell */
	}
	close(done_fd);
}

/*
 * The files the workers share in the runtime directory (budget-<exchange>,
 * budget.c) outlive the daemon on purpose: a 418 ban must survive a restart.
 * A daemon started before as another user (or before [daemon] user changed)
 * left them owned by that user, and the workers could no longer open them.
 * Hand them to the workers' user; symlinks are left alone, never followed.
 */
static int
runtime_files_chown(const char *dir, uid_t uid, gid_t gid)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	int dfd, rc = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "budget-", 7) != 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode))
			continue;
		if ((st.st_uid != uid || st.st_gid != gid) &&
		    fchownat(dfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

/*
 * The runtime directory is the daemon's alone: mode 0750 and user:group,
 * set explicitly whatever the umask or an earlier mode.  Its parents, when
 * we create them, are ordinary 0755 directories.
 */
int
daemon_runtime_dir(const char *dir, uid_t uid, gid_t gid)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, DAEMON_RUNTIME_DIR_MODE) == -1 && errno != EEXIST)
		return -1;
	if (lstat(path, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	if (geteuid() == 0 && (st.st_uid != uid || st.st_gid != gid) && chown(path, uid, gid) == -1)
		return -1;
	/* Not root: only our own directory is ours to change (systemd made it 0750). */
	if ((geteuid() == 0 || st.st_uid == geteuid()) &&
	    (st.st_mode & 07777) != DAEMON_RUNTIME_DIR_MODE && chmod(path, DAEMON_RUNTIME_DIR_MODE) == -1)
		return -1;
	if (geteuid() == 0)
		return runtime_files_chown(path, uid, gid);
	return 0;
}

int
daemon_lookup_ids(const struct config *cfg, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	if ((pw = getpwnam(cfg->user)) == NULL) {
		snprintf(err, errlen, "%s:%d: [daemon] user: no such user \"%s\"", cfg->file,
		    config_line_of(cfg, "daemon", "user"), cfg->user);
		return -1;
	}
	if ((gr = getgrnam(cfg->group)) == NULL) {
		snprintf(err, errlen, "%s:%d: [daemon] group: no such group \"%s\"", cfg->file,
		    config_line_of(cfg, "daemon", "group"), cfg->group);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = gr->gr_gid;
	return 0;
}

/*
 * For good: the supplementary groups are replaced by the one group, and the
 * real, effective and saved ids all change, so nothing is left to switch
 * back to.  Then prove it: the ids read back are the ones asked for, no
 * group is 0, and setuid(0) and friends fail.  -1 (errno EPERM when a check
 * failed) and the caller must not go on.
 */
int
daemon_drop_privileges(uid_t uid, gid_t gid, const char *user)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[64];
	int n;

	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		return -1;
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    (n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups)) == -1)
		return -1;
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		goto regained;
	for (int i = 0; i < n; i++)
		if (groups[i] != gid)
			goto regained;
	/* Paranoia: it must be impossible to get root back. */
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1 || setresuid(-1, -1, 0) != -1))
		goto regained;
	if (gid != 0 && (setgid(0) != -1 || setegid(0) != -1 || setgroups(1, (gid_t[]){ 0 }) != -1))
		goto regained;
	return 0;
regained:
	errno = EPERM;
	return -1;
}

/*
 * After the drop (or from a start as a user): no exec of ours or of a
 * library's may gain privileges again (set-uid binaries, file
 * capabilities).  Inherited by every worker across fork and exec.
 */
int
daemon_no_new_privs(void)
{
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/*
 * Off by default: a core of an account worker holds decrypted API secrets,
 * the writer's the database password, the gateway's the JWT secret.  Off
 * also means non-dumpable: no core whatever the limit, and no ptrace or
 * /proc/PID/mem by other processes of the same user.  A worker is
 * dumpable again after its exec (Linux resets it), so each process calls
 * this for itself.  Its own /proc/self stays readable to it; /proc/PID/stat
 * and status stay world-readable, the rest of /proc/PID becomes root's.  An
 * operator chasing a crash turns core_dumps on and gets cores from every
 * process.
 */
void
daemon_core_dumps(const struct config *cfg)
{
	struct rlimit rl;

	if (cfg->core_dumps) {
		rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
		/* without privilege the hard limit stays: raise the soft one to it */
		if (setrlimit(RLIMIT_CORE, &rl) == -1) {
			getrlimit(RLIMIT_CORE, &rl);
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_CORE, &rl);
		}
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		return;
	}
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		/* the soft limit only, so a reload can turn cores back on */
		rl.rlim_cur = 0;
		setrlimit(RLIMIT_CORE, &rl);
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int
daemon_log_open(const struct config *cfg, int foreground)
{
	char path[4096];

	log_set_level((enum log_level)cfg->log_level);
	if (foreground || strcmp(cfg->log, "stderr") == 0)
		return log_open(LOG_TO_STDERR, NULL, 0);
	if (strcmp(cfg->log, "syslog") == 0) {
		if (log_syslog_listening())
			return log_open(LOG_TO_SYSLOG, NULL, config_facility(cfg->syslog_facility));
		/* syslog(3) drops lines nobody reads without a word: never silent. */
		snprintf(path, sizeof(path), "%s/%s", cfg->runtime_dir, DAEMON_FALLBACK_LOG);
		return log_open(LOG_TO_FILE, path, 0) == -1 ? -1 : 1;
	}
	return log_open(LOG_TO_FILE, cfg->log, 0);
}
