"""The Airflow DAG's `kubernetes` batch runner against the real API server and the operator.

A thread plays spark-operator: it waits for the batch SparkApplication and writes its status.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from control_plane import ControlPlane
from k8s_support import Cluster, Operator, pipeline_body, wait_for
from kubernetes.client import ApiClient

from pinpipe.orchestration import k8s_runner
from pinpipe.orchestration.k8s_runner import BatchRunError, BatchRunFailed, BatchRunTimeout, K8sRunnerSettings

pytestmark = pytest.mark.k8s

START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 3, 2, tzinfo=UTC)


class SparkOperatorDouble(threading.Thread):
    """Moves the application through the states spark-operator writes, ending in `final`."""

    def __init__(self, cluster: Cluster, app: str, final: str, error: str = "") -> None:
        super().__init__(daemon=True)
        self.cluster, self.app, self.final, self.error = cluster, app, final, error
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            wait_for(lambda: self.app in self.cluster.apps(), what=f"{self.app} to be created")
            for state in ("SUBMITTED", "RUNNING"):
                self.cluster.set_app_state(self.app, state)
            self.cluster.set_app_state(self.app, self.final, self.error)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc


@pytest.fixture
def batch_pipeline(admin: ApiClient, namespace: str, plane: ControlPlane, operator: Operator) -> Iterator[Cluster]:
    cluster = Cluster(admin, namespace)
    cluster.create_pipeline(pipeline_body("demo", stream={"enabled": False}))
    wait_for(lambda: cluster.pipeline("demo").get("status"), what="the operator to see the pipeline")
    yield cluster


def test_runner_returns_the_completed_run(batch_pipeline: Cluster, plane: ControlPlane) -> None:
    spark = SparkOperatorDouble(batch_pipeline, "demo-batch-manual-1", "COMPLETED")
    spark.start()
    run = k8s_runner.run_batch(
        "manual-1",
        START,
        END,
        pipeline="demo",
        namespace=batch_pipeline.namespace,
        kube_config=str(plane.admin_kubeconfig),
        timeout_s=60,
        poll_s=0.5,
    )
    spark.join(10)
    assert spark.failure is None
    assert run | {"requestedAt": None, "finishedAt": None} == {
        "id": "manual-1",
        "application": "demo-batch-manual-1",
        "windowStart": "2025-03-01T00:00:00Z",
        "windowEnd": "2025-03-02T00:00:00Z",
        "state": "COMPLETED",
        "requestedAt": None,
        "finishedAt": None,
    }
    # Asking again for a finished run returns it without a second application.
    again = k8s_runner.run_batch(
        "manual-1",
        START,
        END,
        pipeline="demo",
        namespace=batch_pipeline.namespace,
        kube_config=str(plane.admin_kubeconfig),
        timeout_s=10,
        poll_s=0.5,
    )
    assert again == run
    assert [n for n in batch_pipeline.apps() if "batch" in n] == ["demo-batch-manual-1"]


def test_runner_raises_with_the_application_error(batch_pipeline: Cluster, plane: ControlPlane) -> None:
    spark = SparkOperatorDouble(
        batch_pipeline, "demo-batch-manual-2", "FAILED", "Job aborted: bucket pinterest-raw not found"
    )
    spark.start()
    with pytest.raises(BatchRunFailed) as failed:
        k8s_runner.run_batch(
            "manual-2",
            START,
            END,
            pipeline="demo",
            namespace=batch_pipeline.namespace,
            kube_config=str(plane.admin_kubeconfig),
            timeout_s=60,
            poll_s=0.5,
        )
    spark.join(10)
    assert spark.failure is None
    assert str(failed.value) == (
        f"batch run manual-2 of PinterestPipeline {batch_pipeline.namespace}/demo FAILED "
        "(SparkApplication demo-batch-manual-2): Job aborted: bucket pinterest-raw not found"
    )
    assert failed.value.state == "FAILED"


def test_runner_times_out_on_a_suspended_pipeline(batch_pipeline: Cluster, plane: ControlPlane) -> None:
    batch_pipeline.patch_pipeline("demo", {"spec": {"suspend": True}})
    wait_for(lambda: batch_pipeline.pipeline("demo")["status"]["phase"] == "Suspended", what="Suspended")
    with pytest.raises(BatchRunTimeout) as timed_out:
        k8s_runner.run_batch(
            "manual-3",
            START,
            END,
            pipeline="demo",
            namespace=batch_pipeline.namespace,
            kube_config=str(plane.admin_kubeconfig),
            timeout_s=3,
            poll_s=0.5,
        )
    assert "not finished after 3s (run state not started, pipeline phase Suspended)" in str(timed_out.value)
    assert batch_pipeline.apps() == {}


def test_runner_settings_come_from_the_environment(
    batch_pipeline: Cluster, plane: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINPIPE_K8S_NAMESPACE", batch_pipeline.namespace)
    monkeypatch.setenv("PINPIPE_K8S_PIPELINE", "demo")
    monkeypatch.setenv("PINPIPE_K8S_KUBECONFIG", str(plane.admin_kubeconfig))
    monkeypatch.setenv("PINPIPE_K8S_TIMEOUT_S", "60")
    monkeypatch.setenv("PINPIPE_K8S_POLL_S", "0.5")
    spark = SparkOperatorDouble(batch_pipeline, "demo-batch-manual-4", "COMPLETED")
    spark.start()
    run = k8s_runner.run_batch_with_settings("manual-4", START, END)
    spark.join(10)
    assert run["state"] == "COMPLETED"
    assert K8sRunnerSettings().namespace == batch_pipeline.namespace


def test_runner_reports_an_ignored_request(batch_pipeline: Cluster, plane: ControlPlane) -> None:
    batch_pipeline.patch_pipeline("demo", {"spec": {"stream": {"enabled": True}, "batch": {"enabled": False}}})
    wait_for(lambda: batch_pipeline.pipeline("demo")["status"]["observedGeneration"] == 2, what="batch disabled")
    with pytest.raises(BatchRunError) as ignored:
        k8s_runner.run_batch(
            "manual-6",
            START,
            END,
            pipeline="demo",
            namespace=batch_pipeline.namespace,
            kube_config=str(plane.admin_kubeconfig),
            timeout_s=30,
            poll_s=0.5,
        )
    assert str(ignored.value).startswith(
        f"PinterestPipeline {batch_pipeline.namespace}/demo ignored the request for run manual-6"
    )
    disabled = ("Warning", "BatchDisabled", "Ignored pinpipe.io/batch-request: spec.batch.enabled is false")
    wait_for(lambda: disabled in batch_pipeline.events("demo"), what="a BatchDisabled warning")


def test_runner_reports_a_missing_pipeline(admin: ApiClient, namespace: str, plane: ControlPlane) -> None:
    with pytest.raises(BatchRunError) as missing:
        k8s_runner.run_batch(
            "manual-5",
            START,
            END,
            pipeline="nope",
            namespace=namespace,
            kube_config=str(plane.admin_kubeconfig),
            timeout_s=5,
            poll_s=0.5,
        )
    assert str(missing.value) == f"PinterestPipeline {namespace}/nope does not exist"
