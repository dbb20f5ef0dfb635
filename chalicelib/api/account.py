"""Account reads and the account's deposits and withdrawals (Binance's
``/api/v3/account`` and the ``capital`` endpoints, without the ``sapi`` prefix)."""
from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from chalicelib.amounts import fmt as _s
from chalicelib.errors import ExchangeError, Failure, Reason


def _tx():
    from chalicelib.db import transaction

    return transaction()


def _reads():
    """Reads that need no transaction: one Data API call per statement."""
    from chalicelib.db import autocommit

    return autocommit()


def _dt(ts):
    """A timestamp column as an aware datetime (the Data API sends UTC text)."""
    from datetime import datetime

    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _ms(ts) -> int:
    return int(_dt(ts).timestamp() * 1000) if ts else 0


def _rates(maker: Decimal, taker: Decimal) -> dict:
    return {"maker": _s(maker), "taker": _s(taker), "buyer": _s(0), "seller": _s(0)}


def _default_fees() -> tuple[Decimal, Decimal]:
    from chalicelib.symbols import load_catalog

    specs = list(load_catalog().symbols.values())
    return (max(s.maker_fee for s in specs), max(s.taker_fee for s in specs)) if specs else (Decimal(0), Decimal(0))


def account(ctx) -> dict:
    from chalicelib import accounts
    from chalicelib.symbols import load_catalog

    acct, held, updated = accounts.with_balances(_reads(), ctx.account_id)
    balances = []
    for asset in sorted(load_catalog().assets):
        free, locked = held.get(asset, (Decimal(0), Decimal(0)))
        if ctx.args["omitZeroBalances"] and not free and not locked:
            continue
        balances.append({"asset": asset, "free": _s(free, 8), "locked": _s(locked, 8)})
    maker, taker = _default_fees()
    can_trade = bool(acct.can_trade and ctx.principal.can_trade)
    return {
        "makerCommission": int(maker * 10000), "takerCommission": int(taker * 10000), "buyerCommission": 0,
        "sellerCommission": 0, "commissionRates": _rates(maker, taker), "canTrade": can_trade,
        "canWithdraw": bool(acct.can_withdraw), "canDeposit": bool(acct.can_deposit), "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": int(updated or 0),
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": ctx.account_id,
    }


def commission(ctx) -> dict:
    from chalicelib.symbols import load_catalog

    spec = load_catalog().symbol(ctx.args["symbol"])
    return {"symbol": spec.symbol, "standardCommission": _rates(spec.maker_fee, spec.taker_fee),
            "taxCommission": _rates(Decimal(0), Decimal(0)),
            "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": None,
                         "discount": _s(0)}}


def _history(ctx, direction: str) -> list[dict]:
    from chalicelib import funds

    a = ctx.args
    rows = funds.history(_reads(), ctx.account_id, direction, a["coin"], limit=5000)
    start, end = a["startTime"], a["endTime"]
    out = [r for r in rows if (start is None or _ms(r["created_at"]) >= start)
           and (end is None or _ms(r["created_at"]) <= end)]
    return out[a.get("offset", 0):][: a.get("limit", 1000)]


_DEPOSIT_STATUS = {"PENDING": 0, "COMPLETED": 1, "REJECTED": 7}
_WITHDRAW_STATUS = {"PENDING": 2, "COMPLETED": 6, "REJECTED": 3}


def deposit_history(ctx) -> list:
    rows = _history(ctx, "DEPOSIT")
    status = ctx.args["status"]
    out = [{"id": r["transfer_id"], "amount": _s(r["amount"]), "coin": r["asset"], "network": "LOCAL",
            "status": _DEPOSIT_STATUS[r["status"]], "address": r["address"] or "", "addressTag": "",
            "txId": r["tx_id"] or f"internal:{r['transfer_id']}", "insertTime": _ms(r["created_at"]),
            "transferType": 1, "confirmTimes": "1/1", "unlockConfirm": 0, "walletType": 0}
           for r in rows]
    return [d for d in out if status is None or d["status"] == status]


def _fmt_time(ts) -> str:
    return _dt(ts).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def withdraw_history(ctx) -> list:
    rows = _history(ctx, "WITHDRAWAL")
    status, woid = ctx.args["status"], ctx.args["withdrawOrderId"]
    out = [{"id": r["transfer_id"], "amount": _s(r["amount"]), "transactionFee": _s(0), "coin": r["asset"],
            "status": _WITHDRAW_STATUS[r["status"]], "address": r["address"] or "",
            "txId": r["tx_id"] or "", "applyTime": _fmt_time(r["created_at"]), "network": "LOCAL",
            "transferType": 0, "withdrawOrderId": r["transfer_id"], "info": "",
            "completeTime": _fmt_time(r["updated_at"]) if r["status"] != "PENDING" else ""}
           for r in rows]
    return [d for d in out if (status is None or d["status"] == status) and (woid is None or d["id"] == woid)]


DEMO_DEPOSIT_MAX = Decimal("1000000")  # per request: a demo faucet, not a printing press


def demo_deposit(ctx) -> dict:
    """A signed-in user credits themselves test funds — only where the stage allows it
    (``DEMO_DEPOSITS=on``, which the local stack sets); refused everywhere else."""
    from chalicelib import funds, userevents
    from chalicelib.settings import get_settings

    if get_settings().demo_deposits != "on":
        raise ExchangeError(Failure(Reason.FORBIDDEN, "Demo deposits are not available on this exchange."))
    a = ctx.args
    if a["amount"] > DEMO_DEPOSIT_MAX:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, f"A demo deposit is at most {DEMO_DEPOSIT_MAX}."))
    with _tx() as tx:
        t = funds.credit_deposit(tx, ctx.account_id, a["asset"], a["amount"])
    userevents.publish_transfer(t)  # after the commit
    return {"id": t.transfer_id, "asset": t.asset, "amount": _s(t.amount)}


def withdraw_apply(ctx) -> dict:
    from chalicelib import accounts, funds, userevents

    a = ctx.args
    with _tx() as tx:
        acct = accounts.get_account(tx, ctx.account_id)
        if not acct.can_withdraw:
            raise ExchangeError(Failure(Reason.FORBIDDEN, "Withdrawals are disabled for this account."))
        t = funds.request_withdrawal(tx, ctx.account_id, a["coin"], a["amount"], a["address"], a["withdrawOrderId"])
        if t.account_id != ctx.account_id:  # pragma: no cover - funds refuses a reused id
            raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "Transfer id reused for a different transfer."))
    userevents.publish_transfer(t)  # after the commit
    return {"id": t.transfer_id}
