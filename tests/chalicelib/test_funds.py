import uuid
from decimal import Decimal

import pytest

from chalicelib import accounts, funds, ledger
from chalicelib.db import transaction
from chalicelib.errors import ExchangeError, Reason

D = Decimal


@pytest.fixture
def account(exchange_env):
    with transaction() as tx:
        return accounts.ensure_account(tx, f"funds-{uuid.uuid4().hex[:8]}@t.local").account_id


def free_locked(account_id, asset="USDT"):
    with transaction() as tx:
        rows = {r["asset"]: (r["free"], r["locked"]) for r in ledger.balances(tx, account_id)}
    return rows.get(asset, (D(0), D(0)))


def test_deposit_is_idempotent_by_transfer_id(account):
    tid = f"dep-{account}"
    for _ in range(3):
        with transaction() as tx:
            t = funds.credit_deposit(tx, account, "USDT", D("12.5"), tid)
    assert t.status == "COMPLETED" and t.amount == D("12.5")
    assert free_locked(account) == (D("12.5"), D(0))


@pytest.mark.parametrize("asset, amount, reason", [
    ("USDT", D("0"), Reason.INVALID_PARAMETER),
    ("USDT", D("1.000000001"), Reason.BAD_PRECISION),
    ("DOGE", D("1"), Reason.INVALID_PARAMETER),
])
def test_bad_deposits_change_nothing(account, asset, amount, reason):
    with pytest.raises(ExchangeError) as err:
        with transaction() as tx:
            funds.credit_deposit(tx, account, asset, amount)
    assert err.value.failure.reason is reason
    assert free_locked(account) == (D(0), D(0))


def test_transfer_id_reused_for_a_different_amount_is_refused(account):
    with transaction() as tx:
        funds.credit_deposit(tx, account, "USDT", D("1"), f"same-{account}")
    with pytest.raises(ExchangeError):
        with transaction() as tx:
            funds.credit_deposit(tx, account, "USDT", D("2"), f"same-{account}")
    assert free_locked(account) == (D("1"), D(0))


def test_withdrawal_holds_then_completes_or_rejects(account):
    with transaction() as tx:
        funds.credit_deposit(tx, account, "USDT", D("100"), f"w-dep-{account}")
        w1 = funds.request_withdrawal(tx, account, "USDT", D("30"), "addr-1", f"w1-{account}")
        w2 = funds.request_withdrawal(tx, account, "USDT", D("20"), "addr-2", f"w2-{account}")
    assert w1.status == "PENDING"
    assert free_locked(account) == (D("50"), D("50"))
    with transaction() as tx:
        assert funds.settle_withdrawal(tx, w1.transfer_id, complete=True).status == "COMPLETED"
        assert funds.settle_withdrawal(tx, w1.transfer_id, complete=True).status == "COMPLETED"  # idempotent
        assert funds.settle_withdrawal(tx, w2.transfer_id, complete=False).status == "REJECTED"
    assert free_locked(account) == (D("70"), D(0))
    with pytest.raises(ExchangeError):
        with transaction() as tx:
            funds.settle_withdrawal(tx, w2.transfer_id, complete=True)  # already rejected
    with transaction() as tx:
        hist = funds.history(tx, account, "WITHDRAWAL")
    assert {h["status"] for h in hist} == {"COMPLETED", "REJECTED"}


def test_withdrawal_beyond_free_balance_is_insufficient(account):
    with transaction() as tx:
        funds.credit_deposit(tx, account, "USDT", D("10"), f"x-dep-{account}")
    with pytest.raises(ExchangeError) as err:
        with transaction() as tx:
            funds.request_withdrawal(tx, account, "USDT", D("10.00000001"))
    assert err.value.failure.reason is Reason.INSUFFICIENT_BALANCE
    assert free_locked(account) == (D("10"), D(0))
