"""``python -m chalicelib.cli smoke --base URL`` (docs/deploy.md, "Check the
deployment") against the local stack over HTTP: devstack.web's front door (web app
+ /api/*, like CloudFront) and a ``python -m matcher`` process."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Smoke-Test-Passw0rd"


@pytest.fixture(scope="module")
def front_door(exchange_env, tmp_path_factory):
    from devstack.web import create_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server("127.0.0.1", port)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    log = tmp_path_factory.mktemp("smoke") / "matcher.log"
    fh = open(log, "wb")
    env = {**os.environ, **exchange_env, "MATCHER_WORKER_ID": f"smoke-{uuid.uuid4().hex[:6]}",
           "MATCHER_LEASE_TTL_MS": "3000", "MATCHER_RENEW_MS": "500", "MATCHER_POLL_MS": "30",
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
    matcher = subprocess.Popen([sys.executable, "-m", "matcher"], cwd=str(ROOT), env=env, stdout=fh,
                               stderr=subprocess.STDOUT)
    time.sleep(1.0)
    assert matcher.poll() is None, log.read_text()[-3000:]
    yield f"http://127.0.0.1:{port}"
    matcher.terminate()
    matcher.wait(20)
    fh.close()
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="module")
def smoke_user(exchange_env):
    from chalicelib import admin

    email = f"smoke-{uuid.uuid4().hex[:6]}@test.local"
    u = admin.create_user(email, PASSWORD)
    admin.deposit(u.account_id, "USDT", Decimal("100"), transfer_id=f"smoke-{u.account_id}")
    return email


def run_smoke(base: str, *extra: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}      # nothing of the stack: HTTP only
    return subprocess.run([sys.executable, "-m", "chalicelib.cli", "smoke", "--base", base, *extra], cwd=str(ROOT),
                          env=env, capture_output=True, text=True, timeout=120)


def test_smoke_passes_against_a_working_deployment(front_door, smoke_user):
    run = run_smoke(front_door, "--email", smoke_user, "--password", PASSWORD)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert [ln.split()[1] for ln in lines] == ["ping", "signed", "created", "placed", "order", "cancelled",
                                               "revoked"], run.stdout


def test_smoke_fails_with_a_reason(front_door, smoke_user):
    run = run_smoke(front_door, "--email", smoke_user, "--password", "Wrong-Passw0rd-1")
    assert run.returncode == 1 and "FAIL POST /v1/auth/signIn: HTTP 401" in run.stderr, run.stderr
    dead = run_smoke("http://127.0.0.1:9")
    assert dead.returncode == 1 and "FAIL GET /v3/ping" in dead.stderr


def test_totp_codes_match_rfc_6238():
    # RFC 6238 appendix B, SHA-1 seed "12345678901234567890", T = 59 s -> 94287082 (8 digits; 6: 287082)
    import base64

    from chalicelib.cli import _totp

    secret = base64.b32encode(b"12345678901234567890").decode()
    assert _totp(secret, at=59) == "287082"
    assert _totp(secret, at=1111111109) == "081804"
