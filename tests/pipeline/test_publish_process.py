"""The tail's publish in a child process (matcher/service/publishproc.py): the same
user data and market data as from the thread; a publish process killed mid-run stops
the matcher (non-zero exit) and the next owner's recovery re-publishes what did not
go out; a matcher killed by SIGKILL leaves no publish process behind."""
from __future__ import annotations

import json
import os
import signal
import time
import uuid
from decimal import Decimal

import pytest
from pipeline_support import make_accounts, wait_until

SYM = "ETHUSDT"


def _children(pid: int) -> list[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            out.append(int(d))
    return out


def _gone(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _place(account: int, side: str, qty: str, price: str) -> int:
    from chalicelib import orders

    req = orders.OrderRequest(SYM, side, "LIMIT", "GTC", Decimal(qty), None, Decimal(price), None,
                              f"pp{uuid.uuid4().hex[:12]}")
    return int(orders.place_order(account, req)["orderId"])


def _reports(account: int, order_id: int) -> list[tuple]:
    from chalicelib import userevents
    from chalicelib.clients import get_clients

    events = [json.loads(f["e"]) for _, f in get_clients().redis.xrange(userevents.stream_key(account))]
    return [(e["x"], e["X"], e["l"], e["z"], e["L"], e["m"]) for e in events
            if e["e"] == "executionReport" and e["i"] == order_id]


def _positions(account: int) -> list[dict]:
    from chalicelib import userevents
    from chalicelib.clients import get_clients

    events = [json.loads(f["e"]) for _, f in get_clients().redis.xrange(userevents.stream_key(account))]
    return [e for e in events if e["e"] == "outboundAccountPosition"]


def _trade_ids() -> set[int]:
    from chalicelib import marketdata
    from chalicelib.clients import get_clients

    return {t["id"] for t in marketdata.read_trades(get_clients().redis, SYM, 100)}


def _cross(maker: int, taker: int, price: str) -> tuple[int, int]:
    """A maker SELL and a taker BUY of the same quantity: one trade, nothing left resting."""
    from chalicelib import orders

    sell = _place(maker, "SELL", "0.0100", price)
    buy = _place(taker, "BUY", "0.0100", price)
    done = orders.wait_for_result(buy, 30)
    assert done is not None and done["status"] == "FILLED", done
    return sell, buy


def _trade_of(order_id: int) -> int:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        ((tid,),) = conn.execute("SELECT trade_id FROM trades WHERE symbol = %s AND %s IN (buyer_order_id, "
                               "seller_order_id)", (SYM, order_id)).fetchall()
    return int(tid)


MAKER = [("NEW", "NEW", "0.00000000", "0.00000000", "0.00000000", False),
         ("TRADE", "FILLED", "0.01000000", "0.01000000", "{p}", True)]
TAKER = [("NEW", "NEW", "0.00000000", "0.00000000", "0.00000000", False),
         ("TRADE", "FILLED", "0.01000000", "0.01000000", "{p}", False)]


def _expected(rows, price: str) -> list[tuple]:
    return [tuple(price if v == "{p}" else v for v in r) for r in rows]


@pytest.mark.parametrize("mode", ["on", "off"])
def test_the_same_events_from_the_publish_process_and_the_thread(mode, pipeline_env, matcher_factory):
    maker, taker = make_accounts(2, {"USDT": "1000", "ETH": "1"}, tag=f"pp{uuid.uuid4().hex[:4]}")
    m = matcher_factory(f"pp-{mode}", {"MATCHER_PUBLISH_PROCESS": mode}).start()
    # the mode: a publish process is the matcher's one child
    wait_until(lambda: len(_children(m.proc.pid)) == (1 if mode == "on" else 0) or None, 10, "the publish mode")
    sell, buy = _cross(maker, taker, "3001.00")
    got = wait_until(lambda: len(r := _reports(taker, buy)) >= 2 and r, 15, "the taker's reports")
    assert got == _expected(TAKER, "3001.00000000")
    assert _reports(maker, sell) == _expected(MAKER, "3001.00000000")
    assert {b["a"] for b in _positions(taker)[-1]["B"]} == {"ETH", "USDT"}
    assert _trade_of(buy) in _trade_ids()
    assert len(_children(m.proc.pid)) == (1 if mode == "on" else 0)
    assert m.terminate() == 0  # a clean stop: the child goes with it
    assert not _children(m.proc.pid)


def test_a_killed_publish_process_stops_the_matcher_and_recovery_republishes(pipeline_env, matcher_factory):
    maker, taker = make_accounts(2, {"USDT": "1000", "ETH": "1"}, tag=f"pk{uuid.uuid4().hex[:4]}")
    m = matcher_factory("pp-kill", {"MATCHER_PUBLISH_PROCESS": "on"}).start()
    (child,) = wait_until(lambda: _children(m.proc.pid) or None, 10, "the publish process")
    _, first = _cross(maker, taker, "3002.00")  # it works
    wait_until(lambda: len(_reports(taker, first)) >= 2 or None, 15, "the first pair published")
    # the matcher frozen, the child killed, a crossing pair in the stream: the batch that
    # settles it commits, and its publish finds the child gone
    m.pause()
    os.kill(child, signal.SIGKILL)
    sell = _place(maker, "SELL", "0.0100", "3003.00")
    buy = _place(taker, "BUY", "0.0100", "3003.00")
    time.sleep(1.0)  # the records readable in the stream
    m.resume()
    wait_until(lambda: not m.alive() or None, 15, "the matcher to stop")
    assert m.proc.returncode != 0
    from chalicelib import orders

    done = orders.wait_for_result(buy, 0.1)
    assert done is not None and done["status"] == "FILLED", done  # settled ...
    assert _reports(taker, buy) == [] and _trade_of(buy) not in _trade_ids()  # ... and not published

    # the next owner (the same worker id: it takes the leases at once) re-publishes at recovery
    m2 = matcher_factory("pp-kill", {"MATCHER_PUBLISH_PROCESS": "on"}).start()
    got = wait_until(lambda: len(r := _reports(taker, buy)) >= 2 and r, 30, "the taker's reports after recovery")
    assert got == _expected(TAKER, "3003.00000000")
    assert _reports(maker, sell) == _expected(MAKER, "3003.00000000")
    assert _trade_of(buy) in _trade_ids()  # the trade in the market data too

    # the matcher killed outright: its publish process sees the pipe closed and exits by itself
    (child,) = wait_until(lambda: _children(m2.proc.pid) or None, 10, "the new publish process")
    m2.kill()
    wait_until(lambda: _gone(child) or None, 5, "the orphaned publish process to exit")


def test_a_stuck_publish_does_not_hide_a_lease_taken_over(pipeline_env, matcher_factory):
    """The publish process stopped (SIGSTOP: a tail stuck on a server), a batch waiting
    for it, its symbol's lease taken by another task: the matcher steps down within
    moments (a clean exit, its publish process killed), not once the tail returns;
    the next owner's recovery publishes what the stuck tail did not."""
    from chalicelib import orders
    from chalicelib.clients import get_clients
    from matcher.service.leases import Lease, LeaseTable

    maker, taker = make_accounts(2, {"USDT": "1000", "ETH": "1"}, tag=f"ps{uuid.uuid4().hex[:4]}")
    m = matcher_factory("pp-stuck", {"MATCHER_PUBLISH_PROCESS": "on"}).start()
    (child,) = wait_until(lambda: _children(m.proc.pid) or None, 10, "the publish process")
    _, first = _cross(maker, taker, "3004.00")  # it works
    wait_until(lambda: len(_reports(taker, first)) >= 2 or None, 15, "the first pair published")
    os.kill(child, signal.SIGSTOP)
    try:
        sell = _place(maker, "SELL", "0.0100", "3005.00")
        done = orders.wait_for_result(sell, 30)
        assert done is not None and done["status"] == "NEW", done  # settled: its tail waits for the child
        time.sleep(1.0)  # the worker's thread in its wait for that tail
        assert m.alive()
        key = f"symbol:{SYM}"
        clients = get_clients()
        thief = LeaseTable(clients.dynamodb, clients.settings.leases_table, "thief", 3000)
        held = thief.get(key)
        assert held is not None and held.owner == "pp-stuck"
        assert thief.try_take(Lease(key, None, held.counter, 0)) is not None  # another task takes it
        t0 = time.monotonic()
        wait_until(lambda: not m.alive() or None, 10, "the matcher to step down")
        assert time.monotonic() - t0 < 5  # the renewal period (0.5 s) and a poll, not the stuck tail
        assert m.proc.returncode == 0  # a step-down
        assert _gone(child)  # killed with its request unfinished: nothing published beside the next owner
        assert _reports(maker, sell) == []
    finally:
        if not _gone(child):
            os.kill(child, signal.SIGKILL)

    # the next owner (once the thief's lease lapses) publishes what the stuck tail did not
    matcher_factory("pp-stuck", {"MATCHER_PUBLISH_PROCESS": "on"}).start()
    got = wait_until(lambda: _reports(maker, sell) or None, 30, "the maker's report after recovery")
    assert got == _expected(MAKER[:1], "3005.00000000")
    buy = _place(taker, "BUY", "0.0100", "3005.00")  # and it goes on: the resting order filled
    got = wait_until(lambda: len(r := _reports(taker, buy)) >= 2 and r, 30, "the taker's reports")
    assert got == _expected(TAKER, "3005.00000000")
    assert _reports(maker, sell) == _expected(MAKER, "3005.00000000")
