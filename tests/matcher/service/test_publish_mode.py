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
