// The signed-in user's orders, trades and balances as the views show them, kept current
// by the user data stream (userstream.js) the way Binance documents it: subscribe, then
// read the REST snapshot once, then apply every event on top of it.  Events that arrive
// while the snapshot is being read are held and applied after it, in order.  While the
// socket is down the feed polls the REST snapshot instead (and says so: `onStatus`),
// until the stream is back.
import { signedUnits, toStr, units } from './dec.js';
import { every } from './ui.js';
import { UserStream } from './userstream.js';

const OPEN = new Set(['NEW', 'PARTIALLY_FILLED', 'PENDING_NEW']);

/** An executionReport as the REST API renders the order (GET /api/v3/order). */
export function orderOf(ev) {
  return {
    symbol: ev.s, orderId: ev.i, clientOrderId: ev.X === 'CANCELED' && ev.C ? ev.C : ev.c, price: ev.p,
    origQty: ev.q, executedQty: ev.z, cummulativeQuoteQty: ev.Z, status: ev.X, timeInForce: ev.f, type: ev.o,
    side: ev.S, stopPrice: ev.P, time: ev.O, updateTime: ev.T ?? ev.E, origQuoteOrderQty: ev.Q,
  };
}

/** A fill of an executionReport as GET /api/v3/myTrades renders it. */
export function tradeOf(ev) {
  return {
    symbol: ev.s, id: ev.t, orderId: ev.i, price: ev.L, qty: ev.l, quoteQty: ev.Y, commission: ev.n,
    commissionAsset: ev.N, time: ev.T, isBuyer: ev.S === 'BUY', isMaker: ev.m,
  };
}

/** The state itself, pure: `reset(snapshot)`, then `apply(event)` (returns the names of
 *  what changed: balances, open, orders, trades, transfers).  `symbol`: only that
 *  symbol's orders (the trading view), or null for every symbol (the account page);
 *  `openAll`: the open orders of every symbol even so (the trading view's "Hide other
 *  pairs" is the user's choice, as on Binance). */
export class UserState {
  constructor(symbol = null, limit = 100, { openAll = false } = {}) {
    this.symbol = symbol;
    this.limit = limit;
    this.openAll = openAll;
    this.reset({ account: { balances: [], updateTime: 0 }, open: [], orders: [], trades: [] });
  }

  reset({ account, open, orders, trades }) {
    this.balances = new Map(account.balances.map((b) => [b.asset, { ...b }]));
    this.balanceTime = account.updateTime || 0;
    this.open = new Map(open.map((o) => [`${o.symbol}:${o.orderId}`, o]));   // ids are per symbol
    // a snapshot without history (the trading view polls it only while its tab is shown) keeps the last
    if (orders) this.orders = new Map(orders.map((o) => [`${o.symbol}:${o.orderId}`, o]));
    if (trades) this.trades = new Map(trades.map((t) => [`${t.symbol}:${t.id}`, t]));
  }

  apply(ev) {
    const changed = new Set();
    if (ev.e === 'executionReport') {
      const other = this.symbol && ev.s !== this.symbol;
      if (other && !this.openAll) return changed;
      const o = orderOf(ev);
      const key = `${o.symbol}:${o.orderId}`;
      if (OPEN.has(o.status)) this.open.set(key, { ...this.open.get(key), ...o });
      else this.open.delete(key);
      if (other) return changed.add('open');
      this.orders.set(key, { ...this.orders.get(key), ...o });
      changed.add('open').add('orders');
      if (ev.x === 'TRADE') {
        this.trades.set(`${ev.s}:${ev.t}`, tradeOf(ev));   // a repeated event is the same trade
        changed.add('trades');
      }
    } else if (ev.e === 'outboundAccountPosition') {
      if (ev.u < this.balanceTime) return changed;          // older than the snapshot
      for (const b of ev.B) this.balances.set(b.a, { asset: b.a, free: b.f, locked: b.l });
      changed.add('balances');
    } else if (ev.e === 'balanceUpdate') {
      changed.add('transfers');
      if (ev.T <= this.balanceTime) return changed;         // already in the snapshot
      const b = this.balances.get(ev.a) || { asset: ev.a, free: '0', locked: '0' };
      const free = (units(b.free) ?? 0n) + (signedUnits(ev.d) ?? 0n);
      this.balances.set(ev.a, { ...b, free: toStr(free) });
      this.balanceTime = Math.max(this.balanceTime, ev.T);  // the position that follows may repeat it
      changed.add('balances');
    }
    return changed;
  }

  /** Open orders read outside a snapshot (other pairs'): added unless already known
   *  (an event about them is newer).  true if any was added. */
  mergeOpen(orders) {
    let added = false;
    for (const o of orders) {
      const key = `${o.symbol}:${o.orderId}`;
      if (!this.open.has(key)) {
        this.open.set(key, o);
        added = true;
      }
    }
    return added;
  }

  /** The history read for a chosen period (history.js) in place of the last one. */
  setHistory(kind, rows) {
    if (kind === 'orders') this.orders = new Map(rows.map((o) => [`${o.symbol}:${o.orderId}`, o]));
    else this.trades = new Map(rows.map((t) => [`${t.symbol}:${t.id}`, t]));
  }

  balanceList() {
    return [...this.balances.values()].sort((a, b) => (a.asset < b.asset ? -1 : 1));
  }

  openList() {
    return [...this.open.values()].sort((a, b) => b.time - a.time);
  }

  orderList() {
    return [...this.orders.values()].sort((a, b) => b.time - a.time || b.orderId - a.orderId).slice(0, this.limit);
  }

  tradeList() {
    return [...this.trades.values()].sort((a, b) => b.time - a.time || b.id - a.id).slice(0, this.limit);
  }
}

const ALL = ['balances', 'open', 'orders', 'trades', 'transfers'];

/** The stream, the snapshot and the fallback together.  `load()`: the REST snapshot,
 *  {account, open, orders, trades}; `onChange(state, changedNames)`; `onStatus(live)`. */
export class UserFeed {
  constructor(state, { load, pollMs = 2500, onChange, onStatus } = {}) {
    this.state = state;
    this.load = load;
    this.pollMs = pollMs;
    this.onChange = onChange || (() => {});
    this.onStatus = onStatus || (() => {});
    this.held = null;        // events that came while the snapshot was read
    this.generation = 0;
  }

  start() {
    this.stream = new UserStream({
      onStatus: (live) => this.setLive(live),
      onOpen: () => this.resync(),
      onEvent: (ev) => this.event(ev),
    });
  }

  stop() {
    this.stream?.stop();
    this.poller?.stop();
    this.poller = null;
  }

  get live() {
    return !!this.stream?.live;
  }

  setLive(live) {
    this.onStatus(live);
    if (live) {
      this.poller?.stop();
      this.poller = null;
    } else if (!this.poller) {
      this.held = null;
      this.poller = every(this.pollMs, () => this.reload());
    }
  }

  /** After each (re)connect: the snapshot once, then the events held meanwhile. */
  async resync() {
    const gen = ++this.generation;
    this.held = [];
    try {
      const snap = await this.load();
      if (gen !== this.generation || !this.live) return;
      this.state.reset(snap);
      const held = this.held || [];
      this.held = null;
      for (const ev of held) this.state.apply(ev);
      this.onChange(this.state, new Set(ALL));
    } catch (err) {
      console.warn('user data re-sync failed:', String(err));
      if (gen === this.generation) this.stream?.restart();   // reconnect (and poll meanwhile)
    }
  }

  /** The fallback's read (and the one after the user's own action while polling). */
  async reload() {
    const gen = ++this.generation;
    const snap = await this.load();
    if (gen !== this.generation) return;
    this.state.reset(snap);
    this.onChange(this.state, new Set(ALL));
  }

  event(ev) {
    if (this.held) {
      this.held.push(ev);
      return;
    }
    const changed = this.state.apply(ev);
    if (changed.size) this.onChange(this.state, changed);
  }

  /** After the user placed or cancelled an order: pushed events will tell; while
   *  polling, read now instead of at the next tick. */
  nudge() {
    if (!this.live) this.poller?.now();
  }
}
