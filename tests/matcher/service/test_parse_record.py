"""``parse_record`` reads an intents stream record's image directly: the same intent
(or the same None) as the generic reader it replaced -- ``INTENT_ITEMS.from_item``
and ``json.loads`` -- for well-formed records and for every kind of malformed one
(pure; no server)."""
from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from chalicelib.tables import INTENT_ITEMS
from matcher.service.streams import Intent, loads, parse_record


def reference(record: dict, shard_id: str) -> Intent | None:
    """The generic reader (what parse_record was)."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    ddb = record.get("dynamodb", {})
    try:
        v = INTENT_ITEMS.from_item(ddb.get("NewImage") or {})
        return Intent(
            intent_id=v["intent_id"], symbol=v["symbol"], kind=v["kind"],
            account_id=v.get("account_id") or 0, order_id=v.get("order_id"),
            payload=json.loads(v.get("payload") or "{}"), shard_id=shard_id, position=int(ddb["SequenceNumber"]),
            created_ms=v.get("created_ms") or 0, event_name=record["eventName"])
    except (KeyError, ValueError, TypeError):
        return None


NUMBERS = st.one_of(st.integers(-10**20, 10**20).map(str), st.sampled_from(["", "1.5", "x", " 7", "1e3", "-0"]))
JSON_TEXTS = st.one_of(
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=8)),
                 lambda inner: st.one_of(st.lists(inner, max_size=4),
                                         st.dictionaries(st.text(max_size=4), inner, max_size=4)),
                 max_leaves=12).map(json.dumps),
    st.sampled_from(["", "{", "[1,]", "NaN", '{"a": Infinity}', '"\\ud800"', "{}", "null", '{"a":1,"a":2}']))
WIRE = st.one_of(st.builds(lambda t: {"S": t}, st.text(max_size=10)), st.builds(lambda n: {"N": n}, NUMBERS),
                 st.builds(lambda b: {"BOOL": b}, st.booleans()), st.just({"NULL": True}), st.just("S"),
                 st.builds(lambda t: {"S": t}, JSON_TEXTS))
NAMES = ["intent_id", "symbol", "kind", "account_id", "order_id", "payload", "created_ms", "expires_at", "other"]


def good_image(draw) -> dict:
    return {"intent_id": {"S": draw(st.text(max_size=10))}, "symbol": {"S": "BTCUSDT"},
            "kind": {"S": draw(st.sampled_from(["NEW", "CANCEL", "AMEND"]))},
            "account_id": {"N": str(draw(st.integers(0, 99)))}, "order_id": {"N": str(draw(st.integers(0, 10**12)))},
            "payload": {"S": draw(JSON_TEXTS)}, "created_ms": {"N": str(draw(st.integers(0, 2**42)))}}


@st.composite
def records(draw) -> dict:
    image = good_image(draw)
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=4)):  # some attributes dropped or replaced
        if draw(st.booleans()):
            image.pop(name, None)
        else:
            image[name] = draw(WIRE)
    dynamodb: dict = {"NewImage": image}
    if draw(st.integers(0, 9)):
        dynamodb["SequenceNumber"] = draw(NUMBERS)
    return {"eventName": draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"])), "dynamodb": dynamodb}


@settings(max_examples=600, deadline=None)
@given(records())
def test_the_direct_reader_reads_what_the_generic_one_read(record):
    assert repr(parse_record(record, "s1")) == repr(reference(record, "s1"))  # repr: NaN equals itself


def test_a_well_formed_record():
    record = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1000", "NewImage": {
        "intent_id": {"S": "4:c1"}, "symbol": {"S": "BTCUSDT"}, "kind": {"S": "NEW"}, "account_id": {"N": "4"},
        "order_id": {"N": "5203"}, "payload": {"S": '{"cmd":[5203,4,1],"order_id":5203}'},
        "created_ms": {"N": "0"}, "expires_at": {"N": "99"}, "not_ours": {"S": "x"}}}}
    it = parse_record(record, "s1")
    assert it == Intent("4:c1", "BTCUSDT", "NEW", 4, 5203, {"cmd": [5203, 4, 1], "order_id": 5203}, "s1", 1000, 0)
    assert parse_record({**record, "eventName": "REMOVE"}, "s1") is None


def test_loads_falls_back_to_the_standard_library():
    big = '{"n": 123456789012345678901234567890}'
    assert loads(big) == json.loads(big) == {"n": 123456789012345678901234567890}
    assert repr(loads("NaN")) == "nan"
    assert loads('{"a":1,"a":2}') == {"a": 2}
