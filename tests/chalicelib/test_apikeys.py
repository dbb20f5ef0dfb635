import uuid

import pytest

from chalicelib import accounts, apikeys
from chalicelib.db import transaction
from chalicelib.errors import ExchangeError

MASTER = b"test-master"


@pytest.fixture
def account(exchange_env):
    with transaction() as tx:
        return accounts.ensure_account(tx, f"keys-{uuid.uuid4().hex[:8]}@t.local").account_id


def test_secret_is_derived_not_stored(account, pg_conn):
    with transaction() as tx:
        key, secret = apikeys.create_key(tx, account, MASTER, "bot", can_trade=True,
                                         ip_allowlist="10.0.0.0/8, 127.0.0.1")
    assert len(key.api_key) == 64 and len(secret) == 64
    assert apikeys.derive_secret(MASTER, key.api_key) == secret
    assert apikeys.derive_secret(b"other", key.api_key) != secret
    stored = pg_conn.execute("SELECT secret_hash, ip_allowlist FROM api_keys WHERE api_key = %s",
                             (key.api_key,)).fetchone()
    assert secret not in stored[0] and stored[0] == apikeys.secret_hash(secret)
    assert key.allows_ip("10.1.2.3") and key.allows_ip("127.0.0.1") and not key.allows_ip("192.0.2.1")


def test_revoke_only_own_keys(account):
    with transaction() as tx:
        other = accounts.ensure_account(tx, f"keys-other-{uuid.uuid4().hex[:8]}@t.local").account_id
        key, _ = apikeys.create_key(tx, account, MASTER)
    with transaction() as tx:
        assert apikeys.revoke_key(tx, other, key.api_key) is False
        assert [k.api_key for k in apikeys.list_keys(tx, account)] == [key.api_key]
        assert apikeys.revoke_key(tx, account, key.api_key) is True
        assert apikeys.revoke_key(tx, account, key.api_key) is False
        found, _ = apikeys.get_key(tx, key.api_key)
        assert found.revoked and apikeys.list_keys(tx, account) == []


def test_bad_ip_allowlist_is_a_parameter_error(account):
    with pytest.raises(ExchangeError):
        with transaction() as tx:
            apikeys.create_key(tx, account, MASTER, ip_allowlist="not-an-ip")
