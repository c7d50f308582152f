"""The DAG's pure parts: windows, completeness, the manual interval, spark-submit, the check."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pinpipe import settings as cfg
from pinpipe.orchestration.batch_dag import manual_interval
from pinpipe.orchestration.check import Observed, compare
from pinpipe.orchestration.local_runner import submit_command
from pinpipe.orchestration.windows import PartitionProgress, hours_in, run_id_for, window_status

H10 = datetime(2026, 11, 26, 10, tzinfo=UTC)
H11 = H10 + timedelta(hours=1)


def test_run_ids_are_per_window_and_valid_kubernetes_names():
    run_id = run_id_for(H10, H11)
    assert run_id == "w202611261000-202611261100"
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", run_id)
    assert run_id_for(H10, H11) != run_id_for(H11, H11 + timedelta(hours=1))


def test_windows_must_be_aware():
    with pytest.raises(ValueError, match="naive"):
        run_id_for(datetime(2026, 11, 26, 10), H11)


def test_hours_of_a_window():
    assert hours_in(H10, H11) == [H10]
    assert hours_in(H10 - timedelta(minutes=30), H11 + timedelta(minutes=1)) == [H10 - timedelta(hours=1), H10, H11]
    assert hours_in(H10, H10) == []


def progress(*committed: int | None, target: int = 100) -> list[PartitionProgress]:
    return [PartitionProgress("pinterest.pin", p, target, c) for p, c in enumerate(committed)]


def test_a_window_is_complete_when_every_partition_is_archived_past_its_end():
    status = window_status(progress(100, 250, 100), now=H11 + timedelta(minutes=5), window_end=H11, lateness_s=60)
    assert status.complete, status.reason


@pytest.mark.parametrize(("committed", "now", "why"), [
    ((100, 99, 100), H11 + timedelta(minutes=5), "pinterest.pin[1] committed 99 < 100"),
    ((100, None, 100), H11 + timedelta(minutes=5), "pinterest.pin[1] committed None < 100"),
    ((100, 100, 100), H11 + timedelta(seconds=59), "closes for late messages"),
    ((), H11 + timedelta(minutes=5), "no partitions"),
])
def test_a_window_is_incomplete_while_anything_may_still_land_in_it(committed, now, why):
    status = window_status(progress(*committed), now=now, window_end=H11, lateness_s=60)
    assert not status.complete
    assert why in status.reason


def test_a_provisional_run_takes_an_open_window_once_the_archive_caught_up():
    open_now = H11 - timedelta(minutes=20)
    assert window_status(progress(100, 100, 100), now=open_now, window_end=H11, lateness_s=60,
                         provisional=True).complete
    behind = window_status(progress(100, 99, 100), now=open_now, window_end=H11, lateness_s=60, provisional=True)
    assert not behind.complete and "committed 99 < 100" in behind.reason


@pytest.mark.parametrize(("logical", "schedule", "window"), [
    (H11, "0 * * * *", (H10, H11)),
    (H11 + timedelta(minutes=30), "0 * * * *", (H10, H11)),
    (datetime(2026, 11, 26, 12, tzinfo=UTC), "0 */6 * * *", (datetime(2026, 11, 26, 6, tzinfo=UTC),
                                                             datetime(2026, 11, 26, 12, tzinfo=UTC))),
])
def test_a_manual_run_gets_the_last_complete_interval(logical, schedule, window):
    assert manual_interval(schedule, logical) == window


def test_spark_submit_runs_the_job_file_locally_with_the_connector_jars():
    jars = [Path("/cache/a.jar"), Path("/cache/b.jar")]
    cmd = submit_command("w1", H10, H11, spark=cfg.SparkSettings(master="local[2]", driver_memory="2g"),
                         jars=jars, job=Path("/repo/jobs/pinpipe_jobs/batch.py"), spark_submit=Path("/venv/bin/spark-submit"))
    assert cmd[0] == "/venv/bin/spark-submit"
    assert cmd[cmd.index("--master") + 1] == "local[2]"
    assert cmd[cmd.index("--driver-memory") + 1] == "2g"
    assert cmd[cmd.index("--driver-java-options") + 1] == "-XX:+UseParallelGC"
    assert cmd[cmd.index("--jars") + 1] == "/cache/a.jar,/cache/b.jar"
    job = cmd.index("/repo/jobs/pinpipe_jobs/batch.py")
    assert cmd[job + 1:] == ["--run-id", "w1", "--window-start", "2026-11-26T10:00:00+00:00",
                             "--window-end", "2026-11-26T11:00:00+00:00"]


# -- the check -----------------------------------------------------------------------------


def summary() -> dict:
    return {
        "run_id": run_id_for(H10, H11),
        "raw_rows": 110,
        "duplicates_dropped": 2,
        "raw_rows_by_type": {"pin": 50, "geo": 30, "user": 30},
        "clean_rows": {"pin": 45, "geo": 28, "user": 30},
        "quarantined": {"pin": {"invalid_unique_id": 3}, "geo": {"malformed_json": 2}, "user": {}},
        "null_rates": {"pin": {"event_id": 0.0, "ind": 0.0, "title": 0.25}, "geo": {"country": 0.1}, "user": {}},
    }


def observed() -> Observed:
    return Observed(
        raw={"pin": 50, "geo": 30, "user": 30}, raw_objects=9,
        curated={"pin": 45, "geo": 28, "user": 30},
        quarantined={"pin": {"invalid_unique_id": 3}, "geo": {"malformed_json": 2}},
    )


def test_a_summary_that_matches_its_inputs_and_outputs_passes():
    assert compare(summary(), observed(), H10, H11) == []


def test_every_kind_of_mismatch_is_named():
    s, o = summary(), observed()
    s["run_id"] = "w-other"
    o.raw["geo"] = 31  # a message the job did not read
    o.curated["pin"] = 44  # a curated file lost
    o.quarantined["geo"] = {"malformed_json": 1}
    s["null_rates"]["user"] = {"ind": 0.5}
    problems = compare(s, o, H10, H11)
    assert problems == [
        "summary is for run 'w-other', not 'w202611261000-202611261100'",
        "geo: the job read 30 raw messages, the archive holds 31",
        "pin: 45 clean rows in the summary, 44 in the curated bucket",
        "geo: quarantined {'malformed_json': 2} in the summary, {'malformed_json': 1} in quarantine.records",
        "user.ind: null in 50.00% of clean rows; it must never be",
    ]


def test_a_summary_that_loses_rows_between_its_own_counts_fails():
    s = summary()
    s["duplicates_dropped"] = 0
    assert compare(s, observed(), H10, H11) == ["110 raw messages but 108 duplicates + clean + quarantined"]


def test_airflow_pendulum_datetimes_keep_their_zone():
    pendulum = pytest.importorskip("pendulum")
    end = pendulum.datetime(2026, 11, 26, 11, tz="UTC")
    status = window_status(progress(100), now=pendulum.datetime(2026, 11, 26, 11, 0, 30, tz="UTC"),
                           window_end=end, lateness_s=60)
    assert not status.complete and "11:01:00+00:00" in status.reason
    assert hours_in(end.subtract(hours=1), end) == [H10]
