// API keys of the signed-in user: list, create (the secret is shown once), revoke.
import * as api from './api.js';
import { announce, fill, h, table, uid } from './ui.js';

export class KeysPage {
  constructor() {
    this.listEl = h('div', { 'data-testid': 'api-keys' }, h('p.empty', {}, 'Loading…'));
    this.secretEl = h('div.secret-box', { hidden: true, 'data-testid': 'new-key', tabindex: '-1' });
    this.msg = h('div.form-error', { role: 'alert' });
    const labelId = uid('label');
    const ipId = uid('ips');
    const tradeId = uid('trade');
    this.form = h('form.stack-form', { 'aria-labelledby': 'create-key-h', onsubmit: (e) => {
      e.preventDefault();
      this.create();
    } },
    h('label', { for: labelId }, 'Label'),
    h('input', { id: labelId, name: 'label', maxlength: '64', autocomplete: 'off', placeholder: 'e.g. my trading bot',
                 pattern: '[A-Za-z0-9 ._\\-]{0,64}', 'aria-describedby': `${labelId}-hint` }),
    h('p.hint', { id: `${labelId}-hint` }, 'Letters, digits, spaces, dots, dashes and underscores.'),
    h('div.check', {}, h('input', { type: 'checkbox', id: tradeId, name: 'canTrade', checked: true }),
      h('label', { for: tradeId }, 'Allow trading (otherwise read-only)')),
    h('label', { for: ipId }, 'Restrict to IP addresses (optional)'),
    h('input', { id: ipId, name: 'ipList', autocomplete: 'off', placeholder: '203.0.113.7, 198.51.100.0/24',
                 'aria-describedby': `${ipId}-hint` }),
    h('p.hint', { id: `${ipId}-hint` }, 'Comma-separated addresses or networks. Empty: any address.'),
    this.msg,
    h('button.primary', { type: 'submit' }, 'Create API key'));
    this.el = h('div.page.keys-page', {},
      h('h1#view-title', { tabindex: '-1' }, 'API keys'),
      h('p.lead', {}, 'Bots and libraries such as ccxt and python-binance sign their requests with an API key and its '
        + 'secret (HMAC-SHA256), exactly as on Binance. Point them at ', h('code', {}, `${location.origin}${api.BASE}`), '.'),
      h('section.panel', { 'aria-labelledby': 'create-key-h' },
        h('div.panel-head', {}, h('h2#create-key-h', {}, 'Create a key')), this.form, this.secretEl),
      h('section.panel', { 'aria-labelledby': 'keys-h' },
        h('div.panel-head', {}, h('h2#keys-h', {}, 'Your keys')), this.listEl));
  }

  start() {
    this.refresh();
  }

  stop() {}

  async refresh() {
    try {
      const keys = await api.listKeys();
      const rows = keys.map((k) => ({
        attrs: { 'data-api-key': k.apiKey },
        cells: [k.label || '—', h('code.key', {}, k.apiKey), k.permissions.trade ? 'Read, trade' : 'Read only',
                k.ipRestrict ? k.ipList.join(', ') : 'Any',
                h('button.link-button.danger', { type: 'button', 'aria-label': `Revoke key ${k.label || k.apiKey.slice(0, 8)}`,
                                                 onclick: (e) => this.revoke(k, e.currentTarget) }, 'Revoke')],
      }));
      fill(this.listEl, table('Your API keys', [{ label: 'Label' }, { label: 'API key' }, { label: 'Permissions' },
        { label: 'IP restriction' }, { label: 'Action' }], rows, 'No API keys yet.', 'keys'));
    } catch (err) {
      fill(this.listEl, h('p.error', { role: 'alert' }, String(err)));
    }
  }

  async create() {
    const f = this.form;
    this.msg.textContent = '';
    try {
      const k = await api.createKey(f.label.value.trim(), f.canTrade.checked, f.ipList.value.trim());
      const copy = (text, what) => h('button.small', { type: 'button', onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          announce(`${what} copied.`);
        } catch {
          announce(`Select the ${what.toLowerCase()} and copy it.`, 'error');
        }
      } }, `Copy ${what.toLowerCase()}`);
      fill(this.secretEl,
        h('h3', {}, 'Your new API key'),
        h('p.warning', {}, 'Copy the secret now: it is shown only once and cannot be recovered.'),
        h('dl.kv', {},
          h('dt', {}, 'API key'), h('dd', {}, h('code', { 'data-testid': 'new-api-key' }, k.apiKey), copy(k.apiKey, 'Key')),
          h('dt', {}, 'Secret key'), h('dd', {}, h('code', { 'data-testid': 'new-secret' }, k.secretKey),
                                         copy(k.secretKey, 'Secret'))),
        h('button', { type: 'button', onclick: () => { this.secretEl.hidden = true; fill(this.secretEl); } },
          'I have saved the secret'));
      this.secretEl.hidden = false;
      this.secretEl.focus();
      f.reset();
      f.canTrade.checked = true;
      this.refresh();
    } catch (err) {
      this.msg.textContent = String(err);
    }
  }

  async revoke(k, button) {
    if (!window.confirm(`Revoke the API key ${k.label ? `"${k.label}"` : k.apiKey.slice(0, 8) + '…'}? `
                        + 'Programs using it stop working at once.')) return;
    button.disabled = true;
    try {
      await api.revokeKey(k.apiKey);
      announce('API key revoked.');
      this.refresh();
    } catch (err) {
      button.disabled = false;
      announce(`Could not revoke the key: ${err}`, 'error');
    }
  }
}
