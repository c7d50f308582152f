"""The one cleaning of Pinterest records, used by the batch job and the stream job.

Input is a frame of raw Kafka messages (`schemas.RAW_SCHEMA`: topic, partition, offset,
timestamp_ms, key, value as text). `split_events(raw, record_type)` looks only at the messages of
that record type's topic, so a caller holding all three topics calls it once per type and every
message is judged exactly once. Each message ends up either clean (`CLEAN_SCHEMAS[record_type]`)
or in quarantine (`QUARANTINE_SCHEMA`) with the first reason that applies, in this order:

- `malformed_json`: the value is missing, not JSON, or not an envelope-shaped object;
- `missing_event_id`: the envelope has no event_id;
- `wrong_record_type`: the envelope's record_type is not the topic's;
- `missing_id`: the pin `index` / geo and user `ind` is absent or not an integer;
- `invalid_unique_id`: the pin unique_id is absent or not a uuid;
- `invalid_timestamp`: a timestamp the record cannot do without is absent or unparseable:
  the envelope's ingested_at for every type, the geo `timestamp` and the user `date_joined`
  (the analytics count by their years; a record without them would be silently miscounted).

Every other field is optional: a placeholder (DESIGN.md's dirty values) or a value that does not
convert becomes null and the record stays clean. Only column expressions and `try_cast`-style
conversions are used: ANSI mode cannot fail on a bad value, and no Python UDF slows a job down.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pinpipe.settings import RECORD_TOPICS
from pinpipe_jobs.schemas import CLEAN_SCHEMAS, CORRUPT_FIELD, QUARANTINE_SCHEMA, envelope_schema

__all__ = [
    "CLEAN_SCHEMAS",
    "QUARANTINE_SCHEMA",
    "REASONS",
    "classify_events",
    "duplicate_copies",
    "mark_duplicates",
    "split_classified",
    "split_events",
    "with_row_ids",
]

REASONS = (
    "malformed_json",
    "missing_event_id",
    "wrong_record_type",
    "missing_id",
    "invalid_unique_id",
    "invalid_timestamp",
)

PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "title": ("No Title Data Available",),
    "description": ("No description available", "No description available Story format"),
    "poster_name": ("User Info Error",),
    "follower_count": ("User Info Error",),
    "tag_list": ("N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",),
    "image_src": ("Image src error.",),
}
# The story-page variant is still a multi-video pin; the suffix describes the page layout, and
# collapsing it to `video` would lose the one distinction the field carries beyond image/video.
FILE_TYPE_ALIASES = {"multi-video(story page format)": "multi-video"}
SAVE_LOCATION_PREFIX = "Local save in "
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# `450`, `1.5k`, `3M`: a decimal number and an optional thousand / million suffix.
FOLLOWER_PATTERN = r"^([0-9]+(?:\.[0-9]+)?)([kKmM]?)$"

_ID_FIELD = {"pin": "index", "geo": "ind", "user": "ind"}
_REQUIRED_TIMESTAMPS = {"pin": (), "geo": ("timestamp",), "user": ("date_joined",)}


def _data(field: str) -> Column:
    return F.col("_env.data").getField(field)


def _without_placeholders(field: str) -> Column:
    value = _data(field)
    return F.when(value.isin(*PLACEHOLDERS[field]), None).otherwise(value)


def _follower_count(text: Column) -> Column:
    trimmed = F.trim(text)
    # One regex evaluation: when it matches, the suffix is the last character or nothing.
    number = F.regexp_extract(trimmed, FOLLOWER_PATTERN, 1).try_cast("decimal(24,6)")
    suffix = F.upper(F.right(trimmed, F.lit(1)))
    multiplier = F.when(suffix == "K", F.lit(1_000)).when(suffix == "M", F.lit(1_000_000)).otherwise(F.lit(1))
    return F.round(F.try_multiply(number, multiplier), 0).try_cast("bigint")


def _tag_list(text: Column) -> Column:
    # The blanks around each comma go first, so the split is on one character (a pattern of
    # more than one character is compiled again for every row); no lambda, so the projection
    # keeps whole-stage code generation. A list of only commas and blanks has no tag.
    tags = F.array_remove(F.split(F.regexp_replace(F.trim(text), " *, *", ","), ","), "")
    return F.when(text.rlike("[^ ,]"), tags)


def _file_type(text: Column) -> Column:
    result = text
    for alias, name in FILE_TYPE_ALIASES.items():
        result = F.when(text == alias, name).otherwise(result)
    return result


def _coordinates(latitude: Column, longitude: Column) -> Column:
    lat, lon = latitude.try_cast("double"), longitude.try_cast("double")
    on_earth = lat.between(-90.0, 90.0) & lon.between(-180.0, 180.0)
    return F.when(on_earth, F.array(lat, lon))


def _user_name(first: Column, last: Column) -> Column:
    name = F.trim(F.concat_ws(" ", F.trim(first), F.trim(last)))
    return F.when(name != "", name)


def _clean_columns(record_type: str) -> list[Column]:
    ind = _data(_ID_FIELD[record_type]).try_cast("int")
    meta = [F.col("_env.event_id").alias("event_id"), F.col("_ingested_at").alias("ingested_at"),
            ind.alias("ind")]
    if record_type == "pin":
        return [
            *meta,
            _data("unique_id").alias("unique_id"),
            _without_placeholders("title").alias("title"),
            _without_placeholders("description").alias("description"),
            _without_placeholders("poster_name").alias("poster_name"),
            _follower_count(_without_placeholders("follower_count")).alias("follower_count"),
            _tag_list(_without_placeholders("tag_list")).alias("tag_list"),
            _file_type(_data("is_image_or_video")).alias("file_type"),
            _without_placeholders("image_src").alias("image_src"),
            _data("downloaded").try_cast("int").alias("downloaded"),
            F.regexp_replace(_data("save_location"), "^" + SAVE_LOCATION_PREFIX, "").alias("save_location"),
            _data("category").alias("category"),
        ]
    if record_type == "geo":
        return [
            *meta,
            _data("timestamp").try_cast("timestamp").alias("timestamp"),
            _coordinates(_data("latitude"), _data("longitude")).alias("coordinates"),
            _data("country").alias("country"),
        ]
    return [
        *meta,
        _user_name(_data("first_name"), _data("last_name")).alias("user_name"),
        _data("age").try_cast("int").alias("age"),
        _data("date_joined").try_cast("timestamp").alias("date_joined"),
    ]


def _reason(record_type: str) -> Column:
    env = F.col("_env")
    event_id = env.getField("event_id")
    reason = (
        F.when(env.isNull() | env.getField(CORRUPT_FIELD).isNotNull(), "malformed_json")
        .when(event_id.isNull() | (F.trim(event_id) == ""), "missing_event_id")
        .when(~env.getField("record_type").eqNullSafe(record_type), "wrong_record_type")
        .when(F.col("ind").isNull(), "missing_id")
    )
    if record_type == "pin":
        reason = reason.when(~F.coalesce(F.col("unique_id").rlike(UUID_PATTERN), F.lit(False)), "invalid_unique_id")
    required = [F.col("ingested_at"), *(F.col(name) for name in _REQUIRED_TIMESTAMPS[record_type])]
    not_parsed = required[0].isNull()
    for column in required[1:]:
        not_parsed = not_parsed | column.isNull()
    return reason.when(not_parsed, "invalid_timestamp")


def classify_events(raw: DataFrame, record_type: str) -> DataFrame:
    """Every message of the record type's topic, judged: its clean columns, its Kafka coordinates
    (topic, partition, offset, timestamp_ms), `raw_event_id`, `reason` (null when clean) and
    `value` (kept for quarantined messages only). A caller that writes both halves can cache
    this frame and use `split_classified`, so each message is parsed once."""
    if record_type not in CLEAN_SCHEMAS:
        raise ValueError(f"unknown record type {record_type!r}; expected one of {sorted(CLEAN_SCHEMAS)}")
    parsed = (
        raw.where(F.col("topic") == RECORD_TOPICS[record_type])
        .withColumn("_env", F.from_json("value", envelope_schema(record_type),
                                        {"columnNameOfCorruptRecord": CORRUPT_FIELD}))
        .withColumn("_ingested_at", F.col("_env.ingested_at").try_cast("timestamp"))
    )
    coordinates = ("topic", "partition", "offset", "timestamp_ms")
    judged = parsed.select(*_clean_columns(record_type), *coordinates, "value", "_env").withColumn(
        "reason", _reason(record_type))
    return judged.select(
        *CLEAN_SCHEMAS[record_type].fieldNames(), *coordinates,
        F.col("_env.event_id").alias("raw_event_id"),
        "reason",
        F.when(F.col("reason").isNotNull(), F.col("value")).alias("value"),
    )


def split_classified(classified: DataFrame, record_type: str) -> tuple[DataFrame, DataFrame]:
    clean = classified.where(F.col("reason").isNull()).select(*CLEAN_SCHEMAS[record_type].fieldNames())
    quarantine = classified.where(F.col("reason").isNotNull()).select(
        F.lit(record_type).alias("record_type"),
        "topic",
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("raw_event_id").alias("event_id"),
        "reason",
        F.col("value").alias("raw_payload"),
    )
    return clean, quarantine


def split_events(raw: DataFrame, record_type: str) -> tuple[DataFrame, DataFrame]:
    """(clean, quarantine) of the messages on `record_type`'s topic; other topics are ignored."""
    return split_classified(classify_events(raw, record_type), record_type)


ROW_ID = "_row_id"


def duplicate_copies(messages: DataFrame, event_id: Column) -> DataFrame:
    """The `_row_id` of every message that repeats an earlier one: one column, few rows.

    The first copy of an event is the one at the lowest (topic, partition, offset); the others
    are copies. A message whose event_id is missing or blank is its own event, keyed by its
    Kafka coordinates, so a message archived twice is still judged once. `messages` needs a
    unique `_row_id` that stays the same in every scan (`with_row_ids` on a cached frame).
    Duplicates are rare (redeliveries): a hash aggregation finds the keys seen more than once,
    and only the rows of those keys are shuffled and ranked; the wide rows are never sorted.
    """
    event_id = F.when(F.trim(event_id) != "", event_id)
    keyed = messages.select(ROW_ID, "topic", "partition", "offset", F.coalesce(
        F.concat(F.lit("e:"), event_id),
        F.concat_ws(":", F.lit("k"), F.col("topic"), F.col("partition").cast("string"), F.col("offset").cast("string")),
    ).alias("_event_key"))
    repeated = F.broadcast(keyed.groupBy("_event_key").count().where(F.col("count") > 1).select("_event_key"))
    first = Window.partitionBy("_event_key").orderBy("topic", "partition", "offset", ROW_ID)
    return (keyed.join(repeated, "_event_key", "left_semi")
            .withColumn("_rank", F.row_number().over(first)).where(F.col("_rank") > 1).select(ROW_ID))


def with_row_ids(messages: DataFrame) -> DataFrame:
    """`messages` with a unique `_row_id`: the same in every scan of one cached frame (it is
    the partition index and the row's position in it)."""
    return messages.withColumn(ROW_ID, F.monotonically_increasing_id())


def mark_duplicates(messages: DataFrame, copies: DataFrame) -> DataFrame:
    """Adds `duplicate` (true for the rows `copies` names) and drops `_row_id`: one broadcast
    hash join, no shuffle of the messages."""
    flagged = copies.select(ROW_ID, F.lit(True).alias("_copy"))
    return (messages.join(F.broadcast(flagged), ROW_ID, "left")
            .withColumn("duplicate", F.col("_copy").isNotNull()).drop("_copy", ROW_ID))
