/*
 * config.c: the key table, the INI reader (inih, with our own line counting),
 * typed value parsers, validation, the effective-config dump (-nv), the
 * msgpack form sent to workers, and the diff that drives reload.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <ini.h>
#include <librdkafka/rdkafka.h>

#include "config.h"
#include "crypto.h"
#include "event.h"
#include "strbuf.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

enum ctype { T_STR, T_PATH, T_OPTPATH, T_LOG, T_INT, T_BOOL, T_DURATION, T_SIZE,
	T_ENUM, T_LIST, T_HOSTPORT, T_URL, T_BROKERS, T_TOPIC };

#define K_REQUIRED	0x01	/* no default: the file must set it */
#define K_NORELOAD	0x02	/* read at start only; a change on HUP is reported */
#define K_SECRET	0x04	/* an rdkafka.* secret: -nv and reload logs say "(hidden)" */
#define K_HOSTPORTS	0x08	/* T_LIST of HOST:PORT items ([gateway] listen) */
#define K_ORIGINS	0x10	/* T_LIST of Origin values ([gateway] allowed_origins) */

/* "[kafka] rdkafka.<property> = value" passes a property to librdkafka. */
#define KAFKA_PROP_PREFIX	"rdkafka."

_Static_assert(EV_TYPE_MAX <= CONF_KAFKA_TOPICS, "struct config's kafka_topic[] is too short");

struct ckey {
	const char		*section;
	const char		*name;
	enum ctype		 type;
	const char		*defval;
	int64_t			 min, max;
	const char *const	*enums;		/* T_ENUM names; T_LIST allowed items */
	unsigned		 flags;
	size_t			 off;
};

static const char *const level_enum[] = { "debug", "info", "warn", "error", NULL };
static const char *const facility_enum[] = { "daemon", "user", "local0", "local1",
	"local2", "local3", "local4", "local5", "local6", "local7", NULL };
static const int facility_val[] = { LOG_DAEMON, LOG_USER, LOG_LOCAL0, LOG_LOCAL1,
	LOG_LOCAL2, LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7 };
static const char *const format_enum[] = { "json", "protobuf", NULL };
/* librdkafka compression.codec values. */
static const char *const compression_enum[] = { "none", "gzip", "snappy", "lz4", "zstd", NULL };
/*
 * The USDⓈ-M market stream kinds the market worker knows, with the update
 * speeds Binance offers for them (FACTS §3); kline takes [market] intervals.
 */
static const char *const stream_enum[] = { "kline", "markPrice", "markPrice@1s",
	"ticker", "miniTicker", "trade", "aggTrade", "depth", "depth@100ms", "depth@500ms",
	"depth5", "depth5@100ms", "depth5@500ms", "depth10", "depth10@100ms", "depth10@500ms",
	"depth20", "depth20@100ms", "depth20@500ms", "bookTicker", "forceOrder", NULL };
/* The 15 USDⓈ-M kline intervals (FACTS §3); case matters: 1m a minute, 1M a month. */
static const char *const interval_enum[] = { "1m", "3m", "5m", "15m", "30m", "1h", "2h",
	"4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M", NULL };
static const char *const exchange_names[] = { "binance-futures", "binance-spot",
	"bybit", "okx", NULL };

/* A configuration file is a few kilobytes: more is not one (or is /dev/zero). */
#define CONFIG_FILE_MAX	(1024 * 1024)

#define D(f)	offsetof(struct config, f)
#define E(f)	offsetof(struct exchange_conf, f)
#define HOUR_MS	(3600LL * 1000)

static const struct ckey keys[] = {
	{ "daemon", "user", T_STR, "exfeedd", 0, 0, NULL, K_NORELOAD, D(user) },
	{ "daemon", "group", T_STR, "exfeedd", 0, 0, NULL, K_NORELOAD, D(group) },
	{ "daemon", "runtime_dir", T_PATH, RUNSTATEDIR "/exfeedd", 0, 0, NULL, K_NORELOAD, D(runtime_dir) },
	{ "daemon", "pidfile", T_PATH, RUNSTATEDIR "/exfeedd/exfeedd.pid", 0, 0, NULL, K_NORELOAD, D(pidfile) },
	{ "daemon", "control_socket", T_PATH, RUNSTATEDIR "/exfeedd/control.sock", 0, 0, NULL, K_NORELOAD, D(control_socket) },
	{ "daemon", "log", T_LOG, "syslog", 0, 0, NULL, 0, D(log) },
	{ "daemon", "log_level", T_ENUM, "info", 0, 0, level_enum, 0, D(log_level) },
	{ "daemon", "syslog_facility", T_ENUM, "daemon", 0, 0, facility_enum, 0, D(syslog_facility) },
	{ "daemon", "core_dumps", T_BOOL, "no", 0, 0, NULL, 0, D(core_dumps) },
	{ "daemon", "account_shards", T_INT, "2", 1, 256, NULL, 0, D(account_shards) },
	{ "daemon", "respawn_delay_min", T_DURATION, "250ms", 10, 10000, NULL, 0, D(respawn_delay_min_ms) },
	{ "daemon", "respawn_delay_max", T_DURATION, "30s", 100, HOUR_MS, NULL, 0, D(respawn_delay_max_ms) },
	{ "daemon", "respawn_throttle", T_DURATION, "5s", 0, HOUR_MS, NULL, 0, D(respawn_throttle_ms) },
	{ "daemon", "respawn_stable", T_DURATION, "60s", 1000, 24 * HOUR_MS, NULL, 0, D(respawn_stable_ms) },
	{ "daemon", "ready_timeout", T_DURATION, "30s", 100, HOUR_MS, NULL, 0, D(ready_timeout_ms) },
	{ "daemon", "heartbeat_interval", T_DURATION, "1s", 50, 60000, NULL, 0, D(heartbeat_interval_ms) },
	{ "daemon", "heartbeat_timeout", T_DURATION, "15s", 200, HOUR_MS, NULL, 0, D(heartbeat_timeout_ms) },
	{ "daemon", "shutdown_timeout", T_DURATION, "10s", 100, 600000, NULL, 0, D(shutdown_timeout_ms) },
	{ "database", "conninfo", T_STR, NULL, 0, 0, NULL, K_REQUIRED, D(db_conninfo) },
	{ "database", "batch_size", T_INT, "500", 1, 100000, NULL, 0, D(db_batch_size) },
	{ "database", "flush_interval", T_DURATION, "2ms", 0, 10000, NULL, 0, D(db_flush_interval_ms) },
	{ "database", "event_log_retention", T_DURATION, "7d", 24 * HOUR_MS, 3650 * 24 * HOUR_MS, NULL, 0, D(event_log_retention_ms) },
	{ "database", "reconnect_delay_max", T_DURATION, "5s", 10, 600000, NULL, 0, D(db_reconnect_delay_max_ms) },
	{ "crypto", "key_file", T_PATH, SYSCONFDIR "/exfeedd/master.key", 0, 0, NULL, 0, D(crypto_key_file) },
	/*
	 * The writer makes its producer once: every [kafka] key but format
	 * (read per message) needs a restart.  The rdkafka.* lines follow
	 * these keys in -nv and in the msgpack form (config_visit).
	 */
	{ "kafka", "brokers", T_BROKERS, "embedded", 0, 0, NULL, K_NORELOAD, D(kafka_brokers) },
	{ "kafka", "format", T_ENUM, "json", 0, 0, format_enum, 0, D(kafka_format) },
	{ "kafka", "linger", T_DURATION, "5ms", 0, 900000, NULL, K_NORELOAD, D(kafka_linger_ms) },
	{ "kafka", "batch_size", T_INT, "1000000", 1, 2147483647, NULL, K_NORELOAD, D(kafka_batch_size) },
	{ "kafka", "compression", T_ENUM, "lz4", 0, 0, compression_enum, K_NORELOAD, D(kafka_compression_i) },
	{ "kafka", "market_linger", T_DURATION, "50ms", 0, 900000, NULL, K_NORELOAD, D(kafka_market_linger_ms) },
	{ "kafka", "market_compression", T_ENUM, "none", 0, 0, compression_enum, K_NORELOAD, D(kafka_market_compression_i) },
	{ "kafka", "delivery_timeout", T_DURATION, "30s", 1000, 24 * HOUR_MS, NULL, K_NORELOAD, D(kafka_delivery_timeout_ms) },
	{ "kafka", "relay_window", T_INT, "100000", 100, 10000000, NULL, K_NORELOAD, D(kafka_relay_window) },
	{ "kafka", "backlog_warn_age", T_DURATION, "60s", 1000, 24 * HOUR_MS, NULL, K_NORELOAD, D(kafka_backlog_warn_ms) },
	/* The user-data topics of DESIGN §4, by event type (event.h); EV_GAP is not published. */
#define TOPIC(ev, type, def) \
	{ "kafka", "topic." type, T_TOPIC, def, 0, 0, NULL, K_NORELOAD, D(kafka_topic[ev]) }
	TOPIC(EV_ORDER, "order", "user-data-order-updates"),
	TOPIC(EV_FILL, "fill", "user-data-fills"),
	TOPIC(EV_ALGO, "algo", "user-data-algo-updates"),
	TOPIC(EV_POSITION, "position", "user-data-position-updates"),
	TOPIC(EV_BALANCE, "balance", "user-data-balance-updates"),
	TOPIC(EV_MARGIN_CALL, "margin_call", "user-data-margin-calls"),
	TOPIC(EV_CONFIG, "config", "user-data-account-config"),
	TOPIC(EV_UNKNOWN, "unknown", "user-data-unknown"),
	/* Market data (key = symbol). */
	TOPIC(EV_KLINE, "kline", "websocket.kline"),
	TOPIC(EV_MARK_PRICE, "mark_price", "websocket.mark_price"),
	TOPIC(EV_FUNDING, "funding", "websocket.funding_rate"),
	TOPIC(EV_TICKER, "ticker", "websocket.ticker"),
	TOPIC(EV_TRADE, "trade", "websocket.trade"),
	TOPIC(EV_BOOK, "book", "websocket.depth"),
	TOPIC(EV_BOOK_TICKER, "book_ticker", "websocket.ticker"),
	TOPIC(EV_LIQUIDATION, "liquidation", "websocket.liquidation"),
#undef TOPIC
	{ "userdata", "listenkey_renewal", T_DURATION, "30m", 1000, 55 * 60000, NULL, 0, D(listenkey_renewal_ms) },
	{ "userdata", "reconcile_interval", T_DURATION, "5m", 1000, 24 * HOUR_MS, NULL, 0, D(reconcile_interval_ms) },
	{ "userdata", "accounts_per_connection", T_INT, "200", 1, 1024, NULL, 0, D(accounts_per_connection) },
	{ "userdata", "health_check_interval", T_DURATION, "60s", 100, HOUR_MS, NULL, 0, D(health_check_interval_ms) },
	{ "userdata", "silence_timeout", T_DURATION, "4m", 100, HOUR_MS, NULL, 0, D(silence_timeout_ms) },
	{ "userdata", "connection_max_age", T_DURATION, "23h", 1000, 24 * HOUR_MS, NULL, 0, D(connection_max_age_ms) },
	{ "userdata", "reconnect_delay_min", T_DURATION, "1s", 10, 600000, NULL, 0, D(reconnect_delay_min_ms) },
	{ "userdata", "reconnect_delay_max", T_DURATION, "60s", 10, HOUR_MS, NULL, 0, D(reconnect_delay_max_ms) },
	{ "userdata", "max_unacked", T_INT, "100000", 100, 10000000, NULL, 0, D(max_unacked) },
	{ "userdata", "alert_command", T_OPTPATH, "", 0, 0, NULL, 0, D(alert_command) },
	{ "userdata", "resync_history_max", T_DURATION, "7d", HOUR_MS, 180 * 24 * HOUR_MS, NULL, 0, D(resync_history_max_ms) },
	{ "market", "symbols", T_LIST, "BTCUSDT, ETHUSDT", 0, 1024, NULL, 0, D(market_symbols) },
	{ "market", "streams", T_LIST, "aggTrade, markPrice@1s, kline, ticker, depth@100ms", 0, 21, stream_enum, 0, D(market_streams) },
	{ "market", "intervals", T_LIST, "1m", 0, 15, interval_enum, 0, D(market_intervals) },
	{ "market", "book_depth", T_INT, "20", 1, 1000, NULL, 0, D(market_book_depth) },
	{ "market", "book_snapshot_limit", T_INT, "1000", 5, 1000, NULL, 0, D(market_book_snapshot_limit) },
	{ "market", "publish_interval", T_DURATION, "100ms", 10, 60000, NULL, 0, D(market_publish_interval_ms) },
	{ "market", "kline_history", T_INT, "500", 0, 100000, NULL, 0, D(market_kline_history) },
	{ "market", "max_streams_per_connection", T_INT, "200", 1, 1024, NULL, 0, D(market_streams_per_connection) },
	{ "market", "silence_timeout", T_DURATION, "30s", 1000, HOUR_MS, NULL, 0, D(market_silence_timeout_ms) },
	{ "market", "reconnect_delay_min", T_DURATION, "1s", 10, 600000, NULL, 0, D(market_reconnect_delay_min_ms) },
	{ "market", "reconnect_delay_max", T_DURATION, "60s", 10, HOUR_MS, NULL, 0, D(market_reconnect_delay_max_ms) },
	{ "market", "connection_max_age", T_DURATION, "23h", 1000, 24 * HOUR_MS, NULL, 0, D(market_connection_max_age_ms) },
	{ "gateway", "listen", T_LIST, "127.0.0.1:8480", 1, 16, NULL, K_NORELOAD | K_HOSTPORTS, D(gateway_listen) },
	{ "gateway", "tls_cert", T_OPTPATH, "", 0, 0, NULL, K_NORELOAD, D(gateway_tls_cert) },
	{ "gateway", "tls_key", T_OPTPATH, "", 0, 0, NULL, K_NORELOAD, D(gateway_tls_key) },
	{ "gateway", "jwt_secret_file", T_OPTPATH, "", 0, 0, NULL, 0, D(gateway_jwt_secret_file) },
	{ "gateway", "jwt_leeway", T_DURATION, "30s", 0, HOUR_MS, NULL, 0, D(gateway_jwt_leeway_ms) },
	{ "gateway", "auth_timeout", T_DURATION, "10s", 100, 300000, NULL, 0, D(gateway_auth_timeout_ms) },
	{ "gateway", "heartbeat_interval", T_DURATION, "30s", 100, HOUR_MS, NULL, 0, D(gateway_heartbeat_ms) },
	{ "gateway", "max_connections", T_INT, "10000", 1, 1000000, NULL, 0, D(gateway_max_connections) },
	{ "gateway", "max_connections_per_user", T_INT, "5", 1, 10000, NULL, 0, D(gateway_max_per_user) },
	{ "gateway", "client_queue_max", T_SIZE, "1M", 4096, 1LL << 30, NULL, 0, D(gateway_client_queue_max) },
	{ "gateway", "max_message_size", T_SIZE, "4K", 128, 1 << 20, NULL, 0, D(gateway_max_message_size) },
	{ "gateway", "message_rate", T_INT, "20", 1, 100000, NULL, 0, D(gateway_message_rate) },
	{ "gateway", "message_burst", T_INT, "40", 1, 100000, NULL, 0, D(gateway_message_burst) },
	{ "gateway", "allowed_origins", T_LIST, "", 0, 64, NULL, K_ORIGINS, D(gateway_allowed_origins) },
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

/* Keys of every [exchange.NAME] section; defaults depend on NAME. */
static const struct ckey exkeys[] = {
	{ "exchange.*", "rest_url", T_URL, NULL, 0, 0, NULL, 0, E(rest_url) },
	{ "exchange.*", "ws_url", T_URL, NULL, 0, 0, NULL, 0, E(ws_url) },
	{ "exchange.*", "ca_file", T_OPTPATH, "", 0, 0, NULL, 0, E(ca_file) },
	{ "exchange.*", "rest_weight_budget", T_INT, NULL, 1, 1000000, NULL, 0, E(rest_weight_budget) },
	{ "exchange.*", "connect_budget", T_INT, "225", 1, 100000, NULL, 0, E(connect_budget) },
	{ "exchange.*", "rest_concurrency", T_INT, "2", 1, 16, NULL, 0, E(rest_concurrency) },
};
#define NEXKEYS	(sizeof(exkeys) / sizeof(exkeys[0]))

/* Production endpoints and 75% of each exchange's documented per-IP weight. */
static const struct {
	const char	*name, *rest_url, *ws_url, *weight;
} ex_defaults[] = {
	{ "binance-futures", "https://fapi.binance.com", "wss://fstream.binance.com", "1800" },
	{ "binance-spot", "https://api.binance.com", "wss://ws-api.binance.com:443/ws-api/v3", "4500" },
	{ "bybit", "https://api.bybit.com", "wss://stream.bybit.com/v5/private", "450" },
	{ "okx", "https://www.okx.com", "wss://ws.okx.com:8443/ws/v5/private", "450" },
};

static const char *const sections[] = { "daemon", "database", "crypto", "kafka",
	"userdata", "market", "gateway", NULL };

/* ---------------------------------------------------------------- parsers */

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static int
parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/*
 * Whether a value parse_int64 or config_parse_duration_ms refused is a
 * number of the right form all the same, only too large for 64 bits: then
 * it is out of range, not "not a number".
 */
static int
overlong_number(const char *s, int duration)
{
	static const char *const units[] = { "ms", "s", "m", "h", "d" };
	size_t n;

	if (!duration && *s == '-')
		s++;
	if ((n = strspn(s, "0123456789")) == 0)
		return 0;
	if (!duration)
		return s[n] == '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(s + n, units[i]) == 0)
			return 1;
	return 0;
}

int
config_parse_duration_ms(const char *s, int64_t *out)
{
	static const struct { const char *u; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	char *end;
	long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].u) == 0) {
			if (v > INT64_MAX / units[i].ms)
				return -1;
			*out = v * units[i].ms;
			return 0;
		}
	return -1;
}

void
config_format_duration(int64_t ms, char *buf, size_t len)
{
	static const struct { const char *u; int64_t ms; } units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(buf, len, "%" PRId64 "%s", ms / units[i].ms, units[i].u);
			return;
		}
	snprintf(buf, len, "%" PRId64 "ms", ms);
}

int
config_parse_size(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno)
		return -1;
	if (strcmp(end, "K") == 0)
		mul = 1024;
	else if (strcmp(end, "M") == 0)
		mul = 1024 * 1024;
	else if (strcmp(end, "G") == 0)
		mul = 1024LL * 1024 * 1024;
	else if (*end != '\0')
		return -1;
	if (v > INT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
config_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
config_parse_hostport(const char *s, struct hostport *hp, const char **why)
{
	const char *colon, *hstart, *hend;
	int64_t port;

	if (*s == '[') {
		hstart = s + 1;
		if ((hend = strchr(s, ']')) == NULL || hend[1] != ':') {
			*why = "expected [ADDRESS]:PORT";
			return -1;
		}
		colon = hend + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			*why = "expected HOST:PORT";
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			*why = "an IPv6 address must be written [ADDRESS]:PORT";
			return -1;
		}
		hstart = s;
		hend = colon;
	}
	if (hend == hstart || (size_t)(hend - hstart) >= sizeof(hp->host)) {
		*why = "missing or overlong host";
		return -1;
	}
	/* Only what getaddrinfo can take, and what -nv prints back the same. */
	if (strspn(hstart, *s == '[' ? "0123456789abcdefABCDEF:." : "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") < (size_t)(hend - hstart)) {
		*why = "the host must be a name, an IPv4 address or an [IPv6 address]";
		return -1;
	}
	if (parse_int64(colon + 1, &port) == -1 || port < 0 || port > 65535) {
		*why = "port must be a number from 0 to 65535";
		return -1;
	}
	memcpy(hp->host, hstart, (size_t)(hend - hstart));
	hp->host[hend - hstart] = '\0';
	hp->port = (uint16_t)port;
	return 0;
}

/* The alphabet of ev_symbol_ok (evcodec.c), which this library part does not link. */
static int
symbol_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c >= 0x80 || isalnum(c) || c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return len > 0;
}

/*
 * An item of a [gateway] list: a HOST:PORT of listen (config_parse_hostport),
 * or an Origin of allowed_origins as browsers send it (RFC 6454 §6.2:
 * "http" or "https", "://", a host and an optional port, nothing after).
 * 0, or -1 with whybuf saying why.
 */
static int
list_item_check(const struct ckey *k, const char *p, size_t len, char *whybuf, size_t whylen)
{
	char item[320];
	const char *why = NULL, *host;
	struct hostport hp;

	if (len >= sizeof(item)) {
		snprintf(whybuf, whylen, "\"%.64s...\" is too long", p);
		return -1;
	}
	memcpy(item, p, len);
	item[len] = '\0';
	if (k->flags & K_HOSTPORTS) {
		if (config_parse_hostport(item, &hp, &why) == -1) {
			snprintf(whybuf, whylen, "%s (\"%s\")", why, item);
			return -1;
		}
		return 0;
	}
	if (strncmp(item, "http://", 7) == 0)
		host = item + 7;
	else if (strncmp(item, "https://", 8) == 0)
		host = item + 8;
	else {
		snprintf(whybuf, whylen, "\"%s\" is not an origin (http://HOST[:PORT] or "
		    "https://HOST[:PORT])", item);
		return -1;
	}
	if (*host == '\0' || strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789.-_:[]") !=
	    strlen(host)) {
		snprintf(whybuf, whylen, "\"%s\" is not an origin (a lower-case host and an "
		    "optional port after the scheme, no path)", item);
		return -1;
	}
	return 0;
}

static int
enum_index(const char *const *names, const char *s)
{
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
strlist_add(struct strlist *l, const char *s, size_t len)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

	if (nv == NULL)
		abort();
	l->v = nv;
	if ((l->v[l->n] = strndup(s, len)) == NULL)
		abort();
	l->n++;
}

/* ------------------------------------------------------------- the loader */

struct loader {
	struct config		*cfg;
	struct config_errors	*errs;
	const char		*file;
	FILE			*fp;
	unsigned		 line;		/* line most recently handed to inih */
	unsigned		 total_lines;
	char			 cur_section[128];
	int			 cur_ex;	/* index into cfg->ex, or -1 */
	int			 section_ok;
	unsigned		 section_line[sizeof(sections) / sizeof(sections[0])];
	unsigned		*set_line;	/* per main key, 0 = unset */
	int			 prev_key;	/* for continuation lines */
	int			 prev_is_ex;
	int			 line_continued;
	int			 from_file;	/* the files the config names are checked too */
	int			 any_section;	/* a [section] line was seen */
	size_t			 bytes;		/* read so far, at most CONFIG_FILE_MAX */
	unsigned char		*bad;		/* per main key: its value was refused */
	struct {
		size_t		 idx;		/* its first error in errs */
		unsigned	 more;		/* errors on later continuation lines */
	}			*list_err;	/* per main key */
	rd_kafka_conf_t		*rkconf;	/* scratch: rdkafka.* lines are tried on it */
};

static void
err_add(struct config_errors *errs, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	struct config_error *nv;
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "%s:%u: ", file, line);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if ((nv = realloc(errs->v, (errs->n + 1) * sizeof(*nv))) == NULL)
		abort();
	errs->v = nv;
	/* Keep the list in line order: the first line printed is the first error. */
	size_t i = errs->n;
	while (i > 0 && errs->v[i - 1].line > line) {
		errs->v[i] = errs->v[i - 1];
		i--;
	}
	errs->v[i].line = line;
	errs->v[i].msg = xstrdup(msg);
	errs->n++;
}

static void *
slot(void *base, const struct ckey *k)
{
	return (char *)base + k->off;
}

static void
value_free(void *base, const struct ckey *k)
{
	switch (k->type) {
	case T_STR: case T_PATH: case T_OPTPATH: case T_LOG: case T_URL: case T_BROKERS:
	case T_TOPIC: {
		char **p = slot(base, k);
		free(*p);
		*p = NULL;
		break;
	}
	case T_LIST:
		strlist_free(slot(base, k));
		break;
	default:
		break;
	}
}

/*
 * The grammar the account worker's net_endpoint_parse takes, so that a
 * URL -n accepts is one the workers can use: a host name or [IPv6
 * address] of at most 255 bytes, a port of 1 to 65535, and no space or
 * control byte anywhere (the path goes into every request line).
 */
static int
check_url(const char *v, const char **why)
{
	static const char *const schemes[] = { "http://", "https://", "ws://", "wss://" };
	const char *host, *p;
	long port;

	for (size_t i = 0; i < 4; i++)
		if (strncmp(v, schemes[i], strlen(schemes[i])) == 0) {
			host = v + strlen(schemes[i]);
			if (*host == '\0' || *host == '/' || *host == ':') {
				*why = "URL has no host";
				return -1;
			}
			for (const char *c = v; *c; c++)
				if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
					*why = "URL contains white space or a control character";
					return -1;
				}
			if (memchr(host, '@', strcspn(host, "/?#")) != NULL) {
				*why = "URL must not hold a user name or password (user:password@): "
				    "no exchange takes credentials in the URL";
				return -1;
			}
			if (*host == '[') {
				p = host + 1 + strspn(host + 1, "0123456789abcdefABCDEF:.");
				if (*p != ']' || p == host + 1) {
					*why = "URL has a bad [IPv6 address]";
					return -1;
				}
				p++;
			} else
				p = host + strspn(host, "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
			if (p - host > 255 || (*p != '\0' && *p != '/' && *p != ':')) {
				*why = "URL host is not a host name or [IPv6 address]";
				return -1;
			}
			if (*p == ':') {
				for (port = 0, p++; isdigit((unsigned char)*p) && port <= 65535; p++)
					port = port * 10 + (*p - '0');
				if (port < 1 || port > 65535 || (*p != '\0' && *p != '/')) {
					*why = "URL port must be a number from 1 to 65535";
					return -1;
				}
			}
			if (strlen(p) > 255) {
				*why = "URL path is too long (at most 255 bytes)";
				return -1;
			}
			return 0;
		}
	*why = "URL must start with http://, https://, ws:// or wss://";
	return -1;
}

/*
 * [kafka] brokers: empty (no publishing), "embedded", or HOST:PORT items
 * separated by commas, white space around them ignored, each port 1 to
 * 65535.  *out is the list as bootstrap.servers takes it: "h1:p1,h2:p2".
 */
static int
brokers_parse(const char *v, char **out, char *whybuf, size_t whylen, const char **why)
{
	static const char form[] = "brokers is \"embedded\", a list of HOST:PORT separated "
	    "by commas, or empty for no publishing";
	struct strbuf b = { NULL, 0, 0, 0 };
	const char *p = v;

	if (*v == '\0' || strcmp(v, "embedded") == 0) {
		*out = xstrdup(v);
		return 0;
	}
	*why = whybuf;
	for (;;) {
		size_t len = strcspn(p, ",");
		const char *s = p, *e = p + len, *hwhy;
		struct hostport hp;
		char one[300];

		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (s == e) {
			snprintf(whybuf, whylen, "an empty item (two commas, or a comma at an end); %s",
			    form);
			goto bad;
		}
		if ((size_t)(e - s) >= sizeof(one)) {
			snprintf(whybuf, whylen, "\"%.40s...\" is too long for HOST:PORT; %s", s, form);
			goto bad;
		}
		memcpy(one, s, (size_t)(e - s));
		one[e - s] = '\0';
		if (strcmp(one, "embedded") == 0) {
			snprintf(whybuf, whylen, "\"embedded\" stands alone, not in a list; %s", form);
			goto bad;
		}
		if (config_parse_hostport(one, &hp, &hwhy) == -1) {
			snprintf(whybuf, whylen, "\"%.64s\": %s; %s", one, hwhy, form);
			goto bad;
		}
		if (hp.port == 0) {
			snprintf(whybuf, whylen, "\"%.64s\": a broker's port is 1 to 65535", one);
			goto bad;
		}
		if (b.len)
			strbuf_puts(&b, ",");
		strbuf_puts(&b, one);
		p += len;
		if (*p++ == '\0')
			break;
	}
	if (b.oom)
		abort();
	*out = b.p;
	return 0;
bad:
	free(b.p);
	return -1;
}

/* A Kafka topic name, by Kafka's own rule (1 to 249 of [a-zA-Z0-9._-], not "." or ".."). */
static int
topic_check(const char *v, char *whybuf, size_t whylen, const char **why)
{
	size_t n = strlen(v);

	if (n >= 1 && n <= 249 && strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n && strcmp(v, ".") != 0 && strcmp(v, "..") != 0)
		return 0;
	snprintf(whybuf, whylen, "\"%.64s%s\" is not a Kafka topic name (1 to 249 characters "
	    "of a-z, A-Z, 0-9, '.', '_' and '-', and not \".\" or \"..\")", v, n > 64 ? "..." : "");
	*why = whybuf;
	return -1;
}

/*
 * Parse one value into its slot.  Returns 0, or -1 with *why set (why may
 * point into `whybuf`).
 */
static int
value_set(void *base, const struct ckey *k, const char *v, int append,
    char *whybuf, size_t whylen, const char **why)
{
	int64_t n;
	int b, idx;

	switch (k->type) {
	case T_STR:
		if (*v == '\0' && (k->flags & K_REQUIRED)) {
			*why = "must not be empty";
			return -1;
		}
		break;
	case T_PATH:
		if (v[0] != '/') {
			*why = "must be an absolute path";
			return -1;
		}
		break;
	case T_OPTPATH:
		if (v[0] != '\0' && v[0] != '/') {
			*why = "must be empty or an absolute path";
			return -1;
		}
		break;
	case T_LOG:
		if (strcmp(v, "syslog") != 0 && strcmp(v, "stderr") != 0 && v[0] != '/') {
			*why = "must be syslog, stderr or an absolute file path";
			return -1;
		}
		break;
	case T_URL:
		if (check_url(v, why) == -1)
			return -1;
		break;
	case T_BROKERS: {
		char **p = slot(base, k), *list;

		if (brokers_parse(v, &list, whybuf, whylen, why) == -1)
			return -1;
		free(*p);
		*p = list;
		return 0;
	}
	case T_TOPIC:
		if (topic_check(v, whybuf, whylen, why) == -1)
			return -1;
		break;
	case T_INT:
		if (parse_int64(v, &n) == -1) {
			if (overlong_number(v, 0))
				goto out_of_range;
			snprintf(whybuf, whylen, "\"%s\" is not a whole number", v);
			*why = whybuf;
			return -1;
		}
		goto range;
	case T_DURATION:
		if (config_parse_duration_ms(v, &n) == -1) {
			if (overlong_number(v, 1))
				goto out_of_range;
			snprintf(whybuf, whylen, "\"%s\" is not a duration (a number with a unit: ms, s, m, h, d)", v);
			*why = whybuf;
			return -1;
		}
		goto range;
	case T_SIZE:
		if (config_parse_size(v, &n) == -1) {
			snprintf(whybuf, whylen, "\"%s\" is not a size (bytes, or a number with K, M or G)", v);
			*why = whybuf;
			return -1;
		}
	range:
		if (n < k->min || n > k->max) {
	out_of_range:
			if (k->type == T_DURATION) {
				char a[32], c[32];
				config_format_duration(k->min, a, sizeof(a));
				config_format_duration(k->max, c, sizeof(c));
				snprintf(whybuf, whylen, "%s is out of range (%s to %s)", v, a, c);
			} else
				snprintf(whybuf, whylen, "%s is out of range (%" PRId64 " to %" PRId64 ")",
				    v, k->min, k->max);
			*why = whybuf;
			return -1;
		}
		*(int64_t *)slot(base, k) = n;
		return 0;
	case T_BOOL:
		if (config_parse_bool(v, &b) == -1) {
			snprintf(whybuf, whylen, "\"%s\" is not a boolean (yes/no, true/false, on/off, 1/0)", v);
			*why = whybuf;
			return -1;
		}
		*(int *)slot(base, k) = b;
		return 0;
	case T_ENUM:
		if ((idx = enum_index(k->enums, v)) == -1) {
			int off = snprintf(whybuf, whylen, "\"%s\" is not one of:", v);
			for (int i = 0; k->enums[i] && off < (int)whylen; i++)
				off += snprintf(whybuf + off, whylen - (size_t)off, " %s", k->enums[i]);
			*why = whybuf;
			return -1;
		}
		*(int *)slot(base, k) = idx;
		return 0;
	case T_LIST: {
		struct strlist *l = slot(base, k), nl = { NULL, 0 };
		const char *p = v;

		while (*p) {
			size_t len;

			while (isspace((unsigned char)*p) || *p == ',')
				p++;
			if (*p == '\0')
				break;
			len = strcspn(p, ", \t");
			if ((k->flags & (K_HOSTPORTS | K_ORIGINS)) &&
			    list_item_check(k, p, len, whybuf, whylen) == -1) {
				*why = whybuf;
				strlist_free(&nl);
				return -1;
			}
			/* The market symbols: what ev_symbol_ok takes, so also nothing inih reads as a comment. */
			if (!k->enums && !(k->flags & (K_HOSTPORTS | K_ORIGINS)) && !symbol_ok(p, len)) {
				snprintf(whybuf, whylen, "\"%.*s\" is not a symbol (letters, digits, '_', '-', '.')",
				    (int)(len > 64 ? 64 : len), p);
				*why = whybuf;
				strlist_free(&nl);
				return -1;
			}
			if (k->enums) {
				char item[128];
				snprintf(item, sizeof(item), "%.*s", (int)len, p);
				if (enum_index(k->enums, item) == -1) {
					int off = snprintf(whybuf, whylen, "unknown item \"%s\" (one of:", item);
					for (int e = 0; k->enums[e] && off < (int)whylen; e++)
						off += snprintf(whybuf + off, whylen - (size_t)off, " %s", k->enums[e]);
					if (off < (int)whylen)
						snprintf(whybuf + off, whylen - (size_t)off, ")");
					*why = whybuf;
					strlist_free(&nl);
					return -1;
				}
			}
			strlist_add(&nl, p, len);
			p += len;
		}
		if (!append)
			strlist_free(l);
		for (size_t i = 0; i < nl.n; i++)
			strlist_add(l, nl.v[i], strlen(nl.v[i]));
		strlist_free(&nl);
		if ((int64_t)l->n > k->max) {
			snprintf(whybuf, whylen, "too many items (%zu, at most %" PRId64 ")", l->n, k->max);
			*why = whybuf;
			return -1;
		}
		if ((int64_t)l->n < k->min) {
			snprintf(whybuf, whylen, "at least %" PRId64 " item%s needed", k->min,
			    k->min == 1 ? " is" : "s are");
			*why = whybuf;
			return -1;
		}
		return 0;
	}
	case T_HOSTPORT:
		if (config_parse_hostport(v, slot(base, k), why) == -1)
			return -1;
		return 0;
	}
	/* the string kinds */
	{
		char **p = slot(base, k);
		free(*p);
		*p = xstrdup(v);
	}
	return 0;
}

static int
section_index(const char *name)
{
	return enum_index(sections, name);
}

static int
key_index(const struct ckey *table, size_t n, const char *section, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if ((section == NULL || strcmp(table[i].section, section) == 0) &&
		    strcmp(table[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* A "[...]" line: validated here, where we know its line number. */
static void
loader_section(struct loader *ld, const char *name, unsigned line)
{
	struct config *cfg = ld->cfg;
	int si;

	snprintf(ld->cur_section, sizeof(ld->cur_section), "%s", name);
	ld->any_section = 1;
	ld->cur_ex = -1;
	ld->section_ok = 0;
	ld->prev_key = -1;
	if ((si = section_index(name)) != -1) {
		if (ld->section_line[si])
			err_add(ld->errs, ld->file, line, "[%s]: section repeated (first at line %u)",
			    name, ld->section_line[si]);
		else
			ld->section_line[si] = line;
		ld->section_ok = 1;
		return;
	}
	if (strncmp(name, "exchange.", 9) == 0) {
		const char *ex = name + 9;

		if (enum_index(exchange_names, ex) == -1) {
			err_add(ld->errs, ld->file, line, "[%s]: unknown exchange \"%s\" "
			    "(known: binance-futures, binance-spot, bybit, okx)", name, ex);
			return;
		}
		for (int i = 0; i < cfg->nex; i++)
			if (strcmp(cfg->ex[i].name, ex) == 0) {
				err_add(ld->errs, ld->file, line, "[%s]: section repeated (first at line %u)",
				    name, cfg->ex_header_line[i]);
				return;
			}
		cfg->ex[cfg->nex].name = xstrdup(ex);
		cfg->ex_header_line[cfg->nex] = line;
		ld->cur_ex = cfg->nex++;
		ld->section_ok = 1;
		return;
	}
	err_add(ld->errs, ld->file, line, "[%s]: unknown section (known: daemon, database, "
	    "crypto, kafka, userdata, market, gateway, exchange.NAME)", name);
}

/*
 * librdkafka properties the writer sets itself: the [kafka] key that sets
 * each, or why none does; and the one that would load code at check time.
 */
#define KAFKA_ACKS_WHY	"the writer always produces with acks=all and enable.idempotence=true: " \
	"the writer needs acks=all and idempotence for its guarantees"
static const struct {
	const char	*name, *key, *why;
} kafka_owned[] = {
	{ "bootstrap.servers", "brokers", NULL },
	{ "metadata.broker.list", "brokers", NULL },
	{ "enable.idempotence", NULL, KAFKA_ACKS_WHY },
	{ "acks", NULL, KAFKA_ACKS_WHY },
	{ "request.required.acks", NULL, KAFKA_ACKS_WHY },
	{ "linger.ms", "linger", NULL },
	{ "queue.buffering.max.ms", "linger", NULL },
	{ "batch.size", "batch_size", NULL },
	{ "compression.codec", "compression", NULL },
	{ "compression.type", "compression", NULL },
	{ "message.timeout.ms", "delivery_timeout", NULL },
	{ "delivery.timeout.ms", "delivery_timeout", NULL },
	{ "transactional.id", NULL, "the writer's producer is idempotent, not transactional: "
	    "with a transactional.id it could publish nothing outside a transaction" },
	{ "plugin.library.paths", NULL, "plugins are not supported: librdkafka loads one as "
	    "soon as the property is set, so checking this file (exfeedd -n, a reload, "
	    "exfeedctl) would run its code" },
};

int
config_kafka_prop_secret(const char *name)
{
	return strstr(name, "password") != NULL || strstr(name, "secret") != NULL ||
	    strstr(name, "sasl.oauthbearer.config") != NULL || strstr(name, "ssl.key") != NULL;
}

/*
 * librdkafka's message about a secret's value, without the value: its
 * quoted copies become (hidden); if the value shows anyway, none of it.
 */
static void
scrub_secret(char *msg, size_t len, const char *value)
{
	char quoted[300], out[512];
	const char *p = msg, *q;
	size_t n = 0, ql;

	if (*value == '\0')
		return;
	snprintf(quoted, sizeof(quoted), "\"%s\"", value);
	ql = strlen(quoted);
	while ((q = strstr(p, quoted)) != NULL && n < sizeof(out)) {
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%.*s(hidden)", (int)(q - p), p);
		p = q + ql;
	}
	if (n < sizeof(out))
		snprintf(out + n, sizeof(out) - n, "%s", p);
	if (strlen(value) >= sizeof(quoted) - 2 || strstr(out, value) != NULL)
		snprintf(out, sizeof(out), "librdkafka refuses the value (not shown: it is a secret)");
	snprintf(msg, len, "%s", out);
}

static void
kafka_prop_free(struct kafka_prop *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (config_kafka_prop_secret(v[i].name))
			crypto_wipe(v[i].value, strlen(v[i].value));
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

static void
kafka_prop_add(struct config *cfg, const char *name, const char *value, unsigned line)
{
	struct kafka_prop *nv = realloc(cfg->kafka_props, (cfg->kafka_nprops + 1) * sizeof(*nv));

	if (nv == NULL)
		abort();
	cfg->kafka_props = nv;
	nv[cfg->kafka_nprops].name = xstrdup(name);
	nv[cfg->kafka_nprops].value = xstrdup(value);
	nv[cfg->kafka_nprops].line = line;
	cfg->kafka_nprops++;
}

static const struct kafka_prop *
kafka_prop_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->kafka_nprops; i++)
		if (strcmp(cfg->kafka_props[i].name, name) == 0)
			return &cfg->kafka_props[i];
	return NULL;
}

/*
 * "[kafka] rdkafka.PROPERTY = value": tried on a scratch librdkafka conf,
 * so that exfeedd -n refuses what the writer's producer would, at its line.
 */
static void
loader_prop(struct loader *ld, const char *key, const char *value, unsigned line)
{
	const char *name = key + strlen(KAFKA_PROP_PREFIX);
	const struct kafka_prop *seen;
	char err[512];
	size_t n;

	if ((seen = kafka_prop_find(ld->cfg, name)) != NULL) {
		if (ld->line_continued)
			err_add(ld->errs, ld->file, line, "[kafka] %s: a continuation line is only "
			    "allowed for lists", key);
		else
			err_add(ld->errs, ld->file, line, "[kafka] %s: key repeated (first set at "
			    "line %u)", key, seen->line);
		return;
	}
	if (*name == '\0') {
		err_add(ld->errs, ld->file, line, "[kafka] %s: the librdkafka property's name "
		    "goes after \"" KAFKA_PROP_PREFIX "\"", key);
		return;
	}
	if (value[0] == ';') {
		err_add(ld->errs, ld->file, line, "[kafka] %s: a value cannot start with ';' "
		    "(\" ;\" starts a comment)", key);
		return;
	}
	for (size_t i = 0; i < sizeof(kafka_owned) / sizeof(kafka_owned[0]); i++) {
		if (strcmp(name, kafka_owned[i].name) != 0)
			continue;
		if (kafka_owned[i].key != NULL)
			err_add(ld->errs, ld->file, line, "[kafka] %s: the writer sets %s itself, "
			    "from [kafka] %s: use that key instead", key, name, kafka_owned[i].key);
		else
			err_add(ld->errs, ld->file, line, "[kafka] %s: cannot be set: %s", key,
			    kafka_owned[i].why);
		return;
	}
	if (ld->rkconf == NULL && (ld->rkconf = rd_kafka_conf_new()) == NULL)
		abort();
	err[0] = '\0';
	if (rd_kafka_conf_set(ld->rkconf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		for (n = strlen(err); n > 0 && isspace((unsigned char)err[n - 1]); n--)
			err[n - 1] = '\0';
		if (config_kafka_prop_secret(name))
			scrub_secret(err, sizeof(err), value);
		err_add(ld->errs, ld->file, line, "[kafka] %s: %s (librdkafka %s)", key,
		    err[0] ? err : "refused", rd_kafka_version_str());
		return;
	}
	kafka_prop_add(ld->cfg, name, value, line);
}

static void
loader_value(struct loader *ld, const char *name, const char *value, unsigned line)
{
	const struct ckey *k;
	unsigned *seen;
	void *base;
	char whybuf[512];
	const char *why = NULL;
	int ki, cont;

	if (!ld->any_section) {
		err_add(ld->errs, ld->file, line, "%s: key outside any section (every key goes "
		    "under its [section], e.g. [daemon])", name);
		return;
	}
	if (!ld->section_ok)
		return;			/* the section itself was reported */
	if (ld->cur_ex < 0 && strcmp(ld->cur_section, "kafka") == 0 &&
	    strncmp(name, KAFKA_PROP_PREFIX, strlen(KAFKA_PROP_PREFIX)) == 0) {
		loader_prop(ld, name, value, line);
		ld->prev_key = -1;
		return;
	}
	if (ld->cur_ex >= 0) {
		if ((ki = key_index(exkeys, NEXKEYS, NULL, name)) == -1) {
			err_add(ld->errs, ld->file, line, "[%s] %s: unknown key", ld->cur_section, name);
			return;
		}
		k = &exkeys[ki];
		base = &ld->cfg->ex[ld->cur_ex];
		seen = &ld->cfg->ex_lines[ld->cur_ex][ki];
	} else {
		if ((ki = key_index(keys, NKEYS, ld->cur_section, name)) == -1) {
			if (strcmp(ld->cur_section, "kafka") == 0 && strncmp(name, "topic.", 6) == 0)
				err_add(ld->errs, ld->file, line, "[kafka] %s: unknown event type \"%.64s\" "
				    "(known: order, fill, algo, position, balance, margin_call, config, "
				    "unknown, kline, mark_price, funding, ticker, trade, book, book_ticker, "
				    "liquidation)", name, name + 6);
			else
				err_add(ld->errs, ld->file, line, "[%s] %s: unknown key", ld->cur_section,
				    name);
			return;
		}
		k = &keys[ki];
		base = ld->cfg;
		seen = &ld->set_line[ki];
	}
	cont = ld->line_continued && ld->prev_key == ki && ld->prev_is_ex == (ld->cur_ex >= 0);
	if (cont && k->type != T_LIST) {
		err_add(ld->errs, ld->file, line, "[%s] %s: a continuation line is only allowed for lists",
		    ld->cur_section, name);
		return;
	}
	if (!cont && *seen) {
		err_add(ld->errs, ld->file, line, "[%s] %s: key repeated (first set at line %u)",
		    ld->cur_section, name, *seen);
		return;
	}
	/* Present but invalid is reported once, not also as missing. */
	if (!cont)
		*seen = line;
	/*
	 * "key =;x" gives ";x", but "key = ;x", as -nv writes it, is an empty
	 * value and a comment: no value can start with ';' (none means to).
	 */
	if (value[0] == ';') {
		err_add(ld->errs, ld->file, line, "[%s] %s: a value cannot start with ';' "
		    "(\" ;\" starts a comment)", ld->cur_section, name);
		return;
	}
	if (value_set(base, k, value, cont, whybuf, sizeof(whybuf), &why) == -1) {
		/* A list's later lines add to its one error: not a line each. */
		if (ld->cur_ex < 0 && k->type == T_LIST && ld->bad[ki]) {
			ld->list_err[ki].more++;
			ld->prev_key = ki;
			ld->prev_is_ex = 0;
			return;
		}
		err_add(ld->errs, ld->file, line, "[%s] %s: %s", ld->cur_section, name, why);
		if (ld->cur_ex < 0) {
			ld->bad[ki] = 1;
			ld->list_err[ki].idx = ld->errs->n - 1;
			ld->prev_key = ki;
			ld->prev_is_ex = 0;
		}
		return;
	}
	ld->prev_key = ki;
	ld->prev_is_ex = ld->cur_ex >= 0;
}

static int
ini_handler_cb(void *arg, const char *section, const char *name, const char *value)
{
	struct loader *ld = arg;

	loader_value(ld, name, value, ld->line);
	return 1;		/* errors are collected, never stop inih */
}

/*
 * inih reads through us, so we count lines and see section headers with
 * their line numbers (Debian's inih has no INI_HANDLER_LINENO).
 */
static char *
ini_reader_cb(char *buf, int size, void *arg)
{
	struct loader *ld = arg;
	char *p, *end;
	size_t len = 0;
	int c = EOF, nul = 0, toolong = 0;

	/* By the byte, not fgets: a NUL inside a line must not cut it unseen. */
	while (len < (size_t)size - 1 && ld->bytes < CONFIG_FILE_MAX &&
	    (c = getc(ld->fp)) != EOF) {
		ld->bytes++;
		buf[len++] = (char)c;
		nul |= c == '\0';
		if (c == '\n')
			break;
	}
	if (len == 0)
		return NULL;
	buf[len] = '\0';
	ld->line++;
	ld->total_lines = ld->line;
	if (buf[len - 1] != '\n' && len == (size_t)size - 1)
		while (ld->bytes < CONFIG_FILE_MAX && (c = getc(ld->fp)) != EOF && c != '\n') {
			ld->bytes++;
			toolong = 1;
		}
	if (ld->bytes >= CONFIG_FILE_MAX && getc(ld->fp) != EOF) {
		err_add(ld->errs, ld->file, ld->line, "the file goes on past %d bytes: not a "
		    "configuration file", CONFIG_FILE_MAX);
		return NULL;
	}
	/* A UTF-8 byte order mark, as some editors write: not part of line 1. */
	if (ld->line == 1 && len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		memmove(buf, buf + 3, len - 2);
		len -= 3;
	}
	if (toolong || nul) {
		if (toolong)
			err_add(ld->errs, ld->file, ld->line, "line too long (at most %d characters; "
			    "split a list over indented continuation lines)", size - 2);
		else
			err_add(ld->errs, ld->file, ld->line, "the line holds a NUL byte");
		buf[0] = '\n';
		buf[1] = '\0';
		ld->prev_key = -1;
		return buf;
	}
	ld->line_continued = len > 0 && (buf[0] == ' ' || buf[0] == '\t');
	for (p = buf; isspace((unsigned char)*p); p++)
		;
	if (*p == '[' && (end = strchr(p, ']')) != NULL) {
		char name[128];

		snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
		loader_section(ld, name, ld->line);
	} else if (*p == '\0' || *p == '#' || *p == ';')
		ld->line_continued = 0;
	return buf;
}

static void
apply_default(void *base, const struct ckey *k, const char *defval)
{
	char whybuf[512];
	const char *why = NULL;

	if (value_set(base, k, defval, 0, whybuf, sizeof(whybuf), &why) == -1) {
		fprintf(stderr, "exfeedd: built-in default for %s is invalid: %s\n", k->name, why);
		abort();
	}
}

/*
 * A rule between two keys of one section is reported at whichever of them
 * the file set last (the one just written is the likely culprit), else at
 * the section's header.
 */
static unsigned
rule_line(const struct loader *ld, const char *sec, const char *a, const char *b)
{
	int ka = key_index(keys, NKEYS, sec, a), kb = key_index(keys, NKEYS, sec, b);
	unsigned la = ld->set_line[ka], lb = ld->set_line[kb];

	if (la || lb)
		return la > lb ? la : lb;
	return ld->section_line[section_index(sec)];
}

/* Why path cannot serve as alert_command, or NULL when it can. */
static const char *
alert_command_check(const char *path)
{
	static char why[600];
	struct stat st;

	if (stat(path, &st) == -1) {
		if (strpbrk(path, " \t") != NULL)
			snprintf(why, sizeof(why), "%s: no such file; it is the path of one program, "
			    "run without arguments and without a shell (put a command line with "
			    "arguments in a script, and name the script)", path);
		else
			snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
		return why;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, sizeof(why), "%s is not a regular file (the path of a program)", path);
		return why;
	}
	if ((st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
		snprintf(why, sizeof(why), "%s is not executable (chmod +x it)", path);
		return why;
	}
	return NULL;
}

static int
rule_bad(const struct loader *ld, const char *sec, const char *a, const char *b)
{
	return ld->bad != NULL && (ld->bad[key_index(keys, NKEYS, sec, a)] ||
	    ld->bad[key_index(keys, NKEYS, sec, b)]);
}

/* What the loader holds beside the config. */
static void
loader_release(struct loader *ld)
{
	free(ld->bad);
	free(ld->list_err);
	ld->bad = NULL;
	ld->list_err = NULL;
	if (ld->rkconf != NULL)
		rd_kafka_conf_destroy(ld->rkconf);
	ld->rkconf = NULL;
}

/*
 * Defaults, required keys and rules that involve more than one key.  With
 * any error collected the config is freed: -1.
 */
/*
 * [market] rules of one key: symbols "all" (every TRADING symbol of the
 * exchange) stands alone; book_snapshot_limit is one of the limits
 * GET /fapi/v1/depth takes (Binance "Order Book"); a kind is subscribed
 * at one speed.
 */
static void
market_check(struct loader *ld)
{
	static const int limits[] = { 5, 10, 20, 50, 100, 500, 1000 };
	struct config *cfg = ld->cfg;
	int ki;
	size_t i, j;

	ki = key_index(keys, NKEYS, "market", "symbols");
	if (!ld->bad[ki] && cfg->market_symbols.n > 1)
		for (i = 0; i < cfg->market_symbols.n; i++)
			if (strcmp(cfg->market_symbols.v[i], "all") == 0) {
				err_add(ld->errs, ld->file, ld->set_line[ki],
				    "[market] symbols: \"all\" cannot be combined with other symbols");
				break;
			}
	ki = key_index(keys, NKEYS, "market", "book_snapshot_limit");
	if (!ld->bad[ki]) {
		for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
			if (cfg->market_book_snapshot_limit == limits[i])
				break;
		if (i == sizeof(limits) / sizeof(limits[0]))
			err_add(ld->errs, ld->file, ld->set_line[ki],
			    "[market] book_snapshot_limit: %" PRId64 " is not one of: 5 10 20 50 100 500 1000",
			    cfg->market_book_snapshot_limit);
	}
	ki = key_index(keys, NKEYS, "market", "streams");
	for (i = 0; !ld->bad[ki] && i < cfg->market_streams.n; i++)
		for (j = 0; j < i; j++) {
			const char *a = cfg->market_streams.v[i], *b = cfg->market_streams.v[j];
			size_t la = strcspn(a, "@"), lb = strcspn(b, "@");

			if (la == lb && strncmp(a, b, la) == 0) {
				err_add(ld->errs, ld->file, ld->set_line[ki],
				    "[market] streams: %s and %s are one kind at two speeds", b, a);
				i = cfg->market_streams.n;
				break;
			}
		}
}

static int
loader_finish(struct loader *ld)
{
	struct config *cfg = ld->cfg;

	/* A list refused on many lines: its one error, with the count. */
	for (size_t i = 0; ld->list_err && i < NKEYS; i++) {
		struct strlist *l;
		char msg[1024];

		if (!ld->bad[i] || keys[i].type != T_LIST || ld->list_err[i].more == 0)
			continue;
		l = slot(cfg, &keys[i]);
		if ((int64_t)l->n > keys[i].max)
			snprintf(msg, sizeof(msg), "%s:%u: [%s] %s: too many items (%zu, at most %"
			    PRId64 ")", ld->file, ld->errs->v[ld->list_err[i].idx].line,
			    keys[i].section, keys[i].name, l->n, keys[i].max);
		else
			snprintf(msg, sizeof(msg), "%s (and %u more error%s on its continuation lines)",
			    ld->errs->v[ld->list_err[i].idx].msg, ld->list_err[i].more,
			    ld->list_err[i].more == 1 ? "" : "s");
		free(ld->errs->v[ld->list_err[i].idx].msg);
		ld->errs->v[ld->list_err[i].idx].msg = xstrdup(msg);
	}
	for (size_t i = 0; i < NKEYS; i++) {
		const struct ckey *k = &keys[i];

		if (ld->set_line[i])
			continue;
		if (k->flags & K_REQUIRED) {
			int si = section_index(k->section);
			unsigned line = ld->section_line[si] ? ld->section_line[si] : ld->total_lines;

			err_add(ld->errs, ld->file, line, "[%s] %s: required key is missing%s",
			    k->section, k->name, ld->section_line[si] ? "" : " (and so is its section)");
			continue;
		}
		apply_default(cfg, k, k->defval);
	}
	for (int e = 0; e < cfg->nex; e++) {
		size_t d;

		for (d = 0; strcmp(ex_defaults[d].name, cfg->ex[e].name) != 0; d++)
			;
		for (size_t i = 0; i < NEXKEYS; i++) {
			const char *def = exkeys[i].defval;

			if (cfg->ex_lines[e][i])
				continue;
			if (exkeys[i].off == E(rest_url))
				def = ex_defaults[d].rest_url;
			else if (exkeys[i].off == E(ws_url))
				def = ex_defaults[d].ws_url;
			else if (exkeys[i].off == E(rest_weight_budget))
				def = ex_defaults[d].weight;
			apply_default(&cfg->ex[e], &exkeys[i], def);
		}
	}
	/*
	 * A CA file the TLS clients could not load would fail every connection.
	 * Checked where the file is read; a worker's copy (config_unpack)
	 * was checked there, and net_new() checks it again as the worker.
	 */
	for (int e = 0; ld->from_file && e < cfg->nex; e++) {
		int ki = key_index(exkeys, NEXKEYS, NULL, "ca_file");
		char why[512];

		/* NULL where the section was refused before its keys were set. */
		if (cfg->ex[e].ca_file != NULL && cfg->ex[e].ca_file[0] &&
		    crypto_ca_file_check(cfg->ex[e].ca_file, why, sizeof(why)) == -1)
			err_add(ld->errs, ld->file, cfg->ex_lines[e][ki], "[exchange.%s] ca_file: %s",
			    cfg->ex[e].name, why);
	}
	/*
	 * alert_command is one program, run with execl and no arguments (no
	 * shell): "/bin/sh -c id" would be looked for as a file of that name.
	 */
	if (ld->from_file && cfg->alert_command != NULL && cfg->alert_command[0] != '\0') {
		int ki = key_index(keys, NKEYS, "userdata", "alert_command");
		const char *why = alert_command_check(cfg->alert_command);

		if (why != NULL)
			err_add(ld->errs, ld->file, ld->set_line[ki], "[userdata] alert_command: %s",
			    why);
	}
	/* A rule between two keys is about their values: none if either was refused. */
#define RULE(sec, a, b, cond)	(!rule_bad(ld, sec, a, b) && (cond))
	if (RULE("daemon", "respawn_delay_max", "respawn_delay_min",
	    cfg->respawn_delay_max_ms < cfg->respawn_delay_min_ms))
		err_add(ld->errs, ld->file, rule_line(ld, "daemon", "respawn_delay_max", "respawn_delay_min"),
		    "[daemon] respawn_delay_max: must not be below respawn_delay_min");
	if (RULE("daemon", "heartbeat_timeout", "heartbeat_interval",
	    cfg->heartbeat_timeout_ms < 2 * cfg->heartbeat_interval_ms))
		err_add(ld->errs, ld->file, rule_line(ld, "daemon", "heartbeat_timeout", "heartbeat_interval"),
		    "[daemon] heartbeat_timeout: must be at least twice heartbeat_interval");
	if (RULE("daemon", "ready_timeout", "heartbeat_interval",
	    cfg->ready_timeout_ms < cfg->heartbeat_interval_ms))
		err_add(ld->errs, ld->file, rule_line(ld, "daemon", "ready_timeout", "heartbeat_interval"),
		    "[daemon] ready_timeout: must not be below heartbeat_interval");
	if (RULE("userdata", "reconnect_delay_max", "reconnect_delay_min",
	    cfg->reconnect_delay_max_ms < cfg->reconnect_delay_min_ms))
		err_add(ld->errs, ld->file, rule_line(ld, "userdata", "reconnect_delay_max", "reconnect_delay_min"),
		    "[userdata] reconnect_delay_max: must not be below reconnect_delay_min");
	if (RULE("market", "reconnect_delay_max", "reconnect_delay_min",
	    cfg->market_reconnect_delay_max_ms < cfg->market_reconnect_delay_min_ms))
		err_add(ld->errs, ld->file, rule_line(ld, "market", "reconnect_delay_max", "reconnect_delay_min"),
		    "[market] reconnect_delay_max: must not be below reconnect_delay_min");
	if (RULE("market", "book_depth", "book_snapshot_limit",
	    cfg->market_book_depth > cfg->market_book_snapshot_limit))
		err_add(ld->errs, ld->file, rule_line(ld, "market", "book_depth", "book_snapshot_limit"),
		    "[market] book_depth: must not be above book_snapshot_limit");
	if (RULE("gateway", "tls_cert", "tls_key",
	    (cfg->gateway_tls_cert[0] == '\0') != (cfg->gateway_tls_key[0] == '\0')))
		err_add(ld->errs, ld->file, rule_line(ld, "gateway", "tls_cert", "tls_key"),
		    "[gateway] %s is set but %s is not: TLS needs both",
		    cfg->gateway_tls_cert[0] ? "tls_cert" : "tls_key",
		    cfg->gateway_tls_cert[0] ? "tls_key" : "tls_cert");
#undef RULE
	market_check(ld);
	loader_release(ld);
	if (ld->errs->n) {
		config_free(cfg);
		return -1;
	}
	return 0;
}

static void
loader_begin(struct loader *ld, struct config *cfg, struct config_errors *errs, const char *file)
{
	memset(cfg, 0, sizeof(*cfg));
	memset(ld, 0, sizeof(*ld));
	cfg->file = xstrdup(file);
	if ((cfg->lines = calloc(NKEYS, sizeof(unsigned))) == NULL)
		abort();
	ld->cfg = cfg;
	ld->errs = errs;
	ld->file = cfg->file;
	ld->set_line = cfg->lines;
	if ((ld->bad = calloc(NKEYS, 1)) == NULL ||
	    (ld->list_err = calloc(NKEYS, sizeof(*ld->list_err))) == NULL)
		abort();
	ld->cur_ex = -1;
	ld->prev_key = -1;
}

/*
 * The file, if it is a regular file of at most CONFIG_FILE_MAX bytes: a
 * directory, a device (-c /dev/zero would be read for ever) or a pipe is
 * refused with FILE:0.  errs NULL: silently.
 */
static FILE *
config_open(const char *path, struct config_errors *errs)
{
	struct stat st;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errs)
			err_add(errs, path, 0, "cannot read the configuration file: %s",
			    strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		if (errs)
			err_add(errs, path, 0, "not a regular file: the configuration is a text file");
		fclose(fp);
		return NULL;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		if (errs)
			err_add(errs, path, 0, "the file is %lld bytes, more than a configuration file "
			    "can be (at most %d)", (long long)st.st_size, CONFIG_FILE_MAX);
		fclose(fp);
		return NULL;
	}
	return fp;
}

int
config_load(const char *path, struct config *cfg, struct config_errors *errs)
{
	struct loader ld;
	int rc;

	memset(errs, 0, sizeof(*errs));
	loader_begin(&ld, cfg, errs, path);
	if ((ld.fp = config_open(path, errs)) == NULL) {
		loader_release(&ld);
		config_free(cfg);
		return -1;
	}
	ld.from_file = 1;
	rc = ini_parse_stream(ini_reader_cb, &ld, ini_handler_cb, &ld);
	if (ferror(ld.fp))
		err_add(errs, path, ld.line, "read error: %s", strerror(errno));
	fclose(ld.fp);
	if (rc > 0)
		err_add(errs, path, (unsigned)rc, "syntax error: expected \"[section]\" or \"key = value\"");
	else if (rc < 0)
		err_add(errs, path, 0, "out of memory while reading");
	return loader_finish(&ld);
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++)
		value_free(cfg, &keys[i]);
	kafka_prop_free(cfg->kafka_props, cfg->kafka_nprops);
	for (int e = 0; e < cfg->nex; e++) {
		for (size_t i = 0; i < NEXKEYS; i++)
			value_free(&cfg->ex[e], &exkeys[i]);
		free(cfg->ex[e].name);
	}
	free(cfg->lines);
	free(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}

void
config_errors_print(const struct config_errors *errs, FILE *fp)
{
	for (size_t i = 0; i < errs->n; i++)
		fprintf(fp, "%s\n", errs->v[i].msg);
}

const char *
config_errors_first(const struct config_errors *errs)
{
	return errs->n ? errs->v[0].msg : "";
}

void
config_errors_free(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->v[i].msg);
	free(errs->v);
	memset(errs, 0, sizeof(*errs));
}

/* ------------------------------------------------------- dump, pack, diff */

/*
 * The value as the file would write it, malloc'd: a list of 1024 symbols
 * does not fit any fixed buffer, and a cut one would travel to the workers
 * (config_pack) cut.
 */
static char *
value_format(const void *base, const struct ckey *k)
{
	const void *p = (const char *)base + k->off;
	struct strbuf b = { NULL, 0, 0, 0 };
	char buf[320];

	switch (k->type) {
	case T_INT: case T_SIZE:
		snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)p);
		break;
	case T_DURATION:
		config_format_duration(*(const int64_t *)p, buf, sizeof(buf));
		break;
	case T_BOOL:
		snprintf(buf, sizeof(buf), "%s", *(const int *)p ? "yes" : "no");
		break;
	case T_ENUM:
		snprintf(buf, sizeof(buf), "%s", k->enums[*(const int *)p]);
		break;
	case T_LIST: {
		const struct strlist *l = p;

		buf[0] = '\0';
		for (size_t i = 0; i < l->n; i++) {
			if (i)
				strbuf_puts(&b, ", ");
			strbuf_puts(&b, l->v[i]);
		}
		break;
	}
	case T_HOSTPORT: {
		const struct hostport *hp = p;
		snprintf(buf, sizeof(buf), strchr(hp->host, ':') ? "[%s]:%u" : "%s:%u", hp->host,
		    hp->port);
		break;
	}
	default:
		strbuf_puts(&b, *(char *const *)p ? *(char *const *)p : "");
		buf[0] = '\0';
		break;
	}
	strbuf_puts(&b, buf);
	if (b.oom)
		abort();
	return b.p ? b.p : xstrdup("");
}

/* Visit every key of the effective config in file order. */
typedef void (*visit_fn)(const char *section, const struct ckey *, const void *base,
    unsigned line, void *arg);

static void
config_visit(const struct config *cfg, visit_fn fn, void *arg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		fn(keys[i].section, &keys[i], cfg, cfg->lines ? cfg->lines[i] : 0, arg);
		if (strcmp(keys[i].section, "kafka") != 0 ||
		    (i + 1 < NKEYS && strcmp(keys[i + 1].section, "kafka") == 0))
			continue;
		/* After the last [kafka] key, its rdkafka.* lines, in file order. */
		for (size_t p = 0; p < cfg->kafka_nprops; p++) {
			const struct kafka_prop *kp = &cfg->kafka_props[p];
			char name[300];
			struct ckey k = { "kafka", name, T_STR, NULL, 0, 0, NULL,
			    K_NORELOAD | (config_kafka_prop_secret(kp->name) ? K_SECRET : 0),
			    offsetof(struct kafka_prop, value) };

			snprintf(name, sizeof(name), KAFKA_PROP_PREFIX "%s", kp->name);
			fn("kafka", &k, kp, kp->line, arg);
		}
	}
	for (int e = 0; e < cfg->nex; e++) {
		char sec[64];

		snprintf(sec, sizeof(sec), "exchange.%s", cfg->ex[e].name);
		for (size_t i = 0; i < NEXKEYS; i++)
			fn(sec, &exkeys[i], &cfg->ex[e], cfg->ex_lines[e][i], arg);
	}
}

#define DUMP_WIDTH	78	/* columns, a tab counted as 8 */

struct dump_state {
	FILE		*fp;
	char		 section[64];
};

static void
dump_one(const char *section, const struct ckey *k, const void *base, unsigned line, void *arg)
{
	struct dump_state *ds = arg;
	char *val;

	(void)line;
	if (strcmp(ds->section, section) != 0) {
		fprintf(ds->fp, "%s[%s]\n", ds->section[0] ? "\n" : "", section);
		snprintf(ds->section, sizeof(ds->section), "%s", section);
	}
	if (k->type == T_LIST) {
		/*
		 * Over indented continuation lines: the reader takes lines of at
		 * most 198 characters, and a list can be far longer than one.  A
		 * line ends without a comma, and an item that does not fit after
		 * the key starts a continuation line, so that an item the reader
		 * took (at most 197 characters after the indent) fits one again.
		 */
		const struct strlist *l = (const void *)((const char *)base + k->off);
		size_t col = strlen(k->name) + 2;
		int fresh = 0;		/* at the start of a continuation line */

		fprintf(ds->fp, "%s =", k->name);
		for (size_t i = 0; i < l->n; i++) {
			size_t n = strlen(l->v[i]), sep = i ? 2 : 1;

			if (col + sep + n > DUMP_WIDTH) {
				fputs("\n\t", ds->fp);
				col = 8;
				fresh = 1;
			}
			if (!fresh) {
				fputs(i ? ", " : " ", ds->fp);
				col += sep;
			}
			fputs(l->v[i], ds->fp);
			col += n;
			fresh = 0;
		}
		fputc('\n', ds->fp);
		return;
	}
	/* A secret is never printed, in -nv or anywhere else. */
	val = (k->flags & K_SECRET) ? xstrdup("(hidden)") : value_format(base, k);
	fprintf(ds->fp, "%s =%s%s\n", k->name, val[0] ? " " : "", val);
	free(val);
}

void
config_dump(const struct config *cfg, FILE *fp)
{
	struct dump_state ds = { fp, "" };

	config_visit(cfg, dump_one, &ds);
}

static void
pack_str(msgpack_packer *pk, const char *s)
{
	size_t len = strlen(s);

	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

static void
pack_one(const char *section, const struct ckey *k, const void *base, unsigned line, void *arg)
{
	msgpack_packer *pk = arg;
	char *val = value_format(base, k);

	msgpack_pack_array(pk, 4);
	pack_str(pk, section);
	pack_str(pk, k->name);
	pack_str(pk, val);
	msgpack_pack_uint32(pk, line);
	free(val);
}

static void
count_one(const char *section, const struct ckey *k, const void *base, unsigned line, void *arg)
{
	(*(size_t *)arg)++;
}

/* The config travels as { "file": str, "keys": [[section, key, value, line], ...] }. */
int
config_pack(const struct config *cfg, msgpack_packer *pk)
{
	size_t n = 0;

	config_visit(cfg, count_one, &n);
	msgpack_pack_map(pk, 2);
	pack_str(pk, "file");
	pack_str(pk, cfg->file);
	pack_str(pk, "keys");
	msgpack_pack_array(pk, (uint32_t)n);
	config_visit(cfg, pack_one, pk);
	return 0;
}

static int
obj_str(const msgpack_object *o, char *buf, size_t len)
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= len)
		return -1;
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 0;
}

int
config_unpack(const msgpack_object *o, struct config *cfg, struct config_errors *errs)
{
	const msgpack_object *file = NULL, *list = NULL;
	char fname[4096], last_section[128] = "";
	struct loader ld;

	memset(errs, 0, sizeof(*errs));
	/* NULL: the message had no config at all (mp_get found none). */
	if (o == NULL || o->type != MSGPACK_OBJECT_MAP)
		return -1;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		char key[16];

		if (obj_str(&kv->key, key, sizeof(key)) == -1)
			return -1;
		if (strcmp(key, "file") == 0)
			file = &kv->val;
		else if (strcmp(key, "keys") == 0)
			list = &kv->val;
	}
	if (file == NULL || list == NULL || list->type != MSGPACK_OBJECT_ARRAY ||
	    obj_str(file, fname, sizeof(fname)) == -1)
		return -1;
	loader_begin(&ld, cfg, errs, fname);
	for (uint32_t i = 0; i < list->via.array.size; i++) {
		const msgpack_object *e = &list->via.array.ptr[i];
		char section[128], key[256], *val;
		unsigned line;

		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 4 ||
		    obj_str(&e->via.array.ptr[0], section, sizeof(section)) == -1 ||
		    obj_str(&e->via.array.ptr[1], key, sizeof(key)) == -1 ||
		    e->via.array.ptr[2].type != MSGPACK_OBJECT_STR ||
		    e->via.array.ptr[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			loader_release(&ld);
			config_free(cfg);
			return -1;
		}
		line = (unsigned)e->via.array.ptr[3].via.u64;
		if (strcmp(section, last_section) != 0) {
			loader_section(&ld, section, line);
			snprintf(last_section, sizeof(last_section), "%s", section);
		}
		val = strndup(e->via.array.ptr[2].via.str.ptr, e->via.array.ptr[2].via.str.size);
		if (val == NULL)
			abort();
		ld.line_continued = 0;
		loader_value(&ld, key, val, line);
		free(val);
	}
	/* Keys that travelled with line 0 are defaults: this re-applies the same value. */
	return loader_finish(&ld);
}

/*
 * The rdkafka.* lines, by name: changed, added and removed ones (a secret's
 * value goes to cb as "(hidden)").  None can change at runtime.
 */
static int
kafka_props_diff(const struct config *old, const struct config *new, config_diff_cb cb, void *arg)
{
	int changed = 0;

	for (int pass = 0; pass < 2; pass++) {
		const struct config *x = pass ? new : old, *y = pass ? old : new;

		for (size_t i = 0; i < x->kafka_nprops; i++) {
			const struct kafka_prop *xp = &x->kafka_props[i];
			const struct kafka_prop *yp = kafka_prop_find(y, xp->name);
			int secret = config_kafka_prop_secret(xp->name);
			char key[300];

			if (yp != NULL && (pass || strcmp(xp->value, yp->value) == 0))
				continue;
			snprintf(key, sizeof(key), KAFKA_PROP_PREFIX "%s", xp->name);
			if (yp == NULL)
				cb("kafka", key, 0, pass ? "(absent)" : secret ? "(hidden)" : xp->value,
				    pass ? secret ? "(hidden)" : xp->value : "(absent)", arg);
			else
				cb("kafka", key, 0, secret ? "(hidden)" : xp->value,
				    secret ? "(hidden)" : yp->value, arg);
			changed++;
		}
	}
	return changed;
}

int
config_diff(const struct config *old, const struct config *new, config_diff_cb cb, void *arg)
{
	char *a, *b;
	int changed = 0;

	for (size_t i = 0; i < NKEYS; i++) {
		a = value_format(old, &keys[i]);
		b = value_format(new, &keys[i]);
		if (strcmp(a, b) != 0) {
			cb(keys[i].section, keys[i].name, !(keys[i].flags & K_NORELOAD), a, b, arg);
			changed++;
		}
		free(a);
		free(b);
	}
	changed += kafka_props_diff(old, new, cb, arg);
	/* Exchange sections: compare by name; added or removed ones count too. */
	for (int pass = 0; pass < 2; pass++) {
		const struct config *x = pass ? new : old, *y = pass ? old : new;

		for (int e = 0; e < x->nex; e++) {
			int f;
			char sec[64];

			for (f = 0; f < y->nex && strcmp(y->ex[f].name, x->ex[e].name) != 0; f++)
				;
			snprintf(sec, sizeof(sec), "exchange.%s", x->ex[e].name);
			if (f == y->nex) {
				cb(sec, "(section)", 1, pass ? "(absent)" : "(present)",
				    pass ? "(present)" : "(absent)", arg);
				changed++;
				continue;
			}
			if (pass)
				continue;
			for (size_t i = 0; i < NEXKEYS; i++) {
				a = value_format(&x->ex[e], &exkeys[i]);
				b = value_format(&y->ex[f], &exkeys[i]);
				if (strcmp(a, b) != 0) {
					cb(sec, exkeys[i].name, 1, a, b, arg);
					changed++;
				}
				free(a);
				free(b);
			}
		}
	}
	return changed;
}

static void
count_diff_cb(const char *section, const char *key, int reloadable, const char *a,
    const char *b, void *arg)
{
	(*(int *)arg)++;
}

static int
kafka_props_differ(const struct config *a, const struct config *b)
{
	int n = 0;

	kafka_props_diff(a, b, count_diff_cb, &n);
	return n != 0;
}

/* Reload: keys that cannot change at runtime keep their running value. */
int
config_keep_static(struct config *new, const struct config *old)
{
	char whybuf[256];
	const char *why;
	int kept = 0;

	for (size_t i = 0; i < NKEYS; i++) {
		char *val, *cur;

		if (!(keys[i].flags & K_NORELOAD))
			continue;
		val = value_format(old, &keys[i]);
		cur = value_format(new, &keys[i]);
		if (strcmp(val, cur) != 0 &&
		    value_set(new, &keys[i], val, 0, whybuf, sizeof(whybuf), &why) == 0) {
			new->lines[i] = old->lines[i];
			kept++;
		}
		free(val);
		free(cur);
	}
	if (kafka_props_differ(old, new)) {
		kafka_prop_free(new->kafka_props, new->kafka_nprops);
		new->kafka_props = NULL;
		new->kafka_nprops = 0;
		for (size_t p = 0; p < old->kafka_nprops; p++)
			kafka_prop_add(new, old->kafka_props[p].name, old->kafka_props[p].value,
			    old->kafka_props[p].line);
		kept++;
	}
	return kept;
}

struct peek {
	const char	*section, *key;
	char		*buf;
	size_t		 len;
	int		 found;
};

static int
peek_cb(void *arg, const char *section, const char *name, const char *value)
{
	struct peek *pk = arg;

	if (strcmp(section, pk->section) == 0 && strcmp(name, pk->key) == 0) {
		snprintf(pk->buf, pk->len, "%s", value);
		pk->found = 1;
	}
	return 1;
}

/*
 * One raw value, however broken the rest of the file is: exfeedctl must
 * find the control socket to tell the daemon to reload a file being fixed.
 */
int
config_peek(const char *path, const char *section, const char *key, char *buf, size_t len)
{
	struct peek pk = { section, key, buf, len, 0 };
	FILE *fp = config_open(path, NULL);
	int rc;

	if (fp == NULL)
		return -1;
	rc = ini_parse_file(fp, peek_cb, &pk);
	fclose(fp);
	if (rc < 0)
		return -1;
	return pk.found ? 0 : -1;
}

const char *
config_default(const char *section, const char *key)
{
	int ki = key_index(keys, NKEYS, section, key);

	return ki >= 0 ? keys[ki].defval : NULL;
}

int
config_facility(int idx)
{
	return facility_val[idx];
}

const char *
config_compression(int idx)
{
	return compression_enum[idx];
}

int
config_has_broker(const struct config *cfg)
{
	return strcmp(cfg->kafka_brokers, "embedded") == 0;
}

int
config_kafka_on(const struct config *cfg)
{
	return cfg->kafka_brokers[0] != '\0';
}

int
config_line_of(const struct config *cfg, const char *section, const char *key)
{
	int ki = key_index(keys, NKEYS, section, key);
	const struct kafka_prop *kp;

	if (ki == -1 && strcmp(section, "kafka") == 0 &&
	    strncmp(key, KAFKA_PROP_PREFIX, strlen(KAFKA_PROP_PREFIX)) == 0 &&
	    (kp = kafka_prop_find(cfg, key + strlen(KAFKA_PROP_PREFIX))) != NULL)
		return (int)kp->line;
	return ki >= 0 && cfg->lines ? (int)cfg->lines[ki] : 0;
}
