"""The WebSocket API (``/ws-api/v3``), first increment: the public requests.

A request ``{"id", "method", "params"}`` runs the REST operation of the same meaning
(``chalicelib.api.ops``: the same parameter declarations, weights, handler and
errors), so ``depth`` over the socket and ``GET /api/v3/depth`` cannot disagree.
The answer is Binance's ``{"id", "status", "result" | "error", "rateLimits"}``.

Signed requests: ``apiKey`` + ``timestamp`` (+ ``recvWindow``) + ``signature``, the HMAC
of the other parameters sorted by name as ``k=v&...`` (Binance's WebSocket API rule),
verified by the REST API's own key check (``chalicelib.api.auth``: key cache, IP
allow-list, permissions, timestamp window, replay refusal).  ``session.logon`` does it
once for the connection; later signed requests then need only ``timestamp``.
``session.logon`` with a ``token`` instead (a Cognito token, the web app's sign-in) is
this exchange's extension, in :mod:`gateway.tokenlogon`.
Trading requests (``order.place`` ...) are REST operations too, listed with what the
socket adds to them in :mod:`gateway.wstrading`.
"""
from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING

from chalicelib.api import account, market, trading
from chalicelib.errors import ExchangeError, Failure, Reason

from . import wstrading

if TYPE_CHECKING:
    from .userdata import UserConn

#: WebSocket API method -> the REST operation's handler (its Op is found by the function,
#: as the HTTP routes find theirs): public ones, signed reads, and trading (gateway.wstrading).
METHODS = {
    "ping": market.ping, "time": market.server_time, "exchangeInfo": market.exchange_info, "depth": market.depth,
    "trades.recent": market.recent_trades, "trades.aggregate": market.agg_trades, "klines": market.klines,
    "uiKlines": market.ui_klines, "avgPrice": market.avg_price, "ticker.24hr": market.ticker_24hr,
    "ticker": market.ticker_window, "ticker.price": market.ticker_price, "ticker.book": market.book_ticker,
    # signed reads (session or per-request signature)
    "account.status": account.account, "account.commission": account.commission, "order.status": trading.get_order,
    "openOrders.status": trading.open_orders, "myTrades": trading.my_trades,
    "myPreventedMatches": trading.my_prevented_matches,
    **wstrading.METHODS,
}
SESSION_METHODS = ("session.logon", "session.status", "session.logout")
SESSION_WEIGHT = 2


class Session:
    """One ``/ws-api/v3`` connection's authentication state."""

    def __init__(self, ip: str, return_rate_limits: bool = True):
        self.ip = ip
        self.return_rate_limits = return_rate_limits  # ?returnRateLimits=false on the URL: hidden by default
        self.connected_since = _now_ms()
        self.principal = None
        self.api_key: str | None = None
        self.authorized_since: int | None = None
        self.principal_until: float | None = None  # a token logon: the token's expiry (epoch s)
        self.userdata: UserConn | None = None  # this connection's user data stream subscriptions

    def logon(self, principal, api_key: str | None, until: float | None = None) -> None:
        self.principal, self.api_key, self.principal_until = principal, api_key, until
        self.authorized_since = _now_ms()

    def logout(self) -> None:
        self.principal = self.api_key = self.authorized_since = self.principal_until = None

    def active_principal(self):
        """The logged-on principal; a token session whose token has expired is logged
        out and refused (-1002), as Binance revokes a session whose key went invalid."""
        import time

        if self.principal_until is not None and self.principal_until <= time.time():
            self.logout()
            raise ExchangeError(Failure(Reason.UNAUTHORIZED, "Invalid or expired token."))
        return self.principal

    def status(self) -> dict:
        import time

        if self.principal_until is not None and self.principal_until <= time.time():
            self.logout()  # a token session past its token's expiry is over
        return {"apiKey": self.api_key, "authorizedSince": self.authorized_since,
                "connectedSince": self.connected_since, "returnRateLimits": self.return_rate_limits,
                "serverTime": _now_ms(),
                "userDataStream": bool(self.userdata and self.userdata.ids())}


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)

#: Failures of the request envelope itself (the REST parameter errors come from the op).
INVALID_JSON = (-1135, 400, "Invalid JSON Request")
INVALID_REQUEST = (-1102, 400, "A mandatory parameter was not sent, was empty/null, or malformed.")
UNKNOWN_METHOD = (-1020, 400, "This operation is not supported.")


def _reply(req_id, status: int, *, result=None, error: dict | None = None, rate_limits: list | None = None) -> dict:
    out: dict = {"id": req_id, "status": status}
    if error is not None:
        out["error"] = error
    else:
        out["result"] = result
    if rate_limits is not None:
        out["rateLimits"] = rate_limits
    return out


def answer(req_id, session, params: dict, weight: int, work, what: str) -> dict:
    """The reply to a gateway-side request (the token logon, the user data stream
    requests): its weight charged to the connection's address first, ``work()``'s result,
    or its refusal as Binance shapes it (-1001 for an outage, -1000 for a bug, logged,
    no traceback to the client); ``returnRateLimits`` as asked (taken from ``params``)."""
    from chalicelib.api import ratelimit
    from chalicelib.api.http import _is_outage

    show_limits = params.pop("returnRateLimits", getattr(session, "return_rate_limits", True)) not in (False, "false")
    used = None
    try:
        try:
            used = ratelimit.charge_weight(session.ip, weight).get("X-MBX-USED-WEIGHT-1M")
        except ExchangeError as exc:
            used = (getattr(exc, "headers", None) or {}).get("X-MBX-USED-WEIGHT-1M")
            raise
        return _reply(req_id, 200, result=work(), rate_limits=_rate_limits(used) if show_limits else None)
    except ExchangeError as exc:
        f = exc.failure
        return _reply(req_id, f.http_status, error=f.body(), rate_limits=_rate_limits(used) if show_limits else None)
    except Exception as exc:  # outages and bugs: -1001 / -1000, no traceback to the client
        f = Failure(Reason.DISCONNECTED) if _is_outage(exc) else Failure(Reason.UNKNOWN)
        if f.reason is Reason.UNKNOWN:
            import logging

            logging.getLogger("gateway").exception(f"{what} failed")
        return _reply(req_id, f.http_status, error=f.body())


def _envelope_error(req_id, failure: tuple, msg: str | None = None) -> dict:
    code, status, default = failure
    return _reply(req_id, status, error={"code": code, "msg": msg or default})


def _as_text(name: str, value) -> str:
    """A JSON parameter as the text the REST parser reads (``symbols`` as a JSON array)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal, str)):
        return str(value)
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"))
    raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED, f"Parameter '{name[:64]}' was malformed."))


def _rate_limits(used: str | None) -> list[dict]:
    from chalicelib.api.ratelimit import LIMITS

    return [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": LIMITS.weight_per_minute, "count": int(used or 0)}]


def handle(text, session: Session) -> dict:
    """The response to one request frame (blocking: Redis and, on a cold cache, the
    database; the server runs it in a worker thread)."""
    try:
        req = json.loads(text, parse_float=Decimal)
    except (ValueError, TypeError):
        return _envelope_error(None, INVALID_JSON)
    if not isinstance(req, dict):
        return _envelope_error(None, INVALID_JSON)
    req_id = req.get("id")
    if isinstance(req_id, bool) or not (req_id is None or isinstance(req_id, (int, str))) or \
            (isinstance(req_id, str) and len(req_id) > 36):
        return _envelope_error(None, INVALID_REQUEST, "Parameter 'id' was malformed: an integer, a string of at "
                                                      "most 36 characters, or null.")
    method = req.get("method")
    if not isinstance(method, str):
        return _envelope_error(req_id, INVALID_REQUEST, "Mandatory parameter 'method' was not sent, was empty/null, "
                                                        "or malformed.")
    params = req.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return _envelope_error(req_id, INVALID_REQUEST, "Parameter 'params' must be a JSON object.")
    name = method[3:] if method.startswith("v3/") else method
    if name == "session.logon" and "token" in params:
        from . import tokenlogon

        return tokenlogon.handle(req_id, dict(params), session)
    if name in SESSION_METHODS:
        return run(name, req_id, dict(params), session)
    from . import userdata

    if name in userdata.METHODS:
        return userdata.handle(name, req_id, dict(params), session)
    handler = METHODS.get(name)
    if handler is None:
        return _envelope_error(req_id, UNKNOWN_METHOD, f"Unknown method '{method[:64]}'.")
    return run(handler, req_id, dict(params), session)


def _signed_principal(op, args, text: dict[str, str], ip: str):
    """Verify a request signed Binance's WebSocket way with the REST API's key check:
    the sorted ``k=v`` text is handed to it as the raw query it verifies."""
    from urllib.parse import parse_qsl

    from chalicelib.api import auth

    payload = "&".join(f"{k}={v}" for k, v in sorted(text.items()) if k != "signature")
    raw_query = f"{payload}&signature={text.get('signature', '')}"
    qp: dict[str, list[str]] = {}
    for k, v in parse_qsl(raw_query, keep_blank_values=True):
        qp.setdefault(k, []).append(v)
    request = SimpleNamespace(headers={"x-mbx-apikey": text.get("apiKey") or "", auth.RAW_QUERY_HEADER: raw_query})
    ctx = SimpleNamespace(request=request, op=op, args=args, ip=ip)
    return auth._api_key_principal(ctx, qp, "")


def _principal(op, args, text: dict[str, str], session: Session):
    """Who a signed request acts for: its own signature, else the logged-on session
    (which still needs a fresh ``timestamp``)."""
    from chalicelib.api import auth, ops as O

    if "signature" in text or "apiKey" in text or session.principal is None:
        return _signed_principal(op, args, text, session.ip)
    p = session.active_principal()
    auth.check_timestamp(args["timestamp"], args["recvWindow"])
    if op.security == O.TRADE and not p.can_trade:
        raise ExchangeError(Reason.REJECTED_MBX_KEY)
    return p


def run(target, req_id, params: dict, session: Session) -> dict:
    """One REST operation (``target``: its handler function) or a session request
    (``target``: its method name) for a WebSocket request: parse, charge weight,
    authenticate, run."""
    from chalicelib.api import ops as O, ratelimit
    from chalicelib.api.http import Ctx, _is_outage
    from chalicelib.api.params import Args, parse

    if target in SESSION_METHODS:
        op_id = target
        op = O.Op(op_id, "GET", "", session.status, op_id, security=O.USER_DATA if op_id == "session.logon" else O.NONE,
                  weight=SESSION_WEIGHT, params=O.SIGNED_PARAMS if op_id == "session.logon" else ())
    else:
        op = O.BY_HANDLER[target]
        op_id = op.id
    show_limits = params.get("returnRateLimits", session.return_rate_limits) not in (False, "false")
    used, orders_used = None, []
    try:
        text = {k: _as_text(k, v) for k, v in params.items()}  # all of them are signed
        parse_error = None
        try:
            args = parse(op.params, {k: [v] for k, v in text.items() if k not in ("apiKey", "returnRateLimits")})
        except ExchangeError as exc:
            parse_error, args = exc, Args()
        weight = op.weight if isinstance(op.weight, int) else (op.weight(args) if parse_error is None else 1)
        try:
            used = ratelimit.charge_weight(session.ip, weight).get("X-MBX-USED-WEIGHT-1M")
        except ExchangeError as exc:
            used = (getattr(exc, "headers", None) or {}).get("X-MBX-USED-WEIGHT-1M")
            raise
        if parse_error is not None:
            raise parse_error
        if op_id == "session.logon":
            principal = _signed_principal(op, args, text, session.ip)
            session.logon(principal, text["apiKey"])
            result = session.status()
        elif op_id == "session.logout":
            session.logout()
            from . import userdata

            userdata.on_logout(session)
            result = session.status()
        elif op_id == "session.status":
            result = session.status()
        else:
            ctx = Ctx(op, None, args, session.ip)
            if op.security in O.SIGNED:
                ctx.principal = _principal(op, args, text, session)
            elif op.security != O.NONE:
                raise ExchangeError(Reason.UNAUTHORIZED)
            if op.orders:
                try:
                    orders_used = wstrading.charge_order(ctx.account_id)
                except ExchangeError as exc:
                    orders_used = wstrading.order_rate_limits(getattr(exc, "headers", None))
                    raise
            result = wstrading.special_commission(op_id, op.handler(ctx))
            if ctx.status != 200:  # cancelReplace's partial or whole failure: {"code", "msg", "data"}
                return _reply(req_id, ctx.status, error=result,
                              rate_limits=orders_used + _rate_limits(used) if show_limits else None)
        return _reply(req_id, 200, result=result,
                      rate_limits=orders_used + _rate_limits(used) if show_limits else None)
    except ExchangeError as exc:
        f = exc.failure
        error = f.body()
        limit_data = wstrading.retry_data(f.http_status, getattr(exc, "headers", None))
        if limit_data is not None:
            error["data"] = limit_data
        return _reply(req_id, f.http_status, error=error,
                      rate_limits=orders_used + _rate_limits(used) if show_limits else None)
    except Exception as exc:  # outages and bugs: Binance's -1001 / -1000, no traceback to the client
        f = Failure(Reason.DISCONNECTED) if _is_outage(exc) else Failure(Reason.UNKNOWN)
        if f.reason is Reason.UNKNOWN:
            import logging

            logging.getLogger("gateway").exception("ws-api request failed", extra={"operation": op_id})
        return _reply(req_id, f.http_status, error=f.body())
