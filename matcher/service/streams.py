"""Reading the intents table's DynamoDB Stream: shards, parent-before-child order,
iterators, and records as intents.

Shards split and close: a closed shard has an ``EndingSequenceNumber`` and, once
read to its end, GetRecords returns no ``NextShardIterator``.  A child shard may be
read only when every parent is *finished* (its lease says so) or no longer exists
(trimmed after 24 h).  Records are delivered at least once; the worker drops
repeats by the (symbol, shard) position it has journaled.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

import orjson
from botocore.exceptions import ClientError

from chalicelib.tables import INTENT_ITEMS

SHARD_END = "SHARD_END"
TRIM_HORIZON = "TRIM_HORIZON"


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_id: str | None
    closed: bool

    @property
    def lease_key(self) -> str:
        return f"shard:{self.shard_id}"


def list_shards(streams, stream_arn: str) -> list[Shard]:
    """Every shard of the stream (paginated DescribeStream)."""
    shards, start = [], None
    while True:
        kw = {"StreamArn": stream_arn}
        if start:
            kw["ExclusiveStartShardId"] = start
        desc = streams.describe_stream(**kw)["StreamDescription"]
        for s in desc.get("Shards", []):
            shards.append(Shard(s["ShardId"], s.get("ParentShardId"),
                                "EndingSequenceNumber" in s.get("SequenceNumberRange", {})))
        start = desc.get("LastEvaluatedShardId")
        if not start:
            return shards


def ready_shards(shards: list[Shard], finished: set[str]) -> list[Shard]:
    """The unfinished shards that may be read now: each parent is finished or gone.
    Parents come before children in the result."""
    known = {s.shard_id for s in shards}
    out = []
    for s in shards:
        if s.shard_id in finished:
            continue
        if s.parent_id and s.parent_id in known and s.parent_id not in finished:
            continue
        out.append(s)
    return out


@dataclass
class Intent:
    """A stream record, parsed."""

    intent_id: str
    symbol: str
    kind: str
    account_id: int
    order_id: int | None
    payload: dict
    shard_id: str
    position: int           # the record's sequence number, as an int
    created_ms: int
    event_name: str = "INSERT"
    extra: dict = field(default_factory=dict)


# the intents table's stored attribute names (the model stays the one definition)
_ID, _SYMBOL, _KIND, _ACCOUNT, _ORDER, _PAYLOAD, _CREATED, _EXPIRES = (INTENT_ITEMS.name(a) for a in (
    "intent_id", "symbol", "kind", "account_id", "order_id", "payload", "created_ms", "expires_at"))


def parse_record(record: dict, shard_id: str) -> Intent | None:
    """An intent from an INSERT/MODIFY record, or None (REMOVE, or not an intent).

    The image's attributes are read directly from the wire format, as
    ``INTENT_ITEMS.from_item`` reads them (a string's ``S``, a number's ``N`` as an int;
    a wrong type or a malformed number makes it not an intent): the generic reader and
    the standard library's JSON decoder were most of the parse step's CPU
    (bench/capacity.py); tests/matcher/service/test_parse_record.py checks both read
    the same."""
    event = record.get("eventName")
    if event not in ("INSERT", "MODIFY"):
        return None
    ddb = record.get("dynamodb", {})
    image = ddb.get("NewImage") or {}
    try:
        account, order, created, payload = (image.get(_ACCOUNT), image.get(_ORDER), image.get(_CREATED),
                                            image.get(_PAYLOAD))
        if _EXPIRES in image:
            int(image[_EXPIRES]["N"])  # read (and checked) as from_item reads it; the intent has no use for it
        text = payload["S"] if payload is not None else None
        return Intent(
            intent_id=image[_ID]["S"], symbol=image[_SYMBOL]["S"], kind=image[_KIND]["S"],
            account_id=(int(account["N"]) or 0) if account is not None else 0,
            order_id=int(order["N"]) if order is not None else None,
            payload=loads(text) if text else {}, shard_id=shard_id, position=int(ddb["SequenceNumber"]),
            created_ms=(int(created["N"]) or 0) if created is not None else 0, event_name=record["eventName"])
    except (KeyError, ValueError, TypeError):
        return None


_LONG_DIGITS = re.compile(r"[0-9]{19}")  # an integer that may not fit 64 bits (or a long float)


def loads(text: str):
    """``json.loads(text)``, by orjson where it gives the same value (~5x faster; the
    API's canonical JSON always): an integer of 19 digits or more (orjson would give
    a float beyond 64 bits) and whatever orjson refuses (NaN, infinities, lone
    surrogates, a text that is not JSON) go to the standard library, which decides."""
    if text.__class__ is str and _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


IDLE_AFTER_MS = 10_000  # a shard empty this long is polled less and less often


class PollSchedule:
    """When a shard is read next (adaptive idle polling).  After a read that returned
    records: at once.  After an empty one: ``base_ms`` later, until the shard has been
    empty for ``idle_after_ms``; from then on the wait doubles with every empty read,
    up to ``max_ms``.  Records snap it back to reading at once.

    GetRecords is billed per call, records or not: polling an idle shard every 50 ms
    is ~52 M calls a month (~$10 at list price), every second ~2.6 M (~$0.52); the
    price is up to ``max_ms`` of extra latency for the first intent after a quiet
    spell (see docs/ordering.md)."""

    def __init__(self, base_ms: int, max_ms: int, idle_after_ms: int = IDLE_AFTER_MS):
        self.base = base_ms / 1000
        self.max = max(base_ms, max_ms) / 1000
        self.idle_after = idle_after_ms / 1000
        self.wait_s = 0.0            # the wait after the last read
        self.next_at = 0.0           # monotonic time the shard is due
        self.empty_since: float | None = None

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def after_read(self, records: int, now: float) -> None:
        if records:
            self.wait_s, self.empty_since = 0.0, None
        else:
            if self.empty_since is None:
                self.empty_since = now
            if now - self.empty_since < self.idle_after or self.wait_s == 0:
                self.wait_s = self.base
            else:
                self.wait_s = min(self.max, self.wait_s * 2)
        self.next_at = now + self.wait_s


class ShardReader:
    """One shard's iterator, resumed from a checkpoint, read on its own
    :class:`PollSchedule` (by default: whenever asked)."""

    def __init__(self, streams, stream_arn: str, shard: Shard, checkpoint: str | None,
                 schedule: PollSchedule | None = None):
        self.streams = streams
        self.arn = stream_arn
        self.shard = shard
        self.checkpoint = checkpoint
        self.iterator: str | None = None
        self.ended = checkpoint == SHARD_END
        self.requests = 0
        self.schedule = schedule or PollSchedule(0, 0)

    def _open(self) -> None:
        kw = {"StreamArn": self.arn, "ShardId": self.shard.shard_id}
        if self.checkpoint and self.checkpoint not in (TRIM_HORIZON, SHARD_END):
            kw.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=self.checkpoint)
        else:
            kw["ShardIteratorType"] = TRIM_HORIZON
        self.requests += 1
        self.iterator = self.streams.get_shard_iterator(**kw)["ShardIterator"]

    def read(self, limit: int) -> list[dict]:
        """The next records (possibly none); sets ``ended`` when the shard is closed
        and read to its end.  Moves the poll schedule."""
        if self.ended:
            return []
        records = self._read(limit)
        self.schedule.after_read(len(records), time.monotonic())
        return records

    def _read(self, limit: int) -> list[dict]:
        if self.iterator is None:
            self._open()
        try:
            self.requests += 1
            resp = self.streams.get_records(ShardIterator=self.iterator, Limit=limit)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                self.iterator = None
                if code == "TrimmedDataAccessException":
                    self.checkpoint = TRIM_HORIZON
                return []
            raise
        self.iterator = resp.get("NextShardIterator")
        if self.iterator is None:
            self.ended = True
        return resp.get("Records", [])

    def advance(self, sequence_number: str) -> None:
        self.checkpoint = sequence_number

