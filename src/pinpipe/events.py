"""The wire contract shared by the API, the archiver, the batch job and the stream job.

Kafka message (one per accepted record):
- topic: RECORD_TOPICS[record_type] (settings.RECORD_TOPICS)
- key: the record's id as UTF-8 text: pin `index`, geo and user `ind`; records of one id
  land in one partition.
- value: UTF-8 JSON of the envelope
    {"event_id": "<uuid4>", "record_type": "pin|geo|user",
     "ingested_at": "2026-11-26T12:00:00.123456Z", "idempotency_key": "<str>|null",
     "data": {<the record's fields as the client sent them, DESIGN.md names>}}

Raw archive line (s3://pinterest-raw, gzip NDJSON, one Kafka message a line): the Kafka
coordinates beside the undecoded value, so that batch and stream parse the same bytes the
same way:
    {"topic": str, "partition": int, "offset": int, "timestamp_ms": int, "key": str|null,
     "value": str}
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

RecordType = Literal["pin", "geo", "user"]
ID_FIELD: dict[str, str] = {"pin": "index", "geo": "ind", "user": "ind"}


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(record_type: RecordType, data: dict[str, Any], *, idempotency_key: str | None = None,
             event_id: str | None = None, ingested_at: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "record_type": record_type,
        "ingested_at": ingested_at or utc_now_iso(),
        "idempotency_key": idempotency_key,
        "data": data,
    }


def message_key(record_type: RecordType, data: dict[str, Any]) -> bytes:
    return str(data[ID_FIELD[record_type]]).encode()


def encode(env: dict[str, Any]) -> bytes:
    return json.dumps(env, separators=(",", ":"), ensure_ascii=False).encode()
