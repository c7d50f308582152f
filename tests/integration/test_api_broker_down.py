"""Kafka stops and comes back: the API answers 503 fast, never 202, and loses or doubles nothing.

This stops the local stack's Kafka for a minute (stack.stop_service / start_service), between
requests: a produce request on the wire at the moment a broker dies can be written and
still be answered 503, and its retry then adds a copy with the same event ids (consumers
dedupe on event_id); that race is not what this test is about.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import httpx
import pytest

from pinpipe import datagen, emulator
from pinpipe.api import harness
from pinpipe.api.settings import ApiSettings

pytestmark = pytest.mark.integration

TIMEOUT_S = 3.0


def _geo(i: int) -> dict:
    return {"ind": i, "timestamp": "2020-08-28T03:52:47", "latitude": 10.5, "longitude": 20.25, "country": "Chile"}


def _user(i: int) -> dict:
    return {"ind": i, "first_name": "Ann", "last_name": "Lee", "age": 31, "date_joined": "2016-01-02T03:04:05"}


@pytest.fixture
def api(local_stack):
    settings = ApiSettings(produce_timeout_s=TIMEOUT_S, retry_after_s=1, readiness_timeout_s=1, producer_retry_s=0.5)
    with harness.serving(settings) as served:
        yield served


def _wait_ready(client: httpx.Client, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the API did not become ready after Kafka came back"
        time.sleep(0.5)


def _post_until_accepted(client: httpx.Client, path: str, body, key: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while (response := client.post(path, json=body, headers={"Idempotency-Key": key})).status_code == 503:
        assert time.monotonic() < deadline
        time.sleep(float(response.headers["Retry-After"]))
    return response


def test_outage_gets_503_and_every_accepted_event_lands_exactly_once(api):
    from pinpipe.local import stack

    datagen.generate(rows=60, seed=5)
    client = httpx.Client(base_url=api.url, timeout=30)
    accepted: list[str] = []
    first = client.post("/v1/geos", json=[_geo(i) for i in range(3)], headers={"Idempotency-Key": "before"})
    assert first.status_code == 202
    accepted += first.json()["event_ids"]
    during = [("/v1/geos", _geo(100), "during-1"), ("/v1/users", [_user(i) for i in range(5)], "during-2")]

    stack.stop_service("kafka")
    try:
        for path, body, key in during:
            started = time.monotonic()
            response = client.post(path, json=body, headers={"Idempotency-Key": key})
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "1"
            assert time.monotonic() - started < TIMEOUT_S + 1.5
        assert client.get("/readyz").status_code == 503
        # Users keep posting through the outage: the emulator retries until Kafka is back.
        emulated: dict = {}
        posting = threading.Thread(target=lambda: emulated.update(emulator.run(
            api_url=api.url, mode="sequential", count=10, concurrency=2, max_retries=40, backoff_max_s=2.0)))
        posting.start()
        time.sleep(5)
    finally:
        stack.start_service("kafka")

    _wait_ready(client)
    for path, body, key in during:
        response = _post_until_accepted(client, path, body, key)
        assert response.status_code == 202
        accepted += response.json()["event_ids"]
    after = client.post("/v1/users", json=[_user(i) for i in range(20, 24)])
    assert after.status_code == 202
    accepted += after.json()["event_ids"]
    posting.join(timeout=180)

    assert not posting.is_alive()
    assert emulated["accepted"] == emulated["sent"] == 30 and emulated["failed"] == 0 and emulated["retried"] > 0
    messages = [json.loads(m.value) for m in harness.read_all(api.topics.values())]
    ids = Counter(m["event_id"] for m in messages)
    emulated_ids = {m["event_id"] for m in messages if (m["idempotency_key"] or "").startswith(emulated["nonce"])}
    assert len(emulated_ids) == 30
    assert ids == Counter(accepted) + Counter(emulated_ids)
