"""Load generated chunks into Postgres schema `source` with COPY.

Each table is filled as a staging table (`source.pin_loading`, ...) on its own connection,
so Postgres parses the three COPY streams in parallel while a fourth thread renders the
next chunk (psycopg2 releases the GIL while it sends). Creating the table in the loading
transaction lets COPY FREEZE skip hint-bit rewrites, and the primary key is built after
the rows are in. One short transaction then swaps the three tables in: a reader (the
emulator) sees the old data or the new, never a half-loaded table.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine

from pinpipe.datagen.frames import Chunk

# DDL by record type; {table} is the (staging) table to create.
TABLES: dict[str, str] = {
    "pin": """CREATE TABLE {table} (
        "index" integer NOT NULL, unique_id text, title text, description text, poster_name text,
        follower_count text, tag_list text, is_image_or_video text, image_src text, downloaded integer,
        save_location text, category text)""",
    "geo": """CREATE TABLE {table} (
        ind integer NOT NULL, "timestamp" timestamp, latitude double precision, longitude double precision,
        country text)""",
    "user": """CREATE TABLE {table} (
        ind integer NOT NULL, first_name text, last_name text, age integer, date_joined timestamp)""",
}
QUALIFIED = {"pin": "source.pin", "geo": "source.geo", "user": 'source."user"'}
PRIMARY_KEYS = {"pin": '"index"', "geo": "ind", "user": "ind"}


@dataclass(frozen=True)
class LoadStats:
    rows: int
    seconds: float
    render_seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def copy_text(columns: dict[str, np.ndarray]) -> bytes:
    """Columns -> COPY text format (tab-separated lines, no header).

    The generator's values never contain a tab, newline or backslash (a unit test holds it
    to that), so no escaping is needed and one join per row does the work.
    """
    as_text = [_text(col) for col in columns.values()]
    return ("\n".join(map("\t".join, zip(*as_text, strict=True))) + "\n").encode()


def _text(col: np.ndarray) -> list[str]:
    # Object and str arrays already hold text; numbers print as Python does (floats round-trip).
    return list(map(str, col.tolist())) if col.dtype.kind in "if" else col.tolist()


def load(engine: Engine, chunks: Iterable[Chunk], on_rows: Callable[[int], None] = lambda n: None) -> LoadStats:
    """Render chunks on one thread, COPY each table on its own connection, then swap them in."""
    started = time.perf_counter()
    stop = threading.Event()
    queues: dict[str, queue.Queue[bytes | None]] = {name: queue.Queue(maxsize=2) for name in TABLES}
    render_seconds = 0.0

    def render() -> int:
        nonlocal render_seconds
        rows = 0
        for chunk in chunks:
            t0 = time.perf_counter()
            texts = {name: copy_text(getattr(chunk, name)) for name in TABLES}
            render_seconds += time.perf_counter() - t0
            for name, text in texts.items():
                _put(queues[name], text, stop)
            rows += len(chunk)
            on_rows(len(chunk))
        for q in queues.values():
            _put(q, None, stop)
        return rows

    with ThreadPoolExecutor(max_workers=1 + len(TABLES), thread_name_prefix="datagen") as pool:
        tasks = [pool.submit(render)] + [pool.submit(_copy_table, engine, name, queues[name], stop)
                                         for name in TABLES]
        done, _ = wait(tasks, return_when=FIRST_EXCEPTION)
        if any(task.exception() for task in done):
            stop.set()
    causes = [exc for task in tasks if (exc := task.exception()) is not None and not isinstance(exc, _Stopped)]
    if causes:
        raise causes[0]
    rows = tasks[0].result()
    _swap_in(engine)
    return LoadStats(rows=rows, seconds=time.perf_counter() - started, render_seconds=render_seconds)


def _copy_table(engine: Engine, name: str, texts: queue.Queue[bytes | None], stop: threading.Event) -> None:
    staging = _staging(name)
    with _transaction(engine) as cur:
        cur.execute(f"DROP TABLE IF EXISTS {staging}")
        cur.execute(TABLES[name].format(table=staging))
        while (text := _get(texts, stop)) is not None:
            cur.copy_expert(f"COPY {staging} FROM STDIN WITH (FORMAT text, FREEZE)", io.BytesIO(text),
                            size=1 << 20)
        cur.execute(f"ALTER TABLE {staging} ADD CONSTRAINT {name}_loading_pkey PRIMARY KEY ({PRIMARY_KEYS[name]})")


def _swap_in(engine: Engine) -> None:
    with _transaction(engine) as cur:
        for name in TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {QUALIFIED[name]}")
            cur.execute(f"ALTER TABLE {_staging(name)} RENAME TO {QUALIFIED[name].removeprefix('source.')}")
            cur.execute(f"ALTER INDEX source.{name}_loading_pkey RENAME TO {name}_pkey")


@contextmanager
def _transaction(engine: Engine) -> Iterator[Any]:
    """A psycopg2 cursor in one transaction: committed when the block ends, rolled back if it raises."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            yield cur
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


def _staging(name: str) -> str:
    return f"source.{name}_loading"


def _put(q: queue.Queue, item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
    raise _Stopped


def _get(q: queue.Queue, stop: threading.Event) -> object:
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    raise _Stopped


class _Stopped(Exception):
    """Another thread of the load failed; this one gives up quietly."""
