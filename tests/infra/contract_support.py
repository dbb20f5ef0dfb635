"""The deployed units, run from the synthesised templates against local stand-ins.

:class:`LocalDeployment` plays CloudFormation for one stage: it creates every table,
secret, user pool and bucket of the Data and Identity templates in a moto server
with IAM enforcement (``iam_moto.py``), on a PostgreSQL, Redis and Data API of its
own, and resolves the templates' intrinsics (``Ref``, ``Fn::GetAtt``, ``Fn::Join``,
``Fn::ImportValue``, ...) to those local resources.  Each unit then gets

* its environment exactly as its template gives it (task definition, Lambda
  function, or the Chalice config written by ``infra.chalice_config`` from the
  resolved stack outputs), container secrets read from the local secrets;
* its synthesised role policy, resources resolved to the local ARNs, as the inline
  policy of an IAM user whose keys it runs with: moto enforces it for DynamoDB,
  Streams, Secrets Manager, Cognito and RDS, and :class:`DataApiGate` for the Data API
  (``rds-data:*`` on the cluster, ``GetSecretValue`` on the credentials' secret);
* and, besides, only what the platform supplies to every process (``PLATFORM``).

Local substitutions, the only ones, each because the local stand-in cannot do what
AWS does: ``rediss://`` -> ``redis://`` (the embedded Redis has no TLS), the matcher's
health port 8080 -> a free port (tasks share the host's network here, not one per
task), and the X-Ray daemon address (the sidecar is a UDP socket in the test).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests
from infra_support import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Unresolvable(LookupError):
    pass


DATA_API_OPS = {"/Execute": "ExecuteStatement", "/BatchExecute": "BatchExecuteStatement",
                "/BeginTransaction": "BeginTransaction", "/CommitTransaction": "CommitTransaction",
                "/RollbackTransaction": "RollbackTransaction", "/ExecuteSql": "ExecuteSql"}


def allows(policy: dict, action: str, resource: str) -> bool:
    """IAM evaluation for Allow-only policies (what the synthesised ones are)."""
    from fnmatch import fnmatchcase

    for st in policy["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if any(fnmatchcase(action, a) for a in actions) and any(fnmatchcase(resource, r) for r in resources):
            return True
    return False


class DataApiGate:
    """IAM in front of the local Data API (moto has no rds-data): each request's caller
    (its SigV4 access key) must be allowed ``rds-data:<Op>`` on the request's cluster
    ARN and ``secretsmanager:GetSecretValue`` on its secret ARN, as AWS checks; a
    denied request gets AWS's 403 AccessDeniedException, every decision is recorded."""

    def __init__(self, upstream: str, deployment: LocalDeployment):
        import http.server
        import threading
        import urllib.error
        import urllib.request


        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                m = re.search(r"Credential=([^/]+)/", self.headers.get("Authorization", ""))
                key = m.group(1) if m else "?"
                req = json.loads(body or b"{}")
                op = DATA_API_OPS.get(self.path.split("?", 1)[0], self.path)
                checks = [(f"rds-data:{op}", req.get("resourceArn", "")),
                          ("secretsmanager:GetSecretValue", req.get("secretArn", ""))]
                policy = next((u["policy"] for u in deployment.users.values() if u["AccessKeyId"] == key), None)
                ok = True
                for action, resource in checks:
                    allowed = policy is not None and allows(policy, action, resource)
                    deployment.record_decision({"key": key, "action": action, "resource": resource,
                                                "allowed": allowed})
                    ok &= allowed
                if not ok:
                    out = json.dumps({"message": f"not authorized to perform {checks[0][0]}"}).encode()
                    self.send_response(403)
                    self.send_header("x-amzn-ErrorType", "AccessDeniedException")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                fwd = urllib.request.Request(upstream + self.path, data=body, method="POST",
                                             headers={k: v for k, v in self.headers.items()
                                                      if k.lower() not in ("host", "content-length")})
                try:
                    with urllib.request.urlopen(fwd, timeout=60) as resp:
                        status, headers, out = resp.status, resp.headers, resp.read()
                except urllib.error.HTTPError as exc:
                    status, headers, out = exc.code, exc.headers, exc.read()
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class LocalDeployment:
    def __init__(self, stage: str, templates: dict[str, dict], workdir: Path):
        self.stage = stage
        self.templates = templates          # part -> template dict
        self.workdir = workdir
        self.values: dict[tuple[str, str, str], str] = {}   # (part, logical id, "Ref"|attr) -> value
        self.secret_values: dict[str, str] = {}               # secret ARN -> SecretString
        self.users: dict[str, dict] = {}                      # unit -> access key
        self.procs: list[subprocess.Popen] = []
        self.record = workdir / "iam-decisions.jsonl"
        self.record.write_text("")

    # ------------------------------------------------------------------ servers
    def start(self) -> LocalDeployment:
        from devstack import postgres as pg, redisserver
        from devstack.dataapi import DataApiServer

        self.pg = pg.start(None, self.workdir / "pgdata")
        self.db_url = self.pg.database_url("exchange")     # the template's DB_NAME
        self.redis_port = free_port()
        self.redis = redisserver.start(None, self.workdir / "redis", port=self.redis_port)
        self.redis_password = secrets.token_hex(16)
        import redis as redis_py

        redis_py.Redis.from_url(self.redis.url).config_set("requirepass", self.redis_password)
        self.dataapi = DataApiServer(self.db_url, host="127.0.0.1", port=0)
        self.dataapi.start()
        self.gate = DataApiGate(self.dataapi.url, self)
        port = free_port()
        self.moto_url = f"http://127.0.0.1:{port}"
        log = open(self.workdir / "moto.log", "ab")
        self.procs.append(subprocess.Popen([sys.executable, str(HERE / "iam_moto.py"), str(port), str(self.record)],
                                           stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT)))
        for _ in range(200):
            try:
                requests.get(self.moto_url + "/moto-api/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        for server in ("gate", "dataapi", "redis", "pg"):    # whatever a (partial) start made
            if hasattr(self, server):
                getattr(self, server).stop()

    def admin(self, service: str):
        return boto3.client(service, endpoint_url=self.moto_url, region_name=REGION,
                            aws_access_key_id="AKIAADMINSETUP0000000", aws_secret_access_key="setup")

    def enforce(self) -> None:
        """From now on moto checks every request against the caller's IAM policy."""
        r = requests.post(self.moto_url + "/moto-api/reset-auth", data=b"0", timeout=5)
        r.raise_for_status()

    # ------------------------------------------------------- "CloudFormation"
    def create_resources(self) -> None:
        ddb, sm, cognito = self.admin("dynamodb"), self.admin("secretsmanager"), self.admin("cognito-idp")
        s3 = self.admin("s3")
        pg_host = self.db_url.split("host=", 1)[1].split("&", 1)[0]
        # The network has no local counterpart (one host): its ids are placeholders.
        for lid in self.templates["Network"]["Resources"]:
            for attr in ("Ref", "GroupId", "VpcId", "CidrBlock"):
                self.values[("Network", lid, attr)] = f"local-{lid.lower()}"
        for part in ("Data", "Identity"):
            resources = self.templates[part]["Resources"]
            for lid, res in resources.items():
                t, props = res["Type"], res.get("Properties", {})
                key = lambda attr, part=part, lid=lid: (part, lid, attr)   # noqa: E731
                if t == "AWS::DynamoDB::Table":
                    kw = dict(TableName=props["TableName"], KeySchema=props["KeySchema"],
                              AttributeDefinitions=props["AttributeDefinitions"], BillingMode=props["BillingMode"])
                    if "StreamSpecification" in props:
                        kw["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
                    table = ddb.create_table(**kw)["TableDescription"]
                    ddb.update_continuous_backups(TableName=props["TableName"], PointInTimeRecoverySpecification={
                        "PointInTimeRecoveryEnabled": True})
                    self.values.update({key("Ref"): props["TableName"], key("Arn"): table["TableArn"],
                                        key("StreamArn"): table.get("LatestStreamArn", "")})
                elif t == "AWS::SecretsManager::Secret":
                    if lid.startswith("DbSecret"):
                        value = json.dumps({"username": "postgres", "password": "", "engine": "postgres",
                                            "host": pg_host, "port": 5432, "dbname": "exchange"})
                    elif lid.startswith("RedisAuth"):
                        value = self.redis_password
                    else:
                        value = secrets.token_urlsafe(32)
                    arn = sm.create_secret(Name=props["Name"], SecretString=value)["ARN"]
                    self.secret_values[arn] = value
                    self.values[key("Ref")] = arn
                elif t == "AWS::RDS::DBCluster":
                    # in moto too (it keeps an automated snapshot, which the backup export exports)
                    self.admin("rds").create_db_cluster(
                        DBClusterIdentifier=props["DBClusterIdentifier"], Engine=props["Engine"],
                        MasterUsername="postgres", MasterUserPassword="local-only-pw")
                    self.values.update({key("Ref"): props["DBClusterIdentifier"], key("Endpoint.Address"): pg_host,
                                        key("Endpoint.Port"): "5432",
                                        key("DBClusterArn"): f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:"
                                                             f"{props['DBClusterIdentifier']}"})
                elif t == "AWS::ElastiCache::ReplicationGroup":
                    self.values.update({key("PrimaryEndPoint.Address"): "127.0.0.1",
                                        key("PrimaryEndPoint.Port"): str(self.redis_port)})
                elif t == "AWS::S3::Bucket":
                    name = f"{self.stage}-{lid.lower()}"[:60]
                    s3.create_bucket(Bucket=name)
                    self.values.update({key("Ref"): name, key("Arn"): f"arn:aws:s3:::{name}"})
                elif t == "AWS::KMS::Key":
                    self.values.update({key("Ref"): f"local-{lid}",
                                        key("Arn"): f"arn:aws:kms:{REGION}:{ACCOUNT}:key/local-{lid}"})
                elif t == "AWS::Logs::LogGroup":
                    name = props.get("LogGroupName", f"/local/{lid}")
                    self.values.update({key("Ref"): name,
                                        key("Arn"): f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"})
                elif t == "AWS::IAM::Role":
                    self.values[key("Arn")] = f"arn:aws:iam::{ACCOUNT}:role/{lid}"
                elif t == "AWS::Cognito::UserPool":
                    pool = cognito.create_user_pool(PoolName=props["UserPoolName"],
                                                    UsernameAttributes=props.get("UsernameAttributes", []))
                    pool_id = pool["UserPool"]["Id"]
                    self.values.update({key("Ref"): pool_id, key("Arn"): pool["UserPool"]["Arn"]})
            for lid, res in resources.items():    # second pass: what refers to the above
                t, props = res["Type"], res.get("Properties", {})
                if t == "AWS::SecretsManager::SecretTargetAttachment":
                    self.values[(part, lid, "Ref")] = self.resolve(part, props["SecretId"])
                elif t == "AWS::Cognito::UserPoolClient":
                    pool_id = self.resolve(part, props["UserPoolId"])
                    client = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=props["ClientName"],
                                                             ExplicitAuthFlows=props.get("ExplicitAuthFlows", []))
                    self.values[(part, lid, "Ref")] = client["UserPoolClient"]["ClientId"]
                elif t == "AWS::Cognito::UserPoolGroup":
                    cognito.create_group(UserPoolId=self.resolve(part, props["UserPoolId"]),
                                         GroupName=props["GroupName"])

    # -------------------------------------------------------------- intrinsics
    def exports(self) -> dict[str, tuple[str, object]]:
        out = {}
        for part, t in self.templates.items():
            for o in t.get("Outputs", {}).values():
                if "Export" in o:
                    out[o["Export"]["Name"]] = (part, o["Value"])
        return out

    def resolve(self, part: str, value):
        if isinstance(value, (str, int, float)):
            return str(value)
        if isinstance(value, list):
            return [self.resolve(part, v) for v in value]
        if not isinstance(value, dict) or len(value) != 1:
            raise Unresolvable(f"{part}: {value!r}")
        (fn, arg), = value.items()
        if fn == "Ref":
            pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                      "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": f"Exchange-{self.stage}-{part}"}
            if arg in pseudo:
                return pseudo[arg]
            return self._value(part, arg, "Ref")
        if fn == "Fn::GetAtt":
            lid, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._value(part, lid, attr)
        if fn == "Fn::Join":
            sep, items = arg
            return sep.join(self.resolve(part, i) for i in items)
        if fn == "Fn::Select":
            index, items = arg
            return self.resolve(part, items)[int(self.resolve(part, index))]
        if fn == "Fn::Split":
            sep, text = arg
            return self.resolve(part, text).split(sep)
        if fn == "Fn::ImportValue":
            src_part, src_value = self.exports()[self.resolve(part, arg)]
            return self.resolve(src_part, src_value)
        raise Unresolvable(f"{part}: {fn}")

    def _value(self, part: str, lid: str, attr: str) -> str:
        try:
            return self.values[(part, lid, attr)]
        except KeyError:
            raise Unresolvable(f"{part}/{lid}.{attr}: no local resource stands in for it") from None

    def outputs(self) -> dict[str, dict[str, str]]:
        """What `cdk deploy --outputs-file` would write, resolved to the local resources."""
        out = {}
        for part, t in self.templates.items():
            values = {}
            for key, o in t.get("Outputs", {}).items():
                try:
                    values[key] = self.resolve(part, o["Value"])
                except Unresolvable:
                    continue     # outputs of resources with no local stand-in (ALB, distribution)
            out[f"Exchange-{self.stage}-{part}"] = values
        return out

    # ---------------------------------------------------------------- identities
    def make_user(self, unit: str, policy_statements: list[dict]) -> dict:
        """An IAM user whose inline policy is the unit's synthesised role policy.

        Conditions are dropped (moto evaluates no request context: a kms:ViaService
        condition would deny every call); they are checked over the templates instead."""
        iam = self.admin("iam")
        doc = {"Version": "2012-10-17", "Statement": [
            {k: v for k, v in s.items() if k != "Condition"} for s in policy_statements]}
        iam.create_user(UserName=f"unit-{unit}")
        iam.put_user_policy(UserName=f"unit-{unit}", PolicyName="role", PolicyDocument=json.dumps(doc))
        key = iam.create_access_key(UserName=f"unit-{unit}")["AccessKey"]
        self.users[unit] = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"],
                            "policy": doc}
        return self.users[unit]

    def platform(self, unit: str) -> dict[str, str]:
        """What the platform gives every process of the unit (and nothing else)."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.workdir),
                "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT),
                "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": self.users[unit]["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": self.users[unit]["SecretAccessKey"],
                # the stand-ins' endpoints (empty in AWS: the SDK's defaults)
                "AWS_ENDPOINT_URL": self.moto_url, "DATAAPI_ENDPOINT_URL": self.gate.url,
                "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR"}

    def record_decision(self, entry: dict) -> None:
        with open(self.record, "a") as fh:      # appends of one short line: atomic enough here
            fh.write(json.dumps(entry) + "\n")

    def decisions(self, unit: str) -> list[dict]:
        key = self.users[unit]["AccessKeyId"]
        return [d for d in map(json.loads, self.record.read_text().splitlines()) if d["key"] == key]

    # ------------------------------------------------------------ unit inputs
    def task_container(self, family_suffix: str, container: str) -> dict:
        for res in self.templates["Matcher"]["Resources"].values():
            if res["Type"] == "AWS::ECS::TaskDefinition" and \
                    res["Properties"]["Family"] == f"exchange-{self.stage}-{family_suffix}":
                return next(c for c in res["Properties"]["ContainerDefinitions"] if c["Name"] == container)
        raise LookupError(family_suffix)

    def task_env(self, family_suffix: str, container: str) -> dict[str, str]:
        c = self.task_container(family_suffix, container)
        env = {e["Name"]: self.resolve("Matcher", e["Value"]) for e in c.get("Environment", [])}
        for s in c.get("Secrets", []):
            ref = self.resolve("Matcher", s["ValueFrom"])       # <secret arn>:<json key>::
            arn, field = ref.rsplit(":", 3)[0], ref.rsplit(":", 3)[1]
            value = self.secret_values[arn]
            env[s["Name"]] = json.loads(value)[field] if field else value
        return env

    def role_statements(self, part: str, role_prefix: str) -> list[dict]:
        out = []
        for lid, res in self.templates[part]["Resources"].items():
            if res["Type"] == "AWS::IAM::Policy" and lid.startswith(role_prefix):
                for st in res["Properties"]["PolicyDocument"]["Statement"]:
                    st = dict(st)
                    st["Resource"] = self.resolve(part, st["Resource"])
                    out.append(st)
        return out


def transport(env: dict[str, str]) -> dict[str, str]:
    """The documented local substitutions (module docstring)."""
    return {k: v.replace("rediss://", "redis://") if isinstance(v, str) else v for k, v in env.items()}
