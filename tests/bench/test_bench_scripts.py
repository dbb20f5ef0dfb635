"""Every benchmark script runs end to end in its ``--smoke`` mode.

Benchmarks are scripts, not timed tests: nothing here looks at a figure.  What is
checked is that each script still starts its servers, drives its workload, prints
the lines its README promises and exits 0 on a fresh clone -- a benchmark that
crashes is a broken feature (the pipeline one once divided by a ceiling of zero).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPTS = {
    "engine": (["bench/engine/run.py", "--smoke"], "ours"),
    "pipeline": (["bench/pipeline.py", "--smoke"], "per 1M orders"),
    "capacity": (["bench/capacity.py", "--smoke"], "Aurora transactions/order"),
    "api": (["-m", "bench.api_coldstart", "--smoke"], "warm POST /api/v3/order"),
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_benchmark_smoke(name, tmp_path):
    argv, expect = SCRIPTS[name]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert expect in out, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
