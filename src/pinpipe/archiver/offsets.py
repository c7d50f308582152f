"""Offset-range bookkeeping: where to resume, and whether an archive is exact (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pinpipe.archiver.keys import ObjectRef


def resume_offset(start: int, archived: Iterable[ObjectRef]) -> int:
    """The first offset at or after `start` that no object holds yet.

    `start` is the committed offset (or the log start). Objects are uploaded before their
    offsets are committed, so a crash in between leaves objects at and after `start`. A
    partition's chunks are uploaded in the order they were consumed, so everything before the
    end of the last such object is archived, even where offsets skip (transaction markers,
    compaction): resuming there means the next object cannot overlap an existing one.
    """
    return max([start, *(ref.last_offset + 1 for ref in archived if ref.last_offset >= start)])


@dataclass(frozen=True)
class RangeReport:
    """Overlaps and holes between the objects of one topic-partition."""

    overlaps: list[tuple[ObjectRef, ObjectRef]]
    holes: list[tuple[int, int]]  # [first, last] offsets no object holds

    @property
    def exact(self) -> bool:
        return not self.overlaps and not self.holes


def check_ranges(refs: Iterable[ObjectRef], start: int = 0) -> RangeReport:
    """Compare the objects of one topic-partition with a contiguous log from `start`."""
    overlaps: list[tuple[ObjectRef, ObjectRef]] = []
    holes: list[tuple[int, int]] = []
    expected = start
    previous: ObjectRef | None = None
    for ref in sorted(refs, key=lambda r: (r.first_offset, r.last_offset)):
        if ref.first_offset < expected and previous is not None:
            overlaps.append((previous, ref))
        elif ref.first_offset > expected:
            holes.append((expected, ref.first_offset - 1))
        expected = max(expected, ref.last_offset + 1)
        previous = ref
    return RangeReport(overlaps, holes)
