"""Fixtures shared by every tier.

`local_stack` brings the one-machine stack up once per test session (or reuses one that
is already running) and stops at the end only what this session started.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from pinpipe import settings as cfg

# py4j logs every gateway command at DEBUG; a failing Spark test would print thousands of them.
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def local_stack() -> Iterator["object"]:
    from pinpipe.local import stack

    started = stack.ensure_up()
    cfg.clear_cache()
    try:
        yield stack.info()
    finally:
        if started and not stack.keep_running_after_tests():
            stack.down(only=started)


@pytest.fixture(scope="session")
def spark_jars() -> None:
    """Connector jars in the user cache (downloads once, verifies checksums after)."""
    from pinpipe.local import provision

    provision.spark_connector_jars()


@pytest.fixture(scope="session")
def spark(spark_jars):
    """One local SparkSession for the whole test session (pure transforms need no services)."""
    from pinpipe.spark import build_session

    session = build_session("pinpipe-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_s3(spark, local_stack):
    """The same session, pointed at the local stack's MinIO, Kafka and Postgres."""
    from pinpipe.spark import refresh_s3_credentials

    refresh_s3_credentials(spark)
    return spark
