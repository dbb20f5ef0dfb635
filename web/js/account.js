// The signed-in user's account: balances (free/locked) and their value in USDT
// (portfolio.js), open orders with cancel, order history and trade history with fees
// by period (history.js), deposits (demo) and withdrawals.  Orders,
// trades and balances follow the user data stream (userfeed.js); deposits and
// withdrawals are read again when a balanceUpdate (or the user's own request) says
// they changed.
import * as api from './api.js';
import { add, div, fmt, isZero, toStr, units } from './dec.js';
import { RangeFilter, inRange, readHistory } from './history.js';
import { explain, numberProblem, showError } from './messages.js';
import { announce, fill, h, table, tabs, time, uid } from './ui.js';
import { PortfolioLine, PriceFeed } from './portfolio.js';
import { UserFeed, UserState } from './userfeed.js';

const STATUS = { NEW: 'Open', PARTIALLY_FILLED: 'Partially filled', FILLED: 'Filled', CANCELED: 'Cancelled',
                 EXPIRED: 'Expired', REJECTED: 'Rejected', PENDING_NEW: 'Pending', EXPIRED_IN_MATCH: 'Expired' };
const TYPE = { LIMIT: 'Limit', MARKET: 'Market', STOP_LOSS_LIMIT: 'Stop-limit', TAKE_PROFIT_LIMIT: 'Stop-limit',
               STOP_LOSS: 'Stop', TAKE_PROFIT: 'Take profit', LIMIT_MAKER: 'Post-only' };
const OTHERS_EVERY = 8;   // while polling: every pair's open orders every 8th read (20 s)
const side = (s) => h(`span.${s === 'BUY' ? 'up' : 'down'}`, {}, s === 'BUY' ? 'Buy' : 'Sell');

export function balancesTable(balances) {
  const rows = balances.map((b) => ({
    attrs: { 'data-asset': b.asset },
    cells: [b.asset, fmt(b.free, 8), fmt(b.locked, 8), fmt(add(b.free, b.locked), 8)],
  }));
  return table('Balances', [{ label: 'Asset' }, { label: 'Available', cls: 'num' }, { label: 'In orders', cls: 'num' },
                            { label: 'Total', cls: 'num' }], rows, 'No balances.', 'balances');
}

export function openOrdersTable(orders, symbols, onCancel) {
  const rows = orders.map((o) => {
    const info = symbols[o.symbol] || { priceDp: 8, qtyDp: 8, base: '', label: o.symbol };
    const what = `${o.side === 'BUY' ? 'buy' : 'sell'} order ${o.orderId}, ${fmt(o.origQty, info.qtyDp)} ${info.base}`
      + ` at ${fmt(o.price, info.priceDp)}`;
    return {
      attrs: { 'data-order-id': String(o.orderId) },
      cells: [time(o.time, true), info.label, TYPE[o.type] || o.type, side(o.side), fmt(o.price, info.priceDp),
              fmt(o.origQty, info.qtyDp), fmt(o.executedQty, info.qtyDp),
              isZero(o.stopPrice) ? '—' : fmt(o.stopPrice, info.priceDp),
              h('button.link-button', { type: 'button', 'aria-label': `Cancel ${what}`,
                                        onclick: (e) => onCancel(o, e.currentTarget) }, 'Cancel')],
    };
  });
  return table('Open orders', [{ label: 'Time' }, { label: 'Pair' }, { label: 'Type' }, { label: 'Side' },
    { label: 'Price', cls: 'num' }, { label: 'Amount', cls: 'num' }, { label: 'Filled', cls: 'num' },
    { label: 'Stop', cls: 'num' }, { label: 'Action' }], rows, 'No open orders.', 'open-orders');
}

export function orderHistoryTable(orders, symbols) {
  const rows = orders.map((o) => {
    const info = symbols[o.symbol] || { priceDp: 8, qtyDp: 8, label: o.symbol };
    const avg = !isZero(o.executedQty) && o.cummulativeQuoteQty
      ? fmt(toStr(div(units(o.cummulativeQuoteQty), units(o.executedQty))), info.priceDp) : '—';
    return {
      attrs: { 'data-order-id': String(o.orderId) },
      cells: [time(o.time, true), info.label, TYPE[o.type] || o.type, side(o.side),
              o.type === 'MARKET' ? 'Market' : fmt(o.price, info.priceDp), avg, fmt(o.origQty, info.qtyDp),
              fmt(o.executedQty, info.qtyDp), STATUS[o.status] || o.status],
    };
  });
  return table('Order history', [{ label: 'Time' }, { label: 'Pair' }, { label: 'Type' }, { label: 'Side' },
    { label: 'Price', cls: 'num' }, { label: 'Average', cls: 'num' }, { label: 'Amount', cls: 'num' },
    { label: 'Filled', cls: 'num' }, { label: 'Status' }], rows, 'No orders yet.', 'order-history');
}

export function tradeHistoryTable(trades, symbols) {
  const rows = trades.map((t) => {
    const info = symbols[t.symbol] || { priceDp: 8, qtyDp: 8, label: t.symbol };
    return {
      attrs: { 'data-trade-id': String(t.id) },
      cells: [time(t.time, true), info.label, side(t.isBuyer ? 'BUY' : 'SELL'), fmt(t.price, info.priceDp),
              fmt(t.qty, info.qtyDp), fmt(t.quoteQty, info.priceDp), `${fmt(t.commission, 8)} ${t.commissionAsset}`,
              t.isMaker ? 'Maker' : 'Taker'],
    };
  });
  return table('Trade history', [{ label: 'Time' }, { label: 'Pair' }, { label: 'Side' }, { label: 'Price', cls: 'num' },
    { label: 'Amount', cls: 'num' }, { label: 'Total', cls: 'num' }, { label: 'Fee', cls: 'num' }, { label: 'Role' }],
  rows, 'No trades yet.', 'trade-history');
}

/** A history table with its period chooser (history.js): `kind` 'orders' | 'trades';
 *  `read(range)` gives the rows of a chosen period, `onRows(rows)` takes them in. */
class HistoryBox {
  constructor(kind, label, { read, onRows }) {
    this.kind = kind;
    this.read = read;
    this.onRows = onRows;
    this.filter = new RangeFilter(label, () => this.chosen());
    this.body = h('div', {}, h('p.empty', {}, 'Loading…'));
    this.el = h('div.history', { 'data-testid': `history-${kind}` }, this.filter.el, this.body);
    this.seq = 0;
  }

  get range() {
    return this.filter.range;
  }

  async chosen() {
    const seq = ++this.seq;
    fill(this.body, h('p.empty', {}, 'Loading…'));
    try {
      const rows = await this.read(this.range);
      if (seq === this.seq) this.onRows(rows);
    } catch (err) {
      if (seq === this.seq) fill(this.body, h('p.error', { role: 'alert' }, explain(err).text));
    }
  }

  /** The rows to show: the state's, within the period (pushed ones included). */
  render(rows, symbols) {
    const shown = rows.filter((r) => inRange(this.range, r.time));
    const [build, empty] = this.kind === 'orders' ? [orderHistoryTable, 'No orders in this period.']
      : [tradeHistoryTable, 'No trades in this period.'];
    const t = build(shown, symbols);
    if (!shown.length && this.range) t.querySelector('td.empty').textContent = empty;
    fill(this.body, t);
  }
}

/** Orders/trades of several symbols, newest first. */
async function acrossSymbols(fn, symbols, key) {
  const lists = await Promise.all(symbols.map((s) => fn(s)));
  return lists.flat().sort((a, b) => b[key] - a[key]);
}

export async function cancel(order, button) {
  button.disabled = true;
  try {
    await api.cancelOrder(order.symbol, order.orderId);
    announce(`Order ${order.orderId} cancelled.`);
    return true;
  } catch (err) {
    announce(`Could not cancel order ${order.orderId}: ${err}`, 'error');
    button.disabled = false;
    return false;
  }
}

/** The state of the user data stream, shown as the market view shows its own. */
function streamStatus(testid, title) {
  return h('span.stream-status', { role: 'status', 'data-testid': testid, 'data-state': 'connecting', title },
    'Connecting…');
}

function showLive(el, live) {
  el.dataset.state = live ? 'live' : 'reconnecting';
  el.textContent = live ? 'Live' : 'Reconnecting…';
}

/** The tabs under the trading view: open orders, order/trade history of the current
 *  symbol, balances (all assets).  Kept current by the user data stream (userfeed.js):
 *  one REST read per (re)connect, REST polling only while the socket is down.
 *  `onBalances` gets the balances whenever they change. */
export class TradingAccount {
  constructor(info, symbols, { onBalances } = {}) {
    this.info = info;
    this.symbols = symbols;
    this.onBalances = onBalances || (() => {});
    this.current = 'open';
    this.panels = {};
    this.hideOthers = localStorage.getItem('exchange.hideOtherPairs') === '1';
    this.reads = 0;
    this.othersRead = false;
    const items = [{ id: 'open', label: 'Open orders (0)' }, { id: 'orders', label: 'Order history' },
                   { id: 'trades', label: 'Trade history' }, { id: 'balances', label: 'Balances' }];
    this.tabs = tabs('Your orders and balances', items, (id) => this.show(id));
    for (const it of items) {
      this.panels[it.id] = h('div.tabpanel', { role: 'tabpanel', id: `panel-${it.id}`, 'aria-labelledby': `tab-${it.id}`,
                                               tabindex: '0', hidden: it.id !== this.current,
                                               'data-testid': `panel-${it.id}` }, h('p.empty', {}, 'Loading…'));
    }
    this.statusEl = streamStatus('user-stream-status', 'Account updates connection');
    this.el = h('section.panel.account-panel', { 'aria-label': 'Your orders and balances' },
      h('div.account-head', {}, this.tabs.el, this.statusEl), Object.values(this.panels));
    this.openTab = this.tabs.el.querySelector('#tab-open');
    this.buildOpenTools();
    this.state = new UserState(info.symbol, 50, { openAll: true });
    this.feed = new UserFeed(this.state, {
      load: () => this.load(),
      onChange: (state, changed) => this.render(changed),
      onStatus: (live) => showLive(this.statusEl, live),
    });
    this.historyShown = new Set();
    this.portfolio = new PortfolioLine(symbols);   // prices: from the market view (setPrices)
    this.history = {};
    for (const [kind, label] of [['orders', 'Order history'], ['trades', 'Trade history']]) {
      this.history[kind] = new HistoryBox(kind, label, {
        read: (range) => this.readHistory(kind, range),
        onRows: (rows) => {
          this.state.setHistory(kind, rows);
          this.historyShown.add(kind);
          this.render(new Set([kind]));
        },
      });
      fill(this.panels[kind], this.history[kind].el);
    }
  }

  readHistory(kind, range) {
    return readHistory(kind, [this.info.symbol], range ?? null, 50);
  }

  /** Every pair's last price (the market view's stream): the portfolio value. */
  setPrices(last) {
    this.portfolio.setPrices(last);
  }

  /** Above the open orders: "Hide other pairs" (kept in localStorage) and "Cancel
   *  all" for this symbol (DELETE /api/v3/openOrders), which asks first. */
  buildOpenTools() {
    const { info } = this;
    const hideId = uid('hide');
    this.hideBox = h('input', { type: 'checkbox', id: hideId, checked: this.hideOthers, onchange: (e) => {
      this.hideOthers = e.target.checked;
      localStorage.setItem('exchange.hideOtherPairs', this.hideOthers ? '1' : '0');
      if (!this.hideOthers && !this.othersRead) this.readOthers();
      this.renderOpen();
    } });
    this.cancelAllBtn = h('button.small', { type: 'button', onclick: () => this.askCancelAll(true) }, 'Cancel all');
    this.confirmEl = h('span.confirm', { role: 'group', 'aria-label': 'Confirm cancel all', hidden: true },
      h('span.confirm-q', { 'data-testid': 'cancel-all-question' }),
      h('button.small.danger', { type: 'button', onclick: () => this.cancelAll() }, 'Yes, cancel all'),
      h('button.small', { type: 'button', onclick: () => this.askCancelAll(false) }, 'Keep them'));
    this.openTools = h('div.open-tools', {},
      h('div.check', {}, this.hideBox, h('label', { for: hideId }, 'Hide other pairs')),
      this.cancelAllBtn, this.confirmEl);
    this.openBody = h('div', {}, h('p.empty', {}, 'Loading…'));
    fill(this.panels.open, this.openTools, this.openBody);
    this.cancelAllBtn.title = `Cancel every open ${info.label} order`;
  }

  /** The other pairs' open orders, once they are to be shown (the stream keeps them). */
  async readOthers() {
    try {
      const all = await api.openOrders();
      this.othersRead = true;
      if (this.state.mergeOpen(all.filter((o) => o.symbol !== this.info.symbol))) this.renderOpen();
    } catch (err) {
      console.warn(err);
    }
  }

  mine() {
    return this.state.openList().filter((o) => o.symbol === this.info.symbol);
  }

  askCancelAll(ask) {
    const n = this.mine().length;
    this.confirmEl.hidden = !ask;
    this.cancelAllBtn.hidden = ask;
    if (ask) {
      this.confirmEl.querySelector('.confirm-q').textContent =
        `Cancel all ${n} open ${this.info.label} order${n === 1 ? '' : 's'}?`;
      this.confirmEl.querySelector('button').focus();
    } else {
      this.cancelAllBtn.focus();
    }
  }

  async cancelAll() {
    const { info } = this;
    const buttons = [...this.confirmEl.querySelectorAll('button')];
    for (const b of buttons) b.disabled = true;
    try {
      const done = await api.cancelOpenOrders(info.symbol);
      announce(`${done.length} ${info.label} order${done.length === 1 ? '' : 's'} cancelled.`);
      this.refreshNow();
    } catch (err) {
      announce(`Could not cancel the ${info.label} orders: ${explain(err).text}`, 'error');
    } finally {
      for (const b of buttons) b.disabled = false;
      this.askCancelAll(false);
    }
  }

  renderOpen() {
    const all = this.state.openList();
    const list = this.hideOthers ? all.filter((o) => o.symbol === this.info.symbol) : all;
    this.openTab.textContent = `Open orders (${list.length})`;
    this.cancelAllBtn.disabled = !this.mine().length;
    fill(this.openBody, openOrdersTable(list, this.symbols, async (o, btn) => {
      if (await cancel(o, btn)) this.refreshNow();
    }));
  }

  show(id) {
    this.current = id;
    for (const [k, p] of Object.entries(this.panels)) p.hidden = k !== id;
    if ((id === 'orders' || id === 'trades') && !this.historyShown.has(id)) this.feed.nudge();
  }

  start() {
    this.feed.start();
  }

  stop() {
    this.feed.stop();
  }

  /** After the user placed or cancelled an order (the stream reports it; polling reads now). */
  refreshNow() {
    this.feed.nudge();
  }

  /** The REST snapshot: on (re)connect everything; while polling, the history only when
   *  its tab is shown (the state keeps the last one otherwise). */
  async load() {
    const sym = this.info.symbol;
    const full = this.feed.live;
    // every pair's open orders cost weight 80 (this symbol's 6): read when they are shown,
    // and while polling only every OTHERS_EVERY reads (this symbol's on each one)
    const others = !this.hideOthers && (full || this.reads++ % OTHERS_EVERY === 0);
    const [account, fresh, orders, trades] = await Promise.all([
      api.account(), others ? api.openOrders() : api.openOrders(sym),
      full || this.current === 'orders' ? this.readHistory('orders', this.history.orders.range) : undefined,
      full || this.current === 'trades' ? this.readHistory('trades', this.history.trades.range) : undefined]);
    if (orders) this.historyShown.add('orders');
    if (trades) this.historyShown.add('trades');
    this.othersRead = others || (this.othersRead && !full);
    const open = others ? fresh : [...fresh, ...this.state.openList().filter((o) => o.symbol !== sym)];
    return { account, open, orders, trades };
  }

  render(changed) {
    const { state } = this;
    if (changed.has('balances')) {
      const balances = state.balanceList();
      this.onBalances(balances);
      this.portfolio.setBalances(balances);
      fill(this.panels.balances, this.portfolio.el, balancesTable(balances));
    }
    if (changed.has('open')) this.renderOpen();
    if (changed.has('orders') && this.historyShown.has('orders')) {
      this.history.orders.render(state.orderList(), this.symbols);
    }
    if (changed.has('trades') && this.historyShown.has('trades')) {
      this.history.trades.render(state.tradeList(), this.symbols);
    }
  }
}

// -- the account page ---------------------------------------------------------------
const DEPOSIT_STATUS = { 0: 'Pending', 1: 'Completed', 6: 'Credited', 7: 'Rejected' };
const WITHDRAW_STATUS = { 2: 'Pending', 3: 'Rejected', 4: 'Processing', 6: 'Completed' };

function amountField(name, label) {
  const id = uid(name);
  return [h('label', { for: id }, label), h('input', { id, name, inputmode: 'decimal', autocomplete: 'off', required: true })];
}

function assetSelect(name, assets) {
  const id = uid(name);
  return [h('label', { for: id }, 'Asset'), h('select', { id, name }, assets.map((a) => h('option', { value: a }, a)))];
}

export class AccountPage {
  constructor(symbols) {
    this.symbols = symbols;
    this.assets = [...new Set(Object.values(symbols).flatMap((s) => [s.base, s.quote]))].sort();
    this.balancesEl = h('div', {}, h('p.empty', {}, 'Loading…'));
    this.openEl = h('div', {}, h('p.empty', {}, 'Loading…'));
    this.history = {};
    for (const [kind, label] of [['orders', 'Order history'], ['trades', 'Trade history']]) {
      this.history[kind] = new HistoryBox(kind, label, {
        read: (range) => readHistory(kind, Object.keys(symbols), range, 100),
        onRows: (rows) => {
          this.state.setHistory(kind, rows);
          this.render(new Set([kind]));
        },
      });
    }
    this.depositsEl = h('div', {}, h('p.empty', {}, 'Loading…'));
    this.withdrawalsEl = h('div', {}, h('p.empty', {}, 'Loading…'));

    const depMsg = h('div.form-status', { role: 'status' });
    const depForm = h('form.inline-form', { 'aria-labelledby': 'deposit-h', onsubmit: async (e) => {
      e.preventDefault();
      const f = e.currentTarget;
      depMsg.textContent = '';
      delete depMsg.dataset.kind;
      const problem = numberProblem(f.amount.value, 'amount');
      if (problem) {
        showError(depMsg, { text: problem });  // before sending: the API would answer with its pattern
        f.amount.focus();
        return;
      }
      try {
        await api.demoDeposit(f.asset.value, f.amount.value.trim());
        depMsg.textContent = `Deposited ${f.amount.value.trim()} ${f.asset.value} (demo).`;
        f.amount.value = '';
        this.afterTransfer();
      } catch (err) {
        if (err.status === 403 || err.status === 404) depMsg.textContent = 'Demo deposits are not available on this exchange.';
        else showError(depMsg, err, 'Deposit refused: ');
      }
    } }, assetSelect('asset', this.assets), amountField('amount', 'Amount'),
    h('button.primary', { type: 'submit' }, 'Deposit (demo)'));

    const wdMsg = h('div.form-status', { role: 'status' });
    const wdForm = h('form.inline-form', { 'aria-labelledby': 'withdraw-h', onsubmit: async (e) => {
      e.preventDefault();
      const f = e.currentTarget;
      wdMsg.textContent = '';
      delete wdMsg.dataset.kind;
      const problem = numberProblem(f.amount.value, 'amount');
      if (problem) {
        showError(wdMsg, { text: problem });
        f.amount.focus();
        return;
      }
      try {
        const r = await api.withdraw(f.asset.value, f.amount.value.trim(), f.address.value.trim());
        wdMsg.textContent = `Withdrawal ${r.id} requested; the funds are held until it is processed.`;
        f.amount.value = '';
        this.afterTransfer();
      } catch (err) {
        showError(wdMsg, err, 'Withdrawal refused: ');
      }
    } }, assetSelect('asset', this.assets), amountField('amount', 'Amount'),
    (() => { const id = uid('addr'); return [h('label', { for: id }, 'Address'),
      h('input', { id, name: 'address', autocomplete: 'off', required: true, pattern: '[A-Za-z0-9:_.\\-]{1,128}' })]; })(),
    h('button.primary', { type: 'submit' }, 'Withdraw'));

    this.statusEl = streamStatus('user-stream-status', 'Account updates connection');
    this.portfolio = new PortfolioLine(symbols);
    this.prices = new PriceFeed(symbols, (last) => this.portfolio.setPrices(last));
    this.state = new UserState(null, 100);
    this.feed = new UserFeed(this.state, {
      load: () => this.load(),
      pollMs: 5000,
      onChange: (state, changed) => this.render(changed),
      onStatus: (live) => showLive(this.statusEl, live),
    });

    const section = (id, title, ...body) => h('section.panel.account-section', { 'aria-labelledby': id },
      h('div.panel-head', {}, h(`h2#${id}`, {}, title)), ...body);
    this.el = h('div.page.account-page', {},
      h('div.page-head', {}, h('h1#view-title', { tabindex: '-1' }, 'Account'), this.statusEl),
      section('balances-h', 'Balances', this.portfolio.el, this.balancesEl),
      section('open-h', 'Open orders', this.openEl),
      section('history-h', 'Order history', this.history.orders.el),
      section('trades-h2', 'Trade history', this.history.trades.el),
      h('div.funds', {},
        section('deposit-h', 'Deposits', depForm, depMsg, this.depositsEl),
        section('withdraw-h', 'Withdrawals', wdForm, wdMsg, this.withdrawalsEl)));
  }

  start() {
    this.feed.start();
    this.prices.start();
  }

  stop() {
    this.feed.stop();
    this.prices.stop();
  }

  /** The REST snapshot of every symbol (on each (re)connect, and the fallback's poll). */
  async load() {
    const syms = Object.keys(this.symbols);
    const [account, open, orders, trades] = await Promise.all([
      api.account(), acrossSymbols(api.openOrders, syms, 'time'),
      readHistory('orders', syms, this.history.orders.range, 100),
      readHistory('trades', syms, this.history.trades.range, 100)]);
    return { account, open, orders, trades };
  }

  /** After the user's own deposit or withdrawal request: its history now (the balances
   *  come by the stream, or by the next poll). */
  afterTransfer() {
    this.loadTransfers();
    this.feed.nudge();
  }

  render(changed) {
    const { state } = this;
    if (changed.has('balances')) {
      this.portfolio.setBalances(state.balanceList());
      fill(this.balancesEl, balancesTable(state.balanceList()));
    }
    if (changed.has('open')) {
      fill(this.openEl, openOrdersTable(state.openList(), this.symbols, async (o, btn) => {
        if (await cancel(o, btn)) this.feed.nudge();
      }));
    }
    if (changed.has('orders')) this.history.orders.render(state.orderList(), this.symbols);
    if (changed.has('trades')) this.history.trades.render(state.tradeList(), this.symbols);
    if (changed.has('transfers')) this.loadTransfers();
  }

  /** Deposit and withdrawal history: read when a balanceUpdate or the user's own
   *  request says it changed (and with every snapshot). */
  loadTransfers() {
    const show = (el, promise, render) => promise.then((v) => fill(el, render(v)))
      .catch((err) => fill(el, h('p.error', { role: 'alert' }, String(err))));
    return Promise.all([
      show(this.depositsEl, api.deposits(), (rows) => table('Deposit history',
        [{ label: 'Time' }, { label: 'Asset' }, { label: 'Amount', cls: 'num' }, { label: 'Status' },
         { label: 'Reference', cls: 'ref' }],
        rows.map((d) => ({ cells: [time(d.insertTime, true), d.coin, fmt(d.amount, 8), DEPOSIT_STATUS[d.status] || d.status,
                                   d.txId] })), 'No deposits yet.', 'deposits')),
      show(this.withdrawalsEl, api.withdrawals(), (rows) => table('Withdrawal history',
        [{ label: 'Time' }, { label: 'Asset' }, { label: 'Amount', cls: 'num' }, { label: 'Address' }, { label: 'Status' }],
        rows.map((w) => ({ cells: [w.applyTime, w.coin, fmt(w.amount, 8), w.address,
                                   WITHDRAW_STATUS[w.status] || w.status] })), 'No withdrawals yet.', 'withdrawals')),
    ]);
  }
}
