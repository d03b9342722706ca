/* ipcmsg_test.c: each message body read into its struct, or refused with the receiver's reason. */
#include <criterion/criterion.h>
#include <string.h>

#include "ipcmsg.h"
#include "mpack.h"

static msgpack_sbuffer sb;
static msgpack_unpacked unp;

/* A map of n string/int pairs: keys[i] = ints[i], or = strs[i] when strs[i] is set. */
static const msgpack_object *
body(int n, const char *const *keys, const int64_t *ints, const char *const *strs)
{
	msgpack_packer pk;

	msgpack_unpacked_destroy(&unp);		/* the previous body's, if any */
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, (size_t)n);
	for (int i = 0; i < n; i++)
		if (strs && strs[i])
			mp_kv_str(&pk, keys[i], strs[i]);
		else
			mp_kv_i64(&pk, keys[i], ints[i]);
	msgpack_unpacked_init(&unp);
	cr_assert_eq(msgpack_unpack_next(&unp, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	return &unp.data;
}

Test(ipcmsg, ready)
{
	static const char *const keys[] = { "pid", "role", "instance" };
	struct ipcmsg_ready m;
	const char *why = NULL;

	cr_assert_eq(ipcmsg_ready(body(3, keys, (int64_t[]){ 42, 0, 3 },
	    (const char *[]){ NULL, "account", NULL }), &m, &why), 0);
	cr_assert_eq(m.pid, 42);
	cr_assert_str_eq(m.role, "account");
	cr_assert_eq(m.instance, 3);
	cr_assert_eq(ipcmsg_ready(body(3, keys, (int64_t[]){ 0, 0, 3 },
	    (const char *[]){ NULL, "account", NULL }), &m, &why), -1);
	cr_assert_not_null(why);
	cr_assert_eq(ipcmsg_ready(body(3, keys, (int64_t[]){ 42, 0, 3 },
	    (const char *[]){ NULL, "a-role-name-longer-than-the-field", NULL }), &m, &why), -1);
}

Test(ipcmsg, status_and_acks)
{
	static const char *const id[] = { "id", "want" };
	static const char *const ack[] = { "gen", "seq" };
	char want[32];
	int64_t v;
	const char *why = NULL;

	cr_assert_eq(ipcmsg_status_req(body(2, id, (int64_t[]){ 5, 0 },
	    (const char *[]){ NULL, "accounts" }), &v, want, sizeof(want), &why), 0);
	cr_assert_eq(v, 5);
	cr_assert_str_eq(want, "accounts");
	cr_assert_eq(ipcmsg_status_req(body(1, id, (int64_t[]){ -1 }, NULL), &v, want,
	    sizeof(want), &why), -1);
	cr_assert_str_eq(why, "STATUS_REQ without an id");
	cr_assert_eq(ipcmsg_status(body(1, id, (int64_t[]){ 9 }, NULL), &v, &why), 0);
	cr_assert_eq(ipcmsg_dp_ack(body(1, ack + 1, (int64_t[]){ 17 }, NULL), &v, &why), 0);
	cr_assert_eq(v, 17);
	cr_assert_eq(ipcmsg_dp_ack(body(1, ack, (int64_t[]){ 17 }, NULL), &v, &why), -1);
	cr_assert_str_eq(why, "DP_ACK without a sequence number");
}

Test(ipcmsg, config_without_its_config_is_refused)
{
	static const char *const keys[] = { "gen" };
	struct config cfg;
	struct config_errors errs;
	int64_t gen;
	const char *why = NULL;

	cr_assert_eq(ipcmsg_config(body(1, keys, (int64_t[]){ 3 }, NULL), &gen, &cfg, &errs, &why), -1);
	cr_assert_str_eq(why, "CONFIG does not validate");
	cr_assert_eq(ipcmsg_config(body(1, keys, (int64_t[]){ 0 }, NULL), &gen, &cfg, &errs, &why), -1);
	cr_assert_str_eq(why, "CONFIG without a generation");
	config_errors_free(&errs);
}

Test(ipcmsg, hello_request_fatal_events)
{
	static const char *const hello[] = { "role", "instance", "pid" };
	static const char *const other[] = { "cmd", "reason", "ev" };
	struct ipcmsg_dp_hello h;
	const msgpack_object *arr;
	char buf[64];
	const char *why = NULL;

	cr_assert_eq(ipcmsg_dp_hello(body(3, hello, (int64_t[]){ 0, 1, 99 },
	    (const char *[]){ "market", NULL, NULL }), &h, &why), 0);
	cr_assert_str_eq(h.role, "market");
	cr_assert_eq(ipcmsg_dp_hello(body(3, hello, (int64_t[]){ 0, 1, 99 },
	    (const char *[]){ "", NULL, NULL }), &h, &why), -1);
	cr_assert_eq(ipcmsg_ctl_request(body(1, other, NULL, (const char *[]){ "status" }), buf,
	    sizeof(buf), &why), 0);
	cr_assert_str_eq(buf, "status");
	cr_assert_eq(ipcmsg_ctl_request(body(1, other + 1, NULL, (const char *[]){ "x" }), buf,
	    sizeof(buf), &why), -1);
	ipcmsg_fatal(body(1, other + 1, NULL, (const char *[]){ "no key" }), buf, sizeof(buf));
	cr_assert_str_eq(buf, "no key");
	ipcmsg_fatal(body(1, other, NULL, (const char *[]){ "x" }), buf, sizeof(buf));
	cr_assert_str_eq(buf, "(no reason given)");
	cr_assert_eq(ipcmsg_dp_events(body(1, other + 2, (int64_t[]){ 1 }, NULL), &arr, &why), -1);
	cr_assert_str_eq(why, "EVENTS without an ev array");
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
}

/* A body with one key whose value is packed raw (a string with a NUL, a map...). */
static const msgpack_object *
body_raw(const char *key, const void *val, size_t vlen)
{
	msgpack_packer pk;

	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_str(&pk, key);
	msgpack_sbuffer_write(&sb, val, vlen);
	msgpack_unpacked_init(&unp);
	cr_assert_eq(msgpack_unpack_next(&unp, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	return &unp.data;
}

static int
kafka_bootstrap(const char *s, char *buf, const char **why)
{
	static const char *const keys[] = { "bootstraps" };

	return ipcmsg_kafka_bootstrap(body(1, keys, NULL, (const char *[]){ s }), buf,
	    IPCMSG_BOOTSTRAPS_LEN, why);
}

Test(ipcmsg, kafka_bootstrap)
{
	static const char *const good[] = { "127.0.0.1:39145", "127.0.0.1:1,127.0.0.1:65535",
		"kafka-1.example.com:9092", "[::1]:9092", "[fe80::1]:9092,broker_2:9093" };
	static const char *const bad[] = { "", "127.0.0.1", "127.0.0.1:", ":9092",
		"127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:123456", "127.0.0.1:9a",
		"127.0.0.1:9092,", ",127.0.0.1:9092", "127.0.0.1:9092,,h:1", "::1:9092",
		"[::1:9092", "[]:9092", "[::g]:9092", "host name:9092", "host/x:9092",
		"h\n:9092", "h\x7f:9092", "h\xc3\xa9:9092" };
	static const char *const keys[] = { "bootstraps", "other" };
	char buf[IPCMSG_BOOTSTRAPS_LEN], longest[IPCMSG_BOOTSTRAPS_LEN + 1];
	const char *why = NULL;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(kafka_bootstrap(good[i], buf, &why), 0, "%s refused: %s", good[i], why);
		cr_assert_str_eq(buf, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		cr_assert_eq(kafka_bootstrap(bad[i], buf, &why), -1, "\"%s\" taken", bad[i]);
		cr_assert_str_eq(why, "KAFKA_BOOTSTRAP's bootstraps is not a host:port list of "
		    "at most 255 bytes");
		cr_assert_str_eq(buf, "", "\"%s\": a refused address is not left in the buffer", bad[i]);
	}

	/* 255 bytes is the most: "h...h:9" */
	memset(longest, 'h', sizeof(longest));
	memcpy(longest + IPCMSG_BOOTSTRAPS_LEN - 1 - 2, ":9", 3);
	cr_assert_eq(strlen(longest), 255);
	cr_assert_eq(kafka_bootstrap(longest, buf, &why), 0);
	cr_assert_str_eq(buf, longest);
	memset(longest, 'h', sizeof(longest));
	memcpy(longest + IPCMSG_BOOTSTRAPS_LEN - 2, ":9", 3);
	cr_assert_eq(strlen(longest), 256);
	cr_assert_eq(kafka_bootstrap(longest, buf, &why), -1);
	/* A buffer smaller than the address refuses it too. */
	cr_assert_eq(ipcmsg_kafka_bootstrap(body(1, keys, NULL, (const char *[]){ "a:1" }), buf,
	    3, &why), -1);

	/* Missing, or of another type. */
	cr_assert_eq(ipcmsg_kafka_bootstrap(body(1, keys + 1, NULL, (const char *[]){ "a:1" }),
	    buf, sizeof(buf), &why), -1);
	cr_assert_str_eq(why, "KAFKA_BOOTSTRAP without bootstraps");
	cr_assert_eq(ipcmsg_kafka_bootstrap(body(1, keys, (int64_t[]){ 9092 }, NULL), buf,
	    sizeof(buf), &why), -1);
	cr_assert_str_eq(why, "KAFKA_BOOTSTRAP's bootstraps is not a host:port list of at most "
	    "255 bytes");
	cr_assert_eq(ipcmsg_kafka_bootstrap(body_raw("bootstraps", "\x92\xa3" "a:1" "\xa3" "b:2",
	    9), buf, sizeof(buf), &why), -1, "an array of addresses is not a string");
	cr_assert_eq(ipcmsg_kafka_bootstrap(body_raw("bootstraps", "\xc4\x03" "a:1", 5), buf,
	    sizeof(buf), &why), -1, "bin is not a string");
	cr_assert_eq(ipcmsg_kafka_bootstrap(body_raw("bootstraps", "\xa8" "a:1\0" "b:22", 9), buf,
	    sizeof(buf), &why), -1, "a NUL inside is refused, not cut at");
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
}

Test(ipcmsg, ready_with_bootstraps)
{
	static const char *const keys[] = { "pid", "role", "instance", "bootstraps" };
	struct ipcmsg_ready m;
	const char *why = NULL;

	cr_assert_eq(ipcmsg_ready(body(4, keys, (int64_t[]){ 42, 0, 0, 0 },
	    (const char *[]){ NULL, "broker", NULL, "127.0.0.1:39145" }), &m, &why), 0);
	cr_assert_str_eq(m.role, "broker");
	cr_assert_str_eq(m.bootstraps, "127.0.0.1:39145");
	/* Absent: "" (every role but the broker). */
	cr_assert_eq(ipcmsg_ready(body(3, keys, (int64_t[]){ 42, 0, 0 },
	    (const char *[]){ NULL, "writer", NULL }), &m, &why), 0);
	cr_assert_str_eq(m.bootstraps, "");
	cr_assert_eq(ipcmsg_ready(body(4, keys, (int64_t[]){ 42, 0, 0, 0 },
	    (const char *[]){ NULL, "broker", NULL, "127.0.0.1" }), &m, &why), -1);
	cr_assert_str_eq(why, "READY's bootstraps is not a host:port list of at most 255 bytes");
	cr_assert_eq(ipcmsg_ready(body(4, keys, (int64_t[]){ 42, 0, 0, 9092 },
	    (const char *[]){ NULL, "broker", NULL, NULL }), &m, &why), -1);
	cr_assert_eq(ipcmsg_ready(body(4, keys, (int64_t[]){ 42, 0, 0, 0 },
	    (const char *[]){ NULL, "broker", NULL, "" }), &m, &why), -1);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
}

/* IPC_GATHER: text, workers (each entry whole) and summary, or refused. */
static const msgpack_object *
gather_body(int text, int summary, const char *role, int64_t pid)
{
	msgpack_packer pk;

	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, (size_t)(1 + text + summary));
	if (text)
		mp_kv_str(&pk, "text", "# HELP a b\n");
	mp_str(&pk, "workers");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_map(&pk, 5);
	mp_kv_str(&pk, "role", "writer");
	mp_kv_i64(&pk, "instance", 0);
	mp_kv_i64(&pk, "pid", 4242);
	mp_kv_str(&pk, "state", "ready");
	mp_kv_i64(&pk, "restarts", 2);
	msgpack_pack_map(&pk, 5);
	if (role)
		mp_kv_str(&pk, "role", role);
	else
		mp_kv_i64(&pk, "role", 1);
	mp_kv_i64(&pk, "instance", 1);
	mp_kv_i64(&pk, "pid", pid);
	mp_kv_str(&pk, "state", "backoff");
	mp_kv_i64(&pk, "restarts", 0);
	if (summary) {
		mp_str(&pk, "summary");
		msgpack_pack_map(&pk, 0);
	}
	msgpack_unpacked_init(&unp);
	cr_assert_eq(msgpack_unpack_next(&unp, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	return &unp.data;
}

Test(ipcmsg, gather)
{
	struct ipcmsg_gather g;
	struct ipcmsg_gather_worker w;
	const char *why = NULL;

	cr_assert_eq(ipcmsg_gather(gather_body(1, 1, "account", 0), &g, &why), 0);
	cr_assert_eq(g.textlen, 11);
	cr_assert_eq(memcmp(g.text, "# HELP a b\n", 11), 0);
	cr_assert_eq(g.workers->via.array.size, 2);
	ipcmsg_gather_worker(&g, 0, &w);
	cr_assert_str_eq(w.role, "writer");
	cr_assert_str_eq(w.state, "ready");
	cr_assert(w.instance == 0 && w.pid == 4242 && w.restarts == 2);
	ipcmsg_gather_worker(&g, 1, &w);
	cr_assert_str_eq(w.role, "account");
	cr_assert_str_eq(w.state, "backoff");
	cr_assert(w.instance == 1 && w.pid == 0 && w.restarts == 0);
	ipcmsg_gather_worker(&g, 2, &w);
	cr_assert_str_eq(w.role, "", "past the end: zeroed");
	cr_assert_eq(ipcmsg_gather(gather_body(0, 1, "account", 0), &g, &why), -1);
	cr_assert_str_eq(why, "GATHER without a text");
	cr_assert_eq(ipcmsg_gather(gather_body(1, 0, "account", 0), &g, &why), -1);
	cr_assert_str_eq(why, "GATHER without a summary map");
	cr_assert_eq(ipcmsg_gather(gather_body(1, 1, NULL, 0), &g, &why), -1);
	cr_assert_eq(ipcmsg_gather(gather_body(1, 1, "account", -1), &g, &why), -1);
	cr_assert_eq(ipcmsg_gather(gather_body(1, 1, "", 0), &g, &why), -1);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
}
