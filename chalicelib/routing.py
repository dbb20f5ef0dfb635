"""Which matcher group sequences a symbol, and so which intents table its intents go to.

Each matcher group has an intents table of its own (and so a DynamoDB stream of its
own, read by that group alone: a stream shard allows at most 2 concurrent readers, so
one shared stream carried at most 2 groups).  Group 0 keeps ``INTENTS_TABLE``; group
*n* >= 1 uses ``<INTENTS_TABLE>-g<n>`` (:func:`intents_table`), made from the same
model (``chalicelib/tables.py``) by the local stack, the tests and ``infra/`` alike.

A symbol's group is the symbols file's (``Catalog.group_of``) unless an operator moved
it: then its ``route:<SYMBOL>`` item in the LEASES table (a :class:`Route`) says which
group, and where the move stands.  The API and the reconciler read the route before
each put (:func:`group_of`), cached for :data:`ROUTE_CACHE_MS` per process.

A stale cache costs latency, never an intent: the route is read *after* the order's
Aurora commit, so an intent put into the group that no longer serves the symbol has
its outbox row committed at most ``ROUTE_CACHE_MS`` after the route changed.  The group
that takes the symbol re-sends the symbol's unacknowledged outbox rows into its own
table when it takes it and once more ``ROUTE_CACHE_MS`` (plus a margin) later
(``matcher/service/worker.py``), and the reconciler puts a row missing from the
route's table there (``chalicelib/reconcile.py``).  The copy left in the old group's
table is never sequenced: that group holds no lease of the symbol.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

ROUTE_ACTIVE, ROUTE_HALT, ROUTE_HALTED = "ACTIVE", "HALT", "HALTED"
ROUTE_PREFIX = "route:"
# How long a process trusts a route it read (the API, the reconciler): a move's new
# owner re-sends once more after this (plus RESEND_MARGIN_MS) to cover stale puts.
ROUTE_CACHE_MS = 1000
RESEND_MARGIN_MS = 1000


def intents_table(group: int, base: str | None = None) -> str:
    """The intents table of matcher group ``group`` (``base``: group 0's, by default
    the ``INTENTS_TABLE`` setting)."""
    if base is None:
        from chalicelib.settings import get_settings

        base = get_settings().intents_table
    return base if group == 0 else f"{base}-g{group}"


@dataclass(frozen=True)
class Route:
    """Which matcher group sequences ``symbol``, and where a move stands:
    ``ACTIVE`` (the group sequences it), ``HALT`` (asked to stop: the group drains,
    snapshots and releases the symbol lease), ``HALTED`` (stopped; no group takes
    it).  ``moved_ms`` is set once the symbol has been moved: a group that takes it
    then re-sends the intents left unsequenced meanwhile."""

    symbol: str
    group: int
    state: str = ROUTE_ACTIVE
    moved_ms: int = 0
    halted_seq: int = 0

    @classmethod
    def from_item(cls, item: dict) -> Route:
        return cls(symbol=item["lease_key"]["S"].split(":", 1)[1], group=int(item["group"]["N"]),
                   state=item.get("state", {}).get("S", ROUTE_ACTIVE),
                   moved_ms=int(item.get("moved_ms", {}).get("N", "0")),
                   halted_seq=int(item.get("halted_seq", {}).get("N", "0")))

    def to_item(self) -> dict:
        return {"lease_key": {"S": route_key(self.symbol)}, "group": {"N": str(self.group)},
                "state": {"S": self.state}, "moved_ms": {"N": str(self.moved_ms)},
                "halted_seq": {"N": str(self.halted_seq)}}


def route_key(symbol: str) -> str:
    return ROUTE_PREFIX + symbol


def read_route(dynamodb, leases_table: str, symbol: str) -> Route | None:
    """The symbol's route item (None: never moved), read consistently."""
    item = dynamodb.get_item(TableName=leases_table, Key={"lease_key": {"S": route_key(symbol)}},
                             ConsistentRead=True).get("Item")
    return Route.from_item(item) if item else None


_cache: dict[str, tuple[int, float]] = {}   # symbol -> (group, monotonic time read)
_lock = threading.Lock()


def group_of(symbol: str, clients=None) -> int:
    """The matcher group whose intents table takes ``symbol``'s intents now: its
    route's group (whatever the route's state: a halted symbol's intents wait in its
    group's table and outbox until a group takes it), else the symbols file's.  Read
    at most every ``ROUTE_CACHE_MS`` per symbol and process (one consistent GetItem)."""
    from chalicelib.symbols import load_catalog

    now = time.monotonic()
    with _lock:
        hit = _cache.get(symbol)
    if hit is not None and now - hit[1] < ROUTE_CACHE_MS / 1000:
        return hit[0]
    if clients is None:
        from chalicelib.clients import get_clients

        clients = get_clients()
    route = read_route(clients.dynamodb, clients.settings.leases_table, symbol)
    group = route.group if route is not None else load_catalog().group_of(symbol)
    with _lock:
        _cache[symbol] = (group, now)
    return group


def forget_routes() -> None:
    """Drop the cached routes (tests; an operator tool that just moved a symbol)."""
    with _lock:
        _cache.clear()
