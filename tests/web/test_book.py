"""The order book's price grouping and side views, and the depth chart under it,
both drawn from the one local book the stream keeps."""
import re
from decimal import Decimal

from playwright.sync_api import expect

from tests.web.conftest import screenshot
from tests.web.test_trading import place

ASKS = ".asks .level"


def test_book_grouping_and_side_views(pages, funded_user):
    page = pages.sign_in(pages.new(), funded_user({"BTC": "0.1"}))
    book = page.locator("[data-testid=order-book]")
    depth = page.locator("[data-testid=depth-chart]")
    expect(page.locator("[data-testid=stream-status]")).to_have_attribute("data-state", "live")
    expect(depth).to_have_attribute("data-ask-total", re.compile(r"^\d+\.\d{8}$"))
    before = Decimal(depth.get_attribute("data-ask-total"))
    place(page, "Sell", "63001.50", "0.01")
    place(page, "Sell", "63007.25", "0.02")
    expect(book.locator(f"{ASKS}[data-price='63007.25000000']")).to_contain_text("0.02000")
    # the depth chart follows the same local book: the two asks added, something drawn
    expect(depth).to_have_attribute("data-ask-total", f"{before + Decimal('0.03'):.8f}")
    expect(depth).to_have_attribute("aria-label", re.compile(r"BTC asked up to [\d,]+\.\d\d$"))
    assert depth.locator("canvas").evaluate("""(c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
      return false;
    }""")

    grouping = page.get_by_label("Price grouping")
    expect(grouping.locator("option")).to_have_text(["0.01", "0.1", "1", "10"])
    grouping.select_option("1")        # asks round up: 63002 and 63008
    expect(book.locator(f"{ASKS}[data-price='63002.00000000']")).to_contain_text("63,002")
    expect(book.locator(f"{ASKS}[data-price='63008.00000000']")).to_contain_text("0.02000")
    grouping.select_option("10")       # one level of both, amounts summed exactly
    level = book.locator(f"{ASKS}[data-price='63010.00000000']")
    expect(level.locator("span").nth(0)).to_have_text("63,010")
    expect(level.locator("span").nth(1)).to_have_text("0.03000")
    expect(book.locator(f"{ASKS}[data-price='63007.25000000']")).to_have_count(0)

    screenshot(page, "50-book-grouped-10", full_page=False)
    page.get_by_role("button", name="Sell orders only").click()
    expect(book.locator(".bids")).to_be_hidden()
    expect(level).to_be_visible()
    expect(page.get_by_role("button", name="Sell orders only")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Buy orders only").click()
    expect(book.locator(".asks")).to_be_hidden()
    expect(book.locator(".bids")).to_be_visible()
    page.get_by_role("button", name="Buy and sell orders").click()
    grouping.select_option("0.01")
    expect(book.locator(f"{ASKS}[data-price='63001.50000000']")).to_contain_text("0.01000")

    page.get_by_role("button", name="Cancel all").click()
    page.get_by_role("button", name="Yes, cancel all").click()
    expect(book.locator(f"{ASKS}[data-price='63001.50000000']")).to_have_count(0)


def test_book_levels_by_keyboard(pages, funded_user):
    """Each level is a focusable row of a grid: Tab reaches the best ask, then the best
    bid; arrow keys move between levels across the spread; Enter fills the form's price
    as a click does; the focus stays on its price while the book redraws."""
    page = pages.sign_in(pages.new(), funded_user({"BTC": "0.1", "USDT": "1000"}))
    book = page.locator("[data-testid=order-book]")
    place(page, "Sell", "64101.50", "0.01")
    place(page, "Sell", "64102.25", "0.01")
    place(page, "Buy", "50001", "0.001")
    expect(book.locator(f"{ASKS}[data-price='64102.25000000']")).to_have_count(1)
    expect(book.locator(".bids .level[data-price='50001.00000000']")).to_have_count(1)
    expect(book.locator(".asks")).to_have_attribute("role", "grid")
    expect(book.locator(ASKS).first).to_have_attribute("role", "row")

    active = "() => { const e = document.activeElement; return [e.dataset.side || e.tagName, e.dataset.price || ''] }"
    page.get_by_label("Price grouping").focus()
    page.keyboard.press("Tab")
    best_ask = book.locator(ASKS).last.get_attribute("data-price")
    assert page.evaluate(active) == ["ask", best_ask]
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # visible focus
    page.keyboard.press("Tab")                         # the other side's tab stop: the best bid
    best_bid = book.locator(".bids .level").first.get_attribute("data-price")
    assert page.evaluate(active) == ["bid", best_bid]
    page.keyboard.press("ArrowUp")                     # across the spread, back to the best ask
    assert page.evaluate(active) == ["ask", best_ask]
    while page.evaluate(active)[1] != "64102.25000000":
        page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    price = page.locator("[data-testid=order-form]").get_by_label("Price", exact=True)
    expect(price).to_have_value("64102.25")

    # another user's order redraws the book: the focus stays on 64,102.25
    other = pages.sign_in(pages.new(), funded_user({"BTC": "0.1"}))
    place(other, "Sell", "64101.75", "0.01")
    expect(book.locator(f"{ASKS}[data-price='64101.75000000']")).to_have_count(1)
    assert page.evaluate(active) == ["ask", "64102.25000000"]
    page.keyboard.press("ArrowDown")
    page.keyboard.press(" ")
    expect(price).to_have_value("64101.75")
    screenshot(page, "51-book-level-focused", full_page=False)

    for p in (page, other):
        p.get_by_role("button", name="Cancel all").click()
        p.get_by_role("button", name="Yes, cancel all").click()
        expect(p.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")
