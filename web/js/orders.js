// Order entry: buy/sell, limit (or post-only: LIMIT_MAKER)/market (by amount, or a
// market buy by total: quoteOrderQty)/stop-limit, time in force; the price starts at
// the last price or a clicked book level; checked against the
// symbol's filters (PRICE_FILTER, LOT_SIZE / MARKET_LOT_SIZE, NOTIONAL) before it is
// sent, and the API's own message shown when it refuses the order.  It shows the
// account's maker/taker rates on the pair and the estimated fee of the order typed.  On
// a phone it is a sheet that the trading view's Buy/Sell bar opens (app.js, app.css).
import * as api from './api.js';
import * as auth from './auth.js';
import { ONE_UNIT, div, fmt, fmtTrim, mul, percent, toStr, units } from './dec.js';
import { numberProblem, orderNotPlaced, showError as showApiError } from './messages.js';
import { h, uid } from './ui.js';

const TYPES = [
  { id: 'LIMIT', label: 'Limit' },
  { id: 'MARKET', label: 'Market' },
  { id: 'STOP_LIMIT', label: 'Stop-limit' },
];

/** The problems of an order against the symbol's filters, and against the balance
 *  when `o.free` (the available balance of what the order spends) is known:
 *  {field: message}.  Pure. */
export function validate(info, o, lastPrice) {
  const errs = {};
  const priceDp = info.priceDp;
  const checkPrice = (field, text, name) => {
    const p = units(text);
    const min = units(info.minPrice);
    const max = units(info.maxPrice);
    const tick = units(info.tickSize);
    const problem = numberProblem(text, name);
    if (problem) errs[field] = problem;
    else if (min && p < min) errs[field] = `${cap(name)} must be at least ${fmt(info.minPrice, priceDp)} ${info.quote}.`;
    else if (max && p > max) errs[field] = `${cap(name)} must be at most ${fmt(info.maxPrice, priceDp)} ${info.quote}.`;
    else if (tick && (p - (min || 0n)) % tick !== 0n) errs[field] = `${cap(name)} must be a multiple of ${toStr(tick, priceDp)}.`;
    return errs[field] ? null : p;
  };
  const market = o.type === 'MARKET';
  const price = market ? null : checkPrice('price', o.price, 'price');
  if (o.type === 'STOP_LIMIT') checkPrice('stopPrice', o.stopPrice, 'stop price');

  if (market && o.byTotal) return validateTotal(info, o, errs);
  const qtyText = String(o.quantity || '').trim();
  let qty = null;
  const qtyProblem = numberProblem(qtyText, 'amount');
  if (qtyProblem) errs.quantity = qtyProblem;
  else {
    qty = units(qtyText);
    const [minT, maxT, stepT] = market ? [info.marketMinQty, info.marketMaxQty, info.marketStepSize]
                                       : [info.minQty, info.maxQty, info.stepSize];
    const min = units(minT);
    const max = units(maxT);
    const step = units(stepT);
    if (min && qty < min) errs.quantity = `Amount must be at least ${fmt(minT, info.qtyDp)} ${info.base}.`;
    else if (max && qty > max) errs.quantity = `Amount must be at most ${fmt(maxT, info.qtyDp)} ${info.base}.`;
    else if (step && step > 0n && (qty - (min || 0n)) % step !== 0n) {
      errs.quantity = `Amount must be a multiple of ${toStr(step, info.qtyDp)} ${info.base}.`;
    }
  }
  if (!errs.quantity && qty !== null) {
    const ref = market ? units(lastPrice || '') : price;
    if (ref && !errs.price) {
      const notional = mul(ref, qty);
      const minN = units(info.minNotional);
      const maxN = units(info.maxNotional);
      const checkMin = !market || info.applyMinToMarket;
      const checkMax = !market || info.applyMaxToMarket;
      if (checkMin && minN && notional < minN) {
        errs.quantity = `Order value must be at least ${fmt(info.minNotional, priceDp)} ${info.quote}.`;
      } else if (checkMax && maxN && notional > maxN) {
        errs.quantity = `Order value must be at most ${fmt(info.maxNotional, priceDp)} ${info.quote}.`;
      }
    }
  }
  const free = o.free === undefined || o.free === null ? null : units(o.free);
  if (!errs.quantity && qty !== null && free !== null) {
    // what the order spends: the base amount of a sell, the price times amount of a buy
    // (at the last price for a market buy, which the server checks again at the fill)
    const sell = o.side === 'SELL';
    const ref = o.type === 'MARKET' ? units(lastPrice || '') : price;
    const spend = sell ? qty : (ref ? mul(ref, qty) : null);
    if (spend !== null && spend > free) {
      const asset = sell ? info.base : info.quote;
      errs.quantity = `Not enough ${asset}: available ${fmt(o.free, sell ? info.qtyDp : priceDp)}`;
    }
  }
  return errs;
}

const cap = (s) => s[0].toUpperCase() + s.slice(1);

/** A market buy by total (quoteOrderQty): the total is what the NOTIONAL filter and
 *  the available quote balance apply to. */
function validateTotal(info, o, errs) {
  const text = String(o.total || '').trim();
  const problem = numberProblem(text, 'total');
  if (problem) errs.total = problem;
  else if (units(text, info.priceDp) === null) errs.total = `Total can have at most ${info.priceDp} decimals.`;
  else {
    const total = units(text);
    const minN = units(info.minNotional);
    const maxN = units(info.maxNotional);
    const free = o.free === undefined || o.free === null ? null : units(o.free);
    if (info.applyMinToMarket && minN && total < minN) {
      errs.total = `Total must be at least ${fmt(info.minNotional, info.priceDp)} ${info.quote}.`;
    } else if (info.applyMaxToMarket && maxN && total > maxN) {
      errs.total = `Total must be at most ${fmt(info.maxNotional, info.priceDp)} ${info.quote}.`;
    } else if (free !== null && total > free) {
      errs.total = `Not enough ${info.quote}: available ${fmt(o.free, info.priceDp)}`;
    }
  }
  return errs;
}

/** The Binance order type of a stop-limit order: a stop that triggers when the price
 *  moves against you is STOP_LOSS_LIMIT, one that triggers in your favour TAKE_PROFIT_LIMIT. */
export function stopLimitType(side, stopPrice, lastPrice) {
  const stop = units(stopPrice);
  const last = units(lastPrice || '');
  if (!last || stop === null) return 'STOP_LOSS_LIMIT';
  if (side === 'BUY') return stop >= last ? 'STOP_LOSS_LIMIT' : 'TAKE_PROFIT_LIMIT';
  return stop <= last ? 'STOP_LOSS_LIMIT' : 'TAKE_PROFIT_LIMIT';
}

/** The fee an order would pay, estimated exactly (BigInt units, truncated):
 *  {role, rate, amount, asset} or null while something it needs is missing.  The fee is
 *  taken from what the order receives (a buy's base asset, a sell's quote asset), at the
 *  taker rate for a market order, a limit order that would cross the book (`top`: best
 *  bid/ask) and a stop-limit (worst case: it may cross when it triggers), at the maker
 *  rate for a post-only order or a limit order that rests.  `rates`: {maker, taker} as
 *  GET /api/v3/account/commission gives them.  Pure. */
export function estimateFee(info, o, rates, { last = null, bid = null, ask = null } = {}) {
  if (!rates) return null;
  const buy = o.side === 'BUY';
  let role = 'taker';
  if (o.type === 'LIMIT') {
    const p = units(o.price);
    const crosses = p !== null && (buy ? (ask && p >= units(ask)) : (bid && p <= units(bid)));
    role = o.postOnly || !crosses ? 'maker' : 'taker';
  }
  const rate = units(rates[role]);
  if (rate === null) return null;
  const price = units((o.type === 'MARKET' ? last : o.price) || '');
  let received;                   // what the order receives, before the fee
  if (o.type === 'MARKET' && o.byTotal) {
    const total = units(o.total);
    if (!total || !price) return null;
    received = div(total, price);   // base bought at about the last price
  } else {
    const qty = units(o.quantity);
    if (!qty) return null;
    if (buy) received = qty;
    else if (price) received = mul(price, qty);
    else return null;
  }
  return { role, rate: rates[role], amount: toStr(mul(received, rate)), asset: buy ? info.base : info.quote };
}

export class OrderForm {
  constructor(info, { onPlaced, onClose } = {}) {
    this.info = info;
    this.onPlaced = onPlaced || (() => {});
    this.onClose = onClose || (() => {});       // the phone layout's sheet: closed
    this.side = 'BUY';
    this.type = 'LIMIT';
    this.balances = {};
    this.lastPrice = null;
    this.priceTouched = false;  // typed or picked from the book: the last price no longer fills it
    this.rates = null;          // {maker, taker} of this symbol for this account
    this.top = {};              // the book's best bid and ask (a limit order that crosses pays taker)
    this.build();
  }

  field(name, label, suffix, attrs = {}) {
    const id = uid(name);
    const errId = `${id}-err`;
    const input = h('input', { id, name, inputmode: 'decimal', autocomplete: 'off', spellcheck: 'false',
                               'aria-describedby': errId, ...attrs });
    input.addEventListener('input', () => {
      if (name === 'price') this.priceTouched = true;
      this.clearError(name);
      this.updateTotal();
    });
    // the label sits inside the box, at its left (as on Binance): one line per field
    const wrap = h('div.field', { 'data-field': name },
      h('div.input-affix', {}, h('label.prefix', { for: id }, label), input,
        h('span.affix', { 'aria-hidden': 'true' }, suffix)),
      h('p.field-error', { id: errId }));
    this.inputs[name] = input;
    this.wraps[name] = wrap;
    return wrap;
  }

  build() {
    const { info } = this;
    this.inputs = {};
    this.wraps = {};
    const sideGroup = h('fieldset.segmented.side', {},
      h('legend.visually-hidden', {}, 'Side'),
      ['BUY', 'SELL'].map((s) => {
        const id = uid('side');
        return [h('input.visually-hidden', { type: 'radio', name: 'side', id, value: s, checked: s === this.side,
                                             onchange: () => this.setSide(s) }),
                h(`label.${s.toLowerCase()}`, { for: id }, s === 'BUY' ? 'Buy' : 'Sell')];
      }));
    const typeGroup = h('fieldset.segmented.type', {},
      h('legend.visually-hidden', {}, 'Order type'),
      TYPES.map((t) => {
        const id = uid('type');
        return [h('input.visually-hidden', { type: 'radio', name: 'otype', id, value: t.id, checked: t.id === this.type,
                                             onchange: () => this.setType(t.id) }),
                h('label', { for: id }, t.label)];
      }));
    this.availEl = h('span', { 'data-testid': 'available' }, '—');
    this.tif = h('select', { id: uid('tif'), name: 'timeInForce' },
      h('option', { value: 'GTC', title: 'good till cancelled' }, 'GTC'),
      h('option', { value: 'IOC', title: 'immediate or cancel' }, 'IOC'),
      h('option', { value: 'FOK', title: 'fill or kill' }, 'FOK'));
    this.tifWrap = h('div.field.inline', {}, h('label', { for: this.tif.id }, 'Time in force'), this.tif);
    this.postOnly = h('input', { type: 'checkbox', id: uid('postonly'), name: 'postOnly',
                                 onchange: () => this.setType(this.type) });
    this.postOnlyWrap = h('div.check', { title: 'Maker only: refused if it would trade at once' }, this.postOnly,
      h('label', { for: this.postOnly.id }, 'Post-only'));
    this.byTotal = h('select', { id: uid('by'), name: 'marketBy', onchange: () => this.setType(this.type) },
      h('option', { value: 'amount' }, `Amount (${info.base})`),
      h('option', { value: 'total' }, `Total (${info.quote})`));
    this.byWrap = h('div.field', {}, h('label', { for: this.byTotal.id }, 'Buy by'), this.byTotal);
    this.totalEl = h('output', { 'data-testid': 'order-total' }, '—');
    this.totalLine = h('p.total', {}, h('span', {}, 'Total ≈ '), this.totalEl, ` ${info.quote}`);
    // the account's rates on this symbol, and what this order would pay
    this.rateEl = h('span.fee-rates', { 'data-testid': 'fee-rate', title: 'Your trading fee rates on this pair' },
      'Fees —');
    this.feeEl = h('output', { 'data-testid': 'est-fee' }, '—');
    this.feeLine = h('p.fee', {}, this.rateEl, h('span.fee-est', {}, 'Est. fee ≈ ', this.feeEl));
    this.errorEl = h('div.form-error', { role: 'alert', 'data-testid': 'order-error' });
    this.statusEl = h('div.form-status', { role: 'status', 'data-testid': 'order-status' });
    this.submit = h('button.submit', { type: 'submit' });
    this.pcts = h('div.pcts', { role: 'group', 'aria-label': 'Amount as a share of the available balance' },
      [25, 50, 75, 100].map((p) => h('button', { type: 'button', onclick: () => this.usePct(p) }, `${p}%`)));
    this.form = h('form.order-form', { novalidate: true, 'aria-labelledby': 'order-h',
                                       onsubmit: (e) => { e.preventDefault(); this.place(); } },
      h('p.avail', {}, 'Available ', this.availEl),
      this.field('stopPrice', 'Stop price', info.quote),
      this.field('price', 'Price', info.quote),
      this.byWrap,
      this.field('quantity', 'Amount', info.base),
      this.field('total', 'Total', info.quote),
      this.pcts,
      h('div.order-opts', {}, this.postOnlyWrap, this.tifWrap),
      this.totalLine,
      this.feeLine,
      this.errorEl, this.statusEl, this.submit);
    this.signinNote = h('p.signin-note', {}, h('a', { href: '#/signin' }, 'Sign in'), ' or ',
                        h('a', { href: '#/signup' }, 'create an account'), ' to trade.');
    this.el = h('section.panel.order-panel', { 'aria-labelledby': 'order-h', 'data-testid': 'order-form' },
      h('div.panel-head', {}, h('h2#order-h', {}, 'Place order'),
        h('button.small.sheet-close', { type: 'button', 'aria-label': 'Close the order form',
                                        onclick: () => this.onClose() }, 'Close')),
      sideGroup, typeGroup, this.form, this.signinNote);
    this.el.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.onClose();
    });
    this.setSide(this.side);
    this.setType(this.type);
    this.setSignedIn(auth.signedIn());
  }

  /** The account's fee rates on this symbol (GET /api/v3/account/commission), once. */
  async start() {
    if (!auth.signedIn()) return;
    try {
      const r = await api.commission(this.info.symbol);
      this.rates = r.standardCommission;
      this.rateEl.textContent = `Maker ${percent(this.rates.maker)}% · Taker ${percent(this.rates.taker)}%`;
      this.updateFee();
    } catch (err) {
      console.warn('fee rates not read:', String(err));
    }
  }

  /** The book's best bid and ask, as the market view shows them. */
  setTop(bid, ask) {
    this.top = { bid, ask };
    this.updateFee();
  }

  updateFee() {
    if (!this.feeEl) return;
    const v = this.values();
    const fee = estimateFee(this.info, { ...v, postOnly: this.postOnly.checked }, this.rates,
                            { last: this.lastPrice, ...this.top });
    const buy = this.side === 'BUY';
    this.feeEl.textContent = fee
      ? `${fmtTrim(fee.amount, buy ? this.info.qtyDp : this.info.priceDp)} ${fee.asset}` : '—';
    this.feeEl.dataset.role = fee ? fee.role : '';
    this.feeEl.title = fee ? `${fee.role === 'maker' ? 'Maker' : 'Taker'} rate ${percent(fee.rate)}%` : '';
  }

  setSignedIn(yes) {
    this.form.hidden = !yes;
    this.signinNote.hidden = yes;
  }

  /** Buy or Sell chosen from outside the form (the phone layout's bar): the radio too. */
  selectSide(side) {
    const radio = this.el.querySelector(`fieldset.side input[value=${side}]`);
    radio.checked = true;
    this.setSide(side);
  }

  /** The first field to type in (or the sign-in link when signed out). */
  focusFirst() {
    const first = this.form.hidden ? this.signinNote.querySelector('a')
      : Object.values(this.inputs).find((i) => i.getClientRects().length);
    first?.focus();
  }

  setSide(side) {
    this.side = side;
    const { base } = this.info;
    this.submit.textContent = `${side === 'BUY' ? 'Buy' : 'Sell'} ${base}`;
    this.submit.className = `submit ${side === 'BUY' ? 'buy' : 'sell'}`;
    this.el.dataset.side = side;
    if (this.wraps.total) this.setType(this.type);
    this.renderAvailable();
  }

  /** Market buy by total (quoteOrderQty) chosen and applicable. */
  byTotalNow() {
    return this.type === 'MARKET' && this.side === 'BUY' && this.byTotal.value === 'total';
  }

  setType(type) {
    this.type = type;
    this.wraps.stopPrice.hidden = type !== 'STOP_LIMIT';
    this.wraps.price.hidden = type === 'MARKET';
    this.postOnlyWrap.hidden = type !== 'LIMIT';
    this.tifWrap.hidden = type === 'MARKET' || (type === 'LIMIT' && this.postOnly.checked);
    this.byWrap.hidden = !(type === 'MARKET' && this.side === 'BUY');
    const total = this.byTotalNow();
    this.wraps.quantity.hidden = total;
    this.wraps.total.hidden = !total;
    this.totalLine.hidden = total;
    for (const k of ['stopPrice', 'price', 'total']) this.clearError(k);
    this.updateTotal();
  }

  setPrice(price) {
    if (this.type === 'MARKET') return;
    this.priceTouched = true;
    this.inputs.price.value = price;
    this.clearError('price');
    this.updateTotal();
  }

  setLastPrice(p) {
    this.lastPrice = p;
    if (p && !this.priceTouched && units(p) !== null) {
      // until the user types or picks a price, the form offers the last one
      this.inputs.price.value = toStr(units(p), this.info.priceDp);
      this.updateTotal();
    }
    if (this.type === 'MARKET') this.updateTotal();
  }

  setBalances(balances) {
    this.balances = Object.fromEntries(balances.map((b) => [b.asset, b]));
    this.renderAvailable();
  }

  available() {
    const asset = this.side === 'BUY' ? this.info.quote : this.info.base;
    return [asset, this.balances[asset]?.free ?? null];
  }

  renderAvailable() {
    if (!this.availEl) return;
    const [asset, free] = this.available();
    this.availEl.textContent = free === null ? `— ${asset}` : `${fmt(free, asset === this.info.base ? this.info.qtyDp : 2)} ${asset}`;
  }

  usePct(p) {
    const [, free] = this.available();
    const avail = units(free || '0');
    const priceText = this.type === 'MARKET' ? this.lastPrice : this.inputs.price.value;
    const step = units(this.info.stepSize) || 1n;
    let qty;
    if (this.side === 'SELL') qty = (avail * BigInt(p)) / 100n;
    else {
      const price = this.byTotalNow() ? 1n : units(priceText || '');
      if (!price) {
        this.showError('price', 'Enter a price first.');
        return;
      }
      qty = ((avail * BigInt(p)) / 100n) * ONE_UNIT / price;
    }
    if (this.byTotalNow()) {
      this.inputs.total.value = toStr((avail * BigInt(p)) / 100n, this.info.priceDp);
      this.clearError('total');
      this.updateFee();
      return;
    }
    qty -= qty % step;
    this.inputs.quantity.value = toStr(qty, this.info.qtyDp);
    this.clearError('quantity');
    this.updateTotal();
  }

  updateTotal() {
    const q = units(this.inputs.quantity.value);
    const p = units((this.type === 'MARKET' ? this.lastPrice : this.inputs.price.value) || '');
    this.totalEl.textContent = q && p ? fmt(toStr(mul(p, q)), this.info.priceDp) : '—';
    this.updateFee();
  }

  showError(name, msg) {
    const input = this.inputs[name];
    input.setAttribute('aria-invalid', 'true');
    this.wraps[name].querySelector('.field-error').textContent = msg;
  }

  clearError(name) {
    this.inputs[name].removeAttribute('aria-invalid');
    this.wraps[name].querySelector('.field-error').textContent = '';
  }

  values() {
    return { type: this.type, side: this.side, free: this.available()[1], price: this.inputs.price.value.trim(),
             stopPrice: this.inputs.stopPrice.value.trim(), quantity: this.inputs.quantity.value.trim(),
             total: this.inputs.total.value.trim(), byTotal: this.byTotalNow() };
  }

  async place() {
    this.errorEl.textContent = '';
    this.statusEl.textContent = '';
    const v = this.values();
    for (const k of Object.keys(this.inputs)) this.clearError(k);
    const errs = validate(this.info, v, this.lastPrice);
    const names = Object.keys(errs);
    if (names.length) {
      for (const k of names) this.showError(k, errs[k]);
      this.inputs[['stopPrice', 'price', 'quantity', 'total'].find((k) => errs[k])].focus();
      return;
    }
    const order = { symbol: this.info.symbol, side: this.side };
    if (v.byTotal) order.quoteOrderQty = v.total;
    else order.quantity = v.quantity;
    if (v.type === 'MARKET') order.type = 'MARKET';
    else {
      order.price = v.price;
      if (v.type === 'LIMIT' && this.postOnly.checked) order.type = 'LIMIT_MAKER';  // no time in force
      else if (v.type === 'LIMIT') {
        order.type = 'LIMIT';
        order.timeInForce = this.tif.value;
      } else {
        order.timeInForce = this.tif.value;
        order.type = stopLimitType(this.side, v.stopPrice, this.lastPrice);
        order.stopPrice = v.stopPrice;
      }
    }
    this.submit.disabled = true;
    this.form.setAttribute('aria-busy', 'true');
    try {
      const r = await api.newOrder(order);
      if (r.status === 'REJECTED' || (r.status === 'EXPIRED' && !Number(r.executedQty))) {
        showApiError(this.errorEl, orderNotPlaced(order, r));
        this.onPlaced(r);
        return;
      }
      const what = order.quoteOrderQty
        ? `Buy ${this.info.base} for ${fmt(order.quoteOrderQty, this.info.priceDp)} ${this.info.quote} at market`
        : `${order.side === 'BUY' ? 'Buy' : 'Sell'} ${fmt(order.quantity, this.info.qtyDp)} ${this.info.base}`
          + (order.price ? ` at ${fmt(order.price, this.info.priceDp)}` : ' at market')
          + (order.type === 'LIMIT_MAKER' ? ' (post-only)' : '');
      this.statusEl.textContent = `Order ${r.orderId} placed: ${what} — ${(r.status || 'NEW').replace('_', ' ').toLowerCase()}.`;
      this.onPlaced(r);
    } catch (err) {
      showApiError(this.errorEl, err);
    } finally {
      this.submit.disabled = false;
      this.form.removeAttribute('aria-busy');
    }
  }
}
