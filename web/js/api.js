// The exchange's HTTP API, as the web app calls it.
//
// The app is served from the same origin as the API (CloudFront in AWS, the local
// stack locally): `/api/v3/...` is the Binance-compatible REST API and `/api/v1/...`
// holds sign-in and API keys.  Signed-in calls carry the Cognito access token as a
// Bearer token, which the API accepts in place of an API key + HMAC signature.
import * as auth from './auth.js';
import { ApiError, BASE, authCall, fetchApi, parse } from './http.js';

export { ApiError, BASE, authCall };

async function send(method, path, { params, form, json, signed = false, retry = true } = {}) {
  const headers = {};
  if (signed) {
    const token = await auth.accessToken();
    if (!token) throw new ApiError(401, -1002, 'Please sign in first.');
    headers.Authorization = `Bearer ${token}`;
  }
  const resp = await fetchApi(method, path, { params, form, json, headers });
  if (signed && retry && resp.status === 401) {
    // an expired or revoked token: refresh once, then give up (sign-out).  Only a 401
    // means that: a wrong one-time code or a refused order is a 400 and shown as is.
    let refreshed = false;
    try {
      refreshed = await auth.refresh();
    } catch (err) {
      if (auth.isTransient(err)) return parse(resp);
    }
    if (refreshed) return send(method, path, { params, form, json, signed, retry: false });
    auth.signOut('Your session has expired. Please sign in again.');
  }
  return parse(resp);
}

export const get = (path, params) => send('GET', path, { params });
export const userGet = (path, params) => send('GET', path, { params, signed: true });

// -- public market data
export const exchangeInfo = () => get('/v3/exchangeInfo');
export const depth = (symbol, limit = 50) => get('/v3/depth', { symbol, limit });
export const aggTrades = (symbol, limit = 40) => get('/v3/aggTrades', { symbol, limit });
export const klines = (symbol, interval, limit = 500) => get('/v3/uiKlines', { symbol, interval, limit });
export const ticker24h = (symbol) => get('/v3/ticker/24hr', { symbol });
/** The MINI 24h tickers of `symbols`: named (weight 2 up to 20 symbols, 40 up to 100),
 *  or all of them (weight 80) for a longer list. */
export const tickers = (symbols) => get('/v3/ticker/24hr', {
  type: 'MINI', ...(symbols && symbols.length <= 100 ? { symbols: JSON.stringify(symbols) } : {}) });

// -- the signed-in user's trading and account
export const account = () => userGet('/v3/account');
/** The account's maker/taker rates on one symbol (weight 20): read once per trading view. */
export const commission = (symbol) => userGet('/v3/account/commission', { symbol });
export const openOrders = (symbol) => userGet('/v3/openOrders', symbol ? { symbol } : {});
/** `range`: {startTime, endTime} at most 24 h apart (history.js reads longer ones by window). */
export const allOrders = (symbol, limit = 100, range = {}) => userGet('/v3/allOrders', { symbol, limit, ...range });
export const myTrades = (symbol, limit = 100, range = {}) => userGet('/v3/myTrades', { symbol, limit, ...range });
export const newOrder = (order) => send('POST', '/v3/order', { form: { ...order, newOrderRespType: 'RESULT' },
                                                              signed: true });
export const cancelOrder = (symbol, orderId) => send('DELETE', '/v3/order', { params: { symbol, orderId },
                                                                              signed: true });
/** Every open order of one symbol (Binance needs the symbol): the cancelled orders. */
export const cancelOpenOrders = (symbol) => send('DELETE', '/v3/openOrders', { params: { symbol }, signed: true });
export const deposits = () => userGet('/v1/capital/deposit/hisrec');
export const withdrawals = () => userGet('/v1/capital/withdraw/history');
export const withdraw = (coin, amount, address) => send('POST', '/v1/capital/withdraw/apply',
                                                        { form: { coin, amount, address }, signed: true });
export const demoDeposit = (asset, amount) => send('POST', '/v1/capital/deposit/demo',
                                                   { json: { asset, amount }, signed: true });

// -- API keys
export const listKeys = () => send('GET', '/v1/apiKeys', { signed: true });
export const createKey = (label, canTrade, ipList) => send('POST', '/v1/apiKeys', {
  json: { canTrade, ...(label ? { label } : {}), ...(ipList ? { ipList } : {}) }, signed: true,
});
export const revokeKey = (apiKey) => send('DELETE', `/v1/apiKeys/${encodeURIComponent(apiKey)}`, { signed: true });

// -- sign-in (Cognito, relayed by the API): authCall (from http.js) and MFA enrolment
export const mfaAssociate = (accessToken) => send('POST', '/v1/auth/mfa/associate', { json: { accessToken },
                                                                                     signed: true });
export const mfaVerify = (accessToken, code, deviceName) => send('POST', '/v1/auth/mfa/verify',
                                                                 { json: { accessToken, code, deviceName },
                                                                   signed: true });
