"""Pure builders: a PinterestPipeline in, the dicts of its SparkApplications out.

No IO here: every function takes the pipeline object (as the API server returns it, with
the CRD's defaults applied) and returns plain data, so the tests need no cluster.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from pinpipe.spark import BATCH_DRIVER_JAVA_OPTIONS
from pinpipe.versions import SPARK_VERSION

GROUP = "pinpipe.io"
VERSION = "v1alpha1"
PLURAL = "pinterestpipelines"
KIND = "PinterestPipeline"

SPARK_GROUP = "sparkoperator.k8s.io"
SPARK_API_VERSION = "v1beta2"
SPARK_PLURAL = "sparkapplications"

BATCH_REQUEST_ANNOTATION = "pinpipe.io/batch-request"
SPEC_HASH_ANNOTATION = "pinpipe.io/spec-hash"
RUN_ID_ANNOTATION = "pinpipe.io/run-id"
WINDOW_START_ANNOTATION = "pinpipe.io/window-start"
WINDOW_END_ANNOTATION = "pinpipe.io/window-end"

MANAGED_BY = "pinpipe-operator"
STREAM = "stream"
BATCH = "batch"

JOBS_DIR = "local:///opt/pinpipe/jobs/pinpipe_jobs"
STREAM_MAIN = f"{JOBS_DIR}/stream.py"
BATCH_MAIN = f"{JOBS_DIR}/batch.py"
# The driver runs the project's session builder, which takes the master from settings.
IN_CLUSTER_MASTER = "k8s://https://kubernetes.default.svc"

MAX_NAME = 63
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~:+-]{0,249}$")


class BatchRequestError(ValueError):
    """The batch-request annotation cannot be understood."""


@dataclass(frozen=True)
class BatchRequest:
    run_id: str
    window_start: datetime
    window_end: datetime


def labels(pipeline_name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "pinterest-pipeline",
        "app.kubernetes.io/instance": pipeline_name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "pinpipe",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def stream_application_name(pipeline_name: str) -> str:
    return f"{pipeline_name}-stream"


def batch_application_name(pipeline_name: str, run_id: str) -> str:
    """`<pipeline>-batch-<slug>`; a run id that does not survive slugging gets a hash suffix.

    The hash keeps two run ids that slug alike (`A` and `a`, `x:1` and `x.1`) apart.
    """
    prefix = f"{pipeline_name}-batch-"
    room = MAX_NAME - len(prefix)
    slug = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")
    if slug == run_id and len(slug) <= room:
        return prefix + slug
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    head = slug[: room - len(digest) - 1].rstrip("-")
    return prefix + (f"{head}-{digest}" if head else digest)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BatchRequestError(f"{field} {value!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_batch_request(value: str) -> BatchRequest:
    """Read `{"runId":..,"windowStart":..,"windowEnd":..}` or `runId=..,windowStart=..,windowEnd=..`."""
    text = value.strip()
    if text.startswith(("{", "[")):
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BatchRequestError(f"not valid JSON: {exc.msg}") from None
        if not isinstance(fields, dict):
            raise BatchRequestError("the JSON must be an object")
    else:
        fields = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, val = part.partition("=")
            if not sep:
                raise BatchRequestError(f"{part!r} is not key=value")
            fields[key.strip()] = val.strip()
    missing = [k for k in ("runId", "windowStart", "windowEnd") if not fields.get(k)]
    if missing:
        raise BatchRequestError(f"missing {', '.join(missing)} (expected runId, windowStart, windowEnd)")
    unknown = sorted(set(fields) - {"runId", "windowStart", "windowEnd"})
    if unknown:
        raise BatchRequestError(f"unknown field(s) {', '.join(unknown)}")
    run_id = str(fields["runId"])
    if not _RUN_ID.match(run_id):
        raise BatchRequestError(
            f"runId {run_id!r} must be 1-250 characters of letters, digits and _.~:+- starting with a letter or digit"
        )
    start = parse_time(str(fields["windowStart"]), "windowStart")
    end = parse_time(str(fields["windowEnd"]), "windowEnd")
    if start >= end:
        raise BatchRequestError(f"windowStart {format_time(start)} must be before windowEnd {format_time(end)}")
    return BatchRequest(run_id=run_id, window_start=start, window_end=end)


def format_batch_request(request: BatchRequest) -> str:
    """The annotation value for a request (what the Airflow runner writes)."""
    return json.dumps(
        {
            "runId": request.run_id,
            "windowStart": format_time(request.window_start),
            "windowEnd": format_time(request.window_end),
        },
        separators=(",", ":"),
    )


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def settings_env(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The project's env contract (pinpipe.settings) for Kafka, S3 and Postgres.

    Credentials are references to the Secrets named in the spec; their values never pass
    through the operator.
    """
    storage, postgres = spec["storage"], spec["postgres"]
    buckets = storage["buckets"]
    return [
        {"name": "PINPIPE_KAFKA_BOOTSTRAP_SERVERS", "value": spec["kafka"]["bootstrapServers"]},
        {"name": "PINPIPE_S3_ENDPOINT", "value": storage["endpoint"]},
        {"name": "PINPIPE_S3_REGION", "value": storage["region"]},
        {"name": "PINPIPE_S3_RAW_BUCKET", "value": buckets["raw"]},
        {"name": "PINPIPE_S3_CURATED_BUCKET", "value": buckets["curated"]},
        {"name": "PINPIPE_S3_CHECKPOINTS_BUCKET", "value": buckets["checkpoints"]},
        _secret_env("PINPIPE_S3_ACCESS_KEY", storage["credentialsSecret"], storage["accessKeyKey"]),
        _secret_env("PINPIPE_S3_SECRET_KEY", storage["credentialsSecret"], storage["secretKeyKey"]),
        {"name": "PINPIPE_PG_HOST", "value": postgres["host"]},
        {"name": "PINPIPE_PG_PORT", "value": str(postgres["port"])},
        {"name": "PINPIPE_PG_DATABASE", "value": postgres["database"]},
        _secret_env("PINPIPE_PG_USER", postgres["credentialsSecret"], postgres["userKey"]),
        _secret_env("PINPIPE_PG_PASSWORD", postgres["credentialsSecret"], postgres["passwordKey"]),
    ]


def _pods(
    spec: Mapping[str, Any],
    path: Mapping[str, Any],
    pod_labels: dict[str, str],
    driver_env: list[dict[str, Any]],
) -> dict[str, Any]:
    env = settings_env(spec)
    driver, executors = path["driver"], path["executors"]
    return {
        "driver": {
            "cores": driver["cores"],
            "memory": driver["memory"],
            "serviceAccount": spec["serviceAccountName"],
            "labels": dict(pod_labels),
            "env": [
                *env,
                {"name": "PINPIPE_SPARK_MASTER", "value": IN_CLUSTER_MASTER},
                {"name": "PINPIPE_SPARK_DRIVER_MEMORY", "value": driver["memory"]},
                *driver_env,
            ],
        },
        "executor": {
            "instances": executors["instances"],
            "cores": executors["cores"],
            "memory": executors["memory"],
            "labels": dict(pod_labels),
            "env": env,
        },
    }


def _application(
    pipeline: Mapping[str, Any],
    name: str,
    component: str,
    spec: dict[str, Any],
    annotations: dict[str, str],
) -> dict[str, Any]:
    meta = pipeline["metadata"]
    app = {
        "apiVersion": f"{SPARK_GROUP}/{SPARK_API_VERSION}",
        "kind": "SparkApplication",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels(meta["name"], component),
            "annotations": annotations,
        },
        "spec": spec,
    }
    kopf.adopt(app, owner=dict(pipeline), strict=True)
    return app


def _common_spec(spec: Mapping[str, Any], main_file: str) -> dict[str, Any]:
    return {
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "image": spec["image"],
        "imagePullPolicy": spec["imagePullPolicy"],
        "mainApplicationFile": main_file,
        "sparkVersion": SPARK_VERSION,
        "sparkConf": dict(spec.get("sparkConf") or {}),
    }


def build_stream_spec(pipeline: Mapping[str, Any]) -> dict[str, Any]:
    spec = pipeline["spec"]
    stream = spec["stream"]
    restart = stream["restartPolicy"]
    return {
        **_common_spec(spec, STREAM_MAIN),
        "restartPolicy": {
            "type": restart["type"],
            "onFailureRetries": restart["retries"],
            "onFailureRetryInterval": restart["retryIntervalSeconds"],
            "onSubmissionFailureRetries": restart["retries"],
            "onSubmissionFailureRetryInterval": restart["retryIntervalSeconds"],
        },
        **_pods(
            spec,
            stream,
            labels(pipeline["metadata"]["name"], STREAM),
            # The stream job's own settings (pinpipe.stream.settings); only the driver runs the query.
            [{"name": "PINPIPE_STREAM_TRIGGER", "value": stream["trigger"]}],
        ),
    }


def spec_hash(app_spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(app_spec, sort_keys=True).encode()).hexdigest()[:16]


def build_stream_application(pipeline: Mapping[str, Any]) -> dict[str, Any]:
    """The long-running stream SparkApplication; its spec hash says when to replace it."""
    app_spec = build_stream_spec(pipeline)
    name = stream_application_name(pipeline["metadata"]["name"])
    return _application(pipeline, name, STREAM, app_spec, {SPEC_HASH_ANNOTATION: spec_hash(app_spec)})


def build_batch_application(pipeline: Mapping[str, Any], request: BatchRequest) -> dict[str, Any]:
    """One batch run: the run id and its data window are the job's arguments."""
    spec = pipeline["spec"]
    pipeline_name = pipeline["metadata"]["name"]
    start, end = format_time(request.window_start), format_time(request.window_end)
    app_spec = {
        **_common_spec(spec, BATCH_MAIN),
        "arguments": ["--run-id", request.run_id, "--window-start", start, "--window-end", end],
        "restartPolicy": {"type": "Never"},
        **_pods(spec, spec["batch"], labels(pipeline_name, BATCH), []),
    }
    # The job's session conf cannot reach a driver JVM that spark-submit started in the pod.
    app_spec["driver"]["javaOptions"] = BATCH_DRIVER_JAVA_OPTIONS
    annotations = {RUN_ID_ANNOTATION: request.run_id, WINDOW_START_ANNOTATION: start, WINDOW_END_ANNOTATION: end}
    return _application(pipeline, batch_application_name(pipeline_name, request.run_id), BATCH, app_spec, annotations)
