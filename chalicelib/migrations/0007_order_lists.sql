-- 0007: order lists (OCO, OTO, OTOCO; issue 16).
--
-- An order list is one row here and its orders are ordinary rows of ``orders`` that
-- name it (``order_list_id``; NULL for a plain order, shown as -1 as on Binance).
-- The list is placed by one NEW_LIST intent (one engine command) and canceled by one
-- CANCEL_LIST intent; the matcher's settlement moves its status with its orders'.
-- Funds: the list's reservation is one amount held by its orders together (their
-- reserved_left add up to it); settlement moves it to the order that goes on when
-- the list's rule ends the others, and releases what is left when no order of the
-- list is open any more (matcher/service/listsettlement.py).
CREATE SEQUENCE order_list_id_seq;

CREATE TABLE order_lists (
    order_list_id          bigint PRIMARY KEY,
    account_id             bigint NOT NULL REFERENCES accounts (account_id),
    symbol                 text NOT NULL,
    list_client_order_id   text NOT NULL,
    contingency_type       text NOT NULL CHECK (contingency_type IN ('OCO', 'OTO', 'OTOCO')),
    list_status_type       text NOT NULL DEFAULT 'EXEC_STARTED'
                           CHECK (list_status_type IN ('RESPONSE', 'EXEC_STARTED', 'UPDATED', 'ALL_DONE')),
    list_order_status      text NOT NULL DEFAULT 'EXECUTING'
                           CHECK (list_order_status IN ('EXECUTING', 'ALL_DONE', 'REJECT')),
    last_event_seq         bigint NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, list_client_order_id)
);
CREATE INDEX order_lists_by_account ON order_lists (account_id, order_list_id);

ALTER TABLE orders ADD COLUMN order_list_id bigint REFERENCES order_lists (order_list_id);
CREATE INDEX orders_by_list ON orders (order_list_id) WHERE order_list_id IS NOT NULL;

-- A list is placed by one NEW_LIST intent (order_id: its first order) and canceled by
-- one CANCEL_LIST intent (order_id: NULL; payload.list_id), stamped CANCELED / REJECTED.
ALTER TABLE intent_outbox DROP CONSTRAINT intent_outbox_kind_check;
ALTER TABLE intent_outbox ADD CONSTRAINT intent_outbox_kind_check
    CHECK (kind IN ('NEW', 'CANCEL', 'CANCEL_REPLACE', 'AMEND', 'NEW_LIST', 'CANCEL_LIST'));
