"""The API's Kafka producer: its settings, connecting, delivering with acknowledgements, closing.

One KafkaProducer per process (the app's lifespan owns it). The benchmark's direct
producer uses producer_config() too, so both run with the same acks and compression.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from pinpipe import settings as cfg
from pinpipe.api.settings import ApiSettings

if TYPE_CHECKING:
    from kafka import KafkaProducer


def pick_codec(setting: str, available: Callable[[str], bool]) -> str | None:
    """The producer's compression_type for a setting; `available(codec)` says if kafka-python can use it."""
    if setting == "none":
        return None
    if setting == "auto":
        return "lz4" if available("lz4") else "gzip"
    if not available(setting):
        raise ValueError(f"kafka-python cannot use {setting} compression here: install its codec package")
    return setting


def codec_available(codec: str) -> bool:
    from kafka import codec as kafka_codec

    return getattr(kafka_codec, f"has_{codec}")()


def producer_config(api: ApiSettings, kafka: cfg.KafkaSettings) -> dict[str, Any]:
    """The API's producer settings; the ingest benchmark's direct producer uses the same."""
    timeout_ms = int(api.produce_timeout_s * 1000)
    # A record left in the producer when the request gives up should expire rather than
    # be delivered behind a 503 the client already retried; so the delivery timeout ends
    # a little before the request's own, and each broker request must fit inside it.
    delivery_timeout_ms = max(timeout_ms - 500, api.linger_ms + 200)
    return {
        "bootstrap_servers": kafka.bootstrap_servers.split(","),
        "client_id": f"{kafka.client_id}-api",
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": pick_codec(api.compression, codec_available),
        "linger_ms": api.linger_ms,
        "batch_size": api.batch_size_bytes,
        "delivery_timeout_ms": delivery_timeout_ms,
        "request_timeout_ms": delivery_timeout_ms - api.linger_ms,
        "max_block_ms": timeout_ms,
        "bootstrap_timeout_ms": timeout_ms,
    }


def topics(api: ApiSettings) -> dict[str, str]:
    """Topic by record type."""
    return {record_type: api.topic_prefix + topic for record_type, topic in cfg.RECORD_TOPICS.items()}


def build_producer(api: ApiSettings, kafka: cfg.KafkaSettings) -> KafkaProducer:
    """Connect a producer (raises if no broker answers) and learn our topics' partitions."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    producer = KafkaProducer(**producer_config(api, kafka))
    for topic in topics(api).values():
        try:
            producer.partitions_for(topic)
        except KafkaError:
            # Not fatal: the first send waits for the metadata instead.
            pass
    return producer


async def deliver(producer: KafkaProducer, topic: str, messages: Sequence[tuple[bytes, bytes]],
                  timeout_s: float) -> None:
    """Send every (key, value) and return once the broker acknowledged all of them.

    Raises the first send error, or TimeoutError after `timeout_s`. The sends run in a
    worker thread because KafkaProducer.send blocks while it waits for unknown topic
    metadata; the acknowledgements are awaited on the event loop, holding no thread.
    """
    loop = asyncio.get_running_loop()
    acked: asyncio.Future[None] = loop.create_future()
    pending = len(messages)
    lock = threading.Lock()

    def settle(exc: BaseException | None) -> None:
        if acked.done():
            return
        if exc is None:
            acked.set_result(None)
        else:
            acked.set_exception(exc)

    def signal(exc: BaseException | None) -> None:
        # Runs on kafka-python's sender thread (or on ours when a future is already done).
        if not loop.is_closed():
            loop.call_soon_threadsafe(settle, exc)

    def on_ack(_metadata: Any) -> None:
        nonlocal pending
        with lock:
            pending -= 1
            last = pending == 0
        if last:
            signal(None)

    def send_all() -> None:
        for key, value in messages:
            future = producer.send(topic, key=key, value=value)
            future.add_callback(on_ack)
            future.add_errback(signal)

    with anyio.fail_after(timeout_s):
        await anyio.to_thread.run_sync(send_all, abandon_on_cancel=True)
        await acked


def discard(producer: KafkaProducer, timeout_s: float) -> None:
    """Close a producer without delivering what it still holds.

    kafka-python's close() flushes first and raises when it cannot, so this takes its
    sender's forced path: every queued or unacknowledged batch fails at once and nothing is
    sent later. (A request already on the wire may still have been written: that case is
    what the derived event ids are for.)
    """
    from kafka.errors import KafkaError

    # kafka-python has no public forced close.
    producer._sender.force_close()
    producer._sender.join(timeout_s)
    with contextlib.suppress(KafkaError):
        producer.close(timeout=0)


def close_or_discard(producer: KafkaProducer, timeout_s: float) -> None:
    from kafka.errors import KafkaError

    try:
        producer.close(timeout=timeout_s)
    except KafkaError:
        discard(producer, timeout_s)


def list_topics(kafka: cfg.KafkaSettings, timeout_s: float) -> set[str]:
    """One metadata round trip through a short-lived client; raises if no broker answers."""
    from kafka import KafkaAdminClient

    timeout_ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers.split(","),
                             client_id=f"{kafka.client_id}-api-readiness",
                             bootstrap_timeout_ms=timeout_ms, request_timeout_ms=timeout_ms)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()
