"""The reconciler as a loop in the matcher process (the local stack has no
scheduled Lambdas); the logic is :mod:`chalicelib.reconcile`'s."""
from __future__ import annotations

import threading

from chalicelib import reconcile
from chalicelib.db import PgTxFactory

from .obs import logger


def reconcile_pass(tx_factory: PgTxFactory, config) -> None:
    """One pass, logged; a failure is logged and the connection dropped, never raised
    (the next pass retries: every step is idempotent)."""
    try:
        counts = reconcile.run_once(tx_factory, config.reconcile_grace_ms, config.reconcile_void_after_ms)
        if counts["checked"]:
            logger.info("reconciled", extra=counts)
    except Exception:
        logger.exception("reconciler pass failed")
        tx_factory.reset()


class ReconcilerThread(threading.Thread):
    def __init__(self, worker):
        super().__init__(name="reconciler", daemon=True)
        self.worker = worker
        self.stop = threading.Event()
        self.tx = PgTxFactory(worker.settings.database_url)

    def run(self) -> None:
        cfg = self.worker.config
        while not self.stop.wait(cfg.reconcile_every_ms / 1000):
            if self.worker.books:  # only the active worker reconciles
                reconcile_pass(self.tx, cfg)
