/*
 * metrics_test.c: the Prometheus text exposition (metrics.c): families
 * once each with HELP and TYPE, label values and help text escaped,
 * histograms with cumulative buckets, +Inf, _sum and _count, hist.h maps
 * in seconds, the tables' names and labels, the generic fallback, and
 * refusals (bad names, type clashes) that leave the rest intact.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "hist.h"
#include "metrics.h"
#include "mpack.h"
#include "strbuf.h"

static char *
render(struct metrics *m)
{
	struct strbuf sb = { 0 };

	cr_assert_eq(metrics_render(m, &sb), 0);
	return sb.p ? sb.p : strdup("");
}

Test(metrics, families_once_in_first_order)
{
	struct metrics *m = metrics_new();
	struct metric_label a[] = { { "role", "account" } }, b[] = { { "role", "market" } };
	char *out;

	metrics_add(m, "exfeedd_x_total", METRIC_COUNTER, "X things", a, 1, 3);
	metrics_add(m, "exfeedd_y", METRIC_GAUGE, "Y now", NULL, 0, 1.5);
	metrics_add(m, "exfeedd_x_total", METRIC_COUNTER, "ignored later help", b, 1, 4);
	out = render(m);
	cr_assert_str_eq(out,
	    "# HELP exfeedd_x_total X things\n"
	    "# TYPE exfeedd_x_total counter\n"
	    "exfeedd_x_total{role=\"account\"} 3\n"
	    "exfeedd_x_total{role=\"market\"} 4\n"
	    "# HELP exfeedd_y Y now\n"
	    "# TYPE exfeedd_y gauge\n"
	    "exfeedd_y 1.5\n");
	free(out);
	metrics_free(m);
}

Test(metrics, escaping)
{
	struct metrics *m = metrics_new();
	struct metric_label l[] = { { "stream", "a\\b\"c\nd" }, { "symbol", "BTC{}=,USDT" } };
	char *out;

	metrics_add(m, "exfeedd_e", METRIC_GAUGE, "back\\slash \"quoted\"\nsecond line", l, 2, -2);
	out = render(m);
	/* HELP escapes backslash and newline only; label values backslash, quote, newline. */
	cr_assert_str_eq(out,
	    "# HELP exfeedd_e back\\\\slash \"quoted\"\\nsecond line\n"
	    "# TYPE exfeedd_e gauge\n"
	    "exfeedd_e{stream=\"a\\\\b\\\"c\\nd\",symbol=\"BTC{}=,USDT\"} -2\n");
	free(out);
	metrics_free(m);
}

Test(metrics, values)
{
	struct metrics *m = metrics_new();
	struct metric_label l[1] = { { "k", "" } };
	char *out;

	l[0].value = "a";
	metrics_add(m, "exfeedd_v", METRIC_GAUGE, "v", l, 1, 0.05);
	l[0].value = "b";
	metrics_add(m, "exfeedd_v", METRIC_GAUGE, "v", l, 1, INFINITY);
	l[0].value = "c";
	metrics_add(m, "exfeedd_v", METRIC_GAUGE, "v", l, 1, NAN);
	l[0].value = "d";
	metrics_add(m, "exfeedd_v", METRIC_GAUGE, "v", l, 1, 18446744073709551615.0);
	l[0].value = "e";
	metrics_add(m, "exfeedd_v", METRIC_GAUGE, "v", l, 1, 9007199254740991.0);
	out = render(m);
	cr_assert(strstr(out, "exfeedd_v{k=\"a\"} 0.05\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_v{k=\"b\"} +Inf\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_v{k=\"c\"} NaN\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_v{k=\"d\"} 1.8446744073709552e+19\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_v{k=\"e\"} 9007199254740991\n"), "%s", out);
	free(out);
	metrics_free(m);
}

Test(metrics, histogram_cumulative)
{
	struct metrics *m = metrics_new();
	struct metric_label l[] = { { "role", "writer" } };
	double le[] = { 0.001, 0.01, 0.1 };
	uint64_t counts[] = { 2, 0, 5, 1 };	/* the last: above 0.1 */
	char *out;

	metrics_hist(m, "exfeedd_lat_seconds", "Latency", l, 1, le, counts, 3, 1.25);
	out = render(m);
	cr_assert_str_eq(out,
	    "# HELP exfeedd_lat_seconds Latency\n"
	    "# TYPE exfeedd_lat_seconds histogram\n"
	    "exfeedd_lat_seconds_bucket{role=\"writer\",le=\"0.001\"} 2\n"
	    "exfeedd_lat_seconds_bucket{role=\"writer\",le=\"0.01\"} 2\n"
	    "exfeedd_lat_seconds_bucket{role=\"writer\",le=\"0.1\"} 7\n"
	    "exfeedd_lat_seconds_bucket{role=\"writer\",le=\"+Inf\"} 8\n"
	    "exfeedd_lat_seconds_sum{role=\"writer\"} 1.25\n"
	    "exfeedd_lat_seconds_count{role=\"writer\"} 8\n");
	free(out);
	metrics_free(m);
}

Test(metrics, refusals)
{
	struct metrics *m = metrics_new();
	struct metric_label bad[] = { { "le", "1" } }, bad2[] = { { "9x", "1" } };
	char *out;

	cr_assert_eq(metrics_add(m, "exfeedd-bad", METRIC_GAUGE, "h", NULL, 0, 1), -1);
	cr_assert_eq(metrics_add(m, "exfeedd_ok", METRIC_GAUGE, "h", bad, 1, 1), -1);
	cr_assert_eq(metrics_add(m, "exfeedd_ok", METRIC_GAUGE, "h", bad2, 1, 1), -1);
	cr_assert_eq(metrics_add(m, "exfeedd_ok", METRIC_GAUGE, "h", NULL, 0, 1), 0);
	cr_assert_eq(metrics_add(m, "exfeedd_ok", METRIC_COUNTER, "h", NULL, 0, 1), -1);
	cr_assert_eq(metrics_refused(m), 4);
	out = render(m);
	cr_assert_str_eq(out, "# HELP exfeedd_ok h\n# TYPE exfeedd_ok gauge\nexfeedd_ok 1\n");
	free(out);
	metrics_free(m);
}

/* A worker list of one writer whose status has a hist.h histogram and unknown keys. */
static void
pack_workers(msgpack_sbuffer *sb, const struct hist *h)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_map(&pk, 6);
	mp_kv_str(&pk, "role", "writer");
	mp_kv_i64(&pk, "instance", 0);
	mp_kv_i64(&pk, "pid", 42);
	mp_kv_str(&pk, "state", "ready");
	mp_kv_u64(&pk, "restarts", 3);
	mp_str(&pk, "detail");
	msgpack_pack_map(&pk, 3);
	mp_kv_u64(&pk, "config_gen", 1);
	mp_str(&pk, "loop_busy_us");	/* worker.c's, beside the role's map */
	hist_pack(h, &pk);
	mp_str(&pk, "role");
	msgpack_pack_map(&pk, 6);
	mp_kv_u64(&pk, "events_committed", 10);
	mp_str(&pk, "committed");
	msgpack_pack_map(&pk, 2);
	mp_kv_u64(&pk, "order", 7);
	mp_kv_u64(&pk, "fill", 3);
	mp_str(&pk, "latency_us");
	hist_pack(h, &pk);
	mp_kv_u64(&pk, "brand_new_counter", 5);
	mp_kv_u64(&pk, "stall_ms", 1500);
	mp_str(&pk, "nested");
	msgpack_pack_map(&pk, 2);
	mp_kv_u64(&pk, "deep", 9);
	mp_kv_str(&pk, "text", "not a metric");
	/* A worker with no detail (not running): its supervisor metrics only. */
	msgpack_pack_map(&pk, 6);
	mp_kv_str(&pk, "role", "account");
	mp_kv_i64(&pk, "instance", 1);
	mp_kv_i64(&pk, "pid", 0);
	mp_kv_str(&pk, "state", "backoff");
	mp_kv_u64(&pk, "restarts", 0);
	mp_str(&pk, "detail");
	msgpack_pack_nil(&pk);
}

Test(metrics, workers)
{
	struct metrics *m = metrics_new();
	msgpack_sbuffer sb;
	msgpack_unpacked unp;
	struct hist h;
	char *out;

	hist_init(&h);
	hist_add(&h, 100);	/* on the first bound: its bucket (le is inclusive) */
	hist_add(&h, 101);
	hist_add(&h, 20000000);	/* above the last bound: +Inf only */
	msgpack_sbuffer_init(&sb);
	pack_workers(&sb, &h);
	msgpack_unpacked_init(&unp);
	cr_assert_eq(msgpack_unpack_next(&unp, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	metrics_workers(m, &unp.data);
	out = render(m);
	cr_assert(strstr(out, "exfeedd_worker_up{role=\"writer\",instance=\"0\"} 1\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_worker_up{role=\"account\",instance=\"1\"} 0\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_worker_state{role=\"account\",instance=\"1\",state=\"backoff\"} 1\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_worker_restarts_total{role=\"writer\",instance=\"0\"} 3\n"), "%s", out);
	cr_assert(strstr(out, "# TYPE exfeedd_writer_events_committed_total counter\n"
	    "exfeedd_writer_events_committed_total{role=\"writer\",instance=\"0\"} 10\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_events_committed_total{role=\"writer\",instance=\"0\",type=\"order\"} 7\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_events_committed_total{role=\"writer\",instance=\"0\",type=\"fill\"} 3\n"), "%s", out);
	/* The histogram in seconds: 100 µs is le 0.0001, counted there (inclusive). */
	cr_assert(strstr(out, "exfeedd_event_commit_latency_seconds_bucket{role=\"writer\",instance=\"0\",le=\"0.0001\"} 1\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_event_commit_latency_seconds_bucket{role=\"writer\",instance=\"0\",le=\"0.000126\"} 2\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_event_commit_latency_seconds_bucket{role=\"writer\",instance=\"0\",le=\"10\"} 2\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_event_commit_latency_seconds_bucket{role=\"writer\",instance=\"0\",le=\"+Inf\"} 3\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_event_commit_latency_seconds_sum{role=\"writer\",instance=\"0\"} 20.000201\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_event_commit_latency_seconds_count{role=\"writer\",instance=\"0\"} 3\n"), "%s", out);
	/* Every worker's loop turns, with its role's labels only. */
	cr_assert(strstr(out, "# TYPE exfeedd_worker_loop_busy_seconds histogram\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_worker_loop_busy_seconds_bucket{role=\"writer\",instance=\"0\",le=\"0.000126\"} 2\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_worker_loop_busy_seconds_count{role=\"writer\",instance=\"0\"} 3\n"), "%s", out);
	/* The fallback: what no table names, untyped, _ms made seconds, nested keys joined. */
	cr_assert(strstr(out, "# TYPE exfeedd_writer_brand_new_counter untyped\n"
	    "exfeedd_writer_brand_new_counter{role=\"writer\",instance=\"0\"} 5\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_writer_stall_seconds{role=\"writer\",instance=\"0\"} 1.5\n"), "%s", out);
	cr_assert(strstr(out, "exfeedd_writer_nested_deep{role=\"writer\",instance=\"0\"} 9\n"), "%s", out);
	cr_assert_null(strstr(out, "not a metric"));
	cr_assert_null(strstr(out, "exfeedd_writer_latency"), "a table's histogram came out generic too");
	cr_assert_null(strstr(out, "exfeedd_writer_committed"), "a table's map came out generic too");
	cr_assert_eq(metrics_refused(m), 0);
	free(out);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
	metrics_free(m);
}

/* Whatever the maps hold, nothing breaks: wrong types give fewer samples. */
Test(metrics, wrong_types)
{
	struct metrics *m = metrics_new();
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked unp;
	char *out;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_int(&pk, 7);
	msgpack_pack_map(&pk, 3);
	mp_kv_str(&pk, "role", "writer");
	mp_kv_i64(&pk, "instance", 0);
	mp_str(&pk, "detail");
	msgpack_pack_map(&pk, 1);
	mp_str(&pk, "role");
	msgpack_pack_map(&pk, 3);
	mp_kv_str(&pk, "events_committed", "ten");
	mp_str(&pk, "latency_us");
	msgpack_pack_map(&pk, 2);
	mp_str(&pk, "bounds");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, 5);
	msgpack_pack_int(&pk, 3);		/* not increasing */
	mp_str(&pk, "counts");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_int(&pk, 1);
	mp_str(&pk, "committed");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_nil(&pk);
	msgpack_unpacked_init(&unp);
	cr_assert_eq(msgpack_unpack_next(&unp, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	metrics_workers(m, &unp.data);
	out = render(m);
	cr_assert_null(strstr(out, "events_committed"), "%s", out);
	cr_assert_null(strstr(out, "latency"), "%s", out);
	free(out);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
	metrics_free(m);
}
