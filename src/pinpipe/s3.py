"""The one boto3 S3 client builder: MinIO locally, S3 or MinIO in a cluster, from settings."""

from __future__ import annotations

from typing import Any

from pinpipe import settings as cfg


def client(s3: cfg.S3Settings | None = None, *, retries: dict[str, Any] | None = None) -> Any:
    """A client for `s3` (the current settings by default), path-style addressing as MinIO wants."""
    import boto3
    from botocore.config import Config

    s3 = s3 or cfg.s3()
    return boto3.client(
        "s3", endpoint_url=s3.endpoint, region_name=s3.region,
        aws_access_key_id=s3.access_key.get_secret_value(),
        aws_secret_access_key=s3.secret_key.get_secret_value(),
        config=Config(s3={"addressing_style": "path"}, retries=retries),
    )
