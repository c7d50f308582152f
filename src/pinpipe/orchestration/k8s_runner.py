"""The Airflow DAG's `kubernetes` batch runner: one batch run through the pinpipe operator.

It asks the PinterestPipeline for a run by setting the `pinpipe.io/batch-request`
annotation (the operator creates the batch SparkApplication) and waits until the run shows
up finished in `status.batch.runs`. The annotation format is the operator's contract
(operator/README.md).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BATCH_REQUEST_ANNOTATION = "pinpipe.io/batch-request"
GROUP, VERSION, PLURAL = "pinpipe.io", "v1alpha1", "pinterestpipelines"
FAILED_STATES = frozenset({"FAILED", "SUBMISSION_FAILED"})


class K8sRunnerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_K8S_", extra="ignore")

    namespace: str = "pinpipe"
    pipeline: str = "demo"
    # Empty: the pod's ServiceAccount in a cluster, else the default kubeconfig.
    kubeconfig: str = ""
    timeout_s: float = Field(default=6 * 3600.0, gt=0)
    poll_s: float = Field(default=10.0, gt=0)


class BatchRunError(RuntimeError):
    """A batch run did not complete; `state` is its last known state."""

    def __init__(self, message: str, run_id: str, state: str | None, run: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.state = state
        self.run = run


class BatchRunFailed(BatchRunError):
    pass


class BatchRunTimeout(BatchRunError):
    pass


def _iso(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def batch_request(run_id: str, window_start: datetime, window_end: datetime) -> str:
    return json.dumps(
        {"runId": run_id, "windowStart": _iso(window_start), "windowEnd": _iso(window_end)}, separators=(",", ":")
    )


def _api(kube_config: str | None) -> Any:
    import kubernetes

    if kube_config:
        return kubernetes.client.CustomObjectsApi(kubernetes.config.new_client_from_config(config_file=kube_config))
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.CustomObjectsApi()


def run_batch(
    run_id: str,
    window_start: datetime,
    window_end: datetime,
    *,
    pipeline: str,
    namespace: str,
    kube_config: str | None = None,
    timeout_s: float,
    poll_s: float,
) -> dict[str, Any]:
    """Request the run and wait for it; the run's status entry on COMPLETED.

    Raises BatchRunFailed (with spark-operator's error message) when the run fails and
    BatchRunTimeout when it has not finished within timeout_s. Asking again for a run id
    the pipeline knows does not start a second run: it waits for (or returns) that run.
    """
    from kubernetes.client.exceptions import ApiException

    api = _api(kube_config)
    value = batch_request(run_id, window_start, window_end)
    where = f"PinterestPipeline {namespace}/{pipeline}"

    def request() -> None:
        patch = {"metadata": {"annotations": {BATCH_REQUEST_ANNOTATION: value}}}
        try:
            api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, pipeline, patch)
        except ApiException as exc:
            if exc.status == 404:
                raise BatchRunError(f"{where} does not exist", run_id, None) from None
            raise

    request()
    deadline = time.monotonic() + timeout_s
    run: dict[str, Any] | None = None
    status: dict[str, Any] = {}
    while True:
        body = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, pipeline)
        status = body.get("status") or {}
        batch = status.get("batch") or {}
        run = next((r for r in batch.get("runs") or [] if r.get("id") == run_id), None)
        if run is not None:
            state = run.get("state")
            if state == "COMPLETED":
                return run
            if state in FAILED_STATES:
                error = run.get("errorMessage") or "no error message from spark-operator"
                raise BatchRunFailed(
                    f"batch run {run_id} of {where} {state} (SparkApplication {run.get('application')}): {error}",
                    run_id,
                    state,
                    run,
                )
        elif (body["metadata"].get("annotations") or {}).get(BATCH_REQUEST_ANNOTATION) != value:
            # Another run's request replaced ours before the operator read it: ask again.
            request()
        elif batch.get("handledRequest") == value:
            raise BatchRunError(
                f"{where} ignored the request for run {run_id} "
                f"(its events say why: kubectl describe pinpipe {pipeline} -n {namespace})",
                run_id,
                None,
            )
        if time.monotonic() >= deadline:
            break
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    state = run.get("state") if run else None
    raise BatchRunTimeout(
        f"batch run {run_id} of {where} not finished after {timeout_s:.0f}s "
        f"(run state {state or 'not started'}, pipeline phase {status.get('phase', 'unknown')})",
        run_id,
        state,
        run,
    )


def run_batch_with_settings(
    run_id: str, window_start: datetime, window_end: datetime, settings: K8sRunnerSettings | None = None
) -> dict[str, Any]:
    """run_batch with namespace, pipeline, kubeconfig and timeouts from PINPIPE_K8S_* settings."""
    cfg = settings or K8sRunnerSettings()
    return run_batch(
        run_id,
        window_start,
        window_end,
        pipeline=cfg.pipeline,
        namespace=cfg.namespace,
        kube_config=cfg.kubeconfig or None,
        timeout_s=cfg.timeout_s,
        poll_s=cfg.poll_s,
    )
