"""A multi-shard DynamoDB Streams double for tests: the intents that reach the real
(moto, one-shard) stream are split over N shards and handed to the worker in an
interleaving the test chooses.

:class:`MultiShardStreams` is a streams client (DescribeStream, GetShardIterator,
GetRecords) for :class:`matcher.service.worker.Worker`'s ``streams`` argument.  It
reads the moto stream from the moment it is made (``LATEST``); :meth:`collect` pulls
the records written since and assigns each to a shard (by default by a hash of its
partition key, as DynamoDB assigns partitions); nothing is readable until the test
:meth:`release` s it, shard by shard, a few records at a time -- so a shard's records
keep their order while the shards' interleaving is whatever the test says.
:meth:`deliver` releases a whole schedule, pumping the worker after each step until
it has read what was released.  Sequence numbers stay moto's (increasing within every
shard), so checkpoints and the worker's repeat checks work as against AWS.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable


def partition_shard(n: int) -> Callable[[dict], int]:
    """Shard of a record by a hash of its partition key (``intent_id``)."""
    def shard_of(record: dict) -> int:
        key = record["dynamodb"]["Keys"]["intent_id"]["S"]
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % n

    return shard_of


def intent_id(record: dict) -> str:
    return record["dynamodb"]["Keys"]["intent_id"]["S"]


class MultiShardStreams:
    def __init__(self, inner, stream_arn: str, shards: int):
        self.inner = inner
        self.arn = stream_arn
        tag = uuid.uuid4().hex[:6]
        self.ids = [f"shardId-ms{tag}-{i:02d}" for i in range(shards)]
        self.records: dict[str, list[dict]] = {s: [] for s in self.ids}
        self.released: dict[str, int] = dict.fromkeys(self.ids, 0)
        self.read: dict[str, int] = dict.fromkeys(self.ids, 0)  # how far the worker has read each shard
        self.calls: Counter = Counter()  # GetRecords calls per shard
        self.foreign: list[dict] = []  # records that are not the test's (see collect)
        real = inner.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self._iterator = inner.get_shard_iterator(StreamArn=stream_arn, ShardId=real,
                                                  ShardIteratorType="LATEST")["ShardIterator"]

    # -- the test's side -----------------------------------------------------------------
    def collect(self, shard_of: Callable[[dict], int | None] | None = None) -> list[tuple[int, dict]]:
        """Pull the records written to the moto stream since the last call and assign
        each to a shard (index); returns them as ``(shard index, record)`` in write
        order.  They are not readable until released.  A record ``shard_of`` gives no
        shard is not the test's (another writer's, e.g. an earlier test's reconciler
        re-sending an old intent on the session's table): kept in ``foreign``, never read."""
        shard_of = shard_of or partition_shard(len(self.ids))
        out = []
        while True:
            resp = self.inner.get_records(ShardIterator=self._iterator, Limit=1000)
            self._iterator = resp["NextShardIterator"]
            if not resp.get("Records"):
                break
            for r in resp["Records"]:
                i = shard_of(r)
                if i is None:
                    self.foreign.append(r)
                    continue
                self.records[self.ids[i]].append(r)
                out.append((i, r))
        return out

    def release(self, shard: int, n: int = 1) -> None:
        sid = self.ids[shard]
        self.released[sid] = min(len(self.records[sid]), self.released[sid] + n)

    def drained(self) -> bool:
        return all(self.read[s] >= self.released[s] for s in self.ids)

    def deliver(self, worker, steps: Iterable[tuple[int, int]], timeout: float = 20) -> None:
        """Release ``(shard, count)`` steps one by one; after each, run the worker's
        loop until it has read (and so handled) everything released."""
        for shard, n in steps:
            self.release(shard, n)
            self.pump(worker, timeout)

    def pump(self, worker, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.drained():
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker did not read the released records: {self.read} < {self.released}")
            worker.poll_once()

    # -- the worker's side (boto3's names) -----------------------------------------------
    def describe_stream(self, StreamArn, ExclusiveStartShardId=None, **_):
        shards = [{"ShardId": s, "SequenceNumberRange": {"StartingSequenceNumber": "1"}} for s in self.ids]
        return {"StreamDescription": {"StreamArn": StreamArn, "StreamStatus": "ENABLED", "Shards": shards}}

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None, **_):
        recs = self.records[ShardId]
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            i = sum(1 for r in recs if int(r["dynamodb"]["SequenceNumber"]) <= int(SequenceNumber))
        elif ShardIteratorType == "TRIM_HORIZON":
            i = 0
        else:
            raise ValueError(f"iterator type {ShardIteratorType} not modelled")
        return {"ShardIterator": f"{ShardId}|{i}"}

    def get_records(self, ShardIterator, Limit=1000, **_):
        sid, i = ShardIterator.rsplit("|", 1)
        i = int(i)
        self.calls[sid] += 1
        batch = self.records[sid][i:min(self.released[sid], i + Limit)]
        self.read[sid] = max(self.read[sid], i + len(batch))
        return {"Records": batch, "NextShardIterator": f"{sid}|{i + len(batch)}"}
