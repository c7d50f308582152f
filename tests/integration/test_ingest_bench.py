"""The ingest benchmark at a tiny size, so that it cannot rot (numbers are not asserted)."""

from __future__ import annotations

import json

import pytest

from pinpipe.bench.ingest import command

pytestmark = pytest.mark.integration


def test_ingest_benchmark_runs_all_phases_and_writes_json(local_stack, tmp_path):
    out = tmp_path / "ingest.json"

    command(events=60, single_events=9, batch_size=20, clients=2, workers=1, out=out)

    report = json.loads(out.read_text())
    assert set(report["results"]) == {"direct", "api_batch", "api_single"}
    for name, expected in (("direct", 60), ("api_batch", 60), ("api_single", 9)):
        result = report["results"][name]
        assert result["delivered"] == result["events"] == expected
        assert result["events_per_s"] > 0
    assert report["results"]["api_batch"]["errors"] == {} and report["results"]["api_single"]["errors"] == {}
    assert isinstance(report["target_met"], bool)
