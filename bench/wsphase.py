"""``bench/pipeline.py --path ws``: the same order flow over the WebSocket API.

A real gateway process (``python -m bench.gateway_counted``: ``python -m gateway`` with
request counters) on the run's servers, a fresh ``matcher.instrumented``, and the load
threads of :func:`bench.pipeline.run_pipeline` placing their orders with ``order.place``
on logged-on sessions (:mod:`bench.wsclient`).  Counted per order, like the REST path:
DynamoDB units, stream reads and Data API calls (the gateway's and the matcher's
requests), log bytes (the gateway's and the matcher's output); and what only this path
has: the gateway process's CPU seconds (psutil, before/after the load) and peak memory,
and the connections and bytes the ALB would process.  Priced by
``bench.pricing.per_million_orders_ws``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def _stats(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {"requests": {}, "request_shape": {}}


def _minus(after: dict, before: dict) -> tuple[dict, dict]:
    """The requests (and their shape) counted between two reads of the stats file."""
    req = {k: v - before["requests"].get(k, 0) for k, v in after["requests"].items()}
    shape = {}
    for k, sh in after["request_shape"].items():
        b = before["request_shape"].get(k, {})
        shape[k] = {f: sh.get(f, 0) - b.get(f, 0) for f in ("req_bytes", "resp_bytes", "items")}
    return {k: v for k, v in req.items() if v}, shape


def ws_phase(args, env: dict, tmp: Path, accounts: list[int], procs: list) -> None:
    import psutil

    from bench.pipeline import ROOT, dynamodb_units, free_port, matcher_env, run_pipeline, start_matcher
    from bench.pricing import WsPerOrder, gateway_task, report_ws
    from bench.wsclient import Usage, WsTrader
    from chalicelib import admin
    from devstack.stack import http_ok, wait_until

    keys = {}
    for a in accounts:
        key, secret = admin.create_api_key(a, "bench-ws")
        keys[a] = (key.api_key, secret)
    port = free_port()
    gstats, glog = tmp / "gateway-stats.json", tmp / "gateway.log"
    genv = {**os.environ, **env, "GATEWAY_STATS_FILE": str(gstats)}
    gateway = subprocess.Popen([sys.executable, "-m", "bench.gateway_counted", "--host", "127.0.0.1", "--port",
                                str(port)], cwd=str(ROOT), env=genv, stdout=open(glog, "ab"),
                               stderr=subprocess.STDOUT)
    procs.insert(0, gateway)
    wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), "stream gateway")
    mstats_file = tmp / "matcher-stats-ws.json"
    matcher = start_matcher(matcher_env(env, mstats_file), tmp / "matcher-ws.log", procs)
    time.sleep(3)  # the matcher's start and the gateway's warm-up, outside the counted window
    proc = psutil.Process(gateway.pid)
    usage = Usage()
    url = f"ws://127.0.0.1:{port}/ws-api/v3"
    peak_rss = [proc.memory_info().rss]
    sampling = threading.Event()

    def sample_rss() -> None:
        while not sampling.wait(0.25):
            peak_rss[0] = max(peak_rss[0], proc.memory_info().rss)

    before, cpu0, log0 = _stats(gstats), proc.cpu_times(), glog.stat().st_size
    threading.Thread(target=sample_rss, daemon=True).start()
    print(f"pipeline (WebSocket API): {args.seconds:.0f} s of crossing LIMIT orders from {args.threads} threads,"
          f" order.place on logged-on sessions ...", flush=True)
    res = run_pipeline(args.seconds, args.threads, accounts, args.resp_type,
                       placer=lambda k: WsTrader(url, keys, usage, args.resp_type))
    cpu1, log1 = proc.cpu_times(), glog.stat().st_size
    sampling.set()
    conn_s = usage.connection_seconds(time.monotonic())
    gateway.terminate()
    gateway.wait(30)
    matcher.terminate()
    matcher.wait(30)
    greq, gshape = _minus(_stats(gstats), before)
    mstats = json.loads(mstats_file.read_text())
    n = max(1, res["orders"])
    cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    units = dynamodb_units(greq, gshape, mstats)
    matcher_log = (tmp / "matcher-ws.log").stat().st_size
    data_api = sum(v for k, v in greq.items() if k.startswith("rds-data") and k != "rds-data.autocommit")
    per = WsPerOrder(connections=usage.connections / n, connection_seconds=conn_s / n,
                     bytes_in=usage.bytes_in / n, bytes_out=usage.bytes_out / n, gateway_cpu_s=cpu_s / n,
                     wru=units["wru"] / n, rru=units["rru"] / n,
                     stream_reads=mstats["requests"].get("dynamodbstreams.GetRecords", 0) / n,
                     data_api_calls=data_api / n, log_bytes=(log1 - log0) / n + matcher_log / n)
    cpu, mem = gateway_task(args.stage)
    print(json.dumps({"ws": {**res, "gateway_requests": greq, "gateway_cpu_s": cpu_s,
                             "gateway_peak_rss_mib": peak_rss[0] / 2**20, "connections": usage.connections,
                             "messages": usage.messages, "cost_usage_per_order": per.__dict__}},
                     indent=2, default=str))
    print(f"\nWebSocket API: sustained {res['orders_per_s']:.1f} orders/s ({res['orders']} orders,"
          f" {res['errors']} errors, in {res['seconds']:.0f} s; settled throughput"
          f" {res['settled_orders_per_s']:.1f}/s); order.place round trip {res['request_ms']['p50']:.0f} ms p50"
          f" ({args.resp_type})")
    print(f"per order, counted: gateway {per.gateway_cpu_s * 1000:.2f} ms CPU (peak RSS"
          f" {peak_rss[0] / 2**20:.0f} MiB; task {cpu} CPU / {mem} MiB), {per.bytes_in:.0f} B in +"
          f" {per.bytes_out:.0f} B out, {per.connections:.4f} connections, {per.wru:.3f} WRU, {per.rru:.3f} RRU,"
          f" {per.stream_reads:.4f} GetRecords, {per.data_api_calls:.2f} Data API calls,"
          f" logs {(log1 - log0) / n:.0f} B gateway + {matcher_log / n:.0f} B matcher")
    print(report_ws(per, args.stage))
