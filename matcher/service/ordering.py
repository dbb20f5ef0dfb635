"""Order-safe sequencing across stream shards: a cancel never overtakes its order.

The intents table is keyed by ``intent_id``, so an order (``<account>:<clientOrderId>``),
its cancel (``<account>:cancel:<orderId>``) and a cancel-replace naming it
(``<account>:<newClientOrderId>``) hash to different partitions, hence to different
stream shards, and shards are read independently.  Even on one shard a cancel can come
first: the order's put may be late (the API died after its Aurora commit and the
reconciler puts the intent seconds later).

Rule, decided per stream batch against Aurora (the record of orders) in the batch's
own transaction (:func:`sequence`):

* a CANCEL, or a CANCEL_REPLACE, whose target order is still ``PENDING_NEW`` (accepted,
  not sequenced) is **held**: not sequenced from its record, and its outbox row stays
  unacknowledged -- Aurora keeps it, not the matcher's memory;
* when an order is sequenced (a NEW or CANCEL_REPLACE), the unacknowledged cancels and
  cancel-replaces that target it are read from ``intent_outbox`` and sequenced **right
  after it**, in acceptance order (``created_at``), in the same batch and journal
  write; a pulled cancel-replace places an order too, so the cancels of *that* order
  are pulled after it (a chain of replaces);
* a record whose intent is acknowledged (``sent_at``) is a repeat and dropped -- so a
  held cancel's own record, read before or after its order, is sequenced exactly once:
  by whichever comes first of "its target is no longer pending" (its own record) and
  "its target is being sequenced" (pulled), and the settlement transaction that applies
  it also acknowledges it.

Nothing new is written to DynamoDB and nothing extra is kept in memory: a crash, a
takeover or a rebuilt book loses no held cancel (the outbox row is the hold), the
journal holds the pulled entries in sequence order (replay is unchanged), and the
fencing token guards their settlement as any other entry's.  A held cancel whose
order never comes (the reconciler voided it) stays unacknowledged until the
reconciler nudges it back into the stream; then its target is no longer pending and
the engine rejects it (-2011).  See ``docs/ordering.md``.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

from chalicelib.db import array_literal

from .streams import Intent

ORDER_KINDS = ("NEW", "CANCEL_REPLACE", "NEW_LIST")  # intents that place an order (``payload.order_id``)
INTENT_KINDS = ("NEW", "CANCEL", "CANCEL_REPLACE", "AMEND", "NEW_LIST", "CANCEL_LIST")
TARGET_KINDS = ("CANCEL", "AMEND")  # intents that act on ``payload.order_id`` (and place nothing)

# the unacknowledged cancels / amends / cancel-replaces of orders :ids (intent_outbox_cancels,
# intent_outbox_amends, intent_outbox_replaces), oldest first
_HELD = (
    "(SELECT 'held' AS what, intent_id AS id, kind, symbol, account_id, order_id, CAST(payload AS text) AS payload,"
    " created_at FROM intent_outbox WHERE kind = 'CANCEL' AND order_id = ANY(CAST(:placed AS bigint[]))"
    " AND sent_at IS NULL"
    " UNION ALL SELECT 'held', intent_id, kind, symbol, account_id, order_id, CAST(payload AS text), created_at"
    " FROM intent_outbox WHERE kind = 'AMEND' AND order_id = ANY(CAST(:placed AS bigint[])) AND sent_at IS NULL"
    " UNION ALL SELECT 'held', intent_id, kind, symbol, account_id, order_id, CAST(payload AS text), created_at"
    " FROM intent_outbox WHERE kind = 'CANCEL_REPLACE' AND CAST(payload ->> 'cancel_order_id' AS bigint)"
    " = ANY(CAST(:placed AS bigint[])) AND sent_at IS NULL)")
# one round trip per batch: which orders are still pending, which intents are
# acknowledged already, and what is held for the orders the batch places
_BATCH = (
    "SELECT 'pending' AS what, CAST(order_id AS text) AS id, CAST(NULL AS text) AS kind, CAST(NULL AS text) AS symbol,"
    " CAST(NULL AS bigint) AS account_id, CAST(NULL AS bigint) AS order_id, CAST(NULL AS text) AS payload,"
    " CAST(NULL AS timestamptz) AS created_at FROM orders WHERE order_id = ANY(CAST(:orders AS bigint[]))"
    " AND status = 'PENDING_NEW'"
    # an order list is sequenced by one intent, whose order_id is its first order: its other
    # orders (an OTO's pending ones stay PENDING_NEW until the engine places them) never hold
    " AND (order_list_id IS NULL OR order_id = (SELECT min(x.order_id) FROM orders x"
    " WHERE x.order_list_id = orders.order_list_id))"
    " UNION ALL SELECT 'acked', intent_id, NULL, NULL, NULL, NULL, NULL, NULL FROM intent_outbox"
    " WHERE intent_id = ANY(CAST(:intents AS text[])) AND sent_at IS NOT NULL"
    " UNION ALL " + _HELD)


def placed(it: Intent) -> int | None:
    """The order ``it`` places (NEW, CANCEL_REPLACE), else None."""
    return int(it.payload["order_id"]) if it.kind in ORDER_KINDS else None


def target(it: Intent) -> int | None:
    """The order ``it`` cancels or amends (CANCEL, AMEND, CANCEL_REPLACE), else None."""
    if it.kind in TARGET_KINDS:
        return int(it.payload["order_id"])
    if it.kind == "CANCEL_REPLACE":
        return int(it.payload.get("cancel_order_id") or 0) or None
    return None


def _pulled(row: dict, after: Intent) -> Intent:
    """A held intent, from its outbox row, sequenced right after ``after``: it takes
    that record's shard and position (the journal's repeat check stays as it was)."""
    payload = json.loads(row["payload"])
    return Intent(intent_id=row["id"], symbol=row["symbol"], kind=row["kind"], account_id=int(row["account_id"]),
                  order_id=None if row["order_id"] is None else int(row["order_id"]), payload=payload,
                  shard_id=after.shard_id, position=after.position, created_ms=after.created_ms,
                  event_name="HELD", extra={"after": after.intent_id})


def sequence(tx, intents: list[Intent]) -> Iterator[Intent]:
    """The intents of a stream batch to sequence, in order: repeats dropped (an
    acknowledged intent, an order no longer pending), cancels of pending orders held,
    and each order followed by the cancels held for it (see the module docstring).
    ``tx`` is the batch's transaction."""
    if not intents:
        return
    # each intent's order placed and order targeted, read from its payload once, not at each use
    marked = [(it, placed(it), target(it)) for it in intents]
    orders = {o for _, p, t in marked for o in (p, t) if o is not None}
    placing = sorted({p for _, p, _ in marked if p is not None})
    rows = tx.query(_BATCH, {"orders": array_literal(sorted(orders)),
                             "intents": array_literal([it.intent_id for it in intents]),
                             "placed": array_literal(placing)})
    pending = {int(r["id"]) for r in rows if r["what"] == "pending"}
    acked = {r["id"] for r in rows if r["what"] == "acked"}
    held: dict[int, list[dict]] = {}
    asked = set(placing)

    def add_held(found: list[dict]) -> None:
        for r in sorted(found, key=lambda r: (r["created_at"], r["id"])):
            p = json.loads(r["payload"])
            oid = int(p["order_id"] if r["kind"] in TARGET_KINDS else p.get("cancel_order_id") or 0)
            held.setdefault(oid, []).append(r)

    add_held([r for r in rows if r["what"] == "held"])
    done: set[str] = set()

    def emit(it: Intent, oid: int | None) -> Iterator[Intent]:
        """``it`` (placing order ``oid``, if any), then what is held for that order."""
        done.add(it.intent_id)
        yield it
        if oid is None:
            return
        pending.discard(oid)  # sequenced now: what targets it later in the batch goes as it comes
        if oid not in asked:  # an order a pulled cancel-replace placed: what is held for it?
            asked.add(oid)
            add_held(tx.query(_HELD, {"placed": array_literal([oid])}))
        for r in held.pop(oid, []):
            if r["id"] not in done and r["id"] not in acked:
                pulled = _pulled(r, it)
                yield from emit(pulled, placed(pulled))

    for it, p, t in marked:
        if it.intent_id in acked or it.intent_id in done:
            continue  # sequenced before (a repeat), or pulled after its order already
        if p is not None and p not in pending:
            continue  # the order was sequenced before (or voided)
        if t is not None and t in pending:
            continue  # held: sequenced right after its order (from Aurora), never before it
        yield from emit(it, p)
