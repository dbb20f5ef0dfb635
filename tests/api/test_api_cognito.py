"""Sign-up, sign-in, refresh and TOTP MFA through the /v1/auth routes (Cognito; moto
locally), and the account a new user gets on first use."""
from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
import uuid


def totp(secret: str, at: float | None = None) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = struct.pack(">Q", int((at or time.time()) // 30))
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    o = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def _post(api, path, body, token=None):
    return api.web("POST", path, token or "", body) if token else api.call(
        "POST", path, body=__import__("json").dumps(body), content_type="application/json")


def test_sign_up_sign_in_refresh_and_mfa(api, exchange_env, monkeypatch):
    from chalicelib.clients import get_clients

    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")  # the in-process moto checks codes

    email = f"new-{uuid.uuid4().hex[:6]}@test.local"
    r = _post(api, "/v1/auth/signUp", {"email": email, "password": "Weak"})
    assert r.status_code == 400 and r.json["code"] == -1130  # the pool's password policy, rule by rule
    assert r.json["msg"] == "Password must be at least 10 characters long."
    r = _post(api, "/v1/auth/signUp", {"email": email, "password": "lower-case-only-1"})
    assert (r.json["code"], r.json["msg"]) == (-1130, "Password must contain an upper-case letter.")
    r = _post(api, "/v1/auth/signUp", {"email": email, "password": "Good-Password-1"})
    assert r.status_code == 200 and r.json["userSub"], r.json
    assert r.json["codeSentTo"] is None  # the local stage's Cognito mails nothing
    c = get_clients()
    c.cognito.admin_confirm_sign_up(UserPoolId=c.settings.cognito_user_pool_id, Username=email)
    bad = _post(api, "/v1/auth/signIn", {"email": email, "password": "Wrong-Password-1"})
    assert (bad.status_code, bad.json["code"]) == (401, -1002)
    tokens = _post(api, "/v1/auth/signIn", {"email": email, "password": "Good-Password-1"}).json
    assert tokens["tokenType"] == "Bearer" and tokens["refreshToken"]
    # first use creates the account; it starts empty
    acct = api.call("GET", "/v3/account", "", headers={"Authorization": f"Bearer {tokens['idToken']}"}).json
    assert acct["uid"] > 0 and all(b["free"] == "0.00000000" for b in acct["balances"])
    fresh = _post(api, "/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]}).json
    assert fresh["accessToken"] and fresh["idToken"]
    # TOTP: enrol, then sign-in asks for the code
    secret = _post(api, "/v1/auth/mfa/associate", {"accessToken": tokens["accessToken"]}, tokens["idToken"]).json
    assert secret.get("secretCode"), secret
    # a wrong code is a bad request, not an unauthorized session (Cognito answers 400 CodeMismatchException)
    good = totp(secret["secretCode"])
    wrong = _post(api, "/v1/auth/mfa/verify", {"accessToken": tokens["accessToken"],
                                               "code": "000000" if good != "000000" else "111111"}, tokens["idToken"])
    assert (wrong.status_code, wrong.json["code"], wrong.json["msg"]) == (400, -1130, "Wrong code, try again.")
    done = _post(api, "/v1/auth/mfa/verify", {"accessToken": tokens["accessToken"], "code": totp(secret["secretCode"])},
                 tokens["idToken"]).json
    assert done == {"status": "SUCCESS", "mfaEnabled": True}
    challenge = _post(api, "/v1/auth/signIn", {"email": email, "password": "Good-Password-1"}).json
    assert challenge["challengeName"] == "SOFTWARE_TOKEN_MFA" and challenge["session"]
    answered = _post(api, "/v1/auth/respondToChallenge", {"email": email, "session": challenge["session"],
                                                          "code": totp(secret["secretCode"])}).json
    assert answered["accessToken"], answered
    # another user's access token cannot be used to change this user's MFA
    other = _post(api, "/v1/auth/mfa/associate", {"accessToken": tokens["accessToken"]},
                  api_user_token(exchange_env)).json
    assert other["code"] == -1002


def api_user_token(exchange_env) -> str:
    from tests.api.conftest import make_user

    return make_user("mfa-other", {}).id_token
