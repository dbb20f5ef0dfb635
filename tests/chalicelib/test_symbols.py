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
