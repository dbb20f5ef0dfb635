-- 0008: iceberg orders and trailing stops (issue 16).
--
-- iceberg_qty: the visible slice of an iceberg order (Binance's icebergQty), NULL for
-- any other order.  trailing_delta: a trailing stop's delta in BIPS (trailingDelta).
-- trailing_at: when the trailing stop started tracking the price (trailingTime),
-- stamped by the settlement of the batch whose engine events activated it, at that
-- batch's sequencing time; NULL until then.
ALTER TABLE orders ADD COLUMN iceberg_qty numeric(38, 18);
ALTER TABLE orders ADD COLUMN trailing_delta bigint;
ALTER TABLE orders ADD COLUMN trailing_at timestamptz;
