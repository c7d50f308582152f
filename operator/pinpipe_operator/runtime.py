"""The operator's process-level wiring: settings, the API client, the periodic resync."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from pinpipe_operator.builders import GROUP, KIND
from pinpipe_operator.kube import Kube, connection_info, load_configuration
from pinpipe_operator.reconcile import Reconciler
from pinpipe_operator.settings import OperatorSettings

log = logging.getLogger("pinpipe_operator")


def configure(kopf_settings: kopf.OperatorSettings, ours: OperatorSettings) -> None:
    """Every kopf setting the operator relies on, in one place."""
    kopf_settings.persistence.finalizer = ours.finalizer
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ours.persistence_prefix)
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ours.persistence_prefix, key="last-handled-configuration"
    )
    kopf_settings.watching.server_timeout = ours.watch_server_timeout_s
    kopf_settings.watching.client_timeout = ours.watch_client_timeout_s
    kopf_settings.watching.connect_timeout = ours.connect_timeout_s
    kopf_settings.posting.reporting_component = ours.reporting_component
    # Our transitions are posted as events by the reconciler; kopf adds only its warnings and errors.
    kopf_settings.posting.level = logging.WARNING


def start(kopf_settings: kopf.OperatorSettings, memo: kopf.Memo, pipelines: kopf.Index) -> None:
    ours = OperatorSettings()
    configure(kopf_settings, ours)
    memo.kube = Kube(load_configuration(ours), ours.reporting_component)
    memo.reconciler = Reconciler(memo.kube)
    memo.resync = asyncio.create_task(_resync_forever(memo.reconciler, pipelines, ours.resync_interval_s))


async def stop(memo: kopf.Memo) -> None:
    memo.resync.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await memo.resync
    memo.kube.close()


def login() -> kopf.ConnectionInfo:
    return connection_info(load_configuration(OperatorSettings()))


def owner_name(app: Mapping[str, Any]) -> str | None:
    for ref in app["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == KIND and ref.get("apiVersion", "").startswith(f"{GROUP}/"):
            return ref["name"]
    return None


async def _resync_forever(reconciler: Reconciler, pipelines: kopf.Index, interval: float) -> None:
    # Not a kopf timer: timers put a finalizer on every pipeline, and a finalizer without a
    # running operator blocks the pipeline's deletion forever.
    while True:
        await asyncio.sleep(interval)
        for namespace, name in list(pipelines):
            try:
                await asyncio.to_thread(reconciler.reconcile, namespace, name, log)
            except Exception:
                log.exception("Resync of %s/%s failed", namespace, name)
