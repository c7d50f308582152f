"""Pinterest-like source data: seeded generation of source.pin, source.geo and source.user.

`generate()` is the library entry point (`make demo` calls it); `pinpipe data generate`
is the same with a progress bar. Heavy imports stay inside so `pinpipe --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def generate(rows: int | None = None, seed: int | None = None, *,
             on_rows: Callable[[int], None] | None = None, **rates: float) -> dict[str, Any]:
    """Generate `rows` rows per table for `seed` and load them; rates as `no_title=0.1`, ...

    Unset values come from DatagenSettings (PINPIPE_DATAGEN_*). Returns what was loaded
    and how fast.
    """
    from pinpipe import db
    from pinpipe.datagen import frames, load
    from pinpipe.datagen.settings import DatagenSettings

    unknown = sorted(name for name in rates if f"rate_{name}" not in DatagenSettings.model_fields)
    if unknown:
        raise TypeError(f"unknown dirty-value rates: {', '.join(unknown)}")
    overrides = {"rows": rows, "seed": seed, **{f"rate_{name}": value for name, value in rates.items()}}
    settings = DatagenSettings(**{k: v for k, v in overrides.items() if v is not None})

    engine = db.engine()
    try:
        db.ensure_schemas(engine)
        stats = load.load(engine, frames.chunks(settings.rows, settings.seed, settings.rates()),
                          on_rows or (lambda n: None))
    finally:
        engine.dispose()
    return {
        "rows": stats.rows,
        "seed": settings.seed,
        "tables": list(load.QUALIFIED.values()),
        "rates": settings.rates(),
        "seconds": round(stats.seconds, 3),
        "render_seconds": round(stats.render_seconds, 3),
        "rows_per_s": round(stats.rows_per_s, 1),
    }
