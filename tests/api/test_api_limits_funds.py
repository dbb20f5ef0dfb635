"""Rate limits (weight per IP per minute, orders per account, 429 then 418) and the
local/demo funds flow (admin deposit, withdrawal held, completed or rejected, history)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.api import ratelimit
from tests.api.conftest import make_user


@pytest.fixture
def tight(monkeypatch):
    monkeypatch.setattr(ratelimit, "LIMITS", ratelimit.Limits(weight_per_minute=30, orders_per_10s=2,
                                                              orders_per_day=1000, strikes_before_ban=2))


def test_weight_429_then_418(api, tight, trusted_proxy):
    # through the (local stand-in of) CloudFront, so the viewer address is the key
    ip = {"CloudFront-Viewer-Address": "198.51.100.7:443", **trusted_proxy}
    r = api.get("/v3/exchangeInfo", headers=ip)
    assert r.status_code == 200 and r.headers["X-MBX-USED-WEIGHT-1M"] == "20"
    r = api.get("/v3/exchangeInfo", headers=ip)
    assert (r.status_code, r.json["code"]) == (429, -1003) and int(r.headers["Retry-After"]) > 0
    assert api.get("/v3/ping", headers={"CloudFront-Viewer-Address": "198.51.100.8:443",
                                                **trusted_proxy}).status_code == 200
    codes = [api.get("/v3/ping", headers=ip).status_code for _ in range(3)]
    assert codes[-1] == 418
    r = api.get("/v3/ping", headers=ip)
    assert r.status_code == 418 and r.json["code"] == -1003 and int(r.headers["Retry-After"]) >= 100


def test_order_count_limit(api, tight, trusted_proxy):
    u = make_user("limits", {"USDT": "1000"})
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
              "price": "10000", "newOrderRespType": "ACK"}
    counts = []
    for _ in range(3):
        r = api.signed("POST", "/v3/order", u, params, headers={"CloudFront-Viewer-Address": "198.51.100.20:1",
                                                                       **trusted_proxy})
        counts.append((r.status_code, r.headers.get("X-MBX-ORDER-COUNT-10S")))
    assert counts[:2] == [(200, "1"), (200, "2")]
    assert counts[2] == (429, "3")
    ratelimit.LIMITS = ratelimit.Limits(weight_per_minute=10**9, orders_per_10s=2)
    usage = api.signed("GET", "/v3/rateLimit/order", u).json
    assert usage[0]["count"] == 3 and usage[0]["limit"] == 2


def test_deposit_withdraw_complete_and_reject(api, exchange_env, pg_conn):
    from chalicelib import admin as operator_actions

    u = make_user("funds", {})
    admin = make_user("operator", {})
    operator_actions.set_admin(admin.email, True)  # what `python -m chalicelib.cli grant-admin` does
    admin._tokens = None
    body = {"user": u.email, "asset": "USDT", "amount": "250.5", "transferId": f"dep-{u.account_id}"}
    assert api.web("POST", "/v1/admin/deposits", u.id_token, body).json["code"] == -1002  # not an operator
    r = api.web("POST", "/v1/admin/deposits", admin.id_token, body)
    assert r.status_code == 200 and r.json["status"] == "COMPLETED", r.json
    assert api.web("POST", "/v1/admin/deposits", admin.id_token, body).json["transferId"] == body["transferId"]
    deps = api.signed("GET", "/v1/capital/deposit/hisrec", u).json
    assert isinstance(deps, list), deps
    assert [(d["coin"], d["amount"], d["status"]) for d in deps] == [("USDT", "250.50000000", 1)]

    def balance():
        return {b["asset"]: b for b in api.signed("GET", "/v3/account", u).json["balances"]}["USDT"]

    assert balance()["free"] == "250.50000000"
    w1 = api.signed("POST", "/v1/capital/withdraw/apply", u, {"coin": "USDT", "amount": "100", "address": "addr1"},
                    in_body=True)
    assert w1.status_code == 200, w1.json
    assert balance() == {"asset": "USDT", "free": "150.50000000", "locked": "100.00000000"}
    too_much = api.signed("POST", "/v1/capital/withdraw/apply", u, {"coin": "USDT", "amount": "1000",
                                                                    "address": "addr1"})
    assert too_much.json["code"] == -2010
    assert api.signed("POST", "/v1/capital/withdraw/apply", u, {"coin": "USDT", "amount": "0.000000001",
                                                                "address": "a"}).json["code"] == -1111
    w2 = api.signed("POST", "/v1/capital/withdraw/apply", u, {"coin": "USDT", "amount": "50", "address": "addr2"})
    done = api.web("POST", f"/v1/admin/withdrawals/{w1.json['id']}/complete", admin.id_token, {})
    assert done.json["status"] == "COMPLETED"
    back = api.web("POST", f"/v1/admin/withdrawals/{w2.json['id']}/reject", admin.id_token, {})
    assert back.json["status"] == "REJECTED"
    assert api.web("POST", f"/v1/admin/withdrawals/{w2.json['id']}/complete", admin.id_token, {}).json["code"] == -1130
    assert balance() == {"asset": "USDT", "free": "150.50000000", "locked": "0.00000000"}
    hist = {w["id"]: w["status"] for w in api.signed("GET", "/v1/capital/withdraw/history", u).json}
    assert hist == {w1.json["id"]: 6, w2.json["id"]: 3}
    with pg_conn.cursor() as cur:  # double entry: every transfer's postings sum to zero
        cur.execute("SELECT txn_key, sum(amount) FROM ledger_entries WHERE ref IN (%s, %s, %s) GROUP BY txn_key",
                    (body["transferId"], w1.json["id"], w2.json["id"]))
        rows = cur.fetchall()
    pg_conn.rollback()
    assert len(rows) == 5 and all(total == Decimal(0) for _, total in rows)
