"""The archiver benchmark at a tiny size, so that it cannot rot."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_the_benchmark_runs_and_writes_its_numbers(local_stack, tmp_path):
    from pinpipe.archiver.bench import run

    out = tmp_path / "archiver.json"
    result = run(300, out, repeats=1)
    assert json.loads(out.read_text()) == result
    assert result["events"] == 300
    assert result["bare_loop"]["events_per_s"] > 0 and result["archiver"]["events_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["bare_loop"]["seconds"] / result["archiver"]["seconds"], rel=0.01)
    assert result["archiver"]["objects"] >= 9  # every partition flushed at the end
