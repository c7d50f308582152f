"""The end-to-end tier (mark e2e): a kind cluster with the release installed by kind/up.sh.

Skipped, with the reason, unless PINPIPE_E2E=1 and kubectl reaches a cluster that has the
release. Every test shares one PinterestPipeline created for the session and deleted after.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from e2e_support import E2ESettings, Kubectl, skip_reason

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(item.fspath).parents]
    if not ours:
        return
    reason = skip_reason(E2ESettings())
    for item in ours:
        item.add_marker(pytest.mark.e2e)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def settings() -> E2ESettings:
    return E2ESettings()


@pytest.fixture(scope="session")
def kubectl(settings: E2ESettings) -> Kubectl:
    return Kubectl(settings)


def _set_suspend(kubectl: Kubectl, name: str, suspend: bool) -> None:
    patch = json.dumps({"spec": {"suspend": suspend}})
    kubectl.run("patch", "pinterestpipeline", name, "--type=merge", "-p", patch)


@pytest.fixture(scope="session")
def pipeline(kubectl: Kubectl) -> Iterator[str]:
    """A fresh PinterestPipeline with the spec kind/up.sh applies, under its own name.

    Every pipeline of a namespace writes its stream checkpoint to the same place (and a
    one-node kind cluster has room for one stream application), so the pipelines already
    there (kind/up.sh's `demo`) are suspended meanwhile and resumed afterwards.
    """
    existing = kubectl.json("get", "pinterestpipelines")["items"]
    paused = [p["metadata"]["name"] for p in existing if not p["spec"].get("suspend")]
    for name in paused:
        _set_suspend(kubectl, name, True)
    body = yaml.safe_load((REPO / "kind" / "pipeline-demo.yaml").read_text())
    name = f"e2e-{secrets.token_hex(3)}"
    body["metadata"] = {"name": name, "labels": {"pinpipe.io/test": "e2e"}}
    try:
        kubectl.run("apply", "-f", "-", input_=yaml.safe_dump(body))
        yield name
    finally:
        # ownerReferences let the garbage collector delete its SparkApplications.
        kubectl.run("delete", "pinterestpipeline", name, "--ignore-not-found", "--wait=true", timeout=180)
        for other in paused:
            _set_suspend(kubectl, other, False)
