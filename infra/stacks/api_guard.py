"""7. API guard: the REST API answers only requests that came through our CloudFront,
and answers the gateway's own refusals in Binance's error shape.

Chalice creates the REST API (``chalice deploy``), so this stack is keyed on its id
(from ``api_domain`` / ``.chalice/deployed/<stage>.json``, like the Edge stack) and is
deployed after it, in the API's region.

**Why a regional WAF web ACL on the stage, not only a check in the code.**  CloudFront
adds ``X-Origin-Verify: <secret>`` to every ``/api/*`` origin request (edge.py; the
value is the Secrets Manager secret ``ORIGIN_VERIFY_SECRET_ARN``, resolved by
CloudFormation at deploy time, never in the template or the repository).  The API's
code checks it too (issue 12's app side, accepting AWSCURRENT and AWSPREVIOUS), but a
check in the code runs only after API Gateway has invoked the Lambda: throttling
budget, Lambda concurrency and cost are spent by anyone who finds the
``execute-api`` URL, and a bug in one route would open it.  The web ACL below sits
in front of the stage: its default action is **Block**, and its one allow rule
matches the header byte for byte.  The ``execute-api`` endpoint has exactly one stage
(``api``, .chalice/config.json) and this ACL is associated with it, so there is no
path to the Lambdas that skips the check (``tests/infra/test_edge_guard.py``).  A
blocked request gets the ``WAF_FILTERED`` gateway response, Binance-shaped like every
other.

Rotation: put a new secret value (AWSCURRENT moves to AWSPREVIOUS), deploy this stack
with ``-c origin_verify_accept_previous=true`` (both values pass), deploy Edge
(CloudFront sends the new one), then deploy this stack again without the flag
(docs/deploy.md).
"""
from __future__ import annotations

import json

from aws_cdk import Fn, Stack, aws_apigateway as apigw, aws_wafv2 as waf
from constructs import Construct

from chalicelib.api.gateway_errors import GATEWAY_RESPONSES, body
from infra.config import StageConfig

ORIGIN_HEADER = "x-origin-verify"      # WAF compares header names in lower case
API_STAGE = "api"                      # .chalice/config.json api_gateway_stage


def origin_secret_value(secret_arn: str, version_stage: str = "AWSCURRENT") -> str:
    """A CloudFormation dynamic reference to the secret's value (resolved at deploy)."""
    return Fn.join("", ["{{resolve:secretsmanager:", secret_arn, f":SecretString:::{version_stage}}}}}"])


class ApiGuardStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, cfg: StageConfig, rest_api_id: str, origin_secret_arn: str,
                 accept_previous: bool = False, **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.rest_api_id = rest_api_id

        def visibility(name: str):
            return waf.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True)

        def header_is(version: str):
            return waf.CfnWebACL.StatementProperty(byte_match_statement=waf.CfnWebACL.ByteMatchStatementProperty(
                field_to_match=waf.CfnWebACL.FieldToMatchProperty(
                    single_header={"Name": ORIGIN_HEADER}),
                positional_constraint="EXACTLY",
                search_string=origin_secret_value(origin_secret_arn, version),
                text_transformations=[waf.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")]))

        versions = ["AWSCURRENT", "AWSPREVIOUS"] if accept_previous else ["AWSCURRENT"]
        statement = (header_is(versions[0]) if len(versions) == 1 else waf.CfnWebACL.StatementProperty(
            or_statement=waf.CfnWebACL.OrStatementProperty(statements=[header_is(v) for v in versions])))
        self.web_acl = waf.CfnWebACL(
            self, "OriginOnly", scope="REGIONAL", name=cfg.name("api-origin-only"),
            default_action=waf.CfnWebACL.DefaultActionProperty(block={}),
            visibility_config=visibility(cfg.name("api-origin-only")),
            rules=[waf.CfnWebACL.RuleProperty(
                name="from-our-cloudfront", priority=0, action=waf.CfnWebACL.RuleActionProperty(allow={}),
                statement=statement, visibility_config=visibility("from-our-cloudfront"))])
        self.stage_arn = f"arn:{self.partition}:apigateway:{self.region}::/restapis/{rest_api_id}/stages/{API_STAGE}"
        waf.CfnWebACLAssociation(self, "OnApiStage", resource_arn=self.stage_arn,
                                 web_acl_arn=self.web_acl.attr_arn)

        # ------------------------------------------------ gateway responses
        for response_type, (status, _code, _msg) in GATEWAY_RESPONSES.items():
            apigw.CfnGatewayResponse(
                self, f"Gw{response_type.title().replace('_', '')}", rest_api_id=rest_api_id,
                response_type=response_type, status_code=str(status),
                response_parameters={"gatewayresponse.header.Content-Type": "'application/json'"},
                response_templates={"application/json": json.dumps(body(response_type), separators=(",", ":"))})
