// The web app: a hash router over the views, the header, and the session.
//
//   #/trade/BTCUSDT  market + order entry + your orders (the default)
//   #/account        balances, orders, trades, deposits, withdrawals
//   #/api-keys       API keys            #/security   TOTP MFA
//   #/signin         sign in             #/signup     create an account
import { AccountPage, TradingAccount } from './account.js';
import { SecurityPage, SignInPage, SignUpPage } from './account-auth.js';
import * as auth from './auth.js';
import { KeysPage } from './keys.js';
import { MarketView, loadSymbols } from './market.js';
import { OrderForm } from './orders.js';
import { $, announce, fill, h } from './ui.js';

const main = $('#main');
const PRIVATE = new Set(['account', 'api-keys', 'security']);
let view = null;
let symbols = null;

class TradePage {
  constructor(info, all) {
    this.form = new OrderForm(info, { onPlaced: () => this.account?.refreshNow(), onClose: () => this.closeSheet() });
    this.market = new MarketView(info, all, {
      onPrice: (p) => this.form.setPrice(p),
      onLast: (p) => this.form.setLastPrice(p),
      onTop: (bid, ask) => this.form.setTop(bid, ask),
      onPrices: auth.signedIn() ? (last) => this.account?.setPrices(last) : null,
    });
    this.account = auth.signedIn()
      ? new TradingAccount(info, all, { onBalances: (b) => this.form.setBalances(b) }) : null;
    this.el = h('div.trade-page', {},
      this.market.tickerEl, this.market.bookPanel, this.market.chartPanel, this.form.el, this.market.tradesPanel,
      this.account ? this.account.el : h('section.panel.account-panel.signed-out', { 'aria-label': 'Your orders' },
        h('p', {}, h('a', { href: '#/signin' }, 'Sign in'), ' to see your orders and balances.')));
    // on a phone (app.css, <= 760 px) the order form is a sheet that this bar opens
    this.form.el.id = 'order-sheet';
    this.barButtons = ['BUY', 'SELL'].map((side) => h(`button.${side === 'BUY' ? 'buy' : 'sell'}`, {
      type: 'button', 'aria-controls': 'order-sheet', 'aria-expanded': 'false', onclick: () => this.openSheet(side),
    }, side === 'BUY' ? 'Buy' : 'Sell'));
    this.bar = h('div.trade-bar', { role: 'group', 'aria-label': `Trade ${info.label}`, 'data-testid': 'trade-bar' },
      this.barButtons);
    this.el.append(this.bar);
  }

  openSheet(side) {
    this.form.selectSide(side);
    this.el.dataset.sheet = 'open';
    this.opener = this.barButtons[side === 'BUY' ? 0 : 1];
    for (const b of this.barButtons) b.setAttribute('aria-expanded', 'true');
    this.form.focusFirst();
  }

  closeSheet() {
    if (this.el.dataset.sheet !== 'open') return;
    delete this.el.dataset.sheet;
    for (const b of this.barButtons) b.setAttribute('aria-expanded', 'false');
    this.opener?.focus();
  }

  start() {
    this.market.start();
    this.form.start();
    this.account?.start();
  }

  stop() {
    this.market.stop();
    this.account?.stop();
  }
}

function parseRoute() {
  const [path, q = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [name = 'trade', arg = ''] = path.split('/');
  return { name: name || 'trade', arg, params: new URLSearchParams(q) };
}

async function route() {
  const r = parseRoute();
  if (PRIVATE.has(r.name) && !auth.signedIn()) {
    location.replace(`#/signin?next=${encodeURIComponent(`#/${r.name}`)}`);
    return;
  }
  view?.stop();
  view = null;
  let next;
  try {
    symbols = symbols || await loadSymbols();
  } catch (err) {
    fill(main, h('div.page', {}, h('h1#view-title', { tabindex: '-1' }, 'The exchange cannot be reached'),
                 h('p.error', { role: 'alert' }, String(err)),
                 h('button.primary', { type: 'button', onclick: route }, 'Try again')));
    return;
  }
  switch (r.name) {
    case 'signin': next = new SignInPage(r.params.get('next')); break;
    case 'signup': next = new SignUpPage(); break;
    case 'account': next = new AccountPage(symbols); break;
    case 'api-keys': next = new KeysPage(); break;
    case 'security': next = new SecurityPage(); break;
    default: {
      const sym = (r.arg || localStorage.getItem('exchange.symbol') || '').toUpperCase();
      const info = symbols[sym] || Object.values(symbols)[0];
      localStorage.setItem('exchange.symbol', info.symbol);
      next = new TradePage(info, symbols);
    }
  }
  view = next;
  fill(main, view.el);
  view.start();
  updateNav(r.name === 'signin' || r.name === 'signup' ? r.name : (PRIVATE.has(r.name) ? r.name : 'trade'));
  // move focus to the new view's heading, except on the first load
  if (route.loaded) $('#view-title', main)?.focus({ preventScroll: false });
  route.loaded = true;
}

function updateNav(current) {
  for (const a of document.querySelectorAll('.nav a[data-route]')) {
    if (a.dataset.route === current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const user = auth.user();
  const box = $('#user-box');
  for (const a of document.querySelectorAll('.nav [data-private]')) a.hidden = !user;
  if (user) {
    fill(box, h('span.user-email', { 'data-testid': 'user-email', title: user.email }, user.email),
      h('button.small', { type: 'button', onclick: () => auth.signOut() }, 'Sign out'));
  } else {
    fill(box, h('a.button.small', { href: '#/signin' }, 'Sign in'), h('a.button.small.primary', { href: '#/signup' },
                                                                        'Sign up'));
  }
}

auth.onChange((session, reason) => {
  if (!session) {
    if (reason && reason !== 'signout') announce(reason, 'error');
    else announce('Signed out.');
    if (PRIVATE.has(parseRoute().name)) location.hash = '#/signin';
    else route();
  } else if (reason === 'signin') {
    announce(`Signed in as ${session.email}.`);
  }
  if (reason !== 'refresh') updateNav(parseRoute().name);
});

window.addEventListener('hashchange', route);
route();
