"""The packaging agrees with itself: one CRD, one set of operator rules, one version of each
upstream chart, images and skaffold artifacts that match, kind files that match the chart.

Each of these facts is written in two places on purpose (a plain manifest and the chart, a
shell file and skaffold.yaml, a Dockerfile and src/pinpipe/versions.py); these tests are
what keeps the copies equal.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from pinpipe import settings as cfg
from pinpipe import versions
from pinpipe.devtools import upstream_crds
from pinpipe.devtools.helm import CHART, build, render_chart
from pinpipe.orchestration.k8s_runner import K8sRunnerSettings
from pinpipe.orchestration.settings import OrchestrationSettings
from pinpipe_operator import builders

REPO = CHART.parents[1]
IMAGES = REPO / "images"
KIND = REPO / "kind"
UPSTREAM = REPO / "charts" / "upstream"


@pytest.fixture(scope="module")
def helm(pytestconfig: pytest.Config) -> None:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        build()


def upstream_versions() -> dict[str, str]:
    text = (UPSTREAM / "versions.sh").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(\S+)$", text, re.M))


def skaffold() -> dict[str, Any]:
    return yaml.safe_load((REPO / "skaffold.yaml").read_text())


def releases() -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in skaffold()["deploy"]["helm"]["releases"]}


# ---- the CRD and the operator's rules ------------------------------------------------------


def test_crd_has_one_source(helm: None) -> None:
    """The chart's CRD is a symlink to operator/deploy/crd.yaml, and helm renders it as is."""
    link = CHART / "crds" / "pinterestpipelines.pinpipe.io.yaml"
    source = REPO / "operator" / "deploy" / "crd.yaml"
    assert link.is_symlink() and link.resolve() == source.resolve()
    assert [p.name for p in (CHART / "crds").iterdir()] == [link.name]
    rendered = [o for o in render_chart(include_crds=True) if o["kind"] == "CustomResourceDefinition"]
    assert rendered == [yaml.safe_load(source.read_text())]


def _rules(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for rule in rules for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def test_chart_grants_the_operator_exactly_the_plain_manifests_rules(helm: None) -> None:
    plain = next(o for o in yaml.safe_load_all((REPO / "operator" / "deploy" / "rbac.yaml").read_text())
                 if o["kind"] == "ClusterRole")
    chart = next(o for o in render_chart() if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "pinpipe-operator")
    assert _rules(chart["rules"]) == _rules(plain["rules"])
    assert all(verb != "*" and resource != "*" for _, resource, verb in _rules(chart["rules"]))


# ---- versions -------------------------------------------------------------------------------


def test_upstream_versions_agree_with_the_code() -> None:
    pinned = upstream_versions()
    assert pinned["STRIMZI_CHART_VERSION"] == versions.STRIMZI_VERSION
    assert f"v{pinned['SPARK_OPERATOR_CHART_VERSION']}" == versions.SPARK_OPERATOR_VERSION
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    airflow = next(p["version"] for p in lock["package"] if p["name"] == "apache-airflow")
    assert pinned["AIRFLOW_VERSION"] == airflow
    airflow_values = yaml.safe_load((UPSTREAM / "airflow.values.yaml").read_text())
    assert airflow_values["airflowVersion"] == airflow
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart_values["kafka"]["version"] == versions.KAFKA_VERSION


def test_upstream_versions_match_the_crds_the_tests_install() -> None:
    crds = upstream_crds.require()
    pinned = upstream_versions()
    folders = {p.name for p in crds.iterdir() if p.is_dir()}
    assert f"strimzi-{pinned['STRIMZI_CHART_VERSION']}" in folders
    assert f"spark-operator-v{pinned['SPARK_OPERATOR_CHART_VERSION']}" in folders
    assert f"cloudnative-pg-v{pinned['CNPG_VERSION']}" in folders


def test_skaffold_kind_and_docs_use_the_pinned_versions() -> None:
    pinned = upstream_versions()
    deployed = releases()
    assert deployed["strimzi"]["version"] == pinned["STRIMZI_CHART_VERSION"]
    assert deployed["spark-operator"]["version"] == pinned["SPARK_OPERATOR_CHART_VERSION"]
    assert deployed["cnpg"]["version"] == pinned["CNPG_CHART_VERSION"]
    assert deployed["airflow"]["version"] == pinned["AIRFLOW_CHART_VERSION"]
    cluster = yaml.safe_load((KIND / "cluster.yaml").read_text())
    assert [node["image"] for node in cluster["nodes"]] == [pinned["KIND_NODE_IMAGE"]]
    assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", pinned["KIND_NODE_IMAGE"])
    readme = (REPO / "charts" / "README.md").read_text()
    requires = yaml.safe_load((CHART / "Chart.yaml").read_text())["annotations"]["pinpipe.io/requires"]
    for key in ("STRIMZI_CHART_VERSION", "SPARK_OPERATOR_CHART_VERSION", "CNPG_CHART_VERSION", "CNPG_VERSION",
                "AIRFLOW_CHART_VERSION", "AIRFLOW_VERSION"):
        assert re.search(rf"(?<![\w.]){re.escape(pinned[key])}(?![\w.]\w)", readme), f"charts/README.md lacks {key}"
    for key in ("STRIMZI_CHART_VERSION", "SPARK_OPERATOR_CHART_VERSION", "CNPG_CHART_VERSION"):
        assert pinned[key] in requires


def test_kind_script_documents_the_repositories_skaffold_uses() -> None:
    script = (KIND / "up.sh").read_text()
    assert "source charts/upstream/versions.sh" in script
    added = re.findall(r"helm repo add \S+ (\S+)", script)
    assert sorted(added) == sorted(r["repo"] for r in releases().values() if "repo" in r)


@pytest.mark.parametrize("script", ["kind/up.sh", "images/base/build.sh", "images/spark/entrypoint.sh"])
def test_shell_scripts_parse(script: str) -> None:
    path = REPO / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---- images and skaffold ----------------------------------------------------------------------


def dockerfile_args(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", path.read_text(), re.M))


def test_one_skaffold_artifact_per_image_folder() -> None:
    folders = sorted(p.name for p in IMAGES.iterdir() if p.is_dir())
    artifacts = {a["image"]: a for a in skaffold()["build"]["artifacts"]}
    assert sorted(artifacts) == [f"pinpipe-{name}" for name in folders]
    for name in folders:
        artifact = artifacts[f"pinpipe-{name}"]
        if "docker" in artifact:
            assert (REPO / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
        else:
            assert (REPO / artifact["context"] / artifact["custom"]["buildCommand"]).is_file()
        for required in artifact.get("requires", []):
            assert required["image"] in artifacts
            # skaffold passes a required image as the build argument named by its alias.
            assert required["alias"] in dockerfile_args(REPO / artifact["context"] / artifact["docker"]["dockerfile"])


def test_release_images_come_from_skaffold_builds() -> None:
    pinpipe = releases()["pinpipe"]
    chart_images = yaml.safe_load((CHART / "values.yaml").read_text())["images"]
    expected = {}
    for image in chart_images:
        expected[f"images.{image}.repository"] = f"{{{{.IMAGE_REPO_pinpipe_{image}}}}}"
        expected[f"images.{image}.tag"] = f"{{{{.IMAGE_TAG_pinpipe_{image}}}}}"
    assert pinpipe["setValueTemplates"] == expected
    assert releases()["airflow"]["setValueTemplates"] == {
        "images.airflow.repository": "{{.IMAGE_REPO_pinpipe_airflow}}",
        "images.airflow.tag": "{{.IMAGE_TAG_pinpipe_airflow}}",
    }


def test_upstream_operators_deploy_before_the_app_chart() -> None:
    order = [r["name"] for r in skaffold()["deploy"]["helm"]["releases"]]
    assert order.index("pinpipe") > max(order.index(n) for n in ("strimzi", "spark-operator", "cnpg"))
    assert (REPO / releases()["pinpipe"]["chartPath"]).resolve() == CHART.resolve()
    for release in releases().values():
        for values_file in release.get("valuesFiles", []):
            assert (REPO / values_file).is_file(), values_file


def _apply_patches(config: dict[str, Any], patches: list[dict[str, Any]]) -> dict[str, Any]:
    for patch in patches:
        assert patch["op"] == "add"
        *parents, last = patch["path"].strip("/").split("/")
        node: Any = config
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = patch["value"]
    return config


def test_dev_profile_syncs_python_into_the_images_that_run_it() -> None:
    config = skaffold()
    dev = next(p for p in config["profiles"] if p["name"] == "dev")
    patched = _apply_patches(config, dev["patches"])
    artifacts = {a["image"]: a for a in patched["build"]["artifacts"]}
    synced = {name: a["sync"]["manual"] for name, a in artifacts.items() if "sync" in a}
    assert set(synced) == {"pinpipe-python", "pinpipe-operator", "pinpipe-spark"}
    for rules in synced.values():
        for rule in rules:
            assert rule["src"].endswith("*.py")
            assert list(REPO.glob(rule["src"])), f"{rule['src']} matches nothing"
    for name in ("pinpipe-python", "pinpipe-spark"):
        assert artifacts[name]["docker"]["buildArgs"]["CODE_OWNER"] == "10001"
    assert next(r for r in patched["deploy"]["helm"]["releases"] if r["name"] == "pinpipe")["setValues"] == {
        "readOnlyRootFilesystem": False
    }


def test_minio_image_builds_the_pinned_release() -> None:
    assert dockerfile_args(IMAGES / "minio" / "Dockerfile")["MINIO_VERSION"] == versions.MINIO_VERSION
    minio = next(a for a in skaffold()["build"]["artifacts"] if a["image"] == "pinpipe-minio")
    assert minio["docker"]["buildArgs"]["MINIO_VERSION"] == versions.MINIO_VERSION


def test_images_install_with_the_makefiles_uv() -> None:
    make_uv = re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)[1]
    for image in ("python", "spark"):
        assert dockerfile_args(IMAGES / image / "Dockerfile")["UV_VERSION"] == make_uv


def test_spark_image_holds_the_jobs_where_the_operator_points() -> None:
    dockerfile = (IMAGES / "spark" / "Dockerfile").read_text()
    jobs_dir = builders.JOBS_DIR.removeprefix("local://")
    assert re.search(rf"^COPY jobs/pinpipe_jobs {re.escape(jobs_dir)}$", dockerfile, re.M)
    assert builders.STREAM_MAIN == f"{builders.JOBS_DIR}/stream.py"
    assert (REPO / "jobs" / "pinpipe_jobs" / "stream.py").is_file()
    assert (REPO / "jobs" / "pinpipe_jobs" / "batch.py").is_file()


def _copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            parts = [p for p in line.split()[1:] if not p.startswith("--")]
            sources += parts[:-1]
    return sources


@pytest.mark.parametrize("image", ["python", "spark", "airflow", "operator", "minio"])
def test_dockerignore_keeps_what_the_build_copies(image: str) -> None:
    dockerfile = IMAGES / image / "Dockerfile"
    ignore = (IMAGES / image / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore, "ignore everything, then allow what the build copies"
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    for source in _copy_sources(dockerfile):
        assert (REPO / source).exists(), f"{image}: COPY {source} does not exist"
        assert any(source.rstrip("/") == a or source.startswith(f"{a}/") for a in allowed), \
            f"{image}: COPY {source} is excluded by its Dockerfile.dockerignore"


# ---- kind ------------------------------------------------------------------------------------


def test_kind_pipeline_is_the_one_the_chart_renders(helm: None) -> None:
    kind_values = yaml.safe_load((KIND / "pinpipe.values.yaml").read_text())
    objects = render_chart({**kind_values, "pipeline": {"enabled": True}})
    rendered = next(o for o in objects if o["kind"] == "PinterestPipeline")
    applied = yaml.safe_load((KIND / "pipeline-demo.yaml").read_text())
    assert applied["metadata"]["name"] == rendered["metadata"]["name"]
    assert applied["spec"] == rendered["spec"]


def test_airflow_release_reaches_the_app_release(helm: None) -> None:
    airflow = yaml.safe_load((UPSTREAM / "airflow.values.yaml").read_text())
    kind_values = yaml.safe_load((KIND / "pinpipe.values.yaml").read_text())
    objects = render_chart(kind_values)
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    assert airflow["data"]["metadataSecretName"] in secrets
    assert "connection" in secrets[airflow["data"]["metadataSecretName"]]["data"]
    assert airflow["postgresql"]["enabled"] is False
    env = {e["name"]: e["value"] for e in airflow["env"]}
    classes = {"PINPIPE_K8S_": K8sRunnerSettings, "PINPIPE_BATCH_": OrchestrationSettings, "PINPIPE_KAFKA_": cfg.KafkaSettings}
    for name in env:
        prefix = next(p for p in classes if name.startswith(p))
        assert name.removeprefix(prefix).lower() in classes[prefix].model_fields, name
    assert env["PINPIPE_K8S_PIPELINE"] == yaml.safe_load((KIND / "pipeline-demo.yaml").read_text())["metadata"]["name"]
    kafka = next(o for o in objects if o["kind"] == "Kafka")
    assert env["PINPIPE_KAFKA_BOOTSTRAP_SERVERS"] == f"{kafka['metadata']['name']}-kafka-bootstrap:9092"
    role_binding = next(o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "pinpipe-airflow")
    assert "airflow-scheduler" in {s["name"] for s in role_binding["subjects"]}


def test_spark_operator_runs_jobs_in_the_pipeline_namespace() -> None:
    values = yaml.safe_load((UPSTREAM / "spark-operator.values.yaml").read_text())
    assert "pinpipe" in values["spark"]["jobNamespaces"]
    # The app chart creates the driver account the CRD defaults to.
    assert values["spark"]["serviceAccount"]["create"] is False
    crd = yaml.safe_load((REPO / "operator" / "deploy" / "crd.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert spec["properties"]["serviceAccountName"]["default"] == chart_values["spark"]["serviceAccountName"]
