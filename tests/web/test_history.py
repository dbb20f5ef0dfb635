"""Order and trade history by period: presets (1 day, 1 week, 1 month) and custom dates,
read as Binance allows (allOrders/myTrades with startTime and endTime under 24 h apart,
newest window first); pushed orders join a period that runs to now."""
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from tests.web.test_trading import place

DAY_MS = 86_400_000


def windows_sent(urls: list[str]) -> list[tuple[int, int]]:
    out = []
    for u in urls:
        q = parse_qs(urlparse(u).query)
        out.append((int(q["startTime"][0]), int(q["endTime"][0])))
    return out


def test_history_by_period_in_the_trading_view(pages, funded_user):
    page = pages.sign_in(pages.new(), funded_user({"USDT": "1000"}))
    place(page, "Buy", "40000", "0.001")
    tab = page.locator("[data-testid=panel-orders]")
    page.get_by_role("tab", name="Order history").click()
    rows = tab.locator("tr[data-order-id]")
    expect(rows).to_have_count(1)

    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/api/v3/allOrders" in r.url else None)
    period = tab.get_by_label("Period")
    expect(period.locator("option")).to_have_text(["Latest", "1 day", "1 week", "1 month", "Custom"])
    period.select_option("1w")
    expect(rows).to_have_count(1)
    # seven windows, newest first, each under 24 h, end to end
    wins = windows_sent(sent)
    assert len(wins) == 7, wins
    assert all(0 <= e - s < DAY_MS for s, e in wins)
    assert all(wins[i + 1][1] == wins[i][0] - 1 for i in range(6))
    assert wins[0][1] - wins[-1][0] == 7 * DAY_MS - 1

    # a pushed order joins the period (it runs to now)
    place(page, "Buy", "40001", "0.001")
    expect(rows).to_have_count(2)

    # custom dates: checked, then a past month shows nothing (and a new order stays out)
    period.select_option("custom")
    frm, to = tab.get_by_label("From", exact=True), tab.get_by_label("To", exact=True)
    expect(frm).to_be_focused()
    today = date.today()
    frm.fill((today - timedelta(days=40)).isoformat())
    to.fill((today - timedelta(days=1)).isoformat())
    tab.get_by_role("button", name="Apply").click()
    expect(tab.locator("[data-testid=history-range-error]")).to_have_text("Choose at most 31 days.")
    frm.fill((today - timedelta(days=1)).isoformat())
    to.fill((today - timedelta(days=2)).isoformat())
    tab.get_by_role("button", name="Apply").click()
    expect(tab.locator("[data-testid=history-range-error]")).to_have_text(
        "The start date must not be after the end date.")
    sent.clear()
    frm.fill((today - timedelta(days=30)).isoformat())
    to.fill((today - timedelta(days=1)).isoformat())
    tab.get_by_role("button", name="Apply").click()
    expect(tab).to_contain_text("No orders in this period.")
    assert len(sent) == 30 and all(e - s < DAY_MS for s, e in windows_sent(sent))
    place(page, "Buy", "40002", "0.001")
    expect(page.locator("[data-testid=panel-open] tr[data-order-id]")).to_have_count(3)
    expect(rows).to_have_count(0)

    # trade history has its own period; today's trades with "1 day"
    seller = pages.sign_in(pages.new(), funded_user({"BTC": "0.01"}))
    place(seller, "Sell", "40002", "0.001")
    # the buyer's 40,002 order filled (it leaves the open orders): the trade is settled before the read
    expect(page.locator("[data-testid=panel-open] tr[data-order-id]")).to_have_count(2, timeout=20_000)
    page.get_by_role("tab", name="Trade history").click()
    trades = page.locator("[data-testid=panel-trades]")
    trades.get_by_label("Period").select_option("1d")
    expect(trades.locator("tr[data-trade-id]")).to_have_count(1)
    expect(trades.locator("tr[data-trade-id]")).to_contain_text("40,002.00")
    page.get_by_role("tab", name="Order history").click()
    period.select_option("latest")
    expect(rows).to_have_count(3)

    # the account page: every pair, the same chooser
    page.get_by_role("tab", name=re.compile("^Open orders")).click()
    page.get_by_role("button", name="Cancel all").click()
    page.get_by_role("button", name="Yes, cancel all").click()
    expect(page.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")
    pages.goto(page, "/account")
    history = page.locator("[data-testid=history-orders]")
    expect(history.locator("tr[data-order-id]")).to_have_count(3)
    history.get_by_label("Period").select_option("1d")
    expect(history.locator("tr[data-order-id]")).to_have_count(3)
    expect(history.locator("tr[data-order-id]").first).to_contain_text(re.compile("Filled|Cancelled"))


def test_history_windows_are_24h_newest_first(pages):
    page = pages.new()
    pages.goto(page, "/trade/BTCUSDT")
    expect(page.locator("#symbol-select")).to_have_value("BTCUSDT")
    got = page.evaluate("""async () => {
      const { windows, readRange } = await import('/js/history.js');
      const DAY = 86400000;
      const calls = [];
      // 2500 rows a minute apart over two days; a read gives at most 1000, oldest first
      const all = Array.from({ length: 2500 }, (_, i) => ({ id: i, time: 1000 + i * 60000 }));
      const read = async (s, e) => {
        calls.push([s, e]);
        return all.filter((r) => r.time >= s && r.time <= e).slice(0, 1000);
      };
      const newest = await readRange(read, 0, 2 * DAY - 1, 5, (r) => r.id);
      const every = await readRange(read, 0, 2 * DAY - 1, 5000, (r) => r.id);
      return { w: windows(0, 3 * DAY - 1), w2: windows(5, DAY + 4), newest: newest.map((r) => r.id),
               count: every.length, calls: calls.length };
    }""")
    assert got["w"] == [[2 * DAY_MS, 3 * DAY_MS - 1], [DAY_MS, 2 * DAY_MS - 1], [0, DAY_MS - 1]]
    assert got["w2"] == [[5, DAY_MS + 4]]
    assert got["newest"] == [2499, 2498, 2497, 2496, 2495]
    assert got["count"] == 2500      # full windows paged on from their last row's time
