"""Benchmark: the archiver next to a bare kafka-python consume loop over the same messages.

Both read the same freshly produced topics (3 topics x 3 partitions, API-sized envelopes,
compressed like the API's) in the same run, each with a fresh consumer group, timed from consumer creation to the last
message (the archiver: to its last upload and commit). The archiver's target is 70% of the
bare loop's rate. Scratch topics and bucket are deleted afterwards.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pinpipe import events
from pinpipe import settings as cfg

TARGET_RATIO = 0.70
RECORD_TYPES = ("pin", "geo", "user")


def _data(record_type: str, i: int) -> dict[str, Any]:
    # Field sizes of the generated Pinterest rows: a pin envelope is ~600 bytes.
    if record_type == "pin":
        return {
            "index": i, "unique_id": str(uuid.UUID(int=i)), "title": f"Pin number {i} about interior design",
            "description": "A longer description of a pin, as users write them. " * 3,
            "poster_name": "Some Poster", "follower_count": "12k", "tag_list": "home,decor,ideas,diy",
            "is_image_or_video": "image", "image_src": f"https://i.pinimg.com/originals/{i:08x}.jpg",
            "downloaded": 1, "save_location": "Local save in /data/home-decor", "category": "home-decor",
        }
    if record_type == "geo":
        return {"ind": i, "timestamp": "2026-11-26 10:00:00", "latitude": -5.5, "longitude": 120.25, "country": "Indonesia"}
    return {"ind": i, "first_name": "Ann", "last_name": "Lee", "age": 31, "date_joined": "2020-01-01 00:00:00"}


def _produce(topics: dict[str, str], n: int, progress: Progress) -> None:
    from kafka import KafkaProducer
    from kafka.codec import has_lz4

    # Compressed as the API produces (lz4 when its codec is installed, else gzip): readers pay
    # the decompression, and kafka-python's CRC check runs over fewer bytes.
    producer = KafkaProducer(bootstrap_servers=cfg.kafka().bootstrap_servers, acks="all", linger_ms=20,
                             batch_size=256 * 1024, compression_type="lz4" if has_lz4() else "gzip")
    task = progress.add_task("producing", total=n)
    try:
        for i in range(n):
            rt = RECORD_TYPES[i % 3]
            data = _data(rt, i)
            producer.send(topics[rt], key=events.message_key(rt, data), value=events.encode(events.envelope(rt, data)))
            if i % 5000 == 0:
                progress.update(task, completed=i)
        producer.flush()
    finally:
        producer.close()
    progress.update(task, completed=n)


def _bare_loop(topics: list[str], n: int, group_id: str, max_poll_records: int, progress: Progress) -> float:
    """Seconds for a plain consumer to read n messages: the baseline."""
    from kafka import KafkaConsumer

    task = progress.add_task("bare consume loop", total=n)
    started = time.monotonic()
    consumer = KafkaConsumer(
        bootstrap_servers=cfg.kafka().bootstrap_servers, group_id=group_id, enable_auto_commit=False,
        auto_offset_reset="earliest", max_poll_records=max_poll_records,
    )
    consumer.subscribe(topics)
    seen = 0
    try:
        while seen < n:
            for records in consumer.poll(timeout_ms=500).values():
                seen += len(records)
            progress.update(task, completed=seen)
        return time.monotonic() - started
    finally:
        consumer.close(autocommit=False)


def _archiver(topics: list[str], bucket: str, group_id: str, n: int, progress: Progress) -> tuple[float, dict[str, Any]]:
    from pinpipe.archiver.core import Archiver, build_consumer, build_s3
    from pinpipe.archiver.settings import ArchiverSettings

    task = progress.add_task("archiver", total=n)
    settings = ArchiverSettings(topics=tuple(topics), group_id=group_id, log_interval_s=3600)
    started = time.monotonic()
    consumer = build_consumer(settings, cfg.kafka())
    archiver = Archiver(settings, consumer, build_s3(cfg.s3()), bucket)
    try:
        stats = archiver.run(until_idle=True)
    finally:
        consumer.close(autocommit=False)
    progress.update(task, completed=stats.records)
    if stats.records != n:
        raise RuntimeError(f"archiver wrote {stats.records} of {n} messages")
    return time.monotonic() - started, stats.as_dict()


def _empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])


def run(n_events: int = 200_000, out: Path | None = None, *, repeats: int = 2,
        console: Console | None = None) -> dict[str, Any]:
    """Produce n_events to scratch topics, time both readers, print and return the numbers.

    The readers alternate `repeats` times and each keeps its best time: on a shared machine
    a single run measures the neighbours as much as the code.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from pinpipe.archiver.core import build_s3
    from pinpipe.archiver.settings import ArchiverSettings

    console = console or Console()
    name = f"pinpipe-bench-{uuid.uuid4().hex[:8]}"
    topics = {rt: f"{name}.{rt}" for rt in RECORD_TYPES}
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka().bootstrap_servers, client_id="pinpipe-bench")
    s3 = build_s3(cfg.s3())
    admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in topics.values()])
    s3.create_bucket(Bucket=name)
    bare_runs: list[float] = []
    archiver_runs: list[float] = []
    try:
        with Progress(console=console, transient=True) as progress:
            _produce(topics, n_events, progress)
            for i in range(repeats):
                bare_runs.append(_bare_loop(list(topics.values()), n_events, f"{name}-bare-{i}",
                                            ArchiverSettings().max_poll_records, progress))
                # A fresh group and an empty bucket: otherwise the archiver skips what is archived.
                _empty_bucket(s3, name)
                seconds, stats = _archiver(list(topics.values()), name, f"{name}-archiver-{i}", n_events, progress)
                archiver_runs.append(seconds)
    finally:
        admin.delete_topics(list(topics.values()))
        admin.close()
        _empty_bucket(s3, name)
        s3.delete_bucket(Bucket=name)

    bare_s, archiver_s = min(bare_runs), min(archiver_runs)
    result = {
        "benchmark": "archiver",
        "events": n_events,
        "repeats": repeats,
        "bare_loop": {"seconds": round(bare_s, 3), "events_per_s": round(n_events / bare_s, 1),
                      "runs_s": [round(s, 3) for s in bare_runs]},
        "archiver": {"seconds": round(archiver_s, 3), "events_per_s": round(n_events / archiver_s, 1),
                     "runs_s": [round(s, 3) for s in archiver_runs],
                     "objects": stats["objects"], "compressed_bytes": stats["bytes"]},
        "ratio": round(bare_s / archiver_s, 3),
        "target_ratio": TARGET_RATIO,
    }
    table = Table(title=f"archiver vs bare kafka-python consumer, {n_events:,} events, best of {repeats}")
    for col in ("reader", "seconds", "events/s", "ratio"):
        table.add_column(col, justify="right" if col != "reader" else "left")
    table.add_row("bare consume loop", f"{bare_s:.2f}", f"{n_events / bare_s:,.0f}", "1.00")
    table.add_row("archiver (gzip NDJSON -> MinIO, commits)", f"{archiver_s:.2f}", f"{n_events / archiver_s:,.0f}",
                  f"{result['ratio']:.2f} (target >= {TARGET_RATIO:.2f})")
    console.print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return result
