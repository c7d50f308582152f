"""The one SparkSession builder: what the original SparkConnector meant to be.

Configured from settings only: the s3a endpoint and credentials for MinIO, the connector
jars resolved once into the cache (never Ivy at run time), the master, ANSI mode on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pinpipe import settings as cfg
from pinpipe.versions import SPARK_CONNECTOR_JARS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


# The batch job's driver uses the throughput collector: it allocates a row's worth of
# short-lived objects for every JSON value it parses, and on two cores G1's concurrent work
# competes with the tasks. A session started from Python passes it as
# spark.driver.extraJavaOptions, spark-submit as --driver-java-options and the operator's
# batch SparkApplication as driver.javaOptions.
BATCH_DRIVER_JAVA_OPTIONS = "-XX:+UseParallelGC"


def connector_jar_dir() -> Path:
    from pinpipe.versions import SPARK_VERSION

    return cfg.cache_dir() / "jars" / f"spark-{SPARK_VERSION}"


def connector_jars() -> list[Path]:
    base = connector_jar_dir()
    return [base / f"{artifact}-{version}.jar" for _group, artifact, version in SPARK_CONNECTOR_JARS]


def spark_conf(spark_settings: cfg.SparkSettings, s3: cfg.S3Settings) -> dict[str, str]:
    """Pure: the Spark configuration for these settings."""
    jars = spark_settings.jars or ",".join(str(p) for p in connector_jars())
    conf = {
        "spark.master": spark_settings.master,
        "spark.driver.memory": spark_settings.driver_memory,
        "spark.sql.shuffle.partitions": str(spark_settings.shuffle_partitions),
        "spark.sql.ansi.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": str(spark_settings.ui_enabled).lower(),
        "spark.jars": jars,
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.hadoop.fs.s3a.endpoint": s3.endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": s3.region,
        "spark.hadoop.fs.s3a.access.key": s3.access_key.get_secret_value(),
        "spark.hadoop.fs.s3a.secret.key": s3.secret_key.get_secret_value(),
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(s3.endpoint.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        # MinIO has no multipart-upload cost worth a magic committer; the classic one is exactly-once
        # per job because partitions are replaced, not appended.
        "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version": "2",
        "spark.sql.parquet.compression.codec": "snappy",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
    }
    if spark_settings.master.startswith("local"):
        # A local driver serves its block manager and RPC to itself only.
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    return conf


def build_session(app_name: str, extra_conf: dict[str, str] | None = None) -> SparkSession:
    from pyspark.sql import SparkSession

    conf = spark_conf(cfg.spark(), cfg.s3())
    conf.update(extra_conf or {})
    if conf["spark.master"].startswith("local"):
        # The JVM reads this before any conf: without it Spark warns that the hostname
        # resolves to a loopback address and picks the first interface instead.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(cfg.spark().log_level)
    return session


def refresh_s3_credentials(session: SparkSession) -> None:
    """Point a running session at the current S3 settings.

    A test session may create Spark before the local stack wrote its credentials; s3a reads
    its configuration when a bucket is first touched, so updating it here is enough.
    """
    conf = spark_conf(cfg.spark(), cfg.s3())
    hadoop_conf = session.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001 - no public API for this
    for key, value in conf.items():
        if key.startswith("spark.hadoop."):
            hadoop_conf.set(key.removeprefix("spark.hadoop."), value)
