"""moto server with IAM enforcement on, resource-aware, recording every decision.

``python tests/infra/iam_moto.py PORT RECORD_FILE``.  Starts without enforcement (so
the test can create tables, secrets, the user pool and one IAM user per unit), and
enforces from the moment the test posts ``0`` to ``/moto-api/reset-auth`` (moto's
``INITIAL_NO_AUTH_ACTION_COUNT``).

moto checks a request's action against the caller's policies, but for most services
it checks the resource as ``*``, which no resource-scoped statement matches.  This
wrapper gives moto the real resource ARNs of DynamoDB (tables, streams), Secrets
Manager, Cognito and RDS requests, so a statement on the wrong table denies like AWS
would, and appends each decision ``{"key", "action", "resource", "allowed"}`` to
RECORD_FILE: the permission-contract tests read it for denials (there must be none)
and for the actions each unit really used (every granted action must be among them).
"""
from __future__ import annotations

import json
import re
import sys
import threading

from moto import settings as _settings
from moto.core import authorization as _auth

ACCOUNT = "123456789012"
_lock = threading.Lock()
_record_path = None


def _record(entry: dict) -> None:
    with _lock, open(_record_path, "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def _resources(self, service: str, region: str) -> list[str]:
    body = getattr(self, "body", None)
    if isinstance(body, dict):
        pass                      # JSON protocols: moto parsed it already
    elif isinstance(body, (str, bytes)) and body:
        try:
            body = json.loads(body)
        except ValueError:
            body = {}
    else:
        body = {}
    qs = {k: v[0] for k, v in (getattr(self, "querystring", None) or {}).items() if v}
    arn = f"arn:aws:{service}:{region}:{ACCOUNT}:"
    if service == "dynamodb":
        if "ShardIterator" in body:
            return [body["ShardIterator"].split("|", 1)[0]]
        if "StreamArn" in body:
            return [body["StreamArn"]]
        if "TableArn" in body:
            return [body["TableArn"]]
        if "RequestItems" in body:
            return [arn + f"table/{t}" for t in body["RequestItems"]]
        if "TableName" in body:
            return [arn + f"table/{body['TableName']}"]
    if service == "secretsmanager" and "SecretId" in body:
        return [body["SecretId"]]
    if service == "cognito-idp" and "UserPoolId" in body:
        return [arn + f"userpool/{body['UserPoolId']}"]
    if service == "rds":
        if "SourceArn" in qs:
            return [qs["SourceArn"]]
        if "DBClusterIdentifier" in qs:
            return [arn + f"cluster:{qs['DBClusterIdentifier']}"]
    return ["*"]


_original = _auth.ActionAuthenticatorMixin._authenticate_and_authorize_action


def _authorize(self, iam_request_cls, resource: str = "*") -> None:
    if _auth.ActionAuthenticatorMixin.request_count < _settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return _original(self, iam_request_cls, resource)
    header = self.headers.get("Authorization", "")
    m = re.search(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/", header)
    key, region, service = (m.group(1), m.group(2), m.group(3)) if m else ("?", "us-east-1", "?")
    action = f"{service}:{self._get_action()}"
    targets = _resources(self, service, region) if resource == "*" else [resource]
    for target in targets:
        try:
            _original(self, iam_request_cls, target)
        except Exception:
            _record({"key": key, "action": action, "resource": target, "allowed": False})
            raise
        _record({"key": key, "action": action, "resource": target, "allowed": True})


_auth.ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize


def main() -> None:
    global _record_path
    port, _record_path = int(sys.argv[1]), sys.argv[2]
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", str(port)])


if __name__ == "__main__":
    main()
