"""Tracing reaches X-Ray: the handler, run as Lambda runs it (tracing on, a trace
header, AWS_XRAY_DAEMON_ADDRESS), sends its segments with the user/symbol/order
annotations to the daemon address — here a UDP socket standing in for the daemon."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

SCRIPT = r'''
import json, sys, time
sys.path.insert(0, ".")
from tests.api.conftest import signed_query
import app

class Ctx:
    function_name = "exchange-api"; memory_limit_in_mb = 1024; aws_request_id = "req-xray-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:exchange-api"
    def get_remaining_time_in_millis(self): return 30000

user = json.loads(sys.argv[1])
q = signed_query(user["secret"], {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                  "quantity": "0.001", "price": "10000", "newOrderRespType": "ACK"})
event = {"resource": "/v3/order", "path": "/v3/order", "httpMethod": "POST",
         "headers": {"X-MBX-APIKEY": user["key"], "Content-Type": "application/x-www-form-urlencoded"},
         "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
         "pathParameters": None, "stageVariables": None, "isBase64Encoded": False, "body": q,
         "requestContext": {"resourcePath": "/v3/order", "httpMethod": "POST", "requestId": "corr-xray-1",
                            "path": "/api/v3/order", "stage": "api", "identity": {"sourceIp": "203.0.113.9"}}}
resp = app.app(event, Ctx())
print(json.dumps(resp))
'''


def test_trace_segments_with_annotations_reach_the_daemon(exchange_env, alice, tmp_path):
    from tests.api.conftest import ROOT

    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(10)
    port = daemon.getsockname()[1]
    env = {**os.environ, **exchange_env, "POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": str(ROOT),
           "AWS_LAMBDA_FUNCTION_NAME": "exchange-api", "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
           "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
           "POWERTOOLS_SERVICE_NAME": "exchange-api", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR"}
    env.pop("CHALICE_LOCAL", None)
    user = json.dumps({"key": alice.api_key, "secret": alice.secret})
    proc = subprocess.run([sys.executable, "-c", SCRIPT, user], cwd=str(ROOT), env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    response = json.loads(proc.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 200, response
    order_id = json.loads(response["body"])["orderId"]
    segments = []
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            data, _ = daemon.recvfrom(65536)
        except TimeoutError:
            break
        header, _, body = data.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        segments.append(json.loads(body))
        if any(s.get("annotations", {}).get("order_id") for s in segments):
            break
    daemon.close()
    route = next(s for s in segments if s["name"] == "## POST /v3/order")
    ann = route["annotations"]
    assert route["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert ann["user"] == alice.account_id and ann["symbol"] == "BTCUSDT" and ann["order_id"] == order_id
    assert ann["correlation_id"] == "corr-xray-1" and ann["operation"] == "newOrder"
