"""Helm: a pinned build from source, and `helm template` of the app chart as Python objects.

No release download is needed: `go install helm.sh/helm/v3/cmd/helm@HELM_VERSION` through
the Go module proxy, cached under ~/.cache/pinpipe/go/bin/helm-<version>/ and rebuilt only
when the version differs. PINPIPE_HELM_BINARY points at another helm instead.

    python -m pinpipe.devtools.helm      # build if needed, print the path
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pinpipe.devtools.settings import HelmSettings
from pinpipe.settings import cache_dir
from pinpipe.versions import HELM_VERSION
HELM_MODULE = "helm.sh/helm/v3"
# The Kubernetes version `helm template` assumes (its own default, 1.20, is older than the
# chart's kubeVersion): the kind node's minor.
KUBE_VERSION = "1.35.8"
REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "pinterest-pipeline"

Progress = Callable[[str], None]


class HelmError(RuntimeError):
    """helm could not be built, or a helm command failed; the message carries its output."""


def _print_progress(message: str) -> None:
    print(f"[helm] {message}", file=sys.stderr, flush=True)


def _go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if found is None:
        raise HelmError("Go is not installed: helm is built from source through the Go module proxy (Go >= 1.24).")
    return found


def _reports_version(binary: Path, version: str) -> bool:
    if not binary.is_file():
        return False
    try:
        out = subprocess.run([binary, "version", "--template", "{{.Version}}"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == version


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Two sessions sharing the cache build helm once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(version: str = HELM_VERSION, progress: Progress = _print_progress) -> Path:
    """The cached helm at `version`, built with `go install` the first time (a few minutes on 2 cores)."""
    go_cache = cache_dir() / "go"
    target = go_cache / "bin" / f"helm-{version}" / "helm"
    if _reports_version(target, version):
        return target
    with _build_lock(go_cache / "bin" / f".helm-{version}.lock"):
        if _reports_version(target, version):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as gobin:
            env = dict(os.environ) | {
                "GOMODCACHE": str(go_cache / "mod"),
                "GOBIN": gobin,
                "CGO_ENABLED": "0",
                "GOFLAGS": "-buildvcs=false",
            }
            # helm's own version string is set by its Makefile; without it `helm version` says v3.NN.
            ldflags = f"-s -w -X {HELM_MODULE}/internal/version.version={version}"
            cmd = [_go(), "install", "-p", "2", "-trimpath", "-ldflags", ldflags, f"{HELM_MODULE}/cmd/helm@{version}"]
            progress(f"building helm {version}: {' '.join(cmd)} (first run only)")
            started = time.monotonic()
            result = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
                raise HelmError(f"building helm {version} failed (exit {result.returncode}):\n{tail}")
            built = Path(gobin) / "helm"
            if not _reports_version(built, version):
                raise HelmError(f"the freshly built helm does not report {version}")
            built.rename(target)
            progress(f"built helm {version} in {time.monotonic() - started:.0f}s")
    return target


def helm_binary(progress: Progress = _print_progress) -> Path:
    explicit = HelmSettings().binary
    return Path(explicit) if explicit else build(progress=progress)


def run(args: Sequence[str], progress: Progress = _print_progress) -> str:
    """Run helm with `args`; its stdout, or HelmError with its stderr."""
    result = subprocess.run([str(helm_binary(progress)), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise HelmError(result.stderr.strip() or result.stdout.strip())
    return result.stdout


@lru_cache(maxsize=128)
def _template(
    values_json: str, release: str, namespace: str, show_only: tuple[str, ...], include_crds: bool, chart: str
) -> tuple[dict[str, Any], ...]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(values_json)  # JSON is YAML, without YAML's quoting surprises
    try:
        args = ["template", release, chart, "--namespace", namespace, "--values", handle.name,
                "--kube-version", KUBE_VERSION]
        args += [arg for path in show_only for arg in ("--show-only", path)]
        if include_crds:
            args.append("--include-crds")
        out = run(args)
    finally:
        os.unlink(handle.name)
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def render_chart(
    values: Mapping[str, Any] | None = None,
    show_only: Sequence[str] = (),
    *,
    release: str = "pinpipe",
    namespace: str = "pinpipe",
    include_crds: bool = False,
    chart: Path = CHART,
) -> list[dict[str, Any]]:
    """`helm template` of the chart with `values`, parsed; `show_only` limits it to those templates.

    Every object is checked to be well formed (apiVersion, kind, metadata.name), so a
    template that renders a broken document fails here rather than in an assertion later.
    Renders are cached by their arguments; each call returns fresh copies.
    """
    values_json = json.dumps(values or {}, sort_keys=True)
    objects = _template(values_json, release, namespace, tuple(show_only), include_crds, str(chart))
    for obj in objects:
        for field in ("apiVersion", "kind"):
            if not obj.get(field):
                raise HelmError(f"rendered object without {field}: {obj}")
        if not (obj.get("metadata") or {}).get("name"):
            raise HelmError(f"rendered {obj['kind']} without metadata.name")
    return json.loads(json.dumps(objects))


def main() -> None:
    print(helm_binary())


if __name__ == "__main__":
    main()
