"""`pinpipe archive`: run the archiver in the foreground."""

from __future__ import annotations

import json
import logging

import typer


def archive(
    until_idle: bool = typer.Option(
        False, "--until-idle", "--once",
        help="Archive what the topics hold at start, flush, commit and exit (batch-style); "
             "exit code 3 when not caught up within PINPIPE_ARCHIVER_UNTIL_IDLE_TIMEOUT_S.",
    ),
    metrics_port: int | None = typer.Option(
        None, help="Serve Prometheus metrics on 127.0.0.1:PORT (default PINPIPE_ARCHIVER_METRICS_PORT; 0 = off).",
    ),
    log_level: str = typer.Option("INFO", help="Python log level."),
) -> None:
    from pinpipe.archiver import metrics
    from pinpipe.archiver.core import archive as run
    from pinpipe.archiver.settings import ArchiverSettings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python logs every rebalance step at INFO.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = ArchiverSettings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": metrics_port})
    if settings.metrics_port:
        metrics.serve(settings.metrics_host, settings.metrics_port)
    stats = run(settings, until_idle=until_idle, handle_signals=True)
    typer.echo(json.dumps(stats.as_dict()))
    if until_idle and not stats.caught_up:
        raise typer.Exit(code=3)
