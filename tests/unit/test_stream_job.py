"""The stream job's transforms on whole frames: Kafka rows -> raw messages -> rows for Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pyspark.sql.types import BinaryType, IntegerType, LongType, StringType, StructField, StructType, TimestampType
from pyspark.testing import assertSchemaEqual

from pyspark.sql import functions as F

from pinpipe_jobs.cleaning import split_events
from pinpipe_jobs.schemas import RAW_SCHEMA
from pinpipe_jobs.stream import TIMESTAMP_FORMAT, to_raw, transform, transform_all

def assertDataFrameEqual(actual, expected) -> None:  # noqa: N802 - stands in for pyspark's
    """pyspark.testing's whole-frame check (schema, then rows in any order).

    pyspark's own assertDataFrameEqual imports pyspark.pandas, which fails under pandas 3.
    """
    assertSchemaEqual(actual.schema, expected.schema)
    assert sorted(actual.collect(), key=repr) == sorted(expected.collect(), key=repr)


# What Spark's Kafka source produces.
KAFKA_SCHEMA = StructType([
    StructField("key", BinaryType()),
    StructField("value", BinaryType()),
    StructField("topic", StringType()),
    StructField("partition", IntegerType()),
    StructField("offset", LongType()),
    StructField("timestamp", TimestampType()),
    StructField("timestampType", IntegerType()),
])

INGESTED = "2026-11-26T12:00:00.123456Z"
NOON = datetime(2026, 11, 26, 12, tzinfo=UTC)
UUID = "9bf39437-42a6-4f02-99a0-9a0383d8cd70"
PIN = {
    "index": 7528, "unique_id": UUID, "title": "Funny\u0000 animals", "description": "No description available",
    "poster_name": "Ray", "follower_count": "1.5k", "tag_list": "cats,dogs", "is_image_or_video": "image",
    "image_src": "https://i.pinimg.com/a.jpg", "downloaded": 1, "save_location": "Local save in /data/animals",
    "category": "animals",
}
GEO = {"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293,
       "country": "Albania"}
USER = {"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24 11:23:51"}


def envelope(record_type: str, data: dict, event_id: str) -> str:
    return json.dumps({"event_id": event_id, "record_type": record_type, "ingested_at": INGESTED,
                       "idempotency_key": None, "data": data})


def doc(**fields) -> str:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def test_kafka_rows_become_raw_messages(spark):
    kafka = spark.createDataFrame(
        [(b"7528", envelope("pin", PIN, "e-1").encode(), "pinterest.pin", 2, 41, NOON, 0),
         (None, b"\xff garbage", "pinterest.geo", 0, 7, NOON.replace(second=1), 0)],
        KAFKA_SCHEMA,
    )
    expected = spark.createDataFrame(
        [("pinterest.pin", 2, 41, 1_795_694_400_000, "7528", envelope("pin", PIN, "e-1")),
         ("pinterest.geo", 0, 7, 1_795_694_401_000, None, "\ufffd garbage")],
        RAW_SCHEMA,
    )
    assertDataFrameEqual(to_raw(kafka), expected)


def micro_batch(spark):
    bad_uuid = envelope("pin", {**PIN, "unique_id": "not-a-uuid"}, "e-4")
    rows = [("pinterest.pin", 0, 10, 0, "7528", envelope("pin", PIN, "e-1")),
            ("pinterest.geo", 1, 20, 0, "7528", envelope("geo", GEO, "e-2")),
            ("pinterest.user", 2, 30, 0, "7528", envelope("user", USER, "e-3")),
            ("pinterest.pin", 0, 11, 0, "7528", bad_uuid),
            ("pinterest.user", 0, 31, 0, None, "{not json\u0000")]
    return spark.createDataFrame(rows, RAW_SCHEMA), bad_uuid


def test_a_micro_batch_becomes_one_json_row_per_table_row_and_rejection(spark):
    raw, bad_uuid = micro_batch(spark)
    expected = spark.createDataFrame(
        [("pin", doc(event_id="e-1", ingested_at=INGESTED, ind=7528, unique_id=UUID, title="Funny\u0000 animals",
                     poster_name="Ray", follower_count=1500, tag_list=["cats", "dogs"], file_type="image",
                     image_src="https://i.pinimg.com/a.jpg", downloaded=1, save_location="/data/animals",
                     category="animals")),
         ("geo", doc(event_id="e-2", ingested_at=INGESTED, ind=7528, timestamp="2020-08-28T03:52:47.000000Z",
                     coordinates=[-89.9787, -173.293], country="Albania")),
         ("user", doc(event_id="e-3", ingested_at=INGESTED, ind=7528, user_name="Abigail Ali", age=20,
                      date_joined="2015-10-24T11:23:51.000000Z")),
         ("quarantine", doc(record_type="pin", topic="pinterest.pin", kafka_partition=0, kafka_offset=11,
                            event_id="e-4", reason="invalid_unique_id", raw_payload=bad_uuid)),
         ("quarantine", doc(record_type="user", topic="pinterest.user", kafka_partition=0, kafka_offset=31,
                            reason="malformed_json", raw_payload="{not json\u0000"))],
        "target string, doc string",
    )
    assertDataFrameEqual(transform_all(dict.fromkeys(("pin", "geo", "user"), raw)), expected)


def test_one_pass_writes_what_the_cleaning_modules_split_gives(spark):
    raw, _ = micro_batch(spark)
    for record_type in ("pin", "geo", "user"):
        clean, quarantine = split_events(raw, record_type)
        expected = clean.select(F.lit(record_type).alias("target"), F.to_json(
            F.struct("*"), {"timestampFormat": TIMESTAMP_FORMAT}).alias("doc")).unionByName(
            quarantine.select(F.lit("quarantine").alias("target"), F.to_json(F.struct("*")).alias("doc")))
        assertDataFrameEqual(transform(raw, record_type), expected)
