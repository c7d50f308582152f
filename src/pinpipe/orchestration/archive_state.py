"""What the raw archive holds for a window: the archiver's progress and the archived messages.

The DAG's wait reads the progress (Kafka offsets); its check counts the messages (objects).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pinpipe import settings as cfg
from pinpipe.archiver import keys
from pinpipe.archiver.settings import ArchiverSettings
from pinpipe.orchestration.windows import PartitionProgress, hours_in, to_ms


def archive_progress(
    window_end: datetime, archiver: ArchiverSettings, kafka: cfg.KafkaSettings,
) -> list[PartitionProgress]:
    """Per partition of the archived topics: the archiver's committed offset and the target."""
    from kafka import KafkaConsumer, TopicPartition

    # Same group id as the archiver to read its commits; never subscribes, so it never joins.
    consumer = KafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, client_id=f"{kafka.client_id}-batch-wait",
        group_id=archiver.group_id, enable_auto_commit=False,
    )
    try:
        tps = []
        for topic in archiver.topics:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise LookupError(f"topic {topic} does not exist")
            tps.extend(TopicPartition(topic, p) for p in sorted(partitions))
        end_ms = to_ms(window_end)
        late = consumer.offsets_for_times({tp: end_ms for tp in tps})
        log_ends = consumer.end_offsets(tps)
        return [
            PartitionProgress(
                tp.topic, tp.partition,
                target=late[tp].offset if late.get(tp) is not None else log_ends[tp],
                committed=consumer.committed(tp),
            )
            for tp in tps
        ]
    finally:
        consumer.close(autocommit=False)


@dataclass
class RawWindow:
    """The archived messages of a window, counted per topic, and the offset ranges holding them."""

    messages: Counter = field(default_factory=Counter)  # topic -> messages in the window
    ranges: list[tuple[str, int, int, int]] = field(default_factory=list)  # topic, partition, first, last
    objects: int = 0

    @property
    def total(self) -> int:
        return sum(self.messages.values())


def raw_window(s3_client: Any, bucket: str, topics: tuple[str, ...], start: datetime, end: datetime) -> RawWindow:
    """Read the window's objects and count their messages stamped inside [start, end).

    Objects never span two hours, so only an hour cut by the window's edge needs its
    timestamps read; the others count whole.
    """
    start_ms, end_ms = to_ms(start), to_ms(end)
    window = RawWindow()
    for topic in topics:
        for hour in hours_in(start, end):
            whole = start_ms <= to_ms(hour) and to_ms(hour) + keys.HOUR_MS <= end_ms
            prefix = keys.hour_prefix(topic, f"{hour:%Y-%m-%d}", hour.hour)
            for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    ref = keys.parse_key(obj["Key"])
                    if ref is None:
                        continue
                    lines = gzip.decompress(s3_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()).splitlines()
                    if not whole:
                        lines = [ln for ln in lines if start_ms <= json.loads(ln)["timestamp_ms"] < end_ms]
                    window.messages[topic] += len(lines)
                    window.ranges.append((topic, ref.partition, ref.first_offset, ref.last_offset))
                    window.objects += 1
    return window
