"""Spark schemas of the pipeline's data: raw Kafka messages in, clean records and quarantine out.

The wire formats are documented in `pinpipe.events`; these are their Spark shapes. Every field
of a record's `data` is read as a string: Spark's JSON reader turns a number, an object or a
string into its text, so a client that sends `"index": "12"` or `"index": 12` is parsed the same
way and the conversions happen afterwards with `try_cast`, where a bad value cannot fail the job.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

RECORD_TYPES = ("pin", "geo", "user")

# A raw Kafka message: a line of the raw archive, or a row of the Kafka source cast to text.
RAW_SCHEMA = StructType([
    StructField("topic", StringType(), False),
    StructField("partition", IntegerType(), False),
    StructField("offset", LongType(), False),
    StructField("timestamp_ms", LongType(), True),
    StructField("key", StringType(), True),
    StructField("value", StringType(), True),
])

# The record fields as clients send them (DESIGN.md names).
DATA_FIELDS: dict[str, tuple[str, ...]] = {
    "pin": ("index", "unique_id", "title", "description", "poster_name", "follower_count", "tag_list",
            "is_image_or_video", "image_src", "downloaded", "save_location", "category"),
    "geo": ("ind", "timestamp", "latitude", "longitude", "country"),
    "user": ("ind", "first_name", "last_name", "age", "date_joined"),
}

# from_json fills this field with the message text when it is not an envelope-shaped JSON object.
CORRUPT_FIELD = "_corrupt_record"


def envelope_schema(record_type: str) -> StructType:
    data = StructType([StructField(name, StringType(), True) for name in DATA_FIELDS[record_type]])
    return StructType([
        StructField("event_id", StringType(), True),
        StructField("record_type", StringType(), True),
        StructField("ingested_at", StringType(), True),
        StructField("idempotency_key", StringType(), True),
        StructField("data", data, True),
        StructField(CORRUPT_FIELD, StringType(), True),
    ])


_META = [StructField("event_id", StringType(), False), StructField("ingested_at", TimestampType(), False)]

CLEAN_SCHEMAS: dict[str, StructType] = {
    "pin": StructType([
        *_META,
        StructField("ind", IntegerType(), False),
        StructField("unique_id", StringType(), False),
        StructField("title", StringType(), True),
        StructField("description", StringType(), True),
        StructField("poster_name", StringType(), True),
        StructField("follower_count", LongType(), True),
        StructField("tag_list", ArrayType(StringType(), False), True),
        StructField("file_type", StringType(), True),
        StructField("image_src", StringType(), True),
        StructField("downloaded", IntegerType(), True),
        StructField("save_location", StringType(), True),
        StructField("category", StringType(), True),
    ]),
    "geo": StructType([
        *_META,
        StructField("ind", IntegerType(), False),
        StructField("timestamp", TimestampType(), False),
        StructField("coordinates", ArrayType(DoubleType(), False), True),
        StructField("country", StringType(), True),
    ]),
    "user": StructType([
        *_META,
        StructField("ind", IntegerType(), False),
        StructField("user_name", StringType(), True),
        StructField("age", IntegerType(), True),
        StructField("date_joined", TimestampType(), False),
    ]),
}

QUARANTINE_SCHEMA = StructType([
    StructField("record_type", StringType(), False),
    StructField("topic", StringType(), False),
    StructField("kafka_partition", IntegerType(), False),
    StructField("kafka_offset", LongType(), False),
    StructField("event_id", StringType(), True),
    StructField("reason", StringType(), False),
    StructField("raw_payload", StringType(), True),
])
