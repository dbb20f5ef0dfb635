"""What settlement makes of self-trade prevention: each PREVENTED event becomes a
``prevented_matches`` row (the taker's mode, the maker's quantity that did not trade)
in the batch's own transaction, on the session's real PostgreSQL, and a replayed
batch -- skipped by the progress row, or re-run after the progress was lost -- adds
nothing.  The test's transaction is rolled back: the shared database is left as found."""
from __future__ import annotations

import uuid
from decimal import Decimal as D

from chalicelib.db import PgTx
from chalicelib.symbols import spec_of
from chalicelib.trading.codec import SymbolCodec
from chalicelib.trading.events import EventKind as K
from chalicelib.trading.types import OrderStatus as S, OrderType
from matcher.service.journal import Entry
from matcher.service.settlement import Applied, derive, ensure_progress, settle

SYMBOL = "ETHBTC"


def _batch(maker: int, taker: int, spec) -> list[Applied]:
    """A taker BUY (EXPIRE_TAKER) meeting its own account's resting SELL at 0.02."""
    price, lots = spec.price_to_ticks(D("0.02")), spec.qty_to_lots(D("0.3"))
    entry = Entry(41, f"t:{taker}", "NEW", {"order_id": taker, "cmd": [0, 0, 0, int(OrderType.LIMIT)]}, "sh", 41,
                  1_700_000_000_123)
    return [Applied(entry, [(900, K.PREVENTED, maker, taker, price, lots),
                            (901, K.ORDER, taker, S.EXPIRED_IN_MATCH, 0, 0)])]


def test_derive_reads_prevented_matches():
    spec = spec_of(SYMBOL)
    d = derive(spec, SymbolCodec(spec), _batch(1, 2, spec))
    assert [(p.seq, p.maker_order_id, p.taker_order_id, p.price, p.qty, p.time_ms) for p in d.prevented] == \
        [(900, 1, 2, D("0.02"), D("0.3"), 1_700_000_000_123)]
    assert set(d.orders) == {1, 2}  # both rows are read; the maker's state is not changed
    assert d.orders[1].status is None and d.orders[2].status == S.EXPIRED_IN_MATCH


def test_settlement_writes_prevented_matches_once(pg_conn):
    spec = spec_of(SYMBOL)
    codec = SymbolCodec(spec)
    symbol = f"STP{uuid.uuid4().hex[:8]}"  # its own progress row: no other test's matcher is fenced
    tx = PgTx(pg_conn)
    try:
        acct = int(tx.one("INSERT INTO accounts (username) VALUES (:u) RETURNING account_id",
                          {"u": f"stp-{uuid.uuid4().hex}"})["account_id"])
        base = 9_000_000_000_000 + uuid.uuid4().int % 10**9 * 10
        maker, taker = base, base + 1
        for oid, side, mode, asset, left in ((maker, "SELL", "NONE", "ETH", "0.3"),
                                             (taker, "BUY", "EXPIRE_TAKER", "BTC", "0")):
            tx.execute("INSERT INTO orders (order_id, account_id, symbol, client_order_id, side, type, time_in_force,"
                       " price, orig_qty, status, stp_mode, reserved_asset, reserved_amount, reserved_left)"
                       " VALUES (:o, :a, :s, :c, :side, 'LIMIT', 'GTC', 0.02, 0.3, 'NEW', :m, :r, :l, :l)",
                       {"o": oid, "a": acct, "s": SYMBOL, "c": f"c{oid}", "side": side, "m": mode, "r": asset,
                        "l": left})
        ensure_progress(tx, symbol, 1)
        applied = _batch(maker, taker, spec)

        assert settle(tx, spec, codec, symbol, applied, 1).settled_entries == 1
        rows = tx.query("SELECT prevented_match_id, account_id, taker_order_id, maker_order_id, stp_mode, price,"
                        " maker_prevented_qty, CAST(extract(epoch FROM prevented_at) * 1000 AS bigint) AS ms"
                        " FROM prevented_matches WHERE symbol = :s", {"s": symbol})
        assert [tuple(r.values()) for r in rows] == [(900, acct, taker, maker, "EXPIRE_TAKER", D("0.02"), D("0.3"),
                                                      1_700_000_000_123)]
        status = {int(r["order_id"]): r["status"] for r in tx.query(
            "SELECT order_id, status FROM orders WHERE order_id IN (:m, :t)", {"m": maker, "t": taker})}
        assert status == {maker: "NEW", taker: "EXPIRED_IN_MATCH"}

        # a replay: skipped below the progress row; re-run from scratch, still one row
        assert settle(tx, spec, codec, symbol, applied, 1).settled_entries == 0
        tx.execute("UPDATE settlement_progress SET last_seq = 0 WHERE symbol = :s", {"s": symbol})
        assert settle(tx, spec, codec, symbol, applied, 1).settled_entries == 1
        assert tx.one("SELECT count(*) AS n FROM prevented_matches WHERE symbol = :s", {"s": symbol})["n"] == 1
    finally:
        pg_conn.rollback()
