// Order and trade history in a date range (presets 1 day / 1 week / 1 month, or custom
// dates).  Binance answers allOrders and myTrades with startTime and endTime at most 24
// hours apart, so a range is read as 24 h windows, newest first, a few at a time, until
// the newest `want` rows are known; a full window (1000 rows) is paged on from its last
// row's time.  "Latest" (the default) is one read of the most recent rows.
import * as api from './api.js';
import { h, uid } from './ui.js';

export const DAY_MS = 86_400_000;
export const MAX_DAYS = 31;        // a custom range: at most a month of 24 h windows
const PARALLEL = 4;                // windows read at a time (weight 20 each)
const PAGE = 1000;                 // Binance's maximum limit
const PAGES_PER_WINDOW = 5;

export const PRESETS = [
  { id: 'latest', label: 'Latest' },
  { id: '1d', label: '1 day', days: 1 },
  { id: '1w', label: '1 week', days: 7 },
  { id: '1m', label: '1 month', days: 30 },
  { id: 'custom', label: 'Custom' },
];

const KEY = { orders: (o) => `${o.symbol}:${o.orderId}`, trades: (t) => `${t.symbol}:${t.id}:${t.isBuyer}` };

/** [start, end] (ms, both included) cut into windows Binance accepts (endTime - startTime
 *  under 24 h), newest first.  Pure. */
export function windows(start, end) {
  const out = [];
  for (let e = end; e >= start; e -= DAY_MS) out.push([Math.max(start, e - DAY_MS + 1), e]);
  return out;
}

/** Whether a row's time is in `range` ({start, end|null}; null: every row). */
export function inRange(range, time) {
  return !range || (time >= range.start && (range.end === null || time <= range.end));
}

async function readWindow(read, start, end) {
  const out = [];
  let from = start;
  for (let page = 0; page < PAGES_PER_WINDOW; page += 1) {
    const rows = await read(from, end);
    out.push(...rows);
    if (rows.length < PAGE) break;
    const last = Math.max(...rows.map((r) => r.time));
    if (last <= from) break;
    from = last;            // that millisecond's rows again: deduplicated by the caller
  }
  return out;
}

/** The newest `want` rows that `read(startTime, endTime)` gives in [start, end]. */
export async function readRange(read, start, end, want, key) {
  const rows = new Map();
  const wins = windows(start, end);
  for (let i = 0; i < wins.length && rows.size < want; i += PARALLEL) {
    const lists = await Promise.all(wins.slice(i, i + PARALLEL).map(([s, e]) => readWindow(read, s, e)));
    for (const list of lists) for (const r of list) rows.set(key(r), r);
  }
  return [...rows.values()].sort((a, b) => b.time - a.time).slice(0, want);
}

/** `kind` ('orders' | 'trades') of `symbols` in `range` (null: the latest), newest first. */
export async function readHistory(kind, symbols, range, want) {
  const fn = kind === 'orders' ? api.allOrders : api.myTrades;
  // a preset runs to now: its days counted back from the time of the read
  const end = range?.end ?? Date.now();
  const start = range?.days ? end - range.days * DAY_MS + 1 : range?.start;
  const lists = await Promise.all(symbols.map((sym) => (range
    ? readRange((s, e) => fn(sym, PAGE, { startTime: s, endTime: e }), start, end, want, KEY[kind])
    : fn(sym, want))));
  return lists.flat().sort((a, b) => b.time - a.time);
}

const isoDay = (ms) => {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
};
const dayStart = (iso) => {
  const [y, m, d] = iso.split('-').map(Number);
  return new Date(y, m - 1, d).getTime();
};

/** The period chooser over a history table: `onChange(range)` with {start, end|null}
 *  (end null: up to now, so pushed rows belong) or null for the latest rows. */
export class RangeFilter {
  constructor(label, onChange) {
    this.onChange = onChange;
    this.range = null;
    const id = uid('period');
    this.select = h('select', { id, 'data-testid': 'history-period', onchange: () => this.chosen() },
      PRESETS.map((p) => h('option', { value: p.id }, p.label)));
    const field = (name, text) => {
      const fid = uid(name);
      const input = h('input', { id: fid, type: 'date', name });
      return [input, h('label', { for: fid }, text)];
    };
    const [from, fromLabel] = field('from', 'From');
    const [to, toLabel] = field('to', 'To');
    this.from = from;
    this.to = to;
    this.errorEl = h('p.field-error', { role: 'alert', 'data-testid': 'history-range-error' });
    this.custom = h('form.history-custom', { hidden: true, 'aria-label': `${label}: custom dates`, novalidate: true,
                                              onsubmit: (e) => { e.preventDefault(); this.applyCustom(); } },
      fromLabel, from, toLabel, to, h('button.small', { type: 'submit' }, 'Apply'));
    this.el = h('div.history-filter', {},
      h('div.history-period', {}, h('label', { for: id }, 'Period'), this.select), this.custom, this.errorEl);
  }

  chosen() {
    const preset = PRESETS.find((p) => p.id === this.select.value);
    this.errorEl.textContent = '';
    this.custom.hidden = preset.id !== 'custom';
    if (preset.id === 'custom') {
      if (!this.to.value) this.to.value = isoDay(Date.now());
      if (!this.from.value) this.from.value = isoDay(Date.now() - 6 * DAY_MS);
      this.from.focus();
      return;
    }
    this.set(preset.days ? { start: Date.now() - preset.days * DAY_MS, end: null, days: preset.days } : null);
  }

  applyCustom() {
    const problem = !this.from.value || !this.to.value ? 'Choose both dates.'
      : this.from.value > this.to.value ? 'The start date must not be after the end date.'
        : (dayStart(this.to.value) - dayStart(this.from.value)) / DAY_MS >= MAX_DAYS
          ? `Choose at most ${MAX_DAYS} days.` : null;
    this.errorEl.textContent = problem || '';
    if (problem) return;
    // the whole days, in local time: from the start of the first to the end of the last
    const end = new Date(dayStart(this.to.value));
    end.setDate(end.getDate() + 1);
    this.set({ start: dayStart(this.from.value), end: end.getTime() - 1 });
  }

  set(range) {
    this.range = range;
    this.onChange(range);
  }
}
