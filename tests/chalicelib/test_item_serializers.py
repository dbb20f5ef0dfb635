"""The matcher's wire-format items are the models' items: same names, types and keys
as PynamoDB writes (pure; no server)."""
from __future__ import annotations

from chalicelib.tables import (
    BOOK_ITEMS,
    INTENT_ITEMS,
    JOURNAL_ITEMS,
    LEASE_ITEMS,
    TRADE_ITEMS,
    BookModel,
    LeaseModel,
    TradeModel,
)


def test_items_match_what_the_model_writes():
    trade = dict(symbol="BTCUSDT", trade_id=7, last_trade_id=8,
                 trades='[[7,"65000.12","0.0012","78.000144",11,12,true,99,1700000000000]]')
    assert TRADE_ITEMS.to_item(**trade) == TradeModel(**trade).serialize()
    lease = dict(lease_key="symbol:BTCUSDT", owner="w1", counter=3, expires_ms=5, finished=False)
    assert LEASE_ITEMS.to_item(**lease) == LeaseModel(**lease).serialize()
    book = dict(symbol="ETHBTC", item="depth", seq=4, fencing_token=2, body="{}")
    assert BOOK_ITEMS.to_item(**book) == BookModel(**book).serialize()
    assert BOOK_ITEMS.key("ETHBTC", "depth") == {"symbol": {"S": "ETHBTC"}, "item": {"S": "depth"}}
    assert LEASE_ITEMS.key("shard:1") == {"lease_key": {"S": "shard:1"}}
    assert (JOURNAL_ITEMS.hash_key, JOURNAL_ITEMS.range_key) == ("symbol", "seq")


def test_round_trip_leaves_out_none_and_foreign_attributes():
    item = LEASE_ITEMS.to_item(lease_key="k", owner=None, counter=0, finished=False)
    assert "owner" not in item
    assert LEASE_ITEMS.from_item({**item, "not_ours": {"S": "x"}}) == {"lease_key": "k", "counter": 0,
                                                                       "finished": False}
    image = INTENT_ITEMS.to_item(intent_id="1:a", symbol="BTCUSDT", account_id=1, kind="NEW", order_id=5,
                                 payload="{}", created_ms=9)
    assert INTENT_ITEMS.from_item(image)["order_id"] == 5
