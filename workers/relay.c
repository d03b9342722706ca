/*
 * relay.c: the writer's outbox relay (DESIGN §2: the writer publishes
 * committed events to Kafka from event_log) and the upkeep of event_log's
 * day partitions.
 *
 * Order.  Rows get their ids from one sequence, in the one writer session
 * (the advisory lock below keeps a second one out), so id order is commit
 * order; the relay hands rows to the producer in id order and the producer
 * is idempotent, so one user's events reach their partition in commit order.
 *
 * Where rows come from.  Caught up ("live"), the relay publishes the rows
 * each committed batch returned (no read back).  Otherwise ("catch-up":
 * after a start, a reconnect, a full window, a failed delivery) it reads
 * them from event_log, after `cursor`, a window at a time, between batches,
 * on the writer's connection; a read that comes back short means caught up.
 *
 * What is published.  In-flight messages sit in a ring, in id order.  Every
 * row up to the oldest one not yet acknowledged is on Kafka: that id - 1 is
 * the watermark, stored in event_log_relay.published_through (one update
 * per flush, at most every RELAY_MARK_MS).  A failed delivery stops the
 * watermark at that row; once every message in flight has reported, the
 * relay reads again from the watermark: rows after it may go twice, with
 * the same event id (consumers dedupe), never zero times.  A row that can
 * never go (cannot be encoded, too large for the broker) is counted, logged
 * and passed over: it costs itself only.
 *
 * Memory: at most [kafka] relay_window messages in flight, and one read
 * window of rows.
 *
 * Market data (relay_market) takes none of this: the writer hands each
 * market event to the same producer as it handles it (a closed kline once
 * its batch committed), to its websocket.* topic, and forgets it.  It is
 * replaceable (the next tick supersedes it; klines is what is durable), so
 * a full queue, a failed delivery or no producer yet costs the message,
 * counted per topic and logged rate-limited, and never holds the loop, the
 * outbox or an ack.  At most KAFKA_MARKET_INFLIGHT of them wait in the
 * producer, so they cannot take the outbox's room in its queue.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "event.h"
#include "exfeedd.h"
#include "hist.h"
#include "kafka.h"
#include "log.h"
#include "mpack.h"
#include "relay.h"
#include "writer_sql.h"

#define RELAY_LOCK_KEY		"7882907163474474546"	/* "exfeedw2"... pg_advisory_lock key */
#define RELAY_LOCK_RETRY_MS	200
#define RELAY_READ_MAX		2000		/* rows per catch-up read */
#define RELAY_MARK_MS		100		/* watermark stored at most this often */
#define RELAY_BACKLOG_MS	5000		/* backlog gauges refreshed */
#define RELAY_MAINT_MS		(3600 * 1000)	/* partitions: at start, then hourly */
#define RELAY_REWIND_MS		1000		/* pause before reading again after a failure */
#define RELAY_AHEAD_DAYS	2		/* partitions made ahead of today */
#define RELAY_STOP_MS		3000		/* deliveries waited for when stopping */
#define RELAY_COUNT_CAP		"10000001"	/* backlog rows counted up to */

enum job { J_NONE, J_INIT, J_MAINT, J_MARK, J_READ, J_BACKLOG };
static const char *const job_names[] = { "none", "init", "maintenance", "mark", "read",
	"backlog" };

enum slot_state { S_PENDING, S_DONE, S_FAILED };

struct slot {
	int64_t		 id;
	int64_t		 commit_us;
	uint8_t		 type;
	uint8_t		 state;
};

static struct {
	struct ev_loop	*loop;
	const struct config *cfg;
	void		(*kick)(void);
	int		 enabled;	/* [kafka] brokers not empty */

	/* Session */
	int		 db;		/* a connection is ready */
	int		 locked;	/* ... and holds the writer lock */
	int		 have_mark;	/* published_through read once */
	enum job	 job;		/* in flight */
	uint64_t	 lock_retry_at, maint_at, backlog_at, rewind_at, mark_at;
	int		 maint_step;	/* results seen of the maintenance job */
	int		 read_limit;	/* of the read in flight */
	uint64_t	 read_rewinds;	/* rewinds when it was sent: a rewind since voids it */

	/* Producer */
	rd_kafka_t	*rk;
	char		 bootstraps[512];
	int		 io_pipe[2];
	ev_io		 io;
	ev_timer	 poll;
	struct strbuf	 value;

	/* Position */
	int		 live;		/* caught up: batches' rows go straight out */
	int		 draining;	/* a delivery failed: wait for every report, then rewind */
	int64_t		 cursor;	/* highest id handed to the producer (or passed over) */
	int64_t		 persisted;	/* published_through as stored */
	int64_t		 mark_sent;	/* in the mark job in flight */
	int64_t		 committed_max;	/* highest id seen committed */
	struct slot	*ring;
	size_t		 cap, head, n, pending;	/* pending: no report yet */
	PGresult	*batch_rows;

	/* Stop */
	int		 stopping, stopped;
	uint64_t	 stop_deadline;

	/* Metrics */
	uint64_t	 produced[CONF_KAFKA_TOPICS], delivered[CONF_KAFKA_TOPICS],
			 failed[CONF_KAFKA_TOPICS];
	uint64_t	 rewinds, reads, rows_read, bad_rows, queue_full, producers;
	int64_t		 backlog_rows, backlog_age_ms;
	struct hist	 lat;		/* committed_at → delivery report, µs */
	char		 last_error[256];

	/* Market data, by event type (several types may share a topic) */
	struct kafka_market mkt;
} rl = { .io_pipe = { -1, -1 }, .mkt = { .rl = LOG_RATELIMIT_INIT(10000, 5) } };

static struct log_ratelimit fail_rl = LOG_RATELIMIT_INIT(10000, 5);
static struct log_ratelimit bad_rl = LOG_RATELIMIT_INIT(10000, 5);
static struct log_ratelimit backlog_rl = LOG_RATELIMIT_INIT(60000, 1);
static struct log_ratelimit lock_rl = LOG_RATELIMIT_INIT(10000, 1);

static void	producer_new(void);

static void
kick(void)
{
	if (rl.kick)
		rl.kick();
}

/* The watermark: every row up to it is acknowledged (or passed over). */
static int64_t
watermark(void)
{
	if (rl.n == 0)
		return rl.cursor;
	return rl.ring[rl.head].id - 1;
}

static void
ring_advance(void)
{
	while (rl.n > 0 && rl.ring[rl.head].state == S_DONE) {
		rl.head = (rl.head + 1) % rl.cap;
		rl.n--;
	}
}

/* Every report is in after a failure: read again from the watermark. */
static void
rewind_if_drained(void)
{
	if (!rl.draining || rl.pending > 0)
		return;
	rl.cursor = watermark();
	rl.n = 0;
	rl.head = 0;
	rl.draining = 0;
	rl.live = 0;
	rl.rewinds++;
	rl.rewind_at = monotonic_ms() + RELAY_REWIND_MS;
	log_info("kafka: publishing again from event_log id %" PRId64, rl.cursor + 1);
	kick();
}

static int
permanent(rd_kafka_resp_err_t e)
{
	return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
	    e == RD_KAFKA_RESP_ERR_INVALID_MSG ||
	    e == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
	    e == RD_KAFKA_RESP_ERR__INVALID_ARG;
}

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	uintptr_t p = (uintptr_t)m->_private;
	size_t i = (size_t)p - 1;
	struct slot *s;

	if (kafka_market_report(&rl.mkt, m))	/* a market message, not a ring slot */
		return;
	if (i >= rl.cap || rl.ring == NULL)
		return;
	s = &rl.ring[i];
	if (rl.pending > 0)
		rl.pending--;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		s->state = S_DONE;
		rl.delivered[s->type]++;
		hist_add(&rl.lat, clock_real_us() - s->commit_us);
	} else if (permanent(m->err)) {
		s->state = S_DONE;
		rl.failed[s->type]++;
		rl.bad_rows++;
		log_warnx_rl(&bad_rl, "kafka: event_log id %" PRId64 " (%s, %zu bytes) refused "
		    "for good, passed over: %s", s->id, rd_kafka_topic_name(m->rkt), m->len,
		    rd_kafka_err2str(m->err));
	} else {
		s->state = S_FAILED;
		rl.failed[s->type]++;
		snprintf(rl.last_error, sizeof(rl.last_error), "%s", rd_kafka_err2str(m->err));
		if (!rl.draining)
			log_warnx_rl(&fail_rl, "kafka: delivery of event_log id %" PRId64 " to %s "
			    "failed (%s): publishing again from there", s->id,
			    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
		rl.draining = 1;
		rl.live = 0;
	}
	ring_advance();
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char fatal[256];

	snprintf(rl.last_error, sizeof(rl.last_error), "%s", reason);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		log_error("kafka: the producer failed for good (%s): a new one takes over", fatal);
		return;		/* poll_cb replaces it */
	}
	log_warnx_rl(&fail_rl, "kafka: %s", reason);
}

/* Serve librdkafka's queue: delivery reports, errors, log lines. */
static void
poll_producer(void)
{
	char b[64];

	if (rl.rk == NULL)
		return;
	/*
	 * A read shorter than the buffer emptied the pipe: no second read to
	 * learn EAGAIN (a syscall per delivery report at a trickle).
	 */
	while (read(rl.io_pipe[0], b, sizeof(b)) == (ssize_t)sizeof(b))
		;
	rd_kafka_poll(rl.rk, 0);
	if (rd_kafka_fatal_error(rl.rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
		producer_new();
	rewind_if_drained();
	kick();
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	poll_producer();
}

static void
poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	poll_producer();
}

/* Drop the producer: what it holds is reported failed, and read again. */
static void
producer_drop(void)
{
	if (rl.rk == NULL)
		return;
	rd_kafka_purge(rl.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
	    RD_KAFKA_PURGE_F_NON_BLOCKING);
	rd_kafka_poll(rl.rk, 0);
	ev_io_stop(rl.loop, &rl.io);
	kafka_market_forget(&rl.mkt);
	rd_kafka_destroy(rl.rk);
	rl.rk = NULL;
	/* Reports that never came are failures too. */
	for (size_t k = 0, i = rl.head; k < rl.n; k++, i = (i + 1) % rl.cap)
		if (rl.ring[i].state == S_PENDING)
			rl.ring[i].state = S_FAILED;
	rl.pending = 0;
	if (rl.n > 0)
		rl.draining = 1;
	rl.live = 0;
	rewind_if_drained();
}

static void
producer_new(void)
{
	rd_kafka_queue_t *q;
	char err[512];

	producer_drop();
	if (rl.bootstraps[0] == '\0')
		return;
	rl.rk = kafka_producer_new(rl.cfg, rl.bootstraps, "exfeedd-writer", dr_cb, error_cb, err,
	    sizeof(err));
	if (rl.rk == NULL) {
		/* exfeedd -n validated the settings: this is librdkafka refusing. */
		worker_fatal(EX_CONFIG_STATUS, "kafka: cannot create the producer: %s", err);
	}
	q = rd_kafka_queue_get_main(rl.rk);	/* a reference of our own */
	rd_kafka_queue_io_event_enable(q, rl.io_pipe[1], "1", 1);
	rd_kafka_queue_destroy(q);
	ev_io_start(rl.loop, &rl.io);
	rl.producers++;
	rl.live = 0;		/* read from the watermark: nothing is lost between producers */
	log_info("kafka: publishing to %s", rl.bootstraps);
	kick();
}

static void
bootstrap_cb(const char *bootstraps)
{
	if (strcmp(bootstraps, rl.bootstraps) == 0)
		return;
	snprintf(rl.bootstraps, sizeof(rl.bootstraps), "%s", bootstraps);
	producer_new();
}

/*
 * Hand one row to the producer.  0: taken (or passed over for good);
 * -1: not now (window or queue full): the row stays after the cursor.
 */
static int
produce(const struct kafka_row *row)
{
	char err[256];
	size_t i;
	rd_kafka_resp_err_t e;
	int type;

	if (row->id <= rl.cursor)
		return 0;	/* published already (a read and a batch overlapped) */
	if (rl.n == rl.cap)
		return -1;
	i = (rl.head + rl.n) % rl.cap;
	type = kafka_type(row->event_type);
	if (type <= 0 || type >= CONF_KAFKA_TOPICS)
		type = 0;
	e = kafka_produce_row(rl.rk, rl.cfg, NULL, row, (void *)(uintptr_t)(i + 1), &rl.value,
	    err, sizeof(err));
	if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		/* rdkafka.queue.buffering.max.* set below the window: wait for reports. */
		rl.queue_full++;
		rl.rewind_at = monotonic_ms() + RELAY_MARK_MS;
		return -1;
	}
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__BAD_MSG && !permanent(e)) {
		/*
		 * Not the row's fault (the producer failed for good and is
		 * about to be replaced, the topic is not known yet): it stays
		 * after the cursor and is read again after a pause.
		 */
		snprintf(rl.last_error, sizeof(rl.last_error), "%s", err);
		log_warnx_rl(&fail_rl, "kafka: event_log id %" PRId64 " not taken by the producer "
		    "(%s): publishing again from there", row->id, err);
		rl.rewind_at = monotonic_ms() + RELAY_REWIND_MS;
		return -1;
	}
	if (rl.committed_max < row->id)
		rl.committed_max = row->id;
	rl.cursor = row->id;
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rl.failed[type]++;
		rl.bad_rows++;
		log_warnx_rl(&bad_rl, "kafka: event_log id %" PRId64 " (%s) passed over: %s",
		    row->id, row->event_id, err);
		return 0;
	}
	rl.ring[i] = (struct slot){ row->id, row->committed_us, (uint8_t)type, S_PENDING };
	rl.n++;
	rl.pending++;
	rl.produced[type]++;
	return 0;
}

/* Rows of a result, in order, until the window is full.  Returns how many were taken. */
static int
produce_result(const PGresult *r)
{
	struct kafka_row row;
	int i, n = PQntuples(r);

	for (i = 0; i < n; i++) {
		if (kafka_row_get(r, i, &row) == -1 || produce(&row) == -1)
			break;
	}
	return i;
}

/* ------------------------------------------------------------ the writer */

void
relay_set_kick(void (*fn)(void))
{
	rl.kick = fn;
}

void
relay_start(struct ev_loop *loop, const struct config *cfg)
{
	rl.loop = loop;
	rl.cfg = cfg;
	rl.enabled = cfg->kafka_brokers[0] != '\0';
	hist_init(&rl.lat);
	if (!rl.enabled)
		return;
	rl.cap = (size_t)cfg->kafka_relay_window;
	if ((rl.ring = calloc(rl.cap, sizeof(*rl.ring))) == NULL)
		worker_fatal(1, "kafka: out of memory for a window of %zu messages", rl.cap);
	if (pipe2(rl.io_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		worker_fatal(1, "kafka: pipe: %s", strerror(errno));
	ev_io_init(&rl.io, io_cb, rl.io_pipe[0], EV_READ);
	ev_timer_init(&rl.poll, poll_cb, .1, .1);
	ev_timer_start(loop, &rl.poll);
	if (config_has_broker(cfg))
		worker_on_kafka_bootstrap(bootstrap_cb);
	else
		bootstrap_cb(cfg->kafka_brokers);
}

void
relay_db_ready(void)
{
	rl.db = 1;
	rl.locked = 0;
	rl.job = J_NONE;
	rl.lock_retry_at = 0;
	rl.maint_at = 0;
	rl.backlog_at = 0;
	/* Whatever committed while we were away is read, not assumed. */
	rl.live = 0;
}

void
relay_db_lost(void)
{
	rl.db = 0;
	rl.locked = 0;
	rl.job = J_NONE;
	if (rl.batch_rows) {
		PQclear(rl.batch_rows);
		rl.batch_rows = NULL;
	}
	rl.live = 0;
}

int
relay_session_ready(void)
{
	return rl.db && rl.locked;
}

static int
want(enum job *j)
{
	uint64_t now = monotonic_ms();

	if (!rl.db)
		return 0;
	if (!rl.locked) {
		*j = J_INIT;
		return now >= rl.lock_retry_at;
	}
	if (now >= rl.maint_at && !rl.stopping) {
		*j = J_MAINT;
		return 1;
	}
	if (!rl.enabled)
		return 0;
	if (watermark() > rl.persisted && now >= rl.mark_at) {
		*j = J_MARK;
		return 1;
	}
	if (rl.rk != NULL && !rl.live && !rl.draining && !rl.stopping && now >= rl.rewind_at &&
	    rl.cap - rl.n >= (rl.cap < 2 * RELAY_READ_MAX ? rl.cap / 2 : RELAY_READ_MAX)) {
		*j = J_READ;
		return 1;
	}
	if (now >= rl.backlog_at && !rl.stopping) {
		*j = J_BACKLOG;
		return 1;
	}
	return 0;
}

int
relay_want(void)
{
	enum job j;

	return rl.job == J_NONE && want(&j);
}

static int
send_params(PGconn *c, const char *sql, int n, const char *const *v)
{
	return PQsendQueryParams(c, sql, n, NULL, v, NULL, NULL, 0) ? 0 : -1;
}

int
relay_send(PGconn *c)
{
	char a[32], b[32], d[32];
	const char *v[3];
	enum job j;
	int64_t today, keep;

	if (!want(&j))
		return 0;
	switch (j) {
	case J_INIT:
		if (send_params(c, "SELECT pg_try_advisory_lock(" RELAY_LOCK_KEY "), "
		    "(SELECT published_through FROM event_log_relay), "
		    "(SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
		    "objid = (" RELAY_LOCK_KEY "::bigint & 4294967295)::oid AND pid <> "
		    "pg_backend_pid() LIMIT 1)", 0, NULL) == -1)
			return -1;
		break;
	case J_MAINT:
		today = (int64_t)(time(NULL) / 86400);
		keep = (rl.cfg->event_log_retention_ms + 86399999) / 86400000;
		snprintf(a, sizeof(a), "%" PRId64, today - keep);
		snprintf(b, sizeof(b), "%" PRId64, today + RELAY_AHEAD_DAYS);
		snprintf(d, sizeof(d), "%" PRId64, rl.persisted);
		v[0] = a;
		v[1] = b;
		if (send_params(c, "SELECT action, partition, rows FROM exfeedd_event_log_create("
		    "date '1970-01-01' + $1::integer, date '1970-01-01' + $2::integer)", 2, v) == -1)
			return -1;
		v[1] = rl.enabled ? d : NULL;
		if (send_params(c, "SELECT action, partition, rows FROM exfeedd_event_log_retain("
		    "date '1970-01-01' + $1::integer, $2::bigint)", 2, v) == -1)
			return -1;
		rl.maint_step = 0;
		break;
	case J_MARK:
		rl.mark_sent = watermark();
		snprintf(a, sizeof(a), "%" PRId64, rl.mark_sent);
		v[0] = a;
		if (send_params(c, "UPDATE event_log_relay SET published_through = $1, "
		    "updated_at = now() WHERE published_through < $1", 1, v) == -1)
			return -1;
		rl.mark_at = monotonic_ms() + RELAY_MARK_MS;
		break;
	case J_READ:
		snprintf(a, sizeof(a), "%" PRId64, rl.cursor);
		rl.read_limit = rl.cap - rl.n < RELAY_READ_MAX ? (int)(rl.cap - rl.n) :
		    RELAY_READ_MAX;
		snprintf(b, sizeof(b), "%d", rl.read_limit);
		v[0] = a;
		v[1] = b;
		if (send_params(c, "SELECT " WSQL_LOG_RETURNING " FROM event_log l "
		    "WHERE l.id > $1 ORDER BY l.id LIMIT $2", 2, v) == -1)
			return -1;
		rl.reads++;
		rl.read_rewinds = rl.rewinds;
		break;
	case J_BACKLOG:
		snprintf(a, sizeof(a), "%" PRId64, rl.enabled ? watermark() : INT64_MAX);
		v[0] = a;
		if (send_params(c, "SELECT (SELECT count(*) FROM (SELECT 1 FROM event_log "
		    "WHERE id > $1 LIMIT " RELAY_COUNT_CAP ") s), coalesce((SELECT "
		    "(extract(epoch FROM clock_timestamp() - committed_at) * 1000)::bigint "
		    "FROM event_log WHERE id > $1 ORDER BY id LIMIT 1), 0)", 1, v) == -1)
			return -1;
		rl.backlog_at = monotonic_ms() + RELAY_BACKLOG_MS;
		break;
	default:
		return 0;
	}
	if (!PQpipelineSync(c))
		return -1;
	rl.job = j;
	return 1;
}

static void
maint_result(const PGresult *r)
{
	for (int i = 0; i < PQntuples(r); i++) {
		const char *action = PQgetvalue(r, i, 0), *part = PQgetvalue(r, i, 1),
		    *rows = PQgetvalue(r, i, 2);

		if (strcmp(action, "kept") == 0)
			log_warnx("event_log: partition %s is past [database] event_log_retention "
			    "but kept: %s of its rows are not on Kafka yet", part, rows);
		else if (strcmp(action, "created") == 0 && strcmp(rows, "0") != 0)
			log_info("event_log: created partition %s, with the %s rows of its day that "
			    "waited in event_log_default", part, rows);
		else if (strcmp(action, "created") == 0)
			log_info("event_log: created partition %s", part);
		else
			log_info("event_log: %s %s (%s rows)", action, part, rows);
	}
}

void
relay_result(const PGresult *r)
{
	int64_t v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		return;
	switch (rl.job) {
	case J_INIT:
		if (PQntuples(r) != 1)
			return;
		if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
			rl.locked = 1;
			v = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
			if (!rl.have_mark) {
				rl.persisted = rl.cursor = rl.mark_sent = v;
				rl.have_mark = 1;
				log_info("kafka: event_log published through id %" PRId64, v);
			}
		} else {
			rl.lock_retry_at = monotonic_ms() + RELAY_LOCK_RETRY_MS;
			log_warnx_rl(&lock_rl, "database: another writer session (backend pid %s) "
			    "holds the writer lock; waiting for it to end",
			    PQgetisnull(r, 0, 2) ? "?" : PQgetvalue(r, 0, 2));
		}
		break;
	case J_MAINT:
		maint_result(r);
		rl.maint_step++;
		break;
	case J_READ:
		rl.rows_read += (uint64_t)PQntuples(r);
		/*
		 * A rewind while the read was out (a producer replaced, every
		 * report in after a failure) moved the cursor back: these rows
		 * follow the old cursor, and taking them would pass over the
		 * rows between the two.  The next read starts at the new one.
		 */
		if (rl.read_rewinds != rl.rewinds)
			break;
		if (produce_result(r) == PQntuples(r) && PQntuples(r) < rl.read_limit &&
		    !rl.draining)
			rl.live = 1;
		break;
	case J_BACKLOG:
		if (PQntuples(r) == 1) {
			rl.backlog_rows = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			rl.backlog_age_ms = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
			if (rl.enabled && rl.backlog_age_ms > rl.cfg->kafka_backlog_warn_ms)
				log_warnx_rl(&backlog_rl, "kafka: %" PRId64 " event_log rows not "
				    "published, the oldest committed %.1f s ago (%s)",
				    rl.backlog_rows, (double)rl.backlog_age_ms / 1000.,
				    rl.rk == NULL ? "no broker address yet" :
				    rl.last_error[0] ? rl.last_error : "brokers slow");
		}
		break;
	default:
		break;
	}
}

void
relay_sync(const char *error)
{
	enum job j = rl.job;

	rl.job = J_NONE;
	if (error != NULL) {
		log_warnx_rl(&fail_rl, "database: %s job failed: %s", job_names[j], error);
		if (j == J_MAINT)
			rl.maint_at = monotonic_ms() + 60 * 1000;
		else if (j == J_INIT)
			rl.lock_retry_at = monotonic_ms() + RELAY_LOCK_RETRY_MS * 5;
		else if (j == J_READ)
			rl.rewind_at = monotonic_ms() + RELAY_REWIND_MS;
		return;
	}
	switch (j) {
	case J_MAINT:
		rl.maint_at = monotonic_ms() + RELAY_MAINT_MS;
		break;
	case J_MARK:
		rl.persisted = rl.mark_sent;
		break;
	default:
		break;
	}
}

void
relay_batch_rows(PGresult *r)
{
	if (rl.batch_rows)
		PQclear(rl.batch_rows);
	rl.batch_rows = r;
}

void
relay_batch_end(int committed)
{
	PGresult *r = rl.batch_rows;
	int n;

	rl.batch_rows = NULL;
	if (r == NULL)
		return;
	n = PQntuples(r);
	if (committed && n > 0) {
		struct kafka_row last;

		if (kafka_row_get(r, n - 1, &last) == 0 && last.id > rl.committed_max)
			rl.committed_max = last.id;
		if (rl.enabled && rl.live && rl.rk != NULL && !rl.draining && !rl.stopping &&
		    produce_result(r) < n)
			rl.live = 0;	/* the window is full: read the rest later */
	}
	PQclear(r);
}

/* ------------------------------------------------------------- market data */

void
relay_market(const struct event *ev)
{
	if (rl.enabled && EV_IS_MARKET(ev->type))
		(void)kafka_market_produce(&rl.mkt, rl.rk, rl.cfg, ev);
}

void
relay_market_status(msgpack_packer *pk)
{
	msgpack_pack_map(pk, KAFKA_MARKET_STATUS_KEYS);
	kafka_market_pack(pk, &rl.mkt, rl.cfg);
}

/* ------------------------------------------------------------------ stop */

void
relay_stop(void)
{
	if (rl.stopping)
		return;
	rl.stopping = 1;
	rl.stop_deadline = monotonic_ms() + RELAY_STOP_MS;
	if (rl.rk)
		rd_kafka_flush(rl.rk, 0);	/* send now, without lingering */
}

/* Stopped: nothing in flight (or the deadline passed), the watermark stored. */
int
relay_stopped(void)
{
	if (!rl.stopping)
		return 0;
	if (rl.stopped)
		return 1;
	if (!rl.enabled) {
		rl.stopped = 1;
		return 1;
	}
	if (rl.rk)
		rd_kafka_poll(rl.rk, 0);
	if (rl.pending > 0 && monotonic_ms() < rl.stop_deadline)
		return 0;
	if (rl.db && rl.locked && watermark() > rl.persisted)
		return 0;	/* the mark job goes next */
	if (rl.job != J_NONE && rl.db)
		return 0;
	if (rl.pending > 0)
		log_warnx("kafka: stopping with %zu messages not acknowledged (they are "
		    "published again at the next start)", rl.pending);
	rl.stopped = 1;
	return 1;
}

void
relay_end(void)
{
	if (!rl.enabled)
		return;
	rl.kick = NULL;		/* the writer is past stopping */
	producer_drop();
	ev_timer_stop(rl.loop, &rl.poll);
	if (rl.io_pipe[0] != -1) {
		close(rl.io_pipe[0]);
		close(rl.io_pipe[1]);
		rl.io_pipe[0] = rl.io_pipe[1] = -1;
	}
	free(rl.ring);
	rl.ring = NULL;
	free(rl.value.p);
	rl.value.p = NULL;
	free(rl.mkt.value.p);
	rl.mkt.value.p = NULL;
}

/* ---------------------------------------------------------------- status */

static void
pack_topics(msgpack_packer *pk, const uint64_t *v)
{
	int n = 0;

	for (int t = 1; t < CONF_KAFKA_TOPICS; t++)
		n += rl.cfg->kafka_topic[t] != NULL && !EV_IS_MARKET(t);
	msgpack_pack_map(pk, (size_t)n);
	for (int t = 1; t < CONF_KAFKA_TOPICS; t++)
		if (rl.cfg->kafka_topic[t] != NULL && !EV_IS_MARKET(t))
			mp_kv_u64(pk, rl.cfg->kafka_topic[t], v[t]);
}

void
relay_status(msgpack_packer *pk)
{
	mp_str(pk, "kafka");
	msgpack_pack_map(pk, 19);
	mp_kv_str(pk, "publishing", !rl.enabled ? "off" : rl.rk == NULL ? "waiting for a broker "
	    "address" : rl.draining ? "rewinding" : rl.live ? "live" : "catching up");
	mp_kv_str(pk, "bootstraps", rl.bootstraps);
	mp_kv_i64(pk, "published_through", rl.persisted);
	mp_kv_i64(pk, "acked_through", rl.enabled ? watermark() : 0);
	mp_kv_i64(pk, "cursor", rl.cursor);
	mp_kv_i64(pk, "committed_max", rl.committed_max);
	mp_kv_u64(pk, "in_flight", rl.n);
	mp_kv_i64(pk, "backlog_rows", rl.backlog_rows);
	mp_kv_i64(pk, "backlog_age_ms", rl.backlog_age_ms);
	mp_str(pk, "produced");
	pack_topics(pk, rl.produced);
	mp_str(pk, "delivered");
	pack_topics(pk, rl.delivered);
	mp_str(pk, "failed");
	pack_topics(pk, rl.failed);
	mp_kv_u64(pk, "rewinds", rl.rewinds);
	mp_kv_u64(pk, "reads", rl.reads);
	mp_kv_u64(pk, "rows_read", rl.rows_read);
	mp_kv_u64(pk, "passed_over", rl.bad_rows);
	mp_kv_u64(pk, "producers", rl.producers);
	mp_kv_str(pk, "last_error", rl.last_error);
	mp_str(pk, "latency_us");
	hist_pack(&rl.lat, pk);
}
