"""Market data's JSON encoder (orjson) writes the bytes the standard library's compact
encoder wrote, and its decoder reads what that wrote, for every value shaped as
market data is: ASCII strings (symbols, fixed-point amounts), integers (ids,
times), booleans, lists and dicts (pure; no server)."""
from __future__ import annotations

import json
import string
from decimal import Decimal as D

import orjson
from hypothesis import given, settings, strategies as st

from chalicelib import marketdata
from chalicelib.amounts import fmt

ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=126), max_size=30)  # no DEL (see below)
AMOUNTS = st.decimals(min_value=0, max_value=10**12, places=8).map(lambda d: fmt(d, 2))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), ASCII, AMOUNTS)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=12), inner,
                                                 max_size=8)), max_leaves=60)


def _std(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_the_same_bytes_as_the_standard_encoder_and_the_same_values_back(value):
    text = marketdata._dumps(value)
    assert text == _std(value)
    assert orjson.loads(text) == json.loads(text)


def test_a_trade_document_a_kline_and_a_depth_diff():
    trade = {"id": 2651, "price": fmt(D("30000.40"), 2), "qty": fmt(D("0.00160"), 5), "quoteQty": "48.00",
             "time": 1796039738093, "isBuyerMaker": False, "isBestMatch": True, "o": 5704}
    assert marketdata._dumps(trade) == _std(trade) == (
        '{"id":2651,"price":"30000.40","qty":"0.00160","quoteQty":"48.00","time":1796039738093,'
        '"isBuyerMaker":false,"isBestMatch":true,"o":5704}')
    kline = [1796039700000, "1.00", "2.00", "0.50", "1.50", "3.00000", 1796039759999, "4.50", 7, "1.00000", "1.50",
             "0"]
    diff = {"e": "depth", "s": "BTCUSDT", "E": 5, "U": 1, "u": 7, "b": [["29999.00", "0.00200"]], "a": []}
    for value in (kline, diff):
        assert marketdata._dumps(value) == _std(value)


def test_fmt_prints_a_decimal_at_any_precision_as_before():
    for v in (D("30001.070000000000000000"), D("0E-18"), D("-0.5"), D("1E+3"), D("0.005")):
        for places in (0, 2, 5, 8, 18):
            assert fmt(v, places) == f"{D(v):.{places}f}"
    assert fmt(None, 2) == "0.00" and fmt(3, 2) == "3.00"
