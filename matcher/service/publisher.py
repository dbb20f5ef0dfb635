"""One batch's publish overlapping the next batch's settlement.

After a batch's PostgreSQL transaction commits, what is left of it -- the Redis
market data, the user data stream (which reads the accounts' orders and balances
back from Aurora), the stream checkpoint -- waits on Redis, PostgreSQL and
DynamoDB, not on the worker's own CPU.  Run inline, the worker sat idle through
those round trips while the next batch's records were already readable
(bench/capacity.py: about a third of a batch's wall time).  So the worker hands that
tail to one background thread and goes on sequencing, matching and settling the
next batch.

Why the guarantees hold:

* **At most one batch in flight, in order.**  :meth:`Publisher.submit` first waits
  for the previous tail, so publishes and checkpoints happen in batch order (the
  user data stream's per-account order, the market data's trade ids, the shard
  checkpoint that only moves forward).
* **Nothing is published before its commit**: the tail is submitted after the
  commit.  A crash with a tail unfinished is the crash between commit and publish
  that recovery already repairs (the published marker; the journal from the last
  checkpoint).
* **A snapshot, a symbol given up, a recovery and a stop wait for the tail first**
  (:meth:`Publisher.wait`): a snapshot at seq S tells recovery that every entry up to
  S went out, and a symbol handed to another worker must not still be published here.
* **Failures surface in the worker's thread**: an exception in the tail (Redis down,
  a lease lost at the checkpoint) is raised by the next :meth:`submit` or
  :meth:`wait`, where the worker handles it as if the tail had run inline.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class Publisher:
    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: Future | None = None

    def submit(self, tail: Callable[[], None]) -> None:
        """Run ``tail`` in the background once the previous one has finished."""
        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="publish")
        self._inflight = self._pool.submit(tail)

    def wait(self) -> None:
        """Block until the tail in flight (if any) is done; raise what it raised."""
        f, self._inflight = self._inflight, None
        if f is not None:
            f.result()

    def busy(self) -> bool:
        """A tail is still running (one that finished is collected: its error raised)."""
        f = self._inflight
        if f is not None and f.done():
            self.wait()
            return False
        return f is not None

    def close(self) -> None:
        """Wait for the tail in flight (errors are the caller's: it is stopping) and
        stop the thread."""
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
