"""The Airflow CLI against the local stack.

AIRFLOW_HOME is `<state>/airflow` (git-ignored, beside the stack's data); the DAGs folder is
the repository's dags/; the metadata DB is SQLite in AIRFLOW_HOME: `dags test` runs every
task in one process, so it needs no executor, scheduler or server, and the stack's Postgres
stays the pipeline's database only.

Every Airflow command pays ~20 s of imports on this machine; `airflow db migrate` pays more,
so it runs once per Airflow version (a stamp file records it).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pinpipe import settings as cfg

REPO = Path(__file__).resolve().parents[3]


def home() -> Path:
    return cfg.state_dir() / "airflow"


def dags_folder() -> Path:
    return REPO / "dags"


def airflow_binary() -> Path:
    return Path(sys.executable).parent / "airflow"


def airflow_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an Airflow command: this process's, Airflow's configuration, `extra`.

    `extra` reaches the tasks too (`dags test` runs them in-process): e.g. PINPIPE_* settings.
    """
    base = home()
    return {
        **os.environ,
        "AIRFLOW_HOME": str(base),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{base / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # Parsing our one DAG file needs no more than the default; a slow shared machine
        # needs the headroom.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(base / "logs"),
        **(extra or {}),
    }


def run(*args: str, timeout: float | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`airflow <args>` with the local environment, output captured; raises CalledProcessError."""
    home().mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(airflow_binary()), *args], env=airflow_env(env), cwd=home(), check=True, timeout=timeout,
        capture_output=True, text=True,
    )


def _stamp() -> Path:
    return home() / f".migrated-{importlib.metadata.version('apache-airflow')}"


def ensure_ready() -> bool:
    """`airflow db migrate` unless this Airflow version already migrated the DB; True if it ran."""
    if _stamp().is_file() and (home() / "airflow.db").is_file():
        return False
    run("db", "migrate", timeout=600)
    _stamp().touch()
    return True


def dags_test(dag_id: str, logical_date: datetime, *, timeout: float | None = None,
              env: dict[str, str] | None = None,
              progress: Callable[[str], None] | None = None) -> subprocess.CompletedProcess:
    """`airflow dags test DAG_ID DATE`: one DAG run, every task in this one process tree.

    Returns the completed process (output captured) whether the run succeeded or not.
    `progress` hears each task as it starts and ends; the whole output also goes to
    `<state>/logs/airflow-dags-test.log`.
    """
    ensure_ready()
    if progress is None:
        try:
            return run("dags", "test", dag_id, logical_date.isoformat(), timeout=timeout, env=env)
        except subprocess.CalledProcessError as exc:
            return subprocess.CompletedProcess(exc.cmd, exc.returncode, exc.stdout, exc.stderr)
    return _dags_test_with_progress(dag_id, logical_date, timeout, env, progress)


_TASK_EVENT = re.compile(r"\[DAG TEST\] (starting|end) task task_id=(\S+)|\[DAG TEST\] starting task_id=(\S+)")


def _dags_test_with_progress(dag_id: str, logical_date: datetime, timeout: float | None,
                             env: dict[str, str] | None, progress: Callable[[str], None]) -> subprocess.CompletedProcess:
    home().mkdir(parents=True, exist_ok=True)
    log_file = cfg.state_dir() / "logs" / "airflow-dags-test.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(airflow_binary()), "dags", "test", dag_id, logical_date.isoformat()]
    progress(f"airflow dags test {dag_id} {logical_date.isoformat()} (log: {log_file})")
    started = time.monotonic()
    lines: list[str] = []
    with log_file.open("w") as log, subprocess.Popen(
        cmd, env=airflow_env(env), cwd=home(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as proc:
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                log.write(line)
                lines.append(line)
                match = _TASK_EVENT.search(line)
                if match:
                    what = "started" if (match.group(1) or "starting") == "starting" else "ended"
                    progress(f"task {match.group(2) or match.group(3)} {what} "
                             f"({time.monotonic() - started:.0f}s into the run)")
        finally:
            if timer:
                timer.cancel()
        code = proc.wait()
    return subprocess.CompletedProcess(cmd, code, "".join(lines), "")
