/*
 * metrics.c: the Prometheus text exposition of the workers' status maps
 * (metrics.h).  Format 0.0.4 (prometheus.io, "Exposition formats"): per
 * family `# HELP name text` (backslash and newline escaped), `# TYPE name
 * type`, then its samples `name{label="value",...} value`, label values
 * with backslash, double quote and newline escaped; a histogram's
 * name_bucket samples are cumulative, end with le="+Inf" (= name_count),
 * and are followed by name_sum and name_count.
 *
 * What a worker reports becomes a metric in one of two ways.  The tables
 * below name the metrics that matter (doc/metrics.md lists them with their
 * labels); every other number or boolean of a role's map, at any depth of
 * maps not owned by a table entry, comes out under a generic name,
 * exfeedd_ROLE_PATH (the keys joined by '_', a trailing _ms or _us turned
 * into _seconds), as an untyped metric.  Strings are not metrics.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "mpack.h"
#include "strbuf.h"

#define MAX_LABELS	8
#define MAX_DEPTH	4		/* of the generic walk through nested maps */
#define PATH_LEN	256

struct family {
	char		*name;
	char		*help;
	enum metric_type type;
	struct strbuf	 body;
};

struct metrics {
	struct family	*fam;
	size_t		 n, cap;
	size_t		 refused;
};

static const char *const type_names[] = { "counter", "gauge", "histogram", "untyped" };

struct metrics *
metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->fam[i].name);
		free(m->fam[i].help);
		free(m->fam[i].body.p);
	}
	free(m->fam);
	free(m);
}

size_t
metrics_refused(const struct metrics *m)
{
	return m->refused;
}

static int
valid_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
			return 0;
	return 1;
}

static int
valid_label_name(const char *s)
{
	return *s && strchr(s, ':') == NULL && valid_name(s) && strncmp(s, "__", 2) != 0;
}

static struct family *
family(struct metrics *m, const char *name, enum metric_type type, const char *help)
{
	struct family *f;

	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->fam[i].name, name) == 0) {
			if (m->fam[i].type != type) {
				m->refused++;
				return NULL;
			}
			return &m->fam[i];
		}
	if (!valid_name(name)) {
		m->refused++;
		return NULL;
	}
	if (m->n == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		struct family *nf = realloc(m->fam, ncap * sizeof(*nf));

		if (nf == NULL)
			return NULL;
		m->fam = nf;
		m->cap = ncap;
	}
	f = &m->fam[m->n];
	memset(f, 0, sizeof(*f));
	f->type = type;
	if ((f->name = strdup(name)) == NULL || (f->help = strdup(help ? help : "")) == NULL) {
		free(f->name);
		return NULL;
	}
	m->n++;
	return f;
}

/* A label value: \ " and newline escaped (the format's only escapes). */
static void
put_escaped(struct strbuf *sb, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			strbuf_puts(sb, "\\\\");
		else if (*s == '\n')
			strbuf_puts(sb, "\\n");
		else if (*s == '"' && quote)
			strbuf_puts(sb, "\\\"");
		else
			strbuf_put(sb, s, 1);
	}
}

/* {a="x",b="y"} (with extra, the le of a bucket, last), or nothing. */
static void
put_labels(struct strbuf *sb, const struct metric_label *l, size_t n, const char *le)
{
	size_t k = 0;

	if (n == 0 && le == NULL)
		return;
	strbuf_puts(sb, "{");
	for (size_t i = 0; i < n; i++) {
		if (l[i].value == NULL)
			continue;
		strbuf_puts(sb, k++ ? "," : "");
		strbuf_puts(sb, l[i].name);
		strbuf_puts(sb, "=\"");
		put_escaped(sb, l[i].value, 1);
		strbuf_puts(sb, "\"");
	}
	if (le) {
		strbuf_puts(sb, k ? "," : "");
		strbuf_puts(sb, "le=\"");
		strbuf_puts(sb, le);
		strbuf_puts(sb, "\"");
	}
	strbuf_puts(sb, "}");
}

/*
 * The shortest %g form that reads back as v: 0.05, not 0.050000000000000003;
 * at least 6 digits of precision, so that 10 is "10" (not "1e+01"), as Go's
 * FormatFloat(v, 'g', -1, 64) writes a histogram's le.
 */
static void
shortest(char *buf, size_t len, double v)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, len, "%.*g", p < 6 ? 6 : p, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* A value as Go's ParseFloat reads it: integers exactly, +Inf, -Inf, NaN. */
static void
put_value(struct strbuf *sb, double v)
{
	char buf[64];

	if (isnan(v))
		snprintf(buf, sizeof(buf), "NaN");
	else if (isinf(v))
		snprintf(buf, sizeof(buf), v > 0 ? "+Inf" : "-Inf");
	else if (v > -9007199254740992. && v < 9007199254740992. && v == (double)(int64_t)v)
		snprintf(buf, sizeof(buf), "%lld", (long long)v);
	else
		shortest(buf, sizeof(buf), v);
	strbuf_puts(sb, buf);
}

static int
labels_ok(struct metrics *m, const struct metric_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!valid_label_name(l[i].name) || strcmp(l[i].name, "le") == 0) {
			m->refused++;
			return 0;
		}
	return 1;
}

int
metrics_add(struct metrics *m, const char *name, enum metric_type type, const char *help,
    const struct metric_label *l, size_t n, double v)
{
	struct family *f;

	if (type == METRIC_HISTOGRAM || !labels_ok(m, l, n) ||
	    (f = family(m, name, type, help)) == NULL)
		return -1;
	strbuf_puts(&f->body, name);
	put_labels(&f->body, l, n, NULL);
	strbuf_puts(&f->body, " ");
	put_value(&f->body, v);
	strbuf_puts(&f->body, "\n");
	return f->body.oom ? -1 : 0;
}

int
metrics_hist(struct metrics *m, const char *name, const char *help,
    const struct metric_label *l, size_t n, const double *le, const uint64_t *counts,
    size_t nb, double sum)
{
	struct family *f;
	uint64_t cum = 0;
	char buf[64];

	if (!labels_ok(m, l, n) || (f = family(m, name, METRIC_HISTOGRAM, help)) == NULL)
		return -1;
	for (size_t i = 0; i <= nb; i++) {
		cum += counts[i];
		if (i < nb)
			shortest(buf, sizeof(buf), le[i]);
		else
			snprintf(buf, sizeof(buf), "+Inf");
		strbuf_puts(&f->body, name);
		strbuf_puts(&f->body, "_bucket");
		put_labels(&f->body, l, n, buf);
		strbuf_puts(&f->body, " ");
		put_value(&f->body, (double)cum);
		strbuf_puts(&f->body, "\n");
	}
	strbuf_puts(&f->body, name);
	strbuf_puts(&f->body, "_sum");
	put_labels(&f->body, l, n, NULL);
	strbuf_puts(&f->body, " ");
	put_value(&f->body, sum);
	strbuf_puts(&f->body, "\n");
	strbuf_puts(&f->body, name);
	strbuf_puts(&f->body, "_count");
	put_labels(&f->body, l, n, NULL);
	strbuf_puts(&f->body, " ");
	put_value(&f->body, (double)cum);
	strbuf_puts(&f->body, "\n");
	return f->body.oom ? -1 : 0;
}

int
metrics_render(const struct metrics *m, struct strbuf *sb)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct family *f = &m->fam[i];

		if (f->body.oom)
			return -1;
		strbuf_puts(sb, "# HELP ");
		strbuf_puts(sb, f->name);
		strbuf_puts(sb, " ");
		put_escaped(sb, f->help, 0);
		strbuf_puts(sb, "\n# TYPE ");
		strbuf_puts(sb, f->name);
		strbuf_puts(sb, " ");
		strbuf_puts(sb, type_names[f->type]);
		strbuf_puts(sb, "\n");
		if (f->body.len)
			strbuf_put(sb, f->body.p, f->body.len);
	}
	return sb->oom ? -1 : 0;
}

/* ------------------------------------------------------------ status maps */

/* A number (integer, float or boolean) as a double: 0, or -1 for anything else. */
static int
num(const msgpack_object *o, double *v)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*v = (double)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = (double)o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*v = o->via.f64;
		return 0;
	case MSGPACK_OBJECT_BOOLEAN:
		*v = o->via.boolean ? 1 : 0;
		return 0;
	default:
		return -1;
	}
}

/* A msgpack string into buf (NUL-terminated, cut to fit): 0, or -1 if not a string. */
static int
str(const msgpack_object *o, char *buf, size_t len)
{
	size_t n;

	if (o == NULL || o->type != MSGPACK_OBJECT_STR || len == 0)
		return -1;
	n = o->via.str.size < len - 1 ? o->via.str.size : len - 1;
	memcpy(buf, o->via.str.ptr, n);
	buf[n] = '\0';
	/* A label value is text: a NUL in the middle would cut it; make it visible. */
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = '?';
	return 0;
}

static const msgpack_object *
get_map(const msgpack_object *o, const char *key)
{
	const msgpack_object *v = o && o->type == MSGPACK_OBJECT_MAP ? mp_get(o, key) : NULL;

	return v && v->type == MSGPACK_OBJECT_MAP ? v : NULL;
}

/*
 * One table entry: the value at path (keys separated by '/') of a role's
 * status map.  Kinds:
 *   number: the value is a number or boolean;
 *   map: the value is a map of numbers, its keys in the label `label`;
 *   each: path is MAP, a star component, KEY ("books/<star>/synced"): for
 *         every key of MAP (in label `label`), its map's KEY;
 *   hist: the value is a hist.h map;
 *   equal: the value is a string: 1 when it equals `eq`, else 0.
 * scale divides the value (ms → s: 1000; a division, so that 100 µs is
 * exactly the double 0.0001); xname/xval add a fixed label.
 */
enum mkind { MK_NUMBER, MK_MAP, MK_EACH, MK_HIST, MK_EQUAL };

struct mdef {
	const char	*path;
	enum mkind	 kind;
	const char	*name;
	enum metric_type type;
	const char	*help;
	const char	*label;
	double		 scale;
	const char	*xname, *xval;
	const char	*eq;
};

#define CNT(p, n, h)		{ p, MK_NUMBER, n, METRIC_COUNTER, h, NULL, 0, NULL, NULL, NULL }
#define GAU(p, n, h)		{ p, MK_NUMBER, n, METRIC_GAUGE, h, NULL, 0, NULL, NULL, NULL }
#define GAUS(p, n, s, h)	{ p, MK_NUMBER, n, METRIC_GAUGE, h, NULL, s, NULL, NULL, NULL }
#define CNTX(p, n, x, v, h)	{ p, MK_NUMBER, n, METRIC_COUNTER, h, NULL, 0, x, v, NULL }
#define GAUX(p, n, x, v, h)	{ p, MK_NUMBER, n, METRIC_GAUGE, h, NULL, 0, x, v, NULL }
#define CMAP(p, n, l, h)	{ p, MK_MAP, n, METRIC_COUNTER, h, l, 0, NULL, NULL, NULL }
#define GMAP(p, n, l, h)	{ p, MK_MAP, n, METRIC_GAUGE, h, l, 0, NULL, NULL, NULL }
#define CEACH(p, n, l, h)	{ p, MK_EACH, n, METRIC_COUNTER, h, l, 0, NULL, NULL, NULL }
#define CEACHX(p, n, l, x, v, h) { p, MK_EACH, n, METRIC_COUNTER, h, l, 0, x, v, NULL }
#define GEACH(p, n, l, h)	{ p, MK_EACH, n, METRIC_GAUGE, h, l, 0, NULL, NULL, NULL }
#define GEACHS(p, n, l, s, h)	{ p, MK_EACH, n, METRIC_GAUGE, h, l, s, NULL, NULL, NULL }
#define EQEACH(p, n, l, e, h)	{ p, MK_EACH, n, METRIC_GAUGE, h, l, 0, NULL, NULL, e }
#define HIST(p, n, h)		{ p, MK_HIST, n, METRIC_HISTOGRAM, h, NULL, 0, NULL, NULL, NULL }
#define EQ(p, n, e, h)		{ p, MK_EQUAL, n, METRIC_GAUGE, h, NULL, 0, NULL, NULL, e }
#define MS	1000.		/* divisors: ms → s, µs → s */
#define US	1000000.

/* Both exchange workers: the REST host budget, the data plane, addresses. */
#define REST_REJECTED	"exfeedd_rest_rejected_total"
#define REST_REJECTED_H	"REST answers HTTP 429 (over a rate limit) or 418 (IP banned), by purpose"

static const struct mdef account_defs[] = {
	GAU("accounts", "exfeedd_account_shard_accounts", "Accounts this shard serves"),
	GMAP("accounts_by_state", "exfeedd_accounts", "state", "Accounts by the state of their user data stream"),
	GAU("resyncs_pending", "exfeedd_account_resyncs_pending", "Accounts waiting for a REST resync"),
	GAU("resyncs_running", "exfeedd_account_resyncs_running", "REST resyncs in progress"),
	GAU("connections", "exfeedd_account_connections", "User data WebSocket connections (groups of accounts)"),
	GAU("connections_open", "exfeedd_account_connections_open", "User data WebSocket connections open now"),
	CNT("reconciles", "exfeedd_account_reconciles_total", "Reconciliations of the account list with PostgreSQL"),
	CNT("reconnects", "exfeedd_account_reconnects_total", "User data WebSocket reconnects"),
	CNT("messages", "exfeedd_account_messages_total", "User data WebSocket messages received"),
	CNT("malformed", "exfeedd_account_parse_errors_total", "User data messages that could not be parsed (counted, logged, dropped)"),
	CNT("unknown", "exfeedd_account_messages_unknown_total", "User data messages of an event type we do not know"),
	CNT("unrouted", "exfeedd_account_messages_unrouted_total", "User data messages for no account of this shard"),
	CNT("duplicates", "exfeedd_account_duplicates_total", "Duplicate events dropped"),
	CNT("events", "exfeedd_account_events_total", "Events handed to the writer"),
	CNT("events_dropped", "exfeedd_account_events_dropped_total", "Events dropped before the writer (healed by a resync)"),
	CNT("fields_defaulted", "exfeedd_account_fields_defaulted_total", "Events with a missing optional field defaulted"),
	CNT("invalid_events", "exfeedd_account_events_invalid_total", "Events refused as invalid"),
	CMAP("events_by_type", "exfeedd_events_received_total", "type", "Events received from the exchange, by event type"),
	CNTX("renewals_ok", "exfeedd_listen_key_renewals_total", "result", "ok", "Listen key keepalives (PUT listenKey), by result"),
	CNTX("renewals_failed", "exfeedd_listen_key_renewals_total", "result", "failed", "Listen key keepalives (PUT listenKey), by result"),
	CNT("listen_keys_created", "exfeedd_listen_keys_created_total", "Listen keys created (POST listenKey)"),
	CNT("keys_doubted", "exfeedd_listen_keys_doubted_total", "Listen keys suspected expired and replaced"),
	CNT("resyncs_started", "exfeedd_resyncs_started_total", "REST resyncs started"),
	CNT("resyncs_done", "exfeedd_resyncs_done_total", "REST resyncs completed"),
	CNT("resyncs_failed", "exfeedd_resyncs_failed_total", "REST resyncs failed (retried)"),
	CNT("resyncs_incomplete", "exfeedd_resyncs_incomplete_total", "REST resyncs that skipped items"),
	CNT("resync_requests", "exfeedd_resync_requests_total", "REST requests made by resyncs"),
	CNT("resync_weight", "exfeedd_resync_weight_total", "REST weight spent by resyncs"),
	CNT("resync_rows_dropped", "exfeedd_resync_rows_dropped_total", "Resync rows dropped"),
	CNT("resync_rows_superseded", "exfeedd_resync_rows_superseded_total", "Resync rows superseded by newer stream events"),
	CNT("resync_restates", "exfeedd_resync_restates_total", "State restated by resyncs"),
	CNT("resync_items_skipped", "exfeedd_resync_items_skipped_total", "Resync items skipped after their retry bound"),
	CNT("gaps_opened", "exfeedd_gaps_opened_total", "Gaps opened (events possibly missed: a disconnect, an overflow)"),
	CNT("gaps_healed", "exfeedd_gaps_healed_total", "Gaps healed by a resync"),
	CNT("overflow_resyncs", "exfeedd_account_overflow_resyncs_total", "Resyncs after a data plane overflow"),
	CNT("quarantines", "exfeedd_account_quarantines_total", "Accounts quarantined"),
	CNT("margin_calls", "exfeedd_account_margin_calls_total", "Margin calls received"),
	CNT("alerts", "exfeedd_account_alerts_total", "Account alerts raised"),
	CNT("alerts_dropped", "exfeedd_account_alerts_dropped_total", "Account alerts dropped"),
	CNT("alerts_killed", "exfeedd_account_alerts_killed_total", "Connections closed on an account alert"),
	CNT("silence_kills", "exfeedd_account_silence_kills_total", "User data connections closed for silence"),
	CNT("subscribe_timeouts", "exfeedd_account_subscribe_timeouts_total", "Subscriptions not answered in time"),
	CNT("probes", "exfeedd_account_probes_total", "Liveness probes sent on user data connections"),
	CNT("drains", "exfeedd_account_drains_total", "Connections drained for replacement"),
	CNT("drains_failed", "exfeedd_account_drains_failed_total", "Connection drains that failed"),
	CNT("max_age_rebuilds", "exfeedd_account_max_age_rebuilds_total", "Connections rebuilt before the exchange's 24 h limit"),
	CNT("max_age_deferred", "exfeedd_account_max_age_deferred_total", "Max-age rebuilds deferred"),
	CNTX("rest_requests", "exfeedd_rest_requests_total", "purpose", "userdata", "REST requests, by purpose"),
	CNTX("rest_errors", "exfeedd_rest_errors_total", "purpose", "userdata", "REST requests that failed, by purpose"),
	{ "http_429", MK_NUMBER, REST_REJECTED, METRIC_COUNTER, REST_REJECTED_H, NULL, 0, "purpose", "userdata/429", NULL },
	{ "http_418", MK_NUMBER, REST_REJECTED, METRIC_COUNTER, REST_REJECTED_H, NULL, 0, "purpose", "userdata/418", NULL },
	CNT("db_errors", "exfeedd_account_db_errors_total", "PostgreSQL errors of the account worker"),
	CNT("address_lookups", "exfeedd_address_lookups_total", "DNS lookups of the exchange's hosts"),
	CNT("address_lookup_failures", "exfeedd_address_lookup_failures_total", "DNS lookups of the exchange's hosts that failed"),
	CNT("address_changes", "exfeedd_address_changes_total", "Changes of the exchange's resolved addresses"),
	GAUX("rest_inflight", "exfeedd_rest_inflight_requests", "purpose", "userdata", "REST requests in flight, by purpose"),
	GAU("host_rest_inflight", "exfeedd_rest_host_inflight_requests", "REST requests in flight from this host (shared budget)"),
	GAU("host_rest_weight_minute", "exfeedd_rest_weight_used", "REST weight used in the current minute by this host (shared budget)"),
	GAU("host_rest_weight_seen", "exfeedd_rest_weight_reported", "REST weight of the current minute as the exchange last reported it (X-MBX-USED-WEIGHT-1M)"),
	GAUS("host_rest_blocked_ms", "exfeedd_rest_blocked_seconds", MS, "Time left before REST requests may resume after a 429/418"),
	CNT("host_rest_weight_spent", "exfeedd_rest_host_weight_spent_total", "REST weight spent by this host (shared budget)"),
	CNT("host_rest_refused", "exfeedd_rest_refused_total", "REST requests refused by the local weight budget"),
	CNT("host_rest_blocks", "exfeedd_rest_blocks_total", "Times REST was blocked after a 429/418"),
	GAU("host_connects_5m", "exfeedd_ws_host_connects_window", "WebSocket connections opened by this host in the last 5 minutes"),
	CNTX("rest_weight_spent", "exfeedd_rest_weight_spent_total", "purpose", "userdata", "REST weight spent, by purpose"),
	GAU("dp_unacked", "exfeedd_dataplane_unacked_events", "Events sent to the writer and not yet acknowledged (data plane backlog)"),
	CNT("dp_overflow_drops", "exfeedd_dataplane_dropped_total", "Events dropped because the data plane queue was full"),
	CNT("dp_invalid", "exfeedd_dataplane_invalid_total", "Events the data plane refused as invalid"),
	EQ("exchange_address", "exfeedd_exchange_address_ok", "ok", "1 when the exchange's addresses resolve and are usable"),
	{ NULL }
};

static const struct mdef kafka_defs_market[] = {
	CMAP("kafka/published", "exfeedd_kafka_produced_total", "topic", "Messages handed to the Kafka producer, by topic"),
	CMAP("kafka/delivered", "exfeedd_kafka_delivered_total", "topic", "Messages the brokers acknowledged, by topic"),
	CMAP("kafka/failed", "exfeedd_kafka_failed_total", "topic", "Messages whose delivery failed, by topic"),
	CMAP("kafka/queue_full", "exfeedd_kafka_queue_full_total", "topic", "Messages refused by a full producer queue, by topic"),
	GAU("kafka/in_flight", "exfeedd_kafka_in_flight_messages", "Messages produced and not yet acknowledged"),
	GAU("kafka/producers", "exfeedd_kafka_producers", "Kafka producers of this worker"),
	{ NULL }
};

static const struct mdef market_defs[] = {
	GAU("symbols", "exfeedd_market_symbols", "Symbols configured"),
	GAU("streams", "exfeedd_market_streams", "Market streams subscribed"),
	GAU("connections_open", "exfeedd_market_connections_open", "Market WebSocket connections open"),
	GAU("dp_unacked", "exfeedd_dataplane_unacked_events", "Events sent to the writer and not yet acknowledged (data plane backlog)"),
	CNT("dp_acked", "exfeedd_dataplane_acked_total", "Events the writer acknowledged"),
	CNT("dp_overflows", "exfeedd_dataplane_dropped_total", "Events dropped because the data plane queue was full"),
	CNT("messages", "exfeedd_market_frames_total", "Market WebSocket frames received"),
	CNT("malformed", "exfeedd_market_parse_errors_total", "Market frames that could not be parsed (counted, logged, dropped)"),
	CNT("events", "exfeedd_market_events_total", "Market events made from the frames"),
	CNT("events_invalid", "exfeedd_market_events_invalid_total", "Market events refused as invalid"),
	CNT("duplicates", "exfeedd_market_duplicates_total", "Duplicate market frames dropped"),
	CNT("zero_price", "exfeedd_market_zero_price_total", "Trade frames with a zero price (not published)"),
	CNT("fields_dropped", "exfeedd_market_fields_dropped_total", "Frames with a field dropped as unusable"),
	CNT("answers", "exfeedd_market_answers_total", "Answers to subscribe/unsubscribe requests"),
	CNT("sub_errors", "exfeedd_market_subscribe_errors_total", "Subscribe requests the exchange refused"),
	CNT("fundings", "exfeedd_market_fundings_total", "Funding rate changes seen"),
	CNT("resubscribes", "exfeedd_market_resubscribes_total", "Streams subscribed again"),
	CNTX("reconnects_ok", "exfeedd_market_reconnects_total", "result", "ok", "Market WebSocket reconnects, by result"),
	CNTX("reconnects_failed", "exfeedd_market_reconnects_total", "result", "failed", "Market WebSocket reconnects, by result"),
	CNT("silence_kills", "exfeedd_market_silence_kills_total", "Market connections closed for silence"),
	CNT("request_timeouts", "exfeedd_market_request_timeouts_total", "Subscribe requests not answered in time"),
	CNT("probes", "exfeedd_market_probes_total", "Liveness probes sent on market connections"),
	CNT("replacements", "exfeedd_market_replacements_total", "Market connections replaced"),
	CNT("drains", "exfeedd_market_drains_total", "Market connections drained for replacement"),
	CNT("drains_failed", "exfeedd_market_drains_failed_total", "Market connection drains that failed"),
	CNT("subscribes_sent", "exfeedd_market_subscribes_sent_total", "SUBSCRIBE requests sent"),
	CNT("unsubscribes_sent", "exfeedd_market_unsubscribes_sent_total", "UNSUBSCRIBE requests sent"),
	CNT("messages_sent", "exfeedd_market_messages_sent_total", "Messages sent on market connections"),
	CNT("book_diffs", "exfeedd_market_book_diffs_total", "Order book diffs applied"),
	CNT("book_resyncs", "exfeedd_market_book_resyncs_total", "Order books rebuilt from a snapshot"),
	CNT("snapshots", "exfeedd_market_book_snapshots_total", "Order book REST snapshots fetched"),
	CNT("snapshot_errors", "exfeedd_market_book_snapshot_errors_total", "Order book REST snapshots that failed"),
	CNT("books_published", "exfeedd_market_books_published_total", "Order books published"),
	CNT("books_crossed", "exfeedd_market_books_crossed_total", "Crossed order books (not published)"),
	{ "http_429", MK_NUMBER, REST_REJECTED, METRIC_COUNTER, REST_REJECTED_H, NULL, 0, "purpose", "market/429", NULL },
	{ "http_418", MK_NUMBER, REST_REJECTED, METRIC_COUNTER, REST_REJECTED_H, NULL, 0, "purpose", "market/418", NULL },
	CNT("info_fetches", "exfeedd_market_exchange_info_fetches_total", "exchangeInfo requests"),
	CNT("info_errors", "exfeedd_market_exchange_info_errors_total", "exchangeInfo requests that failed"),
	CNT("unknown_stream", "exfeedd_market_unknown_stream_total", "Frames of a stream we did not subscribe"),
	/* Per order book (label symbol). */
	EQEACH("books/*/synced", "exfeedd_market_book_synced", "symbol", NULL, "1 when the local order book is in sync"),
	CEACH("books/*/resyncs", "exfeedd_market_symbol_book_resyncs_total", "symbol", "Order book resyncs, per symbol"),
	CEACHX("books/*/resyncs_gap", "exfeedd_market_symbol_book_resyncs_reason_total", "symbol", "reason", "gap", "Order book resyncs, per symbol and reason"),
	CEACHX("books/*/resyncs_snapshot", "exfeedd_market_symbol_book_resyncs_reason_total", "symbol", "reason", "snapshot", "Order book resyncs, per symbol and reason"),
	CEACHX("books/*/resyncs_lost", "exfeedd_market_symbol_book_resyncs_reason_total", "symbol", "reason", "lost", "Order book resyncs, per symbol and reason"),
	CEACHX("books/*/resyncs_unproven", "exfeedd_market_symbol_book_resyncs_reason_total", "symbol", "reason", "unproven", "Order book resyncs, per symbol and reason"),
	CEACH("books/*/snapshots", "exfeedd_market_symbol_book_snapshots_total", "symbol", "Order book snapshots fetched, per symbol"),
	CEACH("books/*/snapshot_errors", "exfeedd_market_symbol_book_snapshot_errors_total", "symbol", "Order book snapshots that failed, per symbol"),
	CEACH("books/*/published", "exfeedd_market_symbol_books_published_total", "symbol", "Order books published, per symbol"),
	CEACH("books/*/crossed", "exfeedd_market_symbol_books_crossed_total", "symbol", "Crossed order books, per symbol"),
	CEACH("books/*/diffs", "exfeedd_market_symbol_book_diffs_total", "symbol", "Order book diffs applied, per symbol"),
	CEACH("books/*/stale", "exfeedd_market_symbol_book_stale_total", "symbol", "Stale order book diffs skipped, per symbol"),
	CEACH("books/*/breaks", "exfeedd_market_symbol_book_breaks_total", "symbol", "Order book sequence breaks, per symbol"),
	GEACH("books/*/bids", "exfeedd_market_book_bid_levels", "symbol", "Bid levels in the local order book"),
	GEACH("books/*/asks", "exfeedd_market_book_ask_levels", "symbol", "Ask levels in the local order book"),
	/* Per stream (label stream). */
	EQEACH("stream_ages/*/state", "exfeedd_market_stream_live", "stream", "live", "1 when the stream is live"),
	GEACHS("stream_ages/*/last_message_age_ms", "exfeedd_market_stream_last_message_age_seconds", "stream", MS, "Time since the stream's last frame"),
	CEACH("stream_ages/*/messages", "exfeedd_market_stream_frames_total", "stream", "Frames received, per stream"),
	CEACH("stream_ages/*/duplicates", "exfeedd_market_stream_duplicates_total", "stream", "Duplicate frames, per stream"),
	CEACH("stream_ages/*/resubscribes", "exfeedd_market_stream_resubscribes_total", "stream", "Resubscriptions, per stream"),
	/* Closed candles and their backfill. */
	GAU("kline/pairs", "exfeedd_kline_pairs", "Symbol and interval pairs kept"),
	GAU("kline/pairs_unknown", "exfeedd_kline_pairs_unknown", "Pairs whose stored candles are not yet known"),
	GAU("kline/holes_open", "exfeedd_kline_holes_open", "Holes in the stored candles not yet filled"),
	GAU("kline/candles_missing", "exfeedd_kline_candles_missing", "Candles missing from the stored history"),
	CNT("kline/holes_found", "exfeedd_kline_holes_found_total", "Holes found in the stored candles"),
	CNT("kline/holes_filled", "exfeedd_kline_holes_filled_total", "Holes filled by the REST backfill"),
	CNT("kline/holes_abandoned", "exfeedd_kline_holes_abandoned_total", "Holes given up on"),
	CNT("kline/candles_backfilled", "exfeedd_kline_candles_backfilled_total", "Candles fetched by the REST backfill"),
	CNT("kline/candles_absent", "exfeedd_kline_candles_absent_total", "Candles the exchange does not have"),
	CNT("kline/rows_dropped", "exfeedd_kline_rows_dropped_total", "Backfill rows dropped as invalid"),
	CNTX("kline/requests", "exfeedd_rest_requests_total", "purpose", "kline", "REST requests, by purpose"),
	CNTX("kline/requests_failed", "exfeedd_rest_errors_total", "purpose", "kline", "REST requests that failed, by purpose"),
	CNTX("kline/weight_spent", "exfeedd_rest_weight_spent_total", "purpose", "kline", "REST weight spent, by purpose"),
	{ "kline/http_429", MK_NUMBER, REST_REJECTED, METRIC_COUNTER, REST_REJECTED_H, NULL, 0, "purpose", "kline/429", NULL },
	{ "kline/http_418", MK_NUMBER, REST_REJECTED, METRIC_COUNTER, REST_REJECTED_H, NULL, 0, "purpose", "kline/418", NULL },
	GAUX("kline/inflight", "exfeedd_rest_inflight_requests", "purpose", "kline", "REST requests in flight, by purpose"),
	EQ("exchange_address", "exfeedd_exchange_address_ok", "ok", "1 when the exchange's addresses resolve and are usable"),
	{ NULL }
};

static const struct mdef writer_defs[] = {
	EQ("db", "exfeedd_writer_db_connected", "connected", "1 when the writer's PostgreSQL connection is up"),
	GAU("senders", "exfeedd_dataplane_senders", "Data plane senders connected to the writer"),
	CNT("events_committed", "exfeedd_writer_events_committed_total", "Events committed to PostgreSQL (user events and gaps)"),
	CMAP("committed", "exfeedd_events_committed_total", "type", "Events committed to PostgreSQL, by event type"),
	CNT("batches", "exfeedd_writer_batches_total", "Transactions committed"),
	CNT("batches_merged", "exfeedd_writer_batches_merged_total", "Batches that waited flush_interval for more events"),
	CNT("batches_sparse", "exfeedd_writer_batches_sparse_total", "Batches sent at once: events further apart than flush_interval"),
	GAU("last_batch_size", "exfeedd_writer_last_batch_events", "Events in the last transaction"),
	GAUS("last_batch_us", "exfeedd_writer_last_batch_seconds", US, "Duration of the last transaction"),
	GAU("rows_per_batch", "exfeedd_writer_batch_events_mean", "Mean events per transaction"),
	GAU("pending", "exfeedd_writer_pending_events", "Events received and not yet committed (writer backlog)"),
	GAU("queue_max", "exfeedd_writer_queue_limit_events", "Pending events at which the writer stops reading senders"),
	GAU("paused", "exfeedd_writer_paused", "1 while the writer does not read its senders (backlog full)"),
	CNT("db_reconnects", "exfeedd_writer_db_reconnects_total", "PostgreSQL reconnects of the writer"),
	CNT("sql_errors", "exfeedd_writer_sql_errors_total", "SQL errors of the writer"),
	CNT("peers_dropped", "exfeedd_writer_peers_dropped_total", "Data plane senders dropped"),
	CNT("resent", "exfeedd_writer_resent_total", "Events received again after a sender reconnected"),
	CNT("rejected", "exfeedd_writer_rejected_total", "Events refused as invalid"),
	HIST("latency_us", "exfeedd_event_commit_latency_seconds", "Exchange event received to PostgreSQL COMMIT"),
	HIST("commit_us", "exfeedd_writer_commit_seconds", "A batch sent to PostgreSQL to its COMMIT answered"),
	CMAP("market/received", "exfeedd_writer_market_events_received_total", "type", "Market events received by the writer, by type"),
	CNT("market/klines_upserted", "exfeedd_writer_klines_upserted_total", "Closed candles written to klines"),
	CNT("market/acked_at_once", "exfeedd_writer_market_acked_at_once_total", "Market events acknowledged without a row"),
	CMAP("market/kafka/published", "exfeedd_kafka_produced_total", "topic", "Messages handed to the Kafka producer, by topic"),
	CMAP("market/kafka/delivered", "exfeedd_kafka_delivered_total", "topic", "Messages the brokers acknowledged, by topic"),
	CMAP("market/kafka/failed", "exfeedd_kafka_failed_total", "topic", "Messages whose delivery failed, by topic"),
	CMAP("market/kafka/queue_full", "exfeedd_kafka_queue_full_total", "topic", "Messages refused by a full producer queue, by topic"),
	GAUX("market/kafka/in_flight", "exfeedd_kafka_in_flight_messages", "producer", "market", "Messages produced and not yet acknowledged"),
	EQ("kafka/publishing", "exfeedd_relay_live", "live", "1 when the outbox relay publishes live (not catching up or stopped)"),
	GAU("kafka/published_through", "exfeedd_relay_published_through", "event_log id through which every row was handed to Kafka"),
	GAU("kafka/acked_through", "exfeedd_relay_acked_through", "event_log id through which every row was acknowledged by Kafka"),
	GAU("kafka/committed_max", "exfeedd_relay_committed_max", "Highest committed event_log id"),
	GAU("kafka/cursor", "exfeedd_relay_cursor", "The relay's read cursor (event_log id)"),
	GAUX("kafka/in_flight", "exfeedd_kafka_in_flight_messages", "producer", "relay", "Messages produced and not yet acknowledged"),
	GAU("kafka/backlog_rows", "exfeedd_relay_backlog_events", "Committed events not yet published to Kafka"),
	GAUS("kafka/backlog_age_ms", "exfeedd_relay_backlog_age_seconds", MS, "Age of the oldest committed event not yet published"),
	CMAP("kafka/produced", "exfeedd_kafka_produced_total", "topic", "Messages handed to the Kafka producer, by topic"),
	CMAP("kafka/delivered", "exfeedd_kafka_delivered_total", "topic", "Messages the brokers acknowledged, by topic"),
	CMAP("kafka/failed", "exfeedd_kafka_failed_total", "topic", "Messages whose delivery failed, by topic"),
	CNT("kafka/rewinds", "exfeedd_relay_rewinds_total", "Relay rewinds after failed deliveries"),
	CNT("kafka/reads", "exfeedd_relay_reads_total", "Outbox reads from event_log"),
	CNT("kafka/rows_read", "exfeedd_relay_rows_read_total", "Outbox rows read from event_log"),
	CNT("kafka/passed_over", "exfeedd_relay_passed_over_total", "Outbox rows passed over"),
	GAUX("kafka/producers", "exfeedd_kafka_producers", "producer", "relay", "Kafka producers of this worker"),
	HIST("kafka/latency_us", "exfeedd_kafka_publish_latency_seconds", "PostgreSQL COMMIT to Kafka acknowledgement"),
	{ NULL }
};

static const struct mdef gateway_defs[] = {
	CNT("http_requests", "exfeedd_gateway_http_requests_total", "HTTP requests (not WebSocket upgrades)"),
	GAU("connections", "exfeedd_gateway_clients", "WebSocket clients connected"),
	GAUX("connections_trading", "exfeedd_gateway_clients_by_endpoint", "endpoint", "trading", "WebSocket clients, by endpoint"),
	GAUX("connections_market", "exfeedd_gateway_clients_by_endpoint", "endpoint", "market", "WebSocket clients, by endpoint"),
	GAUX("connections_ops", "exfeedd_gateway_clients_by_endpoint", "endpoint", "ops", "WebSocket clients, by endpoint"),
	GAU("users", "exfeedd_gateway_users", "Users with a trading client connected"),
	GAU("subscriptions", "exfeedd_gateway_subscriptions", "Subscriptions of the connected clients"),
	CNT("accepted", "exfeedd_gateway_clients_accepted_total", "WebSocket clients accepted"),
	CNT("auth_ok", "exfeedd_gateway_auth_ok_total", "Trading clients authenticated"),
	CNTX("closed_4001_auth", "exfeedd_gateway_clients_closed_total", "code", "4001", "Clients closed by the gateway, by close code"),
	CNTX("closed_4002_user", "exfeedd_gateway_clients_closed_total", "code", "4002", "Clients closed by the gateway, by close code"),
	CNTX("closed_4003_connections", "exfeedd_gateway_clients_closed_total", "code", "4003", "Clients closed by the gateway, by close code"),
	CNTX("closed_4004_invalid", "exfeedd_gateway_clients_closed_total", "code", "4004", "Clients closed by the gateway, by close code"),
	CNTX("closed_4008_slow", "exfeedd_gateway_clients_closed_total", "code", "4008", "Clients closed by the gateway, by close code"),
	CNTX("closed_1013_retry", "exfeedd_gateway_clients_closed_total", "code", "1013", "Clients closed by the gateway, by close code"),
	CNTX("events_user", "exfeedd_gateway_events_total", "kind", "user", "Events received from the feed, by kind"),
	CNTX("events_market", "exfeedd_gateway_events_total", "kind", "market", "Events received from the feed, by kind"),
	CNT("sent_messages", "exfeedd_gateway_messages_sent_total", "Messages sent to clients"),
	CNT("sent_bytes", "exfeedd_gateway_sent_bytes_total", "Bytes of the messages sent to clients"),
	HIST("feed_us", "exfeedd_gateway_feed_seconds", "A user event's PostgreSQL COMMIT to its arrival at the gateway"),
	HIST("delivery_us", "exfeedd_gateway_delivery_seconds", "A user event's PostgreSQL COMMIT to its message written to a client's socket"),
	HIST("queue_us", "exfeedd_gateway_queue_seconds", "A user event's arrival at the gateway to its message written to a client's socket (the gateway's own share)"),
	CNT("conflated", "exfeedd_gateway_conflated_total", "Market messages replaced by a newer one before they were sent"),
	CNT("snapshots", "exfeedd_gateway_snapshots_total", "Snapshots sent to trading clients"),
	CNT("snapshot_errors", "exfeedd_gateway_snapshot_errors_total", "Snapshots that could not be read"),
	CNT("feed_events", "exfeedd_gateway_feed_events_total", "Events received on the feed (gateway.sock)"),
	CNT("feed_frames", "exfeedd_gateway_feed_frames_total", "Frames received on the feed"),
	CNT("feed_invalid", "exfeedd_gateway_feed_invalid_total", "Feed events refused as invalid"),
	CNT("feed_holes", "exfeedd_gateway_feed_holes_total", "Times a feed sender said it dropped events"),
	CNT("feed_lost", "exfeedd_gateway_feed_lost_total", "Events the feed senders dropped"),
	GAU("feed_senders", "exfeedd_gateway_feed_senders", "Feed senders connected (writer, market worker)"),
	CNT("ops/metrics_requests", "exfeedd_gateway_metrics_requests_total", "GET /metrics requests"),
	CNT("ops/health_requests", "exfeedd_gateway_health_requests_total", "GET /health requests"),
	CNT("ops/gathers", "exfeedd_gateway_gathers_total", "Metric gathers asked of the supervisor"),
	CNT("ops/gather_timeouts", "exfeedd_gateway_gather_timeouts_total", "Metric gathers the supervisor did not answer in time"),
	CNT("ops/refused", "exfeedd_gateway_ops_refused_total", "/metrics and /health requests refused (too many waiting)"),
	GAU("ops/watchers", "exfeedd_gateway_ops_clients", "Clients of /ws/ops"),
	{ NULL }
};

/*
 * Leaves no metric is made of: identities and labels (shard, the book's
 * update ids, a connection's id and start time), the configuration
 * (flush_interval_ms, queue sizes) and timestamps of the exchange.
 */
static const char *const ignored[] = {
	"shard", "shards", "flush_interval_ms", "books", "stream_ages", "connections",
	"kline/exchange_time_ms", NULL
};

/* Every worker's, from worker.c (the status map's top level). */
static const struct mdef loop_busy_def =
	HIST("loop_busy_us", "exfeedd_worker_loop_busy_seconds", "Time one turn of the worker's event loop spent in its callbacks (poll to poll)");

struct role_table {
	const char		*role;
	const struct mdef	*defs[3];
};

static const struct role_table role_tables[] = {
	{ "account", { account_defs, NULL, NULL } },
	{ "market", { market_defs, kafka_defs_market, NULL } },
	{ "writer", { writer_defs, NULL, NULL } },
	{ "gateway", { gateway_defs, NULL, NULL } },
	{ NULL, { NULL, NULL, NULL } }
};

/* The object at a '/' path (no '*') of a map, or NULL. */
static const msgpack_object *
at_path(const msgpack_object *o, const char *path)
{
	char key[128];

	while (o && *path) {
		const char *slash = strchr(path, '/');
		size_t n = slash ? (size_t)(slash - path) : strlen(path);

		if (n >= sizeof(key) || o->type != MSGPACK_OBJECT_MAP)
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = mp_get(o, key);
		path += n + (slash != NULL);
	}
	return o;
}

static size_t
labels_with(struct metric_label *out, const struct metric_label *base, size_t nbase,
    const char *name, const char *value)
{
	size_t n = 0;

	for (size_t i = 0; i < nbase && n < MAX_LABELS - 2; i++)
		out[n++] = base[i];
	if (name)
		out[n++] = (struct metric_label){ name, value };
	return n;
}

/*
 * A hist.h map as a Prometheus histogram in seconds: bounds (µs) and
 * counts (one more) must agree; sum_us is the exact sum (an older worker
 * without it: each bucket's samples counted at its upper bound, the over
 * bucket at the last bound - an over-estimate, said in doc/metrics.md).
 */
static void
emit_hist(struct metrics *m, const struct mdef *d, const msgpack_object *h,
    const struct metric_label *l, size_t nl)
{
	const msgpack_object *b = mp_get(h, "bounds"), *c = mp_get(h, "counts"), *s;
	double le[64], sum = 0, v;
	uint64_t counts[65];
	size_t nb;

	if (b == NULL || c == NULL || b->type != MSGPACK_OBJECT_ARRAY ||
	    c->type != MSGPACK_OBJECT_ARRAY || (nb = b->via.array.size) == 0 || nb > 64 ||
	    c->via.array.size != nb + 1)
		return;
	for (size_t i = 0; i <= nb; i++) {
		if (i < nb) {
			if (num(&b->via.array.ptr[i], &v) == -1 || (i && v / US <= le[i - 1]))
				return;
			le[i] = v / US;
		}
		if (num(&c->via.array.ptr[i], &v) == -1 || v < 0)
			return;
		counts[i] = (uint64_t)v;
		sum += v * le[i < nb ? i : nb - 1];
	}
	if ((s = mp_get(h, "sum_us")) != NULL && num(s, &v) == 0)
		sum = v / US;
	metrics_hist(m, d->name, d->help, l, nl, le, counts, nb, sum);
}

static void
emit_value(struct metrics *m, const struct mdef *d, const msgpack_object *o,
    const struct metric_label *l, size_t nl)
{
	char buf[128];
	double v;

	if (d->eq || d->kind == MK_EQUAL) {
		if (d->eq == NULL) {
			if (num(o, &v) == -1)
				return;
		} else if (str(o, buf, sizeof(buf)) == -1)
			return;
		else
			v = strcmp(buf, d->eq) == 0;
	} else if (num(o, &v) == -1)
		return;
	metrics_add(m, d->name, d->type, d->help, l, nl, d->scale ? v / d->scale : v);
}

static void
emit_def(struct metrics *m, const struct mdef *d, const msgpack_object *rmap,
    const struct metric_label *base, size_t nbase)
{
	struct metric_label l[MAX_LABELS];
	char key[128], path[PATH_LEN];
	const msgpack_object *o, *star;
	const char *p;
	size_t nl;

	if (d->kind == MK_EACH) {
		/* "MAP/<*>/KEY" */
		if ((p = strstr(d->path, "/*/")) == NULL || (size_t)(p - d->path) >= sizeof(path))
			return;
		memcpy(path, d->path, (size_t)(p - d->path));
		path[p - d->path] = '\0';
		if ((star = at_path(rmap, path)) == NULL || star->type != MSGPACK_OBJECT_MAP)
			return;
		for (uint32_t i = 0; i < star->via.map.size; i++) {
			const msgpack_object_kv *kv = &star->via.map.ptr[i];

			if (str(&kv->key, key, sizeof(key)) == -1 ||
			    (o = at_path(&kv->val, p + 3)) == NULL)
				continue;
			nl = labels_with(l, base, nbase, d->label, key);
			if (d->xname)
				l[nl++] = (struct metric_label){ d->xname, d->xval };
			emit_value(m, d, o, l, nl);
		}
		return;
	}
	if ((o = at_path(rmap, d->path)) == NULL)
		return;
	nl = labels_with(l, base, nbase, d->xname, d->xval);
	switch (d->kind) {
	case MK_NUMBER:
	case MK_EQUAL:
		emit_value(m, d, o, l, nl);
		break;
	case MK_HIST:
		if (o->type == MSGPACK_OBJECT_MAP)
			emit_hist(m, d, o, l, nl);
		break;
	case MK_MAP:
		if (o->type != MSGPACK_OBJECT_MAP)
			break;
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];
			size_t n;

			if (str(&kv->key, key, sizeof(key)) == -1)
				continue;
			n = labels_with(l, base, nbase, d->label, key);
			if (d->xname)
				l[n++] = (struct metric_label){ d->xname, d->xval };
			emit_value(m, d, &kv->val, l, n);
		}
		break;
	case MK_EACH:
		break;
	}
}

/* Is path (or a map above it) named by a table entry or the ignored list? */
static int
covered(const struct role_table *t, const char *path)
{
	for (int k = 0; ignored[k]; k++)
		if (strcmp(ignored[k], path) == 0)
			return 1;
	for (int j = 0; t && j < 3 && t->defs[j]; j++)
		for (const struct mdef *d = t->defs[j]; d->path; d++)
			if (strcmp(d->path, path) == 0)
				return 1;
	return 0;
}

/* exfeedd_ROLE_PATH: lower case, [a-z0-9_] only, _ms/_us made _seconds (*scale). */
static void
generic_name(char *out, size_t len, const char *role, const char *path, double *scale)
{
	size_t n, pl = strlen(path);

	*scale = 1;
	if (pl > 3 && strcmp(path + pl - 3, "_ms") == 0) {
		*scale = MS;
		pl -= 3;
	} else if (pl > 3 && strcmp(path + pl - 3, "_us") == 0) {
		*scale = US;
		pl -= 3;
	}
	n = (size_t)snprintf(out, len, "exfeedd_%s_%.*s%s", role, (int)pl, path,
	    *scale != 1 ? "_seconds" : "");
	for (size_t i = 8; i < n && i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		out[i] = isalnum(c) ? (char)tolower(c) : '_';
	}
}

static void
generic_walk(struct metrics *m, const struct role_table *t, const char *role,
    const msgpack_object *map, const char *prefix, int depth,
    const struct metric_label *base, size_t nbase)
{
	char key[96], path[PATH_LEN], name[PATH_LEN + 64], help[PATH_LEN + 128];
	double v, scale;

	if (depth > MAX_DEPTH || map->type != MSGPACK_OBJECT_MAP)
		return;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (str(&kv->key, key, sizeof(key)) == -1 || key[0] == '\0')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "",
		    key) >= sizeof(path) || covered(t, path))
			continue;
		if (kv->val.type == MSGPACK_OBJECT_MAP) {
			generic_walk(m, t, role, &kv->val, path, depth + 1, base, nbase);
			continue;
		}
		if (num(&kv->val, &v) == -1)
			continue;
		generic_name(name, sizeof(name), role, path, &scale);
		snprintf(help, sizeof(help), "The %s worker's status value %s (exfeedctl status)%s",
		    role, path, scale != 1 ? ", in seconds" : "");
		metrics_add(m, name, METRIC_UNTYPED, help, base, nbase, v / scale);
	}
}

/* Market connections: an array of maps, labelled route and connection (its id). */
static void
emit_connections(struct metrics *m, const msgpack_object *arr,
    const struct metric_label *base, size_t nbase)
{
	static const struct {
		const char	*key, *name, *help;
		enum metric_type type;
		double		 scale;
	} cdefs[] = {
		{ "streams", "exfeedd_market_connection_streams", "Streams on the connection", METRIC_GAUGE, 0 },
		{ "age_ms", "exfeedd_market_connection_age_seconds", "Time since the connection opened", METRIC_GAUGE, MS },
		{ "reconnects_ok", "exfeedd_market_connection_reconnects_total", "Reconnects of the connection", METRIC_COUNTER, 0 },
		{ "reconnects_failed", "exfeedd_market_connection_reconnects_failed_total", "Failed reconnects of the connection", METRIC_COUNTER, 0 },
		{ "failures_in_a_row", "exfeedd_market_connection_failures_in_a_row", "Consecutive failed connects", METRIC_GAUGE, 0 },
		{ "messages", "exfeedd_market_connection_frames_total", "Frames received on the connection", METRIC_COUNTER, 0 },
		{ "parse_errors", "exfeedd_market_connection_parse_errors_total", "Frames that could not be parsed", METRIC_COUNTER, 0 },
		{ "sent", "exfeedd_market_connection_sent_total", "Messages sent on the connection", METRIC_COUNTER, 0 },
		{ "retry_in_ms", "exfeedd_market_connection_retry_in_seconds", "Time before the next connect attempt", METRIC_GAUGE, MS },
	};
	struct metric_label l[MAX_LABELS];
	char route[64], id[32], state[32];

	if (arr->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		const msgpack_object *c = &arr->via.array.ptr[i], *o;
		int64_t cid;
		size_t nl;
		double v;

		if (c->type != MSGPACK_OBJECT_MAP || mp_get_str(c, "route", route, sizeof(route)) == -1 ||
		    mp_get_i64(c, "id", &cid) == -1)
			continue;
		snprintf(id, sizeof(id), "%lld", (long long)cid);
		nl = labels_with(l, base, nbase, "route", route);
		l[nl++] = (struct metric_label){ "connection", id };
		if (mp_get_str(c, "state", state, sizeof(state)) == 0)
			metrics_add(m, "exfeedd_market_connection_open", METRIC_GAUGE,
			    "1 when the connection is open", l, nl, strcmp(state, "open") == 0);
		for (size_t k = 0; k < sizeof(cdefs) / sizeof(cdefs[0]); k++)
			if ((o = mp_get(c, cdefs[k].key)) != NULL && num(o, &v) == 0)
				metrics_add(m, cdefs[k].name, cdefs[k].type, cdefs[k].help, l, nl,
				    cdefs[k].scale ? v / cdefs[k].scale : v);
	}
}

static const char *const state_names[] = { "starting", "ready", "stopping", "backoff", "failed",
	NULL };

void
metrics_workers(struct metrics *m, const msgpack_object *workers)
{
	if (workers == NULL || workers->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (uint32_t i = 0; i < workers->via.array.size; i++) {
		const msgpack_object *w = &workers->via.array.ptr[i], *detail, *rmap, *o;
		const struct role_table *t = NULL;
		struct metric_label base[3], l[MAX_LABELS];
		char role[32], inst[24], state[32], exch[64];
		int64_t instance, v;
		size_t nbase = 2, nl;

		if (w->type != MSGPACK_OBJECT_MAP || mp_get_str(w, "role", role, sizeof(role)) == -1 ||
		    mp_get_i64(w, "instance", &instance) == -1)
			continue;
		snprintf(inst, sizeof(inst), "%lld", (long long)instance);
		base[0] = (struct metric_label){ "role", role };
		base[1] = (struct metric_label){ "instance", inst };
		if (mp_get_str(w, "state", state, sizeof(state)) == 0) {
			metrics_add(m, "exfeedd_worker_up", METRIC_GAUGE,
			    "1 when the worker is ready, else 0", base, 2, strcmp(state, "ready") == 0);
			for (int s = 0; state_names[s]; s++) {
				nl = labels_with(l, base, 2, "state", state_names[s]);
				metrics_add(m, "exfeedd_worker_state", METRIC_GAUGE,
				    "The supervisor's state of the worker (1 for the current one)", l, nl,
				    strcmp(state, state_names[s]) == 0);
			}
		}
		if (mp_get_i64(w, "restarts", &v) == 0)
			metrics_add(m, "exfeedd_worker_restarts_total", METRIC_COUNTER,
			    "Times the supervisor restarted the worker", base, 2, (double)v);
		if (mp_get_i64(w, "uptime_ms", &v) == 0)
			metrics_add(m, "exfeedd_worker_uptime_seconds", METRIC_GAUGE,
			    "Time since the worker process started (0 when not running)", base, 2,
			    (double)v / MS);
		if ((detail = get_map(w, "detail")) == NULL || (rmap = get_map(detail, "role")) == NULL)
			continue;
		emit_def(m, &loop_busy_def, detail, base, 2);
		if (mp_get_i64(detail, "config_gen", &v) == 0)
			metrics_add(m, "exfeedd_worker_config_generation", METRIC_GAUGE,
			    "Configuration generation the worker applied", base, 2, (double)v);
		if (mp_get_str(rmap, "exchange", exch, sizeof(exch)) == 0)
			base[nbase++] = (struct metric_label){ "exchange", exch };
		for (int k = 0; role_tables[k].role; k++)
			if (strcmp(role_tables[k].role, role) == 0)
				t = &role_tables[k];
		for (int j = 0; t && j < 3 && t->defs[j]; j++)
			for (const struct mdef *d = t->defs[j]; d->path; d++)
				emit_def(m, d, rmap, base, nbase);
		if (strcmp(role, "market") == 0 && (o = mp_get(rmap, "connections")) != NULL)
			emit_connections(m, o, base, nbase);
		generic_walk(m, t, role, rmap, "", 0, base, nbase);
	}
}

/* --------------------------------------------------------------- /proc */

int
metrics_process(struct metrics *m, const char *role, int instance, pid_t pid)
{
	static double btime = -1;
	struct metric_label l[2];
	char path[64], buf[2048], inst[24], *p;
	unsigned long long utime, stime, start;
	long long rss;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	ssize_t n;
	int fd;

	if (pid <= 0 || tck <= 0 || page <= 0)
		return -1;
	if (btime < 0) {
		FILE *f = fopen("/proc/stat", "re");
		char line[256];

		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "btime ", 6) == 0)
				btime = strtod(line + 6, NULL);
		if (f)
			fclose(f);
		if (btime < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* pid (comm) state ...: comm may hold anything, so start after its last ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
	    "%*d %*d %llu %*u %lld", &utime, &stime, &start, &rss) != 4)
		return -1;
	snprintf(inst, sizeof(inst), "%d", instance);
	l[0] = (struct metric_label){ "role", role };
	l[1] = (struct metric_label){ "instance", inst };
	metrics_add(m, "exfeedd_process_cpu_seconds_total", METRIC_COUNTER,
	    "User and system CPU time of the process", l, 2, (double)(utime + stime) / (double)tck);
	metrics_add(m, "exfeedd_process_resident_memory_bytes", METRIC_GAUGE,
	    "Resident memory of the process", l, 2, (double)rss * (double)page);
	metrics_add(m, "exfeedd_process_start_time_seconds", METRIC_GAUGE,
	    "Start time of the process since the Unix epoch", l, 2,
	    btime + (double)start / (double)tck);
	return 0;
}

/* --------------------------------------------------------------- summary */

void
metrics_summary_pack(msgpack_packer *pk, const msgpack_object *workers)
{
	enum { NSTATES = 16 };
	const msgpack_object *writer = NULL, *gateway = NULL, *lat = NULL, *o;
	char states[NSTATES][32], role[32];
	uint64_t counts[NSTATES];
	int64_t committed = -1;
	int nstates = 0, n = 1;

	for (uint32_t i = 0; workers && workers->type == MSGPACK_OBJECT_ARRAY &&
	    i < workers->via.array.size; i++) {
		const msgpack_object *w = &workers->via.array.ptr[i], *d, *r;

		if (w->type != MSGPACK_OBJECT_MAP || mp_get_str(w, "role", role, sizeof(role)) == -1 ||
		    (d = get_map(w, "detail")) == NULL || (r = get_map(d, "role")) == NULL)
			continue;
		if (strcmp(role, "account") == 0 && (o = get_map(r, "accounts_by_state")) != NULL) {
			/* Summed by state name over the shards, at most NSTATES names. */
			for (uint32_t k = 0; k < o->via.map.size; k++) {
				char st[32];
				double v;
				int s;

				if (str(&o->via.map.ptr[k].key, st, sizeof(st)) == -1 ||
				    num(&o->via.map.ptr[k].val, &v) == -1 || v < 0)
					continue;
				for (s = 0; s < nstates && strcmp(states[s], st) != 0; s++)
					;
				if (s == nstates) {
					if (nstates == NSTATES)
						continue;
					memcpy(states[nstates], st, sizeof(st));
					counts[nstates++] = 0;
				}
				counts[s] += (uint64_t)v;
			}
		} else if (strcmp(role, "writer") == 0 && writer == NULL)
			writer = r;
		else if (strcmp(role, "gateway") == 0 && gateway == NULL)
			gateway = r;
	}
	if (writer) {
		mp_get_i64(writer, "events_committed", &committed);
		lat = get_map(writer, "latency_us");
	}
	n += committed >= 0;
	n += lat != NULL;
	n += gateway != NULL;
	msgpack_pack_map(pk, (uint32_t)n);
	mp_str(pk, "accounts");
	msgpack_pack_map(pk, (uint32_t)nstates);
	for (int s = 0; s < nstates; s++)
		mp_kv_u64(pk, states[s], counts[s]);
	if (committed >= 0)
		mp_kv_i64(pk, "committed", committed);
	if (lat) {
		mp_str(pk, "latency_us");
		msgpack_pack_object(pk, *lat);
	}
	if (gateway) {
		mp_str(pk, "gateway");
		msgpack_pack_object(pk, *gateway);
	}
}
