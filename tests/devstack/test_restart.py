"""Restart: resting orders on two symbols and both sides survive stopping the stack the
way Ctrl-C does and starting it again.  Locally that restart also empties every
DynamoDB table (moto keeps them in memory: the tables come back recreated empty), so
the matcher has to rebuild its books, sequence numbers, trade ids and fencing tokens
from PostgreSQL.  Then the same with only the leases table reset under a running stack
(the matcher killed and restarted by the supervisor).  After each: the old orders are
in the book, cancel to the unit, are matched by new crossing orders; new orders trade
with each other; trade ids go on from where they were; money is conserved per asset;
nothing stays PENDING_NEW."""
from __future__ import annotations

import os
import signal
import time
from decimal import Decimal

import pytest

from tests.devstack.stack_support import (
    Stack,
    balances,
    cancel,
    place,
    port_block_outside_ephemeral,
    stack_env,
    wait_status,
)
from tests.pipeline.pipeline_support import assert_invariants, pending_count, wait_until

# (symbol, side, qty, price): what alice and bob leave resting
RESTING = {
    "a1": ("alice", "BTCUSDT", "BUY", "0.01000", "30000.00"),
    "a2": ("alice", "BTCUSDT", "BUY", "0.01000", "30000.00"),
    "b1": ("bob", "BTCUSDT", "SELL", "0.01000", "90000.00"),
    "a3": ("alice", "ETHUSDT", "BUY", "0.1000", "1000.00"),
    "b2": ("bob", "ETHUSDT", "SELL", "0.1000", "9000.00"),
}


@pytest.fixture(scope="module")
def stack(original_env, make_scratch_dir):
    import shutil

    state_dir = make_scratch_dir("exchange-restart-")
    s = Stack(state_dir, port_block_outside_ephemeral(), stack_env(original_env), args=("--no-bot",)).start()
    s.users = {"alice": s.client("alice@demo.local"), "bob": s.client("bob@demo.local")}
    yield s
    s.down()
    shutil.rmtree(state_dir, ignore_errors=True)


def trade_ids(database_url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return dict(conn.execute("SELECT symbol, max(trade_id) FROM trades GROUP BY symbol").fetchall())


def leave_resting_orders(s: Stack) -> dict[str, int]:
    """A trade on each symbol first (so there are trade ids to continue), then the
    resting orders; returns their ids by name."""
    alice, bob = s.users["alice"], s.users["bob"]
    for symbol, qty, price in (("BTCUSDT", "0.00100", "60000.00"), ("ETHUSDT", "0.0100", "3000.00")):
        buy = place(alice, symbol, "BUY", qty, price)
        sell = place(bob, symbol, "SELL", qty, price, want=("FILLED",))
        assert wait_status(alice, symbol, buy["orderId"], {"FILLED"})["status"] == "FILLED"
        assert sell["status"] == "FILLED"
    ids = {}
    for name, (user, symbol, side, qty, price) in RESTING.items():
        ids[name] = place(s.users[user], symbol, side, qty, price, want=("NEW",))["orderId"]
    return ids


def in_book(s: Stack, symbol: str, side: str, price: str, qty: str) -> bool:
    book = s.users["alice"].depth(symbol, 20)
    return any(Decimal(p) == Decimal(price) and Decimal(q) == Decimal(qty) for p, q in book[side])


def check_old_orders_live_on(s: Stack, ids: dict[str, int], before: dict[str, int]) -> None:
    alice, bob = s.users["alice"], s.users["bob"]
    # the old orders are open and in the (rebuilt) book
    for name, order_id in ids.items():
        user, symbol, *_ = RESTING[name]
        assert wait_status(s.users[user], symbol, order_id, {"NEW"})["status"] == "NEW"
    for symbol, side, price, qty in (("BTCUSDT", "bids", "30000.00", "0.02"), ("BTCUSDT", "asks", "90000.00", "0.01"),
                                     ("ETHUSDT", "bids", "1000.00", "0.1"), ("ETHUSDT", "asks", "9000.00", "0.1")):
        wait_until(lambda symbol=symbol, side=side, price=price, qty=qty: in_book(s, symbol, side, price, qty), 20,
                   f"{symbol} {side} {qty} @ {price} in the book")

    # an old order cancels, its reservation back to the unit
    b0 = balances(alice)
    assert cancel(alice, "BTCUSDT", ids["a1"])["status"] == "CANCELED"
    b1 = balances(alice)
    assert b1["USDT"] == (b0["USDT"][0] + Decimal("300"), b0["USDT"][1] - Decimal("300")), (b0["USDT"], b1["USDT"])
    assert b1["BTC"] == b0["BTC"]

    # old orders are matched by new crossing ones, on both symbols and both sides
    sell = place(bob, "BTCUSDT", "SELL", "0.01000", "30000.00", want=("FILLED",))
    assert wait_status(alice, "BTCUSDT", ids["a2"], {"FILLED"})["status"] == "FILLED", sell
    buy = place(alice, "ETHUSDT", "BUY", "0.1000", "9000.00", want=("FILLED",))
    assert wait_status(bob, "ETHUSDT", ids["b2"], {"FILLED"})["status"] == "FILLED", buy

    # new orders trade with each other
    b = place(alice, "ETHUSDT", "BUY", "0.0500", "5000.00")
    place(bob, "ETHUSDT", "SELL", "0.0500", "5000.00", want=("FILLED",))
    assert wait_status(alice, "ETHUSDT", b["orderId"], {"FILLED"})["status"] == "FILLED"

    # trade ids went on from where they were, none reused
    after = trade_ids(s.database_url)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert after[symbol] > before[symbol], (symbol, before, after)

    # the rest cancels to the unit too
    for name, asset, amount in (("b1", "BTC", "0.01"), ("a3", "USDT", "100")):
        user, symbol, *_ = RESTING[name]
        client = s.users[user]
        b0 = balances(client)
        cancel(client, symbol, ids[name])
        b1 = balances(client)
        assert b1[asset] == (b0[asset][0] + Decimal(amount), b0[asset][1] - Decimal(amount)), (name, b0, b1)

    wait_until(lambda: pending_count(s.database_url) == 0, 30, "nothing PENDING_NEW")
    assert_invariants(s.database_url)


def test_restart_with_dynamodb_recreated_empty(stack):
    ids = leave_resting_orders(stack)
    before = trade_ids(stack.database_url)
    moto_pid = stack.pid("moto")
    t0 = time.monotonic()
    assert stack.interrupt() == 0, stack.output()[-2000:]
    stack.start()
    print(f"\nCtrl-C and up again: {time.monotonic() - t0:.1f} s")
    assert stack.pid("moto") != moto_pid  # a new moto: every table and the Cognito pool recreated empty
    check_old_orders_live_on(stack, ids, before)


def test_leases_table_reset_under_a_running_stack(stack):
    import boto3

    ids = leave_resting_orders(stack)
    before = trade_ids(stack.database_url)
    env = stack.state()["env"]
    ddb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    table = env.get("LEASES_TABLE") or "exchange-local-leases"
    spec = ddb.describe_table(TableName=table)["Table"]
    matcher = stack.pid("matcher")
    os.kill(matcher, signal.SIGSTOP)  # no lease renewal racing the reset
    ddb.delete_table(TableName=table)
    from chalicelib.tables import create_tables

    create_tables(ddb)
    assert ddb.describe_table(TableName=table)["Table"]["ItemCount"] == 0
    assert ddb.scan(TableName=table)["Items"] == [], spec["TableName"]
    os.kill(matcher, signal.SIGKILL)  # the supervisor starts it again
    wait_until(lambda: stack.pid("matcher") != matcher and stack.status()["healthy"], 20, "the matcher restarted")
    check_old_orders_live_on(stack, ids, before)
