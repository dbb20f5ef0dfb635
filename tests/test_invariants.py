"""The reservation check (tests/invariants.py) names what breaks it: a bare ledger
lock by its txn_key, an order whose reservation and locked entries disagree by its
order id -- so that a conservation failure says which entry to look at."""
from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg

from chalicelib import accounts, admin, ledger, orders, reconcile
from chalicelib.db import PgTx, transaction
from tests.invariants import unexplained_locks

D = Decimal


def _mine(url: str, account_id: int) -> list[str]:
    with psycopg.connect(url) as conn:
        return [m for m in unexplained_locks(PgTx(conn), limit=1000) if m.startswith(f"account {account_id} ")]


def test_a_lock_without_an_order_is_named_by_its_txn_key(exchange_env, migrated_db):
    tag = uuid.uuid4().hex[:8]
    with transaction() as tx:
        a = accounts.ensure_account(tx, f"inv-a-{tag}@t.local").account_id
    admin.deposit(a, "ETH", D("1"), transfer_id=f"inv-dep-{tag}")
    assert _mine(migrated_db, a) == []
    with transaction() as tx:  # a reservation of no order: what the array-form ledger test once left behind
        ledger.post(tx, ledger.transfer(f"inv-lock-{tag}", "RESERVE", "ETH", D("0.00000001"), (a, "free"),
                                        (a, "locked")))
    [msg] = _mine(migrated_db, a)
    assert msg == (f"account {a} ETH: locked 0.00000001, open reservations + pending withdrawals 0\n"
                   f"  locked entry of no order: inv-lock-{tag} (RESERVE) 0.00000001")
    with transaction() as tx:
        ledger.post(tx, ledger.transfer(f"inv-release-{tag}", "RELEASE", "ETH", D("0.00000001"), (a, "locked"),
                                        (a, "free")))
    assert _mine(migrated_db, a) == []


def test_an_order_whose_reservation_disagrees_with_its_entries_is_named(exchange_env, migrated_db):
    tag = uuid.uuid4().hex[:8]
    with transaction() as tx:
        a = accounts.ensure_account(tx, f"inv-b-{tag}@t.local").account_id
    admin.deposit(a, "USDT", D("100"), transfer_id=f"inv-dep-{tag}")
    req = orders.OrderRequest("ETHUSDT", "BUY", "LIMIT", "GTC", D("0.0123"), None, D("2000.01"), None, f"inv{tag}")
    spec, cmd, asset, amount = orders.plan_order(req, a)
    assert (asset, amount) == ("USDT", D("24.600123"))
    intent_id = f"{a}:{req.client_order_id}"
    with transaction() as tx:  # accepted in Aurora only: no intent in DynamoDB, no matcher involved
        row, _ = orders._insert_order(tx, a, req, spec, cmd, asset, amount, intent_id)
    oid = int(row["order_id"])
    assert _mine(migrated_db, a) == []  # a pending order's reservation explains its lock
    with psycopg.connect(migrated_db) as conn:  # as if a settlement had charged one unit without its entry
        conn.execute("UPDATE orders SET reserved_left = reserved_left - 0.00000001 WHERE order_id = %s", (oid,))
    try:
        [msg] = _mine(migrated_db, a)
        head, line = msg.split("\n")
        assert head == f"account {a} USDT: locked 24.600123, open reservations + pending withdrawals 24.60012299"
        assert line == (f"  order {oid} (ETHUSDT BUY LIMIT PENDING_NEW, executed 0, reserved 24.600123): its locked"
                        f" entries net 24.600123 != reserved_left 24.60012299: [('reserve:{oid}', '24.600123')]")
    finally:
        with psycopg.connect(migrated_db) as conn:
            conn.execute("UPDATE orders SET reserved_left = reserved_amount WHERE order_id = %s", (oid,))
    with transaction() as tx:  # the reconciler's reversal: expired, reservation released, outbox acknowledged
        assert reconcile.reverse(tx, {"kind": "NEW", "order_id": oid, "intent_id": intent_id})
    assert _mine(migrated_db, a) == []
