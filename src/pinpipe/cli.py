"""`pinpipe`: one command line for every component.

Each component owns a Typer app in its own package; this module only mounts them. Those
modules keep heavy imports (pyspark, airflow, kafka) inside their commands so that
`pinpipe --help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="pinpipe: Pinterest's data pipeline, emulated.", no_args_is_help=True)

# (module, attribute, name, help); a group is mounted with add_typer, a command with command().
_GROUPS = (
    ("pinpipe.local.cli", "app", "local", "The one-machine stack: up, down, status, logs."),
    ("pinpipe.datagen.cli", "app", "data", "Source data: generate the Pinterest-like tables."),
    ("pinpipe.stream.cli", "app", "stream", "The Spark Structured Streaming job: start, stop."),
    ("pinpipe.bench.cli", "app", "bench", "Benchmarks against a baseline run side by side."),
)
_COMMANDS = (
    ("pinpipe.api.cli", "serve", "api", "Run the ingestion API (FastAPI + uvicorn)."),
    ("pinpipe.emulator.cli", "emulate", "emulate", "Replay source rows to the API like users posting."),
    ("pinpipe.archiver.cli", "archive", "archive", "Archive Kafka topics to the raw bucket, exactly once."),
    ("pinpipe.demo", "demo", "demo", "Run the whole pipeline end to end on the local stack."),
)


def _mount() -> None:
    for module, attr, name, help_text in _GROUPS:
        app.add_typer(getattr(importlib.import_module(module), attr), name=name, help=help_text)
    for module, attr, name, help_text in _COMMANDS:
        app.command(name=name, help=help_text)(getattr(importlib.import_module(module), attr))


_mount()
