"""The reconciler's reads and a takeover's re-send (chalicelib/reconcile.py) against
the session's real PostgreSQL and moto: intents are read in BatchGetItem calls and
re-sent (touched) in BatchWriteItem calls, not a request each (a backlog of hundreds
made a takeover spend 30-60 s re-sending before it matched anything), and a re-send
stops as soon as its caller no longer owns the symbol (a paused matcher, fenced out
meanwhile, went on re-sending for 43 s after SIGCONT before it stepped down).  No
matcher runs in this lane: the orders stay PENDING_NEW."""
from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal

import pytest

from tests.api.conftest import make_user

SYMBOL = "ETHBTC"


def _place(account_id: int, n: int) -> list[int]:
    from chalicelib import orders

    ids = []
    for i in range(n):
        req = orders.OrderRequest(symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC",
                                  quantity=Decimal("0.01"), quote_order_qty=None, price=Decimal(f"0.05{i}"),
                                  stop_price=None, client_order_id="rc" + uuid.uuid4().hex[:20])
        ids.append(orders.place_order(account_id, req)["orderId"])
    return ids


def _rows(order_ids: list[int]) -> list[dict]:
    from chalicelib.db import transaction

    with transaction() as tx:
        return tx.query("SELECT intent_id, account_id, symbol, kind, order_id FROM intent_outbox"
                        " WHERE order_id = ANY(CAST(:o AS bigint[])) ORDER BY created_at",
                        {"o": "{" + ",".join(map(str, order_ids)) + "}"})


def _item(intent_id: str):
    from chalicelib.tables import IntentModel

    try:
        return IntentModel.get(intent_id, consistent_read=True)
    except IntentModel.DoesNotExist:
        return None


@pytest.fixture
def placed(exchange_env):
    """Three PENDING_NEW orders of ETHBTC (outbox rows unacknowledged); voided and
    their funds released at teardown, as the reconciler reverses an order."""
    from chalicelib import reconcile
    from chalicelib.db import transaction

    user = make_user("reconcile", {"BTC": "1"})
    oids = _place(user.account_id, 3)
    yield oids
    for row in _rows(oids):
        with transaction() as tx:
            reconcile.reverse(tx, row)


@pytest.fixture
def dynamodb_calls(exchange_env):
    """A Counter of the DynamoDB operations the intents model sends meanwhile."""
    from chalicelib.tables import IntentModel

    calls: Counter = Counter()

    def count(model, **_):
        calls[model.name] += 1

    events = IntentModel._get_connection().connection.client.meta.events
    events.register("before-call.dynamodb", count)
    yield calls
    events.unregister("before-call.dynamodb", count)


def test_resend_reads_in_batches_puts_the_missing_and_touches_the_rest(placed, dynamodb_calls):
    from chalicelib import reconcile
    from chalicelib.db import transaction
    from chalicelib.tables import IntentModel

    rows = _rows(placed)
    assert len(rows) == 3
    lost = rows[1]["intent_id"]  # as if the API died between the Aurora commit and the put
    IntentModel(lost).delete()
    before = {r["intent_id"]: _item(r["intent_id"]) for r in rows}
    assert before[lost] is None
    dynamodb_calls.clear()
    with transaction() as tx:  # every unacknowledged intent of the symbol (other tests' too)
        unsent = tx.scalar("SELECT count(*) FROM intent_outbox WHERE sent_at IS NULL AND symbol = :s",
                           {"s": SYMBOL})
    counts = reconcile.resend_unsent(transaction, SYMBOL, 0)
    assert counts["put"] >= 1 and counts["put"] + counts["touched"] == unsent and counts["left"] == 0, counts
    assert dynamodb_calls["BatchGetItem"] == -(-unsent // 100)  # read 100 to a request,
    assert dynamodb_calls["BatchWriteItem"] == -(-counts["touched"] // 25)  # touched 25 to a request
    assert dynamodb_calls["GetItem"] == dynamodb_calls["UpdateItem"] == 0, dict(dynamodb_calls)
    assert _item(lost) is not None and _item(lost).kind == "NEW"
    for r in rows:
        if r["intent_id"] != lost:  # touched: a new stream record, the intent as it was otherwise
            after, was = _item(r["intent_id"]), before[r["intent_id"]]
            assert int(after.created_ms) > int(was.created_ms)
            assert (after.symbol, after.account_id, after.kind, after.order_id, after.payload) == \
                (was.symbol, was.account_id, was.kind, was.order_id, was.payload)


def test_resend_stops_once_the_caller_no_longer_owns_the_symbol(placed):
    from chalicelib import reconcile
    from chalicelib.db import transaction

    asked = []

    def owned() -> bool:  # the lease is lost after two intents
        asked.append(1)
        return len(asked) <= 2

    with transaction() as tx:
        unsent = tx.scalar("SELECT count(*) FROM intent_outbox WHERE sent_at IS NULL AND symbol = :s",
                           {"s": SYMBOL})
    counts = reconcile.resend_unsent(transaction, SYMBOL, 0, owned=owned)
    # of the two intents looked at before, a missing one was put; a present one is not touched
    # either (touches go 25 to a request): left for the symbol's new owner
    assert counts["touched"] == 0 and counts["put"] + counts["left"] == unsent, (counts, unsent)
    assert counts["left"] >= unsent - 2
    assert len(asked) == 3  # not asked again once it said no


def test_reconciler_pass_reads_in_batches_and_completes_a_missing_intent(placed, dynamodb_calls):
    from chalicelib import reconcile
    from chalicelib.db import transaction
    from chalicelib.tables import IntentModel

    lost = _rows(placed)[0]["intent_id"]
    IntentModel(lost).delete()
    dynamodb_calls.clear()
    counts = reconcile.run_once(transaction, grace_ms=0)
    assert counts["completed"] >= 1 and counts["checked"] >= 3, counts
    assert dynamodb_calls["GetItem"] == 0 and dynamodb_calls["BatchGetItem"] >= 1, dict(dynamodb_calls)
    assert _item(lost) is not None
