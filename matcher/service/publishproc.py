"""A batch's Redis publish in a child process, out of the worker's GIL.

The tail of a batch (:mod:`.publisher`) runs beside the next batch, but in a thread
of the same process: its CPU -- the market data (~16 us per order) and the user data
stream (~37 us: reading the orders and balances back from Aurora, building and
encoding the events) -- competes for the one GIL with the worker thread's parse,
sequence, engine, derive, settle and DynamoDB steps (bench/capacity.py).  With two
CPUs (the production task: ``matcher_cpu`` 2048), a process of its own runs that part
in parallel instead.

``MATCHER_PUBLISH_PROCESS`` (matcher/service/config.py): ``on``, ``off`` (the
thread does it, as before), or ``auto``: on when the process may use 2 CPUs or more
(its CPU affinity and, where readable, the cgroup's CPU quota; :func:`usable_cpus`).
The CDK task sets it from the stage's ``matcher_cpu``.

How it runs:

* :meth:`PublishProcess.start` forks (multiprocessing's ``fork`` context) when the
  worker starts, before any thread of it does (a fork with threads running may copy
  a lock another thread held; the worker then keeps the thread, and logs so).  The
  child inherits the imported modules and the symbols catalog; it opens its **own**
  Redis client and PostgreSQL session from the worker's settings (never touching the
  parent's, whose sockets it merely inherits), ignores SIGINT (a terminal's Ctrl-C
  is the parent's to handle: a clean stop lets the last batch go out through the
  child) and closes the parent's end of the pipe, so when the parent dies, even by
  SIGKILL, its next read sees end-of-file and it exits.  On Linux it also asks the
  kernel to kill it with its parent (``PR_SET_PDEATHSIG``): a publish the child is in
  the middle of when its parent is killed stops there, as the thread's did -- it
  does not go on writing to Redis beside the next owner's recovery.
* Per batch, the publisher thread sends what the publish needs and nothing else
  (per symbol: the fills, the depth -- None when it is the one last sent for the
  symbol, which the child keeps -- and its ``lastUpdateId``, the entries with their
  engine events; pickle protocol 5 over a pipe, Decimals as their str) and waits
  for the answer: ``ok`` with the CPU the child spent per step (``Stats.cpu_s``
  keeps "market data" and "user data"; the pickling on both sides is "publish
  ipc"; ``Stats.child_cpu_s`` is the child's whole CPU, which bench/capacity.py
  adds to the process's), or the error's text.  A failed request clears both
  sides' depths (the next batch sends them whole).

Why the guarantees of :mod:`.publisher` still hold: the tail itself is unchanged
-- it still runs on the publisher thread, one at a time, in batch order, after the
commit -- only its publish step is a round trip to the child, which handles one
request at a time in the order they come.  The checkpoint and ``hooks.batch_done``
stay in the tail, after the child's ``ok``: nothing is checkpointed that was not
published.  An error in the child, or the child gone (end-of-file, a broken pipe),
raises :class:`PublishFailed` in the tail, which the worker sees at its next
``submit``/``wait`` exactly as an inline publish error: it stops, and the next
owner's recovery re-publishes what did not go out (user data above the published
marker, the trades above the last published id, the depth).  A waiting snapshot,
hand-over or recovery still waits for the tail, hence for the child's answer.
Recovery's own publishes stay inline in the worker's thread (the tail is idle then).
"""
from __future__ import annotations

import dataclasses
import gc
import operator
import os
import pickle
import signal
import time
import traceback
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .journal import Entry
from .obs import logger
from .settlement import Applied, Derived, Fill

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

CPU_MAX = "/sys/fs/cgroup/cpu.max"  # cgroup v2: "<quota> <period>" or "max <period>"
CFS_QUOTA, CFS_PERIOD = "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"  # v1


# Fills and entries cross the pipe as tuples of their fields (rebuilt in the child): a
# dataclass instance pickles as its class, a __dict__ and its keys, ~30% more CPU for both sides.
# A Decimal crosses as its str: pickle reduces it to exactly that (Decimal(str(d)) is d, exponent
# included) but through a reduce call per value, ~3x the CPU of the str (a batch's fills: ~6 each)
_FILL_FIELDS = [f.name for f in dataclasses.fields(Fill)]
_FILL_DEC = [n for n in _FILL_FIELDS if Fill.__annotations__[n] in ("Decimal", Decimal)]
_FILL_REST = [n for n in _FILL_FIELDS if n not in _FILL_DEC]
_FILL_R = operator.attrgetter(*_FILL_REST)
_FILL_D = operator.attrgetter(*_FILL_DEC)
_FILL_ORDER = [(_FILL_REST + _FILL_DEC).index(n) for n in _FILL_FIELDS]  # wire position of each field
_ENTRY = operator.attrgetter(*(f.name for f in dataclasses.fields(Entry)))


def _wire_depth(depth: tuple[list, list]) -> tuple[list, list]:
    bids, asks = depth
    return [(str(p), str(q)) for p, q in bids], [(str(p), str(q)) for p, q in asks]


def pack(effects: dict, sent: dict | None = None) -> bytes:
    """A batch's ``{symbol: Effects}`` as the child needs it (see :func:`unpack`).

    ``sent`` (symbol -> the depth last packed for it, updated here): a depth equal to
    the one last sent for its symbol goes as None, the child reusing its own copy --
    100 levels a side, re-sent by every batch that left the book's top as it was.
    (Equal Decimals print alike here: a symbol's prices and quantities are quantized
    to its tick and step, one exponent each.)"""
    out = []
    for sym, e in effects.items():
        depth = e.depth
        if sent is not None:
            if sent.get(sym) == depth:
                depth = None
            else:
                sent[sym] = depth
        out.append((sym, [(*_FILL_R(f), *map(str, _FILL_D(f))) for f in e.derived.fills],
                    None if depth is None else _wire_depth(depth), e.depth_seq,
                    [(_ENTRY(a.entry), a.events) for a in e.applied]))
    return pickle.dumps(out, protocol=5)


def _fill(wire: tuple, n: int = len(_FILL_REST)) -> Fill:
    vals = (*wire[:n], *map(Decimal, wire[n:]))
    return Fill(*[vals[i] for i in _FILL_ORDER])


def unpack(data: bytes, depths: dict | None = None
           ) -> list[tuple[str, list[Fill], tuple[list, list], int, list[Applied]]]:
    """Per symbol: symbol, fills, depth (bids, asks), depth's ``lastUpdateId``, the
    entries with their engine events.  ``depths`` (symbol -> the depth last received,
    updated here) stands in for a depth sent as None (unchanged)."""
    out = []
    for sym, fills, depth, depth_seq, applied in pickle.loads(data):
        if depth is None:
            if depths is None or sym not in depths:
                raise ValueError(f"{sym}: depth sent as unchanged, but none received before")
            book = depths[sym]
        else:
            book = ([(Decimal(p), Decimal(q)) for p, q in depth[0]], [(Decimal(p), Decimal(q)) for p, q in depth[1]])
            if depths is not None:
                depths[sym] = book
        out.append((sym, [_fill(f) for f in fills], book, depth_seq, [Applied(Entry(*e), ev) for e, ev in applied]))
    return out


class PublishFailed(RuntimeError):
    """The publish process failed a batch's publish, or is gone."""


def usable_cpus(cpu_max: str = CPU_MAX, cfs: tuple[str, str] = (CFS_QUOTA, CFS_PERIOD)) -> Fraction:
    """The CPUs this process may use: its affinity, capped by the cgroup's quota
    (exact: a quota of 50,000 us per 100,000 us is 1/2)."""
    n = Fraction(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    try:
        quota, period = Path(cpu_max).read_text().split()[:2]
        if quota != "max":
            return min(n, Fraction(int(quota), int(period)))
        return n
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        q, p = int(Path(cfs[0]).read_text()), int(Path(cfs[1]).read_text())
        return min(n, Fraction(q, p)) if q > 0 and p > 0 else n
    except (OSError, ValueError):
        return n


def wanted(setting: str, cpus: Fraction | int | None = None) -> bool:
    """``MATCHER_PUBLISH_PROCESS`` -> publish from a child process?"""
    if setting == "on":
        return True
    if setting == "off":
        return False
    return (usable_cpus() if cpus is None else cpus) >= 2


class PublishProcess:
    """The worker's end: the child process and the pipe to it."""

    def __init__(self, proc: BaseProcess, conn: Connection):
        self.proc = proc
        self.conn = conn
        self.sent: dict[str, tuple[list, list]] = {}  # symbol -> the depth last sent (pack)

    @classmethod
    def start(cls, settings, connect_pg, catalog) -> PublishProcess:
        """Fork the child (the caller checked no other thread runs)."""
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        parent_end, child_end = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=serve, args=(child_end, parent_end, os.getpid(), settings, connect_pg, catalog),
                           name="matcher-publish", daemon=True)
        proc.start()
        child_end.close()  # the child's end lives in the child only: its exit is our end-of-file
        return cls(proc, parent_end)

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.is_alive()

    def publish(self, effects: dict, stats) -> None:
        """Publish a batch's ``effects`` (``{symbol: Effects}``) through the child; raise
        :class:`PublishFailed` if it failed or is gone.  Called by the publisher thread."""
        with stats.cpu("publish ipc"):
            data = pack(effects, self.sent)
        try:
            self.conn.send_bytes(data)
            answer = self.conn.recv_bytes()
        except (EOFError, OSError) as exc:
            self.sent.clear()
            raise PublishFailed(f"the publish process is gone ({self._exit()}): {exc!r}") from None
        with stats.cpu("publish ipc"):
            status, detail, cpu_s, total_s = pickle.loads(answer)
        for step, s in cpu_s.items():
            stats.cpu_s[step] = stats.cpu_s.get(step, 0.0) + s
        stats.child_cpu_s = total_s
        if status != "ok":
            self.sent.clear()  # (the child forgot its depths: the next batch sends them whole)
            raise PublishFailed(f"the publish process failed: {detail}")

    def _exit(self) -> str:
        self.proc.join(0.5)
        return f"pid {self.proc.pid}, exit code {self.proc.exitcode}"

    def close(self, timeout: float) -> None:
        """Let the child go: it sees end-of-file once its request (if any) is done;
        killed if it is not gone after ``timeout`` seconds."""
        try:
            self.conn.close()
        except OSError:
            pass
        self.proc.join(timeout)
        if self.proc.is_alive():
            logger.warning("the publish process did not exit: killed", extra={"pid": self.proc.pid})
            self.proc.kill()
            self.proc.join(5)


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent (pid ``parent``) dies (Linux; elsewhere the
    pipe's end-of-file alone ends it, once its request is done)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def serve(conn: Connection, parent_end: Connection, parent_pid: int, settings, connect_pg, catalog) -> None:
    """The child: one request at a time until the parent's end closes."""
    from chalicelib.clients import Clients

    from . import effects as fx, userdata

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    parent_end.close()
    gc.freeze()  # what the parent had: not walked again by the collector (worker.freeze_heap)
    redis = Clients(settings).redis  # its own client and session, never the parent's
    prefix = settings.redis_key_prefix
    pg = None
    depths: dict = {}  # symbol -> the depth last received (unpack)
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            break  # the parent closed its end, or died
        t0 = time.process_time()
        cpu = {"market data": 0.0, "user data": 0.0}
        try:
            batch = unpack(data, depths)
            if pg is None or pg.closed:
                pg = connect_pg()
            for sym, fills, depth, depth_seq, applied in batch:
                t = time.process_time()
                fx.publish(redis, sym, Derived(fills=fills), depth, depth_seq, prefix)
                t1 = time.process_time()
                cpu["market data"] += t1 - t
                userdata.send(redis, prefix, catalog.symbol(sym), sym, applied, fills, pg)
                cpu["user data"] += time.process_time() - t1
            answer: tuple = ("ok", "", cpu)
        except Exception as exc:
            answer = ("error", "".join(traceback.format_exception_only(exc)).strip()[:2000], cpu)
            depths.clear()  # in step with the parent's (PublishProcess.publish)
            if pg is not None:
                try:
                    pg.close()  # a fresh session for the next request (if the parent sends one)
                except Exception:
                    pass
                pg = None
        cpu["publish ipc"] = max(0.0, time.process_time() - t0 - cpu["market data"] - cpu["user data"])
        try:
            conn.send_bytes(pickle.dumps((*answer, time.process_time()), protocol=5))
        except OSError:
            break  # the parent is gone
    if pg is not None:
        try:
            pg.close()
        except Exception:
            pass
