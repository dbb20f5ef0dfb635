"""BatchWriteItem's unprocessed items: retried after a capped, jittered backoff, a
bounded number of times (pure: a stand-in client that never finishes the batch)."""
from __future__ import annotations

import pytest

from matcher.service import effects


def test_backoff_is_jittered_below_a_capped_exponential_ceiling():
    assert [effects.backoff_s(a, rng=lambda: 1.0) for a in (1, 2, 3, 6, 7, 20)] == [0.05, 0.1, 0.2, 1.6, 2.0, 2.0]
    assert effects.backoff_s(4, rng=lambda: 0.0) == 0.0
    total = sum(effects.backoff_s(a, rng=lambda: 1.0) for a in range(1, effects.BATCH_WRITE_TRIES))
    assert total < 20  # the longest a stuck batch waits before it counts as an outage


def test_a_batch_dynamodb_never_finishes_is_an_outage(monkeypatch):
    class Throttled:  # every call leaves one item unprocessed
        calls = 0

        def batch_write_item(self, RequestItems):
            self.calls += 1
            first = next(iter(RequestItems.items()))
            return {"UnprocessedItems": {first[0]: first[1][:1]}}

    slept: list[float] = []
    monkeypatch.setattr(effects.time, "sleep", slept.append)
    client = Throttled()
    fx = effects.DynamoEffects(client, "trades", "book")
    with pytest.raises(effects.DynamoUnavailable):
        fx.write([("trades", {"k": {"S": str(i)}}) for i in range(3)])
    assert client.calls == effects.BATCH_WRITE_TRIES
    assert len(slept) == effects.BATCH_WRITE_TRIES - 1 and max(slept) <= effects.BACKOFF_CAP_S
