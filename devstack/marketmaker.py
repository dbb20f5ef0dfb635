"""The demo market maker: a bot that keeps a live market on the local exchange.

``python -m devstack.marketmaker`` (the local stack starts it unless ``--no-bot``)
trades as the demo user ``marketmaker@demo.local`` through the public
Binance-compatible REST API, as any bot would: an API key + HMAC-signed requests
(:mod:`devstack.binance_client`).  Only its API key is made the operator's way
(``chalicelib.admin.create_api_key``, what ``python -m chalicelib.cli create-api-key``
does), once at start.

For each symbol it follows a reference price that drifts as a seeded, bounded random
walk in whole ticks (no floats hold a price), quotes a ladder of limit orders on a grid
around it, and now and then sends a small market order into its own quotes so that
trades print.  A new user sees a moving chart, book and trade tape within a minute.

Environment: ``EXCHANGE_API_URL`` (the API base, e.g. ``http://127.0.0.1:8000/api``),
``MARKETMAKER_SYMBOLS`` (comma-separated; default: every symbol it has a reference
price for), ``MARKETMAKER_INTERVAL`` (seconds between two quote updates, default 1.0;
symbols take turns), ``MARKETMAKER_SEED`` (default 7), ``MARKETMAKER_LEVELS`` (per
side, default 10), ``MARKETMAKER_API_KEY`` + ``MARKETMAKER_API_SECRET`` (use this key
instead of creating one).  SIGTERM/SIGINT stop it after cancelling its orders.
"""
from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

from devstack.binance_client import BinanceClient, BinanceError

log = logging.getLogger("marketmaker")

USER = "marketmaker@demo.local"
KEY_LABEL = "demo-market-maker"

#: Where each symbol's reference price starts when the market has no trades yet.
ANCHORS = {"BTCUSDT": Decimal("65000"), "ETHUSDT": Decimal("3200"), "ETHBTC": Decimal("0.04920")}
#: The smallest quote per symbol, in the base asset (a level quotes 1-6 times this).
BASE_SIZE = {"BTCUSDT": Decimal("0.01"), "ETHUSDT": Decimal("0.15"), "ETHBTC": Decimal("0.15")}

GRID_BPS = 2          # quote grid spacing: 0.02 % of the price
MAX_STEP_GRIDS = 2    # the reference moves at most 2 grid steps per update
BAND_BPS = 800        # beyond +-8 % of the anchor the walk is pulled back hard
PULL_STEPS = 1200     # and within it, each step closes 1/1200 of the gap to the anchor
TAKER_PROBABILITY = 0.7


@dataclass
class Market:
    """One symbol: its filters (as integer tick/lot counts) and the walk's state."""

    symbol: str
    tick: Decimal
    step: Decimal
    min_qty_lots: int
    min_notional: Decimal
    anchor_ticks: int
    ref_ticks: int
    base_lots: int
    drift: int = 0
    live: dict = field(default_factory=dict)  # (side, price_ticks) -> orderId

    @property
    def grid(self) -> int:
        """Grid spacing in ticks (at least one tick), fixed per symbol so that quotes
        stay put while the reference moves within a grid step."""
        return max(1, self.anchor_ticks * GRID_BPS // 10000)

    def price(self, ticks: int) -> str:
        return str((self.tick * ticks).quantize(self.tick))

    def qty(self, lots: int) -> str:
        return str((self.step * lots).quantize(self.step))

    def lots_for(self, lots: int, price_ticks: int) -> int:
        """``lots``, raised until the order meets the minimum quantity and notional."""
        lots = max(lots, self.min_qty_lots, 1)
        while self.step * lots * self.tick * price_ticks < self.min_notional:
            lots += max(1, lots // 2)
        return lots


def walk(m: Market, rng: random.Random) -> int:
    """Move the reference price one step: noise, plus a drift that wanders and decays
    (the market trends for a while, then turns), plus a weak pull towards the anchor
    (about 1 % a hour either way); at most MAX_STEP_GRIDS grid steps, and pulled back
    hard outside the band.  Returns the move in ticks.  Integer arithmetic only."""
    g = m.grid
    m.drift = m.drift * 4 // 5 + rng.randint(-(g // 4), g // 4)
    move = m.drift + rng.randint(-g, g) + (m.anchor_ticks - m.ref_ticks) // PULL_STEPS
    band = m.anchor_ticks * BAND_BPS // 10000
    if m.ref_ticks > m.anchor_ticks + band:
        move -= g
        m.drift = min(m.drift, 0)
    elif m.ref_ticks < m.anchor_ticks - band:
        move += g
        m.drift = max(m.drift, 0)
    move = max(-MAX_STEP_GRIDS * g, min(MAX_STEP_GRIDS * g, move))
    m.ref_ticks = max(g * 4, m.ref_ticks + move)
    return move


def ladder(ref_ticks: int, grid: int, levels: int) -> tuple[list[int], list[int]]:
    """Bid and ask prices (ticks) on a grid around the reference: the best bid is the
    grid line at or below ``ref - grid/2``, the best ask one grid step above it.  On a
    grid, a small move of the reference changes only the ends of the ladder."""
    best_bid = (ref_ticks - grid // 2) // grid * grid
    bids = [best_bid - i * grid for i in range(levels) if best_bid - i * grid > 0]
    asks = [best_bid + (i + 1) * grid for i in range(levels)]
    return bids, asks


class MarketMaker:
    def __init__(self, client: BinanceClient, markets: list[Market], rng: random.Random, levels: int = 6,
                 interval: float = 1.0, stop: threading.Event | None = None):
        self.client, self.markets, self.rng = client, markets, rng
        self.levels, self.interval = levels, interval
        self.stop = stop or threading.Event()
        self.cycles = 0

    def sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; True if it is time to stop."""
        return self.stop.wait(seconds)

    def run(self) -> None:
        failures = 0
        i = 0
        while not self.stop.is_set():
            m = self.markets[i % len(self.markets)]
            i += 1
            try:
                self.update(m)
                failures = 0
                pause = self.interval
            except BinanceError as exc:
                failures += 1
                pause = exc.retry_after or min(30.0, self.interval * 2 ** failures)
                log.warning("%s: API refused (%s); retrying in %.1f s", m.symbol, exc, pause)
            except OSError as exc:
                failures += 1
                pause = min(30.0, self.interval * 2 ** failures)
                log.warning("%s: API unreachable (%s); retrying in %.1f s", m.symbol, exc, pause)
            if self.sleep(pause):
                break
        self.cancel_all(budget_s=5.0)
        log.info("stopped; quotes cancelled")

    def update(self, m: Market) -> None:
        """One quote update of a symbol: move the reference, fix the ladder, maybe take."""
        move = walk(m, self.rng)
        bids, asks = ladder(m.ref_ticks, m.grid, self.levels)
        want = {("BUY", p) for p in bids} | {("SELL", p) for p in asks}
        have = {}
        for o in self.client.open_orders(m.symbol):
            key = (o["side"], int((Decimal(o["price"]) / m.tick).to_integral_value()))
            if key in have or key not in want:
                self.cancel(m, o["orderId"])
            else:
                have[key] = o["orderId"]
        m.live = have
        placed = 0
        # nearest levels first, so that the touch is quoted before the tail
        for side, prices in (("BUY", bids), ("SELL", asks)):
            for level, p in enumerate(prices):
                if (side, p) in have:
                    continue
                lots = m.lots_for(m.base_lots * self.rng.choice((1, 1, 2, 3)) * (1 + level // 2), p)
                try:
                    r = self.client.new_order(symbol=m.symbol, side=side, type="LIMIT", timeInForce="GTC",
                                              price=m.price(p), quantity=m.qty(lots), newOrderRespType="ACK")
                    m.live[(side, p)] = r["orderId"]
                    placed += 1
                except BinanceError as exc:
                    if exc.code == -2010:  # insufficient balance: quote what we can
                        log.warning("%s: %s %s refused: %s", m.symbol, side, m.price(p), exc.msg)
                        break
                    raise
        took = ""
        if self.rng.random() < TAKER_PROBABILITY and bids and asks:
            side = ("BUY" if move >= 0 else "SELL") if self.rng.random() < 0.7 else self.rng.choice(("BUY", "SELL"))
            lots = m.lots_for(m.base_lots * self.rng.randint(1, 3), asks[0] if side == "BUY" else bids[0])
            try:
                self.client.new_order(symbol=m.symbol, side=side, type="MARKET", quantity=m.qty(lots),
                                      newOrderRespType="ACK")
                took = f", took {side.lower()} {m.qty(lots)}"
            except BinanceError as exc:
                if exc.code not in (-2010, -1013, -1112):  # no funds, filter, empty book side
                    raise
                took = f", taker refused: {exc.msg}"
        self.cycles += 1
        if self.cycles % 50 == 1 or placed > self.levels:
            log.info("%s: ref %s, quoting %d bids %s..%s, %d asks %s..%s (%d new)%s", m.symbol, m.price(m.ref_ticks),
                     len(bids), m.price(bids[-1]) if bids else "-", m.price(bids[0]) if bids else "-", len(asks),
                     m.price(asks[0]), m.price(asks[-1]), placed, took)

    def cancel(self, m: Market, order_id: int) -> None:
        try:
            self.client.cancel_order(m.symbol, order_id)
        except BinanceError as exc:
            if exc.code != -2011:  # already filled or cancelled
                raise

    def cancel_all(self, budget_s: float) -> None:
        """Take the bot's quotes off the book (best effort, within ``budget_s``)."""
        deadline = time.monotonic() + budget_s
        timeout = self.client.timeout
        self.client.timeout = max(0.5, min(timeout, budget_s / max(1, len(self.markets))))
        for m in self.markets:
            if time.monotonic() > deadline:
                break
            try:
                self.client.cancel_open_orders(m.symbol)
            except (BinanceError, OSError) as exc:
                if not (isinstance(exc, BinanceError) and exc.code == -2011):
                    log.info("%s: could not cancel open orders: %s", m.symbol, exc)
        self.client.timeout = timeout


# -- start-up ------------------------------------------------------------------------------
def credentials(stop: threading.Event) -> tuple[str, str] | None:
    """The bot's API key and secret: from the environment, or a fresh key of the demo
    user (its earlier keys revoked), made the operator's way.  Waits while the user
    does not exist (e.g. a stack started with --no-demo)."""
    key, secret = os.environ.get("MARKETMAKER_API_KEY"), os.environ.get("MARKETMAKER_API_SECRET")
    if key and secret:
        return key, secret
    from chalicelib import accounts, admin, apikeys
    from chalicelib.api.auth import forget_key
    from chalicelib.db import transaction
    from chalicelib.errors import ExchangeError

    wait = 2.0
    while not stop.is_set():
        try:
            revoked = []
            with transaction() as tx:
                acct = accounts.find_account(tx, username=USER)
                if acct:
                    for k in apikeys.list_keys(tx, acct.account_id):
                        if k.label == KEY_LABEL and not k.revoked:
                            apikeys.revoke_key(tx, acct.account_id, k.api_key)
                            revoked.append(k.api_key)
            for api_key in revoked:
                forget_key(api_key)  # drop the API's cached copy too
            if acct:
                k, secret = admin.create_api_key(USER, label=KEY_LABEL, can_trade=True)
                log.info("created API key %s... for %s", k.api_key[:8], USER)
                return k.api_key, secret
            log.warning("the demo user %s does not exist (stack started with --no-demo?); waiting", USER)
            wait = 30.0
        except ExchangeError as exc:
            log.warning("cannot create the API key yet: %s", exc)
        except Exception as exc:  # the Data API may still be starting
            log.warning("cannot create the API key yet: %r", exc)
        stop.wait(wait)
        wait = min(30.0, wait * 2)
    return None


def markets_from(client: BinanceClient, wanted: list[str] | None) -> list[Market]:
    info = client.exchange_info()
    out = []
    for s in info["symbols"]:
        sym = s["symbol"]
        if s["status"] != "TRADING" or (wanted and sym not in wanted) or (not wanted and sym not in ANCHORS):
            continue
        f = {x["filterType"]: x for x in s["filters"]}
        tick = Decimal(f["PRICE_FILTER"]["tickSize"]).normalize()
        step = Decimal(f["LOT_SIZE"]["stepSize"]).normalize()
        min_qty = Decimal(f["LOT_SIZE"]["minQty"])
        notional = f.get("NOTIONAL") or f.get("MIN_NOTIONAL") or {}
        last = Decimal(client.ticker_price(sym)["price"])
        anchor = ANCHORS.get(sym)
        if anchor is None:
            book = client.depth(sym, 5)
            if not (book["bids"] and book["asks"]) and not last:
                log.warning("%s: no reference price (no trades, no book, no anchor); not quoting it", sym)
                continue
            anchor = last or (Decimal(book["bids"][0][0]) + Decimal(book["asks"][0][0])) / 2
        start = last if last > 0 else anchor
        base = BASE_SIZE.get(sym, min_qty * 10)
        out.append(Market(sym, tick, step, int(min_qty / step), Decimal(notional.get("minNotional", "0")),
                          int(anchor / tick), int(start / tick), max(1, int(base / step))))
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s marketmaker %(levelname)s %(message)s")
    base = os.environ.get("EXCHANGE_API_URL", "http://127.0.0.1:8000/api")
    wanted = [s.strip().upper() for s in os.environ.get("MARKETMAKER_SYMBOLS", "").split(",") if s.strip()]
    interval = float(os.environ.get("MARKETMAKER_INTERVAL", "1.0"))
    levels = int(os.environ.get("MARKETMAKER_LEVELS", "10"))
    seed = int(os.environ.get("MARKETMAKER_SEED", "7"))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    client = BinanceClient(base)
    wait = 1.0
    while not stop.is_set():
        try:
            client.ping()
            break
        except (BinanceError, OSError) as exc:
            log.info("waiting for the API at %s (%s)", base, exc)
            stop.wait(wait)
            wait = min(10.0, wait * 2)
    creds = credentials(stop)
    if creds is None:
        return 0
    client.api_key, client.secret = creds
    markets: list[Market] = []
    while not stop.is_set() and not markets:
        try:
            markets = markets_from(client, wanted or None)
            if not markets:
                log.warning("no symbols to quote (MARKETMAKER_SYMBOLS=%s); idle", ",".join(wanted) or "-")
                stop.wait(60)
        except (BinanceError, OSError) as exc:
            log.warning("cannot read the markets yet (%s); retrying", exc)
            stop.wait(5)
    if stop.is_set():
        return 0
    bot = MarketMaker(client, markets, random.Random(seed), levels=levels, interval=interval, stop=stop)
    bot.cancel_all(budget_s=10.0)  # a clean slate after a restart
    log.info("quoting %s through %s every %.1f s", ", ".join(f"{m.symbol} around {m.price(m.ref_ticks)}"
                                                            for m in markets), base, interval)
    bot.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
