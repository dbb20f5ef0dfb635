"""Daily export of the exchange's data to the backup bucket (S3), run by the ops stack.

* each DynamoDB table: ExportTableToPointInTime (needs PITR, which every table has)
  to ``s3://<bucket>/dynamodb/<table>/<date>/``;
* Aurora: the newest automated cluster snapshot is exported (Parquet) by an RDS export
  task to ``s3://<bucket>/aurora/<date>/``.

The bucket's lifecycle rule moves exports to Glacier and expires them
(chalicelib/resources.py BACKUP_LIFECYCLE_DAYS).  Exports are idempotent per day: a
second run on the same day finds the export task id taken and does nothing.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import TypedDict

import boto3

# The unit's declaration (infra/stacks/backup_export.py builds the function's
# environment from it; tests/infra checks it against what the handler reads and runs
# the handler with exactly that environment and the function's role policy).
SETTINGS = ("BACKUP_BUCKET", "KMS_KEY_ARN", "TABLE_ARNS", "DB_CLUSTER_ID", "EXPORT_ROLE_ARN")


class Exported(TypedDict):
    dynamodb: list[str]  # the tables whose export started
    aurora: str | None   # the snapshot export task (None: no snapshot available yet)


def handler(event, context) -> Exported:
    bucket = os.environ["BACKUP_BUCKET"]
    key_arn = os.environ["KMS_KEY_ARN"]
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    done: Exported = {"dynamodb": [], "aurora": None}

    ddb = boto3.client("dynamodb")
    for arn in filter(None, os.environ["TABLE_ARNS"].split(",")):
        name = arn.rsplit("/", 1)[-1]
        ddb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket=bucket, S3Prefix=f"dynamodb/{name}/{day}",
            ExportFormat="DYNAMODB_JSON", S3SseAlgorithm="KMS", S3SseKmsKeyId=key_arn,
            ClientToken=f"{name}-{day}"[:64])
        done["dynamodb"].append(name)

    rds = boto3.client("rds")
    snaps = rds.describe_db_cluster_snapshots(
        DBClusterIdentifier=os.environ["DB_CLUSTER_ID"], SnapshotType="automated")["DBClusterSnapshots"]
    snaps = [s for s in snaps if s.get("Status") == "available"]
    if snaps:
        newest = max(snaps, key=lambda s: s["SnapshotCreateTime"])
        task_id = f"{os.environ['DB_CLUSTER_ID']}-{day}"[:60]
        try:
            rds.start_export_task(
                ExportTaskIdentifier=task_id, SourceArn=newest["DBClusterSnapshotArn"],
                S3BucketName=bucket, S3Prefix=f"aurora/{day}", IamRoleArn=os.environ["EXPORT_ROLE_ARN"],
                KmsKeyId=key_arn)
        except rds.exceptions.ExportTaskAlreadyExistsFault:
            pass
        done["aurora"] = task_id
    return done
