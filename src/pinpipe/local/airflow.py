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
import subprocess
import sys
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
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`airflow dags test DAG_ID DATE`: one DAG run, every task in this one process tree.

    Returns the completed process (output captured) whether the run succeeded or not.
    """
    ensure_ready()
    try:
        return run("dags", "test", dag_id, logical_date.isoformat(), timeout=timeout, env=env)
    except subprocess.CalledProcessError as exc:
        return subprocess.CompletedProcess(exc.cmd, exc.returncode, exc.stdout, exc.stderr)
