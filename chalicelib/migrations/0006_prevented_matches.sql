-- 0006: prevented matches (self-trade prevention), GET /api/v3/myPreventedMatches (issue 16).
--
-- One row per PREVENTED event the engine emitted: a taker met a resting order of its own
-- account and its selfTradePreventionMode stopped the match.  prevented_match_id is the
-- engine's event seq of that event (unique per symbol, Binance's preventedMatchId, the
-- same number executionReport carries as "v").  Written by the settlement transaction
-- of the batch that holds the event; a replayed batch inserts nothing (primary key).
CREATE TABLE prevented_matches (
    symbol                   text NOT NULL,
    prevented_match_id       bigint NOT NULL,
    account_id               bigint NOT NULL REFERENCES accounts (account_id),
    taker_order_id           bigint NOT NULL REFERENCES orders (order_id),
    maker_order_id           bigint NOT NULL REFERENCES orders (order_id),
    stp_mode                 text NOT NULL,
    price                    numeric(38, 18) NOT NULL,
    maker_prevented_qty      numeric(38, 18) NOT NULL,
    prevented_at             timestamptz NOT NULL,
    PRIMARY KEY (symbol, prevented_match_id)
);
CREATE INDEX prevented_matches_by_taker ON prevented_matches (taker_order_id, prevented_match_id);
CREATE INDEX prevented_matches_by_maker ON prevented_matches (maker_order_id, prevented_match_id);
