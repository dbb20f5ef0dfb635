"""The market view runs on the market streams: while its socket is healthy the page
makes no market-data requests at all (book, tape, ticker and candles move from
`/stream`); with the stream gateway stopped it says "Reconnecting" and polls the REST
API; when the gateway is back it goes live again and the polling stops."""
from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.web.conftest import DESKTOP, gateway_down, screenshot

MARKET_DATA = ("/api/v3/depth", "/api/v3/aggTrades", "/api/v3/trades", "/api/v3/uiKlines", "/api/v3/klines",
               "/api/v3/ticker", "/api/v3/avgPrice")
WINDOW_S = 3.0


# what the view reads once per (re)connect (polling reads 3 candles), the pair list's tickers among them
SNAPSHOTS = ("/api/v3/depth?symbol=ETHUSDT&limit=100", "/api/v3/aggTrades", "/api/v3/uiKlines?symbol=ETHUSDT",
             "/api/v3/ticker/24hr")


def _market_requests(log: list, since: float) -> list[str]:
    return [url for t, url in list(log) if t >= since and any(p in url for p in MARKET_DATA)]


def _snapshots_read(responses: list, since: float) -> bool:
    """Each REST snapshot the view reads on (re)connect has been answered since ``since``."""
    return all(any(t >= since and p in url for t, url in list(responses)) for p in SNAPSHOTS)


def _wait(page, pred, timeout_s: float, what: str) -> None:
    """Poll ``pred`` while Playwright runs (its sync API delivers page events, such as
    the request log's, only inside its own calls)."""
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        page.wait_for_timeout(200)


def _quiet_window(page, log: list) -> list[str]:
    """The market-data requests of WINDOW_S seconds during which the tape moves."""
    since = time.monotonic()
    before = page.locator("[data-testid=trades] tr[data-price]").first.evaluate("el => el.outerHTML")
    page.wait_for_function("(b) => document.querySelector('[data-testid=trades] tr[data-price]').outerHTML !== b",
                           arg=before, timeout=15_000)
    while time.monotonic() < since + WINDOW_S:
        page.wait_for_timeout(250)
    return _market_requests(log, since)


def test_market_view_streams_and_polls_only_while_the_socket_is_down(pages, web_stack):
    pages.allow_console(r"WebSocket connection to .* failed")  # the test stops the stream gateway

    page = pages.new(DESKTOP)
    log: list[tuple[float, str]] = []
    responses: list[tuple[float, str]] = []
    page.on("request", lambda r: log.append((time.monotonic(), r.url)))
    page.on("response", lambda r: responses.append((time.monotonic(), r.url)))
    opened = time.monotonic()
    pages.goto(page, "/trade/ETHUSDT")           # the demo market maker trades ETHUSDT
    status = page.locator("[data-testid=stream-status]")
    expect(status).to_have_attribute("data-state", "live")
    expect(status).to_have_text("Live")
    # a fresh stack: the market maker's first quotes and trades may take a while
    expect(page.locator(".bids .level").nth(2)).to_be_attached(timeout=60_000)
    expect(page.locator("[data-testid=trades] tr[data-price]").first).to_be_attached(timeout=60_000)
    expect(page.locator("[data-testid=chart]")).not_to_have_attribute("data-candles", "0")
    _wait(page, lambda: _snapshots_read(responses, opened), 15, "the snapshots read on connect")
    # from here on only pushed events: the tape moves, and no market-data request is made
    assert _quiet_window(page, log) == []

    # the gateway stops (its supervisor paused so that it stays down): reconnecting + polling
    with gateway_down(web_stack, status) as stopped:  # supervisor paused; back on leaving
        _wait(page, lambda: {p for p in ("/api/v3/depth", "/api/v3/aggTrades")
                            if sum(p in u for u in _market_requests(log, stopped)) >= 2} == {
                                "/api/v3/depth", "/api/v3/aggTrades"}, 15, "the fallback polls depth and trades")
        screenshot(page, "13-stream-reconnecting", full_page=False)
    expect(status).to_have_attribute("data-state", "live", timeout=30_000)
    _wait(page, lambda: any(t >= stopped and SNAPSHOTS[0] in u for t, u in list(responses))
               and any(t >= stopped and "limit=500" in u for t, u in list(responses)), 15,
               "the snapshots read on reconnect")
    assert _quiet_window(page, log) == []
