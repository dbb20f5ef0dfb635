-- 0009: the intent that placed an order, found by index for NEW_LIST intents too.
--
-- The book audit and the rebuild from Aurora (chalicelib/bookaudit.py) read, for every
-- open order, the intent that placed it: a NEW or CANCEL_REPLACE intent keyed by the
-- order's id, or a list's NEW_LIST intent keyed by its first order's id.  The partial
-- index of 0003 covers only the first two kinds, so with NEW_LIST in the condition no
-- index applied and every open order scanned the outbox: a takeover's audit timed out
-- (30 s statement timeout) once the outbox held some tens of thousands of rows
-- (bench/capacity.py, three processes, six steps).
CREATE INDEX intent_outbox_placing ON intent_outbox (order_id) WHERE kind IN ('NEW', 'CANCEL_REPLACE', 'NEW_LIST');
