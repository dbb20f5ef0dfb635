"""The matcher's own knobs, and what the matcher and jobs tasks need when deployed.

The shared settings come from :mod:`chalicelib.settings`; the ``MATCHER_*`` knobs
below are read here, by name, from one table (:data:`KNOBS`).  :data:`MATCHER` and
:data:`JOBS` declare, beside this code, the settings each Fargate task reads and the
AWS actions it makes (see :mod:`chalicelib.units`); ``infra/stacks/matcher.py``
builds the task definitions from them and ``tests/infra`` runs ``python -m matcher``
and ``python -m matcher.jobs`` with exactly what the templates give them.
"""
from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from chalicelib.units import TABLES, TRACES, Access, Unit

# DynamoDB Streams throttles more than 2 concurrent readers of a shard: a group's reader
# slots (MATCHER_READERS), and so the tasks that add capacity to a group, are at most this.
MAX_READERS = 2
HEALTH_PORT = 8080          # the ALB's target port and the container's port mapping
HEALTH_PATH = "/healthz"

# knob -> (variable, default, what it is)
KNOBS: dict[str, tuple[str, str, str]] = {
    "group": ("MATCHER_GROUP", "0", "the matcher group this task serves (one ECS service per group; see "
                                    "chalicelib/symbols.json matcherGroups)"),
    "readers": ("MATCHER_READERS", "2",
                "tasks of a group that hold symbols at once, splitting them (reader slots; DynamoDB Streams "
                "allows 2 readers per shard, so at most 2); a group's further tasks are standbys"),
    "routes_every_ms": ("MATCHER_ROUTES_MS", "1000", "how often the symbols' routes (operator moves) are re-read"),
    "drain_ms": ("MATCHER_DRAIN_MS", "10000", "a symbol being moved away is stopped at the latest after this long"),
    "worker_id": ("MATCHER_WORKER_ID", "", "lease owner name; a restart with the same id reclaims at once"),
    "lease_ttl_ms": ("MATCHER_LEASE_TTL_MS", "5000", "a lease not renewed for this long may be taken over"),
    "renew_every_ms": ("MATCHER_RENEW_MS", "1000", "lease renewal period"),
    "poll_ms": ("MATCHER_POLL_MS", "50", "wait before a shard that returned nothing is read again"),
    "idle_poll_ms": ("MATCHER_IDLE_POLL_MS", "1000",
                     "the longest such wait: it doubles from poll_ms once a shard has been empty for 10 s"),
    "batch_limit": ("MATCHER_BATCH_LIMIT", "500", "GetRecords Limit (records per stream batch)"),
    "snapshot_every": ("MATCHER_SNAPSHOT_EVERY", "1000", "journal entries between engine snapshots"),
    "depth_levels": ("MATCHER_DEPTH_LEVELS", "100", "levels per side published to Redis / DynamoDB"),
    "describe_every_ms": ("MATCHER_DESCRIBE_MS", "10000", "how often the shard list is re-read"),
    "reconcile_every_ms": ("MATCHER_RECONCILE_MS", "5000", "0 = no reconciler loop in this process"),
    "reconcile_grace_ms": ("MATCHER_RECONCILE_GRACE_MS", "5000",
                           "an unacknowledged outbox row younger than this is left alone"),
    "reconcile_void_after_ms": ("MATCHER_RECONCILE_VOID_MS", "300000", "an intent missing this long is voided"),
    "metrics_every_ms": ("MATCHER_METRICS_MS", "10000", "metrics flush period"),
    "health_port": ("MATCHER_HEALTH_PORT", "0", "/healthz port (Fargate: 8080); 0 = none"),
    "publish_process": ("MATCHER_PUBLISH_PROCESS", "auto",
                        "a batch's Redis publish (market data, user data stream) in a child process (on), in a "
                        "thread of the worker's process (off), or on when the process may use 2 CPUs or more "
                        "(auto); see matcher/service/publishproc.py"),
}
PUBLISH_PROCESS_MODES = ("auto", "on", "off")
STRING_KNOBS = ("worker_id", "publish_process")


#: Seconds ECS waits after SIGTERM before it SIGKILLs a matcher task (the container's
#: ``stopTimeout``, infra/stacks/matcher.py).  A clean stop waits for the last batch's
#: publish at most half of it (:data:`CLEAN_STOP_PUBLISH_S`): a publish stuck on a
#: server that went away must not hold the task's leases until the SIGKILL; past it
#: the stop is an unclean one (no final snapshot, leases left to expire, recovery
#: repeats the publish).
STOP_TIMEOUT_S = 60
CLEAN_STOP_PUBLISH_S = STOP_TIMEOUT_S / 2


def publish_process_for(task_cpu: int) -> str:
    """MATCHER_PUBLISH_PROCESS for a Fargate task of ``task_cpu`` CPU units (1024 = one
    vCPU): the publish gets a process of its own where the task has 2 vCPUs or more
    (infra/stacks/matcher.py sets it, so the deployed value is a declared one)."""
    return "on" if task_cpu >= 2048 else "off"


@dataclass(frozen=True)
class MatcherConfig:
    group: int
    readers: int
    routes_every_ms: int
    drain_ms: int
    worker_id: str
    lease_ttl_ms: int
    renew_every_ms: int
    poll_ms: int
    idle_poll_ms: int
    batch_limit: int
    snapshot_every: int
    depth_levels: int
    describe_every_ms: int
    reconcile_every_ms: int
    reconcile_grace_ms: int
    reconcile_void_after_ms: int
    metrics_every_ms: int
    health_port: int
    publish_process: str = "auto"

    @classmethod
    def from_env(cls, environ=None) -> MatcherConfig:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (var, default, _doc) in KNOBS.items():
            raw = env.get(var) or default
            if name == "worker_id":
                values[name] = raw or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
            elif name in STRING_KNOBS:
                values[name] = raw
            else:
                values[name] = int(raw)
        if values["publish_process"] not in PUBLISH_PROCESS_MODES:
            raise ValueError(f"{KNOBS['publish_process'][0]}={values['publish_process']!r}: one of "
                             f"{', '.join(PUBLISH_PROCESS_MODES)}")
        return cls(**values)


# ------------------------------------------------------------------ deployed units
# Direct PostgreSQL (settlement, reconciler): libpq takes host, port, user and password
# from PGHOST/PGPORT/PGUSER/PGPASSWORD, so no password is ever composed into a URL.
_PG_SETTINGS = ("DATABASE_URL", "PGHOST", "PGPORT")
_PG_SECRETS = {"PGUSER": "DB_SECRET_ARN:username", "PGPASSWORD": "DB_SECRET_ARN:password"}
_REDIS = ("REDIS_URL", "REDIS_AUTH_SECRET_ARN", "REDIS_KEY_PREFIX")
_REDIS_SECRET = Access(("secretsmanager:GetSecretValue",), ("secret:REDIS_AUTH_SECRET_ARN",),
                       "clients.redis: the ElastiCache AUTH token, read by ARN")

MATCHER = Unit(
    name="matcher", entry="python -m matcher (Fargate service)",
    settings=(*TABLES, *_PG_SETTINGS, *_REDIS),
    secrets=_PG_SECRETS,
    access=(
        # INTENTS_TABLE is, for a matcher task, its own group's intents table (infra/stacks/matcher.py
        # resolves it per group; the task derives the name from INTENTS_TABLE and MATCHER_GROUP)
        Access(("dynamodb:DescribeTable",), ("table:INTENTS_TABLE",), "worker: the group's intents table's stream ARN"),
        Access(("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"),
               ("stream:INTENTS_TABLE",), "streams: shards and records of the group's intents stream"),
        Access(("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"), ("table:INTENTS_TABLE",),
               "worker.resend_unsent at a takeover or move: put (or touch) the symbol's unsequenced intents "
               "into the group's own table"),
        Access(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan"),
               ("table:LEASES_TABLE",), "leases: take, renew, release, checkpoint; scan the shard leases"),
        Access(("dynamodb:PutItem", "dynamodb:Query"), ("table:JOURNAL_TABLE",),
               "journal: append the sequenced input, replay it"),
        Access(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"), ("table:BOOK_TABLE",),
               "journal/effects: engine snapshots and published book levels"),
        Access(("dynamodb:BatchWriteItem",), ("table:TRADES_TABLE",), "effects: trade rows"),
        _REDIS_SECRET,
        Access(TRACES, ("*",), "the X-Ray daemon sidecar sends the matcher's segments with the task role"),
    ),
    # The reconciler runs as the scheduled Lambda (and the jobs task), not in the matcher.
    fixed={"POWERTOOLS_SERVICE_NAME": "matcher", "POWERTOOLS_METRICS_NAMESPACE": "Exchange",
           "MATCHER_HEALTH_PORT": str(HEALTH_PORT), "MATCHER_RECONCILE_MS": "0"},
)

JOBS = Unit(
    name="jobs", entry="python -m matcher.jobs (Fargate Spot service)",
    settings=(*TABLES, *_PG_SETTINGS),
    secrets=_PG_SECRETS,
    access=(
        Access(("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"), ("table:INTENTS_TABLE",),
               "reconcile: read an intent, complete/void it, nudge it back into the stream (every group's table)"),
        Access(("dynamodb:GetItem",), ("table:LEASES_TABLE",),
               "routing.group_of: the symbol's route, i.e. which group's intents table (cached 1 s)"),
    ),
    fixed={"POWERTOOLS_SERVICE_NAME": "jobs", "POWERTOOLS_METRICS_NAMESPACE": "Exchange",
           "MATCHER_RECONCILE_MS": "5000"},
)
