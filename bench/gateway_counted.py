"""``python -m bench.gateway_counted --host H --port P``: the stream gateway
(``python -m gateway``, run in this process by its own ``main``) with the counters
``bench/pipeline.py --path ws`` reads, which the production container does not carry.

* Every AWS request the gateway's clients make (DynamoDB puts through PynamoDB, Data API
  statements) is counted the way the pipeline counts the REST path's
  (``bench.pipeline.count_clients``), and written with its bytes to
  ``$GATEWAY_STATS_FILE`` every half second and at stop -- the benchmark subtracts the
  figures it read before its load from those after.
* The per-account and per-IP rate limits are raised out of reach (as
  ``bench/api_coldstart.py`` does): every order of the benchmark comes from one address
  and a few accounts.  The limits' Redis counting still runs, as in production.
"""
from __future__ import annotations

import json
import os
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    from bench.pipeline import count_clients
    from chalicelib.api import ratelimit
    from gateway.__main__ import main as gateway_main

    ratelimit.LIMITS = ratelimit.Limits(weight_per_minute=10**9, orders_per_10s=10**9, orders_per_day=10**12)
    counter: dict[str, int] = {}
    shape: dict[str, dict] = {}
    count_clients(counter, shape)
    path = os.environ.get("GATEWAY_STATS_FILE")
    done = threading.Event()

    def write() -> None:
        if not path:
            return
        for _ in range(5):  # the counters grow on the request threads meanwhile: copy again if one did
            try:
                doc = {"requests": dict(counter), "request_shape": {k: dict(v) for k, v in list(shape.items())}}
                break
            except RuntimeError:
                continue
        else:
            return
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)

    def every_half_second() -> None:
        while not done.wait(0.5):
            write()

    threading.Thread(target=every_half_second, daemon=True).start()
    try:
        return gateway_main(argv)
    finally:
        done.set()
        write()


if __name__ == "__main__":
    sys.exit(main())
