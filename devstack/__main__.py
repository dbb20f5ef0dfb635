"""``python -m devstack up|down|status`` — the whole exchange on one machine.

``up`` runs in the foreground as a supervisor: it starts PostgreSQL and Redis (given
or embedded), the moto server with the DynamoDB tables, Cognito pool and S3 bucket
defined in ``chalicelib``, the local Aurora Data API, the stream gateway (its
WebSockets reached on the web port), the web app + API, the matcher and the demo
market maker; applies migrations and seeds demo users; prints the URLs;
starts again whatever of it dies (``devstack.stack.Supervisor``); and stops all of it
on Ctrl-C, SIGTERM or ``down``.  State lives in ``.devstack/`` (git-ignored), so
balances survive a restart.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from devstack import stack


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", default=os.environ.get("EXCHANGE_STATE_DIR", str(stack.DEFAULT_STATE_DIR)),
                        help="where pgdata, redis data, logs and the pid file live (default: .devstack/)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start everything (foreground; Ctrl-C stops)")
    up.add_argument("--port", type=int, default=int(os.environ.get("EXCHANGE_PORT", "8000")),
                    help="web app + API port"
                         " (default 8000; the moto server, Data API and stream gateway take the next three)")
    up.add_argument("--moto-port", type=int, default=None)
    up.add_argument("--dataapi-port", type=int, default=None)
    up.add_argument("--gateway-port", type=int, default=None,
                    help="the stream gateway's internal port (clients use ws://<web>/ws, /stream, /ws-api/v3)")
    up.add_argument("--no-demo", action="store_true", help="do not create demo users and balances")
    up.add_argument("--no-matcher", action="store_true", help="do not start the matcher")
    up.add_argument("--no-bot", action="store_true", help="do not start the demo market-maker bot")
    up.add_argument("--json", action="store_true", help="print the ready line as JSON")
    down = sub.add_parser("down", help="stop a running stack")
    down.add_argument("--timeout", type=float, default=30.0)
    status = sub.add_parser("status", help="show what runs and whether it is healthy")
    status.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    state_dir = Path(args.state_dir).resolve()

    if args.command == "up":
        moto_port = args.moto_port or args.port + 1
        dataapi_port = args.dataapi_port or args.port + 2
        gateway_port = args.gateway_port or args.port + 3
        ports = stack.Ports(web=args.port, moto=moto_port, dataapi=dataapi_port, gateway=gateway_port)
        options = stack.Options(demo=not args.no_demo, matcher=not args.no_matcher, bot=not args.no_bot)
        return stack.up(state_dir, ports, options, as_json=args.json)
    if args.command == "down":
        return stack.down(state_dir, timeout=args.timeout)
    return stack.status(state_dir, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
