"""What the stream path wrote: rows per table, quarantined messages, end-to-end latency.

Latency of a row is `written_at - ingested_at`: the API's acceptance time (in the envelope)
to the sink's insert in Postgres, so it covers Kafka, Spark, cleaning and the write.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

RECORD_TYPES = ("pin", "geo", "user")


@dataclass(frozen=True)
class Latency:
    count: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None
    # First acceptance to last write: count / span_s is the rate the path sustained.
    span_s: float | None


@dataclass(frozen=True)
class StreamReport:
    rows: dict[str, int]
    quarantined: dict[str, int]  # per reason
    latency: Latency

    def as_dict(self) -> dict:
        return asdict(self)


def _where(ids: bool, since: bool) -> str:
    conditions = (["event_id IN (SELECT event_id FROM pg_temp.report_ids)"] if ids else []) + (
        ["ingested_at >= %(since)s"] if since else [])
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _union(ids: bool, since: bool = False) -> str:
    where = _where(ids, since)
    return " UNION ALL ".join(
        f"SELECT written_at, ingested_at FROM stream.\"{rt}\"{where}" for rt in RECORD_TYPES
    )


def latency_sql(ids: bool, since: bool = False) -> str:
    return (
        "SELECT count(*), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s), max(s), "
        "extract(epoch FROM max(written_at) - min(ingested_at))::float8 "
        f"FROM (SELECT written_at, ingested_at, extract(epoch FROM written_at - ingested_at)::float8 AS s "
        f"FROM ({_union(ids, since)}) u) l"
    )


def report(event_ids: Iterable[str] | None = None, since: datetime | None = None) -> StreamReport:
    """Rows, quarantine and latency of the stream tables; latency of `event_ids` only when given,
    and only rows the API accepted (quarantined messages Spark judged) at or after `since`."""
    from pinpipe import db

    eng = db.engine()
    try:
        conn = eng.raw_connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass('stream.pin') IS NOT NULL")
                if not cur.fetchone()[0]:
                    return StreamReport(rows=dict.fromkeys(RECORD_TYPES, 0), quarantined={},
                                        latency=Latency(0, None, None, None, None, None))
                bounds = {"since": since}
                rows = {}
                for rt in RECORD_TYPES:
                    cur.execute(f'SELECT count(*) FROM stream."{rt}"{_where(False, since is not None)}', bounds)
                    rows[rt] = cur.fetchone()[0]
                cur.execute("SELECT reason, count(*) FROM quarantine.records WHERE path = 'stream'"
                            + (" AND quarantined_at >= %(since)s" if since else "") + " GROUP BY reason", bounds)
                quarantined = dict(cur.fetchall())
                if event_ids is not None:
                    cur.execute("CREATE TEMP TABLE report_ids (event_id text PRIMARY KEY) ON COMMIT DROP")
                    cur.copy_expert("COPY pg_temp.report_ids FROM STDIN",
                                    io.StringIO("".join(f"{i}\n" for i in set(event_ids))))
                cur.execute(latency_sql(event_ids is not None, since is not None), bounds)
                count, percentiles, max_s, span_s = cur.fetchone()
            conn.rollback()
        finally:
            conn.close()
    finally:
        eng.dispose()
    p50, p95, p99 = percentiles or (None, None, None)
    return StreamReport(rows=rows, quarantined=quarantined, latency=Latency(count, p50, p95, p99, max_s, span_s))
