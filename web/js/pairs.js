// The pair list: every symbol with its last price and 24h change, a search box,
// favourites (a star, kept in localStorage) and a "Favourites" filter; a pair's link
// switches the trading view (#/trade/SYMBOL).  It opens from the ticker bar, as
// Binance's pair selector does.  Prices come from the market stream the view already
// has open (`!miniTicker@arr`: only the symbols that changed) on top of one REST read
// per (re)connect (market.js feeds both to `update`).
import { fmt, toStr, units } from './dec.js';
import { fill, h } from './ui.js';

const KEY = 'exchange.favourites';

export function favourites() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || '[]');
    return new Set(Array.isArray(list) ? list : []);
  } catch {
    return new Set();
  }
}

/** The 24h change in percent of `last` over `open` (decimal strings), two decimals,
 *  signed ("+1.25", "-0.40"), or null without an open price.  Exact. */
export function changePct(open, last) {
  const o = units(open);
  const c = units(last);
  if (!o || c === null) return null;
  const hundredths = ((c - o) * 10000n) / o;     // of a percent, truncated
  const s = toStr(hundredths, 2, 2);
  return hundredths >= 0n && c >= o ? `+${s}` : (s.startsWith('-') ? s : `-${s}`);
}

export class PairList {
  /** `all`: loadSymbols(); `info`: the symbol shown. */
  constructor(all, info) {
    this.all = all;
    this.info = info;
    this.favs = favourites();
    this.onlyFavs = false;
    this.tickers = {};
    this.events = 0;
    this.build();
  }

  build() {
    this.search = h('input.pair-search', { type: 'search', placeholder: 'Search', 'aria-label': 'Search pairs',
                                           autocomplete: 'off', spellcheck: 'false', oninput: () => this.render() });
    this.filterButtons = [['all', 'All'], ['favs', 'Favourites']].map(([id, label]) => h('button.pair-filter', {
      type: 'button', 'aria-pressed': String(id === 'all'), 'data-filter': id, onclick: () => {
        this.onlyFavs = id === 'favs';
        for (const b of this.filterButtons) b.setAttribute('aria-pressed', String(b.dataset.filter === id));
        this.render();
      } }, label));
    this.body = h('tbody', { role: 'rowgroup' });
    this.panel = h('section.panel.pair-panel#pair-panel', { 'aria-label': 'Markets', 'data-testid': 'pair-list',
                                                            hidden: true, 'data-events': '0' },
      h('div.pair-head', {}, this.search, h('div.pair-filters', { role: 'group', 'aria-label': 'Show' },
        this.filterButtons)),
      h('div.pair-scroll', {}, h('table.data.pair-table', { role: 'table' },
        h('caption.visually-hidden', {}, 'Markets'),
        h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' },
          h('th', { scope: 'col', role: 'columnheader' }, 'Pair'),
          h('th.num', { scope: 'col', role: 'columnheader' }, 'Last price'),
          h('th.num', { scope: 'col', role: 'columnheader' }, '24h change'))),
        this.body)));
    this.toggle = h('button.small.pair-toggle', { type: 'button', 'aria-expanded': 'false',
                                                  'aria-controls': 'pair-panel', onclick: () => this.open(this.panel.hidden) },
      'Markets');
    this.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.open(false);
        this.toggle.focus();
      }
    });
    // a click elsewhere closes it (the path as dispatched: a star re-renders its row)
    this.outside = (e) => {
      const path = e.composedPath();
      if (!this.panel.hidden && !path.includes(this.panel) && !path.includes(this.toggle)) this.open(false);
    };
    document.addEventListener('click', this.outside);
    this.render();
  }

  open(yes) {
    this.panel.hidden = !yes;
    this.toggle.setAttribute('aria-expanded', String(yes));
    if (yes) {
      this.render();
      this.search.focus();
    }
  }

  stop() {
    document.removeEventListener('click', this.outside);
  }

  /** Rows of the REST ticker (MINI) or events of `!miniTicker@arr`. */
  update(rows, pushed = false) {
    for (const r of rows) {
      const s = r.s ?? r.symbol;
      this.tickers[s] = { last: r.c ?? r.lastPrice, open: r.o ?? r.openPrice };
    }
    if (pushed) this.panel.dataset.events = String(++this.events);
    if (!this.panel.hidden) this.render();
  }

  star(symbol) {
    if (this.favs.has(symbol)) this.favs.delete(symbol);
    else this.favs.add(symbol);
    localStorage.setItem(KEY, JSON.stringify([...this.favs]));
    this.render();
  }

  render() {
    const q = this.search.value.trim().toUpperCase().replace(/[^A-Z0-9]/g, '');
    const list = Object.values(this.all).filter((s) => (!this.onlyFavs || this.favs.has(s.symbol))
      && (!q || s.symbol.includes(q)));
    const rows = list.map((s) => {
      const t = this.tickers[s.symbol] || {};
      const traded = units(t.last) ? t.last : null;
      const pct = traded ? changePct(t.open, t.last) : null;
      const fav = this.favs.has(s.symbol);
      const dir = pct === null ? '' : (pct.startsWith('-') ? 'down' : 'up');
      return h('tr', { role: 'row', 'data-symbol': s.symbol, 'aria-current': s.symbol === this.info.symbol ? 'true' : null },
        h('td', { role: 'cell' },
          h('button.star', { type: 'button', 'aria-pressed': String(fav), 'aria-label': `Favourite ${s.label}`,
                             title: fav ? 'Remove from favourites' : 'Add to favourites',
                             onclick: () => this.star(s.symbol) }, fav ? '★' : '☆'),
          h('a.pair-link', { href: `#/trade/${s.symbol}` }, s.label)),
        h('td.num.pair-last', { role: 'cell' }, traded ? fmt(traded, s.priceDp) : '—'),
        h(`td.num.pair-change${dir ? `.${dir}` : ''}`, { role: 'cell' }, pct === null ? '—' : `${pct}%`));
    });
    const empty = this.onlyFavs && !this.favs.size ? 'No favourites yet: star a pair.' : 'No pair matches.';
    fill(this.body, rows.length ? rows
      : h('tr', { role: 'row' }, h('td.empty', { role: 'cell', colspan: '3' }, empty)));
  }
}
