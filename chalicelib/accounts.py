"""Accounts: one per Cognito user (plus the EXTERNAL and FEES system accounts)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal

from chalicelib.db import Tx
from chalicelib.errors import ExchangeError, Failure, Reason

_USERNAME = re.compile(r"^[A-Za-z0-9._%+@-]{3,128}$")


@dataclass(frozen=True, slots=True)
class Account:
    account_id: int
    username: str
    email: str | None
    cognito_sub: str | None
    kind: str
    can_trade: bool
    can_deposit: bool
    can_withdraw: bool


_COLS = "account_id, username, email, cognito_sub, kind, can_trade, can_deposit, can_withdraw"


def _account(row: dict | None) -> Account | None:
    return Account(**row) if row else None


def require_account(account: Account | None, account_id: int) -> Account:
    """``account`` for an id the caller holds a reference to (an authenticated
    principal's, a key's): a LookupError naming it if the row is missing -- a bug."""
    if account is None:
        raise LookupError(f"account {account_id} does not exist")
    return account


def ensure_account(tx: Tx, username: str, email: str | None = None, cognito_sub: str | None = None) -> Account:
    """The account of ``username``, created if missing; the Cognito sub is recorded
    the first time it is known.  Idempotent."""
    if not _USERNAME.match(username or ""):
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, f"Invalid username {username!r}."))
    row = tx.row(
        f"INSERT INTO accounts (username, email, cognito_sub) VALUES (:u, :e, :s)"
        f" ON CONFLICT (username) DO UPDATE SET cognito_sub = COALESCE(accounts.cognito_sub, excluded.cognito_sub),"
        f" email = COALESCE(accounts.email, excluded.email)"
        f" RETURNING {_COLS}",
        {"u": username, "e": email, "s": cognito_sub},
    )
    return Account(**row)


def get_account(tx: Tx, account_id: int) -> Account | None:
    return _account(tx.one(f"SELECT {_COLS} FROM accounts WHERE account_id = :a", {"a": account_id}))


def with_balances(tx: Tx, account_id: int) -> tuple[Account, dict[str, tuple[Decimal, Decimal]], int] | None:
    """The account, its balances (asset -> (free, locked)) and when they last changed
    (ms since the epoch, 0: never), in ONE statement: ``GET /v3/account`` is then a
    single Data API call.  Balances travel as JSON text with the amounts as strings,
    so no amount passes through a float."""
    row = tx.one(
        f"SELECT {_COLS},"
        " (SELECT CAST(extract(epoch FROM max(b.updated_at)) * 1000 AS bigint) FROM balances b"
        "  WHERE b.account_id = a.account_id) AS balances_updated_ms,"
        " (SELECT CAST(COALESCE(json_agg(json_build_array(b.asset, CAST(b.free AS text), CAST(b.locked AS text))"
        "  ORDER BY b.asset), CAST('[]' AS json)) AS text) FROM balances b WHERE b.account_id = a.account_id)"
        " AS balances"
        " FROM accounts a WHERE a.account_id = :a", {"a": account_id})
    if row is None:
        return None
    rows = json.loads(str(row.pop("balances")), parse_float=Decimal)
    held = {asset: (Decimal(free), Decimal(locked)) for asset, free, locked in rows}
    updated = int(row.pop("balances_updated_ms") or 0)
    return Account(**row), held, updated


def find_account(tx: Tx, *, username: str | None = None, cognito_sub: str | None = None) -> Account | None:
    if cognito_sub:
        return _account(tx.one(f"SELECT {_COLS} FROM accounts WHERE cognito_sub = :s", {"s": cognito_sub}))
    return _account(tx.one(f"SELECT {_COLS} FROM accounts WHERE username = :u", {"u": username}))


def sync_assets(tx: Tx, catalog) -> None:
    """Make the assets table match the symbols file (new assets are added; a changed
    precision is refused, since existing balances were kept to the old one)."""
    for spec in catalog.assets.values():
        row = tx.row("INSERT INTO assets (asset, precision) VALUES (:a, :p)"
                     " ON CONFLICT (asset) DO UPDATE SET precision = assets.precision RETURNING precision",
                     {"a": spec.asset, "p": spec.precision})
        if row["precision"] != spec.precision:
            raise RuntimeError(f"asset {spec.asset} has precision {row['precision']} in the database,"
                               f" {spec.precision} in the symbols file")
