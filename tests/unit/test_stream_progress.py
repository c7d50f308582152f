"""Reading the stream job's progress from its checkpoint, without S3 or Kafka."""

from __future__ import annotations

import json

import pytest

from pinpipe.stream.progress import lag, parse_offsets_log, spark_offsets_json

# An offsets/<n> file as Spark 4 writes it for one Kafka source.
OFFSETS_LOG = "\n".join([
    "v1",
    '{"batchWatermarkMs":0,"batchTimestampMs":1764158400000,"conf":{"spark.sql.shuffle.partitions":"2"}}',
    '{"pinterest.geo":{"2":4,"1":0,"0":7},"pinterest.pin":{"0":12}}',
])


def test_offsets_log_gives_the_next_offset_per_partition():
    assert parse_offsets_log(OFFSETS_LOG) == {
        ("pinterest.geo", 0): 7, ("pinterest.geo", 1): 0, ("pinterest.geo", 2): 4, ("pinterest.pin", 0): 12,
    }


def test_a_file_that_is_not_an_offsets_log_is_refused():
    with pytest.raises(ValueError, match="not a Spark streaming offsets log"):
        parse_offsets_log('{"pinterest.pin":{"0":1}}')


def test_lag_counts_uncommitted_messages_and_partitions_not_reached():
    committed = {("pinterest.pin", 0): 10, ("pinterest.pin", 1): 5}
    end = {("pinterest.pin", 0): 12, ("pinterest.pin", 1): 5, ("pinterest.geo", 0): 3}
    assert lag(committed, end) == 2 + 0 + 3
    assert lag({("pinterest.pin", 0): 12}, {("pinterest.pin", 0): 12}) == 0


def test_starting_offsets_json_is_what_spark_reads():
    offsets = {("pinterest.pin", 1): 5, ("pinterest.pin", 0): 10, ("pinterest.user", 0): 0}
    assert json.loads(spark_offsets_json(offsets)) == {"pinterest.pin": {"0": 10, "1": 5}, "pinterest.user": {"0": 0}}
    assert parse_offsets_log(f"v1\n{{}}\n{spark_offsets_json(offsets)}") == offsets
