"""``python -m devstack.dataapi --database-url URL [--host H] [--port P]``: serve the
local Data API in the foreground until SIGTERM/SIGINT, printing its URL once."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .server import DataApiServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.dataapi", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="postgresql:// URL (default: $DATABASE_URL)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--transaction-timeout", type=float, default=180.0,
                        help="seconds before an idle transaction is rolled back")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    server = DataApiServer(args.database_url, host=args.host, port=args.port,
                           transaction_timeout=args.transaction_timeout)
    server.start()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    print(server.url, flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
