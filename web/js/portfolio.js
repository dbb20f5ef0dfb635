// The portfolio value: every balance (free + locked) valued in USDT at the last price
// of its USDT pair (ASSETUSDT, or USDTASSET inverted), or through BTC (ASSETBTC x
// BTC's USDT price) for an asset without one — exactly, in BigInt units, truncated.
// Prices come from `!miniTicker@arr` (every pair's last price, pushed) on top of one
// REST read per (re)connect: the trading view's market stream feeds them, the account
// page keeps a PriceFeed of its own.
import * as api from './api.js';
import { div, fmt, mul, toStr, units } from './dec.js';
import { MarketStream } from './stream.js';
import { every, h } from './ui.js';

export const VALUE_ASSET = 'USDT';
const BRIDGE = 'BTC';
const POLL_MS = 10000;   // the fallback's period while the socket is down

/** The USDT price (units) of `asset` from last prices {SYMBOL: decimal string}, or null. */
export function priceOf(asset, symbols, last) {
  if (asset === VALUE_ASSET) return units('1');
  const pair = (base, quote) => {
    const s = Object.values(symbols).find((x) => x.base === base && x.quote === quote);
    const p = s ? units(last[s.symbol] || '') : null;
    return p || null;   // no trade yet: no price
  };
  const direct = pair(asset, VALUE_ASSET);
  if (direct) return direct;
  const inverse = pair(VALUE_ASSET, asset);
  if (inverse) return div(units('1'), inverse);
  if (asset === BRIDGE) return null;
  const viaBridge = pair(asset, BRIDGE);
  const bridge = viaBridge ? priceOf(BRIDGE, symbols, last) : null;
  return viaBridge && bridge ? mul(viaBridge, bridge) : null;
}

/** {total, unvalued}: the balances' value in USDT (8 decimals) and the assets held that
 *  have no price yet.  `balances`: [{asset, free, locked}].  Pure. */
export function portfolioValue(balances, symbols, last) {
  let total = 0n;
  const unvalued = [];
  for (const b of balances) {
    const held = (units(b.free) ?? 0n) + (units(b.locked) ?? 0n);
    if (!held) continue;
    const price = priceOf(b.asset, symbols, last);
    if (price === null) unvalued.push(b.asset);
    else total += mul(held, price);
  }
  return { total: toStr(total), unvalued };
}

/** The "Estimated value" line; `render(balances, last)` keeps it current. */
export class PortfolioLine {
  constructor(symbols) {
    this.symbols = symbols;
    this.valueEl = h('output', { 'data-testid': 'portfolio-value' }, '—');
    this.noteEl = h('span.portfolio-note', {});
    this.el = h('p.portfolio', { title: `Balances valued in ${VALUE_ASSET} at the last prices` },
      h('span', {}, 'Estimated value '), h('span.portfolio-amount', {}, '≈ ', this.valueEl, ` ${VALUE_ASSET}`),
      this.noteEl);
    this.balances = null;
    this.last = {};
  }

  setBalances(balances) {
    this.balances = balances;
    this.render();
  }

  setPrices(last) {
    this.last = { ...this.last, ...last };
    this.render();
  }

  render() {
    if (!this.balances) return;
    const { total, unvalued } = portfolioValue(this.balances, this.symbols, this.last);
    this.valueEl.textContent = fmt(total, 2);
    this.valueEl.dataset.value = total;
    this.noteEl.textContent = unvalued.length ? ` (without ${unvalued.join(', ')}: no price yet)` : '';
  }
}

/** Every pair's last price for a page without a market view (the account page):
 *  `!miniTicker@arr` pushed, one REST read per (re)connect, polled while it is down. */
export class PriceFeed {
  constructor(symbols, onPrices) {
    this.symbols = symbols;
    this.onPrices = onPrices;
  }

  start() {
    this.stream = new MarketStream(['!miniTicker@arr'], {
      onOpen: () => this.read().catch((err) => console.warn(err)),
      onEvent: (name, data) => this.onPrices(Object.fromEntries(data.map((t) => [t.s, t.c]))),
      onStatus: (live) => {
        if (live) {
          this.poller?.stop();
          this.poller = null;
        } else if (!this.poller) {
          this.poller = every(POLL_MS, () => this.read());
        }
      },
    });
  }

  async read() {
    const rows = await api.tickers(Object.keys(this.symbols));
    this.onPrices(Object.fromEntries(rows.map((t) => [t.symbol, t.lastPrice])));
  }

  stop() {
    this.stream?.stop();
    this.poller?.stop();
  }
}
