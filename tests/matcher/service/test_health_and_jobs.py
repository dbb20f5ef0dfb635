import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

from matcher.service.health import STALE_AFTER_S, serve_health

ROOT = Path(__file__).resolve().parents[3]


def test_healthz_follows_the_main_loop_heartbeat():
    worker = types.SimpleNamespace(last_loop=time.monotonic(), stop=threading.Event(),
                                   config=types.SimpleNamespace(worker_id="w1"), books={"BTCUSDT": object()})
    server = serve_health(worker, 0, host="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.loads(resp.read())
        assert resp.status == 200 and body["status"] == "ok" and body["symbols"] == ["BTCUSDT"]
        worker.last_loop -= STALE_AFTER_S + 1  # a wedged loop
        try:
            urllib.request.urlopen(url, timeout=5)
            raise AssertionError("a stale loop must not be healthy")
        except urllib.error.HTTPError as err:
            assert err.code == 503
    finally:
        server.shutdown()


def test_jobs_process_reconciles_and_stops_on_sigterm(exchange_env, tmp_path):
    # INFO: the assertions read the start/stop log lines (a session fixture of
    # tests/pipeline leaves MATCHER_LOG_LEVEL=WARNING in os.environ when run first)
    env = dict(os.environ, MATCHER_RECONCILE_MS="1000", MATCHER_RECONCILE_GRACE_MS="0", MATCHER_LOG_LEVEL="INFO")
    log = tmp_path / "jobs.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "matcher.jobs"], cwd=ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60  # imports take seconds on a loaded machine
    while "jobs starting" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.5)  # at least one pass
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    out = log.read_text()
    assert proc.returncode == 0, out
    assert "jobs starting" in out and "jobs stopped" in out
    assert "reconciler pass failed" not in out
