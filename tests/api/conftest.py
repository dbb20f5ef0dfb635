"""Fixtures for the API tests: the Chalice app in-process (Chalice's test client, which
runs the same local gateway and authorizer as ``chalice local``), the same app over
HTTP through devstack.web's front door (for ccxt and schemathesis), demo accounts with
balances, API keys and Cognito tokens, and a signing helper that speaks Binance's
scheme."""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parents[2]

PASSWORD = "Test-Password-123"
_nonce = itertools.count()


def sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def signed_query(secret: str, params: list | dict, ts: int | None = None) -> str:
    """``params`` + timestamp, urlencoded in order, with the signature appended."""
    items = list(params.items()) if isinstance(params, dict) else list(params)
    if not any(k == "timestamp" for k, _ in items):
        # distinct timestamps so that equal requests are not replays of each other
        items.append(("timestamp", str(ts or int(time.time() * 1000) - next(_nonce) % 500)))
    q = urlencode(items)
    return f"{q}&signature={sign(secret, q)}"


class Api:
    """Requests against the app in-process, as JSON; ``status``/``headers`` of the last."""

    def __init__(self, client):
        self.client = client

    def call(self, method: str, path: str, query: str = "", body: str | bytes = "", headers: dict | None = None,
             content_type: str = "application/x-www-form-urlencoded"):
        h = dict(headers or {})
        if body:
            h.setdefault("Content-Type", content_type)
        url = "/" + path.lstrip("/") + (f"?{query}" if query else "")
        resp = self.client.http.request(method, url, headers=h, body=body.encode() if isinstance(body, str) else body)
        resp.json = json.loads(resp.body) if resp.body else None
        return resp

    def get(self, path, params=None, **kw):
        return self.call("GET", path, urlencode(params or {}), **kw)

    def signed(self, method: str, path: str, user, params=None, in_body: bool = False, **kw):
        q = signed_query(user.secret, params or {})
        headers = {"X-MBX-APIKEY": user.api_key, **kw.pop("headers", {})}
        if in_body:
            return self.call(method, path, body=q, headers=headers, **kw)
        return self.call(method, path, q, headers=headers, **kw)

    def web(self, method: str, path: str, token: str, body: dict | None = None):
        return self.call(method, path, body=json.dumps(body) if body is not None else "",
                         headers={"Authorization": f"Bearer {token}"}, content_type="application/json")


class User:
    def __init__(self, email, account_id, api_key, secret):
        self.email, self.account_id, self.api_key, self.secret = email, account_id, api_key, secret
        self._tokens = None

    def tokens(self) -> dict:
        if self._tokens is None:
            from chalicelib.clients import get_clients

            c = get_clients()
            r = c.cognito.initiate_auth(ClientId=c.settings.cognito_client_id, AuthFlow="USER_PASSWORD_AUTH",
                                        AuthParameters={"USERNAME": self.email, "PASSWORD": PASSWORD})
            self._tokens = r["AuthenticationResult"]
        return self._tokens

    @property
    def id_token(self) -> str:
        return self.tokens()["IdToken"]

    @property
    def access_token(self) -> str:
        return self.tokens()["AccessToken"]


def make_user(name: str, deposits: dict | None = None, can_trade: bool = True, ips=None) -> User:
    from chalicelib import admin

    email = f"{name}-{uuid.uuid4().hex[:6]}@test.local"
    u = admin.create_user(email, PASSWORD)
    for asset, amount in (deposits or {}).items():
        admin.deposit(u.account_id, asset, Decimal(amount), transfer_id=f"t-{u.account_id}-{asset}")
    key, secret = admin.create_api_key(u.account_id, "test", can_trade, ips)
    return User(email, u.account_id, key.api_key, secret)


@pytest.fixture(scope="session")
def app_module(exchange_env):
    from chalicelib.api import ratelimit, trading

    # generous limits for the suite (the rate-limit tests set their own); short waits
    # for a matcher result when no matcher runs
    ratelimit.LIMITS = ratelimit.Limits(weight_per_minute=10**9, orders_per_10s=10**6, orders_per_day=10**9)
    trading.RESULT_WAIT_S = 0.3
    trading.CANCEL_WAIT_S = 0.3
    import app

    return app


@pytest.fixture(scope="session")
def api(app_module):
    from chalice.test import Client

    with Client(app_module.app, stage_name="local", project_dir=str(ROOT)) as client:
        yield Api(client)


ORIGIN_SECRET = "local-proxy-origin-secret"


@pytest.fixture
def trusted_proxy(monkeypatch):
    """The local stack configured as CloudFront (ORIGIN_VERIFY_SECRET set): requests
    with these headers may name the viewer's address in CloudFront-Viewer-Address."""
    from dataclasses import replace

    from chalicelib.clients import get_clients

    c = get_clients()
    monkeypatch.setattr(c, "settings", replace(c.settings, origin_verify_secret=ORIGIN_SECRET))
    return {"X-Origin-Verify": ORIGIN_SECRET}


@pytest.fixture(scope="session")
def alice(exchange_env) -> User:
    return make_user("alice", {"USDT": "100000", "BTC": "10", "ETH": "100"})


@pytest.fixture(scope="session")
def bob(exchange_env) -> User:
    return make_user("bob", {"USDT": "100000", "BTC": "10", "ETH": "100"})


@pytest.fixture(scope="session")
def web_url(app_module):
    """devstack.web's front door (static web app + /api/*) on a free port, in a thread."""
    import socket

    from devstack.web import create_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server("127.0.0.1", port)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="module")
def matcher(exchange_env, app_module, tmp_path_factory):
    """The matcher service (``python -m matcher``) as a process beside the API, so that
    orders fill; RESULT/FULL responses wait for it as they would in production.
    Module-scoped: a matcher left running would compete for the stream's leases with
    the matchers other test folders start."""
    import os
    import subprocess
    import sys
    import urllib.request

    from chalicelib.api import trading
    from chalicelib.symbols import load_catalog
    from tests.conftest import free_port

    log = tmp_path_factory.mktemp("matcher") / "matcher.log"
    fh = open(log, "wb")
    health = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "matcher"], cwd=str(ROOT), stdout=fh, stderr=subprocess.STDOUT,
                            env={**os.environ, **exchange_env, "MATCHER_HEALTH_PORT": str(health)})
    trading.RESULT_WAIT_S = 3.0
    trading.CANCEL_WAIT_S = 3.0
    # ready when it matches every symbol (leases taken, books recovered): the first order
    # of a test is then answered as fast as any, however slow the machine is today
    want = sorted(load_catalog().symbols)
    deadline = time.time() + 60
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=2) as resp:
                if json.loads(resp.read())["symbols"] == want:
                    break
        except OSError:
            pass
        assert time.time() < deadline, "the matcher did not take its symbols in 60 s:\n" + log.read_text()[-3000:]
        time.sleep(0.1)
    yield log
    trading.RESULT_WAIT_S = 0.3
    trading.CANCEL_WAIT_S = 0.3
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    fh.close()
