"""`airflow dags test pinterest_batch` against the local stack, end to end.

Events go to the pipeline's topics, stamped inside an hour two days back that nothing else
uses; the archiver (its own consumer group, starting at the current log end) puts them into
a scratch raw bucket; the DAG run (the Airflow CLI in a subprocess, inheriting the scratch
settings) waits, runs the Spark job with spark-submit, checks and succeeds. The test then
reads the curated Parquet, the quarantine table and the analytics tables itself.
"""

from __future__ import annotations

import io
import os
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pinpipe import events
from pinpipe import settings as cfg

pytestmark = pytest.mark.integration

N = 120  # clean records per type
CATEGORIES = ("art", "travel", "diy-and-crafts", "finance")
COUNTRIES = ("Chile", "Malta", "Fiji")


@pytest.fixture
def scratch_env(local_stack):
    """Scratch buckets and consumer group, set in this process's environment (which the
    Airflow subprocess inherits) and undone afterwards."""
    from pinpipe.archiver.core import build_s3

    name = f"pinpipe-dagtest-{uuid.uuid4().hex[:8]}"
    env = {
        "PINPIPE_S3_RAW_BUCKET": f"{name}-raw",
        "PINPIPE_S3_CURATED_BUCKET": f"{name}-curated",
        "PINPIPE_ARCHIVER_GROUP_ID": f"{name}-archiver",
        "PINPIPE_BATCH_RETRY_DELAY_S": "5",
        "PINPIPE_BATCH_WAIT_POKE_S": "5",
    }
    s3 = build_s3(cfg.s3())
    for bucket in (env["PINPIPE_S3_RAW_BUCKET"], env["PINPIPE_S3_CURATED_BUCKET"]):
        s3.create_bucket(Bucket=bucket)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cfg.clear_cache()
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        cfg.clear_cache()
        for bucket in (env["PINPIPE_S3_RAW_BUCKET"], env["PINPIPE_S3_CURATED_BUCKET"]):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    s3.delete_object(Bucket=bucket, Key=obj["Key"])
            s3.delete_bucket(Bucket=bucket)


def start_group_at_log_end(group_id: str) -> None:
    """The scratch archiver archives what this test produces, not the topics' history."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka().bootstrap_servers, group_id=group_id,
                             enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in cfg.TOPICS for p in consumer.partitions_for_topic(t)]
        consumer.assign(tps)
        consumer.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in consumer.end_offsets(tps).items()})
    finally:
        consumer.close(autocommit=False)


def produce_window(start: datetime) -> dict:
    """N clean records per type inside [start, start + 1 h), plus known dirt; what to expect."""
    from kafka import KafkaProducer

    rng = random.Random(7)
    base = rng.randrange(10**8, 10**9)  # ids no other test uses, so the analytics joins see only ours
    start_ms = int(start.timestamp() * 1000)
    producer = KafkaProducer(bootstrap_servers=cfg.kafka().bootstrap_servers, acks="all", linger_ms=5)
    clean: dict[str, set[str]] = {"pin": set(), "geo": set(), "user": set()}
    bad: list[tuple[str, int, int, str]] = []  # topic, partition, offset, expected reason

    def send(record_type: str, value: bytes, key: bytes, reason: str | None = None) -> None:
        ts = start_ms + rng.randrange(3_600_000)
        meta = producer.send(cfg.RECORD_TOPICS[record_type], key=key, value=value, timestamp_ms=ts).get(timeout=30)
        if reason:
            bad.append((meta.topic, meta.partition, meta.offset, reason))

    for i in range(N):
        ind = base + i
        records = {
            "pin": {"index": ind, "unique_id": str(uuid.uuid4()), "title": f"pin {i}", "description": "d",
                    "poster_name": f"poster{i % 7}", "follower_count": f"{1 + i % 9}.5k", "tag_list": "a,b",
                    "is_image_or_video": "image", "image_src": "https://i.pinimg.com/x.jpg", "downloaded": 1,
                    "save_location": "Local save in /data/art", "category": CATEGORIES[i % 4]},
            "geo": {"ind": ind, "timestamp": "2024-05-01 10:00:00", "latitude": 1.5, "longitude": 2.5,
                    "country": COUNTRIES[i % 3]},
            "user": {"ind": ind, "first_name": "Ann", "last_name": f"Lee{i}", "age": 18 + i % 50,
                     "date_joined": "2021-03-04 05:06:07"},
        }
        for rt, data in records.items():
            env = events.envelope(rt, data)
            clean[rt].add(env["event_id"])
            send(rt, events.encode(env), events.message_key(rt, data))
            if rt == "user" and i < 2:  # a redelivery: same event, dropped as a duplicate
                send(rt, events.encode(env), events.message_key(rt, data))
    for i in range(4):
        data = {"index": base + N + i, "unique_id": "not-a-uuid", "category": "art"}
        send("pin", events.encode(events.envelope("pin", data)), events.message_key("pin", data), "invalid_unique_id")
    for _ in range(3):
        send("geo", b"{this is not json", b"garbage", "malformed_json")
    producer.flush()
    producer.close()
    return {"clean": clean, "bad": bad, "raw": 3 * N + 2 + 4 + 3}


def curated_event_ids(bucket: str, record_type: str, hour: datetime) -> list[str]:
    import pyarrow.parquet as pq

    from pinpipe.archiver.core import build_s3

    s3 = build_s3(cfg.s3())
    prefix = f"{record_type}/dt={hour:%Y-%m-%d}/hour={hour:%H}/"
    ids = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        if obj["Key"].endswith(".parquet"):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            ids.extend(pq.read_table(io.BytesIO(body), columns=["event_id"]).column("event_id").to_pylist())
    return ids


def test_dags_test_runs_one_window_end_to_end(scratch_env):
    from sqlalchemy import text

    from pinpipe import db
    from pinpipe.archiver import archive_until_idle
    from pinpipe.orchestration.batch_dag import run_local
    from pinpipe.orchestration.windows import run_id_for

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=2, hours=random.randrange(24))
    end = start + timedelta(hours=1)
    start_group_at_log_end(scratch_env["PINPIPE_ARCHIVER_GROUP_ID"])
    expected = produce_window(start)

    archived = archive_until_idle()
    assert archived["caught_up"] and archived["records"] >= expected["raw"]

    heard: list[str] = []
    result = run_local(end, timeout_s=1500, progress=heard.append)
    assert result["state"] == "success", "\n".join(result.get("output_tail", []))
    # Long work shows progress: each task is reported as it starts and ends.
    for task in ("wait_for_raw", "run_batch", "check", "done"):
        assert any(f"task {task} started" in line for line in heard), (task, heard)
        assert any(f"task {task} ended" in line for line in heard), (task, heard)
    assert result["window"] == [start.isoformat(), end.isoformat()]
    summary = result["summary"]
    assert summary["run_id"] == run_id_for(start, end)
    assert summary["raw_rows"] == expected["raw"]
    assert summary["duplicates_dropped"] == 2
    assert summary["clean_rows"] == {"pin": N, "geo": N, "user": N}
    assert summary["quarantined"] == {"pin": {"invalid_unique_id": 4}, "geo": {"malformed_json": 3}, "user": {}}

    for record_type, ids in expected["clean"].items():
        found = curated_event_ids(scratch_env["PINPIPE_S3_CURATED_BUCKET"], record_type, start)
        assert sorted(found) == sorted(ids), record_type

    eng = db.engine()
    try:
        with eng.begin() as conn:
            quarantined = {
                (topic, partition, offset): reason
                for topic, partition, offset, reason in conn.execute(text(
                    "SELECT topic, kafka_partition, kafka_offset, reason FROM quarantine.records "
                    "WHERE path = 'batch' AND run_id = :run_id"), {"run_id": summary["run_id"]})
            }
            assert quarantined == {(t, p, o): reason for t, p, o, reason in expected["bad"]}
            analytics = {
                table: conn.execute(text(f"SELECT count(*) FROM analytics.{table} WHERE window_start = :ws"),
                                    {"ws": start}).scalar_one()
                for table in ("popular_category_by_country", "category_count_by_year", "top_user_by_country",
                              "popular_category_by_age_group")
            }
            assert analytics["popular_category_by_country"] == len(COUNTRIES), analytics
            assert all(n > 0 for n in analytics.values()), analytics
            # Leave the shared database as it was.
            conn.execute(text("DELETE FROM quarantine.records WHERE path = 'batch' AND run_id = :run_id"),
                         {"run_id": summary["run_id"]})
            for table in summary.get("analytics_rows", {}):
                conn.execute(text(f"DELETE FROM analytics.{table} WHERE window_start = :ws"), {"ws": start})
    finally:
        eng.dispose()


@pytest.fixture
def scratch_topics(local_stack):
    """Fresh topics, group and raw bucket for the wait, set in this process's environment."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from pinpipe.archiver.core import build_s3

    name = f"pinpipe-waittest-{uuid.uuid4().hex[:8]}"
    topics = [f"{name}.{rt}" for rt in ("pin", "geo", "user")]
    env = {"PINPIPE_ARCHIVER_TOPICS": ",".join(topics), "PINPIPE_ARCHIVER_GROUP_ID": f"{name}-archiver",
           "PINPIPE_ARCHIVER_SESSION_TIMEOUT_MS": "6000", "PINPIPE_S3_RAW_BUCKET": name}
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka().bootstrap_servers, client_id="pinpipe-tests")
    admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in topics])
    s3 = build_s3(cfg.s3())
    s3.create_bucket(Bucket=name)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cfg.clear_cache()
    try:
        yield topics, s3, name
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        cfg.clear_cache()
        admin.delete_topics(topics)
        admin.close()
        for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)


def test_the_wait_archives_a_closed_window_and_holds_an_open_one(scratch_topics):
    from kafka import KafkaProducer

    from pinpipe.archiver import keys
    from pinpipe.archiver.settings import ArchiverSettings
    from pinpipe.orchestration.archive_state import archive_progress
    from pinpipe.orchestration.batch_dag import wait_for_raw

    topics, s3, bucket = scratch_topics
    now = datetime.now(UTC)
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    # Two hours back: closed past its lateness whatever minute the test starts.
    closed_hour = this_hour - timedelta(hours=2)
    producer = KafkaProducer(bootstrap_servers=cfg.kafka().bootstrap_servers, acks="all")
    for i in range(30):
        producer.send(topics[i % 3], key=str(i).encode(), value=b"{}",
                      timestamp_ms=int(closed_hour.timestamp() * 1000) + i * 60_000)
    producer.flush()

    # Closed and not archived: the wait runs the archiver, then finds it complete.
    assert wait_for_raw(closed_hour, closed_hour + timedelta(hours=1)).is_done
    archived = [keys.parse_key(o["Key"]) for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert {(r.dt, r.hour) for r in archived} == {(f"{closed_hour:%Y-%m-%d}", closed_hour.hour)}
    assert sum(r.last_offset - r.first_offset + 1 for r in archived) == 30

    # Still open: nothing may be called complete, and nothing is archived for it yet.
    for i in range(5):
        producer.send(topics[i % 3], key=str(i).encode(), value=b"{}")
    producer.close()
    assert not wait_for_raw(this_hour, this_hour + timedelta(hours=1)).is_done
    progress = archive_progress(this_hour + timedelta(hours=1), ArchiverSettings(), cfg.kafka())
    assert sum(p.target for p in progress) == 35 and sum(p.committed or 0 for p in progress) == 30
