"""The fan-out core: who is subscribed to which stream, the per-symbol state derived
from the matcher's Redis notifications, and the throttles of the 100 ms / 1 s / 2 s
streams.

Everything here runs on the event loop; Redis reads (snapshots, klines, tickers) run
in worker threads through the shared synchronous client.  Each event is encoded once
per stream, as JSON and then as one WebSocket frame (``websockets``' own ``Frame``
serialisation), once for raw connections and once, wrapped as ``{"stream", "data"}``,
for combined ones; the same frame bytes are then written to every open subscriber's
transport (``fan_out``: no per-connection JSON, framing, task or await).

Depth diffs: the matcher publishes, per settled batch, the level changes from the
previous stored snapshot (``U`` = its lastUpdateId + 1) to the new one (``u``).  A
diff stream forwards them merged over its update window (later quantities win, ``U``
of the first, ``u`` of the last), never merging across a gap, so a client following
Binance's local-order-book procedure against REST depth sees no gap and no overlap;
a gap the gateway itself suffers (lost Redis connection) reaches the client as a
``U`` jump, which the same procedure turns into a resync.
"""
from __future__ import annotations

import asyncio
import heapq
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from chalicelib import marketdata as md

from . import streams as st


def now_ms() -> int:
    return int(time.time() * 1000)


def text_frame(text: str) -> bytes:
    """One unmasked text frame (a server's), serialised once for any number of sockets;
    the gateway negotiates no extension (``compression=None``), so it is the same
    bytes for every connection."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def fan_out(connections: Iterable[ServerConnection], frame: bytes) -> None:
    """Write a serialised frame to every open connection, what ``websockets.broadcast``
    does without its per-connection framing: connections not OPEN (closing) or in a
    fragmented send are skipped, a failing write is ignored (the connection is being
    lost and its handler will remove it)."""
    opened = State.OPEN
    for ws in connections:
        if ws.protocol.state is not opened or ws.send_in_progress is not None:
            continue
        try:
            ws.transport.write(frame)
        except Exception:  # as broadcast: one bad socket must not stop the others
            pass


class Conn:
    """One client connection's subscription state."""

    __slots__ = ("ws", "combined", "streams", "recent", "opened")

    def __init__(self, ws: ServerConnection, combined: bool):
        self.ws = ws
        self.combined = combined
        self.streams: dict[str, None] = {}  # ordered set, as LIST_SUBSCRIPTIONS reports it
        self.recent: list[float] = []       # monotonic times of the last incoming messages
        self.opened = time.monotonic()


class Throttle:
    """Calls ``fn`` at most once per ``period`` s: at once if the last call is older
    than that, else once at the end of the period (leading and trailing edge)."""

    __slots__ = ("loop", "period", "fn", "last", "handle")

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float, fn: Callable[[], object]):
        # fn's result is ignored (a kline flush returns the task it starts)
        self.loop, self.period, self.fn = loop, period, fn
        self.last = -1e9
        self.handle: asyncio.TimerHandle | None = None

    def poke(self) -> None:
        now = self.loop.time()
        if self.handle is not None:
            return
        if now - self.last >= self.period:
            self._fire()
        else:
            self.handle = self.loop.call_at(self.last + self.period, self._fire)

    def _fire(self) -> None:
        self.handle = None
        self.last = self.loop.time()
        self.fn()

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


@dataclass
class Book:
    """The gateway's copy of a symbol's published book (for partial depth and the book
    ticker), kept by Binance's own procedure: snapshot + contiguous diffs."""

    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    u: int = -1                 # -1: no snapshot yet
    loading: bool = False
    buffered: list = field(default_factory=list)
    top: tuple | None = None    # last (bid, ask) sent on bookTicker

    def load(self, snap: dict | None) -> None:
        snap = snap or {"lastUpdateId": 0, "bids": [], "asks": []}
        self.bids = {p: q for p, q in snap.get("bids", [])}
        self.asks = {p: q for p, q in snap.get("asks", [])}
        self.u = int(snap.get("lastUpdateId", 0))

    def apply(self, diff: dict) -> str:
        """'ok', 'old' (already contained) or 'gap' (a snapshot is needed)."""
        if diff["u"] <= self.u:
            return "old"
        if self.u < 0 or diff["U"] > self.u + 1:
            return "gap"
        for side, levels in ((self.bids, diff["b"]), (self.asks, diff["a"])):
            for p, q in levels:
                if Decimal(q):
                    side[p] = q
                else:
                    side.pop(p, None)
        self.u = diff["u"]
        return "ok"

    def best(self, n: int) -> tuple[list, list]:
        bids = heapq.nlargest(n, self.bids, key=Decimal)
        asks = heapq.nsmallest(n, self.asks, key=Decimal)
        return [[p, self.bids[p]] for p in bids], [[p, self.asks[p]] for p in asks]


@dataclass
class Pending:
    """A diff stream's update window being merged."""

    throttle: Throttle          # flushes the window at most once per update speed
    first: int | None = None
    last: int = -1
    event_ms: int = 0
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)


class Hub:
    def __init__(self, redis, prefix: str, symbols: list[str], loop: asyncio.AbstractEventLoop | None = None):
        self.redis = redis
        self.prefix = prefix
        self.symbols = list(symbols)
        self.symbol_set = set(symbols)
        self.loop = loop or asyncio.get_running_loop()
        self.raw: dict[str, set[ServerConnection]] = {}   # stream name -> connections wanting raw payloads
        self.comb: dict[str, set[ServerConnection]] = {}  # ... wanting the combined wrapper
        self.conns: set[Conn] = set()
        self.books = {s: Book() for s in symbols}
        self.pending: dict[tuple[str, int], Pending] = {}
        self.partials: dict[tuple[str, int, int], Throttle] = {}
        self.klines: dict[tuple[str, str], Throttle] = {}
        self.kline_sent: dict[tuple[str, str], tuple[int, bool]] = {}  # (open time, closed) last sent
        self.last_trade: dict[str, int] = {}
        self.seen_u: dict[str, int] = {}   # highest lastUpdateId seen per symbol (snapshot or diff)
        self.tickers_sent: dict[tuple[str, str], tuple] = {}
        self.events = 0
        #: frames held while a batch of notifications is handled (None: write at once)
        self.outbox: list[tuple[set[ServerConnection], bytes]] | None = None
        self.held_ms: list[int] = []
        #: publish -> written-to-every-socket times (ms) of recent depth diffs and trades,
        #: for /stats: what the gateway adds, apart from the clients' own delays
        self.fanout_ms: deque[float] = deque(maxlen=20_000)

    # -- subscriptions ------------------------------------------------------------------
    def wanted(self, name: str) -> bool:
        return name in self.raw or name in self.comb

    def _sets(self, conn: Conn) -> dict[str, set[ServerConnection]]:
        return self.comb if conn.combined else self.raw

    def subscribe(self, conn: Conn, names) -> None:
        sets = self._sets(conn)
        for n in names:
            conn.streams[n] = None
            sets.setdefault(n, set()).add(conn.ws)
        for n in names:  # snapshot-like streams start at once rather than at the next change
            s = st.parse(n, self.symbol_set)
            if s is not None and s.kind == "partial":
                self._poke_partial(s.symbol, s.levels, s.speed_ms)
            elif s is not None and s.kind == "kline":
                self._poke_kline(s.symbol, s.interval)

    def unsubscribe(self, conn: Conn, names) -> None:
        sets = self._sets(conn)
        for n in names:
            conn.streams.pop(n, None)
            members = sets.get(n)
            if members is not None:
                members.discard(conn.ws)
                if not members:
                    del sets[n]

    def set_combined(self, conn: Conn, combined: bool) -> None:
        if conn.combined == combined:
            return
        names = list(conn.streams)
        self.unsubscribe(conn, names)
        conn.combined = combined
        self.subscribe(conn, names)

    def add(self, conn: Conn) -> None:
        self.conns.add(conn)

    def remove(self, conn: Conn) -> None:
        self.unsubscribe(conn, list(conn.streams))
        self.conns.discard(conn)

    def emit(self, name: str, data) -> None:
        raw, comb = self.raw.get(name), self.comb.get(name)
        if not raw and not comb:
            return
        body = json.dumps(data, separators=(",", ":"))
        self.events += 1
        if raw:
            self._send(raw, text_frame(body))
        if comb:
            self._send(comb, text_frame(f'{{"stream":"{name}","data":{body}}}'))

    def _written(self, published_ms: int) -> None:
        """A fan-out of an event published at ``published_ms`` is written (or, in a
        batch, will be: timed at the batch's end)."""
        if self.outbox is None:
            self.fanout_ms.append(time.time() * 1000 - published_ms)
        else:
            self.held_ms.append(published_ms)

    def _send(self, connections: set[ServerConnection], frame: bytes) -> None:
        """Written at once, or, while a batch is handled, held for its single write."""
        if self.outbox is None:
            fan_out(connections, frame)
        else:
            self.outbox.append((connections, frame))

    def _flush_outbox(self, out: list[tuple[set[ServerConnection], bytes]]) -> None:
        """The frames held (``out``, the outbox) while a batch of notifications was handled:
        one write per connection (its frames in emit order), or a plain fan-out if there is one."""
        self.outbox = None
        if len(out) == 1:
            fan_out(*out[0])
        elif out:
            per: dict[ServerConnection, list[bytes]] = {}
            for connections, frame in out:
                for ws in connections:
                    frames = per.get(ws)
                    if frames is None:
                        per[ws] = [frame]
                    else:
                        frames.append(frame)
            opened = State.OPEN
            for ws, frames in per.items():
                if ws.protocol.state is not opened or ws.send_in_progress is not None:
                    continue
                try:
                    ws.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
                except Exception:  # as fan_out
                    pass
        now = time.time() * 1000
        self.fanout_ms.extend(now - t for t in self.held_ms)
        self.held_ms.clear()

    def stats(self) -> dict:
        lags = sorted(self.fanout_ms)

        def q(f: float):
            return round(lags[min(len(lags) - 1, int(f * len(lags)))], 1) if lags else None

        return {"connections": len(self.conns), "streams": len(self.raw) + len(self.comb), "events": self.events,
                "fanoutMs": {"samples": len(lags), "p50": q(0.5), "p99": q(0.99), "max": q(1.0)}}

    # -- start-up ---------------------------------------------------------------------
    async def load(self) -> None:
        """Snapshots and last trade ids of every symbol (one Redis round trip)."""
        many = await asyncio.to_thread(md.read_many, self.redis, self.symbols, self.prefix)
        for s, (snap, last) in many.items():
            book = self.books[s]
            if book.u < 0 and not book.loading:
                book.load(snap)
            self.seen_u[s] = max(self.seen_u.get(s, 0), book.u)
            if last and last.get("lastId") is not None:
                self.last_trade.setdefault(s, int(last["lastId"]))

    def reset(self) -> None:
        """After a lost Redis subscription: every book needs a fresh snapshot."""
        for s, book in self.books.items():
            book.u = -1
            book.buffered.clear()
            self._reload(s)

    # -- notifications from the matcher ----------------------------------------------------
    def on_messages(self, batch: list[str]) -> None:
        """Notifications received together: handled in order, and what they emit is
        written once per connection at the end (same callback: no subscription change
        and no other write can come in between)."""
        if len(batch) == 1:
            self.on_message(batch[0])
            return
        outbox: list[tuple[set[ServerConnection], bytes]] = []
        self.outbox = outbox
        try:
            for raw in batch:
                self.on_message(raw)
        finally:
            self._flush_outbox(outbox)

    def on_message(self, raw: str) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        sym = msg.get("s")
        if sym not in self.symbol_set:
            return
        if msg.get("e") == "depth" and "U" in msg:
            self._on_depth(sym, msg)
        elif msg.get("e") == "trade":
            self._on_trades(sym, msg.get("t") or [])

    def _on_depth(self, sym: str, diff: dict) -> None:
        seen = self.seen_u.get(sym, 0)
        if diff["U"] == 1 and seen > 0:
            # the matcher found no stored snapshot (a flushed cache) and diffed from the
            # empty book; clients holding an older snapshot must re-sync, not merge it
            diff = {**diff, "U": diff["u"]}
        self.seen_u[sym] = max(seen, diff["u"])
        for speed in st.DEPTH_SPEEDS:
            self._merge_diff(sym, speed, diff)
        book = self.books[sym]
        if book.loading:
            book.buffered.append(diff)
            return
        result = book.apply(diff)
        if result == "gap":
            book.buffered.append(diff)
            self._reload(sym)
        elif result == "ok":
            self._book_changed(sym)

    def _reload(self, sym: str) -> None:
        book = self.books[sym]
        if book.loading:
            return
        book.loading = True

        async def run():
            try:
                snap = await asyncio.to_thread(md.read_depth, self.redis, sym, self.prefix)
                book.load(snap)
                for d in book.buffered:
                    book.apply(d)  # 'gap' here means a newer snapshot will come with the next diff
            finally:
                book.buffered.clear()
                book.loading = False
            self._book_changed(sym)

        self.loop.create_task(run())

    def _merge_diff(self, sym: str, speed: int, diff: dict) -> None:
        names = st.depth_names(sym, speed)
        key = (sym, speed)
        if not any(self.wanted(n) for n in names):
            p = self.pending.pop(key, None)
            if p is not None:
                p.throttle.cancel()
            return
        p = self.pending.get(key)
        if p is None:
            p = self.pending[key] = Pending(Throttle(self.loop, speed / 1000, lambda: self._flush_diff(sym, speed)))
        if p.first is not None and diff["U"] != p.last + 1:
            self._flush_diff(sym, speed)  # never merge across a gap or a reset
        if p.first is None:
            p.first = diff["U"]
        p.last = diff["u"]
        p.event_ms = diff.get("E", now_ms())
        p.bids.update((lv[0], lv[1]) for lv in diff["b"])
        p.asks.update((lv[0], lv[1]) for lv in diff["a"])
        if p.bids or p.asks:
            p.throttle.poke()

    def _flush_diff(self, sym: str, speed: int) -> None:
        p = self.pending.get((sym, speed))
        if p is None or p.first is None or not (p.bids or p.asks):
            return  # an empty window stays open: its U carries over to the next event
        ev = st.depth_update(sym, p.event_ms, p.first, p.last, [[k, v] for k, v in p.bids.items()],
                             [[k, v] for k, v in p.asks.items()])
        p.first, p.bids, p.asks = None, {}, {}
        for n in st.depth_names(sym, speed):
            self.emit(n, ev)
        self._written(p.event_ms)

    def _book_changed(self, sym: str) -> None:
        book = self.books[sym]
        name = f"{sym.lower()}@bookTicker"
        if self.wanted(name):
            bids, asks = book.best(1)
            top = (bids[0] if bids else None, asks[0] if asks else None)
            if top != book.top:
                book.top = top
                self.emit(name, st.book_ticker(sym, book.u, *top))
        for levels in st.PARTIAL_LEVELS:
            for speed in st.DEPTH_SPEEDS:
                self._poke_partial(sym, levels, speed)

    def _poke_partial(self, sym: str, levels: int, speed: int) -> None:
        names = st.partial_names(sym, levels, speed)
        if not any(self.wanted(n) for n in names):
            return
        key = (sym, levels, speed)
        t = self.partials.get(key)
        if t is None:
            t = self.partials[key] = Throttle(self.loop, speed / 1000, lambda: self._flush_partial(sym, levels, speed))
        t.poke()

    def _flush_partial(self, sym: str, levels: int, speed: int) -> None:
        book = self.books[sym]
        if book.u < 0:
            return
        bids, asks = book.best(levels)
        ev = st.partial_depth(book.u, bids, asks)
        for n in st.partial_names(sym, levels, speed):
            self.emit(n, ev)

    def _on_trades(self, sym: str, trades: list[dict]) -> None:
        if not trades:
            return
        self.last_trade[sym] = max(self.last_trade.get(sym, -1), int(trades[-1]["id"]))
        names = st.stream_names(sym)
        e = now_ms()
        if self.wanted(names["trade"]):
            for t in trades:
                self.emit(names["trade"], st.trade_event(sym, t, e))
            self._written(trades[-1]["time"])
        if self.wanted(names["aggTrade"]):
            from chalicelib.api.market import aggregate_trades  # REST aggTrades' grouping: one definition

            for a in aggregate_trades(trades):
                self.emit(names["aggTrade"], st.agg_trade_event(sym, a, e))
        for interval in md.INTERVALS:
            self._poke_kline(sym, interval)

    # -- klines -------------------------------------------------------------------------
    def _poke_kline(self, sym: str, interval: str, heartbeat: bool = False) -> None:
        name = f"{sym.lower()}@kline_{interval}"
        if not self.wanted(name):
            self.klines.pop((sym, interval), None)
            return
        key = (sym, interval)
        t = self.klines.get(key)
        if t is None:
            period = 1.0 if interval == "1s" else 2.0
            t = self.klines[key] = Throttle(self.loop, period,
                                            lambda: self.loop.create_task(self._flush_kline(sym, interval)))
        if heartbeat and self.loop.time() - t.last < t.period:
            return
        t.poke()

    async def _flush_kline(self, sym: str, interval: str) -> None:
        rows = await asyncio.to_thread(md.read_klines, self.redis, sym, interval, None, None, 2, self.prefix)
        if not rows:
            return
        name = f"{sym.lower()}@kline_{interval}"
        key = (sym, interval)
        e = now_ms()
        last_id = self.last_trade.get(sym, -1)
        current_open = md.kline_open(interval, e)
        row = rows[-1]
        sent = self.kline_sent.get(key)
        if len(rows) == 2 and sent and sent[0] == rows[0][0] and not sent[1] and row[0] == current_open:
            # the candle we last sent as open has closed: its final state, once
            prev_last = last_id - row[8]
            self.emit(name, st.kline_event(sym, interval, rows[0], prev_last - rows[0][8] + 1, prev_last, True, e))
        if row[0] == current_open:
            self.emit(name, st.kline_event(sym, interval, row, last_id - row[8] + 1, last_id, False, e))
            self.kline_sent[key] = (row[0], False)
            return
        # no trade yet in the current candle
        if not (sent and sent[0] == row[0] and sent[1]):
            self.emit(name, st.kline_event(sym, interval, row, last_id - row[8] + 1, last_id, True, e))
            self.kline_sent[key] = (row[0], True)
        self.emit(name, st.kline_event(sym, interval, st.empty_kline(current_open, interval, row[4]), -1, -1,
                                       False, e))

    # -- once a second: tickers and heartbeats ----------------------------------------------
    def _ticker_symbols(self) -> list[str]:
        if self.wanted("!ticker@arr") or self.wanted("!miniTicker@arr"):
            return list(self.symbols)
        out = []
        for s in self.symbols:
            names = st.stream_names(s)
            if self.wanted(names["ticker"]) or self.wanted(names["miniTicker"]):
                out.append(s)
        return out

    def _ticker_rows(self, symbols: list[str], window: str | None = None) -> list[dict]:
        """REST ``GET /api/v3/ticker/24hr?symbols=...`` (or ``ticker?windowSize=``), FULL,
        computed by the REST code itself."""
        from chalicelib.api import market
        from chalicelib.api.params import Args

        args = {"symbols": symbols, "type": "FULL"}
        if window is None:
            rows = market.ticker_24hr(SimpleNamespace(args=Args(args)))
        else:
            rows = market.ticker_window(SimpleNamespace(args=Args({**args, "windowSize": window})))
        return rows if isinstance(rows, list) else [rows]

    def _avg_prices(self, symbols: list[str]) -> list[tuple[str, dict, int]]:
        """REST ``avgPrice`` of each symbol and its last trade's time."""
        from chalicelib.api import market
        from chalicelib.api.params import Args

        lasts = md.read_many(self.redis, symbols, self.prefix)
        out = []
        for s in symbols:
            avg = market.avg_price(SimpleNamespace(args=Args({"symbol": s})))
            last = lasts[s][1] or {}
            out.append((s, avg, int(last.get("time") or 0)))
        return out

    async def _window_tickers(self, e: int) -> None:
        for window in st.WINDOWS:
            every = self.wanted(f"!ticker_{window}@arr")
            symbols = [s for s in self.symbols if every or self.wanted(st.stream_names(s)[f"ticker_{window}"])]
            if not symbols:
                continue
            rows = await asyncio.to_thread(self._ticker_rows, symbols, window)
            changed = []
            for row in rows:
                ev = st.window_ticker_event(row, window, e)
                self.emit(st.stream_names(row["symbol"])[f"ticker_{window}"], ev)
                state = tuple(ev[k] for k in st.TICKER_STATE)
                if self.tickers_sent.get((row["symbol"], window)) != state:
                    self.tickers_sent[(row["symbol"], window)] = state
                    changed.append(ev)
            if changed:
                self.emit(f"!ticker_{window}@arr", changed)
        symbols = [s for s in self.symbols if self.wanted(st.stream_names(s)["avgPrice"])]
        if symbols:
            for s, avg, last_ms in await asyncio.to_thread(self._avg_prices, symbols):
                self.emit(st.stream_names(s)["avgPrice"], st.avg_price_event(s, avg, last_ms, e))

    async def tick(self) -> None:
        """The 1 s work: tickers, kline and partial-depth heartbeats."""
        for sym, interval in list(self.klines):
            self._poke_kline(sym, interval, heartbeat=True)
        for (sym, levels, speed), t in list(self.partials.items()):
            if self.loop.time() - t.last >= 1.0:
                self._poke_partial(sym, levels, speed)
        await self._window_tickers(now_ms())
        symbols = self._ticker_symbols()
        if not symbols:
            return
        rows = await asyncio.to_thread(self._ticker_rows, symbols)
        e = now_ms()
        full_arr, mini_arr = [], []
        for row in rows:
            names = st.stream_names(row["symbol"])
            full, mini = st.ticker_event(row, e), st.mini_ticker_event(row, e)
            self.emit(names["ticker"], full)
            self.emit(names["miniTicker"], mini)
            state = tuple(full[k] for k in st.TICKER_STATE)
            if self.tickers_sent.get((row["symbol"], "arr")) != state:
                self.tickers_sent[(row["symbol"], "arr")] = state
                full_arr.append(full)
                mini_arr.append(mini)
        if full_arr:
            self.emit("!ticker@arr", full_arr)
            self.emit("!miniTicker@arr", mini_arr)
