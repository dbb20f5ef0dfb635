"""A randomized order flow for the pipeline tests: limit orders around a moving
mid (crossing about half the time), some IOC / market orders, some cancels."""
from __future__ import annotations

import random
import threading
import uuid
from decimal import Decimal

MIDS = {"BTCUSDT": Decimal("30000"), "ETHUSDT": Decimal("2000")}


def run_load(accounts: list[int], n_orders: int, threads: int = 4, seed: int = 1, stop=None) -> dict:
    from chalicelib import orders
    from chalicelib.errors import ExchangeError

    stats = {"placed": 0, "refused": 0, "cancels": 0, "errors": 0, "codes": {}}
    lock = threading.Lock()
    per_thread = n_orders // threads
    tag = uuid.uuid4().hex[:6]

    def worker(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        mine: list[tuple[int, str, int]] = []
        for i in range(per_thread):
            if stop is not None and stop.is_set():
                return
            acct = rng.choice(accounts)
            sym = rng.choice(list(MIDS))
            spec_step = Decimal("0.00001") if sym == "BTCUSDT" else Decimal("0.0001")
            mid = MIDS[sym]
            side = rng.choice(("BUY", "SELL"))
            cid = f"L{tag}{k}x{i}"
            u = rng.random()
            try:
                if u < 0.08 and mine:
                    oid_acct, oid_sym, oid = mine.pop(rng.randrange(len(mine)))
                    orders.cancel_order(oid_acct, oid_sym, oid, None, wait_s=0)
                    with lock:
                        stats["cancels"] += 1
                    continue
                qty = (Decimal(rng.randint(1, 200)) * spec_step * 10).quantize(spec_step)
                if u < 0.14:
                    if side == "BUY":
                        req = orders.OrderRequest(sym, side, "MARKET", None, None, Decimal(rng.randint(10, 300)),
                                                  None, None, cid)
                    else:
                        req = orders.OrderRequest(sym, side, "MARKET", None, qty, None, None, None, cid)
                else:
                    off = Decimal(rng.randint(-20, 20)) / Decimal(1000)
                    price = (mid * (1 + off) if side == "BUY" else mid * (1 - off)).quantize(Decimal("0.01"))
                    tif = "IOC" if u < 0.2 else "GTC"
                    req = orders.OrderRequest(sym, side, "LIMIT", tif, qty, None, price, None, cid)
                o = orders.place_order(acct, req)
                with lock:
                    stats["placed"] += 1
                mine.append((acct, sym, o["orderId"]))
            except ExchangeError as exc:
                with lock:
                    stats["refused"] += 1
                    stats["codes"][exc.failure.msg] = stats["codes"].get(exc.failure.msg, 0) + 1
            except Exception:  # an injected crash between commit and put, or an outage
                with lock:
                    stats["errors"] += 1

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return stats
