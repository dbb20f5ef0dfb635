from decimal import Decimal

from chalicelib.symbols import load_catalog


def test_catalog_loads_and_every_symbol_names_known_assets():
    cat = load_catalog()
    assert {"BTCUSDT", "ETHUSDT", "ETHBTC"} <= set(cat.symbols)
    for spec in cat.symbols.values():
        assert spec.base_asset in cat.assets and spec.quote_asset in cat.assets
        for d in (spec.tick_size, spec.step_size, spec.min_notional, spec.maker_fee):
            assert isinstance(d, Decimal)
        # prices and quantities fit in their assets' precision
        assert spec.price_decimals <= spec.quote_precision
        assert spec.qty_decimals <= spec.base_precision


def test_integer_units_round_trip_and_refuse_off_grid_values():
    spec = load_catalog().symbols["BTCUSDT"]
    assert spec.price_to_ticks(Decimal("100.25")) == 10025
    assert spec.ticks_to_price(10025) == Decimal("100.25")
    assert spec.price_to_ticks(Decimal("100.255")) is None
    assert spec.qty_to_lots(Decimal("0.00123")) == 123
    assert spec.qty_to_lots(Decimal("0.000123")) is None
    assert spec.lots_to_qty(123) == Decimal("0.00123")
    assert spec.quote_of(10025, 123) == Decimal("100.25") * Decimal("0.00123")


def _raw(groups: int, pins: dict[str, int], names: list[str]) -> dict:
    import json

    from chalicelib.symbols import DEFAULT_SYMBOLS_FILE

    raw = json.loads(DEFAULT_SYMBOLS_FILE.read_text())
    template = raw["symbols"][0]
    raw["matcherGroups"] = groups
    raw["symbols"] = [{**template, "symbol": n, **({"group": pins[n]} if n in pins else {})} for n in names]
    return raw


def test_matcher_groups_pinned_alone_the_rest_by_a_stable_hash():
    import zlib

    import pytest

    from chalicelib.symbols import parse_catalog

    assert load_catalog().groups == 1 and {load_catalog().group_of(s) for s in load_catalog().symbols} == {0}
    names = [f"S{i}USDT" for i in range(40)]
    cat = parse_catalog(_raw(4, {"S0USDT": 0}, names))
    # the pinned hot symbol has group 0 to itself; the others spread over 1..3 by CRC-32
    assert cat.symbols_of(0) == ["S0USDT"]
    for n in names[1:]:
        assert cat.group_of(n) == [1, 2, 3][zlib.crc32(n.encode()) % 3]
    assert all(cat.symbols_of(g) for g in (1, 2, 3))
    assert sorted(sum((cat.symbols_of(g) for g in range(4)), [])) == sorted(names)  # each in exactly one
    # every group pinned: the unpinned hash over all of them
    every = parse_catalog(_raw(2, {"S0USDT": 0, "S1USDT": 1}, names[:5]))
    assert every.group_of("S2USDT") == zlib.crc32(b"S2USDT") % 2
    with pytest.raises(ValueError):
        parse_catalog(_raw(2, {"S0USDT": 2}, names[:3]))


def test_percent_price_by_side_bounds_per_side():
    from chalicelib.symbols import PercentPriceBySide

    f = PercentPriceBySide.from_json({"bidMultiplierUp": "1.2", "bidMultiplierDown": "0.2", "askMultiplierUp": "5",
                                      "askMultiplierDown": "0.8", "avgPriceMins": 1})
    assert f.bounds("BUY", Decimal("100")) == (Decimal("20.0"), Decimal("120.0"))
    assert f.bounds("SELL", Decimal("100")) == (Decimal("80.0"), Decimal("500"))
    assert load_catalog().symbols["ETHBTC"].percent_price_by_side.avg_price_mins == 5
    assert load_catalog().symbols["BTCUSDT"].percent_price_by_side is None
