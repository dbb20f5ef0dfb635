"""Dispatch: from a Chalice request to a Binance-style response, in one place.

For every route: collect query + body parameters, validate them against the
operation's declaration, charge the request weight to the caller's IP (429/418),
authenticate (API key + HMAC, or a Cognito JWT), count orders, run the operation and
answer JSON with the ``X-MBX-*`` usage headers.  Expected failures are
:class:`~chalicelib.errors.ExchangeError` and become ``{"code", "msg"}`` with their
HTTP status; an outage becomes -1001/503, and a bug -1000/500 with the traceback in
the log only.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from chalice import Response

from chalicelib.api import observability as obs, ops as O
from chalicelib.api.origin import client_ip
from chalicelib.api.params import Args, collect, parse
from chalicelib.errors import ExchangeError, Failure, Reason

if TYPE_CHECKING:
    from chalice.app import Request

    from chalicelib.api.auth import Principal

MAX_BODY = 16 * 1024
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Ctx:
    """What an operation gets: its typed arguments, the caller, and response headers."""

    op: O.Op
    request: Request | None  # None over the WebSocket API (gateway/wsapi.py)
    args: Args
    ip: str
    principal: Principal | None = None  # set for authenticated operations
    headers: dict = field(default_factory=dict)
    status: int = 200

    @property
    def account_id(self) -> int:
        if self.principal is None:  # only an operation with a security level reads its caller
            raise RuntimeError(f"{self.op.id}: the account of a request that was not authenticated")
        return self.principal.account_id

    def path_param(self, name: str) -> str:
        if self.request is None:  # no operation with path parameters is served over the WebSocket API
            raise RuntimeError(f"{self.op.id}: a path parameter of a request without a path")
        return (self.request.uri_params or {}).get(name, "")


def query_params(request) -> dict[str, list[str]]:
    qp = request.query_params
    if not qp:
        return {}
    return {k: list(qp.getlist(k)) for k in qp}


def body_params(op: O.Op, request) -> tuple[dict[str, list[str]], str]:
    """(parameters, raw body text) of a request body: form-encoded (Binance) or a JSON
    object of scalars (the /v1 web endpoints)."""
    raw = request.raw_body or b""
    if not raw:
        return {}, ""
    if len(raw) > MAX_BODY:
        raise ExchangeError(Failure(Reason.TOO_MANY_PARAMETERS, "Request body too large."))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ExchangeError(Failure(Reason.ILLEGAL_CHARS, "Illegal characters found in the request body.")) from None
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype == "application/json" or (op.body == "json" and ctype != "application/x-www-form-urlencoded"):
        try:
            doc = json.loads(text, parse_float=Decimal)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                        "The request body is not a JSON object."))
        fields = {}
        for k, v in doc.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, (int, Decimal)):
                v = str(v)
            elif v is None:
                v = ""
            elif not isinstance(v, str):
                raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                            f"Parameter '{str(k)[:64]}' was malformed."))
            fields[k] = [v]
        return fields, text
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise ExchangeError(Failure(Reason.ILLEGAL_CHARS, "Illegal characters found in the request body.")) from None
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out, text


def error_response(failure: Failure, headers: dict | None = None) -> Response:
    return Response(body=failure.body(), status_code=failure.http_status, headers={**JSON_HEADERS, **(headers or {})})


def dispatch(request, handler: Callable) -> Response:
    """Run ``handler`` (an operation's function in ``chalicelib.api``) for ``request``
    as its Op in the operation table declares, and always return a Response."""
    op = O.BY_HANDLER[handler]
    t0 = time.perf_counter()
    headers: dict = {}
    ctx = None
    try:
        ip = client_ip(request)
        obs.annotate(operation=op.id)
        qp = query_params(request)
        bp, body_text = body_params(op, request) if op.method != "GET" else ({}, "")
        raw = collect(qp, bp)
        parse_error = None
        try:
            args = parse(op.params, raw)
        except ExchangeError as exc:
            parse_error, args = exc, Args()
        from chalicelib.api import ratelimit

        weight = op.weight if isinstance(op.weight, int) else (op.weight(args) if parse_error is None else 1)
        headers.update(ratelimit.charge_weight(ip, weight))
        if parse_error is not None:
            raise parse_error
        ctx = Ctx(op, request, args, ip, headers=headers)
        if op.security != O.NONE:
            from chalicelib.api import auth

            ctx.principal = auth.authenticate(ctx, qp, bp, body_text)
            obs.annotate(account_id=ctx.account_id)
        if args["symbol"]:
            obs.annotate(symbol=args["symbol"])
        if op.orders:
            headers.update(ratelimit.charge_order(ctx.account_id))
        body = op.handler(ctx)
        obs.metric_latency(op.id, (time.perf_counter() - t0) * 1000)
        return Response(body=body, status_code=ctx.status, headers={**JSON_HEADERS, **headers})
    except ExchangeError as exc:
        f = exc.failure
        if op.orders and f.reason not in (Reason.TOO_MANY_ORDERS,):
            obs.count("OrdersRejected")
        extra = dict(headers)
        extra.update(getattr(exc, "headers", None) or {})
        obs.logger.info("request refused", extra={"operation": op.id, "error_code": f.code, "error_msg": f.msg})
        return error_response(f, extra)
    except Exception as exc:  # outages and bugs: log it, answer without a traceback
        if _is_outage(exc):
            obs.logger.warning("dependency unavailable", extra={"operation": op.id, "error": repr(exc)[:500]})
            return error_response(Failure(Reason.DISCONNECTED), headers)
        obs.logger.exception("unexpected error", extra={"operation": op.id})
        return error_response(Failure(Reason.UNKNOWN), headers)


_OUTAGES: tuple[type[BaseException], ...] | None = None


def outage_types() -> tuple[type[BaseException], ...]:
    """The exception classes that mean a dependency could not be reached or did not
    answer in time (answered -1001/503, a retry may succeed): sockets, botocore's
    connection and read-timeout errors (AWS APIs, the Data API), Redis's, and the
    database drivers' OperationalError."""
    global _OUTAGES
    if _OUTAGES is None:
        import aurora_data_api.exceptions
        import botocore.exceptions
        import redis.exceptions

        types: list[type[BaseException]] = [
            ConnectionError, TimeoutError,
            botocore.exceptions.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ...
            botocore.exceptions.ReadTimeoutError,
            redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
            aurora_data_api.exceptions.OperationalError,
        ]
        try:
            import psycopg
        except ImportError:  # the Lambdas ship without psycopg
            pass
        else:
            types.append(psycopg.OperationalError)
        _OUTAGES = tuple(types)
    return _OUTAGES


def _is_outage(exc: Exception) -> bool:
    return isinstance(exc, outage_types())
