"""The trust boundary: the caller's address comes from the platform (API Gateway's
source IP; the local host's socket peer), and CloudFront's viewer-address header counts
only on requests carrying the origin-verify secret.  Spoofed headers change nothing for
API-key allow-lists, request-weight counters and bans; with the right secret they apply.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace

import pytest

from chalicelib.api import origin
from tests.api.conftest import ORIGIN_SECRET as SECRET, make_user, signed_query

SPOOFS = [{"CloudFront-Viewer-Address": "10.9.8.7:443"},
          {"CloudFront-Viewer-Address": "10.9.8.7:443", "X-Origin-Verify": "wrong"},
          {"CloudFront-Viewer-Address": "10.9.8.7:443", "X-Origin-Verify": SECRET[:-1]},
          {"X-Forwarded-For": "10.9.8.7"}, {"X-Real-IP": "10.9.8.7"}, {"Forwarded": "for=10.9.8.7"},
          {"True-Client-IP": "10.9.8.7"}]


@pytest.fixture(scope="module")
def fenced_user(exchange_env):
    return make_user("fenced", {"USDT": "100"}, ips=["10.9.8.7/32"])


def _redis():
    from chalicelib.clients import get_clients

    c = get_clients()
    return c.redis, c.settings.redis_key_prefix


@pytest.mark.parametrize("spoof", SPOOFS, ids=lambda h: "+".join(h))
def test_spoofed_headers_do_not_pass_the_allow_list(api, fenced_user, spoof, trusted_proxy):
    r = api.signed("GET", "/v3/account", fenced_user, headers=spoof)
    assert (r.status_code, r.json["code"]) == (401, -2015)


def test_viewer_address_ignored_when_no_proxy_is_configured(api, fenced_user):
    r = api.signed("GET", "/v3/account", fenced_user,
                   headers={"CloudFront-Viewer-Address": "10.9.8.7:443", "X-Origin-Verify": SECRET})
    assert (r.status_code, r.json["code"]) == (401, -2015)
    r = api.signed("POST", "/v3/order", fenced_user, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                      "timeInForce": "GTC", "quantity": "0.001", "price": "10000"},
                   headers={"CloudFront-Viewer-Address": "10.9.8.7:443"})
    assert (r.status_code, r.json["code"]) == (401, -2015)


def test_viewer_address_counts_through_the_verified_origin(api, fenced_user, trusted_proxy):
    ok = {"CloudFront-Viewer-Address": "10.9.8.7:51234", **trusted_proxy}
    assert api.signed("GET", "/v3/account", fenced_user, headers=ok).status_code == 200
    v6 = {"CloudFront-Viewer-Address": "2001:db8::7:443", **trusted_proxy}
    assert api.signed("GET", "/v3/account", fenced_user, headers=v6).json["code"] == -2015


def test_spoofed_viewer_address_does_not_reset_the_weight_counter(api):
    used = []
    for i in range(4):
        r = api.get("/v3/ping", headers={"CloudFront-Viewer-Address": f"198.51.100.{100 + i}:443",
                                         "X-Forwarded-For": f"198.51.100.{110 + i}"})
        used.append(int(r.headers["X-MBX-USED-WEIGHT-1M"]))
    # one counter (the source IP's), however the header rotates
    assert used == list(range(used[0], used[0] + 4))


def test_spoofed_viewer_address_cannot_get_an_address_banned_or_escape_a_ban(api, trusted_proxy):
    r, p = _redis()
    victim = "198.51.100.66"
    r.set(f"{p}rl:ban:{victim}", "1", ex=60)
    try:
        for spoof in ({"CloudFront-Viewer-Address": f"{victim}:443"},
                      {"CloudFront-Viewer-Address": f"{victim}:443", "X-Origin-Verify": "nope"}):
            assert api.get("/v3/ping", headers=spoof).status_code == 200
        banned = api.get("/v3/ping", headers={"CloudFront-Viewer-Address": f"{victim}:443", **trusted_proxy})
        assert (banned.status_code, banned.json["code"]) == (418, -1003)
    finally:
        r.delete(f"{p}rl:ban:{victim}")


def test_origin_secret_from_secrets_manager_current_and_previous(exchange_env, monkeypatch):
    """AWS stages: the secret is read from Secrets Manager; after a rotation both the
    new and the previous value are accepted, anything else is not."""
    from chalicelib.clients import get_clients

    c = get_clients()
    sm = c._aws("secretsmanager")
    arn = sm.create_secret(Name=f"origin-verify-{id(monkeypatch)}", SecretString="first-value")["ARN"]
    settings = replace(c.settings, origin_verify_secret_arn=arn, origin_verify_secret="")
    monkeypatch.setenv("AWS_ENDPOINT_URL", c.settings.aws_endpoint_url)
    origin.reset_cache()
    assert origin.accepted_secrets(settings) == ("first-value",)
    sm.put_secret_value(SecretId=arn, SecretString="second-value")
    origin.reset_cache()
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    origin._previous_provider().clear_cache()
    assert set(origin.accepted_secrets(settings)) == {"first-value", "second-value"}
    assert origin.verified_origin({"x-origin-verify": "second-value"}, settings)
    assert origin.verified_origin({"x-origin-verify": "first-value"}, settings)
    assert not origin.verified_origin({"x-origin-verify": "third-value"}, settings)
    assert not origin.verified_origin({}, settings)
    origin.reset_cache()


# -- over HTTP, through the local host ---------------------------------------------------------------
def _http(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_local_host_source_ip_is_the_socket_peer(web_url, fenced_user):
    q = signed_query(fenced_user.secret, {})
    status, body, _ = _http(f"{web_url}/api/v3/account?{q}", headers={
        "X-MBX-APIKEY": fenced_user.api_key, "CloudFront-Viewer-Address": "10.9.8.7:443",
        "X-Forwarded-For": "10.9.8.7"})
    assert (status, json.loads(body)["code"]) == (401, -2015)


def test_local_host_behind_a_trusted_proxy(web_url, fenced_user, trusted_proxy):
    """With ORIGIN_VERIFY_SECRET set, a proxy sending it may vouch for the viewer."""
    q = signed_query(fenced_user.secret, {})
    status, body, _ = _http(f"{web_url}/api/v3/account?{q}", headers={
        "X-MBX-APIKEY": fenced_user.api_key, "CloudFront-Viewer-Address": "10.9.8.7:443", **trusted_proxy})
    assert status == 200, body


# -- every refusal before the app runs is Binance-shaped, from the gateway-response table ------------
def _gateway(kind: str):
    from chalicelib.api.gateway_errors import GATEWAY_RESPONSES

    status, code, msg = GATEWAY_RESPONSES[kind]
    return status, {"code": code, "msg": msg}


@pytest.mark.parametrize("method,path,kind", [
    ("GET", "/api/v3/nope", "MISSING_AUTHENTICATION_TOKEN"),
    ("GET", "/api/", "MISSING_AUTHENTICATION_TOKEN"),
    ("POST", "/api/v9/order", "MISSING_AUTHENTICATION_TOKEN"),
    ("PUT", "/api/v3/order", "MISSING_AUTHENTICATION_TOKEN"),
    ("PATCH", "/api/v3/ping", "MISSING_AUTHENTICATION_TOKEN"),
    ("DELETE", "/api/v3/time", "MISSING_AUTHENTICATION_TOKEN"),
    ("TRACE", "/api/v3/ping", "MISSING_AUTHENTICATION_TOKEN"),
    ("GET", "/api/v1/apiKeys", "UNAUTHORIZED"),
])
def test_local_host_route_and_method_errors(web_url, method, path, kind):
    status, body, headers = _http(web_url + path, method)
    assert (status, json.loads(body)) == _gateway(kind)
    assert headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("token", ["Bearer not-a-jwt", "Bearer a.b.c", "garbage"])
def test_local_host_authorizer_refusal(web_url, token):
    status, body, _ = _http(f"{web_url}/api/v1/apiKeys", headers={"Authorization": token})
    assert (status, json.loads(body)) == _gateway("ACCESS_DENIED")


def test_local_host_oversized_inputs(web_url):
    status, body, _ = _http(f"{web_url}/api/v3/ping?x=" + "a" * 70000)
    assert (status, json.loads(body)) == _gateway("REQUEST_TOO_LARGE")
    status, body, _ = _http(f"{web_url}/api/v3/ping", headers={"X-Big": "b" * 70000})
    assert (status, json.loads(body)) == _gateway("REQUEST_TOO_LARGE")
    status, body, _ = _http(f"{web_url}/api/v3/ping", headers={f"X-H{i}": "1" for i in range(150)})
    assert (status, json.loads(body)) == _gateway("REQUEST_TOO_LARGE")
    # a body over API Gateway's payload limit is refused before it is read
    import http.client
    from urllib.parse import urlparse

    u = urlparse(web_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("POST", "/api/v3/order")
    conn.putheader("Content-Length", str(11 * 1024 * 1024))
    conn.endheaders()
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())) == _gateway("REQUEST_TOO_LARGE")
    conn.close()
    # a body the app itself refuses (over its own limit): Binance-shaped too
    status, body, _ = _http(f"{web_url}/api/v3/order", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                            b"a=" + b"x" * 20000)
    assert status == 400 and json.loads(body)["code"] == -1101


def test_gateway_table_is_binance_shaped():
    from chalicelib.api.gateway_errors import GATEWAY_RESPONSES
    from chalicelib.errors import Reason

    codes = {r.code for r in Reason} | {-1020}
    for kind, (status, code, msg) in GATEWAY_RESPONSES.items():
        assert 400 <= status < 600 and code in codes and msg, kind
