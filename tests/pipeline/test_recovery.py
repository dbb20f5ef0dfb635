"""Restart and recovery (issue 11): the matcher stopped and started again -- with
DynamoDB intact, with every DynamoDB table recreated empty meanwhile (a restore, or
moto's in-memory tables after a local restart), with only the leases table reset --
goes on trading: the old resting orders are in the book, can be cancelled (funds
back to the unit) and are matched; new orders trade; money is conserved; nothing
stays PENDING_NEW.  And a corrupted snapshot stops its symbol instead of trading
from it."""
from __future__ import annotations

import base64
import json
import uuid
import zlib
from decimal import Decimal

import pytest
from pipeline_support import assert_invariants, cancel_all, make_accounts, pending_count, wait_until


def _req(symbol, side, qty, price, tag):
    from chalicelib import orders

    return orders.OrderRequest(symbol, side, "LIMIT", "GTC", Decimal(qty), None, Decimal(price), None,
                               f"{tag}{uuid.uuid4().hex[:12]}")


def _place(account, symbol, side, qty, price, tag="r"):
    from chalicelib import orders

    return orders.place_order(account, _req(symbol, side, qty, price, tag))["orderId"]


def _status(order_id: int, timeout: float = 60) -> dict:
    from chalicelib import orders

    done = orders.wait_for_result(order_id, timeout)
    assert done is not None, f"order {order_id} still PENDING_NEW after {timeout} s"
    return done


def _balances(account: int) -> dict:
    from chalicelib import ledger
    from chalicelib.db import transaction

    with transaction() as tx:
        return {r["asset"]: (Decimal(str(r["free"])), Decimal(str(r["locked"]))) for r in ledger.balances(tx, account)}


def _depth_has(symbol: str, side: str, price: str) -> bool:
    from chalicelib import marketdata
    from chalicelib.clients import get_clients

    snap = marketdata.read_depth(get_clients().redis, symbol)
    return bool(snap) and any(Decimal(p) == Decimal(price) for p, _ in snap[side])


def _reset_tables(only: str | None = None) -> None:
    """Delete the DynamoDB tables (or only ``only``) and create them again, empty."""
    from chalicelib.clients import get_clients
    from chalicelib.tables import create_tables, table_specs

    ddb = get_clients().dynamodb
    for spec in table_specs():
        if only and spec.logical_name != only:
            continue
        ddb.delete_table(TableName=spec.table_name)
        ddb.get_waiter("table_not_exists").wait(TableName=spec.table_name, WaiterConfig={"Delay": 0.2})
    create_tables(ddb)


def _audit_args(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    from chalicelib import cli

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(argv)
    return code, buf.getvalue()


def _audit(symbol: str, *flags: str) -> dict:
    """``python -m chalicelib.cli --json audit-book SYMBOL`` (in-process)."""
    code, out = _audit_args(["--json", "audit-book", symbol, *flags])
    doc = json.loads(out)
    doc["exit"] = code
    return doc


@pytest.mark.parametrize("reset", [None, "all", "Lease"], ids=["restart", "tables-recreated", "leases-reset"])
def test_trading_goes_on_after_a_restart(reset, pipeline_env, matcher_factory, migrated_db):
    a, b = make_accounts(2, {"USDT": "100000", "BTC": "2", "ETH": "20"})
    m = matcher_factory("rec1").start()
    before = _balances(a)
    # resting orders on two symbols, both sides
    old = {
        "btc_bid": _place(a, "BTCUSDT", "BUY", "0.01000", "20000.00"),
        "btc_ask": _place(b, "BTCUSDT", "SELL", "0.02000", "40000.00"),
        "eth_bid": _place(a, "ETHUSDT", "BUY", "0.5000", "1500.00"),
        "eth_ask": _place(b, "ETHUSDT", "SELL", "0.4000", "2500.00"),
    }
    for oid in old.values():
        assert _status(oid)["status"] == "NEW"
    assert m.terminate() == 0  # SIGTERM, as Ctrl-C / `make down` stops it
    if reset == "all":
        _reset_tables()
    elif reset:
        _reset_tables(reset)

    m = matcher_factory("rec2").start()
    # the old orders are in the book (the operator's audit says so once it is back) ...
    for sym in ("BTCUSDT", "ETHUSDT"):
        doc = wait_until(lambda sym=sym: (d := _audit(sym))["ok"] and d, 60, f"{sym}'s book to agree with Aurora")
        assert doc["exit"] == 0 and doc["auroraOrders"] >= 2, doc
    # ... and in what clients see of it
    assert _depth_has("BTCUSDT", "bids", "20000.00") and _depth_has("ETHUSDT", "asks", "2500.00")
    # an old order can be cancelled: its funds come back to the unit
    from chalicelib import orders

    c = orders.cancel_order(a, "BTCUSDT", old["btc_bid"], None, wait_s=30)
    assert c["status"] == "CANCELED", c
    after = _balances(a)
    assert after["USDT"][0] == before["USDT"][0] - Decimal("750.00")  # only the ETH bid still holds USDT
    assert after["USDT"][1] == Decimal("750.00")
    # an old order is matched by a new crossing one
    taker = _place(a, "BTCUSDT", "BUY", "0.01500", "40000.00")
    assert _status(taker)["status"] == "FILLED"
    assert _status(old["btc_ask"])["status"] == "PARTIALLY_FILLED"
    # new orders trade with each other (between the old ETH orders)
    s = _place(b, "ETHUSDT", "SELL", "0.1000", "2000.00")
    assert _status(s)["status"] == "NEW"
    t = _place(a, "ETHUSDT", "BUY", "0.1000", "2000.00")
    assert _status(t)["status"] == "FILLED"
    assert orders.get_order(b, "ETHUSDT", order_id=s)["status"] == "FILLED"
    # the old ETH ask is matched too, after the restart, at its price
    t2 = _place(a, "ETHUSDT", "BUY", "0.4000", "2600.00")
    done = _status(t2)
    assert done["status"] == "FILLED" and done["cummulativeQuoteQty"] == Decimal("1000.00000000")
    wait_until(lambda: pending_count(migrated_db) == 0, 60, "nothing left PENDING_NEW or unacknowledged")
    assert_invariants(migrated_db)
    with __import__("psycopg").connect(migrated_db) as conn:
        for sym in ("BTCUSDT", "ETHUSDT"):  # trade ids continue Aurora's: dense, none twice
            tids = [r[0] for r in conn.execute("SELECT trade_id FROM trades WHERE symbol = %s ORDER BY trade_id",
                                               (sym,))]
            assert tids == list(range(1, len(tids) + 1)), sym
    cancel_all([a, b])
    assert_invariants(migrated_db)
    assert m.alive()


def test_a_corrupted_snapshot_stops_its_symbol(pipeline_env, matcher_factory, migrated_db, tmp_path):
    import psycopg

    from chalicelib import orders
    from chalicelib.clients import get_clients

    a, b = make_accounts(2, {"USDT": "100000", "BTC": "2", "ETH": "20"})
    m = matcher_factory("aud1").start()
    victim = _place(a, "ETHUSDT", "BUY", "0.5000", "1500.00")
    assert _status(victim)["status"] == "NEW"
    assert m.terminate() == 0  # a clean stop writes the snapshot
    # corrupt it: one order's quantity changed
    ddb = get_clients().dynamodb
    table = get_clients().settings.book_table
    key = {"symbol": {"S": "ETHUSDT"}, "item": {"S": "snapshot"}}
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    body = json.loads(item["body"]["S"])
    raw = base64.b64decode(body["engine"])
    state = json.loads(zlib.decompress(raw[5:]))
    found = [o for _, q in state["bids"] for o in q if o[0] == victim]
    assert found
    found[0][2] += 1000  # leaves
    found[0][3] += 1000  # orig
    raw = raw[:5] + zlib.compress(json.dumps(state, separators=(",", ":"), sort_keys=True).encode())
    body["engine"] = base64.b64encode(raw).decode()
    item["body"] = {"S": json.dumps(body, separators=(",", ":"), sort_keys=True)}
    ddb.put_item(TableName=table, Item=item)
    with psycopg.connect(migrated_db) as conn:
        progress = conn.execute("SELECT last_seq FROM settlement_progress WHERE symbol = 'ETHUSDT'").fetchone()[0]
        eth_trades = conn.execute("SELECT count(*) FROM trades WHERE symbol = 'ETHUSDT'").fetchone()[0]

    doc = _audit("ETHUSDT")  # the operator's command sees it too
    assert doc["exit"] == 1 and not doc["ok"] and any(str(victim) in d for d in doc["differences"]), doc

    m = matcher_factory("aud2").start()
    wait_until(lambda: "cannot be reconciled with Aurora" in m.log_path.read_text(), 60, "the stop message")
    log = m.log_path.read_text()
    assert f"order {victim}: book has BUY 6000 lots" in log and "ETHUSDT" in log
    # nothing is settled from it: a crossing order stays PENDING_NEW, no trade, progress unmoved
    cross = _place(b, "ETHUSDT", "SELL", "0.5000", "1500.00")
    # ... while other symbols trade on
    s = _place(b, "BTCUSDT", "SELL", "0.00100", "30000.00")
    t = _place(a, "BTCUSDT", "BUY", "0.00100", "30000.00")
    assert _status(t)["status"] == "FILLED" and _status(s)["status"] == "FILLED"
    assert orders.wait_for_result(cross, 3) is None
    with psycopg.connect(migrated_db) as conn:
        assert conn.execute("SELECT last_seq FROM settlement_progress WHERE symbol = 'ETHUSDT'").fetchone()[0] \
            == progress
        assert conn.execute("SELECT count(*) FROM trades WHERE symbol = 'ETHUSDT'").fetchone()[0] == eth_trades
        assert conn.execute("SELECT status FROM orders WHERE order_id = %s", (victim,)).fetchone()[0] == "NEW"
    assert m.alive()

    # the operator's way out: discard DynamoDB's copy; the next owner rebuilds from Aurora
    assert m.terminate() == 0
    with pytest.raises(SystemExit):  # the flag exists ...
        _audit_args(["audit-book", "ETHUSDT", "--discard-dynamodb", "--bogus"])
    doc = _audit("ETHUSDT", "--discard-dynamodb")
    assert doc["exit"] == 1 and doc["discardedJournalItems"] is not None, doc
    assert "Item" not in ddb.get_item(TableName=table, Key=key, ConsistentRead=True)
    m = matcher_factory("aud3").start()
    done = _status(cross)
    assert done["status"] == "FILLED", done
    assert _status(victim)["status"] == "FILLED"
    assert _audit("ETHUSDT")["ok"]
    wait_until(lambda: pending_count(migrated_db) == 0, 60, "nothing left PENDING_NEW or unacknowledged")
    assert_invariants(migrated_db)
    cancel_all([a, b])


def test_a_resent_intent_is_sequenced_once(pipeline_env, matcher_factory, migrated_db):
    """The reconciler (or a takeover) re-sends an unacknowledged intent; the stream
    delivers it again: the matcher journals each intent once (deduplicated against
    Aurora's outbox), cancels included."""
    import psycopg

    from chalicelib import orders, reconcile
    from chalicelib.clients import get_clients
    from chalicelib.tables import IntentModel
    from matcher.service.journal import Journal

    a, = make_accounts(1, {"USDT": "10000"})
    m = matcher_factory("dedupe").start()
    with psycopg.connect(migrated_db) as conn:
        row = conn.execute("SELECT last_seq FROM settlement_progress WHERE symbol = 'BTCUSDT'").fetchone()
    start = row[0] if row else 0
    oid = _place(a, "BTCUSDT", "BUY", "0.00100", "10000.00")
    assert _status(oid)["status"] == "NEW"
    c = orders.cancel_order(a, "BTCUSDT", oid, None, wait_s=30)
    assert c["status"] == "CANCELED"
    with psycopg.connect(migrated_db) as conn:
        ids = [r[0] for r in conn.execute("SELECT intent_id FROM intent_outbox WHERE order_id = %s", (oid,))]
    assert len(ids) == 2
    for _ in range(3):  # re-sent three times each: three more stream records apiece
        reconcile._touch_all(IntentModel, [IntentModel.get(i, consistent_read=True) for i in ids])
    marker = _place(a, "BTCUSDT", "BUY", "0.00100", "10000.00")  # sequenced after the repeats
    assert _status(marker)["status"] == "NEW"
    s = get_clients().settings
    journaled = [e.intent_id for e in Journal(get_clients().dynamodb, s.journal_table, s.book_table)
                 .read_after("BTCUSDT", start)]
    assert sorted(i for i in journaled if i in ids) == sorted(ids), journaled
    orders.cancel_order(a, "BTCUSDT", marker, None, wait_s=30)
    wait_until(lambda: pending_count(migrated_db) == 0, 60, "nothing left PENDING_NEW or unacknowledged")
    assert_invariants(migrated_db)
    assert m.alive()


def test_aurora_that_does_not_add_up_stops_the_symbol(pipeline_env, matcher_factory, migrated_db):
    """An open order whose executed quantity disagrees with its fills: the matcher
    does not guess -- the symbol stops with the reason, until Aurora is put right."""
    import psycopg

    a, = make_accounts(1, {"USDT": "10000"})
    m = matcher_factory("sum1").start()
    oid = _place(a, "BTCUSDT", "BUY", "0.00100", "10000.00")
    assert _status(oid)["status"] == "NEW"
    assert m.terminate() == 0
    with psycopg.connect(migrated_db) as conn:
        conn.execute("UPDATE orders SET executed_qty = 0.0005 WHERE order_id = %s", (oid,))
    m = matcher_factory("sum2").start()
    wait_until(lambda: "cannot be reconciled with Aurora" in m.log_path.read_text(), 60, "the stop message")
    assert f"order {oid}: executed quantity 0.0005 but its fills sum to 0" in m.log_path.read_text()
    assert _audit("BTCUSDT")["exit"] == 1
    assert m.terminate() == 0
    with psycopg.connect(migrated_db) as conn:  # put right: the symbol trades again
        conn.execute("UPDATE orders SET executed_qty = 0 WHERE order_id = %s", (oid,))
    m = matcher_factory("sum3").start()
    from chalicelib import orders

    assert orders.cancel_order(a, "BTCUSDT", oid, None, wait_s=30)["status"] == "CANCELED"
    wait_until(lambda: pending_count(migrated_db) == 0, 60, "nothing left PENDING_NEW or unacknowledged")
    assert_invariants(migrated_db)


def test_redis_trades_ahead_of_aurora_are_cleared(pipeline_env):
    """Redis holding a trade Aurora does not (the stores reset apart): the recent
    trades, last trade and klines go (the API then reads Aurora), since they are also
    the mark record_trades skips repeats by and would hide the next trades."""
    from chalicelib import marketdata
    from chalicelib.clients import get_clients

    r, p = get_clients().redis, f"clr{uuid.uuid4().hex[:6]}:"
    t = marketdata.Trade(5, Decimal("30000"), Decimal("0.001"), Decimal("30"), 1_700_000_000_000, False)
    marketdata.record_trades(r, "BTCUSDT", [t], prefix=p)
    assert not marketdata.clear_trades_ahead(r, "BTCUSDT", 5, p)  # Aurora has trade 5: kept
    assert marketdata.read_last(r, "BTCUSDT", p)["lastId"] == "5"
    assert marketdata.clear_trades_ahead(r, "BTCUSDT", 3, p)  # Aurora's last is 3
    assert marketdata.read_last(r, "BTCUSDT", p) is None
    assert marketdata.read_trades(r, "BTCUSDT", 10, p) is None
    assert marketdata.read_klines(r, "BTCUSDT", "1m", None, None, 10, p) is None
    # the next trades (ids continuing Aurora's) are recorded again
    t4 = marketdata.Trade(4, Decimal("30001"), Decimal("0.001"), Decimal("30.001"), 1_700_000_001_000, True)
    assert marketdata.record_trades(r, "BTCUSDT", [t4], prefix=p) == 1
