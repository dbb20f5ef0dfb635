"""What order lists add to settlement: one reservation per list, and the list's status.

An OCO reserves once for its two legs (``chalicelib/orderlists.py``): the legs'
``reserved_left`` add up to the list's reservation, however it is spread.  Settling a
batch, :func:`pool_lefts` works out, for each list a leg of which the batch touched,
what the list still holds of each asset -- the legs' reservations less what their
fills consumed --
and places it on one leg: the first leg still open, so the leg that goes on after the
list's rule expired the other carries it and its fills are charged against it; or,
when no leg is open any more, the leg that ended last, whose terminal release then
frees the rest.  So funds are released exactly when the list's last order ends, and
``locked`` always equals the open reservations (tests/invariants.py).

:func:`list_status` reads a LIST event of a batch; :func:`update_lists` writes
them to ``order_lists``.
"""
from __future__ import annotations

from decimal import Decimal

from chalicelib.db import array_literal
from chalicelib.trading.types import ListOrderStatus, ListStatusType

_DONE = ("FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED")


def list_status(e: tuple, placing: bool) -> tuple[str, str, int] | None:
    """(listStatusType, listOrderStatus, event seq) that LIST event ``e`` of a journal
    entry gives its list (the last one of a list in a batch stands: derive keeps it),
    or None.  RESPONSE / REJECT answers the entry's own request: a refused placement
    (``placing``) leaves its list ALL_DONE / REJECT, a refused list cancel changes no
    list."""
    if e[3] != ListStatusType.RESPONSE:
        return (ListStatusType(e[3]).name, ListOrderStatus(e[4]).name, e[0])
    if placing:
        return (ListStatusType.ALL_DONE.name, ListOrderStatus.REJECT.name, e[0])
    return None


def pool_lefts(tx, rows: dict[int, dict], lefts: dict[int, Decimal], final: dict[int, tuple[str | None, int]]
               ) -> dict[int, Decimal]:
    """Spread each touched list's reservation over its legs (see the module doc).

    ``rows``: the batch's order rows (with ``order_list_id``); ``lefts``: each batch
    order's reservation after the batch's fills, as if alone; ``final``: each batch
    order's status after the batch (None: unchanged) and the seq it ended at (0: open).
    Returns the new ``reserved_left`` of every leg whose amount changes, including legs
    outside the batch.  Raises RuntimeError when a list overdrew its reservation."""
    list_ids = sorted({int(r["order_list_id"]) for r in rows.values() if r.get("order_list_id") is not None})
    if not list_ids:
        return {}
    legs = tx.query("SELECT order_id, order_list_id, reserved_asset, status, reserved_left FROM orders"
                    " WHERE order_list_id = ANY(CAST(:l AS bigint[])) ORDER BY order_id",
                    {"l": array_literal(list_ids)})
    by_list: dict[tuple[int, str], list[dict]] = {}  # a list's reservation of one asset
    for leg in legs:
        by_list.setdefault((int(leg["order_list_id"]), str(leg["reserved_asset"])), []).append(leg)
    out: dict[int, Decimal] = {}
    for (list_id, _asset), members in sorted(by_list.items()):
        now: dict[int, Decimal] = {}
        open_ids, ended = [], []
        for leg in members:
            oid = int(leg["order_id"])
            now[oid] = lefts[oid] if oid in lefts else Decimal(str(leg["reserved_left"]))
            status, done_seq = final.get(oid, (None, 0))
            status = status or leg["status"]
            if status in _DONE:
                ended.append((done_seq, oid))
            else:
                open_ids.append(oid)
        pool = sum(now.values(), Decimal(0))
        if pool < 0:
            raise RuntimeError(f"order list {list_id} overdrew its reservation by {-pool}")
        holder = open_ids[0] if open_ids else max(ended)[1] if ended else None
        for oid, left in now.items():
            want = pool if oid == holder else Decimal(0)
            if want != left or oid in lefts:
                out[oid] = want
    return out


def update_lists(tx, statuses: dict[int, tuple[str, str, int]]) -> int:
    """Write the batch's list statuses (each only forward: by event seq), inside the
    settlement's pipeline (:meth:`chalicelib.db.PgTx.send`)."""
    if not statuses:
        return 0
    ids = sorted(statuses)
    tx.send("UPDATE order_lists l SET list_status_type = v.st, list_order_status = v.os,"
            " last_event_seq = v.seq, updated_at = now()"
            " FROM unnest(CAST(:i AS bigint[]), CAST(:st AS text[]), CAST(:os AS text[]), CAST(:sq AS bigint[]))"
            " AS v(id, st, os, seq) WHERE l.order_list_id = v.id AND l.last_event_seq < v.seq",
            {"i": array_literal(ids), "st": array_literal(statuses[i][0] for i in ids),
             "os": array_literal(statuses[i][1] for i in ids), "sq": array_literal(statuses[i][2] for i in ids)})
    return 1
