"""Small helpers shared by the stacks."""
from __future__ import annotations

from aws_cdk import CfnOutput, aws_logs as logs
from constructs import Construct

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
}


def retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs retention for a number of days (one of the allowed values)."""
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"log retention {days} d: use one of {sorted(_RETENTION)}") from None


def env_output(scope: Construct, env_var: str, value: str) -> CfnOutput:
    """An output that feeds one Chalice environment variable.

    Its key is the variable without underscores (``INTENTS_TABLE`` -> ``EnvINTENTSTABLE``)
    so :mod:`infra.chalice_config` maps outputs back to variables mechanically."""
    return CfnOutput(scope, output_key(env_var), value=value, description=f"env {env_var}")


def output_key(env_var: str) -> str:
    return "Env" + env_var.replace("_", "")
