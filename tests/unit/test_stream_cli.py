"""`pinpipe stream`: the commands a user types, without a running job."""

from __future__ import annotations

from typer.testing import CliRunner

from pinpipe.cli import app


def test_stream_group_offers_run_start_stop_report():
    result = CliRunner().invoke(app, ["stream", "--help"])
    assert result.exit_code == 0
    for command in ("run", "start", "stop", "report"):
        assert f" {command} " in result.output


def test_stop_without_a_running_job_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PINPIPE_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["stream", "stop"])
    assert result.exit_code == 0
    assert "stream job was not running" in result.output
