-- 002_gaps_self_trades.sql: exfeedd schema, version 2.
--
-- Durable gaps (DESIGN §3.4), self-trades, and the values the exchange does
-- not always send.  Applied by `exfeedctl db migrate` in one transaction.

-- A self-trade (both sides of one trade in one account: Binance spot with
-- STP mode NONE, older futures history) is two executions with one trade
-- id: the order id tells them apart.  The event ids of fills in event_log
-- gain the order id the same way, so that a fill replayed after this
-- migration names the row it already has.
ALTER TABLE fills DROP CONSTRAINT fills_pkey;
ALTER TABLE fills ADD PRIMARY KEY (account_id, symbol, trade_id, order_id);
UPDATE event_log SET event_id = event_id || ':' || (payload->>'order_id')
    WHERE event_type = 'fill' AND event_id ~ '^f:[0-9]+:[^:]+:[0-9]+$';

-- Binance sends cw only with cross margin calls: NULL for isolated ones.
ALTER TABLE margin_calls ALTER COLUMN cross_wallet DROP NOT NULL;

-- REST algo rows carry neither the executed quantity nor the reject reason:
-- NULL is "not known", never overwriting a value the stream gave.
ALTER TABLE algo_orders ALTER COLUMN filled_qty DROP NOT NULL;
ALTER TABLE algo_orders ALTER COLUMN reject_reason DROP NOT NULL;

-- Every gap in an account's stream, from the moment it may have lost events
-- until a resync that covers it commits.  Written only by the writer, from
-- the account workers' gap events, in the transaction that commits what was
-- sent before them on the data plane: a gap is recorded no later than the
-- first event of the stream that resumed after it, and cleared only with
-- (or after) the last event of the resync that healed it.  An account's
-- rows with healed_at NULL are its unhealed gaps: whichever worker owns the
-- account next (after a crash, a shard change, a restart, on another host)
-- resyncs from the earliest `since` among them.
CREATE TABLE account_gaps (
	id			bigserial PRIMARY KEY,
	account_id		bigint NOT NULL,	-- exchange_accounts (id), no foreign key (see 001)
	since			bigint NOT NULL,	-- exchange ms: events after this may be missing
	opened_at		timestamptz NOT NULL,	-- when the worker saw the gap open
	reason			text NOT NULL,
	healed_at		timestamptz,		-- the resync covering it committed
	healed_until		bigint,			-- exchange ms that resync's snapshot reached
	heal_began_at		timestamptz		-- when that resync began
);
CREATE INDEX account_gaps_open ON account_gaps (account_id, since) WHERE healed_at IS NULL;
