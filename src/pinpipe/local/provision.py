"""Provisioning into the user-level cache: jars from Maven Central, MinIO built with Go.

Every step checks what it finds against a manifest (coordinates and sha256 of each file)
and redoes the work when the cache is stale, so a fresh clone reuses another clone's work
and a half-finished download is never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from pinpipe import settings as cfg
from pinpipe import versions as v

Coord = tuple[str, str, str]


class ProvisionError(RuntimeError):
    """A download or build failed; the message names the step and the cause."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_ok(dest: Path, key: str) -> bool:
    manifest = dest / ".manifest.json"
    if not manifest.is_file():
        return False
    try:
        data = json.loads(manifest.read_text())
    except ValueError:
        return False
    if data.get("key") != key:
        return False
    for name, digest in data.get("files", {}).items():
        f = dest / name
        # Size first: cheap, and catches truncated files; the digest is checked on demand.
        if not f.is_file() or f.stat().st_size != digest["size"]:
            return False
    return bool(data.get("files"))


def _write_manifest(dest: Path, key: str) -> None:
    files = {
        p.name: {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(dest.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }
    (dest / ".manifest.json").write_text(json.dumps({"key": key, "files": files}, indent=1))


def maven_repo() -> Path:
    return cfg.cache_dir() / "m2"


def _pom(coords: Sequence[Coord], exclude_transitive: bool) -> str:
    deps = []
    for group, artifact, version in coords:
        exclusions = (
            "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>"
            if exclude_transitive
            else ""
        )
        deps.append(
            f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version>{exclusions}</dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>io.pinpipe</groupId><artifactId>resolve</artifactId><version>1</version>"
        "<packaging>pom</packaging>"
        f"<dependencies>{''.join(deps)}</dependencies></project>"
    )


def maven_copy(coords: Sequence[Coord], dest: Path, *, transitive: bool) -> Path:
    """Resolve `coords` (and their runtime closure if `transitive`) into `dest`, once."""
    key = json.dumps({"coords": [list(c) for c in coords], "transitive": transitive})
    if _manifest_ok(dest, key):
        return dest
    if shutil.which("mvn") is None:
        raise ProvisionError("maven (mvn) is not installed: apt-get install maven")
    staging = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent if dest.parent.exists() else None))
    try:
        with tempfile.TemporaryDirectory() as work:
            (Path(work) / "pom.xml").write_text(_pom(coords, exclude_transitive=not transitive))
            # -U: a miss cached by an earlier failed attempt must not stick.
            cmd = [
                "mvn", "-B", "-q", "-U", f"-Dmaven.repo.local={maven_repo()}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ]
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
            if proc.returncode != 0:
                errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "[ERROR]" in ln]
                cause = errors[0].split("[ERROR]", 1)[1].strip() if errors else proc.stderr.strip()[-300:]
                raise ProvisionError(f"maven could not resolve {coords[0][1]} and friends: {cause}")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
        _write_manifest(dest, key)
        return dest
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def spark_connector_jars() -> list[Path]:
    from pinpipe.spark import connector_jar_dir, connector_jars

    dest = connector_jar_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    maven_copy(v.SPARK_CONNECTOR_JARS, dest, transitive=False)
    jars = connector_jars()
    missing = [j.name for j in jars if not j.is_file()]
    if missing:
        raise ProvisionError(f"connector jars missing after resolution: {', '.join(missing)}")
    return jars


def kafka_libs() -> Path:
    dest = cfg.cache_dir() / f"kafka-{v.KAFKA_VERSION}" / "libs"
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The broker logs through slf4j; the Apache distribution ships the reload4j binding.
    coords: list[Coord] = [
        ("org.apache.kafka", "kafka_2.13", v.KAFKA_VERSION),
        ("org.apache.kafka", "kafka-tools", v.KAFKA_VERSION),
        ("org.slf4j", "slf4j-reload4j", "1.7.36"),
    ]
    return maven_copy(coords, dest, transitive=True)


def zookeeper_libs() -> Path:
    dest = cfg.cache_dir() / f"zookeeper-{v.ZOOKEEPER_VERSION}" / "libs"
    dest.parent.mkdir(parents=True, exist_ok=True)
    coords: list[Coord] = [
        ("org.apache.zookeeper", "zookeeper", v.ZOOKEEPER_VERSION),
        # The server needs these at run time but the pom declares them `provided`; versions are
        # those of the ZooKeeper 3.8.4 distribution's lib folder.
        ("io.dropwizard.metrics", "metrics-core", "4.1.12.1"),
        ("org.xerial.snappy", "snappy-java", "1.1.10.5"),
        ("commons-cli", "commons-cli", "1.5.0"),
    ]
    return maven_copy(coords, dest, transitive=True)


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GOMODCACHE"] = str(cfg.cache_dir() / "go" / "mod")
    env["CGO_ENABLED"] = "0"
    return env


def minio_binary() -> Path:
    """`go install github.com/minio/minio@<pin>`, MinIO's documented source install."""
    bindir = cfg.cache_dir() / "go" / "bin" / f"minio-{v.MINIO_VERSION}"
    binary = bindir / "minio"
    stamp = bindir / ".built"
    if binary.is_file() and stamp.is_file() and stamp.read_text().strip() == _sha256(binary):
        return binary
    if shutil.which("go") is None:
        raise ProvisionError("Go is not installed: it builds MinIO from source")
    bindir.mkdir(parents=True, exist_ok=True)
    env = go_env() | {"GOBIN": str(bindir)}
    proc = subprocess.run(
        ["go", "install", f"github.com/minio/minio@{v.MINIO_VERSION}"],
        env=env, capture_output=True, text=True,
    )
    if proc.returncode != 0 or not binary.is_file():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise ProvisionError(f"go install of MinIO {v.MINIO_VERSION} failed: {' | '.join(tail)}")
    stamp.write_text(_sha256(binary))
    return binary


def postgres_bindir() -> Path:
    """The newest PostgreSQL server from Debian's packages (apt-get install postgresql)."""
    root = Path("/usr/lib/postgresql")
    candidates: Iterable[Path] = sorted(
        (p / "bin" for p in root.glob("*") if (p / "bin" / "postgres").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    ) if root.is_dir() else []
    found = list(candidates)
    if not found:
        raise ProvisionError("PostgreSQL server binaries not found under /usr/lib/postgresql: apt-get install postgresql")
    return found[-1]


def java_binary() -> Path:
    java = shutil.which("java")
    if java is None:
        raise ProvisionError("java is not installed: Kafka, ZooKeeper and Spark need Java 17")
    return Path(java)
