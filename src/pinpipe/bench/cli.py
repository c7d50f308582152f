"""`pinpipe bench ...`: each benchmark lives in its own module beside this one."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(no_args_is_help=True)

for _module, _name, _help in (
    ("pinpipe.bench.ingest", "ingest", "Events/s through the API next to a direct kafka-python producer."),
    ("pinpipe.bench.batch", "batch", "The Spark batch job next to DuckDB; the archiver next to a bare consume loop."),
    ("pinpipe.bench.stream", "stream", "End-to-end stream latency at fixed rates."),
):
    app.command(name=_name, help=_help)(importlib.import_module(_module).command)
