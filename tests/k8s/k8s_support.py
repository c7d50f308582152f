"""Helpers of the k8s tier: pipelines, their applications, spark-operator's status writes."""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import kopf.testing
import pytest
from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from pinpipe_operator.builders import GROUP, PLURAL, SPARK_API_VERSION, SPARK_GROUP, SPARK_PLURAL, VERSION

T = TypeVar("T")

SPEC: dict[str, Any] = {
    "image": "pinpipe-spark:dev",
    "kafka": {"bootstrapServers": "pinpipe-kafka-bootstrap:9092"},
    "storage": {"endpoint": "http://pinpipe-minio:9000", "credentialsSecret": "pinpipe-minio"},
    "postgres": {"host": "pinpipe-pg-rw", "database": "pinterest", "credentialsSecret": "pinpipe-pg-app"},
    "stream": {"enabled": True, "trigger": "5 seconds", "executors": {"instances": 1, "cores": 1, "memory": "1g"}},
    "batch": {"enabled": True, "schedule": ""},
    "suspend": False,
}


def pipeline_body(name: str, **spec_changes: Any) -> dict[str, Any]:
    """The sketch from DESIGN.md, with `spec_changes` merged in at the top level."""
    spec = copy.deepcopy(SPEC)
    for key, value in spec_changes.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "PinterestPipeline", "metadata": {"name": name}, "spec": spec}


class Cluster:
    """Thin calls on the objects the tests look at."""

    def __init__(self, admin: ApiClient, namespace: str) -> None:
        self.objects = CustomObjectsApi(admin)
        self.core = CoreV1Api(admin)
        self.namespace = namespace

    def create_pipeline(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.objects.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def pipeline(self, name: str) -> dict[str, Any]:
        return self.objects.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def patch_pipeline(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.objects.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name, patch)

    def delete_pipeline(self, name: str) -> None:
        self.objects.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def pipelines(self) -> list[dict[str, Any]]:
        return self.objects.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)["items"]

    def request_batch(self, name: str, value: str) -> None:
        self.patch_pipeline(name, {"metadata": {"annotations": {"pinpipe.io/batch-request": value}}})

    def apps(self) -> dict[str, dict[str, Any]]:
        found = self.objects.list_namespaced_custom_object(SPARK_GROUP, SPARK_API_VERSION, self.namespace, SPARK_PLURAL)
        return {app["metadata"]["name"]: app for app in found["items"]}

    def create_app(self, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        extra = {"dry_run": "All"} if dry_run else {}
        return self.objects.create_namespaced_custom_object(
            SPARK_GROUP, SPARK_API_VERSION, self.namespace, SPARK_PLURAL, body, field_validation="Strict", **extra
        )

    def set_app_state(self, name: str, state: str, error: str = "") -> dict[str, Any]:
        """Write what spark-operator writes when an application moves to `state`."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status: dict[str, Any] = {
            "applicationState": {"state": state},
            "driverInfo": {"podName": f"{name}-driver", "webUIPort": 4040, "webUIServiceName": f"{name}-ui-svc"},
            "submissionAttempts": 1,
            "lastSubmissionAttemptTime": now,
            "sparkApplicationId": f"spark-{name}",
            "submissionID": f"submission-{name}",
        }
        if error:
            status["applicationState"]["errorMessage"] = error
        if state in ("RUNNING", "COMPLETED", "FAILED"):
            status["executionAttempts"] = 1
        if state in ("COMPLETED", "FAILED"):
            status["terminationTime"] = now
        return self.objects.patch_namespaced_custom_object_status(
            SPARK_GROUP, SPARK_API_VERSION, self.namespace, SPARK_PLURAL, name, {"status": status}
        )

    def events(self, name: str) -> list[tuple[str, str, str]]:
        """(type, reason, message) of the events about pipeline `name`, oldest first."""
        found = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.kind=PinterestPipeline,involvedObject.name={name}"
        ).items
        found.sort(key=lambda e: e.first_timestamp or e.event_time or datetime.min.replace(tzinfo=UTC))
        return [(e.type, e.reason, e.message) for e in found]

    def reasons(self, name: str) -> list[str]:
        return [reason for _type, reason, _message in self.events(name)]


def condition(pipeline: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (pipeline.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return cond
    return {}


def runs(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["id"]: run for run in ((pipeline.get("status") or {}).get("batch") or {}).get("runs") or []}


def wait_for(check: Callable[[], T], timeout_s: float = 30.0, what: str = "condition", interval_s: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})")


# kopf logs every failed attempt of a request it is about to retry at ERROR. Its startup scan of
# the API groups reads them through asyncio.as_completed, whose tasks outlive the cancelled
# observer: an operator stopped mid-scan (a test ending right after a restart, on a loaded CI
# machine) closes its session under such a request, which then fails "Connector is closed" /
# "TCP closed" and is dropped with the event loop. That is kopf shutting down, not a failure.
SHUTDOWN_RETRY = re.compile(
    r"Request attempt #\S+ failed; (will retry: .*Connector is closed|TCP closed; will re-authenticate)"
)


class LogRecorder(logging.Handler):
    """Every log record of the process while the operator runs (kopf logs, it prints nothing)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.stopping = False

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.lines.append(line)
        if record.levelno >= logging.ERROR and not (self.stopping and SHUTDOWN_RETRY.search(record.getMessage())):
            self.errors.append(line)


class Operator:
    """Starts and stops the operator in-process (kopf's KopfRunner), as its ServiceAccount."""

    def __init__(self, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kubeconfig = kubeconfig
        self.monkeypatch = monkeypatch
        self.log = LogRecorder()
        self._runner: kopf.testing.KopfRunner | None = None

    def start(self) -> None:
        assert self._runner is None, "operator already running"
        self.monkeypatch.setenv("PINPIPE_OPERATOR_KUBECONFIG", str(self.kubeconfig))
        self.monkeypatch.setenv("PINPIPE_OPERATOR_RESYNC_INTERVAL_S", "1")
        self.monkeypatch.setenv("PINPIPE_OPERATOR_WATCH_SERVER_TIMEOUT_S", "30")
        self.monkeypatch.setenv("PINPIPE_OPERATOR_WATCH_CLIENT_TIMEOUT_S", "45")
        logging.getLogger().addHandler(self.log)
        args = ["run", "--standalone", "--all-namespaces", "--verbose", "-m", "pinpipe_operator.main"]
        self._runner = kopf.testing.KopfRunner(args, timeout=60)
        self._runner.__enter__()

    def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.log.stopping = True
        try:
            runner.__exit__(None, None, None)
        finally:
            logging.getLogger().removeHandler(self.log)
            self.log.stopping = False
        assert runner.exception is None, repr(runner.exception)

    def assert_never_denied(self) -> None:
        """Nothing was forbidden to the operator's ServiceAccount and nothing failed."""
        assert any("Starting Kopf" in line for line in self.log.lines), "no operator log recorded"
        # kopf reports a denied watch as "Not enough permissions", the API as "forbidden" / (403).
        denied = [line for line in self.log.lines if re.search(r"forbidden|not enough permissions|\(403\)", line, re.I)]
        assert not denied, "\n".join(denied[:10])
        assert not self.log.errors, "\n".join(self.log.errors[:10])
