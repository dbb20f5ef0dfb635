"""The reconciler: repairs what a crash between the Aurora commit and the DynamoDB
put left half-done.  A scheduled Lambda in AWS (:func:`handler`), a loop in the
matcher process locally (``matcher/service/reconciler.py``).

It reads outbox rows the matcher has not acknowledged (``sent_at`` is stamped in
the matcher's settlement transaction) that are older than a grace period:

* intent missing from DynamoDB, order young enough -> **complete**: put the intent
  (conditional, so racing the API's own retry is harmless);
* intent missing and the order too old to go live now -> **reverse**: put a VOID
  intent under the same key (conditional: if the real one got there first, the
  matcher will sequence it and nothing is reversed), then expire the order and
  release its reservation (``release:<order_id>:void``) in one transaction;
* intent present but never acknowledged for that long (its stream record was lost
  or expired) -> **nudge**: touch the item so the stream delivers it again (the
  matcher drops it if it was sequenced after all);
* a VOID intent -> make sure the reversal happened.

Every step is idempotent; running two reconcilers at once changes nothing twice.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

from chalicelib import ledger


def _intent(intent_id: str, group: int):
    """The intent as group ``group``'s intents table holds it (None: not there)."""
    from chalicelib.tables import intent_model

    model = intent_model(group)
    try:
        return model.get(intent_id, consistent_read=True)
    except model.DoesNotExist:
        return None


def _intents(intent_ids: list[str], group: int) -> dict:
    """The intents ``intent_ids`` as group ``group``'s intents table holds them, by id
    (absent: not there): consistent BatchGetItem reads of 100 keys each, not a GetItem
    per intent -- a backlog of hundreds of unsequenced intents made every reconciler
    pass and every takeover's re-send hundreds of round trips (tests/pipeline/test_faults.py
    under load: a takeover spent 30-50 s re-sending before it matched anything)."""
    from chalicelib.tables import intent_model

    if not intent_ids:
        return {}
    model = intent_model(group)
    return {item.intent_id: item for item in model.batch_get(set(intent_ids), consistent_read=True)}


def _void(row: dict, group: int) -> bool:
    from chalicelib.orders import put_intent

    return put_intent(row["intent_id"], row["symbol"], int(row["account_id"]), "VOID", row["order_id"],
                      {"kind": "VOID", "order_id": row["order_id"], "account_id": int(row["account_id"])},
                      group=group)


def reverse(tx, row: dict) -> bool:
    """Expire a never-sequenced order and release its funds; ack the outbox row."""
    done = False
    order_ids: list[int] = []
    if row["kind"] in ("NEW", "CANCEL_REPLACE") and row["order_id"] is not None:
        order_ids = [int(row["order_id"])]
    elif row["kind"] == "NEW_LIST" and row["order_id"] is not None:  # every order of the list
        order_ids = [int(r["order_id"]) for r in tx.query(
            "SELECT order_id FROM orders WHERE order_list_id = (SELECT order_list_id FROM orders WHERE order_id = :o)"
            " ORDER BY order_id", {"o": int(row["order_id"])})]
        tx.execute("UPDATE order_lists SET list_status_type = 'ALL_DONE', list_order_status = 'REJECT',"
                   " updated_at = now() WHERE order_list_id = (SELECT order_list_id FROM orders WHERE order_id = :o)"
                   " AND list_order_status = 'EXECUTING'", {"o": int(row["order_id"])})
    releases = []
    for oid in order_ids:
        o = tx.one("UPDATE orders SET status = 'EXPIRED', reject_reason = 'NOT_SEQUENCED', updated_at = now()"
                   " WHERE order_id = :o AND status = 'PENDING_NEW'"
                   " RETURNING account_id, reserved_asset, reserved_left", {"o": oid})
        if o is not None:
            left = Decimal(str(o["reserved_left"]))
            if left > 0:
                releases.append(ledger.transfer(f"release:{oid}:void", "RELEASE", o["reserved_asset"], left,
                                                (int(o["account_id"]), "locked"), (int(o["account_id"]), "free"),
                                                ref=str(oid)))
                tx.execute("UPDATE orders SET reserved_left = 0 WHERE order_id = :o", {"o": oid})
            done = True
    if releases:  # one post_many: its row locks in one global order (a list's orders may hold two assets)
        ledger.post_many(tx, releases)
    tx.execute("UPDATE intent_outbox SET sent_at = now() WHERE intent_id = :i AND sent_at IS NULL",
               {"i": row["intent_id"]})
    return done


def _touch(item) -> None:
    """Make the stream deliver an intent again: a MODIFY record.  DynamoDB writes no
    stream record for an update that changes nothing, so ``created_ms`` becomes the
    time of this re-send."""
    from chalicelib.orders import now_ms

    item.update(actions=[item.__class__.created_ms.set(max(now_ms(), int(item.created_ms) + 1))])


def _touch_all(model, items: list) -> None:
    """:func:`_touch` for up to 25 intents in one BatchWriteItem: each put again whole
    with the new ``created_ms`` (a MODIFY record apiece).  A put, not an update: only
    intents just read as present and not VOID come here, a VOID is only ever put where
    no intent is (conditional), and the rest of an intent never changes -- so the put
    rewrites what is there.  One request per 25 intents, not one each: a takeover
    re-sends every unacknowledged intent of the symbol (hundreds after a crash loop)."""
    from chalicelib.orders import now_ms

    now = now_ms()
    with model.batch_write() as batch:
        for item in items:
            item.created_ms = max(now, int(item.created_ms) + 1)
            batch.save(item)


def resend_unsent(tx_factory: Callable, symbol: str, group: int | None = None,
                  owned: Callable[[], bool] | None = None) -> dict:
    """Re-send every intent of ``symbol`` accepted in Aurora but never journaled
    (outbox rows without ``sent_at``), in acceptance order, into matcher group
    ``group``'s intents table (default: the symbol's route's): put it if that table
    lacks it (a recreated table, or an intent the API put into the group the symbol
    was moved away from), else touch it (its stream record may be gone with the shard
    checkpoints; 25 to a request, :func:`_touch_all`).  The matcher calls this when it
    takes a symbol; it drops whatever turns out to have been sequenced after all
    (acknowledged rows, orders no longer PENDING_NEW).  A VOID is left to
    :func:`run_once`.

    ``owned`` (the caller still holds the symbol) is asked before each intent: a
    matcher that lost the symbol meanwhile (paused, then fenced out by a takeover)
    stops at once -- the new owner re-sends them -- instead of going on for as long
    as the backlog takes (``left`` counts the intents it left)."""
    from chalicelib.orders import put_intent
    from chalicelib.routing import group_of
    from chalicelib.tables import intent_model

    group = group_of(symbol) if group is None else group
    model = intent_model(group)
    counts = {"put": 0, "touched": 0, "left": 0}
    touch: list = []

    def flush() -> None:
        _touch_all(model, touch)
        counts["touched"] += len(touch)
        touch.clear()

    with tx_factory() as tx:  # no transaction held open across the DynamoDB calls
        rows = tx.query("SELECT intent_id, account_id, symbol, kind, order_id, payload::text AS payload"
                        " FROM intent_outbox WHERE sent_at IS NULL AND symbol = :s ORDER BY created_at, intent_id",
                        {"s": symbol})
    items = _intents([row["intent_id"] for row in rows], group)
    for k, row in enumerate(rows):
        if owned is not None and not owned():
            counts["left"] = len(rows) - k + len(touch)
            touch.clear()
            break
        item = items.get(row["intent_id"])
        if item is None:
            if put_intent(row["intent_id"], row["symbol"], int(row["account_id"]), row["kind"], row["order_id"],
                          json.loads(row["payload"]), group=group):
                counts["put"] += 1
                continue
            item = _intent(row["intent_id"], group)  # the API's own retry got there first
        if item is not None and item.kind != "VOID":
            touch.append(item)
            if len(touch) == 25:
                flush()
    if touch:
        flush()
    return counts


def run_once(tx_factory: Callable, grace_ms: int = 5000, void_after_ms: int = 300_000, limit: int = 500) -> dict:
    """One pass; returns counts of what it did.  Each row is checked in, and put
    into, the intents table of its symbol's group as routed now: an intent the API put
    into the group a symbol has just left is missing there, so it is completed into
    the right one."""
    from chalicelib.orders import put_intent
    from chalicelib.routing import group_of

    counts = {"checked": 0, "completed": 0, "reversed": 0, "nudged": 0, "in_flight": 0}
    with tx_factory() as tx:
        rows = tx.query(
            "SELECT intent_id, account_id, symbol, kind, order_id, payload::text AS payload,"
            " CAST(extract(epoch FROM (now() - created_at)) * 1000 AS bigint) AS age_ms FROM intent_outbox"
            " WHERE sent_at IS NULL AND created_at < now() - CAST(:g AS bigint) * interval '1 millisecond'"
            " ORDER BY created_at LIMIT :l", {"g": grace_ms, "l": limit})
    by_group: dict[int, list[str]] = {}
    for row in rows:
        by_group.setdefault(group_of(row["symbol"]), []).append(row["intent_id"])
    items = {(g, i): item for g, ids in by_group.items() for i, item in _intents(ids, g).items()}
    for row in rows:
        counts["checked"] += 1
        group = group_of(row["symbol"])
        item = items.get((group, row["intent_id"]))
        age = int(row["age_ms"])
        if item is None:
            if age < void_after_ms:
                put_intent(row["intent_id"], row["symbol"], int(row["account_id"]), row["kind"], row["order_id"],
                           json.loads(row["payload"]), group=group)
                counts["completed"] += 1
                continue
            if not _void(row, group):
                continue  # the real intent got there first; the matcher will take it
            item_kind = "VOID"
        else:
            item_kind = item.kind
        if item_kind == "VOID":
            with tx_factory() as tx:
                if reverse(tx, row):
                    counts["reversed"] += 1
        elif age >= void_after_ms:
            _touch(item)
            counts["nudged"] += 1
        else:
            counts["in_flight"] += 1
    return counts


def handler(event, context):  # pragma: no cover - the scheduled Lambda's entry point
    from aws_lambda_powertools import Logger

    from chalicelib.db import transaction

    log = Logger(service="reconciler")
    counts = run_once(transaction)
    log.info("reconciled", extra=counts)
    return counts
