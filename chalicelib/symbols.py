"""Symbol and asset specifications: the one definition of what can be traded.

The specs live in ``symbols.json`` beside this module (or the file named by
``EXCHANGE_SYMBOLS_FILE``) and are read by the API, the matcher, the local stack,
the tests and ``infra/``.  Everything money-related is a ``Decimal``; the engine
works in integer *ticks* (price / tickSize) and *lots* (quantity / stepSize), and
the conversions between the two worlds live here so that there is exactly one of
each.
"""
from __future__ import annotations

import functools
import json
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

DEFAULT_SYMBOLS_FILE = Path(__file__).with_name("symbols.json")


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """An asset and the number of decimals every balance of it is kept to."""

    asset: str
    precision: int

    @property
    def unit(self) -> Decimal:
        """The smallest amount of this asset (``1e-precision``)."""
        return Decimal(1).scaleb(-self.precision)


@dataclass(frozen=True, slots=True)
class PercentPriceBySide:
    """Binance's ``PERCENT_PRICE_BY_SIDE``: a BUY's price must lie within
    [reference x bidMultiplierDown, reference x bidMultiplierUp], a SELL's within the
    ask multipliers, the reference being the average price of the last
    ``avgPriceMins`` minutes (the last price when 0)."""

    bid_multiplier_up: Decimal
    bid_multiplier_down: Decimal
    ask_multiplier_up: Decimal
    ask_multiplier_down: Decimal
    avg_price_mins: int

    def bounds(self, side: str, reference: Decimal) -> tuple[Decimal, Decimal]:
        """(lowest, highest) price a ``side`` order may have."""
        if side.upper() == "BUY":
            return reference * self.bid_multiplier_down, reference * self.bid_multiplier_up
        return reference * self.ask_multiplier_down, reference * self.ask_multiplier_up

    @classmethod
    def from_json(cls, raw: Mapping) -> PercentPriceBySide:
        return cls(Decimal(raw["bidMultiplierUp"]), Decimal(raw["bidMultiplierDown"]),
                   Decimal(raw["askMultiplierUp"]), Decimal(raw["askMultiplierDown"]), int(raw["avgPriceMins"]))


@functools.lru_cache(maxsize=256)
def decimals_of(step: Decimal) -> int:
    """The decimals a tick or step size shows (0.01 -> 2); cached: the order views ask
    for them per order rendered."""
    return max(0, -int(step.normalize().as_tuple().exponent))


@dataclass(frozen=True, slots=True)
class TrailingDelta:
    """Binance's ``TRAILING_DELTA`` bounds (BIPS, inclusive).  "Above" applies to the
    trailing stops that activate on a rise (STOP_LOSS BUY, TAKE_PROFIT SELL),
    "below" to those that activate on a fall."""

    min_above: int = 10
    max_above: int = 2000
    min_below: int = 10
    max_below: int = 2000

    @classmethod
    def from_json(cls, raw: Mapping) -> TrailingDelta:
        return cls(int(raw["minTrailingAboveDelta"]), int(raw["maxTrailingAboveDelta"]),
                   int(raw["minTrailingBelowDelta"]), int(raw["maxTrailingBelowDelta"]))


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A spot symbol with its Binance-style filters and fee rates."""

    symbol: str
    base_asset: str
    quote_asset: str
    base_precision: int
    quote_precision: int
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    status: str = "TRADING"
    group: int | None = None  # matcher group it is pinned to (None: by hash, see Catalog.group_of)
    percent_price_by_side: PercentPriceBySide | None = None  # checked at order entry (chalicelib.orders)
    # Binance's usual values; a symbols.json entry may override them (same names as exchangeInfo's)
    iceberg_parts: int = 10                 # ICEBERG_PARTS limit (engine)
    max_num_iceberg_orders: int = 5         # MAX_NUM_ICEBERG_ORDERS (order entry)
    max_num_algo_orders: int = 5            # MAX_NUM_ALGO_ORDERS (order entry)
    trailing_delta: TrailingDelta = TrailingDelta()  # TRAILING_DELTA (engine)

    # -- Decimal <-> integer units -------------------------------------------------
    def price_to_ticks(self, price: Decimal) -> int | None:
        """Integer ticks for ``price``, or None when it is not a multiple of tickSize."""
        q, r = divmod(Decimal(price), self.tick_size)
        return int(q) if r == 0 else None

    def ticks_to_price(self, ticks: int) -> Decimal:
        return (self.tick_size * ticks).quantize(self.tick_size)

    def qty_to_lots(self, qty: Decimal) -> int | None:
        """Integer lots for ``qty``, or None when it is not a multiple of stepSize."""
        q, r = divmod(Decimal(qty), self.step_size)
        return int(q) if r == 0 else None

    def lots_to_qty(self, lots: int) -> Decimal:
        return (self.step_size * lots).quantize(self.step_size)

    def quote_of(self, ticks: int, lots: int) -> Decimal:
        """Exact quote amount of ``lots`` at ``ticks`` (price * quantity)."""
        return (self.tick_size * self.step_size * ticks * lots).quantize(
            self.tick_size * self.step_size
        )

    @property
    def price_decimals(self) -> int:
        return decimals_of(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        return decimals_of(self.step_size)

    @classmethod
    def from_json(cls, raw: Mapping, assets: Mapping[str, AssetSpec]) -> SymbolSpec:
        d = Decimal
        return cls(
            symbol=raw["symbol"],
            base_asset=raw["baseAsset"],
            quote_asset=raw["quoteAsset"],
            base_precision=assets[raw["baseAsset"]].precision,
            quote_precision=assets[raw["quoteAsset"]].precision,
            tick_size=d(raw["tickSize"]),
            min_price=d(raw["minPrice"]),
            max_price=d(raw["maxPrice"]),
            step_size=d(raw["stepSize"]),
            min_qty=d(raw["minQty"]),
            max_qty=d(raw["maxQty"]),
            market_min_qty=d(raw.get("marketMinQty", raw["minQty"])),
            market_max_qty=d(raw.get("marketMaxQty", raw["maxQty"])),
            min_notional=d(raw["minNotional"]),
            max_notional=d(raw["maxNotional"]),
            apply_min_to_market=bool(raw.get("applyMinToMarket", True)),
            apply_max_to_market=bool(raw.get("applyMaxToMarket", False)),
            maker_fee=d(raw.get("makerFee", "0.001")),
            taker_fee=d(raw.get("takerFee", "0.001")),
            status=raw.get("status", "TRADING"),
            group=None if raw.get("group") is None else int(raw["group"]),
            percent_price_by_side=PercentPriceBySide.from_json(raw["percentPriceBySide"])
            if raw.get("percentPriceBySide") else None,
            iceberg_parts=int(raw.get("icebergParts", 10)),
            max_num_iceberg_orders=int(raw.get("maxNumIcebergOrders", 5)),
            max_num_algo_orders=int(raw.get("maxNumAlgoOrders", 5)),
            trailing_delta=TrailingDelta.from_json(raw["trailingDelta"]) if raw.get("trailingDelta")
            else TrailingDelta(),
        )


@dataclass(frozen=True, slots=True)
class Catalog:
    """All assets and symbols the exchange knows, as loaded from the symbols file."""

    assets: Mapping[str, AssetSpec]
    symbols: Mapping[str, SymbolSpec]
    groups: int = 1  # matcher groups (``matcherGroups``): one ECS service each

    def symbol(self, name: str) -> SymbolSpec | None:
        return self.symbols.get(name)

    def group_of(self, name: str) -> int:
        """The matcher group that sequences ``name`` by the file: its ``group`` if it
        is pinned, else a stable hash (CRC-32, the same in every process and release)
        over the groups no symbol is pinned to -- a pinned hot symbol has its group to
        itself.  An operator's move (``python -m chalicelib.cli move-symbol``) overrides
        this at run time (matcher/service/groups.py)."""
        spec = self.symbols[name]
        if spec.group is not None:
            return spec.group
        pinned = {s.group for s in self.symbols.values() if s.group is not None}
        free = [g for g in range(self.groups) if g not in pinned] or list(range(self.groups))
        return free[zlib.crc32(name.encode()) % len(free)]

    def symbols_of(self, group: int) -> list[str]:
        return sorted(s for s in self.symbols if self.group_of(s) == group)


def parse_catalog(raw: Mapping) -> Catalog:
    assets = {a["asset"]: AssetSpec(a["asset"], int(a["precision"])) for a in raw["assets"]}
    symbols = {s["symbol"]: SymbolSpec.from_json(s, assets) for s in raw["symbols"]}
    groups = int(raw.get("matcherGroups", 1))
    if groups < 1:
        raise ValueError(f"matcherGroups must be at least 1, not {groups}")
    for spec in symbols.values():
        if spec.group is not None and not 0 <= spec.group < groups:
            raise ValueError(f"{spec.symbol}: group {spec.group} is not one of the {groups} matcher groups")
    return Catalog(assets=assets, symbols=symbols, groups=groups)


_CATALOGS: dict[str, Catalog] = {}


def load_catalog(path: str | os.PathLike | None = None) -> Catalog:
    """Load (once per process per path) the symbols file."""
    path = str(path or os.environ.get("EXCHANGE_SYMBOLS_FILE") or DEFAULT_SYMBOLS_FILE)
    cat = _CATALOGS.get(path)
    if cat is None:
        with open(path, encoding="utf-8") as fh:
            cat = parse_catalog(json.load(fh))
        _CATALOGS[path] = cat
    return cat


def write_grouped(path: str | os.PathLike, groups: int, pins: Mapping[str, int] | None = None) -> Path:
    """Write a copy of the default symbols file with ``matcherGroups`` = ``groups`` and
    the symbols of ``pins`` pinned to their groups: what the tests, and a local stack
    with several matcher groups (``EXCHANGE_SYMBOLS_FILE=<it> make run``), run with."""
    raw = json.loads(DEFAULT_SYMBOLS_FILE.read_text(encoding="utf-8"))
    raw["matcherGroups"] = groups
    for s in raw["symbols"]:
        if pins and s["symbol"] in pins:
            s["group"] = pins[s["symbol"]]
    parse_catalog(raw)  # refuse a pin outside the groups here, not in the processes started with it
    path = Path(path)
    path.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return path


def spec_of(symbol: str) -> SymbolSpec | None:
    """The spec of ``symbol`` in the default symbols file (None if it is not listed):
    the one lookup the API and the domain code use."""
    return load_catalog().symbol(symbol)


def listed_spec(symbol: str) -> SymbolSpec:
    """The spec of a symbol the caller knows is listed (validated by the request
    layer, or read back from the database); a LookupError naming it otherwise -- a
    symbols file out of step with the data is a bug, not a request error (for those,
    :func:`spec_of` and -1121)."""
    spec = spec_of(symbol)
    if spec is None:
        raise LookupError(f"symbol {symbol!r} is not in the symbols file")
    return spec
