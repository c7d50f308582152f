"""Pure, vectorised generation of the source tables: (rows, seed, rates) -> columns.

numpy does the per-row work. Free text comes from small per-category pools of sentences
built once per seed, so a million rows cost array indexing rather than string formatting;
strings are shared objects in `object` arrays. Rows are made in fixed chunks, each with
its own random stream derived from (seed, chunk number): the output depends only on
(rows, seed, rates), and a loader can stream chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from pinpipe.datagen import vocab

CHUNK_ROWS = 100_000
POOL_SIZE = 256

PIN_COLUMNS = ("index", "unique_id", "title", "description", "poster_name", "follower_count", "tag_list",
               "is_image_or_video", "image_src", "downloaded", "save_location", "category")
GEO_COLUMNS = ("ind", "timestamp", "latitude", "longitude", "country")
USER_COLUMNS = ("ind", "first_name", "last_name", "age", "date_joined")

# Users joined over these years; each geo event (the pin's post) follows its user's joining.
JOINED_FROM = np.datetime64("2015-01-01T00:00:00", "s")
JOINED_UNTIL = np.datetime64("2022-06-30T00:00:00", "s")
POSTED_UNTIL = np.datetime64("2022-12-31T23:59:59", "s")

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_CATEGORY_NAMES = tuple(vocab.CATEGORIES)
_CATEGORY_P = np.array(list(vocab.CATEGORIES.values())) / sum(vocab.CATEGORIES.values())
_COUNTRY_TABLE = np.array([c[1:] for c in vocab.COUNTRIES])  # weight, lat_min, lat_max, lon_min, lon_max
_COUNTRY_NAMES = np.array([c[0] for c in vocab.COUNTRIES], dtype=object)
_COUNTRY_P = _COUNTRY_TABLE[:, 0] / _COUNTRY_TABLE[:, 0].sum()


@dataclass(frozen=True)
class Pools:
    """Per-seed vocabulary: text pools indexed [category, j] and the poster accounts."""

    titles: np.ndarray
    descriptions: np.ndarray
    tag_lists: np.ndarray
    poster_names: np.ndarray
    follower_counts: np.ndarray


@dataclass(frozen=True)
class Chunk:
    """Rows [start, stop) of the three tables; each column is an array in table order."""

    pin: dict[str, np.ndarray]
    geo: dict[str, np.ndarray]
    user: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.pin["index"])


def format_followers(n: int) -> str:
    """Pinterest's display of a count: 450, 1.5k, 12k, 3M, 2.3M (decimals only below 10)."""
    if n < 1_000:
        return str(n)
    unit, scale = ("M", 1_000_000) if n >= 1_000_000 else ("k", 1_000)
    value = n / scale
    # One decimal below 10, truncated like the site does (1,999 shows as 1.9k).
    text = f"{int(value * 10) / 10:.1f}".removesuffix(".0") if value < 10 else str(int(value))
    return text + unit


def account_count(rows: int) -> int:
    """Posters in the pool: about one account per eight pins, like an active niche."""
    return max(20, min(rows // 8, 200_000))


def build_pools(rows: int, seed: int) -> Pools:
    rng = np.random.default_rng([seed, 0])
    titles, descriptions, tag_lists = [], [], []
    for category in _CATEGORY_NAMES:
        subjects, tags = vocab.SUBJECTS[category], vocab.TAGS[category]
        titles.append([
            " ".join(filter(None, (opener, subject))) + ending
            for opener, subject, ending in zip(_pick(rng, vocab.TITLE_OPENERS, POOL_SIZE),
                                               _pick(rng, subjects, POOL_SIZE),
                                               _pick(rng, vocab.TITLE_ENDINGS, POOL_SIZE), strict=True)
        ])
        descriptions.append([
            f"{opener.format(subject=subject.lower())} {middle}{closer}"
            for opener, subject, middle, closer in zip(_pick(rng, vocab.DESCRIPTION_OPENERS, POOL_SIZE),
                                                       _pick(rng, subjects, POOL_SIZE),
                                                       _pick(rng, vocab.DESCRIPTION_MIDDLES, POOL_SIZE),
                                                       _pick(rng, vocab.DESCRIPTION_CLOSERS, POOL_SIZE),
                                                       strict=True)
        ])
        tag_lists.append([
            ",".join(tags[i] for i in rng.permutation(len(tags))[:k]) for k in rng.integers(3, 7, POOL_SIZE)
        ])

    n_accounts = account_count(rows)
    names = [
        f"{adjective} {noun}" if brand else f"{first} {last}"
        for first, last, adjective, noun, brand in zip(
            _pick(rng, vocab.FIRST_NAMES, n_accounts), _pick(rng, vocab.LAST_NAMES, n_accounts),
            _pick(rng, vocab.BRAND_ADJECTIVES, n_accounts), _pick(rng, vocab.BRAND_NOUNS, n_accounts),
            (rng.random(n_accounts) < 0.35).tolist(), strict=True)
    ]
    # Most accounts: log-normal around 1.5k. One in a hundred is a brand or a celebrity,
    # log-uniform from 100k to 60M, so even the default 11k rows have tens of millions.
    followers = np.minimum(np.exp(rng.normal(7.3, 2.2, n_accounts)), 60e6)
    famous = rng.random(n_accounts) < 0.01
    followers[famous] = np.exp(rng.uniform(np.log(1e5), np.log(6e7), famous.sum()))
    followers = followers.astype(np.int64)
    followers[rng.random(n_accounts) < 0.03] = 0
    # Accounts sorted by reach, so that drawing low account numbers more often (see
    # build_chunk) makes popular posters post more.
    order = np.argsort(-followers, kind="stable")
    return Pools(
        titles=np.array(titles, dtype=object),
        descriptions=np.array(descriptions, dtype=object),
        tag_lists=np.array(tag_lists, dtype=object),
        poster_names=np.array(names, dtype=object)[order],
        follower_counts=np.array([format_followers(n) for n in followers[order].tolist()], dtype=object),
    )


def build_chunk(start: int, stop: int, seed: int, rates: Mapping[str, float], pools: Pools) -> Chunk:
    n = stop - start
    rng = np.random.default_rng([seed, 1, start])
    index = np.arange(start, stop, dtype=np.int64)

    def hit(rate_name: str) -> np.ndarray:
        return rng.random(n) < rates[rate_name]

    category = rng.choice(len(_CATEGORY_NAMES), n, p=_CATEGORY_P)
    category_names = np.array(_CATEGORY_NAMES, dtype=object)[category]

    title = pools.titles[category, rng.integers(0, POOL_SIZE, n)]
    title[hit("no_title")] = vocab.NO_TITLE

    description = pools.descriptions[category, rng.integers(0, POOL_SIZE, n)]
    # One draw for both placeholders keeps them exclusive and each at its own rate.
    u = rng.random(n)
    story = u < rates["story_description"]
    description[story] = vocab.STORY_DESCRIPTION
    description[~story & (u < rates["story_description"] + rates["no_description"])] = vocab.NO_DESCRIPTION

    account = (len(pools.poster_names) * rng.random(n) ** 2).astype(np.int64)
    poster_name = pools.poster_names[account]
    follower_count = pools.follower_counts[account]
    user_error = hit("user_info_error")
    poster_name[user_error] = vocab.USER_INFO_ERROR
    follower_count[user_error] = vocab.USER_INFO_ERROR

    tag_list = pools.tag_lists[category, rng.integers(0, POOL_SIZE, n)]
    tag_list[hit("no_tags")] = vocab.NO_TAGS

    media = np.where(rng.random(n) < 0.12, "video", "image").astype(object)
    media[hit("multi_video")] = vocab.MULTI_VIDEO

    image_src = _image_urls(rng, n)
    image_error = hit("image_src_error")
    image_src[image_error] = vocab.IMAGE_SRC_ERROR
    downloaded = np.where(image_error | user_error, 0, rng.random(n) < 0.985).astype(np.int64)

    bare = np.array([f"/data/{c}" for c in _CATEGORY_NAMES], dtype=object)
    prefixed = np.array([vocab.SAVE_LOCATION_PREFIX + p for p in bare], dtype=object)
    save_location = np.where(hit("save_location_prefix"), prefixed[category], bare[category])

    unique_id = _uuid4_strings(rng, n)
    bad = np.flatnonzero(hit("bad_unique_id"))
    unique_id[bad] = [_break_uuid(u, kind) for u, kind in
                      zip(unique_id[bad], rng.choice(vocab.BAD_UNIQUE_ID_KINDS, len(bad)), strict=True)]

    pin = dict(zip(PIN_COLUMNS, (index, unique_id, title, description, poster_name, follower_count, tag_list,
                                 media, image_src, downloaded, save_location, category_names), strict=True))

    joined_span = (JOINED_UNTIL - JOINED_FROM).astype(np.int64)
    joined = JOINED_FROM + (rng.random(n) * joined_span).astype("timedelta64[s]")
    posted = joined + (rng.random(n) * (POSTED_UNTIL - joined).astype(np.int64)).astype("timedelta64[s]")

    country = rng.choice(len(_COUNTRY_NAMES), n, p=_COUNTRY_P)
    box = _COUNTRY_TABLE[country]
    latitude = np.round(box[:, 1] + rng.random(n) * (box[:, 2] - box[:, 1]), 6)
    longitude = np.round(box[:, 3] + rng.random(n) * (box[:, 4] - box[:, 3]), 6)
    geo = dict(zip(GEO_COLUMNS, (index, _timestamps(posted), latitude, longitude, _COUNTRY_NAMES[country]),
                   strict=True))

    # Skewed young: most users in their twenties and thirties, a long tail up to 90.
    age = np.minimum(18 + rng.gamma(1.5, 11.0, n), 90).astype(np.int64)
    user = dict(zip(USER_COLUMNS, (
        index,
        np.array(vocab.FIRST_NAMES, dtype=object)[rng.integers(0, len(vocab.FIRST_NAMES), n)],
        np.array(vocab.LAST_NAMES, dtype=object)[rng.integers(0, len(vocab.LAST_NAMES), n)],
        age,
        _timestamps(joined),
    ), strict=True))
    return Chunk(pin=pin, geo=geo, user=user)


def chunks(rows: int, seed: int, rates: Mapping[str, float]) -> Iterator[Chunk]:
    pools = build_pools(rows, seed)
    for start in range(0, rows, CHUNK_ROWS):
        yield build_chunk(start, min(start + CHUNK_ROWS, rows), seed, rates, pools)


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> list[str]:
    return [options[i] for i in rng.integers(0, len(options), n).tolist()]


def _hex(raw: np.ndarray) -> np.ndarray:
    """(n, k) bytes -> (n, 2k) ASCII codes of their lowercase hex."""
    out = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 0x0F]
    return out


def _ascii_rows(block: np.ndarray) -> np.ndarray:
    """(n, w) ASCII codes -> object array of n str of width w."""
    width = block.shape[1]
    return np.ascontiguousarray(block).view(f"S{width}").ravel().astype(f"U{width}").astype(object)


def _const(text: str, n: int) -> np.ndarray:
    return np.broadcast_to(np.frombuffer(text.encode("ascii"), dtype=np.uint8), (n, len(text)))


def _uuid4_strings(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    h = _hex(raw)
    dash = _const("-", n)
    return _ascii_rows(np.hstack((h[:, :8], dash, h[:, 8:12], dash, h[:, 12:16], dash, h[:, 16:20], dash,
                                  h[:, 20:])))


def _image_urls(rng: np.random.Generator, n: int) -> np.ndarray:
    h = _hex(rng.integers(0, 256, (n, 16), dtype=np.uint8))
    slash = _const("/", n)
    ext = np.where((rng.random(n) < 0.1)[:, None], _const(".png", n), _const(".jpg", n))
    return _ascii_rows(np.hstack((_const("https://i.pinimg.com/originals/", n), h[:, :2], slash, h[:, 2:4],
                                  slash, h[:, 4:6], slash, h, ext)))


def _break_uuid(value: str, kind: str) -> str:
    if kind == "truncated":
        return value[:23]
    if kind == "garbled":
        return "zz" + value[2:]
    return vocab.BAD_UNIQUE_ID_PLACEHOLDER


def _timestamps(values: np.ndarray) -> np.ndarray:
    """datetime64[s] -> ISO 8601 text (a fixed-width str array), which COPY reads into a timestamp."""
    return np.datetime_as_string(values, unit="s")
