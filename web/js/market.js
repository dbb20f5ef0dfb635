// The market view of one symbol: 24h ticker, candlestick chart with volume, order
// book with depth bars and spread, and the trade tape.  They update from the market
// streams (one `/stream` connection: depth diffs kept as a local order book the way
// Binance documents it, aggTrade, ticker, kline); each REST snapshot is read once per
// (re)connect.  While the socket is down the view says "Reconnecting" and polls the
// REST API instead, until the stream is back.
import {
  CandlestickSeries, ColorType, CrosshairMode, HistogramSeries, createChart,
} from '../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs';
import * as api from './api.js';
import { groupLevels, groupSteps, stepDp } from './book.js';
import { DepthChart } from './depth.js';
import { PairList } from './pairs.js';
import { decimals, fmt, toStr, units } from './dec.js';
import { LocalBook, MarketStream } from './stream.js';
import { every, fill, h, table, time } from './ui.js';

export const INTERVALS = ['1s', '1m', '5m', '15m', '1h', '4h', '1d'];
const TZ_OFFSET_S = new Date().getTimezoneOffset() * 60; // the chart shows local time
const POLL = { depth: 1000, trades: 1500, ticker: 2000, klines: 2000, pairs: 5000 };   // the fallback's periods
// the local book's REST snapshot: every level the matcher publishes (MATCHER_DEPTH_LEVELS,
// 100 a side), at the lowest request weight (5)
const SNAPSHOT_LEVELS = 100;
const TAPE = 40;

// -- symbols and their filters ---------------------------------------------------------
let symbolsPromise = null;

/** {SYMBOL: info} from exchangeInfo, with the filters the order form checks. */
export function loadSymbols() {
  if (!symbolsPromise) {
    symbolsPromise = api.exchangeInfo().then((info) => {
      const out = {};
      for (const s of info.symbols) {
        const f = Object.fromEntries(s.filters.map((x) => [x.filterType, x]));
        const price = f.PRICE_FILTER || {};
        const lot = f.LOT_SIZE || {};
        const mlot = f.MARKET_LOT_SIZE || lot;
        const notional = f.NOTIONAL || f.MIN_NOTIONAL || {};
        out[s.symbol] = {
          symbol: s.symbol, base: s.baseAsset, quote: s.quoteAsset, status: s.status, orderTypes: s.orderTypes,
          label: `${s.baseAsset}/${s.quoteAsset}`,
          tickSize: price.tickSize, minPrice: price.minPrice, maxPrice: price.maxPrice,
          stepSize: lot.stepSize, minQty: lot.minQty, maxQty: lot.maxQty,
          marketStepSize: mlot.stepSize, marketMinQty: mlot.minQty, marketMaxQty: mlot.maxQty,
          minNotional: notional.minNotional, maxNotional: notional.maxNotional,
          applyMinToMarket: notional.applyMinToMarket ?? true, applyMaxToMarket: notional.applyMaxToMarket ?? false,
          priceDp: decimals(price.tickSize || '0.01'), qtyDp: decimals(lot.stepSize || '0.00001'),
        };
      }
      return out;
    }).catch((err) => {
      symbolsPromise = null;
      throw err;
    });
  }
  return symbolsPromise;
}

/** The chart's price axis and labels: the symbol's decimals, thousands grouped. */
export const axisPrice = (dp) => (p) => fmt(Number(p).toFixed(dp), dp);
const BOOK_ROWS = 9;   // a side; the depth chart sits under them

const pct = (text) => {
  const v = String(text ?? '0');
  return `${v.startsWith('-') ? '' : '+'}${fmt(v, 2)}%`;
};

// -- the view --------------------------------------------------------------------------
export class MarketView {
  /** `info`: the symbol's entry from loadSymbols(); `all`: every symbol (switcher);
   *  `onPrice(price)`: a book price was clicked. */
  constructor(info, all, { onPrice, onLast, onTop, onPrices } = {}) {
    this.info = info;
    this.all = all;
    this.onPrice = onPrice || (() => {});
    this.onLast = onLast || (() => {});
    this.onTop = onTop || (() => {});          // best bid and ask (the order form's fee role)
    this.onPrices = onPrices || (() => {});    // every pair's last price (the portfolio value)
    this.wantPrices = !!onPrices;               // polled for it while the stream is down too
    this.interval = sessionStorage.getItem('exchange.interval') || '1m';
    this.pollers = [];
    this.tape = [];
    this.last = null;
    this.lastCandle = null;
    this.build();
  }

  build() {
    const { info } = this;
    const select = h('select#symbol-select', { 'aria-label': 'Market', onchange: (e) => {
      location.hash = `#/trade/${e.target.value}`;
    } }, Object.values(this.all).map((s) => h('option', { value: s.symbol, selected: s.symbol === info.symbol },
                                                   s.label)));
    this.lastEl = h('span.ticker-last', { 'data-testid': 'last-price' }, '—');
    this.stats = h('dl.ticker-stats', {});
    this.pairs = new PairList(this.all, info);
    this.tickerEl = h('section.panel.ticker', { 'aria-label': `${info.label} 24 hour statistics` },
      h('div.ticker-symbol', {},
        h('h1.visually-hidden', { tabindex: '-1', id: 'view-title' }, `${info.label} market`),
        select, this.pairs.toggle),
      this.pairs.panel,
      h('div.ticker-price', {}, this.lastEl, h('span.ticker-change', { 'data-testid': 'change' })),
      this.stats);
    // the stream's state: "Live", or "Reconnecting" while the view polls
    this.statusEl = h('span.stream-status', { role: 'status', 'data-testid': 'stream-status', 'data-state': 'connecting',
                                              title: 'Market data connection' }, 'Connecting…');
    this.tickerEl.append(this.statusEl);

    // chart
    this.intervalButtons = INTERVALS.map((iv) => h('button.iv', {
      type: 'button', 'aria-pressed': String(iv === this.interval), onclick: () => this.setInterval(iv),
    }, iv));
    this.chartEl = h('div.chart', { role: 'img', 'data-testid': 'chart', 'data-candles': '0',
                                     'aria-label': `Candlestick chart of ${info.label}` });
    this.chartPanel = h('section.panel.chart-panel', { 'aria-labelledby': 'chart-h' },
      h('div.panel-head', {}, h('h2#chart-h', {}, 'Chart'),
        h('div.intervals', { role: 'group', 'aria-label': 'Candle interval' }, this.intervalButtons)),
      this.chartEl);

    // order book
    this.asksEl = h('div.book-side.asks', {});
    this.spreadEl = h('div.book-spread', { 'data-testid': 'spread' });
    this.bidsEl = h('div.book-side.bids', {});
    // grouping (the symbol's tick and coarser) and which sides are shown, kept per browser
    this.steps = groupSteps(info.tickSize);
    const savedStep = localStorage.getItem(`exchange.group.${info.symbol}`);
    this.step = this.steps.includes(savedStep) ? savedStep : this.steps[0];
    this.bookView = localStorage.getItem('exchange.bookView') || 'both';
    this.groupSelect = h('select.book-group', { 'aria-label': 'Price grouping', onchange: (e) => {
      this.step = e.target.value;
      localStorage.setItem(`exchange.group.${info.symbol}`, this.step);
      this.redrawBook();
    } }, this.steps.map((st) => h('option', { value: st, selected: st === this.step }, st)));
    const VIEWS = [['both', 'Buy and sell orders'], ['bids', 'Buy orders only'], ['asks', 'Sell orders only']];
    this.viewButtons = VIEWS.map(([v, name]) => h(`button.book-view.v-${v}`, {
      type: 'button', 'aria-label': name, title: name, 'aria-pressed': String(v === this.bookView),
      onclick: () => this.setBookView(v),
    }, h('span', { 'aria-hidden': 'true' })));
    this.depthChart = new DepthChart(info);
    this.bookPanel = h('section.panel.book-panel', { 'aria-labelledby': 'book-h', 'data-testid': 'order-book',
                                                     'data-view': this.bookView },
      h('div.panel-head', {}, h('h2#book-h', {}, 'Order book'),
        h('div.book-tools', {}, h('div.book-views', { role: 'group', 'aria-label': 'Book view' }, this.viewButtons),
          this.groupSelect)),
      h('div.book-cols', { 'aria-hidden': 'true' },
        h('span', {}, `Price (${info.quote})`), h('span', {}, `Amount (${info.base})`), h('span', {}, 'Total')),
      this.asksEl, this.spreadEl, this.bidsEl, this.depthChart.el,
      h('p.visually-hidden#book-level-hint', {}, 'Enter uses this price in the order form; arrow keys move between levels.'));
    this.bookPanel.addEventListener('keydown', (e) => this.keyLevel(e));
    this.bookPanel.addEventListener('focusin', (e) => {
      if (e.target.classList?.contains('level')) this.focusedLevel();
    });

    // trades
    this.tradesEl = h('div.tape', {});
    this.tradesPanel = h('section.panel.trades-panel', { 'aria-labelledby': 'trades-h', 'data-testid': 'trades' },
      h('div.panel-head', {}, h('h2#trades-h', {}, 'Market trades')), this.tradesEl);
  }

  start() {
    this.makeChart();
    const s = this.info.symbol.toLowerCase();
    this.names = { depth: `${s}@depth@100ms`, trades: `${s}@aggTrade`, ticker: `${s}@ticker`,
                   kline: (iv) => `${s}@kline_${iv}`, pairs: '!miniTicker@arr' };
    this.book = new LocalBook(() => api.depth(this.info.symbol, SNAPSHOT_LEVELS), units);
    this.stream = new MarketStream(
      [this.names.depth, this.names.trades, this.names.ticker, this.names.kline(this.interval), this.names.pairs], {
        onStatus: (live) => this.setLive(live),
        onOpen: () => this.snapshots(),
        onEvent: (name, data) => this.onEvent(name, data),
      });
  }

  stop() {
    this.stream?.stop();
    this.pairs.stop();
    this.stopPolling();
    this.chart?.remove();
    this.chart = null;
  }

  // -- the stream, and polling while it is down
  setLive(live) {
    this.statusEl.dataset.state = live ? 'live' : 'reconnecting';
    this.statusEl.textContent = live ? 'Live' : 'Reconnecting…';
    if (live) this.stopPolling();
    else this.startPolling();
  }

  startPolling() {
    if (this.pollers.length) return;
    this.pollers.push(every(POLL.ticker, () => this.loadTicker()));
    this.pollers.push(every(POLL.depth, () => this.loadDepth()));
    this.pollers.push(every(POLL.trades, () => this.loadTrades()));
    // every pair's price: for the pair list while it is open, and for the portfolio value
    this.pollers.push(every(POLL.pairs, () => (this.pairs.panel.hidden && !this.wantPrices ? null : this.loadPairs())));
    this.klinePoller = every(POLL.klines, () => this.loadKlines());
    this.pollers.push(this.klinePoller);
  }

  stopPolling() {
    for (const p of this.pollers) p.stop();
    this.pollers = [];
    this.klinePoller = null;
  }

  /** After each (re)connect: one REST read of what the streams then keep current. */
  snapshots() {
    const quiet = (p) => p.catch((err) => console.warn(err));
    this.resync();
    quiet(this.loadTicker());
    quiet(this.loadTrades());
    quiet(this.loadPairs());
    this.lastCandle = null;
    quiet(this.loadKlines());
  }

  resync() {
    this.book.reset();
    this.book.sync().then((ok) => {
      if (ok === true) this.renderBook();
      else if (ok === false && this.stream?.live) this.resync();
    }).catch((err) => {
      console.warn(err);
      this.stream?.ws?.close();   // reconnect (and poll meanwhile)
    });
  }

  onEvent(name, data) {
    const { names } = this;
    if (name === names.depth) {
      if (!this.book.feed(data)) {     // a gap: Binance's procedure starts over
        this.resync();
        this.book.feed(data);
      } else if (this.book.ready) {
        this.renderBook();
      }
    } else if (name === names.pairs) {
      this.pairs.update(data, true);
      this.onPrices(Object.fromEntries(data.map((t) => [t.s, t.c])));
    } else if (name === names.trades) {
      if (this.tape.length && data.a <= this.tape[0].a) return;
      this.tape = [{ a: data.a, p: data.p, q: data.q, T: data.T, m: data.m }, ...this.tape].slice(0, TAPE);
      this.renderTrades();
    } else if (name === names.ticker) {
      this.renderTicker({ lastPrice: data.c, priceChange: data.p, priceChangePercent: data.P, highPrice: data.h,
                          lowPrice: data.l, volume: data.v, quoteVolume: data.q, count: data.n });
    } else if (name === names.kline(this.interval) && this.lastCandle !== null) {
      const k = data.k;
      this.applyKlines([[k.t, k.o, k.h, k.l, k.c, k.v]], false);
    }
  }

  renderBook() {
    if (this.bookFrame) return;
    this.bookFrame = requestAnimationFrame(() => {
      this.bookFrame = null;
      if (this.book.ready) this.renderDepth(this.book.top(SNAPSHOT_LEVELS));   // all of it: grouping and the depth chart
    });
  }

  grouped() {
    return this.step !== this.steps[0];
  }

  /** After the grouping or the view changed: from the local book, or the last REST read. */
  redrawBook() {
    if (this.stream?.live && this.book?.ready) this.renderBook();
    else if (this.lastDepth) this.renderDepth(this.lastDepth);
  }

  setBookView(v) {
    this.bookView = v;
    localStorage.setItem('exchange.bookView', v);
    this.bookPanel.dataset.view = v;
    for (const b of this.viewButtons) b.setAttribute('aria-pressed', String(b.classList.contains(`v-${v}`)));
    this.redrawBook();
  }

  // -- ticker, and every pair's for the pair list
  async loadPairs() {
    const rows = await api.tickers(Object.keys(this.all));
    this.pairs.update(rows);
    this.onPrices(Object.fromEntries(rows.map((t) => [t.symbol, t.lastPrice])));
  }

  async loadTicker() {
    this.renderTicker(await api.ticker24h(this.info.symbol));
  }

  renderTicker(t) {
    const { priceDp, base, quote, label } = this.info;
    const up = !String(t.priceChange).startsWith('-');
    const has = Number(t.count) > 0;
    this.setLast(has ? t.lastPrice : null);
    const change = this.tickerEl.querySelector('.ticker-change');
    change.textContent = has ? `${fmt(t.priceChange, priceDp)} ${pct(t.priceChangePercent)}` : '';
    change.className = `ticker-change ${up ? 'up' : 'down'}`;
    const stat = (k, v) => h('div', {}, h('dt', {}, k), h('dd', {}, v));
    fill(this.stats,
      stat('24h high', has ? fmt(t.highPrice, priceDp) : '—'),
      stat('24h low', has ? fmt(t.lowPrice, priceDp) : '—'),
      stat(`24h volume (${base})`, fmt(t.volume, this.info.qtyDp)),
      stat(`24h volume (${quote})`, fmt(t.quoteVolume, priceDp)),
      stat('Trades', String(t.count)));
    document.title = has ? `${fmt(t.lastPrice, priceDp)} | ${label} | Exchange` : `${label} | Exchange`;
  }

  setLast(price) {
    if (!price) {
      this.lastEl.textContent = '—';
      return;
    }
    const prev = this.last;
    this.last = price;
    this.lastEl.textContent = fmt(price, this.info.priceDp);
    const inBook = this.spreadEl.querySelector('.spread-last');
    if (inBook) inBook.textContent = this.lastEl.textContent;
    if (prev && prev !== price) {
      this.lastEl.classList.toggle('up', units(price) > units(prev));
      this.lastEl.classList.toggle('down', units(price) < units(prev));
    }
    this.onLast(price);
  }

  // -- order book
  async loadDepth() {
    this.renderDepth(await api.depth(this.info.symbol, SNAPSHOT_LEVELS));
  }

  renderDepth(d) {
    this.lastDepth = d;
    this.onTop(d.bids.length ? d.bids[0][0] : null, d.asks.length ? d.asks[0][0] : null);
    this.depthChart.draw(d);
    // a fixed height (app.css): the panel neither jumps nor stretches; one side shown: twice the rows
    const rows = this.bookView === 'both' ? BOOK_ROWS : 2 * BOOK_ROWS;
    const grouped = this.grouped();
    const side = (levels, name) => (grouped ? groupLevels(levels, this.step, name) : levels).slice(0, rows);
    const asks = side(d.asks, 'asks');
    const bids = side(d.bids, 'bids');
    const { qtyDp } = this.info;
    const priceDp = stepDp(this.step, this.info.priceDp);
    const cum = (levels) => {
      let acc = 0n;
      return levels.map(([p, q]) => {
        acc += units(q);
        return [p, q, acc];
      });
    };
    const a = cum(asks);
    const b = cum(bids);
    const max = [...a, ...b].reduce((m, r) => (r[2] > m ? r[2] : m), 1n);
    // each level a focusable row of a grid: Enter (or a click) uses its price; arrow keys
    // move between levels (keyLevel); one tab stop a side, which follows the focus
    const row = (side) => ([p, q, total]) => h('div.level', {
      role: 'row', 'data-price': p, 'data-side': side, tabindex: '-1', title: `Use price ${fmt(p, priceDp)}`,
      'aria-describedby': 'book-level-hint', style: `--depth:${Number((total * 1000n) / max) / 10}%`,
      onclick: () => this.onPrice(toStr(units(p), this.info.priceDp)),
    }, h('span.price', { role: 'gridcell' }, fmt(p, priceDp)), h('span', { role: 'gridcell' }, fmt(q, qtyDp)),
      h('span', { role: 'gridcell' }, fmt(toStr(total), qtyDp)));
    const labelled = (label, items) => [h('div.visually-hidden', { role: 'row' },
      h('span', { role: 'columnheader' }, 'Price'), h('span', { role: 'columnheader' }, 'Amount'),
      h('span', { role: 'columnheader' }, 'Total')), ...items];
    const focused = this.focusedLevel();
    fill(this.asksEl, a.length ? labelled('asks', a.map(row('ask')).reverse()) : h('p.empty', {}, 'No sell orders'));
    this.asksEl.setAttribute('role', 'grid');
    this.asksEl.setAttribute('aria-label', 'Sell orders (asks)');
    fill(this.bidsEl, b.length ? labelled('bids', b.map(row('bid'))) : h('p.empty', {}, 'No buy orders'));
    this.bidsEl.setAttribute('role', 'grid');
    this.bidsEl.setAttribute('aria-label', 'Buy orders (bids)');
    this.restoreLevelFocus(focused);
    // the spread of the book itself (not of the grouped levels), at the symbol's precision
    const dp = this.info.priceDp;
    const last = h('span.spread-last', {}, this.last ? fmt(this.last, dp) : '');
    if (d.asks.length && d.bids.length) {
      const ask = units(d.asks[0][0]);
      const bid = units(d.bids[0][0]);
      const spread = ask - bid;
      const bps = ask > 0n ? Number((spread * 1000000n) / ask) / 10000 : 0;
      fill(this.spreadEl, last, h('span', {}, `Spread ${fmt(toStr(spread), dp)} (${bps.toFixed(3)}%)`));
    } else {
      fill(this.spreadEl, last, h('span', {}, 'Spread —'));
    }
  }

  /** The level that has the focus (or last had it): {side, price, index}, or null. */
  focusedLevel() {
    const el = document.activeElement;
    const inBook = el && el.classList?.contains('level') && this.bookPanel.contains(el);
    if (inBook) this.activeLevel = { side: el.dataset.side, price: el.dataset.price, index: this.levels().indexOf(el) };
    return inBook ? this.activeLevel : null;
  }

  levels() {
    return [...this.bookPanel.querySelectorAll('.level')].filter((el) => el.getClientRects().length);
  }

  /** After a redraw: the tab stops (the level last focused, else the best of each
   *  side), and the focus back on the same price (or the same place) if it was there. */
  restoreLevelFocus(focused) {
    const all = this.levels();
    const a = this.activeLevel;
    const same = a && all.find((el) => el.dataset.side === a.side && el.dataset.price === a.price);
    const stops = [same || null];
    for (const side of ['ask', 'bid']) {
      if (same?.dataset.side === side) continue;
      const mine = all.filter((el) => el.dataset.side === side);
      stops.push(side === 'ask' ? mine[mine.length - 1] : mine[0]);   // the best: next to the spread
    }
    for (const el of stops) if (el) el.tabIndex = 0;
    if (focused) {
      const to = same || all[Math.min(focused.index, all.length - 1)];
      to?.focus({ preventScroll: true });
    }
  }

  /** Arrow keys, Home/End between the levels (across the spread); Enter or Space uses
   *  the focused level's price, as a click does. */
  keyLevel(e) {
    const el = e.target;
    if (!el.classList?.contains('level')) return;
    const all = this.levels();
    const i = all.indexOf(el);
    let j = null;
    if (e.key === 'ArrowDown') j = Math.min(i + 1, all.length - 1);
    else if (e.key === 'ArrowUp') j = Math.max(i - 1, 0);
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = all.length - 1;
    else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      el.click();
      return;
    }
    if (j === null) return;
    e.preventDefault();
    el.tabIndex = -1;
    all[j].tabIndex = 0;
    all[j].focus();
    this.activeLevel = { side: all[j].dataset.side, price: all[j].dataset.price, index: j };
  }

  // -- trades
  async loadTrades() {
    const trades = await api.aggTrades(this.info.symbol, TAPE);
    this.tape = trades.slice().reverse();
    this.renderTrades();
  }

  renderTrades() {
    const { priceDp, qtyDp, base, quote } = this.info;
    const rows = this.tape.map((t) => ({
      attrs: { class: t.m ? 'sell' : 'buy', 'data-price': t.p, 'data-qty': t.q },
      cells: [h('span.price', {}, fmt(t.p, priceDp)), fmt(t.q, qtyDp), time(t.T)],
    }));
    fill(this.tradesEl, table(`Recent ${this.info.label} trades`, [
      { label: `Price (${quote})` }, { label: `Amount (${base})`, cls: 'num' }, { label: 'Time', cls: 'num' },
    ], rows, 'No trades yet.', 'tape-table'));
  }

  // -- chart
  makeChart() {
    const { priceDp, tickSize } = this.info;
    this.chart = createChart(this.chartEl, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: 'transparent' }, textColor: '#a7b0bd', fontSize: 11,
                attributionLogo: true },
      grid: { vertLines: { color: 'rgba(127,135,150,0.12)' }, horzLines: { color: 'rgba(127,135,150,0.12)' } },
      crosshair: { mode: CrosshairMode.Normal },
      rightPriceScale: { borderColor: 'rgba(127,135,150,0.3)' },
      timeScale: { borderColor: 'rgba(127,135,150,0.3)', timeVisible: true, secondsVisible: this.interval === '1s',
                   barSpacing: 10, rightOffset: 4 },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: '#0ecb81', downColor: '#f6465d', wickUpColor: '#0ecb81', wickDownColor: '#f6465d', borderVisible: false,
      priceFormat: { type: 'custom', minMove: Number(tickSize || '0.01'), formatter: axisPrice(priceDp) },
    });
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.28 } });
    this.volume = this.chart.addSeries(HistogramSeries, { priceFormat: { type: 'volume' }, priceScaleId: 'vol',
                                                          lastValueVisible: false, priceLineVisible: false });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
    this.lastCandle = null;
  }

  setInterval(iv) {
    if (iv === this.interval) return;
    this.prevInterval = this.interval;
    this.interval = iv;
    sessionStorage.setItem('exchange.interval', iv);
    for (const b of this.intervalButtons) b.setAttribute('aria-pressed', String(b.textContent === iv));
    this.chart.applyOptions({ timeScale: { secondsVisible: iv === '1s' } });
    this.lastCandle = null;
    this.candles.setData([]);
    this.volume.setData([]);
    if (this.stream?.live) {
      this.stream.replace(this.names.kline(this.prevInterval), this.names.kline(iv));
      this.loadKlines().catch((err) => console.warn(err));
    } else {
      this.klinePoller?.now();
    }
  }

  static bar(k) {
    const t = k[0] / 1000 - TZ_OFFSET_S;
    const up = Number(k[4]) >= Number(k[1]);
    return [
      { time: t, open: Number(k[1]), high: Number(k[2]), low: Number(k[3]), close: Number(k[4]) },
      { time: t, value: Number(k[5]), color: up ? 'rgba(14,203,129,0.45)' : 'rgba(246,70,93,0.45)' },
    ];
  }

  async loadKlines() {
    const iv = this.interval;
    const full = this.lastCandle === null;
    const ks = await api.klines(this.info.symbol, iv, full ? 500 : 3);
    if (iv !== this.interval || !this.chart) return;
    this.applyKlines(ks, full);
  }

  applyKlines(ks, full) {
    const iv = this.interval;
    if (!this.chart) return;
    if (full) {
      const bars = ks.map(MarketView.bar);
      this.candles.setData(bars.map((b) => b[0]));
      this.volume.setData(bars.map((b) => b[1]));
      this.count = bars.length;
      if (bars.length) this.chart.timeScale().scrollToRealTime();
    } else {
      for (const k of ks) {
        if (k[0] < this.lastCandle) continue;
        const [c, v] = MarketView.bar(k);
        if (k[0] > this.lastCandle) this.count += 1;
        this.candles.update(c);
        this.volume.update(v);
      }
    }
    if (ks.length) this.lastCandle = Math.max(this.lastCandle ?? 0, ks[ks.length - 1][0]);
    else this.lastCandle = this.lastCandle ?? 0;
    this.chartEl.dataset.candles = String(this.count || 0);
    const lastClose = ks.length ? fmt(ks[ks.length - 1][4], this.info.priceDp) : 'no trades yet';
    this.chartEl.setAttribute('aria-label',
      `Candlestick chart of ${this.info.label}, ${iv} candles, ${this.count || 0} shown; last close ${lastClose}`);
  }
}
