"""The signed-in user's orders and balances run on the user data stream: the page logs
on to ``/ws-api/v3`` with its Cognito token, subscribes, reads its REST snapshot once,
and from then on placing, cancelling and being filled show without one request to the
account/orders endpoints.  With the gateway stopped it says "Reconnecting" and polls;
when the gateway is back it re-syncs once and stops polling.  A refreshed token is
sent to the gateway (``session.logon`` again) without dropping the stream."""
from __future__ import annotations

import json
import re
import time
import urllib.request
from urllib.parse import urlencode

from playwright.sync_api import expect

from tests.web.conftest import DEMO_PASSWORD, DESKTOP, gateway_down, screenshot
from tests.web.test_streams import _wait
from tests.web.test_trading import balance_row, place

ACCOUNT_DATA = ("/api/v3/account", "/api/v3/openOrders", "/api/v3/allOrders", "/api/v3/myTrades")
# the open orders of every pair (the trading view's "Hide other pairs" filters them)
SNAPSHOT = ("/api/v3/account", "/api/v3/openOrders", "/api/v3/allOrders?symbol=BTCUSDT",
            "/api/v3/myTrades?symbol=BTCUSDT")
PRICE = "63500"      # BTCUSDT: nobody else quotes it (the market maker trades ETH symbols only)


def _account_requests(log: list, since: float) -> list[str]:
    return [url for t, url in list(log) if t >= since and any(p in url for p in ACCOUNT_DATA)]


def _snapshot_read(responses: list, since: float) -> bool:
    return all(any(t >= since and p in url for t, url in list(responses)) for p in SNAPSHOT)


class RestUser:
    """The counterparty, through the same REST API and Cognito sign-in as the web app."""

    def __init__(self, base: str, email: str):
        self.base = base
        req = urllib.request.Request(f"{base}/api/v1/auth/signIn", method="POST",
                                     data=json.dumps({"email": email, "password": DEMO_PASSWORD}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=20) as resp:
            self.token = json.loads(resp.read())["accessToken"]

    def buy(self, qty: str, price: str) -> dict:
        body = urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                          "quantity": qty, "price": price, "newOrderRespType": "RESULT"}).encode()
        req = urllib.request.Request(f"{self.base}/api/v3/order", method="POST", data=body,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=20) as resp:
            return json.loads(resp.read())


def test_orders_and_balances_on_push_polling_only_while_the_socket_is_down(pages, web_stack, funded_user):
    pages.allow_console(r"WebSocket connection to .* failed")  # the test stops the stream gateway

    seller_email = funded_user({"BTC": "1"})
    buyer = RestUser(web_stack["url"], funded_user({"USDT": "10000"}))
    page = pages.new(DESKTOP)
    log: list[tuple[float, str]] = []
    responses: list[tuple[float, str]] = []
    frames: list[tuple[str, str]] = []
    page.on("request", lambda r: log.append((time.monotonic(), r.url)))
    page.on("response", lambda r: responses.append((time.monotonic(), r.url)))
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: frames.append(("sent", f)))
            if "/ws-api/v3" in ws.url else None)
    opened = time.monotonic()
    pages.sign_in(page, seller_email)
    status = page.locator("[data-testid=user-stream-status]")
    expect(status).to_have_attribute("data-state", "live")
    expect(status).to_have_text("Live")
    _wait(page, lambda: _snapshot_read(responses, opened), 15, "the snapshot read on connect")
    logons = [f for _, f in frames if "session.logon" in f]
    assert logons and all('"token"' in f for f in logons)
    expect(balance_row(page, "BTC")).to_contain_text("1.00000000")
    quiet_since = time.monotonic()

    # place (pushed: NEW and the lock), place another and cancel it (pushed: CANCELED)
    page.get_by_role("tab", name="Open orders").click()
    place(page, "Sell", PRICE, "0.02")
    rows = page.locator("[data-testid=panel-open] tr[data-order-id]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("63,500.00")
    place(page, "Sell", "64000", "0.01")
    expect(rows).to_have_count(2)
    page.get_by_role("button", name=re.compile(r"^Cancel sell order \d+, 0.01000 BTC at 64,000.00")).click()
    expect(rows).to_have_count(1)
    expect(page.locator("[data-testid=available]")).to_have_text("0.98000 BTC")   # the form's balances too
    expect(balance_row(page, "BTC").locator("td").nth(2)).to_have_text("0.02000000")

    # filled in part by the counterparty: the fill, the order, the balances, the trade
    buyer.buy("0.01", PRICE)
    expect(balance_row(page, "USDT")).to_contain_text("634.36500000")   # 635 less the 0.1 % fee
    expect(balance_row(page, "BTC").locator("td").nth(2)).to_have_text("0.01000000")
    page.get_by_role("tab", name="Open orders").click()
    expect(rows.first).to_contain_text("Sell")
    expect(rows.first.locator("td").nth(6)).to_have_text("0.01000")                # filled
    page.get_by_role("tab", name="Trade history").click()
    expect(page.locator("[data-testid=panel-trades] tr[data-trade-id]")).to_have_count(1)
    page.get_by_role("tab", name="Order history").click()
    history = page.locator("[data-testid=panel-orders] tr[data-order-id]")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("Cancelled")       # newest first
    expect(history.nth(1)).to_contain_text("Partially filled")
    screenshot(page, "50-user-stream-live", full_page=False)
    assert _account_requests(log, quiet_since) == []

    # a refreshed token is sent to the gateway; the stream stays up
    page.evaluate("import('/js/auth.js').then((a) => a.refresh())")
    _wait(page, lambda: sum("session.logon" in f for _, f in frames) == len(logons) + 1, 10,
          "the logon with the new token")
    page.wait_for_timeout(300)
    expect(status).to_have_attribute("data-state", "live")

    # the gateway stops: reconnecting, and the orders/balances poll; a fill meanwhile shows
    with gateway_down(web_stack, status) as stopped:  # supervisor paused; back on leaving
        buyer.buy("0.01", PRICE)
        page.get_by_role("tab", name="Open orders").click()
        expect(page.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")
        expect(balance_row(page, "USDT")).to_contain_text("1,268.73000000")
        _wait(page, lambda: sum("/api/v3/account" in u for u in _account_requests(log, stopped)) >= 2, 15,
              "the fallback polls the account")
        screenshot(page, "51-user-stream-reconnecting", full_page=False)
    expect(status).to_have_attribute("data-state", "live", timeout=30_000)
    # while polling only the shown tab's history is read: all four mean the re-sync ran
    _wait(page, lambda: _snapshot_read(responses, stopped), 15, "the snapshot read on reconnect")
    page.wait_for_timeout(500)               # a poll already on its way when the stream came back
    quiet_since = time.monotonic()
    page.get_by_role("tab", name="Open orders").click()
    place(page, "Sell", "65000", "0.01")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("65,000.00")
    page.wait_for_timeout(2600)              # longer than the fallback's period: it would have polled
    assert _account_requests(log, quiet_since) == []
    rows.first.get_by_role("button").click()
    expect(page.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")


def test_user_state_applies_events_on_its_snapshot(pages):
    """web/js/userfeed.js's UserState, run in the page: events after the snapshot move
    it, events older than it (or repeated) change nothing, other symbols' orders stay out."""
    page = pages.new()
    pages.goto(page, "/trade/BTCUSDT")
    expect(page.locator("#symbol-select")).to_have_value("BTCUSDT")
    r = page.evaluate("""async () => {
      const { UserState } = await import('/js/userfeed.js');
      const s = new UserState('BTCUSDT', 50);
      const order = { symbol: 'BTCUSDT', orderId: 7, price: '100.00000000', origQty: '2.00000000',
                      executedQty: '0.00000000', status: 'NEW', side: 'SELL', type: 'LIMIT', time: 900 };
      s.reset({ account: { updateTime: 1000, balances: [{ asset: 'BTC', free: '1.00000000', locked: '2.00000000' }] },
                open: [order], orders: [order], trades: [] });
      const report = (x, X, z, extra = {}) => ({ e: 'executionReport', E: 1100, s: 'BTCUSDT', c: 'c7', S: 'SELL',
        o: 'LIMIT', f: 'GTC', q: '2.00000000', p: '100.00000000', P: '0.00000000', x, X, i: 7, z,
        Z: '0', O: 900, T: 1100, t: -1, ...extra });
      const out = {};
      out.stale = s.apply({ e: 'outboundAccountPosition', u: 999, B: [{ a: 'BTC', f: '9', l: '9' }] }).size;
      out.other = s.apply({ ...report('NEW', 'NEW', '0'), s: 'ETHUSDT', i: 8 }).size;
      const fill = report('TRADE', 'PARTIALLY_FILLED', '0.50000000',
        { t: 55, L: '100.00000000', l: '0.50000000', Y: '50.00000000', n: '0.05', N: 'USDT', m: true });
      s.apply(fill);
      s.apply(fill);                                   // delivered twice (at least once)
      out.open = s.openList().map((o) => [o.orderId, o.status, o.executedQty]);
      out.trades = s.tradeList().map((t) => [t.id, t.qty, t.quoteQty, t.isMaker, t.isBuyer]);
      s.apply(report('TRADE', 'FILLED', '2.00000000', { t: 56, L: '100', l: '1.5', Y: '150', n: '0', N: 'USDT' }));
      out.openAfter = s.openList().length;
      out.history = s.orderList().map((o) => [o.orderId, o.status]);
      out.oldDeposit = s.apply({ e: 'balanceUpdate', a: 'BTC', d: '5', T: 1000 }).has('balances');
      s.apply({ e: 'balanceUpdate', a: 'BTC', d: '-0.25000000', T: 1200 });
      out.afterWithdraw = s.balances.get('BTC').free;
      s.apply({ e: 'outboundAccountPosition', u: 1200, B: [{ a: 'BTC', f: '0.75000000', l: '0.00000000' },
                                                            { a: 'USDT', f: '199.95', l: '0' }] });
      out.balances = s.balanceList().map((b) => [b.asset, b.free, b.locked]);
      return out;
    }""")
    assert r["stale"] == 0 and r["other"] == 0
    assert r["open"] == [[7, "PARTIALLY_FILLED", "0.50000000"]]
    assert r["trades"] == [[55, "0.50000000", "50.00000000", True, False]]
    assert r["openAfter"] == 0 and r["history"] == [[7, "FILLED"]]
    assert r["oldDeposit"] is False and r["afterWithdraw"] == "0.75000000"
    assert r["balances"] == [["BTC", "0.75000000", "0.00000000"], ["USDT", "199.95", "0"]]
