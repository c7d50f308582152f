"""The pinterest_batch DAG: one run per data interval of the raw archive.

    wait_for_raw -> run_batch -> check -> done

- wait_for_raw: a sensor; the window is complete when the archiver committed past it on
  every partition (windows.window_status). Locally it runs the archiver until idle first.
- run_batch: the Spark batch job for [data_interval_start, data_interval_end), on this
  machine (spark-submit) or on Kubernetes (a PinterestPipeline batch request), as
  PINPIPE_BATCH_RUNNER says; returns the job's summary.
- check: recounts the window from the archive, the curated bucket and the quarantine table
  and fails the run, without retries, when they disagree with the summary.

dags/pinterest_batch.py only calls build_dag(); nothing here touches a service at parse time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pinpipe.orchestration.settings import OrchestrationSettings
from pinpipe.orchestration.windows import WindowStatus, as_utc, run_id_for, window_status

if TYPE_CHECKING:
    from airflow.sdk import DAG, PokeReturnValue

log = logging.getLogger(__name__)

DAG_ID = "pinterest_batch"


def wait_for_raw(data_interval_start: datetime, data_interval_end: datetime) -> PokeReturnValue:
    from airflow.sdk import PokeReturnValue

    from pinpipe import settings as cfg
    from pinpipe.archiver.settings import ArchiverSettings
    from pinpipe.orchestration.archive_state import archive_progress

    start, end = as_utc(data_interval_start), as_utc(data_interval_end)
    settings, archiver = OrchestrationSettings(), ArchiverSettings()

    def status() -> WindowStatus:
        return window_status(
            archive_progress(end, archiver, cfg.kafka()),
            now=datetime.now(UTC), window_end=end, lateness_s=settings.lateness_s,
            provisional=settings.provisional,
        )

    current = status()
    closed = datetime.now(UTC) >= end + timedelta(seconds=settings.lateness_s) or settings.provisional
    if not current.complete and closed and settings.drive_archiver:
        from pinpipe.archiver import archive_until_idle

        log.info("%s; running the archiver until idle", current.reason)
        log.info("archiver: %s", archive_until_idle())
        current = status()
    log.info("window [%s, %s): %s", start.isoformat(), end.isoformat(), current.reason)
    return PokeReturnValue(is_done=current.complete)


def run_batch(data_interval_start: datetime, data_interval_end: datetime) -> dict[str, Any]:
    start, end = as_utc(data_interval_start), as_utc(data_interval_end)
    settings = OrchestrationSettings()
    run_id = run_id_for(start, end)
    log.info("batch run %s on %s", run_id, settings.runner)
    if settings.runner == "kubernetes":
        from pinpipe.orchestration import k8s_runner

        # The operator's SparkApplication writes the same summary object; the run's status
        # entry only says it completed.
        from pinpipe.orchestration.summary import read_summary

        k8s_runner.run_batch_with_settings(run_id, start, end)
        return read_summary(run_id)
    from pinpipe.orchestration import local_runner

    return local_runner.run_batch(run_id, start, end, timeout_s=settings.job_timeout_s)


def check(summary: dict[str, Any], data_interval_start: datetime, data_interval_end: datetime) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    from pinpipe.orchestration import check as checks

    start, end = as_utc(data_interval_start), as_utc(data_interval_end)
    observed = checks.observe(start, end)
    problems = checks.compare(summary, observed, start, end)
    report = {"run_id": run_id_for(start, end), **observed.as_dict()}
    log.info("check: %s", report)
    if problems:
        # Retrying a check cannot fix a mismatch: fail the run and say what differs.
        raise AirflowFailException("batch output does not match the archive:\n- " + "\n- ".join(problems))
    return report


def _job_timeout_s(settings: OrchestrationSettings) -> float:
    if settings.runner == "kubernetes":
        from pinpipe.orchestration.k8s_runner import K8sRunnerSettings

        return K8sRunnerSettings().timeout_s
    return settings.job_timeout_s


def build_dag(settings: OrchestrationSettings | None = None) -> DAG:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG, CronDataIntervalTimetable, task

    s = settings or OrchestrationSettings()
    with DAG(
        dag_id=DAG_ID,
        description="Archive window -> Spark batch job -> curated, quarantine, analytics; checked.",
        schedule=CronDataIntervalTimetable(s.schedule, timezone="UTC"),
        start_date=s.start_date,
        catchup=s.catchup,
        max_active_runs=s.max_active_runs,
        default_args={"retries": s.retries, "retry_delay": timedelta(seconds=s.retry_delay_s)},
        doc_md=__doc__,
        tags=["pinpipe", "batch"],
    ) as dag:
        waited = task.sensor(
            task_id="wait_for_raw", poke_interval=s.wait_poke_s, timeout=s.wait_timeout_s, mode="poke",
        )(wait_for_raw)()
        summary = task(task_id="run_batch", execution_timeout=timedelta(seconds=_job_timeout_s(s) * 1.1))(run_batch)()
        checked = task(task_id="check")(check)(summary)
        waited >> summary
        checked >> EmptyOperator(task_id="done")
    return dag


def manual_interval(schedule: str, logical_date: datetime) -> tuple[datetime, datetime]:
    """The data interval Airflow gives a manual run: the last complete one before the date."""
    from croniter import croniter

    at = logical_date.astimezone(UTC)
    end = at if croniter.match(schedule, at) else croniter(schedule, at).get_prev(datetime)
    start = croniter(schedule, end).get_prev(datetime)
    # croniter marks its results fold=1; meaningless in UTC, and confusing in reprs.
    return start.replace(fold=0), end.replace(fold=0)


def run_local(logical_date: datetime, *, timeout_s: float = 1800.0,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """One DAG run on this machine (`airflow dags test`); returns its state and the job summary.

    A manual run processes the last complete interval before `logical_date`: pass the end of
    the window you want. The run inherits this process's environment, so its settings too.
    """
    from pinpipe.local import airflow
    from pinpipe.orchestration.summary import read_summary

    start, end = manual_interval(OrchestrationSettings().schedule, logical_date)
    proc = airflow.dags_test(DAG_ID, logical_date, timeout=timeout_s, progress=progress)
    result: dict[str, Any] = {
        "dag_id": DAG_ID,
        "window": [start.isoformat(), end.isoformat()],
        "run_id": run_id_for(start, end),
        "state": "success" if proc.returncode == 0 else "failed",
    }
    if proc.returncode == 0:
        result["summary"] = read_summary(result["run_id"])
    else:
        result["output_tail"] = (proc.stdout + proc.stderr).splitlines()[-80:]
    return result
