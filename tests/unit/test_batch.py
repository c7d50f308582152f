"""The batch job's pure parts and its file IO on the local filesystem (no services)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.testing import assertSchemaEqual

from pinpipe_jobs import analytics, batch
from pinpipe_jobs.schemas import CLEAN_SCHEMAS

H0 = datetime(2030, 3, 1, 23, tzinfo=UTC)


def assertDataFrameEqual(actual, expected) -> None:  # noqa: N802 - stands in for pyspark's
    """Whole frames equal, row order ignored, nullability ignored: pyspark.testing's check.

    pyspark 4.0.1's own assertDataFrameEqual imports pyspark.pandas, which fails under pandas 3.
    """
    assertSchemaEqual(actual.schema, expected.schema)
    assert sorted(actual.collect(), key=repr) == sorted(expected.collect(), key=repr)


# -- windows -------------------------------------------------------------------------------

def test_window_arguments_are_utc_whole_hours():
    window = batch.parse_args(["--run-id", "r1", "--window-start", "2030-03-01T23:00:00Z",
                               "--window-end", "2030-03-02T01:00:00+00:00"])
    assert window == batch.DataWindow("r1", H0, H0 + timedelta(hours=2))
    assert list(window.hours()) == [H0, H0 + timedelta(hours=1)]
    assert (window.start_ms, window.end_ms) == (int(H0.timestamp()) * 1000, int(H0.timestamp()) * 1000 + 7_200_000)
    naive = batch.parse_args(["--run-id", "r", "--window-start", "2030-03-01T23:00", "--window-end", "2030-03-02"])
    assert naive.start == H0
    berlin = batch.parse_args(["--run-id", "r", "--window-start", "2030-03-02T00:00+01:00",
                               "--window-end", "2030-03-02T01:00+01:00"])
    assert berlin.start == H0


@pytest.mark.parametrize(("start", "end"), [
    ("2030-03-01T23:30:00Z", "2030-03-02T00:00:00Z"),
    ("2030-03-01T23:00:00Z", "2030-03-01T23:00:00Z"),
    ("2030-03-02T00:00:00Z", "2030-03-01T23:00:00Z"),
])
def test_partial_hours_and_empty_windows_are_refused(start, end, capsys):
    with pytest.raises(SystemExit):
        batch.parse_args(["--run-id", "r", "--window-start", start, "--window-end", end])
    assert "window" in capsys.readouterr().err


def test_a_window_reads_the_hour_folders_of_each_hour():
    window = batch.DataWindow("r", H0, H0 + timedelta(hours=2))
    assert batch.raw_hour_globs("s3a://raw", "pinterest.geo", window) == [
        "s3a://raw/topics/pinterest.geo/dt=2030-03-01/hour=23/*.jsonl.gz",
        "s3a://raw/topics/pinterest.geo/dt=2030-03-02/hour=00/*.jsonl.gz",
    ]


# -- extract, transform, load on local files ---------------------------------------------------

def _line(offset: int, at: datetime, value: str, topic: str = "pinterest.user", partition: int = 0) -> str:
    return json.dumps({"topic": topic, "partition": partition, "offset": offset,
                       "timestamp_ms": int(at.timestamp() * 1000), "key": "1", "value": value})


def _user(event_id: str, ind: int, at: datetime) -> str:
    return json.dumps({"event_id": event_id, "record_type": "user", "ingested_at": at.isoformat(),
                       "idempotency_key": None,
                       "data": {"ind": ind, "first_name": "A", "last_name": "B", "age": 30,
                                "date_joined": "2020-01-01 00:00:00"}})


def _write(root, hour: datetime, name: str, lines: list[str]) -> None:
    folder = root / "topics" / "pinterest.user" / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def test_extract_keeps_the_window_and_load_replaces_only_its_hours(spark, tmp_path):
    raw_root, curated_root = tmp_path / "raw", tmp_path / "curated"
    h1, after = H0 + timedelta(hours=1), H0 + timedelta(hours=2)
    before = H0 - timedelta(minutes=1)
    _write(raw_root, H0 - timedelta(hours=1), "0-0-0.jsonl.gz", [_line(0, before, _user("u0", 0, before))])
    _write(raw_root, H0, "0-1-3.jsonl.gz", [
        _line(1, H0, _user("u1", 1, H0)),
        _line(2, H0 + timedelta(minutes=5), _user("u2", 2, H0)),
        _line(3, H0 + timedelta(minutes=6), _user("u1", 1, H0)),  # a redelivery of u1
    ])
    # An object of the window's second hour straddling into the next one.
    _write(raw_root, h1, "0-4-5.jsonl.gz", [
        _line(4, h1 + timedelta(minutes=59), _user("u4", 4, h1)),
        _line(5, after + timedelta(seconds=1), _user("u5", 5, after)),
    ])
    window = batch.DataWindow("r", H0, after)
    raw = batch.extract(spark, raw_root.as_uri(), window)
    with batch.judged(raw) as frames:
        stats = batch.load_curated(spark, frames["user"], "user", curated_root.as_uri(), window)
        assert (stats["raw_rows"], stats["duplicates_dropped"], stats["clean_rows"]) == (4, 1, 3)
        assert stats["hours"] == ["2030-03-01/23", "2030-03-02/00"]
        # no pin objects: not an error
        assert batch.load_curated(spark, frames["pin"], "pin", curated_root.as_uri(), window)["raw_rows"] == 0

    # Another hour of the same day, written by another window, must survive this window's reruns.
    other = curated_root / "user" / "dt=2030-03-01" / "hour=05"
    other.mkdir(parents=True)
    (other / "part-0.parquet").write_bytes(b"another window's output")

    def written(hour: datetime) -> list[int]:
        folder = curated_root / "user" / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        return sorted(r.ind for r in spark.read.parquet(str(folder)).collect()) if folder.exists() else []

    assert (written(H0), written(h1)) == ([1, 2], [4])
    # A rerun after the second hour's object is gone empties that hour, nothing else.
    for path in (raw_root / "topics" / "pinterest.user" / "dt=2030-03-02").rglob("*.gz"):
        path.unlink()
    with batch.judged(batch.extract(spark, raw_root.as_uri(), window)) as frames:
        batch.load_curated(spark, frames["user"], "user", curated_root.as_uri(), window)
    assert (written(H0), written(h1)) == ([1, 2], [])
    assert (other / "part-0.parquet").read_bytes() == b"another window's output"


# -- analytics -------------------------------------------------------------------------------

T = datetime(2030, 3, 1, 12)


def _pins(spark, rows):
    # (event_id, ind, category, poster_name, follower_count, minutes after T)
    full = [(e, T + timedelta(minutes=m), ind, "9bf39437-42a6-4f02-99a0-9a0383d8cd70", None, None, poster, followers,
             None, "image", None, 1, None, category) for e, ind, category, poster, followers, m in rows]
    return spark.createDataFrame(full, CLEAN_SCHEMAS["pin"])


def _geos(spark, rows):
    return spark.createDataFrame([(f"g{ind}", T, ind, datetime(year, 6, 1), [1.0, 2.0], country)
                                  for ind, country, year in rows], CLEAN_SCHEMAS["geo"])


def _users(spark, rows):
    return spark.createDataFrame([(f"u{ind}", T, ind, "A B", age, datetime(joined, 1, 1))
                                  for ind, age, joined in rows], CLEAN_SCHEMAS["user"])


def test_analytics_answer_the_design_questions(spark):
    pins = _pins(spark, [
        ("p1", 1, "art", "Ann", 1500, 0),
        ("p2", 2, "art", "Bob", 20_000, 0),
        ("p3", 3, "travel", "Cid", 3_000_000, 0),
        ("p4", 4, "travel", None, None, 0),
        ("p5", 5, "beauty", "Eve", 400, 0),
        ("p5-again", 5, "beauty", "Eve", 500, 10),  # a later re-post of ind 5 replaces it
        ("p6", 6, "food", "Fay", 10, 0),  # ind 6 has no geo and no user in this window
        ("p7", 7, None, "Gus", 70, 0),
    ])
    geos = _geos(spark, [(1, "Albania", 2019), (2, "Albania", 2020), (3, "Albania", 2020), (4, "Chile", 2021),
                         (5, "Chile", 2019), (7, None, 2019)])
    users = _users(spark, [(1, 20, 2015), (2, 30, 2016), (3, 40, 2016), (4, 60, 2017), (5, 22, 2015),
                           (7, 17, 2018)])
    frames = analytics.compute(pins, geos, users)
    expected = {
        "popular_category_by_country": ("country string, category string, category_count long",
                                        [("Albania", "art", 2), ("Chile", "beauty", 1)]),
        "category_count_by_year": ("post_year int, category string, category_count long",
                                   [(2019, "art", 1), (2019, "beauty", 1), (2020, "art", 1), (2020, "travel", 1),
                                    (2021, "travel", 1)]),
        "top_user_by_country": ("country string, poster_name string, follower_count long",
                                [("Albania", "Cid", 3_000_000), ("Chile", "Eve", 500)]),
        "popular_category_by_age_group": ("age_group string, category string, category_count long",
                                          [("18-24", "art", 1), ("25-35", "art", 1), ("36-50", "travel", 1),
                                           ("50+", "travel", 1)]),
        "median_followers_by_age_group": ("age_group string, median_follower_count double",
                                          [("18-24", 1000.0), ("25-35", 20_000.0), ("36-50", 3_000_000.0)]),
        "median_followers_by_join_year": ("join_year int, median_follower_count double",
                                          [(2015, 1000.0), (2016, 1_510_000.0), (2018, 70.0)]),
    }
    assert set(frames) == set(expected) == set(analytics.TABLES)
    for name, (schema, rows) in expected.items():
        assertDataFrameEqual(frames[name], spark.createDataFrame(rows, schema))


def test_analytics_tables_are_keyed_by_window():
    ddl = analytics.TABLES["top_user_by_country"].ddl()
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS analytics.top_user_by_country (")
    assert "PRIMARY KEY (window_start, country)" in ddl
