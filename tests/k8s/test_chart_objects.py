"""Every object the app chart renders, sent to a real API server (server-side dry run).

The upstream CRDs of the pinned operators (Strimzi Kafka, KafkaTopic, KafkaNodePool;
CloudNativePG Cluster, Database) are installed next to ours and spark-operator's, so the
API server validates each custom resource against its upstream schema, CEL rules
included. Strict field validation turns an unknown or misspelt field into an error
instead of a silently pruned one. The PinterestPipeline the chart renders then goes
through the operator's builders, and its SparkApplications are dry-run too.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from k8s_support import wait_for
from pinpipe.devtools import upstream_crds as upstream_crds_folder
from pinpipe.devtools.helm import CHART, build, render_chart, run
from pinpipe_operator import builders

pytestmark = pytest.mark.k8s

UPSTREAM_CRDS = (
    "strimzi-0.45.2/040-Crd-kafka.yaml",
    "strimzi-0.45.2/043-Crd-kafkatopic.yaml",
    "strimzi-0.45.2/04A-Crd-kafkanodepool.yaml",
    "cloudnative-pg-v1.30.0/postgresql.cnpg.io_clusters.yaml",
    "cloudnative-pg-v1.30.0/postgresql.cnpg.io_databases.yaml",
)
EVERYTHING = {
    "kafka": {"mode": "kraft"},
    "emulator": {"enabled": True},
    "pipeline": {"enabled": True},
    "airflow": {"serviceAccounts": ["airflow-scheduler"], "metadataDatabase": {"enabled": True}},
}
VALUE_SETS = {
    "default": {},
    "everything-kraft": EVERYTHING,
    "external-services": {
        "kafka": {"enabled": False, "externalBootstrapServers": "kafka.example:9092"},
        "minio": {"enabled": False},
        "s3": {"externalEndpoint": "https://s3.example", "existingSecret": "s3-keys"},
        "postgres": {"enabled": False, "externalHost": "db.example", "existingSecret": "db"},
        "pipeline": {"enabled": True, "batch": {"schedule": "0 * * * *"}},
    },
}


@pytest.fixture(scope="module")
def upstream_crds(admin: ApiClient, crds: None, pytestconfig: pytest.Config) -> Iterator[None]:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        build()
    dynamic = kubernetes.dynamic.DynamicClient(admin)
    definitions = dynamic.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    installed = []
    for relative in UPSTREAM_CRDS:
        body = yaml.safe_load((upstream_crds_folder.require() / relative).read_text())
        with contextlib.suppress(kubernetes.dynamic.exceptions.ConflictError):
            definitions.create(body=body)
            installed.append(body["metadata"]["name"])

    def established() -> bool:
        for relative in UPSTREAM_CRDS:
            name = yaml.safe_load((upstream_crds_folder.require() / relative).read_text())["metadata"]["name"]
            status = definitions.get(name=name).to_dict().get("status") or {}
            if not any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions", [])):
                return False
        return True

    wait_for(established, 60, "the upstream CRDs to be established")
    try:
        yield
    finally:
        for name in installed:
            with contextlib.suppress(kubernetes.dynamic.exceptions.NotFoundError):
                definitions.delete(name=name)


def dry_run_create(admin: ApiClient, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """POST the object with dryRun=All and strict field validation; the server's answer."""
    # A fresh discovery each time: the upstream CRDs were added after the session's first one.
    resource = kubernetes.dynamic.DynamicClient(admin).resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    path = resource.path(namespace=namespace if resource.namespaced else None)
    return admin.call_api(
        path, "POST",
        query_params=[("dryRun", "All"), ("fieldValidation", "Strict")],
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=obj, response_types_map={200: "object", 201: "object", 202: "object"},
        auth_settings=["BearerToken"], _return_http_data_only=True,
    )


def describe(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.fixture
def default_account(admin: ApiClient, namespace: str) -> None:
    """What the serviceaccount controller (not run by this control plane) gives every namespace:
    admission refuses a pod whose account does not exist."""
    CoreV1Api(admin).create_namespaced_service_account(namespace, {"metadata": {"name": "default"}})


@pytest.mark.parametrize("values", list(VALUE_SETS.values()), ids=list(VALUE_SETS))
def test_api_server_accepts_every_rendered_object(admin: ApiClient, upstream_crds: None, namespace: str,
                                                  default_account: None, values: dict[str, Any]) -> None:
    objects = render_chart(values, namespace=namespace)
    refused = []
    for obj in objects:
        try:
            dry_run_create(admin, obj, namespace)
        except ApiException as exc:
            refused.append(f"{describe(obj)}: {exc.status} {exc.body}")
    assert not refused, "\n".join(refused)
    kinds = {obj["kind"] for obj in objects}
    if values is EVERYTHING:
        assert {"Kafka", "KafkaNodePool", "KafkaTopic", "Cluster", "Database", "PinterestPipeline"} <= kinds


def test_chart_pipeline_builds_valid_spark_applications(admin: ApiClient, upstream_crds: None, namespace: str) -> None:
    """The rendered pipeline, defaulted by the API server, is what the operator builds from."""
    rendered = next(o for o in render_chart(EVERYTHING, namespace=namespace) if o["kind"] == "PinterestPipeline")
    pipeline = dry_run_create(admin, rendered, namespace)
    assert pipeline["spec"]["stream"]["restartPolicy"]["type"] == "OnFailure"  # a CRD default, so defaults applied
    pipeline["metadata"].setdefault("uid", "00000000-0000-4000-8000-000000000000")
    request = builders.BatchRequest("chart-1", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    for app in (builders.build_stream_application(pipeline), builders.build_batch_application(pipeline, request)):
        # The owner does not exist (dry run): the reference is checked only for its shape here.
        app["metadata"].pop("ownerReferences", None)
        answered = dry_run_create(admin, app, namespace)
        assert answered["spec"]["image"] == "pinpipe-spark:dev"
        assert answered["spec"]["driver"]["serviceAccount"] == "pinpipe-spark"


def test_strict_validation_catches_a_misspelt_field(admin: ApiClient, upstream_crds: None, namespace: str) -> None:
    """The dry run is a real check: a field the upstream schema lacks is refused, not pruned."""
    kafka = next(o for o in render_chart(namespace=namespace) if o["kind"] == "Kafka")
    kafka["spec"]["kafka"]["replica"] = kafka["spec"]["kafka"].pop("replicas")
    with pytest.raises(ApiException) as refused:
        dry_run_create(admin, kafka, namespace)
    assert refused.value.status in (400, 422)
    assert "replica" in refused.value.body


def test_install_and_upgrade_keep_the_generated_credentials(
    plane: Any, admin: ApiClient, upstream_crds: None, namespace: str
) -> None:
    """`lookup` finds the live Secrets on upgrade: MinIO's data stays readable with its keys.

    --no-hooks: no node runs the bucket Job, and helm would wait for it.
    """
    release = f"chart-{secrets.token_hex(3)}"
    core = CoreV1Api(admin)
    common = ["--namespace", namespace, "--kubeconfig", str(plane.admin_kubeconfig), "--no-hooks",
              "--set", "airflow.metadataDatabase.enabled=true"]

    def keys() -> dict[str, dict[str, str]]:
        return {name: core.read_namespaced_secret(name, namespace).data
                for name in (f"{release}-minio", f"{release}-airflow-metadata")}

    notes = run(["install", release, str(CHART), *common])
    try:
        assert f"port-forward svc/{release}-api" in notes
        before = keys()
        assert all(before.values())
        run(["upgrade", release, str(CHART), *common, "--set", "api.replicas=2"])
        assert keys() == before
        password = base64.b64decode(before[f"{release}-airflow-metadata"]["password"]).decode()
        assert f":{password}@" in base64.b64decode(before[f"{release}-airflow-metadata"]["connection"]).decode()
    finally:
        run(["uninstall", release, "--namespace", namespace, "--kubeconfig", str(plane.admin_kubeconfig), "--no-hooks"])
    # helm.sh/resource-policy: keep, for the volumes written with them.
    assert keys() == before
