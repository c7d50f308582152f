"""Run the Spark batch job on this machine: spark-submit from the venv's pyspark, local master.

The job (jobs/pinpipe_jobs/batch.py) writes its JSON summary to
s3://<curated>/_runs/<run_id>.json; the runner returns that object, the same thing the
Kubernetes runner returns, so the DAG does not care where the job ran.
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from pinpipe import settings as cfg
from pinpipe.orchestration.summary import read_summary
from pinpipe.spark import BATCH_DRIVER_JAVA_OPTIONS, connector_jars

log = logging.getLogger(__name__)


class BatchJobFailed(RuntimeError):
    pass


def job_file() -> Path:
    spec = importlib.util.find_spec("pinpipe_jobs")
    if spec is None or spec.origin is None:
        raise BatchJobFailed("package pinpipe_jobs is not installed (jobs/ is part of the pinpipe wheel)")
    return Path(spec.origin).parent / "batch.py"


def spark_submit_binary() -> Path:
    # The venv's bin holds the spark-submit of the installed pyspark, beside this python.
    return Path(sys.executable).parent / "spark-submit"


def submit_command(
    run_id: str, window_start: datetime, window_end: datetime, *,
    spark: cfg.SparkSettings, jars: list[Path], job: Path, spark_submit: Path,
) -> list[str]:
    """Pure: the spark-submit command line for one window."""
    return [
        str(spark_submit),
        "--master", spark.master,
        "--name", f"pinpipe-batch-{run_id}",
        # The driver JVM starts before the job's SparkSession builder runs: memory and jars
        # must be on the command line.
        "--driver-memory", spark.driver_memory,
        "--driver-java-options", BATCH_DRIVER_JAVA_OPTIONS,
        "--jars", ",".join(str(j) for j in jars),
        str(job),
        "--run-id", run_id,
        "--window-start", window_start.isoformat(),
        "--window-end", window_end.isoformat(),
    ]


def run_batch(run_id: str, window_start: datetime, window_end: datetime, *, timeout_s: float) -> dict[str, Any]:
    """spark-submit the batch job for [window_start, window_end); return its summary."""
    missing = [str(j) for j in connector_jars() if not j.is_file()]
    if missing:
        raise BatchJobFailed(f"connector jars missing (run `pinpipe local up`): {', '.join(missing)}")
    cmd = submit_command(
        run_id, window_start, window_end, spark=cfg.spark(), jars=connector_jars(), job=job_file(),
        spark_submit=spark_submit_binary(),
    )
    # The job's Python workers must be this interpreter (the venv with pinpipe installed).
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    log.info("running %s", " ".join(cmd))
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True, start_new_session=True,
    )
    tail: collections.deque[str] = collections.deque(maxlen=40)

    def pump() -> None:
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            log.info("spark: %s", line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BatchJobFailed(f"batch job {run_id} still running after {timeout_s:.0f} s; killed") from None
    finally:
        if proc.poll() is None:
            # spark-submit's JVM and the Python driver share the session started above: a
            # timeout or a killed task must not leave them running.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=10)
    if code != 0:
        raise BatchJobFailed(f"batch job {run_id} exited {code}:\n" + "\n".join(tail))
    return read_summary(run_id)
