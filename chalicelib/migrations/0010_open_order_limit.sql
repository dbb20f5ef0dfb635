-- 0010: MAX_NUM_ALGO_ORDERS / MAX_NUM_ICEBERG_ORDERS checked atomically with the insert.
--
-- Order entry counted the account's open orders on the symbol in one statement and
-- inserted the new order in the next: two orders placed at the same instant both
-- passed the count and the account went over the limit.  This function is called by
-- the statement (or transaction) that inserts the order(s) (chalicelib/orders.py,
-- chalicelib/orderlists.py), before the insert:
--
-- * it takes a transaction-scoped advisory lock on (account, symbol), so entries of
--   one account on one symbol that count for a limit run one after the other; the
--   lock is released when the inserting transaction commits or rolls back;
-- * it is VOLATILE plpgsql, so its count runs on a snapshot taken *after* the lock was
--   granted (READ COMMITTED: a volatile function's queries each take a fresh
--   snapshot; the calling statement's own snapshot, taken before the wait, would
--   miss the order the previous holder just committed).
--
-- The matcher's settlement never takes the lock: an order leaving the open set while
-- we count only lowers the count.  Orders that count for no limit (p_algo and
-- p_iceberg 0) return at once, without the lock.
--
-- p_own: the client order ids being inserted (a retry of an order already inserted
-- does not count against itself).  p_freed: the order a cancel-replace cancels, which
-- frees its place -- unless another cancel-replace still in flight (outcome not yet
-- stamped by the settlement) already claimed that same place.
-- Returns NULL when the new orders fit, else the name of the filter they break.
CREATE FUNCTION open_order_limit(p_account bigint, p_symbol text, p_algo int, p_iceberg int,
                                 p_max_algo int, p_max_iceberg int, p_own text[], p_freed bigint)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n_algo bigint;
    n_iceberg bigint;
BEGIN
    IF p_algo <= 0 AND p_iceberg <= 0 THEN
        RETURN NULL;
    END IF;
    -- 1330791507 = 'ORDS': this lock's namespace (the two-key form; migrate.py uses the one-key form)
    PERFORM pg_advisory_xact_lock(1330791507, hashtext(p_account::text || ':' || p_symbol));
    SELECT count(*) FILTER (WHERE o.type IN ('STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT')),
           count(*) FILTER (WHERE o.iceberg_qty > 0)
      INTO n_algo, n_iceberg
      FROM orders o
     WHERE o.account_id = p_account AND o.symbol = p_symbol
       AND o.status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL')
       AND o.client_order_id <> ALL (p_own)
       AND (p_freed IS NULL OR o.order_id <> p_freed
            OR EXISTS (SELECT 1 FROM intent_outbox b
                        WHERE b.kind = 'CANCEL_REPLACE' AND CAST(b.payload ->> 'cancel_order_id' AS bigint) = p_freed
                          AND b.outcome IS NULL));
    IF p_algo > 0 AND n_algo + p_algo > p_max_algo THEN
        RETURN 'MAX_NUM_ALGO_ORDERS';
    END IF;
    IF p_iceberg > 0 AND n_iceberg + p_iceberg > p_max_iceberg THEN
        RETURN 'MAX_NUM_ICEBERG_ORDERS';
    END IF;
    RETURN NULL;
END
$$;
