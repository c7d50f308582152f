"""The batch job's summary of a run: s3://<curated>/_runs/<run_id>.json, wherever the job ran."""

from __future__ import annotations

import json
from typing import Any

from pinpipe import settings as cfg


def summary_key(run_id: str) -> str:
    return f"_runs/{run_id}.json"


def read_summary(run_id: str) -> dict[str, Any]:
    from pinpipe.archiver.core import build_s3

    s3 = cfg.s3()
    body = build_s3(s3).get_object(Bucket=s3.curated_bucket, Key=summary_key(run_id))["Body"].read()
    return json.loads(body)
