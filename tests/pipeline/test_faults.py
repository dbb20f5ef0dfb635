"""The randomized run under faults: the matcher SIGKILLed at random points 20+
times and restarted, duplicate stream records injected, the API "crashing"
between the Aurora commit and the DynamoDB put, and a second matcher started
while the first is paused.  Conservation still holds, no trade id appears twice
(DynamoDB and Aurora agree), no order is lost."""
from __future__ import annotations

import random
import threading
import time

from load import run_load
from pipeline_support import assert_invariants, cancel_all, make_accounts, pending_count, pipeline_state, wait_until

KILLS = 22


def _owner(symbol: str) -> str | None:
    from chalicelib.tables import LeaseModel

    try:
        return LeaseModel.get(f"symbol:{symbol}", consistent_read=True).owner
    except LeaseModel.DoesNotExist:
        return None


def _counters() -> dict[str, int]:
    from chalicelib.tables import LeaseModel

    out = {}
    for sym in ("BTCUSDT", "ETHUSDT"):
        try:
            out[sym] = int(LeaseModel.get(f"symbol:{sym}", consistent_read=True).counter)
        except LeaseModel.DoesNotExist:
            out[sym] = 0
    return out


def _kill_and_pause(matcher_factory, chaos: dict, state) -> None:
    """The matcher (``w1``) SIGKILLed ``KILLS`` times and started again; half-way, a
    second matcher (``w2``) started while the first is paused, which takes over: the
    first, continued, is fenced out and steps down; ``w2`` is killed from then on."""
    worker_id = "w1"
    before = _counters()  # the leases as the matcher process now starting finds them
    m = matcher_factory(worker_id, chaos, "matcher.instrumented").start()
    krng = random.Random(5)
    kills = 0
    paused_checked = False
    while kills < KILLS:
        time.sleep(krng.uniform(0.4, 1.6))
        if kills == KILLS // 2 and not paused_checked:
            # a second matcher while the first is paused: it takes over, the first is fenced out
            # the *running* process must be the owner: a killed one of the same worker id
            # leaves its leases behind until they expire (the counter moves on each take)
            wait_until(lambda worker_id=worker_id, before=before:
                       _owner("BTCUSDT") == worker_id and _owner("ETHUSDT") == worker_id
                       and all(c > before[s] for s, c in _counters().items()), 30,
                       "the first matcher to be active", explain=state)
            time.sleep(0.5)
            m.pause()
            m2 = matcher_factory("w2", chaos, "matcher.instrumented").start()
            wait_until(lambda: _owner("BTCUSDT") == "w2" and _owner("ETHUSDT") == "w2", 60, "w2 to take over",
                       explain=state)
            time.sleep(1.0)
            m.resume()
            wait_until(lambda m=m: not m.alive(), 60, "the paused matcher to step down", explain=state)
            m, worker_id, paused_checked = m2, "w2", True
            continue
        m.kill()
        kills += 1
        before = _counters()
        m = matcher_factory(worker_id, chaos, "matcher.instrumented").start()
    assert kills >= 20 and paused_checked


def test_faults_keep_money_and_orders(pipeline_env, matcher_factory, migrated_db, monkeypatch):
    # (a failure anywhere leaves nothing running or resting behind: matcher_factory stops
    # every process, the paused one too, and leave_no_orders cancels the orders left)
    import psycopg

    from chalicelib import orders

    def state() -> str:  # what a timed-out wait was waiting on: intents, leases, processes
        procs = matcher_factory.procs
        shown = [p for p in procs if p.alive()] + [p for p in procs[-3:] if not p.alive()]
        return pipeline_state(migrated_db, shown)

    with psycopg.connect(migrated_db) as conn:  # trades of earlier tests (a disaster test may have wiped DynamoDB's)
        earlier = {(s, t) for s, t in conn.execute("SELECT symbol, trade_id FROM trades")}
    accounts = make_accounts(12, {"USDT": "2000000", "BTC": "50", "ETH": "500"})
    real_put = orders.put_intent
    rng = random.Random(3)
    crashed: list[str] = []
    crashed_lists: list[int] = []  # the first order of each order list the API crashed on

    def crashing_put(intent_id, symbol, account_id, kind, *a, **kw):
        if kind in ("NEW", "NEW_LIST") and rng.random() < 0.03:
            (crashed if kind == "NEW" else crashed_lists).append(intent_id if kind == "NEW" else a[0])
            raise RuntimeError("the API died between the Aurora commit and the DynamoDB put")
        return real_put(intent_id, symbol, account_id, kind, *a, **kw)

    monkeypatch.setattr(orders, "put_intent", crashing_put)
    chaos = {"MATCHER_CHAOS_DUPLICATES": "0.1"}  # read by matcher.instrumented (fault injection)
    stats: dict = {}
    stop_load = threading.Event()
    load = threading.Thread(target=lambda: stats.update(run_load(accounts, 1600, threads=3, seed=11, lists=0.05,
                                                                 stop=stop_load)))
    load.start()
    try:
        _kill_and_pause(matcher_factory, chaos, state)
    except BaseException:  # no more orders: the teardown cancels those left (leave_no_orders)
        stop_load.set()
        raise
    finally:
        load.join()

    assert crashed, "no API crash was injected"
    assert stats["placed"] > 1000, stats

    live = [matcher_factory.procs[-1]]
    worker_id = live[0].worker_id

    def drained() -> bool:
        # as ECS replaces a task that exited (a matcher steps down when it finds a lease
        # taken over), a matcher that stopped by itself is started again
        if not live[0].alive():
            live[0] = matcher_factory(worker_id, chaos, "matcher.instrumented").start()
        return pending_count(migrated_db) == 0

    # Killed every 0.4-1.6 s, a matcher on a busy machine rarely gets past its start and
    # recovery during the load (INFO logs: nothing sequenced before the last one), so the
    # last one takes over the whole backlog (~1,600 intents) and re-sends it at its
    # takeover: ~12 s at load 6-7 in batches; it was ~60 s with a GetItem and an
    # UpdateItem per intent, and the 150 s allowed here ran out at load 8-18.
    wait_until(drained, 240, "every intent sequenced (reconciler included)", explain=state)
    figures = assert_invariants(migrated_db)
    assert figures["trades"] > 200, figures
    with psycopg.connect(migrated_db) as conn:
        # every order the API crashed on went live through the reconciler
        ids = [c.split(":", 1)[1] for c in crashed]
        rows = conn.execute("SELECT status FROM orders WHERE client_order_id = ANY(%s)", (ids,)).fetchall()
        assert len(rows) == len(crashed) and all(r[0] != "PENDING_NEW" for r in rows)
        # and every order list it crashed on (its first order: the others may be held back)
        rows = conn.execute("SELECT status FROM orders WHERE order_id = ANY(%s)", (crashed_lists,)).fetchall()
        assert len(rows) == len(crashed_lists) and all(r[0] != "PENDING_NEW" for r in rows)
        pg_trades = {(s, t) for s, t in conn.execute("SELECT symbol, trade_id FROM trades")}
        # trade ids are dense per symbol: none skipped, none twice
        for sym in ("BTCUSDT", "ETHUSDT"):
            tids = sorted(t for s, t in pg_trades if s == sym)
            assert tids == list(range(1, len(tids) + 1)), sym
    from chalicelib.tradepages import scan_trades

    # the trade pages: each trade once (pages that repeated batches left overlapping
    # agree on the trades they share, or scan_trades raises), none missing
    ddb_trades = [(s, t.trade_id) for s, t in scan_trades()]
    assert len(ddb_trades) == len(set(ddb_trades))
    assert set(ddb_trades) >= pg_trades - earlier
    cancel_all(accounts, explain=state)
    assert_invariants(migrated_db)
