"""The trust boundary in the templates: the API is reachable only through our
CloudFront, and the gateway's own refusals are Binance-shaped."""
from __future__ import annotations

import json

import pytest

STAGES = ("dev", "prod")


def _by_type(template: dict, rtype: str) -> dict:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == rtype}


def _secret_ref(value) -> tuple[str, str]:
    """(secret ARN expression, version stage) of a `{{resolve:secretsmanager:...}}` join."""
    text = json.dumps(value)
    assert "{{resolve:secretsmanager:" in text, text
    version = "AWSPREVIOUS" if "AWSPREVIOUS" in text else "AWSCURRENT"
    return text.replace("AWSPREVIOUS", "").replace("AWSCURRENT", ""), version


@pytest.mark.parametrize("stage", STAGES)
def test_no_path_to_the_api_skips_the_origin_check(synth, api_domain, stage):
    edge, guard, data = (synth.template(stage, p) for p in ("Edge", "ApiGuard", "Data"))
    rest_api_id = api_domain.split(".", 1)[0]
    # 1. the REST API has one stage ("api"), and the guard's web ACL is associated with it
    from pathlib import Path

    config = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())
    assert config["api_gateway_stage"] == "api" and config["api_gateway_endpoint_type"] == "REGIONAL"
    (assoc,) = _by_type(guard, "AWS::WAFv2::WebACLAssociation").values()
    assert json.dumps(assoc["Properties"]["ResourceArn"]).endswith(f'/restapis/{rest_api_id}/stages/api"]]}}')
    (acl_lid, acl), = _by_type(guard, "AWS::WAFv2::WebACL").items()
    assert assoc["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_lid, "Arn"]}
    # 2. the ACL blocks by default; its only rule allows the exact X-Origin-Verify value
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL" and props["DefaultAction"] == {"Block": {}}
    (rule,) = props["Rules"]
    assert rule["Action"] == {"Allow": {}}
    match = rule["Statement"]["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"SingleHeader": {"Name": "x-origin-verify"}}
    assert match["PositionalConstraint"] == "EXACTLY"
    waf_secret, version = _secret_ref(match["SearchString"])
    assert version == "AWSCURRENT"
    # 3. CloudFront sends that very secret on every /api/* origin request
    (dist,) = _by_type(edge, "AWS::CloudFront::Distribution").values()
    cfg = dist["Properties"]["DistributionConfig"]
    (api_behaviour,) = [b for b in cfg["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
    origin = next(o for o in cfg["Origins"] if o["Id"] == api_behaviour["TargetOriginId"])
    assert origin["DomainName"] == api_domain
    (header,) = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-Origin-Verify"
    cf_secret, _ = _secret_ref(header["HeaderValue"])
    # both name the origin-verify secret of the data stack (by its exported ARN)
    (secret_lid,) = [lid for lid in _by_type(data, "AWS::SecretsManager::Secret") if lid.startswith("OriginVerify")]
    for ref in (waf_secret, cf_secret):
        assert secret_lid in ref, ref
    # 4. no other origin is the API, and no value of the secret is in any template
    assert sum(1 for o in cfg["Origins"] if "execute-api" in json.dumps(o.get("DomainName"))) == 1


def test_rotation_accepts_the_previous_value_only_when_asked(tmp_path):
    import aws_cdk as cdk
    from aws_cdk import aws_secretsmanager as sm

    from infra.config import STAGES
    from infra.stacks.api_guard import ApiGuardStack

    app = cdk.App(outdir=str(tmp_path))
    env = cdk.Environment(account="123456789012", region="us-east-1")
    holder = cdk.Stack(app, "Secrets", env=env)
    secret = sm.Secret(holder, "OriginVerify")
    stack = ApiGuardStack(app, "Guard", cfg=STAGES["dev"], rest_api_id="abc", origin_secret_arn=secret.secret_arn,
                          accept_previous=True, env=env)
    template = app.synth().get_stack_by_name(stack.stack_name).template
    (acl,) = _by_type(template, "AWS::WAFv2::WebACL").values()
    statements = acl["Properties"]["Rules"][0]["Statement"]["OrStatement"]["Statements"]
    assert {_secret_ref(s["ByteMatchStatement"]["SearchString"])[1] for s in statements} == {
        "AWSCURRENT", "AWSPREVIOUS"}


@pytest.mark.parametrize("stage", STAGES)
def test_gateway_responses_are_the_binance_shaped_table(synth, api_domain, stage):
    from chalicelib.api.gateway_errors import GATEWAY_RESPONSES

    guard = synth.template(stage, "ApiGuard")
    found = {r["Properties"]["ResponseType"]: r["Properties"]
             for r in _by_type(guard, "AWS::ApiGateway::GatewayResponse").values()}
    assert set(found) == set(GATEWAY_RESPONSES)
    for rtype, (status, code, msg) in GATEWAY_RESPONSES.items():
        p = found[rtype]
        assert p["RestApiId"] == api_domain.split(".", 1)[0]
        assert p["StatusCode"] == str(status)
        assert json.loads(p["ResponseTemplates"]["application/json"]) == {"code": code, "msg": msg}
        assert p["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
