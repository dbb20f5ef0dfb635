"""One batch's publish overlapping the next batch's settlement.

After a batch's PostgreSQL transaction commits, what is left of it -- the Redis
market data, the user data stream (which reads the accounts' orders and balances
back from Aurora), the stream checkpoint -- waits on Redis, PostgreSQL and
DynamoDB, not on the worker's own CPU.  Run inline, the worker sat idle through
those round trips while the next batch's records were already readable
(bench/capacity.py: about a third of a batch's wall time).  So the worker hands that
tail to one background thread and goes on sequencing, matching and settling the
next batch.  With 2 CPUs the tail's publish step is a round trip to a child process
(:mod:`.publishproc`, which says why what follows still holds); the tail itself, and
with it everything below, stays on this thread.

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
* **A stuck tail does not hide a lost lease.**  A tail may hang on a server for
  minutes (botocore's 60 s read timeout times its retries, a Redis or PostgreSQL call
  that never answers, a publish process that stopped).  The worker's thread waiting
  for it would not see meanwhile that the lease renewer lost its leases -- another
  task took over and recovers -- and would not step down.  So a wait polls: every
  ``poll_s`` without the tail's answer it calls ``check`` (the worker's
  ``check_leases``), whose exception (the worker's step-down) it raises at once, the
  tail left behind on its daemon thread (whatever it still writes is fenced, or
  repeated by the new owner's recovery; a publish process is killed at shutdown).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future


class Publisher:
    def __init__(self, check: Callable[[], None] | None = None, poll_s: float = 0.5) -> None:
        """``check`` is called every ``poll_s`` seconds that a wait goes without the
        tail's answer; what it raises is raised by the wait (the tail left running)."""
        self._inflight: Future | None = None
        self._last: Future | None = None  # the latest tail, even once its wait gave up on it
        self.check = check
        self.poll_s = poll_s

    def submit(self, tail: Callable[[], None]) -> None:
        """Run ``tail`` in the background once the previous one has finished."""
        self.wait()
        f: Future = Future()

        def run() -> None:
            try:
                tail()
            except BaseException as exc:  # handed to the worker's thread by wait()
                f.set_exception(exc)
            else:
                f.set_result(None)

        # A daemon thread per tail (one at a time): a stopping process never waits at exit
        # for a tail stuck on a server that went away (recovery repeats what it did not do).
        threading.Thread(target=run, name="publish", daemon=True).start()
        self._inflight = self._last = f

    def wait(self, timeout: float | None = None) -> None:
        """Block until the tail in flight (if any) is done; raise what it raised
        (TimeoutError after ``timeout`` seconds, or what ``check`` raised meanwhile:
        the tail left running)."""
        f, self._inflight = self._inflight, None
        if f is None:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = self.poll_s if deadline is None else max(0.0, min(self.poll_s, deadline - time.monotonic()))
            try:
                f.result(step)
                return
            except TimeoutError:
                if f.done():  # the tail's own TimeoutError (a socket's), or it ended just now
                    f.result()
                    return
            if self.check is not None:
                self.check()
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"the tail is still running after {timeout} s")

    def idle(self) -> bool:
        """No tail runs, not even one a wait gave up on (its thread's connections are
        free to close)."""
        f = self._last
        return f is None or f.done()

    def busy(self) -> bool:
        """A tail is still running (one that finished is collected: its error raised)."""
        f = self._inflight
        if f is not None and f.done():
            self.wait()
            return False
        return f is not None

    def close(self, timeout: float | None = None) -> None:
        """Wait for the tail in flight (errors are the caller's: it is stopping), at most
        ``timeout`` seconds."""
        self.wait(timeout)
