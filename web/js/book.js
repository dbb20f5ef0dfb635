// The order book's price grouping (Binance's precision selector): bids rounded down,
// asks up, to a multiple of the chosen step, their amounts summed, exactly (BigInt units).
import { decimals, toStr, units } from './dec.js';

/** The grouping steps of a symbol: its tick and three coarser powers of ten
 *  (BTCUSDT: 0.01, 0.1, 1, 10), as decimal strings. */
export function groupSteps(tickSize) {
  const tick = units(tickSize || '0.01') || 1n;
  return [1n, 10n, 100n, 1000n].map((m) => trim(toStr(tick * m)));
}

const trim = (s) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);

/** Decimals shown for prices grouped at `step` (never more than the symbol's own). */
export const stepDp = (step, priceDp) => Math.min(decimals(step), priceDp);

/** Levels ([price, qty] strings, best first) grouped at `step`: each bid to the step
 *  at or below it, each ask to the one at or above it; amounts summed.  Prices come
 *  back with 8 decimals.  Pure. */
export function groupLevels(levels, step, side) {
  const s = units(step);
  const out = [];
  for (const [p, q] of levels) {
    const pu = units(p);
    const down = pu - (pu % s);
    const key = side === 'bids' || down === pu ? down : down + s;
    const last = out[out.length - 1];
    if (last && last[0] === key) last[1] += units(q);
    else out.push([key, units(q)]);
  }
  return out.map(([p, q]) => [toStr(p), toStr(q)]);
}
