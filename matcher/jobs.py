"""``python -m matcher.jobs``: the non-critical background jobs as one long-lived
process (the Fargate Spot service in AWS): today, the reconciler loop, for
deployments that prefer it to the scheduled Lambda.  Interruption is harmless —
every reconciler step is idempotent — which is why Spot capacity is fine for it.
"""
from __future__ import annotations

import signal
import sys
import threading

from chalicelib.db import PgTxFactory
from chalicelib.settings import get_settings
from matcher.service.config import MatcherConfig
from matcher.service.obs import logger
from matcher.service.reconciler import reconcile_pass


def main() -> int:
    config = MatcherConfig.from_env()
    tx = PgTxFactory(get_settings().database_url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    every = max(config.reconcile_every_ms, 1000) / 1000
    logger.info("jobs starting", extra={"reconcile_every_s": every})
    # a pass at once, then every `every` s: a task started (or replaced after a Spot
    # interruption) finishes what a crash left behind without first sleeping a period
    while not stop.is_set():
        reconcile_pass(tx, config)
        stop.wait(every)
    logger.info("jobs stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
