"""The daily S3 export of Aurora and DynamoDB (infra/lambdas/backup_export.py).

Lives in the data stack beside the bucket, key, tables and cluster it touches, so
every policy names them directly (no cross-stack imports) and the few wildcards left
- object keys under one prefix, the account's automated snapshots - are acknowledged
one finding at a time.
"""
from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    ArnFormat,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
    Token,
    aws_events as events,
    aws_events_targets as targets,
    aws_iam as iam,
    aws_lambda as lambda_,
    aws_logs as logs,
)
from constructs import Construct

from infra.nag import acknowledge
from infra.stacks.common import retention

LAMBDAS_DIR = Path(__file__).resolve().parents[1] / "lambdas"


def declared_settings() -> tuple[str, ...]:
    """``SETTINGS`` of infra/lambdas/backup_export.py (read without importing boto3 here)."""
    import ast

    tree = ast.parse((LAMBDAS_DIR / "backup_export.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SETTINGS":
            return tuple(ast.literal_eval(node.value))
    raise LookupError("infra/lambdas/backup_export.py declares no SETTINGS")


def declared_environment(providers: dict[str, str]) -> dict[str, str]:
    """The function's environment: one provided value per declared setting, nothing else."""
    settings = declared_settings()
    missing = [s for s in settings if s not in providers]
    if missing:
        raise LookupError(f"backup export reads {missing}: nothing provides them")
    return {s: providers[s] for s in settings}


class BackupExport(Construct):
    def __init__(self, scope: Construct, cid: str, *, stage_name: str, log_days: int, bucket, key, tables,
                 cluster) -> None:
        super().__init__(scope, cid)
        stack = Stack.of(self)
        bucket_lid = stack.get_logical_id(bucket.node.default_child)
        key_arn = key.key_arn
        kms_actions = ["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"]

        export_role = iam.Role(self, "RdsExportRole", assumed_by=iam.ServicePrincipal("export.rds.amazonaws.com"),
                               description="RDS snapshot export writes Parquet to the backup bucket")
        export_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            resources=[bucket.arn_for_objects("aurora/*")]))
        export_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[bucket.bucket_arn]))
        export_role.add_to_policy(iam.PolicyStatement(actions=kms_actions, resources=[key_arn]))

        fn_logs = logs.LogGroup(self, "Logs", retention=retention(log_days), removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(self, "FnRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="daily export of DynamoDB and Aurora to the backup bucket")
        role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[fn_logs.log_group_arn]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["dynamodb:ExportTableToPointInTime"], resources=[t.attr_arn for t in tables]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl"],
            resources=[bucket.arn_for_objects("dynamodb/*")]))
        snapshots = stack.format_arn(service="rds", resource="cluster-snapshot", resource_name="rds:*",
                                     arn_format=ArnFormat.COLON_RESOURCE_NAME)
        role.add_to_policy(iam.PolicyStatement(actions=["rds:DescribeDBClusterSnapshots"],
                                               resources=[cluster.cluster_arn, snapshots]))
        role.add_to_policy(iam.PolicyStatement(actions=["rds:StartExportTask"], resources=[snapshots]))
        role.add_to_policy(iam.PolicyStatement(actions=["iam:PassRole"], resources=[export_role.role_arn]))
        role.add_to_policy(iam.PolicyStatement(actions=kms_actions, resources=[key_arn]))

        self.function = lambda_.Function(
            self, "Fn", function_name=f"exchange-{stage_name}-backup-export",
            runtime=lambda_.Runtime.PYTHON_3_14, architecture=lambda_.Architecture.ARM_64,
            handler="backup_export.handler",
            code=lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=Duration.minutes(2), memory_size=256, role=role, log_group=fn_logs,
            environment=declared_environment({
                "BACKUP_BUCKET": bucket.bucket_name,
                "KMS_KEY_ARN": key_arn,
                "TABLE_ARNS": Fn.join(",", [t.attr_arn for t in tables]),
                "DB_CLUSTER_ID": cluster.cluster_identifier,
                "EXPORT_ROLE_ARN": export_role.role_arn,
            }))
        events.Rule(self, "Daily", schedule=events.Schedule.cron(hour="6", minute="0"),
                    targets=[targets.LambdaFunction(self.function, retry_attempts=2)])

        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        snap_finding = f"arn:<AWS::Partition>:rds:{stack.region}:{account}:cluster-snapshot:rds:*"
        acknowledge(export_role, f"AwsSolutions-IAM5[Resource::<{bucket_lid}.Arn>/aurora/*]",
                    "The RDS export task writes many Parquet objects"
                    " under the aurora/ prefix of the one backup bucket.")
        acknowledge(role, f"AwsSolutions-IAM5[Resource::<{bucket_lid}.Arn>/dynamodb/*]",
                    "DynamoDB exports write many objects under the dynamodb/ prefix of the one backup bucket.")
        acknowledge(role, f"AwsSolutions-IAM5[Resource::{snap_finding}]",
                    "Automated Aurora snapshots get generated names (rds:<cluster>-<date>); the function finds the "
                    "newest and exports it, so it must name them by pattern.")
