"""cdk-nag (AwsSolutions) wiring and the one way this app acknowledges a finding.

Every acknowledgment names the rule (or one finding of it, ``AwsSolutions-IAM5[...]``)
and says *why* in words a reviewer can check.  ``python -m infra.app --nag`` and the
tests run the checks; synthesis fails on any finding left unacknowledged.
"""
from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions rule (or finding) on ``scope`` and its children."""
    if len(reason.strip()) < 20:
        raise ValueError(f"{rule}: a suppression needs a real reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_all(scope: IConstruct, rules: dict[str, str]) -> None:
    for rule, reason in rules.items():
        acknowledge(scope, rule, reason)


def add_checks(app) -> None:
    from cdk_nag import AwsSolutionsChecks

    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
