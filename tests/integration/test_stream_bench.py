"""`pinpipe bench stream` at a tiny size, so that the benchmark cannot rot."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pinpipe.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def test_bench_stream_measures_every_event_sent(local_stack, tmp_path):
    out = tmp_path / "stream.json"
    result = CliRunner().invoke(app, ["bench", "stream", "--rates", "20", "--duration", "3", "--warmup", "2",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    phase = json.loads(out.read_text())["phases"][0]
    assert phase["rate"] == 20 and phase["sent"] > 0
    assert phase["stream"]["count"] == phase["sent"] and phase["baseline"]["count"] == phase["sent"]
    assert phase["stream"]["p50_s"] > 0 and phase["ratio"]["p50_s"] > 0
    assert "stream latency" in result.output
