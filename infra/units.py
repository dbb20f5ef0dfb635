"""Deployed units -> environments, container secrets and IAM statements.

Every unit declares what it reads and calls beside its code (:mod:`chalicelib.units`,
``matcher/service/config.py``).  This module is the only place that turns a
declaration into deployment material, for the CDK stacks (tokens) and for the Chalice
config writer (stack outputs) alike:

* :func:`environment` - the unit's variables, each from the one *provider* of that
  setting; a setting no stack provides is a synthesis error, not a crash at start;
* :func:`statements` - one IAM statement per declared access, resources resolved from
  the setting that names them, plus the KMS decrypt that reading a secret implies.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from chalicelib.units import Unit

# Actions a declaration implies (the service calls them on the unit's behalf).
IMPLIED_KMS = "kms:Decrypt"


class UndeclaredProvider(LookupError):
    """A unit reads a setting that no stack provides."""


def environment(unit: Unit, stage: str, providers: Mapping[str, str]) -> dict[str, str]:
    """The unit's environment: stage, unit name, its fixed values, and one provided
    value per declared setting (nothing else)."""
    env = {"EXCHANGE_STAGE": stage, "EXCHANGE_UNIT": unit.name, **unit.fixed}
    missing = [s for s in unit.settings if s not in providers]
    if missing:
        raise UndeclaredProvider(f"unit {unit.name!r} reads {', '.join(missing)}: no stack provides "
                                 "(infra/units.py providers)")
    for setting in unit.settings:
        env[setting] = providers[setting]
    return env


def secret_refs(unit: Unit) -> dict[str, tuple[str, str]]:
    """Container secrets: ``VAR -> (setting naming the secret, json field)``."""
    out: dict[str, tuple[str, str]] = {}
    for var, ref in unit.secrets.items():
        setting, field = ref.split(":", 1)  # "setting:json field", as every unit declares it
        out[var] = (setting, field)
    return out


def statements(unit: Unit, resolve: Callable[[str, str], list[str]], *, key_arn: str | None = None,
               region: str | None = None) -> list[dict]:
    """``[{"sid", "actions", "resources", "conditions"}]`` for the unit's declared access.

    ``resolve(kind, setting)`` returns the ARNs of a symbolic resource (``table``,
    ``stream``, ``secret``, ``cluster``, ``userpool``)."""
    out: list[dict] = []
    reads_secret = False
    for i, access in enumerate(unit.access):
        resources: list[str] = []
        for ref in access.resources:
            if ref == "*":
                resources.append("*")
                continue
            kind, setting = ref.split(":", 1)
            reads_secret |= kind == "secret"
            resources.extend(resolve(kind, setting))
        sid = "".join(w.capitalize() for w in unit.name.split("-")) + f"{i:02d}"
        out.append({"sid": sid, "actions": list(access.actions), "resources": resources, "conditions": None})
    secret_settings = {r.split(":", 1)[1] for r in [ref for ref in unit.secrets.values()]}
    if (reads_secret or secret_settings) and key_arn:
        out.append({"sid": "SecretsKey", "actions": [IMPLIED_KMS], "resources": [key_arn],
                    "conditions": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}})
    return out


def lambda_function_names(stage: str, app: str = "exchange") -> dict[str, str]:
    """Chalice's function names: the API handler is ``<app>-<stage>``, a scheduled
    function ``<app>-<stage>-<name>``."""
    return {"api": f"{app}-{stage}", "reconciler": f"{app}-{stage}-reconciler"}


CHALICE_FUNCTIONS = {"api": "api_handler", "reconciler": "reconciler"}   # unit -> Chalice function key
