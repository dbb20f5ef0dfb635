"""The portfolio value: every balance (free + locked) valued in USDT at the last price of
its USDT pair, or through BTC, exactly; kept current by the pushed balances and prices,
on the trading view's Balances tab and on the account page."""
from playwright.sync_api import expect

from tests.web.test_trading import place


def test_portfolio_value_follows_trades_and_prices(pages, funded_user):
    seller = pages.sign_in(pages.new(), funded_user({"BTC": "0.01"}))
    buyer = pages.sign_in(pages.new(), funded_user({"USDT": "1000"}))
    buyer.get_by_role("tab", name="Balances").click()
    value = buyer.locator("[data-testid=panel-balances] [data-testid=portfolio-value]")
    expect(value).to_have_text("1,000.00")

    place(seller, "Sell", "65000", "0.001")
    expect(seller.locator("[data-testid=panel-open] tr[data-order-id]")).to_have_count(1)
    place(buyer, "Buy", "65000", "0.001")
    # 935 USDT + 0.000999 BTC (after the 0.1 % fee) x 65,000
    expect(value).to_have_attribute("data-value", "999.93500000")
    expect(value).to_have_text("999.93")

    # a trade between two others moves the last price: the value follows (pushed prices)
    third = pages.sign_in(pages.new(), funded_user({"USDT": "100"}))
    place(seller, "Sell", "66000", "0.001")
    expect(seller.locator("[data-testid=panel-open] tr[data-order-id]")).to_have_count(1)
    place(third, "Buy", "66000", "0.001")
    expect(value).to_have_attribute("data-value", "1000.93400000")   # 935 + 0.000999 x 66,000
    expect(value).to_have_text("1,000.93")

    pages.goto(buyer, "/account")
    expect(buyer.locator("section[aria-labelledby=balances-h] [data-testid=portfolio-value]")).to_have_text("1,000.93")


def test_portfolio_value_is_exact_and_goes_through_btc(pages):
    page = pages.new()
    pages.goto(page, "/trade/BTCUSDT")
    expect(page.locator("#symbol-select")).to_have_value("BTCUSDT")
    got = page.evaluate("""async () => {
      const { portfolioValue } = await import('/js/portfolio.js');
      const symbols = {
        BTCUSDT: { symbol: 'BTCUSDT', base: 'BTC', quote: 'USDT' },
        ETHBTC: { symbol: 'ETHBTC', base: 'ETH', quote: 'BTC' },
        USDTTRY: { symbol: 'USDTTRY', base: 'USDT', quote: 'TRY' },
        DOGEETH: { symbol: 'DOGEETH', base: 'DOGE', quote: 'ETH' },
      };
      const last = { BTCUSDT: '60000.10000000', ETHBTC: '0.05000000', USDTTRY: '40.00000000', DOGEETH: '0.0001' };
      const b = (asset, free, locked = '0') => ({ asset, free, locked });
      return [
        portfolioValue([b('USDT', '0.1', '0.2')], symbols, last),                 // 0.1 + 0.2, no float drift
        portfolioValue([b('BTC', '0.00000001'), b('ETH', '1', '1')], symbols, last),
        portfolioValue([b('TRY', '100'), b('DOGE', '5'), b('USDT', '0')], symbols, last),
        portfolioValue([b('BTC', '1')], symbols, { BTCUSDT: '0.00000000' }),      // never traded: no price
      ];
    }""")
    assert got[0] == {"total": "0.30000000", "unvalued": []}
    # 0.00000001 x 60000.1 = 0.00060000 (truncated); 2 ETH x 0.05 BTC x 60000.1 = 6000.01
    assert got[1] == {"total": "6000.01060000", "unvalued": []}
    # 100 TRY at 1/40 USDT; DOGE has no USDT pair and no BTC pair: not valued
    assert got[2] == {"total": "2.50000000", "unvalued": ["DOGE"]}
    assert got[3] == {"total": "0.00000000", "unvalued": ["BTC"]}
