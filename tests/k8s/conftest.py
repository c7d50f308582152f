"""Fixtures of the "k8s api" tier: a real control plane, the CRDs, the operator in-process.

One etcd + kube-apiserver + kube-controller-manager (garbage collector and namespace
controllers only) serve the whole session on 127.0.0.1; every test gets its own namespace.
No node runs anything: tests write SparkApplication status the way spark-operator does.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import control_plane
import kubernetes
import pytest
import yaml
from k8s_support import Operator, wait_for
from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from pinpipe.devtools import upstream_crds
from pinpipe_operator.builders import GROUP, PLURAL, SPARK_API_VERSION, SPARK_GROUP, SPARK_PLURAL, VERSION

REPO = Path(__file__).resolve().parents[2]
OPERATOR_DEPLOY = REPO / "operator" / "deploy"
SPARK_CRDS = "spark-operator-v2.5.2"
OPERATOR_NAMESPACE = "pinpipe-test-system"
OPERATOR_SA = "pinpipe-operator"


def shared_crds() -> Path:
    return upstream_crds.require(SPARK_CRDS)


@pytest.fixture(scope="session")
def plane(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[control_plane.ControlPlane]:
    """The control plane with our CRD and the upstream SparkApplication CRD installed."""
    crds = [OPERATOR_DEPLOY / "crd.yaml", shared_crds() / SPARK_CRDS / "sparkoperator.k8s.io_sparkapplications.yaml"]
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    # Progress of a first-run build must reach the terminal, not the captured output.
    quiet = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    with quiet:
        started = control_plane.start(tmp_path_factory.mktemp("control-plane"), crds=crds)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def admin(plane: control_plane.ControlPlane) -> Iterator[ApiClient]:
    client = control_plane.new_client(plane.admin_kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="session")
def crds(admin: ApiClient) -> None:
    """Both custom resources answer (installed by `plane`)."""

    def served() -> bool:
        try:
            CustomObjectsApi(admin).list_cluster_custom_object(SPARK_GROUP, SPARK_API_VERSION, SPARK_PLURAL)
            CustomObjectsApi(admin).list_cluster_custom_object(GROUP, VERSION, PLURAL)
        except ApiException:
            return False
        return True

    wait_for(served, 30, "the custom resources to be served")


def apply_manifest(admin: ApiClient, path: Path, namespace: str) -> list[dict[str, Any]]:
    """Create the objects of a manifest with its namespace replaced by `namespace`."""
    dynamic = kubernetes.dynamic.DynamicClient(admin)
    objects = []
    for obj in yaml.safe_load_all(path.read_text()):
        if obj["metadata"].get("namespace"):
            obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        with contextlib.suppress(kubernetes.dynamic.exceptions.ConflictError):
            resource.create(body=obj, namespace=obj["metadata"].get("namespace"))
        objects.append(obj)
    return objects


@pytest.fixture(scope="session")
def operator_kubeconfig(
    plane: control_plane.ControlPlane, admin: ApiClient, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig holding a real token of the operator's ServiceAccount, bound by rbac.yaml only."""
    core = CoreV1Api(admin)
    with contextlib.suppress(ApiException):
        core.create_namespace({"metadata": {"name": OPERATOR_NAMESPACE}})
    apply_manifest(admin, OPERATOR_DEPLOY / "rbac.yaml", OPERATOR_NAMESPACE)
    token = control_plane.token_for(plane, OPERATOR_NAMESPACE, OPERATOR_SA)
    path = tmp_path_factory.mktemp("operator") / "operator.kubeconfig"
    return plane.kubeconfig(path, f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SA}", token)


@contextlib.contextmanager
def temporary_namespace(admin: ApiClient, label: str) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40].rstrip("-")
    name = f"t-{slug}-{secrets.token_hex(3)}"
    core = CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        core.delete_namespace(name)

        def gone() -> bool:
            try:
                core.read_namespace(name)
            except ApiException as exc:
                return exc.status == 404
            return False

        # The next operator watches all namespaces: it must not find this one half-deleted.
        wait_for(gone, 60, f"namespace {name} to be deleted")


@pytest.fixture
def namespace(admin: ApiClient, crds: None, request: pytest.FixtureRequest) -> Iterator[str]:
    with temporary_namespace(admin, request.node.name) as name:
        yield name


@pytest.fixture(scope="module")
def module_namespace(admin: ApiClient, crds: None, request: pytest.FixtureRequest) -> Iterator[str]:
    with temporary_namespace(admin, request.module.__name__) as name:
        yield name


@pytest.fixture
def operator(operator_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Operator]:
    """The operator, started; a test may stop and start it again. Teardown checks its logs."""
    op = Operator(operator_kubeconfig, monkeypatch)
    op.start()
    try:
        yield op
    finally:
        op.stop()
    op.assert_never_denied()


@pytest.fixture
def objects(admin: ApiClient) -> CustomObjectsApi:
    return CustomObjectsApi(admin)
