"""Outages recognised by exception type (not by class or module names as text): what
answers -1001/503 and what stays a bug (-1000/500)."""
from __future__ import annotations

import aurora_data_api.exceptions
import botocore.exceptions
import pytest
import redis.exceptions

from chalicelib.api.http import _is_outage


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "refused"),
    TimeoutError("timed out"),
    botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    botocore.exceptions.ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
    botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    redis.exceptions.ConnectionError("Connection refused"),
    redis.exceptions.TimeoutError("Timeout reading from socket"),
    aurora_data_api.exceptions.OperationalError("database unavailable"),
], ids=lambda e: type(e).__qualname__)
def test_outages(exc):
    assert _is_outage(exc)


@pytest.mark.parametrize("exc", [
    ValueError("ConnectionError"), KeyError("redis"), RuntimeError("TimeoutError"),
    redis.exceptions.ResponseError("WRONGTYPE"),
    aurora_data_api.exceptions.DatabaseError("syntax error"),
], ids=lambda e: type(e).__qualname__)
def test_bugs_are_not_outages(exc):
    assert not _is_outage(exc)


def test_a_dead_database_endpoint_answers_1001(api, alice, monkeypatch):
    """The Data API unreachable (a closed port): a signed read answers -1001/503."""
    from chalicelib.clients import get_clients
    from tests.conftest import free_port

    c = get_clients()
    dead = c._aws("rds-data", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(c, "rds_data", dead)
    r = api.signed("GET", "/v3/openOrders", alice, {"symbol": "BTCUSDT"})
    assert (r.status_code, r.json["code"]) == (503, -1001), r.json
