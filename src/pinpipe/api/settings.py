"""API settings (PINPIPE_API_*). Kafka's address comes from the shared KafkaSettings."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pinpipe.settings import _env_files


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_API_", env_file=_env_files(), extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=28000, ge=0, le=65535)
    # Each worker process owns one producer and its own idempotency cache (see service.py).
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"

    # Prepended to the topic names of settings.RECORD_TOPICS: tests and benchmarks use
    # scratch topics so that they neither see nor feed the pipeline's real traffic.
    topic_prefix: str = ""

    max_batch: int = Field(default=500, ge=1, description="Most records in one batch request")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)

    # The longest a request waits for the broker's acknowledgements before answering 503.
    produce_timeout_s: float = Field(default=10.0, gt=0)
    retry_after_s: int = Field(default=2, ge=0, description="Retry-After on 503")
    idempotency_ttl_s: float = Field(default=3600.0, gt=0)
    idempotency_max_keys: int = Field(default=200_000, ge=1)
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    # Delay between attempts to create the producer while the broker is unreachable at startup.
    producer_retry_s: float = Field(default=2.0, gt=0)

    # "auto": lz4 if kafka-python finds the lz4 package, else gzip (always available).
    compression: Literal["auto", "gzip", "lz4", "zstd", "snappy", "none"] = "auto"
    linger_ms: int = Field(default=5, ge=0)
    batch_size_bytes: int = Field(default=256 * 1024, ge=1024)

    def child_env(self) -> dict[str, str]:
        """This process's environment with these settings on top, for an API child process."""
        ours = {f"PINPIPE_API_{name.upper()}": str(value) for name, value in self.model_dump().items()}
        return {**os.environ, **ours}
