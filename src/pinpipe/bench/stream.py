"""`pinpipe bench stream`: end-to-end latency of the stream path at fixed rates, beside a bare consumer.

For each rate, kafka-python sends envelopes for `--duration` seconds (ingested_at = send
time) while a stream job of our own runs on scratch topics (made for the run and deleted
after, so other people's traffic neither slows nor skews it) with its own checkpoint.
Then the bench waits until the job committed everything and reads `written_at - ingested_at`
of exactly the events it sent from Postgres.

Baseline, in the same run on the same events: a bare kafka-python consumer in its own process
that parses each envelope and writes (event_id, ingested_at, clock_timestamp()) with the
sink's COPY + INSERT ... ON CONFLICT, one transaction per poll. It does no cleaning, so it is
the floor this machine's Kafka and Postgres allow; the ratio says what Spark costs above it.

Lag is read each second while sending: the topics' end offsets minus the offsets in the job's
last committed micro-batch (its checkpoint), summed over partitions.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import typer

from pinpipe import events
from pinpipe import settings as cfg

RECORD_TYPES: tuple[events.RecordType, ...] = ("pin", "geo", "user")
DRAIN_TIMEOUT_S = 900.0


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks: Postgres' percentile_cont."""
    if not sorted_values:
        return None
    pos = q * (len(sorted_values) - 1)
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def summary(latencies: list[float]) -> dict[str, Any]:
    values = sorted(latencies)
    return {"count": len(values), "p50_s": percentile(values, 0.5), "p95_s": percentile(values, 0.95),
            "p99_s": percentile(values, 0.99), "max_s": values[-1] if values else None}


def slope(samples: list[tuple[float, int]]) -> float | None:
    """Least-squares growth per second of (t, lag) samples: about 0 when lag is flat."""
    if len(samples) < 2:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return sum((t - mean_t) * (y - mean_y) for t, y in samples) / var if var else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def record(record_type: events.RecordType, i: int) -> dict[str, Any]:
    """A valid record of each type (the cleaning keeps it), different for every i."""
    if record_type == "pin":
        return {"index": i, "unique_id": str(uuid.uuid4()), "title": f"Bench pin {i}",
                "description": "A pin sent by the stream benchmark", "poster_name": "bench",
                "follower_count": "1.5k", "tag_list": "bench,stream", "is_image_or_video": "image",
                "image_src": f"https://i.pinimg.com/{i}.jpg", "downloaded": 1,
                "save_location": "Local save in /data/bench", "category": "bench"}
    if record_type == "geo":
        return {"ind": i, "timestamp": "2024-05-01 12:00:00", "latitude": 48.85, "longitude": 2.35,
                "country": "France"}
    return {"ind": i, "first_name": "Bench", "last_name": f"User{i}", "age": 30,
            "date_joined": "2020-01-01 00:00:00"}


class RateProducer:
    """Sends envelopes at a fixed rate; a late tick sends what it owes, so the average holds."""

    def __init__(self, topics: dict[str, str]) -> None:
        from kafka import KafkaProducer

        self._topics = topics
        self._producer = KafkaProducer(bootstrap_servers=cfg.kafka().bootstrap_servers, acks="all",
                                       linger_ms=2, client_id=f"{cfg.kafka().client_id}-bench-stream")
        self._n = 0

    def run(self, rate: float, duration_s: float, on_progress=None) -> tuple[list[str], float]:
        ids: list[str] = []
        started = time.monotonic()
        next_report = started
        while (elapsed := time.monotonic() - started) < duration_s:
            due = int(rate * elapsed) + 1
            while len(ids) < due:
                record_type = RECORD_TYPES[self._n % 3]
                data = record(record_type, self._n)
                env = events.envelope(record_type, data)
                self._producer.send(self._topics[record_type], key=events.message_key(record_type, data),
                                    value=events.encode(env))
                ids.append(env["event_id"])
                self._n += 1
            if on_progress and time.monotonic() >= next_report:
                on_progress(len(ids))
                next_report += 0.25
            time.sleep(0.002)
        self._producer.flush()
        return ids, time.monotonic() - started

    def close(self) -> None:
        self._producer.close()


def _baseline_consume(start: dict[tuple[str, int], int], ready, stop, out) -> None:
    """The bare consumer (runs in its own process): Kafka -> json -> Postgres, nothing else."""
    import psycopg2
    from kafka import KafkaConsumer, TopicPartition

    pg = cfg.postgres()
    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka().bootstrap_servers, enable_auto_commit=False,
                             client_id=f"{cfg.kafka().client_id}-bench-baseline")
    partitions = [TopicPartition(topic, part) for topic, part in start]
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, start[(tp.topic, tp.partition)])
    conn = psycopg2.connect(host=pg.host, port=pg.port, dbname=pg.database, user=pg.user,
                            password=pg.password.get_secret_value(), application_name="pinpipe-bench-baseline")
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE seen (event_id text PRIMARY KEY, ingested_at timestamptz, written_at timestamptz)")
        cur.execute("CREATE TEMP TABLE stage (event_id text, ingested_at timestamptz) ON COMMIT DELETE ROWS")
    ready.set()
    while not stop.is_set():
        rows = []
        for messages in consumer.poll(timeout_ms=100).values():
            for message in messages:
                try:
                    env = json.loads(message.value)
                    rows.append(f"{env['event_id']}\t{env['ingested_at']}\n")
                except (ValueError, KeyError, TypeError):
                    continue
        if rows:
            with conn, conn.cursor() as cur:
                cur.copy_expert("COPY stage FROM STDIN", io.StringIO("".join(rows)))
                cur.execute("INSERT INTO seen SELECT event_id, ingested_at, clock_timestamp() FROM stage "
                            "ON CONFLICT (event_id) DO NOTHING")
    with conn.cursor() as cur:
        cur.execute("SELECT event_id, extract(epoch FROM written_at - ingested_at)::float8 FROM seen")
        out.put(dict(cur.fetchall()))
    conn.close()
    consumer.close()


class Baseline:
    def __init__(self, start: dict[tuple[str, int], int]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._stop, self._out = ctx.Event(), ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(target=_baseline_consume, args=(start, self._ready, self._stop, self._out),
                                 daemon=True)

    def start(self) -> None:
        self._proc.start()
        if not self._ready.wait(120):
            raise RuntimeError("baseline consumer did not start")

    def results(self) -> dict[str, float]:
        self._stop.set()
        latencies = self._out.get(timeout=120)
        self._proc.join(30)
        return latencies

    def kill(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()


class LagSampler(threading.Thread):
    def __init__(self, checkpoint: str, topics: list[str], every_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self._checkpoint, self._topics, self._every = checkpoint, topics, every_s
        self._halt = threading.Event()
        self.samples: list[tuple[float, int]] = []

    def run(self) -> None:
        from pinpipe.stream.progress import Tracker

        started = time.monotonic()
        with Tracker(self._checkpoint, self._topics) as tracker:
            while not self._halt.wait(self._every):
                self.samples.append((round(time.monotonic() - started, 2), tracker.lag()))

    def halt(self) -> list[tuple[float, int]]:
        self._halt.set()
        self.join(30)
        return self.samples


def _phase(rate: int, duration: float, producer: RateProducer, tracker, job, status) -> dict[str, Any]:
    """Send at `rate` for `duration`, wait until the job committed it all, measure the events sent."""
    from pinpipe.stream import control
    from pinpipe.stream.report import report

    sampler = LagSampler(tracker.checkpoint, list(tracker.topics))
    sampler.start()
    total = int(rate * duration)
    ids, elapsed = producer.run(rate, duration, lambda n: status.update(
        f"{rate}/s: sent {n}/{total}, lag {sampler.samples[-1][1] if sampler.samples else '?'}"))
    samples = sampler.halt()
    lag_at_end = tracker.lag()
    status.update(f"{rate}/s: waiting for the stream job to commit everything")
    drain_started = time.monotonic()
    control.wait_caught_up(tracker, tracker.end(), job, DRAIN_TIMEOUT_S)
    drain_s = time.monotonic() - drain_started
    latency = report(event_ids=ids).latency
    return {
        "rate": rate, "duration_s": round(elapsed, 2), "sent": len(ids), "send_rate": round(len(ids) / elapsed, 1),
        "load_average_1m": round(os.getloadavg()[0], 2), "ids": ids,
        "stream": {
            "count": latency.count, "p50_s": latency.p50_s, "p95_s": latency.p95_s, "p99_s": latency.p99_s,
            "max_s": latency.max_s,
            "sustained_rate": round(latency.count / latency.span_s, 1) if latency.span_s else None,
            "lag_at_end": lag_at_end, "lag_max": max((lag for _, lag in samples), default=None),
            "lag_growth_per_s": slope(samples), "drain_s": round(drain_s, 2), "lag_samples": samples,
        },
    }


def _table(phases: list[dict[str, Any]]):
    from rich.table import Table

    table = Table(title="stream latency (written_at - ingested_at): Spark job vs bare consumer")
    for col in ("rate/s", "sent/s", "p50", "p95", "p99", "base p50", "base p99", "p50 x", "p99 x",
                "lag end", "lag max", "written/s", "load"):
        table.add_column(col, justify="right")

    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}s"

    def x(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for p in phases:
        st, bl = p["stream"], p["baseline"]
        table.add_row(str(p["rate"]), str(p["send_rate"]), s(st["p50_s"]), s(st["p95_s"]), s(st["p99_s"]),
                      s(bl["p50_s"]), s(bl["p99_s"]), x(p["ratio"]["p50_s"]), x(p["ratio"]["p99_s"]),
                      str(st["lag_at_end"]), str(st["lag_max"]), str(st["sustained_rate"]),
                      str(p["load_average_1m"]))
    return table


def command(
    rates: str = typer.Option("200,1000,5000", help="Events per second, one phase each."),
    duration: float = typer.Option(30.0, help="Seconds of sending per rate."),
    warmup: float = typer.Option(10.0, help="Seconds of sending at the lowest rate before measuring."),
    trigger: str = typer.Option("", help="Override the job's trigger (PINPIPE_STREAM_TRIGGER)."),
    out: Path = typer.Option(Path("bench-results/stream.json"), help="Where to write the JSON results."),
) -> None:
    """End-to-end latency of the stream path at fixed rates, next to a bare kafka-python consumer."""
    from rich.console import Console

    from pinpipe.api.harness import scratch_prefix, scratch_topics
    from pinpipe.api.settings import ApiSettings
    from pinpipe.stream import control
    from pinpipe.stream.progress import Tracker

    console = Console()
    rate_list = [int(r) for r in rates.split(",") if r.strip()]
    run_id = uuid.uuid4().hex[:8]
    instance = f"bench-{run_id}"
    checkpoint = f"s3a://{cfg.s3().checkpoints_bucket}/stream/{instance}"
    prefix = scratch_prefix()
    overrides: dict[str, object] = {"checkpoint_location": checkpoint, "topic_prefix": prefix}
    if trigger:
        overrides["trigger"] = trigger
    phases: list[dict[str, Any]] = []

    with scratch_topics(ApiSettings(topic_prefix=prefix)) as topics, \
            Tracker(checkpoint, topics.values()) as tracker:
        job = control.start(overrides, instance=instance)
        # Fresh topics: the job starts at the earliest offsets, the baseline at 0.
        baseline = Baseline({(topic, part): 0 for topic in topics.values()
                             for part in range(cfg.kafka().topic_partitions)})
        producer = None
        try:
            baseline.start()
            producer = RateProducer(topics)
            with console.status("warm-up: starting the stream job and sending at the lowest rate"):
                producer.run(min(rate_list), warmup)
                control.wait_caught_up(tracker, tracker.end(), job, DRAIN_TIMEOUT_S)
            for rate in rate_list:
                with console.status(f"{rate}/s") as status:
                    phases.append(_phase(rate, duration, producer, tracker, job, status))
                st = phases[-1]["stream"]
                console.print(f"{rate}/s: p50 {st['p50_s'] or 0:.3f}s p99 {st['p99_s'] or 0:.3f}s, "
                              f"lag at end {st['lag_at_end']}")
            baseline_latencies = baseline.results()
        finally:
            if producer is not None:
                producer.close()
            baseline.kill()
            control.stop(instance)
            tracker.delete()

    for phase in phases:
        ids = phase.pop("ids")
        phase["baseline"] = summary([baseline_latencies[i] for i in ids if i in baseline_latencies])
        phase["ratio"] = {q: ratio(phase["stream"][q], phase["baseline"][q]) for q in ("p50_s", "p95_s", "p99_s")}

    result = {"benchmark": "stream", "run_id": run_id, "cpus": os.cpu_count(), "job": overrides, "phases": phases}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(_table(phases))
    console.print(f"results: {out}")
