"""The upstream operators' CRDs the tests install into a real kube-apiserver.

Strimzi, spark-operator and CloudNativePG publish their CustomResourceDefinitions with their
releases; the workspace provides them unchanged, at the pinned versions, beside the clone in
`../shared/crds` (PINPIPE_SHARED_DIR names another folder holding `crds/`). The first run
that finds them keeps a copy in the user cache, so that every other clone on the machine
(one in /tmp, say) finds them too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pinpipe.devtools.settings import SharedSettings
from pinpipe.settings import cache_dir

REPO = Path(__file__).resolve().parents[3]


def _sources() -> list[Path]:
    configured = SharedSettings().shared_dir
    return [Path(configured) / "crds"] if configured else [REPO.parent / "shared" / "crds"]


def cached() -> Path:
    return cache_dir() / "upstream-crds"


def crds_dir() -> Path | None:
    """The folder holding one sub-folder per upstream project and version, or None."""
    for source in _sources():
        if source.is_dir():
            shutil.copytree(source, cached(), dirs_exist_ok=True)
            return source
    return cached() if cached().is_dir() else None


def require(folder: str = "") -> Path:
    """`crds_dir()`, or an error that says where it looked and how to point elsewhere."""
    found = crds_dir()
    if found is None or (folder and not (found / folder).is_dir()):
        looked = ", ".join(str(p / folder) for p in (*_sources(), cached()))
        raise FileNotFoundError(f"upstream CRDs not found (looked in {looked}): set PINPIPE_SHARED_DIR "
                                "to the folder holding crds/")
    return found
