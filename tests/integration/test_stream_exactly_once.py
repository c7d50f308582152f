"""The stream job end to end on the real stack: every accepted event once in Postgres, whatever dies.

Events go through the real API (`pinpipe api` in a child process); malformed messages go
straight into Kafka with kafka-python. Both use scratch topics made for the test, so the
assertions are exact: the test's topics hold only the test's messages.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg2
import pytest

from pinpipe import events
from pinpipe import settings as cfg
from pinpipe.api.harness import free_port, scratch_prefix, scratch_topics
from pinpipe.api.settings import ApiSettings
from pinpipe.stream import control, report, run_until_caught_up
from pinpipe.stream.progress import Tracker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

# The machine is shared and a JVM start can take minutes there.
CATCH_UP_S = 1200.0
ENDPOINTS = {"pin": "/v1/pins", "geo": "/v1/geos", "user": "/v1/users"}


def record(record_type: str, i: int, mark: str) -> dict:
    if record_type == "pin":
        return {"index": i, "unique_id": str(uuid.uuid4()), "title": f"{mark} pin {i}", "description": "d",
                "poster_name": "p", "follower_count": "12k", "tag_list": "a,b", "is_image_or_video": "image",
                "image_src": "https://i.pinimg.com/x.jpg", "downloaded": 1,
                "save_location": "Local save in /data/x", "category": "x"}
    if record_type == "geo":
        return {"ind": i, "timestamp": "2021-03-04T05:06:07", "latitude": 1.5, "longitude": -2.5, "country": mark}
    return {"ind": i, "first_name": mark, "last_name": "U", "age": 33, "date_joined": "2019-01-02T03:04:05"}


@dataclass
class Scratch:
    prefix: str
    topics: dict[str, str]
    mark: str = field(default_factory=lambda: uuid.uuid4().hex[:10])


@pytest.fixture
def scratch(local_stack) -> Iterator[Scratch]:
    prefix = scratch_prefix()
    with scratch_topics(ApiSettings(topic_prefix=prefix)) as topics:
        yield Scratch(prefix, topics)


@pytest.fixture
def api(scratch) -> Iterator[str]:
    """`pinpipe api` in a child process, producing to the scratch topics."""
    port = free_port()
    env = ApiSettings(topic_prefix=scratch.prefix, port=port).child_env()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("pinpipe")), "api", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "the API exited"
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API was not ready in 120 s"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass
class Job:
    instance: str
    overrides: dict[str, object]
    tracker: Tracker

    def start(self, wait_s: float = 0.0) -> control.StreamJob:
        return control.start(self.overrides, instance=self.instance, wait_s=wait_s)


@pytest.fixture
def job(scratch) -> Iterator[Job]:
    instance = f"test-{scratch.mark}"
    checkpoint = f"s3a://{cfg.s3().checkpoints_bucket}/stream/{instance}"
    overrides = {"checkpoint_location": checkpoint, "topic_prefix": scratch.prefix, "restart_backoff_s": 1.0}
    with Tracker(checkpoint, scratch.topics.values()) as tracker:
        try:
            yield Job(instance, overrides, tracker)
        finally:
            control.stop(instance)
            tracker.delete()


class Poster:
    """Posts records of every type through the API; keeps the event_ids it got a 202 for."""

    def __init__(self, url: str, mark: str) -> None:
        self._client = httpx.Client(base_url=url, timeout=60)
        self._mark = mark
        self._n = 0
        self.sent: dict[str, set[str]] = {rt: set() for rt in ENDPOINTS}
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def post(self, per_type: int) -> None:
        for record_type, path in ENDPOINTS.items():
            body = [record(record_type, self._n + i, self._mark) for i in range(per_type)]
            self.sent[record_type].update(self._accepted(path, body))
        self._n += per_type

    def _accepted(self, path: str, body: list[dict]) -> list[str]:
        # Other tests on the shared stack restart Kafka now and then: the API answers 503 meanwhile.
        deadline = time.monotonic() + 120
        while True:
            try:
                response = self._client.post(path, json=body)
                if response.status_code == 202:
                    return response.json()["event_ids"]
                assert response.status_code == 503, response.text
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the API refused {path} for 120 s"
            time.sleep(1)

    def __enter__(self) -> Poster:
        """Keep posting in the background until the block ends."""
        def loop() -> None:
            try:
                while not self._halt.wait(0.3):
                    self.post(5)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                self._error = exc

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._halt.set()
        assert self._thread is not None
        self._thread.join(180)
        self._halt.clear()
        if self._error is not None:
            raise self._error


def inject_malformed(topics: dict[str, str], mark: str) -> dict[tuple[str, int, int], tuple[str, str]]:
    """Messages the API would refuse, straight into Kafka: {(topic, partition, offset): (reason, payload)}."""
    from kafka import KafkaProducer

    bad_uuid = events.envelope("pin", {**record("pin", 999_001, mark), "unique_id": f"not-a-uuid-{mark}"})
    wrong_type = events.envelope("user", record("user", 999_002, mark))
    messages = [
        (topics["pin"], f"not json {mark}\x00 at all".encode(), "malformed_json", f"not json {mark} at all"),
        (topics["pin"], events.encode(bad_uuid), "invalid_unique_id", events.encode(bad_uuid).decode()),
        (topics["geo"], events.encode(wrong_type), "wrong_record_type", events.encode(wrong_type).decode()),
        (topics["user"], f'{{"event_id": "{mark}", "data": '.encode(), "malformed_json",
         f'{{"event_id": "{mark}", "data": '),
    ]
    producer = KafkaProducer(bootstrap_servers=cfg.kafka().bootstrap_servers, acks="all")
    try:
        out = {}
        for topic, value, reason, stored in messages:
            meta = producer.send(topic, value=value).get(timeout=60)
            out[(meta.topic, meta.partition, meta.offset)] = (reason, stored)
        return out
    finally:
        producer.close()


def kill_in_flight(job: Job, running: control.StreamJob) -> bool:
    """kill -9 the job's process group while a micro-batch is planned but not committed.

    True when the checkpoint still misses that batch's commit after the kill (the batch
    could also have committed in the moment between the look and the kill).
    """
    deadline = time.monotonic() + CATCH_UP_S
    while True:
        planned, committed = job.tracker.last_batches()
        if planned is not None and (committed is None or planned > committed):
            break
        assert time.monotonic() < deadline, "no micro-batch was ever in flight"
        time.sleep(0.1)
    pid = running.pid
    assert pid is not None, f"the job died on its own:\n{running.log_tail()}"
    os.killpg(pid, signal.SIGKILL)
    while running.pid is not None:
        time.sleep(0.1)
    committed = job.tracker.last_batches()[1]
    return committed is None or committed < planned


def stored_rows(sent: dict[str, set[str]]) -> dict[str, list[str]]:
    pg = cfg.postgres()
    with psycopg2.connect(host=pg.host, port=pg.port, dbname=pg.database, user=pg.user,
                          password=pg.password.get_secret_value()) as conn, conn.cursor() as cur:
        rows = {}
        for record_type, ids in sent.items():
            cur.execute(f'SELECT event_id FROM stream."{record_type}" WHERE event_id = ANY(%s) '
                        "AND written_at >= ingested_at", (list(ids),))
            rows[record_type] = [r[0] for r in cur.fetchall()]
        return rows


def quarantined(topics: dict[str, str]) -> dict[tuple[str, int, int], tuple[str, str]]:
    pg = cfg.postgres()
    with psycopg2.connect(host=pg.host, port=pg.port, dbname=pg.database, user=pg.user,
                          password=pg.password.get_secret_value()) as conn, conn.cursor() as cur:
        cur.execute("SELECT topic, kafka_partition, kafka_offset, reason, raw_payload FROM quarantine.records "
                    "WHERE path = 'stream' AND topic = ANY(%s)", (list(topics.values()),))
        return {(t, p, o): (reason, payload) for t, p, o, reason, payload in cur.fetchall()}


def assert_exactly_once(sent: dict[str, set[str]]) -> None:
    stored = stored_rows(sent)
    for record_type, ids in sent.items():
        assert sorted(stored[record_type]) == sorted(ids), f"{record_type}: stored rows differ from accepted events"


def test_every_event_once_across_kill_9_and_restarts(scratch, api, job):
    poster = Poster(api, scratch.mark)
    poster.post(40)
    malformed = inject_malformed(scratch.topics, scratch.mark)

    running = job.start()
    in_flight = []
    with poster:
        for _ in range(2):
            in_flight.append(kill_in_flight(job, running))
            running = job.start()
        in_flight.append(kill_in_flight(job, running))

    poster.post(40)
    malformed |= inject_malformed(scratch.topics, scratch.mark)
    # The library call the demo uses: start from the checkpoint, catch up, stop.
    result = run_until_caught_up(CATCH_UP_S, job.overrides, job.instance)

    assert control.job(job.instance).pid is None
    assert "stream job stopped" in control.job(job.instance).log_tail(5)
    assert_exactly_once(poster.sent)
    assert quarantined(scratch.topics) == malformed
    ids = set().union(*poster.sent.values())
    assert result.rows["pin"] >= len(poster.sent["pin"]) and result.quarantined["malformed_json"] >= 4
    latency = report(event_ids=ids).latency
    assert latency.count == len(ids)
    assert 0 < latency.p50_s <= latency.p95_s <= latency.p99_s <= latency.max_s
    # A kill between a batch's offsets and its commit makes the restarted job run it again.
    assert any(in_flight), "no kill hit a micro-batch in flight"


def test_postgres_restart_loses_nothing(scratch, api, job):
    from pinpipe.local import stack

    # A short retry, so the outage also fails the query and the supervisor restarts it.
    job.overrides["sink_retry_s"] = 3.0
    poster = Poster(api, scratch.mark)
    poster.post(20)
    running = job.start(wait_s=CATCH_UP_S)
    assert control.STARTED_MARK in running.log_tail(200), "start(wait_s) returns once the query runs"
    control.wait_caught_up(job.tracker, job.tracker.end(), running, CATCH_UP_S)
    pid = running.pid

    with poster:
        time.sleep(3)
        stack.stop_service("postgres")
        try:
            time.sleep(15)
        finally:
            stack.start_service("postgres")
        time.sleep(3)
    poster.post(20)
    malformed = inject_malformed(scratch.topics, scratch.mark)
    control.wait_caught_up(job.tracker, job.tracker.end(), running, CATCH_UP_S)

    assert running.pid == pid, "the job process should survive a Postgres restart"
    log = running.log_file.read_text(errors="replace")
    assert "postgres unavailable" in log and "stream query failed" in log
    assert_exactly_once(poster.sent)
    assert quarantined(scratch.topics) == malformed
    assert control.stop(job.instance)
    assert "stream job stopped" in running.log_tail(5)

