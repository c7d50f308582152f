"""Batch windows (pure): run ids, the hours a window covers, and when a window is complete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def as_utc(at: datetime) -> datetime:
    """A plain stdlib datetime in UTC.

    Airflow hands tasks pendulum DateTimes; converted to datetime.timezone.utc, pendulum's
    arithmetic drops the zone (DateTime + timedelta comes back naive).
    """
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: windows are in UTC")
    u = at.astimezone(UTC)
    return datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=UTC)


def to_ms(at: datetime) -> int:
    return int(as_utc(at).timestamp() * 1000)


def run_id_for(start: datetime, end: datetime) -> str:
    """One id per window, so a rerun overwrites its own outputs.

    Lowercase letters, digits and '-': valid in S3 keys, Hadoop paths and Kubernetes names.
    """
    return f"w{as_utc(start):%Y%m%d%H%M}-{as_utc(end):%Y%m%d%H%M}"


def hours_in(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hours overlapping the half-open window [start, end)."""
    start, end = as_utc(start), as_utc(end)
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


@dataclass(frozen=True)
class PartitionProgress:
    """How far the archiver got on one partition, against what the window needs.

    target: the first offset stamped at or after the window end, or the log end when no
    message is that late yet. Everything before it may belong to the window.
    """

    topic: str
    partition: int
    target: int
    committed: int | None

    @property
    def done(self) -> bool:
        return self.committed is not None and self.committed >= self.target

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}] committed {self.committed} < {self.target}"


@dataclass(frozen=True)
class WindowStatus:
    complete: bool
    reason: str


def window_status(
    progress: list[PartitionProgress], *, now: datetime, window_end: datetime, lateness_s: float,
    provisional: bool = False,
) -> WindowStatus:
    """Complete when the window closed `lateness_s` ago and every partition is archived past it.

    Kafka timestamps are the API's accept times, so per partition they rise with the offsets
    up to the producers' in-flight time; `lateness_s` covers that. A window is processed once,
    so calling it complete early would lose data: every check must pass.
    """
    closes = as_utc(window_end) + timedelta(seconds=lateness_s)
    if as_utc(now) < closes and not provisional:
        return WindowStatus(False, f"the window closes for late messages at {closes.isoformat()}")
    if not progress:
        return WindowStatus(False, "no partitions found for the archived topics")
    behind = [p for p in progress if not p.done]
    if behind:
        return WindowStatus(False, "archiver behind: " + ", ".join(str(p) for p in behind))
    return WindowStatus(True, f"all {len(progress)} partitions archived past the window end")
