/* config_test.c: value parsers, error classes with FILE:LINE, and the msgpack round trip. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "event.h"

static char path[] = "/tmp/exfeedd-config-test.XXXXXX";

static int
load_text(const char *text, struct config *cfg, struct config_errors *errs)
{
	int fd = mkstemp(path);
	FILE *fp;

	cr_assert(fd != -1);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	int rc = config_load(path, cfg, errs);
	unlink(path);
	strcpy(path + strlen(path) - 6, "XXXXXX");
	return rc;
}

Test(config, durations)
{
	int64_t ms;
	char buf[32];

	cr_assert_eq(config_parse_duration_ms("500ms", &ms), 0); cr_assert_eq(ms, 500);
	cr_assert_eq(config_parse_duration_ms("60s", &ms), 0); cr_assert_eq(ms, 60000);
	cr_assert_eq(config_parse_duration_ms("30m", &ms), 0); cr_assert_eq(ms, 1800000);
	cr_assert_eq(config_parse_duration_ms("2h", &ms), 0); cr_assert_eq(ms, 7200000);
	cr_assert_eq(config_parse_duration_ms("1d", &ms), 0); cr_assert_eq(ms, 86400000);
	cr_assert_eq(config_parse_duration_ms("10", &ms), -1, "a bare number has no unit");
	cr_assert_eq(config_parse_duration_ms("10 s", &ms), -1);
	cr_assert_eq(config_parse_duration_ms("-5s", &ms), -1);
	cr_assert_eq(config_parse_duration_ms("5S", &ms), -1);
	cr_assert_eq(config_parse_duration_ms("99999999999999999999s", &ms), -1);
	config_format_duration(90000, buf, sizeof(buf)); cr_assert_str_eq(buf, "90s");
	config_format_duration(1800000, buf, sizeof(buf)); cr_assert_str_eq(buf, "30m");
	config_format_duration(250, buf, sizeof(buf)); cr_assert_str_eq(buf, "250ms");
	config_format_duration(0, buf, sizeof(buf)); cr_assert_str_eq(buf, "0ms");
}

Test(config, sizes_and_booleans)
{
	int64_t n;
	int b;

	cr_assert_eq(config_parse_size("64K", &n), 0); cr_assert_eq(n, 65536);
	cr_assert_eq(config_parse_size("2M", &n), 0); cr_assert_eq(n, 2 * 1024 * 1024);
	cr_assert_eq(config_parse_size("1G", &n), 0); cr_assert_eq(n, 1024LL * 1024 * 1024);
	cr_assert_eq(config_parse_size("100", &n), 0); cr_assert_eq(n, 100);
	cr_assert_eq(config_parse_size("1T", &n), -1);
	cr_assert_eq(config_parse_size("K", &n), -1);
	for (const char *const *y = (const char *[]){ "yes", "true", "on", "1", NULL }; *y; y++) {
		cr_assert_eq(config_parse_bool(*y, &b), 0); cr_assert_eq(b, 1);
	}
	for (const char *const *y = (const char *[]){ "no", "false", "off", "0", NULL }; *y; y++) {
		cr_assert_eq(config_parse_bool(*y, &b), 0); cr_assert_eq(b, 0);
	}
	cr_assert_eq(config_parse_bool("Yes", &b), -1);
	cr_assert_eq(config_parse_bool("maybe", &b), -1);
}

Test(config, hostport)
{
	struct hostport hp;
	const char *why;

	cr_assert_eq(config_parse_hostport("127.0.0.1:8080", &hp, &why), 0);
	cr_assert_str_eq(hp.host, "127.0.0.1"); cr_assert_eq(hp.port, 8080);
	cr_assert_eq(config_parse_hostport("[::1]:443", &hp, &why), 0);
	cr_assert_str_eq(hp.host, "::1"); cr_assert_eq(hp.port, 443);
	cr_assert_eq(config_parse_hostport("localhost:0", &hp, &why), 0);
	cr_assert_eq(config_parse_hostport("::1:443", &hp, &why), -1);
	cr_assert_eq(config_parse_hostport("host", &hp, &why), -1);
	cr_assert_eq(config_parse_hostport(":80", &hp, &why), -1);
	cr_assert_eq(config_parse_hostport("h:65536", &hp, &why), -1);
	cr_assert_eq(config_parse_hostport("h:http", &hp, &why), -1);
	/* Only host characters: "[[*]:8" was taken as host "[*", printed by -nv as "[*:8" (fuzz_parsers). */
	cr_assert_eq(config_parse_hostport("[[*]:8", &hp, &why), -1);
	cr_assert_eq(config_parse_hostport("a b:80", &hp, &why), -1);
	cr_assert_eq(config_parse_hostport("h\r\nX:80", &hp, &why), -1);
	cr_assert_eq(config_parse_hostport("[1.2.3.4]:80", &hp, &why), 0);
	cr_assert_str_eq(hp.host, "1.2.3.4");
	cr_assert_eq(config_parse_hostport("kafka-1.example_x:9092", &hp, &why), 0);
}

Test(config, defaults_and_types)
{
	struct config cfg;
	struct config_errors errs;

	cr_assert_eq(load_text("[database]\nconninfo = dbname=x\n", &cfg, &errs), 0);
	cr_assert_eq(cfg.account_shards, 2);
	cr_assert_eq(cfg.respawn_delay_min_ms, 250);
	cr_assert_eq(cfg.listenkey_renewal_ms, 30 * 60 * 1000);
	cr_assert_eq(cfg.market_symbols.n, 2);
	cr_assert_str_eq(cfg.market_symbols.v[1], "ETHUSDT");
	cr_assert_eq(cfg.gateway_listen.n, 1);
	cr_assert_str_eq(cfg.gateway_listen.v[0], "127.0.0.1:8480");
	cr_assert_eq(cfg.gateway_heartbeat_ms, 30000);
	cr_assert_eq(cfg.gateway_max_per_user, 5);
	cr_assert_eq(cfg.gateway_allowed_origins.n, 0);
	cr_assert_eq(cfg.core_dumps, 0);
	cr_assert_eq(config_has_broker(&cfg), 1);
	cr_assert_eq(cfg.nex, 0);
	config_free(&cfg);
}

Test(config, exchange_defaults_depend_on_the_name)
{
	struct config cfg;
	struct config_errors errs;

	cr_assert_eq(load_text("[database]\nconninfo = x\n[exchange.binance-futures]\n"
	    "rest_weight_budget = 1200\n[exchange.okx]\n", &cfg, &errs), 0);
	cr_assert_eq(cfg.nex, 2);
	cr_assert_str_eq(cfg.ex[0].rest_url, "https://fapi.binance.com");
	cr_assert_eq(cfg.ex[0].rest_weight_budget, 1200);
	cr_assert_str_eq(cfg.ex[1].ws_url, "wss://ws.okx.com:8443/ws/v5/private");
	config_free(&cfg);
}

/* Every error class: the first error names FILE:LINE and the key. */
static void
expect_error(const char *text, unsigned line, const char *needle)
{
	struct config cfg;
	struct config_errors errs;
	char prefix[128];

	cr_assert_eq(load_text(text, &cfg, &errs), -1, "accepted: %s", text);
	cr_assert_geq(errs.n, 1);
	snprintf(prefix, sizeof(prefix), ":%u: ", line);
	cr_assert(strstr(errs.v[0].msg, prefix) != NULL, "wanted line %u in: %s", line, errs.v[0].msg);
	cr_assert(strncmp(errs.v[0].msg, "/tmp/exfeedd-config-test.", 25) == 0, "no FILE: %s", errs.v[0].msg);
	cr_assert(strstr(errs.v[0].msg, needle) != NULL, "wanted \"%s\" in: %s", needle, errs.v[0].msg);
	config_errors_free(&errs);
}

#define DB "[database]\nconninfo = x\n"

Test(config, error_classes)
{
	expect_error(DB "[bogus]\n", 3, "[bogus]: unknown section");
	expect_error(DB "[daemon]\nfoo = 1\n", 4, "[daemon] foo: unknown key");
	expect_error(DB "[daemon]\nready_timeout = 5\n", 4, "is not a duration");
	expect_error(DB "[daemon]\naccount_shards = 2x\n", 4, "is not a whole number");
	expect_error(DB "[daemon]\naccount_shards = 257\n", 4, "out of range (1 to 256)");
	expect_error(DB "[daemon]\nrespawn_delay_min = 1ms\n", 4, "out of range (10ms to 10s)");
	expect_error(DB "[daemon]\ncore_dumps = yep\n", 4, "is not a boolean");
	expect_error("[daemon]\naccount_shards = 1\n", 2, "[database] conninfo: required key is missing");
	expect_error("[database]\nconninfo =\n", 2, "must not be empty");
	expect_error(DB "[daemon]\nlog = relative.log\n", 4, "must be syslog, stderr or an absolute file path");
	expect_error(DB "[kafka]\nbrokers = kafka1\n", 4, "\"kafka1\": expected HOST:PORT; brokers is "
	    "\"embedded\", a list of HOST:PORT separated by commas, or empty for no publishing");
	expect_error(DB "[kafka]\nformat = avro\n", 4, "is not one of: json protobuf");
	expect_error(DB "[market]\nstreams = depth7\n", 4, "unknown item \"depth7\" (one of: kline markPrice");
	expect_error(DB "[exchange.binance-futures]\nws_url = ftp://x\n", 4, "URL must start with");
	/* The grammar the account worker's net_endpoint_parse takes (fuzz_config, fuzz_parsers). */
	expect_error(DB "[exchange.binance-futures]\nws_url = wss://a\001b\n", 4, "control character");
	expect_error(DB "[exchange.binance-futures]\nws_url = wss://[::1]x/\n", 4, "not a host name");
	expect_error(DB "[exchange.binance-futures]\nws_url = wss://u@h/\n", 4, "user name or password");
	expect_error(DB "[exchange.binance-futures]\nrest_url = https://h:+80\n", 4, "port must be");
	expect_error(DB "[exchange.binance-futures]\nrest_url = https://h:65536/\n", 4, "port must be");
	expect_error(DB "[exchange.binance-futures]\n[exchange.binance-futures]\n", 4, "section repeated");
	expect_error(DB "[daemon]\nrespawn_delay_min = 5s\nrespawn_delay_max = 1s\n", 5,
	    "must not be below respawn_delay_min");
	expect_error(DB "[market]\nsymbols = A\n[daemon]\n  B\n", 6, "syntax error");
	expect_error(DB "[daemon]\nuser = a\n  b\n", 5, "continuation line is only allowed for lists");
	/* "conninfo =;host=x" loaded, and -nv wrote "conninfo = ;host=x": empty (fuzz_config). */
	expect_error("[database]\nconninfo =;host=x\n", 2, "cannot start with ';'");
	/* Symbols are symbols: ";B" came back from -nv as an inline comment (fuzz_config). */
	expect_error(DB "[market]\nsymbols = A,;B\n", 4, "\";B\" is not a symbol");
	expect_error(DB "[market]\nsymbols = A\n  #B\n  B&limit=1\n", 6, "is not a symbol");
	/* [market]: intervals are Binance's 15, the error names them; case matters. */
	expect_error(DB "[market]\nintervals = 1m, 2m\n", 4, "unknown item \"2m\" (one of: 1m 3m 5m "
	    "15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M)");
	expect_error(DB "[market]\nintervals = 1H\n", 4, "unknown item \"1H\"");
	expect_error(DB "[market]\nstreams = kline_1m\n", 4, "unknown item \"kline_1m\" (one of: kline");
	expect_error(DB "[market]\nstreams = markPrice@3s\n", 4, "unknown item \"markPrice@3s\"");
	expect_error(DB "[market]\nstreams = depth, depth@100ms\n", 4, "depth and depth@100ms are one kind");
	expect_error(DB "[market]\nsymbols = all, BTCUSDT\n", 4, "\"all\" cannot be combined");
	expect_error(DB "[market]\nbook_snapshot_limit = 200\n", 4, "200 is not one of: 5 10 20 50 100 500 1000");
	expect_error(DB "[market]\nbook_snapshot_limit = 2000\n", 4, "out of range (5 to 1000)");
	expect_error(DB "[market]\nbook_snapshot_limit = 50\nbook_depth = 100\n", 5,
	    "[market] book_depth: must not be above book_snapshot_limit");
	expect_error(DB "[market]\nmax_streams_per_connection = 1025\n", 4, "out of range (1 to 1024)");
	expect_error(DB "[market]\npublish_interval = 1ms\n", 4, "out of range");
	expect_error(DB "[market]\nreconnect_delay_min = 5s\nreconnect_delay_max = 1s\n", 5,
	    "must not be below reconnect_delay_min");
}

/* [market]: every key, its default and a value. */
Test(config, market)
{
	struct config cfg;
	struct config_errors errs;

	cr_assert_eq(load_text(DB, &cfg, &errs), 0, "%s", config_errors_first(&errs));
	cr_assert_eq(cfg.market_streams.n, 5);
	cr_assert_str_eq(cfg.market_streams.v[2], "kline");
	cr_assert_eq(cfg.market_intervals.n, 1);
	cr_assert_str_eq(cfg.market_intervals.v[0], "1m");
	cr_assert_eq(cfg.market_book_depth, 20);
	cr_assert_eq(cfg.market_book_snapshot_limit, 1000);
	cr_assert_eq(cfg.market_publish_interval_ms, 100);
	cr_assert_eq(cfg.market_kline_history, 500);
	cr_assert_eq(cfg.market_streams_per_connection, 200);
	cr_assert_eq(cfg.market_silence_timeout_ms, 30000);
	cr_assert_eq(cfg.market_reconnect_delay_min_ms, 1000);
	cr_assert_eq(cfg.market_reconnect_delay_max_ms, 60000);
	cr_assert_eq(cfg.market_connection_max_age_ms, 23 * 3600 * 1000);
	config_free(&cfg);
	cr_assert_eq(load_text(DB "[market]\nsymbols = all\nintervals = 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, "
	    "6h, 8h, 12h, 1d, 3d, 1w, 1M\nstreams = kline, markPrice, ticker, miniTicker, trade, aggTrade, "
	    "depth@500ms, depth5@100ms, depth10, depth20@500ms, bookTicker, forceOrder\nbook_depth = 50\n"
	    "book_snapshot_limit = 100\npublish_interval = 250ms\nkline_history = 0\n"
	    "max_streams_per_connection = 1024\nsilence_timeout = 5s\n", &cfg, &errs), 0, "%s",
	    config_errors_first(&errs));
	cr_assert_eq(cfg.market_symbols.n, 1);
	cr_assert_str_eq(cfg.market_symbols.v[0], "all");
	cr_assert_eq(cfg.market_intervals.n, 15);
	cr_assert_str_eq(cfg.market_intervals.v[14], "1M");
	cr_assert_eq(cfg.market_streams.n, 12);
	cr_assert_str_eq(cfg.market_streams.v[7], "depth5@100ms");
	cr_assert_eq(cfg.market_book_depth, 50);
	cr_assert_eq(cfg.market_book_snapshot_limit, 100);
	cr_assert_eq(cfg.market_publish_interval_ms, 250);
	cr_assert_eq(cfg.market_kline_history, 0);
	cr_assert_eq(cfg.market_streams_per_connection, 1024);
	cr_assert_eq(cfg.market_silence_timeout_ms, 5000);
	config_free(&cfg);
}


static void
roundtrip(const char *text)
{
	struct config a, b;
	struct config_errors errs;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked unp;
	char *da = NULL, *db = NULL;
	size_t la, lb;
	FILE *fa, *fb;

	cr_assert_eq(load_text(text, &a, &errs), 0);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	config_pack(&a, &pk);
	msgpack_unpacked_init(&unp);
	cr_assert_eq(msgpack_unpack_next(&unp, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(config_unpack(&unp.data, &b, &errs), 0, "%s", config_errors_first(&errs));
	fa = open_memstream(&da, &la);
	fb = open_memstream(&db, &lb);
	config_dump(&a, fa);
	config_dump(&b, fb);
	fclose(fa);
	fclose(fb);
	cr_assert_str_eq(da, db);
	cr_assert_eq(config_line_of(&b, "daemon", "account_shards"),
	    config_line_of(&a, "daemon", "account_shards"), "lines travel too");
	free(da);
	free(db);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
	config_free(&a);
	config_free(&b);
}

/* A throwaway self-signed certificate: ca_file must name a file of PEM certificates. */
static const char ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBkTCCATegAwIBAgIUKbEbR4PoaDoD2+s1kXzC3tJXejEwCgYIKoZIzj0EAwIw\n"
	"HjEcMBoGA1UEAwwTZXhmZWVkZC1jb25maWctdGVzdDAeFw0yNjEyMDExMDUwMTha\n"
	"Fw0yNjEyMDIxMDUwMThaMB4xHDAaBgNVBAMME2V4ZmVlZGQtY29uZmlnLXRlc3Qw\n"
	"WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARF9tOGr6/RDKpfMxj4v9REhjPiblJ2\n"
	"kS/nmH2sfCEQJSdkdWDlbdIIP+wxx2xck2PWO1ep3uiQDAQSb7rUB3fAo1MwUTAd\n"
	"BgNVHQ4EFgQUyNSOfHJ4JY6Xhgb8OwFrZDMF5EQwHwYDVR0jBBgwFoAUyNSOfHJ4\n"
	"JY6Xhgb8OwFrZDMF5EQwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF\n"
	"AiEA1HKxY1OOtI7DGqrvrrXlJanOqqR2LwX8zNoWJEde1WYCIBLCOwdP9GMw8sWj\n"
	"iGAYpUdbZPdjtK7dnCNIN/PN1AUt\n"
	"-----END CERTIFICATE-----\n";

/* Write ca_pem (or text) to a temporary file; its path is returned, static. */
static const char *
ca_file(const char *text)
{
	static char ca[] = "/tmp/exfeedd-config-ca.XXXXXX";
	int fd;
	FILE *fp;

	strcpy(ca + strlen(ca) - 6, "XXXXXX");
	cr_assert((fd = mkstemp(ca)) != -1);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	return ca;
}

Test(config, msgpack_round_trip_gives_the_same_config)
{
	char text[1024];
	const char *ca = ca_file(ca_pem);

	roundtrip(DB);
	snprintf(text, sizeof(text), DB "[daemon]\naccount_shards = 7\nlog_level = debug\n"
	    "core_dumps = yes\n[market]\nsymbols = A, B,\n  C\n[gateway]\nlisten = [::1]:0, 127.0.0.1:1\n"
	    "allowed_origins = https://a.example, http://b.example:8080\n"
	    "[exchange.bybit]\nca_file = %s\n[exchange.binance-futures]\n", ca);
	roundtrip(text);
	unlink(ca);
}

Test(config, ca_file_that_cannot_be_loaded_is_an_error_at_its_line)
{
	struct config cfg;
	struct config_errors errs;
	char text[1024];
	const char *ca = ca_file("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");

	snprintf(text, sizeof(text), DB "[exchange.bybit]\n\nca_file = %s\n", ca);
	cr_assert_eq(load_text(text, &cfg, &errs), -1);
	cr_assert(strstr(config_errors_first(&errs), ":5: [exchange.bybit] ca_file: ") &&
	    strstr(config_errors_first(&errs), "is not a file of PEM certificates"), "%s",
	    config_errors_first(&errs));
	config_errors_free(&errs);
	unlink(ca);
	snprintf(text, sizeof(text), DB "[exchange.bybit]\nca_file = /nonexistent/ca.pem\n");
	cr_assert_eq(load_text(text, &cfg, &errs), -1);
	cr_assert(strstr(config_errors_first(&errs), "[exchange.bybit] ca_file: cannot read "
	    "/nonexistent/ca.pem: No such file or directory"), "%s", config_errors_first(&errs));
	config_errors_free(&errs);
}

Test(config, unpack_refuses_garbage)
{
	struct config cfg;
	struct config_errors errs;
	msgpack_object nil = { .type = MSGPACK_OBJECT_NIL };

	cr_assert_eq(config_unpack(&nil, &cfg, &errs), -1);
	/* A CONFIG message without its config (fuzz_ipc: the worker dereferenced NULL). */
	cr_assert_eq(config_unpack(NULL, &cfg, &errs), -1);
}

static int ndiff, nstatic;
static void
diff_cb(const char *section, const char *key, int reloadable, const char *o, const char *n, void *arg)
{
	ndiff++;
	nstatic += !reloadable;
}

/* A diff callback that fails on a secret's value. */
static void
secret_diff_cb(const char *section, const char *key, int reloadable, const char *o, const char *n,
    void *arg)
{
	cr_assert_null(strstr(o, "hunter2"), "[%s] %s: old value %s", section, key, o);
	cr_assert_null(strstr(n, "hunter2"), "[%s] %s: new value %s", section, key, n);
	ndiff++;
	nstatic += !reloadable;
}

Test(config, diff_and_static_keys)
{
	struct config a, b;
	struct config_errors errs;

	cr_assert_eq(load_text(DB "[daemon]\naccount_shards = 2\npidfile = /a.pid\n", &a, &errs), 0);
	cr_assert_eq(load_text(DB "[daemon]\naccount_shards = 3\npidfile = /b.pid\n[exchange.okx]\n",
	    &b, &errs), 0);
	cr_assert_eq(config_diff(&a, &b, diff_cb, NULL), 3);
	cr_assert_eq(ndiff, 3);
	cr_assert_eq(nstatic, 1, "pidfile cannot change at runtime");
	cr_assert_eq(config_keep_static(&b, &a), 1);
	cr_assert_str_eq(b.pidfile, "/a.pid");
	cr_assert_eq(b.account_shards, 3);
	config_free(&a);
	config_free(&b);
}

/*
 * A list longer than a line: -nv writes it over continuation lines that
 * load again, and it travels to the workers whole.  fuzz_config: a list
 * loaded from continuation lines came back as one line too long to load,
 * and past 8 KiB the dump and config_pack cut it.
 */
Test(config, long_lists_dump_and_travel_whole)
{
	struct config a, b;
	struct config_errors errs;
	char *text = malloc(64 * 1024), *d1 = NULL, *d2 = NULL;
	size_t off, l1, l2;
	FILE *fp;

	off = (size_t)sprintf(text, DB "[market]\nsymbols =");
	for (int i = 0; i < 1000; i++)
		off += (size_t)sprintf(text + off, "%sSYMBOL%04dUSDT", i % 8 ? ", " : "\n  ", i);
	strcpy(text + off, "\n");
	cr_assert_eq(load_text(text, &a, &errs), 0, "%s", config_errors_first(&errs));
	cr_assert_eq(a.market_symbols.n, 1000);
	fp = open_memstream(&d1, &l1);
	config_dump(&a, fp);
	fclose(fp);
	for (char *line = d1, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1)
		cr_assert_leq(nl - line, 78, "a dump line of %td characters", nl - line);
	cr_assert_eq(load_text(d1, &b, &errs), 0, "%s", config_errors_first(&errs));
	cr_assert_eq(b.market_symbols.n, 1000);
	cr_assert_str_eq(b.market_symbols.v[999], "SYMBOL0999USDT");
	fp = open_memstream(&d2, &l2);
	config_dump(&b, fp);
	fclose(fp);
	cr_assert_str_eq(d1, d2);
	config_free(&b);
	roundtrip(text);
	config_free(&a);
	free(d1);
	free(d2);

	/*
	 * The longest item the reader takes (197 characters after a one-space
	 * indent), not last: -nv once wrote it after "symbols = ", or with a
	 * comma after it, longer than a line (fuzz_config).
	 */
	off = (size_t)sprintf(text, DB "[market]\nsymbols =\n ");
	memset(text + off, 'S', 197);
	strcpy(text + off + 197, "\n A, B\n");
	cr_assert_eq(load_text(text, &a, &errs), 0, "%s", config_errors_first(&errs));
	fp = open_memstream(&d1, &l1);
	config_dump(&a, fp);
	fclose(fp);
	cr_assert_eq(load_text(d1, &b, &errs), 0, "%s: %s", config_errors_first(&errs), d1);
	cr_assert_eq(b.market_symbols.n, 3);
	cr_assert_eq(strlen(b.market_symbols.v[0]), 197);
	config_free(&a);
	config_free(&b);
	free(d1);
	free(text);
}

/* The file as bytes (a NUL inside a line cannot go through fputs). */
static int
load_bytes(const char *bytes, size_t len, struct config *cfg, struct config_errors *errs)
{
	int fd = mkstemp(path), rc;

	cr_assert(fd != -1);
	cr_assert_eq(write(fd, bytes, len), (ssize_t)len);
	close(fd);
	rc = config_load(path, cfg, errs);
	unlink(path);
	strcpy(path + strlen(path) - 6, "XXXXXX");
	return rc;
}

/* expect_only: refused with exactly one error, at line, saying needle. */
static void
expect_only(const char *text, unsigned line, const char *needle)
{
	struct config cfg;
	struct config_errors errs;

	expect_error(text, line, needle);
	cr_assert_eq(load_text(text, &cfg, &errs), -1);
	cr_assert_eq(errs.n, 1, "%zu errors, the second: %s", errs.n, errs.n > 1 ? errs.v[1].msg : "");
	config_errors_free(&errs);
}

Test(config, loader_edges)
{
	struct config cfg;
	struct config_errors errs;
	static const char nul[] = DB "[daemon]\naccount_shards = 7\0 9\n";
	static const char bom[] = "\xef\xbb\xbf" DB "[daemon]\naccount_shards = 7\n";
	char *big;
	size_t n;

	/* (a) a key before any section is an error, not silence. */
	expect_only("account_shards = 7\n" DB, 1, "account_shards: key outside any section");
	/* (b) a NUL byte inside a line. */
	cr_assert_eq(load_bytes(nul, sizeof(nul) - 1, &cfg, &errs), -1, "a NUL byte was accepted");
	cr_assert(strstr(errs.v[0].msg, ":4: the line holds a NUL byte") != NULL, "%s", errs.v[0].msg);
	config_errors_free(&errs);
	/* (c) not a regular file; too large. */
	cr_assert_eq(config_load("/dev/zero", &cfg, &errs), -1);
	cr_assert(strstr(errs.v[0].msg, "/dev/zero:0: not a regular file") != NULL, "%s", errs.v[0].msg);
	config_errors_free(&errs);
	cr_assert_eq(config_load("/tmp", &cfg, &errs), -1);
	cr_assert(strstr(errs.v[0].msg, "not a regular file") != NULL, "%s", errs.v[0].msg);
	config_errors_free(&errs);
	n = 1024 * 1024 + 1;
	cr_assert((big = malloc(n)) != NULL);
	memset(big, '#', n);
	big[n - 1] = '\n';
	cr_assert_eq(load_bytes(big, n, &cfg, &errs), -1);
	cr_assert(strstr(errs.v[0].msg, "more than a configuration file can be") != NULL, "%s",
	    errs.v[0].msg);
	config_errors_free(&errs);
	free(big);
	/* (d) a UTF-8 byte order mark before [database]. */
	cr_assert_eq(load_bytes(bom, sizeof(bom) - 1, &cfg, &errs), 0, "BOM: %s",
	    errs.n ? errs.v[0].msg : "");
	cr_assert_eq(cfg.account_shards, 7);
	config_free(&cfg);
	/* (e) too large for 64 bits is out of range, and no rule follows from it. */
	expect_only(DB "[daemon]\naccount_shards = 99999999999999999999999\n", 4,
	    "account_shards: 99999999999999999999999 is out of range (1 to 256)");
	expect_only(DB "[daemon]\nrespawn_delay_max = 99999999999999999999999s\n", 4,
	    "respawn_delay_max: 99999999999999999999999s is out of range (100ms to 1h)");
	expect_only(DB "[daemon]\nrespawn_delay_max = 1x\n", 4, "is not a duration");
	expect_only(DB "[userdata]\nreconnect_delay_min = 99999999999999999999999ms\n", 4,
	    "out of range");
	/* (f) 2000 symbols over continuation lines: one error, with the count. */
	{
		struct strbuf_like { char *p; size_t len, cap; } b = { NULL, 0, 0 };
		FILE *mf = open_memstream(&b.p, &b.len);

		fputs(DB "[market]\nsymbols = S0\n", mf);
		for (int i = 1; i < 2000; i++)
			fprintf(mf, "  S%d\n", i);
		fclose(mf);
		expect_only(b.p, 1028, "[market] symbols: too many items (2000, at most 1024)");
		free(b.p);
	}
	/* (g) userinfo in a URL. */
	expect_only(DB "[exchange.binance-futures]\nrest_url = http://user:pass@host:80\n", 4,
	    "URL must not hold a user name or password");
	/* (h) alert_command: one program, no arguments, and executable. */
	expect_only(DB "[userdata]\nalert_command = /bin/sh -c id\n", 4,
	    "it is the path of one program, run without arguments and without a shell");
	{
		char plain[] = "/tmp/exfeedd-config-plain.XXXXXX", text[256];
		int fd = mkstemp(plain);	/* mode 0600: not executable */

		cr_assert(fd != -1);
		close(fd);
		snprintf(text, sizeof(text), DB "[userdata]\nalert_command = %s\n", plain);
		expect_only(text, 4, "is not executable");
		unlink(plain);
	}
	expect_only(DB "[userdata]\nalert_command = /dev/null\n", 4, "is not a regular file");
	expect_only(DB "[userdata]\nalert_command = /nonexistent/alert\n", 4,
	    "/nonexistent/alert: No such file or directory");
	cr_assert_eq(load_text(DB "[userdata]\nalert_command = /bin/true\n", &cfg, &errs), 0);
	config_free(&cfg);
}

/* ------------------------------------------------------------------ [kafka] */

Test(config, kafka_broker_lists)
{
	struct config cfg;
	struct config_errors errs;

	cr_assert_eq(load_text(DB "[kafka]\nbrokers = k1:9092, [::1]:9093\n", &cfg, &errs), 0);
	cr_assert_eq(config_has_broker(&cfg), 0);
	cr_assert_eq(config_kafka_on(&cfg), 1);
	cr_assert_str_eq(cfg.kafka_brokers, "k1:9092,[::1]:9093", "as bootstrap.servers takes it");
	config_free(&cfg);
	/* Each bad item is named, at the key's line. */
	expect_only(DB "[kafka]\n\nbrokers = k1:9092, kafka2, k3:9092\n", 5,
	    "[kafka] brokers: \"kafka2\": expected HOST:PORT;");
	expect_only(DB "[kafka]\nbrokers = k1:9092,,k3:9092\n", 4, "[kafka] brokers: an empty item");
	expect_only(DB "[kafka]\nbrokers = k1:9092,\n", 4, "[kafka] brokers: an empty item");
	expect_only(DB "[kafka]\nbrokers = k1:0\n", 4, "\"k1:0\": a broker's port is 1 to 65535");
	expect_only(DB "[kafka]\nbrokers = k1:65536\n", 4, "\"k1:65536\": port must be");
	expect_only(DB "[kafka]\nbrokers = embedded, k1:9092\n", 4, "\"embedded\" stands alone");
	expect_only(DB "[kafka]\nbrokers = k1:9092 k2:9092\n", 4, "\"k1:9092 k2:9092\": ");
}

/* brokers = (empty): publishing off, no broker role, everything else as before. */
Test(config, kafka_empty_brokers_turn_publishing_off)
{
	struct config cfg;
	struct config_errors errs;

	cr_assert_eq(load_text(DB "[kafka]\nbrokers =\n", &cfg, &errs), 0, "%s",
	    config_errors_first(&errs));
	cr_assert_str_eq(cfg.kafka_brokers, "");
	cr_assert_eq(config_kafka_on(&cfg), 0);
	cr_assert_eq(config_has_broker(&cfg), 0, "no broker role without publishing");
	cr_assert_str_eq(cfg.kafka_topic[EV_ORDER], "user-data-order-updates");
	config_free(&cfg);
	cr_assert_eq(load_text(DB, &cfg, &errs), 0);
	cr_assert_str_eq(cfg.kafka_brokers, "embedded", "the default");
	cr_assert_eq(config_kafka_on(&cfg), 1);
	cr_assert_eq(config_has_broker(&cfg), 1);
	config_free(&cfg);
}

Test(config, kafka_topics)
{
	static const char *const want[EV_TYPE_MAX] = {
		[EV_ORDER] = "user-data-order-updates", [EV_FILL] = "user-data-fills",
		[EV_ALGO] = "user-data-algo-updates", [EV_POSITION] = "user-data-position-updates",
		[EV_BALANCE] = "user-data-balance-updates", [EV_MARGIN_CALL] = "user-data-margin-calls",
		[EV_CONFIG] = "user-data-account-config", [EV_UNKNOWN] = "user-data-unknown",
		[EV_KLINE] = "websocket.kline", [EV_MARK_PRICE] = "websocket.mark_price",
		[EV_FUNDING] = "websocket.funding_rate", [EV_TICKER] = "websocket.ticker",
		[EV_TRADE] = "websocket.trade", [EV_BOOK] = "websocket.depth",
		[EV_BOOK_TICKER] = "websocket.ticker", [EV_LIQUIDATION] = "websocket.liquidation",
	};
	struct config cfg;
	struct config_errors errs;

	cr_assert_eq(load_text(DB, &cfg, &errs), 0);
	for (int t = 0; t < CONF_KAFKA_TOPICS; t++) {
		char key[64];

		if (t >= EV_TYPE_MAX || want[t] == NULL) {
			cr_assert_null(cfg.kafka_topic[t], "type %d has no topic", t);
			continue;
		}
		cr_assert_str_eq(cfg.kafka_topic[t], want[t]);
		/* The key's name is the event type's own name (event.c). */
		snprintf(key, sizeof(key), "topic.%s", ev_type_name((unsigned)t));
		cr_assert_str_eq(config_default("kafka", key), want[t], "%s", key);
	}
	cr_assert_null(config_default("kafka", "topic.gap"));
	config_free(&cfg);

	/* Overrides, two types on one topic. */
	cr_assert_eq(load_text(DB "[kafka]\ntopic.order = prod.orders_v2\ntopic.fill = prod.orders_v2\n"
	    "topic.margin_call = risk-alerts\n", &cfg, &errs), 0, "%s", config_errors_first(&errs));
	cr_assert_str_eq(cfg.kafka_topic[EV_ORDER], "prod.orders_v2");
	cr_assert_str_eq(cfg.kafka_topic[EV_FILL], "prod.orders_v2");
	cr_assert_str_eq(cfg.kafka_topic[EV_MARGIN_CALL], "risk-alerts");
	cr_assert_str_eq(cfg.kafka_topic[EV_BALANCE], "user-data-balance-updates");
	cr_assert_eq(config_line_of(&cfg, "kafka", "topic.margin_call"), 6);
	config_free(&cfg);

	expect_only(DB "[kafka]\ntopic.order = orders!\n", 4,
	    "[kafka] topic.order: \"orders!\" is not a Kafka topic name (1 to 249 characters");
	expect_only(DB "[kafka]\ntopic.fill = a/b\n", 4, "\"a/b\" is not a Kafka topic name");
	expect_only(DB "[kafka]\ntopic.fill = .\n", 4, "\".\" is not a Kafka topic name");
	expect_only(DB "[kafka]\ntopic.fill = ..\n", 4, "\"..\" is not a Kafka topic name");
	expect_only(DB "[kafka]\ntopic.fill =\n", 4, "\"\" is not a Kafka topic name");
	expect_only(DB "[kafka]\ntopic.fill = a\ntopic.fill = b\n", 5, "key repeated (first set at line 4)");
	expect_only(DB "[kafka]\n\ntopic.orders = x\n", 5, "[kafka] topic.orders: unknown event type "
	    "\"orders\" (known: order, fill, algo, position, balance, margin_call, config, unknown, "
	    "kline, mark_price, funding, ticker, trade, book, book_ticker, liquidation)");
	expect_only(DB "[kafka]\ntopic.gap = x\n", 4, "unknown event type \"gap\"");
}

static char *
dump_text(const struct config *cfg)
{
	char *d = NULL;
	size_t l;
	FILE *fp = open_memstream(&d, &l);

	config_dump(cfg, fp);
	fclose(fp);
	return d;
}

Test(config, kafka_rdkafka_properties)
{
	struct config cfg;
	struct config_errors errs;
	char *d;

	cr_assert_eq(load_text(DB "[kafka]\nrdkafka.security.protocol = SASL_SSL\n"
	    "rdkafka.sasl.mechanisms = SCRAM-SHA-512\nrdkafka.socket.timeout.ms = 10000\n",
	    &cfg, &errs), 0, "%s", config_errors_first(&errs));
	cr_assert_eq(cfg.kafka_nprops, 3);
	cr_assert_str_eq(cfg.kafka_props[0].name, "security.protocol");
	cr_assert_str_eq(cfg.kafka_props[0].value, "SASL_SSL");
	cr_assert_eq(cfg.kafka_props[0].line, 4);
	cr_assert_str_eq(cfg.kafka_props[2].name, "socket.timeout.ms");
	cr_assert_eq(config_line_of(&cfg, "kafka", "rdkafka.socket.timeout.ms"), 6);
	d = dump_text(&cfg);
	cr_assert(strstr(d, "topic.liquidation = websocket.liquidation\nrdkafka.security.protocol = SASL_SSL\n"
	    "rdkafka.sasl.mechanisms = SCRAM-SHA-512\nrdkafka.socket.timeout.ms = 10000\n\n[userdata]\n")
	    != NULL, "after the [kafka] keys, in file order:\n%s", d);
	free(d);
	config_free(&cfg);

	/* Unknown property, bad value, out of range: librdkafka's words at the line. */
	expect_only(DB "[kafka]\nformat = json\nrdkafka.no.such.property = 1\n", 5,
	    "[kafka] rdkafka.no.such.property: No such configuration property: \"no.such.property\"");
	expect_only(DB "[kafka]\nrdkafka.socket.timeout.ms = abc\n", 4,
	    "[kafka] rdkafka.socket.timeout.ms: Invalid value for configuration property "
	    "\"socket.timeout.ms\" (librdkafka ");
	expect_only(DB "[kafka]\nrdkafka.socket.timeout.ms = 5\n", 4,
	    "value 5 is outside allowed range 10..300000 (librdkafka ");
	expect_only(DB "[kafka]\nrdkafka.security.protocol = carrier_pigeon\n", 4,
	    "Invalid value \"carrier_pigeon\" for configuration property \"security.protocol\"");
	expect_only(DB "[kafka]\nrdkafka.dr_cb = x\n", 4, "[kafka] rdkafka.dr_cb: ");
	expect_only(DB "[kafka]\nrdkafka. = x\n", 4, "the librdkafka property's name goes after");
	expect_only(DB "[kafka]\nrdkafka.client.id = a\nrdkafka.client.id = b\n", 5,
	    "[kafka] rdkafka.client.id: key repeated (first set at line 4)");
	expect_only(DB "[kafka]\nrdkafka.client.id = a\n  b\n", 5, "continuation line is only allowed");
	expect_only(DB "[kafka]\nrdkafka.client.id =;a\n", 4, "cannot start with ';'");
	/* Only in [kafka]. */
	expect_only(DB "[daemon]\nrdkafka.client.id = a\n", 4, "[daemon] rdkafka.client.id: unknown key");
}

/* What the writer sets itself is refused, naming the key to use instead. */
Test(config, kafka_owned_properties_refused)
{
	static const struct { const char *prop, *says; } owned[] = {
		{ "bootstrap.servers", "from [kafka] brokers: use that key instead" },
		{ "metadata.broker.list", "from [kafka] brokers: use that key instead" },
		{ "enable.idempotence", "the writer needs acks=all and idempotence for its guarantees" },
		{ "acks", "the writer needs acks=all and idempotence for its guarantees" },
		{ "request.required.acks", "the writer needs acks=all and idempotence for its guarantees" },
		{ "linger.ms", "from [kafka] linger: use that key instead" },
		{ "queue.buffering.max.ms", "from [kafka] linger: use that key instead" },
		{ "batch.size", "from [kafka] batch_size: use that key instead" },
		{ "compression.codec", "from [kafka] compression: use that key instead" },
		{ "compression.type", "from [kafka] compression: use that key instead" },
		{ "message.timeout.ms", "from [kafka] delivery_timeout: use that key instead" },
		{ "delivery.timeout.ms", "from [kafka] delivery_timeout: use that key instead" },
		{ "transactional.id", "idempotent, not transactional" },
		{ "plugin.library.paths", "plugins are not supported" },
	};

	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		char text[256], needle[256];

		snprintf(text, sizeof(text), DB "[kafka]\nrdkafka.%s = 1\n", owned[i].prop);
		snprintf(needle, sizeof(needle), "[kafka] rdkafka.%s: ", owned[i].prop);
		expect_only(text, 4, needle);
		expect_only(text, 4, owned[i].says);
	}
}

/* A secret's value shows nowhere: not in -nv, not in a reload's diff, not in an error. */
Test(config, kafka_secret_properties_hidden)
{
	static const char text[] = DB "[kafka]\nrdkafka.security.protocol = SASL_SSL\n"
	    "rdkafka.sasl.password = hunter2-pw\nrdkafka.ssl.key.password = hunter2-key\n"
	    "rdkafka.sasl.oauthbearer.config = principal=hunter2-oauth\n"
	    "rdkafka.ssl.keystore.password = hunter2-keystore\n";
	struct config a, b;
	struct config_errors errs;
	char *d;

	cr_assert(config_kafka_prop_secret("sasl.password"));
	cr_assert(config_kafka_prop_secret("ssl.keystore.password"));
	cr_assert(config_kafka_prop_secret("ssl.key.pem"));
	cr_assert(config_kafka_prop_secret("sasl.oauthbearer.config"));
	cr_assert(config_kafka_prop_secret("sasl.oauthbearer.client.secret"));
	cr_assert(!config_kafka_prop_secret("sasl.username"));
	cr_assert(!config_kafka_prop_secret("security.protocol"));

	cr_assert_eq(load_text(text, &a, &errs), 0, "%s", config_errors_first(&errs));
	cr_assert_eq(a.kafka_nprops, 5);
	cr_assert_str_eq(a.kafka_props[1].value, "hunter2-pw", "the writer gets the value");
	d = dump_text(&a);
	cr_assert_null(strstr(d, "hunter2"), "a secret in -nv:\n%s", d);
	cr_assert(strstr(d, "rdkafka.security.protocol = SASL_SSL\nrdkafka.sasl.password = (hidden)\n"
	    "rdkafka.ssl.key.password = (hidden)\nrdkafka.sasl.oauthbearer.config = (hidden)\n"
	    "rdkafka.ssl.keystore.password = (hidden)\n") != NULL, "%s", d);
	free(d);

	/* A reload that changes, drops or adds one: reported, never with its value. */
	cr_assert_eq(load_text(DB "[kafka]\nrdkafka.security.protocol = SASL_SSL\n"
	    "rdkafka.sasl.password = hunter2-new\nrdkafka.sasl.oauthbearer.config = principal=hunter2-oauth\n"
	    "rdkafka.ssl.key.pem = hunter2-added\n", &b, &errs), 0);
	/* sasl.password changed; ssl.key.password and ssl.keystore.password gone; ssl.key.pem new */
	ndiff = nstatic = 0;
	cr_assert_eq(config_diff(&a, &b, secret_diff_cb, NULL), 4);
	cr_assert_eq(nstatic, 4, "no rdkafka.* line changes at runtime");
	config_free(&b);

	/* An error about a secret line does not quote its value either. */
	expect_only(DB "[kafka]\nrdkafka.sasl.password = hunter2\nrdkafka.sasl.password = hunter2\n", 5,
	    "key repeated");
	cr_assert_eq(load_text(DB "[kafka]\nrdkafka.sasl.password = hunter2\nrdkafka.sasl.password = "
	    "hunter2\n", &b, &errs), -1);
	cr_assert_null(strstr(config_errors_first(&errs), "hunter2"));
	config_errors_free(&errs);
	config_free(&a);
}

/* A worker gets every [kafka] value over IPC, secrets, topics and lines included. */
Test(config, kafka_pack_unpack_round_trip)
{
	static const char text[] = DB "event_log_retention = 30d\n[kafka]\n"
	    "brokers = k1:9092, k2:9093\nformat = protobuf\nlinger = 20ms\nbatch_size = 65536\n"
	    "compression = zstd\ndelivery_timeout = 2m\nrelay_window = 5000\nbacklog_warn_age = 5m\n"
	    "topic.order = o\ntopic.fill = o\ntopic.unknown = raw.events\n"
	    "rdkafka.security.protocol = SASL_SSL\nrdkafka.sasl.password = hunter2\n"
	    "rdkafka.client.id =\n";
	struct config a, b;
	struct config_errors errs;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked unp;

	cr_assert_eq(load_text(text, &a, &errs), 0, "%s", config_errors_first(&errs));
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	cr_assert_eq(config_pack(&a, &pk), 0);
	msgpack_unpacked_init(&unp);
	cr_assert_eq(msgpack_unpack_next(&unp, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(config_unpack(&unp.data, &b, &errs), 0, "%s", config_errors_first(&errs));

	cr_assert_eq(b.event_log_retention_ms, 30 * 86400000LL);
	cr_assert_str_eq(b.kafka_brokers, "k1:9092,k2:9093");
	cr_assert_eq(b.kafka_format, CONF_KAFKA_PROTOBUF);
	cr_assert_eq(b.kafka_linger_ms, 20);
	cr_assert_eq(b.kafka_batch_size, 65536);
	cr_assert_str_eq(config_compression(b.kafka_compression_i), "zstd");
	cr_assert_eq(b.kafka_delivery_timeout_ms, 120000);
	cr_assert_eq(b.kafka_relay_window, 5000);
	cr_assert_eq(b.kafka_backlog_warn_ms, 300000);
	for (int t = 0; t < CONF_KAFKA_TOPICS; t++) {
		if (a.kafka_topic[t] == NULL) {
			cr_assert_null(b.kafka_topic[t]);
			continue;
		}
		cr_assert_str_eq(b.kafka_topic[t], a.kafka_topic[t], "topic of type %d", t);
	}
	cr_assert_str_eq(b.kafka_topic[EV_FILL], "o");
	cr_assert_str_eq(b.kafka_topic[EV_UNKNOWN], "raw.events");
	cr_assert_str_eq(b.kafka_topic[EV_POSITION], "user-data-position-updates");
	cr_assert_eq(b.kafka_nprops, 3);
	for (size_t i = 0; i < a.kafka_nprops; i++) {
		cr_assert_str_eq(b.kafka_props[i].name, a.kafka_props[i].name);
		cr_assert_str_eq(b.kafka_props[i].value, a.kafka_props[i].value);
		cr_assert_eq(b.kafka_props[i].line, a.kafka_props[i].line);
	}
	cr_assert_str_eq(b.kafka_props[1].value, "hunter2", "the secret itself travels");
	cr_assert_str_eq(b.kafka_props[2].value, "");
	cr_assert_eq(config_line_of(&b, "kafka", "topic.unknown"), 15);
	cr_assert_eq(config_line_of(&b, "kafka", "linger"), 7);
	ndiff = 0;
	cr_assert_eq(config_diff(&a, &b, diff_cb, NULL), 0);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
	config_free(&a);
	config_free(&b);
	roundtrip(text);
}

/* Reload: format changes; every other [kafka] key, topic and rdkafka.* line is kept. */
Test(config, kafka_keys_need_a_restart_but_format)
{
	struct config a, b;
	struct config_errors errs;

	cr_assert_eq(load_text(DB "[kafka]\nlinger = 5ms\ntopic.order = a\n"
	    "rdkafka.client.id = x\nrdkafka.socket.timeout.ms = 10000\n", &a, &errs), 0);
	cr_assert_eq(load_text(DB "[kafka]\nformat = protobuf\nlinger = 50ms\ntopic.order = b\n"
	    "rdkafka.client.id = y\nrdkafka.security.protocol = SSL\n", &b, &errs), 0);
	ndiff = nstatic = 0;
	/* format, linger, topic.order; client.id changed, socket.timeout.ms gone, security.protocol new */
	cr_assert_eq(config_diff(&a, &b, diff_cb, NULL), 6);
	cr_assert_eq(nstatic, 5, "all but format need a restart");
	cr_assert_eq(config_keep_static(&b, &a), 3, "linger, topic.order, the rdkafka.* lines");
	cr_assert_eq(b.kafka_format, CONF_KAFKA_PROTOBUF);
	cr_assert_eq(b.kafka_linger_ms, 5);
	cr_assert_str_eq(b.kafka_topic[EV_ORDER], "a");
	cr_assert_eq(b.kafka_nprops, 2);
	cr_assert_str_eq(b.kafka_props[0].value, "x");
	cr_assert_str_eq(b.kafka_props[1].name, "socket.timeout.ms");
	cr_assert_eq(config_line_of(&b, "kafka", "rdkafka.socket.timeout.ms"), 7);
	ndiff = nstatic = 0;
	cr_assert_eq(config_diff(&a, &b, diff_cb, NULL), 1, "only format is left to differ");
	cr_assert_eq(nstatic, 0);
	config_free(&a);
	config_free(&b);
}
