"""Demo users and balances, so the exchange is usable right after ``up``.

Passwords are local-only and printed in the README; the deposits are keyed so that a
restart does not credit them again."""
from __future__ import annotations

from decimal import Decimal

DEMO_PASSWORD = "Local-Demo-Only-1"
DEMO_USERS = {
    "alice@demo.local": {"USDT": "100000", "BTC": "5", "ETH": "50"},
    "bob@demo.local": {"USDT": "100000", "BTC": "5", "ETH": "50"},
    "marketmaker@demo.local": {"USDT": "10000000", "BTC": "500", "ETH": "5000"},
}


def seed() -> list:
    from chalicelib import admin

    users = []
    for email, deposits in DEMO_USERS.items():
        user = admin.create_user(email, DEMO_PASSWORD)
        for asset, amount in deposits.items():
            admin.deposit(user.account_id, asset, Decimal(amount), transfer_id=f"demo-{user.account_id}-{asset}")
        users.append(user)
    return users
