"""The WebSocket API (``/ws-api/v3``), first increment: the public requests.

A request ``{"id", "method", "params"}`` runs the REST operation of the same meaning
(``chalicelib.api.ops``: the same parameter declarations, weights, handler and
errors), so ``depth`` over the socket and ``GET /api/v3/depth`` cannot disagree.
The answer is Binance's ``{"id", "status", "result" | "error", "rateLimits"}``.

Signed requests, ``session.logon`` and the user data stream come next (see
docs/api-differences.md).
"""
from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace

from chalicelib.errors import ExchangeError, Failure, Reason

#: WebSocket API method -> REST operation id (public ones only, for now).
METHODS = {
    "ping": "ping", "time": "time", "exchangeInfo": "exchangeInfo", "depth": "depth",
    "trades.recent": "trades", "trades.aggregate": "aggTrades", "klines": "klines", "uiKlines": "uiKlines",
    "avgPrice": "avgPrice", "ticker.24hr": "ticker24hr", "ticker": "ticker", "ticker.price": "tickerPrice",
    "ticker.book": "bookTicker",
}

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


def handle(text, ip: str) -> dict:
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
    op_id = METHODS.get(name)
    if op_id is None:
        return _envelope_error(req_id, UNKNOWN_METHOD, f"Unknown method '{method[:64]}'.")
    return run(op_id, req_id, dict(params), ip)


def run(op_id: str, req_id, params: dict, ip: str) -> dict:
    """One REST operation for a WebSocket request: parse, charge weight, run."""
    from chalicelib.api import ops as O
    from chalicelib.api import ratelimit
    from chalicelib.api.http import _handler, _is_outage
    from chalicelib.api.params import Args, parse

    op = O.BY_ID[op_id]
    show_limits = params.pop("returnRateLimits", True) is not False
    used = None
    try:
        raw = {k: [_as_text(k, v)] for k, v in params.items()}
        parse_error = None
        try:
            args = parse(op.params, raw)
        except ExchangeError as exc:
            parse_error, args = exc, Args()
        weight = op.weight if isinstance(op.weight, int) else (op.weight(args) if parse_error is None else 1)
        try:
            used = ratelimit.charge_weight(ip, weight).get("X-MBX-USED-WEIGHT-1M")
        except ExchangeError as exc:
            used = (getattr(exc, "headers", None) or {}).get("X-MBX-USED-WEIGHT-1M")
            raise
        if parse_error is not None:
            raise parse_error
        ctx = SimpleNamespace(op=op, request=None, args=args, ip=ip, principal=None, headers={}, status=200)
        result = _handler(op)(ctx)
        return _reply(req_id, 200, result=result, rate_limits=_rate_limits(used) if show_limits else None)
    except ExchangeError as exc:
        f = exc.failure
        return _reply(req_id, f.http_status, error=f.body(), rate_limits=_rate_limits(used) if show_limits else None)
    except Exception as exc:  # outages and bugs: Binance's -1001 / -1000, no traceback to the client
        f = Failure(Reason.DISCONNECTED) if _is_outage(exc) else Failure(Reason.UNKNOWN)
        if f.reason is Reason.UNKNOWN:
            import logging

            logging.getLogger("gateway").exception("ws-api request failed", extra={"operation": op_id})
        return _reply(req_id, f.http_status, error=f.body())
