"""The user data stream over the WebSocket API, end to end on real servers: the matcher
settles, publishes the accounts' events to Redis after the commit, the gateway
delivers them as Binance documents (``{"subscriptionId", "event"}``).

* every order type and state's ``executionReport`` sequence ends where the REST view
  of the order is (status, cumulative qty and quote, commissions, trades);
* ``outboundAccountPosition`` balances equal ``GET /api/v3/account``; a deposit sends
  ``balanceUpdate``;
* a killed gateway replica loses nothing for a client that reconnects to another,
  subscribes again and re-syncs (account + open orders) as Binance documents.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from decimal import Decimal as D

from websockets.sync.client import connect

from tests.api.conftest import make_user

SYM = "ETHBTC"


class Client:
    """A ``/ws-api/v3`` connection whose frames a thread collects (replies and events)."""

    def __init__(self, url: str):
        self.ws = connect(f"{url}/ws-api/v3")
        self.msgs: list[dict] = []
        self.lock = threading.Lock()
        self.n = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for frame in self.ws:
                with self.lock:
                    self.msgs.append(json.loads(frame))
        except Exception:
            pass

    def request(self, method: str, params: dict | None = None, timeout: float = 10.0) -> dict:
        self.n += 1
        rid = f"r{self.n}"
        body = {"id": rid, "method": method}
        if params is not None:
            body["params"] = params
        self.ws.send(json.dumps(body))
        return self.wait(lambda m: m.get("id") == rid, timeout)

    def wait(self, pred, timeout: float = 10.0) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for m in self.msgs:
                    if pred(m):
                        return m
            time.sleep(0.02)
        raise AssertionError(f"no such message in {timeout} s; last: {self.msgs[-5:]}")

    def events(self, sub_id: int | None = None, kind: str | None = None) -> list[dict]:
        with self.lock:
            return [m["event"] for m in self.msgs if "event" in m and (sub_id is None or m["subscriptionId"] == sub_id)
                    and (kind is None or m["event"]["e"] == kind)]

    def close(self):
        self.ws.close()


def signed(user, params: dict | None = None) -> dict:
    p = {**(params or {}), "apiKey": user.api_key, "timestamp": int(time.time() * 1000)}
    text = "&".join(f"{k}={v}" for k, v in sorted(p.items()))
    p["signature"] = hmac.new(user.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return p


def place(user, side, type_, qty=None, price=None, tif=None, stop=None, stp="NONE", quote=None) -> int:
    from chalicelib import orders

    def dec(v):
        return None if v is None else D(v)

    req = orders.OrderRequest(SYM, side, type_, tif, dec(qty), dec(quote), dec(price), dec(stop),
                              f"ud{uuid.uuid4().hex[:12]}", stp)
    return int(orders.place_order(user.account_id, req)["orderId"])


def rest_order(api, user, oid: int) -> dict:
    return api.signed("GET", "/v3/order", user, {"symbol": SYM, "orderId": oid}).json


def settled(api, user, oid: int, status: str | tuple, timeout: float = 10.0) -> dict:
    """Poll the REST view until the order reaches ``status``."""
    want = (status,) if isinstance(status, str) else status
    deadline = time.time() + timeout
    while True:
        o = rest_order(api, user, oid)
        if o.get("status") in want:
            return o
        assert time.time() < deadline, o
        time.sleep(0.05)


def reports(c: Client, sub: int, oid: int) -> list[dict]:
    return [e for e in c.events(sub, "executionReport") if e["i"] == oid]


def until_report(c: Client, sub: int, oid: int, X: str, timeout: float = 10.0) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        rs = reports(c, sub, oid)
        if rs and rs[-1]["X"] == X:
            return rs
        assert time.time() < deadline, (oid, X, rs)
        time.sleep(0.02)


def check_against_rest(api, user, c: Client, sub: int, oid: int) -> list[str]:
    """The order's report sequence ends where REST has it; its execution types."""
    rs = reports(c, sub, oid)
    o = rest_order(api, user, oid)
    last = rs[-1]
    assert (last["X"], last["z"], last["Z"]) == (o["status"], o["executedQty"], o["cummulativeQuoteQty"]), (rs, o)
    assert (last["s"], last["S"], last["o"], last["f"], last["q"], last["p"], last["P"], last["Q"], last["V"]) == (
        o["symbol"], o["side"], o["type"], o["timeInForce"], o["origQty"], o["price"], o["stopPrice"],
        o["origQuoteOrderQty"], o["selfTradePreventionMode"])
    assert all(r["c"] == o["clientOrderId"] for r in rs if r["x"] != "CANCELED")
    assert all(r["O"] == o["time"] and r["g"] == -1 and r["e"] == "executionReport" for r in rs)
    trades = [t for t in api.signed("GET", "/v3/myTrades", user, {"symbol": SYM, "orderId": oid}).json]
    fills = [r for r in rs if r["x"] == "TRADE"]
    assert [r["t"] for r in fills] == [t["id"] for t in trades]
    assert [(r["L"], r["l"], D(r["n"]), r["N"], r["m"]) for r in fills] == [
        (t["price"], t["qty"], D(t["commission"]), t["commissionAsset"], t["isMaker"]) for t in trades]
    assert sum(D(r["l"]) for r in fills) == D(o["executedQty"])
    ids = [r["I"] for r in rs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # execution ids: unique, in order
    return [r["x"] for r in rs]


def check_balances(api, user, c: Client, sub: int) -> None:
    """The latest ``outboundAccountPosition`` of each asset equals ``/api/v3/account``."""
    latest: dict[str, tuple[str, str]] = {}
    for e in c.events(sub, "outboundAccountPosition"):
        for b in e["B"]:
            latest[b["a"]] = (b["f"], b["l"])
    rest = {b["asset"]: (b["free"], b["locked"]) for b in api.signed("GET", "/v3/account", user).json["balances"]}
    assert latest and all(rest[a] == v for a, v in latest.items()), (latest, rest)


def wait_balances(api, user, c: Client, sub: int, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            return check_balances(api, user, c, sub)
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def test_execution_reports_for_every_order_type_and_state(gateway, matcher, api, cleanup_orders):
    seller = make_user("ud-s", {"ETH": "10", "BTC": "1"})
    buyer = make_user("ud-b", {"BTC": "5"})
    cleanup_orders.extend([seller.account_id, buyer.account_id])
    c = Client(gateway.url)
    try:
        assert c.request("userDataStream.subscribe")["error"]["code"] == -1002  # no session yet
        assert c.request("session.logon", signed(buyer))["status"] == 200
        r = c.request("userDataStream.subscribe")
        assert r["status"] == 200 and r["result"] == {"subscriptionId": 0}, r
        again = c.request("userDataStream.subscribe")
        assert again["error"] == {"code": -2035, "msg": "User Data Stream subscription already active."}
        r = c.request("userDataStream.subscribe.signature", signed(seller))
        assert r["result"] == {"subscriptionId": 1}, r
        assert c.request("session.subscriptions")["result"] == [{"subscriptionId": 0}, {"subscriptionId": 1}]
        assert c.request("session.status")["result"]["userDataStream"] is True
        B, S = 0, 1

        # a resting maker, a taker filling part of it, a market order filling the rest
        s1 = place(seller, "SELL", "LIMIT", "0.1000", "0.07313", "GTC")
        until_report(c, S, s1, "NEW")
        b1 = place(buyer, "BUY", "LIMIT", "0.0400", "0.07313", "GTC")
        until_report(c, B, b1, "FILLED")
        b2 = place(buyer, "BUY", "MARKET", "0.0600")
        until_report(c, B, b2, "FILLED")
        until_report(c, S, s1, "FILLED")
        # IOC and FOK with nothing to take, a cancelled GTC
        b3 = place(buyer, "BUY", "LIMIT", "0.0100", "0.07000", "IOC")
        b4 = place(buyer, "BUY", "LIMIT", "0.0100", "0.07000", "FOK")
        b5 = place(buyer, "BUY", "LIMIT", "0.0100", "0.06000", "GTC")
        until_report(c, B, b5, "NEW")
        from chalicelib import orders

        orders.cancel_order(buyer.account_id, SYM, b5, None, wait_s=5)
        # self-trade prevention: the taker expires in match
        s2 = place(seller, "SELL", "LIMIT", "0.0200", "0.07400", "GTC")
        s3 = place(seller, "BUY", "LIMIT", "0.0100", "0.07400", "GTC", stp="EXPIRE_TAKER")
        until_report(c, S, s3, "EXPIRED_IN_MATCH")
        # a LIMIT_MAKER that would take: the engine rejects it
        b6 = place(buyer, "BUY", "LIMIT_MAKER", "0.0100", "0.07400")
        until_report(c, B, b6, "REJECTED")
        # a stop-limit buy waits, triggers on a trade at its stop, then fills against s2
        b7 = place(buyer, "BUY", "STOP_LOSS_LIMIT", "0.0100", "0.07400", "GTC", stop="0.07350")
        until_report(c, B, b7, "NEW")
        s4 = place(seller, "SELL", "LIMIT", "0.0100", "0.07360", "GTC")
        b8 = place(buyer, "BUY", "LIMIT", "0.0100", "0.07360", "GTC")
        until_report(c, B, b7, "FILLED")
        orders.cancel_order(seller.account_id, SYM, s2, None, wait_s=5)
        until_report(c, S, s2, "CANCELED")
        for oid in (b3, b4):
            until_report(c, B, oid, "EXPIRED")

        seq = {oid: check_against_rest(api, buyer, c, B, oid) for oid in (b1, b2, b3, b4, b5, b6, b7, b8)}
        seq.update({oid: check_against_rest(api, seller, c, S, oid) for oid in (s1, s2, s3, s4)})
        assert seq[s1] == ["NEW", "TRADE", "TRADE"] and seq[b1] == ["NEW", "TRADE"] == seq[b2]
        assert seq[b3] == ["NEW", "EXPIRED"] == seq[b4] and seq[b5] == ["NEW", "CANCELED"]
        assert seq[s3] == ["NEW", "TRADE_PREVENTION"] and seq[b6] == ["REJECTED"]
        assert seq[b7] == ["NEW", "NEW", "TRADE"] and seq[s2] == ["NEW", "TRADE", "CANCELED"]
        ev = {oid: reports(c, B, oid) for oid in (b3, b4, b5, b6, b7)}
        assert ev[b3][-1]["eR"] == "UNFILLED_IOC_QUANTITY_EXPIRED" and ev[b4][-1]["eR"] == "UNFILLED_FOK_ORDER_EXPIRED"
        assert ev[b5][-1]["C"] == ev[b5][0]["c"] and ev[b5][-1]["c"] != ev[b5][0]["c"]
        assert ev[b6][0]["r"] == "WOULD_MATCH_IMMEDIATELY" and ev[b6][0]["w"] is False
        assert [r["w"] for r in ev[b7]] == [False, True, False] and "W" in ev[b7][1] and "W" not in ev[b7][0]
        stp = reports(c, S, s3)[-1]
        assert (stp["v"] > 0, stp["U"], stp["Cs"], stp["pl"], stp["pL"]) == (True, s2, SYM, "0.01000000", "0.07400000")
        fill = reports(c, B, b1)[-1]
        assert (fill["N"], fill["m"], fill["Y"]) == ("ETH", False, "0.00292520")
        # balances: the last position of each asset is the account's
        wait_balances(api, buyer, c, B)
        wait_balances(api, seller, c, S)
        # unsubscribe one: eventStreamTerminated; then nothing more for it
        assert c.request("userDataStream.unsubscribe", {"subscriptionId": S})["result"] == {}
        c.wait(lambda m: m.get("subscriptionId") == S and m["event"]["e"] == "eventStreamTerminated")
        assert c.request("userDataStream.unsubscribe", {"subscriptionId": S})["error"]["code"] == -2036
        assert c.request("session.subscriptions")["result"] == [{"subscriptionId": 0}]
        # logout ends the logon subscription
        c.request("session.logout")
        c.wait(lambda m: m.get("subscriptionId") == B and m["event"]["e"] == "eventStreamTerminated")
        assert c.request("session.subscriptions")["result"] == []
        assert c.request("session.status")["result"]["userDataStream"] is False
    finally:
        c.close()


def test_balance_update_on_deposit_and_withdrawal(gateway, api):
    from chalicelib import admin

    user = make_user("ud-dep", {"BTC": "1"})
    c = Client(gateway.url)
    try:
        assert c.request("userDataStream.subscribe.signature", signed(user))["result"] == {"subscriptionId": 0}
        admin.deposit(user.account_id, "USDT", D("12.5"), transfer_id=f"ud-dep-{user.account_id}")
        admin.deposit(user.account_id, "USDT", D("12.5"), transfer_id=f"ud-dep-{user.account_id}")  # a repeat
        bu = c.wait(lambda m: m.get("event", {}).get("e") == "balanceUpdate")["event"]
        assert (bu["a"], bu["d"]) == ("USDT", "12.50000000") and bu["E"] >= bu["T"] > 0
        wait_balances(api, user, c, 0)
        r = api.signed("POST", "/v1/capital/withdraw/apply", user, {"coin": "BTC", "amount": "0.25",
                                                                     "address": "x1"})
        assert r.status_code == 200, r.json
        c.wait(lambda m: any(b["a"] == "BTC" and b["l"] == "0.25000000" for b in m.get("event", {}).get("B", [])))
        wait_balances(api, user, c, 0)
        assert len(c.events(0, "balanceUpdate")) == 1  # the repeated deposit moved nothing, said nothing
    finally:
        c.close()


def test_killed_replica_loses_nothing_after_resubscribe(gateway_factory, matcher, api, cleanup_orders):
    """Client on replica 1; replica 1 is killed (SIGKILL); orders go on; the client
    reconnects to replica 2, subscribes, re-syncs (account + open orders over the
    WebSocket API), and its state kept from then on by events equals REST at the end."""
    seller = make_user("ud-ks", {"ETH": "10"})
    buyer = make_user("ud-kb", {"BTC": "5"})
    cleanup_orders.extend([seller.account_id, buyer.account_id])
    gw1, gw2 = gateway_factory(), gateway_factory()
    c = Client(gw1.url)
    c.request("session.logon", signed(seller))
    assert c.request("userDataStream.subscribe")["result"] == {"subscriptionId": 0}
    first = place(seller, "SELL", "LIMIT", "0.0100", "0.09001", "GTC")
    until_report(c, 0, first, "NEW")
    gw1.proc.kill()
    gw1.proc.wait(10)
    # while the client is away
    away = [place(seller, "SELL", "LIMIT", "0.0100", f"0.0900{i + 2}", "GTC") for i in range(3)]
    place(buyer, "BUY", "LIMIT", "0.0100", "0.09001", "GTC")  # fills `first`
    settled(api, seller, first, "FILLED")
    c.close()
    c = Client(gw2.url)
    try:
        c.request("session.logon", signed(seller))
        assert c.request("userDataStream.subscribe")["result"] == {"subscriptionId": 0}
        # Binance's re-sync: subscribe first, then the snapshot
        now = int(time.time() * 1000)
        acct = c.request("account.status", {"timestamp": now})["result"]
        opened = {o["orderId"]: o for o in c.request("openOrders.status", {"symbol": SYM, "timestamp": now})["result"]}
        balances = {b["asset"]: (b["free"], b["locked"]) for b in acct["balances"]}
        assert set(opened) >= set(away) and first not in opened
        # after the re-sync: fills of the orders placed away, a new order, a cancel
        place(buyer, "BUY", "LIMIT", "0.0200", "0.09003", "GTC")  # fills away[0] and away[1]
        late = place(seller, "SELL", "LIMIT", "0.0100", "0.09100", "GTC")
        from chalicelib import orders

        orders.cancel_order(seller.account_id, SYM, away[2], None, wait_s=5)
        until_report(c, 0, away[2], "CANCELED")
        until_report(c, 0, late, "NEW")
        until_report(c, 0, away[1], "FILLED")
        wait_balances(api, seller, c, 0)
        # the client's book: the snapshot, then every event (applied as Binance documents)
        for e in c.events(0, "executionReport"):
            if e["X"] in ("NEW", "PARTIALLY_FILLED"):
                opened[e["i"]] = e
            else:
                opened.pop(e["i"], None)
        for e in c.events(0, "outboundAccountPosition"):
            balances.update({b["a"]: (b["f"], b["l"]) for b in e["B"]})
        rest_open = api.signed("GET", "/v3/openOrders", seller, {"symbol": SYM}).json
        assert set(opened) == {o["orderId"] for o in rest_open} == {late}
        rest_bal = {b["asset"]: (b["free"], b["locked"]) for b in api.signed("GET", "/v3/account", seller).json[
            "balances"]}
        assert balances == rest_bal
    finally:
        c.close()
