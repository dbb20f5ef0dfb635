"""Every setting the exchange reads, read and validated in one place.

Each setting is an environment variable.  ``.chalice/config.json`` declares them per
stage for the Lambdas, ``infra/`` writes the deployed values there, the local stack
sets the local ones, and the matcher container gets them from its task definition.
A missing or malformed variable fails fast with a message that names it.

This is a small hand-rolled reader rather than pydantic-settings on purpose: it is
imported on every Lambda cold start and must stay cheap (see the cold-start budget in
the README).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$")
_URL = re.compile(r"^(https?|rediss?|unix|postgres(ql)?)://.*$")

STAGES = ("local", "test", "dev", "prod")
LOCAL_API_KEY_MASTER = "local-only-insecure-api-key-master"


@dataclass(frozen=True)
class Spec:
    """How one variable is read: default (None = required), a check, and why it exists."""

    env: str
    field: str                     # the Settings attribute it fills (bound by name, never by position)
    default: str | None
    check: re.Pattern | tuple | None
    doc: str
    required_in_aws: bool = False  # the default is a local stand-in; AWS stages must set it
    local_only: bool = False       # meaningful on local stages only: an AWS unit gets the default, undeclared


SPECS: tuple[Spec, ...] = (
    Spec("EXCHANGE_STAGE", "stage", "local", STAGES, "deployment stage"),
    Spec("AWS_DEFAULT_REGION", "region", "us-east-1", re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$"), "AWS region"),
    Spec("INTENTS_TABLE", "intents_table", "exchange-local-intents", _NAME,
         "DynamoDB table of order intents (stream on)", required_in_aws=True),
    Spec("TRADES_TABLE", "trades_table", "exchange-local-trades", _NAME, "DynamoDB table of trade executions",
         required_in_aws=True),
    Spec("BOOK_TABLE", "book_table", "exchange-local-book", _NAME, "DynamoDB table of order book levels/snapshots",
         required_in_aws=True),
    Spec("JOURNAL_TABLE", "journal_table", "exchange-local-journal", _NAME,
         "DynamoDB table of the matcher's sequenced input", required_in_aws=True),
    Spec("LEASES_TABLE", "leases_table", "exchange-local-leases", _NAME,
         "DynamoDB table of matcher leases and checkpoints", required_in_aws=True),
    Spec("DB_CLUSTER_ARN", "db_cluster_arn", "arn:aws:rds:us-east-1:000000000000:cluster:exchange-local", _ARN,
         "Aurora cluster ARN for the Data API", required_in_aws=True),
    Spec("DB_SECRET_ARN", "db_secret_arn", "arn:aws:secretsmanager:us-east-1:000000000000:secret:exchange-local", _ARN,
         "Secrets Manager ARN of the Aurora credentials", required_in_aws=True),
    Spec("DB_NAME", "db_name", "exchange", _NAME, "database name in the Aurora cluster"),
    Spec("DATAAPI_ENDPOINT_URL", "dataapi_endpoint_url", "", _URL,
         "rds-data endpoint override (local Data API); empty in AWS"),
    Spec("AWS_ENDPOINT_URL", "aws_endpoint_url", "", _URL,
         "endpoint override for every other AWS service (moto locally)"),
    Spec("REDIS_URL", "redis_url", "redis://127.0.0.1:6379/0", _URL, "Redis (ElastiCache) URL", required_in_aws=True),
    Spec("REDIS_AUTH_SECRET_ARN", "redis_auth_secret_arn", "", re.compile(r"^(arn:aws[a-z-]*:secretsmanager:.+)?$"),
         "Secrets Manager ARN of the Redis AUTH token (ElastiCache); empty locally"),
    Spec("REDIS_KEY_PREFIX", "redis_key_prefix", "ex:", re.compile(r"^[A-Za-z0-9:_.-]{0,32}$"),
         "prefix of every Redis key"),
    Spec("COGNITO_USER_POOL_ID", "cognito_user_pool_id", "", re.compile(r"^([a-z]{2}-[a-z]+-\d_[A-Za-z0-9]+)?$"),
         "Cognito user pool id", required_in_aws=True),
    Spec("COGNITO_CLIENT_ID", "cognito_client_id", "", re.compile(r"^[A-Za-z0-9]*$"),
         "Cognito app client id of the web app", required_in_aws=True),
    Spec("BACKUP_BUCKET", "backup_bucket", "exchange-local-backups", _NAME, "S3 bucket for backups and exports",
         required_in_aws=True),
    Spec("EXCHANGE_SYMBOLS_FILE", "symbols_file", "", None,
         "path of the symbols file (default: chalicelib/symbols.json)"),
    Spec("API_KEY_SECRET_ARN", "api_key_secret_arn", "", re.compile(r"^(arn:aws[a-z-]*:secretsmanager:.+)?$"),
         "Secrets Manager ARN of the master key API secrets are derived from (AWS stages)"),
    Spec("API_KEY_MASTER_SECRET", "api_key_master_secret", LOCAL_API_KEY_MASTER, None,
         "master key API secrets are derived from (local stages only; AWS reads API_KEY_SECRET_ARN)",
         local_only=True),
    Spec("DEMO_DEPOSITS", "demo_deposits", "off", ("on", "off"),
         "whether signed-in users may credit themselves demo deposits (the local stack turns it on)"),
    Spec("DATABASE_URL", "database_url", "", _URL,
         "direct PostgreSQL URL (matcher settlement, migrations, local stack)"),
    Spec("ORIGIN_VERIFY_SECRET_ARN", "origin_verify_secret_arn", "",
         re.compile(r"^(arn:aws[a-z-]*:secretsmanager:.+)?$"),
         "Secrets Manager ARN of the origin-verify secret CloudFront sends in X-Origin-Verify (AWS stages)"),
    Spec("ORIGIN_VERIFY_SECRET", "origin_verify_secret", "", None,
         "origin-verify value a trusted local proxy sends in X-Origin-Verify"
         " (local stages only; unset: no proxy trusted)",
         local_only=True),
    Spec("EXCHANGE_UNIT", "unit", "", re.compile(r"^[a-z][a-z0-9-]*$"),
         "the deployed unit this process is (chalicelib/units.py); on dev/prod only that unit's declared settings "
         "are read, any other is an error"),
)
SPEC_BY_ENV = {s.env: s for s in SPECS}
# Every unit: the platform sets the region; the two endpoint overrides are the local
# stand-ins' wiring (empty in AWS, where the SDK finds the services itself).
ALWAYS = ("EXCHANGE_STAGE", "AWS_DEFAULT_REGION", "EXCHANGE_UNIT", "AWS_ENDPOINT_URL", "DATAAPI_ENDPOINT_URL")


class _Undeclared:
    """The value of a setting the running unit did not declare (reading it is a bug)."""

    __slots__ = ("env", "unit")

    def __init__(self, env: str, unit: str):
        self.env, self.unit = env, unit



@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    intents_table: str
    trades_table: str
    book_table: str
    journal_table: str
    leases_table: str
    db_cluster_arn: str
    db_secret_arn: str
    db_name: str
    dataapi_endpoint_url: str
    aws_endpoint_url: str
    redis_url: str
    redis_auth_secret_arn: str
    redis_key_prefix: str
    cognito_user_pool_id: str
    cognito_client_id: str
    backup_bucket: str
    symbols_file: str
    api_key_secret_arn: str
    api_key_master_secret: str
    demo_deposits: str
    database_url: str
    origin_verify_secret_arn: str
    origin_verify_secret: str
    unit: str

    def __getattribute__(self, name: str):
        value = object.__getattribute__(self, name)
        if type(value) is _Undeclared:
            raise SettingsError(f"{value.env} is read by unit {value.unit!r} but not declared by it "
                                "(chalicelib/units.py): declare it so infra/ deploys it")
        return value

    @property
    def is_local(self) -> bool:
        return self.stage in ("local", "test")


def _validate(spec: Spec, value: str) -> str:
    if value == "" and spec.default == "":
        return value  # optional and unset
    if isinstance(spec.check, tuple):
        if value not in spec.check:
            raise SettingsError(f"{spec.env}={value!r} is not one of {', '.join(spec.check)} ({spec.doc})")
    elif spec.check is not None and not spec.check.match(value):
        raise SettingsError(f"{spec.env}={value!r} is malformed ({spec.doc})")
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise SettingsError naming the first bad one."""
    env = os.environ if environ is None else environ
    stage = (env.get("EXCHANGE_STAGE") or "local").strip()
    in_aws = stage not in ("local", "test")
    unit_name = (env.get("EXCHANGE_UNIT") or "").strip()
    declared = None
    if in_aws and unit_name:
        from chalicelib.units import unit as _unit

        try:
            declared = set(_unit(unit_name).settings) | set(ALWAYS)
        except KeyError:
            raise SettingsError(f"EXCHANGE_UNIT={unit_name!r} is not a unit of chalicelib/units.py") from None
    values: dict[str, Any] = {}
    for spec in SPECS:
        if declared is not None and spec.local_only:
            if env.get(spec.env):
                raise SettingsError(f"{spec.env} is for local stages only; unit {unit_name!r} runs on {stage}")
            values[spec.field] = spec.default
            continue
        if declared is not None and spec.env not in declared:
            values[spec.field] = _Undeclared(spec.env, unit_name)
            continue
        raw = env.get(spec.env)
        if raw is None or raw == "":
            if spec.default is None or (in_aws and spec.required_in_aws):
                raise SettingsError(f"{spec.env} is required on stage {stage} ({spec.doc})")
            raw = spec.default
        values[spec.field] = _validate(spec, raw.strip())
    settings = Settings(**values)
    key_needed = declared is None or "API_KEY_SECRET_ARN" in declared
    if in_aws and key_needed and not values["api_key_secret_arn"]:
        raise SettingsError(f"API_KEY_SECRET_ARN is required on stage {stage} "
                            "(the local API key master secret is for local stages only)")
    return settings


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read once (warm Lambdas reuse them)."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    global _settings
    _settings = None


def markdown_table() -> str:
    """The settings as the README's table (a test keeps the README in step)."""
    lines = ["| variable | local default | what it is |", "|---|---|---|"]
    for s in SPECS:
        default = f"`{s.default}`" if s.default else "(unset)"
        must = " Required on dev/prod." if s.required_in_aws else ""
        lines.append(f"| `{s.env}` | {default} | {s.doc}.{must} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
