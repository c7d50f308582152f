"""`pinpipe local up | down | status | logs`."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)


@app.command()
def up() -> None:
    """Provision (cached) and start ZooKeeper, Kafka, MinIO and Postgres; idempotent."""
    from pinpipe.local import stack
    from pinpipe.local.provision import ProvisionError

    started_at = time.monotonic()
    try:
        with console.status("starting the local stack") as status:
            started = stack.ensure_up(progress=lambda msg: (status.update(msg), console.log(msg)))
    except (stack.StackError, ProvisionError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"local stack up in {time.monotonic() - started_at:.1f}s"
        + (f" (started: {', '.join(started)})" if started else " (all already running)")
    )
    _print_status()


@app.command()
def down(
    purge: Annotated[bool, typer.Option(help="Also delete all data, logs and generated credentials.")] = False,
) -> None:
    """Stop what `up` started (by pid); keeps data unless --purge."""
    from pinpipe.local import stack

    stopped = stack.down(purge=purge, progress=console.log)
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status() -> None:
    """Each service with its port, pid and health; exit 1 if any is not healthy."""
    if not _print_status():
        raise typer.Exit(1)


@app.command()
def logs(
    service: Annotated[str | None, typer.Argument(help="zookeeper, kafka, minio, postgres, or empty for all")] = None,
    lines: Annotated[int, typer.Option("-n", "--lines")] = 40,
    follow: Annotated[bool, typer.Option("-f", "--follow")] = False,
) -> None:
    """Print the last lines of a service's log (or of every log)."""
    from pinpipe.local import process, stack

    services = stack.services()
    names = [service] if service else list(services)
    for name in names:
        if name not in services:
            console.print(f"[red]unknown service {name!r}[/]; one of {', '.join(services)}")
            raise typer.Exit(2)
        log = services[name].log_file
        if len(names) > 1:
            print(f"==> {log} <==")
        for line in process.tail(log, lines):
            print(line)
    if follow and service:
        log = services[service].log_file
        with log.open() as fh:
            fh.seek(0, 2)
            while True:
                line = fh.readline()
                if line:
                    sys.stdout.write(line)
                else:
                    time.sleep(0.5)


def _print_status() -> bool:
    from pinpipe.local import stack

    info = stack.info()
    table = Table(title=f"pinpipe local stack ({info.state_dir})")
    for col in ("service", "port", "pid", "health", "log"):
        table.add_column(col)
    for s in info.services.values():
        health = "[green]healthy[/]" if s.healthy else ("[yellow]unhealthy[/]" if s.pid else "[red]stopped[/]")
        table.add_row(s.name, str(s.port), str(s.pid or "-"), health, str(s.log))
    # Wide enough for paths when stdout is a pipe (rich assumes 80 columns there).
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return bool(info.services) and all(s.healthy for s in info.services.values())
