"""Rebuilding a book from what Aurora records, and the audit, without servers (the
pure parts), plus the fencing-token raise on the real LEASES table (moto).

The rebuild test runs random order flow (limits that rest and cross, cancels,
stop-limits that fire) through the engine, keeps per order exactly what settlement
writes to Aurora (status, executed lots, working, ``book_seq`` -- from
:func:`settlement.derive`, the code that computes them), then rebuilds a book from
that alone: it must equal the engine's own, level by level in FIFO order, pending
stops in acceptance order."""
from __future__ import annotations

import random

import pytest

from chalicelib import bookaudit
from chalicelib.symbols import load_catalog
from chalicelib.trading.codec import SymbolCodec
from chalicelib.trading.commands import Cancel, NewOrder, NewOrderList
from chalicelib.trading.types import STOP_TYPES, ContingencyType, OrderStatus, OrderType, Side
from matcher.engine import FastBook
from matcher.service.journal import Entry
from matcher.service.recovery import state_from_aurora
from matcher.service.settlement import Applied, derive

SPEC = load_catalog().symbol("BTCUSDT")
CODEC = SymbolCodec(SPEC)
OPEN = {int(OrderStatus.NEW), int(OrderStatus.PARTIALLY_FILLED)}


def _flow(seed: int, n: int = 1500):
    """Run random commands; return the book and Aurora's rows as settlement left them."""
    rng = random.Random(seed)
    book = FastBook()
    rows: dict[int, dict] = {}  # order id -> what Aurora holds
    live: list[tuple[int, int]] = []
    lists: dict[int, str] = {}  # list id -> its listOrderStatus, as settlement leaves it
    next_id = 1
    for seq in range(1, n + 1):
        u = rng.random()
        if u > 0.93:  # an OCO: a LIMIT_MAKER beyond the touch and a stop-loss-limit behind the last price
            side, acct, qty = rng.choice((Side.BUY, Side.SELL)), rng.randint(1, 6), rng.randint(1, 20)
            last = book.last_price or 1000
            sign = 1 if side == Side.SELL else -1
            limit = NewOrder(next_id + 1, acct, side, OrderType.LIMIT_MAKER, 0, last + sign * rng.randint(5, 15), qty)
            stop_price = last - sign * rng.randint(1, 8)
            stop = NewOrder(next_id, acct, side, OrderType.STOP_LOSS_LIMIT, 0, stop_price, qty, 0, stop_price, 0)
            list_id, next_id = next_id, next_id + 2
            cmd = NewOrderList(list_id, acct, ContingencyType.OCO, (stop, limit))
            kind = "NEW_LIST"
            payload = {"order_id": stop.order_id, "list_id": list_id, "account_id": acct, "contingency": "OCO",
                       "cmds": [[int(x) for x in o] for o in (stop, limit)]}
            for o in (stop, limit):
                rows[o.order_id] = {"account": acct, "cmd": tuple(int(x) for x in o), "status": None,
                                    "executed": 0, "working": False, "book_seq": None, "list": list_id,
                                    "contingency": "OCO"}
                live.append((o.order_id, acct))
            lists[list_id] = "EXECUTING"
        elif u > 0.87:  # an OTO or OTOCO: a working limit near the touch, pending orders held back
            side, acct, qty = rng.choice((Side.BUY, Side.SELL)), rng.randint(1, 6), rng.randint(1, 20)
            last = book.last_price or 1000
            working = NewOrder(next_id, acct, side, OrderType.LIMIT, 0, 1000 + rng.randint(-10, 10), qty)
            exit_side = Side.SELL if side == Side.BUY else Side.BUY
            sign = 1 if exit_side == Side.SELL else -1
            far = last + sign * rng.randint(25, 40)  # beyond any price the flow reaches: it rests
            stop_price = last - sign * rng.randint(25, 40)
            stop = NewOrder(next_id + 1, acct, exit_side, OrderType.STOP_LOSS_LIMIT, 0, stop_price, qty, 0,
                            stop_price, 0)
            limit = NewOrder(next_id + 2, acct, exit_side, OrderType.LIMIT_MAKER, 0, far, qty)
            otoco = rng.random() < 0.5
            orders = (working, stop, limit) if otoco else (working, limit._replace(order_id=next_id + 1))
            list_id, next_id = next_id, next_id + len(orders)
            contingency = ContingencyType.OTOCO if otoco else ContingencyType.OTO
            cmd = NewOrderList(list_id, acct, contingency, orders)
            kind = "NEW_LIST"
            payload = {"order_id": working.order_id, "list_id": list_id, "account_id": acct,
                       "contingency": contingency.name, "cmds": [[int(x) for x in o] for o in orders]}
            for o in orders:
                rows[o.order_id] = {"account": acct, "cmd": tuple(int(x) for x in o), "status": None,
                                    "executed": 0, "working": False, "book_seq": None, "list": list_id,
                                    "contingency": contingency.name}
                live.append((o.order_id, acct))
            lists[list_id] = "EXECUTING"
        elif u < 0.15 and live:
            oid, acct = live.pop(rng.randrange(len(live)))
            cmd, kind, payload = Cancel(oid, acct), "CANCEL", {"order_id": oid, "account_id": acct}
        else:
            oid, acct, side = next_id, rng.randint(1, 6), rng.choice((Side.BUY, Side.SELL))
            next_id += 1
            price = 1000 + rng.randint(-15, 15)
            qty = rng.randint(1, 20)
            if u < 0.25:  # a stop-limit beyond the last price, so that it waits and may fire later
                last = book.last_price or 1000
                up = rng.random() < 0.5
                typ = OrderType.STOP_LOSS_LIMIT if (up == (side == Side.BUY)) else OrderType.TAKE_PROFIT_LIMIT
                stop = last + rng.randint(1, 8) * (1 if up else -1)
                cmd = NewOrder(oid, acct, side, typ, 0, price, qty, 0, stop, 0)
            else:
                cmd = NewOrder(oid, acct, side, OrderType.LIMIT, 0, price, qty)
            kind, payload = "NEW", {"order_id": oid, "account_id": acct, "cmd": [int(x) for x in cmd]}
            rows[oid] = {"account": acct, "cmd": tuple(int(x) for x in cmd), "status": None, "executed": 0,
                         "working": False, "book_seq": None}
            live.append((oid, acct))
        entry = Entry(seq, f"i{seq}", kind, payload, "shard", seq, 0)
        events = book.process(cmd)
        d = derive(SPEC, CODEC, [Applied(entry, events)])
        lists.update({i: v[1] for i, v in d.lists.items()})
        for oid, c in d.orders.items():
            r = rows[oid]
            if c.status is not None:
                r["status"], r["executed"] = c.status, c.executed_lots
            r["working"] = r["working"] or c.working
            r["book_seq"] = c.book_seq or r["book_seq"]
    return book, rows, lists


def _aurora(book, rows, lists) -> bookaudit.AuroraBook:
    """Aurora's view, as read_aurora_book builds it from those rows."""
    state = book.export_state()
    last_price = None if state["last_price"] is None else SPEC.ticks_to_price(state["last_price"])
    a = bookaudit.AuroraBook("BTCUSDT", event_seq=state["seq"] - 1, trade_id=state["trade_id"] - 1,
                             last_price=last_price)
    for oid, r in sorted(rows.items()):
        if r["status"] is None and r.get("list") is not None and lists[r["list"]] == "EXECUTING":
            a.pending.setdefault(r["list"], []).append(r["cmd"])  # held back by its list
        if r["status"] not in OPEN:
            continue
        cmd = r["cmd"]
        is_stop = cmd[3] in STOP_TYPES and not r["working"]
        a.orders.append(bookaudit.OpenOrder(oid, r["account"], cmd[2], cmd[5], cmd[6] - r["executed"], cmd[6],
                                            is_stop, cmd, (1, r["book_seq"], oid), r["book_seq"], r.get("list")))
        if r.get("list") is not None and lists[r["list"]] == "EXECUTING":
            a.lists[r["list"]] = (r["account"], r["contingency"])
    a.orders.sort(key=lambda o: o.priority)
    return a


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_book_rebuilt_from_aurora_equals_the_engines(seed):
    book, rows, lists = _flow(seed)
    state = book.export_state()
    assert state["stops"] and any(r["working"] and r["cmd"][3] in STOP_TYPES for r in rows.values()), \
        "the flow should leave pending stops and fired ones"
    assert state.get("lists") and "ALL_DONE" in lists.values(), "the flow should leave live lists and ended ones"
    assert {row[2] for row in state["lists"]} == {0, 1, 2}, "live OCOs, OTOs and OTOCOs"
    aurora = _aurora(book, rows, lists)
    rebuilt = FastBook()
    rebuilt.import_state(state_from_aurora(aurora, SPEC))
    rebuilt.validate_internal_state()
    got = rebuilt.export_state()
    assert got["bids"] == state["bids"] and got["asks"] == state["asks"]
    assert [s[:9] for s in got["stops"]] == [s[:9] for s in state["stops"]]
    assert (got["seq"], got["trade_id"], got["last_price"]) == (state["seq"], state["trade_id"], state["last_price"])
    assert got["lists"] == state["lists"]  # the live OCOs bind their legs again
    assert bookaudit.compare("BTCUSDT", got, aurora).ok
    # and it goes on matching as the original does
    probe = [NewOrder(10_000 + i, 99, Side.BUY if i % 2 else Side.SELL, OrderType.LIMIT, 0, 1000 + (-1) ** i * 20, 50)
             for i in range(6)]
    assert [rebuilt.process(c) for c in probe] == [book.process(c) for c in probe]


def test_the_audit_names_each_difference():
    book, rows, lists = _flow(7, 400)
    state = book.export_state()
    aurora = _aurora(book, rows, lists)
    assert bookaudit.compare("BTCUSDT", state, aurora).ok
    victim = state["bids"][0][1][0]
    victim[2] += 3  # one order's quantity changed
    extra_id = max(rows) + 1
    state["asks"][0][1].append([extra_id, 1, 5, 5])  # an order Aurora does not have open
    gone = aurora.orders.pop(next(i for i in range(len(aurora.orders) - 1, -1, -1)
                                  if aurora.orders[i].order_id != victim[0]))  # an open order missing from the book
    state["trade_id"] = aurora.trade_id  # a trade id Aurora already holds
    res = bookaudit.compare("BTCUSDT", state, aurora)
    assert not res.ok
    text = res.message()
    assert f"order {victim[0]}: book has BUY {victim[2]} lots" in text
    assert f"order {extra_id} is in the book" in text
    assert f"order {gone.order_id} is in the book" in text or f"order {gone.order_id} is open in Aurora" in text
    assert "next trade id" in text


def test_fencing_token_is_raised_past_aurora_and_a_stale_holder_is_refused(exchange_env):
    import uuid

    from chalicelib.clients import get_clients
    from matcher.service.leases import LeaseLost, LeaseTable

    c = get_clients()
    key = f"symbol:T{uuid.uuid4().hex[:6]}"
    old = LeaseTable(c.dynamodb, c.settings.leases_table, "old", 1)
    old.create(key)
    assert old.try_take(old.get(key)).counter == 1
    new = LeaseTable(c.dynamodb, c.settings.leases_table, "new", 5000)
    import time

    time.sleep(0.01)  # the old holder's 1 ms lease has expired
    assert new.try_take(new.get(key)).counter == 2
    # Aurora remembers token 57 (the LEASES table was recreated meanwhile)
    assert new.raise_above(key, 57) == 58
    assert new.get(key).counter == 58 and new.token(key) == 58
    assert new.raise_above(key, 10) == 58  # never lowered
    new.renew(key)  # the holder's writes go on under the raised counter
    with pytest.raises(LeaseLost):
        old.checkpoint(key, "1")  # the paused former holder is fenced out
    with pytest.raises(LeaseLost):
        old.raise_above(key, 100)
    assert new.get(key).counter == 58


def test_icebergs_and_trailing_stops_are_rebuilt_from_aurora():
    """An iceberg rests again with a fresh slice at its acceptance priority; a trailing
    stop keeps its delta (one without a stop price trails again at once)."""
    book = FastBook()
    rows: dict[int, dict] = {}
    cmds = [NewOrder(1, 1, Side.SELL, OrderType.LIMIT, 0, 1010, 10, iceberg_qty=3),
            NewOrder(2, 2, Side.SELL, OrderType.LIMIT, 0, 1010, 2),
            NewOrder(3, 3, Side.BUY, OrderType.LIMIT, 0, 1010, 4),       # 3 of the slice, 1 of order 2
            NewOrder(4, 4, Side.SELL, OrderType.STOP_LOSS, 0, 0, 5, trailing_delta=200),
            NewOrder(5, 4, Side.BUY, OrderType.TAKE_PROFIT_LIMIT, 0, 990, 5, 0, 995, trailing_delta=300)]
    for seq, cmd in enumerate(cmds, 1):
        entry = Entry(seq, f"i{seq}", "NEW", {"order_id": cmd.order_id, "account_id": cmd.account_id,
                                              "cmd": [int(x) for x in cmd]}, "shard", seq, 0)
        rows[cmd.order_id] = {"account": cmd.account_id, "cmd": tuple(int(x) for x in cmd), "status": None,
                              "executed": 0, "working": False, "book_seq": None}
        for oid, c in derive(SPEC, CODEC, [Applied(entry, book.process(cmd))]).orders.items():
            r = rows[oid]
            if c.status is not None:
                r["status"], r["executed"] = c.status, c.executed_lots
            r["working"] = r["working"] or c.working
            r["book_seq"] = c.book_seq or r["book_seq"]
    state = book.export_state()
    rebuilt = FastBook()
    rebuilt.import_state(state_from_aurora(_aurora(book, rows, {}), SPEC))
    rebuilt.validate_internal_state()
    got = rebuilt.export_state()
    # the engine queued the refreshed slice behind order 2; Aurora keeps the iceberg's
    # acceptance priority, so the rebuild puts it first again (docs/api-differences.md)
    assert state["asks"] == [[1010, [[2, 2, 1, 2], [1, 1, 7, 10, 3, 3]]]]
    assert got["asks"] == [[1010, [[1, 1, 7, 10, 3, 3], [2, 2, 1, 2]]]]
    assert got["stops"] == state["stops"]
    assert bookaudit.compare("BTCUSDT", got, _aurora(book, rows, {})).ok
