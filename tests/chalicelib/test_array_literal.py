"""``array_literal``'s joined fast paths give the text of the value-by-value
reference (``_array_literal_each``) for every mix of values a column can hold (pure;
no server)."""
from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings, strategies as st

from chalicelib.db import _array_literal_each, array_literal

DECIMALS = st.decimals(allow_nan=False, allow_infinity=False, places=None)
TEXT = st.text(max_size=12)  # quotes and backslashes included: escaped, or not, as the reference does
COLUMNS = st.one_of(
    *(st.lists(st.one_of(st.none(), s) if nullable else s, max_size=20)
      for s in (st.integers(), DECIMALS, st.booleans(), TEXT, st.text("abc:-_0123456789", max_size=12))
      for nullable in (False, True)),
    st.lists(st.one_of(st.none(), st.integers(), DECIMALS, st.booleans(), TEXT), max_size=20),
)


@settings(max_examples=500, deadline=None)
@given(COLUMNS)
def test_the_fast_paths_give_the_reference_text(values):
    expected = _array_literal_each(values)
    assert array_literal(values) == expected
    assert array_literal(tuple(values)) == expected
    assert array_literal(v for v in values) == expected  # a generator, as settlement passes


def test_each_kind_of_column():
    assert array_literal([]) == "{}" and array_literal(iter(())) == "{}"
    assert array_literal([3, -1, 0]) == "{3,-1,0}"
    assert array_literal([3, None]) == "{3,NULL}"
    assert array_literal([None, None]) == "{NULL,NULL}"
    assert array_literal([D("1.50"), D("1E-8"), D("-0")]) == '{"1.50","1E-8","-0"}'
    assert array_literal([True, None, False]) == '{"True",NULL,"False"}'
    assert array_literal(["1:a", "b"]) == '{"1:a","b"}'
    assert array_literal(["a\"b", "c\\d", None]) == '{"a\\"b","c\\\\d",NULL}'
    assert array_literal([1, "x", D("2"), True, None]) == '{1,"x","2","True",NULL}'
