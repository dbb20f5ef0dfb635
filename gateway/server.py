"""The stream gateway's WebSocket server: Binance's paths, control messages and limits.

Paths: ``/ws`` and ``/ws/<stream>`` (raw payloads; a ``/ws/<anything>`` that is not a
stream name opens with no subscription, as ccxt expects, which then sends
``SUBSCRIBE``), ``/stream?streams=a/b`` (combined, ``{"stream","data"}``),
``/ws-api/v3`` (the WebSocket API, :mod:`gateway.wsapi`), ``/healthz``, ``/stats``
(connections, and publish-to-sent times of recent events).

Limits (Binance's): ``MAX_STREAMS`` streams per connection; ``MAX_MESSAGES_PER_S``
incoming messages per second (more closes the connection, 1008); a connection lives
``max_lifetime_s`` (24 h); the server pings every 20 s and closes a connection whose
pong has not come within a minute.  Ping/pong frames are answered by the library and
are not counted in the message rate.

Stateless: every replica subscribes to the matcher's Redis channels by itself and
holds nothing a client cannot get again by reconnecting.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from chalicelib import marketdata as md
from chalicelib.api.origin import client_address

from . import streams as st
from .hub import Conn, Hub

if TYPE_CHECKING:
    from .userdata import UserStreams

logger = logging.getLogger("gateway")

MAX_STREAMS = 1024
MAX_MESSAGES_PER_S = 5
MAX_LIFETIME_S = 24 * 3600
API_WORKERS = 64  # threads for WebSocket API requests (all connections)
MAX_ID = 2**63 - 1
_ID_TEXT = re.compile(r"^[A-Za-z0-9]{1,36}$")
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


@dataclass
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 9443
    max_lifetime_s: float = MAX_LIFETIME_S
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 60.0
    max_write_buffer: int = 4 * 1024 * 1024  # a reader further behind than this is closed


class RequestError(Exception):
    """A control message Binance would answer with ``{"error": {...}, "id": ...}``."""

    def __init__(self, code: int, msg: str, req_id=None):
        super().__init__(msg)
        self.code, self.msg, self.req_id = code, msg, req_id


def _error(code: int, msg: str, req_id=None) -> str:
    return json.dumps({"error": {"code": code, "msg": msg}, "id": req_id}, separators=(",", ":"))


def _bad_id(value) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return not -MAX_ID - 1 <= value <= MAX_ID
    return not (isinstance(value, str) and _ID_TEXT.match(value))


class Gateway:
    def __init__(self, config: GatewayConfig, redis=None, prefix: str | None = None, symbols=None):
        from chalicelib.clients import get_clients
        from chalicelib.symbols import load_catalog

        if redis is None or prefix is None:
            clients = get_clients()
            redis = clients.redis if redis is None else redis
            prefix = clients.settings.redis_key_prefix if prefix is None else prefix
        self.config = config
        self.redis = redis
        self.prefix: str = prefix
        self.symbols = list(symbols or sorted(load_catalog().symbols))
        self._hub: Hub | None = None            # made by run(), on its event loop
        self._users: UserStreams | None = None  # likewise
        #: stream connections (/ws, /stream) between process_request and their handler,
        #: which takes its Conn from here (a connection not in it is a WebSocket API one);
        #: one whose handshake fails after process_request never reaches a handler: the
        #: ticker forgets it here as in the hub (a weak dict would not: the Conn holds it)
        self._opening: dict[ServerConnection, Conn] = {}
        self.subscribed = threading.Event()   # the Redis subscription is live
        self.stop = threading.Event()
        self.server: Server | None = None
        self.port = config.port

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("the gateway's hub exists only while Gateway.run() runs")
        return self._hub

    @property
    def users(self) -> UserStreams:
        if self._users is None:
            raise RuntimeError("the gateway's user data streams exist only while Gateway.run() runs")
        return self._users

    # -- HTTP side: routing, health ----------------------------------------------------------
    def _parse_streams(self, text: str) -> list[str] | None:
        names = [n for n in text.split("/") if n]
        if len(names) > MAX_STREAMS:
            return None
        if any(st.parse(n, self.hub.symbol_set) is None for n in names):
            return None
        return names

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        path = url.path.rstrip("/") or "/"
        if path == "/stats":
            resp = conn.respond(HTTPStatus.OK, json.dumps(self.hub.stats()) + "\n")
            resp.headers["Content-Type"] = "application/json"
            return resp
        if path == "/healthz":
            ok = self.subscribed.is_set()
            body = json.dumps({"status": "ok" if ok else "starting", "connections": len(self.hub.conns)}) + "\n"
            resp = conn.respond(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, body)
            resp.headers["Content-Type"] = "application/json"
            return resp
        streams: tuple[bool, list[str]] | None  # (combined, names); None: the WebSocket API
        if path == "/stream":
            raw = parse_qs(url.query).get("streams", [""])[0]
            names = self._parse_streams(raw)
            if names is None:
                return self._http_error(conn, -1100, "Illegal characters found in parameter 'streams'; "
                                                     f"at most {MAX_STREAMS} valid stream names separated by '/'.")
            streams = (True, names)
        elif path == "/ws-api/v3":
            streams = None  # the WebSocket API
        elif path == "/ws" or path.startswith("/ws/"):
            name = path[4:]
            stream = st.parse(name, self.hub.symbol_set) if name else None
            streams = (False, [name] if stream else [])
        else:
            return self._http_error(conn, -1100, f"Unknown path '{path}': use /ws/<stream>, /stream?streams=..., "
                                                 "/ws-api/v3 or /healthz.", HTTPStatus.NOT_FOUND)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return self._http_error(conn, -1100, "A WebSocket upgrade is required on this path.",
                                    HTTPStatus.UPGRADE_REQUIRED)
        if streams is not None:
            # subscribed before the handshake answer goes out: a client that sees the
            # connection open is already receiving its streams (no race with the handler)
            combined, names = streams
            self._opening[conn] = sub = Conn(conn, combined)
            self.hub.add(sub)
            self.hub.subscribe(sub, names)
        return None

    @staticmethod
    def _http_error(conn: ServerConnection, code: int, msg: str, status=HTTPStatus.BAD_REQUEST) -> Response:
        resp = conn.respond(status, json.dumps({"code": code, "msg": msg}) + "\n")
        resp.headers["Content-Type"] = "application/json"
        return resp

    # -- a connection ----------------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        conn = self._opening.pop(ws, None)
        if conn is None:
            await self.handle_api(ws)
            return
        hub = self.hub
        try:
            async with asyncio.timeout(self.config.max_lifetime_s):
                async for message in ws:
                    if not self._within_rate(conn):
                        await ws.close(1008, "Too many requests")
                        break
                    await ws.send(self.control(conn, message))
        except TimeoutError:
            await ws.close(1000, "Connection lifetime reached")
        finally:
            hub.remove(conn)

    async def handle_api(self, ws: ServerConnection) -> None:
        """``/ws-api/v3``: one request per text frame, answered in order."""
        from . import wsapi

        query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
        # the caller as the REST API sees it (CloudFront's viewer address on connections
        # proven to come through our CloudFront); the secret read may block: off the loop
        ip = await asyncio.to_thread(client_address, (ws.remote_address or ("0.0.0.0",))[0],
                                     ws.request.headers if ws.request else {})
        session = wsapi.Session(ip, query.get("returnRateLimits", ["true"])[-1].lower() != "false")
        session.userdata = userdata = self.users.connection(ws)
        try:
            async with asyncio.timeout(self.config.max_lifetime_s):
                async for message in ws:
                    userdata.busy = True
                    try:
                        reply = await asyncio.to_thread(wsapi.handle, message, session)
                        await ws.send(json.dumps(reply, separators=(",", ":"), default=str))
                    finally:
                        # user data events held while a subscribe was answered; token expiry timer
                        userdata.after_request()
        except TimeoutError:
            await ws.close(1000, "Connection lifetime reached")
        finally:
            userdata.close()

    @staticmethod
    def _within_rate(conn: Conn) -> bool:
        now = time.monotonic()
        conn.recent = [t for t in conn.recent if now - t < 1.0]
        conn.recent.append(now)
        return len(conn.recent) <= MAX_MESSAGES_PER_S

    def control(self, conn: Conn, message) -> str:
        """The reply to one control message (SUBSCRIBE, ...), as Binance words it."""
        try:
            return json.dumps(self._control(conn, message), separators=(",", ":"))
        except RequestError as exc:
            return _error(exc.code, exc.msg, exc.req_id)

    def _control(self, conn: Conn, message) -> dict:
        if isinstance(message, bytes):
            try:
                message = message.decode()
            except UnicodeDecodeError:
                raise RequestError(3, "Invalid JSON: expected value at line 1 column 1") from None
        try:
            req = json.loads(message)
        except json.JSONDecodeError as exc:  # what json.loads raises for any bad text
            raise RequestError(3, f"Invalid JSON: {exc.msg.lower()} at line {exc.lineno} column {exc.colno}") \
                from None
        if not isinstance(req, dict):
            raise RequestError(2, "Invalid request: expected a JSON object")
        req_id = req.get("id")
        if "id" not in req or _bad_id(req_id):
            raise RequestError(2, "Invalid request: request ID must be an unsigned integer")
        if "method" not in req:
            raise RequestError(2, "Invalid request: missing field `method`", req_id)
        method = req["method"]
        if method not in METHODS:
            raise RequestError(2, f"Invalid request: unknown variant `{method}`, expected one of "
                                  + ", ".join(f"`{m}`" for m in METHODS), req_id)
        if set(req) - {"method", "params", "id"}:
            raise RequestError(2, "Invalid request: too many parameters", req_id)
        params = req.get("params", [])
        if params is None:
            params = []
        if not isinstance(params, list):
            raise RequestError(2, "Invalid request: params must be an array", req_id)
        hub = self.hub
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            bad = [p for p in params if st.parse(p, hub.symbol_set) is None]
            if bad:
                raise RequestError(2, f"Invalid request: invalid stream name `{bad[0]}`"
                                   if isinstance(bad[0], str) else "Invalid request: stream name must be a string",
                                   req_id)
            if method == "SUBSCRIBE":
                new = [p for p in params if p not in conn.streams]
                if len(params) > MAX_STREAMS or len(conn.streams) + len(set(new)) > MAX_STREAMS:
                    raise RequestError(2, f"Invalid request: too many streams (at most {MAX_STREAMS} per "
                                          "connection)", req_id)
                hub.subscribe(conn, params)
            else:
                hub.unsubscribe(conn, params)
            return {"result": None, "id": req_id}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(conn.streams), "id": req_id}
        expected = 2 if method == "SET_PROPERTY" else 1
        if len(params) > expected:
            raise RequestError(2, "Invalid request: too many parameters", req_id)
        if not params or not isinstance(params[0], str):
            raise RequestError(2, "Invalid request: property name must be a string", req_id)
        if params[0] != "combined":
            raise RequestError(0, "Unknown property", req_id)
        if method == "GET_PROPERTY":
            return {"result": conn.combined, "id": req_id}
        if len(params) < 2 or not isinstance(params[1], bool):
            raise RequestError(1, "Invalid value type: expected Boolean", req_id)
        hub.set_combined(conn, params[1])
        return {"result": None, "id": req_id}

    def shutdown_notice(self) -> None:
        """``serverShutdown`` to every client (Binance's warning before a restart)."""
        from websockets.asyncio.server import broadcast

        from .hub import now_ms

        body = json.dumps({"e": "serverShutdown", "E": now_ms()}, separators=(",", ":"))
        conns = list(self._hub.conns) if self._hub else []
        broadcast([c.ws for c in conns if not c.combined], body)
        broadcast([c.ws for c in conns if c.combined], f'{{"stream":"!serverShutdown","data":{body}}}')

    # -- Redis side ------------------------------------------------------------------------
    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """Thread: the matcher's channels, handed to the loop in batches (every message
        already received; under load a batch's frames reach each socket in one write).  A lost
        subscription is re-made, and every book re-read (clients see a U jump)."""
        channels = [md.channel(s, self.prefix) for s in self.symbols]
        first = True
        while not self.stop.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(*channels)
                self.subscribed.set()
                if not first:
                    loop.call_soon_threadsafe(self.hub.reset)
                first = False
                while not self.stop.is_set():
                    msg = pubsub.get_message(timeout=0.5)
                    batch = []
                    while msg:  # what has arrived meanwhile goes in the same hand-over
                        if msg["type"] == "message":
                            batch.append(msg["data"])
                        msg = pubsub.get_message(timeout=0.0)
                    if batch:
                        loop.call_soon_threadsafe(self.hub.on_messages, batch)
            except Exception:  # an outage: say so, retry
                self.subscribed.clear()
                logger.exception("redis subscription lost")
                self.stop.wait(1.0)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    pass

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.hub.tick()
                self._drop_slow_readers()
            except Exception:
                logger.exception("tick failed")

    def _drop_slow_readers(self) -> None:
        """Close readers too far behind; forget connections whose handshake failed
        after they were subscribed (their handler never ran)."""
        from websockets.protocol import State

        for conn in list(self.hub.conns):
            if conn.ws.protocol.state is State.CLOSED:
                self.hub.remove(conn)
                self._opening.pop(conn.ws, None)
                continue
            transport = getattr(conn.ws, "transport", None)
            if transport is not None and transport.get_write_buffer_size() > self.config.max_write_buffer:
                conn.ws.transport.abort()

    async def run(self, ready: threading.Event | None = None, stopped: asyncio.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        # the WebSocket API's blocking requests (an order waits up to seconds for the
        # matcher): more threads than asyncio's default of cpu + 4
        loop.set_default_executor(ThreadPoolExecutor(API_WORKERS, thread_name_prefix="ws-api"))
        hub = self._hub = Hub(self.redis, self.prefix, self.symbols, loop)
        from .userdata import UserStreams

        users = self._users = UserStreams(self.redis, self.prefix, loop)
        users.start()
        listener = threading.Thread(target=self._listen, args=(loop,), daemon=True, name="gateway-redis")
        listener.start()
        await asyncio.to_thread(self.subscribed.wait, 10)
        await hub.load()
        from .wstrading import warm_up

        loop.run_in_executor(None, warm_up)  # in the background: serving does not wait for it
        ticker = loop.create_task(self._ticker())
        async with serve(self.handle, self.config.host, self.config.port, process_request=self.process_request,
                         compression=None, max_size=64 * 1024, max_queue=8,
                         ping_interval=self.config.ping_interval_s, ping_timeout=self.config.ping_timeout_s,
                         server_header=None) as server:
            self.server = server
            self.port = next(iter(server.sockets)).getsockname()[1]
            logger.info("gateway listening", extra={"port": self.port})
            if ready is not None:
                ready.set()
            try:
                if stopped is None:
                    await server.serve_forever()
                else:
                    await stopped.wait()
                    self.shutdown_notice()
                    await asyncio.sleep(0.2)  # let the notice reach the sockets before the close frames
            finally:
                ticker.cancel()
                self.stop.set()
                users.stop.set()
