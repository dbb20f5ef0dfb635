"""Start and permission contracts: every deployed unit runs, from the synthesised
templates, with exactly the environment and the IAM policy they give it.

For each stage (dev, prod) a :class:`LocalDeployment` creates the templates' tables,
secrets, user pool and buckets in a moto server with IAM enforcement, then:

1. the **ops** task runs its template command (``python -m chalicelib.cli migrate``:
   the deploy doc's one migration route) through the Data API;
2. the **matcher** task runs ``python -m matcher`` until ``/healthz`` is healthy; the
   **gateway** service's container runs its template command (``python -m gateway``)
   until ``/healthz`` is healthy, with a client on ``/stream`` and one on ``/ws-api/v3``;
3. the **api** Lambda (env and policy from the Chalice config that
   ``infra.chalice_config`` writes from the resolved stack outputs) takes orders as
   API Gateway events: two crossing orders are settled by the matcher, a third is
   cancelled; the gateway's client receives the trade and its WebSocket API answers a
   signed ``account.status``, takes an ``order.place`` and logs a new web user on with
   its Cognito token;
4. the **reconciler** Lambda makes a pass; the **jobs** task runs a reconciler pass;
5. the **backup-export** Lambda exports every table.

Each unit runs as its own IAM user whose inline policy is its synthesised role policy;
moto (``iam_moto.py``) and the Data API gate (``contract_support.DataApiGate``) deny
what the policy does not allow, per resource.  The last
tests check that nothing was denied, and that every granted action was used.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from contract_support import ROOT, LocalDeployment, free_port, transport

from tests.pipeline.pipeline_support import wait_until

STAGES = ("dev", "prod")
PARTS = ("Network", "Data", "Identity", "Matcher", "Ops")


class Runner:
    """A Lambda unit in its own process (tests/infra/unit_runner.py), warm between calls."""

    def __init__(self, unit: str, env: dict, log: Path):
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "unit_runner.py"), unit],
                                     cwd=str(ROOT), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)

    def call(self, req: dict | None = None) -> dict:
        self.proc.stdin.write(json.dumps(req or {}) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            assert line, f"unit process died (see {self.log.name})"
            if line.startswith("@@unit-result "):
                break
            self.log.write(line.encode())      # the unit's own log lines
        out = json.loads(line.removeprefix("@@unit-result "))
        assert out["ok"], out.get("trace")
        return out["result"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(15)


def lambda_env(config: dict, stage: str, function: str) -> dict[str, str]:
    """What Chalice deploys as the function's environment: top level, then stage, then
    function variables (``test_chalice`` checks this against ``chalice package``)."""
    st = config["stages"][stage]
    return {**config.get("environment_variables", {}), **st.get("environment_variables", {}),
            **st.get("lambda_functions", {}).get(function, {}).get("environment_variables", {})}


class Deployed:
    """One stage, deployed locally, with its units started."""

    def __init__(self, stage: str, synth, workdir: Path):
        from infra import chalice_config as cc

        self.stage, self.workdir = stage, workdir
        templates = {p: synth.template(stage, p) for p in PARTS}
        self.templates = templates
        d = self.d = LocalDeployment(stage, templates, workdir).start()
        d.create_resources()
        # ------------------------------------------------------ identities
        d.make_user("matcher", d.role_statements("Matcher", "MatcherTaskRole"))
        d.make_user("jobs", d.role_statements("Matcher", "JobsTaskRole"))
        d.make_user("ops", d.role_statements("Matcher", "OpsTaskRole"))
        d.make_user("gateway", d.role_statements("Matcher", "GatewayTaskRole"))
        d.make_user("backup-export", d.role_statements("Data", "BackupExportFnRole"))
        chalice_dir = workdir / ".chalice"
        chalice_dir.mkdir()
        shutil.copy(ROOT / ".chalice" / "config.json", chalice_dir / "config.json")
        outputs = workdir / "cdk-outputs.json"
        outputs.write_text(json.dumps(d.outputs()))
        assert cc.main(["--stage", stage, "--outputs", str(outputs), "--chalice-dir", str(chalice_dir)]) == 0
        self.chalice_config = json.loads((chalice_dir / "config.json").read_text())
        for unit in ("api", "reconciler"):
            policy = json.loads((chalice_dir / f"policy-{stage}-{unit}.json").read_text())
            d.make_user(unit, policy["Statement"])
        self.secret = {name: d.secret_values[d.resolve("Data", {"Ref": lid})]
                       for name, lid in self._secret_ids().items()}
        # a web user (signed up through Cognito, no account row yet)
        pool_id = d.resolve("Identity", {"Ref": next(lid for lid, r in templates["Identity"]["Resources"].items()
                                                     if r["Type"] == "AWS::Cognito::UserPool")})
        self.web_email = f"web-{uuid.uuid4().hex[:6]}@contract.test"
        self.web_password = "Contract-Passw0rd-1"
        cognito = d.admin("cognito-idp")
        cognito.admin_create_user(UserPoolId=pool_id, Username=self.web_email, MessageAction="SUPPRESS",
                                  UserAttributes=[{"Name": "email", "Value": self.web_email},
                                                  {"Name": "email_verified", "Value": "true"}])
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=self.web_email, Password=self.web_password,
                                        Permanent=True)
        # another, whose first authorised call is the gateway's token logon (the web app's stream)
        self.gw_web_email = f"gw-web-{uuid.uuid4().hex[:6]}@contract.test"
        cognito.admin_create_user(UserPoolId=pool_id, Username=self.gw_web_email, MessageAction="SUPPRESS",
                                  UserAttributes=[{"Name": "email", "Value": self.gw_web_email},
                                                  {"Name": "email_verified", "Value": "true"}])
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=self.gw_web_email,
                                        Password=self.web_password, Permanent=True)
        self.probe_user = d.make_user("probe", [{
            "Effect": "Allow", "Action": ["dynamodb:GetItem"],
            "Resource": [d.resolve("Data", {"Fn::GetAtt": [self._table_lid("trades"), "Arn"]})]}])
        # the test's own hand: removes an intent a crash would have lost (the matcher's re-send puts it back)
        self.intents_user = d.make_user("intents-remover", [{
            "Effect": "Allow", "Action": ["dynamodb:DeleteItem"],
            "Resource": [d.resolve("Data", {"Fn::GetAtt": [self._table_lid("intents"), "Arn"]})]}])
        d.enforce()
        self.procs: list[subprocess.Popen] = []
        self.runners: dict[str, Runner] = {}

    def _secret_ids(self) -> dict[str, str]:
        out = {}
        for lid, res in self.templates["Data"]["Resources"].items():
            if res["Type"] == "AWS::SecretsManager::Secret":
                out[lid.rstrip("0123456789ABCDEF")] = lid
        return out

    def _table_lid(self, suffix: str) -> str:
        for lid, res in self.templates["Data"]["Resources"].items():
            if res["Type"] == "AWS::DynamoDB::Table" and res["Properties"]["TableName"].endswith(f"-{suffix}"):
                return lid
        raise LookupError(suffix)

    # ---------------------------------------------------------------- tasks
    def task(self, family: str, container: str, extra: dict | None = None,
             command: list[str] | None = None) -> subprocess.Popen:
        """The container's command with the container's environment (plus the platform)."""
        d = self.d
        c = d.task_container(family, container)
        env = {**transport(d.task_env(family, container)), **d.platform(family), **(extra or {})}
        cmd = command or c.get("Command") or ["python", "-m", "matcher"]      # the image's CMD
        assert cmd[0] == "python"
        log = open(self.workdir / f"{family}.log", "ab")
        p = subprocess.Popen([sys.executable, *cmd[1:]], cwd=str(ROOT), env=env, stdout=log,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def runner(self, unit: str) -> Runner:
        if unit not in self.runners:
            if unit == "backup-export":
                fn = next(r for r in self.templates["Data"]["Resources"].values()
                          if r["Type"] == "AWS::Lambda::Function"
                          and r["Properties"].get("Handler") == "backup_export.handler")
                env = {k: self.d.resolve("Data", v) for k, v in fn["Properties"]["Environment"]["Variables"].items()}
            else:
                from infra.units import CHALICE_FUNCTIONS

                env = lambda_env(self.chalice_config, self.stage, CHALICE_FUNCTIONS[unit])
            env = {**transport(env), **self.d.platform(unit), "POWERTOOLS_TRACE_DISABLED": "true"}
            self.runners[unit] = Runner(unit, env, self.workdir / f"{unit}.log")
        return self.runners[unit]

    def close(self):
        for r in self.runners.values():
            r.close()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.d.stop()


@pytest.fixture(scope="module", params=STAGES)
def deployed(request, synth, make_scratch_dir):
    workdir = make_scratch_dir(f"exchange-contract-{request.param}-")
    started: list[LocalDeployment] = []
    original_start = LocalDeployment.start

    def tracked_start(self):
        started.append(self)
        return original_start(self)

    LocalDeployment.start = tracked_start
    try:
        dep = Deployed(request.param, synth, workdir)
    except BaseException:
        for d in started:               # a failed setup leaves no servers behind
            d.stop()
        raise
    finally:
        LocalDeployment.start = original_start
    yield dep
    dep.close()
    shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------ helpers
def signed(secret: str, params: dict) -> str:
    import hashlib
    import hmac
    from urllib.parse import urlencode

    q = urlencode({**params, "timestamp": str(int(time.time() * 1000))})
    return q + "&signature=" + hmac.new(secret.encode(), q.encode(), hashlib.sha256).hexdigest()


def setup_traders(dep: Deployed) -> list[dict]:
    """Two funded accounts with API keys, made the way an operator would (the domain
    code against the deployment's database), in a process of its own."""
    script = r'''
import json, sys
from decimal import Decimal
from chalicelib import admin
from chalicelib.accounts import ensure_account
from chalicelib.db import transaction
out = []
for i in range(2):
    email = f"trader{i}-%s@contract.test"
    with transaction() as tx:
        acct = ensure_account(tx, email)
    for asset, amount in (("USDT", "100000"), ("BTC", "2")):
        admin.deposit(acct.account_id, asset, Decimal(amount), transfer_id=f"dep-{acct.account_id}-{asset}-%s")
    key, secret = admin.create_api_key(acct.account_id, "contract")
    out.append({"account_id": acct.account_id, "key": key.api_key, "secret": secret})
print(json.dumps(out))
''' % (uuid.uuid4().hex[:6], uuid.uuid4().hex[:6])  # noqa: UP031  (the script's own f-strings use braces)
    d = dep.d
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "EXCHANGE_STAGE": "test",
           "DATAAPI_ENDPOINT_URL": d.dataapi.url, "DATABASE_URL": d.db_url,
           "API_KEY_MASTER_SECRET": dep.secret["ApiKeySecret"], "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    run = subprocess.run([sys.executable, "-c", script], cwd=str(ROOT), env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def api(dep: Deployed, method: str, path: str, trader: dict | None = None, params: dict | None = None,
        query: str = "", form: dict | None = None, token: str | None = None) -> dict:
    from urllib.parse import urlencode

    # as CloudFront sends it: the viewer's address, trusted because the origin secret matches
    headers = {"X-Origin-Verify": dep.secret["OriginVerify"], "CloudFront-Viewer-Address": "203.0.113.9:443"}
    body = urlencode(form) if form else ""
    if trader:
        headers["X-MBX-APIKEY"] = trader["key"]
        text = signed(trader["secret"], params or {})
        body, query = (text, "") if method == "POST" else ("", text)
    resp = dep.runner("api").call({"method": method, "path": path, "query": query, "body": body, "headers": headers,
                                   "token": token})
    resp["json"] = json.loads(resp["body"]) if resp.get("body") else None
    return resp


# -------------------------------------------------------------------------- tests
def test_moto_denies_what_a_policy_does_not_allow(deployed):
    """The enforcement the permission contract relies on: an action on a table the
    policy names is allowed; the same action on another table, or another action on
    the same table, is AccessDenied."""
    import boto3
    from botocore.exceptions import ClientError

    d = deployed.d
    u = deployed.probe_user
    ddb = boto3.client("dynamodb", endpoint_url=d.moto_url, region_name="us-east-1",
                       aws_access_key_id=u["AccessKeyId"], aws_secret_access_key=u["SecretAccessKey"])
    trades = f"exchange-{deployed.stage}-trades"
    props = next(r for r in deployed.templates["Data"]["Resources"].values()
                 if r["Type"] == "AWS::DynamoDB::Table" and r["Properties"]["TableName"] == trades)["Properties"]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    key = {k["AttributeName"]: {types[k["AttributeName"]]: "1"} for k in props["KeySchema"]}
    ddb.get_item(TableName=trades, Key=key)
    for call in (lambda: ddb.get_item(TableName=f"exchange-{deployed.stage}-book", Key={"x": {"S": "1"}}),
                 lambda: ddb.put_item(TableName=trades, Item=key)):
        with pytest.raises(ClientError) as err:
            call()
        # moto answers a JSON-protocol denial in its XML shape: botocore sees a bare 403
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and "AccessDenied" in str(err.value)
    denied = [x for x in d.decisions("probe") if not x["allowed"]]
    assert {x["action"] for x in denied} == {"dynamodb:GetItem", "dynamodb:PutItem"}


def test_ops_task_runs_the_migrations_from_its_template_command(deployed):
    """docs/deploy.md step 4: the one-off ops task, its command and env from the template."""
    c = deployed.d.task_container("ops", "ops")
    assert c["Command"] == ["python", "-m", "chalicelib.cli", "migrate"]
    p = deployed.task("ops", "ops")
    assert p.wait(120) == 0, (deployed.workdir / "ops.log").read_text()[-3000:]
    assert "migration" in (deployed.workdir / "ops.log").read_text()


def test_matcher_starts_healthy_and_sends_traces_to_the_sidecar(deployed):
    """``python -m matcher`` with the task's env: /healthz healthy; its X-Ray segments
    reach the daemon address (here a UDP socket standing in for the sidecar)."""
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(1)
    deployed.xray = daemon
    port = free_port()
    c = deployed.d.task_container("matcher", "matcher")
    assert {"Name": "MATCHER_HEALTH_PORT", "Value": "8080"} in c["Environment"]
    assert "Command" not in c            # the image's CMD: python -m matcher
    deployed.task("matcher", "matcher", extra={"MATCHER_HEALTH_PORT": str(port),
                                               "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}"})
    deployed.health = f"http://127.0.0.1:{port}/healthz"
    start_gateway(deployed)     # its start overlaps the matcher's (checked by the next test)

    def healthy():
        try:
            return requests.get(deployed.health, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, 60, "matcher /healthz")


def start_gateway(deployed) -> None:
    """The gateway container's command and env from the template (only the port is the test's)."""
    from gateway.config import PORT

    c = deployed.d.task_container("gateway", "gateway")
    port = free_port()
    command = [str(port) if a == str(PORT) else a for a in c["Command"]]
    assert command != c["Command"] and command[:3] == ["python", "-m", "gateway"]
    deployed.gateway = (deployed.task("gateway", "gateway", command=command), f"127.0.0.1:{port}")


def test_gateway_starts_healthy_from_its_template_command(deployed):
    """The gateway (started beside the matcher, :func:`start_gateway`): /healthz healthy,
    its connections metric on stdout in the name the service's scaling policy reads,
    and a /stream client subscribed for the trades the next tests make."""
    import threading

    from websockets.sync.client import connect

    p, base = deployed.gateway
    log = deployed.workdir / "gateway.log"

    def healthy():
        assert p.poll() is None, log.read_text()[-3000:]
        try:
            return requests.get(f"http://{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, 30, "gateway /healthz")
    wait_until(lambda: '"GatewayConnections"' in log.read_text(), 10, "the connections metric (EMF)")
    emf = json.loads(next(ln for ln in log.read_text().splitlines() if '"GatewayConnections"' in ln))
    (spec,) = emf["_aws"]["CloudWatchMetrics"]
    assert spec["Namespace"] == "Exchange" and emf["service"] == "gateway", emf
    deployed.gateway_url = f"ws://{base}"
    deployed.stream = connect(f"ws://{base}/stream?streams=btcusdt@trade", open_timeout=10)
    deployed.stream_messages = []

    def read():
        try:
            for text in deployed.stream:
                deployed.stream_messages.append(json.loads(text))
        except Exception:  # closed at the end of the module
            pass

    threading.Thread(target=read, daemon=True).start()


def test_web_sign_in_and_the_cognito_authorizer(deployed):
    """A Cognito user signs in through the API, and its first authorised request (an
    access token: no e-mail claim) makes the account, looking the e-mail up in Cognito."""
    r = api(deployed, "POST", "/v1/auth/signIn", form={"email": deployed.web_email,
                                                       "password": deployed.web_password})
    assert r["statusCode"] == 200, r
    keys = api(deployed, "GET", "/v1/apiKeys", token=r["json"]["accessToken"])
    assert keys["statusCode"] == 200 and keys["json"] == [], keys
    assert "cognito-idp:AdminGetUser" in {x["action"] for x in deployed.d.decisions("api") if x["allowed"]}


def test_ops_task_grants_and_revokes_the_first_admin(deployed):
    """docs/deploy.md's first-admin step: the ops task with the template's env runs
    ``grant-admin`` then ``revoke-admin`` for the web user (its account was made by the
    sign-in above): the Aurora role and the Cognito group, both ways."""
    for command in ("grant-admin", "revoke-admin"):
        p = deployed.task("ops", "ops", command=["python", "-m", "chalicelib.cli", command, deployed.web_email])
        assert p.wait(120) == 0, (deployed.workdir / "ops.log").read_text()[-3000:]
    used = {x["action"] for x in deployed.d.decisions("ops") if x["allowed"]}
    assert {"cognito-idp:AdminAddUserToGroup", "cognito-idp:AdminRemoveUserFromGroup"} <= used, used


def test_ops_task_halts_and_resumes_a_symbol(deployed):
    """The operator's matcher-group commands with the ops task's env and role:
    ``halt-symbol`` (the symbol's group drains and lets it go -- or, with no live
    matcher holding it, the command marks it halted) and ``move-symbol`` back into its
    group, which resumes it (docs/scaling-and-cost.md, *Symbols over matcher groups*),
    re-sending with its own role the orders accepted meanwhile into its group's table."""
    def ops(*command: str) -> None:
        p = deployed.task("ops", "ops", command=["python", "-m", "chalicelib.cli", "--json", *command])
        assert p.wait(120) == 0, (deployed.workdir / "ops.log").read_text()[-3000:]

    ops("halt-symbol", "ETHBTC", "--timeout", "60")
    # two orders accepted while it is halted: one intent waits in the table, one never got there
    trader = setup_traders(deployed)[1]
    placed = [api(deployed, "POST", "/v3/order", trader, {
        "symbol": "ETHBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1",
        "price": "0.01"})["json"] for _ in range(2)]
    table = f"exchange-{deployed.stage}-intents"
    import boto3

    user = deployed.intents_user
    boto3.client("dynamodb", endpoint_url=deployed.d.moto_url, region_name="us-east-1",
                 aws_access_key_id=user["AccessKeyId"], aws_secret_access_key=user["SecretAccessKey"]).delete_item(
        TableName=table, Key={"intent_id": {"S": f"{trader['account_id']}:{placed[1]['clientOrderId']}"}})
    ops("move-symbol", "ETHBTC", "0", "--no-wait")
    log = (deployed.workdir / "ops.log").read_text()
    assert '"state": "HALTED"' in log and '"toGroup": 0' in log, log[-2000:]
    leases = f"table/exchange-{deployed.stage}-leases"
    used = {x["action"] for x in deployed.d.decisions("ops") if x["allowed"] and x["resource"].endswith(leases)}
    assert {"dynamodb:GetItem", "dynamodb:PutItem"} <= used, used
    # the matcher takes it back and re-sends both into its group's table (a touch, a put): both rest
    wait_until(lambda: {"dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"} <= {
        x["action"] for x in deployed.d.decisions("matcher") if x["allowed"] and x["resource"].endswith(table)},
        60, "the matcher's re-send")
    for order in placed:
        wait_until(lambda o=order: api(deployed, "GET", "/v3/order", trader, {
            "symbol": "ETHBTC", "orderId": o["orderId"]})["json"]["status"] == "NEW", 60, "the order on the book")


def test_orders_through_the_api_are_settled_and_cancelled(deployed):
    assert api(deployed, "GET", "/v3/ping")["statusCode"] == 200
    traders = deployed.traders = setup_traders(deployed)
    sell = api(deployed, "POST", "/v3/order", traders[0], {
        "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
        "price": "30000"})
    assert sell["statusCode"] == 200, sell
    buy = api(deployed, "POST", "/v3/order", traders[1], {
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
        "price": "30000"})
    assert buy["statusCode"] == 200, buy

    def status(trader, order_id):
        r = api(deployed, "GET", "/v3/order", trader, {"symbol": "BTCUSDT", "orderId": order_id})
        return r["json"]["status"] if r["statusCode"] == 200 else None

    wait_until(lambda: status(traders[0], sell["json"]["orderId"]) == "FILLED"
               and status(traders[1], buy["json"]["orderId"]) == "FILLED", 60, "both orders FILLED")
    rest = api(deployed, "POST", "/v3/order", traders[0], {
        "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
        "price": "90000"})
    wait_until(lambda: status(traders[0], rest["json"]["orderId"]) == "NEW", 60, "order on the book")
    cancel = api(deployed, "DELETE", "/v3/order", traders[0], {"symbol": "BTCUSDT",
                                                               "orderId": rest["json"]["orderId"]})
    assert cancel["statusCode"] == 200, cancel
    wait_until(lambda: status(traders[0], rest["json"]["orderId"]) == "CANCELED", 60, "order CANCELED")
    # a cold cache (Redis flushed or restarted): the API reads the matcher's DynamoDB book item
    import redis as redis_py

    from chalicelib import marketdata as md

    r = redis_py.Redis.from_url(deployed.d.redis.url, password=deployed.d.redis_password)
    for key in r.scan_iter(match=f"*{md.depth_key('ETHUSDT', '')}"):
        r.delete(key)
    assert api(deployed, "GET", "/v3/depth", params=None, query="symbol=ETHUSDT")["statusCode"] == 200
    assert any(x["action"] == "dynamodb:GetItem" and x["resource"].endswith("-book")
               for x in deployed.d.decisions("api") if x["allowed"])


def test_gateway_streams_the_trade_and_answers_the_ws_api(deployed):
    """The settled trade above reached the gateway's /stream client; a signed
    ``account.status`` and ``order.place`` over /ws-api/v3 (API key secret, Data API,
    the intents table: the declared access) answer as Binance does."""
    import hashlib
    import hmac

    from websockets.sync.client import connect

    wait_until(lambda: any(m["stream"] == "btcusdt@trade" for m in deployed.stream_messages), 20, "a trade event")
    trade = next(m["data"] for m in deployed.stream_messages if m["stream"] == "btcusdt@trade")
    assert trade["e"] == "trade" and trade["s"] == "BTCUSDT" and Decimal(trade["p"]) == 30000, trade
    deployed.stream.close()
    trader = deployed.traders[0]

    def call(req_id: str, method: str, params: dict) -> dict:
        params = {**params, "apiKey": trader["key"], "timestamp": int(time.time() * 1000)}
        text = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        params["signature"] = hmac.new(trader["secret"].encode(), text.encode(), hashlib.sha256).hexdigest()
        ws.send(json.dumps({"id": req_id, "method": method, "params": params}))
        reply = json.loads(ws.recv(timeout=20))
        assert reply["id"] == req_id and reply["status"] == 200, reply
        return reply["result"]

    # as CloudFront connects: the viewer's address, believed because the origin secret matches
    viewer = {"X-Origin-Verify": deployed.secret["OriginVerify"], "CloudFront-Viewer-Address": "203.0.113.9:443"}
    with connect(f"{deployed.gateway_url}/ws-api/v3", open_timeout=10, additional_headers=viewer) as ws:
        balances = call("c1", "account.status", {})["balances"]
        assert {b["asset"] for b in balances} >= {"BTC", "USDT"}
        order = call("c2", "order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                          "quantity": "0.01", "price": "10000", "newOrderRespType": "ACK"})
        assert order["symbol"] == "BTCUSDT" and order["orderId"] > 0, order
        # the web app's way on: a Cognito access token (no e-mail claim) of a user the
        # exchange has not seen yet: the gateway makes the account, looking the e-mail up
        r = api(deployed, "POST", "/v1/auth/signIn", form={"email": deployed.gw_web_email,
                                                           "password": deployed.web_password})
        assert r["statusCode"] == 200, r
        ws.send(json.dumps({"id": "t1", "method": "session.logon", "params": {"token": r["json"]["accessToken"]}}))
        reply = json.loads(ws.recv(timeout=20))
        assert reply["id"] == "t1" and reply["status"] == 200 and reply["result"]["apiKey"] is None, (
            reply, (deployed.workdir / "gateway.log").read_text()[-3000:])
        ws.send(json.dumps({"id": "t2", "method": "userDataStream.subscribe"}))
        reply = json.loads(ws.recv(timeout=20))
        assert reply["id"] == "t2" and reply["status"] == 200, reply
    used = {x["action"] for x in deployed.d.decisions("gateway") if x["allowed"]}
    assert {"rds-data:ExecuteStatement", "dynamodb:PutItem", "cognito-idp:AdminGetUser"} <= used, used


def half_done(dep: Deployed) -> None:
    """What a crash leaves for the reconciler (docs: chalicelib/reconcile.py): an
    outbox row whose intent never reached DynamoDB, and one whose intent did but was
    never acknowledged by the matcher for long."""
    import psycopg

    with psycopg.connect(dep.d.db_url, autocommit=True) as conn:
        row = conn.execute("SELECT intent_id, account_id, symbol, kind, order_id, payload::text FROM intent_outbox"
                           " WHERE kind = 'NEW' ORDER BY created_at LIMIT 1").fetchone()
        conn.execute("INSERT INTO intent_outbox (intent_id, account_id, symbol, kind, order_id, payload, created_at)"
                     " VALUES (%s, %s, %s, %s, %s, %s::jsonb, now() - interval '10 seconds')",
                     (f"crash-{uuid.uuid4().hex}", row[1], row[2], row[3], row[4], row[5]))
        conn.execute("UPDATE intent_outbox SET sent_at = NULL, created_at = now() - interval '10 minutes'"
                     " WHERE intent_id = %s", (row[0],))


def test_matcher_segments_reach_the_xray_sidecar(deployed):
    """The batches of the orders above were traced to the daemon address the sidecar
    listens on (a UDP socket standing in for it)."""
    segments = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(s.get("name") == "matcher.batch" for s in segments):
        try:
            data = deployed.xray.recv(65536).decode()
        except TimeoutError:
            continue
        header, _, body = data.partition("\n")
        if json.loads(header).get("format") == "json":
            segments.append(json.loads(body))
    batches = [s for s in segments if s.get("name") == "matcher.batch"]
    assert batches, (deployed.workdir / "matcher.log").read_text()[-3000:]
    assert all(s.get("trace_id") and s.get("annotations", {}).get("shard") for s in batches)


def test_reconciler_lambda_makes_a_pass(deployed):
    for p in deployed.procs:          # the matcher stops: what the reconciler writes stays for it to see
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    half_done(deployed)
    result = deployed.runner("reconciler").call()
    assert result["completed"] >= 1 and result["nudged"] >= 1, result


def test_jobs_task_runs_reconciler_passes(deployed):
    half_done(deployed)
    p = deployed.task("jobs", "jobs")
    log_path = deployed.workdir / "jobs.log"      # the first pass at start, then every MATCHER_RECONCILE_MS
    wait_until(lambda: p.poll() is not None or '"reconciled"' in log_path.read_text(), 60, "a jobs pass")
    assert p.poll() is None, log_path.read_text()[-3000:]
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 0
    log = (deployed.workdir / "jobs.log").read_text()
    assert "jobs stopped" in log and "failed" not in log, log[-3000:]
    assert '"completed"' in log and '"nudged"' in log, log[-3000:]


def test_backup_export_lambda_exports_every_table(deployed):
    result = deployed.runner("backup-export").call()
    tables = {r["Properties"]["TableName"] for r in deployed.templates["Data"]["Resources"].values()
              if r["Type"] == "AWS::DynamoDB::Table"}
    assert set(result["dynamodb"]) == tables


UNITS = ("ops", "matcher", "api", "reconciler", "jobs", "backup-export", "gateway")


def test_no_unit_was_denied_anything(deployed):
    """The permission contract, one way: every call every unit made was allowed."""
    denied = {u: sorted({(x["action"], x["resource"]) for x in deployed.d.decisions(u) if not x["allowed"]})
              for u in UNITS}
    assert all(not v for v in denied.values()), json.dumps({u: v for u, v in denied.items() if v})
    used = {u: sorted({x["action"] for x in deployed.d.decisions(u)}) for u in UNITS}
    assert all(used[u] for u in ("matcher", "api", "backup-export", "gateway")), used
    for u in ("ops", "api", "reconciler", "gateway"):          # through the Data API, under the gate's IAM check
        assert "rds-data:ExecuteStatement" in used[u] and "secretsmanager:GetSecretValue" in used[u], used[u]


# Actions moto cannot observe, each with where it is checked instead.
NOT_OBSERVABLE = {
    # rds-data: enforced by the test's DataApiGate; an operation a run may not reach
    # (a rollback, a batch) is checked against the code instead
    # (test_data_api_actions_are_the_calls_the_code_makes)
    "rds-data:RollbackTransaction": "static", "rds-data:BatchExecuteStatement": "static",
    # X-Ray: the sidecar / Lambda sends segments (test_matcher_starts_healthy_and_sends_traces_to_the_sidecar)
    "xray:PutTraceSegments": "xray", "xray:PutTelemetryRecords": "xray", "xray:GetSamplingRules": "xray",
    "xray:GetSamplingTargets": "xray",
    # implied by reading a KMS-encrypted secret / by an S3 export with the data key (AWS-side)
    "kms:Decrypt": "aws-side", "kms:DescribeKey": "aws-side", "kms:CreateGrant": "aws-side",
    "kms:GenerateDataKey": "aws-side", "kms:Encrypt": "aws-side",
    # what any Lambda needs from the platform (logs to its own group, ENIs in the VPC)
    "logs:CreateLogStream": "platform", "logs:PutLogEvents": "platform",
    "ec2:CreateNetworkInterface": "platform", "ec2:DescribeNetworkInterfaces": "platform",
    "ec2:DeleteNetworkInterface": "platform", "ec2:AssignPrivateIpAddresses": "platform",
    "ec2:UnassignPrivateIpAddresses": "platform",
    # the export task writes the objects with the export role; PassRole is checked by RDS itself
    "s3:PutObject": "aws-side", "s3:AbortMultipartUpload": "aws-side", "s3:PutObjectAcl": "aws-side",
    "iam:PassRole": "aws-side",
}


def _pairs(policy: dict) -> set[tuple[str, str]]:
    out = set()
    for s in policy["Statement"]:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        out |= {(a, r) for a in actions for r in resources}
    return out


def test_every_granted_action_is_used(deployed):
    """The permission contract, the other way: every (action, resource) a unit's
    policy grants was used by its run, or is in NOT_OBSERVABLE with the check that
    covers it instead.  A grant on the wrong table, or of an unused action, fails."""
    from fnmatch import fnmatchcase

    unused = {}
    for u in UNITS:
        used = [(x["action"], x["resource"]) for x in deployed.d.decisions(u) if x["allowed"]]
        # A put into matcher group n's intents table takes the one code path a put into group
        # 0's takes (the table is the symbol's route's, chalicelib/routing.py), and this run's
        # symbols are all in group 0: the same action on group 0's table counts for every
        # group's (tests/pipeline/test_groups.py puts into and reads every group's table).
        used += [(a, r + f"-g{g}") for a, r in used if r.endswith("-intents") for g in range(1, 10)]
        for action, resource in sorted(_pairs(deployed.d.users[u]["policy"])):
            if any(a == action and fnmatchcase(r, resource) for a, r in used):
                continue
            if action in NOT_OBSERVABLE:
                continue
            if action == "rds:DescribeDBClusterSnapshots" and ":cluster-snapshot:" in resource:
                continue      # AWS also evaluates it against the snapshots it lists; moto only sees the cluster
            unused.setdefault(u, []).append(f"{action} on {resource}")
    assert not unused, json.dumps(unused, indent=1)


def test_data_api_actions_are_the_calls_the_code_makes():
    """rds-data has no enforcement in moto (the DataApiGate enforces what the runs
    reach): the declared actions are exactly the Data API operations the code can call
    (chalicelib/db.py and the aurora_data_api driver)."""
    import aurora_data_api

    from chalicelib.units import DATA_API

    sources = (ROOT / "chalicelib" / "db.py").read_text() + Path(aurora_data_api.__file__).read_text()
    called = {m for m in re.findall(r"\.(execute_statement|batch_execute_statement|begin_transaction|"
                                    r"commit_transaction|rollback_transaction)\(", sources)}
    as_actions = {"rds-data:" + "".join(w.capitalize() for w in c.split("_")) for c in called}
    assert as_actions == set(DATA_API)
