"""User data events survive a matcher that dies between the settlement commit and the
Redis publish: the next owner's recovery re-publishes the settled entries above the
symbol's published marker (at least once; a repeat carries the same ``s`` + ``I``).
And nothing is published before the commit."""
from __future__ import annotations

import json
import threading
import uuid
from decimal import Decimal

from pipeline_support import cancel_all, make_accounts, wait_until

SYM = "ETHUSDT"


def _stream(account: int) -> list[dict]:
    from chalicelib import userevents
    from chalicelib.clients import get_clients

    return [json.loads(f["e"]) for _, f in get_clients().redis.xrange(userevents.stream_key(account))]


def _reports(account: int, order_id: int) -> list[dict]:
    return [e for e in _stream(account) if e["e"] == "executionReport" and e["i"] == order_id]


def _place(account: int, side: str, qty: str, price: str) -> int:
    from chalicelib import orders

    req = orders.OrderRequest(SYM, side, "LIMIT", "GTC", Decimal(qty), None, Decimal(price), None,
                              f"ur{uuid.uuid4().hex[:12]}")
    return int(orders.place_order(account, req)["orderId"])


def _run(worker_id: str):
    from dataclasses import replace

    from matcher.service.config import MatcherConfig
    from matcher.service.worker import Worker

    worker = Worker(replace(MatcherConfig.from_env(), worker_id=worker_id))
    box: dict = {}

    def target():
        try:
            worker.run()
        except BaseException as exc:  # the injected crash
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return worker, t, box


def test_crash_between_commit_and_publish_is_repaired(pipeline_env, monkeypatch):
    from chalicelib import orders, userevents

    maker, taker = make_accounts(2, {"USDT": "5000", "ETH": "5"}, tag=f"ur{uuid.uuid4().hex[:4]}")
    worker, thread, box = _run("ud-repair")
    try:
        first = _place(maker, "SELL", "0.0100", "3333.00")
        wait_until(lambda: _reports(maker, first), 15, "the first order's NEW on the maker's stream")

        # the next publish dies after its transaction committed, before the XADDs
        real_write = userevents.write
        seen_committed = []

        def crash(redis, events, prefix=None, marker=None, **kw):
            if any(acct == taker for acct, _ in events):
                row = orders.wait_for_result(taker_order, 0.1)
                seen_committed.append(row["status"] if row else None)  # Aurora has it already
                raise ConnectionError("injected: died between commit and publish")
            return real_write(redis, events, prefix, marker, **kw)

        monkeypatch.setattr(userevents, "write", crash)
        taker_order = _place(taker, "BUY", "0.0040", "3333.00")
        thread.join(15)
        assert not thread.is_alive() and isinstance(box.get("error"), ConnectionError), box
        assert seen_committed == ["FILLED"]
        assert _reports(taker, taker_order) == []  # nothing went out
        monkeypatch.setattr(userevents, "write", real_write)

        # the next owner (same worker id: takes the leases at once) repairs at recovery
        worker, thread, box = _run("ud-repair")
        got = wait_until(lambda: _reports(taker, taker_order), 15, "the taker's reports after recovery")
        assert [(r["x"], r["X"]) for r in got] == [("NEW", "NEW"), ("TRADE", "FILLED")]
        maker_reports = _reports(maker, first)
        assert [(r["x"], r["X"]) for r in maker_reports] == [("NEW", "NEW"), ("TRADE", "PARTIALLY_FILLED")]
        assert [r["z"] for r in maker_reports] == ["0.00000000", "0.00400000"]
        positions = [e for e in _stream(taker) if e["e"] == "outboundAccountPosition"]
        assert positions and {b["a"] for b in positions[-1]["B"]} == {"ETH", "USDT"}
        # and the marker moved on: a further recovery re-publishes nothing
        from chalicelib.clients import get_clients

        assert userevents.published_seq(get_clients().redis, SYM) is not None
        cancel_all([maker, taker], timeout=30)
    finally:
        if not thread.is_alive():  # left the books as found: cancel with a running matcher
            worker, thread, box = _run("ud-repair")
            cancel_all([maker, taker], timeout=30)
        worker.stop.set()
        thread.join(20)
