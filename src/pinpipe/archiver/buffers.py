"""Per-partition buffers, cut into chunks at hour, size and age boundaries (pure).

A chunk becomes one object. Its boundaries need not be reproducible after a restart: the
archiver resumes after the last archived offset (offsets.resume_offset), so a chunk never
starts inside an object that already exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from isal import igzip

from pinpipe.archiver.keys import HOUR_MS, ObjectRef, object_ref


@dataclass(frozen=True)
class Chunk:
    """Consecutive lines of one topic-partition from one hour: the content of one object."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    first_timestamp_ms: int
    lines: list[bytes]

    @property
    def ref(self) -> ObjectRef:
        return object_ref(self.topic, self.partition, self.first_offset, self.last_offset, self.first_timestamp_ms)

    @property
    def records(self) -> int:
        return len(self.lines)

    def body(self, level: int) -> bytes:
        # Standard gzip (RFC 1952) from ISA-L, which Spark, DuckDB and zcat read like any other;
        # mtime=0: the same lines always give the same bytes.
        return igzip.compress(b"".join(self.lines), compresslevel=level, mtime=0)


@dataclass
class PartitionBuffer:
    """The lines of one topic-partition not yet uploaded, all from one hour."""

    topic: str
    partition: int
    lines: list[bytes] = field(default_factory=list)
    first_offset: int = -1
    last_offset: int = -1
    first_timestamp_ms: int = 0
    hour: int = 0
    nbytes: int = 0
    opened_at: float = 0.0

    def __len__(self) -> int:
        return len(self.lines)

    def extend(self, records: Sequence[Any], lines: Sequence[bytes], now: float) -> list[Chunk]:
        """Append consecutive records (with .offset and .timestamp) and their lines.

        Returns the chunks closed because a record starts another hour. Kafka timestamps
        are the producers' and may step back, so every change of hour cuts, both ways.
        """
        sealed = []
        hours = [r.timestamp // HOUR_MS for r in records]
        i, n = 0, len(records)
        while i < n:
            hour = hours[i]
            if self.lines and hour != self.hour:
                sealed.append(self.seal())
            if not self.lines:
                self.first_offset = records[i].offset
                self.first_timestamp_ms = records[i].timestamp
                self.hour = hour
                self.opened_at = now
            j = i + 1
            while j < n and hours[j] == hour:
                j += 1
            run = lines[i:j]
            self.lines.extend(run)
            self.nbytes += sum(map(len, run))
            self.last_offset = records[j - 1].offset
            i = j
        return sealed

    def due(self, now: float, *, max_bytes: int, max_records: int, max_age_s: float) -> bool:
        return bool(self.lines) and (
            self.nbytes >= max_bytes or len(self.lines) >= max_records or now - self.opened_at >= max_age_s
        )

    def seal(self) -> Chunk | None:
        """Close the buffer into a chunk (None when empty) and start over."""
        if not self.lines:
            return None
        chunk = Chunk(
            self.topic, self.partition, self.first_offset, self.last_offset, self.first_timestamp_ms, self.lines,
        )
        self.lines = []
        self.nbytes = 0
        return chunk
