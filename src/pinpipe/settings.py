"""Settings: the one place that reads the environment.

Helm values -> env in the pod spec -> these classes -> code. Locally, `pinpipe local up`
writes two env files into the state folder (endpoints in `local.env`, generated
credentials in `secrets.env`, both git-ignored); real environment variables win over them.
Nothing else in the project reads os.environ.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

TOPICS = ("pinterest.pin", "pinterest.geo", "pinterest.user")
RECORD_TOPICS = {"pin": "pinterest.pin", "geo": "pinterest.geo", "user": "pinterest.user"}
BUCKETS = ("pinterest-raw", "pinterest-curated", "pinterest-checkpoints")
PG_SCHEMAS = ("source", "stream", "analytics", "quarantine")


def _default_state_dir() -> Path:
    # The one read of os.environ outside a settings class: it decides where the env files are.
    explicit = os.environ.get("PINPIPE_STATE_DIR")
    if explicit:
        return Path(explicit).resolve()
    # An editable install (the local stack's case) sits at <repo>/src/pinpipe.
    return Path(__file__).resolve().parents[2] / ".pinpipe"


def state_dir() -> Path:
    return _default_state_dir()


def cache_dir() -> Path:
    """User-level cache shared by every clone: jars, Go binaries, wheels."""
    explicit = os.environ.get("PINPIPE_CACHE_DIR")
    if explicit:
        return Path(explicit).resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pinpipe"


def _env_files() -> tuple[Path, ...]:
    base = state_dir()
    return (base / "local.env", base / "secrets.env")


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_KAFKA_", env_file=_env_files(), extra="ignore")

    bootstrap_servers: str = "127.0.0.1:29092"
    topic_partitions: int = 3
    client_id: str = "pinpipe"


class S3Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_S3_", env_file=_env_files(), extra="ignore")

    endpoint: str = "http://127.0.0.1:29000"
    access_key: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    region: str = "us-east-1"
    raw_bucket: str = "pinterest-raw"
    curated_bucket: str = "pinterest-curated"
    checkpoints_bucket: str = "pinterest-checkpoints"


class PostgresSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_PG_", env_file=_env_files(), extra="ignore")

    host: str = "127.0.0.1"
    port: int = 25432
    database: str = "pinterest"
    user: str = "pinpipe"
    password: SecretStr = SecretStr("")

    def sqlalchemy_url(self) -> str:
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg2",
            username=self.user,
            password=self.password.get_secret_value(),
            host=self.host,
            port=self.port,
            database=self.database,
        ).render_as_string(hide_password=False)

    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"


class SparkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_SPARK_", env_file=_env_files(), extra="ignore")

    master: str = "local[2]"
    # Comma-separated jar paths; empty means "the jars the local stack resolved into the cache".
    jars: str = ""
    driver_memory: str = "2g"
    shuffle_partitions: int = 4
    ui_enabled: bool = False
    log_level: str = "WARN"


class LocalStackSettings(BaseSettings):
    """Ports and switches of the one-machine stack (`pinpipe local`)."""

    model_config = SettingsConfigDict(env_prefix="PINPIPE_LOCAL_", env_file=_env_files(), extra="ignore")

    zookeeper_port: int = 22181
    kafka_port: int = 29092
    minio_port: int = 29000
    minio_console_port: int = 29001
    postgres_port: int = 25432
    api_port: int = 28000
    start_timeout_s: float = Field(default=120.0, gt=0)
    # Tests stop what they started unless this is set (PINPIPE_LOCAL_KEEP_RUNNING=1).
    keep_running: bool = False


@lru_cache(maxsize=1)
def kafka() -> KafkaSettings:
    return KafkaSettings()


@lru_cache(maxsize=1)
def s3() -> S3Settings:
    return S3Settings()


@lru_cache(maxsize=1)
def postgres() -> PostgresSettings:
    return PostgresSettings()


@lru_cache(maxsize=1)
def spark() -> SparkSettings:
    return SparkSettings()


def clear_cache() -> None:
    """Forget loaded settings (after `local up` rewrote the env files, or in tests)."""
    for fn in (kafka, s3, postgres, spark):
        fn.cache_clear()
