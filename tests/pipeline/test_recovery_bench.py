"""The recovery benchmark's smoke mode runs (a benchmark is a script, not a test: this
only keeps it working; it asserts no timings)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_recovery_bench_smoke(original_env, tmp_path):
    out = tmp_path / "recovery.json"
    proc = subprocess.run([sys.executable, "bench/recovery.py", "--smoke", "--json", str(out)], cwd=str(ROOT),
                          env=original_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    doc = json.loads(out.read_text())
    (res,) = doc["results"]
    assert res["resting_orders"] == 500
    (run,) = res["runs"]
    assert run["resting"] == 500 and run["takeover_to_match_s"] > 0  # rebuilt with every seeded order, then matched
    assert "takeover -> first match" in proc.stdout
