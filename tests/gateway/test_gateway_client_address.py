"""Whose request weight a WebSocket API connection spends: the socket peer, or
CloudFront's viewer address only on connections that carry our origin-verify secret
(the same rule as the REST API, :mod:`chalicelib.api.origin`).  A header a client
writes never moves its weight onto another address's counter or off its own."""
from __future__ import annotations

import json
import time

import pytest
from websockets.sync.client import connect

from tests.api.conftest import ORIGIN_SECRET


def _weight(ws, req_id: str) -> int:
    """REQUEST_WEIGHT used per minute after one ``exchangeInfo`` (weight 20)."""
    ws.send(json.dumps({"id": req_id, "method": "exchangeInfo", "params": {"symbol": "BTCUSDT"}}))
    reply = json.loads(ws.recv(timeout=10))
    assert reply["status"] == 200, reply
    return next(r["count"] for r in reply["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT")


@pytest.fixture(scope="module")
def proxied_gateway(gateway_factory):
    """A gateway whose front door is a trusted proxy (ORIGIN_VERIFY_SECRET set), as
    CloudFront is for the gateway in AWS."""
    import os

    saved = os.environ.get("ORIGIN_VERIFY_SECRET")
    os.environ["ORIGIN_VERIFY_SECRET"] = ORIGIN_SECRET
    try:
        return gateway_factory()
    finally:
        if saved is None:
            os.environ.pop("ORIGIN_VERIFY_SECRET")
        else:
            os.environ["ORIGIN_VERIFY_SECRET"] = saved


def _in_one_minute(check) -> None:
    """Run ``check`` inside one weight window (the counters are per clock minute): a
    run that straddles a minute boundary is repeated."""
    for _ in range(3):
        start = int(time.time() // 60)
        if time.time() % 60 > 50:  # too close to the boundary to fit
            time.sleep(60 - time.time() % 60 + 0.2)
            continue
        try:
            check()
        except AssertionError:
            if int(time.time() // 60) == start:
                raise
            continue  # the window turned while checking: counts mixed two windows
        if int(time.time() // 60) == start:
            return
    raise AssertionError("could not run inside one minute")


def test_viewer_address_counts_only_with_the_origin_secret(proxied_gateway):
    url = f"{proxied_gateway.url}/ws-api/v3"
    viewer_a = {"CloudFront-Viewer-Address": "198.51.100.7:443", "X-Origin-Verify": ORIGIN_SECRET}
    viewer_b = {"CloudFront-Viewer-Address": "198.51.100.8:443", "X-Origin-Verify": ORIGIN_SECRET}

    def check() -> None:
        with connect(url, additional_headers=viewer_a) as a:
            assert _weight(a, "a1") == 20  # nobody else has spent this viewer's weight
            assert _weight(a, "a2") == 40
        with connect(url, additional_headers=viewer_b) as b:
            assert _weight(b, "b1") == 20  # another viewer: a counter of its own
        # without the secret the header is the client's word: the weight stays on the peer
        with connect(url) as peer:
            base = _weight(peer, "p1")
        with connect(url, additional_headers={"CloudFront-Viewer-Address": "198.51.100.9:443",
                                              "X-Forwarded-For": "198.51.100.9"}) as spoof:
            assert _weight(spoof, "s1") == base + 20
        with connect(url, additional_headers={"CloudFront-Viewer-Address": "198.51.100.9:443",
                                              "X-Origin-Verify": "not-the-secret"}) as wrong:
            assert _weight(wrong, "w1") == base + 40

    _in_one_minute(check)
