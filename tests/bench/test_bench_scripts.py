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
    # the same flow over the WebSocket API of a real gateway process
    "pipeline-ws": (["bench/pipeline.py", "--smoke", "--path", "ws"], "cost (WebSocket API path)"),
    "capacity": (["bench/capacity.py", "--smoke"], "Aurora transactions/order"),
    "api": (["-m", "bench.api_coldstart", "--smoke"], "warm POST /api/v3/order"),
}


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """Every script started at once (they mostly wait on their own servers' start-up,
    so side by side they take about as long as the slowest alone); each test then
    waits for its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    out_dir = tmp_path_factory.mktemp("bench-smoke")
    runs = {}
    for name, (argv, _) in SCRIPTS.items():
        fh = open(out_dir / f"{name}.out", "w+")
        runs[name] = (subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=fh,
                                       stderr=subprocess.STDOUT, text=True), fh)
    yield runs
    for proc, fh in runs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        fh.close()


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_benchmark_smoke(name, smoke_runs):
    proc, fh = smoke_runs[name]
    _, expect = SCRIPTS[name]
    proc.wait(timeout=300)
    fh.seek(0)
    out = fh.read()
    assert proc.returncode == 0, out[-4000:]
    assert expect in out, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
