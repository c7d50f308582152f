"""The generator without a database: determinism, distributions, dirty values, COPY text."""

from __future__ import annotations

import re
import uuid
from collections import Counter

import numpy as np
import pytest
from pydantic import ValidationError

from pinpipe.datagen import frames, generate, load, vocab
from pinpipe.datagen.settings import DatagenSettings

ROWS = 20_000
RATES = DatagenSettings().rates()


@pytest.fixture(scope="module")
def chunk() -> frames.Chunk:
    return frames.build_chunk(0, ROWS, 42, RATES, frames.build_pools(ROWS, 42))


def _tables(chunk: frames.Chunk) -> dict[str, dict[str, list]]:
    return {name: {col: values.tolist() for col, values in getattr(chunk, name).items()} for name in load.TABLES}


def test_same_seed_same_rows_across_chunk_boundaries(monkeypatch):
    monkeypatch.setattr(frames, "CHUNK_ROWS", 1_000)
    first = [_tables(c) for c in frames.chunks(2_500, 7, RATES)]
    again = [_tables(c) for c in frames.chunks(2_500, 7, RATES)]
    other_seed = [_tables(c) for c in frames.chunks(2_500, 8, RATES)]

    assert first == again
    assert first != other_seed
    assert [len(c["pin"]["index"]) for c in first] == [1_000, 1_000, 500]
    assert [i for c in first for i in c["pin"]["index"]] == list(range(2_500))


def test_the_three_tables_share_the_index(chunk):
    assert chunk.pin["index"].tolist() == chunk.geo["ind"].tolist() == chunk.user["ind"].tolist() == list(range(ROWS))
    assert tuple(chunk.pin) == frames.PIN_COLUMNS
    assert tuple(chunk.geo) == frames.GEO_COLUMNS
    assert tuple(chunk.user) == frames.USER_COLUMNS


def test_categories_follow_the_original_dataset(chunk):
    counts = Counter(chunk.pin["category"].tolist())
    assert set(counts) == set(vocab.CATEGORIES)
    total_weight = sum(vocab.CATEGORIES.values())
    for category, weight in vocab.CATEGORIES.items():
        assert counts[category] / ROWS == pytest.approx(weight / total_weight, abs=0.01)
    # save_location and tags belong to the pin's category
    for category, location in zip(chunk.pin["category"][:500], chunk.pin["save_location"][:500], strict=True):
        assert location == f"Local save in /data/{category}"


def test_ages_are_adults_skewed_young(chunk):
    ages = chunk.user["age"]
    assert ages.min() >= 18 and ages.max() <= 90
    assert 25 <= np.median(ages) <= 35
    young, old = np.mean((ages >= 18) & (ages <= 24)), np.mean(ages > 50)
    assert young > 0.2 and 0.03 < old < young


def test_follower_counts_look_like_pinterest_and_span_zero_to_millions(chunk):
    values = chunk.pin["follower_count"].tolist()
    shape = re.compile(r"^(\d{1,3}|\d(\.\d)?k|\d{2,3}k|\d(\.\d)?M|\d{2}M)$")
    assert all(shape.match(v) for v in values if v != vocab.USER_INFO_ERROR)
    kinds = Counter("M" if v.endswith("M") else "k" if v.endswith("k") else "plain"
                    for v in values if v != vocab.USER_INFO_ERROR)
    assert kinds["plain"] > 0.1 * ROWS and kinds["k"] > 0.3 * ROWS and kinds["M"] > 0.01 * ROWS
    assert any(re.match(r"^\d\.\dk$", v) for v in values)
    assert any(int(v[:-1]) >= 10 for v in values if re.match(r"^\d+M$", v))


@pytest.mark.parametrize(("count", "shown"), [
    (0, "0"), (450, "450"), (999, "999"), (1_000, "1k"), (1_500, "1.5k"), (1_999, "1.9k"), (12_345, "12k"),
    (999_999, "999k"), (1_000_000, "1M"), (2_340_000, "2.3M"), (45_600_000, "45M"),
])
def test_format_followers(count, shown):
    assert frames.format_followers(count) == shown


def test_posts_follow_their_users_joining_and_span_years(chunk):
    joined = chunk.user["date_joined"].astype("datetime64[s]")
    posted = chunk.geo["timestamp"].astype("datetime64[s]")
    assert (posted >= joined).all()
    assert len({str(t)[:4] for t in chunk.user["date_joined"]}) >= 7
    assert len({str(t)[:4] for t in chunk.geo["timestamp"]}) >= 8


def test_coordinates_lie_in_the_country(chunk):
    boxes = {name: box for name, _w, *box in vocab.COUNTRIES}
    for country, lat, lon in zip(chunk.geo["country"][:2_000], chunk.geo["latitude"][:2_000],
                                 chunk.geo["longitude"][:2_000], strict=True):
        lat_min, lat_max, lon_min, lon_max = boxes[country]
        assert lat_min <= lat <= lat_max and lon_min <= lon <= lon_max
    assert len(set(chunk.geo["country"].tolist())) == len(vocab.COUNTRIES)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


# (rate name, table, column, predicate for a row carrying the dirty value)
DIRTY = [
    ("no_title", "pin", "title", lambda v: v == vocab.NO_TITLE),
    ("no_description", "pin", "description", lambda v: v == vocab.NO_DESCRIPTION),
    ("story_description", "pin", "description", lambda v: v == vocab.STORY_DESCRIPTION),
    ("user_info_error", "pin", "poster_name", lambda v: v == vocab.USER_INFO_ERROR),
    ("user_info_error", "pin", "follower_count", lambda v: v == vocab.USER_INFO_ERROR),
    ("no_tags", "pin", "tag_list", lambda v: v == vocab.NO_TAGS),
    ("image_src_error", "pin", "image_src", lambda v: v == vocab.IMAGE_SRC_ERROR),
    ("multi_video", "pin", "is_image_or_video", lambda v: v == vocab.MULTI_VIDEO),
    ("save_location_prefix", "pin", "save_location", lambda v: v.startswith("Local save in /data/")),
    ("bad_unique_id", "pin", "unique_id", lambda v: not _is_uuid(v)),
]


@pytest.mark.parametrize(("rate", "table", "column", "dirty"), DIRTY, ids=[f"{d[0]}-{d[2]}" for d in DIRTY])
def test_every_dirty_value_appears_at_its_rate(chunk, rate, table, column, dirty):
    share = np.mean([dirty(v) for v in getattr(chunk, table)[column].tolist()])
    expected = RATES[rate]
    # Four standard deviations of a binomial share: fails on a wrong rate, not on chance.
    assert abs(share - expected) <= 4 * (expected * (1 - expected) / ROWS) ** 0.5 + 1e-9


@pytest.mark.parametrize(("rate", "table", "column", "dirty"), DIRTY, ids=[f"{d[0]}-{d[2]}" for d in DIRTY])
def test_dirty_rates_are_configurable(rate, table, column, dirty):
    for value, expected in ((0.0, False), (1.0, True)):
        rates = {**RATES, rate: value}
        if rate in ("no_description", "story_description") and value == 1.0:
            rates["no_description" if rate == "story_description" else "story_description"] = 0.0
        chunk = frames.build_chunk(0, 500, 3, rates, frames.build_pools(500, 3))
        assert {dirty(v) for v in getattr(chunk, table)[column].tolist()} == {expected}


def test_clean_rows_are_well_formed(chunk):
    pin = chunk.pin
    good = [v for v in pin["unique_id"].tolist() if _is_uuid(v)]
    assert all(uuid.UUID(v).version == 4 for v in good)
    assert len(set(good)) == len(good)
    urls = [v for v in pin["image_src"].tolist() if v != vocab.IMAGE_SRC_ERROR]
    url = re.compile(r"^https://i\.pinimg\.com/originals/([0-9a-f]{2}/){3}[0-9a-f]{32}\.(jpg|png)$")
    assert all(url.match(u) for u in urls)
    assert set(pin["is_image_or_video"].tolist()) == {"image", "video", vocab.MULTI_VIDEO}
    assert set(pin["downloaded"].tolist()) == {0, 1}
    tags = [t for t in pin["tag_list"].tolist() if t != vocab.NO_TAGS]
    assert all(3 <= len(t.split(",")) <= 6 for t in tags)


def test_copy_text_is_one_tab_separated_line_per_row(chunk):
    text = load.copy_text(chunk.geo).decode()
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == ROWS + 1
    first = lines[0].split("\t")
    assert first == [str(chunk.geo["ind"][0]), chunk.geo["timestamp"][0], str(chunk.geo["latitude"][0]),
                     str(chunk.geo["longitude"][0]), chunk.geo["country"][0]]
    assert float(first[2]) == chunk.geo["latitude"][0]


def test_no_generated_value_needs_copy_escaping(chunk):
    # copy_text writes values unescaped; a tab, newline or backslash would corrupt the load.
    for name in load.TABLES:
        for column in getattr(chunk, name).values():
            if column.dtype.kind in "OU":
                assert not any(ch in v for v in column.tolist() for ch in "\t\n\r\\"), name


def test_rates_are_checked():
    with pytest.raises(ValidationError):
        DatagenSettings(rate_no_title=1.5)
    with pytest.raises(ValidationError):
        DatagenSettings(rate_no_description=0.6, rate_story_description=0.5)
    with pytest.raises(TypeError, match="no_titel"):
        generate(10, 1, no_titel=0.5)
