"""Ingestion: validated records -> envelopes -> Kafka, acknowledged before the client hears 202.

A request is all or nothing towards the client: its records are validated together before
anything is sent, then sent together, and the answer is 202 only once the broker has
acknowledged every one of them (acks=all). If any send fails or the acknowledgements do not
arrive within `produce_timeout_s`, the answer is 503 and the client retries.

What a 503 leaves behind: Kafka has no multi-record atomicity outside transactions, so
siblings that were already acknowledged stay in the topic. (Records the producer still
holds when the request gives up are dropped with the producer, see Ingestor._publish; only
a request already on the wire when a broker fails can be written unacknowledged.) The
retry is safe because event ids are not random when the request carries an
Idempotency-Key: they derive from the key, the records and their position, so the retry
produces the *same* event ids and consumers deduplicate on event_id (the batch job's
dedupe, the stream sink's insert keyed on event_id). Within the cache window a retry that
follows a 202 produces nothing at all and gets the first answer back. The cache is per
process: with several uvicorn workers, or after a restart, a retry may be produced again,
with the same event ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import BaseModel

from pinpipe import events
from pinpipe import settings as cfg
from pinpipe.api.idempotency import IdempotencyCache, derived_event_ids, fingerprint
from pinpipe.api.metrics import Metrics
from pinpipe.api.producer import build_producer, close_or_discard, deliver, discard, list_topics, topics
from pinpipe.api.settings import ApiSettings

if TYPE_CHECKING:
    from kafka import KafkaProducer

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """Kafka did not acknowledge the request in time; the client should retry."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key was reused with different records."""


def records_json(records: Sequence[BaseModel]) -> list[str]:
    """Each record as compact JSON (pydantic's serializer: several times faster than json.dumps of a dict)."""
    return [record.model_dump_json() for record in records]


def encode_envelopes(record_type: events.RecordType, data_json: Sequence[str], event_ids: Sequence[str],
                     idempotency_key: str | None, ingested_at: str) -> list[bytes]:
    """Kafka values: the envelope of events.py with each record's JSON spliced in as `data`.

    Same fields, order and separators as events.encode(events.envelope(...)); a unit test
    holds the two to the same parsed JSON.
    """
    head = (f'"record_type":"{record_type}","ingested_at":"{ingested_at}",'
            f'"idempotency_key":{json.dumps(idempotency_key)},"data":')
    return [f'{{"event_id":"{event_id}",{head}{data}}}'.encode()
            for event_id, data in zip(event_ids, data_json, strict=True)]


class Ingestor:
    """What the routes call: owns the producer (once connected) and the idempotency cache."""

    def __init__(self, settings: ApiSettings, kafka: cfg.KafkaSettings, metrics: Metrics) -> None:
        self.settings, self.kafka, self.metrics = settings, kafka, metrics
        self.producer: KafkaProducer | None = None
        self._cache = IdempotencyCache(settings.idempotency_ttl_s, settings.idempotency_max_keys)
        self._in_flight: dict[Hashable, asyncio.Future[None]] = {}
        self._topics = topics(settings)
        self._connecting: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def ingest(self, record_type: events.RecordType, records: Sequence[BaseModel],
                     idempotency_key: str | None) -> tuple[dict[str, Any], bool]:
        """Produce the records; returns (response body, whether it is a replayed answer)."""
        data_json = records_json(records)
        keys = [str(getattr(record, events.ID_FIELD[record_type])).encode() for record in records]
        if idempotency_key is None:
            ids = [str(uuid.uuid4()) for _ in records]
            return await self._publish(record_type, keys, data_json, ids, None), False

        records_fingerprint = fingerprint(record_type, data_json)
        scope = (record_type, idempotency_key)
        # A retry that overtakes its own first attempt waits for it instead of producing twice.
        while (first_attempt := self._in_flight.get(scope)) is not None:
            await asyncio.shield(first_attempt)
        cached = self._cache.get(scope)
        if cached is not None:
            if cached.fingerprint != records_fingerprint:
                self.metrics.rejected.labels("idempotency_conflict").inc()
                raise IdempotencyConflict
            self.metrics.replayed.labels(record_type).inc()
            return cached.response, True

        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[scope] = done
        try:
            ids = derived_event_ids(idempotency_key, records_fingerprint, len(records))
            response = await self._publish(record_type, keys, data_json, ids, idempotency_key)
            self._cache.put(scope, records_fingerprint, response)
            return response, False
        finally:
            del self._in_flight[scope]
            done.set_result(None)

    async def _publish(self, record_type: events.RecordType, keys: list[bytes], data_json: list[str],
                       event_ids: list[str], idempotency_key: str | None) -> dict[str, Any]:
        from kafka.errors import KafkaError

        producer = self.producer
        if producer is None:
            self.metrics.rejected.labels("kafka_unavailable").inc()
            raise BrokerUnavailable("not connected to Kafka yet")
        values = encode_envelopes(record_type, data_json, event_ids, idempotency_key, events.utc_now_iso())
        started = time.perf_counter()
        try:
            await deliver(producer, self._topics[record_type], list(zip(keys, values, strict=True)),
                          self.settings.produce_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            self.metrics.rejected.labels("kafka_unavailable").inc()
            if isinstance(exc, TimeoutError):
                # Our deadline passed with records still held by the producer. Left alone, it
                # would deliver them once the broker is back, behind a 503 whose retry the
                # client has already sent; so drop the producer and everything it holds.
                replacing = asyncio.create_task(self._replace(producer))
                self._background.add(replacing)
                replacing.add_done_callback(self._background.discard)
            raise BrokerUnavailable(f"Kafka did not acknowledge: {type(exc).__name__}") from exc
        self.metrics.produce_seconds.labels(record_type).observe(time.perf_counter() - started)
        self.metrics.accepted.labels(record_type).inc(len(event_ids))
        return {"accepted": len(event_ids), "event_ids": event_ids}

    async def readiness(self) -> dict[str, Any]:
        if self.producer is None:
            return {"ready": False, "reason": "the producer has not connected to Kafka yet"}
        timeout_s = self.settings.readiness_timeout_s
        try:
            with anyio.fail_after(timeout_s + 0.5):
                existing = await anyio.to_thread.run_sync(list_topics, self.kafka, timeout_s, abandon_on_cancel=True)
        except Exception as exc:  # any failure to fetch metadata means "not ready", with the reason
            return {"ready": False, "reason": f"Kafka metadata fetch failed: {type(exc).__name__}"}
        return {"ready": True, "topics": {topic: topic in existing for topic in self._topics.values()}}

    def start(self) -> None:
        """Connect the producer in the background; until then requests get 503 (the API starts regardless)."""
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.create_task(self._connect())

    async def connected(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the producer, so that a worker normally serves with it ready."""
        if self._connecting is not None:
            await asyncio.wait({self._connecting}, timeout=timeout_s)
        return self.producer is not None

    async def _connect(self) -> None:
        while self.producer is None:
            try:
                self.producer = await anyio.to_thread.run_sync(build_producer, self.settings, self.kafka)
            except Exception as exc:  # kafka-python raises several types for "no broker"; all mean retry
                log.warning("Kafka at %s not reachable (%s); retrying in %.1fs", self.kafka.bootstrap_servers,
                            type(exc).__name__, self.settings.producer_retry_s)
                await asyncio.sleep(self.settings.producer_retry_s)

    async def _replace(self, broken: KafkaProducer) -> None:
        if self.producer is not broken:  # a concurrent request already replaced it
            return
        self.producer = None
        await anyio.to_thread.run_sync(discard, broken, self.settings.produce_timeout_s)
        self.start()

    async def aclose(self) -> None:
        """The lifespan's shutdown: deliver what is queued if the broker takes it, then close."""
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.producer is not None:
            await anyio.to_thread.run_sync(close_or_discard, self.producer, self.settings.produce_timeout_s)
            self.producer = None
