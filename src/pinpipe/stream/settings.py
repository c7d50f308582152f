"""Settings of the stream job (PINPIPE_STREAM_*): the one place this package reads the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pinpipe import settings as cfg


class StreamSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PINPIPE_STREAM_",
        env_file=(cfg.state_dir() / "local.env", cfg.state_dir() / "secrets.env"),
        extra="ignore",
    )

    # Spark processing-time trigger. Under load micro-batches run back to back whatever the
    # interval; when idle, "0 seconds" polls Kafka every 10 ms, which cost a third of a core on
    # the 2-core box (500 ms: a tenth) and slowed every other process, for at most 0.5 s saved.
    trigger: str = "500 milliseconds"
    # Caps one micro-batch when the job catches up on a backlog, so latency stays bounded.
    max_offsets_per_trigger: int = Field(default=20_000, gt=0)
    # "earliest", "latest" or Spark's per-partition JSON; only read when the checkpoint is new.
    starting_offsets: str = "earliest"
    # Empty means s3a://<checkpoints bucket>/stream/main on MinIO (or S3).
    checkpoint_location: str = ""
    query_name: str = "pinpipe-stream"
    # Prepended to the topic names, as PINPIPE_API_TOPIC_PREFIX: tests and benchmarks read
    # scratch topics, so that they neither see nor feed the pipeline's real traffic.
    topic_prefix: str = ""
    shuffle_partitions: int = Field(default=2, gt=0)
    # Tasks per micro-batch. The Kafka source makes one task per topic partition (9 here);
    # on a small machine scheduling those costs more than the work in them, so the batch is
    # coalesced to this many tasks (0: one task per partition, Spark's default).
    micro_batch_tasks: int = Field(default=2, ge=0)
    # How long one micro-batch keeps retrying Postgres before it fails the query; the
    # supervisor then restarts the query from the checkpoint.
    sink_retry_s: float = Field(default=30.0, ge=0)
    # First wait before restarting a failed query; doubles with each failure in a row, up to 30 s.
    restart_backoff_s: float = Field(default=2.0, ge=0)
    # Failures in a row without a committed micro-batch before the job gives up (exit 1).
    max_failures: int = Field(default=30, gt=0)
    # On SIGTERM: how long to let the running micro-batch finish before stopping the query.
    stop_timeout_s: float = Field(default=30.0, gt=0)

    def topics(self) -> dict[str, str]:
        """Topic by record type."""
        return {record_type: self.topic_prefix + topic for record_type, topic in cfg.RECORD_TOPICS.items()}

    def checkpoint(self) -> str:
        return self.checkpoint_location or f"s3a://{cfg.s3().checkpoints_bucket}/stream/main"


@lru_cache(maxsize=1)
def stream() -> StreamSettings:
    return StreamSettings()


def env_overrides(overrides: dict[str, object] | None = None) -> dict[str, str]:
    """PINPIPE_STREAM_* variables for a child stream process, from field names.

    Callers write `{"trigger": "1 second"}` and never spell an environment variable.
    """
    env = {}
    for name, value in (overrides or {}).items():
        if name not in StreamSettings.model_fields:
            raise ValueError(f"unknown stream setting {name!r}")
        env[f"PINPIPE_STREAM_{name.upper()}"] = str(value)
    return env
