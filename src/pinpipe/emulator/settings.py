"""Emulator settings (PINPIPE_EMULATOR_*): where the API is and how hard to post."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pinpipe.settings import _env_files


class EmulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_EMULATOR_", env_file=_env_files(), extra="ignore")

    api_url: str = "http://127.0.0.1:28000"
    mode: Literal["sequential", "random"] = "random"
    # Target events per second over all clients (a post is three events: pin, geo, user); 0 = as fast as possible.
    rate: float = Field(default=0.0, ge=0)
    concurrency: int = Field(default=8, ge=1)
    # Posts (source rows) to send; with a duration too, whichever ends first.
    count: int | None = Field(default=None, ge=1)
    duration_s: float | None = Field(default=None, gt=0)
    # Posts per request; above 1 the batch endpoints carry that many records of one type.
    batch_size: int = Field(default=1, ge=1, le=500)
    seed: int = 7
    max_retries: int = Field(default=8, ge=0)
    backoff_base_s: float = Field(default=0.1, gt=0)
    backoff_max_s: float = Field(default=5.0, gt=0)
    request_timeout_s: float = Field(default=30.0, gt=0)
    # Source rows read per database round trip.
    page_size: int = Field(default=2_000, ge=1)
