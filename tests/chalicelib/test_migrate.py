import threading

import psycopg
import pytest

from chalicelib.migrate import applied_versions, discover, migrate, split_statements


def test_split_respects_quotes_dollar_bodies_and_comments():
    sql = ("CREATE TABLE a (x text DEFAULT 'a;b'); -- c;\n"
           "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
           "INSERT INTO a VALUES ('it''s; fine')")
    stmts = split_statements(sql)
    assert len(stmts) == 3
    assert "$$ SELECT 1; $$" in stmts[1]
    assert stmts[2].endswith("('it''s; fine')")


def test_migrations_are_numbered_and_split():
    migs = discover()
    assert [m.version for m in migs] == sorted(m.version for m in migs)
    assert migs[0].version == 1 and len(migs[0].statements) > 10


@pytest.fixture
def fresh_db(postgres_server):
    name = "exchange_migrate_test"
    postgres_server.drop_database(name)
    url = postgres_server.database_url(name)
    yield url
    postgres_server.drop_database(name)


def test_migrations_apply_once_and_twice_harmlessly(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        first = migrate(conn)
        second = migrate(conn)
        assert first == [m.version for m in discover()]
        assert second == []
        assert applied_versions(conn) == first
        # the system accounts exist exactly once, with the ids the ledger relies on
        rows = conn.execute("SELECT account_id, kind FROM accounts ORDER BY account_id").fetchall()
        assert rows == [(1, "EXTERNAL"), (2, "FEES")]


def test_concurrent_runners_apply_each_migration_once(fresh_db):
    results, errors = [], []

    def run():
        try:
            with psycopg.connect(fresh_db) as conn:
                results.append(migrate(conn))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # each migration applied by exactly one runner (runners may take turns between
    # migrations: the lock is held per migration), and in order by whoever applied it
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in discover()]
    assert all(r == sorted(r) for r in results)


def test_migrations_through_the_data_api(exchange_env):
    """What operators run against Aurora: the same runner over aurora_data_api."""
    from chalicelib import admin

    assert admin.migrate() == []  # the session DB is migrated already: nothing to do, no error
