"""The matcher's JSON encoder for user data events (orjson) writes the same bytes as
chalicelib.userevents' own (the standard library's, compact): over the reports a real
engine run gives, and over any event-shaped value of ASCII strings, integers, booleans
and nulls -- what events hold (symbols, assets, client order ids and amounts are ASCII,
no DEL: the standard encoder writes it as \\u007f, orjson as is;
client order ids are validated against ``^[a-zA-Z0-9-_]{1,36}$``)."""
from __future__ import annotations

import string
from decimal import Decimal as D

from hypothesis import given, settings, strategies as st

from chalicelib import userevents
from matcher.service.userdata import dumps
from tests.chalicelib.test_userevents import scenario_reports

ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=126), max_size=40)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), ASCII)
EVENTS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=3), inner,
                                                 max_size=8)), max_leaves=40)


def test_the_reports_of_an_engine_run_encode_to_the_same_bytes():
    events = scenario_reports()
    events.append((7, userevents.account_position([{"asset": "ETH", "free": D("1.5"), "locked": D("0"),
                                                      "updated_ms": 5}], 9999)))
    events.append((7, userevents.balance_update("USDT", D("-2.25"), 5, 9999)))
    assert len(events) > 5
    for _, ev in events:
        assert dumps(ev) == userevents._dumps(ev)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_any_event_shaped_value_encodes_to_the_same_bytes(value):
    assert dumps(value) == userevents._dumps(value)
