"""The reservation invariant, named entry by entry when it breaks.

Every committed transaction keeps, for each balance row, ``locked`` == what its
account's orders still reserve (``reserved_left``) + what its pending withdrawals
hold: placing an order reserves in the statement that inserts it, settlement
charges and releases in the transaction that moves the order, the reconciler
expires and releases together.  So the check holds at *any* moment, not only when
the pipeline is quiet, and a test may run it after each test: a test that posts a
bare ``RESERVE`` (no order behind it) and leaves it locked is named there, not
minutes later by the randomized conservation run of another folder (which is how
``arr-lock-<account>``, 1E-8 ETH left locked by tests/chalicelib/test_ledger.py,
first showed up: as a conservation failure of tests/pipeline in a shared session).

Used by ``tests/pipeline/pipeline_support.assert_invariants`` and by the suite's
per-test guard in ``tests/conftest.py``.
"""
from __future__ import annotations

from decimal import Decimal

# balance rows whose locked amount differs from open reservations + pending withdrawals
LOCKED_MISMATCH = (
    "SELECT b.account_id, b.asset, b.locked, COALESCE(r.l, 0) + COALESCE(w.l, 0) AS reserved"
    " FROM balances b LEFT JOIN ("
    " SELECT account_id, reserved_asset AS asset, sum(reserved_left) AS l FROM orders GROUP BY 1, 2) r"
    " USING (account_id, asset) LEFT JOIN ("
    " SELECT account_id, asset, sum(amount) AS l FROM transfers"
    " WHERE direction = 'WITHDRAWAL' AND status = 'PENDING' GROUP BY 1, 2) w"
    " USING (account_id, asset) WHERE b.locked <> COALESCE(r.l, 0) + COALESCE(w.l, 0)"
    " ORDER BY b.account_id, b.asset")

# an account's locked-bucket ledger entries of one asset, each with the order it
# belongs to: a reserve or release names it in ``ref``.  A batch's trades are one
# ledger transaction netted per account (matcher/service/settlement.trade_postings),
# so their locked debits are taken per order from the ``trades`` rows instead
# (_TRADE_DEBITS): the buyer's order gives up the quote, the seller's the base.
_LOCKED_ENTRIES = (
    "SELECT l.entry_id, l.txn_key, l.kind, l.amount, CASE"
    " WHEN l.kind IN ('RESERVE', 'RELEASE') AND l.ref ~ '^[0-9]+$' THEN CAST(l.ref AS bigint) END AS order_id"
    " FROM ledger_entries l WHERE l.account_id = :a AND l.asset = :s AND l.bucket = 'locked'"
    " AND l.kind <> 'TRADE' ORDER BY l.entry_id")

_TRADE_DEBITS = (
    "SELECT o.order_id, 'trade:' || t.symbol || ':' || t.trade_id AS txn_key, 'TRADE' AS kind,"
    " -(CASE WHEN o.order_id = t.buyer_order_id"
    " THEN trunc(t.quote_qty, (SELECT precision FROM assets WHERE asset = :s)) ELSE t.qty END) AS amount"
    " FROM trades t JOIN orders o ON o.order_id IN (t.buyer_order_id, t.seller_order_id)"
    " WHERE o.account_id = :a AND o.reserved_asset = :s"
    " AND (CASE WHEN o.order_id = t.buyer_order_id THEN o.side = 'BUY' ELSE o.side = 'SELL' END)"
    " ORDER BY t.executed_at, t.trade_id")

_ORDERS = (
    "SELECT order_id, symbol, side, type, status, executed_qty, reserved_amount, reserved_left FROM orders"
    " WHERE account_id = :a AND reserved_asset = :s ORDER BY order_id")


def _amount(v) -> str:
    return f"{Decimal(str(v)).normalize():f}"


def explain_locked(tx, account_id: int, asset: str, locked, reserved) -> str:
    """Where one account's unexplained ``locked`` comes from: per order, the net of
    its locked ledger entries (reserve, fills' debits, releases) where it differs from
    the order's ``reserved_left``, and the locked entries that belong to no order
    (other than withdrawal holds) -- each with its ledger ``txn_key``."""
    per_order: dict[int, list[dict]] = {}
    loose = []
    for e in tx.query(_LOCKED_ENTRIES, {"a": account_id, "s": asset}) + tx.query(
            _TRADE_DEBITS, {"a": account_id, "s": asset}):
        if e["order_id"] is not None:
            per_order.setdefault(int(e["order_id"]), []).append(e)
        elif e["kind"] != "WITHDRAWAL":
            loose.append(e)
    orders = {int(o["order_id"]): o for o in tx.query(_ORDERS, {"a": account_id, "s": asset})}
    lines = [f"account {account_id} {asset}: locked {_amount(locked)},"
             f" open reservations + pending withdrawals {_amount(reserved)}"]
    for oid in sorted(set(orders) | set(per_order)):
        entries = per_order.get(oid, [])
        net = sum((Decimal(str(e["amount"])) for e in entries), Decimal(0))
        o = orders.get(oid)
        left = Decimal(str(o["reserved_left"])) if o else Decimal(0)
        if net != left:
            shown = (f"{o['symbol']} {o['side']} {o['type']} {o['status']}, executed {_amount(o['executed_qty'])},"
                     f" reserved {_amount(o['reserved_amount'])}") if o else "not in orders"
            named = [(e["txn_key"], _amount(e["amount"])) for e in entries]
            lines.append(f"  order {oid} ({shown}): its locked entries net {_amount(net)}"
                         f" != reserved_left {_amount(left)}: {named}")
    for e in loose:
        lines.append(f"  locked entry of no order: {e['txn_key']} ({e['kind']}) {_amount(e['amount'])}")
    return "\n".join(lines)


def lock_mismatches(tx) -> set[tuple]:
    """The balance rows breaking the invariant, as (account, asset, locked, reserved)."""
    return {(int(r["account_id"]), r["asset"], Decimal(str(r["locked"])), Decimal(str(r["reserved"])))
            for r in tx.query(LOCKED_MISMATCH)}


def unexplained_locks(tx, limit: int = 5, known: frozenset | set = frozenset()) -> list[str]:
    """One message (:func:`explain_locked`) per balance row whose ``locked`` is not
    what open orders reserve + pending withdrawals hold, at most ``limit``; empty
    when the invariant holds.  ``known``: rows (from :func:`lock_mismatches`) to leave
    out -- those found before a test began are not that test's doing."""
    rows = sorted(lock_mismatches(tx) - set(known))
    out = [explain_locked(tx, *row) for row in rows[:limit]]
    if len(rows) > limit:
        out.append(f"... and {len(rows) - limit} more balance rows")
    return out
