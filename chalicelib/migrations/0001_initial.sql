-- 0001: accounts, assets, balances, ledger, orders, trades, API keys, transfers, outbox.
-- Money is NUMERIC everywhere; each balance is kept to its asset's precision
-- (enforced by a trigger, since a column's scale cannot vary per row).

CREATE TABLE assets (
    asset       text PRIMARY KEY CHECK (asset ~ '^[A-Z0-9]{2,12}$'),
    precision   smallint NOT NULL CHECK (precision BETWEEN 0 AND 18)
);

CREATE TABLE accounts (
    account_id   bigserial PRIMARY KEY,
    username     text NOT NULL UNIQUE,
    email        text,
    cognito_sub  text UNIQUE,
    kind         text NOT NULL DEFAULT 'USER' CHECK (kind IN ('USER', 'FEES', 'EXTERNAL')),
    can_trade    boolean NOT NULL DEFAULT true,
    can_deposit  boolean NOT NULL DEFAULT true,
    can_withdraw boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The two system accounts: EXTERNAL is the other side of every deposit/withdrawal
-- (so that the ledger balances to zero per asset), FEES collects commissions.
INSERT INTO accounts (username, kind, can_trade) VALUES ('system:external', 'EXTERNAL', false);
INSERT INTO accounts (username, kind, can_trade) VALUES ('system:fees', 'FEES', false);

CREATE TABLE balances (
    account_id  bigint NOT NULL REFERENCES accounts (account_id),
    asset       text NOT NULL REFERENCES assets (asset),
    free        numeric(38, 18) NOT NULL DEFAULT 0,
    locked      numeric(38, 18) NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, asset),
    CONSTRAINT balance_not_negative CHECK (free >= 0 AND locked >= 0)
);

CREATE FUNCTION balance_scale_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p smallint;
BEGIN
    SELECT precision INTO p FROM assets WHERE asset = NEW.asset;
    IF NEW.free <> round(NEW.free, p) OR NEW.locked <> round(NEW.locked, p) THEN
        RAISE EXCEPTION 'balance of % exceeds precision % of asset %', NEW.account_id, p, NEW.asset
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER balances_scale BEFORE INSERT OR UPDATE ON balances
    FOR EACH ROW EXECUTE FUNCTION balance_scale_check();

-- Double-entry ledger: every movement of money is a set of rows sharing txn_key whose
-- amounts sum to zero per asset.  Rows are never updated or deleted; txn_key makes
-- every posting idempotent (a retry hits the unique key and changes nothing).
CREATE TABLE ledger_entries (
    entry_id    bigserial PRIMARY KEY,
    txn_key     text NOT NULL,
    account_id  bigint NOT NULL REFERENCES accounts (account_id),
    asset       text NOT NULL REFERENCES assets (asset),
    bucket      text NOT NULL CHECK (bucket IN ('free', 'locked')),
    amount      numeric(38, 18) NOT NULL CHECK (amount <> 0),
    kind        text NOT NULL CHECK (kind IN ('DEPOSIT', 'WITHDRAWAL', 'RESERVE', 'RELEASE', 'TRADE', 'FEE')),
    ref         text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (txn_key, account_id, asset, bucket)
);
CREATE INDEX ledger_by_account ON ledger_entries (account_id, asset, entry_id);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

CREATE SEQUENCE order_id_seq;

CREATE TABLE orders (
    order_id           bigint PRIMARY KEY,
    account_id         bigint NOT NULL REFERENCES accounts (account_id),
    symbol             text NOT NULL,
    client_order_id    text NOT NULL,
    side               text NOT NULL CHECK (side IN ('BUY', 'SELL')),
    type               text NOT NULL,
    time_in_force      text,
    price              numeric(38, 18),
    stop_price         numeric(38, 18),
    orig_qty           numeric(38, 18),
    orig_quote_qty     numeric(38, 18),
    executed_qty       numeric(38, 18) NOT NULL DEFAULT 0,
    cum_quote_qty      numeric(38, 18) NOT NULL DEFAULT 0,
    status             text NOT NULL CHECK (status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'FILLED',
                                                       'CANCELED', 'PENDING_CANCEL', 'REJECTED',
                                                       'EXPIRED', 'EXPIRED_IN_MATCH')),
    stp_mode           text NOT NULL DEFAULT 'NONE',
    reserved_asset     text NOT NULL REFERENCES assets (asset),
    reserved_amount    numeric(38, 18) NOT NULL CHECK (reserved_amount >= 0),
    reserved_left      numeric(38, 18) NOT NULL CHECK (reserved_left >= 0),
    reject_reason      text,
    last_event_seq     bigint NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    working_at         timestamptz,
    UNIQUE (account_id, client_order_id),
    CHECK (executed_qty >= 0 AND cum_quote_qty >= 0)
);
CREATE INDEX orders_by_account ON orders (account_id, symbol, order_id);
CREATE INDEX orders_open ON orders (symbol, order_id)
    WHERE status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL');

CREATE TABLE trades (
    symbol             text NOT NULL,
    trade_id           bigint NOT NULL,
    price              numeric(38, 18) NOT NULL CHECK (price > 0),
    qty                numeric(38, 18) NOT NULL CHECK (qty > 0),
    quote_qty          numeric(38, 18) NOT NULL CHECK (quote_qty > 0),
    buyer_order_id     bigint NOT NULL REFERENCES orders (order_id),
    seller_order_id    bigint NOT NULL REFERENCES orders (order_id),
    buyer_account_id   bigint NOT NULL REFERENCES accounts (account_id),
    seller_account_id  bigint NOT NULL REFERENCES accounts (account_id),
    is_buyer_maker     boolean NOT NULL,
    buyer_fee          numeric(38, 18) NOT NULL DEFAULT 0,
    buyer_fee_asset    text NOT NULL,
    seller_fee         numeric(38, 18) NOT NULL DEFAULT 0,
    seller_fee_asset   text NOT NULL,
    event_seq          bigint NOT NULL,
    executed_at        timestamptz NOT NULL,
    PRIMARY KEY (symbol, trade_id)
);
CREATE INDEX trades_by_buyer ON trades (buyer_account_id, symbol, trade_id);
CREATE INDEX trades_by_seller ON trades (seller_account_id, symbol, trade_id);
CREATE INDEX trades_by_time ON trades (symbol, executed_at);

-- API keys: the secret is never stored; only a hash of it (see chalicelib/apikeys.py).
CREATE TABLE api_keys (
    api_key       text PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (account_id),
    label         text NOT NULL DEFAULT '',
    secret_hash   text NOT NULL,
    can_read      boolean NOT NULL DEFAULT true,
    can_trade     boolean NOT NULL DEFAULT false,
    ip_allowlist  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX api_keys_by_account ON api_keys (account_id);

-- Deposits and withdrawals; transfer_id is the caller's idempotency key.
CREATE TABLE transfers (
    transfer_id   text PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (account_id),
    asset         text NOT NULL REFERENCES assets (asset),
    amount        numeric(38, 18) NOT NULL CHECK (amount > 0),
    direction     text NOT NULL CHECK (direction IN ('DEPOSIT', 'WITHDRAWAL')),
    status        text NOT NULL CHECK (status IN ('PENDING', 'COMPLETED', 'REJECTED')),
    address       text,
    tx_id         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transfers_by_account ON transfers (account_id, direction, created_at);

-- Outbox: written in the same transaction that reserves funds, so that an intent that
-- never reached DynamoDB is found and completed (or reversed) by the reconciler.
CREATE TABLE intent_outbox (
    intent_id     text PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (account_id),
    symbol        text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('NEW', 'CANCEL', 'CANCEL_REPLACE', 'AMEND')),
    order_id      bigint,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);
CREATE INDEX intent_outbox_unsent ON intent_outbox (created_at) WHERE sent_at IS NULL;

-- Settlement progress per symbol, guarded by the matcher's fencing token: a stale
-- owner (lower token) cannot move it, and events at or below last_seq are no-ops.
CREATE TABLE settlement_progress (
    symbol         text PRIMARY KEY,
    last_seq       bigint NOT NULL DEFAULT 0,
    fencing_token  bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
