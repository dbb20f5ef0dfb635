"""AWS and Redis clients, built lazily once per process and reused.

Warm Lambda invocations and the long-lived matcher share one small object instead of
module-level globals scattered over the code; tests build their own with other
settings.  Endpoint overrides come from the settings: ``AWS_ENDPOINT_URL`` (moto
locally) for every AWS service and ``DATAAPI_ENDPOINT_URL`` for the Data API, which
locally is our own server rather than moto.
"""
from __future__ import annotations

import threading
from functools import cached_property

from chalicelib.settings import Settings, get_settings


class Clients:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self._lock = threading.Lock()

    # Clients on the hot paths (every order: a Data API statement and an intent put;
    # every matcher batch: DynamoDB writes of many items) skip botocore's client-side
    # parameter validation, as PynamoDB does for its own client: our code builds these
    # requests, the service validates them anyway, and the check costs ~10% of the
    # client's CPU per call.  Others (Cognito: user input) keep it.
    _UNVALIDATED = ("rds-data", "dynamodb", "dynamodbstreams")

    def _aws(self, service: str, endpoint_url: str | None = None):
        import boto3
        from botocore.config import Config

        s = self.settings
        kwargs = {"region_name": s.region,
                  "config": Config(retries={"max_attempts": 3, "mode": "standard"}, tcp_keepalive=True,
                                   parameter_validation=service not in self._UNVALIDATED)}
        endpoint = endpoint_url or s.aws_endpoint_url
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        with self._lock:  # boto3's default session is not thread-safe to build clients
            return boto3.session.Session().client(service, **kwargs)

    @cached_property
    def rds_data(self):
        return self._aws("rds-data", self.settings.dataapi_endpoint_url or None)

    @cached_property
    def dynamodb(self):
        return self._aws("dynamodb")

    @cached_property
    def dynamodbstreams(self):
        return self._aws("dynamodbstreams")

    @cached_property
    def cognito(self):
        return self._aws("cognito-idp")

    @cached_property
    def s3(self):
        return self._aws("s3")

    @cached_property
    def redis(self):
        import redis

        s = self.settings
        extra = {}
        if s.redis_auth_secret_arn:  # ElastiCache AUTH token, kept out of the URL and the config
            from aws_lambda_powertools.utilities import parameters

            extra["password"] = parameters.get_secret(s.redis_auth_secret_arn, max_age=300)
        return redis.Redis.from_url(s.redis_url, decode_responses=True, socket_connect_timeout=2,
                                    socket_timeout=5, health_check_interval=30, **extra)


_clients: Clients | None = None


def get_clients() -> Clients:
    global _clients
    if _clients is None:
        _clients = Clients()
    return _clients


def reset_clients() -> None:
    global _clients
    _clients = None
