"""The batch job against real MinIO and Postgres: raw objects in, curated, quarantine, analytics out.

The test writes archive objects the way the archiver names them into scratch buckets of its
own, runs the job's `main` in-process on the session's Spark, and reads everything back. Its
windows lie on a random day of the 2030s and its Kafka offsets start at a random large number,
so the shared analytics and quarantine tables cannot mix its rows with anyone else's.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from pinpipe import settings as cfg
from pinpipe_jobs import batch
from pinpipe_jobs.analytics import TABLES
from pinpipe_jobs.schemas import CLEAN_SCHEMAS

pytestmark = pytest.mark.integration

TOPIC = cfg.RECORD_TOPICS
RNG = random.Random()
DAY = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=RNG.randrange(3000))
H0 = DAY + timedelta(hours=6)
WINDOW = (H0, H0 + timedelta(hours=2))          # two hours: the window under test
OTHER = (H0 + timedelta(hours=5), H0 + timedelta(hours=6))  # the same day, another window
EMPTY = (H0 + timedelta(hours=10), H0 + timedelta(hours=11))
OFFSET0 = RNG.randrange(10**9, 10**12)


def run_id(window: tuple[datetime, datetime]) -> str:
    return f"test-{window[0]:%Y%m%d%H}-{OFFSET0}"


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def envelope(record_type: str, data: dict, at: datetime, event_id: str | None = None) -> str:
    return json.dumps({"event_id": event_id or str(uuid.uuid4()), "record_type": record_type,
                       "ingested_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "idempotency_key": None,
                       "data": data})


def pin(ind: int, category: str, poster: str, followers: str) -> dict:
    return {"index": ind, "unique_id": str(uuid.UUID(int=ind)), "title": f"pin {ind}",
            "description": "No description available", "poster_name": poster, "follower_count": followers,
            "tag_list": "a,b", "is_image_or_video": "image", "image_src": "Image src error.", "downloaded": 1,
            "save_location": f"Local save in /data/{category}", "category": category}


def geo(ind: int, country: str, year: int) -> dict:
    return {"ind": ind, "timestamp": f"{year}-05-01 10:00:00", "latitude": 10.5, "longitude": 20.25,
            "country": country}


def user(ind: int, age: int, joined: int) -> dict:
    return {"ind": ind, "first_name": "First", "last_name": f"L{ind}", "age": age,
            "date_joined": f"{joined}-03-01 08:00:00"}


class Archive:
    """Archive objects as the archiver writes them: one per topic-partition and hour."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, int, datetime], list[dict]] = defaultdict(list)
        self.next_offset: dict[tuple[str, int], int] = defaultdict(lambda: OFFSET0)

    def add(self, record_type: str, value: str | None, at: datetime, *, partition: int = 0,
            hour: datetime | None = None) -> int:
        topic = TOPIC[record_type]
        offset = self.next_offset[topic, partition]
        self.next_offset[topic, partition] += 1
        folder = hour or at.replace(minute=0, second=0, microsecond=0)
        self.objects[topic, partition, folder].append(
            {"topic": topic, "partition": partition, "offset": offset, "timestamp_ms": ms(at), "key": "1",
             "value": value})
        return offset

    def upload(self, s3, bucket: str) -> None:
        for (topic, partition, hour), lines in self.objects.items():
            key = (f"topics/{topic}/dt={hour:%Y-%m-%d}/hour={hour:%H}/"
                   f"{partition}-{lines[0]['offset']}-{lines[-1]['offset']}.jsonl.gz")
            body = "".join(json.dumps(line) + "\n" for line in lines).encode()
            s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body, mtime=0))


def the_archive() -> tuple[Archive, dict[str, str]]:
    """Window rows whose analytics are worked out by hand in the tests below."""
    archive = Archive()
    ids: dict[str, str] = {}
    t0, t1 = H0 + timedelta(minutes=5), H0 + timedelta(hours=1, minutes=5)
    posts = [  # ind, category, poster, followers, country, post year, age, join year, hour
        (1, "art", "Ann", "1.5k", "Albania", 2019, 20, 2015, t0),
        (2, "art", "Bob", "20k", "Albania", 2020, 30, 2016, t0),
        (3, "travel", "Cid", "3M", "Albania", 2020, 40, 2016, t0),
        (4, "travel", "User Info Error", "User Info Error", "Chile", 2021, 60, 2017, t1),
        (5, "beauty", "Eve", "450", "Chile", 2019, 22, 2015, t1),
    ]
    for ind, category, poster, followers, country, year, age, joined, at in posts:
        ids[f"pin{ind}"] = str(uuid.uuid4())
        archive.add("pin", envelope("pin", pin(ind, category, poster, followers), at, ids[f"pin{ind}"]), at)
        archive.add("geo", envelope("geo", geo(ind, country, year), at), at, partition=ind % 2)
        archive.add("user", envelope("user", user(ind, age, joined), at), at)
    # The archiver uploaded pin 1 twice (another partition, later): one copy survives.
    archive.add("pin", envelope("pin", pin(1, "art", "Ann", "1.5k"), t1, ids["pin1"]), t1, partition=1)
    # Garbage a client sent.
    ids["garbage"] = str(archive.add("pin", '{"event_id": "broken', t0))
    ids["bad_uuid"] = str(uuid.uuid4())
    archive.add("pin", envelope("pin", {**pin(9, "art", "X", "1"), "unique_id": "nope"}, t0, ids["bad_uuid"]), t0)
    archive.add("pin", envelope("geo", geo(10, "Peru", 2020), t0), t0)
    archive.add("geo", envelope("geo", {**geo(11, "Peru", 2020), "timestamp": "never"}, t1), t1)
    archive.add("user", envelope("user", {k: v for k, v in user(12, 30, 2016).items() if k != "ind"}, t1), t1)
    # The last message of the second hour's pin object is stamped after the window end.
    archive.add("pin", envelope("pin", pin(13, "late", "Late", "1"), WINDOW[1] + timedelta(seconds=10)),
                WINDOW[1] + timedelta(seconds=10), hour=H0 + timedelta(hours=1))
    # Another window of the same day.
    at = OTHER[0] + timedelta(minutes=1)
    archive.add("pin", envelope("pin", pin(7, "other", "Olga", "7"), at), at)
    archive.add("geo", envelope("geo", geo(7, "Oman", 2022), at), at)
    archive.add("user", envelope("user", user(7, 33, 2018), at), at)
    return archive, ids


@pytest.fixture(scope="module")
def stack(local_stack, spark_s3):
    """Scratch buckets for this module, the archive uploaded, cleaned up afterwards."""
    from pinpipe.archiver.core import build_s3

    mp = pytest.MonkeyPatch()
    suffix = uuid.uuid4().hex[:8]
    raw_bucket, curated_bucket = f"test-batch-raw-{suffix}", f"test-batch-curated-{suffix}"
    mp.setenv("PINPIPE_S3_RAW_BUCKET", raw_bucket)
    mp.setenv("PINPIPE_S3_CURATED_BUCKET", curated_bucket)
    cfg.clear_cache()
    s3 = build_s3(cfg.s3())
    for bucket in (raw_bucket, curated_bucket):
        s3.create_bucket(Bucket=bucket)
    archive, ids = the_archive()
    archive.upload(s3, raw_bucket)
    from pinpipe.db import engine

    eng = engine()
    try:
        yield {"s3": s3, "raw": raw_bucket, "curated": curated_bucket, "ids": ids, "engine": eng,
               "spark": spark_s3}
    finally:
        with eng.begin() as conn:
            for window in (WINDOW, OTHER, EMPTY):
                conn.execute(text("DELETE FROM quarantine.records WHERE run_id = :r"), {"r": run_id(window)})
                for table in TABLES.values():
                    conn.execute(text(f"DELETE FROM {table.qualified} WHERE window_start = :ws"),
                                 {"ws": window[0]})
        eng.dispose()
        for bucket in (raw_bucket, curated_bucket):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    s3.delete_object(Bucket=bucket, Key=obj["Key"])
            s3.delete_bucket(Bucket=bucket)
        mp.undo()
        cfg.clear_cache()


def without_seconds(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "seconds"}


def run_job(window: tuple[datetime, datetime]) -> dict:
    return batch.main(["--run-id", run_id(window), "--window-start", window[0].isoformat(),
                       "--window-end", window[1].isoformat()])


def curated_rows(spark, bucket: str, record_type: str, window: tuple[datetime, datetime]) -> list:
    """(dt, hour, clean row) of the window's hour folders, sorted."""
    rows = []
    for hour in batch.DataWindow("x", *window).hours():
        folder = batch.hour_folder(f"s3a://{bucket}", record_type, hour)
        if batch.list_files(spark, f"{folder}/*.parquet"):
            rows += [(f"{hour:%Y-%m-%d}", f"{hour:%H}", row) for row in spark.read.parquet(folder).collect()]
    return sorted(rows, key=repr)


def object_listing(s3, bucket: str, prefix: str) -> dict[str, str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def pg_rows(engine, window: tuple[datetime, datetime]) -> dict[str, list]:
    with engine.connect() as conn:
        rows = {"quarantine": sorted(conn.execute(text(
            "SELECT record_type, topic, kafka_partition, kafka_offset, event_id, reason, raw_payload "
            "FROM quarantine.records WHERE path = 'batch' AND run_id = :r"), {"r": run_id(window)}).all())}
        for name, table in TABLES.items():
            rows[name] = sorted(conn.execute(text(
                f"SELECT {', '.join(table.column_names)} FROM {table.qualified} WHERE window_start = :ws"),
                {"ws": window[0]}).all())
    return rows


@pytest.fixture(scope="module")
def runs(stack):
    """The other window first, then the window under test twice; what each left behind."""
    spark, s3 = stack["spark"], stack["s3"]
    other_summary = run_job(OTHER)
    other_prefix = f"pin/dt={OTHER[0]:%Y-%m-%d}/hour={OTHER[0]:%H}/"
    other_before = object_listing(s3, stack["curated"], other_prefix)
    first = run_job(WINDOW)
    first_rows = {t: curated_rows(spark, stack["curated"], t, WINDOW) for t in CLEAN_SCHEMAS}
    first_pg = pg_rows(stack["engine"], WINDOW)
    second = run_job(WINDOW)
    return {
        "other": other_summary, "other_before": other_before,
        "other_after": object_listing(s3, stack["curated"], other_prefix),
        "first": first, "first_rows": first_rows, "first_pg": first_pg,
        "second": second, "second_rows": {t: curated_rows(spark, stack["curated"], t, WINDOW) for t in CLEAN_SCHEMAS},
        "second_pg": pg_rows(stack["engine"], WINDOW),
    }


def test_summary_counts_the_window(runs, stack):
    summary = runs["first"]
    assert summary["raw_rows_by_type"] == {"pin": 9, "geo": 6, "user": 6}
    assert summary["raw_rows"] == 21
    assert summary["duplicates_dropped"] == 1
    assert summary["clean_rows"] == {"pin": 5, "geo": 5, "user": 5}
    assert summary["quarantined"] == {
        "pin": {"malformed_json": 1, "invalid_unique_id": 1, "wrong_record_type": 1},
        "geo": {"invalid_timestamp": 1},
        "user": {"missing_id": 1},
    }
    assert summary["null_rates"]["pin"]["description"] == 1.0
    assert summary["null_rates"]["pin"]["poster_name"] == 0.2
    assert summary["null_rates"]["pin"]["title"] == 0.0
    stored = stack["s3"].get_object(Bucket=stack["curated"], Key=f"_runs/{run_id(WINDOW)}.json")
    stored_summary = json.loads(stored["Body"].read())
    assert stored_summary["run_id"] == run_id(WINDOW)
    assert without_seconds(stored_summary) == without_seconds(runs["second"])


def test_curated_holds_each_clean_event_once_in_its_hour(runs, stack):
    day, h0, h1 = f"{H0:%Y-%m-%d}", f"{H0:%H}", f"{H0 + timedelta(hours=1):%H}"
    assert sorted((r.ind, dt, hour) for dt, hour, r in runs["first_rows"]["pin"]) == [
        (1, day, h0), (2, day, h0), (3, day, h0), (4, day, h1), (5, day, h1),
    ]
    pins = [r for _, _, r in runs["first_rows"]["pin"]]
    assert [r.__fields__ for r in pins[:1]] == [CLEAN_SCHEMAS["pin"].fieldNames()]
    first = next(r for r in pins if r.ind == 1)
    assert first.event_id == stack["ids"]["pin1"]
    assert (first.follower_count, first.description, first.image_src, first.save_location, first.tag_list) == (
        1500, None, None, "/data/art", ["a", "b"])
    fourth = next(r for r in pins if r.ind == 4)
    assert (fourth.poster_name, fourth.follower_count) == (None, None)
    assert sorted(r.ind for _, _, r in runs["first_rows"]["geo"]) == [1, 2, 3, 4, 5]
    assert sorted(r.user_name for _, _, r in runs["first_rows"]["user"]) == [f"First L{i}" for i in range(1, 6)]


def test_a_rerun_gives_identical_output(runs):
    assert runs["second_rows"] == runs["first_rows"]
    assert runs["second_pg"] == runs["first_pg"]
    assert without_seconds(runs["second"]) == without_seconds(runs["first"])


def test_other_windows_of_the_day_are_untouched(runs):
    assert runs["other"]["clean_rows"] == {"pin": 1, "geo": 1, "user": 1}
    assert runs["other_before"]
    assert runs["other_after"] == runs["other_before"]


def test_quarantine_rows_carry_their_reasons(runs, stack):
    rows = runs["first_pg"]["quarantine"]
    assert sorted((r.record_type, r.reason) for r in rows) == [
        ("geo", "invalid_timestamp"), ("pin", "invalid_unique_id"), ("pin", "malformed_json"),
        ("pin", "wrong_record_type"), ("user", "missing_id"),
    ]
    malformed = next(r for r in rows if r.reason == "malformed_json")
    assert (malformed.topic, malformed.kafka_partition, malformed.kafka_offset, malformed.event_id,
            malformed.raw_payload) == ("pinterest.pin", 0, int(stack["ids"]["garbage"]), None, '{"event_id": "broken')
    assert next(r for r in rows if r.reason == "invalid_unique_id").event_id == stack["ids"]["bad_uuid"]


def test_analytics_of_the_window(runs):
    pg = runs["first_pg"]
    assert pg["popular_category_by_country"] == [("Albania", "art", 2), ("Chile", "beauty", 1)]
    assert pg["category_count_by_year"] == [
        (2019, "art", 1), (2019, "beauty", 1), (2020, "art", 1), (2020, "travel", 1), (2021, "travel", 1)]
    assert pg["top_user_by_country"] == [("Albania", "Cid", 3_000_000), ("Chile", "Eve", 450)]
    assert pg["popular_category_by_age_group"] == [
        ("18-24", "art", 1), ("25-35", "art", 1), ("36-50", "travel", 1), ("50+", "travel", 1)]
    assert pg["median_followers_by_age_group"] == [("18-24", 975.0), ("25-35", 20_000.0), ("36-50", 3_000_000.0)]
    assert pg["median_followers_by_join_year"] == [(2015, 975.0), (2016, 1_510_000.0)]


def test_a_window_without_objects_is_empty_not_an_error(stack):
    summary = run_job(EMPTY)
    assert summary["raw_rows"] == 0
    assert summary["clean_rows"] == {"pin": 0, "geo": 0, "user": 0}
    assert summary["quarantined"] == {"pin": {}, "geo": {}, "user": {}}
    assert pg_rows(stack["engine"], EMPTY) == {"quarantine": [], **{name: [] for name in TABLES}}
