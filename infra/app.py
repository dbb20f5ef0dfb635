"""The CDK app: one set of stacks per stage, deployable in order.

    python -m infra.app --stage dev [--outdir cdk.out] [--nag]      # synth offline
    cd infra && npx aws-cdk@2 deploy --all -c stage=prod            # deploy (see docs/deploy.md)

Stacks (and their order): Network -> Data -> Identity -> Matcher (with the stream
gateway) -> Ops, then (after ``chalice deploy``) Edge and ApiGuard.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import infra  # noqa: F401  (jsii node warnings off before aws_cdk loads)

# isort: split
import aws_cdk as cdk

from infra.config import StageConfig, load_stage
from infra.nag import add_checks

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ExchangeStacks:
    cfg: StageConfig
    network: object
    data: object
    identity: object
    matcher: object
    ops: object
    edge: object
    guard: object

    def all(self) -> list[cdk.Stack]:
        return [self.network, self.data, self.identity, self.matcher, self.ops, self.edge, self.guard]


def add_stage(app: cdk.App, cfg: StageConfig) -> ExchangeStacks:
    """Add the stacks of one stage to ``app``."""
    from infra.stacks.api_guard import ApiGuardStack
    from infra.stacks.data import DataStack
    from infra.stacks.edge import EdgeStack, rest_api_id_for
    from infra.stacks.identity import IdentityStack
    from infra.stacks.matcher import MatcherStack
    from infra.stacks.network import NetworkStack
    from infra.stacks.ops import OpsStack

    env = cdk.Environment(account=cfg.account or os.environ.get("CDK_DEFAULT_ACCOUNT"), region=cfg.region)
    common = dict(env=env, termination_protection=cfg.is_prod)

    def name(part: str) -> dict:
        return dict(stack_name=cfg.stack_name(part), description=f"exchange {cfg.stage}: {part.lower()}", **common)

    network = NetworkStack(app, cfg.stack_name("Network"), cfg=cfg, **name("Network"))
    data = DataStack(app, cfg.stack_name("Data"), cfg=cfg, network=network, **name("Data"))
    identity = IdentityStack(app, cfg.stack_name("Identity"), cfg=cfg, **name("Identity"))
    matcher = MatcherStack(app, cfg.stack_name("Matcher"), cfg=cfg, network=network, data=data, identity=identity,
                           source_dir=REPO_ROOT, **name("Matcher"))
    ops = OpsStack(app, cfg.stack_name("Ops"), cfg=cfg, data=data, matcher=matcher, **name("Ops"))
    edge = EdgeStack(app, cfg.stack_name("Edge"), cfg=cfg, logs_bucket=data.access_logs,
                     origin_secret_arn=data.origin_verify_secret.secret_arn, stream_alb=matcher.alb, **name("Edge"))
    guard = ApiGuardStack(app, cfg.stack_name("ApiGuard"), cfg=cfg, rest_api_id=rest_api_id_for(cfg),
                          origin_secret_arn=data.origin_verify_secret.secret_arn,
                          accept_previous=cfg.origin_verify_accept_previous, **name("ApiGuard"))
    for later, earlier in ((data, network), (matcher, data), (matcher, identity), (ops, matcher), (ops, identity),
                           (edge, data), (edge, matcher), (guard, data)):
        later.add_stack_dependency(earlier)
    stacks = ExchangeStacks(cfg, network, data, identity, matcher, ops, edge, guard)
    for stack in stacks.all():
        cdk.Tags.of(stack).add("app", "exchange")
        cdk.Tags.of(stack).add("stage", cfg.stage)
    return stacks


def build_app(stage: str | None = None, *, outdir: str | None = None, nag: bool = False,
              context: dict | None = None) -> tuple[cdk.App, ExchangeStacks]:
    app = cdk.App(outdir=outdir, context=context or {})
    stage = stage or app.node.try_get_context("stage") or "dev"
    cfg = load_stage(stage, context=app.node.try_get_context)
    stacks = add_stage(app, cfg)
    if nag or str(app.node.try_get_context("nag")).lower() in ("1", "true"):
        add_checks(app)
    return app, stacks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default=None, help="dev or prod (default: context 'stage', else dev)")
    parser.add_argument("--outdir", default=None, help="cloud assembly directory (default: CDK_OUTDIR or cdk.out)")
    parser.add_argument("--nag", action="store_true", help="run the cdk-nag AwsSolutions checks")
    args = parser.parse_args(argv)
    app, _ = build_app(args.stage, outdir=args.outdir, nag=args.nag)
    app.synth()


if __name__ == "__main__":
    main()
