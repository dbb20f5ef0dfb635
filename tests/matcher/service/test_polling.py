"""Adaptive idle polling of stream shards (pure: a stub streams client, explicit
clocks)."""
from __future__ import annotations

from matcher.service.streams import PollSchedule, Shard, ShardReader


def _waits(schedule: PollSchedule, reads: list[int], start: float = 100.0) -> list[float]:
    """Read whenever due; the waits (ms) chosen after each read."""
    now, out = start, []
    for n in reads:
        assert schedule.due(now)
        schedule.after_read(n, now)
        out.append(round(schedule.wait_s * 1000))
        now = schedule.next_at
    return out


def test_an_idle_shard_backs_off_to_the_max_and_records_snap_back():
    s = PollSchedule(50, 1000, idle_after_ms=180)
    # empty reads: base (50 ms) while empty for less than 180 ms, then doubling up to 1 s
    waits = _waits(s, [0] * 12)
    assert waits == [50, 50, 50, 50, 100, 200, 400, 800, 1000, 1000, 1000, 1000]
    # records: read again at once, and an empty read after them waits the base again
    assert _waits(s, [3, 1, 0, 0], start=s.next_at) == [0, 0, 50, 50]
    assert s.empty_since is not None


def test_not_due_before_its_time():
    s = PollSchedule(50, 1000, idle_after_ms=0)
    s.after_read(0, 10.0)
    assert not s.due(10.049) and s.due(10.0501)
    s.after_read(0, 10.0501)  # empty for 50 ms > idle_after: doubling
    assert s.wait_s == 0.1 and not s.due(10.1) and s.due(10.1502)


def test_max_below_base_means_no_backoff():
    s = PollSchedule(50, 0, idle_after_ms=0)
    assert _waits(s, [0] * 5) == [50] * 5


def test_calls_per_idle_hour():
    """What the backoff saves: GetRecords calls an idle shard costs per hour."""
    def calls(schedule: PollSchedule, seconds: float) -> int:
        now, n = 0.0, 0
        while now < seconds:
            schedule.after_read(0, now)
            now, n = schedule.next_at, n + 1
        return n

    assert calls(PollSchedule(50, 50), 3600) == 72_000
    backed_off = calls(PollSchedule(50, 1000), 3600)
    assert 3_700 < backed_off < 3_900  # 10 s at 20/s, a few ramp steps, then 1/s


class _Stub:
    """GetShardIterator / GetRecords returning ``batches`` in turn (pure)."""

    def __init__(self, batches):
        self.batches = list(batches)
        self.calls = 0

    def get_shard_iterator(self, **_):
        return {"ShardIterator": "it"}

    def get_records(self, **_):
        self.calls += 1
        records = self.batches.pop(0) if self.batches else []
        return {"Records": records, "NextShardIterator": "it"}


def test_the_reader_moves_its_schedule():
    rec = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1"}}
    stub = _Stub([[], [rec]])
    r = ShardReader(stub, "arn", Shard("s", None, False), None, PollSchedule(50, 1000))
    import time

    assert r.read(10) == [] and not r.schedule.due(time.monotonic())  # empty: wait 50 ms
    r.schedule.next_at = 0  # (as if 50 ms passed)
    assert r.read(10) == [rec] and r.schedule.due(time.monotonic())  # records: due at once
    assert stub.calls == 2
