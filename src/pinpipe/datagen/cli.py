"""`pinpipe data generate`: fill Postgres schema `source` with seeded, dirty Pinterest-like rows."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)

_Rate = Annotated[float | None, typer.Option(min=0.0, max=1.0, show_default=False)]


@app.command()
def generate(
    rows: Annotated[int | None, typer.Option(min=1, help="Rows per table (default 11000)")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Same seed, same data (default 42)")] = None,
    rate_no_title: _Rate = None,
    rate_no_description: _Rate = None,
    rate_story_description: _Rate = None,
    rate_user_info_error: _Rate = None,
    rate_no_tags: _Rate = None,
    rate_image_src_error: _Rate = None,
    rate_multi_video: _Rate = None,
    rate_save_location_prefix: _Rate = None,
    rate_bad_unique_id: _Rate = None,
) -> None:
    """Recreate source.pin, source.geo and source.user (dirty-value rates default to PINPIPE_DATAGEN_RATE_*)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pinpipe.datagen import generate as run_generate
    from pinpipe.datagen.settings import DatagenSettings

    given = {
        "rows": rows, "seed": seed, "rate_no_title": rate_no_title, "rate_no_description": rate_no_description,
        "rate_story_description": rate_story_description, "rate_user_info_error": rate_user_info_error,
        "rate_no_tags": rate_no_tags, "rate_image_src_error": rate_image_src_error,
        "rate_multi_video": rate_multi_video, "rate_save_location_prefix": rate_save_location_prefix,
        "rate_bad_unique_id": rate_bad_unique_id,
    }
    settings = DatagenSettings(**{name: value for name, value in given.items() if value is not None})
    console = Console()
    with Progress(TextColumn("generating + COPY"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("rows", total=settings.rows)
        result = run_generate(settings.rows, settings.seed, on_rows=lambda n: progress.advance(task, n),
                              **settings.rates())
    console.print(
        f"loaded {result['rows']:,} rows into each of {', '.join(result['tables'])} "
        f"(seed {result['seed']}) in {result['seconds']:.2f}s: {result['rows_per_s']:,.0f} rows/s per table, "
        f"{3 * result['rows_per_s']:,.0f} table rows/s; rendering took {result['render_seconds']:.2f}s "
        "of it, overlapped with COPY"
    )
