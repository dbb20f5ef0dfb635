"""API keys for bots (Binance's X-MBX-APIKEY + HMAC-SHA256 scheme).

The secret is never stored.  It is *derived*: secret = HMAC-SHA256(master, api_key),
with the master key in Secrets Manager (a local-only default on local stages).  The
database keeps only SHA-256 of the secret, so a leaked database reveals no secret,
while the API can still recompute the secret to verify a request's HMAC signature —
which a stored one-way hash alone could not do.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import string
from dataclasses import dataclass

from chalicelib.db import Tx
from chalicelib.errors import ExchangeError, Failure, Reason

_ALPHABET = string.ascii_letters + string.digits
MAX_KEYS_PER_ACCOUNT = 30


@dataclass(frozen=True, slots=True)
class ApiKey:
    api_key: str
    account_id: int
    label: str
    can_read: bool
    can_trade: bool
    ip_allowlist: tuple[str, ...]
    revoked: bool

    def allows_ip(self, ip: str | None) -> bool:
        if not self.ip_allowlist:
            return True
        if not ip:
            return False
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in ipaddress.ip_network(net, strict=False) for net in self.ip_allowlist)




def master_key(settings=None) -> bytes:
    """The master key: from Secrets Manager on AWS stages (cached per container by
    Powertools), the local default on local stages."""
    from chalicelib.settings import get_settings

    s = settings or get_settings()
    if s.api_key_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        return parameters.get_secret(s.api_key_secret_arn, max_age=300).encode()
    return s.api_key_master_secret.encode()


def derive_secret(master: bytes, api_key: str) -> str:
    digest = hmac.new(master, b"apikey:" + api_key.encode(), hashlib.sha256).digest()
    # 64 characters from the alphabet Binance uses for secrets
    n = int.from_bytes(digest + hashlib.sha256(digest).digest(), "big")
    out = []
    for _ in range(64):
        n, r = divmod(n, len(_ALPHABET))
        out.append(_ALPHABET[r])
    return "".join(out)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _normalise_ips(ip_allowlist) -> tuple[str, ...]:
    if not ip_allowlist:
        return ()
    items = ip_allowlist.split(",") if isinstance(ip_allowlist, str) else list(ip_allowlist)
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ExchangeError(Failure(Reason.INVALID_PARAMETER, f"Invalid IP address or network {item!r}.")) from None
    return tuple(out)


def create_key(tx: Tx, account_id: int, master: bytes, label: str = "", can_trade: bool = True,
               ip_allowlist=None) -> tuple[ApiKey, str]:
    """Create a key; return it and its secret (shown to the user once)."""
    if len(label) > 64:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "Label is longer than 64 characters."))
    ips = _normalise_ips(ip_allowlist)
    count = tx.scalar("SELECT count(*) FROM api_keys WHERE account_id = :a AND revoked_at IS NULL", {"a": account_id})
    if count >= MAX_KEYS_PER_ACCOUNT:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, f"At most {MAX_KEYS_PER_ACCOUNT} API keys per account."))
    api_key = "".join(secrets.choice(_ALPHABET) for _ in range(64))
    secret = derive_secret(master, api_key)
    tx.execute("INSERT INTO api_keys (api_key, account_id, label, secret_hash, can_read, can_trade, ip_allowlist)"
               " VALUES (:k, :a, :l, :h, true, :t, :ip)",
               {"k": api_key, "a": account_id, "l": label, "h": secret_hash(secret), "t": bool(can_trade),
                "ip": ",".join(ips) or None})
    return ApiKey(api_key, account_id, label, True, bool(can_trade), ips, False), secret


def _key(row: dict) -> ApiKey:
    ips = tuple(i for i in (row["ip_allowlist"] or "").split(",") if i)
    return ApiKey(row["api_key"], row["account_id"], row["label"], row["can_read"], row["can_trade"], ips,
                  row["revoked_at"] is not None)


def get_key(tx: Tx, api_key: str) -> tuple[ApiKey, str] | None:
    """The key and its stored secret hash, or None."""
    row = tx.one("SELECT api_key, account_id, label, secret_hash, can_read, can_trade, ip_allowlist, revoked_at"
                 " FROM api_keys WHERE api_key = :k", {"k": api_key})
    return (_key(row), row["secret_hash"]) if row else None


def list_keys(tx: Tx, account_id: int) -> list[ApiKey]:
    rows = tx.query("SELECT api_key, account_id, label, can_read, can_trade, ip_allowlist, revoked_at"
                    " FROM api_keys WHERE account_id = :a AND revoked_at IS NULL ORDER BY created_at",
                    {"a": account_id})
    return [_key(r) for r in rows]


def revoke_key(tx: Tx, account_id: int, api_key: str) -> bool:
    """Revoke one of the account's own keys; False if it has no such active key."""
    rows = tx.execute("UPDATE api_keys SET revoked_at = now() WHERE api_key = :k AND account_id = :a"
                      " AND revoked_at IS NULL RETURNING api_key", {"k": api_key, "a": account_id})
    return bool(rows)
