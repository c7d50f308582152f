"""Prometheus metrics of the archiver, served on 127.0.0.1 when a port is configured."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

CONSUMED = Counter("pinpipe_archiver_consumed_records_total", "Messages read from Kafka.", ["topic"])
ARCHIVED = Counter("pinpipe_archiver_archived_records_total", "Messages uploaded to the raw bucket.", ["topic"])
SKIPPED = Counter(
    "pinpipe_archiver_skipped_records_total",
    "Offsets already in the bucket after a crash between upload and commit, skipped on resume.",
    ["topic"],
)
OBJECTS = Counter("pinpipe_archiver_objects_total", "Objects written to the raw bucket.", ["topic"])
BYTES = Counter("pinpipe_archiver_object_bytes_total", "Compressed bytes written to the raw bucket.", ["topic"])
COMMIT_FAILURES = Counter(
    "pinpipe_archiver_commit_failures_total",
    "Offset commits that failed after an upload (harmless: the next start skips those objects).",
)
DROPPED = Counter(
    "pinpipe_archiver_dropped_records_total",
    "Buffered messages dropped because their partition was revoked (the new owner re-reads them).",
)
BUFFERED = Gauge("pinpipe_archiver_buffered_records", "Messages buffered, not yet uploaded.")
UPLOAD_SECONDS = Histogram(
    "pinpipe_archiver_upload_seconds", "Compress and upload time of one object.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def serve(host: str, port: int) -> None:
    start_http_server(port, addr=host)
