"""The archiver: Kafka topics -> gzip NDJSON objects in the raw bucket, every message once.

Per topic-partition:
1. On assignment the partition stays paused until the archiver knows where to resume: the
   committed offset (or the log start), moved past any object already in the bucket, which a
   crash between an upload and its commit leaves behind (offsets.resume_offset). The new
   position is committed at once, so the committed offsets always tell what is archived.
2. Messages are buffered and cut into chunks at each UTC hour of their Kafka timestamps
   (buffers.PartitionBuffer); a chunk is queued for upload when it is big or old enough.
3. One uploader thread compresses and uploads the chunks in order, so consuming goes on
   meanwhile; after the first failed upload it uploads nothing more (a later chunk in the
   bucket would make a restart skip the failed one). The main thread commits the offset
   after a chunk only once its upload succeeded.
4. On revocation the partition's buffers and queued chunks are dropped, never uploaded: the
   next owner re-reads them from the committed offset and goes through step 1. An upload in
   flight holds the upload lock, which the revocation waits for, so it lands before the next
   owner lists the bucket.

Rebalance callbacks run on kafka-python's IO thread; they take the locks and touch local
state only. Kafka calls (commit, committed, seek...) happen on the main thread without a
lock: a blocking Kafka call under a lock would wait for the IO thread, which may be waiting
for that lock.
"""

from __future__ import annotations

import itertools
import logging
import queue
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from pinpipe import settings as cfg
from pinpipe.archiver import keys, metrics
from pinpipe.archiver.buffers import Chunk, PartitionBuffer
from pinpipe.archiver.offsets import resume_offset
from pinpipe.archiver.settings import ArchiverSettings
from pinpipe.s3 import client as new_s3_client

log = logging.getLogger(__name__)


class UploadFailed(RuntimeError):
    pass


@dataclass
class Stats:
    records: int = 0  # uploaded by this run
    objects: int = 0
    bytes: int = 0
    consumed: int = 0
    skipped: int = 0
    dropped: int = 0
    commit_failures: int = 0
    seconds: float = 0.0
    caught_up: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Partition:
    buffer: PartitionBuffer
    line_template: bytes
    # A fresh number per assignment: chunks queued under an earlier one are stale.
    epoch: int


def build_consumer(settings: ArchiverSettings, kafka: cfg.KafkaSettings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=f"{kafka.client_id}-archiver",
        group_id=settings.group_id,
        group_instance_id=settings.instance_id or None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        allow_auto_create_topics=False,
        max_poll_records=settings.max_poll_records,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
    )


def build_s3(s3: cfg.S3Settings) -> Any:
    return new_s3_client(s3, retries={"mode": "standard", "max_attempts": 5})


def list_archived(s3_client: Any, bucket: str, topic: str) -> list[keys.ObjectRef]:
    """Every archive object of a topic, from its name (one LIST call per 1,000 objects)."""
    refs = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=keys.topic_prefix(topic)):
        for obj in page.get("Contents", []):
            ref = keys.parse_key(obj["Key"])
            if ref is not None:
                refs.append(ref)
    return refs


def _names(tps: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)


class Archiver:
    def __init__(self, settings: ArchiverSettings, consumer: KafkaConsumer, s3_client: Any, bucket: str) -> None:
        self.settings = settings
        self.stats = Stats()
        self._consumer = consumer
        self._s3 = s3_client
        self._bucket = bucket
        self._state = threading.Lock()  # everything below, held briefly and never across IO
        self._upload_lock = threading.Lock()  # held during an upload; a revocation waits for it
        self._owned: dict[TopicPartition, _Partition] = {}
        self._pending: set[TopicPartition] = set()  # assigned, paused, resume offset unknown
        self._uncommitted: dict[TopicPartition, int] = {}  # uploaded, commit not yet acknowledged
        self._targets: dict[TopicPartition, int] = {}  # --until-idle: log end when first seen
        self._epochs = itertools.count()
        # Bounded: when uploads fall behind, consuming waits instead of buffering without end.
        self._queue: queue.Queue[tuple[TopicPartition, int, Chunk] | None] = queue.Queue(maxsize=4)
        self._upload_error: BaseException | None = None
        self._stop = threading.Event()

    # -- rebalance callbacks (kafka-python's IO thread) -------------------------------------

    def _on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        with self._state:
            new = [tp for tp in assigned if tp not in self._owned]
            self._pending.update(new)
            if new:
                self._consumer.pause(*new)
        log.info("assigned %s", _names(assigned))

    def _on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        with self._upload_lock, self._state:
            for tp in revoked:
                self._pending.discard(tp)
                self._uncommitted.pop(tp, None)
                self._targets.pop(tp, None)
                part = self._owned.pop(tp, None)
                if part is not None:
                    self._count_dropped(len(part.buffer))
        log.info("revoked %s", _names(revoked))

    def listener(self) -> ConsumerRebalanceListener:
        archiver = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_assigned(self, assigned):  # noqa: ANN001 - kafka-python's signature
                archiver._on_assigned(assigned)  # noqa: SLF001

            def on_partitions_revoked(self, revoked):  # noqa: ANN001
                archiver._on_revoked(revoked)  # noqa: SLF001

        return Listener()

    def _count_dropped(self, n: int) -> None:
        # Caller holds the state lock.
        self.stats.dropped += n
        metrics.DROPPED.inc(n)

    # -- uploader thread ---------------------------------------------------------------------

    def _upload_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            tp, epoch, chunk = item
            try:
                with self._upload_lock:
                    with self._state:
                        part = self._owned.get(tp)
                        current = self._upload_error is None and part is not None and part.epoch == epoch
                        if not current:
                            self._count_dropped(chunk.records)
                    if current:
                        self._upload(chunk)
                        with self._state:
                            self._uncommitted[tp] = chunk.last_offset + 1
            except Exception as exc:  # noqa: BLE001 - any failure stops all later uploads
                log.exception("upload of %s failed; uploading nothing more", chunk.ref.key)
                with self._state:
                    self._upload_error = exc
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _upload(self, chunk: Chunk) -> None:
        started = time.monotonic()
        body = chunk.body(self.settings.gzip_level)
        ref = chunk.ref
        self._s3.put_object(Bucket=self._bucket, Key=ref.key, Body=body, ContentType="application/gzip")
        metrics.UPLOAD_SECONDS.observe(time.monotonic() - started)
        metrics.ARCHIVED.labels(chunk.topic).inc(chunk.records)
        metrics.OBJECTS.labels(chunk.topic).inc()
        metrics.BYTES.labels(chunk.topic).inc(len(body))
        with self._state:
            self.stats.objects += 1
            self.stats.records += chunk.records
            self.stats.bytes += len(body)
        log.debug("uploaded %s (%d records, %d bytes)", ref.key, chunk.records, len(body))

    # -- main loop ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, until_idle: bool = False) -> Stats:
        """Archive until stop() (or, with until_idle, until the log end seen at assignment)."""
        started = time.monotonic()
        last_log = started
        uploader = threading.Thread(target=self._upload_loop, name="archiver-upload", daemon=True)
        uploader.start()
        self._consumer.subscribe(list(self.settings.topics), listener=self.listener())
        try:
            while not self._stop.is_set():
                self._resolve_pending()
                batch = self._consumer.poll(timeout_ms=self.settings.poll_timeout_ms)
                now = time.monotonic()
                self._enqueue(self._buffer(batch, now) if batch else [])
                self._enqueue(self._due(now))
                self._commit_uploaded()
                if until_idle and self._caught_up():
                    self.stats.caught_up = True
                    break
                if until_idle and now - started > self.settings.until_idle_timeout_s:
                    log.warning("not caught up after %.0f s; stopping", now - started)
                    break
                if now - last_log >= self.settings.log_interval_s:
                    self._log_progress(now - started)
                    last_log = now
            self._enqueue(self._due(time.monotonic(), force=True))
            self._queue.join()
            self._raise_upload_error()
            self._commit_uploaded()
        finally:
            self._queue.put(None)
            uploader.join(timeout=60)
            self.stats.seconds = time.monotonic() - started
        self._log_progress(self.stats.seconds)
        return self.stats

    def _resolve_pending(self) -> None:
        with self._state:
            pending = set(self._pending)
        if not pending:
            return
        starts: dict[TopicPartition, int] = {}
        unknown = []
        for tp in pending:
            committed = self._consumer.committed(tp)
            if committed is None:
                unknown.append(tp)
            else:
                starts[tp] = committed
        if unknown:
            starts.update(self._consumer.beginning_offsets(unknown))
        archived: dict[tuple[str, int], list[keys.ObjectRef]] = defaultdict(list)
        for topic in {tp.topic for tp in pending}:
            for ref in list_archived(self._s3, self._bucket, topic):
                archived[(ref.topic, ref.partition)].append(ref)

        moved: dict[TopicPartition, int] = {}
        with self._state:
            for tp in pending & self._pending:
                position = resume_offset(starts[tp], archived[(tp.topic, tp.partition)])
                self._consumer.seek(tp, position)
                self._owned[tp] = _Partition(
                    PartitionBuffer(tp.topic, tp.partition), keys.line_template(tp.topic, tp.partition),
                    next(self._epochs),
                )
                self._pending.discard(tp)
                self._consumer.resume(tp)
                if position > starts[tp]:
                    moved[tp] = position
                    self.stats.skipped += position - starts[tp]
                    metrics.SKIPPED.labels(tp.topic).inc(position - starts[tp])
                log.info("%s[%d]: resuming at offset %d (committed/start %d)", tp.topic, tp.partition, position, starts[tp])
        if moved:
            log.warning("objects past the committed offsets (a crash between upload and commit): %s",
                        {f"{tp.topic}[{tp.partition}]": off for tp, off in moved.items()})
            self._commit(moved)

    def _buffer(self, batch: dict[TopicPartition, list[Any]], now: float) -> list[tuple[TopicPartition, int, Chunk]]:
        with self._state:
            parts = {tp: self._owned.get(tp) for tp in batch}
        # Encoding is most of the archiver's own work; the state lock stays free meanwhile.
        encoded = {tp: keys.encode_lines(part.line_template, batch[tp]) for tp, part in parts.items() if part}
        sealed = []
        with self._state:
            for tp, lines in encoded.items():
                part = parts[tp]
                if self._owned.get(tp) is not part:  # revoked while encoding
                    continue
                records = batch[tp]
                sealed.extend((tp, part.epoch, c) for c in part.buffer.extend(records, lines, now))
                self.stats.consumed += len(records)
                metrics.CONSUMED.labels(tp.topic).inc(len(records))
        return sealed

    def _due(self, now: float, *, force: bool = False) -> list[tuple[TopicPartition, int, Chunk]]:
        s = self.settings
        sealed = []
        with self._state:
            for tp, part in self._owned.items():
                if force or part.buffer.due(now, max_bytes=s.flush_bytes, max_records=s.flush_records, max_age_s=s.flush_age_s):
                    chunk = part.buffer.seal()
                    if chunk is not None:
                        sealed.append((tp, part.epoch, chunk))
            metrics.BUFFERED.set(sum(len(p.buffer) for p in self._owned.values()))
        return sealed

    def _enqueue(self, chunks: list[tuple[TopicPartition, int, Chunk]]) -> None:
        for item in chunks:
            self._raise_upload_error()
            self._queue.put(item)

    def _raise_upload_error(self) -> None:
        if self._upload_error is not None:
            raise UploadFailed(f"upload to s3://{self._bucket} failed: {self._upload_error}") from self._upload_error

    def _commit_uploaded(self) -> None:
        with self._state:
            offsets = dict(self._uncommitted)
        if offsets:
            self._commit(offsets)

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            self._consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()})
        except KafkaError as exc:
            # The objects are in the bucket: whoever resumes these partitions skips them.
            self.stats.commit_failures += 1
            metrics.COMMIT_FAILURES.inc()
            log.warning("offset commit failed (%s); the next start skips the uploaded objects", exc)
            return
        with self._state:
            for tp, off in offsets.items():
                if self._uncommitted.get(tp) == off:
                    del self._uncommitted[tp]

    def _caught_up(self) -> bool:
        with self._state:
            if self._pending or not self._owned:
                return False
            unknown = [tp for tp in self._owned if tp not in self._targets]
        if unknown:
            ends = self._consumer.end_offsets(unknown)
            with self._state:
                self._targets.update(ends)
        with self._state:
            targets = {tp: self._targets[tp] for tp in self._owned if tp in self._targets}
        return all(self._consumer.position(tp) >= end for tp, end in targets.items())

    def _log_progress(self, elapsed: float) -> None:
        st = self.stats
        log.info(
            "consumed %d, archived %d in %d objects (%.1f MB), skipped %d, dropped %d; %.0f records/s",
            st.consumed, st.records, st.objects, st.bytes / 1e6, st.skipped, st.dropped,
            st.consumed / elapsed if elapsed > 0 else 0.0,
        )


@contextmanager
def _stop_on_signals(archiver: Archiver) -> Iterator[None]:
    """SIGTERM/SIGINT end the loop; the archiver then flushes, commits and exits."""
    def handler(signum: int, _frame: object) -> None:
        log.info("%s: flushing and stopping", signal.Signals(signum).name)
        archiver.stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def archive(
    settings: ArchiverSettings | None = None,
    *,
    until_idle: bool = False,
    handle_signals: bool = False,
) -> Stats:
    """Run the archiver with the configured Kafka, bucket and thresholds."""
    settings = settings or ArchiverSettings()
    s3 = cfg.s3()
    consumer = build_consumer(settings, cfg.kafka())
    archiver = Archiver(settings, consumer, build_s3(s3), s3.raw_bucket)
    try:
        if handle_signals:
            with _stop_on_signals(archiver):
                return archiver.run(until_idle=until_idle)
        return archiver.run(until_idle=until_idle)
    finally:
        # Buffers are flushed and committed by run(); an autocommit here would commit
        # positions of messages that were never uploaded.
        consumer.close(autocommit=False)


def archive_until_idle(settings: ArchiverSettings | None = None, **overrides: Any) -> dict[str, Any]:
    """Archive everything the topics hold now, flush, commit and return the counts."""
    settings = settings or ArchiverSettings()
    if overrides:
        settings = settings.model_copy(update=overrides)
    return archive(settings, until_idle=True).as_dict()
