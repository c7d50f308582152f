"""Postgres objects shared by several components, created idempotently.

Each component creates its own tables (source.* by the generator, stream.* by the stream
job, analytics.* by the batch job); the quarantine table is shared by batch and stream, so
it is defined once here.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, text

from pinpipe import settings as cfg

QUARANTINE_TABLE = "quarantine.records"

# One row per rejected Kafka message and path; (path, topic, partition, offset) makes a
# replayed micro-batch or a rerun batch window write each rejection once.
QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine.records (
    id             bigserial PRIMARY KEY,
    path           text        NOT NULL CHECK (path IN ('batch', 'stream')),
    record_type    text,
    topic          text        NOT NULL,
    kafka_partition integer    NOT NULL,
    kafka_offset   bigint      NOT NULL,
    event_id       text,
    reason         text        NOT NULL,
    raw_payload    text,
    run_id         text,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (path, topic, kafka_partition, kafka_offset)
)
"""


def engine(settings: cfg.PostgresSettings | None = None) -> Engine:
    return create_engine((settings or cfg.postgres()).sqlalchemy_url(), pool_pre_ping=True)


def ensure_schemas(eng: Engine) -> None:
    with eng.begin() as conn:
        for schema in cfg.PG_SCHEMAS:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        conn.execute(text(QUARANTINE_DDL))
