/*
 * writer_sql.h: the SQL that lands normalized events in PostgreSQL, in one
 * place for the writer (group commit) and the naive baseline of the bench
 * (dpsend --naive: the same statements, one event per transaction).
 *
 * Rows are gathered column by column into array literals; each table gets
 * one set-based statement, INSERT ... SELECT ... FROM unnest(arrays) ... ON
 * CONFLICT, with the monotonic guards of DESIGN §3 and the de-duplication
 * of keys within one batch done by the same guards (DISTINCT ON ... ORDER
 * BY guard DESC), so a batch never touches a row twice.
 */
#ifndef EXFEEDD_WRITER_SQL_H
#define EXFEEDD_WRITER_SQL_H

#include <stddef.h>

#include "event.h"

struct wsql;

struct wsql	*wsql_new(void);
void		 wsql_free(struct wsql *);
/* Forget the rows gathered; keeps the buffers. */
void		 wsql_reset(struct wsql *);
/*
 * Add one event's rows: its table, event_log, the account's resync cursor.
 * A market event has no event_log row: a closed kline is one klines row,
 * any other market event (an open kline too) adds nothing and is not
 * counted.  -1: out of memory.
 */
int		 wsql_add(struct wsql *, const struct event *);
/* Whether wsql_add writes rows for this event: every user-data event, of market data only closed klines. */
int		 wsql_stored(const struct event *);
size_t		 wsql_events(const struct wsql *);
/*
 * The statements for the rows gathered, in the order they run, each a
 * complete statement without a trailing ';'.  Calls fn once per statement;
 * a table without rows has none.  Returns the number of statements, -1 if
 * out of memory.
 */
int		 wsql_statements(struct wsql *, void (*fn)(const char *sql, size_t len, void *),
		    void *arg);
/*
 * All of them as one string of ';'-separated statements, malloc'd.  Sent
 * with the simple query protocol, it runs as one implicit transaction: all
 * or nothing.  NULL if there is nothing to write or out of memory.
 */
char		*wsql_script(struct wsql *, size_t *len);

/*
 * The prepared form (the writer's): one named statement per table, its
 * column arrays as text parameters $1, $2 ..., so that a batch is neither
 * parsed nor planned again.  wsql_prepared gives the name, the parameter
 * count and the malloc'd text of statement i, 0 <= i < wsql_nprepared().
 */
int		 wsql_nprepared(void);

/*
 * The event_log statement returns the rows it inserted, or replaced (a fill
 * first logged from TRADE_LITE, now complete: a new id), as the Kafka relay
 * reads them from the table (workers/relay.c), these columns in this order.
 * Rows that were there already return nothing.
 */
#define WSQL_LOG_STMT		"exfeedd_event_log"
/* The parameter of that statement that holds the payloads (0-based). */
#define WSQL_LOG_PAYLOAD	10
#define WSQL_LOG_RETURNING	"l.id, l.event_id, l.user_id, l.account_id, l.exchange, " \
	"l.event_type, l.payload, l.raw, " \
	"(extract(epoch FROM l.committed_at) * 1000000)::bigint"
char		*wsql_prepared(int i, const char **name, int *nparams);

/*
 * The rows gathered, copied out as the parameters of the prepared
 * statements that have rows, in the order they run (wsql_reset may follow
 * at once).  NULL if out of memory.  Executed back to back between two
 * synchronization points of the extended protocol, they are one implicit
 * transaction: all or nothing.
 */
struct wsql_batch;

struct wsql_batch *wsql_seal(struct wsql *);
int		 wsql_batch_count(const struct wsql_batch *);
/* Statement i of the batch: its name, and its parameters in text form. */
const char	*wsql_batch_stmt(const struct wsql_batch *, int i, int *nparams,
		    const char *const **values);
size_t		 wsql_batch_bytes(const struct wsql_batch *);
void		 wsql_batch_free(struct wsql_batch *);

/*
 * The staging form, for the ceiling the bench measures against the writer
 * (dpsend --ceiling, tools/bench userdata): table i's rows loaded with COPY
 * into a temporary staging table, then written by the same upsert as the
 * writer's (same guards and de-duplication) reading FROM that table.  All
 * three return malloc'd text, NULL if out of memory; i as wsql_prepared.
 *   wsql_stage_create: CREATE TEMP TABLE <stage> ... (ON COMMIT DELETE ROWS)
 *     with the columns the upsert reads (the statement's, and "ord" where it
 *     keeps arrival order);
 *   wsql_stage_rows: a query over the gathered rows of table i whose output,
 *     in COPY's text format (COPY (query) TO STDOUT), loads the staging
 *     table; NULL too when table i has no rows;
 *   wsql_stage_upsert: the upsert FROM the staging table.
 * wsql_stage_name gives the staging table's name.
 */
char		*wsql_stage_create(int i);
char		*wsql_stage_rows(struct wsql *, int i);
char		*wsql_stage_upsert(int i);
const char	*wsql_stage_name(int i);
/* Rows gathered for table i (wsql_prepared's numbering). */
size_t		 wsql_rows(const struct wsql *, int i);

#endif
