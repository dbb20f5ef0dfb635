// One combined market-stream connection (`/stream?streams=a/b`, Binance's wrapper
// `{"stream", "data"}`) on the page's own origin, kept open (ReconnectingSocket: it
// reconnects with a growing delay when it drops), changes its streams with
// SUBSCRIBE/UNSUBSCRIBE, and proves it is alive with a LIST_SUBSCRIPTIONS every few
// seconds (a gateway that stopped answering is treated as down even if the TCP
// connection looks open).  The signed-in user's stream is userstream.js, on the same base.
//
// `onStatus(live)`: true once the socket is open, false when it is lost (the views then
// poll the REST API until it is back); `onOpen()`: after each (re)connect, before any
// event is delivered (the views re-read their snapshots); `onEvent(stream, data)`.

const CONNECT_TIMEOUT_MS = 5000;
const HEARTBEAT_MS = 5000;     // a LIST_SUBSCRIPTIONS this often (the gateway allows 5 messages a second)
const SILENT_MAX_MS = 12000;   // nothing received for this long: the connection is dead
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 4000;

export function streamUrl(names) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/stream?streams=${names.join('/')}`;
}

/** A WebSocket on the page's own origin, kept open: it reconnects with a growing delay
 *  when it drops, and a connection that has been silent for SILENT_MAX_MS is treated as
 *  dead even if TCP looks open (subclasses send something every HEARTBEAT_MS that the
 *  gateway answers).  Subclasses give `url()`, `opened(ws)`, `received(body, ws)` and
 *  `beatMessage()`; `setLive(true)` once they are ready to deliver events. */
export class ReconnectingSocket {
  constructor({ onStatus } = {}) {
    this.onStatus = onStatus || (() => {});
    this.live = false;
    this.stopped = false;
    this.retryMs = RETRY_FIRST_MS;
    this.nextId = 1;
  }

  connect() {
    if (this.stopped) return;
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      console.warn(err);
      this.lost();
      return;
    }
    this.ws = ws;
    const opening = setTimeout(() => ws.close(), CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(opening);
      if (ws !== this.ws) return;
      this.heard = Date.now();
      this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
      this.opened(ws);
    };
    ws.onmessage = (msg) => {
      if (ws !== this.ws) return;
      this.heard = Date.now();
      let body;
      try {
        body = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (body && typeof body === 'object') this.received(body, ws);
    };
    ws.onclose = () => {
      clearTimeout(opening);
      if (ws === this.ws) this.lost();
    };
    ws.onerror = () => {};   // onclose follows
  }

  beat() {
    if (Date.now() - this.heard > SILENT_MAX_MS) {
      this.ws.close();
      this.lost();
      return;
    }
    this.sendRaw(this.beatMessage());
  }

  sendRaw(body) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(body));
    return true;
  }

  /** Drop the connection (it reconnects). */
  restart() {
    const { ws } = this;
    if (!ws) return;
    this.ws = null;
    ws.close();
    this.lost();
  }

  lost() {
    clearInterval(this.heartbeat);
    this.ws = null;
    if (this.stopped) return;
    this.live = false;
    this.onStatus(false);      // every failed attempt too: the first one starts the fallback
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  setLive(live) {
    if (live) this.retryMs = RETRY_FIRST_MS;
    this.live = live;
    this.onStatus(live);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    const { ws } = this;
    this.ws = null;
    ws?.close();
  }
}

export class MarketStream extends ReconnectingSocket {
  constructor(names, { onEvent, onStatus, onOpen } = {}) {
    super({ onStatus });
    this.names = [...names];
    this.onEvent = onEvent || (() => {});
    this.onOpen = onOpen || (() => {});
    this.connect();
  }

  url() {
    return streamUrl(this.names);
  }

  opened() {
    this.setLive(true);
    this.onOpen();
  }

  received(body, ws) {
    if (body.stream && body.data) this.onEvent(body.stream, body.data);
    else if (body.data && body.data.e === 'serverShutdown') ws.close();
  }

  beatMessage() {
    return { method: 'LIST_SUBSCRIPTIONS', id: this.nextId++ };
  }

  send(method, params) {
    const body = { method, id: this.nextId++ };
    if (params) body.params = params;
    this.sendRaw(body);
  }

  /** Swap one stream for another on the open connection (the next connect uses the new set). */
  replace(oldName, newName) {
    this.names = this.names.map((n) => (n === oldName ? newName : n));
    this.send('UNSUBSCRIBE', [oldName]);
    this.send('SUBSCRIBE', [newName]);
  }
}

/** Binance's "how to manage a local order book correctly", over `<symbol>@depth` diffs
 *  and a REST snapshot: `feed(event)` every diff; `reset()` on each (re)connect; the
 *  book is usable when `ready`.  `load()` fetches the snapshot (returns
 *  {lastUpdateId, bids, asks}); `units` is dec.js's exact decimal reader (levels are
 *  keyed by their price in units, so "1.5" and "1.50000000" are one level). */
export class LocalBook {
  constructor(load, units) {
    this.load = load;
    this.units = units;
    this.reset();
  }

  reset() {
    this.ready = false;
    this.buffer = [];
    this.generation = (this.generation || 0) + 1;
  }

  /** Fetch the snapshot and apply what was buffered; retried until it lines up.
   *  true: ready; false: a gap in the buffered events (sync again); null: superseded
   *  by a later reset. */
  async sync() {
    const gen = this.generation;
    for (;;) {
      const snap = await this.load();
      if (gen !== this.generation) return null;
      const first = this.buffer[0];
      if (first && snap.lastUpdateId < first.U) continue;   // the snapshot is older than the stream: again
      this.bids = new Map(snap.bids.map(([p, q]) => [this.units(p), [p, q]]));
      this.asks = new Map(snap.asks.map(([p, q]) => [this.units(p), [p, q]]));
      this.id = snap.lastUpdateId;
      this.ready = true;
      const buffered = this.buffer;
      this.buffer = [];
      for (const ev of buffered) if (!this.apply(ev)) return false;
      return true;
    }
  }

  /** false: a gap (the caller resyncs). */
  feed(ev) {
    if (!this.ready) {
      this.buffer.push(ev);
      return true;
    }
    return this.apply(ev);
  }

  apply(ev) {
    if (ev.u <= this.id) return true;           // already in the snapshot
    if (ev.U > this.id + 1) {                   // missed events
      this.reset();
      return false;
    }
    for (const [side, levels] of [[this.bids, ev.b], [this.asks, ev.a]]) {
      for (const [p, q] of levels) {
        if (this.units(q) === 0n) side.delete(this.units(p));
        else side.set(this.units(p), [p, q]);
      }
    }
    this.id = ev.u;
    return true;
  }

  /** Best `n` levels a side, as REST depth gives them. */
  top(n) {
    const sorted = (m, desc) => [...m.entries()]
      .sort(([a], [b]) => ((a === b) ? 0 : ((a < b) === desc ? 1 : -1)))
      .slice(0, n).map(([, level]) => level);
    return { bids: sorted(this.bids, true), asks: sorted(this.asks, false) };
  }
}
