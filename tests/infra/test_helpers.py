"""infra.config and infra.publish_web, without AWS."""
from __future__ import annotations

import pytest

from infra import config as C, publish_web


def test_stage_config_overrides_from_context_and_env():
    ctx = {"domain_name": "ex.example.com", "waf_rate_limit": "500"}
    cfg = C.load_stage("dev", context=ctx.get, environ={"EXCHANGE_ALARM_EMAIL": "ops@example.com",
                                                        "EXCHANGE_DOMAIN_NAME": "ignored.example.com"})
    assert cfg.domain_name == "ex.example.com"          # context wins over env
    assert cfg.alarm_email == "ops@example.com"
    assert cfg.waf_rate_limit == 500
    assert C.load_stage("dev", environ={}).aurora_min_acu < C.load_stage("prod", environ={}).aurora_min_acu
    with pytest.raises(ValueError):
        C.load_stage("staging", environ={})
    with pytest.raises(ValueError):
        C.load_stage("dev", environ={"EXCHANGE_MFA": "sometimes"})


def test_every_stage_is_multi_az():
    for cfg in C.STAGES.values():
        assert cfg.max_azs >= 2 and cfg.redis_replicas >= 1


class FakeS3:
    def __init__(self, existing):
        self.objects = dict.fromkeys(existing)
        self.uploads = {}

    def upload_file(self, path, bucket, key, ExtraArgs):
        self.uploads[key] = ExtraArgs
        self.objects[key] = True

    def get_paginator(self, name):
        fake = self

        class P:
            def paginate(self, Bucket):
                yield {"Contents": [{"Key": k} for k in list(fake.objects)]}
        return P()

    def delete_objects(self, Bucket, Delete):
        for o in Delete["Objects"]:
            self.objects.pop(o["Key"])


class FakeCloudFront:
    def __init__(self):
        self.paths = None

    def create_invalidation(self, DistributionId, InvalidationBatch):
        self.paths = InvalidationBatch["Paths"]["Items"]
        return {"Invalidation": {"Id": "I123"}}


def test_publish_uploads_with_cache_headers_prunes_and_invalidates(tmp_path):
    (tmp_path / "index.html").write_text("<html></html>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.3f2a9c1d7e.js").write_text("x")
    (tmp_path / "assets" / "logo.svg").write_text("<svg/>")
    s3, cf = FakeS3(["old.js", "index.html"]), FakeCloudFront()
    result = publish_web.publish(tmp_path, "bucket", "DIST", s3=s3, cloudfront=cf)
    assert result == {"uploaded": 3, "deleted": 1, "invalidation": "I123"}
    assert s3.uploads["index.html"] == {"ContentType": "text/html; charset=utf-8", "CacheControl": "no-cache"}
    assert "immutable" in s3.uploads["assets/app.3f2a9c1d7e.js"]["CacheControl"]
    assert s3.uploads["assets/logo.svg"]["CacheControl"] == "no-cache"
    assert "old.js" not in s3.objects and cf.paths == ["/*"]


def test_publish_refuses_a_source_without_index(tmp_path):
    (tmp_path / "a.js").write_text("x")
    with pytest.raises(SystemExit):
        publish_web.publish(tmp_path, "b", "D", s3=FakeS3([]), cloudfront=FakeCloudFront())
