"""Benchmark: events/s through the API next to a direct kafka-python producer, in one run.

Three phases over the same generated records (pins, geos and users in equal parts, from
the data generator, so sizes are realistic), each into fresh scratch topics:

- direct: one KafkaProducer with the API's own producer settings (acks=all, idempotence,
  compression, linger, batch size) sends pre-encoded envelopes and waits for every ack.
  This is the ceiling: no HTTP, no validation, no encoding in the timed part.
- batch: `clients` concurrent httpx clients post JSON lists of `batch_size` records.
- single: the same clients post one record per request.

The API runs as a uvicorn child process on 127.0.0.1 (with `workers` processes, one
producer each). Every request carries an Idempotency-Key, as the emulator's do, so the
API's dedup path is part of the cost. Each phase checks that the topics grew by exactly
the events it sent. Target: batch >= 50% of direct.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Annotated, Any

import typer

TARGET_RATIO = 0.5
RECORD_PATHS = {"pin": "/v1/pins", "geo": "/v1/geos", "user": "/v1/users"}


def records(n: int, seed: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """n generated (record_type, record) pairs, the three types interleaved."""
    from pinpipe.datagen import frames
    from pinpipe.datagen.settings import DatagenSettings

    per_type = -(-n // 3)
    chunk = frames.build_chunk(0, per_type, seed, DatagenSettings().rates(), frames.build_pools(per_type, seed))
    tables = {rt: getattr(chunk, rt) for rt in RECORD_PATHS}
    rows = {rt: [dict(zip(cols, values, strict=True)) for values in zip(*(c.tolist() for c in cols.values()),
                                                                        strict=True)]
            for rt, cols in tables.items()}
    return [(rt, rows[rt][i]) for i in range(per_type) for rt in RECORD_PATHS][:n]


def requests_for(items: Sequence[tuple[str, dict[str, Any]]], batch_size: int,
                 run: str) -> list[tuple[str, bytes, str, int]]:
    """(path, body, idempotency key, events) per request: `batch_size` records of one type each."""
    per_type = []
    for rt, path in RECORD_PATHS.items():
        recs = [record for record_type, record in items if record_type == rt]
        per_type.append([
            (path, json.dumps(group if batch_size > 1 else group[0]).encode(), f"{run}-{rt}-{start}", len(group))
            for start in range(0, len(recs), batch_size) for group in [recs[start:start + batch_size]]
        ])
    # Types interleaved, the way a mixed workload arrives.
    return [request for turn in zip_longest(*per_type) for request in turn if request is not None]


def direct(items: Sequence[tuple[str, dict[str, Any]]], topics: dict[str, str], api_settings: Any,
           advance: Callable[[int], None]) -> float:
    """Seconds for one producer to send every record and receive every ack."""
    from kafka import KafkaProducer

    from pinpipe import events
    from pinpipe import settings as cfg
    from pinpipe.api.producer import producer_config

    messages = [(topics[rt], events.message_key(rt, rec), events.encode(events.envelope(rt, rec)))
                for rt, rec in items]
    producer = KafkaProducer(**producer_config(api_settings, cfg.kafka()))
    try:
        for topic in topics.values():
            producer.partitions_for(topic)
        started = time.perf_counter()
        futures = []
        for i, (topic, key, value) in enumerate(messages, 1):
            futures.append(producer.send(topic, key=key, value=value))
            if i % 1000 == 0:
                advance(1000)
        for future in futures:
            future.get(timeout=60)
        elapsed = time.perf_counter() - started
        advance(len(messages) % 1000)
        return elapsed
    finally:
        producer.close()


async def through_api(url: str, requests: Sequence[tuple[str, bytes, str, int]], clients: int,
                      advance: Callable[[int], None]) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors: dict[int, int] = {}
    pending = iter(requests)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(client: httpx.AsyncClient) -> None:
        for path, body, key, n in pending:
            started = time.perf_counter()
            response = await client.post(path, content=body,
                                         headers={"Content-Type": "application/json", "Idempotency-Key": key})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                errors[response.status_code] = errors.get(response.status_code, 0) + 1
            advance(n)

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        # Warm the connections so the timed part measures steady state, not handshakes.
        await asyncio.gather(*(client.get("/healthz") for _ in range(clients)))
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "seconds": elapsed, "errors": errors,
        "latency_ms": {q: round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2)
                       for q, p in (("p50", 0.5), ("p99", 0.99))} if latencies else {},
    }


def run_bench(events: int, single_events: int, batch_size: int, clients: int, workers: int,
              progress: Any = None) -> dict[str, Any]:
    from pinpipe.api.harness import message_counts, scratch_prefix, scratch_topics, serving
    from pinpipe.api.settings import ApiSettings

    items = records(max(events, single_events))
    base = ApiSettings(workers=workers)
    results: dict[str, Any] = {}

    def phase(name: str, total: int) -> Callable[[int], None]:
        if progress is None:
            return lambda n: None
        task = progress.add_task(name, total=total)
        return lambda n: progress.advance(task, n)

    with scratch_topics(base.model_copy(update={"topic_prefix": scratch_prefix()})) as topics:
        seconds = direct(items[:events], topics, base, phase("direct producer", events))
        results["direct"] = {"events": events, "seconds": seconds,
                             "delivered": sum(message_counts(topics.values()).values())}

    for name, n, size in (("api_batch", events, batch_size), ("api_single", single_events, 1)):
        with serving(base) as served:
            outcome = asyncio.run(through_api(served.url, requests_for(items[:n], size, name), clients,
                                              phase(name, n)))
            results[name] = {"events": n, "batch_size": size,
                             "delivered": sum(message_counts(served.topics.values()).values()), **outcome}

    for result in results.values():
        result["events_per_s"] = round(result["events"] / result["seconds"], 1)
        result["seconds"] = round(result["seconds"], 3)
    for name in ("api_batch", "api_single"):
        results[name]["ratio_to_direct"] = round(results[name]["events_per_s"] / results["direct"]["events_per_s"], 3)
    return {
        "config": {"events": events, "single_events": single_events, "batch_size": batch_size, "clients": clients,
                   "workers": workers, "compression": _codec(base), "linger_ms": base.linger_ms,
                   "producer_batch_bytes": base.batch_size_bytes},
        "machine": {"cpus": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
        "results": results,
        "target_batch_ratio": TARGET_RATIO,
        "target_met": results["api_batch"]["ratio_to_direct"] >= TARGET_RATIO,
    }


def _codec(settings: Any) -> str:
    from pinpipe.api.producer import codec_available, pick_codec

    return pick_codec(settings.compression, codec_available) or "none"


def command(
    events: Annotated[int, typer.Option(min=3, help="Events for the direct and batch phases")] = 30_000,
    single_events: Annotated[int, typer.Option(min=3, help="Events for the one-record-per-request phase")] = 3_000,
    batch_size: Annotated[int, typer.Option(min=1, max=500, help="Records per batch request")] = 500,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent HTTP clients")] = 8,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    out: Annotated[Path, typer.Option(help="JSON results")] = Path("bench-results/ingest.json"),
) -> None:
    """Events/s through the API (batch and single-record endpoints) next to a direct kafka-python producer."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console()
    with Progress(TextColumn("{task.description:16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        report = run_bench(events, single_events, batch_size, clients, workers, progress)

    table = Table(title=f"ingest: {clients} clients, {workers} worker(s), {report['config']['compression']}")
    for column in ("phase", "delivered", "seconds", "events/s", "vs direct", "p50/p99 ms"):
        table.add_column(column, justify="right")
    for name, r in report["results"].items():
        latency = r.get("latency_ms", {})
        table.add_row(name, f"{r['delivered']}/{r['events']}", f"{r['seconds']:.2f}", f"{r['events_per_s']:,.0f}",
                      f"{r.get('ratio_to_direct', 1.0):.0%}",
                      f"{latency['p50']:.0f}/{latency['p99']:.0f}" if latency else "")
        if r.get("errors"):
            console.print(f"[red]{name}: non-202 answers {r['errors']}[/red]")
    console.print(table)
    verdict = "met" if report["target_met"] else "NOT met"
    console.print(f"target batch >= {TARGET_RATIO:.0%} of direct: {verdict}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    console.print(f"wrote {out}")
