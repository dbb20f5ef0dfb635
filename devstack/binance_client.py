"""A tiny Binance-style REST client: public calls, and calls signed with an API key
and HMAC-SHA256 exactly as Binance specifies (the signature covers the query string
and body, sent in ``X-MBX-APIKEY`` + ``timestamp`` + ``signature``).

Plain ``urllib``, no third-party dependency, so the demo market maker (and anything
else in the local stack that wants to talk to the exchange as an ordinary bot would)
uses the public API and nothing else.  Amounts go in and come out as strings.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode


class BinanceError(Exception):
    """The API answered with a Binance-style error (``{"code", "msg"}``) or a non-2xx status."""

    def __init__(self, status: int, code: int | None, msg: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {msg}" + (f" (code {code})" if code is not None else ""))
        self.status, self.code, self.msg, self.retry_after = status, code, msg, retry_after


class BinanceClient:
    def __init__(self, base_url: str, api_key: str | None = None, secret: str | None = None,
                 timeout: float = 10.0, recv_window: int = 10000):
        self.base_url = base_url.rstrip("/")
        self.api_key, self.secret = api_key, secret
        self.timeout, self.recv_window = timeout, recv_window
        self._lock = threading.Lock()
        self._last_ts = 0

    # -- transport ------------------------------------------------------------------
    def _timestamp(self) -> int:
        """Milliseconds, strictly increasing: equal signed requests in the same ms would
        otherwise be refused as replays."""
        with self._lock:
            self._last_ts = max(int(time.time() * 1000), self._last_ts + 1)
            return self._last_ts

    def request(self, method: str, path: str, params: dict | None = None, signed: bool = False,
                key_only: bool = False):
        items = [(k, str(v)) for k, v in (params or {}).items() if v is not None]
        headers = {"Accept": "application/json", "User-Agent": "exchange-devstack-bot/1"}
        if signed or key_only:
            if not self.api_key:
                raise ValueError("this call needs an API key")
            headers["X-MBX-APIKEY"] = self.api_key
        if signed:
            if not self.secret:
                raise ValueError("a signed call needs the API secret")
            items += [("recvWindow", str(self.recv_window)), ("timestamp", str(self._timestamp()))]
            query = urlencode(items)
            query += "&signature=" + hmac.new(self.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        else:
            query = urlencode(items)
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        req = urllib.request.Request(url, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            retry = exc.headers.get("Retry-After")
            raise BinanceError(exc.code, doc.get("code") if isinstance(doc, dict) else None,
                               (doc.get("msg") if isinstance(doc, dict) else None)
                               or body[:200].decode("utf-8", "replace"),
                               float(retry) if retry and retry.replace(".", "", 1).isdigit() else None) from None
        return json.loads(body) if body else None

    # -- public ---------------------------------------------------------------------
    def ping(self):
        return self.request("GET", "/v3/ping")

    def exchange_info(self):
        return self.request("GET", "/v3/exchangeInfo")

    def ticker_price(self, symbol: str) -> dict:
        return self.request("GET", "/v3/ticker/price", {"symbol": symbol})

    def depth(self, symbol: str, limit: int = 100) -> dict:
        return self.request("GET", "/v3/depth", {"symbol": symbol, "limit": limit})

    # -- signed ---------------------------------------------------------------------
    def account(self) -> dict:
        return self.request("GET", "/v3/account", signed=True)

    def new_order(self, **params) -> dict:
        return self.request("POST", "/v3/order", params, signed=True)

    def cancel_order(self, symbol: str, order_id: int) -> dict:
        return self.request("DELETE", "/v3/order", {"symbol": symbol, "orderId": order_id}, signed=True)

    def open_orders(self, symbol: str) -> list:
        return self.request("GET", "/v3/openOrders", {"symbol": symbol}, signed=True)

    def cancel_open_orders(self, symbol: str) -> list:
        return self.request("DELETE", "/v3/openOrders", {"symbol": symbol}, signed=True)
