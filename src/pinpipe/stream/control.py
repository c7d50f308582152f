"""Run the stream job in the background: start, stop, and run until it caught up.

Each instance has a pid file in the state folder's run/ and a log in logs/. `instance`
keeps a benchmark's or a test's job apart from the one a user started.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pinpipe.local import process
from pinpipe.local.layout import default
from pinpipe.stream import progress
from pinpipe.stream.report import StreamReport, report
from pinpipe.stream.settings import StreamSettings, env_overrides

MODULE = "pinpipe_jobs.stream"


class StreamJobError(RuntimeError):
    """The background job died or did not catch up; the message names its log."""


@dataclass(frozen=True)
class StreamJob:
    instance: str
    pid_file: Path
    log_file: Path

    @property
    def pid(self) -> int | None:
        return process.read_pid(self.pid_file, MODULE)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(process.tail(self.log_file, lines))


def job(instance: str = "stream") -> StreamJob:
    layout = default()
    name = "stream" if instance == "stream" else f"stream-{instance}"
    return StreamJob(instance, layout.pid_file(name), layout.logs / f"{name}.log")


# What the job logs once its query runs (jobs/pinpipe_jobs/stream.py, `run`).
STARTED_MARK = "started, checkpoint"


def start(overrides: dict[str, object] | None = None, instance: str = "stream",
          wait_s: float = 0.0) -> StreamJob:
    """Start the job in the background with these PINPIPE_STREAM_* overrides (field names).

    With `wait_s`, return only once its query runs (Spark's start-up takes tens of seconds).
    """
    target = job(instance)
    if target.pid is not None:
        raise StreamJobError(f"stream job {instance!r} already runs (pid {target.pid}); see {target.log_file}")
    default().create()
    log_start = target.log_file.stat().st_size if target.log_file.exists() else 0
    process.spawn([sys.executable, "-m", MODULE], log_file=target.log_file, pid_file=target.pid_file,
                  env=env_overrides(overrides))
    if wait_s:
        _wait_started(target, log_start, wait_s)
    return target


def _wait_started(target: StreamJob, log_start: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with target.log_file.open("rb") as fh:
            fh.seek(log_start)
            if STARTED_MARK.encode() in fh.read():
                return
        if target.pid is None:
            raise StreamJobError(f"stream job exited; log {target.log_file}:\n{target.log_tail()}")
        time.sleep(0.5)
    raise StreamJobError(f"stream query not started after {timeout_s:.0f}s; log {target.log_file}")


def stop(instance: str = "stream", timeout_s: float = 60.0) -> bool:
    """SIGTERM the job (it stops its query between micro-batches), wait, then kill what is left.

    The signal goes to the Python driver only: the JVM beside it must stay up while the driver
    stops the query, and it exits with the driver.
    """
    target = job(instance)
    pid = target.pid
    if pid is None:
        target.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while target.pid is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    # SIGKILL whatever of the group is left (a driver stuck past the timeout, a JVM still exiting).
    process.stop(pid, timeout=5, sig=signal.SIGKILL)
    target.pid_file.unlink(missing_ok=True)
    return True


def wait_caught_up(tracker: progress.Tracker, target: progress.Offsets, job_: StreamJob, timeout_s: float) -> None:
    """Block until the checkpoint committed `target` offsets; fail early if the job died."""
    deadline = time.monotonic() + timeout_s
    while True:
        if job_.pid is None:
            raise StreamJobError(f"stream job exited; log {job_.log_file}:\n{job_.log_tail()}")
        remaining = tracker.lag(target)
        if remaining == 0:
            return
        if time.monotonic() > deadline:
            raise StreamJobError(f"stream job still {remaining} messages behind after {timeout_s:.0f}s; "
                                 f"log {job_.log_file}")
        time.sleep(0.5)


def run_until_caught_up(timeout_s: float = 600.0, overrides: dict[str, object] | None = None,
                        instance: str = "stream", since: datetime | None = None) -> StreamReport:
    """Start the job (unless it runs), wait until it committed the topics' end offsets, stop it, report.

    The report covers the events accepted at or after `since` (all of them when None).

    The end offsets are read once at the start, so producers still sending cannot keep this
    waiting forever. A job that was already running is waited for and left running.
    """
    settings = StreamSettings(**(overrides or {}))
    running = job(instance)
    started_here = running.pid is None
    with progress.Tracker(settings.checkpoint(), settings.topics().values()) as tracker:
        target = tracker.end()
        if started_here:
            running = start(overrides, instance)
        try:
            wait_caught_up(tracker, target, running, timeout_s)
        finally:
            if started_here:
                stop(instance)
    return report(since=since)
