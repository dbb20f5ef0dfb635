"""3. Matcher: ECS cluster, the matcher's Fargate service, Fargate Spot jobs, internal ALB.

* The image is built by CDK from ``infra/docker/matcher.Dockerfile`` with the repository
  root as context (only the paths the image needs are part of the asset).  Synthesis
  only fingerprints and stages the files; ``cdk deploy`` builds and pushes it.
* The matcher service runs on on-demand FARGATE (it is the sequencer: never Spot),
  with circuit-breaker deployments that roll back, and CPU/memory target tracking
  between ``matcher_desired`` and ``matcher_max`` tasks.  Extra tasks are warm
  standbys: symbol ownership is a lease with a fencing token (see matcher/), so a
  scale-out never makes two sequencers for one symbol.
* Non-critical work (market-data jobs, a task-form of the reconciler) runs as a second
  service on the FARGATE_SPOT capacity provider.
* An internal ALB (never internet-facing) fronts the health/admin endpoint.
* The task role has only what the matcher does: read the intents table and its stream,
  read/write the trades, book, journal and leases tables, put metrics in its namespace,
  send traces.  Database and Redis credentials arrive as container secrets through the
  execution role.
"""
from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    CfnOutput, Duration, IgnoreMode, Stack,
    aws_ecs as ecs, aws_elasticloadbalancingv2 as elbv2, aws_iam as iam, aws_logs as logs,
    aws_secretsmanager as sm,
)
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

from infra.config import MATCHER_HEALTH_PATH, MATCHER_HEALTH_PORT, METRIC_NAMESPACE, StageConfig
from infra.nag import acknowledge, acknowledge_all
from infra.stacks.common import retention
from infra.stacks.data import DB_NAME, DataStack
from infra.stacks.network import DB_PORT, NetworkStack

DOCKERFILE = "infra/docker/matcher.Dockerfile"
# The image's build context is the repository root; only chalicelib/, matcher/,
# requirements.txt and infra/docker/ are part of the asset (everything else - .venv,
# .git, tests, web - is excluded before hashing), as matcher.Dockerfile.dockerignore says.
IMAGE_EXCLUDE = ["*", ".*", "!chalicelib", "!matcher", "!requirements.txt", "!infra", "infra/*", "!infra/docker",
                 "**/__pycache__", "**/*.pyc"]

READ_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable"]
WRITE_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                 "dynamodb:ConditionCheckItem"]
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
MATCHER_WRITES = ("TRADES_TABLE", "BOOK_TABLE", "JOURNAL_TABLE", "LEASES_TABLE")


class MatcherStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, cfg: StageConfig, network: NetworkStack, data: DataStack,
                 source_dir: Path, **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.cfg = cfg
        vpc = network.vpc

        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, cluster_name=cfg.name("cluster"),
            enable_fargate_capacity_providers=True,
            container_insights_v2=ecs.ContainerInsights.ENABLED)

        image = ecs.ContainerImage.from_asset(
            str(source_dir), file=DOCKERFILE, platform=Platform.LINUX_ARM64,
            exclude=IMAGE_EXCLUDE, ignore_mode=IgnoreMode.GLOB)
        self.log_group = logs.LogGroup(self, "Logs", log_group_name=f"/exchange/{cfg.stage}/matcher",
                                       retention=retention(cfg.log_retention_days))

        # ------------------------------------------------------------ task role
        self.task_role = iam.Role(self, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                                  description="matcher: intents stream in, trades/book/journal/leases out")
        intents = data.tables["INTENTS_TABLE"]
        self.task_role.add_to_policy(iam.PolicyStatement(
            sid="ReadIntents", actions=READ_ACTIONS, resources=[intents.attr_arn]))
        self.task_role.add_to_policy(iam.PolicyStatement(
            sid="ConsumeIntentsStream", actions=STREAM_ACTIONS, resources=[intents.attr_stream_arn]))
        self.task_role.add_to_policy(iam.PolicyStatement(
            sid="ListStreams", actions=["dynamodb:ListStreams"], resources=["*"]))
        self.task_role.add_to_policy(iam.PolicyStatement(
            sid="MatcherTables", actions=READ_ACTIONS + WRITE_ACTIONS,
            resources=[data.tables[t].attr_arn for t in MATCHER_WRITES]))
        self.task_role.add_to_policy(iam.PolicyStatement(
            sid="Metrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}}))
        self.task_role.add_to_policy(iam.PolicyStatement(
            sid="Traces", actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                   "xray:GetSamplingRules", "xray:GetSamplingTargets"], resources=["*"]))

        environment = {
            "EXCHANGE_STAGE": cfg.stage,
            "AWS_DEFAULT_REGION": self.region,
            **data.table_names,
            "DB_CLUSTER_ARN": data.cluster.cluster_arn,
            "DB_SECRET_ARN": data.db_secret.secret_arn,
            "DB_NAME": DB_NAME,
            # libpq fills host/user/password from PGHOST/PGUSER/PGPASSWORD (below):
            # no password is ever composed into a URL or an environment file.
            "DATABASE_URL": f"postgresql:///{DB_NAME}?sslmode=require",
            "PGHOST": data.cluster.cluster_endpoint.hostname,
            "PGPORT": str(DB_PORT),
            "REDIS_HOST": data.redis.attr_primary_end_point_address,
            "REDIS_PORT": data.redis.attr_primary_end_point_port,
            "REDIS_KEY_PREFIX": "ex:",
            "BACKUP_BUCKET": data.backup_bucket.bucket_name,
            "POWERTOOLS_SERVICE_NAME": "matcher",
            "POWERTOOLS_METRICS_NAMESPACE": METRIC_NAMESPACE,
            "MATCHER_HEALTH_PORT": str(MATCHER_HEALTH_PORT),
        }
        # Secrets by ARN so the grants land on this stack's execution roles (the data
        # stack's key policy already lets the account's IAM policies use its key).
        db_secret = sm.Secret.from_secret_complete_arn(self, "DbSecret", data.db_secret.secret_arn)
        redis_secret = sm.Secret.from_secret_complete_arn(self, "RedisSecret", data.redis_secret.secret_arn)
        secrets = {
            "PGUSER": ecs.Secret.from_secrets_manager(db_secret, "username"),
            "PGPASSWORD": ecs.Secret.from_secrets_manager(db_secret, "password"),
            "REDIS_AUTH_TOKEN": ecs.Secret.from_secrets_manager(redis_secret, "token"),
        }
        decrypt_secrets = iam.PolicyStatement(
            sid="DecryptSecrets", actions=["kms:Decrypt"], resources=[data.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com"}})

        # ------------------------------------------------------- matcher service
        self.task_def = ecs.FargateTaskDefinition(
            self, "MatcherTask", family=cfg.name("matcher"), cpu=cfg.matcher_cpu,
            memory_limit_mib=cfg.matcher_memory_mib, task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX))
        container = self.task_def.add_container(
            "matcher", image=image, environment=environment, secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="matcher", log_group=self.log_group),
            port_mappings=[ecs.PortMapping(container_port=MATCHER_HEALTH_PORT)],
            stop_timeout=Duration.seconds(60))
        self.task_def.add_to_execution_role_policy(decrypt_secrets)
        container.add_ulimits(ecs.Ulimit(name=ecs.UlimitName.NOFILE, soft_limit=65536, hard_limit=65536))

        self.service = ecs.FargateService(
            self, "MatcherService", cluster=self.cluster, task_definition=self.task_def,
            service_name=cfg.name("matcher"), desired_count=cfg.matcher_desired,
            vpc_subnets=network.task_subnets, security_groups=[network.matcher_sg], assign_public_ip=False,
            capacity_provider_strategies=[ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100, max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(60),
            enable_execute_command=False)
        scaling = self.service.auto_scale_task_count(min_capacity=cfg.matcher_desired, max_capacity=cfg.matcher_max)
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60,
                                         scale_in_cooldown=Duration.minutes(5), scale_out_cooldown=Duration.minutes(1))
        scaling.scale_on_memory_utilization("Memory", target_utilization_percent=70,
                                            scale_in_cooldown=Duration.minutes(5),
                                            scale_out_cooldown=Duration.minutes(1))

        # ------------------------------------------------------------------ ALB
        self.alb = elbv2.ApplicationLoadBalancer(
            self, "AdminAlb", vpc=vpc, internet_facing=False, vpc_subnets=network.task_subnets,
            security_group=network.alb_sg, load_balancer_name=cfg.name("matcher-admin")[:32],
            drop_invalid_header_fields=True, deletion_protection=cfg.is_prod)
        self.alb.log_access_logs(data.access_logs, prefix="alb/matcher")
        listener = self.alb.add_listener("Http", port=80, open=False)
        self.target_group = listener.add_targets(
            "Matcher", port=MATCHER_HEALTH_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service.load_balancer_target(container_name="matcher",
                                                       container_port=MATCHER_HEALTH_PORT)],
            health_check=elbv2.HealthCheck(path=MATCHER_HEALTH_PATH, healthy_http_codes="200",
                                           interval=Duration.seconds(15), healthy_threshold_count=2),
            deregistration_delay=Duration.seconds(30))

        # ------------------------------------------------ Fargate Spot jobs
        self.jobs_task_def = ecs.FargateTaskDefinition(
            self, "JobsTask", family=cfg.name("jobs"), cpu=cfg.jobs_cpu, memory_limit_mib=cfg.jobs_memory_mib,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX))
        self.jobs_task_def.add_to_execution_role_policy(decrypt_secrets)
        self.jobs_task_def.add_container(
            "jobs", image=image, environment={**environment, "POWERTOOLS_SERVICE_NAME": "jobs"}, secrets=secrets,
            command=["python", "-m", "matcher.jobs"],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="jobs", log_group=self.log_group))
        self.jobs_service = ecs.FargateService(
            self, "JobsService", cluster=self.cluster, task_definition=self.jobs_task_def,
            service_name=cfg.name("jobs"), desired_count=1 if cfg.jobs_enabled else 0,
            vpc_subnets=network.task_subnets, security_groups=[network.jobs_sg], assign_public_ip=False,
            capacity_provider_strategies=[ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=0, max_healthy_percent=100)

        CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        CfnOutput(self, "MatcherServiceName", value=self.service.service_name)
        CfnOutput(self, "MatcherAdminUrl", value=f"http://{self.alb.load_balancer_dns_name}")
        CfnOutput(self, "JobsTaskDefinitionArn", value=self.jobs_task_def.task_definition_arn,
                  description="run ad hoc on Spot: aws ecs run-task --capacity-provider-strategy "
                              "capacityProvider=FARGATE_SPOT ...")

        acknowledge_all(self, {
            "AwsSolutions-ECS2": "Only non-secret configuration (table names, ARNs, endpoints) is passed as "
                                 "environment variables; credentials come from Secrets Manager as container secrets.",
        })
        acknowledge(self.task_role, "AwsSolutions-IAM5[Resource::*]",
                    "dynamodb:ListStreams, xray:Put*/GetSampling* and cloudwatch:PutMetricData have no "
                    "resource-level permissions; PutMetricData is limited to the Exchange namespace by condition.")
        for td in (self.task_def, self.jobs_task_def):
            acknowledge(td.execution_role, "AwsSolutions-IAM5[Resource::*]",
                        "ecr:GetAuthorizationToken has no resource-level permissions (pulling the image itself is "
                        "scoped to the asset repository).")
        acknowledge(self.alb, "AwsSolutions-EC23",
                    "Internal ALB: its security group admits port 80 from the VPC CIDR only.")
