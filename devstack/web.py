"""The local front door: what CloudFront + API Gateway are in AWS.

One HTTP server on 127.0.0.1:<port> serves the web app's static files at ``/`` (as
CloudFront serves them from S3) and hands ``/api/*`` to the Chalice app with the
``/api`` prefix removed (as CloudFront forwards to the API Gateway stage named
``api``).  It reuses Chalice's own local gateway, so routing, authorizers and the
Lambda event are exactly those of ``chalice local``.  The raw query string is passed
on in a header because Binance-style signatures are computed over it and API Gateway's
parsed parameters lose its order.

What API Gateway guarantees, the local host guarantees too: the Lambda event's
``requestContext.identity.sourceIp`` is the real socket peer (never a header), and
every request refused before the app runs -- unknown path or method, oversized URL,
headers or body, a failed authorizer -- is answered with the status and
``{"code", "msg"}`` body of :data:`chalicelib.api.gateway_errors.GATEWAY_RESPONSES`,
the same table ``infra/`` turns into the REST API's gateway responses.

The stream gateway (``python -m gateway``, a process of its own on an internal port)
is reached on this same host and port, as a browser reaches it on the web app's own
origin: a WebSocket upgrade on ``/ws``, ``/ws/...``, ``/stream`` or ``/ws-api/v3`` is
relayed to it byte for byte (:meth:`ExchangeRequestHandler._relay_to_gateway`).
"""
from __future__ import annotations

import argparse
import json
import mimetypes
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    InvalidAuthorizerError,
    LocalDevServer,
    NotAuthorizedError,
)

from chalicelib.api.gateway_errors import GATEWAY_RESPONSES
from chalicelib.errors import Reason

ROOT = Path(__file__).resolve().parent.parent
RAW_QUERY_HEADER = "x-exchange-raw-query"
MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's payload limit (the app refuses much less itself)
# client-sent peer headers are dropped on the way to the gateway: only a proxy the stack
# runs may ever say who the client is (see _relay_to_gateway and chalicelib.api.origin)
PEER_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "cloudfront-viewer-address", "x-origin-verify")


def is_stream_path(path: str) -> bool:
    """The stream gateway's WebSocket paths (``gateway/server.py``)."""
    return path in ("/ws", "/stream", "/ws-api/v3") or path.startswith(("/ws/", "/stream/"))


def web_root() -> Path:
    """The built web app if there is one, else its sources, else a placeholder."""
    for candidate in (ROOT / "web" / "dist", ROOT / "web"):
        if (candidate / "index.html").exists():
            return candidate
    return Path(__file__).resolve().parent / "placeholder"


class ExchangeRequestHandler(ChaliceRequestHandler):
    static_root: Path = web_root()
    gateway_port: int | None = None  # the stream gateway's internal port (``--gateway-port``)

    def _gateway_error(self, response_type: str) -> None:
        """Answer as API Gateway's gateway response ``response_type`` is configured."""
        status, code, msg = GATEWAY_RESPONSES[response_type]
        body = json.dumps({"code": code, "msg": msg}, separators=(",", ":")).encode()
        self._send_http_response(status, {"Content-Type": "application/json"}, body)

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (URL or headers too long, a malformed request
        line) in the gateway's dialect instead of an HTML page."""
        self.close_connection = True
        self._gateway_error("REQUEST_TOO_LARGE" if code in (413, 414, 431) else "DEFAULT_4XX")

    def _send_error_response(self, error) -> None:
        """Chalice's local authorizer refusals, as the gateway responses say."""
        if isinstance(error, NotAuthorizedError):
            return self._gateway_error("UNAUTHORIZED")
        if isinstance(error, InvalidAuthorizerError):
            return self._gateway_error("AUTHORIZER_CONFIGURATION_ERROR")
        if isinstance(error, ForbiddenError):
            return self._gateway_error("ACCESS_DENIED")
        return self._gateway_error("DEFAULT_4XX")

    def _api_route_known(self, api_path: str) -> bool:
        """Whether API Gateway would route ``self.command`` on ``api_path`` to the
        Lambda (an unknown path or an undeclared method never reaches it)."""
        routes = self.local_gateway._app_object.routes
        try:
            route = self.local_gateway.event_converter._route_matcher.match_route(api_path).route
        except ValueError:
            return False
        return self.command == "OPTIONS" or self.command in routes[route]

    def _generic_handle(self) -> None:
        path, _, query = self.path.partition("?")
        if (self.command == "GET" and is_stream_path(path)
                and self.headers.get("upgrade", "").lower() == "websocket"):
            return self._relay_to_gateway()
        if path == "/api" or path.startswith("/api/"):
            api_path = path[len("/api"):] or "/"
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                return self._gateway_error("DEFAULT_4XX")
            if length > MAX_PAYLOAD:
                self.close_connection = True
                return self._gateway_error("REQUEST_TOO_LARGE")
            if not self._api_route_known(api_path):
                if length:
                    self.rfile.read(length)
                return self._gateway_error("MISSING_AUTHENTICATION_TOKEN")
            # what API Gateway puts there: the TCP peer, never a header
            self.local_gateway.event_converter.LOCAL_SOURCE_IP = self.client_address[0]
            self.path = api_path
            if query:
                self.path += "?" + query
            del self.headers[RAW_QUERY_HEADER]  # only ours is trusted
            self.headers[RAW_QUERY_HEADER] = query
            return super()._generic_handle()
        if self.command not in ("GET", "HEAD"):
            return self._send_http_response(405, {"Content-Type": "text/plain"}, b"method not allowed")
        return self._serve_static(path)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _relay_to_gateway(self) -> None:
        """Hand this connection to the stream gateway: its request line and headers as
        received, then bytes both ways until either side closes.  No WebSocket framing
        here: the gateway answers the handshake and speaks the protocol itself.

        The gateway sees this relay (127.0.0.1) as the client; the local stack binds
        only 127.0.0.1, so that is the real peer anyway.  Client-sent peer headers are
        dropped so that nothing a client writes could ever pass for one."""
        self.close_connection = True  # the connection is the gateway's from here on
        if self.gateway_port is None:
            return self._gateway_down("the stream gateway is not configured")
        try:
            upstream = socket.create_connection(("127.0.0.1", self.gateway_port), timeout=5)
        except OSError as exc:
            return self._gateway_down(f"the stream gateway is unavailable ({exc.strerror or exc}); try again")
        head = [self.requestline]
        head += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() not in PEER_HEADERS]
        try:
            upstream.settimeout(None)
            upstream.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            self._pipe(upstream)
        except OSError:
            pass  # either side went away: the relay ends
        finally:
            upstream.close()

    def _pipe(self, upstream: socket.socket) -> None:
        """Bytes both ways until either side closes: gateway -> client on this handler's
        thread, client -> gateway on a helper thread (through ``rfile``, whose buffer may
        already hold what the client sent right after its headers).  Whichever ends
        first shuts both sockets down, which ends the other; the helper is joined, so
        no thread outlives the connection."""
        client = self.connection
        client.settimeout(None)

        def shut_both() -> None:
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def client_to_gateway() -> None:
            try:
                while data := self.rfile.read1(65536):
                    upstream.sendall(data)
            except (OSError, ValueError):
                pass
            finally:
                shut_both()

        helper = threading.Thread(target=client_to_gateway, name="ws-relay", daemon=True)
        helper.start()
        try:
            while data := upstream.recv(65536):
                client.sendall(data)
        except OSError:
            pass
        finally:
            shut_both()
            helper.join()

    def _gateway_down(self, msg: str) -> None:
        body = json.dumps({"code": Reason.DISCONNECTED.code, "msg": msg}, separators=(",", ":")).encode()
        self._send_http_response(503, {"Content-Type": "application/json"}, body)

    def __getattr__(self, name):
        """Any other HTTP method (TRACE, QUERY, ...) is refused as API Gateway refuses it,
        rather than with http.server's 501."""
        if name.startswith("do_"):
            return lambda: self._gateway_error("MISSING_AUTHENTICATION_TOKEN")
        raise AttributeError(name)

    def _serve_static(self, path: str) -> None:
        root = self.static_root.resolve()
        target = (root / path.lstrip("/")).resolve()
        if root not in target.parents and target != root:
            return self._send_http_response(404, {"Content-Type": "text/plain"}, b"not found")
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            target = root / "index.html"  # single-page app: unknown paths get the app
        body = target.read_bytes()
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        headers = {"Content-Type": ctype, "Cache-Control": "no-cache"}
        self._send_http_response(200, headers, body)

    def log_message(self, format, *args):  # quieter than the default: one line per request
        if os.environ.get("EXCHANGE_ACCESS_LOG"):
            super().log_message(format, *args)


def thread_local_current_request() -> None:
    """Lambda runs one request per container at a time; this server runs requests on
    threads, and Chalice keeps ``app.current_request`` on the shared app object, so
    concurrent requests would read each other's parameters.  Keep it per thread."""
    from chalice import Chalice

    if getattr(Chalice, "_exchange_thread_local", False):
        return
    local = threading.local()
    Chalice.current_request = property(lambda self: getattr(local, "request", None),
                                       lambda self, value: setattr(local, "request", value))
    Chalice._exchange_thread_local = True


def create_server(host: str, port: int, stage: str = "local") -> LocalDevServer:
    from chalice.cli.factory import CLIFactory

    thread_local_current_request()
    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    return LocalDevServer(config.chalice_app, config, host, port, handler_cls=ExchangeRequestHandler)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Serve the web app and the API locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--gateway-port", type=int, default=None,
                        help="the stream gateway's port: WebSocket upgrades on /ws, /stream, /ws-api/v3 go there")
    args = parser.parse_args(argv)
    ExchangeRequestHandler.gateway_port = args.gateway_port
    sys.path.insert(0, str(ROOT))
    server = create_server(args.host, args.port, args.stage)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"web+api listening on http://{args.host}:{args.port}", flush=True)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
