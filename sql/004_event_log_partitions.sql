-- 004_event_log_partitions.sql: exfeedd schema, version 4.
--
-- The outbox becomes partitioned by day so that retention drops whole
-- partitions (no DELETE, no bloat), and the Kafka relay keeps one number,
-- not one mark per row.  Applied by `exfeedctl db migrate` in one
-- transaction.
--
-- Partition key.  A partitioned table's unique keys must hold the partition
-- key, so event_log is unique by (event_id, day).  For that to still mean
-- "unique by event id", day must be a function of the event id: it is the
-- UTC day of the event's fact time, the time its id is made of (an order's,
-- algo order's, position's, balance's or config's update time, a margin
-- call's or unknown event's event time), and for a fill, whose id has no
-- time, its trade time (the same T on the stream and in REST userTrades).
-- A fact time of 0 (unknown) falls back to the event time.  The writer
-- computes it (ev_fact_time, src/event.c); exfeedd_fact_day below is the
-- same rule for rows already stored.
--
-- Publishing.  The writer publishes rows to Kafka in id order (ids come
-- from one sequence, taken by one writer connection, so id order is commit
-- order) and records how far every row has been acknowledged by the
-- brokers: event_log_relay.published_through.  A row is published when its
-- id is at most that.  One small update per delivery flush, instead of
-- rewriting every row (a published_at column cost 15 us a row here, about
-- a quarter of what committing an event costs; see BENCHMARKS.md).

-- ev_fact_time and ev_fact_day, step by step: a fact time that is not
-- positive falls back to the event time; the day is the floor of the
-- milliseconds over 86400000 (integer arithmetic: no time zone in the way).
-- A day no date can hold is one the writer cannot store either (its insert
-- fails): +-infinity here, the default partition's, rather than a failed
-- migration.  PL/pgSQL: in SQL, with a subquery for each step, it is not
-- inlined and costs 13 times as much (a million rows: 56 s, against 4 s).
CREATE FUNCTION exfeedd_fact_day(event_type text, payload json, exchange_time bigint)
RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	f bigint;
	t bigint;
	d bigint;
BEGIN
	f := CASE event_type
	    WHEN 'fill' THEN (payload->>'trade_time')::bigint
	    WHEN 'margin_call' THEN NULL		-- their ids hold E
	    WHEN 'unknown' THEN NULL
	    ELSE (payload->>'update_time')::bigint END;
	t := CASE WHEN f > 0 THEN f ELSE exchange_time END;
	d := CASE WHEN t >= 0 THEN t / 86400000 ELSE -((-(t + 1)) / 86400000) - 1 END;
	RETURN CASE WHEN d < -2440588 THEN date '-infinity'
	    WHEN d > 2145042905 THEN date 'infinity'
	    ELSE date '1970-01-01' + d::integer END;
END
$$;

ALTER TABLE event_log RENAME TO event_log_v3;
ALTER INDEX event_log_pkey RENAME TO event_log_v3_pkey;
DROP INDEX event_log_unpublished;

CREATE TABLE event_log (
	id			bigint NOT NULL,	-- commit order (event_log_id_seq)
	event_id		text COLLATE "C" NOT NULL,	-- bytewise: cheap compares, prefix ranges
	day			date NOT NULL,		-- UTC day of the fact time (above)
	account_id		bigint,			-- NULL for market events
	user_id			bigint,			-- the Kafka key; NULL for market events
	exchange		text NOT NULL,		-- the Kafka header
	event_type		text NOT NULL,
	exchange_time		bigint NOT NULL,	-- E, ms
	received_at		timestamptz NOT NULL,
	committed_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	resync			boolean NOT NULL DEFAULT false,
	payload			json NOT NULL,		-- validated text: kept as sent, no binary conversion
	raw			text,			-- the frame, for unknown event types
	PRIMARY KEY (event_id, day)
) PARTITION BY RANGE (day);
ALTER SEQUENCE event_log_id_seq OWNED BY event_log.id;
ALTER TABLE event_log ALTER COLUMN id SET DEFAULT nextval('event_log_id_seq');
-- The relay's queue (rows after published_through, in order) and the
-- place of a row in it.  Ids rise with the table's end: cheap to keep.
CREATE INDEX event_log_id ON event_log (id);
-- Rows of days that have no partition: history older than the oldest
-- partition (a resync bringing an old order), or a clock far ahead.
-- Retention deletes from it row by row, and a day's rows move out into
-- their partition when it is made: it stays small.
CREATE TABLE event_log_default PARTITION OF event_log DEFAULT;

CREATE TABLE event_log_relay (
	one			boolean PRIMARY KEY DEFAULT true CHECK (one),
	published_through	bigint NOT NULL DEFAULT 0,	-- every row with id <= this is on Kafka
	updated_at		timestamptz NOT NULL DEFAULT now()
);
-- Rows stored before this migration were never published: the relay
-- publishes them (an outbox delivers everything it holds).
INSERT INTO event_log_relay DEFAULT VALUES;

-- Locks.  The writer runs these two functions itself, between its batches,
-- in one transaction.  Making a partition takes event_log's SHARE UPDATE
-- EXCLUSIVE lock and the default partition's ACCESS EXCLUSIVE one (to check
-- that it holds no row of the new day); dropping one takes event_log's
-- ACCESS EXCLUSIVE lock: both wait for every reader of event_log (a replay,
-- `exfeedctl db status`, a report), and while they wait the writer commits
-- nothing and every new reader queues behind them.  So they wait half a
-- second at most: then the job fails, the writer logs it and tries again a
-- minute later (a partition is made two days ahead of its day, and one a
-- little late to go costs only disk).

-- Create the day partitions that are missing, from first to last
-- (inclusive), and say what was done: one row per partition, action
-- 'created', rows: how many rows of its day it took over from the default
-- partition.  Those rows are there when a clock ran ahead of the
-- partitions (or history older than them came in before its day's
-- partition was made, by exfeedctl or the migration below); left there,
-- they would keep the partition from being made at all (a day's rows must
-- be in one place) and the whole day would land in the default partition.
CREATE FUNCTION exfeedd_event_log_create(first date, last date)
RETURNS TABLE (action text, partition text, rows bigint)
LANGUAGE plpgsql SET lock_timeout = '500ms' AS $$
DECLARE
	d date;
	name text;
BEGIN
	-- Names hold the day as YYYYMMDD, which retention reads back.
	IF first < date '1970-01-01' OR last > date '9999-12-31' THEN
		RAISE EXCEPTION 'event_log day partitions are for 1970-01-01 to 9999-12-31, not % to %',
		    first, last;
	END IF;
	-- Days as integers: a series of timestamps would step in the session's
	-- time zone.
	FOR i IN 0 .. last - first LOOP
		d := first + i;
		name := 'event_log_p' || to_char(d, 'YYYYMMDD');
		CONTINUE WHEN to_regclass(name) IS NOT NULL;
		-- Made apart, filled, then attached: CREATE TABLE ... PARTITION OF
		-- would refuse while the default partition holds rows of the day.
		EXECUTE format('CREATE TABLE %I (LIKE event_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
		    name);
		EXECUTE format('WITH moved AS (DELETE FROM event_log_default WHERE day = $1 RETURNING *) '
		    'INSERT INTO %I SELECT * FROM moved', name) USING d;
		GET DIAGNOSTICS rows = ROW_COUNT;
		EXECUTE format('ALTER TABLE event_log ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
		    name, d, d + 1);
		action := 'created'; partition := name;
		RETURN NEXT;
	END LOOP;
END
$$;

-- Retention: drop every day partition whose days all lie before keep_from,
-- unless it holds a row after published_through (not yet on Kafka; NULL:
-- publishing is off, nothing waits).  Rows of the default partition
-- committed before keep_from (midnight UTC) go the same way, published
-- ones only.  One row per partition acted on: 'dropped' (rows it held),
-- 'kept' (rows not yet published), 'deleted' (default partition, rows
-- deleted).  Counts stop at a million rows, so that a large partition costs
-- a bounded read on the writer's time: a dropped one past that shows the
-- planner's estimate, a kept one the million.  The drops come last, after
-- every count and the DELETE: from the first one on, event_log is locked
-- for everyone until the writer commits.
CREATE FUNCTION exfeedd_event_log_retain(keep_from date, published_through bigint)
RETURNS TABLE (action text, partition text, rows bigint)
LANGUAGE plpgsql SET lock_timeout = '500ms' AS $$
DECLARE
	p record;
	n bigint;
	doomed text[] := '{}';
	counts bigint[] := '{}';
BEGIN
	FOR p IN SELECT c.relname::text AS name, c.reltuples::bigint AS estimate,
	    to_date(substr(c.relname, 12), 'YYYYMMDD') AS d
	    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	    WHERE i.inhparent = 'event_log'::regclass AND c.relname ~ '^event_log_p[0-9]{8}$'
	    ORDER BY 3 LOOP
		CONTINUE WHEN p.d >= keep_from;
		IF published_through IS NOT NULL THEN
			EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I WHERE id > $1 '
			    'LIMIT 1000000) s', p.name) INTO n USING published_through;
			IF n > 0 THEN
				action := 'kept'; partition := p.name; rows := n;
				RETURN NEXT;
				CONTINUE;
			END IF;
		END IF;
		EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I LIMIT 1000000) s', p.name)
		    INTO n;
		IF n >= 1000000 AND p.estimate > n THEN
			n := p.estimate;
		END IF;
		doomed := doomed || p.name;
		counts := counts || n;
	END LOOP;
	-- keep_from::timestamptz would be midnight in the session's time zone.
	DELETE FROM event_log_default l
	    WHERE l.committed_at < (keep_from::timestamp AT TIME ZONE 'UTC')
	    AND (published_through IS NULL OR l.id <= published_through);
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		action := 'deleted'; partition := 'event_log_default'; rows := n;
		RETURN NEXT;
	END IF;
	FOR i IN 1 .. coalesce(array_length(doomed, 1), 0) LOOP
		EXECUTE format('DROP TABLE %I', doomed[i]);
		action := 'dropped'; partition := doomed[i]; rows := counts[i];
		RETURN NEXT;
	END LOOP;
END
$$;

-- The stored rows move into partitions of their own days, made as far
-- ahead as the writer makes them (two days): the rows of a later day (a
-- clock far ahead) wait in the default partition, as the writer's would,
-- where retention deletes them once old; a partition made for such a day
-- would keep them until that day.
SELECT count(*) FROM (SELECT exfeedd_event_log_create(d, d)
    FROM (SELECT DISTINCT exfeedd_fact_day(event_type, payload, exchange_time) AS d
          FROM event_log_v3) s
    WHERE d BETWEEN date '1970-01-01' AND (now() AT TIME ZONE 'UTC')::date + 2) c;
INSERT INTO event_log (id, event_id, day, account_id, user_id, exchange, event_type,
    exchange_time, received_at, committed_at, resync, payload, raw)
SELECT id, event_id, exfeedd_fact_day(event_type, payload, exchange_time), account_id,
    nullif(nullif(payload->>'user_id', ''), '0')::bigint, coalesce(payload->>'exchange', ''),
    event_type, exchange_time, received_at,
    committed_at, resync, payload, raw
FROM event_log_v3 ORDER BY id;
DROP TABLE event_log_v3;
