"""The generator against the local stack's Postgres: schema `source`, COPY, determinism."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from pinpipe import db
from pinpipe.cli import app
from pinpipe.datagen import frames, generate, vocab
from pinpipe.datagen.settings import DatagenSettings

pytestmark = pytest.mark.integration

TABLES = ('source.pin', 'source.geo', 'source."user"')


@pytest.fixture(scope="module")
def engine(local_stack):
    eng = db.engine()
    yield eng
    eng.dispose()


def _fingerprint(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {t} t")).scalar()
                for t in TABLES}


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def test_generate_fills_the_three_tables_with_the_rows_of_the_generator(engine):
    result = generate(rows=1_500, seed=11)

    assert result["rows"] == 1_500 and result["rows_per_s"] > 0
    assert _counts(engine) == {t: 1_500 for t in TABLES}
    chunk = frames.build_chunk(0, 1_500, 11, DatagenSettings().rates(), frames.build_pools(1_500, 11))
    with engine.connect() as conn:
        pin = conn.execute(text('SELECT * FROM source.pin WHERE "index" = 1234')).mappings().one()
        geo = conn.execute(text("SELECT ind, timestamp::text AS ts, latitude, longitude, country FROM source.geo "
                                "WHERE ind = 1234")).mappings().one()
        user = conn.execute(text('SELECT ind, age, date_joined::text AS joined FROM source."user" WHERE ind = 1234')
                            ).mappings().one()
        keys = conn.execute(text("SELECT count(*) FROM pg_indexes WHERE schemaname = 'source' "
                                 "AND indexname IN ('pin_pkey', 'geo_pkey', 'user_pkey')")).scalar()
    assert dict(pin) == {column: values[1234].item() if hasattr(values[1234], "item") else values[1234]
                         for column, values in chunk.pin.items()}
    assert (geo["latitude"], geo["longitude"], geo["country"]) == (
        chunk.geo["latitude"][1234], chunk.geo["longitude"][1234], chunk.geo["country"][1234])
    assert geo["ts"] == chunk.geo["timestamp"][1234].replace("T", " ")
    assert (user["age"], user["joined"]) == (chunk.user["age"][1234], chunk.user["date_joined"][1234].replace("T", " "))
    assert keys == 3


def test_same_seed_same_tables_and_each_run_replaces_the_last(engine):
    generate(rows=800, seed=21)
    first = _fingerprint(engine)
    generate(rows=800, seed=22)
    other = _fingerprint(engine)
    generate(rows=800, seed=21)

    assert _fingerprint(engine) == first
    assert all(other[t] != first[t] for t in TABLES)
    generate(rows=300, seed=21)
    assert _counts(engine) == {t: 300 for t in TABLES}


def test_the_dirty_values_are_in_the_database(engine):
    generate(rows=4_000, seed=31)
    conditions = {
        "no title": "title = :no_title", "no description": "description = :no_desc",
        "story description": "description = :story", "user info error": "follower_count = :user_error",
        "no tags": "tag_list = :no_tags", "image src error": "image_src = :image_error",
        "multi-video": "is_image_or_video = :multi", "k/M follower counts": "follower_count ~ '^[0-9.]+[kM]$'",
        "not a uuid": "unique_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'",
        "save location prefix": "save_location LIKE 'Local save in /data/%'",
    }
    query = "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c})" for c in conditions.values()) + " FROM source.pin"
    with engine.connect() as conn:
        found = dict(zip(conditions, conn.execute(text(query), {
            "no_title": vocab.NO_TITLE, "no_desc": vocab.NO_DESCRIPTION, "story": vocab.STORY_DESCRIPTION,
            "user_error": vocab.USER_INFO_ERROR, "no_tags": vocab.NO_TAGS, "image_error": vocab.IMAGE_SRC_ERROR,
            "multi": vocab.MULTI_VIDEO}).one(), strict=True))
    assert all(n > 0 for n in found.values()), found
    assert found["save location prefix"] == 4_000


def test_the_command_takes_rates_and_reports_speed(engine):
    result = CliRunner().invoke(app, ["data", "generate", "--rows", "400", "--seed", "3", "--rate-no-title", "1",
                                      "--rate-bad-unique-id", "0"])

    assert result.exit_code == 0, result.output
    assert "rows/s" in result.output
    with engine.connect() as conn:
        titles = conn.execute(text("SELECT DISTINCT title FROM source.pin")).scalars().all()
        bad_ids = conn.execute(text("SELECT count(*) FROM source.pin WHERE length(unique_id) <> 36")).scalar()
    assert titles == [vocab.NO_TITLE] and bad_ids == 0
