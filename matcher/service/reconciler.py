"""The reconciler as a loop in the matcher process (the local stack has no
scheduled Lambdas); the logic is :mod:`chalicelib.reconcile`'s."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from chalicelib import reconcile
from chalicelib.db import PgTx

from .obs import logger


class ReconcilerThread(threading.Thread):
    def __init__(self, worker):
        super().__init__(name="reconciler", daemon=True)
        self.worker = worker
        self.stop = threading.Event()
        self.conn = None

    @contextmanager
    def tx(self):
        import psycopg

        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.worker.settings.database_url, autocommit=False)
        with self.conn.transaction():
            yield PgTx(self.conn)

    def run(self) -> None:
        cfg = self.worker.config
        while not self.stop.wait(cfg.reconcile_every_ms / 1000):
            if not self.worker.books:
                continue  # only the active worker reconciles
            try:
                counts = reconcile.run_once(self.tx, cfg.reconcile_grace_ms, cfg.reconcile_void_after_ms)
                if counts["checked"]:
                    logger.info("reconciled", extra=counts)
            except Exception:
                logger.exception("reconciler pass failed")
                self.conn = None
