"""`pinpipe stream run|start|stop|report`."""

from __future__ import annotations

import json

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def run() -> None:
    """Run the stream job in the foreground until Ctrl-C or SIGTERM."""
    from pinpipe_jobs.stream import main

    raise typer.Exit(main())


@app.command()
def start(wait: float = typer.Option(300.0, help="Seconds to wait for the query to run (0: return at once).")) -> None:
    """Start the stream job in the background (pid file and log in the state folder)."""
    from pinpipe.stream.control import StreamJobError
    from pinpipe.stream.control import start as start_job

    try:
        started = start_job(wait_s=wait)
    except StreamJobError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"stream job started (pid {started.pid}); log {started.log_file}")


@app.command()
def stop(timeout: float = typer.Option(60.0, help="Seconds to let it stop before killing it.")) -> None:
    """Stop the background stream job (SIGTERM, wait, clean up)."""
    from pinpipe.stream.control import stop as stop_job

    typer.echo("stream job stopped" if stop_job(timeout_s=timeout) else "stream job was not running")


@app.command()
def report() -> None:
    """Rows per stream table, quarantined messages and end-to-end latency, as JSON."""
    from pinpipe.stream.report import report as stream_report

    typer.echo(json.dumps(stream_report().as_dict(), indent=2))
