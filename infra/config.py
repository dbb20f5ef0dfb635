"""Per-stage settings of the infrastructure, in one place.

Sizes (Aurora ACUs, Redis nodes, matcher tasks) are fixed per stage here; the optional
pieces an operator owns (domain, identity providers, alarm e-mail, the API's domain) come
from CDK context (``cdk deploy -c domain_name=ex.example.com``) or from environment
variables ``EXCHANGE_<KEY>`` (``EXCHANGE_DOMAIN_NAME=...``), context winning.

Nothing secret lives here: identity-provider client *secrets* are read at deploy time
from Secrets Manager by name (see docs/deploy.md), never from the repository.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

APP = "exchange"

# Custom metrics the code publishes with Powertools (EMF).  The dashboard and alarms
# read these names; the API and the matcher must publish under the same ones.
METRIC_NAMESPACE = "Exchange"
METRICS = {
    "intents": "OrdersAccepted",        # API: orders accepted, each one intent (Count)
    "trades": "Trades",                 # matcher: trades executed (Count)
    "matcher_lag": "StreamLagMs",       # matcher: now - intent created_ms when read off the stream (Milliseconds)
    "settle_lag": "SettlementMs",       # matcher: one batch's settlement transaction in Aurora (Milliseconds)
    "book_audit_failed": "BookAuditFailed",  # matcher: a takeover's book disagrees with Aurora; symbol stopped
    "book_rebuilt": "BookRebuilt",      # matcher: a takeover rebuilt a book from Aurora (DynamoDB did not add up)
    "gateway_connections": "GatewayConnections",  # stream gateway: open client connections of a task (Count)
}


@dataclass(frozen=True)
class StageConfig:
    stage: str
    region: str = "us-east-1"
    account: str | None = None                      # None: the CLI's credentials decide
    # AZs come from the stack's environment (CDK looks them up for the account and
    # region at deploy time and caches them in cdk.context.json); only how many is
    # fixed here.  ``availability_zones`` pins them explicitly when set.
    max_azs: int = 2
    availability_zones: tuple[str, ...] | None = None
    vpc_cidr: str = "10.40.0.0/16"
    nat_gateways: int = 1
    interface_endpoints: bool = False               # PrivateLink for AWS APIs besides DynamoDB/S3
    # Aurora PostgreSQL Serverless v2
    aurora_min_acu: float = 0.5
    aurora_max_acu: float = 4
    aurora_backup_days: int = 7
    # ElastiCache Redis
    redis_node_type: str = "cache.t4g.micro"
    redis_replicas: int = 1                         # per shard; >= 1 for Multi-AZ failover
    # Matcher on Fargate
    matcher_cpu: int = 512
    matcher_memory_mib: int = 1024
    # tasks per matcher group: up to 2 (MATCHER_READERS' slots, DynamoDB Streams' readers per shard) split
    # the group's symbols; more are standbys.  CPU scaling runs each group between the two.
    matcher_desired: int = 1
    matcher_max: int = 2
    jobs_cpu: int = 256
    jobs_memory_mib: int = 512
    # Stream gateway on Fargate (python -m gateway), scaled on its connections per task
    gateway_cpu: int = 256
    gateway_memory_mib: int = 512
    gateway_desired: int = 1
    gateway_max: int = 2
    gateway_connections_per_task: int = 2000        # target tracking: average open connections per task
    jobs_schedule: str = "rate(5 minutes)"
    jobs_enabled: bool = False                      # enable once `python -m matcher.jobs` exists
    # Identity
    mfa: str = "OPTIONAL"                           # OFF | OPTIONAL | REQUIRED
    threat_protection: bool = False                 # Cognito Plus feature plan (priced per MAU)
    cognito_domain_prefix: str | None = None
    google_client_id: str | None = None
    okta_client_id: str | None = None
    okta_issuer_url: str | None = None
    # Edge
    domain_name: str | None = None
    hosted_zone_id: str | None = None
    hosted_zone_name: str | None = None
    api_domain: str | None = None                   # <rest-api-id>.execute-api.<region>.amazonaws.com
    waf_rate_limit: int | None = None               # requests per 5 min per IP; None: no WAF
    origin_verify_accept_previous: bool = False     # during a rotation of the origin-verify secret
    # Ops
    log_retention_days: int = 14
    alarm_email: str | None = None
    backup_daily_retention_days: int = 7
    backup_monthly_retention_days: int | None = None
    # The API Lambda: arm64 (20 % less per GB-s than x86_64) at 512 MB.  Its time is
    # mostly waiting on the Data API and DynamoDB, and GB-s = memory x duration: a
    # smaller size only stretches the CPU part (~1/3 vCPU at 512 MB vs 1 at 1769 MB),
    # so it costs less per request until that part dominates (docs/scaling-and-cost.md,
    # "Lambda size", measured with bench/api_coldstart.py and bench/pipeline.py).
    lambda_memory_mib: int = 512
    lambda_architecture: str = "arm64"
    lambda_timeout_s: int = 15

    def name(self, suffix: str) -> str:
        """A physical name scoped to this stage: ``exchange-prod-intents``."""
        return f"{APP}-{self.stage}-{suffix}"

    def stack_name(self, part: str) -> str:
        return f"Exchange-{self.stage}-{part}"

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"


STAGES: dict[str, StageConfig] = {
    "dev": StageConfig(stage="dev"),
    "prod": StageConfig(
        stage="prod",
        max_azs=3,
        vpc_cidr="10.50.0.0/16",
        nat_gateways=2,
        interface_endpoints=True,
        aurora_min_acu=2,
        aurora_max_acu=32,
        aurora_backup_days=35,
        redis_node_type="cache.r7g.large",
        redis_replicas=1,
        matcher_cpu=2048,
        matcher_memory_mib=4096,
        matcher_desired=2,
        jobs_cpu=512,
        jobs_memory_mib=1024,
        gateway_cpu=1024,
        gateway_memory_mib=2048,
        gateway_desired=2,
        gateway_max=10,
        gateway_connections_per_task=5000,
        mfa="REQUIRED",
        threat_protection=True,
        waf_rate_limit=2000,
        log_retention_days=90,
        backup_daily_retention_days=35,
        backup_monthly_retention_days=365,
    ),
}

# Keys an operator may set per deployment (context or EXCHANGE_<KEY> env var).
OVERRIDABLE = (
    "account", "region", "domain_name", "hosted_zone_id", "hosted_zone_name", "api_domain",
    "google_client_id", "okta_client_id", "okta_issuer_url", "alarm_email", "mfa",
    "cognito_domain_prefix", "waf_rate_limit", "jobs_enabled", "matcher_desired",
    "matcher_max",
    "origin_verify_accept_previous",
)


def _coerce(key: str, value: str | int | float):
    if key == "waf_rate_limit":
        return int(value) if value not in ("", "0", "none", "None") else None
    if key in ("matcher_desired", "matcher_max"):
        return int(value)
    if key in ("jobs_enabled", "origin_verify_accept_previous"):
        return str(value).lower() in ("1", "true", "yes", "on")
    if key == "mfa":
        value = str(value).upper()
        if value not in ("OFF", "OPTIONAL", "REQUIRED"):
            raise ValueError(f"mfa={value!r}: expected OFF, OPTIONAL or REQUIRED")
    return value


def load_stage(stage: str, context: Callable[[str], object] | None = None,
               environ: Mapping[str, str] | None = None) -> StageConfig:
    """The stage's config with the operator's overrides applied.

    ``context`` looks up a CDK context key (``app.node.try_get_context``)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    env = os.environ if environ is None else environ
    overrides = {}
    for key in OVERRIDABLE:
        value = context(key) if context else None
        if value is None:
            value = env.get(f"EXCHANGE_{key.upper()}")
        if value in (None, ""):
            continue
        if not isinstance(value, (str, int, float)):  # context values are JSON: a list or an object is a mistake
            raise ValueError(f"{key}={value!r}: expected a string or a number")
        overrides[key] = _coerce(key, value)
    return replace(STAGES[stage], **overrides)
