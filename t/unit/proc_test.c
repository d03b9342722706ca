/* proc_test.c: the respawn delay arithmetic, exit-status descriptions, alike
 * deaths before READY, and a failed exec reported as such. */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include "exfeedd.h"

#define MIN 250
#define MAX 30000
#define THROTTLE 5000

Test(proc, first_restart_is_under_a_second_whatever_the_jitter)
{
	for (uint64_t r = 0; r <= UINT32_MAX; r += 65537) {
		int64_t d = proc_backoff_ms(1, 0, MIN, MAX, THROTTLE, (uint32_t)r);

		cr_assert(d >= MIN * 8 / 10 && d < MIN * 12 / 10, "delay %lld", (long long)d);
		cr_assert_lt(d, 1000);
	}
}

Test(proc, delays_double_then_cap)
{
	int64_t prev = 0;

	for (unsigned f = 1; f <= 12; f++) {
		int64_t d = proc_backoff_ms(f, 0, MIN, MAX, THROTTLE, 1u << 31);	/* mid jitter */

		if (f <= 7)
			cr_assert_eq(d, MIN << (f - 1), "f=%u d=%lld", f, (long long)d);
		cr_assert_geq(d, prev);
		cr_assert_leq(d, MAX);
		prev = d;
	}
	cr_assert_eq(proc_backoff_ms(40, 0, MIN, MAX, THROTTLE, UINT32_MAX), MAX,
	    "jitter never exceeds the cap");
}

Test(proc, a_worker_that_died_before_ready_is_throttled)
{
	cr_assert_eq(proc_backoff_ms(1, 1, MIN, MAX, THROTTLE, 0), THROTTLE);
	cr_assert_eq(proc_backoff_ms(8, 1, MIN, MAX, THROTTLE, 1u << 31), MAX,
	    "throttle is a floor, not a cap");
}

Test(proc, jitter_spreads_restarts)
{
	int64_t lo = proc_backoff_ms(3, 0, MIN, MAX, THROTTLE, 0);
	int64_t hi = proc_backoff_ms(3, 0, MIN, MAX, THROTTLE, UINT32_MAX);

	cr_assert_eq(lo, 800);
	cr_assert(hi >= 1199 && hi <= 1200, "hi %lld", (long long)hi);
}

Test(proc, exit_descriptions)
{
	char buf[96];

	proc_describe_status(78 << 8, buf, sizeof(buf));
	cr_assert_str_eq(buf, "exit 78");
	proc_describe_status(SIGKILL, buf, sizeof(buf));
	cr_assert_str_eq(buf, "signal 9 (Killed)");
}

Test(proc, roles)
{
	enum role r;

	cr_assert_eq(role_parse("gateway", &r), 0);
	cr_assert_eq(r, ROLE_GATEWAY);
	cr_assert_eq(role_parse("Gateway", &r), -1);
	cr_assert(role_stage(ROLE_GATEWAY) < role_stage(ROLE_ACCOUNT));
	cr_assert_eq(role_stage(ROLE_ACCOUNT), role_stage(ROLE_MARKET));
	cr_assert(role_stage(ROLE_MARKET) < role_stage(ROLE_WRITER));
	cr_assert(role_stage(ROLE_WRITER) < role_stage(ROLE_BROKER));
}

Test(proc, alike_deaths_before_ready_are_counted_until_one_differs)
{
	struct proc_early e = { 0 };

	for (unsigned i = 1; i <= 5; i++)
		cr_assert_eq(proc_early_note(&e, 1, "exit 1", "cannot open x: Permission denied"), i);
	/* another reason, another status: the count starts again */
	cr_assert_eq(proc_early_note(&e, 1, "exit 1", "cannot open y: Permission denied"), 1);
	cr_assert_eq(proc_early_note(&e, 1, "exit 1", "cannot open y: Permission denied"), 2);
	cr_assert_eq(proc_early_note(&e, 1, "signal 11 (Segmentation fault)",
	    "cannot open y: Permission denied"), 1);
	/* a worker that got ready and died later is a crash, not a start failure */
	cr_assert_eq(proc_early_note(&e, 0, "signal 11 (Segmentation fault)", ""), 0);
	cr_assert_eq(proc_early_note(&e, 1, "signal 11 (Segmentation fault)",
	    "cannot open y: Permission denied"), 1);
}

Test(proc, a_failed_exec_is_reported_with_the_path_and_errno_a_failed_setup_is_retried)
{
	struct proc_args pa = { "/nonexistent/exfeedd", -1, 0, 0 };
	char err[256];
	int chan = -1;

	/* exe_fd -1: the child's set-up fails (EBADF): -1, which is tried again */
	cr_assert_eq(proc_spawn(&pa, ROLE_MARKET, 0, &chan, err, sizeof(err)), -1);
	cr_assert_eq(errno, EBADF);
	cr_assert_str_eq(err, "cannot prepare the worker's descriptors: Bad file descriptor");
	cr_assert_eq(chan, -1);
	/* not an executable: the exec fails (EACCES): -2, which is not */
	pa.exe_fd = open("/dev/null", O_PATH | O_CLOEXEC);
	cr_assert_eq(proc_spawn(&pa, ROLE_MARKET, 0, &chan, err, sizeof(err)), -2);
	cr_assert_eq(errno, EACCES);
	cr_assert_str_eq(err, "cannot execute /nonexistent/exfeedd: Permission denied");
	close(pa.exe_fd);
}
