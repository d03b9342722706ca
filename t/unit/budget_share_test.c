/*
 * budget_share_test.c: TRANSITIONAL.  The per-worker share of the REST
 * weight and connection-attempt budgets (src/budget_share.c), driven with
 * explicit times; goes with budget_share.c.
 */
#include <criterion/criterion.h>

#include "budget_share.h"

#define MIN0	6000000LL	/* a time on a minute boundary */

Test(budget, share_is_host_budget_divided_by_shards)
{
	struct budget b;

	budget_init(&b, 1800, 225, 2);
	cr_assert_eq(b.weight_share, 900);
	cr_assert_eq(b.connect_share, 112);
}

Test(budget, weight_never_exceeds_the_share_in_a_minute)
{
	struct budget b;
	int64_t wait, spent = 0;

	budget_init(&b, 100, 100, 1);
	for (int i = 0; i < 100; i++)
		if (budget_weight_take(&b, 5, 0, MIN0 + i * 100, &wait) == 0)
			spent += 5;
	/* 95% of the host budget at most while the exchange's count is unknown */
	cr_assert_leq(spent, 95);
	cr_assert_geq(spent, 90);
	cr_assert_eq(budget_weight_take(&b, 5, 0, MIN0 + 30000, &wait), -1);
	cr_assert_eq(wait, 30001);
	/* the next minute has a fresh share */
	cr_assert_eq(budget_weight_take(&b, 5, 0, MIN0 + 60000, &wait), 0);
}

Test(budget, reserve_is_kept_for_callers_without_one)
{
	struct budget b;
	int64_t wait;

	budget_init(&b, 100, 100, 1);
	cr_assert_eq(budget_weight_take(&b, 40, 50, MIN0, &wait), 0);
	cr_assert_eq(budget_weight_take(&b, 40, 50, MIN0 + 1, &wait), -1);
	cr_assert_eq(budget_weight_take(&b, 40, 0, MIN0 + 2, &wait), 0);
}

Test(budget, exchange_count_of_the_ip_is_honoured)
{
	struct budget b;
	int64_t wait;

	budget_init(&b, 1000, 100, 4);	/* share 250 */
	budget_weight_seen(&b, 940, MIN0 + 10);	/* the other workers spent a lot */
	cr_assert_eq(budget_weight_take(&b, 20, 0, MIN0 + 20, &wait), -1);
	cr_assert_eq(budget_weight_take(&b, 5, 0, MIN0 + 20, &wait), 0);
}

Test(budget, retry_after_blocks_everything)
{
	struct budget b;
	int64_t wait;

	budget_init(&b, 1000, 100, 1);
	budget_block(&b, MIN0 + 7000);
	cr_assert_eq(budget_weight_take(&b, 1, 0, MIN0 + 10, &wait), -1);
	cr_assert_eq(wait, 6990);
	cr_assert_eq(budget_weight_take(&b, 1, 0, MIN0 + 7000, &wait), 0);
}

Test(budget, connects_in_any_five_minutes_stay_under_the_share)
{
	struct budget b;
	int64_t wait;
	int ok = 0;

	budget_init(&b, 1000, 10, 1);
	for (int s = 0; s < 600; s++)
		for (int k = 0; k < 3; k++)
			ok += budget_connect_take(&b, MIN0 + s * 1000LL, &wait) == 0;
	/* two full windows at most */
	cr_assert_leq(ok, 20);
	cr_assert_geq(ok, 19);
	cr_assert_leq(budget_connects_in_window(&b, MIN0 + 599000LL), 10);
}
