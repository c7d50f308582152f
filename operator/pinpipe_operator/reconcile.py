"""One reconciliation of one pipeline: read, plan, act, report.

Every trigger (the pipeline's create/update/resume handlers, a change to one of its
SparkApplications, the periodic resync) ends up here, serialised per pipeline.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import UTC, datetime

from pinpipe_operator.kube import Kube
from pinpipe_operator.planner import merge_patch, plan


class Reconciler:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        # Handlers of the pipeline and of its children run in different threads.
        self._locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()

    def _lock(self, namespace: str, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[(namespace, name)]

    def reconcile(self, namespace: str, name: str, logger: logging.Logger | logging.LoggerAdapter) -> None:
        with self._lock(namespace, name):
            pipeline = self.kube.get_pipeline(namespace, name)
            if pipeline is None or pipeline["metadata"].get("deletionTimestamp"):
                return
            apps = self.kube.list_applications(namespace, name)
            steps = plan(pipeline, apps, datetime.now(UTC))
            for app_name in steps.deletes:
                self.kube.delete_application(namespace, app_name)
                logger.info("Deleted SparkApplication %s", app_name)
            for body in steps.creates:
                created = self.kube.create_application(body)
                logger.info("%s SparkApplication %s", "Created" if created else "Found", body["metadata"]["name"])
            patch = merge_patch(pipeline.get("status") or {}, steps.status)
            if patch:
                self.kube.patch_pipeline_status(namespace, name, patch)
            for event in steps.events:
                self.kube.post_event(pipeline, event.type, event.reason, event.message)
