"""Stream job: Kafka topics -> cleaning -> Postgres stream.* and quarantine.records, exactly once.

Run with `spark-submit jobs/pinpipe_jobs/stream.py` (the Spark image) or `pinpipe stream run`.

One query with one Kafka source per topic: each record type's branch reads only its topic
and judges each message once (`transform`), the branches are unioned, and foreachBatch
writes the micro-batch to every table in one Postgres transaction. Three queries would pay
three times per trigger what dominates latency on a small machine (planning the batch,
writing the offset and commit files of the checkpoint to S3, scheduling a Spark job, the
Python callback) and compete for the same two cores. The transform lives in the streaming
plan, not in foreachBatch: Spark analyses it once, where building the DataFrames again in
Python for every batch cost about 3 s of CPU each time.

Exactly once: Spark writes a micro-batch's offset range to the checkpoint before running it,
and its commit after foreachBatch returns. A batch without a commit (the process was killed,
or foreachBatch raised) runs again with the same offsets when the query restarts, and the
sink is idempotent (see pg_sink), so a replay writes nothing twice. When Postgres goes away,
the sink retries for `sink_retry_s`; after that foreachBatch raises, the query fails without
committing the batch, and the supervisor loop in `run` restarts it from the checkpoint.

Spark 4.1.1 also fails a query right after it replays an uncommitted batch (SPARK-55271: a
NullPointerException in the Kafka source's progress metrics). The batch is committed by then,
so the supervisor's restart costs a few seconds and loses nothing.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from functools import partial, reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from pinpipe import settings as cfg
from pinpipe.spark import build_session
from pinpipe.stream.settings import StreamSettings, stream
from pinpipe_jobs.cleaning import CLEAN_SCHEMAS, classify_events
from pinpipe_jobs.pg_sink import QUARANTINE_TARGET, PostgresSink

log = logging.getLogger("pinpipe.stream")

# With max_failures=30, an outage of about 12 minutes makes the job give up (exit 1).
MAX_BACKOFF_S = 30.0

# Microseconds and an explicit offset, so Postgres reads back the instant Spark had.
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"


def starting_offsets(setting: str, topic: str) -> str:
    """The startingOffsets of one topic's source: Spark refuses a JSON naming other topics."""
    if not setting.lstrip().startswith("{"):
        return setting
    return json.dumps({topic: json.loads(setting)[topic]})


def extract(spark: SparkSession, kafka: cfg.KafkaSettings, settings: StreamSettings) -> dict[str, DataFrame]:
    """One Kafka source per topic, so each record type's branch reads only its own messages."""
    return {
        record_type: spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets(settings.starting_offsets, topic))
        .option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
        .load()
        .transform(to_raw)
        for record_type, topic in settings.topics().items()
    }


def to_raw(kafka_rows: DataFrame) -> DataFrame:
    """Kafka source rows -> the raw message shape the cleaning module reads (as in the archive)."""
    return kafka_rows.select(
        "topic",
        "partition",
        "offset",
        F.unix_millis("timestamp").alias("timestamp_ms"),
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
    )


def _json(columns: list[Column]) -> Column:
    return F.to_json(F.struct(*columns), {"timestampFormat": TIMESTAMP_FORMAT})


def transform(raw: DataFrame, record_type: str, topic: str | None = None) -> DataFrame:
    """Raw messages -> (target, doc): each message's row for `record_type`'s table or for the
    quarantine, as the JSON the sink COPYs into Postgres.

    `classify_events` judges each message once and one projection writes either half, so a
    message is parsed once; `split_events` would parse it twice, once per half. The quarantine
    columns are the ones `split_classified` selects.

    `topic` names the one topic `raw` came from when that is not the record type's own (a
    scratch topic): the cleaning judges the messages as the record type's, and the quarantine
    keeps the real topic, so that its (topic, partition, offset) key names the message.
    """
    source_topic = F.col("topic")
    if topic is not None and topic != cfg.RECORD_TOPICS[record_type]:
        raw, source_topic = raw.withColumn("topic", F.lit(cfg.RECORD_TOPICS[record_type])), F.lit(topic)
    judged = classify_events(raw, record_type)
    clean = [F.col(name) for name in CLEAN_SCHEMAS[record_type].fieldNames()]
    quarantine = [
        F.lit(record_type).alias("record_type"),
        source_topic.alias("topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("raw_event_id").alias("event_id"),
        F.col("reason"),
        F.col("value").alias("raw_payload"),
    ]
    is_clean = F.col("reason").isNull()
    return judged.select(
        F.when(is_clean, F.lit(record_type)).otherwise(F.lit(QUARANTINE_TARGET)).alias("target"),
        F.when(is_clean, _json(clean)).otherwise(_json(quarantine)).alias("doc"),
    )


def transform_all(raw_by_type: dict[str, DataFrame], topics: dict[str, str] | None = None) -> DataFrame:
    """All record types' (target, doc) rows in one frame: one micro-batch, one sink transaction."""
    topics = topics or {}
    return reduce(DataFrame.unionByName, [transform(raw, rt, topics.get(rt)) for rt, raw in raw_by_type.items()])


def write_batch(sink: PostgresSink, batch: DataFrame, batch_id: int) -> None:
    started = time.monotonic()
    rows = [(row.target, row.doc) for row in batch.collect()]
    collected = time.monotonic()
    inserted = sink.write(rows, run_id=f"stream-batch-{batch_id}")
    log.info("batch %d: %d rows in %.0f ms, written in %.0f ms, inserted %s", batch_id, len(rows),
             (collected - started) * 1000, (time.monotonic() - collected) * 1000, inserted)


def load(docs: DataFrame, sink: PostgresSink, settings: StreamSettings) -> StreamingQuery:
    if settings.micro_batch_tasks:
        docs = docs.coalesce(settings.micro_batch_tasks)
    return (
        docs.writeStream.queryName(settings.query_name)
        .foreachBatch(partial(write_batch, sink))
        .trigger(processingTime=settings.trigger)
        .option("checkpointLocation", settings.checkpoint())
        .start()
    )


def _serve(query: StreamingQuery, stopping: threading.Event, stop_timeout_s: float) -> None:
    """Block until asked to stop (then stop the query between micro-batches) or until it fails."""
    logged = None
    while not stopping.is_set():
        # Short waits keep the main thread free for the SIGTERM handler; a failed query raises here.
        if query.awaitTermination(1):
            return
        progress = query.lastProgress
        if progress and progress["batchId"] != logged and progress["numInputRows"]:
            logged = progress["batchId"]
            log.info("batch %d progress: %d input rows, durations ms %s", logged, progress["numInputRows"],
                     json.dumps(progress["durationMs"], sort_keys=True))
    deadline = time.monotonic() + stop_timeout_s
    while query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.05)
    # A batch still running now is interrupted before its commit and replayed on the next start.
    query.stop()


def run(spark: SparkSession, settings: StreamSettings, stopping: threading.Event) -> bool:
    """The supervisor loop: (re)start the query until stopped. False when it gave up."""
    failures = 0
    while not stopping.is_set():
        sink = PostgresSink(cfg.postgres(), CLEAN_SCHEMAS, settings.sink_retry_s)
        query: StreamingQuery | None = None
        try:
            sink.ensure_tables()
            query = load(transform_all(extract(spark, cfg.kafka(), settings), settings.topics()), sink, settings)
            log.info("query %s started, checkpoint %s", query.id, settings.checkpoint())
            _serve(query, stopping, settings.stop_timeout_s)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the answer is a restart from the checkpoint
            failures = 1 if query is not None and query.lastProgress is not None else failures + 1
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            log.error("stream query failed (%d in a row): %s: %s", failures, type(exc).__name__, message[:500])
            _stop_quietly(query)
            if failures >= settings.max_failures:
                return False
            stopping.wait(min(settings.restart_backoff_s * 2 ** (failures - 1), MAX_BACKOFF_S))
        finally:
            sink.close()
    return True


def _stop_quietly(query: StreamingQuery | None) -> None:
    # Two active queries on one checkpoint would fight over it; the failed one must be gone.
    try:
        if query is not None and query.isActive:
            query.stop()
    except Exception:  # noqa: BLE001 - the restart that follows reports what is wrong
        log.warning("could not stop the failed query", exc_info=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # py4j logs every callback at INFO.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    settings = stream()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    spark = build_session("pinpipe-stream", {
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        # A progress bar per micro-batch would be most of the log.
        "spark.ui.showConsoleProgress": "false",
    })
    try:
        ok = run(spark, settings, stopping)
    finally:
        spark.stop()
    log.info("stream job %s", "stopped" if ok else "gave up")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
