"""`pinpipe bench batch`: the batch path against baselines, side by side in one run.

Section spark: the Spark batch job next to DuckDB on the same raw files. A seeded archive of
`events` messages (records from the data generator with their dirty values, plus duplicate
copies and garbage, in the archiver's layout: 3 partitions per topic, one object per
partition and hour) is written once into a work folder and reused while its parameters
match. Both engines then do the job's work on it with 2 threads: read the gzip NDJSON,
parse, clean, quarantine, dedupe, write the curated Parquet partitioned by dt/hour and the
quarantine as Parquet, and count the summary (clean rows, reasons, null counts). Spark runs
the job's own functions (jobs/pinpipe_jobs/batch.py) minus Postgres; DuckDB runs the same
rules as SQL. Their counts must agree, or the two did different work and the benchmark
fails. Targets: Spark under 60 s for 1M events and within 3x of DuckDB. The SparkSession is
started before the clock (JVM start-up is a fixed cost, reported on its own).

Section archiver: pinpipe.archiver.bench, the archiver next to a bare consume loop (it needs
the local stack's Kafka and MinIO).
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

SPARK_SECONDS_PER_MILLION = 60.0
TARGET_RATIO = 3.0
RECORD_TYPES = ("pin", "geo", "user")
TOPICS = {"pin": "pinterest.pin", "geo": "pinterest.geo", "user": "pinterest.user"}
ID_FIELD = {"pin": "index", "geo": "ind", "user": "ind"}
WINDOW_START = datetime(2030, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000
# Per message: a copy of an earlier message (a redelivery) or a value that is not JSON.
DUPLICATE_RATE = 0.005
GARBAGE_RATE = 0.001
ARCHIVE_FORMAT = 1  # bump when the generated archive changes, so old work folders are rebuilt


# -- the archive -------------------------------------------------------------------------

def _records(record_type: str, n: int, seed: int) -> list[dict[str, Any]]:
    from pinpipe.datagen import frames
    from pinpipe.datagen.settings import DatagenSettings

    rows: list[dict[str, Any]] = []
    for chunk in frames.chunks(n, seed, DatagenSettings().rates()):
        columns = getattr(chunk, record_type)
        rows += [dict(zip(columns, row, strict=True)) for row in zip(*(c.tolist() for c in columns.values()),
                                                                     strict=True)]
    return rows


def archive_objects(record_type: str, n: int, seed: int, partitions: int, hours: int) -> dict[str, list[str]]:
    """Object key -> lines of one topic's archive: n messages, Kafka timestamps spread evenly
    over `hours`, keyed by id so one id stays in one partition."""
    rng = random.Random(f"{seed}-{record_type}")
    records = _records(record_type, n, seed)
    topic = TOPICS[record_type]
    start_ms = int(WINDOW_START.timestamp() * 1000)
    offsets = [0] * partitions
    objects: dict[tuple[int, int], list[tuple[int, str]]] = {}
    sent: list[tuple[str | None, str]] = []
    for i, data in enumerate(records):
        ts = start_ms + i * hours * HOUR_MS // n
        roll = rng.random()
        if roll < GARBAGE_RATE:
            key, value = None, f"{{not json {i}"
        elif roll < GARBAGE_RATE + DUPLICATE_RATE and sent:
            key, value = rng.choice(sent)
        else:
            key = str(data[ID_FIELD[record_type]])
            value = json.dumps({
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "record_type": record_type,
                "ingested_at": datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "idempotency_key": None, "data": data,
            })
            sent.append((key, value))
        partition = int(key) % partitions if key else rng.randrange(partitions)
        line = json.dumps({"topic": topic, "partition": partition, "offset": offsets[partition],
                           "timestamp_ms": ts, "key": key, "value": value}, separators=(",", ":"))
        objects.setdefault((partition, (ts - start_ms) // HOUR_MS), []).append((offsets[partition], line))
        offsets[partition] += 1
    named = {}
    for (partition, hour), lines in objects.items():
        at = WINDOW_START + timedelta(hours=hour)
        named[(f"topics/{topic}/dt={at:%Y-%m-%d}/hour={at:%H}/"
               f"{partition}-{lines[0][0]}-{lines[-1][0]}.jsonl.gz")] = [line for _, line in lines]
    return named


def write_archive(root: Path, events: int, seed: int, partitions: int, hours: int,
                  advance: Callable[[int], None]) -> bool:
    """Write the archive under root unless the same one is there; True when it was written."""
    manifest = {"format": ARCHIVE_FORMAT, "events": events, "seed": seed, "partitions": partitions, "hours": hours}
    marker = root / "manifest.json"
    if marker.is_file() and json.loads(marker.read_text()) == manifest:
        advance(events)
        return False
    shutil.rmtree(root, ignore_errors=True)
    for i, record_type in enumerate(RECORD_TYPES):
        n = events // 3 + (1 if i < events % 3 else 0)
        for key, lines in archive_objects(record_type, n, seed, partitions, hours).items():
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            # Level 1, the archiver's default.
            path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1, mtime=0))
        advance(n)
    marker.write_text(json.dumps(manifest))
    return True


# -- Spark: the job's own functions ----------------------------------------------------------

def run_spark(root: Path, out: Path, hours: int, warm_runs: int = 0) -> dict[str, Any]:
    """The job's extract, judgement and curated + quarantine writes on the archive, timed.

    The first run is the job as it runs in production: a fresh driver JVM. `warm_runs` more
    runs in the same session show what the JIT warm-up costs; each must count the same rows.
    """
    from pyspark.sql import functions as F

    from pinpipe.spark import build_session
    from pinpipe_jobs import batch
    from pinpipe_jobs.cleaning import split_classified

    started = time.perf_counter()
    spark = build_session("pinpipe-bench-batch", {**batch.JOB_CONF, "spark.ui.showConsoleProgress": "false"})
    startup = time.perf_counter() - started
    window = batch.DataWindow("bench", WINDOW_START, WINDOW_START + timedelta(hours=hours))
    runs: list[tuple[float, dict[str, Any]]] = []
    try:
        for _ in range(1 + warm_runs):
            started = time.perf_counter()
            raw = batch.extract(spark, root.as_uri(), window)
            with batch.judged(raw) as judged:
                stats = {}
                for t in RECORD_TYPES:
                    stats[t] = batch.load_curated(spark, judged[t], t, (out / "curated").as_uri(), window)
                    _, quarantine = split_classified(judged[t].where(~F.col("duplicate")), t)
                    quarantine.write.mode("overwrite").parquet((out / "quarantine" / t).as_uri())
            runs.append((time.perf_counter() - started, stats))
    finally:
        spark.stop()
    for _, stats in runs:
        for s in stats.values():
            del s["hours"]
    (seconds, counts), warm = runs[0], runs[1:]
    if any(stats != counts for _, stats in warm):
        raise RuntimeError("a warm run of the Spark job counted different rows than the first run")
    return {"seconds": seconds, "startup_seconds": startup, "counts": counts,
            "warm_seconds": min((s for s, _ in warm), default=None), "warm_runs": len(warm)}


# -- DuckDB: the same rules in SQL --------------------------------------------------------------

def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_int(text: str) -> str:
    # Spark's cast takes an optionally signed integer with blanks around it and nothing else;
    # DuckDB's would round '12.5' and accept '1e3'.
    return f"CASE WHEN regexp_full_match({text}, '\\s*[+-]?[0-9]+\\s*') THEN TRY_CAST(trim({text}) AS INTEGER) END"


def _sql_timestamp(text: str) -> str:
    return f"(TRY_CAST({text} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"


def _sql_without(text: str, field: str) -> str:
    from pinpipe_jobs.cleaning import PLACEHOLDERS

    return f"CASE WHEN {text} IN ({', '.join(_sql_text(p) for p in PLACEHOLDERS[field])}) THEN NULL ELSE {text} END"


def _clean_sql(record_type: str) -> list[str]:
    from pinpipe_jobs.cleaning import FILE_TYPE_ALIASES, FOLLOWER_PATTERN, SAVE_LOCATION_PREFIX

    def d(field: str) -> str:
        return f"struct_extract(e.data, {_sql_text(field)})"

    common = ["e.event_id AS event_id", f"{_sql_timestamp('e.ingested_at')} AS ingested_at",
              f"{_sql_int(d(ID_FIELD[record_type]))} AS ind"]
    if record_type == "pin":
        fc = f"trim({_sql_without(d('follower_count'), 'follower_count')})"
        pattern = _sql_text(FOLLOWER_PATTERN)
        number = f"TRY_CAST(regexp_extract({fc}, {pattern}, 1) AS DECIMAL(24,6))"
        multiplier = (f"CASE upper(regexp_extract({fc}, {pattern}, 2)) WHEN 'K' THEN 1000 "
                      "WHEN 'M' THEN 1000000 ELSE 1 END")
        tags = (f"list_filter(list_transform(string_split({_sql_without(d('tag_list'), 'tag_list')}, ','), "
                "lambda t: trim(t)), lambda t: t <> '')")
        file_type = d("is_image_or_video")
        for alias, name in FILE_TYPE_ALIASES.items():
            file_type = f"CASE WHEN {file_type} = {_sql_text(alias)} THEN {_sql_text(name)} ELSE {file_type} END"
        return [*common,
                f"{d('unique_id')} AS unique_id",
                f"{_sql_without(d('title'), 'title')} AS title",
                f"{_sql_without(d('description'), 'description')} AS description",
                f"{_sql_without(d('poster_name'), 'poster_name')} AS poster_name",
                f"TRY_CAST(round({number} * {multiplier}, 0) AS BIGINT) AS follower_count",
                f"CASE WHEN len({tags}) > 0 THEN {tags} END AS tag_list",
                f"{file_type} AS file_type",
                f"{_sql_without(d('image_src'), 'image_src')} AS image_src",
                f"{_sql_int(d('downloaded'))} AS downloaded",
                f"regexp_replace({d('save_location')}, {_sql_text('^' + SAVE_LOCATION_PREFIX)}, '') AS save_location",
                f"{d('category')} AS category"]
    if record_type == "geo":
        lat, lon = f"TRY_CAST({d('latitude')} AS DOUBLE)", f"TRY_CAST({d('longitude')} AS DOUBLE)"
        return [*common,
                f"{_sql_timestamp(d('timestamp'))} AS \"timestamp\"",
                f"CASE WHEN {lat} BETWEEN -90 AND 90 AND {lon} BETWEEN -180 AND 180 THEN [{lat}, {lon}] END"
                " AS coordinates",
                f"{d('country')} AS country"]
    return [*common,
            f"nullif(trim(concat_ws(' ', trim({d('first_name')}), trim({d('last_name')}))), '') AS user_name",
            f"{_sql_int(d('age'))} AS age",
            f"{_sql_timestamp(d('date_joined'))} AS date_joined"]


def judge_sql(record_type: str, files: list[str], start_ms: int, end_ms: int) -> str:
    from pinpipe_jobs.cleaning import UUID_PATTERN
    from pinpipe_jobs.schemas import DATA_FIELDS

    data_type = "{" + ", ".join(f'"{f}": "VARCHAR"' for f in DATA_FIELDS[record_type]) + "}"
    shape = ('{"event_id": "VARCHAR", "record_type": "VARCHAR", "ingested_at": "VARCHAR", '
             f'"data": {data_type}}}')
    required = ["ingested_at", *{"pin": [], "geo": ["timestamp"], "user": ["date_joined"]}[record_type]]
    unique_id = (f"WHEN NOT coalesce(regexp_full_match(unique_id, {_sql_text(UUID_PATTERN.strip('^$'))}), false) "
                 "THEN 'invalid_unique_id' " if record_type == "pin" else "")
    columns = ("{'topic': 'VARCHAR', 'partition': 'INTEGER', 'offset': 'BIGINT', 'timestamp_ms': 'BIGINT', "
               "'key': 'VARCHAR', 'value': 'VARCHAR'}")
    return f"""
    WITH raw AS (
        SELECT * FROM read_json([{', '.join(_sql_text(f) for f in files)}], format = 'newline_delimited',
                                columns = {columns})
        WHERE topic = {_sql_text(TOPICS[record_type])} AND timestamp_ms >= {start_ms} AND timestamp_ms < {end_ms}
    ), parsed AS (
        SELECT *, CASE WHEN json_valid(value) THEN value::JSON END AS j FROM raw
    ), envelopes AS (
        SELECT topic, "partition", "offset", timestamp_ms, value,
               j IS NULL OR json_type(j) <> 'OBJECT'
                   OR coalesce(json_type(j, '$.data') NOT IN ('OBJECT', 'NULL'), false) AS malformed,
               json_transform(j, {_sql_text(shape)}) AS e
        FROM parsed
    ), cleaned AS (
        SELECT {', '.join(_clean_sql(record_type))}, topic, "partition", "offset", timestamp_ms, value, malformed,
               e.record_type AS declared_type
        FROM envelopes
    ), judged AS (
        SELECT *, CASE
            WHEN malformed THEN 'malformed_json'
            WHEN event_id IS NULL OR trim(event_id) = '' THEN 'missing_event_id'
            WHEN declared_type IS DISTINCT FROM {_sql_text(record_type)} THEN 'wrong_record_type'
            WHEN ind IS NULL THEN 'missing_id'
            {unique_id}WHEN {' OR '.join(f'"{c}" IS NULL' for c in required)} THEN 'invalid_timestamp'
        END AS reason
        FROM cleaned
    )
    SELECT *,
           row_number() OVER (
               PARTITION BY coalesce('e:' || nullif(trim(event_id), ''),
                                     'k:' || topic || ':' || "partition" || ':' || "offset")
               ORDER BY topic, "partition", "offset") > 1 AS duplicate,
           strftime(epoch_ms(timestamp_ms), '%Y-%m-%d') AS dt,
           strftime(epoch_ms(timestamp_ms), '%H') AS hour
    FROM judged
    """


def run_duckdb(root: Path, out: Path, hours: int, threads: int) -> dict[str, Any]:
    import duckdb

    from pinpipe_jobs.cleaning import REASONS
    from pinpipe_jobs.schemas import CLEAN_SCHEMAS

    start_ms = int(WINDOW_START.timestamp() * 1000)
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}; SET TimeZone = 'UTC'; SET preserve_insertion_order = false; SET enable_progress_bar = false")
    for folder in ("curated", "quarantine"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    stats = {}
    started = time.perf_counter()
    for t in RECORD_TYPES:
        files = sorted(str(p) for p in (root / "topics" / TOPICS[t]).glob("dt=*/hour=*/*.jsonl.gz"))
        columns = [f'"{c}"' for c in CLEAN_SCHEMAS[t].fieldNames()]
        con.execute(f"CREATE OR REPLACE TEMP TABLE judged AS {judge_sql(t, files, start_ms, start_ms + hours * HOUR_MS)}")
        con.execute(f"COPY (SELECT {', '.join(columns)}, dt, hour FROM judged WHERE NOT duplicate AND reason IS NULL) "
                    f"TO {_sql_text(str(out / 'curated' / t))} (FORMAT parquet, PARTITION_BY (dt, hour))")
        con.execute(f"COPY (SELECT {_sql_text(t)} AS record_type, topic, \"partition\" AS kafka_partition, "
                    "\"offset\" AS kafka_offset, event_id, reason, value AS raw_payload FROM judged "
                    f"WHERE NOT duplicate AND reason IS NOT NULL) TO {_sql_text(str(out / 'quarantine' / f'{t}.parquet'))} "
                    "(FORMAT parquet)")
        clean = "NOT duplicate AND reason IS NULL"
        row = con.execute(
            "SELECT count(*), count_if(duplicate), count_if(" + clean + "), "
            + ", ".join(f"count_if(NOT duplicate AND reason = {_sql_text(r)})" for r in REASONS) + ", "
            + ", ".join(f"count_if({clean} AND {c} IS NULL)" for c in columns)
            + " FROM judged").fetchone()
        n_clean = row[2]
        reasons = dict(zip(REASONS, row[3:3 + len(REASONS)], strict=True))
        nulls = dict(zip(CLEAN_SCHEMAS[t].fieldNames(), row[3 + len(REASONS):], strict=True))
        stats[t] = {
            "raw_rows": row[0], "duplicates_dropped": row[1], "clean_rows": n_clean,
            "quarantined": {r: n for r, n in reasons.items() if n},
            "null_rates": {c: round(n / n_clean, 4) if n_clean else 0.0 for c, n in nulls.items()},
        }
    seconds = time.perf_counter() - started
    con.close()
    return {"seconds": seconds, "counts": stats}


def differences(spark: dict[str, Any], duck: dict[str, Any]) -> list[str]:
    """Where the two engines' counts disagree, one line each."""
    found = []
    for t in RECORD_TYPES:
        for name in ("raw_rows", "duplicates_dropped", "clean_rows", "quarantined", "null_rates"):
            if spark[t][name] != duck[t][name]:
                found.append(f"{t} {name}: spark {spark[t][name]} != duckdb {duck[t][name]}")
    return found


def spark_vs_duckdb(events: int, seed: int, partitions: int, hours: int, workdir: Path, console: Any,
                    warm_runs: int = 0) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    root, outputs = workdir.resolve() / "raw", workdir.resolve() / "out"
    with Progress(TextColumn("{task.description:24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("raw archive", total=events)
        written = write_archive(root, events, seed, partitions, hours, lambda n: progress.advance(task, n))
        results = {}
        for engine, run in (("spark", lambda out: run_spark(root, out, hours, warm_runs)),
                            ("duckdb", lambda out: run_duckdb(root, out, hours, threads=2))):
            task = progress.add_task(f"{engine} (clean {events:,})", total=None)
            shutil.rmtree(outputs / engine, ignore_errors=True)
            results[engine] = run(outputs / engine)
            progress.update(task, total=1, completed=1)
    spark_s, duck_s = results["spark"]["seconds"], results["duckdb"]["seconds"]
    warm_s = results["spark"]["warm_seconds"]
    diffs = differences(results["spark"]["counts"], results["duckdb"]["counts"])
    return {
        "benchmark": "batch: spark vs duckdb",
        "events": events,
        "archive": {"root": str(root), "seed": seed, "partitions_per_topic": partitions, "hours": hours,
                    "files": len(list(root.glob("topics/*/dt=*/hour=*/*.jsonl.gz"))),
                    "bytes": sum(p.stat().st_size for p in root.glob("topics/*/dt=*/hour=*/*.jsonl.gz")),
                    "reused": not written},
        "spark": {"seconds": round(spark_s, 3), "events_per_s": round(events / spark_s, 1),
                  "session_startup_seconds": round(results["spark"]["startup_seconds"], 3)},
        # Not how the job runs (each run is a fresh driver JVM): the best of the warm runs.
        "spark_warm": None if warm_s is None else {
            "seconds": round(warm_s, 3), "events_per_s": round(events / warm_s, 1),
            "runs": results["spark"]["warm_runs"], "ratio": round(warm_s / duck_s, 3)},
        "duckdb": {"seconds": round(duck_s, 3), "events_per_s": round(events / duck_s, 1)},
        "ratio": round(spark_s / duck_s, 3),
        "target_ratio": TARGET_RATIO,
        "target_seconds": round(SPARK_SECONDS_PER_MILLION * events / 1_000_000, 3),
        "counts": results["spark"]["counts"],
        "parity": diffs,
    }


def _print_spark_vs_duckdb(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"batch cleaning, {report['events']:,} events "
                        f"({report['archive']['files']} gzip NDJSON objects, {report['archive']['bytes'] / 1e6:.0f} MB)")
    for column in ("engine", "seconds", "events/s", "vs duckdb"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    table.add_row("duckdb (SQL, 2 threads)", f"{report['duckdb']['seconds']:.2f}",
                  f"{report['duckdb']['events_per_s']:,.0f}", "1.00")
    table.add_row(f"spark (the batch job, local[2]; +{report['spark']['session_startup_seconds']:.1f} s start-up)",
                  f"{report['spark']['seconds']:.2f}", f"{report['spark']['events_per_s']:,.0f}", f"{report['ratio']:.2f}")
    if warm := report.get("spark_warm"):
        table.add_row(f"spark warm (best of {warm['runs']} more runs in the same JVM; not how jobs run)",
                      f"{warm['seconds']:.2f}", f"{warm['events_per_s']:,.0f}", f"{warm['ratio']:.2f}")
    console.print(table)
    within_ratio = report["ratio"] <= TARGET_RATIO
    within_time = report["spark"]["seconds"] <= report["target_seconds"]
    console.print(f"target spark <= {TARGET_RATIO:.0f}x duckdb: {'met' if within_ratio else 'NOT met'}; "
                  f"target spark <= {report['target_seconds']:.1f} s: {'met' if within_time else 'NOT met'}")
    if report["parity"]:
        console.print("[red]the engines disagree:[/red]\n  " + "\n  ".join(report["parity"]))
    else:
        clean = sum(c["clean_rows"] for c in report["counts"].values())
        dups = sum(c["duplicates_dropped"] for c in report["counts"].values())
        console.print(f"parity: both engines kept {clean:,} clean events and dropped {dups:,} duplicates")


def command(
    events: Annotated[int, typer.Option(min=3, help="Raw messages for the Spark / DuckDB section")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated archive")] = 7,
    partitions: Annotated[int, typer.Option(min=1, help="Kafka partitions per topic in the archive")] = 3,
    hours: Annotated[int, typer.Option(min=1, help="Hours the archive spans (one object per partition-hour)")] = 4,
    workdir: Annotated[Path, typer.Option(help="Archive and outputs; the archive is reused")] = Path(
        "bench-results/batch"),
    spark: Annotated[bool, typer.Option("--spark/--no-spark", help="Run the Spark vs DuckDB section")] = True,
    warm_runs: Annotated[int, typer.Option(
        min=0, help="Spark job runs after the first in the same JVM, to show the JIT warm-up's share")] = 1,
    archiver: Annotated[bool, typer.Option("--archiver/--no-archiver", help="Run the archiver section")] = True,
    archiver_events: Annotated[int, typer.Option(min=3, help="Messages for the archiver section")] = 200_000,
    out: Annotated[Path, typer.Option(help="JSON results")] = Path("bench-results/batch.json"),
) -> None:
    """The Spark batch job next to DuckDB; the archiver next to a bare consume loop."""
    from rich.console import Console

    console = Console()
    report: dict[str, Any] = {}
    if spark:
        report["spark_vs_duckdb"] = spark_vs_duckdb(events, seed, partitions, hours, workdir, console, warm_runs)
        _print_spark_vs_duckdb(report["spark_vs_duckdb"], console)
    if archiver:
        from pinpipe.archiver import bench as archiver_bench

        report["archiver"] = archiver_bench.run(archiver_events, console=console)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out}")
    if report.get("spark_vs_duckdb", {}).get("parity"):
        raise typer.Exit(code=1)
