"""Order-safe intents across stream shards: a cancel or cancel-replace never overtakes
the order it names, however a multi-shard stream interleaves them.

A real worker (real PostgreSQL, moto, Redis) reads a :class:`MultiShardStreams`
double: the intents the API writes are split over shards and handed over in
adversarial interleavings -- every permutation for small workloads, hypothesis for
larger ones (random workloads, shard assignments, interleavings and batch sizes).
The final state (the orders' statuses and fills, the cancels' outcomes, balances,
trades) must equal that of the single-shard run of the same workload.

Workloads are built so that intents of *different* orders commute (resting orders
below / above one price P, takers that buy at P from a maker's sell large enough for
all of them): the only order that matters is an order before what cancels it, which
is what the worker must guarantee.  Many copies of a workload, each from accounts of its own, go
through one delivery: copies commute too, so one pass of the worker checks every
permutation at once.  What the runs leave resting is cancelled at the end.
"""
from __future__ import annotations

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from multishard import MultiShardStreams
from pipeline_support import assert_invariants

SYMBOLS = ("ETHBTC", "ETHUSDT", "BTCUSDT")
WIDTH = 8  # ticks each side of P the workloads use
OPEN = ("PENDING_NEW", "NEW", "PARTIALLY_FILLED", "PENDING_CANCEL")


def _choose_band(pg_url: str):
    """A symbol (without PERCENT_PRICE_BY_SIDE) and a price P (ticks) with no order of
    earlier tests within WIDTH ticks of P that could trade: every open order's price is outside the band on its side,
    and no open stop without a limit price (it could fire at any price)."""
    import psycopg

    from chalicelib.symbols import load_catalog

    cat = load_catalog()
    best = None
    with psycopg.connect(pg_url) as conn:
        for sym in SYMBOLS:
            spec = cat.symbol(sym)
            if spec.percent_price_by_side is not None:
                continue  # the band is chosen away from the market: PERCENT_PRICE_BY_SIDE would refuse it
            rows = conn.execute("SELECT side, price FROM orders WHERE symbol = %s AND status = ANY(%s)",
                                (sym, list(OPEN))).fetchall()
            if any(price is None for _, price in rows):
                continue
            bids = [int(p / spec.tick_size) for s, p in rows if s == "BUY"]
            asks = [int(p / spec.tick_size) for s, p in rows if s == "SELL"]
            lo, hi = max(bids, default=0), min(asks, default=10**9)
            if lo == 0 and hi == 10**9:
                p = 100_000
            elif hi == 10**9:
                p = lo + 1000
            elif lo == 0:
                p = hi // 2
            else:
                p = (lo + hi) // 2
            room = min(p - lo, hi - p)
            if p > 10 * WIDTH and room > WIDTH and (best is None or room > best[2]):
                best = (sym, p, room)
    assert best, "no symbol has room for the test's price band"
    return cat.symbol(best[0]), best[1]


@dataclass
class Rig:
    worker: object
    streams: MultiShardStreams
    spec: object
    p: int          # P in ticks
    unit: Decimal   # the quantity unit (a lot count that clears minNotional at any band price)
    maker_order: int
    pg_url: str
    deposits: dict
    runs: int = 0

    def price(self, offset: int) -> Decimal:
        return self.spec.ticks_to_price(self.p + offset)

    def accounts(self, n: int) -> list[int]:
        """``n`` new funded accounts (one transaction: ensure_account + deposits)."""
        import psycopg

        from chalicelib.accounts import ensure_account
        from chalicelib.db import PgTx
        from chalicelib.funds import credit_deposit

        tag = uuid.uuid4().hex[:8]
        with psycopg.connect(self.pg_url) as conn:
            tx = PgTx(conn)
            ids = [ensure_account(tx, f"ms{tag}{i}").account_id for i in range(n)]
            for a in ids:
                for asset, amount in self.deposits.items():
                    credit_deposit(tx, a, asset, Decimal(amount), f"ms-{tag}-{a}-{asset}")
        return ids


@pytest.fixture(scope="module")
def rig(pipeline_env, migrated_db):
    import time

    import psycopg

    from chalicelib import orders
    from chalicelib.clients import get_clients
    from matcher.service.config import MatcherConfig
    from matcher.service.worker import Worker

    spec, p = _choose_band(migrated_db)
    step, tick = spec.step_size, spec.tick_size
    lots = (spec.min_notional * 2 / (tick * (p - WIDTH) * step)).to_integral_value(ROUND_CEILING)
    unit = (step * lots).quantize(step)
    deposits = {spec.base_asset: str(unit * 20_000), spec.quote_asset: str(tick * (p + WIDTH) * unit * 100)}
    clients = get_clients()
    arn = clients.dynamodb.describe_table(TableName=clients.settings.intents_table)["Table"]["LatestStreamArn"]
    streams = MultiShardStreams(clients.dynamodbstreams, arn, shards=8)
    base = MatcherConfig.from_env()
    cfg = type(base)(**{**base.__dict__, "worker_id": f"multishard-{uuid.uuid4().hex[:6]}", "poll_ms": 0,
                        "describe_every_ms": 3_600_000, "reconcile_every_ms": 0, "health_port": 0,
                        "snapshot_every": 100_000})
    worker = Worker(cfg, streams=streams, symbols=[spec.symbol])
    worker.start_background()  # renews the leases
    try:
        deadline = time.monotonic() + cfg.lease_ttl_ms / 1000 + 10
        while spec.symbol not in worker.books:  # an earlier test's matcher may still hold the lease
            assert time.monotonic() < deadline, "the symbol's lease was not free"
            worker.poll_once()
            time.sleep(0.05)
        streams.collect(lambda r: 0)  # whatever the takeover re-sent
        streams.deliver(worker, [(0, 10**6)])
        r = Rig(worker, streams, spec, p, unit, 0, migrated_db, deposits)
        [maker] = r.accounts(1)
        sell = orders.place_order(maker, orders.OrderRequest(spec.symbol, "SELL", "LIMIT", "GTC", unit * 10_000, None,
                                                             spec.ticks_to_price(p), None, "maker"))
        r.maker_order = int(sell["orderId"])
        streams.collect(lambda r: 0)
        streams.deliver(worker, [(0, 10)])
        yield r
        # what the runs left resting, and the maker: cancelled, so that later tests see the book as it was
        with psycopg.connect(migrated_db) as conn:
            left = [a for (a,) in conn.execute(
                "SELECT DISTINCT account_id FROM orders WHERE symbol = %s AND order_id >= %s AND status = ANY(%s)",
                (spec.symbol, r.maker_order, list(OPEN)))]
        for a in left:
            _cancel_all(spec.symbol, a)
        streams.collect(lambda r: 0)
        streams.deliver(r.worker, [(0, 10**6)])  # (a test may have replaced the worker)
        assert_invariants(migrated_db)
        worker = r.worker
    finally:
        worker.shutdown(clean=True)


def _cancel_all(symbol: str, account: int) -> None:
    from chalicelib import orders
    from chalicelib.errors import ExchangeError

    try:
        orders.cancel_open_orders(account, symbol, wait_s=0)
    except ExchangeError:
        pass  # nothing open, or not answered at once (-1007): the worker answers later


# -- workloads ------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """One API request: ``new`` (an order ``name``), ``cancel`` / ``replace`` (of order
    ``target``; a replace places order ``name``), ``cancel_all`` (the actor's open
    orders).  Orders: BUY below P rests, BUY at P takes from the maker, SELL above P
    rests."""

    kind: str
    actor: int
    name: str = ""
    side: str = "BUY"
    offset: int = 0
    qty: int = 1
    target: str = ""
    mode: str = "STOP_ON_FAILURE"


def new(actor, name, side="BUY", offset=-1, qty=1):
    return Op("new", actor, name, side, offset, qty)


def write(rig: Rig, actors: list[int], ops: list[Op], tag: str) -> None:
    """Send the workload through the API functions (Aurora + the intents table), no
    matcher answering yet: every order is PENDING_NEW when its cancel is written."""
    from chalicelib import orders
    from chalicelib.errors import ExchangeError

    sym, ids = rig.spec.symbol, {}

    def req(op):
        return orders.OrderRequest(sym, op.side, "LIMIT", "GTC", rig.unit * op.qty, None, rig.price(op.offset), None,
                                   f"{tag}{op.name}")

    for op in ops:
        acct = actors[op.actor]
        if op.kind == "new":
            ids[op.name] = int(orders.place_order(acct, req(op))["orderId"])
        elif op.kind == "cancel":
            orders.cancel_order(acct, sym, ids[op.target], None, wait_s=0)
        elif op.kind == "replace":
            with pytest.raises(ExchangeError):  # -1007: not answered, nothing is matching yet
                orders.cancel_replace(acct, sym, ids[op.target], None, req(op), op.mode, wait_s=0)
            ids[op.name] = int(orders.get_order(acct, sym, orig_client_order_id=f"{tag}{op.name}")["orderId"])
        elif op.kind == "cancel_all":
            _cancel_all(sym, acct)


def state(conn, rig: Rig, actors: list[int], tag: str, lo_order: int, lo_trade: int, before: dict) -> dict:
    """A copy's outcome with run-specific ids replaced by names: orders (status,
    executed, quote, reservation left, reject reason), intents' outcomes, trades
    (a multiset: which taker met the maker is the same, the trade ids may not be),
    balance changes of its accounts."""
    names = {rig.maker_order: "maker"}
    out: dict = {"orders": {}, "outcomes": {}}
    for oid, cid, status, ex, cq, left, reason in conn.execute(
            "SELECT order_id, client_order_id, status, executed_qty, cum_quote_qty, reserved_left, reject_reason"
            " FROM orders WHERE order_id > %s AND account_id = ANY(%s)", (lo_order, actors)):
        name = cid.removeprefix(tag)
        names[oid] = name
        out["orders"][name] = (status, ex, cq, left, reason)
    mine = [o for o in names if o != rig.maker_order]
    for kind, oid, payload, outcome in conn.execute(
            "SELECT kind, order_id, payload, outcome FROM intent_outbox WHERE order_id = ANY(%s)"
            " AND sent_at IS NOT NULL", (mine,)):
        if kind == "CANCEL":
            out["outcomes"][f"cancel {names[oid]}"] = outcome
        elif kind == "CANCEL_REPLACE":
            out["outcomes"][f"replace {names.get(payload['cancel_order_id'])} by {names[oid]}"] = outcome
    unsent = conn.execute("SELECT count(*) FROM intent_outbox WHERE order_id = ANY(%s) AND sent_at IS NULL",
                          (mine,)).fetchone()[0]
    assert unsent == 0, "an intent was never sequenced"
    out["trades"] = sorted(
        (names[b], names[s], str(p), str(q), str(qq), str(bf), str(sf)) for b, s, p, q, qq, bf, sf in conn.execute(
            "SELECT buyer_order_id, seller_order_id, price, qty, quote_qty, buyer_fee, seller_fee FROM trades"
            " WHERE symbol = %s AND trade_id > %s AND (buyer_order_id = ANY(%s) OR seller_order_id = ANY(%s))",
            (rig.spec.symbol, lo_trade, mine, mine)))
    out["balances"] = {(actors.index(a), asset): (free - before[a, asset][0], locked - before[a, asset][1])
                       for (a, asset), (free, locked) in balances(conn, actors).items()}
    return out


def balances(conn, accounts: list[int]) -> dict:
    return {(a, asset): (free, locked) for a, asset, free, locked in conn.execute(
        "SELECT account_id, asset, free, locked FROM balances WHERE account_id = ANY(%s)", (accounts,))}


def run(rig: Rig, copies: list[tuple[list[Op], list[int]]], steps, between=None) -> list[dict]:
    """Write each copy of a workload (``ops`` from accounts of its own, intent i on
    shard ``assign[i]``, intents in write order), deliver ``steps`` (then whatever is
    left), and return each copy's state.  Copies share nothing but the maker, whose
    sell they only take from, so they commute: one delivery serves many."""
    import psycopg

    rig.runs += 1
    with psycopg.connect(rig.pg_url) as conn:
        lo_order = conn.execute("SELECT COALESCE(max(order_id), 0) FROM orders").fetchone()[0]
        lo_trade = conn.execute("SELECT COALESCE(max(trade_id), 0) FROM trades WHERE symbol = %s",
                                (rig.spec.symbol,)).fetchone()[0]
    pool = rig.accounts(sum(1 + max(op.actor for op in ops) for ops, _ in copies))
    with psycopg.connect(rig.pg_url) as conn:
        before = balances(conn, pool)
    jobs, shard_of = [], {}
    for j, (ops, assign) in enumerate(copies):
        k = 1 + max(op.actor for op in ops)
        actors, pool = pool[:k], pool[k:]
        jobs.append((actors, f"r{rig.runs}c{j}-", ops))
        order = iter(assign)  # a copy's requests are sequential: its intents reach the stream in write order
        shard_of.update(dict.fromkeys(actors, order))
    with ThreadPoolExecutor(4) as pool_ex:  # copies are independent: written side by side
        list(pool_ex.map(lambda job: write(rig, job[0], job[2], job[1]), jobs))
    def shard(r: dict) -> int | None:  # an account of this run: its copy's next shard; else not ours
        it = shard_of.get(int(r["dynamodb"]["NewImage"]["account_id"]["N"]))
        return next(it) if it is not None else None

    got = rig.streams.collect(shard)
    assert len(got) == sum(len(a) for _, a in copies), f"{len(got)} intents written"
    assert all(next(it, None) is None for it in shard_of.values()), "fewer intents written than assigned"
    rig.streams.deliver(rig.worker, steps)
    if between:
        between(jobs)
    rig.streams.deliver(rig.worker, [(s, 10**6) for s in range(len(rig.streams.ids))])
    with psycopg.connect(rig.pg_url) as conn:
        return [state(conn, rig, actors, tag, lo_order, lo_trade, before) for actors, tag, _ in jobs]


# a resting order and its owner's cancel-all, beside another actor's taker
CANCEL_ALL = [new(1, "z", offset=-3, qty=2), Op("cancel_all", 1), new(0, "t", offset=0, qty=2)]
# a chain: x replaced by y, y by a resting sell w, w cancelled
CHAIN = [new(0, "x", offset=-5), Op("replace", 0, "y", offset=-4, target="x"),
         Op("replace", 0, "w", side="SELL", offset=3, target="y"), Op("cancel", 0, target="w")]
# a resting order replaced by a taker (a trade), whose cancel comes after it filled (-2011)
REPLACE_BY_TAKER = [new(0, "x", offset=-5), Op("replace", 0, "y", offset=0, qty=3, target="x"),
                    Op("cancel", 0, target="y")]


def permutation_copies(ops: list[Op], n: int) -> tuple[list, list]:
    """The single-shard run (shard ``n``, read first, in one batch) and one copy per
    permutation of the ``n`` intents, each intent on a shard of its own: a copy's
    k-th intent to be read is on shard k, and shards 0, 1, ... are read in turn."""
    copies = [(ops, [n] * n)]
    for perm in itertools.permutations(range(n)):
        copies.append((ops, [perm.index(i) for i in range(n)]))
    return copies, [(n, n)] + [(k, 10**6) for k in range(n)]


@pytest.mark.parametrize("ops", [CANCEL_ALL, CHAIN, REPLACE_BY_TAKER], ids=["cancel-all", "replace-chain",
                                                                          "replace-by-taker"])
def test_every_permutation_equals_the_single_shard_run(rig, ops):
    """Each intent on a shard of its own, the shards read in every order."""
    n = len(ops)  # one intent per request (each cancel-all here finds one open order)
    copies, steps = permutation_copies(ops, n)
    reference, *permuted = run(rig, copies, steps)
    assert len(reference["outcomes"]) == sum(op.kind != "new" for op in ops), reference
    assert (reference["trades"] != []) == any(op.kind in ("new", "replace") and op.offset == 0 for op in ops)
    for (_, assign), got in zip(copies[1:], permuted, strict=True):
        read = sorted(range(n), key=lambda i: assign[i])
        assert got == reference, f"intents read in order {read}"


def test_a_held_cancel_survives_a_takeover(rig):
    """The cancel is read before its order and held; the worker dies (no release, no
    final snapshot) and its successor resumes from the checkpoints, past the cancel's
    record.  The order still comes with its cancel right behind it: the hold is the
    outbox row, not the dead worker's memory."""
    import psycopg

    from matcher.service.worker import Worker

    ops = [new(0, "x", offset=-5, qty=2), Op("cancel", 0, target="x")]

    def takeover(jobs):
        actors, tag, _ = jobs[1]
        with psycopg.connect(rig.pg_url) as conn:
            held = conn.execute(
                "SELECT o.status, b.sent_at FROM orders o JOIN intent_outbox b ON b.order_id = o.order_id"
                " AND b.kind = 'CANCEL' WHERE o.account_id = %s AND o.client_order_id = %s",
                (actors[0], f"{tag}x")).fetchone()
        assert held == ("PENDING_NEW", None)  # read, and held: not sequenced, not acknowledged
        dead = rig.worker
        dead._renewer.stop.set()  # it stops without a word; a restart under its id reclaims at once
        dead.pg.close()
        rig.worker = Worker(dead.config, streams=rig.streams, symbols=dead.symbols)
        rig.worker.start_background()
        while rig.spec.symbol not in rig.worker.books:
            rig.worker.poll_once()
        assert rig.worker.books[rig.spec.symbol].token > dead.books[rig.spec.symbol].token

    # the single-shard run on shard 2; the other: its order on shard 1, its cancel on shard 0, read first
    reference, got = run(rig, [(ops, [2, 2]), (ops, [1, 0])], [(2, 2), (0, 1)], between=takeover)
    assert reference["orders"]["x"][0] == "CANCELED" and reference["outcomes"] == {"cancel x": "CANCELED"}
    assert got == reference


# -- hypothesis: larger workloads, any shard assignment and interleaving -----------------
@st.composite
def workloads(draw):
    """Actors 0 and 1 place, cancel and replace orders (each order cancelled or
    replaced at most once, as one request at a time does); actor 2 places orders and
    ends with a cancel-all."""
    ops: list[Op] = []
    live: dict[int, list[str]] = {0: [], 1: []}
    k = 0
    for _ in range(draw(st.integers(3, 7))):
        actor = draw(st.sampled_from([0, 1]))
        action = draw(st.sampled_from(["new", "new", "cancel", "replace"])) if live[actor] else "new"
        k += 1
        name = f"o{k}"
        side, offset = draw(st.sampled_from([("BUY", -1), ("BUY", -3), ("BUY", 0), ("SELL", 2), ("SELL", 4)]))
        qty = draw(st.integers(1, 3))
        if action == "new":
            ops.append(Op("new", actor, name, side, offset, qty))
            live[actor].append(name)
        else:
            target = live[actor].pop(draw(st.integers(0, len(live[actor]) - 1)))
            if action == "cancel":
                ops.append(Op("cancel", actor, target=target))
            else:
                mode = draw(st.sampled_from(["STOP_ON_FAILURE", "ALLOW_FAILURE"]))
                ops.append(Op("replace", actor, name, side, offset, qty, target, mode))
                live[actor].append(name)
    for j in range(draw(st.integers(1, 2))):
        ops.append(Op("new", 2, f"c{j}", "BUY", -2 - j, 1))
    ops.append(Op("cancel_all", 2))
    n_intents = sum(1 for op in ops if op.kind != "cancel_all") + sum(1 for op in ops if op.actor == 2) - 1
    shards = draw(st.integers(2, 4))
    assign = draw(st.lists(st.integers(0, shards - 1), min_size=n_intents, max_size=n_intents))
    # an interleaving: a random sequence of (shard, batch size) steps
    steps = draw(st.lists(st.tuples(st.integers(0, shards - 1), st.integers(1, 3)), min_size=1, max_size=3 * n_intents))
    return ops, n_intents, assign, steps


@settings(max_examples=5, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=workloads())
def test_random_workloads_interleavings_equal_the_single_shard_run(rig, case):
    ops, n, assign, steps = case
    # the single-shard run on shard 0, read first; the interleaved one on shards 1..
    reference, got = run(rig, [(ops, [0] * n), (ops, [1 + s for s in assign])],
                         [(0, n)] + [(1 + s, k) for s, k in steps])
    assert got == reference
