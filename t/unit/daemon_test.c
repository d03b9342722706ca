/* daemon_test.c: the modes of the runtime directory and the pidfile whatever
 * the umask, the privilege drop that cannot be undone (as root), and the
 * non-dumpable processes of core_dumps = no. */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "exfeedd.h"

#define NOBODY	65534

static char dir[64];

static void
mkscratch(void)
{
	snprintf(dir, sizeof(dir), "/tmp/daemon_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void
rmscratch(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

TestSuite(daemon, .init = mkscratch, .fini = rmscratch);

Test(daemon, runtime_dir_is_0750_whatever_the_umask)
{
	char path[128], why[8400];

	umask(0);
	snprintf(path, sizeof(path), "%s/a/b/run", dir);
	cr_assert_eq(daemon_runtime_dir(path, getuid(), getgid(), why, sizeof(why)), 0, "%s", strerror(errno));
	cr_assert_eq(mode_of(path), 0750, "a new one: %04o", mode_of(path));
	cr_assert_eq(mode_of(dir), 0700, "an existing parent is left alone");

	/* One left behind open to all, or made by someone's mkdir -p. */
	chmod(path, 0777);
	cr_assert_eq(daemon_runtime_dir(path, getuid(), getgid(), why, sizeof(why)), 0);
	cr_assert_eq(mode_of(path), 0750, "an existing one: %04o", mode_of(path));
}

Test(daemon, runtime_dir_that_is_a_symlink_is_refused)
{
	char path[128], target[128], why[8400];

	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	snprintf(path, sizeof(path), "%s/run", dir);
	cr_assert_eq(mkdir(target, 0755), 0);
	cr_assert_eq(symlink(target, path), 0);
	cr_assert_eq(daemon_runtime_dir(path, getuid(), getgid(), why, sizeof(why)), -1);
	cr_assert_eq(mode_of(target), 0755, "the link's target is not chmod'ed");
}

/*
 * As root: an existing directory of another owner is taken over only when
 * empty and not writable by others; a refusal changes nothing and says why.
 */
Test(daemon, runtime_dir_of_another_owner_is_taken_only_when_plainly_safe)
{
	char path[128], file[160], why[8400];
	struct stat st;

	if (geteuid() != 0)
		cr_skip_test("not root");
	snprintf(path, sizeof(path), "%s/opt", dir);
	snprintf(file, sizeof(file), "%s/opt/somebody-elses", dir);

	/* Someone else's, with files in it (the shape of /opt, /etc, /var/lib/x). */
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(close(open(file, O_WRONLY | O_CREAT, 0644)), 0);
	cr_assert_eq(chown(path, 4242, 4242), 0);
	cr_assert_eq(daemon_runtime_dir(path, NOBODY, NOBODY, why, sizeof(why)), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert(strstr(why, "belongs to uid 4242 and it holds files that are not exfeedd's") != NULL, "%s", why);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(st.st_uid == 4242 && (st.st_mode & 07777) == 0755, "left as it was");

	/* Open to all (the shape of /tmp, /var/tmp). */
	cr_assert_eq(unlink(file), 0);
	cr_assert_eq(chmod(path, 01777), 0);
	cr_assert_eq(daemon_runtime_dir(path, NOBODY, NOBODY, why, sizeof(why)), -1);
	cr_assert(strstr(why, "others may write in it") != NULL, "%s", why);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(st.st_uid == 4242 && (st.st_mode & 07777) == 01777, "left as it was");

	/* Empty and private: an operator's mkdir; taken. */
	cr_assert_eq(chmod(path, 0755), 0);
	cr_assert_eq(daemon_runtime_dir(path, NOBODY, NOBODY, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(st.st_uid == NOBODY && (st.st_mode & 07777) == 0750);

	/* Already the user's, with its files: kept and used. */
	cr_assert_eq(close(open(file, O_WRONLY | O_CREAT, 0644)), 0);
	cr_assert_eq(daemon_runtime_dir(path, NOBODY, NOBODY, why, sizeof(why)), 0, "%s", why);

	/* Root's, with only an earlier run's files ([daemon] user changed): taken. */
	cr_assert_eq(unlink(file), 0);
	snprintf(file, sizeof(file), "%s/opt/budget-binance-futures", dir);
	cr_assert_eq(close(open(file, O_WRONLY | O_CREAT, 0600)), 0);
	snprintf(file, sizeof(file), "%s/opt/exfeedd.log", dir);
	cr_assert_eq(close(open(file, O_WRONLY | O_CREAT, 0600)), 0);
	cr_assert_eq(chown(path, 0, 0), 0);
	cr_assert_eq(chown(file, 0, 0), 0);
	snprintf(file, sizeof(file), "%s/opt/budget-binance-futures", dir);
	cr_assert_eq(chown(file, 0, 0), 0);
	cr_assert_eq(daemon_runtime_dir(path, NOBODY, NOBODY, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(st.st_uid == NOBODY);
	cr_assert_eq(stat(file, &st), 0);
	cr_assert_eq(st.st_uid, NOBODY, "the budget file is handed over too");
}

/* As root: a budget-* name that is a symlink planted by the user is not followed. */
Test(daemon, runtime_dir_budget_symlink_is_not_followed)
{
	char path[128], link[160], target[128], why[8400];
	struct stat st;

	if (geteuid() != 0)
		cr_skip_test("not root");
	snprintf(path, sizeof(path), "%s/run", dir);
	snprintf(target, sizeof(target), "%s/roots-file", dir);
	snprintf(link, sizeof(link), "%s/run/budget-x", dir);
	cr_assert_eq(mkdir(path, 0750), 0);
	cr_assert_eq(chown(path, NOBODY, NOBODY), 0);
	cr_assert_eq(close(open(target, O_WRONLY | O_CREAT, 0600)), 0);
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(daemon_runtime_dir(path, NOBODY, NOBODY, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(stat(target, &st), 0);
	cr_assert_eq(st.st_uid, 0, "the link's target stays root's");
}

Test(daemon, pidfile_is_0644_whatever_the_umask)
{
	char path[128];
	pid_t holder;
	int fd;

	snprintf(path, sizeof(path), "%s/exfeedd.pid", dir);
	umask(077);
	cr_assert_eq(daemon_pidfile_acquire(path, &fd, &holder), 0, "%s", strerror(errno));
	cr_assert_eq(mode_of(path), 0644, "umask 077: %04o", mode_of(path));
	close(fd);

	/* A stale one with another mode is set right when it is taken over. */
	chmod(path, 0666);
	umask(0);
	cr_assert_eq(daemon_pidfile_acquire(path, &fd, &holder), 0);
	cr_assert_eq(mode_of(path), 0644, "stale 0666: %04o", mode_of(path));
	close(fd);
}

Test(daemon, pidfile_that_is_a_symlink_is_refused)
{
	char path[128], target[128];
	pid_t holder;
	int fd;

	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(path, sizeof(path), "%s/exfeedd.pid", dir);
	close(open(target, O_CREAT | O_WRONLY, 0600));
	cr_assert_eq(symlink(target, path), 0);
	cr_assert_eq(daemon_pidfile_acquire(path, &fd, &holder), -1);
	cr_assert_eq(mode_of(target), 0600, "the link's target is untouched");
}

Test(daemon, core_dumps_no_makes_the_process_non_dumpable)
{
	struct config cfg = { 0 };

	cfg.core_dumps = 1;
	daemon_core_dumps(&cfg);
	cr_assert_eq(prctl(PR_GET_DUMPABLE), 1);
	cfg.core_dumps = 0;
	daemon_core_dumps(&cfg);
	cr_assert_eq(prctl(PR_GET_DUMPABLE), 0, "no ptrace, no /proc/PID/mem for the same user");
	cfg.core_dumps = 1;
	daemon_core_dumps(&cfg);
	cr_assert_eq(prctl(PR_GET_DUMPABLE), 1, "a reload turns it back on");
}

/*
 * The drop, as root, in a child: afterwards every id is nobody's, no
 * supplementary group is left, and no way back to root works.  Each
 * failed expectation is its own exit status, so a failure says which.
 */
static int
drop_and_try_to_regain(void)
{
	uid_t r, e, s;
	gid_t rg, eg, sg, groups[64];
	int n;

	if (setgroups(2, (gid_t[]){ 0, 4 }) == -1)	/* root's groups, as a shell has them */
		return 10;
	if (daemon_drop_privileges(NOBODY, NOBODY, "nobody") == -1)
		return 11;
	if (getresuid(&r, &e, &s) == -1 || r != NOBODY || e != NOBODY || s != NOBODY)
		return 12;
	if (getresgid(&rg, &eg, &sg) == -1 || rg != NOBODY || eg != NOBODY || sg != NOBODY)
		return 13;
	if ((n = getgroups(64, groups)) == -1)
		return 14;
	for (int i = 0; i < n; i++)
		if (groups[i] != NOBODY)
			return 15;
	if (setuid(0) != -1 || seteuid(0) != -1 || setreuid(-1, 0) != -1 ||
	    setresuid(0, 0, 0) != -1 || setresuid(-1, -1, 0) != -1)
		return 16;
	if (setgid(0) != -1 || setegid(0) != -1 || setresgid(0, 0, 0) != -1 ||
	    setgroups(1, (gid_t[]){ 0 }) != -1)
		return 17;
	if (daemon_no_new_privs() == -1 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 18;
	return 0;
}

Test(daemon, dropped_privileges_cannot_be_regained)
{
	int status;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root (tools/check runs as root)");
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0)
		_exit(drop_and_try_to_regain());
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "status 0x%x", status);
	cr_assert_eq(WEXITSTATUS(status), 0, "check %d failed (see drop_and_try_to_regain)",
	    WEXITSTATUS(status));
}
