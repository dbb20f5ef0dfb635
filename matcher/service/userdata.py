"""The matcher's side of the user data stream (:mod:`chalicelib.userevents`): after a
batch's settlement committed, its user events go to the accounts' Redis streams; at
recovery, the settled entries whose events never went out (the worker died between
the commit and the publish) go out then.  Delivery is at least once: a repeat carries
the same (``s``, ``I``) as the first."""
from __future__ import annotations

from chalicelib import userevents
from chalicelib.db import PgTx

from .settlement import derive


def publish(worker, sym: str, applied: list, fills, conn) -> None:
    """Publish ``applied`` (settled and committed) of ``sym``; reads Aurora in a
    transaction of its own on ``conn`` (the calling thread's session)."""
    if not applied:
        return
    st = worker.books[sym]
    with conn.transaction():
        events = userevents.batch_events(PgTx(conn), st.spec, applied, fills)
    userevents.write(worker.clients.redis, events, worker.settings.redis_key_prefix,
                     marker=(sym, max(a.entry.seq for a in applied)))


def repair(worker, sym: str, replayed: list) -> None:
    """At recovery: re-publish the settled entries above the symbol's published marker
    (``replayed``: the settled entries after the snapshot, with the engine's events)."""
    todo = userevents.unpublished(worker.clients.redis, sym, replayed, worker.settings.redis_key_prefix)
    if todo:
        st = worker.books[sym]
        publish(worker, sym, todo, derive(st.spec, st.codec, todo).fills, worker.pg_conn())
