"""The order form's fee rates (GET /api/v3/account/commission) and the estimated fee of
the order being typed: taker for a market order or a limit order that crosses the book,
maker for a post-only order or one that rests; exact decimals (web/js/dec.js)."""
from playwright.sync_api import expect

from tests.web.test_trading import order_form


def test_fee_rate_and_estimated_fee(pages, funded_user):
    seller = pages.sign_in(pages.new(), funded_user({"BTC": "0.1"}))
    form = order_form(seller)
    fee = form.locator("[data-testid=est-fee]")
    expect(form.locator("[data-testid=fee-rate]")).to_have_text("Maker 0.1% · Taker 0.1%")
    # a resting sell at 63,333.33: the maker rate on what it receives (quote)
    form.locator("fieldset.side label").get_by_text("Sell", exact=True).click()
    form.get_by_label("Price", exact=True).fill("63333.33")
    form.get_by_label("Amount", exact=True).fill("0.0001")
    expect(fee).to_have_text("0.00633333 USDT")        # 63333.33 x 0.0001 x 0.001, truncated, no float drift
    expect(fee).to_have_attribute("data-role", "maker")
    form.get_by_role("button", name="Sell BTC").click()
    expect(seller.locator("[data-testid=panel-open] tr[data-order-id]")).to_have_count(1)

    buyer = pages.sign_in(pages.new(), funded_user({"USDT": "1000"}))
    form = order_form(buyer)
    fee = form.locator("[data-testid=est-fee]")
    expect(buyer.locator(".asks .level[data-price='63333.33000000']")).to_have_count(1)
    # a buy: the fee comes off the BTC received
    form.get_by_label("Price", exact=True).fill("63000")
    form.get_by_label("Amount", exact=True).fill("0.0001")
    expect(fee).to_have_text("0.0000001 BTC")
    expect(fee).to_have_attribute("data-role", "maker")  # below the best ask: it rests
    form.get_by_label("Price", exact=True).fill("63333.33")
    expect(fee).to_have_attribute("data-role", "taker")  # at the best ask: it crosses
    form.get_by_label("Post-only").check()
    expect(fee).to_have_attribute("data-role", "maker")
    form.get_by_label("Post-only").uncheck()
    form.locator("fieldset.type label").get_by_text("Market", exact=True).click()
    expect(fee).to_have_attribute("data-role", "taker")
    expect(fee).to_have_text("0.0000001 BTC")

    # the pure estimate, run in the page: exact where floats drift (0.1 x 0.3 x 0.001)
    got = buyer.evaluate("""async () => {
      const { estimateFee } = await import('/js/orders.js');
      const info = { base: 'BTC', quote: 'USDT' };
      const rates = { maker: '0.00100000', taker: '0.00200000' };
      return [
        estimateFee(info, { type: 'LIMIT', side: 'SELL', price: '0.3', quantity: '0.1' }, rates),
        estimateFee(info, { type: 'MARKET', side: 'BUY', byTotal: true, total: '100' }, rates, { last: '40000' }),
        estimateFee(info, { type: 'LIMIT', side: 'SELL', price: '100', quantity: '1' }, rates, { bid: '100' }),
        estimateFee(info, { type: 'MARKET', side: 'SELL', quantity: '1' }, rates),
      ];
    }""")
    assert got[0] == {"role": "maker", "rate": "0.00100000", "amount": "0.00003000", "asset": "USDT"}
    assert got[1] == {"role": "taker", "rate": "0.00200000", "amount": "0.00000500", "asset": "BTC"}
    assert got[2]["role"] == "taker" and got[2]["amount"] == "0.20000000"
    assert got[3] is None   # a market sell without a last price: nothing to estimate

    seller.get_by_role("button", name="Cancel all").click()
    seller.get_by_role("button", name="Yes, cancel all").click()
    expect(seller.locator("[data-testid=panel-open]")).to_contain_text("No open orders.")
