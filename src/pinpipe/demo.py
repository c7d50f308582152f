"""`pinpipe demo` (`make demo`): the whole pipeline end to end on this machine.

Brings the local stack up, proves each service with a round trip, then runs the pipeline
stage by stage and prints one report of what ran.
"""

from __future__ import annotations

import json
import time
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
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
) -> None:
    """Run the pipeline end to end on the local stack and print a report."""
    report: dict[str, Any] = {"stages": [], "sections": []}
    started = time.monotonic()
    try:
        _platform(report)
    except Exception as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        raise typer.Exit(1) from None
    report["total_seconds"] = round(time.monotonic() - started, 1)
    _print(report)
    if json_out:
        with open(json_out, "w") as fh:
            json.dump({k: v for k, v in report.items() if k != "sections"}, fh, indent=2, default=str)
    console.print(f"[green]demo finished in {report['total_seconds']:.0f}s[/]")
