"""The archiver's pure parts: object names, archive lines, hour cuts, offset bookkeeping."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import NamedTuple

import pytest

from pinpipe import events
from pinpipe.archiver import keys
from pinpipe.archiver.buffers import PartitionBuffer
from pinpipe.archiver.offsets import check_ranges, resume_offset
from pinpipe.archiver.settings import ArchiverSettings


class Rec(NamedTuple):
    """The attributes of kafka-python's ConsumerRecord the archiver reads."""

    offset: int
    timestamp: int
    key: bytes | None = None
    value: bytes | None = None


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def ref(partition: int, first: int, last: int, topic: str = "pinterest.pin") -> keys.ObjectRef:
    return keys.object_ref(topic, partition, first, last, ms("2026-11-26T10:00:00"))


# -- names ---------------------------------------------------------------------------------


def test_object_name_comes_from_the_first_record_timestamp_in_utc():
    r = keys.object_ref("pinterest.geo", 2, 1500, 1999, ms("2026-11-26T09:59:59.999"))
    assert r.key == "topics/pinterest.geo/dt=2026-11-26/hour=09/2-1500-1999.jsonl.gz"


def test_hour_boundaries_are_half_open():
    assert keys.dt_hour(ms("2026-12-31T23:59:59.999")) == ("2026-12-31", 23)
    assert keys.dt_hour(ms("2027-01-01T00:00:00")) == ("2027-01-01", 0)


def test_a_key_parses_back_to_its_object():
    r = keys.object_ref("pinterest.user", 0, 0, 41, ms("2026-11-26T00:30:00"))
    assert keys.parse_key(r.key) == r


@pytest.mark.parametrize("key", [
    "topics/pinterest.pin/dt=2026-11-26/hour=10/0-1-2.json",
    "topics/pinterest.pin/0-1-2.jsonl.gz",
    "_runs/x.json",
    "topics/pinterest.pin/dt=2026-11-26/hour=10/0-1.jsonl.gz",
])
def test_other_keys_are_not_archive_objects(key):
    assert keys.parse_key(key) is None


# -- lines ---------------------------------------------------------------------------------


def test_a_line_is_the_events_contract_with_the_value_undecoded():
    value = events.encode(events.envelope("pin", {"index": 7, "title": 'say "ünïcode" \\ ok'}))
    [line] = keys.encode_lines(keys.line_template("pinterest.pin", 1), [Rec(42, 1764151200123, b"7", value)])
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "topic": "pinterest.pin", "partition": 1, "offset": 42, "timestamp_ms": 1764151200123,
        "key": "7", "value": value.decode(),
    }


def test_a_line_keeps_garbage_and_null_keys():
    [line] = keys.encode_lines(keys.line_template("pinterest.geo", 0), [Rec(0, 1, None, b"\xff{not json")])
    assert json.loads(line)["key"] is None
    assert json.loads(line)["value"] == "\ufffd{not json"


# -- buffers -------------------------------------------------------------------------------


def fill(buf: PartitionBuffer, records: list[Rec], now: float = 0.0):
    return buf.extend(records, [f"line{r.offset}\n".encode() for r in records], now)


def test_a_buffer_is_cut_where_the_hour_changes():
    buf = PartitionBuffer("pinterest.pin", 0)
    stamps = ["2026-11-26T10:59:58", "2026-11-26T10:59:59.999", "2026-11-26T11:00:00", "2026-11-26T11:30:00"]
    [first] = fill(buf, [Rec(100 + i, ms(t)) for i, t in enumerate(stamps)])
    assert (first.first_offset, first.last_offset, first.lines) == (100, 101, [b"line100\n", b"line101\n"])
    assert first.ref.key == "topics/pinterest.pin/dt=2026-11-26/hour=10/0-100-101.jsonl.gz"
    rest = buf.seal()
    assert rest.ref.key == "topics/pinterest.pin/dt=2026-11-26/hour=11/0-102-103.jsonl.gz"
    assert buf.seal() is None


def test_a_cut_carries_over_between_batches():
    buf = PartitionBuffer("pinterest.pin", 0)
    assert fill(buf, [Rec(0, ms("2026-11-26T10:10:00")), Rec(1, ms("2026-11-26T10:20:00"))]) == []
    [sealed] = fill(buf, [Rec(2, ms("2026-11-26T11:00:00"))])
    assert (sealed.first_offset, sealed.last_offset) == (0, 1)
    assert buf.seal().ref.key.endswith("hour=11/0-2-2.jsonl.gz")


def test_timestamps_stepping_back_cut_too():
    buf = PartitionBuffer("pinterest.pin", 0)
    sealed = fill(buf, [Rec(0, ms("2026-11-26T11:00:01")), Rec(1, ms("2026-11-26T10:59:59")),
                        Rec(2, ms("2026-11-26T11:00:02"))])
    assert [(c.ref.hour, c.first_offset, c.last_offset) for c in sealed] == [(11, 0, 0), (10, 1, 1)]
    assert buf.seal().ref.key.endswith("hour=11/0-2-2.jsonl.gz")


@pytest.mark.parametrize(("limits", "now", "due"), [
    ({"max_bytes": 10, "max_records": 100, "max_age_s": 60}, 1.0, True),   # 10 bytes buffered
    ({"max_bytes": 100, "max_records": 5, "max_age_s": 60}, 1.0, True),    # 5 records
    ({"max_bytes": 100, "max_records": 100, "max_age_s": 60}, 61.0, True),  # opened at 1.0
    ({"max_bytes": 100, "max_records": 100, "max_age_s": 60}, 60.0, False),
])
def test_a_buffer_is_due_at_size_count_or_age(limits, now, due):
    buf = PartitionBuffer("pinterest.pin", 0)
    buf.extend([Rec(i, 0) for i in range(5)], [b"ab"] * 5, now=1.0)
    assert buf.due(now, **limits) is due


def test_an_empty_buffer_is_never_due():
    assert not PartitionBuffer("t", 0).due(1e9, max_bytes=1, max_records=1, max_age_s=0.001)


def test_a_chunk_body_is_reproducible_gzip_of_its_lines():
    buf = PartitionBuffer("pinterest.pin", 0)
    fill(buf, [Rec(i, 0) for i in range(3)])
    chunk = buf.seal()
    assert gzip.decompress(chunk.body(1)) == b"line0\nline1\nline2\n"
    assert chunk.body(1) == chunk.body(1)


# -- offsets -------------------------------------------------------------------------------


def test_resume_at_the_committed_offset_when_nothing_is_past_it():
    assert resume_offset(500, [ref(0, 0, 199), ref(0, 200, 499)]) == 500
    assert resume_offset(0, []) == 0


def test_resume_skips_objects_uploaded_but_not_committed():
    # The crash hit after two more uploads and before their commit.
    assert resume_offset(500, [ref(0, 0, 499), ref(0, 500, 620), ref(0, 621, 700)]) == 701


def test_resume_skips_offsets_that_no_message_uses():
    # 621 is a transaction marker: the consumer never returns it, objects skip it.
    assert resume_offset(500, [ref(0, 500, 620), ref(0, 622, 700)]) == 701


def test_check_ranges_finds_overlaps_and_holes():
    assert check_ranges([ref(0, 0, 9), ref(0, 10, 19)]).exact
    report = check_ranges([ref(0, 0, 9), ref(0, 5, 19), ref(0, 30, 39)])
    assert [(a.first_offset, b.first_offset) for a, b in report.overlaps] == [(0, 5)]
    assert report.holes == [(20, 29)]
    assert check_ranges([ref(0, 3, 9)]).holes == [(0, 2)]


# -- settings ------------------------------------------------------------------------------


def test_topics_are_comma_separated_in_the_environment(monkeypatch):
    monkeypatch.setenv("PINPIPE_ARCHIVER_TOPICS", "a.one, b.two,")
    assert ArchiverSettings().topics == ("a.one", "b.two")
    monkeypatch.delenv("PINPIPE_ARCHIVER_TOPICS")
    assert ArchiverSettings().topics == ("pinterest.pin", "pinterest.geo", "pinterest.user")
