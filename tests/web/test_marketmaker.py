"""The demo market maker's logic, without a stack: the seeded walk, the quote grid,
and one update against a fake API client (the live test is test_live_market.py)."""
import random
import threading
from decimal import Decimal

from devstack.binance_client import BinanceError
from devstack.marketmaker import BAND_BPS, MAX_STEP_GRIDS, Market, MarketMaker, ladder, walk


def btc(ref="65000.00") -> Market:
    tick, step = Decimal("0.01"), Decimal("0.00001")
    return Market("BTCUSDT", tick, step, 1, Decimal("5"), int(Decimal("65000") / tick), int(Decimal(ref) / tick),
                  int(Decimal("0.01") / step))


def test_walk_is_seeded_bounded_and_stays_near_the_anchor():
    a, b = btc(), btc()
    ra, rb = random.Random(7), random.Random(7)
    path = []
    for _ in range(20000):
        move = walk(a, ra)
        assert walk(b, rb) == move
        assert abs(move) <= MAX_STEP_GRIDS * a.grid
        path.append(a.ref_ticks)
        assert isinstance(a.ref_ticks, int)
    band = a.anchor_ticks * (BAND_BPS + 200) // 10000
    assert all(abs(p - a.anchor_ticks) <= band for p in path)
    assert max(path) - min(path) > 20 * a.grid  # it does move


def test_ladder_is_on_a_grid_around_the_reference():
    bids, asks = ladder(6_500_000, 1300, 5)
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < 6_500_000 <= asks[0] and asks[0] - bids[0] == 1300
    assert all(p % 1300 == 0 for p in bids + asks)
    # a move within the grid step leaves the ladder where it is
    assert ladder(6_500_000 + 300, 1300, 5) == (bids, asks)


def test_orders_meet_the_minimum_notional():
    m = Market("ETHBTC", Decimal("0.00001"), Decimal("0.0001"), 1, Decimal("0.0001"), 4920, 4920, 1)
    lots = m.lots_for(1, 4920)
    assert m.step * lots * m.tick * 4920 >= Decimal("0.0001")


class FakeClient:
    """Just enough of BinanceClient: a book of the bot's own orders."""

    def __init__(self):
        self.orders, self.next_id, self.calls, self.timeout = {}, 1, [], 10.0

    def open_orders(self, symbol):
        self.calls.append("openOrders")
        return [dict(o, orderId=i) for i, o in self.orders.items()]

    def new_order(self, **p):
        self.calls.append(p["type"])
        if p["type"] == "MARKET":
            return {"orderId": 0}
        self.orders[self.next_id] = {"side": p["side"], "price": p["price"], "origQty": p["quantity"]}
        self.next_id += 1
        return {"orderId": self.next_id - 1}

    def cancel_order(self, symbol, order_id):
        self.calls.append("cancel")
        if self.orders.pop(order_id, None) is None:
            raise BinanceError(400, -2011, "Unknown order sent.")

    def cancel_open_orders(self, symbol):
        self.calls.append("cancelAll")
        self.orders.clear()


def test_an_update_quotes_the_ladder_and_the_next_one_only_fixes_its_ends():
    client = FakeClient()
    m = btc()
    bot = MarketMaker(client, [m], random.Random(1), levels=5, interval=0)
    bot.update(m)
    sides = sorted(o["side"] for o in client.orders.values())
    assert sides == ["BUY"] * 5 + ["SELL"] * 5
    best_bid = max(Decimal(o["price"]) for o in client.orders.values() if o["side"] == "BUY")
    best_ask = min(Decimal(o["price"]) for o in client.orders.values() if o["side"] == "SELL")
    assert best_bid < best_ask
    for _ in range(20):
        client.calls.clear()
        bot.update(m)
        assert client.calls.count("LIMIT") <= 2 * MAX_STEP_GRIDS + 2
        assert len(client.orders) == 10


def test_run_stops_on_the_event_and_takes_its_quotes_off():
    client = FakeClient()
    stop = threading.Event()
    bot = MarketMaker(client, [btc()], random.Random(1), levels=3, interval=0.01, stop=stop)
    t = threading.Thread(target=bot.run)
    t.start()
    while bot.cycles < 3:
        pass
    stop.set()
    t.join(5)
    assert not t.is_alive()
    assert client.calls[-1] == "cancelAll" and not client.orders


def test_api_errors_back_off_instead_of_crashing():
    class Failing(FakeClient):
        def open_orders(self, symbol):
            raise BinanceError(503, -1001, "Internal error; unable to process your request. Please try again.")

    stop = threading.Event()
    bot = MarketMaker(Failing(), [btc()], random.Random(1), levels=3, interval=0.01, stop=stop)
    t = threading.Thread(target=bot.run)
    t.start()
    t.join(0.3)
    assert t.is_alive()  # still trying, backing off
    stop.set()
    t.join(5)
    assert not t.is_alive()
