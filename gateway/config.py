"""What the stream gateway needs when deployed, declared beside its code.

:data:`GATEWAY` declares the settings ``python -m gateway`` reads and the AWS actions
it makes (see :mod:`chalicelib.units`): Redis (the matcher's channels and the market
cache), and for the WebSocket API's signed requests what the API Lambda uses for them
(the Data API, the API key master secret; for a Cognito token logon the user pool), and for its trading requests what
the REST order route uses (the order's intent in DynamoDB).  ``infra/stacks/gateway.py`` builds the
Fargate service, its role, environment and container command from this module, and
``tests/infra`` runs ``python -m gateway`` with exactly what the template gives it.
"""
from __future__ import annotations

from chalicelib.units import TABLES, Access, Unit

PORT = 9443                  # the container's port and the ALB target group's
HEALTH_PATH = "/healthz"     # 200 while the Redis subscription is live, else 503
PING_INTERVAL_S = 20         # Binance's server ping; the ALB idle timeout must exceed it
# The paths the load balancer and CloudFront send to the gateway (Binance's).
PATHS = ("/ws", "/ws/*", "/stream", "/ws-api/*")
# ``--metrics-every``: the task's open client connections as an EMF metric (namespace
# Exchange, service=gateway; its name is infra/config.py METRICS["gateway_connections"]),
# which the service's target tracking averages over its tasks.
METRICS_EVERY_S = 60
COMMAND = ("python", "-m", "gateway", "--host", "0.0.0.0", "--port", str(PORT),
           "--metrics-every", str(METRICS_EVERY_S))

GATEWAY = Unit(
    name="gateway", entry=" ".join(COMMAND) + " (Fargate service behind the ALB)",
    # every table name: chalicelib.tables' models read them all when the order path imports it
    settings=(*TABLES, "REDIS_URL", "REDIS_AUTH_SECRET_ARN", "REDIS_KEY_PREFIX", "DB_CLUSTER_ARN",
              "DB_SECRET_ARN", "DB_NAME", "API_KEY_SECRET_ARN", "ORIGIN_VERIFY_SECRET_ARN",
              # session.logon with a Cognito token (gateway/tokenlogon.py): the pool's issuer/JWKS, the app client
              "COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID"),
    access=(
        # each statement of the WebSocket API's requests runs on its own (no Data API transaction) ...
        Access(("rds-data:ExecuteStatement",), ("cluster:DB_CLUSTER_ARN",),
               "WebSocket API signed requests: API keys, accounts, orders, order.place's outbox row"),
        # ... except a token logon's, which finds or makes the user's account in one, as the API does
        Access(("rds-data:BeginTransaction", "rds-data:CommitTransaction", "rds-data:RollbackTransaction"),
               ("cluster:DB_CLUSTER_ARN",),
               "session.logon with a token: chalicelib/api/auth.py account_for (a first sign-in makes the account)"),
        Access(("dynamodb:PutItem",), ("table:INTENTS_TABLE",),
               "order.place / cancel: the order's intent, into its symbol's group's table (every group's)"),
        Access(("dynamodb:GetItem",), ("table:LEASES_TABLE",),
               "routing.group_of: the symbol's route, i.e. which group's intents table (cached 1 s)"),
        Access(("dynamodb:DescribeTable",), ("table:INTENTS_TABLE",),
               "gateway/wstrading.py warm_up: IntentModel.exists() opens the DynamoDB client before the first order"),
        Access(("cognito-idp:AdminGetUser",), ("userpool:COGNITO_USER_POOL_ID",),
               "session.logon with a token: the e-mail of a first-time Cognito sign-in (as the API's auth)"),
        Access(("secretsmanager:GetSecretValue",),
               ("secret:DB_SECRET_ARN", "secret:API_KEY_SECRET_ARN", "secret:REDIS_AUTH_SECRET_ARN",
                "secret:ORIGIN_VERIFY_SECRET_ARN"),
               "the Data API reads the cluster credentials with the caller's rights; the API key master "
               "secret (session.logon, signed requests); the ElastiCache AUTH token; the origin-verify "
               "value (CloudFront's viewer address counts only on connections that carry it)"),
    ),
    fixed={"POWERTOOLS_SERVICE_NAME": "gateway", "POWERTOOLS_METRICS_NAMESPACE": "Exchange"},
)
