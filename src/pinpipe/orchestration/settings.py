"""Settings of the batch orchestration (PINPIPE_BATCH_*): the DAG, its wait and its runner.

The Spark job may read other PINPIPE_BATCH_* variables of its own; the names here are
about scheduling and running it, not about what it computes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OrchestrationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_BATCH_", extra="ignore")

    # kubernetes: a batch request to the PinterestPipeline (k8s_runner, PINPIPE_K8S_* settings).
    runner: Literal["local", "kubernetes"] = "local"
    # One run per data interval of this cron expression (UTC).
    schedule: str = "0 * * * *"
    start_date: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    catchup: bool = True
    max_active_runs: int = Field(default=1, gt=0)
    retries: int = Field(default=2, ge=0)
    retry_delay_s: float = Field(default=60.0, ge=0)

    # The wait: a window is complete when the archiver has committed, on every partition, past
    # the first message stamped at or after the window end (or the log end when there is none
    # yet) and the window closed at least `lateness_s` ago, for producers still in flight.
    lateness_s: float = Field(default=60.0, ge=0)
    # Process a window before it closes, with what is archived so far. The demo uses it: it
    # cannot wait for its hour to end. The run after the window closes replaces the output,
    # because the job replaces the window's partitions; never set it on a scheduler.
    provisional: bool = False
    wait_poke_s: float = Field(default=30.0, gt=0)
    wait_timeout_s: float = Field(default=6 * 3600.0, gt=0)
    # Locally nothing else runs the archiver: the wait runs it until idle before each check.
    # On Kubernetes the archiver Deployment does it.
    drive_archiver: bool = True

    # runner=local: spark-submit is killed after this long.
    job_timeout_s: float = Field(default=3600.0, gt=0)
