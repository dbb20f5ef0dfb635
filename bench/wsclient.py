"""The WebSocket API client ``bench/pipeline.py --path ws`` drives orders with.

One load thread holds one connection per account it trades for (``/ws-api/v3`` of a
real ``python -m gateway``), each logged on once with ``session.logon`` (HMAC-SHA256
over the sorted parameters, as Binance documents for ``session.logon``), then sends
``order.place`` requests with no signature of their own -- how a trading client uses
the WebSocket API.  It counts what the ALB in front of the gateway would process:
connections opened (each an HTTP upgrade: CloudFront request, WAF inspection, ALB rule
evaluation) and the bytes both ways, handshake and frame headers included.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from decimal import Decimal

from websockets.sync.client import ClientConnection, connect


def frame_bytes(payload: int, masked: bool) -> int:
    """Bytes of one WebSocket frame carrying ``payload`` bytes (RFC 6455 section 5.2:
    2-byte header, 2 or 8 more for lengths past 125 / 65535, 4 for a client's mask)."""
    extra = 0 if payload < 126 else (2 if payload < 65536 else 8)
    return 2 + extra + (4 if masked else 0) + payload


def _http_bytes(first_line: str, headers) -> int:
    return len(first_line) + 2 + sum(len(k) + 2 + len(v) + 2 for k, v in headers.raw_items()) + 2


class Usage:
    """What the clients of a run put through the load balancer (all threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = 0
        self.bytes_in = 0     # client -> gateway
        self.bytes_out = 0    # gateway -> client
        self.messages = 0     # requests + replies
        self.opened: list[float] = []   # monotonic open / close times (connection-seconds)
        self.closed: list[float] = []

    def add(self, b_in: int = 0, b_out: int = 0, messages: int = 0) -> None:
        with self.lock:
            self.bytes_in += b_in
            self.bytes_out += b_out
            self.messages += messages

    def connection_seconds(self, until: float) -> float:
        with self.lock:
            return sum(until - t for t in self.opened) - sum(until - t for t in self.closed)


class WsTrader:
    """One load thread's connections, one per account, opened (and logged on) lazily."""

    def __init__(self, url: str, keys: dict[int, tuple[str, str]], usage: Usage, resp_type: str = "FULL"):
        self.url = url
        self.keys = keys
        self.usage = usage
        self.resp_type = resp_type
        self.conns: dict[int, ClientConnection] = {}
        self.ids = itertools.count(1)

    def _request(self, ws: ClientConnection, method: str, params: dict) -> dict:
        text = json.dumps({"id": next(self.ids), "method": method, "params": params}, separators=(",", ":"))
        ws.send(text)
        reply = ws.recv(timeout=60)
        raw = reply if isinstance(reply, bytes) else reply.encode()
        self.usage.add(frame_bytes(len(text.encode()), True), frame_bytes(len(raw), False), 2)
        return json.loads(raw)

    def _conn(self, account: int) -> ClientConnection:
        ws = self.conns.get(account)
        if ws is not None:
            return ws
        ws = connect(self.url, open_timeout=30, max_size=2**22)
        hs_in = _http_bytes(f"GET {ws.request.path} HTTP/1.1", ws.request.headers) if ws.request else 0
        hs_out = _http_bytes("HTTP/1.1 101 Switching Protocols", ws.response.headers) if ws.response else 0
        with self.usage.lock:
            self.usage.connections += 1
            self.usage.opened.append(time.monotonic())
        self.usage.add(hs_in, hs_out)
        api_key, secret = self.keys[account]
        params: dict = {"apiKey": api_key, "timestamp": int(time.time() * 1000)}
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        params["signature"] = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        reply = self._request(ws, "session.logon", params)
        if reply.get("status") != 200:
            ws.close()
            raise RuntimeError(f"session.logon failed: {reply}")
        self.conns[account] = ws
        return ws

    def place(self, account: int, symbol: str, side: str, qty: Decimal, price: Decimal, cid: str) -> int:
        """``order.place`` a GTC LIMIT order on ``account``'s session; its orderId."""
        reply = self._request(self._conn(account), "order.place", {
            "symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": str(qty),
            "price": str(price), "newClientOrderId": cid, "newOrderRespType": self.resp_type,
            "timestamp": int(time.time() * 1000)})
        if reply.get("status") != 200:
            raise RuntimeError(f"order.place failed: {reply.get('error')}")
        return int(reply["result"]["orderId"])

    def close(self) -> None:
        for ws in self.conns.values():
            ws.close()
            with self.usage.lock:
                self.usage.closed.append(time.monotonic())
        self.conns.clear()
