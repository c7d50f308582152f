"""`pinpipe emulate`: post source rows to the API with a progress bar and a summary."""

from __future__ import annotations

from typing import Annotated

import typer


def emulate(
    api_url: Annotated[str | None, typer.Option(help="API base URL (default PINPIPE_EMULATOR_API_URL)")] = None,
    mode: Annotated[str | None, typer.Option(help="sequential | random (default random)")] = None,
    rate: Annotated[float | None, typer.Option(min=0, help="Target events/s, 0 = unpaced")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Concurrent clients (default 8)")] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Posts to send; each is a pin, a geo and a user")] = None,
    duration: Annotated[float | None, typer.Option(min=0.001, help="Seconds to run")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, max=500, help="Posts per request (default 1)")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random mode")] = None,
) -> None:
    """Replay source.pin/geo/user rows to the API (1000 posts when neither --count nor --duration is given)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from pinpipe.emulator.runner import DEFAULT_COUNT, run

    if mode is not None and mode not in ("sequential", "random"):
        raise typer.BadParameter("mode must be sequential or random", param_hint="--mode")
    console = Console()
    total = 3 * count if count else (None if duration else 3 * DEFAULT_COUNT)
    with Progress(TextColumn("posting events"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("events", total=total)
        result = run(api_url=api_url, mode=mode, rate=rate, concurrency=concurrency, count=count, duration_s=duration,
                     batch_size=batch_size, seed=seed, on_progress=lambda n: progress.advance(task, n))
    table = Table(title=f"emulator run {result['nonce']}", show_header=False)
    for key in ("mode", "batch_size", "concurrency", "posts_read", "requests", "sent", "accepted", "rejected", "failed",
                "retried", "replayed", "elapsed_s", "events_per_s"):
        table.add_row(key, str(result[key]))
    table.add_row("latency p50 / p99 (ms)", f"{result['latency_ms']['p50']} / {result['latency_ms']['p99']}")
    table.add_row("status codes", ", ".join(f"{code}: {n}" for code, n in result["status_codes"].items()))
    console.print(table)
    if result["failed"] or result["rejected"]:
        raise typer.Exit(1)
