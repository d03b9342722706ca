/* log_test.c: rate-limited logging for peer-caused warnings. */
#include <criterion/criterion.h>

#include "log.h"

Test(log, ratelimit_allows_a_burst_then_counts_the_rest)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000, 3);
	uint64_t sup;
	int allowed = 0;

	for (int i = 0; i < 10; i++)
		allowed += log_ratelimit_allow(&rl, 5000 + (uint64_t)i, &sup);
	cr_assert_eq(allowed, 3);
	cr_assert_eq(rl.suppressed, 7);
	cr_assert_eq(log_ratelimit_allow(&rl, 6000, &sup), 1, "a new window opens");
	cr_assert_eq(sup, 7, "and reports what was suppressed");
	cr_assert_eq(rl.suppressed, 0);
}

Test(log, level_names_round_trip)
{
	enum log_level l;

	cr_assert_eq(log_level_parse("warn", &l), 0);
	cr_assert_eq(l, LOG_LVL_WARN);
	cr_assert_str_eq(log_level_name(LOG_LVL_DEBUG), "debug");
	cr_assert_eq(log_level_parse("WARN", &l), -1);
}
