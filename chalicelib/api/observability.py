"""Powertools for every route: one Logger, Tracer and Metrics per process.

:func:`middleware` is registered on the Chalice app for all HTTP routes: it sets the
correlation id (the caller's ``X-Correlation-Id`` or API Gateway's request id) on the
logger, wraps the request in an X-Ray subsegment named after the route, and flushes
the request's metrics as EMF.  Business code calls :func:`annotate` (user, symbol,
order id become X-Ray annotations and log keys) and :func:`count`.
"""
from __future__ import annotations

import os
import re
import uuid
from numbers import Number
from typing import TYPE_CHECKING, Literal, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "exchange-api")
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Exchange"), service=SERVICE)
_tracer: Tracer | Literal[False] | None = None  # None: not built yet; False: tracing is off

_CORR = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ANNOTATION_KEYS = {"account_id": "user", "symbol": "symbol", "order_id": "order_id", "operation": "operation"}


def _tracing_enabled() -> bool:
    """Powertools' own rule: on in Lambda unless POWERTOOLS_TRACE_DISABLED."""
    from aws_lambda_powertools.tracing.tracer import Tracer

    return not Tracer._is_tracer_disabled()


def get_tracer() -> Tracer | None:
    """The Tracer, built on first use: aws_xray_sdk costs ~200 ms to import, which the
    cold start only pays where tracing is on (None elsewhere)."""
    global _tracer
    if _tracer is None:
        if not _tracing_enabled():
            _tracer = False
        else:
            from aws_lambda_powertools import Tracer

            _tracer = Tracer(service=SERVICE)
    return _tracer or None


def tracing() -> bool:
    return get_tracer() is not None


def annotate(**values) -> None:
    """Record ``user``/``symbol``/``order_id``/``operation`` on the trace and the log."""
    keys = {k: v for k, v in values.items() if v is not None}
    if not keys:
        return
    logger.append_keys(**keys)
    tracer = get_tracer()
    if tracer is not None:
        for k, v in keys.items():
            value: str | Number | bool = str(v)
            if isinstance(v, (int, float, bool)):
                # cast: int, float (and bool) ARE numbers.Number at run time (registered ABCs),
                # which mypy's view of the numeric tower does not know
                value = cast(Number, v)
            tracer.put_annotation(_ANNOTATION_KEYS.get(k, k), value)


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def metric_latency(operation: str, ms: float) -> None:
    if operation in ("newOrder", "cancelOrder", "cancelReplace"):
        metrics.add_metric(name=f"{operation}Latency", unit=MetricUnit.Milliseconds, value=round(ms, 3))


def middleware(event, get_response):
    """Chalice HTTP middleware: correlation id, X-Ray subsegment, metrics flush."""
    request = event
    corr = request.headers.get("x-correlation-id") or ""
    if not _CORR.match(corr):
        corr = (request.context or {}).get("requestId") or uuid.uuid4().hex
    logger.remove_keys(["account_id", "symbol", "order_id", "operation"])
    logger.set_correlation_id(corr)
    route = f"{request.method} {(request.context or {}).get('resourcePath', '')}"
    try:
        tracer = get_tracer()
        if tracer is not None:
            with tracer.provider.in_subsegment(f"## {route}"):
                tracer.put_annotation("route", route)
                tracer.put_annotation("correlation_id", corr)
                response = get_response(event)
                tracer.put_metadata("status", response.status_code)
        else:
            response = get_response(event)
    finally:
        if metrics.metric_set:
            metrics.flush_metrics(raise_on_empty_metrics=False)
    response.headers["X-Correlation-Id"] = corr
    return response
