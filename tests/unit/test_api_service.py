"""The API's pure parts: event ids, envelopes, the idempotency cache, producer settings."""

from __future__ import annotations

import json
import uuid

import pytest

from pinpipe import events
from pinpipe import settings as cfg
from pinpipe.api import idempotency, producer, service
from pinpipe.api.schemas import GeoIn
from pinpipe.api.settings import ApiSettings

GEOS = [GeoIn(ind=i, timestamp="2020-08-28T03:52:47", latitude=1.5, longitude=-2.25, country="Zürich, \"CH\"")
        for i in range(3)]


def test_event_ids_are_uuid5_of_key_records_and_position():
    ids = idempotency.derived_event_ids("run-1-geo-0", "f" * 64, 3)
    assert ids == [str(uuid.uuid5(idempotency.EVENT_ID_NAMESPACE, f"run-1-geo-0\n{'f' * 64}\n{i}")) for i in range(3)]
    assert all(uuid.UUID(i).version == 5 for i in ids)
    assert idempotency.derived_event_ids("run-1-geo-0", "f" * 64, 3) == ids
    assert set(idempotency.derived_event_ids("run-2-geo-0", "f" * 64, 3)).isdisjoint(ids)
    assert set(idempotency.derived_event_ids("run-1-geo-0", "e" * 64, 3)).isdisjoint(ids)


def test_fingerprint_binds_type_records_and_order():
    data = service.records_json(GEOS)
    assert idempotency.fingerprint("geo", data) == idempotency.fingerprint("geo", list(data))
    assert idempotency.fingerprint("geo", data) != idempotency.fingerprint("geo", data[::-1])
    assert idempotency.fingerprint("geo", data) != idempotency.fingerprint("user", data)
    assert idempotency.fingerprint("geo", data) != idempotency.fingerprint("geo", data[:2])


@pytest.mark.parametrize("key", ["k-1", None, 'quote"and\\backslash'])
def test_envelopes_match_the_wire_contract(key):
    ids = [str(uuid.uuid4()) for _ in GEOS]
    values = service.encode_envelopes("geo", service.records_json(GEOS), ids, key, "2026-11-26T12:00:00.000001Z")
    for value, geo, event_id in zip(values, GEOS, ids, strict=True):
        expected = events.envelope("geo", geo.model_dump(), idempotency_key=key, event_id=event_id,
                                   ingested_at="2026-11-26T12:00:00.000001Z")
        assert json.loads(value) == json.loads(events.encode(expected))
        assert list(json.loads(value)) == list(expected)


def test_cache_answers_within_ttl_then_forgets():
    now = [0.0]
    cache = idempotency.IdempotencyCache(ttl_s=10, max_keys=100, clock=lambda: now[0])
    cache.put(("pin", "a"), "fp", {"accepted": 1})
    now[0] = 9.9
    assert cache.get(("pin", "a")).response == {"accepted": 1}
    assert cache.get(("geo", "a")) is None
    now[0] = 10.0
    assert cache.get(("pin", "a")) is None


def test_cache_keeps_at_most_max_keys_dropping_the_oldest():
    now = [0.0]
    cache = idempotency.IdempotencyCache(ttl_s=100, max_keys=2, clock=lambda: now[0])
    for i, key in enumerate("abc"):
        now[0] = i
        cache.put(key, "fp", {"n": i})
    assert cache.get("a") is None and cache.get("b") and cache.get("c")
    now[0] = 101.5  # "b" (stored at 1) expired, "c" (at 2) not; a new put sweeps the expired
    cache.put("d", "fp", {})
    assert len(cache) == 2 and cache.get("c") and cache.get("d")


def test_codec_choice():
    assert producer.pick_codec("auto", lambda c: c == "lz4") == "lz4"
    assert producer.pick_codec("auto", lambda c: False) == "gzip"
    assert producer.pick_codec("none", lambda c: False) is None
    with pytest.raises(ValueError, match="zstd"):
        producer.pick_codec("zstd", lambda c: False)


def test_producer_gives_up_before_the_request_does():
    config = producer.producer_config(ApiSettings(produce_timeout_s=3, linger_ms=5), cfg.KafkaSettings())
    assert config["acks"] == "all" and config["enable_idempotence"] is True
    assert config["compression_type"] in ("lz4", "gzip")
    # A record that outlives the request's wait could land after the client heard 503.
    assert config["delivery_timeout_ms"] < 3_000
    # kafka-python refuses a delivery timeout below linger + request timeout.
    assert config["delivery_timeout_ms"] >= config["linger_ms"] + config["request_timeout_ms"]
    assert config["max_block_ms"] <= 3_000


def test_scratch_prefix_renames_every_topic():
    assert producer.topics(ApiSettings(topic_prefix="t1.")) == {
        "pin": "t1.pinterest.pin", "geo": "t1.pinterest.geo", "user": "t1.pinterest.user"}
