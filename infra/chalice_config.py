"""Write the deployed stacks' outputs into the Chalice stage config and IAM policy.

After ``cdk deploy`` an operator runs one of

    python -m infra.chalice_config --stage prod --outputs infra/cdk-outputs.json
    python -m infra.chalice_config --stage prod --from-stacks        # reads CloudFormation

and then ``chalice deploy --stage prod``.  This merges into ``.chalice/config.json``
(only the stage's keys it owns; everything else is kept):

* per Chalice function (``api_handler``, ``reconciler``: the units ``api`` and
  ``reconciler`` of ``chalicelib/units.py``), ``environment_variables``: exactly the
  settings the unit declares, each from its ``Env<VAR>`` stack output, plus
  ``EXCHANGE_STAGE``/``EXCHANGE_UNIT`` and the unit's fixed values; validated with
  ``chalicelib.settings.load_settings`` as the Lambda will at cold start;
* ``subnet_ids`` / ``security_group_ids``: the Lambdas run in the VPC's task subnets
  (they need Redis);
* ``autogen_policy: false`` + ``iam_policy_file`` -> ``.chalice/policy-<stage>-<unit>.json``,
  which it writes from the unit's declared access: least privilege on exactly the
  deployed resources;
* ``lambda_memory_size`` / ``lambda_architecture``: the stage's Lambda size and
  architecture from ``infra/config.py`` (arm64 at a measured size; see
  docs/scaling-and-cost.md);
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

from infra.config import APP, load_stage
from infra.stacks.common import output_key

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTS = ("Network", "Data", "Identity", "Matcher", "Ops", "Edge")

# The Chalice functions are deployed units (chalicelib/units.py): their environments
# and policies are built from the declarations, never from a list kept here.
LAMBDA_UNITS = ("api", "reconciler")


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


def environment(flat: dict, stage: str, unit_name: str = "api", redis_token: str | None = None) -> dict[str, str]:
    """The unit's environment from the stack outputs (one ``Env<VAR>`` output per setting)."""
    from chalicelib.units import unit
    from infra.units import environment as unit_environment

    u = unit(unit_name)
    providers = {var: flat[output_key(var)] for var in u.settings if output_key(var) in flat}
    missing = [var for var in u.settings if var not in providers]
    if missing:
        raise OutputsError(f"outputs {', '.join(output_key(v) for v in missing)} missing (unit {unit_name} reads "
                           f"{', '.join(missing)}): are the stacks deployed?")
    env = unit_environment(u, stage, providers)
    if redis_token and "REDIS_URL" in env:
        env["REDIS_URL"] = env["REDIS_URL"].replace("rediss://", f"rediss://:{redis_token}@", 1)
    return env


def validate(env: dict[str, str], region: str = "us-east-1") -> None:
    """Fail like the Lambda would at cold start if a value is malformed."""
    from chalicelib.settings import load_settings

    load_settings({**env, "AWS_DEFAULT_REGION": region})


def policy(flat: dict, stage: str, unit_name: str = "api", app_name: str = APP) -> dict:
    """The unit's least-privilege policy: its declared access on the deployed resources,
    plus what any Lambda in a VPC needs (its own log group, its network interfaces)."""
    from chalicelib.routing import intents_table
    from chalicelib.units import unit
    from infra.units import lambda_function_names, statements

    region, account = _need(flat, "Region"), _need(flat, "Account")
    arn = lambda service, resource: f"arn:aws:{service}:{region}:{account}:{resource}"  # noqa: E731
    groups = int(flat.get("MatcherGroups", "1"))

    def tables(v: str) -> list[str]:
        """The tables a setting names: INTENTS_TABLE names every matcher group's intents
        table (the API and the reconciler put into the table of each symbol's group)."""
        name = _need(flat, output_key(v))
        return [intents_table(g, name) for g in range(groups)] if v == "INTENTS_TABLE" else [name]

    resolvers = {
        "table": lambda v: [arn("dynamodb", f"table/{t}") for t in tables(v)],
        "stream": lambda v: [arn("dynamodb", f"table/{t}/stream/*") for t in tables(v)],
        "secret": lambda v: [_need(flat, output_key(v))],
        "cluster": lambda v: [_need(flat, output_key(v))],
        "userpool": lambda v: [arn("cognito-idp", f"userpool/{_need(flat, output_key(v))}")],
    }
    u = unit(unit_name)
    out = []
    for st in statements(u, lambda kind, v: resolvers[kind](v), key_arn=_need(flat, "DataKeyArn"), region=region):
        s = {"Sid": st["sid"], "Effect": "Allow", "Action": st["actions"],
             "Resource": st["resources"] if st["resources"] != ["*"] else "*"}
        if st["conditions"]:
            s["Condition"] = st["conditions"]
        out.append(s)
    log_group = f"/aws/lambda/{lambda_function_names(stage, app_name)[unit_name]}"
    out += [
        # The log group exists (the ops stack creates it with the stage's retention).
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [arn("logs", f"log-group:{log_group}"), arn("logs", f"log-group:{log_group}:log-stream:*")]},
        # A Lambda in a VPC manages its network interfaces; EC2 has no resource scoping for these.
        {"Sid": "VpcNetworking", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]},
    ]
    return {"Version": "2012-10-17", "Statement": out}


def merge_stage(config: dict, stage: str, envs: dict[str, dict], flat: dict) -> dict:
    """Return ``config`` with the stage's deployed values merged in (other keys kept).

    Each Chalice function gets its unit's environment and policy file under
    ``lambda_functions``; the stage-wide environment is the API's (Chalice merges a
    function's variables over the stage's, and every unit reads only what it declared)."""
    from infra.units import CHALICE_FUNCTIONS

    config = json.loads(json.dumps(config))   # deep copy
    st = config.setdefault("stages", {}).setdefault(stage, {})
    st["environment_variables"] = dict(envs["api"])
    st["subnet_ids"] = [s for s in _need(flat, "LambdaSubnetIds").split(",") if s]
    st["security_group_ids"] = [_need(flat, "LambdaSecurityGroupId")]
    st["autogen_policy"] = False
    st["iam_policy_file"] = f"policy-{stage}-api.json"
    st["xray"] = True
    cfg = load_stage(stage)
    st["lambda_memory_size"] = cfg.lambda_memory_mib
    st["lambda_architecture"] = cfg.lambda_architecture
    fns = st.setdefault("lambda_functions", {})
    for unit_name, env in envs.items():
        fn = fns.setdefault(CHALICE_FUNCTIONS[unit_name], {})
        fn["environment_variables"] = dict(env)
        fn["autogen_policy"] = False
        fn["iam_policy_file"] = f"policy-{stage}-{unit_name}.json"
    return config


def write(stage: str, outputs: dict, chalice_dir: Path, *, redis_token: str | None = None) -> tuple[Path, list[Path]]:
    flat = flatten_outputs(outputs, stage)
    region = _need(flat, "Region")
    envs = {u: environment(flat, stage, u, redis_token) for u in LAMBDA_UNITS}
    for env in envs.values():
        validate(env, region)
    config_path = chalice_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {"version": "2.0", "app_name": APP}
    merged = merge_stage(config, stage, envs, flat)
    policies = []
    for u in LAMBDA_UNITS:
        path = chalice_dir / f"policy-{stage}-{u}.json"
        path.write_text(json.dumps(policy(flat, stage, u, merged.get("app_name", APP)), indent=2) + "\n")
        policies.append(path)
    config_path.write_text(json.dumps(merged, indent=2) + "\n")
    return config_path, policies


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
        token = sm.get_secret_value(SecretId=_need(flat, "RedisAuthSecretArn"))["SecretString"]
    try:
        config_path, policy_paths = write(args.stage, outputs, args.chalice_dir, redis_token=token)
    except OutputsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {config_path} (stage {args.stage}) and {', '.join(str(p) for p in policy_paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
