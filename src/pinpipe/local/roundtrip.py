"""One round trip through each real service: the proof that the stack works.

Used by `make demo`'s report and by the integration tier.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from pinpipe import settings as cfg

PROBE_TOPIC = "pinpipe.probe"


@dataclass
class Probe:
    service: str
    ok: bool
    detail: str
    seconds: float


def _timed(service: str, fn) -> Probe:
    start = time.monotonic()
    try:
        detail = fn()
        return Probe(service, True, detail, time.monotonic() - start)
    except Exception as exc:  # a probe reports any failure instead of raising
        return Probe(service, False, f"{type(exc).__name__}: {exc}", time.monotonic() - start)


def kafka_roundtrip() -> str:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    bootstrap = cfg.kafka().bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(PROBE_TOPIC, 1, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    payload = uuid.uuid4().hex.encode()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    meta = producer.send(PROBE_TOPIC, payload).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=10000)
    tp = TopicPartition(PROBE_TOPIC, 0)
    consumer.assign([tp])
    consumer.seek(tp, meta.offset)
    got = next(iter(consumer)).value
    consumer.close()
    if got != payload:
        raise AssertionError("consumed a different message than produced")
    return f"produced and consumed offset {meta.offset} of {PROBE_TOPIC}"


def s3_client():
    from pinpipe import s3

    return s3.client(retries={"max_attempts": 3})


def minio_roundtrip() -> str:
    client = s3_client()
    bucket = cfg.s3().raw_bucket
    key = f"_probe/{uuid.uuid4().hex}.txt"
    body = uuid.uuid4().bytes
    client.put_object(Bucket=bucket, Key=key, Body=body)
    try:
        if client.get_object(Bucket=bucket, Key=key)["Body"].read() != body:
            raise AssertionError("read back different bytes")
        listed = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="_probe/").get("Contents", [])]
        if key not in listed:
            raise AssertionError("object missing from listing")
    finally:
        client.delete_object(Bucket=bucket, Key=key)
    return f"put, got and listed s3://{bucket}/{key}"


def postgres_roundtrip() -> str:
    from sqlalchemy import text

    from pinpipe import db

    eng = db.engine()
    try:
        with eng.begin() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            conn.execute(text("CREATE TEMP TABLE probe (v text)"))
            token = uuid.uuid4().hex
            conn.execute(text("INSERT INTO probe VALUES (:v)"), {"v": token})
            if conn.execute(text("SELECT v FROM probe")).scalar_one() != token:
                raise AssertionError("read back a different row")
            schemas = conn.execute(
                text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ANY(:s)"),
                {"s": list(cfg.PG_SCHEMAS)},
            ).scalar_one()
    finally:
        eng.dispose()
    return f"PostgreSQL {version}, {schemas}/{len(cfg.PG_SCHEMAS)} schemas present"


def probes() -> list[Probe]:
    return [
        _timed("kafka", kafka_roundtrip),
        _timed("minio", minio_roundtrip),
        _timed("postgres", postgres_roundtrip),
    ]


def spark_roundtrip(spark) -> str:
    """Batch-read the probe topic from Kafka, write Parquet to MinIO and rows to Postgres
    over JDBC, read both back and compare: the connectors and credentials all work."""
    from pyspark.sql import functions as F

    kafka_roundtrip()  # the topic holds at least one message
    run = uuid.uuid4().hex[:12]
    src = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", cfg.kafka().bootstrap_servers)
        .option("subscribe", PROBE_TOPIC)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
        .select(F.col("partition"), F.col("offset"), F.col("value").cast("string").alias("value"))
    )
    expected = sorted(src.collect())
    path = f"s3a://{cfg.s3().curated_bucket}/_probe/{run}"
    src.write.mode("overwrite").parquet(path)
    from_s3 = sorted(spark.read.parquet(path).collect())

    pg = cfg.postgres()
    table = f"quarantine.probe_{run}"
    jdbc = {"url": pg.jdbc_url(), "user": pg.user, "password": pg.password.get_secret_value(),
            "driver": "org.postgresql.Driver"}
    src.write.format("jdbc").options(dbtable=table, **jdbc).mode("overwrite").save()
    from_pg = sorted(spark.read.format("jdbc").options(dbtable=table, **jdbc).load().collect())

    from sqlalchemy import text

    from pinpipe import db

    eng = db.engine()
    with eng.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    eng.dispose()
    s3c = s3_client()
    for obj in s3c.list_objects_v2(Bucket=cfg.s3().curated_bucket, Prefix=f"_probe/{run}").get("Contents", []):
        s3c.delete_object(Bucket=cfg.s3().curated_bucket, Key=obj["Key"])

    if not (expected == from_s3 == from_pg) or not expected:
        raise AssertionError(f"kafka {len(expected)} rows, parquet {len(from_s3)}, postgres {len(from_pg)} differ")
    return f"{len(expected)} Kafka rows -> s3a Parquet and Postgres JDBC, read back identical"
