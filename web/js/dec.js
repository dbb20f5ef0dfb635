// Exact decimals for the browser: amounts are strings from the API and BigInt units
// here, never floats (the chart's and the depth bars' pixels are the only floats).
// Every amount the exchange uses has at most 8 decimals (see exchangeInfo).

export const SCALE = 8;
const TEN = 10n;
const ONE = TEN ** BigInt(SCALE);

/** BigInt units (1e-8) of a decimal string, or null if it is not a plain
 *  non-negative decimal or has more than `scale` decimals. */
export function units(text, scale = SCALE) {
  const s = String(text ?? '').trim();
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === '' && !m[2])) return null;
  const frac = (m[2] || '').replace(/0+$/, '');
  if (frac.length > scale) return null;
  return BigInt(m[1] || '0') * TEN ** BigInt(scale) + BigInt((frac + '0'.repeat(scale)).slice(0, scale) || '0');
}

/** Number of decimals a decimal string really has ("0.01000000" -> 2). */
export function decimals(text) {
  const frac = String(text).split('.')[1] || '';
  return frac.replace(/0+$/, '').length;
}

/** Units back to a string with exactly `dp` decimals (truncating), no grouping. */
export function toStr(u, dp = SCALE, scale = SCALE) {
  const neg = u < 0n;
  let v = neg ? -u : u;
  const base = TEN ** BigInt(scale);
  const int = v / base;
  let frac = (v % base).toString().padStart(scale, '0').slice(0, dp);
  return (neg ? '-' : '') + int.toString() + (dp > 0 ? '.' + frac : '');
}

/** Display form of an API amount: `dp` decimals (truncated), thousands grouped. */
export function fmt(text, dp = 2) {
  if (text === undefined || text === null || text === '') return '—';
  const s = String(text);
  const neg = s.startsWith('-');
  const [i, f = ''] = (neg ? s.slice(1) : s).split('.');
  const int = (i.replace(/^0+(?=\d)/, '') || '0').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const frac = (f + '0'.repeat(dp)).slice(0, dp);
  return (neg ? '-' : '') + int + (dp > 0 ? '.' + frac : '');
}

/** Units of a decimal string that may be negative ("-0.25"), or null. */
export function signedUnits(text) {
  const s = String(text ?? '').trim();
  const u = units(s.startsWith('-') ? s.slice(1) : s);
  return u === null ? null : (s.startsWith('-') ? -u : u);
}

export const mul = (a, b) => (a * b) / ONE;            // units * units -> units (truncating)
export const div = (a, b) => (b === 0n ? 0n : (a * ONE) / b);
export const isZero = (text) => units(text) === 0n;
export const ONE_UNIT = ONE;

/** Sum of decimal strings, as a string with 8 decimals. */
export function add(...texts) {
  return toStr(texts.reduce((acc, t) => acc + (units(t) ?? 0n), 0n));
}

/** Display form with up to `maxDp` decimals (truncated), trailing zeros dropped down to
 *  `minDp` ("0.06100000" -> "0.061" at minDp 2): small amounts such as fees stay visible. */
export function fmtTrim(text, minDp = 2, maxDp = SCALE) {
  const s = fmt(text, maxDp);
  if (!s.includes('.')) return s;
  const [i, f] = s.split('.');
  const keep = Math.max(minDp, f.replace(/0+$/, '').length);
  return keep ? `${i}.${f.slice(0, keep)}` : i;
}

/** A rate ("0.00100000") as a percentage without trailing zeros ("0.1"). */
export function percent(rate) {
  const u = units(rate);
  if (u === null) return '—';
  return toStr(u * 100n).replace(/\.?0+$/, '');
}
