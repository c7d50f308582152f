"""Running the API for tests and benchmarks: a uvicorn child process on 127.0.0.1, scratch topics.

Scratch topics (a unique prefix before the real names) keep test and benchmark traffic out
of the pipeline's topics, and other people's traffic out of the counts tests make.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pinpipe import settings as cfg
from pinpipe.api.producer import topics
from pinpipe.api.settings import ApiSettings


# One record of each type as the original emulation data has them, every placeholder the
# cleaning handles included: what tests post and validate.
SAMPLE_PIN = {
    "index": 7528, "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf", "title": "No Title Data Available",
    "description": "No description available Story format", "poster_name": "User Info Error",
    "follower_count": "User Info Error", "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
    "is_image_or_video": "multi-video(story page format)", "image_src": "Image src error.", "downloaded": 0,
    "save_location": "Local save in /data/mens-fashion", "category": "mens-fashion",
}
SAMPLE_GEO = {"ind": 7528, "timestamp": "2020-08-28T03:52:47", "latitude": -89.9787, "longitude": -173.293,
              "country": "Albania"}
SAMPLE_USER = {"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20,
               "date_joined": "2015-10-24 11:23:51"}


@dataclass(frozen=True)
class Served:
    url: str
    topics: dict[str, str]
    settings: ApiSettings


@contextmanager
def serving(settings: ApiSettings | None = None) -> Iterator[Served]:
    """The API in a child process, producing to scratch topics made for it and deleted after."""
    settings = (settings or ApiSettings()).model_copy(update={"topic_prefix": scratch_prefix()})
    with scratch_topics(settings) as by_type, running_api(settings) as url:
        yield Served(url, by_type, settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch_prefix() -> str:
    return f"scratch-{uuid.uuid4().hex[:8]}."


@contextmanager
def running_api(settings: ApiSettings, *, port: int | None = None, ready_timeout_s: float = 90.0) -> Iterator[str]:
    """Start `uvicorn --factory pinpipe.api.app:create_app` with `settings`; yield its URL once ready."""
    port = port or free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    log = Path(tempfile.mkstemp(prefix="pinpipe-api-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "pinpipe.api.app:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(settings.workers), "--log-level", "warning", "--no-access-log"],
            env=settings.child_env(), stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log, ready_timeout_s)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.unlink(missing_ok=True)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the API was not ready within {timeout_s:.0f}s:\n{log.read_text()[-3000:]}")


@contextmanager
def scratch_topics(settings: ApiSettings, partitions: int | None = None) -> Iterator[dict[str, str]]:
    """Create the API's topics for `settings` (a scratch prefix), yield them by record type, delete them."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    by_type = topics(settings)
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka().bootstrap_servers.split(","),
                             client_id="pinpipe-scratch-topics")
    try:
        admin.create_topics([NewTopic(t, num_partitions=partitions or cfg.kafka().topic_partitions,
                                      replication_factor=1) for t in by_type.values()])
        yield by_type
    finally:
        try:
            _delete_topics(admin, list(by_type.values()))
        finally:
            admin.close()


def _delete_topics(admin: Any, names: list[str], attempts: int = 10) -> None:
    # Right after a broker restart (the outage test) the controller may refuse for a while.
    from kafka.errors import KafkaError, UnknownTopicOrPartitionError

    for attempt in range(attempts):
        try:
            admin.delete_topics(names)
            return
        except UnknownTopicOrPartitionError:
            return
        except KafkaError as exc:
            if attempt == attempts - 1:
                warnings.warn(f"scratch topics {names} left behind: {exc!r}", stacklevel=2)
                return
            time.sleep(1)


def message_counts(topic_names: Iterable[str]) -> dict[str, int]:
    """Messages ever written per topic: the sum of its partitions' end offsets."""
    consumer = _consumer()
    try:
        return {topic: sum(consumer.end_offsets(_partitions(consumer, topic)).values()) for topic in topic_names}
    finally:
        consumer.close()


def read_all(topic_names: Iterable[str], timeout_s: float = 60.0) -> list[Any]:
    """Every message of the topics, from the start to the current end (kafka-python ConsumerRecords)."""
    consumer = _consumer()
    try:
        partitions = [tp for topic in topic_names for tp in _partitions(consumer, topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(records)} messages, the topics hold more")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def _consumer() -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(bootstrap_servers=cfg.kafka().bootstrap_servers.split(","), enable_auto_commit=False,
                         client_id="pinpipe-api-harness")


def _partitions(consumer: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    deadline = time.monotonic() + 30
    while not (partitions := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no metadata for topic {topic}")
        time.sleep(0.2)
    return [TopicPartition(topic, p) for p in sorted(partitions)]
