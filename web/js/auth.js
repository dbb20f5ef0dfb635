// The signed-in session: Cognito tokens (through the API's /v1/auth relay), refreshed
// before they expire.  Kept in sessionStorage: a reload keeps you signed in, closing
// the tab signs you out.
import { authCall } from './http.js';

const KEY = 'exchange.session';
const REFRESH_EARLY_MS = 60_000;
const listeners = new Set();
let session = load();
let pending = null;      // a sign-in waiting for its MFA code: {email, session}
let refreshTimer = null;
let refreshing = null;

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function claims(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return {};
  }
}

function save(next, reason) {
  session = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  schedule();
  for (const fn of listeners) fn(session, reason);
}

function fromTokens(t, email) {
  const id = claims(t.idToken);
  return {
    email: id.email || email,
    accessToken: t.accessToken,
    idToken: t.idToken,
    refreshToken: t.refreshToken || session?.refreshToken || null,
    expiresAt: Date.now() + (t.expiresIn || 3600) * 1000,
  };
}

/** A refusal that may pass (network, overload): try again rather than sign out. */
const transient = (err) => !err?.status || err.status >= 500 || err.status === 429;

function schedule(delay = null) {
  clearTimeout(refreshTimer);
  if (!session?.refreshToken) return;
  const wait = delay ?? Math.max(0, session.expiresAt - Date.now() - REFRESH_EARLY_MS);
  refreshTimer = setTimeout(async () => {
    try {
      await refresh();
    } catch (err) {
      console.warn('token refresh failed:', String(err));
      if (transient(err) && session && session.expiresAt > Date.now()) schedule(5_000);
      else signOut('Your session has expired. Please sign in again.');
    }
  }, Math.min(wait, 2 ** 31 - 1));
}

export const user = () => session;
export const signedIn = () => !!session;
/** Call `fn(session, reason)` on every change ('signin', 'refresh', sign-out); returns
 *  the function that stops it. */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
export const isTransient = transient;

/** Sign in; resolves to 'ok' or 'mfa' (then call answerMfa with the code). */
export async function signIn(email, password) {
  const r = await authCall('signIn', { email, password });
  if (r.challengeName) {
    if (r.challengeName !== 'SOFTWARE_TOKEN_MFA') throw new Error(`Unsupported sign-in challenge ${r.challengeName}.`);
    pending = { email, session: r.session };
    return 'mfa';
  }
  save(fromTokens(r, email), 'signin');
  return 'ok';
}

export async function answerMfa(code) {
  if (!pending) throw new Error('Start again: the sign-in has expired.');
  const r = await authCall('respondToChallenge', { email: pending.email, session: pending.session, code,
                                                   challengeName: 'SOFTWARE_TOKEN_MFA' });
  const email = pending.email;
  pending = null;
  save(fromTokens(r, email), 'signin');
}

export const signUp = (email, password) => authCall('signUp', { email, password });
export const confirmSignUp = (email, code) => authCall('confirm', { email, code });

/** New tokens from the refresh token; true on success. */
export function refresh() {
  if (!session?.refreshToken) return Promise.resolve(false);
  if (!refreshing) {
    const current = session;
    refreshing = authCall('refresh', { refreshToken: current.refreshToken })
      .then((t) => {
        if (session === current) save(fromTokens(t, current.email), 'refresh');
        return true;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** A valid access token (refreshed first if it is about to expire), or null. */
export async function accessToken() {
  if (!session) return null;
  if (session.expiresAt - Date.now() < 5_000) {
    await refresh().catch((err) => {
      if (!transient(err) || session?.expiresAt <= Date.now()) signOut('Your session has expired. Please sign in again.');
    });
  }
  return session?.accessToken || null;
}

export function signOut(reason = '') {
  pending = null;
  save(null, reason || 'signout');
}

// a session restored from storage: refresh at the right time
schedule();
