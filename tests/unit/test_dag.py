"""The pinterest_batch DAG as Airflow loads it: no import errors, tasks, dependencies, retries."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    # Importing Airflow writes a default config into AIRFLOW_HOME: keep it out of $HOME.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        yield


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_the_dags_folder_imports_cleanly(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"pinterest_batch"}


def test_tasks_and_dependencies(dagbag):
    dag = dagbag.dags["pinterest_batch"]
    assert set(dag.task_ids) == {"wait_for_raw", "run_batch", "check", "done"}
    downstream = {t.task_id: t.downstream_task_ids for t in dag.tasks}
    assert downstream == {"wait_for_raw": {"run_batch"}, "run_batch": {"check"}, "check": {"done"}, "done": set()}


def test_every_task_retries(dagbag):
    for t in dagbag.dags["pinterest_batch"].tasks:
        assert t.retries == 2, t.task_id
        assert t.retry_delay == timedelta(seconds=60), t.task_id


def test_one_run_per_hourly_data_interval_with_catchup(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags["pinterest_batch"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 * * * *"
    assert dag.catchup is True
    assert dag.max_active_runs == 1


def test_the_wait_is_a_bounded_sensor_and_the_job_has_a_timeout(dagbag):
    dag = dagbag.dags["pinterest_batch"]
    wait = dag.get_task("wait_for_raw")
    assert wait.mode == "poke"
    assert wait.timeout == 6 * 3600
    assert wait.poke_interval == 30
    assert dag.get_task("run_batch").execution_timeout == timedelta(seconds=3960)


def test_settings_shape_the_dag(airflow_home, monkeypatch):
    from pinpipe.orchestration.batch_dag import build_dag

    monkeypatch.setenv("PINPIPE_BATCH_SCHEDULE", "0 */6 * * *")
    monkeypatch.setenv("PINPIPE_BATCH_RETRIES", "5")
    monkeypatch.setenv("PINPIPE_BATCH_RUNNER", "kubernetes")
    monkeypatch.setenv("PINPIPE_K8S_TIMEOUT_S", "1000")
    dag = build_dag()
    assert dag.timetable.expression == "0 */6 * * *"
    assert {t.retries for t in dag.tasks} == {5}
    assert dag.get_task("run_batch").execution_timeout == timedelta(seconds=1100)


def test_parsing_the_dag_file_imports_no_heavy_client(tmp_path):
    # The scheduler parses DAG files every few seconds: Spark, Kafka, boto3 belong in tasks.
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "print(sorted(m for m in ('pyspark', 'kafka', 'boto3', 'psycopg2', 'kubernetes') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(DAGS / "pinterest_batch.py")], capture_output=True,
                         text=True, check=True, timeout=300,
                         env={"AIRFLOW_HOME": str(tmp_path), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip().splitlines()[-1] == "[]"
