"""The app chart, rendered with `helm template` and asserted on as objects (Airflow's way).

helm is the pinned build of pinpipe.devtools.helm (built from source on the first run).
The objects are checked against the upstream CRDs by a real API server in
tests/k8s/test_chart_objects.py; here: what the chart renders for which values, the
environment contract with the code's settings classes, and the values' documentation.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from pinpipe import settings as cfg
from pinpipe.api.settings import ApiSettings
from pinpipe.archiver.settings import ArchiverSettings
from pinpipe.datagen.settings import DatagenSettings
from pinpipe.devtools import chart_docs
from pinpipe.devtools.helm import CHART, KUBE_VERSION, HelmError, build, render_chart, run
from pinpipe.emulator.settings import EmulatorSettings
from pinpipe_operator.settings import OperatorSettings

RELEASE = "pinpipe"
COMMON_LABELS = ("helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                 "app.kubernetes.io/component", "app.kubernetes.io/version", "app.kubernetes.io/managed-by",
                 "app.kubernetes.io/part-of")
# Everything optional switched on (KRaft is the other axis).
ALL_ON = {
    "emulator": {"enabled": True},
    "pipeline": {"enabled": True},
    "airflow": {"serviceAccounts": ["airflow-scheduler"], "metadataDatabase": {"enabled": True}},
}


def _release_check_settings() -> type[BaseSettings]:
    spec = importlib.util.spec_from_file_location("release_check", CHART / "files" / "release_check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ReleaseCheckSettings


SETTINGS_BY_PREFIX: dict[str, type[BaseSettings]] = {
    "PINPIPE_KAFKA_": cfg.KafkaSettings,
    "PINPIPE_S3_": cfg.S3Settings,
    "PINPIPE_PG_": cfg.PostgresSettings,
    "PINPIPE_API_": ApiSettings,
    "PINPIPE_ARCHIVER_": ArchiverSettings,
    "PINPIPE_EMULATOR_": EmulatorSettings,
    "PINPIPE_DATAGEN_": DatagenSettings,
    "PINPIPE_OPERATOR_": OperatorSettings,
    "PINPIPE_RELEASE_CHECK_": _release_check_settings(),
}


@pytest.fixture(scope="module", autouse=True)
def helm_built(pytestconfig: pytest.Config) -> None:
    """Build the pinned helm before the first render, with its progress on the terminal."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        build()


def merge(*layers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for obj in objects:
        spec = pod_spec(obj)
        for container in (spec or {}).get("initContainers", []) + (spec or {}).get("containers", []):
            yield obj, container


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# ---- inventory ------------------------------------------------------------------------

DEFAULT_INVENTORY = {
    ("ServiceAccount", "pinpipe-operator"),
    ("ServiceAccount", "pinpipe-spark"),
    ("Secret", "pinpipe-minio"),
    ("ConfigMap", "pinpipe-scripts"),
    ("ClusterRole", "pinpipe-operator"),
    ("ClusterRoleBinding", "pinpipe-operator"),
    ("Role", "pinpipe-spark"),
    ("RoleBinding", "pinpipe-spark"),
    ("Service", "pinpipe-api"),
    ("Service", "pinpipe-minio"),
    ("Deployment", "pinpipe-api"),
    ("Deployment", "pinpipe-archiver"),
    ("Deployment", "pinpipe-operator"),
    ("StatefulSet", "pinpipe-minio"),
    ("Job", "pinpipe-minio-buckets"),
    ("Pod", "pinpipe-test-release"),
    ("Cluster", "pinpipe-pg"),
    ("Kafka", "pinpipe"),
    ("KafkaTopic", "pinpipe-pinterest-pin"),
    ("KafkaTopic", "pinpipe-pinterest-geo"),
    ("KafkaTopic", "pinpipe-pinterest-user"),
}


def test_default_inventory() -> None:
    objects = render_chart()
    kinds_names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(kinds_names) == len(set(kinds_names)), "an object is rendered twice"
    assert set(kinds_names) == DEFAULT_INVENTORY


def test_everything_on_adds_exactly_the_optional_objects() -> None:
    added = {(o["kind"], o["metadata"]["name"]) for o in render_chart(ALL_ON)} - DEFAULT_INVENTORY
    assert added == {
        ("Deployment", "pinpipe-emulator"),
        ("PinterestPipeline", "demo"),
        ("Role", "pinpipe-airflow"),
        ("RoleBinding", "pinpipe-airflow"),
        ("Secret", "pinpipe-airflow-metadata"),
        ("Database", "pinpipe-airflow"),
    }


def test_crd_ships_in_the_crds_folder_only() -> None:
    assert not by_kind(render_chart(ALL_ON), "CustomResourceDefinition")
    crds = by_kind(render_chart(include_crds=True), "CustomResourceDefinition")
    assert [c["metadata"]["name"] for c in crds] == ["pinterestpipelines.pinpipe.io"]


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
@pytest.mark.parametrize("emulator", [False, True])
@pytest.mark.parametrize("pipeline", [False, True])
def test_value_combinations(mode: str, emulator: bool, pipeline: bool) -> None:
    objects = render_chart({"kafka": {"mode": mode}, "emulator": {"enabled": emulator}, "pipeline": {"enabled": pipeline}})
    kinds_names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert (("KafkaNodePool", "pinpipe-dual") in kinds_names) == (mode == "kraft")
    assert (("Deployment", "pinpipe-emulator") in kinds_names) == emulator
    assert (("PinterestPipeline", "demo") in kinds_names) == pipeline
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert all(label in labels for label in COMMON_LABELS), f"{obj['kind']}/{obj['metadata']['name']}: {labels}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
    for workload in by_kind(objects, "Deployment") + by_kind(objects, "StatefulSet"):
        selector = workload["spec"]["selector"]["matchLabels"]
        template_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= template_labels.items()
        assert selector["app.kubernetes.io/component"] in workload["metadata"]["name"]


def test_template_files_follow_component_kind_layout() -> None:
    """templates/<component>/<component>-<kind>.yaml, each rendering only that kind."""
    templates = CHART / "templates"
    for path in sorted(templates.glob("*/*.yaml")):
        component = path.parent.name
        assert path.stem.startswith(f"{component}-"), path
        suffix = path.stem.rsplit("-", 1)[1].removesuffix("s")
        rendered = render_chart(merge(ALL_ON, {"kafka": {"mode": "kraft"}}),
                                show_only=[str(path.relative_to(CHART))])
        assert rendered, f"{path} renders nothing with everything on"
        for obj in rendered:
            assert obj["kind"].lower().endswith(suffix), f"{path.name} renders a {obj['kind']}"


@pytest.mark.parametrize("values_file", [None, "kind/pinpipe.values.yaml"], ids=["default", "kind"])
def test_helm_lint_strict(values_file: str | None) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    if values_file:
        args += ["--values", str(CHART.parents[1] / values_file), "--set", "pipeline.enabled=true"]
    assert "0 chart(s) failed" in run(args)


def test_defines_are_namespaced() -> None:
    names = re.findall(r'define "([^"]+)"', "".join(p.read_text() for p in (CHART / "templates").rglob("*.tpl")))
    assert names
    for name in names:
        assert re.fullmatch(r"pinterest-pipeline\.[a-z0-9]+\.[A-Za-z]+", name), name


# ---- Kafka ----------------------------------------------------------------------------


def test_zookeeper_mode_is_the_default() -> None:
    kafka = one(render_chart(), "Kafka", RELEASE)
    assert kafka["metadata"]["annotations"] == {"strimzi.io/kraft": "disabled", "strimzi.io/node-pools": "disabled"}
    assert kafka["spec"]["zookeeper"]["replicas"] == 1
    assert kafka["spec"]["kafka"]["replicas"] == 1
    assert kafka["spec"]["kafka"]["listeners"] == [{"name": "plain", "port": 9092, "type": "internal", "tls": False}]
    assert "topicOperator" in kafka["spec"]["entityOperator"]


def test_kraft_mode_uses_a_dual_role_node_pool() -> None:
    objects = render_chart({"kafka": {"mode": "kraft", "replicas": 3, "storage": {"type": "ephemeral"}}})
    kafka = one(objects, "Kafka", RELEASE)
    assert kafka["metadata"]["annotations"] == {"strimzi.io/kraft": "enabled", "strimzi.io/node-pools": "enabled"}
    assert "zookeeper" not in kafka["spec"]
    assert "replicas" not in kafka["spec"]["kafka"] and "storage" not in kafka["spec"]["kafka"]
    assert kafka["spec"]["kafka"]["metadataVersion"] == "3.9-IV0"
    pool = one(objects, "KafkaNodePool", "pinpipe-dual")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == RELEASE
    assert pool["spec"]["replicas"] == 3
    assert pool["spec"]["roles"] == ["controller", "broker"]
    assert pool["spec"]["storage"] == {"type": "jbod", "volumes": [{"id": 0, "type": "ephemeral", "kraftMetadata": "shared"}]}


def test_topics_are_the_ones_the_code_uses() -> None:
    topics = by_kind(render_chart({"kafka": {"topics": {"partitions": 6}}}), "KafkaTopic")
    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(cfg.TOPICS)
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == RELEASE
        assert topic["spec"]["partitions"] == 6
        assert topic["spec"]["replicas"] == 1


# ---- Postgres -------------------------------------------------------------------------


def test_postgres_cluster_creates_the_database_and_the_schemas_the_code_uses() -> None:
    cluster = one(render_chart(), "Cluster", "pinpipe-pg")
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    defaults = cfg.PostgresSettings.model_fields
    assert initdb["database"] == defaults["database"].default == "pinterest"
    assert initdb["owner"] == defaults["user"].default == "pinpipe"
    schemas = [re.fullmatch(r"CREATE SCHEMA IF NOT EXISTS (\w+) AUTHORIZATION pinpipe", sql)[1]
               for sql in initdb["postInitApplicationSQL"]]
    assert schemas == list(cfg.PG_SCHEMAS)
    assert "secret" not in initdb  # CloudNativePG generates pinpipe-pg-app


def test_airflow_metadata_database_lives_in_the_cluster() -> None:
    objects = render_chart(ALL_ON)
    cluster = one(objects, "Cluster", "pinpipe-pg")
    assert cluster["spec"]["managed"]["roles"] == [
        {"name": "airflow", "ensure": "present", "login": True, "passwordSecret": {"name": "pinpipe-airflow-metadata"}}
    ]
    database = one(objects, "Database", "pinpipe-airflow")
    assert database["spec"] == {"cluster": {"name": "pinpipe-pg"}, "name": "airflow", "owner": "airflow", "ensure": "present"}
    secret = one(objects, "Secret", "pinpipe-airflow-metadata")
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["username"] == "airflow"
    assert len(data["password"]) == 32
    assert data["connection"] == f"postgresql://airflow:{data['password']}@pinpipe-pg-rw:5432/airflow"


# ---- the environment contract -----------------------------------------------------------


@pytest.mark.parametrize("values", [{}, ALL_ON], ids=["default", "all-on"])
def test_every_pinpipe_env_var_is_a_settings_field(values: dict[str, Any]) -> None:
    """A misspelt variable would be silently ignored by pydantic-settings: none may be."""
    seen = 0
    for obj, container in containers(render_chart(values)):
        for name in env_of(container):
            if not name.startswith("PINPIPE_"):
                continue
            prefix = next((p for p in SETTINGS_BY_PREFIX if name.startswith(p)), None)
            assert prefix, f"{obj['metadata']['name']}/{container['name']}: no settings class reads {name}"
            field = name.removeprefix(prefix).lower()
            assert field in SETTINGS_BY_PREFIX[prefix].model_fields, f"{name} is not a field of {prefix}*"
            seen += 1
    assert seen > 30


def settings_from(container: dict[str, Any], cls: type[BaseSettings], prefix: str) -> BaseSettings:
    """The settings object the container's env gives; a secret stands in as <secret name/key>."""
    given = {}
    for name, entry in env_of(container).items():
        if name.startswith(prefix):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            given[name.removeprefix(prefix).lower()] = f"<secret {ref['name']}/{ref['key']}>" if ref else entry["value"]
    return cls(_env_file=None, **given)


def test_services_reach_the_in_cluster_endpoints() -> None:
    objects = render_chart(ALL_ON)
    api = one(objects, "Deployment", "pinpipe-api")["spec"]["template"]["spec"]["containers"][0]
    archiver = one(objects, "Deployment", "pinpipe-archiver")["spec"]["template"]["spec"]["containers"][0]
    emulator = one(objects, "Deployment", "pinpipe-emulator")["spec"]["template"]["spec"]["containers"][0]

    for container in (api, archiver):
        assert settings_from(container, cfg.KafkaSettings, "PINPIPE_KAFKA_").bootstrap_servers == "pinpipe-kafka-bootstrap:9092"
    s3 = settings_from(archiver, cfg.S3Settings, "PINPIPE_S3_")
    assert s3.endpoint == "http://pinpipe-minio:9000"
    assert s3.access_key.get_secret_value() == "<secret pinpipe-minio/accessKey>"
    assert s3.secret_key.get_secret_value() == "<secret pinpipe-minio/secretKey>"
    assert (s3.raw_bucket, s3.curated_bucket, s3.checkpoints_bucket) == cfg.BUCKETS
    pg = settings_from(emulator, cfg.PostgresSettings, "PINPIPE_PG_")
    assert (pg.host, pg.port, pg.database, pg.user) == ("pinpipe-pg-rw", 5432, "pinterest", "pinpipe")
    assert pg.password.get_secret_value() == "<secret pinpipe-pg-app/password>"

    api_settings = settings_from(api, ApiSettings, "PINPIPE_API_")
    port = api["ports"][0]["containerPort"]
    assert (api_settings.host, api_settings.port) == ("0.0.0.0", port)
    service = one(objects, "Service", "pinpipe-api")
    assert service["spec"]["ports"][0]["targetPort"] == api["ports"][0]["name"]
    emulator_settings = settings_from(emulator, EmulatorSettings, "PINPIPE_EMULATOR_")
    assert emulator_settings.api_url == f"http://pinpipe-api:{service['spec']['ports'][0]['port']}"


def test_credentials_only_come_from_secrets() -> None:
    for values in ({}, ALL_ON, {"s3": {"existingSecret": "my-s3"}, "postgres": {"existingSecret": "my-pg"}}):
        objects = render_chart(values)
        secret_names = {o["metadata"]["name"] for o in by_kind(objects, "Secret")}
        for obj, container in containers(objects):
            for name, entry in env_of(container).items():
                if re.search(r"KEY|PASSWORD|SECRET|ROOT_USER", name):
                    ref = entry["valueFrom"]["secretKeyRef"]
                    assert "value" not in entry
                    # The Secret is rendered here, or named by the user, or generated by CloudNativePG.
                    assert ref["name"] in secret_names | {"my-s3", "my-pg", "pinpipe-pg-app"}, (name, ref)


def test_existing_secrets_replace_the_generated_ones() -> None:
    objects = render_chart({"s3": {"existingSecret": "my-s3"}, "postgres": {"existingSecret": "my-pg"}})
    assert not by_kind(objects, "Secret")
    minio = one(objects, "StatefulSet", "pinpipe-minio")["spec"]["template"]["spec"]["containers"][0]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in minio["env"] if "valueFrom" in e} == {"my-s3"}
    assert one(objects, "Cluster", "pinpipe-pg")["spec"]["bootstrap"]["initdb"]["secret"] == {"name": "my-pg"}
    api_less = render_chart({"postgres": {"existingSecret": "my-pg"}})
    check = one(api_less, "Pod", "pinpipe-test-release")["spec"]["containers"][0]
    assert env_of(check)["PINPIPE_PG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "my-pg", "key": "password"}


def test_generated_minio_secret_survives_uninstall() -> None:
    secret = one(render_chart(), "Secret", "pinpipe-minio")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert set(secret["data"]) == {"accessKey", "secretKey"}


def test_external_services_replace_the_charts_own() -> None:
    objects = render_chart({
        "kafka": {"enabled": False, "externalBootstrapServers": "kafka.example:9092"},
        "minio": {"enabled": False},
        "s3": {"externalEndpoint": "https://s3.example", "existingSecret": "s3-keys"},
        "postgres": {"enabled": False, "externalHost": "db.example", "externalPort": 6432, "existingSecret": "db"},
        "pipeline": {"enabled": True},
    })
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"Kafka", "KafkaTopic", "Cluster", "StatefulSet", "Job"}
    archiver = one(objects, "Deployment", "pinpipe-archiver")["spec"]["template"]["spec"]["containers"][0]
    assert settings_from(archiver, cfg.KafkaSettings, "PINPIPE_KAFKA_").bootstrap_servers == "kafka.example:9092"
    assert settings_from(archiver, cfg.S3Settings, "PINPIPE_S3_").endpoint == "https://s3.example"
    spec = one(objects, "PinterestPipeline", "demo")["spec"]
    assert spec["postgres"] | {"host": "db.example", "port": 6432, "credentialsSecret": "db"} == spec["postgres"]
    assert spec["storage"]["credentialsSecret"] == "s3-keys"


# ---- workloads ------------------------------------------------------------------------


def test_pods_run_unprivileged_with_a_read_only_root() -> None:
    for obj, container in containers(render_chart(ALL_ON)):
        pod = pod_spec(obj)
        assert pod["securityContext"]["runAsNonRoot"] is True
        # Only the operator talks to the Kubernetes API; no other pod carries a token.
        assert pod.get("automountServiceAccountToken", True) is (obj["metadata"]["name"] == "pinpipe-operator")
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{obj['metadata']['name']}/{container['name']} has no writable /tmp"


def test_images_come_from_values() -> None:
    images = {"python": {"repository": "reg.example/py", "tag": "abc"}, "spark": {"repository": "reg.example/spark", "tag": "s1"},
              "operator": {"repository": "reg.example/op", "tag": "o1"}, "minio": {"repository": "reg.example/minio", "tag": "m1"}}
    objects = render_chart(merge(ALL_ON, {"images": images}))
    used = {container["image"] for _, container in containers(objects)}
    assert used == {"reg.example/py:abc", "reg.example/op:o1", "reg.example/minio:m1"}
    assert one(objects, "PinterestPipeline", "demo")["spec"]["image"] == "reg.example/spark:s1"


def test_operator_mirrors_its_plain_manifest() -> None:
    plain = yaml.safe_load((CHART.parents[1] / "operator" / "deploy" / "deployment.yaml").read_text())
    objects = render_chart()
    deployment = one(objects, "Deployment", "pinpipe-operator")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["replicas"] == 1
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    plain_container = plain["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == plain_container["command"]
    assert container["livenessProbe"]["httpGet"] == plain_container["livenessProbe"]["httpGet"]
    binding = one(objects, "ClusterRoleBinding", "pinpipe-operator")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "pinpipe"}]
    assert binding["roleRef"]["name"] == one(objects, "ClusterRole", "pinpipe-operator")["metadata"]["name"]


def test_spark_driver_account_may_manage_executor_pods() -> None:
    objects = render_chart()
    role = one(objects, "Role", "pinpipe-spark")
    pods_rule = next(r for r in role["rules"] if "pods" in r["resources"])
    assert {"create", "delete", "watch"} <= set(pods_rule["verbs"])
    binding = one(objects, "RoleBinding", "pinpipe-spark")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pinpipe-spark", "namespace": "pinpipe"}]


def test_airflow_may_request_batch_runs_and_nothing_more() -> None:
    objects = render_chart({"airflow": {"serviceAccounts": ["airflow-scheduler", "airflow-worker"], "namespace": "orchestration"}})
    assert one(objects, "Role", "pinpipe-airflow")["rules"] == [
        {"apiGroups": ["pinpipe.io"], "resources": ["pinterestpipelines"], "verbs": ["get", "patch"]}
    ]
    subjects = one(objects, "RoleBinding", "pinpipe-airflow")["subjects"]
    assert subjects == [{"kind": "ServiceAccount", "name": name, "namespace": "orchestration"}
                        for name in ("airflow-scheduler", "airflow-worker")]


def test_pipeline_points_at_the_releases_services() -> None:
    objects = render_chart(ALL_ON)
    spec = one(objects, "PinterestPipeline", "demo")["spec"]
    kafka = one(objects, "Kafka", RELEASE)
    assert spec["kafka"]["bootstrapServers"] == f"{kafka['metadata']['name']}-kafka-bootstrap:9092"
    minio_service = one(objects, "Service", "pinpipe-minio")
    assert spec["storage"]["endpoint"] == f"http://{minio_service['metadata']['name']}:9000"
    assert spec["storage"]["credentialsSecret"] == one(objects, "Secret", "pinpipe-minio")["metadata"]["name"]
    assert spec["postgres"]["host"] == "pinpipe-pg-rw"
    assert spec["postgres"]["credentialsSecret"] == f"{one(objects, 'Cluster', 'pinpipe-pg')['metadata']['name']}-app"
    assert spec["serviceAccountName"] == one(objects, "ServiceAccount", "pinpipe-spark")["metadata"]["name"]
    assert spec["image"] == "pinpipe-spark:dev"


def test_bucket_job_and_helm_test_run_the_charts_scripts() -> None:
    objects = render_chart()
    scripts = one(objects, "ConfigMap", "pinpipe-scripts")["data"]
    assert scripts == {p.name: p.read_text() for p in (CHART / "files").glob("*.py")}
    for compiled in scripts.values():
        compile(compiled, "<chart script>", "exec")

    job = one(objects, "Job", "pinpipe-minio-buckets")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    test_pod = one(objects, "Pod", "pinpipe-test-release")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    for spec in (job["spec"]["template"]["spec"], test_pod["spec"]):
        command = spec["containers"][0]["command"]
        assert command[0] == "python" and Path(command[1]).name in scripts
        volume = next(v for v in spec["volumes"] if v["name"] == "scripts")
        assert volume["configMap"]["name"] == "pinpipe-scripts"
    check = env_of(test_pod["spec"]["containers"][0])
    assert check["PINPIPE_RELEASE_CHECK_API_URL"]["value"] == "http://pinpipe-api:80"


def test_helm_test_skips_the_api_when_there_is_none() -> None:
    pod = one(render_chart({"api": {"enabled": False}}), "Pod", "pinpipe-test-release")
    assert env_of(pod["spec"]["containers"][0])["PINPIPE_RELEASE_CHECK_API_URL"]["value"] == ""


def test_emulator_generates_source_data_first() -> None:
    spec = one(render_chart({"emulator": {"enabled": True, "generateData": {"rows": 500}}}),
               "Deployment", "pinpipe-emulator")["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["command"] == ["pinpipe", "data", "generate"]
    assert env_of(spec["initContainers"][0])["PINPIPE_DATAGEN_ROWS"]["value"] == "500"
    assert spec["containers"][0]["command"] == ["pinpipe", "emulate"]
    no_data = one(render_chart({"emulator": {"enabled": True, "generateData": {"enabled": False}}}),
                  "Deployment", "pinpipe-emulator")
    assert "initContainers" not in no_data["spec"]["template"]["spec"]


# ---- values: checks, schema, documentation -----------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka": {"enabled": False}}, "set kafka.externalBootstrapServers"),
        ({"kafka": {"topics": {"replicas": 3}}}, "kafka.topics.replicas (3) cannot exceed kafka.replicas (1)"),
        ({"minio": {"enabled": False}}, "set s3.externalEndpoint and s3.existingSecret"),
        ({"s3": {"externalEndpoint": "http://s3.example"}}, "disable the chart's MinIO or clear s3.externalEndpoint"),
        ({"postgres": {"enabled": False}}, "set postgres.externalHost and postgres.existingSecret"),
        ({"emulator": {"enabled": True}, "api": {"enabled": False}}, "emulator.enabled needs api.enabled"),
        ({"archiver": {"replicas": 4}}, "archiver.replicas (4) exceeds kafka.topics.partitions (3)"),
        ({"pipeline": {"enabled": True, "stream": {"enabled": False}, "batch": {"enabled": False}}},
         "at least one of pipeline.stream.enabled and pipeline.batch.enabled"),
        ({"pipeline": {"enabled": True, "batch": {"enabled": False, "schedule": "0 * * * *"}}},
         "pipeline.batch.schedule is set but pipeline.batch.enabled is false"),
        ({"pipeline": {"enabled": True}, "operator": {"enabled": False}}, "pipeline.enabled needs operator.enabled"),
        ({"airflow": {"metadataDatabase": {"enabled": True}}, "postgres": {"enabled": False, "externalHost": "db",
                                                                             "existingSecret": "db"}},
         "airflow.metadataDatabase.enabled needs postgres.enabled"),
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError, match=re.escape(message)):
        render_chart(values)


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"kafka": {"mode": "raft"}}, "/kafka/mode"),
        ({"kafka": {"partitions": 3}}, "/kafka"),  # misplaced key: not a value of the chart
        ({"api": {"replicas": "two"}}, "/api/replicas"),
        ({"pipeline": {"name": "Demo_Pipeline"}}, "/pipeline/name"),
        ({"s3": {"buckets": {"raw": "Raw"}}}, "/s3/buckets/raw"),
        ({"images": {"spark": {"pullPolicy": "Sometimes"}}}, "/images/spark/pullPolicy"),
    ],
)
def test_schema_refuses_bad_values(values: dict[str, Any], path: str) -> None:
    with pytest.raises(HelmError, match=r"values don't meet the specifications of the schema") as raised:
        render_chart(values)
    assert f"at '{path}'" in str(raised.value)


def _schema_node(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The schema of `path`, or None when a parent is free-form (a $ref or a map of anything)."""
    node = schema
    for key in path:
        if "properties" not in node:
            return None
        node = node["properties"].get(key, {"missing": True})
    return node


def _documented_keys() -> list[chart_docs.ValueDoc]:
    """The keys of values.yaml that are the chart's own, not the inside of a free-form map."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    docs = chart_docs.parse_values((CHART / "values.yaml").read_text())
    return [doc for doc in docs if "properties" in (_schema_node(schema, doc.path[:-1]) or {})]


def test_every_value_has_a_comment_and_a_schema_entry() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    keys = _documented_keys()
    assert len(keys) > 100
    for doc in keys:
        assert doc.description, f"values.yaml:{doc.line} {doc.dotted} has no '# --' comment"
        assert "missing" not in _schema_node(schema, doc.path), f"{doc.dotted} has no entry in values.schema.json"


def test_every_schema_entry_has_a_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    in_values = {doc.path for doc in _documented_keys()}

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for key, child in node.get("properties", {}).items():
            yield (*path, key)
            yield from walk(child, (*path, key))

    stale = [".".join(p) for p in walk(schema, ()) if p not in in_values]
    assert not stale, f"values.schema.json describes keys values.yaml lacks: {stale}"


def test_schema_objects_refuse_unknown_keys() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def objects(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if "properties" in node:
            yield path, node
            for key, child in node["properties"].items():
                yield from objects(child, f"{path}.{key}")

    for path, node in objects(schema, "values"):
        assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"


def test_readme_values_table_is_current() -> None:
    readme = chart_docs.README.read_text()
    expected = chart_docs.updated_readme(readme, (CHART / "values.yaml").read_text())
    assert readme == expected, "charts/README.md is stale: run python -m pinpipe.devtools.chart_docs"
