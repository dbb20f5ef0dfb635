"""The pair list: every symbol with its last price and 24h change from the market
stream (`!miniTicker@arr`, no polling while the socket is live), search, favourites
kept across visits, and a pair's link switching the trading view."""
import re

from playwright.sync_api import expect

from tests.web.conftest import PHONE, screenshot


def test_pair_list_search_favourites_and_switch(pages):
    page = pages.new()
    rest = []
    page.on("request", lambda r: rest.append(r.url) if "/api/v3/ticker/24hr?type=MINI" in r.url else None)
    pages.goto(page, "/trade/BTCUSDT")
    expect(page.locator("[data-testid=stream-status]")).to_have_attribute("data-state", "live")
    page.get_by_role("button", name="Markets").click()
    panel = page.locator("[data-testid=pair-list]")
    rows = panel.locator("tr[data-symbol]")
    expect(rows.filter(has_text="ETH/USDT")).to_have_count(1)
    assert rows.count() >= 3
    eth = panel.locator("tr[data-symbol=ETHUSDT]")      # the market maker trades it
    expect(eth.locator(".pair-last")).to_have_text(re.compile(r"^\d[\d,]*\.\d{2}$"))
    expect(eth.locator(".pair-change")).to_have_text(re.compile(r"^[+-]\d+\.\d{2}%$"))
    expect(eth.locator(".pair-change")).to_have_class(re.compile(r"\b(up|down)\b"))
    # pushed, not polled: several !miniTicker@arr events, one REST read (on connect)
    expect(panel).to_have_attribute("data-events", re.compile(r"^([3-9]|\d\d+)$"), timeout=15_000)
    assert len(rest) == 1, rest

    page.get_by_label("Search pairs").fill("eth")
    expect(rows.filter(has_text="BTC/USDT")).to_have_count(0)
    expect(rows.filter(has_text="ETH/BTC")).to_have_count(1)
    panel.get_by_role("button", name="Favourite ETH/BTC").click()
    expect(panel.get_by_role("button", name="Favourite ETH/BTC")).to_have_attribute("aria-pressed", "true")
    page.get_by_label("Search pairs").fill("")
    panel.get_by_role("button", name="Favourites").click()
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-symbol", "ETHBTC")
    screenshot(page, "60-pair-list", full_page=False)

    page.reload()                                       # kept in localStorage
    page.get_by_role("button", name="Markets").click()
    expect(panel.get_by_role("button", name="Favourite ETH/BTC")).to_have_attribute("aria-pressed", "true")
    panel.get_by_role("link", name="ETH/USDT").click()
    expect(page.locator("#symbol-select")).to_have_value("ETHUSDT")
    expect(panel).to_be_hidden()

    phone = pages.new(PHONE)
    pages.goto(phone, "/trade/ETHUSDT")
    phone.get_by_role("button", name="Markets").click()
    expect(phone.locator("[data-testid=pair-list] tr[data-symbol=ETHUSDT]")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
