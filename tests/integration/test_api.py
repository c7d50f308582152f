"""The ingestion API against the real Kafka of the local stack (scratch topics per module)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from pinpipe.api import harness
from pinpipe.api.harness import SAMPLE_GEO as GEO
from pinpipe.api.harness import SAMPLE_PIN as PIN
from pinpipe.api.harness import SAMPLE_USER as USER
from pinpipe.api.settings import ApiSettings

pytestmark = pytest.mark.integration

RECORDS = {"pin": ("/v1/pins", PIN, "index"), "geo": ("/v1/geos", GEO, "ind"), "user": ("/v1/users", USER, "ind")}
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def api(local_stack):
    with harness.serving(ApiSettings(max_body_bytes=MAX_BODY, max_batch=50, produce_timeout_s=5)) as served:
        yield served


@pytest.fixture
def client(api):
    with httpx.Client(base_url=api.url, timeout=30) as c:
        yield c


def _total(api) -> int:
    return sum(harness.message_counts(api.topics.values()).values())


def _messages(api, record_type: str) -> dict[str, tuple[bytes, dict]]:
    return {json.loads(m.value)["event_id"]: (m.key, json.loads(m.value))
            for m in harness.read_all([api.topics[record_type]])}


@pytest.mark.parametrize("record_type", RECORDS)
def test_one_record_and_a_batch_reach_kafka_as_envelopes(api, client, record_type):
    path, record, id_field = RECORDS[record_type]
    batch = [{**record, id_field: i} for i in (1, 2, 3)]

    one = client.post(path, json=record)
    many = client.post(path, json=batch)

    assert one.status_code == 202 and many.status_code == 202
    assert one.json()["accepted"] == 1 and many.json()["accepted"] == 3
    messages = _messages(api, record_type)
    for event_id, sent in zip(one.json()["event_ids"] + many.json()["event_ids"], [record, *batch], strict=True):
        key, envelope = messages[event_id]
        assert key == str(sent[id_field]).encode()
        assert envelope["record_type"] == record_type and envelope["idempotency_key"] is None
        assert envelope["data"] == sent
        assert envelope["ingested_at"].endswith("Z")


def test_the_original_client_payload_on_pin_works_unchanged(api, client):
    response = client.post("/pin/", json=PIN)

    assert response.status_code == 202
    (event_id,) = response.json()["event_ids"]
    assert _messages(api, "pin")[event_id][1]["data"] == PIN


def _chunks():
    yield b"["
    for _ in range(200):
        yield json.dumps(PIN).encode() + b","
    yield b"]"


BAD = [
    ("wrong type", "/v1/pins", {"json": {**PIN, "index": "7528"}}, 422, "index"),
    ("missing field", "/v1/geos", {"json": {k: v for k, v in GEO.items() if k != "country"}}, 422, "country"),
    ("unknown field", "/v1/users", {"json": {**USER, "email": "a@b.c"}}, 422, "email"),
    ("one bad record in a batch", "/v1/pins", {"json": [PIN, PIN, {**PIN, "downloaded": "yes"}]}, 422, "downloaded"),
    ("empty batch", "/v1/geos", {"json": []}, 422, "batch"),
    ("too many records", "/v1/users", {"json": [USER] * 51}, 422, "batch"),
    ("not JSON", "/v1/pins", {"content": b"{index: 1", "headers": {"Content-Type": "application/json"}}, 422, None),
    ("a JSON string", "/v1/geos", {"json": "hello"}, 422, "record"),
    ("not JSON content type", "/v1/users", {"content": json.dumps(USER), "headers": {"Content-Type": "text/plain"}},
     422, "record"),
    ("bad timestamp", "/v1/geos", {"json": {**GEO, "timestamp": "28/08/2020"}}, 422, "timestamp"),
    ("legacy endpoint takes no batch", "/pin/", {"json": [PIN]}, 422, "body"),
    ("huge body", "/v1/pins", {"json": [PIN] * 200}, 413, None),
    ("huge body without Content-Length", "/v1/pins", {"content": _chunks}, 413, None),
    ("bad idempotency key", "/v1/pins", {"json": PIN, "headers": {"Idempotency-Key": "a b"}}, 422, "idempotency-key"),
]


@pytest.mark.parametrize(("path", "kwargs", "status", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_requests_are_refused_clearly_and_produce_nothing(api, client, path, kwargs, status, field):
    kwargs = {k: v() if callable(v) else v for k, v in kwargs.items()}
    before = _total(api)

    response = client.post(path, **kwargs)

    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    if status == 413:
        assert str(MAX_BODY) in detail
    elif field is not None:
        assert any(field in [str(part).lower() for part in error["loc"]] for error in detail), detail
    else:
        assert detail[0]["type"] == "json_invalid"
    assert _total(api) == before


def test_a_retry_with_the_same_key_gets_the_first_answer_and_produces_nothing(api, client):
    batch = [{**GEO, "ind": i} for i in range(5)]
    headers = {"Idempotency-Key": "test-retry-1"}

    first = client.post("/v1/geos", json=batch, headers=headers)
    after_first = _total(api)
    retry = client.post("/v1/geos", json=batch, headers=headers)

    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json() and retry.headers["Idempotent-Replayed"] == "true"
    assert _total(api) == after_first
    messages = _messages(api, "geo")
    assert all(messages[i][1]["idempotency_key"] == "test-retry-1" for i in first.json()["event_ids"])

    reused = client.post("/v1/geos", json=batch[:2], headers=headers)
    assert reused.status_code == 409
    assert _total(api) == after_first


def test_concurrent_duplicates_of_one_request_produce_once(api):
    batch = [{**USER, "ind": i} for i in range(20)]

    async def post_all():
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as c:
            return await asyncio.gather(*(c.post("/v1/users", json=batch, headers={"Idempotency-Key": "dup-1"})
                                          for _ in range(6)))

    before = _total(api)
    responses = asyncio.run(post_all())

    assert {r.status_code for r in responses} == {202}
    assert len({tuple(r.json()["event_ids"]) for r in responses}) == 1
    assert _total(api) == before + 20


def test_health_readiness_metrics_and_docs(api, client):
    client.post("/v1/pins", json={**PIN, "index": "x"})

    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "topics": {t: True for t in api.topics.values()}}
    metrics = client.get("/metrics").text
    assert 'pinpipe_api_events_accepted_total{record_type="pin"}' in metrics
    assert 'pinpipe_api_requests_rejected_total{reason="validation"}' in metrics
    assert "pinpipe_api_produce_seconds_bucket" in metrics
    assert client.get("/docs").status_code == 200
    assert {"/v1/pins", "/v1/geos", "/v1/users", "/pin/"} <= set(client.get("/openapi.json").json()["paths"])
