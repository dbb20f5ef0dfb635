"""What each deployed unit needs, declared once: the settings it reads and the AWS
actions it calls, on which resources.

``infra/`` builds every environment, container secret and IAM statement from these
declarations (never from a copied list), and ``tests/infra/`` runs each unit with
exactly what the synthesised templates give it.  On an AWS stage a unit runs with
``EXCHANGE_UNIT=<name>`` and :func:`chalicelib.settings.load_settings` refuses to let
it read a setting it did not declare, so a setting the code starts to read without
declaring it fails the start-contract test instead of a deploy.

Resources are named by the *setting* that carries them to the code, so the
declaration needs no knowledge of CloudFormation:

* ``table:INTENTS_TABLE``, ``stream:INTENTS_TABLE``  a DynamoDB table / its stream
* ``secret:API_KEY_SECRET_ARN``                       a Secrets Manager secret
* ``cluster:DB_CLUSTER_ARN``                          the Aurora cluster (Data API)
* ``userpool:COGNITO_USER_POOL_ID``                   the Cognito user pool
* ``*``                                               actions with no resource scoping

The declarations are plain data (cheap to import on a Lambda cold start).  The
matcher's and the jobs task's live beside their code in ``matcher/service/config.py``,
the stream gateway's in ``gateway/config.py``;
the backup export Lambda's in ``infra/lambdas/backup_export.py``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TABLES = ("INTENTS_TABLE", "TRADES_TABLE", "BOOK_TABLE", "JOURNAL_TABLE", "LEASES_TABLE")
DATA_API = ("rds-data:ExecuteStatement", "rds-data:BatchExecuteStatement", "rds-data:BeginTransaction",
            "rds-data:CommitTransaction", "rds-data:RollbackTransaction")
TRACES = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets")


@dataclass(frozen=True)
class Access:
    """Some actions on some resources, and why the code makes them."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Unit:
    name: str                            # EXCHANGE_UNIT; also the unit's role/log names
    entry: str                           # how the platform starts it
    settings: tuple[str, ...]            # chalicelib/settings.py variables it reads (besides stage/region)
    access: tuple[Access, ...]
    fixed: Mapping[str, str] = field(default_factory=dict)   # values it always runs with (not per deployment)
    secrets: Mapping[str, str] = field(default_factory=dict)  # container secrets: VAR -> "SETTING:json_field"


_DB = ("DB_CLUSTER_ARN", "DB_SECRET_ARN", "DB_NAME")
_DATA_API = (Access(DATA_API, ("cluster:DB_CLUSTER_ARN",), "every Aurora statement goes through the Data API"),
             Access(("secretsmanager:GetSecretValue",), ("secret:DB_SECRET_ARN",),
                    "the Data API reads the cluster credentials with the caller's rights"))
_POWERTOOLS = {"POWERTOOLS_METRICS_NAMESPACE": "Exchange"}

API = Unit(
    name="api", entry="app.app (Chalice API handler behind API Gateway)",
    settings=(*TABLES, *_DB, "REDIS_URL", "REDIS_AUTH_SECRET_ARN", "REDIS_KEY_PREFIX", "COGNITO_USER_POOL_ID",
              "COGNITO_CLIENT_ID", "API_KEY_SECRET_ARN", "DEMO_DEPOSITS", "ORIGIN_VERIFY_SECRET_ARN"),
    access=(
        *_DATA_API,
        Access(("dynamodb:PutItem",), ("table:INTENTS_TABLE",),
               "orders.put_intent: the order's intent, into its symbol's group's table (every group's)"),
        Access(("dynamodb:GetItem",), ("table:LEASES_TABLE",),
               "routing.group_of: the symbol's route, i.e. which group's intents table (cached 1 s)"),
        Access(("dynamodb:GetItem",), ("table:BOOK_TABLE",), "market.depth: the published book"),
        Access(("secretsmanager:GetSecretValue",),
               ("secret:API_KEY_SECRET_ARN", "secret:REDIS_AUTH_SECRET_ARN", "secret:ORIGIN_VERIFY_SECRET_ARN"),
               "API key master secret, Redis AUTH token, origin-verify value (read by ARN, cached)"),
        Access(("cognito-idp:AdminGetUser",), ("userpool:COGNITO_USER_POOL_ID",),
               "auth: the e-mail of a first-time Cognito sign-in (sign-up/sign-in calls are public)"),
        Access(TRACES, ("*",), "Powertools Tracer (X-Ray) on every request"),
    ),
    fixed={"POWERTOOLS_SERVICE_NAME": "exchange-api", **_POWERTOOLS},
)

RECONCILER = Unit(
    name="reconciler", entry="app.reconciler (Chalice scheduled Lambda, every minute)",
    settings=(*TABLES, *_DB),
    access=(
        *_DATA_API,
        Access(("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
               ("table:INTENTS_TABLE",),
               "reconcile: read an intent, complete/void it, nudge it back into the stream (every group's table)"),
        Access(("dynamodb:GetItem",), ("table:LEASES_TABLE",),
               "routing.group_of: the symbol's route, i.e. which group's intents table (cached 1 s)"),
        Access(TRACES, ("*",), "Powertools Tracer (X-Ray)"),
    ),
    fixed={"POWERTOOLS_SERVICE_NAME": "reconciler", **_POWERTOOLS},
)

OPS = Unit(
    name="ops", entry="python -m chalicelib.cli migrate | grant-admin USER | revoke-admin USER (one-off Fargate task)",
    settings=(*TABLES, *_DB, "COGNITO_USER_POOL_ID"),
    access=(
        *_DATA_API,
        Access(("cognito-idp:AdminAddUserToGroup", "cognito-idp:AdminRemoveUserFromGroup"),
               ("userpool:COGNITO_USER_POOL_ID",),
               "grant-admin / revoke-admin: add the user to / remove it from the admin group"),
        Access(("dynamodb:GetItem", "dynamodb:PutItem"), ("table:LEASES_TABLE",),
               "move-symbol: read a symbol's route and lease, write its route"),
    ),
    fixed={"POWERTOOLS_SERVICE_NAME": "ops", **_POWERTOOLS},
)

# Cognito group whose members the operator CLI's grant-admin manages (rights themselves live in Aurora).
ADMIN_GROUP = "admin"


def units() -> dict[str, Unit]:
    """Every unit the exchange deploys, by name (the backup export Lambda is plain
    infra and declares itself in infra/lambdas/backup_export.py)."""
    from gateway.config import GATEWAY
    from matcher.service.config import JOBS, MATCHER

    return {u.name: u for u in (API, RECONCILER, OPS, MATCHER, JOBS, GATEWAY)}


def unit(name: str) -> Unit:
    if name in ("api", "reconciler", "ops"):
        return {"api": API, "reconciler": RECONCILER, "ops": OPS}[name]
    return units()[name]
