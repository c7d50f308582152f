"""Create the pipeline's buckets in MinIO (the chart's post-install and post-upgrade Job).

Idempotent, and patient: on a fresh install MinIO may still be starting, so each attempt
that cannot reach it waits and tries again until the deadline.
"""

from __future__ import annotations

import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pinpipe import settings as cfg

DEADLINE_S = 300.0


def buckets(s3: cfg.S3Settings) -> list[str]:
    return [s3.raw_bucket, s3.curated_bucket, s3.checkpoints_bucket]


def ensure(client, names: list[str]) -> list[str]:
    """Create the missing buckets among `names`; the ones created."""
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    created = []
    for name in names:
        if name not in existing:
            try:
                client.create_bucket(Bucket=name)
                created.append(name)
            except ClientError as exc:
                # A concurrent run of this Job won the race: the bucket is there, which is the point.
                if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
    return created


def main() -> int:
    s3 = cfg.s3()
    client = boto3.client(
        "s3", endpoint_url=s3.endpoint, region_name=s3.region,
        aws_access_key_id=s3.access_key.get_secret_value(),
        aws_secret_access_key=s3.secret_key.get_secret_value(),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=5),
    )
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            created = ensure(client, buckets(s3))
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() > deadline:
                print(f"MinIO at {s3.endpoint} still unreachable after {DEADLINE_S:.0f}s: {exc}", file=sys.stderr)
                return 1
            print(f"waiting for MinIO at {s3.endpoint}: {exc}", file=sys.stderr)
            time.sleep(5)
            continue
        print(f"buckets {', '.join(buckets(s3))} exist (created: {', '.join(created) or 'none'})")
        return 0


if __name__ == "__main__":
    sys.exit(main())
