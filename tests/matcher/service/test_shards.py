"""Shard split/close with parent-before-child order.  moto's stream has one shard
that never splits, so the stream client here is a test double; leases and
checkpoints are real (the LEASES table in the session's moto server)."""
from __future__ import annotations

import uuid

import pytest

from matcher.service.streams import Shard, ready_shards


def test_ready_shards_parent_before_child():
    p, c1, c2 = Shard("p", None, True), Shard("c1", "p", False), Shard("c2", "p", False)
    g = Shard("g", "c1", False)
    orphan = Shard("o", "trimmed-long-ago", False)
    shards = [p, c1, c2, g, orphan]
    assert [s.shard_id for s in ready_shards(shards, set())] == ["p", "o"]
    assert [s.shard_id for s in ready_shards(shards, {"p"})] == ["c1", "c2", "o"]
    assert [s.shard_id for s in ready_shards(shards, {"p", "c1"})] == ["c2", "g", "o"]


class FakeStreams:
    """DescribeStream (paginated, 2 shards a page) / GetShardIterator / GetRecords
    over a fixed shard graph; closed shards end (no NextShardIterator)."""

    def __init__(self, shards: dict[str, dict]):
        self.shards = shards  # id -> {"parent", "closed", "records": [seq ints]}
        self.calls: list[tuple] = []

    def describe_stream(self, StreamArn, ExclusiveStartShardId=None):
        ids = list(self.shards)
        start = ids.index(ExclusiveStartShardId) + 1 if ExclusiveStartShardId else 0
        page = ids[start:start + 2]
        out = []
        for sid in page:
            s = self.shards[sid]
            rng = {"StartingSequenceNumber": str(s["records"][0] if s["records"] else 1)}
            if s["closed"]:
                rng["EndingSequenceNumber"] = str(s["records"][-1] if s["records"] else 1)
            d = {"ShardId": sid, "SequenceNumberRange": rng}
            if s["parent"]:
                d["ParentShardId"] = s["parent"]
            out.append(d)
        desc = {"Shards": out}
        if start + 2 < len(ids):
            desc["LastEvaluatedShardId"] = page[-1]
        return {"StreamDescription": desc}

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None):
        recs = self.shards[ShardId]["records"]
        i = 0 if ShardIteratorType == "TRIM_HORIZON" else sum(1 for r in recs if r <= int(SequenceNumber))
        return {"ShardIterator": f"{ShardId}|{i}"}

    def get_records(self, ShardIterator, Limit):
        sid, i = ShardIterator.split("|")
        i = int(i)
        s = self.shards[sid]
        batch = s["records"][i:i + min(Limit, 2)]
        self.calls.append((sid, batch))
        nxt = i + len(batch)
        resp = {"Records": [{"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(q)}} for q in batch]}
        if not (s["closed"] and nxt >= len(s["records"])):
            resp["NextShardIterator"] = f"{sid}|{nxt}"
        return resp


@pytest.fixture
def worker_factory(exchange_env):
    from matcher.service.config import MatcherConfig
    from matcher.service.worker import Worker

    made = []

    def make(streams, worker_id="split-test"):
        cfg = MatcherConfig.from_env()
        # one reader slot: a second worker is a standby, as the shard-lease handover below needs
        cfg = type(cfg)(**{**cfg.__dict__, "worker_id": worker_id, "batch_limit": 2, "describe_every_ms": 0,
                           "reconcile_every_ms": 0, "readers": 1})
        w = Worker(cfg, streams=streams, symbols=["ETHBTC"])
        handled: list[tuple[str, int]] = []

        def handle(reader, records):  # record the order; checkpoint as the real one does
            handled.extend((reader.shard.shard_id, int(r["dynamodb"]["SequenceNumber"])) for r in records)
            w.leases.checkpoint(reader.shard.lease_key, records[-1]["dynamodb"]["SequenceNumber"])
            reader.advance(records[-1]["dynamodb"]["SequenceNumber"])

        w.handle_records = handle
        w.handled = handled
        made.append(w)
        return w

    yield make
    for w in made:
        for key in list(w.leases.held):
            w.leases.release(key)


def test_split_reads_parents_before_children_and_resumes(worker_factory):
    t = uuid.uuid4().hex[:6]
    P, C1, C2, G, ORPH = (f"{t}-parent", f"{t}-child1", f"{t}-child2", f"{t}-grandchild", f"{t}-orphan")
    graph = {
        P: {"parent": None, "closed": True, "records": [101, 102, 103, 104, 105]},
        C1: {"parent": P, "closed": True, "records": [201, 202, 203]},
        C2: {"parent": P, "closed": False, "records": [301, 302]},
        G: {"parent": C1, "closed": False, "records": [401]},
        ORPH: {"parent": f"{t}-trimmed", "closed": False, "records": [501]},
    }
    streams = FakeStreams(graph)
    w = worker_factory(streams)
    for _ in range(30):
        w.poll_once()
    order = [sid for sid, _ in w.handled]
    seqs = {sid: [q for s, q in w.handled if s == sid] for sid in graph}
    for sid, spec in graph.items():
        assert seqs[sid] == spec["records"], (sid, w.handled)  # every record once, in order
    last = {sid: max(i for i, s in enumerate(order) if s == sid) for sid in graph}
    first = {sid: min(i for i, s in enumerate(order) if s == sid) for sid in graph}
    assert last[P] < first[C1] and last[P] < first[C2]
    assert last[C1] < first[G]
    leases = {lease.key: lease for lease in w.leases.scan(f"shard:{t}")}
    assert leases[f"shard:{P}"].finished and leases[f"shard:{P}"].checkpoint == "SHARD_END"
    assert leases[f"shard:{C1}"].finished
    assert leases[f"shard:{C2}"].checkpoint == "302" and not leases[f"shard:{C2}"].finished
    assert leases[f"shard:{G}"].parents == (C1,)

    # a new incarnation (same worker id: immediate takeover) resumes from the checkpoints
    graph[C2]["records"].append(303)
    for key in list(w.leases.held):
        w.leases.release(key)
    w2 = worker_factory(streams)
    for _ in range(10):
        w2.poll_once()
    assert w2.handled == [(C2, 303)]


def test_standby_takes_over_a_dead_owner(worker_factory):
    """A second worker takes the shards once the first stops renewing (lease expiry),
    with a higher fencing token."""
    import time

    t = uuid.uuid4().hex[:6]
    S = f"{t}-only"
    streams = FakeStreams({S: {"parent": None, "closed": False, "records": [1, 2, 3]}})
    a = worker_factory(streams, worker_id=f"a-{t}")
    for _ in range(5):
        a.poll_once()
    token_a = a.leases.token("symbol:ETHBTC")
    b = worker_factory(streams, worker_id=f"b-{t}")
    assert not b.acquire_symbols()  # a is alive: b stands by
    streams.shards[S]["records"].append(4)
    deadline = time.monotonic() + a.leases.ttl_ms / 1000 + 5
    while time.monotonic() < deadline and not b.acquire_symbols():
        time.sleep(0.2)  # a is "dead": it renews no more
    assert b.leases.token("symbol:ETHBTC") > token_a
    # the shard lease expires a little after the symbol lease (a checkpointed it later)
    deadline = time.monotonic() + a.leases.ttl_ms / 1000 + 5
    while time.monotonic() < deadline and not b.handled:
        b.poll_once()
        time.sleep(0.1)
    for _ in range(3):
        b.poll_once()
    assert b.handled == [(S, 4)]
    from matcher.service.leases import LeaseLost

    with pytest.raises(LeaseLost):  # the old owner's checkpoint is refused
        a.leases.checkpoint(f"shard:{S}", "4")
    a.leases.held.clear()
