"""List prices, and what counted requests cost at them (issue 14: counted cost).

One dated table (:data:`PRICES`, us-east-1, USD, on-demand list prices with no free
tier and no savings plans, as of :data:`AS_OF`; check them against the AWS Pricing
Calculator before relying on them), and two computations:

* :func:`per_million_orders`: the traffic cost of 1M orders from the requests a
  benchmark *counted* per order (``bench/pipeline.py`` prints it as
  ``cost: $X.XX per 1M orders``) -- the REST path: CloudFront, WAF, API Gateway
  REST, Lambda (requests and GB-s at the stage's memory and architecture), DynamoDB
  write/read units, stream GetRecords, Data API calls, CloudWatch Logs ingestion and
  X-Ray traces at the stage's sampling rate;
* :func:`per_million_orders_ws`: the same for orders placed over the gateway's
  WebSocket API (``bench/pipeline.py --path ws`` prints it as ``cost (WebSocket API
  path): $X.XX per 1M orders``) -- CloudFront (the upgrade request and data transfer),
  WAF on the upgrade, the ALB's LCUs (the dimension that dominates), the gateway's
  Fargate time from its measured CPU per order, and the shared back-end items;
* :func:`baseline`: the fixed monthly cost of a stage from the templates' sizes
  (``infra/config.py``): Aurora at its minimum ACUs (writer + reader), Redis nodes,
  NAT gateways, interface endpoints, the matcher's Fargate tasks, the internal ALB,
  WAF ACLs, keys and secrets.

Money here is Decimal, as everywhere in the project.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal as D

AS_OF = "2026-11-30"
REGION = "us-east-1"
HOURS_PER_MONTH = 730
M = D(1_000_000)

PRICES: dict[str, D] = {
    # per request / unit (USD)
    "cloudfront_https_request": D("0.0100") / 10_000,     # North America, HTTPS
    "waf_request": D("0.60") / M,                          # per web ACL that inspects the request
    "apigw_rest_request": D("3.50") / M,                   # first 333M a month
    "lambda_request": D("0.20") / M,
    "lambda_gb_s_x86_64": D("0.0000166667"),
    "lambda_gb_s_arm64": D("0.0000133334"),
    "dynamodb_wru": D("0.625") / M,                        # on-demand write request unit (1 KB)
    "dynamodb_rru": D("0.125") / M,                        # on-demand read request unit (4 KB strongly consistent)
    "dynamodb_stream_read_request": D("0.02") / 100_000,   # GetRecords
    "data_api_request": D("0.35") / M,                     # Aurora Data API, first 1B a month
    "cloudwatch_logs_gb": D("0.50"),                       # ingestion (standard class)
    "xray_trace": D("5.00") / M,                           # traces recorded
    # the WebSocket API path (gateway on Fargate behind the internal ALB behind CloudFront).
    # CloudFront bills a WebSocket connection as one HTTP(S) request (the upgrade) plus
    # data transfer both ways; the messages on an open connection are not requests
    # (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/distribution-working-with.websockets.html,
    # https://aws.amazon.com/cloudfront/pricing/: "requests" are HTTP(S) requests, data
    # transfer out to the internet and out to the origin priced per GB).
    "cloudfront_dto_internet_gb": D("0.085"),              # North America, first 10 TB a month
    "cloudfront_dto_origin_gb": D("0.020"),                # North America, to the origin (client -> gateway)
    # ALB: the hour's LCUs are the largest of its dimensions
    # (https://aws.amazon.com/elasticloadbalancing/pricing/): 25 new connections/s,
    # 3,000 active connections (per minute), 1 GB processed per hour (EC2/IP targets),
    # 1,000 rule evaluations/s past the first 10 -- a WebSocket's frames are processed
    # bytes; its rules are evaluated once, on the upgrade request
    "alb_lcu_new_connections_per_s": D(25),
    "alb_lcu_active_connections": D(3000),
    "alb_lcu_processed_gb_per_hour": D(1),
    "alb_lcu_rule_evaluations_per_s": D(1000),
    # fixed, per hour or month
    "aurora_acu_hour": D("0.12"),
    "nat_gateway_hour": D("0.045"),
    "interface_endpoint_az_hour": D("0.01"),
    "alb_hour": D("0.0225"),
    "alb_lcu_hour": D("0.008"),
    "fargate_arm64_vcpu_hour": D("0.03238"),
    "fargate_arm64_gb_hour": D("0.00356"),
    "waf_acl_month": D("5.00"),
    "waf_rule_month": D("1.00"),
    "kms_key_month": D("1.00"),
    "secret_month": D("0.40"),
    "cloudwatch_alarm_month": D("0.10"),
    "cloudwatch_dashboard_month": D("3.00"),
}
REDIS_NODE_HOUR: dict[str, D] = {"cache.t4g.micro": D("0.016"), "cache.t4g.small": D("0.032"),
                                 "cache.r7g.large": D("0.219")}

# the Lambda runtime's own lines per invocation (START, END, REPORT; with X-Ray the
# REPORT line carries the trace id): ~330 bytes, measured from a Python 3.12 function's
# log stream; not something a local run can produce
LAMBDA_PLATFORM_LOG_BYTES = 330


@dataclass(frozen=True)
class PerOrder:
    """What one order costs in requests, as counted by a benchmark."""

    api_requests: float = 1.0            # REST requests (POST /api/v3/order)
    lambda_ms: float = 0.0               # billed duration per request (ms)
    wru: float = 0.0                     # DynamoDB write request units
    rru: float = 0.0                     # DynamoDB read request units
    stream_reads: float = 0.0            # GetRecords calls
    data_api_calls: float = 0.0
    log_bytes: float = 0.0               # CloudWatch Logs ingested (API + matcher)


@dataclass(frozen=True)
class WsPerOrder:
    """What one order placed over the WebSocket API costs, as counted by a benchmark:
    the front door's usage (connections, bytes, the gateway's CPU) and the shared
    back-end items counted as for the REST path."""

    connections: float = 0.0             # WebSocket connections opened (upgrade requests) per order
    connection_seconds: float = 0.0      # connection-seconds open per order (ALB active connections)
    bytes_in: float = 0.0                # client -> gateway, handshake + frames
    bytes_out: float = 0.0               # gateway -> client
    gateway_cpu_s: float = 0.0           # the gateway process's CPU seconds (user + system)
    wru: float = 0.0
    rru: float = 0.0
    stream_reads: float = 0.0
    data_api_calls: float = 0.0
    log_bytes: float = 0.0               # CloudWatch Logs ingested (gateway + matcher)


#: CPU the gateway's tasks run at on average before scaling out: the target of the CPU
#: scaling policy (infra/stacks/gateway.py, 60 %).  Fargate bills the task, not its use,
#: so a CPU-second of orders costs the task for 1/0.6 seconds.
GATEWAY_CPU_TARGET = D("0.60")


def gateway_task(stage: str) -> tuple[int, int]:
    """(CPU units, memory MiB) of the gateway's Fargate task for ``stage``."""
    from infra.config import STAGES

    cfg = STAGES[stage]
    return cfg.gateway_cpu, cfg.gateway_memory_mib


def alb_lcu_hours(usage: WsPerOrder, orders: D) -> dict[str, D]:
    """LCU-hours of ``orders`` orders in each ALB dimension (the bill takes the largest)."""
    p = PRICES
    q = lambda x: D(repr(x))  # noqa: E731
    return {
        "processed bytes": q(usage.bytes_in + usage.bytes_out) * orders / D(10**9) / p["alb_lcu_processed_gb_per_hour"],
        "new connections": q(usage.connections) * orders / p["alb_lcu_new_connections_per_s"] / 3600,
        "active connections": q(usage.connection_seconds) * orders / p["alb_lcu_active_connections"] / 3600,
        # one listener rule (the gateway's paths) per upgrade request
        "rule evaluations": q(usage.connections) * orders / p["alb_lcu_rule_evaluations_per_s"] / 3600,
    }


def back_end(usage: PerOrder | WsPerOrder, n: D) -> dict[str, D]:
    """What ``n`` orders cost behind the front door, the same on either path: DynamoDB
    units and stream reads, Data API calls, log ingestion."""
    p = PRICES
    q = lambda x: D(repr(x))  # noqa: E731 (a counted figure, exactly as printed)
    return {
        "DynamoDB writes": q(usage.wru) * n * p["dynamodb_wru"],
        "DynamoDB reads": q(usage.rru) * n * p["dynamodb_rru"],
        "DynamoDB stream reads": q(usage.stream_reads) * n * p["dynamodb_stream_read_request"],
        "Aurora Data API": q(usage.data_api_calls) * n * p["data_api_request"],
        "CloudWatch Logs": q(usage.log_bytes) * n / D(1024 ** 3) * p["cloudwatch_logs_gb"],
    }


def per_million_orders_ws(usage: WsPerOrder, stage: str = "prod") -> dict[str, D]:
    """Cost of 1M orders placed over the WebSocket API, by item, and ``total``."""
    n = M
    p = PRICES
    q = lambda x: D(repr(x))  # noqa: E731
    cpu, mem = gateway_task(stage)
    vcpu, gb = D(cpu) / 1024, D(mem) / 1024
    task_s = q(usage.gateway_cpu_s) * n / vcpu / GATEWAY_CPU_TARGET   # task-seconds the orders occupy
    lcu = alb_lcu_hours(usage, n)
    dim = max(lcu, key=lambda k: lcu[k])
    cf_acls = waf_acls(stage) - 1  # the API stage's ACL is not on this path; CloudFront's is
    items = {
        "CloudFront requests (upgrades)": q(usage.connections) * n * p["cloudfront_https_request"],
        "CloudFront data transfer": (q(usage.bytes_out) * p["cloudfront_dto_internet_gb"]
                                     + q(usage.bytes_in) * p["cloudfront_dto_origin_gb"]) * n / D(1024 ** 3),
        "WAF requests (upgrades)": q(usage.connections) * n * p["waf_request"] * cf_acls,
        f"ALB LCU ({dim})": lcu[dim] * p["alb_lcu_hour"],
        f"Fargate gateway ({cpu} CPU / {mem} MiB at {GATEWAY_CPU_TARGET:.0%} CPU)": task_s / 3600
        * (vcpu * p["fargate_arm64_vcpu_hour"] + gb * p["fargate_arm64_gb_hour"]),
        **back_end(usage, n),
    }
    items = {k: v.quantize(D("0.0001")) for k, v in items.items()}
    items["total"] = sum(items.values(), D(0))
    return items


def report_ws(usage: WsPerOrder, stage: str = "prod") -> str:
    """The lines a benchmark prints for the WebSocket API path."""
    items = per_million_orders_ws(usage, stage)
    total = items.pop("total")
    lines = [f"cost (WebSocket API path): ${total:.2f} per 1M orders ({stage} settings, {REGION} list prices of"
             f" {AS_OF}; bench/pricing.py)"]
    lines += [f"  {k:<52} ${v:.2f}" for k, v in sorted(items.items(), key=lambda kv: -kv[1]) if v >= D("0.005")]
    per_conn = sum((v for k, v in items.items() if "(upgrades)" in k or k.startswith("ALB LCU (new")), D(0))
    if usage.connections:
        lines.append(f"  of which per connection (upgrade request, WAF, new-connection LCU): ${per_conn:.2f} at"
                     f" {1 / usage.connections:,.0f} orders per connection in this run; a client that keeps"
                     f" its session for more orders pays less")
    return "\n".join(lines)


def wru(item_bytes: float) -> int:
    """Write units of one item write: 1 per KB, rounded up."""
    return max(1, math.ceil(item_bytes / 1024))


def rru(item_bytes: float, consistent: bool = True) -> float:
    """Read units of one item read: 1 per 4 KB (half when eventually consistent)."""
    units = max(1, math.ceil(item_bytes / 4096))
    return units if consistent else units / 2


def lambda_settings(stage: str) -> tuple[int, str]:
    """(memory MB, architecture) of the API Lambda as deployed for ``stage``."""
    from infra.config import STAGES

    cfg = STAGES[stage]
    return cfg.lambda_memory_mib, cfg.lambda_architecture


def waf_acls(stage: str) -> int:
    """Web ACLs an API request passes: the API stage's (always) and CloudFront's
    (when the stage sets a rate limit)."""
    from infra.config import STAGES

    return 1 + (1 if STAGES[stage].waf_rate_limit else 0)


def trace_rate(stage: str) -> D:
    """The X-Ray sampling rule's fixed rate (infra/stacks/ops.py): 5 % in prod, all in dev."""
    return D("0.05") if stage == "prod" else D(1)


def per_million_orders(usage: PerOrder, stage: str = "prod") -> dict[str, D]:
    """Cost of 1M orders, by item, and ``total``, for ``stage``'s settings."""
    mem, arch = lambda_settings(stage)
    n = M
    p = PRICES
    q = lambda x: D(repr(x))  # noqa: E731 (a counted figure, exactly as printed)
    items = {
        "CloudFront requests": q(usage.api_requests) * n * p["cloudfront_https_request"],
        "WAF requests": q(usage.api_requests) * n * p["waf_request"] * waf_acls(stage),
        "API Gateway REST": q(usage.api_requests) * n * p["apigw_rest_request"],
        "Lambda requests": q(usage.api_requests) * n * p["lambda_request"],
        f"Lambda GB-s ({mem} MB {arch})": q(usage.api_requests) * n * q(usage.lambda_ms) / 1000 * D(mem) / 1024
        * p[f"lambda_gb_s_{arch}"],
        **back_end(usage, n),
        "X-Ray traces": q(usage.api_requests) * n * trace_rate(stage) * p["xray_trace"],
    }
    items = {k: v.quantize(D("0.0001")) for k, v in items.items()}
    items["total"] = sum(items.values(), D(0))
    return items


def baseline(stage: str) -> dict[str, D]:
    """The fixed monthly cost of ``stage`` from its sizes in infra/config.py, by item."""
    from infra.config import STAGES

    c = STAGES[stage]
    h = D(HOURS_PER_MONTH)
    p = PRICES
    endpoints = 7 if c.interface_endpoints else 0  # infra/stacks/network.py's PrivateLink services
    matcher_vcpu, matcher_gb = D(c.matcher_cpu) / 1024, D(c.matcher_memory_mib) / 1024
    items = {
        "Aurora Serverless v2 (writer + reader at min ACU)": 2 * D(str(c.aurora_min_acu)) * p["aurora_acu_hour"] * h,
        f"ElastiCache {c.redis_node_type} x{1 + c.redis_replicas}": (1 + c.redis_replicas)
        * REDIS_NODE_HOUR[c.redis_node_type] * h,
        f"NAT gateways x{c.nat_gateways}": c.nat_gateways * p["nat_gateway_hour"] * h,
        f"interface endpoints {endpoints} x {c.max_azs} AZs": endpoints * c.max_azs
        * p["interface_endpoint_az_hour"] * h,
        f"Fargate matcher x{c.matcher_desired} ({c.matcher_cpu} CPU / {c.matcher_memory_mib} MiB arm64)":
            c.matcher_desired * (matcher_vcpu * p["fargate_arm64_vcpu_hour"] + matcher_gb * p["fargate_arm64_gb_hour"])
            * h,
        "internal ALB (1 LCU)": (p["alb_hour"] + p["alb_lcu_hour"]) * h,
        "WAF ACLs": p["waf_acl_month"] + p["waf_rule_month"]
        + ((p["waf_acl_month"] + 2 * p["waf_rule_month"]) if c.waf_rate_limit else 0),
        "KMS keys (2) + secrets (4)": 2 * p["kms_key_month"] + 4 * p["secret_month"],
        "CloudWatch dashboard + 16 alarms": p["cloudwatch_dashboard_month"] + 16 * p["cloudwatch_alarm_month"],
    }
    items = {k: D(v).quantize(D("0.01")) for k, v in items.items()}
    items["total"] = sum(items.values(), D(0))
    return items


def report(usage: PerOrder, stage: str = "prod") -> str:
    """The lines a benchmark prints: the cost per 1M orders and its breakdown."""
    items = per_million_orders(usage, stage)
    total = items.pop("total")
    lines = [f"cost: ${total:.2f} per 1M orders (REST path, {stage} settings, {REGION} list prices of {AS_OF};"
             f" bench/pricing.py)"]
    lines += [f"  {k:<34} ${v:.2f}" for k, v in sorted(items.items(), key=lambda kv: -kv[1]) if v >= D("0.005")]
    base = baseline(stage)
    lines.append(f"fixed baseline ({stage}): ${base['total']:,.0f} per month")
    return "\n".join(lines)


if __name__ == "__main__":  # python bench/pricing.py: the fixed baseline of each stage
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(f"fixed monthly baseline from infra/config.py's sizes ({REGION} list prices of {AS_OF}, 730 h):")
    for st in ("dev", "prod"):
        b = baseline(st)
        print(f"{st}: ${b.pop('total'):,.2f} per month")
        for k, v in b.items():
            print(f"  {k:<60} ${v:,.2f}")
