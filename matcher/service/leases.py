"""Leases in the LEASES table, kept the way the Kinesis Client Library keeps them.

One item per lease (``LeaseModel``'s layout): ``shard:<shardId>`` for a stream
shard of matcher group 0's intents stream (``g<n>/shard:<shardId>`` of group *n*'s:
each group reads its own intents table's stream), with its checkpoint, parents and
finished flag, and ``symbol:<SYMBOL>`` for the right to sequence a symbol.  Beside
them, ``route:<SYMBOL>`` (a :class:`Route`, no lease) says which group sequences a
symbol once an operator has moved it (absent: the symbols file's group).
``counter`` is bumped on every *take*, never on a renewal, so it is the fencing
token: every write of the holder is conditional on it (the checkpoint here, the
journal by first-writer-wins, settlement by ``settlement_progress.fencing_token``),
and a paused holder that wakes up after a takeover has its writes refused.

A lease is free when its ``expires_ms`` has passed; the holder renews it well
before that.  A restarted process with the same worker id may take its own lease
at once (the counter still moves, fencing out its previous incarnation).
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.routing import Route, route_key
from chalicelib.tables import LEASE_ITEMS

from .obs import logger

# the stored names of the attributes written in expressions
_NAMES = {"#k": LEASE_ITEMS.name("lease_key"), "#o": LEASE_ITEMS.name("owner"), "#c": LEASE_ITEMS.name("counter"),
          "#e": LEASE_ITEMS.name("expires_ms"), "#cp": LEASE_ITEMS.name("checkpoint"),
          "#f": LEASE_ITEMS.name("finished")}


def now_ms() -> int:
    return int(time.time() * 1000)


class LeaseLost(RuntimeError):
    """A lease this worker held was taken over: stop acting on it."""


@dataclass
class Lease:
    key: str
    owner: str | None
    counter: int
    expires_ms: int
    checkpoint: str | None = None
    parents: tuple[str, ...] = ()
    finished: bool = False

    @classmethod
    def from_item(cls, item: dict) -> Lease:
        v = LEASE_ITEMS.from_item(item)
        return cls(key=v["lease_key"], owner=v.get("owner"), counter=v.get("counter", 0),
                   expires_ms=v.get("expires_ms", 0), checkpoint=v.get("checkpoint"),
                   parents=tuple(p for p in (v.get("parents") or "").split(",") if p),
                   finished=bool(v.get("finished", False)))

    def to_item(self) -> dict:
        return LEASE_ITEMS.to_item(lease_key=self.key, owner=self.owner, counter=self.counter,
                                   expires_ms=self.expires_ms, checkpoint=self.checkpoint,
                                   parents=",".join(self.parents) or None, finished=self.finished)


def group_prefix(group: int) -> str:
    """The lease-key prefix of group ``group``'s own leases (group 0 keeps the ungrouped
    layout, so its checkpoints carry over)."""
    return "" if group == 0 else f"g{group}/"


def shard_prefix(group: int, slot: int = 0) -> str:
    """The lease-key prefix of the shard leases (checkpoints) of reader slot ``slot`` of
    group ``group``: each task of a group that holds symbols reads the group's stream
    with its slot's own checkpoints (slot 0 keeps the one-reader layout)."""
    return group_prefix(group) + ("" if slot == 0 else f"s{slot}/") + "shard:"


def slot_key(group: int, slot: int) -> str:
    """The lease of reader slot ``slot`` of group ``group``: holding one makes a task a
    member of the group that takes a share of its symbols."""
    return f"{group_prefix(group)}slot:{slot}"


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class LeaseTable:
    def __init__(self, dynamodb, table: str, worker_id: str, ttl_ms: int):
        self.ddb = dynamodb
        self.table = table
        self.worker_id = worker_id
        self.ttl_ms = ttl_ms
        self.held: dict[str, Lease] = {}
        self.lost: set[str] = set()
        self._lock = threading.Lock()
        # one write of a held lease at a time: a renewal conditional on the counter must
        # not race a raise of that counter (it would fail, and the lease look lost)
        self._write = threading.RLock()
        self.requests = 0  # DynamoDB requests made (reads and writes)

    # -- reads --------------------------------------------------------------------
    def get(self, key: str) -> Lease | None:
        self.requests += 1
        item = self.ddb.get_item(TableName=self.table, Key=LEASE_ITEMS.key(key), ConsistentRead=True).get("Item")
        return Lease.from_item(item) if item else None

    def scan(self, prefix: str) -> list[Lease]:
        out: list[Lease] = []
        start = None
        while True:
            kw = {"TableName": self.table, "ConsistentRead": True, "FilterExpression": "begins_with(#k, :p)",
                  "ExpressionAttributeNames": {"#k": _NAMES["#k"]},
                  "ExpressionAttributeValues": {":p": LEASE_ITEMS.value("lease_key", prefix)}}
            if start:
                kw["ExclusiveStartKey"] = start
            self.requests += 1
            resp = self.ddb.scan(**kw)
            out.extend(Lease.from_item(i) for i in resp.get("Items", []))
            start = resp.get("LastEvaluatedKey")
            if not start:
                return out

    def routes(self) -> dict[str, Route]:
        """Every symbol's route that an operator has set (one paginated Scan)."""
        out, start = {}, None
        while True:
            kw = {"TableName": self.table, "ConsistentRead": True, "FilterExpression": "begins_with(lease_key, :p)",
                  "ExpressionAttributeValues": {":p": {"S": "route:"}}}
            if start:
                kw["ExclusiveStartKey"] = start
            self.requests += 1
            resp = self.ddb.scan(**kw)
            for item in resp.get("Items", []):
                r = Route.from_item(item)
                out[r.symbol] = r
            start = resp.get("LastEvaluatedKey")
            if not start:
                return out

    def route(self, symbol: str) -> Route | None:
        self.requests += 1
        item = self.ddb.get_item(TableName=self.table, Key={"lease_key": {"S": route_key(symbol)}},
                                 ConsistentRead=True).get("Item")
        return Route.from_item(item) if item else None

    def put_route(self, new: Route, expect: Route | None) -> bool:
        """Write ``new`` if the route still is ``expect`` (group and state; None: no
        route item yet); False if it changed meanwhile."""
        item = new.to_item()
        cond: dict[str, Any]
        if expect is None:
            cond = {"ConditionExpression": "attribute_not_exists(lease_key)"}
        else:
            cond = {"ConditionExpression": "#g = :g AND #s = :s", "ExpressionAttributeNames": {"#g": "group",
                                                                                               "#s": "state"},
                    "ExpressionAttributeValues": {":g": {"N": str(expect.group)}, ":s": {"S": expect.state}}}
        try:
            self.requests += 1
            self.ddb.put_item(TableName=self.table, Item=item, **cond)
            return True
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise

    # -- writes -------------------------------------------------------------------
    def create(self, key: str, parents: tuple[str, ...] = (), checkpoint: str | None = None,
               finished: bool = False) -> bool:
        """Create a free lease if it does not exist."""
        item = Lease(key, None, 0, 0, checkpoint=checkpoint, parents=parents, finished=finished).to_item()
        try:
            self.requests += 1
            self.ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(#k)",
                              ExpressionAttributeNames={"#k": _NAMES["#k"]})
            return True
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise

    def try_take(self, lease: Lease) -> Lease | None:
        """Take ``lease`` (as last read) if it is free or ours; the new lease (with a
        bumped counter = the new fencing token) or None if someone else holds it."""
        now = now_ms()
        if lease.owner and lease.owner != self.worker_id and lease.expires_ms > now:
            return None
        try:
            self.requests += 1
            resp = self.ddb.update_item(
                TableName=self.table, Key=LEASE_ITEMS.key(lease.key),
                UpdateExpression="SET #o = :me, #c = #c + :one, #e = :exp",
                ConditionExpression="#c = :c",
                ExpressionAttributeNames={k: _NAMES[k] for k in ("#o", "#c", "#e")},
                ExpressionAttributeValues={":me": LEASE_ITEMS.value("owner", self.worker_id),
                                           ":one": LEASE_ITEMS.value("counter", 1),
                                           ":exp": LEASE_ITEMS.value("expires_ms", now + self.ttl_ms),
                                           ":c": LEASE_ITEMS.value("counter", lease.counter)},
                ReturnValues="ALL_NEW")
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        taken = Lease.from_item(resp["Attributes"])
        with self._lock:
            self.held[taken.key] = taken
            self.lost.discard(taken.key)
        return taken

    def _held_update(self, key: str, expr: str, values: dict) -> None:
        """``expr`` (names as ``#o #c #e #cp #f``) on a lease held, conditional on our
        ownership and its counter as taken."""
        with self._write:
            self._held_update_locked(key, expr, values)

    def _held_update_locked(self, key: str, expr: str, values: dict) -> None:
        lease = self.held.get(key)
        if lease is None or key in self.lost:
            raise LeaseLost(key)
        try:
            self.requests += 1
            self.ddb.update_item(
                TableName=self.table, Key=LEASE_ITEMS.key(key), UpdateExpression=expr,
                ConditionExpression="#o = :me AND #c = :c",
                ExpressionAttributeNames={k: _NAMES[k] for k in {"#o", "#c", *re.findall(r"#\w+", expr)}},
                ExpressionAttributeValues={":me": LEASE_ITEMS.value("owner", self.worker_id),
                                           ":c": LEASE_ITEMS.value("counter", lease.counter), **values})
        except ClientError as exc:
            if _conditional_failed(exc):
                with self._lock:
                    self.lost.add(key)
                raise LeaseLost(key) from None
            raise

    def renew(self, key: str) -> None:
        exp = now_ms() + self.ttl_ms
        self._held_update(key, "SET #e = :exp", {":exp": LEASE_ITEMS.value("expires_ms", exp)})
        lease = self.held.get(key)
        if lease is not None:  # (released meanwhile by the main loop)
            lease.expires_ms = exp

    def checkpoint(self, key: str, value: str, finished: bool = False) -> None:
        """Move a held lease's checkpoint (renewing it too), fenced by its counter."""
        exp = now_ms() + self.ttl_ms
        self._held_update(key, "SET #cp = :cp, #e = :exp, #f = :f",
                          {":cp": LEASE_ITEMS.value("checkpoint", value), ":exp": LEASE_ITEMS.value("expires_ms", exp),
                           ":f": LEASE_ITEMS.value("finished", finished)})
        lease = self.held[key]
        lease.checkpoint, lease.expires_ms, lease.finished = value, exp, finished

    def release(self, key: str) -> None:
        """Give a lease up so that a standby may take it at once."""
        try:
            self._held_update(key, "SET #e = :z", {":z": LEASE_ITEMS.value("expires_ms", 0)})
        except LeaseLost:
            pass
        with self._lock:
            self.held.pop(key, None)
            self.lost.discard(key)  # given up on purpose: losing it no longer matters

    def renew_all(self) -> set[str]:
        """Renew every held lease; returns the keys lost since the last call."""
        lost = set()
        for key in list(self.held):
            if key in self.lost:
                lost.add(key)
                continue
            try:
                self.renew(key)
            except LeaseLost:
                lost.add(key)
            except (BotoCoreError, ClientError) as exc:  # an outage: retried next round (it may still expire)
                logger.warning("lease renewal failed", extra={"lease": key, "error": repr(exc)[:300]})
        return lost

    def raise_above(self, key: str, floor: int) -> int:
        """Make a held lease's counter greater than ``floor`` (the highest fencing token
        Aurora has recorded for it) and return the counter: after the LEASES table was
        recreated or restored its counters restart low, and a token that went
        backwards would be refused by settlement for good.  Conditional on the counter
        as taken, like every write of the holder; a counter already above is kept."""
        with self._write:
            lease = self.held.get(key)
            if lease is None or key in self.lost:
                raise LeaseLost(key)
            if lease.counter > floor:
                return lease.counter
            target = floor + 1
            self._held_update(key, "SET #c = :n", {":n": LEASE_ITEMS.value("counter", target)})
            lease.counter = target
            return target

    def token(self, key: str) -> int:
        lease = self.held.get(key)
        if lease is None or key in self.lost:
            raise LeaseLost(key)
        return lease.counter


class Renewer(threading.Thread):
    """Renews held leases in the background (a batch may take longer than a renewal
    interval).  A lost lease is recorded in ``LeaseTable.lost``; the main loop stops
    acting on it."""

    def __init__(self, leases: LeaseTable, every_ms: int):
        super().__init__(name="lease-renewer", daemon=True)
        self.leases = leases
        self.every = every_ms / 1000
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self.leases.renew_all()
            except Exception:  # a bug: logged, and the thread goes on (a dead renewer loses every lease)
                logger.exception("lease renewal round failed")
