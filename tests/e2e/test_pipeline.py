"""The pipeline on Kubernetes, as a user drives it: a PinterestPipeline becomes a running
stream application, events posted to the API land once in the stream tables, a requested
batch run completes, and the operator's log and events tell the story."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from e2e_support import E2ESettings, Kubectl, wait_for

pytestmark = pytest.mark.e2e

POSTS = 20


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def records(base: int) -> dict[str, list[dict[str, Any]]]:
    """POSTS pins, geos and users with ids no generator produces (it counts from 0)."""
    ids = range(base, base + POSTS)
    return {
        "/v1/pins": [
            {"index": i, "unique_id": str(uuid.uuid4()), "title": f"e2e pin {i}", "description": "end to end",
             "poster_name": "e2e", "follower_count": "1.5k", "tag_list": "e2e,kind", "is_image_or_video": "image",
             "image_src": "https://example.invalid/e2e.jpg", "downloaded": 1,
             "save_location": "Local save in /data/e2e", "category": "e2e"}
            for i in ids
        ],
        "/v1/geos": [
            {"ind": i, "timestamp": "2026-01-01T12:00:00", "latitude": 51.5, "longitude": -0.12, "country": "E2E"}
            for i in ids
        ],
        "/v1/users": [
            {"ind": i, "first_name": "End", "last_name": "ToEnd", "age": 30, "date_joined": "2026-01-01T12:00:00"}
            for i in ids
        ],
    }


def psql(kubectl: Kubectl, settings: E2ESettings, sql: str) -> str:
    """Run SQL in the primary of the release's CloudNativePG cluster, as `kubectl cnpg psql` does."""
    pods = kubectl.run("get", "pods", "-l", f"cnpg.io/cluster={settings.e2e_release}-pg,cnpg.io/instanceRole=primary",
                       "-o", "jsonpath={.items[0].metadata.name}").strip()
    return kubectl.run("exec", pods, "-c", "postgres", "--", "psql", "-d", "pinterest", "-tAc", sql).strip()


@pytest.fixture(scope="module")
def running(kubectl: Kubectl, settings: E2ESettings, pipeline: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        body = kubectl.json("get", "pinterestpipeline", pipeline)
        return body if condition(body, "StreamRunning").get("status") == "True" else None

    return wait_for(ready, settings.e2e_timeout_s, f"PinterestPipeline {pipeline} to report StreamRunning", 5)


@dataclass(frozen=True)
class Posted:
    started: datetime
    # The event ids the API accepted (HTTP 202), by record type.
    event_ids: dict[str, list[str]]


@pytest.fixture(scope="module")
def posted(kubectl: Kubectl, settings: E2ESettings, running: dict[str, Any]) -> Posted:
    started = datetime.now(UTC)
    base = 1_000_000 + secrets.randbelow(1_000_000)
    accepted: dict[str, list[str]] = {}
    with kubectl.port_forward(f"svc/{settings.e2e_release}-api", 80) as port, \
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, 120, "the API to be ready")
        for path, body in records(base).items():
            response = client.post(path, json=body)
            assert response.status_code == 202, response.text
            accepted[{"/v1/pins": "pin", "/v1/geos": "geo", "/v1/users": "user"}[path]] = response.json()["event_ids"]
    return Posted(started, accepted)


def test_pipeline_runs_its_stream_application(running: dict[str, Any], pipeline: str) -> None:
    assert running["status"]["phase"] in ("Running", "Degraded")
    assert running["status"]["stream"]["application"] == f"{pipeline}-stream"
    assert running["status"]["stream"]["state"] == "RUNNING"
    assert running["status"]["observedGeneration"] == running["metadata"]["generation"]


@pytest.mark.parametrize("record_type", ["pin", "geo", "user"])
def test_accepted_events_reach_the_stream_tables_once(
    kubectl: Kubectl, settings: E2ESettings, posted: Posted, record_type: str
) -> None:
    ids = posted.event_ids[record_type]
    assert len(ids) == POSTS
    in_list = ",".join(f"'{event_id}'" for event_id in ids)
    sql = f'SELECT count(*) FROM stream."{record_type}" WHERE event_id IN ({in_list})'

    def arrived() -> bool:
        try:
            return int(psql(kubectl, settings, sql) or 0) >= POSTS
        except RuntimeError:
            return False  # the stream job creates its tables with its first micro-batch

    wait_for(arrived, 300, f"{POSTS} {record_type} events in stream.{record_type}", 5)
    # Exactly once: the primary key makes a duplicate impossible, so also check nothing is missing.
    assert int(psql(kubectl, settings, sql)) == POSTS


@pytest.fixture(scope="module")
def batch_run(kubectl: Kubectl, settings: E2ESettings, pipeline: str, posted: Posted) -> dict[str, Any]:
    """Request a batch run over the window of the posted events, as Airflow's runner does."""
    started = posted.started
    run_id = f"e2e-{secrets.token_hex(3)}"
    request = json.dumps({
        "runId": run_id,
        "windowStart": (started - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "windowEnd": (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
    }, separators=(",", ":"))
    kubectl.run("annotate", "pinterestpipeline", pipeline, "--overwrite", f"pinpipe.io/batch-request={request}")

    def finished() -> dict[str, Any] | None:
        body = kubectl.json("get", "pinterestpipeline", pipeline)
        runs = ((body.get("status") or {}).get("batch") or {}).get("runs") or []
        run = next((r for r in runs if r.get("id") == run_id), None)
        return run if run and run.get("state") in ("COMPLETED", "FAILED", "SUBMISSION_FAILED") else None

    return wait_for(finished, settings.e2e_timeout_s, f"batch run {run_id} of {pipeline} to finish", 10)


def test_requested_batch_run_completes(kubectl: Kubectl, pipeline: str, batch_run: dict[str, Any]) -> None:
    assert batch_run["state"] == "COMPLETED", batch_run.get("errorMessage")
    body = kubectl.json("get", "pinterestpipeline", pipeline)
    assert condition(body, "BatchSucceeded")["status"] == "True"
    assert body["status"]["batch"]["lastRun"].startswith(batch_run["id"])


def test_operator_log_and_events_show_the_transitions(
    kubectl: Kubectl, settings: E2ESettings, pipeline: str, batch_run: dict[str, Any]
) -> None:
    log = kubectl.run("logs", f"deployment/{settings.e2e_release}-operator", "--since=2h", timeout=60)
    assert f"Created SparkApplication {pipeline}-stream" in log
    assert f"Created SparkApplication {batch_run['application']}" in log
    events = kubectl.json("get", "events", "--field-selector",
                          f"involvedObject.kind=PinterestPipeline,involvedObject.name={pipeline}")["items"]
    reasons = {event["reason"] for event in events}
    assert {"StreamStarted", "StreamRunning", "BatchRequested", "BatchSucceeded"} <= reasons, reasons
