"""Reading posts from Postgres schema `source` (SQLAlchemy), in the order users would post them."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, text

_BY_IDS = {
    "pin": text('SELECT * FROM source.pin WHERE "index" IN :ids').bindparams(bindparam("ids", expanding=True)),
    "geo": text("SELECT * FROM source.geo WHERE ind IN :ids").bindparams(bindparam("ids", expanding=True)),
    "user": text('SELECT * FROM source."user" WHERE ind IN :ids').bindparams(bindparam("ids", expanding=True)),
}


@dataclass(frozen=True)
class Post:
    """One user's post: the pin, geo and user rows that share an index, as JSON-ready dicts."""

    index: int
    pin: dict[str, Any]
    geo: dict[str, Any]
    user: dict[str, Any]


def post_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text('SELECT "index" FROM source.pin ORDER BY "index"')).scalars())


def id_order(ids: Sequence[int], mode: str, seed: int) -> Iterator[int]:
    """Endless: `sequential` cycles through the ids in order; `random` draws with replacement."""
    if not ids:
        raise ValueError("source.pin is empty: run `pinpipe data generate` first")
    if mode == "sequential":
        while True:
            yield from ids
    rng = random.Random(seed)
    while True:
        yield ids[rng.randrange(len(ids))]


def fetch_posts(engine: Engine, ids: Sequence[int]) -> list[Post]:
    """The posts for `ids`, in that order (repeats included)."""
    unique = sorted(set(ids))
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    with engine.connect() as conn:
        for record_type, query in _BY_IDS.items():
            key = "index" if record_type == "pin" else "ind"
            rows[record_type] = {r[key]: _jsonable(dict(r)) for r in conn.execute(query, {"ids": unique}).mappings()}
    return [Post(i, rows["pin"][i], rows["geo"][i], rows["user"][i]) for i in ids]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row.items()}
