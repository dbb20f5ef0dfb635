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
from dataclasses import dataclass, field

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


def parse_record(record: dict, shard_id: str) -> Intent | None:
    """An intent from an INSERT/MODIFY record, or None (REMOVE, or not an intent)."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    ddb = record.get("dynamodb", {})
    try:
        v = INTENT_ITEMS.from_item(ddb.get("NewImage") or {})
        return Intent(
            intent_id=v.get("intent_id"), symbol=v.get("symbol"), kind=v.get("kind"),
            account_id=v.get("account_id") or 0, order_id=v.get("order_id"),
            payload=json.loads(v.get("payload") or "{}"), shard_id=shard_id, position=int(ddb["SequenceNumber"]),
            created_ms=v.get("created_ms") or 0, event_name=record["eventName"])
    except (KeyError, ValueError, TypeError):
        return None


class ShardReader:
    """One shard's iterator, resumed from a checkpoint."""

    def __init__(self, streams, stream_arn: str, shard: Shard, checkpoint: str | None):
        self.streams = streams
        self.arn = stream_arn
        self.shard = shard
        self.checkpoint = checkpoint
        self.iterator: str | None = None
        self.ended = checkpoint == SHARD_END
        self.requests = 0

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
        and read to its end."""
        if self.ended:
            return []
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

