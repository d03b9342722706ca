-- 001_initial.sql: exfeedd schema, version 1.
--
-- Applied by `exfeedctl db migrate` inside one transaction, which also
-- records the version in schema_migrations.  Every state table is written
-- only by the writer, with idempotent, monotonic upserts (see exfeedd(8),
-- DELIVERY): a replayed or late event never moves a row backwards.
-- Decimal quantities are numeric, never float: they are the exchange's
-- decimal strings, exact.  Times are the exchange's milliseconds (bigint)
-- where they are guards, timestamptz where they are for people.

CREATE TABLE exchange_accounts (
	id			bigserial PRIMARY KEY,
	user_id			bigint NOT NULL,
	exchange		text NOT NULL
	    CHECK (exchange IN ('binance-futures', 'binance-spot', 'bybit', 'okx')),
	trading_mode		text NOT NULL DEFAULT 'futures',
	label			text,
	api_key_encrypted	bytea NOT NULL,
	api_secret_encrypted	bytea NOT NULL,
	listen_key_encrypted	bytea,
	listen_key_expires_at	timestamptz,
	is_active		boolean NOT NULL DEFAULT true,
	deactivated_reason	text,
	last_event_time		bigint NOT NULL DEFAULT 0,	-- newest exchange E committed (resync cursor)
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX exchange_accounts_user ON exchange_accounts (user_id);
-- Listen keys due for renewal, among active accounts only.
CREATE INDEX exchange_accounts_listen_key_expiry ON exchange_accounts (listen_key_expires_at)
    WHERE is_active AND listen_key_expires_at IS NOT NULL;

-- The tables of an account's state below have no foreign key to
-- exchange_accounts: the check of one cost 14-23 us per row written, the
-- largest share of a small batch.  The same guarantees hold without it: the
-- writer inserts only rows whose account exists (WHERE EXISTS, one index
-- probe), and `exfeedctl account remove` deletes the account's rows with the
-- account, in one transaction that first locks these tables against writes
-- (SHARE ROW EXCLUSIVE), so no batch can slip rows in between.

-- Rank of an order status along its lifecycle: the third monotonic guard.
CREATE FUNCTION exfeedd_order_rank(status text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE status
	    WHEN 'NEW' THEN 1
	    WHEN 'PARTIALLY_FILLED' THEN 2
	    WHEN 'FILLED' THEN 3
	    WHEN 'CANCELED' THEN 3
	    WHEN 'EXPIRED' THEN 3
	    WHEN 'EXPIRED_IN_MATCH' THEN 3
	    ELSE 0 END
$$;

CREATE FUNCTION exfeedd_algo_rank(status text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE status
	    WHEN 'NEW' THEN 1
	    WHEN 'TRIGGERING' THEN 2
	    WHEN 'TRIGGERED' THEN 3
	    WHEN 'FINISHED' THEN 4
	    WHEN 'CANCELED' THEN 4
	    WHEN 'EXPIRED' THEN 4
	    WHEN 'REJECTED' THEN 4
	    ELSE 0 END
$$;

CREATE TABLE orders (
	account_id		bigint NOT NULL,	-- exchange_accounts (id), no foreign key: see below
	order_id		bigint NOT NULL,
	symbol			text NOT NULL,
	client_order_id		text NOT NULL,
	side			text NOT NULL,
	position_side		text NOT NULL,
	order_type		text NOT NULL,
	orig_type		text NOT NULL,
	time_in_force		text NOT NULL,
	status			text NOT NULL,
	exec_type		text NOT NULL,		-- of the event that set this row
	price			numeric NOT NULL,
	avg_price		numeric NOT NULL,
	stop_price		numeric NOT NULL,
	orig_qty		numeric NOT NULL,
	filled_qty		numeric NOT NULL,	-- cumulative (o.z / executedQty)
	reduce_only		boolean NOT NULL,
	close_position		boolean NOT NULL,
	update_time		bigint NOT NULL,	-- exchange ms (o.T / updateTime)
	updated_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, order_id)
);
CREATE INDEX orders_open ON orders (account_id)
    WHERE status IN ('NEW', 'PARTIALLY_FILLED');

CREATE TABLE algo_orders (
	account_id		bigint NOT NULL,	-- exchange_accounts (id), no foreign key: see below
	algo_id			bigint NOT NULL,
	client_algo_id		text NOT NULL,
	algo_type		text NOT NULL,
	order_type		text NOT NULL,
	symbol			text NOT NULL,
	side			text NOT NULL,
	position_side		text NOT NULL,
	time_in_force		text NOT NULL,
	quantity		numeric NOT NULL,
	status			text NOT NULL,
	actual_order_id		text NOT NULL,		-- o.ai: the order placed when triggered
	avg_price		numeric NOT NULL,
	filled_qty		numeric NOT NULL,
	trigger_price		numeric NOT NULL,
	price			numeric NOT NULL,
	reduce_only		boolean NOT NULL,
	close_position		boolean NOT NULL,
	reject_reason		text NOT NULL,
	update_time		bigint NOT NULL,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, algo_id)
);

CREATE TABLE fills (
	account_id		bigint NOT NULL,	-- exchange_accounts (id), no foreign key: see below
	symbol			text NOT NULL,
	trade_id		bigint NOT NULL,
	order_id		bigint NOT NULL,
	side			text NOT NULL,
	position_side		text,			-- NULL until ORDER_TRADE_UPDATE (TRADE_LITE lacks it)
	price			numeric NOT NULL,
	qty			numeric NOT NULL,
	fee			numeric,		-- NULL until ORDER_TRADE_UPDATE
	fee_asset		text,
	maker			boolean NOT NULL,
	realized_pnl		numeric,
	trade_time		bigint NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, symbol, trade_id)
);
CREATE INDEX fills_order ON fills (account_id, order_id);

CREATE TABLE positions (
	account_id		bigint NOT NULL,	-- exchange_accounts (id), no foreign key: see below
	symbol			text NOT NULL,
	position_side		text NOT NULL,		-- BOTH (one-way), LONG, SHORT (hedge)
	amount			numeric NOT NULL,
	entry_price		numeric NOT NULL,
	breakeven_price		numeric NOT NULL,
	unrealized_pnl		numeric NOT NULL,
	margin_type		text NOT NULL,
	isolated_wallet		numeric NOT NULL,
	margin_asset		text NOT NULL,
	update_time		bigint NOT NULL,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, symbol, position_side)
);

CREATE TABLE balances (
	account_id		bigint NOT NULL,	-- exchange_accounts (id), no foreign key: see below
	asset			text NOT NULL,
	wallet_balance		numeric NOT NULL,
	cross_wallet		numeric NOT NULL,
	balance_change		numeric NOT NULL,	-- of the last update
	reason			text NOT NULL,		-- ACCOUNT_UPDATE a.m, or RESYNC
	update_time		bigint NOT NULL,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, asset)
);

CREATE TABLE margin_calls (
	account_id		bigint NOT NULL,	-- exchange_accounts (id), no foreign key: see below
	event_time		bigint NOT NULL,
	symbol			text NOT NULL,		-- '' when the call lists no position
	position_side		text NOT NULL,
	cross_wallet		numeric NOT NULL,
	amount			numeric,
	margin_type		text,
	isolated_wallet		numeric,
	mark_price		numeric,
	unrealized_pnl		numeric,
	maint_margin		numeric,
	created_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, event_time, symbol, position_side)
);

-- Leverage per symbol; the account-wide multi-assets mode under symbol ''.
CREATE TABLE account_config (
	account_id		bigint NOT NULL,	-- exchange_accounts (id), no foreign key: see below
	symbol			text NOT NULL,
	leverage		int,
	multi_assets		boolean,
	update_time		bigint NOT NULL,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, symbol)
);

-- The outbox: one row per normalized event, unique by its deterministic id.
CREATE TABLE event_log (
	id			bigserial,
	event_id		text COLLATE "C" NOT NULL PRIMARY KEY,	-- bytewise: cheap compares, prefix ranges
	account_id		bigint,			-- NULL for market events
	event_type		text NOT NULL,
	exchange_time		bigint NOT NULL,	-- E, ms
	received_at		timestamptz NOT NULL,
	committed_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	resync			boolean NOT NULL DEFAULT false,
	payload			json NOT NULL,		-- validated text: kept as sent, no binary conversion
	raw			text,			-- the frame, for unknown event types
	published_at		timestamptz		-- set on the Kafka delivery report
);
-- Every index here is paid for by every event the writer commits, so there
-- are two: the primary key (the de-duplication the upsert needs) and the
-- relay's queue, the unpublished rows in commit order (id, from the
-- sequence: unique by construction, no unique index needed).  The relay
-- marks rows published through the same partial index (WHERE id = ANY(...)
-- AND published_at IS NULL).  An account's history is a range of the primary
-- key (ids begin with "<kind>:<account>:" and compare bytewise): no index of
-- its own.
CREATE INDEX event_log_unpublished ON event_log (id) WHERE published_at IS NULL;
