"""The operator against a real API server, running in-process as its own ServiceAccount.

The `operator` fixture runs kopf with a token of the `pinpipe-operator` ServiceAccount bound
by operator/deploy/rbac.yaml only, and fails the test if anything was denied.
"""

from __future__ import annotations

from datetime import datetime

import control_plane
import pytest
from k8s_support import Cluster, Operator, condition, pipeline_body, runs, wait_for
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException
from pinpipe_operator import builders

pytestmark = pytest.mark.k8s

WINDOW = "windowStart=2025-03-01T00:00:00Z,windowEnd=2025-03-01T01:00:00Z"


def stream_state(cluster: Cluster, name: str = "demo") -> str | None:
    return ((cluster.pipeline(name).get("status") or {}).get("stream") or {}).get("state")


def test_stream_lifecycle(admin: ApiClient, namespace: str, operator: Operator) -> None:
    cluster = Cluster(admin, namespace)
    created = cluster.create_pipeline(pipeline_body("demo"))

    app = wait_for(lambda: cluster.apps().get("demo-stream"), what="the stream SparkApplication")
    expected = builders.build_stream_application(cluster.pipeline("demo"))
    assert app["spec"] == expected["spec"]
    assert app["metadata"]["labels"] == expected["metadata"]["labels"]
    assert app["metadata"]["annotations"] == expected["metadata"]["annotations"]
    assert app["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "pinpipe.io/v1alpha1",
            "kind": "PinterestPipeline",
            "name": "demo",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    pending = wait_for(lambda: (p := cluster.pipeline("demo")).get("status", {}).get("phase") and p, what="a phase")
    assert pending["status"]["phase"] == "Pending"
    assert pending["status"]["observedGeneration"] == pending["metadata"]["generation"]
    assert condition(pending, "StreamRunning")["reason"] == "Pending"

    cluster.set_app_state("demo-stream", "SUBMITTED")
    wait_for(lambda: stream_state(cluster) == "SUBMITTED", what="stream SUBMITTED in the pipeline status")
    cluster.set_app_state("demo-stream", "RUNNING")
    running = wait_for(
        lambda: (p := cluster.pipeline("demo"))["status"]["phase"] == "Running" and p, what="phase Running"
    )
    assert [(c["type"], c["status"]) for c in running["status"]["conditions"]] == [
        ("Ready", "True"),
        ("StreamRunning", "True"),
        ("BatchSucceeded", "Unknown"),
    ]
    wait_for(
        lambda: {"StreamStarted", "StreamSubmitted", "StreamRunning"} <= set(cluster.reasons("demo")), what="events"
    )

    cluster.patch_pipeline("demo", {"spec": {"image": "pinpipe-spark:v2"}})
    replaced = wait_for(
        lambda: (a := cluster.apps().get("demo-stream")) and a["metadata"]["uid"] != app["metadata"]["uid"] and a,
        what="a new stream SparkApplication",
    )
    assert replaced["spec"]["image"] == "pinpipe-spark:v2"
    assert replaced["metadata"]["annotations"] != app["metadata"]["annotations"]
    after_change = wait_for(
        lambda: (p := cluster.pipeline("demo"))["status"]["observedGeneration"] == p["metadata"]["generation"] and p,
        what="observedGeneration to follow the spec change",
    )
    assert after_change["status"]["phase"] == "Pending"
    wait_for(lambda: "StreamReplaced" in cluster.reasons("demo"), what="a StreamReplaced event")

    cluster.patch_pipeline("demo", {"spec": {"suspend": True}})
    wait_for(lambda: "demo-stream" not in cluster.apps(), what="the stream to be deleted on suspend")
    suspended = wait_for(
        lambda: (p := cluster.pipeline("demo"))["status"]["phase"] == "Suspended" and p, what="Suspended"
    )
    assert suspended["status"]["stream"] == {"state": "STOPPED"}
    assert condition(suspended, "Ready")["reason"] == "Suspended"
    wait_for(lambda: "StreamStopped" in cluster.reasons("demo"), what="a StreamStopped event")
    assert ("Normal", "StreamStopped", "Deleted SparkApplication demo-stream: spec.suspend is true") in cluster.events(
        "demo"
    )

    cluster.patch_pipeline("demo", {"spec": {"suspend": False}})
    resumed = wait_for(lambda: cluster.apps().get("demo-stream"), what="the stream back after resume")
    assert resumed["spec"] == replaced["spec"]
    wait_for(lambda: cluster.pipeline("demo")["status"]["phase"] == "Pending", what="phase Pending after resume")


def test_stream_failure_is_reported(admin: ApiClient, namespace: str, operator: Operator) -> None:
    cluster = Cluster(admin, namespace)
    cluster.create_pipeline(pipeline_body("demo"))
    wait_for(lambda: "demo-stream" in cluster.apps(), what="the stream SparkApplication")
    cluster.set_app_state("demo-stream", "FAILED", "Kafka bootstrap servers unreachable")
    failed = wait_for(lambda: (p := cluster.pipeline("demo"))["status"]["phase"] == "Failed" and p, what="phase Failed")
    assert condition(failed, "StreamRunning") | {"lastTransitionTime": None} == {
        "type": "StreamRunning",
        "status": "False",
        "reason": "Failed",
        "message": "SparkApplication demo-stream is FAILED: Kafka bootstrap servers unreachable",
        "lastTransitionTime": None,
        "observedGeneration": 1,
    }
    wait_for(
        lambda: (
            ("Warning", "StreamFailed", "SparkApplication demo-stream is FAILED: Kafka bootstrap servers unreachable")
            in cluster.events("demo")
        ),
        what="a StreamFailed warning",
    )


def test_batch_runs(admin: ApiClient, namespace: str, operator: Operator) -> None:
    cluster = Cluster(admin, namespace)
    cluster.create_pipeline(pipeline_body("demo", stream={"enabled": False}, batch={"historyLimit": 1}))
    wait_for(lambda: cluster.pipeline("demo").get("status"), what="a first status")

    cluster.request_batch("demo", f"runId=run-1,{WINDOW}")
    app = wait_for(lambda: cluster.apps().get("demo-batch-run-1"), what="the batch SparkApplication")
    assert app["spec"]["arguments"] == [
        "--run-id",
        "run-1",
        "--window-start",
        "2025-03-01T00:00:00Z",
        "--window-end",
        "2025-03-01T01:00:00Z",
    ]
    assert app["spec"]["mainApplicationFile"] == "local:///opt/pinpipe/jobs/pinpipe_jobs/batch.py"
    for state in ("SUBMITTED", "RUNNING", "COMPLETED"):
        cluster.set_app_state("demo-batch-run-1", state)
        wait_for(
            lambda s=state: runs(cluster.pipeline("demo")).get("run-1", {}).get("state") == s, what=f"run-1 {state}"
        )
    done = cluster.pipeline("demo")
    assert runs(done)["run-1"]["windowStart"] == "2025-03-01T00:00:00Z"
    assert runs(done)["run-1"]["finishedAt"]
    assert done["status"]["batch"]["lastRun"] == "run-1 COMPLETED"
    assert condition(done, "BatchSucceeded")["status"] == "True"
    assert done["status"]["phase"] == "Running"
    # Event times have one-second resolution: compare the events, not their order.
    wait_for(
        lambda: (
            sorted(r for r in cluster.reasons("demo") if r.startswith("Batch"))
            == ["BatchRequested", "BatchRunning", "BatchSubmitted", "BatchSucceeded"]
        ),
        what="one event per batch transition",
    )

    # The same run asked again, in the other accepted format: nothing new runs.
    cluster.request_batch(
        "demo", '{"runId":"run-1","windowStart":"2025-03-01T00:00:00Z","windowEnd":"2025-03-01T01:00:00Z"}'
    )
    wait_for(lambda: "BatchAlreadyRequested" in cluster.reasons("demo"), what="BatchAlreadyRequested")
    assert [n for n in cluster.apps() if "batch" in n] == ["demo-batch-run-1"]

    cluster.request_batch("demo", f"runId=run-2,{WINDOW}")
    wait_for(lambda: "demo-batch-run-2" in cluster.apps(), what="run-2's SparkApplication")
    cluster.set_app_state("demo-batch-run-2", "FAILED", "Job aborted: stage 3 failed 4 times")
    degraded = wait_for(lambda: (p := cluster.pipeline("demo"))["status"]["phase"] == "Degraded" and p, what="Degraded")
    assert condition(degraded, "BatchSucceeded")["message"] == "Run run-2 failed: Job aborted: stage 3 failed 4 times"
    # historyLimit 1: run-1 leaves the history and its application goes.
    assert list(runs(degraded)) == ["run-2"]
    wait_for(lambda: "demo-batch-run-1" not in cluster.apps(), what="run-1's application pruned")
    wait_for(
        lambda: (
            ("Warning", "BatchFailed", "Run run-2 (demo-batch-run-2) is FAILED: Job aborted: stage 3 failed 4 times")
            in cluster.events("demo")
        ),
        what="a BatchFailed warning",
    )

    cluster.request_batch("demo", "runId=run-3")
    wait_for(
        lambda: (
            (
                "Warning",
                "InvalidBatchRequest",
                "Ignored pinpipe.io/batch-request: missing windowStart, windowEnd (expected runId, windowStart, windowEnd)",
            )
            in cluster.events("demo")
        ),
        what="an InvalidBatchRequest warning",
    )
    assert "run-3" not in runs(cluster.pipeline("demo"))


def test_scheduled_batch_runs(admin: ApiClient, namespace: str, operator: Operator) -> None:
    cluster = Cluster(admin, namespace)
    # Six fields: croniter reads the last one as seconds.
    cluster.create_pipeline(pipeline_body("demo", stream={"enabled": False}, batch={"schedule": "* * * * * */3"}))
    app = wait_for(
        lambda: next((a for n, a in cluster.apps().items() if n.startswith("demo-batch-scheduled-")), None),
        timeout_s=20,
        what="a scheduled batch run",
    )
    run_id = app["metadata"]["annotations"]["pinpipe.io/run-id"]
    start = datetime.fromisoformat(app["metadata"]["annotations"]["pinpipe.io/window-start"])
    end = datetime.fromisoformat(app["metadata"]["annotations"]["pinpipe.io/window-end"])
    assert (end - start).total_seconds() == 3
    assert run_id == f"scheduled-{end:%Y%m%dT%H%M%SZ}"
    cluster.patch_pipeline("demo", {"spec": {"batch": {"schedule": ""}}})
    wait_for(lambda: cluster.pipeline("demo")["status"]["observedGeneration"] == 2, what="the schedule removed")
    settled = set(cluster.apps())
    wait_for(lambda: "BatchScheduled" in cluster.reasons("demo"), what="a BatchScheduled event")
    assert set(cluster.apps()) == settled


def test_restart_never_duplicates(admin: ApiClient, namespace: str, operator: Operator) -> None:
    cluster = Cluster(admin, namespace)
    cluster.create_pipeline(pipeline_body("demo"))
    cluster.request_batch("demo", f"runId=run-1,{WINDOW}")
    wait_for(lambda: {"demo-stream", "demo-batch-run-1"} <= set(cluster.apps()), what="both applications")
    wait_for(lambda: "run-1" in runs(cluster.pipeline("demo")), what="run-1 in the status")
    before = {name: app["metadata"]["uid"] for name, app in cluster.apps().items()}
    operator.stop()

    # Killed between creating run-2's application and writing the status: the application
    # exists, the status does not know it, the annotation still asks for it.
    pipeline = cluster.pipeline("demo")
    request = builders.parse_batch_request(f"runId=run-2,{WINDOW}")
    cluster.create_app(builders.build_batch_application(pipeline, request))
    cluster.request_batch("demo", f"runId=run-2,{WINDOW}")
    cluster.set_app_state("demo-stream", "RUNNING")

    operator.start()
    wait_for(lambda: "run-2" in runs(cluster.pipeline("demo")), what="run-2 taken into the status")
    wait_for(lambda: cluster.pipeline("demo")["status"]["phase"] == "Running", what="phase Running after restart")
    apps = cluster.apps()
    assert sorted(apps) == ["demo-batch-run-1", "demo-batch-run-2", "demo-stream"]
    assert {name: apps[name]["metadata"]["uid"] for name in before} == before
    operator.stop()
    operator.start()
    wait_for(
        lambda: cluster.pipeline("demo")["status"]["phase"] == "Running", what="phase Running after a second restart"
    )
    assert {name: app["metadata"]["uid"] for name, app in cluster.apps().items() if name in before} == before
    assert len(cluster.apps()) == 3
    assert cluster.reasons("demo").count("StreamStarted") == 1
    assert cluster.reasons("demo").count("BatchRequested") == 1


def test_deletion_leaves_nothing_behind(admin: ApiClient, namespace: str, operator: Operator) -> None:
    cluster = Cluster(admin, namespace)
    for name in ("one", "two"):
        cluster.create_pipeline(pipeline_body(name))
        cluster.request_batch(name, f"runId=run-1,{WINDOW}")
    wait_for(lambda: len(cluster.apps()) == 4, what="four applications")
    assert all(not p["metadata"].get("finalizers") for p in cluster.pipelines())

    cluster.delete_pipeline("one")
    wait_for(lambda: sorted(cluster.apps()) == ["two-batch-run-1", "two-stream"], what="one's applications collected")

    # With no operator at all, deletion neither hangs nor leaves applications behind.
    operator.stop()
    cluster.delete_pipeline("two")
    wait_for(lambda: cluster.pipelines() == [], timeout_s=10, what="the pipeline gone without an operator")
    wait_for(lambda: cluster.apps() == {}, what="two's applications collected")


def test_operator_identity_is_least_privilege(plane: control_plane.ControlPlane, operator_kubeconfig) -> None:
    """The operator's token works for its own objects and for nothing else."""
    client = control_plane.new_client(operator_kubeconfig)
    core = CoreV1Api(client)
    with pytest.raises(ApiException) as denied:
        core.list_secret_for_all_namespaces()
    assert denied.value.status == 403
    assert "system:serviceaccount:pinpipe-test-system:pinpipe-operator" in denied.value.body
    with pytest.raises(ApiException) as denied:
        core.list_namespaced_pod("default")
    assert denied.value.status == 403
    client.close()
