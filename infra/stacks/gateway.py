"""The stream gateway (``python -m gateway``) in the matcher stack: a Fargate service
behind the stack's internal ALB, which CloudFront reaches through a VPC origin
(infra/stacks/edge.py routes ``/ws``, ``/ws/*``, ``/stream``, ``/ws-api/*`` to it).

* Same image and cluster as the matcher; the container's command, environment and
  task role come from the unit's declaration (``gateway/config.py`` GATEWAY) through
  ``infra/units.py``, like every other unit.
* The ALB routes the gateway's paths (a listener rule; everything else stays on the
  matcher's admin endpoint).  A WebSocket is an HTTP/1.1 upgrade the ALB passes
  through; its idle timeout (60 s) is three of the gateway's 20 s pings, so a quiet
  connection is never cut.  No stickiness: the gateway is stateless and a client that
  loses its task reconnects to any other and re-syncs as Binance documents.
* Health check ``/healthz`` (503 until the Redis subscription is live).
* Target tracking on the tasks' average open connections (the EMF metric the gateway
  emits with ``--metrics-every``; infra/config.py METRICS["gateway_connections"]),
  between ``gateway_desired`` and ``gateway_max`` tasks; CPU as a second signal.
  Scale-in is slow: a removed task's clients all reconnect at once.
"""
from __future__ import annotations

from collections.abc import Callable

from aws_cdk import (
    Duration,
    aws_cloudwatch as cw,
    aws_ecs as ecs,
    aws_elasticloadbalancingv2 as elbv2,
    aws_logs as logs,
)
from constructs import Construct

from gateway.config import COMMAND, GATEWAY, HEALTH_PATH, PATHS, PING_INTERVAL_S, PORT
from infra.config import METRIC_NAMESPACE, METRICS, StageConfig

# The ALB closes a connection idle this long; the gateway pings every PING_INTERVAL_S.
IDLE_TIMEOUT_S = 3 * PING_INTERVAL_S
# ECS waits this long after SIGTERM (the gateway tells every client serverShutdown).
STOP_TIMEOUT_S = 30


def connections_metric(stat: str = "Average", period: Duration | None = None) -> cw.Metric:
    """The open connections per task, as the gateway emits them (gateway/__main__.py)."""
    return cw.Metric(namespace=METRIC_NAMESPACE, metric_name=METRICS["gateway_connections"],
                     dimensions_map={"service": GATEWAY.name}, statistic=stat,
                     period=period or Duration.minutes(1))


class GatewayService(Construct):
    def __init__(self, scope: Construct, cid: str, *, cfg: StageConfig, cluster: ecs.ICluster,
                 image: ecs.ContainerImage, environment: dict[str, str], listener: elbv2.ApplicationListener,
                 task: Callable[..., ecs.FargateTaskDefinition], log_group: logs.ILogGroup,
                 network) -> None:
        super().__init__(scope, cid)
        self.task_def = task(GATEWAY, "GatewayTask", cfg.gateway_cpu, cfg.gateway_memory_mib)
        self.task_role = self.task_def.task_role
        container = self.task_def.add_container(
            "gateway", image=image, environment=environment, command=list(COMMAND),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="gateway", log_group=log_group),
            port_mappings=[ecs.PortMapping(container_port=PORT)],
            # the image's HEALTHCHECK is the matcher's; this container's is the gateway's own
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen("
                                                f"'http://127.0.0.1:{PORT}{HEALTH_PATH}', timeout=2)"],
                interval=Duration.seconds(15), timeout=Duration.seconds(3), retries=3,
                start_period=Duration.seconds(20)),
            stop_timeout=Duration.seconds(STOP_TIMEOUT_S))
        # every connection is a file descriptor
        container.add_ulimits(ecs.Ulimit(name=ecs.UlimitName.NOFILE, soft_limit=65536, hard_limit=65536))

        self.service = ecs.FargateService(
            scope, "GatewayService", cluster=cluster, task_definition=self.task_def,
            service_name=cfg.name("gateway"), desired_count=cfg.gateway_desired,
            vpc_subnets=network.task_subnets, security_groups=[network.gateway_sg], assign_public_ip=False,
            capacity_provider_strategies=[ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100, max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(30), enable_execute_command=False)

        self.target_group = listener.add_targets(
            "Gateway", priority=10, conditions=[elbv2.ListenerCondition.path_patterns(list(PATHS))],
            port=PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service.load_balancer_target(container_name="gateway", container_port=PORT)],
            health_check=elbv2.HealthCheck(path=HEALTH_PATH, healthy_http_codes="200",
                                           interval=Duration.seconds(10), healthy_threshold_count=2,
                                           unhealthy_threshold_count=3),
            deregistration_delay=Duration.seconds(STOP_TIMEOUT_S))
        self.target_group.set_attribute("stickiness.enabled", "false")

        scaling = self.service.auto_scale_task_count(min_capacity=cfg.gateway_desired,
                                                     max_capacity=cfg.gateway_max)
        scaling.scale_to_track_custom_metric(
            "Connections", metric=connections_metric(), target_value=cfg.gateway_connections_per_task,
            scale_in_cooldown=Duration.minutes(10), scale_out_cooldown=Duration.minutes(1))
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60,
                                         scale_in_cooldown=Duration.minutes(10),
                                         scale_out_cooldown=Duration.minutes(1))
