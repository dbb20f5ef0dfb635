"""``bench/streams.py --smoke`` runs end to end (it starts its own Redis and gateway):
a benchmark that crashes is a broken feature.  No figure is judged here."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_streams_benchmark_smoke():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX")}
    proc = subprocess.run([sys.executable, "bench/streams.py", "--smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "median of 1 runs, 20 subscribers: p50" in out and "KB per connection" in out, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    row = next(line for line in out.splitlines() if line.strip().startswith("20 "))
    received, expected = row.split()[2].split("/")
    assert int(received) == int(expected) > 0, row  # every subscriber got every event
