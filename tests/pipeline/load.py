"""A randomized order flow for the pipeline tests: limit orders around a moving
mid (crossing about half the time), some IOC / market orders, some cancels, and
(``lists`` > 0) that share of order lists: OCOs and OTOs near the mid, whose legs
trade, trigger, expire or are refused as the flow goes."""
from __future__ import annotations

import random
import threading
import uuid
from decimal import Decimal

MIDS = {"BTCUSDT": Decimal("30000"), "ETHUSDT": Decimal("2000")}


def _order_list(rng: random.Random, sym: str, side: str, qty, mid, cid: str):
    """An OCO (a LIMIT_MAKER 0.5-2 % beyond the mid, a stop-loss-limit 0.5-2 % behind it)
    or an OTO (a working limit within 1 % of the mid, a pending LIMIT_MAKER exit 2 % out)."""
    from chalicelib.orderlists import OcoRequest, OtoRequest
    from chalicelib.orders import OrderRequest

    def px(frac) -> Decimal:
        return (mid * (1 + frac)).quantize(Decimal("0.01"))

    sign = 1 if side == "SELL" else -1
    if rng.random() < 0.6:
        far = px(sign * Decimal(rng.randint(5, 20)) / 1000)
        stop = px(-sign * Decimal(rng.randint(5, 20)) / 1000)
        limit_leg = OrderRequest(sym, side, "LIMIT_MAKER", None, qty, None, far, None, f"{cid}m")
        stop_leg = OrderRequest(sym, side, "STOP_LOSS_LIMIT", "GTC", qty, None, stop, stop, f"{cid}s")
        below, above = (stop_leg, limit_leg) if side == "SELL" else (limit_leg, stop_leg)
        return OcoRequest(sym, cid, below, above)
    exit_side = "SELL" if side == "BUY" else "BUY"
    working = OrderRequest(sym, side, "LIMIT", "GTC", qty, None, px(Decimal(rng.randint(-10, 10)) / 1000), None,
                           f"{cid}w")
    pending = OrderRequest(sym, exit_side, "LIMIT_MAKER", None, qty, None, px(-sign * Decimal("0.02")), None,
                           f"{cid}p")
    return OtoRequest(sym, cid, working, pending)


def run_load(accounts: list[int], n_orders: int, threads: int = 4, seed: int = 1, stop=None,
             lists: float = 0.0) -> dict:
    from chalicelib import orderlists, orders
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
                if u > 1 - lists:
                    placed = orderlists.place_oco(acct, _order_list(rng, sym, side, qty, mid, cid))
                    with lock:
                        stats["placed"] += 1
                        stats["lists"] = stats.get("lists", 0) + 1
                    mine.append((acct, sym, placed["orders"][0]["orderId"]))
                    continue
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
