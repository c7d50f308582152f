"""The batch analytics of DESIGN.md: pure Spark queries over clean records, and their tables.

Scope: the records of one batch window. Each window's result is stored under its
window_start, so a rerun replaces exactly its own rows and a reader sums or picks across
windows as it needs; an all-history view would need the curated bucket as a whole, which is
a query over the Parquet output, not a job step.

Pins, geos and users describe one post when they share `ind`. Within a window an `ind` can
arrive more than once (a client re-posting the same row gets a new event_id), so each side keeps
its latest record (by ingested_at, then event_id) before the joins: a re-post must not count twice.
Ties in a "most popular" / "most followers" question go to the alphabetically first name, so
a rerun picks the same winner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

AGE_GROUPS = (("18-24", 18, 24), ("25-35", 25, 35), ("36-50", 36, 50), ("50+", 51, None))


@dataclass(frozen=True)
class Table:
    name: str
    # (column, Postgres type) after the window columns; `key` makes a window's rows unique.
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"analytics.{self.name}"

    def ddl(self) -> str:
        columns = ",\n    ".join(f"{name} {pg_type}" for name, pg_type in self.columns)
        key = ", ".join(("window_start", *self.key))
        return (
            f"CREATE TABLE IF NOT EXISTS {self.qualified} (\n"
            "    window_start timestamptz NOT NULL,\n"
            "    window_end timestamptz NOT NULL,\n"
            "    run_id text NOT NULL,\n"
            f"    {columns},\n"
            f"    PRIMARY KEY ({key})\n)"
        )

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


TABLES = {
    t.name: t
    for t in (
        Table("popular_category_by_country",
              (("country", "text NOT NULL"), ("category", "text NOT NULL"), ("category_count", "bigint NOT NULL")),
              ("country",)),
        Table("category_count_by_year",
              (("post_year", "integer NOT NULL"), ("category", "text NOT NULL"), ("category_count", "bigint NOT NULL")),
              ("post_year", "category")),
        Table("top_user_by_country",
              (("country", "text NOT NULL"), ("poster_name", "text NOT NULL"), ("follower_count", "bigint NOT NULL")),
              ("country",)),
        Table("popular_category_by_age_group",
              (("age_group", "text NOT NULL"), ("category", "text NOT NULL"), ("category_count", "bigint NOT NULL")),
              ("age_group",)),
        Table("median_followers_by_age_group",
              (("age_group", "text NOT NULL"), ("median_follower_count", "double precision NOT NULL")),
              ("age_group",)),
        Table("median_followers_by_join_year",
              (("join_year", "integer NOT NULL"), ("median_follower_count", "double precision NOT NULL")),
              ("join_year",)),
    )
}


def latest_per_ind(records: DataFrame) -> DataFrame:
    newest = Window.partitionBy("ind").orderBy(F.col("ingested_at").desc(), F.col("event_id").desc())
    return records.withColumn("_n", F.row_number().over(newest)).where(F.col("_n") == 1).drop("_n")


def age_group(age: Column) -> Column:
    group = None
    for name, low, high in AGE_GROUPS:
        condition = age >= low if high is None else age.between(low, high)
        group = F.when(condition, name) if group is None else group.when(condition, name)
    return group


def _top(counts: DataFrame, by: str, value: str, name: str) -> DataFrame:
    best = Window.partitionBy(by).orderBy(F.col(value).desc(), F.col(name))
    return counts.withColumn("_n", F.row_number().over(best)).where(F.col("_n") == 1).drop("_n")


def compute(pins: DataFrame, geos: DataFrame, users: DataFrame) -> dict[str, DataFrame]:
    """Every table of TABLES from one window's clean records, columns in table order."""
    pin = latest_per_ind(pins).select("ind", "category", "poster_name", "follower_count")
    geo = latest_per_ind(geos).select("ind", "country", F.year("timestamp").alias("post_year"))
    user = latest_per_ind(users).select(
        "ind", age_group(F.col("age")).alias("age_group"), F.year("date_joined").alias("join_year"))
    pin_geo = pin.join(geo, "ind")
    pin_user = pin.join(user, "ind")
    categorised = pin_geo.where(F.col("category").isNotNull())
    by_age = pin_user.where(F.col("age_group").isNotNull())
    followed = pin_user.where(F.col("follower_count").isNotNull())

    frames = {
        "popular_category_by_country": _top(
            categorised.where(F.col("country").isNotNull())
            .groupBy("country", "category").agg(F.count("*").alias("category_count")),
            "country", "category_count", "category"),
        "category_count_by_year": categorised.where(F.col("post_year").isNotNull())
        .groupBy("post_year", "category").agg(F.count("*").alias("category_count")),
        "top_user_by_country": _top(
            pin_geo.where(F.col("country").isNotNull() & F.col("poster_name").isNotNull()
                          & F.col("follower_count").isNotNull())
            .groupBy("country", "poster_name").agg(F.max("follower_count").alias("follower_count")),
            "country", "follower_count", "poster_name"),
        "popular_category_by_age_group": _top(
            by_age.where(F.col("category").isNotNull())
            .groupBy("age_group", "category").agg(F.count("*").alias("category_count")),
            "age_group", "category_count", "category"),
        "median_followers_by_age_group": followed.where(F.col("age_group").isNotNull())
        .groupBy("age_group").agg(F.median("follower_count").cast("double").alias("median_follower_count")),
        "median_followers_by_join_year": followed.where(F.col("join_year").isNotNull())
        .groupBy("join_year").agg(F.median("follower_count").cast("double").alias("median_follower_count")),
    }
    return {name: frame.select(*TABLES[name].column_names) for name, frame in frames.items()}


def ensure_tables(conn: Any) -> None:
    """Create the analytics tables (a SQLAlchemy connection in a transaction)."""
    from sqlalchemy import text

    for table in TABLES.values():
        conn.execute(text(table.ddl()))


def replace_window(conn: Any, table: Table, rows: Sequence[dict[str, Any]], *, run_id: str,
                   window_start: datetime, window_end: datetime) -> int:
    """Replace a window's rows of one table inside the caller's transaction."""
    from sqlalchemy import text

    conn.execute(text(f"DELETE FROM {table.qualified} WHERE window_start = :ws"), {"ws": window_start})
    if not rows:
        return 0
    names = ("window_start", "window_end", "run_id", *table.column_names)
    insert = text(f"INSERT INTO {table.qualified} ({', '.join(names)}) "
                  f"VALUES ({', '.join(':' + n for n in names)})")
    window = {"window_start": window_start, "window_end": window_end, "run_id": run_id}
    conn.execute(insert, [{**window, **row} for row in rows])
    return len(rows)
