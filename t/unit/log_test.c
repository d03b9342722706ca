/* log_test.c: rate-limited logging for peer-caused warnings; redacting what peers echo. */
#include <criterion/criterion.h>
#include <string.h>

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

/* Binance echoes a bad parameter in its error ("unknown variant `...`"): no listen key in the log. */
Test(log, redact_tokens_hides_keys_an_exchange_echoes)
{
	const char *lk = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1";
	char in[512], out[512];

	snprintf(in, sizeof(in), "{\"error\":{\"code\":2,\"msg\":\"Invalid request: unknown "
	    "variant `%s`\"},\"id\":7}", lk);
	log_redact_tokens(in, strlen(in), out, sizeof(out));
	cr_assert_null(strstr(out, lk), "%s", out);
	cr_assert_null(strstr(out, "pqia91ma19a5"), "not even a prefix: %s", out);
	cr_assert_str_eq(out, "{\"error\":{\"code\":2,\"msg\":\"Invalid request: unknown "
	    "variant `<redacted>`\"},\"id\":7}");
}

Test(log, redact_tokens_keeps_ordinary_text_and_bounds)
{
	char out[16];

	log_redact_tokens("code -1125\n", 11, out, sizeof(out));
	cr_assert_str_eq(out, "code -1125?", "a control byte is shown as ?");
	log_redact_tokens("abcdefghijklmnopqrstuvwxyz0123456789", 36, out, sizeof(out));
	cr_assert_str_eq(out, "<redacted>");
	log_redact_tokens("0123456789012345678901234567890123", 5, out, sizeof(out));
	cr_assert_str_eq(out, "01234", "only inlen bytes are read");
	log_redact_tokens("a long line that does not fit", 29, out, sizeof(out));
	cr_assert_eq(strlen(out), sizeof(out) - 1);
}
