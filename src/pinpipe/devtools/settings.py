"""Settings of the developer tooling (PINPIPE_HELM_*)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class HelmSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_HELM_", extra="ignore")

    # A helm binary to use instead of the one built into the cache (e.g. one already on PATH).
    binary: str = ""


class SharedSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_", extra="ignore")

    # The folder holding `crds/` (the upstream CRDs tests install); default: ../shared beside the clone.
    shared_dir: str = ""
