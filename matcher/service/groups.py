"""Moving a symbol from one matcher group to another (``python -m chalicelib.cli
move-symbol SYMBOL GROUP``).

A symbol's group is data: ``chalicelib/symbols.json`` (``Catalog.group_of``), and,
once an operator has moved it, its ``route:<SYMBOL>`` item in the LEASES table
(:class:`~.leases.Route`), which wins over the file.  The move, step by step:

1. **halt**: the route goes ``ACTIVE -> HALT`` (conditional on the route as read);
2. **drain + snapshot**: the old group's active worker sees it within
   ``MATCHER_ROUTES_MS``, keeps sequencing the symbol until it has read every shard to
   its tip (at most ``MATCHER_DRAIN_MS``), saves an engine snapshot, releases the
   symbol lease and marks the route ``HALTED``.  If no live worker holds the lease
   there is nothing to drain and the command marks it ``HALTED`` itself;
3. **reassign**: the route goes ``HALTED -> ACTIVE`` in the new group, with ``moved_ms``;
4. **resume**: the new group's active worker takes the symbol lease (a higher
   counter: the fencing token moves on, as at any takeover), recovers the book from
   the snapshot plus the journal after it, audits it against Aurora, and re-sends the
   intents accepted meanwhile (they waited in the outbox as PENDING_NEW: the API
   never stops accepting, the symbol only pauses).

Each step is a conditional write, so a second operator or a re-run after a timeout
continues where the route stands.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from chalicelib.routing import ROUTE_ACTIVE, ROUTE_HALT, ROUTE_HALTED, Route, forget_routes
from chalicelib.symbols import load_catalog

from .leases import LeaseTable, now_ms


class MoveError(RuntimeError):
    """The move cannot go on (a concurrent change, or a step that did not finish)."""


@dataclass
class MoveResult:
    symbol: str
    from_group: int
    to_group: int
    halted_seq: int = 0
    owner: str | None = None
    fencing_token: int = 0
    moved: bool = True

    def as_dict(self) -> dict:
        return {"symbol": self.symbol, "fromGroup": self.from_group, "toGroup": self.to_group,
                "haltedSeq": self.halted_seq, "owner": self.owner, "fencingToken": self.fencing_token,
                "moved": self.moved}


def current_route(leases: LeaseTable, symbol: str) -> tuple[Route, Route | None]:
    """The route in force (the file's group when no route item exists) and the item as read."""
    item = leases.route(symbol)
    return (item or Route(symbol, load_catalog().group_of(symbol))), item


def _leases(dynamodb, leases_table: str, symbol: str) -> LeaseTable:
    if symbol not in load_catalog().symbols:
        raise MoveError(f"unknown symbol {symbol}")
    return LeaseTable(dynamodb, leases_table, "operator:move-symbol", 0)


def halt_symbol(dynamodb, leases_table: str, symbol: str, *, timeout_s: float = 60.0,
                poll_s: float = 0.2) -> Route:
    """Steps 1-2 alone (``python -m chalicelib.cli halt-symbol``): the symbol stops,
    drained and snapshotted, in no group's hands until a ``move-symbol`` (to any group,
    its own included) resumes it.  Returns the HALTED route."""
    leases = _leases(dynamodb, leases_table, symbol)
    route, item = current_route(leases, symbol)
    return _halt(leases, symbol, route, item, time.monotonic() + timeout_s, timeout_s, poll_s)


def _halt(leases: LeaseTable, symbol: str, route: Route, item: Route | None, deadline: float, timeout_s: float,
          poll_s: float) -> Route:
    if route.state == ROUTE_ACTIVE:  # 1. halt
        halt = Route(symbol, route.group, ROUTE_HALT, route.moved_ms)
        if not leases.put_route(halt, item):
            raise MoveError(f"{symbol}'s route changed meanwhile: run the command again")
        route = item = halt
    while route.state == ROUTE_HALT:  # 2. the old group drains and snapshots
        item = leases.route(symbol)
        if item is None:
            raise MoveError(f"{symbol}'s route item disappeared")
        route = item
        if route.state != ROUTE_HALT:
            break
        lease = leases.get(f"symbol:{symbol}")
        if lease is None or lease.owner is None or lease.expires_ms <= now_ms():
            # no live sequencer: the journal and snapshot are as its last owner left them
            halted = Route(symbol, route.group, ROUTE_HALTED, route.moved_ms)
            if leases.put_route(halted, route):
                route = item = halted
                break
            continue
        if time.monotonic() > deadline:
            raise MoveError(f"group {route.group} did not drain {symbol} in {timeout_s:.0f} s (owner {lease.owner});"
                            " the route stays HALT: run the command again to go on waiting")
        time.sleep(poll_s)
    if route.state != ROUTE_HALTED:
        raise MoveError(f"{symbol}'s route is {route.state} in group {route.group}: run the command again")
    return route


def move_symbol(dynamodb, leases_table: str, symbol: str, group: int, *, timeout_s: float = 60.0,
                wait_resume: bool = True, poll_s: float = 0.2) -> MoveResult:
    leases = _leases(dynamodb, leases_table, symbol)
    catalog = load_catalog()
    if not 0 <= group < catalog.groups:
        raise MoveError(f"group {group} is not one of the {catalog.groups} matcher groups (symbols.json matcherGroups)")
    deadline = time.monotonic() + timeout_s
    route, item = current_route(leases, symbol)
    result = MoveResult(symbol, route.group, group)
    if route.group == group and route.state == ROUTE_ACTIVE:
        result.moved = False
        return result
    route = _halt(leases, symbol, route, item, deadline, timeout_s, poll_s)
    result.halted_seq = route.halted_seq
    before = leases.get(f"symbol:{symbol}")
    counter = before.counter if before else 0
    moved = Route(symbol, group, ROUTE_ACTIVE, now_ms(), route.halted_seq)  # 3. reassign
    if not leases.put_route(moved, route):
        raise MoveError(f"{symbol}'s route changed meanwhile: run the command again")
    forget_routes()  # this process's own puts go to the new group's table at once
    if not wait_resume:
        return result
    while True:  # 4. the new group takes the symbol
        lease = leases.get(f"symbol:{symbol}")
        if lease is not None and lease.counter > counter and lease.owner and lease.expires_ms > now_ms():
            result.owner, result.fencing_token = lease.owner, lease.counter
            return result
        if time.monotonic() > deadline:
            raise MoveError(f"{symbol} is routed to group {group}, but no worker of it took the symbol in "
                            f"{timeout_s:.0f} s (is the group's service running?)")
        time.sleep(poll_s)
