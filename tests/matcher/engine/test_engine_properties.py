"""Property and differential tests: the fast book against the reference model on
random command streams, plus the invariants every book must keep."""
from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise

from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.trading.events import digest
from matcher.engine import (
    Amend,
    Cancel,
    CancelOrderList,
    CancelReplace,
    CancelReplaceMode,
    ContingencyType,
    EngineFilters,
    EventKind,
    FastBook,
    NewOrder,
    NewOrderList,
    OrderStatus,
    OrderType,
    ReferenceBook,
    Side,
    StpMode,
    TimeInForce,
)

K = EventKind
FILTERS = EngineFilters(min_price=1, max_price=200, min_qty=1, max_qty=40, market_min_qty=1,
                        market_max_qty=30, min_notional=150, max_notional=3000, iceberg_parts=6,
                        min_trailing_above=50, max_trailing_above=600, min_trailing_below=50,
                        max_trailing_below=600)
_LIMIT_PRICED = (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT,
                 OrderType.TAKE_PROFIT_LIMIT)
_STOPS = (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT,
          OrderType.TAKE_PROFIT_LIMIT)
DETERMINISTIC = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- command streams ------------------------------------------------------------------
@st.composite
def new_orders(draw, oid: int) -> NewOrder:
    t = draw(st.sampled_from(list(OrderType)))
    side = draw(st.sampled_from(list(Side)))
    tif = draw(st.sampled_from(list(TimeInForce)))
    stp = draw(st.sampled_from(list(StpMode)))
    account = draw(st.integers(1, 3))
    price = draw(st.integers(95, 105))
    qty = draw(st.integers(1, 14))
    quote = 0
    if t == OrderType.MARKET and draw(st.booleans()):
        qty, quote = 0, draw(st.integers(100, 4000))  # up to ~40 lots: past MARKET_LOT_SIZE's 30
    stop_price = draw(st.integers(95, 105)) if t not in (OrderType.LIMIT, OrderType.MARKET,
                                                          OrderType.LIMIT_MAKER) else 0
    if t in (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT):
        price = 0
    iceberg = trailing = 0
    if t in _LIMIT_PRICED and draw(st.integers(0, 2)) == 0:  # an iceberg (sometimes one refused)
        iceberg = draw(st.integers(1, 8))
        tif = TimeInForce.GTC if draw(st.integers(0, 5)) else tif
    if t in _STOPS and draw(st.booleans()):  # a trailing stop, with or without a stop price
        trailing = draw(st.integers(20, 700))
        stop_price = stop_price if draw(st.booleans()) else 0
    return NewOrder(oid, account, side, t, tif, price, qty, quote, stop_price, stp, iceberg, trailing)


_OCO_TYPES = [OrderType.LIMIT_MAKER, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT,
              OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT]


def order_list(list_id: int, first_oid: int, contingency: int, account: int, side: int, qty: int,
               prices: list[int], types: list[int], pending_side: int) -> NewOrderList:
    """A list built from drawn numbers: mostly well formed (the OCO pair on one side
    with one quantity), sometimes not (two stop-losses, a MARKET working order)."""
    def order(oid: int, t: int, price: int, stop: int, o_side: int) -> NewOrder:
        priced = t in (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT,
                       OrderType.TAKE_PROFIT_LIMIT)
        stopped = t not in (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET)
        return NewOrder(oid, account, o_side, t, TimeInForce.GTC, price if priced else 0, qty, 0,
                        stop if stopped else 0)

    if contingency == ContingencyType.OCO:
        orders = (order(first_oid, types[0], prices[0], prices[1], side),
                  order(first_oid + 1, types[1], prices[2], prices[3], side))
    else:
        working = order(first_oid, types[2], prices[0], 0, side)
        pend = [order(first_oid + 1, types[0], prices[1], prices[2], pending_side)]
        if contingency == ContingencyType.OTOCO:
            pend.append(order(first_oid + 2, types[1], prices[3], prices[2], pending_side))
        orders = (working, *pend)
    return NewOrderList(list_id, account, contingency, orders)


@st.composite
def order_lists(draw, list_id: int, first_oid: int) -> NewOrderList:
    return order_list(list_id, first_oid, draw(st.sampled_from(list(ContingencyType))),
                      draw(st.integers(1, 3)), draw(st.sampled_from(list(Side))),
                      draw(st.integers(1, 14)), [draw(st.integers(94, 106)) for _ in range(4)],
                      [draw(st.sampled_from(_OCO_TYPES)), draw(st.sampled_from(_OCO_TYPES)),
                       draw(st.sampled_from([OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET]))],
                      draw(st.sampled_from(list(Side))))


@st.composite
def command_streams(draw, max_size: int = 60) -> list:
    n = draw(st.integers(1, max_size))
    commands, oid, accounts = [], 0, {}
    lists: dict[int, int] = {}  # list id -> account
    for _ in range(n):
        kind = draw(st.sampled_from("LLLLLNCCAROOX"))
        if kind == "O":
            lst = draw(order_lists(len(lists) + 1, oid + 1))
            lists[lst.list_id] = lst.account_id
            for o in lst.orders:
                accounts[o.order_id] = o.account_id
            oid += len(lst.orders)
            commands.append(lst)
            continue
        if kind == "X":
            if lists:
                list_id = draw(st.integers(1, len(lists)))
                commands.append(CancelOrderList(list_id, lists[list_id] if draw(st.integers(0, 9)) else 99))
            continue
        if kind in "CAR" and oid:
            target = draw(st.integers(1, oid))
            account = accounts[target] if draw(st.integers(0, 9)) else 99  # sometimes a stranger
            if kind == "C":
                commands.append(Cancel(target, account))
            elif kind == "A":
                commands.append(Amend(target, account, draw(st.integers(0, 14))))
            else:
                oid += 1
                new = draw(new_orders(oid))._replace(account_id=account)
                accounts[oid] = account
                mode = draw(st.sampled_from(list(CancelReplaceMode)))
                commands.append(CancelReplace(target, account, new, mode))
            continue
        oid += 1
        if kind == "L":  # the common case: a plain limit order near the touch
            o = NewOrder(oid, draw(st.integers(1, 3)), draw(st.sampled_from(list(Side))),
                         OrderType.LIMIT, TimeInForce.GTC, draw(st.integers(97, 103)),
                         draw(st.integers(1, 14)), stp_mode=draw(st.sampled_from(list(StpMode))))
            if draw(st.integers(0, 3)) == 0:  # an iceberg at the touch
                o = o._replace(iceberg_qty=draw(st.integers(1, 5)))
        else:
            o = draw(new_orders(oid))
        accounts[oid] = o.account_id
        commands.append(o)
    return commands


def random_stream(rng: random.Random, n: int) -> list:
    """A longer stream from a seeded RNG, same mix as :func:`command_streams`."""
    commands, accounts, oid = [], {}, 0
    lists: dict[int, int] = {}
    for _ in range(n):
        kind = rng.choice("LLLLLLNCCCAROX")
        if kind == "O":
            lst = order_list(len(lists) + 1, oid + 1, rng.choice(list(ContingencyType)), rng.randint(1, 4),
                             rng.choice(list(Side)), rng.randint(1, 14), [rng.randint(94, 106) for _ in range(4)],
                             [rng.choice(_OCO_TYPES), rng.choice(_OCO_TYPES),
                              rng.choice([OrderType.LIMIT, OrderType.LIMIT_MAKER])], rng.choice(list(Side)))
            lists[lst.list_id] = lst.account_id
            for o in lst.orders:
                accounts[o.order_id] = o.account_id
            oid += len(lst.orders)
            commands.append(lst)
            continue
        if kind == "X":
            if lists:
                list_id = rng.randint(1, len(lists))
                commands.append(CancelOrderList(list_id, lists[list_id]))
            continue
        if kind in "CAR" and oid:
            target = rng.randint(max(1, oid - 40), oid)
            account = accounts[target] if rng.random() < 0.9 else 99
            if kind == "C":
                commands.append(Cancel(target, account))
            elif kind == "A":
                commands.append(Amend(target, account, rng.randint(0, 14)))
            else:
                oid += 1
                accounts[oid] = account
                commands.append(CancelReplace(target, account, NewOrder(
                    oid, account, rng.choice(list(Side)), OrderType.LIMIT, TimeInForce.GTC,
                    rng.randint(97, 103), rng.randint(2, 14)), rng.choice(list(CancelReplaceMode))))
            continue
        oid += 1
        t = OrderType.LIMIT if kind == "L" else rng.choice(list(OrderType))
        qty, quote = rng.randint(1, 14), 0
        if t == OrderType.MARKET and rng.random() < 0.5:
            qty, quote = 0, rng.randint(100, 4000)
        o = NewOrder(oid, rng.randint(1, 4), rng.choice(list(Side)), t,
                     rng.choice(list(TimeInForce)) if kind != "L" else TimeInForce.GTC,
                     rng.randint(94, 106), qty, quote, rng.randint(94, 106),
                     rng.choice(list(StpMode)))
        if t in (OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER):
            o = o._replace(stop_price=0)
        if t in (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT):
            o = o._replace(price=0)
        if t in _LIMIT_PRICED and rng.random() < 0.3:
            o = o._replace(iceberg_qty=rng.randint(1, 6), tif=TimeInForce.GTC)
        if t in _STOPS and rng.random() < 0.5:
            o = o._replace(trailing_delta=rng.randint(50, 600),
                           stop_price=o.stop_price if rng.random() < 0.5 else 0)
        accounts[oid] = o.account_id
        commands.append(o)
    return commands


# -- the differential test ----------------------------------------------------------------
def assert_same_behaviour(commands: list) -> None:
    ref, fast = ReferenceBook(FILTERS), FastBook(FILTERS)
    ref_all, fast_all = [], []
    for i, c in enumerate(commands):
        expected, got = ref.process(c), fast.process(c)
        assert got == expected, f"command {i}: {c}"
        fast.validate_internal_state()
        ref_all.extend(expected)
        fast_all.extend(got)
    assert digest(fast_all) == digest(ref_all)
    assert fast.state_hash() == ref.state_hash()
    assert fast.depth(100) == ref.depth(100)
    assert fast.snapshot() == ref.snapshot()


@DETERMINISTIC
@given(command_streams())
def test_fast_book_matches_the_reference(commands):
    assert_same_behaviour(commands)


def test_fast_book_matches_the_reference_on_long_streams():
    for seed in range(6):
        assert_same_behaviour(random_stream(random.Random(seed), 1500))


# -- invariants ------------------------------------------------------------------------------
@DETERMINISTIC
@given(command_streams())
def test_invariants_hold_after_every_command(commands):
    book = FastBook(FILTERS)
    traded: Counter = Counter()
    open_ids: set[int] = set()
    levels: dict[tuple[int, int], int] = {}  # market data rebuilt from LEVEL events
    for c in commands:
        before_bid, before_ask = book.best_bid(), book.best_ask()
        events = book.process(c)
        book.validate_internal_state()
        # never crossed at rest
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid[0] < ask[0]
        # quantity conserved: every status reports exactly what traded
        taker_prices = []
        for e in events:
            if e[1] == K.TRADE:
                traded[e[7]] += e[4]
                traded[e[8]] += e[4]
                assert e[5] == e[3] * e[4]          # quote = price * qty
                taker_prices.append((e[8], e[3]))
            elif e[1] == K.ORDER:
                assert e[5] == traded[e[2]], e
                if e[3] == OrderStatus.FILLED:
                    assert e[4] == 0
            elif e[1] == K.AMENDED:
                assert e[4] == traded[e[2]]
            if e[1] in (K.ORDER, K.AMENDED):
                open_ids.add(e[2])
            if e[1] == K.LEVEL:
                levels[e[2], e[3]] = e[4]
        # LEVEL events are a complete delta stream: replaying them gives the depth
        bids = sorted(((p, q) for (s, p), q in levels.items() if s == Side.BUY and q), reverse=True)
        asks = sorted((p, q) for (s, p), q in levels.items() if s == Side.SELL and q)
        assert (bids, asks) == book.depth(10**6)
        totals = sum(q for _, q in book.depth(10**6)[0] + book.depth(10**6)[1])
        resting = [book.open_order(i) for i in open_ids]
        state = book.export_state()
        rows = [r for key in ("bids", "asks") for _, queue in state[key] for r in queue]
        assert sum(o[2] for o in resting if o is not None and not o[4]) == sum(r[2] for r in rows)
        # depth shows what is visible: an iceberg's current slice (at most its slice size)
        assert totals == sum(r[4] if len(r) > 4 else r[2] for r in rows)
        assert all(0 < r[4] <= min(r[5], r[2]) for r in rows if len(r) > 4)
        if isinstance(c, NewOrder) and c.quote_qty:  # MARKET_LOT_SIZE bounds what a quote amount buys
            assert traded[c.order_id] <= FILTERS.market_max_qty
        if isinstance(c, NewOrder) and c.order_type in (OrderType.LIMIT, OrderType.MARKET):
            # IOC, FOK and MARKET never rest
            if c.order_type == OrderType.MARKET or c.tif != TimeInForce.GTC:
                assert book.open_order(c.order_id) is None
            # price priority: the first fill is at the best opposite price, no later
            # fill is at a better one, and none beyond the limit
            own = [p for oid, p in taker_prices if oid == c.order_id]
            best = before_ask if c.side == Side.BUY else before_bid
            if own and c.stp_mode == StpMode.NONE:
                assert own[0] == best[0]
            step = 1 if c.side == Side.BUY else -1
            assert all((b - a) * step >= 0 for a, b in pairwise(own))
            if c.order_type == OrderType.LIMIT:
                assert all((c.price - p) * step >= 0 for p in own)


@DETERMINISTIC
@given(command_streams(), st.integers(0, 60), st.booleans())
def test_snapshot_restore_and_replay_is_byte_identical(commands, cut, into_reference):
    cut = min(cut, len(commands))
    whole = FastBook(FILTERS)
    expected = [e for c in commands for e in whole.process(c)]
    head = FastBook(FILTERS)
    head_events = [e for c in commands[:cut] for e in head.process(c)]
    restored = (ReferenceBook if into_reference else FastBook).restore(head.snapshot(), FILTERS)
    assert restored.state_hash() == head.state_hash()
    tail_events = [e for c in commands[cut:] for e in restored.process(c)]
    assert digest(head_events + tail_events) == digest(expected)
    assert restored.state_hash() == whole.state_hash()


def test_resting_orders_stay_within_the_memory_budget():
    """<= 250 bytes per resting order (the benchmark measures at 1,000,000)."""
    from matcher.engine.memory import measure_bytes_per_order
    assert measure_bytes_per_order(20_000) < 250


@DETERMINISTIC
@given(command_streams())
def test_an_oco_never_executes_both_legs_and_every_list_ends_once(commands):
    """The contingency itself: of an OCO pair (an OCO, or an OTOCO's pending pair) at
    most one leg trades or triggers; an accepted list reports ALL_DONE exactly once,
    and after that none of its orders is still held back by the engine."""
    book = ReferenceBook(FILTERS)
    pairs: dict[int, tuple[int, int]] = {}
    worked: Counter = Counter()
    started: Counter = Counter()
    done: Counter = Counter()
    for c in commands:
        events = book.process(c)
        if isinstance(c, NewOrderList) and c.contingency != ContingencyType.OTO:
            pairs[c.list_id] = (c.orders[-2].order_id, c.orders[-1].order_id)
        for e in events:
            if e[1] == K.TRADE:
                worked[e[7]] += 1
                worked[e[8]] += 1
            elif e[1] == K.TRIGGERED:
                worked[e[2]] += 1
            elif e[1] == K.LIST and e[3] == 1:  # EXEC_STARTED
                started[e[2]] += 1
            elif e[1] == K.LIST and e[3] == 3:  # ALL_DONE
                done[e[2]] += 1
        for list_id, (a, b) in pairs.items():
            if started[list_id]:
                assert not (worked[a] and worked[b]), (list_id, a, b)
        assert all(n <= 1 for n in done.values()) and all(started[i] for i in done)
        assert set(book._lists) == {i for i in started if not done[i]}
