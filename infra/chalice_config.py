"""Write the deployed stacks' outputs into the Chalice stage config and IAM policy.

After ``cdk deploy`` an operator runs one of

    python -m infra.chalice_config --stage prod --outputs infra/cdk-outputs.json
    python -m infra.chalice_config --stage prod --from-stacks        # reads CloudFormation

and then ``chalice deploy --stage prod``.  This merges into ``.chalice/config.json``
(only the stage's keys it owns; everything else is kept):

* ``environment_variables``: every variable of ``chalicelib/settings.py`` SPECS that
  the stacks provide (table names, Aurora ARNs, Redis URL, Cognito ids, bucket), plus
  ``EXCHANGE_STAGE``; the result is validated with ``chalicelib.settings.load_settings``;
* ``subnet_ids`` / ``security_group_ids``: the Lambdas run in the VPC's task subnets
  (they need Redis);
* ``autogen_policy: false`` + ``iam_policy_file`` -> ``.chalice/policy-<stage>.json``,
  which it writes: least privilege on exactly the deployed resources;
* ``xray``.  Log retention is *not* set here: ``chalice package`` 1.34 renders
  ``log_retention_in_days`` as a log group that references a resource that does not
  exist (``${ApiHandler}`` vs ``APIHandler``; cfn-lint E1019).  The ops stack creates
  the API handler's log group ``/aws/lambda/<app>-<stage>`` with the stage's retention
  instead.

The Redis AUTH token is a secret: by default REDIS_URL carries no credentials and
``REDIS_AUTH_SECRET_ARN`` names the secret.  ``--embed-redis-token`` reads the token
from Secrets Manager and puts it into REDIS_URL, for code that does not read the
secret itself - a config.json written that way must not be committed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from infra.config import APP, METRIC_NAMESPACE, load_stage
from infra.stacks.common import output_key

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTS = ("Network", "Data", "Identity", "Matcher", "Ops", "Edge")

# Settings variables the stacks provide (chalicelib/settings.py SPECS names).
STACK_VARS = ("INTENTS_TABLE", "TRADES_TABLE", "BOOK_TABLE", "JOURNAL_TABLE", "LEASES_TABLE", "IDEMPOTENCY_TABLE",
              "DB_CLUSTER_ARN", "DB_SECRET_ARN", "DB_NAME", "COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID",
              "BACKUP_BUCKET", "API_KEY_SECRET_ARN")
# Provided by the stacks but not settings of the code: passed through when present.
EXTRA_VARS = ()
TABLE_VARS = STACK_VARS[:6]

DDB_API_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                   "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                   "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"]
RDS_DATA_ACTIONS = ["rds-data:ExecuteStatement", "rds-data:BatchExecuteStatement", "rds-data:BeginTransaction",
                    "rds-data:CommitTransaction", "rds-data:RollbackTransaction"]
COGNITO_ACTIONS = ["cognito-idp:AdminGetUser", "cognito-idp:AdminCreateUser", "cognito-idp:AdminDeleteUser",
                   "cognito-idp:AdminUpdateUserAttributes", "cognito-idp:AdminDisableUser",
                   "cognito-idp:AdminEnableUser", "cognito-idp:AdminInitiateAuth",
                   "cognito-idp:AdminRespondToAuthChallenge", "cognito-idp:AdminSetUserPassword",
                   "cognito-idp:AdminUserGlobalSignOut", "cognito-idp:ListUsers"]


class OutputsError(RuntimeError):
    """An output the config needs is missing: the stacks of the stage are not deployed."""


def flatten_outputs(outputs: dict, stage: str) -> dict[str, str]:
    """``{stack: {key: value}}`` (cdk --outputs-file) -> one dict for the stage's stacks."""
    flat: dict[str, str] = {}
    for part in PARTS:
        flat.update(outputs.get(f"Exchange-{stage}-{part}", {}))
    if not flat:
        raise OutputsError(f"no outputs of stacks Exchange-{stage}-*; deploy them first (docs/deploy.md)")
    return flat


def outputs_from_stacks(stage: str, region: str) -> dict:
    """Read the outputs of the deployed stacks from CloudFormation (needs credentials)."""
    import boto3

    cfn = boto3.client("cloudformation", region_name=region)
    result = {}
    for part in PARTS:
        name = f"Exchange-{stage}-{part}"
        try:
            stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        except cfn.exceptions.ClientError:
            continue
        result[name] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return result


def _need(flat: dict, key: str) -> str:
    try:
        return flat[key]
    except KeyError:
        raise OutputsError(f"output {key} missing: is its stack deployed?") from None


def environment(flat: dict, stage: str, redis_token: str | None = None) -> dict[str, str]:
    env = {"EXCHANGE_STAGE": stage}
    for var in STACK_VARS:
        env[var] = _need(flat, output_key(var))
    for var in EXTRA_VARS:
        if output_key(var) in flat:
            env[var] = flat[output_key(var)]
    host, port = _need(flat, "RedisHost"), _need(flat, "RedisPort")
    auth = f":{redis_token}@" if redis_token else ""
    env["REDIS_URL"] = f"rediss://{auth}{host}:{port}/0"
    env["REDIS_AUTH_SECRET_ARN"] = _need(flat, "RedisAuthSecretArn")
    env["REDIS_KEY_PREFIX"] = "ex:"
    return env


def validate(env: dict[str, str]) -> None:
    """Fail like the Lambda would at cold start if a value is malformed."""
    from chalicelib.settings import load_settings

    load_settings({**env, "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1")})


def policy(flat: dict, stage: str, app_name: str = APP) -> dict:
    region, account = _need(flat, "Region"), _need(flat, "Account")
    arn = lambda service, resource: f"arn:aws:{service}:{region}:{account}:{resource}"  # noqa: E731
    tables = [arn("dynamodb", f"table/{flat[output_key(v)]}") for v in TABLE_VARS]
    secrets = [_need(flat, output_key("DB_SECRET_ARN")), _need(flat, output_key("API_KEY_SECRET_ARN")),
               _need(flat, "RedisAuthSecretArn")]
    statements = [
        {"Sid": "Tables", "Effect": "Allow", "Action": DDB_API_ACTIONS,
         "Resource": tables + [t + "/index/*" for t in tables]},
        {"Sid": "AuroraDataApi", "Effect": "Allow", "Action": RDS_DATA_ACTIONS,
         "Resource": [_need(flat, output_key("DB_CLUSTER_ARN"))]},
        {"Sid": "Secrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secrets},
        {"Sid": "SecretsKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [_need(flat, "DataKeyArn")],
         "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}},
        {"Sid": "BackupExportsKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
         "Resource": [_need(flat, "DataKeyArn")],
         "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}},
        {"Sid": "Cognito", "Effect": "Allow", "Action": COGNITO_ACTIONS,
         "Resource": [arn("cognito-idp", f"userpool/{_need(flat, output_key('COGNITO_USER_POOL_ID'))}")]},
        {"Sid": "BackupExports", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{_need(flat, output_key('BACKUP_BUCKET'))}/api/*"]},
        {"Sid": "Metrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}}},
        {"Sid": "Traces", "Effect": "Allow", "Resource": "*",
         "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                    "xray:GetSamplingTargets"]},
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream",
                                                      "logs:PutLogEvents"],
         "Resource": [arn("logs", f"log-group:/aws/lambda/{app_name}-{stage}-*"),
                      arn("logs", f"log-group:/aws/lambda/{app_name}-{stage}-*:log-stream:*")]},
        # A Lambda in a VPC manages its network interfaces; EC2 has no resource scoping for these.
        {"Sid": "VpcNetworking", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def merge_stage(config: dict, stage: str, env: dict, flat: dict) -> dict:
    """Return ``config`` with the stage's deployed values merged in (other keys kept)."""
    config = json.loads(json.dumps(config))   # deep copy
    st = config.setdefault("stages", {}).setdefault(stage, {})
    st.setdefault("environment_variables", {}).update(env)
    st["subnet_ids"] = [s for s in _need(flat, "LambdaSubnetIds").split(",") if s]
    st["security_group_ids"] = [_need(flat, "LambdaSecurityGroupId")]
    st["autogen_policy"] = False
    st["iam_policy_file"] = f"policy-{stage}.json"
    st["xray"] = True
    return config


def write(stage: str, outputs: dict, chalice_dir: Path, *, redis_token: str | None = None) -> tuple[Path, Path]:
    flat = flatten_outputs(outputs, stage)
    env = environment(flat, stage, redis_token)
    validate(env)
    config_path = chalice_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {"version": "2.0", "app_name": APP}
    merged = merge_stage(config, stage, env, flat)
    policy_path = chalice_dir / f"policy-{stage}.json"
    policy_path.write_text(json.dumps(policy(flat, stage, merged.get("app_name", APP)), indent=2) + "\n")
    config_path.write_text(json.dumps(merged, indent=2) + "\n")
    return config_path, policy_path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", required=True, choices=["dev", "prod"])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--outputs", type=Path, help="file written by `cdk deploy --outputs-file`")
    src.add_argument("--from-stacks", action="store_true", help="read the outputs from CloudFormation")
    p.add_argument("--chalice-dir", type=Path, default=REPO_ROOT / ".chalice")
    p.add_argument("--embed-redis-token", action="store_true",
                   help="put the Redis AUTH token into REDIS_URL (do not commit the result)")
    args = p.parse_args(argv)
    outputs = (json.loads(args.outputs.read_text()) if args.outputs
               else outputs_from_stacks(args.stage, load_stage(args.stage).region))
    token = None
    if args.embed_redis_token:
        import boto3

        flat = flatten_outputs(outputs, args.stage)
        sm = boto3.client("secretsmanager", region_name=_need(flat, "Region"))
        token = json.loads(sm.get_secret_value(SecretId=_need(flat, "RedisAuthSecretArn"))["SecretString"])["token"]
    try:
        config_path, policy_path = write(args.stage, outputs, args.chalice_dir, redis_token=token)
    except OutputsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {config_path} (stage {args.stage}) and {policy_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
