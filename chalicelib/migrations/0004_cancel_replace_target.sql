-- 0004: the cancel-replaces naming an order, by that order (issue 14).
--
-- A cancel (or cancel-replace) of an order the matcher has not sequenced yet is held
-- in the outbox and sequenced right after the order (matcher/service/ordering.py):
-- when an order is sequenced, the matcher reads the unacknowledged cancels of it
-- (intent_outbox_cancels) and the cancel-replaces whose payload names it (this index).
CREATE INDEX intent_outbox_replaces ON intent_outbox ((CAST(payload ->> 'cancel_order_id' AS bigint)))
    WHERE kind = 'CANCEL_REPLACE';
