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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
