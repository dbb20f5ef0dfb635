-- 0003: what the matcher needs to stand back up from Aurora alone (issue 11).
--
-- orders.book_seq: the engine event seq at which the order entered the book (its
-- acceptance, or for a stop the trigger that made it rest): the time priority a book
-- rebuilt from Aurora restores within each price level.  NULL for orders settled
-- before this migration (those are ordered by working_at, then order_id).
ALTER TABLE orders ADD COLUMN book_seq bigint;

-- The engine's counters as settled, so that a book rebuilt from Aurora continues them
-- (event seqs are depth lastUpdateIds and priorities; trade ids are primary keys).
ALTER TABLE settlement_progress ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE settlement_progress ADD COLUMN trade_id bigint NOT NULL DEFAULT 0;

-- An order's fills, by order (the takeover audit sums them per open order; the API's
-- newOrderRespType FULL reads them too).
CREATE INDEX trades_by_buyer_order ON trades (buyer_order_id);
CREATE INDEX trades_by_seller_order ON trades (seller_order_id);

-- The intent that placed an order (the rebuild takes the engine command from it).
CREATE INDEX intent_outbox_by_order ON intent_outbox (order_id) WHERE kind IN ('NEW', 'CANCEL_REPLACE');
