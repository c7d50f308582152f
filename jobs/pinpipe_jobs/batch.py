"""Batch job: one window of the raw archive -> curated Parquet, quarantine, analytics, a summary.

    spark-submit jobs/pinpipe_jobs/batch.py --run-id ID --window-start ISO --window-end ISO

The window is half-open, [start, end), in UTC, and its edges must be whole hours (see load).

extract: the archiver cuts its objects at the UTC hours of the Kafka timestamps
  (topics/<topic>/dt=YYYY-MM-DD/hour=HH/<partition>-<first>-<last>.jsonl.gz, see
  pinpipe.archiver.keys), so the window's hour folders hold all of its messages. Rows are
  filtered by timestamp_ms as well: an object that straddles an hour (an older archiver, or
  a producer clock that went back across an hour boundary) would otherwise put its stray
  messages into two windows. Hours without objects are an empty window, not an error.
transform: per record type, the cleaning module classifies every message (cached, parsed
  once), then duplicates of an event_id within the window are marked (the lowest Kafka
  coordinate wins): the row ids of the few copies are found once and cached, and each action
  marks them with a broadcast join instead of shuffling the wide rows.
load:
- curated: s3a://<curated>/<record_type>/dt=YYYY-MM-DD/hour=HH/*.parquet, dt and hour from the
  Kafka timestamp (UTC), the same clock that put the message into the window. Dynamic partition
  overwrite replaces exactly the window's hours, so an hourly run never touches the other hours
  of its day, and hours the rerun no longer fills are deleted. A window edge inside an hour
  would replace that whole hour with part of it, so such windows are refused.
- quarantine.records, path 'batch': the run's previous rows are deleted and the new ones
  inserted (ON CONFLICT DO NOTHING keeps a message quarantined by another window once) in one
  transaction.
- analytics.* (see analytics.py): the window's rows replaced in the same transaction.
- the summary, printed as JSON and written to s3a://<curated>/_runs/<run_id>.json:
    {"run_id", "window_start", "window_end", "raw_rows", "duplicates_dropped",
     "raw_rows_by_type": {type: n}, "clean_rows": {type: n}, "quarantined": {type: {reason: n}},
     "null_rates": {type: {column: fraction of clean rows}}, "analytics_rows": {table: n},
     "curated": {type: path}, "seconds": float}
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from pinpipe import settings as cfg
from pinpipe.spark import BATCH_DRIVER_JAVA_OPTIONS
from pinpipe_jobs import analytics
from pinpipe_jobs.cleaning import (
    REASONS,
    classify_events,
    duplicate_copies,
    mark_duplicates,
    split_classified,
    with_row_ids,
)
from pinpipe_jobs.schemas import CLEAN_SCHEMAS, QUARANTINE_SCHEMA, RAW_SCHEMA, RECORD_TYPES

QUARANTINE_PAGE_ROWS = 1_000
# Curated columns whose values are (nearly) all distinct: ids, instants, free text. Parquet
# would build a dictionary for each and throw it away at the first full page; skipping that
# makes the curated write ~30% faster (1M events) for files ~20% larger.
DISTINCT_COLUMNS = {
    "pin": ("event_id", "ingested_at", "ind", "unique_id", "title", "description", "image_src",
            "tag_list.list.element"),
    "geo": ("event_id", "ingested_at", "ind", "timestamp", "coordinates.list.element"),
    "user": ("event_id", "ingested_at", "ind", "user_name", "date_joined"),
}
# Session settings of the job (on top of pinpipe.spark's):
# - a gzip object cannot be split, so each is one task; small splits keep Spark from packing
#   several objects into one task and leaving a core idle while the other finishes them;
# - the judged frames are cached for a few scans within one run: compressing them costs more
#   CPU than those scans save (a window's typed rows fit in memory either way).
# - the throughput collector for the driver (pinpipe.spark.BATCH_DRIVER_JAVA_OPTIONS).
JOB_CONF = {
    "spark.sql.files.maxPartitionBytes": "4m",
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
    "spark.driver.extraJavaOptions": BATCH_DRIVER_JAVA_OPTIONS,
}


@dataclass(frozen=True)
class DataWindow:
    run_id: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for edge in (self.start, self.end):
            if edge.tzinfo is None or edge.utcoffset() != timedelta(0):
                raise ValueError(f"window edge {edge.isoformat()} is not in UTC")
            if (edge.minute, edge.second, edge.microsecond) != (0, 0, 0):
                raise ValueError(
                    f"window edge {edge.isoformat()} is not a whole hour: the curated output is "
                    "partitioned by hour, and a partial hour would replace the whole hour")
        if self.end <= self.start:
            raise ValueError(f"empty window [{self.start.isoformat()}, {self.end.isoformat()})")

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    def hours(self) -> Iterator[datetime]:
        hour = self.start
        while hour < self.end:
            yield hour
            hour += timedelta(hours=1)


def parse_instant(text: str) -> datetime:
    """ISO 8601; a time without an offset is UTC, the job's only clock."""
    at = datetime.fromisoformat(text)
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at).astimezone(UTC)


def parse_args(argv: list[str] | None = None) -> DataWindow:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--window-start", required=True, type=parse_instant)
    parser.add_argument("--window-end", required=True, type=parse_instant)
    args = parser.parse_args(argv)
    try:
        return DataWindow(args.run_id, args.window_start, args.window_end)
    except ValueError as exc:
        parser.error(str(exc))
        raise


def hour_folder(root: str, name: str, hour: datetime) -> str:
    return f"{root}/{name}/dt={hour:%Y-%m-%d}/hour={hour:%H}"


def raw_hour_globs(raw_root: str, topic: str, window: DataWindow) -> list[str]:
    return [f"{hour_folder(raw_root, 'topics/' + topic, hour)}/*.jsonl.gz" for hour in window.hours()]


# Hadoop's FileSystem: the one API that speaks s3a:// in the cluster and file:// in a benchmark.
def _path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - Hadoop's FileSystem has no Python API
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path  # noqa: SLF001


def list_files(spark: SparkSession, pattern: str) -> list[str]:
    fs, path = _path(spark, pattern)
    return sorted(str(status.getPath().toString()) for status in (fs.globStatus(path) or []))


def delete_tree(spark: SparkSession, uri: str) -> None:
    fs, path = _path(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    fs, path = _path(spark, uri)
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode()))
    finally:
        out.close()


def read_raw(spark: SparkSession, files: list[str]) -> DataFrame:
    if not files:
        return spark.createDataFrame([], RAW_SCHEMA)
    return spark.read.schema(RAW_SCHEMA).json(files)


def extract(spark: SparkSession, raw_root: str, window: DataWindow) -> dict[str, DataFrame]:
    """The window's raw messages per record type."""
    frames = {}
    for record_type in RECORD_TYPES:
        topic = cfg.RECORD_TOPICS[record_type]
        files = [f for pattern in raw_hour_globs(raw_root, topic, window) for f in list_files(spark, pattern)]
        frames[record_type] = read_raw(spark, files).where(
            F.col("timestamp_ms").between(window.start_ms, window.end_ms - 1))
    return frames


def partition_columns(classified: DataFrame) -> DataFrame:
    """Adds the curated partition columns dt and hour (UTC, from the Kafka timestamp)."""
    at = F.timestamp_millis(F.col("timestamp_ms"))
    return classified.select("*", F.date_format(at, "yyyy-MM-dd").alias("dt"), F.date_format(at, "HH").alias("hour"))


@contextmanager
def judged(raw: dict[str, DataFrame]) -> Iterator[dict[str, DataFrame]]:
    """The judged frame of each record type, for the few actions of one run.

    The classification is cached: the later actions (the curated write, the quarantine, the
    analytics) read typed columns from memory instead of decompressing and parsing the JSON
    again. So are the row ids of the duplicate copies (a few rows), so each action marks the
    duplicates with one broadcast join instead of finding them again.
    """
    classified = {t: partition_columns(with_row_ids(classify_events(raw[t], t))).persist() for t in RECORD_TYPES}
    copies = {t: duplicate_copies(classified[t], F.col("raw_event_id")).persist() for t in RECORD_TYPES}
    try:
        yield {t: mark_duplicates(classified[t], copies[t]) for t in RECORD_TYPES}
    finally:
        for frame in (*copies.values(), *classified.values()):
            frame.unpersist()


def _metrics(record_type: str) -> list[Column]:
    """Everything the summary says about a record type, as aggregates over its judged rows."""
    first = ~F.col("duplicate")
    clean = first & F.col("reason").isNull()
    return [
        F.count(F.lit(1)).alias("raw"),
        F.count_if(F.col("duplicate")).alias("duplicates"),
        F.count_if(clean).alias("clean"),
        *(F.count_if(first & (F.col("reason") == reason)).alias(f"reason_{reason}") for reason in REASONS),
        *(F.count_if(clean & F.col(c).isNull()).alias(f"null_{c}") for c in CLEAN_SCHEMAS[record_type].fieldNames()),
        F.collect_set(F.when(clean, F.concat_ws("/", "dt", "hour"))).alias("hours"),
    ]


def _stats(metrics: dict[str, Any], record_type: str) -> dict[str, Any]:
    columns = CLEAN_SCHEMAS[record_type].fieldNames()
    n_clean = metrics.get("clean", 0)
    reasons = {r: metrics.get(f"reason_{r}", 0) for r in REASONS}
    return {
        "raw_rows": metrics.get("raw", 0),
        "duplicates_dropped": metrics.get("duplicates", 0),
        "clean_rows": n_clean,
        "quarantined": {r: n for r, n in reasons.items() if n},
        "null_rates": {c: round(metrics.get(f"null_{c}", 0) / n_clean, 4) if n_clean else 0.0 for c in columns},
        "hours": sorted(metrics.get("hours") or []),
    }


def load_curated(spark: SparkSession, judged: DataFrame, record_type: str, curated_root: str,
                 window: DataWindow) -> dict[str, Any]:
    """Replace the window's hours of one record type's curated output; returns its counts.

    The counts are observed on the rows flowing into the write (every judged row, before the
    clean ones are picked), so the summary costs no second pass. Dynamic partition overwrite
    replaces the hours that get rows; the window's other hours are deleted afterwards.
    """
    observation = Observation(f"curated-{record_type}")
    clean = (judged.observe(observation, *_metrics(record_type))
             .where(~F.col("duplicate") & F.col("reason").isNull())
             .select(*CLEAN_SCHEMAS[record_type].fieldNames(), "dt", "hour"))
    writer = clean.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("dt", "hour")
    for column in DISTINCT_COLUMNS[record_type]:
        writer = writer.option(f"parquet.enable.dictionary#{column}", "false")
    writer.parquet(f"{curated_root}/{record_type}")
    stats = _stats(observation.get, record_type)
    for hour in window.hours():
        if f"{hour:%Y-%m-%d/%H}" not in stats["hours"]:
            delete_tree(spark, hour_folder(curated_root, record_type, hour))
    return stats


def quarantine_rows(judged: DataFrame, record_type: str) -> Iterator[tuple[Any, ...]]:
    _, quarantine = split_classified(judged.where(~F.col("duplicate")), record_type)
    for row in quarantine.toLocalIterator():
        yield (*row[:-1], _without_nul(row["raw_payload"]))


def load_postgres(engine: Any, window: DataWindow, quarantine: dict[str, Iterator[tuple[Any, ...]]],
                  tables: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Quarantine and analytics of the window, replaced in one transaction."""
    from psycopg2.extras import execute_values
    from sqlalchemy import text

    from pinpipe.db import QUARANTINE_TABLE, ensure_schemas

    ensure_schemas(engine)
    columns = ", ".join(QUARANTINE_SCHEMA.fieldNames())
    insert = (f"INSERT INTO {QUARANTINE_TABLE} (path, run_id, {columns}) VALUES %s "
              "ON CONFLICT (path, topic, kafka_partition, kafka_offset) DO NOTHING")
    written: dict[str, int] = {}
    with engine.begin() as conn:
        analytics.ensure_tables(conn)
        conn.execute(text(f"DELETE FROM {QUARANTINE_TABLE} WHERE path = 'batch' AND run_id = :run_id"),
                     {"run_id": window.run_id})
        # The DBAPI cursor of the same connection, so the rows join the transaction.
        with conn.connection.cursor() as cursor:
            for rows in quarantine.values():
                execute_values(cursor, insert, (("batch", window.run_id, *row) for row in rows),
                               page_size=QUARANTINE_PAGE_ROWS)
        for name, rows in tables.items():
            written[name] = analytics.replace_window(
                conn, analytics.TABLES[name], rows, run_id=window.run_id,
                window_start=window.start, window_end=window.end)
    return written


def _without_nul(text_value: str | None) -> str | None:
    # Postgres text cannot hold U+0000, and garbage is exactly what the quarantine receives.
    return None if text_value is None else text_value.replace("\x00", "")


def run(spark: SparkSession, window: DataWindow, *, raw_root: str, curated_root: str, engine: Any) -> dict[str, Any]:
    """The whole job for one window; returns the summary (also written beside the output)."""
    started = time.monotonic()
    raw = extract(spark, raw_root, window)
    curated = {t: f"{curated_root}/{t}" for t in RECORD_TYPES}
    with judged(raw) as frames:
        stats = {t: load_curated(spark, frames[t], t, curated_root, window) for t in RECORD_TYPES}
        clean = {t: split_classified(frames[t].where(~F.col("duplicate")), t)[0] for t in RECORD_TYPES}
        tables = {name: [row.asDict() for row in frame.collect()]
                  for name, frame in analytics.compute(clean["pin"], clean["geo"], clean["user"]).items()}
        written = load_postgres(engine, window, {t: quarantine_rows(frames[t], t) for t in RECORD_TYPES}, tables)
    summary = {
        "run_id": window.run_id,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "raw_rows": sum(s["raw_rows"] for s in stats.values()),
        "duplicates_dropped": sum(s["duplicates_dropped"] for s in stats.values()),
        "raw_rows_by_type": {t: s["raw_rows"] for t, s in stats.items()},
        "clean_rows": {t: s["clean_rows"] for t, s in stats.items()},
        "quarantined": {t: s["quarantined"] for t, s in stats.items()},
        "null_rates": {t: s["null_rates"] for t, s in stats.items()},
        "analytics_rows": written,
        "curated": curated,
        "seconds": round(time.monotonic() - started, 3),
    }
    write_text(spark, f"{curated_root}/_runs/{window.run_id}.json", json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from pinpipe.db import engine as pg_engine
    from pinpipe.spark import build_session

    window = parse_args(argv)
    spark = build_session(f"pinpipe-batch-{window.run_id}", JOB_CONF)
    s3 = cfg.s3()
    eng = pg_engine()
    try:
        summary = run(spark, window, raw_root=f"s3a://{s3.raw_bucket}", curated_root=f"s3a://{s3.curated_bucket}",
                      engine=eng)
    finally:
        eng.dispose()
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
