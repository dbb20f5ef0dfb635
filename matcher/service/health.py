"""``GET /healthz`` for the internal load balancer and the container health check.

Healthy means the main loop has turned recently (a wedged loop or a lost database
should be replaced, not waited for).  A standby that owns no symbols is healthy too:
it is doing its job, which is waiting.  The body says which symbols this worker owns.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALE_AFTER_S = 30.0


def serve_health(worker, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0] != "/healthz":
                self.send_error(404)
                return
            age = time.monotonic() - worker.last_loop
            ok = age < STALE_AFTER_S and not worker.stop.is_set()
            body = json.dumps({"status": "ok" if ok else "stale", "loop_age_s": round(age, 3),
                               "worker": worker.config.worker_id, "symbols": sorted(worker.books)}).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # the load balancer polls often: no access log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
