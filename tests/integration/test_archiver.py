"""The archiver against the real local Kafka and MinIO: every message archived exactly once.

Each test archives its own topics into its own bucket, so other engineers' traffic on the
pipeline's topics cannot change the counts.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pinpipe import events
from pinpipe import settings as cfg
from pinpipe.archiver import keys
from pinpipe.archiver.offsets import check_ranges

pytestmark = pytest.mark.integration

# `pinpipe archive` without the other components' CLIs: their import errors are not ours.
ARCHIVER = [sys.executable, "-m", "pinpipe.archiver"]
RECORD_TYPES = ("pin", "geo", "user")


@dataclass
class Scratch:
    name: str
    topics: dict[str, str]  # record type -> topic
    bucket: str
    group_id: str

    def env(self, **archiver: object) -> dict[str, str]:
        """Environment of an archiver subprocess working on this scratch space."""
        env = {
            "PINPIPE_ARCHIVER_TOPICS": ",".join(self.topics.values()),
            "PINPIPE_ARCHIVER_GROUP_ID": self.group_id,
            "PINPIPE_ARCHIVER_SESSION_TIMEOUT_MS": "6000",
            "PINPIPE_S3_RAW_BUCKET": self.bucket,
        }
        env.update({f"PINPIPE_ARCHIVER_{k.upper()}": str(v) for k, v in archiver.items()})
        return env


@pytest.fixture
def s3(local_stack):
    from pinpipe.archiver.core import build_s3

    return build_s3(cfg.s3())


@pytest.fixture
def scratch(local_stack, s3):
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    name = f"pinpipe-test-{uuid.uuid4().hex[:8]}"
    topics = {rt: f"{name}.{rt}" for rt in RECORD_TYPES}
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka().bootstrap_servers, client_id="pinpipe-tests")
    admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in topics.values()])
    s3.create_bucket(Bucket=name)
    try:
        yield Scratch(name, topics, name, f"{name}-archiver")
    finally:
        admin.delete_topics(list(topics.values()))
        admin.close()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)


def record(record_type: str, i: int) -> dict:
    if record_type == "pin":
        return {"index": i, "unique_id": str(uuid.uuid4()), "title": f"pin {i}", "category": "art",
                "follower_count": "1.5k", "tag_list": "a,b"}
    if record_type == "geo":
        return {"ind": i, "timestamp": "2026-11-26 10:00:00", "latitude": 1.5, "longitude": -2.25, "country": "X"}
    return {"ind": i, "first_name": "Ann", "last_name": "Lee", "age": 30, "date_joined": "2020-01-01 00:00:00"}


def produce(scratch: Scratch, n: int, *, start: int = 0, duration_s: float = 0.0,
            first_ts_ms: int | None = None, span_ms: int = 0) -> set[str]:
    """n envelopes over the three topics; timestamps spread evenly over `span_ms`."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=cfg.kafka().bootstrap_servers, acks="all", linger_ms=5)
    event_ids = set()
    began = time.monotonic()
    try:
        for j in range(n):
            i = start + j
            rt = RECORD_TYPES[i % 3]
            data = record(rt, i)
            env = events.envelope(rt, data)
            event_ids.add(env["event_id"])
            ts = None if first_ts_ms is None else first_ts_ms + (span_ms * j) // n
            producer.send(scratch.topics[rt], key=events.message_key(rt, data), value=events.encode(env), timestamp_ms=ts)
            if duration_s and j % 200 == 0:
                # Spread the load so that the archiver is killed mid-stream, not after it.
                ahead = began + duration_s * j / n - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close()
    return event_ids


def read_archive(s3, scratch: Scratch) -> tuple[dict[tuple[str, int], list[keys.ObjectRef]], list[dict]]:
    """Every object and every line; asserts what must hold for each object on its own."""
    refs: dict[tuple[str, int], list[keys.ObjectRef]] = defaultdict(list)
    lines: list[dict] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=scratch.bucket):
        for obj in page.get("Contents", []):
            ref = keys.parse_key(obj["Key"])
            assert ref is not None, f"unexpected object {obj['Key']}"
            body = gzip.decompress(s3.get_object(Bucket=scratch.bucket, Key=obj["Key"])["Body"].read())
            rows = [json.loads(line) for line in body.splitlines()]
            assert [r["offset"] for r in rows] == list(range(ref.first_offset, ref.last_offset + 1)), obj["Key"]
            assert {(r["topic"], r["partition"]) for r in rows} == {(ref.topic, ref.partition)}
            # An object never spans two hours: the batch job's window read is exact.
            assert {keys.dt_hour(r["timestamp_ms"]) for r in rows} == {(ref.dt, ref.hour)}, obj["Key"]
            refs[(ref.topic, ref.partition)].append(ref)
            lines.extend(rows)
    return refs, lines


def end_offsets(scratch: Scratch) -> dict[tuple[str, int], int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka().bootstrap_servers, group_id=scratch.group_id,
                             enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in scratch.topics.values() for p in range(3)]
        ends = consumer.end_offsets(tps)
        committed = {tp: consumer.committed(tp) for tp in tps}
    finally:
        consumer.close(autocommit=False)
    assert committed == ends, "committed offsets must reach the log end"
    return {(tp.topic, tp.partition): off for tp, off in ends.items()}


def assert_exactly_once(s3, scratch: Scratch, produced: set[str]) -> int:
    refs, lines = read_archive(s3, scratch)
    for (topic, partition), end in end_offsets(scratch).items():
        report = check_ranges(refs[(topic, partition)])
        assert report.exact, f"{topic}[{partition}]: overlaps {report.overlaps}, holes {report.holes}"
        last = max((r.last_offset for r in refs[(topic, partition)]), default=-1)
        assert last == end - 1, f"{topic}[{partition}]: archived up to {last}, log ends at {end}"
    offsets = Counter((r["topic"], r["partition"], r["offset"]) for r in lines)
    assert max(offsets.values()) == 1
    ids = Counter(json.loads(r["value"])["event_id"] for r in lines)
    assert set(ids) == produced and max(ids.values()) == 1
    return sum(len(v) for v in refs.values())


class Archivers:
    """Archiver subprocesses of one test; whatever is still running at the end is killed."""

    def __init__(self, scratch: Scratch, log_dir: Path, **settings: object) -> None:
        self.env = scratch.env(**settings)
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        path = self.log_dir / f"archiver-{len(self.procs)}.log"
        with path.open("wb") as log:
            proc = subprocess.Popen([*ARCHIVER, *args], env={**os.environ, **self.env},
                                    stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = path
        self.procs.append(proc)
        return proc

    def wait_until_resumed(self, proc: subprocess.Popen, timeout: float = 90.0) -> None:
        """Until the process owns partitions (its signal handlers are in place by then)."""
        deadline = time.monotonic() + timeout
        while "resuming at offset" not in proc.log_path.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, self.logs()
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("archiver-*.log")))

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def archivers(scratch, tmp_path):
    made: list[Archivers] = []

    def make(**settings: object) -> Archivers:
        made.append(Archivers(scratch, tmp_path, **settings))
        return made[-1]

    yield make
    for a in made:
        a.cleanup()


def object_count(s3, scratch: Scratch) -> int:
    return sum(page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=scratch.bucket))


def wait_for_new_objects(s3, scratch: Scratch, run: Archivers, producer: threading.Thread,
                         timeout: float = 90.0) -> None:
    """Until an archiver uploads again; once the producer is done there may be nothing left."""
    before = object_count(s3, scratch)
    deadline = time.monotonic() + timeout
    while object_count(s3, scratch) == before and producer.is_alive():
        assert time.monotonic() < deadline, "no archiver progress\n" + run.logs()
        time.sleep(0.2)


def test_kill_9_mid_stream_and_rebalances_lose_and_duplicate_nothing(s3, scratch, archivers):
    n = 20_000
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    print(f"random seed {seed}")
    # Small objects: many uploads, so the kills land between uploads and commits too.
    run = archivers(flush_records=250, flush_age_s=0.5, log_interval_s=2)
    now_ms = int(time.time() * 1000)
    produced: set[str] = set()
    producer = threading.Thread(target=lambda: produced.update(
        produce(scratch, n, duration_s=60, first_ts_ms=now_ms - 3 * keys.HOUR_MS, span_ms=3 * keys.HOUR_MS)))
    producer.start()

    a = run.start()
    kills = 0
    # A alone, killed and restarted; then A and B together (rebalances), each killed; then A
    # again. Each kill waits for new objects, then a random moment: mid-stream, mid-cycle.
    for step in ("kill A", "start B", "kill A", "kill B", "kill A"):
        if step == "start B":
            b = run.start()
            time.sleep(rng.uniform(1.0, 4.0))
            continue
        wait_for_new_objects(s3, scratch, run, producer)
        time.sleep(rng.uniform(0.0, 1.5))
        victim = b if step == "kill B" else a
        assert victim.poll() is None, run.logs()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills += 1
        if step != "kill B":
            a = run.start()
    producer.join()
    assert kills >= 3 and len(produced) == n

    run.wait_until_resumed(a)
    a.send_signal(signal.SIGTERM)
    assert a.wait(timeout=60) == 0, run.logs()
    idle = run.start("--until-idle")
    assert idle.wait(timeout=300) == 0, run.logs()

    objects = assert_exactly_once(s3, scratch, produced)
    assert objects > 3 * 3 * 3  # several objects per partition and hour


def archive_until_idle(scratch: Scratch, **overrides: object) -> dict:
    """In-process --until-idle run on the scratch topics and bucket."""
    from pinpipe.archiver.core import Archiver, build_consumer, build_s3
    from pinpipe.archiver.settings import ArchiverSettings

    settings = ArchiverSettings(topics=tuple(scratch.topics.values()), group_id=scratch.group_id,
                                session_timeout_ms=6000, **overrides)
    consumer = build_consumer(settings, cfg.kafka())
    try:
        return Archiver(settings, consumer, build_s3(cfg.s3()), scratch.bucket).run(until_idle=True).as_dict()
    finally:
        consumer.close(autocommit=False)


def test_restart_skips_objects_whose_commit_was_lost(s3, scratch):
    """The crash between an upload and its commit, made deterministic: rewind the commits."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    produced = produce(scratch, 3000)
    first = archive_until_idle(scratch, flush_records=100)
    assert first["caught_up"] and first["records"] == 3000 and first["skipped"] == 0

    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka().bootstrap_servers, group_id=scratch.group_id,
                             enable_auto_commit=False)
    tps = [TopicPartition(t, p) for t in scratch.topics.values() for p in range(3)]
    consumer.assign(tps)
    consumer.commit({tp: OffsetAndMetadata(0, "", -1) for tp in tps})
    consumer.close(autocommit=False)

    produced |= produce(scratch, 500, start=3000)
    second = archive_until_idle(scratch, flush_records=100)
    assert second["caught_up"]
    assert (second["skipped"], second["records"]) == (3000, 500)
    assert_exactly_once(s3, scratch, produced)


def metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_flushes_commits_and_exits_0(s3, scratch, archivers):
    port = free_port()
    # Thresholds no test reaches: only the SIGTERM can make it upload.
    run = archivers(flush_records=10**6, flush_age_s=3600, metrics_port=port)
    proc = run.start()
    run.wait_until_resumed(proc)
    produced = produce(scratch, 2000)
    deadline = time.monotonic() + 120
    consumed = 0.0
    while time.monotonic() < deadline and consumed < 2000:
        time.sleep(0.5)
        try:
            consumed = metric(port, "pinpipe_archiver_consumed_records_total")
        except httpx.TransportError:
            assert proc.poll() is None, run.logs()
    assert consumed == 2000, run.logs()
    assert s3.list_objects_v2(Bucket=scratch.bucket).get("KeyCount", 0) == 0

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, run.logs()
    assert_exactly_once(s3, scratch, produced)
