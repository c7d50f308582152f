"""The CRDs in a real API server: defaults, refusals with clear messages, the upstream schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from k8s_support import Cluster, pipeline_body
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from pinpipe_operator import builders

pytestmark = pytest.mark.k8s


def refusal(exc: ApiException) -> str:
    """The API server's message, as `kubectl apply` prints it."""
    assert exc.status == 422, exc.body
    return json.loads(exc.body)["message"]


def test_defaults_are_filled_in(admin: ApiClient, module_namespace: str) -> None:
    created = Cluster(admin, module_namespace).create_pipeline(pipeline_body("defaults"))
    spec = created["spec"]
    assert spec["imagePullPolicy"] == "IfNotPresent"
    assert spec["serviceAccountName"] == "pinpipe-spark"
    assert spec["storage"] == {
        "endpoint": "http://pinpipe-minio:9000",
        "credentialsSecret": "pinpipe-minio",
        "region": "us-east-1",
        "accessKeyKey": "accessKey",
        "secretKeyKey": "secretKey",
        "buckets": {"raw": "pinterest-raw", "curated": "pinterest-curated", "checkpoints": "pinterest-checkpoints"},
    }
    assert spec["postgres"] == {
        "host": "pinpipe-pg-rw",
        "port": 5432,
        "database": "pinterest",
        "credentialsSecret": "pinpipe-pg-app",
        "userKey": "username",
        "passwordKey": "password",
    }
    assert spec["stream"] == {
        "enabled": True,
        "trigger": "5 seconds",
        "restartPolicy": {"type": "OnFailure", "retries": 10, "retryIntervalSeconds": 30},
        "driver": {"cores": 1, "memory": "1g"},
        "executors": {"instances": 1, "cores": 1, "memory": "1g"},
    }
    assert spec["batch"] == {
        "enabled": True,
        "schedule": "",
        "historyLimit": 5,
        "driver": {"cores": 1, "memory": "1g"},
        "executors": {"instances": 1, "cores": 1, "memory": "1g"},
    }


INVALID = [
    pytest.param({"image": None}, "spec.image: Required value", id="image-missing"),
    pytest.param({"image": "pinpipe spark"}, "spec.image in body should match", id="image-space"),
    pytest.param(
        {"imagePullPolicy": "Sometimes"}, 'spec.imagePullPolicy: Unsupported value: "Sometimes"', id="pull-policy"
    ),
    pytest.param(
        {"kafka": {"bootstrapServers": "kafka"}}, "spec.kafka.bootstrapServers in body should match", id="kafka-no-port"
    ),
    pytest.param(
        {"storage": {"endpoint": "minio:9000"}}, "spec.storage.endpoint in body should match '^https?://", id="s3-url"
    ),
    pytest.param(
        {"storage": {"buckets": {"raw": "same-bucket", "curated": "same-bucket"}}},
        "storage.buckets.raw, curated and checkpoints must be three different buckets",
        id="buckets-equal",
    ),
    pytest.param(
        {"postgres": {"port": 70000}},
        "spec.postgres.port: Invalid value: 70000: spec.postgres.port in body should be less than or equal to 65535",
        id="pg-port",
    ),
    pytest.param(
        {"postgres": {"credentialsSecret": None}},
        "spec.postgres.credentialsSecret: Required value",
        id="pg-secret-missing",
    ),
    pytest.param(
        {"stream": {"executors": {"instances": 0}}},
        "spec.stream.executors.instances in body should be greater than or equal to 1",
        id="executors-zero",
    ),
    pytest.param(
        {"stream": {"executors": {"memory": "lots"}}},
        "spec.stream.executors.memory in body should match",
        id="memory-format",
    ),
    pytest.param({"stream": {"trigger": "fast"}}, "spec.stream.trigger in body should match", id="trigger"),
    pytest.param(
        {"stream": {"restartPolicy": {"type": "Never"}}},
        'spec.stream.restartPolicy.type: Unsupported value: "Never"',
        id="stream-restart-never",
    ),
    pytest.param({"batch": {"schedule": "every day"}}, "spec.batch.schedule in body should match", id="schedule"),
    pytest.param(
        {"batch": {"historyLimit": 0}},
        "spec.batch.historyLimit in body should be greater than or equal to 1",
        id="history-zero",
    ),
    pytest.param(
        {"stream": {"enabled": False}, "batch": {"enabled": False}},
        "at least one of stream.enabled and batch.enabled must be true",
        id="nothing-enabled",
    ),
    pytest.param(
        {"batch": {"enabled": False, "schedule": "0 * * * *"}},
        "batch.schedule is set but batch.enabled is false",
        id="schedule-without-batch",
    ),
    pytest.param(
        {"sparkConf": {"sql.shuffle.partitions": "4"}}, "sparkConf keys must start with 'spark.'", id="sparkconf-key"
    ),
    pytest.param(
        {"sparkConf": {"spark.hadoop.fs.s3a.secret.key": "hunter2"}},
        "sparkConf must not carry credentials: set storage.credentialsSecret and postgres.credentialsSecret instead",
        id="sparkconf-secret",
    ),
    pytest.param(
        {"serviceAccountName": "Spark_SA"}, "spec.serviceAccountName in body should match", id="service-account"
    ),
]


@pytest.mark.parametrize(("change", "message"), INVALID)
def test_invalid_pipeline_is_refused(admin: ApiClient, module_namespace: str, change: dict, message: str) -> None:
    body = pipeline_body("demo", **{k: v for k, v in change.items() if v is not None})
    for key, value in change.items():
        if value is None:
            del body["spec"][key]
        elif isinstance(value, dict):
            for inner, inner_value in value.items():
                if inner_value is None:
                    del body["spec"][key][inner]
    with pytest.raises(ApiException) as refused:
        Cluster(admin, module_namespace).create_pipeline(body)
    assert message in refusal(refused.value)
    assert "demo" not in {p["metadata"]["name"] for p in Cluster(admin, module_namespace).pipelines()}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a-pipeline-name-longer-than-thirty-chars", "metadata.name must be at most 30 characters"),
        ("1demo", "metadata.name must start with a letter"),
    ],
)
def test_pipeline_name_is_checked(admin: ApiClient, module_namespace: str, name: str, message: str) -> None:
    with pytest.raises(ApiException) as refused:
        Cluster(admin, module_namespace).create_pipeline(pipeline_body(name))
    assert message in refusal(refused.value)


def test_children_pass_the_upstream_sparkapplication_schema(admin: ApiClient, module_namespace: str) -> None:
    """Strict field validation: a field the upstream schema does not know would be refused, not pruned."""
    cluster = Cluster(admin, module_namespace)
    pipeline = cluster.create_pipeline(
        pipeline_body("schema", sparkConf={"spark.sql.shuffle.partitions": "8"}, batch={"executors": {"instances": 2}})
    )
    request = builders.BatchRequest("manual-1", datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))
    for app in (builders.build_stream_application(pipeline), builders.build_batch_application(pipeline, request)):
        stored = cluster.create_app(app, dry_run=True)
        assert stored["spec"] == app["spec"]
        assert stored["metadata"]["ownerReferences"] == app["metadata"]["ownerReferences"]
