"""The matcher's own knobs (the shared settings come from chalicelib.settings)."""
from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from decimal import Decimal


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class MatcherConfig:
    worker_id: str              # lease owner name; a restart with the same id reclaims at once
    lease_ttl_ms: int           # a lease not renewed for this long may be taken over
    renew_every_ms: int
    poll_ms: int                # idle wait between empty GetRecords calls
    batch_limit: int            # GetRecords Limit (records per stream batch)
    snapshot_every: int         # journal entries between engine snapshots
    depth_levels: int           # levels per side published to Redis / DynamoDB
    describe_every_ms: int      # how often the shard list is re-read
    reconcile_every_ms: int     # 0 = no reconciler loop in this process (AWS: a scheduled Lambda)
    reconcile_grace_ms: int     # an unacknowledged outbox row younger than this is left alone
    reconcile_void_after_ms: int  # an intent missing this long is voided and its order reversed
    metrics_every_ms: int
    health_port: int            # /healthz for the load balancer (Fargate: 8080); 0 = none
    chaos_duplicates: Decimal   # tests/bench only: probability a stream record is delivered again

    @classmethod
    def from_env(cls) -> "MatcherConfig":
        return cls(
            worker_id=os.environ.get("MATCHER_WORKER_ID") or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
            lease_ttl_ms=_int("MATCHER_LEASE_TTL_MS", 5000),
            renew_every_ms=_int("MATCHER_RENEW_MS", 1000),
            poll_ms=_int("MATCHER_POLL_MS", 50),
            batch_limit=_int("MATCHER_BATCH_LIMIT", 500),
            snapshot_every=_int("MATCHER_SNAPSHOT_EVERY", 1000),
            depth_levels=_int("MATCHER_DEPTH_LEVELS", 100),
            describe_every_ms=_int("MATCHER_DESCRIBE_MS", 10000),
            reconcile_every_ms=_int("MATCHER_RECONCILE_MS", 5000),
            reconcile_grace_ms=_int("MATCHER_RECONCILE_GRACE_MS", 5000),
            reconcile_void_after_ms=_int("MATCHER_RECONCILE_VOID_MS", 300000),
            metrics_every_ms=_int("MATCHER_METRICS_MS", 10000),
            health_port=_int("MATCHER_HEALTH_PORT", 0),
            chaos_duplicates=Decimal(os.environ.get("MATCHER_CHAOS_DUPLICATES") or "0"),
        )
