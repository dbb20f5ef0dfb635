"""Two users trade through the web app: a limit sell, a crossing buy, and what both
of them see afterwards; the order form's messages in the user's words."""
import re

from playwright.sync_api import expect

from tests.web.conftest import DESKTOP, PHONE, cut_tabs, screenshot, unlabelled_controls, wrapped_numbers

SYMBOL = "BTCUSDT"
PRICE = "61000"        # far from anything else on BTCUSDT (the bot quotes only ETH symbols)
QTY = "0.01"


def order_form(page):
    return page.locator("[data-testid=order-form]")


def place(page, side: str, price: str | None, qty: str, order_type: str = "Limit"):
    form = order_form(page)
    form.locator("fieldset.side label").get_by_text(side, exact=True).click()
    form.locator("fieldset.type label").get_by_text(order_type, exact=True).click()
    if price is not None:
        form.get_by_label("Price", exact=True).fill(price)
    form.get_by_label("Amount", exact=True).fill(qty)
    form.get_by_role("button", name=f"{side} BTC").click()


def balance_row(page, asset: str):
    page.get_by_role("tab", name="Balances").click()
    return page.locator(f"[data-testid=panel-balances] tr[data-asset={asset}]")


def test_limit_sell_then_crossing_buy_shows_everywhere(pages):
    alice = pages.sign_in(pages.new(), "alice@demo.local")
    bob = pages.sign_in(pages.new(), "bob@demo.local")
    for page in (alice, bob):
        expect(page.locator("#symbol-select")).to_have_value(SYMBOL)
        expect(page.locator("[data-testid=available]")).to_have_text("100,000.00 USDT")

    # alice: limit sell 0.01 BTC at 61,000
    place(alice, "Sell", PRICE, QTY)
    expect(alice.locator("[data-testid=order-status]")).to_contain_text("placed: Sell 0.01000 BTC at 61,000.00")
    expect(alice.locator("[data-testid=order-error]")).to_be_empty()
    alice_order = alice.locator("[data-testid=panel-open] tr[data-order-id]")
    expect(alice_order).to_have_count(1)
    expect(alice_order).to_contain_text("61,000.00")
    expect(alice_order).to_contain_text("Sell")
    expect(alice.locator("[data-testid=available]")).to_have_text("4.99000 BTC")  # 0.01 locked
    ask = ".asks .level[data-price='61000.00000000']"
    for page in (alice, bob):
        expect(page.locator(ask)).to_contain_text("0.01000")
    screenshot(alice, "01-alice-limit-sell-resting")

    # bob: a buy at the same price crosses it
    bob.locator("[data-testid=order-book]").locator(ask).click()  # clicking a level fills the price
    expect(order_form(bob).get_by_label("Price", exact=True)).to_have_value("61000.00")
    place(bob, "Buy", None, QTY)
    expect(bob.locator("[data-testid=order-status]")).to_contain_text("placed: Buy 0.01000 BTC at 61,000.00")

    # both see the trade on the tape, the level gone from the book, no open orders
    trade = "[data-testid=trades] tr[data-price='61000.00000000'][data-qty='0.01000000']"
    for page in (alice, bob):
        expect(page.locator(trade)).to_have_count(1)
        expect(page.locator(ask)).to_have_count(0)
        expect(page.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")
        expect(page.locator("[data-testid=last-price]")).to_have_text("61,000.00")

    # balances: 0.1 % fee on what each receives
    expect(balance_row(alice, "USDT")).to_contain_text("100,609.39000000")
    expect(balance_row(alice, "BTC")).to_contain_text("4.99000000")
    expect(balance_row(bob, "BTC")).to_contain_text("5.00999000")
    expect(balance_row(bob, "USDT")).to_contain_text("99,390.00000000")
    expect(alice.locator("[data-testid=panel-balances] tr[data-asset=BTC] td").nth(2)).to_have_text("0.00000000")

    # trade history with the fee
    alice.get_by_role("tab", name="Trade history").click()
    row = alice.locator("[data-testid=panel-trades] tr[data-trade-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("0.61000000 USDT")
    expect(row).to_contain_text("Maker")
    bob.get_by_role("tab", name="Order history").click()
    expect(bob.locator("[data-testid=panel-orders] tr[data-order-id]").first).to_contain_text("Filled")
    screenshot(alice, "02-alice-after-trade")
    screenshot(bob, "03-bob-after-trade")


def test_order_form_messages_in_the_users_words(pages):
    bob = pages.sign_in(pages.new(), "bob@demo.local")
    sent = []
    bob.on("request", lambda r: sent.append(r.url) if r.method == "POST" and "/api/v3/order" in r.url else None)

    # caught before sending: the symbol's filters
    place(bob, "Buy", "61000.001", QTY)
    price = order_form(bob).get_by_label("Price", exact=True)
    expect(price).to_have_attribute("aria-invalid", "true")
    expect(order_form(bob).locator("[data-field=price] .field-error")).to_have_text(
        "Price must be a multiple of 0.01.")
    expect(price).to_be_focused()
    place(bob, "Buy", "61000", "0.000001")
    expect(order_form(bob).locator("[data-field=quantity] .field-error")).to_contain_text("at least 0.00001 BTC")
    place(bob, "Buy", "1", "1")
    expect(order_form(bob).locator("[data-field=quantity] .field-error")).to_contain_text(
        "Order value must be at least 5.00 USDT")
    assert sent == []

    # typing mistakes, each with its own message
    for typed, message in (("-5", "Price must be positive."),
                           ("64,000", "Use a dot for decimals, no thousands separators."),
                           ("abc", "Price must be a number.")):
        place(bob, "Buy", typed, QTY)
        expect(order_form(bob).locator("[data-field=price] .field-error")).to_have_text(message)
    # more than bob has: caught in the form, with what he has
    available = bob.locator("[data-testid=available]").text_content().replace(" USDT", "")
    place(bob, "Buy", "61000", "10")
    expect(order_form(bob).locator("[data-field=quantity] .field-error")).to_have_text(
        f"Not enough USDT: available {available}")
    assert sent == []
    screenshot(bob, "04-rejected-order")


def test_order_entry_by_keyboard_only(pages):
    """Side, type, fields and submit are reachable and usable with the keyboard."""
    alice = pages.sign_in(pages.new(), "alice@demo.local")
    form = order_form(alice)
    expect(alice.locator("[data-testid=panel-open] table")).to_be_visible()
    assert unlabelled_controls(alice) == []
    form.locator("fieldset.side input").first.focus()
    alice.keyboard.press("ArrowRight")          # Buy -> Sell
    expect(form.get_by_role("button", name="Sell BTC")).to_be_visible()
    alice.keyboard.press("Tab")                  # -> order type group
    alice.keyboard.press("ArrowRight")           # Limit -> Market
    expect(form.get_by_label("Price", exact=True)).to_be_hidden()
    alice.keyboard.press("ArrowRight")           # Market -> Stop-limit
    expect(form.get_by_label("Stop price", exact=True)).to_be_visible()
    alice.keyboard.press("Tab")
    expect(form.get_by_label("Stop price", exact=True)).to_be_focused()
    alice.keyboard.type("59000")
    alice.keyboard.press("Tab")
    alice.keyboard.type("58900")
    alice.keyboard.press("Tab")
    alice.keyboard.type("0.001")
    alice.keyboard.press("Enter")
    expect(alice.locator("[data-testid=order-status]")).to_contain_text("placed: Sell 0.00100 BTC at 58,900.00")
    # the resting stop-limit order is cancelled from the open orders tab, by keyboard too
    cancel = alice.get_by_role("button", name=re.compile(r"^Cancel sell order \d+, 0.00100 BTC at 58,900.00"))
    expect(cancel).to_have_count(1)
    expect(alice.locator("[data-testid=panel-open] tr[data-order-id]")).to_contain_text("Stop-limit")
    cancel.focus()
    alice.keyboard.press("Enter")
    expect(alice.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")


def box(locator) -> dict:
    b = locator.bounding_box()
    assert b, f"{locator} is not visible"
    return b


def test_trading_view_fits_a_phone_and_a_desktop(pages):
    phone = pages.sign_in(pages.new(PHONE), "alice@demo.local")
    # the order form is a sheet that the fixed Buy/Sell bar at the bottom opens, for that side
    bar = phone.locator("[data-testid=trade-bar]")
    expect(bar).to_be_visible()
    expect(phone.locator("[data-testid=order-form]")).to_be_hidden()
    bar_box = box(bar)
    assert abs(bar_box["y"] + bar_box["height"] - PHONE["height"]) < 1 and bar_box["width"] == PHONE["width"], bar_box
    bar.get_by_role("button", name="Sell").click()
    form = order_form(phone)
    expect(form).to_be_visible()
    expect(form.get_by_role("button", name="Sell BTC")).to_be_visible()
    expect(form.get_by_label("Price", exact=True)).to_be_focused()
    expect(bar.get_by_role("button", name="Sell")).to_have_attribute("aria-expanded", "true")
    expect(phone.locator("[data-testid=available]")).not_to_have_text(re.compile("^—"))
    assert wrapped_numbers(phone) == [], "numbers wrapped in the order sheet at 375 px"
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(phone, "05-order-sheet-375px", full_page=False)
    phone.keyboard.press("Escape")                   # closes, the focus back on the bar
    expect(form).to_be_hidden()
    expect(bar.get_by_role("button", name="Sell")).to_be_focused()
    bar.get_by_role("button", name="Buy").click()
    expect(form.get_by_role("button", name="Buy BTC")).to_be_visible()
    form.get_by_role("button", name="Close the order form").click()
    expect(form).to_be_hidden()
    expect(phone.locator("[data-testid=last-price]")).not_to_have_text("—")
    expect(phone.locator("[data-testid=chart]")).not_to_have_attribute("data-candles", "0")
    expect(phone.locator("[data-testid=order-book]")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways at 375 px ({width} px wide)"
    for tab in ("Open orders", "Order history", "Trade history", "Balances"):
        phone.get_by_role("tab", name=tab).click()
        assert cut_tabs(phone) == [], "tab labels cut at 375 px"
        assert wrapped_numbers(phone) == [], f"numbers wrapped at 375 px ({tab})"
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(phone, "05-trading-375px")

    desk = pages.sign_in(pages.new(DESKTOP), "alice@demo.local")
    expect(desk.locator("[data-testid=chart]")).not_to_have_attribute("data-candles", "0")
    expect(desk.locator("[data-testid=panel-open] table")).to_be_visible()
    width = desk.evaluate("document.documentElement.scrollWidth")
    assert width <= DESKTOP["width"]
    # the open orders are above the fold: their tab and the table's header row
    assert box(desk.get_by_role("tab", name="Open orders"))["y"] + 40 <= DESKTOP["height"]
    header = box(desk.locator("[data-testid=panel-open] thead tr"))
    assert header["y"] + header["height"] <= DESKTOP["height"], header
    # the order form ends at its button; the chart is bounded; the book ends at its depth chart
    form, submit = box(order_form(desk)), box(order_form(desk).locator("button.submit"))
    assert form["y"] + form["height"] - (submit["y"] + submit["height"]) <= 24, (form, submit)
    assert box(desk.locator("[data-testid=chart]"))["height"] <= 640
    book, depth = box(desk.locator("[data-testid=order-book]")), box(desk.locator("[data-testid=depth-chart]"))
    assert book["y"] + book["height"] - (depth["y"] + depth["height"]) <= 24, (book, depth)
    assert wrapped_numbers(desk) == []
    screenshot(desk, "06-trading-1440px", full_page=False)
    # the quote volume with the symbol's precision (ETHBTC: BTC to 0.00001, as its prices)
    pages.goto(desk, "/trade/ETHBTC")
    volume = desk.locator(".ticker-stats div").filter(has_text="24h volume (BTC)").locator("dd")
    expect(volume).to_have_text(re.compile(r"^\d[\d,]*\.\d{5}$"))


def test_filter_checks_and_exact_decimals_in_the_browser(pages):
    """The order form's checks (web/js/orders.js) and decimals (web/js/dec.js), run in
    the page against BTCUSDT's filters from exchangeInfo."""
    page = pages.new()
    pages.goto(page, "/trade/BTCUSDT")
    expect(page.locator("#symbol-select")).to_have_value(SYMBOL)
    result = page.evaluate("""async () => {
      const { validate, stopLimitType } = await import('/js/orders.js');
      const { loadSymbols, axisPrice } = await import('/js/market.js');
      const d = await import('/js/dec.js');
      const info = (await loadSymbols()).BTCUSDT;
      const v = (o, last) => validate(info, { type: 'LIMIT', ...o }, last);
      return {
        ok: v({ price: '61000.01', quantity: '0.00123' }),
        tick: v({ price: '61000.015', quantity: '0.001' }).price,
        tooPrecise: v({ price: '1.123456789', quantity: '0.001' }).price,
        words: [v({ price: '-1', quantity: '0.001' }).price, v({ price: '64,000', quantity: '0.001' }).price,
                v({ price: '64000,5', quantity: '0.001' }).price, v({ price: 'abc', quantity: '0.001' }).price,
                v({ price: '0', quantity: '0.001' }).price, v({ price: '1', quantity: '-0.001' }).quantity],
        funds: [v({ price: '61000', quantity: '0.001', side: 'BUY', free: '12.34' }).quantity,
                v({ price: '61000', quantity: '0.002', side: 'SELL', free: '0.001' }).quantity,
                v({ price: '61000', quantity: '0.001', side: 'BUY', free: '61.00' }).quantity ?? null,
                validate(info, { type: 'MARKET', side: 'BUY', quantity: '0.001', free: '100' }, '61000')
                  .quantity ?? null],
        step: v({ price: '61000', quantity: '0.000015' }).quantity,
        minQty: v({ price: '61000', quantity: '0.000001' }).quantity,
        notional: v({ price: '100', quantity: '0.01' }).quantity,
        maxPrice: v({ price: '1000000.01', quantity: '0.001' }).price,
        empty: v({ price: '', quantity: '' }),
        marketNeedsNoPrice: validate(info, { type: 'MARKET', quantity: '0.001' }, '61000'),
        marketNotional: validate(info, { type: 'MARKET', quantity: '0.00001' }, '61000').quantity,
        stopMissing: validate(info, { type: 'STOP_LIMIT', price: '61000', quantity: '0.001' }, '61000').stopPrice,
        stops: [stopLimitType('BUY', '62000', '61000'), stopLimitType('BUY', '60000', '61000'),
                stopLimitType('SELL', '60000', '61000'), stopLimitType('SELL', '62000', '61000')],
        fmt: [d.fmt('1234567.89000000', 2), d.fmt('0.00012345', 5), d.fmt('-5.5', 1)],
        axis: [axisPrice(2)(61000.5), axisPrice(6)(0.0525), axisPrice(2)(1234567)],
        exact: d.toStr(d.mul(d.units('0.1'), d.units('0.2'))) + ' ' + d.add('0.1', '0.2'),
      };
    }""")
    assert result["ok"] == {}
    assert result["tick"] == "Price must be a multiple of 0.01."
    assert result["tooPrecise"] == "Price can have at most 8 decimals."
    assert result["words"] == ["Price must be positive.", "Use a dot for decimals, no thousands separators.",
                               "Use a dot for decimals, no thousands separators.", "Price must be a number.",
                               "Price must be positive.", "Amount must be positive."]
    assert result["funds"] == ["Not enough USDT: available 12.34", "Not enough BTC: available 0.00100", None, None]
    assert result["step"] == "Amount must be a multiple of 0.00001 BTC."
    assert result["minQty"] == "Amount must be at least 0.00001 BTC."
    assert result["notional"] == "Order value must be at least 5.00 USDT."
    assert result["maxPrice"] == "Price must be at most 1,000,000.00 USDT."
    assert result["empty"] == {"price": "Enter a price.", "quantity": "Enter an amount."}
    assert result["marketNeedsNoPrice"] == {}
    assert result["marketNotional"] == "Order value must be at least 5.00 USDT."
    assert result["stopMissing"] == "Enter a stop price."
    assert result["stops"] == ["STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
    assert result["fmt"] == ["1,234,567.89", "0.00012", "-5.5"]
    assert result["exact"] == "0.02000000 0.30000000"
    assert result["axis"] == ["61,000.50", "0.052500", "1,234,567.00"]  # the chart's price axis


def test_post_only_market_buy_by_total_and_price_prefill(pages, funded_user):
    """Post-only (LIMIT_MAKER) refused when it would take, shown in the user's words
    with the API's code below; a market buy by total (quoteOrderQty); the price starts
    at the last price, and a clicked book level replaces it."""
    pages.allow_console(r"status of 400")  # the post-only order refused on purpose (-2010)
    seller = pages.sign_in(pages.new(), funded_user({"BTC": "0.1"}))
    place(seller, "Sell", "61500", QTY)
    expect(seller.locator("[data-testid=panel-open] tr[data-order-id]")).to_have_count(1)

    alice = pages.sign_in(pages.new(), "alice@demo.local", then="/trade/ETHUSDT")
    form = order_form(alice)
    last = alice.locator("[data-testid=last-price]")
    expect(last).not_to_have_text("—")
    price = form.get_by_label("Price", exact=True)
    expect(price).not_to_have_value("")   # the last price, until the user picks one
    # the bot redraws the book several times a second: read the level and click it at once
    level = alice.locator("[data-testid=order-book] .asks .level").last.evaluate(
        "(el) => { el.click(); return el.dataset.price; }")
    assert float(price.input_value()) == float(level)

    pages.goto(alice, "/trade/BTCUSDT")
    expect(alice.locator("#symbol-select")).to_have_value(SYMBOL)
    sent = []
    alice.on("request", lambda r: sent.append(r.post_data) if r.method == "POST" and "/api/v3/order" in r.url
             else None)
    form.locator("fieldset.type label").get_by_text("Limit", exact=True).click()
    form.get_by_label("Post-only", exact=False).check()
    expect(form.get_by_label("Time in force")).to_be_hidden()
    form.get_by_label("Price", exact=True).fill("61500")
    form.get_by_label("Amount", exact=True).fill("0.001")
    form.get_by_role("button", name="Buy BTC").click()
    error = alice.locator("[data-testid=order-error]")
    expect(error).to_contain_text("A post-only order would trade at once, so it was not placed.")
    # refused as Binance does (400 -2010), the API's words in the detail line
    expect(error.locator(".detail")).to_have_text("Order would immediately match and take. (code -2010)")
    assert "type=LIMIT_MAKER" in sent[-1] and "timeInForce" not in sent[-1]

    # market buy by total: 100 USDT of BTC from the seller's ask
    form.locator("fieldset.type label").get_by_text("Market", exact=True).click()
    form.get_by_label("Buy by").select_option("total")
    expect(form.get_by_label("Amount", exact=True)).to_be_hidden()
    form.get_by_label("Total", exact=True).fill("100")
    form.get_by_role("button", name="Buy BTC").click()
    expect(alice.locator("[data-testid=order-status]")).to_contain_text("placed: Buy BTC for 100.00 USDT at market")
    assert "quoteOrderQty=100" in sent[-1] and "quantity=" not in sent[-1].replace("quoteOrderQty", "")
    expect(seller.locator("[data-testid=panel-open] tr[data-order-id]")).to_contain_text("0.00162")
    screenshot(alice, "07-post-only-and-buy-by-total")

    seller.get_by_role("button", name=re.compile(r"^Cancel sell order")).click()
    expect(seller.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")


def test_open_orders_count_hide_other_pairs_and_cancel_all(pages, funded_user):
    """The tab counts the open orders; "Hide other pairs" keeps this symbol's only;
    "Cancel all" asks first, then cancels this symbol's (DELETE /api/v3/openOrders)."""
    page = pages.sign_in(pages.new(), funded_user({"BTC": "0.1", "ETH": "1"}), then="/trade/ETHUSDT")
    form = order_form(page)
    form.locator("fieldset.side label").get_by_text("Sell", exact=True).click()
    form.get_by_label("Price", exact=True).fill("9000")
    form.get_by_label("Amount", exact=True).fill("0.01")
    form.get_by_role("button", name="Sell ETH").click()
    tab = page.get_by_role("tab", name=re.compile(r"^Open orders"))
    expect(tab).to_have_text("Open orders (1)")
    pages.goto(page, "/trade/BTCUSDT")
    for price in ("62000", "62100"):
        place(page, "Sell", price, QTY)
    expect(tab).to_have_text("Open orders (3)")
    rows = page.locator("[data-testid=panel-open] tr[data-order-id]")
    expect(rows.filter(has_text="ETH/USDT")).to_have_count(1)
    page.get_by_label("Hide other pairs").check()
    expect(tab).to_have_text("Open orders (2)")
    expect(rows.filter(has_text="ETH/USDT")).to_have_count(0)

    deletes = []
    page.on("request", lambda r: deletes.append(r.url) if r.method == "DELETE" else None)
    page.get_by_role("button", name="Cancel all").click()
    expect(page.locator("[data-testid=cancel-all-question]")).to_have_text("Cancel all 2 open BTC/USDT orders?")
    page.get_by_role("button", name="Keep them").click()        # the confirm step: nothing sent
    assert deletes == []
    page.get_by_role("button", name="Cancel all").click()
    page.get_by_role("button", name="Yes, cancel all").click()
    expect(tab).to_have_text("Open orders (0)")
    assert len(deletes) == 1 and "/api/v3/openOrders?" in deletes[0] and "symbol=BTCUSDT" in deletes[0]
    page.get_by_label("Hide other pairs").uncheck()
    expect(tab).to_have_text("Open orders (1)")
    expect(rows).to_contain_text("ETH/USDT")
