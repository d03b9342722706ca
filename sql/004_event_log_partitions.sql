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

CREATE FUNCTION exfeedd_fact_day(event_type text, payload json, exchange_time bigint)
RETURNS date LANGUAGE sql IMMUTABLE AS $$
	SELECT ((timestamptz 'epoch' + coalesce(nullif(CASE event_type
	    WHEN 'fill' THEN (payload->>'trade_time')::bigint
	    WHEN 'margin_call' THEN (payload->>'event_time')::bigint
	    WHEN 'unknown' THEN (payload->>'event_time')::bigint
	    ELSE (payload->>'update_time')::bigint END, 0), exchange_time)
	    * interval '1 millisecond') AT TIME ZONE 'UTC')::date
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
-- Retention deletes from it row by row; it stays small.
CREATE TABLE event_log_default PARTITION OF event_log DEFAULT;

CREATE TABLE event_log_relay (
	one			boolean PRIMARY KEY DEFAULT true CHECK (one),
	published_through	bigint NOT NULL DEFAULT 0,	-- every row with id <= this is on Kafka
	updated_at		timestamptz NOT NULL DEFAULT now()
);
-- Rows stored before this migration were never published: the relay
-- publishes them (an outbox delivers everything it holds).
INSERT INTO event_log_relay DEFAULT VALUES;

-- Create the day partitions that are missing, from first to last
-- (inclusive), and say what was done: one row per partition
-- (action 'created', or 'blocked' when the default partition already holds
-- rows of that day, which must be moved first: its name and row count).
CREATE FUNCTION exfeedd_event_log_create(first date, last date)
RETURNS TABLE (action text, partition text, rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
	d date;
	name text;
	n bigint;
BEGIN
	FOR d IN SELECT generate_series(first, last, interval '1 day')::date LOOP
		name := 'event_log_p' || to_char(d, 'YYYYMMDD');
		CONTINUE WHEN to_regclass(name) IS NOT NULL;
		SELECT count(*) INTO n FROM event_log_default WHERE event_log_default.day = d;
		IF n > 0 THEN
			action := 'blocked'; partition := name; rows := n;
			RETURN NEXT;
			CONTINUE;
		END IF;
		EXECUTE format('CREATE TABLE %I PARTITION OF event_log FOR VALUES FROM (%L) TO (%L)',
		    name, d, d + 1);
		action := 'created'; partition := name; rows := 0;
		RETURN NEXT;
	END LOOP;
END
$$;

-- Retention: drop every day partition whose days all lie before keep_from,
-- unless it holds a row after published_through (not yet on Kafka; NULL:
-- publishing is off, nothing waits).  Rows of the default partition older
-- than keep_from (by commit time) go the same way, published ones only.
-- One row per partition acted on: 'dropped' (rows it held), 'kept' (rows
-- not yet published), 'deleted' (default partition, rows deleted).
CREATE FUNCTION exfeedd_event_log_retain(keep_from date, published_through bigint)
RETURNS TABLE (action text, partition text, rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
	p record;
	n bigint;
	waiting bigint;
BEGIN
	FOR p IN SELECT c.relname::text AS name,
	    to_date(substr(c.relname, 12), 'YYYYMMDD') AS d
	    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	    WHERE i.inhparent = 'event_log'::regclass AND c.relname ~ '^event_log_p[0-9]{8}$'
	    ORDER BY 2 LOOP
		CONTINUE WHEN p.d + 1 > keep_from;
		waiting := 0;
		IF published_through IS NOT NULL THEN
			EXECUTE format('SELECT count(*) FROM %I WHERE id > $1', p.name)
			    INTO waiting USING published_through;
		END IF;
		IF waiting > 0 THEN
			action := 'kept'; partition := p.name; rows := waiting;
			RETURN NEXT;
			CONTINUE;
		END IF;
		EXECUTE format('SELECT count(*) FROM %I', p.name) INTO n;
		EXECUTE format('DROP TABLE %I', p.name);
		action := 'dropped'; partition := p.name; rows := n;
		RETURN NEXT;
	END LOOP;
	DELETE FROM event_log_default l WHERE l.committed_at < keep_from::timestamptz
	    AND (published_through IS NULL OR l.id <= published_through);
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		action := 'deleted'; partition := 'event_log_default'; rows := n;
		RETURN NEXT;
	END IF;
END
$$;

-- The stored rows move into partitions of their own days.
SELECT count(*) FROM (SELECT exfeedd_event_log_create(d, d)
    FROM (SELECT DISTINCT exfeedd_fact_day(event_type, payload, exchange_time) AS d
          FROM event_log_v3) s) c;
INSERT INTO event_log (id, event_id, day, account_id, user_id, exchange, event_type,
    exchange_time, received_at, committed_at, resync, payload, raw)
SELECT id, event_id, exfeedd_fact_day(event_type, payload, exchange_time), account_id,
    nullif(nullif(payload->>'user_id', ''), '0')::bigint, coalesce(payload->>'exchange', ''),
    event_type, exchange_time, received_at,
    committed_at, resync, payload, raw
FROM event_log_v3 ORDER BY id;
DROP TABLE event_log_v3;
