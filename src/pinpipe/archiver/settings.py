"""Archiver settings (PINPIPE_ARCHIVER_*); Kafka and S3 endpoints come from pinpipe.settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pinpipe.settings import TOPICS


class ArchiverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_ARCHIVER_", extra="ignore")

    group_id: str = "pinpipe-archiver"
    # Comma separated in the environment; tests and the benchmark archive their own topics.
    topics: Annotated[tuple[str, ...], NoDecode] = TOPICS
    # A buffer is uploaded when it holds this many uncompressed bytes or records, or is this old.
    flush_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    flush_records: int = Field(default=100_000, gt=0)
    flush_age_s: float = Field(default=60.0, gt=0)
    # ISA-L's gzip levels (0-3): level 1 compresses the archive's NDJSON to about a tenth at
    # ~0.4 us per 540-byte line, five times faster than zlib's level 1 and a little smaller.
    gzip_level: int = Field(default=1, ge=0, le=3)
    # Newly assigned partitions stay paused until their resume offsets are known (the next
    # loop); a poll with every partition paused idles for its whole timeout, so keep it short.
    poll_timeout_ms: int = Field(default=100, gt=0)
    max_poll_records: int = Field(default=5000, gt=0)
    # A dead member holds its partitions until its session expires; keep that short so a
    # restarted archiver resumes within seconds (the broker's minimum is 6 s).
    session_timeout_ms: int = Field(default=10_000, ge=6000)
    heartbeat_interval_ms: int = Field(default=2000, gt=0)
    # Static membership (KIP-345): a restart with the same id takes its partitions back without
    # a rebalance. Set it to the pod name of a StatefulSet; empty means dynamic membership.
    instance_id: str = ""
    # 0 disables the Prometheus endpoint.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    log_interval_s: float = Field(default=10.0, gt=0)
    # --until-idle gives up after this long (e.g. when another member holds every partition).
    until_idle_timeout_s: float = Field(default=600.0, gt=0)

    @field_validator("topics", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value
