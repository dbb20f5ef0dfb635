"""The synthesised CloudFormation has the properties the design promises."""
from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match

from infra.config import STAGES
from infra.tables import stage_tables
from tests.conftest import ROOT

STAGE_NAMES = ("dev", "prod")


def resources(template, rtype: str) -> dict:
    return template.find_resources(rtype)


def props(template, rtype: str) -> list[dict]:
    return [r.get("Properties", {}) for r in resources(template, rtype).values()]


# ------------------------------------------------------------------------ synthesis
def test_every_stack_of_both_stages_synthesises(synth):
    assert synth.error is None, synth.error
    for stage in STAGE_NAMES:
        for part in ("Network", "Data", "Identity", "Matcher", "Ops", "Edge"):
            assert synth.template(stage, part)["Resources"], (stage, part)


def test_stacks_deploy_in_order(synth):
    manifest = json.loads((synth.outdir / "manifest.json").read_text())
    deps = {name: set(a.get("dependencies", [])) for name, a in manifest["artifacts"].items()}
    assert "Exchange-prod-Network" in deps["Exchange-prod-Data"]
    assert "Exchange-prod-Data" in deps["Exchange-prod-Matcher"]
    assert "Exchange-prod-Matcher" in deps["Exchange-prod-Ops"]


# -------------------------------------------------------------------------- network
@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_vpc_spans_azs_with_three_tiers_and_gateway_endpoints(templates, stage):
    t = templates[(stage, "Network")]
    from infra_support import AZS

    azs = STAGES[stage].max_azs
    assert azs >= 2 and STAGES[stage].availability_zones is None
    assert len(resources(t, "AWS::EC2::Subnet")) == 3 * azs
    # the AZs are the environment's (looked up), never a hard-coded list
    assert {p["AvailabilityZone"] for p in props(t, "AWS::EC2::Subnet")} == set(AZS[:azs])
    gateways = [p for p in props(t, "AWS::EC2::VPCEndpoint") if p.get("VpcEndpointType") == "Gateway"]
    services = json.dumps([g["ServiceName"] for g in gateways])
    assert "dynamodb" in services and ".s3" in services
    interface = [p for p in props(t, "AWS::EC2::VPCEndpoint") if p.get("VpcEndpointType") == "Interface"]
    assert bool(interface) == STAGES[stage].interface_endpoints


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_no_security_group_is_open_to_the_internet(templates, stage):
    t = templates[(stage, "Network")]
    for sg in props(t, "AWS::EC2::SecurityGroup"):
        for rule in sg.get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0", sg["GroupDescription"]
            assert rule.get("CidrIpv6") != "::/0", sg["GroupDescription"]
    for rule in props(t, "AWS::EC2::SecurityGroupIngress"):
        assert rule.get("CidrIp") != "0.0.0.0/0"
    # data tiers never talk out
    for sg in props(t, "AWS::EC2::SecurityGroup"):
        if sg["GroupDescription"].startswith(("Aurora", "Redis")):
            assert sg["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"  # CDK's "no egress" marker


# ----------------------------------------------------------------------------- data
@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_aurora_serverless_v2_multi_az_encrypted_data_api(templates, stage):
    t = templates[(stage, "Data")]
    cfg = STAGES[stage]
    t.has_resource("AWS::RDS::DBCluster", {
        "DeletionPolicy": "Snapshot",
        "Properties": Match.object_like({
            "Engine": "aurora-postgresql",
            "StorageEncrypted": True,
            "KmsKeyId": Match.any_value(),
            "DeletionProtection": True,
            "EnableHttpEndpoint": True,
            "BackupRetentionPeriod": cfg.aurora_backup_days,
            "ServerlessV2ScalingConfiguration": {"MinCapacity": cfg.aurora_min_acu,
                                                 "MaxCapacity": cfg.aurora_max_acu},
        }),
    })
    (cluster,) = props(t, "AWS::RDS::DBCluster")
    assert "resolve:secretsmanager" in json.dumps(cluster["MasterUserPassword"])   # from Secrets Manager
    instances = props(t, "AWS::RDS::DBInstance")
    assert len(instances) == 2                                   # writer + reader
    assert {i["DBInstanceClass"] for i in instances} == {"db.serverless"}
    assert {i.get("PromotionTier") for i in instances} >= {0}
    t.resource_count_is("AWS::SecretsManager::SecretTargetAttachment", 1)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_dynamodb_tables_are_exactly_the_code_definitions(templates, stage):
    from infra_support import PROD_GROUPS

    t = templates[(stage, "Data")]
    tables = {p["TableName"]: p for p in props(t, "AWS::DynamoDB::Table")}
    expected = stage_tables(PROD_GROUPS if stage == "prod" else 1)  # one intents table per matcher group
    assert len(tables) == len(expected)
    for st in expected:
        spec = st.spec
        p = tables[f"exchange-{stage}-{st.suffix}"]
        assert p["KeySchema"] == spec.key_schema
        assert sorted(p["AttributeDefinitions"], key=str) == sorted(spec.attribute_definitions, key=str)
        assert p["BillingMode"] == "PAY_PER_REQUEST"
        assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert p["SSESpecification"]["SSEEnabled"] is True
        assert p["DeletionProtectionEnabled"] is True
        if spec.stream_view_type:
            assert p["StreamSpecification"] == {"StreamViewType": spec.stream_view_type}
        else:
            assert "StreamSpecification" not in p
        if spec.ttl_attribute:
            assert p["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in p
    # the matcher's input has its stream: one per group, each group's own
    assert tables[f"exchange-{stage}-intents"]["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    if stage == "prod":
        assert tables["exchange-prod-intents-g1"]["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
        assert t.to_json()["Outputs"]["MatcherGroups"]["Value"] == str(PROD_GROUPS)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_redis_multi_az_tls_auth(templates, stage):
    t = templates[(stage, "Data")]
    (rg,) = props(t, "AWS::ElastiCache::ReplicationGroup")
    assert rg["MultiAZEnabled"] is True and rg["AutomaticFailoverEnabled"] is True
    assert rg["TransitEncryptionEnabled"] is True and rg["AtRestEncryptionEnabled"] is True
    assert rg["ReplicasPerNodeGroup"] >= 1
    assert rg["CacheNodeType"] == STAGES[stage].redis_node_type
    assert "resolve:secretsmanager" in json.dumps(rg["AuthToken"])   # never a literal


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_backup_bucket_private_encrypted_with_lifecycle(templates, stage):
    from chalicelib.resources import BACKUP_LIFECYCLE_DAYS

    t = templates[(stage, "Data")]
    buckets = [p for p in props(t, "AWS::S3::Bucket") if "LifecycleConfiguration" in p
               and any(r.get("Id") == "exports" for r in p["LifecycleConfiguration"]["Rules"])]
    assert len(buckets) == 1
    b = buckets[0]
    rule = next(r for r in b["LifecycleConfiguration"]["Rules"] if r.get("Id") == "exports")
    assert rule["ExpirationInDays"] == BACKUP_LIFECYCLE_DAYS["expire"]
    assert rule["Transitions"][0] == {"StorageClass": "GLACIER",
                                      "TransitionInDays": BACKUP_LIFECYCLE_DAYS["to_glacier"]}
    assert b["PublicAccessBlockConfiguration"] == {k: True for k in (
        "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")}
    assert b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
        "SSEAlgorithm"] == "aws:kms"


# -------------------------------------------------------------------------- matcher
@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_matcher_service_per_group_fargate_circuit_breaker(templates, stage):
    """One matcher service per matcher group (prod is synthesised with two, see conftest),
    from the same definition: only MATCHER_GROUP and the role differ, and each group's
    role reads its own group's intents table and stream only; CPU scaling up to the 2
    tasks that split a group's symbols."""
    from infra_support import PROD_GROUPS

    t = templates[(stage, "Matcher")]
    cfg = STAGES[stage]
    groups = PROD_GROUPS if stage == "prod" else 1
    services = {p["ServiceName"]: p for p in props(t, "AWS::ECS::Service")}
    names = [f"exchange-{stage}-matcher"] + [f"exchange-{stage}-matcher-g{g}" for g in range(1, groups)]
    assert set(services) == {*names, f"exchange-{stage}-jobs", f"exchange-{stage}-gateway"}
    tasks = {lid: r["Properties"] for lid, r in resources(t, "AWS::ECS::TaskDefinition").items()}
    shapes = set()
    for group, name in enumerate(names):
        matcher = services[name]
        assert matcher["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE", "Weight": 1}]
        assert matcher["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        assert matcher["DesiredCount"] == cfg.matcher_desired
        assert [lb["ContainerName"] for lb in matcher["LoadBalancers"]] == ["matcher"]  # the admin ALB's target
        td = tasks[matcher["TaskDefinition"]["Ref"]]
        assert td["Family"] == name
        (c,) = [c for c in td["ContainerDefinitions"] if c["Name"] == "matcher"]
        env = {e["Name"]: e["Value"] for e in c["Environment"]}
        assert env.pop("MATCHER_GROUP") == str(group)
        # the publish in a process of its own with 2 vCPUs (prod), in the worker's thread below
        assert env["MATCHER_PUBLISH_PROCESS"] == ("on" if cfg.matcher_cpu >= 2048 else "off")
        assert td["Cpu"] == str(cfg.matcher_cpu)
        shapes.add(json.dumps([env, c["Secrets"], c["Image"], td["Cpu"], td["Memory"]], sort_keys=True, default=str))
        prefix = "MatcherTaskRole" if group == 0 else f"MatcherG{group}TaskRole"
        assert td["TaskRoleArn"]["Fn::GetAtt"][0].startswith(prefix)
        intents = set(re.findall(r"Intent(?:G\d+)?Table", json.dumps(_statements(t, prefix))))
        assert intents == {"IntentTable" if group == 0 else f"IntentG{group}Table"}, (group, intents)
    assert len(shapes) == 1  # the same definition for every group
    # CPU scaling of each group up to 2 tasks (its reader slots: DynamoDB Streams' 2 readers per shard),
    # where the stage starts below that; a task past 2 could only stand by
    from matcher.service.config import MAX_READERS

    targets = [r["Properties"] for lid, r in resources(t, "AWS::ApplicationAutoScaling::ScalableTarget").items()
               if lid.startswith("MatcherService")]
    top = min(cfg.matcher_max, MAX_READERS)
    assert MAX_READERS == 2 and top <= 2
    if top > cfg.matcher_desired:
        assert len(targets) == len(names)
        assert {(x["MinCapacity"], x["MaxCapacity"]) for x in targets} == {(cfg.matcher_desired, top)}
        policies = [p for lid, p in ((lid, r["Properties"]) for lid, r in
                                     resources(t, "AWS::ApplicationAutoScaling::ScalingPolicy").items())
                    if lid.startswith("MatcherService")]
        assert len(policies) == len(names) and all(
            p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]
            == "ECSServiceAverageCPUUtilization" for p in policies)
    else:
        assert not targets
    jobs = services[f"exchange-{stage}-jobs"]
    assert jobs["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]
    (assoc,) = props(t, "AWS::ECS::ClusterCapacityProviderAssociations")
    assert set(assoc["CapacityProviders"]) == {"FARGATE", "FARGATE_SPOT"}
    t.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"})


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_matcher_image_is_a_cdk_docker_asset(synth, stage):
    assets = json.loads((synth.outdir / f"Exchange-{stage}-Matcher.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "infra/docker/matcher.Dockerfile"
    staged = synth.outdir / image["source"]["directory"]
    assert (staged / "infra/docker/matcher.Dockerfile").exists()
    assert (staged / "chalicelib").is_dir()
    assert not (staged / ".venv").exists() and not (staged / "tests").exists()


def _statements(template, role_logical_prefix: str) -> list[dict]:
    out = []
    for lid, res in resources(template, "AWS::IAM::Policy").items():
        if lid.startswith(role_logical_prefix):
            out.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return out


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_task_roles_hold_exactly_the_declared_actions(templates, stage):
    """Each task role is its unit's declaration (plus the KMS decrypt a secret read implies)."""
    from chalicelib.units import OPS
    from gateway.config import GATEWAY
    from matcher.service.config import JOBS, MATCHER

    t = templates[(stage, "Matcher")]
    for unit, prefix in ((MATCHER, "MatcherTaskRole"), (JOBS, "JobsTaskRole"), (OPS, "OpsTaskRole"),
                         (GATEWAY, "GatewayTaskRole")):
        statements = _statements(t, prefix)
        granted = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        declared = {a for acc in unit.access for a in acc.actions}
        assert granted - {"kms:Decrypt"} == declared, (unit.name, granted ^ declared)
        for s in statements:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert not any(a.endswith("*") for a in actions), s
            if s["Resource"] == "*":
                assert all(a.startswith("xray:") for a in actions), s
    # the jobs task reconciles every group's symbols: every group's intents table
    jobs = [s for s in _statements(t, "JobsTaskRole") if "dynamodb:PutItem" in s["Action"]]
    groups = json.dumps(jobs)
    assert "IntentTable" in groups and ("IntentG1Table" in groups) == (stage == "prod")


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_matcher_task_has_an_xray_daemon_sidecar(templates, stage):
    """The matcher's Tracer sends to 127.0.0.1:2000/udp (no AWS_XRAY_DAEMON_ADDRESS
    override): the task's X-Ray daemon container listens there."""
    t = templates[(stage, "Matcher")]
    (td,) = [p for p in props(t, "AWS::ECS::TaskDefinition") if p["Family"] == f"exchange-{stage}-matcher"]
    containers = {c["Name"]: c for c in td["ContainerDefinitions"]}
    daemon = containers["xray-daemon"]
    assert "aws-xray-daemon" in json.dumps(daemon["Image"])
    assert {"ContainerPort": 2000, "Protocol": "udp"} in daemon["PortMappings"]
    assert not any(e["Name"] == "AWS_XRAY_DAEMON_ADDRESS" for e in containers["matcher"]["Environment"])
    assert {"Condition": "START", "ContainerName": "xray-daemon"} in containers["matcher"]["DependsOn"]


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_first_admin_group_and_the_ops_task_may_manage_it(templates, stage):
    from chalicelib.units import ADMIN_GROUP

    (group,) = props(templates[(stage, "Identity")], "AWS::Cognito::UserPoolGroup")
    assert group["GroupName"] == ADMIN_GROUP == "admin"
    ops = [s for lid, r in resources(templates[(stage, "Matcher")], "AWS::IAM::Policy").items()
           if lid.startswith("OpsTaskRole") for s in r["Properties"]["PolicyDocument"]["Statement"]]
    cognito = [s for s in ops if "cognito-idp:AdminAddUserToGroup" in s["Action"]]
    assert cognito and "cognito-idp:AdminRemoveUserFromGroup" in cognito[0]["Action"]
    assert "UserPool" in json.dumps(cognito[0]["Resource"])


# ------------------------------------------------------------------------- identity
@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_user_pool_from_shared_definition(templates, stage):
    from chalicelib import resources as R

    t = templates[(stage, "Identity")]
    (pool,) = props(t, "AWS::Cognito::UserPool")
    pp = pool["Policies"]["PasswordPolicy"]
    assert pp["MinimumLength"] == R.PASSWORD_POLICY["MinimumLength"]
    assert pp["RequireSymbols"] == R.PASSWORD_POLICY["RequireSymbols"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["MfaConfiguration"] == {"OPTIONAL": "OPTIONAL", "REQUIRED": "ON"}[STAGES[stage].mfa]
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    clients = {c["ClientName"]: c for c in props(t, "AWS::Cognito::UserPoolClient")}
    web = clients[f"exchange-web-{stage}"]
    assert web.get("GenerateSecret", False) is False
    assert set(web["ExplicitAuthFlows"]) >= {"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert clients[f"exchange-server-{stage}"]["GenerateSecret"] is True


def test_identity_providers_only_when_configured(templates):
    dev = props(templates[("dev", "Identity")], "AWS::Cognito::UserPoolIdentityProvider")
    prod = {p["ProviderName"]: p for p in props(templates[("prod", "Identity")],
                                                "AWS::Cognito::UserPoolIdentityProvider")}
    assert dev == []
    assert set(prod) == {"Google", "Okta"}
    for p in prod.values():   # client secrets come from Secrets Manager at deploy time
        assert "resolve:secretsmanager" in json.dumps(p["ProviderDetails"]["client_secret"])


# ----------------------------------------------------------------------------- edge
def test_edge_private_bucket_oac_and_api_route(templates, api_domain):
    for stage in STAGE_NAMES:
        t = templates[(stage, "Edge")]
        t.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
        (dist,) = props(t, "AWS::CloudFront::Distribution")
        cfg = dist["DistributionConfig"]
        api = [b for b in cfg["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
        assert len(api) == 1 and api[0]["ViewerProtocolPolicy"] == "https-only"
        origin = next(o for o in cfg["Origins"] if o["Id"] == api[0]["TargetOriginId"])
        assert origin["DomainName"] == api_domain
        assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
        assert cfg["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
        assert "Logging" in cfg
        site = [p for p in props(t, "AWS::S3::Bucket")]
        assert all(p["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] for p in site)
    prod = templates[("prod", "Edge")]
    prod.resource_count_is("AWS::CertificateManager::Certificate", 1)
    prod.resource_count_is("AWS::Route53::RecordSet", 2)
    prod.has_resource_properties("AWS::WAFv2::WebACL", {"Scope": "CLOUDFRONT", "Rules": Match.array_with([
        Match.object_like({"Statement": {"RateBasedStatement": Match.object_like({"AggregateKeyType": "IP"})}})])})
    dev = templates[("dev", "Edge")]
    dev.resource_count_is("AWS::CertificateManager::Certificate", 0)
    dev.resource_count_is("AWS::WAFv2::WebACL", 0)


# ------------------------------------------------------------------- stream gateway
@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_stream_gateway_behind_the_alb_and_cloudfront(templates, stage):
    """The gateway's service behind the internal ALB (its paths, WebSocket-friendly idle
    timeout, no stickiness, /healthz), scaled on the connections it reports, and the
    distribution's stream paths reach that ALB through a VPC origin."""
    from gateway.config import COMMAND, HEALTH_PATH, PATHS, PING_INTERVAL_S, PORT

    cfg = STAGES[stage]
    t = templates[(stage, "Matcher")]
    (gw,) = [p for p in props(t, "AWS::ECS::Service") if p["ServiceName"] == f"exchange-{stage}-gateway"]
    assert gw["DesiredCount"] == cfg.gateway_desired
    assert gw["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    (td,) = [p for p in props(t, "AWS::ECS::TaskDefinition") if p["Family"] == f"exchange-{stage}-gateway"]
    (c,) = td["ContainerDefinitions"]
    assert c["Command"] == list(COMMAND) and c["PortMappings"][0]["ContainerPort"] == PORT
    assert HEALTH_PATH in json.dumps(c["HealthCheck"])
    (alb,) = props(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attrs = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert alb["Scheme"] == "internal" and int(attrs["idle_timeout.timeout_seconds"]) >= 2 * PING_INTERVAL_S
    (rule,) = props(t, "AWS::ElasticLoadBalancingV2::ListenerRule")
    assert rule["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": list(PATHS)}}]
    (tg,) = [p for p in props(t, "AWS::ElasticLoadBalancingV2::TargetGroup") if p.get("Port") == PORT]
    assert tg["HealthCheckPath"] == HEALTH_PATH and tg["TargetType"] == "ip"
    assert {"Key": "stickiness.enabled", "Value": "false"} in tg["TargetGroupAttributes"]
    (target,) = [r["Properties"] for lid, r in resources(t, "AWS::ApplicationAutoScaling::ScalableTarget").items()
                 if lid.startswith("GatewayService")]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (cfg.gateway_desired, cfg.gateway_max)
    tracking = [p["TargetTrackingScalingPolicyConfiguration"]
                for p in props(t, "AWS::ApplicationAutoScaling::ScalingPolicy")]
    (conn,) = [c for c in tracking if "CustomizedMetricSpecification" in c]
    assert conn["TargetValue"] == cfg.gateway_connections_per_task
    assert conn["CustomizedMetricSpecification"]["MetricName"] == "GatewayConnections"
    assert conn["CustomizedMetricSpecification"]["Dimensions"] == [{"Name": "service", "Value": "gateway"}]
    # the edge: each stream path -> the VPC origin of this ALB, uncached, every viewer header forwarded
    edge = templates[(stage, "Edge")]
    (vo,) = props(edge, "AWS::CloudFront::VpcOrigin")
    assert "AdminAlb" in json.dumps(vo["VpcOriginEndpointConfig"]["Arn"])
    (dist,) = props(edge, "AWS::CloudFront::Distribution")
    dc = dist["DistributionConfig"]
    streams = {b["PathPattern"]: b for b in dc["CacheBehaviors"] if b["PathPattern"] in PATHS}
    assert set(streams) == set(PATHS)
    for b in streams.values():
        origin = next(o for o in dc["Origins"] if o["Id"] == b["TargetOriginId"])
        assert "VpcOriginConfig" in origin and b["ViewerProtocolPolicy"] == "https-only"
        assert b["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"          # CachingDisabled
        # AllViewerAndCloudFrontHeaders-2022-06: CloudFront-Viewer-Address reaches the gateway
        assert b["OriginRequestPolicyId"] == "33f36d7e-f396-46d9-90e0-52428a34d9dc"
        # ... believed only with the origin-verify secret, which CloudFront adds to every request
        (hdr,) = origin["OriginCustomHeaders"]
        assert hdr["HeaderName"] == "X-Origin-Verify" and "OriginVerify" in json.dumps(hdr["HeaderValue"])
    ops = templates[(stage, "Ops")]
    names = {a["AlarmName"] for a in props(ops, "AWS::CloudWatch::Alarm")}
    assert {f"exchange-{stage}-gateway-{n}" for n in ("5xx", "unhealthy", "tasks", "connections")} <= names


# ------------------------------------------------------------------------------ ops
@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_ops_dashboard_alarms_xray_backup(templates, stage):
    t = templates[(stage, "Ops")]
    t.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    alarms = props(t, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 10 and all(a["AlarmActions"] for a in alarms)
    names = {a["AlarmName"] for a in alarms}
    assert {f"exchange-{stage}-matcher-lag-p99", f"exchange-{stage}-api-5xx", f"exchange-{stage}-aurora-acu",
            f"exchange-{stage}-redis-cpu", f"exchange-{stage}-matcher-book-audit"} <= names
    from infra_support import PROD_GROUPS

    groups = PROD_GROUPS if stage == "prod" else 1  # a running-task alarm per matcher group
    assert {f"exchange-{stage}-matcher-tasks"} | {f"exchange-{stage}-matcher-g{g}-tasks" for g in range(1, groups)} \
        == {n for n in names if n.startswith(f"exchange-{stage}-matcher") and n.endswith("-tasks")}
    audit = next(a for a in alarms if a["AlarmName"] == f"exchange-{stage}-matcher-book-audit")
    assert audit["MetricName"] == "BookAuditFailed" and audit["EvaluationPeriods"] == 1

    (topic,) = props(t, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in topic
    t.resource_count_is("AWS::XRay::SamplingRule", 1)
    t.has_resource_properties("AWS::Backup::BackupVault", {"EncryptionKeyArn": Match.any_value()})
    (plan,) = props(t, "AWS::Backup::BackupPlan")
    assert len(plan["BackupPlan"]["BackupPlanRule"]) == (2 if STAGES[stage].backup_monthly_retention_days else 1)
    (selection,) = props(t, "AWS::Backup::BackupSelection")
    from infra_support import PROD_GROUPS

    groups = PROD_GROUPS if stage == "prod" else 1
    assert len(selection["BackupSelection"]["Resources"]) == 1 + len(stage_tables(groups))  # Aurora + every table


def test_every_metric_the_stacks_read_is_published_by_the_code():
    """The dashboard and alarms read METRICS by name; a name no code publishes would
    leave an alarm that can never fire."""
    from infra.config import METRICS

    code = "\n".join(p.read_text() for d in ("chalicelib", "matcher", "gateway") for p in (ROOT / d).rglob("*.py"))
    for name in METRICS.values():   # add_metric(name="X", ...) in the matcher, obs.count("X") in the API
        assert f'add_metric(name="{name}"' in code or f'obs.count("{name}"' in code, name


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_log_group_has_retention(synth, stage):
    for part in ("Network", "Data", "Matcher", "Ops"):
        for lid, res in synth.template(stage, part)["Resources"].items():
            if res["Type"] == "AWS::Logs::LogGroup":
                assert res["Properties"].get("RetentionInDays"), (part, lid)


def test_backup_export_job_is_scheduled(templates):
    t = templates[("prod", "Data")]
    fns = [p for p in props(t, "AWS::Lambda::Function") if p.get("Handler") == "backup_export.handler"]
    assert len(fns) == 1
    assert set(fns[0]["Environment"]["Variables"]) >= {"BACKUP_BUCKET", "TABLE_ARNS", "DB_CLUSTER_ID",
                                                        "EXPORT_ROLE_ARN", "KMS_KEY_ARN"}
    assert any(p.get("ScheduleExpression", "").startswith("cron") for p in props(t, "AWS::Events::Rule"))
