"""Operator CLI: ``python -m chalicelib.cli <command>`` (``--json`` for machine output).

Against the local stack it picks up ``.devstack/env`` by itself; against AWS it reads
the same environment variables as the Lambdas (see README, "Operator CLI").
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from chalicelib.amounts import fmt, parse_decimal
from chalicelib.errors import ExchangeError


def _load_local_env() -> None:
    """Use the running local stack's settings unless a stage is configured."""
    state_dir = os.environ.get("EXCHANGE_STATE_DIR") or Path(__file__).resolve().parent.parent / ".devstack"
    state = Path(state_dir) / "stack.json"
    if os.environ.get("EXCHANGE_STAGE") or not state.exists():
        return
    try:
        env = json.loads(state.read_text()).get("env", {})
    except ValueError:
        return
    for k, v in env.items():
        os.environ.setdefault(k, v)


def _out(args, data, text: str) -> None:
    if args.json:
        print(json.dumps(data, default=str))
    else:
        print(text)


# -- operator role (grant-admin / revoke-admin) ------------------------------------------------
def _admin_role_parsers(sub) -> None:
    for name, what in (("grant-admin", "give a user operator rights (Aurora role + Cognito group)"),
                       ("revoke-admin", "take a user's operator rights away (Aurora role + Cognito group)")):
        sub.add_parser(name, help=what).add_argument("user", help="email or account id")


def _admin_role(args) -> None:
    from chalicelib import admin

    r = admin.set_admin(args.user, args.command == "grant-admin")
    _out(args, r, f"account {r['accountId']} ({r['email']}) is {'now' if r['admin'] else 'no longer'} an operator")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description="Exchange operator commands.")
    parser.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations (through the Data API)")
    p = sub.add_parser("create-user", help="create a user (Cognito + account)")
    p.add_argument("email")
    p.add_argument("--password", help="set a permanent password (else Cognito's invitation flow)")
    p = sub.add_parser("deposit", help="credit a deposit")
    p.add_argument("user", help="email or account id")
    p.add_argument("asset")
    p.add_argument("amount")
    p.add_argument("--transfer-id", help="idempotency key (default: random)")
    p = sub.add_parser("create-api-key", help="create an API key (the secret is printed once)")
    p.add_argument("user")
    p.add_argument("--label", default="")
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--ip", action="append", help="allow only this IP/network (repeatable)")
    p = sub.add_parser("balances", help="list a user's balances")
    p.add_argument("user")
    _admin_role_parsers(sub)
    _add_audit_book(sub)
    _add_move_symbol(sub)
    add_smoke_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "smoke":       # over HTTP only: needs no settings
        return smoke(args)
    _load_local_env()

    from chalicelib import admin
    from chalicelib.settings import SettingsError

    try:
        if args.command == "migrate":
            applied = admin.migrate(progress=None if args.json else
                                    (lambda m: print(f"applying {m.version:04d}_{m.name} ...", flush=True)))
            _out(args, {"applied": applied}, f"applied {len(applied)} migration(s)" if applied else "up to date")
        elif args.command == "create-user":
            user = admin.create_user(args.email, args.password)
            _out(args, user.__dict__, f"user {user.username} has account {user.account_id}")
        elif args.command == "deposit":
            amount = parse_decimal(args.amount, "amount")
            t = admin.deposit(args.user, args.asset, amount, args.transfer_id)
            _out(args, {"transferId": t.transfer_id, "accountId": t.account_id, "asset": t.asset,
                        "amount": str(t.amount), "status": t.status},
                 f"credited {t.amount} {t.asset} to account {t.account_id} (transfer {t.transfer_id})")
        elif args.command == "create-api-key":
            key, secret = admin.create_api_key(args.user, args.label, not args.read_only, args.ip)
            _out(args, {"apiKey": key.api_key, "secretKey": secret, "canTrade": key.can_trade,
                        "ipAllowlist": list(key.ip_allowlist)},
                 f"API key:    {key.api_key}\nSecret key: {secret}\n(the secret is shown only now)")
        elif args.command in ("grant-admin", "revoke-admin"):
            _admin_role(args)
        elif args.command == "balances":
            rows = admin.balances(args.user)
            data = [{"asset": r["asset"], "free": fmt(r["free"], r["precision"]),
                     "locked": fmt(r["locked"], r["precision"])} for r in rows]
            _out(args, {"balances": data},
                 "\n".join(f"{d['asset']:<6} free {d['free']:>22}  locked {d['locked']:>22}" for d in data)
                 or "no balances")
        elif args.command == "audit-book":
            return _audit_book(args)
        elif args.command in ("move-symbol", "halt-symbol"):
            return _move_symbol(args)
    except ExchangeError as exc:
        _out(args, exc.failure.body(), f"error {exc.failure.code}: {exc.failure.msg}")
        return 1
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # outages: one line, not a traceback
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, (BotoCoreError, ClientError)):
            print(f"error: cannot reach the exchange's AWS services ({exc}); is the local stack up"
                  " (`make run`) or the environment set for AWS?", file=sys.stderr)
            return 2
        raise
    return 0


# -- audit-book (issue 11) -----------------------------------------------------------------
def _add_audit_book(sub) -> None:
    p = sub.add_parser("audit-book", help="check that the matcher's book of SYMBOL holds exactly Aurora's open orders")
    p.add_argument("symbol")
    p.add_argument("--discard-dynamodb", action="store_true",
                   help="when the book disagrees with Aurora, delete its DynamoDB snapshot and journal so that the"
                        " matcher rebuilds it from Aurora when it next takes the symbol (restart the matcher)")


def _audit_book(args) -> int:
    """The matcher's takeover audit (:mod:`chalicelib.bookaudit`), run by an operator:
    the book DynamoDB holds (snapshot + journal, replayed up to what Aurora settled)
    against Aurora's open orders.  Exit code 0 when they agree, 1 when they do not (or
    DynamoDB no longer accounts for Aurora: the matcher rebuilds the book from Aurora
    at its next takeover), with the differences printed.

    The replay needs the matching engine, imported here and only here: the operator
    CLI runs from the source tree, the Lambdas never run this command."""
    from chalicelib import bookaudit
    from chalicelib.clients import get_clients
    from chalicelib.db import transaction
    from chalicelib.errors import Reason
    from chalicelib.symbols import load_catalog
    from chalicelib.trading.codec import SymbolCodec
    from matcher.engine import FastBook
    from matcher.service.journal import Journal
    from matcher.service.recovery import load_dynamo_book
    from matcher.service.worker import command

    symbol = args.symbol.upper()
    spec = load_catalog().symbol(symbol)
    if spec is None:
        raise ExchangeError(Reason.BAD_SYMBOL)
    clients = get_clients()
    s = clients.settings
    journal = Journal(clients.dynamodb, s.journal_table, s.book_table)
    snapshot = journal.load_snapshot(symbol)  # before Aurora: it is never ahead of what Aurora settled
    with transaction(clients) as tx:
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # one view of progress and orders
        aurora = bookaudit.read_aurora_book(tx, spec, symbol)
    # after Aurora: every settled entry was journaled before it was settled
    dyn = load_dynamo_book(journal, symbol, FastBook, SymbolCodec(spec).filters)
    if snapshot is not None and dyn.snapshot_seq != snapshot[0]:
        dyn.gap = "the snapshot moved while reading; run the audit again"
    if not dyn.covers(aurora.settled_seq):
        reason = dyn.gap or (f"DynamoDB's book ends at seq {dyn.last_seq}, Aurora settled up to"
                             f" {aurora.settled_seq}")
        _out(args, {"symbol": symbol, "ok": False, "covered": False, "reason": reason,
                    "settledSeq": aurora.settled_seq, "auroraOrders": len(aurora.orders)},
             f"{symbol}: DynamoDB does not account for Aurora ({reason}); the matcher rebuilds the book from"
             f" Aurora's {len(aurora.orders)} open orders when it next takes the symbol")
        return 1
    for e in dyn.entries:
        if e.seq <= aurora.settled_seq:
            dyn.book.process(command(e))
    result = bookaudit.compare(symbol, dyn.book.export_state(), aurora)
    discarded = None
    if not result.ok and args.discard_dynamodb and not aurora.problems:
        discarded = journal.discard(symbol)
    _out(args, {"symbol": symbol, "ok": result.ok, "covered": True, "settledSeq": aurora.settled_seq,
                "auroraOrders": result.aurora_orders, "bookOrders": result.book_orders,
                "differences": result.differences, "discardedJournalItems": discarded},
         result.message() + f" at settled seq {aurora.settled_seq}" + (
             "" if discarded is None else f"\ndiscarded its DynamoDB snapshot and {discarded} journal item(s):"
                                         " restart the matcher to rebuild the book from Aurora"))
    return 0 if result.ok else 1
# -- move-symbol (issue 14): a symbol to another matcher group ------------------------------------
def _add_move_symbol(sub) -> None:
    p = sub.add_parser("move-symbol", help="move SYMBOL to matcher GROUP: halt, drain, snapshot, reassign, resume"
                                           " (also resumes a halted symbol)")
    p.add_argument("symbol")
    p.add_argument("group", type=int)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each group (default 60)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the new group to take the symbol")
    p = sub.add_parser("halt-symbol", help="stop matching SYMBOL: drain, snapshot, release (move-symbol resumes it)")
    p.add_argument("symbol")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for its group (default 60)")


def _move_symbol(args) -> int:
    """See :mod:`matcher.service.groups` (the operator CLI runs from the matcher's image)."""
    from chalicelib.clients import get_clients
    from matcher.service.groups import MoveError, halt_symbol, move_symbol

    clients = get_clients()
    if args.command == "halt-symbol":
        try:
            route = halt_symbol(clients.dynamodb, clients.settings.leases_table, args.symbol.upper(),
                                timeout_s=args.timeout)
        except MoveError as exc:
            _out(args, {"error": str(exc)}, f"error: {exc}")
            return 1
        _out(args, {"symbol": route.symbol, "group": route.group, "state": route.state, "haltedSeq": route.halted_seq},
             f"{route.symbol}: halted in group {route.group} at seq {route.halted_seq};"
             f" `move-symbol {route.symbol} GROUP` resumes it")
        return 0
    try:
        r = move_symbol(clients.dynamodb, clients.settings.leases_table, args.symbol.upper(), args.group,
                        timeout_s=args.timeout, wait_resume=not args.no_wait)
    except MoveError as exc:
        _out(args, {"error": str(exc)}, f"error: {exc}")
        return 1
    text = (f"{r.symbol} is in group {r.to_group} already" if not r.moved else
            f"{r.symbol}: group {r.from_group} -> {r.to_group} (halted at seq {r.halted_seq})"
            + (f"; taken by {r.owner} with fencing token {r.fencing_token}" if r.owner else "")
            + f"\n(its route item overrides symbols.json: set \"group\": {r.to_group} there to record the move)")
    _out(args, r.as_dict(), text)
    return 0


# -- smoke test of a deployment (over its public URL only) -----------------------------------
def add_smoke_parser(sub) -> None:
    p = sub.add_parser("smoke", help="smoke-test a deployment: ping, sign in, create a key, place and cancel "
                                     "an order, revoke the key")
    p.add_argument("--base", required=True, help="the site URL (CloudFront WebUrl) or the local stack's URL")
    p.add_argument("--email", default=os.environ.get("SMOKE_EMAIL"), help="a user with a little quote asset "
                                                                          "(env SMOKE_EMAIL)")
    p.add_argument("--password", default=os.environ.get("SMOKE_PASSWORD"), help="(env SMOKE_PASSWORD)")
    p.add_argument("--totp-secret", default=os.environ.get("SMOKE_TOTP_SECRET"),
                   help="base32 TOTP secret when the user has MFA (env SMOKE_TOTP_SECRET)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--price", default="10.00", help="far from the market: the order must rest, not fill")
    p.add_argument("--quantity", default="0.50000")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the matcher")


def _totp(secret_b32: str, at: float | None = None) -> str:
    """RFC 6238 code (30 s, 6 digits, SHA-1), as authenticator apps compute it."""
    import base64
    import hashlib
    import hmac
    import struct
    import time

    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int((at or time.time()) // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


class SmokeFailure(RuntimeError):
    pass


def smoke(args) -> int:
    """Each step prints one line; the first failure stops it with exit code 1."""
    import hashlib
    import hmac
    import time
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    base = args.base.rstrip("/") + "/api"

    def call(method: str, path: str, params: dict | None = None, *, token: str | None = None,
             key: tuple[str, str] | None = None) -> dict:
        items = {k: str(v) for k, v in (params or {}).items()}
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["X-MBX-APIKEY"] = key[0]
            items["timestamp"] = str(int(time.time() * 1000))
        text = urlencode(items)
        if key:
            text += "&signature=" + hmac.new(key[1].encode(), text.encode(), hashlib.sha256).hexdigest()
        body = None
        url = base + path
        if method in ("POST", "PUT"):
            body = text.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif text:
            url += "?" + text
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            raise SmokeFailure(f"{method} {path}: HTTP {exc.code} {raw[:300].decode('utf-8', 'replace')}") from None
        except urllib.error.URLError as exc:
            raise SmokeFailure(f"{method} {path}: {exc.reason}") from None
        return json.loads(raw) if raw else {}

    def step(text: str) -> None:
        print(f"ok   {text}", flush=True)

    key = None
    token = None
    try:
        if call("GET", "/v3/ping") != {}:
            raise SmokeFailure("GET /v3/ping did not answer {}")
        step("ping")
        if not (args.email and args.password):
            raise SmokeFailure("--email and --password (or SMOKE_EMAIL/SMOKE_PASSWORD) are needed past ping")
        r = call("POST", "/v1/auth/signIn", {"email": args.email, "password": args.password})
        if "challengeName" in r:
            if not args.totp_secret:
                raise SmokeFailure(f"sign-in asks for {r['challengeName']}: pass --totp-secret")
            r = call("POST", "/v1/auth/respondToChallenge", {"email": args.email, "session": r["session"],
                                                             "code": _totp(args.totp_secret)})
        token = r["idToken"]
        step(f"signed in as {args.email}")
        k = call("POST", "/v1/apiKeys", {"label": "smoke"}, token=token)
        key = (k["apiKey"], k["secretKey"])
        step(f"created API key {key[0][:8]}...")
        order = call("POST", "/v3/order", {"symbol": args.symbol, "side": "BUY", "type": "LIMIT",
                                           "timeInForce": "GTC", "quantity": args.quantity, "price": args.price},
                     key=key)
        oid = order["orderId"]
        step(f"placed order {oid} ({args.symbol} BUY {args.quantity} @ {args.price})")

        def wait_for(statuses: tuple[str, ...]) -> str:
            deadline = time.monotonic() + args.timeout
            status = ""
            while time.monotonic() < deadline:
                status = call("GET", "/v3/order", {"symbol": args.symbol, "orderId": oid}, key=key)["status"]
                if status in statuses:
                    return status
                time.sleep(0.5)
            raise SmokeFailure(f"order {oid} still {status or 'unknown'} after {args.timeout:.0f} s "
                               f"(is the matcher running?)")

        status = wait_for(("NEW", "PARTIALLY_FILLED", "FILLED", "REJECTED", "EXPIRED"))
        if status != "NEW":
            raise SmokeFailure(f"order {oid} is {status}, expected it to rest as NEW (use a price off the market)")
        step(f"order {oid} is on the book")
        call("DELETE", "/v3/order", {"symbol": args.symbol, "orderId": oid}, key=key)
        wait_for(("CANCELED",))
        step(f"cancelled order {oid}")
    except SmokeFailure as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    finally:
        if key and token:
            try:
                call("DELETE", f"/v1/apiKeys/{key[0]}", token=token)
                step("revoked the API key")
            except SmokeFailure as exc:
                print(f"FAIL revoking the smoke key: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
