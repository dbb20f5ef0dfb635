"""The user data stream over the WebSocket API (``/ws-api/v3``):
``userDataStream.subscribe`` (the logged-on account, ``session.logon`` with an API key
or, the web app's way, a Cognito token: :mod:`gateway.tokenlogon`),
``userDataStream.subscribe.signature`` (any account whose key signs the request),
``userDataStream.unsubscribe`` (one subscription or all) and ``session.subscriptions``;
events go out as Binance sends them, ``{"subscriptionId": n, "event": {...}}``, one per
text frame.

Where the events come from: the account's Redis Stream (``chalicelib.userevents``),
written by the matcher after each settlement commit and by the deposit / withdrawal
paths.  Stateless: a subscription starts at the stream's last entry *before* the
reply goes out, so everything written after the subscription is delivered (at least
once, in order), whichever replica serves it; a client that reconnects to another
replica subscribes again and re-syncs from the REST / WebSocket API reads, as Binance
documents.

One reader thread per gateway process (:class:`UserStreams`) reads every subscribed
account's stream with one blocking ``XREAD``; only that thread changes who receives
what, so a subscription joining an account already being read gets the entries
between its start and the reader's position first (``XRANGE``), then the common ones,
never one twice.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import NoReturn

from websockets.asyncio.server import broadcast

from chalicelib import userevents
from chalicelib.errors import ExchangeError, Reason

logger = logging.getLogger("gateway.userdata")

METHODS = ("userDataStream.subscribe", "userDataStream.subscribe.signature", "userDataStream.unsubscribe",
           "session.subscriptions")
WEIGHT = 2
MAX_ACTIVE = 1000          # active subscriptions per connection (Binance's)
MAX_IDS = 65535            # subscriptions per connection over its lifetime (Binance's)
BLOCK_MS = 100             # XREAD block: how long a new account may wait to join the read


def _sid(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Sub:
    """One subscription; ``until`` (epoch seconds): when the Cognito token it was granted
    on expires (None: an API key's, which lives as long as the connection)."""

    __slots__ = ("id", "account_id", "conn", "logon", "start", "closed", "until")

    def __init__(self, sub_id: int, account_id: int, conn: UserConn, logon: bool, start: str,
                 until: float | None = None):
        self.id, self.account_id, self.conn, self.logon, self.start = sub_id, account_id, conn, logon, start
        self.until = until
        self.closed = False


class UserConn:
    """One ``/ws-api/v3`` connection's subscriptions.  Events for it are held while a
    subscribe request is answered, so the reply goes out before the first event.

    A subscription granted on a Cognito token (``session.logon`` with ``token``) ends
    with ``eventStreamTerminated`` when that token expires, unless the connection logged
    on again with a fresh token of the same user first (:meth:`extend`): a token's
    holder reads the account's events no longer than the token says."""

    def __init__(self, hub: UserStreams, ws):
        self.hub, self.ws = hub, ws
        self.lock = threading.Lock()
        self.subs: dict[int, Sub] = {}
        self.next_id = 0
        self.holding = False
        self.pending: list[str] = []
        self.busy = False        # a request of this connection is being answered (the event loop's)
        self.timer: asyncio.TimerHandle | None = None

    # -- requests (a worker thread) -------------------------------------------------------
    def subscribe(self, account_id: int, logon: bool, until: float | None = None) -> int:
        with self.lock:
            if any(s.account_id == account_id for s in self.subs.values()):
                raise ExchangeError(Reason.SUBSCRIPTION_ACTIVE)
            if len(self.subs) >= MAX_ACTIVE:
                raise ExchangeError(Reason.TOO_MANY_SUBSCRIPTIONS)
            if self.next_id >= MAX_IDS:
                raise ExchangeError(Reason.MAXIMUM_SUBSCRIPTION_IDS)
            start = self.hub.last_id(account_id)  # before the reply: nothing after it is missed
            sub = Sub(self.next_id, account_id, self, logon, start, until)
            self.next_id += 1
            self.subs[sub.id] = sub
            self.holding = True
        self.hub.add(sub)
        return sub.id

    def unsubscribe(self, sub_id: int | None = None, logon_only: bool = False) -> list[int]:
        with self.lock:
            if sub_id is not None:
                if sub_id not in self.subs:
                    raise ExchangeError(Reason.SUBSCRIPTION_INACTIVE)
                gone = [self.subs.pop(sub_id)]
            else:
                gone = [s for s in self.subs.values() if s.logon or not logon_only]
                for s in gone:
                    del self.subs[s.id]
            for s in gone:
                s.closed = True
                self.pending.append(_frame(s.id, userevents._dumps({"e": "eventStreamTerminated",
                                                                     "E": userevents.now_ms()})))
            self.holding = True
        for s in gone:
            self.hub.remove(s)
        return [s.id for s in gone]

    def ids(self) -> list[int]:
        with self.lock:
            return sorted(self.subs)

    def extend(self, account_id: int, until: float) -> None:
        """A fresh token of the same user: its subscriptions made on a token live on."""
        with self.lock:
            for s in self.subs.values():
                if s.until is not None and s.account_id == account_id:
                    s.until = max(s.until, until)

    def expire(self, now: float) -> list[int]:
        """End the subscriptions whose token has expired (``eventStreamTerminated``)."""
        with self.lock:
            due = [s.id for s in self.subs.values() if s.until is not None and s.until <= now]
        gone: list[int] = []
        for sub_id in due:
            try:
                gone += self.unsubscribe(sub_id)
            except ExchangeError:  # unsubscribed meanwhile
                pass
        return gone

    # -- the event loop ---------------------------------------------------------------------
    def deliver(self, frame: str) -> None:
        with self.lock:
            if self.holding:
                self.pending.append(frame)
                return
        broadcast([self.ws], frame)

    def flush(self) -> None:
        """After a reply went out: the events held meanwhile, in order."""
        with self.lock:
            frames, self.pending, self.holding = self.pending, [], False
        for f in frames:
            broadcast([self.ws], f)

    def after_request(self) -> None:
        """After each reply (the event loop): held events out, the expiry timer set to
        the earliest token expiry among the subscriptions."""
        self.busy = False
        self.flush()
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        with self.lock:
            ends = [s.until for s in self.subs.values() if s.until is not None]
        if ends:
            self.timer = self.hub.loop.call_later(max(0.0, min(ends) - time.time()) + 0.05, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.expire(time.time())
        if not self.busy:  # else the reply being prepared goes first, then these (after_request)
            self.flush()
        self._arm()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        with self.lock:
            gone, self.subs = list(self.subs.values()), {}
        for s in gone:
            s.closed = True
            self.hub.remove(s)


def _frame(sub_id: int, event_text: str) -> str:
    return f'{{"subscriptionId":{sub_id},"event":{event_text}}}'


class UserStreams:
    """The process's reader of the subscribed accounts' Redis streams."""

    def __init__(self, redis, prefix: str, loop):
        self.redis, self.prefix, self.loop = redis, prefix, loop
        self.changes: queue.SimpleQueue = queue.SimpleQueue()
        self.by_account: dict[int, list[Sub]] = {}   # the reader thread's alone
        self.cursors: dict[int, str] = {}
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.delivered = 0

    def connection(self, ws) -> UserConn:
        return UserConn(self, ws)

    def last_id(self, account_id: int) -> str:
        last = self.redis.xrevrange(userevents.stream_key(account_id, self.prefix), count=1)
        return last[0][0] if last else "0-0"

    def add(self, sub: Sub) -> None:
        self.changes.put(("add", sub))

    def remove(self, sub: Sub) -> None:
        self.changes.put(("remove", sub))

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True, name="gateway-userdata")
        self.thread.start()

    # -- the reader thread ------------------------------------------------------------------
    def _send(self, subs: list[Sub], text: str) -> None:
        for s in subs:
            if not s.closed:
                s.conn.deliver(_frame(s.id, text))
                self.delivered += 1

    def _apply_changes(self) -> None:
        while True:
            try:
                op, sub = self.changes.get_nowait()
            except queue.Empty:
                return
            acct = sub.account_id
            if op == "remove":
                left = [s for s in self.by_account.get(acct, []) if s is not sub]
                if left:
                    self.by_account[acct] = left
                else:
                    self.by_account.pop(acct, None)
                    self.cursors.pop(acct, None)
                continue
            cursor = self.cursors.get(acct)
            if cursor is None:
                self.cursors[acct] = sub.start
            elif _sid(cursor) > _sid(sub.start):
                # the account is read past this subscription's start: its entries in
                # between go to it alone, before anything newer
                key = userevents.stream_key(acct, self.prefix)
                for _id, fields in self.redis.xrange(key, min="(" + sub.start, max=cursor):
                    self.loop.call_soon_threadsafe(self._send, [sub], fields["e"])
            elif _sid(cursor) < _sid(sub.start):
                pass  # the others need what lies between; this one starts later (filtered below)
            self.by_account.setdefault(acct, []).append(sub)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self._apply_changes()
                if not self.cursors:
                    self.stop.wait(BLOCK_MS / 1000)
                    continue
                streams = {userevents.stream_key(a, self.prefix): c for a, c in self.cursors.items()}
                got = self.redis.xread(streams, count=1000, block=BLOCK_MS)
            except Exception:  # an outage: the cursors stay, reading resumes where it stopped
                logger.exception("user data streams: read failed")
                self.stop.wait(1.0)
                continue
            for key, entries in got or []:
                acct = int(key.rsplit(":", 1)[1])
                subs = self.by_account.get(acct)
                if not subs:
                    continue
                for entry_id, fields in entries:
                    targets = [s for s in subs if _sid(entry_id) > _sid(s.start)]
                    if targets:
                        self.loop.call_soon_threadsafe(self._send, targets, fields["e"])
                    self.cursors[acct] = entry_id


# -- the WebSocket API requests -------------------------------------------------------------
def _declaration_only(ctx) -> NoReturn:
    raise RuntimeError("this Op only declares a signed request's parameters: nothing dispatches it")


def handle(name: str, req_id, params: dict, session) -> dict:
    """One user data stream request (blocking: Redis and, for a signature, the key
    check; run in a worker thread)."""
    from chalicelib.api import ops as O
    from chalicelib.api.params import parse
    from chalicelib.errors import Failure

    from . import wsapi

    def work() -> dict | list:
        conn: UserConn | None = getattr(session, "userdata", None)
        if conn is None:  # a session outside the gateway (no streams to serve)
            raise ExchangeError(Failure(Reason.UNSUPPORTED_OPERATION, "User data streams are not available here."))
        if name == "userDataStream.subscribe":
            if session.principal is None:
                raise ExchangeError(Reason.UNAUTHORIZED)
            principal = session.active_principal()  # a token session that has expired: -1002
            return {"subscriptionId": conn.subscribe(int(principal.account_id), logon=True,
                                                     until=session.principal_until)}
        if name == "userDataStream.subscribe.signature":
            text = {k: wsapi._as_text(k, v) for k, v in params.items()}
            op = O.Op(name, "GET", "", _declaration_only, name, security=O.USER_DATA, weight=WEIGHT,
                      params=O.SIGNED_PARAMS)
            args = parse(op.params, {k: [v] for k, v in text.items() if k != "apiKey"})
            principal = wsapi._signed_principal(op, args, text, session.ip)
            return {"subscriptionId": conn.subscribe(int(principal.account_id), logon=False)}
        if name == "userDataStream.unsubscribe":
            sub_id = params.get("subscriptionId")
            if sub_id is not None and (isinstance(sub_id, bool) or not isinstance(sub_id, int)):
                raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                            "Parameter 'subscriptionId' was malformed."))
            conn.unsubscribe(sub_id)
            return {}
        return [{"subscriptionId": i} for i in conn.ids()]  # session.subscriptions

    return wsapi.answer(req_id, session, params, WEIGHT, work, f"user data stream request {name}")


def on_logout(session) -> None:
    """``session.logout`` ends the subscription made with ``userDataStream.subscribe``
    (not those made with a signature)."""
    conn = getattr(session, "userdata", None)
    if conn is not None:
        conn.unsubscribe(logon_only=True)


def stats(hub: UserStreams | None) -> dict:
    if hub is None:
        return {}
    return {"userDataAccounts": len(hub.by_account), "userDataEvents": hub.delivered}

