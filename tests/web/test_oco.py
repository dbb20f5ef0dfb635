"""OCO in the order form (POST /api/v3/orderList/oco): its checks in the user's words,
the aboveX / belowX parameters from the side, the fee line; its two orders together in
Open orders, cancelled as one list (DELETE /api/v3/orderList) after a question that
says both go; and a fill of one leg taking the other off the page on push."""
from __future__ import annotations

import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from playwright.sync_api import expect

from tests.web.conftest import PHONE, wrapped_numbers
from tests.web.test_trading import order_form
from tests.web.test_user_stream import RestUser

QTY = "0.001"


def test_oco_checks_parameters_and_fee_in_the_browser(pages):
    """orders.js's OCO rules, run in the page against BTCUSDT's filters from exchangeInfo."""
    page = pages.new()
    pages.goto(page, "/trade/BTCUSDT")
    expect(page.locator("#symbol-select")).to_have_value("BTCUSDT")
    r = page.evaluate("""async () => {
      const { validate, ocoParams, estimateFee, OrderForm } = await import('/js/orders.js');
      const { loadSymbols } = await import('/js/market.js');
      const info = (await loadSymbols()).BTCUSDT;
      const v = (o, last, top) => validate(info, { type: 'OCO', quantity: '0.001', ...o }, last, top);
      const sell = { side: 'SELL', price: '66000', stopPrice: '54000', stopLimitPrice: '53900' };
      const buy = { side: 'BUY', price: '54000', stopPrice: '66000', stopLimitPrice: '66100' };
      const types = (i) => [...new OrderForm(i).el.querySelectorAll('fieldset.type label')].map((l) => l.textContent);
      return {
        ok: [v(sell, '60000'), v(buy, '60000'), v(sell, null), v(buy, null, { bid: '53000', ask: '55000' })],
        sellWrong: v({ ...sell, price: '59000', stopPrice: '61000' }, '60000'),
        buyWrong: v({ ...buy, price: '61000', stopPrice: '59000' }, '60000'),
        noLast: v({ ...sell, price: '50000' }, null).price,
        crosses: v({ ...sell, price: '61000' }, '60000', { bid: '62000' }).price,
        filters: v({ ...sell, price: '66000.001', stopLimitPrice: 'abc' }, '60000'),
        notional: v({ ...sell, quantity: '0.0001', stopPrice: '55000', stopLimitPrice: '40000' }, '60000').quantity,
        fundsBuy: v({ ...buy, free: '66' }, '60000').quantity,
        fundsSell: v({ ...sell, free: '0.0005' }, '60000').quantity,
        params: [ocoParams('BTCUSDT', 'SELL', { ...sell, quantity: '0.001' }),
                 ocoParams('BTCUSDT', 'BUY', { ...buy, quantity: '0.001' })],
        fee: estimateFee(info, { type: 'OCO', ...sell, quantity: '0.001' }, { maker: '0.001', taker: '0.002' }),
        types: [types(info), types({ ...info, ocoAllowed: false })],
      };
    }""")
    assert r["ok"] == [{}, {}, {}, {}]
    assert r["sellWrong"] == {
        "price": "For a sell OCO the limit price must be above the last price (60,000.00 USDT).",
        "stopPrice": "For a sell OCO the stop price must be below the last price (60,000.00 USDT)."}
    assert r["buyWrong"] == {
        "price": "For a buy OCO the limit price must be below the last price (60,000.00 USDT).",
        "stopPrice": "For a buy OCO the stop price must be above the last price (60,000.00 USDT)."}
    assert r["noLast"] == "For a sell OCO the limit price must be above the stop price."
    assert r["crosses"] == ("The limit order would trade at once: for a sell OCO its price must be above the best "
                            "bid (62,000.00 USDT).")
    assert r["filters"] == {"price": "Limit price must be a multiple of 0.01.",
                            "stopLimitPrice": "Stop-limit price must be a number."}
    assert r["notional"] == "Order value at the stop-limit price must be at least 5.00 USDT."
    assert r["fundsBuy"] == "Not enough USDT: available 66.00"      # the dearer leg: 66,100 x 0.001
    assert r["fundsSell"] == "Not enough BTC: available 0.00050"
    assert r["params"] == [
        {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.001", "aboveType": "LIMIT_MAKER", "abovePrice": "66000",
         "belowType": "STOP_LOSS_LIMIT", "belowPrice": "53900", "belowStopPrice": "54000", "belowTimeInForce": "GTC"},
        {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "aboveType": "STOP_LOSS_LIMIT", "abovePrice": "66100",
         "aboveStopPrice": "66000", "aboveTimeInForce": "GTC", "belowType": "LIMIT_MAKER", "belowPrice": "54000"}]
    # one leg trades: the larger fee (the stop-limit leg's, at the taker rate: 53,900 x 0.001 x 0.002)
    assert r["fee"] == {"role": "taker", "rate": "0.002", "amount": "0.10780000", "asset": "USDT", "upTo": True}
    assert r["types"] == [["Limit", "Market", "Stop-limit", "OCO"], ["Limit", "Market", "Stop-limit"]]


def test_user_state_follows_lists_and_groups_their_orders(pages):
    """userfeed.js: `g` of an executionReport is the order's list; a `listStatus` event
    names the list's kind and, when the list is ALL_DONE, takes its orders off the open
    ones (whatever order the legs' own reports come in); account.js groups a list's
    orders together."""
    page = pages.new()
    pages.goto(page, "/trade/BTCUSDT")
    expect(page.locator("#symbol-select")).to_have_value("BTCUSDT")
    r = page.evaluate("""async () => {
      const { UserState } = await import('/js/userfeed.js');
      const { groupLists } = await import('/js/account.js');
      const report = (i, g, X, O) => ({ e: 'executionReport', s: 'BTCUSDT', i, g, X, x: 'NEW', c: `c${i}`, p: '1',
                                         q: '1', z: '0', Z: '0', f: 'GTC', o: 'LIMIT', S: 'SELL', P: '0', O, E: O });
      const st = new UserState('BTCUSDT');
      st.reset({ account: { balances: [] }, open: [{ symbol: 'BTCUSDT', orderId: 1, orderListId: -1, time: 5 }],
                 orders: [], trades: [], lists: [] });
      st.apply(report(7, 3, 'NEW', 10));
      st.apply(report(8, 3, 'NEW', 10));
      const started = st.apply({ e: 'listStatus', s: 'BTCUSDT', g: 3, c: 'OCO', l: 'EXEC_STARTED', L: 'EXECUTING',
                                 O: [] });
      const tagged = [st.listType({ symbol: 'BTCUSDT', orderListId: 3 }), st.openList().map((o) => o.orderListId)];
      const ended = st.apply({ e: 'listStatus', s: 'BTCUSDT', g: 3, c: 'OCO', l: 'ALL_DONE', L: 'ALL_DONE', O: [] });
      const after = st.openList().map((o) => o.orderId);
      const grouped = groupLists([
        { symbol: 'BTCUSDT', orderId: 9, orderListId: 4, time: 9 },
        { symbol: 'BTCUSDT', orderId: 6, orderListId: -1, time: 8 },
        { symbol: 'BTCUSDT', orderId: 5, orderListId: 4, time: 7 },
        { symbol: 'ETHBTC', orderId: 5, orderListId: 4, time: 1 },
      ]).map((o) => `${o.symbol}:${o.orderId}`);
      return { started: [...started], tagged, ended: [...ended], after, grouped,
               unknown: st.listType({ symbol: 'BTCUSDT', orderListId: 3 }) };
    }""")
    assert r["started"] == ["open"]
    assert r["tagged"] == ["OCO", [3, 3, -1]]
    assert r["ended"] == ["open"] and r["after"] == [1] and r["unknown"] is None
    # a list's orders together where its newest is, by order id; lists are per symbol
    assert r["grouped"] == ["BTCUSDT:5", "BTCUSDT:9", "BTCUSDT:6", "ETHBTC:5"]


def _last_price(base: str) -> Decimal | None:
    with urllib.request.urlopen(f"{base}/api/v3/ticker/24hr?symbol=BTCUSDT", timeout=20) as resp:
        t = json.loads(resp.read())
    return Decimal(t["lastPrice"]) if int(t["count"]) else None


def test_oco_placed_grouped_cancelled_and_filled_on_push(pages, web_stack, funded_user):
    with ThreadPoolExecutor(1) as pool:   # the buyer is made while the seller signs in
        buyer = pool.submit(lambda: RestUser(web_stack["url"], funded_user({"USDT": "1000"})))
        page = pages.sign_in(pages.new(), funded_user({"BTC": "0.1"}))
        buyer = buyer.result()
    expect(page.locator("[data-testid=user-stream-status]")).to_have_attribute("data-state", "live")
    last = _last_price(web_stack["url"])
    if last is not None:   # the form checks the prices against the last price it shows
        expect(page.locator("[data-testid=last-price]")).to_have_text(f"{last:,.2f}")
    center = last or Decimal(60000)
    cent = Decimal("0.01")
    limit, stop = (center * Decimal("1.1")).quantize(cent), (center * Decimal("0.9")).quantize(cent)
    stop_limit = stop - 100

    form = order_form(page)
    form.locator("fieldset.side label").get_by_text("Sell", exact=True).click()
    form.locator("fieldset.type label").get_by_text("OCO", exact=True).click()
    expect(form.locator("[data-testid=oco-hint]")).to_contain_text("Limit price above the last price, stop price below")
    expect(form.get_by_label("Time in force")).to_be_hidden()
    expect(form.locator("[data-testid=order-total]")).to_be_hidden()
    posts = []
    page.on("request", lambda r: posts.append(r.post_data) if r.method == "POST" and "/api/v3/order" in r.url else None)

    # the prices the wrong way round: said under the field, nothing sent
    form.get_by_label("Limit price", exact=True).fill(str(stop))
    form.get_by_label("Stop price", exact=True).fill(str(limit))
    form.get_by_label("Stop-limit price", exact=True).fill(str(stop_limit))
    form.get_by_label("Amount", exact=True).fill(QTY)
    form.get_by_role("button", name="Sell BTC").click()
    expect(form.locator("[data-field=price] .field-error")).to_contain_text(
        re.compile(r"^For a sell OCO the limit price must be above the (last|stop) price"))
    expect(form.get_by_label("Limit price", exact=True)).to_be_focused()
    assert posts == []

    def place_oco() -> str:
        form.get_by_label("Limit price", exact=True).fill(str(limit))
        form.get_by_label("Stop price", exact=True).fill(str(stop))
        expect(form.locator("[data-testid=est-fee]")).to_have_text(re.compile(r"^up to \d[\d.]* USDT$"))
        form.get_by_role("button", name="Sell BTC").click()
        status = page.locator("[data-testid=order-status]")
        expect(status).to_contain_text(f"placed: Sell 0.00100 BTC at {limit:,.2f}, or at {stop_limit:,.2f} once the "
                                       f"price reaches {stop:,.2f}.")
        list_id = re.search(r"OCO (\d+) placed", status.text_content()).group(1)
        legs = page.locator(f"[data-testid=panel-open] tr[data-list-id='{list_id}']")
        expect(legs).to_have_count(2)
        for i, kind in enumerate(("Stop-limit", "Limit")):   # in order id order: the below leg first
            expect(legs.nth(i).locator("[data-testid=list-tag]")).to_have_text(f"OCO #{list_id}")
            expect(legs.nth(i)).to_contain_text(kind)
        return list_id

    list_id = place_oco()
    sent = posts[-1]
    for part in ("aboveType=LIMIT_MAKER", f"abovePrice={limit}", "belowType=STOP_LOSS_LIMIT", f"belowStopPrice={stop}",
                 f"belowPrice={stop_limit}", "belowTimeInForce=GTC", f"quantity={QTY}", "side=SELL"):
        assert part in sent, (part, sent)
    expect(page.get_by_role("tab", name=re.compile(r"^Open orders"))).to_have_text("Open orders (2)")

    # cancelling one leg cancels the list, after a question that says both go
    deletes = []
    page.on("request", lambda r: deletes.append(r.url) if r.method == "DELETE" else None)
    page.locator(f"tr[data-list-id='{list_id}']").first.get_by_role("button", name="Cancel").click()
    expect(page.locator("[data-testid=cancel-list-question]")).to_have_text(
        f"Cancel OCO #{list_id}? Both of its orders will be cancelled.")
    yes = page.get_by_role("button", name="Yes, cancel both")
    expect(yes).to_be_focused()
    page.get_by_role("button", name="Keep them").click()
    expect(page.locator("[data-testid=cancel-list-question]")).to_have_count(0)
    assert deletes == []
    page.locator(f"tr[data-list-id='{list_id}']").last.get_by_role("button", name="Cancel").click()
    yes.click()
    expect(page.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")
    assert len(deletes) == 1 and "/api/v3/orderList?" in deletes[0] and f"orderListId={list_id}" in deletes[0]

    # the account page: the list's orders together under its tag, from the REST snapshot
    # (GET /api/v3/openOrderList names the kind)
    list_id = place_oco()
    pages.goto(page, "/account")
    legs = page.locator(f"tr[data-list-id='{list_id}']")
    expect(legs).to_have_count(2)
    expect(legs.locator("[data-testid=list-tag]")).to_have_text([f"OCO #{list_id}"] * 2)

    # a buyer takes the limit leg: the stop leg leaves Open orders on push, no REST read
    pages.goto(page, "/trade/BTCUSDT")
    expect(page.locator("[data-testid=user-stream-status]")).to_have_attribute("data-state", "live")
    expect(page.locator(f"[data-testid=panel-open] tr[data-list-id='{list_id}']")).to_have_count(2)
    reads = []
    page.on("request", lambda r: reads.append(r.url) if "/api/v3/openOrders" in r.url else None)
    assert buyer.buy(QTY, str(limit))["status"] == "FILLED"
    expect(page.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")
    assert reads == []
    page.get_by_role("tab", name="Order history").click()
    for status in ("Filled", "Expired"):
        expect(page.locator("[data-testid=panel-orders] tr[data-order-id]").filter(has_text=status)
               .filter(has_text=f"{limit:,.2f}" if status == "Filled" else f"{stop_limit:,.2f}")).to_have_count(1)

    # the OCO form in the phone's order sheet: no sideways scroll, no number broken
    phone = page
    phone.set_viewport_size(PHONE)
    phone.locator("[data-testid=trade-bar]").get_by_role("button", name="Sell").click()
    sheet = order_form(phone)
    sheet.locator("fieldset.type label").get_by_text("OCO", exact=True).click()
    sheet.get_by_label("Stop-limit price", exact=True).fill(str(stop_limit))
    expect(sheet.get_by_label("Limit price", exact=True)).to_be_visible()
    assert wrapped_numbers(phone) == [], "numbers wrapped in the OCO form at 375 px"
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
