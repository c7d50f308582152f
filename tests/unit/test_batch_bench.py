"""`pinpipe bench batch` at a tiny size, so the benchmark cannot rot (the numbers are not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PINPIPE = Path(sys.executable).parent / "pinpipe"


def test_bench_batch_runs_spark_and_duckdb_on_the_same_archive(tmp_path):
    out = tmp_path / "batch.json"
    proc = subprocess.run(
        [str(PINPIPE), "bench", "batch", "--events", "900", "--hours", "2", "--no-archiver",
         "--workdir", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())["spark_vs_duckdb"]
    assert report["parity"] == []
    assert report["events"] == 900
    assert sum(c["raw_rows"] for c in report["counts"].values()) == 900
    assert report["archive"]["files"] == 3 * 3 * 2  # topics x partitions x hours
    assert report["spark"]["seconds"] > 0 and report["duckdb"]["seconds"] > 0
    assert report["ratio"] == pytest.approx(report["spark"]["seconds"] / report["duckdb"]["seconds"], rel=0.01)
    # One warm run by default (the same counts, or the command fails), reported beside the cold one.
    warm = report["spark_warm"]
    assert warm["runs"] == 1 and warm["seconds"] > 0
    assert warm["ratio"] == pytest.approx(warm["seconds"] / report["duckdb"]["seconds"], rel=0.01)
    assert "vs duckdb" in proc.stdout and "spark warm" in proc.stdout
