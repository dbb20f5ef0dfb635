-- 0002: an account's role (admin rights come from here, granted by the operator CLI,
-- never from a token's claim alone), and what the matching engine did with each
-- cancel intent (so that a cancel is answered from the engine's outcome for *that*
-- request, not from the order's status read afterwards).

ALTER TABLE accounts ADD COLUMN role text NOT NULL DEFAULT 'USER' CHECK (role IN ('USER', 'ADMIN'));

-- Stamped in the matcher's settlement transaction, with sent_at, for CANCEL and
-- CANCEL_REPLACE intents: CANCELED (the engine cancelled the order), REJECTED (the
-- order was not open in the book: already done, or someone else's), NOT_ATTEMPTED (a
-- cancel-replace whose new order failed its pre-check, so nothing was cancelled).
ALTER TABLE intent_outbox ADD COLUMN outcome text
    CHECK (outcome IN ('CANCELED', 'REJECTED', 'NOT_ATTEMPTED'));

-- The cancel intents of one order (who owns a cancel in flight).
CREATE INDEX intent_outbox_cancels ON intent_outbox (order_id) WHERE kind = 'CANCEL';
