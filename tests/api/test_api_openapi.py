"""The OpenAPI document describes every route, and the running API keeps to it:
schemathesis fuzzes every operation over HTTP and finds no 5xx and no response
that violates the document."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path


def test_document_covers_every_route(api, app_module):
    doc = api.get("/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routes = {(m, p) for p, entry in app_module.app.routes.items() for m in entry}
    assert documented == routes
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    order = doc["paths"]["/v3/order"]["post"]
    assert {p["name"] for p in order["parameters"]} >= {"symbol", "side", "type", "quantity", "price",
                                                         "newClientOrderId", "newOrderRespType",
                                                         "selfTradePreventionMode", "timestamp", "signature"}


def test_schemathesis_finds_no_server_errors_or_schema_violations(web_url, tmp_path):
    with urllib.request.urlopen(f"{web_url}/api/openapi.json") as resp:
        assert json.loads(resp.read())["paths"]
    st = Path(sys.executable).with_name("st")
    report = tmp_path / "junit.xml"
    proc = subprocess.run(
        [str(st), "run", f"{web_url}/api/openapi.json", "--url", f"{web_url}/api",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         "--phases", "examples,fuzzing", "--max-examples", "12", "--workers", "1", "--seed", "20260101",
         "--request-timeout", "20", "--suppress-health-check", "all", "--report", "junit",
         "--report-junit-path", str(report)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"})
    out = proc.stdout + proc.stderr
    (Path(os.environ.get("ST_OUT_DIR", tmp_path)) / "schemathesis.txt").write_text(out)
    assert proc.returncode == 0, out[-6000:]
    assert "No issues found" in out or " passed" in out, out[-3000:]
