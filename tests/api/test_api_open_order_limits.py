"""MAX_NUM_ALGO_ORDERS / MAX_NUM_ICEBERG_ORDERS under concurrent entries of one account
(real PostgreSQL behind the local Data API, moto, ``python -m matcher``): N threads
placing orders, order lists or cancel-replaces at once against the symbol's limit L
end with exactly L counted orders open and every other entry refused with -1013
``Filter failure: MAX_NUM_...``, nothing of it written.  Order entry checks the limit
in the statement that inserts, under an (account, symbol) advisory lock (migration
0010): a count and an insert in two statements let simultaneous entries all pass."""
from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from functools import partial

import pytest

from chalicelib import orderlists, orders
from chalicelib.errors import ExchangeError
from chalicelib.symbols import spec_of
from tests.api.conftest import make_user

SYMBOL = "ETHUSDT"
THREADS = 12
ALGO = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def spec():
    found = spec_of(SYMBOL)
    assert found is not None
    return found


def cid() -> str:
    return "m" + uuid.uuid4().hex[:20]


def stop_loss(qty: str = "5") -> orders.OrderRequest:
    """A SELL stop-loss-limit far below any price the tests trade at: it never fires."""
    return orders.OrderRequest(symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT", time_in_force="GTC",
                               quantity=Decimal(qty), quote_order_qty=None, price=Decimal("1.00"),
                               stop_price=Decimal("1.00"), client_order_id=cid())


def iceberg() -> orders.OrderRequest:
    """A SELL iceberg far above any price the tests trade at: it rests, unmatched."""
    return orders.OrderRequest(symbol=SYMBOL, side="SELL", type="LIMIT", time_in_force="GTC",
                               quantity=Decimal("0.01"), quote_order_qty=None, price=Decimal("999999.00"),
                               stop_price=None, client_order_id=cid(), iceberg_qty=Decimal("0.002"))


def take_profit(qty: str = "5") -> orders.OrderRequest:
    return orders.OrderRequest(symbol=SYMBOL, side="SELL", type="TAKE_PROFIT_LIMIT", time_in_force="GTC",
                               quantity=Decimal(qty), quote_order_qty=None, price=Decimal("999000.00"),
                               stop_price=Decimal("999000.00"), client_order_id=cid())


def limit_maker(qty: str = "5") -> orders.OrderRequest:
    return orders.OrderRequest(symbol=SYMBOL, side="SELL", type="LIMIT_MAKER", time_in_force=None,
                               quantity=Decimal(qty), quote_order_qty=None, price=Decimal("999000.00"),
                               stop_price=None, client_order_id=cid())


def oco(above: orders.OrderRequest) -> orderlists.OcoRequest:
    return orderlists.OcoRequest(SYMBOL, cid(), below=stop_loss(), above=above)


def at_once(calls) -> list:
    """Run the callables in threads released together; each one's result or exception."""
    gate = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(i, call):
        gate.wait()
        try:
            out[i] = call()
        except Exception as exc:  # the outcome under test, collected for the assertions
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def refusals(results) -> list[tuple[int, str]]:
    return [(r.failure.code, r.failure.msg) for r in results if isinstance(r, ExchangeError)]


def open_rows(pg_conn, account_id: int) -> list[tuple]:
    """(type, iceberg?) of the account's open orders on the symbol, from PostgreSQL."""
    with pg_conn.cursor() as cur:
        cur.execute("SELECT type, coalesce(iceberg_qty, 0) > 0 FROM orders WHERE account_id = %s AND symbol = %s"
                    " AND status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL')",
                    (account_id, SYMBOL))
        return cur.fetchall()


def algo_open(pg_conn, account_id: int) -> int:
    return sum(1 for t, _ in open_rows(pg_conn, account_id) if t in ALGO)


@pytest.fixture
def account(matcher):
    """A fresh account with plenty of ETH; its orders cancelled after the test."""
    user = make_user("maxnum", {"ETH": "100000", "USDT": "1000000"})
    yield user.account_id
    try:
        orders.cancel_open_orders(user.account_id, SYMBOL)
    except ExchangeError:  # nothing left open
        pass


@pytest.mark.parametrize("kind, make, limit_of, msg", [
    ("algo", stop_loss, "max_num_algo_orders", "Filter failure: MAX_NUM_ALGO_ORDERS"),
    ("iceberg", iceberg, "max_num_iceberg_orders", "Filter failure: MAX_NUM_ICEBERG_ORDERS"),
])
def test_concurrent_orders_stop_at_the_limit(pg_conn, account, kind, make, limit_of, msg):
    limit = getattr(spec(), limit_of)
    assert THREADS > limit + 2
    results = at_once([partial(orders.place_order, account, make()) for _ in range(THREADS)])
    placed = [r for r in results if isinstance(r, dict)]
    assert len(placed) == limit, results
    assert refusals(results) == [(-1013, msg)] * (THREADS - limit), results
    rows = open_rows(pg_conn, account)
    counted = [r for r in rows if (r[0] in ALGO if kind == "algo" else r[1])]
    assert len(counted) == limit and len(rows) == limit
    # and a plain order is not counted for either limit
    plain = orders.OrderRequest(symbol=SYMBOL, side="SELL", type="LIMIT", time_in_force="GTC",
                                quantity=Decimal("0.01"), quote_order_qty=None, price=Decimal("999999.00"),
                                stop_price=None, client_order_id=cid())
    assert orders.place_order(account, plain)["status"] in ("PENDING_NEW", "NEW")


def test_concurrent_order_lists_count_all_their_orders(pg_conn, account):
    limit = spec().max_num_algo_orders
    assert limit == 5
    # every list has two algo orders (take-profit above, stop-loss below): two lists fit
    results = at_once([partial(orderlists.place_oco, account, oco(take_profit())) for _ in range(THREADS)])
    assert len([r for r in results if isinstance(r, dict)]) == 2, results
    assert refusals(results) == [(-1013, "Filter failure: MAX_NUM_ALGO_ORDERS")] * (THREADS - 2), results
    assert algo_open(pg_conn, account) == 4
    with pg_conn.cursor() as cur:  # a refused list left no list row behind (its transaction rolled back)
        cur.execute("SELECT count(*) FROM order_lists WHERE account_id = %s", (account,))
        assert cur.fetchone() == (2,)
    # one place left: a list of two algo orders does not fit, one with one does
    with pytest.raises(ExchangeError) as refused:
        orderlists.place_oco(account, oco(take_profit()))
    assert refused.value.failure.code == -1013
    assert orderlists.place_oco(account, oco(limit_maker()))["listOrderStatus"] == "EXECUTING"
    assert algo_open(pg_conn, account) == 5
    with pytest.raises(ExchangeError):
        orders.place_order(account, stop_loss())


def test_concurrent_cancel_replaces_free_one_place(pg_conn, account):
    limit = spec().max_num_algo_orders
    first = [orders.place_order(account, stop_loss()) for _ in range(limit)]
    assert algo_open(pg_conn, account) == limit
    with pytest.raises(ExchangeError) as full:
        orders.place_order(account, stop_loss())
    assert full.value.failure.msg == "Filter failure: MAX_NUM_ALGO_ORDERS"
    old = first[0]["orderId"]
    # every thread replaces the same order: its one place goes to one of them
    results = at_once([partial(orders.cancel_replace, account, SYMBOL, old, None, stop_loss(), "ALLOW_FAILURE")
                       for _ in range(THREADS)])
    done = [r for r in results if isinstance(r, orders.CancelReplaceResult)]
    assert len(done) == 1 and done[0].cancel_ok and done[0].new_ok, results
    assert refusals(results) == [(-1013, "Filter failure: MAX_NUM_ALGO_ORDERS")] * (THREADS - 1), results
    canceled = orders.get_order(account, SYMBOL, order_id=old)
    assert canceled is not None and canceled["status"] == "CANCELED"
    assert algo_open(pg_conn, account) == limit


@pytest.mark.parametrize("make", [stop_loss, iceberg])
def test_the_check_costs_no_data_api_call(account, data_api_calls, make):
    """The limit is checked by the order's insert statement: an algo or iceberg order
    costs one ExecuteStatement, as a plain one does (a count before it cost two)."""
    data_api_calls.clear()
    assert orders.place_order(account, make())["status"] in ("PENDING_NEW", "NEW")
    assert dict(data_api_calls) == {"ExecuteStatement": 1}
