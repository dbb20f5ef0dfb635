"""2. Data: Aurora PostgreSQL Serverless v2, the DynamoDB tables, ElastiCache Redis,
and the backup/export bucket.

* Aurora: writer + reader in different AZs, Data API on, credentials generated into
  Secrets Manager, storage encrypted, deletion protection, automated backups (PITR)
  for ``aurora_backup_days``.  Backtrack is an Aurora *MySQL* feature; PostgreSQL gets
  point-in-time restore from continuous backups plus the AWS Backup plan (ops stack).
* DynamoDB: every table of ``chalicelib.tables.table_specs()``, key schema, stream
  view and TTL attribute copied verbatim; on-demand, PITR, encrypted with the AWS
  managed key, deletion protection.  Only the tables the code defines with a stream
  (intents: the matcher's input) get one; there is one intents table per matcher
  group (``exchange-<stage>-intents`` for group 0, ``...-intents-g<n>``), from the
  same spec, so each group's stream has its group's readers only.
* Redis: a replication group of one primary + ``redis_replicas`` replicas across AZs,
  automatic failover, TLS in transit, encryption at rest, AUTH token generated into
  Secrets Manager (never in the repository).
"""
from __future__ import annotations

from aws_cdk import (
    CfnOutput,
    Duration,
    Fn,
    RemovalPolicy,
    SecretValue,
    Stack,
    Token,
    aws_dynamodb as ddb,
    aws_elasticache as elasticache,
    aws_kms as kms,
    aws_rds as rds,
    aws_s3 as s3,
    aws_secretsmanager as sm,
)
from constructs import Construct

from chalicelib.resources import BACKUP_LIFECYCLE_DAYS
from infra.config import StageConfig
from infra.nag import acknowledge, acknowledge_all
from infra.stacks.backup_export import BackupExport
from infra.stacks.common import env_output
from infra.stacks.network import DB_PORT, REDIS_PORT, NetworkStack
from infra.tables import stage_tables

DB_NAME = "exchange"
DB_USER = "exchange_admin"
AURORA_VERSION = rds.AuroraPostgresEngineVersion.VER_16_9


class DataStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, cfg: StageConfig, network: NetworkStack, **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.cfg = cfg
        vpc = network.vpc
        self.key = kms.Key(self, "DataKey", enable_key_rotation=True,
                           description=f"{cfg.name('data')}: Aurora storage, secrets, Redis at rest, backups")

        # ---------------------------------------------------------------- Aurora
        self.db_secret = rds.DatabaseSecret(self, "DbSecret", username=DB_USER,
                                            secret_name=f"{cfg.name('aurora')}/master", encryption_key=self.key)
        self.cluster = rds.DatabaseCluster(
            self, "Aurora",
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=AURORA_VERSION),
            cluster_identifier=cfg.name("aurora"),
            credentials=rds.Credentials.from_secret(self.db_secret),
            default_database_name=DB_NAME,
            writer=rds.ClusterInstance.serverless_v2("writer", enable_performance_insights=True,
                                                     auto_minor_version_upgrade=True),
            readers=[rds.ClusterInstance.serverless_v2("reader", scale_with_writer=cfg.is_prod,
                                                       enable_performance_insights=True,
                                                       auto_minor_version_upgrade=True)],
            serverless_v2_min_capacity=cfg.aurora_min_acu,
            serverless_v2_max_capacity=cfg.aurora_max_acu,
            enable_data_api=True,
            iam_authentication=True,
            storage_encrypted=True,
            storage_encryption_key=self.key,
            deletion_protection=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
            backup=rds.BackupProps(retention=Duration.days(cfg.aurora_backup_days), preferred_window="03:00-04:00"),
            cloudwatch_logs_exports=["postgresql"],
            copy_tags_to_snapshot=True,
            port=DB_PORT,
            vpc=vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[network.db_sg],
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "500"},
        )

        # --------------------------------------------------------------- DynamoDB
        self.tables: dict[str, ddb.CfnTable] = {}        # by env var, e.g. INTENTS_TABLE (group 0's)
        self.table_names: dict[str, str] = {}
        self.intents_tables: list[ddb.CfnTable] = []     # by matcher group: one intents table + stream each
        self.intents_table_names: list[str] = []
        self.all_tables: list[ddb.CfnTable] = []
        for t in stage_tables():
            spec = t.spec
            name = cfg.name(t.suffix)
            table = ddb.CfnTable(
                self, f"{spec.logical_name}Table",
                table_name=name,
                key_schema=[ddb.CfnTable.KeySchemaProperty(attribute_name=k["AttributeName"], key_type=k["KeyType"])
                            for k in spec.key_schema],
                attribute_definitions=[ddb.CfnTable.AttributeDefinitionProperty(
                    attribute_name=a["AttributeName"], attribute_type=a["AttributeType"])
                    for a in spec.attribute_definitions],
                billing_mode="PAY_PER_REQUEST",
                stream_specification=(ddb.CfnTable.StreamSpecificationProperty(stream_view_type=spec.stream_view_type)
                                      if spec.stream_view_type else None),
                time_to_live_specification=(ddb.CfnTable.TimeToLiveSpecificationProperty(
                    attribute_name=spec.ttl_attribute, enabled=True) if spec.ttl_attribute else None),
                point_in_time_recovery_specification=ddb.CfnTable.PointInTimeRecoverySpecificationProperty(
                    point_in_time_recovery_enabled=True),
                sse_specification=ddb.CfnTable.SSESpecificationProperty(sse_enabled=True, sse_type="KMS"),
                deletion_protection_enabled=True,
            )
            table.apply_removal_policy(RemovalPolicy.RETAIN)
            self.all_tables.append(table)
            if t.group is not None:
                self.intents_tables.append(table)
                self.intents_table_names.append(name)
            if t.group:     # group n's name is derived from INTENTS_TABLE's (chalicelib/routing.py)
                continue
            self.tables[t.env_var] = table
            self.table_names[t.env_var] = name
            env_output(self, t.env_var, table.ref)

        # ------------------------------------------------------------------ Redis
        # A plain string: chalicelib/clients.py passes the whole SecretString as the
        # Redis password (REDIS_AUTH_SECRET_ARN), in the Lambdas and the tasks alike.
        self.redis_secret = sm.Secret(
            self, "RedisAuth", secret_name=f"{cfg.name('redis')}/auth", encryption_key=self.key,
            description="ElastiCache AUTH token (read by ARN: REDIS_AUTH_SECRET_ARN)",
            generate_secret_string=sm.SecretStringGenerator(exclude_punctuation=True, password_length=64),
        )
        # The value CloudFront sends to the API in X-Origin-Verify (infra/stacks/edge.py);
        # the API accepts its AWSCURRENT and AWSPREVIOUS versions, so it rotates without
        # an outage (docs/deploy.md, "Rotate the origin-verify secret").
        self.origin_verify_secret = sm.Secret(
            self, "OriginVerify", secret_name=f"{cfg.name('api')}/origin-verify", encryption_key=self.key,
            description="X-Origin-Verify value CloudFront adds to /api/* origin requests",
            generate_secret_string=sm.SecretStringGenerator(exclude_punctuation=True, password_length=48))
        # Master key the API secrets are derived from (API_KEY_SECRET_ARN; read by ARN).
        self.api_key_secret = sm.Secret(
            self, "ApiKeySecret", secret_name=f"{cfg.name('api')}/api-keys", encryption_key=self.key,
            description="server-side key material of the API-key + HMAC scheme",
            # a plain string: chalicelib/apikeys.py uses the whole SecretString as the key
            generate_secret_string=sm.SecretStringGenerator(exclude_punctuation=True, password_length=64))
        subnet_group = elasticache.CfnSubnetGroup(
            self, "RedisSubnets", description=f"{cfg.name('redis')} data subnets",
            cache_subnet_group_name=cfg.name("redis"),
            subnet_ids=vpc.select_subnets(subnet_group_name="data").subnet_ids)
        self.redis = elasticache.CfnReplicationGroup(
            self, "Redis",
            replication_group_id=cfg.name("redis"),
            replication_group_description=f"{cfg.name('redis')}: cache, rate limits, market data pub/sub",
            engine="redis",
            engine_version="7.1",
            cache_node_type=cfg.redis_node_type,
            num_node_groups=1,
            replicas_per_node_group=cfg.redis_replicas,
            multi_az_enabled=True,
            automatic_failover_enabled=True,
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            kms_key_id=self.key.key_id,
            auth_token=SecretValue.secrets_manager(self.redis_secret.secret_arn).unsafe_unwrap(),
            port=REDIS_PORT,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[network.redis_sg.security_group_id],
            snapshot_retention_limit=7 if cfg.is_prod else 1,
            auto_minor_version_upgrade=True,
        )
        self.redis.apply_removal_policy(RemovalPolicy.SNAPSHOT if cfg.is_prod else RemovalPolicy.DESTROY)

        # ------------------------------------------------------- backup bucket
        self.access_logs = s3.Bucket(
            self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=RemovalPolicy.RETAIN,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(cfg.log_retention_days))])
        self.backup_bucket = s3.Bucket(
            self, "Backups", bucket_name=None,
            encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            enforce_ssl=True, versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=RemovalPolicy.RETAIN,
            server_access_logs_bucket=self.access_logs, server_access_logs_prefix="backups/",
            lifecycle_rules=[s3.LifecycleRule(
                id="exports",
                transitions=[s3.Transition(storage_class=s3.StorageClass.GLACIER,
                                           transition_after=Duration.days(BACKUP_LIFECYCLE_DAYS["to_glacier"]))],
                expiration=Duration.days(BACKUP_LIFECYCLE_DAYS["expire"]),
                noncurrent_version_expiration=Duration.days(30),
            )],
        )

        self.export = BackupExport(self, "BackupExport", stage_name=cfg.stage, log_days=cfg.log_retention_days,
                                   bucket=self.backup_bucket, key=self.key, tables=list(self.all_tables),
                                   cluster=self.cluster)

        # ------------------------------------------------------------- outputs
        # Every setting this stack provides to a unit (infra/units.py), by name; the
        # Chalice config writer reads them back from the outputs.
        self.providers: dict[str, str] = {var: table.ref for var, table in self.tables.items()}
        self.providers.update({
            "DB_CLUSTER_ARN": self.cluster.cluster_arn,
            "DB_SECRET_ARN": self.db_secret.secret_arn,
            "DB_NAME": DB_NAME,
            "BACKUP_BUCKET": self.backup_bucket.bucket_name,
            "API_KEY_SECRET_ARN": self.api_key_secret.secret_arn,
            "ORIGIN_VERIFY_SECRET_ARN": self.origin_verify_secret.secret_arn,
            "REDIS_URL": Fn.join("", ["rediss://", self.redis.attr_primary_end_point_address, ":",
                                      self.redis.attr_primary_end_point_port, "/0"]),
            "REDIS_AUTH_SECRET_ARN": self.redis_secret.secret_arn,
            "REDIS_KEY_PREFIX": "ex:",
            "DEMO_DEPOSITS": "off",
            # libpq fills host, port, user and password from PGHOST/PGPORT/PGUSER/PGPASSWORD
            # (user and password as container secrets): no password is composed into a URL.
            "DATABASE_URL": f"postgresql:///{DB_NAME}?sslmode=require",
            "PGHOST": self.cluster.cluster_endpoint.hostname,
            "PGPORT": Token.as_string(self.cluster.cluster_endpoint.port),
        })
        for var, value in self.providers.items():
            if var not in self.tables:
                env_output(self, var, value)
        CfnOutput(self, "DbWriterEndpoint", value=self.cluster.cluster_endpoint.hostname)
        CfnOutput(self, "DbReaderEndpoint", value=self.cluster.cluster_read_endpoint.hostname,
                  description="reader endpoint: history reads of direct (psycopg) clients")
        CfnOutput(self, "RedisHost", value=self.redis.attr_primary_end_point_address)
        CfnOutput(self, "RedisPort", value=self.redis.attr_primary_end_point_port)
        CfnOutput(self, "RedisAuthSecretArn", value=self.redis_secret.secret_arn)
        CfnOutput(self, "DataKeyArn", value=self.key.key_arn)
        CfnOutput(self, "MatcherGroups", value=str(len(self.intents_tables)),
                  description="matcher groups: one intents table each (infra/chalice_config.py grants them all)")
        for table in self.intents_tables:
                CfnOutput(self, f"{table.node.id}StreamArn", value=table.attr_stream_arn)

        acknowledge_all(self, {
            "AwsSolutions-SMG4": "Not rotated automatically: the matcher receives the Aurora password as container "
                                 "secrets at task start and holds connections for days, ElastiCache AUTH rotation "
                                 "needs ModifyReplicationGroup(ROTATE), which no Secrets Manager rotation template "
                                 "does, and the origin-verify value must reach CloudFront (an Edge deploy) while the "
                                 "API accepts the previous one. Rotation is the runbook in docs/deploy.md.",
        })
        acknowledge(self.cluster, "AwsSolutions-RDS11",
                    "Default PostgreSQL port: the cluster sits in isolated subnets and its security group admits "
                    "only the matcher/jobs groups; a non-standard port adds no protection there.")
        acknowledge(self.redis, "AwsSolutions-AEC5",
                    "Default Redis port: isolated subnets, security group admits only the three client groups, "
                    "TLS and AUTH required.")
        acknowledge(self.access_logs, "AwsSolutions-S1",
                    "This is the server-access-log bucket itself; logging it to itself would loop.")
