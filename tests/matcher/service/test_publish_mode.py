"""MATCHER_PUBLISH_PROCESS: where a batch's publish runs (matcher/service/publishproc.py)."""
from __future__ import annotations

import os

import pytest


def test_the_mode_follows_the_setting_and_the_cpus(tmp_path):
    from matcher.service.config import MatcherConfig
    from matcher.service.publishproc import usable_cpus, wanted

    assert wanted("on", cpus=1) and not wanted("off", cpus=8)
    assert wanted("auto", cpus=2) and wanted("auto", cpus=4) and not wanted("auto", cpus=1.5)
    affinity = len(os.sched_getaffinity(0))
    none = (str(tmp_path / "none"), str(tmp_path / "none"))
    v2 = tmp_path / "cpu.max"
    v2.write_text("max 100000\n")  # no quota: the affinity
    assert usable_cpus(str(v2), none) == affinity
    v2.write_text("50000 100000\n")  # half a CPU (Fargate's 512 units)
    assert usable_cpus(str(v2), none) == min(affinity, 0.5)
    assert not wanted("auto", cpus=usable_cpus(str(v2), none))
    quota, period = tmp_path / "quota", tmp_path / "period"  # cgroup v1
    quota.write_text("200000\n")
    period.write_text("100000\n")
    assert usable_cpus(str(tmp_path / "none"), (str(quota), str(period))) == min(affinity, 2)
    quota.write_text("-1\n")  # no quota
    assert usable_cpus(str(tmp_path / "none"), (str(quota), str(period))) == affinity
    assert usable_cpus(str(tmp_path / "none"), none) == affinity  # nothing readable: the affinity
    assert MatcherConfig.from_env({}).publish_process == "auto"
    assert MatcherConfig.from_env({"MATCHER_PUBLISH_PROCESS": "off"}).publish_process == "off"
    with pytest.raises(ValueError, match="MATCHER_PUBLISH_PROCESS"):
        MatcherConfig.from_env({"MATCHER_PUBLISH_PROCESS": "yes"})


def test_a_batch_crosses_the_pipe_as_it_was_and_an_unchanged_depth_as_none():
    """pack/unpack (publishproc.py): fills, depth and entries come out equal, Decimals
    with their exponents (what the child prints); a depth equal to the one last sent for
    its symbol crosses as None and the child's copy stands in; a symbol's first depth
    never does."""
    import pickle
    from decimal import Decimal as D

    from matcher.service.journal import Entry
    from matcher.service.publishproc import pack, unpack
    from matcher.service.settlement import Applied, Derived, Fill
    from matcher.service.worker import Effects

    fill = Fill(7, 12, 3, D("29999.50"), D("0.00100"), D("29.9995000"), D("29.99950000"), 203, 202, 3, 4, False,
                D("0.00000100"), D("0E-8"), 1796042759104)
    entry = Entry(3, "4:x", "NEW", {"account_id": 4, "cmd": [2, 4, 1], "order_id": 2}, "shard-1", 1000, 17960)
    depth = ([(D("29999.00"), D("0.00100")), (D("29998.98"), D("1.50000"))], [(D("30001.00"), D("0.00200"))])

    def effects(d):
        return {"BTCUSDT": Effects(Derived(fills=[fill]), d, 12, [Applied(entry, [(12, 0, 2, 0, 100, 0)])])}

    sent: dict = {}
    got: dict = {}
    first = pack(effects(depth), sent)
    (sym, fills, book, seq, applied), = unpack(first, got)
    assert (sym, fills, book, seq) == ("BTCUSDT", [fill], depth, 12)
    assert [str(v) for v in vars(fills[0]).values()] == [str(v) for v in vars(fill).values()]  # exponents too
    assert [[tuple(map(str, lv)) for lv in side] for side in book] == [[tuple(map(str, lv)) for lv in side]
                                                                        for side in depth]
    assert applied == [Applied(entry, [(12, 0, 2, 0, 100, 0)])]
    same = ([(D("29999.00"), D("0.00100")), (D("29998.98"), D("1.50000"))], [(D("30001.00"), D("0.00200"))])
    again = pack(effects(same), sent)  # an equal depth (other objects): not sent again
    assert pickle.loads(again)[0][2] is None and len(again) < len(first)
    assert unpack(again, got)[0][2] == depth
    moved = (depth[0][:1], depth[1])
    assert unpack(pack(effects(moved), sent), got)[0][2] == moved  # changed: sent whole
    assert unpack(pack(effects(moved), sent), got)[0][2] == moved
    with pytest.raises(ValueError, match="none received"):  # a child without the depth refuses the batch
        unpack(pack(effects(moved), sent), {})
    assert unpack(pack(effects(moved)), None)[0][2] == moved  # no cache: always whole
