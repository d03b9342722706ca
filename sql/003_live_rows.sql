-- 003_live_rows.sql: exfeedd schema, version 3.
--
-- A resync asks the exchange about every order and algo order of the
-- account that is not in a final state (workers/resync.c, resync_db_read).
-- These indexes hold exactly those rows, so that read costs the account's
-- live rows, not its whole history, on the account worker's loop.  Their
-- predicates are the query's, word for word: PostgreSQL uses a partial
-- index only when the query's WHERE implies it.  Final statuses: FACTS §1.3.
CREATE INDEX orders_live ON orders (account_id, order_id)
    WHERE status NOT IN ('FILLED', 'CANCELED', 'EXPIRED', 'EXPIRED_IN_MATCH', 'REJECTED');
CREATE INDEX algo_orders_live ON algo_orders (account_id, algo_id)
    WHERE status NOT IN ('FINISHED', 'CANCELED', 'EXPIRED', 'REJECTED');
