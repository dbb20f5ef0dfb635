"""The Chalice side: the config writer, and `chalice package` output passes cfn-lint."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import chalice_config as cc
from infra.stacks.common import output_key

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "us-east-1"
TABLES = {"INTENTS_TABLE": "intents", "TRADES_TABLE": "trades", "BOOK_TABLE": "book",
          "JOURNAL_TABLE": "journal", "LEASES_TABLE": "leases"}


def fake_outputs(stage: str) -> dict:
    """What `cdk deploy --outputs-file` writes for the stage (values made up)."""
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    data = {output_key(v): f"exchange-{stage}-{s}" for v, s in TABLES.items()}
    data.update({
        output_key("DB_CLUSTER_ARN"): arn.format("rds", f"cluster:exchange-{stage}-aurora"),
        output_key("DB_SECRET_ARN"): arn.format("secretsmanager", f"secret:exchange-{stage}-aurora/master-AbCdEf"),
        output_key("DB_NAME"): "exchange",
        output_key("BACKUP_BUCKET"): f"exchange-{stage}-data-backups1234-abcdef",
        output_key("API_KEY_SECRET_ARN"): arn.format("secretsmanager", f"secret:exchange-{stage}-api/api-keys-XyZ"),
        output_key("ORIGIN_VERIFY_SECRET_ARN"): arn.format("secretsmanager",
                                                          f"secret:exchange-{stage}-api/origin-verify-AbC"),
        output_key("REDIS_URL"): f"rediss://master.exchange-{stage}-redis.abc123.use1.cache.amazonaws.com:6379/0",
        output_key("REDIS_AUTH_SECRET_ARN"): arn.format("secretsmanager", f"secret:exchange-{stage}-redis/auth-QwErTy"),
        output_key("REDIS_KEY_PREFIX"): "ex:",
        output_key("DEMO_DEPOSITS"): "off",
        "RedisHost": f"master.exchange-{stage}-redis.abc123.use1.cache.amazonaws.com",
        "RedisPort": "6379",
        "RedisAuthSecretArn": arn.format("secretsmanager", f"secret:exchange-{stage}-redis/auth-QwErTy"),
        "DataKeyArn": arn.format("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        "MatcherGroups": "2",
    })
    return {
        f"Exchange-{stage}-Network": {"LambdaSubnetIds": "subnet-0aaa,subnet-0bbb",
                                      "LambdaSecurityGroupId": "sg-0123456789abcdef0", "Region": REGION,
                                      "Account": ACCOUNT},
        f"Exchange-{stage}-Data": data,
        f"Exchange-{stage}-Identity": {output_key("COGNITO_USER_POOL_ID"): f"{REGION}_AbCdEfGhI",
                                       output_key("COGNITO_CLIENT_ID"): "1example23456789clientid"},
        "Exchange-other-Network": {"LambdaSubnetIds": "subnet-wrong"},
    }


def test_output_keys_match_what_the_stacks_emit(synth):
    """The writer's keys exist in the synthesised templates (no drift between the two)."""
    emitted = set()
    for part in cc.PARTS:
        emitted |= set(synth.template("prod", part).get("Outputs", {}))
    from chalicelib.units import unit

    needed = {output_key(v) for u in cc.LAMBDA_UNITS for v in unit(u).settings} | {
        "RedisAuthSecretArn", "DataKeyArn", "LambdaSubnetIds", "LambdaSecurityGroupId", "Region", "Account",
        "MatcherGroups"}
    assert needed <= emitted, needed - emitted


def test_writer_merges_stage_and_writes_policy(tmp_path):
    chalice_dir = tmp_path / ".chalice"
    chalice_dir.mkdir()
    original = json.loads((ROOT / ".chalice" / "config.json").read_text()) \
        if (ROOT / ".chalice" / "config.json").exists() else {"version": "2.0", "app_name": "exchange", "stages": {}}
    (chalice_dir / "config.json").write_text(json.dumps(original))
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(json.dumps(fake_outputs("prod")))

    assert cc.main(["--stage", "prod", "--outputs", str(outputs), "--chalice-dir", str(chalice_dir)]) == 0

    config = json.loads((chalice_dir / "config.json").read_text())
    st = config["stages"]["prod"]
    env = st["environment_variables"]
    assert env["INTENTS_TABLE"] == "exchange-prod-intents"
    assert env["DB_CLUSTER_ARN"].startswith("arn:aws:rds:")
    assert env["REDIS_URL"] == "rediss://master.exchange-prod-redis.abc123.use1.cache.amazonaws.com:6379/0"
    assert env["COGNITO_USER_POOL_ID"] == f"{REGION}_AbCdEfGhI"
    assert st["subnet_ids"] == ["subnet-0aaa", "subnet-0bbb"] and st["security_group_ids"] == ["sg-0123456789abcdef0"]
    assert st["autogen_policy"] is False and st["iam_policy_file"] == "policy-prod-api.json"
    assert env["EXCHANGE_UNIT"] == "api"
    from infra.config import STAGES

    assert (st["lambda_memory_size"], st["lambda_architecture"]) == (STAGES["prod"].lambda_memory_mib, "arm64")
    reconciler = st["lambda_functions"]["reconciler"]
    assert reconciler["environment_variables"]["EXCHANGE_UNIT"] == "reconciler"
    assert "COGNITO_USER_POOL_ID" not in reconciler["environment_variables"]   # only what it declares
    assert reconciler["iam_policy_file"] == "policy-prod-reconciler.json"
    # everything else is kept
    for stage, body in original.get("stages", {}).items():
        if stage != "prod":
            assert config["stages"][stage] == body
    for key in ("app_name", "api_gateway_stage"):
        if key in original:
            assert config[key] == original[key]

    # the values pass the code's own settings validation
    from chalicelib.settings import load_settings

    s = load_settings({**env, "AWS_DEFAULT_REGION": REGION})
    assert s.stage == "prod" and s.leases_table == "exchange-prod-leases"

    policy = json.loads((chalice_dir / "policy-prod-api.json").read_text())
    resources = [r for st_ in policy["Statement"] for r in
                 (st_["Resource"] if isinstance(st_["Resource"], list) else [st_["Resource"]])]
    assert f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/exchange-prod-intents" in resources
    # the API puts into the table of each symbol's matcher group (MatcherGroups of them), and reads routes
    put = next(s for s in policy["Statement"] if "dynamodb:PutItem" in s["Action"])
    assert put["Resource"] == [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/exchange-prod-intents",
                               f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/exchange-prod-intents-g1"]
    assert f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/exchange-prod-leases" in resources
    assert env["DB_CLUSTER_ARN"] in resources and env["DB_SECRET_ARN"] in resources
    # each function's own log group, exactly (Chalice names them exchange-<stage>[-<fn>])
    assert f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/exchange-prod" in resources
    reconciler_policy = json.loads((chalice_dir / "policy-prod-reconciler.json").read_text())
    logs = next(s for s in reconciler_policy["Statement"] if s["Sid"] == "Logs")["Resource"]
    assert logs[0] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/exchange-prod-reconciler"
    for s in policy["Statement"]:
        actions = s["Action"]
        assert not any(a.endswith(":*") or a == "*" for a in actions), s
        if s["Resource"] == "*":
            assert all(a.startswith(("xray:", "ec2:")) for a in actions), s


def test_writer_embeds_redis_token_only_on_request(tmp_path):
    flat = cc.flatten_outputs(fake_outputs("dev"), "dev")
    assert "@" not in cc.environment(flat, "dev")["REDIS_URL"]
    assert cc.environment(flat, "dev", redis_token="tok")["REDIS_URL"].startswith("rediss://:tok@")


def test_writer_refuses_missing_outputs(tmp_path):
    outputs = tmp_path / "o.json"
    outputs.write_text(json.dumps({"Exchange-prod-Network": fake_outputs("prod")["Exchange-prod-Network"]}))
    (tmp_path / ".chalice").mkdir()
    assert cc.main(["--stage", "prod", "--outputs", str(outputs), "--chalice-dir", str(tmp_path / ".chalice")]) == 2
    assert not (tmp_path / ".chalice" / "config.json").exists()


def test_chalice_package_output_passes_cfn_lint(tmp_path):
    """`chalice package --stage dev` of the real app, with the policy the writer makes.

    Runs on a copy of the app (app.py, chalicelib/, .chalice/config.json) so nothing in
    the repository changes.  requirements.txt is emptied in the copy: the template, not
    the deployment zip, is what is checked, and it keeps the test offline and fast."""
    if not (ROOT / "app.py").exists():
        pytest.fail("app.py is missing: `chalice package` checks the real Chalice app")
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(ROOT / "app.py", proj / "app.py")
    shutil.copytree(ROOT / "chalicelib", proj / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (proj / ".chalice").mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", proj / ".chalice" / "config.json")
    (proj / "requirements.txt").write_text("")
    outputs = tmp_path / "o.json"
    outputs.write_text(json.dumps(fake_outputs("dev")))
    assert cc.main(["--stage", "dev", "--outputs", str(outputs), "--chalice-dir", str(proj / ".chalice")]) == 0

    chalice = Path(sys.executable).parent / "chalice"
    env = {**os.environ, "AWS_DEFAULT_REGION": REGION}
    out = tmp_path / "packaged"
    run = subprocess.run([str(chalice), "package", "--stage", "dev", str(out)], cwd=proj, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    sam = out / "sam.json"
    template = json.loads(sam.read_text())
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for fn in functions:
        assert fn["Properties"]["VpcConfig"]["SubnetIds"] == ["subnet-0aaa", "subnet-0bbb"]
        assert fn["Properties"]["Architectures"] == ["arm64"] and fn["Properties"]["MemorySize"] == 512
    # each function's environment is what the contract tests run it with (lambda_env)
    from test_contracts import lambda_env

    config = json.loads((proj / ".chalice" / "config.json").read_text())
    by_handler = {fn["Properties"]["Handler"]: fn["Properties"] for fn in functions}
    for handler, function, unit in (("app.app", "api_handler", "api"), ("app.reconciler", "reconciler",
                                                                         "reconciler")):
        env = by_handler[handler]["Environment"]["Variables"]
        assert env == lambda_env(config, "dev", function), handler
        assert env["EXCHANGE_UNIT"] == unit

    from cfnlint.api import lint_file

    errors = [f"{m.rule.id} {m.message}" for m in lint_file(sam) if m.rule.id.startswith("E")]
    assert not errors, "\n".join(errors)
