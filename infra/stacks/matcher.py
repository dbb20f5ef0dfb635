"""3. Matcher: ECS cluster, one Fargate service per matcher group, Fargate Spot jobs, internal ALB.

* The image is built by CDK from ``infra/docker/matcher.Dockerfile`` with the repository
  root as context (only the paths the image needs are part of the asset).  Synthesis
  only fingerprints and stages the files; ``cdk deploy`` builds and pushes it.
* **One matcher service per matcher group** (``matcherGroups`` in
  ``chalicelib/symbols.json``; group 0 keeps the ungrouped names), each from the same
  definition: the same image, size and settings, only ``MATCHER_GROUP`` differs, and
  a role of its own from the same declaration, naming its group's intents table and
  stream only (the task reads ``INTENTS_TABLE`` + ``MATCHER_GROUP`` and derives its
  table's name, ``chalicelib/routing.py``; the data stack makes one table per group).
  They run on on-demand FARGATE (sequencers: never Spot), with circuit-breaker
  deployments that roll back.  Up to ``MAX_READERS`` (2) tasks of a group hold a reader
  slot each and split the group's symbols, standing by for each other (symbol
  ownership is a lease with a fencing token, see matcher/); CPU target tracking scales
  a group between ``matcher_desired`` and ``min(matcher_max, 2)``: the second task is
  capacity.  Not past 2: DynamoDB Streams allows 2 readers per shard, so a third task
  could only stand by; capacity past that is added by groups (raise
  ``matcherGroups``, pin a hot symbol, ``move-symbol``).  A deployment's extra tasks
  wait as standbys until the old ones release their slots.  A task of 2 vCPUs or more
  (``matcher_cpu`` >= 2048: prod) publishes each batch from a child process, out of
  the worker's GIL (``MATCHER_PUBLISH_PROCESS``, matcher/service/publishproc.py).
* Non-critical work (market-data jobs, a task-form of the reconciler) runs as a second
  service on the FARGATE_SPOT capacity provider.
* A one-off operator task (``ops``: migrations, grant-admin) on the same image.
* An internal ALB (never internet-facing) fronts the health/admin endpoint and the
  stream gateway (``infra/stacks/gateway.py``: its Fargate service, on the same image
  and cluster), which CloudFront reaches through a VPC origin.
* Each task's environment, container secrets and role come from its unit's declaration
  (``matcher/service/config.py`` MATCHER and JOBS, ``chalicelib/units.py`` OPS,
  ``gateway/config.py`` GATEWAY) through
  ``infra/units.py``: the roles hold exactly the declared actions on the declared
  resources.  The PostgreSQL user and password arrive as container secrets through the
  execution role; the Redis AUTH token is read by ARN like in the Lambdas.
* An X-Ray daemon sidecar receives the matcher's segments on 127.0.0.1:2000/udp.
"""
from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    CfnOutput,
    Duration,
    IgnoreMode,
    Stack,
    aws_dynamodb as ddb,
    aws_ecs as ecs,
    aws_elasticloadbalancingv2 as elbv2,
    aws_iam as iam,
    aws_logs as logs,
    aws_secretsmanager as sm,
)
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

from chalicelib.units import OPS, Unit
from gateway.config import GATEWAY
from infra.config import StageConfig
from infra.nag import acknowledge, acknowledge_all
from infra.stacks.common import retention
from infra.stacks.data import DataStack
from infra.stacks.gateway import IDLE_TIMEOUT_S, GatewayService
from infra.stacks.identity import IdentityStack
from infra.stacks.network import NetworkStack
from infra.units import environment as unit_environment, secret_refs, statements as unit_statements
from matcher.service.config import (
    HEALTH_PATH,
    HEALTH_PORT,
    JOBS,
    MATCHER,
    MAX_READERS,
    STOP_TIMEOUT_S,
    publish_process_for,
)

DOCKERFILE = "infra/docker/matcher.Dockerfile"
# The build context is the repository root; what is in it is decided by the one
# .dockerignore beside the Dockerfile, read with Docker's own semantics (a GLOB
# ``*`` would match at every depth and leave the image without its code).
DOCKERIGNORE = Path(__file__).resolve().parents[1] / "docker" / "matcher.Dockerfile.dockerignore"


def image_excludes() -> list[str]:
    return [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


# The X-Ray daemon beside the matcher: Powertools' Tracer sends segments over UDP to
# 127.0.0.1:2000 (the task's own network namespace in awsvpc mode).
XRAY_DAEMON_IMAGE = "public.ecr.aws/xray/aws-xray-daemon:3.3.14"
XRAY_DAEMON_PORT = 2000


def matcher_groups() -> int:
    """How many matcher groups (one ECS service each): the symbols file's ``matcherGroups``."""
    from chalicelib.symbols import load_catalog

    return load_catalog().groups


def group_suffix(group: int) -> str:
    """Construct-id suffix of a group's resources (group 0 keeps the ungrouped ids and names,
    so adding groups replaces nothing already deployed)."""
    return "" if group == 0 else f"G{group}"


class MatcherStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, cfg: StageConfig, network: NetworkStack, data: DataStack,
                 identity: IdentityStack, source_dir: Path, **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.cfg = cfg
        vpc = network.vpc

        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, cluster_name=cfg.name("cluster"),
            enable_fargate_capacity_providers=True,
            container_insights_v2=ecs.ContainerInsights.ENABLED)

        image = ecs.ContainerImage.from_asset(
            str(source_dir), file=DOCKERFILE, platform=Platform.LINUX_ARM64,
            exclude=image_excludes(), ignore_mode=IgnoreMode.DOCKER)
        self.log_group = logs.LogGroup(self, "Logs", log_group_name=f"/exchange/{cfg.stage}/matcher",
                                       retention=retention(cfg.log_retention_days))

        # Every environment, secret and statement below comes from the units'
        # declarations (matcher/service/config.py, chalicelib/units.py) via infra/units.py.
        providers = {**data.providers, **identity.providers}

        def intents(group: int | None) -> list[ddb.CfnTable]:
            """INTENTS_TABLE's tables: a matcher group's own, or (any other unit: the
            API-side units put into the table of each symbol's group) every group's."""
            return data.intents_tables if group is None else [data.intents_tables[group]]

        def arns(kind: str, v: str, group: int | None) -> list[str]:
            if kind in ("table", "stream"):
                tables = intents(group) if v == "INTENTS_TABLE" else [data.tables[v]]
                return [t.attr_arn if kind == "table" else t.attr_stream_arn for t in tables]
            if kind == "userpool":
                return [identity.user_pool.user_pool_arn]
            return [providers[v]]       # secret, cluster
        secrets_by_setting = {"DB_SECRET_ARN": data.db_secret}

        def role_for(unit: Unit, group: int | None = None) -> iam.Role:
            """The unit's role; a matcher group's (``group``) names its group's intents
            table and stream only."""
            cid = f"{unit.name.capitalize()}{group_suffix(group or 0)}TaskRole"
            role = iam.Role(self, cid, assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                            description=f"{unit.name}{f' group {group}' if group else ''}: {unit.entry}"[:1000])
            for st in unit_statements(unit, lambda kind, v: arns(kind, v, group), key_arn=data.key.key_arn,
                                      region=self.region):
                role.add_to_policy(iam.PolicyStatement(sid=st["sid"], actions=st["actions"],
                                                       resources=st["resources"], conditions=st["conditions"]))
            return role

        def container_secrets(unit: Unit) -> dict[str, ecs.Secret]:
            out = {}
            for var, (setting, field) in secret_refs(unit).items():
                secret = sm.Secret.from_secret_complete_arn(self, f"{unit.name}{var}Secret",
                                                            secrets_by_setting[setting].secret_arn)
                out[var] = ecs.Secret.from_secrets_manager(secret, field)
            return out

        decrypt_secrets = iam.PolicyStatement(
            sid="DecryptSecrets", actions=["kms:Decrypt"], resources=[data.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com"}})

        def task(unit: Unit, cid: str, cpu: int, memory: int, role: iam.Role | None = None,
                 family: str | None = None) -> ecs.FargateTaskDefinition:
            td = ecs.FargateTaskDefinition(
                self, cid, family=family or cfg.name(unit.name), cpu=cpu, memory_limit_mib=memory,
                task_role=role or role_for(unit),
                runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64,
                                                     operating_system_family=ecs.OperatingSystemFamily.LINUX))
            if unit.secrets:
                td.add_to_execution_role_policy(decrypt_secrets)
            return td

        self.units = {u.name: u for u in (MATCHER, JOBS, OPS, GATEWAY)}
        self.environments = {name: unit_environment(u, cfg.stage, providers) for name, u in self.units.items()}
        # ------------------------------------------------ matcher services, one per group
        self.groups = matcher_groups()
        self.task_roles = [role_for(MATCHER, group) for group in range(self.groups)]
        self.task_role = self.task_roles[0]
        matcher_secrets = container_secrets(MATCHER)
        self.task_defs: list[ecs.FargateTaskDefinition] = []
        self.services: list[ecs.FargateService] = []
        for group in range(self.groups):
            sfx = group_suffix(group)
            name = "matcher" if group == 0 else f"matcher-g{group}"
            td = task(MATCHER, f"MatcherTask{sfx}", cfg.matcher_cpu, cfg.matcher_memory_mib,
                      role=self.task_roles[group], family=cfg.name(name))
            container = td.add_container(
                "matcher", image=image, environment={
                    **self.environments["matcher"], "MATCHER_GROUP": str(group),
                    # a batch's publish in a process of its own with 2 vCPUs (matcher/service/publishproc.py)
                    "MATCHER_PUBLISH_PROCESS": publish_process_for(cfg.matcher_cpu)},
                secrets=matcher_secrets,
                logging=ecs.LogDrivers.aws_logs(stream_prefix=name, log_group=self.log_group),
                port_mappings=[ecs.PortMapping(container_port=HEALTH_PORT)],
                stop_timeout=Duration.seconds(STOP_TIMEOUT_S))
            container.add_ulimits(ecs.Ulimit(name=ecs.UlimitName.NOFILE, soft_limit=65536, hard_limit=65536))
            xray_daemon = td.add_container(
                "xray-daemon", image=ecs.ContainerImage.from_registry(XRAY_DAEMON_IMAGE), essential=False,
                cpu=32, memory_reservation_mib=64, user="1337",
                port_mappings=[ecs.PortMapping(container_port=XRAY_DAEMON_PORT, protocol=ecs.Protocol.UDP)],
                logging=ecs.LogDrivers.aws_logs(stream_prefix="xray", log_group=self.log_group))
            container.add_container_dependencies(ecs.ContainerDependency(
                container=xray_daemon, condition=ecs.ContainerDependencyCondition.START))
            # up to MAX_READERS tasks of a group split its symbols (reader slots); CPU scaling adds the
            # second one, which takes half the symbols: capacity, not a standby.  Past MAX_READERS
            # a task could only stand by (the stream allows 2 readers per shard): add groups instead.
            self.services.append(ecs.FargateService(
                self, f"MatcherService{sfx}", cluster=self.cluster, task_definition=td,
                service_name=cfg.name(name), desired_count=cfg.matcher_desired,
                vpc_subnets=network.task_subnets, security_groups=[network.matcher_sg], assign_public_ip=False,
                capacity_provider_strategies=[ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)],
                circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
                min_healthy_percent=100, max_healthy_percent=200,
                health_check_grace_period=Duration.seconds(60),
                enable_execute_command=False))
            self.task_defs.append(td)
            top = min(cfg.matcher_max, MAX_READERS)
            if top > cfg.matcher_desired:
                scaling = self.services[-1].auto_scale_task_count(min_capacity=cfg.matcher_desired,
                                                                  max_capacity=top)
                scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60,
                                                 scale_in_cooldown=Duration.minutes(10),
                                                 scale_out_cooldown=Duration.minutes(1))
        self.task_def, self.service = self.task_defs[0], self.services[0]

        # ------------------------------------------------------------------ ALB
        self.alb = elbv2.ApplicationLoadBalancer(
            self, "AdminAlb", vpc=vpc, internet_facing=False, vpc_subnets=network.task_subnets,
            security_group=network.alb_sg, load_balancer_name=cfg.name("matcher-admin")[:32],
            drop_invalid_header_fields=True, deletion_protection=cfg.is_prod,
            idle_timeout=Duration.seconds(IDLE_TIMEOUT_S))
        self.alb.log_access_logs(data.access_logs, prefix="alb/matcher")
        listener = self.alb.add_listener("Http", port=80, open=False)
        self.target_group = listener.add_targets(
            "Matcher", port=HEALTH_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[svc.load_balancer_target(container_name="matcher", container_port=HEALTH_PORT)
                     for svc in self.services],
            health_check=elbv2.HealthCheck(path=HEALTH_PATH, healthy_http_codes="200",
                                           interval=Duration.seconds(15), healthy_threshold_count=2),
            deregistration_delay=Duration.seconds(30))

        # ------------------------------------------------------- stream gateway
        self.gateway = GatewayService(
            self, "Gateway", cfg=cfg, cluster=self.cluster, image=image, environment=self.environments["gateway"],
            listener=listener, task=task, log_group=self.log_group, network=network)

        # ------------------------------------------------ Fargate Spot jobs
        self.jobs_task_def = task(JOBS, "JobsTask", cfg.jobs_cpu, cfg.jobs_memory_mib)
        self.jobs_task_def.add_container(
            "jobs", image=image, environment=self.environments["jobs"], secrets=container_secrets(JOBS),
            command=["python", "-m", "matcher.jobs"],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="jobs", log_group=self.log_group))
        # One-off operator task: migrations, grant-admin / revoke-admin (docs/deploy.md).
        self.ops_task_def = task(OPS, "OpsTask", 256, 512)
        self.ops_task_def.add_container(
            "ops", image=image, environment=self.environments["ops"], secrets=container_secrets(OPS),
            command=["python", "-m", "chalicelib.cli", "migrate"],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="ops", log_group=self.log_group))
        self.jobs_service = ecs.FargateService(
            self, "JobsService", cluster=self.cluster, task_definition=self.jobs_task_def,
            service_name=cfg.name("jobs"), desired_count=1 if cfg.jobs_enabled else 0,
            vpc_subnets=network.task_subnets, security_groups=[network.jobs_sg], assign_public_ip=False,
            capacity_provider_strategies=[ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=0, max_healthy_percent=100)

        CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        CfnOutput(self, "MatcherServiceName", value=self.service.service_name)
        for group, service in enumerate(self.services[1:], start=1):
            CfnOutput(self, f"MatcherServiceNameG{group}", value=service.service_name)
        CfnOutput(self, "MatcherAdminUrl", value=f"http://{self.alb.load_balancer_dns_name}")
        CfnOutput(self, "GatewayServiceName", value=self.gateway.service.service_name)
        CfnOutput(self, "JobsTaskDefinitionArn", value=self.jobs_task_def.task_definition_arn,
                  description="run ad hoc on Spot: aws ecs run-task --capacity-provider-strategy "
                              "capacityProvider=FARGATE_SPOT ...")
        CfnOutput(self, "OpsTaskDefinitionArn", value=self.ops_task_def.task_definition_arn,
                  description="one-off operator task: migrate (default), grant-admin USER (docs/deploy.md)")

        acknowledge_all(self, {
            "AwsSolutions-ECS2": "Only non-secret configuration (table names, ARNs, endpoints) is passed as "
                                 "environment variables; credentials come from Secrets Manager as container secrets.",
        })
        for role in self.task_roles:
            acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                        "xray:PutTraceSegments/PutTelemetryRecords/GetSampling* (the X-Ray daemon sidecar) have no "
                        "resource-level permissions.")
        for td in (*self.task_defs, self.jobs_task_def, self.ops_task_def, self.gateway.task_def):
            acknowledge(td.execution_role, "AwsSolutions-IAM5[Resource::*]",
                        "ecr:GetAuthorizationToken has no resource-level permissions (pulling the image itself is "
                        "scoped to the asset repository).")
        acknowledge(self.alb, "AwsSolutions-EC23",
                    "Internal ALB: its security group admits port 80 from the VPC CIDR only.")
