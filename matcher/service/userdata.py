"""The matcher's side of the user data stream (:mod:`chalicelib.userevents`): after a
batch's settlement committed, its user events go to the accounts' Redis streams; at
recovery, the settled entries whose events never went out (the worker died between
the commit and the publish) go out then.  Delivery is at least once: a repeat carries
the same (``s``, ``I``) as the first."""
from __future__ import annotations

import orjson

from chalicelib import userevents
from chalicelib.db import PgTx

from .settlement import derive


def publish(worker, sym: str, applied: list, fills, conn) -> None:
    """Publish ``applied`` (settled and committed) of ``sym``; reads Aurora in a
    transaction of its own on ``conn`` (the calling thread's session)."""
    send(worker.clients.redis, worker.settings.redis_key_prefix, worker.books[sym].spec, sym, applied, fills, conn)


def send(redis, prefix: str, spec, sym: str, applied: list, fills, conn) -> None:
    """:func:`publish` with what it needs spelled out (the publish process,
    :mod:`.publishproc`, has its own Redis client and PostgreSQL session, not a worker)."""
    if not applied:
        return
    with conn.transaction():
        events = userevents.batch_events(PgTx(conn), spec, applied, fills)
    userevents.write(redis, events, prefix, marker=(sym, max(a.entry.seq for a in applied)), dumps=dumps)


def dumps(obj) -> str:
    """JSON as :func:`chalicelib.userevents._dumps` writes it (compact, keys in order;
    the events hold ASCII strings, integers, booleans and nulls, for which the bytes are
    the same -- tests/matcher/service/test_userdata_json.py), ~30x faster: a batch of
    5,000 orders has ~13,000 events to encode, and the standard library's encoder was
    the largest part of the user data stream's CPU (bench/capacity.py)."""
    return orjson.dumps(obj).decode()


def repair(worker, sym: str, replayed: list):
    """At recovery: re-publish the settled entries above the symbol's published marker
    (``replayed``: the settled entries after the snapshot, with the engine's events).
    Returns what they mean (:class:`.settlement.Derived`; None if nothing was left):
    a batch's tail publishes its trades before its user data, so their trades are the
    only ones that may not have gone out either."""
    todo = userevents.unpublished(worker.clients.redis, sym, replayed, worker.settings.redis_key_prefix)
    if not todo:
        return None
    st = worker.books[sym]
    d = derive(st.spec, st.codec, todo)
    publish(worker, sym, todo, d.fills, worker.pg_conn())
    return d
