"""Every parameter that carries a number is parsed to exactly the pattern the -1100
message quotes (``^([0-9]{1,20})(\\.[0-9]{1,20})?$``): no blanks, no lone or trailing
dot, no sign, no exponent, no non-ASCII digits, no trailing newline."""
from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.amounts import DECIMAL_PATTERN
from chalicelib.api import ops as O
from chalicelib.api.params import parse
from chalicelib.errors import ExchangeError

BAD = [" 0.0005", "0.0005 ", ".0005", "5.", "+1", "-1", "1e3", "1E-3", "0x10", "0.0005\n", "\t1", "１", "1,5",
       "1_000", "NaN", "Infinity", "1.2.3", "123456789012345678901", "1." + "1" * 21]
GOOD = {"0.0005": Decimal("0.0005"), "5": Decimal(5), "00.10": Decimal("0.10"),
        "12345678901234567890.12345678901234567890": Decimal("12345678901234567890.12345678901234567890")}
def msg(name: str) -> str:
    return f"Illegal characters found in parameter '{name}'; legal range is '{DECIMAL_PATTERN}'."


def _valid(p) -> str:
    """A value ``p`` accepts (for the parameters around the one under test)."""
    for candidate in ({"int": "1", "decimal": "1", "bool": "true", "symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'}
                      .get(p.kind), *(p.values[:1]), "BTC", "1", "abc", "a@b.co"):
        if candidate is None:
            continue
        try:
            p.parse(candidate)
            return candidate
        except ExchangeError:
            continue
    raise AssertionError(f"no sample value for {p}")


NUMERIC = [(op, p) for op in O.OPS for p in op.params if p.kind == "decimal"]


@pytest.mark.parametrize("op,param", NUMERIC, ids=[f"{op.id}.{p.name}" for op, p in NUMERIC])
def test_every_decimal_parameter_is_strict(op, param):
    base = {p.name: [_valid(p)] for p in op.params if p.required}
    for bad in BAD:
        with pytest.raises(ExchangeError) as exc:
            parse(op.params, {**base, param.name: [bad]})
        assert (exc.value.failure.code, exc.value.failure.msg) == (-1100, msg(param.name)), bad
    for text, value in GOOD.items():
        assert parse(op.params, {**base, param.name: [text]})[param.name] == value


@pytest.mark.parametrize("field", ["quantity", "price"])
@pytest.mark.parametrize("bad", [" 0.0005", "0.0005 ", ".0005"])
def test_order_endpoint_refuses_loose_numbers(api, alice, field, bad):
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.0005",
              "price": "30000", field: bad}
    r = api.signed("POST", "/v3/order/test", alice, params)
    assert (r.status_code, r.json) == (400, {"code": -1100, "msg": msg(field)})
