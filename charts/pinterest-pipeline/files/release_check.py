"""`helm test`: prove the release works, the way a user would find out it does not.

Checks that the API is ready (which means Kafka answers it), that every bucket exists and
that the database holds the pipeline's schemas. Prints one line per check; exits 1 on the
first failure with what was wrong.
"""

from __future__ import annotations

import sys

import boto3
import httpx
from botocore.config import Config
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text

from pinpipe import db
from pinpipe import settings as cfg


class ReleaseCheckSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_RELEASE_CHECK_", extra="ignore")

    # Empty when the release has no API.
    api_url: str = ""


class CheckFailed(Exception):
    pass


def check_api(url: str) -> str:
    response = httpx.get(f"{url}/readyz", timeout=10)
    if response.status_code != 200:
        raise CheckFailed(f"{url}/readyz answered {response.status_code}: {response.text[:300]}")
    return f"API {url} is ready"


def check_buckets(s3: cfg.S3Settings) -> str:
    client = boto3.client(
        "s3", endpoint_url=s3.endpoint, region_name=s3.region,
        aws_access_key_id=s3.access_key.get_secret_value(),
        aws_secret_access_key=s3.secret_key.get_secret_value(),
        config=Config(s3={"addressing_style": "path"}),
    )
    names = [s3.raw_bucket, s3.curated_bucket, s3.checkpoints_bucket]
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    missing = [name for name in names if name not in existing]
    if missing:
        raise CheckFailed(f"buckets missing at {s3.endpoint}: {', '.join(missing)}")
    return f"buckets {', '.join(names)} exist"


def check_schemas(pg: cfg.PostgresSettings) -> str:
    engine = db.engine(pg)
    try:
        with engine.connect() as conn:
            found = set(conn.execute(text("SELECT schema_name FROM information_schema.schemata")).scalars())
    finally:
        engine.dispose()
    missing = [schema for schema in cfg.PG_SCHEMAS if schema not in found]
    if missing:
        raise CheckFailed(f"schemas missing in {pg.host}/{pg.database}: {', '.join(missing)}")
    return f"schemas {', '.join(cfg.PG_SCHEMAS)} exist in {pg.database}"


def main() -> int:
    checks = [("buckets", lambda: check_buckets(cfg.s3())), ("schemas", lambda: check_schemas(cfg.postgres()))]
    api_url = ReleaseCheckSettings().api_url
    if api_url:
        checks.insert(0, ("api", lambda: check_api(api_url)))
    for what, check in checks:
        try:
            print(f"ok: {check()}")
        except Exception as exc:  # noqa: BLE001 - every failure is reported the same way
            print(f"FAILED ({what}): {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
