"""The demo faucet the web app's account page uses: only where DEMO_DEPOSITS is on."""
from __future__ import annotations

import pytest

from tests.api.conftest import make_user


@pytest.fixture
def demo_switch(monkeypatch):
    from chalicelib.settings import reset_settings

    def switch(value: str):
        monkeypatch.setenv("DEMO_DEPOSITS", value)
        reset_settings()

    yield switch
    monkeypatch.undo()
    reset_settings()


def usdt(api, user) -> str:
    acct = api.call("GET", "/v3/account", "", headers={"Authorization": f"Bearer {user.id_token}"}).json
    return next(b["free"] for b in acct["balances"] if b["asset"] == "USDT")


def test_demo_deposit_credits_the_signed_in_user_only_when_enabled(api, demo_switch):
    user = make_user("faucet", {"USDT": "1"})
    demo_switch("off")
    refused = api.web("POST", "/v1/capital/deposit/demo", user.id_token, {"asset": "USDT", "amount": "50"})
    assert refused.status_code == 403 and refused.json["code"] == -1002
    demo_switch("on")
    ok = api.web("POST", "/v1/capital/deposit/demo", user.id_token, {"asset": "USDT", "amount": "50.5"})
    assert ok.status_code == 200 and ok.json["asset"] == "USDT" and ok.json["amount"] == "50.50000000"
    assert usdt(api, user) == "51.50000000"
    for body, code in (({"asset": "USDT", "amount": "2000000"}, -1130), ({"asset": "USDT", "amount": "-1"}, -1100),
                       ({"asset": "USDT", "amount": "0.000000001"}, -1111), ({"asset": "NOPE", "amount": "1"}, -1130)):
        bad = api.web("POST", "/v1/capital/deposit/demo", user.id_token, body)
        assert bad.status_code == 400 and bad.json["code"] == code, (body, bad.json)
    assert usdt(api, user) == "51.50000000"  # nothing changed
    anonymous = api.call("POST", "/v1/capital/deposit/demo", body='{"asset": "USDT", "amount": "1"}',
                         content_type="application/json")
    assert anonymous.status_code in (401, 403)
