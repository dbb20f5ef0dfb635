"""Binance's signing scheme and Cognito tokens: forged, tampered, replayed, expired,
other-pool and wrong-key requests are refused with Binance's codes."""
from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from tests.api.conftest import make_user, sign, signed_query  # noqa: F401  (pytest puts tests/ on sys.path)


def _account(api, user, query: str, headers=None):
    return api.call("GET", "/v3/account", query, headers={"X-MBX-APIKEY": user.api_key, **(headers or {})})


def test_signed_request_ok_and_signature_over_query_and_body(api, alice):
    assert api.signed("GET", "/v3/account", alice).status_code == 200
    # symbol in the query string, the rest in the body: the signature covers query + body
    q = "symbol=BTCUSDT"
    body = urlencode({"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001", "price": "10000",
                      "timestamp": int(time.time() * 1000)})
    r = api.call("POST", "/v3/order/test", f"{q}", body=f"{body}&signature={sign(alice.secret, q + body)}",
                 headers={"X-MBX-APIKEY": alice.api_key})
    assert r.status_code == 200 and r.json == {}


@pytest.mark.parametrize("case", ["missing_key", "bad_key_format", "unknown_key", "bad_signature", "tampered",
                                  "replayed", "stale", "future", "recv_window", "no_timestamp", "no_signature",
                                  "uppercase_sig_ok"])
def test_signature_failures(api, alice, case):
    ts = int(time.time() * 1000)
    q = urlencode({"omitZeroBalances": "true", "timestamp": ts})
    good = f"{q}&signature={sign(alice.secret, q)}"
    expect = {"missing_key": (-2014, 401), "bad_key_format": (-2014, 401), "unknown_key": (-2015, 401),
              "bad_signature": (-1022, 400), "tampered": (-1022, 400), "replayed": (None, 200),
              "stale": (-1021, 400), "future": (-1021, 400), "recv_window": (-1131, 400),
              "no_timestamp": (-1102, 400), "no_signature": (-1102, 400), "uppercase_sig_ok": (None, 200)}[case]
    headers = {"X-MBX-APIKEY": alice.api_key}
    if case == "missing_key":
        r = api.call("GET", "/v3/account", good)
    elif case == "bad_key_format":
        r = api.call("GET", "/v3/account", good, headers={"X-MBX-APIKEY": "short!"})
    elif case == "unknown_key":
        r = api.call("GET", "/v3/account", good, headers={"X-MBX-APIKEY": "A" * 64})
    elif case == "bad_signature":
        r = api.call("GET", "/v3/account", f"{q}&signature={'0' * 64}", headers=headers)
    elif case == "tampered":
        r = api.call("GET", "/v3/account", good.replace("omitZeroBalances=true", "omitZeroBalances=false"),
                     headers=headers)
    elif case == "replayed":
        assert api.call("GET", "/v3/account", good, headers=headers).status_code == 200
        r = api.call("GET", "/v3/account", good, headers=headers)
    elif case in ("stale", "future", "recv_window"):
        t = {"stale": ts - 6000, "future": ts + 5000, "recv_window": ts}[case]
        params = {"timestamp": t, **({"recvWindow": 60001} if case == "recv_window" else {})}
        qq = urlencode(params)
        r = api.call("GET", "/v3/account", f"{qq}&signature={sign(alice.secret, qq)}", headers=headers)
    elif case == "no_timestamp":
        qq = "omitZeroBalances=true"
        r = api.call("GET", "/v3/account", f"{qq}&signature={sign(alice.secret, qq)}", headers=headers)
    elif case == "no_signature":
        r = api.call("GET", "/v3/account", q, headers=headers)
    else:
        r = api.call("GET", "/v3/account", f"{q}&signature={sign(alice.secret, q).upper()}", headers=headers)
    assert r.status_code == expect[1], r.json
    if expect[0] is not None:
        assert r.json["code"] == expect[0]


def test_a_replayed_trade_request_is_refused(api, alice):
    """A captured order request cannot be sent twice; a repeated signed read (above,
    case "replayed") is answered, as Binance answers both."""
    headers = {"X-MBX-APIKEY": alice.api_key}
    q = urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                   "price": "20000", "timestamp": int(time.time() * 1000)})
    good = f"{q}&signature={sign(alice.secret, q)}"
    first = api.call("POST", "/v3/order/test", good, headers=headers)
    assert first.status_code == 200 and first.json == {}, first.json
    again = api.call("POST", "/v3/order/test", good, headers=headers)
    assert again.status_code == 400
    assert again.json == {"code": -1022, "msg": "Signature for this request was already used."}


def test_recv_window_is_honoured(api, alice):
    ts = int(time.time() * 1000) - 20_000
    q = urlencode({"recvWindow": 30000, "timestamp": ts})
    assert _account(api, alice, f"{q}&signature={sign(alice.secret, q)}").status_code == 200


def test_key_permissions_ip_allowlist_and_revocation(api, exchange_env):
    ro = make_user("readonly", {"USDT": "100"}, can_trade=False)
    assert api.signed("GET", "/v3/account", ro).status_code == 200
    r = api.signed("POST", "/v3/order/test", ro, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                  "timeInForce": "GTC", "quantity": "0.001", "price": "10000"})
    assert (r.status_code, r.json["code"]) == (401, -2015)
    far = make_user("farip", {}, ips=["10.0.0.0/8"])
    assert api.signed("GET", "/v3/account", far).json["code"] == -2015
    near = make_user("nearip", {}, ips=["127.0.0.1"])
    assert api.signed("GET", "/v3/account", near).status_code == 200
    # revoked through the web route: refused right away
    r = api.web("DELETE", f"/v1/apiKeys/{near.api_key}", near.id_token)
    assert r.status_code == 200 and r.json == {"apiKey": near.api_key, "revoked": True}
    assert api.signed("GET", "/v3/account", near).json["code"] == -2015


def test_api_keys_through_the_web(api, alice):
    r = api.web("POST", "/v1/apiKeys", alice.id_token, {"label": "bot 1", "canTrade": False, "ipList": "127.0.0.1"})
    assert r.status_code == 200, r.json
    created = r.json
    assert len(created["secretKey"]) == 64 and created["permissions"] == {"read": True, "trade": False}
    assert created["ipList"] == ["127.0.0.1/32"]
    listed = api.web("GET", "/v1/apiKeys", alice.id_token).json
    assert created["apiKey"] in [k["apiKey"] for k in listed] and all("secretKey" not in k for k in listed)
    from tests.api.conftest import User
    bot = User(alice.email, alice.account_id, created["apiKey"], created["secretKey"])
    assert api.signed("GET", "/v3/account", bot).json["uid"] == alice.account_id
    import psycopg

    from chalicelib.clients import get_clients
    with psycopg.connect(get_clients().settings.database_url) as conn:
        dump = str(conn.execute("SELECT * FROM api_keys WHERE api_key = %s", (created["apiKey"],)).fetchall())
    assert created["secretKey"] not in dump


# -- Cognito tokens ---------------------------------------------------------------------------
def _moto_private_key():
    from joserfc.jwk import RSAKey
    from moto.utilities.utils import load_resource

    return RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


def _token(claims: dict, key=None) -> str:
    from joserfc import jwt

    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, key or _moto_private_key())


def _claims(user, **over) -> dict:
    from chalicelib.api.auth import issuer
    from chalicelib.clients import get_clients

    s = get_clients().settings
    now = int(time.time())
    real = json.loads(__import__("base64").urlsafe_b64decode(user.id_token.split(".")[1] + "=="))
    return {**real, "iss": issuer(s), "aud": s.cognito_client_id, "token_use": "id", "iat": now, "exp": now + 600,
            **over}


def test_jwt_accepted_on_web_and_binance_routes(api, alice, bob):
    assert api.web("GET", "/v1/apiKeys", alice.access_token).status_code == 200
    r = api.call("GET", "/v3/account", "", headers={"Authorization": f"Bearer {bob.id_token}"})
    assert r.status_code == 200 and r.json["uid"] == bob.account_id
    assert _token(_claims(alice))  # our own well-formed token is accepted (control for the cases below)
    assert api.web("GET", "/v1/apiKeys", _token(_claims(alice))).status_code == 200


@pytest.mark.parametrize("case", ["expired", "forged", "other_pool", "other_client", "tampered", "garbage", "none"])
def test_bad_jwts_are_refused(api, alice, case):
    from joserfc.jwk import RSAKey

    if case == "expired":
        token = _token(_claims(alice, exp=int(time.time()) - 5))
    elif case == "forged":
        token = _token(_claims(alice), RSAKey.generate_key(2048))
    elif case == "other_pool":
        token = _token(_claims(alice, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"))
    elif case == "other_client":
        token = _token(_claims(alice, aud="someotherclient"))
    elif case == "tampered":
        head, payload, sig = alice.id_token.split(".")
        import base64
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["sub"] = "someone-else"
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        token = f"{head}.{payload}.{sig}"
    elif case == "garbage":
        token = "not.a.jwt"
    else:
        token = ""
    web = api.web("GET", "/v1/apiKeys", token)
    assert web.status_code in (401, 403) and "apiKey" not in web.body.decode()
    v3 = api.call("GET", "/v3/account", "", headers={"Authorization": f"Bearer {token}"})
    assert v3.status_code in (400, 401) and v3.json["code"] in (-1002, -2014, -1102)


def test_token_of_another_real_pool_is_refused(api, alice):
    from chalicelib import resources
    from chalicelib.clients import get_clients

    cognito = get_clients().cognito
    pool = cognito.create_user_pool(**{**resources.USER_POOL, "PoolName": "intruders"})["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, **resources.WEB_CLIENT)["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(UserPoolId=pool, Username=alice.email, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool, Username=alice.email, Password="Other-Pool-123", Permanent=True)
    tokens = cognito.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": alice.email, "PASSWORD": "Other-Pool-123"})
    token = tokens["AuthenticationResult"]["IdToken"]
    assert api.web("GET", "/v1/apiKeys", token).status_code in (401, 403)
    assert api.call("GET", "/v3/account", "", headers={"Authorization": f"Bearer {token}"}).status_code == 401
