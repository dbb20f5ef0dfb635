"""Binance's "how to manage a local order book correctly", run against the real
pipeline (API -> intents -> matcher -> Redis -> gateway) under a randomized order
flow: clients that connect mid-flow buffer ``@depth`` diffs, take REST
``GET /api/v3/depth``'s lastUpdateId, and follow the documented rules; every event
must chain (``U`` = previous ``u`` + 1, the first one straddling the snapshot), and
the book they end with equals REST depth exactly."""
from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
import uuid
from decimal import Decimal as D

from websockets.sync.client import connect

from tests.api.conftest import make_user

SYM = "BTCUSDT"


def _rest_depth(web_url: str, limit: int = 1000) -> dict:
    with urllib.request.urlopen(f"{web_url}/api/v3/depth?symbol={SYM}&limit={limit}", timeout=10) as resp:
        return json.loads(resp.read())


class Follower(threading.Thread):
    """Receives a diff stream into a list (the buffer of the procedure's step 2)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.events, self.stop, self.error = url, [], threading.Event(), None
        self.opened = threading.Event()

    def run(self):
        try:
            with connect(self.url, max_queue=None) as ws:
                self.opened.set()
                while not self.stop.is_set():
                    try:
                        m = json.loads(ws.recv(timeout=0.2))
                    except TimeoutError:
                        continue
                    self.events.append(m.get("data", m))
        except Exception as exc:  # surfaced by the test
            self.error = exc


class LocalBook:
    """The documented procedure, step by step; any gap or overlap is an assertion."""

    def __init__(self, follower: Follower, web_url: str):
        self.f, self.web_url = follower, web_url
        deadline = time.time() + 20
        while not self.f.events:
            assert time.time() < deadline and self.f.error is None, self.f.error
            time.sleep(0.02)
        first_u = self.f.events[0]["U"]
        while True:
            snap = _rest_depth(web_url)
            if snap["lastUpdateId"] >= first_u:
                break
            time.sleep(0.05)
        self.bids = {p: q for p, q in snap["bids"]}
        self.asks = {p: q for p, q in snap["asks"]}
        self.u = snap["lastUpdateId"]
        self.snapshot_id = self.u
        self.next = 0
        self.applied = 0
        self.prev_u = None

    def catch_up(self) -> None:
        events = self.f.events
        while self.next < len(events):
            ev = events[self.next]
            self.next += 1
            if self.prev_u is not None:
                assert ev["U"] == self.prev_u + 1, ("not chained", self.prev_u, ev)
            self.prev_u = ev["u"]
            if ev["u"] <= self.u:
                assert self.applied == 0, ("stale event after the first applied one", ev)
                continue  # step 5: older than the snapshot
            if self.applied == 0:
                assert ev["U"] <= self.u + 1 <= ev["u"], ("first event must straddle the snapshot", self.u, ev)
            else:
                assert ev["U"] == self.u + 1, ("gap", self.u, ev)
            for side, levels in ((self.bids, ev["b"]), (self.asks, ev["a"])):
                for p, q in levels:
                    if D(q):
                        side[p] = q
                    else:
                        side.pop(p, None)
            self.u = ev["u"]
            self.applied += 1

    def as_depth(self) -> dict:
        return {"lastUpdateId": self.u,
                "bids": [[p, self.bids[p]] for p in sorted(self.bids, key=D, reverse=True)],
                "asks": [[p, self.asks[p]] for p in sorted(self.asks, key=D)]}


def _flow(accounts: list[int], n: int, seed: int, progress: list[int], errors: list) -> None:
    try:
        _orders(accounts, n, seed, progress)
    except Exception as exc:  # surfaced by the test
        errors.append(exc)


def _orders(accounts: list[int], n: int, seed: int, progress: list[int]) -> None:
    from chalicelib import orders
    from chalicelib.errors import ExchangeError

    rng = random.Random(seed)
    placed: list[tuple[int, int]] = []
    for i in range(n):
        acct = rng.choice(accounts)
        roll = rng.random()
        side = rng.choice(["BUY", "SELL"])
        cid = f"lob{seed}x{i}{uuid.uuid4().hex[:6]}"
        qty = D("0.00001") * rng.randint(100, 3000)
        if roll < 0.15 and placed:
            acct_o, oid = placed.pop(rng.randrange(len(placed)))
            try:
                orders.cancel_order(acct_o, SYM, oid, None, wait_s=0)
            except ExchangeError:
                pass  # already filled: an expected outcome
        elif roll < 0.25:
            try:
                orders.place_order(acct, orders.OrderRequest(SYM, side, "MARKET", None, qty, None, None, None, cid))
            except ExchangeError:
                pass  # no depth on that side yet: an expected outcome
        else:
            ticks = rng.randint(-40, 40)
            price = D(30000) + D("0.5") * ticks + (D("-20") if side == "BUY" else D("20")) * (rng.random() < 0.6)
            o = orders.place_order(acct, orders.OrderRequest(SYM, side, "LIMIT", "GTC", qty, None,
                                                              price.quantize(D("0.01")), None, cid))
            placed.append((acct, o["orderId"]))
        progress[0] = i + 1
        time.sleep(rng.random() * 0.02)


def test_local_order_book_procedure_matches_rest_depth(gateway, matcher, web_url, cleanup_orders):
    users = [make_user(f"lob{i}", {"USDT": "50000000", "BTC": "2000"}) for i in range(3)]
    accounts = [u.account_id for u in users]
    cleanup_orders.extend(accounts)
    progress, errors = [0], []
    n = 240
    early = Follower(f"{gateway.url}/stream?streams=btcusdt@depth")  # 1000 ms, connected before the flow
    early.start()
    assert early.opened.wait(10)
    flows = [threading.Thread(target=_flow, args=(accounts, n // 2, seed, progress, errors), daemon=True)
             for seed in (11, 12)]
    for t in flows:
        t.start()
    deadline = time.time() + 60
    while progress[0] < n // 5:
        assert time.time() < deadline and not errors, errors or "order flow stalled"
        time.sleep(0.05)
    late = Follower(f"{gateway.url}/ws/btcusdt@depth@100ms")  # connects mid-flow
    late.start()
    books = [LocalBook(early, web_url), LocalBook(late, web_url)]
    while any(t.is_alive() for t in flows):
        for b in books:
            b.catch_up()
        time.sleep(0.05)
    for t in flows:
        t.join()
    assert not errors, errors
    # quiesce: REST depth stops moving, both local books reach it
    last, stable_since = None, time.time()
    while time.time() - stable_since < 2.0:
        rest = _rest_depth(web_url)
        if rest["lastUpdateId"] != last:
            last, stable_since = rest["lastUpdateId"], time.time()
        time.sleep(0.2)
    deadline = time.time() + 10
    while any(b.u != rest["lastUpdateId"] for b in books) and time.time() < deadline:
        for b in books:
            b.catch_up()
        time.sleep(0.05)
    for f in (early, late):
        f.stop.set()
        assert f.error is None, f.error
    assert rest["bids"] and rest["asks"], "the flow left a two-sided book"
    for b in books:
        assert b.applied >= 3, "the procedure applied diffs"
        assert b.as_depth() == rest
    assert books[1].snapshot_id > 0 and late.events[0]["U"] > 1  # the late client really joined mid-flow
    # the gateway's own copy of the book (partial depth) agrees as well
    with connect(f"{gateway.url}/ws/btcusdt@depth20") as ws:
        top = json.loads(ws.recv(timeout=5))
    assert top == _rest_depth(web_url, 20)
