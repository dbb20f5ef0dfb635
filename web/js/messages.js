// What the user reads when something is refused: their own words first, the API's
// Binance code and message only in a small detail line under it.  The checks of a
// typed number live here too, so that the order form and the deposit and withdrawal
// forms say the same thing about the same mistake.
import { ApiError } from './http.js';
import { SCALE, units } from './dec.js';
import { h } from './ui.js';

const cap = (s) => s[0].toUpperCase() + s.slice(1);

/** What is wrong with a typed amount or price (`name`: 'price', 'amount'...), or null.
 *  Tells a minus sign, a thousands separator or a decimal comma, and letters apart. */
export function numberProblem(text, name) {
  const s = String(text ?? '').trim();
  const Name = cap(name);
  if (!s) return `Enter ${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name}.`;
  if (/^-/.test(s) && units(s.slice(1)) !== null) return `${Name} must be positive.`;
  if (/^[\d.,\s]+$/.test(s) && /[,\s]/.test(s)) return 'Use a dot for decimals, no thousands separators.';
  if (!/^\d*\.?\d*$/.test(s) || s === '.') return `${Name} must be a number.`;
  if (units(s) === null) return `${Name} can have at most ${SCALE} decimals.`;
  if (units(s) === 0n) return `${Name} must be positive.`;
  return null;
}

/** Cognito's password rules (chalicelib/resources.py PASSWORD_POLICY): the first one a
 *  password breaks, or null. */
export function passwordProblem(pw) {
  if (pw.length < 10) return 'Password must be at least 10 characters long.';
  if (!/[A-Z]/.test(pw)) return 'Password must contain an upper-case letter.';
  if (!/[a-z]/.test(pw)) return 'Password must contain a lower-case letter.';
  if (!/[0-9]/.test(pw)) return 'Password must contain a digit.';
  return null;
}

// the API's refusals in the user's words, by Binance code and message
const WORDS = [
  [-2010, /insufficient balance/i, 'Not enough funds.'],
  [-2010, /immediately match and take/i, 'A post-only order would trade at once, so it was not placed. '
    + 'Choose a price that rests on the book.'],
  [-2010, /immediately trigger/i, 'The stop price has already been reached; choose another stop price.'],
  [-2010, /market is closed/i, 'This market is closed for trading right now.'],
  [-2010, /relationship of the prices/i, 'The prices are in the wrong order: a sell OCO\'s limit price goes above '
    + 'its stop price, a buy OCO\'s below.'],
  [-1013, /NOTIONAL/, 'The order value is outside the allowed range.'],
  [-1013, /LOT_SIZE/, 'The amount is outside the allowed range or not a multiple of the step.'],
  [-1013, /PRICE/, 'The price is outside the allowed range or not a multiple of the tick.'],
  [-1100, /./, 'One of the values is not valid: use digits and a dot for decimals.'],
  [-1130, /wrong code/i, 'Wrong code, try again.'],
  [-1002, /password/i, 'Wrong email or password.'],
];

/** {text, detail} of an order the API took but the engine refused (the answer's status
 *  REJECTED or EXPIRED: the REST answer carries no reason, see docs/api-differences.md). */
export function orderNotPlaced(order, r) {
  const detail = `Order ${r.orderId}: ${r.status}`;
  if (order.type === 'LIMIT_MAKER') return { text: WORDS[1][2], detail };
  if (r.status === 'EXPIRED') return { text: 'Nothing could be traded at that price, so the order expired.', detail };
  return { text: 'The order was not placed.', detail };
}

/** {text, detail} of an OCO the API refused: its limit order (LIMIT_MAKER) that would
 *  trade at once is said so, not as a post-only order; the rest as `explain` says. */
export function ocoExplain(err) {
  const words = explain(err);
  if (err instanceof ApiError && err.code === -2010 && /immediately match and take/i.test(err.message)) {
    return { text: 'The limit order would trade at once, so the OCO was not placed. Choose a limit price that '
      + 'rests on the book.', detail: words.detail };
  }
  return words;
}

/** {text, detail} of an error: `text` for the user, `detail` the API's own answer. */
export function explain(err) {
  if (err && typeof err.text === 'string') return { text: err.text, detail: err.detail || '' };
  if (!(err instanceof ApiError)) return { text: String(err?.message || err), detail: '' };
  const hit = WORDS.find(([code, re]) => code === err.code && re.test(err.message));
  if (!hit) return { text: err.message, detail: err.code != null ? `code ${err.code}` : '' };
  return { text: hit[2], detail: hit[2] === err.message ? `code ${err.code}` : `${err.message} (code ${err.code})` };
}

/** Show `err` in `el` (an alert): the user's words, then the detail line. */
export function showError(el, err, prefix = '') {
  const { text, detail } = explain(err);
  el.dataset.kind = 'error';  // styled as an error where the element also shows successes
  el.replaceChildren(prefix + text, ...(detail ? [h('small.detail', {}, detail)] : []));
}
