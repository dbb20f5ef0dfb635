"""API keys of the signed-in user (``/v1/apiKeys``): list, create, revoke.

Only the owner sees or revokes a key: every query is scoped to the principal's account.
"""
from __future__ import annotations

import re

from chalicelib.errors import ExchangeError, Failure, Reason

_KEY = re.compile(r"^[A-Za-z0-9]{64}$")


def _view(key) -> dict:
    return {"apiKey": key.api_key, "label": key.label, "permissions": {"read": key.can_read, "trade": key.can_trade},
            "ipRestrict": bool(key.ip_allowlist), "ipList": list(key.ip_allowlist)}


def list_keys(ctx) -> list:
    from chalicelib import apikeys
    from chalicelib.db import autocommit

    return [_view(k) for k in apikeys.list_keys(autocommit(), ctx.account_id)]


def create_key(ctx) -> dict:
    from chalicelib import apikeys
    from chalicelib.clients import get_clients
    from chalicelib.db import transaction

    master = apikeys.master_key(get_clients().settings)
    can_trade = ctx.args.get("canTrade", True)
    with transaction() as tx:
        key, secret = apikeys.create_key(tx, ctx.account_id, master, ctx.args.get("label", ""), can_trade,
                                         ctx.args["ipList"])
    return {**_view(key), "secretKey": secret}


def revoke_key(ctx) -> dict:
    from chalicelib import apikeys
    from chalicelib.api.auth import forget_key
    from chalicelib.db import transaction

    api_key = ctx.path_param("apiKey")
    if not _KEY.match(api_key):
        raise ExchangeError(Reason.BAD_API_KEY_FMT)
    with transaction() as tx:
        revoked = apikeys.revoke_key(tx, ctx.account_id, api_key)
    if not revoked:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "Unknown API key."))
    forget_key(api_key)
    return {"apiKey": api_key, "revoked": True}
