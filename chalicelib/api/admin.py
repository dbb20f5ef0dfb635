"""Operator routes for local/demo funds: credit a deposit, complete or reject a
withdrawal.  Behind the Cognito authorizer and the ``admin`` group."""
from __future__ import annotations

import re

from chalicelib.amounts import fmt
from chalicelib.errors import ExchangeError, Failure, Reason

_TRANSFER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _view(t) -> dict:
    return {"transferId": t.transfer_id, "accountId": t.account_id, "asset": t.asset, "amount": fmt(t.amount),
            "direction": t.direction, "status": t.status}


def deposit(ctx) -> dict:
    from chalicelib import admin

    a = ctx.args
    user = int(a["user"]) if a["user"].isdigit() else a["user"]
    return _view(admin.deposit(user, a["asset"], a["amount"], a["transferId"]))


def _settle(ctx, complete: bool) -> dict:
    from chalicelib import funds, userevents
    from chalicelib.db import transaction

    transfer_id = ctx.path_param("transferId")
    if not _TRANSFER_ID.match(transfer_id):
        raise ExchangeError(Failure(Reason.ILLEGAL_CHARS, "Illegal characters found in parameter 'transferId'."))
    with transaction() as tx:
        t = funds.settle_withdrawal(tx, transfer_id, complete)
    userevents.publish_transfer(t)  # after the commit
    return _view(t)


def complete_withdrawal(ctx) -> dict:
    return _settle(ctx, True)


def reject_withdrawal(ctx) -> dict:
    return _settle(ctx, False)
