// The transport under the web app's API calls: the API's base URL, its Binance-style
// errors, and one request without a session.  Nothing here knows who is signed in:
// auth.js calls the sign-in relay through it, and api.js adds the session's token on
// top of it -- so the imports run one way, http.js <- auth.js <- api.js.

export const BASE = (document.querySelector('meta[name="exchange-api"]')?.content || '/api').replace(/\/$/, '');

/** An error the API answered with: Binance-style `{code, msg}`. */
export class ApiError extends Error {
  constructor(status, code, msg) {
    super(msg);
    this.status = status;
    this.code = code;
  }
  toString() {
    return this.code !== undefined && this.code !== null ? `${this.message} (code ${this.code})` : this.message;
  }
}

/** The body of an answer, or its ApiError. */
export async function parse(resp) {
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (resp.ok) return body;
  if (body && typeof body.msg === 'string') throw new ApiError(resp.status, body.code, body.msg);
  const detail = body?.Message || body?.message || text.slice(0, 200) || resp.statusText;
  throw new ApiError(resp.status, null, `HTTP ${resp.status}: ${detail}`);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Send one request (`form`: Binance's form body, `json`: the /v1 endpoints); the raw
 * Response, or an ApiError when the exchange cannot be reached. */
export async function fetchApi(method, path, { params, form, json, headers: extra = {} } = {}) {
  const headers = { ...extra };
  let body;
  if (form) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(Object.entries(form).filter(([, v]) => v !== undefined && v !== null && v !== ''))
      .toString();
  } else if (json) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  try {
    return await fetch(`${BASE}${path}${query(params)}`, { method, headers, body, cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, null, 'The exchange cannot be reached. Check your connection.');
  }
}

/** Sign-up/sign-in through the API's Cognito relay (`/v1/auth/...`, no session). */
export const authCall = async (path, json) => parse(await fetchApi('POST', `/v1/auth/${path}`, { json }));
