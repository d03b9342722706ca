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
 * A directory stream of its own over the directory open as dfd, at its
 * start (a dup shares the offset with dfd's other dups); NULL on failure.
 */
static DIR *
dir_stream(int dfd)
{
	DIR *d;
	int fd;

	if ((fd = dup(dfd)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return NULL;
	}
	rewinddir(d);
	return d;
}

/*
 * The files the workers share in the runtime directory (budget-<exchange>,
 * budget.c) outlive the daemon on purpose: a 418 ban must survive a restart.
 * A daemon started before as another user (or before [daemon] user changed)
 * left them owned by that user, and the workers could no longer open them.
 * Hand them to the workers' user, in the directory open as dfd; symlinks
 * are left alone, never followed.
 */
static int
runtime_files_chown(int dfd, uid_t uid, gid_t gid)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	int rc = 0;

	if ((d = dir_stream(dfd)) == NULL)
		return -1;
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
 * 1 if the directory open as dfd holds nothing, or only what an earlier run
 * of the daemon leaves (budget-*, exfeedd.*, *.pid, *.sock; no directory),
 * as when [daemon] user changed; else 0.
 */
static int
dir_holds_only_ours(int dfd)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	int ours = 1;

	if ((d = dir_stream(dfd)) == NULL)
		return 0;
	while (ours && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		size_t len = strlen(n);

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == -1 || S_ISDIR(st.st_mode))
			ours = 0;
		else if (strncmp(n, "budget-", 7) != 0 && strncmp(n, "exfeedd.", 8) != 0 &&
		    !(len > 4 && strcmp(n + len - 4, ".pid") == 0) &&
		    !(len > 5 && strcmp(n + len - 5, ".sock") == 0))
			ours = 0;
	}
	closedir(d);
	return ours;
}

/*
 * 1, with the reason in why, if the existing directory dir (open as fd,
 * st its fstat) is not the user's and cannot plainly be made so: not "/"
 * or right under it (a typo must not hand /opt, /run or /etc to the
 * daemon), not writable by others, holding nothing but an earlier run's
 * files.  0 when it is the user's already or may be taken.
 */
static int
runtime_dir_refuse(const char *dir, int fd, const struct stat *st, uid_t uid, char *why,
    size_t whylen)
{
	char real[4096], link[64];
	const char *refuse = NULL;
	ssize_t n;

	if (st->st_uid == uid)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, real, sizeof(real) - 1)) <= 0)
		snprintf(real, sizeof(real), "%s", dir);
	else
		real[n] = '\0';
	if (strchr(real + 1, '/') == NULL)
		refuse = "it is / or a directory right under it";
	else if (st->st_mode & S_IWOTH)
		refuse = "others may write in it";
	else if (!dir_holds_only_ours(fd))
		refuse = "it holds files that are not exfeedd's";
	if (refuse == NULL)
		return 0;
	snprintf(why, whylen, "%s (%s) belongs to uid %ld and %s: not taking it over for uid "
	    "%ld; name a directory of the daemon's own (the default is %s/exfeedd)", dir, real,
	    (long)st->st_uid, refuse, (long)uid, RUNSTATEDIR);
	return 1;
}

int
daemon_runtime_dir_check(const char *dir, uid_t uid, char *why, size_t whylen)
{
	struct stat st;
	int fd, refuse;

	why[0] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, whylen, errno == ELOOP || errno == ENOTDIR ?
		    "%s is a symbolic link or not a directory" : "%s: %s", dir, strerror(errno));
		return -1;
	}
	refuse = fstat(fd, &st) == 0 && runtime_dir_refuse(dir, fd, &st, uid, why, whylen);
	close(fd);
	return refuse ? -1 : 0;
}

/*
 * The runtime directory is the daemon's alone: mode 0750 and user:group,
 * set explicitly whatever the umask or an earlier mode.  Its parents, when
 * we create them, are ordinary 0755 directories.  Everything is changed
 * through a descriptor opened without following a symlink, so a link
 * planted by the workers' user cannot redirect a root start's chown.  An
 * existing directory that is not the user's already is taken over only
 * when that is plainly safe: holding nothing but an earlier run's files,
 * not "/" or a directory right under it (a typo must not hand /opt, /run
 * or /etc to the daemon), and not writable by others.  0, or -1 with errno and the reason in why.
 */
int
daemon_runtime_dir(const char *dir, uid_t uid, gid_t gid, char *why, size_t whylen)
{
	char path[4096];
	struct stat st;
	int fd, made = 0, saved;

	why[0] = '\0';
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(path, DAEMON_RUNTIME_DIR_MODE) == 0)
		made = 1;
	else if (errno != EEXIST)
		goto fail;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ELOOP || errno == ENOTDIR) {
			snprintf(why, whylen, "%s is a symbolic link or not a directory", dir);
			errno = ENOTDIR;
		}
		goto fail;
	}
	if (fstat(fd, &st) == -1)
		goto fail_fd;
	if (!made && geteuid() == 0 && runtime_dir_refuse(dir, fd, &st, uid, why, whylen)) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	if (geteuid() == 0 && (st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) == -1)
		goto fail_fd;
	/* Not root: only our own directory is ours to change (systemd made it 0750). */
	if ((geteuid() == 0 || st.st_uid == geteuid()) &&
	    (st.st_mode & 07777) != DAEMON_RUNTIME_DIR_MODE &&
	    fchmod(fd, DAEMON_RUNTIME_DIR_MODE) == -1)
		goto fail_fd;
	if (geteuid() == 0 && runtime_files_chown(fd, uid, gid) == -1)
		goto fail_fd;
	close(fd);
	return 0;
fail_fd:
	saved = errno;
	close(fd);
	errno = saved;
fail:
	if (why[0] == '\0')
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
	return -1;
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
