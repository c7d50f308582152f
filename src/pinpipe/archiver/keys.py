"""Names and lines of the raw archive (pure).

One object holds consecutive messages of one topic-partition, all from one UTC hour of their
Kafka timestamps:

    topics/<topic>/dt=<YYYY-MM-DD>/hour=<HH>/<partition>-<firstOffset>-<lastOffset>.jsonl.gz

The name is a function of the messages it holds, so uploading the same messages twice writes
the same object, and the offset ranges in the names tell the archiver what is already archived.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

PREFIX = "topics"
HOUR_MS = 3_600_000

_json = msgspec.json.Encoder().encode

_KEY_RE = re.compile(
    r"^topics/(?P<topic>[^/]+)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/"
    r"(?P<partition>\d+)-(?P<first>\d+)-(?P<last>\d+)\.jsonl\.gz$"
)


@dataclass(frozen=True, order=True)
class ObjectRef:
    """An archived object, as its name describes it."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    dt: str
    hour: int

    @property
    def key(self) -> str:
        return (
            f"{hour_prefix(self.topic, self.dt, self.hour)}"
            f"{self.partition}-{self.first_offset}-{self.last_offset}.jsonl.gz"
        )


def hour_of(timestamp_ms: int) -> int:
    """Hours since the epoch: messages with the same value may share an object."""
    return timestamp_ms // HOUR_MS


def dt_hour(timestamp_ms: int) -> tuple[str, int]:
    at = datetime.fromtimestamp(hour_of(timestamp_ms) * 3600, UTC)
    return at.strftime("%Y-%m-%d"), at.hour


def topic_prefix(topic: str) -> str:
    return f"{PREFIX}/{topic}/"


def hour_prefix(topic: str, dt: str, hour: int) -> str:
    return f"{PREFIX}/{topic}/dt={dt}/hour={hour:02d}/"


def object_ref(topic: str, partition: int, first_offset: int, last_offset: int, first_timestamp_ms: int) -> ObjectRef:
    dt, hour = dt_hour(first_timestamp_ms)
    return ObjectRef(topic, partition, first_offset, last_offset, dt, hour)


def parse_key(key: str) -> ObjectRef | None:
    """The object a key names, or None for anything else in the bucket."""
    m = _KEY_RE.match(key)
    if m is None:
        return None
    return ObjectRef(
        m["topic"], int(m["partition"]), int(m["first"]), int(m["last"]), m["dt"], int(m["hour"]),
    )


def line_template(topic: str, partition: int) -> bytes:
    """The format of every line of one topic-partition, with topic and partition filled in.

    Kafka topic names are [a-zA-Z0-9._-]: none carries a '%'.
    """
    return (
        b'{"topic":' + _json(topic) + b',"partition":' + str(partition).encode()
        + b',"offset":%d,"timestamp_ms":%d,"key":%b,"value":%b}\n'
    )


def encode_lines(template: bytes, records: Iterable[Any]) -> list[bytes]:
    """Archive lines (src/pinpipe/events.py), newline-terminated, one per Kafka record.

    `records` have kafka-python's ConsumerRecord attributes offset, timestamp, key, value.
    The archiver's own hot loop (the rest is kafka-python's): msgspec escapes the value
    twice as fast as the json module, and a bytes %-format avoids a dict per record. Garbage
    that is not UTF-8 is archived too (the batch job quarantines it) with replacement
    characters, as Spark's CAST(value AS STRING) shows it to the stream job.
    """
    enc = _json
    return [
        template % (
            r.offset, r.timestamp,
            b"null" if r.key is None else enc(r.key.decode("utf-8", "replace")),
            b"null" if r.value is None else enc(r.value.decode("utf-8", "replace")),
        )
        for r in records
    ]
