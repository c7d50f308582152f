"""Posting source rows to the API like users do: paced, concurrent, retried safely.

A feeder reads posts from Postgres a page at a time and turns them into requests (one per
record type, carrying `batch_size` posts); `concurrency` workers send them. Each request
has an Idempotency-Key made of the run's nonce, its record type and its position in the
run, so a retry after a 503 or a lost connection is recognised by the API and never
becomes a second event.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import httpx
from sqlalchemy import Engine

from pinpipe.emulator import source
from pinpipe.emulator.settings import EmulatorSettings

RECORD_PATHS = {"pin": "/v1/pins", "geo": "/v1/geos", "user": "/v1/users"}
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
# Posts when neither a count nor a duration is given.
DEFAULT_COUNT = 1_000


@dataclass(frozen=True)
class Request:
    record_type: str
    path: str
    body: bytes
    idempotency_key: str
    events: int


@dataclass
class Stats:
    requests: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    retried: int = 0
    replayed: int = 0
    status_codes: Counter[int] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)


def build_requests(posts: Sequence[source.Post], batch_size: int, first_seq: int, nonce: str) -> list[Request]:
    """Requests for `posts`: per group of `batch_size` posts, one request per record type."""
    requests = []
    seq = first_seq
    for start in range(0, len(posts), batch_size):
        group = posts[start:start + batch_size]
        for record_type, path in RECORD_PATHS.items():
            records = [getattr(post, record_type) for post in group]
            payload: Any = records if batch_size > 1 else records[0]
            requests.append(Request(record_type, path, json.dumps(payload, separators=(",", ":")).encode(),
                                    f"{nonce}-{record_type}-{seq}", len(records)))
            seq += 1
    return requests


def backoff_delay(attempt: int, base_s: float, max_s: float, retry_after_s: float | None,
                  rng: random.Random) -> float:
    """Exponential backoff with full jitter; never sooner than the server's Retry-After."""
    delay = rng.uniform(0, min(max_s, base_s * 2**attempt))
    return min(max_s, max(delay, retry_after_s or 0.0))


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def summary(stats: Stats, settings: EmulatorSettings, posts: int, elapsed_s: float, nonce: str) -> dict[str, Any]:
    def ms(q: float) -> float | None:
        value = percentile(stats.latencies_s, q)
        return None if value is None else round(value * 1000, 2)

    return {
        "mode": settings.mode, "batch_size": settings.batch_size, "concurrency": settings.concurrency,
        "rate_target": settings.rate or None, "nonce": nonce, "posts_read": posts, "requests": stats.requests,
        "sent": stats.sent, "accepted": stats.accepted, "rejected": stats.rejected, "failed": stats.failed,
        "retried": stats.retried, "replayed": stats.replayed, "elapsed_s": round(elapsed_s, 3),
        "events_per_s": round(stats.accepted / elapsed_s, 1) if elapsed_s else 0.0,
        "latency_ms": {"p50": ms(50), "p99": ms(99)},
        "status_codes": {str(code): n for code, n in sorted(stats.status_codes.items())},
    }


async def _send(client: httpx.AsyncClient, request: Request, settings: EmulatorSettings, stats: Stats,
                rng: random.Random) -> None:
    headers = {"Idempotency-Key": request.idempotency_key, "Content-Type": "application/json"}
    stats.requests += 1
    stats.sent += request.events
    for attempt in range(settings.max_retries + 1):
        retry_after = None
        started = time.perf_counter()
        try:
            response = await client.post(request.path, content=request.body, headers=headers)
        except httpx.TransportError:
            pass
        else:
            stats.latencies_s.append(time.perf_counter() - started)
            stats.status_codes[response.status_code] += 1
            if response.status_code == 202:
                stats.accepted += request.events
                stats.replayed += response.headers.get("Idempotent-Replayed") == "true"
                return
            if response.status_code not in RETRYABLE_STATUS:
                stats.rejected += request.events
                return
            retry_after = _seconds(response.headers.get("Retry-After"))
        if attempt == settings.max_retries:
            break
        stats.retried += 1
        await asyncio.sleep(backoff_delay(attempt, settings.backoff_base_s, settings.backoff_max_s, retry_after, rng))
    stats.failed += request.events


async def _read(settings: EmulatorSettings, rng: random.Random, fn: Callable[..., Any], *args: Any) -> Any:
    """A source read in a worker thread, retried like requests are: the database may restart too."""
    from sqlalchemy.exc import OperationalError

    attempt = 0
    while True:
        try:
            return await asyncio.to_thread(fn, *args)
        except OperationalError:
            if attempt == settings.max_retries:
                raise
            await asyncio.sleep(backoff_delay(attempt, settings.backoff_base_s, settings.backoff_max_s, None, rng))
            attempt += 1


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


async def emulate(settings: EmulatorSettings, engine: Engine, nonce: str,
                  on_progress: Callable[[int], None]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    count = settings.count if settings.count or settings.duration_s else DEFAULT_COUNT
    rng_for_reads = random.Random(settings.seed)
    ids = await _read(settings, rng_for_reads, source.post_ids, engine)
    order = source.id_order(ids, settings.mode, settings.seed)
    queue: asyncio.Queue[Request | None] = asyncio.Queue(maxsize=settings.concurrency * 4)
    stats = Stats()
    rng = random.Random(settings.seed)
    started = loop.time()
    deadline = started + settings.duration_s if settings.duration_s else None
    next_slot = started
    posts_fed = 0

    def expired() -> bool:
        return deadline is not None and loop.time() >= deadline

    async def pace(events: int) -> None:
        # A shared schedule: each request takes the next slot; no bursts to catch up.
        nonlocal next_slot
        if not settings.rate:
            return
        slot = max(next_slot, loop.time())
        next_slot = slot + events / settings.rate
        await asyncio.sleep(slot - loop.time())

    async def feed() -> None:
        nonlocal posts_fed
        page = max(settings.page_size // settings.batch_size, 1) * settings.batch_size
        seq = 0
        while (count is None or posts_fed < count) and not expired():
            ids_page = list(islice(order, page if count is None else min(page, count - posts_fed)))
            posts = await _read(settings, rng_for_reads, source.fetch_posts, engine, ids_page)
            requests = build_requests(posts, settings.batch_size, seq, nonce)
            for request in requests:
                await queue.put(request)
            seq += len(requests)
            posts_fed += len(posts)
        for _ in range(settings.concurrency):
            await queue.put(None)

    async def work(client: httpx.AsyncClient) -> None:
        while (request := await queue.get()) is not None:
            if expired():
                continue
            await pace(request.events)
            if expired():  # the slot came after the deadline
                continue
            await _send(client, request, settings, stats, rng)
            on_progress(request.events)

    limits = httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency)
    async with httpx.AsyncClient(base_url=settings.api_url, timeout=settings.request_timeout_s,
                                 limits=limits) as client:
        await asyncio.gather(feed(), *(work(client) for _ in range(settings.concurrency)))
    return summary(stats, settings, posts_fed, loop.time() - started, nonce)


def run(*, on_progress: Callable[[int], None] | None = None, nonce: str | None = None,
        **overrides: Any) -> dict[str, Any]:
    """Post source rows to the API; keyword overrides as in EmulatorSettings (mode, rate, count, ...).

    Returns the summary: sent, accepted, rejected, failed, retried, replayed, latency p50/p99.
    """
    from pinpipe import db

    unknown = sorted(set(overrides) - set(EmulatorSettings.model_fields))
    if unknown:
        raise TypeError(f"unknown emulator settings: {', '.join(unknown)}")
    settings = EmulatorSettings(**{k: v for k, v in overrides.items() if v is not None})
    engine = db.engine()
    try:
        return asyncio.run(emulate(settings, engine, nonce or uuid.uuid4().hex[:12], on_progress or (lambda n: None)))
    finally:
        engine.dispose()
