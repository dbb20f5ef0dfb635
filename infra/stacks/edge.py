"""5. Edge: the web app's private S3 bucket behind CloudFront (OAC), ``/api/*`` routed to
the Chalice API, the stream gateway's WebSocket paths (``/ws``, ``/ws/*``, ``/stream``,
``/ws-api/*``) routed to the internal ALB through a CloudFront VPC origin, and - when
configured - the domain's certificate, alias records and a WAF rate rule.

The ALB stays internal (no public address): CloudFront's VPC origin reaches it over
the VPC, so a WebSocket client has exactly one way in, the distribution.  The stream
behaviours forward every viewer header and the query string (``streams=...``, the
``Sec-WebSocket-*`` handshake) and cache nothing; CloudFront passes WebSocket upgrades
through on any behaviour.

The API origin is the REST API's domain ``<id>.execute-api.<region>.amazonaws.com``.
Its stage is named ``api`` (``.chalice/config.json``), so ``/api/v3/order`` on the
distribution is ``/api/v3/order`` on the origin - no path rewriting.  The domain is
taken from context ``api_domain`` or, after ``chalice deploy``, from
``.chalice/deployed/<stage>.json``; this stack is therefore deployed after Chalice
(docs/deploy.md).  CloudFront certificates and WAF web ACLs for CloudFront live in
us-east-1: deploy this stack there (the default region).
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

from aws_cdk import (
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    aws_certificatemanager as acm,
    aws_cloudfront as cf,
    aws_cloudfront_origins as origins,
    aws_elasticloadbalancingv2 as elbv2,
    aws_route53 as r53,
    aws_route53_targets as r53t,
    aws_s3 as s3,
    aws_wafv2 as waf,
)
from constructs import Construct

from gateway.config import PATHS as STREAM_PATHS
from infra.config import StageConfig
from infra.nag import acknowledge
from infra.stacks.api_guard import origin_secret_value

REPO_ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_API = "api-not-deployed.invalid"


def rest_api_id_for(cfg: StageConfig, root: Path = REPO_ROOT) -> str:
    """The REST API's id: the first label of its domain."""
    return api_domain_for(cfg, root).split(".", 1)[0]


def api_domain_for(cfg: StageConfig, root: Path = REPO_ROOT) -> str:
    """The REST API's domain: configured, else from Chalice's deployed record."""
    if cfg.api_domain:
        return cfg.api_domain
    deployed = root / ".chalice" / "deployed" / f"{cfg.stage}.json"
    if deployed.exists():
        for res in json.loads(deployed.read_text()).get("resources", []):
            if res.get("resource_type") == "rest_api" and res.get("rest_api_url"):
                return urlparse(res["rest_api_url"]).hostname
    return PLACEHOLDER_API


class EdgeStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, cfg: StageConfig, logs_bucket: s3.IBucket,
                 origin_secret_arn: str, stream_alb: elbv2.IApplicationLoadBalancer | None = None, **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.cfg = cfg
        self.api_domain = api_domain_for(cfg)

        self.site_bucket = s3.Bucket(
            self, "Site", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=logs_bucket, server_access_logs_prefix="site/",
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))])

        cert = zone = None
        names = None
        if cfg.domain_name and cfg.hosted_zone_id:
            zone = r53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=cfg.hosted_zone_id,
                zone_name=cfg.hosted_zone_name or cfg.domain_name)
            cert = acm.Certificate(self, "Certificate", domain_name=cfg.domain_name,
                                   validation=acm.CertificateValidation.from_dns(zone))
            names = [cfg.domain_name]

        web_acl_arn = None
        if cfg.waf_rate_limit:
            web_acl_arn = self._web_acl(cfg).attr_arn

        # Every /api/* origin request carries the origin-verify secret (resolved by
        # CloudFormation at deploy time); the API guard stack's WAF admits nothing else.
        api_origin = origins.HttpOrigin(self.api_domain, protocol_policy=cf.OriginProtocolPolicy.HTTPS_ONLY,
                                        origin_ssl_protocols=[cf.OriginSslPolicy.TLS_V1_2],
                                        custom_headers={"X-Origin-Verify": origin_secret_value(origin_secret_arn)})
        behaviors = {
            "/api/*": cf.BehaviorOptions(
                origin=api_origin,
                viewer_protocol_policy=cf.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cf.AllowedMethods.ALLOW_ALL,
                cache_policy=cf.CachePolicy.CACHING_DISABLED,
                # Everything but Host: API Gateway routes on its own host name.
                origin_request_policy=cf.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                compress=True),
        }
        if stream_alb is not None:
            # The ALB's listener is plain HTTP on port 80 inside the VPC (the viewer's TLS
            # ends at CloudFront); its rule sends these same paths to the gateway.
            # Like the API origin, every request carries the origin-verify secret: the
            # gateway believes CloudFront-Viewer-Address (the caller's address for rate
            # limits and API-key allow-lists) only when it matches (chalicelib.api.origin).
            self.stream_origin = origins.VpcOrigin.with_application_load_balancer(
                stream_alb, http_port=80, protocol_policy=cf.OriginProtocolPolicy.HTTP_ONLY,
                custom_headers={"X-Origin-Verify": origin_secret_value(origin_secret_arn)},
                vpc_origin_name=cfg.name("streams"), read_timeout=Duration.seconds(60),
                keepalive_timeout=Duration.seconds(60))
            for path in STREAM_PATHS:
                behaviors[path] = cf.BehaviorOptions(
                    origin=self.stream_origin, viewer_protocol_policy=cf.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cf.AllowedMethods.ALLOW_GET_HEAD,
                    cache_policy=cf.CachePolicy.CACHING_DISABLED,
                    # the viewer's headers and CloudFront's, CloudFront-Viewer-Address among them
                    origin_request_policy=cf.OriginRequestPolicy.ALL_VIEWER_AND_CLOUDFRONT_2022, compress=False)
        self.distribution = cf.Distribution(
            self, "Distribution",
            comment=f"exchange {cfg.stage}: web app + /api/* + streams",
            default_root_object="index.html",
            default_behavior=cf.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.site_bucket),
                viewer_protocol_policy=cf.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cf.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=cf.ResponseHeadersPolicy.SECURITY_HEADERS,
                compress=True),
            additional_behaviors=behaviors,
            # The single-page app handles its own routes.
            error_responses=[cf.ErrorResponse(http_status=404, response_http_status=200,
                                              response_page_path="/index.html", ttl=Duration.seconds(0))],
            certificate=cert, domain_names=names,
            minimum_protocol_version=cf.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cf.HttpVersion.HTTP2_AND_3,
            price_class=cf.PriceClass.PRICE_CLASS_ALL if cfg.is_prod else cf.PriceClass.PRICE_CLASS_100,
            enable_logging=True, log_bucket=logs_bucket, log_file_prefix="cloudfront/",
            web_acl_id=web_acl_arn,
        )
        if zone is not None:
            target = r53.RecordTarget.from_alias(r53t.CloudFrontTarget(self.distribution))
            r53.ARecord(self, "Alias", zone=zone, record_name=cfg.domain_name, target=target)
            r53.AaaaRecord(self, "AliasV6", zone=zone, record_name=cfg.domain_name, target=target)

        CfnOutput(self, "WebBucketName", value=self.site_bucket.bucket_name)
        CfnOutput(self, "DistributionId", value=self.distribution.distribution_id)
        CfnOutput(self, "WebUrl", value=f"https://{cfg.domain_name or self.distribution.distribution_domain_name}")
        CfnOutput(self, "ApiOriginDomain", value=self.api_domain)

        acknowledge(self.distribution, "AwsSolutions-CFR1",
                    "No geo restriction: the exchange's jurisdiction rules are enforced at account level "
                    "(KYC), not by viewer IP.")
        if not web_acl_arn:
            acknowledge(self.distribution, "AwsSolutions-CFR2",
                        f"WAF is optional per stage (waf_rate_limit in infra/config.py); off in {cfg.stage}, "
                        "the API also rate-limits per key in Redis.")
        if cert is None:
            acknowledge(self.distribution, "AwsSolutions-CFR4",
                        "Without a configured domain the distribution uses the default *.cloudfront.net "
                        "certificate, whose minimum TLS version CloudFront fixes; with a domain, TLSv1.2_2021.")

    def _web_acl(self, cfg: StageConfig) -> waf.CfnWebACL:
        def visibility(name: str):
            return waf.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True)

        return waf.CfnWebACL(
            self, "WebAcl", scope="CLOUDFRONT", name=cfg.name("edge"),
            default_action=waf.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility(cfg.name("edge")),
            rules=[
                waf.CfnWebACL.RuleProperty(
                    name="rate-per-ip", priority=0, action=waf.CfnWebACL.RuleActionProperty(block={}),
                    statement=waf.CfnWebACL.StatementProperty(rate_based_statement=waf.CfnWebACL.RateBasedStatementProperty(
                        limit=cfg.waf_rate_limit, aggregate_key_type="IP", evaluation_window_sec=300)),
                    visibility_config=visibility("rate-per-ip")),
                waf.CfnWebACL.RuleProperty(
                    name="aws-common", priority=1, override_action=waf.CfnWebACL.OverrideActionProperty(none={}),
                    statement=waf.CfnWebACL.StatementProperty(managed_rule_group_statement=waf.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name="AWSManagedRulesCommonRuleSet")),
                    visibility_config=visibility("aws-common")),
            ])
