"""Powertools Logger, Metrics and Tracer for a long-lived process (not a Lambda).

The logger writes JSON lines with ``symbol``, ``order_id`` and ``seq`` keys where
they apply; metrics are EMF documents flushed every few seconds (CloudWatch picks
them up from the container's log stream); tracer segments are opened per batch by
hand, since there is no Lambda facade segment to hang subsegments on.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "matcher"
logger = Logger(service=SERVICE, level=os.environ.get("MATCHER_LOG_LEVEL", "INFO"))
metrics = Metrics(namespace="Exchange", service=SERVICE)
tracer = Tracer(service=SERVICE, disabled=os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() == "true")

Unit = MetricUnit


@contextlib.contextmanager
def segment(name: str, **annotations):
    """A top-level X-Ray segment (per stream batch); a no-op when tracing is off."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() == "true":
        yield None
        return
    rec: Any = tracer.provider  # the X-Ray recorder (begin_segment is not on the base provider)
    seg = rec.begin_segment(name)
    try:
        for k, v in annotations.items():
            seg.put_annotation(k, v)
        yield seg
    finally:
        rec.end_segment()


@contextlib.contextmanager
def subsegment(name: str):
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() == "true":
        yield None
        return
    with tracer.provider.in_subsegment(name) as sub:
        yield sub


def flush_metrics() -> None:
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        metrics.clear_metrics()
        return
    try:
        metrics.flush_metrics(raise_on_empty_metrics=False)
    except Exception:  # never let metrics take the matcher down
        logger.exception("metrics flush failed")


def count_requests(client, counter: dict, shape: dict | None = None) -> None:
    """Count every AWS API call ``client`` makes into ``counter`` as
    ``"<service>.<Operation>"`` (for the benchmark's requests-per-order figures).

    With ``shape``, also sum per operation what the benchmark needs to replay the same
    requests at the emulator: ``shape[key] = {"req_bytes", "resp_bytes", "items"}``
    (request and response body bytes; items written, for BatchWriteItem)."""
    service = client.meta.service_model.service_name

    def before_call(model=None, **_):
        key = f"{service}.{model.name}"
        counter[key] = counter.get(key, 0) + 1

    client.meta.events.register(f"before-call.{service}", before_call)
    if shape is None:
        return

    def _slot(event_name: str) -> dict:
        key = f"{service}.{event_name.rsplit('.', 1)[-1]}"
        slot = shape.get(key)
        if slot is None:
            slot = shape[key] = {"req_bytes": 0, "resp_bytes": 0, "items": 0}
        return slot

    def on_params(params=None, event_name="", **_):
        if event_name.endswith(".BatchWriteItem") and params:
            _slot(event_name)["items"] += sum(len(v) for v in params.get("RequestItems", {}).values())

    def on_send(request=None, event_name="", **_):
        body = getattr(request, "body", None) or b""
        _slot(event_name)["req_bytes"] += len(body)

    def on_response(http_response=None, event_name="", **_):
        if http_response is not None:
            _slot(event_name)["resp_bytes"] += len(http_response.content or b"")

    client.meta.events.register(f"before-parameter-build.{service}", on_params)
    client.meta.events.register(f"before-send.{service}", on_send)
    client.meta.events.register(f"after-call.{service}", on_response)
