"""Matcher groups (issue 14): two groups in two ``python -m matcher`` processes on the
session's real servers, each symbol sequenced by exactly one of them; a takeover
inside a group (its active task SIGKILLed, the group's standby takes over, the other
group untouched); and an operator's move of a symbol to the other group (halt ->
drain -> snapshot -> reassign -> resume) with an order resting across the move.
Three groups in three processes, each reading its own intents table; a move between
tables; an order put by an API process whose cached route is stale (into the table of
the group the symbol left) still matched by the group that serves it.  Two tasks of
one group splitting its symbols (the second one's arrival makes the first hand a
symbol over), one killed: the other takes its symbols and nothing is lost."""
from __future__ import annotations

import re
import signal
import uuid
from decimal import Decimal

import pytest
from pipeline_support import assert_invariants, cancel_all, make_accounts, wait_until

from chalicelib.symbols import load_catalog, write_grouped

# BTCUSDT and ETHUSDT pinned to a group each; ETHBTC by hash
PINS = {"BTCUSDT": 0, "ETHUSDT": 1}
PINS3 = {"BTCUSDT": 0, "ETHUSDT": 1, "ETHBTC": 2}


def _grouped(tmp_path, monkeypatch, groups: int, pins: dict[str, int]):
    """A symbols file with ``groups`` matcher groups (the matcher processes' and the
    operator CLI's; the specs are the default file's), each group's intents table
    created (chalicelib/tables.py), and, afterwards, no routes left for the next tests."""
    from chalicelib import routing
    from chalicelib.clients import get_clients
    from chalicelib.tables import create_tables

    path = write_grouped(tmp_path / f"symbols-{groups}-groups.json", groups, pins)
    monkeypatch.setenv("EXCHANGE_SYMBOLS_FILE", str(path))
    ddb, table = get_clients().dynamodb, get_clients().settings.leases_table
    create_tables(ddb, groups)
    routing.forget_routes()
    yield path, load_catalog(path)
    for item in ddb.scan(TableName=table, ConsistentRead=True).get("Items", []):
        if item["lease_key"]["S"].startswith("route:"):
            ddb.delete_item(TableName=table, Key={"lease_key": item["lease_key"]})
    routing.forget_routes()


@pytest.fixture
def two_groups(tmp_path, pipeline_env, monkeypatch):
    yield from _grouped(tmp_path, monkeypatch, 2, PINS)


@pytest.fixture
def three_groups(tmp_path, pipeline_env, monkeypatch):
    yield from _grouped(tmp_path, monkeypatch, 3, PINS3)


def _lease(symbol: str) -> tuple[str | None, int]:
    from chalicelib.tables import LeaseModel

    try:
        lease = LeaseModel.get(f"symbol:{symbol}", consistent_read=True)
    except LeaseModel.DoesNotExist:
        return None, 0
    return lease.owner, int(lease.counter)


def _cross(seller: int, buyer: int, prices: dict[str, str], qty: str = "0.01") -> None:
    """A sell and a buy crossing it on each symbol (all placed first, then waited for)."""
    from chalicelib import orders

    def req(symbol, side):
        return orders.OrderRequest(symbol, side, "LIMIT", "GTC", Decimal(qty), None, Decimal(prices[symbol]), None,
                                   f"g{uuid.uuid4().hex[:12]}")

    takers = {}
    for symbol in prices:
        orders.place_order(seller, req(symbol, "SELL"))
        takers[symbol] = orders.place_order(buyer, req(symbol, "BUY"))["orderId"]
    for symbol, order_id in takers.items():
        done = orders.wait_for_result(order_id, 30)
        assert done and done["status"] == "FILLED", (symbol, done)


def _took(log_path) -> set[str]:
    """The symbols whose lease a matcher process took (its INFO log)."""
    out = set()
    for line in log_path.read_text().splitlines():
        if '"took symbol lease"' in line:
            out.add(re.search(r'"symbol": ?"(\w+)"', line).group(1))
    return out


def test_two_groups_takeover_and_move(two_groups, matcher_factory, migrated_db):
    from chalicelib import orders
    from chalicelib.cli import main as cli

    path, catalog = two_groups
    groups = {sym: catalog.group_of(sym) for sym in catalog.symbols}
    assert groups["BTCUSDT"] == 0 and groups["ETHUSDT"] == 1
    env = {"EXCHANGE_SYMBOLS_FILE": str(path), "MATCHER_LOG_LEVEL": "INFO", "MATCHER_ROUTES_MS": "300",
           "MATCHER_LEASE_TTL_MS": "2000", "MATCHER_RENEW_MS": "400",
           "MATCHER_READERS": "1"}  # one reader slot: a group's second task is a standby
    procs = {w: matcher_factory(w, {**env, "MATCHER_GROUP": w[1]}).start() for w in ("g0a", "g1a", "g1b")}
    seller, buyer = make_accounts(2, {"USDT": "100000", "BTC": "2", "ETH": "20"})  # while they start
    # group 1 has two tasks: one active, one standby (whichever took the leases first)
    wait_until(lambda: _lease("BTCUSDT")[0] == "g0a" and _lease("ETHUSDT")[0] in ("g1a", "g1b"), 60,
               "each group's symbols taken")
    active = _lease("ETHUSDT")[0]
    standby = "g1b" if active == "g1a" else "g1a"
    name = {0: "g0a", 1: active}
    wait_until(lambda: all(_lease(s)[0] == name[g] for s, g in groups.items()), 30, "every symbol taken")
    wait_until(lambda: "matcher starting" in procs[standby].log_path.read_text(), 30, "the standby to start")
    before = {s: _lease(s)[1] for s in groups}

    # --- two groups at once: every symbol trades, sequenced by its own group's process
    _cross(seller, buyer, {"BTCUSDT": "30000.00", "ETHUSDT": "2000.00", "ETHBTC": "0.05000"})
    assert {s: _lease(s) for s in groups} == {s: (name[g], before[s]) for s, g in groups.items()}  # no flapping
    logs = {w: _took(p.log_path) for w, p in procs.items()}
    for g in (0, 1):
        assert logs[name[g]] == {s for s, sg in groups.items() if sg == g}, logs
    assert not logs[standby], logs  # a standby while its group's active task lives

    # --- takeover inside group 1: its standby takes over, group 0 is untouched
    procs[active].kill()
    wait_until(lambda: _lease("ETHUSDT")[0] == standby, 30, "group 1's standby to take ETHUSDT")
    _cross(seller, buyer, {"ETHUSDT": "2001.00"})
    assert _lease("BTCUSDT") == ("g0a", before["BTCUSDT"])
    assert procs["g0a"].alive()

    # --- move ETHUSDT to group 0 with an order resting (maybe still in flight) across the move
    resting = orders.place_order(buyer, orders.OrderRequest(
        "ETHUSDT", "BUY", "LIMIT", "GTC", Decimal("0.02"), None, Decimal("1990.00"), None, f"r{uuid.uuid4().hex[:10]}"))
    token = _lease("ETHUSDT")[1]
    code = cli(["--json", "move-symbol", "ETHUSDT", "0", "--timeout", "30"])
    assert code == 0
    assert _lease("ETHUSDT")[0] == "g0a" and _lease("ETHUSDT")[1] > token  # a new fencing token
    taker = orders.place_order(seller, orders.OrderRequest(
        "ETHUSDT", "SELL", "LIMIT", "IOC", Decimal("0.02"), None, Decimal("1990.00"), None,
        f"t{uuid.uuid4().hex[:10]}"))
    done = orders.wait_for_result(taker["orderId"], 30)
    assert done and done["status"] == "FILLED", done
    assert orders.get_order(buyer, "ETHUSDT", order_id=resting["orderId"])["status"] == "FILLED"
    assert "ETHUSDT" in _took(procs["g0a"].log_path) and procs[standby].alive()
    # and back again: group 1's standby-turned-active takes it
    assert cli(["move-symbol", "ETHUSDT", "1", "--timeout", "30"]) == 0
    assert _lease("ETHUSDT")[0] == standby
    _cross(seller, buyer, {"ETHUSDT": "2002.00"})
    cancel_all([seller, buyer])
    assert_invariants(migrated_db)
    for p in procs.values():  # stop them together (the fixture then waits for each)
        if p.alive():
            p.proc.send_signal(signal.SIGTERM)


def _intent_groups(intent_id: str, groups: int) -> set[int]:
    """The groups whose intents table holds ``intent_id``."""
    from chalicelib.tables import intent_model

    out = set()
    for g in range(groups):
        model = intent_model(g)
        try:
            model.get(intent_id, consistent_read=True)
            out.add(g)
        except model.DoesNotExist:
            pass
    return out


def test_three_groups_own_tables_stale_route_and_move(three_groups, matcher_factory, migrated_db):
    """Three groups at once (past the 2 readers a shared stream's shard allows), each
    reading only its own intents table; a move from group 2's table to group 1's; an
    API process whose route cache still says group 2 puts into group 2's table, and
    group 1 matches the order all the same (its re-send after the route caches expire,
    or the reconciler, puts the outbox row into its own table)."""
    import time

    from chalicelib import orders, routing
    from chalicelib.cli import main as cli

    path, catalog = three_groups
    groups = {sym: catalog.group_of(sym) for sym in catalog.symbols}
    assert groups == PINS3
    env = {"EXCHANGE_SYMBOLS_FILE": str(path), "MATCHER_LOG_LEVEL": "INFO", "MATCHER_ROUTES_MS": "300",
           "MATCHER_LEASE_TTL_MS": "2000", "MATCHER_RENEW_MS": "400"}
    procs = {g: matcher_factory(f"g{g}", {**env, "MATCHER_GROUP": str(g)}).start() for g in range(3)}
    seller, buyer = make_accounts(2, {"USDT": "100000", "BTC": "2", "ETH": "20"})
    wait_until(lambda: all(_lease(s)[0] == f"g{g}" for s, g in groups.items()), 60, "each group's symbol taken")

    # --- three groups at once, each symbol's intents in its own group's table only
    prices = {"BTCUSDT": "30000.00", "ETHUSDT": "2000.00", "ETHBTC": "0.05000"}
    _cross(seller, buyer, prices)
    for g in range(3):
        assert _took(procs[g].log_path) == {s for s, sg in groups.items() if sg == g}
    mine = orders.open_orders(seller)  # none: every sell was taken
    assert not mine
    from chalicelib.db import transaction

    with transaction() as tx:
        rows = tx.query("SELECT intent_id, symbol FROM intent_outbox WHERE account_id = :a", {"a": seller})
    assert len(rows) == 3
    for row in rows:
        assert _intent_groups(row["intent_id"], 3) == {groups[row["symbol"]]}, row

    # --- move ETHBTC from group 2 to group 1: between tables, with an order resting across it
    resting = orders.place_order(buyer, orders.OrderRequest(
        "ETHBTC", "BUY", "LIMIT", "GTC", Decimal("0.1"), None, Decimal("0.04900"), None, f"r{uuid.uuid4().hex[:10]}"))
    assert cli(["--json", "move-symbol", "ETHBTC", "1", "--timeout", "30"]) == 0
    assert _lease("ETHBTC")[0] == "g1"
    # an API process that read the route before the move: its put lands in group 2's table
    routing._cache["ETHBTC"] = (2, time.monotonic() + 3600)
    taker = orders.place_order(seller, orders.OrderRequest(
        "ETHBTC", "SELL", "LIMIT", "IOC", Decimal("0.1"), None, Decimal("0.04900"), None,
        f"t{uuid.uuid4().hex[:10]}"))
    assert _intent_groups(f"{seller}:{taker['clientOrderId']}", 3) >= {2}
    routing.forget_routes()
    done = orders.wait_for_result(taker["orderId"], 30)
    assert done and done["status"] == "FILLED", done
    assert orders.get_order(buyer, "ETHBTC", order_id=resting["orderId"])["status"] == "FILLED"
    assert 1 in _intent_groups(f"{seller}:{taker['clientOrderId']}", 3)  # re-sent into the serving group's table
    assert "ETHBTC" in _took(procs[1].log_path)
    # and the other symbols never moved
    _cross(seller, buyer, {"BTCUSDT": "30001.00", "ETHUSDT": "2001.00", "ETHBTC": "0.05001"})
    assert {s: _lease(s)[0] for s in groups} == {"BTCUSDT": "g0", "ETHUSDT": "g1", "ETHBTC": "g1"}
    cancel_all([seller, buyer])
    assert_invariants(migrated_db)
    for p in procs.values():
        if p.alive():
            p.proc.send_signal(signal.SIGTERM)


def test_two_tasks_of_a_group_split_its_symbols(pipeline_env, matcher_factory, migrated_db):
    """One group (the default symbols file: 3 symbols), two tasks with a reader slot
    each: the first takes every symbol, the second's arrival makes it hand one over
    (ceil(3 / 2) = 2 at most each, with a snapshot); both match at once.  The first is
    SIGKILLed with an order resting on one of its symbols: the second takes its
    symbols once their leases lapse, and the resting order is filled by a taker sent
    after the kill."""
    from chalicelib import orders

    symbols = sorted(load_catalog().symbols)
    env = {"MATCHER_LOG_LEVEL": "INFO", "MATCHER_LEASE_TTL_MS": "2000", "MATCHER_RENEW_MS": "400",
           "MATCHER_READERS": "2"}
    first = matcher_factory("split-a", env).start()
    seller, buyer = make_accounts(2, {"USDT": "100000", "BTC": "2", "ETH": "20"})
    wait_until(lambda: all(_lease(s)[0] == "split-a" for s in symbols), 60, "the first task to take every symbol")
    second = matcher_factory("split-b", env).start()
    wait_until(lambda: [_lease(s)[0] for s in symbols].count("split-b") == 1, 30, "the second task's share")
    owners = {s: _lease(s)[0] for s in symbols}
    assert sorted(owners.values()) == ["split-a", "split-a", "split-b"], owners
    assert '"handed symbol over"' in first.log_path.read_text()
    prices = {"BTCUSDT": "30000.00", "ETHUSDT": "2000.00", "ETHBTC": "0.05000"}
    _cross(seller, buyer, prices)  # both tasks sequence at once
    assert {s: _lease(s)[0] for s in symbols} == owners  # no flapping

    # --- the first task dies with an order resting on one of its symbols
    victim = next(s for s in symbols if owners[s] == "split-a")
    price = {"BTCUSDT": "29000.00", "ETHUSDT": "1900.00", "ETHBTC": "0.04000"}[victim]
    resting = orders.place_order(buyer, orders.OrderRequest(
        victim, "BUY", "LIMIT", "GTC", Decimal("0.01"), None, Decimal(price), None, f"r{uuid.uuid4().hex[:10]}"))
    assert orders.wait_for_result(resting["orderId"], 30)["status"] == "NEW"
    first.kill()
    taker = orders.place_order(seller, orders.OrderRequest(
        victim, "SELL", "LIMIT", "IOC", Decimal("0.01"), None, Decimal(price), None, f"t{uuid.uuid4().hex[:10]}"))
    wait_until(lambda: all(_lease(s)[0] == "split-b" for s in symbols), 30, "the second task to take every symbol")
    done = orders.wait_for_result(taker["orderId"], 30)
    assert done and done["status"] == "FILLED", done
    assert orders.get_order(buyer, victim, order_id=resting["orderId"])["status"] == "FILLED"
    _cross(seller, buyer, {s: p[:-1] + "1" for s, p in prices.items()})
    cancel_all([seller, buyer])
    assert_invariants(migrated_db)
    second.proc.send_signal(signal.SIGTERM)
