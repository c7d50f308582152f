"""The DAG's check: the batch job's summary against counts taken from its inputs and outputs.

observe() counts, for one window, without Spark: the archived messages (the raw objects),
the curated rows (Parquet footers under the window's dt/hour folders) and the quarantined
rows (Postgres, path 'batch', at the window's archived offsets). compare() is pure: every
way the summary and those counts can disagree, as sentences.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pinpipe import settings as cfg
from pinpipe.db import QUARANTINE_TABLE
from pinpipe.orchestration.windows import hours_in, run_id_for

RECORD_TYPES = tuple(cfg.RECORD_TOPICS)
TOPIC_TYPES = {topic: record_type for record_type, topic in cfg.RECORD_TOPICS.items()}

# Columns a clean row always has: a record missing one goes to quarantine
# (jobs/pinpipe_jobs/cleaning.py), so a null here means the cleaning let a bad record through.
REQUIRED_COLUMNS = {
    "pin": ("event_id", "ingested_at", "ind", "unique_id"),
    "geo": ("event_id", "ingested_at", "ind", "timestamp"),
    "user": ("event_id", "ingested_at", "ind", "date_joined"),
}


@dataclass
class Observed:
    raw: dict[str, int]  # record type -> archived messages stamped inside the window
    raw_objects: int
    curated: dict[str, int]  # record type -> rows in the window's curated hours
    quarantined: dict[str, dict[str, int]]  # record type -> reason -> rows

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _curated_rows(s3_client: Any, bucket: str, record_type: str, start: datetime, end: datetime) -> int:
    import pyarrow.parquet as pq

    rows = 0
    for hour in hours_in(start, end):
        prefix = f"{record_type}/dt={hour:%Y-%m-%d}/hour={hour:%H}/"
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(".parquet"):
                    body = s3_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    rows += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
    return rows


def _quarantined(ranges: list[tuple[str, int, int, int]]) -> dict[str, dict[str, int]]:
    from sqlalchemy import text

    from pinpipe import db

    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if not ranges:
        return counts
    values = ", ".join(f"(:t{i}, :p{i}, :lo{i}, :hi{i})" for i in range(len(ranges)))
    params: dict[str, Any] = {}
    for i, (topic, partition, lo, hi) in enumerate(ranges):
        params.update({f"t{i}": topic, f"p{i}": partition, f"lo{i}": lo, f"hi{i}": hi})
    # By offsets rather than run id: a message counts once even if another run quarantined it.
    query = text(
        f"SELECT q.topic, q.reason, count(*) FROM {db.QUARANTINE_TABLE} q "
        f"JOIN (VALUES {values}) AS r(topic, part, lo, hi) "
        "ON q.topic = r.topic AND q.kafka_partition = r.part AND q.kafka_offset BETWEEN r.lo AND r.hi "
        "WHERE q.path = 'batch' GROUP BY q.topic, q.reason"
    )
    eng = db.engine()
    try:
        with eng.connect() as conn:
            for topic, reason, n in conn.execute(query, params):
                counts[TOPIC_TYPES.get(topic, topic)][reason] = n
    finally:
        eng.dispose()
    return dict(counts)


def observe(start: datetime, end: datetime) -> Observed:
    from pinpipe.archiver.core import build_s3
    from pinpipe.orchestration.archive_state import raw_window

    s3 = cfg.s3()
    client = build_s3(s3)
    raw = raw_window(client, s3.raw_bucket, tuple(cfg.RECORD_TOPICS.values()), start, end)
    return Observed(
        raw={t: raw.messages.get(cfg.RECORD_TOPICS[t], 0) for t in RECORD_TYPES},
        raw_objects=raw.objects,
        curated={t: _curated_rows(client, s3.curated_bucket, t, start, end) for t in RECORD_TYPES},
        quarantined=_quarantined(raw.ranges),
    )


def compare(summary: dict[str, Any], observed: Observed, start: datetime, end: datetime) -> list[str]:
    """Every disagreement between the job's summary and the observed counts (empty: all agree)."""
    problems = []
    expected_id = run_id_for(start, end)
    if summary.get("run_id") != expected_id:
        problems.append(f"summary is for run {summary.get('run_id')!r}, not {expected_id!r}")
    by_type = summary.get("raw_rows_by_type", {})
    for t in RECORD_TYPES:
        if by_type.get(t, 0) != observed.raw[t]:
            problems.append(f"{t}: the job read {by_type.get(t, 0)} raw messages, the archive holds {observed.raw[t]}")
    quarantined = {t: {r: n for r, n in (summary.get("quarantined", {}).get(t) or {}).items() if n}
                   for t in RECORD_TYPES}
    accounted = summary.get("duplicates_dropped", 0) + sum(summary.get("clean_rows", {}).values()) + sum(
        sum(reasons.values()) for reasons in quarantined.values())
    if summary.get("raw_rows") != accounted:
        problems.append(f"{summary.get('raw_rows')} raw messages but {accounted} duplicates + clean + quarantined")
    for t in RECORD_TYPES:
        clean = summary.get("clean_rows", {}).get(t, 0)
        if clean != observed.curated[t]:
            problems.append(f"{t}: {clean} clean rows in the summary, {observed.curated[t]} in the curated bucket")
        if quarantined[t] != observed.quarantined.get(t, {}):
            problems.append(f"{t}: quarantined {quarantined[t]} in the summary, "
                            f"{observed.quarantined.get(t, {})} in {QUARANTINE_TABLE}")
        rates = summary.get("null_rates", {}).get(t, {})
        for column in REQUIRED_COLUMNS[t]:
            if rates.get(column, 0.0) != 0.0:
                problems.append(f"{t}.{column}: null in {rates[column]:.2%} of clean rows; it must never be")
        problems.extend(f"{t}.{c}: null rate {r} outside [0, 1]" for c, r in rates.items() if not 0.0 <= r <= 1.0)
    return problems
