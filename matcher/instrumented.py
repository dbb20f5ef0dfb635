"""``python -m matcher.instrumented``: the matcher with the hooks tests and
benchmarks attach, none of which the production worker (``python -m matcher``)
carries.  Set by environment variable, read only here:

* ``MATCHER_CHAOS_DUPLICATES=<probability>`` -- fault injection: the worker reads the
  stream through :class:`ChaosStreams`, which delivers records more than once;
* ``MATCHER_STATS_FILE=<path>`` -- :class:`StatsFile` counts every AWS request the
  worker makes (with bytes and items per operation) and writes them with the
  worker's totals to ``path`` at every metrics flush and at stop.
"""
from __future__ import annotations

import json
import os
import random
import sys
from decimal import Decimal

from matcher.service.obs import count_requests
from matcher.service.worker import Worker, WorkerHooks, serve


class ChaosStreams:
    """A DynamoDB Streams client that delivers records more than once -- the previous
    response again, and records repeated within a response -- as DynamoDB Streams may."""

    def __init__(self, inner, probability: Decimal, seed: int | None = None):
        self.inner = inner
        self.p = probability
        self.rng = random.Random(seed)
        self.previous: list[dict] = []
        self.injected = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get_records(self, **kw):
        resp = dict(self.inner.get_records(**kw))
        records = list(resp.get("Records", []))
        out = []
        if records and self.previous and self.rng.random() < self.p:
            out.extend(self.previous)  # a redelivery of what came before
            self.injected += len(self.previous)
        for r in records:
            out.append(r)
            if self.rng.random() < self.p:
                out.append(r)
                self.injected += 1
        if records:
            self.previous = records[-5:]
        resp["Records"] = out
        return resp


class StatsFile(WorkerHooks):
    """The benchmark's counters: AWS requests by operation (and their bytes / items),
    PostgreSQL transactions, batches, intents, trades, stream records."""

    def __init__(self, path: str):
        self.path = path
        self.requests: dict[str, int] = {}
        self.request_shape: dict[str, dict] = {}

    def count(self, worker: Worker) -> None:
        """Count the requests of ``worker``'s DynamoDB and DynamoDB Streams clients."""
        count_requests(worker.ddb, self.requests, self.request_shape)
        if hasattr(worker.streams, "meta"):
            count_requests(worker.streams, self.requests, self.request_shape)

    def flushed(self, worker: Worker) -> None:
        st = worker.stats
        doc = {"requests": dict(self.requests), "request_shape": dict(self.request_shape),
               "pg_transactions": st.pg_transactions, "batches": st.batches, "intents": st.intents,
               "trades": st.trades, "records": st.records}
        with open(self.path, "w") as fh:
            json.dump(doc, fh)


def main() -> int:
    from chalicelib.clients import get_clients

    streams = get_clients().dynamodbstreams
    chaos = Decimal(os.environ.get("MATCHER_CHAOS_DUPLICATES") or "0")
    if chaos > 0:
        streams = ChaosStreams(streams, chaos)
    path = os.environ.get("MATCHER_STATS_FILE")
    hooks = StatsFile(path) if path else None
    worker = Worker(streams=streams, hooks=hooks)
    if hooks is not None:
        hooks.count(worker)
    return serve(worker)


if __name__ == "__main__":
    sys.exit(main())
