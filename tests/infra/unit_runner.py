"""Runs one Lambda unit the way Lambda does: import the handler module once, then
invoke it with real events read as JSON lines from stdin (one result line each).

    python tests/infra/unit_runner.py api|reconciler|backup-export

The process has exactly the environment the test gives it (the unit's, from the
templates, plus the platform's); nothing here sets a variable."""
import json
import sys
import traceback
import uuid

MARK = "@@unit-result "   # the unit logs JSON to stdout too (Powertools): results are marked


class Context:
    def __init__(self, name: str):
        self.function_name = name
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"

    def get_remaining_time_in_millis(self):
        return 30000


def api_event(req: dict) -> dict:
    path = req["path"]                       # the route, e.g. /v3/order
    headers = {"Content-Type": "application/x-www-form-urlencoded", **req.get("headers", {})}
    query = req.get("query") or ""
    qs = dict(p.split("=", 1) for p in query.split("&") if p) if query else None
    from urllib.parse import unquote_plus

    qs = {k: unquote_plus(v) for k, v in qs.items()} if qs else None
    return {"resource": path, "path": path, "httpMethod": req["method"], "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": qs,
            "multiValueQueryStringParameters": {k: [v] for k, v in qs.items()} if qs else None,
            "pathParameters": req.get("pathParameters"), "stageVariables": None, "isBase64Encoded": False,
            "body": req.get("body") or None,
            "requestContext": {"resourcePath": req.get("resource", path), "httpMethod": req["method"],
                               "requestId": str(uuid.uuid4()), "path": "/api" + path, "stage": "api",
                               "identity": {"sourceIp": "203.0.113.7"}}}


def main() -> None:
    unit = sys.argv[1]
    if unit in ("api", "reconciler"):
        import app as module
    else:
        sys.path.insert(0, "infra/lambdas")
        import backup_export as module
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if unit == "api":
                event = api_event(req)
                if req.get("token"):      # API Gateway runs the Cognito authorizer Lambda first
                    decision = module.cognito({"type": "TOKEN", "authorizationToken": f"Bearer {req['token']}",
                                               "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/api/"
                                                            f"{req['method']}{req['path']}"},
                                              Context("exchange-api-authorizer"))
                    allowed = any(st["Effect"] == "Allow" and st.get("Resource")
                                  for st in decision["policyDocument"]["Statement"])
                    if not allowed:
                        print(MARK + json.dumps({"ok": True, "result": {"statusCode": 401, "body": ""}}), flush=True)
                        continue
                    event["requestContext"]["authorizer"] = {**decision.get("context", {}),
                                                             "principalId": decision["principalId"]}
                out = module.app(event, Context("exchange-api"))
            elif unit == "reconciler":
                event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                         "source": "aws.events", "account": "123456789012", "time": "2026-01-01T00:00:00Z",
                         "region": "us-east-1", "resources": [], "detail": {}}
                out = module.reconciler(event, Context("exchange-reconciler"))
            else:
                out = module.handler({}, Context("exchange-backup-export"))
            print(MARK + json.dumps({"ok": True, "result": out}, default=str), flush=True)
        except Exception as exc:  # reported to the test, which fails on it
            print(MARK + json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}",
                              "trace": traceback.format_exc()}), flush=True)


if __name__ == "__main__":
    main()
