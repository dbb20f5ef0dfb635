"""``session.logon`` with a Cognito token (the web app's way onto ``/ws-api/v3``,
gateway/tokenlogon.py), on real servers: the gateway process, moto's Cognito (its JWKS),
PostgreSQL and Redis.

* a good token logs the connection on as the token's own user: the user data stream
  and signed reads are that account's, and one user never receives another's events;
* forged, expired, wrong-audience, other-pool, tampered and malformed tokens are
  refused with Binance's -1002 (or -1102 / -1106 for a malformed request), and leave
  the connection logged out;
* a subscription made on a token ends (``eventStreamTerminated``) when the token
  expires, unless the page logged on again with a fresh token first.
"""
from __future__ import annotations

import time
from decimal import Decimal as D

from joserfc.jwk import RSAKey

from tests.api.conftest import make_user
from tests.api.test_api_auth import _claims, _token
from tests.gateway.test_gateway_userdata import Client


def _deposit(user, asset: str, amount: str) -> None:
    from chalicelib import admin

    admin.deposit(user.account_id, asset, D(amount), transfer_id=f"tl-{user.account_id}-{asset}-{amount}")


def _balance_updates(c: Client) -> list[tuple[str, str]]:
    return [(e["a"], e["d"]) for e in c.events(kind="balanceUpdate")]


def test_token_logon_is_the_tokens_own_account_and_sees_only_its_events(gateway):
    alice, bob = make_user("tl-a", {"BTC": "1"}), make_user("tl-b", {"BTC": "1"})
    ca, cb = Client(gateway.url), Client(gateway.url)
    try:
        r = ca.request("session.logon", {"token": alice.access_token})       # the web app sends its access token
        assert r["status"] == 200, r
        assert r["result"]["apiKey"] is None and r["result"]["authorizedSince"] > 0
        assert r["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
        assert cb.request("session.logon", {"token": bob.id_token})["status"] == 200   # an ID token works too
        assert ca.request("userDataStream.subscribe")["result"] == {"subscriptionId": 0}
        assert cb.request("userDataStream.subscribe")["result"] == {"subscriptionId": 0}
        assert ca.request("session.status")["result"]["userDataStream"] is True
        # signed reads on the session are the token's account
        now = int(time.time() * 1000)
        assert ca.request("account.status", {"timestamp": now})["result"]["uid"] == alice.account_id
        assert cb.request("account.status", {"timestamp": now})["result"]["uid"] == bob.account_id
        # a client-supplied account id is not a way in
        r = cb.request("session.logon", {"token": bob.id_token, "accountId": alice.account_id})
        assert r["status"] == 400 and r["error"]["code"] == -1106, r

        _deposit(alice, "USDT", "1.5")
        _deposit(bob, "USDT", "2.5")
        _deposit(alice, "ETH", "0.25")
        ca.wait(lambda m: m.get("event", {}).get("a") == "ETH")
        cb.wait(lambda m: m.get("event", {}).get("e") == "balanceUpdate")
        time.sleep(0.3)  # anything misrouted would have arrived by now (events go out in ~ms)
        assert _balance_updates(ca) == [("USDT", "1.50000000"), ("ETH", "0.25000000")]
        assert _balance_updates(cb) == [("USDT", "2.50000000")]
        positions = {b["a"]: b["f"] for e in cb.events(kind="outboundAccountPosition") for b in e["B"]}
        assert "ETH" not in positions and positions.get("USDT") == "2.50000000", positions
    finally:
        ca.close()
        cb.close()


def test_bad_tokens_are_refused_binance_style(gateway):
    from chalicelib.clients import get_clients

    user = make_user("tl-bad", {"BTC": "1"})
    head, payload, sig = user.id_token.split(".")
    other = _claims(user)
    other["sub"] = "someone-else"
    import base64
    import json

    tampered = ".".join([head, base64.urlsafe_b64encode(json.dumps(other).encode()).decode().rstrip("="), sig])
    pool = get_clients().settings.cognito_user_pool_id
    cases = {
        "forged": _token(_claims(user), RSAKey.generate_key(2048)),
        "expired": _token(_claims(user, exp=int(time.time()) - 5)),
        "wrong audience": _token(_claims(user, aud="someotherclient")),
        "other pool": _token(_claims(user, iss=f"https://cognito-idp.us-east-1.amazonaws.com/{pool}x")),
        "access token of another client": _token(_claims(user, token_use="access", client_id="someotherclient")),
        "tampered": tampered,
        "garbage": "not.a.jwt",
    }
    c = Client(gateway.url)
    try:
        assert c.request("session.logon", {"token": _token(_claims(user))})["status"] == 200  # control: well-formed
        assert c.request("session.logout")["result"]["authorizedSince"] is None
        for name, token in cases.items():
            r = c.request("session.logon", {"token": token})
            assert (r["status"], r["error"]["code"]) == (401, -1002), (name, r)
            assert r["error"]["msg"] in ("Invalid token.", "Invalid or expired token."), (name, r)
            assert c.request("userDataStream.subscribe")["error"]["code"] == -1002, name
        for token in ("", None, 12345):
            r = c.request("session.logon", {"token": token})
            assert (r["status"], r["error"]["code"]) == (400, -1102), (token, r)
        assert c.request("session.status")["result"]["authorizedSince"] is None
        # a bad token after a good one does not leave the good session in place either way
        assert c.request("session.logon", {"token": user.access_token})["status"] == 200
        assert c.request("session.logon", {"token": cases["expired"]})["error"]["code"] == -1002
        assert c.request("session.status")["result"]["authorizedSince"] is not None  # the earlier logon stands
    finally:
        c.close()


def test_a_token_subscription_ends_when_the_token_expires_unless_logged_on_again(gateway):
    """Tokens that live ~4 s (minted with the local pool's key; long enough for both
    connections to log on, subscribe and refresh on a loaded machine): connection 1 is
    left to expire; connection 2 logs on again with a fresh token first and keeps its stream."""
    user = make_user("tl-exp", {"BTC": "1"})
    c1, c2 = Client(gateway.url), Client(gateway.url)
    try:
        exp = int(time.time()) + 4
        short = _token(_claims(user, exp=exp))
        for c in (c1, c2):
            assert c.request("session.logon", {"token": short})["status"] == 200
            assert c.request("userDataStream.subscribe")["result"] == {"subscriptionId": 0}
        assert c2.request("session.logon", {"token": _token(_claims(user))})["status"] == 200   # the refresh
        assert time.time() < exp, "the set-up outlived the short token: the test proves nothing"
        c1.wait(lambda m: m.get("subscriptionId") == 0 and m["event"]["e"] == "eventStreamTerminated", timeout=10)
        assert time.time() >= exp
        r = c1.request("account.status", {"timestamp": int(time.time() * 1000)})
        assert r["error"] == {"code": -1002, "msg": "Invalid or expired token."}, r
        assert c1.request("session.status")["result"]["authorizedSince"] is None   # the session is over
        assert c1.request("session.logon", {"token": short})["error"]["code"] == -1002
        assert c1.request("session.subscriptions")["result"] == []
        # connection 2 still streams
        assert c2.request("session.subscriptions")["result"] == [{"subscriptionId": 0}]
        _deposit(user, "USDT", "3")
        c2.wait(lambda m: m.get("event", {}).get("e") == "balanceUpdate")
        assert not c2.events(kind="eventStreamTerminated")
        assert not c1.events(kind="balanceUpdate")
    finally:
        c1.close()
        c2.close()
