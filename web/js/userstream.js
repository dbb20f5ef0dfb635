// The signed-in user's data stream: the WebSocket API (`/ws-api/v3`) on the page's own
// origin, logged on with the session's Cognito access token (`session.logon` with
// `token`, this exchange's extension of Binance's API-key logon: see
// docs/api-differences.md), then `userDataStream.subscribe`.  Events arrive as Binance
// sends them, `{"subscriptionId", "event"}`: executionReport, listStatus,
// outboundAccountPosition, balanceUpdate.
//
// The gateway ends a token's session when the token expires, so the stream logs on
// again with the new token whenever auth.js refreshes it (a minute before expiry) and
// on every reconnect.  An `eventStreamTerminated` (logout, expiry) or a refused logon
// drops the connection, which reconnects, logs on and subscribes again; `onOpen()` then
// tells the views to re-read their REST snapshot once, as Binance documents for user
// data streams.  `onStatus(live)`: true once subscribed, false while down.
import * as auth from './auth.js';
import { ReconnectingSocket } from './stream.js';

export function apiUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws-api/v3?returnRateLimits=false`;
}

export class UserStream extends ReconnectingSocket {
  constructor({ onEvent, onStatus, onOpen } = {}) {
    super({ onStatus });
    this.onEvent = onEvent || (() => {});
    this.onOpen = onOpen || (() => {});
    this.pending = new Map();        // request id -> resolve(reply)
    this.subscriptionId = null;
    this.unlisten = auth.onChange((session, reason) => this.sessionChanged(session, reason));
    this.connect();
  }

  url() {
    return apiUrl();
  }

  /** One WebSocket API request; resolves to its reply (`status` 0: the socket went away). */
  request(method, params) {
    return new Promise((resolve) => {
      const id = `u${this.nextId++}`;
      const body = { id, method };
      if (params) body.params = params;
      if (!this.sendRaw(body)) {
        resolve({ id, status: 0, error: { msg: 'not connected' } });
        return;
      }
      this.pending.set(id, resolve);
    });
  }

  async opened(ws) {
    const token = await auth.accessToken();
    if (ws !== this.ws) return;
    if (!token) {          // signed out meanwhile
      this.stop();
      return;
    }
    const logon = await this.request('session.logon', { token });
    if (ws !== this.ws) return;
    if (logon.status !== 200) {
      this.refused(logon);
      return;
    }
    const sub = await this.request('userDataStream.subscribe');
    if (ws !== this.ws) return;
    if (sub.status !== 200) {
      this.refused(sub);
      return;
    }
    this.subscriptionId = sub.result.subscriptionId;
    this.setLive(true);
    this.onOpen();
  }

  /** A logon or subscription the gateway refused: a refused token is refreshed; either
   *  way the connection starts over (and the views poll meanwhile). */
  refused(reply) {
    if (reply.status === 0) return;       // the socket is already gone
    console.warn('user data stream refused:', reply.error?.msg, reply.error?.code);
    if (reply.error?.code === -1002) auth.refresh().catch((err) => console.warn(String(err)));
    this.restart();
  }

  received(body, ws) {
    if (body.id !== undefined && this.pending.has(body.id)) {
      const resolve = this.pending.get(body.id);
      this.pending.delete(body.id);
      resolve(body);
      return;
    }
    const ev = body.event;
    if (!ev) return;
    if (ev.e === 'serverShutdown') ws.close();
    else if (body.subscriptionId !== this.subscriptionId) return;
    else if (ev.e === 'eventStreamTerminated') this.restart();
    else this.onEvent(ev);
  }

  beatMessage() {
    return { id: `b${this.nextId++}`, method: 'ping' };
  }

  /** A refreshed token: log on with it before the old one expires; signed out: stop. */
  sessionChanged(session, reason) {
    if (!session) {
      this.stop();
      return;
    }
    if (reason !== 'refresh' || !this.live) return;
    const { ws } = this;
    this.request('session.logon', { token: session.accessToken }).then((r) => {
      if (ws === this.ws && r.status !== 200) this.refused(r);
    });
  }

  lost() {
    for (const resolve of this.pending.values()) resolve({ status: 0, error: { msg: 'connection lost' } });
    this.pending.clear();
    this.subscriptionId = null;
    super.lost();
  }

  stop() {
    this.unlisten();
    super.stop();
    for (const resolve of this.pending.values()) resolve({ status: 0, error: { msg: 'stopped' } });
    this.pending.clear();
  }
}
