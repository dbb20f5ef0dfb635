"""Admin rights come from the account's role in Aurora (granted and revoked by the
operator CLI), checked on every admin route in addition to the token's group: a
validly signed token claiming the ``admin`` group for an account without the role gets
403 -- including one minted with the local Cognito stand-in's published signing key."""
from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from tests.api.conftest import make_user

ADMIN_ROUTES = [("/v1/admin/deposits", {"user": "1", "asset": "USDT", "amount": "1", "transferId": "adm-x"}),
                ("/v1/admin/withdrawals/nope/complete", {}), ("/v1/admin/withdrawals/nope/reject", {})]
FORBIDDEN = {"code": -1002, "msg": "You are not authorized to execute this request."}


def _cognito():
    from chalicelib.clients import get_clients

    c = get_clients()
    return c.cognito, c.settings


def _groups(email: str) -> list[str]:
    cognito, s = _cognito()
    return [g["GroupName"] for g in cognito.admin_list_groups_for_user(UserPoolId=s.cognito_user_pool_id,
                                                                       Username=email)["Groups"]]


def _forged_id_token(user) -> str:
    """An ID token for ``user`` claiming the admin group, signed with the private key
    published in the moto package (what the local pool signs with)."""
    import moto.cognitoidp
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from chalicelib.api.auth import issuer

    _, s = _cognito()
    path = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz"
    jwk = json.loads(gzip.decompress(path.read_bytes()))
    key = RSAKey.import_key(jwk)
    sub = next(a["Value"] for a in _cognito()[0].admin_get_user(UserPoolId=s.cognito_user_pool_id,
                                                                 Username=user.email)["UserAttributes"]
               if a["Name"] == "sub")
    now = int(time.time())
    claims = {"sub": sub, "email": user.email, "cognito:username": user.email, "cognito:groups": ["admin"],
              "iss": issuer(s), "aud": s.cognito_client_id, "token_use": "id", "iat": now, "exp": now + 600}
    return jwt.encode({"alg": "RS256", "kid": jwk["kid"]}, claims, key)


@pytest.fixture(scope="module")
def plain(exchange_env):
    return make_user("not-an-operator", {})


@pytest.mark.parametrize("path,body", ADMIN_ROUTES)
def test_forged_admin_claim_is_refused(api, plain, path, body):
    token = _forged_id_token(plain)
    assert api.web("GET", "/v1/apiKeys", token).status_code == 200  # the token itself verifies
    r = api.web("POST", path, token, body)
    assert (r.status_code, r.json) == (403, FORBIDDEN)


def test_group_membership_without_the_role_is_refused_and_the_cli_grants_and_revokes(api, exchange_env, capsys):
    from chalicelib import cli

    op = make_user("op", {})
    cognito, s = _cognito()
    try:
        cognito.create_group(UserPoolId=s.cognito_user_pool_id, GroupName="admin")
    except cognito.exceptions.GroupExistsException:
        pass
    cognito.admin_add_user_to_group(UserPoolId=s.cognito_user_pool_id, Username=op.email, GroupName="admin")
    r = api.web("POST", "/v1/admin/withdrawals/nope/complete", op.id_token, {})
    assert (r.status_code, r.json) == (403, FORBIDDEN)  # a genuine Cognito group alone is not enough

    for _ in range(2):  # idempotent
        assert cli.main(["--json", "grant-admin", op.email]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out == {"accountId": op.account_id, "email": op.email, "admin": True}
    assert "admin" in _groups(op.email)
    op._tokens = None
    r = api.web("POST", "/v1/admin/withdrawals/nope/complete", op.id_token, {})
    assert r.status_code == 400 and r.json["code"] != -1002  # past the wall: the withdrawal is unknown

    for _ in range(2):
        assert cli.main(["revoke-admin", str(op.account_id)]) == 0
    assert "no longer an operator" in capsys.readouterr().out
    assert "admin" not in _groups(op.email)
    r = api.web("POST", "/v1/admin/withdrawals/nope/complete", op.id_token, {})  # the old token still claims it
    assert (r.status_code, r.json) == (403, FORBIDDEN)


def test_role_without_the_group_is_refused(api, exchange_env):
    from chalicelib import admin

    op = make_user("op-nogroup", {})
    admin.set_admin(op.account_id, True)
    cognito, s = _cognito()
    cognito.admin_remove_user_from_group(UserPoolId=s.cognito_user_pool_id, Username=op.email, GroupName="admin")
    op._tokens = None
    r = api.web("POST", "/v1/admin/withdrawals/nope/complete", op.id_token, {})
    assert (r.status_code, r.json) == (403, FORBIDDEN)


def test_grant_admin_unknown_user(exchange_env, capsys):
    from chalicelib import cli

    assert cli.main(["grant-admin", "nobody@nowhere.test"]) == 1
    assert "error -1130" in capsys.readouterr().out
