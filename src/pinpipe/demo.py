"""`pinpipe demo` (`make demo`): the whole pipeline end to end on this machine.

Brings the local stack up, proves each service with a round trip, then runs the pipeline
stage by stage and prints one report of what ran.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True, soft_wrap=True)


def _stage(report: dict[str, Any], name: str, fn) -> Any:
    console.rule(f"[bold]{name}")
    started = time.monotonic()
    result = fn()
    report["stages"].append({"stage": name, "seconds": round(time.monotonic() - started, 1)})
    return result


def _platform(report: dict[str, Any]) -> None:
    from pinpipe.local import roundtrip, stack

    _stage(report, "local stack up", lambda: stack.ensure_up(progress=console.log))
    probes = _stage(report, "service round trips", roundtrip.probes)

    def spark_probe():
        from pinpipe.spark import build_session

        session = build_session("pinpipe-demo-probe")
        try:
            return roundtrip.spark_roundtrip(session)
        finally:
            session.stop()

    spark_detail = _stage(report, "spark round trip", spark_probe)
    report["services"] = [
        {"service": p.service, "ok": p.ok, "detail": p.detail, "seconds": round(p.seconds, 2)} for p in probes
    ] + [{"service": "spark", "ok": True, "detail": spark_detail, "seconds": None}]
    failed = [p for p in probes if not p.ok]
    if failed:
        raise RuntimeError("; ".join(f"{p.service}: {p.detail}" for p in failed))


def _wait_http(url: str, timeout_s: float, log: str) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout_s:.0f}s (log: {log})")


def _hour_windows(first: datetime, last: datetime) -> list[datetime]:
    """Ends of the hourly batch windows that hold every event from `first` to `last`."""
    end = first.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    ends = [end]
    while ends[-1] <= last:
        ends.append(ends[-1] + timedelta(hours=1))
    return ends


def _pipeline(report: dict[str, Any], rows: int, posts: int) -> None:
    import os
    import sys

    from pinpipe import datagen, emulator
    from pinpipe import settings as cfg
    from pinpipe.archiver import archive_until_idle
    from pinpipe.local import process
    from pinpipe.local.layout import default
    from pinpipe.orchestration import batch_dag
    from pinpipe.stream import control as stream_control

    gen = _stage(report, f"generate {rows:,} source rows", lambda: datagen.generate(rows=rows, seed=42))
    layout = default()
    port = cfg.LocalStackSettings().api_port
    api_log = layout.logs / "api.log"
    api = process.spawn([sys.executable, "-m", "pinpipe", "api", "--port", str(port)],
                        log_file=api_log, pid_file=layout.pid_file("api"))
    api_running = True

    def stop_api() -> None:
        nonlocal api_running
        if api_running:
            process.stop(api.pid, timeout=30)
            process.forget(layout.pid_file("api"), api.pid)
            api_running = False

    stream_job = None
    try:
        _stage(report, "start the API", lambda: _wait_http(f"http://127.0.0.1:{port}/readyz", 120, str(api_log)))
        # The stream job runs while the emulator posts, as it would in production.
        if stream_control.job().pid is None:
            stream_job = _stage(report, "start the stream job",
                                lambda: stream_control.start(wait_s=300))
        first = datetime.now(UTC)
        try:
            emu = _stage(report, f"emulate {posts:,} posts (pin + geo + user each) through the API",
                         lambda: emulator.run(api_url=f"http://127.0.0.1:{port}", count=posts, concurrency=8,
                                              batch_size=1, mode="random"))
        finally:
            stop_api()
        last = datetime.now(UTC)

        archived = _stage(report, "archive Kafka to the raw bucket", archive_until_idle)

        # The demo cannot wait for its hour to close: a provisional run processes the open hour
        # with what is archived; the DAG's run after the hour closes replaces that output.
        # The Airflow subprocess inherits this process's environment.
        os.environ["PINPIPE_BATCH_PROVISIONAL"] = "true"
        os.environ["PINPIPE_BATCH_WAIT_POKE_S"] = "5"
        runs = []
        for end in _hour_windows(first, last):
            runs.append(_stage(report, f"Airflow DAG run, window ending {end:%H:%M}",
                               lambda end=end: batch_dag.run_local(end, progress=console.log)))
        failed = [r for r in runs if r["state"] != "success"]
        if failed:
            raise RuntimeError("DAG run failed:\n" + "\n".join(failed[0].get("output_tail", [])[-30:]))

        stream = _stage(report, "stream job catches up",
                        lambda: stream_control.run_until_caught_up(timeout_s=600, since=first))
    finally:
        stop_api()
        if stream_job is not None:
            stream_control.stop()
    report["pipeline"] = {
        "source": gen, "emulator": emu, "archiver": archived,
        "batch_runs": [r.get("summary", {}) for r in runs], "stream": stream.as_dict(),
    }
    report["sections"].extend(_pipeline_tables(report["pipeline"]))


def _pipeline_tables(p: dict[str, Any]) -> list[Table]:
    from sqlalchemy import text

    from pinpipe import db

    emu = p["emulator"]
    ingest = Table(title="ingestion")
    for col in ("sent", "accepted", "rejected", "retried", "p50 ms", "p99 ms"):
        ingest.add_column(col, justify="right")
    ingest.add_row(*(str(emu.get(k, "")) for k in ("sent", "accepted", "rejected", "retried")),
                   str(emu["latency_ms"]["p50"]), str(emu["latency_ms"]["p99"]))

    batch = Table(title="batch path")
    for col in ("window", "raw rows", "duplicates", "curated rows", "quarantined"):
        batch.add_column(col)
    for s in p["batch_runs"]:
        quarantined = sum(sum(r.values()) for r in s.get("quarantined", {}).values())
        batch.add_row(f"{s.get('window_start', '')[11:16]}-{s.get('window_end', '')[11:16]}",
                      str(s.get("raw_rows")), str(s.get("duplicates_dropped")),
                      str(sum(s.get("clean_rows", {}).values())), str(quarantined))

    stream = p["stream"]
    st = Table(title="stream path")
    for col in ("rows", "quarantined", "latency p50 s", "p95 s", "p99 s"):
        st.add_column(col)
    lat = stream.get("latency", {})
    st.add_row(", ".join(f"{k} {v}" for k, v in stream.get("rows", {}).items()),
               ", ".join(f"{k} {v}" for k, v in stream.get("quarantined", {}).items()) or "0",
               *(str(lat.get(k)) for k in ("p50_s", "p95_s", "p99_s")))

    answers = Table(title="top analytics answers (last window)")
    answers.add_column("question")
    answers.add_column("answer")
    queries = {
        "most popular category per country": "SELECT country || ': ' || category || ' (' || category_count || ')' "
        "FROM analytics.popular_category_by_country WHERE window_start = :w ORDER BY category_count DESC LIMIT 3",
        "most popular category per age group": "SELECT age_group || ': ' || category || ' (' || category_count || ')' "
        "FROM analytics.popular_category_by_age_group WHERE window_start = :w ORDER BY age_group",
        "median followers per age group": "SELECT age_group || ': ' || median_follower_count "
        "FROM analytics.median_followers_by_age_group WHERE window_start = :w ORDER BY age_group",
        "user with most followers per country": "SELECT country || ': ' || poster_name || ' (' || follower_count || ')' "
        "FROM analytics.top_user_by_country WHERE window_start = :w ORDER BY follower_count DESC LIMIT 3",
    }
    last_window = next((s["window_start"] for s in reversed(p["batch_runs"]) if s.get("raw_rows")), None)
    if last_window:
        eng = db.engine()
        try:
            with eng.connect() as conn:
                for question, sql in queries.items():
                    rows = conn.execute(text(sql), {"w": datetime.fromisoformat(last_window)}).scalars().all()
                    answers.add_row(question, "; ".join(rows) or "-")
        finally:
            eng.dispose()
    return [ingest, batch, st, answers]


def _print(report: dict[str, Any]) -> None:
    table = Table(title="pinpipe demo: what ran")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for s in report["stages"]:
        table.add_row(s["stage"], f"{s['seconds']:.1f}")
    out = Console(width=160)
    out.print(table)
    services = Table(title="services")
    for col in ("service", "ok", "detail"):
        services.add_column(col)
    for s in report.get("services", []):
        services.add_row(s["service"], "yes" if s["ok"] else "NO", s["detail"])
    out.print(services)
    for section in report.get("sections", []):
        out.print(section)


def demo(
    rows: Annotated[int, typer.Option(help="Source rows per table (the original dataset had 11,000).")] = 11_000,
    posts: Annotated[int, typer.Option(help="Posts the emulator sends through the API.")] = 3_000,
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
) -> None:
    """Run the pipeline end to end on the local stack and print a report."""
    report: dict[str, Any] = {"stages": [], "sections": []}
    started = time.monotonic()
    try:
        _platform(report)
        _pipeline(report, rows, posts)
    except Exception as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        raise typer.Exit(1) from None
    report["total_seconds"] = round(time.monotonic() - started, 1)
    _print(report)
    if json_out:
        with open(json_out, "w") as fh:
            json.dump({k: v for k, v in report.items() if k != "sections"}, fh, indent=2, default=str)
    console.print(f"[green]demo finished in {report['total_seconds']:.0f}s[/]")
