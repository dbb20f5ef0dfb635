"""The local front door: what CloudFront + API Gateway are in AWS.

One HTTP server on 127.0.0.1:<port> serves the web app's static files at ``/`` (as
CloudFront serves them from S3) and hands ``/api/*`` to the Chalice app with the
``/api`` prefix removed (as CloudFront forwards to the API Gateway stage named
``api``).  It reuses Chalice's own local gateway, so routing, authorizers and the
Lambda event are exactly those of ``chalice local``.  The raw query string is passed
on in a header because Binance-style signatures are computed over it and API Gateway's
parsed parameters lose its order.
"""
from __future__ import annotations

import argparse
import mimetypes
import os
import signal
import sys
import threading
from pathlib import Path

from chalice.local import ChaliceRequestHandler, LocalDevServer

ROOT = Path(__file__).resolve().parent.parent
RAW_QUERY_HEADER = "x-exchange-raw-query"


def web_root() -> Path:
    """The built web app if there is one, else its sources, else a placeholder."""
    for candidate in (ROOT / "web" / "dist", ROOT / "web"):
        if (candidate / "index.html").exists():
            return candidate
    return Path(__file__).resolve().parent / "placeholder"


class ExchangeRequestHandler(ChaliceRequestHandler):
    static_root: Path = web_root()

    def _generic_handle(self) -> None:  # noqa: D401 - Chalice's hook name
        path, _, query = self.path.partition("?")
        if path == "/api" or path.startswith("/api/"):
            self.path = path[len("/api"):] or "/"
            if query:
                self.path += "?" + query
            del self.headers[RAW_QUERY_HEADER]  # only ours is trusted
            self.headers[RAW_QUERY_HEADER] = query
            return super()._generic_handle()
        if self.command not in ("GET", "HEAD"):
            return self._send_http_response(405, {"Content-Type": "text/plain"}, b"method not allowed")
        return self._serve_static(path)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def __getattr__(self, name):
        """Any other HTTP method (TRACE, QUERY, ...) is refused as API Gateway refuses it,
        rather than with http.server's 501."""
        if name.startswith("do_"):
            return lambda: self._send_http_response(
                403, {"Content-Type": "application/json"}, b'{"message":"Missing Authentication Token"}')
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
    args = parser.parse_args(argv)
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
