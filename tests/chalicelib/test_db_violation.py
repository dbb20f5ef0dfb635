"""A statement's refusal read by type, whichever driver ran it: the SQLSTATE and the
constraint name of a failed CHECK / unique key, through a psycopg connection (the
matcher), a Data API transaction (``aurora_data_api``) and an autocommitted Data API
statement (boto3), all against the real local Data API / PostgreSQL."""
from __future__ import annotations

import uuid

import pytest

from chalicelib import accounts
from chalicelib.db import CHECK_VIOLATION, Violation, autocommit, pg_transaction, transaction, violation
from chalicelib.ledger import OVERDRAFT

NEGATIVE = ("INSERT INTO balances (account_id, asset, free, locked) VALUES (:a, 'USDT', -1, 0)"
            " ON CONFLICT (account_id, asset) DO UPDATE SET free = -1")


@pytest.fixture
def account_id(exchange_env) -> int:
    with transaction() as tx:
        return accounts.ensure_account(tx, f"viol-{uuid.uuid4().hex[:8]}@t.local").account_id


def _refusal(run) -> BaseException:
    with pytest.raises(Exception) as err:
        run()
    return err.value


def test_overdraft_is_the_balance_check_in_every_driver(account_id, pg_conn):
    def data_api_tx():
        with transaction() as tx:
            tx.execute(NEGATIVE, {"a": account_id})

    def pg():
        with pg_transaction(pg_conn) as tx:
            tx.execute(NEGATIVE, {"a": account_id})

    for run in (lambda: autocommit().execute(NEGATIVE, {"a": account_id}), data_api_tx, pg):
        exc = _refusal(run)
        assert violation(exc) == OVERDRAFT == Violation(CHECK_VIOLATION, "balance_not_negative"), repr(exc)


def test_other_refusals_and_non_database_errors_are_not_overdrafts(account_id):
    dup = "INSERT INTO accounts (account_id, username) SELECT account_id, username FROM accounts WHERE account_id = :a"
    got = violation(_refusal(lambda: autocommit().execute(dup, {"a": account_id})))
    assert got is not None and got.sqlstate == "23505" and got != OVERDRAFT
    assert violation(ValueError("balance_not_negative")) is None
    assert violation(ConnectionError("SQLState: 23514")) is None
