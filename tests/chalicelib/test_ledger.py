"""The ledger against real PostgreSQL, through the local Aurora Data API (as the
Lambdas use it) and through a direct psycopg connection (as the matcher does)."""
from decimal import Decimal

import psycopg
import pytest

from chalicelib import accounts, ledger
from chalicelib.db import pg_transaction, transaction
from chalicelib.errors import ExchangeError, Reason
from chalicelib.ledger import EXTERNAL_ACCOUNT, FEES_ACCOUNT, LedgerTxn, Posting, transfer

D = Decimal


@pytest.fixture
def two_accounts(exchange_env):
    import uuid

    tag = uuid.uuid4().hex[:8]
    with transaction() as tx:
        a = accounts.ensure_account(tx, f"ledger-a-{tag}@t.local").account_id
        b = accounts.ensure_account(tx, f"ledger-b-{tag}@t.local").account_id
    return a, b


def bal(tx, account_id, asset="USDT"):
    row = tx.one("SELECT free, locked FROM balances WHERE account_id = :a AND asset = :s",
                 {"a": account_id, "s": asset})
    return (row["free"], row["locked"]) if row else (D(0), D(0))


def test_unbalanced_or_malformed_transactions_are_bugs_not_postings():
    with pytest.raises(ValueError):
        LedgerTxn("k", "DEPOSIT", (Posting(3, "USDT", "free", D("1")),)).check()
    with pytest.raises(ValueError):
        LedgerTxn("k", "NOPE", ()).check()
    with pytest.raises(ValueError):
        transfer("k", "TRADE", "USDT", D("0"), (3, "free"), (4, "free")).check()


def test_posting_is_idempotent_and_moves_exact_amounts(two_accounts):
    a, b = two_accounts
    dep = transfer(f"dep-{a}", "DEPOSIT", "USDT", D("100.12345678"), (EXTERNAL_ACCOUNT, "free"), (a, "free"))
    with transaction() as tx:
        assert ledger.post(tx, dep) is True
    with transaction() as tx:
        assert ledger.post(tx, dep) is False  # a repeat changes nothing
        assert bal(tx, a) == (D("100.12345678"), D(0))
    move = LedgerTxn(f"mv-{a}", "TRADE", (Posting(a, "USDT", "free", D("-0.00000001")),
                                         Posting(b, "USDT", "free", D("0.00000001"))))
    with transaction() as tx:
        ledger.post_many(tx, [move, move.__class__(move.txn_key + "x", "TRADE", move.postings)])
        assert bal(tx, a) == (D("100.12345676"), D(0))
        assert bal(tx, b) == (D("0.00000002"), D(0))


def test_overdraft_is_refused_and_rolls_back_everything(two_accounts):
    a, b = two_accounts
    with transaction() as tx:
        ledger.post(tx, transfer(f"dep2-{a}", "DEPOSIT", "USDT", D("5"), (EXTERNAL_ACCOUNT, "free"), (a, "free")))
    with pytest.raises(ExchangeError) as err:
        with transaction() as tx:
            ledger.post(tx, transfer(f"res-{a}", "RESERVE", "USDT", D("3"), (a, "free"), (a, "locked")))
            ledger.post(tx, transfer(f"res2-{a}", "RESERVE", "USDT", D("3"), (a, "free"), (a, "locked")))
    assert err.value.failure.reason is Reason.INSUFFICIENT_BALANCE
    with transaction() as tx:
        assert bal(tx, a) == (D("5"), D(0))  # the first reserve was rolled back too
        assert tx.scalar("SELECT count(*) FROM ledger_entries WHERE txn_key = :k", {"k": f"res-{a}"}) == 0


def test_balances_keep_to_asset_precision(two_accounts):
    a, _ = two_accounts
    with pytest.raises(Exception) as err:
        with transaction() as tx:
            ledger.post(tx, transfer(f"dep3-{a}", "DEPOSIT", "USDT", D("0.000000001"),
                                     (EXTERNAL_ACCOUNT, "free"), (a, "free")))
    assert "precision" in str(err.value)


def test_ledger_rows_are_append_only(two_accounts, pg_conn):
    a, _ = two_accounts
    with transaction() as tx:
        ledger.post(tx, transfer(f"dep4-{a}", "DEPOSIT", "USDT", D("1"), (EXTERNAL_ACCOUNT, "free"), (a, "free")))
    with pytest.raises(psycopg.Error):
        pg_conn.execute("UPDATE ledger_entries SET amount = 2 WHERE txn_key = %s", (f"dep4-{a}",))
    pg_conn.rollback()
    with pytest.raises(psycopg.Error):
        pg_conn.execute("DELETE FROM ledger_entries WHERE txn_key = %s", (f"dep4-{a}",))
    pg_conn.rollback()


def test_direct_connection_shares_the_same_code(two_accounts, migrated_db):
    a, b = two_accounts
    with psycopg.connect(migrated_db) as conn:
        with pg_transaction(conn) as tx:
            ledger.post(tx, transfer(f"dep5-{a}", "DEPOSIT", "BTC", D("2"), (EXTERNAL_ACCOUNT, "free"), (a, "free")))
            ledger.post(tx, LedgerTxn(f"fee-{a}", "FEE", (Posting(a, "BTC", "free", D("-0.001")),
                                                          Posting(FEES_ACCOUNT, "BTC", "free", D("0.001")))))
    with transaction() as tx:
        assert bal(tx, a, "BTC") == (D("1.999"), D(0))


def test_conservation_holds_over_all_postings(exchange_env):
    with transaction() as tx:
        for asset, t in ledger.totals(tx).items():
            assert t["held"] == t["external_in"], asset


def test_spliced_posting_keeps_the_ledger_rules(two_accounts):
    """``post_ctes`` (the order path's one-statement reservation) posts with the same
    rules as ``post``: idempotent by txn_key, overdraft refused with nothing changed,
    a partially present transaction refused, one balance row only."""
    from chalicelib.db import autocommit

    a, b = two_accounts
    with transaction() as tx:
        ledger.post(tx, transfer(f"dep6-{a}", "DEPOSIT", "USDT", D("10"), (EXTERNAL_ACCOUNT, "free"), (a, "free")))

    def splice(suffix: str, amount: str) -> None:
        params = {"suffix": suffix}
        txn = transfer(f"res6-{a}-", "RESERVE", "USDT", D(amount), (a, "free"), (a, "locked"))
        sql = ("WITH src AS (SELECT CAST(:suffix AS text) AS k), "
               + ledger.post_ctes(txn, "src", "src.k", "src.k", params) + " SELECT count(*) FROM src")
        with ledger.overdraft_guard():
            autocommit().execute(sql, params)

    splice("1", "4")
    splice("1", "4")  # a repeat changes nothing
    with transaction() as tx:
        assert bal(tx, a) == (D("6"), D("4"))
        assert tx.scalar("SELECT count(*) FROM ledger_entries WHERE txn_key = :k", {"k": f"res6-{a}-1"}) == 2
    with pytest.raises(ExchangeError) as err:
        splice("2", "7")
    assert err.value.failure.reason is Reason.INSUFFICIENT_BALANCE
    with transaction() as tx:
        assert bal(tx, a) == (D("6"), D("4"))
        assert tx.scalar("SELECT count(*) FROM ledger_entries WHERE txn_key = :k", {"k": f"res6-{a}-2"}) == 0
    # one of the two entries already there under the same key: refused, nothing moves
    with transaction() as tx:
        ledger.post(tx, LedgerTxn(f"res6-{a}-3", "RESERVE", (Posting(a, "USDT", "free", D("-1")),
                                                              Posting(EXTERNAL_ACCOUNT, "USDT", "free", D("1")))))
    with pytest.raises(Exception, match="partially present"):
        splice("3", "1")
    with transaction() as tx:
        assert bal(tx, a) == (D("5"), D("4"))
        assert tx.scalar("SELECT count(*) FROM ledger_entries WHERE txn_key = :k", {"k": f"res6-{a}-3"}) == 2
    with pytest.raises(ValueError):
        ledger.post_ctes(transfer("x", "TRADE", "USDT", D(1), (a, "free"), (b, "free")), "src", "''", "NULL", {})
    # leave nothing locked without an order behind it (the pipeline tests check that)
    with transaction() as tx:
        ledger.post(tx, transfer(f"res6-{a}-release", "RELEASE", "USDT", D("4"), (a, "locked"), (a, "free")))


def test_post_many_in_array_form_posts_like_the_values_form(two_accounts, migrated_db):
    """The matcher's form (one array literal per column, direct PostgreSQL) applies the
    same entries and balances as the Data API's VALUES form: idempotent, overdraft refused."""
    from chalicelib.db import array_literal

    assert array_literal([1, None, 'a"b\\c', D("1E-8"), True]) == '{"1",NULL,"a\\"b\\\\c","1E-8","True"}'
    a, b = two_accounts
    txns = [transfer(f"arr-dep-{a}", "DEPOSIT", "ETH", D("3"), (EXTERNAL_ACCOUNT, "free"), (a, "free")),
            transfer(f"arr-lock-{a}", "RESERVE", "ETH", D("0.00000001"), (a, "free"), (a, "locked")),
            transfer(f"arr-move-{a}", "TRADE", "ETH", D("1.5"), (a, "free"), (b, "free"))]
    with psycopg.connect(migrated_db) as conn:
        with pg_transaction(conn) as tx:
            assert ledger.post_many(tx, txns, arrays=True) == {t.txn_key for t in txns}
        with pg_transaction(conn) as tx:
            assert ledger.post_many(tx, txns, arrays=True) == set()  # a repeat changes nothing
        with pytest.raises(ExchangeError), pg_transaction(conn) as tx:
            ledger.post_many(tx, [transfer(f"arr-over-{a}", "TRADE", "ETH", D("9"), (a, "free"), (b, "free"))],
                             arrays=True)
    with transaction() as tx:
        assert bal(tx, a, "ETH") == (D("1.49999999"), D("0.00000001")) and bal(tx, b, "ETH") == (D("1.5"), D(0))
        # leave nothing locked without an order behind it: the suite checks after every test
        # (tests/conftest.py); this lock, left behind, was found by tests/pipeline's conservation run
        ledger.post(tx, transfer(f"arr-release-{a}", "RELEASE", "ETH", D("0.00000001"), (a, "locked"), (a, "free")))
        assert bal(tx, a, "ETH") == (D("1.5"), D(0))
