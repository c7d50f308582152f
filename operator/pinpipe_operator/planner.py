"""Pure reconciliation: the pipeline and its SparkApplications in, what to do out.

`plan()` compares the desired state (the spec) with the actual one (the children and the
status the operator wrote last time) and returns the applications to delete and create,
the new status, and one event per transition. Running it twice on the same inputs gives
the same answer, which is what makes the operator safe to restart at any point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from croniter import croniter

from pinpipe_operator.builders import (
    BATCH,
    BATCH_REQUEST_ANNOTATION,
    RUN_ID_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    WINDOW_END_ANNOTATION,
    WINDOW_START_ANNOTATION,
    BatchRequest,
    BatchRequestError,
    build_batch_application,
    build_stream_application,
    format_time,
    parse_batch_request,
    parse_time,
    stream_application_name,
)

COMPLETED = "COMPLETED"
RUNNING = "RUNNING"
FAILED_STATES = frozenset({"FAILED", "SUBMISSION_FAILED"})
TERMINAL_STATES = FAILED_STATES | {COMPLETED}
# spark-operator leaves applicationState.state empty until it has seen the application.
PENDING = "PENDING"
STOPPED = "STOPPED"
DISABLED = "DISABLED"

_STREAM_EVENTS = {
    "SUBMITTED": ("Normal", "StreamSubmitted"),
    RUNNING: ("Normal", "StreamRunning"),
    "PENDING_RERUN": ("Warning", "StreamRestarting"),
    "FAILING": ("Warning", "StreamFailing"),
    "FAILED": ("Warning", "StreamFailed"),
    "SUBMISSION_FAILED": ("Warning", "StreamSubmissionFailed"),
    COMPLETED: ("Warning", "StreamCompleted"),
    "UNKNOWN": ("Warning", "StreamUnknown"),
}
_BATCH_EVENTS = {
    "SUBMITTED": ("Normal", "BatchSubmitted"),
    RUNNING: ("Normal", "BatchRunning"),
    COMPLETED: ("Normal", "BatchSucceeded"),
    "FAILED": ("Warning", "BatchFailed"),
    "SUBMISSION_FAILED": ("Warning", "BatchFailed"),
}


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass
class Plan:
    deletes: list[str] = field(default_factory=list)
    creates: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def info(self, reason: str, message: str) -> None:
        self.events.append(Event("Normal", reason, message))

    def warn(self, reason: str, message: str) -> None:
        self.events.append(Event("Warning", reason, message))


def app_state(app: Mapping[str, Any]) -> tuple[str, str]:
    """(state, errorMessage) as spark-operator wrote them; PENDING before it wrote any."""
    state = (app.get("status") or {}).get("applicationState") or {}
    return state.get("state") or PENDING, state.get("errorMessage") or ""


def _owned_by(app: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in app["metadata"].get("ownerReferences") or [])


def _component(app: Mapping[str, Any]) -> str:
    return (app["metadata"].get("labels") or {}).get("app.kubernetes.io/component", "")


def _camel(state: str) -> str:
    return "".join(word.capitalize() for word in state.split("_")) or "Unknown"


def plan(pipeline: Mapping[str, Any], apps: list[Mapping[str, Any]], now: datetime) -> Plan:
    """Decide the next step for one pipeline, given the applications labelled as its own."""
    meta = pipeline["metadata"]
    status = pipeline.get("status") or {}
    result = Plan()
    ours: dict[str, Mapping[str, Any]] = {}
    for app in apps:
        if _owned_by(app, meta["uid"]):
            ours[app["metadata"]["name"]] = app
        elif not app["metadata"].get("deletionTimestamp"):
            # Left by an earlier pipeline of the same name; its name would collide with ours.
            result.deletes.append(app["metadata"]["name"])

    stream_status = _plan_stream(pipeline, ours, status.get("stream") or {}, result)
    batch_status = _plan_batch(pipeline, ours, status.get("batch") or {}, now, result)
    result.status = _overall(pipeline, stream_status, batch_status, status.get("conditions") or [], now)
    return result


def _plan_stream(
    pipeline: Mapping[str, Any], ours: Mapping[str, Mapping[str, Any]], previous: Mapping[str, Any], result: Plan
) -> dict[str, Any]:
    spec = pipeline["spec"]
    name = stream_application_name(pipeline["metadata"]["name"])
    wanted = spec["stream"]["enabled"] and not spec["suspend"]
    current = ours.get(name)
    desired = build_stream_application(pipeline) if wanted else None
    desired_hash = desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION] if desired else None

    if current is not None and current["metadata"].get("deletionTimestamp"):
        # Deletion is under way (spark-operator may hold a finalizer); its DELETED event brings us back.
        state, error = ("TERMINATING" if wanted else STOPPED), ""
    elif current is not None and not wanted:
        result.deletes.append(name)
        why = "spec.suspend is true" if spec["suspend"] else "spec.stream.enabled is false"
        result.info("StreamStopped", f"Deleted SparkApplication {name}: {why}")
        state, error = STOPPED, ""
    elif current is not None and current["metadata"].get("annotations", {}).get(SPEC_HASH_ANNOTATION) != desired_hash:
        result.deletes.append(name)
        result.creates.append(desired)
        result.info("StreamReplaced", f"Spec changed: replaced SparkApplication {name} (spec hash {desired_hash})")
        state, error = PENDING, ""
    elif current is None and wanted:
        result.creates.append(desired)
        result.info("StreamStarted", f"Created SparkApplication {name}")
        state, error = PENDING, ""
    elif current is not None:
        state, error = app_state(current)
        if state != previous.get("state") and state in _STREAM_EVENTS:
            kind, reason = _STREAM_EVENTS[state]
            detail = f": {error}" if error else ""
            result.events.append(Event(kind, reason, f"SparkApplication {name} is {state}{detail}"))
    else:
        state, error = (STOPPED if spec["stream"]["enabled"] else DISABLED), ""

    stream: dict[str, Any] = {"state": state}
    if wanted:
        stream.update(application=name, specHash=desired_hash)
    if error:
        stream["errorMessage"] = error
    return stream


def _run_from_app(app: Mapping[str, Any]) -> dict[str, Any]:
    notes = app["metadata"].get("annotations") or {}
    return {
        "id": notes.get(RUN_ID_ANNOTATION, app["metadata"]["name"]),
        "application": app["metadata"]["name"],
        "windowStart": notes.get(WINDOW_START_ANNOTATION),
        "windowEnd": notes.get(WINDOW_END_ANNOTATION),
        "state": PENDING,
        "requestedAt": app["metadata"].get("creationTimestamp"),
    }


def _request_run(
    pipeline: Mapping[str, Any],
    request: BatchRequest,
    runs: list[dict[str, Any]],
    now: datetime,
    result: Plan,
    reason: str,
) -> None:
    if any(run["id"] == request.run_id for run in runs):
        result.info("BatchAlreadyRequested", f"Run {request.run_id} exists already; nothing to do")
        return
    app = build_batch_application(pipeline, request)
    result.creates.append(app)
    app_name = app["metadata"]["name"]
    start, end = format_time(request.window_start), format_time(request.window_end)
    runs.append(
        {
            "id": request.run_id,
            "application": app_name,
            "windowStart": start,
            "windowEnd": end,
            "state": PENDING,
            "requestedAt": format_time(now),
        }
    )
    result.info(reason, f"Run {request.run_id} for [{start}, {end}): created SparkApplication {app_name}")


def _scheduled_request(schedule: str, since: datetime, now: datetime) -> BatchRequest | None:
    """The latest tick in (since, now], as a run covering the window from the tick before it."""
    tick = croniter(schedule, now).get_prev(datetime)
    if tick <= since:
        return None
    start = croniter(schedule, tick).get_prev(datetime)
    return BatchRequest(run_id=f"scheduled-{tick:%Y%m%dT%H%M%SZ}", window_start=start, window_end=tick)


def _plan_batch(
    pipeline: Mapping[str, Any],
    ours: Mapping[str, Mapping[str, Any]],
    previous: Mapping[str, Any],
    now: datetime,
    result: Plan,
) -> dict[str, Any]:
    spec, meta = pipeline["spec"], pipeline["metadata"]
    batch_spec = spec["batch"]
    may_run = batch_spec["enabled"] and not spec["suspend"]
    runs = [dict(run) for run in previous.get("runs") or []]
    batch: dict[str, Any] = {
        key: previous[key] for key in ("handledRequest", "lastScheduleTime", "scheduleError") if key in previous
    }

    # An application whose run is missing from the status was created just before the
    # operator stopped: take it back into the history instead of requesting it again.
    known = {run["id"] for run in runs}
    batch_apps = sorted(
        (app for app in ours.values() if _component(app) == BATCH and not app["metadata"].get("deletionTimestamp")),
        key=lambda app: app["metadata"].get("creationTimestamp") or "",
    )
    for app in batch_apps:
        run = _run_from_app(app)
        if run["id"] not in known:
            runs.append(run)
            known.add(run["id"])

    created_before = len(result.creates)
    raw = (meta.get("annotations") or {}).get(BATCH_REQUEST_ANNOTATION)
    if raw is not None and raw != batch.get("handledRequest"):
        if not batch_spec["enabled"]:
            batch["handledRequest"] = raw
            result.warn("BatchDisabled", f"Ignored {BATCH_REQUEST_ANNOTATION}: spec.batch.enabled is false")
        elif may_run:
            batch["handledRequest"] = raw
            try:
                request = parse_batch_request(raw)
            except BatchRequestError as exc:
                result.warn("InvalidBatchRequest", f"Ignored {BATCH_REQUEST_ANNOTATION}: {exc}")
            else:
                _request_run(pipeline, request, runs, now, result, "BatchRequested")

    schedule = batch_spec["schedule"]
    if not schedule:
        batch.pop("scheduleError", None)
    elif may_run:
        since = parse_time(batch.get("lastScheduleTime") or meta["creationTimestamp"], "lastScheduleTime")
        try:
            request = _scheduled_request(schedule, since, now)
        except (ValueError, KeyError) as exc:
            if batch.get("scheduleError") != schedule:
                result.warn(
                    "InvalidSchedule", f"spec.batch.schedule {schedule!r} is not a valid cron expression: {exc}"
                )
            batch["scheduleError"] = schedule
        else:
            batch.pop("scheduleError", None)
            if request is not None:
                batch["lastScheduleTime"] = format_time(request.window_end)
                _request_run(pipeline, request, runs, now, result, "BatchScheduled")
    just_created = {app["metadata"]["name"] for app in result.creates[created_before:]}

    for run in runs:
        app = ours.get(run["application"])
        if app is not None:
            state, error = app_state(app)
            finished = (app.get("status") or {}).get("terminationTime")
        elif run["application"] in just_created or run["state"] in TERMINAL_STATES:
            state, error, finished = run["state"], run.get("errorMessage", ""), run.get("finishedAt")
        else:
            state, error, finished = (
                "FAILED",
                f"SparkApplication {run['application']} was deleted before it finished",
                None,
            )
        if state != run["state"] and state in _BATCH_EVENTS:
            kind, reason = _BATCH_EVENTS[state]
            detail = f": {error}" if error and state in FAILED_STATES else ""
            result.events.append(Event(kind, reason, f"Run {run['id']} ({run['application']}) is {state}{detail}"))
        run["state"] = state
        if error:
            run["errorMessage"] = error
        if state in TERMINAL_STATES and not run.get("finishedAt"):
            run["finishedAt"] = finished or format_time(now)

    finished_runs = [run for run in runs if run["state"] in TERMINAL_STATES]
    for run in finished_runs[: max(0, len(finished_runs) - batch_spec["historyLimit"])]:
        runs.remove(run)
        if run["application"] in ours:
            result.deletes.append(run["application"])
            result.info(
                "BatchPruned", f"Deleted SparkApplication {run['application']} of run {run['id']} (history limit)"
            )

    batch["runs"] = runs
    if runs:
        batch["lastRun"] = f"{runs[-1]['id']} {runs[-1]['state']}"
    return batch


def _condition(
    previous: list[Mapping[str, Any]], kind: str, value: str, reason: str, message: str, generation: int, now: datetime
) -> dict[str, Any]:
    old = next((c for c in previous if c.get("type") == kind), None)
    changed = old is None or old.get("status") != value
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": format_time(now) if changed else old["lastTransitionTime"],
        "observedGeneration": generation,
    }


def _overall(
    pipeline: Mapping[str, Any],
    stream: Mapping[str, Any],
    batch: Mapping[str, Any],
    previous: list[Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    spec, generation = pipeline["spec"], pipeline["metadata"].get("generation", 0)
    suspended = spec["suspend"]
    stream_wanted = spec["stream"]["enabled"] and not suspended
    stream_state = stream["state"]
    app = stream.get("application") or stream_application_name(pipeline["metadata"]["name"])

    if stream_state == RUNNING:
        stream_cond = ("True", "Running", f"SparkApplication {app} is RUNNING")
    elif suspended:
        stream_cond = ("False", "Suspended", "spec.suspend is true")
    elif not spec["stream"]["enabled"]:
        stream_cond = ("False", "Disabled", "spec.stream.enabled is false")
    else:
        detail = f": {stream['errorMessage']}" if stream.get("errorMessage") else ""
        stream_cond = ("False", _camel(stream_state), f"SparkApplication {app} is {stream_state}{detail}")

    last_finished = next((r for r in reversed(batch["runs"]) if r["state"] in TERMINAL_STATES), None)
    if last_finished is None:
        batch_cond = ("Unknown", "NoRunFinished", "No batch run has finished yet")
    elif last_finished["state"] == COMPLETED:
        batch_cond = ("True", "Completed", f"Run {last_finished['id']} completed")
    else:
        error = last_finished.get("errorMessage") or last_finished["state"]
        batch_cond = ("False", "Failed", f"Run {last_finished['id']} failed: {error}")

    stream_failed = stream_wanted and stream_state in FAILED_STATES
    if suspended:
        phase, ready = "Suspended", ("False", "Suspended", "spec.suspend is true")
    elif stream_failed:
        phase, ready = "Failed", ("False", "StreamFailed", stream_cond[2])
    elif stream_wanted and stream_state != RUNNING:
        phase, ready = "Pending", ("False", "StreamNotRunning", stream_cond[2])
    elif batch_cond[0] == "False":
        phase, ready = "Degraded", ("False", "BatchFailed", batch_cond[2])
    else:
        phase, ready = "Running", ("True", "Ready", "Every enabled path is healthy")

    conditions = [
        _condition(previous, "Ready", *ready, generation, now),
        _condition(previous, "StreamRunning", *stream_cond, generation, now),
        _condition(previous, "BatchSucceeded", *batch_cond, generation, now),
    ]
    return {
        "phase": phase,
        "observedGeneration": generation,
        "conditions": conditions,
        "stream": dict(stream),
        "batch": dict(batch),
    }


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge patch turning `old` into `new` (None deletes a key)."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif key not in old:
            if value is not None:
                patch[key] = value
        elif value != before:
            patch[key] = value
    return patch
