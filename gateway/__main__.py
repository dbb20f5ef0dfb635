"""``python -m gateway --host H --port P``: the stream gateway service (the Fargate
container's entry point).  SIGTERM/SIGINT tell every client ``serverShutdown`` and
stop."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from gateway.server import MAX_LIFETIME_S, Gateway, GatewayConfig


async def emit_connections(gw: Gateway, every_s: float) -> None:
    """The open client connections of this process, as an EMF metric the service
    scales on (infra/config.py METRICS["gateway_connections"]; CloudWatch reads it off
    the log stream)."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace="Exchange", service="gateway")
    while gw.server is None:
        await asyncio.sleep(0.05)
    while True:
        metrics.add_metric(name="GatewayConnections", unit=MetricUnit.Count, value=len(gw.hub.conns))
        try:
            metrics.flush_metrics(raise_on_empty_metrics=False)
            sys.stdout.flush()
        except Exception:  # never let metrics take the gateway down
            logging.getLogger("gateway").exception("metrics flush failed")
        await asyncio.sleep(every_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9443, help="0: any free port (printed on start)")
    ap.add_argument("--max-lifetime", type=float, default=MAX_LIFETIME_S, help="connection lifetime, s")
    ap.add_argument("--ping-interval", type=float, default=20.0, help="server ping every S seconds")
    ap.add_argument("--ping-timeout", type=float, default=60.0, help="close if no pong within S seconds")
    ap.add_argument("--metrics-every", type=float, default=0,
                    help="emit the open-connections metric (EMF on stdout) every S seconds; 0: never")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    gw = Gateway(GatewayConfig(host=args.host, port=args.port, max_lifetime_s=args.max_lifetime,
                               ping_interval_s=args.ping_interval, ping_timeout_s=args.ping_timeout))

    async def run() -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)

        async def announce():
            while gw.server is None:
                await asyncio.sleep(0.05)
            print(f"gateway listening on {args.host}:{gw.port}", flush=True)

        tasks = [loop.create_task(announce())]
        if args.metrics_every > 0:
            tasks.append(loop.create_task(emit_connections(gw, args.metrics_every)))
        await gw.run(stopped=stopped)
        for task in tasks:
            task.cancel()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
