"""The emulator: source rows from Postgres, through the API, into Kafka (the local stack, scratch topics)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from pinpipe import db, emulator
from pinpipe.api import harness
from pinpipe.api.settings import ApiSettings
from pinpipe.cli import app
from pinpipe.datagen import generate

pytestmark = pytest.mark.integration

ROWS = 300


@pytest.fixture(scope="module")
def source(local_stack):
    generate(rows=ROWS, seed=3)
    eng = db.engine()
    with eng.connect() as conn:
        pins = {r["index"]: dict(r) for r in conn.execute(text("SELECT * FROM source.pin")).mappings()}
    eng.dispose()
    return pins


@pytest.fixture
def api(local_stack):
    with harness.serving(ApiSettings()) as served:
        yield served


def _envelopes(api, record_type: str | None = None) -> list[dict]:
    topics = [api.topics[record_type]] if record_type else list(api.topics.values())
    return [json.loads(m.value) for m in harness.read_all(topics)]


def test_sequential_posts_send_each_row_as_a_pin_a_geo_and_a_user(api, source):
    result = emulator.run(api_url=api.url, mode="sequential", count=40, concurrency=4)

    assert (result["sent"], result["accepted"], result["rejected"], result["failed"]) == (120, 120, 0, 0)
    assert result["requests"] == 120 and result["latency_ms"]["p50"] > 0
    pins = _envelopes(api, "pin")
    assert sorted(p["data"]["index"] for p in pins) == list(range(40))
    assert all(p["data"] == source[p["data"]["index"]] for p in pins)
    everything = _envelopes(api)
    assert len(everything) == 120 and len({e["event_id"] for e in everything}) == 120
    assert all(e["idempotency_key"].startswith(result["nonce"]) for e in everything)


def test_random_batches_use_the_batch_endpoints(api, source):
    result = emulator.run(api_url=api.url, mode="random", count=100, batch_size=25, concurrency=2, seed=9)

    assert (result["requests"], result["accepted"], result["failed"]) == (12, 300, 0)
    everything = _envelopes(api)
    assert len(everything) == 300 and len({e["event_id"] for e in everything}) == 300
    picked = [e["data"]["index"] for e in everything if e["record_type"] == "pin"]
    assert len(set(picked)) < 100 and set(picked) <= set(source)  # with replacement, from the table


def test_rate_and_duration_bound_the_run(api, source):
    paced = emulator.run(api_url=api.url, count=20, rate=30, concurrency=4)
    timed = emulator.run(api_url=api.url, duration_s=2.0, rate=15, concurrency=2)

    assert paced["accepted"] == 60 and paced["elapsed_s"] >= 60 / 30 - 0.2
    assert 2.0 <= timed["elapsed_s"] < 4 and 0 < timed["accepted"] <= 15 * 2 + 3


def test_connection_errors_are_retried_without_duplicates(local_stack, source):
    settings = ApiSettings(topic_prefix=harness.scratch_prefix())
    port = harness.free_port()
    done = threading.Event()
    served: dict = {}

    def serve_late() -> None:
        time.sleep(3)
        with harness.running_api(settings, port=port) as url:
            served["url"] = url
            done.wait(120)

    with harness.scratch_topics(settings) as topics:
        server = threading.Thread(target=serve_late)
        server.start()
        try:
            result = emulator.run(api_url=f"http://127.0.0.1:{port}", count=5, concurrency=2, max_retries=30,
                                  backoff_max_s=1.0)
        finally:
            done.set()
            server.join()
        messages = harness.read_all(topics.values())

    assert served and result["retried"] > 0
    assert (result["accepted"], result["failed"]) == (15, 0)
    assert len({json.loads(m.value)["event_id"] for m in messages}) == len(messages) == 15


def test_the_command_prints_a_summary(api, source):
    result = CliRunner().invoke(app, ["emulate", "--api-url", api.url, "--count", "5", "--mode", "sequential"])

    assert result.exit_code == 0, result.output
    assert "accepted" in result.output and "p50 / p99" in result.output
    assert len(_envelopes(api)) == 15
