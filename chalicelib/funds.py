"""Deposits and withdrawals, each a row in ``transfers`` plus ledger transactions.

``transfer_id`` is the caller's idempotency key: crediting the same deposit twice
credits it once.  A withdrawal first holds the funds (free -> locked, status
PENDING), then completes (locked -> EXTERNAL) or is rejected (locked -> free).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

from chalicelib import ledger
from chalicelib.amounts import check_precision
from chalicelib.db import Tx
from chalicelib.errors import ExchangeError, Failure, Reason

_TRANSFER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Transfer:
    transfer_id: str
    account_id: int
    asset: str
    amount: Decimal
    direction: str
    status: str
    posted: bool = True  # False: a repeat of a request already applied (nothing moved)


def _asset_precision(tx: Tx, asset: str) -> int:
    p = tx.scalar("SELECT precision FROM assets WHERE asset = :a", {"a": asset})
    if p is None:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, f"Unknown asset {asset!r}."))
    return int(p)


def _validate(tx: Tx, asset: str, amount: Decimal, transfer_id: str | None) -> str:
    if amount <= 0:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "Amount must be greater than zero."))
    check_precision(amount, _asset_precision(tx, asset), "amount")
    transfer_id = transfer_id or uuid.uuid4().hex
    if not _TRANSFER_ID.match(transfer_id):
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "Invalid transfer id."))
    return transfer_id


def _row(tx: Tx, transfer_id: str) -> Transfer | None:
    r = tx.one("SELECT transfer_id, account_id, asset, amount, direction, status FROM transfers"
               " WHERE transfer_id = :t", {"t": transfer_id})
    return Transfer(**r) if r else None


def _insert(tx: Tx, transfer_id, account_id, asset, amount, direction, status, address=None) -> Transfer:
    """Insert the transfer or return the existing one (then it must be the same)."""
    tx.execute("INSERT INTO transfers (transfer_id, account_id, asset, amount, direction, status, address)"
               " VALUES (:t, :a, :s, CAST(:m AS numeric), :d, :st, :ad) ON CONFLICT (transfer_id) DO NOTHING",
               {"t": transfer_id, "a": account_id, "s": asset, "m": str(amount), "d": direction,
                "st": status, "ad": address})
    row = _row(tx, transfer_id)
    if (row.account_id, row.asset, row.amount, row.direction) != (account_id, asset, amount, direction):
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "Transfer id reused for a different transfer."))
    return row


def credit_deposit(tx: Tx, account_id: int, asset: str, amount: Decimal, transfer_id: str | None = None) -> Transfer:
    """Credit a deposit (admin/demo); idempotent by transfer_id."""
    transfer_id = _validate(tx, asset, amount, transfer_id)
    row = _insert(tx, transfer_id, account_id, asset, amount, "DEPOSIT", "COMPLETED")
    posted = ledger.post(tx, ledger.transfer(f"deposit:{transfer_id}", "DEPOSIT", asset, amount,
                                             (ledger.EXTERNAL_ACCOUNT, "free"), (account_id, "free"), ref=transfer_id))
    return replace(row, posted=posted)


def request_withdrawal(tx: Tx, account_id: int, asset: str, amount: Decimal, address: str | None = None,
                       transfer_id: str | None = None) -> Transfer:
    """Hold ``amount`` for a withdrawal (PENDING); INSUFFICIENT_BALANCE if not free."""
    transfer_id = _validate(tx, asset, amount, transfer_id)
    row = _insert(tx, transfer_id, account_id, asset, amount, "WITHDRAWAL", "PENDING", address)
    posted = ledger.post(tx, ledger.transfer(f"withdraw:hold:{transfer_id}", "WITHDRAWAL", asset, amount,
                                             (account_id, "free"), (account_id, "locked"), ref=transfer_id))
    return replace(row, posted=posted)


def settle_withdrawal(tx: Tx, transfer_id: str, complete: bool) -> Transfer:
    """Complete (funds leave) or reject (funds return to free) a pending withdrawal.
    Idempotent: settling a settled withdrawal the same way changes nothing."""
    row = _row(tx, transfer_id)
    if row is None or row.direction != "WITHDRAWAL":
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "Unknown withdrawal."))
    target = "COMPLETED" if complete else "REJECTED"
    if row.status == target:
        return replace(row, posted=False)
    if row.status != "PENDING":
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, f"Withdrawal is already {row.status}."))
    dst = (ledger.EXTERNAL_ACCOUNT, "free") if complete else (row.account_id, "free")
    ledger.post(tx, ledger.transfer(f"withdraw:{target.lower()}:{transfer_id}", "WITHDRAWAL", row.asset, row.amount,
                                    (row.account_id, "locked"), dst, ref=transfer_id))
    tx.execute("UPDATE transfers SET status = :s, updated_at = now() WHERE transfer_id = :t AND status = 'PENDING'",
               {"s": target, "t": transfer_id})
    return _row(tx, transfer_id)


def history(tx: Tx, account_id: int, direction: str, asset: str | None = None, limit: int = 1000) -> list[dict]:
    return tx.query(
        "SELECT transfer_id, asset, amount, direction, status, address, tx_id, created_at, updated_at"
        " FROM transfers WHERE account_id = :a AND direction = :d AND (CAST(:s AS text) IS NULL OR asset = :s)"
        " ORDER BY created_at DESC LIMIT :l",
        {"a": account_id, "d": direction, "s": asset, "l": limit},
    )
