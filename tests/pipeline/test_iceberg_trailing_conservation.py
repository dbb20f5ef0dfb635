"""Conservation with icebergs and trailing stops in the flow: a randomized run from many
accounts (icebergs resting and refreshing, trailing stops of both sides firing or
cancelled, plain limits and market orders moving the price) through the whole
pipeline; then money is conserved, every order's executed quantity is its fills and
nothing stays locked once all is cancelled."""
from __future__ import annotations

import random
import threading
import uuid
from decimal import Decimal

from pipeline_support import assert_invariants, cancel_all, make_accounts, pending_count, wait_until

SYMBOL, STEP, TICK = "BTCUSDT", Decimal("0.00001"), Decimal("0.01")


def _flow(accounts: list[int], n: int, seed: int) -> dict:
    from chalicelib import orders
    from chalicelib.errors import ExchangeError

    stats = {"placed": 0, "refused": 0}
    lock = threading.Lock()
    tag = uuid.uuid4().hex[:6]

    def worker(k: int) -> None:
        rng = random.Random(seed * 100 + k)
        mid = Decimal("30000")
        mine: list[tuple[int, int]] = []
        for i in range(n):
            mid = (mid * (1 + Decimal(rng.randint(-8, 8)) / 1000)).quantize(TICK)  # a walk of up to 0.8 %
            acct, side, cid = rng.choice(accounts), rng.choice(("BUY", "SELL")), f"T{tag}{k}x{i}"
            qty = (Decimal(rng.randint(2, 40)) * STEP * 10).quantize(STEP)
            px = (mid * (1 + Decimal(rng.randint(-10, 10)) / 1000)).quantize(TICK)
            u = rng.random()
            req = orders.OrderRequest
            try:
                if u < 0.08 and mine:
                    a, oid = mine.pop(rng.randrange(len(mine)))
                    orders.cancel_order(a, SYMBOL, oid, None, wait_s=0)
                    continue
                if u < 0.40:  # an iceberg, 2 to 5 slices
                    ice = max(STEP, (qty / rng.randint(2, 5)).quantize(STEP))
                    r = req(SYMBOL, side, "LIMIT", "GTC", qty, None, px, None, cid, iceberg_qty=ice)
                elif u < 0.52:  # a trailing stop, both sides, market or limit, with or without a stop price
                    delta = rng.randint(20, 120)
                    typ = rng.choice(("STOP_LOSS", "TAKE_PROFIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"))
                    up = (typ.startswith("STOP_LOSS")) == (side == "BUY")
                    stop = None if rng.random() < 0.5 else (mid * (Decimal("1.004") if up else Decimal("0.996"))
                                                            ).quantize(TICK)
                    limit = (mid * (Decimal("1.02") if side == "BUY" else Decimal("0.98"))).quantize(TICK) \
                        if typ.endswith("LIMIT") else None
                    r = req(SYMBOL, side, typ, "GTC" if limit else None, qty, None, limit, stop, cid,
                            trailing_delta=delta)
                elif u < 0.60:
                    r = req(SYMBOL, side, "MARKET", None, qty, None, None, None, cid)
                else:
                    r = req(SYMBOL, side, "LIMIT", "IOC" if u < 0.75 else "GTC", qty, None, px, None, cid)
                o = orders.place_order(acct, r)
                mine.append((acct, o["orderId"]))
                with lock:
                    stats["placed"] += 1
            except ExchangeError:
                with lock:
                    stats["refused"] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats


def test_icebergs_and_trailing_stops_conserve_money(pipeline_env, matcher_thread, migrated_db):
    import psycopg

    accounts = make_accounts(8, {"USDT": "5000000", "BTC": "100"})
    stats = _flow(accounts, 120, seed=11)
    assert stats["placed"] > 250, stats
    wait_until(lambda: pending_count(migrated_db) == 0, 120, "every intent sequenced and acknowledged")
    assert_invariants(migrated_db)
    ids = ",".join(str(a) for a in accounts)
    with psycopg.connect(migrated_db) as conn:
        refreshed = conn.execute(  # icebergs that traded more than one slice
            f"SELECT count(*) FROM orders o WHERE o.account_id IN ({ids}) AND o.iceberg_qty > 0"
            " AND o.executed_qty > o.iceberg_qty").fetchone()[0]
        fired = conn.execute(  # trailing stops that activated, then fired and traded
            f"SELECT count(*) FROM orders WHERE account_id IN ({ids}) AND trailing_delta IS NOT NULL"
            " AND trailing_at IS NOT NULL AND working_at IS NOT NULL AND executed_qty > 0").fetchone()[0]
    assert refreshed > 5 and fired > 5, (refreshed, fired, stats)
    cancel_all(accounts)
    assert_invariants(migrated_db)  # nothing stays locked
