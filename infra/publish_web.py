"""Upload the web app to the site bucket and invalidate CloudFront.

    python -m infra.publish_web --stage prod [--source web/dist] [--outputs infra/cdk-outputs.json]

The bucket and distribution come from the Edge stack's outputs (``WebBucketName``,
``DistributionId``): from the ``cdk deploy --outputs-file`` file, else from
CloudFormation.  Files are uploaded with their content type; ``index.html`` (and any
other HTML) with ``no-cache`` so a deploy is visible at once, hashed assets with a
year's immutable cache.  Files in the bucket that are no longer in the source are
deleted (the bucket is versioned, so nothing is lost), then ``/*`` is invalidated.
"""
from __future__ import annotations

import argparse
import json
import mimetypes
import re
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HASHED = re.compile(r"[.-][0-9a-f]{8,}\.(js|css|woff2?|png|svg|jpg|webp)$")


def plan(source: Path) -> list[tuple[Path, str, dict]]:
    """(file, key, extra upload args) for every file under ``source``."""
    items = []
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")):
        key = path.relative_to(source).as_posix()
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        if path.suffix == ".html" or not HASHED.search(path.name):
            cache = "no-cache"
        else:
            cache = "public, max-age=31536000, immutable"
        items.append((path, key, {"ContentType": ctype, "CacheControl": cache}))
    return items


def edge_outputs(stage: str, outputs_file: Path | None, region: str) -> tuple[str, str]:
    stack = f"Exchange-{stage}-Edge"
    if outputs_file:
        out = json.loads(outputs_file.read_text()).get(stack, {})
    else:
        import boto3

        desc = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)["Stacks"][0]
        out = {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}
    return out["WebBucketName"], out["DistributionId"]


def publish(source: Path, bucket: str, distribution_id: str, *, s3=None, cloudfront=None, delete: bool = True) -> dict:
    import boto3

    s3 = s3 or boto3.client("s3")
    cloudfront = cloudfront or boto3.client("cloudfront")
    items = plan(source)
    if not any(key == "index.html" for _, key, _ in items):
        raise SystemExit(f"{source} has no index.html: build the web app first")
    for path, key, extra in items:
        s3.upload_file(str(path), bucket, key, ExtraArgs=extra)
    removed = []
    if delete:
        keep = {key for _, key, _ in items}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                if obj["Key"] not in keep:
                    removed.append(obj["Key"])
        for i in range(0, len(removed), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in removed[i:i + 1000]]})
    inv = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
        "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"publish-{time.time_ns()}"})
    return {"uploaded": len(items), "deleted": len(removed), "invalidation": inv["Invalidation"]["Id"]}


def main(argv: list[str] | None = None) -> int:
    from infra.config import load_stage

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", required=True, choices=["dev", "prod"])
    p.add_argument("--source", type=Path, default=None, help="default: web/dist if it exists, else web/")
    p.add_argument("--outputs", type=Path, default=None, help="file written by `cdk deploy --outputs-file`")
    p.add_argument("--keep-stale", action="store_true", help="do not delete objects missing from the source")
    args = p.parse_args(argv)
    source = args.source or next((d for d in (REPO_ROOT / "web" / "dist", REPO_ROOT / "web") if d.is_dir()), None)
    if source is None or not source.is_dir():
        print("error: no web app directory (web/dist or web/)", file=sys.stderr)
        return 2
    bucket, dist = edge_outputs(args.stage, args.outputs, load_stage(args.stage).region)
    result = publish(source, bucket, dist, delete=not args.keep_stale)
    print(f"published {source} to s3://{bucket}: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
