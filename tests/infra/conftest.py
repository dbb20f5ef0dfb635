"""One synthesis of the whole CDK app (dev + prod, cdk-nag on) for every infra test.

The prod stage is given every optional piece (domain, hosted zone, Google and Okta,
alarm e-mail, WAF) so each branch of the stacks is synthesised and checked; dev gets
only what it needs.  Synthesis runs node through jsii: ~20-30 s on 2 cores, once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import infra  # noqa: F401  (silences jsii's node-version banner before aws_cdk loads)

# isort: split

from infra_support import ACCOUNT, API_DOMAIN, CONTEXT, symbols_file, two_group_symbols


@dataclass
class Synth:
    outdir: Path
    stages: dict            # stage -> infra.app.ExchangeStacks
    report: dict | None     # validation-report.json if synthesis reported anything
    error: str | None

    def template_path(self, stage: str, part: str) -> Path:
        return self.outdir / f"Exchange-{stage}-{part}.template.json"

    def template(self, stage: str, part: str) -> dict:
        return json.loads(self.template_path(stage, part).read_text())


def stage_configs():
    from infra.config import STAGES

    dev = replace(STAGES["dev"], account=ACCOUNT, api_domain=API_DOMAIN)
    prod = replace(STAGES["prod"], account=ACCOUNT, api_domain=API_DOMAIN, domain_name="exchange.example.com",
                   hosted_zone_id="Z0123456789ABCDEFGHIJ", hosted_zone_name="example.com",
                   google_client_id="1234-google.apps.googleusercontent.com", okta_client_id="0oa1okta",
                   okta_issuer_url="https://example.okta.com/oauth2/default", alarm_email="ops@example.com",
                   cognito_domain_prefix="exchange-prod-test")
    return dev, prod


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    import aws_cdk as cdk

    from infra.app import add_stage
    from infra.nag import add_checks

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir), context=CONTEXT)
    stages = {}
    for cfg in stage_configs():
        # prod is synthesised with two matcher groups (one ECS service each), dev with the file's one
        with symbols_file(two_group_symbols(tmp_path_factory.mktemp("symbols")) if cfg.stage == "prod" else None):
            stages[cfg.stage] = add_stage(app, cfg)
    add_checks(app)
    error = None
    try:
        app.synth()
    except RuntimeError as e:     # jsii surfaces ValidationFailed as RuntimeError
        error = str(e)
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return Synth(outdir=outdir, stages=stages, report=report, error=error)


@pytest.fixture(scope="session")
def templates(synth):
    """``{(stage, part): aws_cdk.assertions.Template}`` of every synthesised stack."""
    from aws_cdk.assertions import Template

    assert synth.error is None, f"synthesis failed: {synth.error}\n{json.dumps(synth.report, indent=1)[:4000]}"
    parts = ("Network", "Data", "Identity", "Matcher", "Ops", "Edge", "ApiGuard")
    return {(stage, part): Template.from_json(synth.template(stage, part))
            for stage in synth.stages for part in parts}


@pytest.fixture(scope="session")
def api_domain() -> str:
    return API_DOMAIN
