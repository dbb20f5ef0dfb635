"""The sequenced input, journaled in DynamoDB before the engine sees it, and the
engine snapshots recovery starts from.

Journal: one item per (symbol, stream batch) in the JOURNAL table, range key = the
batch's first sequence number, body = the batch's intents in sequence order (each
with the stream shard and position it came from and the sequencing time).  A put
is conditional on the key not existing: the first writer of a sequence number wins,
so a paused former owner cannot overwrite what its successor journaled -- it gets
a conflict and stops.

Snapshots: item ``snapshot`` of the symbol in the BOOK table: the engine snapshot
after journal entry ``seq``, with the stream positions journaled by then.  Written
only after that entry's effects are durable, and only forward.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from itertools import pairwise

from botocore.exceptions import ClientError

from chalicelib.tables import BOOK_ITEMS, JOURNAL_ITEMS

MAX_ITEM_BYTES = 350_000
LOOKBACK = 5000  # an item holds at most one stream batch (GetRecords returns <= 1000 records)
SNAPSHOT_ITEM = "snapshot"  # the BOOK table item holding a symbol's engine snapshot
_SYMBOL, _SEQ, _TOKEN = JOURNAL_ITEMS.name("symbol"), JOURNAL_ITEMS.name("seq"), BOOK_ITEMS.name("fencing_token")


class JournalConflict(RuntimeError):
    """Someone else journaled this sequence number: this worker is not the owner."""


@dataclass
class Entry:
    seq: int
    intent_id: str
    kind: str
    payload: dict
    shard_id: str
    position: int
    ts: int  # sequencing time (ms), recorded so that replay stamps trades the same

    def to_json(self) -> dict:
        return {"s": self.seq, "i": self.intent_id, "k": self.kind, "p": self.payload, "sh": self.shard_id,
                "pos": str(self.position), "ts": self.ts}

    @classmethod
    def from_json(cls, d: dict) -> Entry:
        return cls(int(d["s"]), d["i"], d["k"], d["p"], d["sh"], int(d["pos"]), int(d["ts"]))


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


class Journal:
    def __init__(self, dynamodb, journal_table: str, book_table: str):
        self.ddb = dynamodb
        self.table = journal_table
        self.book_table = book_table
        self.requests = 0

    def append(self, symbol: str, entries: list[Entry], token: int) -> None:
        """Journal a batch (one conditional put per ~300 KB).  A batch is encoded once
        and put whole when it fits (the usual case: a stream batch of 500 intents is
        ~150 KB); only a larger one is measured entry by entry and split."""
        body = _dumps({"n": len(entries), "entries": [e.to_json() for e in entries]})
        if len(body) <= MAX_ITEM_BYTES:  # the split below would make one chunk of it too
            if entries:
                self._put(symbol, entries, token, body)
            return
        chunk: list[Entry] = []
        size = 0
        for e in entries:
            doc = _dumps(e.to_json())
            if chunk and size + len(doc) > MAX_ITEM_BYTES:
                self._put(symbol, chunk, token)
                chunk, size = [], 0
            chunk.append(e)
            size += len(doc) + 1
        if chunk:
            self._put(symbol, chunk, token)

    def _put(self, symbol: str, entries: list[Entry], token: int, body: str | None = None) -> None:
        if body is None:
            body = _dumps({"n": len(entries), "entries": [e.to_json() for e in entries]})
        try:
            self.requests += 1
            self.ddb.put_item(
                TableName=self.table,
                Item=JOURNAL_ITEMS.to_item(symbol=symbol, seq=entries[0].seq, intent_id=entries[0].intent_id,
                                           fencing_token=token, body=body),
                ConditionExpression="attribute_not_exists(#q)", ExpressionAttributeNames={"#q": _SEQ})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise JournalConflict(f"{symbol} seq {entries[0].seq} was journaled by another owner") from None
            raise

    def read_after(self, symbol: str, after_seq: int) -> list[Entry]:
        """Every journaled entry with seq > ``after_seq``, in order."""
        out: list[Entry] = []
        start = None
        while True:
            kw = {"TableName": self.table, "ConsistentRead": True,
                  "KeyConditionExpression": "#s = :s AND #q > :f",
                  "ExpressionAttributeNames": {"#s": _SYMBOL, "#q": _SEQ},
                  "ExpressionAttributeValues": {":s": JOURNAL_ITEMS.value("symbol", symbol),
                                                ":f": JOURNAL_ITEMS.value("seq", after_seq - LOOKBACK)}}
            if start:
                kw["ExclusiveStartKey"] = start
            self.requests += 1
            resp = self.ddb.query(**kw)
            for item in resp.get("Items", []):
                for d in json.loads(JOURNAL_ITEMS.from_item(item)["body"])["entries"]:
                    e = Entry.from_json(d)
                    if e.seq > after_seq:
                        out.append(e)
            start = resp.get("LastEvaluatedKey")
            if not start:
                break
        out.sort(key=lambda e: e.seq)
        for a, b in pairwise(out):
            if b.seq != a.seq + 1:
                raise RuntimeError(f"journal of {symbol} has a gap between {a.seq} and {b.seq}")
        return out

    def last_seq(self, symbol: str) -> int:
        """The highest sequence number journaled for ``symbol`` (0 if none)."""
        self.requests += 1
        items = self.ddb.query(TableName=self.table, ConsistentRead=True, Limit=1, ScanIndexForward=False,
                               KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": _SYMBOL},
                               ExpressionAttributeValues={":s": JOURNAL_ITEMS.value("symbol", symbol)}
                               ).get("Items", [])
        if not items:
            return 0
        return max(int(d["s"]) for d in json.loads(JOURNAL_ITEMS.from_item(items[0])["body"])["entries"])

    def discard(self, symbol: str) -> int:
        """Delete the symbol's journal and snapshot (an operator's remedy for a book
        that disagrees with Aurora: the next owner then rebuilds it from Aurora).
        Returns the journal items deleted."""
        n, start = 0, None
        while True:
            kw = {"TableName": self.table, "ConsistentRead": True, "KeyConditionExpression": "#s = :s",
                  "ProjectionExpression": "#s, #q", "ExpressionAttributeNames": {"#s": _SYMBOL, "#q": _SEQ},
                  "ExpressionAttributeValues": {":s": JOURNAL_ITEMS.value("symbol", symbol)}}
            if start:
                kw["ExclusiveStartKey"] = start
            resp = self.ddb.query(**kw)
            for item in resp.get("Items", []):
                self.ddb.delete_item(TableName=self.table, Key={_SYMBOL: item[_SYMBOL], _SEQ: item[_SEQ]})
                n += 1
            start = resp.get("LastEvaluatedKey")
            if not start:
                break
        self.ddb.delete_item(TableName=self.book_table, Key=BOOK_ITEMS.key(symbol, SNAPSHOT_ITEM))
        return n

    # -- snapshots ------------------------------------------------------------------
    def load_snapshot(self, symbol: str) -> tuple[int, bytes, dict] | None:
        """(seq, engine snapshot bytes, positions) or None."""
        self.requests += 1
        item = self.ddb.get_item(TableName=self.book_table, ConsistentRead=True,
                                 Key=BOOK_ITEMS.key(symbol, SNAPSHOT_ITEM)).get("Item")
        if not item:
            return None
        snap = BOOK_ITEMS.from_item(item)
        body = json.loads(snap["body"])
        return snap["seq"], base64.b64decode(body["engine"]), body.get("positions", {})

    def save_snapshot(self, symbol: str, seq: int, engine: bytes, positions: dict, token: int,
                      replace: bool = False) -> bool:
        """Save the snapshot after journal entry ``seq``; only forward, unless
        ``replace``: a book rebuilt from Aurora replaces whatever an older owner left
        (a snapshot the journal no longer follows on from)."""
        body = _dumps({"engine": base64.b64encode(engine).decode(), "positions": positions})
        if len(body) > MAX_ITEM_BYTES:
            return False  # recovery replays the journal from the previous snapshot (or rebuilds) instead
        cond = "attribute_not_exists(#q) OR #q < :q" + (" OR #t < :t" if replace else "")
        names, values = {"#q": BOOK_ITEMS.name("seq")}, {":q": BOOK_ITEMS.value("seq", seq)}
        if replace:
            names["#t"], values[":t"] = _TOKEN, BOOK_ITEMS.value("fencing_token", token)
        try:
            self.requests += 1
            self.ddb.put_item(
                TableName=self.book_table,
                Item=BOOK_ITEMS.to_item(symbol=symbol, item=SNAPSHOT_ITEM, seq=seq, fencing_token=token, body=body),
                ConditionExpression=cond, ExpressionAttributeNames=names, ExpressionAttributeValues=values)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
