"""The matcher loop: leases, sequencing, effects, checkpoints, recovery.

Symbols are split into *matcher groups* (``chalicelib/symbols.json``: a pinned
``group`` or a stable hash, see ``Catalog.group_of``; an operator's move overrides
it, see :mod:`.groups`).  A worker serves one group (``MATCHER_GROUP``); the groups
run side by side, one ECS service each.  In a group up to ``MATCHER_READERS`` (2)
workers hold a *reader slot* each: they split the group's symbols (``ceil(symbols /
members)`` symbol leases each, taken in symbol order, handed over with a snapshot
when a worker joins) and read the group's stream, each from its slot's own shard
leases and checkpoints; a worker without a slot is a standby.  When a worker dies
(its leases expire, a few seconds) or stops cleanly (it releases them at once), the
others take its symbols, recovered as at any takeover.
Each group reads the stream of its own intents table (``chalicelib/routing.py``:
the API puts a symbol's intents into its group's table; the cost and the limit that
decided it are in docs/scaling-and-cost.md); a symbol lease's counter is still that
symbol's fencing token, whichever group holds it.

Per stream batch (records of one shard):

1. parse; drop repeats (a record at or before the (symbol, shard) position already
   journaled, the same intent twice in the batch, a NEW whose order is no longer
   PENDING_NEW in Aurora, a reconciler's VOID); a cancel of an order not sequenced
   yet is held and sequenced right after that order, whatever shard either came on
   (:mod:`.ordering`);
2. number the rest per symbol and **journal** them (conditional put, first writer
   wins), then apply them to the engine;
3. write trades / order states / depth to DynamoDB (BatchWriteItem);
4. settle everything in **one** PostgreSQL transaction, fenced per symbol;
5. publish market data to Redis;
6. move the shard checkpoint (conditional on the lease counter).

A crash anywhere is repaired by recovery, which runs when a worker takes the
symbols: the book is rebuilt from the latest snapshot plus the journal after it;
the journal entries after the snapshot get steps 3-5 again (each is idempotent:
settlement skips entries at or below ``settlement_progress.last_seq``), and
reading resumes from the shard checkpoints, skipping records already journaled.
Aurora is the system of record (:mod:`.recovery`): the fencing token is raised past
any Aurora has seen, sequence numbers and trade ids continue Aurora's, a book that
DynamoDB no longer accounts for is rebuilt from Aurora's open orders, and every
takeover audits the book against Aurora before matching (a symbol that fails is
stopped, see :meth:`Worker.halt`).  Intents are deduplicated against Aurora too: one
whose outbox row is acknowledged was journaled and settled already.
"""
from __future__ import annotations

import contextlib
import gc
import signal
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import psycopg

from chalicelib import bookaudit, marketdata, reconcile
from chalicelib.db import PgTx
from chalicelib.routing import (
    RESEND_MARGIN_MS,
    ROUTE_ACTIVE,
    ROUTE_CACHE_MS,
    ROUTE_HALT,
    ROUTE_HALTED,
    Route,
    intents_table,
)
from chalicelib.symbols import load_catalog
from chalicelib.trading.codec import SymbolCodec
from chalicelib.trading.commands import Amend, Cancel, CancelOrderList, CancelReplace, NewOrder, NewOrderList
from chalicelib.trading.types import CancelReplaceMode, ContingencyType
from matcher.engine import FastBook, OrderBook

from . import effects as fx, ordering, userdata
from .config import CLEAN_STOP_PUBLISH_S, MAX_READERS, MatcherConfig
from .journal import Entry, Journal, JournalConflict
from .leases import Lease, LeaseLost, LeaseTable, Renewer, now_ms, shard_prefix, slot_key
from .obs import Unit, flush_metrics, logger, metrics, segment, subsegment
from .publisher import Publisher
from .publishproc import PublishProcess, usable_cpus, wanted as publish_process_wanted
from .recovery import load_dynamo_book, state_from_aurora
from .settlement import Applied, Derived, Fenced, derive, ensure_progress, progress, settle
from .streams import SHARD_END, Intent, PollSchedule, ShardReader, list_shards, parse_record, ready_shards

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from chalicelib.symbols import SymbolSpec

    from .reconciler import ReconcilerThread


class StepDown(RuntimeError):
    """This worker is no longer the owner; it stops and comes back as a standby."""


def command(entry: Entry):
    p = entry.payload
    if entry.kind == "NEW":
        return NewOrder(*p["cmd"])
    if entry.kind == "CANCEL":
        return Cancel(int(p["order_id"]), int(p["account_id"]))
    if entry.kind == "AMEND":
        return Amend(int(p["order_id"]), int(p["account_id"]), int(p["new_qty"]))
    if entry.kind == "CANCEL_REPLACE":
        return CancelReplace(int(p["cancel_order_id"]), int(p["account_id"]), NewOrder(*p["cmd"]),
                             CancelReplaceMode[p.get("mode", "STOP_ON_FAILURE")])
    if entry.kind == "NEW_LIST":
        return NewOrderList(int(p["list_id"]), int(p["account_id"]), ContingencyType[p["contingency"]],
                            tuple(NewOrder(*c) for c in p["cmds"]))
    if entry.kind == "CANCEL_LIST":
        return CancelOrderList(int(p["list_id"]), int(p["account_id"]))
    raise ValueError(f"not an order intent: {entry.kind}")


@dataclass
class SymbolState:
    symbol: str
    spec: SymbolSpec
    codec: SymbolCodec
    book: OrderBook
    token: int
    next_seq: int = 1
    last_event_seq: int = 0  # the engine's last event seq: depth snapshots' lastUpdateId
    positions: dict[str, int] = field(default_factory=dict)
    since_snapshot: int = 0

    def depth(self, n: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids, asks = self.book.depth(n)
        c = self.codec
        return ([(c.price(p), c.qty(q)) for p, q in bids], [(c.price(p), c.qty(q)) for p, q in asks])


@dataclass
class Stats:
    """The worker's running totals (logged when it stops)."""

    intents: int = 0
    trades: int = 0
    batches: int = 0
    pg_transactions: int = 0
    records: int = 0  # stream records read (GetRecords results, repeats included)
    # CPU seconds of the thread doing each step of a batch (time.thread_time: waits on
    # PostgreSQL, Redis or DynamoDB are not in it): where a batch's CPU goes
    cpu_s: dict[str, float] = field(default_factory=dict)
    # the publish process's whole CPU so far (publishproc.py; 0 with the publish in a thread)
    child_cpu_s: float = 0.0

    @contextlib.contextmanager
    def cpu(self, step: str):
        t0 = time.thread_time()
        try:
            yield
        finally:
            self.cpu_s[step] = self.cpu_s.get(step, 0.0) + time.thread_time() - t0


@dataclass
class Effects:
    """One symbol's batch as published: what it means in money and orders, and the
    book's depth after it (``depth_seq`` = its ``lastUpdateId``)."""

    derived: Derived
    depth: tuple[list, list]
    depth_seq: int
    applied: list = field(default_factory=list)  # the entries with the engine's events (user data stream)


class WorkerHooks:
    """What a test or a benchmark attaches to a worker (``Worker(hooks=...)``); the
    production worker runs with these no-ops.  :mod:`matcher.instrumented` has the
    ones ``python -m matcher.instrumented`` uses (a stats file)."""

    def batch_done(self, worker: Worker, by_symbol: dict[str, list[Applied]]) -> None:
        """A stream batch is durable: journaled, settled, published, checkpointed."""

    def flushed(self, worker: Worker) -> None:
        """Metrics were flushed (every ``metrics_every_ms``, and once more at stop)."""


class Worker:
    def __init__(self, config: MatcherConfig | None = None, clients=None, streams=None, pg_connect=None,
                 symbols: list[str] | None = None, hooks: WorkerHooks | None = None):
        from chalicelib.clients import get_clients

        self.config = config or MatcherConfig.from_env()
        self.clients = clients or get_clients()
        s = self.clients.settings
        self.settings = s
        self.ddb = self.clients.dynamodb
        self.streams = streams or self.clients.dynamodbstreams
        self.hooks = hooks or WorkerHooks()
        self.catalog = load_catalog()
        self.group = self.config.group
        if not 0 <= self.group < self.catalog.groups:
            raise ValueError(f"MATCHER_GROUP={self.group}: the symbols file has {self.catalog.groups} group(s)")
        self.fixed_symbols = symbols is not None  # a given list: no groups, no routes
        self.symbols = sorted(symbols or self.catalog.symbols_of(self.group))
        self.shard_prefix = shard_prefix(self.group)
        self.intents_table = intents_table(self.group, s.intents_table)  # this group's own table and stream
        self.resend_at: dict[str, float] = {}  # symbol -> when to re-send its unsent intents once more (moves)
        self.slot: int | None = None  # the reader slot held (None: a standby)
        self.slots = max(1, min(self.config.readers, MAX_READERS))  # the group's reader slots
        self.members = 1  # live reader slots of the group (this one included), re-read every renewal period
        self._last_members = 0.0
        self.routes: dict[str, Route] = {}
        self.draining: dict[str, float] = {}  # symbol -> when a move asked this group to give it up
        self._last_routes = 0.0
        self.leases = LeaseTable(self.ddb, s.leases_table, self.config.worker_id, self.config.lease_ttl_ms)
        self.journal = Journal(self.ddb, s.journal_table, s.book_table)
        self.dynamo = fx.DynamoEffects(self.ddb, s.trades_table, s.book_table)
        self._pg_connect = pg_connect
        self.pg: psycopg.Connection | None = None
        self.books: dict[str, SymbolState] = {}
        self.halted: dict[str, str] = {}  # symbol -> why it is stopped (see halt)
        self.readers: dict[str, ShardReader] = {}
        self.stream_arn: str | None = None
        self.stop = threading.Event()
        # a wait for a tail stuck on a server still steps down on a lost lease (publisher.py)
        self.publisher = Publisher(check=self.check_leases)
        self.pg_publish: psycopg.Connection | None = None  # the publisher thread's own session
        self.publish_process: PublishProcess | None = None  # the tail's publish, out of this GIL
        self.publish_mode: str | None = None  # "process" / "thread", once start_publish_process decided
        self.stats = Stats()
        self._last_describe = 0.0
        self._last_metrics = time.monotonic()
        self.last_loop = time.monotonic()  # the health check's heartbeat
        self._health: ThreadingHTTPServer | None = None
        self._renewer: Renewer | None = None
        self._reconciler: ReconcilerThread | None = None

    # -- connections ----------------------------------------------------------------
    def pg_conn(self):
        """The worker thread's PostgreSQL session (sequencing, settlement, recovery)."""
        if self.pg is None or self.pg.closed:
            self.pg = self._connect_pg()
        return self.pg

    def pg_publish_conn(self):
        """The publisher thread's session (the user data stream's reads after a
        commit): a psycopg connection serves one thread at a time."""
        if self.pg_publish is None or self.pg_publish.closed:
            self.pg_publish = self._connect_pg()
        return self.pg_publish

    def _connect_pg(self):
        if self._pg_connect:
            return self._pg_connect()
        return psycopg.connect(self.settings.database_url, autocommit=False,
                               options="-c idle_in_transaction_session_timeout=10000"
                                       " -c statement_timeout=30000")

    def _stream_arn(self) -> str:
        if self.stream_arn is None:
            table = self.ddb.describe_table(TableName=self.intents_table)["Table"]
            self.stream_arn = table["LatestStreamArn"]
        return self.stream_arn

    # -- ownership ------------------------------------------------------------------
    def acquire_symbols(self) -> bool:
        """Take this task's share of the group's symbol leases, in order (recovering
        the books of those just taken); False while it is a standby.  See
        :meth:`share_symbols`."""
        self.refresh_routes()
        if not self.acquire_slot():
            return False
        if not self.share_symbols():
            return False
        recovered = False
        for sym in self.symbols:
            if sym not in self.books and sym not in self.halted and f"symbol:{sym}" in self.leases.held:
                self.recover(sym)
                recovered = True
        if recovered:
            freeze_heap()
        return True

    # -- a group's tasks ---------------------------------------------------------------
    def acquire_slot(self) -> bool:
        """Hold one of the group's ``readers`` reader slots (a lease each): the tasks
        holding one split the group's symbols and read its stream, each from its slot's
        own checkpoints; the others are standbys.  The slots cap a group's readers of a
        shard at 2, DynamoDB Streams' limit, whatever ECS runs (a deployment's extra
        tasks, a scaled-out service)."""
        if self.slot is not None:
            return True
        if self.fixed_symbols:  # a given list (tests, bench/capacity.py): its own symbols, no group to share
            self.slot = 0
            return True
        for k in range(self.slots):
            key = slot_key(self.group, k)
            lease = self.leases.get(key)
            if lease is None:
                self.leases.create(key)
                lease = self.leases.get(key)
                assert lease is not None  # just created (or by a racing worker)
            if self.leases.try_take(lease) is not None:
                self.slot = k
                self.shard_prefix = shard_prefix(self.group, k)
                self._last_members = 0.0
                logger.info("took reader slot", extra={"slot": k, "group": self.group})
                return True
        return False

    def group_members(self) -> int:
        """How many tasks of the group hold a reader slot now (at least this one):
        re-read every renewal period (a GetItem per other slot, not a Scan of LEASES)."""
        if self.fixed_symbols:
            return 1
        now = time.monotonic()
        if now - self._last_members >= self.config.renew_every_ms / 1000:
            self._last_members = now
            t, live = now_ms(), 1
            for k in range(self.slots):
                if k != self.slot:
                    lease = self.leases.get(slot_key(self.group, k))
                    live += bool(lease and lease.owner and lease.expires_ms > t)
            self.members = live
        return self.members

    def share_symbols(self) -> bool:
        """Hold ``ceil(symbols / members)`` of the group's symbols: the first free ones
        in symbol order.  Over the share (a task joined), hand the last ones over with a
        snapshot (:meth:`hand_over`); under it (a task died: its leases lapsed), take
        the lapsed ones.  Alone in the group, stand by (False) until every symbol is
        free to take, as a standby always did: the leases of the task it replaces
        lapse together."""
        members = self.group_members()
        share = -(-len(self.symbols) // members)
        held = [sym for sym in self.symbols if f"symbol:{sym}" in self.leases.held]
        for sym in held[share:]:
            self.hand_over(sym)
        held = held[:share]
        for sym in self.symbols:
            if len(held) >= share:
                break
            key = f"symbol:{sym}"
            if key in self.leases.held:
                continue
            lease = self.leases.get(key)
            if lease is None:
                self.leases.create(key)
                lease = self.leases.get(key)
                assert lease is not None  # just created (or by a racing worker)
            taken = self.leases.try_take(lease)
            if taken is None:
                if members == 1 and not self.readers:
                    return False  # held by a live owner: stand by (ordered, so no deadlock)
                continue  # a peer's, or not free yet (moved in, or lapsing): next round
            held.append(sym)
            logger.info("took symbol lease", extra={"symbol": sym, "fencing_token": taken.counter,
                                                    "group": self.group, "slot": self.slot, "share": share})
        return True

    def hand_over(self, sym: str) -> None:
        """Let another task of the group take ``sym`` (this one holds more than its
        share): snapshot the book, release the lease, as a move's drain does; the taker
        recovers it as at any takeover.  It stays one of the group's symbols."""
        self.publisher.wait()  # nothing of it published here after the other task took it
        st = self.books.pop(sym, None)
        if st is not None:
            self._snapshot(sym, st)
        self.halted.pop(sym, None)
        self.resend_at.pop(sym, None)
        self.leases.release(f"symbol:{sym}")
        logger.info("handed symbol over", extra={"symbol": sym, "group": self.group, "slot": self.slot,
                                                 "seq": st.next_seq - 1 if st else None})

    # -- groups -------------------------------------------------------------------------
    def refresh_routes(self) -> None:
        """Re-read the routes operators set (at most every ``routes_every_ms``): the
        symbols of this group are those routed to it and ACTIVE (no route: the symbols
        file's group).  A symbol of ours asked to HALT is drained (see
        :meth:`finish_drains`); one routed elsewhere without a halt is given up at once."""
        if self.fixed_symbols:
            return
        now = time.monotonic()
        if now - self._last_routes < self.config.routes_every_ms / 1000:
            return
        self._last_routes = now
        self.routes = self.leases.routes()
        mine = []
        for sym in sorted(self.catalog.symbols):
            r = self.routes.get(sym)
            group, state = (self.catalog.group_of(sym), ROUTE_ACTIVE) if r is None else (r.group, r.state)
            held = sym in self.books or sym in self.halted
            if group != self.group or state == ROUTE_HALTED or (state == ROUTE_HALT and sym not in self.books):
                if held:
                    self.give_up(sym, snapshot=False)
                continue
            if state == ROUTE_HALT:
                self.draining.setdefault(sym, now)
            mine.append(sym)
        self.symbols = mine

    def give_up(self, sym: str, snapshot: bool) -> None:
        """Stop sequencing ``sym`` and release its lease (the snapshot first, when the
        book is ours to hand over)."""
        self.publisher.wait()  # nothing of it published here after another worker took it
        st = self.books.pop(sym, None)
        if st is not None and snapshot:
            self._snapshot(sym, st)
        self.halted.pop(sym, None)
        self.draining.pop(sym, None)
        self.leases.release(f"symbol:{sym}")
        if sym in self.symbols:
            self.symbols.remove(sym)
        logger.info("gave symbol up", extra={"symbol": sym, "group": self.group, "snapshot": snapshot,
                                             "seq": st.next_seq - 1 if st else None})

    def finish_drains(self, caught_up: bool) -> None:
        """The symbols a move asked to halt, once this worker has read every shard to
        its tip (or ``drain_ms`` passed): snapshot, release the lease, mark the route
        HALTED.  Intents of the symbol read after this are left in the outbox; the
        group it moves to re-sends them when it takes the symbol."""
        now = time.monotonic()
        for sym, since in list(self.draining.items()):
            if not caught_up and now - since < self.config.drain_ms / 1000:
                continue
            st = self.books.get(sym)
            seq = st.next_seq - 1 if st else 0
            self.give_up(sym, snapshot=True)
            r = self.routes.get(sym)
            if r is not None and r.state == ROUTE_HALT:
                self.leases.put_route(Route(sym, r.group, ROUTE_HALTED, r.moved_ms, seq), expect=r)
                self.routes[sym] = Route(sym, r.group, ROUTE_HALTED, r.moved_ms, seq)

    def _shard_key(self, shard) -> str:
        return self.shard_prefix + shard.shard_id

    def acquire_shards(self) -> None:
        now = time.monotonic()
        if now - self._last_describe < self.config.describe_every_ms / 1000 and self.readers:
            return
        self._last_describe = now
        arn = self._stream_arn()
        shards = list_shards(self.streams, arn)
        leases: dict[str, Lease | None] = {lease.key: lease for lease in self.leases.scan(self.shard_prefix)}
        for sh in shards:
            key = self._shard_key(sh)
            if key not in leases:
                # A slot's first read of a shard starts where slot 0 reads it (the same stream), not 24 h
                # behind; what a symbol taken over had before that point is re-sent at its takeover.
                base = self.leases.get(shard_prefix(self.group) + sh.shard_id) if self.slot else None
                self.leases.create(key, (sh.parent_id,) if sh.parent_id else (),
                                   base.checkpoint if base else None, bool(base and base.finished))
                leases[key] = self.leases.get(key)
        finished = {k.split(":", 1)[1] for k, lease in leases.items() if lease and lease.finished}
        for sh in ready_shards(shards, finished):
            if sh.shard_id in self.readers:
                continue
            key = self._shard_key(sh)
            known = leases[key]
            lease = self.leases.held.get(key) or (self.leases.try_take(known) if known else None)
            if lease is None:
                continue
            self.readers[sh.shard_id] = ShardReader(self.streams, arn, sh, lease.checkpoint,
                                                    PollSchedule(self.config.poll_ms, self.config.idle_poll_ms))
            logger.info("reading shard", extra={"shard": sh.shard_id, "checkpoint": lease.checkpoint,
                                                "parent": sh.parent_id})

    def check_leases(self) -> None:
        if self.leases.lost:
            raise StepDown(f"lost leases {sorted(self.leases.lost)}")

    # -- recovery -------------------------------------------------------------------
    def recover(self, sym: str) -> None:
        """Stand ``sym``'s book up at takeover (see :mod:`.recovery`): fence past every
        token Aurora has seen, restore from DynamoDB if it accounts for Aurora (else
        rebuild from Aurora's open orders), audit the book against Aurora -- a symbol
        whose book disagrees is stopped, not guessed at -- then settle the journal
        entries not settled yet, publish the book's depth and, after a rebuild,
        re-send intents accepted but never journaled."""
        t0 = time.monotonic()
        phases: dict[str, int] = {}  # ms per step, logged (where a slow takeover spends its time)
        mark = [t0]

        def lap(name: str) -> None:
            now = time.monotonic()
            phases[name] = int((now - mark[0]) * 1000)
            mark[0] = now

        self.publisher.wait()  # the tail in flight uses the user data marker recovery reads
        spec = self.catalog.symbol(sym)
        assert spec is not None  # self.symbols come from the catalog
        codec = SymbolCodec(spec)
        key = f"symbol:{sym}"
        conn = self.pg_conn()
        with conn.transaction():
            _, pg_token = progress(PgTx(conn), sym)
        # the lease counter restarts low when the LEASES table is recreated or restored:
        # the token must still be above every one Aurora has recorded for the symbol
        token = self.leases.raise_above(key, pg_token)
        try:
            with conn.transaction():
                tx = PgTx(conn)
                settled = ensure_progress(tx, sym, token)
                aurora = bookaudit.read_aurora_book(tx, spec, sym)
        except Fenced as exc:  # a newer owner took the symbol meanwhile
            raise StepDown(str(exc)) from None
        self.stats.pg_transactions += 2
        lap("aurora_ms")
        if aurora.problems:
            self.halt(sym, "Aurora's open orders do not add up: " + "; ".join(aurora.problems[:10]), token)
            return
        dyn = load_dynamo_book(self.journal, sym, FastBook, codec.filters)
        rebuilt = not dyn.covers(settled)
        lap("dynamodb_ms")
        pending: list[Entry] = []
        replayed: list[Applied] = []  # settled entries after the snapshot (user events to repair)
        if rebuilt:
            reason = dyn.gap or f"DynamoDB's book ends at seq {dyn.last_seq}, Aurora settled up to {settled}"
            book: OrderBook = FastBook(codec.filters)
            book.import_state(state_from_aurora(aurora, spec))
            positions: dict[str, int] = {}
            next_seq = max(settled, self.journal.last_seq(sym)) + 1
        else:
            book, positions = dyn.book, dict(dyn.positions)
            for e in dyn.entries:
                if e.seq <= settled:  # settled already: the book catches up to Aurora
                    replayed.append(Applied(e, book.process(command(e))))
                else:
                    pending.append(e)
                positions[e.shard_id] = max(positions.get(e.shard_id, 0), e.position)
            next_seq = dyn.last_seq + 1
        lap("book_ms")
        exported = book.export_state()
        audit = bookaudit.compare(sym, exported, aurora)
        lap("audit_ms")
        if not audit.ok:
            self.halt(sym, audit.message(), token)
            return
        state = SymbolState(sym, spec, codec, book, token, next_seq, exported["seq"] - 1, positions)
        self.books[sym] = state
        if rebuilt:
            saved = self.journal.save_snapshot(sym, next_seq - 1, book.snapshot(), {}, token, replace=True)
            lap("snapshot_ms")
            cleared = marketdata.clear_trades_ahead(self.clients.redis, sym, aurora.trade_id,
                                                    self.settings.redis_key_prefix)
            metrics.add_metric(name="BookRebuilt", unit=Unit.Count, value=1)
            logger.warning("rebuilt the book from Aurora", extra={
                "symbol": sym, "reason": reason, "resting": book.resting_count(), "settled_seq": settled,
                "seq": next_seq - 1, "trade_id": aurora.trade_id, "snapshot_saved": saved,
                "redis_trades_cleared": cleared})
        repaired = userdata.repair(self, sym, replayed)
        if repaired is not None and repaired.fills:  # and their trades (those at or below the last id: skipped)
            fx.publish(self.clients.redis, sym, repaired, state.depth(self.config.depth_levels),
                       state.last_event_seq, self.settings.redis_key_prefix)
        applied = [Applied(e, book.process(command(e))) for e in pending]
        state.since_snapshot = len(applied)
        if applied:
            self.apply_effects({sym: applied})
        lap("replay_ms")
        self.publish_book(sym)
        lap("publish_ms")
        # DynamoDB lost state: the stream records of intents never journaled may be gone
        # with it (a recreated intents table).  When it kept its state, the stream still
        # holds them, and re-sending a backlog would only add repeats to drop.
        # Moved from another group: this group's readers skipped its intents until now.
        # Every takeover re-sends: the group's readers (one per slot) are at their own
        # positions, so this one may be past records of the symbol that its previous
        # holder never read; a DynamoDB that lost state may have lost stream records too.
        # Repeats are dropped when sequencing.  Moved from another group: its intents may
        # still be in the other group's table (chalicelib/routing.py).
        moved = self.routes.get(sym) is not None and self.routes[sym].moved_ms > 0
        resent = self.resend_unsent(sym)
        if moved:
            self.schedule_resend(sym)
        logger.info("recovered book", extra={"symbol": sym, "snapshot_seq": dyn.snapshot_seq, "replayed": len(applied),
                                             "settled_seq": settled, "seq": state.next_seq - 1, "rebuilt": rebuilt,
                                             "fencing_token": token, "resting": book.resting_count(),
                                             "resent": resent, "ms": int((time.monotonic() - t0) * 1000),
                                             **phases})
        metrics.add_metric(name="RecoveryMs", unit=Unit.Milliseconds, value=(time.monotonic() - t0) * 1000)

    def halt(self, sym: str, message: str, token: int) -> None:
        """Stop matching ``sym``: its book and Aurora cannot be reconciled without a
        guess.  The lease stays held (no other worker tries either), its intents are
        left unsequenced in the outbox, and nothing of it is settled; an operator
        reads the message (and ``python -m chalicelib.cli audit-book``)."""
        self.halted[sym] = message
        metrics.add_metric(name="BookAuditFailed", unit=Unit.Count, value=1)
        logger.error("symbol stopped: its book cannot be reconciled with Aurora",
                     extra={"symbol": sym, "reason": message, "fencing_token": token})

    def publish_book(self, sym: str) -> None:
        """Publish the book's depth as it stands (Redis and the BOOK table's depth
        item), replacing whatever an earlier owner left there."""
        st = self.books[sym]
        depth = st.depth(self.config.depth_levels)
        self.dynamo.write(self.dynamo.items(sym, st.codec, Derived(), depth, st.token, st.last_event_seq))
        marketdata.publish_depth(self.clients.redis, sym, st.last_event_seq, *depth,
                                 prefix=self.settings.redis_key_prefix)

    def schedule_resend(self, sym: str) -> None:
        """Re-send ``sym``'s unsent intents once more when every API process's cached
        route has expired (:mod:`chalicelib.routing`): an intent put meanwhile into the
        table of the group the symbol left, by a process that read the route before the
        move, is committed in Aurora by then, and is put into this group's table."""
        self.resend_at[sym] = time.monotonic() + (ROUTE_CACHE_MS + RESEND_MARGIN_MS) / 1000

    def resend_due(self) -> None:
        now = time.monotonic()
        for sym, at in list(self.resend_at.items()):
            if now >= at:
                del self.resend_at[sym]
                if sym in self.books:
                    resent = self.resend_unsent(sym)
                    logger.info("re-sent after the route caches expired", extra={"symbol": sym, "resent": resent})

    def resend_unsent(self, sym: str) -> int:
        """Re-send the symbol's intents accepted in Aurora but never journaled (the
        stream may have lost them with a recreated table); repeats are dropped when
        sequencing."""
        @contextlib.contextmanager
        def pg_tx():
            conn = self.pg_conn()
            with conn.transaction():
                yield PgTx(conn)

        key = f"symbol:{sym}"
        try:  # (a fenced-out worker stops re-sending at once: the lease's new holder re-sends them)
            counts = reconcile.resend_unsent(pg_tx, sym, self.group,
                                             owned=lambda: key in self.leases.held and key not in self.leases.lost)
        except Exception:  # an outage: the reconciler re-sends them later
            logger.exception("re-sending unacknowledged intents failed", extra={"symbol": sym})
            return 0
        self.check_leases()  # stopped by a lost lease: step down now, not after the next symbol's recovery
        return counts["put"] + counts["touched"]

    # -- a batch -----------------------------------------------------------------------
    def position_key(self, shard_id: str) -> str:
        """The name a shard's records are journaled and deduplicated under: the shard
        id, qualified by the group for groups >= 1 (each group reads its own table's
        stream, whose shard ids may repeat another table's: moto's always do)."""
        return shard_id if self.group == 0 else f"g{self.group}/{shard_id}"

    def handle_records(self, reader: ShardReader, records: list[dict]) -> None:
        shard = self.position_key(reader.shard.shard_id)
        cpu = self.stats.cpu
        with cpu("parse"):
            intents = self._fresh_intents(shard, records)
        conn = self.pg_conn()
        with segment("matcher.batch", shard=shard, records=len(records)):
            with conn.transaction():
                tx = PgTx(conn)
                with cpu("sequence"):
                    by_symbol = self._sequence(tx, shard, intents)
                with subsegment("journal"), cpu("journal"):
                    self._journal(by_symbol)
                with subsegment("engine"), cpu("engine"):
                    self._match(shard, by_symbol)
                effects = self._effects_in_tx(tx, by_symbol)
            self.stats.pg_transactions += 1
        position = records[-1]["dynamodb"]["SequenceNumber"] if records else None
        if position is not None:
            reader.advance(position)

        def tail() -> None:  # after the commit, in order, beside the next batch (publisher.py)
            with segment("matcher.publish", shard=shard, records=len(records)):
                if self.publish_process is not None:
                    with subsegment("redis"):
                        self.publish_process.publish(effects, self.stats)
                else:
                    self._publish(effects, self.pg_publish_conn())
                if position is not None:
                    with cpu("checkpoint"):
                        self.check_leases()
                        self.leases.checkpoint(self._shard_key(reader.shard), position)
            self.hooks.batch_done(self, by_symbol)

        self.publisher.submit(tail)
        self._count_batch(records, by_symbol)
        self.maybe_snapshot()

    def _fresh_intents(self, shard: str, records: list[dict]) -> list[Intent]:
        """The batch's intents for symbols this worker matches, repeat deliveries
        (at or before the journaled position, or twice in the batch) dropped."""
        intents: list[Intent] = []
        seen: set[str] = set()
        for r in records:
            it = parse_record(r, shard)
            if it is None or it.kind not in ordering.INTENT_KINDS:
                continue
            st = self.books.get(it.symbol)
            if st is None:  # another group's, or stopped: left unsequenced in the outbox
                if it.symbol not in self.catalog.symbols:
                    logger.warning("intent for an unknown symbol", extra={"symbol": it.symbol,
                                                                          "intent": it.intent_id})
                continue
            if it.position <= st.positions.get(shard, 0) or it.intent_id in seen:
                continue  # a repeat delivery
            seen.add(it.intent_id)
            intents.append(it)
        return intents

    def _sequence(self, tx: PgTx, shard: str, intents: list[Intent]) -> dict[str, list[Applied]]:
        """Number the intents Aurora says are still to do, per symbol (events to come)."""
        by_symbol: dict[str, list[Applied]] = {}
        ts = now_ms()
        for it in ordering.sequence(tx, intents):  # repeats dropped, cancels after their orders
            st = self.books[it.symbol]
            e = Entry(st.next_seq, it.intent_id, it.kind, it.payload, shard, it.position, ts)
            st.next_seq += 1
            by_symbol.setdefault(it.symbol, []).append(Applied(e, []))
        return by_symbol

    def _journal(self, by_symbol: dict[str, list[Applied]]) -> None:
        for sym, items in by_symbol.items():
            st = self.books[sym]
            self.check_leases()
            try:
                self.journal.append(sym, [a.entry for a in items], st.token)
            except JournalConflict as exc:
                raise StepDown(str(exc)) from None

    def _match(self, shard: str, by_symbol: dict[str, list[Applied]]) -> None:
        """Apply the journaled entries to the books (filling in their events)."""
        for sym, items in by_symbol.items():
            st = self.books[sym]
            for a in items:
                a.events = st.book.process(command(a.entry))
                st.positions[shard] = max(st.positions.get(shard, 0), a.entry.position)
                st.since_snapshot += 1

    def _count_batch(self, records: list[dict], by_symbol: dict[str, list[Applied]]) -> None:
        n = sum(len(v) for v in by_symbol.values())
        self.stats.intents += n
        self.stats.batches += 1
        metrics.add_metric(name="Intents", unit=Unit.Count, value=n)
        metrics.add_metric(name="BatchSize", unit=Unit.Count, value=len(records))
        if records:
            created = records[-1]["dynamodb"].get("ApproximateCreationDateTime")
            if created is not None:
                # boto3 gives a datetime; a raw record has epoch seconds (a number)
                created_ms = int(created.timestamp() * 1000) if hasattr(created, "timestamp") \
                    else int(Decimal(str(created)) * 1000)
                metrics.add_metric(name="StreamLagMs", unit=Unit.Milliseconds, value=max(0, now_ms() - created_ms))
        for sym, items in by_symbol.items():
            logger.debug("batch sequenced", extra={"symbol": sym, "seq": items[-1].entry.seq, "intents": len(items),
                                                   "order_id": items[-1].entry.payload.get("order_id")})

    def apply_effects(self, by_symbol: dict[str, list[Applied]]) -> None:
        """Steps 3-5 for already-journaled entries (recovery), inline."""
        self.publisher.wait()
        conn = self.pg_conn()
        with conn.transaction():
            effects = self._effects_in_tx(PgTx(conn), by_symbol)
        self.stats.pg_transactions += 1
        self._publish(effects, conn)

    def _effects_in_tx(self, tx: PgTx, by_symbol: dict[str, list[Applied]]) -> dict[str, Effects]:
        """Steps 3-4: DynamoDB items, then settlement in ``tx``; what Redis is to publish."""
        effects: dict[str, Effects] = {}
        items = []
        cpu = self.stats.cpu
        with cpu("derive"):
            for sym, applied in by_symbol.items():
                st = self.books[sym]
                d = derive(st.spec, st.codec, applied)
                st.last_event_seq = max(st.last_event_seq, d.last_event_seq)
                e = effects[sym] = Effects(d, st.depth(self.config.depth_levels), st.last_event_seq, applied)
                items.extend(self.dynamo.items(sym, st.codec, d, e.depth, st.token, e.depth_seq))
        with subsegment("dynamodb"), cpu("dynamodb"):
            self.dynamo.write(items)
        t0 = time.monotonic()
        with subsegment("settlement"), cpu("settle"):
            for sym, applied in by_symbol.items():
                st = self.books[sym]
                try:
                    res = settle_retrying(tx, st.spec, st.codec, sym, applied, st.token, effects[sym].derived)
                except Fenced as exc:
                    raise StepDown(str(exc)) from None
                self.stats.trades += res.fills
                if res.fills:
                    metrics.add_metric(name="Trades", unit=Unit.Count, value=res.fills)
        metrics.add_metric(name="SettlementMs", unit=Unit.Milliseconds, value=(time.monotonic() - t0) * 1000)
        return effects

    def _publish(self, effects: dict[str, Effects], conn) -> None:
        """Redis market data and the user data stream (read back through ``conn``)."""
        prefix = self.settings.redis_key_prefix
        cpu = self.stats.cpu
        with subsegment("redis"):
            for sym, e in effects.items():
                with cpu("market data"):
                    fx.publish(self.clients.redis, sym, e.derived, e.depth, e.depth_seq, prefix)
                with cpu("user data"):
                    userdata.publish(self, sym, e.applied, e.derived.fills, conn)  # after the commit, never before

    def maybe_snapshot(self, force: bool = False) -> None:
        """Snapshot the books that are due.  A snapshot at seq S says every entry up to S
        went out (recovery re-publishes only after it), so it waits for the batch being
        published -- and so, while a backlog keeps the publisher busy, a due snapshot
        is put off to a batch boundary where it is idle, up to twice the interval."""
        every = self.config.snapshot_every
        for sym, st in self.books.items():
            if st.since_snapshot and (force or st.since_snapshot >= every):
                if not force and st.since_snapshot < 2 * every and self.publisher.busy():
                    continue
                self.publisher.wait()
                self._snapshot(sym, st)

    def _snapshot(self, sym: str, st: SymbolState) -> None:
        ok = self.journal.save_snapshot(sym, st.next_seq - 1, st.book.snapshot(),
                                        {k: str(v) for k, v in st.positions.items()}, st.token)
        st.since_snapshot = 0
        logger.info("snapshot", extra={"symbol": sym, "seq": st.next_seq - 1, "saved": ok})

    # -- the loop --------------------------------------------------------------------------
    def poll_once(self) -> bool:
        """One pass over the readable shards; True if any records were handled."""
        self.check_leases()
        if not self.acquire_symbols():
            return False
        self.acquire_shards()
        busy = False
        caught_up = True  # every shard read to its tip in this pass (a drain may end)
        for shard_id, reader in list(self.readers.items()):
            if not reader.schedule.due(time.monotonic()):
                continue  # idle: read less often (PollSchedule)
            records = reader.read(self.config.batch_limit)
            self.stats.records += len(records)
            caught_up = caught_up and len(records) < self.config.batch_limit
            if records:
                self.handle_records(reader, records)
                busy = True
            if reader.ended:
                self.leases.checkpoint(self._shard_key(reader.shard), SHARD_END, finished=True)
                self.leases.release(self._shard_key(reader.shard))
                del self.readers[shard_id]
                self._last_describe = 0.0  # look for its children now
                logger.info("shard finished", extra={"shard": shard_id})
                busy = True
        if caught_up:  # nothing queued to overlap with: the pass ends with its batches out
            self.publisher.wait()
        if self.draining:
            self.finish_drains(caught_up)
        if self.resend_at:
            self.resend_due()
        return busy

    def idle_wait(self) -> float:
        """Seconds to wait after a pass that found nothing: until a shard is due."""
        if not self.books:
            return self.config.renew_every_ms / 1000
        now = time.monotonic()
        soonest = min((r.schedule.next_at - now for r in self.readers.values()), default=0.0)
        return soonest if soonest > 0 else self.config.poll_ms / 1000  # nothing due, or nothing read

    def flush_metrics(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last_metrics >= self.config.metrics_every_ms / 1000:
            self._last_metrics = time.monotonic()
            flush_metrics()
            self.hooks.flushed(self)

    def start_publish_process(self) -> str:
        """Decide where the tails' publish runs (``MATCHER_PUBLISH_PROCESS``, see
        :mod:`.publishproc`) and start the child if it is a process: only while no other
        thread runs (a fork copies locks other threads may hold), else the thread as
        before.  Once; returns the mode ("process" or "thread")."""
        if self.publish_mode is not None:
            return self.publish_mode
        setting = self.config.publish_process
        cpus = usable_cpus()
        mode, why, log = "thread", f"MATCHER_PUBLISH_PROCESS={setting}, {cpus} CPUs", logger.info
        if publish_process_wanted(setting, cpus):
            if threading.active_count() > 1:
                why += f": {threading.active_count()} threads run already, no fork"
                if setting == "on":
                    log = logger.warning
            else:
                self.publish_process = PublishProcess.start(self.settings, self._connect_pg, self.catalog)
                mode = "process"
        self.publish_mode = mode
        log("publish mode", extra={"mode": mode, "why": why,
                                   "pid": self.publish_process.pid if self.publish_process else None})
        return mode

    def start_background(self) -> None:
        self._renewer = Renewer(self.leases, self.config.renew_every_ms)
        self._renewer.start()
        if self.config.health_port:
            from .health import serve_health

            self._health = serve_health(self, self.config.health_port)
        if self.config.reconcile_every_ms > 0:
            from .reconciler import ReconcilerThread

            self._reconciler = ReconcilerThread(self)
            self._reconciler.start()

    def run(self) -> int:
        logger.info("matcher starting", extra={"worker": self.config.worker_id, "group": self.group,
                                               "symbols": self.symbols})
        self.start_publish_process()  # before any thread of ours starts (a fork)
        self.start_background()
        freeze_heap()
        code = 0
        try:
            while not self.stop.is_set():
                self.last_loop = time.monotonic()
                busy = self.poll_once()
                self.flush_metrics()
                if not busy:
                    self.stop.wait(self.idle_wait())
        except (StepDown, LeaseLost) as exc:
            logger.warning("stepping down", extra={"reason": str(exc)})
            code = 0
        finally:
            self.shutdown(clean=code == 0 and self.stop.is_set())
        return code

    def shutdown(self, clean: bool) -> None:
        if self._health is not None:
            self._health.shutdown()
        if self._renewer:
            self._renewer.stop.set()
        if self._reconciler:
            self._reconciler.stop.set()
        try:  # a clean stop lets the last batch go out (bounded); after a step-down or a crash, a few seconds
            self.publisher.close(CLEAN_STOP_PUBLISH_S if clean else 5.0)
        except Exception:  # stopping anyway; recovery re-publishes what did not go out
            logger.exception("the last batch's publish failed")
            clean = False
        left = not self.publisher.idle()  # a tail stuck (a wait stepped down without it), or too slow
        if self.publish_process is not None:  # after the last tail: it went out through the child
            # (a tail left running: its child killed at once, not publishing beside the next owner)
            self.publish_process.close(0.0 if left else 5.0)
        if clean:
            try:
                self.maybe_snapshot(force=True)
            except Exception:
                logger.exception("final snapshot failed")
            for key in list(self.leases.held):
                self.leases.release(key)
        self.flush_metrics(force=True)
        for conn in (self.pg, self.pg_publish):
            if conn is None or (left and conn is self.pg_publish):
                continue  # (a session in use by a tail left running: never closed under it)
            try:
                conn.close()
            except Exception as exc:  # stopping anyway: the server drops the session
                logger.warning("closing the PostgreSQL connection failed", extra={"error": repr(exc)[:300]})
        logger.info("matcher stopped", extra={"clean": clean, "intents": self.stats.intents,
                                              "trades": self.stats.trades})


SETTLE_DEADLOCK_TRIES = 3


def settle_retrying(tx: PgTx, *args):
    """:func:`settle` in a savepoint, again (at most :data:`SETTLE_DEADLOCK_TRIES`
    times) when PostgreSQL chose it as a deadlock's victim.  Settlement locks its
    balance rows in one global order, but a transaction of the API may hold an order
    row and wait for a balance row settlement holds (it locks balances, then updates
    the orders): PostgreSQL then aborts one of the two.  Rolling back to the savepoint
    undoes only the settlement (the batch's sequencing read stays), and the other
    transaction, no longer blocked, commits; retried, the settlement finds the rows
    free.  Without it the matcher crashed on the deadlock (the pipeline's randomized
    run, once in several full runs) and recovery repeated the batch after a restart."""
    for attempt in range(1, SETTLE_DEADLOCK_TRIES):
        try:
            with tx.conn.transaction():
                return settle(tx, *args)
        except psycopg.errors.DeadlockDetected:
            logger.warning("settlement was a deadlock's victim: retried", extra={"attempt": attempt})
    with tx.conn.transaction():  # the last try: a deadlock now is raised
        return settle(tx, *args)


def freeze_heap() -> None:
    """Take what the process holds by now (modules, the AWS clients' service models,
    the books just recovered) out of the cyclic garbage collector's sight
    (``gc.freeze``): a full collection otherwise walks all of it again and again
    while batches allocate, ~70 ms each, a few times per 5,000 orders
    (bench/capacity.py).  Acyclic objects are still freed by reference counting; only
    cyclic garbage present at the call stays (once per takeover: bounded)."""
    gc.freeze()


def main() -> int:
    return serve(Worker())


def serve(worker: Worker) -> int:
    """Run ``worker`` until SIGTERM / SIGINT (a clean stop: leases released)."""

    def on_term(signum, frame):
        worker.stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    return worker.run()
