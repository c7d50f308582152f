"""The operator's pure functions: builders (children as dicts) and the planner (what to do)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from pinpipe_operator import builders, planner
from pinpipe_operator.builders import BatchRequest, BatchRequestError

from pinpipe.versions import SPARK_VERSION

UID = "8d3c1f0e-0000-4000-8000-000000000001"
NOW = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)

SETTINGS_ENV = [
    {"name": "PINPIPE_KAFKA_BOOTSTRAP_SERVERS", "value": "pinpipe-kafka-bootstrap:9092"},
    {"name": "PINPIPE_S3_ENDPOINT", "value": "http://pinpipe-minio:9000"},
    {"name": "PINPIPE_S3_REGION", "value": "us-east-1"},
    {"name": "PINPIPE_S3_RAW_BUCKET", "value": "pinterest-raw"},
    {"name": "PINPIPE_S3_CURATED_BUCKET", "value": "pinterest-curated"},
    {"name": "PINPIPE_S3_CHECKPOINTS_BUCKET", "value": "pinterest-checkpoints"},
    {"name": "PINPIPE_S3_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "pinpipe-minio", "key": "accessKey"}}},
    {"name": "PINPIPE_S3_SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "pinpipe-minio", "key": "secretKey"}}},
    {"name": "PINPIPE_PG_HOST", "value": "pinpipe-pg-rw"},
    {"name": "PINPIPE_PG_PORT", "value": "5432"},
    {"name": "PINPIPE_PG_DATABASE", "value": "pinterest"},
    {"name": "PINPIPE_PG_USER", "valueFrom": {"secretKeyRef": {"name": "pinpipe-pg-app", "key": "username"}}},
    {"name": "PINPIPE_PG_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pinpipe-pg-app", "key": "password"}}},
]
OWNER = [
    {
        "apiVersion": "pinpipe.io/v1alpha1",
        "kind": "PinterestPipeline",
        "name": "demo",
        "uid": UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }
]


def labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "pinterest-pipeline",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "pinpipe",
        "app.kubernetes.io/managed-by": "pinpipe-operator",
    }


def make_pipeline(**spec_changes: object) -> dict:
    """A pipeline as the API server returns it: every CRD default filled in."""
    resources = {"driver": {"cores": 1, "memory": "1g"}, "executors": {"instances": 1, "cores": 1, "memory": "1g"}}
    pipeline = {
        "apiVersion": "pinpipe.io/v1alpha1",
        "kind": "PinterestPipeline",
        "metadata": {
            "name": "demo",
            "namespace": "data",
            "uid": UID,
            "generation": 3,
            "creationTimestamp": "2025-03-01T11:00:00Z",
        },
        "spec": {
            "image": "pinpipe-spark:dev",
            "imagePullPolicy": "IfNotPresent",
            "serviceAccountName": "pinpipe-spark",
            "suspend": False,
            "kafka": {"bootstrapServers": "pinpipe-kafka-bootstrap:9092"},
            "storage": {
                "endpoint": "http://pinpipe-minio:9000",
                "region": "us-east-1",
                "credentialsSecret": "pinpipe-minio",
                "accessKeyKey": "accessKey",
                "secretKeyKey": "secretKey",
                "buckets": {
                    "raw": "pinterest-raw",
                    "curated": "pinterest-curated",
                    "checkpoints": "pinterest-checkpoints",
                },
            },
            "postgres": {
                "host": "pinpipe-pg-rw",
                "port": 5432,
                "database": "pinterest",
                "credentialsSecret": "pinpipe-pg-app",
                "userKey": "username",
                "passwordKey": "password",
            },
            "stream": {
                "enabled": True,
                "trigger": "5 seconds",
                "restartPolicy": {"type": "OnFailure", "retries": 10, "retryIntervalSeconds": 30},
                **copy.deepcopy(resources),
            },
            "batch": {"enabled": True, "schedule": "", "historyLimit": 5, **copy.deepcopy(resources)},
        },
    }
    pipeline["spec"].update(spec_changes)
    return pipeline


def test_stream_application_whole() -> None:
    app = builders.build_stream_application(make_pipeline())
    spec = {
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "image": "pinpipe-spark:dev",
        "imagePullPolicy": "IfNotPresent",
        "mainApplicationFile": "local:///opt/pinpipe/jobs/pinpipe_jobs/stream.py",
        "sparkVersion": SPARK_VERSION,
        "sparkConf": {},
        "restartPolicy": {
            "type": "OnFailure",
            "onFailureRetries": 10,
            "onFailureRetryInterval": 30,
            "onSubmissionFailureRetries": 10,
            "onSubmissionFailureRetryInterval": 30,
        },
        "driver": {
            "cores": 1,
            "memory": "1g",
            "serviceAccount": "pinpipe-spark",
            "labels": labels("stream"),
            "env": [
                *SETTINGS_ENV,
                {"name": "PINPIPE_SPARK_MASTER", "value": "k8s://https://kubernetes.default.svc"},
                {"name": "PINPIPE_SPARK_DRIVER_MEMORY", "value": "1g"},
                {"name": "PINPIPE_STREAM_TRIGGER", "value": "5 seconds"},
            ],
        },
        "executor": {"instances": 1, "cores": 1, "memory": "1g", "labels": labels("stream"), "env": SETTINGS_ENV},
    }
    assert app == {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {
            "name": "demo-stream",
            "namespace": "data",
            "labels": labels("stream"),
            "annotations": {"pinpipe.io/spec-hash": builders.spec_hash(spec)},
            "ownerReferences": OWNER,
        },
        "spec": spec,
    }


def test_batch_application_whole() -> None:
    pipeline = make_pipeline(sparkConf={"spark.sql.shuffle.partitions": "8"})
    pipeline["spec"]["batch"]["executors"] = {"instances": 3, "cores": 2, "memory": "4g"}
    request = BatchRequest(
        run_id="manual-1",
        window_start=datetime(2025, 3, 1, tzinfo=UTC),
        window_end=datetime(2025, 3, 2, tzinfo=UTC),
    )
    app = builders.build_batch_application(pipeline, request)
    assert app == {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {
            "name": "demo-batch-manual-1",
            "namespace": "data",
            "labels": labels("batch"),
            "annotations": {
                "pinpipe.io/run-id": "manual-1",
                "pinpipe.io/window-start": "2025-03-01T00:00:00Z",
                "pinpipe.io/window-end": "2025-03-02T00:00:00Z",
            },
            "ownerReferences": OWNER,
        },
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": "pinpipe-spark:dev",
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": "local:///opt/pinpipe/jobs/pinpipe_jobs/batch.py",
            "sparkVersion": SPARK_VERSION,
            "sparkConf": {"spark.sql.shuffle.partitions": "8"},
            "arguments": [
                "--run-id",
                "manual-1",
                "--window-start",
                "2025-03-01T00:00:00Z",
                "--window-end",
                "2025-03-02T00:00:00Z",
            ],
            "restartPolicy": {"type": "Never"},
            "driver": {
                "cores": 1,
                "memory": "1g",
                "serviceAccount": "pinpipe-spark",
                "labels": labels("batch"),
                "env": [
                    *SETTINGS_ENV,
                    {"name": "PINPIPE_SPARK_MASTER", "value": "k8s://https://kubernetes.default.svc"},
                    {"name": "PINPIPE_SPARK_DRIVER_MEMORY", "value": "1g"},
                ],
                "javaOptions": "-XX:+UseParallelGC",
            },
            "executor": {"instances": 3, "cores": 2, "memory": "4g", "labels": labels("batch"), "env": SETTINGS_ENV},
        },
    }


def test_no_secret_value_reaches_a_child() -> None:
    for app in (
        builders.build_stream_application(make_pipeline()),
        builders.build_batch_application(make_pipeline(), BatchRequest("r", NOW - timedelta(hours=1), NOW)),
    ):
        for pod in ("driver", "executor"):
            credentials = [e for e in app["spec"][pod]["env"] if e["name"].endswith(("_KEY", "_USER", "_PASSWORD"))]
            assert len(credentials) == 4
            assert all(set(e) == {"name", "valueFrom"} for e in credentials)


def test_spec_hash_follows_the_stream_spec_only() -> None:
    base = builders.build_stream_application(make_pipeline())["metadata"]["annotations"]
    batch_changed = make_pipeline()
    batch_changed["spec"]["batch"]["historyLimit"] = 9
    same = builders.build_stream_application(batch_changed)["metadata"]["annotations"]
    image_changed = builders.build_stream_application(make_pipeline(image="pinpipe-spark:v2"))["metadata"][
        "annotations"
    ]
    assert same == base
    assert image_changed != base


@pytest.mark.parametrize(
    ("run_id", "name"),
    [
        ("manual-1", "demo-batch-manual-1"),
        ("2025-03-01", "demo-batch-2025-03-01"),
        ("Manual-1", "demo-batch-manual-1-191f99d1"),
        ("scheduled__2025-03-01T00:00:00+00:00", "demo-batch-scheduled-2025-03-01t00-00-00-00-00-2d55fa86"),
        ("x" * 120, "demo-batch-" + "x" * 43 + "-13f05a0b"),
    ],
)
def test_batch_application_name(run_id: str, name: str) -> None:
    assert builders.batch_application_name("demo", run_id) == name
    assert len(name) <= 63


def test_batch_application_names_stay_distinct() -> None:
    ids = ["a", "A", "x:1", "x.1", "x-1"]
    names = {builders.batch_application_name("demo", i) for i in ids}
    assert len(names) == len(ids)
    assert builders.batch_application_name("demo", "x-1") == "demo-batch-x-1"


@pytest.mark.parametrize(
    "value",
    [
        '{"runId": "r1", "windowStart": "2025-03-01T00:00:00Z", "windowEnd": "2025-03-02T00:00:00+00:00"}',
        "runId=r1,windowStart=2025-03-01T00:00:00Z,windowEnd=2025-03-02T00:00:00Z",
        " runId = r1 , windowStart=2025-03-01T00:00:00, windowEnd=2025-03-02T01:00:00+01:00 ",
    ],
)
def test_parse_batch_request(value: str) -> None:
    assert builders.parse_batch_request(value) == BatchRequest(
        run_id="r1",
        window_start=datetime(2025, 3, 1, tzinfo=UTC),
        window_end=datetime(2025, 3, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["r1"]', "the JSON must be an object"),
        ("runId=r1", "missing windowStart, windowEnd"),
        (
            "runId=r1,windowStart=yesterday,windowEnd=2025-03-02T00:00:00Z",
            "windowStart 'yesterday' is not an ISO 8601 time",
        ),
        ("runId=r1,windowStart=2025-03-02T00:00:00Z,windowEnd=2025-03-01T00:00:00Z", "must be before windowEnd"),
        ("runId=r 1,windowStart=2025-03-01T00:00:00Z,windowEnd=2025-03-02T00:00:00Z", "runId 'r 1' must be"),
        ("runId=r1,windowStart=2025-03-01T00:00:00Z,windowEnd=2025-03-02T00:00:00Z,extra=1", "unknown field(s) extra"),
        ("just-a-run-id", "'just-a-run-id' is not key=value"),
    ],
)
def test_parse_batch_request_refuses(value: str, message: str) -> None:
    with pytest.raises(BatchRequestError) as caught:
        builders.parse_batch_request(value)
    assert message in str(caught.value)


def test_format_then_parse_batch_request() -> None:
    request = BatchRequest("r:1", datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 1, 1, tzinfo=UTC))
    assert builders.parse_batch_request(builders.format_batch_request(request)) == request


# --- planner -------------------------------------------------------------------------


def with_status(app: dict, state: str, error: str = "") -> dict:
    app = copy.deepcopy(app)
    app["metadata"]["creationTimestamp"] = "2025-03-01T11:00:01Z"
    app["status"] = {"applicationState": {"state": state, "errorMessage": error}, "driverInfo": {}}
    return app


def test_plan_new_pipeline_creates_the_stream() -> None:
    pipeline = make_pipeline()
    steps = planner.plan(pipeline, [], NOW)
    assert steps.deletes == []
    assert steps.creates == [builders.build_stream_application(pipeline)]
    assert steps.events == [planner.Event("Normal", "StreamStarted", "Created SparkApplication demo-stream")]
    assert steps.status["phase"] == "Pending"
    assert steps.status["stream"] == {
        "state": "PENDING",
        "application": "demo-stream",
        "specHash": steps.creates[0]["metadata"]["annotations"]["pinpipe.io/spec-hash"],
    }
    assert steps.status["batch"] == {"runs": []}
    assert [(c["type"], c["status"], c["reason"]) for c in steps.status["conditions"]] == [
        ("Ready", "False", "StreamNotRunning"),
        ("StreamRunning", "False", "Pending"),
        ("BatchSucceeded", "Unknown", "NoRunFinished"),
    ]
    assert {c["observedGeneration"] for c in steps.status["conditions"]} == {3}
    assert steps.status["observedGeneration"] == 3


def test_plan_is_stable_once_running() -> None:
    pipeline = make_pipeline()
    running = with_status(builders.build_stream_application(pipeline), "RUNNING")
    first = planner.plan(pipeline, [running], NOW)
    assert first.events == [planner.Event("Normal", "StreamRunning", "SparkApplication demo-stream is RUNNING")]
    assert first.status["phase"] == "Running"
    pipeline["status"] = first.status
    again = planner.plan(pipeline, [running], NOW + timedelta(minutes=5))
    assert (again.creates, again.deletes, again.events) == ([], [], [])
    assert planner.merge_patch(first.status, again.status) == {}


def test_plan_replaces_the_stream_on_spec_change() -> None:
    old = with_status(builders.build_stream_application(make_pipeline()), "RUNNING")
    changed = make_pipeline(image="pinpipe-spark:v2")
    steps = planner.plan(changed, [old], NOW)
    assert steps.deletes == ["demo-stream"]
    assert steps.creates == [builders.build_stream_application(changed)]
    assert [e.reason for e in steps.events] == ["StreamReplaced"]


def test_plan_suspend_deletes_the_stream_and_holds_batches() -> None:
    running = with_status(builders.build_stream_application(make_pipeline()), "RUNNING")
    suspended = make_pipeline(suspend=True)
    suspended["metadata"]["annotations"] = {
        "pinpipe.io/batch-request": "runId=r1,windowStart=2025-03-01T00:00:00Z,windowEnd=2025-03-01T01:00:00Z"
    }
    steps = planner.plan(suspended, [running], NOW)
    assert (steps.deletes, steps.creates) == (["demo-stream"], [])
    assert steps.events == [
        planner.Event("Normal", "StreamStopped", "Deleted SparkApplication demo-stream: spec.suspend is true")
    ]
    assert steps.status["phase"] == "Suspended"
    assert steps.status["stream"] == {"state": "STOPPED"}
    assert "handledRequest" not in steps.status["batch"]


def test_plan_batch_request_then_completion() -> None:
    pipeline = make_pipeline(stream={**make_pipeline()["spec"]["stream"], "enabled": False})
    raw = "runId=r1,windowStart=2025-03-01T00:00:00Z,windowEnd=2025-03-01T01:00:00Z"
    pipeline["metadata"]["annotations"] = {"pinpipe.io/batch-request": raw}
    steps = planner.plan(pipeline, [], NOW)
    request = builders.parse_batch_request(raw)
    assert steps.creates == [builders.build_batch_application(pipeline, request)]
    run = {
        "id": "r1",
        "application": "demo-batch-r1",
        "windowStart": "2025-03-01T00:00:00Z",
        "windowEnd": "2025-03-01T01:00:00Z",
        "state": "PENDING",
        "requestedAt": "2025-03-01T12:00:30Z",
    }
    assert steps.status["batch"] == {"handledRequest": raw, "runs": [run], "lastRun": "r1 PENDING"}
    assert steps.status["phase"] == "Running"

    pipeline["status"] = steps.status
    done = with_status(steps.creates[0], "COMPLETED")
    done["status"]["terminationTime"] = "2025-03-01T12:10:00Z"
    later = planner.plan(pipeline, [done], NOW + timedelta(minutes=10))
    assert later.creates == []
    assert later.status["batch"]["runs"] == [{**run, "state": "COMPLETED", "finishedAt": "2025-03-01T12:10:00Z"}]
    assert later.events == [planner.Event("Normal", "BatchSucceeded", "Run r1 (demo-batch-r1) is COMPLETED")]
    assert later.status["conditions"][2]["status"] == "True"


def test_plan_batch_failure_degrades_the_pipeline() -> None:
    pipeline = make_pipeline(stream={**make_pipeline()["spec"]["stream"], "enabled": False})
    pipeline["metadata"]["annotations"] = {
        "pinpipe.io/batch-request": '{"runId":"r2","windowStart":"2025-03-01T00:00:00Z","windowEnd":"2025-03-01T01:00:00Z"}'
    }
    first = planner.plan(pipeline, [], NOW)
    pipeline["status"] = first.status
    failed = with_status(first.creates[0], "FAILED", "driver exited with code 1")
    steps = planner.plan(pipeline, [failed], NOW)
    assert steps.events == [
        planner.Event("Warning", "BatchFailed", "Run r2 (demo-batch-r2) is FAILED: driver exited with code 1")
    ]
    assert steps.status["phase"] == "Degraded"
    assert steps.status["batch"]["runs"][0]["errorMessage"] == "driver exited with code 1"
    assert steps.status["conditions"][0]["reason"] == "BatchFailed"


def test_plan_invalid_request_warns_once() -> None:
    pipeline = make_pipeline()
    pipeline["metadata"]["annotations"] = {"pinpipe.io/batch-request": "runId=r1"}
    steps = planner.plan(pipeline, [], NOW)
    warnings = [e for e in steps.events if e.type == "Warning"]
    assert warnings == [
        planner.Event(
            "Warning",
            "InvalidBatchRequest",
            "Ignored pinpipe.io/batch-request: missing windowStart, windowEnd (expected runId, windowStart, windowEnd)",
        )
    ]
    pipeline["status"] = steps.status
    assert [e for e in planner.plan(pipeline, [], NOW).events if e.type == "Warning"] == []


def test_plan_restores_a_run_the_status_missed() -> None:
    pipeline = make_pipeline(stream={**make_pipeline()["spec"]["stream"], "enabled": False})
    raw = "runId=r1,windowStart=2025-03-01T00:00:00Z,windowEnd=2025-03-01T01:00:00Z"
    pipeline["metadata"]["annotations"] = {"pinpipe.io/batch-request": raw}
    app = with_status(builders.build_batch_application(pipeline, builders.parse_batch_request(raw)), "RUNNING")
    steps = planner.plan(pipeline, [app], NOW)
    assert steps.creates == []
    assert [r["id"] for r in steps.status["batch"]["runs"]] == ["r1"]
    assert steps.status["batch"]["runs"][0]["state"] == "RUNNING"


def test_plan_schedule_runs_the_latest_tick_once() -> None:
    pipeline = make_pipeline(batch={**make_pipeline()["spec"]["batch"], "schedule": "0 * * * *"})
    steps = planner.plan(pipeline, [], NOW)
    batch_apps = [a for a in steps.creates if a["metadata"]["labels"]["app.kubernetes.io/component"] == "batch"]
    assert [a["spec"]["arguments"] for a in batch_apps] == [
        [
            "--run-id",
            "scheduled-20250301T120000Z",
            "--window-start",
            "2025-03-01T11:00:00Z",
            "--window-end",
            "2025-03-01T12:00:00Z",
        ]
    ]
    assert steps.status["batch"]["lastScheduleTime"] == "2025-03-01T12:00:00Z"
    pipeline["status"] = steps.status
    again = planner.plan(pipeline, [with_status(a, "") for a in steps.creates], NOW + timedelta(minutes=30))
    assert [a for a in again.creates if "batch" in a["metadata"]["name"]] == []


def test_plan_prunes_history() -> None:
    pipeline = make_pipeline(batch={**make_pipeline()["spec"]["batch"], "historyLimit": 2})
    apps, runs = [], []
    for i in range(4):
        request = BatchRequest(f"r{i}", NOW - timedelta(hours=2), NOW - timedelta(hours=1))
        apps.append(with_status(builders.build_batch_application(pipeline, request), "COMPLETED"))
        runs.append({"id": f"r{i}", "application": f"demo-batch-r{i}", "state": "COMPLETED", "finishedAt": "x"})
    pipeline["status"] = {"batch": {"runs": runs}}
    steps = planner.plan(pipeline, apps, NOW)
    assert [d for d in steps.deletes if "batch" in d] == ["demo-batch-r0", "demo-batch-r1"]
    assert [r["id"] for r in steps.status["batch"]["runs"]] == ["r2", "r3"]


def test_merge_patch() -> None:
    old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}
    new = {"a": 1, "b": {"c": 5}, "e": [1, 2], "f": None, "g": "x"}
    assert planner.merge_patch(old, new) == {"b": {"c": 5, "d": None}, "e": [1, 2], "g": "x"}


def test_batch_request_annotation_is_part_of_what_kopf_compares() -> None:
    """kopf ignores annotations under its storage prefix: the request must not live there."""
    import kopf
    from pinpipe_operator.runtime import configure
    from pinpipe_operator.settings import OperatorSettings

    settings = kopf.OperatorSettings()
    configure(settings, OperatorSettings())
    body = make_pipeline()
    prefix = OperatorSettings().persistence_prefix
    body["metadata"]["annotations"] = {f"{prefix}/kopf-managed": "yes", "pinpipe.io/batch-request": "runId=r1"}
    essence = settings.persistence.diffbase_storage.build(body=kopf.Body(body))
    assert essence["metadata"]["annotations"] == {"pinpipe.io/batch-request": "runId=r1"}
