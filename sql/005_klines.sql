-- 005_klines.sql: exfeedd schema, version 5.
--
-- Closed candles of the market worker's kline streams (FACTS §3: k{} with
-- x = true) and of its REST backfill (/fapi/v1/klines), one row per
-- (exchange, symbol, interval, open time).  Only closed candles are kept:
-- a closed candle is final, so the stream's row and the REST row of one
-- candle carry the same values and the writer's upsert only ever replaces
-- a row with an equal or newer copy (updated_at says when).  Times are the
-- exchange's milliseconds (bigint), as in the other tables; `interval` keeps
-- Binance's spelling, case and all ("1m" is a minute, "1M" a month).
CREATE TABLE klines (
	exchange		text NOT NULL,
	symbol			text NOT NULL,
	interval		text NOT NULL,
	open_time		bigint NOT NULL,	-- t, exchange ms
	close_time		bigint NOT NULL,	-- T
	open			numeric NOT NULL,	-- o
	high			numeric NOT NULL,	-- h
	low			numeric NOT NULL,	-- l
	close			numeric NOT NULL,	-- c
	volume			numeric NOT NULL,	-- v, base asset
	quote_volume		numeric NOT NULL,	-- q
	trades			bigint NOT NULL,	-- n
	taker_buy_volume	numeric NOT NULL,	-- V
	taker_buy_quote_volume	numeric NOT NULL,	-- Q
	updated_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (exchange, symbol, interval, open_time)
);
