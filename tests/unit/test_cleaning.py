"""The cleaning rules of DESIGN.md on whole frames: every dirty value, every quarantine reason."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertSchemaEqual

from pinpipe_jobs.cleaning import duplicate_copies, mark_duplicates, split_events, with_row_ids
from pinpipe_jobs.schemas import CLEAN_SCHEMAS, QUARANTINE_SCHEMA, RAW_SCHEMA

TOPIC = {"pin": "pinterest.pin", "geo": "pinterest.geo", "user": "pinterest.user"}
INGESTED = "2026-11-26T12:00:00.123456Z"
INGESTED_TS = datetime(2026, 11, 26, 12, 0, 0, 123456)
UUID = "9bf39437-42a6-4f02-99a0-9a0383d8cd70"

PIN = {
    "index": 7528, "unique_id": UUID, "title": "Funny animals", "description": "Cats",
    "poster_name": "Ray Uyemura", "follower_count": "450", "tag_list": "cats,dogs",
    "is_image_or_video": "image", "image_src": "https://i.pinimg.com/a.jpg", "downloaded": 1,
    "save_location": "Local save in /data/animals", "category": "animals",
}
GEO = {"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293,
       "country": "Albania"}
USER = {"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20,
        "date_joined": "2015-10-24 11:23:51"}


def assertDataFrameEqual(actual, expected) -> None:  # noqa: N802 - stands in for pyspark's
    """Whole frames equal, row order ignored, nullability ignored: pyspark.testing's check.

    pyspark 4.0.1's own assertDataFrameEqual imports pyspark.pandas, which fails under pandas 3.
    """
    assertSchemaEqual(actual.schema, expected.schema)
    assert sorted(actual.collect(), key=repr) == sorted(expected.collect(), key=repr)


def envelope(record_type: str, data, *, event_id: str | None = "e-1", ingested_at: str = INGESTED,
             declared_type: str | None = None) -> str:
    env = {"event_id": event_id, "record_type": declared_type or record_type, "ingested_at": ingested_at,
           "idempotency_key": None, "data": data}
    return json.dumps(env)


def raw_frame(spark, record_type: str, values: list[str | None], topic: str | None = None):
    rows = [(topic or TOPIC[record_type], 0, offset, 1_764_158_400_000, "7528", value)
            for offset, value in enumerate(values)]
    return spark.createDataFrame(rows, RAW_SCHEMA)


def pin_row(event_id: str = "e-1", **overrides):
    row = {
        "event_id": event_id, "ingested_at": INGESTED_TS, "ind": 7528, "unique_id": UUID,
        "title": "Funny animals", "description": "Cats", "poster_name": "Ray Uyemura",
        "follower_count": 450, "tag_list": ["cats", "dogs"], "file_type": "image",
        "image_src": "https://i.pinimg.com/a.jpg", "downloaded": 1, "save_location": "/data/animals",
        "category": "animals",
    }
    row.update(overrides)
    return tuple(row[name] for name in CLEAN_SCHEMAS["pin"].fieldNames())


def clean_pins(spark, *data_overrides: dict):
    values = [envelope("pin", {**PIN, **over}, event_id=f"e-{i}") for i, over in enumerate(data_overrides)]
    clean, quarantine = split_events(raw_frame(spark, "pin", values), "pin")
    assert quarantine.count() == 0
    return clean


def test_a_clean_pin_is_renamed_typed_and_unprefixed(spark):
    clean = clean_pins(spark, {})
    assertDataFrameEqual(clean, spark.createDataFrame([pin_row("e-0")], CLEAN_SCHEMAS["pin"]))


def test_pin_placeholders_become_null_and_the_row_stays_clean(spark):
    clean = clean_pins(
        spark,
        {"title": "No Title Data Available"},
        {"description": "No description available"},
        {"description": "No description available Story format"},
        {"poster_name": "User Info Error", "follower_count": "User Info Error"},
        {"tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"},
        {"image_src": "Image src error."},
    )
    expected = [
        pin_row("e-0", title=None),
        pin_row("e-1", description=None),
        pin_row("e-2", description=None),
        pin_row("e-3", poster_name=None, follower_count=None),
        pin_row("e-4", tag_list=None),
        pin_row("e-5", image_src=None),
    ]
    assertDataFrameEqual(clean, spark.createDataFrame(expected, CLEAN_SCHEMAS["pin"]))


FOLLOWER_COUNTS = [
    ("450", 450), (450, 450), ("12k", 12_000), ("1.5k", 1_500), ("3M", 3_000_000), ("2.25M", 2_250_000),
    (" 7k ", 7_000), ("0", 0), ("1.0005k", 1_001), ("many", None), ("", None), ("-5", None), (None, None),
    ("k", None), ("99999999999999999999M", None),
]


def test_follower_count_becomes_a_number(spark):
    clean = clean_pins(spark, *({"follower_count": raw} for raw, _ in FOLLOWER_COUNTS))
    expected = [pin_row(f"e-{i}", follower_count=number) for i, (_, number) in enumerate(FOLLOWER_COUNTS)]
    assertDataFrameEqual(clean, spark.createDataFrame(expected, CLEAN_SCHEMAS["pin"]))


def test_tag_list_becomes_a_trimmed_array_without_empty_tags(spark):
    clean = clean_pins(spark, {"tag_list": "a, b ,,c,"}, {"tag_list": "solo"}, {"tag_list": " , "},
                       {"tag_list": None})
    expected = [pin_row("e-0", tag_list=["a", "b", "c"]), pin_row("e-1", tag_list=["solo"]),
                pin_row("e-2", tag_list=None), pin_row("e-3", tag_list=None)]
    assertDataFrameEqual(clean, spark.createDataFrame(expected, CLEAN_SCHEMAS["pin"]))


def test_file_type_save_location_and_downloaded(spark):
    clean = clean_pins(
        spark,
        {"is_image_or_video": "multi-video(story page format)"},
        {"is_image_or_video": "video", "save_location": "/data/already-clean"},
        {"downloaded": "yes", "save_location": None},
        {"downloaded": "0", "save_location": "Local save in /data/Local save in /x"},
    )
    expected = [
        pin_row("e-0", file_type="multi-video"),
        pin_row("e-1", file_type="video", save_location="/data/already-clean"),
        pin_row("e-2", downloaded=None, save_location=None),
        pin_row("e-3", downloaded=0, save_location="/data/Local save in /x"),
    ]
    assertDataFrameEqual(clean, spark.createDataFrame(expected, CLEAN_SCHEMAS["pin"]))


def test_pin_index_may_arrive_as_text(spark):
    clean = clean_pins(spark, {"index": "42"})
    assertDataFrameEqual(clean, spark.createDataFrame([pin_row("e-0", ind=42)], CLEAN_SCHEMAS["pin"]))


def test_geo_becomes_coordinates_and_a_timestamp(spark):
    values = [
        envelope("geo", GEO, event_id="g-0"),
        envelope("geo", {**GEO, "latitude": "12.5", "longitude": "-3", "timestamp": "2020-08-28T03:52:47Z"},
                 event_id="g-1"),
        envelope("geo", {**GEO, "latitude": "north", "country": None}, event_id="g-2"),
        envelope("geo", {**GEO, "latitude": 95.0}, event_id="g-3"),
    ]
    clean, quarantine = split_events(raw_frame(spark, "geo", values), "geo")
    when = datetime(2020, 8, 28, 3, 52, 47)
    expected = [
        ("g-0", INGESTED_TS, 7528, when, [-89.9787, -173.293], "Albania"),
        ("g-1", INGESTED_TS, 7528, when, [12.5, -3.0], "Albania"),
        ("g-2", INGESTED_TS, 7528, when, None, None),
        ("g-3", INGESTED_TS, 7528, when, None, "Albania"),
    ]
    assertDataFrameEqual(clean, spark.createDataFrame(expected, CLEAN_SCHEMAS["geo"]))
    assert quarantine.count() == 0


def test_user_names_join_and_date_joined_becomes_a_timestamp(spark):
    values = [
        envelope("user", USER, event_id="u-0"),
        envelope("user", {**USER, "last_name": None, "age": "unknown"}, event_id="u-1"),
        envelope("user", {**USER, "first_name": " ", "last_name": " "}, event_id="u-2"),
        envelope("user", {**USER, "age": "33"}, event_id="u-3"),
    ]
    clean, _ = split_events(raw_frame(spark, "user", values), "user")
    joined = datetime(2015, 10, 24, 11, 23, 51)
    expected = [
        ("u-0", INGESTED_TS, 7528, "Abigail Ali", 20, joined),
        ("u-1", INGESTED_TS, 7528, "Abigail", None, joined),
        ("u-2", INGESTED_TS, 7528, None, 20, joined),
        ("u-3", INGESTED_TS, 7528, "Abigail Ali", 33, joined),
    ]
    assertDataFrameEqual(clean, spark.createDataFrame(expected, CLEAN_SCHEMAS["user"]))


def quarantine_rows(record_type: str, cases: list[tuple[str | None, str | None, str]]):
    return [(record_type, TOPIC[record_type], 0, offset, event_id, reason, value)
            for offset, (value, event_id, reason) in enumerate(cases)]


def test_pin_quarantine_reasons(spark):
    no_index = {k: v for k, v in PIN.items() if k != "index"}
    no_uuid = {k: v for k, v in PIN.items() if k != "unique_id"}
    cases = [
        ("not json at all", None, "malformed_json"),
        ('{"event_id": "x-1", "data": ', None, "malformed_json"),
        ("[1, 2, 3]", None, "malformed_json"),
        (None, None, "malformed_json"),
        ("", None, "malformed_json"),
        (envelope("pin", "a string, not a record", event_id="x-2"), "x-2", "malformed_json"),
        (envelope("pin", PIN, event_id=None), None, "missing_event_id"),
        (envelope("pin", PIN, event_id="  "), "  ", "missing_event_id"),
        (envelope("pin", PIN, event_id="x-3", declared_type="geo"), "x-3", "wrong_record_type"),
        (envelope("pin", no_index, event_id="x-4"), "x-4", "missing_id"),
        (envelope("pin", {**PIN, "index": "seven"}, event_id="x-5"), "x-5", "missing_id"),
        (envelope("pin", {**PIN, "index": 12.5}, event_id="x-6"), "x-6", "missing_id"),
        (envelope("pin", {**PIN, "unique_id": "not-a-uuid"}, event_id="x-7"), "x-7", "invalid_unique_id"),
        (envelope("pin", no_uuid, event_id="x-8"), "x-8", "invalid_unique_id"),
        (envelope("pin", PIN, event_id="x-9", ingested_at="yesterday"), "x-9", "invalid_timestamp"),
    ]
    clean, quarantine = split_events(raw_frame(spark, "pin", [value for value, _, _ in cases]), "pin")
    assertDataFrameEqual(quarantine, spark.createDataFrame(quarantine_rows("pin", cases), QUARANTINE_SCHEMA))
    assert clean.count() == 0


def test_geo_and_user_quarantine_their_required_timestamps(spark):
    geo_cases = [
        (envelope("geo", {**GEO, "timestamp": "2020-13-45 99:00:00"}, event_id="g-1"), "g-1", "invalid_timestamp"),
        (envelope("geo", {**GEO, "timestamp": None}, event_id="g-2"), "g-2", "invalid_timestamp"),
        (envelope("geo", {**GEO, "ind": None}, event_id="g-3"), "g-3", "missing_id"),
    ]
    user_cases = [
        (envelope("user", {**USER, "date_joined": "last tuesday"}, event_id="u-1"), "u-1", "invalid_timestamp"),
        (envelope("user", {**USER, "ind": "1e3"}, event_id="u-2"), "u-2", "missing_id"),
    ]
    for record_type, cases in (("geo", geo_cases), ("user", user_cases)):
        clean, quarantine = split_events(raw_frame(spark, record_type, [v for v, _, _ in cases]), record_type)
        assertDataFrameEqual(quarantine, spark.createDataFrame(quarantine_rows(record_type, cases),
                                                               QUARANTINE_SCHEMA))
        assert clean.count() == 0


def test_split_judges_only_its_own_topic(spark):
    mixed = raw_frame(spark, "pin", [envelope("pin", PIN, event_id="p")]).unionByName(
        raw_frame(spark, "geo", [envelope("geo", GEO, event_id="g"), "garbage"]))
    pin_clean, pin_quarantine = split_events(mixed, "pin")
    geo_clean, geo_quarantine = split_events(mixed, "geo")
    user_clean, user_quarantine = split_events(mixed, "user")
    assert [r.event_id for r in pin_clean.collect()] == ["p"]
    assert [r.event_id for r in geo_clean.collect()] == ["g"]
    assert [(r.topic, r.reason) for r in geo_quarantine.collect()] == [("pinterest.geo", "malformed_json")]
    assert pin_quarantine.count() == user_clean.count() == user_quarantine.count() == 0


def test_split_refuses_an_unknown_record_type(spark):
    with pytest.raises(ValueError, match="unknown record type"):
        split_events(raw_frame(spark, "pin", []), "board")


def test_dedupe_keeps_the_lowest_kafka_coordinate_of_each_event(spark):
    first = envelope("pin", PIN, event_id="dup")
    rows = [
        ("pinterest.pin", 1, 10, 1, "k", first),
        ("pinterest.pin", 0, 99, 2, "k", envelope("pin", {**PIN, "title": "second copy"}, event_id="dup")),
        ("pinterest.pin", 0, 100, 3, "k", envelope("pin", PIN, event_id="other")),
        ("pinterest.pin", 0, 5, 4, "k", "garbage"),
        ("pinterest.pin", 0, 5, 4, "k", "garbage"),
        ("pinterest.pin", 0, 6, 5, "k", "garbage"),
        ("pinterest.pin", 0, 7, 6, "k", envelope("pin", PIN, event_id="")),
        ("pinterest.pin", 0, 8, 7, "k", envelope("pin", PIN, event_id="")),
    ]
    # As the batch job does it: row ids on a cached frame, the copies found, then marked.
    numbered = with_row_ids(spark.createDataFrame(rows, RAW_SCHEMA)).persist()
    copies = duplicate_copies(numbered, F.get_json_object(F.col("value"), "$.event_id"))
    deduped = mark_duplicates(numbered, copies).where(~F.col("duplicate")).drop("duplicate")
    expected = [rows[1], rows[2], rows[3], rows[5], rows[6], rows[7]]
    assertDataFrameEqual(deduped, spark.createDataFrame(expected, RAW_SCHEMA))
    numbered.unpersist()
