"""6. Ops: dashboard, alarms to an SNS topic, X-Ray sampling, AWS Backup, S3 exports.

* Dashboard: API latency/errors (API Gateway), matcher lag and task health, intents
  and trades per second (the code's Powertools metrics, infra/config.py METRICS),
  the stream gateway's connections, tasks and errors, Aurora, Redis and DynamoDB health.
* Alarms publish to one encrypted SNS topic (e-mail subscription if ``alarm_email``).
* X-Ray: one sampling rule for the stage (everything in dev, 5 % + 1/s in prod).
* AWS Backup: an encrypted vault and a plan (daily, plus monthly in prod) selecting the
  Aurora cluster and every DynamoDB table.  The S3 export of both (a daily Lambda) sits
  beside the bucket, keys and tables it touches in the data stack
  (infra/stacks/backup_export.py), so its policies name them without cross-stack imports.
"""
from __future__ import annotations

from aws_cdk import (
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    aws_backup as backup,
    aws_cloudwatch as cw,
    aws_cloudwatch_actions as cw_actions,
    aws_elasticloadbalancingv2 as elbv2,
    aws_events as events,
    aws_iam as iam,
    aws_kms as kms,
    aws_logs as logs,
    aws_sns as sns,
    aws_sns_subscriptions as subs,
    aws_xray as xray,
)
from constructs import Construct

from infra.config import METRIC_NAMESPACE, METRICS, StageConfig
from infra.nag import acknowledge
from infra.stacks.common import retention
from infra.stacks.data import DataStack
from infra.stacks.gateway import connections_metric
from infra.stacks.matcher import MatcherStack
from infra.units import lambda_function_names

API_STAGE = "api"


class OpsStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, cfg: StageConfig, data: DataStack, matcher: MatcherStack,
                 api_name: str = "exchange", **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.cfg = cfg
        period = Duration.minutes(1)

        # ------------------------------------------------------------ alarms topic
        topic_key = kms.Key(self, "AlarmsKey", enable_key_rotation=True, description=f"{cfg.name('alarms')} topic")
        topic_key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
        self.topic = sns.Topic(self, "Alarms", topic_name=cfg.name("alarms"), master_key=topic_key, enforce_ssl=True)
        if cfg.alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(cfg.alarm_email))
        action = cw_actions.SnsAction(self.topic)

        # ---------------------------------------------------------------- metrics
        api_dims = {"ApiName": api_name, "Stage": API_STAGE}

        def api(name: str, stat: str) -> cw.Metric:
            return cw.Metric(namespace="AWS/ApiGateway", metric_name=name, dimensions_map=api_dims,
                             statistic=stat, period=period)

        def app_metric(key: str, stat: str, service: str) -> cw.Metric:
            return cw.Metric(namespace=METRIC_NAMESPACE, metric_name=METRICS[key], statistic=stat, period=period,
                             dimensions_map={"service": service})

        cluster_id = data.cluster.cluster_identifier

        def aurora(name: str, stat: str = "Average") -> cw.Metric:
            return cw.Metric(namespace="AWS/RDS", metric_name=name, statistic=stat, period=period,
                             dimensions_map={"DBClusterIdentifier": cluster_id})

        redis_nodes = [f"{cfg.name('redis')}-{i:03d}" for i in range(1, cfg.redis_replicas + 2)]

        def redis(name: str, node: str, stat: str = "Average") -> cw.Metric:
            return cw.Metric(namespace="AWS/ElastiCache", metric_name=name, statistic=stat, period=period,
                             dimensions_map={"CacheClusterId": node})

        def ddb(name: str, table: str, stat: str = "Sum", **dims) -> cw.Metric:
            return cw.Metric(namespace="AWS/DynamoDB", metric_name=name, statistic=stat, period=period,
                             dimensions_map={"TableName": table, **dims})

        def per_second(var: str, metric: cw.Metric, label: str) -> cw.MathExpression:
            return cw.MathExpression(expression=f"{var} / PERIOD({var})", using_metrics={var: metric},
                                     label=label, period=period)

        intents_ps = per_second("intents", app_metric("intents", "Sum", "exchange-api"), "intents/s")
        trades_ps = per_second("trades", app_metric("trades", "Sum", "matcher"), "trades/s")
        lag = app_metric("matcher_lag", "p99", "matcher")
        ecs_dims = {"ClusterName": matcher.cluster.cluster_name, "ServiceName": matcher.service.service_name}
        running = cw.Metric(namespace="ECS/ContainerInsights", metric_name="RunningTaskCount",
                            dimensions_map=ecs_dims, statistic="Minimum", period=period)
        gw = matcher.gateway
        gw_running = cw.Metric(namespace="ECS/ContainerInsights", metric_name="RunningTaskCount",
                               dimensions_map={**ecs_dims, "ServiceName": gw.service.service_name},
                               statistic="Minimum", period=period)
        gw_tg = gw.target_group.metrics
        gw_5xx = cw.MathExpression(expression="target + elb", label="gateway 5xx", period=period, using_metrics={
            "target": gw_tg.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=period,
                                             statistic="Sum"),
            "elb": gw_tg.custom("HTTPCode_ELB_5XX_Count", period=period, statistic="Sum")})
        # all tasks' connections against what the service may hold at its ceiling
        gw_connections = connections_metric("Sum", period)
        gw_ceiling = cfg.gateway_max * cfg.gateway_connections_per_task

        # ----------------------------------------------------------------- alarms
        def alarm(cid: str, metric: cw.IMetric, threshold: float, desc: str, periods: int = 5,
                  cmp=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, missing=cw.TreatMissingData.NOT_BREACHING):
            a = cw.Alarm(self, cid, alarm_name=f"{cfg.name(cid)}", metric=metric, threshold=threshold,
                         evaluation_periods=periods, datapoints_to_alarm=max(1, periods - 2),
                         comparison_operator=cmp, treat_missing_data=missing, alarm_description=desc)
            a.add_alarm_action(action)
            a.add_ok_action(action)
            return a

        self.alarms = [
            alarm("api-5xx", api("5XXError", "Sum"), 5, "API 5xx responses (never expected: errors are Binance codes)"),
            alarm("api-latency-p99", api("Latency", "p99"), 1000, "API p99 latency above 1 s"),
            alarm("matcher-lag-p99", lag, 2000, "intent -> sequenced p99 above 2 s"),
            alarm("matcher-tasks", running, cfg.matcher_desired, "fewer matcher tasks than desired",
                  periods=3, cmp=cw.ComparisonOperator.LESS_THAN_THRESHOLD, missing=cw.TreatMissingData.BREACHING),
            alarm("matcher-unhealthy", matcher.target_group.metrics.unhealthy_host_count(period=period), 0,
                  "matcher health endpoint failing"),
            # one datapoint is enough: the symbol is stopped until an operator acts (docs/deploy.md)
            alarm("matcher-book-audit", app_metric("book_audit_failed", "Sum", "matcher"), 0,
                  "a symbol's book disagrees with Aurora at takeover: the symbol is stopped (run audit-book)",
                  periods=1),
            alarm("gateway-5xx", gw_5xx, 5, "stream gateway 5xx (handshakes refused by a task or by the ALB)"),
            alarm("gateway-unhealthy", gw_tg.unhealthy_host_count(period=period), 0,
                  "stream gateway /healthz failing (its Redis subscription is down)"),
            alarm("gateway-tasks", gw_running, cfg.gateway_desired, "fewer stream gateway tasks than desired",
                  periods=3, cmp=cw.ComparisonOperator.LESS_THAN_THRESHOLD, missing=cw.TreatMissingData.BREACHING),
            alarm("gateway-connections", gw_connections, int(gw_ceiling * 0.8),
                  f"stream connections above 80 % of what gateway_max={cfg.gateway_max} tasks hold "
                  "(raise gateway_max)", periods=3),
            alarm("aurora-acu", aurora("ACUUtilization"), 90, "Aurora near its max ACU (raise aurora_max_acu)"),
            alarm("aurora-cpu", aurora("CPUUtilization"), 85, "Aurora CPU high"),
            alarm("redis-cpu", redis("EngineCPUUtilization", redis_nodes[0]), 80, "Redis engine CPU high"),
            alarm("redis-memory", redis("DatabaseMemoryUsagePercentage", redis_nodes[0]), 80, "Redis memory high"),
        ]
        for group, service in enumerate(matcher.services[1:], start=1):  # each further matcher group
            self.alarms.append(alarm(
                f"matcher-g{group}-tasks", cw.Metric(
                    namespace="ECS/ContainerInsights", metric_name="RunningTaskCount", statistic="Minimum",
                    period=period, dimensions_map={**ecs_dims, "ServiceName": service.service_name}),
                cfg.matcher_desired, f"fewer matcher group {group} tasks than desired (its symbols stop with none)",
                periods=3, cmp=cw.ComparisonOperator.LESS_THAN_THRESHOLD, missing=cw.TreatMissingData.BREACHING))
        for name in data.table_names.values():
            suffix = name.rsplit("-", 1)[-1]
            self.alarms.append(alarm(f"ddb-{suffix}-errors", ddb("SystemErrors", name, Operation="PutItem"), 0,
                                     f"DynamoDB system errors on {name}"))
        for group, name in enumerate(data.intents_table_names):  # each matcher group's intents table
            label = "intents" if group == 0 else f"intents-g{group}"
            self.alarms.append(alarm(f"ddb-{label}-throttles", ddb("ThrottledRequests", name, Operation="PutItem"), 0,
                                     f"intent writes to {name} throttled (on-demand limits: pre-warm or request "
                                     "quota)"))

        # -------------------------------------------------------------- dashboard
        dash = cw.Dashboard(self, "Dashboard", dashboard_name=cfg.name("overview"),
                            default_interval=Duration.hours(3))
        w, h = 8, 6
        dash.add_widgets(
            cw.GraphWidget(title="API latency (ms)", left=[api("Latency", "p50"), api("Latency", "p99")],
                           width=w, height=h),
            cw.GraphWidget(title="API errors", left=[api("4XXError", "Sum"), api("5XXError", "Sum")],
                           right=[api("Count", "Sum")], width=w, height=h),
            cw.GraphWidget(title="Intents and trades per second", left=[intents_ps, trades_ps], width=w, height=h),
        )
        dash.add_widgets(
            cw.GraphWidget(title="Matcher lag (ms)", left=[lag, app_metric("settle_lag", "p99", "matcher")],
                           width=w, height=h),
            cw.GraphWidget(title="Matcher tasks / CPU / memory",
                           left=[running], right=[matcher.service.metric_cpu_utilization(period=period),
                                                  matcher.service.metric_memory_utilization(period=period)],
                           width=w, height=h),
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=w, height=h),
        )
        dash.add_widgets(
            cw.GraphWidget(title="Stream connections", left=[gw_connections, connections_metric("Maximum", period)],
                           right=[gw_running], width=w, height=h),
            cw.GraphWidget(title="Stream gateway CPU / memory",
                           left=[gw.service.metric_cpu_utilization(period=period),
                                 gw.service.metric_memory_utilization(period=period)], width=w, height=h),
            cw.GraphWidget(title="Stream gateway handshakes / errors",
                           left=[gw_tg.request_count(period=period, statistic="Sum")], right=[gw_5xx],
                           width=w, height=h),
        )
        dash.add_widgets(
            cw.GraphWidget(title="Aurora", left=[aurora("ServerlessDatabaseCapacity"), aurora("ACUUtilization")],
                           right=[aurora("DatabaseConnections"), aurora("CPUUtilization")], width=w, height=h),
            cw.GraphWidget(title="Redis", left=[redis("EngineCPUUtilization", n) for n in redis_nodes]
                           + [redis("DatabaseMemoryUsagePercentage", redis_nodes[0])],
                           right=[redis("ReplicationLag", n) for n in redis_nodes[1:]]
                           + [redis("CurrConnections", redis_nodes[0])], width=w, height=h),
            cw.GraphWidget(title="DynamoDB",
                           left=[ddb("ConsumedWriteCapacityUnits", n) for n in data.table_names.values()],
                           right=[ddb("ThrottledRequests", n, Operation="PutItem") for n in data.table_names.values()],
                           width=w, height=h),
        )

        # ------------------------------------------------- Lambda log retention
        # Chalice's functions (names: infra/units.py, the same the IAM log statements
        # use); their log groups are created here with the stage's retention (see
        # infra/chalice_config.py for why not by Chalice).
        for unit, fn_name in lambda_function_names(cfg.stage, api_name).items():
            logs.LogGroup(self, f"{unit.capitalize()}FunctionLogs", log_group_name=f"/aws/lambda/{fn_name}",
                          retention=retention(cfg.log_retention_days), removal_policy=RemovalPolicy.RETAIN)

        # ------------------------------------------------------------------ X-Ray
        xray.CfnSamplingRule(self, "Sampling", sampling_rule=xray.CfnSamplingRule.SamplingRuleProperty(
            rule_name=cfg.name("api")[:32], priority=100, version=1,
            fixed_rate=0.05 if cfg.is_prod else 1.0, reservoir_size=1 if cfg.is_prod else 10,
            service_name="*", service_type="*", host="*", http_method="*", url_path="*", resource_arn="*"))

        # ---------------------------------------------------------- AWS Backup
        self.vault = backup.BackupVault(self, "Vault", backup_vault_name=cfg.name("vault"),
                                        encryption_key=data.key, removal_policy=RemovalPolicy.RETAIN)
        rules = [backup.BackupPlanRule(
            rule_name="daily", schedule_expression=events.Schedule.cron(hour="4", minute="0"),
            delete_after=Duration.days(cfg.backup_daily_retention_days),
            enable_continuous_backup=False, start_window=Duration.hours(1), completion_window=Duration.hours(4))]
        if cfg.backup_monthly_retention_days:
            rules.append(backup.BackupPlanRule(
                rule_name="monthly", schedule_expression=events.Schedule.cron(day="1", hour="5", minute="0"),
                delete_after=Duration.days(cfg.backup_monthly_retention_days)))
        self.plan = backup.BackupPlan(self, "Plan", backup_plan_name=cfg.name("backup"), backup_vault=self.vault,
                                      backup_plan_rules=rules)
        self.plan.add_selection("Data", resources=[
            backup.BackupResource.from_arn(data.cluster.cluster_arn),
            *(backup.BackupResource.from_arn(t.attr_arn) for t in data.all_tables),
        ])

        CfnOutput(self, "AlarmTopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=cfg.name("overview"))
        CfnOutput(self, "BackupVaultName", value=self.vault.backup_vault_name)

        acknowledge(self.plan, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                               "AWSBackupServiceRolePolicyForBackup]",
                    "AWS Backup's own service-role policy is the documented way to let Backup snapshot Aurora and "
                    "DynamoDB; it is scoped by the plan's resource selection.")
