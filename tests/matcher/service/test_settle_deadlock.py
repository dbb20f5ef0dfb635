"""A settlement PostgreSQL picks as a deadlock's victim is retried in its savepoint
(``worker.settle_retrying``), not a matcher crash: a real deadlock between the
settlement's connection and another transaction on a real server."""
from __future__ import annotations

import threading
import time


def test_a_settlement_chosen_as_a_deadlock_victim_is_retried(migrated_db, monkeypatch):
    import psycopg

    from chalicelib.db import PgTx
    from matcher.service import worker

    with psycopg.connect(migrated_db, autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS deadlock_probe (id int PRIMARY KEY, v int NOT NULL)")
        c.execute("TRUNCATE deadlock_probe")
        c.execute("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)")
    calls: list[tuple] = []
    other_holds_2 = threading.Event()
    errors: list[BaseException] = []

    def other() -> None:  # the API's side: holds row 2, then wants row 1
        try:
            with psycopg.connect(migrated_db) as b, b.transaction():
                b.execute("UPDATE deadlock_probe SET v = v + 1 WHERE id = 2")
                other_holds_2.set()
                time.sleep(0.3)  # the settlement waits first, so its deadlock check runs first: it is the victim
                b.execute("UPDATE deadlock_probe SET v = v + 1 WHERE id = 1")
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    t = threading.Thread(target=other)

    def settle(tx, *args):  # holds row 1, then wants row 2 (the first time: while the other holds it)
        calls.append(args)
        tx.execute("UPDATE deadlock_probe SET v = v + 1 WHERE id = 1")
        if len(calls) == 1:
            t.start()
            assert other_holds_2.wait(5)
        tx.execute("UPDATE deadlock_probe SET v = v + 1 WHERE id = 2")
        return "settled"

    monkeypatch.setattr(worker, "settle", settle)
    with psycopg.connect(migrated_db) as a:
        with a.transaction():
            a.execute("SELECT 1")  # the batch's work before settlement stays (a savepoint, not the transaction)
            assert worker.settle_retrying(PgTx(a), "BTCUSDT") == "settled"
    t.join(10)
    assert not errors, errors
    assert calls == [("BTCUSDT",), ("BTCUSDT",)]  # the victim ran again
    with psycopg.connect(migrated_db) as c:
        # each transaction's updates counted once: the aborted attempt left nothing
        assert c.execute("SELECT id, v FROM deadlock_probe ORDER BY id").fetchall() == [(1, 2), (2, 2)]
        c.execute("DROP TABLE deadlock_probe")
        c.commit()
