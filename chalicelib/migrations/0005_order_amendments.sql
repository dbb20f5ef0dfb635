-- 0005: order amend keep priority (issue 16).
--
-- An amend is an intent like a cancel: the API writes an AMEND outbox row, the matcher
-- sequences it (held behind its order while that is still PENDING_NEW, like a cancel),
-- and the settlement transaction stamps its outcome (AMENDED, or REJECTED:<reason> so
-- that the API can answer with the engine's own reason), lowers the order's orig_qty,
-- renames it to the amend's newClientOrderId, releases the reservation of the removed
-- quantity and records the amendment below (GET /api/v3/order/amendments).
ALTER TABLE intent_outbox DROP CONSTRAINT intent_outbox_outcome_check;
ALTER TABLE intent_outbox ADD CONSTRAINT intent_outbox_outcome_check
    CHECK (outcome IN ('CANCELED', 'REJECTED', 'NOT_ATTEMPTED', 'AMENDED') OR outcome LIKE 'REJECTED:%');

-- The amend intents of one order (held behind it while it is pending).
CREATE INDEX intent_outbox_amends ON intent_outbox (order_id) WHERE kind = 'AMEND';

-- One row per amendment the engine made; execution_id is the engine's event seq of
-- the AMENDED event (unique per symbol, Binance's executionId).
CREATE TABLE order_amendments (
    symbol                text NOT NULL,
    execution_id          bigint NOT NULL,
    order_id              bigint NOT NULL REFERENCES orders (order_id),
    account_id            bigint NOT NULL REFERENCES accounts (account_id),
    intent_id             text NOT NULL UNIQUE,
    orig_client_order_id  text NOT NULL,
    new_client_order_id   text NOT NULL,
    orig_qty              numeric(38, 18) NOT NULL,
    new_qty               numeric(38, 18) NOT NULL,
    amended_at            timestamptz NOT NULL,
    PRIMARY KEY (symbol, execution_id)
);
CREATE INDEX order_amendments_by_order ON order_amendments (order_id, execution_id);
-- a client order id an amend renamed away stays taken (an identical retry of the
-- original order is a duplicate, never a second order)
CREATE INDEX order_amendments_by_client_id ON order_amendments (account_id, orig_client_order_id);
